/*
 * batch.c - mini-batch assembly and simple metrics.
 */
#include "core/internal.h"

#include <string.h>

dc_tensor *dc_gather_rows(dc_ctx *ctx, const dc_tensor *src, const int64_t *idx, int64_t n)
{
    if (!src || src->ndim < 1)
        return dc_err_null(DC_ERR_ARG, "gather_rows: need a tensor with at least one dim");
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = n;
    dc_tensor *t = dc_empty(ctx, src->dtype, src->ndim, shape);
    if (!t)
        return NULL;
    size_t row = (size_t)(src->shape[0] ? src->numel / src->shape[0] : 0) *
                 (src->dtype == DC_I64 ? 8 : 4);
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= src->shape[0])
            return dc_err_null(DC_ERR_ARG, "gather_rows: index %lld out of range [0, %lld)",
                               (long long)idx[i], (long long)src->shape[0]);
        memcpy((char *)t->data + (size_t)i * row, (const char *)src->data + (size_t)idx[i] * row,
               row);
    }
    return t;
}

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
