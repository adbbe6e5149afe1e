/*
 * test_conv_direct.c - the direct convolution kernels (src/kernels/conv_direct.c) against a
 * plain double-precision convolution, for both layouts, odd sizes (partial vectors, partial
 * channel blocks, pixel blocks that straddle rows) and asymmetric padding; the portable code
 * always, the AVX-512 code where the CPU has it. Then the op: dc_conv2d's forward through the
 * direct path equals im2col + GEMM's within float rounding.
 */
#include "harness.h"
#include "kernels/conv_k.h"

#include <math.h>
#include <stdlib.h>

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
};

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

/* Run one case through layout L; 1 if every output is within float rounding of the reference. */
static int check_case(const dgeom *d, dc_k_direct_layout L, const char *what)
{
    dc_k_conv_geom g = {.C = d->C, .H = d->H, .W = d->W, .kh = d->kh, .kw = d->kw, .sh = 1,
                        .sw = 1, .pt = d->pt, .pl = d->pl, .dh = 1, .dw = 1};
    g.Ho = dc_conv_out_size(d->H, d->kh, 1, 1, d->pt, d->pb);
    g.Wo = dc_conv_out_size(d->W, d->kw, 1, 1, d->pl, d->pr);
    const int64_t nx = (int64_t)d->C * d->H * d->W, nw = (int64_t)d->O * d->C * d->kh * d->kw;
    const int64_t ny = d->O * g.Ho * g.Wo;
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    float *b = malloc(sizeof(float) * (size_t)d->O), *y = malloc(sizeof(float) * (size_t)ny);
    float *wp = malloc(sizeof(float) * dc_k_conv_direct_wfloats(&g, d->O, L));
    float *xp = malloc(sizeof(float) * dc_k_conv_direct_xfloats(&g));
    double *want = malloc(sizeof(double) * (size_t)ny);
    int ok = 0;
    if (x && w && b && y && wp && xp && want) {
        dc_rng r;
        dc_rng_seed(&r, (uint64_t)(d->C * 131 + d->O), 0);
        for (int64_t i = 0; i < nx; i++) x[i] = 2.0f * dc_rng_uniform(&r) - 1.0f;
        for (int64_t i = 0; i < nw; i++) w[i] = 2.0f * dc_rng_uniform(&r) - 1.0f;
        for (int i = 0; i < d->O; i++) b[i] = 2.0f * dc_rng_uniform(&r) - 1.0f;
        for (int64_t i = 0; i < ny; i++) y[i] = NAN; /* every output must be written */
        reference(d, (int)g.Ho, (int)g.Wo, x, w, b, want);
        dc_k_conv_direct_pack(&g, d->O, L, w, b, wp);
        dc_k_conv_direct_fwd(&g, d->O, L, wp, x, y, xp);
        double worst = 0;
        int64_t at = 0;
        const double tol = 1e-6 * (d->C * d->kh * d->kw + 1);
        for (int64_t i = 0; i < ny; i++) {
            const double e = isnan(y[i]) ? INFINITY : fabs(y[i] - want[i]);
            if (!(e <= worst)) worst = e, at = i;
        }
        ok = worst <= tol;
        CHECK(ok, "%s, %s, C=%d %dx%d O=%d k=%dx%d pad %d,%d,%d,%d: worst error %g at %lld "
              "(got %g, want %g; tolerance %g)", what, L == DC_K_DIRECT_ROWS ? "rows" : "chans",
              d->C, d->H, d->W, d->O, d->kh, d->kw, d->pt, d->pb, d->pl, d->pr, worst,
              (long long)at, (double)y[at], want[at], tol);
    }
    free(x), free(w), free(b), free(y), free(wp), free(xp), free(want);
    return ok;
}

TEST(conv_direct_portable_kernels_match_a_plain_convolution)
{
    dc_k_conv_direct_force_generic(1);
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        check_case(&CASES[i], DC_K_DIRECT_ROWS, "portable");
        check_case(&CASES[i], DC_K_DIRECT_CHANS, "portable");
    }
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
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        check_case(&CASES[i], DC_K_DIRECT_ROWS, "AVX-512");
        check_case(&CASES[i], DC_K_DIRECT_CHANS, "AVX-512");
    }
}

TEST(conv_direct_layout_choice)
{
    dc_k_conv_direct_force_generic(1);
    dc_k_conv_geom g = {.C = 6, .H = 14, .W = 14, .Ho = 10, .Wo = 10, .kh = 5, .kw = 5,
                        .sh = 1, .sw = 1, .dh = 1, .dw = 1};
    CHECK(dc_k_conv_direct_layout(&g, 16) == DC_K_DIRECT_CHANS, "C3 (16 channels, rows of 10)");
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
