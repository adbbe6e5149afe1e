/*
 * bert_data.c - BERT pre-training data as plain data functions (docs/bert.md): documents (the
 * fortunes, the spam-assassin e-mails), documents split into sentences of WordPiece ids,
 * next-sentence-prediction pairs, [CLS] A [SEP] B [SEP] encoding with segment ids and BERT's
 * truncation, and dynamic masked-language-model masking (80% [MASK] / 10% random / 10% kept).
 *
 * Every random choice draws from the dc_rng it is given, in a fixed order, so a seed fixes the
 * pairs and the masks; calling again with the same generator (the next epoch) draws new ones.
 */
#define _POSIX_C_SOURCE 200809L
#include "data/dirlist.h"
#include "data/wordpiece_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- documents ---- */

dc_status dc_docs_add(dc_docs *d, const char *text, size_t len, int label)
{
    if (!d || (len && !text))
        return dc_err(DC_ERR_ARG, "docs add: NULL argument");
    if (d->n == d->cap) {
        int64_t cap = d->cap ? d->cap * 2 : 256;
        char **t = realloc(d->text, (size_t)cap * sizeof *t);
        if (t)
            d->text = t;
        size_t *l = t ? realloc(d->len, (size_t)cap * sizeof *l) : NULL;
        if (l)
            d->len = l;
        int *lab = l ? realloc(d->label, (size_t)cap * sizeof *lab) : NULL;
        if (!lab)
            return dc_err(DC_ERR_NOMEM, "docs: out of memory for %lld documents",
                          (long long)cap);
        d->label = lab;
        d->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return dc_err(DC_ERR_NOMEM, "docs: out of memory for a document of %zu bytes", len);
    memcpy(copy, text, len);
    copy[len] = '\0';
    d->text[d->n] = copy;
    d->len[d->n] = len;
    d->label[d->n++] = label;
    return DC_OK;
}

void dc_docs_free(dc_docs *d)
{
    if (!d)
        return;
    for (int64_t i = 0; i < d->n; i++)
        free(d->text[i]);
    free(d->text);
    free(d->len);
    free(d->label);
    memset(d, 0, sizeof *d);
}

dc_status dc_docs_split(const dc_docs *d, double val_fraction, uint64_t seed, dc_docs *train,
                        dc_docs *val)
{
    if (!d || !train || !val || !(val_fraction >= 0 && val_fraction < 1))
        return dc_err(DC_ERR_ARG, "docs split: NULL argument or a fraction outside [0, 1)");
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    int64_t n_val = (int64_t)(val_fraction * (double)d->n + 0.5);
    if (val_fraction > 0 && n_val < 1)
        n_val = 1;
    if (n_val > 0 && d->n - n_val < 1)
        return dc_err(DC_ERR_ARG, "docs split: %lld documents cannot give %lld to validation "
                      "and keep one for training", (long long)d->n, (long long)n_val);
    int64_t *perm = malloc((size_t)(d->n > 0 ? d->n : 1) * sizeof *perm);
    uint8_t *held = calloc((size_t)(d->n > 0 ? d->n : 1), 1);
    dc_status st = perm && held ? DC_OK : dc_err(DC_ERR_NOMEM, "docs split: out of memory");
    if (st == DC_OK) {
        dc_rng r;
        dc_rng_seed(&r, seed, 0xd0c5);
        for (int64_t i = 0; i < d->n; i++)
            perm[i] = i;
        dc_rng_shuffle(&r, perm, d->n);
        for (int64_t i = 0; i < n_val; i++)
            held[perm[i]] = 1;
    }
    for (int64_t i = 0; st == DC_OK && i < d->n; i++)
        st = dc_docs_add(held[i] ? val : train, d->text[i], d->len[i], d->label[i]);
    free(perm);
    free(held);
    if (st != DC_OK) {
        dc_docs_free(train);
        dc_docs_free(val);
    }
    return st;
}

/* Append the documents of one "kind=path" item (NUL-terminated, modified). */
static dc_status load_source(char *item, dc_docs *docs)
{
    char *eq = strchr(item, '=');
    if (!eq || eq[1] == 0)
        return dc_err(DC_ERR_ARG, "bert data: '%s' is not KIND=PATH (fortunes=PATH or "
                      "spam=DIR)", item);
    *eq = 0;
    if (!strcmp(item, "fortunes"))
        return dc_docs_fortunes(eq + 1, docs);
    if (!strcmp(item, "spam"))
        return dc_docs_spam_assassin(eq + 1, docs);
    return dc_err(DC_ERR_ARG, "bert data: unknown source '%s' (fortunes=PATH, spam=DIR)", item);
}

dc_status dc_bert_docs_load(const char *sources, dc_docs *docs)
{
    if (!sources || !docs)
        return dc_err(DC_ERR_ARG, "bert data: NULL sources or documents");
    char *list = strdup(sources);
    if (!list)
        return dc_err(DC_ERR_NOMEM, "bert data: out of memory");
    dc_status st = DC_OK;
    char *save = NULL;
    int n = 0;
    for (char *it = strtok_r(list, ",", &save); it && st == DC_OK; it = strtok_r(NULL, ",", &save),
               n++)
        st = load_source(it, docs);
    free(list);
    if (st == DC_OK && n == 0)
        st = dc_err(DC_ERR_ARG, "bert data: no source (fortunes=PATH,spam=DIR)");
    return st;
}

dc_status dc_bert_docs_text(const char *sources, uint8_t **text, size_t *n)
{
    dc_docs d = {0};
    *text = NULL;
    *n = 0;
    dc_status st = dc_bert_docs_load(sources, &d);
    size_t total = 1;
    for (int64_t i = 0; st == DC_OK && i < d.n; i++)
        total += d.len[i] + 2;
    uint8_t *t = st == DC_OK ? malloc(total) : NULL;
    if (st == DC_OK && !t)
        st = dc_err(DC_ERR_NOMEM, "bert data: out of memory for %zu bytes", total);
    size_t k = 0;
    for (int64_t i = 0; t && i < d.n; i++) { /* a blank line between documents */
        memcpy(t + k, d.text[i], d.len[i]);
        k += d.len[i];
        t[k++] = '\n';
        t[k++] = '\n';
    }
    if (t) {
        t[k] = 0;
        *text = t;
        *n = k;
    }
    dc_docs_free(&d);
    return st;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

/* The fortunes of one file: text between lines that are a single '%'. */
static dc_status fortunes_file(const char *path, dc_docs *out)
{
    uint8_t *text;
    size_t n;
    dc_status st = dc_text_load(path, 0, &text, &n);
    if (st != DC_OK)
        return st;
    const char *s = (const char *)text;
    size_t start = 0, i = 0;
    while (st == DC_OK && i <= n) {
        size_t eol = i;
        while (eol < n && s[eol] != '\n')
            eol++;
        size_t ll = eol - i - (eol > i && s[eol - 1] == '\r');
        bool sep = ll == 1 && s[i] == '%';
        if (sep || eol >= n) {
            size_t end = sep ? i : n;
            if (!blank(s + start, end - start))
                st = dc_docs_add(out, s + start, end - start, -1);
            start = eol + 1;
        }
        i = eol + 1;
    }
    free(text);
    return st;
}

dc_status dc_docs_fortunes(const char *path, dc_docs *out)
{
    if (!path || !out)
        return dc_err(DC_ERR_ARG, "fortunes: NULL argument");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return dc_err(DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return fortunes_file(path, out);
    char **files;
    size_t n;
    dc_status st = dc_dir_list(path, 0, NULL, ".dat", &files, &n);
    for (size_t i = 0; st == DC_OK && i < n; i++)
        st = fortunes_file(files[i], out);
    if (st == DC_OK && n == 0)
        st = dc_err(DC_ERR_FORMAT, "%s: no fortune files in the directory", path);
    dc_dir_list_free(files, n);
    return st;
}

/* The body of an e-mail: what follows the first empty line (LF or CRLF), or NULL. */
static const char *mail_body(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\n')
            continue;
        if (s[i + 1] == '\n')
            return s + i + 2;
        if (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n')
            return s + i + 3;
    }
    return NULL;
}

dc_status dc_docs_spam_assassin(const char *dir, dc_docs *out)
{
    static const char *const group[5] = {"easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1",
                                         "spam-2"};
    if (!dir || !out)
        return dc_err(DC_ERR_ARG, "spam-assassin: NULL argument");
    dc_status st = DC_OK;
    for (int g = 0; g < 5 && st == DC_OK; g++) {
        size_t len = strlen(dir) + strlen(group[g]) + 2, n = 0;
        char *sub = malloc(len), **files = NULL;
        if (!sub)
            return dc_err(DC_ERR_NOMEM, "spam-assassin: out of memory");
        snprintf(sub, len, "%s/%s", dir, group[g]);
        st = dc_dir_list(sub, 0, ".txt", ".dat", &files, &n);
        free(sub);
        for (size_t i = 0; st == DC_OK && i < n; i++) {
            uint8_t *text;
            size_t tn;
            if ((st = dc_text_load(files[i], 0, &text, &tn)) != DC_OK)
                break;
            const char *body = mail_body((const char *)text, tn);
            size_t bl = body ? tn - (size_t)(body - (const char *)text) : 0;
            if (body && !blank(body, bl))
                st = dc_docs_add(out, body, bl, g >= 3);
            free(text);
        }
        dc_dir_list_free(files, n);
    }
    return st;
}

/* ---- sentences of token ids ---- */

/* The end of the sentence that starts at s[i] (exclusive): after '.', '!' or '?' and any
 * closing quotes or brackets when whitespace follows, or at a blank line; n at the end. */
static size_t sentence_end(const char *s, size_t n, size_t i)
{
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.' || c == '!' || c == '?') {
            size_t j = i + 1;
            while (j < n && (s[j] == '"' || s[j] == '\'' || s[j] == ')' || s[j] == ']'))
                j++;
            if (j == n || s[j] == ' ' || s[j] == '\n' || s[j] == '\t' || s[j] == '\r')
                return j;
        } else if (c == '\n') {
            size_t j = i + 1;
            while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r'))
                j++;
            if (j < n && s[j] == '\n')
                return i;
        }
    }
    return n;
}

void dc_bert_corpus_free(dc_bert_corpus *c)
{
    if (!c)
        return;
    free(c->doc_sent);
    free(c->sent_tok);
    free(c->ids);
    free(c);
}

/* Tokenise the sentences of one document; its sentences go to sent (start offsets into ids). */
static dc_status corpus_doc(const dc_wordpiece *wp, const char *s, size_t n, dc_ids *ids,
                            dc_ids *sent)
{
    size_t i = 0;
    while (i < n) {
        size_t end = sentence_end(s, n, i);
        int64_t n0 = ids->n;
        dc_status st = dc_wordpiece_encode(wp, s + i, end - i, ids);
        if (st != DC_OK)
            return st;
        if (ids->n > n0 && (st = dc_ids_push(sent, n0)) != DC_OK)
            return st;
        i = end > i ? end : i + 1;
    }
    return DC_OK;
}

dc_bert_corpus *dc_bert_corpus_new(const dc_wordpiece *wp, const dc_docs *docs)
{
    if (!wp || !docs || docs->n < 1)
        return dc_err_null(DC_ERR_ARG, "bert corpus: need a vocabulary and documents");
    dc_bert_corpus *c = calloc(1, sizeof *c);
    if (!c)
        return dc_err_null(DC_ERR_NOMEM, "bert corpus: out of memory");
    c->vocab = wp->n;
    c->pad = wp->special[DC_WP_PAD];
    c->cls = wp->special[DC_WP_CLS];
    c->sep = wp->special[DC_WP_SEP];
    c->mask = wp->special[DC_WP_MASK];
    if (c->pad < 0 || c->cls < 0 || c->sep < 0 || c->mask < 0) {
        free(c);
        return dc_err_null(DC_ERR_ARG, "bert corpus: the vocabulary lacks one of [PAD] [CLS] "
                           "[SEP] [MASK]");
    }
    dc_ids ids = {0}, sent = {0}, doc = {0};
    dc_status st = DC_OK;
    for (int64_t d = 0; d < docs->n && st == DC_OK; d++) {
        int64_t s0 = sent.n;
        st = corpus_doc(wp, docs->text[d], docs->len[d], &ids, &sent);
        if (st == DC_OK && sent.n > s0)
            st = dc_ids_push(&doc, s0);
    }
    if (st == DC_OK && (st = dc_ids_push(&sent, ids.n)) == DC_OK)
        st = dc_ids_push(&doc, sent.n - 1);
    if (st == DC_OK && doc.n < 2)
        st = dc_err(DC_ERR_ARG, "bert corpus: the documents have no tokens");
    if (st != DC_OK) {
        dc_ids_free(&ids);
        dc_ids_free(&sent);
        dc_ids_free(&doc);
        free(c);
        return NULL;
    }
    c->ids = ids.ids;
    c->n_ids = ids.n;
    c->sent_tok = sent.ids;
    c->n_sents = sent.n - 1;
    c->doc_sent = doc.ids;
    c->n_docs = doc.n - 1;
    return c;
}

/* ---- pairs, masking, batches ---- */

dc_bert_opts dc_bert_defaults(void)
{
    dc_bert_opts o = {128, 0.5f, 0.15f, 0.8f, 0.1f};
    return o;
}

dc_status dc_bert_encode_pair(const int64_t *a, int64_t na, const int64_t *b, int64_t nb,
                              int64_t cls, int64_t sep, int64_t max_len, int64_t *ids,
                              int64_t *seg, int64_t *len)
{
    int64_t extra = b ? 3 : 2;
    if (!ids || !seg || !len || na < 0 || nb < 0 || (na && !a) || (nb && !b) ||
        max_len < extra)
        return dc_err(DC_ERR_ARG, "bert encode pair: bad arguments (max_len %lld, need >= %lld)",
                      (long long)max_len, (long long)extra);
    while (na + nb > max_len - extra) { /* drop from the end of the longer side */
        if (na > nb)
            na--;
        else
            nb--;
    }
    int64_t k = 0;
    ids[k] = cls;
    seg[k++] = 0;
    for (int64_t i = 0; i < na; i++, k++) {
        ids[k] = a[i];
        seg[k] = 0;
    }
    ids[k] = sep;
    seg[k++] = 0;
    for (int64_t i = 0; b && i < nb; i++, k++) {
        ids[k] = b[i];
        seg[k] = 1;
    }
    if (b) {
        ids[k] = sep;
        seg[k++] = 1;
    }
    *len = k;
    return DC_OK;
}

void dc_bert_pairs_free(dc_bert_pairs *p)
{
    if (!p)
        return;
    free(p->a);
    free(p->b);
    free(p->is_random);
    memset(p, 0, sizeof *p);
}

dc_status dc_bert_pairs_draw(const dc_bert_corpus *c, const dc_bert_opts *o, dc_rng *rng,
                             dc_bert_pairs *out)
{
    if (!c || !o || !rng || !out)
        return dc_err(DC_ERR_ARG, "bert pairs: NULL argument");
    if (o->nsp_random > 0 && c->n_docs < 2)
        return dc_err(DC_ERR_ARG, "bert pairs: random next sentences need at least 2 documents "
                      "(have %lld)", (long long)c->n_docs);
    int64_t n = c->n_sents - c->n_docs; /* sentences with a successor in their document */
    if (n < 1)
        return dc_err(DC_ERR_ARG, "bert pairs: no document has two sentences");
    dc_bert_pairs p = {n, malloc((size_t)n * sizeof(int64_t)), malloc((size_t)n * sizeof(int64_t)),
                       malloc((size_t)n)};
    if (!p.a || !p.b || !p.is_random) {
        dc_bert_pairs_free(&p);
        return dc_err(DC_ERR_NOMEM, "bert pairs: out of memory for %lld pairs", (long long)n);
    }
    int64_t k = 0;
    for (int64_t d = 0; d < c->n_docs; d++) {
        for (int64_t s = c->doc_sent[d]; s + 1 < c->doc_sent[d + 1]; s++, k++) {
            p.a[k] = s;
            p.b[k] = s + 1;
            p.is_random[k] = dc_rng_uniform(rng) < o->nsp_random;
            if (!p.is_random[k])
                continue;
            int64_t d2 = dc_rng_below(rng, (uint32_t)(c->n_docs - 1));
            d2 += d2 >= d; /* any document but d */
            int64_t ns = c->doc_sent[d2 + 1] - c->doc_sent[d2];
            p.b[k] = c->doc_sent[d2] + dc_rng_below(rng, (uint32_t)ns);
        }
    }
    *out = p;
    return DC_OK;
}

void dc_bert_mask(const dc_bert_corpus *c, const dc_bert_opts *o, dc_rng *rng, int64_t *ids,
                  int64_t *labels, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        labels[j] = -100;
        if (ids[j] == c->cls || ids[j] == c->sep || ids[j] == c->pad)
            continue;
        if (dc_rng_uniform(rng) >= o->mlm_prob)
            continue;
        labels[j] = ids[j];
        float v = dc_rng_uniform(rng);
        if (v < o->mask_frac)
            ids[j] = c->mask;
        else if (v < o->mask_frac + o->random_frac)
            ids[j] = dc_rng_below(rng, (uint32_t)c->vocab);
    }
}

dc_status dc_bert_batch_make(dc_ctx *ctx, const dc_bert_corpus *c, const dc_bert_pairs *p,
                             const int64_t *idx, int64_t B, const dc_bert_opts *o, dc_rng *rng,
                             dc_bert_batch *out)
{
    if (!ctx || !c || !p || !idx || B < 1 || !o || !rng || !out || o->max_len < 3)
        return dc_err(DC_ERR_ARG, "bert batch: bad arguments");
    for (int64_t i = 0; i < B; i++)
        if (idx[i] < 0 || idx[i] >= p->n)
            return dc_err(DC_ERR_ARG, "bert batch: pair %lld (position %lld) outside [0, %lld)",
                          (long long)idx[i], (long long)i, (long long)p->n);
    int64_t L = o->max_len;
    dc_bert_batch b;
    b.input_ids = dc_empty(ctx, DC_I64, 2, DC_SHAPE(B, L));
    b.token_type_ids = dc_empty(ctx, DC_I64, 2, DC_SHAPE(B, L));
    b.attention_mask = dc_empty(ctx, DC_I64, 2, DC_SHAPE(B, L));
    b.labels = dc_empty(ctx, DC_I64, 2, DC_SHAPE(B, L));
    b.next_sentence_label = dc_empty(ctx, DC_I64, 1, DC_SHAPE(B));
    if (!b.input_ids || !b.token_type_ids || !b.attention_mask || !b.labels ||
        !b.next_sentence_label)
        return DC_ERR_NOMEM;
    for (int64_t i = 0; i < B; i++) {
        int64_t sa = p->a[idx[i]], sb = p->b[idx[i]], len;
        int64_t *ids = dc_i64(b.input_ids) + i * L, *seg = dc_i64(b.token_type_ids) + i * L;
        int64_t *att = dc_i64(b.attention_mask) + i * L, *lab = dc_i64(b.labels) + i * L;
        const int64_t *a = c->ids + c->sent_tok[sa], *bb = c->ids + c->sent_tok[sb];
        dc_bert_encode_pair(a, c->sent_tok[sa + 1] - c->sent_tok[sa], bb,
                            c->sent_tok[sb + 1] - c->sent_tok[sb], c->cls, c->sep, L, ids, seg,
                            &len);
        for (int64_t j = 0; j < L; j++) {
            att[j] = j < len;
            if (j >= len) {
                ids[j] = c->pad;
                seg[j] = 0;
            }
        }
        dc_bert_mask(c, o, rng, ids, lab, L);
        dc_i64(b.next_sentence_label)[i] = p->is_random[idx[i]];
    }
    *out = b;
    return DC_OK;
}
