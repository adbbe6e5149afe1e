/*
 * cmd_predict.c - deepc predict: classify one image file with a trained model.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

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

/* Whether to invert: --invert, or a gray model given a dark object on a light background (said
 * on stderr, with the way back). */
static int want_invert(const predict_args *a, const uint8_t *px, int w, int h, int c, int64_t C)
{
    double border, centre;
    int light = dc_image_light_background(px, w, h, c, &border, &centre);
    if (a->invert || a->no_invert || C != 1 || !light) {
        if (a->invert && !light)
            fprintf(stderr, "deepc predict: note: %s has a dark border (mean %.2f): --invert "
                    "makes it light on a dark model input; leave --invert out if the object is "
                    "the light part\n", a->image, border);
        return a->invert;
    }
    fprintf(stderr, "deepc predict: %s looks like a dark object on a light background (border "
            "mean %.2f, centre %.2f): inverting it as --invert does (--no-invert: as it is)\n",
            a->image, border, centre);
    return 1;
}

int cmd_predict(int argc, char **argv)
{
    predict_args a;
    int parsed = parse_predict(argc, argv, &a);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    const char *model = a.model, *weights = a.weights, *image = a.image;
    const int top = a.top;
    dc_spec *spec = NULL;
    dc_model *m = cli_load_model_set(model, &a.sets, NULL, &spec);
    if (!m)
        return 2;
    int rc = 2, w, h, c;
    uint8_t *px = NULL;
    dc_ctx *ctx = NULL;
    int64_t shape[DC_MAX_DIMS + 1] = {1};
    int nd = dc_spec_input_shape(spec, shape + 1) + 1;
    if (nd != 4) {
        fprintf(stderr, "deepc predict: %s takes [%d dims] input, not images [C, H, W]\n",
                model, nd - 1);
        goto out;
    }
    if (cli_load_weights(m, weights, 0))
        goto out;
    if (dc_image_read(image, &w, &h, &c, &px) != DC_OK || !(ctx = dc_ctx_new(0))) {
        fprintf(stderr, "deepc predict: %s\n", dc_last_error());
        goto out;
    }
    dc_tensor *x = dc_empty(ctx, DC_F32, 4, shape);
    int invert = want_invert(&a, px, w, h, c, shape[1]);
    if (!x || dc_image_to_input(px, w, h, c, shape[1], shape[2], shape[3], a.mean, a.std, invert,
                                dc_f32(x)) != DC_OK) {
        fprintf(stderr, "deepc predict: %s\n", dc_last_error());
        goto out;
    }
    dc_ctx_set_grad(ctx, 0);
    dc_tensor *p = dc_softmax(ctx, dc_model_forward(ctx, m, x), -1);
    if (!p) {
        fprintf(stderr, "deepc predict: %s\n", dc_last_error());
        goto out;
    }
    int K = (int)p->shape[p->ndim - 1];
    int fm = K == 10 && shape[1] == 1 && shape[2] == 28;
    float *pr = dc_f32(p);
    for (int k = 0; k < top && k < K; k++) {
        int best = -1;
        for (int j = 0; j < K; j++)
            if (pr[j] >= 0 && (best < 0 || pr[j] > pr[best]))
                best = j;
        printf("%d  %-12s %.4f\n", best, fm ? dc_fashion_mnist_class(best) : "", pr[best]);
        pr[best] = -1;
    }
    rc = 0;
out:
    free(px);
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(spec);
    return rc;
}
