/*
 * activation.c - relu, leaky_relu, sigmoid, tanh, gelu, softmax, log_softmax, dropout.
 *
 * Backward reads whichever of x or y gives the cheaper derivative: relu, sigmoid, tanh, softmax
 * and log_softmax use the output y; leaky_relu and gelu the input x. softmax / log_softmax work
 * along any axis by viewing x as (outer, K, inner); the last axis (inner == 1) is the fast path.
 */
#include "core/internal.h"
#include "kernels/eltwise_k.h"

static dc_status grad_of(dc_ctx *ctx, dc_tensor *t, float **g)
{
    *g = dc_grad(ctx, t);
    return (!*g && t && (t->flags & DC_TF_REQUIRES_GRAD)) ? DC_ERR_NOMEM : DC_OK;
}

/* ---- relu, leaky_relu, sigmoid, tanh, gelu: y = f(x; s) elementwise ---- */

typedef enum act_kind {
    ACT_RELU,    /* max(0, x);          dx += dy ⊙ [y > 0] */
    ACT_LEAKY,   /* x > 0 ? x : s·x;    dx += dy ⊙ (x > 0 ? 1 : s) */
    ACT_SIGMOID, /* 1/(1 + e^−x);       dx += dy ⊙ y(1 − y) */
    ACT_TANH,    /* tanh x;             dx += dy ⊙ (1 − y²) */
    ACT_GELU     /* x·Φ(x), s: tanh form; dx += dy ⊙ (Φ(x) + x·φ(x)), tanh form in eltwise_k.c */
} act_kind;

static dc_status act_bwd(dc_ctx *ctx, dc_node *n)
{ /* dx += dy ⊙ f'(x), f' of the kind ia[0] with s = fa[0] (see act_kind) */
    dc_tensor *x = n->in[0], *y = n->out;
    const int64_t len = x->numel;
    const float s = n->fa[0];
    float *dx;
    const act_kind kind = (act_kind)n->ia[0];
    if (kind == ACT_RELU || kind == ACT_GELU) { /* often the first to reach dx: store, no memset */
        int fresh;
        dx = dc_grad_fresh(ctx, x, &fresh);
        if (dx && kind == ACT_RELU)
            dc_k_relu_bwd(len, dc_f32(y), y->grad, dx, fresh);
        else if (dx)
            dc_k_gelu_bwd(len, s != 0.0f, fresh, dc_f32(x), y->grad, dx);
        return dx || !(x->flags & DC_TF_REQUIRES_GRAD) ? DC_OK : DC_ERR_NOMEM;
    }
    if (grad_of(ctx, x, &dx) != DC_OK)
        return DC_ERR_NOMEM;
    if (!dx)
        return DC_OK;
    switch (kind) {
    case ACT_RELU: break;
    case ACT_GELU: break;
    case ACT_LEAKY: dc_k_leaky_relu_bwd(len, s, dc_f32(x), y->grad, dx); break;
    case ACT_SIGMOID: dc_k_sigmoid_bwd(len, dc_f32(y), y->grad, dx); break;
    case ACT_TANH: dc_k_tanh_bwd(len, dc_f32(y), y->grad, dx); break;
    }
    return DC_OK;
}

static dc_tensor *act(dc_ctx *ctx, const char *op, act_kind kind, dc_tensor *x, float s)
{
    if (!x || !dc_check_f32(op, x, "input"))
        return NULL;
    dc_tensor *y = dc_empty_like(ctx, x);
    if (!y)
        return NULL;
    const int64_t len = x->numel;
    switch (kind) {
    case ACT_RELU: dc_k_relu_fwd(len, dc_f32(x), dc_f32(y)); break;
    case ACT_LEAKY: dc_k_leaky_relu_fwd(len, s, dc_f32(x), dc_f32(y)); break;
    case ACT_SIGMOID: dc_k_sigmoid_fwd(len, dc_f32(x), dc_f32(y)); break;
    case ACT_TANH: dc_k_tanh_fwd(len, dc_f32(x), dc_f32(y)); break;
    case ACT_GELU: dc_k_gelu_fwd(len, s != 0.0f, dc_f32(x), dc_f32(y)); break;
    }
    dc_node *n = dc_record(ctx, op, act_bwd, y, 1, &x);
    if (n) {
        n->ia[0] = kind;
        n->fa[0] = s;
    }
    return y;
}

dc_tensor *dc_relu(dc_ctx *ctx, dc_tensor *x) { return act(ctx, "relu", ACT_RELU, x, 0.0f); }
dc_tensor *dc_leaky_relu(dc_ctx *ctx, dc_tensor *x, float slope)
{
    return act(ctx, "leaky_relu", ACT_LEAKY, x, slope);
}
dc_tensor *dc_sigmoid(dc_ctx *ctx, dc_tensor *x)
{
    return act(ctx, "sigmoid", ACT_SIGMOID, x, 0.0f);
}
dc_tensor *dc_tanh(dc_ctx *ctx, dc_tensor *x) { return act(ctx, "tanh", ACT_TANH, x, 0.0f); }
dc_tensor *dc_gelu(dc_ctx *ctx, dc_tensor *x, int approximate)
{
    return act(ctx, "gelu", ACT_GELU, x, approximate ? 1.0f : 0.0f);
}

/* ---- softmax, log_softmax ---- */

/* (outer, K, inner) around axis; ia[0..2] of the node. */
static void axis_split(const dc_tensor *x, int axis, int64_t *outer, int64_t *K, int64_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < axis; d++)
        *outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++)
        *inner *= x->shape[d];
    *K = x->shape[axis];
}

static dc_status softmax_bwd(dc_ctx *ctx, dc_node *n)
{ /* softmax: dx += y ⊙ (dy − Σ_K dy·y);  log_softmax: dx += dy − e^y ⊙ Σ_K dy */
    dc_tensor *x = n->in[0], *y = n->out;
    const int64_t outer = n->ia[0], K = n->ia[1], inner = n->ia[2];
    float *dx, *scratch = NULL;
    if (grad_of(ctx, x, &dx) != DC_OK)
        return DC_ERR_NOMEM;
    if (!dx)
        return DC_OK;
    if (inner > 1 && !(scratch = dc_ctx_alloc(ctx, (size_t)inner * sizeof(float))))
        return DC_ERR_NOMEM;
    if (n->ia[3])
        dc_k_log_softmax_bwd(outer, K, inner, dc_f32(y), y->grad, dx, scratch);
    else
        dc_k_softmax_bwd(outer, K, inner, dc_f32(y), y->grad, dx, scratch);
    return DC_OK;
}

static dc_tensor *softmax_any(dc_ctx *ctx, const char *op, dc_tensor *x, int axis, int log)
{
    int64_t outer, K, inner;
    float *scratch = NULL;
    if (!x)
        return NULL;
    if (!dc_check_f32(op, x, "input") || !dc_check_axis(op, x->ndim, &axis))
        return NULL;
    axis_split(x, axis, &outer, &K, &inner);
    dc_tensor *y = dc_empty_like(ctx, x);
    if (!y || (inner > 1 && !(scratch = dc_ctx_alloc(ctx, 2 * (size_t)inner * sizeof(float)))))
        return NULL;
    if (log)
        dc_k_log_softmax_fwd(outer, K, inner, dc_f32(x), dc_f32(y), scratch);
    else
        dc_k_softmax_fwd(outer, K, inner, dc_f32(x), dc_f32(y), scratch);
    dc_node *n = dc_record(ctx, op, softmax_bwd, y, 1, &x);
    if (n) {
        n->ia[0] = outer;
        n->ia[1] = K;
        n->ia[2] = inner;
        n->ia[3] = log;
    }
    return y;
}

dc_tensor *dc_softmax(dc_ctx *ctx, dc_tensor *x, int axis)
{
    return softmax_any(ctx, "softmax", x, axis, 0);
}

dc_tensor *dc_log_softmax(dc_ctx *ctx, dc_tensor *x, int axis)
{
    return softmax_any(ctx, "log_softmax", x, axis, 1);
}

/* ---- dropout ---- */

static dc_status dropout_bwd(dc_ctx *ctx, dc_node *n)
{ /* dx += dy ⊙ m, m = 0 (dropped) or 1/(1−p) (kept), saved by the forward pass */
    dc_tensor *x = n->in[0], *y = n->out;
    float *dx;
    if (grad_of(ctx, x, &dx) != DC_OK)
        return DC_ERR_NOMEM;
    if (dx)
        dc_k_binary_bwd(DC_K_MUL, x->numel, NULL, n->saved, NULL, y->grad, dx, NULL);
    return DC_OK;
}

dc_tensor *dc_dropout(dc_ctx *ctx, dc_tensor *x, float p)
{
    if (!x)
        return NULL;
    if (!dc_check_f32("dropout", x, "input"))
        return NULL;
    if (!(p >= 0.0f && p <= 1.0f))
        return dc_err_null(DC_ERR_ARG, "dropout: p must be in [0, 1], got %g", (double)p);
    if (!dc_ctx_training(ctx) || p == 0.0f)
        return x; /* the identity: nothing to compute or record */
    dc_rng *rng = dc_ctx_rng(ctx);
    if (!rng)
        return dc_err_null(DC_ERR_STATE, "dropout: training mode needs a generator "
                           "(dc_ctx_set_rng)");
    dc_tensor *y = dc_empty_like(ctx, x);
    float *mask = y ? dc_ctx_alloc(ctx, (size_t)x->numel * sizeof *mask) : NULL;
    if (!mask)
        return NULL;
    /* keep with probability 1 − p (u >= p), scaled so that E[y] = x; p == 1 drops everything */
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (int64_t i = 0; i < x->numel; i++)
        mask[i] = dc_rng_uniform(rng) < p ? 0.0f : scale;
    dc_k_binary_fwd(DC_K_MUL, x->numel, dc_f32(x), mask, dc_f32(y));
    dc_node *n = dc_record(ctx, "dropout", dropout_bwd, y, 1, &x);
    if (n)
        n->saved = mask;
    return y;
}
