/*
 * ffn.c - the Transformer's feed-forward block with its residual as one recorded op:
 *
 *   h = x·W1ᵀ + b1 [R, F],  g = gelu(h) (exact),  y = res + (g·W2ᵀ + b2) [R, E]
 *
 * x [..., E] (rows R), W1 [F, E], b1 [F], W2 [E, F], b2 [E], res with y's shape. The forward
 * keeps h only: g lives in scratch (dc_ctx_scratch) while y is computed and is recomputed in
 * backward, so the step holds one [R, F] tensor per block where linear, GELU, linear hold two.
 * Backward, with dy = y's gradient:
 *   g again;  dW2 += dyᵀ·g;  db2 += Σ_rows dy;  dg = dy·W2, then dh = dg ⊙ gelu'(h), both in
 *   g's buffer (one [R, F] scratch);  dW1 += dhᵀ·x;  db1 += Σ_rows dh;  dx (+)= dh·W1;
 *   dres += dy (dy's buffer moved when res has no gradient yet).
 * The same kernels with the same operands in the same order as the three ops, so the same bits.
 *
 * dc_ln_ffn_gelu_residual puts the pre-LN block's layer norm in front, x̃ = LayerNorm(x), with
 * res = x: y = x + linear2(gelu(linear1(x̃))). x̃ lives in scratch too and is recomputed in
 * backward, where dx̃ = dh·W1 goes through the norm's backward after dres += dy (the order of the
 * separate ops' backwards).
 */
#include "core/internal.h"
#include "kernels/eltwise_k.h"

#include <string.h>

static dc_status grad_of(dc_ctx *ctx, dc_tensor *t, float **g)
{
    *g = dc_grad(ctx, t);
    return (!*g && t && (t->flags & DC_TF_REQUIRES_GRAD)) ? DC_ERR_NOMEM : DC_OK;
}

/* The ops' inputs: x (the block's input or, with a norm, the norm's input), the norm's weight and
 * bias (with a norm), W1, b1, W2, b2, and the residual (without a norm; with one it is x). */
typedef struct ffn_io {
    dc_tensor *x, *lnw, *lnb, *w1, *b1, *w2, *b2, *res;
} ffn_io;

static ffn_io ffn_inputs(const dc_node *n)
{
    dc_tensor *const *t = n->ins;
    if (n->n_in == 7)
        return (ffn_io){t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[0]};
    return (ffn_io){t[0], NULL, NULL, t[1], t[2], t[3], t[4], t[5]};
}

/* What forward keeps: the hidden pre-activation [R, F], and the norm's row statistics [2R]. */
typedef struct ffn_saved {
    float *h, *stats;
} ffn_saved;

/* Backward with xin the rows the first linear read (x, or the recomputed norm of x): the weights'
 * gradients, then dxin (+)= dh·W1 (into dxin when given, else x's gradient, stored on its first
 * one), then dres += dy. */
static dc_status ffn_grads(dc_ctx *ctx, const ffn_io *io, const float *h, const float *dy,
                           const float *xin, float *dxin, dc_tensor *y)
{
    const int64_t F = io->w1->shape[0], E = io->w1->shape[1], R = io->x->numel / E;
    float *dw1, *db1, *dw2, *db2;
    if (grad_of(ctx, io->w1, &dw1) != DC_OK || grad_of(ctx, io->b1, &db1) != DC_OK ||
        grad_of(ctx, io->w2, &dw2) != DC_OK || grad_of(ctx, io->b2, &db2) != DC_OK)
        return DC_ERR_NOMEM;
    float *g = dc_ctx_scratch(ctx, R * F);
    if (!g)
        return DC_ERR_NOMEM;
    dc_k_gelu_fwd(R * F, 0, h, g);
    if (dw2)
        dc_gemm(1, 0, E, F, R, 1.0f, dy, E, g, F, 1.0f, dw2, F);
    if (db2)
        dc_k_col_sum_acc(R, E, dy, db2);
    dc_gemm(0, 0, R, F, E, 1.0f, dy, E, dc_f32(io->w2), F, 0.0f, g, F); /* g done: dg there */
    dc_k_gelu_bwd(R * F, 0, 1, h, g, g);                                  /* and dh, in place */
    if (dw1)
        dc_gemm(1, 0, F, E, R, 1.0f, g, F, xin, E, 1.0f, dw1, E);
    if (db1)
        dc_k_col_sum_acc(R, F, g, db1);
    int fresh = 1;
    float *dx = dxin ? dxin : dc_grad_fresh(ctx, io->x, &fresh);
    dc_status st = !dx && (io->x->flags & DC_TF_REQUIRES_GRAD) ? DC_ERR_NOMEM : DC_OK;
    if (dx)
        dc_gemm(0, 0, R, E, F, 1.0f, g, F, dc_f32(io->w1), E, fresh ? 0.0f : 1.0f, dx, E);
    dc_ctx_scratch_done(ctx, g, R * F);
    return st == DC_OK ? dc_residual_grad(ctx, y, io->res) : st;
}

static dc_status ffn_bwd(dc_ctx *ctx, dc_node *n)
{ /* see the top of the file */
    const ffn_io io = ffn_inputs(n);
    const ffn_saved *sv = n->saved;
    if (!io.lnw)
        return ffn_grads(ctx, &io, sv->h, n->out->grad, dc_f32(io.x), NULL, n->out);
    const int64_t E = io.w1->shape[1], R = io.x->numel / E;
    /* the norm's run again rewrites the saved statistics with the same values */
    float *xn = dc_ln_pre_run(ctx, io.x, io.lnw, io.lnb, n->fa[0], sv->stats);
    float *dxn = xn ? dc_ctx_scratch(ctx, R * E) : NULL;
    dc_status st = dxn ? ffn_grads(ctx, &io, sv->h, n->out->grad, xn, dxn, n->out)
                       : DC_ERR_NOMEM;
    if (st == DC_OK)
        st = dc_ln_pre_grads(ctx, io.x, io.lnw, io.lnb, sv->stats, dxn);
    dc_ctx_scratch_done(ctx, dxn, R * E);
    dc_ctx_scratch_done(ctx, xn, R * E);
    return st;
}

static bool ffn_check(const ffn_io *io)
{
    const dc_tensor *t[6] = {io->x, io->w1, io->b1, io->w2, io->b2, io->res};
    for (int i = 0; i < 6; i++)
        if (!dc_check_f32("ffn", t[i], "operand"))
            return false;
    const dc_tensor *x = io->x;
    const int64_t E = x->shape[x->ndim - 1], F = io->w1->shape[0];
    bool ok = io->w1->ndim == 2 && io->w1->shape[1] == E && io->b1->numel == F &&
              io->w2->ndim == 2 && io->w2->shape[0] == E && io->w2->shape[1] == F &&
              io->b2->numel == E && dc_same_shape(x, io->res);
    if (!ok)
        dc_err(DC_ERR_SHAPE, "ffn: expected x [..., E], W1 [F, E], b1 [F], W2 [E, F], b2 [E] "
               "and a residual shaped like x");
    return ok;
}

/* Both ops: io's operands checked, eps the norm's (with io->lnw). */
static dc_tensor *ffn_run(dc_ctx *ctx, const ffn_io *io, float eps)
{
    const int64_t E = io->x->shape[io->x->ndim - 1], F = io->w1->shape[0];
    const int64_t R = io->x->numel / (E ? E : 1);
    dc_tensor *ln_in[7] = {io->x, io->lnw, io->lnb, io->w1, io->b1, io->w2, io->b2};
    dc_tensor *in[6] = {io->x, io->w1, io->b1, io->w2, io->b2, io->res};
    const int n_in = io->lnw ? 7 : 6;
    dc_tensor *const *ins = io->lnw ? ln_in : in;
    const bool rec = dc_needs_grad(ctx, n_in, ins);
    dc_tensor *y = dc_empty_like(ctx, io->res);
    ffn_saved *sv = y && rec ? dc_ctx_alloc(ctx, sizeof *sv) : NULL;
    float *stats = NULL, *xn = NULL;
    if (!y || (rec && !sv))
        return NULL;
    if (io->lnw) {
        stats = dc_ctx_alloc(ctx, 2 * (size_t)(R ? R : 1) * sizeof(float));
        if (!stats || !(xn = dc_ln_pre_run(ctx, io->x, io->lnw, io->lnb, eps, stats)))
            return NULL;
    }
    float *h = rec ? dc_ctx_alloc(ctx, (size_t)(R * F) * sizeof(float))
                   : dc_ctx_scratch(ctx, R * F);
    float *g = h ? dc_ctx_scratch(ctx, R * F) : NULL;
    if (!g) {
        if (!rec)
            dc_ctx_scratch_done(ctx, h, R * F);
        dc_ctx_scratch_done(ctx, xn, R * E);
        return NULL;
    }
    dc_linear_gemm(ctx, R, xn ? xn : dc_f32(io->x), io->w1, h);
    dc_k_add_row(R, F, dc_f32(io->b1), h);
    dc_k_gelu_fwd(R * F, 0, h, g);
    dc_linear_gemm(ctx, R, g, io->w2, dc_f32(y));
    dc_k_add_row(R, E, dc_f32(io->b2), dc_f32(y));
    dc_k_acc(y->numel, dc_f32(io->res), dc_f32(y)); /* y + res: the bits of dc_add(res, y) */
    dc_ctx_scratch_done(ctx, g, R * F);
    if (!rec)
        dc_ctx_scratch_done(ctx, h, R * F);
    if (xn)
        dc_ctx_scratch_done(ctx, xn, R * E);
    dc_node *n = dc_record(ctx, io->lnw ? "ln_ffn_gelu_residual" : "ffn_gelu_residual", ffn_bwd,
                           y, n_in, ins);
    if (n) {
        *sv = (ffn_saved){h, stats};
        n->saved = sv;
        n->fa[0] = eps;
    }
    return y;
}

dc_tensor *dc_ffn_gelu_residual(dc_ctx *ctx, dc_tensor *x, dc_tensor *w1, dc_tensor *b1,
                                dc_tensor *w2, dc_tensor *b2, dc_tensor *res)
{
    if (!x || !w1 || !b1 || !w2 || !b2 || !res)
        return NULL;
    const ffn_io io = {x, NULL, NULL, w1, b1, w2, b2, res};
    return ffn_check(&io) ? ffn_run(ctx, &io, 0.0f) : NULL;
}

dc_tensor *dc_ln_ffn_gelu_residual(dc_ctx *ctx, dc_tensor *x, dc_tensor *lnw, dc_tensor *lnb,
                                   float eps, dc_tensor *w1, dc_tensor *b1, dc_tensor *w2,
                                   dc_tensor *b2)
{
    if (!x || !lnw || !lnb || !w1 || !b1 || !w2 || !b2)
        return NULL;
    const ffn_io io = {x, lnw, lnb, w1, b1, w2, b2, x};
    if (!dc_ln_pre_check("ln_ffn_gelu_residual", x, lnw, lnb, eps) || !ffn_check(&io))
        return NULL;
    return ffn_run(ctx, &io, eps);
}
