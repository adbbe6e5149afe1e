/*
 * pool.c - 2-D max / average / adaptive average pooling over NCHW (PyTorch semantics).
 *
 * Output size per axis (PyTorch pooling_output_shape):
 *   out = floor((in + 2·pad - k + (ceil_mode ? stride - 1 : 0)) / stride) + 1
 *   ceil_mode: if (out - 1)·stride >= in + pad then out -= 1   (the last window must start inside
 *   the input or the left padding)
 * Every plane (n, c) is independent; the kernels split planes over threads.
 */
#include "core/internal.h"
#include "kernels/conv_k.h"

dc_pool2d_opts dc_pool2d_defaults(int k)
{
    dc_pool2d_opts o = {.kh = k, .kw = k, .count_include_pad = 1};
    return o;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t pool_out(int64_t in, int k, int s, int pad, int ceil_mode)
{
    int64_t out = floor_div(in + 2 * (int64_t)pad - k + (ceil_mode ? s - 1 : 0), s) + 1;
    if (ceil_mode && (out - 1) * s >= in + pad)
        out--;
    return out;
}

/* Check x and the options, fill the geometry. */
static bool pool_geom(const char *op, const dc_tensor *x, const dc_pool2d_opts *o,
                      dc_k_pool_geom *g)
{
    char sx[96];
    if (!o)
        return dc_err(DC_ERR_ARG, "%s: options missing", op), false;
    if (!dc_check_f32(op, x, "input"))
        return false;
    if (x->ndim != 4)
        return dc_err(DC_ERR_SHAPE, "%s: input must be [N, C, H, W], got %s", op,
                      dc_shape_str(x, sx, sizeof sx)), false;
    const int sh = o->stride_h ? o->stride_h : o->kh, sw = o->stride_w ? o->stride_w : o->kw;
    if (o->kh < 1 || o->kw < 1 || sh < 1 || sw < 1 || o->pad_h < 0 || o->pad_w < 0)
        return dc_err(DC_ERR_ARG, "%s: kernel %dx%d and stride %dx%d must be >= 1, padding "
                      "%dx%d >= 0", op, o->kh, o->kw, sh, sw, o->pad_h, o->pad_w), false;
    if (o->pad_h > o->kh / 2 || o->pad_w > o->kw / 2)
        return dc_err(DC_ERR_ARG, "%s: pad should be at most half of kernel size, but got pad "
                      "%dx%d and kernel %dx%d", op, o->pad_h, o->pad_w, o->kh, o->kw), false;
    *g = (dc_k_pool_geom){.H = x->shape[2], .W = x->shape[3], .kh = o->kh, .kw = o->kw,
                          .sh = sh, .sw = sw, .ph = o->pad_h, .pw = o->pad_w,
                          .count_include_pad = o->count_include_pad != 0};
    g->Ho = pool_out(g->H, o->kh, sh, o->pad_h, o->ceil_mode);
    g->Wo = pool_out(g->W, o->kw, sw, o->pad_w, o->ceil_mode);
    if (g->Ho < 1 || g->Wo < 1)
        return dc_err(DC_ERR_SHAPE, "%s: input %s is too small for kernel %dx%d with padding "
                      "%dx%d (output would be %lldx%lld)", op, dc_shape_str(x, sx, sizeof sx), o->kh,
                      o->kw, o->pad_h, o->pad_w, (long long)g->Ho, (long long)g->Wo), false;
    if (g->H * g->W > INT32_MAX)
        return dc_err(DC_ERR_SHAPE, "%s: plane %lldx%lld too large", op, (long long)g->H,
                      (long long)g->W), false;
    return true;
}

typedef struct pool_saved {
    dc_k_pool_geom g;
    int32_t *idx; /* max pool: argmax h·W + w per output element */
} pool_saved;

static dc_status max_pool_bwd(dc_ctx *ctx, dc_node *n) /* dx[argmax] += dy */
{
    dc_tensor *x = n->in[0];
    const pool_saved *s = n->saved;
    int fresh;
    float *dx = dc_grad_fresh(ctx, x, &fresh);
    if (!dx)
        return (x->flags & DC_TF_REQUIRES_GRAD) ? DC_ERR_NOMEM : DC_OK;
    dc_k_max_pool_bwd(&s->g, x->shape[0] * x->shape[1], n->out->grad, fresh, s->idx, dx);
    return DC_OK;
}

dc_tensor *dc_max_pool2d(dc_ctx *ctx, dc_tensor *x, const dc_pool2d_opts *o)
{
    if (!x)
        return NULL;
    pool_saved *s = dc_ctx_alloc(ctx, sizeof *s);
    if (!s || !pool_geom("max_pool2d", x, o, &s->g))
        return NULL;
    const int64_t planes = x->shape[0] * x->shape[1];
    dc_tensor *y = dc_empty(ctx, DC_F32, 4, DC_SHAPE(x->shape[0], x->shape[1], s->g.Ho, s->g.Wo));
    /* the argmax positions serve backward only: inference on 2x2 windows goes without */
    const int need_idx = dc_needs_grad(ctx, 1, &x) || !dc_k_max_pool_is_2x2(&s->g);
    s->idx = y && need_idx ? dc_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(y->numel ? y->numel : 1))
                           : NULL;
    if (!y || (need_idx && !s->idx))
        return NULL;
    dc_k_max_pool_fwd(&s->g, planes, dc_f32(x), dc_f32(y), s->idx);
    dc_node *n = dc_record(ctx, "max_pool2d", max_pool_bwd, y, 1, &x);
    if (n)
        n->saved = s;
    return y;
}

static dc_status avg_pool_bwd(dc_ctx *ctx, dc_node *n) /* dx[window] += dy / divisor */
{
    dc_tensor *x = n->in[0];
    const pool_saved *s = n->saved;
    float *dx = dc_grad(ctx, x);
    if (!dx)
        return (x->flags & DC_TF_REQUIRES_GRAD) ? DC_ERR_NOMEM : DC_OK;
    dc_k_avg_pool_bwd(&s->g, x->shape[0] * x->shape[1], n->out->grad, dx);
    return DC_OK;
}

dc_tensor *dc_avg_pool2d(dc_ctx *ctx, dc_tensor *x, const dc_pool2d_opts *o)
{
    if (!x)
        return NULL;
    pool_saved *s = dc_ctx_alloc(ctx, sizeof *s);
    if (!s || !pool_geom("avg_pool2d", x, o, &s->g))
        return NULL;
    s->idx = NULL;
    dc_tensor *y = dc_empty(ctx, DC_F32, 4, DC_SHAPE(x->shape[0], x->shape[1], s->g.Ho, s->g.Wo));
    if (!y)
        return NULL;
    dc_k_avg_pool_fwd(&s->g, x->shape[0] * x->shape[1], dc_f32(x), dc_f32(y));
    dc_node *n = dc_record(ctx, "avg_pool2d", avg_pool_bwd, y, 1, &x);
    if (n)
        n->saved = s;
    return y;
}

static dc_status adaptive_avg_bwd(dc_ctx *ctx, dc_node *n) /* dx[bin] += dy / |bin| */
{
    dc_tensor *x = n->in[0];
    float *dx = dc_grad(ctx, x);
    if (!dx)
        return (x->flags & DC_TF_REQUIRES_GRAD) ? DC_ERR_NOMEM : DC_OK;
    dc_k_adaptive_avg_bwd(x->shape[2], x->shape[3], n->ia[0], n->ia[1],
                          x->shape[0] * x->shape[1], n->out->grad, dx);
    return DC_OK;
}

dc_tensor *dc_adaptive_avg_pool2d(dc_ctx *ctx, dc_tensor *x, int64_t oh, int64_t ow)
{
    char sx[96];
    if (!x)
        return NULL;
    if (!dc_check_f32("adaptive_avg_pool2d", x, "input"))
        return NULL;
    if (x->ndim != 4)
        return dc_err_null(DC_ERR_SHAPE, "adaptive_avg_pool2d: input must be [N, C, H, W], got "
                           "%s", dc_shape_str(x, sx, sizeof sx));
    if (oh < 1 || ow < 1 || oh > (1 << 24) || ow > (1 << 24))
        return dc_err_null(DC_ERR_ARG, "adaptive_avg_pool2d: output size %lldx%lld must be "
                           "positive", (long long)oh, (long long)ow);
    if (x->shape[2] < 1 || x->shape[3] < 1)
        return dc_err_null(DC_ERR_SHAPE, "adaptive_avg_pool2d: empty plane in input %s",
                           dc_shape_str(x, sx, sizeof sx));
    dc_tensor *y = dc_empty(ctx, DC_F32, 4, DC_SHAPE(x->shape[0], x->shape[1], oh, ow));
    if (!y)
        return NULL;
    dc_k_adaptive_avg_fwd(x->shape[2], x->shape[3], oh, ow, x->shape[0] * x->shape[1],
                          dc_f32(x), dc_f32(y));
    dc_node *n = dc_record(ctx, "adaptive_avg_pool2d", adaptive_avg_bwd, y, 1, &x);
    if (n) {
        n->ia[0] = oh;
        n->ia[1] = ow;
    }
    return y;
}
