#!/usr/bin/env bash
# pixelrnn bench against the same BENCH-ROW model in PyTorch (scripts/bench-pytorch.py),
# in one run, with the ratios. PyTorch is installed on first use into .venv-torch/
# (about 5 GB with its CUDA libraries; nothing else needs it).
#
#   scripts/bench-compare.sh [SECONDS]
#
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for both commands, as on a user's
# machine; run `KEEP_ENV=1 scripts/bench-compare.sh` to keep them as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-8}"
venv=.venv-torch
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch numpy pillow
fi
run() { if [ -n "${KEEP_ENV:-}" ]; then "$@"; else env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"; fi; }
ours=$(run .build/release/pixelrnn bench --seconds "$seconds" --workers 2)
echo "$ours"
echo
theirs=$(run "$venv/bin/python" scripts/bench-pytorch.py --seconds "$seconds" --threads "$(nproc)")
echo "$theirs"
echo
field() { awk -F'|' -v name="$1" -v workers="$2" '$2 ~ name && $3+0 == workers { gsub(/ /, "", $4); print $4; exit }'; }
train=$(echo "$ours" | field "training, batch 16" 2)
eval=$(echo "$ours" | field "evaluation, batch 64" 2)
# The fastest K = 1 configuration on all threads (16 images per call, states of 8 or 16).
complete=$(echo "$ours" | awk -F'|' -v t="$(nproc)" '$2 ~ /incremental/ && $3+0 == 1 && $5+0 == t { v = $6 + 0; if (best == "" || v < best) best = v } END { print best }')
t_train=$(echo "$theirs" | awk '/^training_images_per_s/ { print $2 }')
t_eval=$(echo "$theirs" | awk '/^evaluation_images_per_s/ { print $2 }')
t_complete=$(echo "$theirs" | awk '/^completion_ms_per_image/ { print $2 }')
echo "| BENCH-ROW, $(nproc) threads | PyTorch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') | pixelrnn | ratio |"
echo "| --- | ---: | ---: | ---: |"
awk -v a="$t_train" -v b="$train" 'BEGIN { printf "| training, batch 16 (images/s) | %.1f | %.1f | %.2f× |\n", a, b, b / a }'
awk -v a="$t_eval" -v b="$eval" 'BEGIN { printf "| evaluation, batch 64 (images/s) | %.1f | %.1f | %.2f× |\n", a, b, b / a }'
awk -v a="$t_complete" -v b="$complete" 'BEGIN { printf "| bottom-half completion, K = 1, 16 images per call (ms/image) | %.2f | %.2f | %.2f× |\n", a, b, a / b }'
