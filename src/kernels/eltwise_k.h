/*
 * eltwise_k.h - raw-pointer kernels for the elementwise ops, activations, softmax rows,
 * broadcasting binary loops, reductions, dimension swaps and block copies. No tensors, no tape:
 * pointers, sizes and strides only.
 *
 * Conventions: n is an element count; *_bwd kernels ADD (+=) into their gradient output (an input
 * may be used twice). Layouts "(outer, K, inner)" mean a contiguous array viewed as
 * [outer][K][inner] with the op working along K. Every result is independent of the OpenMP thread
 * count: work is split so that each output element is computed by one thread in a fixed order.
 */
#ifndef DC_KERNELS_ELTWISE_K_H
#define DC_KERNELS_ELTWISE_K_H

#include <stdint.h>

/* Elements below which a cheap elementwise loop stays on the calling thread. */
#define DC_K_PAR_MIN 65536

/* ---- unary elementwise: y = f(x; s) ---- */

typedef enum dc_k_unary {
    DC_K_NEG,        /* -x */
    DC_K_EXP,        /* e^x;        d = y */
    DC_K_LOG,        /* ln x;       d = 1/x */
    DC_K_SQRT,       /* √x;         d = 1/(2y) */
    DC_K_ABS,        /* |x|;        d = sign(x), 0 at 0 */
    DC_K_ADD_SCALAR, /* x + s */
    DC_K_MUL_SCALAR, /* x · s;      d = s */
    DC_K_POW_SCALAR  /* x^s;        d = s·x^(s-1) */
} dc_k_unary;

/* y[n] = f(x[n]) */
void dc_k_unary_fwd(dc_k_unary op, int64_t n, float s, const float *x, float *y);
/* dx[n] += dy ⊙ f'(x) (x and y are the forward input and output) */
void dc_k_unary_bwd(dc_k_unary op, int64_t n, float s, const float *x, const float *y,
                    const float *dy, float *dx);

/* ---- binary elementwise with broadcasting ---- */

typedef enum dc_k_binary { DC_K_ADD, DC_K_SUB, DC_K_MUL, DC_K_DIV } dc_k_binary;

/* Same shapes: y[n] = a op b */
void dc_k_binary_fwd(dc_k_binary op, int64_t n, const float *a, const float *b, float *y);
/* Same shapes: da += dy·∂y/∂a, db += dy·∂y/∂b (either may be NULL; they may alias). */
void dc_k_binary_bwd(dc_k_binary op, int64_t n, const float *a, const float *b, const float *y,
                     const float *dy, float *da, float *db);

/*
 * Broadcast: iterate the index space shape[nd] (nd 1..5) in row-major order, y contiguous;
 * y[i] = a[Σ idx·sa] op b[Σ idx·sb]. Strides are element strides, 0 on a broadcast dimension.
 * y may alias a when sa is the contiguous stride of shape.
 */
void dc_k_bcast_fwd(dc_k_binary op, int nd, const int64_t *shape, const float *a,
                    const int64_t *sa, const float *b, const int64_t *sb, float *y);
/*
 * Sum back to a broadcast operand: d[Σ idx·sd] += alpha · g[i] over the index space shape[nd],
 * g contiguous. Runs serially in row-major order, so the reduction order is fixed.
 */
void dc_k_sum_to(int nd, const int64_t *shape, const float *g, float alpha, float *d,
                 const int64_t *sd);

/* ---- activations ---- */

void dc_k_relu_fwd(int64_t n, const float *x, float *y);                 /* max(0, x) */
/* max(0, v) as dc_relu computes it everywhere (fused epilogues too): NaN stays NaN, -0 stays. */
static inline float dc_k_relu(float v) { return v < 0.0f ? 0.0f : v; }
/* dx += dy·[y > 0]; with fresh, dx = dy·[y > 0] (dx not read) */
void dc_k_relu_bwd(int64_t n, const float *y, const float *dy, float *dx, int fresh);
/* The gradient through max(0, ·) at element i: dy[i] where the output y[i] > 0, else 0. dy is
 * loaded unconditionally, so loops over it vectorise (dc_k_relu_bwd, the fused batch norm). */
static inline float dc_k_relu_grad(const float *restrict y, const float *restrict dy, int64_t i)
{
    const float g = dy[i];
    return y[i] > 0.0f ? g : 0.0f;
}
void dc_k_leaky_relu_fwd(int64_t n, float slope, const float *x, float *y);
void dc_k_leaky_relu_bwd(int64_t n, float slope, const float *x, const float *dy, float *dx);
/* 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below: no overflow either way. */
void dc_k_sigmoid_fwd(int64_t n, const float *x, float *y);
void dc_k_sigmoid_bwd(int64_t n, const float *y, const float *dy, float *dx); /* += dy·y(1-y) */
void dc_k_tanh_fwd(int64_t n, const float *x, float *y);
void dc_k_tanh_bwd(int64_t n, const float *y, const float *dy, float *dx);    /* += dy·(1-y²) */
/* GELU, exact (erf) or approximate (tanh), PyTorch formulas. */
void dc_k_gelu_fwd(int64_t n, int approximate, const float *x, float *y);
/* dx = (store) or += (else) dy·gelu'(x). dx may be dy (in place). */
void dc_k_gelu_bwd(int64_t n, int approximate, int store, const float *x, const float *dy,
                   float *dx);
/* Inference epilogue of a linear layer: y[r, :] = gelu(y[r, :] + b) (b NULL: no bias) for R
 * rows of C, the exact GELU of dc_k_gelu_fwd (the bits of a bias add, then dc_k_gelu_fwd). */
void dc_k_bias_gelu(int64_t R, int64_t C, const float *b, float *y);

/*
 * Softmax / log-softmax along K of (outer, K, inner), max-subtracted.
 * scratch: 2·inner floats when inner > 1 (unused, may be NULL, when inner == 1).
 */
void dc_k_softmax_fwd(int64_t outer, int64_t K, int64_t inner, const float *x, float *y,
                      float *scratch);
/* dx += y ⊙ (dy − Σ_K dy·y); scratch: inner floats when inner > 1. */
void dc_k_softmax_bwd(int64_t outer, int64_t K, int64_t inner, const float *y, const float *dy,
                      float *dx, float *scratch);
void dc_k_log_softmax_fwd(int64_t outer, int64_t K, int64_t inner, const float *x, float *y,
                          float *scratch);
/* dx += dy − e^y · Σ_K dy; scratch: inner floats when inner > 1. */
void dc_k_log_softmax_bwd(int64_t outer, int64_t K, int64_t inner, const float *y,
                          const float *dy, float *dx, float *scratch);

/* ---- reductions ---- */

/* Σ x[n] in double: n is cut into at most 64 fixed blocks (boundaries depend on n only), summed
 * in parallel, and the block sums added in order. */
double dc_k_sum_all(int64_t n, const float *x);
/* y[outer, inner] = scale · Σ_K x[outer, K, inner], accumulated in double in a fixed order (a
 * whole row, inner == 1, as in dc_k_sum_all when outer == 1, else 8 interleaved partials). */
void dc_k_sum_axis(int64_t outer, int64_t K, int64_t inner, float scale, const float *x,
                   float *y);
/* dx[outer, K, inner] += scale · dy[outer, inner] */
void dc_k_sum_axis_bwd(int64_t outer, int64_t K, int64_t inner, float scale, const float *dy,
                       float *dx);
/* db[C] += Σ_r dy[r, C] over R rows, rows in order (bias gradients). */
void dc_k_col_sum_acc(int64_t R, int64_t C, const float *dy, float *db);
/* y[R, C] += b[C] on every row (bias epilogue). */
void dc_k_add_row(int64_t R, int64_t C, const float *b, float *y);

/* ---- copies ---- */

/* Swap two dimensions: src viewed as [outer, A, mid, B, inner] goes to dst [outer, B, mid, A,
 * inner] (dst (+)= when accumulate). Tiled 32 x 32 over (A, B). Transposes and their gradients. */
void dc_k_swap_dims(int64_t outer, int64_t A, int64_t mid, int64_t B, int64_t inner,
                    const float *src, float *dst, int accumulate);
/* A strided slice along K of (outer, K, inner): y[o, j, :] = x[o, start + j·step, :], j < cnt. */
void dc_k_slice_fwd(int64_t outer, int64_t K, int64_t inner, int64_t start, int64_t step,
                    int64_t cnt, const float *x, float *y);
/* dx[o, start + j·step, :] += dy[o, j, :] */
void dc_k_slice_bwd(int64_t outer, int64_t K, int64_t inner, int64_t start, int64_t step,
                    int64_t cnt, const float *dy, float *dx);
/* For o < outer: dst[o·ld_dst + j] (+)= src[o·ld_src + j], j < n (concat and its gradient). */
void dc_k_block_copy(int64_t outer, int64_t n, const float *src, int64_t ld_src, float *dst,
                     int64_t ld_dst, int accumulate);
/* dst[n] += src[n] */
void dc_k_acc(int64_t n, const float *src, float *dst);

#endif /* DC_KERNELS_ELTWISE_K_H */
