/*
 * norm.c - batch normalization (PyTorch BatchNorm1d/2d) over x viewed as [N, C, L].
 *
 * Batch statistics (training, or no running statistics), per channel over M = N·L elements:
 *   μ = Σx / M,  σ² = Σ(x - μ)² / M  (biased; double, two passes, fixed order)
 *   running_mean ← (1-m)·running_mean + m·μ,  running_var ← (1-m)·running_var + m·σ²·M/(M-1)
 * Eval with running statistics: μ, σ² are the running values.
 *   y = x·s + (β - μ·s),  s = γ/√(σ² + eps)
 * Backward, x̂ = (x - μ)/√(σ² + eps):
 *   dγ += Σ dy·x̂,  dβ += Σ dy
 *   batch statistics: dx += γ/√(σ²+eps) · (dy - mean(dy) - x̂·mean(dy·x̂))
 *   running statistics: dx += γ/√(σ²+eps) · dy
 *
 * dc_batch_norm_add_relu runs a ResNet block's BatchNorm → Add → ReLU as one op: z = max(0,
 * y + res), the same numbers as the three ops. Backward masks dz by z > 0 while it sums (g);
 * the residual's gradient is g, the batch norm's backward runs on g. Training W6 spent a fifth
 * of its time in the separate passes over memory: in backward the three ops apart read or wrote
 * an activation-sized tensor about 15 times (zeroing fresh gradients included), the fused op 8.
 */
#include "core/internal.h"
#include "kernels/conv_k.h"
#include "ops/hooks.h"

#include <math.h>
#include <string.h>

typedef struct bn_saved {
    int64_t N, C, L;
    int batch_stats;     /* statistics came from this batch */
    float *mean, *invstd;/* [C] the μ and 1/√(σ² + eps) used */
    int sync;            /* statistics of the global batch over all ranks (--sync-bn) */
    double n_all;        /* sync: examples in the global batch (Σ of every rank's N) */
    int relu;            /* fused ReLU: the gradient is masked by the output > 0 */
} bn_saved;

/*
 * Synchronised BatchNorm (data-parallel training with dc_dist_set_sync_bn, which installs the
 * ranks' sum with dc_batch_norm_set_sync: ops/ never calls train/): μ and σ² are those of
 * the global batch. Forward: the ranks sum [N_k, N_k·μ_k] (-> μ), then [M2_k + n_k(μ_k - μ)²]
 * (-> σ², the exact pooled variance). Backward: each rank's dy is the gradient of its own mean
 * loss, i.e. (n/n_k)× its share of the global one, so the ranks sum (n_k/n)·[Σdy, Σdy·(x - μ)] and
 * each rank scales the correction terms back by n/n_k. With one rank this is plain BatchNorm.
 */
static dc_allreduce_sum_fn g_sync_sum; /* installed by train/ (dc_dist_set_sync_bn) */

void dc_batch_norm_set_sync(dc_allreduce_sum_fn sum) { g_sync_sum = sum; }

static dc_status bn_sync_stats(const bn_saved *s, double *st, double *n_all)
{
    const int64_t C = s->C;
    const double nk = (double)(s->N * s->L);
    double buf[1 + 2 * 1024], *v = C <= 1024 ? buf : NULL;
    if (!v)
        return dc_err(DC_ERR_ARG, "batch_norm: --sync-bn supports up to 1024 channels");
    v[0] = (double)s->N;
    for (int64_t c = 0; c < C; c++)
        v[1 + c] = nk * st[c];
    dc_status e = g_sync_sum(v, (int)(1 + C));
    if (e != DC_OK)
        return e;
    *n_all = v[0];
    const double m_all = v[0] * (double)s->L;
    for (int64_t c = 0; c < C; c++) {
        const double mu = v[1 + c] / m_all, d = st[c] - mu;
        v[1 + C + c] = st[C + c] * nk + nk * d * d; /* this rank's Σ(x - μ)² */
        st[c] = mu;
    }
    if ((e = g_sync_sum(v + 1 + C, (int)C)) != DC_OK)
        return e;
    for (int64_t c = 0; c < C; c++)
        st[C + c] = v[1 + C + c] / m_all;
    return DC_OK;
}

static dc_status bn_bwd(dc_ctx *ctx, dc_node *n)
{
    const bn_saved *s = n->saved;
    dc_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2], *res = n->in[3];
    /* the residual's gradient is asked for first: a residual that is also the input
     * (x + bn(x)) then has dx not fresh, and dx adds to what the sums pass stores */
    int res_fresh, fresh;
    float *dres = dc_grad_fresh(ctx, res, &res_fresh);
    float *dx = dc_grad_fresh(ctx, x, &fresh), *dg = dc_grad(ctx, gamma), *db = dc_grad(ctx, beta);
    const int64_t C = s->C;
    double *sums = dc_ctx_alloc(ctx, sizeof(double) * (size_t)(2 * C));
    float *coef = dc_ctx_alloc(ctx, sizeof(float) * (size_t)(3 * C));
    if (!sums || !coef || (!dx && (x->flags & DC_TF_REQUIRES_GRAD)) ||
        (!dres && res && (res->flags & DC_TF_REQUIRES_GRAD)) ||
        (!dg && gamma && (gamma->flags & DC_TF_REQUIRES_GRAD)) ||
        (!db && beta && (beta->flags & DC_TF_REQUIRES_GRAD)))
        return DC_ERR_NOMEM;
    const float *dy = n->out->grad, *xd = dc_f32(x), *yd = s->relu ? dc_f32(n->out) : NULL;
    double *sum_dy = sums, *sum_dyxc = sums + C; /* Σ g, Σ g·(x - μ) */
    /* the residual's gradient g goes out with the sums */
    dc_k_bn_bwd_sums(s->N, C, s->L, xd, dy, yd, s->mean, dres, res_fresh, sum_dy, sum_dyxc);
    double M = (double)(s->N * s->L), ratio = 1.0; /* ratio: n / n_k (sync) */
    double *g = sums;
    if (s->sync) { /* the corrections use the global sums; dγ, dβ stay this rank's */
        g = dc_ctx_alloc(ctx, sizeof(double) * (size_t)(2 * C));
        if (!g)
            return DC_ERR_NOMEM;
        ratio = s->n_all / (double)s->N;
        for (int64_t c = 0; c < 2 * C; c++)
            g[c] = sums[c] / ratio;
        dc_status e = g_sync_sum(g, (int)(2 * C));
        if (e != DC_OK)
            return e;
        M = s->n_all * (double)s->L;
    }
    for (int64_t c = 0; c < C; c++) {
        const double is = s->invstd[c], k = (gamma ? (double)dc_f32(gamma)[c] : 1.0) * is;
        if (dg)
            dg[c] += (float)(sum_dyxc[c] * is);
        if (db)
            db[c] += (float)sum_dy[c];
        coef[c] = (float)k;                                        /* a: · dy */
        coef[C + c] = s->batch_stats ? (float)(-k * is * is * g[C + c] * ratio / M) : 0.0f;
        coef[2 * C + c] = s->batch_stats ? (float)(-k * g[c] * ratio / M) : 0.0f; /* b, e */
    }
    if (dx)
        dc_k_bn_bwd_dx(s->N, C, s->L, xd, dy, yd, s->mean, coef, coef + C, coef + 2 * C, dx,
                       fresh);
    return DC_OK;
}

/* A per-channel [C] float tensor or NULL. */
static bool check_channel_vec(const dc_tensor *t, int64_t C, const char *what,
                              const dc_tensor *x)
{
    char st[96], sx[96];
    if (!t)
        return true;
    if (!dc_check_f32("batch_norm", t, what))
        return false;
    if (t->ndim != 1 || t->shape[0] != C)
        return dc_err(DC_ERR_SHAPE, "batch_norm: %s must be [%lld] for input %s, got %s", what,
                      (long long)C, dc_shape_str(x, sx, sizeof sx),
                      dc_shape_str(t, st, sizeof st)), false;
    return true;
}

static bool bn_check(const dc_tensor *x, const dc_tensor *w, const dc_tensor *b,
                     const dc_tensor *rm, const dc_tensor *rv, const dc_tensor *nbt)
{
    char sx[96];
    if (!dc_check_f32("batch_norm", x, "input"))
        return false;
    if (x->ndim < 2)
        return dc_err(DC_ERR_SHAPE, "batch_norm: input must be [N, C], [N, C, L] or "
                      "[N, C, H, W], got %s", dc_shape_str(x, sx, sizeof sx)), false;
    const int64_t C = x->shape[1];
    if (!check_channel_vec(w, C, "weight", x) || !check_channel_vec(b, C, "bias", x) ||
        !check_channel_vec(rm, C, "running_mean", x) ||
        !check_channel_vec(rv, C, "running_var", x))
        return false;
    if (!rm != !rv)
        return dc_err(DC_ERR_ARG, "batch_norm: running_mean and running_var must both be given "
                      "or both be NULL"), false;
    if (nbt && (nbt->dtype != DC_I64 || nbt->numel != 1))
        return dc_err(DC_ERR_ARG, "batch_norm: num_batches_tracked must be one int64"), false;
    return true;
}

/* Batch statistics into s->mean / s->invstd; updates the running statistics when training. */
static bool bn_batch_stats(dc_ctx *ctx, const dc_tensor *x, bn_saved *s, dc_tensor *rm,
                           dc_tensor *rv, dc_tensor *nbt, float momentum, float eps)
{
    const int64_t C = s->C, M = s->N * s->L;
    double *st = dc_ctx_alloc(ctx, sizeof(double) * (size_t)(2 * C));
    if (!st)
        return false;
    dc_k_bn_stats(s->N, C, s->L, dc_f32(x), st, st + C);
    double M_used = (double)M;
    if (s->sync) {
        if (bn_sync_stats(s, st, &s->n_all) != DC_OK)
            return false;
        M_used = s->n_all * (double)s->L;
    }
    for (int64_t c = 0; c < C; c++) {
        s->mean[c] = (float)st[c];
        s->invstd[c] = (float)(1.0 / sqrt(st[C + c] + (double)eps));
    }
    if (rm && dc_ctx_training(ctx)) {
        float *m = dc_f32(rm), *v = dc_f32(rv);
        const double mo = momentum, unbias = M_used / (M_used - 1);
        for (int64_t c = 0; c < C; c++) {
            m[c] = (float)((1.0 - mo) * m[c] + mo * st[c]);
            v[c] = (float)((1.0 - mo) * v[c] + mo * st[C + c] * unbias);
        }
        if (nbt)
            dc_i64(nbt)[0] += 1;
    }
    return true;
}

void dc_bn_invstd(int64_t C, const float *var, float eps, float *invstd)
{
    for (int64_t c = 0; c < C; c++)
        invstd[c] = (float)(1.0 / sqrt((double)var[c] + (double)eps));
}

void dc_bn_scale_shift(int64_t C, const float *weight, const float *bias, const float *mean,
                       const float *invstd, float *scale, float *shift)
{
    for (int64_t c = 0; c < C; c++) {
        scale[c] = (weight ? weight[c] : 1.0f) * invstd[c];
        shift[c] = (bias ? bias[c] : 0.0f) - mean[c] * scale[c];
    }
}

dc_tensor *dc_batch_norm(dc_ctx *ctx, dc_tensor *x, dc_tensor *weight, dc_tensor *bias,
                         dc_tensor *running_mean, dc_tensor *running_var,
                         dc_tensor *num_batches_tracked, float momentum, float eps)
{
    return dc_batch_norm_add_relu(ctx, x, weight, bias, running_mean, running_var,
                                  num_batches_tracked, momentum, eps, NULL, 0);
}

dc_tensor *dc_batch_norm_add_relu(dc_ctx *ctx, dc_tensor *x, dc_tensor *weight, dc_tensor *bias,
                                  dc_tensor *running_mean, dc_tensor *running_var,
                                  dc_tensor *num_batches_tracked, float momentum, float eps,
                                  dc_tensor *res, int relu)
{
    char sx[96], sr[96];
    if (!x || !bn_check(x, weight, bias, running_mean, running_var, num_batches_tracked))
        return NULL;
    if (res && !dc_check_f32("batch_norm", res, "residual"))
        return NULL;
    if (res && !dc_same_shape(x, res))
        return dc_err_null(DC_ERR_SHAPE, "batch_norm: the residual must have the input's shape "
                           "%s, got %s", dc_shape_str(x, sx, sizeof sx),
                           dc_shape_str(res, sr, sizeof sr));
    bn_saved *s = dc_ctx_alloc(ctx, sizeof *s);
    if (!s)
        return NULL;
    s->N = x->shape[0];
    s->C = x->shape[1];
    s->L = 1;
    for (int d = 2; d < x->ndim; d++)
        s->L *= x->shape[d];
    s->relu = relu != 0;
    s->batch_stats = dc_ctx_training(ctx) || !running_mean;
    s->sync = s->batch_stats && dc_ctx_training(ctx) && g_sync_sum != NULL;
    if (s->batch_stats && s->N * s->L == 1)
        return dc_err_null(DC_ERR_ARG, "batch_norm: Expected more than 1 value per channel when "
                           "training, got input size %s", dc_shape_str(x, sx, sizeof sx));
    const int64_t C = s->C;
    s->mean = dc_ctx_alloc(ctx, sizeof(float) * (size_t)(C ? C : 1));
    s->invstd = dc_ctx_alloc(ctx, sizeof(float) * (size_t)(C ? C : 1));
    float *scale = dc_ctx_alloc(ctx, sizeof(float) * (size_t)(2 * C + 1)), *shift = scale + C;
    dc_tensor *y = dc_empty_like(ctx, x);
    if (!s->mean || !s->invstd || !scale || !y)
        return NULL;
    if (x->numel == 0)
        return y;
    if (s->batch_stats) {
        if (!bn_batch_stats(ctx, x, s, running_mean, running_var, num_batches_tracked, momentum,
                            eps))
            return NULL;
    } else {
        memcpy(s->mean, dc_f32(running_mean), sizeof(float) * (size_t)C);
        dc_bn_invstd(C, dc_f32(running_var), eps, s->invstd);
    }
    dc_bn_scale_shift(C, weight ? dc_f32(weight) : NULL, bias ? dc_f32(bias) : NULL, s->mean,
                      s->invstd, scale, shift);
    dc_k_bn_apply(s->N, C, s->L, dc_f32(x), scale, shift, res ? dc_f32(res) : NULL, s->relu,
                  dc_f32(y));
    dc_node *n = dc_record(ctx, relu || res ? "batch_norm_add_relu" : "batch_norm", bn_bwd, y, 4,
                           (dc_tensor *[]){x, weight, bias, res});
    if (n)
        n->saved = s;
    return y;
}
