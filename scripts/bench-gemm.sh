#!/bin/sh
# sgemm on BENCH-ROW's shapes: OpenBLAS vs BLIS (Debian libblis-dev) vs the packed
# small-M kernel, GFLOP/s. Usage: scripts/bench-gemm.sh [seconds per cell]
set -eu
cd "$(dirname "$0")/.."
out=.build/bench-gemm
mkdir -p .build
"${CC:-$(command -v clang || echo cc)}" -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -ISources/CKernels/include -o "$out" \
  scripts/bench-gemm.c Sources/CKernels/kernels.c -ldl -lm
exec "$out" "${1:-0.3}"
