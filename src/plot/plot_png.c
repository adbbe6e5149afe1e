/*
 * plot_png.c - the line charts of plot_svg.c drawn into an RGB image and written as a PNG, for
 * viewers without SVG: the same axes, ticks, grid, lines and legend; text in the built-in 5x7
 * bitmap font (font.c), lines 2 pixels wide (dashed ones 6 on, 4 off).
 */
#define _POSIX_C_SOURCE 200809L
#include "font.h"
#include "plot.h"
#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PNG_PAD_L 78
#define PNG_PAD_R 24
#define PNG_PAD_T 64
#define PNG_PAD_B 58
#define PNG_MAX_SIDE 8000

typedef struct canvas {
    int w, h;
    uint8_t *rgb;  /* [h, w, 3] */
    uint8_t *text; /* [h, w] the font's mask, composited at the end */
} canvas;

static void put(canvas *c, int x, int y, const uint8_t *col)
{
    if (x >= 0 && y >= 0 && x < c->w && y < c->h)
        memcpy(c->rgb + 3 * ((size_t)y * (size_t)c->w + (size_t)x), col, 3);
}

/* "#rrggbb" into col (gray for anything else). */
static void parse_color(const char *s, uint8_t *col)
{
    unsigned r = 128, g = 128, b = 128;
    if (s && s[0] == '#' && strlen(s) == 7)
        sscanf(s + 1, "%2x%2x%2x", &r, &g, &b);
    col[0] = (uint8_t)r;
    col[1] = (uint8_t)g;
    col[2] = (uint8_t)b;
}

/* A segment (x0, y0)-(x1, y1) of the given width; *dash counts pixels along a dashed line
 * (NULL: solid). */
static void segment(canvas *c, double x0, double y0, double x1, double y1, int width,
                    const uint8_t *col, int *dash)
{
    const double len = hypot(x1 - x0, y1 - y0);
    const int steps = (int)ceil(len) + 1;
    for (int i = 0; i < steps; i++) {
        const double t = steps > 1 ? (double)i / (steps - 1) : 0;
        const int on = !dash || (*dash)++ % 10 < 6;
        const int x = (int)lround(x0 + t * (x1 - x0)), y = (int)lround(y0 + t * (y1 - y0));
        for (int dy = 0; on && dy < width; dy++)
            for (int dx = 0; dx < width; dx++)
                put(c, x + dx - width / 2, y + dy - width / 2, col);
    }
}

static void text(canvas *c, int x, int y, const char *s)
{
    cli_font_draw(c->text, c->w, c->h, x, y, 1, 255, s);
}

/* Grid, frame, tick labels. */
static void png_axes(canvas *c, const axis *xa, const axis *ya)
{
    static const uint8_t grid[3] = {227, 227, 227}, frame[3] = {51, 51, 51};
    double xs = plot_nice_step(xa->v1 - xa->v0, 10), ys = plot_nice_step(ya->v1 - ya->v0, 7);
    double xf, yf;
    const int xd = plot_step_decimals(xs), yd = plot_step_decimals(ys);
    const int nx = plot_ticks(xa, xs, &xf), ny = plot_ticks(ya, ys, &yf);
    char buf[48];
    for (int i = 0; i < ny; i++) {
        const double v = yf + i * ys, py = plot_ax_map(ya, v);
        segment(c, xa->p0, py, xa->p1, py, 1, grid, NULL);
        snprintf(buf, sizeof buf, "%.*f", yd, fabs(v) < ys * 1e-6 ? 0.0 : v);
        text(c, (int)xa->p0 - 6 - cli_font_width(buf, 1), (int)py - 4, buf);
    }
    for (int i = 0; i < nx; i++) {
        const double v = xf + i * xs, px = plot_ax_map(xa, v);
        segment(c, px, ya->p0, px, ya->p1, 1, grid, NULL);
        snprintf(buf, sizeof buf, "%.*f", xd, fabs(v) < xs * 1e-6 ? 0.0 : v);
        text(c, (int)px - cli_font_width(buf, 1) / 2, (int)ya->p0 + 8, buf);
    }
    segment(c, xa->p0, ya->p0, xa->p1, ya->p0, 1, frame, NULL);
    segment(c, xa->p0, ya->p1, xa->p1, ya->p1, 1, frame, NULL);
    segment(c, xa->p0, ya->p0, xa->p0, ya->p1, 1, frame, NULL);
    segment(c, xa->p1, ya->p0, xa->p1, ya->p1, 1, frame, NULL);
}

/* Every line over its runs of finite points, then the legend row above the plot. */
static void png_lines(canvas *c, const plot_chart *ch, const axis *xa, const axis *ya)
{
    int lx = (int)xa->p0;
    for (int k = 0; k < ch->n_lines; k++) {
        const plot_line *l = &ch->lines[k];
        uint8_t col[3];
        parse_color(l->color, col);
        int dash = 0;
        for (int64_t i = 1; i < ch->n; i++)
            if (isfinite(l->y[i - 1]) && isfinite(l->y[i]))
                segment(c, plot_ax_map(xa, ch->x[i - 1]), plot_ax_map(ya, l->y[i - 1]),
                        plot_ax_map(xa, ch->x[i]), plot_ax_map(ya, l->y[i]), 2, col,
                        l->dashed ? &dash : NULL);
        for (int64_t i = 0; i < ch->n; i++) /* a dot per point: single points show too */
            if (isfinite(l->y[i]))
                segment(c, plot_ax_map(xa, ch->x[i]) - 1, plot_ax_map(ya, l->y[i]),
                        plot_ax_map(xa, ch->x[i]) + 1, plot_ax_map(ya, l->y[i]), 3, col, NULL);
        dash = 0;
        segment(c, lx, PNG_PAD_T - 16, lx + 24, PNG_PAD_T - 16, 2, col, l->dashed ? &dash : NULL);
        text(c, lx + 30, PNG_PAD_T - 20, l->label ? l->label : "");
        lx += 30 + cli_font_width(l->label ? l->label : "", 1) + 24;
    }
}

/* The text mask over the picture in dark gray. */
static void composite(canvas *c)
{
    for (size_t i = 0; i < (size_t)c->w * (size_t)c->h; i++)
        if (c->text[i])
            memset(c->rgb + 3 * i, 51, 3);
}

int plot_png_write(const char *path, const plot_chart *ch)
{
    const int W = ch->width > 0 ? ch->width : 960, H = ch->height > 0 ? ch->height : 440;
    double x0, x1, y0, y1;
    if (!ch->x || ch->n < 1 || ch->n_lines < 1 || ch->n_lines > 8 || W > PNG_MAX_SIDE ||
        H > PNG_MAX_SIDE || W < PNG_PAD_L + PNG_PAD_R + 100 || H < PNG_PAD_T + PNG_PAD_B + 100 ||
        plot_data_range(ch, &x0, &x1, &y0, &y1)) {
        dc_err(DC_ERR_ARG, "%s: cannot draw this chart (%lld points, %d lines, %dx%d, or no "
               "finite value)", path, (long long)ch->n, ch->n_lines, W, H);
        return -1;
    }
    canvas c = {W, H, malloc((size_t)W * (size_t)H * 3), calloc((size_t)W * (size_t)H, 1)};
    if (!c.rgb || !c.text) {
        free(c.rgb);
        free(c.text);
        dc_err(DC_ERR_NOMEM, "%s: out of memory for the picture", path);
        return -1;
    }
    memset(c.rgb, 255, (size_t)W * (size_t)H * 3);
    axis xa = {x0, x1, PNG_PAD_L, W - PNG_PAD_R}, ya = {y0, y1, H - PNG_PAD_B, PNG_PAD_T};
    png_axes(&c, &xa, &ya);
    png_lines(&c, ch, &xa, &ya);
    const char *title = ch->title ? ch->title : "";
    cli_font_draw(c.text, W, H, (W - cli_font_width(title, 2)) / 2, 8, 2, 255, title);
    if (ch->x_label)
        text(&c, (int)(xa.p0 + xa.p1 - cli_font_width(ch->x_label, 1)) / 2, H - 20,
             ch->x_label);
    if (ch->y_label)
        text(&c, 4, PNG_PAD_T - 40, ch->y_label);
    composite(&c);
    int rc = dc_png_write(path, W, H, 3, c.rgb) == DC_OK ? 0 : -1; /* the error is set */
    free(c.rgb);
    free(c.text);
    return rc;
}
