#!/usr/bin/env bash
# The ebpfix demo, as root on Debian 12: builds ebpfix, makes two private network
# namespaces joined by a veth pair, runs ebpfix on one end exporting IPFIX to a local
# nfcapd, sends ping, UDP and TCP traffic both ways, stops ebpfix with SIGTERM and prints
# the flows nfdump decoded. Nothing leaves the two namespaces; all is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target ebpfix >/dev/null
EBPFIX=$PWD/build/exporter/daemon/ebpfix

NS_A=ebpfix-demo-a-$$
NS_B=ebpfix-demo-b-$$
WORK=$(mktemp -d /tmp/ebpfix-demo.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add demo0 netns "$NS_A" type veth peer name demo1 netns "$NS_B"
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up
ip -n "$NS_A" addr add 10.99.0.1/24 dev demo0
ip -n "$NS_B" addr add 10.99.0.2/24 dev demo1
ip -n "$NS_A" -6 addr add fd00:99::1/64 dev demo0 nodad
ip -n "$NS_B" -6 addr add fd00:99::2/64 dev demo1 nodad
ip -n "$NS_A" link set demo0 up
ip -n "$NS_B" link set demo1 up

mkdir -p "$WORK/flows"
ip netns exec "$NS_A" nfcapd -w "$WORK/flows" -b 127.0.0.1 -p 2055 -t 3600 >"$WORK/nfcapd.log" 2>&1 &
NFCAPD=$!
PIDS+=("$NFCAPD")
ip netns exec "$NS_A" "$EBPFIX" demo0 --ipfix 127.0.0.1:2055 --log text --drain-interval 1 >"$WORK/ebpfix.log" 2>&1 &
EBPFIX_PID=$!
PIDS+=("$EBPFIX_PID")
sleep 1

echo "== traffic: 5 pings, 10 UDP datagrams, a 1 MB TCP transfer (iperf3), 3 pings over IPv6"
ip netns exec "$NS_A" ping -q -c 5 -i 0.2 10.99.0.2 >/dev/null
ip netns exec "$NS_A" bash -c 'for i in $(seq 10); do echo "demo $i" > /dev/udp/10.99.0.2/5353; done'
ip netns exec "$NS_B" iperf3 -s -1 -B 10.99.0.2 >/dev/null 2>&1 &
PIDS+=("$!")
sleep 0.5
ip netns exec "$NS_A" iperf3 -c 10.99.0.2 -n 1M >/dev/null
ip netns exec "$NS_A" ping -q -c 3 -i 0.2 fd00:99::2 >/dev/null
sleep 1.5

kill -TERM "$EBPFIX_PID"
wait "$EBPFIX_PID"
kill -TERM "$NFCAPD"
wait "$NFCAPD" || true

echo "== ebpfix log (flows also printed as text)"
cat "$WORK/ebpfix.log"
echo "== flows as nfdump decoded the IPFIX export"
nfdump -R "$WORK/flows" -o extended -N -O tstart
