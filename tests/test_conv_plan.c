/*
 * test_conv_plan.c - the convolution planner and executor (kernels/conv_plan.c, conv_run.c):
 * every algorithm, forced through a plan, against a plain-loop convolution in double for forward,
 * dX and dW; and the planner's choices for the layer shapes the direct kernels were tuned on.
 */
#include "harness.h"
#include "kernels/conv_plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct conv_case {
    const char *name;
    int64_t N, C, H, W, O, G;
    int k, stride, pad;
    dc_k_conv_algo algo;
} conv_case;

static dc_k_conv_geom geom_of(const conv_case *c)
{
    dc_k_conv_geom g = {.C = c->C, .H = c->H, .W = c->W, .kh = c->k, .kw = c->k,
                        .sh = c->stride, .sw = c->stride, .pt = c->pad, .pl = c->pad,
                        .dh = 1, .dw = 1};
    g.Ho = (c->H + 2 * c->pad - c->k) / c->stride + 1;
    g.Wo = (c->W + 2 * c->pad - c->k) / c->stride + 1;
    return g;
}

static float *randn(int64_t n, unsigned *seed)
{
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        p[i] = (float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

/* The input element a tap reads, or -1 in the padding. */
static int64_t tap(const dc_k_conv_geom *g, int64_t n, int64_t c, int64_t i, int64_t j, int ky,
                   int kx)
{
    const int64_t ih = i * g->sh + ky - g->pt, iw = j * g->sw + kx - g->pl;
    if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W)
        return -1;
    return ((n * g->C + c) * g->H + ih) * g->W + iw;
}

/* Plain loops in double: y = conv(x, w) + b; dx = ∂Σ(y·dy)/∂x; dw likewise. */
static void reference(const conv_case *c, const dc_k_conv_geom *g, const float *x,
                      const float *w, const float *b, const float *dy, double *y, double *dx,
                      double *dw)
{
    const int64_t Cg = c->C / c->G, Og = c->O / c->G, P = g->Ho * g->Wo;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t o = 0; o < c->O; o++)
            for (int64_t i = 0; i < g->Ho; i++)
                for (int64_t j = 0; j < g->Wo; j++) {
                    const int64_t at = (n * c->O + o) * P + i * g->Wo + j;
                    double acc = b[o];
                    for (int64_t cc = 0; cc < Cg; cc++)
                        for (int ky = 0; ky < c->k; ky++)
                            for (int kx = 0; kx < c->k; kx++) {
                                const int64_t xi = tap(g, n, o / Og * Cg + cc, i, j, ky, kx);
                                const int64_t wi = ((o * Cg + cc) * c->k + ky) * c->k + kx;
                                if (xi < 0)
                                    continue;
                                acc += (double)w[wi] * x[xi];
                                dx[xi] += (double)w[wi] * dy[at];
                                dw[wi] += (double)x[xi] * dy[at];
                            }
                    y[at] = acc;
                }
}

/* Largest error relative to the largest reference value (float32 sums of a few hundred terms
 * against double: a few 1e-7; Winograd's transforms a few 1e-6). */
static int close_to(const float *got, const double *want, int64_t n, double *worst)
{
    double scale = 1e-6, e = 0;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs(got[i] - want[i]);
        if (!(d <= e))
            e = d;
    }
    *worst = e / scale;
    return *worst < 2e-5;
}

static float *zeros(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* Forward, dX and dW through the executor, as ops/conv.c would call it. */
static void run_plan(const dc_k_conv_plan *p, const float *x, const float *w, const float *b,
                     const float *dy, float *y, float *dx, float *dw)
{
    float *col = p->keep_cols ? zeros(p->N * p->col) : NULL;
    float *xpad = p->keep_pad ? zeros(p->N * p->xs) : NULL;
    float *wp = p->layout ? zeros((int64_t)dc_k_conv_direct_wfloats(&p->g, p->O, p->layout))
                          : NULL;
    if (wp)
        dc_k_conv_direct_pack(&p->g, p->O, p->layout, w, b, wp);
    float *sc = zeros(p->fwd_scratch);
    dc_k_conv_bufs bf = {.x = x, .w = w, .b = b, .wp = wp, .y = y, .col = col, .xpad = xpad,
                         .scratch = p->fwd_scratch ? sc : NULL};
    dc_k_conv_run_fwd(p, &bf);
    if (p->dw == DC_K_CONV_ROWS || p->dw == DC_K_CONV_CHANS) {
        float *dsc = zeros(p->dw_scratch);
        dc_k_conv_run_dw_direct(p, xpad, dy, dw, p->dw_scratch ? dsc : NULL);
        free(dsc);
        dw = NULL;
    }
    if (p->dx_layout != DC_K_DIRECT_NONE) {
        float *dsc = zeros(p->dx_scratch);
        dc_k_conv_run_dx_direct(p, w, dy, dx, 0, dsc);
        free(dsc);
        dx = NULL;
    }
    float *bsc = zeros(p->bwd_scratch), *part = dw && p->dw_parts > 1
                                                    ? zeros(p->dw_parts * p->O * p->g.C / p->G *
                                                            p->g.kh * p->g.kw)
                                                    : NULL;
    bf.scratch = col ? NULL : bsc;
    if (dx || dw)
        dc_k_conv_run_bwd_gemm(p, &bf, dy, dx, dw, part);
    free(col), free(xpad), free(wp), free(sc), free(bsc), free(part);
}

static void check_case(const conv_case *c, int generic)
{
    const dc_k_conv_geom g = geom_of(c);
    const dc_k_conv_need need = {.dw = 1, .direct = 1, .threads = 2};
    dc_k_conv_plan p;
    dc_k_conv_direct_force_generic(generic);
    dc_k_conv_plan_make(&p, &g, c->N, c->O, c->G, &need);
    const int forced = dc_k_conv_plan_force(&p, c->algo, &need);
    CHECK(forced && p.fwd == c->algo, "%s: could not force %s (plan has %s)", c->name,
          dc_k_conv_algo_name(c->algo), dc_k_conv_algo_name(p.fwd));
    unsigned seed = 7;
    const int64_t nx = c->N * c->C * c->H * c->W, nw = c->O * c->C / c->G * c->k * c->k;
    const int64_t ny = c->N * c->O * g.Ho * g.Wo;
    float *x = randn(nx, &seed), *w = randn(nw, &seed), *b = randn(c->O, &seed);
    float *dy = randn(ny, &seed), *y = zeros(ny), *dx = zeros(nx), *dw = zeros(nw);
    double *ry = calloc((size_t)ny, sizeof *ry), *rdx = calloc((size_t)nx, sizeof *rdx);
    double *rdw = calloc((size_t)nw, sizeof *rdw);
    reference(c, &g, x, w, b, dy, ry, rdx, rdw);
    run_plan(&p, x, w, b, dy, y, dx, dw);
    double ey, ex, ew;
    CHECK(close_to(y, ry, ny, &ey), "%s%s fwd %s: worst error %g of the largest value", c->name,
          generic ? " (portable)" : "", dc_k_conv_algo_name(p.fwd), ey);
    CHECK(close_to(dx, rdx, nx, &ex), "%s%s dX %s: worst error %g of the largest value", c->name,
          generic ? " (portable)" : "", dc_k_conv_algo_name(p.dx), ex);
    CHECK(close_to(dw, rdw, nw, &ew), "%s%s dW %s: worst error %g of the largest value", c->name,
          generic ? " (portable)" : "", dc_k_conv_algo_name(p.dw), ew);
    dc_k_conv_direct_force_generic(0);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw);
    free(ry), free(rdx), free(rdw);
}

static const conv_case cases[] = {
    {"gemm 3x3 stride 2 pad 1", 3, 3, 9, 11, 5, 1, 3, 2, 1, DC_K_CONV_GEMM},
    {"gemm grouped", 2, 4, 7, 7, 6, 2, 3, 1, 1, DC_K_CONV_GEMM},
    {"gemm 20 images in groups", 20, 2, 6, 6, 3, 1, 3, 1, 0, DC_K_CONV_GEMM},
    {"gemm large per-image", 3, 16, 16, 16, 32, 1, 3, 2, 1, DC_K_CONV_GEMM},
    {"gemm large, one at a time", 3, 16, 16, 16, 32, 1, 3, 1, 1, DC_K_CONV_GEMM},
    {"gemm-1x1", 3, 5, 6, 6, 4, 1, 1, 1, 0, DC_K_CONV_GEMM_1X1},
    {"rows 3->6 5x5 pad 2", 3, 3, 20, 20, 6, 1, 5, 1, 2, DC_K_CONV_ROWS},
    {"rows 8->16 3x3", 2, 8, 18, 18, 16, 1, 3, 1, 1, DC_K_CONV_ROWS},
    {"chans 8->16 3x3 short rows", 3, 8, 7, 7, 16, 1, 3, 1, 1, DC_K_CONV_CHANS},
    {"chans 6->32 unpadded", 2, 6, 9, 9, 32, 1, 3, 1, 0, DC_K_CONV_CHANS},
    {"winograd 16->16 32x32", 2, 16, 32, 32, 16, 1, 3, 1, 1, DC_K_CONV_WINO},
};

TEST(conv_plan_every_algorithm_matches_plain_loops)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        check_case(&cases[i], 0);
        if (cases[i].algo == DC_K_CONV_ROWS || cases[i].algo == DC_K_CONV_CHANS)
            check_case(&cases[i], 1); /* and the portable loops of the same contract */
    }
}

/* The planner's choices on the layer shapes the kernels were tuned on (docs/design.md,
 * "Convolution algorithms"). On a CPU without AVX-512 every layer goes by GEMM. */
TEST(conv_plan_choices_for_the_tuned_layers)
{
    const int v = dc_k_have_avx512();
    const dc_k_conv_need train = {.dw = 1, .direct = 1, .threads = 2};
    const dc_k_conv_need infer = {.dw = 0, .direct = 1, .threads = 2};
    const dc_k_conv_need off = {.dw = 1, .direct = 0, .threads = 2};
    struct { conv_case c; const dc_k_conv_need *need; dc_k_conv_algo fwd, dw; } t[] = {
        {{"lenet c1", 64, 1, 28, 28, 6, 1, 5, 1, 2, 0}, &train,
         v ? DC_K_CONV_ROWS : DC_K_CONV_GEMM, v ? DC_K_CONV_ROWS : DC_K_CONV_GEMM},
        {{"resnet 64x32x32", 8, 64, 32, 32, 64, 1, 3, 1, 1, 0}, &train,
         v ? DC_K_CONV_WINO : DC_K_CONV_GEMM, v ? DC_K_CONV_CHANS : DC_K_CONV_GEMM},
        {{"resnet inference", 8, 64, 32, 32, 64, 1, 3, 1, 1, 0}, &infer,
         v ? DC_K_CONV_WINO : DC_K_CONV_GEMM, DC_K_CONV_NONE},
        {{"stride 2", 8, 64, 32, 32, 128, 1, 3, 2, 1, 0}, &train, DC_K_CONV_GEMM, DC_K_CONV_GEMM},
        {{"1x1", 8, 64, 16, 16, 128, 1, 1, 1, 0, 0}, &train, DC_K_CONV_GEMM_1X1,
         DC_K_CONV_GEMM_1X1},
        {{"direct off", 64, 1, 28, 28, 6, 1, 5, 1, 2, 0}, &off, DC_K_CONV_GEMM, DC_K_CONV_GEMM},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        const dc_k_conv_geom g = geom_of(&t[i].c);
        dc_k_conv_plan p;
        dc_k_conv_plan_make(&p, &g, t[i].c.N, t[i].c.O, t[i].c.G, t[i].need);
        char s[160];
        dc_k_conv_plan_str(&p, s, sizeof s);
        CHECK(p.fwd == t[i].fwd && p.dw == t[i].dw, "%s: planned \"%s\", expected fwd %s, dW %s",
              t[i].c.name, s, dc_k_conv_algo_name(t[i].fwd), dc_k_conv_algo_name(t[i].dw));
    }
}

TEST(conv_plan_str_through_the_public_api)
{
    char s[200];
    const int64_t x[4] = {1, 1, 28, 28}, w[4] = {6, 1, 5, 5};
    dc_conv2d_opts o = dc_conv2d_defaults();
    o.pad_top = o.pad_bottom = o.pad_left = o.pad_right = 2;
    CHECK(dc_conv2d_plan_str(x, w, &o, 1, s, sizeof s) == DC_OK, "%s", dc_last_error());
    CHECK(strstr(s, "fwd ") && strstr(s, "dX ") && strstr(s, "dW "), "plan string \"%s\"", s);
    const int64_t bad[4] = {6, 2, 5, 5};
    CHECK(dc_conv2d_plan_str(x, bad, &o, 1, s, sizeof s) == DC_ERR_SHAPE,
          "a weight with 2 input channels for a 1-channel input must be refused");
}

TEST(conv_plan_summary_prints_each_convolution)
{
    char out[8192];
    int rc = t_run_deepc(out, sizeof out, "summary models/lenet5 --plan --batch 16");
    CHECK(rc == 0, "summary --plan exited %d: %s", rc, out);
    CHECK(strstr(out, "batch 16") && strstr(out, "c1 ") && strstr(out, "c3 "),
          "expected both convolutions of LeNet-5 at batch 16: %s", out);
    CHECK(strstr(out, "training:  fwd ") && strstr(out, "inference: fwd "), "%s", out);
    rc = t_run_deepc(out, sizeof out, "summary models/lenet5 --plan --batch 0");
    CHECK(rc == 2 && strstr(out, "--batch"), "batch 0 must be refused naming the flag: %d %s",
          rc, out);
}
