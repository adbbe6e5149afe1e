/*
 * plot_svg.c - line charts as SVG text: the document is built in memory, then written
 * atomically. Every piece of caller text goes through svg_text (XML escaping).
 */
#define _POSIX_C_SOURCE 200809L
#include "plot.h"
#include "io/io.h"
#include "core/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINES 8
#define MAX_SIDE 20000   /* pixels: a sanity bound on the canvas */
#define PAD_L 78         /* room for the y tick labels and the y axis label */
#define PAD_R 24
#define PAD_T 64         /* the title and the legend */
#define PAD_B 58         /* the x tick labels and the x axis label */

/* ---- a growing text buffer ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int failed; /* an allocation failed: the text is incomplete */
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t len)
{
    if (b->failed)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)len < sizeof small) {
        sb_add(b, small, (size_t)len);
        return;
    }
    char *big = malloc((size_t)len + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)len + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)len);
    free(big);
}

/* s as XML character data / attribute text: & < > " ' escaped; control bytes other than tab
 * (not allowed in XML 1.0) become '?'. */
static void svg_text(sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '&': sb_add(b, "&amp;", 5); break;
        case '<': sb_add(b, "&lt;", 4); break;
        case '>': sb_add(b, "&gt;", 4); break;
        case '"': sb_add(b, "&quot;", 6); break;
        case '\'': sb_add(b, "&apos;", 6); break;
        default: sb_add(b, ch < 32 && ch != '\t' ? "?" : s, 1);
        }
    }
}

/* ---- scales ---- */

/* 1, 2 or 5 times a power of ten, about range / n. */
double plot_nice_step(double range, int n)
{
    double raw = range / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* Decimals that print every multiple of step exactly enough. */
int plot_step_decimals(double step)
{
    int d = (int)-floor(log10(step) + 1e-9);
    return d < 0 ? 0 : d > 9 ? 9 : d;
}

double plot_ax_map(const axis *a, double v)
{
    return a->p0 + (v - a->v0) / (a->v1 - a->v0) * (a->p1 - a->p0);
}

/* The finite range of the x values and of every line's y values; -1 if there is no finite y. */
int plot_data_range(const plot_chart *c, double *x0, double *x1, double *y0, double *y1)
{
    *x0 = *x1 = c->x[0];
    *y0 = INFINITY;
    *y1 = -INFINITY;
    for (int64_t i = 0; i < c->n; i++) {
        if (!isfinite(c->x[i]))
            return -1;
        *x0 = c->x[i] < *x0 ? c->x[i] : *x0;
        *x1 = c->x[i] > *x1 ? c->x[i] : *x1;
        for (int k = 0; k < c->n_lines; k++) {
            double v = c->lines[k].y[i];
            if (isfinite(v)) {
                *y0 = v < *y0 ? v : *y0;
                *y1 = v > *y1 ? v : *y1;
            }
        }
    }
    if (!(*y0 <= *y1) || !isfinite(*y1 - *y0) || !isfinite(*x1 - *x0))
        return -1;
    if (*x1 - *x0 < 1e-12 * (1 + fabs(*x0))) { /* one point: a unit-wide axis around it */
        *x0 -= 0.5;
        *x1 += 0.5;
    }
    double pad = (*y1 - *y0) * 0.04;
    if (pad < 1e-9 * (1 + fabs(*y0)))
        pad = 0.5 * (1 + fabs(*y0) * 1e-3);
    *y0 -= pad;
    *y1 += pad;
    return 0;
}

/* ---- pieces of the picture ---- */

/* The ticks of a: multiples of step inside [v0, v1] (at most 100). Returns how many; the first
 * is *first. */
int plot_ticks(const axis *a, double step, double *first)
{
    *first = ceil(a->v0 / step) * step;
    int n = (int)floor((a->v1 - *first) / step + 1e-9) + 1;
    return n < 0 ? 0 : n > 100 ? 100 : n;
}

/* Grid lines, ticks and tick labels of both axes, then the axis frame. */
static void draw_axes(sbuf *b, const axis *xa, const axis *ya)
{
    double xs = plot_nice_step(xa->v1 - xa->v0, 10), ys = plot_nice_step(ya->v1 - ya->v0, 7);
    double xf, yf;
    int xd = plot_step_decimals(xs), yd = plot_step_decimals(ys);
    int nx = plot_ticks(xa, xs, &xf), ny = plot_ticks(ya, ys, &yf);
    sb_printf(b, "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
    for (int i = 0; i < ny; i++)
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", xa->p0,
                  plot_ax_map(ya, yf + i * ys), xa->p1, plot_ax_map(ya, yf + i * ys));
    for (int i = 0; i < nx; i++)
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                  plot_ax_map(xa, xf + i * xs), ya->p0, plot_ax_map(xa, xf + i * xs), ya->p1);
    sb_printf(b, "</g>\n<g fill=\"#333\">\n");
    for (int i = 0; i < ny; i++) {
        double v = yf + i * ys;
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n",
                  xa->p0 - 6, plot_ax_map(ya, v) + 4, yd, fabs(v) < ys * 1e-6 ? 0.0 : v);
    }
    for (int i = 0; i < nx; i++) {
        double v = xf + i * xs;
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>\n",
                  plot_ax_map(xa, v), ya->p0 + 16, xd, fabs(v) < xs * 1e-6 ? 0.0 : v);
    }
    sb_printf(b, "</g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
              "stroke=\"#333\" stroke-width=\"1\"/>\n", xa->p0, ya->p1, xa->p1 - xa->p0,
              ya->p0 - ya->p1);
}

/* Line k as polylines over its runs of finite points. */
static void draw_line(sbuf *b, const plot_chart *c, int k, const axis *xa, const axis *ya)
{
    const plot_line *l = &c->lines[k];
    int open = 0;
    for (int64_t i = 0; i <= c->n; i++) {
        int ok = i < c->n && isfinite(l->y[i]);
        if (ok && !open) {
            sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s "
                      "stroke-linejoin=\"round\" points=\"", l->color,
                      l->dashed ? " stroke-dasharray=\"5,3\"" : "");
            open = 1;
        }
        if (ok)
            sb_printf(b, "%.1f,%.1f ", plot_ax_map(xa, c->x[i]), plot_ax_map(ya, l->y[i]));
        else if (open) {
            sb_printf(b, "\"/>\n");
            open = 0;
        }
    }
}

/* Approximate width in pixels of text at font-size 12 (about 7 px a character; bytes of a UTF-8
 * sequence after the first do not count). */
static double text_width(const char *s)
{
    double n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return 7 * n;
}

/* The legend: one row of swatches and labels, centred between the title and the plot, so that
 * it never hides the data. */
static void draw_legend(sbuf *b, const plot_chart *c, const axis *xa)
{
    double total = 0, y = PAD_T - 12;
    for (int k = 0; k < c->n_lines; k++)
        total += 30 + text_width(c->lines[k].label) + (k ? 24 : 0);
    double x = (xa->p0 + xa->p1 - total) / 2;
    x = x < xa->p0 ? xa->p0 : x;
    sb_printf(b, "<g class=\"legend\">\n");
    for (int k = 0; k < c->n_lines; k++) {
        x += k ? 24 : 0;
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                  "stroke-width=\"2\"%s/>\n<text x=\"%.1f\" y=\"%.1f\">", x, y - 4, x + 24,
                  y - 4, c->lines[k].color, c->lines[k].dashed ? " stroke-dasharray=\"5,3\"" : "",
                  x + 30, y);
        svg_text(b, c->lines[k].label);
        sb_printf(b, "</text>\n");
        x += 30 + text_width(c->lines[k].label);
    }
    sb_printf(b, "</g>\n");
}

/* Title, axis labels and the <title> element. */
static void draw_labels(sbuf *b, const plot_chart *c, int W, int H, const axis *xa,
                        const axis *ya)
{
    sb_printf(b, "<title>");
    svg_text(b, c->title);
    sb_printf(b, "</title>\n<text x=\"%.1f\" y=\"26\" text-anchor=\"middle\" font-size=\"16\">",
              W / 2.0);
    svg_text(b, c->title);
    sb_printf(b, "</text>\n<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
              (xa->p0 + xa->p1) / 2, H - 14);
    svg_text(b, c->x_label);
    double cy = (ya->p0 + ya->p1) / 2;
    sb_printf(b, "</text>\n<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" "
              "transform=\"rotate(-90 18 %.1f)\">", cy, cy);
    svg_text(b, c->y_label);
    sb_printf(b, "</text>\n");
}

static int write_sbuf(FILE *f, void *user)
{
    const sbuf *b = user;
    return dc_io_fwrite(f, b->p, b->n);
}

int plot_svg_write(const char *path, const plot_chart *c)
{
    const size_t pl = strlen(path);
    if (pl > 4 && !strcmp(path + pl - 4, ".png"))
        return plot_png_write(path, c);
    int W = c->width > 0 ? c->width : 960, H = c->height > 0 ? c->height : 440;
    double x0, x1, y0, y1;
    if (!c->x || c->n < 1 || c->n_lines < 1 || c->n_lines > MAX_LINES || W > MAX_SIDE ||
        H > MAX_SIDE || W < PAD_L + PAD_R + 100 || H < PAD_T + PAD_B + 100) {
        dc_err(DC_ERR_ARG, "%s: cannot draw this chart (%lld points, %d lines, %dx%d)", path,
               (long long)c->n, c->n_lines, W, H);
        return -1;
    }
    if (plot_data_range(c, &x0, &x1, &y0, &y1)) {
        dc_err(DC_ERR_ARG, "%s: nothing to draw: no finite value, or values out of range",
               path);
        return -1;
    }
    axis xa = {x0, x1, PAD_L, W - PAD_R}, ya = {y0, y1, H - PAD_B, PAD_T};
    sbuf b = {0};
    sb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/"
              "2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
              "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"%d\" height=\"%d\" "
              "fill=\"white\"/>\n", W, H, W, H, W, H);
    draw_labels(&b, c, W, H, &xa, &ya);
    draw_axes(&b, &xa, &ya);
    for (int k = 0; k < c->n_lines; k++)
        draw_line(&b, c, k, &xa, &ya);
    draw_legend(&b, c, &xa);
    sb_printf(&b, "</svg>\n");
    int rc = 0;
    if (b.failed) {
        dc_err(DC_ERR_NOMEM, "%s: out of memory for the picture", path);
        rc = -1;
    } else if (dc_io_write_atomic(path, write_sbuf, &b) != DC_OK) {
        rc = -1; /* the error is set */
    }
    free(b.p);
    return rc;
}
