/*
 * groupnorm.c - group normalisation (PyTorch's F.group_norm).
 *
 * x [N, C, *] (any trailing dims, S elements each) in G groups of C/G channels; for each example
 * n and group g, over the M = (C/G)·S elements of the group:
 *
 *   μ = (1/M) Σ x,   σ² = (1/M) Σ (x − μ)²  (biased),   r = 1/√(σ² + eps)
 *   x̂ = (x − μ)·r,   y[n, c, s] = x̂·w[c] + b[c]        (w, b [C] or NULL: 1 and 0)
 *
 * Backward, with ĝ = dy·w[c] and means over the group:
 *   dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)),  dw[c] += Σ_{n, s} dy·x̂,  db[c] += Σ_{n, s} dy
 * μ and r are kept on the tape ([N·G] each, in the arena); sums run in double.
 */
#include "core/internal.h"

#include <math.h>
#include <stdio.h>

typedef struct gn_shape {
    int64_t N, C, G, S, cg; /* cg = C/G channels per group */
} gn_shape;

static gn_shape gn_dims(const dc_tensor *x, int64_t G)
{
    gn_shape d = {x->shape[0], x->shape[1], G, 1, x->shape[1] / G};
    for (int i = 2; i < x->ndim; i++)
        d.S *= x->shape[i];
    return d;
}

static dc_status gn_bwd(dc_ctx *ctx, dc_node *n)
{
    dc_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2], *y = n->out;
    const gn_shape d = gn_dims(x, n->ia[0]);
    const float *mr = n->saved, *X = dc_f32(x), *dy = y->grad; /* mr: μ [N·G], then r [N·G] */
    float *dx = dc_grad(ctx, x), *dw = w ? dc_grad(ctx, w) : NULL, *db = b ? dc_grad(ctx, b) : NULL;
    const double M = (double)(d.cg * d.S);
    for (int64_t i = 0; i < d.N * d.G; i++) {
        const float mu = mr[i], r = mr[d.N * d.G + i];
        const int64_t c0 = (i % d.G) * d.cg, base = i * d.cg * d.S;
        double sg = 0, sgx = 0;
        for (int64_t c = 0; c < d.cg; c++)
            for (int64_t s = 0; s < d.S; s++) {
                const int64_t k = base + c * d.S + s;
                const double xh = (X[k] - mu) * r, g = dy[k] * (w ? dc_f32(w)[c0 + c] : 1.0f);
                sg += g;
                sgx += g * xh;
                if (dw)
                    dw[c0 + c] += (float)(dy[k] * xh);
                if (db)
                    db[c0 + c] += dy[k];
            }
        if (!dx)
            continue;
        for (int64_t c = 0; c < d.cg; c++)
            for (int64_t s = 0; s < d.S; s++) {
                const int64_t k = base + c * d.S + s;
                const double xh = (X[k] - mu) * r, g = dy[k] * (w ? dc_f32(w)[c0 + c] : 1.0f);
                dx[k] += (float)(r * (g - sg / M - xh * sgx / M));
            }
    }
    if ((x->flags & DC_TF_REQUIRES_GRAD && !dx) || (w && w->flags & DC_TF_REQUIRES_GRAD && !dw) ||
        (b && b->flags & DC_TF_REQUIRES_GRAD && !db))
        return DC_ERR_NOMEM;
    return DC_OK;
}

/* μ and r of every (n, g) into mr[0..NG) and mr[NG..2NG); y normalised, scaled, shifted. */
static void gn_fwd(const gn_shape *d, const float *X, const float *w, const float *b, float eps,
                   float *mr, float *Y)
{
    const int64_t NG = d->N * d->G, per = d->cg * d->S;
    for (int64_t i = 0; i < NG; i++) {
        const float *xi = X + i * per;
        double sum = 0, sq = 0;
        for (int64_t k = 0; k < per; k++)
            sum += xi[k];
        const double mu = sum / (double)per;
        for (int64_t k = 0; k < per; k++)
            sq += (xi[k] - mu) * (xi[k] - mu);
        const float r = (float)(1.0 / sqrt(sq / (double)per + eps));
        mr[i] = (float)mu;
        mr[NG + i] = r;
        const int64_t c0 = (i % d->G) * d->cg;
        for (int64_t c = 0; c < d->cg; c++) {
            const float sc = w ? w[c0 + c] : 1.0f, sh = b ? b[c0 + c] : 0.0f;
            for (int64_t s = 0; s < d->S; s++) {
                const int64_t k = c * d->S + s;
                Y[i * per + k] = (xi[k] - (float)mu) * r * sc + sh;
            }
        }
    }
}

dc_tensor *dc_group_norm(dc_ctx *ctx, dc_tensor *x, int64_t num_groups, dc_tensor *weight,
                         dc_tensor *bias, float eps)
{
    char s[96];
    if (!x || !dc_check_f32("group_norm", x, "input"))
        return x ? NULL : dc_err_null(DC_ERR_ARG, "group_norm: NULL input");
    if (x->ndim < 2 || num_groups < 1 || x->shape[1] % num_groups)
        return dc_err_null(DC_ERR_SHAPE, "group_norm: needs x [N, C, ...] with C divisible by "
                           "num_groups %lld, got %s", (long long)num_groups,
                           dc_shape_str(x, s, sizeof s));
    const int64_t C = x->shape[1];
    if ((weight && (weight->dtype != DC_F32 || weight->numel != C)) ||
        (bias && (bias->dtype != DC_F32 || bias->numel != C)) || !(eps >= 0.0f))
        return dc_err_null(DC_ERR_SHAPE, "group_norm: weight and bias must be float [%lld] and "
                           "eps >= 0", (long long)C);
    const gn_shape d = gn_dims(x, num_groups);
    dc_tensor *y = dc_empty_like(ctx, x);
    float *mr = dc_ctx_alloc(ctx, sizeof(float) * (size_t)(2 * d.N * d.G + 1));
    if (!y || !mr)
        return NULL;
    gn_fwd(&d, dc_f32(x), weight ? dc_f32(weight) : NULL, bias ? dc_f32(bias) : NULL, eps, mr,
           dc_f32(y));
    dc_tensor *ins[3] = {x, weight, bias};
    dc_node *n = dc_record(ctx, "group_norm", gn_bwd, y, 3, ins);
    if (n) {
        n->ia[0] = num_groups;
        n->saved = mr;
    }
    return y;
}
