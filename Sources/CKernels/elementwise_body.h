// The element-wise kernels' bodies, included once per instruction set by kernels.c
// with PK_SUFFIX set and a `#pragma clang attribute` giving every function its target.

#define PK_CAT2(a, b) a##_##b
#define PK_CAT(a, b) PK_CAT2(a, b)
#define v_exp PK_CAT(v_exp, PK_SUFFIX)
#define v_sigmoid PK_CAT(v_sigmoid, PK_SUFFIX)
#define v_tanh PK_CAT(v_tanh, PK_SUFFIX)
#define v_load PK_CAT(v_load, PK_SUFFIX)
#define v_store PK_CAT(v_store, PK_SUFFIX)


static inline __attribute__((always_inline)) v16 v_exp(v16 x) {
    x = PK_MIN(x, PK_SPLAT(88.0f));
    x = PK_MAX(x, PK_SPLAT(-87.0f));
    const v16 magic = PK_SPLAT(12582912.0f);
    v16 t = PK_FMA(x, PK_SPLAT(1.44269504f), magic);
    v16 n = t - magic;
    v16 r = PK_FMA(n, PK_SPLAT(-0.693145751953125f), x);
    r = PK_FMA(n, PK_SPLAT(-1.428606765330187045e-06f), r);
    v16 p = PK_SPLAT(1.0f / 720.0f);
    p = PK_FMA(p, r, PK_SPLAT(1.0f / 120.0f));
    p = PK_FMA(p, r, PK_SPLAT(1.0f / 24.0f));
    p = PK_FMA(p, r, PK_SPLAT(1.0f / 6.0f));
    p = PK_FMA(p, r, PK_SPLAT(0.5f));
    p = PK_FMA(p, r, PK_SPLAT(1.0f));
    p = PK_FMA(p, r, PK_SPLAT(1.0f));
    v16i ni = (v16i)t - 0x4B400000;
    v16 scale = (v16)((ni + 127) << 23);
    return p * scale;
}
static inline __attribute__((always_inline)) v16 v_sigmoid(v16 x) { return 1.0f / (1.0f + v_exp(-x)); }
static inline __attribute__((always_inline)) v16 v_tanh(v16 x) { return 2.0f / (1.0f + v_exp(-2.0f * x)) - 1.0f; }

static inline __attribute__((always_inline)) v16 v_load(const float *p, int lanes, float fill) {
    if (lanes == 16) return *(const v16 *)p;
    v16 v = PK_SPLAT(fill);
    for (int i = 0; i < lanes; i++) v[i] = p[i];
    return v;
}
static inline __attribute__((always_inline)) void v_store(v16 v, float *p, int lanes) {
    if (lanes == 16) {
        *(v16 *)p = v;
        return;
    }
    for (int i = 0; i < lanes; i++) p[i] = v[i];
}

#define PK_UNARY_BODY(F)                                                                           \
    for (long i = 0; i < n; i += 16) {                                                             \
        int lanes = n - i < 16 ? (int)(n - i) : 16;                                                \
        v_store(F(v_load(x + i, lanes, 0.0f)), out + i, lanes);                                    \
    }

#define PK_LSTM_BODY                                                                               \
    for (long r = 0; r < count; r++) {                                                             \
        float *g = gates + r * 4 * h;                                                              \
        const float *cp = broadcast_previous ? previous_cell : previous_cell + r * h;             \
        for (int k = 0; k < h; k += 16) {                                                          \
            int lanes = h - k < 16 ? h - k : 16;                                                   \
            v16 o = v_sigmoid(v_load(g + k, lanes, 0.0f));                                         \
            v16 f = v_sigmoid(v_load(g + h + k, lanes, 0.0f));                                     \
            v16 i = v_sigmoid(v_load(g + 2 * h + k, lanes, 0.0f));                                 \
            v16 gg = v_tanh(v_load(g + 3 * h + k, lanes, 0.0f));                                   \
            v16 c = PK_FMA(f, v_load(cp + k, lanes, 0.0f), i * gg);                                \
            v16 tc = v_tanh(c);                                                                    \
            v_store(o, g + k, lanes);                                                              \
            v_store(f, g + h + k, lanes);                                                          \
            v_store(i, g + 2 * h + k, lanes);                                                      \
            v_store(gg, g + 3 * h + k, lanes);                                                     \
            v_store(c, cell + r * h + k, lanes);                                                   \
            v_store(tc, tanh_cell + r * h + k, lanes);                                             \
            v_store(o * tc, hidden + r * h + k, lanes);                                            \
        }                                                                                          \
    }

#define PK_LSE_BODY                                                                                \
    v16 mx = PK_SPLAT(-__builtin_inff());                                                          \
    for (int k = 0; k < n; k += 16) mx = PK_MAX(mx, v_load(x + k, n - k < 16 ? n - k : 16, -__builtin_inff())); \
    float best = mx[0];                                                                            \
    for (int l = 1; l < 16; l++) best = mx[l] > best ? mx[l] : best;                              \
    v16 acc = {0};                                                                                 \
    for (int k = 0; k < n; k += 16) {                                                              \
        int lanes = n - k < 16 ? n - k : 16;                                                       \
        v16 e = v_exp(v_load(x + k, lanes, 0.0f) - best);                                          \
        for (int l = lanes; l < 16; l++) e[l] = 0.0f;                                              \
        acc += e;                                                                                  \
    }                                                                                              \
    float sum = 0.0f;                                                                              \
    for (int l = 0; l < 16; l++) sum += acc[l];                                                    \
    return best + __builtin_logf(sum);

#define PK_EXP_SHIFT_BODY                                                                          \
    for (int k = 0; k < n; k += 16) {                                                              \
        int lanes = n - k < 16 ? n - k : 16;                                                       \
        v_store(v_exp(v_load(x + k, lanes, 0.0f) - shift) * scale, x + k, lanes);                  \
    }

#define PK_ADAM_BODY                                                                               \
    for (long i = 0; i < n; i += 16) {                                                             \
        int lanes = n - i < 16 ? (int)(n - i) : 16;                                                \
        v16 g = v_load(gradient + i, lanes, 0.0f) * scale;                                         \
        v16 mm = PK_FMA(PK_SPLAT(b1), v_load(m + i, lanes, 0.0f), (1.0f - b1) * g);                \
        v16 vv = PK_FMA(PK_SPLAT(b2), v_load(v + i, lanes, 0.0f), ((1.0f - b2) * g) * g);          \
        v_store(mm, m + i, lanes);                                                                 \
        v_store(vv, v + i, lanes);                                                                 \
        v_store(v_load(values + i, lanes, 0.0f) - step_size * mm / (PK_SQRT(vv) + eps), values + i, lanes); \
    }


static void PK_CAT(exp, PK_SUFFIX)(const float *x, long n, float *out) { PK_UNARY_BODY(v_exp) }
static void PK_CAT(sigmoid, PK_SUFFIX)(const float *x, long n, float *out) { PK_UNARY_BODY(v_sigmoid) }
static void PK_CAT(tanh, PK_SUFFIX)(const float *x, long n, float *out) { PK_UNARY_BODY(v_tanh) }
static void PK_CAT(lstm, PK_SUFFIX)(float *gates, const float *previous_cell, int broadcast_previous, float *cell,
                                    float *tanh_cell, float *hidden, long count, int h) { PK_LSTM_BODY }
static float PK_CAT(lse, PK_SUFFIX)(const float *x, int n) { PK_LSE_BODY }
static void PK_CAT(expshift, PK_SUFFIX)(float *x, int n, float shift, float scale) { PK_EXP_SHIFT_BODY }
static void PK_CAT(adam, PK_SUFFIX)(float *values, const float *gradient, float *m, float *v, long n, float scale,
                                    float b1, float b2, float step_size, float eps) { PK_ADAM_BODY }

#undef v_exp
#undef v_sigmoid
#undef v_tanh
#undef v_load
#undef v_store
