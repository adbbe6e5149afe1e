/*
 * attn_flash.c - scaled dot-product attention, inference forward for long sequences
 * (flash-style, register-blocked). dc_k_attn_fwd (attn_k.c) hands it the cases with nothing to
 * record (no lse, no stored probabilities, no dropout) past a length threshold.
 *
 * Per thread, per head (n, h) it meets, once:
 *   kp [Tk/KC][D][KC]   the keys, KC side by side per d    (Q·Kᵀ broadcasts one key element)
 *   vp [Dv/KC][Tk][KC]  the values, KC columns side by side (P·V broadcasts one value element)
 * Per block of BQ = W·QV queries (W vector lanes; AVX-512: 48, AVX2: 24), queries in the lanes:
 *   qt = (scale·q)ᵀ [D][BQ]; m = −inf, l = 0, otᵀ = 0
 *   for each block of BK = 64 keys:
 *     st = qt·kp  [BK][BQ]        register tiles of KC keys x QV query vectors (AVX-512: 8 x 3 =
 *                                 24 zmm accumulators, 11 loads per 24 FMAs)
 *     st += attn mask, key-padding mask; −inf where causal hides a key (a pass over st, only
 *                                 when there are masks)
 *     m' = max(m, max_j st), α = e^(m − m'), st = e^(st − m'), l = α·l + Σ_j st, m = m'
 *     otᵀ = α·otᵀ + vpᵀ·st          register tiles of KC output columns x QV query vectors
 *   o = otᵀ / l (0 where l = 0: a fully masked row)
 * No score matrix beyond one block exists; memory is the panels (Tk·(D + Dv) floats) and the
 * tiles, per thread: linear in Tk. The blocked kernel instead transposed each key block again
 * for every block of 32 queries and kept its accumulators in arrays.
 *
 * Exponential: e^x = 2^n·e^r, n = round(x/ln 2), r = x − n·ln 2 (two-part ln 2), e^r from the
 * same degree-6 form as dc_fast_expf (fastmath.h) evaluated with fused multiply-adds; 2^n by
 * vscalef (AVX-512) or in the exponent bits (AVX2); 0 below −87 (the arguments here are ≤ 0:
 * s − max). Measured max relative error against e^x in double over [−87, 0]: see
 * tests/test_attn_flash.c (flash_exp_is_accurate): 9.1e-8 with FMA (AVX-512, AVX2), 1.2e-7
 * scalar (dc_fast_expf), against 6.0e-8 for libm expf; bound 1.5e-7.
 *
 * Threads: the tasks (n, h, query block) are cut into one contiguous range per thread; a thread
 * packs a head when its range enters it. Every output element is computed by one task in a
 * fixed order, so the result is the same bits at any thread count.
 */
#include "kernels/attn_flash.h"
#include "kernels/fastmath.h"
#include "kernels/par.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FL_X86 1
#include <immintrin.h>
#else
#define FL_X86 0
#endif

#if defined(__clang__)
#define FL_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define FL_UNROLL _Pragma("GCC unroll 16")
#else
#define FL_UNROLL
#endif

#if defined(__GNUC__)
#define FL_INLINE static inline __attribute__((always_inline))
#else
#define FL_INLINE static inline
#endif

enum { FL_BK = 64 };

/* One thread's scratch (see the file comment). */
typedef struct fl_work {
    float *kp, *vp, *qt, *st, *ot, *m, *l, *alpha;
    int64_t tkp, dvp; /* Tk and Dv rounded up to KC */
} fl_work;

/* Register tile of an instruction set: W lanes, QV query vectors, KC keys / columns. */
typedef struct fl_geom {
    int64_t W, QV, KC;
} fl_geom;

static fl_geom fl_geometry(int isa)
{
    switch (isa) {
    case DC_FLASH_AVX512: return (fl_geom){16, 3, 8};
    case DC_FLASH_AVX2: return (fl_geom){8, 3, 4};
    default: return (fl_geom){1, 4, 4};
    }
}

static int fl_resolve(int isa);

int dc_k_attn_flash_supported(int isa)
{
    switch (isa) {
    case DC_FLASH_SCALAR: return 1;
#if FL_X86
    case DC_FLASH_AVX512: return __builtin_cpu_supports("avx512f");
    case DC_FLASH_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    case DC_FLASH_AUTO: return fl_resolve(DC_FLASH_AUTO) >= 0;
    default: return 0;
    }
}

static int fl_resolve(int isa)
{
    if (isa != DC_FLASH_AUTO)
        return dc_k_attn_flash_supported(isa) ? isa : -1;
    if (dc_k_attn_flash_supported(DC_FLASH_AVX512))
        return DC_FLASH_AVX512;
    return dc_k_attn_flash_supported(DC_FLASH_AVX2) ? DC_FLASH_AVX2 : -1;
}

/* ---- the parts that do not depend on the instruction set ---- */

static int64_t fl_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* One past the last key any query of [i0, i0 + bq) may see. */
static int64_t fl_key_end(const dc_k_attn *a, int64_t i0, int64_t bq)
{
    if (!a->causal)
        return a->Tk;
    const int64_t e = i0 + bq - 1 + a->q_offset + 1;
    return e < 0 ? 0 : e < a->Tk ? e : a->Tk;
}

static int fl_has_masks(const dc_k_attn *a) { return a->mask || a->kpm || a->causal; }

/* qt = (scale·q)ᵀ of queries [i0, i0 + bq) of (n, h), zero in lanes bq..BQ; m = −inf, l = 0,
 * ot = 0. */
static void fl_load_queries(const dc_k_attn *a, int64_t n, int64_t h, int64_t i0, int64_t bq,
                            int64_t BQ, const fl_work *w)
{
    const float *q = a->q + n * a->q_sn + h * a->q_sh + i0 * a->q_st;
    for (int64_t i = 0; i < bq; i++) { /* rows read in order: a column walk of the packed
                                          [T, 3E] rows maps to a few L1 sets and thrashes */
        const float *qi = q + i * a->q_st;
        float *col = w->qt + i;
        for (int64_t d = 0; d < a->D; d++)
            col[d * BQ] = a->scale * qi[d];
    }
    for (int64_t i = bq; i < BQ; i++)
        for (int64_t d = 0; d < a->D; d++)
            w->qt[d * BQ + i] = 0.0f;
    for (int64_t i = 0; i < BQ; i++) {
        w->m[i] = -INFINITY;
        w->l[i] = 0.0f;
    }
    memset(w->ot, 0, (size_t)(w->dvp * BQ) * sizeof(float));
}

/* The masks on st [nk][BQ] (keys j0.., queries i0..), in dc_k_attn_fwd's order: + attn mask,
 * + key-padding mask, then −inf where causal hides a key and for the padding keys bk..nk. */
static void fl_masks(const dc_k_attn *a, int64_t n, int64_t h, int64_t i0, int64_t bq,
                     int64_t BQ, int64_t j0, int64_t bk, int64_t nk, float *st)
{
    if (a->mask) {
        const float *m = a->mask + n * a->m_sn + h * a->m_sh + i0 * a->m_sq + j0 * a->m_sk;
        for (int64_t j = 0; j < bk; j++)
            for (int64_t i = 0; i < bq; i++)
                st[j * BQ + i] += m[i * a->m_sq + j * a->m_sk];
    }
    if (a->kpm) {
        const float *kp = a->kpm + n * a->Tk + j0;
        for (int64_t j = 0; j < bk; j++)
            for (int64_t i = 0; i < BQ; i++)
                st[j * BQ + i] += kp[j];
    }
    if (a->causal)
        for (int64_t j = 0; j < bk; j++) { /* query i sees key j iff j <= i + q_offset */
            int64_t hide = j0 + j - a->q_offset - i0;
            hide = hide < 0 ? 0 : hide > BQ ? BQ : hide;
            for (int64_t i = 0; i < hide; i++)
                st[j * BQ + i] = -INFINITY;
        }
    for (int64_t j = bk; j < nk; j++)
        for (int64_t i = 0; i < BQ; i++)
            st[j * BQ + i] = -INFINITY;
}

/* o of queries [i0, i0 + bq) = otᵀ / l (0 for a fully masked row). */
static void fl_store_out(const dc_k_attn *a, int64_t n, int64_t h, int64_t i0, int64_t bq,
                         int64_t BQ, const fl_work *w)
{
    for (int64_t i = 0; i < bq; i++) {
        const float inv = w->l[i] > 0.0f ? 1.0f / w->l[i] : 0.0f;
        float *o = a->o + n * a->o_sn + h * a->o_sh + (i0 + i) * a->o_st;
        for (int64_t d = 0; d < a->Dv; d++)
            o[d] = w->ot[d * BQ + i] * inv;
    }
}

/* ---- the micro-kernels, once per instruction set (attn_flash_body.h) ---- */

#if FL_X86
#define FL_T512 __attribute__((target("avx512f")))
#define FL_T256 __attribute__((target("avx2,fma")))

/* The constants of dc_fast_expf (fastmath.h). */
#define FL_LOG2E 1.44269504088896341f
#define FL_LN2_HI 0.693145751953125f
#define FL_LN2_LO 1.428606765330187e-06f
#define FL_C4 0.0013933650916442275f
#define FL_C3 0.008363178931176662f
#define FL_C2 0.04166646674275398f
#define FL_C1 0.16666576266288757f

FL_INLINE FL_T512 __m512 fl_exp512(__m512 x)
{
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(FL_LOG2E)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(FL_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(FL_LN2_LO), r);
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(FL_C4), r, _mm512_set1_ps(FL_C3));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(FL_C2));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(FL_C1));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.5f));
    const __m512 e = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(r, r), q, r),
                                   _mm512_set1_ps(1.0f));
    /* 0 below −87 (and for −inf); NaN stays NaN (unordered compares true) */
    const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_NLT_UQ);
    return _mm512_maskz_scalef_ps(keep, e, n);
}

FL_INLINE FL_T512 __m512 fl_noinf512(__m512 x)
{
    const __mmask16 inf = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ);
    return _mm512_mask_blend_ps(inf, x, _mm512_setzero_ps());
}

/* Valid for x <= 88 (the arguments here are <= 0). */
FL_INLINE FL_T256 __m256 fl_exp256(__m256 x0)
{
    const __m256 x = _mm256_max_ps(_mm256_set1_ps(-87.0f),
                                   _mm256_min_ps(_mm256_set1_ps(88.0f), x0));
    const __m256 shifter = _mm256_set1_ps(12582912.0f); /* 1.5·2^23: t's low bits hold n */
    const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(FL_LOG2E), shifter);
    const __m256 n = _mm256_sub_ps(t, shifter);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(FL_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(FL_LN2_LO), r);
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(FL_C4), r, _mm256_set1_ps(FL_C3));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(FL_C2));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(FL_C1));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.5f));
    const __m256 e = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r),
                                   _mm256_set1_ps(1.0f));
    const __m256i bias = _mm256_set1_epi32(0x4B400000 - 127);
    const __m256i s = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), bias), 23);
    const __m256 y = _mm256_mul_ps(e, _mm256_castsi256_ps(s));
    const __m256 keep = _mm256_cmp_ps(x0, _mm256_set1_ps(-87.0f), _CMP_NLT_UQ);
    return _mm256_and_ps(y, keep);
}

FL_INLINE FL_T256 __m256 fl_noinf256(__m256 x)
{
    const __m256 inf = _mm256_cmp_ps(x, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ);
    return _mm256_blendv_ps(x, _mm256_setzero_ps(), inf);
}

#define FL_SUFFIX avx512
#define FL_TARGET FL_T512
#define FL_V __m512
#define FL_W 16
#define FL_QV 3
#define FL_KC 8
#define FL_LOAD(p) _mm512_loadu_ps(p)
#define FL_STORE(p, x) _mm512_storeu_ps((p), (x))
#define FL_BCAST(p) _mm512_set1_ps(*(p))
#define FL_ZERO _mm512_setzero_ps()
#define FL_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define FL_MUL(a, b) _mm512_mul_ps((a), (b))
#define FL_ADD(a, b) _mm512_add_ps((a), (b))
#define FL_SUB(a, b) _mm512_sub_ps((a), (b))
#define FL_MAX(a, b) _mm512_max_ps((a), (b))
#define FL_EXP(x) fl_exp512(x)
#define FL_NOINF(x) fl_noinf512(x)
#include "kernels/attn_flash_body.h" /* it #undefs the FL_ parameters */

#define FL_SUFFIX avx2
#define FL_TARGET FL_T256
#define FL_V __m256
#define FL_W 8
#define FL_QV 3
#define FL_KC 4
#define FL_LOAD(p) _mm256_loadu_ps(p)
#define FL_STORE(p, x) _mm256_storeu_ps((p), (x))
#define FL_BCAST(p) _mm256_broadcast_ss(p)
#define FL_ZERO _mm256_setzero_ps()
#define FL_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define FL_MUL(a, b) _mm256_mul_ps((a), (b))
#define FL_ADD(a, b) _mm256_add_ps((a), (b))
#define FL_SUB(a, b) _mm256_sub_ps((a), (b))
#define FL_MAX(a, b) _mm256_max_ps((a), (b))
#define FL_EXP(x) fl_exp256(x)
#define FL_NOINF(x) fl_noinf256(x)
#include "kernels/attn_flash_body.h" /* it #undefs the FL_ parameters */
#endif /* FL_X86 */

/* The portable set: one lane, plain C (no contraction: ISO C mode). */
#define FL_SUFFIX scalar
#define FL_TARGET
#define FL_V float
#define FL_W 1
#define FL_QV 4
#define FL_KC 4
#define FL_LOAD(p) (*(p))
#define FL_STORE(p, x) (*(p) = (x))
#define FL_BCAST(p) (*(p))
#define FL_ZERO 0.0f
#define FL_FMA(a, b, c) ((a) * (b) + (c))
#define FL_MUL(a, b) ((a) * (b))
#define FL_ADD(a, b) ((a) + (b))
#define FL_SUB(a, b) ((a) - (b))
#define FL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define FL_EXP(x) dc_fast_expf(x)
#define FL_NOINF(x) ((x) == -INFINITY ? 0.0f : (x))
#include "kernels/attn_flash_body.h"

/* ---- driver ---- */

/* Floats of one thread's scratch, each part rounded up to 16 floats (64 bytes). */
static int64_t fl_floats(const dc_k_attn *a, fl_geom g, int64_t *tkp, int64_t *dvp)
{
    const int64_t BQ = g.W * g.QV;
    *tkp = fl_up(a->Tk > 0 ? a->Tk : 1, g.KC);
    *dvp = fl_up(a->Dv, g.KC);
    return fl_up(*tkp * a->D, 16) + fl_up(*dvp * *tkp, 16) + fl_up(a->D * BQ, 16) +
           fl_up(FL_BK * BQ, 16) + fl_up(*dvp * BQ, 16) + 3 * fl_up(BQ, 16);
}

size_t dc_k_attn_flash_bytes(const dc_k_attn *a, int isa)
{
    int64_t tkp, dvp;
    const int r = fl_resolve(isa);
    return r < 0 ? 0 : (size_t)fl_floats(a, fl_geometry(r), &tkp, &dvp) * sizeof(float);
}

/* Carve one thread's scratch out of base. */
static fl_work fl_carve(const dc_k_attn *a, fl_geom g, float *base)
{
    fl_work w;
    const int64_t BQ = g.W * g.QV;
    fl_floats(a, g, &w.tkp, &w.dvp);
    w.kp = base;
    w.vp = w.kp + fl_up(w.tkp * a->D, 16);
    w.qt = w.vp + fl_up(w.dvp * w.tkp, 16);
    w.st = w.qt + fl_up(a->D * BQ, 16);
    w.ot = w.st + fl_up(FL_BK * BQ, 16);
    w.m = w.ot + fl_up(w.dvp * BQ, 16);
    w.l = w.m + fl_up(BQ, 16);
    w.alpha = w.l + fl_up(BQ, 16);
    return w;
}

/* Thread r of nt: its contiguous range of the tasks (n, h, query block). */
static void fl_range(const dc_k_attn *a, int isa, float *base, int r, int nt)
{
    const fl_geom g = fl_geometry(isa);
    const int64_t BQ = g.W * g.QV, nqb = (a->Tq + BQ - 1) / BQ, tasks = a->N * a->H * nqb;
    const int64_t t0 = tasks * r / nt, t1 = tasks * (r + 1) / nt;
    const fl_work w = fl_carve(a, g, base);
    switch (isa) {
#if FL_X86
    case DC_FLASH_AVX512: fl_run_avx512(a, &w, t0, t1, nqb); break;
    case DC_FLASH_AVX2: fl_run_avx2(a, &w, t0, t1, nqb); break;
#endif
    default: fl_run_scalar(a, &w, t0, t1, nqb); break;
    }
}

int dc_k_attn_flash_fwd(const dc_k_attn *a, int isa)
{
    if (a->lse || a->probs || a->p_drop != 0.0f || a->D < 1 || a->D > 256 || a->Dv < 1 ||
        a->Dv > 256)
        return -1;
    isa = fl_resolve(isa);
    if (isa < 0)
        return -1;
    const fl_geom g = fl_geometry(isa);
    const int64_t BQ = g.W * g.QV, tasks = a->N * a->H * ((a->Tq + BQ - 1) / BQ);
    if (tasks == 0)
        return 0;
    int nt = 1;
#ifdef _OPENMP
    const int64_t work = a->N * a->H * a->Tq * a->Tk * (a->D + a->Dv);
    if (work >= (1 << 16) && dc_par_ok())
        nt = (int)(tasks < omp_get_max_threads() ? tasks : omp_get_max_threads());
#endif
    const size_t per = dc_k_attn_flash_bytes(a, isa);
    char *buf = malloc(per * (size_t)nt + 64);
    if (!buf)
        return -1;
    float *base = (float *)(buf + (64 - (uintptr_t)buf % 64) % 64);
    if (nt > 1) {
#ifdef _OPENMP
        DC_PRAGMA(omp parallel num_threads(nt))
        {
            const int r = omp_get_thread_num(), got = omp_get_num_threads();
            fl_range(a, isa, base + (size_t)r * (per / sizeof(float)), r, got);
        }
#endif
    } else {
        fl_range(a, isa, base, 0, 1);
    }
    free(buf);
    return 0;
}

void dc_k_flash_exp(int isa, const float *x, float *y, int64_t n)
{
    switch (isa == DC_FLASH_AUTO ? fl_resolve(isa) : isa) {
#if FL_X86
    case DC_FLASH_AVX512: fl_exp_array_avx512(x, y, n); break;
    case DC_FLASH_AVX2: fl_exp_array_avx2(x, y, n); break;
#endif
    default: fl_exp_array_scalar(x, y, n); break;
    }
}
