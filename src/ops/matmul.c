/*
 * matmul.c - matrix products on top of dc_gemm: dc_matmul (2-D, batched 3-D, 3-D times a shared
 * 2-D right factor) and dc_linear (PyTorch F.linear). Gradients are accumulated by GEMMs with
 * beta = 1, so a tensor used twice sums both contributions.
 */
#include "core/internal.h"
#include "kernels/eltwise_k.h"
#include "kernels/kernels.h"

#include <string.h>

static dc_status grad_of(dc_ctx *ctx, dc_tensor *t, float **g)
{
    *g = dc_grad(ctx, t);
    return (!*g && t && (t->flags & DC_TF_REQUIRES_GRAD)) ? DC_ERR_NOMEM : DC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* matmul                                                                                     */
/* ------------------------------------------------------------------------------------------ */

enum { MM_2D = 0, MM_BATCHED = 1, MM_SHARED = 2 };

/* Sizes of a product: B batches of [M,K]·[K,N]; for MM_SHARED, B·M rows share b. */
typedef struct mm_dims {
    int mode;
    int64_t B, M, K, N;
} mm_dims;

static bool mm_check(const dc_tensor *a, const dc_tensor *b, mm_dims *d)
{
    char s1[96], s2[96];
    const int64_t *as = a->shape, *bs = b->shape;
    if (a->ndim == 2 && b->ndim == 2)
        *d = (mm_dims){MM_2D, 1, as[0], as[1], bs[1]};
    else if (a->ndim == 3 && b->ndim == 3 && as[0] == bs[0])
        *d = (mm_dims){MM_BATCHED, as[0], as[1], as[2], bs[2]};
    else if (a->ndim == 3 && b->ndim == 2)
        *d = (mm_dims){MM_SHARED, as[0], as[1], as[2], bs[1]};
    else {
        dc_err(DC_ERR_SHAPE, "matmul: expected [M,K]·[K,N], [B,M,K]·[B,K,N] or [B,M,K]·[K,N], "
               "got %s · %s", dc_shape_str(a, s1, sizeof s1), dc_shape_str(b, s2, sizeof s2));
        return false;
    }
    if (bs[b->ndim - 2] != d->K) {
        dc_err(DC_ERR_SHAPE, "matmul: inner dimensions differ: %s · %s (%lld vs %lld)",
               dc_shape_str(a, s1, sizeof s1), dc_shape_str(b, s2, sizeof s2),
               (long long)d->K, (long long)bs[b->ndim - 2]);
        return false;
    }
    return true;
}

static dc_status matmul_bwd(dc_ctx *ctx, dc_node *n)
{ /* da += dy · bᵀ,  db += aᵀ · dy  (per batch; shared b sums over all B·M rows) */
    dc_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    const int mode = (int)n->ia[0];
    const int64_t Bn = n->ia[1], M = n->ia[2], K = n->ia[3], N = y->shape[y->ndim - 1];
    float *da, *db;
    if (grad_of(ctx, a, &da) != DC_OK || grad_of(ctx, b, &db) != DC_OK)
        return DC_ERR_NOMEM;
    const float *A = dc_f32(a), *Bm = dc_f32(b), *dy = y->grad;
    if (mode != MM_BATCHED) {
        const int64_t R = Bn * M; /* rows of a and y */
        if (da)
            dc_gemm(0, 1, R, K, N, 1.0f, dy, N, Bm, N, 1.0f, da, K);
        if (db)
            dc_gemm(1, 0, K, N, R, 1.0f, A, K, dy, N, 1.0f, db, N);
        return DC_OK;
    }
    for (int64_t i = 0; i < Bn; i++) {
        if (da)
            dc_gemm(0, 1, M, K, N, 1.0f, dy + i * M * N, N, Bm + i * K * N, N, 1.0f,
                    da + i * M * K, K);
        if (db)
            dc_gemm(1, 0, K, N, M, 1.0f, A + i * M * K, K, dy + i * M * N, N, 1.0f,
                    db + i * K * N, N);
    }
    return DC_OK;
}

dc_tensor *dc_matmul(dc_ctx *ctx, dc_tensor *a, dc_tensor *b)
{
    mm_dims d;
    if (!a || !b)
        return NULL;
    if (!dc_check_f32("matmul", a, "a") || !dc_check_f32("matmul", b, "b") || !mm_check(a, b, &d))
        return NULL;
    dc_tensor *y = d.mode == MM_2D ? dc_empty(ctx, DC_F32, 2, DC_SHAPE(d.M, d.N))
                                   : dc_empty(ctx, DC_F32, 3, DC_SHAPE(d.B, d.M, d.N));
    if (!y)
        return NULL;
    const float *A = dc_f32(a), *Bm = dc_f32(b);
    float *Y = dc_f32(y);
    if (d.mode != MM_BATCHED) /* one GEMM over all B·M rows */
        dc_gemm(0, 0, d.B * d.M, d.N, d.K, 1.0f, A, d.K, Bm, d.N, 0.0f, Y, d.N);
    else
        for (int64_t i = 0; i < d.B; i++)
            dc_gemm(0, 0, d.M, d.N, d.K, 1.0f, A + i * d.M * d.K, d.K, Bm + i * d.K * d.N, d.N,
                    0.0f, Y + i * d.M * d.N, d.N);
    dc_tensor *in[2] = {a, b};
    dc_node *n = dc_record(ctx, "matmul", matmul_bwd, y, 2, in);
    if (n) {
        n->ia[0] = d.mode;
        n->ia[1] = d.B;
        n->ia[2] = d.M;
        n->ia[3] = d.K;
    }
    return y;
}

/* ------------------------------------------------------------------------------------------ */
/* linear                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* x viewed [R, I]: dx += dy·W (dx = dy·W on x's first gradient),  dW += dyᵀ·x,
 * db += Σ_rows dy. */
static dc_status linear_grads(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b,
                              const float *dy)
{
    const int64_t O = w->shape[0], I = w->shape[1], R = x->numel / (I ? I : 1);
    float *dx, *dw, *db;
    int fresh; /* x's first gradient: the GEMM stores (beta 0) instead of adding to zeros */
    dx = dc_grad_fresh(ctx, x, &fresh);
    if ((!dx && (x->flags & DC_TF_REQUIRES_GRAD)) || grad_of(ctx, w, &dw) != DC_OK ||
        grad_of(ctx, b, &db) != DC_OK)
        return DC_ERR_NOMEM;
    if (O == 0) {
        if (dx && fresh)
            memset(dx, 0, (size_t)x->numel * sizeof(float));
        return DC_OK;
    }
    if (dx)
        dc_gemm(0, 0, R, I, O, 1.0f, dy, O, dc_f32(w), I, fresh ? 0.0f : 1.0f, dx, I);
    if (dw)
        dc_gemm(1, 0, O, I, R, 1.0f, dy, O, dc_f32(x), I, 1.0f, dw, I);
    if (db)
        dc_k_col_sum_acc(R, O, dy, db);
    return DC_OK;
}

static dc_status linear_bwd(dc_ctx *ctx, dc_node *n)
{ /* see linear_grads */
    return linear_grads(ctx, n->in[0], n->in[1], n->n_in > 2 ? n->in[2] : NULL, n->out->grad);
}

static bool linear_check(const dc_tensor *x, const dc_tensor *w, const dc_tensor *b)
{
    char s1[96], s2[96], s3[96];
    if (!dc_check_f32("linear", x, "input") || !dc_check_f32("linear", w, "weight") ||
        (b && !dc_check_f32("linear", b, "bias")))
        return false;
    if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1] ||
        (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))) {
        dc_err(DC_ERR_SHAPE, "linear: expected input [..., I], weight [O, I], bias [O]; got "
               "input %s, weight %s, bias %s", dc_shape_str(x, s1, sizeof s1),
               dc_shape_str(w, s2, sizeof s2), b ? dc_shape_str(b, s3, sizeof s3) : "none");
        return false;
    }
    return true;
}

dc_tensor *dc_linear(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b)
{
    if (!x || !w)
        return NULL;
    if (!linear_check(x, w, b))
        return NULL;
    const int64_t O = w->shape[0];
    int64_t shape[DC_MAX_DIMS], R = 1;
    for (int d = 0; d < x->ndim - 1; d++) {
        shape[d] = x->shape[d];
        R *= x->shape[d];
    }
    shape[x->ndim - 1] = O;
    dc_tensor *y = dc_empty(ctx, DC_F32, x->ndim, shape);
    if (!y)
        return NULL;
    dc_linear_gemm(ctx, R, dc_f32(x), w, dc_f32(y)); /* then the bias epilogue y[r, :] += b */
    if (b)
        dc_k_add_row(R, O, dc_f32(b), dc_f32(y));
    dc_tensor *in[3] = {x, w, b};
    dc_record(ctx, "linear", linear_bwd, y, b ? 3 : 2, in);
    return y;
}

/* y = res + (x·Wᵀ + b): the linear's gradients as linear_bwd, then dres += dy (dy's buffer
 * becomes res's gradient when it has none yet: the residual stream's first gradient). */
static dc_status linear_residual_bwd(dc_ctx *ctx, dc_node *n)
{
    dc_tensor *b = n->ia[0] ? n->in[2] : NULL, *res = n->in[n->ia[0] ? 3 : 2], *y = n->out;
    if (linear_grads(ctx, n->in[0], n->in[1], b, y->grad) != DC_OK)
        return DC_ERR_NOMEM;
    return dc_residual_grad(ctx, y, res);
}

dc_status dc_residual_grad(dc_ctx *ctx, dc_tensor *y, dc_tensor *res)
{
    if (!(res->flags & DC_TF_REQUIRES_GRAD) || dc_grad_move(ctx, y, res))
        return DC_OK;
    int fresh;
    float *dr = dc_grad_fresh(ctx, res, &fresh);
    if (!dr)
        return DC_ERR_NOMEM;
    if (fresh)
        memcpy(dr, y->grad, (size_t)res->numel * sizeof(float));
    else
        dc_k_acc(res->numel, y->grad, dr);
    return DC_OK;
}

void dc_linear_gemm(dc_ctx *ctx, int64_t R, const float *x, const dc_tensor *w, float *y)
{
    const int64_t O = w->shape[0], I = w->shape[1];
    const dc_gemm_packed *pw = dc_ctx_packed_wt(ctx, 1, (const dc_tensor *const[]){w});
    if (pw)
        dc_gemm_packed_run(0, R, 1.0f, x, I, pw, 0.0f, y, O);
    else
        dc_gemm(0, 1, R, O, I, 1.0f, x, I, dc_f32(w), I, 0.0f, y, O);
}

dc_tensor *dc_linear_residual(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b,
                              dc_tensor *res)
{
    if (!x || !w || !res)
        return NULL;
    if (!linear_check(x, w, b))
        return NULL;
    const int64_t O = w->shape[0], I = w->shape[1], R = x->numel / (I ? I : 1);
    if (!dc_check_f32("linear", res, "residual") || res->numel != R * O ||
        res->ndim != x->ndim || res->shape[res->ndim - 1] != O)
        return dc_err_null(DC_ERR_SHAPE, "linear: the residual must have the output's shape");
    dc_tensor *y = dc_empty_like(ctx, res);
    if (!y)
        return NULL;
    dc_linear_gemm(ctx, R, dc_f32(x), w, dc_f32(y));
    if (b)
        dc_k_add_row(R, O, dc_f32(b), dc_f32(y));
    dc_k_acc(y->numel, dc_f32(res), dc_f32(y)); /* y + res: the bits of dc_add(res, y) */
    dc_tensor *in[4] = {x, w, b ? b : res, res};
    dc_node *n = dc_record(ctx, "linear_residual", linear_residual_bwd, y, b ? 4 : 3, in);
    if (n)
        n->ia[0] = b != NULL;
    return y;
}

/* y = LayerNorm(x)·Wᵀ + b with the norm's output n recomputed in backward: dW += dyᵀ·n,
 * db += Σ_rows dy, dn = dy·W, then the norm's gradients (the order of the two ops' backwards). */
static dc_status ln_linear_bwd(dc_ctx *ctx, dc_node *n)
{
    dc_tensor *x = n->ins[0], *lnw = n->ins[1], *lnb = n->ins[2], *w = n->ins[3],
              *b = n->ins[4];
    const int64_t O = w->shape[0], I = w->shape[1], R = x->numel / I;
    float *stats = n->saved; /* the norm's run again rewrites it with the same values */
    const float *dy = n->out->grad;
    float *dw, *db;
    if (grad_of(ctx, w, &dw) != DC_OK || grad_of(ctx, b, &db) != DC_OK)
        return DC_ERR_NOMEM;
    float *xn = dc_ln_pre_run(ctx, x, lnw, lnb, n->fa[0], stats);
    float *dn = xn ? dc_ctx_scratch(ctx, R * I) : NULL;
    if (!dn) {
        dc_ctx_scratch_done(ctx, xn, R * I);
        return DC_ERR_NOMEM;
    }
    dc_gemm(0, 0, R, I, O, 1.0f, dy, O, dc_f32(w), I, 0.0f, dn, I);
    if (dw)
        dc_gemm(1, 0, O, I, R, 1.0f, dy, O, xn, I, 1.0f, dw, I);
    if (db)
        dc_k_col_sum_acc(R, O, dy, db);
    const dc_status st = dc_ln_pre_grads(ctx, x, lnw, lnb, stats, dn);
    dc_ctx_scratch_done(ctx, dn, R * I);
    dc_ctx_scratch_done(ctx, xn, R * I);
    return st;
}

dc_tensor *dc_layer_norm_linear(dc_ctx *ctx, dc_tensor *x, dc_tensor *lnw, dc_tensor *lnb,
                                float eps, dc_tensor *w, dc_tensor *b)
{
    if (!x || !lnw || !lnb || !w || !b)
        return NULL;
    if (!dc_ln_pre_check("layer_norm_linear", x, lnw, lnb, eps) || !linear_check(x, w, b))
        return NULL;
    const int64_t O = w->shape[0], I = w->shape[1], R = x->numel / (I ? I : 1);
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    shape[x->ndim - 1] = O;
    dc_tensor *in[5] = {x, lnw, lnb, w, b};
    dc_tensor *y = dc_empty(ctx, DC_F32, x->ndim, shape);
    float *stats = y ? dc_ctx_alloc(ctx, 2 * (size_t)(R ? R : 1) * sizeof(float)) : NULL;
    float *xn = stats ? dc_ln_pre_run(ctx, x, lnw, lnb, eps, stats) : NULL;
    if (!xn)
        return NULL;
    dc_linear_gemm(ctx, R, xn, w, dc_f32(y));
    dc_k_add_row(R, O, dc_f32(b), dc_f32(y));
    dc_ctx_scratch_done(ctx, xn, R * I);
    dc_node *n = dc_record(ctx, "layer_norm_linear", ln_linear_bwd, y, 5, in);
    if (n) {
        n->fa[0] = eps;
        n->saved = stats;
    }
    return y;
}

/* ------------------------------------------------------------------------------------------ */
/* matmul with broadcast batch dimensions (torch.matmul for operands of >= 2 dims)             */
/* ------------------------------------------------------------------------------------------ */

/* The broadcast batch of a [..., M, K] · b [..., K, N]: nb dims (aligned at the right), the
 * element offsets of each batch's matrices in a and b (arena arrays of B entries). */
typedef struct bmm_plan {
    int64_t B, M, K, N;
    int nb;
    int64_t shape[DC_MAX_DIMS];
    int64_t *offa, *offb;
} bmm_plan;

static bool bmm_plan_make(dc_ctx *ctx, const dc_tensor *a, const dc_tensor *b, bmm_plan *p)
{
    char s1[96], s2[96];
    if (a->ndim < 2 || b->ndim < 2 || a->shape[a->ndim - 1] != b->shape[b->ndim - 2]) {
        dc_err(DC_ERR_SHAPE, "matmul_bcast: expected a [..., M, K] · b [..., K, N], got %s · %s",
               dc_shape_str(a, s1, sizeof s1), dc_shape_str(b, s2, sizeof s2));
        return false;
    }
    p->M = a->shape[a->ndim - 2];
    p->K = a->shape[a->ndim - 1];
    p->N = b->shape[b->ndim - 1];
    p->nb = (a->ndim > b->ndim ? a->ndim : b->ndim) - 2;
    int64_t sa = p->M * p->K, sb = p->K * p->N, stra[DC_MAX_DIMS], strb[DC_MAX_DIMS];
    p->B = 1;
    for (int d = p->nb - 1; d >= 0; d--) { /* right to left: strides of a's and b's batches */
        const int da = d - (p->nb - (a->ndim - 2)), db = d - (p->nb - (b->ndim - 2));
        const int64_t na = da >= 0 ? a->shape[da] : 1, nbb = db >= 0 ? b->shape[db] : 1;
        if (na != nbb && na != 1 && nbb != 1) {
            dc_err(DC_ERR_SHAPE, "matmul_bcast: batch dimensions %s and %s do not broadcast",
                   dc_shape_str(a, s1, sizeof s1), dc_shape_str(b, s2, sizeof s2));
            return false;
        }
        p->shape[d] = na > nbb ? na : nbb;
        stra[d] = na == 1 ? 0 : sa;
        strb[d] = nbb == 1 ? 0 : sb;
        sa *= na;
        sb *= nbb;
        p->B *= p->shape[d];
    }
    p->offa = dc_ctx_alloc(ctx, (size_t)(p->B ? p->B : 1) * sizeof(int64_t));
    p->offb = dc_ctx_alloc(ctx, (size_t)(p->B ? p->B : 1) * sizeof(int64_t));
    if (!p->offa || !p->offb)
        return false;
    for (int64_t i = 0; i < p->B; i++) { /* batch i in row-major order of the broadcast shape */
        int64_t rem = i, oa = 0, ob = 0;
        for (int d = p->nb - 1; d >= 0; d--) {
            const int64_t c = rem % p->shape[d];
            rem /= p->shape[d];
            oa += c * stra[d];
            ob += c * strb[d];
        }
        p->offa[i] = oa;
        p->offb[i] = ob;
    }
    return true;
}

static dc_status bmm_bwd(dc_ctx *ctx, dc_node *n)
{ /* per broadcast batch i: da[a(i)] += dy_i · b(i)ᵀ, db[b(i)] += a(i)ᵀ · dy_i, in batch order */
    dc_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    const bmm_plan *p = n->saved;
    float *da, *db;
    if (grad_of(ctx, a, &da) != DC_OK || grad_of(ctx, b, &db) != DC_OK)
        return DC_ERR_NOMEM;
    const float *A = dc_f32(a), *Bm = dc_f32(b), *dy = y->grad;
    for (int64_t i = 0; i < p->B; i++) {
        const float *g = dy + i * p->M * p->N;
        if (da)
            dc_gemm(0, 1, p->M, p->K, p->N, 1.0f, g, p->N, Bm + p->offb[i], p->N, 1.0f,
                    da + p->offa[i], p->K);
        if (db)
            dc_gemm(1, 0, p->K, p->N, p->M, 1.0f, A + p->offa[i], p->K, g, p->N, 1.0f,
                    db + p->offb[i], p->N);
    }
    return DC_OK;
}

dc_tensor *dc_matmul_bcast(dc_ctx *ctx, dc_tensor *a, dc_tensor *b)
{
    if (!a || !b)
        return NULL;
    bmm_plan *p = dc_ctx_alloc(ctx, sizeof *p);
    if (!p || !dc_check_f32("matmul_bcast", a, "a") || !dc_check_f32("matmul_bcast", b, "b") ||
        !bmm_plan_make(ctx, a, b, p))
        return NULL;
    if (p->nb + 2 > DC_MAX_DIMS)
        return dc_err_null(DC_ERR_SHAPE, "matmul_bcast: more than %d dims", DC_MAX_DIMS);
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, p->shape, (size_t)p->nb * sizeof *shape);
    shape[p->nb] = p->M;
    shape[p->nb + 1] = p->N;
    dc_tensor *y = dc_empty(ctx, DC_F32, p->nb + 2, shape);
    if (!y)
        return NULL;
    for (int64_t i = 0; i < p->B; i++)
        dc_gemm(0, 0, p->M, p->N, p->K, 1.0f, dc_f32(a) + p->offa[i], p->K,
                dc_f32(b) + p->offb[i], p->N, 0.0f, dc_f32(y) + i * p->M * p->N, p->N);
    dc_tensor *in[2] = {a, b};
    dc_node *n = dc_record(ctx, "matmul_bcast", bmm_bwd, y, 2, in);
    if (n)
        n->saved = p;
    return y;
}
