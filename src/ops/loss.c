/*
 * loss.c - the losses, with PyTorch's formulas, defaults and reductions.
 *
 * Elementwise losses (MSE, L1, smooth L1, Huber, BCE, BCE with logits) take input x and target y
 * of the same shape; both receive gradients when they require grad (as in PyTorch).
 * Class losses (cross-entropy, NLL) take scores [N, K] (or [K], or [N, K, d1, ...]) and either
 * int64 class indices [N] ([], [N, d1, ...]) or float probabilities of the scores' shape; the
 * target never receives a gradient.
 *
 * Reductions: DC_MEAN and DC_SUM return a 0-d scalar (sums accumulate in double, fixed order);
 * DC_NONE returns the per-element loss (per row for the class losses). Mean over zero elements
 * is NaN, as in PyTorch.
 */
#include "core/internal.h"
#include "kernels/loss_k.h"

#include <math.h>
#include <string.h>

static bool check_red(const char *op, dc_reduction red)
{
    if (red != DC_MEAN && red != DC_SUM && red != DC_NONE) {
        dc_err(DC_ERR_ARG, "%s: reduction must be DC_MEAN, DC_SUM or DC_NONE, got %d", op,
               (int)red);
        return false;
    }
    return true;
}

/* Σ v[0..n) / denom as IEEE division gives it (0/0 = NaN, s/0 = ±inf), without dividing by 0. */
static float reduce_div(int64_t n, const float *v, double denom)
{
    double s = dc_k_sum_f64(n, v);
    if (denom != 0.0)
        return (float)(s / denom);
    return s == 0.0 || isnan(s) ? NAN : s > 0.0 ? INFINITY : -INFINITY;
}

/* A 0-d tensor holding Σ v / denom (denom 1 for a sum). */
static dc_tensor *scalar_of(dc_ctx *ctx, int64_t n, const float *v, double denom)
{
    dc_tensor *out = dc_empty(ctx, DC_F32, 0, NULL);
    if (out)
        dc_f32(out)[0] = reduce_div(n, v, denom);
    return out;
}

/* A float copy of src[n] in the arena (so backward does not depend on caller memory). */
static float *arena_copy(dc_ctx *ctx, const float *src, int64_t n)
{
    float *p = dc_ctx_alloc(ctx, (size_t)n * sizeof *p);
    if (p && n)
        memcpy(p, src, (size_t)n * sizeof *p);
    return p;
}

/* ============================================================================================ */
/* Elementwise losses                                                                           */
/* ============================================================================================ */

enum ew_kind { EW_MSE, EW_L1, EW_SMOOTH_L1, EW_HUBER, EW_BCE, EW_BCEL };
static const char *const ew_op[] = {"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                                    "binary_cross_entropy", "binary_cross_entropy_with_logits"};

typedef struct ew_args {
    enum ew_kind kind;
    dc_reduction red;
    float param;     /* beta (smooth L1), delta (Huber) */
    int64_t K;       /* last dimension (BCE with logits) */
    const float *pw; /* pos_weight [K] in the arena, or NULL */
} ew_args;

/* out[i] = ℓ(x_i, y_i), or ∂ℓ_i/∂x_i when dx is set. */
static void ew_eval(const ew_args *a, bool dx, int64_t n, const float *x, const float *y,
                    float *out)
{
    const int64_t rows = a->K ? n / a->K : 0; /* BCE with logits: x, y [rows, K] */
    /* smooth L1 with beta == 0 is L1, as in PyTorch */
    const enum ew_kind k = a->kind == EW_SMOOTH_L1 && !(a->param > 0.0f) ? EW_L1 : a->kind;
    switch (k) {
    case EW_MSE: (dx ? dc_k_mse_dx : dc_k_mse_fwd)(n, x, y, out); break;
    case EW_L1: (dx ? dc_k_l1_dx : dc_k_l1_fwd)(n, x, y, out); break;
    case EW_SMOOTH_L1: (dx ? dc_k_smooth_l1_dx : dc_k_smooth_l1_fwd)(n, x, y, a->param, out); break;
    case EW_HUBER: (dx ? dc_k_huber_dx : dc_k_huber_fwd)(n, x, y, a->param, out); break;
    case EW_BCE: (dx ? dc_k_bce_dp : dc_k_bce_fwd)(n, x, y, out); break;
    case EW_BCEL: (dx ? dc_k_bcel_dx : dc_k_bcel_fwd)(rows, a->K, x, y, a->pw, out); break;
    }
}

/*
 * Backward: with c_i = dL/dℓ_i (g_i for 'none', g/n for mean, g for sum)
 *   dx_i += c_i · ∂ℓ_i/∂x_i,   dy_i += c_i · ∂ℓ_i/∂y_i
 * where ∂ℓ/∂y = -∂ℓ/∂x for the losses of x - y, and BCE / BCE-with-logits have their own.
 */
static dc_status ew_bwd(dc_ctx *ctx, dc_node *nd)
{
    const ew_args *a = nd->saved;
    dc_tensor *x = nd->in[0], *y = nd->in[1], *out = nd->out;
    float *dx = dc_grad(ctx, x), *dy = dc_grad(ctx, y);
    if ((!dx && (x->flags & DC_TF_REQUIRES_GRAD)) || (!dy && (y->flags & DC_TF_REQUIRES_GRAD)))
        return DC_ERR_NOMEM;
    int64_t n = x->numel;
    if (n == 0)
        return DC_OK;
    const float *g = a->red == DC_NONE ? out->grad : NULL;
    float s = a->red == DC_NONE ? 1.0f : out->grad[0] / (a->red == DC_MEAN ? (float)n : 1.0f);
    float *v = dc_ctx_alloc(ctx, (size_t)n * sizeof *v);
    if (!v)
        return DC_ERR_NOMEM;
    const float *xp = dc_f32(x), *yp = dc_f32(y);
    if (dx || (dy && a->kind < EW_BCE)) {
        ew_eval(a, true, n, xp, yp, v);
        if (dx)
            dc_k_grad_acc(n, v, g, s, dx);
        if (dy && a->kind < EW_BCE)
            dc_k_grad_acc(n, v, g, -s, dy);
    }
    if (dy && a->kind >= EW_BCE) {
        if (a->kind == EW_BCE)
            dc_k_bce_dy(n, xp, yp, v);
        else
            dc_k_bcel_dy(a->K ? n / a->K : 0, a->K, xp, yp, a->pw, v);
        dc_k_grad_acc(n, v, g, s, dy);
    }
    return DC_OK;
}

/* Argument checks shared by the elementwise losses, and the ones particular to each. */
static bool ew_check(const ew_args *a, const dc_tensor *x, const dc_tensor *y,
                     const dc_tensor *pos_weight)
{
    const char *op = ew_op[a->kind];
    char s1[96], s2[96];
    if (!dc_check_f32(op, x, "input") || !dc_check_f32(op, y, "target") || !check_red(op, a->red))
        return false;
    if (!dc_same_shape(x, y)) {
        dc_err(DC_ERR_SHAPE, "%s: input %s and target %s must have the same shape", op,
               dc_shape_str(x, s1, sizeof s1), dc_shape_str(y, s2, sizeof s2));
        return false;
    }
    if (a->kind == EW_SMOOTH_L1 && !(a->param >= 0.0f && a->param < INFINITY)) {
        dc_err(DC_ERR_ARG, "%s: beta must be finite and >= 0, got %g", op, (double)a->param);
        return false;
    }
    if (a->kind == EW_HUBER && !(a->param > 0.0f && a->param < INFINITY)) {
        dc_err(DC_ERR_ARG, "%s: delta must be finite and > 0, got %g", op, (double)a->param);
        return false;
    }
    if (a->kind == EW_BCE) {
        const float *p = dc_f32(x);
        for (int64_t i = 0; i < x->numel; i++)
            if (!(p[i] >= 0.0f && p[i] <= 1.0f)) {
                dc_err(DC_ERR_ARG, "%s: input element %lld is %g; probabilities must be in "
                       "[0, 1] (use binary_cross_entropy_with_logits for scores)", op,
                       (long long)i, (double)p[i]);
                return false;
            }
    }
    if (pos_weight) {
        if (!dc_check_f32(op, pos_weight, "pos_weight"))
            return false;
        if (pos_weight->ndim > 1 || (pos_weight->numel != a->K && pos_weight->numel != 1)) {
            dc_err(DC_ERR_SHAPE, "%s: pos_weight must be [%lld] (the input's last dimension) "
                   "or [1], got %s for input %s", op, (long long)a->K,
                   dc_shape_str(pos_weight, s1, sizeof s1), dc_shape_str(x, s2, sizeof s2));
            return false;
        }
    }
    return true;
}

static dc_tensor *ew_loss(dc_ctx *ctx, ew_args a, dc_tensor *x, dc_tensor *y,
                          const dc_tensor *pos_weight)
{
    if (!x || !y)
        return NULL;
    if (!ctx)
        return dc_err_null(DC_ERR_ARG, "%s: NULL context", ew_op[a.kind]);
    a.K = x->ndim ? x->shape[x->ndim - 1] : 1;
    if (!ew_check(&a, x, y, pos_weight))
        return NULL;
    if (pos_weight) { /* a [K] arena copy, [1] broadcast */
        float *pw = dc_ctx_alloc(ctx, (size_t)a.K * sizeof *pw);
        if (!pw)
            return NULL;
        for (int64_t k = 0; k < a.K; k++)
            pw[k] = dc_f32(pos_weight)[pos_weight->numel == 1 ? 0 : k];
        a.pw = pw;
    }
    int64_t n = x->numel;
    dc_tensor *out = NULL;
    float *v;
    if (a.red == DC_NONE) {
        if (!(out = dc_empty_like(ctx, x)))
            return NULL;
        v = dc_f32(out);
    } else if (!(v = dc_ctx_alloc(ctx, (size_t)n * sizeof *v))) {
        return NULL;
    }
    ew_eval(&a, false, n, dc_f32(x), dc_f32(y), v);
    if (a.red != DC_NONE && !(out = scalar_of(ctx, n, v, a.red == DC_MEAN ? (double)n : 1.0)))
        return NULL;
    ew_args *saved = dc_ctx_alloc(ctx, sizeof *saved);
    if (!saved)
        return NULL;
    *saved = a;
    dc_tensor *ins[2] = {x, y};
    dc_node *nd = dc_record(ctx, ew_op[a.kind], ew_bwd, out, 2, ins);
    if (nd)
        nd->saved = saved;
    return out;
}

dc_tensor *dc_mse_loss(dc_ctx *ctx, dc_tensor *x, dc_tensor *y, dc_reduction red)
{
    return ew_loss(ctx, (ew_args){EW_MSE, red, 0.0f, 0, NULL}, x, y, NULL);
}

dc_tensor *dc_l1_loss(dc_ctx *ctx, dc_tensor *x, dc_tensor *y, dc_reduction red)
{
    return ew_loss(ctx, (ew_args){EW_L1, red, 0.0f, 0, NULL}, x, y, NULL);
}

dc_tensor *dc_smooth_l1_loss(dc_ctx *ctx, dc_tensor *x, dc_tensor *y, dc_reduction red,
                             float beta)
{
    return ew_loss(ctx, (ew_args){EW_SMOOTH_L1, red, beta, 0, NULL}, x, y, NULL);
}

dc_tensor *dc_huber_loss(dc_ctx *ctx, dc_tensor *x, dc_tensor *y, dc_reduction red,
                         float delta)
{
    return ew_loss(ctx, (ew_args){EW_HUBER, red, delta, 0, NULL}, x, y, NULL);
}

dc_tensor *dc_bce_loss(dc_ctx *ctx, dc_tensor *p, dc_tensor *y, dc_reduction red)
{
    return ew_loss(ctx, (ew_args){EW_BCE, red, 0.0f, 0, NULL}, p, y, NULL);
}

dc_tensor *dc_bce_with_logits(dc_ctx *ctx, dc_tensor *x, dc_tensor *y, dc_reduction red,
                              const dc_tensor *pos_weight)
{
    return ew_loss(ctx, (ew_args){EW_BCEL, red, 0.0f, 0, NULL}, x, y, pos_weight);
}

/* ============================================================================================ */
/* Cross-entropy and NLL                                                                        */
/* ============================================================================================ */

dc_ce_opts dc_ce_defaults(void)
{
    dc_ce_opts o = {DC_MEAN, 0.0f, -100, NULL};
    return o;
}

/* What a class-loss node keeps for backward. */
typedef struct cls_saved {
    int64_t N, K, S;     /* scores viewed as [N, K, S] */
    const dc_tensor *t;  /* the target (caller-owned; must live until backward) */
    const float *w;      /* class weights [K] (arena copy) or NULL */
    const float *m, *ls; /* CE: per-row max and ln Σ e^(x - max), [N·S] */
    float eps;
    float denom;         /* mean: Σ w_t of kept rows (index targets) or N·S (probabilities) */
    int64_t ignore;
    dc_reduction red;
} cls_saved;

/*
 * Check the shapes and options of a class loss and fill N, K, S. Scores x: [K] (one sample),
 * [N, K] or [N, K, d1, ...]. Index targets: int64 of x's shape without dim 1 ([] for [K]).
 * Probability targets (CE only): float of x's shape.
 */
static bool cls_check(const char *op, const dc_tensor *x, const dc_tensor *t,
                      const dc_ce_opts *o, cls_saved *sv)
{
    char s1[96], s2[96];
    if (!dc_check_f32(op, x, "input") || !check_red(op, o->reduction))
        return false;
    if (x->ndim < 1 || (x->ndim == 1 ? x->shape[0] : x->shape[1]) < 1) {
        dc_err(DC_ERR_SHAPE, "%s: input must be [N, K] (or [K], [N, K, d...]) with K >= 1, "
               "got %s", op, dc_shape_str(x, s1, sizeof s1));
        return false;
    }
    sv->N = x->ndim == 1 ? 1 : x->shape[0];
    sv->K = x->ndim == 1 ? x->shape[0] : x->shape[1];
    sv->S = 1;
    for (int d = 2; d < x->ndim; d++)
        sv->S *= x->shape[d];
    bool ok;
    if (t->dtype == DC_I64) {
        ok = t->ndim == x->ndim - 1 && (x->ndim == 1 || t->shape[0] == sv->N);
        for (int d = 2; ok && d < x->ndim; d++)
            ok = t->shape[d - 1] == x->shape[d];
    } else {
        ok = dc_same_shape(x, t);
    }
    if (!ok) {
        dc_err(DC_ERR_SHAPE, "%s: target %s%s does not fit input %s (expected %s)", op,
               dc_shape_str(t, s2, sizeof s2), t->dtype == DC_I64 ? " (class indices)" : "",
               dc_shape_str(x, s1, sizeof s1),
               t->dtype == DC_I64 ? "int64 indices of the input's shape without the class "
                                    "dimension" : "float probabilities of the input's shape");
        return false;
    }
    if (!(o->label_smoothing >= 0.0f && o->label_smoothing <= 1.0f)) {
        dc_err(DC_ERR_ARG, "%s: label_smoothing must be in [0, 1], got %g", op,
               (double)o->label_smoothing);
        return false;
    }
    const dc_tensor *w = o->weight;
    if (w && (!dc_check_f32(op, w, "weight") || w->ndim != 1 || w->shape[0] != sv->K)) {
        if (w->dtype == DC_F32)
            dc_err(DC_ERR_SHAPE, "%s: weight must be [%lld] (one per class), got %s", op,
                   (long long)sv->K, dc_shape_str(w, s1, sizeof s1));
        return false;
    }
    return true;
}

/* Every index target is ignore_index or a class in [0, K). */
static bool check_targets(const char *op, const dc_tensor *t, const cls_saved *sv)
{
    const int64_t *tp = dc_i64(t);
    for (int64_t r = 0; r < t->numel; r++) {
        if (tp[r] == sv->ignore || (tp[r] >= 0 && tp[r] < sv->K))
            continue;
        dc_err(DC_ERR_ARG, "%s: target %s %lld is %lld, not a class in [0, %lld) nor "
               "ignore_index %lld", op, sv->S == 1 ? "row" : "element", (long long)r,
               (long long)tp[r], (long long)sv->K, (long long)sv->ignore);
        return false;
    }
    return true;
}

/* The output tensor: per row ([N, d...], [] for one sample) for 'none', else a scalar. */
static dc_tensor *cls_out(dc_ctx *ctx, const dc_tensor *x, dc_reduction red)
{
    if (red != DC_NONE)
        return dc_empty(ctx, DC_F32, 0, NULL);
    int64_t shape[DC_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != (x->ndim == 1 ? 0 : 1))
            shape[nd++] = x->shape[d];
    return dc_empty(ctx, DC_F32, nd, shape);
}

/* Prepare a class loss: checks, saved record, per-row buffers. */
static cls_saved *cls_begin(dc_ctx *ctx, const char *op, dc_tensor *x, dc_tensor *t,
                            const dc_ce_opts *opts, dc_tensor **out, float **loss, float **wy)
{
    dc_ce_opts o = opts ? *opts : dc_ce_defaults();
    if (!ctx)
        return dc_err_null(DC_ERR_ARG, "%s: NULL context", op);
    cls_saved *sv = dc_ctx_alloc(ctx, sizeof *sv);
    if (!sv)
        return NULL;
    memset(sv, 0, sizeof *sv);
    if (!cls_check(op, x, t, &o, sv))
        return NULL;
    sv->t = t;
    sv->eps = o.label_smoothing;
    sv->ignore = o.ignore_index;
    sv->red = o.reduction;
    if (t->dtype == DC_I64 && !check_targets(op, t, sv))
        return NULL;
    int64_t rows = sv->N * sv->S;
    if (o.weight && !(sv->w = arena_copy(ctx, dc_f32(o.weight), sv->K)))
        return NULL;
    if (!(*out = cls_out(ctx, x, sv->red)))
        return NULL;
    *loss = sv->red == DC_NONE ? dc_f32(*out) : dc_ctx_alloc(ctx, (size_t)rows * sizeof(float));
    *wy = dc_ctx_alloc(ctx, (size_t)rows * sizeof(float));
    return *loss && *wy ? sv : NULL;
}

/* Fill a scalar output (mean divides by sv->denom, set here) and record the op. */
static dc_tensor *cls_finish(dc_ctx *ctx, const char *op, dc_backward_fn bw, dc_tensor *x,
                             cls_saved *sv, dc_tensor *out, const float *loss, const float *wy)
{
    int64_t rows = sv->N * sv->S;
    if (sv->t->dtype == DC_I64)
        sv->denom = (float)dc_k_sum_f64(rows, wy);
    else
        sv->denom = (float)rows;
    if (sv->red != DC_NONE)
        dc_f32(out)[0] = reduce_div(rows, loss, sv->red == DC_SUM ? 1.0 : (double)sv->denom);
    dc_node *nd = dc_record(ctx, op, bw, out, 1, &x); /* the target gets no gradient */
    if (nd)
        nd->saved = sv;
    return out;
}

/* Upstream scale: c_r = s · (g ? g[r] : 1). */
static float cls_scale(const cls_saved *sv, const dc_tensor *out, const float **g)
{
    *g = sv->red == DC_NONE ? out->grad : NULL;
    if (sv->red == DC_NONE)
        return 1.0f;
    return sv->red == DC_SUM ? out->grad[0] : out->grad[0] / sv->denom;
}

/* dlogits += c_r · (softmax · Σ_j w_j q_j - w ⊙ q), q the smoothed one-hot / probabilities. */
static dc_status ce_bwd(dc_ctx *ctx, dc_node *nd)
{
    const cls_saved *sv = nd->saved;
    dc_tensor *x = nd->in[0];
    float *dx = dc_grad(ctx, x);
    if (!dx)
        return (x->flags & DC_TF_REQUIRES_GRAD) ? DC_ERR_NOMEM : DC_OK;
    const float *g;
    float s = cls_scale(sv, nd->out, &g);
    if (sv->t->dtype == DC_I64)
        dc_k_ce_idx_bwd(sv->N, sv->K, sv->S, dc_f32(x), dc_i64(sv->t), sv->w, sv->eps,
                        sv->ignore, sv->m, sv->ls, g, s, dx);
    else
        dc_k_ce_prob_bwd(sv->N, sv->K, sv->S, dc_f32(x), dc_f32(sv->t), sv->w, sv->eps, sv->m,
                         sv->ls, g, s, dx);
    return DC_OK;
}

dc_tensor *dc_cross_entropy(dc_ctx *ctx, dc_tensor *logits, dc_tensor *target,
                            const dc_ce_opts *opts)
{
    static const char op[] = "cross_entropy";
    if (!logits || !target)
        return NULL;
    dc_tensor *out = NULL;
    float *loss = NULL, *wy = NULL;
    cls_saved *sv = cls_begin(ctx, op, logits, target, opts, &out, &loss, &wy);
    if (!sv)
        return NULL;
    int64_t rows = sv->N * sv->S;
    float *m = dc_ctx_alloc(ctx, (size_t)rows * sizeof *m);
    float *ls = dc_ctx_alloc(ctx, (size_t)rows * sizeof *ls);
    if (!m || !ls)
        return NULL;
    sv->m = m;
    sv->ls = ls;
    if (target->dtype == DC_I64)
        dc_k_ce_idx_fwd(sv->N, sv->K, sv->S, dc_f32(logits), dc_i64(target), sv->w, sv->eps,
                        sv->ignore, m, ls, loss, wy);
    else
        dc_k_ce_prob_fwd(sv->N, sv->K, sv->S, dc_f32(logits), dc_f32(target), sv->w, sv->eps,
                         m, ls, loss);
    return cls_finish(ctx, op, ce_bwd, logits, sv, out, loss, wy);
}

/* dlogp[r, t_r] -= c_r · w_{t_r} for kept rows. */
static dc_status nll_bwd(dc_ctx *ctx, dc_node *nd)
{
    const cls_saved *sv = nd->saved;
    dc_tensor *x = nd->in[0];
    float *dx = dc_grad(ctx, x);
    if (!dx)
        return (x->flags & DC_TF_REQUIRES_GRAD) ? DC_ERR_NOMEM : DC_OK;
    const float *g;
    float s = cls_scale(sv, nd->out, &g);
    dc_k_nll_bwd(sv->N, sv->K, sv->S, dc_i64(sv->t), sv->w, sv->ignore, g, s, dx);
    return DC_OK;
}

dc_tensor *dc_nll_loss(dc_ctx *ctx, dc_tensor *logp, dc_tensor *target, const dc_ce_opts *opts)
{
    static const char op[] = "nll_loss";
    if (!logp || !target)
        return NULL;
    if (target->dtype != DC_I64)
        return dc_err_null(DC_ERR_DTYPE, "%s: target must be int64 class indices, got float32",
                           op);
    if (opts && opts->label_smoothing != 0.0f)
        return dc_err_null(DC_ERR_ARG, "%s: label_smoothing must be 0, got %g (smoothing needs "
                           "the logits: use dc_cross_entropy)", op,
                           (double)opts->label_smoothing);
    dc_tensor *out = NULL;
    float *loss = NULL, *wy = NULL;
    cls_saved *sv = cls_begin(ctx, op, logp, target, opts, &out, &loss, &wy);
    if (!sv)
        return NULL;
    dc_k_nll_fwd(sv->N, sv->K, sv->S, dc_f32(logp), dc_i64(target), sv->w, sv->ignore, loss, wy);
    return cls_finish(ctx, op, nll_bwd, logp, sv, out, loss, wy);
}
