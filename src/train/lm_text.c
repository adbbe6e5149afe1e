/*
 * lm_text.c - the text of a character language model and sampling from one (lm_text.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "lm_text.h"
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dc_status dc_corpus_load(const char *path, dc_corpus *c)
{
    memset(c, 0, sizeof *c);
    dc_status st = dc_text_load(path, 0, &c->text, &c->n);
    if (st == DC_OK)
        st = dc_vocab_build(c->text, c->n, &c->v);
    if (st == DC_OK && !(c->ids = malloc(c->n * sizeof *c->ids)))
        st = dc_err(DC_ERR_NOMEM, "%s: out of memory for %zu ids", path, c->n);
    if (st == DC_OK)
        st = dc_vocab_encode(&c->v, c->text, c->n, c->ids);
    if (st != DC_OK)
        dc_corpus_free(c);
    return st;
}

dc_status dc_corpus_split(const dc_corpus *c, int64_t val, size_t *n_train)
{
    *n_train = c->n;
    if (val < 0)
        return dc_text_split(c->n, 0.1, n_train);
    if ((uint64_t)val >= c->n)
        return dc_err(DC_ERR_ARG, "--val %lld: the text has only %zu characters", (long long)val,
                      c->n);
    *n_train = c->n - (size_t)val;
    return DC_OK;
}

dc_status dc_corpus_save_vocab(const dc_corpus *c, const char *dir)
{
    char *p = malloc(strlen(dir) + sizeof "/vocab.txt");
    if (!p)
        return dc_err(DC_ERR_NOMEM, "out of memory");
    sprintf(p, "%s/vocab.txt", dir);
    dc_status st = dc_vocab_save(&c->v, p);
    free(p);
    return st;
}

void dc_corpus_free(dc_corpus *c)
{
    free(c->text);
    free(c->ids);
    c->text = NULL;
    c->ids = NULL;
}

/* The ids [from, from + n_in) of ids[0..n_all) that step i feeds: a recurrent model (window 0)
 * the prime once, then the last id; with a KV cache (incr) the ids after the cached ones
 * (*start: the cache's first position, *fed: its length), the cache restarted when full; else
 * the last up-to-window ids. */
static void feed_range(dc_model *m, int64_t window, int incr, int64_t i, int64_t n_all,
                       int64_t *start, int64_t *fed, int64_t *from, int64_t *n_in)
{
    if (window == 0) {
        *from = i ? n_all - 1 : 0;
        *n_in = i ? 1 : n_all;
    } else if (incr) {
        if (n_all - *start > window) {
            dc_model_reset_state(m);
            *start = n_all - window;
            *fed = 0;
        }
        *from = *start + *fed;
        *n_in = n_all - *from;
    } else {
        *n_in = n_all < window ? n_all : window;
        *from = n_all - *n_in;
    }
}

/* A recurrent model (dc_model_context 0) runs with carry on: the prime runs through the
 * network once, then every sampled id is fed back as a [1, 1] input. A Transformer sees the
 * last up-to-context ids: with kv_cache (and a model that can) incrementally, carry on, only
 * the new ids fed and the cache restarted from the last context-many ids when it is full; else
 * all of them every time. */
dc_status dc_lm_generate(dc_model *m, const dc_vocab *v, const char *prime, int64_t len,
                         float temp, int top_k, float top_p, dc_rng *rng, FILE *out,
                         int kv_cache)
{
    const size_t np = strlen(prime);
    int can_kv = 0;
    const int64_t window = dc_model_context(m, &can_kv);
    const int incr = window == 0 || (kv_cache && can_kv);
    dc_ctx *ctx = dc_ctx_new(0);
    int64_t *ids = malloc((np + (window ? (size_t)len : 0) + 1) * sizeof *ids);
    dc_status rc = DC_ERR_NOMEM;
    if (!ctx || !ids) {
        dc_err(rc, "generate: out of memory");
        goto done;
    }
    rc = DC_ERR_ARG;
    if (np == 0) /* no prime: start from the vocabulary's first symbol (a newline in fortunes) */
        ids[0] = 0;
    else if (dc_vocab_encode(v, (const uint8_t *)prime, np, ids) != DC_OK)
        goto done;
    dc_ctx_set_grad(ctx, 0);
    dc_ctx_set_training(ctx, 0);
    if (window == 0)
        dc_model_set_carry(m, 1);
    else if (incr && dc_model_set_kv_cache(m, 1) != DC_OK)
        goto done;
    fwrite(prime, 1, np, out);
    int64_t n_all = np ? (int64_t)np : 1, start = 0, fed = 0; /* fed: ids in the KV cache */
    for (int64_t i = 0; i < len; i++) {
        int64_t from, n_in;
        feed_range(m, window, incr, i, n_all, &start, &fed, &from, &n_in);
        dc_tensor *x = dc_empty(ctx, DC_I64, 2, DC_SHAPE(1, n_in));
        if (!x)
            goto done;
        memcpy(x->data, ids + from, sizeof(int64_t) * (size_t)n_in);
        dc_tensor *y = dc_model_forward(ctx, m, x);
        if (y && (y->ndim != 3 || y->shape[2] != v->n)) {
            rc = dc_err(DC_ERR_SHAPE, "the model must give logits [1, t, %d]", v->n);
            goto done;
        }
        if (!y)
            goto done;
        fed += n_in;
        const float *last = dc_f32(y) + (n_in - 1) * v->n;
        int k = dc_sample_logits_p(last, v->n, temp, top_k, top_p, rng);
        if (k < 0)
            goto done;
        fputc(v->to_byte[k], out);
        if (window) {
            ids[n_all++] = k;
        } else {
            ids[0] = k;
            n_all = 1;
        }
        dc_ctx_reset(ctx);
    }
    fputc('\n', out);
    rc = DC_OK;
done:
    dc_model_set_carry(m, 0);
    if (window && incr)
        dc_model_set_kv_cache(m, 0);
    free(ids);
    dc_ctx_free(ctx);
    return rc;
}
