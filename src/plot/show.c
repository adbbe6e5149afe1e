/*
 * show.c - the pictures of `deepc show` that explain convolution (picture.h): a grid of dataset
 * samples with their labels, the first convolution's filters, the feature maps of every conv
 * and pooling layer for one input, and the misclassified test images.
 */
#define _POSIX_C_SOURCE 200809L
#include "picture.h"
#include "io/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GAP 6          /* pixels between cells (as picture.c) */
#define BG 255         /* white paper */
#define SEP 3          /* pixels between the kernels of one output channel */
#define FMNIST_MEAN 0.2860f /* Fashion-MNIST normalisation (the training pixels / 255) */
#define FMNIST_STD 0.3530f

static void class_label(int64_t k, char *buf, size_t size)
{
    if (k >= 0 && k < 10)
        snprintf(buf, size, "%s", dc_fashion_mnist_class((int)k));
    else
        snprintf(buf, size, "%lld", (long long)k);
}


/* Index of the first module of type "Conv2d", or -1. */
static int first_conv(const dc_model *m)
{
    for (int i = 0; i < dc_model_n_modules(m); i++)
        if (!strcmp(dc_model_module(m, i)->type, "Conv2d"))
            return i;
    return -1;
}

/* Module types whose outputs `show features` draws. */
static int is_feature_layer(const dc_module *mod)
{
    return !strcmp(mod->type, "Conv2d") || strstr(mod->type, "Pool2d") != NULL;
}

/* ---- samples and errors: grids of dataset images ---- */

typedef struct images_arg {
    const dc_images *im;
    const int64_t *idx;  /* which images */
    const int64_t *pred; /* predicted classes (errors), or NULL */
} images_arg;

static const uint8_t *image_tile(void *arg, int i, char *cap, size_t size)
{
    const images_arg *a = arg;
    int64_t k = a->idx[i];
    char t[64], p[64];
    class_label(a->im->labels[k], t, sizeof t);
    if (a->pred) {
        class_label(a->pred[i], p, sizeof p);
        snprintf(cap, size, "%s>%s", t, p);
    } else {
        snprintf(cap, size, "%s", t);
    }
    return a->im->pixels + k * a->im->h * a->im->w;
}

/* Scale that draws an h x w image about `target` pixels across. */
static int scale_for(int64_t h, int64_t w, int target)
{
    int64_t side = h > w ? h : w, s = target / (side > 0 ? side : 1);
    return s < 1 ? 1 : (int)s;
}

dc_status picture_samples(const dc_images *im, int n, const int64_t *seed, const char *out,
                          FILE *report)
{
    n = n < im->n ? n : (int)im->n;
    int64_t *idx = malloc((size_t)im->n * sizeof *idx);
    canvas c = {0, 0, NULL};
    char title[160];
    if (!idx)
        return dc_err(DC_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < im->n; i++)
        idx[i] = i;
    if (seed) {
        dc_rng r;
        dc_rng_seed(&r, (uint64_t)*seed, 0);
        dc_rng_shuffle(&r, idx, im->n);
        snprintf(title, sizeof title, "%d random training images (seed %lld)", n,
                 (long long)*seed);
    } else {
        snprintf(title, sizeof title, "the first %d training images", n);
    }
    images_arg ia = {im, idx, NULL};
    grid_spec g = {title, NULL, n, (int)im->w, (int)im->h, scale_for(im->h, im->w, 84), 0, 1};
    dc_status st = grid_draw(&g, image_tile, &ia, &c);
    if (st == DC_OK)
        st = canvas_save(&c, out, report);
    free(idx);
    free(c.px);
    return st;
}

/* Predictions over the test set until n misclassified images are found: their indices into
 * bad[], predictions into pred[], count into *n_bad and the images looked at into *seen. */
static dc_status find_errors(dc_model *m, const dc_images *im, int n, int64_t *bad, int64_t *pred,
                       int *n_bad, int64_t *seen)
{
    enum { B = 256 };
    int64_t idx[B], am[B];
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx)
        return dc_err(DC_ERR_NOMEM, "out of memory");
    dc_ctx_set_grad(ctx, 0);
    *n_bad = 0;
    for (*seen = 0; *seen < im->n && *n_bad < n;) {
        int64_t b = im->n - *seen < B ? im->n - *seen : B;
        for (int64_t i = 0; i < b; i++)
            idx[i] = *seen + i;
        dc_ctx_reset(ctx);
        dc_tensor *x = dc_images_batch(ctx, im, idx, b, FMNIST_MEAN, FMNIST_STD, NULL);
        dc_tensor *y = dc_model_forward(ctx, m, x);
        if (!y || y->ndim != 2 || y->shape[0] != b) {
            char s[96] = "?";
            if (y)
                dc_shape_str(y, s, sizeof s);
            dc_status st = y ? dc_err(DC_ERR_SHAPE, "the model output %s is not [N, classes]", s)
                             : dc_last_status();
            dc_ctx_free(ctx);
            return st != DC_OK ? st : DC_ERR_ARG;
        }
        dc_argmax_rows(y, am);
        for (int64_t i = 0; i < b && *n_bad < n; i++, ++*seen)
            if (am[i] != im->labels[idx[i]]) {
                bad[*n_bad] = idx[i];
                pred[(*n_bad)++] = am[i];
            }
    }
    dc_ctx_free(ctx);
    return DC_OK;
}


dc_status picture_errors(dc_model *m, const dc_images *im, int n, const char *out,
                         FILE *report)
{
    int64_t bad[1024], pred[1024], seen = 0;
    int n_bad = 0;
    canvas c = {0, 0, NULL};
    n = n < 1024 ? n : 1024;
    dc_status st = find_errors(m, im, n, bad, pred, &n_bad, &seen);
    if (st != DC_OK)
        return st;
    char title[160];
    if (report)
        fprintf(report, "%d misclassified among the first %lld test images\n", n_bad,
                (long long)seen);
    snprintf(title, sizeof title, "%d misclassified of the first %lld test images", n_bad,
             (long long)seen);
    images_arg ia = {im, bad, pred};
    grid_spec none = {title, "none: every test image is classified right", 0, 1, 1, 1, 1, 0};
    grid_spec g = {title, "caption: true class > predicted class", n_bad, (int)im->w,
                   (int)im->h, scale_for(im->h, im->w, 84), 0, 2};
    st = grid_draw(n_bad ? &g : &none, image_tile, n_bad ? &ia : NULL, &c);
    if (st == DC_OK)
        st = canvas_save(&c, out, report);
    free(c.px);
    return st;
}

/* ---- filters ---- */

typedef struct filters_arg {
    const float *w;    /* [O, I, kh, kw] */
    int64_t I, kh, kw;
    int s;             /* each weight drawn s x s */
    float amax;        /* max |w|: drawn white (+) or black (-) */
    uint8_t *buf;      /* [kh*s, I*(kw*s + SEP) - SEP] */
} filters_arg;

/* Output channel i: its I kernels side by side, 0 = mid gray, +-amax = white / black. */
static const uint8_t *filter_tile(void *arg, int i, char *cap, size_t size)
{
    const filters_arg *f = arg;
    int64_t tw = f->kw * f->s, bw = f->I * (tw + SEP) - SEP;
    memset(f->buf, BG, (size_t)(bw * f->kh * f->s)); /* the separators stay paper */
    for (int64_t c = 0; c < f->I; c++)
        for (int64_t y = 0; y < f->kh * f->s; y++)
            for (int64_t x = 0; x < tw; x++) {
                float v = f->w[((i * f->I + c) * f->kh + y / f->s) * f->kw + x / f->s];
                float g = 127.5f + 127.5f * (f->amax > 0 ? v / f->amax : 0);
                f->buf[y * bw + c * (tw + SEP) + x] =
                    (uint8_t)(isfinite(g) ? (g < 0 ? 0 : g > 255 ? 255 : g + 0.5f) : 128);
            }
    snprintf(cap, size, "out %d", i);
    return f->buf;
}

dc_status picture_filters(const dc_model *m, const char *out, FILE *report)
{
    int ci = first_conv(m);
    char name[96], title[160], note[200], s[96];
    canvas c = {0, 0, NULL};
    filters_arg f = {0};
    const dc_module *mod = ci >= 0 ? dc_model_module((dc_model *)m, ci) : NULL;
    if (mod)
        snprintf(name, sizeof name, "%s.weight", mod->name);
    const dc_tensor *w = mod ? dc_model_find((dc_model *)m, name) : NULL;
    if (!w || w->ndim != 4 || w->dtype != DC_F32)
        return dc_err(DC_ERR_ARG, "the model has no Conv2d layer with a 4-D weight");
    f = (filters_arg){dc_f32(w), w->shape[1], w->shape[2], w->shape[3], 0, 0, NULL};
    int64_t k = f.kh > f.kw ? f.kh : f.kw;
    f.s = (int)(64 / k < 2 ? 2 : 64 / k > 16 ? 16 : 64 / k);
    for (int64_t i = 0; i < w->numel; i++)
        if (isfinite(f.w[i]) && fabsf(f.w[i]) > f.amax)
            f.amax = fabsf(f.w[i]);
    int64_t bw = f.I * (f.kw * f.s + SEP) - SEP, bh = f.kh * f.s;
    if (bw > PICTURE_MAX_SIDE || !(f.buf = malloc((size_t)(bw * bh))))
        return dc_err(DC_ERR_ARG, "%lld in-channels do not fit a picture", (long long)f.I);
    /* About square: cols cells of bw x (bh + caption) pixels for O output channels. */
    int cols = (int)lround(sqrt((double)w->shape[0] * (double)(bh + 13) / (double)(bw + GAP)));
    snprintf(title, sizeof title, "%s %s", name, dc_shape_str(w, s, sizeof s));
    snprintf(note, sizeof note, "one cell per output channel, in-channels side by side\n"
             "gray = 0, white = +%.3g, black = -%.3g", (double)f.amax, (double)f.amax);
    grid_spec g = {title, note, (int)w->shape[0], (int)bw, (int)bh, 1, cols < 1 ? 1 : cols, 1};
    dc_status st = grid_draw(&g, filter_tile, &f, &c);
    if (st == DC_OK)
        st = canvas_save(&c, out, report);
    free(f.buf);
    free(c.px);
    return st;
}

/* ---- features ---- */

typedef struct fmap_arg {
    const float *x;  /* [C, H, W] */
    int64_t hw;
    float lo, hi;    /* the layer's range, used for a constant map */
    uint8_t *buf;    /* [H, W] */
} fmap_arg;

/* Channel i min-max scaled to 0..255 (a constant map is scaled by the layer's range). */
static const uint8_t *fmap_tile(void *arg, int i, char *cap, size_t size)
{
    const fmap_arg *f = arg;
    const float *p = f->x + (int64_t)i * f->hw;
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t j = 0; j < f->hw; j++)
        if (isfinite(p[j])) {
            lo = p[j] < lo ? p[j] : lo;
            hi = p[j] > hi ? p[j] : hi;
        }
    if (!(hi > lo)) {
        lo = f->lo;
        hi = f->hi;
    }
    for (int64_t j = 0; j < f->hw; j++) {
        float v = hi > lo && isfinite(p[j]) ? (p[j] - lo) / (hi - lo) : 0;
        f->buf[j] = (uint8_t)(v <= 0 ? 0 : v >= 1 ? 255 : 255 * v + 0.5f);
    }
    snprintf(cap, size, "%d", i);
    return f->buf;
}

/* DIR/<name>.png with characters other than letters, digits, '.', '-', '_' replaced. */
static void layer_path(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/", dir);
    for (const char *p = name; *p && n + 5 < (int)size; p++, n++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
        buf[n] = ok && !(ch == '.' && p == name) ? ch : '_';
    }
    snprintf(buf + n, size - (size_t)n, ".png");
}

/* The picture of one [1, C, H, W] output: a grid of its C maps. */
static dc_status save_fmaps(const char *dir, const dc_module *mod, const dc_tensor *y,
                            FILE *report)
{
    char path[1200], title[200], shape[96];
    int64_t C = y->shape[1], H = y->shape[2], W = y->shape[3];
    fmap_arg f = {dc_f32(y), H * W, 0, 0, malloc((size_t)(H * W))};
    canvas c = {0, 0, NULL};
    if (!f.buf)
        return dc_err(DC_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; j < y->numel; j++)
        if (isfinite(f.x[j])) {
            f.lo = f.x[j] < f.lo ? f.x[j] : f.lo;
            f.hi = f.x[j] > f.hi ? f.x[j] : f.hi;
        }
    snprintf(title, sizeof title, "%s (%s) %s", mod->name, mod->type,
             dc_shape_str(y, shape, sizeof shape));
    int s = scale_for(H, W, 84);
    grid_spec g = {title, H * W > 1 ? "each map min-max scaled: black = its min, white = its max"
                                    : "1x1 maps: black = the layer's min, white = its max",
                   (int)C, (int)W, (int)H, s < 16 ? s : 16, 0, 1};
    layer_path(path, sizeof path, dir, mod->name);
    dc_status st = grid_draw(&g, fmap_tile, &f, &c);
    if (st == DC_OK)
        st = canvas_save(&c, path, report);
    free(c.px);
    free(f.buf);
    return st;
}

/* DIR/input.png: the test image with its label and the model's prediction. */
static dc_status save_input(const char *dir, const dc_images *im, int64_t k,
                            const dc_tensor *y, FILE *report)
{
    char path[1100], title[96], cap[200], t[64], p[64] = "";
    canvas c = {0, 0, NULL};
    class_label(im->labels[k], t, sizeof t);
    if (y && y->ndim == 2 && y->shape[0] == 1 && y->dtype == DC_F32) {
        int64_t am;
        dc_argmax_rows(y, &am);
        class_label(am, p, sizeof p);
    }
    snprintf(title, sizeof title, "test image %lld", (long long)k);
    snprintf(cap, sizeof cap, "%s%s%s", t, *p ? ", predicted " : "", p);
    images_arg ia = {im, &k, NULL};
    grid_spec g = {title, cap, 1, (int)im->w, (int)im->h, scale_for(im->h, im->w, 168), 1, 0};
    snprintf(path, sizeof path, "%s/input.png", dir);
    dc_status st = grid_draw(&g, image_tile, &ia, &c);
    if (st == DC_OK)
        st = canvas_save(&c, path, report);
    free(c.px);
    return st;
}


dc_status picture_features(dc_model *m, const dc_images *im, int64_t k, const char *dir,
                           FILE *report)
{
    if (k >= im->n)
        return dc_err(DC_ERR_ARG, "--index %lld: the test set has %lld images (0..%lld)",
                      (long long)k, (long long)im->n, (long long)im->n - 1);
    int nm = dc_model_n_modules(m), n_shown = 0;
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor **outs = ctx ? dc_ctx_alloc(ctx, (size_t)nm * sizeof *outs) : NULL;
    if (ctx)
        dc_ctx_set_grad(ctx, 0);
    dc_tensor *x = outs ? dc_images_batch(ctx, im, &k, 1, FMNIST_MEAN, FMNIST_STD, NULL) : NULL;
    dc_tensor *y = x ? dc_model_forward_all(ctx, m, x, outs) : NULL;
    dc_status st = DC_OK;
    if (!y)
        st = dc_last_status() != DC_OK ? dc_last_status() : DC_ERR_NOMEM;
    for (int i = 0; i < nm && y; i++)
        n_shown += is_feature_layer(dc_model_module(m, i)) && outs[i]->ndim == 4;
    if (y && !n_shown)
        st = dc_err(DC_ERR_ARG, "the model has no conv or pooling layers");
    if (st == DC_OK && (st = dc_io_mkdir_p(dir)) == DC_OK)
        st = save_input(dir, im, k, y, report);
    for (int i = 0; i < nm && st == DC_OK; i++) {
        const dc_module *mod = dc_model_module(m, i);
        if (is_feature_layer(mod) && outs[i]->ndim == 4)
            st = save_fmaps(dir, mod, outs[i], report);
    }
    dc_ctx_free(ctx);
    return st;
}

dc_status picture_images_load(const char *data, int train, dc_images *im)
{
    memset(im, 0, sizeof *im);
    if (strncmp(data, "fashion-mnist", 13) || (data[13] && data[13] != ':'))
        return dc_err(DC_ERR_ARG, "--data '%s': only fashion-mnist[:DIR] has images to show",
                      data);
    dc_status st = dc_fashion_mnist_load(data[13] ? data + 14 : NULL, train, im);
    if (st != DC_OK)
        return st;
    if (im->c == 1)
        return DC_OK;
    dc_images_free(im);
    return dc_err(DC_ERR_ARG, "%lld-channel images are not supported", (long long)im->c);
}

dc_status picture_check_input(const dc_spec *spec, const char *model, const dc_images *im)
{
    int64_t s[DC_MAX_DIMS];
    int nd = dc_spec_input_shape(spec, s);
    if (nd == 3 && s[0] == im->c && s[1] == im->h && s[2] == im->w)
        return DC_OK;
    char shape[96] = "";
    for (int i = 0; i < nd && i < DC_MAX_DIMS; i++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", i ? ", " : "",
                 (long long)s[i]);
    return dc_err(DC_ERR_SHAPE, "%s takes input [%s], the images are [%lld, %lld, %lld]", model,
                  shape, (long long)im->c, (long long)im->h, (long long)im->w);
}
