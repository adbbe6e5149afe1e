/*
 * sample.c - drawing a symbol from a row of logits (text generation): arg-max at temperature 0,
 * else softmax(logits / temperature) restricted to the top k and then to the nucleus of mass
 * top_p, sampled by inverting the CDF. Without top-p nothing is allocated (the top-k threshold is
 * found by k passes over the row); top-p sorts an index array of K ints.
 */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>

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

/* The row after temperature and top-k: w[i] = weight(l_i) (0 for dropped logits). */
typedef struct {
    const float *l;
    float thr;
    double m, T;
} sample_row;

static double row_w(const sample_row *r, int i) { return weight(r->l[i], r->thr, r->m, r->T); }

/* One entry of the nucleus order: larger weight first, then smaller index (a total order, so
 * the result does not depend on qsort's stability). */
typedef struct {
    double w;
    int i;
} wi_pair;

static int nucleus_cmp(const void *pa, const void *pb)
{
    const wi_pair *a = pa, *b = pb;
    if (a->w != b->w)
        return a->w > b->w ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* The last member, in nucleus order, of the smallest prefix whose weight reaches top_p · sum:
 * index i is kept iff w_i > w_last, or w_i == w_last and i <= last. -1 on DC_ERR_NOMEM. */
static int nucleus_last(const sample_row *r, int K, double top_p, double sum)
{
    wi_pair *ord = malloc((size_t)K * sizeof *ord);
    if (!ord) {
        dc_err(DC_ERR_NOMEM, "sample: top-p order of %d logits", K);
        return -1;
    }
    for (int i = 0; i < K; i++)
        ord[i] = (wi_pair){row_w(r, i), i};
    qsort(ord, (size_t)K, sizeof *ord, nucleus_cmp);
    const double need = top_p * sum;
    double cum = 0.0;
    int last = ord[0].i;
    for (int j = 0; j < K && ord[j].w > 0.0; j++) { /* cum short of need by rounding: all stay */
        last = ord[j].i;
        cum += ord[j].w;
        if (cum >= need)
            break;
    }
    free(ord);
    return last;
}

int dc_sample_logits_p(const float *logits, int K, float temperature, int top_k, float top_p,
                       dc_rng *rng)
{
    if (!logits || K < 1) {
        dc_err(DC_ERR_ARG, "sample: need logits and K >= 1 (got K = %d)", K);
        return -1;
    }
    if (!(temperature >= 0.0f) || isinf(temperature)) {
        dc_err(DC_ERR_ARG, "sample: temperature %g must be finite and >= 0", (double)temperature);
        return -1;
    }
    if (!(top_p > 0.0f && top_p <= 1.0f)) {
        dc_err(DC_ERR_ARG, "sample: top_p %g must be in (0, 1]", (double)top_p);
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
    sample_row r = {logits, (top_k > 0 && top_k < K) ? topk_threshold(logits, K, top_k) : -INFINITY,
                    logits[best], temperature};
    double sum = 0.0;
    for (int i = 0; i < K; i++) /* in index order: the same sum at any build */
        sum += row_w(&r, i);
    int nl = -1; /* the nucleus' last member; -1: no top-p cut */
    double wl = 0.0;
    if (top_p < 1.0f) {
        if ((nl = nucleus_last(&r, K, top_p, sum)) < 0)
            return -1;
        wl = row_w(&r, nl);
        sum = 0.0; /* renormalised over the nucleus */
        for (int i = 0; i < K; i++) {
            const double w = row_w(&r, i);
            sum += (w > wl || (w == wl && i <= nl)) ? w : 0.0;
        }
    }
    double u = uniform53(rng) * sum, cum = 0.0; /* sum >= 1: the max has weight exp(0) */
    int last = best;
    for (int i = 0; i < K; i++) {
        double w = row_w(&r, i);
        if (w <= 0.0 || (nl >= 0 && !(w > wl || (w == wl && i <= nl))))
            continue;
        cum += w;
        last = i;
        if (u < cum)
            return i;
    }
    return last; /* u rounded up to the sum */
}

int dc_sample_logits(const float *logits, int K, float temperature, int top_k, dc_rng *rng)
{
    return dc_sample_logits_p(logits, K, temperature, top_k, 1.0f, rng);
}
