/*
 * curves.c - the training curves of a run's log.csv as SVG charts (plot.h): training loss and,
 * where the log has them (epoch ends), validation loss against the step; and the same for
 * accuracy in a second chart when the run was a classification.
 */
#define _POSIX_C_SOURCE 200809L
#include "plot.h"
#include "core/internal.h"
#include "io/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MAX_ROWS 1000000

typedef struct logcols {
    int64_t n;
    double *step, *loss, *acc, *vloss, *vacc;
} logcols;

static void logcols_free(logcols *c)
{
    free(c->step);
    free(c->loss);
    free(c->acc);
    free(c->vloss);
    free(c->vacc);
}

/* One field of a CSV row: a number, or NaN when empty. */
static double field(char **p)
{
    char *s = *p, *end;
    char *comma = strchr(s, ',');
    if (comma)
        *comma = 0;
    double v = *s ? strtod(s, &end) : NAN;
    if (*s && (*end != 0 && *end != '\n'))
        v = NAN;
    *p = comma ? comma + 1 : s + strlen(s);
    return v;
}

/* The columns of a deepc log.csv; 0, or -1 with the message in dc_last_error() (nothing held). */
static int read_log(const char *path, logcols *c)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    memset(c, 0, sizeof *c);
    if (!f || !fgets(line, sizeof line, f) || strncmp(line, "step,epoch,loss,acc,val_loss", 28)) {
        dc_err(f ? DC_ERR_FORMAT : DC_ERR_IO, "%s: %s", path,
               f ? "not a deepc log.csv (header step,epoch,loss,acc,val_loss,...)"
                 : "cannot open (train with --out DIR writes DIR/log.csv)");
        if (f)
            fclose(f);
        return -1;
    }
    int64_t cap = 0;
    while (fgets(line, sizeof line, f) && c->n < LOG_MAX_ROWS) {
        if (c->n == cap) {
            cap = cap ? 2 * cap : 256;
            double **cols[5] = {&c->step, &c->loss, &c->acc, &c->vloss, &c->vacc};
            for (int k = 0; k < 5; k++) {
                double *q = realloc(*cols[k], (size_t)cap * sizeof **cols[k]);
                if (!q) {
                    fclose(f);
                    logcols_free(c);
                    dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
                    return -1;
                }
                *cols[k] = q;
            }
        }
        char *p = line;
        double v[6];
        for (int k = 0; k < 6; k++)
            v[k] = field(&p);
        if (!isfinite(v[0]))
            continue;
        c->step[c->n] = v[0];
        c->loss[c->n] = v[2];
        c->acc[c->n] = v[3];
        c->vloss[c->n] = v[4];
        c->vacc[c->n] = v[5];
        c->n++;
    }
    fclose(f);
    if (c->n == 0) {
        logcols_free(c);
        dc_err(DC_ERR_FORMAT, "%s has no rows yet", path);
        return -1;
    }
    return 0;
}

/* Connect the sparse validation points (epoch ends) by filling the gaps with the last value. */
static void hold(double *v, int64_t n)
{
    double last = NAN;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            last = v[i];
        else if (isfinite(last))
            v[i] = last;
}

/* plot_log_extras for DIR/log.csv: DIR/metrics*.svg, or F_metrics*.EXT beside --out F.EXT (a
 * .png or .svg out gives its format); their names appended to wrote. 0 or -1. */
static int plot_extras_beside(const char *path, const char *dir, const char *out, char *wrote,
                              size_t size)
{
    char extra[2300], pre[1040];
    const size_t no = out ? strlen(out) : 0;
    const int png = no > 4 && !strcmp(out + no - 4, ".png");
    const int stem = png || (no > 4 && !strcmp(out + no - 4, ".svg")) ? (int)no - 4 : (int)no;
    snprintf(pre, sizeof pre, "%.*s%s", out ? stem : (int)strlen(dir), out ? out : dir,
             out ? "_" : "/");
    const int ne = plot_log_extras(path, pre, png ? "png" : "svg", extra, sizeof extra);
    const size_t used = strlen(wrote);
    if (ne > 0)
        snprintf(wrote + used, size - used, " and %s", extra);
    return ne < 0 ? -1 : 0;
}

int plot_log_curves(const char *dir, const char *out, char *wrote, size_t size)
{
    char path[1024], svg[1040];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    logcols c;
    if (read_log(path, &c))
        return -2;
    hold(c.vloss, c.n);
    hold(c.vacc, c.n);
    plot_line loss[2] = {{"training loss", c.loss, "#1f77b4", 0},
                         {"validation loss", c.vloss, "#d62728", 1}};
    plot_chart ch = {"training curves", "step", "loss", c.step, c.n, loss, 2, 0, 0};
    snprintf(svg, sizeof svg, "%s/loss.svg", dir);
    int rc = 0;
    if (out && dc_io_mkdir_parent(out) != DC_OK) /* the folders of --out a/b/F.svg */
        rc = -1;                                    /* (the error is set) */
    rc |= rc ? 0 : plot_svg_write(out ? out : svg, &ch);
    int has_acc = 0;
    for (int64_t i = 0; i < c.n; i++)
        has_acc |= c.acc[i] > 0;
    if (has_acc && !out) {
        plot_line acc[2] = {{"training accuracy", c.acc, "#1f77b4", 0},
                            {"validation accuracy", c.vacc, "#d62728", 1}};
        plot_chart ca = {"accuracy", "step", "accuracy", c.step, c.n, acc, 2, 0, 0};
        snprintf(svg, sizeof svg, "%s/accuracy.svg", dir);
        rc |= plot_svg_write(svg, &ca);
    }
    snprintf(wrote, size, "%s%s%s", out ? out : svg, has_acc && !out ? " and " : "",
             has_acc && !out ? "loss.svg" : "");
    logcols_free(&c);
    if (rc == 0) /* a task's extra columns (BERT: MLM and NSP accuracy) beside the loss chart */
        rc = plot_extras_beside(path, dir, out, wrote, size);
    return rc ? -1 : 0;
}
