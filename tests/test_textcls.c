/*
 * test_textcls.c - text classification (docs/text-classification.md): the folder-per-class and
 * TSV/CSV readers on generated files (quoting, labels, and every refusal naming file:line), the
 * stratified seeded split, [CLS] text [SEP] encoding and the bag of words, the masked mean, F1
 * on hand-made confusion matrices, and through the CLI: training a tiny classifier on a
 * separable toy set, eval, predict, --init-from and a bitwise resume inside an epoch.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void mkdirs(const char *dir, const char *sub)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    mkdir(p, 0755);
}

static int put(const char *dir, const char *name, const char *text)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return t_write_text(p, text);
}

TEST(textcls_dir_reads_class_folders_in_sorted_order)
{
    const char *d = t_tmpdir();
    mkdirs(d, "pos");
    mkdirs(d, "neg");
    mkdirs(d, "pos/deeper");
    REQUIRE(put(d, "pos/b.txt", "second") && put(d, "pos/a.txt", "first\nline two") &&
            put(d, "pos/notes.md", "not a text") && put(d, "pos/.hidden.txt", "hidden") &&
            put(d, "pos/deeper/c.txt", "too deep") && put(d, "neg/e.txt", "") &&
            put(d, "neg/z.txt", "zed"));
    dc_textcls_data td;
    REQUIRE(dc_textcls_load_dir(d, &td) == DC_OK);
    CHECK(td.n_classes == 2 && !strcmp(td.classes[0], "neg") && !strcmp(td.classes[1], "pos"),
          "classes: %d %s", td.n_classes, td.n_classes ? td.classes[0] : "");
    const char *want[] = {"", "zed", "first\nline two", "second"};
    const int label[] = {0, 0, 1, 1};
    CHECK(td.docs.n == 4, "%lld texts, want 4 (.md, dot files and sub-folders left out)",
          (long long)td.docs.n);
    for (int i = 0; i < 4 && i < td.docs.n; i++)
        CHECK(!strcmp(td.docs.text[i], want[i]) && td.docs.label[i] == label[i],
              "text %d: '%s' class %d, want '%s' class %d", i, td.docs.text[i], td.docs.label[i],
              want[i], label[i]);
    dc_textcls_data_free(&td);
}

TEST(textcls_dir_refuses_bad_input_naming_the_file)
{
    char d[600], p[700];
    dc_textcls_data td;
    snprintf(d, sizeof d, "%s/none", t_tmpdir());
    CHECK(dc_textcls_load_dir(d, &td) == DC_ERR_IO && strstr(dc_last_error(), "none"),
          "missing folder: %s", dc_last_error());
    snprintf(d, sizeof d, "%s", t_tmpdir());
    mkdirs(d, "only");
    REQUIRE(put(d, "only/a.txt", "x"));
    CHECK(dc_textcls_load_dir(d, &td) == DC_ERR_FORMAT && strstr(dc_last_error(), "1 class"),
          "one class: %s", dc_last_error());
    mkdirs(d, "empty");
    CHECK(dc_textcls_load_dir(d, &td) == DC_ERR_FORMAT && strstr(dc_last_error(), "empty"),
          "a class without files: %s", dc_last_error());
    REQUIRE(put(d, "empty/a.txt", "y"));
    snprintf(p, sizeof p, "%s/only/nul.txt", d);
    FILE *f = fopen(p, "wb");
    REQUIRE(f);
    fwrite("ok\nbad\0byte", 1, 11, f);
    fclose(f);
    CHECK(dc_textcls_load_dir(d, &td) == DC_ERR_FORMAT && strstr(dc_last_error(), "nul.txt:2"),
          "NUL byte: %s", dc_last_error());
    CHECK(td.docs.n == 0 && td.n_classes == 0, "a failed load leaves data behind");
}

TEST(textcls_csv_quotes_commas_newlines_and_named_labels)
{
    char p[700];
    snprintf(p, sizeof p, "%s/t.csv", t_tmpdir());
    REQUIRE(t_write_text(p, "id,text,label\r\n"
                            "1,\"hello, world\", spam \r\n"
                            "\r\n"
                            "2,\"two\nlines with \"\"quotes\"\"\",ham\n"
                            "3,plain,spam"));
    dc_textcls_table_opts o = dc_textcls_table_defaults(',');
    dc_textcls_data td;
    REQUIRE(dc_textcls_load_table(p, &o, &td) == DC_OK);
    CHECK(td.n_classes == 2 && !strcmp(td.classes[0], "ham") && !strcmp(td.classes[1], "spam"),
          "classes sorted by name");
    const char *want[] = {"hello, world", "two\nlines with \"quotes\"", "plain"};
    const int label[] = {1, 0, 1};
    CHECK(td.docs.n == 3, "%lld records, want 3", (long long)td.docs.n);
    for (int i = 0; i < 3 && i < td.docs.n; i++)
        CHECK(!strcmp(td.docs.text[i], want[i]) && td.docs.label[i] == label[i],
              "record %d: '%s' class %d", i, td.docs.text[i], td.docs.label[i]);
    dc_textcls_data_free(&td);
}

TEST(textcls_tsv_integer_labels_and_column_indices)
{
    char p[700];
    snprintf(p, sizeof p, "%s/t.tsv", t_tmpdir());
    REQUIRE(t_write_text(p, "2\tthird class\n0\tzero\n2\tagain\n"));
    dc_textcls_table_opts o = dc_textcls_table_defaults('\t');
    o.header = 0;
    o.text_col = "1";
    o.label_col = "0";
    dc_textcls_data td;
    REQUIRE(dc_textcls_load_table(p, &o, &td) == DC_OK);
    CHECK(td.n_classes == 3 && !strcmp(td.classes[2], "2"), "integer labels: %d classes",
          td.n_classes);
    CHECK(td.docs.n == 3 && td.docs.label[0] == 2 && td.docs.label[1] == 0 &&
              !strcmp(td.docs.text[0], "third class"), "records as written");
    dc_textcls_data_free(&td);
}

/* The table `text` must be refused with a message holding `want`. */
static void refused(const char *text, const char *text_col, int header, const char *want)
{
    char p[700];
    snprintf(p, sizeof p, "%s/bad.csv", t_tmpdir());
    if (!t_write_text(p, text)) {
        CHECK(0, "cannot write %s", p);
        return;
    }
    dc_textcls_table_opts o = dc_textcls_table_defaults(',');
    o.text_col = text_col;
    o.label_col = header ? "label" : "1";
    o.header = header;
    dc_textcls_data td;
    dc_status st = dc_textcls_load_table(p, &o, &td);
    CHECK(st == DC_ERR_FORMAT && strstr(dc_last_error(), want) && td.docs.n == 0,
          "'%s' gave %d '%s', want an error with '%s'", text, (int)st, dc_last_error(), want);
}

TEST(textcls_table_refuses_bad_input_naming_file_and_line)
{
    refused("text,label\na,1\n\"open,1\nb,0\n", "text", 1, "bad.csv:3: a quoted field is not "
            "closed");
    refused("text,label\na,1\nb,0,extra\n", "text", 1, "bad.csv:3: 3 fields");
    refused("text,label\na,1\nb,  \n", "text", 1, "bad.csv:3: the label is empty");
    refused("text,label\na,1\n\"b\"x,0\n", "text", 1, "bad.csv:3: 'x' after the closing quote");
    refused("body,label\na,1\n", "text", 1, "no column named 'text'");
    refused("body,label\na,1\n", "5", 1, "column 5 is out of range");
    refused("a,1\nb,1\n", "0", 0, "at least 2 classes");
    refused("text,label\n", "text", 1, "no records after the header");
    refused("a,1\n", "text", 0, "must be an index");
}

TEST(textcls_scores_of_hand_made_confusions)
{
    /* binary: tp 35, fp 10, fn 5 -> P 7/9, R 7/8, F1 2PR/(P+R) = 14/17 */
    const int64_t b[4] = {50, 10, 5, 35};
    dc_cls_scores s;
    REQUIRE(dc_cls_scores_of(b, 2, 1, &s) == DC_OK);
    CHECK_NEAR(s.accuracy, 0.85, 1e-12);
    CHECK_NEAR(s.precision, 7.0 / 9.0, 1e-12);
    CHECK_NEAR(s.recall, 7.0 / 8.0, 1e-12);
    CHECK_NEAR(s.f1, 14.0 / 17.0, 1e-12);
    /* 3 classes, class 2 never predicted (its F1 counts 0): F1 per class 0.8, 2/3, 0 */
    const int64_t m[9] = {4, 1, 0, 1, 2, 0, 1, 1, 0};
    REQUIRE(dc_cls_scores_of(m, 3, -1, &s) == DC_OK);
    /* class 0: P 4/6, R 4/5 -> 8/11; class 1: P 2/4, R 2/3 -> 4/7; class 2: 0 */
    CHECK_NEAR(s.f1, (8.0 / 11.0 + 4.0 / 7.0) / 3.0, 1e-12);
    CHECK_NEAR(s.accuracy, 6.0 / 10.0, 1e-12);
    CHECK(dc_cls_scores_of(b, 2, 2, &s) == DC_ERR_ARG, "positive out of range accepted");
    const int64_t z[4] = {0, 0, 0, 0};
    CHECK(dc_cls_scores_of(z, 2, 1, &s) == DC_ERR_ARG, "an empty confusion accepted");
}

/* scikit-learn's macro average runs over the labels of y_true and y_pred: a class that is
 * neither (numeric labels with a gap, a rare class missing from a small validation part) is not
 * averaged in as an F1 of 0. f1_score([0,0,0,1,1,1], [0,0,1,1,1,1], average='macro') = 0.8286. */
TEST(textcls_macro_scores_leave_out_a_class_that_never_occurs)
{
    const int64_t m[9] = {2, 1, 0, 0, 3, 0, 0, 0, 0};
    dc_cls_scores s;
    REQUIRE(dc_cls_scores_of(m, 3, -1, &s) == DC_OK);
    /* class 0: P 1, R 2/3 -> 0.8; class 1: P 3/4, R 1 -> 6/7; class 2: absent */
    CHECK_NEAR(s.f1, (0.8 + 6.0 / 7.0) / 2.0, 1e-12);
    CHECK_NEAR(s.precision, (1.0 + 0.75) / 2.0, 1e-12);
    CHECK_NEAR(s.recall, (2.0 / 3.0 + 1.0) / 2.0, 1e-12);
    CHECK_NEAR(s.accuracy, 5.0 / 6.0, 1e-12);
}

TEST(textcls_split_is_stratified_seeded_and_complete)
{
    dc_textcls_data td = {.n_classes = 2};
    for (int i = 0; i < 150; i++)
        REQUIRE(dc_docs_add(&td.docs, "x", 1, i % 3 == 0 ? 1 : 0) == DC_OK);
    dc_textcls_split a, b, c;
    REQUIRE(dc_textcls_split_make(&td, 0.1, 0.2, 7, &a) == DC_OK);
    REQUIRE(dc_textcls_split_make(&td, 0.1, 0.2, 7, &b) == DC_OK);
    REQUIRE(dc_textcls_split_make(&td, 0.1, 0.2, 8, &c) == DC_OK);
    int count[3][2] = {{0}}, seen[150] = {0}, same = 1, other = 0;
    for (int p = 0; p < 3; p++)
        for (int64_t i = 0; i < a.n[p]; i++) {
            count[p][td.docs.label[a.idx[p][i]]]++;
            seen[a.idx[p][i]]++;
            same &= a.n[p] == b.n[p] && a.idx[p][i] == b.idx[p][i];
            other |= i < c.n[p] && a.idx[p][i] != c.idx[p][i];
        }
    CHECK(count[0][0] == 70 && count[0][1] == 35 && count[1][0] == 10 && count[1][1] == 5 &&
              count[2][0] == 20 && count[2][1] == 10,
          "per class: train %d/%d val %d/%d test %d/%d", count[0][0], count[0][1], count[1][0],
          count[1][1], count[2][0], count[2][1]);
    int once = 1;
    for (int i = 0; i < 150; i++)
        once &= seen[i] == 1;
    CHECK(once, "an example is in no part or in two");
    CHECK(same && other, "the same seed must give the same split (%d), another seed another (%d)",
          same, other);
    dc_textcls_split_free(&c); /* a refused call zeroes *out: free what c held first */
    CHECK(dc_textcls_split_make(&td, 0.5, 0.5, 7, &c) == DC_ERR_ARG, "val + test = 1 accepted");
    dc_textcls_split_free(&a);
    dc_textcls_split_free(&b);
    dc_textcls_split_free(&c);
    dc_docs_free(&td.docs);
}

static const char *const TOY_VOCAB[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the",
                                        "movie", "was", "great", "lovely", "fine", "awful",
                                        "terrible", "boring", "and", "very"};
#define TOY_V (int64_t)(sizeof TOY_VOCAB / sizeof *TOY_VOCAB)

TEST(textcls_encode_pads_truncates_and_makes_a_bag_of_words)
{
    dc_wordpiece *wp = dc_wordpiece_new(TOY_VOCAB, TOY_V, NULL);
    REQUIRE(wp);
    int64_t ids[8], n = 0;
    REQUIRE(dc_textcls_encode(wp, "The movie, the", 14, 8, ids, &n) == DC_OK);
    const int64_t want[8] = {2, 5, 6, 1, 5, 3, 0, 0}; /* ',' is not in the vocabulary: [UNK] */
    int ok = n == 6;
    for (int i = 0; i < 8; i++)
        ok &= ids[i] == want[i];
    CHECK(ok, "encode: %lld %lld %lld %lld %lld %lld %lld %lld (n %lld)", (long long)ids[0],
          (long long)ids[1], (long long)ids[2], (long long)ids[3], (long long)ids[4],
          (long long)ids[5], (long long)ids[6], (long long)ids[7], (long long)n);
    REQUIRE(dc_textcls_encode(wp, "the movie was great", 19, 4, ids, &n) == DC_OK);
    CHECK(ids[0] == 2 && ids[1] == 5 && ids[2] == 6 && ids[3] == 3 && n == 4, "truncation");
    float x[TOY_V];
    const int64_t bag[6] = {2, 5, 6, 5, 3, 0};
    REQUIRE(dc_textcls_bow(bag, 6, TOY_V, 0, 2, 3, x) == DC_OK);
    const double a = 1 + log(2.0), norm = sqrt(a * a + 1);
    CHECK_NEAR(x[5], a / norm, 1e-6);
    CHECK_NEAR(x[6], 1 / norm, 1e-6);
    CHECK(x[0] == 0 && x[2] == 0 && x[3] == 0 && x[7] == 0, "specials and absent words are 0");
    int64_t shape[2] = {2, 32}, L = 0;
    dc_textcls_form f;
    CHECK(dc_textcls_form_of(DC_I64, 2, shape, TOY_V, &f, &L) == DC_OK &&
              f == DC_TEXTCLS_IDS_SEG && L == 32, "int64 [2, 32]");
    shape[0] = TOY_V;
    CHECK(dc_textcls_form_of(DC_F32, 1, shape, TOY_V, &f, &L) == DC_OK && f == DC_TEXTCLS_BOW,
          "float32 [V]");
    shape[0] = 7;
    CHECK(dc_textcls_form_of(DC_F32, 1, shape, TOY_V, &f, &L) == DC_ERR_SHAPE,
          "float32 [7] with V %lld accepted", (long long)TOY_V);
    dc_wordpiece_free(wp);
}

TEST(textcls_masked_mean_averages_real_steps_only)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_model *m = dc_model_new();
    dc_module *mm = dc_masked_mean_new(m, "pool", 0);
    REQUIRE(ctx && mm);
    dc_tensor *h = dc_tensor_new(DC_F32, 3, DC_SHAPE(2, 3, 2));
    dc_tensor *ids = dc_empty(ctx, DC_I64, 2, DC_SHAPE(2, 3));
    REQUIRE(h && ids);
    for (int i = 0; i < 12; i++)
        dc_f32(h)[i] = (float)(i + 1);
    const int64_t id[6] = {7, 9, 0, 0, 0, 0}; /* row 1 is all padding */
    memcpy(dc_i64(ids), id, sizeof id);
    REQUIRE(dc_tensor_requires_grad(h) == DC_OK);
    dc_tensor *xs[2] = {h, ids};
    dc_tensor *y = mm->forward_n(ctx, mm, xs, 2);
    REQUIRE(y);
    const float want[4] = {2, 3, 0, 0}; /* mean of (1,2), (3,4); zeros */
    CHECK_ALLCLOSE("masked mean", dc_f32(y), want, 4, 0, 1e-6);
    REQUIRE(dc_backward(ctx, dc_sum(ctx, y, DC_ALL_AXES, 0)) == DC_OK);
    const float dh[12] = {0.5f, 0.5f, 0.5f, 0.5f, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_ALLCLOSE("d masked mean / dh", h->grad, dh, 12, 0, 1e-6);
    mm->destroy ? mm->destroy(mm) : (void)0;
    free(mm);
    dc_tensor_free(h);
    dc_model_free(m);
    dc_ctx_free(ctx);
}

/* A separable toy set as a folder per class: "good" and "bad" reviews of 2 to 6 words, each
 * with one or more words of its class among shared ones; and the toy vocab.txt. */
static void write_toy(const char *dir)
{
    static const char *const good[] = {"great", "lovely", "fine"}, *const bad[] = {"awful",
                                                                                   "terrible",
                                                                                   "boring"};
    static const char *const shared[] = {"the", "movie", "was", "and", "very"};
    char p[700], text[256];
    mkdirs(dir, "toy");
    mkdirs(dir, "toy/good");
    mkdirs(dir, "toy/bad");
    dc_rng r;
    dc_rng_seed(&r, 3, 0);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 30; i++) {
            int n = 0, len = 2 + (int)dc_rng_below(&r, 5);
            for (int w = 0; w < len; w++) {
                const char *word = w == 0 || dc_rng_below(&r, 3) == 0
                                       ? (c ? good : bad)[dc_rng_below(&r, 3)]
                                       : shared[dc_rng_below(&r, 5)];
                n += snprintf(text + n, sizeof text - (size_t)n, "%s%s", w ? " " : "", word);
            }
            snprintf(p, sizeof p, "%s/toy/%s/%02d.txt", dir, c ? "good" : "bad", i);
            t_write_text(p, text);
        }
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    FILE *f = fopen(p, "w");
    for (int64_t i = 0; f && i < TOY_V; i++)
        fprintf(f, "%s\n", TOY_VOCAB[i]);
    if (f)
        fclose(f);
}

#define TOY_GRU "[input]\nshape = 8\ndtype = int64\n[embedding embed]\nnum_embeddings = $vocab\n" \
                "embedding_dim = 8\npadding_idx = 0\n[gru gru]\nhidden_size = 8\n"          \
                "[masked_mean pool]\ninput = gru, input\n[dropout]\np = 0.2\n[linear out]\n" \
                "out_features = $labels\n"

TEST(textcls_cli_trains_a_toy_classifier_then_eval_and_predict)
{
    const char *d = t_tmpdir();
    char out[8192], args[2048];
    write_toy(d);
    snprintf(args, sizeof args, "models/spam_bow --data textdir:%s/toy,val=0.2,test=0.2 --vocab "
             "%s/vocab.txt --epochs 40 --optimizer adam --lr 0.1 --batch 8 --threads 1", d, d);
    int rc = t_run_deepc(out, sizeof out, "train %s --out %s/bow", args, d);
    CHECK(rc == 0 && strstr(out, "test: loss") && strstr(out, "accuracy 1.0000 (12/12)") &&
              strstr(out, "F1 1.0000 (good;") && strstr(out, "val_acc") &&
              strstr(out, "val_f1 1.0000"),
          "train the bag of words on a separable set: rc %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "eval %s/bow/model.spec --weights %s/bow/model.safetensors "
                     "--data textdir:%s/toy,val=0.2,test=0.2 --vocab %s/vocab.txt --part val",
                     d, d, d, d);
    CHECK(rc == 0 && strstr(out, "val: loss") && strstr(out, "(12/12)  F1 1.0000") &&
              strstr(out, "good"), "eval: rc %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "predict %s/bow/model.spec --weights %s/bow/model.safetensors"
                     " --text 'What a lovely, great movie'", d, d);
    float pg = 0, pb = 0;
    CHECK(rc == 0 && sscanf(out, "good %f\nbad %f", &pg, &pb) == 2 && pg > 0.9f &&
              fabsf(pg + pb - 1) < 1e-4f, "predict (most likely first, summing to 1): rc %d\n%s",
          rc, out);
    rc = t_run_deepc(out, sizeof out, "predict %s/bow/model.spec --weights %s/bow/model.safetensors"
                     " --text 'terrible and boring'", d, d);
    CHECK(rc == 0 && !strncmp(out, "bad ", 4), "predict the other class: rc %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train %s --data tsv:%s/none.tsv --out %s/x", args, d, d);
    CHECK(rc == 2 && strstr(out, "none.tsv"), "a missing table: rc %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train models/spam_bow --data textdir:%s/toy --epochs 1 "
                     "--lr 0.1", d);
    CHECK(rc == 2 && strstr(out, "--vocab"), "no vocabulary: rc %d\n%s", rc, out);
}

TEST(textcls_cli_gru_resumes_bitwise_inside_an_epoch)
{
    const char *d = t_tmpdir();
    char out[8192], spec[700], args[2048], a[700], b[700];
    write_toy(d);
    snprintf(spec, sizeof spec, "%s/gru.spec", d);
    REQUIRE(t_write_text(spec, TOY_GRU));
    snprintf(args, sizeof args, "%s --data textdir:%s/toy,val=0.2,test=0.2 --vocab %s/vocab.txt "
             "--epochs 3 --optimizer adam --lr 0.01 --batch 8 --threads 1 --quiet", spec, d, d);
    int rc = t_run_deepc(out, sizeof out, "train %s --out %s/ref", args, d);
    REQUIRE(rc == 0);
    rc = t_run_deepc(out, sizeof out, "train %s --steps 7 --out %s/cut", args, d);
    REQUIRE(rc == 0);
    dc_checkpoint_info info;
    snprintf(a, sizeof a, "%s/cut/checkpoint", d);
    REQUIRE(dc_checkpoint_peek(a, &info) == DC_OK);
    CHECK(info.pos > 0 && info.epoch == 1, "the cut run should stop inside epoch 2 (pos %lld, "
          "epoch %lld)", (long long)info.pos, (long long)info.epoch);
    dc_checkpoint_info_free(&info);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/cut --steps 0", d);
    CHECK(rc == 0, "resume: rc %d\n%s", rc, out);
    snprintf(a, sizeof a, "%s/ref/model.safetensors", d);
    snprintf(b, sizeof b, "%s/cut/model.safetensors", d);
    CHECK(t_same_file(a, b), "a run cut inside an epoch and resumed ends with other weights than "
          "a straight run");
}

TEST(textcls_init_from_loads_what_fits_and_says_so)
{
    const char *d = t_tmpdir();
    char spec[700], w[700], out[8192];
    write_toy(d);
    snprintf(spec, sizeof spec, "%s/gru.spec", d);
    REQUIRE(t_write_text(spec, TOY_GRU));
    dc_spec *s = dc_spec_parse_file(spec);
    REQUIRE(s && dc_spec_define(s, "vocab", "16") >= 0 && dc_spec_define(s, "labels", "3") >= 0);
    dc_rng rng;
    dc_rng_seed(&rng, 1, 0);
    dc_model *src = dc_spec_build(s, &rng);
    REQUIRE(src);
    snprintf(w, sizeof w, "%s/src.safetensors", d);
    REQUIRE(dc_model_save(src, w) == DC_OK);
    dc_spec_free(s);
    /* the same encoder, 2 classes: embed and gru load, out (3 vs 2 classes) is refused */
    s = dc_spec_parse_file(spec);
    REQUIRE(s && dc_spec_define(s, "vocab", "16") >= 0 && dc_spec_define(s, "labels", "2") >= 0);
    dc_model *m = dc_spec_build(s, &rng);
    REQUIRE(m);
    char *rep = NULL;
    CHECK(dc_model_init_from(m, w, &rep) == DC_ERR_SHAPE && strstr(dc_last_error(), "out.weight"),
          "a classifier of another size must be refused by name: %s", dc_last_error());
    dc_model_free(m);
    dc_spec_free(s);
    /* a model with the encoder only, plus a layer the file lacks */
    const char *enc = "[input]\nshape = 8\ndtype = int64\n[embedding embed]\nnum_embeddings = 16"
                      "\nembedding_dim = 8\n[gru gru]\nhidden_size = 8\n[masked_mean pool]\n"
                      "input = gru, input\n[linear head]\nout_features = 2\n";
    s = dc_spec_parse_string(enc, "enc");
    REQUIRE(s && (m = dc_spec_build(s, &rng)));
    REQUIRE(dc_model_init_from(m, w, &rep) == DC_OK && rep);
    CHECK(strstr(rep, "loaded 5 tensors: embed (1), gru (4)") &&
              strstr(rep, "initialised (not in the file) 2 tensors: head (2)") &&
              strstr(rep, "not used from the file 2 tensors: out (2)"), "report:\n%s", rep);
    CHECK(!memcmp(dc_f32(dc_model_tensor(m, 0)), dc_f32(dc_model_tensor(src, 0)), 16 * 8 * 4),
          "the embedding was not loaded");
    free(rep);
    dc_model_free(m);
    dc_spec_free(s);
    s = dc_spec_parse_string("[input]\nshape = 4\n[linear other]\nout_features = 2\n", "other");
    REQUIRE(s && (m = dc_spec_build(s, &rng)));
    CHECK(dc_model_init_from(m, w, &rep) == DC_ERR_FORMAT && strstr(dc_last_error(), "none"),
          "a file with none of the model's tensors: %s", dc_last_error());
    dc_model_free(m);
    dc_spec_free(s);
    dc_model_free(src);
    int rc = t_run_deepc(out, sizeof out, "train %s --data textdir:%s/toy --vocab %s/vocab.txt "
                         "--epochs 1 --lr 0.1 --init-from %s --threads 1", spec, d, d, w);
    CHECK(rc == 2 && strstr(out, "--init-from") && strstr(out, "out.weight"),
          "train --init-from with a 3-class head on 2 classes: rc %d\n%s", rc, out);
}
