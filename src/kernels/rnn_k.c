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

DC_CLONES void k_rnn_cell_bwd(int64_t N, int64_t H, int relu, const float *restrict h,
                              const float *restrict dh, float *restrict dpre)
{
    const int64_t n = N * H;
    if (relu)
        for (int64_t k = 0; k < n; k++)
            dpre[k] = h[k] > 0.0f ? dh[k] : 0.0f;
    else
        for (int64_t k = 0; k < n; k++)
            dpre[k] = dh[k] * (1.0f - h[k] * h[k]);
}

/* i, f, o = σ, g = tanh of one row's four gate slices, c = i⊙g (the helpers below explain the
 * restrict parameters) */
static inline void lstm_fwd_row(int64_t H, const float *restrict px, const float *restrict ph,
                                float *restrict gi, float *restrict gf, float *restrict gg,
                                float *restrict go, float *restrict cr)
{
    for (int64_t j = 0; j < H; j++) {
        const float i = sigm(px[j] + ph[j]);
        const float f = sigm(px[H + j] + ph[H + j]);
        const float g = dc_fast_tanhf(px[2 * H + j] + ph[2 * H + j]);
        const float o = sigm(px[3 * H + j] + ph[3 * H + j]);
        gi[j] = i;
        gf[j] = f;
        gg[j] = g;
        go[j] = o;
        cr[j] = i * g;
    }
}

static inline void lstm_out_row(int64_t H, const float *restrict gf, const float *restrict go,
                                const float *restrict cp, float *restrict cr, float *restrict hr)
{
    if (cp) /* branch-free passes so that each loop vectorises */
        for (int64_t j = 0; j < H; j++)
            cr[j] += gf[j] * cp[j];
    for (int64_t j = 0; j < H; j++)
        hr[j] = go[j] * dc_fast_tanhf(cr[j]);
}

DC_CLONES void k_lstm_cell_fwd(int64_t N, int64_t H, const float *gx, const float *hg,
                               const float *c_prev, float *gates, float *c, float *h)
{
    for (int64_t r = 0; r < N; r++) {
        float *gt = gates + r * 4 * H, *cr = c + r * H;
        lstm_fwd_row(H, gx + r * 4 * H, hg + r * 4 * H, gt, gt + H, gt + 2 * H, gt + 3 * H, cr);
        lstm_out_row(H, gt + H, gt + 3 * H, c_prev ? c_prev + r * H : NULL, cr, h + r * H);
    }
}

/* The cells' loops work on gate slices at offsets j, H + j, ... of one row: GCC cannot tell
 * that such slices of one array do not overlap and leaves the loop scalar, so each row goes
 * through a helper whose slices are separate restrict parameters (then every loop vectorises;
 * checked with -fopt-info-vec). */

/* tc = tanh c; dc_t = dc + dh⊙o⊙(1 − tc²); di = dc_t⊙g, df = dc_t⊙c_prev, dg = dc_t⊙i,
 * do = dh⊙tc; pre-activation grads through σ' = s(1 − s) and tanh' = 1 − g²; dc_prev = dc_t⊙f. */
static inline void lstm_bwd_row(int64_t H, const float *restrict gi, const float *restrict gf,
                                const float *restrict gg, const float *restrict go,
                                const float *restrict cr, const float *restrict cp,
                                const float *restrict dhr, float *restrict dcr,
                                float *restrict di, float *restrict df, float *restrict dg,
                                float *restrict dout)
{
    for (int64_t j = 0; j < H; j++) {
        const float i = gi[j], f = gf[j], g = gg[j], o = go[j];
        const float tc = dc_fast_tanhf(cr[j]);
        const float dct = dcr[j] + dhr[j] * o * (1.0f - tc * tc);
        const float cpj = cp ? cp[j] : 0.0f;
        di[j] = dct * g * i * (1.0f - i);
        df[j] = dct * cpj * f * (1.0f - f);
        dg[j] = dct * i * (1.0f - g * g);
        dout[j] = dhr[j] * tc * o * (1.0f - o);
        dcr[j] = dct * f;
    }
}

DC_CLONES void k_lstm_cell_bwd(int64_t N, int64_t H, const float *gates, const float *c,
                               const float *c_prev, const float *dh, float *dc, float *dpre)
{
    for (int64_t r = 0; r < N; r++) {
        const float *gt = gates + r * 4 * H;
        float *dp = dpre + r * 4 * H;
        lstm_bwd_row(H, gt, gt + H, gt + 2 * H, gt + 3 * H, c + r * H,
                     c_prev ? c_prev + r * H : NULL, dh + r * H, dc + r * H, dp, dp + H,
                     dp + 2 * H, dp + 3 * H);
    }
}

static inline void gru_rz_row(int64_t n, const float *restrict px, const float *restrict ph,
                              float *restrict g)
{
    for (int64_t j = 0; j < n; j++)
        g[j] = sigm(px[j] + ph[j]);
}

static inline void gru_n_row(int64_t H, const float *restrict pxn, const float *restrict phn,
                             const float *restrict rg, const float *restrict z,
                             const float *restrict hp, float *restrict n, float *restrict hn,
                             float *restrict h)
{
    for (int64_t j = 0; j < H; j++) {
        const float v = dc_fast_tanhf(pxn[j] + rg[j] * phn[j]);
        hn[j] = phn[j];
        n[j] = v;
        h[j] = (1.0f - z[j]) * v;
    }
    if (hp) /* a second pass keeps both loops branch-free */
        for (int64_t j = 0; j < H; j++)
            h[j] += z[j] * hp[j];
}

DC_CLONES void k_gru_cell_fwd(int64_t N, int64_t H, const float *gx, const float *hg,
                              const float *h_prev, float *gates, float *h)
{
    for (int64_t r = 0; r < N; r++) {
        const float *px = gx + r * 3 * H, *ph = hg + r * 3 * H;
        float *gt = gates + r * 4 * H;
        gru_rz_row(2 * H, px, ph, gt);
        gru_n_row(H, px + 2 * H, ph + 2 * H, gt, gt + H, h_prev ? h_prev + r * H : NULL,
                  gt + 2 * H, gt + 3 * H, h + r * H);
    }
}

/* dn = dh⊙(1 − z), dz = dh⊙(h_prev − n), dh_prev = dh⊙z; da = dn⊙(1 − n²) for a = gx_n + r⊙hn:
 * dgx_n = da, dhg_n = da⊙r, dr = da⊙hn; r and z through σ' into both gx and hg. */
static inline void gru_bwd_row(int64_t H, const float *restrict gr, const float *restrict gz,
                               const float *restrict gn, const float *restrict ghn,
                               const float *restrict hp, const float *restrict dhr,
                               float *restrict pxr, float *restrict pxz, float *restrict pxn,
                               float *restrict phr, float *restrict phz, float *restrict phn,
                               float *restrict dhp)
{
    for (int64_t j = 0; j < H; j++) {
        const float rg = gr[j], z = gz[j], n = gn[j], hn = ghn[j];
        const float hpj = hp ? hp[j] : 0.0f;
        const float da = dhr[j] * (1.0f - z) * (1.0f - n * n);
        const float dr = da * hn * rg * (1.0f - rg);
        const float dz = dhr[j] * (hpj - n) * z * (1.0f - z);
        pxr[j] = dr;
        phr[j] = dr;
        pxz[j] = dz;
        phz[j] = dz;
        pxn[j] = da;
        phn[j] = da * rg;
        dhp[j] = dhr[j] * z;
    }
}

DC_CLONES void k_gru_cell_bwd(int64_t N, int64_t H, const float *gates, const float *h_prev,
                              const float *dh, float *dpx, float *dph, float *dh_prev)
{
    for (int64_t r = 0; r < N; r++) {
        const float *gt = gates + r * 4 * H;
        float *px = dpx + r * 3 * H, *ph = dph + r * 3 * H;
        gru_bwd_row(H, gt, gt + H, gt + 2 * H, gt + 3 * H, h_prev ? h_prev + r * H : NULL,
                    dh + r * H, px, px + H, px + 2 * H, ph, ph + H, ph + 2 * H,
                    dh_prev + r * H);
    }
}
