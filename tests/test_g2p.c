/*
 * test_g2p.c - grapheme-to-phoneme pieces on small generated data (docs/g2p.md): the CMUdict
 * reader (edge cases, errors naming file:line), the fixed split by word, the pairs, the seq2seq
 * batches and their padding-free loss, edit distance and the word / phone error of a word, beam
 * search on hand-set models (width 1 is greedy; a case where the beam beats greedy; EOS and
 * max_len), and the Select layer.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t ph(const char *name) { return dc_g2p_phone_id(name, strlen(name)); }

/* The phones of pronunciation p as "K AE T". */
static const char *pron_str(const dc_cmudict *d, int64_t p, char *buf, size_t n)
{
    buf[0] = 0;
    for (int64_t i = d->phone_off[p]; i < d->phone_off[p + 1]; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i > d->phone_off[p] ? " " : "",
                 dc_g2p_token_name(d->phones[i]));
    return buf;
}

static int64_t word_index(const dc_cmudict *d, const char *w)
{
    for (int64_t i = 0; i < d->n_words; i++)
        if (!strcmp(d->text + d->text_off[i], w))
            return i;
    return -1;
}

TEST(g2p_reader_groups_alternates_drops_stress_and_repeats)
{
    const char *text = ";;; a comment\n"
                       "CAT  K AE1 T\r\n"
                       "\n"
                       "READ(1)  R EH1 D\n"
                       "ABC  EY2 B IY2 S IY1\n"
                       "READ  R IY1 D\n"
                       "READ(2)  R IY0 D\n"      /* the same as READ without stress: once */
                       "o'neil  OW0 N IY1 L\n";  /* lower case folds to upper-case ids */
    dc_cmudict d;
    REQUIRE(dc_cmudict_parse("t.txt", text, strlen(text), &d) == DC_OK);
    CHECK(d.n_words == 4 && d.n_prons == 5 && d.n_lines == 6, "%lld words, %lld prons, %lld lines",
          (long long)d.n_words, (long long)d.n_prons, (long long)d.n_lines);
    /* bytewise order: ABC CAT READ o'neil */
    CHECK(!strcmp(d.text + d.text_off[0], "ABC") && !strcmp(d.text + d.text_off[3], "o'neil"),
          "order: %s .. %s", d.text + d.text_off[0], d.text + d.text_off[3]);
    int64_t r = word_index(&d, "READ");
    char b[200];
    REQUIRE(r >= 0);
    CHECK(d.pron_first[r + 1] - d.pron_first[r] == 2, "READ has %lld prons",
          (long long)(d.pron_first[r + 1] - d.pron_first[r]));
    /* file order within a word: READ(1) came first in the file */
    CHECK(!strcmp(pron_str(&d, d.pron_first[r], b, sizeof b), "R EH D"), "READ #0: %s", b);
    CHECK(!strcmp(pron_str(&d, d.pron_first[r] + 1, b, sizeof b), "R IY D"), "READ #1: %s", b);
    int64_t c = word_index(&d, "CAT");
    CHECK(!strcmp(pron_str(&d, d.pron_first[c], b, sizeof b), "K AE T"), "CAT: %s (CR kept?)", b);
    int64_t o = word_index(&d, "o'neil");
    REQUIRE(o >= 0);
    CHECK(d.letters[d.letter_off[o]] == dc_g2p_letter_id('O') &&
          d.letters[d.letter_off[o] + 1] == dc_g2p_letter_id('\''), "letters of o'neil");
    CHECK(dc_g2p_letter_id(0xc3) == DC_G2P_UNK && dc_g2p_letter_id('z') == dc_g2p_letter_id('Z'),
          "letter ids");
    CHECK(dc_g2p_vocab_size() == 85 && ph("ZH") == 84 && ph("AA") == 46 && ph("XX") < 0,
          "vocabulary: %d, ZH %lld", dc_g2p_vocab_size(), (long long)ph("ZH"));
    dc_seq_pairs p;
    REQUIRE(dc_cmudict_pairs(&d, DC_SPLIT_TRAIN, &p) == DC_OK);
    CHECK(p.n == 5, "pairs: %lld (alternates are extra pairs)", (long long)p.n);
    dc_seq_pairs_free(&p);
    dc_cmudict_free(&d);
}

/* A malformed text must fail with name:line and a word on what is wrong. */
static void bad(const char *text, const char *want)
{
    dc_cmudict d;
    dc_status st = dc_cmudict_parse("bad.txt", text, strlen(text), &d);
    CHECK(st == DC_ERR_FORMAT && strstr(dc_last_error(), want), "'%s': status %d, message '%s' "
          "(want '%s')", text, (int)st, dc_last_error(), want);
    if (st == DC_OK)
        dc_cmudict_free(&d);
}

TEST(g2p_reader_errors_name_file_and_line)
{
    bad("CAT  K AE1 T\nDOG  D AO1 QQ\n", "bad.txt:2: unknown phone 'QQ'");
    bad("CAT  K AE1 T\nDOG\n", "bad.txt:2: the word has no phones");
    bad("A(X)  AH0\n", "bad.txt:1: the word 'A(X)' has a bad alternate suffix");
    bad("(1)  AH0\n", "bad.txt:1:");
    bad("  AH0\n", "bad.txt:1: a line must start with a word");
    bad("CAT  K AE3 T\n", "unknown phone 'AE3'");
    bad("", "no entries");
    dc_cmudict d0;
    CHECK(dc_cmudict_parse("nul.txt", "AB  AH0\nC\0D  AH0\n", 16, &d0) == DC_ERR_FORMAT &&
          strstr(dc_last_error(), "nul.txt:2: NUL byte"), "NUL: %s", dc_last_error());
    bad(";;; only a comment\n\n", "no entries");
    char long_word[200];
    memset(long_word, 'A', 60);
    strcpy(long_word + 60, "  AH0\n");
    bad(long_word, "bad.txt:1: the word has 60 letters");
    dc_cmudict d;
    CHECK(dc_cmudict_load("/nonexistent/dict.txt", &d) != DC_OK &&
          strstr(dc_last_error(), "/nonexistent/dict.txt"), "missing file: %s", dc_last_error());
}

/* n generated entries "W<i>" with a rule-based pronunciation. */
static char *gen_dict(int n, int reversed)
{
    char *s = malloc((size_t)n * 40 + 1);
    size_t k = 0;
    for (int j = 0; j < n; j++) {
        const int i = reversed ? n - 1 - j : j;
        k += (size_t)sprintf(s + k, "W%d  W %s%d\n", i, i % 2 ? "AH" : "IY", i % 3);
    }
    s[k] = 0;
    return s;
}

TEST(g2p_split_is_fixed_by_word_and_file_order_free)
{
    char *a = gen_dict(1000, 0), *b = gen_dict(1000, 1);
    dc_cmudict d1, d2, d3;
    REQUIRE(dc_cmudict_parse("a", a, strlen(a), &d1) == DC_OK);
    REQUIRE(dc_cmudict_parse("b", b, strlen(b), &d2) == DC_OK);
    REQUIRE(dc_cmudict_parse("a", a, strlen(a), &d3) == DC_OK);
    dc_cmudict_split(&d1, 1);
    dc_cmudict_split(&d2, 1);
    dc_cmudict_split(&d3, 2);
    CHECK(dc_cmudict_count(&d1, DC_SPLIT_TRAIN) == 900 && dc_cmudict_count(&d1, DC_SPLIT_VAL) == 50
          && dc_cmudict_count(&d1, DC_SPLIT_TEST) == 50, "90/5/5: %lld %lld %lld",
          (long long)dc_cmudict_count(&d1, 0), (long long)dc_cmudict_count(&d1, 1),
          (long long)dc_cmudict_count(&d1, 2));
    CHECK(!memcmp(d1.part, d2.part, 1000), "the split depends on the file's order");
    CHECK(memcmp(d1.part, d3.part, 1000), "seeds 1 and 2 give the same split");
    free(a);
    free(b);
    dc_cmudict_free(&d1);
    dc_cmudict_free(&d2);
    dc_cmudict_free(&d3);
}

TEST(g2p_edit_distance_and_word_error)
{
    const int64_t kat[] = {1, 2, 3}, kats[] = {1, 2, 3, 4}, x[] = {5, 2, 3}, e[] = {0};
    CHECK(dc_edit_distance_ids(kat, 3, kat, 3) == 0, "equal");
    CHECK(dc_edit_distance_ids(kat, 3, kats, 4) == 1, "one insertion");
    CHECK(dc_edit_distance_ids(kats, 4, kat, 3) == 1, "one deletion");
    CHECK(dc_edit_distance_ids(x, 3, kat, 3) == 1, "one substitution");
    CHECK(dc_edit_distance_ids(e, 0, kats, 4) == 4, "from nothing");
    CHECK(dc_edit_distance_ids(kats, 4, x, 3) == 2, "substitution + deletion");
    const char *text = "READ  R IY1 D\nREAD(1)  R EH1 D\nTOMATO  T AH0 M EY1 T OW2\n"
                       "TOMATO(1)  T AH0 M AA1 T OW2\n";
    dc_cmudict d;
    REQUIRE(dc_cmudict_parse("t", text, strlen(text), &d) == DC_OK);
    int64_t r = word_index(&d, "READ"), t = word_index(&d, "TOMATO"), dist, len;
    const int64_t red[] = {ph("R"), ph("EH"), ph("D")}, rd[] = {ph("R"), ph("D")};
    dc_g2p_score_word(&d, r, red, 3, &dist, &len);
    CHECK(dist == 0 && len == 3, "READ = its second pronunciation: dist %lld", (long long)dist);
    dc_g2p_score_word(&d, r, rd, 2, &dist, &len);
    CHECK(dist == 1 && len == 3, "R D: dist %lld len %lld", (long long)dist, (long long)len);
    /* T AH M AE T OW: one substitution from both; the first listed is the closest */
    const int64_t tom[] = {ph("T"), ph("AH"), ph("M"), ph("AE"), ph("T"), ph("OW"), ph("Z")};
    dc_g2p_score_word(&d, t, tom, 7, &dist, &len);
    CHECK(dist == 2 && len == 6, "tomato: dist %lld len %lld", (long long)dist, (long long)len);
    dc_cmudict_free(&d);
}

TEST(g2p_batches_pad_and_the_loss_ignores_padding)
{
    const int64_t so[] = {0, 3, 4}, s[] = {10, 11, 12, 13}, to[] = {0, 1, 4}, t[] = {50, 60, 61,
                                                                                    62};
    dc_seq_pairs p = {2, (int64_t *)so, (int64_t *)s, (int64_t *)to, (int64_t *)t};
    const int64_t idx[] = {1, 0};
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x, *y;
    REQUIRE(dc_seq2seq_batch(ctx, &p, idx, 2, &x, &y) == DC_OK);
    /* L = max(3 letters, 3 phones + 1) = 4 */
    const int64_t wx[] = {13, 0, 0, 0, 1, 60, 61, 62, 10, 11, 12, 0, 1, 50, 0, 0};
    const int64_t wy[] = {60, 61, 62, 2, 50, 2, 0, 0};
    CHECK(x->ndim == 3 && x->shape[2] == 4 && !memcmp(dc_i64(x), wx, sizeof wx), "x layout");
    CHECK(y->ndim == 2 && !memcmp(dc_i64(y), wy, sizeof wy), "y layout");
    /* the loss is the mean over the 6 non-padding targets; logits at padding do not count */
    const int64_t V = 70;
    dc_rng r;
    dc_rng_seed(&r, 3, 0);
    dc_tensor *lg = dc_tensor_new(DC_F32, 3, DC_SHAPE(2, 4, V));
    REQUIRE(lg);
    dc_tensor_normal(lg, &r, 0, 1);
    double want = 0;
    for (int i = 0; i < 8; i++) {
        if (wy[i] == 0)
            continue;
        const float *row = dc_f32(lg) + i * V;
        double z = 0;
        for (int v = 0; v < V; v++)
            z += exp((double)row[v]);
        want += log(z) - row[wy[i]];
    }
    int64_t ok = 0, tok = 0;
    dc_tensor *l = dc_seq2seq_loss_ids(ctx, lg, y, &ok, &tok);
    REQUIRE(l);
    CHECK_NEAR(dc_f32(l)[0], want / 6, 1e-5);
    CHECK(tok == 6, "tokens %lld", (long long)tok);
    for (int v = 0; v < V; v++) /* change the logits at a padded position */
        dc_f32(lg)[7 * V + v] = 100.0f * (float)v;
    dc_tensor *l2 = dc_seq2seq_loss_ids(ctx, lg, y, NULL, NULL);
    CHECK(l2 && dc_f32(l2)[0] == dc_f32(l)[0], "padding changed the loss");
    dc_tensor_free(lg);
    dc_ctx_free(ctx);
}

/* ---- beam search on hand-set models: p(next | last token) from a table ---- */

typedef struct table_model {
    int64_t V;
    const double *p; /* [V, V]: row = last token */
    int calls;
} table_model;

static dc_status table_step(void *impl, int64_t n, const int64_t *parent, const int64_t *prefix,
                            int64_t stride, int64_t t, float *logp)
{
    table_model *m = impl;
    (void)parent;
    m->calls++;
    for (int64_t i = 0; i < n; i++)
        for (int64_t v = 0; v < m->V; v++)
            logp[i * m->V + v] = (float)log(m->p[prefix[i * stride + t] * m->V + v]);
    return DC_OK;
}

TEST(g2p_beam_beats_greedy_where_greedy_is_shortsighted)
{
    /* ids: 0 PAD, 1 BOS, 2 EOS, 3 A, 4 B. After BOS: A 0.6, B 0.4; after A: EOS 0.35, A 0.33,
     * B 0.32; after B: EOS 0.9. Greedy: A EOS (0.21); the beam finds B EOS (0.36). */
    const double e = 1e-9;
    const double p[25] = {0.2, 0.2, 0.2, 0.2, 0.2,      e,   e, e, 0.6, 0.4,
                          0.2, 0.2, 0.2, 0.2, 0.2,      e,   e, 0.35, 0.33, 0.32,
                          e,   e,   0.9, 0.05, 0.05};
    table_model m = {5, p, 0};
    dc_beam_opts o = dc_beam_defaults();
    int64_t out[16], n = -1;
    double s = 0;
    REQUIRE(dc_beam_search(table_step, &m, 5, &o, out, &n, &s) == DC_OK);
    CHECK(n == 1 && out[0] == 3, "greedy: n %lld, first %lld", (long long)n, (long long)out[0]);
    CHECK_NEAR(s, log(0.6 * 0.35) / 2, 1e-6);
    o.beam = 2;
    REQUIRE(dc_beam_search(table_step, &m, 5, &o, out, &n, &s) == DC_OK);
    CHECK(n == 1 && out[0] == 4, "beam 2: n %lld, first %lld", (long long)n, (long long)out[0]);
    CHECK_NEAR(s, log(0.4 * 0.9) / 2, 1e-6);
    /* no EOS ever likely: the search stops at max_len */
    const double q[25] = {0.2, 0.2, 0.2, 0.2, 0.2, e, e, e, 0.5, 0.5, 0.2, 0.2, 0.2, 0.2, 0.2,
                          e,   e,   e,   0.7, 0.3, e, e, e, 0.3, 0.7};
    table_model m2 = {5, q, 0};
    o.max_len = 6;
    REQUIRE(dc_beam_search(table_step, &m2, 5, &o, out, &n, &s) == DC_OK);
    CHECK(n == 6 && m2.calls == 6, "max_len: %lld tokens, %d steps", (long long)n, m2.calls);
    o.beam = 0;
    CHECK(dc_beam_search(table_step, &m2, 5, &o, out, &n, &s) == DC_ERR_ARG, "beam 0");
}

TEST(g2p_beam_length_penalty_trades_total_for_per_token_probability)
{
    /* ids: 0 PAD, 1 BOS, 2 EOS, 3 A, 4 B, 5 C. After BOS: A 0.5, B 0.5; after A: EOS 0.5, A 0.2,
     * B 0.3; after B: C 0.95; after C: EOS 0.5. "A EOS" has the larger total (0.25 against
     * 0.2375), "B C EOS" the larger mean per token: the length penalty picks between them. */
    const double e = 1e-9, u = 1.0 / 6;
    const double p[36] = {u, u, u, u, u, u,      e, e, e,   0.5, 0.5,  e,
                          u, u, u, u, u, u,      e, e, 0.5, 0.2, 0.3,  e,
                          e, e, e, e, e, 0.95,   e, e, 0.5, 0.25, 0.25, e};
    table_model m = {6, p, 0};
    dc_beam_opts o = dc_beam_defaults();
    o.beam = 2;
    int64_t out[16], n = -1;
    double s = 0;
    o.alpha = 0; /* the sum */
    REQUIRE(dc_beam_search(table_step, &m, 6, &o, out, &n, &s) == DC_OK);
    CHECK(n == 1 && out[0] == 3, "alpha 0: n %lld, first %lld", (long long)n, (long long)out[0]);
    CHECK_NEAR(s, log(0.25), 1e-6);
    for (int i = 0; i < 2; i++) { /* the mean, and the square root of the length */
        o.alpha = i ? 0.5 : 1;
        REQUIRE(dc_beam_search(table_step, &m, 6, &o, out, &n, &s) == DC_OK);
        CHECK(n == 2 && out[0] == 4 && out[1] == 5, "alpha %g: n %lld, first %lld", o.alpha,
              (long long)n, (long long)out[0]);
        CHECK_NEAR(s, log(0.5 * 0.95 * 0.5) / pow(3, o.alpha), 1e-6);
    }
    o.alpha = -0.5;
    CHECK(dc_beam_search(table_step, &m, 6, &o, out, &n, &s) == DC_ERR_ARG, "alpha < 0");
}

TEST(g2p_beam_finishes_an_eos_only_among_the_k_best)
{
    /* Beam 2. After BOS: A 0.5, B 0.4; after A: EOS 0.52, C 0.48; after B: EOS 0.55, C 0.45;
     * after C: EOS. Step 1 ranks A EOS 0.26, A C 0.24, B EOS 0.22, B C 0.18: B EOS is third, out
     * of the beam, and must not finish; A C EOS (mean log p over 3) then beats A EOS (over 2). */
    const double e = 1e-9, u = 1.0 / 6;
    const double p[36] = {u, u, u,    u, u, u,      e, e, e,    0.5, 0.4, e,
                          u, u, u,    u, u, u,      e, e, 0.52, e,   e,   0.48,
                          e, e, 0.55, e, e, 0.45,   e, e, 1,    e,   e,   e};
    table_model m = {6, p, 0};
    dc_beam_opts o = dc_beam_defaults();
    o.beam = 2;
    int64_t out[16], n = -1;
    double s = 0;
    REQUIRE(dc_beam_search(table_step, &m, 6, &o, out, &n, &s) == DC_OK);
    CHECK(n == 2 && out[0] == 3 && out[1] == 5, "n %lld, first %lld", (long long)n,
          (long long)out[0]);
    CHECK_NEAR(s, log(0.5 * 0.48) / 3, 1e-6);
}

TEST(g2p_beam_width_1_is_greedy)
{
    enum { V = 7 };
    double p[V * V];
    dc_rng r;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        dc_rng_seed(&r, seed, 0);
        for (int a = 0; a < V; a++) {
            double z = 0;
            for (int v = 0; v < V; v++)
                z += p[a * V + v] = 0.01 + dc_rng_uniform(&r);
            for (int v = 0; v < V; v++)
                p[a * V + v] /= z;
        }
        int64_t want[12], nw = 0, last = DC_SEQ_BOS; /* arg-max until EOS or 12 tokens */
        while (nw < 12) {
            int64_t best = 0;
            for (int v = 1; v < V; v++)
                best = p[last * V + v] > p[last * V + best] ? v : best;
            if (best == DC_SEQ_EOS)
                break;
            want[nw++] = last = best;
        }
        table_model m = {V, p, 0};
        dc_beam_opts o = dc_beam_defaults();
        o.max_len = 12;
        int64_t out[12], n = -1;
        REQUIRE(dc_beam_search(table_step, &m, V, &o, out, &n, NULL) == DC_OK);
        CHECK(n == nw && !memcmp(out, want, (size_t)n * sizeof *out), "seed %llu: beam 1 gave "
              "%lld tokens, greedy %lld", (unsigned long long)seed, (long long)n, (long long)nw);
    }
}

TEST(g2p_select_trims_trailing_padding)
{
    dc_model *m = dc_model_new();
    dc_module *s = m ? dc_select_new(m, "src", 0, 0) : NULL, *t = m ? dc_select_new(m, "t", 1, -1)
                                                                     : NULL;
    REQUIRE(s && t && dc_model_add(m, s) == DC_OK && dc_model_add(m, t) == DC_OK);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_zeros(ctx, DC_I64, 3, DC_SHAPE(2, 2, 5));
    const int64_t v[] = {5, 6, 0, 0, 0, 1, 7, 8, 9, 0, 5, 0, 6, 0, 0, 1, 2, 0, 0, 0};
    memcpy(x->data, v, sizeof v);
    dc_tensor *y = s->forward(ctx, s, x), *z = t->forward(ctx, t, x);
    const int64_t wy[] = {5, 6, 0, 5, 0, 6};
    CHECK(y && y->shape[1] == 3 && !memcmp(dc_i64(y), wy, sizeof wy), "trimmed source");
    CHECK(z && z->shape[1] == 5 && dc_i64(z)[6] == 2, "untrimmed row 1");
    dc_ctx_free(ctx);
    dc_model_free(m);
}

/* The task's epoch order: a permutation of the pairs, in batches of one length (bucketing), a
 * different order each epoch, the same for the same seed. */
TEST(g2p_task_order_is_a_bucketed_permutation)
{
    enum { N = 700, B = 8 };
    static int64_t so[N + 1], to[N + 1], s[N * 20], t[N * 20];
    dc_rng r;
    dc_rng_seed(&r, 4, 0);
    for (int i = 0; i < N; i++) {
        const int64_t ls = 1 + dc_rng_below(&r, 20), lt = 1 + dc_rng_below(&r, 20);
        so[i + 1] = so[i] + ls;
        to[i + 1] = to[i] + lt;
        for (int64_t k = 0; k < ls; k++)
            s[so[i] + k] = 10;
        for (int64_t k = 0; k < lt; k++)
            t[to[i] + k] = 50;
    }
    dc_seq_pairs p = {N, so, s, to, t};
    dc_train_opts o = dc_train_defaults();
    o.batch_size = B;
    dc_task *task = dc_task_seq2seq(&p, NULL, &o);
    REQUIRE(task);
    int64_t first[N], seen[N];
    for (int ep = 0; ep < 2; ep++) {
        dc_rng_seed(&r, 9, (uint64_t)ep);
        REQUIRE(task->start(task, &r) == DC_OK && task->epoch_begin(task, NULL, &r, 0) == DC_OK);
        const int64_t *ord = dc_i64(task->order);
        memset(seen, 0, sizeof seen);
        int64_t spread = 0;
        for (int i = 0; i < N; i++)
            seen[ord[i]]++;
        for (int b = 0; b + B <= N; b += B) { /* source lengths within a batch */
            int64_t lo = 99, hi = 0;
            for (int j = b; j < b + B; j++) {
                const int64_t l = so[ord[j] + 1] - so[ord[j]];
                lo = l < lo ? l : lo;
                hi = l > hi ? l : hi;
            }
            spread += hi - lo;
        }
        int perm = 1;
        for (int i = 0; i < N; i++)
            perm &= seen[i] == 1;
        CHECK(perm, "epoch %d: the order is not a permutation", ep);
        CHECK(spread <= N / B / 2, "epoch %d: batches span %lld source lengths in all (not "
              "bucketed)", ep, (long long)spread);
        if (ep == 0)
            memcpy(first, ord, sizeof first);
        else
            CHECK(memcmp(first, ord, sizeof first), "two epochs in the same order");
    }
    dc_task_free(task);
}
