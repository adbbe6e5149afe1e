/*
 * test_train_mem.c - the training step's speed and memory paths of issue 18 (W7): the vectorised
 * erf of the exact GELU against erf in double (ulps, sampled over every float in [0, 10]),
 * GELU's backward storing on a fresh gradient bit for bit like adding to zeros, and the
 * recycled gradient buffers (same gradients as keeping them all, less arena, intermediate
 * gradients kept on request).
 */
#include "harness.h"

#include "core/internal.h"
#include "kernels/eltwise_k.h"
#include "kernels/fastmath.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* |got − want| in units of the float ulp at want. */
static double ulps(float got, double want)
{
    int e;
    frexp(want, &e); /* want = m·2^e, m in [0.5, 1): float ulp 2^(e − 24) */
    double ulp = ldexp(1.0, e - 24);
    if (ulp < ldexp(1.0, -149))
        ulp = ldexp(1.0, -149);
    return fabs((double)got - want) / ulp;
}

TEST(erf_vectorised_within_1_03_ulp_of_double_erf)
{
    const float lo = 0.0f, hi = 10.0f;
    uint32_t a, b;
    memcpy(&a, &lo, sizeof a);
    memcpy(&b, &hi, sizeof b);
    double worst = 0.0;
    float at = 0.0f;
    int asym = 0;
    for (uint32_t u = a; u <= b; u += 307) { /* every 307th float: 3.6 M of the 1.09 G */
        float v;
        memcpy(&v, &u, sizeof v);
        const float got = dc_erff(v);
        const double d = ulps(got, erf((double)v));
        if (d > worst) {
            worst = d;
            at = v;
        }
        asym += dc_erff(-v) != -got;
    }
    CHECK(worst <= 1.03, "erf: %.3f ulp at %.9g", worst, (double)at);
    CHECK(asym == 0, "erf(-v) != -erf(v) for %d values", asym);
    CHECK(dc_erff(INFINITY) == 1.0f && dc_erff(-INFINITY) == -1.0f && isnan(dc_erff(NAN)),
          "erf(±inf) = ±1, erf(NaN) = NaN");
    CHECK(dc_erff(0.75f) != dc_erff(nextafterf(0.75f, 0.0f)) &&
          ulps(dc_erff(0.7499999f), erf(0.7499999)) < 1.03, "the piece boundaries");
}

TEST(gelu_backward_stores_a_fresh_gradient_bit_for_bit)
{
    enum { N = 4099 };
    static float x[N], dy[N], acc[N], st[N];
    for (int i = 0; i < N; i++) {
        x[i] = -9.0f + 18.0f * (float)i / N;
        dy[i] = 0.25f + (float)(i % 7) * 0.125f;
        acc[i] = 0.0f;
        st[i] = NAN; /* a recycled buffer: must be overwritten, not read */
    }
    for (int approx = 0; approx < 2; approx++) {
        dc_k_gelu_bwd(N, approx, 0, x, dy, acc);
        dc_k_gelu_bwd(N, approx, 1, x, dy, st);
        CHECK(memcmp(acc, st, sizeof acc) == 0, "approximate %d: store differs from 0 + add",
              approx);
        memset(acc, 0, sizeof acc);
    }
}

/* loss = Σ (gelu(x·W1ᵀ) ·W2ᵀ + reshape(x)) over a batch: the leaf gradients (x, W1, W2), the
 * arena used, and whether an intermediate gradient survived backward. */
static void small_step(int keep, float *gx, float *gw, size_t *arena, int *kept)
{
    dc_rng r;
    dc_rng_seed(&r, 7, 0);
    dc_tensor *x = dc_tensor_new(DC_F32, 2, DC_SHAPE(32, 16));
    dc_tensor *w1 = dc_tensor_new(DC_F32, 2, DC_SHAPE(64, 16));
    dc_tensor *w2 = dc_tensor_new(DC_F32, 2, DC_SHAPE(16, 64));
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(x && w1 && w2 && ctx);
    dc_tensor_normal(x, &r, 0.0f, 1.0f);
    dc_tensor_normal(w1, &r, 0.0f, 0.5f);
    dc_tensor_normal(w2, &r, 0.0f, 0.5f);
    REQUIRE(dc_tensor_requires_grad(x) == DC_OK && dc_tensor_requires_grad(w1) == DC_OK &&
            dc_tensor_requires_grad(w2) == DC_OK);
    dc_ctx_keep_grads(ctx, keep);
    dc_tensor *h = dc_gelu(ctx, dc_linear(ctx, x, w1, NULL), 0);
    dc_tensor *xr = dc_reshape(ctx, x, 2, DC_SHAPE(32, 16));
    dc_tensor *y = dc_add(ctx, dc_linear(ctx, h, w2, NULL), xr);
    dc_tensor *l = dc_sum(ctx, dc_mul(ctx, y, y), DC_ALL_AXES, 0);
    REQUIRE(l && dc_backward(ctx, l) == DC_OK);
    memcpy(gx, x->grad, 32 * 16 * sizeof(float));
    memcpy(gw, w1->grad, 64 * 16 * sizeof(float));
    *arena = dc_ctx_arena_used(ctx);
    *kept = h->grad != NULL;
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(w1);
    dc_tensor_free(w2);
}

TEST(recycled_gradient_buffers_give_the_same_gradients_in_less_arena)
{
    static float gx0[512], gw0[1024], gx1[512], gw1[1024];
    size_t a_keep = 0, a_recycle = 0;
    int kept_keep = 0, kept_recycle = 1;
    small_step(1, gx0, gw0, &a_keep, &kept_keep);
    small_step(0, gx1, gw1, &a_recycle, &kept_recycle);
    CHECK(memcmp(gx0, gx1, sizeof gx0) == 0 && memcmp(gw0, gw1, sizeof gw0) == 0,
          "recycling changed the leaf gradients");
    CHECK(kept_keep && !kept_recycle, "intermediate gradient: kept %d (want 1), recycled %d "
          "(want 0)", kept_keep, kept_recycle);
    CHECK(a_recycle < a_keep, "arena: %zu bytes recycling, %zu keeping", a_recycle, a_keep);
}

/* Leaf gradients of loss = Σ y² for y = res + linear(x) (fused = 1: dc_linear_residual). */
static void residual_step(int fused, float *y_out, float *g_out)
{
    dc_rng r;
    dc_rng_seed(&r, 11, 0);
    dc_tensor *t[4] = {dc_tensor_new(DC_F32, 3, DC_SHAPE(2, 5, 12)),
                       dc_tensor_new(DC_F32, 2, DC_SHAPE(8, 12)),
                       dc_tensor_new(DC_F32, 1, DC_SHAPE(8)),
                       dc_tensor_new(DC_F32, 3, DC_SHAPE(2, 5, 8))};
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    for (int i = 0; i < 4; i++) {
        REQUIRE(t[i] && dc_tensor_requires_grad(t[i]) == DC_OK);
        dc_tensor_normal(t[i], &r, 0.0f, 1.0f);
    }
    dc_tensor *y = fused ? dc_linear_residual(ctx, t[0], t[1], t[2], t[3])
                         : dc_add(ctx, t[3], dc_linear(ctx, t[0], t[1], t[2]));
    REQUIRE(y && dc_backward(ctx, dc_sum(ctx, dc_mul(ctx, y, y), DC_ALL_AXES, 0)) == DC_OK);
    memcpy(y_out, y->data, 80 * sizeof(float));
    for (int i = 0, off = 0; i < 4; i++) {
        memcpy(g_out + off, t[i]->grad, (size_t)t[i]->numel * sizeof(float));
        off += (int)t[i]->numel;
        dc_tensor_free(t[i]);
    }
    dc_ctx_free(ctx);
}

TEST(linear_residual_is_linear_then_add_bit_for_bit)
{
    static float y0[80], y1[80], g0[120 + 96 + 8 + 80], g1[120 + 96 + 8 + 80];
    residual_step(0, y0, g0);
    residual_step(1, y1, g1);
    CHECK(memcmp(y0, y1, sizeof y0) == 0, "forward differs");
    CHECK(memcmp(g0, g1, sizeof g0) == 0, "gradients of x, W, b or res differ");
}

/* y = res + linear2(gelu(linear1(x))): output and leaf gradients, fused (dc_ffn_gelu_residual)
 * or as three ops and the fused residual. */
static void ffn_step(int fused, float *y_out, float *g_out)
{
    dc_rng r;
    dc_rng_seed(&r, 5, 0);
    const int64_t shapes[6][3] = {{2, 3, 8}, {24, 8, 0}, {24, 0, 0}, {8, 24, 0}, {8, 0, 0},
                                  {2, 3, 8}};
    const int nd[6] = {3, 2, 1, 2, 1, 3};
    dc_tensor *t[6];
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    for (int i = 0; i < 6; i++) {
        t[i] = dc_tensor_new(DC_F32, nd[i], shapes[i]);
        REQUIRE(t[i] && dc_tensor_requires_grad(t[i]) == DC_OK);
        dc_tensor_normal(t[i], &r, 0.0f, 1.0f);
    }
    dc_tensor *y = fused ? dc_ffn_gelu_residual(ctx, t[0], t[1], t[2], t[3], t[4], t[5])
                         : dc_linear_residual(ctx, dc_gelu(ctx, dc_linear(ctx, t[0], t[1], t[2]),
                                                           0), t[3], t[4], t[5]);
    REQUIRE(y && dc_backward(ctx, dc_sum(ctx, dc_mul(ctx, y, y), DC_ALL_AXES, 0)) == DC_OK);
    memcpy(y_out, y->data, 48 * sizeof(float));
    for (int i = 0, off = 0; i < 6; i++) {
        memcpy(g_out + off, t[i]->grad, (size_t)t[i]->numel * sizeof(float));
        off += (int)t[i]->numel;
        dc_tensor_free(t[i]);
    }
    dc_ctx_free(ctx);
}

TEST(ffn_gelu_residual_is_the_three_ops_bit_for_bit)
{
    static float y0[48], y1[48], g0[48 + 192 + 24 + 192 + 8 + 48], g1[48 + 192 + 24 + 192 + 8 + 48];
    ffn_step(0, y0, g0);
    ffn_step(1, y1, g1);
    CHECK(memcmp(y0, y1, sizeof y0) == 0, "forward differs");
    CHECK(memcmp(g0, g1, sizeof g0) == 0, "gradients of x, W1, b1, W2, b2 or res differ");
}

/* ---- a pre-LN block's layer norm fused into the op after it ---- */

typedef dc_tensor *(*block_fn)(dc_ctx *ctx, dc_tensor *const *t, int fused);

/* Leaves t[0..n) with the given shapes, seeded normal; loss = Σ y² for y = f(t); the output y
 * and every leaf gradient into out (in that order), the step's arena in bytes into *arena. */
static void leaf_step(block_fn f, int n, const int64_t (*shapes)[3], const int *nd, int fused,
                      float *out, size_t *arena)
{
    dc_rng r;
    dc_rng_seed(&r, 23, 0);
    dc_tensor *t[8];
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx && n <= 8);
    for (int i = 0; i < n; i++) {
        t[i] = dc_tensor_new(DC_F32, nd[i], shapes[i]);
        REQUIRE(t[i] && dc_tensor_requires_grad(t[i]) == DC_OK);
        dc_tensor_normal(t[i], &r, 0.0f, 1.0f);
    }
    dc_tensor *y = f(ctx, t, fused);
    REQUIRE(y && dc_backward(ctx, dc_sum(ctx, dc_mul(ctx, y, y), DC_ALL_AXES, 0)) == DC_OK);
    memcpy(out, y->data, (size_t)y->numel * sizeof(float));
    int64_t off = y->numel;
    for (int i = 0; i < n; i++) {
        REQUIRE(t[i]->grad);
        memcpy(out + off, t[i]->grad, (size_t)t[i]->numel * sizeof(float));
        off += t[i]->numel;
        dc_tensor_free(t[i]);
    }
    *arena = dc_ctx_arena_used(ctx);
    dc_ctx_free(ctx);
}

/* x' = -0.7 x (an op's output, as the residual stream is), used again after the block so its
 * gradient has another share. */
static dc_tensor *ln_linear_block(dc_ctx *ctx, dc_tensor *const *t, int fused)
{
    dc_tensor *x = dc_mul_scalar(ctx, t[0], -0.7f);
    dc_tensor *y = fused ? dc_layer_norm_linear(ctx, x, t[1], t[2], 1e-5f, t[3], t[4])
                         : dc_linear(ctx, dc_layer_norm(ctx, x, 1, t[1], t[2], 1e-5f), t[3], t[4]);
    return dc_concat(ctx, (dc_tensor *[]){y, dc_tanh(ctx, x)}, 2, 2);
}

/* x gets three gradient shares (tanh after the block, the residual, the norm), so the order in
 * which they are added shows in the bits. */
static dc_tensor *ln_ffn_block(dc_ctx *ctx, dc_tensor *const *t, int fused)
{
    dc_tensor *x = dc_mul_scalar(ctx, t[0], -0.7f);
    dc_tensor *y = fused ? dc_ln_ffn_gelu_residual(ctx, x, t[1], t[2], 1e-5f, t[3], t[4], t[5],
                                                   t[6])
                         : dc_ffn_gelu_residual(ctx, dc_layer_norm(ctx, x, 1, t[1], t[2], 1e-5f),
                                                t[3], t[4], t[5], t[6], x);
    return dc_concat(ctx, (dc_tensor *[]){y, dc_tanh(ctx, x)}, 2, 2);
}

/* f's fused and separate forms (nf floats of output and leaf gradients): the same bits, and the
 * fused one in less arena. */
static void check_fused(block_fn f, int n, const int64_t (*shapes)[3], const int *nd, size_t nf,
                        const char *what)
{
    float *a = calloc(nf, sizeof *a), *b = calloc(nf, sizeof *b);
    REQUIRE(a && b);
    size_t arena_sep = 0, arena_fused = 0;
    leaf_step(f, n, shapes, nd, 0, a, &arena_sep);
    leaf_step(f, n, shapes, nd, 1, b, &arena_fused);
    CHECK(memcmp(a, b, nf * sizeof *a) == 0, "%s: output or leaf gradients differ", what);
    CHECK(arena_fused < arena_sep, "%s: arena: fused %zu, separate %zu", what, arena_fused,
          arena_sep);
    free(a);
    free(b);
}

TEST(layer_norm_linear_is_norm_then_linear_bit_for_bit_in_less_arena)
{
    const int64_t shapes[5][3] = {{2, 5, 12}, {12}, {12}, {9, 12}, {9}};
    const int nd[5] = {3, 1, 1, 2, 1};
    check_fused(ln_linear_block, 5, shapes, nd, 2 * 5 * 21 + 120 + 12 + 12 + 108 + 9,
                "layer_norm_linear");
    CHECK(dc_layer_norm_linear(NULL, NULL, NULL, NULL, 1e-5f, NULL, NULL) == NULL, "NULLs");
}

TEST(ln_ffn_gelu_residual_is_norm_then_ffn_bit_for_bit_in_less_arena)
{
    const int64_t shapes[7][3] = {{2, 3, 8}, {8}, {8}, {24, 8}, {24}, {8, 24}, {8}};
    const int nd[7] = {3, 1, 1, 2, 1, 2, 1};
    check_fused(ln_ffn_block, 7, shapes, nd, 96 + 48 + 8 + 8 + 192 + 24 + 192 + 8,
                "ln_ffn_gelu_residual");
}
