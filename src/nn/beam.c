/*
 * beam.c - beam search for sequence-to-sequence decoding, and the decoding of a seq2seq spec
 * model (input int64 [N, 2, L]: source row, decoder-input row; docs/g2p.md) by full
 * recomputation or, for a Transformer encoder-decoder, with the KV cache of tf_decode.c.
 *
 * Beam search (width K) keeps K live hypotheses, each a prefix BOS y_1 .. y_t with its summed
 * log-probability. At every step the model gives the log-probabilities of the next token of each
 * live hypothesis; the candidates (hypothesis, token) are ranked by summed log-probability
 * (ties: lower hypothesis, then lower token, first). Going down the ranking, a candidate that
 * ends with EOS among the first K is finished, with the length-normalised score
 *     score = Σ log p / (tokens generated, EOS included)^alpha
 * and the others become the next live hypotheses until there are K. The search stops when K
 * hypotheses have finished, or at max_len (the live ones are then finished as they stand). The
 * best-scoring finished hypothesis wins. With K = 1 this is greedy decoding: the arg-max token at
 * every step, until EOS.
 */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    double s;
    int64_t i, v;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    if (x->i != y->i)
        return x->i < y->i ? -1 : 1;
    return x->v < y->v ? -1 : x->v > y->v;
}

/* The search's memory: live prefixes [K, max_len + 1] (two copies: this and the next step),
 * their sums, the candidates, the step's log-probabilities, the best finished one. */
typedef struct beam_mem {
    int64_t *pre, *nxt, *parent, *best;
    double *sum, *nsum;
    cand *c;
    float *logp;
} beam_mem;

static void beam_free(beam_mem *b)
{
    free(b->pre);
    free(b->nxt);
    free(b->parent);
    free(b->best);
    free(b->sum);
    free(b->nsum);
    free(b->c);
    free(b->logp);
    memset(b, 0, sizeof *b);
}

static dc_status beam_alloc(beam_mem *b, int64_t K, int64_t V, int64_t W)
{
    memset(b, 0, sizeof *b);
    b->pre = malloc((size_t)(K * W) * sizeof *b->pre);
    b->nxt = malloc((size_t)(K * W) * sizeof *b->nxt);
    b->parent = malloc((size_t)K * sizeof *b->parent);
    b->best = malloc((size_t)W * sizeof *b->best);
    b->sum = malloc((size_t)K * sizeof *b->sum);
    b->nsum = malloc((size_t)K * sizeof *b->nsum);
    b->c = malloc((size_t)(K * V) * sizeof *b->c);
    b->logp = malloc((size_t)(K * V) * sizeof *b->logp);
    if (b->pre && b->nxt && b->parent && b->best && b->sum && b->nsum && b->c && b->logp)
        return DC_OK;
    beam_free(b);
    return dc_err(DC_ERR_NOMEM, "beam search: out of memory (beam %lld, vocabulary %lld)",
                  (long long)K, (long long)V);
}

/* A finished hypothesis: tokens pre[1..len] (after BOS, without EOS) whose score divides by
 * norm tokens (EOS counted); keep it when it scores best. */
static void finish(const dc_beam_opts *o, const int64_t *pre, int64_t len, int64_t norm,
                   double sum, int64_t *best, int64_t *best_len, double *best_s, int *n_fin)
{
    const double s = sum / pow((double)(norm > 0 ? norm : 1), o->alpha);
    if (*n_fin == 0 || s > *best_s) {
        memcpy(best, pre + 1, (size_t)len * sizeof *best);
        *best_len = len;
        *best_s = s;
    }
    (*n_fin)++;
}

dc_status dc_beam_search(dc_beam_step_fn step, void *impl, int64_t V, const dc_beam_opts *o,
                         int64_t *out, int64_t *n_out, double *score)
{
    const int64_t K = o ? o->beam : 0, W = o ? o->max_len + 1 : 0;
    if (!step || V < 3 || K < 1 || K > 256 || !o || o->max_len < 1 || !out || !n_out ||
        !(o->alpha >= 0))
        return dc_err(DC_ERR_ARG, "beam search: needs a step function, a vocabulary of >= 3, "
                      "beam 1..256, max_len >= 1, alpha >= 0 and outputs");
    beam_mem b;
    dc_status st = beam_alloc(&b, K, V, W);
    if (st != DC_OK)
        return st;
    int64_t n = 1, best_len = 0;
    double best_s = 0;
    int n_fin = 0;
    b.pre[0] = DC_SEQ_BOS;
    b.sum[0] = 0;
    for (int64_t t = 0; t < o->max_len && n > 0 && n_fin < K; t++) {
        if ((st = step(impl, n, t ? b.parent : NULL, b.pre, W, t, b.logp)) != DC_OK)
            break;
        for (int64_t i = 0; i < n; i++)
            for (int64_t v = 0; v < V; v++)
                b.c[i * V + v] = (cand){b.sum[i] + (double)b.logp[i * V + v], i, v};
        qsort(b.c, (size_t)(n * V), sizeof *b.c, cmp_cand);
        int64_t live = 0;
        for (int64_t r = 0; r < n * V && live < K && n_fin < K; r++) {
            const cand *c = &b.c[r];
            if (!isfinite(c->s))
                break;
            if (c->v == DC_SEQ_EOS) {
                if (r < K)
                    finish(o, b.pre + c->i * W, t, t + 1, c->s, b.best, &best_len, &best_s,
                           &n_fin);
                continue;
            }
            memcpy(b.nxt + live * W, b.pre + c->i * W, (size_t)(t + 1) * sizeof *b.nxt);
            b.nxt[live * W + t + 1] = c->v;
            b.nsum[live] = c->s;
            b.parent[live++] = c->i;
        }
        int64_t *tp = b.pre;
        b.pre = b.nxt;
        b.nxt = tp;
        double *ts = b.sum;
        b.sum = b.nsum;
        b.nsum = ts;
        n = live;
        if (t + 1 == o->max_len && n_fin < K) /* out of room: the live ones end as they stand */
            for (int64_t i = 0; i < n; i++)
                finish(o, b.pre + i * W, t + 1, t + 1, b.sum[i], b.best, &best_len, &best_s,
                       &n_fin);
    }
    if (st == DC_OK && n_fin == 0)
        st = dc_err(DC_ERR_NUMERIC, "beam search: no finite hypothesis");
    if (st == DC_OK) {
        memcpy(out, b.best, (size_t)best_len * sizeof *out);
        *n_out = best_len;
        if (score)
            *score = best_s;
    }
    beam_free(&b);
    return st;
}

/* ---- decoding a seq2seq spec model ---- */

dc_status dc_seq2seq_next_logits(dc_ctx *ctx, dc_model *m, const int64_t *src, int64_t S,
                                 const int64_t *prefix, int64_t n, int64_t stride, int64_t t,
                                 float *logits, int64_t *V)
{
    char b[96];
    const int64_t L = S > t + 1 ? S : t + 1;
    dc_tensor *x = dc_zeros(ctx, DC_I64, 3, DC_SHAPE(n, 2, L));
    if (!x)
        return dc_last_status();
    for (int64_t i = 0; i < n; i++) {
        int64_t *row = dc_i64(x) + i * 2 * L;
        for (int64_t j = 0; j < L; j++)
            row[j] = row[L + j] = DC_SEQ_PAD;
        memcpy(row, src, (size_t)S * sizeof *row);
        memcpy(row + L, prefix + i * stride, (size_t)(t + 1) * sizeof *row);
    }
    dc_tensor *y = dc_model_forward(ctx, m, x);
    if (!y)
        return dc_last_status() ? dc_last_status() : DC_ERR_ARG;
    if (y->ndim != 3 || y->shape[0] != n || y->shape[1] != L || (*V > 0 && y->shape[2] != *V))
        return dc_err(DC_ERR_SHAPE, "seq2seq decode: the model must map [n, 2, L] ids to logits "
                      "[n, L, V]; got %s", dc_shape_str(y, b, sizeof b));
    *V = y->shape[2];
    for (int64_t i = 0; i < n && logits; i++)
        memcpy(logits + i * *V, dc_f32(y) + (i * L + t) * *V, (size_t)*V * sizeof *logits);
    return DC_OK;
}

void dc_log_softmax_rows(float *x, int64_t n, int64_t V)
{
    for (int64_t i = 0; i < n; i++) {
        float *r = x + i * V;
        float mx = r[0];
        for (int64_t v = 1; v < V; v++)
            mx = r[v] > mx ? r[v] : mx;
        double z = 0;
        for (int64_t v = 0; v < V; v++)
            z += exp((double)(r[v] - mx));
        const float lz = mx + (float)log(z);
        for (int64_t v = 0; v < V; v++)
            r[v] -= lz;
    }
}

typedef struct full_step {
    dc_model *m;
    dc_ctx *ctx;
    const int64_t *src;
    int64_t S, V;
} full_step;

/* Every step runs the whole model on the source and the prefixes (no cache). */
static dc_status step_full(void *impl, int64_t n, const int64_t *parent, const int64_t *prefix,
                           int64_t stride, int64_t t, float *logp)
{
    full_step *f = impl;
    (void)parent;
    dc_status st = dc_seq2seq_next_logits(f->ctx, f->m, f->src, f->S, prefix, n, stride, t,
                                          logp, &f->V);
    dc_ctx_reset(f->ctx);
    if (st == DC_OK)
        dc_log_softmax_rows(logp, n, f->V);
    return st;
}

static dc_status step_cached(void *impl, int64_t n, const int64_t *parent, const int64_t *prefix,
                             int64_t stride, int64_t t, float *logp)
{
    dc_tf_decoder *d = impl;
    int64_t last[256];
    for (int64_t i = 0; i < n && i < 256; i++)
        last[i] = prefix[i * stride + t];
    dc_status st = dc_tf_decoder_step(d, n, parent, last, logp);
    if (st == DC_OK)
        dc_log_softmax_rows(logp, n, dc_tf_decoder_vocab(d));
    return st;
}

dc_beam_opts dc_beam_defaults(void) { return (dc_beam_opts){1, 64, 1.0}; }

/* One model of a decoding: its KV-cached decoder, or full recomputation. */
typedef struct member {
    dc_tf_decoder *d;
    full_step f;
} member;

/* The models' mean probability of each next token, as a log: log(Σ_i p_i / M). */
typedef struct ensemble {
    member *mb;
    int n;
    int64_t V;
    float *tmp; /* [n - 1, beam, V]: the other models' log-probabilities */
} ensemble;

static dc_status member_step(member *mb, int64_t n, const int64_t *parent,
                             const int64_t *prefix, int64_t stride, int64_t t, float *logp)
{
    return mb->d ? step_cached(mb->d, n, parent, prefix, stride, t, logp)
                 : step_full(&mb->f, n, parent, prefix, stride, t, logp);
}

static dc_status step_ensemble(void *impl, int64_t n, const int64_t *parent,
                               const int64_t *prefix, int64_t stride, int64_t t, float *logp)
{
    ensemble *e = impl;
    const int64_t nv = n * e->V;
    for (int i = 0; i < e->n; i++) {
        float *dst = i ? e->tmp + (size_t)(i - 1) * (size_t)nv : logp;
        dc_status st = member_step(&e->mb[i], n, parent, prefix, stride, t, dst);
        if (st != DC_OK)
            return st;
    }
    const double log_n = log((double)e->n);
    for (int64_t j = 0; j < nv && e->n > 1; j++) { /* log-sum-exp over the models, in double */
        double mx = logp[j];
        for (int i = 1; i < e->n; i++)
            mx = fmax(mx, (double)e->tmp[(size_t)(i - 1) * (size_t)nv + (size_t)j]);
        if (mx == -INFINITY)
            continue; /* every model gives the token probability 0 */
        double z = exp((double)logp[j] - mx);
        for (int i = 1; i < e->n; i++)
            z += exp((double)e->tmp[(size_t)(i - 1) * (size_t)nv + (size_t)j] - mx);
        logp[j] = (float)(mx + log(z) - log_n);
    }
    return DC_OK;
}

static void members_free(member *mb, int n)
{
    for (int i = 0; i < n; i++) {
        dc_tf_decoder_free(mb[i].d);
        dc_ctx_free(mb[i].f.ctx);
    }
    free(mb);
}

/* Model m as member mb for source src (decoder started, or a ctx and the vocabulary found). */
static dc_status member_init(member *mb, dc_model *m, const int64_t *src, int64_t S, int kv)
{
    if (kv && (mb->d = dc_tf_decoder_new(m)) != NULL)
        return dc_tf_decoder_start(mb->d, src, S);
    dc_clear_error();
    mb->f = (full_step){m, dc_ctx_new(0), src, S, 0};
    if (!mb->f.ctx)
        return dc_err(DC_ERR_NOMEM, "seq2seq generate: out of memory");
    dc_ctx_set_grad(mb->f.ctx, 0);
    dc_ctx_set_training(mb->f.ctx, 0);
    const int64_t bos = DC_SEQ_BOS; /* one forward finds the vocabulary (the logits' last dim) */
    dc_status st = dc_seq2seq_next_logits(mb->f.ctx, m, src, S, &bos, 1, 1, 0, NULL, &mb->f.V);
    dc_ctx_reset(mb->f.ctx);
    return st;
}

dc_status dc_seq2seq_generate_ensemble(dc_model *const *ms, int n_models, const int64_t *src,
                                       int64_t S, const dc_beam_opts *o, int kv_cache,
                                       int64_t *out, int64_t *n_out, double *score)
{
    if (!ms || n_models < 1 || n_models > DC_ENSEMBLE_MAX || !src || S < 1 || !o)
        return dc_err(DC_ERR_ARG, "seq2seq generate: needs 1 to %d models, a source of >= 1 "
                      "ids and options", DC_ENSEMBLE_MAX);
    for (int i = 0; i < n_models; i++)
        if (!ms[i])
            return dc_err(DC_ERR_ARG, "seq2seq generate: model %d is NULL", i + 1);
    ensemble e = {calloc((size_t)n_models, sizeof(member)), n_models, 0, NULL};
    dc_status st = e.mb ? DC_OK : dc_err(DC_ERR_NOMEM, "seq2seq generate: out of memory");
    for (int i = 0; i < n_models && st == DC_OK; i++) {
        if ((st = member_init(&e.mb[i], ms[i], src, S, kv_cache)) != DC_OK)
            break;
        const int64_t V = e.mb[i].d ? dc_tf_decoder_vocab(e.mb[i].d) : e.mb[i].f.V;
        if (i && V != e.V)
            st = dc_err(DC_ERR_SHAPE, "seq2seq generate: model %d has %lld output tokens, "
                        "model 1 %lld", i + 1, (long long)V, (long long)e.V);
        e.V = V;
    }
    const int64_t K = o->beam >= 1 && o->beam <= 256 ? o->beam : 0; /* else the search says */
    const size_t n_tmp = (size_t)(n_models - 1) * (size_t)K * (size_t)e.V;
    if (st == DC_OK && n_tmp && !(e.tmp = malloc(n_tmp * sizeof(float))))
        st = dc_err(DC_ERR_NOMEM, "seq2seq generate: out of memory");
    if (st == DC_OK)
        st = dc_beam_search(step_ensemble, &e, e.V, o, out, n_out, score);
    free(e.tmp);
    members_free(e.mb, e.mb ? n_models : 0);
    return st;
}

dc_status dc_seq2seq_generate(dc_model *m, const int64_t *src, int64_t S, const dc_beam_opts *o,
                              int kv_cache, int64_t *out, int64_t *n_out, double *score)
{
    if (!m)
        return dc_err(DC_ERR_ARG, "seq2seq generate: needs a model, a source of >= 1 ids and "
                      "options");
    return dc_seq2seq_generate_ensemble(&m, 1, src, S, o, kv_cache, out, n_out, score);
}
