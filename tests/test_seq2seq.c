/*
 * test_seq2seq.c - the encoder-decoder of src/nn/seq2seq.c:
 *   - it learns to reverse digit strings of length 1..5 and decodes held-out strings (never
 *     drawn in training) exactly, >= 90% of them, in a few seconds on one thread;
 *   - greedy decoding one step at a time, carrying the decoder states (GRU and a 2-layer LSTM),
 *     gives the same logits as the decoder run over the whole prefix at once; EOS stops a row;
 *   - parameter names are PyTorch state_dict keys; bad options and bad ids are errors.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

enum { PAD = 0, BOS = 1, EOS = 2, DIGIT0 = 3, VOCAB = 13 };

/* One string in eight is held out: a multiplicative hash of the digits. */
static int held_out(const int *d, int n)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++)
        h = (h ^ (uint32_t)(d[i] + 1)) * 16777619u;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return (h & 7) == 0;
}

/* B strings of length L drawn from rng, held-out ones (want_held = 1) or training ones (0), as
 * src [B, L] and reversed + EOS tgt [B, L + 1] arena tensors. */
static void make_batch(dc_ctx *ctx, dc_rng *rng, int64_t B, int L, int want_held, dc_tensor **src,
                       dc_tensor **tgt)
{
    *src = dc_empty(ctx, DC_I64, 2, DC_SHAPE(B, L));
    *tgt = dc_empty(ctx, DC_I64, 2, DC_SHAPE(B, L + 1));
    if (!*src || !*tgt)
        return;
    int d[8];
    for (int64_t b = 0; b < B; b++) {
        int tries = 0;
        do { /* bounded: a length with no string of the wanted kind gives a wrong batch */
            for (int i = 0; i < L; i++)
                d[i] = (int)dc_rng_below(rng, 10);
        } while (held_out(d, L) != want_held && ++tries < 100000);
        for (int i = 0; i < L; i++) {
            dc_i64(*src)[b * L + i] = DIGIT0 + d[i];
            dc_i64(*tgt)[b * (L + 1) + i] = DIGIT0 + d[L - 1 - i];
        }
        dc_i64(*tgt)[b * (L + 1) + L] = EOS;
    }
}

/* Exact matches of greedy decoding on n held-out strings of length L. */
static int64_t exact_matches(dc_ctx *ctx, dc_seq2seq *s, dc_rng *rng, int64_t n, int L)
{
    dc_tensor *src, *tgt;
    make_batch(ctx, rng, n, L, 1, &src, &tgt);
    const int64_t T = L + 1, max_len = L + 3;
    int64_t *out = malloc((size_t)(n * max_len) * sizeof *out), *len = malloc((size_t)n * 8);
    int64_t hits = 0;
    if (src && tgt && out && len &&
        dc_seq2seq_greedy(ctx, s, src, max_len, out, len, NULL) == DC_OK)
        for (int64_t i = 0; i < n; i++)
            hits += len[i] == T && !memcmp(out + i * max_len, dc_i64(tgt) + i * T, (size_t)T * 8);
    free(out);
    free(len);
    dc_ctx_reset(ctx);
    return hits;
}

TEST(seq2seq_learns_to_reverse_unseen_strings)
{
    dc_set_num_threads(1);
    dc_rng rng, eval_rng;
    dc_rng_seed(&rng, 7, 0);
    dc_rng_seed(&eval_rng, 7, 1);
    dc_seq2seq_opts o = dc_seq2seq_defaults(VOCAB, VOCAB, BOS, EOS);
    o.embed_dim = 16;
    o.hidden_size = 64;
    o.pad_id = PAD;
    dc_seq2seq *s = dc_seq2seq_new(&o, &rng);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_optim_cfg cfg = dc_optim_defaults(DC_ADAM);
    cfg.lr = 5e-3f;
    dc_optim *opt = s ? dc_optim_new(dc_seq2seq_model(s), &cfg) : NULL;
    REQUIRE(s && ctx && opt);
    const int steps = 1500;
    float first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        if (step == steps * 3 / 4)
            dc_optim_set_lr(opt, cfg.lr * 0.2f);
        dc_tensor *src, *tgt;
        make_batch(ctx, &rng, 32, 1 + (int)dc_rng_below(&rng, 5), 0, &src, &tgt);
        dc_tensor *loss = dc_seq2seq_loss(ctx, s, src, tgt, NULL, NULL);
        dc_optim_zero_grad(opt);
        REQUIRE(loss && dc_backward(ctx, loss) == DC_OK);
        dc_clip_grad_norm(dc_seq2seq_model(s), 1.0f);
        REQUIRE(dc_optim_step(opt) == DC_OK);
        if (step < 20)
            first += dc_f32(loss)[0] / 20;
        if (step >= steps - 20)
            last += dc_f32(loss)[0] / 20;
        dc_ctx_reset(ctx);
    }
    int64_t hits = 0, total = 0;
    for (int L = 2; L <= 5; L++) { /* length 1 has a single held-out string */
        hits += exact_matches(ctx, s, &eval_rng, 100, L);
        total += 100;
    }
    const double acc = (double)hits / (double)total;
    CHECK(last < 0.25f * first, "loss did not fall: first 20 steps %.4f, last 20 %.4f", first,
          last);
    CHECK(acc >= 0.90, "held-out exact-sequence accuracy %.3f (%lld / %lld) < 0.90", acc,
          (long long)hits, (long long)total);
    dc_optim_free(opt);
    dc_ctx_free(ctx);
    dc_seq2seq_free(s);
}

/* Greedy decoding of src [3, 4] with out.bias[EOS] set to eos_bias; then the decoder run over
 * each whole prefix [BOS, y_0 .. y_{T-2}] at once from the encoder states must give the logits
 * of every step the greedy loop ran, up to rounding (one GEMM over T steps vs T GEMMs). */
static void check_carried_state(dc_rnn_kind kind, int layers, float eos_bias)
{
    enum { N = 3, S = 4, MAXLEN = 6 };
    dc_rng rng;
    dc_rng_seed(&rng, 11, 0);
    dc_seq2seq_opts o = dc_seq2seq_defaults(VOCAB, VOCAB, BOS, EOS);
    o.kind = kind;
    o.num_layers = layers;
    o.embed_dim = 8;
    o.hidden_size = 16;
    o.pad_id = PAD;
    dc_seq2seq *s = dc_seq2seq_new(&o, &rng);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *bias = s ? dc_model_find(dc_seq2seq_model(s), "out.bias") : NULL;
    REQUIRE(s && ctx && bias);
    dc_f32(bias)[EOS] = eos_bias;
    int64_t src_ids[N * S] = {3, 4, 5, 6, 12, 11, 10, 9, 7, 7, 3, 8};
    dc_tensor *src = dc_wrap(ctx, DC_I64, 2, DC_SHAPE(N, S), src_ids);
    int64_t out[N * MAXLEN], len[N];
    float step_logits[N * MAXLEN * VOCAB];
    REQUIRE(dc_seq2seq_greedy(ctx, s, src, MAXLEN, out, len, step_logits) == DC_OK);
    dc_ctx_reset(ctx);

    int64_t prev_ids[N * MAXLEN];
    for (int n = 0; n < N; n++) {
        prev_ids[n * MAXLEN] = BOS;
        for (int t = 1; t < MAXLEN; t++) /* after EOS out holds PAD: those steps are not compared */
            prev_ids[n * MAXLEN + t] = out[n * MAXLEN + t - 1];
    }
    src = dc_wrap(ctx, DC_I64, 2, DC_SHAPE(N, S), src_ids);
    dc_tensor *h = NULL, *c = NULL;
    REQUIRE(dc_seq2seq_encode(ctx, s, src, &h, &c) == DC_OK);
    CHECK((c != NULL) == (kind == DC_LSTM), "c is %p for a %s", (void *)c,
          kind == DC_LSTM ? "LSTM" : "GRU");
    dc_tensor *prev = dc_wrap(ctx, DC_I64, 2, DC_SHAPE(N, MAXLEN), prev_ids);
    dc_tensor *whole = dc_seq2seq_decode(ctx, s, prev, h, c, NULL, NULL); /* [N, MAXLEN, V] */
    REQUIRE(whole);
    CHECK(whole->ndim == 3 && whole->shape[1] == MAXLEN && whole->shape[2] == VOCAB,
          "decode gave ndim %d", whole->ndim);
    for (int n = 0; n < N; n++) {
        CHECK(len[n] >= 1 && len[n] <= MAXLEN, "row %d: length %lld", n, (long long)len[n]);
        char what[64];
        snprintf(what, sizeof what, "row %d logits over %lld steps", n, (long long)len[n]);
        CHECK_ALLCLOSE(what, step_logits + n * MAXLEN * VOCAB,
                       dc_f32(whole) + n * MAXLEN * VOCAB, len[n] * VOCAB, 1e-5, 1e-5);
    }
    if (eos_bias < 0) /* EOS never wins: every row runs MAXLEN steps, all compared */
        for (int n = 0; n < N; n++)
            CHECK(len[n] == MAXLEN && out[n * MAXLEN + MAXLEN - 1] != EOS,
                  "row %d stopped after %lld steps", n, (long long)len[n]);
    if (eos_bias > 0) /* EOS always wins: each row is just EOS, then padding */
        for (int n = 0; n < N; n++)
            CHECK(len[n] == 1 && out[n * MAXLEN] == EOS && out[n * MAXLEN + 1] == PAD,
                  "row %d: length %lld, first tokens %lld %lld", n, (long long)len[n],
                  (long long)out[n * MAXLEN], (long long)out[n * MAXLEN + 1]);
    dc_ctx_free(ctx);
    dc_seq2seq_free(s);
}

TEST(seq2seq_greedy_with_carried_state_matches_whole_prefix)
{
    dc_set_num_threads(1);
    check_carried_state(DC_GRU, 1, -50.0f);
    check_carried_state(DC_LSTM, 2, -50.0f);
    check_carried_state(DC_GRU, 2, 0.0f);
    check_carried_state(DC_LSTM, 1, 50.0f);
}

TEST(seq2seq_names_and_errors)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3, 0);
    dc_seq2seq_opts o = dc_seq2seq_defaults(VOCAB, 11, BOS, EOS);
    o.kind = DC_LSTM;
    o.num_layers = 2;
    o.embed_dim = 4;
    o.hidden_size = 6;
    dc_seq2seq *s = dc_seq2seq_new(&o, &rng);
    REQUIRE(s);
    const dc_model *m = dc_seq2seq_model(s);
    const char *names[] = {"enc_embed.weight", "encoder.weight_ih_l0", "encoder.bias_hh_l1",
                           "dec_embed.weight", "decoder.weight_hh_l1", "out.weight", "out.bias"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        CHECK(dc_model_find(m, names[i]) != NULL, "no parameter %s", names[i]);
    CHECK(dc_model_n_tensors(m) == 2 + 8 + 8 + 2, "%d tensors", dc_model_n_tensors(m));
    const dc_tensor *w = dc_model_find(m, "out.weight");
    CHECK(w && w->shape[0] == 11 && w->shape[1] == 6, "out.weight is not [11, 6]");
    CHECK(!strcmp(dc_model_tensor(m, 0)->name, "enc_embed.weight"), "first tensor %s",
          dc_model_tensor(m, 0)->name);

    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    int64_t bad_ids[2] = {3, 13}, ok_ids[2] = {3, 4};
    dc_tensor *h, *c, *src = dc_wrap(ctx, DC_I64, 2, DC_SHAPE(1, 2), bad_ids);
    CHECK(dc_seq2seq_encode(ctx, s, src, &h, &c) == DC_ERR_ARG && h == NULL,
          "an id out of the vocabulary was accepted");
    CHECK(strstr(dc_last_error(), "seq2seq_encode") && strstr(dc_last_error(), "13"),
          "message: %s", dc_last_error());
    dc_tensor *f = dc_zeros(ctx, DC_F32, 2, DC_SHAPE(1, 2));
    CHECK(dc_seq2seq_encode(ctx, s, f, &h, &c) == DC_ERR_DTYPE, "float ids accepted");
    dc_tensor *flat = dc_wrap(ctx, DC_I64, 1, DC_SHAPE(2), ok_ids);
    int64_t out[4], len[1];
    CHECK(dc_seq2seq_greedy(ctx, s, flat, 4, out, len, NULL) == DC_ERR_SHAPE, "1-D src accepted");
    src = dc_wrap(ctx, DC_I64, 2, DC_SHAPE(1, 2), ok_ids);
    CHECK(dc_seq2seq_greedy(ctx, s, src, 0, out, len, NULL) == DC_ERR_ARG, "max_len 0 accepted");
    dc_tensor *tgt = dc_wrap(ctx, DC_I64, 2, DC_SHAPE(2, 1), ok_ids);
    CHECK(dc_seq2seq_loss(ctx, s, src, tgt, NULL, NULL) == NULL, "batch mismatch accepted");
    CHECK(strstr(dc_last_error(), "tgt"), "message: %s", dc_last_error());

    /* the state dict round-trips strictly into a fresh model, which then decodes the same */
    char path[512];
    snprintf(path, sizeof path, "%s/s2s.safetensors", t_tmpdir());
    dc_seq2seq *s2 = dc_seq2seq_new(&o, NULL);
    REQUIRE(s2 && dc_model_save(m, path) == DC_OK &&
            dc_model_load(dc_seq2seq_model(s2), path, 1, NULL) == DC_OK);
    int64_t out2[4], len2[1];
    REQUIRE(dc_seq2seq_greedy(ctx, s, src, 4, out, len, NULL) == DC_OK &&
            dc_seq2seq_greedy(ctx, s2, src, 4, out2, len2, NULL) == DC_OK);
    CHECK(len[0] == len2[0] && !memcmp(out, out2, sizeof out), "reloaded model decodes "
          "differently: %lld tokens vs %lld", (long long)len[0], (long long)len2[0]);
    dc_seq2seq_free(s2);
    dc_ctx_free(ctx);
    dc_seq2seq_free(s);

    o.eos_id = BOS;
    CHECK(dc_seq2seq_new(&o, NULL) == NULL, "bos_id == eos_id accepted");
    o = dc_seq2seq_defaults(VOCAB, VOCAB, BOS, EOS);
    o.pad_id = VOCAB;
    CHECK(dc_seq2seq_new(&o, NULL) == NULL, "pad_id out of range accepted");
    o.pad_id = -1;
    o.hidden_size = 0;
    CHECK(dc_seq2seq_new(&o, NULL) == NULL && strstr(dc_last_error(), "hidden_size"),
          "hidden_size 0: %s", dc_last_error());
}
