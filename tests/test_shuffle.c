/*
 * test_shuffle.c - dc_rng_shuffle is an unbiased Fisher-Yates shuffle: every order of 3 items
 * equally likely (a chi-squared test), on average one fixed point per permutation (Sattolo's
 * variant, which draws from [0, i) instead of [0, i], gives only cyclic orders and none), each
 * item at each position equally often; and one pinned order so a change of the sequence that
 * a seed gives (which changes every training run's data order) is noticed. Fixed seeds: the
 * statistics are deterministic, the thresholds sit far from the values an unbiased shuffle gives.
 */
#include "harness.h"

#include <string.h>

static void identity(int64_t *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = i;
}

/* Σ (observed - expected)² / expected over the 6 orders of {0, 1, 2}; 5 degrees of freedom,
 * P(χ² > 20.5) = 0.001. */
TEST(shuffle_all_six_orders_of_three_are_equally_likely)
{
    enum { DRAWS = 6000 };
    static const int64_t orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                         {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    int count[6] = {0};
    dc_rng r;
    dc_rng_seed(&r, 20240601, 3);
    for (int d = 0; d < DRAWS; d++) {
        int64_t v[3];
        identity(v, 3);
        dc_rng_shuffle(&r, v, 3);
        int k = 0;
        while (k < 6 && memcmp(v, orders[k], sizeof v))
            k++;
        CHECK(k < 6, "not a permutation: %lld %lld %lld", (long long)v[0], (long long)v[1],
              (long long)v[2]);
        if (k < 6)
            count[k]++;
    }
    double chi2 = 0, e = DRAWS / 6.0;
    for (int k = 0; k < 6; k++)
        chi2 += (count[k] - e) * (count[k] - e) / e;
    CHECK(chi2 < 20.5, "chi-squared %.1f over the 6 orders (counts %d %d %d %d %d %d)", chi2,
          count[0], count[1], count[2], count[3], count[4], count[5]);
    for (int k = 0; k < 6; k++)
        CHECK(count[k] > 0, "order %d never drawn", k);
}

/* The number of fixed points of a uniform permutation has mean 1 (and variance 1) for n >= 2:
 * over 4000 draws the mean is within 0.1 of 1 with overwhelming probability (6 standard errors). */
TEST(shuffle_has_one_fixed_point_on_average_and_no_position_bias)
{
    enum { N = 10, DRAWS = 4000 };
    int at[N][N] = {{0}};
    long fixed = 0;
    dc_rng r;
    dc_rng_seed(&r, 7, 11);
    for (int d = 0; d < DRAWS; d++) {
        int64_t v[N];
        identity(v, N);
        dc_rng_shuffle(&r, v, N);
        for (int i = 0; i < N; i++) {
            fixed += v[i] == i;
            if (v[i] >= 0 && v[i] < N)
                at[i][v[i]]++;
        }
    }
    double mean = (double)fixed / DRAWS;
    CHECK(mean > 0.9 && mean < 1.1, "mean fixed points %.3f, expected 1", mean);
    /* each item at each position: expected 400, sd 19; 300..500 is more than 5 sd */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            CHECK(at[i][j] > 300 && at[i][j] < 500, "item %d at position %d %d times (400 "
                  "expected)", j, i, at[i][j]);
}

/* A pinned order: the seed -> data order mapping is part of reproducing a run. The order was
 * computed independently by a Python transcription of PCG32 (dc_rng_seed), Lemire's bounded draw
 * and Fisher-Yates from the top (i = n-1 .. 1, j in [0, i]). Also a
 * permutation of 1000 items is one (nothing lost or repeated), and 0 or 1 items stay put. */
TEST(shuffle_pinned_order_for_a_known_seed)
{
    static const int64_t want[10] = {8, 7, 0, 2, 3, 5, 9, 4, 6, 1};
    int64_t v[1000];
    dc_rng r;
    dc_rng_seed(&r, 42, 0);
    identity(v, 10);
    dc_rng_shuffle(&r, v, 10);
    for (int i = 0; i < 10; i++)
        CHECK(v[i] == want[i], "position %d: %lld, pinned %lld", i, (long long)v[i],
              (long long)want[i]);
    identity(v, 1000);
    dc_rng_shuffle(&r, v, 1000);
    char seen[1000] = {0};
    int ok = 1;
    for (int i = 0; i < 1000; i++) {
        ok &= v[i] >= 0 && v[i] < 1000 && !seen[v[i] >= 0 && v[i] < 1000 ? v[i] : 0];
        if (v[i] >= 0 && v[i] < 1000)
            seen[v[i]] = 1;
    }
    CHECK(ok, "a shuffle of 1000 items is not a permutation");
    v[0] = 5;
    dc_rng_shuffle(&r, v, 1);
    dc_rng_shuffle(&r, v, 0);
    CHECK(v[0] == 5, "a one-item shuffle changed the item");
}
