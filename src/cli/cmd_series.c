/*
 * cmd_series.c - forecasting one column of a CSV time series:
 *   deepc train MODEL --data csv:FILE[,target=COL][,window=W][,horizon=H][,inputs=a+b]
 *                            [,val=F][,test=F] | weather
 * trains on the training windows with the trainer's forecast task (dc_task_forecast: log.csv,
 * checkpoints, --resume, the weights of the epoch with the best validation score), and prints
 * validation and test MAE/RMSE next to the persistence and linear AR baselines on the same
 * windows; `deepc show forecast` (cli_show_forecast) plots the test forecasts.
 * The split is chronological and the normalisation is fitted on training rows (dc_series).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "plot/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WEATHER_NAME "seattle-weather.csv"
#define WEATHER_DEBIAN "/usr/lib/python3/dist-packages/vega_datasets/_data/" WEATHER_NAME
#define MAX_STEPS 100000 /* the largest window and horizon */
#define EVAL_BATCH 256

/* ---- --data ---- */

/* A parsed --data: strings point into buf. */
typedef struct series_src {
    char *buf;             /* malloc'd copy of the spec, cut in place */
    const char *path;
    const char *target;    /* NULL: the first numeric column */
    const char **inputs;   /* [n_inputs] (malloc'd), or NULL: every numeric column */
    int n_inputs, window, horizon;
    double val, test;
    char found[1200];      /* weather: the file that was found */
} series_src;

static void src_free(series_src *s)
{
    free(s->buf);
    free((void *)s->inputs);
}

/* The Seattle weather file: $DEEPC_DATA/seattle-weather.csv, else Debian's copy. */
static const char *weather_file(series_src *s, const char *who)
{
    struct stat st;
    const char *root = getenv("DEEPC_DATA");
    if (root && *root) {
        snprintf(s->found, sizeof s->found, "%s/%s", root, WEATHER_NAME);
        if (stat(s->found, &st) == 0)
            return s->found;
    }
    if (stat(WEATHER_DEBIAN, &st) == 0)
        return WEATHER_DEBIAN;
    fprintf(stderr, "%s: --data weather: %s not found; it comes with Debian's package "
            "python3-vega-datasets (apt-get install python3-vega-datasets), or put %s in "
            "$DEEPC_DATA\n", who, WEATHER_DEBIAN, WEATHER_NAME);
    return NULL;
}

/* "a+b+c" into s->inputs. */
static int parse_inputs(series_src *s, char *v, const char *spec, const char *who)
{
    int n = 1;
    for (const char *p = v; *p; p++)
        n += *p == '+';
    s->inputs = malloc((size_t)n * sizeof *s->inputs);
    if (!s->inputs) {
        fprintf(stderr, "%s: out of memory\n", who);
        return -1;
    }
    for (char *tok = v;; tok++) {
        char *plus = strchr(tok, '+');
        if (plus)
            *plus = '\0';
        if (!*tok) {
            fprintf(stderr, "%s: --data '%s': inputs=: expected column names joined by '+' "
                    "(an empty name)\n", who, spec);
            return -1;
        }
        s->inputs[s->n_inputs++] = tok;
        if (!plus)
            return 0;
        tok = plus;
    }
}

/* window= / horizon=: a whole number in [1, MAX_STEPS]. */
static int parse_steps(const char *key, const char *v, int *out, const char *spec,
                       const char *who)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < 1 || x > MAX_STEPS) {
        fprintf(stderr, "%s: --data '%s': %s=%s: expected a whole number from 1 to %d\n", who,
                spec, key, v, MAX_STEPS);
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* val= / test=: a fraction of the rows in [0, 1). */
static int parse_frac(const char *key, const char *v, double *out, const char *spec,
                      const char *who)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !(x >= 0 && x < 1)) {
        fprintf(stderr, "%s: --data '%s': %s=%s: expected a fraction of the rows, at least 0 "
                "and below 1\n", who, spec, key, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* One key=value of a csv: spec; seen collects the keys given so far (a bit each). */
static int parse_key(series_src *s, char *kv, unsigned *seen, const char *spec, const char *who)
{
    static const char *keys[] = {"target", "window", "horizon", "inputs", "val", "test"};
    char *eq = strchr(kv, '=');
    int k = 0;
    if (eq)
        *eq = '\0';
    while (k < 6 && strcmp(kv, keys[k]))
        k++;
    if (k == 6) {
        fprintf(stderr, "%s: --data '%s': unknown key '%s' (target, window, horizon, inputs, "
                "val, test)\n", who, spec, kv);
        return -1;
    }
    if (!eq || !eq[1]) {
        fprintf(stderr, "%s: --data '%s': %s needs a value (%s=...)\n", who, spec, kv, kv);
        return -1;
    }
    if (*seen >> k & 1) {
        fprintf(stderr, "%s: --data '%s': %s is given twice\n", who, spec, kv);
        return -1;
    }
    *seen |= 1u << k;
    char *v = eq + 1;
    switch (k) {
    case 0: s->target = v; return 0;
    case 1: return parse_steps(kv, v, &s->window, spec, who);
    case 2: return parse_steps(kv, v, &s->horizon, spec, who);
    case 3: return parse_inputs(s, v, spec, who);
    case 4: return parse_frac(kv, v, &s->val, spec, who);
    default: return parse_frac(kv, v, &s->test, spec, who);
    }
}

/* Parse --data: "weather" or "csv:FILE[,key=value]...". 0, or -1 after a message. */
static int src_parse(const char *spec, const char *who, series_src *s)
{
    memset(s, 0, sizeof *s);
    s->window = 7;
    s->horizon = 1;
    s->val = 0.2;
    s->test = 0.1;
    if (!strcmp(spec, "weather")) {
        s->target = "temp_max";
        return (s->path = weather_file(s, who)) ? 0 : -1;
    }
    if (strncmp(spec, "csv:", 4)) {
        fprintf(stderr, "%s: --data '%s': expected csv:FILE[,key=value]... or weather\n", who,
                spec);
        return -1;
    }
    size_t len = strlen(spec + 4);
    if (!(s->buf = malloc(len + 1))) {
        fprintf(stderr, "%s: out of memory\n", who);
        return -1;
    }
    memcpy(s->buf, spec + 4, len + 1);
    char *next = strchr(s->buf, ',');
    if (next)
        *next++ = '\0';
    s->path = s->buf;
    if (!*s->path) {
        fprintf(stderr, "%s: --data '%s': expected a file name after csv:\n", who, spec);
        return -1;
    }
    unsigned seen = 0;
    while (next) {
        char *kv = next;
        if ((next = strchr(kv, ',')))
            *next++ = '\0';
        if (parse_key(s, kv, &seen, spec, who))
            return -1;
    }
    if (s->val + s->test >= 1) {
        fprintf(stderr, "%s: --data '%s': val + test = %g leaves no training rows (expected a "
                "sum below 1)\n", who, spec, s->val + s->test);
        return -1;
    }
    return 0;
}

/* Read the table of --data and cut its windows; NULL after a message. path[size] receives the
 * file name. */
static dc_series *series_load(const char *spec, const char *who, char *path, size_t size)
{
    series_src src;
    dc_series *s = NULL;
    dc_table *t = NULL;
    if (src_parse(spec, who, &src))
        goto out;
    int len = snprintf(path, size, "%s", src.path);
    if (len < 0 || (size_t)len >= size) {
        fprintf(stderr, "%s: --data: a file name longer than %zu bytes\n", who, size - 1);
        goto out;
    }
    if (!(t = dc_table_load(src.path, ','))) {
        fprintf(stderr, "%s: %s\n", who, dc_last_error());
        goto out;
    }
    const char *target = src.target ? src.target : t->names[0];
    s = dc_series_windows(t, src.inputs, src.n_inputs, target, src.window, src.horizon,
                          src.val, src.test);
    if (!s) {
        fprintf(stderr, "%s: %s: %s\n", who, src.path, dc_last_error());
    } else if (s->n[DC_SPLIT_TEST] < 1) {
        fprintf(stderr, "%s: %s: test=%g of %lld rows gives no test windows (expected a larger "
                "test fraction)\n", who, src.path, src.test, (long long)t->n_rows);
        dc_series_free(s);
        s = NULL;
    }
out:
    dc_table_free(t);
    src_free(&src);
    return s;
}

/* ---- the model ---- */

/* The model's normalised forecasts for windows [i0, i0 + n) of part into pred[n] (eval mode,
 * no tape). 0, or -1 after a message. */
static int predict_range(dc_model *m, const dc_series *s, dc_split part, int64_t i0, int64_t n,
                         float *pred, const char *who)
{
    int64_t W = s->window, F = s->n_features;
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx) {
        fprintf(stderr, "%s: out of memory\n", who);
        return -1;
    }
    dc_ctx_set_grad(ctx, 0);
    for (int64_t i = 0; i < n; i += EVAL_BATCH) {
        int64_t b = n - i < EVAL_BATCH ? n - i : EVAL_BATCH;
        float *xi = dc_f32(s->x[part]) + (i0 + i) * W * F;
        dc_tensor *x = dc_wrap(ctx, DC_F32, 3, DC_SHAPE(b, W, F), xi);
        dc_tensor *y = x ? dc_model_forward(ctx, m, x) : NULL;
        if (!y || y->dtype != DC_F32 || y->numel != b) {
            char sh[96] = "?";
            if (y)
                dc_shape_str(y, sh, sizeof sh);
            fprintf(stderr, "%s: the model's output %s is not one value per window ([%lld, 1])"
                    "%s%s\n", who, sh, (long long)b, !y ? ": " : y->ndim == 3 ? "; a recurrent "
                    "layer gives every step: add [last_step] before the output layer" : "",
                    y ? "" : dc_last_error());
            dc_ctx_free(ctx);
            return -1;
        }
        memcpy(pred + i, dc_f32(y), (size_t)b * sizeof *pred);
        dc_ctx_reset(ctx);
    }
    dc_ctx_free(ctx);
    return 0;
}

/* The model spec must take one window, [W, F], and give one value for it. 0, or -1 after a
 * message. */
static int check_model(dc_model *m, const dc_spec *spec, const char *model, const dc_series *s,
                       const char *path, const char *who)
{
    float one;
    int64_t shape[DC_MAX_DIMS];
    int nd = dc_spec_input_shape(spec, shape);
    if (nd == 2 && shape[0] == s->window && shape[1] == s->n_features &&
        dc_spec_input_dtype(spec) == DC_F32)
        return predict_range(m, s, DC_SPLIT_TRAIN, 0, 1, &one, who);
    char got[96] = "";
    for (int i = 0; i < nd; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
                 (long long)shape[i]);
    fprintf(stderr, "%s: %s takes input shape = %s, but the windows of %s are %d steps of %d "
            "features: expected shape = %d, %d in its [input]\n", who, model, got, path,
            s->window, s->n_features, s->window, s->n_features);
    return -1;
}

/* Score the model on part (which must have windows). 0, or -1 after a message. */
static int score_part(dc_model *m, const dc_series *s, dc_split part, float *scratch,
                      dc_forecast_score *sc, const char *who)
{
    if (predict_range(m, s, part, 0, s->n[part], scratch, who))
        return -1;
    if (dc_series_score(s, part, scratch, sc) != DC_OK) {
        fprintf(stderr, "%s: %s\n", who, dc_last_error());
        return -1;
    }
    return 0;
}

/* ---- the table ---- */

typedef struct score_row {
    char name[64];
    dc_forecast_score v, t; /* validation, test */
    int has_v;
} score_row;

/*
 * The three baselines on the test windows and, when there are any, on the validation windows.
 * The baselines score the test part of a series; a shallow copy of s whose test part is its
 * validation part makes them score validation (the AR fit reads training windows only, so it is
 * the same fit). The copy shares s's memory and is never freed.
 */
static int baselines(const dc_series *s, score_row *rows, const char *who)
{
    static const char *names[] = {"persistence", "linear AR, target only",
                                  "linear AR, all inputs"};
    dc_series vs = *s;
    vs.n_rows[DC_SPLIT_TEST] = s->n_rows[DC_SPLIT_VAL];
    vs.row0[DC_SPLIT_TEST] = s->row0[DC_SPLIT_VAL];
    vs.n[DC_SPLIT_TEST] = s->n[DC_SPLIT_VAL];
    vs.x[DC_SPLIT_TEST] = s->x[DC_SPLIT_VAL];
    vs.y[DC_SPLIT_TEST] = s->y[DC_SPLIT_VAL];
    for (int k = 0; k < 3; k++) {
        const dc_series *p[2] = {s, &vs};
        dc_forecast_score *out[2] = {&rows[k].t, &rows[k].v};
        snprintf(rows[k].name, sizeof rows[k].name, "%s", names[k]);
        rows[k].has_v = s->n[DC_SPLIT_VAL] > 0;
        for (int j = 0; j < 1 + rows[k].has_v; j++) {
            dc_status st = k == 0 ? dc_baseline_persistence(p[j], out[j])
                                  : dc_baseline_linear_ar(p[j], k == 2, 0, out[j]);
            if (st != DC_OK) {
                fprintf(stderr, "%s: baseline %s: %s\n", who, names[k], dc_last_error());
                return -1;
            }
        }
    }
    return 0;
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

static void print_row(const score_row *r)
{
    printf("%-30s", r->name);
    if (r->has_v)
        printf(" %8.3f %8.3f", r->v.mae, r->v.rmse);
    else
        printf(" %8s %8s", "-", "-");
    printf("    %8.3f %8.3f\n", r->t.mae, r->t.rmse);
}

/* The results table, and how the model compares with the best baseline on test. */
static void print_table(const dc_series *s, const char *path, const score_row *model,
                        const score_row *base)
{
    char feats[600];
    feature_list(s, feats, sizeof feats);
    printf("\nforecast of %s, %d step%s ahead, from the last %d rows of %d input%s (%s)\n",
           s->target, s->horizon, s->horizon > 1 ? "s" : "", s->window, s->n_features,
           s->n_features > 1 ? "s" : "", feats);
    printf("%s: %lld rows; windows: %lld training, %lld validation, %lld test (rows %lld..%lld)"
           "\n", path, (long long)s->n_total_rows, (long long)s->n[0], (long long)s->n[1],
           (long long)s->n[2], (long long)s->row0[2], (long long)(s->row0[2] + s->n[2] - 1));
    printf("%-30s %17s    %17s\n%-30s %8s %8s    %8s %8s\n", "errors in units of the target",
           "validation", "test", "", "MAE", "RMSE", "MAE", "RMSE");
    print_row(model);
    for (int k = 0; k < 3; k++)
        print_row(&base[k]);
    int bm = 0, br = 0;
    for (int k = 1; k < 3; k++) {
        bm = base[k].t.mae < base[bm].t.mae ? k : bm;
        br = base[k].t.rmse < base[br].t.rmse ? k : br;
    }
    char dm[32] = "", dr[32] = ""; /* relative differences, unless a baseline is exact */
    if (base[bm].t.mae > 1e-6 * s->target_std)
        snprintf(dm, sizeof dm, " %+.1f%%", 100 * (model->t.mae / base[bm].t.mae - 1));
    if (base[br].t.rmse > 1e-6 * s->target_std)
        snprintf(dr, sizeof dr, " %+.1f%%", 100 * (model->t.rmse / base[br].t.rmse - 1));
    int wm = model->t.mae < base[bm].t.mae, wr = model->t.rmse < base[br].t.rmse;
    printf("test, model vs the best baseline: MAE %.3f vs %.3f (%s)%s,\n"
           "                                  RMSE %.3f vs %.3f (%s)%s: %s\n",
           model->t.mae, base[bm].t.mae, base[bm].name, dm, model->t.rmse, base[br].t.rmse,
           base[br].name, dr, wm && wr ? "better on both" : wm || wr ? "better on one"
                                                                     : "not better");
}

/* ---- deepc train --data csv:... | weather ---- */

/* The train options that mean nothing here; the loss (regression: cross-entropy, the train
 * default, becomes mse). 0, or -1 after a message. */
static int series_opts(const train_args *a, dc_train_opts *o, const char *who)
{
    const char *bad = a->val >= 0 ? "--val (give val=F in --data)"
                      : a->augment ? "--augment" : a->bptt ? "--bptt" : NULL;
    if (bad) {
        fprintf(stderr, "%s: %s does not apply to time-series data\n", who, bad);
        return -1;
    }
    if (o->loss == DC_LOSS_CROSS_ENTROPY)
        o->loss = DC_LOSS_MSE;
    if (o->loss == DC_LOSS_NLL || o->loss == DC_LOSS_BCE || o->loss == DC_LOSS_BCE_LOGITS) {
        fprintf(stderr, "%s: --loss %s is a classification loss; forecasting takes mse, l1, "
                "smooth_l1 or huber\n", who, a->loss);
        return -1;
    }
    return 0;
}

/* Train (on the trainer, dc_task_forecast), score and save; the exit code. */
static int train_and_report(const train_args *a, dc_train_opts *o, dc_model *m,
                            const dc_series *s, const char *path, int resumed)
{
    const char *who = "deepc train";
    score_row base[3], model;
    memset(&model, 0, sizeof model);
    if (baselines(s, base, who))
        return 1;
    dc_task *t = dc_task_forecast(s, m, o, 0);
    if (!t) {
        fprintf(stderr, "%s: %s\n", who, dc_last_error());
        return 1;
    }
    printf("%s %s on %s: %lld training windows [%d, %d], %lld parameters, %s lr %g, "
           "batch %lld, %d epochs, %d threads\n", resumed ? "resuming" : "training", a->model,
           path, (long long)s->n[0], s->window, s->n_features,
           (long long)dc_model_n_trainable(m), dc_optim_kind_name(o->optim.kind),
           (double)o->optim.lr, (long long)o->batch_size, o->epochs, dc_get_num_threads());
    double t0 = cli_now_s();
    int rc = cli_run_task(m, t, o, NULL);
    if (rc != 0)
        goto out;
    printf("training time %.1fs\n", cli_now_s() - t0);
    model.has_v = s->n[DC_SPLIT_VAL] > 0;
    int64_t best = dc_task_forecast_best(t, &model.v);
    if (best)
        snprintf(model.name, sizeof model.name, "model (best epoch %lld)", (long long)best);
    else
        snprintf(model.name, sizeof model.name, "model (last epoch)");
    float *pred = malloc((size_t)s->n[DC_SPLIT_TEST] * sizeof *pred);
    rc = 1;
    if (!pred)
        fprintf(stderr, "%s: out of memory\n", who);
    else if (score_part(m, s, DC_SPLIT_TEST, pred, &model.t, who) == 0)
        rc = 0;
    free(pred);
    if (rc == 0) {
        print_table(s, path, &model, base);
        if (a->out)
            printf("weights: %s/model.safetensors (%s), checkpoint: %s/checkpoint, log: "
                   "%s/log.csv\n", a->out, best ? "the best validation epoch"
                   : "the last epoch", a->out, a->out);
    }
out:
    dc_task_free(t);
    return rc;
}

int cmd_train_series(const train_args *a, const dc_train_opts *opts, const train_resume *rs,
                     const char *args_text)
{
    const char *who = "deepc train";
    dc_train_opts o = *opts;
    char path[1100];
    if (series_opts(a, &o, who))
        return 2;
    if (a->threads)
        dc_set_num_threads(a->threads);
    dc_series *s = series_load(a->data, who, path, sizeof path);
    if (!s)
        return 2;
    dc_rng rng;
    dc_rng_seed(&rng, (uint64_t)a->seed, 0);
    dc_spec *spec = NULL;
    char *spec_text = NULL;
    dc_model *m = rs ? cli_resume_model(rs, &rng, &spec) : cli_load_model(a->model, &rng, &spec);
    int rc = 2;
    if (m && !check_model(m, spec, a->model, s, path, who) &&
        !cli_train_prepare(a, spec, rs, args_text, &o, &spec_text))
        rc = train_and_report(a, &o, m, s, path, rs != NULL);
    free(spec_text);
    dc_model_free(m);
    dc_spec_free(spec);
    dc_series_free(s);
    return rc;
}

/* ---- deepc show forecast ---- */

static const char *base_name(const char *p)
{
    const char *slash = strrchr(p, '/');
    return slash && slash[1] ? slash + 1 : p;
}

/* Draw the actual and forecast test values (original units) against the table row. */
static int draw_forecast(const dc_series *s, const float *pred, const dc_forecast_score *sc,
                         const char *model, const char *path, const char *out)
{
    int64_t n = s->n[DC_SPLIT_TEST];
    double *v = malloc((size_t)n * 3 * sizeof *v);
    if (!v) {
        fprintf(stderr, "deepc show forecast: out of memory\n");
        return 1;
    }
    double *x = v, *actual = v + n, *forecast = v + 2 * n;
    for (int64_t i = 0; i < n; i++) {
        x[i] = (double)(s->row0[DC_SPLIT_TEST] + i);
        actual[i] = s->target_raw[s->row0[DC_SPLIT_TEST] + i];
        forecast[i] = (double)pred[i] * s->target_std + s->target_mean;
    }
    char title[400], xl[300], fl[300];
    snprintf(title, sizeof title, "%s, %d step%s ahead: test MAE %.3f, RMSE %.3f", s->target,
             s->horizon, s->horizon > 1 ? "s" : "", sc->mae, sc->rmse);
    snprintf(xl, sizeof xl, "data row of %.200s (test period: %lld windows)", base_name(path),
             (long long)n);
    snprintf(fl, sizeof fl, "forecast (%.200s)", base_name(model));
    plot_line lines[2] = {{"actual", actual, "#333333", 0}, {fl, forecast, "#d62728", 0}};
    plot_chart c = {title, xl, s->target, x, n, lines, 2, 0, 0};
    int rc = plot_svg_write(out, &c) ? 1 : 0;
    if (!rc)
        printf("wrote %s: %lld test forecasts of %s, MAE %.3f, RMSE %.3f\n", out, (long long)n,
               s->target, sc->mae, sc->rmse);
    free(v);
    return rc;
}

int cli_show_forecast(const char *model, const char *weights, const char *data, const char *out)
{
    const char *who = "deepc show forecast";
    char path[1100];
    dc_spec *spec = NULL;
    dc_model *m = NULL;
    float *pred = NULL;
    dc_forecast_score sc;
    int rc = 2;
    dc_series *s = series_load(data, who, path, sizeof path);
    if (!s || !(m = cli_load_model(model, NULL, &spec)) ||
        check_model(m, spec, model, s, path, who) || cli_load_weights(m, weights, 0))
        goto out;
    if (!(pred = malloc((size_t)s->n[DC_SPLIT_TEST] * sizeof *pred))) {
        fprintf(stderr, "%s: out of memory\n", who);
        goto out;
    }
    if (score_part(m, s, DC_SPLIT_TEST, pred, &sc, who))
        goto out;
    rc = draw_forecast(s, pred, &sc, model, path, out);
out:
    free(pred);
    dc_model_free(m);
    dc_spec_free(spec);
    dc_series_free(s);
    return rc;
}
