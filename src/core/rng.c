/*
 * rng.c - PCG32 (O'Neill 2014, XSH-RR output): 64-bit LCG state, 32-bit output, selectable
 * stream. Small, fast, statistically good and trivially serialisable (two words) for checkpoints.
 */
#include "internal.h"

#include <math.h>

#define PCG_MULT 6364136223846793005ULL

uint32_t dc_rng_u32(dc_rng *r)
{
    uint64_t old = r->state;
    r->state = old * PCG_MULT + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

void dc_rng_seed(dc_rng *r, uint64_t seed, uint64_t stream)
{
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    dc_rng_u32(r);
    r->state += seed;
    dc_rng_u32(r);
}

float dc_rng_uniform(dc_rng *r)
{
    return (float)(dc_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

float dc_rng_normal(dc_rng *r)
{
    /* Box-Muller; u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(dc_rng_u32(r) >> 8) + 1.0) / 16777216.0;
    double u2 = (double)(dc_rng_u32(r) >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t dc_rng_below(dc_rng *r, uint32_t n)
{
    /* Lemire: multiply-shift with rejection of the biased low zone. */
    uint64_t m = (uint64_t)dc_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (low < t) {
            m = (uint64_t)dc_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void dc_rng_shuffle(dc_rng *r, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)dc_rng_below(r, (uint32_t)(i + 1));
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
