/*
 * gemm_avx512.h - what the AVX-512 micro-kernels of gemm_arch.c (float32) and gemm_bf16.c
 * (bfloat16) share: the store of one 16-lane vector of a tile row, the column masks. Include
 * after <immintrin.h> where DC_GEMM_X86.
 */
#ifndef DC_GEMM_AVX512_H
#define DC_GEMM_AVX512_H

/* c[lanes] = alpha * acc + beta * c[lanes] (beta == 0: c is not read). */
__attribute__((target("avx512f"), always_inline)) static inline void
avx512_store_vec(float *c, __m512 acc, float alpha, float beta, __mmask16 lanes)
{
    __m512 v = _mm512_mul_ps(_mm512_set1_ps(alpha), acc);
    if (beta != 0.0f) v = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(lanes, c), v);
    _mm512_mask_storeu_ps(c, lanes, v);
}

/* The table {NULL, P##1, ..., P##12} of a 12-row kernel's functions for m = 1..12 rows. */
#define AVX512_ROWS_TABLE(P)                                                                     \
    {NULL, P##1, P##2, P##3, P##4, P##5, P##6, P##7, P##8, P##9, P##10, P##11, P##12}

/* The lane masks of a tile row's first n <= 32 columns: n0 for lanes 0-15, n1 for 16-31. */
static inline void avx512_col_masks(int n, __mmask16 *n0, __mmask16 *n1)
{
    *n0 = (__mmask16)(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
    *n1 = (__mmask16)(n >= 32 ? 0xFFFFu : n <= 16 ? 0u : (1u << (n - 16)) - 1u);
}

#endif
