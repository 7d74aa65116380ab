#!/usr/bin/env bash
# Sets up a Debian 12 machine and runs the whole ebpfix test suite, twice: a normal
# build and an ASan+UBSan build. Run as root: the kernel, netns and collector tests
# need it (as a non-root developer they report SKIPPED; under CI=true they fail).
# Between the two builds it also builds the .deb and installs and purges it; at the end
# each libFuzzer target runs for 20 s (scripts/fuzz.sh; clang-14, its own build-fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

jobs=$(nproc)
# run_suite DIR [CMAKE ARGS...]; CTEST_ARGS adds ctest options.
run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j1 ${CTEST_ARGS:-}
}

echo "=== build and test: release"
run_suite build
echo "=== Debian package: build, install, check, purge"
bash scripts/package-test.sh build
echo "=== build and test: ASan + UBSan"
# The three-minute soak runs in the release pass only, to keep CI well under an hour.
CTEST_ARGS="-LE soak" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan -DEBPFIX_SANITIZE=ON
echo "=== fuzz: every target for 20 s"
bash scripts/fuzz.sh 20
