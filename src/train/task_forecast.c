/*
 * task_forecast.c - the forecasting task of the trainer: regression of the normalised target on
 * the training windows of a dc_series; after every epoch the validation windows are scored in the
 * target's units (MAE, RMSE), the weights of the best validation epoch are kept (in checkpoints
 * too, as task.best), training stops after `patience` epochs without a better score, and finish
 * puts the best weights back.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "train/task_opts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FC_EVAL_BATCH 256

typedef struct fc_task {
    const dc_series *s;
    dc_dataset *d;          /* the training windows */
    dc_train_opts o;        /* shuffle, loss */
    int patience;
    float *pred;            /* [n[VAL]] scratch */
    dc_tensor *best;        /* f32: every model tensor's bytes at the best epoch (task.best) */
    int64_t best_epoch;     /* 0: none yet */
    dc_forecast_score best_val, last; /* the best and the latest validation scores */
    const char *names[1];
    dc_tensor *state[1];
} fc_task;

dc_status dc_series_predict(dc_model *m, const dc_series *s, dc_split part, float *pred)
{
    const int64_t W = s->window, F = s->n_features, n = s->n[part];
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx)
        return dc_err(DC_ERR_NOMEM, "forecast: out of memory");
    dc_ctx_set_grad(ctx, 0);
    dc_status st = DC_OK;
    for (int64_t i = 0; i < n && st == DC_OK; i += FC_EVAL_BATCH) {
        const int64_t b = n - i < FC_EVAL_BATCH ? n - i : FC_EVAL_BATCH;
        dc_tensor *x = dc_wrap(ctx, DC_F32, 3, DC_SHAPE(b, W, F), dc_f32(s->x[part]) + i * W * F);
        dc_tensor *y = x ? dc_model_forward(ctx, m, x) : NULL;
        if (!y)
            st = dc_last_status() != DC_OK ? dc_last_status() : DC_ERR_ARG;
        else if (y->dtype != DC_F32 || y->numel != b)
            st = dc_err(DC_ERR_SHAPE, "forecast: the model gives %lld values for %lld windows "
                        "(one value per window is needed)", (long long)y->numel, (long long)b);
        else
            memcpy(pred + i, dc_f32(y), (size_t)b * sizeof *pred);
        dc_ctx_reset(ctx);
    }
    dc_ctx_free(ctx);
    return st;
}

static size_t model_bytes(const dc_model *m)
{
    size_t n = 0;
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        const dc_tensor *t = dc_model_tensor(m, i);
        n += (size_t)t->numel * (t->dtype == DC_I64 ? 8 : 4);
    }
    return n;
}

/* Copy every parameter and buffer of m into buf (save) or back from it. */
static void model_copy(dc_model *m, unsigned char *buf, int save)
{
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        size_t n = (size_t)t->numel * (t->dtype == DC_I64 ? 8 : 4);
        memcpy(save ? buf : t->data, save ? t->data : buf, n);
        buf += n;
    }
}

static int64_t fc_total(dc_task *t) { return ((fc_task *)t->impl)->d->n; }

static dc_status fc_start(dc_task *t, dc_rng *rng)
{
    int64_t *ord = dc_i64(t->order);
    for (int64_t i = 0; i < t->order->numel; i++)
        ord[i] = i;
    return DC_OK;
}

static dc_status fc_begin(dc_task *t, dc_model *m, dc_rng *rng, int64_t pos)
{
    fc_task *k = t->impl;
    if (pos == 0 && k->o.shuffle)
        dc_rng_shuffle(rng, dc_i64(t->order), t->order->numel);
    return DC_OK;
}

static dc_status fc_next(dc_task *t, dc_ctx *ctx, int64_t pos, dc_task_batch *b)
{
    fc_task *k = t->impl;
    const int64_t n = k->d->n - pos < k->o.batch_size ? k->d->n - pos : k->o.batch_size;
    b->units_per_row = 1;
    b->advance = n;
    return k->d->batch(k->d, ctx, dc_i64(t->order) + pos, n, &b->x, &b->y);
}

/* [N], [N, 1] or [N, 1, 1] outputs compare as y's [N, 1]. */
static dc_tensor *fc_loss(dc_task *t, dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor *y,
                          double *correct)
{
    fc_task *k = t->impl;
    const int64_t b = x->shape[0];
    *correct = -1;
    dc_tensor *out = dc_model_forward(ctx, m, x);
    if (!out)
        return NULL;
    if (out->numel != b) {
        char sh[96];
        return dc_err_null(DC_ERR_SHAPE, "the model's output %s is not one value per window "
                           "([%lld, 1])", dc_shape_str(out, sh, sizeof sh), (long long)b);
    }
    return dc_loss(ctx, k->o.loss, dc_reshape(ctx, out, 2, DC_SHAPE(b, 1)), y);
}

/* The validation windows: the loss (normalised, as in training) and MAE / RMSE in units. */
static dc_status fc_validate(dc_task *t, dc_model *m, dc_task_eval *v)
{
    fc_task *k = t->impl;
    const int64_t n = k->s->n[DC_SPLIT_VAL];
    memset(v, 0, sizeof *v);
    v->metric = -1;
    if (n <= 0)
        return DC_OK;
    dc_forecast_score sc;
    dc_status st = dc_series_predict(m, k->s, DC_SPLIT_VAL, k->pred);
    if (st == DC_OK)
        st = dc_series_score(k->s, DC_SPLIT_VAL, k->pred, &sc);
    dc_ctx *ctx = st == DC_OK ? dc_ctx_new(0) : NULL;
    if (st == DC_OK && !ctx)
        st = dc_err(DC_ERR_NOMEM, "forecast: out of memory");
    if (st == DC_OK) {
        dc_ctx_set_grad(ctx, 0);
        dc_tensor *p = dc_wrap(ctx, DC_F32, 2, DC_SHAPE(n, 1), k->pred);
        dc_tensor *l = p ? dc_loss(ctx, k->o.loss, p, k->s->y[DC_SPLIT_VAL]) : NULL;
        if (!l)
            st = DC_ERR_ARG;
        else
            v->loss = (double)dc_f32(l)[0];
    }
    dc_ctx_free(ctx);
    if (st != DC_OK)
        return st;
    v->has = 1;
    k->last = sc;
    v->metric = sc.mae;
    v->select = k->o.loss == DC_LOSS_L1 ? sc.mae : sc.rmse;
    snprintf(v->note, sizeof v->note, "val MAE %.4f  RMSE %.4f", sc.mae, sc.rmse);
    return DC_OK;
}

/* Model selection on the validation score; early stopping after `patience` worse epochs. */
static dc_status fc_after(dc_task *t, dc_model *m, int64_t epoch, dc_task_eval *v, int *stop)
{
    fc_task *k = t->impl;
    if (!v->has)
        return DC_OK;
    const double best = k->o.loss == DC_LOSS_L1 ? k->best_val.mae : k->best_val.rmse;
    if (!k->best_epoch || v->select < best) {
        k->best_epoch = epoch;
        k->best_val = k->last;
        model_copy(m, k->best->data, 1);
        strncat(v->note, " *", sizeof v->note - strlen(v->note) - 1);
    } else if (k->patience > 0 && epoch - k->best_epoch >= k->patience) {
        *stop = 1;
    }
    return DC_OK;
}

static dc_status fc_finish(dc_task *t, dc_model *m)
{
    fc_task *k = t->impl;
    if (k->best_epoch)
        model_copy(m, k->best->data, 0);
    return DC_OK;
}

static char *fc_state_save(dc_task *t)
{
    fc_task *k = t->impl;
    char *s = malloc(160);
    if (s)
        snprintf(s, 160, "%lld %a %a", (long long)k->best_epoch, k->best_val.mae,
                 k->best_val.rmse);
    return s;
}

static dc_status fc_state_load(dc_task *t, const char *text)
{
    fc_task *k = t->impl;
    long long e;
    double mae, rmse;
    int used = 0;
    if (!text || sscanf(text, "%lld %la %la%n", &e, &mae, &rmse, &used) != 3 || text[used] ||
        e < 0 || e > DC_TRAIN_MAX_EPOCHS || !(mae >= 0) || !(rmse >= 0))
        return dc_err(DC_ERR_FORMAT, "checkpoint: the forecast state '%.60s' is not \"best_epoch "
                      "mae rmse\" (a checkpoint of another kind of run?)", text ? text : "");
    k->best_epoch = e;
    k->best_val = (dc_forecast_score){.n = k->s->n[DC_SPLIT_VAL], .mae = mae, .rmse = rmse};
    return DC_OK;
}

int64_t dc_task_forecast_best(const dc_task *t, dc_forecast_score *val)
{
    const fc_task *k = t->impl;
    if (val)
        *val = k->best_val;
    return k->best_epoch;
}

static void fc_destroy(dc_task *t)
{
    fc_task *k = t->impl;
    dc_dataset_free(k->d);
    dc_tensor_free(k->best);
    dc_tensor_free(t->order);
    free(k->pred);
    free(k);
}

dc_task *dc_task_forecast(const dc_series *s, const dc_model *m, const dc_train_opts *o,
                          int patience)
{
    if (dc_task_refuse_label_smoothing(o, "forecast") != DC_OK)
        return NULL;
    if (s && patience > 0 && s->n[DC_SPLIT_VAL] < 1) /* no score to stop on */
        return dc_err_null(DC_ERR_ARG, "forecast: early stopping (after %d epochs without a "
                           "better validation score) needs validation windows, and the series "
                           "has none (val=0)", patience);
    dc_task *t = calloc(1, sizeof *t);
    fc_task *k = calloc(1, sizeof *k);
    const int64_t nv = s && s->n[DC_SPLIT_VAL] > 0 ? s->n[DC_SPLIT_VAL] : 1;
    const size_t bytes = m ? model_bytes(m) : 0;
    if (k && s && m) {
        k->d = dc_series_dataset(s, DC_SPLIT_TRAIN);
        k->pred = malloc((size_t)nv * sizeof *k->pred);
        k->best = dc_tensor_new(DC_F32, 1, DC_SHAPE((int64_t)(bytes / 4 > 0 ? bytes / 4 : 1)));
        t->order = k->d ? dc_tensor_new(DC_I64, 1, DC_SHAPE(k->d->n)) : NULL;
    }
    if (!t || !k || !s || !m || !k->d || !k->pred || !k->best || !t->order) {
        if (k) {
            dc_dataset_free(k->d);
            free(k->pred);
            dc_tensor_free(k->best);
        }
        if (t)
            dc_tensor_free(t->order);
        free(k);
        free(t);
        return s && m ? dc_err_null(DC_ERR_NOMEM, "forecast: out of memory")
                      : dc_err_null(DC_ERR_ARG, "forecast: no series or model");
    }
    k->s = s;
    k->o = *o;
    k->patience = patience;
    k->names[0] = "task.best";
    k->state[0] = k->best;
    *t = (dc_task){.name = "forecast", .unit = "win", .metric_name = "mae",
                   .mid_epoch_resume = 1, .order = t->order, .n_state = 1,
                   .state_names = k->names, .state = k->state, .state_save = fc_state_save,
                   .state_load = fc_state_load, .start = fc_start, .epoch_total = fc_total,
                   .epoch_begin = fc_begin, .next = fc_next, .loss = fc_loss,
                   .validate = fc_validate, .after_epoch = fc_after, .finish = fc_finish,
                   .destroy = fc_destroy, .impl = k};
    return t;
}
