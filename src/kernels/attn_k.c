/*
 * attn_k.c - scaled dot-product attention by blocks (flash-style), forward and backward.
 *
 * Forward, per (n, h, block of BQ queries): for each block of BK keys, scores s = scale·Q·Kᵀ +
 * masks for BQ × BK only; a running row max m and sum l (online softmax) rescale the output
 * accumulator: m' = max(m, max s), acc ← acc·e^(m − m') + e^(s − m')·V, l ← l·e^(m − m') +
 * Σ e^(s − m'). o = acc / l at the end, lse = m + ln l kept for backward. A causal mask skips
 * the key blocks past the block's last query entirely.
 *
 * Inner loops run over a contiguous dimension so that they vectorise without reassociating a
 * reduction: Q·Kᵀ over the keys of a transposed key block (kt[d][j]), P·V and the gradients
 * over D. Blocks: BQ = 32 queries, BK = 64 keys; with D = 64 the key block (16 KB), its
 * transpose (16 KB), the scores (8 KB) and the accumulator (8 KB) stay in L1/L2.
 * Threads split (n, h, query block) in the forward and (n, h) in the backward (each owns its
 * rows of dq, dk, dv), so the sums run in one fixed order at any thread count.
 */
#include "kernels/attn_k.h"
#include "kernels/attn_flash.h"
#include "kernels/fastmath.h"
#include "kernels/par.h"

#include <math.h>
#include <string.h>

enum { BQ = 32, BK = 64, DMAX = 256 };

/* The block helpers are inlined into the three task functions, which are compiled per ISA
 * (DC_CLONES: AVX-512, AVX2, baseline), so that their loops run on the widest vectors. The
 * clones do the same float operations (no contraction), so their results are equal. */
#if defined(__GNUC__)
#define INLINE inline __attribute__((always_inline))
#else
#define INLINE inline
#endif

/* ---- dropout draws ---- */

static inline uint64_t mix64(uint64_t z)
{ /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

int dc_k_attn_keep(uint64_t seed, uint64_t idx, float p)
{
    const uint64_t h = mix64(seed + idx * 0x9E3779B97F4A7C15u);
    return (float)(h >> 40) * (1.0f / 16777216.0f) >= p;
}

/* ---- blocks ---- */

/* kt[d][jj] = k[j0 + jj][d] for jj < bk (bk <= BK), zeros for jj >= bk. (The GEMM's 8 x 8
 * register transposes, dc_k_transpose, measured slower here: attention + its transposes 0.34 of
 * the GEMM kernel's samples against 0.30 for this loop, BERT-mini batch 1.) */
static INLINE void transpose_block(const float *k, int64_t k_st, int64_t bk, int64_t D, float *kt)
{
    for (int64_t jj = 0; jj < bk; jj++)
        for (int64_t d = 0; d < D; d++)
            kt[d * BK + jj] = k[jj * k_st + d];
    if (bk < BK)
        for (int64_t d = 0; d < D; d++)
            memset(kt + d * BK + bk, 0, (size_t)(BK - bk) * sizeof(float));
}

/* s[ii][0..BK) = alpha · Σ_d a[ii][d]·bt[d][0..BK) for ii < bq (a rows at stride a_st). */
static INLINE void rows_times_t(const float *a, int64_t a_st, int64_t bq, int64_t D,
                                 const float *bt,
                         float alpha, float *s)
{
    int64_t ii = 0;
    for (; ii + 4 <= bq; ii += 4) { /* 4 rows x 64 keys: 16 AVX-512 accumulators */
        float s0[BK] = {0}, s1[BK] = {0}, s2[BK] = {0}, s3[BK] = {0};
        const float *a0 = a + ii * a_st, *a1 = a0 + a_st, *a2 = a1 + a_st, *a3 = a2 + a_st;
        for (int64_t d = 0; d < D; d++) {
            const float x0 = a0[d], x1 = a1[d], x2 = a2[d], x3 = a3[d];
            const float *b = bt + d * BK;
            for (int jj = 0; jj < BK; jj++) {
                s0[jj] += x0 * b[jj];
                s1[jj] += x1 * b[jj];
                s2[jj] += x2 * b[jj];
                s3[jj] += x3 * b[jj];
            }
        }
        for (int jj = 0; jj < BK; jj++) {
            s[ii * BK + jj] = alpha * s0[jj];
            s[(ii + 1) * BK + jj] = alpha * s1[jj];
            s[(ii + 2) * BK + jj] = alpha * s2[jj];
            s[(ii + 3) * BK + jj] = alpha * s3[jj];
        }
    }
    for (; ii < bq; ii++) {
        float s0[BK] = {0};
        const float *a0 = a + ii * a_st;
        for (int64_t d = 0; d < D; d++) {
            const float x0 = a0[d];
            const float *b = bt + d * BK;
            for (int jj = 0; jj < BK; jj++)
                s0[jj] += x0 * b[jj];
        }
        for (int jj = 0; jj < BK; jj++)
            s[ii * BK + jj] = alpha * s0[jj];
    }
}

/* Add the masks to scores s[bq][BK] of queries i0.. and keys j0.. of (n, h); keys past bk and
 * causally hidden ones become −inf. */
static INLINE void apply_masks(const dc_k_attn *a, int64_t n, int64_t h, int64_t i0, int64_t bq,
                        int64_t j0, int64_t bk, float *s)
{
    const float *kp = a->kpm ? a->kpm + n * a->Tk + j0 : NULL;
    for (int64_t ii = 0; ii < bq; ii++) {
        float *r = s + ii * BK;
        if (a->mask) {
            const float *m = a->mask + n * a->m_sn + h * a->m_sh + (i0 + ii) * a->m_sq +
                             j0 * a->m_sk;
            for (int64_t jj = 0; jj < bk; jj++)
                r[jj] += m[jj * a->m_sk];
        }
        if (kp)
            for (int64_t jj = 0; jj < bk; jj++)
                r[jj] += kp[jj];
        int64_t lim = bk; /* keys j0 + jj with jj >= lim are hidden */
        if (a->causal) {
            const int64_t last = i0 + ii + a->q_offset - j0; /* last visible jj */
            lim = last + 1 < lim ? (last + 1 < 0 ? 0 : last + 1) : lim;
        }
        for (int64_t jj = lim; jj < BK; jj++)
            r[jj] = -INFINITY;
    }
}

/* One past the last key block any query of [i0, i0 + bq) may see. */
static int64_t key_end(const dc_k_attn *a, int64_t i0, int64_t bq)
{
    if (!a->causal)
        return a->Tk;
    int64_t e = i0 + bq - 1 + a->q_offset + 1;
    return e < 0 ? 0 : e < a->Tk ? e : a->Tk;
}

/* 16 floats as one vector (GCC/Clang vector extension; AVX-512: one register, AVX2: two). */
typedef float v16f __attribute__((vector_size(64)));

/* (macros, not functions: a vector argument or result would change the ABI per clone) */
#define V16_LOAD(x, p) memcpy(&(x), (p), sizeof(v16f))
#define V16_STORE(p, x) memcpy((p), &(x), sizeof(v16f))

/* Whether the CPU has AVX-512: p_times_v64's 8 accumulators and 4 row vectors fit its 32
 * registers; with AVX2's 16 they spill (callgrind: 67 M -> 89 M instructions for two BERT-mini
 * forwards), so AVX2 and older keep the generic loop. Both give the same bits. */
static int wide_vectors(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

/* p_times_v for Dv a multiple of 64: two query rows at a time, 64 columns of their accumulators
 * held in 8 vectors over the whole key block (the generic loop loads and stores its row of acc
 * for every key). Every element gets the same products added in the same order (keys
 * ascending; a key whose weight is 0 in both rows is skipped, else 0·v adds +0), so the result
 * is the generic loop's. */
static INLINE void p_times_v64(const float *p, int64_t bq, int64_t bk, const float *v,
                               int64_t v_st, int64_t Dv, float *acc)
{
    for (int64_t ii = 0; ii < bq; ii += 2) {
        const int two = ii + 1 < bq;
        const float *p0 = p + ii * BK, *p1 = two ? p0 + BK : p0;
        for (int64_t c = 0; c < Dv; c += 64) {
            float *o0 = acc + ii * Dv + c, *o1 = two ? o0 + Dv : o0;
            v16f a0, a1, a2, a3, b0, b1, b2, b3;
            V16_LOAD(a0, o0);
            V16_LOAD(a1, o0 + 16);
            V16_LOAD(a2, o0 + 32);
            V16_LOAD(a3, o0 + 48);
            V16_LOAD(b0, o1);
            V16_LOAD(b1, o1 + 16);
            V16_LOAD(b2, o1 + 32);
            V16_LOAD(b3, o1 + 48);
            for (int64_t jj = 0; jj < bk; jj++) {
                const float w0 = p0[jj], w1 = two ? p1[jj] : 0.0f;
                if (w0 == 0.0f && w1 == 0.0f)
                    continue;
                const float *vr = v + jj * v_st + c;
                v16f x0, x1, x2, x3;
                V16_LOAD(x0, vr);
                V16_LOAD(x1, vr + 16);
                V16_LOAD(x2, vr + 32);
                V16_LOAD(x3, vr + 48);
                a0 += w0 * x0;
                a1 += w0 * x1;
                a2 += w0 * x2;
                a3 += w0 * x3;
                b0 += w1 * x0;
                b1 += w1 * x1;
                b2 += w1 * x2;
                b3 += w1 * x3;
            }
            V16_STORE(o0, a0);
            V16_STORE(o0 + 16, a1);
            V16_STORE(o0 + 32, a2);
            V16_STORE(o0 + 48, a3);
            if (two) {
                V16_STORE(o1, b0);
                V16_STORE(o1 + 16, b1);
                V16_STORE(o1 + 32, b2);
                V16_STORE(o1 + 48, b3);
            }
        }
    }
}

/* acc[ii][0..Dv) += Σ_jj p[ii][jj]·v[jj][0..Dv) (p already carries the dropout). */
static INLINE void p_times_v(const float *p, int64_t bq, int64_t bk, const float *v, int64_t v_st,
                      int64_t Dv, float *acc)
{
    if (Dv % 64 == 0 && wide_vectors()) {
        p_times_v64(p, bq, bk, v, v_st, Dv, acc);
        return;
    }
    for (int64_t ii = 0; ii < bq; ii++) {
        float *o = acc + ii * Dv;
        const float *pr = p + ii * BK;
        for (int64_t jj = 0; jj < bk; jj++) {
            const float w = pr[jj];
            if (w == 0.0f)
                continue;
            const float *vr = v + jj * v_st;
            for (int64_t d = 0; d < Dv; d++)
                o[d] += w * vr[d];
        }
    }
}

/* Multiply p[ii][jj] by the dropout factor z of (n, h, i0 + ii, j0 + jj). */
static INLINE void drop_block(const dc_k_attn *a, int64_t n, int64_t h, int64_t i0, int64_t bq,
                       int64_t j0, int64_t bk, float *p)
{
    const float keep = 1.0f / (1.0f - a->p_drop);
    for (int64_t ii = 0; ii < bq; ii++) {
        const uint64_t base = (uint64_t)(((n * a->H + h) * a->Tq + i0 + ii) * a->Tk + j0);
        for (int64_t jj = 0; jj < bk; jj++)
            p[ii * BK + jj] *= dc_k_attn_keep(a->seed, base + (uint64_t)jj, a->p_drop) ? keep
                                                                                         : 0.0f;
    }
}

/* ---- forward ---- */

typedef struct fwd_rows {
    float m[BQ], l[BQ];
    float s[BQ * BK];
    float kt[DMAX * BK];
    float acc[BQ * DMAX];
} fwd_rows;

/* The online-softmax step for one key block: s (scores) becomes e^(s − m'), m, l, acc are
 * rescaled. Rows still fully masked keep m = −inf and contribute nothing. */
static INLINE void online_step(fwd_rows *w, int64_t bq, int64_t Dv)
{
    for (int64_t ii = 0; ii < bq; ii++) {
        float *r = w->s + ii * BK, mx = w->m[ii];
        for (int jj = 0; jj < BK; jj++)
            mx = r[jj] > mx ? r[jj] : mx;
        if (mx == -INFINITY) { /* nothing visible yet: p = 0 */
            memset(r, 0, BK * sizeof(float));
            continue;
        }
        const float alpha = dc_fast_expf(w->m[ii] - mx);
        float lanes[16] = {0}, sum = 0.0f;
        for (int jj = 0; jj < BK; jj++) /* vectorises: no reduction inside */
            r[jj] = dc_fast_expf(r[jj] - mx);
        for (int jj = 0; jj < BK; jj += 16)
            for (int l = 0; l < 16; l++)
                lanes[l] += r[jj + l];
        for (int l = 0; l < 16; l++)
            sum += lanes[l];
        w->l[ii] = w->l[ii] * alpha + sum;
        w->m[ii] = mx;
        if (alpha != 1.0f)
            for (int64_t d = 0; d < Dv; d++)
                w->acc[ii * Dv + d] *= alpha;
    }
}

DC_CLONES static void fwd_block(const dc_k_attn *a, int64_t n, int64_t h, int64_t i0, fwd_rows *w)
{
    const int64_t bq = a->Tq - i0 < BQ ? a->Tq - i0 : BQ, D = a->D, Dv = a->Dv;
    const float *q = a->q + n * a->q_sn + h * a->q_sh + i0 * a->q_st;
    const float *k = a->k + n * a->k_sn + h * a->k_sh, *v = a->v + n * a->v_sn + h * a->v_sh;
    float *probs = a->probs ? a->probs + ((n * a->H + h) * a->Tq + i0) * a->Tk : NULL;
    for (int64_t ii = 0; ii < bq; ii++) {
        w->m[ii] = -INFINITY;
        w->l[ii] = 0.0f;
    }
    memset(w->acc, 0, (size_t)(bq * Dv) * sizeof(float));
    const int64_t jend = key_end(a, i0, bq);
    for (int64_t j0 = 0; j0 < jend; j0 += BK) {
        const int64_t bk = jend - j0 < BK ? jend - j0 : BK;
        transpose_block(k + j0 * a->k_st, a->k_st, bk, D, w->kt);
        rows_times_t(q, a->q_st, bq, D, w->kt, a->scale, w->s);
        apply_masks(a, n, h, i0, bq, j0, bk, w->s);
        if (probs)
            for (int64_t ii = 0; ii < bq; ii++)
                memcpy(probs + ii * a->Tk + j0, w->s + ii * BK, (size_t)bk * sizeof(float));
        online_step(w, bq, Dv);
        if (a->p_drop > 0.0f)
            drop_block(a, n, h, i0, bq, j0, bk, w->s);
        p_times_v(w->s, bq, bk, v + j0 * a->v_st, a->v_st, Dv, w->acc);
    }
    for (int64_t ii = 0; ii < bq; ii++) {
        const float inv = w->l[ii] > 0.0f ? 1.0f / w->l[ii] : 0.0f;
        const float lse = w->l[ii] > 0.0f ? w->m[ii] + logf(w->l[ii]) : -INFINITY;
        float *o = a->o + n * a->o_sn + h * a->o_sh + (i0 + ii) * a->o_st;
        for (int64_t d = 0; d < Dv; d++)
            o[d] = w->acc[ii * Dv + d] * inv;
        if (a->lse)
            a->lse[(n * a->H + h) * a->Tq + i0 + ii] = lse;
        if (probs) { /* the stored scores become probabilities; unseen keys 0 */
            float *pr = probs + ii * a->Tk;
            for (int64_t j = 0; j < a->Tk; j++)
                pr[j] = j < jend && lse != -INFINITY ? dc_fast_expf(pr[j] - lse) : 0.0f;
        }
    }
}

static int64_t attn_work(const dc_k_attn *a)
{
    return a->N * a->H * a->Tq * a->Tk * (a->D + a->Dv);
}

/* Inference (nothing recorded) from this many keys and queries on goes to the register-blocked
 * kernel of attn_flash.c; below, this one is faster (docs/performance.md). */
#ifndef DC_ATTN_FLASH_MIN_T
#define DC_ATTN_FLASH_MIN_T 128
#endif

void dc_k_attn_fwd(const dc_k_attn *a)
{
    if (a->Tk >= DC_ATTN_FLASH_MIN_T && a->Tq >= 32 && dc_k_attn_flash_fwd(a, DC_FLASH_AUTO) == 0)
        return;
    const int64_t nqb = (a->Tq + BQ - 1) / BQ, tasks = a->N * a->H * nqb;
    if (tasks == 0)
        return;
    DC_PAR_FOR(attn_work(a) >= (1 << 16), t, tasks, {
        fwd_rows w;
        const int64_t nh = t / nqb, qb = t % nqb;
        fwd_block(a, nh / a->H, nh % a->H, qb * BQ, &w);
    });
}

/* ---- probabilities for need_weights ---- */

void dc_k_attn_weights(const dc_k_attn *a, float *wout)
{
    const int64_t nqb = (a->Tq + BQ - 1) / BQ, tasks = a->N * a->H * nqb;
    DC_PAR_FOR(attn_work(a) >= (1 << 16), t, tasks, {
        float s[BQ * BK], kt[DMAX * BK];
        const int64_t nh = t / nqb, n = nh / a->H, h = nh % a->H, i0 = (t % nqb) * BQ;
        const int64_t bq = a->Tq - i0 < BQ ? a->Tq - i0 : BQ;
        const float *q = a->q + n * a->q_sn + h * a->q_sh + i0 * a->q_st;
        const float *k = a->k + n * a->k_sn + h * a->k_sh;
        const float *lse = a->lse + nh * a->Tq + i0;
        float *wr = wout + (nh * a->Tq + i0) * a->Tk;
        for (int64_t ii = 0; ii < bq; ii++)
            memset(wr + ii * a->Tk, 0, (size_t)a->Tk * sizeof(float));
        const int64_t jend = key_end(a, i0, bq);
        for (int64_t j0 = 0; j0 < jend; j0 += BK) {
            const int64_t bk = jend - j0 < BK ? jend - j0 : BK;
            transpose_block(k + j0 * a->k_st, a->k_st, bk, a->D, kt);
            rows_times_t(q, a->q_st, bq, a->D, kt, a->scale, s);
            apply_masks(a, n, h, i0, bq, j0, bk, s);
            for (int64_t ii = 0; ii < bq; ii++)
                for (int64_t jj = 0; jj < bk; jj++)
                    s[ii * BK + jj] = lse[ii] == -INFINITY
                                          ? 0.0f : dc_fast_expf(s[ii * BK + jj] - lse[ii]);
            if (a->p_drop > 0.0f)
                drop_block(a, n, h, i0, bq, j0, bk, s);
            for (int64_t ii = 0; ii < bq; ii++)
                memcpy(wr + ii * a->Tk + j0, s + ii * BK, (size_t)bk * sizeof(float));
        }
    });
}

/* ---- backward ---- */

typedef struct bwd_work {
    float s[BQ * BK], dp[BQ * BK];
    float kt[DMAX * BK], vt[DMAX * BK];
    float delta[BQ];
} bwd_work;

/* p of queries i0.. × keys j0.. into w->s: from the stored probabilities or recomputed. */
static INLINE void bwd_probs(const dc_k_attn *a, int64_t n, int64_t h, int64_t i0, int64_t bq,
                      int64_t j0, int64_t bk, bwd_work *w)
{
    const int64_t nh = n * a->H + h;
    if (a->probs) {
        for (int64_t ii = 0; ii < bq; ii++) {
            memcpy(w->s + ii * BK, a->probs + (nh * a->Tq + i0 + ii) * a->Tk + j0,
                   (size_t)bk * sizeof(float));
            for (int64_t jj = bk; jj < BK; jj++)
                w->s[ii * BK + jj] = 0.0f;
        }
        return;
    }
    const float *q = a->q + n * a->q_sn + h * a->q_sh + i0 * a->q_st;
    rows_times_t(q, a->q_st, bq, a->D, w->kt, a->scale, w->s);
    apply_masks(a, n, h, i0, bq, j0, bk, w->s);
    for (int64_t ii = 0; ii < bq; ii++) {
        const float lse = a->lse[nh * a->Tq + i0 + ii];
        float *r = w->s + ii * BK;
        if (lse == -INFINITY)
            memset(r, 0, BK * sizeof(float));
        else
            for (int jj = 0; jj < BK; jj++)
                r[jj] = dc_fast_expf(r[jj] - lse);
    }
}

/* One (query block, key block) pair of (n, h): dv, dk of keys j0.. and dq of queries i0.. */
static INLINE void bwd_pair(const dc_k_attn *a, int64_t n, int64_t h, int64_t i0, int64_t j0,
                     int64_t bk, const float *dout, float *dq, float *dk, float *dv,
                     bwd_work *w)
{
    const int64_t bq = a->Tq - i0 < BQ ? a->Tq - i0 : BQ, D = a->D, Dv = a->Dv;
    const int64_t on = n * a->o_sn + h * a->o_sh;
    const float *q = a->q + n * a->q_sn + h * a->q_sh;
    const float *k = a->k + n * a->k_sn + h * a->k_sh;
    bwd_probs(a, n, h, i0, bq, j0, bk, w);
    /* dp = dout · vᵀ (before dropout), s keeps p */
    rows_times_t(dout + on + i0 * a->o_st, a->o_st, bq, Dv, w->vt, 1.0f, w->dp);
    if (a->p_drop > 0.0f) { /* dp ← z·dp; dv uses p·z (w->dp temporarily holds z·dp) */
        float z[BQ * BK];
        for (int64_t x = 0; x < bq * BK; x++)
            z[x] = 1.0f;
        drop_block(a, n, h, i0, bq, j0, bk, z);
        for (int64_t x = 0; x < bq * BK; x++)
            w->dp[x] *= z[x];
        if (dv)
            for (int64_t ii = 0; ii < bq; ii++) {
                const float *g = dout + on + (i0 + ii) * a->o_st;
                for (int64_t jj = 0; jj < bk; jj++) {
                    const float c = w->s[ii * BK + jj] * z[ii * BK + jj];
                    float *r = dv + (j0 + jj) * a->v_st;
                    for (int64_t d = 0; d < Dv; d++)
                        r[d] += c * g[d];
                }
            }
    } else if (dv) {
        for (int64_t ii = 0; ii < bq; ii++) {
            const float *g = dout + on + (i0 + ii) * a->o_st;
            for (int64_t jj = 0; jj < bk; jj++) {
                const float c = w->s[ii * BK + jj];
                float *r = dv + (j0 + jj) * a->v_st;
                if (c != 0.0f)
                    for (int64_t d = 0; d < Dv; d++)
                        r[d] += c * g[d];
            }
        }
    }
    /* ds = p (dp − Δ), scaled once here */
    for (int64_t ii = 0; ii < bq; ii++)
        for (int jj = 0; jj < BK; jj++)
            w->dp[ii * BK + jj] = a->scale * w->s[ii * BK + jj] *
                                  (w->dp[ii * BK + jj] - w->delta[ii]);
    for (int64_t ii = 0; ii < bq; ii++) {
        const float *qi = q + (i0 + ii) * a->q_st;
        float *dqi = dq ? dq + (i0 + ii) * a->q_st : NULL;
        for (int64_t jj = 0; jj < bk; jj++) {
            const float c = w->dp[ii * BK + jj];
            if (c == 0.0f)
                continue;
            if (dqi) {
                const float *kj = k + (j0 + jj) * a->k_st;
                for (int64_t d = 0; d < D; d++)
                    dqi[d] += c * kj[d];
            }
            if (dk) {
                float *dkj = dk + (j0 + jj) * a->k_st;
                for (int64_t d = 0; d < D; d++)
                    dkj[d] += c * qi[d];
            }
        }
    }
}

DC_CLONES static void bwd_head(const dc_k_attn *a, int64_t n, int64_t h, const float *dout,
                               float *dq,
                     float *dk, float *dv, bwd_work *w)
{
    const int64_t on = n * a->o_sn + h * a->o_sh;
    float *dqh = dq ? dq + n * a->q_sn + h * a->q_sh : NULL;
    float *dkh = dk ? dk + n * a->k_sn + h * a->k_sh : NULL;
    float *dvh = dv ? dv + n * a->v_sn + h * a->v_sh : NULL;
    const float *k = a->k + n * a->k_sn + h * a->k_sh, *v = a->v + n * a->v_sn + h * a->v_sh;
    for (int64_t i0 = 0; i0 < a->Tq; i0 += BQ) {
        const int64_t bq = a->Tq - i0 < BQ ? a->Tq - i0 : BQ;
        const int64_t jend = key_end(a, i0, bq);
        for (int64_t ii = 0; ii < bq; ii++) { /* Δ_i = dout_i · o_i */
            const float *g = dout + on + (i0 + ii) * a->o_st;
            const float *o = a->o + on + (i0 + ii) * a->o_st;
            double s = 0.0;
            for (int64_t d = 0; d < a->Dv; d++)
                s += (double)g[d] * o[d];
            w->delta[ii] = (float)s;
        }
        for (int64_t j0 = 0; j0 < jend; j0 += BK) {
            const int64_t bk = jend - j0 < BK ? jend - j0 : BK;
            if (!a->probs)
                transpose_block(k + j0 * a->k_st, a->k_st, bk, a->D, w->kt);
            transpose_block(v + j0 * a->v_st, a->v_st, bk, a->Dv, w->vt);
            bwd_pair(a, n, h, i0, j0, bk, dout, dqh, dkh, dvh, w);
        }
    }
}

void dc_k_attn_bwd(const dc_k_attn *a, const float *dout, float *dq, float *dk, float *dv)
{
    const int64_t tasks = a->N * a->H;
    if (tasks == 0 || (!dq && !dk && !dv))
        return;
    DC_PAR_FOR(attn_work(a) >= (1 << 16), t, tasks, {
        bwd_work w;
        bwd_head(a, t / a->H, t % a->H, dout, dq, dk, dv, &w);
    });
}
