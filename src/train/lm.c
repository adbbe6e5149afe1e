/*
 * lm.c - the language-model task of the trainer (char-RNN) with truncated backpropagation
 * through time: B parallel streams, chunks of T steps, the RNN state carried from one chunk to the
 * next and detached, so each backward pass spans T steps while the state sees the whole text; and
 * dc_evaluate_lm.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "train/task_opts.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

/* Cross-entropy of logits [B, t, V] against y [B, t] as one [B·t, V] batch. */
static dc_tensor *lm_loss(dc_ctx *ctx, dc_tensor *logits, dc_tensor *y)
{
    if (!logits || !y)
        return NULL;
    if (logits->ndim != 3 || logits->shape[0] != y->shape[0] || logits->shape[1] != y->shape[1]) {
        char a[64], b[64];
        return dc_err_null(DC_ERR_SHAPE, "language model: the model must map ids [B, t] to "
                           "logits [B, t, V]; got %s for ids %s",
                           dc_shape_str(logits, a, sizeof a), dc_shape_str(y, b, sizeof b));
    }
    const int64_t n = y->shape[0] * y->shape[1], V = logits->shape[2];
    return dc_cross_entropy(ctx, dc_reshape(ctx, logits, 2, DC_SHAPE(n, V)),
                            dc_reshape(ctx, y, 1, DC_SHAPE(n)), NULL);
}

dc_status dc_evaluate_lm(dc_model *m, const int64_t *ids, int64_t n, int64_t b, int64_t t,
                         double *loss)
{
    *loss = 0;
    dc_text_stream *s = dc_text_stream_new(ids, n, b, t);
    dc_ctx *ctx = s ? dc_ctx_new(0) : NULL;
    dc_status st = !s ? dc_last_status() : ctx ? DC_OK : DC_ERR_NOMEM;
    double sum = 0;
    int64_t count = 0;
    if (st == DC_OK) {
        dc_ctx_set_grad(ctx, 0);
        dc_ctx_set_training(ctx, 0);
        dc_model_set_carry(m, 1);
    }
    while (st == DC_OK) {
        dc_tensor *x, *y;
        if ((st = dc_text_stream_next(s, ctx, &x, &y)) != DC_OK || !x)
            break;
        dc_tensor *l = lm_loss(ctx, dc_model_forward(ctx, m, x), y);
        if (!l) {
            st = DC_ERR_ARG;
            break;
        }
        sum += (double)dc_f32(l)[0] * (double)y->numel;
        count += y->numel;
        dc_ctx_reset(ctx);
    }
    dc_model_set_carry(m, 0);
    dc_ctx_free(ctx);
    dc_text_stream_free(s);
    if (st == DC_OK)
        *loss = count ? sum / (double)count : 0;
    return st;
}

/* ---- the language-model task ---- */

typedef struct lm_task {
    dc_text_stream *s;     /* the training streams */
    int64_t *val;          /* validation ids (copied) or NULL */
    int64_t n_val, B, T;
} lm_task;

/* pos: time steps done along every stream; an epoch ends at L - 1. */
static int64_t lm_total(dc_task *t) { return ((lm_task *)t->impl)->s->L - 1; }

/* One step per chunk of T time steps. */
static int64_t lm_steps(dc_task *t)
{
    const lm_task *k = t->impl;
    return (k->s->L - 1 + k->T - 1) / k->T;
}

/* Every pass starts from zero states and carries them from chunk to chunk. (With a recurrent
 * model the task resumes at epoch ends only: a carried state is not in the checkpoint.) */
static dc_status lm_begin(dc_task *t, dc_model *m, dc_rng *rng, int64_t pos)
{
    lm_task *k = t->impl;
    k->s->pos = pos;
    dc_model_set_carry(m, 1);
    return DC_OK;
}

/* A model without carried states (a Transformer: no recurrent layer) resumes exactly inside an
 * epoch: every chunk starts afresh, so the position alone says where the run was. */
static void lm_bind(dc_task *t, const dc_model *m)
{
    t->mid_epoch_resume = dc_model_context(m, NULL) > 0;
}

static dc_status lm_next(dc_task *t, dc_ctx *ctx, int64_t pos, dc_task_batch *b)
{
    lm_task *k = t->impl;
    k->s->pos = pos;
    dc_status st = dc_text_stream_next(k->s, ctx, &b->x, &b->y);
    if (st == DC_OK && !b->x)
        return dc_err(DC_ERR_STATE, "language model: no chunk at position %lld", (long long)pos);
    b->units_per_row = b->x ? b->x->shape[1] : 0;
    b->advance = b->units_per_row;
    return st;
}

static dc_tensor *lm_task_loss(dc_task *t, dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor *y,
                               double *correct)
{
    *correct = -1;
    return lm_loss(ctx, dc_model_forward(ctx, m, x), y);
}

/* Validation: mean cross-entropy of the validation ids, streams of B, chunks of T, states carried
 * (PyTorch's evaluate()); the metric is bits per character. */
static dc_status lm_validate(dc_task *t, dc_model *m, dc_task_eval *v)
{
    lm_task *k = t->impl;
    dc_model_set_carry(m, 0); /* the training pass is over */
    memset(v, 0, sizeof *v);
    v->metric = -1;
    if (k->n_val < 2)
        return DC_OK;
    dc_status st = dc_evaluate_lm(m, k->val, k->n_val, k->B, k->T, &v->loss);
    if (st == DC_OK) {
        v->has = 1;
        v->select = v->loss;
        v->metric = v->loss / log(2.0);
    }
    return st;
}

static dc_status lm_finish(dc_task *t, dc_model *m)
{
    dc_model_set_carry(m, 0);
    return DC_OK;
}

static void lm_destroy(dc_task *t)
{
    lm_task *k = t->impl;
    dc_text_stream_free(k->s);
    free(k->val);
    free(k);
}

dc_task *dc_task_lm(const int64_t *train_ids, int64_t n_train, const int64_t *val_ids,
                    int64_t n_val, const dc_train_opts *o)
{
    if (dc_task_refuse_label_smoothing(o, "language modelling") != DC_OK)
        return NULL;
    const int64_t T = o->bptt > 0 ? o->bptt : 64;
    if (o->batch_size <= 0 || n_train < 2 * o->batch_size)
        return dc_err_null(DC_ERR_ARG, "train_lm: need at least 2 training symbols per stream "
                           "(%lld symbols, %lld streams)", (long long)n_train,
                           (long long)o->batch_size);
    dc_task *t = calloc(1, sizeof *t);
    lm_task *k = calloc(1, sizeof *k);
    if (k) {
        k->s = dc_text_stream_new(train_ids, n_train, o->batch_size, T);
        k->val = n_val > 1 ? malloc((size_t)n_val * sizeof *k->val) : NULL;
    }
    if (!t || !k || !k->s || (n_val > 1 && !k->val)) {
        const bool stream_said = k && !k->s; /* its own error: no memory, or a negative id */
        if (k) {
            dc_text_stream_free(k->s);
            free(k->val);
        }
        free(k);
        free(t);
        return stream_said ? NULL : dc_err_null(DC_ERR_NOMEM, "train_lm: out of memory");
    }
    if (k->val)
        memcpy(k->val, val_ids, (size_t)n_val * sizeof *k->val);
    k->n_val = n_val > 1 ? n_val : 0;
    k->B = o->batch_size;
    k->T = T;
    *t = (dc_task){.name = "lm", .unit = "tok", .metric_name = "bpc", .mid_epoch_resume = 0,
                   .bind = lm_bind, .epoch_total = lm_total, .epoch_steps = lm_steps,
                   .epoch_begin = lm_begin, .next = lm_next,
                   .loss = lm_task_loss, .validate = lm_validate, .finish = lm_finish,
                   .destroy = lm_destroy, .impl = k};
    return t;
}

dc_status dc_train_lm(dc_model *m, const int64_t *train_ids, int64_t n_train,
                      const int64_t *val_ids, int64_t n_val, const dc_train_opts *o,
                      dc_lm_result *last)
{
    if (last)
        memset(last, 0, sizeof *last);
    if (o->epochs <= 0)
        return dc_err(DC_ERR_ARG, "train_lm: need epochs > 0");
    dc_task *t = dc_task_lm(train_ids, n_train, val_ids, n_val, o);
    if (!t)
        return dc_last_status();
    dc_task_eval v;
    dc_status st = dc_train_task(m, t, o, &v);
    if (last)
        *last = (dc_lm_result){.train_loss = v.train_loss, .val_loss = v.has ? v.loss : 0,
                               .val_bpc = v.has ? v.loss / log(2.0) : 0,
                               .tokens_per_s = v.units_per_s, .steps = v.steps};
    dc_task_free(t);
    return st;
}
