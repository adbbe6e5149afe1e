/*
 * eltwise_k.c - elementwise, activation, softmax, broadcasting, reduction and copy kernels.
 *
 * Loops are contiguous and written to auto-vectorise; sigmoid and tanh use fastmath.h (inline,
 * vectorisable), the other math calls (expf, erff) are the only per-element calls. Threads:
 * cheap loops go parallel above DC_K_PAR_MIN elements (kernels/par.h), splitting only
 * independent outputs, so every result is bitwise the same for any thread count; reductions keep
 * a fixed order (fixed blocks, summed in order).
 */
#include "kernels/eltwise_k.h"
#include "kernels/par.h"
#include "kernels/fastmath.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* for (i < n) STMT, on the OpenMP team when `par` (each i independent: any thread count gives
 * the same result) */
#define EACH_I(...) DC_PAR_FOR(par, i, n, { __VA_ARGS__; })

#define K_SQRT1_2 0.70710678118654752440f    /* 1/√2 */
#define K_INV_SQRT_2PI 0.39894228040143267794f /* 1/√(2π) */
#define K_SQRT_2_OVER_PI 0.79788456080286535588f /* √(2/π) */
#define K_GELU_C 0.044715f

/* ------------------------------------------------------------------------------------------ */
/* Unary                                                                                      */
/* ------------------------------------------------------------------------------------------ */

void dc_k_unary_fwd(dc_k_unary op, int64_t n, float s, const float *restrict x,
                    float *restrict y)
{
    const int par = n >= DC_K_PAR_MIN;
    switch (op) {
    case DC_K_NEG: EACH_I(y[i] = -x[i]); break;
    case DC_K_EXP: EACH_I(y[i] = expf(x[i])); break;
    case DC_K_LOG: EACH_I(y[i] = logf(x[i])); break;
    case DC_K_SQRT: EACH_I(y[i] = sqrtf(x[i])); break;
    case DC_K_ABS: EACH_I(y[i] = fabsf(x[i])); break;
    case DC_K_ADD_SCALAR: EACH_I(y[i] = x[i] + s); break;
    case DC_K_MUL_SCALAR: EACH_I(y[i] = x[i] * s); break;
    case DC_K_POW_SCALAR:
        if (s == 2.0f)
            EACH_I(y[i] = x[i] * x[i]);
        else
            EACH_I(y[i] = powf(x[i], s));
        break;
    }
}

void dc_k_unary_bwd(dc_k_unary op, int64_t n, float s, const float *restrict x,
                    const float *restrict y, const float *restrict dy, float *restrict dx)
{
    const int par = n >= DC_K_PAR_MIN;
    switch (op) {
    case DC_K_NEG: EACH_I(dx[i] -= dy[i]); break;
    case DC_K_EXP: EACH_I(dx[i] += dy[i] * y[i]); break;
    case DC_K_LOG: EACH_I(dx[i] += dy[i] / x[i]); break;
    case DC_K_SQRT: EACH_I(dx[i] += dy[i] * 0.5f / y[i]); break;
    case DC_K_ABS: /* dy loaded unconditionally so that the selects vectorise */
        EACH_I({ const float g = dy[i]; dx[i] += x[i] > 0.0f ? g : x[i] < 0.0f ? -g : 0.0f; });
        break;
    case DC_K_ADD_SCALAR: EACH_I(dx[i] += dy[i]); break;
    case DC_K_MUL_SCALAR: EACH_I(dx[i] += dy[i] * s); break;
    case DC_K_POW_SCALAR:
        if (s == 0.0f)
            break; /* x^0 = 1: zero gradient everywhere (PyTorch) */
        if (s == 2.0f)
            EACH_I(dx[i] += dy[i] * 2.0f * x[i]);
        else
            EACH_I(dx[i] += dy[i] * s * powf(x[i], s - 1.0f));
        break;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Binary, same shapes                                                                        */
/* ------------------------------------------------------------------------------------------ */

void dc_k_binary_fwd(dc_k_binary op, int64_t n, const float *restrict a,
                     const float *restrict b, float *restrict y)
{
    const int par = n >= DC_K_PAR_MIN;
    switch (op) {
    case DC_K_ADD: EACH_I(y[i] = a[i] + b[i]); break;
    case DC_K_SUB: EACH_I(y[i] = a[i] - b[i]); break;
    case DC_K_MUL: EACH_I(y[i] = a[i] * b[i]); break;
    case DC_K_DIV: EACH_I(y[i] = a[i] / b[i]); break;
    }
}

/* da += dy·∂y/∂a for one operand; `other` is the other operand (b for da, a for db). */
static void binary_grad(dc_k_binary op, int is_b, int64_t n, const float *a, const float *b,
                        const float *y, const float *dy, float *d)
{
    const int par = n >= DC_K_PAR_MIN;
    const float *o = is_b ? a : b;
    if (op == DC_K_ADD || (op == DC_K_SUB && !is_b))
        EACH_I(d[i] += dy[i]);
    else if (op == DC_K_SUB)
        EACH_I(d[i] -= dy[i]);
    else if (op == DC_K_MUL)
        EACH_I(d[i] += dy[i] * o[i]);
    else if (!is_b) /* d(a/b)/da = 1/b */
        EACH_I(d[i] += dy[i] / b[i]);
    else /* d(a/b)/db = -a/b² = -y/b */
        EACH_I(d[i] -= dy[i] * y[i] / b[i]);
}

void dc_k_binary_bwd(dc_k_binary op, int64_t n, const float *a, const float *b, const float *y,
                     const float *dy, float *da, float *db)
{
    if (da)
        binary_grad(op, 0, n, a, b, y, dy, da);
    if (db)
        binary_grad(op, 1, n, a, b, y, dy, db);
}

/* ------------------------------------------------------------------------------------------ */
/* Binary with broadcasting                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* One row of n outputs: y[j] = a[j·ia] op b[j·ib], with the usual stride 0/1 cases unrolled so
 * they vectorise. y may alias a (then ia == 1). */
#define BIN_ROW(EXPR)                                                                        \
    do {                                                                                     \
        if (ia == 1 && ib == 1) {                                                            \
            for (int64_t j = 0; j < n; j++) {                                                \
                const float u = a[j], v = b[j];                                              \
                y[j] = (EXPR);                                                               \
            }                                                                                \
        } else if (ia == 1) {                                                                \
            const float v = b[0];                                                            \
            for (int64_t j = 0; j < n; j++) {                                                \
                const float u = a[j];                                                        \
                y[j] = (EXPR);                                                               \
            }                                                                                \
        } else if (ib == 1) {                                                                \
            const float u = a[0];                                                            \
            for (int64_t j = 0; j < n; j++) {                                                \
                const float v = b[j];                                                        \
                y[j] = (EXPR);                                                               \
            }                                                                                \
        } else {                                                                             \
            for (int64_t j = 0; j < n; j++) {                                                \
                const float u = a[j * ia], v = b[j * ib];                                    \
                y[j] = (EXPR);                                                               \
            }                                                                                \
        }                                                                                    \
    } while (0)

static void bin_row(dc_k_binary op, int64_t n, const float *a, int64_t ia, const float *b,
                    int64_t ib, float *y)
{
    switch (op) {
    case DC_K_ADD: BIN_ROW(u + v); break;
    case DC_K_SUB: BIN_ROW(u - v); break;
    case DC_K_MUL: BIN_ROW(u * v); break;
    case DC_K_DIV: BIN_ROW(u / v); break;
    }
}

/* Offset of row r (an index over shape[0..nd-1)) for strides s; fills idx. */
static int64_t row_offset(int nd, const int64_t *shape, const int64_t *s, int64_t r,
                          int64_t *idx)
{
    int64_t off = 0;
    for (int d = nd - 2; d >= 0; d--) {
        idx[d] = r % shape[d];
        r /= shape[d];
        off += idx[d] * s[d];
    }
    return off;
}

/* Advance the odometer idx over shape[0..nd-1) and move the offsets oa, ob along. */
static void row_next(int nd, const int64_t *shape, int64_t *idx, const int64_t *sa,
                     int64_t *oa, const int64_t *sb, int64_t *ob)
{
    for (int d = nd - 2; d >= 0; d--) {
        idx[d]++;
        *oa += sa[d];
        if (sb)
            *ob += sb[d];
        if (idx[d] < shape[d])
            return;
        *oa -= sa[d] * shape[d];
        if (sb)
            *ob -= sb[d] * shape[d];
        idx[d] = 0;
    }
}

static void bcast_rows(dc_k_binary op, int nd, const int64_t *shape, const float *a,
                       const int64_t *sa, const float *b, const int64_t *sb, float *y,
                       int64_t r0, int64_t r1)
{
    int64_t idx[5] = {0}, ib[5];
    const int64_t n = shape[nd - 1];
    int64_t oa = row_offset(nd, shape, sa, r0, idx);
    int64_t ob = row_offset(nd, shape, sb, r0, ib);
    for (int64_t r = r0; r < r1; r++) {
        bin_row(op, n, a + oa, sa[nd - 1], b + ob, sb[nd - 1], y + r * n);
        row_next(nd, shape, idx, sa, &oa, sb, &ob);
    }
}

void dc_k_bcast_fwd(dc_k_binary op, int nd, const int64_t *shape, const float *a,
                    const int64_t *sa, const float *b, const int64_t *sb, float *y)
{
    int64_t rows = 1;
    for (int d = 0; d < nd - 1; d++)
        rows *= shape[d];
    if (rows == 0 || shape[nd - 1] == 0)
        return;
#ifdef _OPENMP
    if (rows > 1 && rows * shape[nd - 1] >= DC_K_PAR_MIN && dc_par_ok()) {
#pragma omp parallel
        {
            const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
            bcast_rows(op, nd, shape, a, sa, b, sb, y, rows * t / nt, rows * (t + 1) / nt);
        }
        return;
    }
#endif
    bcast_rows(op, nd, shape, a, sa, b, sb, y, 0, rows);
}

void dc_k_sum_to(int nd, const int64_t *shape, const float *g, float alpha, float *d,
                 const int64_t *sd)
{
    int64_t idx[5] = {0}, rows = 1, od = 0;
    const int64_t n = shape[nd - 1], id = sd[nd - 1];
    for (int k = 0; k < nd - 1; k++)
        rows *= shape[k];
    if (n == 0)
        return;
    for (int64_t r = 0; r < rows; r++, g += n) {
        float *dr = d + od;
        if (id == 1) {
            for (int64_t j = 0; j < n; j++) dr[j] += alpha * g[j];
        } else if (id == 0) {
            float s = 0.0f;
            for (int64_t j = 0; j < n; j++) s += g[j];
            dr[0] += alpha * s;
        } else {
            for (int64_t j = 0; j < n; j++) dr[j * id] += alpha * g[j];
        }
        row_next(nd, shape, idx, sd, &od, NULL, NULL);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Activations                                                                                */
/* ------------------------------------------------------------------------------------------ */

void dc_k_relu_fwd(int64_t n, const float *restrict x, float *restrict y)
{
    DC_PAR_FOR(n >= DC_K_PAR_MIN, i, n, { y[i] = dc_k_relu(x[i]); });
}

void dc_k_relu_bwd(int64_t n, const float *restrict y, const float *restrict dy,
                   float *restrict dx, int fresh)
{
    if (fresh)
        DC_PAR_FOR(n >= DC_K_PAR_MIN, i, n, { dx[i] = dc_k_relu_grad(y, dy, i); });
    else
        DC_PAR_FOR(n >= DC_K_PAR_MIN, i, n, { dx[i] += dc_k_relu_grad(y, dy, i); });
}

void dc_k_leaky_relu_fwd(int64_t n, float slope, const float *restrict x, float *restrict y)
{
    DC_PAR_FOR(n >= DC_K_PAR_MIN, i, n, { y[i] = x[i] > 0.0f ? x[i] : slope * x[i]; });
}

void dc_k_leaky_relu_bwd(int64_t n, float slope, const float *restrict x,
                         const float *restrict dy, float *restrict dx)
{
    DC_PAR_FOR(n >= DC_K_PAR_MIN, i, n, { dx[i] += x[i] > 0.0f ? dy[i] : slope * dy[i]; });
}

DC_CLONES void dc_k_sigmoid_fwd(int64_t n, const float *restrict x, float *restrict y)
{
    DC_PAR_FOR(n >= DC_K_PAR_MIN / 8, i, n, {
        const float e = dc_fast_expf(-fabsf(x[i])); /* in (0, 1]: never overflows */
        y[i] = x[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    });
}

void dc_k_sigmoid_bwd(int64_t n, const float *restrict y, const float *restrict dy,
                      float *restrict dx)
{
    DC_PAR_FOR(n >= DC_K_PAR_MIN, i, n, { dx[i] += dy[i] * y[i] * (1.0f - y[i]); });
}

/* y[r, :] = gelu(y[r, :] + b) in place: a bias add, then dc_k_gelu_fwd's exact GELU, the same
 * operations, so the same bits as the two passes. */
DC_CLONES void dc_k_bias_gelu(int64_t R, int64_t C, const float *restrict b, float *restrict y)
{
    DC_PAR_FOR(R > 1 && R * C >= DC_K_PAR_MIN / 8, r, R, {
        float *yr = y + r * C;
        for (int64_t c = 0; c < C; c++) {
            const float v = b ? yr[c] + b[c] : yr[c];
            yr[c] = 0.5f * v * (1.0f + dc_erff(v * K_SQRT1_2));
        }
    });
}

DC_CLONES void dc_k_tanh_fwd(int64_t n, const float *restrict x, float *restrict y)
{
    DC_PAR_FOR(n >= DC_K_PAR_MIN / 8, i, n, { y[i] = dc_fast_tanhf(x[i]); });
}

void dc_k_tanh_bwd(int64_t n, const float *restrict y, const float *restrict dy,
                   float *restrict dx)
{
    DC_PAR_FOR(n >= DC_K_PAR_MIN, i, n, { dx[i] += dy[i] * (1.0f - y[i] * y[i]); });
}

DC_CLONES void dc_k_gelu_fwd(int64_t n, int approximate, const float *restrict x, float *restrict y)
{
    if (approximate) { /* x/2·(1 + tanh(√(2/π)(x + 0.044715x³))) */
        DC_PAR_FOR(n >= DC_K_PAR_MIN / 8, i, n, {
            const float v = x[i];
            const float t = tanhf(K_SQRT_2_OVER_PI * (v + K_GELU_C * v * v * v));
            y[i] = 0.5f * v * (1.0f + t);
        });
    } else { /* x/2·(1 + erf(x/√2)), PyTorch's formula; erf vectorised (fastmath.h, ~1 ulp) */
        DC_PAR_FOR(n >= DC_K_PAR_MIN / 8, i, n, {
            y[i] = 0.5f * x[i] * (1.0f + dc_erff(x[i] * K_SQRT1_2));
        });
    }
}

DC_CLONES void dc_k_gelu_bwd(int64_t n, int approximate, int store, const float *restrict x,
                             const float *dy, float *dx)
{
    if (approximate) {
        /* d = ½(1+t) + ½x(1−t²)·√(2/π)(1 + 3·0.044715x²), t = tanh(√(2/π)(x + 0.044715x³)) */
        DC_PAR_FOR(n >= DC_K_PAR_MIN / 8, i, n, {
            const float v = x[i], v2 = v * v;
            const float t = tanhf(K_SQRT_2_OVER_PI * (v + K_GELU_C * v2 * v));
            const float dinner = K_SQRT_2_OVER_PI * (1.0f + 3.0f * K_GELU_C * v2);
            const float g = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dinner);
            dx[i] = store ? g : dx[i] + g;
        });
    } else {
        /* d = Φ(x) + x·φ(x) = ½(1 + erf(v)) + x·e^(−v²)/√(2π), v = x/√2: one e^(−v²) serves
         * both (erf's tail piece and φ) */
        DC_PAR_FOR(n >= DC_K_PAR_MIN / 8, i, n, {
            const float v = x[i] * K_SQRT1_2, e = dc_fast_expf(-(v * v));
            const float cdf = 0.5f * (1.0f + dc_erff_e(v, e));
            const float pdf = e * K_INV_SQRT_2PI;
            const float g = dy[i] * (cdf + x[i] * pdf);
            dx[i] = store ? g : dx[i] + g;
        });
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Softmax and log-softmax                                                                    */
/* ------------------------------------------------------------------------------------------ */

static float row_max(int64_t K, const float *x)
{
    float m = x[0];
    for (int64_t k = 1; k < K; k++) m = x[k] > m ? x[k] : m;
    return m;
}

/* y = e^(x-max) in place of the strided column block [K][inner] of one outer index; mx and s
 * (inner floats each) receive the max and the sum of e^(x-max). */
static void exp_block(int64_t K, int64_t inner, const float *x, float *y, float *mx, float *s)
{
    memcpy(mx, x, (size_t)inner * sizeof *mx);
    for (int64_t k = 1; k < K; k++) {
        const float *xk = x + k * inner;
        for (int64_t i = 0; i < inner; i++) mx[i] = xk[i] > mx[i] ? xk[i] : mx[i];
    }
    memset(s, 0, (size_t)inner * sizeof *s);
    for (int64_t k = 0; k < K; k++) {
        const float *xk = x + k * inner;
        float *yk = y + k * inner;
        for (int64_t i = 0; i < inner; i++) {
            yk[i] = expf(xk[i] - mx[i]);
            s[i] += yk[i];
        }
    }
}

void dc_k_softmax_fwd(int64_t outer, int64_t K, int64_t inner, const float *x, float *y,
                      float *scratch)
{
    if (K == 0 || inner == 0)
        return;
    if (inner == 1) {
        DC_PAR_FOR(outer > 1 && outer * K >= DC_K_PAR_MIN / 8, o, outer, {
            const float *xr = x + o * K;
            float *yr = y + o * K;
            const float m = row_max(K, xr);
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                yr[k] = expf(xr[k] - m);
                s += yr[k];
            }
            const float inv = 1.0f / s;
            for (int64_t k = 0; k < K; k++) yr[k] *= inv;
        });
        return;
    }
    float *mx = scratch, *s = scratch + inner;
    for (int64_t o = 0; o < outer; o++) {
        float *yb = y + o * K * inner;
        exp_block(K, inner, x + o * K * inner, yb, mx, s);
        for (int64_t i = 0; i < inner; i++) s[i] = 1.0f / s[i];
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < inner; i++) yb[k * inner + i] *= s[i];
    }
}

void dc_k_log_softmax_fwd(int64_t outer, int64_t K, int64_t inner, const float *x, float *y,
                          float *scratch)
{
    if (K == 0 || inner == 0)
        return;
    if (inner == 1) { /* y = (x - max) - log Σ e^(x - max) */
        DC_PAR_FOR(outer > 1 && outer * K >= DC_K_PAR_MIN / 8, o, outer, {
            const float *xr = x + o * K;
            float *yr = y + o * K;
            const float m = row_max(K, xr);
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) s += expf(xr[k] - m);
            const float ls = logf(s);
            for (int64_t k = 0; k < K; k++) yr[k] = (xr[k] - m) - ls;
        });
        return;
    }
    float *mx = scratch, *s = scratch + inner;
    for (int64_t o = 0; o < outer; o++) {
        const float *xb = x + o * K * inner;
        float *yb = y + o * K * inner;
        exp_block(K, inner, xb, yb, mx, s);
        for (int64_t i = 0; i < inner; i++) s[i] = logf(s[i]);
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < inner; i++)
                yb[k * inner + i] = (xb[k * inner + i] - mx[i]) - s[i];
    }
}

void dc_k_softmax_bwd(int64_t outer, int64_t K, int64_t inner, const float *y, const float *dy,
                      float *dx, float *scratch)
{
    if (K == 0 || inner == 0)
        return;
    if (inner == 1) { /* dx += y ⊙ (dy − Σ dy·y) */
        DC_PAR_FOR(outer > 1 && outer * K >= DC_K_PAR_MIN, o, outer, {
            const float *yr = y + o * K, *gr = dy + o * K;
            float *dr = dx + o * K;
            float dot = 0.0f;
            for (int64_t k = 0; k < K; k++) dot += gr[k] * yr[k];
            for (int64_t k = 0; k < K; k++) dr[k] += yr[k] * (gr[k] - dot);
        });
        return;
    }
    float *dot = scratch;
    for (int64_t o = 0; o < outer; o++) {
        const int64_t base = o * K * inner;
        memset(dot, 0, (size_t)inner * sizeof *dot);
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < inner; i++)
                dot[i] += dy[base + k * inner + i] * y[base + k * inner + i];
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < inner; i++) {
                const int64_t j = base + k * inner + i;
                dx[j] += y[j] * (dy[j] - dot[i]);
            }
    }
}

void dc_k_log_softmax_bwd(int64_t outer, int64_t K, int64_t inner, const float *y,
                          const float *dy, float *dx, float *scratch)
{
    if (K == 0 || inner == 0)
        return;
    if (inner == 1) { /* dx += dy − e^y · Σ dy */
        DC_PAR_FOR(outer > 1 && outer * K >= DC_K_PAR_MIN / 8, o, outer, {
            const float *yr = y + o * K, *gr = dy + o * K;
            float *dr = dx + o * K;
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) s += gr[k];
            for (int64_t k = 0; k < K; k++) dr[k] += gr[k] - expf(yr[k]) * s;
        });
        return;
    }
    float *s = scratch;
    for (int64_t o = 0; o < outer; o++) {
        const int64_t base = o * K * inner;
        memset(s, 0, (size_t)inner * sizeof *s);
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < inner; i++) s[i] += dy[base + k * inner + i];
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < inner; i++) {
                const int64_t j = base + k * inner + i;
                dx[j] += dy[j] - expf(y[j]) * s[i];
            }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Reductions                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Σ x[n] in double with 8 interleaved partial sums (vectorisable, fixed order). */
static double sum_block(const float *restrict x, int64_t n)
{
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += (double)x[i + l];
    double s = 0.0;
    for (int l = 0; l < 8; l++) s += acc[l];
    for (; i < n; i++) s += (double)x[i];
    return s;
}

double dc_k_sum_all(int64_t n, const float *x)
{
    enum { NB = 64, MIN_BLOCK = 4096 };
    double part[NB];
    const int64_t nb = n < (int64_t)NB * MIN_BLOCK ? (n + MIN_BLOCK - 1) / MIN_BLOCK : NB;
    DC_PAR_FOR(n >= DC_K_PAR_MIN, b, nb, {
        const int64_t lo = n * b / nb, hi = n * (b + 1) / nb;
        part[b] = sum_block(x + lo, hi - lo);
    });
    double s = 0.0;
    for (int64_t b = 0; b < nb; b++) s += part[b];
    return s;
}

void dc_k_sum_axis(int64_t outer, int64_t K, int64_t inner, float scale, const float *x,
                   float *y)
{
    enum { CH = 256 }; /* columns per task when inner > 1 */
    const int par = outer * K * inner >= DC_K_PAR_MIN;
    if (inner == 1) {
        if (outer == 1) {
            y[0] = (float)(dc_k_sum_all(K, x) * scale);
            return;
        }
        DC_PAR_FOR(par, o, outer, { y[o] = (float)(sum_block(x + o * K, K) * scale); });
        return;
    }
    const int64_t n_ch = (inner + CH - 1) / CH;
    DC_PAR_FOR(par, t, outer * n_ch, {
        const int64_t o = t / n_ch, i0 = t % n_ch * CH;
        const int64_t w = inner - i0 < CH ? inner - i0 : CH;
        const float *xb = x + o * K * inner + i0;
        double acc[CH];
        for (int64_t i = 0; i < w; i++) acc[i] = 0.0;
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < w; i++) acc[i] += (double)xb[k * inner + i];
        float *yb = y + o * inner + i0;
        for (int64_t i = 0; i < w; i++) yb[i] = (float)(acc[i] * scale);
    });
}

void dc_k_sum_axis_bwd(int64_t outer, int64_t K, int64_t inner, float scale, const float *dy,
                       float *dx)
{
    DC_PAR_FOR(outer * K * inner >= DC_K_PAR_MIN, r, outer * K, {
        const float *g = dy + (r / K) * inner;
        float *d = dx + r * inner;
        for (int64_t i = 0; i < inner; i++) d[i] += scale * g[i];
    });
}

void dc_k_col_sum_acc(int64_t R, int64_t C, const float *dy, float *db)
{
    enum { CH = 256 };
    const int64_t n_ch = (C + CH - 1) / CH;
    DC_PAR_FOR(n_ch > 1 && R * C >= DC_K_PAR_MIN, t, n_ch, {
        const int64_t c0 = t * CH, w = C - c0 < CH ? C - c0 : CH;
        double acc[CH];
        for (int64_t c = 0; c < w; c++) acc[c] = 0.0;
        for (int64_t r = 0; r < R; r++) {
            const float *g = dy + r * C + c0;
            for (int64_t c = 0; c < w; c++) acc[c] += (double)g[c];
        }
        for (int64_t c = 0; c < w; c++) db[c0 + c] += (float)acc[c];
    });
}

void dc_k_add_row(int64_t R, int64_t C, const float *restrict b, float *restrict y)
{
    DC_PAR_FOR(R > 1 && R * C >= DC_K_PAR_MIN, r, R, {
        float *yr = y + r * C;
        for (int64_t c = 0; c < C; c++) yr[c] += b[c];
    });
}

/* ------------------------------------------------------------------------------------------ */
/* Copies                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* One tile of dc_k_swap_dims: dst[b, a, :] (+)= src[a, b, :] for a in [a0, a1), all b;
 * sa / db are the strides of a in src and of b in dst, in elements. */
static void swap_tile(int64_t a0, int64_t a1, int64_t B, int64_t inner, const float *src,
                      int64_t sa, float *dst, int64_t db, int accumulate)
{
    enum { TL = 32 };
    for (int64_t b0 = 0; b0 < B; b0 += TL) {
        const int64_t b1 = b0 + TL < B ? b0 + TL : B;
        for (int64_t b = b0; b < b1; b++) {
            float *restrict d = dst + b * db;
            const float *restrict s = src + b * inner;
            if (inner == 1 && accumulate)
                for (int64_t a = a0; a < a1; a++) d[a] += s[a * sa];
            else if (inner == 1)
                for (int64_t a = a0; a < a1; a++) d[a] = s[a * sa];
            else
                for (int64_t a = a0; a < a1; a++) {
                    float *dp = d + a * inner;
                    const float *sp = s + a * sa;
                    if (accumulate)
                        for (int64_t i = 0; i < inner; i++) dp[i] += sp[i];
                    else
                        memcpy(dp, sp, (size_t)inner * sizeof *dp);
                }
        }
    }
}

void dc_k_swap_dims(int64_t outer, int64_t A, int64_t mid, int64_t B, int64_t inner,
                    const float *src, float *dst, int accumulate)
{
    enum { TL = 32 }; /* 32 x 32 tiles: the source lines of a tile stay in L1 */
    const int64_t n_at = (A + TL - 1) / TL, tasks = outer * mid * n_at;
    const int64_t sa = mid * B * inner, db = mid * A * inner;
    DC_PAR_FOR(tasks > 1 && outer * A * mid * B * inner >= DC_K_PAR_MIN, t, tasks, {
        const int64_t om = t / n_at, a0 = t % n_at * TL, a1 = a0 + TL < A ? a0 + TL : A;
        const int64_t o = om / mid, m = om % mid;
        swap_tile(a0, a1, B, inner, src + (o * A * mid + m) * B * inner, sa,
                  dst + (o * B * mid + m) * A * inner, db, accumulate);
    });
}

void dc_k_slice_fwd(int64_t outer, int64_t K, int64_t inner, int64_t start, int64_t step,
                    int64_t cnt, const float *x, float *y)
{
    DC_PAR_FOR(outer > 1 && outer * cnt * inner >= DC_K_PAR_MIN, o, outer, {
        for (int64_t j = 0; j < cnt; j++)
            memcpy(y + (o * cnt + j) * inner, x + (o * K + start + j * step) * inner,
                   (size_t)inner * sizeof *y);
    });
}

void dc_k_slice_bwd(int64_t outer, int64_t K, int64_t inner, int64_t start, int64_t step,
                    int64_t cnt, const float *dy, float *dx)
{
    DC_PAR_FOR(outer > 1 && outer * cnt * inner >= DC_K_PAR_MIN, o, outer, {
        for (int64_t j = 0; j < cnt; j++) {
            const float *g = dy + (o * cnt + j) * inner;
            float *d = dx + (o * K + start + j * step) * inner;
            for (int64_t i = 0; i < inner; i++) d[i] += g[i];
        }
    });
}

void dc_k_block_copy(int64_t outer, int64_t n, const float *src, int64_t ld_src, float *dst,
                     int64_t ld_dst, int accumulate)
{
    DC_PAR_FOR(outer > 1 && outer * n >= DC_K_PAR_MIN, o, outer, {
        const float *s = src + o * ld_src;
        float *d = dst + o * ld_dst;
        if (accumulate)
            for (int64_t j = 0; j < n; j++) d[j] += s[j];
        else
            memcpy(d, s, (size_t)n * sizeof *d);
    });
}

void dc_k_acc(int64_t n, const float *restrict src, float *restrict dst)
{
    DC_PAR_FOR(n >= DC_K_PAR_MIN, i, n, { dst[i] += src[i]; });
}
