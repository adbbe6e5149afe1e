/*
 * task_data.c - the dataset task of the trainer (classification and regression on images, npy
 * tensors, CSV digits): a fixed seeded hold-out for validation, a fresh seeded order of the
 * training examples every epoch, batches of o->batch_size, the loss of o->loss, the accuracy of
 * class scores; plus the losses by name and dc_evaluate.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "train/task_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dc_status dc_loss_kind_parse(const char *s, dc_loss_kind *out)
{
    static const struct {
        const char *name;
        dc_loss_kind k;
    } names[] = {{"cross_entropy", DC_LOSS_CROSS_ENTROPY}, {"ce", DC_LOSS_CROSS_ENTROPY},
                 {"mse", DC_LOSS_MSE}, {"l1", DC_LOSS_L1}, {"mae", DC_LOSS_L1},
                 {"smooth_l1", DC_LOSS_SMOOTH_L1}, {"huber", DC_LOSS_HUBER},
                 {"nll", DC_LOSS_NLL}, {"bce", DC_LOSS_BCE},
                 {"bce_with_logits", DC_LOSS_BCE_LOGITS}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].k;
            return DC_OK;
        }
    return dc_err(DC_ERR_ARG, "unknown loss '%s' (cross_entropy, mse, l1, smooth_l1, huber, "
                  "nll, bce, bce_with_logits)", s);
}

dc_tensor *dc_loss(dc_ctx *ctx, dc_loss_kind k, dc_tensor *out, dc_tensor *target)
{
    switch (k) {
    case DC_LOSS_CROSS_ENTROPY: return dc_cross_entropy(ctx, out, target, NULL);
    case DC_LOSS_NLL: return dc_nll_loss(ctx, out, target, NULL);
    case DC_LOSS_MSE: return dc_mse_loss(ctx, out, target, DC_MEAN);
    case DC_LOSS_L1: return dc_l1_loss(ctx, out, target, DC_MEAN);
    case DC_LOSS_SMOOTH_L1: return dc_smooth_l1_loss(ctx, out, target, DC_MEAN, 1.0f);
    case DC_LOSS_HUBER: return dc_huber_loss(ctx, out, target, DC_MEAN, 1.0f);
    case DC_LOSS_BCE: return dc_bce_loss(ctx, out, target, DC_MEAN);
    case DC_LOSS_BCE_LOGITS: return dc_bce_with_logits(ctx, out, target, DC_MEAN, NULL);
    }
    return dc_err_null(DC_ERR_ARG, "unknown loss kind %d", (int)k);
}

void dc_eval_result_free(dc_eval_result *r)
{
    if (r) {
        free(r->confusion);
        r->confusion = NULL;
    }
}

dc_status dc_evaluate(dc_model *m, const dc_dataset *d, const int64_t *idx, int64_t n,
                      int64_t batch, dc_loss_kind loss, dc_eval_result *r)
{
    memset(r, 0, sizeof *r);
    if (!idx)
        n = d->n;
    if (n <= 0)
        return dc_err(DC_ERR_ARG, "evaluate: no examples");
    int64_t *seq = idx ? NULL : malloc((size_t)n * sizeof *seq);
    int64_t *pred = malloc((size_t)(batch > 0 ? batch : 1) * sizeof *pred);
    dc_ctx *ctx = dc_ctx_new(0);
    r->n_classes = d->n_classes;
    if (d->n_classes > 0)
        r->confusion = calloc((size_t)d->n_classes * (size_t)d->n_classes, sizeof(int64_t));
    dc_status st = DC_OK;
    if ((!idx && !seq) || !pred || !ctx || (d->n_classes > 0 && !r->confusion)) {
        st = dc_err(DC_ERR_NOMEM, "evaluate: out of memory");
        goto out;
    }
    if (seq)
        for (int64_t i = 0; i < n; i++)
            seq[i] = i;
    const int64_t *ids = idx ? idx : seq;
    dc_ctx_set_grad(ctx, 0);
    double loss_sum = 0;
    for (int64_t i = 0; i < n && st == DC_OK; i += batch) {
        int64_t b = n - i < batch ? n - i : batch;
        dc_tensor *x, *y;
        st = d->batch(d, ctx, ids + i, b, &x, &y);
        dc_tensor *out = st ? NULL : dc_model_forward(ctx, m, x);
        dc_tensor *l = out ? dc_loss(ctx, loss, out, y) : NULL;
        if (!l) {
            st = st ? st : DC_ERR_ARG;
            break;
        }
        loss_sum += (double)dc_f32(l)[0] * (double)b;
        if (d->n_classes > 0 && out->ndim == 2) {
            dc_argmax_rows(out, pred);
            for (int64_t k = 0; k < b; k++) {
                int64_t t = dc_i64(y)[k], p = pred[k];
                r->correct += t == p;
                if (t >= 0 && t < d->n_classes && p >= 0 && p < d->n_classes)
                    r->confusion[t * d->n_classes + p]++;
            }
        }
        dc_ctx_reset(ctx);
    }
    r->n = n;
    r->loss = loss_sum / (double)n;
    r->accuracy = (double)r->correct / (double)n;
out:
    free(seq);
    free(pred);
    dc_ctx_free(ctx);
    return st;
}

/* ---- the task ---- */

typedef struct data_task {
    const dc_dataset *d;
    dc_train_opts o;       /* batch_size, shuffle, loss, val_size, augment */
    int64_t n_train;
    dc_eval_result last;   /* the last validation */
    int has_last;
} data_task;

/* The order 0..n-1, and with validation a fixed seeded hold-out: the last val_size of one
 * permutation drawn from the loop's stream. */
static dc_status data_start(dc_task *t, dc_rng *rng)
{
    data_task *k = t->impl;
    int64_t *ord = dc_i64(t->order);
    for (int64_t i = 0; i < k->d->n; i++)
        ord[i] = i;
    if (k->o.val_size > 0)
        dc_rng_shuffle(rng, ord, k->d->n);
    return DC_OK;
}

static int64_t data_total(dc_task *t) { return ((data_task *)t->impl)->n_train; }

static dc_status data_begin(dc_task *t, dc_model *m, dc_rng *rng, int64_t pos)
{
    data_task *k = t->impl;
    if (pos == 0 && k->o.shuffle)
        dc_rng_shuffle(rng, dc_i64(t->order), k->n_train);
    return DC_OK;
}

static dc_status data_next(dc_task *t, dc_ctx *ctx, int64_t pos, dc_task_batch *b)
{
    data_task *k = t->impl;
    const int64_t n = k->n_train - pos < k->o.batch_size ? k->n_train - pos : k->o.batch_size;
    b->units_per_row = 1;
    b->advance = n;
    return k->d->batch(k->d, ctx, dc_i64(t->order) + pos, n, &b->x, &b->y);
}

dc_tensor *dc_task_train_loss(dc_ctx *ctx, const dc_train_opts *o, dc_tensor *out, dc_tensor *y)
{
    if (o->loss != DC_LOSS_CROSS_ENTROPY || o->label_smoothing == 0.0f)
        return dc_loss(ctx, o->loss, out, y);
    dc_ce_opts ce = dc_ce_defaults();
    ce.label_smoothing = o->label_smoothing;
    return dc_cross_entropy(ctx, out, y, &ce);
}

static dc_tensor *data_loss(dc_task *t, dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor *y,
                            double *correct)
{
    data_task *k = t->impl;
    dc_tensor *out = dc_model_forward(ctx, m, x);
    dc_tensor *l = out ? dc_task_train_loss(ctx, &k->o, out, y) : NULL;
    *correct = -1;
    if (l && k->d->n_classes > 0 && out->ndim == 2) {
        int64_t ok = 0;
        dc_accuracy(out, y, &ok);
        *correct = (double)ok;
    }
    return l;
}

static dc_status data_validate(dc_task *t, dc_model *m, dc_task_eval *v)
{
    data_task *k = t->impl;
    memset(v, 0, sizeof *v);
    v->metric = -1;
    if (k->o.val_size <= 0)
        return DC_OK;
    dc_eval_result r;
    dc_status st = dc_evaluate(m, k->d, dc_i64(t->order) + k->n_train, k->o.val_size, 256,
                               k->o.loss, &r);
    if (st != DC_OK)
        return st;
    dc_eval_result_free(&k->last);
    k->last = r;
    k->has_last = 1;
    v->has = 1;
    v->loss = v->select = r.loss;
    v->metric = r.accuracy;
    return DC_OK;
}

static void data_destroy(dc_task *t)
{
    data_task *k = t->impl;
    dc_eval_result_free(&k->last);
    dc_tensor_free(t->order);
    free(k);
}

const dc_eval_result *dc_task_dataset_eval(const dc_task *t)
{
    const data_task *k = t && !strcmp(t->name, "data") ? t->impl : NULL;
    return k && k->has_last ? &k->last : NULL;
}

dc_task *dc_task_dataset(const dc_dataset *d, const dc_train_opts *o)
{
    if (!d || !o || o->val_size < 0 || o->val_size >= d->n)
        return dc_err_null(DC_ERR_ARG, "train: need 0 <= validation examples < %lld (got %lld)",
                           d ? (long long)d->n : 0LL, o ? (long long)o->val_size : 0LL);
    if (dc_task_check_label_smoothing(o, "train", 1) != DC_OK)
        return NULL;
    dc_task *t = calloc(1, sizeof *t);
    data_task *k = calloc(1, sizeof *k);
    dc_tensor *order = dc_tensor_new(DC_I64, 1, DC_SHAPE(d->n));
    if (!t || !k || !order) {
        free(t);
        free(k);
        dc_tensor_free(order);
        return dc_err_null(DC_ERR_NOMEM, "train: out of memory");
    }
    *k = (data_task){.d = d, .o = *o, .n_train = d->n - o->val_size};
    *t = (dc_task){.name = "data", .unit = "ex", .metric_name = "acc", .mid_epoch_resume = 1,
                   .order = order, .start = data_start, .epoch_total = data_total,
                   .epoch_begin = data_begin,
                   .next = data_next, .loss = data_loss, .validate = data_validate,
                   .destroy = data_destroy, .impl = k};
    return t;
}
