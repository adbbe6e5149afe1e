/*
 * test_pool_ties.c - max pooling's tie rule in every code path: the first maximum in row-major
 * window order wins (PyTorch), in the interior windows (the vectorised row loop), in the clipped
 * edge windows, and in the 2x2 fast path; the backward routes each dy to that element only.
 * Inputs are small integers so that ties are everywhere; a plain loop is the reference.
 */
#include "harness.h"

#include <math.h>
#include <string.h>

typedef struct pool_case {
    int k, s, p;
    int64_t n, c, h, w;
} pool_case;

/* Reference: y and the gradient of Σ y·dy, first maximum (strictly greater replaces). */
static void ref_pool(const pool_case *pc, const float *x, const float *dy, float *y, float *dx,
                     int64_t ho, int64_t wo)
{
    const int64_t planes = pc->n * pc->c, hw = pc->h * pc->w;
    memset(dx, 0, sizeof(float) * (size_t)(planes * hw));
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t i = 0; i < ho; i++)
            for (int64_t j = 0; j < wo; j++) {
                float best = -INFINITY;
                int64_t at = -1;
                for (int64_t a = i * pc->s - pc->p; a < i * pc->s - pc->p + pc->k; a++)
                    for (int64_t b = j * pc->s - pc->p; b < j * pc->s - pc->p + pc->k; b++) {
                        if (a < 0 || b < 0 || a >= pc->h || b >= pc->w)
                            continue;
                        const float v = x[pl * hw + a * pc->w + b];
                        if (at < 0 || v > best) {
                            best = v;
                            at = a * pc->w + b;
                        }
                    }
                const int64_t o = (pl * ho + i) * wo + j;
                y[o] = best;
                dx[pl * hw + at] += dy[o];
            }
}

/* Run one geometry with values drawn from {0, .., levels-1} (levels 1: all equal). */
static void check_case(const pool_case *pc, int levels, const char *what)
{
    const int64_t ho = (pc->h + 2 * pc->p - pc->k) / pc->s + 1;
    const int64_t wo = (pc->w + 2 * pc->p - pc->k) / pc->s + 1;
    const int64_t nx = pc->n * pc->c * pc->h * pc->w, ny = pc->n * pc->c * ho * wo;
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_tensor_new(DC_F32, 4, DC_SHAPE(pc->n, pc->c, pc->h, pc->w));
    dc_tensor *dy = dc_tensor_new(DC_F32, 4, DC_SHAPE(pc->n, pc->c, ho, wo));
    dc_tensor *ry = dc_tensor_new(DC_F32, 1, DC_SHAPE(ny));
    dc_tensor *rdx = dc_tensor_new(DC_F32, 1, DC_SHAPE(nx));
    REQUIRE(ctx && x && dy && ry && rdx && dc_tensor_requires_grad(x) == DC_OK);
    dc_rng r;
    dc_rng_seed(&r, 2024, 7);
    for (int64_t i = 0; i < nx; i++)
        dc_f32(x)[i] = (float)dc_rng_below(&r, (uint32_t)levels);
    for (int64_t i = 0; i < ny; i++) /* distinct: a misrouted dy shows */
        dc_f32(dy)[i] = 1.0f + (float)i;
    ref_pool(pc, dc_f32(x), dc_f32(dy), dc_f32(ry), dc_f32(rdx), ho, wo);
    dc_pool2d_opts o = {.kh = pc->k, .kw = pc->k, .stride_h = pc->s, .stride_w = pc->s,
                        .pad_h = pc->p, .pad_w = pc->p};
    dc_tensor *y = dc_max_pool2d(ctx, x, &o);
    REQUIRE(y && y->numel == ny);
    REQUIRE(dc_backward_with(ctx, y, dy) == DC_OK);
    char msg[160];
    snprintf(msg, sizeof msg, "%s: y (k%d s%d p%d on %lldx%lld)", what, pc->k, pc->s, pc->p,
             (long long)pc->h, (long long)pc->w);
    CHECK_ALLCLOSE(msg, dc_f32(y), dc_f32(ry), ny, 0, 0);
    snprintf(msg, sizeof msg, "%s: dx routed to the first maximum (k%d s%d p%d on %lldx%lld)",
             what, pc->k, pc->s, pc->p, (long long)pc->h, (long long)pc->w);
    CHECK_ALLCLOSE(msg, x->grad, dc_f32(rdx), nx, 0, 0);
    dc_tensor_free(x);
    dc_tensor_free(dy);
    dc_tensor_free(ry);
    dc_tensor_free(rdx);
    dc_ctx_free(ctx);
}

/* 3x3, stride 2, padding 1 on 7x7 (ResNet's stem pool): output columns 1..2 are interior, 0 and 3
 * are clipped edges; rows 0 and 3 are clipped too. All-equal input: every window is one tie. */
TEST(max_pool2d_3x3_s2_p1_ties_in_interior_and_edge_windows)
{
    const pool_case pc = {.k = 3, .s = 2, .p = 1, .n = 2, .c = 3, .h = 7, .w = 7};
    check_case(&pc, 1, "all equal");
    check_case(&pc, 2, "values 0/1");
    check_case(&pc, 3, "values 0/1/2");
    const pool_case wide = {.k = 3, .s = 2, .p = 1, .n = 1, .c = 2, .h = 9, .w = 40};
    check_case(&wide, 1, "all equal, wide");
    check_case(&wide, 2, "values 0/1, wide");
}

/* The hand-checked case: one 4x4 plane of ones. Output (0, 0) sees rows/cols 0..1 -> element 0;
 * (0, 1) sees cols 1..3 -> element 1; (1, 0) rows 1..3 -> element 4; (1, 1) -> element 5. */
TEST(max_pool2d_3x3_s2_p1_all_ones_by_hand)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_tensor_new(DC_F32, 4, DC_SHAPE(1, 1, 4, 4));
    REQUIRE(ctx && x && dc_tensor_requires_grad(x) == DC_OK);
    dc_tensor_fill(x, 1.0f);
    dc_pool2d_opts o = {.kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
    dc_tensor *y = dc_max_pool2d(ctx, x, &o);
    dc_tensor *dy = dc_tensor_new(DC_F32, 4, DC_SHAPE(1, 1, 2, 2));
    REQUIRE(y && y->numel == 4 && dy);
    dc_tensor_fill(dy, 1.0f);
    REQUIRE(dc_backward_with(ctx, y, dy) == DC_OK);
    static const float want[16] = {1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_ALLCLOSE("dx of a 4x4 plane of ones", x->grad, want, 16, 0, 0);
    dc_tensor_free(dy);
    dc_tensor_free(x);
    dc_ctx_free(ctx);
}

/* Other geometries through the same paths: stride 1 (overlapping windows), 2x2 stride 2 (the
 * fast path, 20 outputs per row: a full 16-wide vector and a tail), 2x2 with padding (general). */
TEST(max_pool2d_ties_other_geometries)
{
    const pool_case cs[] = {
        {.k = 3, .s = 1, .p = 1, .n = 1, .c = 2, .h = 6, .w = 11},
        {.k = 2, .s = 2, .p = 0, .n = 2, .c = 2, .h = 8, .w = 40},
        {.k = 2, .s = 2, .p = 1, .n = 1, .c = 2, .h = 7, .w = 9},
        {.k = 3, .s = 3, .p = 0, .n = 1, .c = 1, .h = 9, .w = 12},
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        check_case(&cs[i], 1, "all equal");
        check_case(&cs[i], 2, "values 0/1");
    }
}
