/*
 * shape_layers.c - parameter-free modules that only change how a batch is viewed:
 *   Reshape     [N, ...] -> [N, s_1, ..., s_k]   (torch: Flatten then Unflatten(1, s))
 *   FoldTime    [N, T, ...] -> [N·T, ...]        (x.flatten(0, 1): every frame becomes a row)
 *   UnfoldTime  [N·T, ...] -> [N, T, ...]        (x.unflatten(0, (-1, T)))
 * FoldTime and UnfoldTime run a frame model (a conv stack) on every step of a clip, as Keras'
 * TimeDistributed does. All three are dc_reshape views: no copy, and backward adds dy into dx
 * element by element (dc_reshape records it).
 */
#include "nn/layer_desc.h"

#include <stdio.h>

typedef struct reshape_mod {
    dc_module base;
    int ndim;                        /* k, 1 .. DC_MAX_DIMS - 1 */
    int64_t shape[DC_MAX_DIMS - 1];  /* s_1 .. s_k; at most one is -1 */
} reshape_mod;

/* "[28, -1]" for the target shape without the batch. */
static char *target_str(const reshape_mod *r, char *buf, size_t size)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < r->ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", i ? ", " : "",
                              (long long)r->shape[i]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
    return buf;
}

/* y [N, s_1 .. s_k] with a -1 resolved from the per-example count Π x.shape[1..]. */
static dc_tensor *reshape_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    const reshape_mod *r = (const reshape_mod *)m;
    int64_t shape[DC_MAX_DIMS], per = 1, known = 1;
    int neg = -1;
    char s1[96], s2[96];
    if (!x)
        return NULL;
    if (x->ndim < 1)
        return dc_err_null(DC_ERR_SHAPE, "Reshape %s: needs a batch [N, ...], got a scalar",
                           m->name);
    for (int d = 1; d < x->ndim; d++)
        per *= x->shape[d];
    shape[0] = x->shape[0];
    for (int i = 0; i < r->ndim; i++) {
        shape[i + 1] = r->shape[i];
        if (r->shape[i] == -1)
            neg = i + 1;
        else
            known *= r->shape[i];
    }
    if (neg > 0 && per % known == 0) /* known >= 1: the sizes are checked at construction */
        shape[neg] = per / known;
    if (neg > 0 ? per % known != 0 : known != per)
        return dc_err_null(DC_ERR_SHAPE, "Reshape %s: cannot view the %lld elements of each "
                           "example of %s as %s", m->name, (long long)per,
                           dc_shape_str(x, s1, sizeof s1), target_str(r, s2, sizeof s2));
    return dc_reshape(ctx, x, r->ndim + 1, shape);
}

dc_module *dc_reshape_new(dc_model *m, const char *name, int ndim, const int64_t *shape)
{
    (void)m;
    const char *nm = name ? name : "?";
    int64_t sizes[DC_MAX_DIMS - 1], numel;
    int n_neg = 0;
    if (ndim < 1 || ndim > DC_MAX_DIMS - 1 || !shape)
        return dc_err_null(DC_ERR_ARG, "Reshape %s: needs 1 to %d sizes (the batch dimension "
                           "is kept), got %d", nm, DC_MAX_DIMS - 1, ndim);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1 && shape[i] != -1)
            return dc_err_null(DC_ERR_ARG, "Reshape %s: sizes must be >= 1 or -1, got %lld",
                               nm, (long long)shape[i]);
        n_neg += shape[i] == -1;
        sizes[i] = shape[i] == -1 ? 1 : shape[i];
    }
    if (n_neg > 1)
        return dc_err_null(DC_ERR_ARG, "Reshape %s: only one size may be -1, got %d", nm,
                           n_neg);
    if (!dc_shape_numel(ndim, sizes, &numel))
        return dc_err_null(DC_ERR_ARG, "Reshape %s: the sizes multiply to more than 2^40", nm);
    reshape_mod *r = dc_module_alloc(sizeof *r, "Reshape", name, reshape_forward);
    if (!r)
        return NULL;
    r->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        r->shape[i] = shape[i];
    return &r->base;
}

/* x [N, T, ...] -> [N·T, ...] */
static dc_tensor *fold_time_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    char s[96];
    if (!x)
        return NULL;
    if (x->ndim < 2)
        return dc_err_null(DC_ERR_SHAPE, "FoldTime %s: needs a sequence [N, T, ...], got %s",
                           m->name, dc_shape_str(x, s, sizeof s));
    return dc_flatten(ctx, x, 0, 1);
}

dc_module *dc_fold_time_new(dc_model *m, const char *name)
{
    (void)m;
    return dc_module_alloc(sizeof(dc_module), "FoldTime", name, fold_time_forward);
}

typedef struct unfold_time_mod {
    dc_module base;
    int64_t steps; /* T >= 1 */
} unfold_time_mod;

/* x [N·T, ...] -> [N, T, ...] */
static dc_tensor *unfold_time_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    const int64_t T = ((const unfold_time_mod *)m)->steps;
    int64_t shape[DC_MAX_DIMS];
    char s[96];
    if (!x)
        return NULL;
    if (x->ndim < 1 || x->ndim >= DC_MAX_DIMS)
        return dc_err_null(DC_ERR_SHAPE, "UnfoldTime %s: needs [N·T, ...] with 1 to %d dims, "
                           "got %s", m->name, DC_MAX_DIMS - 1, dc_shape_str(x, s, sizeof s));
    if (x->shape[0] % T)
        return dc_err_null(DC_ERR_SHAPE, "UnfoldTime %s: the first dim of %s is not a multiple "
                           "of steps = %lld", m->name, dc_shape_str(x, s, sizeof s),
                           (long long)T);
    shape[0] = x->shape[0] / T;
    shape[1] = T;
    for (int d = 1; d < x->ndim; d++)
        shape[d + 1] = x->shape[d];
    return dc_reshape(ctx, x, x->ndim + 1, shape);
}

dc_module *dc_unfold_time_new(dc_model *m, const char *name, int64_t steps)
{
    (void)m;
    if (steps < 1)
        return dc_err_null(DC_ERR_ARG, "UnfoldTime %s: steps must be >= 1, got %lld",
                           name ? name : "?", (long long)steps);
    unfold_time_mod *u = dc_module_alloc(sizeof *u, "UnfoldTime", name, unfold_time_forward);
    if (u)
        u->steps = steps;
    return u ? &u->base : NULL;
}

/* ---- descriptors (src/nn/layer_desc.h) ---- */

/* shape = s_1, ..., s_k (k <= 4, one may be -1): checked against the elements of one example,
 * so a mismatch names the spec line. */
static dc_module *build_reshape(dc_layer_args *a)
{
    const dc_layer_val *v = &a->v[0];
    int64_t per = 1, known = 1;
    int n_neg = 0;
    char s[96];
    for (int d = 1; d < a->x->ndim; d++)
        per *= a->x->shape[d];
    for (int i = 0; i < v->n; i++) { /* known saturates at per + 1: no overflow, still a misfit */
        int64_t k = v->i[i] == -1 ? 1 : v->i[i];
        n_neg += v->i[i] == -1;
        known = k > 0 && known > per / k ? per + 1 : known * k;
        if (v->i[i] == 0)
            return dc_layer_refuse(a, 0, "sizes must be >= 1 (or -1 for one inferred size), "
                                   "got 0");
    }
    if (n_neg > 1)
        return dc_layer_refuse(a, 0, "only one size may be -1, got '%s'", v->text);
    if (a->x->ndim < 1)
        return dc_layer_refuse(a, 0, "needs an input with a batch dimension");
    if (n_neg ? per % known != 0 : per != known)
        return dc_layer_refuse(a, 0, "'%s' does not fit the %lld elements of one example "
                               "(input %s)", v->text, (long long)per,
                               dc_shape_str(a->x, s, sizeof s));
    return dc_reshape_new(a->m, a->name, v->n, v->i);
}

static const dc_layer_key reshape_keys[] = {
    {"shape", DC_KEY_INTS, NULL, -1, 1 << 24, 1, DC_MAX_DIMS - 1, NULL, 0,
     "the sizes after the batch dimension, e.g. 28, 28"},
};
const dc_layer_desc dc_layer_reshape = {
    .type = "reshape", .module = "Reshape", .torch = "nn.Flatten() then nn.Unflatten(1, shape)",
    .doc = "a view [N, ...] -> [N, s_1, ..., s_k] (1 to 4 sizes, one may be -1)",
    .keys = reshape_keys, .n_keys = 1, .build = build_reshape, .params = "",
    .gradcheck = "reshape",
};

static dc_module *build_fold_time(dc_layer_args *a)
{
    char s[96];
    if (a->x->ndim < 2)
        return dc_layer_refuse(a, -1, "needs a sequence [N, T, ...] (batch included), got %s",
                               dc_shape_str(a->x, s, sizeof s));
    return dc_fold_time_new(a->m, a->name);
}

/* fold_time / unfold_time are dc_reshape views: the reshape cases check their gradient. */
const dc_layer_desc dc_layer_fold_time = {
    .type = "fold_time", .aliases = "FoldTime", .module = "FoldTime", .torch = "x.flatten(0, 1)",
    .doc = "time steps into the batch: [N, T, ...] -> [N·T, ...]", .build = build_fold_time,
    .params = "", .gradcheck = "reshape",
};

/* Shape inference runs on a batch of one, so the rows of the input are the steps of one example:
 * steps must equal the first dim (any other divisor would change the batch size). */
static dc_module *build_unfold_time(dc_layer_args *a)
{
    char s[96];
    const int64_t T = a->v[0].i[0];
    if (a->x->ndim < 1 || a->x->ndim >= DC_MAX_DIMS)
        return dc_layer_refuse(a, -1, "needs an input [N·T, ...] with 1 to %d dims, got %s",
                               DC_MAX_DIMS - 1, dc_shape_str(a->x, s, sizeof s));
    if (a->x->shape[0] != T)
        return dc_layer_refuse(a, 0, "%lld does not match the %lld steps folded into the batch "
                               "(a batch of one reaches this layer as %s; use fold_time before "
                               "it)", (long long)T, (long long)a->x->shape[0],
                               dc_shape_str(a->x, s, sizeof s));
    return dc_unfold_time_new(a->m, a->name, T);
}

static const dc_layer_key unfold_time_keys[] = {
    DC_KEY_I("steps", NULL, 1, 0x1p31, "T"),
};
const dc_layer_desc dc_layer_unfold_time = {
    .type = "unfold_time", .aliases = "UnfoldTime", .module = "UnfoldTime",
    .torch = "x.unflatten(0, (-1, steps))",
    .doc = "time steps out of the batch: [N·T, ...] -> [N, T, ...]", .keys = unfold_time_keys,
    .n_keys = 1, .build = build_unfold_time, .params = "", .gradcheck = "reshape",
};
