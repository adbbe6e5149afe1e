/*
 * cmd_show.c - deepc show: the flags of each picture, its inputs loaded and checked, then the
 * library draws it (plot/picture.h: samples, filters, features, errors as PNG; plot/plot.h: a
 * forecast against the actual values as SVG). Exit 0, 1 when a picture could not be written,
 * 2 for bad usage or input (nothing is written then).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "data/series_spec.h"
#include "plot/picture.h"
#include "plot/plot.h"
#include "train/forecast_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arguments ---- */

enum { A_DATA = 1, A_WEIGHTS = 2, A_N = 4, A_SEED = 8, A_INDEX = 16 };

typedef struct show_args {
    const char *what, *model, *weights, *data, *out;
    int n, index, given; /* given: the A_* flags that appeared */
    int64_t seed;
} show_args;

static void show_usage(FILE *f)
{
    fprintf(f,
        "usage: deepc show samples --data fashion-mnist[:DIR] [--n 64] [--seed S] --out F.png\n"
        "       deepc show filters MODEL --weights W.safetensors --out F.png\n"
        "       deepc show features MODEL --weights W --data fashion-mnist[:DIR] [--index I]\n"
        "                           --out DIR\n"
        "       deepc show errors MODEL --weights W --data fashion-mnist[:DIR] [--n 36]\n"
        "                         --out F.png\n"
        "       deepc show forecast MODEL --weights W --data csv:FILE,...|weather --out F.svg\n"
        "       deepc show attention MODEL --weights W (--text T | --input X.npy) --out F.png\n"
        "  samples   the first n training images (a seeded random n with --seed), labelled\n"
        "  filters   every kernel of the first Conv2d layer: a cell per output channel with its\n"
        "            in-channels side by side; gray is 0, white/black +-max|w| of the layer\n"
        "  features  test image I through the model (eval mode): DIR/input.png and\n"
        "            DIR/<layer>.png for every conv and pooling layer, each map min-max scaled\n"
        "  errors    the first n misclassified test images, captioned true>predicted\n"
        "  forecast  a line chart of the model's forecasts over the test windows against the\n"
        "            actual values (--data as in deepc train), with the test MAE and RMSE\n"
        "  attention one attention's weights as a heatmap (deepc show attention --help)\n"
        "Exit 0 ok, 1 a picture could not be written, 2 bad usage or input.\n");
}

/* The picture (argv[1]) and its flags; 0 ok, 1 --help, -1 bad usage (message printed). */
static int parse_show_args(int argc, char **argv, show_args *a)
{
    static const struct { const char *what; int needs_model, allowed, required; } kinds[] = {
        {"samples", 0, A_DATA | A_N | A_SEED, A_DATA},
        {"filters", 1, A_WEIGHTS, A_WEIGHTS},
        {"features", 1, A_WEIGHTS | A_DATA | A_INDEX, A_WEIGHTS | A_DATA},
        {"errors", 1, A_WEIGHTS | A_DATA | A_N, A_WEIGHTS | A_DATA},
        {"forecast", 1, A_WEIGHTS | A_DATA, A_WEIGHTS | A_DATA},
    };
    static const char *const whats[] = {"samples", "filters", "features", "errors", "forecast",
                                        NULL};
    const char *v[5] = {NULL}, *n = NULL, *index = NULL, *seed = NULL; /* the A_* flags' values */
    const cli_opt opts[] = {{"--out", &a->out, NULL}, {"--data", &v[0], NULL},
                            {"--weights", &v[1], NULL}, {"--n", &n, NULL},
                            {"--index", &index, NULL}, {"--seed", &seed, NULL}, {NULL, NULL, NULL}};
    memset(a, 0, sizeof *a);
    int k = 0;
    while (argc > 1 && whats[k] && strcmp(argv[1], whats[k]))
        k++;
    const int help = argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    if (argc < 2 || help) {
        show_usage(help ? stdout : stderr);
        return help ? 1 : -1;
    }
    if (!whats[k]) {
        const char *near = dc_nearest_name(argv[1], whats);
        fprintf(stderr, "deepc show: unknown picture '%s'%s%s%s (samples, filters, features, "
                "errors, forecast)\n", argv[1], near ? " \u2014 did you mean '" : "",
                near ? near : "", near ? "'?" : "");
        return -1;
    }
    a->what = whats[k];
    int pr = cli_parse_opts("show", argc - 1, argv + 1, opts, &a->model,
                            kinds[k].needs_model, NULL);
    if (pr > 0)
        show_usage(stdout);
    if (pr)
        return pr;
    v[2] = n;
    v[3] = seed;
    v[4] = index;
    static const char *names[] = {"--data", "--weights", "--n", "--seed", "--index"};
    char who[32];
    snprintf(who, sizeof who, "show %s", a->what);
    for (int b = 0; b < 5; b++) {
        a->given |= v[b] ? 1 << b : 0;
        if (v[b] && !(kinds[k].allowed >> b & 1)) {
            fprintf(stderr, "deepc show %s: %s does not apply\n", a->what, names[b]);
            return -1;
        }
        if ((kinds[k].required >> b & 1) && !v[b]) {
            cli_missing(who, names[b]);
            return -1;
        }
    }
    a->data = v[0];
    a->weights = v[1];
    a->n = !strcmp(a->what, "errors") ? 36 : 64;
    if ((n && arg_int("--n", n, 1, 1024, &a->n)) ||
        (index && arg_int("--index", index, 0, 100000000, &a->index)) ||
        (seed && arg_i64("--seed", seed, 0, INT64_MAX, &a->seed)))
        return -1;
    if ((kinds[k].needs_model && !a->model) || !a->out) {
        cli_missing(who, !a->model && kinds[k].needs_model ? "MODEL (a spec file)" : "--out");
        return -1;
    }
    return 0;
}

/* ---- inputs ---- */

/* The model with its weights (strict); when im is given, it must take im's images. */
static dc_model *load_trained(const show_args *a, const dc_images *im)
{
    dc_spec *spec = NULL;
    dc_model *m = cli_load_model(a->model, NULL, &spec);
    int bad = m && im && picture_check_input(spec, a->model, im) != DC_OK;
    if (bad)
        fprintf(stderr, "deepc show: %s\n", dc_last_error());
    if (m && (bad || cli_load_weights(m, a->weights, 0))) {
        dc_model_free(m);
        m = NULL;
    }
    dc_spec_free(spec);
    return m;
}

/* The exit code of a picture: 1 when it could not be made or written, 2 for bad input. */
static int picture_rc(dc_status st, const char *what)
{
    if (st == DC_OK)
        return 0;
    fprintf(stderr, "deepc show %s: %s\n", what, dc_last_error());
    return st == DC_ERR_IO || st == DC_ERR_NOMEM ? 1 : 2;
}

/* samples, errors, features: the Fashion-MNIST images (and the model) they need, then the
 * picture. */
static int show_images(const show_args *a)
{
    const int samples = !strcmp(a->what, "samples");
    dc_images im;
    if (picture_images_load(a->data, samples, &im) != DC_OK) {
        fprintf(stderr, "deepc show: %s\n", dc_last_error());
        return 2;
    }
    dc_model *m = samples ? NULL : load_trained(a, &im);
    int64_t seed = a->seed;
    dc_status st = DC_ERR_ARG;
    if (samples)
        st = picture_samples(&im, a->n, a->given & A_SEED ? &seed : NULL, a->out, stdout);
    else if (m && !strcmp(a->what, "errors"))
        st = picture_errors(m, &im, a->n, a->out, stdout);
    else if (m)
        st = picture_features(m, &im, a->index, a->out, stdout);
    int rc = samples || m ? picture_rc(st, a->what) : 2;
    dc_model_free(m);
    dc_images_free(&im);
    return rc;
}

/* The model's test forecasts of --data against the actual values (train/forecast_report.h,
 * plot_forecast_svg); the data is checked before the weights are read. */
static int show_forecast(const show_args *a)
{
    dc_spec *spec = NULL;
    dc_model *m = cli_load_model(a->model, NULL, &spec);
    float *pred = NULL;
    dc_forecast_score sc;
    char path[1100];
    dc_series *s = m ? dc_forecast_open_checked(m, spec, a->data, a->model, path, sizeof path)
                     : NULL;
    int rc = s && !cli_load_weights(m, a->weights, 0) ? 0 : 2;
    if ((m && !s) || (!rc && dc_forecast_predict_test(m, s, &pred, &sc) != DC_OK)) {
        fprintf(stderr, "deepc show forecast: %s\n", dc_last_error());
        rc = 2;
    }
    if (!rc && plot_forecast_svg(a->out, s, pred, &sc, a->model, path)) {
        fprintf(stderr, "deepc show forecast: %s\n", dc_last_error());
        rc = 1;
    }
    if (!rc)
        printf("wrote %s: %lld test forecasts of %s, MAE %.3f, RMSE %.3f\n", a->out,
               (long long)s->n[DC_SPLIT_TEST], s->target, sc.mae, sc.rmse);
    free(pred);
    dc_series_free(s);
    dc_model_free(m);
    dc_spec_free(spec);
    return rc;
}

int cmd_show(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "attention")) /* cmd_attn.c */
        return cmd_show_attention(argc - 1, argv + 1);
    show_args a;
    int pr = parse_show_args(argc, argv, &a);
    if (pr)
        return pr > 0 ? 0 : 2;
    if (!strcmp(a.what, "forecast"))
        return show_forecast(&a);
    if (strcmp(a.what, "filters"))
        return show_images(&a);
    dc_model *m = load_trained(&a, NULL);
    int rc = m ? picture_rc(picture_filters(m, a.out, stdout), a.what) : 2;
    dc_model_free(m);
    return rc;
}
