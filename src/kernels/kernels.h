/*
 * kernels.h - raw-pointer compute kernels of deepc (GEMM, im2col, conv, pooling, fused cells,
 * softmax-CE, eltwise). Kernels know nothing of tensors or tapes: they take pointers, sizes and
 * strides only, so they can be tested, benchmarked and replaced on their own.
 *
 * Each kernel family has its own section below; append new sections, do not reorder.
 */
#ifndef DC_KERNELS_H
#define DC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The GEMM functions below are also public API (include/deepc.h declares them with DC_API):
 * gemm.c builds without deepc.h (bench/bench_gemm.c), so they carry the marker here too. */
#ifndef DC_API
#if defined(__GNUC__) || defined(__clang__)
#define DC_API __attribute__((visibility("default")))
#else
#define DC_API
#endif
#endif

/* ------------------------------------------------------------------------------------------ */
/* gemm                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/*
 * dc_gemm - single-precision general matrix multiply, row-major (like C, NOT like Fortran BLAS).
 *
 * C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C[M,N]
 *
 * op(A) = A     (stored [M,K], row stride lda >= K)  if !trans_a
 *       = A^T   (A stored [K,M], row stride lda >= M) if trans_a
 * op(B) = B     (stored [K,N], row stride ldb >= N)  if !trans_b
 *       = B^T   (B stored [N,K], row stride ldb >= K) if trans_b
 * C     [M,N], row stride ldc >= N.
 *
 * BLAS semantics: beta == 0 overwrites C (NaN/Inf already in C are ignored); alpha == 0 or K == 0
 * gives C = beta * C without reading A or B; M == 0 or N == 0 does nothing. C must not alias A
 * or B. The result is bitwise identical for any OpenMP thread count (threads split M or N only,
 * never the K reduction). Uses OpenBLAS when built with -DDC_USE_CBLAS (unless forced built-in).
 * Thread-safe: may be called concurrently from several threads (pack buffers are per thread).
 */
DC_API void dc_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                    float *C, int64_t ldc);

/* Name of the backend dc_gemm uses now: "openblas", "builtin-avx512", "builtin-avx2" or
 * "builtin-generic". A constant string. */
DC_API const char *dc_gemm_backend(void);

/* This thread's scratch of at least n floats (64-byte aligned; NULL if out of memory): the
 * GEMM's pack buffer, lent to other kernels that call no GEMM while they hold it. Valid until
 * the thread's next dc_gemm or dc_k_thread_buffer call, and so until its next direct
 * convolution (dc_k_conv_direct_fwd: the CHANS and Winograd kernels take it). */
float *dc_k_thread_buffer(size_t n);

/* dst[c·ldd + r] = src[r·ld + c] for r < rows, c < cols (rows, ldd < 2^31): register-blocked
 * transposes where the CPU has AVX2. */
void dc_k_transpose(int64_t rows, int64_t cols, const float *src, int64_t ld, float *dst,
                    int64_t ldd);

/*
 * dc_gemm_pack_b - op(B) [K, N] packed once into the layout the built-in kernel reads, for many
 * products with it (a frozen model's weights: dc_model_freeze). op(B) may come in n_parts (1..4)
 * column blocks side by side: part i is op(B_i) [K, N[i]] with B_i = B[i] stored as dc_gemm's
 * trans_b says, row stride ldb[i]; N = N[0] + ... (the query, key and value weights of a layer
 * as one product). The sources are not copied but remembered: products the packed layout does
 * not serve (the dot-product path of small M, an OpenBLAS backend) read them, so they must stay
 * valid and unchanged while the pack is used. K >= 1, N[i] >= 1. NULL when out of memory or
 * given bad sizes. Free with dc_gemm_packed_free; dc_gemm_packed_bytes is its size (~4 K N bytes).
 */
typedef struct dc_gemm_packed dc_gemm_packed;
dc_gemm_packed *dc_gemm_pack_b(int trans_b, int64_t K, int n_parts, const int64_t *N,
                               const float *const *B, const int64_t *ldb);
void dc_gemm_packed_free(dc_gemm_packed *p);
size_t dc_gemm_packed_bytes(const dc_gemm_packed *p);
/*
 * dc_gemm_packed_run - C[M, N] = alpha * op(A)[M, K] · op(B) + beta * C with op(B) from p (A,
 * lda, C, ldc and the BLAS semantics as dc_gemm). For a float32 pack: bitwise what
 * dc_gemm(trans_a, trans_b, M, N[i], K, ...) gives for each part i into C's columns N[0] + ...
 * + N[i-1] onwards, at any thread count (a bfloat16 pack: dc_gemm_pack_b_bf16); B is not packed
 * again (only A, as always).
 */
void dc_gemm_packed_run(int trans_a, int64_t M, float alpha, const float *A, int64_t lda,
                        const dc_gemm_packed *p, float beta, float *C, int64_t ldc);

/*
 * dc_gemm_pack_b_bf16 - dc_gemm_pack_b for bfloat16 products: op(B) rounded to bfloat16 (to
 * nearest, ties to even) and packed in pairs along K (gemm_bf16.c). dc_gemm_packed_run with it
 * rounds op(A) to bfloat16 as it packs it and accumulates the exact products in float32: C =
 * alpha * Σ_k bf16(a_ik)·bf16(b_kj) + beta * C, by the AVX512-BF16 kernel where the CPU has it,
 * else a portable one. Not bitwise dc_gemm's (nor, across those two kernels, each other's); the
 * same bits at any thread count. About 2 K N bytes. dc_gemm_packed_is_bf16: 1 for such a pack.
 */
dc_gemm_packed *dc_gemm_pack_b_bf16(int trans_b, int64_t K, int n_parts, const int64_t *N,
                                    const float *const *B, const int64_t *ldb);
int dc_gemm_packed_is_bf16(const dc_gemm_packed *p);

/* bfloat16 <-> float: dc_k_bf16_round rounds to nearest, ties to even (a NaN stays a NaN);
 * dc_k_bf16_float is exact. */
uint16_t dc_k_bf16_round(float x);
float dc_k_bf16_float(uint16_t h);

/* on != 0: bfloat16 products use the portable kernel even where AVX512-BF16 is there (tests);
 * process-wide, read when a product runs (packs made before are served too); set it while no
 * product runs. dc_k_gemm_bf16_name: the kernel products use now ("bf16-avx512",
 * "bf16-generic"). */
void dc_k_gemm_bf16_force_portable(int on);
const char *dc_k_gemm_bf16_name(void);

/* on != 0: use the built-in kernels even when built with -DDC_USE_CBLAS (tests comparing both);
 * 0: the default choice (OpenBLAS only where the built-in kernel has no AVX-512).
 * dc_gemm_prefer_blas: OpenBLAS whenever it is linked in. Process-wide; set them while no other
 * thread is inside dc_gemm. */
DC_API void dc_gemm_force_builtin(int on);
DC_API void dc_gemm_prefer_blas(void);

#ifdef __cplusplus
}
#endif

#endif /* DC_KERNELS_H */
