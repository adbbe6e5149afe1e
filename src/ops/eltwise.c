/*
 * eltwise.c - elementwise ops: a op b with NumPy broadcasting, scalar ops, neg/exp/log/sqrt/abs.
 *
 * Broadcasting: shapes are aligned at the right; each pair of sizes must be equal or one of them
 * 1. The index space is padded to DC_MAX_DIMS, then adjacent dimensions along which both operands
 * are laid out alike are merged, so [N, C] + [C] (the bias case) runs as rows of C contiguous
 * elements and [2,3,4] + [3,1] as three dims with a stride-0 inner loop for b. Backward computes
 * the elementwise gradient in the output shape and sums it back over the broadcast dimensions
 * serially, in row-major order of the output (a fixed order).
 */
#include "core/internal.h"
#include "kernels/eltwise_k.h"

#include <stdio.h>
#include <string.h>

/* dc_grad, telling "no gradient wanted" (DC_OK) from "no memory" (DC_ERR_NOMEM). */
static dc_status grad_of(dc_ctx *ctx, dc_tensor *t, float **g)
{
    *g = dc_grad(ctx, t);
    return (!*g && t && (t->flags & DC_TF_REQUIRES_GRAD)) ? DC_ERR_NOMEM : DC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Broadcasting plan                                                                          */
/* ------------------------------------------------------------------------------------------ */

typedef struct bcast {
    int nd;                      /* merged dimensions, 1..DC_MAX_DIMS */
    int64_t shape[DC_MAX_DIMS];  /* merged index space (= output numel) */
    int64_t sa[DC_MAX_DIMS];     /* element strides of a (0 where a is broadcast) */
    int64_t sb[DC_MAX_DIMS];     /* same for b */
    int64_t sy[DC_MAX_DIMS];     /* contiguous strides of the output */
} bcast;

/* The broadcast output shape of a and b, or false with DC_ERR_SHAPE naming both shapes. */
static bool bcast_shape(const char *op, const dc_tensor *a, const dc_tensor *b, int *ndim,
                        int64_t *shape)
{
    const int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int k = 0; k < nd; k++) { /* k counts from the right */
        const int64_t sa = k < a->ndim ? a->shape[a->ndim - 1 - k] : 1;
        const int64_t sb = k < b->ndim ? b->shape[b->ndim - 1 - k] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char s1[96], s2[96];
            dc_err(DC_ERR_SHAPE, "%s: shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)",
                   op, dc_shape_str(a, s1, sizeof s1), dc_shape_str(b, s2, sizeof s2), -1 - k,
                   (long long)sa, (long long)sb);
            return false;
        }
        shape[nd - 1 - k] = sa == 1 ? sb : sa;
    }
    *ndim = nd;
    return true;
}

/* Contiguous strides of t's shape padded on the left to DC_MAX_DIMS, 0 where the size is 1. */
static void padded_strides(const dc_tensor *t, int64_t *size, int64_t *stride)
{
    const int pad = DC_MAX_DIMS - t->ndim;
    int64_t s = 1;
    for (int d = DC_MAX_DIMS - 1; d >= 0; d--) {
        size[d] = d < pad ? 1 : t->shape[d - pad];
        stride[d] = size[d] == 1 ? 0 : s;
        s *= size[d];
    }
}

/* Merge the padded index space of out (ndim, shape) for operands a and b. */
static void bcast_plan(const dc_tensor *a, const dc_tensor *b, int ndim, const int64_t *shape,
                       bcast *p)
{
    int64_t as[DC_MAX_DIMS], bs[DC_MAX_DIMS], sa[DC_MAX_DIMS], sb[DC_MAX_DIMS];
    padded_strides(a, as, sa);
    padded_strides(b, bs, sb);
    p->nd = 0;
    for (int d = DC_MAX_DIMS - ndim; d < DC_MAX_DIMS; d++) {
        const int64_t n = shape[d - (DC_MAX_DIMS - ndim)];
        if (n == 1)
            continue;
        const int k = p->nd - 1;
        if (k >= 0 && p->sa[k] == sa[d] * n && p->sb[k] == sb[d] * n) {
            p->shape[k] *= n; /* the previous dim continues this one for both operands */
            p->sa[k] = sa[d];
            p->sb[k] = sb[d];
            continue;
        }
        p->shape[p->nd] = n;
        p->sa[p->nd] = sa[d];
        p->sb[p->nd] = sb[d];
        p->nd++;
    }
    if (p->nd == 0) { /* every size is 1 */
        p->nd = 1;
        p->shape[0] = 1;
        p->sa[0] = p->sb[0] = 0;
    }
    int64_t s = 1;
    for (int d = p->nd - 1; d >= 0; d--) {
        p->sy[d] = s;
        s *= p->shape[d];
    }
}

/* ------------------------------------------------------------------------------------------ */
/* a op b                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Gradient of one operand t (is_b selects b) of y = a op b under broadcasting, added into d. */
static dc_status bcast_grad(dc_ctx *ctx, dc_k_binary op, int is_b, const bcast *p,
                            const dc_tensor *a, const dc_tensor *b, const dc_tensor *y,
                            float *d)
{
    const float *dy = y->grad;
    const int64_t *sd = is_b ? p->sb : p->sa;
    float alpha = (is_b && op == DC_K_SUB) ? -1.0f : 1.0f;
    if (op == DC_K_ADD || op == DC_K_SUB) { /* ∂y/∂a = 1, ∂y/∂b = ±1 */
        dc_k_sum_to(p->nd, p->shape, dy, alpha, d, sd);
        return DC_OK;
    }
    float *g = dc_ctx_alloc(ctx, (size_t)y->numel * sizeof *g);
    if (!g)
        return DC_ERR_NOMEM;
    if (op == DC_K_MUL) { /* ∂(a·b)/∂a = b, ∂/∂b = a */
        const dc_tensor *o = is_b ? a : b;
        dc_k_bcast_fwd(DC_K_MUL, p->nd, p->shape, dy, p->sy, dc_f32(o), is_b ? p->sa : p->sb, g);
    } else if (!is_b) { /* ∂(a/b)/∂a = 1/b */
        dc_k_bcast_fwd(DC_K_DIV, p->nd, p->shape, dy, p->sy, dc_f32(b), p->sb, g);
    } else { /* ∂(a/b)/∂b = -a/b² = -y/b */
        dc_k_binary_fwd(DC_K_MUL, y->numel, dy, dc_f32(y), g);
        dc_k_bcast_fwd(DC_K_DIV, p->nd, p->shape, g, p->sy, dc_f32(b), p->sb, g);
        alpha = -1.0f;
    }
    dc_k_sum_to(p->nd, p->shape, g, alpha, d, sd);
    return DC_OK;
}

/* dt += dy for a same-shape add: dy's buffer becomes t's when t has no gradient yet (last),
 * else a copy when fresh, else an add. */
static dc_status pass_grad(dc_ctx *ctx, dc_tensor *y, dc_tensor *t, int last)
{
    if (!t || !(t->flags & DC_TF_REQUIRES_GRAD) || (last && dc_grad_move(ctx, y, t)))
        return DC_OK;
    int fresh;
    float *g = dc_grad_fresh(ctx, t, &fresh);
    if (!g)
        return DC_ERR_NOMEM;
    if (fresh)
        memcpy(g, y->grad, (size_t)t->numel * sizeof(float));
    else
        dc_k_acc(t->numel, y->grad, g);
    return DC_OK;
}

static dc_status binary_bwd(dc_ctx *ctx, dc_node *n)
{ /* da += Σ_broadcast dy·∂y/∂a,  db += Σ_broadcast dy·∂y/∂b */
    dc_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    const dc_k_binary op = (dc_k_binary)n->ia[0];
    float *da, *db;
    if (op == DC_K_ADD && a != b && dc_same_shape(a, b)) /* the residual add: no memset */
        return pass_grad(ctx, y, b, 0) != DC_OK ? DC_ERR_NOMEM : pass_grad(ctx, y, a, 1);
    if (grad_of(ctx, a, &da) != DC_OK || grad_of(ctx, b, &db) != DC_OK)
        return DC_ERR_NOMEM;
    if (dc_same_shape(a, b)) {
        dc_k_binary_bwd(op, y->numel, dc_f32(a), dc_f32(b), dc_f32(y), y->grad, da, db);
        return DC_OK;
    }
    bcast p;
    bcast_plan(a, b, y->ndim, y->shape, &p);
    dc_status st = DC_OK;
    if (da)
        st = bcast_grad(ctx, op, 0, &p, a, b, y, da);
    if (db && st == DC_OK)
        st = bcast_grad(ctx, op, 1, &p, a, b, y, db);
    return st;
}

static dc_tensor *binary(dc_ctx *ctx, const char *name, dc_k_binary op, dc_tensor *a,
                         dc_tensor *b)
{
    if (!a || !b)
        return NULL;
    if (!dc_check_f32(name, a, "a") || !dc_check_f32(name, b, "b"))
        return NULL;
    dc_tensor *y;
    if (dc_same_shape(a, b)) {
        if (!(y = dc_empty_like(ctx, a)))
            return NULL;
        dc_k_binary_fwd(op, y->numel, dc_f32(a), dc_f32(b), dc_f32(y));
    } else {
        int ndim;
        int64_t shape[DC_MAX_DIMS];
        bcast p;
        if (!bcast_shape(name, a, b, &ndim, shape) || !(y = dc_empty(ctx, DC_F32, ndim, shape)))
            return NULL;
        bcast_plan(a, b, ndim, shape, &p);
        dc_k_bcast_fwd(op, p.nd, p.shape, dc_f32(a), p.sa, dc_f32(b), p.sb, dc_f32(y));
    }
    dc_tensor *in[2] = {a, b};
    dc_node *n = dc_record(ctx, name, binary_bwd, y, 2, in);
    if (n)
        n->ia[0] = op;
    return y;
}

dc_tensor *dc_add(dc_ctx *ctx, dc_tensor *a, dc_tensor *b)
{
    return binary(ctx, "add", DC_K_ADD, a, b);
}

dc_tensor *dc_sub(dc_ctx *ctx, dc_tensor *a, dc_tensor *b)
{
    return binary(ctx, "sub", DC_K_SUB, a, b);
}

dc_tensor *dc_mul(dc_ctx *ctx, dc_tensor *a, dc_tensor *b)
{
    return binary(ctx, "mul", DC_K_MUL, a, b);
}

dc_tensor *dc_div(dc_ctx *ctx, dc_tensor *a, dc_tensor *b)
{
    return binary(ctx, "div", DC_K_DIV, a, b);
}

/* ------------------------------------------------------------------------------------------ */
/* Unary and scalar ops                                                                       */
/* ------------------------------------------------------------------------------------------ */

static dc_status unary_bwd(dc_ctx *ctx, dc_node *n)
{ /* dx += dy ⊙ f'(x), f' from the op (see the table in kernels/eltwise_k.h) */
    dc_tensor *x = n->in[0], *y = n->out;
    float *dx;
    if (grad_of(ctx, x, &dx) != DC_OK)
        return DC_ERR_NOMEM;
    if (dx)
        dc_k_unary_bwd((dc_k_unary)n->ia[0], x->numel, n->fa[0], dc_f32(x), dc_f32(y), y->grad,
                       dx);
    return DC_OK;
}

static dc_tensor *unary(dc_ctx *ctx, const char *name, dc_k_unary op, dc_tensor *x, float s)
{
    if (!x)
        return NULL;
    if (!dc_check_f32(name, x, "input"))
        return NULL;
    dc_tensor *y = dc_empty_like(ctx, x);
    if (!y)
        return NULL;
    dc_k_unary_fwd(op, x->numel, s, dc_f32(x), dc_f32(y));
    dc_node *n = dc_record(ctx, name, unary_bwd, y, 1, &x);
    if (n) {
        n->ia[0] = op;
        n->fa[0] = s;
    }
    return y;
}

dc_tensor *dc_add_scalar(dc_ctx *ctx, dc_tensor *a, float s)
{
    return unary(ctx, "add_scalar", DC_K_ADD_SCALAR, a, s);
}
dc_tensor *dc_mul_scalar(dc_ctx *ctx, dc_tensor *a, float s)
{
    return unary(ctx, "mul_scalar", DC_K_MUL_SCALAR, a, s);
}
dc_tensor *dc_pow_scalar(dc_ctx *ctx, dc_tensor *a, float p)
{
    return unary(ctx, "pow_scalar", DC_K_POW_SCALAR, a, p);
}
dc_tensor *dc_neg(dc_ctx *ctx, dc_tensor *a) { return unary(ctx, "neg", DC_K_NEG, a, 0.0f); }
dc_tensor *dc_exp(dc_ctx *ctx, dc_tensor *a) { return unary(ctx, "exp", DC_K_EXP, a, 0.0f); }
dc_tensor *dc_log(dc_ctx *ctx, dc_tensor *a) { return unary(ctx, "log", DC_K_LOG, a, 0.0f); }
dc_tensor *dc_sqrt(dc_ctx *ctx, dc_tensor *a) { return unary(ctx, "sqrt", DC_K_SQRT, a, 0.0f); }
dc_tensor *dc_abs(dc_ctx *ctx, dc_tensor *a) { return unary(ctx, "abs", DC_K_ABS, a, 0.0f); }
