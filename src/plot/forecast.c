/*
 * forecast.c - the chart of `deepc show forecast`: actual and forecast test values of a time
 * series in the target's units (plot.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "plot.h"
#include "deepc.h"
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *p)
{
    const char *slash = strrchr(p, '/');
    return slash && slash[1] ? slash + 1 : p;
}

int plot_forecast_svg(const char *out, const dc_series *s, const float *pred,
                      const dc_forecast_score *sc, const char *model, const char *path)
{
    int64_t n = s->n[DC_SPLIT_TEST];
    double *v = malloc((size_t)n * 3 * sizeof *v);
    if (!v) {
        dc_err(DC_ERR_NOMEM, "%s: out of memory for the chart's %lld points", out,
               (long long)n);
        return -1;
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
    int rc = plot_svg_write(out, &c);
    free(v);
    return rc;
}
