/*
 * test_tf_gen.c - generation from a model's logits beyond greedy / temperature / top-k:
 * nucleus (top-p) sampling, its set, its order after top-k, its ties and its frequencies.
 */
#include "harness.h"

#include <math.h>
#include <string.h>

/* Probabilities 1/2, 1/4, 1/8, 1/8 (indices 2 and 3 tie). */
static const float quarter_logits[4] = {0.0f, -0.69314718f, -1.3862944f, -1.3862944f};

/* How often each of 4 indices is drawn in n draws; -1 from the sampler counts in hits[4]. */
static void draw_counts(const float *l, float temp, int top_k, float top_p, int n, int hits[5])
{
    dc_rng r;
    dc_rng_seed(&r, 11, 3);
    memset(hits, 0, 5 * sizeof *hits);
    for (int i = 0; i < n; i++) {
        int k = dc_sample_logits_p(l, 4, temp, top_k, top_p, &r);
        hits[k >= 0 && k < 4 ? k : 4]++;
    }
}

TEST(tf_top_p_keeps_the_smallest_set_reaching_p)
{
    int h[5];
    draw_counts(quarter_logits, 1.0f, 0, 0.4f, 2000, h);
    CHECK(h[0] == 2000, "p 0.4: only index 0 (mass 1/2); counts %d %d %d %d", h[0], h[1], h[2],
          h[3]);
    draw_counts(quarter_logits, 1.0f, 0, 0.6f, 2000, h);
    CHECK(h[0] + h[1] == 2000 && h[1] > 0, "p 0.6: {0, 1}; counts %d %d %d %d", h[0], h[1], h[2],
          h[3]);
    /* 0.8 needs 0, 1 and one of the tied 1/8s: the smaller index, 2, and never 3 */
    draw_counts(quarter_logits, 1.0f, 0, 0.8f, 2000, h);
    CHECK(h[2] > 0 && h[3] == 0 && h[4] == 0, "p 0.8: tie must keep index 2 only; %d %d %d %d",
          h[0], h[1], h[2], h[3]);
    draw_counts(quarter_logits, 1.0f, 0, 0.9f, 4000, h);
    CHECK(h[3] > 0 && h[2] > 0, "p 0.9: all four; counts %d %d %d %d", h[0], h[1], h[2], h[3]);
}

TEST(tf_top_p_renormalises_the_nucleus)
{
    /* p 0.8 keeps 1/2, 1/4, 1/8: renormalised 4/7, 2/7, 1/7 */
    const int n = 40000;
    int h[5];
    draw_counts(quarter_logits, 1.0f, 0, 0.8f, n, h);
    const double want[3] = {4.0 / 7, 2.0 / 7, 1.0 / 7};
    for (int i = 0; i < 3; i++) {
        double f = (double)h[i] / n, sd = sqrt(want[i] * (1 - want[i]) / n);
        CHECK(fabs(f - want[i]) < 5 * sd, "index %d: frequency %.4f, expected %.4f (5 sd %.4f)", i,
              f, want[i], 5 * sd);
    }
}

TEST(tf_top_p_after_temperature_and_top_k)
{
    int h[5];
    /* top_k 2 first (2/3, 1/3), then p 0.6 keeps index 0 alone; p first would keep {0, 1} */
    draw_counts(quarter_logits, 1.0f, 2, 0.6f, 1000, h);
    CHECK(h[0] == 1000, "top_k 2 then p 0.6 must give index 0 only; counts %d %d", h[0], h[1]);
    /* temperature 2: weights 1, .71, .5, .5 -> index 0 has 0.37 < 0.4, so {0, 1} */
    draw_counts(quarter_logits, 2.0f, 0, 0.4f, 1000, h);
    CHECK(h[1] > 0 && h[2] == 0 && h[3] == 0, "T 2, p 0.4: {0, 1}; counts %d %d %d %d", h[0],
          h[1], h[2], h[3]);
    /* temperature 0 stays the arg-max without a generator */
    CHECK(dc_sample_logits_p(quarter_logits, 4, 0.0f, 0, 0.5f, NULL) == 0, "greedy with top_p");
}

TEST(tf_top_p_one_draws_as_without_it)
{
    const float l[6] = {0.3f, -1.0f, 2.0f, 0.0f, 1.5f, -0.2f};
    dc_rng a, b;
    dc_rng_seed(&a, 5, 9);
    dc_rng_seed(&b, 5, 9);
    for (int i = 0; i < 300; i++) {
        int x = dc_sample_logits(l, 6, 0.9f, 4, &a);
        int y = dc_sample_logits_p(l, 6, 0.9f, 4, 1.0f, &b);
        CHECK(x == y, "draw %d: %d without top-p, %d with top_p 1", i, x, y);
        if (x != y)
            break;
    }
}

/* A brute-force nucleus over random rows: sort by hand, keep the prefix, check every draw is in
 * it and every member with probability >= 3% is drawn. */
TEST(tf_top_p_matches_a_brute_force_nucleus)
{
    dc_rng g;
    dc_rng_seed(&g, 123, 1);
    for (int t = 0; t < 20; t++) {
        float l[8];
        double p[8], sum = 0;
        int ord[8];
        for (int i = 0; i < 8; i++) {
            l[i] = (float)(dc_rng_u32(&g) % 400) / 100.0f; /* hundredths: ties happen */
            ord[i] = i;
        }
        const float top_p = 0.3f + 0.65f * (float)(dc_rng_u32(&g) % 1000) / 1000.0f;
        for (int i = 0; i < 8; i++)
            sum += (p[i] = exp(l[i]));
        for (int i = 1; i < 8; i++) /* insertion sort: larger p first, then smaller index */
            for (int j = i; j > 0 && p[ord[j]] > p[ord[j - 1]]; j--) {
                int s = ord[j];
                ord[j] = ord[j - 1];
                ord[j - 1] = s;
            }
        int in[8] = {0}, n_in = 0;
        double cum = 0;
        while (n_in < 8 && cum < top_p * sum) {
            cum += p[ord[n_in]];
            in[ord[n_in++]] = 1;
        }
        dc_rng r;
        dc_rng_seed(&r, (uint64_t)t, 2);
        int seen[8] = {0};
        for (int d = 0; d < 3000; d++) {
            int k = dc_sample_logits_p(l, 8, 1.0f, 0, top_p, &r);
            REQUIRE(k >= 0 && k < 8);
            CHECK(in[k], "row %d (p %.3f): drew %d outside the nucleus of %d", t, top_p, k, n_in);
            seen[k]++;
        }
        for (int i = 0; i < 8; i++)
            CHECK(!in[i] || p[i] / cum < 0.03 || seen[i] > 0, "row %d: member %d never drawn", t,
                  i);
    }
}

TEST(tf_top_p_rejects_bad_values)
{
    dc_rng r;
    dc_rng_seed(&r, 1, 1);
    const float bad_p[4] = {0.0f, -0.1f, 1.5f, NAN};
    for (int i = 0; i < 4; i++)
        CHECK(dc_sample_logits_p(quarter_logits, 4, 1.0f, 0, bad_p[i], &r) == -1 &&
                  strstr(dc_last_error(), "top_p"),
              "top_p %g accepted (%s)", (double)bad_p[i], dc_last_error());
}
