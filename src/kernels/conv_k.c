/*
 * conv_k.c - im2col / col2im, pooling and batch-norm kernels (see conv_k.h).
 *
 * Work is split over disjoint outputs only (col rows, N·C planes, channels); each reduction runs
 * inside one thread in a fixed order, so results do not depend on the thread count.
 */
#include "kernels/conv_k.h"
#include "kernels/eltwise_k.h"
#include "kernels/fastmath.h"
#include "kernels/par.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

/* Below this many touched elements a kernel stays on the calling thread. */
#define PAR_MIN (INT64_C(1) << 15)

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The outputs j in [0, n_out) whose input position j·s + off lies in [0, n_in): [*lo, *hi). */
static void valid_range(int64_t n_in, int64_t n_out, int s, int64_t off, int64_t *lo,
                        int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = n_in - off <= 0 ? 0 : (n_in - off + s - 1) / s;
    a = min64(a, n_out);
    b = min64(b, n_out);
    *lo = a;
    *hi = b > a ? b : a;
}

/* ------------------------------------------------------------------------------------------ */
/* im2col / col2im                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* One row segment of col: dst[i·Wo + j] = xc[i·sh + p·dh - pt, j·sw + q·dw - pl] or 0.
 * xc one input plane [H, W]; dst [Ho·Wo]. */
static void im2col_row(const dc_k_conv_geom *g, const float *restrict xc, int p, int q,
                       float *restrict dst)
{
    const int64_t W = g->W, Ho = g->Ho, Wo = g->Wo, sw = g->sw;
    const int64_t offh = (int64_t)p * g->dh - g->pt, offw = (int64_t)q * g->dw - g->pl;
    int64_t i0, i1, j0, j1;
    valid_range(g->H, Ho, g->sh, offh, &i0, &i1);
    valid_range(W, Wo, g->sw, offw, &j0, &j1);
    /* short rows are common (14x14 maps): plain loops, no memcpy/memset calls */
    for (int64_t i = 0; i < Ho; i++) {
        float *restrict d = dst + i * Wo;
        if (i < i0 || i >= i1) {
            for (int64_t j = 0; j < Wo; j++)
                d[j] = 0.0f;
            continue;
        }
        const float *restrict s = xc + (i * g->sh + offh) * W;
        for (int64_t j = 0; j < j0; j++)
            d[j] = 0.0f;
        if (sw == 1) {
            for (int64_t j = j0; j < j1; j++)
                d[j] = s[j + offw];
        } else {
            for (int64_t j = j0; j < j1; j++)
                d[j] = s[j * sw + offw];
        }
        for (int64_t j = j1; j < Wo; j++)
            d[j] = 0.0f;
    }
}

void dc_k_im2col(const dc_k_conv_geom *g, int64_t nb, const float *x, float *col)
{
    const int64_t P = g->Ho * g->Wo, HW = g->H * g->W, kk = (int64_t)g->kh * g->kw;
    const int64_t rows = g->C * kk, ld = nb * P, n_tasks = rows * nb;
    /* task t fills row r = t / nb, image n = t % nb: consecutive tasks write adjacent memory */
    DC_PAR_FOR(n_tasks * P > PAR_MIN, t, n_tasks, {
        const int64_t r = t / nb, n = t % nb, c = r / kk;
        const int p = (int)(r % kk / g->kw), q = (int)(r % g->kw);
        im2col_row(g, x + (n * g->C + c) * HW, p, q, col + r * ld + n * P);
    });
}

/* dxc[i·sh + p·dh - pt, j·sw + q·dw - pl] += src[i·Wo + j] over the valid (i, j).
 * dxc one plane [H, W]; src one row segment [Ho·Wo]. */
static void col2im_row(const dc_k_conv_geom *g, const float *restrict src, int p, int q,
                       float *restrict dxc)
{
    const int64_t W = g->W, Wo = g->Wo, sw = g->sw;
    const int64_t offh = (int64_t)p * g->dh - g->pt, offw = (int64_t)q * g->dw - g->pl;
    int64_t i0, i1, j0, j1;
    valid_range(g->H, g->Ho, g->sh, offh, &i0, &i1);
    valid_range(W, Wo, g->sw, offw, &j0, &j1);
    for (int64_t i = i0; i < i1; i++) {
        const float *restrict s = src + i * Wo;
        float *restrict d = dxc + (i * g->sh + offh) * W + offw;
        if (sw == 1) {
            for (int64_t j = j0; j < j1; j++)
                d[j] += s[j];
        } else {
            for (int64_t j = j0; j < j1; j++)
                d[j * sw] += s[j];
        }
    }
}

void dc_k_col2im_add(const dc_k_conv_geom *g, int64_t nb, const float *col, float *dx)
{
    const int64_t P = g->Ho * g->Wo, HW = g->H * g->W, kk = (int64_t)g->kh * g->kw;
    const int64_t ld = nb * P, planes = nb * g->C;
    /* one task per input plane (n, c): its kh·kw rows of col are added in order (p, q) */
    DC_PAR_FOR(planes * kk * P > PAR_MIN, t, planes, {
        const int64_t n = t / g->C, c = t % g->C;
        float *dxc = dx + t * HW;
        for (int p = 0; p < g->kh; p++)
            for (int q = 0; q < g->kw; q++) {
                const int64_t r = (c * g->kh + p) * g->kw + q;
                col2im_row(g, col + r * ld + n * P, p, q, dxc);
            }
    });
}

/* ------------------------------------------------------------------------------------------ */
/* pooling                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* One window of max pooling: the first maximum in row-major window order; a NaN wins (like
 * PyTorch: take v when v > best or v is NaN). Writes *y and *at (position h·W + w). */
static void max_window(const float *restrict xp, int64_t W, int64_t h0, int64_t h1, int64_t w0,
                       int64_t w1, float *y, int32_t *at)
{
    float best = -INFINITY;
    int32_t a = (int32_t)(h0 * W + w0);
    for (int64_t h = h0; h < h1; h++)
        for (int64_t w = w0; w < w1; w++) {
            const float v = xp[h * W + w];
            if (v > best || v != v) {
                best = v;
                a = (int32_t)(h * W + w);
            }
        }
    *y = best;
    *at = a;
}

/* Output row i for the interior columns [ja, jb), whose windows lie inside the row: the same
 * window order and rule as max_window, vectorised across j. */
static void max_row_interior(const dc_k_pool_geom *g, const float *restrict xp, int64_t h0,
                             int64_t h1, int64_t ja, int64_t jb, float *restrict yr,
                             int32_t *restrict ir)
{
    const int64_t W = g->W, sw = g->sw;
    for (int64_t j = ja; j < jb; j++) {
        yr[j] = -INFINITY;
        ir[j] = (int32_t)(h0 * W + j * sw - g->pw);
    }
    for (int64_t h = h0; h < h1; h++)
        for (int q = 0; q < g->kw; q++) {
            const int64_t off = h * W + q - g->pw;
            for (int64_t j = ja; j < jb; j++) {
                const float v = xp[off + j * sw], b = yr[j];
                const int take = (v > b) | (v != v);
                yr[j] = take ? v : b;
                ir[j] = take ? (int32_t)(off + j * sw) : ir[j];
            }
        }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* max_row_2x2 for 16 outputs at a time: even and odd columns apart by a permute, the same rule
 * and order; positions only when ir is not NULL. */
__attribute__((target("avx512f"))) static void
max_row_2x2_avx512(const float *restrict r0, const float *restrict r1, int64_t Wo, int32_t base,
                   int32_t w, float *restrict yr, int32_t *restrict ir)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const int32_t off[3] = {1, w, w + 1};
    for (int64_t j = 0; j < Wo; j += 16) {
        const int64_t n = Wo - j < 16 ? Wo - j : 16; /* outputs; 2n inputs per row */
        const __mmask16 lo = (__mmask16)(n >= 8 ? 0xffff : (1u << (2 * n)) - 1);
        const __mmask16 hi = (__mmask16)(n <= 8 ? 0 : n >= 16 ? 0xffff : (1u << (2 * n - 16)) - 1);
        const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * j);
        const __m512 a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * j + 16);
        const __m512 c0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * j);
        const __m512 c1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * j + 16);
        const __m512 cand[3] = {_mm512_permutex2var_ps(a0, odd, a1),
                                _mm512_permutex2var_ps(c0, even, c1),
                                _mm512_permutex2var_ps(c0, odd, c1)};
        const __m512i p = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * (int32_t)j), even);
        __m512 best = _mm512_permutex2var_ps(a0, even, a1);
        __m512i at = p;
        for (int k = 0; k < 3; k++) {
            const __mmask16 take = _mm512_cmp_ps_mask(cand[k], best, _CMP_GT_OQ) |
                                   _mm512_cmp_ps_mask(cand[k], cand[k], _CMP_UNORD_Q);
            best = _mm512_mask_blend_ps(take, best, cand[k]);
            at = _mm512_mask_blend_epi32(take, at, _mm512_add_epi32(p, _mm512_set1_epi32(off[k])));
        }
        const __mmask16 out = (__mmask16)((1u << n) - 1);
        _mm512_mask_storeu_ps(yr + j, out, best);
        if (ir)
            _mm512_mask_storeu_epi32(ir + j, out, at);
    }
}
#endif

/* 2x2 windows, stride 2, no padding, all inside the input (LeNet, VGG): the four candidates in
 * max_window's order and rule, every load unconditional so that the loop vectorises. Positions
 * only when ir is not NULL (inference: nothing will route a gradient back). vec: the AVX-512
 * path (asked once per call of the kernel, not per row). */
static void max_row_2x2(const float *restrict xp, int64_t W, int64_t Wo, int64_t i, int vec,
                        float *restrict yr, int32_t *restrict ir)
{
    const float *restrict r0 = xp + 2 * i * W, *restrict r1 = r0 + W;
    const int32_t base = (int32_t)(2 * i * W), w = (int32_t)W;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (vec) {
        max_row_2x2_avx512(r0, r1, Wo, base, w, yr, ir);
        return;
    }
#else
    (void)vec;
#endif
    for (int64_t j = 0; j < Wo; j++) {
        const int32_t p = base + 2 * (int32_t)j;
        const float a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
        float best = a; /* a NaN or anything beats the -inf start, and -inf keeps position p */
        int32_t at = p;
        int take = (b > best) | (b != b);
        best = take ? b : best;
        at = take ? p + 1 : at;
        take = (c > best) | (c != c);
        best = take ? c : best;
        at = take ? p + w : at;
        take = (d > best) | (d != d);
        best = take ? d : best;
        at = take ? p + w + 1 : at;
        yr[j] = best;
        if (ir)
            ir[j] = at;
    }
}

int dc_k_max_pool_is_2x2(const dc_k_pool_geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&
           2 * g->Ho <= g->H && 2 * g->Wo <= g->W;
}

/* The interior output columns [*ja, *jb): j·sw - pw >= 0 and j·sw - pw + kw <= W, so their
 * windows are not clipped horizontally. */
static void interior_cols(const dc_k_pool_geom *g, int64_t *ja, int64_t *jb)
{
    const int64_t a = min64((g->pw + g->sw - 1) / g->sw, g->Wo), room = g->W - g->kw + g->pw;
    *ja = a;
    *jb = room < 0 ? a : max64(a, min64(g->Wo, room / g->sw + 1));
}

void dc_k_max_pool_fwd(const dc_k_pool_geom *g, int64_t planes, const float *x, float *y,
                       int32_t *idx)
{
    const int64_t H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo;
    const int fast2 = dc_k_max_pool_is_2x2(g), vec = fast2 && dc_k_have_avx512();
    int64_t ja, jb;
    interior_cols(g, &ja, &jb);
    DC_PAR_FOR(planes * H * W > PAR_MIN, pl, planes, {
        const float *restrict xp = x + pl * H * W;
        float *restrict yp = y + pl * Ho * Wo;
        int32_t *restrict ip = idx ? idx + pl * Ho * Wo : NULL;
        for (int64_t i = 0; fast2 && i < Ho; i++)
            max_row_2x2(xp, W, Wo, i, vec, yp + i * Wo, ip ? ip + i * Wo : NULL);
        for (int64_t i = 0; !fast2 && i < Ho; i++) {
            const int64_t h0 = max64(i * g->sh - g->ph, 0);
            const int64_t h1 = min64(i * g->sh - g->ph + g->kh, H);
            float *yr = yp + i * Wo;
            int32_t *ir = ip + i * Wo;
            max_row_interior(g, xp, h0, h1, ja, jb, yr, ir);
            for (int64_t e = 0; e < ja + (Wo - jb); e++) { /* the clipped edge columns */
                const int64_t j = e < ja ? e : jb + (e - ja);
                const int64_t w0 = max64(j * g->sw - g->pw, 0);
                const int64_t w1 = min64(j * g->sw - g->pw + g->kw, W);
                max_window(xp, W, h0, h1, w0, w1, yr + j, ir + j);
            }
        }
    });
}

void dc_k_max_pool_bwd(const dc_k_pool_geom *g, int64_t planes, const float *dy, int fresh,
                       const int32_t *idx, float *dx)
{
    const int64_t HW = g->H * g->W, P = g->Ho * g->Wo;
    DC_PAR_FOR(planes * P > PAR_MIN, pl, planes, {
        const float *restrict d = dy + pl * P;
        const int32_t *restrict ip = idx + pl * P;
        float *restrict dxp = dx + pl * HW;
        if (fresh) /* zeroed plane by plane, while it is in cache for the scatter */
            memset(dxp, 0, sizeof(float) * (size_t)HW);
        for (int64_t k = 0; k < P; k++)
            dxp[ip[k]] += d[k];
    });
}

/* The clipped window of output (i, j) and its divisor (PyTorch avg_pool2d rules). */
typedef struct win {
    int64_t h0, h1, w0, w1;
    float div;
} win;

static win avg_window(const dc_k_pool_geom *g, int64_t i, int64_t j)
{
    win r;
    int64_t h0 = i * g->sh - g->ph, w0 = j * g->sw - g->pw;
    int64_t h1 = min64(h0 + g->kh, g->H + g->ph), w1 = min64(w0 + g->kw, g->W + g->pw);
    const int64_t padded = (h1 - h0) * (w1 - w0);
    r.h0 = max64(h0, 0);
    r.w0 = max64(w0, 0);
    r.h1 = min64(h1, g->H);
    r.w1 = min64(w1, g->W);
    r.div = (float)(g->count_include_pad ? padded : (r.h1 - r.h0) * (r.w1 - r.w0));
    return r;
}

/* Forward of output row i at the interior columns [ja, jb): their windows share the vertical
 * extent and the divisor; sums run in the same (h, w) order as the edge windows. */
static void avg_row_interior(const dc_k_pool_geom *g, const float *restrict xp, int64_t i,
                             int64_t ja, int64_t jb, float *restrict yr)
{
    const int64_t W = g->W, sw = g->sw;
    const win r = avg_window(g, i, ja);
    for (int64_t j = ja; j < jb; j++)
        yr[j] = 0.0f;
    for (int64_t h = r.h0; h < r.h1; h++)
        for (int q = 0; q < g->kw; q++) {
            const int64_t off = h * W + q - g->pw;
            for (int64_t j = ja; j < jb; j++)
                yr[j] += xp[off + j * sw];
        }
    for (int64_t j = ja; j < jb; j++)
        yr[j] = r.h0 < r.h1 ? yr[j] / r.div : 0.0f;
}

/* Forward of one (edge) window. */
static float avg_one(const dc_k_pool_geom *g, const float *restrict xp, int64_t i, int64_t j)
{
    const win r = avg_window(g, i, j);
    float s = 0.0f;
    if (r.h0 >= r.h1 || r.w0 >= r.w1)
        return 0.0f;
    for (int64_t h = r.h0; h < r.h1; h++)
        for (int64_t w = r.w0; w < r.w1; w++)
            s += xp[h * g->W + w];
    return s / r.div;
}

void dc_k_avg_pool_fwd(const dc_k_pool_geom *g, int64_t planes, const float *x, float *y)
{
    const int64_t H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo;
    int64_t ja, jb;
    interior_cols(g, &ja, &jb);
    DC_PAR_FOR(planes * H * W > PAR_MIN, pl, planes, {
        const float *restrict xp = x + pl * H * W;
        float *restrict yp = y + pl * Ho * Wo;
        for (int64_t i = 0; i < Ho; i++) {
            avg_row_interior(g, xp, i, ja, jb, yp + i * Wo);
            for (int64_t e = 0; e < ja + (Wo - jb); e++) { /* the clipped edge columns */
                const int64_t j = e < ja ? e : jb + (e - ja);
                yp[i * Wo + j] = avg_one(g, xp, i, j);
            }
        }
    });
}

/* dx[window of (i, j)] += dy[i, j] / divisor for the interior columns of row i, in (h, w, j)
 * order. */
static void avg_bwd_row_interior(const dc_k_pool_geom *g, const float *restrict dyr, int64_t i,
                                 int64_t ja, int64_t jb, float *restrict dxp)
{
    const int64_t W = g->W, sw = g->sw;
    const win r = avg_window(g, i, ja);
    float d[256]; /* dy / divisor for a block of columns */
    for (int64_t j0 = ja; j0 < jb; j0 += 256) {
        const int64_t nj = min64(256, jb - j0);
        for (int64_t k = 0; k < nj; k++)
            d[k] = dyr[j0 + k] / r.div;
        for (int64_t h = r.h0; h < r.h1; h++)
            for (int q = 0; q < g->kw; q++) {
                const int64_t off = h * W + q - g->pw + j0 * sw;
                for (int64_t k = 0; k < nj; k++)
                    dxp[off + k * sw] += d[k];
            }
    }
}

void dc_k_avg_pool_bwd(const dc_k_pool_geom *g, int64_t planes, const float *dy, float *dx)
{
    const int64_t H = g->H, W = g->W, Ho = g->Ho, Wo = g->Wo;
    int64_t ja, jb;
    interior_cols(g, &ja, &jb);
    DC_PAR_FOR(planes * H * W > PAR_MIN, pl, planes, {
        const float *restrict dyp = dy + pl * Ho * Wo;
        float *restrict dxp = dx + pl * H * W;
        for (int64_t i = 0; i < Ho; i++) {
            avg_bwd_row_interior(g, dyp + i * Wo, i, ja, jb, dxp);
            for (int64_t e = 0; e < ja + (Wo - jb); e++) {
                const int64_t j = e < ja ? e : jb + (e - ja);
                const win r = avg_window(g, i, j);
                if (r.h0 >= r.h1 || r.w0 >= r.w1)
                    continue;
                const float d = dyp[i * Wo + j] / r.div;
                for (int64_t h = r.h0; h < r.h1; h++)
                    for (int64_t w = r.w0; w < r.w1; w++)
                        dxp[h * W + w] += d;
            }
        }
    });
}

/* Adaptive bin edges: [floor(i·n/m), ceil((i+1)·n/m)). */
static inline int64_t bin_lo(int64_t i, int64_t n, int64_t m) { return i * n / m; }
static inline int64_t bin_hi(int64_t i, int64_t n, int64_t m) { return ((i + 1) * n + m - 1) / m; }

void dc_k_adaptive_avg_fwd(int64_t H, int64_t W, int64_t Ho, int64_t Wo, int64_t planes,
                           const float *x, float *y)
{
    DC_PAR_FOR(planes * H * W > PAR_MIN, pl, planes, {
        const float *restrict xp = x + pl * H * W;
        float *restrict yp = y + pl * Ho * Wo;
        for (int64_t i = 0; i < Ho; i++) {
            const int64_t h0 = bin_lo(i, H, Ho), h1 = bin_hi(i, H, Ho);
            for (int64_t j = 0; j < Wo; j++) {
                const int64_t w0 = bin_lo(j, W, Wo), w1 = bin_hi(j, W, Wo);
                /* in fixed double lanes (vectorised; a float chain of dependent adds per
                 * plane held W6's global pooling back), whole rows as one contiguous run */
                double d = 0;
                if (w0 == 0 && w1 == W)
                    d = dc_k_plane_sum_f64(xp + h0 * W, (h1 - h0) * W);
                else
                    for (int64_t h = h0; h < h1; h++)
                        d += dc_k_plane_sum_f64(xp + h * W + w0, w1 - w0);
                const float s = (float)d;
                /* PyTorch divides twice: sum / kh / kw */
                yp[i * Wo + j] = s / (float)(h1 - h0) / (float)(w1 - w0);
            }
        }
    });
}

void dc_k_adaptive_avg_bwd(int64_t H, int64_t W, int64_t Ho, int64_t Wo, int64_t planes,
                           const float *dy, float *dx)
{
    DC_PAR_FOR(planes * H * W > PAR_MIN, pl, planes, {
        const float *restrict dyp = dy + pl * Ho * Wo;
        float *restrict dxp = dx + pl * H * W;
        for (int64_t i = 0; i < Ho; i++) {
            const int64_t h0 = bin_lo(i, H, Ho), h1 = bin_hi(i, H, Ho);
            for (int64_t j = 0; j < Wo; j++) {
                const int64_t w0 = bin_lo(j, W, Wo), w1 = bin_hi(j, W, Wo);
                const float d = dyp[i * Wo + j] / (float)(h1 - h0) / (float)(w1 - w0);
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++)
                        dxp[h * W + w] += d;
            }
        }
    });
}

/* ------------------------------------------------------------------------------------------ */
/* batch normalization                                                                         */
/* ------------------------------------------------------------------------------------------ */

/* Row reductions in double over 8 independent lanes (vectorisable, fixed order), the lanes
 * then summed 0..7 and the tail added last. */
#define LANES 8

static double row_sum(const float *restrict x, int64_t n)
{
    double acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] += (double)x[i + k];
    double s = 0;
    for (int k = 0; k < LANES; k++)
        s += acc[k];
    for (; i < n; i++)
        s += (double)x[i];
    return s;
}

DC_CLONES double dc_k_plane_sum_f64(const float *x, int64_t n) { return row_sum(x, n); }


/* Σ (x - m)² */
static double row_sqdev(const float *restrict x, int64_t n, double m)
{
    double acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            const double d = (double)x[i + k] - m;
            acc[k] += d * d;
        }
    double s = 0;
    for (int k = 0; k < LANES; k++)
        s += acc[k];
    for (; i < n; i++) {
        const double d = (double)x[i] - m;
        s += d * d;
    }
    return s;
}

/* The gradient reaching the batch norm: dy, or dy where the fused ReLU's output y > 0. */
static inline __attribute__((always_inline)) float bn_grad(const float *restrict dy,
                                                           const float *restrict y, int64_t i,
                                                           const int masked)
{
    return masked ? dc_k_relu_grad(y, dy, i) : dy[i];
}

enum { BN_BLOCK = 1024 }; /* floats of g made at a time (a multiple of LANES) */

/* *s_dy += Σ g, *s_dyx += Σ g·(x - m) (g: bn_grad, y NULL for none), in blocks of the row; g
 * also goes to gout when given, stored (gfresh) or added. The lanes run over the whole groups
 * of LANES in order, then the tail, as in the other row sums. */
DC_CLONES static void row_dy_sums(const float *restrict x, const float *restrict dy,
                                  const float *restrict y, int64_t n, double m,
                                  float *restrict gout, int gfresh, double *s_dy,
                                  double *s_dyx)
{
    double a[LANES] = {0}, q[LANES] = {0};
    float t[BN_BLOCK];
    const int64_t body = n - n % LANES;
    for (int64_t i0 = 0; i0 < n; i0 += BN_BLOCK) {
        const int64_t len = n - i0 < BN_BLOCK ? n - i0 : BN_BLOCK;
        const float *restrict g = dy + i0, *restrict xb = x + i0;
        if (y) { /* g of the block first: inside the double sums the select did not vectorise */
            for (int64_t i = 0; i < len; i++)
                t[i] = dc_k_relu_grad(y + i0, dy + i0, i);
            g = t;
        }
        if (gout && gfresh)
            memcpy(gout + i0, g, sizeof(float) * (size_t)len);
        else if (gout)
            for (int64_t i = 0; i < len; i++)
                gout[i0 + i] += g[i];
        const int64_t whole = body - i0 < len ? body - i0 : len;
        for (int64_t i = 0; i + LANES <= whole; i += LANES)
            for (int k = 0; k < LANES; k++) {
                const double d = (double)g[i + k];
                a[k] += d;
                q[k] += d * ((double)xb[i + k] - m);
            }
    }
    double sa = 0, sq = 0;
    for (int k = 0; k < LANES; k++) {
        sa += a[k];
        sq += q[k];
    }
    for (int64_t i = body; i < n; i++) {
        const double d = (double)(y ? bn_grad(dy, y, i, 1) : dy[i]);
        sa += d;
        sq += d * ((double)x[i] - m);
    }
    *s_dy += sa;
    *s_dyx += sq;
}

/* One row of dc_k_bn_apply. */
static inline __attribute__((always_inline)) void
row_apply_k(const float *restrict x, float a, float b, const float *restrict res,
            float *restrict y, int64_t n, const int with_res, const int relu)
{
    for (int64_t l = 0; l < n; l++) {
        float v = x[l] * a + b;
        if (with_res)
            v = v + res[l];
        y[l] = relu ? dc_k_relu(v) : v;
    }
}

DC_CLONES static void row_apply(const float *x, float a, float b, const float *res, int relu,
                                float *y, int64_t n)
{
    if (res && relu)
        row_apply_k(x, a, b, res, y, n, 1, 1);
    else if (res)
        row_apply_k(x, a, b, res, y, n, 1, 0);
    else if (relu)
        row_apply_k(x, a, b, NULL, y, n, 0, 1);
    else
        row_apply_k(x, a, b, NULL, y, n, 0, 0);
}

/* One row of dc_k_bn_bwd_dx. */
static inline __attribute__((always_inline)) void
row_bwd_dx_k(const float *restrict x, const float *restrict dy, const float *restrict y,
             float a, float b, float e, float m, float *restrict dx, int64_t n,
             const int masked, const int fresh)
{
    for (int64_t l = 0; l < n; l++) {
        const float v = a * bn_grad(dy, y, l, masked) + b * (x[l] - m) + e;
        dx[l] = fresh ? v : dx[l] + v;
    }
}

DC_CLONES static void row_bwd_dx(const float *x, const float *dy, const float *y, float a,
                                 float b, float e, float m, float *dx, int64_t n, int fresh)
{
    if (y && fresh)
        row_bwd_dx_k(x, dy, y, a, b, e, m, dx, n, 1, 1);
    else if (y)
        row_bwd_dx_k(x, dy, y, a, b, e, m, dx, n, 1, 0);
    else if (fresh)
        row_bwd_dx_k(x, dy, NULL, a, b, e, m, dx, n, 0, 1);
    else
        row_bwd_dx_k(x, dy, NULL, a, b, e, m, dx, n, 0, 0);
}

void dc_k_bn_stats(int64_t N, int64_t C, int64_t L, const float *x, double *mean, double *var)
{
    const double M = (double)(N * L);
    DC_PAR_FOR(N * C * L > PAR_MIN, c, C, {
        double s = 0, q = 0;
        for (int64_t n = 0; n < N; n++)
            s += row_sum(x + (n * C + c) * L, L);
        const double m = s / M;
        for (int64_t n = 0; n < N; n++)
            q += row_sqdev(x + (n * C + c) * L, L, m);
        mean[c] = m;
        var[c] = q / M;
    });
}

void dc_k_bn_apply(int64_t N, int64_t C, int64_t L, const float *x, const float *scale,
                   const float *shift, const float *res, int relu, float *y)
{
    DC_PAR_FOR(N * C * L > PAR_MIN, r, N * C, {
        row_apply(x + r * L, scale[r % C], shift[r % C], res ? res + r * L : NULL, relu,
                  y + r * L, L);
    });
}

void dc_k_bn_bwd_sums(int64_t N, int64_t C, int64_t L, const float *x, const float *dy,
                      const float *y, const float *mean, float *gout, int gfresh,
                      double *sum_dy, double *sum_dyxc)
{
    DC_PAR_FOR(N * C * L > PAR_MIN, c, C, {
        double s = 0, q = 0;
        for (int64_t n = 0; n < N; n++) {
            const int64_t off = (n * C + c) * L;
            row_dy_sums(x + off, dy + off, y ? y + off : NULL, L, (double)mean[c],
                        gout ? gout + off : NULL, gfresh, &s, &q);
        }
        sum_dy[c] = s;
        sum_dyxc[c] = q;
    });
}

void dc_k_bn_bwd_dx(int64_t N, int64_t C, int64_t L, const float *x, const float *dy,
                    const float *y, const float *mean, const float *a, const float *b,
                    const float *e, float *dx, int fresh)
{
    DC_PAR_FOR(N * C * L > PAR_MIN, r, N * C, {
        const int64_t c = r % C, off = r * L;
        row_bwd_dx(x + off, dy + off, y ? y + off : NULL, a[c], b[c], e[c], mean[c], dx + off,
                   L, fresh);
    });
}
