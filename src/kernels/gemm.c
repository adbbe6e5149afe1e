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
 * K block and 1 after it. Panels are zero-padded to MR / NR. The kernels (AVX-512F 12 x 32,
 * AVX2+FMA 6 x 16, portable 4 x 8), their panel transposes and the dot-product kernel are in
 * gemm_arch.c, chosen at run time.
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
#include "gemm_int.h"

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

/* One product C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C (arguments as dc_gemm). */
typedef struct gemm_args {
    int ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
    int64_t j0; /* the first column of this share in the whole product (a packed B's panels) */
} gemm_args;

/* How a product is computed; chosen from the whole product, never from one thread's share (the
 * two paths round differently). */
typedef enum gemm_path { GEMM_PACKED, GEMM_DOT } gemm_path;

/* Set by dc_gemm_force_builtin() (1) and dc_gemm_prefer_blas() (-1); 0 (the default) picks. */
static int g_force_builtin;

static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

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
    return dc_k_gemm_arch()->isa != 2;
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
        s.j0 = g->j0 + lo;
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

/* fn on each of nt shares of g: whole units of rows, or of columns when split_n. */
static void gemm_run_shares(const gemm_args *g, int nt, int split_n, int64_t unit,
                            gemm_share_fn fn, const void *ctx)
{
    if (nt <= 1) {
        fn(g, ctx);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static, 1)
#endif
    for (int t = 0; t < nt; t++) {
        const gemm_args s = gemm_share(g, split_n, unit, t, nt);
        if (s.M > 0 && s.N > 0) fn(&s, ctx);
    }
}

static void gemm_split(const gemm_args *g, int64_t unit_m, int64_t unit_n, gemm_share_fn fn,
                       const void *ctx)
{
    int split_n;
    const int nt = gemm_threads(g, unit_m, unit_n, &split_n);
    gemm_run_shares(g, nt, split_n, split_n ? unit_n : unit_m, fn, ctx);
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
    const builtin_ctx b = {dc_k_gemm_arch(), gemm_choose_path(dc_k_gemm_arch(), g)};
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
    const gemm_args g = {trans_a != 0, trans_b != 0, M, N, K, alpha, beta, A, B, C,
                         lda, ldb, ldc, 0};
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
        dc_k_gemm_arch()->transpose(src, ld, (int)rows, cols, (int)ldd, dst);
}

/* See kernels.h. */
const char *dc_gemm_backend(void)
{
#ifdef DC_USE_CBLAS
    if (gemm_use_blas()) return "openblas";
#endif
    return dc_k_gemm_arch()->name;
}

/* See kernels.h. */
void dc_gemm_force_builtin(int on) { g_force_builtin = on ? 1 : 0; }

/* See kernels.h. */
void dc_gemm_prefer_blas(void) { g_force_builtin = -1; }

/* ------------------------------------------------------------------------------------------ */
/* op(B) packed once (dc_gemm_pack_b), used by many products                                   */
/* ------------------------------------------------------------------------------------------ */

#define PACKED_MAX_PARTS 4

/* Products with a pack split their rows between threads from this M on; below it, as
 * gemm_threads says (the columns unless the rows have more tiles: dc_gemm_packed_run). */
#ifndef DC_GEMM_PACKED_ROWS_MIN
#define DC_GEMM_PACKED_ROWS_MIN 512
#endif

/* op(B) [K, N] as gemm_blocked packs it, for every K block and every column at once: K block
 * [pc, pc + kc) starts at data + pc * Npad and holds Npad / nr panels [kc][nr] (zero-padded
 * past N), so the panel of column j (a multiple of nr) is at data + pc * Npad + j * kc. */
struct dc_gemm_packed {
    const gemm_arch *ar; /* the kernel family it was packed for */
    int trans_b, n_parts;
    int64_t K, N, Npad, KC;
    const float *src[PACKED_MAX_PARTS]; /* the parts, for the products not served packed */
    int64_t n[PACKED_MAX_PARTS], ldb[PACKED_MAX_PARTS];
    float *data;
    /* bfloat16 packs (dc_gemm_pack_b_bf16) instead: K block [pc, pc + kc) at data16 + pc / 2 *
     * Npad, its panels [ceil(kc/2)][32] of pairs, the panel of column j at + j * ceil(kc/2) */
    const gemm_bf16_arch *bf;
    uint32_t *data16;
    size_t words16;
};

/* The value op(B)[k, j] of the parts side by side. */
static float packed_src_at(const dc_gemm_packed *p, int64_t k, int64_t j)
{
    int i = 0;
    while (j >= p->n[i]) j -= p->n[i++];
    return p->trans_b ? p->src[i][j * p->ldb[i] + k] : p->src[i][k * p->ldb[i] + j];
}

/* Pack the panel of columns [j, j + nb) of K block [pc, pc + kc) into dst [kc][nr]. */
static void packed_panel(const dc_gemm_packed *p, int64_t pc, int64_t kc, int64_t j, int nb,
                         float *dst)
{
    const int nr = p->ar->nr;
    int i = 0;
    int64_t jj = j;
    while (jj >= p->n[i]) jj -= p->n[i++];
    if (jj + nb <= p->n[i]) { /* inside one part: gemm_blocked's own packing */
        const float *b = p->trans_b ? p->src[i] + jj * p->ldb[i] + pc
                                    : p->src[i] + pc * p->ldb[i] + jj;
        pack_b(p->ar, p->trans_b, b, p->ldb[i], kc, nb, dst);
        return;
    }
    memset(dst, 0, sizeof(float) * (size_t)nr * (size_t)kc); /* across parts: one by one */
    for (int64_t k = 0; k < kc; k++)
        for (int c = 0; c < nb; c++) dst[k * nr + c] = packed_src_at(p, pc + k, j + c);
}

/* A pack without its data: the parts described, sizes checked (NULL if bad or no memory). */
static dc_gemm_packed *packed_new(int trans_b, int64_t K, int n_parts, const int64_t *N,
                                  const float *const *B, const int64_t *ldb)
{
    if (K < 1 || n_parts < 1 || n_parts > PACKED_MAX_PARTS)
        return NULL;
    dc_gemm_packed *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->ar = dc_k_gemm_arch();
    p->trans_b = trans_b != 0;
    p->n_parts = n_parts;
    p->K = K;
    for (int i = 0; i < n_parts; i++) {
        if (N[i] < 1) {
            free(p);
            return NULL;
        }
        p->src[i] = B[i];
        p->n[i] = N[i];
        p->ldb[i] = ldb[i];
        p->N += N[i];
    }
    return p;
}

/* See kernels.h. */
dc_gemm_packed *dc_gemm_pack_b(int trans_b, int64_t K, int n_parts, const int64_t *N,
                               const float *const *B, const int64_t *ldb)
{
    dc_gemm_packed *p = packed_new(trans_b, K, n_parts, N, B, ldb);
    if (!p)
        return NULL;
    p->Npad = round_up(p->N, p->ar->nr);
    p->KC = gemm_kc(p->ar, K);
    void *mem = NULL;
    if (posix_memalign(&mem, 64, sizeof(float) * (size_t)(K * p->Npad)) != 0) {
        free(p);
        return NULL;
    }
    p->data = mem;
    for (int64_t pc = 0; pc < K; pc += p->KC) {
        const int64_t kc = min_i64(p->KC, K - pc);
        for (int64_t j = 0; j < p->N; j += p->ar->nr)
            packed_panel(p, pc, kc, j, (int)min_i64(p->ar->nr, p->N - j),
                         p->data + pc * p->Npad + j * kc);
    }
    return p;
}

/* The K block size of bfloat16 packs: as gemm_kc, with the bfloat16 kernel's kc; but K up to
 * BF16_KC_ONE in one block, which spares a second pass over C (BERT-base at batch 8, the
 * products with K = 768, 1 thread: +8-14% against two blocks of 384; K = 3072 in blocks of 768
 * instead of 512 measured 7% slower). */
static int64_t bf16_kc(const gemm_bf16_arch *bf, int64_t K)
{
    if (K <= BF16_KC_ONE)
        return round_up(K, 8);
    const int64_t nblk = (K + bf->kc - 1) / bf->kc;
    return min_i64(bf->kc, round_up((K + nblk - 1) / nblk, 8));
}

/* See kernels.h. */
dc_gemm_packed *dc_gemm_pack_b_bf16(int trans_b, int64_t K, int n_parts, const int64_t *N,
                                    const float *const *B, const int64_t *ldb)
{
    dc_gemm_packed *p = packed_new(trans_b, K, n_parts, N, B, ldb);
    if (!p)
        return NULL;
    p->bf = dc_k_gemm_bf16_arch();
    p->Npad = round_up(p->N, BF16_NR);
    p->KC = bf16_kc(p->bf, K);
    const int64_t last = (K - 1) / p->KC * p->KC; /* the last block's start (even) */
    p->words16 = (size_t)(p->Npad * (last / 2 + (K - last + 1) / 2));
    void *mem = NULL;
    if (posix_memalign(&mem, 64, sizeof(uint32_t) * p->words16) != 0) {
        free(p);
        return NULL;
    }
    p->data16 = mem;
    for (int64_t pc = 0; pc < K; pc += p->KC) {
        const int64_t kc = min_i64(p->KC, K - pc), kp = (kc + 1) / 2;
        for (int64_t j = 0; j < p->N; j += BF16_NR) {
            const int nb = (int)min_i64(BF16_NR, p->N - j);
            uint32_t *dst = p->data16 + pc / 2 * p->Npad + j * kp;
            int i = 0;
            int64_t jj = j;
            while (jj >= p->n[i]) jj -= p->n[i++];
            if (jj + nb <= p->n[i]) { /* inside one part: column c of op(B) is a row of B_i ᵀ */
                const int64_t ld = p->ldb[i];
                const float *b = p->trans_b ? p->src[i] + jj * ld + pc : p->src[i] + pc * ld + jj;
                dc_k_bf16_pack(b, p->trans_b ? 1 : ld, p->trans_b ? ld : 1, nb, kc, BF16_NR, dst);
                continue;
            }
            memset(dst, 0, sizeof(uint32_t) * (size_t)(BF16_NR * kp)); /* across parts */
            for (int64_t k = 0; k < kc; k++)
                for (int c = 0; c < nb; c++) {
                    const uint32_t h = dc_k_bf16_round(packed_src_at(p, pc + k, j + c));
                    dst[k / 2 * BF16_NR + c] |= k % 2 ? h << 16 : h;
                }
        }
    }
    return p;
}

/* See kernels.h. */
void dc_gemm_packed_free(dc_gemm_packed *p)
{
    if (p) {
        free(p->data);
        free(p->data16);
    }
    free(p);
}

/* See kernels.h. */
size_t dc_gemm_packed_bytes(const dc_gemm_packed *p)
{
    if (!p)
        return 0;
    return sizeof *p + (p->data16 ? sizeof(uint32_t) * p->words16
                                  : sizeof(float) * (size_t)(p->K * p->Npad));
}

/* See kernels.h. */
int dc_gemm_packed_is_bf16(const dc_gemm_packed *p) { return p && p->data16; }

/* g's share of a bfloat16 product: packed_share's loops with A rounded into pairs as it is
 * packed, and the bfloat16 kernel. */
static void bf16_share(const gemm_args *g, const void *ctx)
{
    const dc_gemm_packed *p = ctx;
    const gemm_bf16_arch *bf = p->bf; /* the blocking the pack was made for */
    const gemm_bf16_ukernel kernel = dc_k_gemm_bf16_arch()->kernel; /* the CPU's, as of now */
    const int64_t KC = p->KC;
    int64_t MC = min_i64(bf->mc, round_up(g->M, BF16_MR));
    uint32_t *Ap = (uint32_t *)dc_k_thread_buffer((size_t)round_up(MC * (KC / 2), 16));
    uint32_t stack_panel[BF16_KC_MAX / 2 * BF16_MR]; /* KC <= BF16_KC_MAX */
    if (!Ap) { /* out of memory: blocks of one 12-row panel (a tile's sums do not change) */
        Ap = stack_panel;
        MC = BF16_MR;
    }
    for (int64_t jc = 0; jc < g->N; jc += bf->nc) {
        const int64_t nc = min_i64(bf->nc, g->N - jc);
        for (int64_t pc = 0; pc < g->K; pc += KC) {
            const int64_t kc = min_i64(KC, g->K - pc), kp = (kc + 1) / 2;
            const float beta = pc == 0 ? g->beta : 1.0f;
            const uint32_t *Bp = p->data16 + pc / 2 * p->Npad + (g->j0 + jc) * kp;
            for (int64_t ic = 0; ic < g->M; ic += MC) {
                const int64_t mc = min_i64(MC, g->M - ic);
                for (int64_t i = 0; i < mc; i += BF16_MR) {
                    const int64_t r = ic + i;
                    const float *a = g->ta ? g->A + pc * g->lda + r : g->A + r * g->lda + pc;
                    dc_k_bf16_pack(a, g->ta ? g->lda : 1, g->ta ? 1 : g->lda,
                                   (int)min_i64(BF16_MR, mc - i), kc, BF16_MR, Ap + i * kp);
                }
                for (int64_t jr = 0; jr < nc; jr += BF16_NR)
                    for (int64_t i = 0; i < mc; i += BF16_MR)
                        kernel(kp, Ap + i * kp, Bp + jr * kp, g->C + (ic + i) * g->ldc + jc + jr,
                               g->ldc, g->alpha, beta, (int)min_i64(BF16_MR, mc - i),
                               (int)min_i64(BF16_NR, nc - jr));
            }
        }
    }
}

/* gemm_blocked with B taken from the packed p: the same blocks, panels and kernel calls in the
 * same order, so the same bits. g's share starts at column g->j0 of p (a multiple of nr). */
static void packed_share(const gemm_args *g, const void *ctx)
{
    const dc_gemm_packed *p = ctx;
    const gemm_arch *ar = p->ar;
    const int64_t KC = p->KC, MC = min_i64(ar->mc, round_up(g->M, ar->mr));
    float *Ap = dc_k_thread_buffer((size_t)round_up(MC * KC, 16));
    if (!Ap) { /* no pack buffer: the unpacked loop, part by part */
        int64_t j = 0;
        for (int i = 0; i < p->n_parts; j += p->n[i++]) {
            const int64_t lo = j > g->j0 ? j : g->j0, hi = min_i64(j + p->n[i], g->j0 + g->N);
            if (lo >= hi)
                continue;
            gemm_args s = *g;
            s.tb = p->trans_b;
            s.N = hi - lo;
            s.B = p->trans_b ? p->src[i] + (lo - j) * p->ldb[i] : p->src[i] + (lo - j);
            s.ldb = p->ldb[i];
            s.C = g->C + (lo - g->j0);
            gemm_unpacked(&s);
        }
        return;
    }
    for (int64_t jc = 0; jc < g->N; jc += ar->nc) {
        const int64_t nc = min_i64(ar->nc, g->N - jc);
        for (int64_t pc = 0; pc < g->K; pc += KC) {
            const int64_t kc = min_i64(KC, g->K - pc);
            const float beta = pc == 0 ? g->beta : 1.0f;
            const float *Bp = p->data + pc * p->Npad + (g->j0 + jc) * kc;
            for (int64_t ic = 0; ic < g->M; ic += MC) {
                const int64_t mc = min_i64(MC, g->M - ic);
                pack_a(ar, g->ta, g->ta ? g->A + pc * g->lda + ic : g->A + ic * g->lda + pc,
                       g->lda, mc, kc, Ap);
                macro_kernel(ar, mc, nc, kc, g->alpha, Ap, Bp, ar->nr, ar->nr * kc, beta,
                             g->C + ic * g->ldc + jc, g->ldc);
            }
        }
    }
}

/* fn (packed_share or bf16_share) on the shares of g, a product with a pack, on mr x nr tiles.
 * Threads: B costs no packing now, while each thread packs all the rows of A it gets.
 * Many rows (M >= DC_GEMM_PACKED_ROWS_MIN): split the rows, by units of 4 into near-equal
 * shares, so that each thread packs only its share of A; each thread then streams all of B
 * once per block of its rows. BERT-base at batch 8 (1024 rows), 2 threads: +2.5% and +3.7%
 * in two alternated pairs against the split by columns. Fewer rows: as gemm_threads says,
 * the columns unless the rows have more tiles, so that each thread streams only its half of
 * B (at batch 1 it comes from memory on every forward) and packs all of the small A.
 * BERT-base at batch 1 (128 rows), 2 threads: 79.2 and 77.2 ms against 94.1 and 95.3 ms
 * split by rows (alternated).
 * The tiles compute each element the same way wherever a share starts: the same bits. */
static void packed_split(gemm_args g, int mr, int nr, gemm_share_fn fn, const dc_gemm_packed *p)
{
    g.tb = 0; /* the shares read the pack, not B */
    int split_n;
    const int nt = gemm_threads(&g, mr, nr, &split_n);
    if (nt > 1 && g.M >= 2 * (int64_t)mr * nt && g.M >= DC_GEMM_PACKED_ROWS_MIN)
        gemm_run_shares(&g, nt, 0, 4, fn, p);
    else
        gemm_run_shares(&g, nt, split_n, split_n ? nr : mr, fn, p);
}

/* See kernels.h. */
void dc_gemm_packed_run(int trans_a, int64_t M, float alpha, const float *A, int64_t lda,
                        const dc_gemm_packed *p, float beta, float *C, int64_t ldc)
{
    if (M <= 0)
        return;
    if (alpha == 0.0f) {
        gemm_scale_c(M, p->N, beta, C, ldc);
        return;
    }
    gemm_args g = {trans_a != 0, p->trans_b, M, p->N, p->K, alpha, beta, A, NULL, C,
                   lda, 0, ldc, 0};
    if (p->data16) { /* bfloat16: always this path; rows or columns shared as below */
        packed_split(g, BF16_MR, BF16_NR, bf16_share, p);
        return;
    }
    int direct = p->ar == dc_k_gemm_arch() && gemm_choose_path(p->ar, &g) == GEMM_PACKED;
#ifdef DC_USE_CBLAS
    direct = direct && !gemm_use_blas();
#endif
    if (!direct) { /* what dc_gemm does with each part */
        int64_t j = 0;
        for (int i = 0; i < p->n_parts; j += p->n[i++])
            dc_gemm(trans_a, p->trans_b, M, p->n[i], p->K, alpha, A, lda, p->src[i], p->ldb[i],
                    beta, C + j, ldc);
        return;
    }
    packed_split(g, p->ar->mr, p->ar->nr, packed_share, p);
}
