#ifndef PIXELRNN_KERNELS_H
#define PIXELRNN_KERNELS_H

/// Hand-written kernels, compiled for x86-64-v3 (AVX2 + FMA) and, where the compiler
/// supports it, for x86-64-v4 (AVX-512); the path is chosen at run time from the CPU.
/// Every path computes each output element with the same operations in the same order,
/// so the paths give bit-identical results.

/// Kernel paths.
enum {
    PK_PATH_PORTABLE = 0, ///< plain C (no vector ISA assumed beyond the build's)
    PK_PATH_AVX2 = 1,     ///< AVX2 + FMA (x86-64-v3)
    PK_PATH_AVX512 = 2,   ///< AVX-512 F/VL/BW/DQ (x86-64-v4)
};

/// Whether `path` can run on this CPU.
int pk_path_available(int path);
/// The path the dispatching functions use (the best available, unless set).
int pk_active_path(void);
/// Forces a path (tests and benchmarks); returns 0 if it is not available. -1 restores the default.
int pk_set_path(int path);

/// Floats of a packed n × k weight matrix (n rounded up to 16).
long pk_packed_size(int n, int k);
/// Packs W (n × k, row-major, as stored: output rows) for `pk_gemm_packed`: panels of 16
/// output columns, k-major within a panel, zero-padded.
void pk_pack(const float *w, int n, int k, float *packed);
/// C[m×n] = A[m×k] · Wᵀ + beta · C (beta 0 or 1), with W packed by `pk_pack`. For the
/// small products of incremental sampling (m a few rows): the weights are packed once.
/// Each output element is a chain of fused multiply-adds over k in order, whatever m
/// and whatever the path.
void pk_gemm_packed(int m, int n, int k, const float *a, int lda, const float *packed, float beta,
                    float *c, int ldc);
/// The same on a given path (tests).
void pk_gemm_packed_path(int path, int m, int n, int k, const float *a, int lda, const float *packed,
                         float beta, float *c, int ldc);



// Element-wise kernels (same dispatch; bit-identical between the AVX2 and AVX-512 paths).

/// out[i] = e^x[i] (degree-6 polynomial after range reduction; relative error about
/// 2e-7 on [-87, 88]; inputs clamped to that range). `out` may be `x`.
void pk_exp(const float *x, long n, float *out);
/// out[i] = 1 / (1 + e^−x[i]).
void pk_sigmoid(const float *x, long n, float *out);
/// out[i] = tanh x[i] = 2σ(2x) − 1.
void pk_tanh(const float *x, long n, float *out);
/// The LSTM cell for `count` positions: gates (count × 4h, pre-activations o, f, i, g)
/// become σ(o), σ(f), σ(i), tanh(g) in place; c = f ⊙ c_prev + i ⊙ g, tanh c, h = o ⊙ tanh c.
/// `previous_cell` is count × h, or one row of h broadcast to every position.
void pk_lstm_forward(float *gates, const float *previous_cell, int broadcast_previous, float *cell,
                     float *tanh_cell, float *hidden, long count, int h);
/// log Σ e^x[i] (max-shifted; the sum in a fixed lane order).
float pk_log_sum_exp(const float *x, int n);
/// x[i] = e^(x[i] − shift) · scale (a softmax's gradient with shift = log Σ e^x).
void pk_exp_shift_scale(float *x, int n, float shift, float scale);
/// One Adam step over n parameters: g = gradient · scale; m = b1 m + (1 − b1) g;
/// v = b2 v + (1 − b2) g²; values −= step_size · m / (√v + eps).
void pk_adam(float *values, const float *gradient, float *m, float *v, long n, float scale, float b1, float b2,
             float step_size, float eps);

/// The same on a given path (tests): `kernel` 0 exp, 1 sigmoid, 2 tanh.
void pk_unary_path(int path, int kernel, const float *x, long n, float *out);
void pk_lstm_forward_path(int path, float *gates, const float *previous_cell, int broadcast_previous, float *cell,
                          float *tanh_cell, float *hidden, long count, int h);
float pk_log_sum_exp_path(int path, const float *x, int n);
void pk_adam_path(int path, float *values, const float *gradient, float *m, float *v, long n, float scale, float b1,
                  float b2, float step_size, float eps);
#endif
