/*
 * cmd_predict.c - deepc predict: classify one image file with a trained model.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Resample src [sh, sw, sc] to the model's [C, H, W] with bilinear interpolation, converting
 * RGB to gray (ITU-R 601 luma) when C == 1, and normalise: ((p/255 or 1 - p/255) - mean)/std. */
static void to_input(const uint8_t *src, int sw, int sh, int sc, float *dst, int64_t C,
                     int64_t H, int64_t W, int invert, float mean, float std)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                double fy = ((double)y + 0.5) * sh / (double)H - 0.5;
                double fx = ((double)x + 0.5) * sw / (double)W - 0.5;
                int y0 = (int)floor(fy), x0 = (int)floor(fx);
                double wy = fy - y0, wx = fx - x0, acc = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int yy = y0 + dy < 0 ? 0 : (y0 + dy >= sh ? sh - 1 : y0 + dy);
                        int xx = x0 + dx < 0 ? 0 : (x0 + dx >= sw ? sw - 1 : x0 + dx);
                        const uint8_t *p = src + ((size_t)yy * (size_t)sw + (size_t)xx) * (size_t)sc;
                        double v = sc == 1 ? p[0]
                                   : C == 1 ? 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]
                                            : p[c < sc ? c : 0];
                        acc += v * (dy ? wy : 1 - wy) * (dx ? wx : 1 - wx);
                    }
                double v = acc / 255.0;
                if (invert)
                    v = 1.0 - v;
                dst[(c * H + y) * W + x] = (float)((v - mean) / std);
            }
}

int cmd_predict(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *image = NULL;
    float mean = CLI_FMNIST_MEAN, std = CLI_FMNIST_STD;
    int invert = 0, top = 5;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help")) {
            printf("usage: deepc predict MODEL --weights W.safetensors --image FILE.png|.pgm\n"
                   "  [--invert] [--mean M] [--std S] [--top K]\n"
                   "The image is converted to the model's input shape (gray or RGB, bilinear\n"
                   "resize) and normalised with (p/255 - mean)/std (Fashion-MNIST's by default;\n"
                   "--invert for dark objects on a light background).\n");
            return 0;
        } else if (!strcmp(f, "--weights") && v) weights = argv[++i];
        else if (!strcmp(f, "--image") && v) image = argv[++i];
        else if (!strcmp(f, "--invert")) invert = 1;
        else if (!strcmp(f, "--mean")) { if (arg_float(f, v, -1e3, 1e3, &mean)) return 2; i++; }
        else if (!strcmp(f, "--std")) { if (arg_float(f, v, 1e-6, 1e3, &std)) return 2; i++; }
        else if (!strcmp(f, "--top")) { if (arg_int(f, v, 1, 1000, &top)) return 2; i++; }
        else if (f[0] != '-' && !model) model = f;
        else {
            fprintf(stderr, "deepc predict: bad argument '%s' (see --help)\n", f);
            return 2;
        }
    }
    if (!model || !weights || !image) {
        fprintf(stderr, "usage: deepc predict MODEL --weights W --image FILE.png|.pgm\n");
        return 2;
    }
    dc_spec *spec = NULL;
    dc_model *m = cli_load_model(model, NULL, &spec);
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
    to_input(px, w, h, c, dc_f32(x), shape[1], shape[2], shape[3], invert, mean, std);
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
