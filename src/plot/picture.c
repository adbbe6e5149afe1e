/*
 * picture.c - a gray canvas and a grid of captioned tiles on it, written as PNG (picture.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "picture.h"
#include "font.h"
#include "io/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIDE PICTURE_MAX_SIDE
#define MARGIN 8       /* pixels around the picture */
#define GAP 6          /* pixels between cells */
#define BG 255         /* white paper ... */
#define INK 0          /* ... black text */
#define FRAME 160      /* the frame around each tile */

/* ---- a gray canvas ---- */


dc_status canvas_init(canvas *c, int64_t w, int64_t h)
{
    c->px = NULL;
    if (w <= 0 || h <= 0 || w > MAX_SIDE || h > MAX_SIDE)
        return dc_err(DC_ERR_IO, "a %lldx%lld picture is too large (at most %d per side)",
                      (long long)w, (long long)h, MAX_SIDE);
    c->w = (int)w;
    c->h = (int)h;
    if (!(c->px = malloc((size_t)w * (size_t)h)))
        return dc_err(DC_ERR_NOMEM, "out of memory for a %dx%d picture", c->w, c->h);
    memset(c->px, BG, (size_t)w * (size_t)h);
    return DC_OK;
}

/* Copy src [sh, sw] to (x, y), each pixel an s x s block (nearest-neighbour upscaling). */
static void canvas_blit(canvas *c, int x, int y, const uint8_t *src, int sw, int sh, int s)
{
    for (int r = 0; r < sh * s; r++) {
        if (y + r < 0 || y + r >= c->h)
            continue;
        uint8_t *dst = c->px + (size_t)(y + r) * (size_t)c->w;
        const uint8_t *row = src + (size_t)(r / s) * (size_t)sw;
        for (int q = 0; q < sw * s; q++)
            if (x + q >= 0 && x + q < c->w)
                dst[x + q] = row[q / s];
    }
}

/* A 1-pixel gray frame just outside the w x h box at (x, y), so white tiles stand out. */
static void canvas_frame(canvas *c, int x, int y, int w, int h)
{
    for (int q = x - 1; q <= x + w; q++)
        for (int r = y - 1; r <= y + h; r += h + 1)
            if (q >= 0 && q < c->w && r >= 0 && r < c->h)
                c->px[(size_t)r * (size_t)c->w + (size_t)q] = FRAME;
    for (int r = y; r < y + h; r++)
        for (int q = x - 1; q <= x + w; q += w + 1)
            if (q >= 0 && q < c->w && r >= 0 && r < c->h)
                c->px[(size_t)r * (size_t)c->w + (size_t)q] = FRAME;
}

/* Text with every line centred on column cx. */
static void canvas_text_centred(canvas *c, int cx, int y, int scale, const char *s)
{
    char line[256];
    while (*s) {
        size_t n = strcspn(s, "\n");
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), s);
        cli_font_draw(c->px, c->w, c->h, cx - cli_font_width(line, scale) / 2, y, scale, INK,
                      line);
        y += CLI_FONT_LINE * scale;
        s += n + (s[n] == '\n');
    }
}

dc_status canvas_save(canvas *c, const char *path, FILE *report)
{
    dc_status st = dc_io_mkdir_parent(path); /* the folders of --out a/b/F.png */
    if (st == DC_OK && (st = dc_png_write(path, c->w, c->h, 1, c->px)) == DC_OK && report)
        fprintf(report, "wrote %s (%dx%d)\n", path, c->w, c->h);
    free(c->px);
    c->px = NULL;
    return st;
}

/* ---- a grid of captioned tiles ---- */


/* Lay the tiles out row by row with their captions (wrapped to the cell) centred below. */
dc_status grid_draw(const grid_spec *g, tile_fn tile, void *arg, canvas *c)
{
    int cols = g->cols > 0 ? g->cols : (int)ceil(sqrt((double)g->n));
    cols = cols > g->n ? g->n : cols;
    cols = cols < 1 ? 1 : cols;
    int rows = (g->n + cols - 1) / cols;
    int64_t tw = (int64_t)g->tw * g->s, th = (int64_t)g->th * g->s;
    int64_t cell_w = tw > 5 * CLI_FONT_ADVANCE ? tw : 5 * CLI_FONT_ADVANCE;
    int64_t cell_h = th + (g->cap_lines ? g->cap_lines * CLI_FONT_LINE + 3 : 0);
    int64_t head = g->title ? cli_font_height(g->title, 2) + MARGIN : 0;
    head += g->note ? cli_font_height(g->note, 1) + MARGIN : 0;
    int64_t w = 2 * MARGIN + cols * (cell_w + GAP) - GAP;
    int64_t h = 2 * MARGIN + head + (rows ? rows * (cell_h + GAP) - GAP : 0);
    if (g->title && cli_font_width(g->title, 2) + 2 * MARGIN > w)
        w = cli_font_width(g->title, 2) + 2 * MARGIN;
    if (g->note && cli_font_width(g->note, 1) + 2 * MARGIN > w)
        w = cli_font_width(g->note, 1) + 2 * MARGIN;
    dc_status st = canvas_init(c, w, h);
    if (st != DC_OK)
        return st;
    if (g->title)
        cli_font_draw(c->px, c->w, c->h, MARGIN, MARGIN, 2, INK, g->title);
    if (g->note)
        cli_font_draw(c->px, c->w, c->h, MARGIN,
                      MARGIN + (g->title ? cli_font_height(g->title, 2) + MARGIN : 0), 1, INK,
                      g->note);
    int64_t x0 = MARGIN + (w - 2 * MARGIN - (cols * (cell_w + GAP) - GAP)) / 2;
    for (int i = 0; i < g->n; i++) {
        char cap[256] = "", wrapped[300];
        const uint8_t *px = tile(arg, i, cap, sizeof cap);
        int x = (int)(x0 + (i % cols) * (cell_w + GAP)), y = (int)(MARGIN + head +
                                                                 (i / cols) * (cell_h + GAP));
        canvas_blit(c, x + (int)(cell_w - tw) / 2, y, px, g->tw, g->th, g->s);
        canvas_frame(c, x + (int)(cell_w - tw) / 2, y, (int)tw, (int)th);
        if (g->cap_lines) {
            cli_font_wrap(cap, (int)cell_w, 1, g->cap_lines, wrapped, sizeof wrapped);
            canvas_text_centred(c, x + (int)cell_w / 2, y + (int)th + 3, 1, wrapped);
        }
    }
    return DC_OK;
}

