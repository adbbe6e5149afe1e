/*
 * attn.h - attention weights as a picture (attn.c): a heatmap PNG of one attention's weights,
 * captured during a forward of a given input (dc_model_capture_attention), with axis labels.
 * The library part of `deepc show attention` (src/cli/cmd_attn.c).
 */
#ifndef DC_PLOT_ATTN_H
#define DC_PLOT_ATTN_H

#include "deepc.h"

/*
 * attn_png - write w [panels, rows, cols] (attention weights, >= 0) to path as an RGB PNG: the
 * panels side by side (one per head, or one for the head average), each cell coloured by
 * w / (the largest weight of its row: where that query looks most) on a dark-blue-to-yellow
 * scale, the query labels (rows) left
 * of the first panel, the key labels (columns) above each panel one character under another,
 * captions (may be NULL) under the panels and a title (may be NULL) on top. Labels may be NULL
 * (then 0, 1, 2, ...); each is cut to 6 characters. Cells are 4 to 24 pixels, so that a panel is
 * about 480 pixels wide. DC_ERR_ARG for sizes < 1 or > 4096, DC_ERR_NOMEM, DC_ERR_IO.
 */
dc_status attn_png(const char *path, const float *w, int64_t panels, int64_t rows, int64_t cols,
                   const char *const *row_labels, const char *const *col_labels,
                   const char *const *captions, const char *title);

/*
 * attn_picture - run m on x (inference, batch row 0 drawn) while capturing the attention called
 * name (NULL: the model's last one, see dc_model_attentions) and write its weights with
 * attn_png: every head (per_head) or their mean. row_labels [n_rows] and col_labels [n_cols] as
 * attn_png; fewer labels than queries or keys crop the picture to the first n_rows x n_cols
 * (the real tokens of a padded input), more are DC_ERR_SHAPE. The title names the attention. Errors: those of the forward, of the capture, and of attn_png.
 */
dc_status attn_picture(dc_model *m, dc_tensor *x, const char *name, int per_head,
                       const char *const *row_labels, int64_t n_rows,
                       const char *const *col_labels, int64_t n_cols, const char *path);

/*
 * attn_picture_text - attn_picture for a character model: text[0..n) encoded with v (at most
 * the model's context: the last ones are kept) as one int64 sequence [1, T]; both axes are
 * labelled with the characters (a space drawn as '_', a newline as "\n", a tab as "\t").
 */
dc_status attn_picture_text(dc_model *m, const dc_vocab *v, const char *text, const char *name,
                            int per_head, const char *path);

/*
 * attn_labels - split s at commas into *labels (malloc'd: one block holding the pointers and
 * the strings; free(*labels) frees all), *n their count. s NULL or empty: *labels NULL, *n 0.
 * DC_ERR_NOMEM.
 */
dc_status attn_labels(const char *s, char ***labels, int64_t *n);

/*
 * attn_show - the picture of `deepc show attention` for m (weights loaded) at o->out: a
 * character model's prompt o->text, encoded with the vocabulary o->vocab (NULL: vocab.txt in
 * the folder of o->weights), through attn_picture_text; else the input o->input (.npy, one
 * example) through attn_picture with the comma-separated labels o->rows and o->cols. The
 * errors of the loads and of the picture.
 */
typedef struct attn_show_opts {
    const char *weights, *text, *vocab, *input, *rows, *cols, *layer, *out;
    int heads;
} attn_show_opts;
dc_status attn_show(dc_model *m, const attn_show_opts *o);

#endif
