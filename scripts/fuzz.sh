#!/usr/bin/env bash
# Builds and runs the libFuzzer targets in Fuzz/Targets (docs/hardening.md).
#
#   scripts/fuzz.sh TARGET SECONDS      one target (image, mask, joboptions, config, safetensors)
#   scripts/fuzz.sh T1,T2 SECONDS       several targets, SECONDS each, FUZZ_JOBS (default 2) at a time
#   scripts/fuzz.sh all SECONDS         every target, the same way
#   scripts/fuzz.sh build [TARGET...]   build only
#
# The libraries are built with coverage and AddressSanitizer in .build-fuzz (release,
# -enable-testing); each target is one Swift file linked against their objects with
# -sanitize=fuzzer,address. The seed corpus Fuzz/corpus/TARGET is read-only; new inputs go
# to Fuzz/corpus-new/TARGET (ignored), crashes/leaks/timeouts to Fuzz/crashes/TARGET,
# and the run's log to Fuzz/logs/TARGET.log (ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=.build-fuzz
TARGETS=(image mask joboptions config safetensors)
BIN="$SCRATCH/release"

build_libraries() {
    swift build -c release --target Spool --scratch-path "$SCRATCH" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing \
        -Xcc -fsanitize=fuzzer-no-link,address
}

build_target() {
    local name=$1 objects=()
    local module
    for module in CImageCodecs CMachine SystemIO Imaging PixelRNN Completion Spool Logging SystemPackage CSystem; do
        objects+=("$BIN/$module.build/"*.o)
    done
    swiftc -parse-as-library -O -sanitize=fuzzer,address -module-name "Fuzz_$name" \
        -I "$BIN/Modules" -I "$BIN" \
        -Xcc -fmodule-map-file="$BIN/CImageCodecs.build/module.modulemap" \
        -Xcc -fmodule-map-file="$SCRATCH/checkouts/swift-system/Sources/CSystem/include/module.modulemap" \
        -I Sources/CBLAS -I Sources/CZlib -I Sources/CInotify -I Sources/CCairo \
        $(pkg-config --cflags-only-I cairo | sed 's/-I/-Xcc -I/g') \
        "Fuzz/Targets/$name.swift" "${objects[@]}" \
        -lpng16 -ljpeg -lz -lopenblas -linotifytools -lcairo -lfreetype \
        -o "$SCRATCH/fuzz-$name" 2>&1 | { grep -v "Cannot export local symbol '__asan" || true; }
    [ "${PIPESTATUS[0]}" -eq 0 ]
}

run_target() {
    local name=$1 seconds=$2
    mkdir -p "Fuzz/corpus-new/$name" "Fuzz/crashes/$name" Fuzz/logs
    echo "fuzzing $name for ${seconds}s (log: Fuzz/logs/$name.log)"
    # Leaks are reported (detect_leaks); inputs over 10 s or 2 GB RSS count as failures.
    local status=0
    "$SCRATCH/fuzz-$name" "Fuzz/corpus-new/$name" "Fuzz/corpus/$name" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -detect_leaks=1 \
        -artifact_prefix="Fuzz/crashes/$name/" >"Fuzz/logs/$name.log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+DONE|stat::|ERROR|SUMMARY' "Fuzz/logs/$name.log" | sed "s/^/$name: /" || true
    return $status
}

[ $# -ge 1 ] || { sed -n '2,15p' "$0"; exit 2; }
if [ "$1" = build ]; then
    shift
    build_libraries
    for t in "${@:-${TARGETS[@]}}"; do build_target "$t"; done
    exit 0
fi
if [ "$1" = all ]; then selected=("${TARGETS[@]}"); else IFS=, read -r -a selected <<<"$1"; fi
seconds=${2:?SECONDS}
for t in "${selected[@]}"; do
    [ -f "Fuzz/Targets/$t.swift" ] || { echo "unknown target $t (${TARGETS[*]})" >&2; exit 2; }
done
build_libraries
for t in "${selected[@]}"; do build_target "$t"; done
jobs=${FUZZ_JOBS:-2} failed=0 pids=()
for t in "${selected[@]}"; do
    run_target "$t" "$seconds" & pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}" || failed=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit $failed
