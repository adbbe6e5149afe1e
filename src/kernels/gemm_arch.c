/*
 * gemm_arch.c - the GEMM's kernel families (gemm.c has the blocking around them):
 *
 *   AVX-512F   12 x 32 micro-kernel (24 zmm accumulators), ~85% of the FMA peak from L1; 16 x 16
 *              register transposes for the packing; a dot-product kernel for small M
 *   AVX2+FMA    6 x 16 (12 ymm accumulators); 8 x 8 register transposes
 *   generic     4 x  8 (portable C, auto-vectorised; the only kernel off x86-64)
 *
 * chosen at run time with __builtin_cpu_supports (dc_k_gemm_arch); the file builds with plain -O3
 * (target attributes per function). Micro-kernel contract: gemm_int.h. Edge tiles: the AVX-512
 * kernel has one compiled body per row count (1..12) and masks the columns; the AVX2 and
 * portable kernels compute a partial tile on a local copy. Either way an element of C gets the
 * same operations wherever it sits in a tile.
 */
#include "gemm_int.h"

#include <string.h>

#if DC_GEMM_X86
#include <immintrin.h>
#include "gemm_avx512.h" /* avx512_store_vec: one 16-lane vector of a row of a tile */
#endif

/* Highest kernel family to use, for tests: 2 AVX-512, 1 AVX2, 0 generic. */
#ifndef DC_GEMM_MAX_ISA
#define DC_GEMM_MAX_ISA 2
#endif

/* ------------------------------------------------------------------------------------------ */
/* Portable kernel and transpose                                                               */
/* ------------------------------------------------------------------------------------------ */

/* A kernel for full MR x NR tiles only: gemm_ukernel without ldbp (B packed), m and n. */
typedef void (*gemm_full_kernel)(int64_t kc, const float *restrict ap, const float *restrict bp,
                                 float *restrict c, int64_t ldc, float alpha, float beta);

/* Partial tile C[m,n] through a full mr x nr kernel (mr * nr <= 96): run it on a local copy of the
 * tile, copy the m x n part back. Same instructions as a full tile, so the same rounding. */
static void tile_via_buffer(gemm_full_kernel full, int mr, int nr, int64_t kc, const float *ap,
                            const float *bp, float *c, int64_t ldc, float alpha, float beta, int m,
                            int n)
{
    _Alignas(64) float tile[96];
    if (beta != 0.0f) {
        memset(tile, 0, sizeof(float) * (size_t)mr * (size_t)nr);
        for (int i = 0; i < m; i++) memcpy(tile + i * nr, c + i * ldc, sizeof(float) * (size_t)n);
    }
    full(kc, ap, bp, tile, nr, alpha, beta);
    for (int i = 0; i < m; i++) memcpy(c + i * ldc, tile + i * nr, sizeof(float) * (size_t)n);
}

/* Portable full 4 x 8 tile; shapes as gemm_full_kernel. The fixed-size loops vectorise. */
static void full_generic_4x8(int64_t kc, const float *restrict ap, const float *restrict bp,
                             float *restrict c, int64_t ldc, float alpha, float beta)
{
    float acc[4][8] = {{0}};
    for (int64_t k = 0; k < kc; k++) {
        for (int r = 0; r < 4; r++)
            for (int j = 0; j < 8; j++) acc[r][j] += ap[r] * bp[j];
        ap += 4;
        bp += 8;
    }
    for (int r = 0; r < 4; r++) {
        float *cr = c + r * ldc;
        for (int j = 0; j < 8; j++) {
            float v = alpha * acc[r][j];
            if (beta != 0.0f) {
                const float t = beta * cr[j];
                v = v + t;
            }
            cr[j] = v;
        }
    }
}

/* gemm_ukernel for the portable 4 x 8 tile. */
static void ukernel_generic(int64_t kc, const float *restrict ap, const float *restrict bp,
                            int64_t ldbp, float *restrict c, int64_t ldc, float alpha, float beta,
                            int m, int n)
{
    (void)ldbp; /* B is always packed: 8 */
    if (m == 4 && n == 8)
        full_generic_4x8(kc, ap, bp, c, ldc, alpha, beta);
    else
        tile_via_buffer(full_generic_4x8, 4, 8, kc, ap, bp, c, ldc, alpha, beta, m, n);
}

/* Scalar gemm_transpose_fn. */
static void transpose_generic(const float *restrict src, int64_t ld, int rows, int64_t kc, int w,
                              float *restrict dst)
{
    for (int r = 0; r < rows; r++)
        for (int64_t k = 0; k < kc; k++) dst[k * w + r] = src[r * ld + k];
}

#if DC_GEMM_X86

/* ------------------------------------------------------------------------------------------ */
/* x86-64 kernels and packing (compiled for AVX2 / AVX-512 by target attributes)              */
/* ------------------------------------------------------------------------------------------ */

/* Apply X to the row indices of the 6-row AVX2 tile (named accumulators stay in registers). */
#define AVX2_FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define AVX2_DECL(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
#define AVX2_FMA(r)                                                                              \
    {                                                                                            \
        const __m256 a = _mm256_broadcast_ss(ap + r);                                            \
        c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                                               \
        c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);                                               \
    }
#define AVX2_STORE(r)                                                                            \
    {                                                                                            \
        float *cr = c + r * ldc;                                                                 \
        __m256 v0 = _mm256_mul_ps(va, c##r##0), v1 = _mm256_mul_ps(va, c##r##1);                 \
        if (beta != 0.0f) {                                                                      \
            v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), v0);                                   \
            v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), v1);                               \
        }                                                                                        \
        _mm256_storeu_ps(cr, v0);                                                                \
        _mm256_storeu_ps(cr + 8, v1);                                                            \
    }

/* Full AVX2+FMA 6 x 16 tile; shapes as gemm_full_kernel. 12 ymm accumulators, 2 B loads and
 * 6 broadcasts per k. */
__attribute__((target("avx2,fma"))) static void
full_avx2_6x16(int64_t kc, const float *restrict ap, const float *restrict bp, float *restrict c,
               int64_t ldc, float alpha, float beta)
{
    AVX2_FOR_ROWS(AVX2_DECL)
    for (int64_t k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        AVX2_FOR_ROWS(AVX2_FMA)
        ap += 6;
        bp += 16;
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    AVX2_FOR_ROWS(AVX2_STORE)
}

/* gemm_ukernel for the AVX2 6 x 16 tile. */
__attribute__((target("avx2,fma"))) static void
ukernel_avx2(int64_t kc, const float *restrict ap, const float *restrict bp, int64_t ldbp,
             float *restrict c, int64_t ldc, float alpha, float beta, int m, int n)
{
    (void)ldbp; /* B is always packed: 16 */
    if (m == 6 && n == 16)
        full_avx2_6x16(kc, ap, bp, c, ldc, alpha, beta);
    else
        tile_via_buffer(full_avx2_6x16, 6, 16, kc, ap, bp, c, ldc, alpha, beta, m, n);
}

#define A512_MR 12
#define A512_NR 32

/* Apply X to the row indices of the 12-row AVX-512 tile. The accumulators are named variables
 * (c<r>0, c<r>1), not an array, so that they stay in registers. */
#define A512_FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define A512_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define A512_PREFETCH(r)                                                                         \
    if (m > r) {                                                                                 \
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);                                  \
        _mm_prefetch((const char *)(c + r * ldc + 31), _MM_HINT_T0);                             \
    }
#define A512_FMA(r)                                                                              \
    if (m > r) {                                                                                 \
        const __m512 a = _mm512_set1_ps(ap[r]);                                                  \
        c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                                               \
        if (nv == 2) c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);                                  \
    }
#define A512_STORE(r)                                                                            \
    if (m > r) {                                                                                 \
        avx512_store_vec(c + r * ldc, c##r##0, alpha, beta, n0);                                 \
        if (nv == 2) avx512_store_vec(c + r * ldc + 16, c##r##1, alpha, beta, n1);               \
    }

/*
 * AVX-512 micro-kernel body for the first m rows and nv 16-lane vectors (1 or 2) of a 12 x 32
 * tile; shapes as gemm_ukernel, with the n columns given as two 16-lane masks. masked: read B under
 * the masks too (edge tiles, so that rows of B read in place are never over-read); else all
 * columns. m*nv zmm accumulators; per k, nv B loads and m broadcasts. Inlined into one function
 * per (m, nv, masked), so the untaken rows and vectors vanish.
 */
__attribute__((target("avx512f"), always_inline)) static inline void
avx512_body(const int m, const int nv, const int masked, int64_t kc, const float *restrict ap,
            const float *restrict bp, int64_t ldbp, float *restrict c, int64_t ldc, float alpha,
            float beta, __mmask16 n0, __mmask16 n1)
{
    A512_FOR_ROWS(A512_DECL)
    A512_FOR_ROWS(A512_PREFETCH)
    for (int64_t k = 0; k < kc; k++) {
        const __m512 b0 = masked ? _mm512_maskz_loadu_ps(n0, bp) : _mm512_loadu_ps(bp);
        const __m512 b1 = nv == 1   ? b0
                          : masked ? _mm512_maskz_loadu_ps(n1, bp + 16)
                                   : _mm512_loadu_ps(bp + 16);
        A512_FOR_ROWS(A512_FMA)
        ap += A512_MR;
        bp += ldbp;
    }
    A512_FOR_ROWS(A512_STORE)
}

typedef void (*avx512_rows_fn)(int64_t kc, const float *restrict ap, const float *restrict bp,
                               int64_t ldbp, float *restrict c, int64_t ldc, float alpha,
                               float beta, __mmask16 n0, __mmask16 n1);

#define DC_A512_ROWS(M_)                                                                         \
    __attribute__((target("avx512f"))) static void avx512_rows_##M_(                            \
        int64_t kc, const float *restrict ap, const float *restrict bp, int64_t ldbp,           \
        float *restrict c, int64_t ldc, float alpha, float beta, __mmask16 n0, __mmask16 n1)     \
    {                                                                                            \
        if (n1 == 0xFFFF)                                                                        \
            avx512_body(M_, 2, 0, kc, ap, bp, ldbp, c, ldc, alpha, beta, n0, n1);                \
        else if (n1 != 0)                                                                        \
            avx512_body(M_, 2, 1, kc, ap, bp, ldbp, c, ldc, alpha, beta, n0, n1);                \
        else                                                                                     \
            avx512_body(M_, 1, 1, kc, ap, bp, ldbp, c, ldc, alpha, beta, n0, n1);                \
    }
DC_A512_ROWS(1)
DC_A512_ROWS(2)
DC_A512_ROWS(3)
DC_A512_ROWS(4)
DC_A512_ROWS(5)
DC_A512_ROWS(6)
DC_A512_ROWS(7)
DC_A512_ROWS(8)
DC_A512_ROWS(9)
DC_A512_ROWS(10)
DC_A512_ROWS(11)
DC_A512_ROWS(12)
#undef DC_A512_ROWS

/* gemm_ukernel for the AVX-512 12 x 32 tile: picks the body for m rows, masks the n columns. */
static void ukernel_avx512(int64_t kc, const float *restrict ap, const float *restrict bp,
                           int64_t ldbp, float *restrict c, int64_t ldc, float alpha, float beta,
                           int m, int n)
{
    static const avx512_rows_fn rows[A512_MR + 1] = AVX512_ROWS_TABLE(avx512_rows_);
    __mmask16 n0, n1;
    avx512_col_masks(n, &n0, &n1);
    rows[m](kc, ap, bp, ldbp, c, ldc, alpha, beta, n0, n1);
}

/* dst[t*w + i] = src[i*ld + t] for an 8 x 8 block (8 rows of src become 8 columns of dst). */
__attribute__((target("avx2"), always_inline)) static inline void
transpose_8x8(const float *src, int64_t ld, float *dst, int64_t w)
{
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * ld);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);     /* a0 b0 a1 b1 | a4 b4 a5 b5 */
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); /* a2 b2 a3 b3 | a6 b6 a7 b7 */
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);     /* a0 b0 c0 d0 | a4 b4 c4 d4 */
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE); /* a1 b1 c1 d1 | a5 .. */
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * w, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * w, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

/* dst[t*w + i] = src[i*ld + t] for a 4 x 8 block (4 rows of src become 8 columns of dst). */
__attribute__((target("avx2"), always_inline)) static inline void
transpose_4x8(const float *src, int64_t ld, float *dst, int64_t w)
{
    const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ld);
    const __m256 r2 = _mm256_loadu_ps(src + 2 * ld), r3 = _mm256_loadu_ps(src + 3 * ld);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 s[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                         _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
    for (int i = 0; i < 4; i++) {
        _mm_storeu_ps(dst + i * w, _mm256_castps256_ps128(s[i]));
        _mm_storeu_ps(dst + (i + 4) * w, _mm256_extractf128_ps(s[i], 1));
    }
}

/* AVX2 gemm_transpose_fn: 8 x 8 and 4 x 8 register transposes, scalar for the leftovers. */
__attribute__((target("avx2"))) static void
transpose_avx2(const float *restrict src, int64_t ld, int rows, int64_t kc, int w,
               float *restrict dst)
{
    const int64_t kc8 = kc & ~(int64_t)7;
    int r = 0;
    for (; r + 8 <= rows; r += 8)
        for (int64_t k = 0; k < kc8; k += 8)
            transpose_8x8(src + r * ld + k, ld, dst + k * w + r, w);
    for (; r + 4 <= rows; r += 4)
        for (int64_t k = 0; k < kc8; k += 8)
            transpose_4x8(src + r * ld + k, ld, dst + k * w + r, w);
    for (int i = 0; i < rows; i++) /* rows r.. entirely, and the k tail of every row */
        for (int64_t k = i < r ? kc8 : 0; k < kc; k++) dst[k * w + i] = src[i * ld + k];
}

/* dst[t*w + i] = src[i*ld + t] for a 16 x 16 block: the 8 x 8 scheme on 512-bit registers
 * (unpack and shuffle within 128-bit lanes, then two rounds of 128-bit lane shuffles). */
__attribute__((target("avx512f"), always_inline)) static inline void
transpose_16x16(const float *src, int64_t ld, float *dst, int64_t w)
{
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * ld);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);     /* per lane: a0 b0 a1 b1 */
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); /* per lane: a2 b2 a3 b3 */
    }
    for (int i = 0; i < 16; i += 4) { /* r[4g + c]: rows 4g..4g+3 of columns c, c+4, c+8, c+12 */
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        const __m512 x0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44);
        const __m512 x1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
        const __m512 y0 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44);
        const __m512 y1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
        _mm512_storeu_ps(dst + c * w, _mm512_shuffle_f32x4(x0, y0, 0x88));
        _mm512_storeu_ps(dst + (c + 4) * w, _mm512_shuffle_f32x4(x0, y0, 0xDD));
        _mm512_storeu_ps(dst + (c + 8) * w, _mm512_shuffle_f32x4(x1, y1, 0x88));
        _mm512_storeu_ps(dst + (c + 12) * w, _mm512_shuffle_f32x4(x1, y1, 0xDD));
    }
}

/* AVX-512 gemm_transpose_fn: 16 x 16 register transposes for groups of 16 rows (the B panels of
 * a transposed operand), transpose_avx2 for the rows left (the 12-row A panels). */
__attribute__((target("avx512f"))) static void
transpose_avx512(const float *restrict src, int64_t ld, int rows, int64_t kc, int w,
                 float *restrict dst)
{
    const int64_t kc16 = kc & ~(int64_t)15;
    int r = 0;
    for (; r + 16 <= rows; r += 16) {
        for (int64_t k = 0; k < kc16; k += 16)
            transpose_16x16(src + r * ld + k, ld, dst + k * w + r, w);
        for (int i = 0; i < 16; i++)
            for (int64_t k = kc16; k < kc; k++) dst[k * w + r + i] = src[(r + i) * ld + k];
    }
    if (r < rows) transpose_avx2(src + r * ld, ld, rows - r, kc, w, dst + r);
}

/* Apply X to the 8 B rows of a dot-product kernel (named accumulators stay in registers). */
#define DOT_FOR_J(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define DOT_DECL(j)                                                                              \
    const float *b##j = B + (j < n ? j : n - 1) * ldb;                                           \
    __m512 acc##j = _mm512_setzero_ps();
#define DOT_FMA(j) acc##j = _mm512_fmadd_ps(va, _mm512_loadu_ps(b##j + k), acc##j);
#define DOT_FMA_TAIL(j) acc##j = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(tail, b##j + k), acc##j);
#define DOT_STORE(j)                                                                             \
    if (j < n) {                                                                                 \
        float v = alpha * _mm512_reduce_add_ps(acc##j);                                          \
        if (beta != 0.0f) {                                                                      \
            const float t = beta * c[j];                                                         \
            v = v + t;                                                                           \
        }                                                                                        \
        c[j] = v;                                                                                \
    }

/*
 * AVX-512 gemm_dot_fn: c[0:n] = alpha * a[0:K] · B[0:n, 0:K]^T + beta * c[0:n]. 16 lanes of
 * partial sums per output, then a fixed reduction tree. Rows past n repeat row n - 1 (unused).
 */
__attribute__((target("avx512f"))) static void
dot_nt_avx512(int n, int64_t K, const float *restrict a, const float *restrict B, int64_t ldb,
              float *restrict c, float alpha, float beta)
{
    DOT_FOR_J(DOT_DECL)
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        const __m512 va = _mm512_loadu_ps(a + k);
        DOT_FOR_J(DOT_FMA)
    }
    if (k < K) {
        const __mmask16 tail = (__mmask16)((1u << (K - k)) - 1u);
        const __m512 va = _mm512_maskz_loadu_ps(tail, a + k);
        DOT_FOR_J(DOT_FMA_TAIL)
    }
    DOT_FOR_J(DOT_STORE)
}

/* AVX-512 blocking: a B micro-panel is KC x 32 floats = 32 KB (L1), the A block 192 x KC (L2).
 * NC = 2048: each A block is packed once per 2048 columns; at n = 2048, NC = 512 re-packed all of
 * A four times, 168-172 against 181-188 GFLOP/s on one core. */
#ifndef DC_A512_MC
#define DC_A512_MC 192
#endif
#ifndef DC_A512_KC
#define DC_A512_KC 256
#endif
#ifndef DC_A512_NC
#define DC_A512_NC 2048
#endif
static const gemm_arch arch_avx512 = {"builtin-avx512", ukernel_avx512, transpose_avx512,
                                      dot_nt_avx512, A512_MR, A512_NR, 1, DC_A512_MC, DC_A512_KC,
                                      DC_A512_NC, 2};
static const gemm_arch arch_avx2 = {"builtin-avx2", ukernel_avx2, transpose_avx2, NULL, 6, 16, 0,
                                    96, 256, 512, 1};
#endif /* DC_GEMM_X86 */
static const gemm_arch arch_generic = {"builtin-generic", ukernel_generic, transpose_generic, NULL,
                                       4, 8, 0, 128, 256, 512, 0};

/* See gemm_int.h. */
const gemm_arch *dc_k_gemm_arch(void)
{
#if DC_GEMM_X86
    __builtin_cpu_init();
    if (DC_GEMM_MAX_ISA >= 2 && __builtin_cpu_supports("avx512f")) return &arch_avx512;
    if (DC_GEMM_MAX_ISA >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &arch_avx2;
#endif
    return &arch_generic;
}
