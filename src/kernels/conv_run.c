/*
 * conv_run.c - the convolution executor: runs a plan (conv_plan.c) over raw buffers.
 *
 * Per image n, with P = Ho·Wo, G groups, Cg = C/G, Og = O/G, K = Cg·kh·kw:
 *   GEMM forward   col_n [G·K, P] = im2col(x[n]);  y[n]_g [Og, P] = W_g [Og, K] · col_n,g (+ b)
 *   GEMM backward  dW_g += dy[n]_g · col_n,gᵀ;  dcol_n,g = W_gᵀ · dy[n]_g, col2im adds it to dx[n]
 *   direct         the kernels of conv_direct.c / conv_wino.c, one image per thread
 *
 * Why one image at a time: measured on LeNet-5's layers (28x28 and 14x14 images), per-image
 * columns stay in L2 and the per-image GEMMs beat one batched GEMM over a [K, N·P] column matrix
 * (which also needs a transpose of y and dy). Threads: when the per-image GEMM is small, images
 * are spread over the OpenMP threads (each GEMM then runs on its thread); dW is accumulated in
 * dw_parts partial sums over fixed ranges of images, added in order, so results never depend on
 * the thread count. Large per-image GEMMs go one image at a time and let the GEMM use the
 * threads (it splits M/N only).
 */
#include "kernels/conv_plan.h"
#include "kernels/eltwise_k.h"
#include "kernels/kernels.h"
#include "kernels/par.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many multiply-adds in the whole layer, stay on the calling thread. */
#define PAR_MIN (INT64_C(1) << 17)

/* This thread's scratch slot among nt: its number in the team, or any slot when the loop runs on
 * one thread (maybe a thread of a caller's own parallel region, numbered beyond nt). */
static int thread_id(int nt)
{
#ifdef _OPENMP
    return omp_get_thread_num() % nt;
#else
    (void)nt;
    return 0;
#endif
}

/* y[n] = W · im2col(x[n]) + b (+ res[n]), then the ReLU if fused. col: scratch [G·K, P] for this
 * image (unused for 1x1), or the padded image for the direct kernels. */
static void fwd_image(const dc_k_conv_plan *p, const dc_k_conv_bufs *bf, int64_t n, float *col)
{
    const dc_k_conv_geom *g = &p->g;
    const int64_t P = g->Ho * g->Wo, Og = p->O / p->G, K = g->C / p->G * g->kh * g->kw;
    const int64_t CHW = g->C * g->H * g->W;
    const float *xn = bf->x + n * CHW;
    float *yn = bf->y + n * p->O * P;
    const float *rn = bf->res ? bf->res + n * p->O * P : NULL;
    if (p->layout != DC_K_DIRECT_NONE) { /* the next image loads while this one runs */
        const dc_k_conv_out fin = {.res = rn, .relu = bf->relu,
                                   .next = n + 1 < p->N ? xn + CHW : NULL,
                                   .next_bytes = sizeof(float) * (size_t)CHW,
                                   .stream = p->stream};
        dc_k_conv_direct_fwd(g, p->O, p->layout, bf->wp, xn, yn, col, &fin);
        return;
    }
    const int one = p->fwd == DC_K_CONV_GEMM_1X1;
    if (!one)
        dc_k_im2col(g, 1, xn, col);
    const float *c = one ? xn : col;
    for (int64_t gi = 0; gi < p->G; gi++)
        dc_gemm(0, 0, Og, P, K, 1.0f, bf->w + gi * Og * K, K, c + gi * K * P, P, 0.0f,
                yn + gi * Og * P, P);
    for (int64_t o = 0; o < p->O && (bf->b || rn || bf->relu); o++) { /* while in cache */
        const float bo = bf->b ? bf->b[o] : 0.0f;
        float *restrict yo = yn + o * P;
        const float *restrict ro = rn ? rn + o * P : NULL;
        for (int64_t q = 0; q < P; q++) { /* (conv + b) + res, as the direct kernels */
            const float v = ro ? yo[q] + bo + ro[q] : yo[q] + bo;
            yo[q] = bf->relu ? dc_k_relu(v) : v;
        }
    }
}

void dc_k_conv_run_fwd(const dc_k_conv_plan *p, const dc_k_conv_bufs *bf)
{
    const int64_t kp = p->col, per = p->layout != DC_K_DIRECT_NONE ? p->xs : kp;
    const double work = (double)p->N * (double)p->O * (double)kp / (double)p->G;
    const int nt = p->fwd_nt;
    DC_PAR_FOR_NT(nt > 1 && work > PAR_MIN, nt, n, p->N, {
        float *col = p->keep_cols  ? bf->col + n * kp
                     : p->keep_pad ? bf->xpad + n * p->xs
                     : bf->scratch ? bf->scratch + thread_id(nt) * per
                                   : NULL;
        fwd_image(p, bf, n, col);
    });
}

void dc_k_conv_run_dw_direct(const dc_k_conv_plan *p, const float *xpad, const float *dy,
                             float *dw, float *scratch)
{
    const double work = (double)p->N * (double)p->O * (double)p->col;
    dc_k_conv_direct_dw(&p->g, p->O, p->N, xpad, p->xs, dy, dw, scratch, work > PAR_MIN);
}

void dc_k_conv_run_dx_direct(const dc_k_conv_plan *p, const float *w, const float *dy,
                             float *dx, int fresh, float *scratch)
{
    const dc_k_conv_geom *g = &p->g, *gx = &p->gx;
    const int64_t CHW = g->C * g->H * g->W, OP = p->O * g->Ho * g->Wo;
    const int64_t nwr = p->O * g->C * g->kh * g->kw;
    const int64_t nwp = (int64_t)dc_k_conv_direct_wfloats(gx, g->C, p->dx_layout);
    const int64_t per = ((int64_t)dc_k_conv_direct_xfloats(gx) + CHW + 15) / 16 * 16;
    float *wr = scratch, *wp = wr + (nwr + 15) / 16 * 16, *sc = wp + (nwp + 15) / 16 * 16;
    const int nt = p->dx_nt;
    dc_k_conv_direct_rotate(g, p->O, w, wr);
    dc_k_conv_direct_pack(gx, g->C, p->dx_layout, wr, NULL, wp);
    const double work = (double)p->N * (double)OP * (double)(g->C * g->kh * g->kw);
    DC_PAR_FOR_NT(work > PAR_MIN, nt, n, p->N, {
        float *xp = sc + thread_id(nt) * per, *d = dx + n * CHW;
        float *out = fresh ? d : xp + (per - CHW);
        const dc_k_conv_out fin = {.next = n + 1 < p->N ? dy + (n + 1) * OP : NULL,
                                   .next_bytes = sizeof(float) * (size_t)OP,
                                   .stream = fresh && p->N * CHW >= (INT64_C(1) << 20)};
        dc_k_conv_direct_fwd(gx, g->C, p->dx_layout, wp, dy + n * OP, out, xp, &fin);
        for (int64_t i = 0; i < CHW && !fresh; i++)
            d[i] += out[i];
    });
}

/* Backward of image n: dwp (the partial or final dW, or NULL) += dy[n] · col_nᵀ, with beta 0
 * when `first`; dx[n] += col2im(Wᵀ · dy[n]) when dx. col holds the image's columns when
 * `have_col`, else it is scratch to recompute them; it is overwritten by dcol. */
static void bwd_image(const dc_k_conv_plan *p, const float *x, const float *w, const float *dy,
                      float *dx, float *dwp, int first, int64_t n, float *col, int have_col)
{
    const dc_k_conv_geom *g = &p->g;
    const int64_t P = g->Ho * g->Wo, Og = p->O / p->G, K = g->C / p->G * g->kh * g->kw;
    const int64_t CHW = g->C * g->H * g->W;
    const int one = p->fwd == DC_K_CONV_GEMM_1X1;
    const float *xn = x + n * CHW, *dyn = dy + n * p->O * P;
    if (dwp) {
        if (!one && !have_col)
            dc_k_im2col(g, 1, xn, col);
        const float *c = one ? xn : col;
        for (int64_t gi = 0; gi < p->G; gi++)
            dc_gemm(0, 1, Og, K, P, 1.0f, dyn + gi * Og * P, P, c + gi * K * P, P,
                    first ? 0.0f : 1.0f, dwp + gi * Og * K, K);
    }
    if (!dx)
        return;
    for (int64_t gi = 0; gi < p->G; gi++) {
        if (one) /* dx[n] += W_gᵀ · dy[n] straight into the input gradient */
            dc_gemm(1, 0, K, P, Og, 1.0f, w + gi * Og * K, K, dyn + gi * Og * P, P, 1.0f,
                    dx + n * CHW + gi * K * P, P);
        else
            dc_gemm(1, 0, K, P, Og, 1.0f, w + gi * Og * K, K, dyn + gi * Og * P, P, 0.0f,
                    col + gi * K * P, P);
    }
    if (!one)
        dc_k_col2im_add(g, 1, col, dx + n * CHW);
}

void dc_k_conv_run_bwd_gemm(const dc_k_conv_plan *p, const dc_k_conv_bufs *bf, const float *dy,
                            float *dx, float *dw, float *part)
{
    const int64_t ng = p->dw_parts, kp = p->col;
    const int64_t wn = p->O * (p->g.C / p->G) * p->g.kh * p->g.kw;
    const int nt = p->bwd_nt;
    const int have_col = p->keep_cols && bf->col;
    const double work = (double)p->N * (double)p->O * (double)kp / (double)p->G;
    DC_PAR_FOR_NT(ng > 1 && work > PAR_MIN, nt, j, ng, {
        float *sc = bf->scratch ? bf->scratch + thread_id(nt) * kp : NULL;
        float *dwp = !dw ? NULL : part ? part + j * wn : dw;
        const int64_t n0 = j * p->N / ng, n1 = (j + 1) * p->N / ng;
        for (int64_t n = n0; n < n1; n++) /* the images of group j, in order */
            bwd_image(p, bf->x, bf->w, dy, dx, dwp, part && n == n0, n,
                      have_col ? bf->col + n * kp : sc, have_col);
    });
    if (part) { /* dW += ((p_0 + p_1) + p_2) + ... in group order */
        for (int64_t j = 1; j < ng; j++)
            for (int64_t i = 0; i < wn; i++)
                part[i] += part[j * wn + i];
        for (int64_t i = 0; i < wn; i++)
            dw[i] += part[i];
    }
}

void dc_k_conv_run_bias(const dc_k_conv_plan *p, const float *dy, const float *y, float *dym,
                        float *db)
{
    const int64_t P = p->g.Ho * p->g.Wo, O = p->O;
    DC_PAR_FOR(p->N * O * P > PAR_MIN, o, O, {
        double acc = 0;
        for (int64_t n = 0; n < p->N; n++) {
            const int64_t at = (n * O + o) * P;
            if (dym)
                dc_k_relu_bwd(P, y + at, dy + at, dym + at, 1);
            acc += dc_k_plane_sum_f64((dym ? dym : dy) + at, P);
        }
        if (db)
            db[o] += (float)acc;
    });
}
