/*
 * predict.c - one image through a trained classifier (predict.h).
 */
#include "train/predict.h"
#include "core/internal.h"
#include "io/io.h"

#include <stdlib.h>
#include <string.h>

/* Whether to invert (o->invert, or -1's rule); the border figures into p. */
static int want_invert(const dc_predict_opts *o, const uint8_t *px, int w, int h, int c,
                       int64_t C, dc_prediction *p)
{
    p->light = dc_image_light_background(px, w, h, c, &p->border, &p->centre);
    if (o->invert >= 0 || C != 1 || !p->light)
        return o->invert > 0;
    p->auto_inverted = 1;
    return 1;
}

/* The top classes of probabilities pr[0..K) (destroyed) into p. DC_ERR_NUMERIC when a
 * probability is NaN (weights loaded with NaN in them): no class can be ranked then. */
static dc_status top_classes(float *pr, int K, int top, dc_prediction *p)
{
    for (int j = 0; j < K; j++)
        if (!(pr[j] >= 0))
            return dc_err(DC_ERR_NUMERIC, "the model's output is not finite (class %d: "
                          "probability %g; NaN or Inf weights?)", j, (double)pr[j]);
    p->n = top < K ? top : K;
    for (int k = 0; k < p->n; k++) {
        int best = -1;
        for (int j = 0; j < K; j++)
            if (pr[j] >= 0 && (best < 0 || pr[j] > pr[best]))
                best = j;
        p->cls[k] = best;
        p->prob[k] = pr[best];
        pr[best] = -1;
    }
    return DC_OK;
}

dc_status dc_predict_image(dc_model *m, const dc_spec *spec, const char *image,
                           const dc_predict_opts *o, dc_prediction *p)
{
    memset(p, 0, sizeof *p);
    int64_t shape[DC_MAX_DIMS + 1] = {1};
    int nd = dc_spec_input_shape(spec, shape + 1) + 1, w, h, c;
    if (nd != 4)
        return dc_err(DC_ERR_SHAPE, "the model takes [%d dims] input, not images [C, H, W]",
                      nd - 1);
    if (o->top < 1 || o->top > DC_PREDICT_MAX_TOP)
        return dc_err(DC_ERR_ARG, "top %d: not in [1, %d]", o->top, DC_PREDICT_MAX_TOP);
    uint8_t *px = NULL;
    dc_status st = dc_image_read(image, &w, &h, &c, &px);
    dc_ctx *ctx = st == DC_OK ? dc_ctx_new(0) : NULL;
    if (st == DC_OK && !ctx)
        st = dc_err(DC_ERR_NOMEM, "out of memory");
    dc_tensor *x = ctx ? dc_empty(ctx, DC_F32, 4, shape) : NULL, *y = NULL;
    if (ctx && !x)
        st = dc_err(DC_ERR_NOMEM, "out of memory");
    if (x) {
        p->inverted = want_invert(o, px, w, h, c, shape[1], p);
        st = dc_image_to_input(px, w, h, c, shape[1], shape[2], shape[3], o->mean, o->std,
                               p->inverted, dc_f32(x));
    }
    if (st == DC_OK) {
        dc_ctx_set_grad(ctx, 0);
        if (!(y = dc_softmax(ctx, dc_model_forward(ctx, m, x), -1)))
            st = DC_ERR_SHAPE; /* the forward's message stands */
    }
    if (y) {
        int K = (int)y->shape[y->ndim - 1];
        st = top_classes(dc_f32(y), K, o->top, p);
        if (st == DC_OK && K == 10 && shape[1] == 1 && shape[2] == 28)
            p->name = dc_fashion_mnist_class;
    }
    free(px);
    dc_ctx_free(ctx);
    return st;
}

/* See predict.h. */
dc_model *dc_load_frozen_spec(const char *path, int64_t vocab, int labels, const char *weights,
                              int bf16, dc_spec **spec)
{
    char v[32], k[32];
    snprintf(v, sizeof v, "%lld", (long long)vocab);
    snprintf(k, sizeof k, "%d", labels);
    dc_model *m = NULL;
    dc_spec *s = dc_spec_parse_file(path);
    if (s && dc_spec_define(s, "vocab", v) >= 0 &&
        (labels <= 0 || dc_spec_define(s, "labels", k) >= 0))
        m = dc_spec_build(s, NULL);
    if (spec)
        *spec = s;
    else
        dc_spec_free(s);
    if (m && (dc_model_load(m, weights, 1, NULL) != DC_OK ||
              (bf16 ? dc_model_freeze_bf16(m) : dc_model_freeze(m)) != DC_OK)) {
        dc_model_free(m);
        m = NULL;
    }
    return m;
}

dc_status dc_forward_npy(dc_model *m, const char *input, const char *output)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = ctx ? dc_npy_load(input) : NULL;
    dc_status st = x ? DC_OK : dc_last_status();
    if (st == DC_OK) {
        dc_ctx_set_grad(ctx, 0);
        dc_tensor *y = dc_model_forward(ctx, m, x);
        st = !y ? dc_last_status() : dc_io_mkdir_parent(output); /* after the checks */
        if (st == DC_OK)
            st = dc_npy_save(output, y);
    }
    dc_tensor_free(x);
    dc_ctx_free(ctx);
    return st;
}
