/*
 * test_ref.c - deepc against PyTorch. Every op, loss and optimizer variant is compared with a
 * reference file tests/ref/<case>.safetensors written by tests/ref/gen.py (PyTorch, float64 math
 * on float32 inputs): outputs, input and parameter gradients of Σ y·dy, and 10-step parameter
 * trajectories of an MLP, all within rtol 1e-4, atol 1e-5. The files are read with
 * dc_safetensors_read; the folder is tests/ref, or $DEEPC_REF_DIR.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define MAX_IN 8

static dc_tdict *ref_load(const char *name) { return t_ref_load(t_ref_dir(NULL), name); }

/* ------------------------------------------------------------------------------------------ */
/* Ops and losses                                                                             */
/* ------------------------------------------------------------------------------------------ */

typedef enum ref_kind {
    K_ADD, K_SUB, K_MUL, K_DIV, K_ADD_S, K_MUL_S, K_POW_S, K_NEG, K_EXP, K_LOG, K_SQRT, K_ABS,
    K_MATMUL, K_LINEAR, K_SUM, K_MEAN, K_RESHAPE, K_FLATTEN, K_TRANSPOSE, K_CONCAT, K_SLICE,
    K_RELU, K_LEAKY, K_SIGMOID, K_TANH, K_GELU, K_SOFTMAX, K_LOG_SOFTMAX, K_DROPOUT,
    K_MSE, K_L1, K_SMOOTH_L1, K_HUBER, K_CE, K_NLL, K_BCE, K_BCE_LOGITS
} ref_kind;

/* One case: the op and its arguments, hard-coded to match gen.py (also in the file metadata). */
typedef struct ref_op {
    const char *name;
    ref_kind kind;
    float f;            /* scalar, power, slope, beta, delta, dropout p, label smoothing */
    int axis, dim1;     /* reduce/softmax/concat/slice axis; transpose dims; flatten start, end */
    int keepdim;
    int approximate;    /* GELU tanh form */
    dc_reduction red;
    int64_t start, end, step;
    int n_shape;
    int64_t shape[4];
    int has_ignore;     /* CE/NLL: ignore_index = ignore (else the default -100) */
    int64_t ignore;
} ref_op;

/* The deepc call of case c on inputs x[0..n); class_weight / pos_weight come from the file. */
static dc_tensor *ref_apply(dc_ctx *ctx, const ref_op *c, dc_tensor **x, int n,
                            const dc_tdict *d)
{
    dc_ce_opts o = dc_ce_defaults();
    switch (c->kind) {
    case K_ADD: return dc_add(ctx, x[0], x[1]);
    case K_SUB: return dc_sub(ctx, x[0], x[1]);
    case K_MUL: return dc_mul(ctx, x[0], x[1]);
    case K_DIV: return dc_div(ctx, x[0], x[1]);
    case K_ADD_S: return dc_add_scalar(ctx, x[0], c->f);
    case K_MUL_S: return dc_mul_scalar(ctx, x[0], c->f);
    case K_POW_S: return dc_pow_scalar(ctx, x[0], c->f);
    case K_NEG: return dc_neg(ctx, x[0]);
    case K_EXP: return dc_exp(ctx, x[0]);
    case K_LOG: return dc_log(ctx, x[0]);
    case K_SQRT: return dc_sqrt(ctx, x[0]);
    case K_ABS: return dc_abs(ctx, x[0]);
    case K_MATMUL: return dc_matmul(ctx, x[0], x[1]);
    case K_LINEAR: return dc_linear(ctx, x[0], x[1], n > 2 ? x[2] : NULL);
    case K_SUM: return dc_sum(ctx, x[0], c->axis, c->keepdim);
    case K_MEAN: return dc_mean(ctx, x[0], c->axis, c->keepdim);
    case K_RESHAPE: return dc_reshape(ctx, x[0], c->n_shape, c->shape);
    case K_FLATTEN: return dc_flatten(ctx, x[0], c->axis, c->dim1);
    case K_TRANSPOSE: return dc_transpose(ctx, x[0], c->axis, c->dim1);
    case K_CONCAT: return dc_concat(ctx, x, n, c->axis);
    case K_SLICE: return dc_slice(ctx, x[0], c->axis, c->start, c->end, c->step);
    case K_RELU: return dc_relu(ctx, x[0]);
    case K_LEAKY: return dc_leaky_relu(ctx, x[0], c->f);
    case K_SIGMOID: return dc_sigmoid(ctx, x[0]);
    case K_TANH: return dc_tanh(ctx, x[0]);
    case K_GELU: return dc_gelu(ctx, x[0], c->approximate);
    case K_SOFTMAX: return dc_softmax(ctx, x[0], c->axis);
    case K_LOG_SOFTMAX: return dc_log_softmax(ctx, x[0], c->axis);
    case K_DROPOUT: return dc_dropout(ctx, x[0], c->f);
    case K_MSE: return dc_mse_loss(ctx, x[0], x[1], c->red);
    case K_L1: return dc_l1_loss(ctx, x[0], x[1], c->red);
    case K_SMOOTH_L1: return dc_smooth_l1_loss(ctx, x[0], x[1], c->red, c->f);
    case K_HUBER: return dc_huber_loss(ctx, x[0], x[1], c->red, c->f);
    case K_CE:
    case K_NLL:
        o.reduction = c->red;
        o.label_smoothing = c->f;
        if (c->has_ignore)
            o.ignore_index = c->ignore;
        o.weight = dc_tdict_get(d, "class_weight");
        return c->kind == K_CE ? dc_cross_entropy(ctx, x[0], x[1], &o)
                               : dc_nll_loss(ctx, x[0], x[1], &o);
    case K_BCE: return dc_bce_loss(ctx, x[0], x[1], c->red);
    case K_BCE_LOGITS:
        return dc_bce_with_logits(ctx, x[0], x[1], c->red, dc_tdict_get(d, "pos_weight"));
    }
    return NULL;
}

/* Load case c, clone its inputs (requires_grad where the file has dx<i>), run, compare y and
 * every dx<i>. */
static void run_op(const ref_op *c)
{
    dc_tdict *d = ref_load(c->name);
    if (!d)
        return;
    dc_tensor *x[MAX_IN] = {0};
    int n = 0, ok = t_ref_inputs(c->name, d, x, MAX_IN, &n);
    dc_ctx *ctx = ok ? dc_ctx_new(0) : NULL;
    dc_tensor *y = ctx ? ref_apply(ctx, c, x, n, d) : NULL;
    if (ok && !y)
        t_fail(__FILE__, __LINE__, "ref %s: the op failed: %s", c->name, dc_last_error());
    if (y) {
        t_ref_compare(c->name, "y", y, dc_f32(y), dc_tdict_get(d, "y"));
        if (t_ref_backward(ctx, c->name, y, dc_tdict_get(d, "dy")))
            t_ref_compare_grads(c->name, d, x, n);
    }
    dc_ctx_free(ctx);
    for (int i = 0; i < n; i++)
        dc_tensor_free(x[i]);
    dc_tdict_free(d);
}

/* The names of every case with a TEST, filled at load time (for ref_every_file_has_a_test). */
static t_names ref_names;
static void ref_note(const char *name) { t_names_add(&ref_names, name); }

#define REF_OP(nm, ...)                                                                \
    static const ref_op refc_##nm = {.name = #nm, __VA_ARGS__};                        \
    __attribute__((constructor)) static void refn_##nm(void) { ref_note(#nm); }        \
    TEST(ref_##nm) { run_op(&refc_##nm); }

/* Elementwise with broadcasting: same shape, b -> a, a -> b, both ways. */
#define REF_BINARY(op, K)                                                              \
    REF_OP(op##_same, .kind = K)                                                       \
    REF_OP(op##_bcast_right, .kind = K)                                                \
    REF_OP(op##_bcast_left, .kind = K)                                                 \
    REF_OP(op##_bcast_mutual, .kind = K)
REF_BINARY(add, K_ADD)
REF_BINARY(sub, K_SUB)
REF_BINARY(mul, K_MUL)
REF_BINARY(div, K_DIV)
REF_OP(add_scalar0d, .kind = K_ADD)

REF_OP(add_scalar, .kind = K_ADD_S, .f = 1.5f)
REF_OP(mul_scalar, .kind = K_MUL_S, .f = -2.5f)
REF_OP(pow_scalar_2, .kind = K_POW_S, .f = 2.0f)
REF_OP(pow_scalar_3, .kind = K_POW_S, .f = 3.0f)
REF_OP(pow_scalar_half, .kind = K_POW_S, .f = 0.5f)
REF_OP(pow_scalar_neg, .kind = K_POW_S, .f = -1.5f)
REF_OP(neg, .kind = K_NEG)
REF_OP(exp, .kind = K_EXP)
REF_OP(log, .kind = K_LOG)
REF_OP(sqrt, .kind = K_SQRT)
REF_OP(abs, .kind = K_ABS)

REF_OP(matmul_2d, .kind = K_MATMUL)
REF_OP(matmul_batched, .kind = K_MATMUL)
REF_OP(matmul_shared, .kind = K_MATMUL)
REF_OP(linear_bias, .kind = K_LINEAR)
REF_OP(linear_nobias, .kind = K_LINEAR)
REF_OP(linear_3d, .kind = K_LINEAR)

#define REF_REDUCE(op, K)                                                              \
    REF_OP(op##_axis1, .kind = K, .axis = 1)                                           \
    REF_OP(op##_axis1_keepdim, .kind = K, .axis = 1, .keepdim = 1)                     \
    REF_OP(op##_axis_neg1, .kind = K, .axis = -1)                                      \
    REF_OP(op##_axis0_keepdim, .kind = K, .axis = 0, .keepdim = 1)                     \
    REF_OP(op##_all, .kind = K, .axis = DC_ALL_AXES)
REF_REDUCE(sum, K_SUM)
REF_REDUCE(mean, K_MEAN)

REF_OP(reshape, .kind = K_RESHAPE, .n_shape = 2, .shape = {4, -1})
REF_OP(flatten_1_end, .kind = K_FLATTEN, .axis = 1, .dim1 = -1)
REF_OP(flatten_0_1, .kind = K_FLATTEN, .axis = 0, .dim1 = 1)
REF_OP(transpose_2d, .kind = K_TRANSPOSE, .axis = 0, .dim1 = 1)
REF_OP(transpose_3d, .kind = K_TRANSPOSE, .axis = 0, .dim1 = 2)
REF_OP(transpose_neg, .kind = K_TRANSPOSE, .axis = 1, .dim1 = -1)
REF_OP(concat_axis1, .kind = K_CONCAT, .axis = 1)
REF_OP(concat_axis0, .kind = K_CONCAT, .axis = 0)
REF_OP(concat_neg, .kind = K_CONCAT, .axis = -1)
REF_OP(slice_step2, .kind = K_SLICE, .axis = 1, .start = 1, .end = 5, .step = 2)
REF_OP(slice_neg_start, .kind = K_SLICE, .axis = 0, .start = -3, .end = 5, .step = 1)
REF_OP(slice_step3, .kind = K_SLICE, .axis = 2, .start = 0, .end = 8, .step = 3)

REF_OP(relu, .kind = K_RELU)
REF_OP(leaky_relu, .kind = K_LEAKY, .f = 0.2f)
REF_OP(sigmoid, .kind = K_SIGMOID)
REF_OP(tanh, .kind = K_TANH)
REF_OP(gelu, .kind = K_GELU)
REF_OP(gelu_tanh, .kind = K_GELU, .approximate = 1)
REF_OP(softmax_last, .kind = K_SOFTMAX, .axis = -1)
REF_OP(softmax_axis0, .kind = K_SOFTMAX, .axis = 0)
REF_OP(softmax_3d_axis1, .kind = K_SOFTMAX, .axis = 1)
REF_OP(log_softmax_last, .kind = K_LOG_SOFTMAX, .axis = -1)
REF_OP(log_softmax_axis0, .kind = K_LOG_SOFTMAX, .axis = 0)
REF_OP(log_softmax_3d_axis1, .kind = K_LOG_SOFTMAX, .axis = 1)
REF_OP(dropout_eval, .kind = K_DROPOUT, .f = 0.5f)

/* Regression losses: the target requires grad too (the files hold dx1). */
#define REF_LOSS3(nm, K, arg)                                                          \
    REF_OP(nm##_mean, .kind = K, .f = arg, .red = DC_MEAN)                             \
    REF_OP(nm##_sum, .kind = K, .f = arg, .red = DC_SUM)                               \
    REF_OP(nm##_none, .kind = K, .f = arg, .red = DC_NONE)
REF_LOSS3(mse, K_MSE, 0.0f)
REF_LOSS3(l1, K_L1, 0.0f)
REF_LOSS3(smooth_l1_b1, K_SMOOTH_L1, 1.0f)
REF_LOSS3(smooth_l1_b05, K_SMOOTH_L1, 0.5f)
REF_LOSS3(huber_d1, K_HUBER, 1.0f)
REF_LOSS3(huber_d2, K_HUBER, 2.0f)
REF_OP(smooth_l1_b0_mean, .kind = K_SMOOTH_L1, .f = 0.0f, .red = DC_MEAN)

/* Cross-entropy: .f is the label smoothing; class weights come from the file. */
REF_LOSS3(ce_index, K_CE, 0.0f)
REF_LOSS3(ce_prob, K_CE, 0.0f)
REF_LOSS3(ce_weight, K_CE, 0.0f)
REF_OP(ce_smooth_mean, .kind = K_CE, .f = 0.1f, .red = DC_MEAN)
REF_OP(ce_smooth_sum, .kind = K_CE, .f = 0.1f, .red = DC_SUM)
REF_OP(ce_smooth_prob_mean, .kind = K_CE, .f = 0.1f, .red = DC_MEAN)
REF_OP(ce_weight_prob_mean, .kind = K_CE, .red = DC_MEAN)
REF_OP(ce_ignore_mean, .kind = K_CE, .red = DC_MEAN)
REF_OP(ce_ignore_none, .kind = K_CE, .red = DC_NONE)
REF_OP(ce_ignore_custom_mean, .kind = K_CE, .red = DC_MEAN, .has_ignore = 1, .ignore = 2)
REF_OP(ce_all_mean, .kind = K_CE, .f = 0.1f, .red = DC_MEAN, .has_ignore = 1, .ignore = 1)
REF_OP(ce_all_sum, .kind = K_CE, .f = 0.1f, .red = DC_SUM, .has_ignore = 1, .ignore = 1)
REF_OP(ce_large_mean, .kind = K_CE, .red = DC_MEAN)
REF_OP(ce_large_none, .kind = K_CE, .red = DC_NONE)
REF_OP(ce_large_prob_mean, .kind = K_CE, .red = DC_MEAN)
REF_OP(ce_large_smooth_mean, .kind = K_CE, .f = 0.1f, .red = DC_MEAN)

REF_LOSS3(nll, K_NLL, 0.0f)
REF_OP(nll_weight_mean, .kind = K_NLL, .red = DC_MEAN)
REF_OP(nll_ignore_mean, .kind = K_NLL, .red = DC_MEAN, .has_ignore = 1, .ignore = 3)

REF_LOSS3(bce, K_BCE, 0.0f)
REF_OP(bce_hard_mean, .kind = K_BCE, .red = DC_MEAN)
REF_LOSS3(bcel, K_BCE_LOGITS, 0.0f)
REF_OP(bcel_posw_mean, .kind = K_BCE_LOGITS, .red = DC_MEAN)
REF_OP(bcel_posw_none, .kind = K_BCE_LOGITS, .red = DC_NONE)
REF_OP(bcel_large_mean, .kind = K_BCE_LOGITS, .red = DC_MEAN)

/* ------------------------------------------------------------------------------------------ */
/* The Linear module: y, dx and the parameter gradients "d.weight", "d.bias"                   */
/* ------------------------------------------------------------------------------------------ */

/* Copy the file tensor `key` into the model parameter `pname`. */
static int ref_set_param(const char *cs, dc_model *m, const char *pname, const dc_tdict *d,
                         const char *key)
{
    dc_tensor *p = dc_model_find(m, pname);
    const dc_tensor *t = dc_tdict_get(d, key);
    if (!p || !t || !dc_same_shape(p, t) || p->dtype != t->dtype) {
        t_fail(__FILE__, __LINE__, "ref %s: cannot set %s from %s", cs, pname, key);
        return 0;
    }
    memcpy(p->data, t->data, (size_t)t->numel * sizeof(float));
    return 1;
}

static void run_module_linear(const char *cs, int bias)
{
    dc_tdict *d = ref_load(cs);
    if (!d)
        return;
    dc_model *m = dc_model_new();
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_tensor_clone(dc_tdict_get(d, "x0"));
    if (!m || !ctx || !x || dc_tensor_requires_grad(x) != DC_OK ||
        dc_model_add(m, dc_linear_new(m, "lin", 4, 3, bias, NULL)) != DC_OK) {
        t_fail(__FILE__, __LINE__, "ref %s: setup failed: %s", cs, dc_last_error());
        goto done;
    }
    if (!ref_set_param(cs, m, "lin.weight", d, "weight") ||
        (bias && !ref_set_param(cs, m, "lin.bias", d, "bias")))
        goto done;
    dc_model_zero_grad(m);
    dc_tensor *y = dc_model_forward(ctx, m, x);
    if (!y) {
        t_fail(__FILE__, __LINE__, "ref %s: forward failed: %s", cs, dc_last_error());
        goto done;
    }
    t_ref_compare(cs, "y", y, dc_f32(y), dc_tdict_get(d, "y"));
    if (t_ref_backward(ctx, cs, y, dc_tdict_get(d, "dy"))) {
        dc_tensor *w = dc_model_find(m, "lin.weight"), *b = dc_model_find(m, "lin.bias");
        t_ref_compare(cs, "dx0", x, x->grad, dc_tdict_get(d, "dx0"));
        t_ref_compare(cs, "d.weight", w, w ? w->grad : NULL, dc_tdict_get(d, "d.weight"));
        if (bias)
            t_ref_compare(cs, "d.bias", b, b ? b->grad : NULL, dc_tdict_get(d, "d.bias"));
    }
done:
    dc_tensor_free(x);
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_tdict_free(d);
}

TEST(ref_module_linear) { run_module_linear("module_linear", 1); }
TEST(ref_module_linear_nobias) { run_module_linear("module_linear_nobias", 0); }
__attribute__((constructor)) static void refn_modules(void)
{
    ref_note("module_linear");
    ref_note("module_linear_nobias");
}

/* ------------------------------------------------------------------------------------------ */
/* Optimizers: 10 full-batch steps of Linear(4,8) -> Tanh -> Linear(8,3) with cross-entropy     */
/* ------------------------------------------------------------------------------------------ */

typedef struct ref_optim {
    const char *name;   /* file optim_<name>.safetensors */
    dc_optim_cfg cfg;   /* every hyper-parameter PyTorch uses, as in gen.py */
    float clip;         /* clip_grad_norm(max_norm) before each step; 0 = none */
    int step_size;      /* StepLR(step_size, gamma) stepped after each step; 0 = none */
    float gamma;
} ref_optim;

static const char *const mlp_params[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};

static dc_model *mlp_new(const char *cs)
{
    dc_model *m = dc_model_new();
    dc_load_report rep;
    char path[512];
    if (!m || dc_model_add(m, dc_linear_new(m, "fc1", 4, 8, 1, NULL)) != DC_OK ||
        dc_model_add(m, dc_act_new(m, "act", DC_ACT_TANH, 0)) != DC_OK ||
        dc_model_add(m, dc_linear_new(m, "fc2", 8, 3, 1, NULL)) != DC_OK) {
        t_fail(__FILE__, __LINE__, "ref %s: building the MLP failed: %s", cs, dc_last_error());
        dc_model_free(m);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/mlp_init.safetensors", t_ref_dir(NULL));
    if (dc_model_load(m, path, 1, &rep) != DC_OK) {
        t_fail(__FILE__, __LINE__, "ref %s: strict dc_model_load(%s) failed: %s [%s]", cs, path,
               dc_last_error(), rep.text);
        dc_model_free(m);
        return NULL;
    }
    return m;
}

/* Compare a scalar deepc result with the [1] reference tensor `key`. */
static void ref_compare_scalar(const char *cs, const char *key, float got, const dc_tdict *d)
{
    dc_tensor one = {.dtype = DC_F32, .ndim = 1, .shape = {1, 1, 1, 1, 1}, .numel = 1,
                     .data = &got};
    t_ref_compare(cs, key, &one, &got, dc_tdict_get(d, key));
}

/* One step k: forward, loss, backward, [clip], step, [scheduler]; compares as it goes. */
static int optim_one_step(const ref_optim *r, const char *cs, int k, dc_ctx *ctx, dc_model *m,
                          dc_optim *o, dc_sched *s, const dc_tdict *d)
{
    char key[64];
    dc_ctx_reset(ctx);
    dc_model_zero_grad(m);
    dc_tensor *logits = dc_model_forward(ctx, m, dc_tdict_get(d, "X"));
    dc_tensor *loss = dc_cross_entropy(ctx, logits, dc_tdict_get(d, "Y"), NULL);
    if (!loss || dc_backward(ctx, loss) != DC_OK) {
        t_fail(__FILE__, __LINE__, "ref %s: step %d: forward/backward failed: %s", cs, k,
               dc_last_error());
        return 0;
    }
    snprintf(key, sizeof key, "loss%d", k);
    ref_compare_scalar(cs, key, dc_f32(loss)[0], d);
    if (r->clip > 0) {
        snprintf(key, sizeof key, "gnorm%d", k);
        ref_compare_scalar(cs, key, dc_clip_grad_norm(m, r->clip), d);
    }
    if (s) {
        snprintf(key, sizeof key, "lr%d", k);
        ref_compare_scalar(cs, key, dc_optim_lr(o), d);
    }
    if (dc_optim_step(o) != DC_OK) {
        t_fail(__FILE__, __LINE__, "ref %s: step %d: dc_optim_step failed: %s", cs, k,
               dc_last_error());
        return 0;
    }
    if (s)
        dc_sched_step(s, dc_f32(loss)[0]);
    for (int i = 0; i < 4; i++) {
        dc_tensor *p = dc_model_find(m, mlp_params[i]);
        snprintf(key, sizeof key, "step%d.%s", k, mlp_params[i]);
        t_ref_compare(cs, key, p, p ? dc_f32(p) : NULL, dc_tdict_get(d, key));
    }
    return !t_failed();
}

static void run_optim(const ref_optim *r)
{
    char cs[96];
    snprintf(cs, sizeof cs, "optim_%s", r->name);
    dc_tdict *d = ref_load(cs);
    dc_model *m = d ? mlp_new(cs) : NULL;
    dc_optim *o = m ? dc_optim_new(m, &r->cfg) : NULL;
    dc_sched *s = NULL;
    dc_ctx *ctx = o ? dc_ctx_new(0) : NULL;
    if (m && !o)
        t_fail(__FILE__, __LINE__, "ref %s: dc_optim_new failed: %s", cs, dc_last_error());
    if (o && r->step_size > 0) {
        dc_sched_cfg sc = dc_sched_defaults(DC_SCHED_STEP);
        sc.step_size = r->step_size;
        sc.gamma = r->gamma;
        if (!(s = dc_sched_new(o, &sc)))
            t_fail(__FILE__, __LINE__, "ref %s: dc_sched_new failed: %s", cs, dc_last_error());
    }
    if (ctx && (r->step_size <= 0 || s)) {
        for (int i = 0; i < 4; i++) {   /* the strict load gave the variant's initial weights */
            dc_tensor *p = dc_model_find(m, mlp_params[i]);
            t_ref_compare(cs, mlp_params[i], p, p ? dc_f32(p) : NULL,
                        dc_tdict_get(d, mlp_params[i]));
        }
        /* stop at the first step that differs: the later ones only repeat it */
        for (int k = 1; k <= 10 && !t_failed(); k++)
            if (!optim_one_step(r, cs, k, ctx, m, o, s, d))
                t_fail(__FILE__, __LINE__, "ref %s: first difference at step %d of 10", cs, k);
    }
    dc_ctx_free(ctx);
    dc_sched_free(s);
    dc_optim_free(o);
    dc_model_free(m);
    dc_tdict_free(d);
}

#define REF_OPTIM(nm, ...)                                                             \
    __attribute__((constructor)) static void refn_optim_##nm(void)                     \
    {                                                                                  \
        ref_note("optim_" #nm);                                                        \
    }                                                                                  \
    TEST(ref_optim_##nm)                                                               \
    {                                                                                  \
        static const ref_optim r = {.name = #nm, __VA_ARGS__};                         \
        run_optim(&r);                                                                 \
    }

#define SGD(...) .cfg = {.kind = DC_SGD, .lr = 0.1f, __VA_ARGS__}
#define RMSPROP(...) .cfg = {.kind = DC_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f,   \
                             __VA_ARGS__}
#define ADAM(k, ...) .cfg = {.kind = k, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f,          \
                             .eps = 1e-8f, __VA_ARGS__}

REF_OPTIM(sgd, SGD(.momentum = 0.0f))
REF_OPTIM(sgd_momentum, SGD(.momentum = 0.9f))
REF_OPTIM(sgd_dampening, SGD(.momentum = 0.9f, .dampening = 0.5f))
REF_OPTIM(sgd_nesterov, SGD(.momentum = 0.9f, .nesterov = 1))
REF_OPTIM(sgd_wd, SGD(.weight_decay = 1e-2f))
REF_OPTIM(sgd_clip, SGD(.momentum = 0.9f), .clip = 0.5f)
REF_OPTIM(sgd_steplr, SGD(.momentum = 0.9f), .step_size = 3, .gamma = 0.5f)
REF_OPTIM(adagrad, .cfg = {.kind = DC_ADAGRAD, .lr = 0.1f, .lr_decay = 0.01f,
                           .weight_decay = 1e-3f, .initial_accumulator_value = 0.1f,
                           .eps = 1e-10f})
REF_OPTIM(rmsprop, RMSPROP(.momentum = 0.0f))
REF_OPTIM(rmsprop_momentum, RMSPROP(.momentum = 0.9f))
REF_OPTIM(rmsprop_centered, RMSPROP(.centered = 1))
REF_OPTIM(rmsprop_centered_momentum_wd,
          RMSPROP(.centered = 1, .momentum = 0.9f, .weight_decay = 1e-2f))
REF_OPTIM(adadelta, .cfg = {.kind = DC_ADADELTA, .lr = 1.0f, .rho = 0.9f, .eps = 1e-6f})
REF_OPTIM(adadelta_rho_wd, .cfg = {.kind = DC_ADADELTA, .lr = 1.0f, .rho = 0.5f, .eps = 1e-6f,
                                   .weight_decay = 1e-2f})
REF_OPTIM(adam, ADAM(DC_ADAM, .amsgrad = 0))
REF_OPTIM(adam_amsgrad, ADAM(DC_ADAM, .amsgrad = 1))
REF_OPTIM(adam_wd, ADAM(DC_ADAM, .weight_decay = 1e-2f))
REF_OPTIM(adamw, ADAM(DC_ADAMW, .weight_decay = 0.1f))
REF_OPTIM(adamw_amsgrad, ADAM(DC_ADAMW, .weight_decay = 0.1f, .amsgrad = 1))

/* ------------------------------------------------------------------------------------------ */
/* Every reference file has a test here, and every test its file                               */
/* ------------------------------------------------------------------------------------------ */

TEST(ref_every_file_has_a_test)
{
    t_ref_check_files(t_ref_dir(NULL), &ref_names, "mlp_init.safetensors",
                      "tests/test_ref.c");
}
