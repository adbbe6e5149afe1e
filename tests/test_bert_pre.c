/*
 * test_bert_pre.c - BERT pre-training (src/train/task_bert.c): the task's MLM + NSP loss with
 * AdamW and a linear warm-up / decay against PyTorch (tests/ref/gen_bert.py, adamw), the extra
 * metrics in log.csv, exact resume, held-out documents, and the errors.
 */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BERT_REF "tests/ref/bert"

/* A corpus of 2 documents of 2 sentences over a vocabulary of V ids ([PAD] 0, [CLS] 2, [SEP] 3,
 * [MASK] 4): enough to make a task whose loss is then given other batches. */
static int64_t c_doc_sent[3] = {0, 2, 4}, c_sent_tok[5] = {0, 2, 4, 6, 8};
static int64_t c_ids[8] = {5, 6, 7, 8, 9, 10, 11, 12};
static dc_bert_corpus tiny_corpus(int64_t V)
{
    return (dc_bert_corpus){.n_docs = 2, .n_sents = 4, .n_ids = 8, .doc_sent = c_doc_sent,
                            .sent_tok = c_sent_tok, .ids = c_ids, .vocab = V, .pad = 0, .cls = 2,
                            .sep = 3, .mask = 4};
}

/* The tiny BERT of the reference with the file's init.<name> weights. */
static dc_model *tiny_model(dc_spec **spec, const dc_tdict *d)
{
    *spec = dc_spec_parse_file(BERT_REF "/tiny.spec");
    dc_model *m = *spec ? dc_spec_build(*spec, NULL) : NULL;
    for (int i = 0; m && i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        char key[200];
        snprintf(key, sizeof key, "init.%s", t->name);
        const dc_tensor *f = dc_tdict_get(d, key);
        CHECK(f && f->numel == t->numel, "adamw: no %s of the right size", key);
        if (f && f->numel == t->numel)
            memcpy(t->data, f->data, (size_t)t->numel * 4);
    }
    return m;
}

/* y [N, T + 1] of the task: MLM labels of step k, then the NSP label. */
static dc_tensor *task_targets(dc_ctx *ctx, const dc_tdict *d, int k, int64_t N, int64_t T)
{
    char key[32];
    snprintf(key, sizeof key, "mlm_labels.%d", k);
    const dc_tensor *ml = dc_tdict_get(d, key), *nl = dc_tdict_get(d, "nsp_labels");
    dc_tensor *y = dc_empty(ctx, DC_I64, 2, DC_SHAPE(N, T + 1));
    if (!ml || !nl || !y || ml->numel != N * T || nl->numel != N)
        return NULL;
    for (int64_t i = 0; i < N; i++) {
        memcpy(dc_i64(y) + i * (T + 1), dc_i64(ml) + i * T, (size_t)T * 8);
        dc_i64(y)[i * (T + 1) + T] = dc_i64(nl)[i];
    }
    return y;
}

/* The task's loss (MLM head on the masked positions only) and gradients, clipping at 1, AdamW
 * (lr 1e-2, weight decay 0.01) and the linear schedule (warm-up 2, total 6) stepped per batch,
 * 5 steps from PyTorch's weights: every step's loss and lr and every final weight match
 * PyTorch's full-head BertForPreTraining with get_linear_schedule_with_warmup. */
TEST(bert_pre_adamw_warmup_decay_matches_pytorch)
{
    dc_tdict *d = t_ref_load(BERT_REF, "adamw");
    REQUIRE(d);
    dc_spec *spec = NULL;
    dc_model *m = tiny_model(&spec, d);
    dc_bert_corpus c = tiny_corpus(40);
    dc_train_opts o = dc_train_defaults();
    o.batch_size = 3;
    dc_bert_task_opts bo = dc_bert_task_defaults();
    dc_task *t = dc_task_bert(&c, NULL, &bo, &o);
    dc_optim_cfg oc = dc_optim_defaults(DC_ADAMW);
    oc.lr = 1e-2f;
    oc.weight_decay = 0.01f;
    dc_optim *opt = m ? dc_optim_new(m, &oc) : NULL;
    dc_sched_cfg sc = dc_sched_defaults(DC_SCHED_LINEAR);
    sc.warmup_steps = 2;
    sc.total_steps = 6;
    dc_sched *sched = opt ? dc_sched_new(opt, &sc) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    const dc_tensor *x = dc_tdict_get(d, "input"), *loss = dc_tdict_get(d, "loss"),
                    *lr = dc_tdict_get(d, "lr");
    REQUIRE(m && t && opt && sched && ctx && x && loss && lr && loss->numel == 5);
    dc_ctx_set_training(ctx, 1); /* dropout is 0 in the spec */
    for (int k = 0; k < 5; k++) {
        dc_tensor *y = task_targets(ctx, d, k, x->shape[0], x->shape[2]);
        double ok = 0;
        dc_tensor *l = y ? t->loss(t, ctx, m, (dc_tensor *)x, y, &ok) : NULL;
        REQUIRE(l);
        CHECK_NEAR(dc_f32(l)[0], dc_f32(loss)[k], 1e-5);
        CHECK_NEAR(dc_optim_lr(opt), dc_f32(lr)[k], 1e-9);
        dc_optim_zero_grad(opt);
        REQUIRE(dc_backward(ctx, l) == DC_OK);
        dc_clip_grad_norm(m, 1.0f);
        REQUIRE(dc_optim_step(opt) == DC_OK);
        dc_sched_step_batch(sched);
        dc_ctx_reset(ctx);
    }
    /* The key biases have a true gradient of 0 (a constant added to every score of a row leaves
     * the softmax as it is), so both sides' gradients there are rounding noise that Adam turns
     * into steps of up to about lr: they are only checked to lie within 2 · 5 · lr. */
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *p = dc_model_tensor(m, i);
        char key[200];
        snprintf(key, sizeof key, "final.%s", p->name);
        const dc_tensor *want = dc_tdict_get(d, key);
        if (!strstr(p->name, "attention.self.key.bias")) {
            t_ref_compare("bert adamw", key, p, p->data, want);
            continue;
        }
        REQUIRE(want && want->numel == p->numel);
        for (int64_t j = 0; j < p->numel; j++)
            CHECK(fabsf(dc_f32(p)[j] - dc_f32(want)[j]) < 0.1f, "%s[%lld] moved too far", key,
                  (long long)j);
    }
    dc_ctx_free(ctx);
    dc_sched_free(sched);
    dc_optim_free(opt);
    dc_task_free(t);
    dc_model_free(m);
    dc_spec_free(spec);
    dc_tdict_free(d);
}

/* ---- the task on the trainer: a generated corpus over the tiny model's 40 ids ---- */

typedef struct pre_fixture {
    dc_wordpiece *wp;
    dc_bert_corpus *train, *val;
    dc_spec *spec;
} pre_fixture;

static void pre_free(pre_fixture *f)
{
    dc_bert_corpus_free(f->train);
    dc_bert_corpus_free(f->val);
    dc_wordpiece_free(f->wp);
    dc_spec_free(f->spec);
}

/* 24 documents of 3 to 5 sentences of 2 to 5 words, drawn from a fixed generator; 4 of them
 * held out. */
static int pre_load(pre_fixture *f)
{
    static const char *const tok[40] = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d", "e", "f", "g", "h", "i",
        "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", ".",
        "the", "cat", "dog", "ran", "sat", "big", "red", "one"};
    memset(f, 0, sizeof *f);
    f->wp = dc_wordpiece_new(tok, 40, NULL);
    dc_docs all = {0}, tr = {0}, va = {0};
    dc_rng r;
    dc_rng_seed(&r, 7, 0);
    for (int d = 0; d < 24 && f->wp; d++) {
        char text[512];
        size_t n = 0;
        for (int s = 0, ns = 3 + (int)dc_rng_below(&r, 3); s < ns; s++) {
            for (int w = 0, nw = 2 + (int)dc_rng_below(&r, 4); w < nw; w++)
                n += (size_t)snprintf(text + n, sizeof text - n, "%s ",
                                      tok[5 + dc_rng_below(&r, 34)]);
            n += (size_t)snprintf(text + n, sizeof text - n, ". ");
        }
        if (dc_docs_add(&all, text, n, -1) != DC_OK)
            break;
    }
    CHECK(f->wp && all.n == 24 && dc_docs_split(&all, 1.0 / 6, 3, &tr, &va) == DC_OK,
          "split: %s", dc_last_error());
    CHECK(tr.n == 20 && va.n == 4, "split: %lld + %lld documents", (long long)tr.n,
          (long long)va.n);
    f->train = dc_bert_corpus_new(f->wp, &tr);
    f->val = dc_bert_corpus_new(f->wp, &va);
    f->spec = dc_spec_parse_file(BERT_REF "/tiny.spec");
    dc_docs_free(&all);
    dc_docs_free(&tr);
    dc_docs_free(&va);
    return f->train && f->val && f->spec;
}

/* Train the tiny BERT (seeded init) on the fixture: batches of 4, 8 pairs an epoch, 3 epochs,
 * AdamW with warm-up, into dir; max_steps / resume as given. The final weights into w (its
 * size: every parameter's floats) when w is not NULL. */
static dc_status pre_run(pre_fixture *f, const char *dir, int64_t max_steps, const char *resume,
                         float *w, int64_t nw)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5, 0);
    dc_model *m = dc_spec_build(f->spec, &rng);
    dc_train_opts o = dc_train_defaults();
    o.epochs = 3;
    o.batch_size = 4;
    o.progress = 0;
    o.out_dir = dir;
    o.log_every = 1;
    o.max_steps = max_steps;
    o.resume = resume;
    o.optim = dc_optim_defaults(DC_ADAMW);
    o.optim.lr = 1e-3f;
    o.sched = dc_sched_defaults(DC_SCHED_LINEAR);
    o.sched.warmup_steps = 2;
    dc_bert_task_opts bo = dc_bert_task_defaults();
    bo.data.max_len = 9;
    bo.data.mlm_prob = 0.3f;
    bo.epoch_pairs = 8;
    bo.val_pairs = 6;
    dc_task *t = m ? dc_task_bert(f->train, f->val, &bo, &o) : NULL;
    dc_status st = t ? dc_train_task(m, t, &o, NULL) : DC_ERR_ARG;
    for (int i = 0, k = 0; st == DC_OK && w && i < dc_model_n_tensors(m); i++) {
        dc_tensor *p = dc_model_tensor(m, i);
        if (k + p->numel <= nw)
            memcpy(w + k, p->data, (size_t)p->numel * 4);
        k += (int)p->numel;
    }
    dc_task_free(t);
    dc_model_free(m);
    return st;
}

/* The fields of line (a CSV row) into v (NaN where empty); returns how many. */
static int csv_fields(const char *line, double *v, int max)
{
    int n = 0;
    for (const char *p = line; n < max;) {
        char *end;
        v[n] = strtod(p, &end);
        if (end == p)
            v[n] = NAN;
        n++;
        const char *comma = strchr(p, ',');
        if (!comma)
            break;
        p = comma + 1;
    }
    return n;
}

TEST(bert_pre_log_has_the_extra_metric_columns)
{
    pre_fixture f;
    REQUIRE(pre_load(&f));
    char dir[512], path[600], line[1024];
    snprintf(dir, sizeof dir, "%s/log", t_tmpdir());
    REQUIRE(mkdir(dir, 0755) == 0);
    CHECK(pre_run(&f, dir, 0, NULL, NULL, 0) == DC_OK, "train: %s", dc_last_error());
    snprintf(path, sizeof path, "%s/log.csv", dir);
    FILE *fp = fopen(path, "r");
    REQUIRE(fp && fgets(line, sizeof line, fp));
    CHECK(!strcmp(line, "step,epoch,loss,acc,val_loss,val_acc,lr,grad_norm,ex_per_s,elapsed_s,"
                        "mlm_acc,nsp_acc,val_mlm_acc,val_nsp_acc,val_mlm_loss,val_nsp_loss\n"),
          "header: %s", line);
    int epoch_rows = 0, step_rows = 0;
    while (fgets(line, sizeof line, fp)) {
        double v[20];
        CHECK(csv_fields(line, v, 20) == 16, "a row of another width: %s", line);
        if (isnan(v[4])) { /* a per-step row: no validation, no extra metrics */
            step_rows++;
            for (int k = 10; k < 16; k++)
                CHECK(isnan(v[k]), "step row with column %d: %s", k, line);
            continue;
        }
        epoch_rows++;
        for (int k = 10; k < 14; k++) /* accuracies */
            CHECK(v[k] >= 0 && v[k] <= 1, "epoch row column %d = %g: %s", k, v[k], line);
        CHECK(v[14] > 0 && v[15] > 0 && fabs(v[14] + v[15] - v[4]) < 1e-4 * v[4],
              "val_loss %g is not val_mlm_loss %g + val_nsp_loss %g", v[4], v[14], v[15]);
    }
    fclose(fp);
    CHECK(epoch_rows == 3 && step_rows == 6, "%d epoch rows and %d step rows", epoch_rows,
          step_rows);
    pre_free(&f);
}

/* Stopped at step 3 (inside epoch 2: pairs, order and masks of a drawn epoch) and resumed,
 * the run ends with the same weights, bit for bit, as one that went straight through. */
TEST(bert_pre_resume_is_exact)
{
    pre_fixture f;
    REQUIRE(pre_load(&f));
    enum { NW = 200000 };
    float *a = calloc(NW, 4), *b = calloc(NW, 4);
    char d1[512], d2[512], ck[600];
    snprintf(d1, sizeof d1, "%s/straight", t_tmpdir());
    snprintf(d2, sizeof d2, "%s/resumed", t_tmpdir());
    snprintf(ck, sizeof ck, "%s/checkpoint", d2);
    REQUIRE(a && b && mkdir(d1, 0755) == 0 && mkdir(d2, 0755) == 0);
    CHECK(pre_run(&f, d1, 0, NULL, a, NW) == DC_OK, "straight: %s", dc_last_error());
    CHECK(pre_run(&f, d2, 3, NULL, NULL, 0) == DC_OK, "first part: %s", dc_last_error());
    CHECK(pre_run(&f, d2, 0, ck, b, NW) == DC_OK, "resumed: %s", dc_last_error());
    CHECK(!memcmp(a, b, NW * 4), "the resumed run ends with other weights");
    free(a);
    free(b);
    pre_free(&f);
}

TEST(bert_pre_docs_split_holds_out_whole_documents)
{
    dc_docs all = {0}, tr = {0}, va = {0}, tr2 = {0}, va2 = {0};
    for (int i = 0; i < 100; i++) {
        char text[16];
        int n = snprintf(text, sizeof text, "doc %d", i);
        REQUIRE(dc_docs_add(&all, text, (size_t)n, i) == DC_OK);
    }
    REQUIRE(dc_docs_split(&all, 0.05, 9, &tr, &va) == DC_OK);
    REQUIRE(dc_docs_split(&all, 0.05, 9, &tr2, &va2) == DC_OK);
    CHECK(tr.n == 95 && va.n == 5, "%lld + %lld", (long long)tr.n, (long long)va.n);
    int seen[100] = {0}, last = -1, same = tr2.n == tr.n;
    for (int64_t i = 0; i < tr.n; i++) { /* training keeps the original order */
        CHECK(tr.label[i] > last, "training documents out of order");
        last = tr.label[i];
        seen[tr.label[i]]++;
        same &= i < tr2.n && tr2.label[i] == tr.label[i];
        CHECK(!strcmp(tr.text[i], all.text[tr.label[i]]), "the text moved away from its label");
    }
    for (int64_t i = 0; i < va.n; i++)
        seen[va.label[i]]++;
    for (int i = 0; i < 100; i++)
        CHECK(seen[i] == 1, "document %d is in %d parts", i, seen[i]);
    CHECK(same, "the same seed gave another split");
    dc_docs_free(&tr2);
    dc_docs_free(&va2);
    REQUIRE(dc_docs_split(&all, 0.05, 10, &tr2, &va2) == DC_OK);
    int differs = 0;
    for (int64_t i = 0; i < va.n; i++)
        differs |= va2.label[i] != va.label[i];
    CHECK(differs, "another seed held out the same documents");
    CHECK(dc_docs_split(&all, 1.0, 9, &tr2, &va2) == DC_ERR_ARG, "a fraction of 1 is refused");
    dc_docs_free(&all);
    dc_docs_free(&tr);
    dc_docs_free(&va);
    dc_docs_free(&tr2);
    dc_docs_free(&va2);
}

TEST(bert_pre_refuses_a_model_without_the_heads_and_a_pad_other_than_0)
{
    dc_bert_corpus c = tiny_corpus(40);
    dc_train_opts o = dc_train_defaults();
    dc_bert_task_opts bo = dc_bert_task_defaults();
    dc_task *t = dc_task_bert(&c, NULL, &bo, &o);
    dc_spec *s = dc_spec_parse_string("[input]\nshape = 2, 9\ndtype = int64\n[embedding e]\n"
                                      "num_embeddings = 40\nembedding_dim = 4\n", "no_heads");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(t && m && ctx);
    dc_tensor *x = dc_zeros(ctx, DC_I64, 3, DC_SHAPE(1, 2, 9));
    dc_tensor *y = dc_zeros(ctx, DC_I64, 2, DC_SHAPE(1, 10));
    double ok;
    CHECK(!t->loss(t, ctx, m, x, y, &ok) && strstr(dc_last_error(), "cls.predictions"),
          "no heads: %s", dc_last_error());
    dc_bert_corpus bad = tiny_corpus(40);
    bad.pad = 1;
    CHECK(!dc_task_bert(&bad, NULL, &bo, &o) && strstr(dc_last_error(), "[PAD]"),
          "pad 1: %s", dc_last_error());
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(s);
    dc_task_free(t);
}

TEST(bert_pre_forward_except_refuses_a_reader_of_the_skipped_layer)
{
    dc_spec *s = dc_spec_parse_file(BERT_REF "/tiny.spec");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(m && ctx);
    dc_tensor **outs = dc_ctx_alloc(ctx, sizeof *outs * (size_t)dc_model_n_modules(m));
    dc_tensor *x = dc_zeros(ctx, DC_I64, 3, DC_SHAPE(1, 2, 9));
    const int pool = dc_model_find_module(m, "bert.pooler");
    const int head = dc_model_find_module(m, "cls.predictions");
    CHECK(!dc_model_forward_except(ctx, m, x, outs, pool) &&
          strstr(dc_last_error(), "cls.seq_relationship"), "%s", dc_last_error());
    CHECK(dc_model_forward_except(ctx, m, x, outs, head) && !outs[head] &&
          outs[dc_model_find_module(m, "cls.seq_relationship")], "%s", dc_last_error());
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(s);
}

/* fill-mask runs the MLM head on the [MASK] positions only: its probabilities are those of
 * the whole model's head at those positions (softmax of cls.predictions), sorted. */
TEST(bert_pre_fill_mask_matches_the_full_head)
{
    pre_fixture f;
    REQUIRE(pre_load(&f));
    dc_rng rng;
    dc_rng_seed(&rng, 11, 0);
    dc_model *m = dc_spec_build(f.spec, &rng);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(m && ctx);
    dc_fill_mask r;
    REQUIRE(dc_bert_fill_mask(m, f.wp, "the [MASK] sat on a [MASK] .", 16, 3, &r) == DC_OK);
    CHECK(r.n_masks == 2 && r.top_k == 3 && r.pos[0] == 2 && r.pos[1] == 6,
          "%lld masks at %lld, %lld", (long long)r.n_masks, (long long)r.pos[0],
          (long long)r.pos[1]);
    /* [CLS] the [MASK] sat [UNK] a [MASK] . [SEP]: "on" is not in the vocabulary */
    const int64_t ids[9] = {2, 32, 4, 36, 1, 5, 4, 31, 3};
    dc_tensor *x = dc_zeros(ctx, DC_I64, 3, DC_SHAPE(1, 2, 9));
    REQUIRE(x);
    memcpy(x->data, ids, sizeof ids);
    dc_ctx_set_grad(ctx, 0);
    dc_ctx_set_training(ctx, 0);
    dc_tensor **outs = dc_ctx_alloc(ctx, sizeof *outs * (size_t)dc_model_n_modules(m));
    REQUIRE(outs && dc_model_forward_all(ctx, m, x, outs));
    dc_tensor *p = dc_softmax(ctx, outs[dc_model_find_module(m, "cls.predictions")], 2);
    REQUIRE(p && p->shape[2] == 40);
    for (int i = 0; i < 2 && r.n_masks == 2; i++) {
        const float *row = dc_f32(p) + r.pos[i] * 40;
        for (int j = 0; j < 3; j++) {
            CHECK_NEAR(r.probs[i * 3 + j], row[r.ids[i * 3 + j]], 1e-6);
            int above = 0; /* the j-th best: exactly j tokens are more likely */
            for (int v = 0; v < 40; v++)
                above += row[v] > r.probs[i * 3 + j];
            CHECK(above == j, "mask %d rank %d: %d tokens more likely", i, j, above);
        }
    }
    dc_fill_mask_free(&r);
    CHECK(dc_bert_fill_mask(m, f.wp, "no mask here", 16, 3, &r) == DC_ERR_ARG &&
          strstr(dc_last_error(), "[MASK]"), "no mask: %s", dc_last_error());
    dc_ctx_free(ctx);
    dc_model_free(m);
    pre_free(&f);
}

/* The probabilities of fill-mask's first 4 token lines in out; 0 if there are fewer. */
static int top_probs(const char *out, double *p)
{
    const char *l = strstr(out, "):\n"); /* the end of "[MASK] 1 (token 2):" */
    for (int i = 0; i < 4; i++) {
        char tok[64];
        if (!l || !(l = strchr(l, '\n')) || sscanf(++l, "%63s %lf", tok, &p[i]) != 2)
            return 0;
    }
    return 1;
}

TEST(bert_pre_fill_mask_command_prints_the_top_k)
{
    pre_fixture f;
    REQUIRE(pre_load(&f));
    char w[512], v[512], out[4096];
    snprintf(w, sizeof w, "%s/w.safetensors", t_tmpdir());
    snprintf(v, sizeof v, "%s/vocab.txt", t_tmpdir());
    dc_rng rng;
    dc_rng_seed(&rng, 11, 0);
    dc_model *m = dc_spec_build(f.spec, &rng);
    REQUIRE(m && dc_model_save(m, w) == DC_OK && dc_wordpiece_save(f.wp, v) == DC_OK);
    int rc = t_run_deepc(out, sizeof out, "fill-mask %s/tiny.spec --weights %s --vocab %s "
                         "--text 'the [MASK] sat' --top-k 4", BERT_REF, w, v);
    CHECK(rc == 0 && strstr(out, "[MASK] 1 (token 2):\n"), "rc %d: %s", rc, out);
    int lines = 0;
    for (const char *p = strchr(out, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
        lines += p[1] == ' ' && p[2] == ' ';
    CHECK(lines == 4, "%d token lines: %s", lines, out);
    /* --bf16: bfloat16 products. Weights 8x larger make the head's logits large enough that
     * bfloat16 rounding shows in the printed probabilities: near float32's, not equal. */
    char w8[512], fp[4096];
    snprintf(w8, sizeof w8, "%s/w8.safetensors", t_tmpdir());
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        for (int64_t j = 0; !dc_model_is_buffer(m, i) && j < t->numel; j++)
            dc_f32(t)[j] *= 8;
    }
    REQUIRE(dc_model_save(m, w8) == DC_OK);
    double pf[4], pb[4];
    rc = t_run_deepc(fp, sizeof fp, "fill-mask %s/tiny.spec --weights %s --vocab %s "
                     "--text 'the [MASK] sat' --top-k 4", BERT_REF, w8, v);
    REQUIRE(rc == 0 && top_probs(fp, pf));
    rc = t_run_deepc(out, sizeof out, "fill-mask %s/tiny.spec --weights %s --vocab %s "
                     "--text 'the [MASK] sat' --top-k 4 --bf16", BERT_REF, w8, v);
    CHECK(rc == 0 && top_probs(out, pb), "--bf16: rc %d %s", rc, out);
    double diff = 0;
    for (int i = 0; i < 4; i++)
        diff = fmax(diff, fabs(pb[i] - pf[i]));
    CHECK(diff > 0 && diff < 0.05, "--bf16 top-4 probabilities against float32: max |diff| %g\n"
          "float32:\n%s\nbf16:\n%s", diff, fp, out);
    rc = t_run_deepc(out, sizeof out, "fill-mask %s/tiny.spec --weights %s --vocab %s "
                     "--text 'the cat sat'", BERT_REF, w, v);
    CHECK(rc == 2 && strstr(out, "no [MASK]"), "rc %d: %s", rc, out);
    dc_model_free(m);
    pre_free(&f);
}

/* deepc plot draws a task's extra columns (metrics_acc.svg for *acc*, metrics.svg for the
 * rest); a log without them (an older run) gets no such files and plots as before. */
TEST(bert_pre_plot_draws_the_extra_metrics)
{
    char dir[512], old[512], path[600], out[2048];
    snprintf(dir, sizeof dir, "%s/plot_new", t_tmpdir());
    snprintf(old, sizeof old, "%s/plot_old", t_tmpdir());
    REQUIRE(mkdir(dir, 0755) == 0 && mkdir(old, 0755) == 0);
    snprintf(path, sizeof path, "%s/log.csv", dir);
    REQUIRE(t_write_text(path,
        "step,epoch,loss,acc,val_loss,val_acc,lr,grad_norm,ex_per_s,elapsed_s,mlm_acc,nsp_acc,"
        "val_mlm_acc,val_nsp_acc,val_mlm_loss,val_nsp_loss\n"
        "10,1,9.5,,,,0.001,2.5,300,10,,,,,,\n"
        "20,1,9.1,,8.9,,0.001,0,300,20,0.05,0.52,0.06,0.55,8.2,0.69\n"
        "30,2,8.1,,,,0.001,2.5,300,30,,,,,,\n"
        "40,2,7.9,,7.7,,0.001,0,300,40,0.11,0.61,0.125,0.63,7.0,0.66\n"));
    snprintf(path, sizeof path, "%s/log.csv", old);
    REQUIRE(t_write_text(path, "step,epoch,loss,acc,val_loss,val_acc,lr,grad_norm,ex_per_s,"
                               "elapsed_s\n1,1,2.3,0.1,2.2,0.12,0.1,0,100,1\n"
                               "2,2,2.1,0.2,2.0,0.22,0.1,0,100,2\n"));
    int rc = t_run_deepc(out, sizeof out, "plot %s", dir);
    CHECK(rc == 0 && strstr(out, "metrics_acc.svg") && strstr(out, "metrics.svg"), "rc %d: %s",
          rc, out);
    snprintf(path, sizeof path, "%s/metrics_acc.svg", dir);
    FILE *f = fopen(path, "r");
    char svg[65536] = "";
    size_t n = f ? fread(svg, 1, sizeof svg - 1, f) : 0;
    svg[n] = 0;
    if (f)
        fclose(f);
    CHECK(strstr(svg, "val_mlm_acc") && strstr(svg, "nsp_acc") && !strstr(svg, "val_mlm_loss"),
          "metrics_acc.svg lacks the accuracy columns");
    /* --out F.png: PNG pictures (960 x 440), the extra charts beside it as F_metrics*.png */
    rc = t_run_deepc(out, sizeof out, "plot %s --out %s/c.png", dir, dir);
    CHECK(rc == 0 && strstr(out, "c_metrics_acc.png") && strstr(out, "c_metrics.png"),
          "rc %d: %s", rc, out);
    snprintf(path, sizeof path, "%s/c_metrics_acc.png", dir);
    unsigned char head[24] = {0};
    f = fopen(path, "rb");
    n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    CHECK(n == 24 && !memcmp(head, "\x89PNG\r\n\x1a\n", 8) && !memcmp(head + 12, "IHDR", 4) &&
          head[18] == 960 / 256 && head[19] == 960 % 256 && head[23] == 440 % 256,
          "%s is not a 960 x 440 PNG", path);
    rc = t_run_deepc(out, sizeof out, "plot %s", old);
    snprintf(path, sizeof path, "%s/metrics_acc.svg", old);
    CHECK(rc == 0 && !strstr(out, "metrics") && fopen(path, "r") == NULL, "old log: rc %d: %s",
          rc, out);
}

/* The command line: a vocabulary from bert: documents, `deepc train --data bert:...` (log.csv
 * with the extra columns, DIR/vocab.txt, the held-out line), then fill-mask on its weights. */
TEST(bert_pre_cli_trains_from_documents_and_fills_masks)
{
    pre_fixture f;
    REQUIRE(pre_load(&f));
    char fort[512], vocab[512], dir[512], out[8192], text[4096] = "";
    snprintf(fort, sizeof fort, "%s/fortunes", t_tmpdir());
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", t_tmpdir());
    snprintf(dir, sizeof dir, "%s/pre", t_tmpdir());
    dc_rng r;
    dc_rng_seed(&r, 3, 0);
    for (int d = 0; d < 16; d++) { /* 16 fortunes of 3 sentences over the fixture's words */
        for (int s = 0; s < 3; s++)
            snprintf(text + strlen(text), sizeof text - strlen(text), "%s %s %s . ",
                     dc_wordpiece_token(f.wp, 5 + dc_rng_below(&r, 26)),
                     dc_wordpiece_token(f.wp, 32 + dc_rng_below(&r, 8)),
                     dc_wordpiece_token(f.wp, 5 + dc_rng_below(&r, 26)));
        strcat(text, "\n%\n");
    }
    REQUIRE(t_write_text(fort, text) && dc_wordpiece_save(f.wp, vocab) == DC_OK);
    int rc = t_run_deepc(out, sizeof out, "tokenize encode --vocab %s --in bert:fortunes=%s "
                         "--ids", vocab, fort);
    CHECK(rc == 0 && !strstr(out, " 1 ") && !strchr(out, '%'), "rc %d: %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train %s/tiny.spec --data bert:fortunes=%s,vocab=%s,"
                     "max_len=9,epoch_pairs=8,val_pairs=4,val_docs=0.25 --batch 4 --epochs 2 "
                     "--optimizer adamw --lr 1e-3 --scheduler linear --warmup 2 --out %s",
                     BERT_REF, fort, vocab, dir);
    CHECK(rc == 0 && strstr(out, "(4 held out)") && strstr(out, "held out: MLM accuracy") &&
          strstr(out, "val_nsp_acc"), "train rc %d: %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "fill-mask %s/tiny.spec --weights %s/model.safetensors "
                     "--vocab %s/vocab.txt --text 'the [MASK]' --top-k 2", BERT_REF, dir, dir);
    CHECK(rc == 0 && strstr(out, "[MASK] 1 (token 2):"), "fill-mask rc %d: %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train %s/tiny.spec --data bert:fortunes=%s,vocab=%s,"
                     "colour=red --lr 0.1 --out %s/bad", BERT_REF, fort, vocab, dir);
    CHECK(rc == 2 && strstr(out, "unknown key 'colour'"), "bad key rc %d: %s", rc, out);
    pre_free(&f);
}

/* A batch is padded to its longest pair, not to max_len: T = the longest example's length, whose
 * last position is its final [SEP]; y is [B, T + 1]. */
TEST(bert_pre_batches_pad_to_the_longest_pair)
{
    pre_fixture f;
    REQUIRE(pre_load(&f));
    dc_train_opts o = dc_train_defaults();
    o.batch_size = 8;
    dc_bert_task_opts bo = dc_bert_task_defaults();
    bo.data.max_len = 64;
    dc_task *t = dc_task_bert(f.train, NULL, &bo, &o);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_rng rng;
    dc_rng_seed(&rng, 1, 0);
    REQUIRE(t && ctx && t->start(t, &rng) == DC_OK && t->epoch_begin(t, NULL, &rng, 0) == DC_OK);
    dc_task_batch b = {0};
    REQUIRE(t->next(t, ctx, 0, &b) == DC_OK && b.x && b.y);
    const int64_t n = b.x->shape[0], T = b.x->shape[2];
    int ends = 0;
    for (int64_t i = 0; i < n; i++)
        ends += dc_i64(b.x)[i * 2 * T + T - 1] == 3; /* [SEP] in the last column */
    CHECK(n == 8 && T >= 5 && T <= 22 && ends >= 1 && b.y->shape[1] == T + 1,
          "x [%lld, 2, %lld], y [%lld, %lld], %d rows end at T", (long long)n, (long long)T,
          (long long)b.y->shape[0], (long long)b.y->shape[1], ends);
    dc_ctx_free(ctx);
    dc_task_free(t);
    pre_free(&f);
}
