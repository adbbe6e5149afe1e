/*
 * test_g2p_model.c - G2P models on small generated data (docs/g2p.md): the encoder-decoder KV
 * cache gives the logits and tokens of full recomputation at every step (pre-LN and post-LN,
 * greedy and beam search), and the CLI trains a GRU + Luong-attention seq2seq on a generated
 * dictionary (log.csv, checkpoints, a resume that ends with bitwise the weights of a straight
 * run), scores it (deepc g2p --data) and spells words (deepc g2p --text).
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A small Transformer encoder-decoder with the layer names tf_decode.c expects. */
static const char *tf_spec(int pre, char *buf, size_t n)
{
    snprintf(buf, n,
             "[input]\nshape = 2, 8\ndtype = int64\n"
             "[select src_ids]\nindex = 0\ntrim_padding = 0\n"
             "[embedding src_embed]\nnum_embeddings = 12\nembedding_dim = 8\npadding_idx = 0\n"
             "[positional src_pos]\nkind = sinusoidal\nmax_len = 16\n"
             "[transformerencoder encoder]\ninput = src_pos, src_ids\nnum_layers = 2\n"
             "nhead = 2\ndim_feedforward = 16\ndropout = 0\nnorm_first = %s\nnorm = %s\n"
             "padding_idx = 0\n"
             "[select tgt_ids]\ninput = input\nindex = 1\n"
             "[embedding tgt_embed]\nnum_embeddings = 12\nembedding_dim = 8\npadding_idx = 0\n"
             "[positional tgt_pos]\nkind = learned\nmax_len = 16\n"
             "[transformerdecoder decoder]\ninput = tgt_pos, encoder, src_ids\nnum_layers = 2\n"
             "nhead = 2\ndim_feedforward = 16\ndropout = 0\nnorm_first = %s\nnorm = %s\n"
             "causal = true\npadding_idx = 0\nactivation = %s\n"
             "[linear head]\nout_features = 12\n",
             pre ? "true" : "false", pre ? "true" : "false", pre ? "true" : "false",
             pre ? "true" : "false", pre ? "gelu" : "relu");
    return buf;
}

static dc_model *build(const char *text, uint64_t seed)
{
    dc_spec *s = dc_spec_parse_string(text, "tf.spec");
    dc_rng r;
    dc_rng_seed(&r, seed, 0);
    dc_model *m = s ? dc_spec_build(s, &r) : NULL;
    dc_spec_free(s);
    return m;
}

/* Greedy decoding step by step both ways: the cached step's logits equal the full forward's
 * (within rtol; the same tokens). */
static void check_steps_tol(dc_model *m, const int64_t *src, int64_t S, const char *what,
                            double rtol)
{
    dc_tf_decoder *d = dc_tf_decoder_new(m);
    REQUIRE(d && dc_tf_decoder_start(d, src, S) == DC_OK);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_ctx_set_grad(ctx, 0);
    dc_ctx_set_training(ctx, 0);
    int64_t prefix[16] = {DC_SEQ_BOS}, V = 0;
    float full[12], inc[12];
    for (int64_t t = 0; t < 10; t++) {
        REQUIRE(dc_seq2seq_next_logits(ctx, m, src, S, prefix, 1, 16, t, full, &V) == DC_OK);
        dc_ctx_reset(ctx);
        REQUIRE(dc_tf_decoder_step(d, 1, NULL, prefix + t, inc) == DC_OK);
        CHECK(V == 12, "%s: V %lld", what, (long long)V);
        CHECK_ALLCLOSE(what, inc, full, 12, rtol, rtol / 10);
        int64_t best = 3, bi = 3; /* the arg-max over the phones 3..11, both ways */
        for (int v = 3; v < 12; v++) {
            best = full[v] > full[best] ? v : best;
            bi = inc[v] > inc[bi] ? v : bi;
        }
        CHECK(best == bi, "%s: step %lld: token %lld cached, %lld full", what, (long long)t,
              (long long)bi, (long long)best);
        prefix[t + 1] = best;
    }
    dc_ctx_free(ctx);
    dc_tf_decoder_free(d);
}

static void check_steps(dc_model *m, const int64_t *src, int64_t S, const char *what)
{
    check_steps_tol(m, src, S, what, 1e-4);
}

TEST(g2p_kv_cache_equals_full_recomputation)
{
    char spec[3000];
    const int64_t src[] = {4, 9, 5, 11, 7};
    for (int pre = 0; pre < 2; pre++) {
        dc_model *m = build(tf_spec(pre, spec, sizeof spec), 5 + (uint64_t)pre);
        REQUIRE(m);
        check_steps(m, src, 5, pre ? "pre-LN" : "post-LN");
        check_steps(m, src + 2, 2, pre ? "pre-LN short" : "post-LN short");
        /* beam search reorders the hypotheses: the cache must follow them */
        for (int beam = 1; beam <= 4; beam += 3) {
            dc_beam_opts o = dc_beam_defaults();
            o.beam = beam;
            o.max_len = 9;
            int64_t a[16], b[16], na = -1, nb = -2;
            double sa = 0, sb = 1;
            REQUIRE(dc_seq2seq_generate(m, src, 5, &o, 1, a, &na, &sa) == DC_OK);
            REQUIRE(dc_seq2seq_generate(m, src, 5, &o, 0, b, &nb, &sb) == DC_OK);
            CHECK(na == nb && !memcmp(a, b, (size_t)na * sizeof *a), "beam %d: %lld tokens "
                  "cached, %lld full", beam, (long long)na, (long long)nb);
            CHECK_NEAR(sa, sb, 1e-4);
        }
        dc_model_free(m);
    }
    /* a model without the names is refused (and decodes by recomputation instead) */
    dc_model *g = build("[input]\nshape = 2, 4\ndtype = int64\n[select s]\nindex = 1\n"
                        "[embedding e]\nnum_embeddings = 6\nembedding_dim = 4\n"
                        "[linear head]\nout_features = 6\n", 1);
    REQUIRE(g);
    CHECK(!dc_tf_decoder_new(g) && strstr(dc_last_error(), "src_embed"), "refusal: %s",
          dc_last_error());
    dc_model_free(g);
}

/* The first cached step's logits of m (model frozen or not) for src. */
static void first_step(dc_model *m, const int64_t *src, int64_t S, float *logits)
{
    dc_tf_decoder *d = dc_tf_decoder_new(m);
    const int64_t bos = DC_SEQ_BOS;
    REQUIRE(d && dc_tf_decoder_start(d, src, S) == DC_OK);
    REQUIRE(dc_tf_decoder_step(d, 1, NULL, &bos, logits) == DC_OK);
    dc_tf_decoder_free(d);
}

TEST(g2p_kv_cache_runs_a_bf16_frozen_models_products_as_the_full_forward_does)
{
    char spec[3000];
    const int64_t src[] = {4, 9, 5, 11, 7};
    dc_model *m = build(tf_spec(1, spec, sizeof spec), 6);
    REQUIRE(m);
    float f32[12], f32_frozen[12], bf[12];
    first_step(m, src, 5, f32);
    REQUIRE(dc_model_freeze(m) == DC_OK);
    first_step(m, src, 5, f32_frozen);
    CHECK(!memcmp(f32, f32_frozen, sizeof f32), "frozen float32: other bits in the decoder");
    REQUIRE(dc_model_freeze_bf16(m) == DC_OK);
    first_step(m, src, 5, bf);
    CHECK(memcmp(bf, f32, sizeof bf) != 0, "bf16-frozen: the decoder's products stayed float32");
    CHECK_ALLCLOSE("bf16 against float32 logits", bf, f32, 12, 0.05, 0.05);
    /* cached and full forward, both in bfloat16: their float32 parts differ in rounding (as
     * in float32, 1e-4 above), which can move an operand to the next bfloat16 value */
    check_steps_tol(m, src, 5, "bf16", 2e-2);
    dc_model_free(m);
}

/* Greedy decoding of an ensemble by hand: at every step each model's full-forward logits, the
 * log of the mean of their softmaxes, the arg-max (first on ties) appended until EOS. */
static int64_t ensemble_greedy(dc_model *const *ms, int n, const int64_t *src, int64_t S,
                               int64_t max_len, int64_t *out)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_ctx_set_grad(ctx, 0);
    dc_ctx_set_training(ctx, 0);
    int64_t prefix[32] = {DC_SEQ_BOS}, t = 0;
    for (; t < max_len; t++) {
        double p[12] = {0};
        for (int i = 0; i < n; i++) {
            float l[12];
            int64_t V = 0;
            if (dc_seq2seq_next_logits(ctx, ms[i], src, S, prefix, 1, 32, t, l, &V) != DC_OK ||
                V != 12) {
                dc_ctx_free(ctx);
                return -1;
            }
            dc_ctx_reset(ctx);
            double mx = l[0], z = 0;
            for (int v = 1; v < 12; v++)
                mx = l[v] > mx ? l[v] : mx;
            for (int v = 0; v < 12; v++)
                z += exp(l[v] - mx);
            for (int v = 0; v < 12; v++)
                p[v] += exp(l[v] - mx) / z / n;
        }
        int64_t best = 0;
        for (int v = 1; v < 12; v++)
            best = p[v] > p[best] ? v : best;
        if (best == DC_SEQ_EOS)
            break;
        out[t] = prefix[t + 1] = best;
    }
    dc_ctx_free(ctx);
    return t;
}

TEST(g2p_ensemble_decodes_by_the_models_mean_probability)
{
    char spec[3000];
    dc_model *ms[3] = {build(tf_spec(1, spec, sizeof spec), 21),
                       build(tf_spec(0, spec, sizeof spec), 22),
                       build(tf_spec(1, spec, sizeof spec), 23)};
    REQUIRE(ms[0] && ms[1] && ms[2]);
    const int64_t src[] = {4, 9, 5, 11, 7, 3};
    dc_beam_opts o = dc_beam_defaults();
    o.max_len = 12;
    int agree_all = 1;
    for (int n = 2; n <= 3; n++) {
        int64_t want[32], got[32], full[32], ng = -1, nf = -2;
        const int64_t nw = ensemble_greedy(ms, n, src, 6, o.max_len, want);
        REQUIRE(nw >= 0);
        REQUIRE(dc_seq2seq_generate_ensemble(ms, n, src, 6, &o, 1, got, &ng, NULL) == DC_OK);
        REQUIRE(dc_seq2seq_generate_ensemble(ms, n, src, 6, &o, 0, full, &nf, NULL) == DC_OK);
        CHECK(ng == nw && !memcmp(got, want, (size_t)nw * sizeof *got), "%d models: %lld "
              "tokens, by hand %lld", n, (long long)ng, (long long)nw);
        CHECK(nf == ng && !memcmp(full, got, (size_t)ng * sizeof *got),
              "%d models: the KV cache and recomputation disagree", n);
        /* the ensemble must not simply be one of its models */
        for (int i = 0; i < n; i++) {
            int64_t one[32], n1 = -1;
            REQUIRE(dc_seq2seq_generate(ms[i], src, 6, &o, 1, one, &n1, NULL) == DC_OK);
            agree_all &= n1 == ng && !memcmp(one, got, (size_t)ng * sizeof *got);
        }
        o.beam = 3; /* beam search over the ensemble: cached and recomputed agree */
        REQUIRE(dc_seq2seq_generate_ensemble(ms, n, src, 6, &o, 1, got, &ng, NULL) == DC_OK);
        REQUIRE(dc_seq2seq_generate_ensemble(ms, n, src, 6, &o, 0, full, &nf, NULL) == DC_OK);
        CHECK(nf == ng && !memcmp(full, got, (size_t)ng * sizeof *got),
              "%d models, beam 3: the KV cache and recomputation disagree", n);
        o.beam = 1;
    }
    CHECK(!agree_all, "the ensembles decode exactly as each of their models (a weak test)");
    /* a member without a KV decoder (other layer names: recomputed) beside cached ones */
    char mixed[3000];
    tf_spec(1, mixed, sizeof mixed);
    char *e = strstr(mixed, "[embedding tgt_embed]");
    REQUIRE(e);
    memcpy(e, "[embedding tgt_embxd]", 21);
    dc_model *rm = build(mixed, 24);
    REQUIRE(rm);
    CHECK(!dc_tf_decoder_new(rm), "the renamed model still has a KV decoder");
    dc_model *mix[3] = {ms[0], rm, ms[1]};
    int64_t want[32], got[32], ng = -1;
    o.beam = 1;
    const int64_t nw = ensemble_greedy(mix, 3, src, 6, o.max_len, want);
    REQUIRE(nw >= 0);
    REQUIRE(dc_seq2seq_generate_ensemble(mix, 3, src, 6, &o, 1, got, &ng, NULL) == DC_OK);
    CHECK(ng == nw && !memcmp(got, want, (size_t)nw * sizeof *got), "cached + recomputed "
          "members: %lld tokens, by hand %lld", (long long)ng, (long long)nw);
    dc_model_free(rm);
    /* another output vocabulary is refused */
    dc_model *g = build("[input]\nshape = 2, 4\ndtype = int64\n[select s]\nindex = 1\n"
                        "[embedding e]\nnum_embeddings = 6\nembedding_dim = 4\n"
                        "[linear head]\nout_features = 6\n", 1);
    dc_model *two[2] = {ms[0], g};
    int64_t out[32], n = 0;
    CHECK(g && dc_seq2seq_generate_ensemble(two, 2, src, 4, &o, 1, out, &n, NULL) ==
                   DC_ERR_SHAPE && strstr(dc_last_error(), "output tokens"),
          "vocabularies 12 and 6: %s", dc_last_error());
    CHECK(dc_seq2seq_generate_ensemble(ms, 0, src, 6, &o, 1, out, &n, NULL) == DC_ERR_ARG,
          "no models accepted");
    dc_model_free(g);
    for (int i = 0; i < 3; i++)
        dc_model_free(ms[i]);
}

/* A start that fails (a source longer than src_pos' max_len 16) must not leave the decoder
 * stepping over the previous source's memory with the new length (a read past its buffer). */
TEST(g2p_kv_decoder_refuses_to_step_after_a_failed_start)
{
    char spec[3000];
    dc_model *m = build(tf_spec(1, spec, sizeof spec), 3);
    REQUIRE(m);
    dc_tf_decoder *d = dc_tf_decoder_new(m);
    REQUIRE(d);
    int64_t src[20], tok = DC_SEQ_BOS;
    for (int i = 0; i < 20; i++)
        src[i] = 4 + i % 8;
    float logits[12];
    REQUIRE(dc_tf_decoder_start(d, src, 5) == DC_OK);
    REQUIRE(dc_tf_decoder_step(d, 1, NULL, &tok, logits) == DC_OK);
    CHECK(dc_tf_decoder_start(d, src, 20) != DC_OK, "a 20-id source over max_len 16 accepted");
    CHECK(dc_tf_decoder_step(d, 1, NULL, &tok, logits) == DC_ERR_ARG,
          "stepped after a failed start");
    CHECK(dc_tf_decoder_start(d, src, 0) == DC_ERR_ARG, "an empty source accepted");
    REQUIRE(dc_tf_decoder_start(d, src, 7) == DC_OK); /* and it starts again cleanly */
    CHECK(dc_tf_decoder_step(d, 1, NULL, &tok, logits) == DC_OK, "%s", dc_last_error());
    dc_tf_decoder_free(d);
    dc_model_free(m);
}

/* dc_seq2seq_evaluate steps through the pairs a batch at a time: batch 0 would never advance. */
TEST(g2p_evaluate_refuses_a_batch_below_1)
{
    char spec[3000];
    dc_model *m = build(tf_spec(0, spec, sizeof spec), 4);
    REQUIRE(m);
    dc_seq_pairs p = {0};
    double loss = -1, acc = -1;
    dc_seq2seq_eval_in in = {&p, NULL, 0, 0};
    CHECK(dc_seq2seq_evaluate(m, &in, &loss, &acc) == DC_ERR_ARG, "batch 0 accepted");
    in.batch = 8;
    CHECK(dc_seq2seq_evaluate(m, &in, &loss, &acc) == DC_OK, "%s", dc_last_error());
    CHECK(loss == 0 && acc == 0, "no pairs: loss %g, accuracy %g", loss, acc);
    dc_model_free(m);
}

/* A dictionary of n made-up words over the letters A-H, one phone per letter (vowels with a
 * stress digit), every fifth word with an alternate pronunciation. */
static void write_dict(const char *path, int n)
{
    static const char *const phone[8] = {"AE1", "B", "K", "D", "EH0", "F", "G", "HH"};
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    dc_rng r;
    dc_rng_seed(&r, 11, 0);
    for (int i = 0; i < n; i++) {
        char w[8];
        const int len = 2 + (int)dc_rng_below(&r, 4);
        for (int k = 0; k < len; k++)
            w[k] = (char)('A' + dc_rng_below(&r, 8));
        w[len] = 0;
        fprintf(f, "%s%d ", w, i);
        for (int k = 0; k < len; k++)
            fprintf(f, " %s", phone[w[k] - 'A']);
        fprintf(f, " Z\n");
        if (i % 5 == 0)
            fprintf(f, "%s%d(1)  %s S\n", w, i, phone[w[0] - 'A']);
    }
    fclose(f);
}

#define GRU_SPEC                                                                              \
    "[input]\nshape = 2, 8\ndtype = int64\n[select src_ids]\nindex = 0\ntrim_padding = 0\n"    \
    "[embedding src_embed]\nnum_embeddings = 85\nembedding_dim = 8\npadding_idx = 0\n"         \
    "[gru encoder]\nhidden_size = 8\nbidirectional = true\n[select tgt_ids]\ninput = input\n"  \
    "index = 1\n[embedding tgt_embed]\nnum_embeddings = 85\nembedding_dim = 8\n"               \
    "padding_idx = 0\n[gru decoder]\nhidden_size = 16\n[luongattention attn]\n"                \
    "input = decoder, encoder, src_ids\nmemory_size = 16\npadding_idx = 0\n[linear head]\n"    \
    "out_features = 85\n"

TEST(g2p_cli_train_resume_eval_predict)
{
    char d[600], p[700], args[2000], out[8192];
    snprintf(d, sizeof d, "%s", t_tmpdir());
    snprintf(p, sizeof p, "%s/gru.spec", d);
    REQUIRE(t_write_text(p, GRU_SPEC));
    snprintf(p, sizeof p, "%s/dict.txt", d);
    write_dict(p, 120);
    snprintf(args, sizeof args, "train %s/gru.spec --data cmudict:%s/dict.txt --epochs 3 --batch 8 "
             "--optimizer adam --lr 0.01 --threads 1 --seed 3 --quiet", d, d);
    int rc = t_run_deepc(out, sizeof out, "%s --out %s/ref", args, d);
    REQUIRE(rc == 0);
    /* stopped after 10 steps (inside epoch 1), then resumed to the end */
    rc = t_run_deepc(out, sizeof out, "%s --steps 10 --out %s/r", args, d);
    CHECK(rc == 0, "--steps 10: rc %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/r --steps 0", d);
    CHECK(rc == 0, "resume: rc %d %s", rc, out);
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/ref/model.safetensors", d);
    snprintf(b, sizeof b, "%s/r/model.safetensors", d);
    CHECK(t_same_file(a, b), "stop at step 10 + resume ends with other weights than a straight "
          "run");
    snprintf(a, sizeof a, "%s/ref/log.csv", d);
    FILE *f = fopen(a, "r");
    int lines = 0;
    while (f && fgets(out, sizeof out, f))
        lines++;
    if (f)
        fclose(f);
    CHECK(lines == 4, "log.csv: %d lines (header + 3 epochs)", lines);
    rc = t_run_deepc(out, sizeof out, "g2p %s/ref/model.spec --weights %s/ref/model.safetensors "
                     "--data cmudict:%s/dict.txt --split val --beam 3", d, d, d);
    CHECK(rc == 0 && strstr(out, "val words: 6, beam 3: WER ") && strstr(out, "PER "),
          "g2p eval: rc %d %s", rc, out);
    /* an ensemble of the model with itself decodes as the model: the same line */
    char one[600];
    const char *wer = strstr(out, "WER "), *end = wer ? strstr(wer, "phones)") : NULL;
    snprintf(one, sizeof one, "%.*s", wer && end ? (int)(end - wer) : 0, wer ? wer : "");
    rc = t_run_deepc(out, sizeof out, "g2p %s/ref/model.spec --weights %s/ref/model.safetensors "
                     "--data cmudict:%s/dict.txt --split val --beam 3 --ensemble "
                     "%s/ref/model.spec=%s/ref/model.safetensors", d, d, d, d, d);
    CHECK(rc == 0 && one[0] && strstr(out, "ensemble of 2 models, val words: 6") &&
          strstr(out, one), "g2p --ensemble: rc %d %s (alone: %s)", rc, out, one);
    rc = t_run_deepc(out, sizeof out, "g2p %s/ref/model.spec --weights %s/ref/model.safetensors "
                     "--data cmudict:%s/dict.txt --ensemble %s/ref/model.spec", d, d, d, d);
    CHECK(rc == 2 && strstr(out, "SPEC=WEIGHTS"), "--ensemble without weights: rc %d %s", rc,
          out);
    rc = t_run_deepc(out, sizeof out, "g2p %s/ref/model.spec --weights %s/ref/model.safetensors "
                     "--data cmudict:%s/dict.txt --ensemble %s/ref/model.spec=%s/ref/"
                     "model.safetensors,", d, d, d, d, d);
    CHECK(rc == 2 && strstr(out, "SPEC=WEIGHTS"), "--ensemble with a trailing comma: rc %d %s",
          rc, out);
    rc = t_run_deepc(out, sizeof out, "g2p %s/ref/model.spec --weights %s/ref/model.safetensors "
                     "--data cmudict:%s/dict.txt --split val --beam 3 --length-penalty 0", d, d,
                     d);
    CHECK(rc == 0 && strstr(out, "val words: 6, beam 3, length penalty 0: WER "),
          "g2p --length-penalty 0: rc %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "g2p %s/ref/model.spec --weights %s/ref/model.safetensors "
                     "--data cmudict:%s/dict.txt --length-penalty -1", d, d, d);
    CHECK(rc == 2 && strstr(out, "--length-penalty"), "--length-penalty -1: rc %d %s", rc, out);
    /* a model with another output vocabulary cannot join the ensemble: bad input, exit 2 */
    char *wide = strdup(GRU_SPEC), *o85 = wide ? strstr(wide, "out_features = 85") : NULL;
    REQUIRE(o85);
    memcpy(o85 + 15, "90", 2);
    snprintf(p, sizeof p, "%s/wide.spec", d);
    const int wrote = t_write_text(p, wide);
    free(wide);
    REQUIRE(wrote);
    rc = t_run_deepc(out, sizeof out, "train %s/wide.spec --data cmudict:%s/dict.txt --steps 1 "
                     "--batch 8 --lr 0.01 --threads 1 --quiet --out %s/wide", d, d, d);
    CHECK(rc == 0, "train a 90-token head: rc %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "g2p %s/ref/model.spec --weights %s/ref/model.safetensors "
                     "--data cmudict:%s/dict.txt --ensemble %s/wide/model.spec=%s/wide/"
                     "model.safetensors", d, d, d, d, d);
    CHECK(rc == 2 && strstr(out, "output tokens"), "--ensemble of 85 and 90 tokens: rc %d %s",
          rc, out);
    rc = t_run_deepc(out, sizeof out, "eval %s/ref/model.spec --weights %s/ref/model.safetensors "
                     "--data cmudict:%s/dict.txt", d, d, d);
    CHECK(rc == 0 && strstr(out, "test words: 6, beam 5: WER "), "deepc eval: rc %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "g2p %s/ref/model.spec --weights %s/ref/model.safetensors "
                     "--text abc,HEAD --beam 2", d, d);
    CHECK(rc == 0 && strstr(out, "abc\t") && strstr(out, "HEAD\t"), "g2p predict: rc %d %s", rc,
          out);
    rc = t_run_deepc(out, sizeof out, "g2p %s/ref/model.spec --weights %s/ref/model.safetensors "
                     "--data text:%s/dict.txt", d, d, d);
    CHECK(rc == 2 && strstr(out, "cmudict:PATH"), "g2p --data text: rc %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train %s/gru.spec --data cmudict:%s/none.txt --lr 0.1", d,
                     d);
    CHECK(rc == 2 && strstr(out, "none.txt"), "missing dictionary: rc %d %s", rc, out);
}
