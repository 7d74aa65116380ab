#!/usr/bin/env bash
# The fault soak (issue 17, docs/reliability.md): ebpfix under steady mixed traffic and
# scheduled faults for MINUTES (default 60) in private network namespaces, as root. Prints
# one line (packets sent, accounted per output, difference, RSS, fds, crashes) and exits
# non-zero on any violation.
#
#   sudo scripts/soak.sh [MINUTES]
#
# EBPFIX_BINARY and EBPFIX_SOAK_CHECKER name the binaries (CTest sets both); otherwise
# they are built in ${EBPFIX_BUILD_DIR:-build}. EBPFIX_SOAK_ARGS adds options of
# test/soak/soak.py run (e.g. "--verbose --flows"). The work directory (captures, logs,
# result.json) is kept; EBPFIX_SOAK_WORK chooses it.
set -euo pipefail

minutes="${1:-60}"
if ! [[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]] || [[ "$minutes" =~ ^0+([.]0*)?$ ]]; then
    echo "usage: $0 [MINUTES]   (a positive number, got '$minutes')" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ $EUID -ne 0 ]]; then
    if [[ -n "${CI:-}" ]]; then
        echo "FAILED: the soak needs root, and CI must not skip it" >&2
        exit 1
    fi
    echo "SKIPPED: the soak needs root (non-root developer run)" >&2
    exit 77
fi

build="${EBPFIX_BUILD_DIR:-$root/build}"
binary="${EBPFIX_BINARY:-}"
checker="${EBPFIX_SOAK_CHECKER:-}"
if [[ -z "$binary" || -z "$checker" ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" -j"$(nproc)" --target ebpfix soak_export_check >/dev/null
    binary="${binary:-$build/exporter/daemon/ebpfix}"
    checker="${checker:-$build/test/soak/soak_export_check}"
fi

work="${EBPFIX_SOAK_WORK:-$(mktemp -d /tmp/ebpfix-soak.XXXXXX)}"
mkdir -p "$work"
pyid=""
py_ended=0

# soak.py removes what it made at exit (atexit, SIGINT, SIGTERM); this is the backstop for
# a soak.py that was killed: its processes (by PID), its tmpfs, its namespaces (named by
# its PID).
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [[ -n "$pyid" ]] && kill -0 "$pyid" 2>/dev/null; then
        kill -TERM "$pyid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pyid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pyid" 2>/dev/null || true
    fi
    # Only after a soak.py that did not end by itself, and only PIDs still running one of
    # the programs it starts (a PID may have been reused since).
    if [[ "$py_ended" != 1 && -f "$work/pids" ]]; then
        while read -r pid; do
            if { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qE "ebpfix|nfcapd|tcpdump|soak\.py|traffic\.py"; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done < "$work/pids"
    fi
    if mountpoint -q "$work/logfs" 2>/dev/null; then
        umount "$work/logfs" 2>/dev/null || umount -l "$work/logfs" || true
    fi
    if [[ -n "$pyid" ]]; then
        for ns in "ebpfix-soak-a-$pyid" "ebpfix-soak-b-$pyid"; do
            ip netns del "$ns" 2>/dev/null || true
        done
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# shellcheck disable=SC2086  # EBPFIX_SOAK_ARGS is a list of options
/usr/bin/python3 "$root/test/soak/soak.py" run --minutes "$minutes" --binary "$binary" --checker "$checker" \
    --work "$work" ${EBPFIX_SOAK_ARGS:-} &
pyid=$!
rc=0
wait "$pyid" || rc=$?
# A status of 128 + N is a signal: soak.py may not have cleaned up after itself.
[[ $rc -lt 128 ]] && py_ended=1
exit "$rc"
