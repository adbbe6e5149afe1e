/*
 * layernorm.c - layer normalisation (PyTorch F.layer_norm).
 *
 * layer_norm over the last dims, D = their element count, per row r of x viewed [R, D]:
 *   μ_r = Σx / D,  σ²_r = Σ(x − μ_r)² / D (biased),  ρ_r = 1/√(σ²_r + eps)
 *   y = (x − μ_r)·ρ_r·w + b
 * Backward, x̂ = (x − μ)ρ, g = dy·w:
 *   dx += ρ (g − mean(g) − x̂·mean(g·x̂)),  dw += Σ_r dy·x̂,  db += Σ_r dy
 */
#include "core/internal.h"
#include "kernels/attn_k.h"

#include <math.h>
#include <string.h>

typedef struct ln_saved {
    int64_t R, D;
    float *mean, *rstd; /* [R] */
} ln_saved;

static dc_status grad_of(dc_ctx *ctx, dc_tensor *t, float **g)
{
    *g = dc_grad(ctx, t);
    return (!*g && t && (t->flags & DC_TF_REQUIRES_GRAD)) ? DC_ERR_NOMEM : DC_OK;
}

static dc_status layer_norm_bwd(dc_ctx *ctx, dc_node *n)
{ /* see the top of the file */
    dc_tensor *x = n->in[0], *w = n->ia[0] ? n->in[1] : NULL, *y = n->out;
    dc_tensor *b = n->ia[1] ? n->in[n->ia[0] ? 2 : 1] : NULL;
    const ln_saved *s = n->saved;
    float *dx, *dw, *db;
    if (grad_of(ctx, x, &dx) != DC_OK || grad_of(ctx, w, &dw) != DC_OK ||
        grad_of(ctx, b, &db) != DC_OK)
        return DC_ERR_NOMEM;
    dc_k_layer_norm_bwd(s->R, s->D, dc_f32(x), w ? dc_f32(w) : NULL, s->mean, s->rstd, y->grad,
                        dx, dw, db);
    return DC_OK;
}

/* weight / bias must have the shape of x's last n_dims dims. */
static bool ln_param_ok(const dc_tensor *x, int n_dims, const dc_tensor *p, const char *what)
{
    char s1[96], s2[96];
    if (!p)
        return true;
    if (!dc_check_f32("layer_norm", p, what))
        return false;
    bool ok = p->ndim == n_dims;
    for (int d = 0; ok && d < n_dims; d++)
        ok = p->shape[d] == x->shape[x->ndim - n_dims + d];
    if (!ok)
        dc_err(DC_ERR_SHAPE, "layer_norm: %s %s must have the normalised shape (the last %d "
               "dims of input %s)", what, dc_shape_str(p, s1, sizeof s1), n_dims,
               dc_shape_str(x, s2, sizeof s2));
    return ok;
}

dc_tensor *dc_layer_norm(dc_ctx *ctx, dc_tensor *x, int n_dims, dc_tensor *weight,
                         dc_tensor *bias, float eps)
{
    if (!x)
        return NULL;
    if (!dc_check_f32("layer_norm", x, "input"))
        return NULL;
    if (n_dims < 1 || n_dims > x->ndim)
        return dc_err_null(DC_ERR_ARG, "layer_norm: normalise over 1 to %d dims, got %d",
                           x->ndim, n_dims);
    if (!(eps >= 0.0f))
        return dc_err_null(DC_ERR_ARG, "layer_norm: eps must be >= 0, got %g", (double)eps);
    if (!ln_param_ok(x, n_dims, weight, "weight") || !ln_param_ok(x, n_dims, bias, "bias"))
        return NULL;
    int64_t D = 1;
    for (int d = x->ndim - n_dims; d < x->ndim; d++)
        D *= x->shape[d];
    const int64_t R = D ? x->numel / D : 0;
    dc_tensor *y = dc_empty_like(ctx, x);
    ln_saved *s = dc_ctx_alloc(ctx, sizeof *s);
    float *stats = dc_ctx_alloc(ctx, 2 * (size_t)(R ? R : 1) * sizeof(float));
    if (!y || !s || !stats)
        return NULL;
    *s = (ln_saved){R, D, stats, stats + R};
    dc_k_layer_norm_fwd(R, D, dc_f32(x), weight ? dc_f32(weight) : NULL,
                        bias ? dc_f32(bias) : NULL, eps, dc_f32(y), s->mean, s->rstd);
    dc_tensor *in[3] = {x, NULL, NULL};
    int k = 1;
    if (weight)
        in[k++] = weight;
    if (bias)
        in[k++] = bias;
    dc_node *n = dc_record(ctx, "layer_norm", layer_norm_bwd, y, k, in);
    if (n) {
        n->ia[0] = weight != NULL;
        n->ia[1] = bias != NULL;
        n->saved = s;
    }
    return y;
}

/* ---- a layer norm as the prologue of a fused op (dc_layer_norm_linear, dc_ln_ffn_gelu_residual)
 * ---- */

bool dc_ln_pre_check(const char *op, const dc_tensor *x, const dc_tensor *w, const dc_tensor *b,
                     float eps)
{
    if (!dc_check_f32(op, x, "input") || !dc_check_f32(op, w, "norm weight") ||
        !dc_check_f32(op, b, "norm bias"))
        return false;
    const int64_t D = x->ndim ? x->shape[x->ndim - 1] : 0;
    if (x->ndim < 1 || w->ndim != 1 || w->shape[0] != D || b->ndim != 1 || b->shape[0] != D) {
        char s1[96], s2[96], s3[96];
        dc_err(DC_ERR_SHAPE, "%s: the norm's weight %s and bias %s must be [%lld], the last dim "
               "of input %s", op, dc_shape_str(w, s1, sizeof s1), dc_shape_str(b, s2, sizeof s2),
               (long long)D, dc_shape_str(x, s3, sizeof s3));
        return false;
    }
    if (!(eps >= 0.0f)) {
        dc_err(DC_ERR_ARG, "%s: eps must be >= 0, got %g", op, (double)eps);
        return false;
    }
    return true;
}

float *dc_ln_pre_run(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *w, const dc_tensor *b,
                     float eps, float *stats)
{
    const int64_t D = x->shape[x->ndim - 1], R = D ? x->numel / D : 0;
    float *n = dc_ctx_scratch(ctx, R * D);
    if (n)
        dc_k_layer_norm_fwd(R, D, dc_f32(x), dc_f32(w), dc_f32(b), eps, n, stats, stats + R);
    return n;
}

dc_status dc_ln_pre_grads(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b,
                          const float *stats, const float *dn)
{
    const int64_t D = x->shape[x->ndim - 1], R = D ? x->numel / D : 0;
    float *dx, *dw, *db;
    if (grad_of(ctx, x, &dx) != DC_OK || grad_of(ctx, w, &dw) != DC_OK ||
        grad_of(ctx, b, &db) != DC_OK)
        return DC_ERR_NOMEM;
    dc_k_layer_norm_bwd(R, D, dc_f32(x), dc_f32(w), stats, stats + R, dn, dx, dw, db);
    return DC_OK;
}
