/*
 * layers.c - the parameter-light modules: Linear, Dropout, activations, Flatten.
 */
#include "nn/layer_desc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct linear {
    dc_module base;
    dc_tensor *weight; /* [out, in] */
    dc_tensor *bias;   /* [out] or NULL */
} linear;

static dc_tensor *linear_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    linear *l = (linear *)m;
    return dc_linear(ctx, x, l->weight, l->bias);
}

/* x [..., I] -> y [..., O]: numel(y)·I multiply-accumulates. */
static int64_t linear_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y)
{
    return y->numel * ((const linear *)m)->weight->shape[1];
}

dc_module *dc_linear_new(dc_model *m, const char *name, int64_t in, int64_t out, int bias,
                         dc_rng *rng)
{
    char key[160];
    if (!m || in <= 0 || out <= 0)
        return dc_err_null(DC_ERR_ARG, "Linear %s: needs a model and positive sizes (in %lld, "
                           "out %lld)", name ? name : "?", (long long)in, (long long)out);
    linear *l = dc_module_alloc(sizeof *l, "Linear", name, linear_forward);
    if (!l)
        return NULL;
    if (!dc_join_name(key, sizeof key, name, "weight") ||
        !(l->weight = dc_model_add_param(m, key, DC_F32, 2, DC_SHAPE(out, in), 0)))
        goto fail;
    if (bias && (!dc_join_name(key, sizeof key, name, "bias") ||
                 !(l->bias = dc_model_add_param(m, key, DC_F32, 1, DC_SHAPE(out), 0))))
        goto fail;
    if (rng) {
        /* kaiming_uniform(a=√5): gain √(2/(1+5)), bound gain·√(3/fan_in) = 1/√fan_in. */
        float bound = 1.0f / sqrtf((float)in);
        dc_tensor_uniform(l->weight, rng, -bound, bound);
        if (l->bias)
            dc_tensor_uniform(l->bias, rng, -bound, bound);
    }
    return &l->base;
fail:
    free(l);
    return NULL;
}

typedef struct dropout {
    dc_module base;
    float p;
} dropout;

static dc_tensor *dropout_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    return dc_dropout(ctx, x, ((dropout *)m)->p);
}

dc_module *dc_dropout_new(dc_model *m, const char *name, float p)
{
    (void)m;
    if (!(p >= 0.0f && p < 1.0f))
        return dc_err_null(DC_ERR_ARG, "Dropout %s: p must be in [0, 1), got %g",
                           name ? name : "?", (double)p);
    dropout *d = dc_module_alloc(sizeof *d, "Dropout", name, dropout_forward);
    if (d)
        d->p = p;
    return d ? &d->base : NULL;
}

typedef struct act {
    dc_module base;
    dc_act kind;
    float slope;
} act;

static dc_tensor *act_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    act *a = (act *)m;
    switch (a->kind) {
    case DC_ACT_RELU: return dc_relu(ctx, x);
    case DC_ACT_LEAKY_RELU: return dc_leaky_relu(ctx, x, a->slope);
    case DC_ACT_SIGMOID: return dc_sigmoid(ctx, x);
    case DC_ACT_TANH: return dc_tanh(ctx, x);
    case DC_ACT_GELU: return dc_gelu(ctx, x, 0);
    case DC_ACT_SOFTMAX: return dc_softmax(ctx, x, -1);
    case DC_ACT_LOG_SOFTMAX: return dc_log_softmax(ctx, x, -1);
    }
    return dc_err_null(DC_ERR_ARG, "activation %s: unknown kind", m->name);
}

bool dc_module_is_relu(const dc_module *m)
{
    return m && m->forward == act_forward && ((const act *)m)->kind == DC_ACT_RELU;
}

static const char *act_type(dc_act k)
{
    static const char *names[] = {"ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax",
                                  "LogSoftmax"};
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : NULL;
}

dc_module *dc_act_new(dc_model *m, const char *name, dc_act kind, float slope)
{
    (void)m;
    const char *type = act_type(kind);
    if (!type)
        return dc_err_null(DC_ERR_ARG, "activation %s: unknown kind %d", name ? name : "?",
                           (int)kind);
    act *a = dc_module_alloc(sizeof *a, type, name, act_forward);
    if (a) {
        a->kind = kind;
        a->slope = slope;
    }
    return a ? &a->base : NULL;
}

static dc_tensor *flatten_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    (void)m;
    return dc_flatten(ctx, x, 1, -1);
}

dc_module *dc_flatten_new(dc_model *m, const char *name)
{
    (void)m;
    return dc_module_alloc(sizeof(dc_module), "Flatten", name, flatten_forward);
}

/* ---- multi-input joins ---- */

static dc_tensor *add_forward_n(dc_ctx *ctx, dc_module *m, dc_tensor *const *xs, int n)
{
    dc_tensor *y = xs[0];
    for (int i = 1; i < n; i++)
        y = dc_add(ctx, y, xs[i]);
    return y;
}

static dc_tensor *join_forward_one(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    return m->forward_n(ctx, m, &x, 1);
}

bool dc_module_is_add(const dc_module *m) { return m && m->forward_n == add_forward_n; }

dc_module *dc_add_new(dc_model *m, const char *name)
{
    (void)m;
    dc_module *mod = dc_module_alloc(sizeof *mod, "Add", name, join_forward_one);
    if (mod)
        mod->forward_n = add_forward_n;
    return mod;
}

typedef struct concat {
    dc_module base;
    int axis;
} concat;

static dc_tensor *concat_forward_n(dc_ctx *ctx, dc_module *m, dc_tensor *const *xs, int n)
{
    return dc_concat(ctx, xs, n, ((concat *)m)->axis);
}

dc_module *dc_concat_new(dc_model *m, const char *name, int axis)
{
    (void)m;
    concat *c = dc_module_alloc(sizeof *c, "Concat", name, join_forward_one);
    if (c) {
        c->base.forward_n = concat_forward_n;
        c->axis = axis;
    }
    return c ? &c->base : NULL;
}

/* ---- descriptors (src/nn/layer_desc.h) ---- */

static dc_module *build_linear(dc_layer_args *a)
{
    return dc_linear_new(a->m, a->name, a->v[0].i[0], a->v[1].i[0], (int)a->v[2].i[0], a->rng);
}

static const dc_layer_key linear_keys[] = {
    DC_KEY_IN_DIM("in_features", -1, "the input's last dim"),
    DC_KEY_I("out_features", NULL, 1, 0x1p30, "output size"),
    DC_KEY_B("bias", "true", "add a learned bias"),
};
const dc_layer_desc dc_layer_linear = {
    .type = "linear", .module = "Linear", .torch = "nn.Linear",
    .doc = "y = x W^T + b over the last dim: [N, ..., in] -> [N, ..., out]",
    .min_ndim = 2, .keys = linear_keys, .n_keys = 3, .build = build_linear,
    .params = "weight bias", .macs = linear_macs, .gradcheck = "linear |Linear(",
};

static dc_module *build_act(dc_layer_args *a)
{
    static const struct {
        const char *type;
        dc_act act;
    } acts[] = {{"relu", DC_ACT_RELU},       {"sigmoid", DC_ACT_SIGMOID},
                {"tanh", DC_ACT_TANH},       {"gelu", DC_ACT_GELU},
                {"softmax", DC_ACT_SOFTMAX}, {"logsoftmax", DC_ACT_LOG_SOFTMAX},
                {"leakyrelu", DC_ACT_LEAKY_RELU}};
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
        if (!strcmp(a->desc->type, acts[i].type))
            return dc_act_new(a->m, a->name, acts[i].act,
                              a->desc->n_keys ? (float)a->v[0].f : 0.0f);
    return dc_layer_refuse(a, -1, "no activation for this type");
}

/* One activation descriptor: type, module type, PyTorch, formula, gradcheck filter. */
#define ACT_DESC(id, mod, th, formula, gc)                                                    \
    const dc_layer_desc dc_layer_##id = {                                                     \
        .type = #id, .module = mod, .torch = th, .doc = formula " (same shape)",              \
        .build = build_act, .params = "", .gradcheck = gc,                                    \
    }
ACT_DESC(relu, "ReLU", "nn.ReLU", "max(x, 0)", "relu [|ReLU module");
ACT_DESC(sigmoid, "Sigmoid", "nn.Sigmoid", "1 / (1 + e^-x)", "sigmoid");
ACT_DESC(tanh, "Tanh", "nn.Tanh", "tanh x", "tanh [|Tanh-");
ACT_DESC(gelu, "GELU", "nn.GELU", "x·Φ(x), exact erf form", "gelu exact|GELU");
ACT_DESC(softmax, "Softmax", "nn.Softmax(dim=-1)", "e^x / Σ e^x over the last axis",
         "softmax axis -1|Softmax module");
ACT_DESC(logsoftmax, "LogSoftmax", "nn.LogSoftmax(dim=-1)", "x - log Σ e^x over the last axis",
         "log_softmax axis -1|LogSoftmax");

static const dc_layer_key leaky_keys[] = {
    DC_KEY_F("negative_slope", "0.01", -1e6, 1e6, "slope for x < 0"),
};
const dc_layer_desc dc_layer_leakyrelu = {
    .type = "leakyrelu", .module = "LeakyReLU", .torch = "nn.LeakyReLU",
    .doc = "x if x > 0 else negative_slope·x (same shape)", .keys = leaky_keys, .n_keys = 1,
    .build = build_act, .params = "", .gradcheck = "leaky_relu|LeakyReLU",
};

static dc_module *build_dropout(dc_layer_args *a)
{
    return dc_dropout_new(a->m, a->name, (float)a->v[0].f);
}

static const dc_layer_key dropout_keys[] = {
    DC_KEY_F("p", "0.5", 0, 0.999999, "probability of zeroing an element in training"),
};
const dc_layer_desc dc_layer_dropout = {
    .type = "dropout", .module = "Dropout", .torch = "nn.Dropout",
    .doc = "in training zero each element with probability p, scale the rest by 1/(1-p)",
    .keys = dropout_keys, .n_keys = 1, .build = build_dropout, .params = "",
    .gradcheck = "dropout|Dropout",
};

static dc_module *build_flatten(dc_layer_args *a) { return dc_flatten_new(a->m, a->name); }

const dc_layer_desc dc_layer_flatten = {
    .type = "flatten", .module = "Flatten", .torch = "nn.Flatten",
    .doc = "all but the batch dim into one: [N, ...] -> [N, F]", .build = build_flatten,
    .params = "", .gradcheck = "flatten",
};

static dc_module *build_add(dc_layer_args *a) { return dc_add_new(a->m, a->name); }

const dc_layer_desc dc_layer_add = {
    .type = "add", .module = "Add", .torch = "a + b",
    .doc = "the sum of its inputs (`input = a, b`, two or more layers; broadcasting)",
    .build = build_add, .params = "", .gradcheck = "add [|add bcast|+ residual",
};

static dc_module *build_concat(dc_layer_args *a)
{
    return dc_concat_new(a->m, a->name, (int)a->v[0].i[0]);
}

static const dc_layer_key concat_keys[] = {
    DC_KEY_I("axis", "1", -5, 4, "the axis to join along (negatives from the end)"),
};
const dc_layer_desc dc_layer_concat = {
    .type = "concat", .module = "Concat", .torch = "torch.cat",
    .doc = "its inputs (`input = a, b`) joined along axis", .keys = concat_keys, .n_keys = 1,
    .build = build_concat, .params = "", .gradcheck = "concat",
};
