/*
 * gc_conv.c - gradient-check cases for convolution, pooling and batch norm (ops and modules).
 *
 * Each case is a row of a config table; its setup stores a pointer to the row in *state, and a
 * shared forward reads it. Max-pool inputs are tie-free: each plane is a random permutation of a
 * grid spaced 0.1 apart, far more than twice the finite-difference step (<= 0.021 there).
 */
#include "gradcheck.h"

#include <stdio.h>
#include <stdlib.h>

/* <kind>_setup_<i>: point *st at row i of <kind>_cfgs and run <kind>_setup on that row. */
#define CFG_SETUP(kind, i)                                                                \
    static int kind##_setup_##i(dc_rng *r, dc_tensor **ins, void **st)                    \
    {                                                                                     \
        *st = (void *)&kind##_cfgs[i];                                                    \
        return kind##_setup(&kind##_cfgs[i], r, ins);                                     \
    }

/* n when ins[0..n) were all made, else -1. */
static int all_made(dc_tensor **ins, int n)
{
    for (int i = 0; i < n; i++)
        if (!ins[i])
            return -1;
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* conv2d                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct conv_cfg {
    int64_t N, C, H, W, O;
    int kh, kw, bias;
    dc_conv2d_opts o; /* stride_h, stride_w, pad t/b/l/r, dilation_h, dilation_w, groups, relu */
    int res;          /* dc_conv2d_add: a residual input of the output's shape */
} conv_cfg;

static const conv_cfg conv_cfgs[] = {
    {2, 4, 7, 6, 6, 3, 3, 1, {1, 1, 0, 0, 0, 0, 1, 1, 1, 0}, 0}, /* 0 plain */
    {2, 4, 7, 6, 6, 3, 3, 1, {2, 2, 0, 0, 0, 0, 1, 1, 1, 0}, 0}, /* 1 stride 2 */
    {2, 4, 7, 6, 6, 3, 3, 1, {1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, 0}, /* 2 padding 1 */
    {2, 4, 7, 6, 6, 3, 3, 1, {1, 1, 0, 1, 2, 1, 1, 1, 1, 0}, 0}, /* 3 padding t0 b1 l2 r1 */
    {2, 4, 7, 6, 6, 3, 3, 1, {1, 1, 0, 0, 0, 0, 2, 2, 1, 0}, 0}, /* 4 dilation 2 */
    {2, 4, 7, 6, 6, 3, 3, 1, {1, 1, 1, 1, 1, 1, 1, 1, 2, 0}, 0}, /* 5 groups 2 */
    {2, 4, 7, 6, 4, 3, 3, 1, {1, 1, 1, 1, 1, 1, 1, 1, 4, 0}, 0}, /* 6 depthwise */
    {2, 4, 7, 6, 6, 3, 3, 0, {1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, 0}, /* 7 no bias */
    {2, 4, 7, 6, 6, 1, 1, 1, {1, 1, 0, 0, 0, 0, 1, 1, 1, 0}, 0}, /* 8 1x1 */
    {2, 4, 7, 6, 6, 1, 1, 1, {2, 2, 0, 0, 0, 0, 1, 1, 1, 0}, 0}, /* 9 1x1 stride 2 */
    {2, 4, 7, 6, 6, 3, 2, 1, {2, 1, 2, 0, 1, 0, 2, 1, 2, 0}, 0}, /* 10 everything at once */
    {2, 4, 7, 6, 8, 1, 1, 1, {1, 1, 0, 0, 0, 0, 1, 1, 2, 0}, 0}, /* 11 1x1 groups 2 */
    /* shapes that take the direct kernels (conv_direct.c) where the CPU has them */
    {2, 2, 4, 16, 6, 3, 3, 1, {1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, 0},  /* 12 rows layout */
    {2, 3, 5, 5, 16, 3, 3, 1, {1, 1, 1, 0, 2, 1, 1, 1, 1, 0}, 0},  /* 13 channels layout, asym pad */
    {1, 6, 8, 8, 16, 5, 5, 1, {1, 1, 0, 0, 0, 0, 1, 1, 1, 0}, 0},  /* 14 LeNet-5's C3, smaller */
    /* ReLU fused into the convolution (bias moved off the kink: conv_setup) */
    {2, 2, 4, 16, 6, 3, 3, 1, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 0},  /* 15 rows layout */
    {1, 6, 8, 8, 16, 5, 5, 1, {1, 1, 0, 0, 0, 0, 1, 1, 1, 1}, 0},  /* 16 channels layout */
    {2, 4, 7, 6, 6, 3, 3, 1, {2, 2, 1, 1, 1, 1, 1, 1, 1, 1}, 0},   /* 17 stride 2: columns + GEMM */
    /* a residual added before the (fused) ReLU: dc_conv2d_add */
    {2, 2, 4, 16, 6, 3, 3, 1, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 1},  /* 18 rows layout, relu */
    {1, 6, 8, 8, 16, 5, 5, 1, {1, 1, 0, 0, 0, 0, 1, 1, 1, 1}, 1},  /* 19 channels layout, relu */
    {2, 4, 7, 6, 6, 3, 3, 0, {2, 2, 1, 1, 1, 1, 1, 1, 1, 0}, 1},   /* 20 columns, no relu/bias */
    /* 3x3 by Winograd's F(2x2, 3x3) forward and for dX (rows of 32, 16 channels), dW by
     * channel vectors */
    {1, 16, 4, 32, 16, 3, 3, 1, {1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, 0}, /* 21 Winograd */
    {1, 16, 4, 32, 16, 3, 3, 1, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 1}, /* 22 Winograd + res, relu */
};

static int cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Per channel ch of z [N, C, P]: shift[ch] = -(the middle of the widest gap between its values),
 * searched between the 1/8 and 7/8 quantiles so that both sides of 0 are exercised once the
 * shift is added. 0 (and a message naming `what`) when some gap is not wider than min_gap. */
static int kink_free_shift(const float *z, int64_t N, int64_t C, int64_t P, float *shift,
                           float min_gap, const char *what)
{
    const int64_t n = N * P;
    float *v = malloc(sizeof *v * (size_t)(n > 0 ? n : 1));
    int ok = v != NULL;
    for (int64_t ch = 0; ok && ch < C; ch++) {
        for (int64_t i = 0; i < N; i++)
            for (int64_t p = 0; p < P; p++)
                v[i * P + p] = z[(i * C + ch) * P + p];
        qsort(v, (size_t)n, sizeof *v, cmp_float);
        int64_t best = n / 8;
        for (int64_t k = n / 8; k < 7 * n / 8 && k + 1 < n; k++)
            if (v[k + 1] - v[k] > v[best + 1] - v[best])
                best = k;
        ok = v[best + 1] - v[best] > min_gap;
        shift[ch] = -0.5f * (v[best] + v[best + 1]);
    }
    free(v);
    if (!ok)
        fprintf(stderr, "%s gradcheck: no kink-free shift for this draw\n", what);
    return ok;
}

/* With the fused ReLU, no output may sit near the kink at 0: a finite-difference step moves an
 * output by at most 0.01 here (|x| <= 1, |w| <= 0.5, |b| <= 1: step 0.01). Each channel's bias
 * is set by kink_free_shift, with gaps over 0.03. */
static int conv_relu_off_kink(const conv_cfg *c, dc_tensor **ins)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_conv2d_opts o = c->o;
    o.relu = 0;
    int ok = 0;
    if (ctx) {
        dc_ctx_set_grad(ctx, 0);
        dc_tensor *z = dc_conv2d_add(ctx, ins[0], ins[1], NULL, c->res ? ins[3] : NULL, &o);
        ok = z && kink_free_shift(dc_f32(z), c->N, c->O, z->shape[2] * z->shape[3],
                                  dc_f32(ins[2]), 0.03f, "conv2d+relu");
        dc_ctx_free(ctx);
    }
    return ok;
}

static int conv_setup(const conv_cfg *c, dc_rng *r, dc_tensor **ins)
{
    ins[0] = gc_param(r, 4, DC_SHAPE(c->N, c->C, c->H, c->W), -1, 1);
    ins[1] = gc_param(r, 4, DC_SHAPE(c->O, c->C / c->o.groups, c->kh, c->kw), -0.5f, 0.5f);
    ins[2] = c->bias || c->res ? gc_param(r, 1, DC_SHAPE(c->O), -0.5f, 0.5f) : NULL;
    if (c->res) { /* [N, O, Ho, Wo] */
        const int64_t Ho = dc_conv_out_size(c->H, c->kh, c->o.stride_h, c->o.dilation_h,
                                            c->o.pad_top, c->o.pad_bottom);
        const int64_t Wo = dc_conv_out_size(c->W, c->kw, c->o.stride_w, c->o.dilation_w,
                                            c->o.pad_left, c->o.pad_right);
        ins[3] = gc_param(r, 4, DC_SHAPE(c->N, c->O, Ho, Wo), -1, 1);
    }
    const int n = all_made(ins, c->res ? 4 : c->bias ? 3 : 2);
    return n > 0 && c->o.relu && !conv_relu_off_kink(c, ins) ? -1 : n;
}

static dc_tensor *conv_fwd(dc_ctx *ctx, dc_tensor **ins, void *st)
{
    const conv_cfg *c = st;
    if (c->res)
        return dc_conv2d_add(ctx, ins[0], ins[1], c->bias ? ins[2] : NULL, ins[3], &c->o);
    return dc_conv2d(ctx, ins[0], ins[1], c->bias ? ins[2] : NULL, &c->o);
}

CFG_SETUP(conv, 0) CFG_SETUP(conv, 1) CFG_SETUP(conv, 2) CFG_SETUP(conv, 3) CFG_SETUP(conv, 4)
CFG_SETUP(conv, 5) CFG_SETUP(conv, 6) CFG_SETUP(conv, 7) CFG_SETUP(conv, 8) CFG_SETUP(conv, 9)
CFG_SETUP(conv, 10) CFG_SETUP(conv, 11) CFG_SETUP(conv, 12) CFG_SETUP(conv, 13)
CFG_SETUP(conv, 14) CFG_SETUP(conv, 15) CFG_SETUP(conv, 16) CFG_SETUP(conv, 17)
CFG_SETUP(conv, 18) CFG_SETUP(conv, 19) CFG_SETUP(conv, 20) CFG_SETUP(conv, 21)
CFG_SETUP(conv, 22)

/* ------------------------------------------------------------------------------------------ */
/* pooling                                                                                     */
/* ------------------------------------------------------------------------------------------ */

enum { P_MAX, P_AVG, P_ADAPTIVE };
typedef struct pool_cfg {
    int kind;
    int64_t N, C, H, W;
    dc_pool2d_opts o; /* kh, kw, stride_h, stride_w, pad_h, pad_w, ceil_mode, count_include_pad */
    int64_t oh, ow;   /* adaptive */
} pool_cfg;

static const pool_cfg pool_cfgs[] = {
    {P_MAX, 2, 3, 7, 6, {2, 2, 0, 0, 0, 0, 0, 1}, 0, 0},      /* 0 k2 s2 */
    {P_MAX, 2, 3, 7, 6, {3, 3, 2, 2, 1, 1, 0, 1}, 0, 0},      /* 1 k3 s2 p1 */
    {P_MAX, 2, 3, 7, 6, {2, 2, 2, 2, 0, 0, 1, 1}, 0, 0},      /* 2 k2 s2 ceil */
    {P_MAX, 2, 3, 5, 7, {3, 3, 3, 3, 1, 1, 1, 1}, 0, 0},      /* 3 k3 s3 p1 ceil (last window
                                                                   dropped along H) */
    {P_AVG, 2, 3, 7, 6, {2, 2, 0, 0, 0, 0, 0, 1}, 0, 0},      /* 4 k2 */
    {P_AVG, 2, 3, 7, 6, {3, 3, 2, 2, 1, 1, 0, 1}, 0, 0},      /* 5 k3 s2 p1 include pad */
    {P_AVG, 2, 3, 7, 6, {3, 3, 2, 2, 1, 1, 0, 0}, 0, 0},      /* 6 k3 s2 p1 exclude pad */
    {P_AVG, 2, 3, 7, 6, {3, 3, 2, 2, 0, 0, 1, 1}, 0, 0},      /* 7 k3 s2 ceil */
    {P_AVG, 2, 3, 7, 6, {3, 2, 2, 2, 1, 1, 1, 1}, 0, 0},      /* 8 k3x2 s2 p1 ceil include */
    {P_AVG, 2, 3, 7, 6, {3, 2, 2, 2, 1, 1, 1, 0}, 0, 0},      /* 9 k3x2 s2 p1 ceil exclude */
    {P_ADAPTIVE, 2, 3, 7, 6, {0, 0, 0, 0, 0, 0, 0, 0}, 1, 1}, /* 10 global */
    {P_ADAPTIVE, 2, 3, 7, 6, {0, 0, 0, 0, 0, 0, 0, 0}, 3, 2}, /* 11 to 3x2 */
    {P_ADAPTIVE, 2, 3, 7, 6, {0, 0, 0, 0, 0, 0, 0, 0}, 4, 4}, /* 12 overlapping bins */
};

/* Each H·W plane := a random permutation of {(k - HW/2)·0.1}. */
static int tie_free(dc_rng *r, dc_tensor *x)
{
    const int64_t hw = x->shape[2] * x->shape[3];
    int64_t *perm = malloc(sizeof *perm * (size_t)hw);
    if (!perm)
        return -1;
    for (int64_t p = 0; p < x->numel / hw; p++) {
        for (int64_t k = 0; k < hw; k++)
            perm[k] = k;
        dc_rng_shuffle(r, perm, hw);
        for (int64_t k = 0; k < hw; k++)
            dc_f32(x)[p * hw + k] = (float)(perm[k] - hw / 2) * 0.1f;
    }
    free(perm);
    return 0;
}

static int pool_setup(const pool_cfg *c, dc_rng *r, dc_tensor **ins)
{
    ins[0] = gc_param(r, 4, DC_SHAPE(c->N, c->C, c->H, c->W), -1, 1);
    if (!ins[0] || (c->kind == P_MAX && tie_free(r, ins[0]) != 0))
        return -1;
    return 1;
}

static dc_tensor *pool_fwd(dc_ctx *ctx, dc_tensor **ins, void *st)
{
    const pool_cfg *c = st;
    switch (c->kind) {
    case P_MAX: return dc_max_pool2d(ctx, ins[0], &c->o);
    case P_AVG: return dc_avg_pool2d(ctx, ins[0], &c->o);
    default: return dc_adaptive_avg_pool2d(ctx, ins[0], c->oh, c->ow);
    }
}

CFG_SETUP(pool, 0) CFG_SETUP(pool, 1) CFG_SETUP(pool, 2) CFG_SETUP(pool, 3) CFG_SETUP(pool, 4)
CFG_SETUP(pool, 5) CFG_SETUP(pool, 6) CFG_SETUP(pool, 7) CFG_SETUP(pool, 8) CFG_SETUP(pool, 9)
CFG_SETUP(pool, 10) CFG_SETUP(pool, 11) CFG_SETUP(pool, 12)

/* ------------------------------------------------------------------------------------------ */
/* batch norm (op)                                                                             */
/* ------------------------------------------------------------------------------------------ */

typedef struct bn_cfg {
    int ndim;
    int64_t shape[4];
    int affine, running; /* weight/bias given; running statistics given */
} bn_cfg;

static const bn_cfg bn_cfgs[] = {
    {4, {4, 3, 5, 4}, 1, 1}, /* 0 2d */
    {2, {8, 5}, 1, 1},       /* 1 1d [N, C] */
    {3, {4, 3, 6}, 1, 1},    /* 2 1d [N, C, L] */
    {4, {4, 3, 5, 4}, 0, 1}, /* 3 2d no affine */
    {4, {4, 3, 5, 4}, 1, 0}, /* 4 2d no running statistics */
};

/* ins: x, weight, bias (if affine), then running_mean, running_var (if running), constants. */
static int bn_setup(const bn_cfg *c, dc_rng *r, dc_tensor **ins)
{
    const int64_t C = c->shape[1];
    int n = 0;
    ins[n++] = gc_param(r, c->ndim, c->shape, -2, 2);
    if (c->affine) {
        ins[n++] = gc_param(r, 1, DC_SHAPE(C), 0.5f, 1.5f);
        ins[n++] = gc_param(r, 1, DC_SHAPE(C), -0.5f, 0.5f);
    }
    if (c->running) {
        ins[n++] = gc_const(r, 1, DC_SHAPE(C), -0.3f, 0.3f);
        ins[n++] = gc_const(r, 1, DC_SHAPE(C), 0.5f, 1.5f);
    }
    return all_made(ins, n);
}

/* Batch norm of row b on ins (x, then weight, bias, running statistics as b has them, then the
 * residual when res), + the residual, then the ReLU when relu. */
static dc_tensor *bn_call(dc_ctx *ctx, const bn_cfg *b, dc_tensor **ins, int res, int relu)
{
    dc_tensor *w = b->affine ? ins[1] : NULL, *bi = b->affine ? ins[2] : NULL;
    dc_tensor *rm = b->running ? ins[b->affine ? 3 : 1] : NULL;
    dc_tensor *rv = b->running ? ins[b->affine ? 4 : 2] : NULL;
    const int at = 1 + 2 * b->affine + 2 * b->running; /* the residual's slot */
    return dc_batch_norm_add_relu(ctx, ins[0], w, bi, rm, rv, NULL, 0.1f, 1e-5f,
                                  res ? ins[at] : NULL, relu);
}

static dc_tensor *bn_fwd(dc_ctx *ctx, dc_tensor **ins, void *st)
{
    return bn_call(ctx, st, ins, 0, 0);
}

CFG_SETUP(bn, 0) CFG_SETUP(bn, 1) CFG_SETUP(bn, 2) CFG_SETUP(bn, 3) CFG_SETUP(bn, 4)

/* dc_batch_norm_add_relu: batch norm of a bn_cfgs row, + a residual, then the ReLU. Off the
 * kink: with a residual, res = s - bn(x) for random |s| in [0.2, 1] of either sign, so every
 * output starts 0.2 or more from 0; without one, β is placed by kink_free_shift from bn(x)
 * with β = 0, with gaps over 0.06 (a step of x or γ moves x̂·γ by up to ~0.026 here). */
typedef struct bnar_cfg {
    int bn, res, relu, train; /* row of bn_cfgs */
} bnar_cfg;

static const bnar_cfg bnar_cfgs[] = {
    {0, 1, 1, 1}, /* 0 2d + res, relu, batch statistics */
    {0, 1, 1, 0}, /* 1 2d + res, relu, running statistics */
    {2, 1, 0, 1}, /* 2 1d [N,C,L] + res, no relu */
    {0, 0, 1, 1}, /* 3 2d relu only */
};

static int bnar_setup(const bnar_cfg *c, dc_rng *r, dc_tensor **ins)
{
    const bn_cfg *b = &bn_cfgs[c->bn];
    int n = bn_setup(b, r, ins);
    if (n < 0 || (!c->res && !b->affine))
        return n < 0 ? n : -1; /* the relu-only case moves β */
    if (c->res)
        ins[n++] = gc_param(r, b->ndim, b->shape, -1, 1);
    if (all_made(ins, n) < 0)
        return -1;
    dc_ctx *ctx = dc_ctx_new(0);
    int ok = ctx != NULL;
    if (ok) {
        dc_ctx_set_grad(ctx, 0);
        dc_ctx_set_training(ctx, c->train);
        if (!c->res)
            dc_tensor_fill(ins[2], 0.0f); /* β = 0: the shift found below is β itself */
        dc_tensor *z = bn_call(ctx, b, ins, 0, 0);
        ok = z != NULL;
        int64_t P = 1;
        for (int d = 2; d < b->ndim; d++)
            P *= b->shape[d];
        for (int64_t i = 0; ok && c->res && i < z->numel; i++) {
            const float s = 0.2f + 0.8f * dc_rng_uniform(r);
            dc_f32(ins[n - 1])[i] = (dc_rng_uniform(r) < 0.5f ? -s : s) - dc_f32(z)[i];
        }
        if (ok && !c->res)
            ok = kink_free_shift(dc_f32(z), b->shape[0], b->shape[1], P, dc_f32(ins[2]), 0.06f,
                                 "batch_norm+relu");
        dc_ctx_free(ctx);
    }
    return ok ? n : -1;
}

static dc_tensor *bnar_fwd(dc_ctx *ctx, dc_tensor **ins, void *st)
{
    const bnar_cfg *c = st;
    return bn_call(ctx, &bn_cfgs[c->bn], ins, c->res, c->relu);
}

CFG_SETUP(bnar, 0) CFG_SETUP(bnar, 1) CFG_SETUP(bnar, 2) CFG_SETUP(bnar, 3)

/* ------------------------------------------------------------------------------------------ */
/* modules: the model's trainable tensors are inputs; teardown frees the model                 */
/* ------------------------------------------------------------------------------------------ */

static int conv_mod_setup(dc_rng *r, dc_tensor **ins, void **st)
{
    dc_model *m = dc_model_new();
    if (!m)
        return -1;
    dc_conv2d_opts o = dc_conv2d_defaults();
    o.stride_h = o.stride_w = 2;
    o.pad_top = o.pad_bottom = o.pad_left = o.pad_right = 1;
    dc_module *mod = dc_conv2d_new(m, "conv1", 4, 6, 3, 3, &o, 1, r);
    return gc_module_finish(m, mod, gc_param(r, 4, DC_SHAPE(2, 4, 7, 6), -1, 1), ins, st);
}

static int bn_mod_setup(dc_rng *r, dc_tensor **ins, void **st)
{
    dc_model *m = dc_model_new();
    if (!m)
        return -1;
    dc_module *mod = dc_batch_norm_new(m, "bn1", 3, 0.1f, 1e-5f, 1);
    if (mod) { /* move γ, β away from their 1, 0 init so every term shows */
        dc_tensor_uniform(dc_model_find(m, "bn1.weight"), r, 0.5f, 1.5f);
        dc_tensor_uniform(dc_model_find(m, "bn1.bias"), r, -0.5f, 0.5f);
    }
    return gc_module_finish(m, mod, gc_param(r, 4, DC_SHAPE(4, 3, 5, 4), -2, 2), ins, st);
}

/* ------------------------------------------------------------------------------------------ */

#define CONV(i, name) {"conv2d " name, conv_setup_##i, conv_fwd, NULL, 0, 0, 0}
#define POOL(i, name) {name, pool_setup_##i, pool_fwd, NULL, 0, 0, 0}
#define BN(i, name, train) {"batch_norm " name, bn_setup_##i, bn_fwd, NULL, 0, 0, train}

static const gc_case cases[] = {
    CONV(0, "plain 3x3"),
    CONV(1, "stride 2"),
    CONV(2, "padding 1"),
    CONV(3, "padding (0,1,2,1)"),
    CONV(4, "dilation 2"),
    CONV(5, "groups 2"),
    CONV(6, "depthwise"),
    CONV(7, "no bias"),
    CONV(8, "1x1"),
    CONV(9, "1x1 stride 2"),
    CONV(10, "3x2 s(2,1) asym pad dil(2,1) g2"),
    CONV(11, "1x1 groups 2"),
    CONV(12, "direct rows 3x3 p1"),
    CONV(13, "direct channels 3x3 asym pad"),
    CONV(14, "direct channels 5x5 (C3)"),
    CONV(15, "fused relu, direct rows"),
    CONV(16, "fused relu, direct channels 5x5"),
    CONV(17, "fused relu, stride 2 (columns)"),
    CONV(18, "+ residual, relu, direct rows"),
    CONV(19, "+ residual, relu, direct channels 5x5"),
    CONV(20, "+ residual, stride 2 (columns)"),
    CONV(21, "winograd 3x3 16->16 rows of 32"),
    CONV(22, "+ residual, relu, winograd"),
    POOL(0, "max_pool2d k2 s2"),
    POOL(1, "max_pool2d k3 s2 p1"),
    POOL(2, "max_pool2d k2 s2 ceil"),
    POOL(3, "max_pool2d k3 s3 p1 ceil (drop last)"),
    POOL(4, "avg_pool2d k2"),
    POOL(5, "avg_pool2d k3 s2 p1 count_include_pad"),
    POOL(6, "avg_pool2d k3 s2 p1 exclude pad"),
    POOL(7, "avg_pool2d k3 s2 ceil"),
    POOL(8, "avg_pool2d k3x2 s2 p1 ceil include pad"),
    POOL(9, "avg_pool2d k3x2 s2 p1 ceil exclude pad"),
    POOL(10, "adaptive_avg_pool2d 7x6 -> 1x1"),
    POOL(11, "adaptive_avg_pool2d 7x6 -> 3x2"),
    POOL(12, "adaptive_avg_pool2d 7x6 -> 4x4"),
    BN(0, "2d train", 1),
    BN(1, "1d [N,C] train", 1),
    BN(2, "1d [N,C,L] train", 1),
    BN(3, "2d no affine train", 1),
    BN(0, "2d eval (running stats)", 0),
    BN(2, "1d [N,C,L] eval", 0),
    BN(4, "2d no running stats eval", 0),
    {"bn+add+relu 2d train", bnar_setup_0, bnar_fwd, NULL, 0, 0, 1},
    {"bn+add+relu 2d eval", bnar_setup_1, bnar_fwd, NULL, 0, 0, 0},
    {"bn+add 1d [N,C,L] train", bnar_setup_2, bnar_fwd, NULL, 0, 0, 1},
    {"bn+relu 2d train", bnar_setup_3, bnar_fwd, NULL, 0, 0, 1},
    {"conv2d module Conv2d(4,6,3,s2,p1)", conv_mod_setup, gc_module_fwd, gc_module_teardown, 0, 0, 0},
    {"batch_norm module BatchNorm2d train", bn_mod_setup, gc_module_fwd, gc_module_teardown, 0, 0, 1},
    {"batch_norm module BatchNorm2d eval", bn_mod_setup, gc_module_fwd, gc_module_teardown, 0, 0, 0},
};

const gc_list gc_conv = {cases, (int)(sizeof cases / sizeof *cases)};
