/*
 * rnn_k.c - fused cell kernels of RNN, LSTM and GRU (see rnn_k.h for layouts and formulas).
 * Each loop runs over one batch row at a time with the gate blocks at fixed offsets, so the inner
 * loops are contiguous and vectorize; rows are independent (no reductions here).
 */
#include "kernels/rnn_k.h"

#include "kernels/fastmath.h"

#define sigm dc_fast_sigmoidf

DC_CLONES void k_rnn_cell_fwd(int64_t N, int64_t H, int relu, const float *gx, const float *hg, float *h)
{
    const int64_t n = N * H;
    if (relu)
        for (int64_t k = 0; k < n; k++) {
            float p = gx[k] + hg[k];
            h[k] = p > 0.0f ? p : 0.0f;
        }
    else
        for (int64_t k = 0; k < n; k++)
            h[k] = dc_fast_tanhf(gx[k] + hg[k]);
}

DC_CLONES void k_rnn_cell_bwd(int64_t N, int64_t H, int relu, const float *h, const float *dh,
                    float *dpre)
{
    const int64_t n = N * H;
    if (relu)
        for (int64_t k = 0; k < n; k++)
            dpre[k] = h[k] > 0.0f ? dh[k] : 0.0f;
    else
        for (int64_t k = 0; k < n; k++)
            dpre[k] = dh[k] * (1.0f - h[k] * h[k]);
}

DC_CLONES void k_lstm_cell_fwd(int64_t N, int64_t H, const float *gx, const float *hg, const float *c_prev,
                     float *gates, float *c, float *h)
{
    for (int64_t r = 0; r < N; r++) {
        const float *restrict px = gx + r * 4 * H, *restrict ph = hg + r * 4 * H;
        const float *restrict cp = c_prev ? c_prev + r * H : 0;
        float *restrict gt = gates + r * 4 * H, *restrict cr = c + r * H, *restrict hr = h + r * H;
        for (int64_t j = 0; j < H; j++) {
            float i = sigm(px[j] + ph[j]);
            float f = sigm(px[H + j] + ph[H + j]);
            float g = dc_fast_tanhf(px[2 * H + j] + ph[2 * H + j]);
            float o = sigm(px[3 * H + j] + ph[3 * H + j]);
            gt[j] = i;
            gt[H + j] = f;
            gt[2 * H + j] = g;
            gt[3 * H + j] = o;
            cr[j] = i * g;
        }
        /* three branch-free passes so that each loop vectorises */
        if (cp)
            for (int64_t j = 0; j < H; j++)
                cr[j] += gt[H + j] * cp[j];
        for (int64_t j = 0; j < H; j++)
            hr[j] = gt[3 * H + j] * dc_fast_tanhf(cr[j]);
    }
}

/* tc = tanh c; dc_t = dc + dh⊙o⊙(1 − tc²); di = dc_t⊙g, df = dc_t⊙c_prev, dg = dc_t⊙i,
 * do = dh⊙tc; pre-activation grads through σ' = s(1 − s) and tanh' = 1 − g²; dc_prev = dc_t⊙f. */
DC_CLONES void k_lstm_cell_bwd(int64_t N, int64_t H, const float *gates, const float *c,
                     const float *c_prev, const float *dh, float *dc, float *dpre)
{
    for (int64_t r = 0; r < N; r++) {
        const float *restrict gt = gates + r * 4 * H, *restrict cr = c + r * H, *restrict dhr = dh + r * H;
        const float *restrict cp = c_prev ? c_prev + r * H : 0;
        float *restrict dcr = dc + r * H, *restrict dp = dpre + r * 4 * H;
        for (int64_t j = 0; j < H; j++) {
            float i = gt[j], f = gt[H + j], g = gt[2 * H + j], o = gt[3 * H + j];
            float tc = dc_fast_tanhf(cr[j]);
            float dct = dcr[j] + dhr[j] * o * (1.0f - tc * tc);
            float cpj = cp ? cp[j] : 0.0f;
            dp[j] = dct * g * i * (1.0f - i);
            dp[H + j] = dct * cpj * f * (1.0f - f);
            dp[2 * H + j] = dct * i * (1.0f - g * g);
            dp[3 * H + j] = dhr[j] * tc * o * (1.0f - o);
            dcr[j] = dct * f;
        }
    }
}

DC_CLONES void k_gru_cell_fwd(int64_t N, int64_t H, const float *gx, const float *hg, const float *h_prev,
                    float *gates, float *h)
{
    for (int64_t r = 0; r < N; r++) {
        const float *restrict px = gx + r * 3 * H, *restrict ph = hg + r * 3 * H;
        const float *restrict hp = h_prev ? h_prev + r * H : 0;
        float *restrict gt = gates + r * 4 * H, *restrict hr = h + r * H;
        for (int64_t j = 0; j < H; j++) {
            float rg = sigm(px[j] + ph[j]);
            float z = sigm(px[H + j] + ph[H + j]);
            float hn = ph[2 * H + j];
            float n = dc_fast_tanhf(px[2 * H + j] + rg * hn);
            gt[j] = rg;
            gt[H + j] = z;
            gt[2 * H + j] = n;
            gt[3 * H + j] = hn;
            hr[j] = (1.0f - z) * n;
        }
        if (hp) /* a second pass keeps both loops branch-free */
            for (int64_t j = 0; j < H; j++)
                hr[j] += gt[H + j] * hp[j];
    }
}

/* dn = dh⊙(1 − z), dz = dh⊙(h_prev − n), dh_prev = dh⊙z; da = dn⊙(1 − n²) for a = gx_n + r⊙hn:
 * dgx_n = da, dhg_n = da⊙r, dr = da⊙hn; r and z through σ' into both gx and hg. */
DC_CLONES void k_gru_cell_bwd(int64_t N, int64_t H, const float *gates, const float *h_prev,
                    const float *dh, float *dpx, float *dph, float *dh_prev)
{
    for (int64_t r = 0; r < N; r++) {
        const float *restrict gt = gates + r * 4 * H, *restrict dhr = dh + r * H;
        const float *restrict hp = h_prev ? h_prev + r * H : 0;
        float *restrict px = dpx + r * 3 * H, *restrict ph = dph + r * 3 * H, *restrict dhp = dh_prev + r * H;
        for (int64_t j = 0; j < H; j++) {
            float rg = gt[j], z = gt[H + j], n = gt[2 * H + j], hn = gt[3 * H + j];
            float hpj = hp ? hp[j] : 0.0f;
            float da = dhr[j] * (1.0f - z) * (1.0f - n * n);
            float dr = da * hn * rg * (1.0f - rg);
            float dz = dhr[j] * (hpj - n) * z * (1.0f - z);
            px[j] = dr;
            ph[j] = dr;
            px[H + j] = dz;
            ph[H + j] = dz;
            px[2 * H + j] = da;
            ph[2 * H + j] = da * rg;
            dhp[j] = dhr[j] * z;
        }
    }
}
