/*
 * gc_layers.c - gradient-check cases for modules run through dc_model_forward: Linear (with and
 * without bias, 2-D and 3-D input), Dropout, activation modules and a 2-layer MLP.
 *
 * A setup builds a dc_model (state) and exposes its parameters as inputs after the model input
 * x: they carry DC_TF_REQUIRES_GRAD and their gradients live in the model's block. The teardown
 * frees the model and only the inputs that are not model parameters.
 */
#include "gradcheck.h"

static void teardown_model(dc_tensor **in, int n, void *st)
{
    for (int i = 0; i < n; i++)
        if (in[i] && !(in[i]->flags & DC_TF_PARAM))
            dc_tensor_free(in[i]);
    dc_model_free(st);
}

static dc_tensor *fwd_model(dc_ctx *ctx, dc_tensor **in, void *st)
{
    return dc_model_forward(ctx, st, in[0]);
}

/* ins = x, then every trainable tensor of m in registration order; -1 on failure (all freed). */
static int expose(dc_model *m, dc_tensor *x, dc_tensor **in, void **st)
{
    int n = 0;
    if (!m || !x)
        goto fail;
    in[n++] = x;
    for (int i = 0; i < dc_model_n_tensors(m) && n < GC_MAX_IN; i++)
        if (!dc_model_is_buffer(m, i))
            in[n++] = dc_model_tensor(m, i);
    *st = m;
    return n;
fail:
    dc_tensor_free(x);
    dc_model_free(m);
    return -1;
}

/* A model of the given modules; NULL (model freed) if any failed to build or add. */
static dc_model *build(dc_model *m, dc_module *const *mods, int n)
{
    int ok = m != NULL;
    for (int i = 0; i < n; i++)
        if (dc_model_add(m, mods[i]) != DC_OK) /* takes ownership even on failure */
            ok = 0;
    if (!ok) {
        dc_model_free(m);
        return NULL;
    }
    return m;
}

static int s_linear(dc_rng *r, dc_tensor **in, void **st)
{
    dc_model *m = dc_model_new();
    dc_module *mods[] = {dc_linear_new(m, "fc", 3, 5, 1, r)};
    m = build(m, mods, 1);
    return expose(m, gc_param(r, 2, DC_SHAPE(4, 3), -1, 1), in, st);
}

static int s_linear_nb3(dc_rng *r, dc_tensor **in, void **st)
{
    dc_model *m = dc_model_new();
    dc_module *mods[] = {dc_linear_new(m, "proj", 4, 3, 0, r)};
    m = build(m, mods, 1);
    return expose(m, gc_param(r, 3, DC_SHAPE(2, 3, 4), -1, 1), in, st);
}

static int s_linear_const_x(dc_rng *r, dc_tensor **in, void **st)
{
    dc_model *m = dc_model_new();
    dc_module *mods[] = {dc_linear_new(m, "fc", 6, 2, 1, r)};
    m = build(m, mods, 1);
    return expose(m, gc_const(r, 2, DC_SHAPE(5, 6), -1, 1), in, st);
}

static int s_dropout(dc_rng *r, dc_tensor **in, void **st)
{
    dc_model *m = dc_model_new();
    dc_module *mods[] = {dc_dropout_new(m, "drop", 0.4f)};
    m = build(m, mods, 1);
    return expose(m, gc_param(r, 2, DC_SHAPE(6, 5), -2, 2), in, st);
}

/* One activation module over x [3, 5]; relu-like kinds get x away from 0. */
static int s_act(dc_rng *r, dc_tensor **in, void **st, dc_act kind)
{
    static const float zero[1] = {0.0f};
    dc_model *m = dc_model_new();
    dc_module *mods[] = {dc_act_new(m, "act", kind, 0.2f)};
    dc_tensor *x = gc_param(r, 2, DC_SHAPE(3, 5), -2, 2);
    if (x && (kind == DC_ACT_RELU || kind == DC_ACT_LEAKY_RELU))
        gc_avoid(x, zero, 1, 0.05f);
    m = build(m, mods, 1);
    return expose(m, x, in, st);
}

static int s_relu(dc_rng *r, dc_tensor **in, void **st) { return s_act(r, in, st, DC_ACT_RELU); }
static int s_leaky(dc_rng *r, dc_tensor **in, void **st)
{
    return s_act(r, in, st, DC_ACT_LEAKY_RELU);
}
static int s_gelu(dc_rng *r, dc_tensor **in, void **st) { return s_act(r, in, st, DC_ACT_GELU); }
static int s_softmax(dc_rng *r, dc_tensor **in, void **st)
{
    return s_act(r, in, st, DC_ACT_SOFTMAX);
}
static int s_logsm(dc_rng *r, dc_tensor **in, void **st)
{
    return s_act(r, in, st, DC_ACT_LOG_SOFTMAX);
}

/* x [4, 3] -> Linear(3, 6) -> Tanh -> Linear(6, 2) (a smooth activation: no kinks to dodge). */
static int s_mlp(dc_rng *r, dc_tensor **in, void **st)
{
    dc_model *m = dc_model_new();
    dc_module *mods[3];
    mods[0] = dc_linear_new(m, "fc1", 3, 6, 1, r); /* made in order: fc1 draws first */
    mods[1] = dc_act_new(m, "act", DC_ACT_TANH, 0);
    mods[2] = dc_linear_new(m, "fc2", 6, 2, 1, r);
    m = build(m, mods, 3);
    return expose(m, gc_param(r, 2, DC_SHAPE(4, 3), -1, 1), in, st);
}

/* x [4, 3] -> Linear(3, 8) -> GELU -> Dropout(0.25) -> Linear(8, 3) -> LogSoftmax. */
static int s_mlp_drop(dc_rng *r, dc_tensor **in, void **st)
{
    dc_model *m = dc_model_new();
    dc_module *mods[5];
    mods[0] = dc_linear_new(m, "fc1", 3, 8, 1, r);
    mods[1] = dc_act_new(m, "a1", DC_ACT_GELU, 0);
    mods[2] = dc_dropout_new(m, "drop", 0.25f);
    mods[3] = dc_linear_new(m, "fc2", 8, 3, 1, r);
    mods[4] = dc_act_new(m, "out", DC_ACT_LOG_SOFTMAX, 0);
    m = build(m, mods, 5);
    return expose(m, gc_param(r, 2, DC_SHAPE(4, 3), -1, 1), in, st);
}

#define CASE(name, setup, training) {name, setup, fwd_model, teardown_model, 0, 0, training}

static const gc_case cases[] = {
    CASE("Linear(3,5) module", s_linear, 0),
    CASE("Linear(4,3) no bias, 3-d input", s_linear_nb3, 0),
    CASE("Linear(6,2) const input", s_linear_const_x, 0),
    CASE("Dropout(0.4) module (train)", s_dropout, 1),
    CASE("Dropout(0.4) module (eval)", s_dropout, 0),
    CASE("ReLU module", s_relu, 0),
    CASE("LeakyReLU(0.2) module", s_leaky, 0),
    CASE("GELU module", s_gelu, 0),
    CASE("Softmax module", s_softmax, 0),
    CASE("LogSoftmax module", s_logsm, 0),
    CASE("MLP Linear-Tanh-Linear", s_mlp, 0),
    CASE("MLP +GELU+Dropout+LogSoftmax (train)", s_mlp_drop, 1),
};

const gc_list gc_layers = {cases, (int)(sizeof cases / sizeof *cases)};
