/*
 * test_series.c - time series: CSV tables with named columns, sliding windows with a
 * chronological split and train-only normalisation, the persistence and linear AR baselines.
 * Files are made by the tests; the Seattle weather comes from python3-vega-datasets, which
 * .ci/run installs.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SEATTLE "/usr/lib/python3/dist-packages/vega_datasets/_data/seattle-weather.csv"

/* 10 rows: a date, a = t + 1, a text column (one quoted with a comma), b = (t + 1)². */
static const char *small_csv(char *path, size_t size, int gz)
{
    char text[1024];
    size_t k = (size_t)snprintf(text, sizeof text, "date,a,kind,b\n");
    for (int t = 0; t < 10; t++)
        k += (size_t)snprintf(text + k, sizeof text - k, "2020-01-%02d, %d ,%s,%d\n%s", t + 1,
                              t + 1, t == 4 ? "\"sun, wind\"" : t % 2 ? "rain" : "fog",
                              (t + 1) * (t + 1), t == 6 ? "\n" : "");
    snprintf(path, size, "%s/small.csv%s", t_tmpdir(), gz ? ".gz" : "");
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, text, (unsigned)k);
        gzclose(f);
    } else {
        t_write_text(path, text);
    }
    return path;
}

TEST(series_table_reads_named_numeric_columns_plain_and_gzip)
{
    for (int gz = 0; gz < 2; gz++) {
        char path[512];
        dc_table *t = dc_table_load(small_csv(path, sizeof path, gz), ',');
        REQUIRE(t);
        CHECK(t->n_rows == 10 && t->n_cols == 2 && t->n_skipped == 2, "gz %d: %lld rows, %d "
              "numeric, %d skipped", gz, (long long)t->n_rows, t->n_cols, t->n_skipped);
        if (t->n_cols == 2 && t->n_skipped == 2) {
            CHECK(!strcmp(t->names[0], "a") && !strcmp(t->names[1], "b"), "names %s %s",
                  t->names[0], t->names[1]);
            CHECK(!strcmp(t->skipped[0], "date") && !strcmp(t->skipped[1], "kind"),
                  "skipped %s %s", t->skipped[0], t->skipped[1]);
        }
        CHECK(t->data[0] == 1 && t->data[1] == 1 && t->data[19] == 100 && t->data[8] == 5,
              "values %g %g %g %g", t->data[0], t->data[1], t->data[19], t->data[8]);
        CHECK(dc_table_column(t, "b") == 1, "column b");
        dc_table_free(t);
    }
}

TEST(series_windows_values_split_and_train_only_normalisation)
{
    char path[512];
    dc_table *t = dc_table_load(small_csv(path, sizeof path, 0), ',');
    REQUIRE(t);
    /* R = 10: rows 6 / 2 / 2; W = 3, h = 1: targets at rows 3..5 (train), 6..7, 8..9. */
    dc_series *s = dc_series_windows(t, NULL, 0, "b", 3, 1, 0.2, 0.2);
    REQUIRE(s);
    CHECK(s->n_features == 2 && s->target_feature == 1, "F %d, target feature %d",
          s->n_features, s->target_feature);
    CHECK(s->n_rows[0] == 6 && s->n_rows[1] == 2 && s->n_rows[2] == 2, "rows %lld %lld %lld",
          (long long)s->n_rows[0], (long long)s->n_rows[1], (long long)s->n_rows[2]);
    CHECK(s->n[0] == 3 && s->n[1] == 2 && s->n[2] == 2 && s->row0[1] == 6 && s->row0[2] == 8,
          "windows %lld %lld %lld", (long long)s->n[0], (long long)s->n[1], (long long)s->n[2]);
    CHECK(s->x[0]->ndim == 3 && s->x[0]->shape[1] == 3 && s->x[0]->shape[2] == 2 &&
          s->y[2]->ndim == 2 && s->y[2]->shape[0] == 2 && s->y[2]->shape[1] == 1, "shapes");
    /* Stats of rows 0..5 only: a = 1..6, b = 1, 4, ..., 36 (population std). */
    double ma = 3.5, sa = sqrt(17.5 / 6), mb = 91.0 / 6, vb = 0;
    for (int i = 1; i <= 6; i++)
        vb += (i * i - mb) * (i * i - mb);
    double sb = sqrt(vb / 6);
    CHECK_NEAR(s->mean[0], ma, 1e-12);
    CHECK_NEAR(s->std[0], sa, 1e-12);
    CHECK_NEAR(s->mean[1], mb, 1e-12);
    CHECK_NEAR(s->std[1], sb, 1e-12);
    CHECK_NEAR(s->target_mean, mb, 1e-12);
    CHECK_NEAR(s->target_std, sb, 1e-12);
    /* Validation window 1: target row 7 (b = 64) from rows 4, 5, 6 (a = 5, 6, 7). */
    const float *x = dc_f32(s->x[1]) + 1 * 3 * 2;
    float want[6];
    for (int k = 0; k < 3; k++) {
        want[2 * k] = (float)((5 + k - ma) / sa);
        want[2 * k + 1] = (float)(((5 + k) * (5 + k) - mb) / sb);
    }
    CHECK_ALLCLOSE("val window 1", x, want, 6, 1e-6, 1e-6);
    CHECK_NEAR(dc_f32(s->y[1])[1], (64 - mb) / sb, 1e-6);
    CHECK_NEAR(dc_f32(s->y[0])[0], (16 - mb) / sb, 1e-6);
    dc_series_free(s);
    /* Inputs by name, target not among them, horizon 2: first target row 4. */
    s = dc_series_windows(t, (const char *const[]){"a"}, 1, "b", 2, 2, 0.0, 0.3);
    REQUIRE(s);
    CHECK(s->n_features == 1 && s->target_feature == -1 && s->n[0] == 4 && s->n[1] == 0 &&
          s->n[2] == 3 && s->row0[0] == 3, "F %d, windows %lld %lld %lld, row0 %lld",
          s->n_features, (long long)s->n[0], (long long)s->n[1], (long long)s->n[2],
          (long long)s->row0[0]);
    /* Test window 0: target row 7 from rows 4, 5 (a = 5, 6); stats of a over rows 0..6. */
    CHECK_NEAR(dc_f32(s->x[2])[0], (5 - 4.0) / 2.0, 1e-6);
    CHECK_NEAR(dc_f32(s->x[2])[1], (6 - 4.0) / 2.0, 1e-6);
    dc_dataset *d = dc_series_dataset(s, DC_SPLIT_TRAIN);
    REQUIRE(d);
    CHECK(d->n == 4 && d->n_classes == 0, "dataset n %lld classes %d", (long long)d->n,
          d->n_classes);
    CHECK(dc_series_dataset(s, DC_SPLIT_VAL) == NULL, "an empty part gives no dataset");
    dc_dataset_free(d);
    dc_series_free(s);
    dc_table_free(t);
}

/* R rows of lin = 5 + 0.5 t and wave = sin(0.3 t) (no text columns). */
static dc_table *linear_table(int R)
{
    char path[512];
    snprintf(path, sizeof path, "%s/linear.csv", t_tmpdir());
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fprintf(f, "lin,wave\n");
    for (int t = 0; t < R; t++)
        fprintf(f, "%.17g,%.17g\n", 5 + 0.5 * t, sin(0.3 * t));
    fclose(f);
    return dc_table_load(path, ',');
}

TEST(series_baselines_on_a_linear_series)
{
    dc_table *t = linear_table(200);
    REQUIRE(t);
    dc_series *s = dc_series_windows(t, NULL, 0, "lin", 4, 2, 0.15, 0.15);
    REQUIRE(s);
    dc_forecast_score p, ar, arall;
    REQUIRE(dc_baseline_persistence(s, &p) == DC_OK);
    /* ŷ(τ) = v(τ − 2): every error is 2 · 0.5 = 1. */
    CHECK(p.n == 30, "test windows %lld", (long long)p.n);
    CHECK_NEAR(p.mae, 1.0, 1e-9);
    CHECK_NEAR(p.rmse, 1.0, 1e-9);
    REQUIRE(dc_baseline_linear_ar(s, 0, 0, &ar) == DC_OK);
    REQUIRE(dc_baseline_linear_ar(s, 1, 0, &arall) == DC_OK);
    CHECK(ar.mae < 1e-3 && ar.rmse < 1e-3, "AR on the target: MAE %g RMSE %g", ar.mae, ar.rmse);
    CHECK(arall.mae < 1e-3 && arall.rmse < 1e-3, "AR on all features: MAE %g RMSE %g",
          arall.mae, arall.rmse);
    /* Scoring the true normalised targets gives ~0 error. */
    dc_forecast_score z;
    REQUIRE(dc_series_score(s, DC_SPLIT_TEST, dc_f32(s->y[DC_SPLIT_TEST]), &z) == DC_OK);
    CHECK(z.n == 30 && z.mae < 1e-4, "score of the targets: n %lld MAE %g", (long long)z.n,
          z.mae);
    CHECK(dc_baseline_linear_ar(s, 0, -1, &ar) == DC_ERR_ARG, "negative ridge accepted");
    dc_series_free(s);
    dc_table_free(t);
}

TEST(series_errors_name_the_columns_and_the_line)
{
    char path[512];
    dc_table *t = dc_table_load(small_csv(path, sizeof path, 0), ',');
    REQUIRE(t);
    CHECK(dc_series_windows(t, NULL, 0, "temp", 3, 1, 0.2, 0.2) == NULL, "unknown target");
    const char *e = dc_last_error();
    CHECK(strstr(e, "no column 'temp'") && strstr(e, "a, b") && strstr(e, "date, kind"),
          "message: %s", e);
    CHECK(dc_series_windows(t, (const char *const[]){"a", "kind"}, 2, "b", 3, 1, 0, 0) == NULL,
          "text input");
    e = dc_last_error();
    CHECK(strstr(e, "'kind' is not numeric") && strstr(e, "a, b"), "message: %s", e);
    CHECK(dc_series_windows(t, NULL, 0, "b", 0, 1, 0, 0) == NULL, "window 0");
    CHECK(dc_series_windows(t, NULL, 0, "b", 3, 1, 0.5, 0.5) == NULL, "no training rows");
    CHECK(dc_series_windows(t, NULL, 0, "b", 8, 1, 0.2, 0.2) == NULL, "window too long");
    dc_table_free(t);

    snprintf(path, sizeof path, "%s/ragged.csv", t_tmpdir());
    t_write_text(path, "d,x,y\n1,2,3\n4,5,6\n\n7,8\n");
    CHECK(dc_table_load(path, ',') == NULL, "ragged file loaded");
    e = dc_last_error();
    CHECK(strstr(e, "ragged.csv:5:") && strstr(e, "2 fields, expected 3"), "message: %s", e);
    t_write_text(path, "x,y\n1,2\n3,\n");
    CHECK(dc_table_load(path, ',') == NULL, "missing value loaded");
    e = dc_last_error();
    CHECK(strstr(e, "ragged.csv:3: column 'y'"), "message: %s", e);
    t_write_text(path, "x,x\n1,2\n");
    CHECK(dc_table_load(path, ',') == NULL && strstr(dc_last_error(), "appears twice"),
          "duplicate names: %s", dc_last_error());
    t_write_text(path, "x,y\n");
    CHECK(dc_table_load(path, ',') == NULL && strstr(dc_last_error(), "no data rows"),
          "header only: %s", dc_last_error());
    CHECK(dc_table_load("/nonexistent/x.csv", ',') == NULL, "missing file loaded");
}

TEST(series_seattle_weather_baselines)
{
    dc_table *t = dc_table_load(SEATTLE, ',');
    if (!t) {
        CHECK(0, "%s (install python3-vega-datasets)", dc_last_error());
        return;
    }
    CHECK(t->n_rows == 1461 && t->n_cols == 4 && t->n_skipped == 2, "%lld rows, %d numeric, "
          "%d skipped", (long long)t->n_rows, t->n_cols, t->n_skipped);
    dc_series *s = dc_series_windows(t, NULL, 0, "temp_max", 7, 1, 0.2, 0.1);
    REQUIRE(s);
    dc_forecast_score p, ar, arall;
    REQUIRE(dc_baseline_persistence(s, &p) == DC_OK);
    REQUIRE(dc_baseline_linear_ar(s, 0, 0, &ar) == DC_OK);
    REQUIRE(dc_baseline_linear_ar(s, 1, 0, &arall) == DC_OK);
    printf("  seattle temp_max, W=7 h=1, %lld/%lld/%lld windows: test MAE/RMSE persistence "
           "%.3f/%.3f, AR(target) %.3f/%.3f, AR(all) %.3f/%.3f\n", (long long)s->n[0],
           (long long)s->n[1], (long long)s->n[2], p.mae, p.rmse, ar.mae, ar.rmse, arall.mae,
           arall.rmse);
    CHECK(p.n == 146 && p.mae > 0.5 && p.mae < 5, "persistence n %lld MAE %g", (long long)p.n,
          p.mae);
    CHECK(ar.mae < p.mae * 1.1 && arall.mae < p.mae * 1.1, "AR MAE %g %g vs persistence %g",
          ar.mae, arall.mae, p.mae);
    dc_series_free(s);
    dc_table_free(t);
}
