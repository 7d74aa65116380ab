#!/usr/bin/env bash
# Runs every ebpfix benchmark and prints the numbers docs/benchmarks.md reports. As root,
# Debian 12. Not part of the test suite. Traffic stays inside two network namespaces
# joined by a veth pair that this script creates and deletes; collectors listen on the
# namespaces' loopback. kernel.bpf_stats_enabled is restored at exit.
#   scripts/bench.sh [--quick] [--only kernel|encoder|daemon|rss|live|compare]
# Environment: KEEP_WORK=1 keeps the work directory, QUIET_WAIT (s, default 60), BUILD (default build-bench), REPEAT (default 3), LIVE_PPS (default
# 100000), LIVE_PACKETS (default 1000000), LIVE_FLOWS (default 65535).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BUILD=${BUILD:-$ROOT/build-bench}
REPEAT=${REPEAT:-3}
LIVE_PPS=${LIVE_PPS:-100000}
LIVE_PACKETS=${LIVE_PACKETS:-1000000}
LIVE_FLOWS=${LIVE_FLOWS:-65535}
ONLY=""
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; REPEAT=1; LIVE_PACKETS=200000 ;;
    --only) ONLY=$2; shift ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

if [ "$(id -u)" != 0 ]; then echo "bench.sh: root needed (BPF programs, namespaces)" >&2; exit 1; fi

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 --target ebpfix_kernel_bench ebpfix_encoder_bench ebpfix_daemon_bench ebpfix >/dev/null
EBPFIX=$BUILD/exporter/daemon/ebpfix

NS_A=ebpfix-bench-a-$$
NS_B=ebpfix-bench-b-$$
WORK=$(mktemp -d /tmp/ebpfix-bench.XXXXXX)
PIDS=()
STATS_SYSCTL_OLD=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  sysctl -qw kernel.bpf_stats_enabled="$STATS_SYSCTL_OLD" || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work files kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Removes one PID from PIDS once it has been stopped and reaped.
forget() { local p=$1 i; for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" = "$p" ] && unset 'PIDS[i]'; done; true; }
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; forget "$1"; }

# Waits (at most QUIET_WAIT s, default 60) for the 1-minute load average to drop below 1.
quiet() {
  local i
  for i in $(seq 1 $(( ${QUIET_WAIT:-60} / 5 ))); do
    awk '{exit !($1 < 1.0)}' /proc/loadavg && return 0
    sleep 5
  done
  echo "note: load average still $(cut -d' ' -f1-3 /proc/loadavg) — numbers may be noisy"
}

echo "== conditions"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cpus"
echo "kernel: $(uname -r)"
echo "build: $BUILD ($(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" | cut -d= -f2)), g++ $(g++ -dumpversion)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)   date: $(date -u +%FT%TZ)"

if want kernel; then
  echo "== kernel program, BPF_PROG_TEST_RUN (ns/packet; median over runs of each run's average)"
  for flows in 1024 65536 262144; do
    [ $QUICK = 1 ] && [ $flows != 65536 ] && continue
    for r in $(seq 1 "$REPEAT"); do
      quiet
      echo "-- run $r"
      "$BUILD/test/bench/ebpfix_kernel_bench" "$flows" 5
    done
  done
fi

if want encoder; then
  echo "== encoders (records/s, one core)"
  for r in $(seq 1 "$REPEAT"); do
    quiet
    echo "-- run $r"
    "$BUILD/test/bench/ebpfix_encoder_bench" 4096 1
  done
fi

if want daemon; then
  echo "== daemon objects: drain, end-to-end, cpu/record, peak RSS"
  for flows in 65536 262144; do
    for r in $(seq 1 "$REPEAT"); do
      quiet
      echo "-- flows $flows run $r"
      "$BUILD/test/bench/ebpfix_daemon_bench" "$flows" 5
    done
  done
fi

# A pcap of N distinct IPv4 TCP flows, 64-byte payloads, one packet each.
make_pcap() {
  python3 - "$1" "$2" <<'EOF'
import struct, sys
n, path = int(sys.argv[1]), sys.argv[2]
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
with open(path, 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    payload = bytes(64)
    for i in range(n):
        src = bytes([10, (i >> 16) & 255, (i >> 8) & 255, i & 255])
        tcp = struct.pack('!HHIIBBHHH', 1024 + i % 60000, 80, 1, 1, 5 << 4, 0x10, 65535, 0, 0) + payload
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, bytes([192, 0, 2, 1]))
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        frame = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]) + b'\x08\x00' + ip + tcp
        t = 1700000000 * 1000000 + i
        f.write(struct.pack('<IIII', t // 1000000, t % 1000000, len(frame), len(frame)))
        f.write(frame)
EOF
}

if want rss; then
  echo "== peak RSS of the real daemon, --pcap of N one-packet flows (GNU time max RSS)"
  for flows in 65536 262144; do
    make_pcap "$flows" "$WORK/flows-$flows.pcap"
    # Kernel maps as large as the flows of one drain (the default 65536 would drop the rest).
    printf '[flow]\nmap_entries = %d\nmax_flows = 262144\n' "$(( flows > 65536 ? flows : 65536 ))" >"$WORK/rss.toml"
    for r in $(seq 1 "$REPEAT"); do
      rm -f "$WORK/log-$flows.json"
      /usr/bin/time -f "flows=$flows max_rss_kb=%M cpu_user_s=%U cpu_sys_s=%S wall_s=%e" \
        "$EBPFIX" -c "$WORK/rss.toml" --pcap "$WORK/flows-$flows.pcap" --log json --log-file "$WORK/log-$flows.json" \
        2>&1 | grep '^flows='
      echo "log lines (= flows exported): $(wc -l <"$WORK/log-$flows.json")"
    done
  done
fi

# Two namespaces and a veth pair: A (sender, va 192.0.2.1) -> B (vb 192.0.2.2).
make_netns() {
  ip netns add "$NS_A"
  ip netns add "$NS_B"
  ip link add va netns "$NS_A" type veth peer name vb netns "$NS_B"
  ip -n "$NS_A" link set lo up
  ip -n "$NS_B" link set lo up
  ip -n "$NS_A" addr add 192.0.2.1/24 dev va
  ip -n "$NS_B" addr add 192.0.2.2/24 dev vb
  ip -n "$NS_A" link set va up
  ip -n "$NS_B" link set vb up
  local mac_b
  mac_b=$(ip -n "$NS_B" -br link show vb | awk '{print $3}')
  local mac_a
  mac_a=$(ip -n "$NS_A" -br link show va | awk '{print $3}')
  # UDP from 192.0.2.1:1..LIVE_FLOWS to 192.0.2.2:9, 64-byte payload: LIVE_FLOWS flows.
  cat >"$WORK/traffic.cfg" <<EOF
{
  eth(da=$mac_b, sa=$mac_a),
  ipv4(saddr=192.0.2.1, daddr=192.0.2.2, ttl=64),
  udp(sp=dinc(1, $LIVE_FLOWS), dp=9),
  fill(0x00, 64)
}
EOF
  # A socket on port 9 that never reads: no ICMP port unreachable goes back.
  ip netns exec "$NS_B" python3 -c "import socket,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,4096)
s.bind(('192.0.2.2',9)); time.sleep(100000)" &
  PIDS+=($!)
}

rx_packets() { ip netns exec "$NS_B" cat /sys/class/net/vb/statistics/rx_packets; }
# Busy jiffies of the whole system (all but idle and iowait).
busy_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
# utime + stime of one process, in clock ticks.
proc_jiffies() { awk '{print $14 + $15}' "/proc/$1/stat"; }
send_traffic() {
  ip netns exec "$NS_A" trafgen --dev va --conf "$WORK/traffic.cfg" -n "$LIVE_PACKETS" -b "${LIVE_PPS}pps" \
    -P 1 -q -C >/dev/null 2>&1
}

if want live || want compare; then make_netns; fi

if want live; then
  echo "== live: ebpfix on vb, kernel.bpf_stats_enabled=1, $LIVE_PACKETS UDP packets at $LIVE_PPS pps, $LIVE_FLOWS flows"
  sysctl -qw kernel.bpf_stats_enabled=1
  for r in $(seq 1 "$REPEAT"); do
    quiet
    before=$(bpftool prog show -j | python3 -c "import json,sys; print(' '.join(str(p['id']) for p in json.load(sys.stdin)))")
    ip netns exec "$NS_B" "$EBPFIX" -i vb --log none --ipfix 127.0.0.1:9 >"$WORK/live.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    sleep 2
    send_traffic
    # Debian's bpftool 7.1 does not list tcx links nor owner pids: the daemon's programs
    # are the ebpfix_* programs loaded after it started (ids not in $before).
    bpftool prog show -j | python3 -c "import json,sys
before=set(int(x) for x in '$before'.split())
for p in json.load(sys.stdin):
    if p['id'] in before or not p.get('name','').startswith('ebpfix_'): continue
    n=p.get('run_cnt',0)
    if n: print('run $r prog %s (id %d): run_cnt %d run_time_ns %d = %.1f ns/run' % (p['name'], p['id'], n,
                p['run_time_ns'], p['run_time_ns']/n))"
    stop "$pid"
    # The floor on the same traffic: the bare 16-byte LRU counter of bpf/bench_reference.bpf.c.
    quiet
    ip netns exec "$NS_B" "$BUILD/test/bench/ebpfix_kernel_bench" --attach vb >"$WORK/ref.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    sleep 1
    send_traffic
    stop "$pid"
    sed "s/^/run $r /" "$WORK/ref.log"
  done
  sysctl -qw kernel.bpf_stats_enabled="$STATS_SYSCTL_OLD"
fi

# One exporter phase: start it (or nothing), send the traffic, stop it, read nfdump.
phase() {
  local name=$1 port=$2
  shift 2
  rm -rf "$WORK/nf-$name"; mkdir -p "$WORK/nf-$name"
  ip netns exec "$NS_B" nfcapd -w "$WORK/nf-$name" -b 127.0.0.1 -p "$port" -t 3600 -B 33554432 >"$WORK/nfcapd-$name.log" 2>&1 &
  local cap=$!
  PIDS+=("$cap")
  local exp=""
  if [ $# -gt 0 ]; then
    ip netns exec "$NS_B" "$@" >"$WORK/exp-$name.log" 2>&1 &
    exp=$!
    PIDS+=("$exp")
  fi
  sleep 2
  local rx0 b0 b1 rx1 t0 t1 c0=0 c1=0
  rx0=$(rx_packets); b0=$(busy_jiffies); t0=$(date +%s.%N)
  [ -n "$exp" ] && c0=$(proc_jiffies "$exp")
  send_traffic
  sleep 1  # the exporter's last drain / pcap buffer
  b1=$(busy_jiffies); rx1=$(rx_packets); t1=$(date +%s.%N)
  [ -n "$exp" ] && c1=$(proc_jiffies "$exp")
  if [ "$name" = softflowd ]; then
    # SIGTERM makes softflowd 1.1.0 exit without exporting; "shutdown" exports first.
    ip netns exec "$NS_B" softflowctl -c "$WORK/softflowd.ctl" statistics | grep -E 'processed|libpcap' | sed 's/^/  softflowd: /'
    ip netns exec "$NS_B" softflowctl -c "$WORK/softflowd.ctl" shutdown >/dev/null
    local i
    for i in $(seq 1 50); do kill -0 "$exp" 2>/dev/null || break; sleep 0.2; done
    stop "$exp"
  elif [ -n "$exp" ]; then
    stop "$exp"
  fi
  sleep 1
  stop "$cap"
  local seen=$((rx1 - rx0))
  local hz
  hz=$(getconf CLK_TCK)
  # -N: plain numbers (no "1.2 M" scaling).
  local summary
  summary=$(nfdump -R "$WORK/nf-$name" -q -N -o "fmt:%pkt %byt" 2>/dev/null |
    awk 'NF==2 {n++; p+=$1; b+=$2} END{print n+0, p+0, b+0}')
  echo "$name: rx_packets $seen busy_cpu_ms $(( (b1 - b0) * 1000 / hz )) exporter_process_cpu_ms $(( (c1 - c0) * 1000 / hz )) wall_s $(echo "$t1 - $t0" | bc) nfdump records/packets/bytes $summary"
}

if want compare; then
  echo "== side by side on vb: none vs ebpfix vs softflowd, $LIVE_PACKETS UDP packets at $LIVE_PPS pps, $LIVE_FLOWS flows"
  for r in $(seq 1 "$REPEAT"); do
    quiet
    echo "-- run $r"
    phase none 2055
    phase ebpfix 2056 "$EBPFIX" -i vb --log none --ipfix 127.0.0.1:2056 --idle-timeout 15
    phase softflowd 2057 softflowd -d -i vb -n 127.0.0.1:2057 -v 10 -6 -m 262144 -t maxlife=60 \
      -p "$WORK/softflowd.pid" -c "$WORK/softflowd.ctl"
  done
fi
echo "== done"
