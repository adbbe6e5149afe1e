/*
 * conv_layers.c - the modules of the convolutional layers: Conv2d, MaxPool2d, AvgPool2d,
 * AdaptiveAvgPool2d, BatchNorm (1d and 2d: the op takes [N, C], [N, C, L] and [N, C, H, W]).
 * Parameters and buffers are registered under PyTorch's state_dict names.
 */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct conv2d_mod {
    dc_module base;
    dc_conv2d_opts o;
    dc_tensor *weight; /* [out, in/groups, kh, kw] */
    dc_tensor *bias;   /* [out] or NULL */
} conv2d_mod;

static dc_tensor *conv2d_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    conv2d_mod *c = (conv2d_mod *)m;
    return dc_conv2d(ctx, x, c->weight, c->bias, &c->o);
}

static dc_tensor *bn_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x);

typedef struct bn_mod {
    dc_module base;
    float momentum, eps;
    dc_tensor *weight, *bias;            /* [C] or NULL (affine = 0) */
    dc_tensor *running_mean, *running_var; /* [C] buffers */
    dc_tensor *num_batches_tracked;      /* int64 [] buffer */
} bn_mod;

/* Whether t is a float tensor of the shape of c's output for input x (an Add without
 * broadcasting). */
static bool is_output_shape(const conv2d_mod *c, const dc_tensor *x, const dc_tensor *t)
{
    const dc_conv2d_opts *o = &c->o;
    const dc_tensor *w = c->weight;
    return t && t->dtype == DC_F32 && t->ndim == 4 && x->ndim == 4 &&
           t->shape[0] == x->shape[0] && t->shape[1] == w->shape[0] &&
           t->shape[2] == dc_conv_out_size(x->shape[2], (int)w->shape[2], o->stride_h,
                                           o->dilation_h, o->pad_top, o->pad_bottom) &&
           t->shape[3] == dc_conv_out_size(x->shape[3], (int)w->shape[3], o->stride_w,
                                           o->dilation_w, o->pad_left, o->pad_right);
}

/* Conv2d [+ BatchNorm] [+ Add] [+ ReLU] as one convolution (see dc_module.fuse). The batch
 * norm folds in only with fixed statistics and no gradient wanted: w'[o] = w[o]·scale[o],
 * b'[o] = b[o]·scale[o] + shift[o] (dc_bn_scale_shift); the Add's other operand must have the
 * output's shape (a ResNet block's skip connection: dc_conv2d_add); the ReLU is applied as the
 * convolution stores (dc_conv2d_opts.relu). */
static dc_tensor *conv2d_fuse(dc_ctx *ctx, dc_module *m, dc_tensor *x, dc_module *const *next,
                              dc_tensor *const *side, int n_next, int *used)
{
    conv2d_mod *c = (conv2d_mod *)m;
    const bn_mod *bn = NULL;
    int k = 0;
    *used = 0;
    if (c->o.relu)
        return NULL; /* a ReLU of its own comes before anything that follows */
    if (n_next > 0 && next[0]->forward == bn_forward) {
        bn = (const bn_mod *)next[0];
        dc_tensor *ins[] = {x, c->weight, c->bias, bn->weight, bn->bias};
        if (dc_ctx_training(ctx) || !bn->running_mean || !bn->running_var ||
            bn->running_mean->numel != c->weight->shape[0] || dc_needs_grad(ctx, 5, ins))
            return NULL; /* batch statistics, or gradients through the fold: no fusion */
        k = 1;
    }
    dc_tensor *res = NULL;
    if (k < n_next && dc_module_is_add(next[k]) && is_output_shape(c, x, side[k]))
        res = side[k++];
    dc_conv2d_opts o = c->o;
    o.relu = k < n_next && dc_module_is_relu(next[k]);
    k += o.relu;
    if (k == 0)
        return NULL;
    dc_tensor *w = c->weight, *b = c->bias;
    if (bn) {
        const int64_t O = w->shape[0], per = w->numel / O;
        w = dc_empty(ctx, DC_F32, w->ndim, w->shape);
        b = dc_empty(ctx, DC_F32, 1, DC_SHAPE(O));
        float *scale = dc_ctx_alloc(ctx, sizeof(float) * (size_t)(3 * O)), *shift = scale + O;
        if (!w || !b || !scale)
            return NULL;
        dc_bn_invstd(O, dc_f32(bn->running_var), bn->eps, shift + O);
        dc_bn_scale_shift(O, bn->weight ? dc_f32(bn->weight) : NULL,
                          bn->bias ? dc_f32(bn->bias) : NULL, dc_f32(bn->running_mean),
                          shift + O, scale, shift);
        for (int64_t i = 0; i < O; i++) {
            for (int64_t j = 0; j < per; j++)
                dc_f32(w)[i * per + j] = dc_f32(c->weight)[i * per + j] * scale[i];
            dc_f32(b)[i] = (c->bias ? dc_f32(c->bias)[i] : 0.0f) * scale[i] + shift[i];
        }
    }
    dc_tensor *y = dc_conv2d_add(ctx, x, w, b, res, &o);
    *used = y ? k : 0;
    return y;
}

/* Each output element is a dot product of C/groups·kh·kw weights with the input window. */
static int64_t conv2d_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y)
{
    const dc_tensor *w = ((const conv2d_mod *)m)->weight;
    return y->numel * w->shape[1] * w->shape[2] * w->shape[3];
}

static dc_status conv2d_plan(const dc_module *m, const dc_tensor *x, int training, char *buf,
                             size_t n)
{
    const conv2d_mod *c = (const conv2d_mod *)m;
    if (x->ndim != 4)
        return dc_err(DC_ERR_SHAPE, "conv2d: input must be [N, C, H, W], got %d dims", x->ndim);
    return dc_conv2d_plan_str(x->shape, c->weight->shape, &c->o, training, buf, n);
}

dc_module *dc_conv2d_new(dc_model *m, const char *name, int64_t in, int64_t out, int kh, int kw,
                         const dc_conv2d_opts *o, int bias, dc_rng *rng)
{
    char key[160];
    const dc_conv2d_opts opts = o ? *o : dc_conv2d_defaults();
    const char *nm = name ? name : "?";
    if (!m || in <= 0 || out <= 0 || kh <= 0 || kw <= 0)
        return dc_err_null(DC_ERR_ARG, "Conv2d %s: needs a model and positive sizes (in %lld, "
                           "out %lld, kernel %dx%d)", nm, (long long)in, (long long)out, kh, kw);
    if (opts.stride_h < 1 || opts.stride_w < 1 || opts.dilation_h < 1 || opts.dilation_w < 1 ||
        opts.pad_top < 0 || opts.pad_bottom < 0 || opts.pad_left < 0 || opts.pad_right < 0 ||
        opts.groups < 1 || in % opts.groups || out % opts.groups)
        return dc_err_null(DC_ERR_ARG, "Conv2d %s: stride, dilation and groups must be >= 1, "
                           "padding >= 0, and groups %d must divide in %lld and out %lld", nm,
                           opts.groups, (long long)in, (long long)out);
    conv2d_mod *c = dc_module_alloc(sizeof *c, "Conv2d", name, conv2d_forward);
    if (!c)
        return NULL;
    c->o = opts;
    c->base.macs = conv2d_macs;
    c->base.fuse = conv2d_fuse;
    c->base.plan = conv2d_plan;
    const int64_t cin = in / opts.groups;
    if (!dc_join_name(key, sizeof key, name, "weight") ||
        !(c->weight = dc_model_add_param(m, key, DC_F32, 4, DC_SHAPE(out, cin, kh, kw), 0)))
        goto fail;
    if (bias && (!dc_join_name(key, sizeof key, name, "bias") ||
                 !(c->bias = dc_model_add_param(m, key, DC_F32, 1, DC_SHAPE(out), 0))))
        goto fail;
    if (rng) {
        /* kaiming_uniform(a=√5) gives U(±1/√fan_in); the bias uses the same bound */
        const float bound = 1.0f / sqrtf((float)(cin * kh * kw));
        dc_tensor_uniform(c->weight, rng, -bound, bound);
        if (c->bias)
            dc_tensor_uniform(c->bias, rng, -bound, bound);
    }
    return &c->base;
fail:
    free(c);
    return NULL;
}

typedef struct pool_mod {
    dc_module base;
    dc_pool2d_opts o;
    int64_t oh, ow; /* adaptive */
} pool_mod;

static dc_tensor *max_pool_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    return dc_max_pool2d(ctx, x, &((pool_mod *)m)->o);
}

static dc_tensor *avg_pool_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    return dc_avg_pool2d(ctx, x, &((pool_mod *)m)->o);
}

static dc_tensor *adaptive_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    pool_mod *p = (pool_mod *)m;
    return dc_adaptive_avg_pool2d(ctx, x, p->oh, p->ow);
}

static dc_module *pool_new(const char *type, const char *name, const dc_pool2d_opts *o,
                           dc_forward_fn fwd)
{
    if (!o || o->kh < 1 || o->kw < 1 || o->stride_h < 0 || o->stride_w < 0 || o->pad_h < 0 ||
        o->pad_w < 0 || o->pad_h > o->kh / 2 || o->pad_w > o->kw / 2)
        return dc_err_null(DC_ERR_ARG, "%s %s: needs a kernel >= 1, stride >= 0 (0 = kernel) "
                           "and padding at most half the kernel", type, name ? name : "?");
    pool_mod *p = dc_module_alloc(sizeof *p, type, name, fwd);
    if (p)
        p->o = *o;
    return p ? &p->base : NULL;
}

dc_module *dc_max_pool2d_new(dc_model *m, const char *name, const dc_pool2d_opts *o)
{
    (void)m;
    return pool_new("MaxPool2d", name, o, max_pool_forward);
}

dc_module *dc_avg_pool2d_new(dc_model *m, const char *name, const dc_pool2d_opts *o)
{
    (void)m;
    return pool_new("AvgPool2d", name, o, avg_pool_forward);
}

dc_module *dc_adaptive_avg_pool2d_new(dc_model *m, const char *name, int64_t oh, int64_t ow)
{
    (void)m;
    if (oh < 1 || ow < 1)
        return dc_err_null(DC_ERR_ARG, "AdaptiveAvgPool2d %s: output size %lldx%lld must be "
                           "positive", name ? name : "?", (long long)oh, (long long)ow);
    pool_mod *p = dc_module_alloc(sizeof *p, "AdaptiveAvgPool2d", name, adaptive_forward);
    if (p) {
        p->oh = oh;
        p->ow = ow;
    }
    return p ? &p->base : NULL;
}

/* Training mode (ctx flag): batch statistics, running statistics updated; eval: running ones. */
static dc_tensor *bn_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    bn_mod *b = (bn_mod *)m;
    return dc_batch_norm(ctx, x, b->weight, b->bias, b->running_mean, b->running_var,
                         b->num_batches_tracked, b->momentum, b->eps);
}

/* BatchNorm [+ Add] [+ ReLU] as one op (see dc_module.fuse): in training, or wherever no
 * Conv2d before it folded it in. The Add's other operand must have the input's shape. */
static dc_tensor *bn_fuse(dc_ctx *ctx, dc_module *m, dc_tensor *x, dc_module *const *next,
                          dc_tensor *const *side, int n_next, int *used)
{
    bn_mod *b = (bn_mod *)m;
    dc_tensor *res = NULL;
    int k = 0;
    *used = 0;
    if (n_next > 0 && dc_module_is_add(next[0]) && side[0] && side[0]->dtype == DC_F32 &&
        dc_same_shape(side[0], x))
        res = side[k++];
    const int relu = k < n_next && dc_module_is_relu(next[k]);
    k += relu;
    if (k == 0)
        return NULL;
    dc_tensor *y = dc_batch_norm_add_relu(ctx, x, b->weight, b->bias, b->running_mean,
                                          b->running_var, b->num_batches_tracked, b->momentum,
                                          b->eps, res, relu);
    *used = y ? k : 0;
    return y;
}

/* Register "<name>.<key>" as a [C] float parameter or buffer. */
static dc_tensor *add_vec(dc_model *m, const char *name, const char *key, int64_t C,
                          int is_buffer)
{
    char full[160];
    if (!dc_join_name(full, sizeof full, name, key))
        return dc_err_null(DC_ERR_ARG, "BatchNorm %s: name too long", name);
    return dc_model_add_param(m, full, DC_F32, 1, DC_SHAPE(C), is_buffer);
}

dc_module *dc_batch_norm_new(dc_model *m, const char *name, int64_t C, float momentum, float eps,
                             int affine)
{
    char key[160];
    if (!m || C <= 0 || !(eps >= 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f))
        return dc_err_null(DC_ERR_ARG, "BatchNorm %s: needs a model, C > 0 (got %lld), eps >= 0 "
                           "and momentum in [0, 1]", name ? name : "?", (long long)C);
    bn_mod *b = dc_module_alloc(sizeof *b, "BatchNorm", name, bn_forward);
    if (!b)
        return NULL;
    b->base.fuse = bn_fuse;
    b->momentum = momentum;
    b->eps = eps;
    if (affine && (!(b->weight = add_vec(m, name, "weight", C, 0)) ||
                   !(b->bias = add_vec(m, name, "bias", C, 0))))
        goto fail;
    if (!(b->running_mean = add_vec(m, name, "running_mean", C, 1)) ||
        !(b->running_var = add_vec(m, name, "running_var", C, 1)))
        goto fail;
    if (!dc_join_name(key, sizeof key, name, "num_batches_tracked") ||
        !(b->num_batches_tracked = dc_model_add_param(m, key, DC_I64, 0, DC_SHAPE(1), 1)))
        goto fail;
    /* the block may have moved while adding: fill through the final tensors */
    if (b->weight)
        dc_tensor_fill(b->weight, 1.0f);
    dc_tensor_fill(b->running_var, 1.0f);
    return &b->base;
fail:
    free(b);
    return NULL;
}
