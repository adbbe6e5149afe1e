/*
 * reduce.c - dc_sum and dc_mean over one axis or all of them; dc_argmax_rows and dc_accuracy.
 *
 * The input is viewed as (outer, K, inner) with K the reduced axis (DC_ALL_AXES: outer = inner =
 * 1, K = numel). Sums accumulate in double in a fixed order (kernels/eltwise_k.c), so results do
 * not depend on the thread count.
 */
#include "core/internal.h"
#include "kernels/eltwise_k.h"

static dc_status reduce_bwd(dc_ctx *ctx, dc_node *n)
{ /* dx[o, k, i] += scale · dy[o, i]   (scale 1 for sum, 1/K for mean) */
    dc_tensor *x = n->in[0], *y = n->out;
    float *dx = dc_grad(ctx, x);
    if (!dx)
        return (x->flags & DC_TF_REQUIRES_GRAD) ? DC_ERR_NOMEM : DC_OK;
    dc_k_sum_axis_bwd(n->ia[0], n->ia[1], n->ia[2], n->fa[0], y->grad, dx);
    return DC_OK;
}

static dc_tensor *reduce(dc_ctx *ctx, const char *name, dc_tensor *a, int axis, int keepdim,
                         int mean)
{
    if (!a)
        return NULL;
    if (!dc_check_f32(name, a, "input"))
        return NULL;
    int64_t outer = 1, K = a->numel, inner = 1, shape[DC_MAX_DIMS];
    int ndim = 0;
    if (axis == DC_ALL_AXES) {
        if (keepdim)
            for (ndim = 0; ndim < a->ndim; ndim++)
                shape[ndim] = 1;
    } else {
        if (!dc_check_axis(name, a->ndim, &axis))
            return NULL;
        K = a->shape[axis];
        for (int d = 0; d < a->ndim; d++) {
            if (d < axis)
                outer *= a->shape[d];
            else if (d > axis)
                inner *= a->shape[d];
            if (d != axis || keepdim)
                shape[ndim++] = d == axis ? 1 : a->shape[d];
        }
    }
    dc_tensor *y = dc_empty(ctx, DC_F32, ndim, shape);
    if (!y)
        return NULL;
    /* mean of an empty axis is 0 · ∞ = NaN, as in PyTorch */
    const float scale = mean ? 1.0f / (float)K : 1.0f;
    dc_k_sum_axis(outer, K, inner, scale, dc_f32(a), dc_f32(y));
    dc_node *n = dc_record(ctx, name, reduce_bwd, y, 1, &a);
    if (n) {
        n->ia[0] = outer;
        n->ia[1] = K;
        n->ia[2] = inner;
        n->fa[0] = scale;
    }
    return y;
}

dc_tensor *dc_sum(dc_ctx *ctx, dc_tensor *a, int axis, int keepdim)
{
    return reduce(ctx, "sum", a, axis, keepdim, 0);
}

dc_tensor *dc_mean(dc_ctx *ctx, dc_tensor *a, int axis, int keepdim)
{
    return reduce(ctx, "mean", a, axis, keepdim, 1);
}

/* ---- arg-max of rows (not differentiable): greedy decoding, predictions, accuracy ---- */

/* Index of the largest of p[0..k) (the first one on ties, like torch.argmax). */
static int64_t row_argmax(const float *p, int64_t k)
{
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
        if (p[j] > p[best])
            best = j;
    return best;
}

void dc_argmax_rows(const dc_tensor *logits, int64_t *out)
{
    int64_t n = logits->shape[0], k = n ? logits->numel / n : 0;
    for (int64_t i = 0; i < n; i++)
        out[i] = row_argmax(dc_f32(logits) + i * k, k);
}

double dc_accuracy(const dc_tensor *logits, const dc_tensor *target, int64_t *correct)
{
    int64_t n = logits->shape[0], k = n ? logits->numel / n : 0, ok = 0;
    for (int64_t i = 0; i < n; i++)
        ok += row_argmax(dc_f32(logits) + i * k, k) == dc_i64(target)[i];
    if (correct)
        *correct = ok;
    return n ? (double)ok / (double)n : 0.0;
}
