/*
 * series_spec.c - the --data forms of time-series data (series_spec.h): "weather" or
 * "csv:FILE[,key=value]...", parsed, the file read (dc_table_load) and cut into windows.
 */
#define _POSIX_C_SOURCE 200809L
#include "series_spec.h"
#include "core/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WEATHER_NAME "seattle-weather.csv"
#define WEATHER_DEBIAN "/usr/lib/python3/dist-packages/vega_datasets/_data/" WEATHER_NAME
#define MAX_STEPS 100000 /* the largest window and horizon */

/* A parsed spec: strings point into buf. */
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
static const char *weather_file(series_src *s)
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
    return dc_err_null(DC_ERR_IO, "--data weather: %s not found; it comes with Debian's package "
                       "python3-vega-datasets (apt-get install python3-vega-datasets), or put %s "
                       "in $DEEPC_DATA", WEATHER_DEBIAN, WEATHER_NAME);
}

/* "a+b+c" into s->inputs. */
static dc_status parse_inputs(series_src *s, char *v, const char *spec)
{
    int n = 1;
    for (const char *p = v; *p; p++)
        n += *p == '+';
    s->inputs = malloc((size_t)n * sizeof *s->inputs);
    if (!s->inputs)
        return dc_err(DC_ERR_NOMEM, "out of memory");
    for (char *tok = v;; tok++) {
        char *plus = strchr(tok, '+');
        if (plus)
            *plus = '\0';
        if (!*tok)
            return dc_err(DC_ERR_ARG, "--data '%s': inputs=: expected column names joined by "
                          "'+' (an empty name)", spec);
        s->inputs[s->n_inputs++] = tok;
        if (!plus)
            return DC_OK;
        tok = plus;
    }
}

/* window= / horizon=: a whole number in [1, MAX_STEPS]. */
static dc_status parse_steps(const char *key, const char *v, int *out, const char *spec)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < 1 || x > MAX_STEPS)
        return dc_err(DC_ERR_ARG, "--data '%s': %s=%s: expected a whole number from 1 to %d",
                      spec, key, v, MAX_STEPS);
    *out = (int)x;
    return DC_OK;
}

/* val= / test=: a fraction of the rows in [0, 1). */
static dc_status parse_frac(const char *key, const char *v, double *out, const char *spec)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !(x >= 0 && x < 1))
        return dc_err(DC_ERR_ARG, "--data '%s': %s=%s: expected a fraction of the rows, at "
                      "least 0 and below 1", spec, key, v);
    *out = x;
    return DC_OK;
}

/* One key=value of a csv: spec; seen collects the keys given so far (a bit each). */
static dc_status parse_key(series_src *s, char *kv, unsigned *seen, const char *spec)
{
    static const char *keys[] = {"target", "window", "horizon", "inputs", "val", "test"};
    char *eq = strchr(kv, '=');
    int k = 0;
    if (eq)
        *eq = '\0';
    while (k < 6 && strcmp(kv, keys[k]))
        k++;
    if (k == 6)
        return dc_err(DC_ERR_ARG, "--data '%s': unknown key '%s' (target, window, horizon, "
                      "inputs, val, test)", spec, kv);
    if (!eq || !eq[1])
        return dc_err(DC_ERR_ARG, "--data '%s': %s needs a value (%s=...)", spec, kv, kv);
    if (*seen >> k & 1)
        return dc_err(DC_ERR_ARG, "--data '%s': %s is given twice", spec, kv);
    *seen |= 1u << k;
    char *v = eq + 1;
    switch (k) {
    case 0: s->target = v; return DC_OK;
    case 1: return parse_steps(kv, v, &s->window, spec);
    case 2: return parse_steps(kv, v, &s->horizon, spec);
    case 3: return parse_inputs(s, v, spec);
    case 4: return parse_frac(kv, v, &s->val, spec);
    default: return parse_frac(kv, v, &s->test, spec);
    }
}

/* Parse "weather" or "csv:FILE[,key=value]..." into s. */
static dc_status src_parse(const char *spec, series_src *s)
{
    memset(s, 0, sizeof *s);
    s->window = 7;
    s->horizon = 1;
    s->val = 0.2;
    s->test = 0.1;
    if (!strcmp(spec, "weather")) {
        s->target = "temp_max";
        return (s->path = weather_file(s)) ? DC_OK : DC_ERR_IO;
    }
    if (strncmp(spec, "csv:", 4))
        return dc_err(DC_ERR_ARG, "--data '%s': expected csv:FILE[,key=value]... or weather",
                      spec);
    size_t len = strlen(spec + 4);
    if (!(s->buf = malloc(len + 1)))
        return dc_err(DC_ERR_NOMEM, "out of memory");
    memcpy(s->buf, spec + 4, len + 1);
    char *next = strchr(s->buf, ',');
    if (next)
        *next++ = '\0';
    s->path = s->buf;
    if (!*s->path)
        return dc_err(DC_ERR_ARG, "--data '%s': expected a file name after csv:", spec);
    unsigned seen = 0;
    while (next) {
        char *kv = next;
        if ((next = strchr(kv, ',')))
            *next++ = '\0';
        dc_status st = parse_key(s, kv, &seen, spec);
        if (st != DC_OK)
            return st;
    }
    if (s->val + s->test >= 1)
        return dc_err(DC_ERR_ARG, "--data '%s': val + test = %g leaves no training rows "
                      "(expected a sum below 1)", spec, s->val + s->test);
    return DC_OK;
}

dc_series *dc_series_open(const char *spec, char *path, size_t size)
{
    series_src src;
    dc_series *s = NULL;
    dc_table *t = NULL;
    if (src_parse(spec, &src) != DC_OK)
        goto out;
    int len = snprintf(path, size, "%s", src.path);
    if (len < 0 || (size_t)len >= size) {
        dc_err(DC_ERR_ARG, "--data: a file name longer than %zu bytes", size - 1);
        goto out;
    }
    if (!(t = dc_table_load(src.path, ',')))
        goto out;
    const char *target = src.target ? src.target : t->names[0];
    s = dc_series_windows(t, src.inputs, src.n_inputs, target, src.window, src.horizon,
                          src.val, src.test);
    if (!s) {
        dc_err_prefix("%s: ", src.path);
    } else if (s->n[DC_SPLIT_TEST] < 1) {
        dc_err(DC_ERR_ARG, "%s: test=%g of %lld rows gives no test windows (expected a larger "
               "test fraction)", src.path, src.test, (long long)t->n_rows);
        dc_series_free(s);
        s = NULL;
    }
out:
    dc_table_free(t);
    src_free(&src);
    return s;
}
