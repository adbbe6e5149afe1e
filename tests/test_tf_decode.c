/*
 * test_tf_decode.c - the single-query decode attention (kernels/attn_decode.c) against the
 * blocked kernel it replaces for one new token: the packed layout of a KV cache (keys and values
 * side by side, heads interleaved), key counts across the 16-lane and 64-key block edges, head
 * sizes that are and are not multiples of 16; and a GPT decoding with the cache through it.
 */
#include "harness.h"
#include "kernels/attn_decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* q [N, 1, 3E] (the packed projection of the new token), cache [N, cap, 2E] (k | v). */
static void check_decode(int64_t N, int64_t H, int64_t D, int64_t Tk, int64_t cap)
{
    const int64_t E = H * D;
    float *q = malloc(sizeof(float) * (size_t)(N * 3 * E));
    float *kv = malloc(sizeof(float) * (size_t)(N * cap * 2 * E));
    float *o_ref = calloc((size_t)(N * E), sizeof(float)), *o = calloc((size_t)(N * E), 4);
    float *lse = malloc(sizeof(float) * (size_t)(N * H));
    float *scratch = malloc(sizeof(float) * (size_t)(N * H * Tk));
    REQUIRE(q && kv && o_ref && o && lse && scratch);
    dc_rng r;
    dc_rng_seed(&r, (uint64_t)(Tk * 131 + D), 5);
    for (int64_t i = 0; i < N * 3 * E; i++)
        q[i] = 2.0f * dc_rng_normal(&r);
    for (int64_t i = 0; i < N * cap * 2 * E; i++)
        kv[i] = dc_rng_normal(&r);
    dc_k_attn a = {.N = N, .H = H, .Tq = 1, .Tk = Tk, .D = D, .Dv = D, .q = q, .k = kv,
                   .v = kv + E, .q_sn = 3 * E, .q_sh = D, .q_st = 3 * E,
                   .k_sn = cap * 2 * E, .k_sh = D, .k_st = 2 * E,
                   .v_sn = cap * 2 * E, .v_sh = D, .v_st = 2 * E,
                   .o = o_ref, .o_sn = E, .o_sh = D, .o_st = E, .causal = 1,
                   .q_offset = Tk - 1, .scale = 1.0f / sqrtf((float)D), .lse = lse};
    dc_k_attn_fwd(&a); /* the blocked kernel, causal with the query at the last position */
    a.o = o;
    a.lse = NULL;
    dc_k_attn_decode(&a, scratch);
    char what[96];
    snprintf(what, sizeof what, "decode N %lld H %lld D %lld Tk %lld", (long long)N, (long long)H,
             (long long)D, (long long)Tk);
    CHECK_ALLCLOSE(what, o, o_ref, N * E, 2e-5, 2e-6);
    free(q);
    free(kv);
    free(o_ref);
    free(o);
    free(lse);
    free(scratch);
}

TEST(tf_decode_kernel_matches_the_blocked_kernel)
{
    const int64_t tks[] = {1, 2, 15, 16, 17, 63, 64, 65, 200, 512};
    for (size_t i = 0; i < sizeof tks / sizeof *tks; i++) {
        check_decode(1, 4, 64, tks[i], tks[i] + 3); /* char-GPT heads, a cache with spare room */
        check_decode(2, 3, 20, tks[i], tks[i]);     /* a batch, D not a multiple of 16 */
    }
    check_decode(1, 2, 8, 40, 64); /* D below 16 */
}

#define GPT "[input]\nshape = 40\ndtype = int64\n"                                          \
            "[embedding tok]\nnum_embeddings = 13\nembedding_dim = 32\n"                    \
            "[positional pos]\nmax_len = 40\n"                                               \
            "[transformerencoder blocks]\nnum_layers = 2\nnhead = 2\ndim_feedforward = 48\n" \
            "dropout = 0\nactivation = gelu\nnorm_first = true\ncausal = true\n"              \
            "[layernorm ln_f]\n[linear head]\nout_features = 13\n"

/* Decoding one id at a time through the cache (the decode kernel from the second id on) gives
 * every step's logits of a full forward over the prefix, within float rounding, and the same
 * arg-max. */
TEST(tf_decode_steps_match_full_forwards)
{
    dc_rng r;
    dc_rng_seed(&r, 9, 2);
    dc_spec *s = dc_spec_parse_string(GPT, "gpt.spec");
    dc_model *m = s ? dc_spec_build(s, &r) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(s && m && ctx);
    dc_ctx_set_grad(ctx, 0);
    dc_ctx_set_training(ctx, 0);
    int64_t ids[40];
    for (int t = 0; t < 40; t++)
        ids[t] = (t * 5 + t / 3) % 13;
    float step[40][13];
    REQUIRE(dc_model_set_kv_cache(m, 1) == DC_OK);
    for (int t = 0; t < 40; t++) {
        dc_tensor *x = dc_empty(ctx, DC_I64, 2, DC_SHAPE(1, 1));
        REQUIRE(x);
        dc_i64(x)[0] = ids[t];
        dc_tensor *y = dc_model_forward(ctx, m, x);
        REQUIRE(y);
        memcpy(step[t], dc_f32(y), sizeof step[t]);
        dc_ctx_reset(ctx);
    }
    REQUIRE(dc_model_set_kv_cache(m, 0) == DC_OK);
    dc_tensor *x = dc_empty(ctx, DC_I64, 2, DC_SHAPE(1, 40));
    REQUIRE(x);
    memcpy(x->data, ids, sizeof ids);
    dc_tensor *y = dc_model_forward(ctx, m, x);
    REQUIRE(y);
    for (int t = 0; t < 40; t++) {
        char what[64];
        snprintf(what, sizeof what, "logits at step %d", t);
        const float *full = dc_f32(y) + t * 13;
        CHECK_ALLCLOSE(what, step[t], full, 13, 1e-4, 1e-5);
        int a = 0, b = 0;
        for (int k = 1; k < 13; k++) {
            a = step[t][k] > step[t][a] ? k : a;
            b = full[k] > full[b] ? k : b;
        }
        CHECK(a == b, "step %d: arg-max %d incrementally, %d in full", t, a, b);
    }
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(s);
}
