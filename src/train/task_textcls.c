/*
 * task_textcls.c - the text-classification task of the trainer (docs/text-classification.md):
 * training on a fixed list of examples in a fresh seeded order every epoch, validation on
 * another fixed list after every epoch with accuracy and F1 (of the positive class, or macro);
 * the scores of a confusion matrix; and starting a model from another one's weights
 * (fine-tuning a pre-trained encoder: what loads, what stays initialised, what is not used).
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "train/task_opts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dc_status dc_cls_scores_of(const int64_t *cm, int K, int positive, dc_cls_scores *out)
{
    if (!cm || !out || K < 1 || positive < -1 || positive >= K)
        return dc_err(DC_ERR_ARG, "scores: need a confusion matrix of K >= 1 classes and a "
                      "positive class in [-1, K) (K %d, positive %d)", K, positive);
    int64_t n = 0, ok = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            n += cm[i * K + j];
            ok += i == j ? cm[i * K + j] : 0;
        }
    if (n <= 0)
        return dc_err(DC_ERR_ARG, "scores: the confusion matrix holds no examples");
    *out = (dc_cls_scores){.accuracy = (double)ok / (double)n, .positive = positive};
    const int lo = positive >= 0 ? positive : 0, hi = positive >= 0 ? positive + 1 : K;
    int counted = 0;
    for (int c = lo; c < hi; c++) {
        int64_t tp = cm[c * K + c], fp = 0, fn = 0;
        for (int i = 0; i < K; i++)
            if (i != c) {
                fp += cm[i * K + c];
                fn += cm[c * K + i];
            }
        if (positive < 0 && tp + fp + fn == 0) /* macro: a class neither true nor predicted */
            continue;                          /* is not a label of the data (scikit-learn) */
        counted++;
        const double p = tp + fp ? (double)tp / (double)(tp + fp) : 0,
                     r = tp + fn ? (double)tp / (double)(tp + fn) : 0;
        out->precision += p;
        out->recall += r;
        out->f1 += p + r > 0 ? 2 * p * r / (p + r) : 0;
    }
    out->precision /= counted;
    out->recall /= counted;
    out->f1 /= counted;
    return DC_OK;
}

/* ---- the task ---- */

typedef struct tc_task {
    const dc_dataset *d;
    dc_train_opts o;         /* batch_size, shuffle, loss */
    int64_t n_train, n_val;
    int64_t *train, *val;    /* copies of the caller's lists */
    int positive;
    dc_eval_result last;
    dc_cls_scores scores;
    int has_last;
} tc_task;

static dc_status tc_start(dc_task *t, dc_rng *rng)
{
    tc_task *k = t->impl;
    (void)rng;
    for (int64_t i = 0; i < k->n_train; i++) /* positions in k->train (checkpoints check them) */
        dc_i64(t->order)[i] = i;
    return DC_OK;
}

static int64_t tc_total(dc_task *t) { return ((tc_task *)t->impl)->n_train; }

static dc_status tc_begin(dc_task *t, dc_model *m, dc_rng *rng, int64_t pos)
{
    tc_task *k = t->impl;
    (void)m;
    if (pos == 0 && k->o.shuffle)
        dc_rng_shuffle(rng, dc_i64(t->order), k->n_train);
    return DC_OK;
}

static dc_status tc_next(dc_task *t, dc_ctx *ctx, int64_t pos, dc_task_batch *b)
{
    tc_task *k = t->impl;
    const int64_t n = k->n_train - pos < k->o.batch_size ? k->n_train - pos : k->o.batch_size;
    int64_t *idx = dc_ctx_alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *idx);
    if (!idx)
        return dc_err(DC_ERR_NOMEM, "text task: out of memory");
    for (int64_t i = 0; i < n; i++)
        idx[i] = k->train[dc_i64(t->order)[pos + i]];
    b->units_per_row = 1;
    b->advance = n;
    return k->d->batch(k->d, ctx, idx, n, &b->x, &b->y);
}

static dc_tensor *tc_loss(dc_task *t, dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor *y,
                          double *correct)
{
    tc_task *k = t->impl;
    dc_tensor *out = dc_model_forward(ctx, m, x);
    dc_tensor *l = out ? dc_task_train_loss(ctx, &k->o, out, y) : NULL;
    *correct = -1;
    if (l && out->ndim == 2) {
        int64_t ok = 0;
        dc_accuracy(out, y, &ok);
        *correct = (double)ok;
    }
    return l;
}

/* Loss and accuracy of the validation examples, F1 in the note. */
static dc_status tc_validate(dc_task *t, dc_model *m, dc_task_eval *v)
{
    tc_task *k = t->impl;
    memset(v, 0, sizeof *v);
    v->metric = -1;
    for (int i = 0; i < DC_TASK_MAX_EXTRA; i++)
        v->extra_metrics[i] = NAN;
    if (k->n_val <= 0)
        return DC_OK;
    dc_eval_result r;
    dc_status st = dc_evaluate(m, k->d, k->val, k->n_val, 256, k->o.loss, &r);
    dc_cls_scores sc;
    if (st == DC_OK && r.confusion &&
        (st = dc_cls_scores_of(r.confusion, r.n_classes, k->positive, &sc)) == DC_OK) {
        dc_eval_result_free(&k->last);
        k->last = r;
        k->scores = sc;
        k->has_last = 1;
        v->has = 1;
        v->loss = v->select = r.loss;
        v->metric = r.accuracy;
        v->extra_metrics[0] = sc.f1; /* macro F1 when positive is -1 */
        v->extra_metrics[1] = sc.precision;
        v->extra_metrics[2] = sc.recall;
        return DC_OK;
    }
    if (st == DC_OK)
        st = dc_err(DC_ERR_ARG, "text task: the model's output is not class scores [N, K]");
    dc_eval_result_free(&r);
    return st;
}

static void tc_destroy(dc_task *t)
{
    tc_task *k = t->impl;
    dc_eval_result_free(&k->last);
    dc_tensor_free(t->order);
    free(k->train);
    free(k->val);
    free(k);
}

const dc_eval_result *dc_task_textcls_eval(const dc_task *t, dc_cls_scores *scores)
{
    const tc_task *k = t && !strcmp(t->name, "textcls") ? t->impl : NULL;
    if (!k || !k->has_last)
        return NULL;
    if (scores)
        *scores = k->scores;
    return &k->last;
}

/* Every index of list[0..n) names an example of d. */
static bool valid_list(const dc_dataset *d, const int64_t *list, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (list[i] < 0 || list[i] >= d->n) {
            dc_err(DC_ERR_ARG, "text task: %s example %lld is not in [0, %lld)", what,
                   (long long)list[i], (long long)d->n);
            return false;
        }
    return true;
}

dc_task *dc_task_textcls(const dc_dataset *d, const int64_t *train, int64_t n_train,
                         const int64_t *val, int64_t n_val, const dc_train_opts *o, int positive)
{
    if (!d || !o || !train || n_train < 1 || n_val < 0 || (n_val && !val) || d->n_classes < 1)
        return dc_err_null(DC_ERR_ARG, "text task: need a classification dataset and at least "
                           "one training example");
    if (dc_task_check_label_smoothing(o, "text task", 1) != DC_OK)
        return NULL;
    if (positive < -1 || positive >= d->n_classes)
        return dc_err_null(DC_ERR_ARG, "text task: positive class %d is not in [-1, %d)",
                           positive, d->n_classes);
    if (!valid_list(d, train, n_train, "training") || !valid_list(d, val, n_val, "validation"))
        return NULL;
    dc_task *t = calloc(1, sizeof *t);
    tc_task *k = calloc(1, sizeof *k);
    dc_tensor *order = dc_tensor_new(DC_I64, 1, DC_SHAPE(n_train));
    int64_t *tr = malloc((size_t)n_train * sizeof *tr);
    int64_t *va = malloc((size_t)(n_val ? n_val : 1) * sizeof *va);
    if (!t || !k || !order || !tr || !va) {
        free(t);
        free(k);
        free(tr);
        free(va);
        dc_tensor_free(order);
        return dc_err_null(DC_ERR_NOMEM, "text task: out of memory");
    }
    memcpy(tr, train, (size_t)n_train * sizeof *tr);
    if (n_val)
        memcpy(va, val, (size_t)n_val * sizeof *va);
    *k = (tc_task){.d = d, .o = *o, .n_train = n_train, .n_val = n_val, .train = tr, .val = va,
                   .positive = positive};
    static const char *const metric_names[] = {"val_f1", "val_precision", "val_recall"};
    *t = (dc_task){.name = "textcls", .unit = "ex", .metric_name = "acc", .mid_epoch_resume = 1,
                   .n_extra_metrics = 3, .extra_metric_names = metric_names,
                   .order = order, .start = tc_start, .epoch_total = tc_total,
                   .epoch_begin = tc_begin, .next = tc_next, .loss = tc_loss,
                   .validate = tc_validate, .destroy = tc_destroy, .impl = k};
    return t;
}
