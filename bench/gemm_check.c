/*
 * test_gemm_standalone.c - dc_gemm against a double-accumulated reference (standalone, not part of
 * the suite; the suite gets a port of it).
 *
 * Proves, for random shapes (M, N, K in 0..300) and fixed shapes that cross every kernel's blocks
 * and special paths, all four transpose combinations, leading dimensions larger than the rows,
 * alpha/beta variations including beta == 0 over a NaN-filled C and alpha == 0 over NaN inputs:
 *   |C - C_ref| <= 1e-5 * (|alpha| sum_k |a_ik b_kj| + |beta c_ij|) element-wise,
 *   elements of C outside [M,N] (the ldc padding) are bitwise untouched,
 *   results at 1 and 2 OpenMP threads are bitwise identical,
 *   with -DDC_USE_CBLAS: the OpenBLAS backend meets the same bound.
 *
 * The Makefile globs tests/test_*.c into the suite's runner, so without DC_GEMM_STANDALONE_TEST
 * this file compiles to nothing. Build and run it alone:
 *   gcc -std=c11 -O2 -fopenmp -DDC_GEMM_STANDALONE_TEST -Isrc/kernels tests/test_gemm_standalone.c
 *       src/kernels/gemm.c src/kernels/gemm_arch.c -o tg -lm && ./tg
 * (add -DDC_USE_CBLAS ... -lopenblas to check OpenBLAS too). Exits non-zero on any failure.
 */
#ifndef DC_GEMM_STANDALONE_TEST
typedef int dc_test_gemm_standalone_is_empty; /* ISO C wants a non-empty translation unit */
#else
#define _POSIX_C_SOURCE 200809L

#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

static int n_pass, n_fail;

/* xorshift32: a reproducible stream of test data. */
static unsigned rng_state = 12345u;
static unsigned rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}
static int rng_int(int lo, int hi) { return lo + (int)(rng_u32() % (unsigned)(hi - lo + 1)); }
static float rng_float(void) { return (float)(rng_u32() >> 8) / 8388608.0f - 1.0f; }

/* One GEMM problem with its operands (row-major, padded rows). */
typedef struct problem {
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C0; /* C0: C before the call */
} problem;

/* Allocate and fill a problem; each leading dimension gets 0..extra floats of padding. */
static problem make_problem(int ta, int tb, int64_t M, int64_t N, int64_t K, int extra,
                            float alpha, float beta)
{
    problem p = {ta, tb, M, N, K, 0, 0, 0, alpha, beta, NULL, NULL, NULL};
    const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K;
    const int64_t b_rows = tb ? N : K, b_cols = tb ? K : N;
    p.lda = a_cols + rng_int(0, extra);
    p.ldb = b_cols + rng_int(0, extra);
    p.ldc = N + rng_int(0, extra);
    /* exact sizes (no slack): reading past the end of A or B is caught by ASan */
    const size_t na = a_rows && a_cols ? (size_t)((a_rows - 1) * p.lda + a_cols) : 0;
    const size_t nb = b_rows && b_cols ? (size_t)((b_rows - 1) * p.ldb + b_cols) : 0;
    const size_t nc = (size_t)(M * p.ldc) + 1;
    p.A = malloc((na ? na : 1) * sizeof(float));
    p.B = malloc((nb ? nb : 1) * sizeof(float));
    p.C0 = malloc(nc * sizeof(float));
    if (!p.A || !p.B || !p.C0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < na; i++) p.A[i] = alpha == 0.0f ? NAN : rng_float();
    for (size_t i = 0; i < nb; i++) p.B[i] = alpha == 0.0f ? NAN : rng_float();
    for (size_t i = 0; i < nc; i++) p.C0[i] = beta == 0.0f ? NAN : rng_float();
    return p;
}

static void free_problem(problem *p) { free(p->A), free(p->B), free(p->C0); }

/* dc_gemm on a copy of C0; returns the malloc'd result (M*ldc + 1 floats). */
static float *run_gemm(const problem *p)
{
    const size_t nc = (size_t)(p->M * p->ldc) + 1;
    float *C = malloc(nc * sizeof(float));
    if (!C) exit(2);
    memcpy(C, p->C0, nc * sizeof(float));
    dc_gemm(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, C,
            p->ldc);
    return C;
}

/* Worst error of C against the double reference in units of the bound (INFINITY when the ldc
 * padding changed or a result is NaN). */
static double check_result(const problem *p, const float *C)
{
    double worst = 0.0;
    for (int64_t i = 0; i < p->M; i++) {
        for (int64_t j = 0; j < p->ldc; j++) {
            const float got = C[i * p->ldc + j], c0 = p->C0[i * p->ldc + j];
            if (j >= p->N) { /* padding: bitwise untouched (NaN compares unequal) */
                if (memcmp(&got, &c0, sizeof got) != 0) return INFINITY;
                continue;
            }
            double s = 0.0, mag = 0.0;
            for (int64_t k = 0; p->alpha != 0.0f && k < p->K; k++) {
                const double a = p->ta ? p->A[k * p->lda + i] : p->A[i * p->lda + k];
                const double b = p->tb ? p->B[j * p->ldb + k] : p->B[k * p->ldb + j];
                s += a * b;
                mag += fabs(a * b);
            }
            double ref = p->alpha * s, bound = fabs(p->alpha) * mag;
            if (p->beta != 0.0f) {
                ref += (double)p->beta * c0;
                bound += fabs((double)p->beta * c0);
            }
            const double err = fabs(got - ref) / (1e-5 * bound + 1e-30);
            if (!(err <= worst)) worst = isnan(err) ? INFINITY : err;
        }
    }
    return worst;
}

/* Count one check; print the problem on failure. */
static void report(int ok, const problem *p, const char *what, double err)
{
    if (ok) {
        n_pass++;
        return;
    }
    n_fail++;
    printf("FAIL %s: ta=%d tb=%d M=%lld N=%lld K=%lld lda=%lld ldb=%lld ldc=%lld alpha=%g "
           "beta=%g: error %g x bound\n",
           what, p->ta, p->tb, (long long)p->M, (long long)p->N, (long long)p->K,
           (long long)p->lda, (long long)p->ldb, (long long)p->ldc, p->alpha, p->beta, err);
}

static void set_threads(int nt)
{
#ifdef _OPENMP
    omp_set_num_threads(nt);
#else
    (void)nt;
#endif
}

/* All checks on one problem: accuracy (1 thread), 1 vs 2 threads bitwise, OpenBLAS accuracy. */
static void test_problem(const problem *p)
{
    dc_gemm_force_builtin(1);
    set_threads(1);
    float *c1 = run_gemm(p);
    const double err = check_result(p, c1);
    report(err <= 1.0, p, "builtin vs reference", err);
    set_threads(2);
    float *c2 = run_gemm(p);
    const size_t nbytes = ((size_t)(p->M * p->ldc) + 1) * sizeof(float);
    report(memcmp(c1, c2, nbytes) == 0, p, "builtin 1 vs 2 threads bitwise", 0.0);
    free(c2);
#ifdef DC_USE_CBLAS
    dc_gemm_force_builtin(0);
    float *cb = run_gemm(p);
    const double err_b = check_result(p, cb);
    report(err_b <= 1.0, p, "openblas vs reference", err_b);
    free(cb);
#endif
    free(c1);
}

static const float alphas[] = {1.0f, -0.5f, 2.5f, 0.0f};
static const float betas[] = {0.0f, 1.0f, 0.7f, -1.3f};

/* Random shapes in 0..300 (half of them in 0..40, to hit the edges often). */
static void test_random(int n_cases)
{
    for (int t = 0; t < n_cases; t++) {
        const int big = rng_int(0, 1);
        const int64_t M = rng_int(0, big ? 300 : 40), N = rng_int(0, big ? 300 : 40);
        const int64_t K = rng_int(0, big ? 300 : 40);
        const float alpha = rng_int(0, 7) ? alphas[rng_int(0, 2)] : 0.0f;
        problem p = make_problem(rng_int(0, 1), rng_int(0, 1), M, N, K, 5, alpha,
                                 betas[rng_int(0, 3)]);
        test_problem(&p);
        free_problem(&p);
    }
}

/* Fixed shapes: tiny ones, small-M ones (direct and dot paths), deep-learning ones, and ones that
 * cross the MC / KC / NC blocks of every kernel. */
static void test_fixed(void)
{
    static const int64_t shapes[][3] = {
        {1, 1, 1},     {1, 1, 7},      {1, 37, 1},    {37, 1, 1},     {1, 300, 300},
        {300, 1, 300}, {2, 3, 0},      {6, 784, 25},  {16, 100, 150}, {1, 120, 400},
        {3, 130, 517}, {24, 70, 33},   {25, 70, 33},  {64, 120, 400}, {400, 64, 300},
        {13, 33, 1000}, {200, 200, 513}, {390, 70, 64}, {7, 4100, 9},  {1, 5000, 3},
        {500, 500, 20}, {64, 10, 84},   {8, 2000, 300}, {100, 300, 200}, {128, 1024, 16},
        {200, 2100, 40}}; /* packed B across two NC = 2048 blocks */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                problem p = make_problem(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 3,
                                         alphas[(s + (size_t)tb) % 3], betas[(s + (size_t)ta) % 4]);
                test_problem(&p);
                free_problem(&p);
            }
}

/* dc_gemm called from inside a parallel region (one product per thread, as a kernel looping over
 * a batch would): each result equals the same product computed alone, bitwise. */
static void test_nested(void)
{
#ifdef _OPENMP
    enum { N_PROB = 4 };
    problem p[N_PROB];
    float *alone[N_PROB], *inside[N_PROB];
    for (int i = 0; i < N_PROB; i++) {
        p[i] = make_problem(i & 1, i >> 1, 70 + i, 90, 130, 2, 1.0f, 0.5f);
        set_threads(2);
        alone[i] = run_gemm(&p[i]);
    }
#pragma omp parallel for num_threads(2) schedule(static, 1)
    for (int i = 0; i < N_PROB; i++) inside[i] = run_gemm(&p[i]);
    for (int i = 0; i < N_PROB; i++) {
        const size_t nbytes = ((size_t)(p[i].M * p[i].ldc) + 1) * sizeof(float);
        report(memcmp(alone[i], inside[i], nbytes) == 0, &p[i], "alone vs in a parallel region", 0);
        free(alone[i]), free(inside[i]);
        free_problem(&p[i]);
    }
#endif
}

int main(void)
{
    printf("dc_gemm backend: %s\n", dc_gemm_backend());
    test_fixed();
    test_random(400);
    dc_gemm_force_builtin(1);
    test_nested();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}

#endif /* DC_GEMM_STANDALONE_TEST */
