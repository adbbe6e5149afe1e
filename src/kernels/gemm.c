/*
 * gemm.c - single-precision GEMM for deepc: a built-in packed, cache-blocked kernel with runtime
 * SIMD dispatch, and an optional CBLAS (OpenBLAS) backend behind the same entry point.
 *
 *   C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C        (row-major, see kernels.h)
 *
 * Blocking scheme (GotoBLAS / BLIS, written for row-major C):
 *
 *   for jc in N step NC                    B block      op(B)[KC,NC] packed once  -> Bp (L3/L2)
 *     for pc in K step KC                  the K reduction, always in order 0, KC, 2KC, ...
 *       pack op(B)[pc:+KC, jc:+NC] into NR-column panels: Bp[j/NR][k][NR]
 *       for ic in M step MC
 *         pack op(A)[ic:+MC, pc:+KC] into MR-row panels:  Ap[i/MR][k][MR]       (L2)
 *         for jr in NC step NR             one B micro-panel (KC x NR, in L1) ...
 *           for ir in MC step MR           ... meets every A micro-panel (MR x KC)
 *             micro-kernel: C[ir:+MR, jr:+NR] = alpha * Ap_ir · Bp_jr + beta' * C
 *
 * The micro-kernel keeps the MR x NR tile of C in vector registers: per k it loads one NR-wide
 * row of the B panel and broadcasts the MR values of the A panel (MR*NR/W FMAs). beta' is the
 * caller's beta for the first K block and 1 afterwards. Panels are zero-padded to MR/NR, so the
 * kernel never branches on size; a tile sticking out of C is computed into a local MR x NR tile
 * and copied back (same instructions, so edge and interior elements round identically).
 *
 * Kernels (chosen at run time with __builtin_cpu_supports; the file builds with plain -O3):
 *   AVX-512F   MR x NR = 12 x 32  (24 zmm accumulators)
 *   AVX2+FMA   MR x NR =  6 x 16  (12 ymm accumulators)
 *   generic    MR x NR =  4 x 8   (portable C, auto-vectorised; also the only path off x86-64)
 *
 * Threads: OpenMP splits C into one contiguous range of rows or columns per thread (aligned to
 * MR/NR); every thread runs the whole blocked algorithm on its range with its own pack buffers.
 * K is never split and the K blocking depends on K alone, so each C element sees the same
 * sequence of floating-point operations for any thread count: results are bitwise identical.
 * Small products (M*N*K below DC_GEMM_PAR_MIN) stay on the calling thread.
 *
 * Memory: the pack buffers are thread-local (_Thread_local pointer + capacity), grown on demand
 * and reused, so the steady state does no allocation. They live as long as their thread (OpenMP
 * pool threads and the main thread keep theirs until exit; a short-lived thread leaks its buffer
 * of at most a few MB). If allocation fails, a slow unpacked loop computes the same product.
 */
#define _POSIX_C_SOURCE 200809L

#include "kernels.h"

#include <stddef.h>
#include <stdint.h>
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

/* Work (M*N*K multiply-adds) below which dc_gemm does not start threads. */
#ifndef DC_GEMM_PAR_MIN
#define DC_GEMM_PAR_MIN 262144.0
#endif

/* Largest micro-tile over all kernels (sizes the on-stack edge tile). */
#define DC_GEMM_MAX_MR 16
#define DC_GEMM_MAX_NR 32

/* Micro-kernel: C[m,n] (row stride ldc) = alpha * sum_k Ap[k][0:m]^T Bp[k][0:n] + beta * C for
 * m <= MR, n <= NR, where Ap is a packed MR x kc panel ([kc][MR]) and Bp a packed kc x NR panel
 * ([kc][NR], 64-byte aligned), both zero-padded. beta == 0 overwrites C without reading it.
 * kc >= 1. Every element gets the same operation sequence whatever m and n are. */
typedef void (*gemm_ukernel)(int64_t kc, const float *restrict ap, const float *restrict bp,
                             float *restrict c, int64_t ldc, float alpha, float beta, int m,
                             int n);

/* dst[k*w + r] = src[r*ld + k] for r < rows, k < kc: rows of src become columns of a panel. */
typedef void (*gemm_transpose_fn)(const float *restrict src, int64_t ld, int rows, int64_t kc,
                                  int w, float *restrict dst);

/* One kernel with its packing and blocking (mc % mr == 0, nc % nr == 0, kc % 8 == 0). */
typedef struct gemm_arch {
    const char *name;
    gemm_ukernel kernel;
    gemm_transpose_fn transpose;
    int mr, nr;
    int64_t mc, kc, nc;
} gemm_arch;

/* Set by dc_gemm_force_builtin(); only read by dc_gemm. */
static int g_force_builtin;

static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* A kernel that only does full MR x NR tiles (same arguments as gemm_ukernel without m, n). */
typedef void (*gemm_full_kernel)(int64_t kc, const float *restrict ap, const float *restrict bp,
                                 float *restrict c, int64_t ldc, float alpha, float beta);

/* Partial tile C[m,n] through a full kernel: run it on a local mr x nr copy of the tile, then copy
 * the m x n part back. Same instructions as a full tile, so the same rounding. */
static void tile_via_buffer(gemm_full_kernel full, int mr, int nr, int64_t kc, const float *ap,
                            const float *bp, float *c, int64_t ldc, float alpha, float beta, int m,
                            int n)
{
    _Alignas(64) float tile[DC_GEMM_MAX_MR * DC_GEMM_MAX_NR];
    if (beta != 0.0f) {
        memset(tile, 0, sizeof(float) * (size_t)mr * (size_t)nr);
        for (int i = 0; i < m; i++) memcpy(tile + i * nr, c + i * ldc, sizeof(float) * (size_t)n);
    }
    full(kc, ap, bp, tile, nr, alpha, beta);
    for (int i = 0; i < m; i++) memcpy(c + i * ldc, tile + i * nr, sizeof(float) * (size_t)n);
}

/* ------------------------------------------------------------------------------------------ */
/* Portable kernel and packing                                                                 */
/* ------------------------------------------------------------------------------------------ */

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
                            float *restrict c, int64_t ldc, float alpha, float beta, int m, int n)
{
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

/* Full AVX2+FMA 6 x 16 tile; shapes as gemm_full_kernel. 12 ymm accumulators, 2 B loads and
 * 6 broadcasts per k. */
__attribute__((target("avx2,fma"))) static void
full_avx2_6x16(int64_t kc, const float *restrict ap, const float *restrict bp, float *restrict c,
               int64_t ldc, float alpha, float beta)
{
    __m256 c0[6], c1[6];
    for (int r = 0; r < 6; r++) c0[r] = c1[r] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        for (int r = 0; r < 6; r++) {
            const __m256 a = _mm256_broadcast_ss(ap + r);
            c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
        }
        ap += 6;
        bp += 16;
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int r = 0; r < 6; r++) {
        float *cr = c + r * ldc;
        __m256 v0 = _mm256_mul_ps(va, c0[r]), v1 = _mm256_mul_ps(va, c1[r]);
        if (beta != 0.0f) {
            v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), v0);
            v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), v1);
        }
        _mm256_storeu_ps(cr, v0);
        _mm256_storeu_ps(cr + 8, v1);
    }
}

/* gemm_ukernel for the AVX2 6 x 16 tile. */
__attribute__((target("avx2,fma"))) static void
ukernel_avx2(int64_t kc, const float *restrict ap, const float *restrict bp, float *restrict c,
             int64_t ldc, float alpha, float beta, int m, int n)
{
    if (m == 6 && n == 16)
        full_avx2_6x16(kc, ap, bp, c, ldc, alpha, beta);
    else
        tile_via_buffer(full_avx2_6x16, 6, 16, kc, ap, bp, c, ldc, alpha, beta, m, n);
}

#define A512_MR 12
#define A512_NR 32

/*
 * AVX-512 micro-kernel body for the first m rows of a 12 x 32 tile; shapes as gemm_ukernel, with
 * the n columns given as two 16-lane masks. 2*m zmm accumulators; per k, 2 B loads and m
 * broadcasts. Inlined into one function per m, so m is a constant and the loops unroll.
 */
__attribute__((target("avx512f"), always_inline)) static inline void
avx512_body(const int m, int64_t kc, const float *restrict ap, const float *restrict bp,
            float *restrict c, int64_t ldc, float alpha, float beta, __mmask16 n0, __mmask16 n1)
{
    __m512 c0[A512_MR], c1[A512_MR];
    for (int r = 0; r < m; r++) {
        c0[r] = c1[r] = _mm512_setzero_ps();
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + 31), _MM_HINT_T0);
    }
    for (int64_t k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
        for (int r = 0; r < m; r++) {
            const __m512 a = _mm512_set1_ps(ap[r]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
        ap += A512_MR;
        bp += A512_NR;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < m; r++) {
        float *cr = c + r * ldc;
        __m512 v0 = _mm512_mul_ps(va, c0[r]), v1 = _mm512_mul_ps(va, c1[r]);
        if (beta != 0.0f) {
            v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(n0, cr), v0);
            v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(n1, cr + 16), v1);
        }
        _mm512_mask_storeu_ps(cr, n0, v0);
        _mm512_mask_storeu_ps(cr + 16, n1, v1);
    }
}

typedef void (*avx512_rows_fn)(int64_t kc, const float *restrict ap, const float *restrict bp,
                               float *restrict c, int64_t ldc, float alpha, float beta,
                               __mmask16 n0, __mmask16 n1);

#define DC_A512_ROWS(M_)                                                                         \
    __attribute__((target("avx512f"))) static void avx512_rows_##M_(                            \
        int64_t kc, const float *restrict ap, const float *restrict bp, float *restrict c,      \
        int64_t ldc, float alpha, float beta, __mmask16 n0, __mmask16 n1)                       \
    {                                                                                            \
        avx512_body(M_, kc, ap, bp, c, ldc, alpha, beta, n0, n1);                                \
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
                           float *restrict c, int64_t ldc, float alpha, float beta, int m, int n)
{
    static const avx512_rows_fn rows[A512_MR + 1] = {
        NULL,            avx512_rows_1,  avx512_rows_2, avx512_rows_3, avx512_rows_4,
        avx512_rows_5,   avx512_rows_6,  avx512_rows_7, avx512_rows_8, avx512_rows_9,
        avx512_rows_10,  avx512_rows_11, avx512_rows_12};
    const unsigned n0 = n >= 16 ? 0xFFFFu : (1u << n) - 1u;
    const unsigned n1 = n >= 32 ? 0xFFFFu : n <= 16 ? 0u : (1u << (n - 16)) - 1u;
    rows[m](kc, ap, bp, c, ldc, alpha, beta, (__mmask16)n0, (__mmask16)n1);
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
        for (int64_t k = 0; k < kc8; k += 8) transpose_8x8(src + r * ld + k, ld, dst + k * w + r, w);
    for (; r + 4 <= rows; r += 4)
        for (int64_t k = 0; k < kc8; k += 8) transpose_4x8(src + r * ld + k, ld, dst + k * w + r, w);
    for (int i = 0; i < rows; i++) /* rows r.. entirely, and the k tail of every row */
        for (int64_t k = i < r ? kc8 : 0; k < kc; k++) dst[k * w + i] = src[i * ld + k];
}

#ifndef DC_GEMM_KC512
#define DC_GEMM_KC512 256
#endif
#ifndef DC_GEMM_MC512
#define DC_GEMM_MC512 192
#endif
#ifndef DC_GEMM_NC512
#define DC_GEMM_NC512 512
#endif

static const gemm_arch arch_avx512 = {"builtin-avx512", ukernel_avx512, transpose_avx2, A512_MR,
                                      A512_NR, DC_GEMM_MC512, DC_GEMM_KC512, DC_GEMM_NC512};
static const gemm_arch arch_avx2 = {"builtin-avx2", ukernel_avx2, transpose_avx2, 6, 16, 96, 256,
                                    512};
#endif /* DC_GEMM_X86 */

static const gemm_arch arch_generic = {"builtin-generic", ukernel_generic, transpose_generic, 4, 8,
                                       128, 256, 512};

/* Highest kernel dc_gemm may pick (for tests and benchmarks): 2 AVX-512, 1 AVX2, 0 generic. */
#ifndef DC_GEMM_MAX_ISA
#define DC_GEMM_MAX_ISA 2
#endif

/* The kernel for this CPU. Cheap (a few loads), so it is asked on every call, not cached. */
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
/* Blocked driver                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* C[mc,nc] (row stride ldc) = alpha * Ap · Bp + beta * C for packed blocks Ap (mc x kc, in
 * mr-row panels) and Bp (kc x nc, in nr-column panels), tile by tile. */
static void macro_kernel(const gemm_arch *ar, int64_t mc, int64_t nc, int64_t kc, float alpha,
                         const float *Ap, const float *Bp, float beta, float *C, int64_t ldc)
{
    const int mr = ar->mr, nr = ar->nr;
#ifndef DC_JR_OUTER
    for (int64_t ir = 0; ir < mc; ir += mr) {
        const int mb = (int)min_i64(mr, mc - ir);
        for (int64_t jr = 0; jr < nc; jr += nr) {
            const int nb = (int)min_i64(nr, nc - jr);
#else
    for (int64_t jr = 0; jr < nc; jr += nr) {
        const int nb = (int)min_i64(nr, nc - jr);
        for (int64_t ir = 0; ir < mc; ir += mr) {
            const int mb = (int)min_i64(mr, mc - ir);
#endif
            ar->kernel(kc, Ap + ir * kc, Bp + jr * kc, C + ir * ldc + jr, ldc, alpha, beta, mb, nb);
        }
    }
}

/* The K block size for a given K: <= ar->kc, a multiple of 8, and the blocks near equal so the
 * last one is not tiny. Depends on K and the kernel only (never on threads), which keeps results
 * bitwise reproducible. */
static int64_t gemm_kc(const gemm_arch *ar, int64_t K)
{
    const int64_t nblk = (K + ar->kc - 1) / ar->kc;
    return min_i64(ar->kc, round_up((K + nblk - 1) / nblk, 8));
}

/*
 * The blocked algorithm (see the file comment) on op(A)[M,K] · op(B)[K,N] into C[M,N], with the
 * pack buffer buf of gemm_buf_floats(ar, M, N, K) floats. M, N, K >= 1.
 */
static void gemm_blocked(const gemm_arch *ar, int ta, int tb, int64_t M, int64_t N, int64_t K,
                         float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                         float beta, float *C, int64_t ldc, float *buf)
{
    const int64_t KC = gemm_kc(ar, K);
    const int64_t MC = min_i64(ar->mc, round_up(M, ar->mr));
    float *Ap = buf, *Bp = buf + round_up(MC * KC, 16);
    for (int64_t jc = 0; jc < N; jc += ar->nc) {
        const int64_t nc = min_i64(ar->nc, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = min_i64(KC, K - pc);
            const float beta_k = pc == 0 ? beta : 1.0f;
            pack_b(ar, tb, tb ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, kc, nc, Bp);
            for (int64_t ic = 0; ic < M; ic += MC) {
                const int64_t mc = min_i64(MC, M - ic);
                pack_a(ar, ta, ta ? A + pc * lda + ic : A + ic * lda + pc, lda, mc, kc, Ap);
                macro_kernel(ar, mc, nc, kc, alpha, Ap, Bp, beta_k, C + ic * ldc + jc, ldc);
            }
        }
    }
}

/* Floats of pack buffer gemm_blocked needs for an [M,N,K] problem. */
static size_t gemm_buf_floats(const gemm_arch *ar, int64_t M, int64_t N, int64_t K)
{
    const int64_t KC = gemm_kc(ar, K);
    const int64_t MC = min_i64(ar->mc, round_up(M, ar->mr));
    const int64_t NC = min_i64(ar->nc, round_up(N, ar->nr));
    return (size_t)(round_up(MC * KC, 16) + KC * NC);
}

/* This thread's pack buffer, grown to at least n floats (64-byte aligned); NULL if out of
 * memory. The buffer is owned by the thread and reused by every later call on it. */
static float *gemm_thread_buffer(size_t n)
{
    static _Thread_local float *buf;
    static _Thread_local size_t cap;
    if (n > cap) {
        void *p = NULL;
        free(buf);
        buf = NULL;
        cap = 0;
        n = (n + 1023) & ~(size_t)1023; /* grow in 4 KiB steps */
        if (posix_memalign(&p, 64, n * sizeof(float)) != 0) return NULL;
        buf = p;
        cap = n;
    }
    return buf;
}

/* Unpacked fallback when no pack buffer can be had: same semantics, slow. */
static void gemm_unpacked(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                          float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++)
                s += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
            float v = alpha * s;
            if (beta != 0.0f) v += beta * C[i * ldc + j];
            C[i * ldc + j] = v;
        }
}

/* One thread's share: the blocked algorithm with this thread's buffer (or the fallback). */
static void gemm_serial(const gemm_arch *ar, int ta, int tb, int64_t M, int64_t N, int64_t K,
                        float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                        float beta, float *C, int64_t ldc)
{
    float *buf = gemm_thread_buffer(gemm_buf_floats(ar, M, N, K));
    if (buf)
        gemm_blocked(ar, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, buf);
    else
        gemm_unpacked(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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

/* Number of threads for an [M,N,K] product: 1 when small or already inside a parallel region,
 * never more than the number of mr/nr tiles along the split dimension (*split_n, see below). */
static int gemm_threads(const gemm_arch *ar, int64_t M, int64_t N, int64_t K, int *split_n)
{
    const int64_t tiles_m = (M + ar->mr - 1) / ar->mr, tiles_n = (N + ar->nr - 1) / ar->nr;
    *split_n = tiles_n >= tiles_m;
#ifdef _OPENMP
    if ((double)M * (double)N * (double)K < DC_GEMM_PAR_MIN || omp_in_parallel()) return 1;
    const int64_t tiles = *split_n ? tiles_n : tiles_m;
    const int nt = omp_get_max_threads();
    return tiles < nt ? (int)tiles : nt;
#else
    (void)K;
    return 1;
#endif
}

/* Split the product over nt threads: thread t gets a contiguous, tile-aligned range of columns
 * (split_n) or rows of C and runs gemm_serial on it. */
static void gemm_parallel(const gemm_arch *ar, int nt, int split_n, int ta, int tb, int64_t M,
                          int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    const int64_t unit = split_n ? ar->nr : ar->mr, len = split_n ? N : M;
    const int64_t tiles = (len + unit - 1) / unit;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static, 1)
#endif
    for (int t = 0; t < nt; t++) {
        const int64_t lo = min_i64(len, tiles * t / nt * unit);
        const int64_t hi = min_i64(len, tiles * (t + 1) / nt * unit);
        if (hi <= lo) continue;
        if (split_n)
            gemm_serial(ar, ta, tb, M, hi - lo, K, alpha, A, lda,
                        tb ? B + lo * ldb : B + lo, ldb, beta, C + lo, ldc);
        else
            gemm_serial(ar, ta, tb, hi - lo, N, K, alpha, ta ? A + lo : A + lo * lda, lda,
                        B, ldb, beta, C + lo * ldc, ldc);
    }
}

#ifdef DC_USE_CBLAS
/* cblas_sgemm on the product when its sizes fit in int and its strides are valid BLAS strides;
 * returns 0 (doing nothing) otherwise, so the caller falls back to the built-in kernel. */
static int gemm_cblas(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc)
{
    const int64_t a_cols = ta ? M : K, b_cols = tb ? K : N;
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX ||
        ldc > INT_MAX || lda < a_cols || ldb < b_cols || ldc < N)
        return 0;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
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
#ifdef DC_USE_CBLAS
    if (!g_force_builtin &&
        gemm_cblas(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
#endif
    const gemm_arch *ar = gemm_select_arch();
    int split_n;
    const int nt = gemm_threads(ar, M, N, K, &split_n);
    if (nt <= 1)
        gemm_serial(ar, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        gemm_parallel(ar, nt, split_n, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta,
                      C, ldc);
}

/* See kernels.h. */
const char *dc_gemm_backend(void)
{
#ifdef DC_USE_CBLAS
    if (!g_force_builtin) return "openblas";
#endif
    return gemm_select_arch()->name;
}

/* See kernels.h. */
void dc_gemm_force_builtin(int on) { g_force_builtin = on != 0; }
