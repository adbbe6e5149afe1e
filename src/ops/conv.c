/*
 * conv.c - 2-D convolution (PyTorch Conv2d) by im2col + GEMM, one image at a time, and the size
 * helpers.
 *
 * Per image n, with P = Ho·Wo, G groups, Cg = C/G, Og = O/G, K = Cg·kh·kw:
 *   col_n [G·K, P] = im2col(x[n])           (group g owns rows g·K .. (g+1)·K)
 *   y[n]_g [Og, P] = W_g [Og, K] · col_n,g  (+ b)
 * A 1x1, stride-1, unpadded convolution uses x[n] itself as col_n (no im2col).
 *
 * Backward:
 *   dW_g += dy[n]_g · col_n,gᵀ     (GEMM, beta 1)
 *   dcol_n,g = W_gᵀ · dy[n]_g      then col2im adds dcol_n into dx[n]
 *   db[o] += Σ_{n,p} dy[n, o, p]   (double, fixed order)
 *
 * Why one image at a time: measured on LeNet-5's layers (28x28 and 14x14 images), per-image
 * columns stay in L2 and the per-image GEMMs beat one batched GEMM over a [K, N·P] column matrix
 * (which also needs a transpose of y and dy). Threads: when the per-image GEMM is small, images
 * are spread over the OpenMP threads (each GEMM then runs on its thread); dW is accumulated in
 * NG partial sums over fixed ranges of images, NG fixed by the sizes alone, then added in order,
 * so results never depend on the thread count. Large per-image GEMMs go one image at a time and
 * let the GEMM use the threads (it splits M/N only).
 *
 * Memory: forward keeps every image's columns for backward when they fit in KEEP_COLS floats;
 * otherwise backward recomputes them into per-thread scratch. All scratch is arena memory.
 */
#include "core/internal.h"
#include "kernels/conv_k.h"
#include "kernels/eltwise_k.h"
#include "kernels/par.h"

#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Per-image GEMMs below this many multiply-adds (O·P·K) spread images over threads. It equals
 * OpenBLAS's own threading threshold (M·N·K <= 4·65536), so GEMMs called concurrently from the
 * OpenMP threads never start BLAS threads of their own. */
#define SMALL_GEMM (INT64_C(1) << 18)
/* Keep all images' columns from forward when they total at most this many floats (16 MiB);
 * also the cap on the partial dW buffers. */
#define KEEP_COLS (INT64_C(1) << 22)
/* Most weights (O·C·kh·kw) for which dW goes by the direct rows method (see dc_conv2d). */
#define DW_DIRECT_MAX 8192
/* Most partial dW sums (fixed by the sizes, never by the thread count). */
#define MAX_GROUPS 16
/* Below this many multiply-adds in the whole layer, stay on the calling thread. */
#define PAR_MIN (INT64_C(1) << 17)
/* Outputs of at least this many floats (4 MiB, twice a core's L2 here) are written with
 * streaming stores where a kernel can (dc_k_conv_out.stream): they leave the caches anyway.
 * W6 (8 MB a layer): inference 5% faster on one thread and 2% on two, training unchanged (the
 * batch norm that reads y next gained nothing from the shared L3). */
#define STREAM_MIN (INT64_C(1) << 20)

dc_conv2d_opts dc_conv2d_defaults(void)
{
    dc_conv2d_opts o = {.stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1,
                        .groups = 1};
    return o;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* floor((in + before + after - dilation·(k-1) - 1)/stride) + 1; <= 0 when the kernel does not
 * fit; 0 for a stride, dilation or kernel below 1. */
int64_t dc_conv_out_size(int64_t in, int k, int stride, int dilation, int before, int after)
{
    if (stride < 1 || dilation < 1 || k < 1)
        return 0;
    return floor_div(in + before + after - (int64_t)dilation * (k - 1) - 1, stride) + 1;
}

void dc_same_padding(int64_t in, int k, int stride, int dilation, int *before, int *after)
{
    int64_t total = 0;
    if (stride >= 1 && dilation >= 1 && k >= 1 && in >= 0) {
        const int64_t out = (in + stride - 1) / stride;
        total = (out - 1) * stride + (int64_t)dilation * (k - 1) + 1 - in;
        if (total < 0)
            total = 0;
    }
    if (before)
        *before = (int)(total / 2);
    if (after)
        *after = (int)(total - total / 2);
}

/* What forward computed and backward needs. */
typedef struct conv_saved {
    dc_k_conv_geom g;
    int64_t N, O, G;  /* batch, output channels, groups */
    int direct;       /* 1x1 stride 1 unpadded: x[n] is its own column matrix */
    int small;        /* per-image GEMMs are small: spread images over threads */
    int keep;         /* col holds every image's columns, kept from forward */
    float *col;       /* keep: [N][G·K, P]; else NULL */
    dc_k_direct_layout layout; /* forward by direct convolution (conv_direct.c), not GEMM */
    const float *wp;  /* layout: the packed weights and bias */
    float *xpad;      /* layout, dW wanted: every image padded, [N][xs] (no columns at all) */
    int relu;         /* fused max(0, ·): backward masks dy by y > 0 first */
    const float *res; /* forward: the residual added before the ReLU [N, O, Ho, Wo], or NULL */
    int64_t xs;       /* layout: floats of one padded image */
} conv_saved;

static bool check_opts(const dc_conv2d_opts *o)
{
    if (o->stride_h < 1 || o->stride_w < 1 || o->dilation_h < 1 || o->dilation_w < 1 ||
        o->groups < 1 || o->pad_top < 0 || o->pad_bottom < 0 || o->pad_left < 0 ||
        o->pad_right < 0) {
        dc_err(DC_ERR_ARG, "conv2d: stride %dx%d, dilation %dx%d and groups %d must be >= 1 and "
               "padding (%d, %d, %d, %d) >= 0", o->stride_h, o->stride_w, o->dilation_h,
               o->dilation_w, o->groups, o->pad_top, o->pad_bottom, o->pad_left, o->pad_right);
        return false;
    }
    return true;
}

/* Check shapes and fill s->g, N, O, G. Errors name the shapes. */
static bool conv_check(const dc_tensor *x, const dc_tensor *w, const dc_tensor *b,
                       const dc_conv2d_opts *o, conv_saved *s)
{
    char sx[96], sw[96], sb[96];
    if (!dc_check_f32("conv2d", x, "input") || !dc_check_f32("conv2d", w, "weight") ||
        (b && !dc_check_f32("conv2d", b, "bias")) || !check_opts(o))
        return false;
    if (x->ndim != 4 || w->ndim != 4)
        return dc_err(DC_ERR_SHAPE, "conv2d: input must be [N, C, H, W] and weight "
                      "[O, C/groups, kh, kw], got input %s and weight %s",
                      dc_shape_str(x, sx, sizeof sx), dc_shape_str(w, sw, sizeof sw)), false;
    const int64_t C = x->shape[1], O = w->shape[0], G = o->groups;
    if (C % G != 0 || O % G != 0)
        return dc_err(DC_ERR_SHAPE, "conv2d: groups %lld must divide the input channels (input "
                      "%s) and the output channels (weight %s)", (long long)G,
                      dc_shape_str(x, sx, sizeof sx), dc_shape_str(w, sw, sizeof sw)), false;
    if (w->shape[1] * G != C)
        return dc_err(DC_ERR_SHAPE, "conv2d: input %s has %lld channels, but weight %s with "
                      "groups %lld expects %lld", dc_shape_str(x, sx, sizeof sx), (long long)C,
                      dc_shape_str(w, sw, sizeof sw), (long long)G,
                      (long long)(w->shape[1] * G)), false;
    if (b && (b->ndim != 1 || b->shape[0] != O))
        return dc_err(DC_ERR_SHAPE, "conv2d: bias must be [%lld] for weight %s, got %s",
                      (long long)O, dc_shape_str(w, sw, sizeof sw),
                      dc_shape_str(b, sb, sizeof sb)), false;
    if (w->shape[2] > 1 << 20 || w->shape[3] > 1 << 20 || w->shape[2] < 1 || w->shape[3] < 1)
        return dc_err(DC_ERR_SHAPE, "conv2d: bad kernel size in weight %s",
                      dc_shape_str(w, sw, sizeof sw)), false;
    dc_k_conv_geom *g = &s->g;
    *g = (dc_k_conv_geom){.C = C, .H = x->shape[2], .W = x->shape[3], .kh = (int)w->shape[2],
                          .kw = (int)w->shape[3], .sh = o->stride_h, .sw = o->stride_w,
                          .pt = o->pad_top, .pl = o->pad_left, .dh = o->dilation_h,
                          .dw = o->dilation_w};
    g->Ho = dc_conv_out_size(g->H, g->kh, g->sh, g->dh, o->pad_top, o->pad_bottom);
    g->Wo = dc_conv_out_size(g->W, g->kw, g->sw, g->dw, o->pad_left, o->pad_right);
    if (g->Ho < 1 || g->Wo < 1)
        return dc_err(DC_ERR_SHAPE, "conv2d: kernel %dx%d (dilation %dx%d) is larger than the "
                      "padded input %lldx%lld (input %s, weight %s, padding top %d bottom %d "
                      "left %d right %d)", g->kh, g->kw, g->dh, g->dw,
                      (long long)(g->H + o->pad_top + o->pad_bottom),
                      (long long)(g->W + o->pad_left + o->pad_right),
                      dc_shape_str(x, sx, sizeof sx), dc_shape_str(w, sw, sizeof sw), o->pad_top,
                      o->pad_bottom, o->pad_left, o->pad_right), false;
    s->N = x->shape[0];
    s->O = O;
    s->G = G;
    s->relu = o->relu != 0;
    s->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && o->pad_top == 0 &&
                o->pad_bottom == 0 && o->pad_left == 0 && o->pad_right == 0;
    return true;
}

/* The direct kernels, unless DEEPC_CONV=gemm asks for im2col + GEMM everywhere (to compare)
 * or a test turned them off. */
static int g_direct = -1;

void dc_conv_direct_enable(int on) { g_direct = on != 0; }

static int direct_conv_enabled(void)
{
    if (g_direct < 0) {
        const char *e = getenv("DEEPC_CONV");
        g_direct = !(e && !strcmp(e, "gemm"));
    }
    return g_direct;
}

static int max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* This thread's scratch slot among nt: its number in the team, or any slot when the loop runs on
 * one thread (maybe a thread of a caller's own parallel region, numbered beyond nt). */
static int thread_id(int nt)
{
#ifdef _OPENMP
    return omp_get_thread_num() % nt;
#else
    (void)nt;
    return 0;
#endif
}

/* Floats of one image's column matrix: G·K·P. */
static int64_t col_floats(const conv_saved *s)
{
    return s->g.C * s->g.kh * s->g.kw * s->g.Ho * s->g.Wo;
}

/* y[n] = W · im2col(x[n]) + b (+ res[n]), then the ReLU if fused. col: scratch [G·K, P] for this
 * image (unused when direct), or the padded image for the direct layout. */
static void conv_fwd_image(const conv_saved *s, const float *x, const float *w, const float *b,
                           float *y, int64_t n, float *col)
{
    const dc_k_conv_geom *g = &s->g;
    const int64_t P = g->Ho * g->Wo, Og = s->O / s->G, K = g->C / s->G * g->kh * g->kw;
    const float *xn = x + n * g->C * g->H * g->W;
    float *yn = y + n * s->O * P;
    const float *rn = s->res ? s->res + n * s->O * P : NULL;
    if (s->layout != DC_K_DIRECT_NONE) {
        const int64_t CHW = g->C * g->H * g->W; /* the next image loads while this one runs */
        const dc_k_conv_out fin = {.res = rn, .relu = s->relu,
                                   .next = n + 1 < s->N ? xn + CHW : NULL,
                                   .next_bytes = sizeof(float) * (size_t)CHW,
                                   .stream = s->N * s->O * P >= STREAM_MIN};
        dc_k_conv_direct_fwd(g, s->O, s->layout, s->wp, xn, yn, col, &fin);
        return;
    }
    if (!s->direct)
        dc_k_im2col(g, 1, xn, col);
    const float *c = s->direct ? xn : col;
    for (int64_t gi = 0; gi < s->G; gi++)
        dc_gemm(0, 0, Og, P, K, 1.0f, w + gi * Og * K, K, c + gi * K * P, P, 0.0f,
                yn + gi * Og * P, P);
    for (int64_t o = 0; o < s->O && (b || rn || s->relu); o++) { /* while in cache */
        const float bo = b ? b[o] : 0.0f;
        float *restrict yo = yn + o * P;
        const float *restrict ro = rn ? rn + o * P : NULL;
        for (int64_t p = 0; p < P; p++) { /* (conv + b) + res, as the direct kernels */
            const float v = ro ? yo[p] + bo + ro[p] : yo[p] + bo;
            yo[p] = s->relu ? dc_k_relu(v) : v;
        }
    }
}

/* Backward of image n: dwp (the partial or final dW, or NULL) += dy[n] · col_nᵀ, with beta 0
 * when `first`; dx[n] += col2im(Wᵀ · dy[n]) when dx. col holds the image's columns when
 * `have_col`, else it is scratch to recompute them; it is overwritten by dcol. */
static void conv_bwd_image(const conv_saved *s, const float *x, const float *w, const float *dy,
                           float *dx, float *dwp, int first, int64_t n, float *col, int have_col)
{
    const dc_k_conv_geom *g = &s->g;
    const int64_t P = g->Ho * g->Wo, Og = s->O / s->G, K = g->C / s->G * g->kh * g->kw;
    const int64_t CHW = g->C * g->H * g->W;
    const float *xn = x + n * CHW, *dyn = dy + n * s->O * P;
    if (dwp) {
        if (!s->direct && !have_col)
            dc_k_im2col(g, 1, xn, col);
        const float *c = s->direct ? xn : col;
        for (int64_t gi = 0; gi < s->G; gi++)
            dc_gemm(0, 1, Og, K, P, 1.0f, dyn + gi * Og * P, P, c + gi * K * P, P,
                    first ? 0.0f : 1.0f, dwp + gi * Og * K, K);
    }
    if (!dx)
        return;
    for (int64_t gi = 0; gi < s->G; gi++) {
        if (s->direct) /* dx[n] += W_gᵀ · dy[n] straight into the input gradient */
            dc_gemm(1, 0, K, P, Og, 1.0f, w + gi * Og * K, K, dyn + gi * Og * P, P, 1.0f,
                    dx + n * CHW + gi * K * P, P);
        else
            dc_gemm(1, 0, K, P, Og, 1.0f, w + gi * Og * K, K, dyn + gi * Og * P, P, 0.0f,
                    col + gi * K * P, P);
    }
    if (!s->direct)
        dc_k_col2im_add(g, 1, col, dx + n * CHW);
}

/* db[o] += Σ_n Σ_p dy[n, o, p], in double, n then p in order (db may be NULL). With the fused
 * ReLU, first dym = dy ⊙ [y > 0] (the gradient before the ReLU), and the sum is over dym. */
static void bias_grad(const conv_saved *s, const float *dy, const float *y, float *dym,
                      float *db)
{
    const int64_t P = s->g.Ho * s->g.Wo, O = s->O;
    DC_PAR_FOR(s->N * O * P > PAR_MIN, o, O, {
        double acc = 0;
        for (int64_t n = 0; n < s->N; n++) {
            const int64_t at = (n * O + o) * P;
            if (dym)
                dc_k_relu_bwd(P, y + at, dy + at, dym + at, 1);
            acc += dc_k_plane_sum_f64((dym ? dym : dy) + at, P);
        }
        if (db)
            db[o] += (float)acc;
    });
}

/* Number of partial dW sums: 1 (accumulate straight into dW) unless images run in parallel. */
static int64_t n_groups(const conv_saved *s, int64_t w_numel)
{
    int64_t ng = s->small ? (s->N < MAX_GROUPS ? s->N : MAX_GROUPS) : 1;
    while (ng > 1 && ng * w_numel > KEEP_COLS)
        ng /= 2;
    return ng > 0 ? ng : 1;
}

/* Images [n0, n1) of group j, in order; the group's dW goes to dwp (beta 0 first if fresh). */
static void conv_bwd_group(const conv_saved *s, const float *x, const float *w, const float *dy,
                           float *dx, float *dwp, int fresh, int64_t n0, int64_t n1,
                           float *scratch)
{
    const int64_t kp = col_floats(s);
    for (int64_t n = n0; n < n1; n++) {
        float *col = s->keep ? s->col + n * kp : scratch;
        conv_bwd_image(s, x, w, dy, dx, dwp, fresh && n == n0, n, col, s->keep);
    }
}

/* dx += dX by the direct kernels: the forward convolution of each image's dy with the turned
 * weights (dx = dX, written straight, when fresh). 1 when done, 0 when this geometry has no
 * direct path, -1 out of memory. */
static int conv_dx_direct(dc_ctx *ctx, const conv_saved *s, const float *w, const float *dy,
                          float *dx, int fresh)
{
    const dc_k_conv_geom *g = &s->g;
    dc_k_conv_geom gx;
    if (!dc_k_conv_direct_dx_geom(g, s->O, &gx))
        return 0;
    const dc_k_direct_layout L = dc_k_conv_direct_layout(&gx, g->C);
    if (L == DC_K_DIRECT_NONE)
        return 0;
    const int64_t CHW = g->C * g->H * g->W, OP = s->O * g->Ho * g->Wo;
    const int64_t per = (int64_t)dc_k_conv_direct_xfloats(&gx) + CHW;
    const int nt = max_threads();
    float *wr = dc_ctx_alloc(ctx, sizeof(float) * (size_t)(s->O * g->C * g->kh * g->kw));
    float *wp = dc_ctx_alloc(ctx, sizeof(float) * dc_k_conv_direct_wfloats(&gx, g->C, L));
    float *sc = dc_ctx_alloc(ctx, sizeof(float) * (size_t)(nt * per));
    if (!wr || !wp || !sc)
        return -1;
    dc_k_conv_direct_rotate(g, s->O, w, wr);
    dc_k_conv_direct_pack(&gx, g->C, L, wr, NULL, wp);
    const double work = (double)s->N * (double)OP * (double)(g->C * g->kh * g->kw);
    DC_PAR_FOR_NT(work > PAR_MIN, nt, n, s->N, {
        float *xp = sc + thread_id(nt) * per, *d = dx + n * CHW;
        float *out = fresh ? d : xp + (per - CHW);
        const dc_k_conv_out fin = {.next = n + 1 < s->N ? dy + (n + 1) * OP : NULL,
                                   .next_bytes = sizeof(float) * (size_t)OP,
                                   .stream = fresh && s->N * CHW >= STREAM_MIN};
        dc_k_conv_direct_fwd(&gx, g->C, L, wp, dy + n * OP, out, xp, &fin);
        for (int64_t i = 0; i < CHW && !fresh; i++)
            d[i] += out[i];
    });
    return 1;
}

static dc_status conv_bwd(dc_ctx *ctx, dc_node *nd)
{
    const conv_saved *s = nd->saved;
    dc_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *res = nd->in[3];
    float *dw = dc_grad(ctx, w), *db = dc_grad(ctx, b);
    if ((!dw && (w->flags & DC_TF_REQUIRES_GRAD)) || (!db && b && (b->flags & DC_TF_REQUIRES_GRAD)))
        return DC_ERR_NOMEM;
    const float *dy = nd->out->grad;
    float *dym = s->relu ? dc_ctx_alloc(ctx, sizeof(float) * (size_t)nd->out->numel) : NULL;
    if (s->relu && !dym)
        return DC_ERR_NOMEM;
    if (db || dym)
        bias_grad(s, dy, dc_f32(nd->out), dym, db);
    dy = dym ? dym : dy;
    /* the residual takes dy (after the ReLU's mask) as it is; before dx is asked for, so that a
     * residual that is also the input (x + conv(x)) finds dx already written, and adds */
    int fresh;
    float *dres = dc_grad_fresh(ctx, res, &fresh);
    if (!dres && res && (res->flags & DC_TF_REQUIRES_GRAD))
        return DC_ERR_NOMEM;
    if (dres && fresh)
        memcpy(dres, dy, sizeof(float) * (size_t)res->numel);
    else if (dres)
        dc_k_acc(res->numel, dy, dres);
    float *dx = dc_grad_fresh(ctx, x, &fresh); /* fresh: the direct dX stores, not adds */
    if (!dx && (x->flags & DC_TF_REQUIRES_GRAD))
        return DC_ERR_NOMEM;
    if (s->layout && dw && s->xpad && s->N > 0) { /* direct dW from the padded images */
        const dc_k_conv_geom *g = &s->g;
        const double work = (double)s->N * (double)s->O * (double)col_floats(s);
        const size_t nsc = dc_k_conv_direct_dw_scratch(g, s->O, s->N);
        float *sc = nsc ? dc_ctx_alloc(ctx, sizeof(float) * nsc) : NULL;
        if (nsc && !sc) /* without it dW would go another way, in another order */
            return DC_ERR_NOMEM;
        dc_k_conv_direct_dw(g, s->O, s->N, s->xpad, s->xs, dy, dw, sc, work > PAR_MIN);
        dw = NULL;
    }
    if (s->layout && dx && s->N > 0) {
        const int r = conv_dx_direct(ctx, s, dc_f32(w), dy, dx, fresh);
        if (r < 0)
            return DC_ERR_NOMEM;
        if (r > 0)
            dx = NULL;
    }
    if (dx && fresh) /* the column path adds */
        memset(dx, 0, sizeof(float) * (size_t)x->numel);
    if ((!dx && !dw) || s->N == 0)
        return DC_OK; /* what is left goes by columns and GEMM */
    const int64_t ng = n_groups(s, w->numel), kp = col_floats(s);
    const int nt = s->small ? max_threads() : 1;
    float *part = dw && ng > 1 ? dc_ctx_alloc(ctx, sizeof(float) * (size_t)(ng * w->numel))
                               : NULL;
    float *scratch = s->direct || s->keep ? NULL
                                          : dc_ctx_alloc(ctx, sizeof(float) * (size_t)(nt * kp));
    if ((dw && ng > 1 && !part) || (!s->direct && !s->keep && !scratch))
        return DC_ERR_NOMEM;
    const double work = (double)s->N * (double)s->O * (double)kp / (double)s->G;
    DC_PAR_FOR_NT(ng > 1 && work > PAR_MIN, nt, j, ng, {
        float *sc = scratch ? scratch + thread_id(nt) * kp : NULL;
        float *dwp = !dw ? NULL : part ? part + j * w->numel : dw;
        conv_bwd_group(s, dc_f32(x), dc_f32(w), dy, dx, dwp, part != NULL, j * s->N / ng,
                       (j + 1) * s->N / ng, sc);
    });
    if (part) { /* dW += ((p_0 + p_1) + p_2) + ... in group order */
        const int64_t wn = w->numel;
        for (int64_t j = 1; j < ng; j++)
            for (int64_t i = 0; i < wn; i++)
                part[i] += part[j * wn + i];
        for (int64_t i = 0; i < wn; i++)
            dw[i] += part[i];
    }
    return DC_OK;
}

dc_tensor *dc_conv2d(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b,
                     const dc_conv2d_opts *o)
{
    return x && w ? dc_conv2d_add(ctx, x, w, b, NULL, o) : NULL;
}

dc_tensor *dc_conv2d_add(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b, dc_tensor *res,
                         const dc_conv2d_opts *o)
{
    if (!x || !w)
        return NULL;
    const dc_conv2d_opts def = dc_conv2d_defaults();
    conv_saved *s = dc_ctx_alloc(ctx, sizeof *s);
    if (!s || !conv_check(x, w, b, o ? o : &def, s))
        return NULL;
    if (res && (!dc_check_f32("conv2d", res, "residual") || res->ndim != 4 ||
                res->shape[0] != s->N || res->shape[1] != s->O || res->shape[2] != s->g.Ho ||
                res->shape[3] != s->g.Wo)) {
        char sr[96];
        return dc_err_null(DC_ERR_SHAPE, "conv2d: the residual must have the output's shape "
                           "[%lld, %lld, %lld, %lld], got %s", (long long)s->N, (long long)s->O,
                           (long long)s->g.Ho, (long long)s->g.Wo,
                           dc_shape_str(res, sr, sizeof sr));
    }
    s->res = res ? dc_f32(res) : NULL;
    dc_tensor *y = dc_empty(ctx, DC_F32, 4, DC_SHAPE(s->N, s->O, s->g.Ho, s->g.Wo));
    if (!y)
        return NULL;
    const int64_t kp = col_floats(s);
    s->small = s->O * kp / s->G < SMALL_GEMM; /* O·P·K per image */
    s->layout = s->G == 1 && !s->direct && direct_conv_enabled()
                    ? dc_k_conv_direct_layout(&s->g, s->O) : DC_K_DIRECT_NONE;
    /* only dW reads the columns again: keep them when it will be computed and they fit; the
     * direct path keeps the padded images instead (backward's direct dW reads them) */
    const int recorded = dc_needs_grad(ctx, 4, (dc_tensor *[]){x, w, b, res});
    const int want_dw = recorded && (w->flags & DC_TF_REQUIRES_GRAD);
    s->xs = s->layout ? (int64_t)dc_k_conv_direct_xfloats(&s->g) : 0;
    s->keep = !s->direct && !s->layout && want_dw && s->N * kp <= KEEP_COLS;
    /* direct dW: by channel vectors where it applies (a 64-channel 3x3 layer of W6 at 196
     * GFLOP/s on one core, dy's transpose included; the W6 training step went from 590 to 537
     * ms against columns + GEMM); by the rows method only while the weights are few (it reads
     * every image for each block of weights: LeNet-5's 150 and 2,400 win, the 64-channel
     * layer's 36,864 ran at 35 GFLOP/s) */
    const int64_t n_weights = s->O * s->g.C * s->g.kh * s->g.kw;
    const int keep_pad = s->layout && want_dw &&
                         (n_weights <= DW_DIRECT_MAX || dc_k_conv_direct_dw_chans(&s->g, s->O)) &&
                         s->N * s->xs <= KEEP_COLS;
    /* images go to threads when each one's GEMM is small, and always for the direct kernels
     * (single-threaded per image) */
    const int by_image = (s->small || s->layout) && s->N > 1;
    const int nt = by_image ? max_threads() : 1;
    const int64_t per_thread = s->layout ? s->xs : kp;
    float *scratch = NULL, *wp = NULL;
    s->col = s->keep ? dc_ctx_alloc(ctx, sizeof(float) * (size_t)(s->N * kp + 1)) : NULL;
    s->xpad = keep_pad ? dc_ctx_alloc(ctx, sizeof(float) * (size_t)(s->N * s->xs)) : NULL;
    if (!s->direct && !s->keep && !s->xpad)
        scratch = dc_ctx_alloc(ctx, sizeof(float) * (size_t)(nt * per_thread));
    if (s->layout) {
        /* inference keeps the packed weights in ctx while they stay the same (batch 1 spent 8%
         * of its time packing); training changes them every step */
        const size_t nwp = dc_k_conv_direct_wfloats(&s->g, s->O, s->layout);
        const uint64_t key = (uint64_t)s->layout << 56 ^ (uint64_t)s->O << 32 ^
                             (uint64_t)s->g.kh << 16 ^ (uint64_t)s->g.kw;
        int hit = 0;
        wp = recorded ? NULL
                      : dc_ctx_prepared(ctx, key, dc_f32(w), (size_t)w->numel,
                                        b ? dc_f32(b) : NULL, b ? (size_t)b->numel : 0, nwp,
                                        &hit);
        if (!wp)
            wp = dc_ctx_alloc(ctx, sizeof(float) * nwp);
        if (wp && !hit)
            dc_k_conv_direct_pack(&s->g, s->O, s->layout, dc_f32(w), b ? dc_f32(b) : NULL, wp);
        s->wp = wp;
    }
    if ((s->keep && !s->col) || (keep_pad && !s->xpad) ||
        (!s->direct && !s->keep && !keep_pad && !scratch) || (s->layout && !wp))
        return NULL;
    const double work = (double)s->N * (double)s->O * (double)kp / (double)s->G;
    const float *xd = dc_f32(x), *wd = dc_f32(w), *bd = b ? dc_f32(b) : NULL;
    DC_PAR_FOR_NT(by_image && work > PAR_MIN, nt, n, s->N, {
        float *col = s->keep      ? s->col + n * kp
                     : s->xpad ? s->xpad + n * s->xs
                     : scratch ? scratch + thread_id(nt) * per_thread
                               : NULL;
        conv_fwd_image(s, xd, wd, bd, dc_f32(y), n, col);
    });
    dc_node *nd = dc_record(ctx, "conv2d", conv_bwd, y, 4, (dc_tensor *[]){x, w, b, res});
    if (nd)
        nd->saved = s;
    return y;
}
