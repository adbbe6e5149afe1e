/*
 * plot_log.c - the extra metric columns of a deepc log.csv (a task's n_extra_metrics, the
 * columns after elapsed_s) as charts for `deepc plot`: the columns whose name contains "acc"
 * in one chart (PREFIXmetrics_acc.EXT), the others in a second (PREFIXmetrics.EXT). One point
 * per epoch (the rows where the extra columns have values), against the step.
 */
#define _POSIX_C_SOURCE 200809L
#include "plot/plot.h"
#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PL_MAX_COLS 8
#define PL_MAX_ROWS 100000

typedef struct pl_cols {
    int n_cols, first;             /* extra columns and the index of the first one */
    char name[PL_MAX_COLS][48];
    int64_t n;                     /* rows kept (epoch rows) */
    double *step, *v[PL_MAX_COLS]; /* [n] */
} pl_cols;

static void pl_free(pl_cols *c)
{
    free(c->step);
    for (int k = 0; k < PL_MAX_COLS; k++)
        free(c->v[k]);
}

/* The extra column names from the header (the columns after elapsed_s). */
static void pl_header(char *line, pl_cols *c)
{
    line[strcspn(line, "\r\n")] = 0;
    int i = 0, after = -1;
    for (char *save = NULL, *f = strtok_r(line, ",", &save); f; f = strtok_r(NULL, ",", &save),
              i++) {
        if (after >= 0 && c->n_cols < PL_MAX_COLS)
            snprintf(c->name[c->n_cols++], sizeof c->name[0], "%s", f);
        if (!strcmp(f, "elapsed_s"))
            after = c->first = i + 1;
    }
}

/* Fields of a row into v[0..max) (NaN for an empty or bad one); how many. */
static int pl_fields(char *line, double *v, int max)
{
    int n = 0;
    for (char *p = line; n < max; n++) {
        char *comma = strchr(p, ','), *end;
        if (comma)
            *comma = 0;
        v[n] = strtod(p, &end);
        if (end == p || (*end && *end != '\n' && *end != '\r'))
            v[n] = NAN;
        if (!comma)
            return n + 1;
        p = comma + 1;
    }
    return n;
}

/* Append the row's step and extras when any extra has a value. 0, or -1 out of memory. */
static int pl_add(pl_cols *c, const double *f, int nf, int64_t *cap)
{
    int any = 0;
    for (int k = 0; k < c->n_cols; k++)
        any |= c->first + k < nf && isfinite(f[c->first + k]);
    if (!any || !isfinite(f[0]))
        return 0;
    if (c->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        double *s = realloc(c->step, (size_t)*cap * sizeof *s);
        if (!s)
            return -1;
        c->step = s;
        for (int k = 0; k < c->n_cols; k++) {
            double *q = realloc(c->v[k], (size_t)*cap * sizeof *q);
            if (!q)
                return -1;
            c->v[k] = q;
        }
    }
    c->step[c->n] = f[0];
    for (int k = 0; k < c->n_cols; k++)
        c->v[k][c->n] = c->first + k < nf ? f[c->first + k] : NAN;
    c->n++;
    return 0;
}

static int pl_read(const char *path, pl_cols *c)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    char line[4096];
    if (!f) {
        dc_err(DC_ERR_IO, "%s: cannot open", path);
        return -1;
    }
    if (fgets(line, sizeof line, f))
        pl_header(line, c);
    int64_t cap = 0;
    int rc = 0;
    while (c->n_cols > 0 && rc == 0 && c->n < PL_MAX_ROWS && fgets(line, sizeof line, f)) {
        double v[10 + PL_MAX_COLS + 4];
        int nf = pl_fields(line, v, (int)(sizeof v / sizeof *v));
        rc = pl_add(c, v, nf, &cap);
    }
    fclose(f);
    if (rc)
        dc_err(DC_ERR_NOMEM, "%s: out of memory for its columns", path);
    return rc;
}

/* One chart of the columns whose name contains "acc" (acc 1) or does not (acc 0). 1 written,
 * 0 nothing to draw, -1 error. */
static int pl_chart(const pl_cols *c, int acc, const char *path)
{
    static const char *const colors[PL_MAX_COLS] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                                    "#9467bd", "#8c564b", "#e377c2", "#17becf"};
    plot_line lines[PL_MAX_COLS];
    const char *base[PL_MAX_COLS]; /* without "val_": a metric and its val_ share a colour */
    int n = 0, n_colors = 0, color[PL_MAX_COLS];
    for (int k = 0; k < c->n_cols; k++) {
        if ((strstr(c->name[k], "acc") != NULL) != acc)
            continue;
        const int val = !strncmp(c->name[k], "val_", 4);
        base[n] = c->name[k] + (val ? 4 : 0);
        color[n] = -1;
        for (int j = 0; j < n && color[n] < 0; j++)
            color[n] = !strcmp(base[j], base[n]) ? color[j] : -1;
        color[n] = color[n] >= 0 ? color[n] : n_colors++;
        lines[n] = (plot_line){c->name[k], c->v[k], colors[color[n]], !val};
        n++;
    }
    if (n == 0 || c->n == 0)
        return 0;
    plot_chart ch = {acc ? "accuracy (dashed: training, solid: validation)"
                         : "metrics (dashed: training, solid: validation)",
                     "step", acc ? "accuracy" : "value", c->step, c->n, lines, n, 0, 0};
    return plot_svg_write(path, &ch) ? -1 : 1;
}

int plot_log_extras(const char *log_path, const char *prefix, const char *ext, char *written,
                    size_t n)
{
    pl_cols c;
    written[0] = 0;
    if (pl_read(log_path, &c)) {
        pl_free(&c);
        return -1;
    }
    int count = 0;
    for (int acc = 1; acc >= 0 && count >= 0; acc--) {
        char path[1100];
        snprintf(path, sizeof path, "%s%s.%s", prefix, acc ? "metrics_acc" : "metrics", ext);
        int r = pl_chart(&c, acc, path);
        if (r > 0) {
            size_t used = strlen(written);
            snprintf(written + used, n - used, "%s%s", used ? " and " : "", path);
        }
        count = r < 0 ? -1 : count + r;
    }
    pl_free(&c);
    return count;
}
