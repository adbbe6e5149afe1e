/*
 * test_mutants_attn.c - attention rules that `make mutate` found untested (tests/mutate/): each
 * test here kills a mutant that the rest of the suite let through.
 */
#include "harness.h"

#include <math.h>

/* Attention dropout is inverted dropout (PyTorch F.dropout on the weights): a kept weight is
 * divided by 1 − p, so every output keeps its expectation. With v all ones an output is the sum
 * of its row's kept weights: 1 on average (0.5 without the rescaling, at p = 0.5); the returned
 * weights are 0 or twice the probabilities (mutant kernel_attn_dropout_not_rescaled). */
TEST(attention_dropout_rescales_the_kept_weights)
{
    dc_rng r, drop;
    dc_rng_seed(&r, 12, 3);
    dc_rng_seed(&drop, 13, 4);
    dc_tensor *q = dc_tensor_new(DC_F32, 4, DC_SHAPE(2, 2, 32, 8));
    dc_tensor *k = dc_tensor_new(DC_F32, 4, DC_SHAPE(2, 2, 48, 8));
    dc_tensor *v = dc_tensor_new(DC_F32, 4, DC_SHAPE(2, 2, 48, 8));
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(q && k && v && ctx);
    dc_tensor_uniform(q, &r, -1, 1);
    dc_tensor_uniform(k, &r, -1, 1);
    dc_tensor_fill(v, 1.0f);
    dc_ctx_set_rng(ctx, &drop);
    dc_ctx_set_training(ctx, 1);
    dc_tensor *w = NULL;
    dc_attn_opts o = dc_attn_defaults();
    o.dropout = 0.5f;
    o.weights = &w;
    dc_tensor *y = dc_attention(ctx, q, k, v, &o);
    REQUIRE(y && w);
    double sum = 0;
    for (int64_t i = 0; i < y->numel; i++)
        sum += dc_f32(y)[i];
    const double mean = sum / (double)y->numel; /* 128 rows of 48 weights: sd about 0.02 */
    CHECK(fabs(mean - 1.0) < 0.1, "mean output %.4f with v = 1 and dropout 0.5, expected 1",
          mean);
    dc_ctx_set_training(ctx, 0);
    dc_tensor *pw = NULL;
    o.weights = &pw;
    REQUIRE(dc_attention(ctx, q, k, v, &o) && pw && pw->numel == w->numel);
    int64_t bad = 0;
    for (int64_t i = 0; i < w->numel; i++) {
        const float a = dc_f32(w)[i], p = dc_f32(pw)[i];
        bad += a != 0.0f && fabsf(a - 2.0f * p) > 1e-6f * (1.0f + p);
    }
    CHECK(bad == 0, "%lld kept weights are not twice their probability", (long long)bad);
    dc_ctx_free(ctx);
    dc_tensor_free(q), dc_tensor_free(k), dc_tensor_free(v);
}
