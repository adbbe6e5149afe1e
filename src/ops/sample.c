/*
 * sample.c - drawing a symbol from a row of logits (text generation): arg-max at temperature 0,
 * else softmax(logits / temperature) restricted to the top k, sampled by inverting the CDF.
 * Nothing is allocated: the top-k threshold is found by k passes over the row.
 */
#include "core/internal.h"

#include <math.h>

/* Index of the largest of l[0..K) (the first on ties, like torch.argmax). */
static int argmax_first(const float *l, int K)
{
    int best = 0;
    for (int i = 1; i < K; i++)
        if (l[i] > l[best])
            best = i;
    return best;
}

/* The value of the top_k-th largest logit: every logit >= it is kept. Walks down the distinct
 * values, counting ties, until top_k logits are covered (ties at the boundary all stay). */
static float topk_threshold(const float *l, int K, int top_k)
{
    float thr = INFINITY;
    int taken = 0;
    while (taken < top_k) {
        int found = 0;
        float m = -INFINITY;
        for (int i = 0; i < K; i++)
            if (l[i] < thr && (!found || l[i] > m)) {
                m = l[i];
                found = 1;
            }
        if (!found)
            break;
        for (int i = 0; i < K; i++)
            taken += l[i] == m;
        thr = m;
    }
    return thr;
}

/* A uniform double in [0, 1) with 53 random bits (two draws). */
static double uniform53(dc_rng *rng)
{
    uint32_t a = dc_rng_u32(rng) >> 5, b = dc_rng_u32(rng) >> 6;
    return ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
}

/* w_i = exp((l_i - m) / T) for kept logits (l_i >= thr, finite), else 0. */
static inline double weight(float li, float thr, double m, double T)
{
    return (li >= thr && li > -INFINITY) ? exp(((double)li - m) / T) : 0.0;
}

int dc_sample_logits(const float *logits, int K, float temperature, int top_k, dc_rng *rng)
{
    if (!logits || K < 1) {
        dc_err(DC_ERR_ARG, "sample: need logits and K >= 1 (got K = %d)", K);
        return -1;
    }
    if (!(temperature >= 0.0f) || isinf(temperature)) {
        dc_err(DC_ERR_ARG, "sample: temperature %g must be finite and >= 0", (double)temperature);
        return -1;
    }
    for (int i = 0; i < K; i++)
        if (isnan(logits[i]) || logits[i] == INFINITY) {
            dc_err(DC_ERR_NUMERIC, "sample: logit %d is %g", i, (double)logits[i]);
            return -1;
        }
    int best = argmax_first(logits, K);
    if (logits[best] == -INFINITY) {
        dc_err(DC_ERR_NUMERIC, "sample: all %d logits are -inf", K);
        return -1;
    }
    if (temperature == 0.0f || top_k == 1 || K == 1)
        return best;
    if (!rng) {
        dc_err(DC_ERR_ARG, "sample: temperature %g needs a random generator", (double)temperature);
        return -1;
    }
    float thr = (top_k > 0 && top_k < K) ? topk_threshold(logits, K, top_k) : -INFINITY;
    double m = logits[best], T = temperature, sum = 0.0;
    for (int i = 0; i < K; i++) /* in index order: the same sum at any build */
        sum += weight(logits[i], thr, m, T);
    double u = uniform53(rng) * sum, cum = 0.0; /* sum >= 1: the max has weight exp(0) */
    int last = best;
    for (int i = 0; i < K; i++) {
        double w = weight(logits[i], thr, m, T);
        if (w <= 0.0)
            continue;
        cum += w;
        last = i;
        if (u < cum)
            return i;
    }
    return last; /* u rounded up to the sum */
}
