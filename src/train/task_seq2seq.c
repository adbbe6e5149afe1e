/*
 * task_seq2seq.c - the sequence-to-sequence task of the trainer (grapheme-to-phoneme on
 * CMUdict, docs/g2p.md): teacher forcing over padded batches of (source, target) pairs.
 *
 * A batch of n pairs is x int64 [n, 2, L] (row 0 the source, row 1 BOS then the target: the
 * decoder's input) and y int64 [n, L] (the target then EOS), padded with DC_SEQ_PAD to
 * L = max(longest source, longest target + 1). The model maps x to logits [n, L, V]; the loss is
 * the mean cross-entropy over the positions whose target is not padding (ignore_index), so
 * padding costs nothing and sends no gradient. Each epoch's order is a seeded shuffle, then
 * bucketing: within chunks of 64 batches the pairs are sorted by length (source, then target) and
 * the chunk's whole batches are put in a seeded order, so a batch holds pairs of about one length
 * (little padding) and the batches still come in a random order. The order is the checkpoint's
 * train.order: a resumed epoch continues exactly. Validation: the teacher-forced loss and token
 * accuracy of the validation pairs.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "train/task_opts.h"

#include <stdlib.h>
#include <string.h>

#define BUCKET_BATCHES 64

typedef struct s2s_task {
    dc_seq_pairs tr, va;   /* copies */
    int64_t B;
    int64_t *val_order;    /* validation pairs sorted by length */
    float smoothing;       /* the training loss's label smoothing */
} s2s_task;

static int64_t slen(const dc_seq_pairs *p, int64_t i) { return p->src_off[i + 1] - p->src_off[i]; }
static int64_t tlen(const dc_seq_pairs *p, int64_t i) { return p->tgt_off[i + 1] - p->tgt_off[i]; }

dc_status dc_seq2seq_batch(dc_ctx *ctx, const dc_seq_pairs *p, const int64_t *idx, int64_t n,
                           dc_tensor **x, dc_tensor **y)
{
    int64_t L = 1;
    for (int64_t k = 0; k < n; k++) {
        const int64_t i = idx[k];
        if (i < 0 || i >= p->n)
            return dc_err(DC_ERR_ARG, "seq2seq batch: pair %lld of %lld", (long long)i,
                          (long long)p->n);
        L = slen(p, i) > L ? slen(p, i) : L;
        L = tlen(p, i) + 1 > L ? tlen(p, i) + 1 : L;
    }
    *x = dc_zeros(ctx, DC_I64, 3, DC_SHAPE(n, 2, L));
    *y = dc_zeros(ctx, DC_I64, 2, DC_SHAPE(n, L));
    if (!*x || !*y)
        return dc_last_status();
    if (DC_SEQ_PAD != 0)
        for (int64_t j = 0; j < n * L; j++)
            dc_i64(*y)[j] = dc_i64(*x)[j] = dc_i64(*x)[n * L + j] = DC_SEQ_PAD;
    for (int64_t k = 0; k < n; k++) {
        const int64_t i = idx[k], S = slen(p, i), T = tlen(p, i);
        int64_t *src = dc_i64(*x) + k * 2 * L, *din = src + L, *tgt = dc_i64(*y) + k * L;
        memcpy(src, p->src + p->src_off[i], (size_t)S * sizeof *src);
        din[0] = DC_SEQ_BOS;
        memcpy(din + 1, p->tgt + p->tgt_off[i], (size_t)T * sizeof *din);
        memcpy(tgt, p->tgt + p->tgt_off[i], (size_t)T * sizeof *tgt);
        tgt[T] = DC_SEQ_EOS;
    }
    return DC_OK;
}

static dc_tensor *loss_ids(dc_ctx *ctx, dc_tensor *logits, dc_tensor *y, float smoothing,
                           int64_t *correct, int64_t *tokens);

dc_tensor *dc_seq2seq_loss_ids(dc_ctx *ctx, dc_tensor *logits, dc_tensor *y, int64_t *correct,
                               int64_t *tokens)
{
    return loss_ids(ctx, logits, y, 0.0f, correct, tokens);
}

/* The same with label smoothing ε (the training loss of dc_train_opts.label_smoothing). */
static dc_tensor *loss_ids(dc_ctx *ctx, dc_tensor *logits, dc_tensor *y, float smoothing,
                           int64_t *correct, int64_t *tokens)
{
    char a[96], b[96];
    if (!logits || !y)
        return NULL;
    if (logits->ndim != 3 || y->ndim != 2 || logits->shape[0] != y->shape[0] ||
        logits->shape[1] != y->shape[1])
        return dc_err_null(DC_ERR_SHAPE, "seq2seq: the model must map x [n, 2, L] to logits "
                           "[n, L, V]; got %s for targets %s", dc_shape_str(logits, a, sizeof a),
                           dc_shape_str(y, b, sizeof b));
    const int64_t R = y->numel, V = logits->shape[2];
    int64_t ok = 0, tok = 0;
    for (int64_t r = 0; r < R; r++) {
        const int64_t t = dc_i64(y)[r];
        if (t == DC_SEQ_PAD)
            continue;
        const float *l = dc_f32(logits) + r * V;
        int64_t best = 0;
        for (int64_t v = 1; v < V; v++)
            best = l[v] > l[best] ? v : best;
        ok += best == t;
        tok++;
    }
    if (correct)
        *correct = ok;
    if (tokens)
        *tokens = tok;
    dc_ce_opts o = dc_ce_defaults();
    o.ignore_index = DC_SEQ_PAD;
    o.label_smoothing = smoothing;
    return dc_cross_entropy(ctx, dc_reshape(ctx, logits, 2, DC_SHAPE(R, V)),
                            dc_reshape(ctx, y, 1, DC_SHAPE(R)), &o);
}

/* ---- the order: shuffle, then buckets by length ---- */

/* A sort key (lengths), the position that breaks ties (a stable sort) and the pair. */
typedef struct keyed {
    int64_t key, pos, idx;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static dc_status bucket(s2s_task *k, int64_t *ord, dc_rng *rng)
{
    const int64_t n = k->tr.n, C = k->B * BUCKET_BATCHES;
    keyed *kv = malloc((size_t)(C < n ? C : n) * sizeof *kv);
    int64_t *tmp = malloc((size_t)(C < n ? C : n) * sizeof *tmp);
    int64_t *bo = malloc((size_t)BUCKET_BATCHES * sizeof *bo);
    if (!kv || !tmp || !bo) {
        free(kv);
        free(tmp);
        free(bo);
        return dc_err(DC_ERR_NOMEM, "seq2seq: out of memory for the order");
    }
    for (int64_t c0 = 0; c0 < n; c0 += C) {
        const int64_t m = n - c0 < C ? n - c0 : C, nb = m / k->B;
        for (int64_t j = 0; j < m; j++) { /* stable: the position breaks ties */
            const int64_t i = ord[c0 + j];
            kv[j] = (keyed){slen(&k->tr, i) * 256 + tlen(&k->tr, i), j, i};
        }
        qsort(kv, (size_t)m, sizeof *kv, cmp_keyed);
        for (int64_t b = 0; b < nb; b++)
            bo[b] = b;
        dc_rng_shuffle(rng, bo, nb);
        for (int64_t b = 0; b < nb; b++)
            for (int64_t j = 0; j < k->B; j++)
                tmp[b * k->B + j] = kv[bo[b] * k->B + j].idx;
        for (int64_t j = nb * k->B; j < m; j++)
            tmp[j] = kv[j].idx;
        memcpy(ord + c0, tmp, (size_t)m * sizeof *tmp);
    }
    free(kv);
    free(tmp);
    free(bo);
    return DC_OK;
}

static dc_status s2s_start(dc_task *t, dc_rng *rng)
{
    (void)rng;
    for (int64_t i = 0; i < ((s2s_task *)t->impl)->tr.n; i++)
        dc_i64(t->order)[i] = i;
    return DC_OK;
}

static int64_t s2s_total(dc_task *t) { return ((s2s_task *)t->impl)->tr.n; }

static dc_status s2s_begin(dc_task *t, dc_model *m, dc_rng *rng, int64_t pos)
{
    (void)m;
    s2s_task *k = t->impl;
    if (pos > 0)
        return DC_OK;
    dc_rng_shuffle(rng, dc_i64(t->order), k->tr.n);
    return bucket(k, dc_i64(t->order), rng);
}

static dc_status s2s_next(dc_task *t, dc_ctx *ctx, int64_t pos, dc_task_batch *b)
{
    s2s_task *k = t->impl;
    const int64_t n = k->tr.n - pos < k->B ? k->tr.n - pos : k->B;
    b->units_per_row = 1;
    b->advance = n;
    return dc_seq2seq_batch(ctx, &k->tr, dc_i64(t->order) + pos, n, &b->x, &b->y);
}

/* *correct: the rows times the batch's token accuracy, so the epoch's "acc" is the mean token
 * accuracy over batches weighted by their rows. */
static dc_tensor *s2s_loss(dc_task *t, dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor *y,
                           double *correct)
{
    const s2s_task *k = t->impl;
    int64_t ok = 0, tok = 0;
    dc_tensor *l = loss_ids(ctx, dc_model_forward(ctx, m, x), y, k->smoothing, &ok, &tok);
    *correct = l && tok ? (double)x->shape[0] * (double)ok / (double)tok : -1;
    return l;
}

dc_status dc_seq2seq_evaluate(dc_model *m, const dc_seq2seq_eval_in *in, double *loss,
                              double *token_acc)
{
    if (!m || !in || !in->pairs || (in->n > 0 && !in->idx) || in->n < 0 || in->batch < 1 ||
        !loss || !token_acc) /* batch 0 would never advance */
        return dc_err(DC_ERR_ARG, "seq2seq evaluate: needs a model, pairs, n >= 0 indices, "
                      "a batch >= 1 and outputs");
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx)
        return dc_err(DC_ERR_NOMEM, "seq2seq evaluate: out of memory");
    dc_ctx_set_grad(ctx, 0);
    dc_ctx_set_training(ctx, 0);
    double sum = 0;
    int64_t ok_all = 0, tok_all = 0;
    dc_status st = DC_OK;
    for (int64_t i = 0; i < in->n && st == DC_OK; i += in->batch) {
        const int64_t b = in->n - i < in->batch ? in->n - i : in->batch;
        dc_tensor *x, *y;
        int64_t ok = 0, tok = 0;
        st = dc_seq2seq_batch(ctx, in->pairs, in->idx + i, b, &x, &y);
        dc_tensor *l = st ? NULL : dc_seq2seq_loss_ids(ctx, dc_model_forward(ctx, m, x), y,
                                                       &ok, &tok);
        if (!l) {
            st = st ? st : dc_last_status() ? dc_last_status() : DC_ERR_ARG;
            break;
        }
        sum += (double)dc_f32(l)[0] * (double)tok;
        ok_all += ok;
        tok_all += tok;
        dc_ctx_reset(ctx);
    }
    dc_ctx_free(ctx);
    *loss = tok_all ? sum / (double)tok_all : 0;
    *token_acc = tok_all ? (double)ok_all / (double)tok_all : 0;
    return st;
}

static dc_status s2s_validate(dc_task *t, dc_model *m, dc_task_eval *v)
{
    s2s_task *k = t->impl;
    memset(v, 0, sizeof *v);
    v->metric = -1;
    if (k->va.n == 0)
        return DC_OK;
    dc_seq2seq_eval_in in = {&k->va, k->val_order, k->va.n, 256};
    dc_status st = dc_seq2seq_evaluate(m, &in, &v->loss, &v->metric);
    if (st == DC_OK) {
        v->has = 1;
        v->select = v->loss;
    }
    return st;
}

static void s2s_destroy(dc_task *t)
{
    s2s_task *k = t->impl;
    dc_seq_pairs_free(&k->tr);
    dc_seq_pairs_free(&k->va);
    free(k->val_order);
    dc_tensor_free(t->order);
    free(k);
}

/* A copy of p (n may be 0). */
static dc_status copy_pairs(const dc_seq_pairs *p, dc_seq_pairs *q)
{
    memset(q, 0, sizeof *q);
    const int64_t n = p ? p->n : 0, ns = n ? p->src_off[n] : 0, nt = n ? p->tgt_off[n] : 0;
    q->src_off = malloc((size_t)(n + 1) * 8);
    q->tgt_off = malloc((size_t)(n + 1) * 8);
    q->src = malloc((size_t)(ns + 1) * 8);
    q->tgt = malloc((size_t)(nt + 1) * 8);
    if (!q->src_off || !q->tgt_off || !q->src || !q->tgt) {
        dc_seq_pairs_free(q);
        return dc_err(DC_ERR_NOMEM, "seq2seq: out of memory for %lld pairs", (long long)n);
    }
    q->src_off[0] = q->tgt_off[0] = 0;
    if (n) {
        memcpy(q->src_off, p->src_off, (size_t)(n + 1) * 8);
        memcpy(q->tgt_off, p->tgt_off, (size_t)(n + 1) * 8);
        memcpy(q->src, p->src, (size_t)ns * 8);
        memcpy(q->tgt, p->tgt, (size_t)nt * 8);
    }
    q->n = n;
    return DC_OK;
}

/* The pairs must be well formed: offsets from 0, non-decreasing, sources and targets of 1 to
 * DC_G2P_MAX_LEN ids, no padding, BOS or EOS inside. */
static dc_status check_pairs(const char *what, const dc_seq_pairs *p)
{
    for (int64_t i = 0; p && i < p->n; i++) {
        const int64_t S = slen(p, i), T = tlen(p, i);
        if (S < 1 || T < 1 || S > DC_G2P_MAX_LEN || T > DC_G2P_MAX_LEN)
            return dc_err(DC_ERR_ARG, "seq2seq: %s pair %lld has a source of %lld and a target "
                          "of %lld ids (1 to %d each)", what, (long long)i, (long long)S,
                          (long long)T, DC_G2P_MAX_LEN);
        for (int64_t j = p->tgt_off[i]; j < p->tgt_off[i + 1]; j++)
            if (p->tgt[j] <= DC_SEQ_EOS && p->tgt[j] >= 0)
                return dc_err(DC_ERR_ARG, "seq2seq: %s pair %lld: target id %lld is padding, "
                              "BOS or EOS", what, (long long)i, (long long)p->tgt[j]);
    }
    return DC_OK;
}

/* The validation pairs in order of length (fewer padded positions). */
static dc_status sort_val(s2s_task *k)
{
    const int64_t n = k->va.n;
    keyed *kv = malloc((size_t)(n ? n : 1) * sizeof *kv);
    k->val_order = malloc((size_t)(n ? n : 1) * sizeof *k->val_order);
    if (!kv || !k->val_order) {
        free(kv);
        return dc_err(DC_ERR_NOMEM, "seq2seq: out of memory");
    }
    for (int64_t i = 0; i < n; i++)
        kv[i] = (keyed){slen(&k->va, i) * 256 + tlen(&k->va, i), i, i};
    qsort(kv, (size_t)n, sizeof *kv, cmp_keyed);
    for (int64_t i = 0; i < n; i++)
        k->val_order[i] = kv[i].idx;
    free(kv);
    return DC_OK;
}

dc_task *dc_task_seq2seq(const dc_seq_pairs *train, const dc_seq_pairs *val,
                         const dc_train_opts *o)
{
    if (!train || train->n < 1 || !o || o->batch_size < 1)
        return dc_err_null(DC_ERR_ARG, "seq2seq: needs training pairs and a batch size >= 1");
    if (check_pairs("training", train) != DC_OK || check_pairs("validation", val) != DC_OK ||
        dc_task_check_label_smoothing(o, "seq2seq", 0) != DC_OK)
        return NULL;
    dc_task *t = calloc(1, sizeof *t);
    s2s_task *k = calloc(1, sizeof *k);
    dc_tensor *order = dc_tensor_new(DC_I64, 1, DC_SHAPE(train->n));
    if (!t || !k || !order || copy_pairs(train, &k->tr) != DC_OK ||
        copy_pairs(val, &k->va) != DC_OK || sort_val(k) != DC_OK) {
        if (k) {
            dc_seq_pairs_free(&k->tr);
            dc_seq_pairs_free(&k->va);
            free(k->val_order);
        }
        free(t);
        free(k);
        dc_tensor_free(order);
        return dc_err_null(DC_ERR_NOMEM, "seq2seq: out of memory");
    }
    k->B = o->batch_size;
    k->smoothing = o->label_smoothing;
    *t = (dc_task){.name = "seq2seq", .unit = "seq", .metric_name = "tok_acc",
                   .mid_epoch_resume = 1, .order = order, .start = s2s_start,
                   .epoch_total = s2s_total, .epoch_begin = s2s_begin, .next = s2s_next,
                   .loss = s2s_loss, .validate = s2s_validate, .destroy = s2s_destroy,
                   .impl = k};
    return t;
}
