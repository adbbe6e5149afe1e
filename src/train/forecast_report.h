/*
 * forecast_report.h - what a forecasting run reports next to its model: the check that a model
 * takes the series' windows, the three baselines scored on the same windows, and the results
 * table (forecast_report.c). Internal: the CLI and the tests use it.
 */
#ifndef DC_TRAIN_FORECAST_REPORT_H
#define DC_TRAIN_FORECAST_REPORT_H

#include "deepc.h"

#include <stdio.h>

/* One row of the results table: validation and test MAE / RMSE in units of the target. */
typedef struct dc_forecast_row {
    char name[64];
    dc_forecast_score v, t; /* validation (when has_v), test */
    int has_v;
} dc_forecast_row;

#define DC_FORECAST_N_BASELINES 3

/*
 * dc_forecast_check_model - the model built from spec must take one window [W, F] of s (float)
 * and give one value for it (a forward of one training window). Returns DC_OK, or DC_ERR_SHAPE
 * with "takes input shape = ..., but the windows of PATH are W steps of F features: expected
 * shape = W, F in its [input]" (path: the data file, for the message) or the model's output
 * shape in dc_last_error().
 */
dc_status dc_forecast_check_model(dc_model *m, const dc_spec *spec, const dc_series *s,
                                  const char *path);

/*
 * dc_forecast_baselines - persistence, linear AR on the target and linear AR on every input,
 * scored on the test windows and, when there are any, on the validation windows, into
 * rows[DC_FORECAST_N_BASELINES]. DC_OK, or the baseline's error.
 */
dc_status dc_forecast_baselines(const dc_series *s, dc_forecast_row *rows);

/*
 * dc_forecast_score_test - the model's test forecasts into pred[s->n[DC_SPLIT_TEST]] (caller
 * memory, normalised units) and their score into *sc. DC_OK or the error.
 */
dc_status dc_forecast_score_test(dc_model *m, const dc_series *s, float *pred,
                                 dc_forecast_score *sc);

/*
 * dc_forecast_table_print - the results table to f: what is forecast from what, the window
 * counts of path, one row for the model and one per baseline, then how the model compares
 * with the best baseline on test (MAE and RMSE).
 */
void dc_forecast_table_print(FILE *f, const dc_series *s, const char *path,
                             const dc_forecast_row *model, const dc_forecast_row *base);
/* The same table as one JSON object on one line: {"best_epoch": N, "model": {"val_mae": ...,
 * "val_rmse": ..., "test_mae": ..., "test_rmse": ...}, "persistence": {...}, "ar_target": {...},
 * "ar_all": {...}} (the val_ keys where the row has validation figures). */
void dc_forecast_table_json(FILE *f, int64_t best_epoch, const dc_forecast_row *model,
                            const dc_forecast_row *base);

/*
 * `deepc show forecast`'s data in two steps, so that the caller loads the trained weights in
 * between: dc_forecast_open_checked opens the series of data (dc_series_open: csv:FILE,... or
 * weather; path receives the file read, cap bytes) and checks m (built from spec; named model
 * in the message) against it (dc_forecast_check_model): the series (dc_series_free), or NULL
 * with the error. dc_forecast_predict_test: m's test forecasts of s into *pred (malloc'd,
 * s->n[DC_SPLIT_TEST]; NULL on failure) scored into *sc.
 */
dc_series *dc_forecast_open_checked(dc_model *m, const dc_spec *spec, const char *data,
                                    const char *model, char *path, size_t cap);
dc_status dc_forecast_predict_test(dc_model *m, const dc_series *s, float **pred,
                                   dc_forecast_score *sc);

#endif
