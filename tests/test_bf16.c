/*
 * test_bf16.c - bfloat16 products (dc_gemm_pack_b_bf16, src/kernels/gemm_bf16.c): the rounding
 * is to nearest, ties to even; a product is the float32 sum of the exact products of the rounded
 * operands, by the AVX512-BF16 kernel and by the portable one, for shapes that cross every block
 * and panel edge, the same bits at 1 and 2 threads.
 */
#include "harness.h"

#include "kernels/kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

TEST(bf16_round_is_to_nearest_even_and_keeps_nan_and_inf)
{
    static const struct {
        uint32_t in;
        uint16_t want;
    } cases[] = {
        {0x3F800000u, 0x3F80}, /* 1 */
        {0x3F808000u, 0x3F80}, /* 1 + half an ulp: a tie, to the even 1 */
        {0x3F818000u, 0x3F82}, /* 1 + 1.5 ulp: a tie, to the even 0x3F82 */
        {0x3F808001u, 0x3F81}, /* just past the tie: up */
        {0x3F807FFFu, 0x3F80}, /* just short of it: down */
        {0xBF818000u, 0xBF82}, /* negative: the same on the magnitude */
        {0x80000000u, 0x8000}, /* -0 */
        {0x7F7FFFFFu, 0x7F80}, /* FLT_MAX rounds to inf */
        {0x7F800000u, 0x7F80}, /* inf */
        {0xFF800000u, 0xFF80}, /* -inf */
        {0x00008000u, 0x0000}, /* a denormal tie, to the even 0 */
        {0x00018000u, 0x0002}, /* a denormal tie, to the even 2 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint16_t got = dc_k_bf16_round(from_bits(cases[i].in));
        CHECK(got == cases[i].want, "round(0x%08X) = 0x%04X, want 0x%04X", cases[i].in, got,
              cases[i].want);
    }
    const uint16_t nan = dc_k_bf16_round(from_bits(0x7F800001u)); /* a NaN whose top half is inf */
    CHECK(isnan(dc_k_bf16_float(nan)), "NaN 0x7F800001 became 0x%04X", nan);
    CHECK(dc_k_bf16_float(0x3F81) == 1.0078125f, "0x3F81 reads %.9g", dc_k_bf16_float(0x3F81));
}

static float rounded(float x) { return dc_k_bf16_float(dc_k_bf16_round(x)); }

/* One product: op(B) in `parts` column blocks of Np, alpha 1.5, the given beta; C from the bf16
 * pack at 1 and 2 threads, against the double sum of the exact products of the rounded operands
 * (and, to show the rounding happens, against the unrounded sum). */
static void bf16_case(int ta, int tb, int64_t M, int64_t K, int parts, int64_t Np, float beta,
                      int portable)
{
    const int nan_c = beta == 0.0f; /* beta 0: C must not be read, so it starts as NaN */
    const int64_t N = parts * Np;
    float *A = malloc(sizeof(float) * (size_t)(M * K));
    float *B = malloc(sizeof(float) * (size_t)(N * K));
    float *c0 = malloc(sizeof(float) * (size_t)(M * N));
    float *c1 = malloc(sizeof(float) * (size_t)(M * N));
    float *c2 = malloc(sizeof(float) * (size_t)(M * N));
    REQUIRE(A && B && c0 && c1 && c2);
    for (int64_t i = 0; i < M * K; i++)
        A[i] = (float)((i * 37) % 1001) / 500.0f - 1.0f + 1e-4f * (float)(i % 7);
    for (int64_t i = 0; i < N * K; i++)
        B[i] = (float)((i * 53) % 997) / 480.0f - 1.0f + 1e-4f * (float)(i % 5);
    for (int64_t i = 0; i < M * N; i++)
        c0[i] = c1[i] = c2[i] = nan_c ? NAN : (float)(i % 13) - 6.0f;
    const float *src[4];
    int64_t Ns[4], ld[4];
    for (int i = 0; i < parts; i++) {
        src[i] = B + i * Np * K; /* part i stored [Np, K] (tb) or [K, Np] */
        Ns[i] = Np;
        ld[i] = tb ? K : Np;
    }
    dc_gemm_packed *p = dc_gemm_pack_b_bf16(tb, K, parts, Ns, src, ld);
    REQUIRE(p && dc_gemm_packed_is_bf16(p));
    const int64_t lda = ta ? M : K;
    const int old = dc_get_num_threads();
    dc_k_gemm_bf16_force_portable(portable);
    dc_set_num_threads(1);
    dc_gemm_packed_run(ta, M, 1.5f, A, lda, p, beta, c1, N);
    dc_set_num_threads(2);
    dc_gemm_packed_run(ta, M, 1.5f, A, lda, p, beta, c2, N);
    dc_set_num_threads(old);
    dc_k_gemm_bf16_force_portable(0);
    CHECK(memcmp(c1, c2, sizeof(float) * (size_t)(M * N)) == 0,
          "M %lld K %lld: 1 and 2 threads differ", (long long)M, (long long)K);
    double worst = 0, worst_rel = 0, off_rel = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            const int part = (int)(j / Np);
            const int64_t jj = j % Np;
            double s = 0, s_exact = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                const float a = ta ? A[k * M + i] : A[i * K + k];
                const float *Bi = src[part];
                const float b = tb ? Bi[jj * K + k] : Bi[k * Np + jj];
                s += (double)rounded(a) * (double)rounded(b);
                s_exact += (double)a * (double)b;
                mag += fabs((double)a * (double)b);
            }
            const double cin = nan_c ? 0.0 : (double)c0[i * N + j];
            const double want = 1.5 * s + (double)beta * cin;
            const double scale = 1.5 * mag + fabs((double)beta * cin) + 1e-30;
            const double err = isnan(c1[i * N + j]) ? INFINITY : fabs((double)c1[i * N + j] - want);
            /* float32 accumulation of K products, then alpha and beta: a few ulps of K·|ab| */
            worst = fmax(worst, err / (1e-7 * (double)(K + 4) * scale));
            worst_rel = fmax(worst_rel, err / scale);
            off_rel = fmax(off_rel, 1.5 * fabs(s - s_exact) / scale);
        }
    CHECK(worst <= 1.0, "%s kernel, ta %d tb %d M %lld K %lld parts %d x %lld beta %g: error %.3g "
          "of the tolerance", portable ? "portable" : "chosen", ta, tb, (long long)M,
          (long long)K, parts, (long long)Np, beta, worst);
    /* the rounding of the operands must show: the result is far closer to the sum of the
     * rounded operands' products than to the unrounded one */
    CHECK(off_rel > 20.0 * worst_rel, "M %lld K %lld: %.3g from the rounded sum, %.3g from the "
          "unrounded one", (long long)M, (long long)K, worst_rel, off_rel);
    dc_gemm_packed_free(p);
    free(A);
    free(B);
    free(c0);
    free(c1);
    free(c2);
}

TEST(bf16_gemm_is_the_float_sum_of_the_rounded_operands_products)
{
    for (int portable = 0; portable <= 1; portable++) {
        bf16_case(0, 1, 1, 64, 1, 40, 0.0f, portable);     /* one row (one thread: small) */
        bf16_case(0, 1, 13, 7, 3, 20, 0.0f, portable);     /* odd K, parts across panels */
        bf16_case(0, 1, 40, 515, 3, 20, 0.5f, portable);   /* odd K in one block */
        bf16_case(1, 0, 29, 96, 2, 33, 1.0f, portable);    /* op(A) = Aᵀ, B stored [K, N] */
        bf16_case(0, 1, 200, 130, 1, 70, -1.0f, portable); /* rows split between threads */
        bf16_case(0, 1, 30, 1541, 3, 25, 1.0f, portable);  /* 4 K blocks, the last odd */
    }
    bf16_case(0, 1, 1, 768, 1, 3000, 0.0f, 0);      /* one row, columns split between threads */
    bf16_case(1, 1, 20, 1600, 2, 1001, 0.0f, 0);    /* columns split, op(A) = Aᵀ, 4 K blocks */
    bf16_case(0, 1, 397, 520, 1, 2080, 0.0f, 0);    /* several A blocks, columns split */
    bf16_case(0, 1, 600, 200, 3, 30, 1.0f, 0);      /* >= 512 rows: rows split by threads */
}

/* C for op(A) given as A and as Aᵀ: the two packs of A (the vectorised one of rows contiguous
 * along K, the scalar one) round alike, ties, denormals and large values included. */
TEST(bf16_both_packs_of_a_round_alike)
{
    enum { M = 24, K = 96, N = 40 };
    static float A[M * K], At[K * M], B[N * K], c1[M * N], c2[M * N];
    static const uint32_t special[] = {0x3F808000u, 0x3F818000u, 0xBF808000u, 0x00018000u,
                                       0x00008000u, 0x47008000u, 0x3F807FFFu, 0x3F808001u};
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) {
            const int idx = i * K + k;
            A[idx] = idx % 3 ? from_bits(special[idx % 8]) : (float)(idx % 17) / 7.0f - 1.0f;
            At[k * M + i] = A[idx];
        }
    for (int i = 0; i < N * K; i++)
        B[i] = (float)((i * 7) % 19) / 9.0f - 1.0f;
    const float *src[1] = {B};
    const int64_t Ns[1] = {N}, ld[1] = {K};
    dc_gemm_packed *p = dc_gemm_pack_b_bf16(1, K, 1, Ns, src, ld);
    REQUIRE(p);
    dc_gemm_packed_run(0, M, 1.0f, A, K, p, 0.0f, c1, N);
    dc_gemm_packed_run(1, M, 1.0f, At, M, p, 0.0f, c2, N);
    CHECK(memcmp(c1, c2, sizeof c1) == 0, "op(A) as A and as Aᵀ: other bits");
    int finite = 1;
    for (int i = 0; i < M * N; i++)
        finite &= isfinite(c1[i]) != 0;
    CHECK(finite, "a product overflowed: the inputs were meant to stay finite");
    dc_gemm_packed_free(p);
}

TEST(bf16_pack_is_half_the_float32_pack)
{
    const int64_t K = 768, N = 2304;
    float *B = calloc((size_t)(K * N), sizeof(float));
    REQUIRE(B);
    const float *src[1] = {B};
    const int64_t Ns[1] = {N}, ld[1] = {K};
    dc_gemm_packed *p32 = dc_gemm_pack_b(1, K, 1, Ns, src, ld);
    dc_gemm_packed *p16 = dc_gemm_pack_b_bf16(1, K, 1, Ns, src, ld);
    REQUIRE(p32 && p16);
    CHECK(!dc_gemm_packed_is_bf16(p32) && dc_gemm_packed_is_bf16(p16), "which pack is which");
    const size_t b32 = dc_gemm_packed_bytes(p32), b16 = dc_gemm_packed_bytes(p16);
    CHECK(b16 >= (size_t)(K * N * 2) && b16 < b32 / 2 + 1024, "bf16 pack %zu bytes, float32 %zu",
          b16, b32);
    dc_gemm_packed_free(p32);
    dc_gemm_packed_free(p16);
    free(B);
}
