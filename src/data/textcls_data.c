/*
 * textcls_data.c - labelled texts as model inputs: a fixed seeded stratified split, WordPiece
 * encoding as [CLS] text [SEP] [PAD]..., the three input forms a text classifier can take
 * (ids and segments for BERT, ids for an embedding, a bag of words for a linear model) and the
 * dataset that serves them in batches (docs/text-classification.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- split ---- */

void dc_textcls_split_free(dc_textcls_split *s)
{
    if (!s)
        return;
    for (int p = 0; p < 3; p++)
        free(s->idx[p]);
    memset(s, 0, sizeof *s);
}

dc_status dc_textcls_split_make(const dc_textcls_data *d, double val, double test,
                                uint64_t seed, dc_textcls_split *out)
{
    if (!d || !out || d->n_classes < 1 || d->docs.n < 1)
        return dc_err(DC_ERR_ARG, "split: no data");
    memset(out, 0, sizeof *out);
    if (!(val >= 0 && test >= 0 && val < 1 && test < 1 && val + test < 1))
        return dc_err(DC_ERR_ARG, "split: validation %g and test %g must be fractions in [0, 1) "
                      "with a sum below 1", val, test);
    const int64_t n = d->docs.n;
    const int K = d->n_classes;
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    int64_t *count = calloc((size_t)K, sizeof *count), *seen = calloc((size_t)K, sizeof *seen);
    for (int p = 0; p < 3; p++)
        out->idx[p] = malloc((size_t)n * sizeof *out->idx[p]);
    if (!perm || !count || !seen || !out->idx[0] || !out->idx[1] || !out->idx[2]) {
        free(perm);
        free(count);
        free(seen);
        dc_textcls_split_free(out);
        return dc_err(DC_ERR_NOMEM, "split: out of memory");
    }
    dc_rng rng;
    dc_rng_seed(&rng, seed, 0);
    for (int64_t i = 0; i < n; i++) {
        perm[i] = i;
        int c = d->docs.label[i];
        count[c >= 0 && c < K ? c : 0]++;
    }
    dc_rng_shuffle(&rng, perm, n);
    for (int64_t i = 0; i < n; i++) {
        int c = d->docs.label[perm[i]];
        c = c >= 0 && c < K ? c : 0;
        const int64_t k = seen[c]++, nt = llround(test * (double)count[c]),
                      nv = llround(val * (double)count[c]);
        const int p = k < nt ? DC_SPLIT_TEST : k < nt + nv ? DC_SPLIT_VAL : DC_SPLIT_TRAIN;
        out->idx[p][out->n[p]++] = perm[i];
    }
    free(perm);
    free(count);
    free(seen);
    return DC_OK;
}

/* ---- encoding ---- */

dc_status dc_textcls_form_of(dc_dtype dtype, int ndim, const int64_t *shape, int64_t vocab,
                             dc_textcls_form *form, int64_t *len)
{
    if (dtype == DC_I64 && ndim == 2 && shape[0] == 2 && shape[1] >= 2) {
        *form = DC_TEXTCLS_IDS_SEG;
        *len = shape[1];
        return DC_OK;
    }
    if (dtype == DC_I64 && ndim == 1 && shape[0] >= 2) {
        *form = DC_TEXTCLS_IDS;
        *len = shape[0];
        return DC_OK;
    }
    if (dtype == DC_F32 && ndim == 1 && shape[0] == vocab) {
        *form = DC_TEXTCLS_BOW;
        return DC_OK;
    }
    char s[64] = "";
    size_t at = 0;
    for (int i = 0; i < ndim && at < sizeof s - 24; i++)
        at += (size_t)snprintf(s + at, sizeof s - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    return dc_err(DC_ERR_SHAPE, "a text classifier's input must be int64 [2, L] (token and "
                  "segment ids), int64 [L] (token ids) or float32 [%lld] (a bag of words over "
                  "the vocabulary), not %s [%s]", (long long)vocab,
                  dtype == DC_I64 ? "int64" : "float32", s);
}

dc_status dc_textcls_encode(const dc_wordpiece *wp, const char *text, size_t n, int64_t max_len,
                            int64_t *ids, int64_t *n_tokens)
{
    const int64_t pad = wp ? dc_wordpiece_special(wp, DC_WP_PAD) : -1,
                  cls = wp ? dc_wordpiece_special(wp, DC_WP_CLS) : -1,
                  sep = wp ? dc_wordpiece_special(wp, DC_WP_SEP) : -1;
    if (max_len < 2 || !ids || (n && !text))
        return dc_err(DC_ERR_ARG, "text encode: max_len %lld leaves no room for [CLS] and [SEP]",
                      (long long)max_len);
    if (pad < 0 || cls < 0 || sep < 0)
        return dc_err(DC_ERR_ARG, "text encode: the vocabulary needs [PAD], [CLS] and [SEP]");
    dc_ids t = {0};
    dc_status st = dc_wordpiece_encode(wp, text ? text : "", n, &t);
    if (st != DC_OK) {
        dc_ids_free(&t);
        return st;
    }
    const int64_t k = t.n < max_len - 2 ? t.n : max_len - 2;
    ids[0] = cls;
    if (k)
        memcpy(ids + 1, t.ids, (size_t)k * sizeof *ids);
    ids[k + 1] = sep;
    for (int64_t i = k + 2; i < max_len; i++)
        ids[i] = pad;
    if (n_tokens)
        *n_tokens = k + 2;
    dc_ids_free(&t);
    return DC_OK;
}

dc_status dc_textcls_bow(const int64_t *ids, int64_t L, int64_t V, int64_t pad, int64_t cls,
                         int64_t sep, float *x)
{
    memset(x, 0, (size_t)V * sizeof *x);
    for (int64_t t = 0; t < L; t++) {
        const int64_t v = ids[t];
        if (v < 0 || v >= V)
            return dc_err(DC_ERR_ARG, "bag of words: id %lld at %lld is outside the vocabulary "
                          "of %lld", (long long)v, (long long)t, (long long)V);
        if (v != pad && v != cls && v != sep)
            x[v] += 1.0f;
    }
    double ss = 0;
    for (int64_t t = 0; t < L; t++) { /* each distinct token once: c -> 1 + ln c */
        const int64_t v = ids[t];
        if (x[v] >= 1.0f) {
            x[v] = -(1.0f + logf(x[v])); /* negative marks it done */
            ss += (double)x[v] * (double)x[v];
        }
    }
    const float s = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (int64_t t = 0; t < L; t++) {
        const int64_t v = ids[t];
        if (x[v] < 0)
            x[v] = -x[v] * s;
    }
    return DC_OK;
}

/* Specials and sizes an input is made with. */
typedef struct tc_fmt {
    dc_textcls_form form;
    int64_t L, V, pad, cls, sep;
} tc_fmt;

/* The model input of b encoded rows rows[i] (each [L] ids) in f's form. */
static dc_tensor *make_input(dc_ctx *ctx, const tc_fmt *f, const int64_t *const *rows, int64_t b)
{
    const int64_t L = f->L;
    if (f->form == DC_TEXTCLS_BOW) {
        dc_tensor *x = dc_empty(ctx, DC_F32, 2, DC_SHAPE(b, f->V));
        for (int64_t i = 0; x && i < b; i++)
            if (dc_textcls_bow(rows[i], L, f->V, f->pad, f->cls, f->sep, dc_f32(x) + i * f->V))
                return NULL;
        return x;
    }
    const int seg = f->form == DC_TEXTCLS_IDS_SEG;
    dc_tensor *x = seg ? dc_zeros(ctx, DC_I64, 3, DC_SHAPE(b, 2, L))
                       : dc_empty(ctx, DC_I64, 2, DC_SHAPE(b, L));
    for (int64_t i = 0; x && i < b; i++)
        memcpy(dc_i64(x) + i * (seg ? 2 : 1) * L, rows[i], (size_t)L * sizeof(int64_t));
    return x;
}

static dc_status fmt_of(const dc_wordpiece *wp, dc_textcls_form form, int64_t max_len,
                        tc_fmt *f)
{
    if (!wp || max_len < 2 || max_len > (1 << 20) ||
        (form != DC_TEXTCLS_IDS_SEG && form != DC_TEXTCLS_IDS && form != DC_TEXTCLS_BOW))
        return dc_err(DC_ERR_ARG, "text input: no vocabulary, a bad form or max_len %lld "
                      "(2 .. 2^20)", (long long)max_len);
    *f = (tc_fmt){.form = form, .L = max_len, .V = dc_wordpiece_size(wp),
                  .pad = dc_wordpiece_special(wp, DC_WP_PAD),
                  .cls = dc_wordpiece_special(wp, DC_WP_CLS),
                  .sep = dc_wordpiece_special(wp, DC_WP_SEP)};
    return DC_OK;
}

dc_tensor *dc_textcls_input(dc_ctx *ctx, const dc_wordpiece *wp, dc_textcls_form form,
                            int64_t max_len, const char *const *texts, int64_t n)
{
    tc_fmt f;
    if (!texts || n < 1)
        return dc_err_null(DC_ERR_ARG, "text input: no texts");
    if (fmt_of(wp, form, max_len, &f) != DC_OK)
        return NULL;
    int64_t *ids = dc_ctx_alloc(ctx, (size_t)(n * max_len) * sizeof *ids);
    const int64_t **rows = dc_ctx_alloc(ctx, (size_t)n * sizeof *rows);
    if (!ids || !rows)
        return dc_err_null(DC_ERR_NOMEM, "text input: out of memory");
    for (int64_t i = 0; i < n; i++) {
        rows[i] = ids + i * max_len;
        if (dc_textcls_encode(wp, texts[i], texts[i] ? strlen(texts[i]) : 0, max_len,
                              ids + i * max_len, NULL) != DC_OK)
            return NULL;
    }
    return make_input(ctx, &f, rows, n);
}

/* ---- dataset ---- */

typedef struct tc_set {
    tc_fmt f;
    int64_t *ids;     /* [n, L] */
    int64_t *labels;  /* [n] */
} tc_set;

static dc_status tc_batch(const dc_dataset *d, dc_ctx *ctx, const int64_t *idx, int64_t b,
                          dc_tensor **x, dc_tensor **y)
{
    const tc_set *s = d->impl;
    const int64_t **rows = dc_ctx_alloc(ctx, (size_t)(b > 0 ? b : 1) * sizeof *rows);
    *y = dc_empty(ctx, DC_I64, 1, DC_SHAPE(b));
    if (!rows || !*y)
        return dc_err(DC_ERR_NOMEM, "text batch: out of memory");
    for (int64_t i = 0; i < b; i++) {
        if (idx[i] < 0 || idx[i] >= d->n)
            return dc_err(DC_ERR_ARG, "text batch: example %lld of %lld", (long long)idx[i],
                          (long long)d->n);
        rows[i] = s->ids + idx[i] * s->f.L;
        dc_i64(*y)[i] = s->labels[idx[i]];
    }
    *x = make_input(ctx, &s->f, rows, b);
    return *x ? DC_OK : dc_last_status();
}

static void tc_destroy(dc_dataset *d)
{
    tc_set *s = d->impl;
    if (s) {
        free(s->ids);
        free(s->labels);
        free(s);
    }
}

dc_dataset *dc_dataset_textcls(const dc_textcls_data *td, const dc_wordpiece *wp,
                               dc_textcls_form form, int64_t max_len)
{
    tc_fmt f;
    if (!td || td->docs.n < 1 || td->n_classes < 1)
        return dc_err_null(DC_ERR_ARG, "text dataset: no examples");
    if (fmt_of(wp, form, max_len, &f) != DC_OK)
        return NULL;
    const int64_t n = td->docs.n;
    dc_dataset *d = calloc(1, sizeof *d);
    tc_set *s = calloc(1, sizeof *s);
    if (s) {
        s->ids = malloc((size_t)(n * max_len) * sizeof *s->ids);
        s->labels = malloc((size_t)n * sizeof *s->labels);
    }
    if (!d || !s || !s->ids || !s->labels) {
        free(d);
        if (s) {
            free(s->ids);
            free(s->labels);
        }
        free(s);
        return dc_err_null(DC_ERR_NOMEM, "text dataset: out of memory for %lld texts",
                           (long long)n);
    }
    *d = (dc_dataset){.n = n, .n_classes = td->n_classes, .batch = tc_batch,
                      .destroy = tc_destroy, .impl = s};
    s->f = f;
    for (int64_t i = 0; i < n; i++) {
        const int c = td->docs.label[i];
        s->labels[i] = c;
        if (c < 0 || c >= td->n_classes) {
            dc_dataset_free(d);
            return dc_err_null(DC_ERR_ARG, "text dataset: example %lld has class %d of %d",
                               (long long)i, c, td->n_classes);
        }
        if (dc_textcls_encode(wp, td->docs.text[i], td->docs.len[i], max_len,
                              s->ids + i * max_len, NULL) != DC_OK) {
            dc_dataset_free(d);
            return NULL;
        }
    }
    return d;
}
