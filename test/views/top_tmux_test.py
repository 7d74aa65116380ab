"""`ebpfix top` in a real terminal: tmux panes, a veth pair in private namespaces and known
traffic (CTest: views_top_tmux; needs root).

  top_tmux_test.py --binary PATH [--save-screen FILE]

1. Standalone (`ebpfix top DEV --refresh 0.5`, it starts its own ebpfix): the rows of a
   ping and a UDP exchange appear with their exact packet and byte counts; `2` sorts by
   bytes and `1` by packets (two flows whose byte and packet orders differ); `/` with a
   text leaves only the rows that contain it, Esc brings the others back; a flow with
   traffic has a bit rate, and 0 bit/s once its traffic stops; `q` exits 0.
2. Standalone again, ended with Ctrl-C: exits 0.
   After both: the terminal is restored, top's ebpfix is gone, no hook is left on DEV.
3. Attached to a daemon the test runs (`ebpfix top --socket PATH`); the daemon stops:
   top exits 1 with a message printed on the restored terminal.

"The terminal is restored" is read from tmux's own state of the pane, not from the text:
#{alternate_on} (ncurses' smcup/rmcup), #{cursor_flag} (curs_set) and
#{keypad_cursor_flag} (keypad's smkx/rmkx) are checked to be set while top runs and clear
after it, and `stty -a`, run in the pane right after top, shows icanon and echo back on.
--save-screen writes one screen of step 1 (traffic running) as text (docs/images/top.txt).

Network safety: traffic only between the two namespaces the harness creates; the tmux
server has its own socket name and is killed at exit, with every process started here.
"""
import argparse
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
E2E = os.path.join(os.path.dirname(HERE), "e2e")
sys.path.insert(0, E2E)
import harness as h  # noqa: E402

TRAFFIC = os.path.join(E2E, "traffic.py")
PY = "/usr/bin/python3"
WIDTH, HEIGHT = 180, 40

# BPF_PROG_QUERY on the device's TCX hooks (bpftool 7.1 does not know TCX): prints the
# number of programs on ingress and egress. Run inside the namespace.
TCX_QUERY = r"""
import ctypes, platform, socket, sys
SYS_BPF = {"x86_64": 321, "aarch64": 280}[platform.machine()]
BPF_PROG_QUERY, BPF_TCX_INGRESS, BPF_TCX_EGRESS = 16, 46, 47
class Query(ctypes.Structure):
    _fields_ = [("target_ifindex", ctypes.c_uint32), ("attach_type", ctypes.c_uint32),
                ("query_flags", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("prog_ids", ctypes.c_uint64), ("count", ctypes.c_uint32), ("pad", ctypes.c_uint32),
                ("prog_attach_flags", ctypes.c_uint64), ("link_ids", ctypes.c_uint64),
                ("link_attach_flags", ctypes.c_uint64), ("revision", ctypes.c_uint64)]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
counts = []
for hook in (BPF_TCX_INGRESS, BPF_TCX_EGRESS):
    q = Query(target_ifindex=socket.if_nametoindex(sys.argv[1]), attach_type=hook)
    if libc.syscall(ctypes.c_long(SYS_BPF), ctypes.c_int(BPF_PROG_QUERY), ctypes.byref(q),
                    ctypes.c_uint(ctypes.sizeof(q))) != 0:
        sys.exit("BPF_PROG_QUERY: errno %d" % ctypes.get_errno())
    counts.append(q.count)
print(counts[0], counts[1])
"""


class Tmux:
    """A tmux server of our own (-L NAME), killed at exit."""

    def __init__(self):
        self.name = f"ebpfix-top-{os.getpid()}"
        atexit.register(self.kill)

    def run(self, *args, check=True):
        r = subprocess.run(["tmux", "-L", self.name] + list(args), capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {r.returncode} {r.stderr}")
        return r.stdout

    def new_session(self, session, command):
        # No user configuration: the pane behaves the same on every machine.
        self.run("-f", "/dev/null", "new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT), command)

    def capture(self, session):
        return self.run("capture-pane", "-p", "-t", session)

    def flag(self, session, name):
        return self.run("display-message", "-p", "-t", session, "#{" + name + "}").strip()

    def keys(self, session, *keys, literal=False):
        self.run("send-keys", "-t", session, *(["-l"] if literal else []), *keys)

    def kill(self):
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True)


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The comm field may hold spaces and parentheses: ppid is after the last ')'.
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(entry))
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            found.append(c)
            todo.append(c)
    return found


def alive(pid, argv):
    """pid still runs the command it ran (not a reused PID)."""
    return cmdline(pid) == argv


class Run:
    """One `ebpfix top ...` in a tmux session; writes its exit status and `stty -a` after it."""

    def __init__(self, t, tmux, session, top_args, netns=None):
        self.t, self.tmux, self.session = t, tmux, session
        self.exit_file = t.path(f"{session}.exit")
        self.stty_file = t.path(f"{session}.stty")
        prefix = f"ip netns exec {netns} " if netns else ""
        shell = (f"{prefix}{t.binary} top {top_args}; echo EXIT=$? > {self.exit_file}; "
                 f"stty -a > {self.stty_file}; echo top has exited; exec sleep 3600")
        tmux.new_session(session, f"bash -c '{shell}'")
        self.top_pid, self.top_argv = None, None
        self.daemon = None  # (pid, argv) of the ebpfix a standalone top started

    def screen(self):
        return self.tmux.capture(self.session)

    def keys(self, *keys, literal=False):
        self.tmux.keys(self.session, *keys, literal=literal)

    def wait_screen(self, predicate, what, timeout=20):
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            if os.path.exists(self.exit_file):
                break
            time.sleep(0.1)
        exit_status = open(self.exit_file).read() if os.path.exists(self.exit_file) else "still running"
        raise AssertionError(f"{self.session}: timed out waiting for {what} ({exit_status}); screen:\n{text}")

    def find_processes(self):
        pane = int(self.tmux.flag(self.session, "pane_pid"))
        for pid in descendants(pane):
            argv = cmdline(pid) or []
            if len(argv) >= 2 and argv[0].endswith("ebpfix") and argv[1] == "top":
                self.top_pid, self.top_argv = pid, argv
                for c in children(pid):
                    self.daemon = (c, cmdline(c))
        assert self.top_pid, f"no ebpfix top under the pane (pid {pane})"

    def wait_exit(self, timeout=30):
        h.wait_for(lambda: os.path.exists(self.exit_file) and open(self.exit_file).read().strip(), timeout,
                   f"{self.session} to exit")
        return int(open(self.exit_file).read().strip().split("=")[1])

    def check_terminal_in_use(self):
        for name, value in (("alternate_on", "1"), ("cursor_flag", "0"), ("keypad_cursor_flag", "1")):
            got = self.tmux.flag(self.session, name)
            assert got == value, f"while top runs, #{{{name}}} is {got}, expected {value}"

    def check_terminal_restored(self):
        h.wait_for(lambda: "top has exited" in self.screen(), 10, "the shell after top")
        for name, value in (("alternate_on", "0"), ("cursor_flag", "1"), ("keypad_cursor_flag", "0")):
            got = self.tmux.flag(self.session, name)
            assert got == value, f"after top, #{{{name}}} is {got}, expected {value}"
        h.wait_for(lambda: os.path.exists(self.stty_file) and os.path.getsize(self.stty_file) > 0, 10, "stty -a")
        modes = open(self.stty_file).read().split()
        for mode in ("icanon", "echo", "isig", "icrnl"):
            assert mode in modes and f"-{mode}" not in modes, f"after top, stty has not {mode}: {' '.join(modes)}"


def rows(screen):
    """The table on a top screen: a list of {column title: cell}, top to bottom."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("bitrate") and "destination" in line:
            titles = re.split(r"\s{2,}", line.strip())
            out = []
            for row in lines[i + 1:]:
                cells = re.split(r"\s{2,}", row.strip())
                # A row starts with its bit rate; the footer and the blank lines do not.
                if len(cells) < len(titles) or not (cells[0] == "-" or cells[0].endswith("bit/s")):
                    break
                out.append(dict(zip(titles, cells)))
            return out
    return []


def header(screen):
    return screen.splitlines()[0] if screen else ""


def is_view(screen):
    """top's screen (not the line it prints before, while its ebpfix starts)."""
    return header(screen).startswith("ebpfix top:") and " sort: " in header(screen)


class Test:
    def __init__(self, binary):
        self.binary = binary
        self.procs = h.Processes()
        self.net = h.VethPair("top")
        self.work = tempfile.mkdtemp(prefix="ebpfix-top-test-")
        atexit.register(shutil.rmtree, self.work, True)
        self.tmux = Tmux()
        self.started = []  # (pid, argv) of every ebpfix top and its daemon, killed at exit if left
        atexit.register(self.kill_left_over)
        out = open(self.path("server.out"), "w")
        self.procs.start([PY, TRAFFIC, "serve", self.net.ip_b, self.net.ip6_b], netns=self.net.ns_b, stdout=out,
                         stderr=subprocess.STDOUT)
        h.wait_for_text(self.path("server.out"), "serving")

    def path(self, name):
        return os.path.join(self.work, name)

    def kill_left_over(self):
        for pid, argv in self.started:
            if alive(pid, argv):
                os.kill(pid, signal.SIGKILL)

    def track(self, run):
        run.find_processes()
        self.started.append((run.top_pid, run.top_argv))
        if run.daemon:
            self.started.append(run.daemon)

    def ping(self, count, interval="0.05", size=1400):
        r = subprocess.run(["ip", "netns", "exec", self.net.ns_a, "ping", "-q", "-n", "-c", str(count), "-i", interval,
                            "-s", str(size), self.net.ip_b], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr

    def send_udp(self, rounds):
        r = subprocess.run(["ip", "netns", "exec", self.net.ns_a, PY, TRAFFIC, "send-udp", self.net.ip_b,
                            self.net.ip6_b, str(rounds)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])

    def tcx_programs(self):
        out = h.sh(f"ip netns exec {self.net.ns_a} {PY} -c '{TCX_QUERY}' {self.net.dev_a}")
        ingress, egress = out.split()
        return int(ingress), int(egress)

    def tc_filters(self):
        return "".join(h.sh(f"ip netns exec {self.net.ns_a} tc filter show dev {self.net.dev_a} {d}", check=False)
                       for d in ("ingress", "egress"))

    def check_nothing_left(self, run):
        pid, argv = run.daemon
        h.wait_for(lambda: not alive(pid, argv), 20, f"top's ebpfix (pid {pid}) to end")
        assert not alive(run.top_pid, run.top_argv), "ebpfix top still runs"
        assert self.tcx_programs() == (0, 0), f"TCX programs left on {self.net.dev_a}: {self.tcx_programs()}"
        assert "ebpfix" not in self.tc_filters(), f"tc filters left: {self.tc_filters()}"


def icmp_request_row(table, t):
    return next((r for r in table if r.get("proto") == "ICMP 8/0" and r.get("source") == t.net.ip_a
                 and r.get("destination") == t.net.ip_b and r.get("dir") == "egress"), None)


def udp4_request_row(table, t):
    return next((r for r in table if r.get("proto") == "UDP" and r.get("destination") == f"{t.net.ip_b}:5000"
                 and r.get("source", "").startswith(t.net.ip_a + ":") and r.get("dir") == "egress"), None)


def step_standalone_keys(t, save_screen):
    run = Run(t, t.tmux, "keys", f"{t.net.dev_a} --refresh 0.5", netns=t.net.ns_a)
    screen = run.wait_screen(lambda s: is_view(s) and "sort: bitrate" in header(s), "the first screen")
    assert f"{t.net.dev_a} (own ebpfix)" in header(screen), header(screen)
    run.check_terminal_in_use()
    t.track(run)
    assert run.daemon and "--control" in run.daemon[1], f"top started no ebpfix: {run.daemon}"
    assert t.tcx_programs() == (1, 1), f"top's ebpfix should hook {t.net.dev_a}: {t.tcx_programs()}"

    # A flow of few large packets and one of many small ones.
    pings, ping_size = 20, 1400
    t.ping(pings, size=ping_size)
    sent = t.send_udp(200)
    icmp_packets, icmp_bytes = pings, pings * (20 + 8 + ping_size)
    udp_packets, udp_bytes = sent["udp"] // 2, sent["udp_bytes_each_way"]["4"]  # "udp" counts both families
    assert icmp_bytes > udp_bytes and udp_packets > icmp_packets, "the two flows must order differently"

    def both_exact(s):
        table = rows(s)
        icmp, udp = icmp_request_row(table, t), udp4_request_row(table, t)
        return (icmp and udp and (int(icmp["packets"]), int(icmp["bytes"])) == (icmp_packets, icmp_bytes)
                and (int(udp["packets"]), int(udp["bytes"])) == (udp_packets, udp_bytes))
    screen = run.wait_screen(both_exact, f"ICMP {icmp_packets}/{icmp_bytes} and UDP {udp_packets}/{udp_bytes} rows")
    print(f"rows shown with exact counts: ICMP echo {icmp_packets} packets {icmp_bytes} bytes, "
          f"UDP {udp_packets} packets {udp_bytes} bytes")

    def order(s):
        table = rows(s)
        names = [("icmp" if r is icmp_request_row(table, t) else "udp") for r in table
                 if r is icmp_request_row(table, t) or r is udp4_request_row(table, t)]
        return names

    run.keys("2")
    screen = run.wait_screen(lambda s: "sort: bytes" in header(s), "sort: bytes")
    assert order(screen) == ["icmp", "udp"], f"by bytes, ICMP ({icmp_bytes}) first:\n{screen}"
    byte_counts = [int(r["bytes"]) for r in rows(screen)]
    assert byte_counts == sorted(byte_counts, reverse=True), f"not by bytes: {byte_counts}"
    run.keys("1")
    screen = run.wait_screen(lambda s: "sort: packets" in header(s), "sort: packets")
    assert order(screen) == ["udp", "icmp"], f"by packets, UDP ({udp_packets}) first:\n{screen}"
    packet_counts = [int(r["packets"]) for r in rows(screen)]
    assert packet_counts == sorted(packet_counts, reverse=True), f"not by packets: {packet_counts}"
    print("2 sorts by bytes (ICMP above UDP), 1 by packets (UDP above ICMP)")

    run.keys("/")
    run.keys(":5000", literal=True)
    run.wait_screen(lambda s: "filter (Enter applies, Esc clears): :5000" in s, "the filter prompt")
    run.keys("Enter")
    screen = run.wait_screen(lambda s: "filter :5000:" in s, "the filter applied")
    table = rows(screen)
    assert table and all(":5000" in "  ".join(r.values()) for r in table), f"rows without :5000:\n{screen}"
    assert udp4_request_row(table, t) and not icmp_request_row(table, t), screen
    run.keys("Escape")
    screen = run.wait_screen(lambda s: "filter :5000:" not in s and icmp_request_row(rows(s), t), "Esc clearing it")
    print(f"/:5000 left {len(table)} rows, all with :5000; Esc brought ICMP back")

    # A rate while packets flow, 0 once they stop (rates come from two snapshots).
    run.keys("0")
    pinger = t.procs.start(["ping", "-q", "-n", "-c", "40", "-i", "0.1", "-s", "1000", t.net.ip_b],
                           netns=t.net.ns_a)
    screen = run.wait_screen(lambda s: "sort: bitrate" in header(s) and icmp_request_row(rows(s), t)
                             and not icmp_request_row(rows(s), t)["bitrate"].startswith("0 "), "an ICMP bit rate")
    time.sleep(1.2)  # a few refreshes with the ping going, for the saved screen
    if save_screen:
        text = "\n".join(line.rstrip() for line in run.screen().splitlines()).rstrip() + "\n"
        with open(save_screen, "w") as f:
            f.write(text)
        print(f"screen saved to {save_screen}")
    assert pinger.wait(timeout=30) == 0
    run.wait_screen(lambda s: icmp_request_row(rows(s), t) and icmp_request_row(rows(s), t)["bitrate"] == "0 bit/s",
                    "the ICMP bit rate back to 0")
    print("the ICMP row had a bit rate while ping ran and 0 bit/s after it")

    run.keys("q")
    status = run.wait_exit()
    assert status == 0, f"q: exit status {status}"
    run.check_terminal_restored()
    t.check_nothing_left(run)
    print("q: exit 0, terminal restored, top's ebpfix gone, no TCX program or tc filter left")


def step_standalone_ctrl_c(t):
    run = Run(t, t.tmux, "ctrlc", f"{t.net.dev_a} --refresh 0.5", netns=t.net.ns_a)
    run.wait_screen(is_view, "the first screen")
    t.track(run)
    run.check_terminal_in_use()
    t.ping(3, size=100)
    run.wait_screen(lambda s: icmp_request_row(rows(s), t), "the ICMP row")
    run.keys("C-c")
    status = run.wait_exit()
    assert status == 0, f"Ctrl-C: exit status {status}"
    run.check_terminal_restored()
    t.check_nothing_left(run)
    print("Ctrl-C: exit 0, terminal restored, top's ebpfix gone, no hook left")


def step_attach_and_daemon_goes_away(t):
    sock = t.path("control.sock")
    err = t.path("daemon.err")
    daemon = t.procs.start([t.binary, "-c", "/dev/null", t.net.dev_a, "--log-file", "/dev/null", "--control", sock,
                            "--drain-interval", "0.5"], netns=t.net.ns_a, stderr=open(err, "w"))
    h.wait_for(lambda: os.path.exists(sock), 30, "the daemon's control socket")
    run = Run(t, t.tmux, "attach", f"--socket {sock} --refresh 0.5")
    run.wait_screen(lambda s: is_view(s) and header(s).startswith(f"ebpfix top: {sock}"), "the attached screen")
    t.track(run)
    assert run.daemon is None, "attached top must not start a daemon"
    t.ping(3, size=200)
    run.wait_screen(lambda s: icmp_request_row(rows(s), t), "the ICMP row")
    assert h.stop(daemon) == 0, open(err).read()
    status = run.wait_exit()
    assert status == 1, f"daemon gone: exit status {status}"
    run.check_terminal_restored()
    screen = run.screen()
    assert "ebpfix top: the daemon went away: control socket " + sock in screen, screen
    print("attached: rows shown; daemon stopped: exit 1 with 'the daemon went away' on the restored terminal")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--save-screen", help="write a screen of the standalone run here")
    args = ap.parse_args()
    h.require_root("ebpfix top in network namespaces")
    h.require_tools("tmux", "ping", "tc", "stty")
    t = Test(os.path.abspath(args.binary))
    step_standalone_keys(t, args.save_screen)
    step_standalone_ctrl_c(t)
    step_attach_and_daemon_goes_away(t)
    print("top_tmux: all steps passed")


if __name__ == "__main__":
    main()
