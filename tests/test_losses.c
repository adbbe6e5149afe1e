/*
 * test_losses.c - the losses: values worked out by hand, numbers from PyTorch 1.13 (the calls that
 * produced them are quoted above each), stability at extreme inputs, ignored rows, gradients of
 * inputs and targets, argument errors, and thread-count independence.
 */
#include "harness.h"

#include <math.h>
#include <string.h>

/* A heap float tensor holding vals (requires grad when rg). */
static dc_tensor *tf(int ndim, const int64_t *shape, const float *vals, int rg)
{
    dc_tensor *t = dc_tensor_new(DC_F32, ndim, shape);
    if (!t)
        return NULL;
    memcpy(t->data, vals, (size_t)t->numel * sizeof(float));
    if (rg && dc_tensor_requires_grad(t) != DC_OK) {
        dc_tensor_free(t);
        return NULL;
    }
    return t;
}

/* A heap int64 tensor holding vals. */
static dc_tensor *ti(int ndim, const int64_t *shape, const int64_t *vals)
{
    dc_tensor *t = dc_tensor_new(DC_I64, ndim, shape);
    if (t)
        memcpy(t->data, vals, (size_t)t->numel * sizeof(int64_t));
    return t;
}

/* The first value of t, NaN for NULL (a failed op then fails the comparison). */
static float scalar(const dc_tensor *t) { return t ? dc_f32(t)[0] : NAN; }

TEST(loss_hand_values_regression)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = tf(1, DC_SHAPE(2), (const float[]){1, 2}, 0);
    dc_tensor *z = tf(1, DC_SHAPE(2), (const float[]){0, 0}, 0);
    REQUIRE(ctx && x && z);
    /* MSE of [1, 2] vs [0, 0]: (1 + 4)/2 = 2.5 mean, 5 sum, [1, 4] none. */
    dc_tensor *m = dc_mse_loss(ctx, x, z, DC_MEAN), *s = dc_mse_loss(ctx, x, z, DC_SUM);
    dc_tensor *n = dc_mse_loss(ctx, x, z, DC_NONE);
    REQUIRE(m && s && n);
    CHECK(m->ndim == 0 && m->numel == 1, "mean must be a 0-d scalar, got ndim %d", m->ndim);
    CHECK_NEAR(scalar(m), 2.5, 0);
    CHECK_NEAR(scalar(s), 5.0, 0);
    CHECK(dc_same_shape(n, x), "none keeps the input shape");
    CHECK_ALLCLOSE("mse none", dc_f32(n), ((const float[]){1, 4}), 2, 0, 0);
    /* L1: (1 + 2)/2; smooth L1 beta 1: 0.5 and 1.5 -> 1; Huber delta 1 likewise; beta 0 = L1. */
    CHECK_NEAR(scalar(dc_l1_loss(ctx, x, z, DC_MEAN)), 1.5, 0);
    CHECK_NEAR(scalar(dc_smooth_l1_loss(ctx, x, z, DC_MEAN, 1.0f)), 1.0, 0);
    CHECK_NEAR(scalar(dc_smooth_l1_loss(ctx, x, z, DC_SUM, 0.0f)), 3.0, 0);
    CHECK_NEAR(scalar(dc_huber_loss(ctx, x, z, DC_SUM, 1.0f)), 2.0, 0);
    /* Huber delta 4: 0.5·1 + 0.5·4 = 2.5 (both quadratic); smooth L1 beta 4: 2.5 / 4. */
    CHECK_NEAR(scalar(dc_huber_loss(ctx, x, z, DC_SUM, 4.0f)), 2.5, 0);
    CHECK_NEAR(scalar(dc_smooth_l1_loss(ctx, x, z, DC_SUM, 4.0f)), 0.625, 1e-7);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(z);
}

TEST(loss_hand_values_cross_entropy)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = tf(2, DC_SHAPE(1, 2), (const float[]){0, 0}, 0);
    dc_tensor *t = ti(1, DC_SHAPE(1), (const int64_t[]){0});
    dc_tensor *p = tf(2, DC_SHAPE(1, 2), (const float[]){0.5f, 0.5f}, 0);
    REQUIRE(ctx && x && t && p);
    /* CE of logits [0, 0] at class 0 = ln 2; also with probability target [.5, .5]. */
    CHECK_NEAR(scalar(dc_cross_entropy(ctx, x, t, NULL)), log(2.0), 1e-7);
    CHECK_NEAR(scalar(dc_cross_entropy(ctx, x, p, NULL)), log(2.0), 1e-7);
    /* NLL of log-probs [ln .25, ln .75] at class 1 = -ln .75. */
    dc_tensor *lp = tf(2, DC_SHAPE(1, 2), (const float[]){logf(0.25f), logf(0.75f)}, 0);
    dc_tensor *t1 = ti(1, DC_SHAPE(1), (const int64_t[]){1});
    REQUIRE(lp && t1);
    CHECK_NEAR(scalar(dc_nll_loss(ctx, lp, t1, NULL)), -log(0.75), 1e-7);
    dc_ce_opts o = dc_ce_defaults();
    CHECK(o.reduction == DC_MEAN && o.label_smoothing == 0.0f && o.ignore_index == -100 &&
              o.weight == NULL, "dc_ce_defaults must be mean, 0, -100, NULL");
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(t);
    dc_tensor_free(p);
    dc_tensor_free(lp);
    dc_tensor_free(t1);
}

/* Logits and weights shared by the PyTorch cross-checks of cross-entropy. */
static const float ce_x[16] = {1.5f, -0.3f, 0.2f, 2.0f,  0.1f, 0.4f, -1.2f, 0.7f,
                               -0.5f, 2.2f, 0.3f, -0.8f, 0.9f, -1.1f, 1.7f, 0.0f};
static const float ce_w[4] = {0.5f, 2.0f, 1.0f, 1.5f};

/*
 * F.cross_entropy(x, t, weight=w, ignore_index=-100, label_smoothing=0.2, reduction=red) with
 * t = [3, -100, 1, 0]; gradients of loss (mean, sum) and of Σ loss·[1, 2, 3, 4] (none).
 */
TEST(loss_cross_entropy_matches_torch_weights_smoothing_ignore)
{
    static const float want_grad_mean[16] = {
        0.111194961f, -0.00558647793f, 0.0195074882f, -0.125115991f, 0, 0, 0, 0,
        0.0182908978f, -0.0598380081f, 0.0421167724f, -0.000569655793f,
        -0.0631173328f, -0.0191626288f, 0.0834935382f, -0.00121356419f};
    static const float want_grad_none[16] = {
        0.444779843f, -0.0223459117f, 0.0780299529f, -0.500463963f, 0, 0, 0, 0,
        0.219490781f, -0.718056262f, 0.505401254f, -0.00683586486f,
        -1.00987732f, -0.306602061f, 1.33589661f, -0.019417027f};
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = tf(2, DC_SHAPE(4, 4), ce_x, 1), *w = tf(1, DC_SHAPE(4), ce_w, 0);
    dc_tensor *t = ti(1, DC_SHAPE(4), (const int64_t[]){3, -100, 1, 0});
    REQUIRE(ctx && x && w && t);
    dc_ce_opts o = dc_ce_defaults();
    o.weight = w;
    o.label_smoothing = 0.2f;
    dc_tensor *l = dc_cross_entropy(ctx, x, t, &o);
    REQUIRE(l);
    CHECK_NEAR(scalar(l), 0.789013147, 1e-6);
    REQUIRE(dc_backward(ctx, l) == DC_OK);
    CHECK_ALLCLOSE("ce mean grad", x->grad, want_grad_mean, 16, 1e-4, 1e-6);
    dc_ctx_reset(ctx);
    o.reduction = DC_SUM;
    CHECK_NEAR(scalar(dc_cross_entropy(ctx, x, t, &o)), 3.15605259, 3e-6);
    o.reduction = DC_NONE;
    dc_tensor_zero_grad(x);
    dc_ctx_reset(ctx);
    l = dc_cross_entropy(ctx, x, t, &o);
    REQUIRE(l);
    CHECK(l->ndim == 1 && l->shape[0] == 4, "none gives one loss per row");
    CHECK_ALLCLOSE("ce none", dc_f32(l), ((const float[]){1.24172926f, 0, 0.824665189f,
                                                         1.08965826f}), 4, 1e-6, 1e-7);
    dc_tensor *g = dc_wrap(ctx, DC_F32, 1, DC_SHAPE(4), (float[]){1, 2, 3, 4});
    REQUIRE(dc_backward_with(ctx, l, g) == DC_OK);
    CHECK_ALLCLOSE("ce none grad", x->grad, want_grad_none, 16, 1e-4, 1e-6);
    CHECK(t->grad == NULL, "index targets get no gradient");
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(w);
    dc_tensor_free(t);
}

/* F.cross_entropy(x, tp, weight=w, label_smoothing=0.1) with probability targets tp; .backward(). */
TEST(loss_cross_entropy_matches_torch_probabilities)
{
    static const float tp_v[16] = {0.1f, 0.2f, 0.3f, 0.4f, 0.25f, 0.25f, 0.25f, 0.25f,
                                   0.7f, 0.1f, 0.1f, 0.1f, 0, 0, 1, 0};
    static const float want_grad[16] = {
        0.0941603407f, -0.0845592245f, -0.0441706702f, 0.034569554f, 0.0390614793f,
        -0.030089438f, -0.043337889f, 0.0343658552f, -0.0706657767f, 0.10929022f,
        -0.00380341848f, -0.034821f, 0.0648919046f, -0.00329491473f, -0.079875581f,
        0.0182786081f};
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = tf(2, DC_SHAPE(4, 4), ce_x, 1), *w = tf(1, DC_SHAPE(4), ce_w, 0);
    dc_tensor *tp = tf(2, DC_SHAPE(4, 4), tp_v, 1);
    REQUIRE(ctx && x && w && tp);
    dc_ce_opts o = dc_ce_defaults();
    o.weight = w;
    o.label_smoothing = 0.1f;
    dc_tensor *l = dc_cross_entropy(ctx, x, tp, &o);
    REQUIRE(l);
    CHECK_NEAR(scalar(l), 1.68270636, 2e-6);
    REQUIRE(dc_backward(ctx, l) == DC_OK);
    CHECK_ALLCLOSE("ce prob grad", x->grad, want_grad, 16, 1e-4, 1e-6);
    for (int i = 0; i < 16; i++)
        CHECK(tp->grad[i] == 0.0f, "probability targets get no gradient (element %d)", i);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(w);
    dc_tensor_free(tp);
}

/* F.cross_entropy(x2, [0, -100, 2], label_smoothing=0.2): both parts divided by the 2 kept rows. */
TEST(loss_cross_entropy_ignore_index_excluded_from_mean)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = tf(2, DC_SHAPE(3, 3), (const float[]){1, 2, 3, 0.5f, -1, 2, 3, 1, 0}, 1);
    dc_tensor *t = ti(1, DC_SHAPE(3), (const int64_t[]){0, -100, 2});
    dc_tensor *t2 = ti(1, DC_SHAPE(2), (const int64_t[]){0, 2});
    dc_tensor *x2 = tf(2, DC_SHAPE(2, 3), (const float[]){1, 2, 3, 3, 1, 0}, 0);
    REQUIRE(ctx && x && t && t2 && x2);
    dc_ce_opts o = dc_ce_defaults();
    o.label_smoothing = 0.2f;
    dc_tensor *l = dc_cross_entropy(ctx, x, t, &o);
    REQUIRE(l);
    CHECK_NEAR(scalar(l), 2.5553925, 2e-6);
    /* The same as the two kept rows alone. */
    CHECK_NEAR(scalar(l), scalar(dc_cross_entropy(ctx, x2, t2, &o)), 1e-6);
    REQUIRE(dc_backward(ctx, l) == DC_OK);
    for (int k = 3; k < 6; k++)
        CHECK(x->grad[k] == 0.0f, "ignored row gets no gradient (got %g)", (double)x->grad[k]);
    /* All rows ignored: mean is 0/0 = NaN (PyTorch), sum 0. */
    dc_tensor *tall = ti(1, DC_SHAPE(3), (const int64_t[]){-100, -100, -100});
    REQUIRE(tall);
    CHECK(isnan(scalar(dc_cross_entropy(ctx, x, tall, NULL))), "all ignored: mean is NaN");
    o.reduction = DC_SUM;
    CHECK_NEAR(scalar(dc_cross_entropy(ctx, x, tall, &o)), 0.0, 0);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(t);
    dc_tensor_free(t2);
    dc_tensor_free(x2);
    dc_tensor_free(tall);
}

/* F.cross_entropy on logits ±1e4: reduction none [-0, ln 2] / [2e4, 20000.6934]; grad of mean. */
TEST(loss_cross_entropy_stable_at_1e4)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = tf(2, DC_SHAPE(2, 3), (const float[]){1e4f, -1e4f, 0, -1e4f, 1e4f, 1e4f}, 1);
    dc_tensor *t = ti(1, DC_SHAPE(2), (const int64_t[]){0, 1});
    dc_tensor *u = ti(1, DC_SHAPE(2), (const int64_t[]){1, 0});
    REQUIRE(ctx && x && t && u);
    dc_ce_opts o = dc_ce_defaults();
    o.reduction = DC_NONE;
    dc_tensor *a = dc_cross_entropy(ctx, x, t, &o), *b = dc_cross_entropy(ctx, x, u, &o);
    REQUIRE(a && b);
    CHECK(dc_f32(a)[0] == 0.0f, "CE at the max logit: %g, want exactly 0", (double)dc_f32(a)[0]);
    CHECK_NEAR(dc_f32(a)[1], logf(2.0f), 0);
    CHECK(dc_f32(b)[0] == 20000.0f, "CE 2e4 below: %.9g, want 20000", (double)dc_f32(b)[0]);
    CHECK_NEAR(dc_f32(b)[1], 20000.6934f, 0);
    dc_tensor *l = dc_cross_entropy(ctx, x, t, NULL);
    REQUIRE(l && dc_backward(ctx, l) == DC_OK);
    CHECK_ALLCLOSE("ce 1e4 grad", x->grad, ((const float[]){0, 0, 0, 0, -0.25f, 0.25f}), 6, 0,
                   1e-7);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(t);
    dc_tensor_free(u);
}

/* F.nll_loss(lp, [2, 0, -100], weight=[1, .5, 3], reduction=red). */
TEST(loss_nll_matches_torch)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *lp = tf(2, DC_SHAPE(3, 3),
                       (const float[]){-1.2f, -0.5f, -2.0f, -0.1f, -3.0f, -2.5f, -0.7f, -0.9f,
                                       -1.8f}, 1);
    dc_tensor *t = ti(1, DC_SHAPE(3), (const int64_t[]){2, 0, -100});
    dc_tensor *w = tf(1, DC_SHAPE(3), (const float[]){1.0f, 0.5f, 3.0f}, 0);
    REQUIRE(ctx && lp && t && w);
    dc_ce_opts o = dc_ce_defaults();
    o.weight = w;
    dc_tensor *l = dc_nll_loss(ctx, lp, t, &o);
    REQUIRE(l);
    CHECK_NEAR(scalar(l), 1.52499998, 1e-6);
    REQUIRE(dc_backward(ctx, l) == DC_OK);
    /* d mean / d lp[r, t_r] = -w_t / Σ w_t = -3/4 and -1/4. */
    CHECK_ALLCLOSE("nll grad", lp->grad, ((const float[]){0, 0, -0.75f, -0.25f, 0, 0, 0, 0, 0}),
                   9, 0, 1e-7);
    o.reduction = DC_SUM;
    CHECK_NEAR(scalar(dc_nll_loss(ctx, lp, t, &o)), 6.0999999, 1e-6);
    o.reduction = DC_NONE;
    dc_tensor *n = dc_nll_loss(ctx, lp, t, &o);
    REQUIRE(n);
    CHECK_ALLCLOSE("nll none", dc_f32(n), ((const float[]){6.0f, 0.1f, 0.0f}), 3, 1e-6, 0);
    dc_ctx_free(ctx);
    dc_tensor_free(lp);
    dc_tensor_free(t);
    dc_tensor_free(w);
}

/*
 * F.binary_cross_entropy(p, y, reduction=red) with p = [.1, .5, .9, .99, .3, 0], y = [0, 1, 1,
 * 0, .25, 0] (both requires_grad); gradients of the mean. At p = 0 PyTorch's target gradient is
 * -logit(0) = inf; ours is the derivative of the clamped forward, 100.
 */
TEST(loss_bce_matches_torch)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *p = tf(1, DC_SHAPE(6), (const float[]){0.1f, 0.5f, 0.9f, 0.99f, 0.3f, 0}, 1);
    dc_tensor *y = tf(1, DC_SHAPE(6), (const float[]){0, 1, 1, 0, 0.25f, 0}, 1);
    REQUIRE(ctx && p && y);
    dc_tensor *l = dc_bce_loss(ctx, p, y, DC_MEAN);
    REQUIRE(l);
    CHECK_NEAR(scalar(l), 1.01292312, 1e-6);
    REQUIRE(dc_backward(ctx, l) == DC_OK);
    CHECK_ALLCLOSE("bce dp", p->grad, ((const float[]){0.185185194f, -0.333333343f,
                   -0.185185194f, 16.6666832f, 0.0396825485f, 0.0f}), 6, 1e-5, 1e-7);
    CHECK_ALLCLOSE("bce dy", y->grad, ((const float[]){0.366204113f, 0.0f, -0.366204053f,
                   -0.765853465f, 0.141216308f, 100.0f / 6.0f}), 6, 1e-5, 1e-7);
    CHECK_NEAR(scalar(dc_bce_loss(ctx, p, y, DC_SUM)), 6.07753897, 5e-6);
    dc_tensor *n = dc_bce_loss(ctx, p, y, DC_NONE);
    REQUIRE(n);
    CHECK_ALLCLOSE("bce none", dc_f32(n), ((const float[]){0.105360545f, 0.693147182f,
                   0.105360545f, 4.6051712f, 0.568499446f, 0.0f}), 6, 1e-6, 1e-7);
    /* p = 0 with y = 1: log clamped at -100. */
    dc_tensor *y1 = tf(1, DC_SHAPE(1), (const float[]){1}, 0);
    dc_tensor *p0 = tf(1, DC_SHAPE(1), (const float[]){0}, 0);
    REQUIRE(y1 && p0);
    CHECK_NEAR(scalar(dc_bce_loss(ctx, p0, y1, DC_MEAN)), 100.0, 0);
    dc_ctx_free(ctx);
    dc_tensor_free(p);
    dc_tensor_free(y);
    dc_tensor_free(y1);
    dc_tensor_free(p0);
}

/* F.binary_cross_entropy_with_logits(x, y, pos_weight=[2, .5, 1.5], reduction=red); grads of sum. */
TEST(loss_bce_with_logits_matches_torch)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = tf(2, DC_SHAPE(2, 3), (const float[]){2, -1, 0.5f, -3, 0, 4}, 1);
    dc_tensor *y = tf(2, DC_SHAPE(2, 3), (const float[]){1, 0, 0.3f, 0.2f, 1, 0}, 1);
    dc_tensor *pw = tf(1, DC_SHAPE(3), (const float[]){2.0f, 0.5f, 1.5f}, 0);
    REQUIRE(ctx && x && y && pw);
    CHECK_NEAR(scalar(dc_bce_with_logits(ctx, x, y, DC_MEAN, pw)), 1.18088901, 1e-6);
    dc_tensor *n = dc_bce_with_logits(ctx, x, y, DC_NONE, pw);
    REQUIRE(n);
    CHECK_ALLCLOSE("bcel none", dc_f32(n), ((const float[]){0.253856093f, 0.313261628f,
                   0.89518857f, 1.25830483f, 0.346573591f, 4.01814985f}), 6, 1e-6, 0);
    dc_tensor *l = dc_bce_with_logits(ctx, x, y, DC_SUM, pw);
    REQUIRE(l);
    CHECK_NEAR(scalar(l), 7.08533382, 5e-6);
    REQUIRE(dc_backward(ctx, l) == DC_OK);
    CHECK_ALLCLOSE("bcel dx", x->grad, ((const float[]){-0.238405943f, 0.268941432f,
                   0.265828282f, -0.343088955f, -0.25f, 0.982013762f}), 6, 1e-5, 1e-7);
    CHECK_ALLCLOSE("bcel dy", y->grad, ((const float[]){-1.87307203f, 0.343369186f,
                   -0.262961507f, 6.04858732f, -0.346573591f, -3.99092507f}), 6, 1e-5, 1e-7);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(y);
    dc_tensor_free(pw);
}

/* F.binary_cross_entropy_with_logits([100, -100, 100, -100], [0, 1, 1, 0], reduction=...). */
TEST(loss_bce_with_logits_stable_at_100)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = tf(1, DC_SHAPE(4), (const float[]){100, -100, 100, -100}, 1);
    dc_tensor *y = tf(1, DC_SHAPE(4), (const float[]){0, 1, 1, 0}, 0);
    REQUIRE(ctx && x && y);
    dc_tensor *n = dc_bce_with_logits(ctx, x, y, DC_NONE, NULL);
    REQUIRE(n);
    CHECK_ALLCLOSE("bcel ±100", dc_f32(n), ((const float[]){100, 100, 0, 0}), 4, 0, 1e-30);
    dc_tensor *l = dc_bce_with_logits(ctx, x, y, DC_SUM, NULL);
    REQUIRE(l && dc_backward(ctx, l) == DC_OK);
    CHECK_ALLCLOSE("bcel ±100 grad", x->grad, ((const float[]){1, -1, 0, 0}), 4, 0, 1e-30);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(y);
}

/*
 * F.smooth_l1_loss(a, b, beta=.5, reduction='none'), F.huber_loss(a, b, delta=.7, ...); grads of
 * the Huber mean (the target's is the negative).
 */
TEST(loss_smooth_l1_huber_match_torch)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *a = tf(1, DC_SHAPE(6), (const float[]){0, 0.3f, -0.8f, 2, -0.45f, 1}, 1);
    dc_tensor *b = tf(1, DC_SHAPE(6), (const float[]){0.1f, -0.1f, 0, 0, 0, 0}, 1);
    REQUIRE(ctx && a && b);
    dc_tensor *s = dc_smooth_l1_loss(ctx, a, b, DC_NONE, 0.5f);
    dc_tensor *h = dc_huber_loss(ctx, a, b, DC_NONE, 0.7f);
    REQUIRE(s && h);
    CHECK_ALLCLOSE("smooth l1", dc_f32(s), ((const float[]){0.0100000007f, 0.160000011f,
                   0.550000012f, 1.75f, 0.202499986f, 0.75f}), 6, 1e-6, 0);
    CHECK_ALLCLOSE("huber", dc_f32(h), ((const float[]){0.00500000035f, 0.0800000057f,
                   0.314999998f, 1.15499997f, 0.101249993f, 0.454999983f}), 6, 1e-6, 0);
    dc_tensor *l = dc_huber_loss(ctx, a, b, DC_MEAN, 0.7f);
    REQUIRE(l && dc_backward(ctx, l) == DC_OK);
    static const float dx[6] = {-0.0166666675f, 0.0666666701f, -0.116666667f, 0.116666667f,
                                -0.075000003f, 0.116666667f};
    float dy[6];
    for (int i = 0; i < 6; i++)
        dy[i] = -dx[i];
    CHECK_ALLCLOSE("huber dx", a->grad, dx, 6, 1e-6, 0);
    CHECK_ALLCLOSE("huber dy", b->grad, dy, 6, 1e-6, 0);
    dc_ctx_free(ctx);
    dc_tensor_free(a);
    dc_tensor_free(b);
}

TEST(loss_targets_get_gradients_and_l1_sign)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = tf(1, DC_SHAPE(3), (const float[]){1, 2, 3}, 1);
    dc_tensor *y = tf(1, DC_SHAPE(3), (const float[]){0, 2, 5}, 1);
    REQUIRE(ctx && x && y);
    dc_tensor *l = dc_mse_loss(ctx, x, y, DC_SUM);
    REQUIRE(l && dc_backward(ctx, l) == DC_OK);
    CHECK_ALLCLOSE("mse dx", x->grad, ((const float[]){2, 0, -4}), 3, 0, 0);
    CHECK_ALLCLOSE("mse dy", y->grad, ((const float[]){-2, 0, 4}), 3, 0, 0);
    dc_tensor_zero_grad(x);
    dc_tensor_zero_grad(y);
    dc_ctx_reset(ctx);
    /* d|x-y|/dx = sign(x-y), 0 at x == y (PyTorch). */
    l = dc_l1_loss(ctx, x, y, DC_SUM);
    REQUIRE(l && dc_backward(ctx, l) == DC_OK);
    CHECK_ALLCLOSE("l1 dx", x->grad, ((const float[]){1, 0, -1}), 3, 0, 0);
    CHECK_ALLCLOSE("l1 dy", y->grad, ((const float[]){-1, 0, 1}), 3, 0, 0);
    /* The same tensor as input and target: gradients cancel. */
    dc_tensor_zero_grad(x);
    dc_ctx_reset(ctx);
    l = dc_mse_loss(ctx, x, x, DC_MEAN);
    REQUIRE(l && dc_backward(ctx, l) == DC_OK);
    CHECK_ALLCLOSE("mse(x, x) dx", x->grad, ((const float[]){0, 0, 0}), 3, 0, 0);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(y);
}

/* Run f, expect NULL and a message containing each of the needles. */
#define CHECK_FAILS(expr, ...)                                                             \
    do {                                                                                   \
        dc_clear_error();                                                                  \
        dc_tensor *r_ = (expr);                                                            \
        CHECK(r_ == NULL, "%s should fail", #expr);                                        \
        const char *needles_[] = {__VA_ARGS__};                                            \
        for (size_t i_ = 0; i_ < sizeof needles_ / sizeof *needles_; i_++)                 \
            CHECK(strstr(dc_last_error(), needles_[i_]), "%s: message '%s' lacks '%s'",    \
                  #expr, dc_last_error(), needles_[i_]);                                   \
    } while (0)

TEST(loss_errors_name_the_problem)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = tf(2, DC_SHAPE(3, 4), ce_x, 0), *x23 = tf(2, DC_SHAPE(2, 3), ce_x, 0);
    dc_tensor *x32 = tf(2, DC_SHAPE(3, 2), ce_x, 0);
    dc_tensor *bad = ti(1, DC_SHAPE(3), (const int64_t[]){0, 3, 7});
    dc_tensor *neg = ti(1, DC_SHAPE(3), (const int64_t[]){0, -1, 2});
    dc_tensor *t4 = ti(1, DC_SHAPE(4), (const int64_t[]){0, 1, 2, 3});
    dc_tensor *ok = ti(1, DC_SHAPE(3), (const int64_t[]){0, 1, 2});
    dc_tensor *w3 = tf(1, DC_SHAPE(3), ce_w, 0);
    dc_tensor *p = tf(1, DC_SHAPE(2), (const float[]){0.5f, 1.5f}, 0);
    dc_tensor *q = tf(1, DC_SHAPE(2), (const float[]){0.5f, 0.5f}, 0);
    REQUIRE(ctx && x && x23 && x32 && bad && neg && t4 && ok && w3 && p && q);
    CHECK_FAILS(dc_cross_entropy(ctx, x, bad, NULL), "row 2", "is 7", "[0, 4)");
    CHECK_FAILS(dc_nll_loss(ctx, x, neg, NULL), "row 1", "is -1");
    CHECK_FAILS(dc_cross_entropy(ctx, x, t4, NULL), "[4]", "[3, 4]");
    CHECK_FAILS(dc_cross_entropy(ctx, x, x23, NULL), "[2, 3]", "[3, 4]");
    CHECK_FAILS(dc_mse_loss(ctx, x23, x32, DC_MEAN), "[2, 3]", "[3, 2]");
    CHECK_FAILS(dc_bce_with_logits(ctx, x23, x32, DC_MEAN, NULL), "[2, 3]", "[3, 2]");
    CHECK_FAILS(dc_bce_loss(ctx, p, q, DC_MEAN), "element 1", "1.5", "[0, 1]");
    CHECK_FAILS(dc_bce_with_logits(ctx, x, x, DC_MEAN, w3), "pos_weight", "[4]", "[3]");
    CHECK_FAILS(dc_smooth_l1_loss(ctx, x, x, DC_MEAN, -1.0f), "beta");
    CHECK_FAILS(dc_huber_loss(ctx, x, x, DC_MEAN, 0.0f), "delta");
    CHECK_FAILS(dc_mse_loss(ctx, x, x, (dc_reduction)7), "reduction");
    CHECK_FAILS(dc_mse_loss(ctx, x, ok, DC_MEAN), "float32");
    dc_ce_opts o = dc_ce_defaults();
    o.weight = w3;
    CHECK_FAILS(dc_cross_entropy(ctx, x, ok, &o), "weight", "[4]", "[3]");
    o = dc_ce_defaults();
    o.label_smoothing = 0.1f;
    CHECK_FAILS(dc_nll_loss(ctx, x, ok, &o), "label_smoothing");
    o.label_smoothing = 1.5f;
    CHECK_FAILS(dc_cross_entropy(ctx, x, ok, &o), "label_smoothing", "1.5");
    /* NULL inputs propagate without touching the error. */
    dc_clear_error();
    CHECK(dc_cross_entropy(ctx, NULL, ok, NULL) == NULL && dc_last_error()[0] == '\0',
          "NULL input must return NULL silently");
    CHECK(dc_mse_loss(ctx, x, NULL, DC_MEAN) == NULL && dc_last_error()[0] == '\0',
          "NULL target must return NULL silently");
    /* ignore_index may be a valid class: those rows are skipped. */
    o = dc_ce_defaults();
    o.ignore_index = 1;
    o.reduction = DC_NONE;
    dc_tensor *l = dc_cross_entropy(ctx, x, ok, &o);
    REQUIRE(l);
    CHECK(dc_f32(l)[1] == 0.0f && dc_f32(l)[0] > 0.0f, "ignore_index 1 skips row 1");
    dc_ctx_free(ctx);
    dc_tensor *all[] = {x, x23, x32, bad, neg, t4, ok, w3, p, q};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        dc_tensor_free(all[i]);
}

/* Logits [N, K, d] with targets [N, d] equal the rows moved to [N·d, K]. */
TEST(loss_cross_entropy_extra_dims)
{
    dc_ctx *ctx = dc_ctx_new(0);
    /* x[n, k, s] for N = 2, K = 3, S = 2, and the same values as rows [n·S + s, k]. */
    float xv[12], rv[12];
    for (int i = 0; i < 12; i++)
        xv[i] = 0.37f * (float)((i * 7) % 11) - 1.5f;
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 3; k++)
            for (int s = 0; s < 2; s++)
                rv[(n * 2 + s) * 3 + k] = xv[(n * 3 + k) * 2 + s];
    dc_tensor *x = tf(3, DC_SHAPE(2, 3, 2), xv, 0), *xr = tf(2, DC_SHAPE(4, 3), rv, 0);
    dc_tensor *t = ti(2, DC_SHAPE(2, 2), (const int64_t[]){2, 0, 1, -100});
    dc_tensor *tr = ti(1, DC_SHAPE(4), (const int64_t[]){2, 0, 1, -100});
    REQUIRE(ctx && x && xr && t && tr);
    dc_ce_opts o = dc_ce_defaults();
    o.label_smoothing = 0.1f;
    o.reduction = DC_NONE;
    dc_tensor *a = dc_cross_entropy(ctx, x, t, &o), *b = dc_cross_entropy(ctx, xr, tr, &o);
    REQUIRE(a && b);
    CHECK(a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 2, "none gives [N, d]");
    CHECK_ALLCLOSE("[N,K,d] vs rows", dc_f32(a), dc_f32(b), 4, 1e-6, 0);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(xr);
    dc_tensor_free(t);
    dc_tensor_free(tr);
}

/* K = 1000 (several exp blocks and a tail) against log-softmax and softmax in double. */
TEST(loss_cross_entropy_large_k_matches_double)
{
    enum { N = 3, K = 1000 };
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_tensor_new(DC_F32, 2, DC_SHAPE(N, K));
    dc_tensor *t = ti(1, DC_SHAPE(N), (const int64_t[]){7, 999, 500});
    REQUIRE(ctx && x && t && dc_tensor_requires_grad(x) == DC_OK);
    dc_rng r;
    dc_rng_seed(&r, 9, 2);
    dc_tensor_normal(x, &r, 0.0f, 5.0f);
    dc_tensor *l = dc_cross_entropy(ctx, x, t, NULL);
    REQUIRE(l && dc_backward(ctx, l) == DC_OK);
    static float want_grad[N * K];
    double want = 0;
    for (int n = 0; n < N; n++) {
        const float *xr = dc_f32(x) + n * K;
        double mx = xr[0], se = 0;
        for (int k = 1; k < K; k++)
            mx = xr[k] > mx ? xr[k] : mx;
        for (int k = 0; k < K; k++)
            se += exp((double)xr[k] - mx);
        int64_t c = dc_i64(t)[n];
        want -= ((double)xr[c] - mx - log(se)) / N;
        for (int k = 0; k < K; k++)
            want_grad[n * K + k] = (float)((exp((double)xr[k] - mx) / se - (k == c)) / N);
    }
    CHECK_NEAR(scalar(l), want, 2e-6 * fabs(want));
    CHECK_ALLCLOSE("ce K=1000 grad", x->grad, want_grad, N * K, 1e-5, 1e-10);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(t);
}

/* Bitwise the same loss and gradient at 1 and 2 threads (large enough to run in parallel). */
TEST(loss_thread_count_independent)
{
    enum { N = 512, K = 64 };
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_tensor_new(DC_F32, 2, DC_SHAPE(N, K));
    dc_tensor *t = dc_tensor_new(DC_I64, 1, DC_SHAPE(N));
    REQUIRE(ctx && x && t && dc_tensor_requires_grad(x) == DC_OK);
    dc_rng r;
    dc_rng_seed(&r, 5, 1);
    dc_tensor_normal(x, &r, 0.0f, 3.0f);
    for (int i = 0; i < N; i++)
        dc_i64(t)[i] = (int64_t)dc_rng_below(&r, K);
    dc_ce_opts o = dc_ce_defaults();
    o.label_smoothing = 0.1f;
    float val[2];
    static float grad[2][N * K];
    int old = dc_get_num_threads();
    for (int run = 0; run < 2; run++) {
        dc_set_num_threads(run + 1);
        dc_tensor_zero_grad(x);
        dc_ctx_reset(ctx);
        dc_tensor *l = dc_cross_entropy(ctx, x, t, &o);
        REQUIRE(l && dc_backward(ctx, l) == DC_OK);
        val[run] = scalar(l);
        memcpy(grad[run], x->grad, sizeof grad[run]);
    }
    dc_set_num_threads(old);
    CHECK(val[0] == val[1], "loss differs with threads: %.9g vs %.9g", (double)val[0],
          (double)val[1]);
    CHECK(memcmp(grad[0], grad[1], sizeof grad[0]) == 0, "gradient differs with threads");
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(t);
}

TEST(loss_records_only_what_needs_grad)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = tf(2, DC_SHAPE(2, 2), (const float[]){1, 2, 3, 4}, 0);
    dc_tensor *tp = tf(2, DC_SHAPE(2, 2), (const float[]){0.5f, 0.5f, 1, 0}, 1);
    REQUIRE(ctx && x && tp);
    /* Only the (probability) target requires grad: CE records nothing. */
    dc_tensor *l = dc_cross_entropy(ctx, x, tp, NULL);
    REQUIRE(l);
    CHECK(!(l->flags & DC_TF_REQUIRES_GRAD) && dc_ctx_tape_len(ctx) == 0,
          "cross_entropy must not record for a target");
    /* ...while MSE gives the target a gradient. */
    l = dc_mse_loss(ctx, x, tp, DC_MEAN);
    REQUIRE(l);
    CHECK((l->flags & DC_TF_REQUIRES_GRAD) && dc_ctx_tape_len(ctx) == 1, "mse records for y");
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(tp);
}
