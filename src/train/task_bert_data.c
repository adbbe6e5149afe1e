/*
 * task_bert_data.c - the data of BERT pre-training from a source list (docs/bert.md):
 * "fortunes=PATH,spam=DIR" -> documents -> a held-out share of documents -> sentences of
 * WordPiece ids, for dc_task_bert. The CLI's `--data bert:SOURCES` is this one call.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dc_bert_data_free(dc_bert_data *d)
{
    if (!d)
        return;
    dc_wordpiece_free(d->wp);
    dc_bert_corpus_free(d->train);
    dc_bert_corpus_free(d->val);
    free(d);
}

dc_bert_data *dc_bert_data_load(const char *sources, const char *vocab_path,
                                const dc_wp_opts *o, double val_fraction, uint64_t seed)
{
    if (!sources || !vocab_path)
        return dc_err_null(DC_ERR_ARG, "bert data: need sources and a vocabulary (--vocab)");
    dc_bert_data *d = calloc(1, sizeof *d);
    dc_docs all = {0}, tr = {0}, va = {0};
    dc_status st = d ? dc_bert_docs_load(sources, &all) : dc_err(DC_ERR_NOMEM, "bert data: "
                                                             "out of memory");
    if (st == DC_OK && !(d->wp = dc_wordpiece_load(vocab_path, o)))
        st = dc_last_status();
    if (st == DC_OK)
        st = dc_docs_split(&all, val_fraction, seed, &tr, &va);
    dc_docs_free(&all);
    if (st == DC_OK && !(d->train = dc_bert_corpus_new(d->wp, &tr)))
        st = dc_last_status();
    if (st == DC_OK && va.n > 0 && !(d->val = dc_bert_corpus_new(d->wp, &va)))
        st = dc_last_status();
    if (st == DC_OK) {
        d->n_docs = tr.n + va.n;
        d->n_val_docs = va.n;
    }
    dc_docs_free(&tr);
    dc_docs_free(&va);
    if (st != DC_OK) {
        dc_bert_data_free(d);
        return NULL;
    }
    return d;
}

/* An integer value of key k into *out, within [lo, hi]. */
static dc_status int_value(const char *k, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return dc_err(DC_ERR_ARG, "bert data: %s=%s is not an integer in [%lld, %lld]", k, v,
                      (long long)lo, (long long)hi);
    *out = x;
    return DC_OK;
}

/* One KEY=VALUE item (modified) of the form: a source appended to sources, the rest into
 * *vocab, *val_docs and *bo. */
static dc_status form_item(char *it, char *sources, const char **vocab, double *val_docs,
                           dc_bert_task_opts *bo)
{
    char *eq = strchr(it, '='), *end;
    if (!eq)
        return dc_err(DC_ERR_ARG, "bert data: '%s' is not KEY=VALUE", it);
    *eq = 0;
    const char *v = eq + 1;
    if (!strcmp(it, "fortunes") || !strcmp(it, "spam")) {
        sprintf(sources + strlen(sources), "%s%s=%s", *sources ? "," : "", it, v);
        return DC_OK;
    }
    if (!strcmp(it, "vocab")) {
        *vocab = v;
        return DC_OK;
    }
    if (!strcmp(it, "val_docs")) {
        *val_docs = strtod(v, &end);
        return end != v && !*end && *val_docs >= 0 && *val_docs <= 0.5
                   ? DC_OK : dc_err(DC_ERR_ARG, "bert data: val_docs=%s is not in [0, 0.5]", v);
    }
    if (!strcmp(it, "max_len"))
        return int_value(it, v, 3, 512, &bo->data.max_len);
    if (!strcmp(it, "epoch_pairs"))
        return int_value(it, v, 0, INT64_MAX, &bo->epoch_pairs);
    if (!strcmp(it, "val_pairs"))
        return int_value(it, v, 0, INT64_MAX, &bo->val_pairs);
    return dc_err(DC_ERR_ARG, "bert data: unknown key '%s' (fortunes, spam, vocab, max_len, "
                  "epoch_pairs, val_pairs, val_docs)", it);
}

dc_bert_data *dc_bert_data_open(const char *form, uint64_t seed, dc_bert_task_opts *bo)
{
    if (!form || !bo)
        return dc_err_null(DC_ERR_ARG, "bert data: NULL form or options");
    char *list = strdup(form), *sources = calloc(strlen(form) + 1, 1), *save = NULL;
    const char *vocab = NULL;
    double val_docs = 0.05;
    dc_status st = list && sources ? DC_OK : dc_err(DC_ERR_NOMEM, "bert data: out of memory");
    for (char *it = st ? NULL : strtok_r(list, ",", &save); it && st == DC_OK;
         it = strtok_r(NULL, ",", &save))
        st = form_item(it, sources, &vocab, &val_docs, bo);
    dc_bert_data *d = st == DC_OK ? dc_bert_data_load(sources, vocab, NULL, val_docs, seed) : NULL;
    free(list);
    free(sources);
    return d;
}
