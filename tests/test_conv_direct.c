/*
 * test_conv_direct.c - the direct convolution kernels (src/kernels/conv_direct.c, conv_wino.c)
 * against a plain double-precision convolution, for the three layouts (rows, channels,
 * Winograd), odd sizes (partial vectors, partial channel blocks, pixel blocks that straddle
 * rows, partial Winograd bands) and asymmetric padding; the portable code always, the AVX-512
 * code where the CPU has it (Winograd's two give the same bits). dX through each layout, dW by
 * rows and by channel vectors (in several passes, the same bits on one thread and on the team).
 * Then the op: dc_conv2d through the direct path equals im2col + GEMM's within float rounding.
 */
#include "harness.h"
#include "core/internal.h"
#include "kernels/conv_k.h"
#include "kernels/conv_wino.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Worst |got - want| over n elements within tol, else a failed check naming the element. */
#define CHECK_ALLCLOSE_D(what, name, got, want, n, tol)                                         \
    do {                                                                                       \
        double worst_ = 0;                                                                     \
        int64_t at_ = 0;                                                                       \
        for (int64_t i_ = 0; i_ < (n); i_++) {                                                 \
            const double e_ = isnan((got)[i_]) ? INFINITY : fabs((got)[i_] - (want)[i_]);      \
            if (!(e_ <= worst_)) worst_ = e_, at_ = i_;                                        \
        }                                                                                      \
        CHECK(worst_ <= (tol), "%s: %s: worst error %g at %lld (got %g, want %g; tol %g)",     \
              what, name, worst_, (long long)at_, (double)(got)[at_], (want)[at_],             \
              (double)(tol));                                                                  \
    } while (0)

typedef struct dgeom {
    int C, H, W, O, kh, kw, pt, pb, pl, pr;
} dgeom;

static const dgeom CASES[] = {
    {1, 28, 28, 6, 5, 5, 2, 2, 2, 2},   /* LeNet-5 C1 */
    {6, 14, 14, 16, 5, 5, 0, 0, 0, 0},  /* LeNet-5 C3 */
    {3, 9, 37, 20, 3, 3, 1, 1, 1, 1},   /* rows of 37: three vectors, 20 channels: 2 blocks */
    {2, 7, 5, 33, 3, 2, 0, 2, 1, 0},    /* asymmetric padding, 33 channels: 2 x 32 blocks */
    {4, 6, 6, 3, 1, 1, 0, 0, 0, 0},     /* 1x1 */
    {5, 11, 13, 48, 3, 3, 1, 1, 1, 1},  /* 48 channels: a full and a half 32-block */
    {16, 8, 8, 16, 3, 3, 1, 1, 1, 1},
    {40, 6, 7, 40, 3, 3, 1, 1, 1, 1},   /* channels in chunks: partial sums between them */
    {8, 5, 9, 64, 3, 3, 1, 1, 1, 1},    /* 64 channels: blocks of 4 vectors x 6 pixels */
    {72, 4, 6, 128, 3, 3, 1, 1, 1, 1},  /* ... in chunks, two blocks */
    {3, 32, 32, 64, 3, 3, 1, 1, 1, 1},  /* ResNet stem: 64 slots, the last group of 3 partial;
                                           dW 4 x 2 x 1 x 3 in passes of 2 images (sums kept) */
    {64, 10, 16, 24, 3, 3, 1, 1, 1, 1}, /* 3 slots span rows; 24 channels: 3 blocks of 8 */
    /* dW by channel vectors, each task shape (vectors x channels x rows x taps); odd channel
     * counts leave the last group of channels half on the zero plane */
    {5, 7, 9, 32, 3, 3, 1, 1, 1, 1},    /* 2 x 1 x 3 x 3 */
    {3, 8, 8, 64, 5, 5, 2, 2, 2, 2},    /* 4 x 1 x 1 x 5 */
    {3, 9, 6, 32, 5, 5, 2, 2, 2, 2},    /* 2 x 2 x 1 x 5 */
};

/* The stride-1 geometry of a case. */
static dc_k_conv_geom geom_of(const dgeom *d)
{
    dc_k_conv_geom g = {.C = d->C, .H = d->H, .W = d->W, .kh = d->kh, .kw = d->kw, .sh = 1,
                        .sw = 1, .pt = d->pt, .pl = d->pl, .dh = 1, .dw = 1};
    g.Ho = dc_conv_out_size(d->H, d->kh, 1, 1, d->pt, d->pb);
    g.Wo = dc_conv_out_size(d->W, d->kw, 1, 1, d->pl, d->pr);
    return g;
}

static void reference(const dgeom *d, int Ho, int Wo, const float *x, const float *w,
                      const float *b, double *y)
{
    for (int o = 0; o < d->O; o++)
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
                double acc = b[o];
                for (int c = 0; c < d->C; c++)
                    for (int p = 0; p < d->kh; p++)
                        for (int q = 0; q < d->kw; q++) {
                            const int r = i + p - d->pt, s = j + q - d->pl;
                            if (r >= 0 && r < d->H && s >= 0 && s < d->W)
                                acc += (double)w[((o * d->C + c) * d->kh + p) * d->kw + q] *
                                       x[(c * d->H + r) * d->W + s];
                        }
                y[(o * Ho + i) * Wo + j] = acc;
            }
}

/* Run one case through layout L (mode bit 0: the fused ReLU; bit 1: a residual added before
 * it; bit 2: streaming stores into a 64-byte aligned y); 1 if every output is within float
 * rounding of the reference. The output is left in *out when out != NULL (caller frees). */
static int check_case_out(const dgeom *d, dc_k_direct_layout L, int mode, const char *what,
                          float **out)
{
    const dc_k_conv_geom g = geom_of(d);
    const int64_t nx = (int64_t)d->C * d->H * d->W, nw = (int64_t)d->O * d->C * d->kh * d->kw;
    const int64_t ny = d->O * g.Ho * g.Wo;
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    float *b = malloc(sizeof(float) * (size_t)d->O);
    float *y = aligned_alloc(64, sizeof(float) * (size_t)((ny + 15) / 16 * 16));
    float *wp = malloc(sizeof(float) * dc_k_conv_direct_wfloats(&g, d->O, L));
    float *xp = malloc(sizeof(float) * dc_k_conv_direct_xfloats(&g));
    double *want = malloc(sizeof(double) * (size_t)ny);
    float *res = mode & 2 ? malloc(sizeof(float) * (size_t)ny) : NULL;
    const int relu = mode & 1;
    int ok = 0;
    if (x && w && b && y && wp && xp && want && (res || !(mode & 2))) {
        dc_rng r;
        dc_rng_seed(&r, (uint64_t)(d->C * 131 + d->O), 0);
        for (int64_t i = 0; i < nx; i++) x[i] = 2.0f * dc_rng_uniform(&r) - 1.0f;
        for (int64_t i = 0; i < nw; i++) w[i] = 2.0f * dc_rng_uniform(&r) - 1.0f;
        for (int i = 0; i < d->O; i++) b[i] = 2.0f * dc_rng_uniform(&r) - 1.0f;
        for (int64_t i = 0; i < ny; i++) y[i] = NAN; /* every output must be written */
        reference(d, (int)g.Ho, (int)g.Wo, x, w, b, want);
        for (int64_t i = 0; i < ny && res; i++) {
            res[i] = 2.0f * dc_rng_uniform(&r) - 1.0f;
            want[i] += res[i];
        }
        for (int64_t i = 0; i < ny && relu; i++)
            want[i] = want[i] < 0 ? 0 : want[i];
        dc_k_conv_direct_pack(&g, d->O, L, w, b, wp);
        dc_k_conv_direct_fwd(&g, d->O, L, wp, x, y, xp,
                             &(dc_k_conv_out){.res = res, .relu = relu, .stream = mode >> 2});
        double worst = 0;
        int64_t at = 0;
        const double tol = 1e-6 * (d->C * d->kh * d->kw + 1);
        for (int64_t i = 0; i < ny; i++) {
            const double e = isnan(y[i]) ? INFINITY : fabs(y[i] - want[i]);
            if (!(e <= worst)) worst = e, at = i;
        }
        ok = worst <= tol;
        CHECK(ok, "%s, %s%s, C=%d %dx%d O=%d k=%dx%d pad %d,%d,%d,%d: worst error %g at %lld "
              "(got %g, want %g; tolerance %g)", what,
              L == DC_K_DIRECT_ROWS ? "rows" : L == DC_K_DIRECT_CHANS ? "chans" : "winograd",
              (mode & 3) == 3 ? " + residual + relu" : mode & 2 ? " + residual"
                                                               : relu ? " + relu" : "",
              d->C, d->H, d->W, d->O, d->kh, d->kw, d->pt, d->pb, d->pl, d->pr, worst,
              (long long)at, (double)y[at], want[at], tol);
    }
    if (out)
        *out = y, y = NULL;
    free(x), free(w), free(b), free(y), free(wp), free(xp), free(want), free(res);
    return ok;
}

static int check_case(const dgeom *d, dc_k_direct_layout L, int mode, const char *what)
{
    return check_case_out(d, L, mode, what, NULL);
}

/* 3x3 geometries for Winograd's F(2x2, 3x3): rows of 32 and 64 (one and two slots per tile
 * row), a band left partly empty, output channels not a multiple of the block of 6, an odd
 * channel count, asymmetric padding, W6's 64 -> 64. */
static const dgeom WINO_CASES[] = {
    {16, 32, 32, 16, 3, 3, 1, 1, 1, 1},
    {20, 6, 64, 22, 3, 3, 1, 1, 1, 1},
    {17, 5, 34, 18, 3, 3, 0, 1, 0, 0},
    {64, 32, 32, 64, 3, 3, 1, 1, 1, 1},
};

TEST(conv_direct_portable_kernels_match_a_plain_convolution)
{
    dc_k_conv_direct_force_generic(1);
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
        for (int mode = 0; mode < 4; mode++) {
            check_case(&CASES[i], DC_K_DIRECT_ROWS, mode, "portable");
            check_case(&CASES[i], DC_K_DIRECT_CHANS, mode, "portable");
        }
    for (size_t i = 0; i < sizeof WINO_CASES / sizeof *WINO_CASES; i++)
        for (int mode = 0; mode < 4; mode++)
            check_case(&WINO_CASES[i], DC_K_DIRECT_WINO, mode, "portable");
    dc_k_conv_direct_force_generic(0);
}

/* The vector kernels, on a CPU that has them (the layout query says so); elsewhere the
 * convolution never takes this path, and the test checks just that. */
TEST(conv_direct_vector_kernels_match_a_plain_convolution)
{
    dc_k_conv_geom lenet_c1 = {.C = 1, .H = 28, .W = 28, .Ho = 28, .Wo = 28, .kh = 5, .kw = 5,
                               .sh = 1, .sw = 1, .pt = 2, .pl = 2, .dh = 1, .dw = 1};
    const dc_k_direct_layout L = dc_k_conv_direct_layout(&lenet_c1, 6);
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) {
        CHECK(L == DC_K_DIRECT_NONE, "no AVX-512, yet the direct path was chosen");
        return;
    }
    CHECK(L == DC_K_DIRECT_ROWS, "LeNet-5's C1 should go by rows, got layout %d", (int)L);
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
        for (int mode = 0; mode < 4; mode++) {
            check_case(&CASES[i], DC_K_DIRECT_ROWS, mode, "AVX-512");
            check_case(&CASES[i], DC_K_DIRECT_CHANS, mode, "AVX-512");
        }
    for (size_t i = 0; i < sizeof WINO_CASES / sizeof *WINO_CASES; i++) {
        const dgeom *d = &WINO_CASES[i];
        const dc_k_conv_geom g = geom_of(d);
        CHECK(dc_k_conv_direct_layout(&g, d->O) == DC_K_DIRECT_WINO,
              "Winograd case %zu: layout %d chosen", i, (int)dc_k_conv_direct_layout(&g, d->O));
        for (int mode = 0; mode < 8; mode++) {
            /* the portable loops make the same float operations: the same bits */
            float *yv = NULL, *yp = NULL;
            check_case_out(d, DC_K_DIRECT_WINO, mode, "AVX-512", &yv);
            dc_k_conv_direct_force_generic(1);
            check_case_out(d, DC_K_DIRECT_WINO, mode, "portable", &yp);
            dc_k_conv_direct_force_generic(0);
            const int64_t ny = (int64_t)d->O * g.Ho * g.Wo;
            CHECK(yv && yp && memcmp(yv, yp, sizeof(float) * (size_t)ny) == 0,
                  "Winograd case %zu mode %d: the vector kernel and the portable loops differ",
                  i, mode);
            free(yv), free(yp);
        }
    }
}

TEST(conv_direct_layout_choice)
{
    dc_k_conv_direct_force_generic(1);
    dc_k_conv_geom g = {.C = 6, .H = 14, .W = 14, .Ho = 10, .Wo = 10, .kh = 5, .kw = 5,
                        .sh = 1, .sw = 1, .dh = 1, .dw = 1};
    CHECK(dc_k_conv_direct_layout(&g, 16) == DC_K_DIRECT_CHANS, "C3 (16 channels, rows of 10)");
    dc_k_conv_geom r = {.C = 64, .H = 32, .W = 32, .Ho = 32, .Wo = 32, .kh = 3, .kw = 3,
                        .sh = 1, .sw = 1, .pt = 1, .pl = 1, .dh = 1, .dw = 1};
    CHECK(dc_k_conv_direct_layout(&r, 64) == DC_K_DIRECT_ROWS,
          "64 channels on rows of 32 fill both layouts: rows (no transpose) should win");
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) { /* with the vector kernels: Winograd's bounds */
        dc_k_conv_direct_force_generic(0);
        CHECK(dc_k_conv_direct_layout(&r, 64) == DC_K_DIRECT_WINO, "W6's 64 -> 64 layer");
        dc_k_conv_geom v = r;
        v.C = 3;
        CHECK(dc_k_conv_direct_layout(&v, 64) == DC_K_DIRECT_ROWS, "the 3 -> 64 stem: rows");
        CHECK(dc_k_conv_direct_layout(&r, 65) == DC_K_DIRECT_NONE, "65 outputs: GEMM");
        CHECK(dc_k_conv_direct_layout(&r, 15) != DC_K_DIRECT_WINO, "15 outputs: no Winograd");
        v = r, v.Ho = 31;
        CHECK(dc_k_conv_direct_layout(&v, 64) != DC_K_DIRECT_WINO, "odd rows: no Winograd");
        v = r, v.Wo = 48;
        CHECK(dc_k_conv_direct_layout(&v, 64) != DC_K_DIRECT_WINO, "rows of 48: no Winograd");
        v = r, v.C = 15;
        CHECK(dc_k_conv_direct_layout(&v, 64) != DC_K_DIRECT_WINO, "15 inputs: no Winograd");
        dc_k_conv_direct_force_generic(1);
    }
    g.sh = 2;
    CHECK(dc_k_conv_direct_layout(&g, 16) == DC_K_DIRECT_NONE, "stride 2 has no direct path");
    g.sh = 1;
    g.dw = 2;
    CHECK(dc_k_conv_direct_layout(&g, 16) == DC_K_DIRECT_NONE, "dilation has no direct path");
    g.dw = 1;
    g.C = 512;
    CHECK(dc_k_conv_direct_layout(&g, 16) == DC_K_DIRECT_NONE, "deep layers stay on GEMM");
    dc_k_conv_direct_force_generic(0);
}

/* ---- backward kernels ---- */

/* dX and dW of one case through the direct kernels, over N images, against plain double loops;
 * dW on one thread and on the team give the same bits. */
static void check_backward(const dgeom *d, int N, const char *what)
{
    const dc_k_conv_geom g = geom_of(d);
    const int64_t nx = (int64_t)d->C * d->H * d->W, nw = (int64_t)d->O * d->C * d->kh * d->kw;
    const int64_t ny = d->O * g.Ho * g.Wo, xs = (int64_t)dc_k_conv_direct_xfloats(&g);
    float *x = malloc(sizeof(float) * (size_t)(N * nx)), *w = malloc(sizeof(float) * (size_t)nw);
    float *dy = malloc(sizeof(float) * (size_t)(N * ny)), *dw = calloc((size_t)nw, sizeof(float));
    float *xp = malloc(sizeof(float) * (size_t)(N * xs)), *wr = malloc(sizeof(float) * (size_t)nw);
    float *dx = malloc(sizeof(float) * (size_t)nx);
    double *want_dw = calloc((size_t)nw, sizeof(double)), *want_dx = malloc(sizeof(double) * (size_t)nx);
    if (!x || !w || !dy || !dw || !xp || !wr || !dx || !want_dw || !want_dx) {
        CHECK(0, "out of memory");
        goto out;
    }
    dc_rng r;
    dc_rng_seed(&r, (uint64_t)(d->C * 7 + d->O), 1);
    for (int64_t i = 0; i < N * nx; i++) x[i] = 2.0f * dc_rng_uniform(&r) - 1.0f;
    for (int64_t i = 0; i < nw; i++) w[i] = 2.0f * dc_rng_uniform(&r) - 1.0f;
    for (int64_t i = 0; i < N * ny; i++) dy[i] = 2.0f * dc_rng_uniform(&r) - 1.0f;
    /* dW[o,c,p,q] = Σ_n Σ_(i,j) dy[n,o,i,j] · x[n,c,i+p-pt,j+q-pl] */
    for (int n = 0; n < N; n++)
        for (int o = 0; o < d->O; o++)
            for (int c = 0; c < d->C; c++)
                for (int p = 0; p < d->kh; p++)
                    for (int q = 0; q < d->kw; q++)
                        for (int i = 0; i < g.Ho; i++)
                            for (int j = 0; j < g.Wo; j++) {
                                const int a = i + p - d->pt, b = j + q - d->pl;
                                if (a >= 0 && a < d->H && b >= 0 && b < d->W)
                                    want_dw[((o * d->C + c) * d->kh + p) * d->kw + q] +=
                                        (double)dy[((n * d->O + o) * g.Ho + i) * g.Wo + j] *
                                        x[((n * d->C + c) * d->H + a) * d->W + b];
                            }
    for (int n = 0; n < N; n++)
        dc_k_conv_direct_pad(&g, x + n * nx, xp + n * xs);
    const size_t nsc = dc_k_conv_direct_dw_scratch(&g, d->O, N);
    float *dyt = nsc ? malloc(sizeof(float) * nsc) : NULL;
    float *dw1 = calloc((size_t)nw, sizeof(float));
    if (dw1) {
        dc_k_conv_direct_dw(&g, d->O, N, xp, xs, dy, dw, dyt, 1);
        dc_k_conv_direct_dw(&g, d->O, N, xp, xs, dy, dw1, dyt, 0);
        CHECK(memcmp(dw, dw1, sizeof(float) * (size_t)nw) == 0,
              "%s: dW on the team differs from dW on one thread (C=%d O=%d)", what, d->C, d->O);
    }
    free(dyt), free(dw1);
    const double tol = 1e-6 * (double)(N * g.Ho * g.Wo + 1) * 4;
    CHECK_ALLCLOSE_D(what, "dW", dw, want_dw, nw, tol);
    /* dX of image 0 */
    dc_k_conv_geom gx;
    CHECK(dc_k_conv_direct_dx_geom(&g, d->O, &gx), "%s: no dX geometry", what);
    for (int64_t i = 0; i < nx; i++) want_dx[i] = 0;
    for (int o = 0; o < d->O; o++)
        for (int c = 0; c < d->C; c++)
            for (int p = 0; p < d->kh; p++)
                for (int q = 0; q < d->kw; q++)
                    for (int i = 0; i < g.Ho; i++)
                        for (int j = 0; j < g.Wo; j++) {
                            const int a = i + p - d->pt, b = j + q - d->pl;
                            if (a >= 0 && a < d->H && b >= 0 && b < d->W)
                                want_dx[(c * d->H + a) * d->W + b] +=
                                    (double)w[((o * d->C + c) * d->kh + p) * d->kw + q] *
                                    dy[(o * g.Ho + i) * g.Wo + j];
                        }
    static const dc_k_direct_layout layouts[] = {DC_K_DIRECT_ROWS, DC_K_DIRECT_CHANS,
                                                 DC_K_DIRECT_WINO};
    for (int k = 0; k < 3; k++) {
        const dc_k_direct_layout LL = layouts[k];
        if (LL == DC_K_DIRECT_WINO && !dc_k_wino_fits(&gx, d->C))
            continue;
        float *wp = malloc(sizeof(float) * dc_k_conv_direct_wfloats(&gx, d->C, LL));
        float *sc = malloc(sizeof(float) * dc_k_conv_direct_xfloats(&gx));
        if (wp && sc) {
            dc_k_conv_direct_rotate(&g, d->O, w, wr);
            dc_k_conv_direct_pack(&gx, d->C, LL, wr, NULL, wp);
            dc_k_conv_direct_fwd(&gx, d->C, LL, wp, dy, dx, sc, NULL);
            static const char *const names[] = {"dX (rows)", "dX (channels)", "dX (winograd)"};
            CHECK_ALLCLOSE_D(what, names[k], dx, want_dx, nx,
                             1e-6 * (double)(d->O * d->kh * d->kw + 1) * 4);
        }
        free(wp), free(sc);
    }
out:
    free(x), free(w), free(dy), free(dw), free(xp), free(wr), free(dx), free(want_dw), free(want_dx);
}

TEST(conv_direct_backward_kernels_match_plain_loops)
{
    for (int k = 0; k < 2; k++) {
        __builtin_cpu_init();
        if (k == 0 && !__builtin_cpu_supports("avx512f"))
            continue; /* the portable pass below still runs */
        dc_k_conv_direct_force_generic(k);
        for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
            check_backward(&CASES[i], 3, k ? "portable" : "AVX-512");
        for (size_t i = 0; i < sizeof WINO_CASES / sizeof *WINO_CASES; i++)
            check_backward(&WINO_CASES[i], 3, k ? "portable" : "AVX-512");
    }
    dc_k_conv_direct_force_generic(0);
}

/* dW by channel vectors in more than one pass over the images (N above the images that fit a
 * pass: the partial sums wait in scratch), for each task shape. */
TEST(conv_direct_weight_gradient_in_passes)
{
    static const struct { dgeom d; int N; } cases[] = {
        {{5, 32, 32, 32, 3, 3, 1, 1, 1, 1}, 5},  /* 2 x 1 x 3 x 3, passes of 4 images */
        {{3, 32, 32, 16, 5, 5, 2, 2, 2, 2}, 9},  /* 1 x 1 x 5 x 5, passes of 8 */
        {{3, 32, 32, 64, 5, 5, 2, 2, 2, 2}, 3},  /* 4 x 1 x 1 x 5, passes of 2 */
        {{3, 32, 32, 32, 5, 5, 2, 2, 2, 2}, 5},  /* 2 x 2 x 1 x 5, passes of 4 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_backward(&cases[i].d, cases[i].N, "dW in passes");
}

/* ---- the op ---- */

typedef struct conv_run {
    float y[2 * 16 * 32 * 32], dx[2 * 16 * 32 * 32], dw[16 * 16 * 25], db[16];
} conv_run;

/* conv2d forward and backward (loss Σ y·dy) of fixed data through whichever path is on, with a
 * k x k kernel. inner: the convolution reads x·1 (its dX is then the first gradient written,
 * stored straight) rather than the leaf x (dX added to x's gradient). */
static int run_conv(int direct, int64_t N, int64_t C, int64_t H, int64_t O, int k, int pad,
                    int inner, conv_run *out)
{
    dc_conv_direct_enable(direct);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_rng r;
    dc_rng_seed(&r, 77, 0);
    dc_tensor *x = dc_tensor_new(DC_F32, 4, DC_SHAPE(N, C, H, H));
    dc_tensor *w = dc_tensor_new(DC_F32, 4, DC_SHAPE(O, C, k, k));
    dc_tensor *b = dc_tensor_new(DC_F32, 1, DC_SHAPE(O));
    int ok = 0;
    if (ctx && x && w && b) {
        dc_tensor_uniform(x, &r, -1, 1);
        dc_tensor_uniform(w, &r, -0.3f, 0.3f);
        dc_tensor_uniform(b, &r, -0.3f, 0.3f);
        dc_tensor_requires_grad(x);
        dc_tensor_requires_grad(w);
        dc_tensor_requires_grad(b);
        dc_conv2d_opts o = dc_conv2d_defaults();
        o.pad_top = o.pad_bottom = o.pad_left = o.pad_right = pad;
        dc_tensor *y = dc_conv2d(ctx, inner ? dc_mul_scalar(ctx, x, 1.0f) : x, w, b, &o);
        dc_tensor *dy = y ? dc_tensor_new(DC_F32, y->ndim, y->shape) : NULL;
        if (dy) {
            dc_tensor_uniform(dy, &r, -1, 1);
            dc_tensor *l = dc_sum(ctx, dc_mul(ctx, y, dy), DC_ALL_AXES, 0);
            if (l && dc_backward(ctx, l) == DC_OK && (size_t)y->numel <= sizeof out->y / 4 &&
                (size_t)x->numel <= sizeof out->dx / 4 && (size_t)w->numel <= sizeof out->dw / 4) {
                memcpy(out->y, y->data, sizeof(float) * (size_t)y->numel);
                memcpy(out->dx, x->grad, sizeof(float) * (size_t)x->numel);
                memcpy(out->dw, w->grad, sizeof(float) * (size_t)w->numel);
                memcpy(out->db, b->grad, sizeof(float) * (size_t)b->numel);
                ok = 1;
            }
        }
        dc_tensor_free(dy);
    }
    dc_tensor_free(x), dc_tensor_free(w), dc_tensor_free(b);
    dc_ctx_free(ctx);
    dc_conv_direct_enable(1);
    return ok;
}

/* LeNet-5's C1 and C3 through the direct kernels give what im2col + GEMM gives (on a CPU
 * without them both runs take the GEMM path and agree trivially). */
TEST(conv2d_direct_path_equals_gemm_path)
{
    static conv_run a, b;
    static const struct { int64_t N, C, H, O; int pad; } shapes[] = {{4, 1, 28, 6, 2},
                                                                      {4, 6, 14, 16, 0}};
    for (int k = 0; k < 2; k++) {
        const int64_t N = shapes[k].N, C = shapes[k].C, H = shapes[k].H, O = shapes[k].O;
        const int64_t Ho = H + 2 * shapes[k].pad - 4;
        REQUIRE(run_conv(1, N, C, H, O, 5, shapes[k].pad, 0, &a));
        REQUIRE(run_conv(0, N, C, H, O, 5, shapes[k].pad, 0, &b));
        CHECK_ALLCLOSE("y", a.y, b.y, N * O * Ho * Ho, 1e-5, 1e-5);
        CHECK_ALLCLOSE("dx", a.dx, b.dx, N * C * H * H, 1e-5, 1e-5);
        CHECK_ALLCLOSE("dw", a.dw, b.dw, O * C * 25, 1e-5, 1e-4);
        CHECK_ALLCLOSE("db", a.db, b.db, O, 1e-6, 1e-6);
    }
}

/* A 16 -> 16 channel 3x3 layer on 32x32 (Winograd forward and dX, dW by channel vectors on an
 * AVX-512 CPU) gives what im2col + GEMM gives: output, dX added to a leaf's gradient and dX
 * stored as the first gradient, dW, db. */
TEST(conv2d_winograd_path_equals_gemm_path)
{
    static conv_run a, b;
    const int64_t N = 2, C = 16, H = 32, O = 16;
    dc_k_conv_geom g = {.C = C, .H = H, .W = H, .Ho = H, .Wo = H, .kh = 3, .kw = 3, .sh = 1,
                        .sw = 1, .pt = 1, .pl = 1, .dh = 1, .dw = 1};
    __builtin_cpu_init();
    CHECK(dc_k_conv_direct_layout(&g, O) ==
              (__builtin_cpu_supports("avx512f") ? DC_K_DIRECT_WINO : DC_K_DIRECT_NONE),
          "layout %d for a 16-channel 3x3 layer on rows of 32",
          (int)dc_k_conv_direct_layout(&g, O));
    for (int inner = 0; inner < 2; inner++) {
        REQUIRE(run_conv(1, N, C, H, O, 3, 1, inner, &a));
        REQUIRE(run_conv(0, N, C, H, O, 3, 1, inner, &b));
        CHECK_ALLCLOSE("y", a.y, b.y, N * O * H * H, 1e-5, 1e-5);
        CHECK_ALLCLOSE(inner ? "dx (stored)" : "dx (added)", a.dx, b.dx, N * C * H * H, 1e-5,
                       1e-5);
        CHECK_ALLCLOSE("dw", a.dw, b.dw, O * C * 9, 1e-5, 1e-4);
        CHECK_ALLCLOSE("db", a.db, b.db, O, 1e-6, 1e-6);
    }
}

/* ---- max pooling without positions (inference) ---- */

/* 2x2 max pooling in a no-grad context (values only) equals the training path (values and
 * positions) bit for bit, and both equal plain loops (values, and where the gradient goes), NaN,
 * -inf and ties included, for row lengths that leave partial vectors. */
TEST(max_pool2d_inference_values_equal_training_values)
{
    static const int64_t widths[] = {28, 29, 10, 40, 64, 3};
    for (size_t k = 0; k < sizeof widths / sizeof *widths; k++) {
        const int64_t W = widths[k], H = 6;
        dc_tensor *x = dc_tensor_new(DC_F32, 4, DC_SHAPE(2, 3, H, W));
        REQUIRE(x);
        dc_rng r;
        dc_rng_seed(&r, (uint64_t)W, 0);
        float *v = dc_f32(x);
        for (int64_t i = 0; i < x->numel; i++) {
            const float u = dc_rng_uniform(&r);
            v[i] = u < 0.05f ? NAN : u < 0.1f ? -INFINITY : u < 0.3f ? 0.5f : u;
        }
        dc_pool2d_opts o = {.kh = 2, .kw = 2};
        dc_ctx *a = dc_ctx_new(0), *b = dc_ctx_new(0);
        REQUIRE(a && b);
        dc_ctx_set_grad(a, 0);
        dc_tensor_requires_grad(x);
        dc_tensor *ya = dc_max_pool2d(a, x, &o), *yb = dc_max_pool2d(b, x, &o);
        REQUIRE(ya && yb);
        CHECK(!memcmp(ya->data, yb->data, sizeof(float) * (size_t)ya->numel),
              "width %lld: inference and training max pooling differ", (long long)W);
        /* the positions, through the gradient of Σ y */
        dc_tensor *l = dc_sum(b, yb, DC_ALL_AXES, 0);
        REQUIRE(l && dc_backward(b, l) == DC_OK && x->grad);
        /* both against plain loops: a NaN or a strictly larger value takes over, in the order
         * (0,0), (0,1), (1,0), (1,1); the gradient goes to that position */
        const int64_t Ho = H / 2, Wo = W / 2;
        int bad = 0;
        for (int64_t pl = 0; pl < 6 && !bad; pl++)
            for (int64_t i = 0; i < Ho && !bad; i++)
                for (int64_t j = 0; j < Wo && !bad; j++) {
                    const float *xp = v + pl * H * W;
                    int64_t at = 2 * i * W + 2 * j;
                    const int64_t cand[3] = {at + 1, at + W, at + W + 1};
                    float best = xp[at];
                    for (int q = 0; q < 3; q++)
                        if (xp[cand[q]] > best || isnan(xp[cand[q]]))
                            best = xp[cand[q]], at = cand[q];
                    const float got = dc_f32(ya)[(pl * Ho + i) * Wo + j];
                    bad = !(got == best || (isnan(got) && isnan(best))) ||
                          x->grad[pl * H * W + at] != 1.0f;
                    CHECK(!bad, "width %lld plane %lld (%lld, %lld): got %g, want %g, gradient "
                          "%g at position %lld (want 1)", (long long)W, (long long)pl,
                          (long long)i, (long long)j, (double)got, (double)best,
                          (double)x->grad[pl * H * W + at], (long long)at);
                }
        dc_ctx_free(a), dc_ctx_free(b);
        dc_tensor_free(x);
    }
}
