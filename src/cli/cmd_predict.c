/*
 * cmd_predict.c - deepc predict: classify one image file with a trained model.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "train/predict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void predict_usage(FILE *f)
{
    fprintf(f, "usage: deepc predict MODEL --weights W.safetensors --image FILE.png|.pgm\n"
               "  [--invert | --no-invert] [--mean M] [--std S] [--top K] [--set NAME=VALUE]\n"
               "The image is converted to the model's input shape (gray or RGB, bilinear\n"
               "resize) and normalised with (p/255 - mean)/std (Fashion-MNIST's by default).\n"
               "--invert uses 1 - p/255 (dark objects on a light background); a gray model\n"
               "given an image with a light border inverts it by itself and says so\n"
               "(--no-invert: never).\n");
}

typedef struct predict_args {
    const char *model, *weights, *image;
    float mean, std;
    int invert, no_invert, top;
    cli_sets sets;
} predict_args;

/* 0, 1 after --help, -1 after a message. */
static int parse_predict(int argc, char **argv, predict_args *a)
{
    const char *mean = NULL, *std = NULL, *top = NULL;
    const cli_opt opts[] = {{"--weights", &a->weights, NULL}, {"--image", &a->image, NULL},
                            {"--invert", NULL, &a->invert}, {"--no-invert", NULL, &a->no_invert},
                            {"--mean", &mean, NULL}, {"--std", &std, NULL},
                            {"--top", &top, NULL}, {NULL, NULL, NULL}};
    *a = (predict_args){.mean = DC_FMNIST_MEAN, .std = DC_FMNIST_STD, .top = 5};
    int pr = cli_parse_opts("predict", argc, argv, opts, &a->model, 1, &a->sets);
    if (pr > 0)
        predict_usage(stdout);
    if (pr)
        return pr;
    if ((mean && arg_float("--mean", mean, -1e3, 1e3, &a->mean)) ||
        (std && arg_float("--std", std, 1e-6, 1e3, &a->std)) ||
        (top && arg_int("--top", top, 1, 1000, &a->top)))
        return -1;
    if (a->invert && a->no_invert) {
        fprintf(stderr, "deepc predict: --invert and --no-invert contradict each other\n");
        return -1;
    }
    if (!a->model || !a->weights || !a->image) {
        cli_missing("predict", !a->model     ? "MODEL (a spec file)"
                               : !a->weights ? "--weights W.safetensors"
                                             : "--image FILE");
        return -1;
    }
    return 0;
}

/* What the image looked like, when it matters (stderr). */
static void invert_note(const predict_args *a, const dc_prediction *p)
{
    if (p->auto_inverted)
        fprintf(stderr, "deepc predict: %s looks like a dark object on a light background "
                "(border mean %.2f, centre %.2f): inverting it as --invert does (--no-invert: "
                "as it is)\n", a->image, p->border, p->centre);
    else if (a->invert && !p->light)
        fprintf(stderr, "deepc predict: note: %s has a dark border (mean %.2f): --invert makes "
                "it light on a dark model input; leave --invert out if the object is the light "
                "part\n", a->image, p->border);
}

int cmd_predict(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) /* text classifiers: form_textcls.c */
        if (!strcmp(argv[i], "--text"))
            return cmd_predict_text(argc, argv);
    predict_args a;
    int parsed = parse_predict(argc, argv, &a);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    dc_spec *spec = NULL;
    dc_model *m = cli_load_model_set(a.model, &a.sets, NULL, &spec);
    if (!m)
        return 2;
    dc_predict_opts o = {.mean = a.mean, .std = a.std, .top = a.top,
                         .invert = a.invert ? 1 : a.no_invert ? 0 : -1};
    dc_prediction p;
    int rc = cli_load_frozen(m, a.weights, 0) ? 2 : 0;
    if (!rc && dc_predict_image(m, spec, a.image, &o, &p) != DC_OK) {
        fprintf(stderr, "deepc predict: %s\n", dc_last_error());
        rc = 2;
    }
    if (!rc)
        invert_note(&a, &p);
    for (int k = 0; !rc && k < p.n; k++)
        printf("%d  %-12s %.4f\n", p.cls[k], p.name ? p.name(p.cls[k]) : "", p.prob[k]);
    dc_model_free(m);
    dc_spec_free(spec);
    return rc;
}
