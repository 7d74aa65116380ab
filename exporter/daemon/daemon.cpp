#include "daemon/daemon.hpp"

#include <signal.h>
#include <time.h>

#include <algorithm>

#include <boost/asio/post.hpp>

#include <bpf/bpf.h>

#include "common/log.hpp"
#include "daemon/control_protocol.hpp"
#include "daemon/privileges.hpp"
#include "daemon/outputs.hpp"
#include "daemon/settings.hpp"
#include "daemon/view_sinks.hpp"

namespace ebpfix::daemon {

namespace asio = boost::asio;

std::uint64_t wall_ms_now() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return std::uint64_t(ts.tv_sec) * 1000 + std::uint64_t(ts.tv_nsec) / 1'000'000;
}

std::uint64_t monotonic_ns_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000 + std::uint64_t(ts.tv_nsec);
}

Daemon::Daemon(config::Config config)
    : signals_(io_, SIGINT, SIGTERM, SIGHUP),
      drain_timer_(io_),
      run_timer_(io_),
      config_(std::move(config)),
      program_(program_options(config_)),
      capture_(capture::make_capture(capture_settings(config_), program_, [](const std::string& m) { log_info(m); })),
      owners_(
          [this](std::uint64_t cookie) -> std::optional<ebpfix_owner> {
              ebpfix_owner o{};
              if (bpf_map_lookup_elem(program_.owners_fd(), &cookie, &o) != 0) return std::nullopt;
              return o;
          },
          config::cgroup2_root().empty() ? "/sys/fs/cgroup" : config::cgroup2_root()) {
    // Everything that can fail on a mistake in the configuration fails before a device is
    // touched: names resolve, the user exists, files open, the metrics port binds.
    for (const auto& problem : config::check_environment(config_)) {
        if (problem.severity == config::Problem::Severity::error) throw config::ConfigError(problem.message);
        log_warning(problem.message);
    }
    exporter_ = std::make_unique<FlowExporter>(
        program_, config_, [] { return flow::time_base_now(); }, wall_ms_now(),
        [this](std::uint32_t ifindex) { return capture_->name_of(ifindex); },
        [this] {
            // Every device ever watched, also after it went away or was detached at stop:
            // collectors keep naming the ifindexes of earlier records.
            std::vector<ipfix::InterfaceInfo> out;
            for (const auto& [ifindex, name] : capture_->names_seen()) out.push_back({ifindex, name, "ebpfix " + name});
            return out;
        },
        [this](const config::Config& c, std::uint64_t start_ms, const FlowExporter::Running& running) {
            FlowExporter::SinkList out = build_outputs(io_, c, start_ms, running);
            add_view_sinks(out, c, start_ms);
            return out;
        },
        [this](std::uint64_t cookie) { return owners_.find(cookie); });
    if (!config_.metrics_listen.empty())
        metrics_ = std::make_unique<ServiceMetrics>(io_, config_.metrics_listen);
    bpf::apply_filters(program_, kernel_filters(config_));
    if (config_.attribution) attach_socket_hook();
    // Made while still privileged: /run/ebpfix and the socket's group need root.
    open_control_socket();
    capture_->attach();
    // Loading needed CAP_PERFMON (and perhaps CAP_SYS_RESOURCE, ambient capabilities under
    // systemd); from here on only what draining and re-attaching need stays.
    drop_privileges(config_.user);
}

Daemon::~Daemon() = default;

int Daemon::run() {
    log_info("exporting flows of " + capture_->describe() + ", drained every " +
             std::to_string(config_.drain_interval_ms) + " ms");
    next_drain_ = std::chrono::steady_clock::now();
    schedule_drain();
    start_run_timer();
    wait_signal();
    if (metrics_) metrics_->update(*exporter_, *capture_);
    io_.run();
    print_summary(exporter_->sinks(), config_);
    return 0;
}

void Daemon::start_run_timer() {
    if (config_.run_timeout_ms == 0) return;
    run_timer_.expires_after(std::chrono::milliseconds(config_.run_timeout_ms));
    run_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        log_info("--timeout: " + std::to_string(config_.run_timeout_ms) + " ms have passed, stopping");
        stop();
    });
}

void Daemon::open_control_socket() {
    if (config_.control_socket.empty()) return;
    try {
        control_ = std::make_unique<ControlServer>(io_, config_.control_socket, config_.control_group,
                                                  static_cast<ControlHandler&>(*this));
        log_info("control socket: " + config_.control_socket);
    } catch (const std::exception& e) {
        // Named by the user, the socket is part of what was asked for; the default one is
        // a convenience: a second `ebpfix eth1` beside the service runs without it.
        if (config_.origins.count("control")) throw std::runtime_error(std::string("control socket: ") + e.what());
        log_warning(std::string("control socket: ") + e.what() + "; running without one (set --control PATH)");
    }
}

void Daemon::schedule_drain() {
    const auto interval = std::chrono::milliseconds(config_.drain_interval_ms);
    next_drain_ += interval;
    // After a stall (suspend, a slow collector resolve) skip missed ticks, keep the phase.
    const auto now = std::chrono::steady_clock::now();
    if (next_drain_ + interval < now) next_drain_ += ((now - next_drain_) / interval) * interval;
    drain_timer_.expires_at(next_drain_);
    drain_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        on_drain_timer();
        if (!stopping_) schedule_drain();
    });
}

void Daemon::attach_socket_hook() {
    const std::string cgroup = socket_hook_cgroup(config_);
    if (cgroup.empty()) {
        log_warning("attribution: no cgroup v2 hierarchy is mounted; only what packets carry (uid, cgroup) is known");
        return;
    }
    socket_hook_ = std::make_unique<capture::SocketHook>(program_, cgroup);
    log_info("attribution: recording the creator of every socket below " + cgroup);
}

void Daemon::on_drain_timer() {
    capture_->refresh();
    // Owners not met for a few hundred cycles are forgotten (the kernel's map keeps them).
    const std::uint64_t generation = owners_.tick();
    if (generation % 64 == 0 && generation > 256) owners_.forget_older_than(generation - 256);
    try {
        exporter_->cycle(monotonic_ns_now(), wall_ms_now());
    } catch (const std::exception& e) {
        // What a failed cycle took from the kernel is kept and handed on by the next one.
        log_error(std::string("drain cycle failed: ") + e.what());
    }
    if (metrics_) metrics_->update(*exporter_, *capture_);
    const auto& outputs = exporter_->sinks();
    for (const auto& sink : outputs) {
        if (!sink->ended() || !ended_reported_.insert(sink->identity()).second) continue;
        log_info("the reader of the " + sink->kind() + " output " + sink->name() + " went away: that output ends here");
    }
    if (!outputs.empty() && std::all_of(outputs.begin(), outputs.end(), [](const auto& s) { return s->ended(); })) {
        log_info("no output is left: stopping");
        stop();
    }
}

void Daemon::wait_signal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGHUP) {
            reload_configuration();
            wait_signal();
            return;
        }
        log_info(std::string("received ") + (signo == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
        stop();
    });
}

std::pair<bool, std::string> Daemon::reload_configuration() {
    if (config_.source_file.empty()) {
        const std::string message = "no configuration file to reload; output files reopened";
        log_info("SIGHUP: " + message);
        exporter_->reopen_files();
        return {true, message};
    }
    std::pair<bool, std::string> result;
    try {
        config::Config next = config::reload_config(config_);
        if (!next.pcap_file.empty()) throw config::ConfigError("--pcap cannot be set by a reload");
        keep_restart_only_settings(next);
        // The new metrics address binds before anything changes (a port in use keeps the
        // whole old configuration); the switch happens once nothing else can fail.
        const bool metrics_moved = next.metrics_listen != config_.metrics_listen;
        std::unique_ptr<metrics::MetricsServer> bound;
        std::unique_ptr<ServiceMetrics> created;
        if (metrics_moved && !next.metrics_listen.empty()) {
            if (metrics_)
                bound = metrics_->bind(next.metrics_listen);
            else
                created = std::make_unique<ServiceMetrics>(io_, next.metrics_listen);
        }
        exporter_->reconfigure(next, wall_ms_now());
        for (const auto& line : config::diff(config_, next)) log_info("SIGHUP: " + line);
        if (bound) metrics_->adopt(std::move(bound));
        if (created) {
            metrics_ = std::move(created);
            metrics_->update(*exporter_, *capture_, false);
        }
        if (metrics_moved && next.metrics_listen.empty() && metrics_) {
            metrics_->stop();
            metrics_.reset();
        }
        bpf::apply_filters(program_, kernel_filters(next));
        if (next.attribution && !socket_hook_) {
            try {
                attach_socket_hook();
            } catch (const std::exception& e) {
                log_warning(std::string("attribution: ") + e.what());
            }
        }
        capture_->set_interfaces(next.interfaces);
        config_ = std::move(next);
        if (metrics_) metrics_->reload_result(true);
        result = {true, "configuration reloaded from " + config_.source_file};
        log_info("SIGHUP: " + result.second);
    } catch (const std::exception& e) {
        if (metrics_) metrics_->reload_result(false);
        result = {false, std::string("keeping the old configuration: ") + e.what()};
        log_error("SIGHUP: " + result.second);
    }
    exporter_->reopen_files();
    return result;
}

void Daemon::keep_restart_only_settings(config::Config& next) const {
    // These shape what was loaded into the kernel or given up at start: a reload cannot
    // change them, so it says so and keeps the running value.
    auto keep = [&](const char* key, bool changed, const std::string& running, const std::string& wanted, auto restore) {
        if (!changed) return;
        log_warning("SIGHUP: " + std::string(key) + " changed (" + running + " -> " + wanted +
                    ") but takes effect only at the next start; keeping " + running);
        restore();
    };
    keep("flow.map_entries", next.map_entries != config_.map_entries, std::to_string(config_.map_entries),
         std::to_string(next.map_entries), [&] { next.map_entries = config_.map_entries; });
    keep("attach", next.attach_mode != config_.attach_mode, std::string(config::to_string(config_.attach_mode)),
         std::string(config::to_string(next.attach_mode)), [&] { next.attach_mode = config_.attach_mode; });
    keep("control", next.control_socket != config_.control_socket,
         config_.control_socket.empty() ? "(none)" : config_.control_socket,
         next.control_socket.empty() ? "(none)" : next.control_socket,
         [&] { next.control_socket = config_.control_socket; });
    keep("control_group", next.control_group != config_.control_group, config_.control_group, next.control_group,
         [&] { next.control_group = config_.control_group; });
    keep("privileges.user", next.user != config_.user, config_.user.empty() ? "(none)" : config_.user,
         next.user.empty() ? "(none)" : next.user, [&] { next.user = config_.user; });
}

void Daemon::stop() {
    stopping_ = true;
    drain_timer_.cancel();
    run_timer_.cancel();
    // No request is answered from a half-stopped daemon.
    if (control_) control_->stop();
    // Detach first: after the final flip no program can touch the maps any more.
    capture_->detach();
    try {
        exporter_->finish(wall_ms_now());
    } catch (const std::exception& e) {
        log_error(std::string("final drain failed: ") + e.what());
    }
    if (metrics_) metrics_->update(*exporter_, *capture_);
    signals_.cancel();
    if (metrics_) metrics_->stop();
    // Let queued datagrams go out, for a while: an output that never drains (a peer that
    // never reads, ENOBUFS for good) must not keep ebpfix from ending.
    wait_for_outputs(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

void Daemon::wait_for_outputs(std::chrono::steady_clock::time_point deadline) {
    if (!exporter_->busy()) return;  // nothing pending: run() returns by itself
    if (std::chrono::steady_clock::now() >= deadline) {
        log_warning("stopping with undelivered messages (counted as not sent)");
        io_.stop();
        return;
    }
    drain_timer_.expires_after(std::chrono::milliseconds(20));
    drain_timer_.async_wait([this, deadline](const boost::system::error_code& ec) {
        if (!ec) wait_for_outputs(deadline);
    });
}

}  // namespace ebpfix::daemon

namespace ebpfix::daemon {

std::string Daemon::statistics() {
    return control::format_statistics(control::statistics_of(exporter_->totals(), exporter_->table(),
                                                             exporter_->sinks()));
}

std::string Daemon::flows(bool json) {
    const std::vector<control::FlowView> flows = control::snapshot_flows(exporter_->table());
    auto ifname = [this](std::uint32_t ifindex) { return capture_->name_of(ifindex); };
    auto owner = [this](std::uint64_t cookie) { return owners_.find(cookie); };
    return json ? control::format_flows_json(flows, wall_ms_now(), ifname, owner)
                : control::format_flows_text(flows, wall_ms_now(), ifname, owner);
}

std::string Daemon::expire_all() {
    if (stopping_) throw std::runtime_error("stopping");
    const std::size_t records = exporter_->expire_all(monotonic_ns_now(), wall_ms_now());
    log_info("control: expire-all exported " + std::to_string(records) + " records");
    return "expired " + std::to_string(records) + " records\n";
}

std::string Daemon::reload() {
    auto [ok, message] = reload_configuration();
    if (!ok) throw std::runtime_error(message);
    return message + "\n";
}

std::string Daemon::templates() {
    std::string body;
    for (const auto& sink : exporter_->sinks())
        if (sink->resend_templates()) body += sink->kind() + " " + sink->name() + ": templates with the next message\n";
    if (body.empty()) body = "no output sends templates\n";
    return body;
}

std::string Daemon::graph() {
    const sinks::DotGraphSink* g = find_graph(exporter_->sinks());
    if (!g) throw std::runtime_error("no graph is kept: start ebpfix with --dot FILE (or [graph] dot = \"FILE\")");
    return g->render();
}

}  // namespace ebpfix::daemon
