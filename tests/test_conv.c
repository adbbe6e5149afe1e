/*
 * test_conv.c - convolution, pooling and batch norm: forward values against PyTorch 1.13
 * (numbers computed with torch.nn.functional and pasted below), size formulas, running
 * statistics, error messages, chunked vs per-image convolution, thread-count independence.
 *
 * Inputs follow seq(i) = ((i·a) mod m - off) / div over the flat index, as in the Python script
 * that made the references:  torch.tensor([((i*a) % m - off) / div for i in range(n)]).
 */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static dc_tensor *seq_t(int ndim, const int64_t *shape, int a, int m, int off, double div)
{
    dc_tensor *t = dc_tensor_new(DC_F32, ndim, shape);
    if (t)
        for (int64_t i = 0; i < t->numel; i++)
            dc_f32(t)[i] = (float)((double)((i * a) % m - off) / div);
    return t;
}

static dc_tensor *from(int ndim, const int64_t *shape, const float *v)
{
    dc_tensor *t = dc_tensor_new(DC_F32, ndim, shape);
    if (t)
        memcpy(t->data, v, sizeof(float) * (size_t)t->numel);
    return t;
}

static int shape_is(const dc_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return t && t->ndim == 4 && t->shape[0] == a && t->shape[1] == b && t->shape[2] == c &&
           t->shape[3] == d;
}

/* ---- convolution forward ---- */

/* The notes' example: a 5x5 grey image, a 3x3 kernel with columns (-1, 0, 1), bias 1. The
 * top-left window [[1,0,2],[5,4,2],[3,4,5]] gives -1+2-5+2-3+5+1 = 1. */
TEST(conv2d_notes_example_5x5)
{
    static const float img[25] = {1, 0, 2, 3, 1, 5, 4, 2, 0, 2, 3, 4, 5, 1, 0,
                                  2, 1, 0, 3, 4, 0, 2, 1, 5, 3};
    static const float ker[9] = {-1, 0, 1, -1, 0, 1, -1, 0, 1}, one = 1.0f;
    static const float notes_valid[9] = {1, -3, -5, -2, -4, 0, 2, 3, 2};
    static const float notes_p1s2[9] = {5, 0, -2, 10, -4, -3, 4, 6, -7};
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = from(4, DC_SHAPE(1, 1, 5, 5), img), *w = from(4, DC_SHAPE(1, 1, 3, 3), ker);
    dc_tensor *b = from(1, DC_SHAPE(1), &one);
    REQUIRE(ctx && x && w && b);
    dc_tensor *y = dc_conv2d(ctx, x, w, b, NULL);
    REQUIRE(y);
    CHECK(shape_is(y, 1, 1, 3, 3), "valid conv of 5x5 by 3x3 must be 3x3");
    CHECK_NEAR(dc_f32(y)[0], 1.0, 0);
    CHECK_ALLCLOSE("notes valid", dc_f32(y), notes_valid, 9, 0, 1e-6);
    dc_conv2d_opts o = dc_conv2d_defaults();
    o.stride_h = o.stride_w = 2;
    o.pad_top = o.pad_bottom = o.pad_left = o.pad_right = 1;
    y = dc_conv2d(ctx, x, w, b, &o);
    REQUIRE(y);
    CHECK(shape_is(y, 1, 1, 3, 3), "5x5, k3, p1, s2 must give 3x3");
    CHECK_ALLCLOSE("notes p1 s2", dc_f32(y), notes_p1s2, 9, 0, 1e-6);
    dc_tensor_free(x);
    dc_tensor_free(w);
    dc_tensor_free(b);
    dc_ctx_free(ctx);
}

/* 3 input channels, 2 kernels of 3x3x3 (the notes' "multi-channel input, multi kernel"). */
TEST(conv2d_multichannel_multikernel_matches_torch)
{
    static const float mc_y[32] = {
        1.234375f, -0.890625f, 4.1171875f, -0.234375f, 1.203125f, 1.9140625f, -2.2265625f,
        2.3984375f, -1.0234375f, -0.2734375f, 3.1328125f, -1.5625f, 1.171875f, -0.8203125f,
        -0.546875f, 3.609375f, -1.0703125f, -0.859375f, -2.3125f, -0.0078125f, -2.421875f,
        -1.1484375f, -1.359375f, -2.328125f, -0.625f, -1.9921875f, -0.765625f, 1.21875f,
        -0.2890625f, -0.6953125f, -1.4375f, -1.53125f};
    static const float bv[2] = {0.5f, -1.0f};
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = seq_t(4, DC_SHAPE(1, 3, 4, 4), 37, 23, 11, 8);
    dc_tensor *w = seq_t(4, DC_SHAPE(2, 3, 3, 3), 13, 17, 8, 16);
    dc_tensor *b = from(1, DC_SHAPE(2), bv);
    REQUIRE(ctx && x && w && b);
    dc_conv2d_opts o = dc_conv2d_defaults();
    o.pad_top = o.pad_bottom = o.pad_left = o.pad_right = 1;
    dc_tensor *y = dc_conv2d(ctx, x, w, b, &o);
    REQUIRE(y);
    CHECK(shape_is(y, 1, 2, 4, 4), "same-size output expected");
    CHECK_ALLCLOSE("conv2d [1,3,4,4] * [2,3,3,3] p1", dc_f32(y), mc_y, 32, 1e-6, 1e-6);
    dc_tensor_free(x);
    dc_tensor_free(w);
    dc_tensor_free(b);
    dc_ctx_free(ctx);
}

/* groups 2, stride (2,1), padding t1 b0 l2 r1, dilation (1,2): y, dx, dw, db against torch
 * (F.pad then F.conv2d, then y.backward(dy)). */
static const float all_y[168] = {
    0.193749994f, 0.279687494f, 0.889062524f, -0.728124976f, -0.728124976f, 0.889062524f,
    0.279687494f, 0.865625024f, -0.696874976f, -0.345312506f, 1.30312502f, -1.72031248f,
    -0.610937476f, 1.38125002f, -0.020312503f, -0.364062488f, -0.770312488f, 0.471875012f,
    -0.801562488f, 0.620312512f, -0.207812503f, -0.762499988f, -0.121875003f, -0.223437503f,
    0.385937512f, -0.621874988f, -0.012500003f, 0.729687512f, 0.432812512f, 0.323437512f,
    -1.76250005f, 1.14374995f, 0.456250012f, 0.487500012f, 0.503125012f, -0.395312488f,
    1.25312495f, 0.300000012f, -0.129687488f, 0.878125012f, 0.987500012f, 0.346875012f,
    -0.360937506f, -1.49374998f, 0.287499994f, 0.185937494f, -0.095312506f, -0.017187506f,
    -1.44687498f, 0.529687524f, -1.24374998f, -0.853124976f, 0.553125024f, -0.915624976f,
    0.670312524f, -0.071875006f, 0.5390625f, 1.4921875f, -0.2109375f, 1.46875f, -1.5234375f,
    0.3359375f, -0.1484375f, -0.3671875f, 1.2578125f, -0.59375f, 0.96875f, 0.734375f, -0.578125f,
    1.0859375f, -0.560937524f, 0.0874999762f, -2.3109374f, -0.0453125238f, -0.834375024f,
    -1.44375002f, -0.0531250238f, -1.53750002f, -0.100000024f, -0.475000024f, -1.14687502f,
    0.517187476f, -3.0296874f, 0.110937476f, 0.264062494f, 0.349999994f, 0.889062524f,
    -0.728124976f, -0.728124976f, 1.06875002f, 0.209374994f, -0.118749999f, -0.603124976f,
    0.889062524f, 1.27968752f, -1.74374998f, -0.275000006f, 1.26406252f, -0.121875003f,
    -0.465624988f, -0.848437488f, 0.393750012f, -0.879687488f, 0.182812497f, -0.184375003f,
    0.643750012f, -0.153125003f, 0.487500012f, 0.378125012f, -0.629687488f, -0.200000003f,
    0.753125012f, 0.425000012f, 0.315625012f, -1.78593755f, 1.12031245f, 0.432812512f,
    -0.434374988f, 0.487500012f, 0.479687512f, 1.22968745f, 0.487500012f, -0.121874988f,
    0.885937512f, 0.276562512f, 0.378125012f, -0.275000006f, -1.40781248f, 0.318749994f,
    0.217187494f, -1.14218748f, 0.014062494f, -0.243750006f, 0.646875024f, -1.12656248f,
    -2.2671876f, 0.576562524f, 0.00624999404f, 0.693750024f, -0.165625006f, 0.453125f, 1.40625f,
    -0.2578125f, 1.421875f, -0.1328125f, 0.2890625f, 0.609375f, -0.5078125f, 1.1171875f,
    0.390625f, 0.875f, 1, -0.671875f, 1.1328125f, -0.553125024f, 0.0953124762f, -2.3031249f,
    -0.0375000238f, 0.0718749762f, -1.43593752f, 0.126562476f, -1.53750002f, -0.100000024f,
    0.118749976f, -1.09218752f, 0.392187476f, -2.9749999f, 0.165624976f
};
static const float all_dx[240] = {
    -0.234375f, 0.5625f, -0.1875f, -0.9375f, 0.375f, -0.09375f, -1.4375f, -1.8125f, 0.90625f,
    0.015625f, -0.015625f, 0.890625f, 0.1875f, -0.046875f, 0.578125f, 0, -0.234375f, -0.09375f,
    -0.1875f, 0.140625f, 0.125f, 0.109375f, -0.9375f, 0.0625f, 0, 0, 0, 0, 0, 0, -1.015625f,
    -0.546875f, 0.265625f, 0.390625f, -0.34375f, 0.421875f, 0.90625f, 0.03125f, 0.53125f,
    0.34375f, -0.1875f, -0.515625f, -0.140625f, -0.015625f, 0.28125f, 0.0625f, -1.015625f,
    0.109375f, 0.015625f, 0.4375f, -0.171875f, -0.09375f, 0.671875f, 0, 0, 0, 0, 0, 0, 0, 0.125f,
    0.109375f, -0.9375f, -0.78125f, 0.40625f, -0.265625f, 0.359375f, 0.03125f, -0.125f, 0.75f,
    0.25f, 0, 0.703125f, 0.515625f, -0.1875f, 0.140625f, 0.125f, 0.390625f, -0.609375f, 0.15625f,
    0.234375f, -0.203125f, 0.734375f, -0.1875f, 0, 0, 0, 0, 0, 0, -0.171875f, -0.09375f,
    0.671875f, 0.234375f, -0.203125f, 0.28125f, 0.90625f, 0.609375f, -1.234375f, -0.328125f,
    0.40625f, 0.40625f, -0.3125f, -1.09375f, 0.015625f, 0.4375f, -0.171875f, -0.28125f, 0.234375f,
    0.671875f, -0.09375f, -0.171875f, 0.4375f, 0.203125f, 0, 0, 0, 0, 0, 0, 0.1875f, -0.046875f,
    0.578125f, 0, -0.234375f, -0.09375f, 1.265625f, -0.484375f, 0, 1.34375f, -1.4375f, -1.34375f,
    -0.9375f, 0.375f, -0.375f, 0.078125f, 0.1875f, 0.421875f, 0.390625f, -0.484375f, 0.703125f,
    0.515625f, -0.1875f, -0.140625f, 0, 0, 0, 0, 0, 0, -0.140625f, -0.015625f, 0.28125f, 0.0625f,
    -1.015625f, 0.109375f, -0.921875f, 0.953125f, -0.78125f, 0.0625f, 0.90625f, 0.359375f,
    0.390625f, -0.34375f, 0.46875f, 0.59375f, -0.140625f, -0.203125f, 0.390625f, 0.125f, -0.3125f,
    -1.09375f, 0.015625f, 0.296875f, 0, 0, 0, 0, 0, 0, 0.703125f, 0.515625f, -0.1875f, 0.140625f,
    0.125f, 0.390625f, -0.046875f, -0.03125f, -0.703125f, 0.171875f, 0.359375f, -0.28125f,
    -0.78125f, 0.40625f, 0.390625f, -0.484375f, 0.703125f, -0.15625f, 0.796875f, -0.328125f,
    -0.9375f, 0.515625f, -0.609375f, 0.046875f, 0, 0, 0, 0, 0, 0, -0.3125f, -1.09375f, 0.015625f,
    0.4375f, -0.171875f, -0.28125f, -0.3125f, 0.9375f, 0.296875f, -0.515625f, 0.90625f, 0.1875f,
    0.234375f, -0.203125f, 0.390625f, 0.125f, -0.3125f, 0.1875f, -0.3125f, 0.125f, 0.390625f,
    -0.203125f, 0.234375f, 0.125f, 0, 0, 0, 0, 0, 0
};
static const float all_dw[72] = {
    -2.15625f, 2.28125f, 1.84375f, -0.34375f, 0.65625f, 0.46875f, 0.875f, 4.78125f, -0.5f,
    0.84375f, 2.625f, -5.53125f, 0.84375f, -1.25f, 0.28125f, -1.5f, 1.46875f, -1.5f, -2.40625f,
    3.21875f, 2.625f, -2.21875f, -0.5f, -1.5f, 1.09375f, -1.34375f, -2.3125f, 3.1875f, 4,
    -5.53125f, -0.53125f, -0.75f, 2.65625f, 0.5625f, -3.96875f, 0.46875f, -3.03125f, 1.03125f,
    4.875f, -4.28125f, -2.25f, 1.875f, -0.875f, 0.71875f, -1.28125f, 0.625f, 3.8125f, -2.5625f,
    -1.53125f, 1.84375f, -0.0625f, -2.75f, 0.34375f, 1.625f, 2.25f, 0.71875f, -0.1875f, -3.15625f,
    4.53125f, -1.65625f, 1.34375f, -1.125f, -2.59375f, -2.59375f, 0.1875f, -2.75f, -1.15625f, -1,
    1.25f, 1.65625f, 0.4375f, -2.8125f
};
static const float all_db[6] = {
    -1.5f, -0.25f, 1, -0.5f, 0.75f, -0.75f
};

TEST(conv2d_all_options_forward_backward_match_torch)
{
    static const float bv[6] = {0.1f, -0.2f, 0.3f, -0.4f, 0.5f, -0.6f};
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = seq_t(4, DC_SHAPE(2, 4, 5, 6), 37, 23, 11, 8);
    dc_tensor *w = seq_t(4, DC_SHAPE(6, 2, 3, 2), 13, 17, 8, 16);
    dc_tensor *b = from(1, DC_SHAPE(6), bv);
    dc_tensor *dy = seq_t(4, DC_SHAPE(2, 6, 2, 7), 7, 11, 5, 4);
    REQUIRE(ctx && x && w && b && dy);
    REQUIRE(dc_tensor_requires_grad(x) == DC_OK && dc_tensor_requires_grad(w) == DC_OK &&
            dc_tensor_requires_grad(b) == DC_OK);
    dc_conv2d_opts o = {.stride_h = 2, .stride_w = 1, .pad_top = 1, .pad_bottom = 0,
                        .pad_left = 2, .pad_right = 1, .dilation_h = 1, .dilation_w = 2,
                        .groups = 2};
    dc_tensor *y = dc_conv2d(ctx, x, w, b, &o);
    REQUIRE(y);
    CHECK(shape_is(y, 2, 6, 2, 7), "output must be [2, 6, 2, 7]");
    CHECK_ALLCLOSE("y", dc_f32(y), all_y, 168, 1e-5, 1e-6);
    REQUIRE(dc_backward_with(ctx, y, dy) == DC_OK);
    CHECK_ALLCLOSE("dx", x->grad, all_dx, 240, 1e-5, 1e-6);
    CHECK_ALLCLOSE("dw", w->grad, all_dw, 72, 1e-5, 1e-6);
    CHECK_ALLCLOSE("db", b->grad, all_db, 6, 1e-5, 1e-6);
    dc_tensor_free(x);
    dc_tensor_free(w);
    dc_tensor_free(b);
    dc_tensor_free(dy);
    dc_ctx_free(ctx);
}

/* ---- size formulas ---- */

TEST(conv_out_size_and_same_padding)
{
    CHECK(dc_conv_out_size(28, 5, 1, 1, 2, 2) == 28, "LeNet conv1 keeps 28");
    CHECK(dc_conv_out_size(14, 5, 1, 1, 0, 0) == 10, "LeNet conv2 gives 10");
    CHECK(dc_conv_out_size(5, 3, 2, 1, 1, 1) == 3, "5, k3, p1, s2 gives 3");
    CHECK(dc_conv_out_size(7, 3, 2, 2, 0, 0) == 2, "7, k3, d2, s2 gives 2");
    CHECK(dc_conv_out_size(3, 5, 1, 1, 0, 0) < 1, "a kernel larger than the input gives < 1");
    int before = -1, after = -1;
    dc_same_padding(5, 3, 2, 1, &before, &after); /* out 3, total 2 */
    CHECK(before == 1 && after == 1, "same(5,k3,s2) = 1,1, got %d,%d", before, after);
    dc_same_padding(6, 3, 2, 1, &before, &after); /* out 3, total 1: the odd pixel at the end */
    CHECK(before == 0 && after == 1, "same(6,k3,s2) = 0,1, got %d,%d", before, after);
    dc_same_padding(5, 4, 1, 1, &before, &after); /* total 3 */
    CHECK(before == 1 && after == 2, "same(5,k4,s1) = 1,2, got %d,%d", before, after);
    dc_same_padding(32, 3, 1, 1, &before, &after); /* the notes: 32x32, k3, same -> 32 */
    CHECK(before == 1 && after == 1, "same(32,k3,s1) = 1,1, got %d,%d", before, after);
    dc_same_padding(5, 1, 3, 1, &before, &after); /* out 2: (2-1)·3 + 1 - 5 < 0 -> 0 */
    CHECK(before == 0 && after == 0, "same(5,k1,s3) = 0,0, got %d,%d", before, after);
    /* "same" gives ceil(in/stride) for every size, kernel, stride and dilation tried */
    for (int64_t in = 1; in <= 33; in++)
        for (int k = 1; k <= 5; k++)
            for (int s = 1; s <= 3; s++)
                for (int d = 1; d <= 2; d++) {
                    dc_same_padding(in, k, s, d, &before, &after);
                    int64_t out = dc_conv_out_size(in, k, s, d, before, after);
                    if (out != (in + s - 1) / s || before > after || after - before > 1)
                        CHECK(0, "same padding in %lld k %d s %d d %d: pad %d,%d out %lld",
                              (long long)in, k, s, d, before, after, (long long)out);
                }
}

/* The notes: a 32x32x3 image through Conv2D(100, 3, same) has 3·3·3·100 + 100 = 2800 parameters
 * and stays 32x32. */
TEST(conv2d_module_names_params_and_same_output)
{
    dc_model *m = dc_model_new();
    dc_rng r;
    dc_rng_seed(&r, 1, 1);
    dc_conv2d_opts o = dc_conv2d_defaults();
    o.pad_top = o.pad_bottom = o.pad_left = o.pad_right = 1;
    dc_module *c = dc_conv2d_new(m, "conv1", 3, 100, 3, 3, &o, 1, &r);
    REQUIRE(m && c && dc_model_add(m, c) == DC_OK);
    CHECK(dc_model_n_trainable(m) == 2800, "2800 parameters, got %lld",
          (long long)dc_model_n_trainable(m));
    dc_tensor *w = dc_model_find(m, "conv1.weight"), *b = dc_model_find(m, "conv1.bias");
    REQUIRE(w && b);
    CHECK(shape_is(w, 100, 3, 3, 3), "conv1.weight must be [100, 3, 3, 3]");
    float bound = 1.0f / sqrtf(27.0f), mx = 0;
    for (int64_t i = 0; i < w->numel; i++)
        mx = fabsf(dc_f32(w)[i]) > mx ? fabsf(dc_f32(w)[i]) : mx;
    CHECK(mx <= bound && mx > 0.9f * bound, "init U(±1/√27): max |w| %g", (double)mx);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_zeros(ctx, DC_F32, 4, DC_SHAPE(2, 3, 32, 32));
    dc_tensor *y = dc_model_forward(ctx, m, x);
    REQUIRE(y);
    CHECK(shape_is(y, 2, 100, 32, 32), "output must be [2, 100, 32, 32]");
    CHECK_NEAR(dc_f32(y)[5 * 1024 + 17], dc_f32(b)[5], 0); /* zero input: the bias */
    dc_ctx_free(ctx);
    dc_model_free(m);
}

/* ---- pooling forward ---- */

TEST(pooling_matches_torch)
{
    static const float maxp[6] = {1.125f, 1, 1.25f, 0.875f, 1.375f, 1};
    static const float maxp2[12] = {1.125f, 1, 0.625f, 1.25f, 0.875f, 0.75f,
                                    1.375f, -0.125f, 0.5f, 1.125f, 0, 0.625f};
    static const float avg_inc[12] = {-0.333333343f, 0.125f, 0.0625f, 0, 0.0625f, -0.125f,
                                      0.020833334f, 0.166666672f, -0.0625f, -0.291666657f,
                                      0.125f, 0.0625f};
    static const float avg_exc[12] = {-1, 0.1875f, 0.09375f, 0, 0.125f, -0.125f, 0.020833334f,
                                      0.166666672f, -0.1875f, -0.4375f, 0.1875f, 0.09375f};
    static const float avg_ceil[6] = {-0.152777776f, 0.152777776f, 0.138888896f, -0.25f,
                                      0.055555556f, 0.0416666679f};
    static const float ada32[6] = {-0.171875f, 0.046875f, -0.125f, 0.09375f, -0.078125f,
                                   0.140625f};
    static const float ada44[16] = {-0.125f, 0.104166664f, -0.229166672f, 0, -0.09375f,
                                    -0.104166664f, 0.0416666679f, 0.03125f, -0.0625f, -0.3125f,
                                    0.3125f, 0.0625f, -0.03125f, -0.0416666679f, 0.104166664f,
                                    0.09375f};
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = seq_t(4, DC_SHAPE(1, 1, 5, 7), 37, 23, 11, 8);
    REQUIRE(ctx && x);
    /* k3 s3 p1 ceil on 5x7: H gives 3 by the formula, then (3-1)·3 >= 5+1 drops it to 2 */
    dc_pool2d_opts o = {.kh = 3, .kw = 3, .stride_h = 3, .stride_w = 3, .pad_h = 1, .pad_w = 1,
                        .ceil_mode = 1};
    dc_tensor *y = dc_max_pool2d(ctx, x, &o);
    REQUIRE(y);
    CHECK(shape_is(y, 1, 1, 2, 3), "max k3 s3 p1 ceil on 5x7 -> 2x3");
    CHECK_ALLCLOSE("max k3 s3 p1 ceil", dc_f32(y), maxp, 6, 0, 0);
    o = dc_pool2d_defaults(2);
    o.ceil_mode = 1;
    y = dc_max_pool2d(ctx, x, &o);
    REQUIRE(y);
    CHECK(shape_is(y, 1, 1, 3, 4), "max k2 ceil on 5x7 -> 3x4");
    CHECK_ALLCLOSE("max k2 ceil", dc_f32(y), maxp2, 12, 0, 0);
    o = (dc_pool2d_opts){.kh = 3, .kw = 2, .stride_h = 2, .stride_w = 2, .pad_h = 1,
                         .pad_w = 1, .ceil_mode = 1, .count_include_pad = 1};
    y = dc_avg_pool2d(ctx, x, &o);
    REQUIRE(y);
    CHECK(shape_is(y, 1, 1, 3, 4), "avg k3x2 s2 p1 ceil on 5x7 -> 3x4");
    CHECK_ALLCLOSE("avg include pad", dc_f32(y), avg_inc, 12, 1e-6, 1e-7);
    o.count_include_pad = 0;
    y = dc_avg_pool2d(ctx, x, &o);
    REQUIRE(y);
    CHECK_ALLCLOSE("avg exclude pad", dc_f32(y), avg_exc, 12, 1e-6, 1e-7);
    o = (dc_pool2d_opts){.kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2, .ceil_mode = 1,
                         .count_include_pad = 1};
    y = dc_avg_pool2d(ctx, x, &o);
    REQUIRE(y);
    CHECK(shape_is(y, 1, 1, 2, 3), "avg k3 s2 ceil on 5x7 -> 2x3");
    CHECK_ALLCLOSE("avg ceil", dc_f32(y), avg_ceil, 6, 1e-6, 1e-7);
    y = dc_adaptive_avg_pool2d(ctx, x, 3, 2);
    REQUIRE(y);
    CHECK_ALLCLOSE("adaptive 3x2", dc_f32(y), ada32, 6, 1e-6, 1e-7);
    y = dc_adaptive_avg_pool2d(ctx, x, 4, 4);
    REQUIRE(y);
    CHECK_ALLCLOSE("adaptive 4x4", dc_f32(y), ada44, 16, 1e-6, 1e-7);
    dc_tensor_free(x);
    dc_ctx_free(ctx);
}

/* Overlapping windows (stride 1) and gaps between windows (stride 3 > kernel 2). */
TEST(pooling_overlapping_and_gapped_windows_match_torch)
{
    static const float max_k3s1p1[35] = {
        1.125f, 1.125f, 1.125f, 1, 1, 1.25f, 1.25f, 1.125f, 1.125f, 1.125f, 1.375f, 1.375f,
        1.375f, 1.25f, 1.125f, 1.125f, 1.125f, 1.375f, 1.375f, 1.375f, 1.25f, 0.875f, 0.875f,
        1.125f, 1.375f, 1.375f, 1.375f, 1, 0.875f, 0.875f, 1.125f, 1.125f, 1.125f, 1, 1};
    static const float avg_k3s1p1_exc[35] = {
        -0.125f, -0.208333328f, 0.104166664f, -0.0625f, -0.229166672f, 0.0833333358f, 0,
        -0.229166672f, -0.152777776f, 0, 0.152777776f, -0.013888889f, 0.138888896f,
        -0.104166664f, 0.0416666679f, -0.0416666679f, -0.208333328f, -0.055555556f,
        0.0972222239f, 0.25f, 0.166666672f, -0.166666672f, -0.25f, -0.0972222239f, 0.055555556f,
        0.208333328f, 0.0416666679f, -0.0416666679f, -0.03125f, -0.354166657f, -0.0416666679f,
        -0.208333328f, 0.104166664f, -0.0625f, 0.09375f};
    static const float max_k2s3[4] = {1.125f, 1, 0.875f, 1.125f};
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = seq_t(4, DC_SHAPE(1, 1, 5, 7), 37, 23, 11, 8), *y;
    REQUIRE(ctx && x);
    dc_pool2d_opts o = {.kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
    y = dc_max_pool2d(ctx, x, &o);
    REQUIRE(y);
    CHECK(shape_is(y, 1, 1, 5, 7), "max k3 s1 p1 keeps 5x7");
    CHECK_ALLCLOSE("max k3 s1 p1", dc_f32(y), max_k3s1p1, 35, 0, 0);
    y = dc_avg_pool2d(ctx, x, &o); /* count_include_pad = 0 here */
    REQUIRE(y);
    CHECK_ALLCLOSE("avg k3 s1 p1 exclude pad", dc_f32(y), avg_k3s1p1_exc, 35, 1e-6, 1e-7);
    o = (dc_pool2d_opts){.kh = 2, .kw = 2, .stride_h = 3, .stride_w = 3};
    y = dc_max_pool2d(ctx, x, &o);
    REQUIRE(y);
    CHECK(shape_is(y, 1, 1, 2, 2), "max k2 s3 on 5x7 -> 2x2");
    CHECK_ALLCLOSE("max k2 s3", dc_f32(y), max_k2s3, 4, 0, 0);
    dc_tensor_free(x);
    dc_ctx_free(ctx);
}

/* Ties go to the first maximum (row-major in the window); dx routes there only. */
TEST(max_pool2d_ties_route_to_first)
{
    static const float v[4] = {2, 2, 2, 2};
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = from(4, DC_SHAPE(1, 1, 2, 2), v);
    REQUIRE(ctx && x && dc_tensor_requires_grad(x) == DC_OK);
    dc_pool2d_opts o = dc_pool2d_defaults(2);
    dc_tensor *y = dc_max_pool2d(ctx, x, &o);
    REQUIRE(y);
    REQUIRE(dc_backward(ctx, y) == DC_OK);
    CHECK(x->grad[0] == 1 && x->grad[1] == 0 && x->grad[2] == 0 && x->grad[3] == 0,
          "gradient must go to element 0 only: %g %g %g %g", (double)x->grad[0],
          (double)x->grad[1], (double)x->grad[2], (double)x->grad[3]);
    /* a NaN in a window wins, and a later larger value does not replace it (PyTorch) */
    static const float nan_in[8] = {1, NAN, 5, 2, 3, 4, 0, NAN};
    dc_tensor *xn = from(4, DC_SHAPE(1, 1, 2, 4), nan_in);
    REQUIRE(xn);
    dc_tensor *yn = dc_max_pool2d(ctx, xn, &o);
    REQUIRE(yn);
    CHECK(isnan(dc_f32(yn)[0]) && isnan(dc_f32(yn)[1]), "NaN windows must give NaN: %g %g",
          (double)dc_f32(yn)[0], (double)dc_f32(yn)[1]);
    dc_tensor_free(xn);
    dc_tensor_free(x);
    dc_ctx_free(ctx);
}

/* ---- batch norm ---- */

/* BatchNorm2d(3) with weight (1.5, 0.5, -1), bias (0.1, 0.2, 0.3): the output of the second
 * training batch, and the eval output for the first batch after two training steps (torch). */
static const float bn_y2[72] = {
    -1.72950733f, 0.947820544f, -1.46177471f, 1.21555328f, -1.19404185f, 1.48328602f,
    -0.340297133f, 0.68884027f, -0.237383395f, 0.791754007f, -0.134469643f, 0.894667745f,
    1.38059425f, -0.677680433f, 1.17476678f, -0.883507967f, 0.968939304f, -1.08933544f,
    0.680087686f, -1.72950733f, 0.947820544f, -1.46177471f, 1.21555328f, -1.19404185f,
    0.585926533f, -0.340297133f, 0.68884027f, -0.237383395f, 0.791754007f, -0.134469643f,
    -0.471853048f, 1.38059425f, -0.677680433f, 1.17476678f, -0.883507967f, 0.968939304f,
    3.08968282f, 0.680087686f, -1.72950733f, 0.947820544f, -1.46177471f, 1.21555328f,
    -0.44321084f, 0.585926533f, -0.340297133f, 0.68884027f, -0.237383395f, 0.791754007f,
    1.58642173f, -0.471853048f, 1.38059425f, -0.677680433f, 1.17476678f, -0.883507967f,
    0.412354916f, 3.08968282f, 0.680087686f, -1.72950733f, 0.947820544f, -1.46177471f,
    0.483012795f, -0.44321084f, 0.585926533f, -0.340297133f, 0.68884027f, -0.237383395f,
    -0.266025513f, 1.58642173f, -0.471853048f, 1.38059425f, -0.677680433f, 1.17476678f
};
static const float bn_eval[72] = {
    -1.94389045f, 0.653980494f, -1.01607943f, 1.58179152f, -0.0882683247f, -1.7583282f,
    0.441044807f, -0.131545946f, 0.759150743f, 0.18656002f, -0.386030734f, 0.504665971f,
    0.882010221f, -0.899004698f, 0.245933473f, 1.39087164f, -0.390143305f, 0.754794896f,
    2.13847828f, 0.4684183f, -1.20164156f, 1.39622939f, -0.273830533f, -1.94389045f, 0.377423584f,
    -0.195167139f, 0.69552958f, 0.122938827f, -0.449651897f, 0.441044807f, 1.00922561f,
    -0.771789372f, 0.373148829f, 1.51808703f, -0.262927949f, 0.882010221f, 1.95291591f,
    0.282856107f, -1.38720381f, 1.21066713f, -0.459392726f, 2.13847828f, 0.313802421f,
    -0.258788347f, 0.631908357f, 0.0593176335f, -0.51327312f, 0.377423584f, 1.13644099f,
    -0.644574046f, 0.500364184f, 1.64530241f, -0.135712594f, 1.00922561f, 1.76735377f,
    0.0972938836f, -1.57276595f, 1.02510488f, -0.64495492f, 1.95291591f, 0.250181198f,
    -0.322409511f, 0.568287194f, -0.00430355966f, 0.88639313f, 0.313802421f, 1.26365638f,
    -0.517358661f, 0.62757957f, 1.77251768f, -0.00849723816f, 1.13644099f
};

TEST(batch_norm_running_stats_two_steps_and_eval)
{
    static const float bn_rm[3] = {0.00182291749f, 0.0264062509f, 0.0718749985f};
    static const float bn_rv[3] = {1.02098477f, 0.965054512f, 0.965464652f};
    static const float gv[3] = {1.5f, 0.5f, -1.0f}, bv[3] = {0.1f, 0.2f, 0.3f};
    dc_model *m = dc_model_new();
    dc_module *bn = dc_batch_norm_new(m, "bn1", 3, 0.1f, 1e-5, 1);
    REQUIRE(m && bn && dc_model_add(m, bn) == DC_OK);
    dc_tensor *g = dc_model_find(m, "bn1.weight"), *b = dc_model_find(m, "bn1.bias");
    dc_tensor *rm = dc_model_find(m, "bn1.running_mean"), *rv = dc_model_find(m, "bn1.running_var");
    dc_tensor *nbt = dc_model_find(m, "bn1.num_batches_tracked");
    REQUIRE(g && b && rm && rv && nbt);
    CHECK(nbt->dtype == DC_I64 && nbt->ndim == 0 && nbt->numel == 1,
          "num_batches_tracked must be an int64 scalar of shape []");
    CHECK(dc_f32(g)[2] == 1 && dc_f32(b)[2] == 0 && dc_f32(rm)[2] == 0 && dc_f32(rv)[2] == 1,
          "init: weight 1, bias 0, running_mean 0, running_var 1");
    int n_buf = 0;
    for (int i = 0; i < dc_model_n_tensors(m); i++)
        n_buf += dc_model_is_buffer(m, i);
    CHECK(n_buf == 3 && dc_model_n_trainable(m) == 6, "3 buffers and 6 trainable scalars");
    memcpy(g->data, gv, sizeof gv);
    memcpy(b->data, bv, sizeof bv);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x1 = seq_t(4, DC_SHAPE(4, 3, 2, 3), 37, 23, 11, 8);
    dc_tensor *x2 = seq_t(4, DC_SHAPE(4, 3, 2, 3), 29, 19, 7, 5);
    REQUIRE(ctx && x1 && x2);
    dc_ctx_set_training(ctx, 1);
    REQUIRE(dc_model_forward(ctx, m, x1));
    dc_tensor *y2 = dc_model_forward(ctx, m, x2);
    REQUIRE(y2);
    CHECK_ALLCLOSE("train y (2nd batch)", dc_f32(y2), bn_y2, 72, 1e-5, 1e-5);
    CHECK_ALLCLOSE("running_mean", dc_f32(rm), bn_rm, 3, 1e-5, 1e-7);
    CHECK_ALLCLOSE("running_var", dc_f32(rv), bn_rv, 3, 1e-5, 1e-7);
    CHECK(dc_i64(nbt)[0] == 2, "num_batches_tracked %lld, expected 2", (long long)dc_i64(nbt)[0]);
    dc_ctx_set_training(ctx, 0);
    dc_tensor *ye = dc_model_forward(ctx, m, x1);
    REQUIRE(ye);
    CHECK_ALLCLOSE("eval y uses running stats", dc_f32(ye), bn_eval, 72, 1e-5, 1e-5);
    CHECK(dc_i64(nbt)[0] == 2, "eval must not count batches");
    dc_tensor_free(x1);
    dc_tensor_free(x2);
    dc_ctx_free(ctx);
    dc_model_free(m);
}

TEST(batch_norm_1d_momentum_eps)
{
    static const float bn1_y[10] = {-1.41330934f, 0.608299851f, -0.706654668f, 1.40869439f, 0,
                                    -1.47272599f, 0.706654668f, -0.672331452f, 1.41330934f,
                                    0.128063127f};
    static const float bn1_rm[2] = {-0.0375000015f, -0.0300000012f};
    static const float bn1_rv[2] = {0.992968738f, 0.928281248f};
    static const float ones[2] = {1, 1};
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = seq_t(2, DC_SHAPE(5, 2), 37, 23, 11, 8);
    dc_tensor *rm = dc_tensor_new(DC_F32, 1, DC_SHAPE(2)), *rv = from(1, DC_SHAPE(2), ones);
    dc_tensor *nbt = dc_tensor_new(DC_I64, 0, NULL);
    REQUIRE(ctx && x && rm && rv && nbt);
    dc_ctx_set_training(ctx, 1);
    dc_tensor *y = dc_batch_norm(ctx, x, NULL, NULL, rm, rv, nbt, 0.3f, 1e-3f);
    REQUIRE(y);
    CHECK_ALLCLOSE("bn1d y", dc_f32(y), bn1_y, 10, 1e-5, 1e-6);
    CHECK_ALLCLOSE("bn1d running_mean", dc_f32(rm), bn1_rm, 2, 1e-5, 1e-7);
    CHECK_ALLCLOSE("bn1d running_var", dc_f32(rv), bn1_rv, 2, 1e-5, 1e-7);
    CHECK(dc_i64(nbt)[0] == 1, "one batch tracked");
    dc_tensor_free(x);
    dc_tensor_free(rm);
    dc_tensor_free(rv);
    dc_tensor_free(nbt);
    dc_ctx_free(ctx);
}

/* ---- errors ---- */

static void expect_err(dc_tensor *y, const char *const *parts, int n, const char *what)
{
    const char *msg = dc_last_error();
    CHECK(y == NULL, "%s: expected failure", what);
    for (int i = 0; i < n; i++)
        CHECK(strstr(msg, parts[i]) != NULL, "%s: message '%s' lacks '%s'", what, msg, parts[i]);
}

TEST(conv_pool_bn_errors_name_the_shapes)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_zeros(ctx, DC_F32, 4, DC_SHAPE(1, 3, 5, 5));
    dc_tensor *w = dc_zeros(ctx, DC_F32, 4, DC_SHAPE(2, 4, 3, 3));
    dc_tensor *w1 = dc_zeros(ctx, DC_F32, 4, DC_SHAPE(2, 1, 3, 3));
    dc_tensor *wbig = dc_zeros(ctx, DC_F32, 4, DC_SHAPE(1, 3, 7, 7));
    dc_tensor *b3 = dc_zeros(ctx, DC_F32, 1, DC_SHAPE(3));
    REQUIRE(ctx && x && w && w1 && wbig && b3);
    dc_clear_error();
    dc_tensor *y = dc_conv2d(ctx, x, w, NULL, NULL);
    expect_err(y, (const char *[]){"[1, 3, 5, 5]", "[2, 4, 3, 3]", "channels"},
               3, "channel mismatch");
    dc_conv2d_opts o = dc_conv2d_defaults();
    o.groups = 2;
    y = dc_conv2d(ctx, x, w1, NULL, &o);
    expect_err(y, (const char *[]){"[1, 3, 5, 5]", "[2, 1, 3, 3]", "groups 2"}, 3,
               "groups not dividing");
    o = dc_conv2d_defaults();
    o.pad_top = 1;
    y = dc_conv2d(ctx, x, wbig, NULL, &o);
    expect_err(y, (const char *[]){"[1, 3, 5, 5]", "[1, 3, 7, 7]", "6x5"}, 3,
               "kernel larger than padded input");
    y = dc_conv2d(ctx, x, w1, b3, NULL); /* w1 expects 1 channel */
    CHECK(y == NULL, "mismatch with bias must fail");
    /* the residual of dc_conv2d_add must have the output's shape: [1, 1, 3, 3] here */
    dc_tensor *w3 = dc_zeros(ctx, DC_F32, 4, DC_SHAPE(1, 3, 3, 3));
    dc_tensor *r_bad = dc_zeros(ctx, DC_F32, 4, DC_SHAPE(1, 1, 3, 4));
    dc_tensor *r_ok = dc_zeros(ctx, DC_F32, 4, DC_SHAPE(1, 1, 3, 3));
    REQUIRE(w3 && r_bad && r_ok);
    y = dc_conv2d_add(ctx, x, w3, NULL, r_bad, NULL);
    expect_err(y, (const char *[]){"residual", "[1, 1, 3, 3]", "[1, 1, 3, 4]"}, 3,
               "residual of the wrong shape");
    CHECK(dc_conv2d_add(ctx, x, w3, NULL, r_ok, NULL) != NULL, "a residual of the right shape");
    /* NULL in, NULL out, error untouched */
    dc_clear_error();
    CHECK(dc_conv2d(ctx, NULL, w, NULL, NULL) == NULL && dc_last_error()[0] == '\0',
          "a NULL input propagates without an error");
    CHECK(dc_max_pool2d(ctx, NULL, NULL) == NULL && dc_batch_norm(ctx, NULL, NULL, NULL, NULL,
          NULL, NULL, 0.1f, 1e-5f) == NULL && dc_last_error()[0] == '\0',
          "pool / batch norm propagate NULL");
    dc_pool2d_opts po = dc_pool2d_defaults(3);
    po.pad_h = 2;
    y = dc_max_pool2d(ctx, x, &po);
    expect_err(y, (const char *[]){"half"}, 1, "pool padding > k/2");
    po = dc_pool2d_defaults(7);
    y = dc_avg_pool2d(ctx, x, &po);
    expect_err(y, (const char *[]){"[1, 3, 5, 5]"}, 1, "pool window too large");
    /* batch norm with one value per channel in training mode (PyTorch's message) */
    dc_tensor *x1 = dc_zeros(ctx, DC_F32, 2, DC_SHAPE(1, 3));
    dc_tensor *rm = dc_zeros(ctx, DC_F32, 1, DC_SHAPE(3)), *rv = dc_zeros(ctx, DC_F32, 1,
                                                                          DC_SHAPE(3));
    REQUIRE(x1 && rm && rv);
    dc_ctx_set_training(ctx, 1);
    y = dc_batch_norm(ctx, x1, NULL, NULL, rm, rv, NULL, 0.1f, 1e-5f);
    expect_err(y, (const char *[]){"Expected more than 1 value per channel when "
               "training", "[1, 3]"}, 2, "batch norm N·L = 1");
    dc_ctx_set_training(ctx, 0);
    CHECK(dc_batch_norm(ctx, x1, NULL, NULL, rm, rv, NULL, 0.1f, 1e-5f) != NULL,
          "one value per channel is fine in eval mode: %s", dc_last_error());
    y = dc_batch_norm(ctx, x, b3, NULL, rm, NULL, NULL, 0.1f, 1e-5f);
    CHECK(y == NULL, "running_mean without running_var must fail");
    y = dc_batch_norm(ctx, x, w1, NULL, NULL, NULL, NULL, 0.1f, 1e-5f);
    expect_err(y, (const char *[]){"weight", "[1, 3, 5, 5]"}, 2, "bad weight");
    y = dc_batch_norm_add_relu(ctx, x, NULL, NULL, rm, rv, NULL, 0.1f, 1e-5f, x1, 1);
    expect_err(y, (const char *[]){"residual", "[1, 3, 5, 5]", "[1, 3]"}, 3,
               "batch norm residual of another shape");
    dc_ctx_free(ctx);
}

/* ---- the recompute path == the keep-columns path ---- */

/* conv2d of the whole batch against one image at a time (same x, w, b, dy), 3x3 padding 1. */
static void batch_vs_images(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = seq_t(4, DC_SHAPE(N, C, H, W), 37, 23, 11, 8);
    dc_tensor *w = seq_t(4, DC_SHAPE(O, C, 3, 3), 13, 17, 8, 16);
    dc_tensor *b = seq_t(1, DC_SHAPE(O), 3, 5, 2, 4);
    dc_tensor *dy = seq_t(4, DC_SHAPE(N, O, H, W), 7, 11, 5, 4);
    float *ref = malloc(sizeof(float) * (size_t)(N * O * H * W));
    float *dx_ref = calloc((size_t)x->numel, sizeof(float));
    float *dw_ref = calloc((size_t)w->numel, sizeof(float));
    REQUIRE(ctx && x && w && b && dy && ref && dx_ref && dw_ref);
    REQUIRE(dc_tensor_requires_grad(x) == DC_OK && dc_tensor_requires_grad(w) == DC_OK);
    dc_conv2d_opts o = dc_conv2d_defaults();
    o.pad_top = o.pad_bottom = o.pad_left = o.pad_right = 1;
    const int64_t xs = C * H * W, ys = O * H * W;
    for (int64_t n = 0; n < N; n++) {
        dc_ctx_reset(ctx);
        dc_tensor *xn = dc_wrap(ctx, DC_F32, 4, DC_SHAPE(1, C, H, W), dc_f32(x) + n * xs);
        dc_tensor *dyn = dc_wrap(ctx, DC_F32, 4, DC_SHAPE(1, O, H, W), dc_f32(dy) + n * ys);
        REQUIRE(xn && dyn);
        xn->grad = dx_ref + n * xs; /* a leaf that accumulates into our buffer */
        xn->flags |= DC_TF_REQUIRES_GRAD;
        dc_tensor *yn = dc_conv2d(ctx, xn, w, b, &o);
        REQUIRE(yn && dc_backward_with(ctx, yn, dyn) == DC_OK);
        memcpy(ref + n * ys, yn->data, sizeof(float) * (size_t)ys);
    }
    memcpy(dw_ref, w->grad, sizeof(float) * (size_t)w->numel);
    dc_tensor_zero_grad(w);
    dc_ctx_reset(ctx);
    dc_tensor *y = dc_conv2d(ctx, x, w, b, &o);
    REQUIRE(y && dc_backward_with(ctx, y, dy) == DC_OK);
    CHECK_ALLCLOSE("y", dc_f32(y), ref, N * ys, 1e-5, 1e-5);
    CHECK_ALLCLOSE("dx", x->grad, dx_ref, x->numel, 1e-5, 1e-5);
    CHECK_ALLCLOSE("dw", w->grad, dw_ref, w->numel, 1e-4, 1e-3);
    free(ref);
    free(dx_ref);
    free(dw_ref);
    dc_tensor_free(x);
    dc_tensor_free(w);
    dc_tensor_free(b);
    dc_tensor_free(dy);
    dc_ctx_free(ctx);
}

/* Too many column floats to keep for the whole batch, so backward recomputes them (each image
 * alone keeps its own): large per-image GEMMs (one image at a time) and small ones (images over
 * threads, per-thread scratch, partial dW sums). */
TEST(conv2d_recomputed_columns_equal_kept_columns)
{
    batch_vs_images(3, 2, 300, 300, 2); /* 18·90000 floats per image */
    batch_vs_images(700, 1, 28, 28, 2); /* 9·784 floats per image */
}

/* A layer like W6's: the forward by the direct kernel (so no columns are kept) but too many
 * weights for the direct dW (9,216 > DW_DIRECT_MAX), so dW recomputes each image's columns for
 * the GEMM, and dX (when wanted) goes by the direct kernel first. dW with and without dX
 * against a plain double-precision Σ dy · x over the padded window. Without AVX-512 the
 * columns are kept from the forward and this checks that path instead. */
TEST(conv2d_weight_gradient_from_recomputed_columns)
{
    enum { N = 2, C = 64, O = 16, H = 20, K = 3 };
    dc_rng r;
    dc_rng_seed(&r, 77, 0);
    dc_tensor *x = dc_tensor_new(DC_F32, 4, DC_SHAPE(N, C, H, H));
    dc_tensor *w = dc_tensor_new(DC_F32, 4, DC_SHAPE(O, C, K, K));
    dc_tensor *dy = dc_tensor_new(DC_F32, 4, DC_SHAPE(N, O, H, H));
    double *want = calloc((size_t)O * C * K * K, sizeof *want);
    REQUIRE(x && w && dy && want && dc_tensor_requires_grad(w) == DC_OK);
    dc_tensor_uniform(x, &r, -1, 1);
    dc_tensor_uniform(w, &r, -0.1f, 0.1f);
    dc_tensor_uniform(dy, &r, -1, 1);
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < K; p++)
                for (int q = 0; q < K; q++) {
                    double acc = 0;
                    for (int n = 0; n < N; n++)
                        for (int i = 0; i < H; i++)
                            for (int j = 0; j < H; j++) {
                                const int ii = i + p - 1, jj = j + q - 1;
                                if (ii >= 0 && ii < H && jj >= 0 && jj < H)
                                    acc += (double)dc_f32(dy)[((n * O + o) * H + i) * H + j] *
                                           dc_f32(x)[((n * C + c) * H + ii) * H + jj];
                            }
                    want[((o * C + c) * K + p) * K + q] = acc;
                }
    dc_conv2d_opts o1 = dc_conv2d_defaults();
    o1.pad_top = o1.pad_bottom = o1.pad_left = o1.pad_right = 1;
    for (int with_dx = 0; with_dx < 2; with_dx++) {
        dc_ctx *ctx = dc_ctx_new(0);
        REQUIRE(ctx);
        if (with_dx)
            REQUIRE(dc_tensor_requires_grad(x) == DC_OK);
        dc_tensor_zero_grad(w);
        dc_tensor *y = dc_conv2d(ctx, x, w, NULL, &o1);
        REQUIRE(y && dc_backward_with(ctx, y, dy) == DC_OK);
        double worst = 0;
        for (int64_t i = 0; i < w->numel; i++) {
            const double e = fabs(w->grad[i] - want[i]) / (1.0 + fabs(want[i]));
            worst = e > worst || isnan(e) ? e : worst;
        }
        CHECK(worst < 1e-5, "dW %s: worst relative error %g", with_dx ? "with dX" : "alone",
              worst);
        dc_ctx_free(ctx);
    }
    free(want);
    dc_tensor_free(x), dc_tensor_free(w), dc_tensor_free(dy);
}

/* ---- thread-count independence ---- */

typedef struct run_out {
    float *y, *g[6]; /* output, then the gradients of x, w1, b1, gamma, w2, w3 */
} run_out;

/* A LeNet-like stack, forward + backward: conv1 (small per-image GEMMs: images spread over
 * threads, partial dW sums) -> batch norm (train) -> max pool -> conv2 (1x1) -> conv3 (large
 * per-image GEMMs: one image at a time) -> avg pool -> adaptive avg. ins: x, w1, b1, gamma,
 * w2, w3, beta, dy. */
static int run_net(dc_tensor **in, run_out *out)
{
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx)
        return -1;
    dc_ctx_set_training(ctx, 1);
    for (int i = 0; i < 6; i++)
        dc_tensor_zero_grad(in[i]);
    dc_conv2d_opts p2 = dc_conv2d_defaults(), p1 = dc_conv2d_defaults();
    p2.pad_top = p2.pad_bottom = p2.pad_left = p2.pad_right = 2;
    p1.pad_top = p1.pad_bottom = p1.pad_left = p1.pad_right = 1;
    dc_pool2d_opts mp = dc_pool2d_defaults(2), ap = dc_pool2d_defaults(3);
    ap.stride_h = ap.stride_w = 1;
    ap.pad_h = ap.pad_w = 1;
    dc_tensor *y = dc_conv2d(ctx, in[0], in[1], in[2], &p2);
    y = dc_batch_norm(ctx, y, in[3], in[6], NULL, NULL, NULL, 0.1f, 1e-5f);
    y = dc_max_pool2d(ctx, y, &mp);
    y = dc_conv2d(ctx, y, in[4], NULL, NULL);
    y = dc_conv2d(ctx, y, in[5], NULL, &p1);
    y = dc_avg_pool2d(ctx, y, &ap);
    y = dc_adaptive_avg_pool2d(ctx, y, 3, 3);
    int rc = y && y->numel == in[7]->numel && dc_backward_with(ctx, y, in[7]) == DC_OK ? 0 : -1;
    if (rc == 0) {
        memcpy(out->y, y->data, sizeof(float) * (size_t)y->numel);
        for (int i = 0; i < 6; i++)
            memcpy(out->g[i], in[i]->grad, sizeof(float) * (size_t)in[i]->numel);
    }
    dc_ctx_free(ctx);
    return rc;
}

TEST(conv_pool_bn_bitwise_identical_1_vs_2_threads)
{
    static const char *names[6] = {"dx", "dw1", "db1", "dgamma", "dw2", "dw3"};
    dc_rng r;
    dc_rng_seed(&r, 7, 3);
    dc_tensor *in[8] = {
        dc_tensor_new(DC_F32, 4, DC_SHAPE(16, 1, 28, 28)), dc_tensor_new(DC_F32, 4,
        DC_SHAPE(6, 1, 5, 5)), dc_tensor_new(DC_F32, 1, DC_SHAPE(6)), dc_tensor_new(DC_F32, 1,
        DC_SHAPE(6)), dc_tensor_new(DC_F32, 4, DC_SHAPE(16, 6, 1, 1)), dc_tensor_new(DC_F32, 4,
        DC_SHAPE(32, 16, 3, 3)), dc_tensor_new(DC_F32, 1, DC_SHAPE(6)), dc_tensor_new(DC_F32, 4,
        DC_SHAPE(16, 32, 3, 3))};
    for (int i = 0; i < 8; i++) {
        REQUIRE(in[i]);
        dc_tensor_uniform(in[i], &r, i == 3 ? 0.5f : -0.5f, i == 3 ? 1.5f : 0.5f);
        if (i < 6)
            REQUIRE(dc_tensor_requires_grad(in[i]) == DC_OK);
    }
    run_out a[2];
    for (int k = 0; k < 2; k++) {
        a[k].y = malloc(sizeof(float) * (size_t)in[7]->numel);
        REQUIRE(a[k].y);
        for (int i = 0; i < 6; i++)
            REQUIRE((a[k].g[i] = malloc(sizeof(float) * (size_t)in[i]->numel)));
    }
    int old = dc_get_num_threads();
    dc_set_num_threads(1);
    int rc0 = run_net(in, &a[0]);
    dc_set_num_threads(2);
    int rc1 = run_net(in, &a[1]);
    dc_set_num_threads(old);
    REQUIRE(rc0 == 0 && rc1 == 0);
    CHECK(memcmp(a[0].y, a[1].y, sizeof(float) * (size_t)in[7]->numel) == 0, "y differs");
    for (int i = 0; i < 6; i++)
        CHECK(memcmp(a[0].g[i], a[1].g[i], sizeof(float) * (size_t)in[i]->numel) == 0,
              "%s differs between 1 and 2 threads", names[i]);
    for (int k = 0; k < 2; k++) {
        free(a[k].y);
        for (int i = 0; i < 6; i++)
            free(a[k].g[i]);
    }
    for (int i = 0; i < 8; i++)
        dc_tensor_free(in[i]);
}
