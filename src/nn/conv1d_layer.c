/*
 * conv1d_layer.c - the Conv1d layer: module and descriptor (PyTorch nn.Conv1d, its
 * state_dict names weight [out, in/groups, k] and bias [out], its init).
 *   [N, C, L] -> [N, out_channels, L'],  L' = floor((L + pl + pr - d·(k - 1) - 1) / s) + 1
 */
#include "nn/layer_desc.h"

#include <math.h>
#include <stdlib.h>

typedef struct conv1d_mod {
    dc_module base;
    dc_conv1d_opts o;
    dc_tensor *weight; /* [out, in/groups, k] */
    dc_tensor *bias;   /* [out] or NULL */
} conv1d_mod;

static dc_tensor *conv1d_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    conv1d_mod *c = (conv1d_mod *)m;
    return dc_conv1d(ctx, x, c->weight, c->bias, &c->o);
}

/* Each output element is a dot product of C/groups·k weights with the input window. */
static int64_t conv1d_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y)
{
    const dc_tensor *w = ((const conv1d_mod *)m)->weight;
    return y->numel * w->shape[1] * w->shape[2];
}

dc_module *dc_conv1d_new(dc_model *m, const char *name, int64_t in, int64_t out, int k,
                         const dc_conv1d_opts *o, int bias, dc_rng *rng)
{
    char key[160];
    const dc_conv1d_opts opts = o ? *o : (dc_conv1d_opts){1, 1, 1, 0, 0};
    const char *nm = name ? name : "?";
    if (!m || in <= 0 || out <= 0 || k <= 0 || opts.stride < 1 || opts.dilation < 1 ||
        opts.groups < 1 || opts.pad_left < 0 || opts.pad_right < 0 || in % opts.groups ||
        out % opts.groups)
        return dc_err_null(DC_ERR_ARG, "Conv1d %s: needs a model, positive sizes (in %lld, out "
                           "%lld, kernel %d), stride, dilation, groups >= 1, padding >= 0 and "
                           "groups %d dividing in and out", nm, (long long)in, (long long)out,
                           k, opts.groups);
    conv1d_mod *c = dc_module_alloc(sizeof *c, "Conv1d", name, conv1d_forward);
    if (!c)
        return NULL;
    c->o = opts;
    const int64_t cin = in / opts.groups;
    if (!dc_join_name(key, sizeof key, name, "weight") ||
        !(c->weight = dc_model_add_param(m, key, DC_F32, 3, DC_SHAPE(out, cin, k), 0)))
        goto fail;
    if (bias && (!dc_join_name(key, sizeof key, name, "bias") ||
                 !(c->bias = dc_model_add_param(m, key, DC_F32, 1, DC_SHAPE(out), 0))))
        goto fail;
    if (rng) { /* kaiming_uniform(a=√5): U(±1/√fan_in); the bias uses the same bound */
        const float bound = 1.0f / sqrtf((float)(cin * k));
        dc_tensor_uniform(c->weight, rng, -bound, bound);
        if (c->bias)
            dc_tensor_uniform(c->bias, rng, -bound, bound);
    }
    return &c->base;
fail:
    free(c);
    return NULL;
}

/* ---- descriptor (src/nn/layer_desc.h) ---- */

static dc_module *build_conv1d(dc_layer_args *a)
{
    dc_conv1d_opts o = {(int)a->v[3].i[0], (int)a->v[4].i[0], (int)a->v[5].i[0], 0, 0};
    const int k = (int)a->v[2].i[0];
    const dc_layer_val *p = &a->v[6];
    if (p->word == 1) /* same */
        dc_same_padding(a->x->shape[2], k, o.stride, o.dilation, &o.pad_left, &o.pad_right);
    else if (p->word == 0) {
        o.pad_left = (int)p->i[0];
        o.pad_right = (int)p->i[p->n - 1];
    }
    return dc_conv1d_new(a->m, a->name, a->v[0].i[0], a->v[1].i[0], k, &o, (int)a->v[7].i[0],
                         a->rng);
}

static const dc_layer_key conv1d_keys[] = {
    DC_KEY_IN_DIM("in_channels", 1, "the input's channels"),
    DC_KEY_I("out_channels", NULL, 1, 1 << 20, "output channels"),
    DC_KEY_I("kernel", NULL, 1, 1 << 16, "kernel size k"),
    DC_KEY_I("stride", "1", 1, 1 << 16, "step between windows"),
    DC_KEY_I("dilation", "1", 1, 1 << 16, "spacing of the kernel taps"),
    DC_KEY_I("groups", "1", 1, 1 << 20, "channel groups (in and out channels divisible)"),
    {"padding", DC_KEY_INTS, "0", 0, 1 << 16, 1, 2, "same|valid", 0,
     "`p`, `left, right`, `same` or `valid`"},
    DC_KEY_B("bias", "true", "add a learned bias per output channel"),
};
const dc_layer_desc dc_layer_conv1d = {
    .type = "conv1d", .module = "Conv1d", .torch = "nn.Conv1d (plus asymmetric padding)",
    .doc = "1-d cross-correlation: [N, C, L] -> [N, out_channels, L']", .min_ndim = 3,
    .max_ndim = 3, .rank_msg = "conv1d takes [N, C, L] input; use conv2d for images",
    .keys = conv1d_keys, .n_keys = 8, .build = build_conv1d, .params = "weight bias",
    .macs = conv1d_macs, .gradcheck = "conv1d",
};
