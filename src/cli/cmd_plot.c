/*
 * cmd_plot.c - deepc plot DIR: the training curves of DIR/log.csv (written by deepc train) as an
 * SVG: training loss and, where the log has them (epoch ends), validation loss against the step;
 * and the same for accuracy in a second chart when the run was a classification.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "plot/plot.h"

#include <math.h>
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

static int read_log(const char *path, logcols *c)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    memset(c, 0, sizeof *c);
    if (!f || !fgets(line, sizeof line, f) || strncmp(line, "step,epoch,loss,acc,val_loss", 28)) {
        fprintf(stderr, "deepc plot: %s: %s\n", path,
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
                    fprintf(stderr, "deepc plot: out of memory\n");
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
        fprintf(stderr, "deepc plot: %s has no rows yet\n", path);
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

int cmd_plot(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    const cli_opt opts[] = {{"--out", &out, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("plot", argc, argv, opts, &dir, 1, NULL);
    if (pr > 0)
        printf("usage: deepc plot DIR [--out F.svg]\n  the loss (and accuracy) curves of "
               "DIR/log.csv; writes DIR/loss.svg (and DIR/accuracy.svg) unless --out\n");
    if (pr)
        return pr > 0 ? 0 : 2;
    if (!dir)
        return cli_missing("plot", "DIR (a training run's --out folder)");
    char path[1024], svg[1040];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    logcols c;
    if (read_log(path, &c))
        return 2;
    hold(c.vloss, c.n);
    hold(c.vacc, c.n);
    int rc = 0;
    plot_line loss[2] = {{"training loss", c.loss, "#1f77b4", 0},
                         {"validation loss", c.vloss, "#d62728", 1}};
    plot_chart ch = {"training curves", "step", "loss", c.step, c.n, loss, 2, 0, 0};
    snprintf(svg, sizeof svg, "%s/loss.svg", dir);
    rc |= (out && cli_ensure_parent(out)) || plot_svg_write(out ? out : svg, &ch);
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
    if (rc == 0)
        printf("wrote %s%s%s\n", out ? out : svg, has_acc && !out ? " and " : "",
               has_acc && !out ? "loss.svg" : "");
    char extra[2300], pre[1040]; /* a task's extra columns (BERT: MLM, NSP accuracy) */
    const size_t no = out ? strlen(out) : 0, png = no > 4 && !strcmp(out + no - 4, ".png");
    const int stem = png || (no > 4 && !strcmp(out + no - 4, ".svg")) ? (int)no - 4 : (int)no;
    snprintf(pre, sizeof pre, "%.*s%s", out ? stem : (int)strlen(dir), out ? out : dir,
             out ? "_" : "/");
    const int ne = rc ? 0 : plot_log_extras(path, pre, png ? "png" : "svg", extra, sizeof extra);
    if (ne > 0)
        printf("wrote %s\n", extra);
    logcols_free(&c);
    return rc || ne < 0 ? 1 : 0;
}
