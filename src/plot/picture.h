/*
 * picture.h - gray pictures for `deepc show` (picture.c): a canvas of 8-bit pixels, a grid of
 * captioned tiles laid out on it, written as PNG; and the pictures themselves (show.c).
 * Internal to the library: the CLI and the tests use it. Every function returns DC_OK, or
 * DC_ERR_ARG / DC_ERR_SHAPE when the input does not fit (the model, an index: exit 2 in the
 * CLI), DC_ERR_IO / DC_ERR_NOMEM when a picture cannot be made or written (exit 1), with the
 * reason in dc_last_error(). Each file written is reported as "wrote PATH (WxH)" on report
 * (NULL: nothing).
 */
#ifndef DC_PLOT_PICTURE_H
#define DC_PLOT_PICTURE_H

#include "deepc.h"

#include <stdio.h>

#define PICTURE_MAX_SIDE 16384 /* the largest PNG side dc_png_write takes */

typedef struct canvas {
    int w, h;
    uint8_t *px; /* [h, w], malloc'd */
} canvas;

/* Tile i: its gray pixels [th, tw] (valid until the next call) and its caption into cap. */
typedef const uint8_t *(*tile_fn)(void *arg, int i, char *cap, size_t size);

typedef struct grid_spec {
    const char *title; /* scale 2 above the grid, or NULL */
    const char *note;  /* scale 1 under the title, or NULL */
    int n, tw, th, s;  /* n tiles of [th, tw] pixels, each pixel drawn s x s */
    int cols;          /* tiles per row (0: about square) */
    int cap_lines;     /* caption lines under each tile (0: none) */
} grid_spec;

/* A white w x h canvas (c->px malloc'd; at most PICTURE_MAX_SIDE per side). */
dc_status canvas_init(canvas *c, int64_t w, int64_t h);
/* Write c to path as PNG (making its folders) and free its pixels. */
dc_status canvas_save(canvas *c, const char *path, FILE *report);
/* Lay the tiles out row by row on a new canvas c, captions (wrapped to the cell) centred below,
 * the title and note above. */
dc_status grid_draw(const grid_spec *g, tile_fn tile, void *arg, canvas *c);

/* The gray images of --data fashion-mnist[:DIR] (train or test split) for a picture; DC_ERR_ARG
 * for other data or images with colour. */
dc_status picture_images_load(const char *data, int train, dc_images *im);
/* DC_OK when spec's model (named model) takes im's [c, h, w] images, else DC_ERR_SHAPE naming
 * both shapes. */
dc_status picture_check_input(const dc_spec *spec, const char *model, const dc_images *im);

/* deepc show samples: the first n images of im (a random n with seed != NULL), labelled. */
dc_status picture_samples(const dc_images *im, int n, const int64_t *seed, const char *out,
                          FILE *report);
/* deepc show errors: the first n test images m misclassifies, captioned true>predicted (m takes
 * im's images, normalised as Fashion-MNIST). */
dc_status picture_errors(dc_model *m, const dc_images *im, int n, const char *out,
                         FILE *report);
/* deepc show filters: every kernel of m's first Conv2d layer, a cell per output channel. */
dc_status picture_filters(const dc_model *m, const char *out, FILE *report);
/* deepc show features: image index of im through m (eval mode): DIR/input.png and
 * DIR/<layer>.png for every conv and pooling layer. */
dc_status picture_features(dc_model *m, const dc_images *im, int64_t index, const char *dir,
                           FILE *report);

#endif
