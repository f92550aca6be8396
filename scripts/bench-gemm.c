// sgemm on BENCH-ROW's shapes: Debian's OpenBLAS and BLIS (each with its own kernel
// choice for this CPU, loaded side by side with dlopen) against the packed small-M
// kernel of Sources/CKernels (weights packed once, as while sampling).
// Build and run: scripts/bench-gemm.sh
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                         float *, int);
enum { RowMajor = 101, NoTrans = 111, Trans = 112 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double seconds_per_shape = 0.3;

// GFLOP/s of C = A·Wᵀ (W stored n × k, as the model stores its weights).
static double rate(sgemm_fn f, int path, int m, int n, int k, const float *a, const float *w, const float *packed,
                   float *c) {
    double flops = 2.0 * m * n * k, t0 = now(), t;
    long calls = 0;
    do {
        for (int r = 0; r < 16; r++) {
            if (f) f(RowMajor, NoTrans, Trans, m, n, k, 1.0f, a, k, w, k, 1.0f, c, n);
            else pk_gemm_packed_path(path, m, n, k, a, k, packed, 1.0f, c, n);
        }
        calls += 16;
        t = now();
    } while (t - t0 < seconds_per_shape);
    return flops * calls / (t - t0) / 1e9;
}

int main(int argc, char **argv) {
    if (argc > 1) seconds_per_shape = atof(argv[1]);
    void *ob = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    void *bl = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL);
    sgemm_fn ob_gemm = ob ? (sgemm_fn)dlsym(ob, "cblas_sgemm") : NULL;
    sgemm_fn bl_gemm = bl ? (sgemm_fn)dlsym(bl, "cblas_sgemm") : NULL;
    void (*ob_threads)(int) = ob ? (void (*)(int))dlsym(ob, "openblas_set_num_threads") : NULL;
    char *(*ob_core)(void) = ob ? (char *(*)(void))dlsym(ob, "openblas_get_corename") : NULL;
    void (*bl_threads)(long) = bl ? (void (*)(long))dlsym(bl, "bli_thread_set_num_threads") : NULL;
    int (*bl_arch)(void) = bl ? (int (*)(void))dlsym(bl, "bli_arch_query_id") : NULL;
    const char *(*bl_arch_name)(int) = bl ? (const char *(*)(int))dlsym(bl, "bli_arch_string") : NULL;
    printf("OpenBLAS: %s (kernels %s); BLIS: %s (kernels %s); packed kernel path: %s\n",
           ob_gemm ? "libopenblas.so.0" : "missing", ob_core ? ob_core() : "?",
           bl_gemm ? "libblis.so.4" : "missing (apt-get install libblis-dev)",
           bl_arch && bl_arch_name ? bl_arch_name(bl_arch()) : "?",
           pk_active_path() == PK_PATH_AVX512 ? "AVX-512" : pk_active_path() == PK_PATH_AVX2 ? "AVX2" : "portable");
    const char *env = getenv("OPENBLAS_CORETYPE");
    if (env && *env) printf("note: OPENBLAS_CORETYPE=%s forces OpenBLAS's kernels\n", env);

    struct { int m, n, k, threads; const char *what; } shapes[] = {
        {1, 128, 128, 1, "input_to_state, 1 particle"},
        {8, 128, 128, 1, "input_to_state, 8 particles"},
        {16, 128, 128, 1, "input_to_state, 16 particles"},
        {8, 64, 32, 1, "output_projection, 8 particles"},
        {8, 64, 24, 1, "input_conv, 8 particles"},
        {8, 64, 64, 1, "output_hidden, 8 particles"},
        {8, 256, 64, 1, "output_logits, 8 particles"},
        {224, 128, 96, 1, "state_to_state, 8 particles x 28"},
        {224, 128, 128, 1, "input_to_state, a row of 8 particles"},
        {4096, 128, 64, 1, "training, one worker"},
        {4096, 128, 96, 1, "training, one worker"},
        {4096, 128, 64, 2, "training, 2 threads"},
        {4096, 128, 96, 2, "training, 2 threads"},
        {2048, 2048, 2048, 2, "large square, 2 threads"},
    };
    printf("\n| m × n × k | BLAS threads | product | OpenBLAS | BLIS | packed AVX2 | packed AVX-512 |\n");
    printf("| --- | ---: | --- | ---: | ---: | ---: | ---: |\n");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
        float *a = malloc(sizeof(float) * m * k), *w = malloc(sizeof(float) * n * k);
        float *c = calloc((size_t)m * n, sizeof(float));
        float *packed = malloc(sizeof(float) * pk_packed_size(n, k));
        for (long i = 0; i < (long)m * k; i++) a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
        for (long i = 0; i < (long)n * k; i++) w[i] = (float)((i * 5) % 11) / 110.0f - 0.05f;
        pk_pack(w, n, k, packed);
        if (ob_threads) ob_threads(shapes[s].threads);
        if (bl_threads) bl_threads(shapes[s].threads);
        double o = ob_gemm ? rate(ob_gemm, 0, m, n, k, a, w, packed, c) : 0;
        double b = bl_gemm ? rate(bl_gemm, 0, m, n, k, a, w, packed, c) : 0;
        char p2[32] = "-", p5[32] = "-";
        if (shapes[s].threads == 1 && m <= 4096 && n <= 256) {
            if (pk_path_available(PK_PATH_AVX2)) snprintf(p2, sizeof p2, "%.1f", rate(NULL, PK_PATH_AVX2, m, n, k, a, w, packed, c));
            if (pk_path_available(PK_PATH_AVX512)) snprintf(p5, sizeof p5, "%.1f", rate(NULL, PK_PATH_AVX512, m, n, k, a, w, packed, c));
        }
        printf("| %d × %d × %d | %d | %s | %.1f | %.1f | %s | %s |\n", m, n, k, shapes[s].threads, shapes[s].what, o, b,
               p2, p5);
        free(a); free(w); free(c); free(packed);
    }
    return 0;
}
