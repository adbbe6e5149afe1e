/*
 * conv_k.h - raw-pointer kernels for 2-D convolution (im2col / col2im), pooling and batch
 * normalization. NCHW, float32, contiguous. They know nothing of tensors or tapes.
 *
 * Threads: every kernel splits its work over disjoint outputs (rows of col, N·C planes, channels)
 * and keeps each reduction inside one thread in a fixed order, so results are bitwise identical
 * for any OpenMP thread count. Small problems stay on the calling thread.
 */
#ifndef DC_CONV_K_H
#define DC_CONV_K_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* im2col / col2im                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Geometry of one convolution (per image). Padding may be asymmetric: pt/pl are the top/left
 * padding; the bottom/right padding only shows up through Ho/Wo. */
typedef struct dc_k_conv_geom {
    int64_t C, H, W;   /* input channels (all groups) and size */
    int64_t Ho, Wo;    /* output size */
    int kh, kw;        /* kernel */
    int sh, sw;        /* stride >= 1 */
    int pt, pl;        /* top / left zero padding >= 0 */
    int dh, dw;        /* dilation >= 1 */
} dc_k_conv_geom;

/*
 * dc_k_im2col - unfold nb images into columns.
 * col[(c·kh + p)·kw + q][n·P + i·Wo + j] = x[n, c, i·sh + p·dh - pt, j·sw + q·dw - pl]  (0 outside)
 * x [nb, C, H, W]; col [C·kh·kw, nb·P] with row stride nb·P, P = Ho·Wo. Overwrites col.
 */
void dc_k_im2col(const dc_k_conv_geom *g, int64_t nb, const float *x, float *col);

/*
 * dc_k_col2im_add - the adjoint of dc_k_im2col: dx[n, c, ih, iw] += every col entry that
 * im2col read from (n, c, ih, iw), in kernel-offset order (p, q). col [C·kh·kw, nb·P];
 * dx [nb, C, H, W] is accumulated into.
 */
void dc_k_col2im_add(const dc_k_conv_geom *g, int64_t nb, const float *col, float *dx);

/* ------------------------------------------------------------------------------------------ */
/* direct convolution (conv_direct.c)                                                          */
/* ------------------------------------------------------------------------------------------ */

/* How dc_k_conv_direct_fwd computes a convolution: not at all (use im2col + GEMM), vectors along
 * output rows (few output channels), along output channels, or Winograd's F(2x2, 3x3). */
typedef enum dc_k_direct_layout {
    DC_K_DIRECT_NONE,
    DC_K_DIRECT_ROWS,
    DC_K_DIRECT_CHANS,
    DC_K_DIRECT_WINO /* 3x3 by Winograd's F(2x2, 3x3) (conv_wino.c) */
} dc_k_direct_layout;

/* The layout for g with O output channels and one group: NONE unless stride and dilation are 1,
 * the channel counts are small (C·kh·kw <= 1024, O <= 64) and this CPU has the kernels
 * (AVX-512); WINO where conv_wino.c's geometry fits. */
dc_k_direct_layout dc_k_conv_direct_layout(const dc_k_conv_geom *g, int64_t O);
/* Floats of the packed weights and biases, and of one image's padded copy (scratch). */
size_t dc_k_conv_direct_wfloats(const dc_k_conv_geom *g, int64_t O, dc_k_direct_layout L);
size_t dc_k_conv_direct_xfloats(const dc_k_conv_geom *g);
/* Pack w [O, C, kh, kw] and b [O] (or NULL) into wp for layout L (once per batch). */
void dc_k_conv_direct_pack(const dc_k_conv_geom *g, int64_t O, dc_k_direct_layout L,
                           const float *w, const float *b, float *wp);
/* How a direct convolution finishes its outputs, and what it fetches meanwhile. */
typedef struct dc_k_conv_out {
    const float *res;  /* [O, Ho, Wo] added to conv + b, or NULL */
    int relu;          /* then y = max(0, ·) */
    const void *next;  /* memory the caller reads next (its next image), pulled into L2 a line
                          at a time while the kernel computes, or NULL */
    size_t next_bytes;
    int stream;        /* y is part of an output larger than the caches: the Winograd kernel
                          writes it with streaming (non-temporal) stores where y is 64-byte
                          aligned; the others ignore it (WINO ignores next) */
} dc_k_conv_out;
/* y [O, Ho, Wo] = conv(x [C, H, W]) + b for one image, finished as *out says (NULL: as is);
 * xp: scratch of dc_k_conv_direct_xfloats(g), not the thread buffer (dc_k_thread_buffer).
 * ROWS and CHANS sum every output from b through its taps in the order (c, ky, kx), WINO
 * through its transforms and then adds b; then res. */
void dc_k_conv_direct_fwd(const dc_k_conv_geom *g, int64_t O, dc_k_direct_layout L,
                          const float *wp, const float *x, float *y, float *xp,
                          const dc_k_conv_out *out);
/* The same on an image already padded by dc_k_conv_direct_pad (xp, as the scratch above). */
void dc_k_conv_direct_pad(const dc_k_conv_geom *g, const float *x, float *xp);
void dc_k_conv_direct_fwd_padded(const dc_k_conv_geom *g, int64_t O, dc_k_direct_layout L,
                                 const float *wp, const float *xp, float *y,
                                 const dc_k_conv_out *out);
/* Backward. dX of one image is the forward convolution of its dy under the geometry *gx (from
 * dc_k_conv_direct_dx_geom; 0 if the padding does not allow it) with the weights that
 * dc_k_conv_direct_rotate writes: wr [C, O, kh, kw] = w [O, C, kh, kw] turned by 180°.
 * dc_k_conv_direct_dw: dw [O, C, kh, kw] += Σ_n Σ_(i,j) dy[n, o, i, j] · xp_n[c, i + ky, j + kx]
 * over the N padded images xp (image n at xp + n·xs), each element summed by one thread in a
 * fixed order (images, then pixels; the rows method then adds its 16 vector lanes); on the
 * OpenMP team when par. */
int dc_k_conv_direct_dx_geom(const dc_k_conv_geom *g, int64_t O, dc_k_conv_geom *gx);
void dc_k_conv_direct_rotate(const dc_k_conv_geom *g, int64_t O, const float *w, float *wr);
void dc_k_conv_direct_dw(const dc_k_conv_geom *g, int64_t O, int64_t N, const float *xp,
                         int64_t xs, const float *dy, float *dw, float *scratch, int par);
/* 1 when dc_k_conv_direct_dw goes by channel vectors here (O a multiple of 16, a 3x3 or 5x5
 * kernel, AVX-512): near the FMA peak at any size, where the rows method is good for few
 * weights only. */
int dc_k_conv_direct_dw_chans(const dc_k_conv_geom *g, int64_t O);
/* Floats of dc_k_conv_direct_dw's scratch: dy transposed for the channel-vector method, and its
 * partial sums between L2-sized passes over the images; or the rows method's partial sums
 * between its L1-sized passes; 0 when none applies. The channel-vector method needs it (with
 * scratch NULL dW goes by rows, in another order); without it the rows method runs all images
 * in one pass. */
size_t dc_k_conv_direct_dw_scratch(const dc_k_conv_geom *g, int64_t O, int64_t N);
/* Whether this CPU runs AVX-512F (the vector kernels of conv_direct.c and conv_k.c). */
int dc_k_have_avx512(void);
/* Tests: 1 makes the direct path use its portable scalar code (and accept any CPU). */
void dc_k_conv_direct_force_generic(int on);

/* ------------------------------------------------------------------------------------------ */
/* pooling                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Geometry of a pooling window sweep over one H x W plane (symmetric padding ph/pw). */
typedef struct dc_k_pool_geom {
    int64_t H, W, Ho, Wo;
    int kh, kw, sh, sw, ph, pw;
    int count_include_pad; /* avg: divisor is the window clipped to the padded input */
} dc_k_pool_geom;

/* Max pooling over `planes` planes: y[p, i, j] = max of the window (first max wins on ties, NaN
 * propagates), idx[p, i, j] = its position h·W + w in the plane. x [planes, H, W];
 * y, idx [planes, Ho, Wo]. Every window must hold at least one input element. */
/* 2x2 windows, stride 2, no padding: idx may then be NULL (values only, for inference). */
int dc_k_max_pool_is_2x2(const dc_k_pool_geom *g);
void dc_k_max_pool_fwd(const dc_k_pool_geom *g, int64_t planes, const float *x, float *y,
                       int32_t *idx);
/* dx[p, idx[p, i, j]] += dy[p, i, j]; with fresh, each plane of dx is zeroed first. */
void dc_k_max_pool_bwd(const dc_k_pool_geom *g, int64_t planes, const float *dy, int fresh,
                       const int32_t *idx, float *dx);

/* Average pooling with PyTorch's divisor: count_include_pad ? (window clipped to H+ph, W+pw)
 * : (window clipped to the input). x [planes, H, W] -> y [planes, Ho, Wo]. */
void dc_k_avg_pool_fwd(const dc_k_pool_geom *g, int64_t planes, const float *x, float *y);
/* dx[window of (i, j)] += dy[i, j] / divisor. */
void dc_k_avg_pool_bwd(const dc_k_pool_geom *g, int64_t planes, const float *dy, float *dx);

/* Adaptive average pooling: output row i averages input rows floor(i·H/Ho) .. ceil((i+1)·H/Ho)
 * (exclusive), likewise for columns. x [planes, H, W] -> y [planes, Ho, Wo]. */
void dc_k_adaptive_avg_fwd(int64_t H, int64_t W, int64_t Ho, int64_t Wo, int64_t planes,
                           const float *x, float *y);
/* dx[bin of (i, j)] += dy[i, j] / |bin|. */
void dc_k_adaptive_avg_bwd(int64_t H, int64_t W, int64_t Ho, int64_t Wo, int64_t planes,
                           const float *dy, float *dx);

/* ------------------------------------------------------------------------------------------ */
/* batch normalization over x [N, C, L] (L = H·W, or 1 for [N, C])                             */
/* ------------------------------------------------------------------------------------------ */

/* Σ x[0..n) in double over 8 fixed lanes (vectorisable; same result for any thread count). */
double dc_k_plane_sum_f64(const float *x, int64_t n);

/* Per channel c, over the M = N·L elements x[n, c, l]: mean[c] = Σ x / M and
 * var[c] = Σ (x - mean)² / M (biased), two passes in double, fixed order. */
void dc_k_bn_stats(int64_t N, int64_t C, int64_t L, const float *x, double *mean, double *var);

/* y[n, c, l] = x[n, c, l]·scale[c] + shift[c], then + res[n, c, l] when res != NULL, then
 * max(0, ·) when relu (NaN stays NaN) - the values of batch norm, add and ReLU run apart. */
void dc_k_bn_apply(int64_t N, int64_t C, int64_t L, const float *x, const float *scale,
                   const float *shift, const float *res, int relu, float *y);

/* The gradient reaching the batch norm is g = dy, or g = (y > 0 ? dy : 0) when y (the fused
 * ReLU's output) is given. Per channel: sum_dy[c] = Σ g, sum_dyxc[c] = Σ g·(x - mean[c]), in
 * double, fixed order; when gout != NULL, g is also stored there (gfresh) or added. */
void dc_k_bn_bwd_sums(int64_t N, int64_t C, int64_t L, const float *x, const float *dy,
                      const float *y, const float *mean, float *gout, int gfresh,
                      double *sum_dy, double *sum_dyxc);

/* dx[n, c, l] = (fresh) or += a[c]·g + b[c]·(x - mean[c]) + e[c], g as above. */
void dc_k_bn_bwd_dx(int64_t N, int64_t C, int64_t L, const float *x, const float *dy,
                    const float *y, const float *mean, const float *a, const float *b,
                    const float *e, float *dx, int fresh);

#ifdef __cplusplus
}
#endif

#endif /* DC_CONV_K_H */
