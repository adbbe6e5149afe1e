/*
 * test_label_smoothing.c - dc_train_opts.label_smoothing (deepc train --label-smoothing E): the
 * training loss of the classification and seq2seq tasks is PyTorch's smoothed cross-entropy,
 * (1-ε)·(-log p_target) + ε·mean_k(-log p_k) over the rows that are not ignored, checked here
 * against that formula in double; validation stays the plain cross-entropy; the tasks without a
 * cross-entropy refuse it.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <string.h>

static char out[8192];

/* The mean smoothed cross-entropy of logits [R, V] against t[R] (rows with t == ignore skipped),
 * in double. */
static double smoothed_ce(const float *logits, const int64_t *t, int64_t R, int64_t V, double eps,
                          int64_t ignore)
{
    double sum = 0;
    int64_t n = 0;
    for (int64_t r = 0; r < R; r++) {
        if (t[r] == ignore)
            continue;
        const float *l = logits + r * V;
        double mx = l[0], z = 0, mean_nll = 0;
        for (int64_t v = 1; v < V; v++)
            mx = l[v] > mx ? l[v] : mx;
        for (int64_t v = 0; v < V; v++)
            z += exp((double)l[v] - mx);
        const double lz = mx + log(z);
        for (int64_t v = 0; v < V; v++)
            mean_nll += (lz - (double)l[v]) / (double)V;
        sum += (1 - eps) * (lz - (double)l[t[r]]) + eps * mean_nll;
        n++;
    }
    return sum / (double)n;
}

static dc_model *build(const char *text, uint64_t seed)
{
    dc_spec *s = dc_spec_parse_string(text, "ls");
    dc_rng rng;
    dc_rng_seed(&rng, seed, 0);
    dc_model *m = s ? dc_spec_build(s, &rng) : NULL;
    dc_spec_free(s);
    return m;
}

TEST(label_smoothing_seq2seq_training_loss_is_pytorch_formula_validation_plain)
{
    /* three pairs of lengths 2/3, 4/1, 1/2 over a vocabulary of 9 (ids 3..8 are symbols) */
    int64_t src_off[4] = {0, 2, 6, 7}, src[7] = {3, 4, 5, 6, 7, 8, 3};
    int64_t tgt_off[4] = {0, 3, 4, 6}, tgt[6] = {5, 6, 7, 8, 3, 4};
    dc_seq_pairs p = {3, src_off, src, tgt_off, tgt};
    dc_model *m = build("[input]\nshape = 2, 8\ndtype = int64\n[select tgt]\nindex = 1\n"
                        "[embedding e]\nnum_embeddings = 9\nembedding_dim = 9\n", 4);
    REQUIRE(m);
    dc_train_opts o = dc_train_defaults();
    o.batch_size = 3;
    o.label_smoothing = 0.2f;
    dc_task *t = dc_task_seq2seq(&p, &p, &o);
    dc_ctx *ctx = dc_ctx_new(1 << 20);
    REQUIRE(t && ctx);
    int64_t idx[3] = {0, 1, 2};
    dc_tensor *x = NULL, *y = NULL;
    REQUIRE(dc_seq2seq_batch(ctx, &p, idx, 3, &x, &y) == DC_OK);
    double correct = 0;
    dc_tensor *l = t->loss(t, ctx, m, x, y, &correct);
    dc_tensor *logits = dc_model_forward(ctx, m, x);
    REQUIRE(l && logits);
    const int64_t R = y->numel;
    const double want = smoothed_ce(dc_f32(logits), dc_i64(y), R, 9, 0.2, DC_SEQ_PAD);
    const double plain = smoothed_ce(dc_f32(logits), dc_i64(y), R, 9, 0.0, DC_SEQ_PAD);
    CHECK(fabs(dc_f32(l)[0] - want) <= 1e-5 * fabs(want) && fabs(want - plain) > 1e-3,
          "seq2seq loss %.7g, want %.7g (unsmoothed %.7g)", dc_f32(l)[0], want, plain);
    dc_task_eval v;
    memset(&v, 0, sizeof v);
    CHECK(t->validate(t, m, &v) == DC_OK && v.has && fabs(v.loss - plain) <= 1e-5 * plain,
          "validation %.7g should be the plain cross-entropy %.7g", v.loss, plain);
    dc_task_free(t);
    o.label_smoothing = 1.0f;
    CHECK(!dc_task_seq2seq(&p, &p, &o) && strstr(dc_last_error(), "[0, 1)"), "ε 1: %s",
          dc_last_error());
    dc_ctx_free(ctx);
    dc_model_free(m);
}

TEST(label_smoothing_classification_loss_and_refusals)
{
    dc_tensor *xs = dc_tensor_new(DC_F32, 2, DC_SHAPE(6, 4));
    dc_tensor *ys = dc_tensor_new(DC_I64, 1, DC_SHAPE(6));
    REQUIRE(xs && ys);
    for (int i = 0; i < 24; i++)
        dc_f32(xs)[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    for (int i = 0; i < 6; i++)
        dc_i64(ys)[i] = i % 3;
    dc_dataset *d = dc_dataset_tensors(xs, ys);
    dc_model *m = build("[input]\nshape = 4\n[linear fc]\nout_features = 3\n", 2);
    REQUIRE(d && m);
    dc_train_opts o = dc_train_defaults();
    o.batch_size = 6;
    o.label_smoothing = 0.1f;
    dc_task *t = dc_task_dataset(d, &o);
    dc_ctx *ctx = dc_ctx_new(1 << 20);
    REQUIRE(t && ctx);
    double correct = 0; /* the whole set is one batch: the dataset's own tensors */
    dc_tensor *l = t->loss(t, ctx, m, xs, ys, &correct);
    dc_tensor *logits = dc_model_forward(ctx, m, xs);
    REQUIRE(l && logits);
    const double want = smoothed_ce(dc_f32(logits), dc_i64(ys), 6, 3, 0.1, -100);
    CHECK(fabs(dc_f32(l)[0] - want) <= 1e-5 * fabs(want), "loss %.7g, want %.7g", dc_f32(l)[0],
          want);
    dc_task_free(t);
    o.loss = DC_LOSS_MSE;
    CHECK(!dc_task_dataset(d, &o) && strstr(dc_last_error(), "cross_entropy"), "mse: %s",
          dc_last_error());
    int64_t ids[64];
    for (int i = 0; i < 64; i++)
        ids[i] = i % 5;
    o = dc_train_defaults();
    o.batch_size = 2;
    o.label_smoothing = 0.1f;
    CHECK(!dc_task_lm(ids, 64, NULL, 0, &o) && strstr(dc_last_error(), "label smoothing"),
          "a language model: %s", dc_last_error());
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_dataset_free(d);
    /* the CLI: refused by the text form with the library's reason, range-checked */
    const char *dir = t_tmpdir();
    char text[600];
    snprintf(text, sizeof text, "%s/t.txt", dir);
    REQUIRE(t_write_text(text, "the cat sat on the mat and the dog ran after the cat again.\n"));
    int rc = t_run_deepc(out, sizeof out, "train models/char_gru --data text:%s --epochs 1 "
                         "--batch 2 --bptt 8 --lr 0.01 --label-smoothing 0.1 --threads 1", text);
    CHECK(rc != 0 && strstr(out, "label smoothing"), "text form: rc %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train models/char_gru --data text:%s "
                     "--label-smoothing 2", text);
    CHECK(rc == 2 && strstr(out, "--label-smoothing"), "out of range: rc %d\n%s", rc, out);
}
