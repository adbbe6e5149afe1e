/*
 * form_series.c - deepc train --data csv:FILE[,target=COL][,window=W][,horizon=H][,inputs=a+b]
 * [,val=F][,test=F] | weather: forecasting one column of a time series (dc_series_open) with
 * the trainer's forecast task (the weights of the epoch with the best validation score,
 * --early-stop N), then validation and test MAE/RMSE next to the persistence and linear AR
 * baselines on the same windows (train/forecast_report.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "data/series_spec.h"
#include "train/forecast_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct series_data {
    dc_series *s;
    char path[1100];                              /* the file read */
    dc_forecast_row base[DC_FORECAST_N_BASELINES];
} series_data;

/* The loss: regression (cross-entropy, the train default, becomes mse). */
static int series_load(cli_run *r)
{
    const train_args *a = r->a;
    dc_loss_kind *loss = &r->o.loss;
    if (*loss == DC_LOSS_CROSS_ENTROPY)
        *loss = DC_LOSS_MSE;
    if (*loss == DC_LOSS_NLL || *loss == DC_LOSS_BCE || *loss == DC_LOSS_BCE_LOGITS) {
        fprintf(stderr, "deepc train: --loss %s is a classification loss; forecasting takes "
                "mse, l1, smooth_l1 or huber\n", a->loss);
        return 2;
    }
    series_data *d = calloc(1, sizeof *d);
    if (!d)
        dc_err(DC_ERR_NOMEM, "out of memory");
    if (!d || !(d->s = dc_series_open(a->data, d->path, sizeof d->path))) {
        free(d);
        return cli_fail(2);
    }
    r->data = d;
    return 0;
}

static int series_prepare(cli_run *r)
{
    series_data *d = r->data;
    if (dc_forecast_check_model(r->m, r->spec, d->s, d->path) == DC_OK)
        return 0;
    fprintf(stderr, "deepc train: %s %s\n", r->rs ? "the resumed model" : r->a->model,
            dc_last_error());
    return 2;
}

static int series_task(cli_run *r)
{
    series_data *d = r->data;
    const dc_series *s = d->s;
    if (dc_forecast_baselines(s, d->base) != DC_OK ||
        !(r->task = dc_task_forecast(s, r->m, &r->o, (int)r->a->early_stop)))
        return cli_fail(dc_last_status() == DC_ERR_ARG ? 2 : 1);
    cli_banner(r, d->path, "%lld training windows [%d, %d], %d epochs", (long long)s->n[0],
               s->window, s->n_features, r->o.epochs);
    return 0;
}

/* Score the model on test; the table (one JSON object with --json) and where the files are. */
static int series_report(cli_run *r)
{
    series_data *d = r->data;
    const dc_series *s = d->s;
    dc_forecast_row model = {.has_v = s->n[DC_SPLIT_VAL] > 0};
    int64_t best = dc_task_forecast_best(r->task, &model.v);
    float *pred = NULL;
    if (dc_forecast_predict_test(r->m, s, &pred, &model.t) != DC_OK)
        return cli_fail(1);
    free(pred);
    if (r->a->json) {
        dc_forecast_table_json(stdout, best, &model, d->base);
        return 0;
    }
    cli_print_time(r, NULL);
    if (best)
        snprintf(model.name, sizeof model.name, "model (best epoch %lld)", (long long)best);
    else
        snprintf(model.name, sizeof model.name, "model (last epoch)");
    dc_forecast_table_print(stdout, s, d->path, &model, d->base);
    cli_print_outputs(r, best ? " (the best validation epoch)" : " (the last epoch)");
    return 0;
}

static void series_free(cli_run *r)
{
    series_data *d = r->data;
    if (d)
        dc_series_free(d->s);
    free(d);
}

/* csv:... and weather (dc_series_open reads both): two lines of forms.def, one form. */
const cli_data_form cli_form_series = {
    .what = "time-series data",
    .refuse = CLI_NO_VAL | CLI_NO_AUGMENT | CLI_NO_BPTT | CLI_NO_TEXTCLS,
    .load = series_load,
    .prepare = series_prepare,
    .task = series_task,
    .report = series_report,
    .free = series_free,
};
