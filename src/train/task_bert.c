/*
 * task_bert.c - BERT pre-training as a trainer task (docs/bert.md): masked language model +
 * next-sentence prediction on `[CLS] A [SEP] B [SEP]` pairs.
 *
 *   x = int64 [B, 2, T]: token ids (masked, [PAD] = 0 after the pair) and segment ids, T the
 *       batch's longest pair (at most max_len)
 *   y = int64 [B, T + 1]: MLM labels (the original id where masked, -100 elsewhere), NSP label
 *   loss = CE(cls.predictions at the M masked positions [M, V], their ids; mean over M)
 *        + CE(cls.seq_relationship [B, 2], nsp; mean over the pairs)
 * The MLM head runs on the masked positions only (dc_model_forward_except leaves it out of the
 * model's forward): the same loss and gradients as Hugging Face's head over all B·L positions
 * with ignore_index -100, at about 15% of the head's cost.
 *
 * Every random choice is a pure function of (seed, epoch, pos): the epoch's NSP pairs come from a
 * generator seeded by (seed, epoch), the masks of the batch at pos from one seeded by (seed,
 * epoch, pos), the order of the pairs from the loop's generator (train.order). So a checkpoint
 * holds only the epoch and the training accuracy sums (task state text) and resumes exactly.
 * Validation uses pairs and masks drawn once (fixed), in eval mode without a tape.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "train/task_opts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BERT_GOLDEN 0x9e3779b97f4a7c15ULL
#define BERT_PAIR_STREAM (1ULL << 62) /* pos streams are below it */
#define BERT_VAL_STREAM ((1ULL << 62) + 1)

enum { S_MLM_OK, S_MLM_N, S_NSP_OK, S_NSP_N, S_MLM_LOSS, S_NSP_LOSS, S_COUNT };

typedef struct bert_task {
    const dc_bert_corpus *c;  /* training sentences (outlives the task) */
    dc_bert_task_opts bo;
    int64_t B;
    uint64_t seed;
    dc_bert_pairs pairs;      /* the epoch's pairs */
    int64_t n_pairs, total;   /* pairs per draw; examples per epoch */
    int64_t epoch;            /* the epoch in progress (1-based); 0 before the first */
    double sums[S_COUNT];     /* the epoch's training counts so far */
    dc_tensor *vx, *vy;       /* the fixed validation examples, or NULL */
} bert_task;

static const char *const bert_metric_names[6] = {"mlm_acc", "nsp_acc", "val_mlm_acc",
                                                 "val_nsp_acc", "val_mlm_loss", "val_nsp_loss"};

dc_bert_task_opts dc_bert_task_defaults(void)
{
    return (dc_bert_task_opts){.data = dc_bert_defaults(), .epoch_pairs = 0, .val_pairs = 1024};
}

/* The examples of batch bb as x [n, 2, T] and y [n, T + 1], T the longest example's length
 * (padding to the batch's longest, as Hugging Face's collator does: the positions after it are
 * [PAD] in every row, hidden from attention and never masked, so the losses are those of the
 * full max_len; the encoder does less work). *tokens: the batch's non-padding tokens. */
static dc_status bert_pack(dc_ctx *ctx, const dc_bert_batch *bb, dc_tensor **x, dc_tensor **y,
                           int64_t *tokens)
{
    const int64_t n = bb->input_ids->shape[0], L = bb->input_ids->shape[1];
    int64_t T = 1;
    *tokens = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t len = 0;
        for (int64_t j = 0; j < L; j++)
            len += dc_i64(bb->attention_mask)[i * L + j];
        *tokens += len;
        T = len > T ? len : T;
    }
    *x = dc_empty(ctx, DC_I64, 3, DC_SHAPE(n, 2, T));
    *y = dc_empty(ctx, DC_I64, 2, DC_SHAPE(n, T + 1));
    if (!*x || !*y)
        return DC_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        int64_t *xi = dc_i64(*x) + i * 2 * T, *yi = dc_i64(*y) + i * (T + 1);
        memcpy(xi, dc_i64(bb->input_ids) + i * L, (size_t)T * sizeof *xi);
        memcpy(xi + T, dc_i64(bb->token_type_ids) + i * L, (size_t)T * sizeof *xi);
        memcpy(yi, dc_i64(bb->labels) + i * L, (size_t)T * sizeof *yi);
        yi[T] = dc_i64(bb->next_sentence_label)[i];
    }
    return DC_OK;
}

/* Index of the largest of v[0..n) (the first on ties). */
static int64_t argmax(const float *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* The labels of y [n, L + 1]: the masked positions of the n·L tokens into pos [M] and their
 * targets into tgt [M] (int64 arena tensors, NULL when M is 0), the NSP labels into nsp [n]. */
static dc_status bert_labels(dc_ctx *ctx, const dc_tensor *y, dc_tensor **pos, dc_tensor **tgt,
                             dc_tensor **nsp)
{
    const int64_t n = y->shape[0], L = y->shape[1] - 1;
    int64_t M = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < L; j++)
            M += dc_i64(y)[i * (L + 1) + j] != -100;
    *pos = *tgt = NULL;
    *nsp = dc_empty(ctx, DC_I64, 1, DC_SHAPE(n));
    if (M > 0) {
        *pos = dc_empty(ctx, DC_I64, 1, DC_SHAPE(M));
        *tgt = dc_empty(ctx, DC_I64, 1, DC_SHAPE(M));
    }
    if (!*nsp || (M > 0 && (!*pos || !*tgt)))
        return dc_err(DC_ERR_NOMEM, "bert pre-training: out of memory");
    for (int64_t i = 0, k = 0; i < n; i++) {
        const int64_t *yi = dc_i64(y) + i * (L + 1);
        dc_i64(*nsp)[i] = yi[L];
        for (int64_t j = 0; j < L; j++)
            if (yi[j] != -100) {
                dc_i64(*pos)[k] = i * L + j;
                dc_i64(*tgt)[k++] = yi[j];
            }
    }
    return DC_OK;
}

/* The MLM head (module im) on the rows pos of its input h [n, L, E]: logits [M, V]. The same
 * numbers as the head on every position followed by taking the masked rows (the cross-entropy
 * ignores the others), at M/(n·L) of the cost. */
static dc_tensor *mlm_masked(dc_ctx *ctx, dc_model *m, int im, dc_tensor *h, dc_tensor *pos)
{
    dc_module *head = dc_model_module(m, im);
    if (h->ndim != 3)
        return dc_err_null(DC_ERR_SHAPE, "bert pre-training: the input of %s must be [N, T, E]",
                           head->name);
    const int64_t E = h->shape[2];
    dc_tensor *rows = dc_embedding(ctx, pos, dc_reshape(ctx, h, 2, DC_SHAPE(h->numel / E, E)),
                                   -1);
    dc_ctx_set_scope(ctx, head->name);
    dc_tensor *out = rows ? head->forward(ctx, head, rows) : NULL;
    dc_ctx_set_scope(ctx, NULL);
    return out;
}

/* Forward x, the pre-training loss against y (on the tape when recording) and the counts of
 * s[S_COUNT] added: correct/counted MLM tokens and NSP pairs, and the loss sums. */
static dc_tensor *bert_forward_loss(dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor *y,
                                    double *s)
{
    const int im = dc_model_find_module(m, "cls.predictions");
    const int in = dc_model_find_module(m, "cls.seq_relationship");
    const int *hin = NULL;
    if (im < 0 || in < 0 || dc_model_module_inputs(m, im, &hin) != 1)
        return dc_err_null(DC_ERR_ARG, "bert pre-training: the model needs the layers "
                           "cls.predictions (one input) and cls.seq_relationship "
                           "(models/bert_mini_pre)");
    dc_tensor **outs = dc_ctx_alloc(ctx, sizeof *outs * (size_t)dc_model_n_modules(m));
    if (!outs)
        return dc_err_null(DC_ERR_NOMEM, "bert pre-training: out of memory");
    if (!dc_model_forward_except(ctx, m, x, outs, im))
        return NULL;
    dc_tensor *nsp = outs[in], *h = hin[0] == DC_MODEL_INPUT ? x : outs[hin[0]], *pos, *tgt, *nl;
    const int64_t n = x->shape[0];
    if (nsp->ndim != 2 || nsp->shape[0] != n || nsp->shape[1] != 2)
        return dc_err_null(DC_ERR_SHAPE, "bert pre-training: cls.seq_relationship must give "
                           "[%lld, 2]", (long long)n);
    if (bert_labels(ctx, y, &pos, &tgt, &nl) != DC_OK)
        return NULL;
    dc_tensor *l = dc_cross_entropy(ctx, nsp, nl, NULL), *mlm = NULL;
    if (l)
        s[S_NSP_LOSS] += (double)dc_f32(l)[0] * (double)n;
    if (l && pos) { /* a batch without a masked token has the NSP loss alone */
        mlm = mlm_masked(ctx, m, im, h, pos);
        dc_tensor *a = mlm ? dc_cross_entropy(ctx, mlm, tgt, NULL) : NULL;
        if (a)
            s[S_MLM_LOSS] += (double)dc_f32(a)[0] * (double)tgt->numel;
        l = a ? dc_add(ctx, a, l) : NULL;
    }
    for (int64_t r = 0; l && mlm && r < tgt->numel; r++)
        s[S_MLM_OK] += argmax(dc_f32(mlm) + r * mlm->shape[1], mlm->shape[1]) == dc_i64(tgt)[r];
    for (int64_t i = 0; l && i < n; i++)
        s[S_NSP_OK] += argmax(dc_f32(nsp) + 2 * i, 2) == dc_i64(nl)[i];
    s[S_MLM_N] += pos ? (double)pos->numel : 0;
    s[S_NSP_N] += (double)n;
    return l;
}

/* ---- the task's callbacks ---- */

static int64_t bert_total(dc_task *t) { return ((bert_task *)t->impl)->total; }

static dc_status bert_start(dc_task *t, dc_rng *rng)
{
    bert_task *k = t->impl;
    for (int64_t i = 0; i < k->n_pairs; i++)
        dc_i64(t->order)[i] = i;
    k->epoch = 0;
    return DC_OK;
}

/* pos 0: the next epoch (fresh pairs and order); else the same epoch's pairs again (resume). */
static dc_status bert_begin(dc_task *t, dc_model *m, dc_rng *rng, int64_t pos)
{
    bert_task *k = t->impl;
    if (pos == 0) {
        k->epoch++;
        memset(k->sums, 0, sizeof k->sums);
        dc_rng_shuffle(rng, dc_i64(t->order), k->n_pairs);
    }
    dc_rng r;
    dc_rng_seed(&r, k->seed + BERT_GOLDEN * (uint64_t)k->epoch, BERT_PAIR_STREAM);
    dc_bert_pairs_free(&k->pairs);
    dc_status st = dc_bert_pairs_draw(k->c, &k->bo.data, &r, &k->pairs);
    if (st == DC_OK && k->pairs.n != k->n_pairs)
        st = dc_err(DC_ERR_STATE, "bert pre-training: %lld pairs drawn, %lld expected",
                    (long long)k->pairs.n, (long long)k->n_pairs);
    return st;
}

static dc_status bert_next(dc_task *t, dc_ctx *ctx, int64_t pos, dc_task_batch *b)
{
    bert_task *k = t->impl;
    const int64_t n = k->total - pos < k->B ? k->total - pos : k->B;
    dc_rng r;
    dc_rng_seed(&r, k->seed + BERT_GOLDEN * (uint64_t)k->epoch, (uint64_t)pos);
    dc_bert_batch bb;
    int64_t tokens = 0;
    dc_status st = dc_bert_batch_make(ctx, k->c, &k->pairs, dc_i64(t->order) + pos, n,
                                      &k->bo.data, &r, &bb);
    if (st == DC_OK)
        st = bert_pack(ctx, &bb, &b->x, &b->y, &tokens);
    b->units_per_row = (tokens + n - 1) / n; /* the rate counts tokens, not padding */
    b->advance = n;
    return st;
}

static dc_tensor *bert_loss(dc_task *t, dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor *y,
                            double *correct)
{
    *correct = -1;
    return bert_forward_loss(ctx, m, x, y, ((bert_task *)t->impl)->sums);
}

/* Rows [lo, hi) of the heap tensor t as an arena view. */
static dc_tensor *row_view(dc_ctx *ctx, const dc_tensor *t, int64_t lo, int64_t hi)
{
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = hi - lo;
    return dc_wrap(ctx, t->dtype, t->ndim, shape, dc_i64(t) + lo * (t->numel / t->shape[0]));
}

static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

static dc_status bert_validate(dc_task *t, dc_model *m, dc_task_eval *v)
{
    bert_task *k = t->impl;
    double s[S_COUNT] = {0};
    dc_status st = DC_OK;
    memset(v, 0, sizeof *v);
    v->metric = -1;
    if (k->vx) {
        dc_ctx *ctx = dc_ctx_new(0);
        if (!ctx)
            return dc_err(DC_ERR_NOMEM, "bert pre-training: out of memory");
        dc_ctx_set_grad(ctx, 0);
        dc_ctx_set_training(ctx, 0);
        const int64_t N = k->vx->shape[0];
        for (int64_t i = 0; i < N && st == DC_OK; i += k->B) {
            const int64_t hi = i + k->B < N ? i + k->B : N;
            if (!bert_forward_loss(ctx, m, row_view(ctx, k->vx, i, hi),
                                   row_view(ctx, k->vy, i, hi), s))
                st = dc_last_status() != DC_OK ? dc_last_status() : DC_ERR_ARG;
            dc_ctx_reset(ctx);
        }
        dc_ctx_free(ctx);
        v->has = st == DC_OK;
        v->loss = v->select = ratio(s[S_MLM_LOSS], s[S_MLM_N]) + s[S_NSP_LOSS] / (double)N;
    }
    const double e[6] = {ratio(k->sums[S_MLM_OK], k->sums[S_MLM_N]),
                         ratio(k->sums[S_NSP_OK], k->sums[S_NSP_N]),
                         ratio(s[S_MLM_OK], s[S_MLM_N]), ratio(s[S_NSP_OK], s[S_NSP_N]),
                         ratio(s[S_MLM_LOSS], s[S_MLM_N]), ratio(s[S_NSP_LOSS], s[S_NSP_N])};
    for (int i = 0; i < 6; i++)
        v->extra_metrics[i] = e[i];
    return st;
}

/* State text: "epoch" and the training sums of the epoch in progress (exact, %a). */
static char *bert_state_save(dc_task *t)
{
    const bert_task *k = t->impl;
    char *s = malloc(256);
    if (s)
        snprintf(s, 256, "bert %lld %a %a %a %a %a %a", (long long)k->epoch, k->sums[0],
                 k->sums[1], k->sums[2], k->sums[3], k->sums[4], k->sums[5]);
    return s;
}

static dc_status bert_state_load(dc_task *t, const char *text)
{
    bert_task *k = t->impl;
    long long e;
    double s[S_COUNT];
    int used = 0;
    if (!text || sscanf(text, "bert %lld %la %la %la %la %la %la%n", &e, &s[0], &s[1], &s[2],
                        &s[3], &s[4], &s[5], &used) != 7 || text[used] || e < 0 ||
        e > DC_TRAIN_MAX_EPOCHS)
        return dc_err(DC_ERR_FORMAT, "checkpoint: the BERT state '%.60s' is not \"bert epoch "
                      "sums...\" (a checkpoint of another kind of run?)", text ? text : "");
    for (int i = 0; i < S_COUNT; i++)
        if (!(s[i] >= 0))
            return dc_err(DC_ERR_FORMAT, "checkpoint: a negative BERT sum in '%.60s'", text);
    k->epoch = e;
    memcpy(k->sums, s, sizeof s);
    return DC_OK;
}

static void bert_destroy(dc_task *t)
{
    bert_task *k = t->impl;
    dc_bert_pairs_free(&k->pairs);
    dc_tensor_free(k->vx);
    dc_tensor_free(k->vy);
    dc_tensor_free(t->order);
    free(k);
}

/* The fixed validation examples: pairs and masks drawn once from (seed, VAL stream). */
static dc_status bert_val_make(bert_task *k, const dc_bert_corpus *val)
{
    dc_rng r;
    dc_rng_seed(&r, k->seed, BERT_VAL_STREAM);
    dc_bert_pairs p = {0};
    dc_status st = dc_bert_pairs_draw(val, &k->bo.data, &r, &p);
    dc_ctx *ctx = st == DC_OK ? dc_ctx_new(0) : NULL;
    const int64_t n = k->bo.val_pairs > 0 && k->bo.val_pairs < p.n ? k->bo.val_pairs : p.n;
    int64_t *idx = malloc((size_t)(p.n > 0 ? p.n : 1) * sizeof *idx), tokens;
    if (st == DC_OK && (!ctx || !idx))
        st = dc_err(DC_ERR_NOMEM, "bert pre-training: out of memory");
    for (int64_t i = 0; st == DC_OK && i < p.n; i++)
        idx[i] = i;
    if (st == DC_OK)
        dc_rng_shuffle(&r, idx, p.n); /* spread the subset over the held-out documents */
    dc_bert_batch bb;
    dc_tensor *x = NULL, *y = NULL;
    if (st == DC_OK && (st = dc_bert_batch_make(ctx, val, &p, idx, n, &k->bo.data, &r, &bb)) ==
        DC_OK && (st = bert_pack(ctx, &bb, &x, &y, &tokens)) == DC_OK) {
        k->vx = dc_tensor_new(DC_I64, 3, x->shape);
        k->vy = dc_tensor_new(DC_I64, 2, y->shape);
        if (!k->vx || !k->vy)
            st = dc_err(DC_ERR_NOMEM, "bert pre-training: out of memory");
        else {
            memcpy(k->vx->data, x->data, (size_t)x->numel * sizeof(int64_t));
            memcpy(k->vy->data, y->data, (size_t)y->numel * sizeof(int64_t));
        }
    }
    free(idx);
    dc_ctx_free(ctx);
    dc_bert_pairs_free(&p);
    return st;
}

/* Pairs per draw: the sentences with a successor in their document. */
static int64_t pair_count(const dc_bert_corpus *c)
{
    int64_t n = 0;
    for (int64_t d = 0; d < c->n_docs; d++)
        n += c->doc_sent[d + 1] - c->doc_sent[d] > 1 ? c->doc_sent[d + 1] - c->doc_sent[d] - 1
                                                     : 0;
    return n;
}

dc_task *dc_task_bert(const dc_bert_corpus *c, const dc_bert_corpus *val,
                      const dc_bert_task_opts *bo, const dc_train_opts *o)
{
    if (!c || !bo || !o || o->batch_size < 1 || bo->epoch_pairs < 0 || bo->val_pairs < 0)
        return dc_err_null(DC_ERR_ARG, "bert pre-training: NULL corpus or options, or a bad "
                           "batch size or pair count");
    if (dc_task_refuse_label_smoothing(o, "bert pre-training") != DC_OK)
        return NULL;
    if (c->pad != 0 || (val && (val->vocab != c->vocab || val->pad != 0)))
        return dc_err_null(DC_ERR_ARG, "bert pre-training: the model hides id 0 as [PAD], so "
                           "[PAD] must be the vocabulary's first token (and validation must use "
                           "the same vocabulary)");
    const int64_t n_pairs = pair_count(c);
    if (n_pairs < 1)
        return dc_err_null(DC_ERR_ARG, "bert pre-training: no sentence has a next sentence");
    dc_task *t = calloc(1, sizeof *t);
    bert_task *k = calloc(1, sizeof *k);
    dc_tensor *order = dc_tensor_new(DC_I64, 1, DC_SHAPE(n_pairs));
    if (!t || !k || !order) {
        free(t);
        free(k);
        dc_tensor_free(order);
        return dc_err_null(DC_ERR_NOMEM, "bert pre-training: out of memory");
    }
    *k = (bert_task){.c = c, .bo = *bo, .B = o->batch_size, .seed = o->seed,
                     .n_pairs = n_pairs,
                     .total = bo->epoch_pairs > 0 && bo->epoch_pairs < n_pairs ? bo->epoch_pairs
                                                                              : n_pairs};
    *t = (dc_task){.name = "bert", .unit = "tok", .metric_name = NULL,
                   .n_extra_metrics = 6, .extra_metric_names = bert_metric_names,
                   .mid_epoch_resume = 1, .order = order, .state_save = bert_state_save,
                   .state_load = bert_state_load, .start = bert_start,
                   .epoch_total = bert_total, .epoch_begin = bert_begin, .next = bert_next,
                   .loss = bert_loss, .validate = bert_validate, .destroy = bert_destroy,
                   .impl = k};
    if (val && bert_val_make(k, val) != DC_OK) {
        dc_task_free(t);
        return NULL;
    }
    return t;
}
