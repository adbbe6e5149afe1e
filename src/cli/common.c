/*
 * common.c - the helpers every subcommand shares (cli.h): strict parsing of values (no bare
 * atoi: a bad number is an error that names the flag), flag tables and nearest-name suggestions,
 * --set variables, loading a model and its weights with the CLI's messages, --quiet.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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


void cli_unknown_flag(const char *cmd, const char *flag, const char *const *known)
{
    const char *near = dc_nearest_name(flag, known);
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

int cli_spec_set(dc_spec *s, const cli_sets *sets)
{
    for (int i = 0; sets && i < sets->n; i++)
        if (dc_spec_define_assign(s, sets->v[i]) != DC_OK) {
            fprintf(stderr, "deepc: %s\n", dc_last_error());
            return -1;
        }
    return 0;
}

void cli_unknown_flag_usage(const char *cmd, const char *flag, void (*usage)(FILE *f))
{
    char *text = NULL;
    size_t len = 0;
    const char *known[128] = {NULL};
    FILE *f = open_memstream(&text, &len);
    if (f) {
        usage(f);
        fclose(f);
    }
    dc_usage_flags(text, known, 128); /* every "--name" of the usage text, once */
    cli_unknown_flag(cmd, flag, known);
    free(text);
}

/* ---- models, weights, output ---- */

dc_model *cli_load_model_set(const char *path, const cli_sets *sets, dc_rng *rng,
                             dc_spec **spec_out)
{
    dc_spec *s = dc_spec_parse_file(path);
    if (s && cli_spec_set(s, sets)) {
        dc_spec_free(s);
        return NULL;
    }
    dc_model *m = s ? dc_spec_build(s, rng) : NULL;
    if (!m) {
        fprintf(stderr, "deepc: %s\n", dc_last_error());
        dc_spec_free(s);
        return NULL;
    }
    if (spec_out)
        *spec_out = s;
    else
        dc_spec_free(s);
    return m;
}

dc_model *cli_load_model(const char *path, dc_rng *rng, dc_spec **spec_out)
{
    return cli_load_model_set(path, NULL, rng, spec_out);
}

int cli_allow_nonfinite;
int cli_bf16;

int cli_load_weights(dc_model *m, const char *path, int partial)
{
    dc_load_report rep;
    memset(&rep, 0, sizeof rep);
    dc_load_opts lo = {.strict = !partial, .allow_nonfinite = cli_allow_nonfinite};
    if (dc_model_load_opts(m, path, &lo, &rep) != DC_OK) {
        const char *e = dc_last_error(); /* names the file; a refusal lists the keys */
        fprintf(stderr, "deepc: %s%s%s\n%s", strstr(e, path) ? "" : path,
                strstr(e, path) ? "" : ": ", e,
                partial || !strstr(e, "refused") ? ""
                                                 : "(--partial loads the tensors that match)\n");
        return -1;
    }
    if (partial && (rep.n_missing || rep.n_unexpected || rep.n_mismatched))
        fprintf(stderr, "deepc: partial load of %s: %d loaded\n%s\n", path, rep.n_loaded,
                rep.text);
    return 0;
}

int cli_load_frozen(dc_model *m, const char *path, int partial)
{
    if (cli_load_weights(m, path, partial))
        return -1;
    if ((cli_bf16 ? dc_model_freeze_bf16(m) : dc_model_freeze(m)) != DC_OK) {
        fprintf(stderr, "deepc: %s\n", dc_last_error());
        return -1;
    }
    return 0;
}

double cli_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int cli_quiet_stdout(void)
{
    fflush(stdout);
    if (!freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "deepc: --quiet: cannot open /dev/null\n");
        return -1;
    }
    return 0;
}
