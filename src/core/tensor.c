/*
 * tensor.c - heap and arena tensors, shapes, fills, argument checks.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2^40 elements: far above any real tensor, far below overflow of numel * 8 bytes. */
#define DC_MAX_NUMEL (INT64_C(1) << 40)

bool dc_shape_numel(int ndim, const int64_t *shape, int64_t *out)
{
    int64_t n = 1;
    if (ndim < 0 || ndim > DC_MAX_DIMS)
        return false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return false;
        if (shape[i] != 0 && n > DC_MAX_NUMEL / shape[i])
            return false;
        n *= shape[i];
    }
    *out = n;
    return true;
}

static size_t dtype_size(dc_dtype d) { return d == DC_I64 ? 8 : 4; }

static void *aligned_zalloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = 64;
    bytes = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes) != 0)
        return NULL;
    memset(p, 0, bytes);
    return p;
}

/* Why dtype / ndim / shape cannot make a tensor, for the message: "ndim 6 is outside 0..5". */
static const char *shape_problem(dc_dtype dtype, int ndim, const int64_t *shape, char *buf,
                                 size_t size)
{
    if (dtype != DC_F32 && dtype != DC_I64)
        snprintf(buf, size, "dtype %d is not float32 or int64", (int)dtype);
    else if (ndim < 0 || ndim > DC_MAX_DIMS)
        snprintf(buf, size, "ndim %d is outside 0..%d", ndim, DC_MAX_DIMS);
    else if (ndim > 0 && !shape)
        snprintf(buf, size, "no shape for ndim %d", ndim);
    else {
        int k = snprintf(buf, size, "shape [");
        for (int i = 0; i < ndim && k > 0 && (size_t)k < size; i++)
            k += snprintf(buf + k, size - (size_t)k, "%s%lld", i ? ", " : "",
                          (long long)shape[i]);
        if (k > 0 && (size_t)k < size)
            snprintf(buf + k, size - (size_t)k, "] has a negative dimension or more than 2^40 "
                     "elements");
    }
    return buf;
}

static bool set_shape(dc_tensor *t, dc_dtype dtype, int ndim, const int64_t *shape)
{
    int64_t n;
    if (!dc_shape_numel(ndim, shape, &n))
        return false;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < DC_MAX_DIMS; i++)
        t->shape[i] = i < ndim ? shape[i] : 1;
    t->numel = n;
    return true;
}

dc_tensor *dc_tensor_new(dc_dtype dtype, int ndim, const int64_t *shape)
{
    dc_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return dc_err_null(DC_ERR_NOMEM, "dc_tensor_new: out of memory");
    if ((dtype != DC_F32 && dtype != DC_I64) || (ndim > 0 && !shape) ||
        !set_shape(t, dtype, ndim, shape)) {
        free(t);
        char why[200];
        return dc_err_null(DC_ERR_ARG, "dc_tensor_new: %s",
                           shape_problem(dtype, ndim, shape, why, sizeof why));
    }
    t->data = aligned_zalloc((size_t)t->numel * dtype_size(dtype));
    if (!t->data) {
        long long n = (long long)t->numel;
        free(t);
        return dc_err_null(DC_ERR_NOMEM, "dc_tensor_new: cannot allocate %lld elements", n);
    }
    t->flags = DC_TF_OWNS;
    t->name = "tensor";
    return t;
}

dc_tensor *dc_tensor_clone(const dc_tensor *src)
{
    if (!src)
        return NULL;
    dc_tensor *t = dc_tensor_new(src->dtype, src->ndim, src->shape);
    if (t)
        memcpy(t->data, src->data, (size_t)src->numel * dtype_size(src->dtype));
    return t;
}

void dc_tensor_free(dc_tensor *t)
{
    if (!t || !(t->flags & DC_TF_OWNS))
        return;
    free(t->data);
    free(t->grad);
    free(t);
}

dc_status dc_tensor_requires_grad(dc_tensor *t)
{
    if (!t || t->dtype != DC_F32)
        return dc_err(DC_ERR_ARG, "dc_tensor_requires_grad: needs a float tensor");
    if (!t->grad) {
        if (t->flags & DC_TF_ARENA)
            return dc_err(DC_ERR_ARG, "dc_tensor_requires_grad: not for arena tensors");
        t->grad = aligned_zalloc((size_t)t->numel * sizeof(float));
        if (!t->grad)
            return dc_err(DC_ERR_NOMEM, "dc_tensor_requires_grad: out of memory");
    }
    t->flags |= DC_TF_REQUIRES_GRAD;
    return DC_OK;
}

void dc_tensor_zero_grad(dc_tensor *t)
{
    if (t && t->grad)
        memset(t->grad, 0, (size_t)t->numel * sizeof(float));
}

char *dc_shape_str(const dc_tensor *t, char *buf, size_t size)
{
    size_t k = 0;
    if (!size)
        return buf;
    buf[0] = '\0';
    if (!t) {
        snprintf(buf, size, "(null)");
        return buf;
    }
    k += (size_t)snprintf(buf + k, size - k, "[");
    for (int i = 0; i < t->ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
    return buf;
}

int dc_same_shape(const dc_tensor *a, const dc_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

void dc_tensor_fill(dc_tensor *t, float v)
{
    float *p = dc_f32(t);
    for (int64_t i = 0; i < t->numel; i++)
        p[i] = v;
}

void dc_tensor_uniform(dc_tensor *t, dc_rng *r, float lo, float hi)
{
    float *p = dc_f32(t);
    for (int64_t i = 0; i < t->numel; i++)
        p[i] = lo + (hi - lo) * dc_rng_uniform(r);
}

void dc_tensor_normal(dc_tensor *t, dc_rng *r, float mean, float std)
{
    float *p = dc_f32(t);
    for (int64_t i = 0; i < t->numel; i++)
        p[i] = mean + std * dc_rng_normal(r);
}

bool dc_check_f32(const char *op, const dc_tensor *t, const char *what)
{
    if (t->dtype != DC_F32) {
        dc_err(DC_ERR_DTYPE, "%s: %s must be float32, got int64", op, what);
        return false;
    }
    return true;
}

bool dc_check_ndim(const char *op, const dc_tensor *t, const char *what, int ndim)
{
    if (t->ndim != ndim) {
        char s[96];
        dc_err(DC_ERR_SHAPE, "%s: %s must have %d dims, got %s", op, what, ndim,
               dc_shape_str(t, s, sizeof s));
        return false;
    }
    return true;
}

bool dc_check_axis(const char *op, int ndim, int *axis)
{
    int a = *axis < 0 ? *axis + ndim : *axis;
    if (a < 0 || a >= ndim) {
        dc_err(DC_ERR_ARG, "%s: axis %d out of range for %d dims", op, *axis, ndim);
        return false;
    }
    *axis = a;
    return true;
}

/* ---- arena tensors ---- */

static dc_tensor *arena_header(dc_ctx *ctx, dc_dtype dtype, int ndim, const int64_t *shape)
{
    dc_tensor *t = dc_ctx_alloc(ctx, sizeof *t);
    if (!t)
        return NULL;
    memset(t, 0, sizeof *t);
    if ((dtype != DC_F32 && dtype != DC_I64) || (ndim > 0 && !shape) ||
        !set_shape(t, dtype, ndim, shape)) {
        char why[200];
        return dc_err_null(DC_ERR_ARG, "tensor: %s", shape_problem(dtype, ndim, shape, why,
                                                                   sizeof why));
    }
    t->flags = DC_TF_ARENA;
    t->name = "tensor";
    return t;
}

dc_tensor *dc_empty(dc_ctx *ctx, dc_dtype dtype, int ndim, const int64_t *shape)
{
    dc_tensor *t = arena_header(ctx, dtype, ndim, shape);
    if (!t)
        return NULL;
    t->data = dc_ctx_alloc(ctx, (size_t)t->numel * dtype_size(dtype));
    return t->data ? t : NULL;
}

dc_tensor *dc_zeros(dc_ctx *ctx, dc_dtype dtype, int ndim, const int64_t *shape)
{
    dc_tensor *t = dc_empty(ctx, dtype, ndim, shape);
    if (t)
        memset(t->data, 0, (size_t)t->numel * dtype_size(dtype));
    return t;
}

dc_tensor *dc_wrap(dc_ctx *ctx, dc_dtype dtype, int ndim, const int64_t *shape, void *data)
{
    dc_tensor *t = arena_header(ctx, dtype, ndim, shape);
    if (t) {
        t->data = data;
        t->flags |= DC_TF_VIEW;
    }
    return t;
}

dc_tensor *dc_empty_like(dc_ctx *ctx, const dc_tensor *x)
{
    return dc_empty(ctx, x->dtype, x->ndim, x->shape);
}

dc_tensor *dc_view(dc_ctx *ctx, dc_tensor *x, int ndim, const int64_t *shape)
{
    dc_tensor *t = arena_header(ctx, x->dtype, ndim, shape);
    if (!t)
        return NULL;
    if (t->numel != x->numel)
        return dc_err_null(DC_ERR_SHAPE, "view: %lld elements cannot become %lld",
                           (long long)x->numel, (long long)t->numel);
    t->data = x->data;
    t->flags |= DC_TF_VIEW;
    return t;
}
