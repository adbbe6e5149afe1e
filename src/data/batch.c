/*
 * batch.c - mini-batch assembly (dc_argmax_rows and dc_accuracy are in src/ops/reduce.c, where
 * the model layers below data/ can use them).
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

