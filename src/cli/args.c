/*
 * args.c - strict parsing of command-line values (no bare atoi: a bad number is an error that
 * names the flag), and the --data argument shared by train/eval.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int arg_i64(const char *flag, const char *val, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    if (!val) {
        fprintf(stderr, "deepc: %s needs a value\n", flag);
        return -1;
    }
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (end == val || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "deepc: %s: '%s' is not an integer in [%lld, %lld]\n", flag, val,
                (long long)lo, (long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

int arg_int(const char *flag, const char *val, int lo, int hi, int *out)
{
    int64_t v;
    if (arg_i64(flag, val, lo, hi, &v))
        return -1;
    *out = (int)v;
    return 0;
}

int arg_float(const char *flag, const char *val, double lo, double hi, float *out)
{
    char *end;
    if (!val) {
        fprintf(stderr, "deepc: %s needs a value\n", flag);
        return -1;
    }
    errno = 0;
    double v = strtod(val, &end);
    if (end == val || *end || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "deepc: %s: '%s' is not a number in [%g, %g]\n", flag, val, lo, hi);
        return -1;
    }
    *out = (float)v;
    return 0;
}


/* npy:X.npy,Y.npy */
static dc_dataset *load_npy_pair(const char *spec)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", spec);
    char *comma = strchr(buf, ',');
    if (!comma)
        return dc_err_null(DC_ERR_ARG, "--data npy:X.npy,Y.npy needs two files separated by a "
                           "comma");
    *comma = '\0';
    dc_tensor *x = dc_npy_load(buf);
    dc_tensor *y = x ? dc_npy_load(comma + 1) : NULL;
    if (!x || !y) {
        dc_tensor_free(x);
        return NULL;
    }
    const dc_tensor *t[2] = {x, y};
    for (int k = 0; k < 2; k++) /* training data must be finite: say so here, not at step 1 */
        for (int64_t i = 0; t[k]->dtype == DC_F32 && i < t[k]->numel; i++)
            if (!isfinite(dc_f32(t[k])[i])) {
                dc_err(DC_ERR_NUMERIC, "%.900s: element %lld is not a finite number",
                       k ? comma + 1 : buf, (long long)i);
                dc_tensor_free(x);
                dc_tensor_free(y);
                return NULL;
            }
    return dc_dataset_tensors(x, y);
}

/* "DIR,MEAN,STD": the normalisation given after the folder; 1 when both parse (dir cut there). */
static int given_norm(char *dir, float *mean, float *std)
{
    char *c2 = strrchr(dir, ','), *c1 = NULL, *e1, *e2;
    if (!c2)
        return 0;
    *c2 = '\0';
    c1 = strrchr(dir, ',');
    *c2 = ',';
    if (!c1)
        return 0;
    *mean = strtof(c1 + 1, &e1);
    *std = strtof(c2 + 1, &e2);
    if (e1 != c2 || e1 == c1 + 1 || *e2 || e2 == c2 + 1 || !(*std > 0))
        return 0;
    *c1 = '\0';
    return 1;
}

/* idx:DIR[,MEAN,STD]: any folder of MNIST-layout IDX files, normalised by MEAN,STD or else by the
 * statistics of its training split (the same numbers for train, eval and predict). */
static dc_dataset *load_idx_dir(const char *spec, int train)
{
    char *dir = strdup(spec);
    dc_images im, tr;
    float mean = 0, std = 1;
    if (!dir)
        return dc_err_null(DC_ERR_NOMEM, "out of memory");
    int given = given_norm(dir, &mean, &std);
    dc_status st = dc_idx_dir_load(dir, train, &im);
    if (st == DC_OK && !given && train)
        st = dc_images_stats(&im, &mean, &std);
    if (st == DC_OK && !given && !train) {
        st = dc_idx_dir_load(dir, 1, &tr);
        if (st == DC_OK)
            st = dc_images_stats(&tr, &mean, &std);
        dc_images_free(&tr);
        if (st != DC_OK)
            dc_err_prefix("the normalisation comes from the training split (or give it: "
                          "idx:DIR,MEAN,STD): ");
    }
    free(dir);
    if (st != DC_OK) {
        dc_images_free(&im);
        return NULL;
    }
    return dc_dataset_images(&im, mean, std);
}

dc_dataset *cli_load_data(const char *spec, int train)
{
    if (!strncmp(spec, "idx:", 4))
        return load_idx_dir(spec + 4, train);
    if (!strncmp(spec, "fashion-mnist", 13) && (spec[13] == '\0' || spec[13] == ':')) {
        dc_images im;
        if (dc_fashion_mnist_load(spec[13] ? spec + 14 : NULL, train, &im) != DC_OK)
            return NULL;
        return dc_dataset_images(&im, CLI_FMNIST_MEAN, CLI_FMNIST_STD);
    }
    if (!strncmp(spec, "digits", 6) && (spec[6] == '\0' || spec[6] == ':')) {
        dc_tensor *x, *y;
        if (dc_digits_load(spec[6] ? spec + 7 : NULL, &x, &y) != DC_OK)
            return NULL;
        return dc_dataset_tensors(x, y);
    }
    if (!strncmp(spec, "npy:", 4))
        return load_npy_pair(spec + 4);
    return dc_err_null(DC_ERR_ARG, "unknown --data '%s' (fashion-mnist[:DIR], idx:DIR, "
                       "digits[:FILE], npy:X.npy,Y.npy)", spec);
}

/* ---- nearest-name suggestions for unknown commands and flags ---- */

/* Optimal-string-alignment distance: the fewest single-byte insertions, deletions,
 * substitutions and swaps of two neighbours turning a into b ("trian" -> "train": 1).
 * Names longer than 63 bytes are compared by their first 63. */
int cli_edit_distance(const char *a, const char *b)
{
    enum { L = 64 };
    int d[L][L];
    int na = (int)strnlen(a, L - 1), nb = (int)strnlen(b, L - 1);
    for (int i = 0; i <= na; i++)
        d[i][0] = i;
    for (int j = 0; j <= nb; j++)
        d[0][j] = j;
    for (int i = 1; i <= na; i++)
        for (int j = 1; j <= nb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            best = d[i - 1][j] + 1 < best ? d[i - 1][j] + 1 : best;
            best = d[i][j - 1] + 1 < best ? d[i][j - 1] + 1 : best;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

const char *cli_nearest(const char *word, const char *const *known)
{
    const char *best = NULL;
    int best_d = 0;
    size_t wl = strlen(word), dashes = strspn(word, "-");
    for (int i = 0; known && known[i]; i++) {
        int d = cli_edit_distance(word, known[i]);
        size_t kl = strlen(known[i]);
        /* close enough: a third of the name may differ (at least 1, at most 3 edits) */
        int limit = (int)(kl - strspn(known[i], "-")) / 3;
        limit = limit < 1 ? 1 : limit > 3 ? 3 : limit;
        /* an abbreviation of 3+ letters ("--opt" for "--optimizer") is close too */
        if (d > limit && wl >= dashes + 3 && wl < kl && !strncmp(word, known[i], wl))
            d = limit;
        if (d <= limit && (!best || d < best_d)) {
            best = known[i];
            best_d = d;
        }
    }
    return best;
}

void cli_unknown_flag(const char *cmd, const char *flag, const char *const *known)
{
    const char *near = cli_nearest(flag, known);
    fprintf(stderr, "deepc %s: unknown option '%s'", cmd, flag);
    if (near)
        fprintf(stderr, " \u2014 did you mean '%s'?", near);
    fprintf(stderr, " (deepc %s --help lists the options)\n", cmd);
}

int cli_missing(const char *cmd, const char *what)
{
    fprintf(stderr, "deepc %s: missing %s (deepc %s --help shows the usage)\n", cmd, what, cmd);
    return 2;
}

/* ---- one flag parser for the model subcommands ---- */

int cli_set_add(cli_sets *s, const char *val)
{
    const char *eq = val ? strchr(val, '=') : NULL;
    if (!eq || eq == val || s->n == CLI_MAX_SETS) {
        fprintf(stderr, "deepc: --set: expected NAME=VALUE (at most %d), got '%s'\n",
                CLI_MAX_SETS, val ? val : "");
        return -1;
    }
    s->v[s->n++] = val;
    return 0;
}

int cli_parse_opts(const char *cmd, int argc, char **argv, const cli_opt *opts,
                   const char **pos, int n_pos, cli_sets *sets)
{
    const char *known[40];
    int nk = 0, np = 0;
    for (int j = 0; opts[j].name && nk < 37; j++)
        known[nk++] = opts[j].name;
    if (sets)
        known[nk++] = "--set";
    known[nk++] = "--help";
    known[nk] = NULL;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h"))
            return 1;
        if (f[0] != '-' || !f[1]) {
            if (np == n_pos) {
                fprintf(stderr, "deepc %s: unexpected argument '%s' (deepc %s --help shows the "
                        "usage)\n", cmd, f, cmd);
                return -1;
            }
            pos[np++] = f;
            continue;
        }
        int j = 0;
        while (opts[j].name && strcmp(f, opts[j].name))
            j++;
        if (!opts[j].name && !(sets && !strcmp(f, "--set"))) {
            cli_unknown_flag(cmd, f, known);
            return -1;
        }
        if (opts[j].name && opts[j].on) {
            *opts[j].on = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "deepc %s: %s needs a value\n", cmd, f);
            return -1;
        }
        if (opts[j].name)
            *opts[j].val = v;
        else if (cli_set_add(sets, v))
            return -1;
        i++;
    }
    return 0;
}

int cli_spec_set(dc_spec *s, const char *path, const cli_sets *sets)
{
    for (int i = 0; sets && i < sets->n; i++) {
        char name[64];
        const char *eq = strchr(sets->v[i], '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq - sets->v[i] < 63 ? eq - sets->v[i] : 63),
                 sets->v[i]);
        int r = dc_spec_define(s, name, eq + 1);
        if (r < 0) {
            fprintf(stderr, "deepc: --set %s: %s\n", sets->v[i], dc_last_error());
            return -1;
        }
        if (r == 0) {
            fprintf(stderr, "deepc: --set %s: %s has no value written '$%s'\n", sets->v[i],
                    path, name);
            return -1;
        }
    }
    return 0;
}

void cli_unknown_flag_usage(const char *cmd, const char *flag, void (*usage)(FILE *f))
{
    char *text = NULL;
    size_t len = 0;
    const char *known[128];
    int n = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) {
        usage(f);
        fclose(f);
    }
    /* every "--name" of the usage text, once: cut out in place */
    for (char *p = text; p && *p && n < 127; p++) {
        if (!(p[0] == '-' && p[1] == '-' && (p == text || strchr(" \t\n[(|,", p[-1]))))
            continue;
        char *q = p + 2;
        while ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-')
            q++;
        char end = *q;
        *q = '\0';
        int seen = q - p <= 2;
        for (int i = 0; i < n && !seen; i++)
            seen = !strcmp(known[i], p);
        if (!seen)
            known[n++] = p;
        p = q;
        if (!end)
            break;
    }
    known[n] = NULL;
    cli_unknown_flag(cmd, flag, known);
    free(text);
}
