/*
 * dataset.c - the dc_dataset views over image bytes and over tensors.
 */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

void dc_dataset_free(dc_dataset *d)
{
    if (!d)
        return;
    if (d->destroy)
        d->destroy(d);
    free(d);
}

/* ---- images ---- */

typedef struct img_impl {
    dc_images imgs;
    float mean, std;
} img_impl;

static dc_status img_batch(const dc_dataset *d, dc_ctx *ctx, const int64_t *idx, int64_t b,
                           dc_tensor **x, dc_tensor **y)
{
    const img_impl *im = d->impl;
    *x = dc_images_batch(ctx, &im->imgs, idx, b, im->mean, im->std, y);
    return *x ? DC_OK : DC_ERR_NOMEM;
}

static void img_destroy(dc_dataset *d)
{
    img_impl *im = d->impl;
    dc_images_free(&im->imgs);
    free(im);
}

dc_dataset *dc_dataset_images(dc_images *imgs, float mean, float std)
{
    dc_dataset *d = calloc(1, sizeof *d);
    img_impl *im = calloc(1, sizeof *im);
    if (!d || !im || !(std > 0)) {
        free(d);
        free(im);
        return dc_err_null(std > 0 ? DC_ERR_NOMEM : DC_ERR_ARG,
                           "dataset: out of memory or std <= 0");
    }
    im->imgs = *imgs;
    memset(imgs, 0, sizeof *imgs);
    im->mean = mean;
    im->std = std;
    d->n = im->imgs.n;
    d->n_classes = im->imgs.n_classes;
    d->batch = img_batch;
    d->destroy = img_destroy;
    d->impl = im;
    return d;
}

/* ---- tensors ---- */

typedef struct tensor_impl {
    dc_tensor *x, *y;
} tensor_impl;

static dc_status tensor_batch(const dc_dataset *d, dc_ctx *ctx, const int64_t *idx, int64_t b,
                              dc_tensor **x, dc_tensor **y)
{
    const tensor_impl *ti = d->impl;
    *x = dc_gather_rows(ctx, ti->x, idx, b);
    *y = dc_gather_rows(ctx, ti->y, idx, b);
    return *x && *y ? DC_OK : DC_ERR_NOMEM;
}

static void tensor_destroy(dc_dataset *d)
{
    tensor_impl *ti = d->impl;
    dc_tensor_free(ti->x);
    dc_tensor_free(ti->y);
    free(ti);
}

dc_dataset *dc_dataset_tensors(dc_tensor *x, dc_tensor *y)
{
    dc_dataset *d = NULL;
    tensor_impl *ti = NULL;
    if (!x || !y || x->ndim < 1 || y->ndim < 1 || x->shape[0] != y->shape[0]) {
        char a[96], b[96];
        dc_err(DC_ERR_SHAPE, "dataset: inputs %s and targets %s must have the same first "
               "dimension", dc_shape_str(x, a, sizeof a), dc_shape_str(y, b, sizeof b));
        goto fail;
    }
    d = calloc(1, sizeof *d);
    ti = calloc(1, sizeof *ti);
    if (!d || !ti) {
        dc_err(DC_ERR_NOMEM, "dataset: out of memory");
        goto fail;
    }
    if (y->dtype == DC_I64 && y->ndim == 1) {
        int64_t max = -1;
        for (int64_t i = 0; i < y->numel; i++) {
            if (dc_i64(y)[i] < 0 || dc_i64(y)[i] > 1000000) {
                dc_err(DC_ERR_ARG, "dataset: label %lld at row %lld is not a class index",
                       (long long)dc_i64(y)[i], (long long)i);
                goto fail;
            }
            if (dc_i64(y)[i] > max)
                max = dc_i64(y)[i];
        }
        d->n_classes = (int)max + 1;
    }
    ti->x = x;
    ti->y = y;
    d->n = x->shape[0];
    d->batch = tensor_batch;
    d->destroy = tensor_destroy;
    d->impl = ti;
    return d;
fail:
    free(d);
    free(ti);
    dc_tensor_free(x);
    dc_tensor_free(y);
    return NULL;
}
