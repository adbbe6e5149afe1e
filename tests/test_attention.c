/*
 * test_attention.c - the Transformer ops: layer norm, broadcast matmul, masked softmax,
 * attention, sinusoidal positions.
 *   - against PyTorch (tests/ref/transformer/<case>.safetensors from
 *     tests/ref/gen_transformer.py): outputs and every input gradient, rtol 1e-4, atol 1e-5;
 *   - attention: fully masked rows give 0 and no gradient (not NaN); the inference path (no
 *     tape) gives the training path's values; stored probabilities give the recomputed
 *     gradients; packed heads equal [N, H, T, D] heads; bitwise the same at 1 and 2 threads;
 *     dropout reproducible from the seed and dropping about p of the weights; the returned
 *     weights are probabilities; shape errors name the mask.
 */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* PyTorch references                                                                          */
/* ------------------------------------------------------------------------------------------ */

typedef enum att_kind { A_LN, A_BMM, A_MSM, A_ATT, A_SIN } att_kind;

typedef struct att_ref {
    const char *name;
    att_kind kind;
    int dims;      /* layer norm: normalised dims */
    float eps;     /* layer norm */
    int causal;    /* attention */
    int64_t q_offset;
} att_ref;

static t_names att_names;
static void att_note(const char *name) { t_names_add(&att_names, name); }

static dc_tensor *att_apply(dc_ctx *ctx, const att_ref *c, dc_tensor **x, int n)
{
    dc_attn_opts o = dc_attn_defaults();
    switch (c->kind) {
    case A_LN:
        return dc_layer_norm(ctx, x[0], c->dims, n > 1 ? x[1] : NULL, n > 2 ? x[2] : NULL,
                             c->eps);
    case A_BMM: return n > 1 ? dc_matmul_bcast(ctx, x[0], x[1]) : NULL;
    case A_MSM: return n > 1 ? dc_masked_softmax(ctx, x[0], x[1]) : NULL;
    case A_ATT:
        if (n < 3)
            return NULL;
        o.causal = c->causal;
        o.q_offset = c->q_offset;
        o.attn_mask = n > 3 ? x[3] : NULL;
        o.key_padding_mask = n > 4 ? x[4] : NULL;
        return dc_attention(ctx, x[0], x[1], x[2], &o);
    case A_SIN: return dc_sinusoidal_table(ctx, 0, 12, 10);
    }
    return NULL;
}

static void run_att_ref(const att_ref *c)
{
    dc_tdict *d = t_ref_load(t_ref_dir("transformer"), c->name);
    if (!d)
        return;
    dc_tensor *x[5] = {0};
    int n = 0, ok = t_ref_inputs(c->name, d, x, 5, &n);
    dc_ctx *ctx = ok ? dc_ctx_new(0) : NULL;
    dc_tensor *y = ctx ? att_apply(ctx, c, x, n) : NULL;
    if (ok && !y)
        t_fail(__FILE__, __LINE__, "ref %s: the op failed: %s", c->name, dc_last_error());
    if (y) {
        t_ref_compare(c->name, "y", y, dc_f32(y), dc_tdict_get(d, "y"));
        if (c->kind != A_SIN && t_ref_backward(ctx, c->name, y, dc_tdict_get(d, "dy")))
            t_ref_compare_grads(c->name, d, x, n);
    }
    dc_ctx_free(ctx);
    for (int i = 0; i < n; i++)
        dc_tensor_free(x[i]);
    dc_tdict_free(d);
}

#define ATT_REF(nm, ...)                                                               \
    static const att_ref attc_##nm = {#nm, __VA_ARGS__};                               \
    __attribute__((constructor)) static void attn_##nm(void) { att_note(#nm); }        \
    TEST(att_ref_##nm) { run_att_ref(&attc_##nm); }

ATT_REF(layer_norm_affine, A_LN, 1, 1e-5f, 0, 0)
ATT_REF(layer_norm_2d, A_LN, 2, 1e-5f, 0, 0)
ATT_REF(layer_norm_plain, A_LN, 1, 1e-3f, 0, 0)
ATT_REF(matmul_bcast_left, A_BMM, 0, 0, 0, 0)
ATT_REF(matmul_bcast_2d, A_BMM, 0, 0, 0, 0)
ATT_REF(matmul_bcast_4d, A_BMM, 0, 0, 0, 0)
ATT_REF(masked_softmax_float, A_MSM, 0, 0, 0, 0)
ATT_REF(masked_softmax_int, A_MSM, 0, 0, 0, 0)
ATT_REF(attention_plain, A_ATT, 0, 0, 0, 0)
ATT_REF(attention_causal, A_ATT, 0, 0, 1, 2)
ATT_REF(attention_blocks_causal, A_ATT, 0, 0, 1, 0)
ATT_REF(attention_masks, A_ATT, 0, 0, 0, 0)
ATT_REF(attention_bool_mask, A_ATT, 0, 0, 0, 0)
ATT_REF(sinusoidal, A_SIN, 0, 0, 0, 0)

TEST(att_ref_every_file_has_a_test)
{
    t_ref_check_files(t_ref_dir("transformer"), &att_names, NULL, "tests/test_attention.c");
}

/* ------------------------------------------------------------------------------------------ */
/* Behaviour                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static dc_tensor *rand_t(dc_rng *r, int ndim, const int64_t *shape, int grad)
{
    dc_tensor *t = dc_tensor_new(DC_F32, ndim, shape);
    if (t) {
        dc_tensor_uniform(t, r, -2.0f, 2.0f);
        if (grad && dc_tensor_requires_grad(t) != DC_OK) {
            dc_tensor_free(t);
            return NULL;
        }
    }
    return t;
}

static int all_finite(const float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(p[i]))
            return 0;
    return 1;
}

/* Key padding hides every key of batch 1: its outputs are 0, its gradients 0, nothing NaN. */
TEST(att_fully_masked_rows_are_zero)
{
    dc_rng r;
    dc_rng_seed(&r, 5, 1);
    dc_tensor *q = rand_t(&r, 4, DC_SHAPE(2, 2, 3, 4), 1);
    dc_tensor *k = rand_t(&r, 4, DC_SHAPE(2, 2, 5, 4), 1);
    dc_tensor *v = rand_t(&r, 4, DC_SHAPE(2, 2, 5, 4), 1);
    dc_tensor *kpm = dc_tensor_new(DC_I64, 2, DC_SHAPE(2, 5));
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(q && k && v && kpm && ctx);
    for (int j = 0; j < 5; j++)
        dc_i64(kpm)[5 + j] = 1;
    dc_attn_opts o = dc_attn_defaults();
    o.key_padding_mask = kpm;
    dc_tensor *y = dc_attention(ctx, q, k, v, &o);
    REQUIRE(y);
    CHECK(all_finite(dc_f32(y), y->numel), "attention output has NaN/Inf");
    for (int64_t i = y->numel / 2; i < y->numel; i++)
        CHECK(dc_f32(y)[i] == 0.0f, "fully masked output %lld = %g, expected 0", (long long)i,
              (double)dc_f32(y)[i]);
    REQUIRE(dc_backward(ctx, dc_sum(ctx, y, DC_ALL_AXES, 0)) == DC_OK);
    CHECK(all_finite(q->grad, q->numel) && all_finite(k->grad, k->numel) &&
              all_finite(v->grad, v->numel), "gradients have NaN/Inf");
    for (int64_t i = q->numel / 2; i < q->numel; i++)
        CHECK(q->grad[i] == 0.0f && k->grad[i * 5 / 3] == 0.0f, "masked batch got a gradient");
    /* masked softmax: a row hidden entirely is 0 */
    dc_tensor *x = rand_t(&r, 2, DC_SHAPE(2, 3), 0), *m = dc_tensor_new(DC_I64, 2, DC_SHAPE(2, 3));
    REQUIRE(x && m);
    dc_i64(m)[3] = dc_i64(m)[4] = dc_i64(m)[5] = 1;
    dc_tensor *s = dc_masked_softmax(ctx, x, m);
    REQUIRE(s);
    CHECK(dc_f32(s)[3] == 0 && dc_f32(s)[4] == 0 && dc_f32(s)[5] == 0, "hidden row not 0");
    CHECK_NEAR(dc_f32(s)[0] + dc_f32(s)[1] + dc_f32(s)[2], 1.0, 1e-6);
    dc_ctx_free(ctx);
    dc_tensor_free(q), dc_tensor_free(k), dc_tensor_free(v), dc_tensor_free(kpm);
    dc_tensor_free(x), dc_tensor_free(m);
}

/* Output and (optionally) gradients of a causal attention on [2, 3, 100, 16] (several blocks). */
static void run_causal(dc_tensor **qkv, int grad, int store, float *y_out)
{
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx)
        return;
    dc_ctx_set_grad(ctx, grad);
    for (int i = 0; i < 3; i++)
        if (qkv[i]->grad)
            memset(qkv[i]->grad, 0, (size_t)qkv[i]->numel * sizeof(float));
    dc_attn_opts o = dc_attn_defaults();
    o.causal = 1;
    o.store_probs = store;
    dc_tensor *y = dc_attention(ctx, qkv[0], qkv[1], qkv[2], &o);
    if (y) {
        memcpy(y_out, dc_f32(y), (size_t)y->numel * sizeof(float));
        if (grad) {
            dc_tensor *w = dc_empty(ctx, DC_F32, y->ndim, y->shape);
            for (int64_t i = 0; i < y->numel; i++)
                dc_f32(w)[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
            dc_backward_with(ctx, y, w);
        }
    }
    dc_ctx_free(ctx);
}

TEST(att_paths_agree_and_threads_do_not_matter)
{
    dc_rng r;
    dc_rng_seed(&r, 9, 1);
    const int64_t n = 2 * 3 * 100 * 16;
    dc_tensor *qkv[3];
    for (int i = 0; i < 3; i++)
        qkv[i] = rand_t(&r, 4, DC_SHAPE(2, 3, 100, 16), 1);
    float *y0 = malloc(n * 4), *y1 = malloc(n * 4), *g[2][3];
    REQUIRE(qkv[0] && qkv[1] && qkv[2] && y0 && y1);
    int old = dc_get_num_threads();
    dc_set_num_threads(1);
    run_causal(qkv, 0, 0, y0); /* inference path */
    run_causal(qkv, 1, 0, y1); /* training path: same values */
    CHECK(!memcmp(y0, y1, n * 4), "inference and training outputs differ");
    for (int i = 0; i < 3; i++)
        g[0][i] = malloc(n * 4), memcpy(g[0][i], qkv[i]->grad, n * 4);
    dc_set_num_threads(2);
    run_causal(qkv, 1, 0, y0);
    CHECK(!memcmp(y0, y1, n * 4), "outputs differ between 1 and 2 threads");
    for (int i = 0; i < 3; i++)
        CHECK(!memcmp(g[0][i], qkv[i]->grad, n * 4), "gradient %d differs between 1 and 2 "
              "threads", i);
    run_causal(qkv, 1, 1, y0); /* stored probabilities */
    CHECK_ALLCLOSE("stored-probs output", y0, y1, n, 1e-6, 1e-6);
    for (int i = 0; i < 3; i++)
        CHECK_ALLCLOSE("stored-probs gradient", qkv[i]->grad, g[0][i], n, 1e-4, 1e-6);
    dc_set_num_threads(old);
    for (int i = 0; i < 3; i++)
        free(g[0][i]), dc_tensor_free(qkv[i]);
    free(y0), free(y1);
    (void)g[1];
}

/* Heads packed along channels ([N, T, 3·H·D]) give the [N, H, T, D] results. */
TEST(att_packed_equals_heads)
{
    dc_rng r;
    dc_rng_seed(&r, 3, 1);
    const int64_t N = 2, T = 7, H = 2, D = 4, E = H * D;
    dc_tensor *x = rand_t(&r, 3, DC_SHAPE(N, T, 3 * E), 0);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(x && ctx);
    dc_tensor *h[3];
    for (int p = 0; p < 3; p++) { /* h[p][n, hh, t, d] = x[n, t, p·E + hh·D + d] */
        h[p] = dc_empty(ctx, DC_F32, 4, DC_SHAPE(N, H, T, D));
        REQUIRE(h[p]);
        for (int64_t n = 0; n < N; n++)
            for (int64_t hh = 0; hh < H; hh++)
                for (int64_t t = 0; t < T; t++)
                    for (int64_t d = 0; d < D; d++)
                        dc_f32(h[p])[((n * H + hh) * T + t) * D + d] =
                            dc_f32(x)[(n * T + t) * 3 * E + p * E + hh * D + d];
    }
    dc_attn_opts o = dc_attn_defaults();
    o.causal = 1;
    dc_tensor *a = dc_attention(ctx, h[0], h[1], h[2], &o);
    dc_tensor *b = dc_attention_packed(ctx, x, 0, x, E, x, 2 * E, H, D, &o);
    REQUIRE(a && b);
    CHECK(b->ndim == 3 && b->shape[0] == N && b->shape[1] == T && b->shape[2] == E,
          "packed output shape");
    for (int64_t n = 0; n < N; n++)
        for (int64_t hh = 0; hh < H; hh++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t d = 0; d < D; d++)
                    CHECK_NEAR(dc_f32(b)[(n * T + t) * E + hh * D + d],
                               dc_f32(a)[((n * H + hh) * T + t) * D + d], 1e-6);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
}

TEST(att_dropout_and_weights)
{
    dc_rng r, drop;
    dc_rng_seed(&r, 4, 1);
    dc_tensor *q = rand_t(&r, 4, DC_SHAPE(2, 2, 40, 8), 0);
    dc_tensor *k = rand_t(&r, 4, DC_SHAPE(2, 2, 50, 8), 0);
    dc_tensor *v = rand_t(&r, 4, DC_SHAPE(2, 2, 50, 8), 0);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(q && k && v && ctx);
    dc_ctx_set_rng(ctx, &drop);
    dc_ctx_set_training(ctx, 1);
    dc_tensor *w1 = NULL, *w2 = NULL;
    dc_attn_opts o = dc_attn_defaults();
    o.dropout = 0.25f;
    o.weights = &w1;
    dc_rng_seed(&drop, 77, 1);
    dc_tensor *y1 = dc_attention(ctx, q, k, v, &o);
    o.weights = &w2;
    dc_rng_seed(&drop, 77, 1);
    dc_tensor *y2 = dc_attention(ctx, q, k, v, &o);
    REQUIRE(y1 && y2 && w1 && w2);
    CHECK(!memcmp(dc_f32(y1), dc_f32(y2), (size_t)y1->numel * 4), "same seed, other output");
    int64_t zeros = 0;
    for (int64_t i = 0; i < w1->numel; i++)
        zeros += dc_f32(w1)[i] == 0.0f;
    double frac = (double)zeros / (double)w1->numel;
    CHECK(frac > 0.22 && frac < 0.28, "dropout 0.25 zeroed %.3f of the weights", frac);
    /* eval: weights are probabilities (rows sum to 1) */
    dc_ctx_set_training(ctx, 0);
    o.weights = &w1;
    REQUIRE(dc_attention(ctx, q, k, v, &o) && w1);
    for (int64_t row = 0; row < 2 * 2 * 40; row++) {
        double s = 0;
        for (int j = 0; j < 50; j++)
            s += dc_f32(w1)[row * 50 + j];
        CHECK_NEAR(s, 1.0, 1e-5);
    }
    dc_ctx_free(ctx);
    dc_tensor_free(q), dc_tensor_free(k), dc_tensor_free(v);
}

TEST(att_errors_name_the_problem)
{
    dc_rng r;
    dc_rng_seed(&r, 1, 1);
    dc_tensor *q = rand_t(&r, 4, DC_SHAPE(1, 2, 3, 4), 0);
    dc_tensor *k = rand_t(&r, 4, DC_SHAPE(1, 2, 5, 4), 0);
    dc_tensor *bad = rand_t(&r, 2, DC_SHAPE(3, 4), 0), *kv3 = rand_t(&r, 3, DC_SHAPE(2, 5, 4), 0);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(q && k && bad && kv3 && ctx);
    dc_attn_opts o = dc_attn_defaults();
    o.attn_mask = bad;
    CHECK(!dc_attention(ctx, q, k, k, &o) && strstr(dc_last_error(), "attn_mask [3, 4]"),
          "bad mask: %s", dc_last_error());
    o = dc_attn_defaults();
    o.key_padding_mask = bad;
    CHECK(!dc_attention(ctx, q, k, k, &o) && strstr(dc_last_error(), "key_padding_mask"),
          "bad padding mask: %s", dc_last_error());
    CHECK(!dc_attention(ctx, q, kv3, kv3, NULL) && strstr(dc_last_error(), "k [2, 5, 4]"),
          "bad k: %s", dc_last_error());
    CHECK(!dc_layer_norm(ctx, q, 1, bad, NULL, 1e-5f) && strstr(dc_last_error(), "weight"),
          "bad ln weight: %s", dc_last_error());
    CHECK(!dc_matmul_bcast(ctx, q, q) && strstr(dc_last_error(), "matmul_bcast"),
          "bad matmul: %s", dc_last_error());
    dc_ctx_free(ctx);
    dc_tensor_free(q), dc_tensor_free(k), dc_tensor_free(bad), dc_tensor_free(kv3);
}
