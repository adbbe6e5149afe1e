/*
 * attn_ln.c - the row kernels around attention: layer normalisation, masked softmax,
 * sinusoidal position tables.
 *
 * Row sums use 16 float lanes (lane l sums the elements l, l + 16, ...) added in double at the
 * end: the lanes vectorise without reassociating anything, so the result is the same on every
 * run and at any thread count.
 */
#include "kernels/attn_k.h"
#include "kernels/par.h"

#include <math.h>
#include <string.h>

enum { LANES = 16 };

static double lane_sum(int64_t D, const float *x)
{
    float acc[LANES] = {0};
    int64_t d = 0;
    for (; d + LANES <= D; d += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += x[d + l];
    double s = 0.0;
    for (int l = 0; l < LANES; l++)
        s += acc[l];
    for (; d < D; d++)
        s += x[d];
    return s;
}

/* Σ (x − μ)² by lanes. */
static double lane_sq(int64_t D, const float *x, float mu)
{
    float acc[LANES] = {0};
    int64_t d = 0;
    for (; d + LANES <= D; d += LANES)
        for (int l = 0; l < LANES; l++) {
            const float c = x[d + l] - mu;
            acc[l] += c * c;
        }
    double s = 0.0;
    for (int l = 0; l < LANES; l++)
        s += acc[l];
    for (; d < D; d++)
        s += (double)(x[d] - mu) * (x[d] - mu);
    return s;
}

/* Σ a·b by lanes. */
static double lane_dot(int64_t D, const float *a, const float *b)
{
    float acc[LANES] = {0};
    int64_t d = 0;
    for (; d + LANES <= D; d += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += a[d + l] * b[d + l];
    double s = 0.0;
    for (int l = 0; l < LANES; l++)
        s += acc[l];
    for (; d < D; d++)
        s += (double)a[d] * b[d];
    return s;
}

void dc_k_layer_norm_fwd(int64_t R, int64_t D, const float *x, const float *w, const float *b,
                         float eps, float *y, float *mean, float *rstd)
{
    DC_PAR_FOR(R * D >= (1 << 15), r, R, {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        const float mu = (float)(lane_sum(D, xr) / (double)D);
        const float rs = (float)(1.0 / sqrt(lane_sq(D, xr, mu) / (double)D + (double)eps));
        if (w && b)
            for (int64_t d = 0; d < D; d++)
                yr[d] = (xr[d] - mu) * rs * w[d] + b[d];
        else
            for (int64_t d = 0; d < D; d++)
                yr[d] = (xr[d] - mu) * rs * (w ? w[d] : 1.0f) + (b ? b[d] : 0.0f);
        if (mean)
            mean[r] = mu;
        if (rstd)
            rstd[r] = rs;
    });
}

void dc_k_add_layer_norm_fwd(int64_t R, int64_t D, const float *x, const float *bias,
                             const float *res, const float *w, const float *b, float eps,
                             float *y)
{
    DC_PAR_FOR(R * D >= (1 << 15), r, R, {
        const float *xr = x + r * D, *rr = res + r * D;
        float *yr = y + r * D;
        if (bias)
            for (int64_t d = 0; d < D; d++)
                yr[d] = (xr[d] + bias[d]) + rr[d];
        else
            for (int64_t d = 0; d < D; d++)
                yr[d] = xr[d] + rr[d];
        const float mu = (float)(lane_sum(D, yr) / (double)D);
        const float rs = (float)(1.0 / sqrt(lane_sq(D, yr, mu) / (double)D + (double)eps));
        for (int64_t d = 0; d < D; d++)
            yr[d] = (yr[d] - mu) * rs * (w ? w[d] : 1.0f) + (b ? b[d] : 0.0f);
    });
}

void dc_k_layer_norm_bwd(int64_t R, int64_t D, const float *x, const float *w,
                         const float *mean, const float *rstd, const float *dy, float *dx,
                         float *dw, float *db)
{
    if (dx)
        DC_PAR_FOR(R * D >= (1 << 15), r, R, {
            float g[4096], xh[4096]; /* rows up to 4096 go by lanes, longer ones in double */
            const float *xr = x + r * D, *gr = dy + r * D;
            const float mu = mean[r], rs = rstd[r];
            float *dxr = dx + r * D;
            if (D <= 4096) {
                for (int64_t d = 0; d < D; d++) {
                    g[d] = gr[d] * (w ? w[d] : 1.0f);
                    xh[d] = (xr[d] - mu) * rs;
                }
                const float mg = (float)(lane_sum(D, g) / (double)D);
                const float mgx = (float)(lane_dot(D, g, xh) / (double)D);
                for (int64_t d = 0; d < D; d++)
                    dxr[d] += rs * (g[d] - mg - xh[d] * mgx);
            } else { /* long rows: the same in double without the row copies */
                double sg = 0.0, sgx = 0.0;
                for (int64_t d = 0; d < D; d++) {
                    const double gd = (double)gr[d] * (w ? w[d] : 1.0f);
                    sg += gd;
                    sgx += gd * (xr[d] - mu) * rs;
                }
                const float mg = (float)(sg / (double)D), mgx = (float)(sgx / (double)D);
                for (int64_t d = 0; d < D; d++)
                    dxr[d] += rs * (gr[d] * (w ? w[d] : 1.0f) - mg - (xr[d] - mu) * rs * mgx);
            }
        });
    if (dw || db) /* rows in order: each column's sum has one fixed order */
        for (int64_t r = 0; r < R; r++) {
            const float *xr = x + r * D, *gr = dy + r * D;
            const float mu = mean[r], rs = rstd[r];
            if (dw)
                for (int64_t d = 0; d < D; d++)
                    dw[d] += gr[d] * ((xr[d] - mu) * rs);
            if (db)
                for (int64_t d = 0; d < D; d++)
                    db[d] += gr[d];
        }
}

void dc_k_masked_softmax_fwd(int64_t R, int64_t K, const float *x, const float *mask,
                             const int64_t *moff, int64_t m_sk, float *y)
{
    DC_PAR_FOR(R * K >= (1 << 15), r, R, {
        const float *xr = x + r * K;
        float *yr = y + r * K;
        float mx = -INFINITY;
        for (int64_t k = 0; k < K; k++) {
            yr[k] = xr[k] + (moff ? mask[moff[r] + k * m_sk] : 0.0f);
            mx = yr[k] > mx ? yr[k] : mx;
        }
        if (mx == -INFINITY) { /* every element masked: 0, not NaN */
            memset(yr, 0, (size_t)K * sizeof(float));
        } else {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                yr[k] = expf(yr[k] - mx);
                s += yr[k];
            }
            const float inv = 1.0f / s;
            for (int64_t k = 0; k < K; k++)
                yr[k] *= inv;
        }
    });
}

void dc_k_sinusoidal(int64_t t0, int64_t T, int64_t E, float *pe)
{
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < E; i += 2) {
            const double w = exp(-(double)i * log(10000.0) / (double)E);
            const double a = (double)(t0 + t) * w;
            pe[t * E + i] = (float)sin(a);
            if (i + 1 < E)
                pe[t * E + i + 1] = (float)cos(a);
        }
}
