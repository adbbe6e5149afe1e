/*
 * seq.c - the sequence pieces: embedding lookup, one-hot encoding and time-step selection of
 * batch-first sequences [N, T, F].
 *
 * These ops move rows and compute nothing, so they run single-threaded: a row copy is bound by
 * memory, not arithmetic. Backward scatters rows of dy back with += in position order, which
 * makes repeated ids (embedding) accumulate in a fixed order.
 */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>

/* "[1, 3]": the multi-index of flat position p in t (for error messages). */
static char *pos_str(const dc_tensor *t, int64_t p, char *buf, size_t size)
{
    int64_t idx[DC_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = t->shape[d] ? p % t->shape[d] : 0;
        p = t->shape[d] ? p / t->shape[d] : 0;
    }
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && k < size; d++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", d ? ", " : "", (long long)idx[d]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
    return buf;
}

/* Check ids int64 with at most 4 dims (room for the feature axis) and each in [0, n); op names
 * the caller, what the upper bound is ("num_embeddings 10"). */
static bool check_ids(const char *op, const dc_tensor *ids, int64_t n, const char *bound)
{
    char s[96];
    if (ids->dtype != DC_I64) {
        dc_err(DC_ERR_DTYPE, "%s: ids must be int64, got float32", op);
        return false;
    }
    if (ids->ndim > DC_MAX_DIMS - 1) {
        dc_err(DC_ERR_SHAPE, "%s: ids may have at most %d dims, got %s", op, DC_MAX_DIMS - 1,
               dc_shape_str(ids, s, sizeof s));
        return false;
    }
    const int64_t *id = dc_i64(ids);
    for (int64_t p = 0; p < ids->numel; p++)
        if (id[p] < 0 || id[p] >= n) {
            dc_err(DC_ERR_ARG, "%s: id %lld at position %s is out of range [0, %lld) (%s)", op,
                   (long long)id[p], pos_str(ids, p, s, sizeof s), (long long)n, bound);
            return false;
        }
    return true;
}

/* The shape of ids followed by last. */
static void ids_shape_plus(const dc_tensor *ids, int64_t last, int64_t *shape)
{
    for (int d = 0; d < ids->ndim; d++)
        shape[d] = ids->shape[d];
    shape[ids->ndim] = last;
}

/* ------------------------------------------------------------------------------------------ */
/* embedding                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* ids [P] into w [V, E]: dw[ids[p], :] += dy[p, :] for p = 0..P-1 in order, except padding. */
static void k_embedding_bwd(int64_t P, int64_t E, const int64_t *restrict ids, int64_t pad,
                            const float *restrict dy, float *restrict dw)
{
    for (int64_t p = 0; p < P; p++) {
        if (ids[p] == pad)
            continue;
        float *restrict row = dw + ids[p] * E;
        const float *restrict g = dy + p * E;
        for (int64_t e = 0; e < E; e++)
            row[e] += g[e];
    }
}

static dc_status embedding_bwd(dc_ctx *ctx, dc_node *n)
{ /* dw[ids[p], :] += dy[p, :] (padding_idx skipped); ids get nothing */
    dc_tensor *ids = n->in[0], *w = n->in[1], *y = n->out;
    float *dw = dc_grad(ctx, w);
    if (!dw)
        return (w->flags & DC_TF_REQUIRES_GRAD) ? DC_ERR_NOMEM : DC_OK;
    k_embedding_bwd(ids->numel, w->shape[1], dc_i64(ids), n->ia[0], y->grad, dw);
    return DC_OK;
}

dc_tensor *dc_embedding(dc_ctx *ctx, dc_tensor *ids, dc_tensor *w, int64_t padding_idx)
{
    char s[96], bound[64];
    if (!ids || !w)
        return NULL;
    if (!dc_check_f32("embedding", w, "weight") || !dc_check_ndim("embedding", w, "weight", 2))
        return NULL;
    int64_t V = w->shape[0], E = w->shape[1];
    if (padding_idx < -1 || padding_idx >= V)
        return dc_err_null(DC_ERR_ARG, "embedding: padding_idx must be in [0, %lld) or -1 for "
                           "none, got %lld (weight %s)", (long long)V, (long long)padding_idx,
                           dc_shape_str(w, s, sizeof s));
    snprintf(bound, sizeof bound, "weight %s", dc_shape_str(w, s, sizeof s));
    if (!check_ids("embedding", ids, V, bound))
        return NULL;
    int64_t shape[DC_MAX_DIMS];
    ids_shape_plus(ids, E, shape);
    dc_tensor *y = dc_empty(ctx, DC_F32, ids->ndim + 1, shape);
    if (!y)
        return NULL;
    const int64_t *id = dc_i64(ids);
    const float *wt = dc_f32(w);
    float *out = dc_f32(y);
    for (int64_t p = 0; p < ids->numel; p++) /* y[p, :] = w[ids[p], :] */
        memcpy(out + p * E, wt + id[p] * E, (size_t)E * sizeof *out);
    dc_tensor *in[2] = {ids, w};
    dc_node *n = dc_record(ctx, "embedding", embedding_bwd, y, 2, in);
    if (n)
        n->ia[0] = padding_idx;
    return y;
}

/* ------------------------------------------------------------------------------------------ */
/* one-hot                                                                                    */
/* ------------------------------------------------------------------------------------------ */

dc_tensor *dc_one_hot(dc_ctx *ctx, dc_tensor *ids, int64_t K)
{
    char bound[48];
    if (!ids)
        return NULL;
    if (K < 1)
        return dc_err_null(DC_ERR_ARG, "one_hot: the number of classes must be >= 1, got %lld",
                           (long long)K);
    snprintf(bound, sizeof bound, "num_classes %lld", (long long)K);
    if (!check_ids("one_hot", ids, K, bound))
        return NULL;
    int64_t shape[DC_MAX_DIMS];
    ids_shape_plus(ids, K, shape);
    dc_tensor *y = dc_zeros(ctx, DC_F32, ids->ndim + 1, shape);
    if (!y)
        return NULL;
    const int64_t *id = dc_i64(ids);
    float *out = dc_f32(y);
    for (int64_t p = 0; p < ids->numel; p++)
        out[p * K + id[p]] = 1.0f;
    y->name = "one_hot"; /* an int64 input: nothing to record */
    return y;
}

/* ------------------------------------------------------------------------------------------ */
/* time-step selection: y[n, :] = x[n, step[n], :]                                            */
/* ------------------------------------------------------------------------------------------ */

/* x [N, T, F], steps [N] -> y [N, F]. */
static void k_select_fwd(int64_t N, int64_t T, int64_t F, const int64_t *restrict steps,
                         const float *restrict x, float *restrict y)
{
    for (int64_t n = 0; n < N; n++)
        memcpy(y + n * F, x + (n * T + steps[n]) * F, (size_t)F * sizeof *y);
}

/* dx[n, steps[n], :] += dy[n, :] */
static void k_select_bwd(int64_t N, int64_t T, int64_t F, const int64_t *restrict steps,
                         const float *restrict dy, float *restrict dx)
{
    for (int64_t n = 0; n < N; n++) {
        float *restrict row = dx + (n * T + steps[n]) * F;
        const float *restrict g = dy + n * F;
        for (int64_t f = 0; f < F; f++)
            row[f] += g[f];
    }
}

static dc_status select_bwd(dc_ctx *ctx, dc_node *n)
{ /* dx[n, steps[n], :] += dy[n, :]; steps saved in the arena */
    dc_tensor *x = n->in[0], *y = n->out;
    float *dx = dc_grad(ctx, x);
    if (!dx)
        return (x->flags & DC_TF_REQUIRES_GRAD) ? DC_ERR_NOMEM : DC_OK;
    k_select_bwd(x->shape[0], x->shape[1], x->shape[2], n->saved, y->grad, dx);
    return DC_OK;
}

/* y [N, F] from x [N, T, F] at steps[n] (arena memory, already checked), recorded as op. */
static dc_tensor *select_rows(dc_ctx *ctx, const char *op, dc_tensor *x, int64_t *steps)
{
    dc_tensor *y = dc_empty(ctx, DC_F32, 2, DC_SHAPE(x->shape[0], x->shape[2]));
    if (!y)
        return NULL;
    k_select_fwd(x->shape[0], x->shape[1], x->shape[2], steps, dc_f32(x), dc_f32(y));
    dc_node *n = dc_record(ctx, op, select_bwd, y, 1, &x);
    if (n)
        n->saved = steps;
    return y;
}

static bool check_seq(const char *op, const dc_tensor *x)
{
    char s[96];
    if (!dc_check_f32(op, x, "input"))
        return false;
    if (x->ndim != 3) {
        dc_err(DC_ERR_SHAPE, "%s: input must be [N, T, F] (batch first), got %s", op,
               dc_shape_str(x, s, sizeof s));
        return false;
    }
    return true;
}

dc_tensor *dc_select_step(dc_ctx *ctx, dc_tensor *x, int64_t t)
{
    char s[96];
    if (!x)
        return NULL;
    if (!check_seq("select_step", x))
        return NULL;
    int64_t N = x->shape[0], T = x->shape[1];
    if (t < -T || t >= T)
        return dc_err_null(DC_ERR_ARG, "select_step: step %lld is out of range [%lld, %lld) "
                           "for input %s", (long long)t, (long long)-T, (long long)T,
                           dc_shape_str(x, s, sizeof s));
    int64_t *steps = dc_ctx_alloc(ctx, (size_t)(N > 0 ? N : 1) * sizeof *steps);
    if (!steps)
        return NULL;
    for (int64_t n = 0; n < N; n++)
        steps[n] = t < 0 ? t + T : t;
    return select_rows(ctx, "select_step", x, steps);
}

dc_tensor *dc_select_last(dc_ctx *ctx, dc_tensor *x, dc_tensor *lengths)
{
    char s[96], s2[96];
    if (!x)
        return NULL;
    if (!check_seq("select_last", x))
        return NULL;
    int64_t N = x->shape[0], T = x->shape[1];
    if (lengths && lengths->dtype != DC_I64)
        return dc_err_null(DC_ERR_DTYPE, "select_last: lengths must be int64, got float32");
    if (lengths && (lengths->ndim != 1 || lengths->shape[0] != N))
        return dc_err_null(DC_ERR_SHAPE, "select_last: lengths must be [N] = [%lld] for input "
                           "%s, got %s", (long long)N, dc_shape_str(x, s, sizeof s),
                           dc_shape_str(lengths, s2, sizeof s2));
    int64_t *steps = dc_ctx_alloc(ctx, (size_t)(N > 0 ? N : 1) * sizeof *steps);
    if (!steps)
        return NULL;
    for (int64_t n = 0; n < N; n++) {
        int64_t len = lengths ? dc_i64(lengths)[n] : T;
        if (len < 1 || len > T)
            return dc_err_null(DC_ERR_ARG, "select_last: length %lld of sequence %lld is out "
                               "of range [1, %lld] for input %s", (long long)len, (long long)n,
                               (long long)T, dc_shape_str(x, s, sizeof s));
        steps[n] = len - 1;
    }
    return select_rows(ctx, "select_last", x, steps);
}
