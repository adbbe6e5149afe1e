/*
 * cmd_show.c - deepc show: the pictures the notes use to explain convolution, as PNG files:
 * a grid of dataset samples with their labels, the first convolution's filters, the feature maps
 * of every conv and pooling layer for one input, and the misclassified test images; and a
 * time-series forecast against the actual values as an SVG chart (plot.h).
 * All inputs are loaded and checked before anything is written (exit 2 when they are not right).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "plot/font.h"
#include "plot/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_SIDE 16384 /* the largest PNG side dc_png_write takes */
#define MARGIN 8       /* pixels around the picture */
#define GAP 6          /* pixels between cells */
#define BG 255         /* white paper ... */
#define INK 0          /* ... black text */
#define FRAME 160      /* the frame around each tile */
#define SEP 3          /* pixels between the kernels of one output channel */

/* ---- a gray canvas ---- */

typedef struct canvas {
    int w, h;
    uint8_t *px; /* [h, w], malloc'd */
} canvas;

static int canvas_init(canvas *c, int64_t w, int64_t h)
{
    c->px = NULL;
    if (w <= 0 || h <= 0 || w > MAX_SIDE || h > MAX_SIDE) {
        fprintf(stderr, "deepc show: a %lldx%lld picture is too large (at most %d per side)\n",
                (long long)w, (long long)h, MAX_SIDE);
        return -1;
    }
    c->w = (int)w;
    c->h = (int)h;
    if (!(c->px = malloc((size_t)w * (size_t)h))) {
        fprintf(stderr, "deepc show: out of memory for a %dx%d picture\n", c->w, c->h);
        return -1;
    }
    memset(c->px, BG, (size_t)w * (size_t)h);
    return 0;
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

/* Write c to path and free its pixels: 0, or -1 after a message. */
static int canvas_save(canvas *c, const char *path)
{
    int made = cli_ensure_parent(path) == 0; /* the folders of --out a/b/F.png */
    dc_status st = made ? dc_png_write(path, c->w, c->h, 1, c->px) : DC_ERR_IO;
    if (made && st != DC_OK)
        fprintf(stderr, "deepc show: %s\n", dc_last_error());
    else
        printf("wrote %s (%dx%d)\n", path, c->w, c->h);
    free(c->px);
    c->px = NULL;
    return st == DC_OK ? 0 : -1;
}

/* ---- a grid of captioned tiles ---- */

/* Tile i: its gray pixels [th, tw] (valid until the next call) and its caption into cap. */
typedef const uint8_t *(*tile_fn)(void *arg, int i, char *cap, size_t size);

typedef struct grid_spec {
    const char *title; /* scale 2 above the grid, or NULL */
    const char *note;  /* scale 1 under the title, or NULL */
    int n, tw, th, s;  /* n tiles of [th, tw] pixels, each pixel drawn s x s */
    int cols;          /* tiles per row (0: about square) */
    int cap_lines;     /* caption lines under each tile (0: none) */
} grid_spec;

/* Lay the tiles out row by row with their captions (wrapped to the cell) centred below. */
static int grid_draw(const grid_spec *g, tile_fn tile, void *arg, canvas *c)
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
    if (canvas_init(c, w, h))
        return -1;
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
    return 0;
}

/* ---- arguments ---- */

enum { A_DATA = 1, A_WEIGHTS = 2, A_N = 4, A_SEED = 8, A_INDEX = 16 };

typedef struct show_args {
    const char *what, *model, *weights, *data, *out;
    int n, index, given; /* given: the A_* flags that appeared */
    int64_t seed;
} show_args;

static void show_usage(FILE *f)
{
    fprintf(f,
        "usage: deepc show samples --data fashion-mnist[:DIR] [--n 64] [--seed S] --out F.png\n"
        "       deepc show filters MODEL --weights W.safetensors --out F.png\n"
        "       deepc show features MODEL --weights W --data fashion-mnist[:DIR] [--index I]\n"
        "                           --out DIR\n"
        "       deepc show errors MODEL --weights W --data fashion-mnist[:DIR] [--n 36]\n"
        "                         --out F.png\n"
        "       deepc show forecast MODEL --weights W --data csv:FILE,...|weather --out F.svg\n"
        "  samples   the first n training images (a seeded random n with --seed), labelled\n"
        "  filters   every kernel of the first Conv2d layer: a cell per output channel with its\n"
        "            in-channels side by side; gray is 0, white/black +-max|w| of the layer\n"
        "  features  test image I through the model (eval mode): DIR/input.png and\n"
        "            DIR/<layer>.png for every conv and pooling layer, each map min-max scaled\n"
        "  errors    the first n misclassified test images, captioned true>predicted\n"
        "  forecast  a line chart of the model's forecasts over the test windows against the\n"
        "            actual values (--data as in deepc train), with the test MAE and RMSE\n"
        "Exit 0 ok, 1 a picture could not be written, 2 bad usage or input.\n");
}

/* One flag with its value; 0, or -1 after a message. */
static int parse_flag(show_args *a, const char *f, const char *v)
{
    static const char *const known[] = {"--out", "--data", "--weights", "--n", "--index",
                                        "--seed", "--help", NULL};
    int k = 0;
    while (known[k] && strcmp(f, known[k]))
        k++;
    if (!known[k]) {
        cli_unknown_flag("show", f, known);
        return -1;
    }
    if (!v) {
        fprintf(stderr, "deepc show: %s needs a value\n", f);
        return -1;
    }
    if (!strcmp(f, "--out")) a->out = v;
    else if (!strcmp(f, "--data")) { a->data = v; a->given |= A_DATA; }
    else if (!strcmp(f, "--weights")) { a->weights = v; a->given |= A_WEIGHTS; }
    else if (!strcmp(f, "--n")) { a->given |= A_N; return arg_int(f, v, 1, 1024, &a->n); }
    else if (!strcmp(f, "--index")) {
        a->given |= A_INDEX;
        return arg_int(f, v, 0, 100000000, &a->index);
    } else if (!strcmp(f, "--seed")) {
        a->given |= A_SEED;
        return arg_i64(f, v, 0, INT64_MAX, &a->seed);
    }
    return 0;
}

/* 0 ok, 1 --help, -1 bad usage (message printed). */
static int parse_show_args(int argc, char **argv, show_args *a)
{
    static const struct { const char *what; int needs_model, allowed, required; } kinds[] = {
        {"samples", 0, A_DATA | A_N | A_SEED, A_DATA},
        {"filters", 1, A_WEIGHTS, A_WEIGHTS},
        {"features", 1, A_WEIGHTS | A_DATA | A_INDEX, A_WEIGHTS | A_DATA},
        {"errors", 1, A_WEIGHTS | A_DATA | A_N, A_WEIGHTS | A_DATA},
        {"forecast", 1, A_WEIGHTS | A_DATA, A_WEIGHTS | A_DATA},
    };
    static const char *names[] = {"--data", "--weights", "--n", "--seed", "--index"};
    memset(a, 0, sizeof *a);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        show_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? -1 : 1;
    }
    int k = 0, nk = (int)(sizeof kinds / sizeof *kinds);
    while (k < nk && strcmp(argv[1], kinds[k].what))
        k++;
    if (k == nk) {
        static const char *const whats[] = {"samples", "filters", "features", "errors",
                                            "forecast", NULL};
        const char *near = cli_nearest(argv[1], whats);
        fprintf(stderr, "deepc show: unknown picture '%s'", argv[1]);
        if (near)
            fprintf(stderr, " \u2014 did you mean '%s'?", near);
        fprintf(stderr, " (samples, filters, features, errors, forecast)\n");
        return -1;
    }
    a->what = kinds[k].what;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            show_usage(stdout);
            return 1;
        } else if (argv[i][0] == '-') {
            if (parse_flag(a, argv[i], i + 1 < argc ? argv[i + 1] : NULL))
                return -1;
            i++;
        } else if (kinds[k].needs_model && !a->model) a->model = argv[i];
        else {
            fprintf(stderr, "deepc show %s: unexpected argument '%s'\n", a->what, argv[i]);
            return -1;
        }
    }
    for (int b = 0; b < 5; b++) {
        if ((a->given >> b & 1) && !(kinds[k].allowed >> b & 1)) {
            fprintf(stderr, "deepc show %s: %s does not apply\n", a->what, names[b]);
            return -1;
        }
    }
    char who[32];
    snprintf(who, sizeof who, "show %s", a->what);
    for (int b = 0; b < 5; b++)
        if ((kinds[k].required >> b & 1) && !(a->given >> b & 1)) {
            cli_missing(who, names[b]);
            return -1;
        }
    if ((kinds[k].needs_model && !a->model) || !a->out) {
        cli_missing(who, !a->model && kinds[k].needs_model ? "MODEL (a spec file)" : "--out");
        return -1;
    }
    if (!(a->given & A_N))
        a->n = !strcmp(a->what, "errors") ? 36 : 64;
    return 0;
}

/* ---- inputs ---- */

/* The images of --data fashion-mnist[:DIR] (train or test split): 0, or -1 after a message. */
static int load_images(const char *spec, int train, dc_images *im)
{
    memset(im, 0, sizeof *im);
    if (strncmp(spec, "fashion-mnist", 13) || (spec[13] && spec[13] != ':')) {
        fprintf(stderr, "deepc show: --data '%s': only fashion-mnist[:DIR] has images to show\n",
                spec);
        return -1;
    }
    if (dc_fashion_mnist_load(spec[13] ? spec + 14 : NULL, train, im) != DC_OK) {
        fprintf(stderr, "deepc show: %s\n", dc_last_error());
        return -1;
    }
    if (im->c != 1) {
        fprintf(stderr, "deepc show: %lld-channel images are not supported\n", (long long)im->c);
        dc_images_free(im);
        return -1;
    }
    return 0;
}

static void class_label(int64_t k, char *buf, size_t size)
{
    if (k >= 0 && k < 10)
        snprintf(buf, size, "%s", dc_fashion_mnist_class((int)k));
    else
        snprintf(buf, size, "%lld", (long long)k);
}

/* The model with its weights (strict); when im is given, it must take im's [c, h, w] images. */
static dc_model *load_trained(const show_args *a, const dc_images *im)
{
    dc_spec *spec = NULL;
    dc_model *m = cli_load_model(a->model, NULL, &spec);
    if (!m)
        return NULL;
    int64_t s[DC_MAX_DIMS];
    int nd = dc_spec_input_shape(spec, s);
    dc_spec_free(spec);
    if (im && (nd != 3 || s[0] != im->c || s[1] != im->h || s[2] != im->w)) {
        char shape[96] = "";
        for (int i = 0; i < nd; i++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld",
                     i ? ", " : "", (long long)s[i]);
        fprintf(stderr, "deepc show: %s takes input [%s], the images are [%lld, %lld, %lld]\n",
                a->model, shape, (long long)im->c, (long long)im->h, (long long)im->w);
        dc_model_free(m);
        return NULL;
    }
    if (cli_load_weights(m, a->weights, 0)) {
        dc_model_free(m);
        return NULL;
    }
    return m;
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

static int show_samples(const show_args *a)
{
    dc_images im;
    if (load_images(a->data, 1, &im))
        return 2;
    int n = a->n < im.n ? a->n : (int)im.n, rc = 1;
    int64_t *idx = malloc((size_t)im.n * sizeof *idx);
    canvas c = {0, 0, NULL};
    char title[160];
    if (!idx) {
        fprintf(stderr, "deepc show: out of memory\n");
        goto out;
    }
    for (int64_t i = 0; i < im.n; i++)
        idx[i] = i;
    if (a->given & A_SEED) {
        dc_rng r;
        dc_rng_seed(&r, (uint64_t)a->seed, 0);
        dc_rng_shuffle(&r, idx, im.n);
        snprintf(title, sizeof title, "%d random training images (seed %lld)", n,
                 (long long)a->seed);
    } else {
        snprintf(title, sizeof title, "the first %d training images", n);
    }
    images_arg ia = {&im, idx, NULL};
    grid_spec g = {title, NULL, n, (int)im.w, (int)im.h, scale_for(im.h, im.w, 84), 0, 1};
    if (grid_draw(&g, image_tile, &ia, &c) == 0)
        rc = canvas_save(&c, a->out) ? 1 : 0;
out:
    free(idx);
    free(c.px);
    dc_images_free(&im);
    return rc;
}

/* Predictions over the test set until n misclassified images are found: their indices into
 * bad[], predictions into pred[], count into *n_bad and the images looked at into *seen. */
static int find_errors(dc_model *m, const dc_images *im, int n, int64_t *bad, int64_t *pred,
                       int *n_bad, int64_t *seen)
{
    enum { B = 256 };
    int64_t idx[B], am[B];
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx)
        return -1;
    dc_ctx_set_grad(ctx, 0);
    *n_bad = 0;
    for (*seen = 0; *seen < im->n && *n_bad < n;) {
        int64_t b = im->n - *seen < B ? im->n - *seen : B;
        for (int64_t i = 0; i < b; i++)
            idx[i] = *seen + i;
        dc_ctx_reset(ctx);
        dc_tensor *x = dc_images_batch(ctx, im, idx, b, CLI_FMNIST_MEAN, CLI_FMNIST_STD, NULL);
        dc_tensor *y = dc_model_forward(ctx, m, x);
        if (!y || y->ndim != 2 || y->shape[0] != b) {
            char s[96] = "?";
            if (y)
                dc_shape_str(y, s, sizeof s);
            fprintf(stderr, "deepc show: the model output %s is not [N, classes]%s%s\n",
                    s, y ? "" : ": ", y ? "" : dc_last_error());
            dc_ctx_free(ctx);
            return -1;
        }
        dc_argmax_rows(y, am);
        for (int64_t i = 0; i < b && *n_bad < n; i++, ++*seen)
            if (am[i] != im->labels[idx[i]]) {
                bad[*n_bad] = idx[i];
                pred[(*n_bad)++] = am[i];
            }
    }
    dc_ctx_free(ctx);
    return 0;
}

static int show_errors(const show_args *a)
{
    dc_images im;
    if (load_images(a->data, 0, &im))
        return 2;
    dc_model *m = load_trained(a, &im);
    int64_t bad[1024], pred[1024], seen = 0;
    int n_bad = 0, rc = 2;
    canvas c = {0, 0, NULL};
    if (!m || find_errors(m, &im, a->n, bad, pred, &n_bad, &seen))
        goto out;
    char title[160];
    printf("%d misclassified among the first %lld test images\n", n_bad, (long long)seen);
    snprintf(title, sizeof title, "%d misclassified of the first %lld test images", n_bad,
             (long long)seen);
    rc = 1;
    if (n_bad == 0) {
        grid_spec g = {title, "none: every test image is classified right", 0, 1, 1, 1, 1, 0};
        if (grid_draw(&g, image_tile, NULL, &c) == 0)
            rc = canvas_save(&c, a->out) ? 1 : 0;
        goto out;
    }
    images_arg ia = {&im, bad, pred};
    grid_spec g = {title, "caption: true class > predicted class", n_bad, (int)im.w, (int)im.h,
                   scale_for(im.h, im.w, 84), 0, 2};
    if (grid_draw(&g, image_tile, &ia, &c) == 0)
        rc = canvas_save(&c, a->out) ? 1 : 0;
out:
    free(c.px);
    dc_model_free(m);
    dc_images_free(&im);
    return rc;
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

static int show_filters(const show_args *a)
{
    dc_model *m = load_trained(a, NULL);
    if (!m)
        return 2;
    int rc = 2, ci = first_conv(m);
    char name[96], title[160], note[200], s[96];
    canvas c = {0, 0, NULL};
    filters_arg f = {0};
    const dc_module *mod = ci >= 0 ? dc_model_module(m, ci) : NULL;
    if (mod)
        snprintf(name, sizeof name, "%s.weight", mod->name);
    const dc_tensor *w = mod ? dc_model_find(m, name) : NULL;
    if (!w || w->ndim != 4 || w->dtype != DC_F32) {
        fprintf(stderr, "deepc show filters: %s has no Conv2d layer with a 4-D weight\n",
                a->model);
        goto out;
    }
    f = (filters_arg){dc_f32(w), w->shape[1], w->shape[2], w->shape[3], 0, 0, NULL};
    int64_t k = f.kh > f.kw ? f.kh : f.kw;
    f.s = (int)(64 / k < 2 ? 2 : 64 / k > 16 ? 16 : 64 / k);
    for (int64_t i = 0; i < w->numel; i++)
        if (isfinite(f.w[i]) && fabsf(f.w[i]) > f.amax)
            f.amax = fabsf(f.w[i]);
    int64_t bw = f.I * (f.kw * f.s + SEP) - SEP, bh = f.kh * f.s;
    if (bw > MAX_SIDE || !(f.buf = malloc((size_t)(bw * bh)))) {
        fprintf(stderr, "deepc show filters: %lld in-channels do not fit a picture\n",
                (long long)f.I);
        goto out;
    }
    /* About square: cols cells of bw x (bh + caption) pixels for O output channels. */
    int cols = (int)lround(sqrt((double)w->shape[0] * (double)(bh + 13) / (double)(bw + GAP)));
    snprintf(title, sizeof title, "%s %s", name, dc_shape_str(w, s, sizeof s));
    snprintf(note, sizeof note, "one cell per output channel, in-channels side by side\n"
             "gray = 0, white = +%.3g, black = -%.3g", (double)f.amax, (double)f.amax);
    grid_spec g = {title, note, (int)w->shape[0], (int)bw, (int)bh, 1, cols < 1 ? 1 : cols, 1};
    rc = 1;
    if (grid_draw(&g, filter_tile, &f, &c) == 0)
        rc = canvas_save(&c, a->out) ? 1 : 0;
out:
    free(f.buf);
    free(c.px);
    dc_model_free(m);
    return rc;
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
static int save_fmaps(const char *dir, const dc_module *mod, const dc_tensor *y)
{
    char path[1200], title[200], shape[96];
    int64_t C = y->shape[1], H = y->shape[2], W = y->shape[3];
    fmap_arg f = {dc_f32(y), H * W, 0, 0, malloc((size_t)(H * W))};
    canvas c = {0, 0, NULL};
    if (!f.buf) {
        fprintf(stderr, "deepc show: out of memory\n");
        return -1;
    }
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
    int rc = grid_draw(&g, fmap_tile, &f, &c) || canvas_save(&c, path) ? -1 : 0;
    free(c.px);
    free(f.buf);
    return rc;
}

/* DIR/input.png: the test image with its label and the model's prediction. */
static int save_input(const char *dir, const dc_images *im, int64_t k, const dc_tensor *y)
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
    int rc = grid_draw(&g, image_tile, &ia, &c) || canvas_save(&c, path) ? -1 : 0;
    free(c.px);
    return rc;
}

static int show_features(const show_args *a)
{
    dc_images im;
    if (load_images(a->data, 0, &im))
        return 2;
    dc_model *m = load_trained(a, &im);
    dc_ctx *ctx = NULL;
    int rc = 2, n_shown = 0;
    int64_t k = a->index;
    if (!m)
        goto out;
    if (k >= im.n) {
        fprintf(stderr, "deepc show features: --index %lld: the test set has %lld images "
                        "(0..%lld)\n", (long long)k, (long long)im.n, (long long)im.n - 1);
        goto out;
    }
    int nm = dc_model_n_modules(m);
    dc_tensor **outs = (ctx = dc_ctx_new(0)) ? dc_ctx_alloc(ctx, (size_t)nm * sizeof *outs) : NULL;
    if (ctx)
        dc_ctx_set_grad(ctx, 0);
    dc_tensor *x = outs ? dc_images_batch(ctx, &im, &k, 1, CLI_FMNIST_MEAN, CLI_FMNIST_STD, NULL) : NULL;
    dc_tensor *y = x ? dc_model_forward_all(ctx, m, x, outs) : NULL;
    if (!y) {
        fprintf(stderr, "deepc show features: %s\n", dc_last_error());
        goto out;
    }
    for (int i = 0; i < nm; i++)
        n_shown += is_feature_layer(dc_model_module(m, i)) && outs[i]->ndim == 4;
    if (!n_shown) {
        fprintf(stderr, "deepc show features: %s has no conv or pooling layers\n", a->model);
        goto out;
    }
    rc = 1;
    if (cli_ensure_dir(a->out) || save_input(a->out, &im, k, y))
        goto out;
    for (int i = 0; i < nm; i++) {
        const dc_module *mod = dc_model_module(m, i);
        if (is_feature_layer(mod) && outs[i]->ndim == 4 && save_fmaps(a->out, mod, outs[i]))
            goto out;
    }
    rc = 0;
out:
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_images_free(&im);
    return rc;
}

int cmd_show(int argc, char **argv)
{
    show_args a;
    int pr = parse_show_args(argc, argv, &a);
    if (pr)
        return pr > 0 ? 0 : 2;
    if (!strcmp(a.what, "samples"))
        return show_samples(&a);
    if (!strcmp(a.what, "filters"))
        return show_filters(&a);
    if (!strcmp(a.what, "features"))
        return show_features(&a);
    if (!strcmp(a.what, "forecast"))
        return cli_show_forecast(a.model, a.weights, a.data, a.out);
    return show_errors(&a);
}
