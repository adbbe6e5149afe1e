/*
 * conv_plan.h - how a 2-D convolution is computed: the plan (which algorithm runs forward, dX and
 * dW, what forward keeps for backward, how the work goes to threads, how much scratch each part
 * needs) and the executor that runs a plan over raw buffers.
 *
 * A plan is a pure function of the layer's shape, the thread count and what backward will need
 * (dc_k_conv_plan_make). It costs a few dozen comparisons, less than looking one up, so ops/conv.c
 * makes it on every call instead of caching it: the same shape always gets the same plan, which
 * is what makes results independent of anything but the shape (docs/design.md, "Convolution
 * algorithms").
 *
 * The algorithms (dc_k_conv_algo), each behind the one executor interface below and each checked
 * against a plain-loop convolution in tests/test_conv_plan.c:
 *
 *   GEMM      im2col + GEMM; dX by GEMM + col2im; dW by GEMM over the columns (kept from forward
 *             when they fit in KEEP_COLS floats, else recomputed)
 *   GEMM_1X1  1x1, stride 1, no padding: the image is its own column matrix (no im2col)
 *   ROWS      direct AVX-512 kernel, vectors along output rows (conv_direct.c); as dW: the rows
 *             method over the padded images kept from forward
 *   CHANS     direct kernel, vectors along output channels; as dW: the channel-vector method
 *   WINO      Winograd F(2x2, 3x3) (conv_wino.c), forward and dX only
 *
 * Direct dX is the forward convolution of dy with the turned weights (geometry gx).
 */
#ifndef DC_CONV_PLAN_H
#define DC_CONV_PLAN_H

#include "kernels/conv_k.h"

#include <stddef.h>
#include <stdint.h>

typedef enum dc_k_conv_algo {
    DC_K_CONV_NONE,     /* not computed */
    DC_K_CONV_GEMM,
    DC_K_CONV_GEMM_1X1,
    DC_K_CONV_ROWS,
    DC_K_CONV_CHANS,
    DC_K_CONV_WINO,
} dc_k_conv_algo;

/* What the caller asks of a plan. */
typedef struct dc_k_conv_need {
    int dw;          /* backward will compute dW: forward keeps what it reads */
    int direct;      /* the direct kernels may be used (0: im2col + GEMM everywhere) */
    int threads;     /* OpenMP threads available (>= 1) */
} dc_k_conv_need;

typedef struct dc_k_conv_plan {
    dc_k_conv_geom g;             /* per image */
    int64_t N, O, G;              /* batch, output channels, groups */
    dc_k_conv_algo fwd, dx, dw;   /* dx is the algorithm used when dX is asked for */
    dc_k_direct_layout layout;    /* forward's direct layout (NONE for GEMM, GEMM_1X1) */
    dc_k_direct_layout dx_layout; /* dx direct: the layout of dX's own forward problem */
    dc_k_conv_geom gx;            /* dx direct: dX as a forward convolution of dy */
    int64_t col;                  /* floats of one image's columns, G·K·P */
    int64_t xs;                   /* direct forward: floats of one padded image */
    int small;                    /* per-image GEMMs below SMALL_GEMM multiply-adds */
    int keep_cols;                /* forward keeps every image's columns [N][col] for dW */
    int keep_pad;                 /* forward keeps every padded image [N][xs] for direct dW */
    int fwd_nt;                   /* forward: threads over images (1: one image at a time) */
    int64_t fwd_scratch;          /* forward: floats of per-thread scratch (all threads) */
    int stream;                   /* outputs bigger than the caches: streaming stores */
    int bwd_nt;                   /* GEMM backward: threads over groups of images */
    int64_t dw_parts;             /* GEMM backward: groups of images, each with its partial
                                     dW, added in order (1: straight into dW) */
    int64_t bwd_scratch;          /* GEMM backward: floats of per-thread column scratch */
    int64_t dw_scratch;           /* direct dW: floats of its scratch */
    int dx_nt;                    /* direct dX: threads over images */
    int64_t dx_scratch;           /* direct dX: floats of turned + packed weights + threads */
} dc_k_conv_plan;

/* The plan for N images of geometry g into O channels in G groups. */
void dc_k_conv_plan_make(dc_k_conv_plan *p, const dc_k_conv_geom *g, int64_t N, int64_t O,
                         int64_t G, const dc_k_conv_need *need);
/* Tests: make the plan use `fwd` (and its backward counterparts) where it applies; 0 when the
 * algorithm cannot compute this shape (the plan is then unchanged). */
int dc_k_conv_plan_force(dc_k_conv_plan *p, dc_k_conv_algo fwd, const dc_k_conv_need *need);
/* "gemm", "gemm-1x1", "rows", "chans", "winograd", "-". */
const char *dc_k_conv_algo_name(dc_k_conv_algo a);
/* One line: "fwd winograd, dX winograd, dW chans (padded input kept); 2 threads by image", or
 * "fwd winograd; 2 threads by image" without dW (inference) (writes at most n bytes,
 * NUL-terminated; returns what snprintf returns). */
int dc_k_conv_plan_str(const dc_k_conv_plan *p, char *buf, size_t n);

/* The buffers of one convolution. Sizes are the plan's; all floats, contiguous. */
typedef struct dc_k_conv_bufs {
    const float *x;      /* [N, C, H, W] */
    const float *w;      /* [O, C/G, kh, kw] */
    const float *b;      /* [O] or NULL */
    const float *res;    /* [N, O, Ho, Wo] added before the ReLU, or NULL */
    int relu;            /* y = max(0, conv + b + res) */
    const float *wp;     /* direct forward: w and b packed by dc_k_conv_direct_pack */
    float *y;            /* [N, O, Ho, Wo] */
    float *col;          /* keep_cols: [N][col] */
    float *xpad;         /* keep_pad: [N][xs] */
    float *scratch;      /* fwd_scratch floats (forward), or bwd_scratch (backward) */
} dc_k_conv_bufs;

/* Forward: y = relu?(conv(x, w) + b + res), and what backward keeps (col / xpad). */
void dc_k_conv_run_fwd(const dc_k_conv_plan *p, const dc_k_conv_bufs *b);
/* db[o] += Σ_n Σ_p dy[n, o, p] in double, n then p in order (db may be NULL). With the fused ReLU
 * (dym not NULL), first dym = dy ⊙ [y > 0], the gradient before the ReLU, and the sum is over it. */
void dc_k_conv_run_bias(const dc_k_conv_plan *p, const float *dy, const float *y, float *dym,
                        float *db);
/* Direct dW: dw += Σ_n dy[n] ⋆ xpad[n] (plan's dw is ROWS or CHANS); scratch: dw_scratch. */
void dc_k_conv_run_dw_direct(const dc_k_conv_plan *p, const float *xpad, const float *dy,
                             float *dw, float *scratch);
/* Direct dX (plan's dx is ROWS, CHANS or WINO): dx = dX when fresh, else dx += dX. scratch:
 * dx_scratch floats. */
void dc_k_conv_run_dx_direct(const dc_k_conv_plan *p, const float *w, const float *dy,
                             float *dx, int fresh, float *scratch);
/* GEMM backward for what is left: dw (or NULL) += dy ⋆ columns, dx (or NULL) += col2im(Wᵀ dy).
 * part: dw_parts·|w| floats when dw_parts > 1, else NULL; b->scratch: bwd_scratch floats unless
 * the columns were kept (or the layer is 1x1). */
void dc_k_conv_run_bwd_gemm(const dc_k_conv_plan *p, const dc_k_conv_bufs *b, const float *dy,
                            float *dx, float *dw, float *part);

#endif
