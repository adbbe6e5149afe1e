/*
 * gemm_int.h - what the GEMM's two files share (gemm.c: blocking, threads, entry points, packed
 * operands; gemm_arch.c: the micro-kernels, panel transposes and dot-product kernels of each
 * instruction set, and the choice among them). Not seen outside src/kernels.
 */
#ifndef DC_GEMM_INT_H
#define DC_GEMM_INT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DC_GEMM_X86 1
#else
#define DC_GEMM_X86 0
#endif

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
    int isa;            /* 2 AVX-512, 1 AVX2, 0 portable */
} gemm_arch;

/* The kernel family for this CPU (the best of AVX-512F, AVX2+FMA and portable C, capped by
 * DC_GEMM_MAX_ISA at compile time). Cheap (a few loads), so it is asked on every call. */
const gemm_arch *dc_k_gemm_arch(void);

/* ---- bfloat16 products (gemm_bf16.c) ---- */

enum { BF16_MR = 12, BF16_NR = 32, BF16_KC_ONE = 768, BF16_KC_MAX = 1024 };

/* bfloat16 micro-kernel: C[m,n] = alpha * Σ_p Σ_{h=0,1} a(p,h)·b(p,h) + beta * C for m <= 12,
 * n <= 32, kp >= 1 pairs: Ap is a panel [kp][12], Bp [kp][32] of uint32 words, each a pair of
 * bfloat16 (k = 2p in the low half, 2p + 1 in the high). beta == 0: C is not read. */
typedef void (*gemm_bf16_ukernel)(int64_t kp, const uint32_t *restrict ap,
                                  const uint32_t *restrict bp, float *restrict c, int64_t ldc,
                                  float alpha, float beta, int m, int n);

typedef struct gemm_bf16_arch {
    const char *name;
    gemm_bf16_ukernel kernel;
    int64_t mc, kc, nc; /* mc % 12, kc % 8 and nc % 32 == 0; kc, BF16_KC_ONE <= BF16_KC_MAX */
} gemm_bf16_arch;

/* The bfloat16 kernel for this CPU: AVX512-BF16's, else portable C. */
const gemm_bf16_arch *dc_k_gemm_bf16_arch(void);

/* Pack rows (rows <= w) of kc values into a panel dst [ceil(kc/2)][w] of bfloat16 pairs (rows
 * past `rows` and an odd kc's last high half zero): value k of row r is src[r*ld_x + k*ld_k]. */
void dc_k_bf16_pack(const float *src, int64_t ld_k, int64_t ld_x, int rows, int64_t kc, int w,
                    uint32_t *dst);

#endif
