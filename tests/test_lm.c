/*
 * test_lm.c - carried RNN state (truncated BPTT), the language-model training loop, the char-RNN
 * CLI (train --data text:, generate), spec variables, and training-time image augmentation.
 */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An embedding -> LSTM/GRU -> linear language model over V symbols, built from a spec string. */
static dc_model *lm_model(const char *cell, int V, int H, int layers, uint64_t seed)
{
    char text[512];
    snprintf(text, sizeof text,
             "[input]\nshape = 8\ndtype = int64\n[embedding e]\nnum_embeddings = $vocab\n"
             "embedding_dim = 8\n[%s rnn]\nhidden_size = %d\nnum_layers = %d\n"
             "[linear out]\nout_features = $vocab\n", cell, H, layers);
    dc_spec *s = dc_spec_parse_string(text, "lm");
    char v[16];
    snprintf(v, sizeof v, "%d", V);
    if (!s || dc_spec_define(s, "vocab", v) != 2) {
        dc_spec_free(s);
        return NULL;
    }
    dc_rng rng;
    dc_rng_seed(&rng, seed, 0);
    dc_model *m = dc_spec_build(s, &rng);
    dc_spec_free(s);
    return m;
}

static dc_tensor *ids_tensor(dc_ctx *ctx, const int64_t *ids, int64_t B, int64_t T,
                             int64_t stride, int64_t off)
{
    dc_tensor *x = dc_empty(ctx, DC_I64, 2, DC_SHAPE(B, T));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            dc_i64(x)[b * T + t] = ids[b * stride + off + t];
    return x;
}

/* Carrying the state over two chunks gives the outputs of one run over both chunks. */
static void check_carry_matches_whole(const char *cell, int layers)
{
    enum { B = 3, T = 10, V = 7 };
    dc_model *m = lm_model(cell, V, 12, layers, 5);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(m && ctx);
    int64_t ids[B * T];
    for (int i = 0; i < B * T; i++)
        ids[i] = (i * 5 + i / 7) % V;
    dc_tensor *whole = dc_model_forward(ctx, m, ids_tensor(ctx, ids, B, T, T, 0));
    REQUIRE(whole);
    dc_model_set_carry(m, 1);
    dc_tensor *a = dc_model_forward(ctx, m, ids_tensor(ctx, ids, B, 4, T, 0));
    dc_tensor *b = dc_model_forward(ctx, m, ids_tensor(ctx, ids, B, T - 4, T, 4));
    REQUIRE(a && b);
    float maxd = 0;
    for (int r = 0; r < B; r++)
        for (int t = 0; t < T; t++)
            for (int k = 0; k < V; k++) {
                float w = dc_f32(whole)[(r * T + t) * V + k];
                float g = t < 4 ? dc_f32(a)[(r * 4 + t) * V + k]
                                : dc_f32(b)[(r * (T - 4) + t - 4) * V + k];
                maxd = fmaxf(maxd, fabsf(w - g));
            }
    CHECK(maxd < 1e-5f, "%s x%d: carried chunks differ from the whole run by %g", cell, layers,
          (double)maxd);
    /* reset: the next forward starts from zeros again, like the first chunk */
    dc_model_reset_state(m);
    dc_tensor *a2 = dc_model_forward(ctx, m, ids_tensor(ctx, ids, B, 4, T, 0));
    REQUIRE(a2);
    CHECK(!memcmp(a->data, a2->data, sizeof(float) * (size_t)a->numel),
          "%s: after dc_model_reset_state the first chunk should repeat exactly", cell);
    /* carry off: the second chunk alone starts from zeros and differs from the carried run */
    dc_model_set_carry(m, 0);
    dc_tensor *b0 = dc_model_forward(ctx, m, ids_tensor(ctx, ids, B, T - 4, T, 4));
    REQUIRE(b0);
    CHECK(memcmp(b->data, b0->data, sizeof(float) * (size_t)b->numel) != 0,
          "%s: a carried state must change the second chunk", cell);
    dc_ctx_free(ctx);
    dc_model_free(m);
}

TEST(lm_carry_state_matches_a_whole_sequence)
{
    check_carry_matches_whole("lstm", 2);
    check_carry_matches_whole("gru", 1);
    check_carry_matches_whole("rnn", 2);
}

/* The carried state is detached: the second chunk's backward gives the same weight gradients as
 * a fresh model fed the same initial state as a constant (dc_rnn_forward with h0, c0). */
TEST(lm_carry_state_is_detached)
{
    enum { B = 2, T = 6, V = 5 };
    dc_model *m = lm_model("lstm", V, 8, 1, 9);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(m && ctx);
    int64_t ids[B * T];
    for (int i = 0; i < B * T; i++)
        ids[i] = (i * 3 + 1) % V;
    dc_model_set_carry(m, 1);
    REQUIRE(dc_model_forward(ctx, m, ids_tensor(ctx, ids, B, 3, T, 0)));
    dc_ctx_reset(ctx);
    /* the tape now holds nothing of chunk 1; chunk 2's backward must still work */
    dc_tensor *y = dc_model_forward(ctx, m, ids_tensor(ctx, ids, B, 3, T, 3));
    dc_tensor *l = dc_sum(ctx, y, DC_ALL_AXES, 0);
    REQUIRE(l);
    dc_tensor *w = dc_model_find(m, "rnn.weight_hh_l0");
    REQUIRE(w);
    dc_tensor_zero_grad(w);
    CHECK(dc_backward(ctx, l) == DC_OK, "backward after a carried chunk: %s", dc_last_error());
    float gn = 0;
    for (int64_t i = 0; w->grad && i < w->numel; i++)
        gn += fabsf(w->grad[i]);
    CHECK(gn > 0 && isfinite(gn), "weight_hh gradient should be finite and non-zero: %g",
          (double)gn);
    dc_ctx_free(ctx);
    dc_model_free(m);
}

/* A periodic text is learned: validation cross-entropy far below the uniform log V. */
TEST(lm_train_learns_a_periodic_text)
{
    enum { N = 6000, V = 6 };
    static int64_t ids[N];
    const char *pat = "abcabdabcabe";
    for (int i = 0; i < N; i++)
        ids[i] = pat[i % 12] - 'a';
    dc_model *m = lm_model("lstm", V, 24, 1, 3);
    REQUIRE(m);
    dc_train_opts o = dc_train_defaults();
    o.epochs = 3;
    o.batch_size = 8;
    o.bptt = 16;
    o.optim = dc_optim_defaults(DC_ADAM);
    o.optim.lr = 0.01f;
    o.clip_norm = 1.0f;
    o.progress = 0;
    dc_lm_result r;
    REQUIRE(dc_train_lm(m, ids, 5000, ids + 5000, 1000, &o, &r) == DC_OK);
    /* the pattern is deterministic given the last 6 symbols: the loss can go near 0 */
    CHECK(r.val_loss < 0.15, "validation loss %.4f nats (uniform: %.4f)", r.val_loss, log(V));
    CHECK(fabs(r.val_bpc - r.val_loss / log(2.0)) < 1e-9, "bpc must be loss / ln 2");
    /* 8 streams of 625 ids: ceil(624 / 16) = 39 chunks per epoch */
    CHECK(r.steps == 3 * 39, "steps: %lld", (long long)r.steps);
    double again;
    REQUIRE(dc_evaluate_lm(m, ids + 5000, 1000, 8, 16, &again) == DC_OK);
    CHECK(again == r.val_loss, "evaluate_lm repeats the validation loss (%g vs %g)", again,
          r.val_loss);
    dc_model_free(m);
}

TEST(lm_spec_variables)
{
    dc_spec *s = dc_spec_parse_string("[input]\nshape = 4\ndtype = int64\n[embedding e]\n"
                                      "num_embeddings = $vocab\nembedding_dim = 3\n", "v.spec");
    REQUIRE(s);
    CHECK(dc_spec_define(s, "other", "3") == 0, "an unused variable replaces nothing");
    dc_model *m = dc_spec_build(s, NULL);
    CHECK(!m && strstr(dc_last_error(), "v.spec:5") &&
          strstr(dc_last_error(), "undefined variable"), "undefined: %s", dc_last_error());
    dc_spec_free(s);
    s = dc_spec_parse_string("[input]\nshape = 4\ndtype = int64\n[embedding e]\n"
                             "num_embeddings = $vocab\nembedding_dim = 3\n", "v.spec");
    REQUIRE(s);
    CHECK(dc_spec_define(s, "vocab", "11") == 1, "one value replaced");
    m = dc_spec_build(s, NULL);
    REQUIRE(m);
    CHECK(dc_model_find(m, "e.weight")->shape[0] == 11, "num_embeddings from $vocab");
    char *txt = dc_spec_to_string(s);
    CHECK(txt && strstr(txt, "num_embeddings = 11"), "the written spec is resolved");
    free(txt);
    dc_model_free(m);
    dc_spec_free(s);
}

/* Shifts and flips move pixels exactly; the padding is the image's minimum; parse errors. */
TEST(lm_augment_images)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_augment a;
    CHECK(dc_augment_parse("crop=2,flip", &a) == DC_OK && a.crop_pad == 2 && a.hflip == 1,
          "parse crop=2,flip");
    CHECK(dc_augment_parse("none", &a) == DC_OK && !a.crop_pad && !a.hflip, "parse none");
    CHECK(dc_augment_parse("crop=x", &a) != DC_OK && strstr(dc_last_error(), "crop"),
          "bad crop: %s", dc_last_error());
    CHECK(dc_augment_parse("rotate", &a) != DC_OK, "unknown augmentation");
    enum { N = 64, H = 5, W = 6 };
    dc_tensor *x = dc_empty(ctx, DC_F32, 4, DC_SHAPE(N, 1, H, W));
    REQUIRE(x);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < H * W; i++)
            dc_f32(x)[n * H * W + i] = (float)(i + 1); /* minimum 1, all distinct */
    dc_rng rng;
    dc_rng_seed(&rng, 4, 0);
    a = (dc_augment){.crop_pad = 1, .hflip = 1};
    REQUIRE(dc_augment_images(ctx, x, &a, &rng) == DC_OK);
    int n_changed = 0, n_flipped = 0, bad = 0;
    for (int n = 0; n < N; n++) {
        const float *p = dc_f32(x) + n * H * W;
        /* recover the shift and flip from an interior pixel, then check every pixel */
        int found = 0;
        for (int dy = -1; dy <= 1 && !found; dy++)
            for (int dx = -1; dx <= 1 && !found; dx++)
                for (int fl = 0; fl <= 1 && !found; fl++) {
                    int ok = 1;
                    for (int i = 0; i < H && ok; i++)
                        for (int j = 0; j < W && ok; j++) {
                            int si = i + dy, sj = (fl ? W - 1 - j : j) + dx;
                            float want = si >= 0 && si < H && sj >= 0 && sj < W
                                             ? (float)(si * W + sj + 1) : 1.0f;
                            ok = p[i * W + j] == want;
                        }
                    if (ok) {
                        found = 1;
                        n_changed += dy || dx || fl;
                        n_flipped += fl;
                    }
                }
        bad += !found;
    }
    CHECK(bad == 0, "%d images are not a padded shift (+ flip) of the original", bad);
    CHECK(n_changed > N / 2 && n_flipped > N / 5 && n_flipped < 4 * N / 5,
          "draws look wrong: %d changed, %d flipped of %d", n_changed, n_flipped, N);
    dc_ctx_free(ctx);
}

/* train --data text: writes weights, spec and vocabulary; generate is seeded and validates. */
TEST(lm_cli_train_and_generate)
{
    char path[512], out[8192], out2[8192], dir[512];
    snprintf(path, sizeof path, "%s/corpus.txt", t_tmpdir());
    snprintf(dir, sizeof dir, "%s/run", t_tmpdir());
    char *text = malloc(40001);
    REQUIRE(text);
    const char *words[] = {"the cat sat. ", "a dog ran. ", "the dog sat. ", "a cat ran. "};
    size_t n = 0;
    for (int i = 0; n < 40000 - 16; i++) {
        const char *w = words[(i * 7 + i / 3) % 4];
        memcpy(text + n, w, strlen(w));
        n += strlen(w);
    }
    text[n] = 0;
    REQUIRE(t_write_text(path, text));
    free(text);
    int rc = t_run_deepc(out, sizeof out, "train models/char_gru --data text:%s --epochs 1 "
                         "--batch 16 --bptt 32 --optimizer adam --lr 0.01 --clip 1 --threads 1 "
                         "--out %s", path, dir);
    CHECK(rc == 0, "train text: rc %d\n%s", rc, out);
    const char *bpc = strstr(out, "bits/char");
    double v = bpc ? atof(strstr(out, "nats/char, ") + 11) : 99;
    CHECK(bpc && v < 2.0, "validation bits/char %.3f should be well under log2(V) = 3.6\n%s", v,
          out);
    rc = t_run_deepc(out, sizeof out, "generate %s/model.spec --weights %s/model.safetensors "
                     "--prime \"the \" --length 60 --temperature 0.8 --seed 5", dir, dir);
    CHECK(rc == 0 && !strncmp(out, "the ", 4), "generate: rc %d: %s", rc, out);
    t_run_deepc(out2, sizeof out2, "generate %s/model.spec --weights %s/model.safetensors "
                "--prime \"the \" --length 60 --temperature 0.8 --seed 5", dir, dir);
    CHECK(!strcmp(out, out2), "same seed, different text:\n%s\n%s", out, out2);
    t_run_deepc(out2, sizeof out2, "generate %s/model.spec --weights %s/model.safetensors "
                "--prime \"the \" --length 60 --temperature 0.8 --seed 6", dir, dir);
    CHECK(strcmp(out, out2) != 0, "another seed should give another text");
    /* the generic spec works too: the vocabulary next to the weights defines $vocab */
    rc = t_run_deepc(out, sizeof out, "generate models/char_gru --weights %s/model.safetensors "
                     "--prime \"a \" --length 20 --temperature 0", dir);
    CHECK(rc == 0 && !strncmp(out, "a ", 2), "generate with models/char_gru: %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "generate %s/model.spec --weights %s/model.safetensors "
                     "--prime \"XYZ\"", dir, dir);
    CHECK(rc == 2 && strstr(out, "not in the vocabulary"), "unknown prime char: %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "generate %s/model.spec --weights %s/model.safetensors "
                     "--vocab %s/nope.txt", dir, dir, dir);
    CHECK(rc == 2 && strstr(out, "nope.txt"), "missing vocabulary: %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train models/char_gru --data text:%s/missing.txt --lr 0.1",
                     t_tmpdir());
    CHECK(rc == 2 && strstr(out, "missing.txt"), "missing text: %d %s", rc, out);
}
