#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan + UBSan) in build-fuzz and runs each for
# SECONDS (default 60) on its seed corpus (test/fuzz/corpus/<target>). New inputs go to a
# scratch directory, never into the repository; a finding (crash, leak, timeout, out of
# memory) is kept in build-fuzz/fuzz-findings/<target>/. Prints one line per target and
# exits non-zero if any target found something. kernel_fuzz loads BPF programs: run as
# root (CI does). Needs clang-14 and libclang-rt-14-dev (scripts/install-deps.sh).
#   scripts/fuzz.sh [SECONDS]        EBPFIX_FUZZ_TARGETS="config_fuzz ..." to run fewer
set -euo pipefail

seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS]  (seconds per target, default 60)" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${EBPFIX_FUZZ_BUILD:-$root/build-fuzz}
targets=(${EBPFIX_FUZZ_TARGETS:-pcap_reader_fuzz config_fuzz command_line_fuzz control_request_fuzz kernel_fuzz})
jobs=$(nproc)

echo "fuzz: building ${targets[*]} in $build"
mkdir -p "$build"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DEBPFIX_FUZZ=ON -DEBPFIX_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/fuzz-configure.log" 2>&1 ||
  { cat "$build/fuzz-configure.log" >&2; exit 1; }
cmake --build "$build" -j"$jobs" --target "${targets[@]}" >"$build/fuzz-build.log" 2>&1 ||
  { tail -50 "$build/fuzz-build.log" >&2; exit 1; }

scratch=$(mktemp -d /tmp/ebpfix-fuzz-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
findings_root=$build/fuzz-findings
failed=0
for target in "${targets[@]}"; do
  if [[ $target == kernel_fuzz && $(id -u) -ne 0 ]]; then
    if [[ -n ${CI:-} ]]; then
      echo "$target: needs root, and CI must not skip it"
      failed=1
    else
      echo "$target: skipped (needs root)"
    fi
    continue
  fi
  corpus=$root/test/fuzz/corpus/$target
  findings=$findings_root/$target
  mkdir -p "$scratch/$target" "$findings"
  log=$build/$target.log
  touch "$scratch/$target.start"
  start=$(date +%s)
  rc=0
  # -timeout: one input that runs over 10 s is a finding; the outer timeout bounds a
  # fuzzer that stops answering altogether.
  timeout -k 10 $((seconds + 120)) "$build/test/fuzz/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$findings/" \
    "$scratch/$target" "$corpus" >"$log" 2>&1 || rc=$?
  elapsed=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  found=$(find "$findings" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) -newer "$scratch/$target.start" 2>/dev/null | wc -l)
  status=ok
  if ((found > 0)); then
    status="FOUND (see $findings, $log)"
  elif ((rc != 0)); then
    # A fuzzer that died without leaving an input (killed, or failed to start).
    found=1
    status="FAILED, exit $rc (see $log)"
  fi
  ((found == 0)) || failed=1
  echo "$target: ${execs:-0} executions, ${elapsed} s, $found findings: $status"
done
exit $failed
