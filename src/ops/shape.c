/*
 * shape.c - reshape / flatten (views sharing data), transpose (a copy), concat and slice.
 *
 * Views: the output of reshape shares the input's data but has its own gradient buffer; backward
 * adds dy into dx elementwise (same numel, same order). concat and slice view their operands as
 * (outer, K, inner) around the axis and copy blocks of K·inner floats.
 */
#include "core/internal.h"
#include "kernels/eltwise_k.h"

#include <stdio.h>

static dc_status grad_of(dc_ctx *ctx, dc_tensor *t, float **g)
{
    *g = dc_grad(ctx, t);
    return (!*g && t && (t->flags & DC_TF_REQUIRES_GRAD)) ? DC_ERR_NOMEM : DC_OK;
}

/* "[2, -1, 3]" for a raw shape. */
static char *shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    dc_tensor t = {0};
    t.ndim = ndim < 0 ? 0 : ndim > DC_MAX_DIMS ? DC_MAX_DIMS : ndim;
    for (int i = 0; i < t.ndim; i++)
        t.shape[i] = shape[i];
    return dc_shape_str(&t, buf, size);
}

/* Product of the sizes of dims [lo, hi) of t. */
static int64_t dims_prod(const dc_tensor *t, int lo, int hi)
{
    int64_t p = 1;
    for (int d = lo; d < hi; d++)
        p *= t->shape[d];
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* reshape, flatten                                                                           */
/* ------------------------------------------------------------------------------------------ */

static dc_status reshape_bwd(dc_ctx *ctx, dc_node *n)
{ /* dx += dy (same elements in the same order): dy's buffer becomes dx when x has none yet */
    dc_tensor *x = n->in[0], *y = n->out;
    float *dx;
    if (dc_grad_move(ctx, y, x))
        return DC_OK;
    if (grad_of(ctx, x, &dx) != DC_OK)
        return DC_ERR_NOMEM;
    if (dx)
        dc_k_acc(x->numel, y->grad, dx);
    return DC_OK;
}

/* Resolve a -1 in shape against numel into out; false with a message if impossible. */
static bool reshape_infer(const dc_tensor *a, int ndim, const int64_t *shape, int64_t *out)
{
    char s1[96], s2[96];
    int neg = -1;
    int64_t known;
    for (int i = 0; i < ndim; i++) {
        out[i] = shape[i] == -1 ? 1 : shape[i];
        if (shape[i] == -1 && neg >= 0) {
            dc_err(DC_ERR_ARG, "reshape: only one dimension may be -1, got %s",
                   shape_str(ndim, shape, s2, sizeof s2));
            return false;
        }
        if (shape[i] == -1)
            neg = i;
    }
    if (!dc_shape_numel(ndim, out, &known)) {
        dc_err(DC_ERR_ARG, "reshape: invalid shape %s", shape_str(ndim, shape, s2, sizeof s2));
        return false;
    }
    if (neg >= 0 && known != 0 && a->numel % known == 0) {
        out[neg] = a->numel / known;
        known = a->numel;
    }
    if (known != a->numel || (neg >= 0 && a->numel == 0)) {
        dc_err(DC_ERR_SHAPE, "reshape: cannot view %s (%lld elements) as %s",
               dc_shape_str(a, s1, sizeof s1), (long long)a->numel,
               shape_str(ndim, shape, s2, sizeof s2));
        return false;
    }
    return true;
}

dc_tensor *dc_reshape(dc_ctx *ctx, dc_tensor *a, int ndim, const int64_t *shape)
{
    int64_t s[DC_MAX_DIMS] = {0};
    if (!a)
        return NULL;
    if (ndim < 0 || ndim > DC_MAX_DIMS || (ndim > 0 && !shape))
        return dc_err_null(DC_ERR_ARG, "reshape: ndim must be 0..%d, got %d", DC_MAX_DIMS,
                           ndim);
    if (!reshape_infer(a, ndim, shape, s))
        return NULL;
    dc_tensor *y = dc_view(ctx, a, ndim, s);
    if (!y)
        return NULL;
    if (a->dtype == DC_F32)
        dc_record(ctx, "reshape", reshape_bwd, y, 1, &a);
    else
        y->name = "reshape";
    return y;
}

dc_tensor *dc_flatten(dc_ctx *ctx, dc_tensor *a, int start_dim, int end_dim)
{
    int64_t shape[DC_MAX_DIMS];
    int nd = 0;
    if (!a)
        return NULL;
    if (a->ndim == 0)
        return dc_reshape(ctx, a, 1, DC_SHAPE(1));
    if (!dc_check_axis("flatten", a->ndim, &start_dim) ||
        !dc_check_axis("flatten", a->ndim, &end_dim))
        return NULL;
    if (start_dim > end_dim)
        return dc_err_null(DC_ERR_ARG, "flatten: start_dim %d comes after end_dim %d",
                           start_dim, end_dim);
    for (int d = 0; d < start_dim; d++)
        shape[nd++] = a->shape[d];
    shape[nd++] = dims_prod(a, start_dim, end_dim + 1);
    for (int d = end_dim + 1; d < a->ndim; d++)
        shape[nd++] = a->shape[d];
    return dc_reshape(ctx, a, nd, shape);
}

/* ------------------------------------------------------------------------------------------ */
/* transpose                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* View t as [outer, A, mid, B, inner] around the dims d0 < d1 (A = size d0, B = size d1);
 * d0 == d1 swaps nothing: [1, 1, 1, 1, numel], a plain copy. */
static void swap_split(const dc_tensor *t, int d0, int d1, int64_t *s5)
{
    if (d0 == d1) {
        s5[0] = s5[1] = s5[2] = s5[3] = 1;
        s5[4] = t->numel;
        return;
    }
    s5[0] = dims_prod(t, 0, d0);
    s5[1] = t->shape[d0];
    s5[2] = dims_prod(t, d0 + 1, d1);
    s5[3] = t->shape[d1];
    s5[4] = dims_prod(t, d1 + 1, t->ndim);
}

static dc_status transpose_bwd(dc_ctx *ctx, dc_node *n)
{ /* dx += dy with the two dims swapped back */
    dc_tensor *x = n->in[0], *y = n->out;
    int64_t s[5];
    float *dx;
    if (grad_of(ctx, x, &dx) != DC_OK)
        return DC_ERR_NOMEM;
    if (!dx)
        return DC_OK;
    swap_split(y, (int)n->ia[0], (int)n->ia[1], s);
    dc_k_swap_dims(s[0], s[1], s[2], s[3], s[4], y->grad, dx, 1);
    return DC_OK;
}

dc_tensor *dc_transpose(dc_ctx *ctx, dc_tensor *a, int dim0, int dim1)
{
    int64_t shape[DC_MAX_DIMS], s[5];
    if (!a)
        return NULL;
    if (!dc_check_f32("transpose", a, "input") || !dc_check_axis("transpose", a->ndim, &dim0) ||
        !dc_check_axis("transpose", a->ndim, &dim1))
        return NULL;
    if (dim0 > dim1) { /* the swap is symmetric */
        const int t = dim0;
        dim0 = dim1;
        dim1 = t;
    }
    for (int d = 0; d < a->ndim; d++)
        shape[d] = a->shape[d == dim0 ? dim1 : d == dim1 ? dim0 : d];
    dc_tensor *y = dc_empty(ctx, DC_F32, a->ndim, shape);
    if (!y)
        return NULL;
    swap_split(a, dim0, dim1, s);
    dc_k_swap_dims(s[0], s[1], s[2], s[3], s[4], dc_f32(a), dc_f32(y), 0);
    dc_node *n = dc_record(ctx, "transpose", transpose_bwd, y, 1, &a);
    if (n) {
        n->ia[0] = dim0;
        n->ia[1] = dim1;
    }
    return y;
}

/* ------------------------------------------------------------------------------------------ */
/* concat                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static dc_status concat_bwd(dc_ctx *ctx, dc_node *n)
{ /* dx_i[o, :, :] += dy[o, off_i : off_i + K_i, :] */
    dc_tensor *y = n->out;
    const int axis = (int)n->ia[0];
    const int64_t outer = dims_prod(y, 0, axis), inner = dims_prod(y, axis + 1, y->ndim);
    const int64_t Ky = y->shape[axis];
    int64_t off = 0;
    for (int i = 0; i < n->n_in; i++) {
        dc_tensor *x = n->ins[i];
        const int64_t Kx = x->shape[axis];
        float *dx;
        if (grad_of(ctx, x, &dx) != DC_OK)
            return DC_ERR_NOMEM;
        if (dx)
            dc_k_block_copy(outer, Kx * inner, y->grad + off * inner, Ky * inner, dx, Kx * inner,
                            1);
        off += Kx;
    }
    return DC_OK;
}

/* Check that ts[0..n) fit together along axis (normalised into *axis); sum their sizes. */
static bool concat_check(dc_tensor *const *ts, int n, int *axis, int64_t *K)
{
    const dc_tensor *t0 = ts[0];
    char s1[96], s2[96];
    if (!dc_check_axis("concat", t0->ndim, axis))
        return false;
    *K = 0;
    for (int i = 0; i < n; i++) {
        const dc_tensor *t = ts[i];
        if (!dc_check_f32("concat", t, "every input"))
            return false;
        bool ok = t->ndim == t0->ndim;
        for (int d = 0; ok && d < t->ndim; d++)
            ok = d == *axis || t->shape[d] == t0->shape[d];
        if (!ok) {
            dc_err(DC_ERR_SHAPE, "concat: input %d has shape %s, input 0 %s; all sizes but "
                   "axis %d must match", i, dc_shape_str(t, s1, sizeof s1),
                   dc_shape_str(t0, s2, sizeof s2), *axis);
            return false;
        }
        *K += t->shape[*axis];
    }
    return true;
}

dc_tensor *dc_concat(dc_ctx *ctx, dc_tensor *const *ts, int n, int axis)
{
    int64_t shape[DC_MAX_DIMS], K;
    if (!ts || n < 1)
        return dc_err_null(DC_ERR_ARG, "concat: needs at least one tensor (n = %d)", n);
    for (int i = 0; i < n; i++)
        if (!ts[i])
            return NULL;
    if (!concat_check(ts, n, &axis, &K))
        return NULL;
    const dc_tensor *t0 = ts[0];
    for (int d = 0; d < t0->ndim; d++)
        shape[d] = d == axis ? K : t0->shape[d];
    dc_tensor *y = dc_empty(ctx, DC_F32, t0->ndim, shape);
    if (!y)
        return NULL;
    const int64_t outer = dims_prod(t0, 0, axis), inner = dims_prod(t0, axis + 1, t0->ndim);
    int64_t off = 0;
    for (int i = 0; i < n; i++) { /* y[o, off : off + K_i, :] = x_i[o] */
        const int64_t Kx = ts[i]->shape[axis];
        dc_k_block_copy(outer, Kx * inner, dc_f32(ts[i]), Kx * inner, dc_f32(y) + off * inner,
                        K * inner, 0);
        off += Kx;
    }
    dc_node *nd = dc_record(ctx, "concat", concat_bwd, y, n, ts);
    if (nd)
        nd->ia[0] = axis;
    return y;
}

/* ------------------------------------------------------------------------------------------ */
/* slice                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static dc_status slice_bwd(dc_ctx *ctx, dc_node *n)
{ /* dx[o, start + j·step, :] += dy[o, j, :] */
    dc_tensor *x = n->in[0], *y = n->out;
    const int axis = (int)n->ia[0];
    float *dx;
    if (grad_of(ctx, x, &dx) != DC_OK)
        return DC_ERR_NOMEM;
    if (dx)
        dc_k_slice_bwd(dims_prod(x, 0, axis), x->shape[axis], dims_prod(x, axis + 1, x->ndim),
                       n->ia[1], n->ia[2], y->shape[axis], y->grad, dx);
    return DC_OK;
}

/* Python's clamping of a slice bound: negatives count from the end, then clip to [0, K]. */
static int64_t clamp_bound(int64_t v, int64_t K)
{
    if (v < 0)
        v += K;
    return v < 0 ? 0 : v > K ? K : v;
}

dc_tensor *dc_slice(dc_ctx *ctx, dc_tensor *a, int axis, int64_t start, int64_t end,
                    int64_t step)
{
    int64_t shape[DC_MAX_DIMS];
    if (!a)
        return NULL;
    if (!dc_check_f32("slice", a, "input") || !dc_check_axis("slice", a->ndim, &axis))
        return NULL;
    if (step <= 0)
        return dc_err_null(DC_ERR_ARG, "slice: step must be > 0, got %lld", (long long)step);
    const int64_t K = a->shape[axis];
    start = clamp_bound(start, K);
    end = clamp_bound(end, K);
    const int64_t cnt = end > start ? (end - start - 1) / step + 1 : 0;
    for (int d = 0; d < a->ndim; d++)
        shape[d] = d == axis ? cnt : a->shape[d];
    dc_tensor *y = dc_empty(ctx, DC_F32, a->ndim, shape);
    if (!y)
        return NULL;
    dc_k_slice_fwd(dims_prod(a, 0, axis), K, dims_prod(a, axis + 1, a->ndim), start, step, cnt,
                   dc_f32(a), dc_f32(y));
    dc_node *n = dc_record(ctx, "slice", slice_bwd, y, 1, &a);
    if (n) {
        n->ia[0] = axis;
        n->ia[1] = start;
        n->ia[2] = step;
    }
    return y;
}
