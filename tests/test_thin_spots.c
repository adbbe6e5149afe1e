/*
 * test_thin_spots.c - direct unit tests for behaviours that were each caught by one end-to-end
 * test only: L1's gradient sign at 0 (PyTorch: sign(0) = 0), Winograd's even-height condition and
 * the Winograd path on odd heights (which must fall back) against im2col + GEMM, a scheduler's
 * lr right after construction and after its first step, and gradient-norm clipping over tensors
 * long enough for the 8-wide accumulation loop and its tail.
 */
#include "harness.h"
#include "core/internal.h"
#include "kernels/conv_k.h"
#include "kernels/conv_wino.h"
#include "kernels/loss_k.h"

#include <math.h>
#include <string.h>

/* ---- L1 ---- */

/* d = x - y: sign(d), and 0 where x == y (also -0), in the kernel and through dc_l1_loss. */
TEST(l1_gradient_sign_is_zero_at_zero)
{
    static const float x[6] = {1.0f, 2.0f, 3.0f, -1.0f, 0.0f, 1e-30f};
    static const float y[6] = {1.0f, 0.0f, 5.0f, -1.0f, -0.0f, 0.0f};
    static const float sign[6] = {0, 1, -1, 0, 0, 1};
    float out[6];
    dc_k_l1_dx(6, x, y, out);
    CHECK_ALLCLOSE("dc_k_l1_dx", out, sign, 6, 0, 0);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *tx = dc_tensor_new(DC_F32, 1, DC_SHAPE(6)), *ty = dc_tensor_new(DC_F32, 1,
                                                                                DC_SHAPE(6));
    REQUIRE(ctx && tx && ty && dc_tensor_requires_grad(tx) == DC_OK);
    memcpy(tx->data, x, sizeof x);
    memcpy(ty->data, y, sizeof y);
    dc_tensor *l = dc_l1_loss(ctx, tx, ty, DC_SUM);
    REQUIRE(l && dc_backward(ctx, l) == DC_OK);
    CHECK_ALLCLOSE("dc_l1_loss(sum) gradient", tx->grad, sign, 6, 0, 0);
    CHECK_NEAR(dc_f32(l)[0], 4.0, 1e-6);
    /* smooth L1 with beta 0 is L1, its gradient included */
    dc_ctx_reset(ctx);
    memset(tx->grad, 0, sizeof x);
    l = dc_smooth_l1_loss(ctx, tx, ty, DC_SUM, 0.0f);
    REQUIRE(l && dc_backward(ctx, l) == DC_OK);
    CHECK_ALLCLOSE("dc_smooth_l1_loss(beta 0) gradient", tx->grad, sign, 6, 0, 0);
    dc_tensor_free(tx);
    dc_tensor_free(ty);
    dc_ctx_free(ctx);
}

/* ---- Winograd ---- */

static dc_k_conv_geom wino_geom(int64_t C, int64_t Ho, int64_t Wo)
{
    return (dc_k_conv_geom){.C = C, .H = Ho, .W = Wo, .Ho = Ho, .Wo = Wo, .kh = 3, .kw = 3,
                            .sh = 1, .sw = 1, .pt = 1, .pl = 1, .dh = 1, .dw = 1};
}

/* Winograd's 2x2 output tiles need an even number of output rows and rows of a multiple of 32;
 * 16..64 channels each way; 3x3, stride 1, no dilation. */
TEST(winograd_fits_only_even_heights_and_its_shapes)
{
    static const int64_t heights[] = {2, 4, 32, 34, 64};
    for (size_t i = 0; i < sizeof heights / sizeof *heights; i++) {
        dc_k_conv_geom g = wino_geom(16, heights[i], 32);
        CHECK(dc_k_wino_fits(&g, 16), "even height %lld refused", (long long)heights[i]);
        g = wino_geom(16, heights[i] + 1, 32);
        CHECK(!dc_k_wino_fits(&g, 16), "odd height %lld accepted", (long long)heights[i] + 1);
        g = wino_geom(16, heights[i] - 1, 32);
        CHECK(!dc_k_wino_fits(&g, 16), "odd height %lld accepted", (long long)heights[i] - 1);
    }
    dc_k_conv_geom g = wino_geom(16, 0, 32);
    CHECK(!dc_k_wino_fits(&g, 16), "height 0 accepted");
    static const int64_t widths[] = {16, 31, 33, 48};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
        g = wino_geom(16, 32, widths[i]);
        CHECK(!dc_k_wino_fits(&g, 16), "width %lld accepted", (long long)widths[i]);
    }
    g = wino_geom(16, 32, 64);
    CHECK(dc_k_wino_fits(&g, 16), "width 64 refused");
    static const int64_t ch_ok[] = {16, 17, 63, 64}, ch_bad[] = {15, 65};
    for (int i = 0; i < 4; i++) {
        g = wino_geom(ch_ok[i], 32, 32);
        CHECK(dc_k_wino_fits(&g, 16), "%lld input channels refused", (long long)ch_ok[i]);
        g = wino_geom(16, 32, 32);
        CHECK(dc_k_wino_fits(&g, ch_ok[i]), "%lld output channels refused", (long long)ch_ok[i]);
    }
    for (int i = 0; i < 2; i++) {
        g = wino_geom(ch_bad[i], 32, 32);
        CHECK(!dc_k_wino_fits(&g, 16), "%lld input channels accepted", (long long)ch_bad[i]);
        g = wino_geom(16, 32, 32);
        CHECK(!dc_k_wino_fits(&g, ch_bad[i]), "%lld output channels accepted",
              (long long)ch_bad[i]);
    }
    g = wino_geom(16, 32, 32);
    g.sh = 2;
    CHECK(!dc_k_wino_fits(&g, 16), "stride 2 accepted");
    g = wino_geom(16, 32, 32);
    g.dw = 2;
    CHECK(!dc_k_wino_fits(&g, 16), "dilation 2 accepted");
    g = wino_geom(16, 32, 32);
    g.kh = g.kw = 5;
    CHECK(!dc_k_wino_fits(&g, 16), "5x5 accepted");
    g = wino_geom(16, 33, 32);
    CHECK(dc_k_conv_direct_layout(&g, 16) != DC_K_DIRECT_WINO, "odd height laid out for "
          "Winograd");
}

#define WN 1
#define WC 16
#define WO 16
#define WW 32
#define WH_MAX 35

typedef struct wino_run {
    float y[WN * WO * WH_MAX * WW], dx[WN * WC * WH_MAX * WW], dw[WO * WC * 9], db[WO];
} wino_run;

/* conv2d 3x3 pad 1 of [WN, WC, h, WW] -> [WN, WO, h, WW], forward and backward with a random dy,
 * through the direct paths (Winograd where it fits) or im2col + GEMM. */
static int wino_conv(int direct, int64_t h, wino_run *out)
{
    dc_conv_direct_enable(direct);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_rng r;
    dc_rng_seed(&r, 31, (uint64_t)h);
    dc_tensor *x = dc_tensor_new(DC_F32, 4, DC_SHAPE(WN, WC, h, WW));
    dc_tensor *w = dc_tensor_new(DC_F32, 4, DC_SHAPE(WO, WC, 3, 3));
    dc_tensor *b = dc_tensor_new(DC_F32, 1, DC_SHAPE(WO));
    dc_tensor *dy = dc_tensor_new(DC_F32, 4, DC_SHAPE(WN, WO, h, WW));
    int ok = 0;
    if (ctx && x && w && b && dy) {
        dc_tensor_uniform(x, &r, -1, 1);
        dc_tensor_uniform(w, &r, -0.3f, 0.3f);
        dc_tensor_uniform(b, &r, -0.3f, 0.3f);
        dc_tensor_uniform(dy, &r, -1, 1);
        dc_tensor_requires_grad(x);
        dc_tensor_requires_grad(w);
        dc_tensor_requires_grad(b);
        dc_conv2d_opts o = dc_conv2d_defaults();
        o.pad_top = o.pad_bottom = o.pad_left = o.pad_right = 1;
        dc_tensor *y = dc_conv2d(ctx, x, w, b, &o);
        if (y && y->numel == WN * WO * h * WW && dc_backward_with(ctx, y, dy) == DC_OK) {
            memcpy(out->y, y->data, sizeof(float) * (size_t)y->numel);
            memcpy(out->dx, x->grad, sizeof(float) * (size_t)x->numel);
            memcpy(out->dw, w->grad, sizeof out->dw);
            memcpy(out->db, b->grad, sizeof out->db);
            ok = 1;
        }
    }
    dc_tensor_free(x), dc_tensor_free(w), dc_tensor_free(b), dc_tensor_free(dy);
    dc_ctx_free(ctx);
    dc_conv_direct_enable(1);
    return ok;
}

/* Odd heights (no Winograd: the direct kernels or GEMM) and even non-square ones (Winograd on an
 * AVX-512 CPU) give what im2col + GEMM gives. */
TEST(winograd_odd_and_even_heights_match_gemm)
{
    static wino_run a, b;
    static const int64_t heights[] = {33, 34, 3};
    for (size_t i = 0; i < sizeof heights / sizeof *heights; i++) {
        const int64_t h = heights[i];
        REQUIRE(wino_conv(1, h, &a));
        REQUIRE(wino_conv(0, h, &b));
        char what[64];
        snprintf(what, sizeof what, "height %lld: y", (long long)h);
        CHECK_ALLCLOSE(what, a.y, b.y, WN * WO * h * WW, 1e-5, 1e-5);
        snprintf(what, sizeof what, "height %lld: dx", (long long)h);
        CHECK_ALLCLOSE(what, a.dx, b.dx, WN * WC * h * WW, 1e-5, 1e-5);
        snprintf(what, sizeof what, "height %lld: dw", (long long)h);
        CHECK_ALLCLOSE(what, a.dw, b.dw, WO * WC * 9, 1e-5, 1e-4);
        snprintf(what, sizeof what, "height %lld: db", (long long)h);
        CHECK_ALLCLOSE(what, a.db, b.db, WO, 1e-5, 1e-5);
    }
}

/* ---- schedulers: construction and the first step ---- */

/* After dc_sched_new the optimizer holds the epoch-0 lr (LinearLR: base·start_factor, the others
 * base); after one dc_sched_step the epoch-1 lr; dc_sched_epoch counts 0, then 1. */
TEST(sched_lr_at_construction_and_after_the_first_step)
{
    dc_model *m = dc_model_new();
    REQUIRE(m && dc_model_add_param(m, "w", DC_F32, 1, DC_SHAPE(3), 0));
    const double base = (double)0.1f, pi = 3.14159265358979323846;
    struct { dc_sched_cfg c; double at0, at1; } cs[6];
    int n = 0;
    cs[n].c = dc_sched_defaults(DC_SCHED_STEP);
    cs[n].c.step_size = 1;
    cs[n].c.gamma = 0.5f;
    cs[n].at0 = base, cs[n].at1 = base * 0.5, n++;
    cs[n].c = dc_sched_defaults(DC_SCHED_MULTISTEP);
    cs[n].c.n_milestones = 1;
    cs[n].c.milestones[0] = 1;
    /* lr and gamma are read as the decimals written (0.1, not 0.1f: dc_optim_widen), as
     * PyTorch's Python floats are */
    cs[n].at0 = base, cs[n].at1 = 0.1 * 0.1, n++;
    cs[n].c = dc_sched_defaults(DC_SCHED_EXPONENTIAL);
    cs[n].c.gamma = 0.9f;
    cs[n].at0 = base, cs[n].at1 = 0.1 * 0.9, n++;
    cs[n].c = dc_sched_defaults(DC_SCHED_COSINE);
    cs[n].c.t_max = 4;
    cs[n].at0 = base, cs[n].at1 = base * (1 + cos(pi / 4)) / 2, n++;
    cs[n].c = dc_sched_defaults(DC_SCHED_WARMUP); /* 1/3 -> 1 over 5 epochs */
    const double sf = (double)(1.0f / 3.0f);
    cs[n].at0 = base * sf, cs[n].at1 = base * (sf + (1 - sf) / 5), n++;
    cs[n].c = dc_sched_defaults(DC_SCHED_PLATEAU);
    cs[n].c.patience = 0;
    cs[n].at0 = base, cs[n].at1 = base, n++; /* the first metric is always an improvement */
    for (int i = 0; i < n; i++) {
        dc_optim_cfg oc = dc_optim_defaults(DC_SGD);
        oc.lr = 0.1f;
        dc_optim *o = dc_optim_new(m, &oc);
        dc_sched *s = o ? dc_sched_new(o, &cs[i].c) : NULL;
        REQUIRE(s);
        CHECK(dc_sched_epoch(s) == 0, "kind %d: epoch %lld at construction", (int)cs[i].c.kind,
              (long long)dc_sched_epoch(s));
        CHECK(dc_optim_lr(o) == (float)cs[i].at0, "kind %d: lr %.9g at construction, expected "
              "%.9g", (int)cs[i].c.kind, (double)dc_optim_lr(o), cs[i].at0);
        dc_sched_step(s, 1.0f);
        CHECK(dc_sched_epoch(s) == 1, "kind %d: epoch %lld after one step", (int)cs[i].c.kind,
              (long long)dc_sched_epoch(s));
        CHECK(dc_optim_lr(o) == (float)cs[i].at1, "kind %d: lr %.9g after one step, expected "
              "%.9g", (int)cs[i].c.kind, (double)dc_optim_lr(o), cs[i].at1);
        dc_sched_free(s);
        dc_optim_free(o);
    }
    dc_model_free(m);
}

/* ---- clipping over long gradients ---- */

/* Tensors of 19 (two 8-blocks and a tail of 3), 8 (one block, no tail), 5 (tail only) and 1
 * elements, a buffer in between (skipped): the norm against a plain double sum, then every
 * element scaled by PyTorch's coefficient, and value clipping on every element. */
TEST(clip_grad_norm_over_blocks_of_eight_and_tails)
{
    static const int64_t len[4] = {19, 8, 5, 1};
    dc_model *m = dc_model_new();
    REQUIRE(m);
    dc_tensor *t[4];
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        t[i] = dc_model_add_param(m, name, DC_F32, 1, DC_SHAPE(len[i]), 0);
        if (i == 1)
            REQUIRE(dc_model_add_param(m, "buffer", DC_F32, 1, DC_SHAPE(9), 1));
    }
    for (int i = 0; i < 4; i++) { /* found again: adding may have moved them */
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        t[i] = dc_model_find(m, name);
        REQUIRE(t[i] && t[i]->grad);
    }
    float orig[33];
    double ss = 0;
    int k = 0;
    for (int i = 0; i < 4; i++)
        for (int64_t j = 0; j < len[i]; j++, k++) {
            orig[k] = (float)((k % 7) - 3) * 0.5f + 0.125f * (float)(k % 3);
            t[i]->grad[j] = orig[k];
            ss += (double)orig[k] * orig[k];
        }
    dc_tensor *buf = dc_model_find(m, "buffer");
    REQUIRE(buf);
    if (buf->grad) /* a buffer's gradient, if it has one, must not count */
        for (int j = 0; j < 9; j++)
            buf->grad[j] = 100.0f;
    const float norm = (float)sqrt(ss);
    CHECK_NEAR(dc_grad_norm(m), norm, 1e-6 * norm);
    float got = dc_clip_grad_norm(m, 1.0f);
    CHECK_NEAR(got, norm, 1e-6 * norm);
    const float coef = 1.0f / (got + 1e-6f);
    k = 0;
    int bad = 0;
    for (int i = 0; i < 4; i++)
        for (int64_t j = 0; j < len[i]; j++, k++)
            if (t[i]->grad[j] != orig[k] * coef && !bad++)
                CHECK(0, "tensor %d element %lld: %.9g, expected %.9g", i, (long long)j,
                      (double)t[i]->grad[j], (double)(orig[k] * coef));
    CHECK_NEAR(dc_grad_norm(m), 1.0, 1e-5);
    k = 0;
    for (int i = 0; i < 4; i++)
        for (int64_t j = 0; j < len[i]; j++, k++)
            t[i]->grad[j] = orig[k];
    dc_clip_grad_value(m, 1.0f);
    k = 0;
    bad = 0;
    for (int i = 0; i < 4; i++)
        for (int64_t j = 0; j < len[i]; j++, k++) {
            const float want = orig[k] > 1.0f ? 1.0f : orig[k] < -1.0f ? -1.0f : orig[k];
            if (t[i]->grad[j] != want && !bad++)
                CHECK(0, "value clip: tensor %d element %lld: %.9g, expected %.9g", i,
                      (long long)j, (double)t[i]->grad[j], (double)want);
        }
    dc_model_free(m);
}
