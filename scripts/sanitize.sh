#!/usr/bin/env bash
# Runs the test suite under a sanitizer (docs/hardening.md).
#
#   scripts/sanitize.sh address|thread [FILTER...]
#
# Debug build in its own scratch folder (.build-asan or .build-tsan). With FILTER
# arguments only those test targets/suites run (each is passed as --filter); without,
# the whole suite runs. The log goes to .build-asan/test.log (or .build-tsan/test.log).
set -euo pipefail
cd "$(dirname "$0")/.."

case ${1:-} in
    address) scratch=.build-asan ;;
    thread) scratch=.build-tsan ;;
    *) sed -n '2,8p' "$0"; exit 2 ;;
esac
sanitizer=$1
shift
filters=()
for f in "$@"; do filters+=(--filter "$f"); done

# ASan also reports leaks when a test process exits (detect_leaks, on by default on Linux).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1}

swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
swift test --sanitize="$sanitizer" --scratch-path "$scratch" --skip-build "${filters[@]}" 2>&1 | tee "$scratch/test.log"
exit "${PIPESTATUS[0]}"
