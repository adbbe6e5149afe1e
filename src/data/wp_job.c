/*
 * wp_job.c - the work of `deepc tokenize` (wp_job.h): vocabulary, texts, encode, decode, train
 * on top of the WordPiece tokenizer (wordpiece.c, wordpiece_train.c). Errors go through dc_err;
 * nothing is printed here.
 */
#define _POSIX_C_SOURCE 200809L
#include "data/wp_job.h"
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Cased: no lower-casing and no accent stripping. */
static dc_wp_opts job_opts(const dc_wp_job *j)
{
    dc_wp_opts o = dc_wp_defaults();
    if (j->cased) {
        o.lower_case = 0;
        o.strip_accents = 0;
    }
    return o;
}

dc_wordpiece *dc_wp_job_vocab(const dc_wp_job *j)
{
    if (!j->vocab) {
        dc_err(DC_ERR_ARG, "--vocab vocab.txt is required");
        return NULL;
    }
    dc_wp_opts o = job_opts(j);
    return dc_wordpiece_load(j->vocab, &o);
}

dc_status dc_wp_job_texts(const dc_wp_job *j, uint8_t **texts, size_t *lens, int *n)
{
    *n = 0;
    if (j->text) {
        if (!(texts[0] = (uint8_t *)strdup(j->text)))
            return dc_err(DC_ERR_NOMEM, "out of memory");
        lens[0] = strlen(j->text);
        *n = 1;
        return DC_OK;
    }
    if (j->n_in > DC_WP_JOB_MAX_IN)
        return dc_err(DC_ERR_ARG, "at most %d files", DC_WP_JOB_MAX_IN);
    for (int i = 0; i < j->n_in; i++) {
        dc_status st = strncmp(j->in[i], "bert:", 5) /* bert:SOURCES: the BERT documents */
                           ? dc_text_load(j->in[i], 0, &texts[i], &lens[i])
                           : dc_bert_docs_text(j->in[i] + 5, &texts[i], &lens[i]);
        if (st != DC_OK)
            return st;
        *n = i + 1;
    }
    return *n ? DC_OK : dc_err(DC_ERR_ARG, "give the text with --text TEXT or --in FILE");
}

static void free_texts(uint8_t **texts, int n)
{
    for (int i = 0; i < n; i++)
        free(texts[i]);
}

/* e->ids/e->n from the encoded a (and b): [CLS] a [SEP] (b [SEP]) with segment ids. */
static dc_status bert_wrap(const dc_wp_job *j, const dc_ids *a, const dc_ids *b,
                           dc_wp_encoded *e)
{
    int64_t cls = dc_wordpiece_special(e->wp, DC_WP_CLS);
    int64_t sep = dc_wordpiece_special(e->wp, DC_WP_SEP);
    if (cls < 0 || sep < 0)
        return dc_err(DC_ERR_ARG, "%s has no [CLS] or [SEP]", j->vocab);
    e->ids = malloc((size_t)j->max_len * sizeof *e->ids);
    e->seg = malloc((size_t)j->max_len * sizeof *e->seg);
    if (!e->ids || !e->seg)
        return dc_err(DC_ERR_NOMEM, "out of memory");
    return dc_bert_encode_pair(a->ids, a->n, b ? b->ids : NULL, b ? b->n : 0, cls, sep,
                               j->max_len, e->ids, e->seg, &e->n);
}

dc_status dc_wp_job_encode(const dc_wp_job *j, dc_wp_encoded *e)
{
    memset(e, 0, sizeof *e);
    uint8_t *texts[DC_WP_JOB_MAX_IN] = {0};
    size_t lens[DC_WP_JOB_MAX_IN] = {0};
    int n = 0;
    dc_ids ids = {0}, pair = {0};
    dc_status st = (e->wp = dc_wp_job_vocab(j)) ? dc_wp_job_texts(j, texts, lens, &n)
                                                 : DC_ERR_ARG;
    double t0 = now_s();
    clock_t c0 = clock(); /* CPU time too: on a busy machine the wall time mostly waits */
    for (int i = 0; i < n && st == DC_OK; i++) {
        e->bytes += lens[i];
        st = dc_wordpiece_encode(e->wp, (const char *)texts[i], lens[i], &ids);
    }
    if (st == DC_OK && j->pair)
        st = dc_wordpiece_encode(e->wp, j->pair, strlen(j->pair), &pair);
    e->wall_s = now_s() - t0;
    e->cpu_s = (double)(clock() - c0) / CLOCKS_PER_SEC;
    e->n_tokens = ids.n + pair.n;
    if (st == DC_OK && (j->bert || j->pair)) {
        st = bert_wrap(j, &ids, j->pair ? &pair : NULL, e);
    } else if (st == DC_OK) { /* the list itself */
        e->ids = ids.ids;
        e->n = ids.n;
        ids = (dc_ids){0};
    }
    free_texts(texts, n);
    dc_ids_free(&ids);
    dc_ids_free(&pair);
    if (st != DC_OK)
        dc_wp_encoded_free(e);
    return st;
}

void dc_wp_encoded_free(dc_wp_encoded *e)
{
    dc_wordpiece_free(e->wp);
    free(e->ids);
    free(e->seg);
    memset(e, 0, sizeof *e);
}

/* id: a decimal in [0, n). */
static dc_status parse_id(const char *s, int64_t n, int64_t *id)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < 0 || v >= n)
        return dc_err(DC_ERR_ARG, "id '%s' is not an integer in [0, %lld]", s,
                      (long long)n - 1);
    *id = v;
    return DC_OK;
}

dc_status dc_wp_job_decode(const dc_wp_job *j, const char *const *ids, int n, unsigned flags,
                           char **text)
{
    *text = NULL;
    dc_wordpiece *wp = dc_wp_job_vocab(j);
    if (!wp)
        return DC_ERR_ARG;
    int64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    dc_status st = v ? DC_OK : dc_err(DC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && st == DC_OK; i++)
        st = parse_id(ids[i], dc_wordpiece_size(wp), &v[i]);
    if (st == DC_OK)
        st = dc_wordpiece_decode(wp, v, n, flags, text);
    free(v);
    dc_wordpiece_free(wp);
    return st;
}

dc_wordpiece *dc_wp_job_train(const dc_wp_job *j, int64_t vocab_size, int64_t min_freq,
                              const char *out)
{
    uint8_t *texts[DC_WP_JOB_MAX_IN] = {0};
    size_t lens[DC_WP_JOB_MAX_IN] = {0};
    int n = 0;
    dc_wp_train_opts o = dc_wp_train_defaults();
    o.vocab_size = vocab_size;
    if (min_freq)
        o.min_frequency = min_freq;
    o.basic = job_opts(j);
    dc_wordpiece *wp = NULL;
    if (!out || vocab_size <= 0)
        dc_err(DC_ERR_ARG, "needs --vocab-size N, --in FILE... and --out vocab.txt");
    else if (dc_wp_job_texts(j, texts, lens, &n) == DC_OK &&
             (wp = dc_wordpiece_train((const char *const *)texts, lens, n, &o)) &&
             dc_wordpiece_save(wp, out) != DC_OK) {
        dc_wordpiece_free(wp);
        wp = NULL;
    }
    free_texts(texts, n);
    return wp;
}

void dc_wp_encoded_print(FILE *f, const dc_wp_encoded *e, int ids_only)
{
    if (!ids_only) {
        fprintf(f, "tokens:");
        for (int64_t i = 0; i < e->n; i++)
            fprintf(f, " %s", dc_wordpiece_token(e->wp, e->ids[i]));
        fprintf(f, "\nids:");
    }
    for (int64_t i = 0; i < e->n; i++)
        fprintf(f, ids_only && i == 0 ? "%lld" : " %lld", (long long)e->ids[i]);
    fprintf(f, "\n");
    if (e->seg && !ids_only) {
        fprintf(f, "segments:");
        for (int64_t i = 0; i < e->n; i++)
            fprintf(f, " %lld", (long long)e->seg[i]);
        fprintf(f, "\n");
    }
}
