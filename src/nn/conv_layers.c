/*
 * conv_layers.c - the modules of the convolutional layers: Conv2d, MaxPool2d, AvgPool2d,
 * AdaptiveAvgPool2d, BatchNorm (1d and 2d: the op takes [N, C], [N, C, L] and [N, C, H, W]).
 * Parameters and buffers are registered under PyTorch's state_dict names.
 */
#include "nn/layer_desc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- descriptors (src/nn/layer_desc.h) ---- */

/* padding = same | valid | p | ph, pw | top, bottom, left, right (key 6 of conv2d_keys) */
static dc_module *conv2d_padding(dc_layer_args *a, int kh, int kw, dc_conv2d_opts *o)
{
    const dc_layer_val *p = &a->v[6];
    if (p->word == 1) { /* same */
        dc_same_padding(a->x->shape[2], kh, o->stride_h, o->dilation_h, &o->pad_top,
                        &o->pad_bottom);
        dc_same_padding(a->x->shape[3], kw, o->stride_w, o->dilation_w, &o->pad_left,
                        &o->pad_right);
    } else if (p->word == 0 && p->n == 3) {
        return dc_layer_refuse(a, 6, "give 1 (all sides), 2 (h, w) or 4 (top, bottom, left, "
                               "right) values, or same / valid");
    } else if (p->word == 0 && p->n <= 2) {
        o->pad_top = o->pad_bottom = (int)p->i[0];
        o->pad_left = o->pad_right = (int)p->i[p->n - 1];
    } else if (p->word == 0) {
        o->pad_top = (int)p->i[0];
        o->pad_bottom = (int)p->i[1];
        o->pad_left = (int)p->i[2];
        o->pad_right = (int)p->i[3];
    }
    return NULL;
}

static dc_module *build_conv2d(dc_layer_args *a)
{
    dc_conv2d_opts o = dc_conv2d_defaults();
    int kh, kw;
    dc_layer_pair(&a->v[2], &kh, &kw);
    dc_layer_pair(&a->v[3], &o.stride_h, &o.stride_w);
    dc_layer_pair(&a->v[4], &o.dilation_h, &o.dilation_w);
    o.groups = (int)a->v[5].i[0];
    conv2d_padding(a, kh, kw, &o);
    if (*a->msg)
        return NULL;
    return dc_conv2d_new(a->m, a->name, a->v[0].i[0], a->v[1].i[0], kh, kw, &o,
                         (int)a->v[7].i[0], a->rng);
}

static const dc_layer_key conv2d_keys[] = {
    DC_KEY_IN_DIM("in_channels", 1, "the input's channels"),
    DC_KEY_I("out_channels", NULL, 1, 1 << 20, "output channels"),
    DC_KEY_PAIR("kernel", NULL, 1, 1024, "`k` or `kh, kw`"),
    DC_KEY_PAIR("stride", "1", 1, 1024, "`s` or `sh, sw`"),
    DC_KEY_PAIR("dilation", "1", 1, 1024, "spacing of the kernel taps"),
    DC_KEY_I("groups", "1", 1, 1 << 20, "channel groups (in and out channels divisible)"),
    {"padding", DC_KEY_INTS, "0", 0, 4096, 1, 4, "same|valid", 0,
     "`p`, `ph, pw`, `top, bottom, left, right`, `same` or `valid`"},
    DC_KEY_B("bias", "true", "add a learned bias per output channel"),
};
const dc_layer_desc dc_layer_conv2d = {
    .type = "conv2d", .module = "Conv2d", .torch = "nn.Conv2d (plus asymmetric padding)",
    .doc = "2-d cross-correlation: [N, C, H, W] -> [N, out_channels, H', W']", .min_ndim = 4,
    .keys = conv2d_keys, .n_keys = 8, .build = build_conv2d, .params = "weight bias",
    .macs = conv2d_macs, .gradcheck = "conv2d",
};

/* Keys 0..3 (4 with count_include_pad) of pool_keys. */
static dc_module *build_pool(dc_layer_args *a)
{
    int kh, kw;
    dc_layer_pair(&a->v[0], &kh, &kw);
    dc_pool2d_opts o = dc_pool2d_defaults(kh);
    o.kh = kh;
    o.kw = kw;
    dc_layer_pair(&a->v[1], &o.stride_h, &o.stride_w);
    dc_layer_pair(&a->v[2], &o.pad_h, &o.pad_w);
    o.ceil_mode = (int)a->v[3].i[0];
    if (a->desc->n_keys > 4) {
        o.count_include_pad = (int)a->v[4].i[0];
        return dc_avg_pool2d_new(a->m, a->name, &o);
    }
    return dc_max_pool2d_new(a->m, a->name, &o);
}

static const dc_layer_key pool_keys[] = {
    DC_KEY_PAIR("kernel", NULL, 1, 1024, "`k` or `kh, kw`"),
    DC_KEY_PAIR("stride", "=kernel", 1, 1024, "`s` or `sh, sw`"),
    DC_KEY_PAIR("padding", "0", 0, 512, "`p` or `ph, pw`, at most half the kernel"),
    DC_KEY_B("ceil_mode", "false", "round the output size up"),
    DC_KEY_B("count_include_pad", "true", "average over the padded window"),
};
const dc_layer_desc dc_layer_maxpool2d = {
    .type = "maxpool2d", .module = "MaxPool2d", .torch = "nn.MaxPool2d",
    .doc = "the maximum of each window: [N, C, H, W] -> [N, C, H', W']", .keys = pool_keys,
    .n_keys = 4, .build = build_pool, .params = "", .gradcheck = "max_pool2d",
};
const dc_layer_desc dc_layer_avgpool2d = {
    .type = "avgpool2d", .module = "AvgPool2d", .torch = "nn.AvgPool2d",
    .doc = "the mean of each window: [N, C, H, W] -> [N, C, H', W']", .keys = pool_keys,
    .n_keys = 5, .build = build_pool, .params = "", .gradcheck = "avg_pool2d",
};

static dc_module *build_adaptive(dc_layer_args *a)
{
    int oh, ow;
    dc_layer_pair(&a->v[0], &oh, &ow);
    return dc_adaptive_avg_pool2d_new(a->m, a->name, oh, ow);
}

static const dc_layer_key adaptive_keys[] = {
    DC_KEY_PAIR("output", "1", 1, 4096, "output `h, w` (1: global average pooling)"),
};
const dc_layer_desc dc_layer_adaptiveavgpool2d = {
    .type = "adaptiveavgpool2d", .module = "AdaptiveAvgPool2d", .torch = "nn.AdaptiveAvgPool2d",
    .doc = "mean over adaptive windows: [N, C, H, W] -> [N, C, oh, ow]", .keys = adaptive_keys,
    .n_keys = 1, .build = build_adaptive, .params = "", .gradcheck = "adaptive_avg_pool2d",
};

static dc_module *build_bn(dc_layer_args *a)
{
    return dc_batch_norm_new(a->m, a->name, a->v[0].i[0], (float)a->v[2].f, (float)a->v[1].f,
                             (int)a->v[3].i[0]);
}

static const dc_layer_key bn_keys[] = {
    DC_KEY_IN_DIM("num_features", 1, "the input's channels"),
    DC_KEY_F("eps", "1e-05", 0, 1, "added to the variance"),
    DC_KEY_F("momentum", "0.1", 0, 1, "running statistics: r = (1 - m)·r + m·batch"),
    DC_KEY_B("affine", "true", "learned weight and bias per channel"),
};
const dc_layer_desc dc_layer_batchnorm1d = {
    .type = "batchnorm1d", .module = "BatchNorm", .torch = "nn.BatchNorm1d",
    .doc = "normalise each channel over the batch: [N, C] or [N, C, L]", .min_ndim = 2,
    .max_ndim = 3,
    .rank_msg = "batchnorm1d takes [N, C] or [N, C, L] input; use batchnorm2d for images",
    .keys = bn_keys, .n_keys = 4, .build = build_bn,
    .params = "weight bias running_mean running_var num_batches_tracked",
    .gradcheck = "batch_norm 1d|bn+add 1d",
};
const dc_layer_desc dc_layer_batchnorm2d = {
    .type = "batchnorm2d", .module = "BatchNorm", .torch = "nn.BatchNorm2d",
    .doc = "normalise each channel over batch and space: [N, C, H, W]", .min_ndim = 4,
    .keys = bn_keys, .n_keys = 4, .build = build_bn,
    .params = "weight bias running_mean running_var num_batches_tracked",
    .gradcheck = "batch_norm 2d|BatchNorm2d|bn+",
};
