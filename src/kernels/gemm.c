/*
 * gemm.c - single-precision GEMM for deepc: a built-in packed, cache-blocked GEMM with run-time
 * SIMD dispatch, and an optional CBLAS (OpenBLAS) backend behind the same entry point.
 *
 *   C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C          (row-major; see kernels.h)
 *
 * Blocking (GotoBLAS / BLIS, written for row-major C; sizes for the AVX-512 kernel):
 *
 *   for jc in N step NC=2048                                  B block    op(B)[KC,NC]   (L2/L3)
 *     for pc in K step KC<=256      the K reduction, always in the order 0, KC, 2KC, ...
 *       pack op(B)[pc:+KC, jc:+NC] into NR-column panels  Bp[j/NR][k][NR]
 *       for ic in M step MC=192                               A block    op(A)[MC,KC]   (L2)
 *         pack op(A)[ic:+MC, pc:+KC] into MR-row panels   Ap[i/MR][k][MR]
 *         for jr in NC step NR                                one B micro-panel (L1) ...
 *           for ir in MC step MR                              ... meets every A micro-panel
 *             micro-kernel: C[ir:+MR, jr:+NR] = alpha * Ap_ir · Bp_jr + beta' * C
 *
 * The micro-kernel keeps an MR x NR tile of C in vector registers: per k it loads one NR-wide row
 * of the B panel and broadcasts MR values of the A panel. beta' is the caller's beta for the first
 * K block and 1 after it. Panels are zero-padded to MR / NR. Edge tiles: the AVX-512 kernel has
 * one compiled body per row count (1..12) and masks the columns; the AVX2 and portable kernels
 * compute a partial tile on a local copy. Either way an element of C gets the same operations
 * wherever it sits in a tile.
 *
 * Kernels (chosen at run time with __builtin_cpu_supports; the file builds with plain -O3):
 *   AVX-512F   12 x 32 (24 zmm accumulators), ~85% of the FMA peak from L1
 *   AVX2+FMA    6 x 16 (12 ymm accumulators)
 *   generic     4 x  8 (portable C, auto-vectorised; the only kernel off x86-64)
 * Two AVX-512 shortcuts for the small M of deep-learning GEMMs (batch rows, output channels):
 *   - op(B) = B and M <= 128: the kernel reads the rows of B in place (no B packing);
 *   - op(A) = A, op(B) = B^T, M <= 16 and K >= 16 M: dot products of rows, no packing at all.
 *
 * Threads (OpenMP): C is cut into one contiguous range of rows or columns per thread (whole
 * tiles); each thread runs the algorithm above on its range with its own pack buffers. K is never
 * split, and the K blocking and the path depend on M, N, K alone, so every element of C gets the
 * same floating-point operations for any thread count: results are bitwise identical. Products
 * with M*N*K < DC_GEMM_PAR_MIN, and calls made inside a parallel region, stay on one thread.
 *
 * Memory: the pack buffers are thread-local (_Thread_local pointer + capacity), grown on demand and
 * reused, so the steady state allocates nothing. A buffer lives as long as its thread (OpenMP pool
 * threads and the main thread keep theirs, at most ~0.7 MB each, until exit; a short-lived thread
 * that calls dc_gemm leaks its buffer). If an allocation fails, a slow unpacked loop does the job.
 */
#define _POSIX_C_SOURCE 200809L

#include "kernels.h"

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DC_GEMM_X86 1
#include <immintrin.h>
#else
#define DC_GEMM_X86 0
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef DC_USE_CBLAS
#include <cblas.h>
#include <limits.h>
#endif

/* Tuning knobs (measured on a 2-vCPU AVX-512 KVM guest; override with -D for experiments). */

/* M*N*K below which dc_gemm stays on one thread: ~10 us of work. Waking a sleeping OpenMP thread
 * costs a few us (deepc's threads spin only briefly: dc_spincount_default in deepc.h); with spinning
 * threads two threads already pay from ~2.5e5. */
#ifndef DC_GEMM_PAR_MIN
#define DC_GEMM_PAR_MIN 1048576.0
#endif
/* Largest M for which op(B) = B may be read in place rather than packed (see gemm_direct_b). */
#ifndef DC_GEMM_DIRECT_B_MAX_M
#define DC_GEMM_DIRECT_B_MAX_M 128
#endif
/* Largest M for the dot-product path (which also needs K >= 16 M). */
#ifndef DC_GEMM_DOT_MAX_M
#define DC_GEMM_DOT_MAX_M 16
#endif
/* Highest kernel family to use, for tests: 2 AVX-512, 1 AVX2, 0 generic. */
#ifndef DC_GEMM_MAX_ISA
#define DC_GEMM_MAX_ISA 2
#endif

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* Micro-kernel: C[m,n] (row stride ldc) = alpha * sum_k Ap[k][0:m]^T Bp[k][0:n] + beta * C for
 * m <= MR, n <= NR, kc >= 1. Ap is a packed panel [kc][MR] (zero-padded); Bp is a kc x NR panel
 * with row stride ldbp: packed [kc][NR] (zero-padded, ldbp == NR) or, for kernels with direct_b,
 * the rows of B itself (ldbp == ldb; only n columns are read). beta == 0: C is not read. */
typedef void (*gemm_ukernel)(int64_t kc, const float *restrict ap, const float *restrict bp,
                             int64_t ldbp, float *restrict c, int64_t ldc, float alpha,
                             float beta, int m, int n);

/* Panel transpose: dst[k*w + r] = src[r*ld + k] for r < rows, k < kc. */
typedef void (*gemm_transpose_fn)(const float *restrict src, int64_t ld, int rows, int64_t kc,
                                  int w, float *restrict dst);

/* Dot-product kernel: c[0:n] = alpha * a[0:K] · B[0:n, 0:K]^T + beta * c[0:n] for one row a and
 * n <= 8 rows of B (row stride ldb), both contiguous along K. */
typedef void (*gemm_dot_fn)(int n, int64_t K, const float *restrict a, const float *restrict B,
                            int64_t ldb, float *restrict c, float alpha, float beta);

/* A kernel family with its packing and blocking (mc % mr == 0, nc % nr == 0, kc % 8 == 0). */
typedef struct gemm_arch {
    const char *name;
    gemm_ukernel kernel;
    gemm_transpose_fn transpose;
    gemm_dot_fn dot_nt; /* NULL: no dot-product path */
    int mr, nr;
    int direct_b;       /* the kernel can read rows of B in place */
    int64_t mc, kc, nc;
} gemm_arch;

/* One product C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C (arguments as dc_gemm). */
typedef struct gemm_args {
    int ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
} gemm_args;

/* How a product is computed; chosen from the whole product, never from one thread's share (the
 * two paths round differently). */
typedef enum gemm_path { GEMM_PACKED, GEMM_DOT } gemm_path;

/* Set by dc_gemm_force_builtin() (1) and dc_gemm_prefer_blas() (-1); 0 (the default) picks. */
static int g_force_builtin;

static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

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

/* One 16-lane vector of a row of an AVX-512 tile: c[lanes] = alpha * acc + beta * c[lanes]. */
__attribute__((target("avx512f"), always_inline)) static inline void
avx512_store_vec(float *c, __m512 acc, float alpha, float beta, __mmask16 lanes)
{
    __m512 v = _mm512_mul_ps(_mm512_set1_ps(alpha), acc);
    if (beta != 0.0f) v = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(lanes, c), v);
    _mm512_mask_storeu_ps(c, lanes, v);
}

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
    static const avx512_rows_fn rows[A512_MR + 1] = {
        NULL,            avx512_rows_1,  avx512_rows_2, avx512_rows_3, avx512_rows_4,
        avx512_rows_5,   avx512_rows_6,  avx512_rows_7, avx512_rows_8, avx512_rows_9,
        avx512_rows_10,  avx512_rows_11, avx512_rows_12};
    const unsigned n0 = n >= 16 ? 0xFFFFu : (1u << n) - 1u;
    const unsigned n1 = n >= 32 ? 0xFFFFu : n <= 16 ? 0u : (1u << (n - 16)) - 1u;
    rows[m](kc, ap, bp, ldbp, c, ldc, alpha, beta, (__mmask16)n0, (__mmask16)n1);
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
                                      DC_A512_NC};
static const gemm_arch arch_avx2 = {"builtin-avx2", ukernel_avx2, transpose_avx2, NULL, 6, 16, 0,
                                    96, 256, 512};
#endif /* DC_GEMM_X86 */

static const gemm_arch arch_generic = {"builtin-generic", ukernel_generic, transpose_generic, NULL,
                                       4, 8, 0, 128, 256, 512};

/* The kernel family for this CPU. Cheap (a few loads), so it is asked on every call. */
static const gemm_arch *gemm_select_arch(void)
{
#if DC_GEMM_X86
    __builtin_cpu_init();
    if (DC_GEMM_MAX_ISA >= 2 && __builtin_cpu_supports("avx512f")) return &arch_avx512;
    if (DC_GEMM_MAX_ISA >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &arch_avx2;
#endif
    return &arch_generic;
}

/* Whether a BLAS build hands products to OpenBLAS. By default only where the built-in kernel
 * has no AVX-512: with it the built-in GEMM measured faster than OpenBLAS 0.3.21 here (square
 * 128-2048: 170-200 GFLOP/s against 138-178 on one core; the recurrent and convolution
 * workloads 2-15% faster end to end) and its reduction order is fixed. */
#ifdef DC_USE_CBLAS
static int gemm_use_blas(void)
{
    if (g_force_builtin)
        return g_force_builtin < 0;
#if DC_GEMM_X86
    return gemm_select_arch() != &arch_avx512;
#else
    return 1;
#endif
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* Packing                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* dst[k*w + c] = src[k*ld + c] for c < cols, k < kc: rows of src stay rows of a panel. */
static void copy_pack(const float *restrict src, int64_t ld, int cols, int64_t kc, int w,
                      float *restrict dst)
{
    if (cols == w && w == 32) { /* the common full AVX-512 panel: let the compiler unroll */
        for (int64_t k = 0; k < kc; k++)
            for (int c = 0; c < 32; c++) dst[k * 32 + c] = src[k * ld + c];
        return;
    }
    for (int64_t k = 0; k < kc; k++)
        for (int c = 0; c < cols; c++) dst[k * w + c] = src[k * ld + c];
}

/*
 * Pack the block op(A)[mc,kc] into ceil(mc/mr) panels ap[p][k][mr] (rows past mc are zero).
 * a points at the block's first element: &A[i0*lda + k0] if !trans, &A[k0*lda + i0] if trans.
 */
static void pack_a(const gemm_arch *ar, int trans, const float *a, int64_t lda, int64_t mc,
                   int64_t kc, float *ap)
{
    const int mr = ar->mr;
    for (int64_t i = 0; i < mc; i += mr, ap += (int64_t)mr * kc) {
        const int mb = (int)min_i64(mr, mc - i);
        if (mb < mr) memset(ap, 0, sizeof(float) * (size_t)mr * (size_t)kc);
        if (trans)
            copy_pack(a + i, lda, mb, kc, mr, ap);
        else
            ar->transpose(a + i * lda, lda, mb, kc, mr, ap);
    }
}

/*
 * Pack the block op(B)[kc,nc] into ceil(nc/nr) panels bp[p][k][nr] (columns past nc are zero).
 * b points at the block's first element: &B[k0*ldb + j0] if !trans, &B[j0*ldb + k0] if trans.
 */
static void pack_b(const gemm_arch *ar, int trans, const float *b, int64_t ldb, int64_t kc,
                   int64_t nc, float *bp)
{
    const int nr = ar->nr;
    for (int64_t j = 0; j < nc; j += nr, bp += (int64_t)nr * kc) {
        const int nb = (int)min_i64(nr, nc - j);
        if (nb < nr) memset(bp, 0, sizeof(float) * (size_t)nr * (size_t)kc);
        if (trans)
            ar->transpose(b + j * ldb, ldb, nb, kc, nr, bp);
        else
            copy_pack(b + j, ldb, nb, kc, nr, bp);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Blocked and dot-product drivers                                                             */
/* ------------------------------------------------------------------------------------------ */

/* C[mc,nc] (row stride ldc) = alpha * Ap · Bp + beta * C for the packed block Ap (mc x kc, in
 * mr-row panels) and the block Bp (kc x nc, rows ldbp apart, nr-column panels b_step floats
 * apart: packed, or B in place), tile by tile with the B panel outermost. */
static void macro_kernel(const gemm_arch *ar, int64_t mc, int64_t nc, int64_t kc, float alpha,
                         const float *Ap, const float *Bp, int64_t ldbp, int64_t b_step,
                         float beta, float *C, int64_t ldc)
{
    const int mr = ar->mr, nr = ar->nr;
    for (int64_t jr = 0; jr < nc; jr += nr) {
        const int nb = (int)min_i64(nr, nc - jr);
        const float *bp = Bp + jr / nr * b_step;
        for (int64_t ir = 0; ir < mc; ir += mr) {
            const int mb = (int)min_i64(mr, mc - ir);
            ar->kernel(kc, Ap + ir * kc, bp, ldbp, C + ir * ldc + jr, ldc, alpha, beta, mb, nb);
        }
    }
}

/* The K block size for K: <= ar->kc, a multiple of 8, the blocks near equal so that the last is
 * not tiny. Depends on K and the kernel only (never on threads), for bitwise reproducibility. */
static int64_t gemm_kc(const gemm_arch *ar, int64_t K)
{
    const int64_t nblk = (K + ar->kc - 1) / ar->kc;
    return min_i64(ar->kc, round_up((K + nblk - 1) / nblk, 8));
}

/* Dot products beat packing while their reductions are amortised over K (measured: K >= 16 M). */
static gemm_path gemm_choose_path(const gemm_arch *ar, const gemm_args *g)
{
    const int dot = ar->dot_nt && !g->ta && g->tb && g->M <= DC_GEMM_DOT_MAX_M && g->K >= 16 * g->M;
    return dot ? GEMM_DOT : GEMM_PACKED;
}

/* Read op(B) = B in place when few A panels reuse it, so that packing costs more than it saves:
 * M <= 16, or M <= 128 unless the rows of B are a multiple of 4 KB apart (then they share L1 sets
 * and pages; measured 5-20% slower than packing). Same values, same operations: this choice does
 * not change results. */
static int gemm_direct_b(const gemm_arch *ar, const gemm_args *g)
{
    return ar->direct_b && !g->tb &&
           (g->M <= 16 || (g->M <= DC_GEMM_DIRECT_B_MAX_M && g->ldb % 1024 != 0));
}

/* Floats of pack buffer gemm_blocked needs for g. */
static size_t gemm_buf_floats(const gemm_arch *ar, const gemm_args *g)
{
    const int64_t KC = gemm_kc(ar, g->K), MC = min_i64(ar->mc, round_up(g->M, ar->mr));
    const int64_t NC = gemm_direct_b(ar, g) ? 0 : min_i64(ar->nc, round_up(g->N, ar->nr));
    return (size_t)(round_up(MC * KC, 16) + KC * NC);
}

/* The blocked algorithm (file comment) on g (M, N, K >= 1), with a 64-byte aligned pack buffer
 * buf of gemm_buf_floats(ar, g) floats. */
static void gemm_blocked(const gemm_arch *ar, const gemm_args *g, float *buf)
{
    const int64_t KC = gemm_kc(ar, g->K), MC = min_i64(ar->mc, round_up(g->M, ar->mr));
    const int64_t lda = g->lda, ldb = g->ldb, ldc = g->ldc;
    const int direct = gemm_direct_b(ar, g);
    float *Ap = buf, *Bp = buf + round_up(MC * KC, 16);
    for (int64_t jc = 0; jc < g->N; jc += ar->nc) {
        const int64_t nc = min_i64(ar->nc, g->N - jc);
        for (int64_t pc = 0; pc < g->K; pc += KC) {
            const int64_t kc = min_i64(KC, g->K - pc);
            const float beta = pc == 0 ? g->beta : 1.0f;
            const float *b = g->tb ? g->B + jc * ldb + pc : g->B + pc * ldb + jc;
            if (!direct) pack_b(ar, g->tb, b, ldb, kc, nc, Bp);
            for (int64_t ic = 0; ic < g->M; ic += MC) {
                const int64_t mc = min_i64(MC, g->M - ic);
                float *c = g->C + ic * ldc + jc;
                pack_a(ar, g->ta, g->ta ? g->A + pc * lda + ic : g->A + ic * lda + pc, lda, mc,
                       kc, Ap);
                if (direct)
                    macro_kernel(ar, mc, nc, kc, g->alpha, Ap, b, ldb, ar->nr, beta, c, ldc);
                else
                    macro_kernel(ar, mc, nc, kc, g->alpha, Ap, Bp, ar->nr, ar->nr * kc, beta, c,
                                 ldc);
            }
        }
    }
}

/* The dot-product path on g (op(A) = A, op(B) = B^T): 8 columns of C at a time, all its rows. */
static void gemm_dot(const gemm_arch *ar, const gemm_args *g)
{
    for (int64_t j = 0; j < g->N; j += 8)
        for (int64_t i = 0; i < g->M; i++)
            ar->dot_nt((int)min_i64(8, g->N - j), g->K, g->A + i * g->lda, g->B + j * g->ldb,
                       g->ldb, g->C + i * g->ldc + j, g->alpha, g->beta);
}

/* See kernels.h: this thread's pack buffer, grown to at least n floats (64-byte aligned); NULL
 * if out of memory. The buffer is owned by the thread and reused by every later call on it; a
 * pthread key destructor frees it when the thread ends (OpenMP pool threads, user threads). */
static pthread_key_t gemm_key;
static pthread_once_t gemm_key_once = PTHREAD_ONCE_INIT;
static void gemm_key_init(void) { (void)pthread_key_create(&gemm_key, free); }

float *dc_k_thread_buffer(size_t n)
{
    static _Thread_local float *buf;
    static _Thread_local size_t cap;
    if (n > cap) {
        void *p = NULL;
        pthread_once(&gemm_key_once, gemm_key_init);
        free(buf);
        buf = NULL;
        cap = 0;
        (void)pthread_setspecific(gemm_key, NULL);
        n = (n + 1023) & ~(size_t)1023; /* grow in 4 KiB steps */
        if (posix_memalign(&p, 64, n * sizeof(float)) != 0) return NULL;
        buf = p;
        cap = n;
        (void)pthread_setspecific(gemm_key, buf);
    }
    return buf;
}

/* Unpacked fallback when no pack buffer can be had: same semantics, slow. */
static void gemm_unpacked(const gemm_args *g)
{
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < g->K; k++)
                s += (g->ta ? g->A[k * g->lda + i] : g->A[i * g->lda + k]) *
                     (g->tb ? g->B[j * g->ldb + k] : g->B[k * g->ldb + j]);
            float v = g->alpha * s;
            if (g->beta != 0.0f) v += g->beta * g->C[i * g->ldc + j];
            g->C[i * g->ldc + j] = v;
        }
}

/* g (or one thread's share of a product) on the calling thread, along path. */
static void gemm_serial(const gemm_arch *ar, gemm_path path, const gemm_args *g)
{
    if (path == GEMM_DOT) {
        gemm_dot(ar, g);
        return;
    }
    float *buf = dc_k_thread_buffer(gemm_buf_floats(ar, g));
    if (buf)
        gemm_blocked(ar, g, buf);
    else
        gemm_unpacked(g);
}

/* C[M,N] = beta * C (beta == 0: zeros, whatever C held). */
static void gemm_scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, sizeof(float) * (size_t)N);
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Threads and entry points                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Number of threads for g: 1 when small or already inside a parallel region, else at most one per
 * unit_m rows or unit_n columns along the split dimension (*split_n: columns). */
static int gemm_threads(const gemm_args *g, int64_t unit_m, int64_t unit_n, int *split_n)
{
    const int64_t tiles_m = (g->M + unit_m - 1) / unit_m, tiles_n = (g->N + unit_n - 1) / unit_n;
    /* Each thread packs all of the operand along the dimension it does not split. With op(B) =
     * Bᵀ (a linear layer's weight [N, K]: a transposing pack) and N >= 2M, splitting M would
     * transpose the whole weight on every thread (BERT-mini at batch 1: M = 128, N = 256, the
     * pack ~20% of the product); split N then, while it has 4 tiles a thread. */
    *split_n = tiles_n >= tiles_m || (g->tb && g->N >= 2 * g->M && tiles_n >= 8);
#ifdef _OPENMP
    if ((double)g->M * (double)g->N * (double)g->K < DC_GEMM_PAR_MIN || omp_in_parallel())
        return 1;
    const int64_t tiles = *split_n ? tiles_n : tiles_m;
    const int nt = omp_get_max_threads();
    return tiles < nt ? (int)tiles : nt;
#else
    return 1;
#endif
}

/* Thread t's share of g split in nt: a contiguous range of whole units (unit rows or columns of
 * C; the last one may be partial) and the matching rows of op(A) or columns of op(B). */
static gemm_args gemm_share(const gemm_args *g, int split_n, int64_t unit, int t, int nt)
{
    gemm_args s = *g;
    const int64_t len = split_n ? g->N : g->M, units = (len + unit - 1) / unit;
    const int64_t lo = min_i64(len, units * t / nt * unit);
    const int64_t hi = min_i64(len, units * (t + 1) / nt * unit);
    if (split_n) {
        s.N = hi - lo;
        s.B = g->tb ? g->B + lo * g->ldb : g->B + lo;
        s.C = g->C + lo;
    } else {
        s.M = hi - lo;
        s.A = g->ta ? g->A + lo : g->A + lo * g->lda;
        s.C = g->C + lo * g->ldc;
    }
    return s;
}

/* Run fn on g on as many threads as it is worth (gemm_threads), each on its share of whole
 * unit_m rows or unit_n columns; ctx is passed through. */
typedef void (*gemm_share_fn)(const gemm_args *g, const void *ctx);

static void gemm_split(const gemm_args *g, int64_t unit_m, int64_t unit_n, gemm_share_fn fn,
                       const void *ctx)
{
    int split_n;
    const int nt = gemm_threads(g, unit_m, unit_n, &split_n);
    if (nt <= 1) {
        fn(g, ctx);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static, 1)
#endif
    for (int t = 0; t < nt; t++) {
        const gemm_args s = gemm_share(g, split_n, split_n ? unit_n : unit_m, t, nt);
        if (s.M > 0 && s.N > 0) fn(&s, ctx);
    }
}

typedef struct builtin_ctx {
    const gemm_arch *ar;
    gemm_path path;
} builtin_ctx;

static void builtin_share(const gemm_args *g, const void *ctx)
{
    const builtin_ctx *b = ctx;
    gemm_serial(b->ar, b->path, g);
}

/* g with the built-in kernels, on as many threads as it is worth. */
static void gemm_builtin(const gemm_args *g)
{
    const builtin_ctx b = {gemm_select_arch(), gemm_choose_path(gemm_select_arch(), g)};
    const int dot = b.path == GEMM_DOT;
    gemm_split(g, dot ? g->M : b.ar->mr, dot ? 8 : b.ar->nr, builtin_share, &b);
}

#ifdef DC_USE_CBLAS
void openblas_set_num_threads(int n);

/* Whether OpenBLAS can take g: its sizes fit in int and its strides are valid BLAS strides
 * (then every share of it fits too). */
static int cblas_fits(const gemm_args *g)
{
    const int64_t a_cols = g->ta ? g->M : g->K, b_cols = g->tb ? g->K : g->N;
    return g->M <= INT_MAX && g->N <= INT_MAX && g->K <= INT_MAX && g->lda <= INT_MAX &&
           g->ldb <= INT_MAX && g->ldc <= INT_MAX && g->lda >= a_cols && g->ldb >= b_cols &&
           g->ldc >= g->N;
}

static void cblas_call(const gemm_args *g)
{
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans,
                g->tb ? CblasTrans : CblasNoTrans, (int)g->M, (int)g->N, (int)g->K, g->alpha,
                g->A, (int)g->lda, g->B, (int)g->ldb, g->beta, g->C, (int)g->ldc);
}

static void cblas_one_thread(void) { openblas_set_num_threads(1); }

static void cblas_share(const gemm_args *g, const void *ctx)
{
    (void)ctx;
    cblas_call(g);
}

/* OpenBLAS on g, on one OpenBLAS thread: a product worth several threads is split along M or N
 * over deepc's own OpenMP threads, each share one OpenBLAS call. Two thread pools on the same
 * cores fight: OpenBLAS's idle workers spin in sched_yield while OpenMP's wait for the core
 * (LeNet-5 batch-256 inference at 2 threads: 69K img/s with OpenBLAS's own threads, 140K with
 * one pool). 0 (nothing done) when OpenBLAS cannot take g. */
static int gemm_cblas(const gemm_args *g)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (!cblas_fits(g))
        return 0;
    pthread_once(&once, cblas_one_thread);
    gemm_split(g, 16, 64, cblas_share, NULL);
    return 1;
}
#endif

/* See kernels.h. */
void dc_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        gemm_scale_c(M, N, beta, C, ldc);
        return;
    }
    const gemm_args g = {trans_a != 0, trans_b != 0, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc};
#ifdef DC_USE_CBLAS
    if (gemm_use_blas() && gemm_cblas(&g))
        return;
#endif
    gemm_builtin(&g);
}

/* See kernels.h: the packing's panel transpose, whole. */
void dc_k_transpose(int64_t rows, int64_t cols, const float *src, int64_t ld, float *dst,
                    int64_t ldd)
{
    if (rows > 0 && cols > 0)
        gemm_select_arch()->transpose(src, ld, (int)rows, cols, (int)ldd, dst);
}

/* See kernels.h. */
const char *dc_gemm_backend(void)
{
#ifdef DC_USE_CBLAS
    if (gemm_use_blas()) return "openblas";
#endif
    return gemm_select_arch()->name;
}

/* See kernels.h. */
void dc_gemm_force_builtin(int on) { g_force_builtin = on ? 1 : 0; }

/* See kernels.h. */
void dc_gemm_prefer_blas(void) { g_force_builtin = -1; }
