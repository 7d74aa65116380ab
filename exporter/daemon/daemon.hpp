// Live mode: one io_context runs everything. A steady timer drains the kernel maps every
// drain_interval, scheduled from the previous deadline so it does not drift; SIGHUP
// reloads the configuration, SIGINT/SIGTERM detach, drain, export every flow and stop.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "bpf/flow_program.hpp"
#include "config/config.hpp"
#include "daemon/flow_exporter.hpp"
#include "attribution/owners.hpp"
#include "capture/capture.hpp"
#include "capture/cgroup_capture.hpp"
#include "daemon/control_socket.hpp"
#include "daemon/service_metrics.hpp"

namespace ebpfix::daemon {

// The daemon answers the control socket itself (ControlHandler: ebpfix ctl).
class Daemon : private ControlHandler {
public:
    // Loads the kernel program, attaches to every interface and opens every output.
    // Throws (BpfError, ConfigError, std::runtime_error) naming what failed.
    explicit Daemon(config::Config config);
    ~Daemon();

    // Runs until SIGINT/SIGTERM; returns the process exit code.
    int run();

private:
    void schedule_drain();
    void on_drain_timer();
    void wait_signal();
    // SIGHUP and `ctl reload`: the result as logged; false when the old configuration stays.
    std::pair<bool, std::string> reload_configuration();
    void open_control_socket();
    void start_run_timer();
    void keep_restart_only_settings(config::Config& next) const;
    void attach_socket_hook();
    void stop();
    void wait_for_outputs(std::chrono::steady_clock::time_point deadline);

    // ControlHandler (on the io_context's thread, between cycles).
    std::string statistics() override;
    std::string flows(bool json) override;
    std::string expire_all() override;
    std::string reload() override;
    std::string templates() override;
    std::string graph() override;

    boost::asio::io_context io_;
    boost::asio::signal_set signals_;
    boost::asio::steady_timer drain_timer_;
    boost::asio::steady_timer run_timer_;  // --timeout
    std::chrono::steady_clock::time_point next_drain_;
    config::Config config_;
    bpf::FlowProgram program_;
    std::unique_ptr<capture::Capture> capture_;
    attribution::OwnerDirectory owners_;
    std::unique_ptr<capture::SocketHook> socket_hook_;  // attribution: socket creators
    std::unique_ptr<FlowExporter> exporter_;
    std::unique_ptr<ServiceMetrics> metrics_;
    std::unique_ptr<ControlServer> control_;
    bool stopping_ = false;
    std::set<std::string> ended_reported_;  // outputs whose end was logged
};

// Wall clock and the flow clock (CLOCK_MONOTONIC, as the kernel program's times).
std::uint64_t wall_ms_now();
std::uint64_t monotonic_ns_now();

}  // namespace ebpfix::daemon
