/*
 * forecast_report.c - the model check, the baselines and the results table of a forecasting
 * run (forecast_report.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "forecast_report.h"
#include "core/internal.h"
#include "data/series_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dc_status dc_forecast_check_model(dc_model *m, const dc_spec *spec, const dc_series *s,
                                  const char *path)
{
    int64_t shape[DC_MAX_DIMS];
    int nd = dc_spec_input_shape(spec, shape);
    if (nd == 2 && shape[0] == s->window && shape[1] == s->n_features &&
        dc_spec_input_dtype(spec) == DC_F32) {
        dc_series one = *s; /* a forward of the first training window */
        float pred;
        one.n[DC_SPLIT_TRAIN] = s->n[DC_SPLIT_TRAIN] > 0 ? 1 : 0;
        dc_status st = dc_series_predict(m, &one, DC_SPLIT_TRAIN, &pred);
        if (st == DC_ERR_SHAPE) {
            char was[512];
            snprintf(was, sizeof was, "%s", dc_last_error());
            dc_err(DC_ERR_SHAPE, "%s; a recurrent layer gives every step: add [last_step] "
                   "before the output layer", was);
        }
        return st;
    }
    char got[96] = "";
    for (int i = 0; i < nd; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
                 (long long)shape[i]);
    return dc_err(DC_ERR_SHAPE, "takes input shape = %s, but the windows of %s are %d steps of "
                  "%d features: expected shape = %d, %d in its [input]", got, path, s->window,
                  s->n_features, s->window, s->n_features);
}

/*
 * The baselines score the test part of a series; a shallow copy of s whose test part is its
 * validation part makes them score validation (the AR fit reads training windows only, so it is
 * the same fit). The copy shares s's memory and is never freed.
 */
dc_status dc_forecast_baselines(const dc_series *s, dc_forecast_row *rows)
{
    static const char *names[] = {"persistence", "linear AR, target only",
                                  "linear AR, all inputs"};
    dc_series vs = *s;
    vs.n_rows[DC_SPLIT_TEST] = s->n_rows[DC_SPLIT_VAL];
    vs.row0[DC_SPLIT_TEST] = s->row0[DC_SPLIT_VAL];
    vs.n[DC_SPLIT_TEST] = s->n[DC_SPLIT_VAL];
    vs.x[DC_SPLIT_TEST] = s->x[DC_SPLIT_VAL];
    vs.y[DC_SPLIT_TEST] = s->y[DC_SPLIT_VAL];
    for (int k = 0; k < DC_FORECAST_N_BASELINES; k++) {
        const dc_series *p[2] = {s, &vs};
        dc_forecast_score *out[2] = {&rows[k].t, &rows[k].v};
        snprintf(rows[k].name, sizeof rows[k].name, "%s", names[k]);
        rows[k].has_v = s->n[DC_SPLIT_VAL] > 0;
        for (int j = 0; j < 1 + rows[k].has_v; j++) {
            dc_status st = k == 0 ? dc_baseline_persistence(p[j], out[j])
                                  : dc_baseline_linear_ar(p[j], k == 2, 0, out[j]);
            if (st != DC_OK) {
                dc_err_prefix("baseline %s: ", names[k]);
                return st;
            }
        }
    }
    return DC_OK;
}

dc_status dc_forecast_score_test(dc_model *m, const dc_series *s, float *pred,
                                 dc_forecast_score *sc)
{
    dc_status st = dc_series_predict(m, s, DC_SPLIT_TEST, pred);
    return st != DC_OK ? st : dc_series_score(s, DC_SPLIT_TEST, pred, sc);
}

/* "a, b, c" of the input names (the first 8, then "..."). */
static void feature_list(const dc_series *s, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int f = 0; f < s->n_features && f < 8; f++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", f ? ", " : "", s->features[f]);
    if (s->n_features > 8)
        snprintf(buf + strlen(buf), size - strlen(buf), ", ... (%d)", s->n_features);
}

static void print_row(FILE *f, const dc_forecast_row *r)
{
    fprintf(f, "%-30s", r->name);
    if (r->has_v)
        fprintf(f, " %8.3f %8.3f", r->v.mae, r->v.rmse);
    else
        fprintf(f, " %8s %8s", "-", "-");
    fprintf(f, "    %8.3f %8.3f\n", r->t.mae, r->t.rmse);
}

/* How the model compares with the best baseline on test. */
static void print_verdict(FILE *f, const dc_series *s, const dc_forecast_row *model,
                          const dc_forecast_row *base)
{
    int bm = 0, br = 0;
    for (int k = 1; k < DC_FORECAST_N_BASELINES; k++) {
        bm = base[k].t.mae < base[bm].t.mae ? k : bm;
        br = base[k].t.rmse < base[br].t.rmse ? k : br;
    }
    char dm[32] = "", dr[32] = ""; /* relative differences, unless a baseline is exact */
    if (base[bm].t.mae > 1e-6 * s->target_std)
        snprintf(dm, sizeof dm, " %+.1f%%", 100 * (model->t.mae / base[bm].t.mae - 1));
    if (base[br].t.rmse > 1e-6 * s->target_std)
        snprintf(dr, sizeof dr, " %+.1f%%", 100 * (model->t.rmse / base[br].t.rmse - 1));
    int wm = model->t.mae < base[bm].t.mae, wr = model->t.rmse < base[br].t.rmse;
    fprintf(f, "test, model vs the best baseline: MAE %.3f vs %.3f (%s)%s,\n"
            "                                  RMSE %.3f vs %.3f (%s)%s: %s\n",
            model->t.mae, base[bm].t.mae, base[bm].name, dm, model->t.rmse, base[br].t.rmse,
            base[br].name, dr, wm && wr ? "better on both" : wm || wr ? "better on one"
                                                                      : "not better");
}

void dc_forecast_table_print(FILE *f, const dc_series *s, const char *path,
                             const dc_forecast_row *model, const dc_forecast_row *base)
{
    char feats[600];
    feature_list(s, feats, sizeof feats);
    fprintf(f, "\nforecast of %s, %d step%s ahead, from the last %d rows of %d input%s (%s)\n",
            s->target, s->horizon, s->horizon > 1 ? "s" : "", s->window, s->n_features,
            s->n_features > 1 ? "s" : "", feats);
    fprintf(f, "%s: %lld rows; windows: %lld training, %lld validation, %lld test (rows "
            "%lld..%lld)\n", path, (long long)s->n_total_rows, (long long)s->n[0],
            (long long)s->n[1], (long long)s->n[2], (long long)s->row0[2],
            (long long)(s->row0[2] + s->n[2] - 1));
    fprintf(f, "%-30s %17s    %17s\n%-30s %8s %8s    %8s %8s\n", "errors in units of the target",
            "validation", "test", "", "MAE", "RMSE", "MAE", "RMSE");
    print_row(f, model);
    for (int k = 0; k < DC_FORECAST_N_BASELINES; k++)
        print_row(f, &base[k]);
    print_verdict(f, s, model, base);
}

dc_series *dc_forecast_open_checked(dc_model *m, const dc_spec *spec, const char *data,
                                    const char *model, char *path, size_t cap)
{
    dc_series *s = dc_series_open(data, path, cap);
    if (!s || dc_forecast_check_model(m, spec, s, path) == DC_OK)
        return s;
    dc_err_prefix("%s ", model);
    dc_series_free(s);
    return NULL;
}

dc_status dc_forecast_predict_test(dc_model *m, const dc_series *s, float **pred,
                                   dc_forecast_score *sc)
{
    if (!(*pred = malloc((size_t)s->n[DC_SPLIT_TEST] * sizeof **pred)))
        return dc_err(DC_ERR_NOMEM, "out of memory");
    dc_status st = dc_forecast_score_test(m, s, *pred, sc);
    if (st != DC_OK) {
        free(*pred);
        *pred = NULL;
    }
    return st;
}

/* One row as JSON: "key": {"val_mae": ..., ..., "test_rmse": ...}. */
static void json_row(FILE *f, const char *key, const dc_forecast_row *row, int last)
{
    fprintf(f, "\"%s\": {", key);
    if (row->has_v)
        fprintf(f, "\"val_mae\": %.6g, \"val_rmse\": %.6g, ", row->v.mae, row->v.rmse);
    fprintf(f, "\"test_mae\": %.6g, \"test_rmse\": %.6g}%s", row->t.mae, row->t.rmse,
            last ? "" : ", ");
}

void dc_forecast_table_json(FILE *f, int64_t best_epoch, const dc_forecast_row *model,
                            const dc_forecast_row *base)
{
    static const char *const keys[DC_FORECAST_N_BASELINES] = {"persistence", "ar_target",
                                                              "ar_all"};
    fprintf(f, "{\"best_epoch\": %lld, ", (long long)best_epoch);
    json_row(f, "model", model, 0);
    for (int k = 0; k < DC_FORECAST_N_BASELINES; k++)
        json_row(f, keys[k], &base[k], k == DC_FORECAST_N_BASELINES - 1);
    fprintf(f, "}\n");
}
