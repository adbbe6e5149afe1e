/*
 * test_tf_attn.c - attention weights captured during a forward (dc_model_capture_attention):
 * the self-attention heads of a char-GPT (rows sum to 1, causal zeros, the head mean), the
 * encoder-decoder attention of a decoder layer (padded source positions get 0), names that do
 * not exist; and the heatmap PNG of plot/attn.c.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "plot/attn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GPT "[input]\nshape = 10\ndtype = int64\n"                                          \
            "[embedding tok]\nnum_embeddings = 7\nembedding_dim = 8\n"                      \
            "[positional pos]\nmax_len = 10\n"                                               \
            "[transformerencoder blocks]\nnum_layers = 2\nnhead = 2\ndim_feedforward = 16\n" \
            "dropout = 0\nactivation = gelu\nnorm_first = true\ncausal = true\n"              \
            "[layernorm ln_f]\n[linear head]\nout_features = 7\n"

#define ENCDEC "[input]\nshape = 6\ndtype = int64\n"                                        \
               "[embedding tok]\nnum_embeddings = 9\nembedding_dim = 8\n"                   \
               "[transformerencoderlayer enc]\ninput = tok, input\nnhead = 2\n"             \
               "dim_feedforward = 8\ndropout = 0\npadding_idx = 0\n"                          \
               "[transformerdecoderlayer dec]\ninput = tok, enc, input\nnhead = 2\n"        \
               "dim_feedforward = 8\ndropout = 0\ncausal = true\npadding_idx = 0\n"

static dc_model *build(const char *text, dc_spec **s)
{
    dc_rng r;
    dc_rng_seed(&r, 5, 1);
    *s = dc_spec_parse_string(text, "t.spec");
    return *s ? dc_spec_build(*s, &r) : NULL;
}

/* Forward ids [1, n] through m. */
static int run(dc_model *m, const int64_t *ids, int n)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = ctx ? dc_empty(ctx, DC_I64, 2, DC_SHAPE(1, n)) : NULL;
    if (x)
        memcpy(x->data, ids, sizeof(int64_t) * (size_t)n);
    int ok = x && dc_model_forward(ctx, m, x) != NULL;
    dc_ctx_free(ctx);
    return ok;
}

TEST(tf_attn_capture_self_attention_heads_of_a_gpt)
{
    dc_spec *s;
    dc_model *m = build(GPT, &s);
    REQUIRE(m);
    char names[256];
    CHECK(dc_model_attentions(m, names, sizeof names) == 2 &&
              !strcmp(names, "blocks.layers.0.self_attn, blocks.layers.1.self_attn"),
          "attentions: '%s'", names);
    dc_attn_capture heads = {.per_head = 1}, mean = {0};
    REQUIRE(dc_model_capture_attention(m, "blocks.layers.1.self_attn", &heads) == DC_OK);
    const int64_t ids[10] = {1, 2, 3, 4, 5, 6, 1, 2, 3, 4};
    REQUIRE(run(m, ids, 10));
    CHECK(heads.H == 2 && heads.Tq == 10 && heads.Tk == 10 && heads.forwards == 1,
          "captured %lld x %lld x %lld", (long long)heads.H, (long long)heads.Tq,
          (long long)heads.Tk);
    for (int h = 0; heads.w && h < 2; h++)
        for (int i = 0; i < 10; i++) {
            double sum = 0, later = 0;
            for (int j = 0; j < 10; j++) {
                const float w = heads.w[(h * 10 + i) * 10 + j];
                sum += w;
                later += j > i ? fabsf(w) : 0;
            }
            CHECK(fabs(sum - 1) < 1e-5 && later == 0, "head %d row %d: sum %g, weight on later "
                  "positions %g", h, i, sum, later);
        }
    /* the head mean through a second capture, the first one ended */
    REQUIRE(dc_model_capture_attention(m, "blocks.layers.1.self_attn", &mean) == DC_OK);
    REQUIRE(run(m, ids, 10));
    CHECK(mean.H == 1 && heads.forwards == 1, "mean: H %lld; the ended capture ran %lld times",
          (long long)mean.H, (long long)heads.forwards);
    for (int i = 0; mean.w && heads.w && i < 100; i++)
        CHECK_NEAR(mean.w[i], 0.5f * (heads.w[i] + heads.w[100 + i]), 1e-6);
    dc_model_capture_attention(m, "blocks.layers.1.self_attn", NULL);
    CHECK(dc_model_capture_attention(m, "blocks.layers.2.self_attn", &mean) == DC_ERR_ARG &&
              strstr(dc_last_error(), "blocks.layers.1.self_attn"),
          "a missing name: %s", dc_last_error());
    dc_attn_capture_clear(&heads);
    dc_attn_capture_clear(&mean);
    CHECK(!heads.w && heads.per_head == 1, "cleared");
    dc_model_free(m);
    dc_spec_free(s);
}

TEST(tf_attn_capture_encoder_decoder_attention)
{
    dc_spec *s;
    dc_model *m = build(ENCDEC, &s);
    REQUIRE(m);
    char names[256];
    CHECK(dc_model_attentions(m, names, sizeof names) == 3 &&
              strstr(names, "dec.multihead_attn"), "attentions: '%s'", names);
    dc_attn_capture c = {0};
    REQUIRE(dc_model_capture_attention(m, "dec.multihead_attn", &c) == DC_OK);
    const int64_t ids[6] = {3, 4, 5, 6, 0, 0}; /* two padding positions at the end */
    REQUIRE(run(m, ids, 6));
    CHECK(c.H == 1 && c.Tq == 6 && c.Tk == 6, "%lld x %lld", (long long)c.Tq, (long long)c.Tk);
    for (int i = 0; c.w && i < 6; i++)
        CHECK(c.w[i * 6 + 4] == 0 && c.w[i * 6 + 5] == 0 && c.w[i * 6 + 5 - 5] > 0,
              "query %d: padded keys must get 0 (%g %g)", i, c.w[i * 6 + 4], c.w[i * 6 + 5]);
    dc_model_capture_attention(m, "dec.multihead_attn", NULL);
    dc_attn_capture_clear(&c);
    /* the picture cropped to the first 4 queries (rows): 2 cells lower */
    const char *rows[6] = {"a", "b", "c", "d", "e", "f"}, *cols[4] = {"W", "X", "Y", "Z"};
    char p1[600], p2[600];
    snprintf(p1, sizeof p1, "%s/full.png", t_tmpdir());
    snprintf(p2, sizeof p2, "%s/crop.png", t_tmpdir());
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = ctx ? dc_empty(ctx, DC_I64, 2, DC_SHAPE(1, 6)) : NULL;
    REQUIRE(x);
    memcpy(x->data, ids, sizeof ids);
    REQUIRE(attn_picture(m, x, "dec.multihead_attn", 0, rows, 6, NULL, 0, p1) == DC_OK);
    REQUIRE(attn_picture(m, x, "dec.multihead_attn", 0, cols, 4, NULL, 0, p2) == DC_OK);
    int w1 = 0, w2 = 0, h1 = 0, h2 = 0, ch = 0;
    uint8_t *px1 = NULL, *px2 = NULL;
    REQUIRE(dc_image_read(p1, &w1, &h1, &ch, &px1) == DC_OK);
    REQUIRE(dc_image_read(p2, &w2, &h2, &ch, &px2) == DC_OK);
    CHECK(h1 - h2 == 2 * 24 && w1 == w2, "6 query rows %d px high, 4 of them %d px", h1, h2);
    free(px1);
    free(px2);
    CHECK(attn_picture(m, x, "dec.multihead_attn", 0, rows, 6, rows, 6, p2) == DC_OK &&
              attn_picture(m, x, "dec.multihead_attn", 0, NULL, 0, rows, 7, p2) == DC_ERR_SHAPE,
          "7 key labels for 6 keys accepted");
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(s);
}

/* The PNG: its size follows the layout, the causal first row is yellow then dark (the largest
 * weight of the panel, then 0), labels are inked. */
TEST(tf_attn_picture_of_a_prompt)
{
    dc_spec *s;
    dc_model *m = build(GPT, &s);
    REQUIRE(m);
    dc_vocab v;
    REQUIRE(dc_vocab_build((const uint8_t *)"abc def", 7, &v) == DC_OK);
    char path[600];
    snprintf(path, sizeof path, "%s/a.png", t_tmpdir());
    REQUIRE(attn_picture_text(m, &v, "bad cafe", NULL, 1, path) == DC_OK);
    int w = 0, h = 0, ch = 0;
    uint8_t *px = NULL;
    REQUIRE(dc_image_read(path, &w, &h, &ch, &px) == DC_OK);
    /* 8 characters: cells of 480 / 8 = 60 -> 24 px; two heads side by side */
    CHECK(ch == 3 && w > 2 * 8 * 24 && w < 2 * 8 * 24 + 120 && h > 8 * 24, "%d x %d x %d", w, h,
          ch);
    int dark = 0, inked = 0;
    for (int i = 0; px && i < w * h; i++) {
        dark += px[i * 3] == 68 && px[i * 3 + 1] == 1 && px[i * 3 + 2] == 84; /* weight 0 */
        inked += px[i * 3] == 0 && px[i * 3 + 1] == 0 && px[i * 3 + 2] == 0;
    }
    /* above the diagonal: 28 of 64 cells per head are 0 */
    CHECK(dark >= 2 * 28 * 24 * 24 && inked > 100, "dark pixels %d, inked %d", dark, inked);
    free(px);
    CHECK(attn_picture_text(m, &v, "xyz", NULL, 0, path) == DC_ERR_ARG, "a byte not in the "
          "vocabulary accepted");
    CHECK(attn_picture_text(m, &v, "abc", "no.such", 0, path) == DC_ERR_ARG &&
              strstr(dc_last_error(), "blocks.layers.0.self_attn"),
          "a bad name: %s", dc_last_error());
    dc_model_free(m);
    dc_spec_free(s);
}
