/*
 * bench_gemm.c - standalone SGEMM throughput benchmark for dc_gemm (not part of the test suite).
 *
 * C = A·B, row-major, square n x n, n in {128, 256, 512, 1024, 2048}, alpha 1, beta 0, A and B
 * uniform in [-1, 1), 64-byte aligned; 2*n^3 FLOP. For 1 and 2 threads: 2 warm-up calls, then
 * 5 repetitions of k calls (k chosen so one repetition takes >= ~0.1 s); prints the GFLOP/s of
 * the best and the median repetition.
 *
 *   bench_gemm                  the square sizes with the backend dc_gemm picks
 *   bench_gemm --builtin        force the built-in kernel (when built with -DDC_USE_CBLAS)
 *   bench_gemm M N K [M N K..]  those shapes instead of the squares (e.g. 64 120 400)
 *   bench_gemm --bt ...         op(B) = Bᵀ, B stored [N, K]: what dc_linear computes (y = x·Wᵀ)
 *
 * Build: gcc -std=c11 -O3 -fopenmp -Isrc/kernels bench/bench_gemm.c src/kernels/gemm.c
 *        src/kernels/gemm_arch.c -o bg
 *        (add -DDC_USE_CBLAS -lopenblas to compare with OpenBLAS; OPENBLAS_CORETYPE=Haswell)
 */
#define _POSIX_C_SOURCE 200809L

#include "kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Monotonic time in seconds. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Use nt threads in dc_gemm (the OpenMP pool; with OpenBLAS, dc_gemm splits the product over
 * it and runs OpenBLAS on one thread per share). */
static void set_threads(int nt)
{
#ifdef _OPENMP
    omp_set_num_threads(nt);
#endif
    (void)nt;
}

/* Uniform [-1, 1) floats from a small LCG (reproducible across platforms). */
static void fill(float *x, size_t n, unsigned *state)
{
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        x[i] = (float)(*state >> 8) / 8388608.0f - 1.0f;
    }
}

/* Time C[M,N] = A[M,K]·op(B) on nt threads (op(B) = B [K,N], or Bᵀ with B [N,K] when bt);
 * prints one line. Returns 0, or 1 if out of memory. */
static int bench_one(int64_t M, int64_t N, int64_t K, int nt, int bt)
{
    float *A = NULL, *B = NULL, *C = NULL;
    if (posix_memalign((void **)&A, 64, sizeof(float) * (size_t)(M * K + 1)) ||
        posix_memalign((void **)&B, 64, sizeof(float) * (size_t)(K * N + 1)) ||
        posix_memalign((void **)&C, 64, sizeof(float) * (size_t)(M * N + 1))) {
        free(A), free(B), free(C);
        return 1;
    }
    unsigned seed = 1;
    fill(A, (size_t)(M * K), &seed);
    fill(B, (size_t)(K * N), &seed);
    memset(C, 0, sizeof(float) * (size_t)(M * N));
    set_threads(nt);
#define GEMM() dc_gemm(0, bt, M, N, K, 1.0f, A, K, B, bt ? K : N, 0.0f, C, N)
    GEMM();
    double t0 = now();
    GEMM();
    const double one = now() - t0;
    const int k = (int)(0.1 / (one > 1e-7 ? one : 1e-7)) + 1;
    double t[5];
    for (int r = 0; r < 5; r++) {
        t0 = now();
        for (int i = 0; i < k; i++) GEMM();
        t[r] = (now() - t0) / k;
    }
#undef GEMM
    qsort(t, 5, sizeof(double), cmp_double);
    const double flop = 2.0 * (double)M * (double)N * (double)K;
    printf("%5lld %5lld %5lld%s threads %d  %9.1f us  best %7.1f GFLOP/s  median %7.1f GFLOP/s\n",
           (long long)M, (long long)N, (long long)K, bt ? " Bt" : "  ", nt, t[0] * 1e6,
           flop / t[0] / 1e9, flop / t[2] / 1e9);
    fflush(stdout);
    free(A), free(B), free(C);
    return 0;
}

int main(int argc, char **argv)
{
    int first = 1, bt = 0;
    /* spin briefly, then sleep, while waiting, as the deepc command does (docs/design.md) */
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT"))
        setenv("GOMP_SPINCOUNT", "30000", 0); /* dc_spincount_default() on a quiet machine */
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "--builtin") == 0)
            dc_gemm_force_builtin(1);
        else if (strcmp(argv[first], "--bt") == 0)
            bt = 1;
    }
    printf("dc_gemm backend: %s\n", dc_gemm_backend());
    int64_t shapes[64][3];
    int n_shapes = 0;
    if (argc - first >= 3) {
        for (int i = first; i + 2 < argc && n_shapes < 64; i += 3, n_shapes++)
            for (int d = 0; d < 3; d++) shapes[n_shapes][d] = atoll(argv[i + d]);
    } else {
        for (int64_t n = 128; n <= 2048; n *= 2, n_shapes++)
            shapes[n_shapes][0] = shapes[n_shapes][1] = shapes[n_shapes][2] = n;
    }
    for (int nt = 1; nt <= 2; nt++)
        for (int s = 0; s < n_shapes; s++)
            if (bench_one(shapes[s][0], shapes[s][1], shapes[s][2], nt, bt)) {
                fprintf(stderr, "out of memory\n");
                return 1;
            }
    return 0;
}
