/*
 * loss_k.c - kernels of the losses (see loss_k.h for shapes and formulas).
 *
 * Elementwise kernels are split over elements, class kernels over rows; each output element is
 * written by one thread with the same arithmetic whatever the thread count, and the only
 * reduction (dc_k_sum_f64) is sequential in a fixed order, so results are bitwise reproducible.
 */
#include "kernels/loss_k.h"

#include "kernels/par.h"

#include <math.h>
#include <stddef.h>

/* Below these sizes a parallel region costs more than it saves. */
#define PAR_ELEMS ((int64_t)1 << 16)
#define PAR_CLASS ((int64_t)1 << 14)

double dc_k_sum_f64(int64_t n, const float *restrict x)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += (double)x[i + j];
    for (int j = 0; i < n; i++, j++)
        acc[j] += (double)x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void dc_k_grad_acc(int64_t n, const float *restrict v, const float *restrict g, float s,
                   float *restrict dst)
{
    if (g) {
        DC_PAR_FOR(n > PAR_ELEMS, i, n, { dst[i] += s * g[i] * v[i]; });
    } else {
        DC_PAR_FOR(n > PAR_ELEMS, i, n, { dst[i] += s * v[i]; });
    }
}

/* ---- elementwise regression losses ---- */

void dc_k_mse_fwd(int64_t n, const float *restrict x, const float *restrict y,
                  float *restrict out)
{
    DC_PAR_FOR(n > PAR_ELEMS, i, n, {
        float d = x[i] - y[i];
        out[i] = d * d;
    });
}

void dc_k_mse_dx(int64_t n, const float *restrict x, const float *restrict y,
                 float *restrict out)
{
    DC_PAR_FOR(n > PAR_ELEMS, i, n, { out[i] = 2.0f * (x[i] - y[i]); });
}

void dc_k_l1_fwd(int64_t n, const float *restrict x, const float *restrict y,
                 float *restrict out)
{
    DC_PAR_FOR(n > PAR_ELEMS, i, n, { out[i] = fabsf(x[i] - y[i]); });
}

void dc_k_l1_dx(int64_t n, const float *restrict x, const float *restrict y,
                float *restrict out)
{
    DC_PAR_FOR(n > PAR_ELEMS, i, n, {
        float d = x[i] - y[i];
        out[i] = (float)(d > 0.0f) - (float)(d < 0.0f);
    });
}

void dc_k_smooth_l1_fwd(int64_t n, const float *restrict x, const float *restrict y, float beta,
                        float *restrict out)
{
    float half_inv = 0.5f / beta, half_beta = 0.5f * beta;
    DC_PAR_FOR(n > PAR_ELEMS, i, n, {
        float z = fabsf(x[i] - y[i]);
        out[i] = z < beta ? half_inv * z * z : z - half_beta;
    });
}

void dc_k_smooth_l1_dx(int64_t n, const float *restrict x, const float *restrict y, float beta,
                       float *restrict out)
{
    DC_PAR_FOR(n > PAR_ELEMS, i, n, {
        float d = x[i] - y[i];
        out[i] = d < -beta ? -1.0f : d > beta ? 1.0f : d / beta;
    });
}

void dc_k_huber_fwd(int64_t n, const float *restrict x, const float *restrict y, float delta,
                    float *restrict out)
{
    float half_delta = 0.5f * delta;
    DC_PAR_FOR(n > PAR_ELEMS, i, n, {
        float z = fabsf(x[i] - y[i]);
        out[i] = z < delta ? 0.5f * z * z : delta * (z - half_delta);
    });
}

void dc_k_huber_dx(int64_t n, const float *restrict x, const float *restrict y, float delta,
                   float *restrict out)
{
    DC_PAR_FOR(n > PAR_ELEMS, i, n, {
        float d = x[i] - y[i];
        out[i] = d < -delta ? -delta : d > delta ? delta : d;
    });
}

/* ---- binary cross-entropy on probabilities ---- */

void dc_k_bce_fwd(int64_t n, const float *restrict p, const float *restrict y,
                  float *restrict out)
{
    DC_PAR_FOR(n > PAR_ELEMS, i, n, {
        float lp = fmaxf(logf(p[i]), -100.0f), lq = fmaxf(log1pf(-p[i]), -100.0f);
        out[i] = (y[i] - 1.0f) * lq - y[i] * lp;
    });
}

void dc_k_bce_dp(int64_t n, const float *restrict p, const float *restrict y,
                 float *restrict out)
{
    DC_PAR_FOR(n > PAR_ELEMS, i, n, {
        out[i] = (p[i] - y[i]) / fmaxf((1.0f - p[i]) * p[i], 1e-12f);
    });
}

void dc_k_bce_dy(int64_t n, const float *restrict p, const float *restrict y,
                 float *restrict out)
{
    (void)y;
    DC_PAR_FOR(n > PAR_ELEMS, i, n, {
        out[i] = fmaxf(log1pf(-p[i]), -100.0f) - fmaxf(logf(p[i]), -100.0f);
    });
}

/* ---- binary cross-entropy on logits ---- */

/* softplus(-x) = ln(1 + e^-x) without overflow. */
static inline float softplus_neg(float x) { return fmaxf(-x, 0.0f) + log1pf(expf(-fabsf(x))); }

/* σ(x) without overflow either way. */
static inline float sigmoid(float x)
{
    float e = expf(-fabsf(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

void dc_k_bcel_fwd(int64_t rows, int64_t K, const float *restrict x, const float *restrict y,
                   const float *restrict pw, float *restrict out)
{
    DC_PAR_FOR(rows * K > PAR_ELEMS, r, rows, {
        for (int64_t k = 0; k < K; k++) {
            int64_t i = r * K + k;
            float lw = pw ? 1.0f + (pw[k] - 1.0f) * y[i] : 1.0f;
            out[i] = (1.0f - y[i]) * x[i] + lw * softplus_neg(x[i]);
        }
    });
}

void dc_k_bcel_dx(int64_t rows, int64_t K, const float *restrict x, const float *restrict y,
                  const float *restrict pw, float *restrict out)
{
    DC_PAR_FOR(rows * K > PAR_ELEMS, r, rows, {
        for (int64_t k = 0; k < K; k++) {
            int64_t i = r * K + k;
            float w = pw ? pw[k] : 1.0f;
            out[i] = (1.0f + (w - 1.0f) * y[i]) * sigmoid(x[i]) - w * y[i];
        }
    });
}

void dc_k_bcel_dy(int64_t rows, int64_t K, const float *restrict x, const float *restrict y,
                  const float *restrict pw, float *restrict out)
{
    (void)y;
    DC_PAR_FOR(rows * K > PAR_ELEMS, r, rows, {
        for (int64_t k = 0; k < K; k++) {
            int64_t i = r * K + k;
            out[i] = pw ? -x[i] + (pw[k] - 1.0f) * softplus_neg(x[i]) : -x[i];
        }
    });
}

/* ---- cross-entropy ---- */

/*
 * e^x for the x <= 0 of a softmax, written to vectorize: n = round(x·log2 e), r = x - n·ln 2
 * (Cody-Waite split), e^r by its degree-7 Taylor polynomial on |r| <= ln2/2, scaled by 2^n
 * through the exponent bits. Within 1.25 ulp of e^x on [-87, 0] (checked against exp() on
 * every float there); 0 below -87 (where expf gives 1.6e-38 or less), NaN stays NaN.
 * The range tests are integer masks on the bits: float compares may trap, which keeps GCC
 * (with the default -ftrapping-math) from vectorizing the loops that call this.
 */
static inline float exp_nonpos(float x)
{
    union { float f; uint32_t u; } v = {x}, c, scale, out;
    uint32_t ua = v.u & 0x7fffffffu, lim = 0x42ae0000u; /* |x| and 87.0f; e^x = e^-|x| here */
    c.u = (ua < lim ? ua : lim) | 0x80000000u;          /* -min(|x|, 87) */
    float xc = c.f;
    float n = (xc * 1.44269504f + 12582912.0f) - 12582912.0f; /* round via 1.5·2^23 */
    float r = (xc - n * 0.693145752f) - n * 1.42860677e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    scale.u = (uint32_t)((int32_t)n + 127) << 23;
    out.f = p * scale.f;
    uint32_t keep = 0u - (uint32_t)(ua <= lim), nan = 0u - (uint32_t)(ua > 0x7f800000u);
    out.u = (out.u & keep) | (v.u & nan);
    return out.f;
}

#define CHUNK 256 /* exps computed per block before they are summed */

/* max_k xr[k·S] over eight independent lanes (a NaN element shows up later in its exp). */
static inline float row_max(int64_t K, int64_t S, const float *restrict xr)
{
    float l[8];
    int64_t k = 0;
    for (int j = 0; j < 8; j++)
        l[j] = xr[0];
    for (; k + 8 <= K; k += 8)
        for (int j = 0; j < 8; j++) {
            float v = xr[(k + j) * S];
            l[j] = v > l[j] ? v : l[j];
        }
    for (; k < K; k++)
        l[0] = xr[k * S] > l[0] ? xr[k * S] : l[0];
    float mx = l[0];
    for (int j = 1; j < 8; j++)
        mx = l[j] > mx ? l[j] : mx;
    return mx;
}

/* Max and ln Σ e^(x - max) of one class vector xr[k·S], k < K (sum in double, fixed order). */
static inline void row_lse(int64_t K, int64_t S, const float *restrict xr, float *m, float *ls)
{
    float mx = row_max(K, S, xr), buf[CHUNK];
    double se = 0;
    for (int64_t k0 = 0; k0 < K; k0 += CHUNK) {
        int64_t nk = K - k0 < CHUNK ? K - k0 : CHUNK;
        for (int64_t j = 0; j < nk; j++)
            buf[j] = exp_nonpos(xr[(k0 + j) * S] - mx);
        se += dc_k_sum_f64(nk, buf);
    }
    *m = mx;
    *ls = (float)log(se);
}

/* Σ_k w_k · logp_k of one row (w NULL: ones), logp_k = (x_k - m) - ls. */
static inline double row_wsum_logp(int64_t K, int64_t S, const float *restrict xr,
                                   const float *restrict w, float m, float ls)
{
    double acc = 0;
    for (int64_t k = 0; k < K; k++) {
        float lp = (xr[k * S] - m) - ls;
        acc += (double)(w ? w[k] * lp : lp);
    }
    return acc;
}

/* dr[k·S] += c · (a · softmax_k - b · (w ? w_k : 1)) for one row. */
static inline void row_softmax_acc(int64_t K, int64_t S, const float *restrict xr, float m,
                                   float ls, const float *restrict w, float a, float b, float c,
                                   float *restrict dr)
{
    if (w) /* two loops: a branch inside would keep them from vectorizing */
        for (int64_t k = 0; k < K; k++)
            dr[k * S] += c * (a * exp_nonpos((xr[k * S] - m) - ls) - b * w[k]);
    else
        for (int64_t k = 0; k < K; k++)
            dr[k * S] += c * (a * exp_nonpos((xr[k * S] - m) - ls) - b);
}

/* Σ_k w_k, or K without weights (fixed order). */
static double weight_total(int64_t K, const float *w)
{
    return w ? dc_k_sum_f64(K, w) : (double)K;
}

void dc_k_ce_idx_fwd(int64_t N, int64_t K, int64_t S, const float *restrict x,
                     const int64_t *restrict t, const float *restrict w, float eps,
                     int64_t ignore, float *restrict m, float *restrict ls,
                     float *restrict loss, float *restrict wy)
{
    int64_t rows = N * S;
    DC_PAR_FOR(rows * K > PAR_CLASS, r, rows, {
        int64_t n = r / S, s = r - n * S;
        const float *xr = x + n * K * S + s;
        if (S == 1)
            row_lse(K, 1, xr, &m[r], &ls[r]); /* contiguous: the exp loop vectorizes */
        else
            row_lse(K, S, xr, &m[r], &ls[r]);
        int64_t c = t[r];
        if (c == ignore) {
            loss[r] = 0.0f;
            wy[r] = 0.0f;
            continue;
        }
        float wt = w ? w[c] : 1.0f;
        float nll = -wt * ((xr[c * S] - m[r]) - ls[r]);
        if (eps > 0.0f) {
            float smooth = (float)-row_wsum_logp(K, S, xr, w, m[r], ls[r]);
            loss[r] = (1.0f - eps) * nll + eps / (float)K * smooth;
        } else {
            loss[r] = nll;
        }
        wy[r] = wt;
    });
}

void dc_k_ce_idx_bwd(int64_t N, int64_t K, int64_t S, const float *restrict x,
                     const int64_t *restrict t, const float *restrict w, float eps,
                     int64_t ignore, const float *restrict m, const float *restrict ls,
                     const float *restrict g, float s, float *restrict dx)
{
    int64_t rows = N * S;
    float eps_k = eps / (float)K;
    float wtot = (float)weight_total(K, w);
    DC_PAR_FOR(rows * K > PAR_CLASS, r, rows, {
        int64_t c = t[r];
        if (c == ignore)
            continue;
        int64_t n = r / S, sp = r - n * S;
        const float *xr = x + n * K * S + sp;
        float *dr = dx + n * K * S + sp;
        float cr = s * (g ? g[r] : 1.0f);
        float wt = w ? w[c] : 1.0f;
        float a = (1.0f - eps) * wt + eps_k * wtot; /* Σ_j w_j q_j */
        if (S == 1)
            row_softmax_acc(K, 1, xr, m[r], ls[r], w, a, eps_k, cr, dr);
        else
            row_softmax_acc(K, S, xr, m[r], ls[r], w, a, eps_k, cr, dr);
        dr[c * S] -= cr * (1.0f - eps) * wt;
    });
}

void dc_k_ce_prob_fwd(int64_t N, int64_t K, int64_t S, const float *restrict x,
                      const float *restrict t, const float *restrict w, float eps,
                      float *restrict m, float *restrict ls, float *restrict loss)
{
    int64_t rows = N * S;
    float keep = 1.0f - eps, eps_k = eps / (float)K;
    DC_PAR_FOR(rows * K > PAR_CLASS, r, rows, {
        int64_t n = r / S, s = r - n * S;
        const float *xr = x + n * K * S + s, *tr = t + n * K * S + s;
        if (S == 1)
            row_lse(K, 1, xr, &m[r], &ls[r]);
        else
            row_lse(K, S, xr, &m[r], &ls[r]);
        double acc = 0;
        for (int64_t k = 0; k < K; k++) {
            float q = keep * tr[k * S] + eps_k;
            float lp = (xr[k * S] - m[r]) - ls[r];
            acc += (double)((w ? w[k] : 1.0f) * q * lp);
        }
        loss[r] = (float)-acc;
    });
}

void dc_k_ce_prob_bwd(int64_t N, int64_t K, int64_t S, const float *restrict x,
                      const float *restrict t, const float *restrict w, float eps,
                      const float *restrict m, const float *restrict ls,
                      const float *restrict g, float s, float *restrict dx)
{
    int64_t rows = N * S;
    float keep = 1.0f - eps, eps_k = eps / (float)K;
    DC_PAR_FOR(rows * K > PAR_CLASS, r, rows, {
        int64_t n = r / S, sp = r - n * S;
        const float *xr = x + n * K * S + sp, *tr = t + n * K * S + sp;
        float *dr = dx + n * K * S + sp;
        float cr = s * (g ? g[r] : 1.0f);
        double a = 0; /* Σ_j w_j q_j */
        for (int64_t k = 0; k < K; k++)
            a += (double)((w ? w[k] : 1.0f) * (keep * tr[k * S] + eps_k));
        for (int64_t k = 0; k < K; k++) {
            float wq = (w ? w[k] : 1.0f) * (keep * tr[k * S] + eps_k);
            float p = exp_nonpos((xr[k * S] - m[r]) - ls[r]);
            dr[k * S] += cr * ((float)a * p - wq);
        }
    });
}

/* ---- negative log-likelihood ---- */

void dc_k_nll_fwd(int64_t N, int64_t K, int64_t S, const float *restrict lp,
                  const int64_t *restrict t, const float *restrict w, int64_t ignore,
                  float *restrict loss, float *restrict wy)
{
    int64_t rows = N * S;
    DC_PAR_FOR(rows > PAR_ELEMS, r, rows, {
        int64_t n = r / S, s = r - n * S, c = t[r];
        if (c == ignore) {
            loss[r] = 0.0f;
            wy[r] = 0.0f;
            continue;
        }
        float wt = w ? w[c] : 1.0f;
        loss[r] = -wt * lp[(n * K + c) * S + s];
        wy[r] = wt;
    });
}

void dc_k_nll_bwd(int64_t N, int64_t K, int64_t S, const int64_t *restrict t,
                  const float *restrict w, int64_t ignore, const float *restrict g, float s,
                  float *restrict dlp)
{
    int64_t rows = N * S;
    DC_PAR_FOR(rows > PAR_ELEMS, r, rows, {
        int64_t n = r / S, sp = r - n * S, c = t[r];
        if (c == ignore)
            continue;
        dlp[(n * K + c) * S + sp] -= s * (g ? g[r] : 1.0f) * (w ? w[c] : 1.0f);
    });
}
