/*
 * gemm_bf16.c - the bfloat16 products of a model frozen with dc_model_freeze_bf16: operands
 * rounded to bfloat16, products accumulated in float32.
 *
 * bfloat16 is the top half of a float32: the same 8-bit exponent, 7 stored significand bits.
 * A float rounds to it to nearest, ties to even (NaN stays NaN). The product of two bfloat16
 * values is exact in float32 (8 + 8 significand bits), so a sum of such products has the
 * rounding of float32 accumulation only: each output is Σ_k bf16(a_ik)·bf16(b_kj) in float32.
 *
 * Layout: K runs in pairs. A pair (k, k+1) of one row of A or one column of B is one uint32,
 * k in the low half (what VDPBF16PS multiplies lane by lane: lane j of the accumulator gains
 * a_lo·b_lo + a_hi·b_hi). A panel of A is [K/2][MR] such words, a panel of B [K/2][NR]; K is
 * zero-padded to even. The micro-kernel is the float32 one's 12 x 32 tile with one VDPBF16PS
 * where that has one FMA: two k per instruction, twice the float32 peak on CPUs with
 * AVX512-BF16 (measured here: 424 against 212 GFLOP/s on one core). Elsewhere a portable kernel
 * computes the same sums in plain C (slowly; so that the mode works, and is tested, anywhere).
 * The two need not agree to the bit: VDPBF16PS adds a pair's two products in an order (and
 * with denormal handling) the ISA leaves to the CPU.
 */
#include "gemm_int.h"
#include "kernels.h"

#include <string.h>

/* The AVX512-BF16 kernel needs GCC >= 10 or clang >= 9 (__m512bh, _mm512_dpbf16_ps) and the
 * build's ISA cap (DC_GEMM_MAX_ISA, gemm_arch.c) at AVX-512; else only the portable kernel. */
#ifndef DC_GEMM_MAX_ISA
#define DC_GEMM_MAX_ISA 2
#endif
#if DC_GEMM_X86 && DC_GEMM_MAX_ISA >= 2 &&                                                     \
    ((defined(__clang__) && __clang_major__ >= 9) || (!defined(__clang__) && __GNUC__ >= 10))
#define DC_BF16_X86 1
#include <immintrin.h>
#include "gemm_avx512.h"
#else
#define DC_BF16_X86 0
#endif

/* See kernels.h. */
uint16_t dc_k_bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) /* NaN: keep it one (quiet) */
        return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

/* See kernels.h. */
float dc_k_bf16_float(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The word of a pair: lo in the low half. */
static inline uint32_t pair_word(float lo, float hi)
{
    return (uint32_t)dc_k_bf16_round(lo) | (uint32_t)dc_k_bf16_round(hi) << 16;
}

#if DC_BF16_X86
/* words[p] = the pair (s[2p], s[2p + 1]) for p < n16 * 16: dc_k_bf16_round on 32 floats at a
 * time, in AVX-512 integer operations (the same bits). */
__attribute__((target("avx512f,avx512bw"))) static void pairs_avx512(const float *s, int64_t n16,
                                                                    uint32_t *words)
{
    const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF), inf = _mm512_set1_epi32(0x7F800000);
    const __m512i half = _mm512_set1_epi32(0x7FFF), one = _mm512_set1_epi32(1);
    const __m512i quiet = _mm512_set1_epi32(0x40);
    for (int64_t q = 0; q < n16; q++) {
        __m256i h[2];
        for (int v = 0; v < 2; v++) {
            const __m512i u = _mm512_loadu_si512(s + 32 * q + 16 * v);
            const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
            const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
            __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(half, odd)), 16);
            r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), quiet);
            h[v] = _mm512_cvtepi32_epi16(r);
        }
        _mm512_storeu_si512(words + 16 * q,
                            _mm512_inserti64x4(_mm512_castsi256_si512(h[0]), h[1], 1));
    }
}
#endif

/* See gemm_int.h. */
void dc_k_bf16_pack(const float *src, int64_t ld_k, int64_t ld_x, int rows, int64_t kc, int w,
                    uint32_t *dst)
{
    const int64_t kp = (kc + 1) / 2;
    if (rows < w)
        memset(dst, 0, sizeof(uint32_t) * (size_t)w * (size_t)kp);
#if DC_BF16_X86
    /* rows of A (contiguous along K): their pairs 16 at a time into a row buffer, then into the
     * panel's column r */
    if (ld_k == 1 && kc >= 32 && kp <= BF16_KC_MAX / 2 && __builtin_cpu_supports("avx512bw")) {
        uint32_t words[BF16_KC_MAX / 2];
        const int64_t n16 = kc / 32;
        for (int r = 0; r < rows; r++) {
            const float *s = src + r * ld_x;
            pairs_avx512(s, n16, words);
            for (int64_t p = 16 * n16; 2 * p + 1 < kc; p++)
                words[p] = pair_word(s[2 * p], s[2 * p + 1]);
            if (kc % 2)
                words[kp - 1] = pair_word(s[kc - 1], 0.0f);
            for (int64_t p = 0; p < kp; p++)
                dst[p * w + r] = words[p];
        }
        return;
    }
#endif
    for (int r = 0; r < rows; r++) {
        const float *s = src + r * ld_x;
        int64_t p = 0;
        for (; 2 * p + 1 < kc; p++)
            dst[p * w + r] = pair_word(s[2 * p * ld_k], s[(2 * p + 1) * ld_k]);
        if (p < kp) /* odd kc: the last pair's high half is zero */
            dst[p * w + r] = pair_word(s[2 * p * ld_k], 0.0f);
    }
}

/* ---- portable kernel ---- */

static void ukernel_bf16_generic(int64_t kp, const uint32_t *restrict ap,
                                 const uint32_t *restrict bp, float *restrict c, int64_t ldc,
                                 float alpha, float beta, int m, int n)
{
    float acc[BF16_MR][BF16_NR];
    memset(acc, 0, sizeof acc);
    for (int64_t p = 0; p < kp; p++, ap += BF16_MR, bp += BF16_NR)
        for (int r = 0; r < m; r++) {
            const float a0 = dc_k_bf16_float((uint16_t)ap[r]);
            const float a1 = dc_k_bf16_float((uint16_t)(ap[r] >> 16));
            for (int j = 0; j < n; j++) { /* each product exact in float32 */
                acc[r][j] += a1 * dc_k_bf16_float((uint16_t)(bp[j] >> 16));
                acc[r][j] += a0 * dc_k_bf16_float((uint16_t)bp[j]);
            }
        }
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++)
            c[r * ldc + j] = alpha * acc[r][j] + (beta != 0.0f ? beta * c[r * ldc + j] : 0.0f);
}

/* ---- AVX512-BF16 kernel ---- */

#if DC_BF16_X86
#define BF_TARGET __attribute__((target("avx512f,avx512bf16")))

/* The accumulators are named variables (c<r>0, c<r>1) so that they stay in registers. */
#define BF_FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define BF_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define BF_DOT(r)                                                                                \
    if (m > r) {                                                                                 \
        const __m512bh a = (__m512bh)_mm512_set1_epi32((int)ap[r]);                              \
        c##r##0 = _mm512_dpbf16_ps(c##r##0, a, b0);                                              \
        c##r##1 = _mm512_dpbf16_ps(c##r##1, a, b1);                                              \
    }
#define BF_STORE(r)                                                                              \
    if (m > r) {                                                                                 \
        avx512_store_vec(c + r * ldc, c##r##0, alpha, beta, n0);                                   \
        avx512_store_vec(c + r * ldc + 16, c##r##1, alpha, beta, n1);                              \
    }

/* The first m rows of a 12 x 32 tile; B panels are zero-padded to 32 columns, so B is read
 * whole and only the stores are masked. Inlined into one function per m. */
BF_TARGET __attribute__((always_inline)) static inline void
bf16_body(const int m, int64_t kp, const uint32_t *restrict ap, const uint32_t *restrict bp,
          float *restrict c, int64_t ldc, float alpha, float beta, __mmask16 n0, __mmask16 n1)
{
    BF_FOR_ROWS(BF_DECL)
    for (int64_t p = 0; p < kp; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + 16);
        BF_FOR_ROWS(BF_DOT)
        ap += BF16_MR;
        bp += BF16_NR;
    }
    BF_FOR_ROWS(BF_STORE)
}

typedef void (*bf16_rows_fn)(int64_t kp, const uint32_t *restrict ap, const uint32_t *restrict bp,
                             float *restrict c, int64_t ldc, float alpha, float beta,
                             __mmask16 n0, __mmask16 n1);

#define BF_ROWS(M_)                                                                              \
    BF_TARGET static void bf16_rows_##M_(int64_t kp, const uint32_t *restrict ap,                \
                                         const uint32_t *restrict bp, float *restrict c,          \
                                         int64_t ldc, float alpha, float beta, __mmask16 n0,      \
                                         __mmask16 n1)                                            \
    {                                                                                            \
        bf16_body(M_, kp, ap, bp, c, ldc, alpha, beta, n0, n1);                                  \
    }
BF_ROWS(1)
BF_ROWS(2)
BF_ROWS(3)
BF_ROWS(4)
BF_ROWS(5)
BF_ROWS(6)
BF_ROWS(7)
BF_ROWS(8)
BF_ROWS(9)
BF_ROWS(10)
BF_ROWS(11)
BF_ROWS(12)
#undef BF_ROWS

static void ukernel_bf16_avx512(int64_t kp, const uint32_t *restrict ap,
                                const uint32_t *restrict bp, float *restrict c, int64_t ldc,
                                float alpha, float beta, int m, int n)
{
    static const bf16_rows_fn rows[BF16_MR + 1] = AVX512_ROWS_TABLE(bf16_rows_);
    __mmask16 n0, n1;
    avx512_col_masks(n, &n0, &n1);
    rows[m](kp, ap, bp, c, ldc, alpha, beta, n0, n1);
}
#endif /* DC_BF16_X86 */

/* Blocking: a B panel of KC = 512 (256 pairs) x 32 is 32 KB (L1), as the float32 kernel's
 * 256 x 32; the A block 192 x 512 bfloat16 is 192 KB (L2). */
#ifndef DC_BF16_MC
#define DC_BF16_MC 192
#endif
#ifndef DC_BF16_KC
#define DC_BF16_KC 512
#endif
#ifndef DC_BF16_NC
#define DC_BF16_NC 2048
#endif
_Static_assert(DC_BF16_MC % BF16_MR == 0 && DC_BF16_KC % 8 == 0 && DC_BF16_KC <= BF16_KC_MAX &&
                   BF16_KC_ONE <= BF16_KC_MAX && DC_BF16_NC % BF16_NR == 0,
               "bfloat16 blocking: MC a multiple of 12, KC of 8, KC and KC_ONE <= KC_MAX");
static const gemm_bf16_arch bf16_generic = {"bf16-generic", ukernel_bf16_generic, DC_BF16_MC,
                                            DC_BF16_KC, DC_BF16_NC};
#if DC_BF16_X86
static const gemm_bf16_arch bf16_avx512 = {"bf16-avx512", ukernel_bf16_avx512, DC_BF16_MC,
                                           DC_BF16_KC, DC_BF16_NC};
#endif

static int g_bf16_portable; /* dc_k_gemm_bf16_force_portable */

/* See gemm_int.h. */
const gemm_bf16_arch *dc_k_gemm_bf16_arch(void)
{
#if DC_BF16_X86
    __builtin_cpu_init();
    if (!g_bf16_portable && __builtin_cpu_supports("avx512bf16"))
        return &bf16_avx512;
#endif
    return &bf16_generic;
}

/* See kernels.h. */
void dc_k_gemm_bf16_force_portable(int on) { g_bf16_portable = on != 0; }

/* See kernels.h. */
const char *dc_k_gemm_bf16_name(void) { return dc_k_gemm_bf16_arch()->name; }
