// Runtime-dispatched kernels: one body per instruction set (function attributes), one
// dispatcher that reads the CPU's features once (see include/kernels.h).

#include "kernels.h"

// 64-byte vectors pass between always-inlined helpers only; no call crosses an ABI.
#pragma clang diagnostic ignored "-Wpsabi"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__)
#define PK_X86 1
#define PK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define PK_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#else
#define PK_X86 0
#endif

typedef float v16 __attribute__((vector_size(64), aligned(4)));

// a · b + c in one rounding per lane where the target has FMA (clang: always fused;
// GCC fuses `a * b + c` itself under its default -ffp-contract=fast).
#if defined(__clang__)
#define PK_FMA(a, b, c) __builtin_elementwise_fma(a, b, c)
#else
#define PK_FMA(a, b, c) ((a) * (b) + (c))
#endif

long pk_packed_size(int n, int k) { return (long)((n + 15) / 16) * 16 * k; }

void pk_pack(const float *w, int n, int k, float *packed) {
    int panels = (n + 15) / 16;
    for (int p = 0; p < panels; p++) {
        float *dst = packed + (long)p * 16 * k;
        for (int kk = 0; kk < k; kk++) {
            for (int j = 0; j < 16; j++) {
                int col = p * 16 + j;
                dst[kk * 16 + j] = col < n ? w[(long)col * k + kk] : 0.0f;
            }
        }
    }
}

// Rows [lo, hi) in tiles of MR rows × 16 columns (hi − lo a multiple of MR).
#define PK_TILES(MR, lo, hi)                                                                       \
    for (int i0 = (lo); i0 < (hi); i0 += MR) {                                                     \
        const float *rows[MR];                                                                     \
        for (int r = 0; r < MR; r++) rows[r] = a + (long)(i0 + r) * lda;                           \
        for (int p = 0; p < panels; p++) {                                                         \
            const float *b = packed + (long)p * 16 * k;                                            \
            v16 acc[MR];                                                                           \
            for (int r = 0; r < MR; r++) acc[r] = (v16){0};                                        \
            for (int kk = 0; kk < k; kk++) {                                                       \
                v16 bv = *(const v16 *)(b + kk * 16);                                              \
                for (int r = 0; r < MR; r++) acc[r] = PK_FMA(rows[r][kk] - (v16){0}, bv, acc[r]); \
            }                                                                                      \
            for (int r = 0; r < MR; r++) pk_store(acc[r], c + (long)(i0 + r) * ldc + p * 16, n - p * 16, beta); \
        }                                                                                          \
    }

// Single rows [lo, hi), four panels at a time (independent chains hide the FMA latency).
#define PK_ROWS(lo, hi)                                                                            \
    for (int i = (lo); i < (hi); i++) {                                                            \
        const float *row = a + (long)i * lda;                                                      \
        int p = 0;                                                                                 \
        for (; p + 4 <= panels; p += 4) {                                                          \
            const float *b = packed + (long)p * 16 * k;                                            \
            v16 acc[4] = {{0}, {0}, {0}, {0}};                                                     \
            for (int kk = 0; kk < k; kk++) {                                                       \
                v16 av = row[kk] - (v16){0};                                                       \
                for (int q = 0; q < 4; q++) acc[q] = PK_FMA(av, *(const v16 *)(b + (long)q * 16 * k + kk * 16), acc[q]); \
            }                                                                                      \
            for (int q = 0; q < 4; q++) pk_store(acc[q], c + (long)i * ldc + (p + q) * 16, n - (p + q) * 16, beta); \
        }                                                                                          \
        for (; p < panels; p++) {                                                                  \
            const float *b = packed + (long)p * 16 * k;                                            \
            v16 acc = {0};                                                                         \
            for (int kk = 0; kk < k; kk++) acc = PK_FMA(row[kk] - (v16){0}, *(const v16 *)(b + kk * 16), acc); \
            pk_store(acc, c + (long)i * ldc + p * 16, n - p * 16, beta);                           \
        }                                                                                          \
    }

// Stores up to 16 columns of a tile row (adding to C when beta is 1).
#define pk_store(acc, dst, left, beta)                                                             \
    do {                                                                                           \
        float *d_ = (dst);                                                                         \
        int nr_ = (left) < 16 ? (left) : 16;                                                       \
        if (nr_ == 16) {                                                                           \
            v16 out_ = (acc);                                                                      \
            if ((beta) != 0.0f) out_ = out_ + *(v16 *)d_;                                          \
            *(v16 *)d_ = out_;                                                                     \
        } else {                                                                                   \
            for (int j_ = 0; j_ < nr_; j_++) d_[j_] = ((beta) != 0.0f ? d_[j_] : 0.0f) + (acc)[j_]; \
        }                                                                                          \
    } while (0)

// Tiles of MR rows, then one tile of 4 if it fits, then single rows: every output element
// is the same chain of fused multiply-adds in every case.
#define PK_GEMM_BODY(MR)                                                                           \
    int panels = (n + 15) / 16;                                                                    \
    int full = m / MR * MR;                                                                        \
    PK_TILES(MR, 0, full)                                                                          \
    if (MR > 4 && m - full >= 4) {                                                                 \
        PK_TILES(4, full, full + 4)                                                                \
        full += 4;                                                                                 \
    }                                                                                              \
    PK_ROWS(full, m)

static void gemm_portable(int m, int n, int k, const float *a, int lda, const float *packed, float beta,
                          float *c, int ldc) {
    PK_GEMM_BODY(4)
}

#if PK_X86
PK_TARGET_AVX2 static void gemm_avx2(int m, int n, int k, const float *a, int lda, const float *packed,
                                     float beta, float *c, int ldc) {
    PK_GEMM_BODY(4)
}

PK_TARGET_AVX512 static void gemm_avx512(int m, int n, int k, const float *a, int lda, const float *packed,
                                         float beta, float *c, int ldc) {
    PK_GEMM_BODY(8)
}
#endif

int pk_path_available(int path) {
    switch (path) {
    case PK_PATH_PORTABLE: return 1;
#if PK_X86
    case PK_PATH_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case PK_PATH_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default: return 0;
    }
}

static _Atomic int forced_path = -1;
static _Atomic int detected_path = -1;

static int best_path(void) {
    int p = atomic_load_explicit(&detected_path, memory_order_relaxed);
    if (p < 0) {
        p = pk_path_available(PK_PATH_AVX512) ? PK_PATH_AVX512
            : pk_path_available(PK_PATH_AVX2) ? PK_PATH_AVX2 : PK_PATH_PORTABLE;
        atomic_store_explicit(&detected_path, p, memory_order_relaxed);
    }
    return p;
}

int pk_active_path(void) {
    int f = atomic_load_explicit(&forced_path, memory_order_relaxed);
    return f >= 0 ? f : best_path();
}

int pk_set_path(int path) {
    if (path < 0) {
        atomic_store(&forced_path, -1);
        return 1;
    }
    if (!pk_path_available(path)) return 0;
    atomic_store(&forced_path, path);
    return 1;
}

void pk_gemm_packed_path(int path, int m, int n, int k, const float *a, int lda, const float *packed,
                         float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    switch (path) {
#if PK_X86
    case PK_PATH_AVX512: gemm_avx512(m, n, k, a, lda, packed, beta, c, ldc); return;
    case PK_PATH_AVX2: gemm_avx2(m, n, k, a, lda, packed, beta, c, ldc); return;
#endif
    default: gemm_portable(m, n, k, a, lda, packed, beta, c, ldc); return;
    }
}

void pk_gemm_packed(int m, int n, int k, const float *a, int lda, const float *packed, float beta, float *c,
                    int ldc) {
    pk_gemm_packed_path(pk_active_path(), m, n, k, a, lda, packed, beta, c, ldc);
}

// MARK: - Element-wise kernels

typedef int v16i __attribute__((vector_size(64), aligned(4)));


#if defined(__clang__)
#define PK_MIN(a, b) __builtin_elementwise_min(a, b)
#define PK_MAX(a, b) __builtin_elementwise_max(a, b)
#define PK_SQRT(a) __builtin_elementwise_sqrt(a)
#else
#error "the kernels need clang's vector builtins"
#endif

#define PK_SPLAT(s) ((s) - (v16){0})

#define PK_SUFFIX portable
#include "elementwise_body.h"
#undef PK_SUFFIX
#if PK_X86
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define PK_SUFFIX avx2
#include "elementwise_body.h"
#undef PK_SUFFIX
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))), apply_to = function)
#define PK_SUFFIX avx512
#include "elementwise_body.h"
#undef PK_SUFFIX
#pragma clang attribute pop
#define PK_DISPATCH(path, NAME, ...)                                                               \
    switch (path) {                                                                                \
    case PK_PATH_AVX512: return NAME##_avx512(__VA_ARGS__);                                        \
    case PK_PATH_AVX2: return NAME##_avx2(__VA_ARGS__);                                            \
    default: return NAME##_portable(__VA_ARGS__);                                                  \
    }
#else
#define PK_DISPATCH(path, NAME, ...) return NAME##_portable(__VA_ARGS__);
#endif

void pk_unary_path(int path, int kernel, const float *x, long n, float *out) {
    switch (kernel) {
    case 0: PK_DISPATCH(path, exp, x, n, out)
    case 1: PK_DISPATCH(path, sigmoid, x, n, out)
    default: PK_DISPATCH(path, tanh, x, n, out)
    }
}
void pk_exp(const float *x, long n, float *out) { pk_unary_path(pk_active_path(), 0, x, n, out); }
void pk_sigmoid(const float *x, long n, float *out) { pk_unary_path(pk_active_path(), 1, x, n, out); }
void pk_tanh(const float *x, long n, float *out) { pk_unary_path(pk_active_path(), 2, x, n, out); }

void pk_lstm_forward_path(int path, float *gates, const float *previous_cell, int broadcast_previous, float *cell,
                          float *tanh_cell, float *hidden, long count, int h) {
    PK_DISPATCH(path, lstm, gates, previous_cell, broadcast_previous, cell, tanh_cell, hidden, count, h)
}
void pk_lstm_forward(float *gates, const float *previous_cell, int broadcast_previous, float *cell, float *tanh_cell,
                     float *hidden, long count, int h) {
    pk_lstm_forward_path(pk_active_path(), gates, previous_cell, broadcast_previous, cell, tanh_cell, hidden, count, h);
}

float pk_log_sum_exp_path(int path, const float *x, int n) { PK_DISPATCH(path, lse, x, n) }
float pk_log_sum_exp(const float *x, int n) { return pk_log_sum_exp_path(pk_active_path(), x, n); }

void pk_exp_shift_scale(float *x, int n, float shift, float scale) {
    PK_DISPATCH(pk_active_path(), expshift, x, n, shift, scale)
}

void pk_adam_path(int path, float *values, const float *gradient, float *m, float *v, long n, float scale, float b1,
                  float b2, float step_size, float eps) {
    PK_DISPATCH(path, adam, values, gradient, m, v, n, scale, b1, b2, step_size, eps)
}
void pk_adam(float *values, const float *gradient, float *m, float *v, long n, float scale, float b1, float b2,
             float step_size, float eps) {
    pk_adam_path(pk_active_path(), values, gradient, m, v, n, scale, b1, b2, step_size, eps);
}
