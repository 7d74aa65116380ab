// ncurses drawing and keys of `ebpfix top`. Everything the terminal sees goes through
// ncurses (no escape codes of our own); SIGWINCH arrives as KEY_RESIZE.
#include "views/top_screen.hpp"

// Real functions instead of curses' function-like macros (erase(), move(), ...), which
// would collide with C++ member names.
#define NCURSES_NOMACROS 1
#include <curses.h>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <system_error>

namespace ebpfix::views {

namespace {

// Owns the curses screen: endwin() in the destructor, whatever way the view ends.
class Terminal {
public:
    Terminal() {
        if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO))
            throw std::runtime_error("ebpfix top needs a terminal: standard input and output must be one");
        screen_ = newterm(nullptr, stdout, stdin);
        if (screen_ == nullptr) {
            const char* term = std::getenv("TERM");
            throw std::runtime_error(std::string("cannot use the terminal (TERM=") + (term ? term : "unset") + ")");
        }
        set_term(screen_);
        cbreak();
        noecho();
        nonl();
        intrflush(stdscr, FALSE);
        keypad(stdscr, TRUE);
        nodelay(stdscr, TRUE);  // keys are read after poll() says there are some
        set_escdelay(25);       // Esc alone (clear the filter) without a second's wait
        curs_set(0);
    }
    ~Terminal() {
        endwin();
        delscreen(screen_);
    }
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;

private:
    SCREEN* screen_ = nullptr;
};

constexpr int header_lines = 3;  // title, filter, column titles
constexpr int footer_lines = 1;
constexpr std::size_t max_filter_length = 200;
constexpr const char* keys_help =
    "Up/k Down/j select  0 bitrate  1 packets  2 bytes  3 source  4 destination  / filter  p pause  r top  q/x quit";

struct Input {
    bool editing = false;  // typing a filter after '/'
    std::string draft;
};

std::string clock_text(std::uint64_t wall_ms) {
    const std::time_t seconds = std::time_t(wall_ms / 1000);
    std::tm tm{};
    if (::localtime_r(&seconds, &tm) == nullptr) return "";
    char buf[16];
    std::strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
    return buf;
}

std::string totals_text(const Totals& t) {
    std::string out = std::to_string(t.flows) + (t.flows == 1 ? " flow" : " flows");
    if (t.rates_known)
        out += "  " + format_bit_rate(t.bit_rate) + "  " + format_packet_rate(t.packet_rate) + " pkt/s";
    else
        out += "  rates after the next refresh";
    return out;
}

class Screen {
public:
    Screen(FlowSource& source, TopView& view) : source_(source), view_(view) {}

    int page_rows() const { return std::max(1, LINES - header_lines - footer_lines); }

    void draw(const Input& input) {
        werase(stdscr);
        const int width = COLS;
        if (LINES < header_lines + footer_lines + 1 || width < 20) {
            put(0, "terminal too small", A_BOLD);
            wrefresh(stdscr);
            return;
        }

        std::string title = "ebpfix top: " + source_.describe();
        if (view_.has_snapshot()) title += "  " + clock_text(view_.now_ms());
        title += "  " + totals_text(view_.totals()) + "  sort: " + std::string(sort_key_name(view_.sort()));
        if (view_.paused()) title += "  [paused]";
        put(0, title, A_BOLD);
        if (!view_.filter().empty())
            put(1, "filter " + printable(view_.filter()) + ": " + totals_text(view_.visible_totals()), A_NORMAL);

        // Column widths over every visible row, so that they do not change while scrolling.
        const auto& rows = view_.rows();
        std::array<std::size_t, column_count> widths{};
        std::array<bool, column_count> shown{};
        for (std::size_t c = 0; c < column_count; ++c) {
            shown[c] = view_.has_attribution() || (c != col_user && c != col_process);
            widths[c] = column_titles[c].size();
        }
        for (const Row& r : rows)
            for (std::size_t c = 0; c < column_count; ++c) widths[c] = std::max(widths[c], r.cells[c].size());
        const auto line_of = [&](auto cell_of) {
            std::string line;
            for (std::size_t c = 0; c < column_count; ++c) {
                if (!shown[c]) continue;
                const std::string_view cell = cell_of(c);
                if (!line.empty()) line += "  ";
                const std::string pad(widths[c] - cell.size(), ' ');
                if (column_is_numeric(Column(c))) line += pad + std::string(cell);
                else line += std::string(cell) + pad;
            }
            return line;
        };
        put(2, line_of([](std::size_t c) { return column_titles[c]; }), A_BOLD | A_UNDERLINE);

        const int page = page_rows();
        const std::size_t selected = view_.selected();
        if (selected < first_row_) first_row_ = selected;
        if (selected >= first_row_ + std::size_t(page)) first_row_ = selected - std::size_t(page) + 1;
        if (rows.size() <= std::size_t(page)) first_row_ = 0;
        else first_row_ = std::min(first_row_, rows.size() - std::size_t(page));

        if (rows.empty()) {
            put(header_lines, view_.filter().empty() ? "(no flows)" : "(no flow matches the filter)", A_NORMAL);
        }
        for (int i = 0; i < page && first_row_ + std::size_t(i) < rows.size(); ++i) {
            const std::size_t index = first_row_ + std::size_t(i);
            const Row& r = rows[index];
            put(header_lines + i, line_of([&](std::size_t c) -> std::string_view { return r.cells[c]; }),
                index == selected ? A_REVERSE : A_NORMAL);
        }

        const int footer = LINES - 1;
        if (input.editing) {
            const std::string prompt = "filter (Enter applies, Esc clears): " + input.draft;
            put(footer, prompt, A_NORMAL);
            curs_set(1);
            wmove(stdscr, footer, std::min<int>(int(prompt.size()), width - 2));
        } else {
            std::string help = keys_help;
            if (rows.size() > std::size_t(page))
                help = "rows " + std::to_string(first_row_ + 1) + "-" +
                       std::to_string(std::min(rows.size(), first_row_ + std::size_t(page))) + " of " +
                       std::to_string(rows.size()) + "  " + help;
            put(footer, help, A_DIM);
            curs_set(0);
        }
        wrefresh(stdscr);
    }

private:
    // One screen line, cut to the width (the last cell left alone: writing it can scroll).
    void put(int y, const std::string& text, attr_t attr) {
        const int width = std::max(0, COLS - 1);
        std::string line = text.substr(0, std::size_t(width));
        if (attr & A_REVERSE) line.resize(std::size_t(width), ' ');
        wattrset(stdscr, attr);
        mvwaddnstr(stdscr, y, 0, line.c_str(), width);
        wattrset(stdscr, A_NORMAL);
    }

    FlowSource& source_;
    TopView& view_;
    std::size_t first_row_ = 0;
};

enum class KeyResult { none, quit };

KeyResult handle_key(int key, Input& input, TopView& view, int page) {
    if (input.editing) {
        if (key == '\n' || key == '\r' || key == KEY_ENTER) {
            input.editing = false;
            view.set_filter(input.draft);
        } else if (key == 27) {  // Esc
            input.editing = false;
            input.draft.clear();
            view.set_filter("");
        } else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
            if (!input.draft.empty()) input.draft.pop_back();
        } else if (key == 21) {  // Ctrl-U
            input.draft.clear();
        } else if (key >= 0x20 && key < 0x7f && input.draft.size() < max_filter_length) {
            input.draft += char(key);
        }
        return KeyResult::none;
    }
    switch (key) {
        case KEY_UP: case 'k': view.move_selection(-1); break;
        case KEY_DOWN: case 'j': view.move_selection(1); break;
        case KEY_PPAGE: view.move_selection(-page); break;
        case KEY_NPAGE: case ' ': view.move_selection(page); break;
        case KEY_HOME: case 'g': view.select_first(); break;
        case KEY_END: case 'G': view.select_last(); break;
        case '0': view.set_sort(SortKey::bit_rate); break;
        case '1': view.set_sort(SortKey::packets); break;
        case '2': view.set_sort(SortKey::bytes); break;
        case '3': view.set_sort(SortKey::source); break;
        case '4': view.set_sort(SortKey::destination); break;
        case 'r': case 'R': case 12:  // Ctrl-L
            view.select_first();
            clearok(curscr, TRUE);
            break;
        case 'p': case 'P': view.set_paused(!view.paused()); break;
        case '/':
            input.editing = true;
            input.draft = view.filter();
            break;
        case 27: view.set_filter(""); break;
        case 'q': case 'Q': case 'x': case 'X': return KeyResult::quit;
        default: break;  // KEY_RESIZE too: the redraw after every key is all it needs
    }
    return KeyResult::none;
}

}  // namespace

ScreenEnd run_screen(FlowSource& source, TopView& view, const ScreenOptions& options) {
    using clock = std::chrono::steady_clock;
    const auto stop = [&] { return options.stop_requested != nullptr && *options.stop_requested != 0; };
    Terminal terminal;
    Screen screen(source, view);
    Input input;
    // A snapshot taken just before (the first one, at start) is not followed at once: rates
    // over a few milliseconds say nothing.
    auto next_fetch = view.has_snapshot() ? clock::now() + options.refresh : clock::now();
    bool dirty = true;
    for (;;) {
        if (stop()) return ScreenEnd::stop_requested;
        if (clock::now() >= next_fetch) {
            view.update(source.fetch());
            // From when the fetch ended: a slow daemon is not asked again at once.
            next_fetch = clock::now() + options.refresh;
            dirty = true;
        }
        if (dirty) {
            screen.draw(input);
            dirty = false;
        }
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_fetch - clock::now());
        pollfd in{STDIN_FILENO, POLLIN, 0};
        // poll() is never restarted after a signal: SIGINT, SIGTERM and SIGWINCH end the wait.
        const int ready = ::poll(&in, 1, int(std::clamp<long long>(wait.count(), 0, 60000)));
        if (ready < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
        // Also after EINTR: a resize is waiting as KEY_RESIZE.
        for (int key; (key = wgetch(stdscr)) != ERR;) {
            if (handle_key(key, input, view, screen.page_rows()) == KeyResult::quit) return ScreenEnd::quit_key;
            dirty = true;
        }
        // A hung-up terminal stays readable (at EOF) forever: leave instead of spinning.
        if (ready > 0 && (in.revents & (POLLHUP | POLLERR | POLLNVAL))) return ScreenEnd::terminal_gone;
    }
}

}  // namespace ebpfix::views
