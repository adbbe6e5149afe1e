/*
 * test_wordpiece_bert.c - BERT pre-training data: the documents' loaders (fortunes, spam-assassin
 * e-mails) on small generated files, sentence splitting, [CLS] A [SEP] B [SEP] encoding and
 * truncation, NSP pair balance, MLM masking statistics (15%, then 80/10/10), no masking of special
 * tokens, padding and attention masks, determinism for a seed and fresh masks every epoch; and
 * the `deepc tokenize` commands.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const vocab[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat",
                                    "sat", ".", "a", "dog", "ran", "!", "it", "was", "big", "?"};
#define N_VOCAB ((int64_t)(sizeof vocab / sizeof *vocab))

TEST(bert_encode_pair_truncates_the_longer_side_first)
{
    const int64_t a[] = {10, 11, 12, 13, 14}, b[] = {20, 21, 22};
    int64_t ids[16], seg[16], len = 0;
    /* max 8: 5 left for A and B (5 + 3): A to 4, A to 3, then equal -> B to 2 */
    REQUIRE(dc_bert_encode_pair(a, 5, b, 3, 2, 3, 8, ids, seg, &len) == DC_OK);
    const int64_t want_ids[] = {2, 10, 11, 12, 3, 20, 21, 3}, want_seg[] = {0, 0, 0, 0, 0, 1, 1, 1};
    CHECK(len == 8, "len %lld, expected 8", (long long)len);
    for (int i = 0; i < 8 && i < len; i++)
        CHECK(ids[i] == want_ids[i] && seg[i] == want_seg[i], "position %d: id %lld seg %lld, "
              "expected %lld %lld", i, (long long)ids[i], (long long)seg[i],
              (long long)want_ids[i], (long long)want_seg[i]);
    REQUIRE(dc_bert_encode_pair(a, 2, NULL, 0, 2, 3, 16, ids, seg, &len) == DC_OK);
    CHECK(len == 4 && ids[0] == 2 && ids[3] == 3 && seg[3] == 0, "single: len %lld",
          (long long)len);
    CHECK(dc_bert_encode_pair(a, 5, b, 3, 2, 3, 2, ids, seg, &len) == DC_ERR_ARG,
          "max_len 2 for a pair must be refused");
}

/* n_docs documents of 2 to 5 sentences over the small vocabulary. */
static dc_bert_corpus *make_corpus(dc_wordpiece *wp, int n_docs)
{
    static const char *const sents[] = {"The cat sat. ", "A dog ran! ", "It was big? ",
                                        "The dog sat. ", "A cat ran. "};
    dc_docs d = {0};
    char text[256];
    for (int i = 0; i < n_docs; i++) {
        text[0] = '\0';
        for (int s = 0; s < 2 + i % 4; s++)
            strcat(text, sents[(i + s) % 5]);
        if (dc_docs_add(&d, text, strlen(text), -1) != DC_OK)
            break;
    }
    dc_bert_corpus *c = dc_bert_corpus_new(wp, &d);
    dc_docs_free(&d);
    return c;
}

TEST(bert_corpus_splits_sentences)
{
    dc_wordpiece *wp = dc_wordpiece_new(vocab, N_VOCAB, NULL);
    REQUIRE(wp);
    dc_docs d = {0};
    const char *doc0 = "The cat sat. A dog ran!\n\n it was big \n  \nThe \"dog.\" sat? x";
    REQUIRE(dc_docs_add(&d, doc0, strlen(doc0), -1) == DC_OK);
    REQUIRE(dc_docs_add(&d, " \n ", 3, -1) == DC_OK); /* no tokens: left out */
    REQUIRE(dc_docs_add(&d, "the cat", 7, -1) == DC_OK);
    dc_bert_corpus *c = dc_bert_corpus_new(wp, &d);
    REQUIRE(c);
    /* doc 0: "The cat sat." | "A dog ran!" | "it was big" | "The "dog."" | "sat?" | "x" */
    CHECK(c->n_docs == 2 && c->n_sents == 7, "%lld documents, %lld sentences (expected 2, 7)",
          (long long)c->n_docs, (long long)c->n_sents);
    const int64_t want_len[] = {4, 4, 3, 5, 2, 1, 2};
    for (int s = 0; s < 7 && s < c->n_sents; s++)
        CHECK(c->sent_tok[s + 1] - c->sent_tok[s] == want_len[s], "sentence %d: %lld tokens, "
              "expected %lld", s, (long long)(c->sent_tok[s + 1] - c->sent_tok[s]),
              (long long)want_len[s]);
    CHECK(c->doc_sent[1] == 6 && c->doc_sent[2] == 7, "document starts %lld %lld",
          (long long)c->doc_sent[1], (long long)c->doc_sent[2]);
    CHECK(c->ids[0] == 5 && c->ids[1] == 6 && c->ids[3] == 8, "first ids %lld %lld %lld",
          (long long)c->ids[0], (long long)c->ids[1], (long long)c->ids[3]);
    dc_bert_corpus_free(c);
    dc_docs_free(&d);
    dc_wordpiece_free(wp);
}

TEST(bert_nsp_pairs_are_balanced_and_random_ones_cross_documents)
{
    dc_wordpiece *wp = dc_wordpiece_new(vocab, N_VOCAB, NULL);
    REQUIRE(wp);
    dc_bert_corpus *c = make_corpus(wp, 400);
    REQUIRE(c);
    dc_bert_opts o = dc_bert_defaults();
    dc_rng rng;
    dc_rng_seed(&rng, 7, 0);
    dc_bert_pairs p;
    REQUIRE(dc_bert_pairs_draw(c, &o, &rng, &p) == DC_OK);
    CHECK(p.n == c->n_sents - c->n_docs, "%lld pairs for %lld sentences in %lld documents",
          (long long)p.n, (long long)c->n_sents, (long long)c->n_docs);
    int64_t n_rand = 0, bad = 0;
    for (int64_t i = 0; i < p.n; i++) {
        int64_t da = 0, db = 0;
        while (c->doc_sent[da + 1] <= p.a[i])
            da++;
        while (c->doc_sent[db + 1] <= p.b[i])
            db++;
        n_rand += p.is_random[i];
        bad += p.is_random[i] ? da == db : p.b[i] != p.a[i] + 1;
    }
    double frac = (double)n_rand / (double)p.n; /* n = 1100: 3 sigma = 0.045 */
    CHECK(fabs(frac - 0.5) < 0.045, "random share %.3f, expected 0.5", frac);
    CHECK(bad == 0, "%lld pairs with a B from the wrong document", (long long)bad);
    dc_bert_pairs_free(&p);
    dc_bert_corpus_free(c);
    dc_wordpiece_free(wp);
}

TEST(bert_mlm_masking_statistics)
{
    /* a corpus stand-in: vocabulary of 30000 ids, so a random replacement rarely equals the
     * original; 400 000 tokens: 15% chosen within 0.3%, the 80/10/10 split within 1% */
    dc_bert_corpus c = {0};
    c.vocab = 30000;
    c.pad = 0;
    c.cls = 101;
    c.sep = 102;
    c.mask = 103;
    dc_bert_opts o = dc_bert_defaults();
    const int64_t n = 400000;
    int64_t *ids = malloc(n * sizeof *ids), *orig = malloc(n * sizeof *orig);
    int64_t *lab = malloc(n * sizeof *lab);
    REQUIRE(ids && orig && lab);
    for (int64_t i = 0; i < n; i++)
        orig[i] = ids[i] = i % 100 == 0 ? 101 : i % 100 == 50 ? 102 : i % 100 > 90 ? 0
                                                                     : 1000 + i % 7000;
    dc_rng rng;
    dc_rng_seed(&rng, 1, 0);
    dc_bert_mask(&c, &o, &rng, ids, lab, n);
    int64_t maskable = 0, chosen = 0, to_mask = 0, to_other = 0, kept = 0, special_hit = 0;
    for (int64_t i = 0; i < n; i++) {
        bool special = orig[i] == 0 || orig[i] == 101 || orig[i] == 102;
        if (special) {
            special_hit += lab[i] != -100 || ids[i] != orig[i];
            continue;
        }
        maskable++;
        if (lab[i] == -100) {
            special_hit += ids[i] != orig[i]; /* not chosen: must be untouched */
            continue;
        }
        chosen++;
        CHECK(lab[i] == orig[i], "label %lld at %lld, expected the original %lld",
              (long long)lab[i], (long long)i, (long long)orig[i]);
        to_mask += ids[i] == 103;
        kept += ids[i] == orig[i];
        to_other += ids[i] != 103 && ids[i] != orig[i];
    }
    double pc = (double)chosen / (double)maskable;
    CHECK(fabs(pc - 0.15) < 0.003, "chosen %.4f of the maskable tokens, expected 0.15", pc);
    CHECK(fabs((double)to_mask / chosen - 0.8) < 0.01, "[MASK] share %.4f, expected 0.8",
          (double)to_mask / chosen);
    CHECK(fabs((double)to_other / chosen - 0.1) < 0.01, "random share %.4f, expected 0.1",
          (double)to_other / chosen);
    CHECK(fabs((double)kept / chosen - 0.1) < 0.01, "kept share %.4f, expected 0.1",
          (double)kept / chosen);
    CHECK(special_hit == 0, "%lld special or unchosen positions changed", (long long)special_hit);
    free(ids);
    free(orig);
    free(lab);
}

/* The batch of pairs 0..B-1 as five int64 arrays copied into one buffer (for comparisons). */
static int64_t batch_sum(const dc_bert_batch *b, int64_t B, int64_t L, int64_t *copy)
{
    int64_t k = 0;
    const dc_tensor *t[4] = {b->input_ids, b->token_type_ids, b->attention_mask, b->labels};
    for (int j = 0; j < 4; j++)
        for (int64_t i = 0; i < B * L; i++)
            copy[k++] = dc_i64(t[j])[i];
    for (int64_t i = 0; i < B; i++)
        copy[k++] = dc_i64(b->next_sentence_label)[i];
    return k;
}

TEST(bert_batches_pad_mask_and_redraw_every_epoch)
{
    dc_wordpiece *wp = dc_wordpiece_new(vocab, N_VOCAB, NULL);
    REQUIRE(wp);
    dc_bert_corpus *c = make_corpus(wp, 40);
    REQUIRE(c);
    dc_bert_opts o = dc_bert_defaults();
    o.max_len = 16;
    o.mlm_prob = 0.5f; /* more masks in a small batch */
    dc_rng r1, r2;
    dc_rng_seed(&r1, 3, 0);
    dc_rng_seed(&r2, 3, 0);
    dc_bert_pairs p1, p2;
    REQUIRE(dc_bert_pairs_draw(c, &o, &r1, &p1) == DC_OK);
    REQUIRE(dc_bert_pairs_draw(c, &o, &r2, &p2) == DC_OK);
    int64_t idx[8] = {0, 1, 2, 3, 4, 5, 6, 7}, B = 8, L = 16;
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_bert_batch a, b, e2;
    REQUIRE(dc_bert_batch_make(ctx, c, &p1, idx, B, &o, &r1, &a) == DC_OK);
    REQUIRE(dc_bert_batch_make(ctx, c, &p2, idx, B, &o, &r2, &b) == DC_OK);
    REQUIRE(dc_bert_batch_make(ctx, c, &p1, idx, B, &o, &r1, &e2) == DC_OK); /* next epoch */
    int64_t ca[5 * 8 * 16], cb[5 * 8 * 16], ce[5 * 8 * 16];
    int64_t n = batch_sum(&a, B, L, ca);
    batch_sum(&b, B, L, cb);
    batch_sum(&e2, B, L, ce);
    CHECK(memcmp(ca, cb, (size_t)n * sizeof *ca) == 0, "the same seed gave different batches");
    CHECK(memcmp(ca, ce, (size_t)n * sizeof *ca) != 0, "the next epoch masked the same way");
    CHECK(a.input_ids->shape[0] == 8 && a.input_ids->shape[1] == 16 &&
              a.next_sentence_label->shape[0] == 8, "shapes");
    for (int64_t i = 0; i < B; i++) {
        const int64_t *ids = dc_i64(a.input_ids) + i * L, *att = dc_i64(a.attention_mask) + i * L;
        const int64_t *lab = dc_i64(a.labels) + i * L, *seg = dc_i64(a.token_type_ids) + i * L;
        int64_t len = 0, seps = 0;
        while (len < L && att[len])
            len++;
        CHECK(ids[0] == 2, "row %lld starts with %lld, not [CLS]", (long long)i, (long long)ids[0]);
        CHECK(ids[len - 1] == 3 && seg[len - 1] == 1, "row %lld ends with %lld (segment %lld)",
              (long long)i, (long long)ids[len - 1], (long long)seg[len - 1]);
        for (int64_t j = 0; j < L; j++) {
            seps += j < len && ids[j] == 3;
            CHECK(j < len || (ids[j] == 0 && att[j] == 0 && lab[j] == -100 && seg[j] == 0),
                  "row %lld position %lld: padding not clean", (long long)i, (long long)j);
            CHECK((ids[j] != 2 && ids[j] != 3) || lab[j] == -100,
                  "row %lld position %lld: a special token has a label", (long long)i,
                  (long long)j);
        }
        CHECK(seps == 2, "row %lld has %lld [SEP]", (long long)i, (long long)seps);
        CHECK(dc_i64(a.next_sentence_label)[i] == p1.is_random[i], "NSP label of row %lld",
              (long long)i);
    }
    int64_t bad_idx[1] = {p1.n};
    CHECK(dc_bert_batch_make(ctx, c, &p1, bad_idx, 1, &o, &r1, &a) == DC_ERR_ARG,
          "a pair index past the end must be refused");
    dc_ctx_free(ctx);
    dc_bert_pairs_free(&p1);
    dc_bert_pairs_free(&p2);
    dc_bert_corpus_free(c);
    dc_wordpiece_free(wp);
}

static void put(const char *dir, const char *name, const char *text)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    CHECK(t_write_text(p, text), "cannot write %s", p);
}

TEST(bert_docs_loaders_fortunes_and_spam_assassin)
{
    char dir[400], sub[500];
    snprintf(dir, sizeof dir, "%s", t_tmpdir());
    put(dir, "a", "First fortune.\nTwo lines.\n%\nSecond.\n%\n  \n%\nThird, no end mark.\n");
    put(dir, "a.dat", "binary index, skipped");
    put(dir, "b", "Fourth.\r\n%\r\nFifth.");
    dc_docs d = {0};
    REQUIRE(dc_docs_fortunes(dir, &d) == DC_OK);
    CHECK(d.n == 5, "%lld fortunes, expected 5", (long long)d.n);
    if (d.n == 5) {
        CHECK(!strcmp(d.text[0], "First fortune.\nTwo lines.\n") && !strcmp(d.text[2],
              "Third, no end mark.\n") && !strcmp(d.text[3], "Fourth.\r\n") &&
              !strcmp(d.text[4], "Fifth."), "fortunes: '%s' '%s' '%s' '%s'", d.text[0],
              d.text[2], d.text[3], d.text[4]);
        CHECK(d.label[0] == -1, "fortunes have no label");
    }
    dc_docs_free(&d);
    const char *groups[5] = {"easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"};
    for (int g = 0; g < 5; g++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, groups[g]);
        CHECK(mkdir(sub, 0755) == 0, "mkdir %s", sub);
    }
    snprintf(sub, sizeof sub, "%s/easy-ham-1", dir);
    put(sub, "00001.abc.txt", "From: a@b\nSubject: hi\n\nHello there.\nBye.\n");
    put(sub, "00001.abc.json", "{\"not\": \"read\"}");
    put(sub, "00002.abc.txt", "From: a@b\r\nSubject: crlf\r\n\r\nBody two.\r\n");
    put(sub, "00003.abc.txt", "From: a@b\nNo body at all\n");
    snprintf(sub, sizeof sub, "%s/spam-2", dir);
    put(sub, "00009.x.txt", "Subject: WIN\n\nBuy now!\n");
    REQUIRE(dc_docs_spam_assassin(dir, &d) == DC_OK);
    CHECK(d.n == 3, "%lld e-mails, expected 3", (long long)d.n);
    if (d.n == 3)
        CHECK(!strcmp(d.text[0], "Hello there.\nBye.\n") && !strcmp(d.text[1], "Body two.\r\n") &&
                  !strcmp(d.text[2], "Buy now!\n") && d.label[0] == 0 && d.label[1] == 0 &&
                  d.label[2] == 1, "bodies '%s' '%s' '%s', labels %d %d %d", d.text[0],
              d.text[1], d.text[2], d.label[0], d.label[1], d.label[2]);
    dc_docs_free(&d);
    snprintf(sub, sizeof sub, "%s/nowhere", dir);
    CHECK(dc_docs_spam_assassin(sub, &d) == DC_ERR_IO && strstr(dc_last_error(), "nowhere"),
          "missing folder: %s", dc_last_error());
    dc_docs_free(&d);
}

TEST(bert_cli_tokenize_encode_decode_train)
{
    char dir[400], corpus[512], v[512], out[4096];
    snprintf(dir, sizeof dir, "%s", t_tmpdir());
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    snprintf(v, sizeof v, "%s/vocab.txt", dir);
    REQUIRE(t_write_text(corpus, "the cat sat on the mat. the cats sat on the mats!\n"
                                 "a dog ran after the cat; the dogs ran.\n"));
    int rc = t_run_deepc(out, sizeof out, "tokenize train --vocab-size 40 --min-frequency 1 "
                         "--in %s --out %s", corpus, v);
    CHECK(rc == 0 && strstr(out, "40 tokens"), "train: rc %d: %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "tokenize encode --vocab %s --text 'The cats ran' "
                     "--pair 'a dog' --max-len 16", v);
    CHECK(rc == 0 && strstr(out, "tokens: [CLS] the cat") && strstr(out, "[SEP] a dog [SEP]") &&
              strstr(out, "segments: 0 0"), "encode pair: rc %d: %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "tokenize encode --vocab %s --text 'the dogs' --ids", v);
    char ids[256] = {0};
    CHECK(rc == 0 && sscanf(out, "%255[0-9 ]", ids) == 1, "encode --ids: rc %d: %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "tokenize decode --vocab %s %s", v, ids);
    CHECK(rc == 0 && !strncmp(out, "the dogs\n", 9), "decode '%s': rc %d: %s", ids, rc, out);
    rc = t_run_deepc(out, sizeof out, "tokenize decode --vocab %s 0 99999", v);
    CHECK(rc == 2 && strstr(out, "99999"), "decode of a bad id: rc %d: %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "tokenize encode --vocab %s/none.txt --text x", dir);
    CHECK(rc == 2 && strstr(out, "none.txt"), "missing vocab: rc %d: %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "tokenize frobnicate");
    CHECK(rc == 2, "unknown subcommand: rc %d", rc);
    /* more --in files than the job takes: said so (the rest were read as ids before) */
    char many[1024] = "";
    for (int i = 0; i < 65; i++)
        strcat(many, " /dev/null");
    rc = t_run_deepc(out, sizeof out, "tokenize train --vocab-size 40 --in%s --out %s", many, v);
    CHECK(rc == 2 && strstr(out, "at most 64 files"), "65 --in files: rc %d: %s", rc, out);
}
