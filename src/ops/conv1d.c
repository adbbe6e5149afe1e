/*
 * conv1d.c - 1-d convolution as a 2-d one of height 1 (PyTorch's F.conv1d).
 *
 *   y[n, o, l] = b[o] + Σ_{c in group(o), j < k} w[o, c, j] · x[n, c, l·s + j·d − p_left]
 *
 * x [N, C, L], w [O, C/groups, K], b [O] or NULL -> y [N, O, L'] with
 * L' = floor((L + p_left + p_right − d·(K − 1) − 1) / s) + 1. The tensors are viewed as
 * [N, C, 1, L] and [O, C/groups, 1, K] (no copy: dc_reshape views, which record their own
 * backward) and the convolution is dc_conv2d with a 1 x K kernel, so every algorithm, the
 * thread split and the backward of Conv2d serve Conv1d too. Backward adds into dx, dw, db.
 */
#include "core/internal.h"

#include <stdio.h>

dc_tensor *dc_conv1d(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b,
                     const dc_conv1d_opts *o)
{
    char s1[96], s2[96];
    if (!x || !w || !o || !dc_check_f32("conv1d", x, "input") ||
        !dc_check_f32("conv1d", w, "weight"))
        return x && w && o ? NULL : dc_err_null(DC_ERR_ARG, "conv1d: NULL argument");
    if (x->ndim != 3 || w->ndim != 3)
        return dc_err_null(DC_ERR_SHAPE, "conv1d: needs x [N, C, L] and w [O, C/groups, K], "
                           "got %s and %s", dc_shape_str(x, s1, sizeof s1),
                           dc_shape_str(w, s2, sizeof s2));
    dc_conv2d_opts o2 = dc_conv2d_defaults();
    o2.stride_w = o->stride;
    o2.dilation_w = o->dilation;
    o2.pad_left = o->pad_left;
    o2.pad_right = o->pad_right;
    o2.groups = o->groups;
    dc_tensor *x4 = dc_reshape(ctx, x, 4, DC_SHAPE(x->shape[0], x->shape[1], 1, x->shape[2]));
    dc_tensor *w4 = dc_reshape(ctx, w, 4, DC_SHAPE(w->shape[0], w->shape[1], 1, w->shape[2]));
    dc_tensor *y4 = x4 && w4 ? dc_conv2d(ctx, x4, w4, b, &o2) : NULL;
    if (!y4) {
        dc_err_prefix("conv1d: ");
        return NULL;
    }
    return dc_reshape(ctx, y4, 3, DC_SHAPE(y4->shape[0], y4->shape[1], y4->shape[3]));
}
