/*
 * conv.c - the 2-D convolution op (PyTorch Conv2d) and the size helpers: check the shapes, plan,
 * run, record.
 *
 *   y[n, o, i, j] = b[o] + Σ_c Σ_(ky,kx) w[o, c, ky, kx]
 *                          · x[n, g·Cg + c, i·sh + ky·dh − pt, j·sw + kx·dw − pl]
 *   dW += dy ⋆ x,  dX = the full convolution of dy with the turned weights,
 *   db[o] += Σ_{n,p} dy[n, o, p]
 *
 * Which algorithm computes each part (im2col + GEMM, 1x1 GEMM, the direct ROWS/CHANS kernels,
 * Winograd), what forward keeps for backward and how the work is threaded is the plan's choice
 * (kernels/conv_plan.c); the executor runs it over raw buffers (kernels/conv_run.c). This file
 * checks the shapes, makes the plan, takes the plan's buffers from the step's arena, keeps the
 * packed weights of the direct kernels across inference calls (dc_ctx_prepared), runs and
 * records. All scratch is arena memory.
 */
#include "core/internal.h"
#include "kernels/conv_plan.h"
#include "kernels/eltwise_k.h"

#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

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
    dc_k_conv_plan p; /* the algorithms and their sizes */
    dc_k_conv_geom g; /* filled by conv_check, then planned */
    int64_t N, O, G;  /* batch, output channels, groups */
    float *col;       /* p.keep_cols: every image's columns [N][col]; else NULL */
    float *xpad;      /* p.keep_pad: every image padded [N][xs]; else NULL */
    int relu;         /* fused max(0, ·): backward masks dy by y > 0 first */
    const float *res; /* forward: the residual added before the ReLU [N, O, Ho, Wo], or NULL */
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

/* Arena floats, or NULL (no error) when n is 0; *ok cleared when out of memory. */
static float *arena_floats(dc_ctx *ctx, int64_t n, int *ok)
{
    if (n <= 0)
        return NULL;
    float *p = dc_ctx_alloc(ctx, sizeof(float) * (size_t)n);
    if (!p)
        *ok = 0;
    return p;
}

/* The residual's gradient is dy (after the ReLU's mask) as it is; taken before dx so that a
 * residual that is also the input (x + conv(x)) finds dx already written, and adds. */
static dc_status res_grad(dc_ctx *ctx, dc_tensor *res, const float *dy)
{
    int fresh;
    float *dres = dc_grad_fresh(ctx, res, &fresh);
    if (!dres && res && (res->flags & DC_TF_REQUIRES_GRAD))
        return DC_ERR_NOMEM;
    if (dres && fresh)
        memcpy(dres, dy, sizeof(float) * (size_t)res->numel);
    else if (dres)
        dc_k_acc(res->numel, dy, dres);
    return DC_OK;
}

static dc_status conv_bwd(dc_ctx *ctx, dc_node *nd)
{
    const conv_saved *s = nd->saved;
    const dc_k_conv_plan *p = &s->p;
    dc_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *res = nd->in[3];
    float *dw = dc_grad(ctx, w), *db = dc_grad(ctx, b);
    if ((!dw && (w->flags & DC_TF_REQUIRES_GRAD)) || (!db && b && (b->flags & DC_TF_REQUIRES_GRAD)))
        return DC_ERR_NOMEM;
    int ok = 1;
    float *dym = s->relu ? arena_floats(ctx, nd->out->numel, &ok) : NULL;
    if (!ok)
        return DC_ERR_NOMEM;
    if (db || dym)
        dc_k_conv_run_bias(p, nd->out->grad, dc_f32(nd->out), dym, db);
    const float *dy = dym ? dym : nd->out->grad;
    if (res_grad(ctx, res, dy) != DC_OK)
        return DC_ERR_NOMEM;
    int fresh;
    float *dx = dc_grad_fresh(ctx, x, &fresh); /* fresh: the direct dX stores, not adds */
    if (!dx && (x->flags & DC_TF_REQUIRES_GRAD))
        return DC_ERR_NOMEM;
    if (p->N == 0)
        return DC_OK;
    if (dw && s->xpad) { /* direct dW from the padded images forward kept */
        float *sc = arena_floats(ctx, p->dw_scratch, &ok);
        if (!ok) /* without it dW would go another way, in another order */
            return DC_ERR_NOMEM;
        dc_k_conv_run_dw_direct(p, s->xpad, dy, dw, sc);
        dw = NULL;
    }
    if (dx && p->dx_layout != DC_K_DIRECT_NONE) {
        float *sc = arena_floats(ctx, p->dx_scratch, &ok);
        if (!ok)
            return DC_ERR_NOMEM;
        dc_k_conv_run_dx_direct(p, dc_f32(w), dy, dx, fresh, sc);
        dx = NULL;
    }
    if (dx && fresh) /* the column path adds */
        memset(dx, 0, sizeof(float) * (size_t)x->numel);
    if (!dx && !dw)
        return DC_OK; /* what is left goes by columns and GEMM */
    float *part = dw && p->dw_parts > 1 ? arena_floats(ctx, p->dw_parts * w->numel, &ok) : NULL;
    dc_k_conv_bufs bf = {.x = dc_f32(x), .w = dc_f32(w), .col = s->col,
                         .scratch = s->col ? NULL : arena_floats(ctx, p->bwd_scratch, &ok)};
    if (!ok)
        return DC_ERR_NOMEM;
    dc_k_conv_run_bwd_gemm(p, &bf, dy, dx, dw, part);
    return DC_OK;
}

/* The direct kernels' packed weights: kept in ctx across inference calls while w and b stay the
 * same (batch 1 spent 8% of its time packing); training changes them every step. */
static const float *packed_weights(dc_ctx *ctx, const dc_k_conv_plan *p, const dc_tensor *w,
                                   const dc_tensor *b, int recorded)
{
    const size_t nwp = dc_k_conv_direct_wfloats(&p->g, p->O, p->layout);
    const uint64_t key = (uint64_t)p->layout << 56 ^ (uint64_t)p->O << 32 ^
                         (uint64_t)p->g.kh << 16 ^ (uint64_t)p->g.kw;
    int hit = 0;
    float *wp = recorded ? NULL
                         : dc_ctx_prepared(ctx, key, dc_f32(w), (size_t)w->numel,
                                           b ? dc_f32(b) : NULL, b ? (size_t)b->numel : 0, nwp,
                                           &hit);
    if (!wp)
        wp = dc_ctx_alloc(ctx, sizeof(float) * nwp);
    if (wp && !hit)
        dc_k_conv_direct_pack(&p->g, p->O, p->layout, dc_f32(w), b ? dc_f32(b) : NULL, wp);
    return wp;
}

dc_tensor *dc_conv2d(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b,
                     const dc_conv2d_opts *o)
{
    return x && w ? dc_conv2d_add(ctx, x, w, b, NULL, o) : NULL;
}

/* The residual must have the output's shape. */
static bool check_res(const conv_saved *s, const dc_tensor *res)
{
    if (!res)
        return true;
    if (dc_check_f32("conv2d", res, "residual") && res->ndim == 4 && res->shape[0] == s->N &&
        res->shape[1] == s->O && res->shape[2] == s->g.Ho && res->shape[3] == s->g.Wo)
        return true;
    char sr[96];
    return dc_err(DC_ERR_SHAPE, "conv2d: the residual must have the output's shape "
                  "[%lld, %lld, %lld, %lld], got %s", (long long)s->N, (long long)s->O,
                  (long long)s->g.Ho, (long long)s->g.Wo, dc_shape_str(res, sr, sizeof sr)),
           false;
}

dc_tensor *dc_conv2d_add(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b, dc_tensor *res,
                         const dc_conv2d_opts *o)
{
    if (!x || !w)
        return NULL;
    const dc_conv2d_opts def = dc_conv2d_defaults();
    conv_saved *s = dc_ctx_alloc(ctx, sizeof *s);
    if (!s || !conv_check(x, w, b, o ? o : &def, s) || !check_res(s, res))
        return NULL;
    s->res = res ? dc_f32(res) : NULL;
    dc_tensor *y = dc_empty(ctx, DC_F32, 4, DC_SHAPE(s->N, s->O, s->g.Ho, s->g.Wo));
    if (!y)
        return NULL;
    /* only dW reads the input again: forward keeps what it will read when dW will be computed */
    const int recorded = dc_needs_grad(ctx, 4, (dc_tensor *[]){x, w, b, res});
    const dc_k_conv_need need = {.dw = recorded && (w->flags & DC_TF_REQUIRES_GRAD),
                                 .direct = direct_conv_enabled(), .threads = max_threads()};
    dc_k_conv_plan *p = &s->p;
    dc_k_conv_plan_make(p, &s->g, s->N, s->O, s->G, &need);
    int ok = 1;
    s->col = p->keep_cols ? arena_floats(ctx, p->N * p->col + 1, &ok) : NULL;
    s->xpad = p->keep_pad ? arena_floats(ctx, p->N * p->xs, &ok) : NULL;
    dc_k_conv_bufs bf = {.x = dc_f32(x), .w = dc_f32(w), .b = b ? dc_f32(b) : NULL,
                         .res = s->res, .relu = s->relu, .y = dc_f32(y), .col = s->col,
                         .xpad = s->xpad, .scratch = arena_floats(ctx, p->fwd_scratch, &ok)};
    if (p->layout != DC_K_DIRECT_NONE && !(bf.wp = packed_weights(ctx, p, w, b, recorded)))
        ok = 0;
    if (!ok)
        return NULL;
    dc_k_conv_run_fwd(p, &bf);
    dc_node *nd = dc_record(ctx, "conv2d", conv_bwd, y, 4, (dc_tensor *[]){x, w, b, res});
    if (nd)
        nd->saved = s;
    return y;
}

dc_status dc_conv2d_plan_str(const int64_t x_shape[4], const int64_t w_shape[4],
                             const dc_conv2d_opts *o, int training, char *buf, size_t n)
{
    const dc_conv2d_opts def = dc_conv2d_defaults();
    dc_tensor x = {.dtype = DC_F32, .ndim = 4}, w = {.dtype = DC_F32, .ndim = 4};
    memcpy(x.shape, x_shape, sizeof x.shape[0] * 4);
    memcpy(w.shape, w_shape, sizeof w.shape[0] * 4);
    conv_saved s;
    memset(&s, 0, sizeof s);
    if (!conv_check(&x, &w, NULL, o ? o : &def, &s))
        return dc_last_status();
    const dc_k_conv_need need = {.dw = training != 0, .direct = direct_conv_enabled(),
                                 .threads = max_threads()};
    dc_k_conv_plan_make(&s.p, &s.g, s.N, s.O, s.G, &need);
    dc_k_conv_plan_str(&s.p, buf, n);
    return DC_OK;
}
