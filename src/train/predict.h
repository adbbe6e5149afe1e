/*
 * predict.h - the work of `deepc predict`: one image file through a trained classifier, the
 * top classes with their softmax probabilities. Internal (train layer); tests/test_cli_lib.c.
 */
#ifndef DC_TRAIN_PREDICT_H
#define DC_TRAIN_PREDICT_H

#include "deepc.h"

#define DC_PREDICT_MAX_TOP 1000

/*
 * dc_forward_npy - `deepc forward`: the batch in the .npy file input through m (eval mode, no
 * tape), written as .npy to output (its missing folders made first). The errors of the load, the
 * forward, the folders and the save.
 */
dc_status dc_forward_npy(dc_model *m, const char *input, const char *output);

/*
 * dc_load_frozen_spec - the model of the spec file path with $vocab = vocab and, when labels > 0,
 * $labels = labels, built without initialisation, the weights loaded strictly and frozen for
 * inference (dc_model_freeze, or dc_model_freeze_bf16 when bf16). The parsed spec goes to *spec
 * (the caller frees it, also on failure) or, with spec NULL, is freed. NULL with the error set.
 */
dc_model *dc_load_frozen_spec(const char *path, int64_t vocab, int labels, const char *weights,
                              int bf16, dc_spec **spec);

typedef struct dc_predict_opts {
    float mean, std; /* normalisation (p/255 - mean)/std (dc_image_to_input) */
    int invert;      /* 1: 1 - p/255; 0: never; -1: when a gray model is given a dark object on
                      * a light background (dc_image_light_background) */
    int top;         /* classes to return, 1..DC_PREDICT_MAX_TOP */
} dc_predict_opts;

typedef struct dc_prediction {
    int n;                          /* classes returned: min(top, the model's classes) */
    int cls[DC_PREDICT_MAX_TOP];    /* the most probable first */
    float prob[DC_PREDICT_MAX_TOP];
    const char *(*name)(int);       /* class names (Fashion-MNIST's for 10 classes of 1x28xW
                                     * input), or NULL */
    int inverted, auto_inverted;    /* the image was inverted; by the -1 rule */
    int light;                      /* the image has a light border */
    double border, centre;          /* mean brightness of border and centre, 0..1 */
} dc_prediction;

/*
 * dc_predict_image - read image (PNG or PGM: dc_image_read), convert it to m's input shape from
 * spec ([C, H, W]: gray or RGB, bilinear resize, normalised and maybe inverted as o says), run
 * m in eval mode without gradients, softmax over the last axis, and fill *p with the o->top most
 * probable classes. DC_ERR_SHAPE when the spec's input is not an image [C, H, W]; DC_ERR_NUMERIC
 * when the output is not finite (NaN weights); the errors of dc_image_read / dc_image_to_input /
 * the forward.
 */
dc_status dc_predict_image(dc_model *m, const dc_spec *spec, const char *image,
                           const dc_predict_opts *o, dc_prediction *p);

#endif
