/*
 * fuzz_csv.c - libFuzzer harness for the CSV readers: dc_csv_load (numeric matrix) and
 * dc_table_load (named columns), then dc_series_windows on a table that loads, and the
 * forecasting baselines on the windows.
 *
 * Input layout: two option bytes, then the CSV text.
 *   byte 0: bits 0-1 the delimiter (',' ';' '\t' ' '), bit 2 skip_header for dc_csv_load,
 *           bit 3 gzip-compress the text before writing it, bits 4-5 window - 1,
 *           bits 6-7 horizon - 1
 *   byte 1: bits 0-1 the validation fraction (0, 0.1, 0.25, 0.5), bits 2-3 the test fraction
 *           (the same values), bit 4 inputs: all numeric columns (0) or [target, first column]
 *           (1, which names one column twice when the target is the first), bits 5-7 the target
 *           column (its index modulo the numeric columns; 7 names a column that does not exist)
 */
#include "fuzz_util.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_matrix(const dc_tensor *t)
{
    FUZZ_CHECK(t->dtype == DC_F32 && t->ndim == 2 && t->shape[0] >= 1 && t->shape[1] >= 1 &&
               t->numel == t->shape[0] * t->shape[1], "matrix shape");
    volatile float last = dc_f32(t)[t->numel - 1];
    (void)last;
}

static void check_table(const dc_table *t)
{
    FUZZ_CHECK(t->n_rows >= 1 && t->n_cols >= 1 && t->n_skipped >= 0, "table %lld x %d",
               (long long)t->n_rows, t->n_cols);
    for (int c = 0; c < t->n_cols; c++) {
        FUZZ_CHECK(dc_table_column(t, t->names[c]) == c, "column '%s' not found", t->names[c]);
        for (int64_t r = 0; r < t->n_rows; r++)
            FUZZ_CHECK(isfinite(t->data[r * t->n_cols + c]), "a non-finite cell");
    }
    for (int c = 0; c < t->n_skipped; c++)
        FUZZ_CHECK(dc_table_column(t, t->skipped[c]) == -1, "skipped column '%s' found",
                   t->skipped[c]);
}

/* The windows of a series, then what the CLI runs on them. */
static void use_series(const dc_series *s)
{
    for (int p = 0; p < 3; p++) {
        FUZZ_CHECK(s->n[p] >= 0 && s->x[p] && s->y[p] && s->x[p]->shape[0] == s->n[p] &&
                   s->y[p]->shape[0] == s->n[p], "part %d", p);
        if (s->n[p] > 0) {
            volatile float last = dc_f32(s->x[p])[s->x[p]->numel - 1];
            (void)last;
        }
    }
    dc_dataset *d = dc_series_dataset(s, DC_SPLIT_TRAIN);
    FUZZ_CHECK(d != NULL, "no training dataset: %s", dc_last_error());
    dc_dataset_free(d);
    dc_forecast_score sc;
    dc_baseline_persistence(s, &sc);
    dc_baseline_linear_ar(s, 0, 0, &sc);
    if ((int64_t)s->window * s->n_features <= 64)
        dc_baseline_linear_ar(s, 1, 0, &sc);
    if (s->n[DC_SPLIT_TEST] > 0) {
        float *pred = calloc((size_t)s->n[DC_SPLIT_TEST], sizeof *pred);
        FUZZ_CHECK(pred != NULL, "out of memory");
        dc_series_score(s, DC_SPLIT_TEST, pred, &sc);
        free(pred);
    }
}

static void windows(const dc_table *t, uint8_t o0, uint8_t o1)
{
    static const double frac[4] = {0, 0.1, 0.25, 0.5};
    int window = 1 + ((o0 >> 4) & 3), horizon = 1 + (o0 >> 6);
    int pick = o1 >> 5;
    const char *target = pick == 7 ? "no such column" : t->names[pick % t->n_cols];
    const char *inputs[2] = {target, t->names[0]};
    dc_series *s = dc_series_windows(t, inputs, (o1 & 16) ? 2 : 0, target, window, horizon,
                                     frac[o1 & 3], frac[(o1 >> 2) & 3]);
    if (s) {
        use_series(s);
        dc_series_free(s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char delims[4] = {',', ';', '\t', ' '};
    uint8_t o0 = fuzz_byte(&data, &size), o1 = fuzz_byte(&data, &size);
    char delim = delims[o0 & 3];
    const char *path = o0 & 8 ? fuzz_tmp_write_gz(0, data, size) : fuzz_tmp_write(0, data, size);

    dc_clear_error();
    dc_tensor *m = dc_csv_load(path, (o0 >> 2) & 1, delim);
    if (m) {
        check_matrix(m);
        dc_tensor_free(m);
    } else {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "csv: no error message");
    }

    dc_clear_error();
    dc_table *t = dc_table_load(path, delim);
    if (t) {
        check_table(t);
        windows(t, o0, o1);
        dc_table_free(t);
    } else {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "table: no error message");
    }
    dc_clear_error();
    return 0;
}
