#!/usr/bin/env bash
# Installs every Debian 12 package that ebpfix's build, tests, demo and benchmarks use.
# Idempotent: apt-get skips what is already installed. Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PKGS=(
  # build
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool linux-libc-dev
  libelf-dev zlib1g-dev libpcap-dev
  libboost-dev libboost-test-dev libboost-program-options-dev
  libmsgsl-dev libtomlplusplus-dev python3
  # sinks and views: Kafka (librdkafka + protobuf), the top TUI (ncurses)
  librdkafka-dev libprotobuf-dev protobuf-compiler libncurses-dev
  # tests and demo (logrotate: the rotation rule in etc/)
  iproute2 iputils-ping logrotate tcpdump tshark nfdump python3-scapy procps kmod ethtool
  # DOT graph checks (dot), the interactive top test (tmux), the Kafka consumer check,
  # the fuzzers (libFuzzer runtime of clang 14)
  graphviz tmux kcat libclang-rt-14-dev
  # service / packaging / metrics
  prometheus dpkg-dev file
  # benchmarks
  softflowd netsniff-ng iperf3 valgrind linux-perf tcpreplay
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#PKGS[@]} packages present"
fi
