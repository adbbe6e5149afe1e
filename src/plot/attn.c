/*
 * attn.c - attention heatmaps (attn.h). The picture is an RGB canvas: white ground, the
 * weights as coloured cells, text drawn by the built-in bitmap font (font.h) into a gray mask
 * and then inked black. Colour c(t), t = w / max of its row in [0, 1], runs linearly through
 * five stops from dark blue (0) to yellow (1), close to matplotlib's viridis.
 */
#include "core/internal.h"
#include "plot/attn.h"
#include "plot/font.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PAD = 8, LABEL_MAX = 6, MAX_SIDE = 4096 };

typedef struct rgb_canvas {
    int w, h;
    uint8_t *px;   /* [h, w, 3] */
    uint8_t *ink;  /* [h, w] text mask */
} rgb_canvas;

static void colour(float t, uint8_t out[3])
{
    static const float stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140},
                                      {94, 201, 98}, {253, 231, 37}};
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const float x = t * 4.0f;
    int i = (int)x;
    i = i > 3 ? 3 : i;
    const float f = x - (float)i;
    for (int c = 0; c < 3; c++)
        out[c] = (uint8_t)(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]) + 0.5f);
}

static void fill(rgb_canvas *c, int x0, int y0, int w, int h, const uint8_t rgb[3])
{
    for (int y = y0; y < y0 + h && y < c->h; y++)
        for (int x = x0; x < x0 + w && x < c->w; x++)
            memcpy(c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3, rgb, 3);
}

/* Label i (cut to LABEL_MAX characters) into buf, or its index when labels is NULL. */
static const char *label(const char *const *labels, int64_t i, char *buf, size_t n)
{
    if (labels && labels[i])
        snprintf(buf, n, "%.*s", LABEL_MAX, labels[i]);
    else
        snprintf(buf, n, "%lld", (long long)i);
    return buf;
}

/* The widest label in characters. */
static int widest(const char *const *labels, int64_t n)
{
    int most = 1;
    char b[16];
    for (int64_t i = 0; i < n; i++) {
        const int k = (int)strlen(label(labels, i, b, sizeof b));
        most = k > most ? k : most;
    }
    return most;
}

/* Column labels of one panel at x0: each label's characters stacked downwards from y0. */
static void draw_col_labels(rgb_canvas *c, int x0, int y0, int cell, int64_t cols,
                            const char *const *labels)
{
    char b[16];
    for (int64_t j = 0; j < cols; j++) {
        const char *s = label(labels, j, b, sizeof b);
        const int x = x0 + (int)j * cell + (cell - 5) / 2;
        for (int k = 0; s[k]; k++) {
            char one[2] = {s[k], 0};
            cli_font_draw(c->ink, c->w, c->h, x, y0 + k * CLI_FONT_LINE, 1, 255, one);
        }
    }
}

/* Ink the text mask onto the pixels. */
static void ink(rgb_canvas *c)
{
    for (size_t i = 0; i < (size_t)c->w * (size_t)c->h; i++)
        if (c->ink[i])
            memset(c->px + i * 3, 0, 3);
}

dc_status attn_png(const char *path, const float *w, int64_t panels, int64_t rows, int64_t cols,
                   const char *const *row_labels, const char *const *col_labels,
                   const char *const *captions, const char *title)
{
    if (!path || !w || panels < 1 || rows < 1 || cols < 1 || panels > 64 || rows > MAX_SIDE ||
        cols > MAX_SIDE)
        return dc_err(DC_ERR_ARG, "attention picture: need weights of 1..64 panels of 1..%d x "
                      "1..%d (got %lld x %lld x %lld)", MAX_SIDE, MAX_SIDE, (long long)panels,
                      (long long)rows, (long long)cols);
    const int64_t side = rows > cols ? rows : cols;
    int cell = (int)(480 / side);
    cell = cell < 4 ? 4 : cell > 24 ? 24 : cell;
    const int left = PAD + widest(row_labels, rows) * CLI_FONT_ADVANCE + 4;
    const int top = PAD + (title ? 2 * CLI_FONT_LINE : 0) + widest(col_labels, cols) *
                    CLI_FONT_LINE + 4;
    const int pw = (int)cols * cell, ph = (int)rows * cell;
    rgb_canvas c = {left + (int)panels * (pw + PAD) + PAD, top + ph + 2 * CLI_FONT_LINE + PAD,
                    NULL, NULL};
    const int tw = title ? 2 * PAD + cli_font_width(title, 1) : 0;
    c.w = c.w > tw ? c.w : tw; /* room for the whole title */
    c.px = malloc((size_t)c.w * (size_t)c.h * 3);
    c.ink = calloc((size_t)c.w * (size_t)c.h, 1);
    if (!c.px || !c.ink) {
        free(c.px);
        free(c.ink);
        return dc_err(DC_ERR_NOMEM, "attention picture: %d x %d pixels", c.w, c.h);
    }
    memset(c.px, 255, (size_t)c.w * (size_t)c.h * 3);
    if (title)
        cli_font_draw(c.ink, c.w, c.h, PAD, PAD, 1, 255, title);
    char b[16];
    for (int64_t i = 0; i < rows; i++)
        cli_font_draw(c.ink, c.w, c.h, PAD, top + (int)i * cell + (cell - 7) / 2, 1, 255,
                      label(row_labels, i, b, sizeof b));
    for (int64_t p = 0; p < panels; p++) {
        const float *wp = w + p * rows * cols;
        const int x0 = left + (int)p * (pw + PAD);
        for (int64_t i = 0; i < rows; i++) {
            float mx = 0; /* the row's largest weight: where this query looks most */
            for (int64_t j = 0; j < cols; j++)
                mx = wp[i * cols + j] > mx ? wp[i * cols + j] : mx;
            for (int64_t j = 0; j < cols; j++) {
                uint8_t rgb[3];
                colour(mx > 0 ? wp[i * cols + j] / mx : 0, rgb);
                fill(&c, x0 + (int)j * cell, top + (int)i * cell, cell, cell, rgb);
            }
        }
        draw_col_labels(&c, x0, top - 4 - widest(col_labels, cols) * CLI_FONT_LINE, cell, cols,
                        col_labels);
        if (captions && captions[p])
            cli_font_draw(c.ink, c.w, c.h, x0, top + ph + 4, 1, 255, captions[p]);
    }
    ink(&c);
    dc_status st = dc_png_write(path, c.w, c.h, 3, c.px);
    free(c.px);
    free(c.ink);
    return st;
}

dc_status attn_picture(dc_model *m, dc_tensor *x, const char *name, int per_head,
                       const char *const *row_labels, int64_t n_rows,
                       const char *const *col_labels, int64_t n_cols, const char *path)
{
    char names[4096], chosen[300];
    if (!name) { /* the last attention of the model */
        if (dc_model_attentions(m, names, sizeof names) < 1)
            return dc_err(DC_ERR_ARG, "attention picture: the model has no attention");
        const char *last = strrchr(names, ',');
        snprintf(chosen, sizeof chosen, "%.299s", last ? last + 2 : names);
        name = chosen;
    }
    dc_attn_capture cap = {.per_head = per_head != 0};
    dc_status st = dc_model_capture_attention(m, name, &cap);
    dc_ctx *ctx = st == DC_OK ? dc_ctx_new(0) : NULL;
    if (st == DC_OK && !ctx)
        st = dc_err(DC_ERR_NOMEM, "attention picture: out of memory");
    if (ctx) {
        dc_ctx_set_grad(ctx, 0);
        dc_ctx_set_training(ctx, 0);
        if (!dc_model_forward(ctx, m, x))
            st = dc_last_status() ? dc_last_status() : DC_ERR_ARG;
        else if (!cap.w)
            st = dc_err(DC_ERR_STATE, "attention picture: '%s' was not run by the forward", name);
        dc_ctx_free(ctx);
        dc_model_capture_attention(m, name, NULL);
    }
    if (st == DC_OK && ((row_labels && n_rows > cap.Tq) || (col_labels && n_cols > cap.Tk)))
        st = dc_err(DC_ERR_SHAPE, "attention picture: %lld x %lld labels for %lld queries x %lld "
                    "keys", (long long)n_rows, (long long)n_cols, (long long)cap.Tq,
                    (long long)cap.Tk);
    const int64_t R = row_labels ? n_rows : cap.Tq, C = col_labels ? n_cols : cap.Tk;
    for (int64_t h = 0; st == DC_OK && h < cap.H; h++) /* crop to the labelled block, in place */
        for (int64_t i = 0; i < R; i++)
            memmove(cap.w + (h * R + i) * C, cap.w + (h * cap.Tq + i) * cap.Tk,
                    (size_t)C * sizeof(float));
    char title[400], caps[64][24];
    const char *cap_p[64];
    for (int64_t h = 0; st == DC_OK && h < cap.H && h < 64; h++) {
        snprintf(caps[h], sizeof caps[h], per_head ? "head %lld" : "mean of the heads",
                 (long long)h);
        cap_p[h] = caps[h];
    }
    snprintf(title, sizeof title, "%s: queries (rows) over keys (columns)", name);
    if (st == DC_OK)
        st = attn_png(path, cap.w, cap.H, R, C, row_labels, col_labels, cap_p, title);
    dc_attn_capture_clear(&cap);
    return st;
}

/* A printable label for byte b into buf [4]. */
static const char *char_label(uint8_t b, char *buf)
{
    if (b == ' ')
        return "_";
    if (b == '\n')
        return "\\n";
    if (b == '\t')
        return "\\t";
    buf[0] = (char)(b >= 32 && b < 127 ? b : '?');
    buf[1] = 0;
    return buf;
}

dc_status attn_picture_text(dc_model *m, const dc_vocab *v, const char *text, const char *name,
                            int per_head, const char *path)
{
    size_t n = text ? strlen(text) : 0;
    const int64_t ctx_len = dc_model_context(m, NULL);
    if (n == 0)
        return dc_err(DC_ERR_ARG, "attention picture: empty text");
    if (ctx_len > 0 && (int64_t)n > ctx_len) { /* the last context-many characters */
        text += n - (size_t)ctx_len;
        n = (size_t)ctx_len;
    }
    dc_ctx *ctx = dc_ctx_new(0);
    char (*lab)[4] = malloc(n * sizeof *lab);
    const char **lp = malloc(n * sizeof *lp);
    dc_tensor *x = ctx ? dc_empty(ctx, DC_I64, 2, DC_SHAPE(1, (int64_t)n)) : NULL;
    dc_status st = x && lab && lp ? DC_OK : dc_err(DC_ERR_NOMEM, "attention picture: no memory");
    if (st == DC_OK)
        st = dc_vocab_encode(v, (const uint8_t *)text, n, dc_i64(x));
    for (size_t i = 0; st == DC_OK && i < n; i++)
        lp[i] = char_label((uint8_t)text[i], lab[i]);
    if (st == DC_OK)
        st = attn_picture(m, x, name, per_head, lp, (int64_t)n, lp, (int64_t)n, path);
    free(lab);
    free(lp);
    dc_ctx_free(ctx);
    return st;
}

dc_status attn_labels(const char *s, char ***labels, int64_t *n)
{
    *labels = NULL;
    *n = 0;
    if (!s || !*s)
        return DC_OK;
    int64_t k = 1;
    for (const char *p = s; *p; p++)
        k += *p == ',';
    const size_t len = strlen(s);
    char **l = malloc((size_t)k * sizeof *l + len + 1);
    if (!l)
        return dc_err(DC_ERR_NOMEM, "attention labels: out of memory");
    char *text = (char *)(l + k);
    memcpy(text, s, len + 1);
    l[0] = text;
    for (int64_t i = 1; *text; text++)
        if (*text == ',') {
            *text = 0;
            l[i++] = text + 1;
        }
    *labels = l;
    *n = k;
    return DC_OK;
}

dc_status attn_show(dc_model *m, const attn_show_opts *o)
{
    dc_status st;
    if (o->text) {
        char vpath[1024];
        const char *vocab = o->vocab, *slash = strrchr(o->weights, '/');
        if (!vocab) { /* vocab.txt next to the weights */
            snprintf(vpath, sizeof vpath, "%.*s/vocab.txt", slash ? (int)(slash - o->weights) : 1,
                     slash ? o->weights : ".");
            vocab = vpath;
        }
        dc_vocab v;
        st = dc_vocab_load(vocab, &v);
        return st == DC_OK ? attn_picture_text(m, &v, o->text, o->layer, o->heads, o->out) : st;
    }
    dc_tensor *x = dc_npy_load(o->input);
    char **rl = NULL, **cl = NULL;
    int64_t nr = 0, nc = 0;
    st = x ? attn_labels(o->rows, &rl, &nr) : dc_last_status();
    if (st == DC_OK)
        st = attn_labels(o->cols, &cl, &nc);
    if (st == DC_OK)
        st = attn_picture(m, x, o->layer, o->heads, (const char *const *)rl, nr,
                          (const char *const *)cl, nc, o->out);
    free(rl);
    free(cl);
    dc_tensor_free(x);
    return st;
}
