/*
 * classify.c - the most common job with the library: load a model spec and its trained weights,
 * turn one image into the model's input and print the most likely class. This is what
 * `deepc predict` does, in the fewest calls (the README's API tour).
 *
 *   build/classify MODEL.spec WEIGHTS.safetensors IMAGE.png|.pgm
 *
 * With a LeNet-5 trained by the README's `deepc train models/lenet5 ... --out runs/lenet5`:
 *   build/classify runs/lenet5/model.spec runs/lenet5/model.safetensors shoe.png
 * Exit 0 after printing "class K (NAME) p=P", 1 on any error (the library's message on stderr).
 */
#include "deepc.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.spec WEIGHTS.safetensors IMAGE\n", argv[0]);
        return 1;
    }
    /* 1. the network: parse the spec, build it (weights zero), load the trained weights */
    dc_spec *spec = dc_spec_parse_file(argv[1]);
    dc_model *m = spec ? dc_spec_build(spec, NULL) : NULL;
    dc_load_report rep;
    if (!m || dc_model_load(m, argv[2], /*strict=*/1, &rep) != DC_OK) {
        fprintf(stderr, "%s\n", dc_last_error());
        dc_model_free(m);
        dc_spec_free(spec);
        return 1;
    }
    /* 2. the input: [1, C, H, W] from the spec; the image resized and normalised as in training
     *    (Fashion-MNIST: (p/255 - 0.2860) / 0.3530), inverted if it is dark on light */
    int64_t shape[DC_MAX_DIMS + 1] = {1};
    int nd = dc_spec_input_shape(spec, shape + 1) + 1;
    int w, h, c, rc = 1;
    uint8_t *px = NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = NULL;
    if (nd == 4 && ctx && dc_image_read(argv[3], &w, &h, &c, &px) == DC_OK &&
        (x = dc_empty(ctx, DC_F32, 4, shape)) != NULL &&
        dc_image_to_input(px, w, h, c, shape[1], shape[2], shape[3], 0.2860f, 0.3530f,
                          shape[1] == 1 && dc_image_light_background(px, w, h, c, NULL, NULL),
                          dc_f32(x)) == DC_OK) {
        /* 3. predict: eval mode, no tape; softmax over the logits, the arg max */
        dc_ctx_set_grad(ctx, 0);
        dc_ctx_set_training(ctx, 0);
        dc_tensor *p = dc_softmax(ctx, dc_model_forward(ctx, m, x), -1);
        if (p && p->ndim == 2) {
            int64_t k;
            dc_argmax_rows(p, &k);
            printf("class %lld (%s) p=%.3f\n", (long long)k,
                   p->shape[1] == 10 ? dc_fashion_mnist_class((int)k) : "-",
                   (double)dc_f32(p)[k]);
            rc = 0;
        }
    }
    if (rc)
        fprintf(stderr, "%s\n", nd != 4 ? "the model does not take images [C, H, W]"
                                        : dc_last_error());
    free(px);
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(spec);
    return rc;
}
