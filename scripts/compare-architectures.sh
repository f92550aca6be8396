#!/usr/bin/env bash
# The three architectures at equal wall time on the wallpapers data: each is trained from
# scratch for MINUTES minutes (same data, width, blocks, output distribution, orientations,
# batch and learning rate), with its cosine schedule sized to end at that time (a 40-second
# probe measures its step rate first), then scored on the 2,368 test tiles.
# Usage: scripts/compare-architectures.sh [MINUTES] [OUT] [ARCHS] [HIDDEN]
#        (defaults: 10 runs/compare "row diagonal pixelcnn" 36)
# Needs the wallpapers packages (`make data`) and a release build. Run it on an otherwise
# idle machine: the comparison is only as fair as the time each run gets.
set -euo pipefail
MINUTES=${1:-10}
OUT=${2:-runs/compare}
ARCHS=${3:-row diagonal pixelcnn}
HIDDEN=${4:-36}
BIN=${PIXELRNN:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/pixelrnn}
[ -x "$BIN" ] || { echo "no $BIN; build with: swift build -c release" >&2; exit 1; }
mkdir -p "$OUT"
COMMON=(--data wallpapers --size 32 --hidden "$HIDDEN" --blocks 7 --orientations 8 --distribution mixture
        --batch 16 --learning-rate 1e-3 --seed 1 --workers 2 --validate-every 1000000 --checkpoint-every 1000000)
printf "%-10s %10s %8s %10s %12s %14s\n" arch parameters steps "img/s" "train bpd" "test bits/dim"
for ARCH in $ARCHS; do
  rm -rf "$OUT/$ARCH-probe" "$OUT/$ARCH"
  "$BIN" train "${COMMON[@]}" --arch "$ARCH" --steps 1000000 --minutes 0.67 --out "$OUT/$ARCH-probe" >"$OUT/$ARCH-probe.log" 2>&1
  RATE=$(tail -1 "$OUT/$ARCH-probe/loss.csv" | cut -d, -f6)   # images/s at the probe's end
  STEPS=$(python3 -c "print(max(100, int($RATE * $MINUTES * 60 / 16)))")
  "$BIN" train "${COMMON[@]}" --arch "$ARCH" --steps "$STEPS" --minutes "$MINUTES" --out "$OUT/$ARCH" >"$OUT/$ARCH.log" 2>&1
  PARAMS=$(grep -o '[0-9]* parameters' "$OUT/$ARCH.log" | head -1 | cut -d' ' -f1)
  DONE=$(tail -1 "$OUT/$ARCH/loss.csv" | cut -d, -f1)
  TRAIN=$(tail -1 "$OUT/$ARCH/loss.csv" | cut -d, -f3)   # smoothed training loss at the end
  TEST=$("$BIN" eval --model "$OUT/$ARCH/model.safetensors" --data wallpapers | awk '/^bits\/dim/ {print $2}')
  printf "%-10s %10s %8s %10s %12s %14s\n" "$ARCH" "$PARAMS" "$DONE/$STEPS" "$RATE" "$TRAIN" "$TEST"
done
