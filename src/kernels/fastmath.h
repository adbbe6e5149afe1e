/*
 * fastmath.h - exp, sigmoid and tanh for the hot loops of the recurrent cells and activations,
 * written so that a loop calling them vectorises (no libm call, no branch, no table).
 *
 *   exp(x) = 2^n · e^r,  n = round(x / ln 2),  r = x − n·ln 2 in [−ln2/2, ln2/2]
 *            e^r ≈ 1 + r + r²·q(r), q of degree 4 fitted (least squares on Chebyshev nodes) to
 *            (e^r − 1 − r)/r²; 2^n is built in the exponent bits. Max relative error 1.2e-7
 *            on [−87, 88]; 0 below −87 and +inf above 88 (where expf overflows from 88.72:
 *            only the saturation matters to σ and tanh, the only users).
 *   tanh(x) = x + x³·p(x²) for |x| < 0.625 (p of degree 4, fitted the same way, rel. error 9e-8),
 *             else sign(x)·(1 − 2/(e^{2|x|} + 1)).
 *   σ(x)    = 1/(1 + e^{−x}).
 *   erf(v)  = ±E(|v|), three pieces chosen by selects (all three computed, so the loop vectorises):
 *             |v| < 0.75:  v + v·S(v²), S of degree 7 fitted to erf(v)/v − 1 (the leading v is
 *                          exact, so the rounding stays under an ulp);
 *             |v| < 1.5:   e0 + s·M(s), s = |v| − 1.125, e0 = erf(1.125) rounded to float and M of
 *                          degree 8 fitted to the rest (a Taylor-like piece where the first one's
 *                          alternating terms and the third one's erfc both lose an ulp);
 *             else:        1 − e^{−v²}·Q(t), t = 1/(1 + |v|/2), Q of degree 8 fitted on |v| in
 *                          [0.5, 6] to erfc(|v|)·e^{v²} (erfc's relative error 2e-8, e^{−v²} by
 *                          dc_fast_expf; both shrink by erfc/erf < 0.04 here).
 *             The exact GELU, x/2·(1 + erf(x/√2)), is computed through it in training and in
 *             BERT's inference path alike (one formula, so the two give the same bits).
 *             Compared with erf in double over every float in [0, 10] (and erf(−v) = −erf(v)):
 *             max 1.03 ulp (78 floats above 1 ulp, all near 0.78; libm's erff: 0.97 ulp).
 *             dc_erff_e takes e^{−v²} from the caller (GELU's backward needs it for φ as well).
 * NaN in, NaN out (the clamps are comparisons that a NaN fails). libm's expf/tanhf agree to a few
 * ulp; PyTorch's vectorised kernels use approximations of the same order.
 */
#ifndef DC_FASTMATH_H
#define DC_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Compute-bound elementwise kernels (the recurrent cells, sigmoid, tanh) are compiled three times,
 * for AVX-512, AVX2 and the baseline, and the loader picks one for the CPU (GCC/Clang
 * target_clones, an ifunc). Without -ffp-contract the clones do the same float operations, so
 * their results are bitwise equal; only the speed differs. GCC only: Clang 14 names the resolver
 * differently unless every declaration carries the attribute, so Clang builds keep the baseline. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__) && \
    !defined(DC_NO_CLONES)
#define DC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DC_CLONES
#endif

static inline float dc_fast_expf(float x0)
{
    float x = x0;
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693145751953125f,
                ln2_lo = 1.428606765330187e-06f, shifter = 12582912.0f; /* 1.5·2^23 */
    x = x > 88.0f ? 88.0f : x;
    x = x < -87.0f ? -87.0f : x;
    /* t = n + 1.5·2^23 rounds x/ln2 to the nearest integer n held in t's low mantissa bits */
    const float t = x * log2e + shifter, n = t - shifter;
    const float r = (x - n * ln2_hi) - n * ln2_lo;
    float q = 0.0013933650916442275f;
    q = q * r + 0.008363178931176662f;
    q = q * r + 0.04166646674275398f;
    q = q * r + 0.16666576266288757f;
    q = q * r + 0.5f;
    const float e = 1.0f + r + r * r * q;
    uint32_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    sb = (tb - 0x4B400000u + 127u) << 23; /* n + 127 in the exponent field: 2^n */
    float s;
    memcpy(&s, &sb, sizeof s);
    const float y = e * s;
    /* saturate like expf: 0 below -87 (expf gives at most 1.6e-38 there), +inf above 88 */
    return x0 < -87.0f ? 0.0f : x0 > 88.0f ? (float)HUGE_VAL : y;
}

static inline float dc_fast_sigmoidf(float x) { return 1.0f / (1.0f + dc_fast_expf(-x)); }

static inline float dc_fast_tanhf(float x)
{
    const float a = x < 0.0f ? -x : x, z = a * a;
    float p = -0.006104839500039816f;
    p = p * z + 0.02100355736911297f;
    p = p * z - 0.05385247617959976f;
    p = p * z + 0.13332782685756683f;
    p = p * z - 0.333333283662796f;
    const float small = a + a * z * p;
    const float big = 1.0f - 2.0f / (dc_fast_expf(2.0f * a) + 1.0f);
    const float m = a < 0.625f ? small : big;
    return x < 0.0f ? -m : m;
}


/* erf(v) given e = e^{−v²} (see the file comment: within 1.03 ulp of erf over all floats). */
static inline float dc_erff_e(float v, float e)
{
    const float z = v * v, av = v < 0.0f ? -v : v;
    float p = -7.641677257e-06f; /* S(z) = erf(v)/v − 1 */
    p = p * z + 1.043177836e-04f;
    p = p * z - 8.347796975e-04f;
    p = p * z + 5.209903698e-03f;
    p = p * z - 2.686074004e-02f;
    p = p * z + 1.128368825e-01f;
    p = p * z - 3.761263192e-01f;
    p = p * z + 1.283791661e-01f;
    const float small = v + v * p;
    const float s = av - 1.125f;
    float m = -4.185732105e-04f; /* M(s) = (erf(1.125 + s) − e0)/s */
    m = m * s - 1.061408967e-02f;
    m = m * s + 9.613739327e-03f;
    m = m * s + 1.688991301e-02f;
    m = m * s - 6.132399291e-02f;
    m = m * s + 2.785238624e-02f;
    m = m * s + 1.624523401e-01f;
    m = m * s - 3.580547571e-01f;
    m = m * s + 3.182739615e-01f;
    const float mid = 8.883882165e-01f + s * m;
    const float t = 1.0f / (1.0f + 0.5f * av);
    float q = 1.40763912e-03f; /* erfc(|v|) = e^{−v²}·Q(t) */
    q = q * t + 1.07143037e-01f;
    q = q * t - 4.37593967e-01f;
    q = q * t + 5.17178953e-01f;
    q = q * t - 6.72122613e-02f;
    q = q * t + 3.30438465e-01f;
    q = q * t + 2.64636368e-01f;
    q = q * t + 2.84136385e-01f;
    q = q * t - 1.02639955e-04f;
    const float big = 1.0f - e * q;
    const float mb = av < 1.5f ? mid : big;
    return av < 0.75f ? small : v < 0.0f ? -mb : mb;
}

static inline float dc_erff(float v) { return dc_erff_e(v, dc_fast_expf(-(v * v))); }

#endif
