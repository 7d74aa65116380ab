#include "fuzz/control_check.hpp"

#include <string>
#include <string_view>

#include "daemon/control_protocol.hpp"

namespace ebpfix::fuzz {

namespace {

namespace control = ebpfix::daemon::control;

[[noreturn]] void broken(const std::string& what) { throw InvariantBroken(what); }

bool printable_line(std::string_view text) {
    for (char c : text)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
    return true;
}

}  // namespace

void check_control_input(std::span<const std::uint8_t> input) {
    const std::string bytes(input.begin(), input.end());
    const std::string_view line = std::string_view(bytes).substr(0, bytes.find('\n'));

    const control::ParseResult parsed = control::parse_request(line);
    if (parsed.request) {
        if (!parsed.error.empty()) broken("a request and an error at once: " + parsed.error);
        if (line.size() > control::max_request_bytes) broken("a request longer than the limit was accepted");
        if (!printable_line(line)) broken("a request with non-printable bytes was accepted");
        std::string canonical(control::command_word(parsed.request->command));
        if (parsed.request->json) canonical += " --json";
        const control::ParseResult again = control::parse_request(canonical);
        if (!again.request || !(*again.request == *parsed.request))
            broken("the canonical spelling \"" + canonical + "\" does not parse to the same request");
    } else {
        if (parsed.error.empty()) broken("a refused request without a reason");
        if (!printable_line(parsed.error)) broken("the reason is not one printable line: " + parsed.error);
    }

    // The daemon turns any exception text into an error response: one line, read back.
    const std::string error = control::response_error(bytes);
    if (error.empty() || error.back() != '\n' || error.find('\n') != error.size() - 1)
        broken("an error response that is not one line");
    const auto back = control::parse_response(error);
    if (!back || back->ok) broken("an error response does not read back as an error");

    // A client reading whatever a server (or an impostor) sent.
    const auto response = control::parse_response(bytes);
    if (response && response->ok && !response->error.empty()) broken("an ok response with an error message");
}

}  // namespace ebpfix::fuzz
