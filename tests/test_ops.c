/*
 * test_ops.c - the core ops: values against hand-computed (or PyTorch 1.13) numbers, broadcasting
 * and its error messages, NULL propagation, grad modes (no_grad, accumulation, detach), a
 * steady-state training loop without arena mallocs, thread-count independence and concurrent
 * inference on one model.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NDIM(...) ((int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
/* An arena tensor of the given shape holding the listed values. */
#define T(ctx, vals, ...) arena_from(ctx, NDIM(__VA_ARGS__), DC_SHAPE(__VA_ARGS__), vals)

/* 0, 1, ..., 23: a [2, 3, 4] tensor whose element is its flat index */
static const float IOTA24[24] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};

static dc_tensor *arena_from(dc_ctx *ctx, int ndim, const int64_t *shape, const float *v)
{
    dc_tensor *t = dc_empty(ctx, DC_F32, ndim, shape);
    if (t && v)
        memcpy(t->data, v, (size_t)t->numel * sizeof(float));
    return t;
}

/* A heap leaf that requires grad, filled with v (or 0.1·i - 1 when v is NULL). */
static dc_tensor *leaf(int ndim, const int64_t *shape, const float *v)
{
    dc_tensor *t = dc_tensor_new(DC_F32, ndim, shape);
    if (!t || dc_tensor_requires_grad(t) != DC_OK) {
        dc_tensor_free(t);
        return NULL;
    }
    for (int64_t i = 0; i < t->numel; i++)
        dc_f32(t)[i] = v ? v[i] : 0.1f * (float)i - 1.0f;
    return t;
}
#define LEAF(vals, ...) leaf(NDIM(__VA_ARGS__), DC_SHAPE(__VA_ARGS__), vals)

static int shape_is(const dc_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i])
            return 0;
    return 1;
}
#define CHECK_SHAPE(t, ...)                                                                 \
    do {                                                                                    \
        char s_[96];                                                                        \
        CHECK(shape_is(t, NDIM(__VA_ARGS__), DC_SHAPE(__VA_ARGS__)), "%s has shape %s, "    \
              "expected [%s]", #t, dc_shape_str(t, s_, sizeof s_), #__VA_ARGS__);           \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Activations and softmax: values                                                            */
/* ------------------------------------------------------------------------------------------ */

TEST(ops_softmax_values)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_tensor *y = dc_softmax(ctx, T(ctx, ((const float[]){1, 2, 3}), 3), 0);
    REQUIRE(y);
    const float want[] = {0.0900305732f, 0.244728471f, 0.665240956f};
    CHECK_ALLCLOSE("softmax([1,2,3])", dc_f32(y), want, 3, 1e-6, 1e-7);
    /* axis 0 of [3, 2]: column 0 is [1,2,3] again, column 1 constant -> 1/3 each */
    dc_tensor *y0 = dc_softmax(ctx, T(ctx, ((const float[]){1, 5, 2, 5, 3, 5}), 3, 2), 0);
    REQUIRE(y0);
    const float want0[] = {want[0], 1 / 3.f, want[1], 1 / 3.f, want[2], 1 / 3.f};
    CHECK_ALLCLOSE("softmax axis 0", dc_f32(y0), want0, 6, 1e-6, 1e-7);
    /* axis 1 of [2, 3, 2] equals the last-axis softmax of its transpose */
    float v[12];
    for (int i = 0; i < 12; i++)
        v[i] = sinf((float)i);
    dc_tensor *x3 = T(ctx, v, 2, 3, 2);
    dc_tensor *a = dc_softmax(ctx, x3, 1);
    dc_tensor *b = dc_transpose(ctx, dc_softmax(ctx, dc_transpose(ctx, x3, 1, 2), -1), 1, 2);
    REQUIRE(a && b);
    CHECK_ALLCLOSE("softmax axis 1 vs transpose", dc_f32(a), dc_f32(b), 12, 1e-6, 1e-7);
    dc_ctx_free(ctx);
}

TEST(ops_log_softmax_extremes)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_tensor *y = dc_log_softmax(ctx, T(ctx, ((const float[]){1e4f, 0, -1e4f, 1e4f}), 2, 2), -1);
    REQUIRE(y);
    const float want[] = {0.0f, -1e4f, -2e4f, 0.0f};
    CHECK_ALLCLOSE("log_softmax([[1e4, 0], [-1e4, 1e4]])", dc_f32(y), want, 4, 0, 0);
    dc_tensor *s = dc_softmax(ctx, T(ctx, ((const float[]){1e4f, 0, -1e4f}), 3), 0);
    REQUIRE(s);
    CHECK(dc_f32(s)[0] == 1.0f && dc_f32(s)[1] == 0.0f && dc_f32(s)[2] == 0.0f,
          "softmax([1e4, 0, -1e4]) = [%g, %g, %g]", dc_f32(s)[0], dc_f32(s)[1], dc_f32(s)[2]);
    dc_ctx_free(ctx);
}

TEST(ops_sigmoid_tanh_extremes)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_tensor *x = T(ctx, ((const float[]){-100, 100, 0, -1e4f, 1e4f}), 5);
    dc_tensor *s = dc_sigmoid(ctx, x), *t = dc_tanh(ctx, x);
    REQUIRE(s && t);
    const float *p = dc_f32(s);
    CHECK(isfinite(p[0]) && p[0] >= 0.0f && p[0] < 1e-30f, "sigmoid(-100) = %g", p[0]);
    CHECK(p[1] == 1.0f, "sigmoid(100) = %.9g", p[1]);
    CHECK(p[2] == 0.5f, "sigmoid(0) = %.9g", p[2]);
    CHECK(p[3] == 0.0f && p[4] == 1.0f, "sigmoid(-1e4, 1e4) = %g, %g", p[3], p[4]);
    const float *q = dc_f32(t);
    CHECK(q[3] == -1.0f && q[4] == 1.0f && q[2] == 0.0f, "tanh(-1e4, 1e4, 0) = %g %g %g", q[3],
          q[4], q[2]);
    dc_ctx_free(ctx);
}

/* x in {-3, -1, -0.5, 0, 0.5, 1, 3}: values and gradients from torch.nn.functional.gelu. */
TEST(ops_gelu_matches_pytorch)
{
    static const float xs[] = {-3, -1, -0.5f, 0, 0.5f, 1, 3};
    static const float y_exact[] = {-0.00404969409f, -0.158655254f, -0.154268769f, 0,
                                    0.345731231f, 0.841344746f, 2.99595031f};
    static const float d_exact[] = {-0.0119456472f, -0.0833154706f, 0.132504875f, 0.5f,
                                    0.867495125f, 1.08331547f, 1.01194565f};
    static const float y_tanh[] = {-0.00363739208f, -0.158808009f, -0.15428599f, 0,
                                   0.34571401f, 0.841191991f, 2.99636261f};
    static const float d_tanh[] = {-0.0115841666f, -0.0829640838f, 0.132630096f, 0.5f,
                                   0.867369904f, 1.08296408f, 1.01158417f};
    for (int approx = 0; approx < 2; approx++) {
        dc_ctx *ctx = dc_ctx_new(0);
        dc_tensor *x = LEAF(xs, 7);
        REQUIRE(ctx && x);
        dc_tensor *y = dc_gelu(ctx, x, approx);
        REQUIRE(y);
        REQUIRE(dc_backward(ctx, dc_sum(ctx, y, DC_ALL_AXES, 0)) == DC_OK);
        CHECK_ALLCLOSE(approx ? "gelu tanh" : "gelu", dc_f32(y), approx ? y_tanh : y_exact, 7,
                       1e-5, 1e-6);
        CHECK_ALLCLOSE(approx ? "gelu tanh grad" : "gelu grad", x->grad,
                       approx ? d_tanh : d_exact, 7, 1e-5, 1e-6);
        dc_tensor_free(x);
        dc_ctx_free(ctx);
    }
}

TEST(ops_relu_family_kinks)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = LEAF(((const float[]){-2, 0, 3}), 3);
    REQUIRE(ctx && x);
    /* L = Σ relu(x) + Σ leaky(x, 0.1) + Σ |x| */
    dc_tensor *r = dc_relu(ctx, x), *l = dc_leaky_relu(ctx, x, 0.1f), *a = dc_abs(ctx, x);
    REQUIRE(r && l && a);
    const float wr[] = {0, 0, 3}, wl[] = {-0.2f, 0, 3}, wa[] = {2, 0, 3};
    CHECK_ALLCLOSE("relu", dc_f32(r), wr, 3, 0, 0);
    CHECK_ALLCLOSE("leaky_relu", dc_f32(l), wl, 3, 1e-7, 0);
    CHECK_ALLCLOSE("abs", dc_f32(a), wa, 3, 0, 0);
    dc_tensor *sum = dc_add(ctx, dc_add(ctx, r, l), a);
    REQUIRE(dc_backward(ctx, dc_sum(ctx, sum, DC_ALL_AXES, 0)) == DC_OK);
    /* at 0: relu' = 0, leaky' = slope (x > 0 is false), abs' = 0 */
    const float wg[] = {0 + 0.1f - 1, 0 + 0.1f + 0, 1 + 1 + 1};
    CHECK_ALLCLOSE("relu+leaky+abs grad", x->grad, wg, 3, 1e-6, 1e-7);
    dc_tensor_free(x);
    dc_ctx_free(ctx);
}

TEST(ops_unary_math_values)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = LEAF(((const float[]){0.25f, 1, 4}), 3);
    REQUIRE(ctx && x);
    dc_tensor *ys[] = {dc_exp(ctx, x), dc_log(ctx, x), dc_sqrt(ctx, x), dc_neg(ctx, x),
                       dc_pow_scalar(ctx, x, 2), dc_pow_scalar(ctx, x, -0.5f),
                       dc_add_scalar(ctx, x, 1.5f), dc_mul_scalar(ctx, x, -2)};
    const float want[][3] = {{1.28402542f, 2.71828183f, 54.5981500f},
                             {-1.38629436f, 0, 1.38629436f},
                             {0.5f, 1, 2},
                             {-0.25f, -1, -4},
                             {0.0625f, 1, 16},
                             {2, 1, 0.5f},
                             {1.75f, 2.5f, 5.5f},
                             {-0.5f, -2, -8}};
    const char *names[] = {"exp", "log", "sqrt", "neg", "pow 2", "pow -0.5", "add_scalar",
                           "mul_scalar"};
    dc_tensor *total = NULL;
    for (int i = 0; i < 8; i++) {
        REQUIRE(ys[i]);
        CHECK_ALLCLOSE(names[i], dc_f32(ys[i]), want[i], 3, 1e-6, 1e-7);
        total = total ? dc_add(ctx, total, ys[i]) : ys[i];
    }
    REQUIRE(dc_backward(ctx, dc_sum(ctx, total, DC_ALL_AXES, 0)) == DC_OK);
    /* Σ of the derivatives: e^x + 1/x + 1/(2√x) - 1 + 2x - 0.5x^-1.5 + 1 - 2 */
    float wg[3];
    for (int i = 0; i < 3; i++) {
        const double v = dc_f32(x)[i];
        wg[i] = (float)(exp(v) + 1 / v + 0.5 / sqrt(v) - 1 + 2 * v - 0.5 * pow(v, -1.5) + 1 - 2);
    }
    CHECK_ALLCLOSE("sum of unary grads", x->grad, wg, 3, 1e-5, 1e-6);
    dc_tensor_free(x);
    dc_ctx_free(ctx);
}

TEST(ops_div_and_pow_zero_grads)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *a = LEAF(((const float[]){1, -6}), 2), *b = LEAF(((const float[]){2, 3}), 2);
    REQUIRE(ctx && a && b);
    dc_tensor *y = dc_div(ctx, a, b);
    REQUIRE(y);
    CHECK_NEAR(dc_f32(y)[0], 0.5, 0);
    CHECK_NEAR(dc_f32(y)[1], -2, 0);
    dc_tensor *p0 = dc_pow_scalar(ctx, b, 0);
    REQUIRE(p0);
    CHECK(dc_f32(p0)[0] == 1.0f, "2^0 = %g", dc_f32(p0)[0]);
    REQUIRE(dc_backward(ctx, dc_sum(ctx, dc_add(ctx, y, p0), DC_ALL_AXES, 0)) == DC_OK);
    const float wa[] = {0.5f, 1 / 3.f}, wb[] = {-0.25f, 6 / 9.f}; /* 1/b, -a/b² (+0 from b^0) */
    CHECK_ALLCLOSE("d(a/b)/da", a->grad, wa, 2, 1e-6, 0);
    CHECK_ALLCLOSE("d(a/b)/db", b->grad, wb, 2, 1e-6, 0);
    dc_tensor_free(a);
    dc_tensor_free(b);
    dc_ctx_free(ctx);
}

/* ------------------------------------------------------------------------------------------ */
/* Broadcasting                                                                               */
/* ------------------------------------------------------------------------------------------ */

TEST(ops_broadcast_shapes_and_values)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    const float *av = IOTA24;
    float bv[3] = {10, 20, 30}, cv[4] = {1, 2, 3, 4};
    dc_tensor *a = T(ctx, av, 2, 3, 4), *b = T(ctx, bv, 3, 1), *c = T(ctx, cv, 4);
    dc_tensor *y = dc_add(ctx, a, b);
    REQUIRE(y);
    CHECK_SHAPE(y, 2, 3, 4);
    for (int i = 0; i < 24; i++)
        CHECK(dc_f32(y)[i] == av[i] + bv[(i / 4) % 3], "[2,3,4]+[3,1] element %d = %g", i,
              dc_f32(y)[i]);
    dc_tensor *z = dc_mul(ctx, c, a); /* [4] * [2,3,4] */
    REQUIRE(z);
    CHECK_SHAPE(z, 2, 3, 4);
    for (int i = 0; i < 24; i++)
        CHECK(dc_f32(z)[i] == av[i] * cv[i % 4], "[4]*[2,3,4] element %d = %g", i, dc_f32(z)[i]);
    dc_tensor *w = dc_sub(ctx, T(ctx, cv, 2, 1, 2), b); /* [2,1,2] - [3,1] -> [2,3,2] */
    REQUIRE(w);
    CHECK_SHAPE(w, 2, 3, 2);
    CHECK(dc_f32(w)[0] == 1 - 10 && dc_f32(w)[5] == 2 - 30 && dc_f32(w)[11] == 4 - 30,
          "[2,1,2]-[3,1] = %g %g %g", dc_f32(w)[0], dc_f32(w)[5], dc_f32(w)[11]);
    dc_tensor *s = dc_div(ctx, c, arena_from(ctx, 0, NULL, (const float[]){2})); /* [4] / 0-d */
    REQUIRE(s);
    CHECK_SHAPE(s, 4);
    CHECK(dc_f32(s)[3] == 2.0f, "[4]/[] element 3 = %g", dc_f32(s)[3]);
    dc_ctx_free(ctx);
}

TEST(ops_broadcast_gradients_reduce)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = LEAF(NULL, 4, 3), *bias = LEAF(((const float[]){1, 2, 3}), 3);
    dc_tensor *s = LEAF(((const float[]){2, -1}), 2, 1, 1);
    REQUIRE(ctx && x && bias && s);
    /* y = (x + bias) * s  -> [2, 4, 3] */
    dc_tensor *y = dc_mul(ctx, dc_add(ctx, x, bias), s);
    REQUIRE(y);
    CHECK_SHAPE(y, 2, 4, 3);
    REQUIRE(dc_backward(ctx, dc_sum(ctx, y, DC_ALL_AXES, 0)) == DC_OK);
    /* dx = Σ_s s = 1 everywhere; dbias = 4 rows · Σ s = 4; ds = Σ (x + bias) */
    for (int i = 0; i < 12; i++)
        CHECK(x->grad[i] == 1.0f, "dx[%d] = %g", i, x->grad[i]);
    for (int i = 0; i < 3; i++)
        CHECK(bias->grad[i] == 4.0f, "dbias[%d] = %g", i, bias->grad[i]);
    double want = 0;
    for (int i = 0; i < 12; i++)
        want += dc_f32(x)[i] + dc_f32(bias)[i % 3];
    CHECK_NEAR(s->grad[0], want, 1e-4);
    CHECK_NEAR(s->grad[1], want, 1e-4);
    dc_tensor_free(x);
    dc_tensor_free(bias);
    dc_tensor_free(s);
    dc_ctx_free(ctx);
}

TEST(ops_shape_errors_name_both_shapes)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_tensor *a = dc_zeros(ctx, DC_F32, 2, DC_SHAPE(2, 3));
    dc_tensor *b = dc_zeros(ctx, DC_F32, 1, DC_SHAPE(4));
    CHECK(dc_add(ctx, a, b) == NULL, "[2,3]+[4] should fail");
    const char *e = dc_last_error();
    CHECK(strstr(e, "[2, 3]") && strstr(e, "[4]") && strstr(e, "add"), "message: %s", e);
    dc_clear_error();
    CHECK(dc_matmul(ctx, a, a) == NULL, "[2,3]·[2,3] should fail");
    e = dc_last_error();
    CHECK(strstr(e, "[2, 3]") && strstr(e, "matmul"), "message: %s", e);
    dc_tensor *w = dc_zeros(ctx, DC_F32, 2, DC_SHAPE(5, 4));
    CHECK(dc_linear(ctx, a, w, NULL) == NULL, "linear [2,3] w[5,4] should fail");
    e = dc_last_error();
    CHECK(strstr(e, "[2, 3]") && strstr(e, "[5, 4]"), "message: %s", e);
    CHECK(dc_concat(ctx, (dc_tensor *[]){a, b}, 2, 0) == NULL, "concat [2,3],[4] should fail");
    CHECK(dc_reshape(ctx, a, 2, DC_SHAPE(4, -1)) == NULL, "reshape 6 -> [4,-1] should fail");
    e = dc_last_error();
    CHECK(strstr(e, "[2, 3]") && strstr(e, "[4, -1]"), "message: %s", e);
    CHECK(dc_reshape(ctx, a, 2, DC_SHAPE(-1, -1)) == NULL, "two -1 should fail");
    CHECK(dc_sum(ctx, a, 2, 0) == NULL && strstr(dc_last_error(), "axis"), "sum axis 2 of 2-d");
    CHECK(dc_slice(ctx, a, 0, 0, 2, 0) == NULL, "slice step 0 should fail");
    dc_tensor *i64 = dc_zeros(ctx, DC_I64, 1, DC_SHAPE(3));
    CHECK(dc_relu(ctx, i64) == NULL && strstr(dc_last_error(), "float32"), "relu of int64: %s",
          dc_last_error());
    dc_ctx_free(ctx);
}

TEST(ops_null_propagates_first_error)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_tensor *a = dc_zeros(ctx, DC_F32, 2, DC_SHAPE(2, 3));
    dc_tensor *b = dc_zeros(ctx, DC_F32, 1, DC_SHAPE(4));
    dc_tensor *bad = dc_add(ctx, a, b);
    char first[256];
    snprintf(first, sizeof first, "%s", dc_last_error());
    CHECK(bad == NULL && first[0], "expected a first error");
    dc_tensor *r = dc_softmax(ctx, dc_relu(ctx, dc_matmul(ctx, bad, a)), -1);
    r = dc_linear(ctx, r, a, NULL);
    r = dc_concat(ctx, (dc_tensor *[]){a, r}, 2, 0);
    r = dc_dropout(ctx, dc_sum(ctx, dc_reshape(ctx, dc_transpose(ctx, r, 0, 1), 1,
                                                DC_SHAPE(-1)), 0, 0), 0.5f);
    CHECK(r == NULL, "chain on NULL returned a tensor");
    CHECK(strcmp(dc_last_error(), first) == 0, "error overwritten: '%s' (first '%s')",
          dc_last_error(), first);
    dc_ctx_free(ctx);
}

/* ------------------------------------------------------------------------------------------ */
/* Matmul, linear, reductions, shape ops                                                      */
/* ------------------------------------------------------------------------------------------ */

TEST(ops_matmul_values)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    const float av[] = {1, 2, 3, 4, 5, 6}, bv[] = {7, 8, 9, 10, 11, 12};
    dc_tensor *y = dc_matmul(ctx, T(ctx, av, 2, 3), T(ctx, bv, 3, 2));
    REQUIRE(y);
    CHECK_SHAPE(y, 2, 2);
    const float want[] = {58, 64, 139, 154};
    CHECK_ALLCLOSE("[2,3]·[3,2]", dc_f32(y), want, 4, 0, 0);
    /* batched: batch 1 is batch 0 times 2 */
    float a2[12], b2[12];
    for (int i = 0; i < 6; i++) {
        a2[i] = av[i], a2[6 + i] = 2 * av[i];
        b2[i] = bv[i], b2[6 + i] = bv[i];
    }
    dc_tensor *yb = dc_matmul(ctx, T(ctx, a2, 2, 2, 3), T(ctx, b2, 2, 3, 2));
    dc_tensor *ys = dc_matmul(ctx, T(ctx, a2, 2, 2, 3), T(ctx, bv, 3, 2));
    REQUIRE(yb && ys);
    CHECK_SHAPE(yb, 2, 2, 2);
    CHECK_SHAPE(ys, 2, 2, 2);
    const float wb[] = {58, 64, 139, 154, 116, 128, 278, 308};
    CHECK_ALLCLOSE("batched", dc_f32(yb), wb, 8, 0, 0);
    CHECK_ALLCLOSE("shared right factor", dc_f32(ys), wb, 8, 0, 0);
    dc_ctx_free(ctx);
}

TEST(ops_linear_values_and_grads)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = LEAF(((const float[]){1, 2, 3, 4, 5, 6}), 1, 2, 3);
    dc_tensor *w = LEAF(((const float[]){1, 0, -1, 2, 1, 0}), 2, 3);
    dc_tensor *b = LEAF(((const float[]){0.5f, -1}), 2);
    REQUIRE(ctx && x && w && b);
    dc_tensor *y = dc_linear(ctx, x, w, b);
    REQUIRE(y);
    CHECK_SHAPE(y, 1, 2, 2);
    const float want[] = {1 - 3 + 0.5f, 2 + 2 - 1, 4 - 6 + 0.5f, 8 + 5 - 1};
    CHECK_ALLCLOSE("linear", dc_f32(y), want, 4, 0, 0);
    REQUIRE(dc_backward(ctx, dc_sum(ctx, y, DC_ALL_AXES, 0)) == DC_OK);
    const float dx[] = {3, 1, -1, 3, 1, -1};     /* Σ_o W[o, :] per row */
    const float dw[] = {5, 7, 9, 5, 7, 9};       /* Σ_r x[r, :] per output */
    const float db[] = {2, 2};                   /* rows */
    CHECK_ALLCLOSE("dx", x->grad, dx, 6, 0, 0);
    CHECK_ALLCLOSE("dW", w->grad, dw, 6, 0, 0);
    CHECK_ALLCLOSE("db", b->grad, db, 2, 0, 0);
    dc_tensor_free(x);
    dc_tensor_free(w);
    dc_tensor_free(b);
    dc_ctx_free(ctx);
}

TEST(ops_sum_mean_axes)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_tensor *x = T(ctx, IOTA24, 2, 3, 4);
    dc_tensor *all = dc_sum(ctx, x, DC_ALL_AXES, 0), *allk = dc_mean(ctx, x, DC_ALL_AXES, 1);
    dc_tensor *s0 = dc_sum(ctx, x, 0, 0), *s1 = dc_sum(ctx, x, 1, 1), *m2 = dc_mean(ctx, x, -1, 0);
    REQUIRE(all && allk && s0 && s1 && m2);
    CHECK(all->ndim == 0 && dc_f32(all)[0] == 276.0f, "sum all = %g (ndim %d)", dc_f32(all)[0],
          all->ndim);
    CHECK_SHAPE(allk, 1, 1, 1);
    CHECK_NEAR(dc_f32(allk)[0], 11.5, 0);
    CHECK_SHAPE(s0, 3, 4);
    CHECK(dc_f32(s0)[0] == 12 && dc_f32(s0)[11] == 34, "sum axis 0: %g %g", dc_f32(s0)[0],
          dc_f32(s0)[11]);
    CHECK_SHAPE(s1, 2, 1, 4);
    CHECK(dc_f32(s1)[0] == 12 && dc_f32(s1)[7] == 15 + 19 + 23, /* Σ_j x[1, j, 3] */
          "sum axis 1 keepdim: %g %g", dc_f32(s1)[0], dc_f32(s1)[7]);
    CHECK_SHAPE(m2, 2, 3);
    CHECK(dc_f32(m2)[0] == 1.5f && dc_f32(m2)[5] == 21.5f, "mean axis -1: %g %g", dc_f32(m2)[0],
          dc_f32(m2)[5]);
    dc_ctx_free(ctx);
}

TEST(ops_reshape_flatten_transpose)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_tensor *x = T(ctx, IOTA24, 2, 3, 4);
    dc_tensor *r = dc_reshape(ctx, x, 3, DC_SHAPE(4, -1, 3));
    REQUIRE(r);
    CHECK_SHAPE(r, 4, 2, 3);
    CHECK(r->data == x->data, "reshape copies instead of sharing data");
    dc_tensor *f = dc_flatten(ctx, x, 1, -1), *f0 = dc_flatten(ctx, x, 0, 1);
    REQUIRE(f && f0);
    CHECK_SHAPE(f, 2, 12);
    CHECK_SHAPE(f0, 6, 4);
    dc_tensor *t = dc_transpose(ctx, x, 0, 2);
    REQUIRE(t);
    CHECK_SHAPE(t, 4, 3, 2);
    /* t[k, j, i] = x[i, j, k] = 12i + 4j + k */
    CHECK(dc_f32(t)[1] == 12 && dc_f32(t)[2] == 4 && dc_f32(t)[6] == 1 && dc_f32(t)[23] == 23,
          "transpose(0,2): %g %g %g %g", dc_f32(t)[1], dc_f32(t)[2], dc_f32(t)[6],
          dc_f32(t)[23]);
    dc_tensor *t20 = dc_transpose(ctx, x, 2, 0), *t11 = dc_transpose(ctx, x, 1, 1);
    REQUIRE(t20 && t11);
    CHECK_ALLCLOSE("transpose(2,0) = transpose(0,2)", dc_f32(t20), dc_f32(t), 24, 0, 0);
    CHECK_ALLCLOSE("transpose(1,1) = copy", dc_f32(t11), IOTA24, 24, 0, 0);
    dc_ctx_free(ctx);
}

TEST(ops_concat_values)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_tensor *a = T(ctx, ((const float[]){1, 2, 3, 4}), 2, 2);
    dc_tensor *b = T(ctx, ((const float[]){5, 6}), 2, 1);
    dc_tensor *c = T(ctx, ((const float[]){7, 8, 9, 10, 11, 12}), 2, 3);
    dc_tensor *y = dc_concat(ctx, (dc_tensor *[]){a, b, c}, 3, 1);
    REQUIRE(y);
    CHECK_SHAPE(y, 2, 6);
    const float want[] = {1, 2, 5, 7, 8, 9, 3, 4, 6, 10, 11, 12};
    CHECK_ALLCLOSE("concat axis 1", dc_f32(y), want, 12, 0, 0);
    dc_tensor *y0 = dc_concat(ctx, (dc_tensor *[]){a, a, dc_transpose(ctx, b, 0, 1), a, a}, 5, 0);
    REQUIRE(y0);
    CHECK_SHAPE(y0, 9, 2);
    CHECK(dc_f32(y0)[8] == 5 && dc_f32(y0)[9] == 6 && dc_f32(y0)[17] == 4, "concat of 5: %g %g",
          dc_f32(y0)[8], dc_f32(y0)[17]);
    dc_ctx_free(ctx);
}

TEST(ops_slice_python_semantics)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    const float v[] = {0, 1, 2, 3, 4, 5, 6};
    dc_tensor *x = T(ctx, v, 7);
    struct { int64_t start, end, step; int n; float first, last; } cases[] = {
        {1, 6, 2, 3, 1, 5},      /* [1:6:2] */
        {-4, -1, 1, 3, 3, 5},    /* [-4:-1] */
        {-100, 100, 3, 3, 0, 6}, /* clamped */
        {5, 2, 1, 0, 0, 0},      /* empty */
        {6, 7, 5, 1, 6, 6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dc_tensor *y = dc_slice(ctx, x, 0, cases[i].start, cases[i].end, cases[i].step);
        REQUIRE(y);
        CHECK(y->shape[0] == cases[i].n, "slice %zu: %lld elements, expected %d", i,
              (long long)y->shape[0], cases[i].n);
        if (y->shape[0] == cases[i].n && cases[i].n > 0)
            CHECK(dc_f32(y)[0] == cases[i].first && dc_f32(y)[cases[i].n - 1] == cases[i].last,
                  "slice %zu: first %g last %g", i, dc_f32(y)[0], dc_f32(y)[cases[i].n - 1]);
    }
    dc_ctx_free(ctx);
}

/* ------------------------------------------------------------------------------------------ */
/* Dropout                                                                                    */
/* ------------------------------------------------------------------------------------------ */

TEST(ops_dropout_modes)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_tensor *x = dc_empty(ctx, DC_F32, 1, DC_SHAPE(10000));
    REQUIRE(x);
    dc_tensor_fill(x, 1.0f);
    CHECK(dc_dropout(ctx, x, 0.5f) == x, "eval-mode dropout is not the identity");
    dc_ctx_set_training(ctx, 1);
    CHECK(dc_dropout(ctx, x, 0.0f) == x, "p = 0 dropout is not the identity");
    CHECK(dc_dropout(ctx, x, 0.5f) == NULL && strstr(dc_last_error(), "dc_ctx_set_rng"),
          "training dropout without an RNG: %s", dc_last_error());
    CHECK(dc_dropout(ctx, x, 1.5f) == NULL, "p = 1.5 accepted");
    dc_rng rng;
    dc_rng_seed(&rng, 7, 0);
    dc_ctx_set_rng(ctx, &rng);
    dc_tensor *y = dc_dropout(ctx, x, 0.25f);
    REQUIRE(y);
    int64_t zeros = 0, scaled = 0;
    for (int64_t i = 0; i < y->numel; i++) {
        zeros += dc_f32(y)[i] == 0.0f;
        scaled += fabsf(dc_f32(y)[i] - 1 / 0.75f) < 1e-6f;
    }
    CHECK(zeros + scaled == y->numel, "values other than 0 and 1/(1-p): %lld + %lld",
          (long long)zeros, (long long)scaled);
    CHECK(zeros > 2300 && zeros < 2700, "%lld of 10000 dropped at p = 0.25", (long long)zeros);
    dc_tensor *all = dc_dropout(ctx, x, 1.0f);
    REQUIRE(all);
    CHECK(dc_f32(all)[0] == 0.0f && dc_f32(all)[9999] == 0.0f, "p = 1 keeps values");
    dc_ctx_free(ctx);
}

/* ------------------------------------------------------------------------------------------ */
/* Grad modes                                                                                 */
/* ------------------------------------------------------------------------------------------ */

TEST(ops_no_grad_records_nothing)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = LEAF(NULL, 3, 4), *w = LEAF(NULL, 2, 4);
    REQUIRE(ctx && x && w);
    dc_ctx_set_grad(ctx, 0);
    dc_tensor *y = dc_softmax(ctx, dc_linear(ctx, dc_tanh(ctx, x), w, NULL), -1);
    y = dc_sum(ctx, dc_concat(ctx, (dc_tensor *[]){y, y}, 2, 0), 0, 0);
    y = dc_dropout(ctx, dc_mul(ctx, y, dc_slice(ctx, y, 0, 0, 2, 1)), 0.5f);
    REQUIRE(y);
    CHECK(dc_ctx_tape_len(ctx) == 0, "no_grad recorded %lld entries",
          (long long)dc_ctx_tape_len(ctx));
    CHECK(!(y->flags & DC_TF_REQUIRES_GRAD), "no_grad output requires grad");
    CHECK(dc_backward(ctx, dc_sum(ctx, y, DC_ALL_AXES, 0)) != DC_OK, "backward without a graph");
    dc_ctx_set_grad(ctx, 1);
    y = dc_tanh(ctx, x);
    CHECK(dc_ctx_tape_len(ctx) == 1, "grad on: tape has %lld entries",
          (long long)dc_ctx_tape_len(ctx));
    dc_tensor_free(x);
    dc_tensor_free(w);
    dc_ctx_free(ctx);
}

TEST(ops_param_grads_accumulate)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3, 0);
    dc_model *m = dc_model_new();
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(m && ctx);
    REQUIRE(dc_model_add(m, dc_linear_new(m, "fc", 3, 2, 1, &rng)) == DC_OK);
    dc_tensor *w = dc_model_find(m, "fc.weight"), *b = dc_model_find(m, "fc.bias");
    REQUIRE(w && b);
    float g1[6], gb1[2];
    for (int pass = 0; pass < 2; pass++) {
        dc_tensor *x = T(ctx, ((const float[]){1, -2, 3, 0.5f, 0, -1}), 2, 3);
        dc_tensor *y = dc_model_forward(ctx, m, x);
        REQUIRE(dc_backward(ctx, dc_sum(ctx, dc_mul(ctx, y, y), DC_ALL_AXES, 0)) == DC_OK);
        if (pass == 0) {
            memcpy(g1, w->grad, sizeof g1);
            memcpy(gb1, b->grad, sizeof gb1);
        }
        dc_ctx_reset(ctx);
    }
    float g2[6], gb2[2];
    for (int i = 0; i < 6; i++)
        g2[i] = 2 * g1[i];
    for (int i = 0; i < 2; i++)
        gb2[i] = 2 * gb1[i];
    CHECK_ALLCLOSE("weight grad after two passes", w->grad, g2, 6, 1e-6, 0);
    CHECK_ALLCLOSE("bias grad after two passes", b->grad, gb2, 2, 1e-6, 0);
    dc_model_zero_grad(m);
    CHECK(w->grad[0] == 0.0f, "zero_grad left %g", w->grad[0]);
    dc_model_free(m);
    dc_ctx_free(ctx);
}

TEST(ops_detach_stops_gradients)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = LEAF(((const float[]){1, 2, 3}), 3);
    REQUIRE(ctx && x);
    /* y = detach(x) ⊙ x: dy/dx = detach(x) = x, not 2x */
    dc_tensor *d = dc_detach(ctx, x);
    REQUIRE(d);
    CHECK(!(d->flags & DC_TF_REQUIRES_GRAD), "detached tensor requires grad");
    REQUIRE(dc_backward(ctx, dc_sum(ctx, dc_mul(ctx, d, x), DC_ALL_AXES, 0)) == DC_OK);
    const float want[] = {1, 2, 3};
    CHECK_ALLCLOSE("d(detach(x)·x)/dx", x->grad, want, 3, 0, 0);
    dc_tensor_free(x);
    dc_ctx_free(ctx);
}

/* ------------------------------------------------------------------------------------------ */
/* Memory and threads                                                                         */
/* ------------------------------------------------------------------------------------------ */

/* x [32, 4] -> Linear(4, 16) -> Tanh -> Linear(16, 1); target t = Σ x (a learnable map). */
static dc_model *small_mlp(dc_rng *rng)
{
    dc_model *m = dc_model_new();
    if (!m)
        return NULL;
    dc_module *l1 = dc_linear_new(m, "fc1", 4, 16, 1, rng);
    dc_status s = dc_model_add(m, l1);
    if (s == DC_OK)
        s = dc_model_add(m, dc_act_new(m, "act", DC_ACT_TANH, 0));
    if (s == DC_OK)
        s = dc_model_add(m, dc_linear_new(m, "fc2", 16, 1, 1, rng));
    if (s != DC_OK) {
        dc_model_free(m);
        return NULL;
    }
    return m;
}

TEST(ops_steady_training_loop_no_arena_mallocs)
{
    dc_rng rng;
    dc_rng_seed(&rng, 11, 0);
    dc_model *m = small_mlp(&rng);
    dc_ctx *ctx = dc_ctx_new(4096); /* small on purpose: the first step must grow it */
    dc_tensor *x = dc_tensor_new(DC_F32, 2, DC_SHAPE(32, 4));
    dc_tensor *t = dc_tensor_new(DC_F32, 2, DC_SHAPE(32, 1));
    REQUIRE(m && ctx && x && t);
    dc_tensor_uniform(x, &rng, -1, 1);
    for (int i = 0; i < 32; i++)
        dc_f32(t)[i] = 0.3f * (dc_f32(x)[4 * i] - dc_f32(x)[4 * i + 2]);
    uint64_t mallocs_after_1 = 0;
    float first_loss = 0, loss = 0;
    for (int step = 1; step <= 50; step++) {
        dc_tensor *y = dc_model_forward(ctx, m, x);
        dc_tensor *d = dc_sub(ctx, y, t);
        dc_tensor *l = dc_mean(ctx, dc_mul(ctx, d, d), DC_ALL_AXES, 0);
        REQUIRE(l && dc_backward(ctx, l) == DC_OK);
        loss = dc_f32(l)[0];
        if (step == 1)
            first_loss = loss;
        for (int i = 0; i < dc_model_n_tensors(m); i++) { /* SGD, lr 0.2 */
            dc_tensor *p = dc_model_tensor(m, i);
            if (dc_model_is_buffer(m, i))
                continue;
            for (int64_t k = 0; k < p->numel; k++)
                dc_f32(p)[k] -= 0.2f * p->grad[k];
        }
        dc_model_zero_grad(m);
        dc_ctx_reset(ctx);
        if (step == 1)
            mallocs_after_1 = dc_ctx_arena_mallocs(ctx);
    }
    CHECK(mallocs_after_1 > 1, "the 4 KiB arena never grew (%llu mallocs)",
          (unsigned long long)mallocs_after_1);
    CHECK(dc_ctx_arena_mallocs(ctx) == mallocs_after_1, "arena mallocs %llu after step 1, %llu "
          "after step 50", (unsigned long long)mallocs_after_1,
          (unsigned long long)dc_ctx_arena_mallocs(ctx));
    CHECK(loss < 0.5f * first_loss, "loss %g -> %g did not fall", first_loss, loss);
    dc_tensor_free(x);
    dc_tensor_free(t);
    dc_model_free(m);
    dc_ctx_free(ctx);
}

/* Run matmul, sums, linear backward and softmax at the current thread count; copy results. */
static int big_ops(float *out_mm, float *out_sums, float *out_db, float *out_sm)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_rng rng;
    dc_rng_seed(&rng, 5, 0);
    dc_tensor *a = dc_tensor_new(DC_F32, 2, DC_SHAPE(300, 200));
    dc_tensor *b = dc_tensor_new(DC_F32, 2, DC_SHAPE(200, 250));
    dc_tensor *big = dc_tensor_new(DC_F32, 2, DC_SHAPE(1024, 1000));
    dc_tensor *bias = dc_tensor_new(DC_F32, 1, DC_SHAPE(250));
    int ok = ctx && a && b && big && bias && dc_tensor_requires_grad(bias) == DC_OK;
    if (ok) {
        dc_tensor_normal(a, &rng, 0, 1);
        dc_tensor_normal(b, &rng, 0, 1);
        dc_tensor_normal(big, &rng, 1, 3);
        dc_tensor *mm = dc_matmul(ctx, a, b);
        dc_tensor *s_all = dc_sum(ctx, big, DC_ALL_AXES, 0);
        dc_tensor *s0 = dc_sum(ctx, big, 0, 0), *s1 = dc_mean(ctx, big, 1, 0);
        dc_tensor *sm = dc_softmax(ctx, big, -1);
        /* bias gradient = column sums of a 300 x 250 upstream gradient */
        dc_tensor *y = dc_add(ctx, mm, bias);
        ok = mm && s_all && s0 && s1 && sm && y && dc_backward_with(ctx, y, mm) == DC_OK;
        if (ok) {
            memcpy(out_mm, dc_f32(mm), 300 * 250 * sizeof(float));
            out_sums[0] = dc_f32(s_all)[0];
            memcpy(out_sums + 1, dc_f32(s0), 1000 * sizeof(float));
            memcpy(out_sums + 1001, dc_f32(s1), 1024 * sizeof(float));
            memcpy(out_db, bias->grad, 250 * sizeof(float));
            memcpy(out_sm, dc_f32(sm), 1024 * 1000 * sizeof(float));
        }
    }
    dc_tensor_free(a);
    dc_tensor_free(b);
    dc_tensor_free(big);
    dc_tensor_free(bias);
    dc_ctx_free(ctx);
    return ok;
}

TEST(ops_results_independent_of_thread_count)
{
    const int old = dc_get_num_threads();
    float *mm[2], *sums[2], *db[2], *sm[2];
    for (int k = 0; k < 2; k++) {
        mm[k] = malloc(300 * 250 * sizeof(float));
        sums[k] = malloc(2025 * sizeof(float));
        db[k] = malloc(250 * sizeof(float));
        sm[k] = malloc(1024 * 1000 * sizeof(float));
        REQUIRE(mm[k] && sums[k] && db[k] && sm[k]);
    }
    dc_gemm_force_builtin(1); /* OpenBLAS promises no bitwise reproducibility across threads */
    for (int k = 0; k < 2; k++) {
        dc_set_num_threads(k + 1);
        CHECK(big_ops(mm[k], sums[k], db[k], sm[k]), "ops failed at %d threads: %s", k + 1,
              dc_last_error());
    }
    dc_gemm_force_builtin(0);
    dc_set_num_threads(old);
    CHECK(memcmp(mm[0], mm[1], 300 * 250 * sizeof(float)) == 0, "matmul differs at 1 vs 2 "
          "threads");
    CHECK(memcmp(sums[0], sums[1], 2025 * sizeof(float)) == 0, "sum/mean differ at 1 vs 2 "
          "threads (%.9g vs %.9g)", sums[0][0], sums[1][0]);
    CHECK(memcmp(db[0], db[1], 250 * sizeof(float)) == 0, "bias grad differs");
    CHECK(memcmp(sm[0], sm[1], 1024 * 1000 * sizeof(float)) == 0, "softmax differs");
    /* and the big sum is right: 1024·1000 samples of N(1, 3) sum to ~1.024e6 */
    CHECK(fabs(sums[0][0] - 1.024e6) < 3e4, "sum of N(1,3) = %g", sums[0][0]);
    for (int k = 0; k < 2; k++) {
        free(mm[k]);
        free(sums[k]);
        free(db[k]);
        free(sm[k]);
    }
}

typedef struct infer_job {
    dc_model *m;
    const dc_tensor *x;
    const float *want; /* serial result */
    int64_t n;
    int rounds, ok;
} infer_job;

/* One thread: its own ctx, no grad, the same model; compares every round with the serial run. */
static void *infer_thread(void *arg)
{
    infer_job *j = arg;
    dc_ctx *ctx = dc_ctx_new(0);
    j->ok = ctx != NULL;
    if (ctx)
        dc_ctx_set_grad(ctx, 0);
    for (int r = 0; j->ok && r < j->rounds; r++) {
        dc_tensor *xv = dc_wrap(ctx, DC_F32, j->x->ndim, j->x->shape, j->x->data);
        dc_tensor *y = dc_model_forward(ctx, j->m, xv);
        j->ok = y && y->numel == j->n && memcmp(dc_f32(y), j->want, (size_t)j->n * 4) == 0 &&
                dc_ctx_tape_len(ctx) == 0;
        dc_ctx_reset(ctx);
    }
    dc_ctx_free(ctx);
    return NULL;
}

TEST(ops_concurrent_inference_matches_serial)
{
    dc_rng rng;
    dc_rng_seed(&rng, 21, 0);
    dc_model *m = dc_model_new();
    REQUIRE(m);
    REQUIRE(dc_model_add(m, dc_linear_new(m, "fc1", 16, 32, 1, &rng)) == DC_OK);
    REQUIRE(dc_model_add(m, dc_act_new(m, "act", DC_ACT_GELU, 0)) == DC_OK);
    REQUIRE(dc_model_add(m, dc_dropout_new(m, "drop", 0.5f)) == DC_OK); /* eval: identity */
    REQUIRE(dc_model_add(m, dc_linear_new(m, "fc2", 32, 4, 1, &rng)) == DC_OK);
    REQUIRE(dc_model_add(m, dc_act_new(m, "out", DC_ACT_SOFTMAX, 0)) == DC_OK);
    dc_tensor *x = dc_tensor_new(DC_F32, 2, DC_SHAPE(64, 16));
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(x && ctx);
    dc_tensor_uniform(x, &rng, -2, 2);
    dc_ctx_set_grad(ctx, 0);
    dc_tensor *y = dc_model_forward(ctx, m, x);
    REQUIRE(y);
    CHECK_SHAPE(y, 64, 4);
    infer_job jobs[2];
    pthread_t th[2];
    int started[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        jobs[k] = (infer_job){m, x, dc_f32(y), y->numel, 20, 0};
        started[k] = pthread_create(&th[k], NULL, infer_thread, &jobs[k]) == 0;
        CHECK(started[k], "pthread_create failed");
    }
    for (int k = 0; k < 2; k++)
        if (started[k]) {
            pthread_join(th[k], NULL);
            CHECK(jobs[k].ok, "thread %d got a different output (or failed)", k);
        }
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_model_free(m);
}
