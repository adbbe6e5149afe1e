/*
 * conv_plan.c - the convolution planner: which algorithm computes forward, dX and dW of one layer
 * shape, what forward keeps for backward, how images go to threads and how much scratch each
 * part needs. The executor is conv_run.c; the op (shape checks, arena, tape) is ops/conv.c.
 *
 * Every threshold below was measured; the numbers are in docs/performance.md.
 */
#include "kernels/conv_plan.h"
#include "kernels/conv_wino.h"

#include <stdio.h>
#include <string.h>

/* Per-image GEMMs below this many multiply-adds (O·P·K) spread images over threads. It equals
 * OpenBLAS's own threading threshold (M·N·K <= 4·65536), so GEMMs called concurrently from the
 * OpenMP threads never start BLAS threads of their own. */
#define SMALL_GEMM (INT64_C(1) << 18)
/* Keep all images' columns from forward when they total at most this many floats (16 MiB);
 * also the cap on the partial dW buffers and on the kept padded images. */
#define KEEP_COLS (INT64_C(1) << 22)
/* Most weights (O·C·kh·kw) for which dW goes by the direct rows method: it reads every image
 * for each block of weights (LeNet-5's 150 and 2,400 weights win; a 64-channel 3x3 layer's
 * 36,864 ran at 35 GFLOP/s), where the channel-vector method is near the FMA peak at any size. */
#define DW_DIRECT_MAX 8192
/* Most partial dW sums (fixed by the sizes, never by the thread count). */
#define MAX_GROUPS 16
/* Outputs of at least this many floats (4 MiB, twice a core's L2 here) are written with
 * streaming stores where a kernel can (dc_k_conv_out.stream): they leave the caches anyway.
 * W6 (8 MB a layer): inference 5% faster on one thread and 2% on two, training unchanged. */
#define STREAM_MIN (INT64_C(1) << 20)

static dc_k_conv_algo algo_of(dc_k_direct_layout L)
{
    return L == DC_K_DIRECT_ROWS    ? DC_K_CONV_ROWS
           : L == DC_K_DIRECT_CHANS ? DC_K_CONV_CHANS
           : L == DC_K_DIRECT_WINO  ? DC_K_CONV_WINO
                                    : DC_K_CONV_NONE;
}

/* 1x1, stride 1, no padding on any side: the image is its own column matrix. */
static int is_1x1(const dc_k_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 &&
           g->Ho == g->H && g->Wo == g->W;
}

/* Number of partial dW sums of the GEMM path: 1 (straight into dW) unless images run in
 * parallel; fixed by the sizes alone, so dW never depends on the thread count. */
static int64_t dw_parts(const dc_k_conv_plan *p)
{
    const int64_t w_numel = p->O * (p->g.C / p->G) * p->g.kh * p->g.kw;
    int64_t ng = p->small ? (p->N < MAX_GROUPS ? p->N : MAX_GROUPS) : 1;
    while (ng > 1 && ng * w_numel > KEEP_COLS)
        ng /= 2;
    return ng > 0 ? ng : 1;
}

/* Round up to whole 64-byte lines, so parts of one scratch block stay aligned. */
static int64_t lines(int64_t floats) { return (floats + 15) / 16 * 16; }

/* Forward layout given, fill in everything that follows from it. */
static void plan_rest(dc_k_conv_plan *p, const dc_k_conv_need *need)
{
    const dc_k_conv_geom *g = &p->g;
    const int one = is_1x1(g), L = p->layout != DC_K_DIRECT_NONE;
    p->fwd = L ? algo_of(p->layout) : one ? DC_K_CONV_GEMM_1X1 : DC_K_CONV_GEMM;
    p->xs = L ? (int64_t)dc_k_conv_direct_xfloats(g) : 0;
    p->keep_cols = !one && !L && need->dw && p->N * p->col <= KEEP_COLS;
    const int64_t n_weights = p->O * g->C * g->kh * g->kw;
    p->keep_pad = L && need->dw &&
                  (n_weights <= DW_DIRECT_MAX || dc_k_conv_direct_dw_chans(g, p->O)) &&
                  p->N * p->xs <= KEEP_COLS;
    /* images go to threads when each one's GEMM is small, and always for the direct kernels
     * (single-threaded per image) */
    const int by_image = (p->small || L) && p->N > 1;
    p->fwd_nt = by_image ? need->threads : 1;
    p->fwd_scratch = !one && !p->keep_cols && !p->keep_pad
                         ? p->fwd_nt * (L ? p->xs : p->col) : 0;
    p->stream = p->N * p->O * g->Ho * g->Wo >= STREAM_MIN;
    /* dW: direct from the kept padded images, else by GEMM over the columns */
    p->dw = !need->dw                       ? DC_K_CONV_NONE
            : p->keep_pad && p->N > 0        ? (dc_k_conv_direct_dw_chans(g, p->O) &&
                                                dc_k_conv_direct_dw_scratch(g, p->O, p->N)
                                                    ? DC_K_CONV_CHANS : DC_K_CONV_ROWS)
            : one                            ? DC_K_CONV_GEMM_1X1
                                             : DC_K_CONV_GEMM;
    p->dw_scratch = p->keep_pad ? (int64_t)dc_k_conv_direct_dw_scratch(g, p->O, p->N) : 0;
    /* dX: a direct forward problem of its own where forward went direct and it fits */
    p->dx_layout = DC_K_DIRECT_NONE;
    if (L && dc_k_conv_direct_dx_geom(g, p->O, &p->gx))
        p->dx_layout = dc_k_conv_direct_layout(&p->gx, g->C);
    p->dx = p->dx_layout != DC_K_DIRECT_NONE ? algo_of(p->dx_layout)
            : one                            ? DC_K_CONV_GEMM_1X1
                                             : DC_K_CONV_GEMM;
    const int64_t CHW = g->C * g->H * g->W;
    p->dx_scratch = p->dx_layout == DC_K_DIRECT_NONE
                        ? 0
                        : lines(p->O * g->C * g->kh * g->kw) +
                              lines((int64_t)dc_k_conv_direct_wfloats(&p->gx, g->C,
                                                                      p->dx_layout)) +
                              need->threads * lines((int64_t)dc_k_conv_direct_xfloats(&p->gx) +
                                                    CHW);
    p->bwd_nt = p->small ? need->threads : 1;
    p->dw_parts = dw_parts(p);
    p->dx_nt = need->threads;
    p->bwd_scratch = one || p->keep_cols ? 0 : p->bwd_nt * p->col;
}

void dc_k_conv_plan_make(dc_k_conv_plan *p, const dc_k_conv_geom *g, int64_t N, int64_t O,
                         int64_t G, const dc_k_conv_need *need)
{
    memset(p, 0, sizeof *p);
    p->g = *g;
    p->N = N;
    p->O = O;
    p->G = G;
    p->col = g->C * g->kh * g->kw * g->Ho * g->Wo;
    p->small = O * p->col / G < SMALL_GEMM; /* O·P·K per image */
    p->layout = G == 1 && !is_1x1(g) && need->direct ? dc_k_conv_direct_layout(g, O)
                                                     : DC_K_DIRECT_NONE;
    plan_rest(p, need);
}

int dc_k_conv_plan_force(dc_k_conv_plan *p, dc_k_conv_algo fwd, const dc_k_conv_need *need)
{
    dc_k_direct_layout L = DC_K_DIRECT_NONE;
    if (fwd == DC_K_CONV_GEMM_1X1 && !is_1x1(&p->g))
        return 0;
    if (fwd == DC_K_CONV_GEMM && is_1x1(&p->g))
        return 0;
    if (fwd == DC_K_CONV_ROWS || fwd == DC_K_CONV_CHANS || fwd == DC_K_CONV_WINO) {
        /* the direct kernels compute any stride-1, undilated, ungrouped layer (portable loops
         * where the CPU lacks AVX-512); Winograd only where its geometry fits */
        const dc_k_conv_geom *g = &p->g;
        if (p->G != 1 || is_1x1(g) || g->sh != 1 || g->sw != 1 || g->dh != 1 || g->dw != 1)
            return 0;
        if (fwd == DC_K_CONV_WINO && !dc_k_wino_fits(g, p->O))
            return 0;
        L = fwd == DC_K_CONV_ROWS ? DC_K_DIRECT_ROWS
            : fwd == DC_K_CONV_CHANS ? DC_K_DIRECT_CHANS : DC_K_DIRECT_WINO;
    }
    p->layout = L;
    plan_rest(p, need);
    return 1;
}

const char *dc_k_conv_algo_name(dc_k_conv_algo a)
{
    switch (a) {
    case DC_K_CONV_GEMM: return "gemm";
    case DC_K_CONV_GEMM_1X1: return "gemm-1x1";
    case DC_K_CONV_ROWS: return "rows";
    case DC_K_CONV_CHANS: return "chans";
    case DC_K_CONV_WINO: return "winograd";
    case DC_K_CONV_NONE: break;
    }
    return "-";
}

int dc_k_conv_plan_str(const dc_k_conv_plan *p, char *buf, size_t n)
{
    const char *keep = p->keep_cols ? " (columns kept)" : p->keep_pad ? " (padded input kept)"
                       : p->dw == DC_K_CONV_GEMM ? " (columns recomputed)" : "";
    char threads[48];
    if (p->fwd_nt == 1)
        snprintf(threads, sizeof threads, "images one at a time");
    else
        snprintf(threads, sizeof threads, "%d threads by image", p->fwd_nt);
    if (p->dw == DC_K_CONV_NONE) /* inference: forward only */
        return snprintf(buf, n, "fwd %s; %s", dc_k_conv_algo_name(p->fwd), threads);
    return snprintf(buf, n, "fwd %s, dX %s, dW %s%s; %s", dc_k_conv_algo_name(p->fwd),
                    dc_k_conv_algo_name(p->dx), dc_k_conv_algo_name(p->dw), keep, threads);
}
