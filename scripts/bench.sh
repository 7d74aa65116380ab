#!/usr/bin/env bash
# Runs every ebpfix benchmark and prints the numbers docs/benchmarks.md reports. As root,
# Debian 12. Not part of the test suite. Traffic stays inside two network namespaces
# joined by a veth pair that this script creates and deletes; collectors listen on the
# namespaces' loopback. kernel.bpf_stats_enabled is restored at exit.
#   scripts/bench.sh [--quick] [--only SECTION[,SECTION...]]
#   sections: kernel encoder daemon rss live compare shapes sampling bookkeeping
# Environment: KEEP_WORK=1 keeps the work directory, QUIET_WAIT (s, default 60), BUILD (default build-bench), REPEAT (default 3), LIVE_PPS (default
# 100000), LIVE_PACKETS (default 1000000), LIVE_FLOWS (compare; default 65535), SHAPES
# (shapes, sampling; default "1024 65535 zipf"), ZIPF_FLOWS (65536), ZIPF_S (1.1), SAMPLE
# (sampling; 100), BOOK_FLOWS (bookkeeping; 65535), OLD_COMMIT (fe0fc78), OLD_TREE
# (/tmp/ebpfix-old: built there from `git archive` when its build/ has no ebpfix),
# QUICK_PACKETS (--quick: packets per phase, default 200000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BUILD=${BUILD:-$ROOT/build-bench}
REPEAT=${REPEAT:-3}
LIVE_PPS=${LIVE_PPS:-100000}
LIVE_PACKETS=${LIVE_PACKETS:-1000000}
LIVE_FLOWS=${LIVE_FLOWS:-65535}
SHAPES=${SHAPES:-1024 65535 zipf}
ZIPF_FLOWS=${ZIPF_FLOWS:-65536}
ZIPF_S=${ZIPF_S:-1.1}
SAMPLE=${SAMPLE:-100}
BOOK_FLOWS=${BOOK_FLOWS:-65535}
OLD_COMMIT=${OLD_COMMIT:-fe0fc78}
OLD_TREE=${OLD_TREE:-/tmp/ebpfix-old}
ONLY=""
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; REPEAT=1; LIVE_PACKETS=${QUICK_PACKETS:-200000} ;;
    --only) [ $# -ge 2 ] || { echo "bench.sh: --only needs a section" >&2; exit 2; }; ONLY=$2; shift ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
SECTIONS="kernel encoder daemon rss live compare shapes sampling bookkeeping"
for s in ${ONLY//,/ }; do
  case " $SECTIONS " in *" $s "*) ;; *) echo "bench.sh: unknown section '$s' (one of: $SECTIONS)" >&2; exit 2 ;; esac
done
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

if [ "$(id -u)" != 0 ]; then echo "bench.sh: root needed (BPF programs, namespaces)" >&2; exit 1; fi
for shape in $SHAPES; do
  case "$shape" in zipf|[1-9]*) ;; *) echo "bench.sh: SHAPES: '$shape' is neither a flow count nor zipf" >&2; exit 2 ;; esac
done
if { want shapes || want sampling; } && [[ " $SHAPES " == *" zipf "* ]] && ! command -v tcpreplay >/dev/null; then
  echo "bench.sh: the zipf shape replays a pcap with tcpreplay: apt-get install tcpreplay (or SHAPES without zipf)" >&2
  exit 1
fi

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 --target ebpfix_kernel_bench ebpfix_encoder_bench ebpfix_daemon_bench ebpfix >/dev/null
EBPFIX=$BUILD/exporter/daemon/ebpfix
KBENCH=$BUILD/test/bench/ebpfix_kernel_bench
OLD_EBPFIX=$OLD_TREE/build/exporter/daemon/ebpfix

NS_A=ebpfix-bench-a-$$
NS_B=ebpfix-bench-b-$$
WORK=$(mktemp -d /tmp/ebpfix-bench.XXXXXX)
PIDS=()
STATS_SYSCTL_OLD=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  sysctl -qw kernel.bpf_stats_enabled="$STATS_SYSCTL_OLD" || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work files kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Removes one PID from PIDS once it has been stopped and reaped.
forget() { local p=$1 i; for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" = "$p" ] && unset 'PIDS[i]'; done; true; }
# SIGTERM, then SIGKILL if the process has not ended within 30 s.
stop() {
  local i
  kill -TERM "$1" 2>/dev/null || true
  for i in $(seq 1 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}

# Waits (at most QUIET_WAIT s, default 60) for the 1-minute load average to drop below 1.
quiet() {
  local i
  for i in $(seq 1 $(( ${QUIET_WAIT:-60} / 5 ))); do
    awk '{exit !($1 < 1.0)}' /proc/loadavg && return 0
    sleep 5
  done
  echo "note: load average still $(cut -d' ' -f1-3 /proc/loadavg) — numbers may be noisy"
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== conditions"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cpus"
echo "kernel: $(uname -r)"
echo "build: $BUILD ($(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" | cut -d= -f2)), g++ $(g++ -dumpversion)"
echo "load: $(load)   date: $(date -u +%FT%TZ)"

if want kernel; then
  echo "== kernel program, BPF_PROG_TEST_RUN (ns/packet; median over runs of each run's average)"
  for flows in 1024 65536 262144; do
    [ $QUICK = 1 ] && [ $flows != 65536 ] && continue
    for r in $(seq 1 "$REPEAT"); do
      quiet
      echo "-- run $r (load $(load))"
      "$KBENCH" "$flows" 5
    done
  done
fi

if want encoder; then
  echo "== encoders (records/s, one core)"
  for r in $(seq 1 "$REPEAT"); do
    quiet
    echo "-- run $r (load $(load))"
    "$BUILD/test/bench/ebpfix_encoder_bench" 4096 1
  done
fi

if want daemon; then
  echo "== daemon objects: drain, end-to-end, cpu/record, peak RSS"
  for flows in 65536 262144; do
    for r in $(seq 1 "$REPEAT"); do
      quiet
      echo "-- flows $flows run $r (load $(load))"
      "$BUILD/test/bench/ebpfix_daemon_bench" "$flows" 5 | tee "$WORK/daemon.out"
      target="-"
      [ "$flows" = 262144 ] && target="<= 60"
      awk -v flows="$flows" -v run="$r" -v target="$target" '
        /^end-to-end/ { for (i = 1; i <= NF; i++) if ($i == "median") ms = $(i + 1) }
        /^daemon objects/ { for (i = 1; i <= NF; i++) if ($i == "VmHWM:") kb = $(i + 1) }
        END { verdict = (target == "-") ? "" : ((ms + 0 <= 60) ? " met" : " not met")
              printf "daemon flows=%s run=%s: drain+table+encode+send %s ms (target %s%s), bench objects VmHWM %.1f MB\n",
                     flows, run, ms, target, verdict, kb / 1000 }' "$WORK/daemon.out"
    done
  done
fi

if want rss; then
  echo "== peak RSS of the real daemon, --pcap of N one-packet flows (GNU time max RSS)"
  for flows in 65536 262144; do
    python3 "$ROOT/scripts/bench/make_pcap.py" once "$flows" "$WORK/flows-$flows.pcap"
    # Kernel maps as large as the flows of one drain (the default 65536 would drop the rest).
    printf '[flow]\nmap_entries = %d\nmax_flows = 262144\n' "$(( flows > 65536 ? flows : 65536 ))" >"$WORK/rss.toml"
    limit=20
    [ "$flows" = 262144 ] && limit=60
    for r in $(seq 1 "$REPEAT"); do
      rm -f "$WORK/log-$flows.json"
      /usr/bin/time -o "$WORK/time.out" -f "%M %U %S %e" \
        "$EBPFIX" -c "$WORK/rss.toml" --pcap "$WORK/flows-$flows.pcap" --log json --log-file "$WORK/log-$flows.json" \
        --control "" >"$WORK/rss.log" 2>&1 || { echo "ebpfix --pcap failed:"; cat "$WORK/rss.log"; }
      lines=$(wc -l <"$WORK/log-$flows.json" 2>/dev/null || echo 0)
      read -r kb us ss ws <"$WORK/time.out"
      awk -v f="$flows" -v r="$r" -v kb="$kb" -v lim="$limit" -v n="$lines" -v us="$us" -v ss="$ss" -v ws="$ws" 'BEGIN {
        printf "rss flows=%s run=%s: peak RSS %.1f MB (target <= %d MB %s) flows in the log %s exact=%s cpu %.2f s wall %.2f s\n",
               f, r, kb / 1000, lim, (kb / 1000 <= lim ? "met" : "not met"), n, (n == f ? "yes" : "no"), us + ss, ws }'
    done
  done
fi

# Two namespaces and a veth pair: A (sender, va 192.0.2.1) -> B (vb 192.0.2.2). IPv6 off
# and static neighbours: nothing but the benchmark's packets crosses the pair, so the
# totals can be compared with what was sent, exactly.
MAC_A=02:00:00:eb:f1:01
MAC_B=02:00:00:eb:f1:02
make_netns() {
  local ns
  for ns in "$NS_A" "$NS_B"; do
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
  done
  ip link add va netns "$NS_A" address "$MAC_A" type veth peer name vb netns "$NS_B" address "$MAC_B"
  ip -n "$NS_A" addr add 192.0.2.1/24 dev va
  ip -n "$NS_B" addr add 192.0.2.2/24 dev vb
  ip -n "$NS_A" neigh replace 192.0.2.2 lladdr "$MAC_B" dev va nud permanent
  ip -n "$NS_B" neigh replace 192.0.2.1 lladdr "$MAC_A" dev vb nud permanent
  ip -n "$NS_A" link set va up
  ip -n "$NS_B" link set vb up
  # Sockets on ports 9 and 10 that never read: no ICMP port unreachable goes back.
  ip netns exec "$NS_B" python3 -c "import socket,time
ss=[]
for p in (9, 10):
    s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,4096)
    s.bind(('192.0.2.2',p)); ss.append(s)
time.sleep(100000)" &
  PIDS+=($!)
  sleep 1
}

# The traffic of a shape: N = N flows round robin (trafgen, UDP from 192.0.2.1:1..N to
# 192.0.2.2:9, 64-byte payload); zipf = a pcap of LIVE_PACKETS packets over ZIPF_FLOWS
# flows, Zipf exponent ZIPF_S (scripts/bench/make_pcap.py), replayed by tcpreplay. Sets
# SHAPE_FLOWS (flows the traffic holds) and SHAPE_NAME.
set_shape() {
  TRAFFIC=$1
  if [ "$1" = zipf ]; then
    SHAPE_NAME=zipf
    local out
    out=$(python3 "$ROOT/scripts/bench/make_pcap.py" zipf "$ZIPF_FLOWS" "$ZIPF_S" "$LIVE_PACKETS" "$WORK/zipf.pcap" \
      "$MAC_A" "$MAC_B")
    SHAPE_FLOWS=$(sed -n 's/.*flows_sent=\([0-9]*\).*/\1/p' <<<"$out")
    echo "shape zipf: s=$ZIPF_S over $ZIPF_FLOWS flows, $out"
  else
    SHAPE_NAME=rr
    SHAPE_FLOWS=$1
    cat >"$WORK/traffic.cfg" <<EOF
{
  eth(da=$MAC_B, sa=$MAC_A),
  ipv4(saddr=192.0.2.1, daddr=192.0.2.2, ttl=64),
  udp(sp=dinc(1, $1), dp=9),
  fill(0x00, 64)
}
EOF
  fi
}

send_traffic() {
  if [ "$TRAFFIC" = zipf ]; then
    ip netns exec "$NS_A" tcpreplay -q -T nano -i va --pps="$LIVE_PPS" "$WORK/zipf.pcap" >"$WORK/sender.log" 2>&1
  else
    ip netns exec "$NS_A" trafgen --dev va --conf "$WORK/traffic.cfg" -n "$LIVE_PACKETS" -b "${LIVE_PPS}pps" \
      -P 1 -q -C >"$WORK/sender.log" 2>&1
  fi
}

rx_packets() { ip netns exec "$NS_B" cat /sys/class/net/vb/statistics/rx_packets; }
# Busy jiffies of the whole system (all but idle and iowait).
busy_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
# CPU time of every thread of a process, in ns (schedstat: time on the CPU).
proc_cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'; }
# run_cnt and run_time_ns summed over the BPF programs a process holds open (fdinfo; the
# kernel counts them while kernel.bpf_stats_enabled is 1). Links' fdinfo has no run_cnt.
prog_stats() {
  local f
  for f in /proc/"$1"/fdinfo/*; do
    awk '/^prog_id:/ {id = $2} /^run_cnt:/ {c = $2} /^run_time_ns:/ {t = $2; have = 1}
         END {if (have) print id, c, t}' "$f" 2>/dev/null || true
  done | sort -u | awk '{c += $2; t += $3} END {printf "%d %d\n", c, t}'
}
# Sums one field over the JSON lines of a stats file (the first N lines with N given).
stats_sum() {
  python3 - "$@" <<'EOF'
import json, sys
path, key = sys.argv[1], sys.argv[2]
limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
total = 0
try:
    with open(path) as f:
        for i, line in enumerate(f):
            if limit is not None and i >= limit:
                break
            total += json.loads(line).get(key, 0)
except FileNotFoundError:
    pass
print(total)
EOF
}

if want live || want compare || want shapes || want sampling || want bookkeeping; then make_netns; fi

if want live; then
  set_shape "$LIVE_FLOWS"
  echo "== live: ebpfix on vb, kernel.bpf_stats_enabled=1, $LIVE_PACKETS UDP packets at $LIVE_PPS pps, $LIVE_FLOWS flows"
  sysctl -qw kernel.bpf_stats_enabled=1
  for r in $(seq 1 "$REPEAT"); do
    quiet
    echo "-- run $r (load $(load))"
    ip netns exec "$NS_B" "$EBPFIX" -i vb --log none --ipfix 127.0.0.1:9 --control "" >"$WORK/live.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    sleep 2
    read -r c0 t0 < <(prog_stats "$pid")
    send_traffic
    read -r c1 t1 < <(prog_stats "$pid")
    echo "run $r ebpfix programs on vb: run_cnt $((c1 - c0)) run_time_ns $((t1 - t0)) = $(awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) 'BEGIN{printf "%.1f", c ? t / c : 0}') ns/run"
    stop "$pid"
    # The floor on the same traffic: the bare 16-byte LRU counter of bpf/bench_reference.bpf.c.
    quiet
    ip netns exec "$NS_B" "$KBENCH" --attach vb >"$WORK/ref.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    sleep 1
    send_traffic
    stop "$pid"
    sed "s/^/run $r /" "$WORK/ref.log"
  done
  sysctl -qw kernel.bpf_stats_enabled="$STATS_SYSCTL_OLD"
fi

# One exporter phase: start a collector and the exporter (or nothing) in B, send the
# traffic once, stop them, read nfdump. The window measured is the traffic plus 1.5 s
# (the exporter's last drain; softflowd's pcap buffer). Sets:
#   P_SEEN (packets on vb), P_BUSY_MS (whole-system busy CPU in the window),
#   P_EXP_MS (the exporter's own CPU in the window), P_PROG_CNT / P_PROG_NS (its BPF
#   programs, with bpf_stats on), P_LINES (stats-file lines written in the window),
#   P_RECORDS / P_PACKETS / P_BYTES (nfdump), P_OUT (the exporter's output).
phase() {
  local name=$1 port=$2
  shift 2
  rm -rf "$WORK/nf-$name" "$WORK/stats-$name.json"; mkdir -p "$WORK/nf-$name"
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
  if [ -n "$exp" ] && ! kill -0 "$exp" 2>/dev/null; then
    echo "$name did not start:"; cat "$WORK/exp-$name.log"; forget "$exp"; exp=""
  fi
  local rx0 b0 b1 rx1 t0 t1 c0=0 c1=0 pc0=0 pt0=0 pc1=0 pt1=0
  rx0=$(rx_packets); b0=$(busy_jiffies); t0=$(date +%s.%N)
  if [ -n "$exp" ]; then c0=$(proc_cpu_ns "$exp"); read -r pc0 pt0 < <(prog_stats "$exp"); fi
  send_traffic
  sleep 1.5
  b1=$(busy_jiffies); rx1=$(rx_packets); t1=$(date +%s.%N)
  if [ -n "$exp" ]; then c1=$(proc_cpu_ns "$exp"); read -r pc1 pt1 < <(prog_stats "$exp"); fi
  P_LINES=0
  [ -f "$WORK/stats-$name.json" ] && P_LINES=$(wc -l <"$WORK/stats-$name.json")
  if [ "$name" = softflowd ]; then
    # SIGTERM makes softflowd 1.1.0 exit without exporting; "shutdown" exports first.
    ip netns exec "$NS_B" softflowctl -c "$WORK/softflowd.ctl" statistics | grep -E 'processed|libpcap' | sed 's/^/  softflowd: /'
    ip netns exec "$NS_B" softflowctl -c "$WORK/softflowd.ctl" shutdown >/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$exp" 2>/dev/null || break; sleep 0.2; done
    stop "$exp"
  elif [ -n "$exp" ]; then
    stop "$exp"
  fi
  sleep 1
  stop "$cap"
  local hz
  hz=$(getconf CLK_TCK)
  P_SEEN=$((rx1 - rx0))
  P_BUSY_MS=$(( (b1 - b0) * 1000 / hz ))
  P_EXP_MS=$(awk -v c=$((c1 - c0)) 'BEGIN{printf "%.1f", c / 1e6}')
  P_PROG_CNT=$((pc1 - pc0))
  P_PROG_NS=$((pt1 - pt0))
  P_OUT="$WORK/exp-$name.log"
  # -N: plain numbers (no "1.2 M" scaling).
  read -r P_RECORDS P_PACKETS P_BYTES < <(nfdump -R "$WORK/nf-$name" -q -N -o "fmt:%pkt %byt" 2>/dev/null |
    awk 'NF==2 {n++; p+=$1; b+=$2} END{print n+0, p+0, b+0}')
  echo "  $name: rx_packets $P_SEEN busy_cpu_ms $P_BUSY_MS exporter_cpu_ms $P_EXP_MS bpf_run_cnt $P_PROG_CNT wall_s $(echo "$t1 - $t0" | bc) nfdump records/packets/bytes $P_RECORDS $P_PACKETS $P_BYTES"
}

# µs of added system CPU per packet: (busy ms of a phase - busy ms of "none") / packets.
per_packet() { awk -v b="$1" -v n="$2" -v p="$LIVE_PACKETS" 'BEGIN{printf "%.3f", (b - n) * 1000 / p}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (b > 0) printf "%.3f", a / b; else printf "n/a"}'; }
EBPFIX_LIVE=("$EBPFIX" -i vb --log none --idle-timeout 15 --control "")
SOFTFLOWD=(softflowd -d -i vb -v 10 -6 -m 262144 -t maxlife=60 -p "$WORK/softflowd.pid" -c "$WORK/softflowd.ctl")

# One run of one shape: none, bare 16-byte counter, ebpfix, softflowd on the same traffic.
compare_run() {
  local r=$1
  quiet
  echo "-- $SHAPE_NAME flows=$SHAPE_FLOWS run $r (load $(load))"
  phase none 2055
  local none=$P_BUSY_MS
  phase bare 2058 "$KBENCH" --attach vb
  local bare bare_pkts
  bare=$(per_packet "$P_BUSY_MS" "$none")
  bare_pkts=$(sed -n 's/.*map packets \([0-9]*\).*/\1/p' "$P_OUT")
  phase ebpfix 2056 "${EBPFIX_LIVE[@]}" --ipfix 127.0.0.1:2056
  local eb eb_exact=no
  eb=$(per_packet "$P_BUSY_MS" "$none")
  [ "$P_PACKETS" = "$LIVE_PACKETS" ] && [ "$P_SEEN" = "$LIVE_PACKETS" ] && [ "$P_RECORDS" = "$SHAPE_FLOWS" ] && eb_exact=yes
  local eb_detail="ebpfix nfdump $P_RECORDS flows $P_PACKETS packets"
  phase softflowd 2057 "${SOFTFLOWD[@]}" -n 127.0.0.1:2057
  local sf
  sf=$(per_packet "$P_BUSY_MS" "$none")
  echo "compare flows=$SHAPE_FLOWS shape=$SHAPE_NAME run=$r: ebpfix $eb us/pkt, bare $bare, softflowd $sf -> ebpfix/bare $(ratio "$eb" "$bare") (target <= 1.15) ebpfix/softflowd $(ratio "$eb" "$sf") exact=$eb_exact ($eb_detail of $LIVE_PACKETS sent; bare counted ${bare_pkts:-?}; softflowd $P_PACKETS) load $(load)"
}

if want compare; then
  set_shape "$LIVE_FLOWS"
  echo "== side by side on vb: none vs bare counter vs ebpfix vs softflowd, $LIVE_PACKETS UDP packets at $LIVE_PPS pps, $LIVE_FLOWS flows"
  for r in $(seq 1 "$REPEAT"); do compare_run "$r"; done
fi

if want shapes; then
  echo "== shapes: added system CPU per packet, ebpfix vs the bare 16-byte counter vs softflowd, $LIVE_PACKETS packets at $LIVE_PPS pps"
  for shape in $SHAPES; do
    set_shape "$shape"
    for r in $(seq 1 "$REPEAT"); do compare_run "$r"; done
  done
fi

if want sampling; then
  echo "== sampling: ebpfix --sample $SAMPLE (random) vs softflowd (every packet), $LIVE_PACKETS packets at $LIVE_PPS pps"
  for shape in $SHAPES; do
    set_shape "$shape"
    for r in $(seq 1 "$REPEAT"); do
      quiet
      echo "-- $SHAPE_NAME flows=$SHAPE_FLOWS run $r (load $(load))"
      phase none 2055
      none=$P_BUSY_MS
      phase ebpfix 2056 "${EBPFIX_LIVE[@]}" --ipfix 127.0.0.1:2056 --sample "$SAMPLE" \
        --stats-file "$WORK/stats-ebpfix.json" --stats-format json
      eb=$(per_packet "$P_BUSY_MS" "$none")
      taken=$(stats_sum "$WORK/stats-ebpfix.json" total_packets)
      sampled_out=$(stats_sum "$WORK/stats-ebpfix.json" sampled_out)
      scaled=$P_PACKETS
      seen=$P_SEEN
      phase softflowd 2057 "${SOFTFLOWD[@]}" -n 127.0.0.1:2057
      sf=$(per_packet "$P_BUSY_MS" "$none")
      # Each packet is kept with chance 1/N: the scaled total N*kept has variance
      # sent*(N-1); the bound is 4 standard deviations (exceeded by chance 6e-5).
      awk -v sh="$SHAPE_NAME" -v fl="$SHAPE_FLOWS" -v r="$r" -v eb="$eb" -v sf="$sf" -v n="$SAMPLE" \
          -v sent="$LIVE_PACKETS" -v seen="$seen" -v scaled="$scaled" -v taken="$taken" -v out="$sampled_out" -v load="$(load)" 'BEGIN {
        bound = 4 * sqrt(sent * (n - 1)); d = scaled - sent; if (d < 0) d = -d
        exact = (taken + out == sent && seen == sent && scaled == taken * n) ? "yes" : "no"
        printf "sampling flows=%s shape=%s run=%s: ebpfix --sample %d %s us/pkt, softflowd %s -> ebpfix/softflowd %s (target <= 0.03) nfdump %d of %d sent (bound +-%d: %s) exported %d + sampled_out %d = %d exact=%s load %s\n",
               fl, sh, r, n, eb, sf, (sf > 0 ? sprintf("%.3f", eb / sf) : "n/a"), scaled, sent, bound,
               (d <= bound ? "within" : "outside"), taken, out, taken + out, exact, load }'
    done
  done
fi

if want bookkeeping; then
  if [ ! -x "$OLD_EBPFIX" ]; then
    echo "== building $OLD_COMMIT in $OLD_TREE (git archive, no worktree)"
    mkdir -p "$OLD_TREE"
    git -C "$ROOT" archive "$OLD_COMMIT" | tar -x -C "$OLD_TREE"
    cmake -S "$OLD_TREE" -B "$OLD_TREE/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$OLD_TREE/build" -j2 --target ebpfix >/dev/null
  fi
  set_shape "$BOOK_FLOWS"
  echo "== bookkeeping: kernel + daemon CPU per active flow per drain, this tree vs $OLD_COMMIT, $BOOK_FLOWS flows round robin, $LIVE_PACKETS packets at $LIVE_PPS pps"
  echo "   each daemon twice on the same traffic: draining every 1 s, and never within the window (drain interval 3600 s);"
  echo "   the difference (daemon CPU + its BPF programs' run time) over the flow deltas the 1 s drains took"
  sysctl -qw kernel.bpf_stats_enabled=1
  BOOK_OPTS=(-i vb --log none --idle-timeout 7200 --active-timeout 7200 --stats-format json)
  # One phase of one design; sets B_MS (daemon CPU, ms), B_PROG (its programs' run time,
  # ns), B_FD (flow deltas the drains in the window took), B_DR (those drains), B_OK.
  book_phase() {
    local name=$1 bin=$2 port=$3 interval=$4
    shift 4
    phase "$name" "$port" "$bin" "${BOOK_OPTS[@]}" --ipfix 127.0.0.1:"$port" --drain-interval "$interval" \
      --stats-file "$WORK/stats-$name.json" "$@"
    B_MS=$P_EXP_MS
    B_PROG=$P_PROG_NS
    B_FD=$(stats_sum "$WORK/stats-$name.json" kernel_flows_drained "$P_LINES")
    B_DR=$(head -n "$P_LINES" "$WORK/stats-$name.json" 2>/dev/null | grep -vc '"kernel_flows_drained":0[,}]' || true)
    B_OK=no
    [ "$P_PACKETS" = "$LIVE_PACKETS" ] && [ "$P_SEEN" = "$LIVE_PACKETS" ] && B_OK=yes
    true
  }
  for r in $(seq 1 "$REPEAT"); do
    quiet
    echo "-- run $r (load $(load))"
    # ABBA order: each design's two phases are next to each other.
    book_phase new-nodrain "$EBPFIX" 2061 3600 --control ""
    n_inf_ms=$B_MS n_inf_prog=$B_PROG n_inf_ok=$B_OK
    book_phase new-drain "$EBPFIX" 2062 1 --control ""
    n_ms=$B_MS n_prog=$B_PROG n_fd=$B_FD n_dr=$B_DR n_ok=$B_OK
    book_phase old-drain "$OLD_EBPFIX" 2063 1
    o_ms=$B_MS o_prog=$B_PROG o_fd=$B_FD o_dr=$B_DR o_ok=$B_OK
    book_phase old-nodrain "$OLD_EBPFIX" 2064 3600
    o_inf_ms=$B_MS o_inf_prog=$B_PROG o_inf_ok=$B_OK
    exact=no
    [ "$n_inf_ok$n_ok$o_ok$o_inf_ok" = yesyesyesyes ] && exact=yes
    awk -v r="$r" -v f="$BOOK_FLOWS" -v old="$OLD_COMMIT" -v exact="$exact" -v load="$(load)" \
        -v nd="$n_ms" -v ndi="$n_inf_ms" -v nk="$n_prog" -v nki="$n_inf_prog" -v nfd="$n_fd" -v ndr="$n_dr" \
        -v od="$o_ms" -v odi="$o_inf_ms" -v ok="$o_prog" -v oki="$o_inf_prog" -v ofd="$o_fd" -v odr="$o_dr" 'BEGIN {
      # daemon: ms -> ns; kernel: ns; per flow delta taken, in µs.
      n_d = nfd ? (nd - ndi) * 1e6 / nfd / 1000 : 0; n_k = nfd ? (nk - nki) / nfd / 1000 : 0
      o_d = ofd ? (od - odi) * 1e6 / ofd / 1000 : 0; o_k = ofd ? (ok - oki) / ofd / 1000 : 0
      n = n_d + n_k; o = o_d + o_k
      printf "bookkeeping flows=%s run=%s: new %.3f us/flow/drain (daemon %.3f + kernel %.3f; %d flow deltas in %d drains), %s %.3f (daemon %.3f + kernel %.3f; %d in %d) -> new/old %s (target <= 0.25) exact=%s load %s\n",
             f, r, n, n_d, n_k, nfd, ndr, old, o, o_d, o_k, ofd, odr, (o > 0 ? sprintf("%.3f", n / o) : "n/a"), exact, load }'
  done
  sysctl -qw kernel.bpf_stats_enabled="$STATS_SYSCTL_OLD"
fi
echo "== done"
