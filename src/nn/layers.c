/*
 * layers.c - the parameter-light modules: Linear, Dropout, activations, Flatten.
 */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>

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
    l->base.macs = linear_macs;
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
