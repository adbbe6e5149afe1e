/*
 * ffn.c - the Transformer's feed-forward block with its residual as one recorded op:
 *
 *   h = x·W1ᵀ + b1 [R, F],  g = gelu(h) (exact),  y = res + (g·W2ᵀ + b2) [R, E]
 *
 * x [..., E] (rows R), W1 [F, E], b1 [F], W2 [E, F], b2 [E], res with y's shape. The forward
 * keeps h only: g lives in scratch (dc_ctx_scratch) while y is computed and is recomputed in
 * backward, so the step holds one [R, F] tensor per block where linear, GELU, linear hold two.
 * Backward, with dy = y's gradient:
 *   g again;  dW2 += dyᵀ·g;  db2 += Σ_rows dy;  dg = dy·W2;  dh = dg ⊙ gelu'(h) (into g's
 *   buffer);  dW1 += dhᵀ·x;  db1 += Σ_rows dh;  dx (+)= dh·W1;  dres += dy (dy's buffer moved
 *   when res has no gradient yet).
 * The same kernels with the same operands in the same order as the three ops, so the same bits.
 */
#include "core/internal.h"
#include "kernels/eltwise_k.h"

#include <string.h>

static dc_status grad_of(dc_ctx *ctx, dc_tensor *t, float **g)
{
    *g = dc_grad(ctx, t);
    return (!*g && t && (t->flags & DC_TF_REQUIRES_GRAD)) ? DC_ERR_NOMEM : DC_OK;
}

/* dx (+)= dh·W1 (stored on x's first gradient), then dres += dy. */
static dc_status ffn_input_grads(dc_ctx *ctx, dc_node *n, const float *dh)
{
    dc_tensor *x = n->ins[0], *w1 = n->ins[1], *res = n->ins[5], *y = n->out;
    const int64_t F = w1->shape[0], E = w1->shape[1], R = x->numel / E;
    int fresh;
    float *dx = dc_grad_fresh(ctx, x, &fresh);
    if (!dx && (x->flags & DC_TF_REQUIRES_GRAD))
        return DC_ERR_NOMEM;
    if (dx)
        dc_gemm(0, 0, R, E, F, 1.0f, dh, F, dc_f32(w1), E, fresh ? 0.0f : 1.0f, dx, E);
    return dc_residual_grad(ctx, y, res);
}

static dc_status ffn_bwd(dc_ctx *ctx, dc_node *n)
{ /* see the top of the file */
    dc_tensor *x = n->ins[0], *w1 = n->ins[1], *b1 = n->ins[2], *w2 = n->ins[3],
              *b2 = n->ins[4], *y = n->out;
    const int64_t F = w1->shape[0], E = w1->shape[1], R = x->numel / E;
    const float *h = n->saved, *dy = y->grad;
    float *dw1, *db1, *dw2, *db2;
    if (grad_of(ctx, w1, &dw1) != DC_OK || grad_of(ctx, b1, &db1) != DC_OK ||
        grad_of(ctx, w2, &dw2) != DC_OK || grad_of(ctx, b2, &db2) != DC_OK)
        return DC_ERR_NOMEM;
    float *g = dc_ctx_scratch(ctx, R * F), *dg = g ? dc_ctx_scratch(ctx, R * F) : NULL;
    if (!dg)
        return DC_ERR_NOMEM;
    dc_k_gelu_fwd(R * F, 0, h, g);
    if (dw2)
        dc_gemm(1, 0, E, F, R, 1.0f, dy, E, g, F, 1.0f, dw2, F);
    if (db2)
        dc_k_col_sum_acc(R, E, dy, db2);
    dc_gemm(0, 0, R, F, E, 1.0f, dy, E, dc_f32(w2), F, 0.0f, dg, F);
    dc_k_gelu_bwd(R * F, 0, 1, h, dg, g); /* g's buffer now holds dh */
    if (dw1)
        dc_gemm(1, 0, F, E, R, 1.0f, g, F, dc_f32(x), E, 1.0f, dw1, E);
    if (db1)
        dc_k_col_sum_acc(R, F, g, db1);
    const dc_status st = ffn_input_grads(ctx, n, g);
    dc_ctx_scratch_done(ctx, dg, R * F);
    dc_ctx_scratch_done(ctx, g, R * F);
    return st;
}

static bool ffn_check(const dc_tensor *x, const dc_tensor *w1, const dc_tensor *b1,
                      const dc_tensor *w2, const dc_tensor *b2, const dc_tensor *res)
{
    const dc_tensor *t[6] = {x, w1, b1, w2, b2, res};
    for (int i = 0; i < 6; i++)
        if (!dc_check_f32("ffn", t[i], "operand"))
            return false;
    const int64_t E = x->shape[x->ndim - 1], F = w1->shape[0];
    bool ok = w1->ndim == 2 && w1->shape[1] == E && b1->numel == F && w2->ndim == 2 &&
              w2->shape[0] == E && w2->shape[1] == F && b2->numel == E && dc_same_shape(x, res);
    if (!ok)
        dc_err(DC_ERR_SHAPE, "ffn: expected x [..., E], W1 [F, E], b1 [F], W2 [E, F], b2 [E] "
               "and a residual shaped like x");
    return ok;
}

dc_tensor *dc_ffn_gelu_residual(dc_ctx *ctx, dc_tensor *x, dc_tensor *w1, dc_tensor *b1,
                                dc_tensor *w2, dc_tensor *b2, dc_tensor *res)
{
    if (!x || !w1 || !b1 || !w2 || !b2 || !res)
        return NULL;
    if (!ffn_check(x, w1, b1, w2, b2, res))
        return NULL;
    const int64_t E = x->shape[x->ndim - 1], F = w1->shape[0], R = x->numel / (E ? E : 1);
    dc_tensor *in[6] = {x, w1, b1, w2, b2, res};
    const bool rec = dc_needs_grad(ctx, 6, in);
    dc_tensor *y = dc_empty_like(ctx, res);
    float *h = !y ? NULL : rec ? dc_ctx_alloc(ctx, (size_t)(R * F) * sizeof(float))
                               : dc_ctx_scratch(ctx, R * F);
    float *g = h ? dc_ctx_scratch(ctx, R * F) : NULL;
    if (!g)
        return NULL;
    dc_linear_gemm(ctx, R, dc_f32(x), w1, h);
    dc_k_add_row(R, F, dc_f32(b1), h);
    dc_k_gelu_fwd(R * F, 0, h, g);
    dc_linear_gemm(ctx, R, g, w2, dc_f32(y));
    dc_k_add_row(R, E, dc_f32(b2), dc_f32(y));
    dc_k_acc(y->numel, dc_f32(res), dc_f32(y)); /* y + res: the bits of dc_add(res, y) */
    dc_ctx_scratch_done(ctx, g, R * F);
    if (!rec)
        dc_ctx_scratch_done(ctx, h, R * F);
    dc_node *n = dc_record(ctx, "ffn_gelu_residual", ffn_bwd, y, 6, in);
    if (n)
        n->saved = h;
    return y;
}
