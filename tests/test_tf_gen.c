/*
 * test_tf_gen.c - generation from a model's logits beyond greedy / temperature / top-k:
 * nucleus (top-p) sampling, its set, its order after top-k, its ties and its frequencies; and
 * the CLI: generate --top-p, show attention.
 */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
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

/* The CLI on a tiny trained char-GPT: generate --top-p (seeded; a tiny p is greedy decoding; a p
 * outside (0, 1] refused) and show attention (the mean or every head, a wrong layer name, an
 * .npy input with labels). */
TEST(tf_cli_top_p_and_show_attention)
{
    const char *d = t_tmpdir();
    char p[700], out[8192], out2[8192];
    snprintf(p, sizeof p, "%s/gpt.spec", d);
    REQUIRE(t_write_text(p, "[input]\nshape = 12\ndtype = int64\n[embedding tok]\n"
                            "num_embeddings = $vocab\nembedding_dim = 8\n[positional pos]\n"
                            "max_len = 12\n[transformerencoder blocks]\nnum_layers = 2\nnhead = 2\n"
                            "dim_feedforward = 16\ndropout = 0\nnorm_first = true\n"
                            "causal = true\n[layernorm ln_f]\n[linear head]\n"
                            "out_features = $vocab\n"));
    char text[3001];
    for (int i = 0; i < 3000; i++)
        text[i] = "abcdefghij"[(i * 3 + i / 7) % 10];
    text[3000] = 0;
    snprintf(p, sizeof p, "%s/c.txt", d);
    REQUIRE(t_write_text(p, text));
    int rc = t_run_deepc(out, sizeof out, "train %s/gpt.spec --data text:%s/c.txt --bptt 12 "
                         "--batch 8 --optimizer adamw --lr 0.003 --epochs 2 --threads 1 --quiet "
                         "--out %s/g", d, d, d);
    REQUIRE(rc == 0);
#define GEN "generate %s/g/model.spec --weights %s/g/model.safetensors --prime abc --length 60 "
    rc = t_run_deepc(out, sizeof out, GEN "--top-p 0.9 --seed 4", d, d);
    t_run_deepc(out2, sizeof out2, GEN "--top-p 0.9 --seed 4", d, d);
    CHECK(rc == 0 && strlen(out) >= 63 && !strcmp(out, out2), "--top-p 0.9 seeded: rc %d\n%s\n%s",
          rc, out, out2);
    rc = t_run_deepc(out, sizeof out, GEN "--top-p 0.000001 --seed 5", d, d);
    t_run_deepc(out2, sizeof out2, GEN "--temperature 0", d, d);
    CHECK(rc == 0 && !strcmp(out, out2), "a tiny top-p must decode greedily:\n%s\n%s", out, out2);
    CHECK(t_run_deepc(out, sizeof out, GEN "--top-p 0", d, d) == 2 &&
              t_run_deepc(out, sizeof out, GEN "--top-p 1.5", d, d) == 2,
          "--top-p outside (0, 1] accepted: %s", out);
#undef GEN
#define SHOW "show attention %s/g/model.spec --weights %s/g/model.safetensors "
    rc = t_run_deepc(out, sizeof out, SHOW "--text badcafe --out %s/a.png", d, d, d);
    snprintf(p, sizeof p, "%s/a.png", d);
    int w = 0, h = 0, ch = 0;
    uint8_t *px = NULL;
    CHECK(rc == 0 && dc_image_read(p, &w, &h, &ch, &px) == DC_OK && ch == 3 && w > 7 * 24,
          "show attention --text: rc %d %dx%d\n%s", rc, w, h, out);
    free(px);
    rc = t_run_deepc(out, sizeof out, SHOW "--text abc --heads --layer blocks.layers.0.self_attn "
                     "--out %s/b.png", d, d, d);
    CHECK(rc == 0, "--heads --layer: rc %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, SHOW "--text abc --layer blocks.layers.9.self_attn --out "
                     "%s/c.png", d, d, d);
    CHECK(rc == 2 && strstr(out, "blocks.layers.1.self_attn"), "a wrong layer: rc %d\n%s", rc,
          out);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = ctx ? dc_zeros(ctx, DC_I64, 2, DC_SHAPE(1, 3)) : NULL;
    REQUIRE(x);
    snprintf(p, sizeof p, "%s/x.npy", d);
    REQUIRE(dc_npy_save(p, x) == DC_OK);
    dc_ctx_free(ctx);
    rc = t_run_deepc(out, sizeof out, SHOW "--input %s/x.npy --rows q1,q2,q3 --cols k1,k2,k3 "
                     "--out %s/d.png", d, d, d, d);
    CHECK(rc == 0, "--input with labels: rc %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, SHOW "--input %s/x.npy --rows q1,q2 --out %s/e.png", d, d,
                     d, d);
    CHECK(rc == 0, "2 row labels for 3 queries crop: rc %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, SHOW "--input %s/x.npy --cols a,b,c,d --out %s/e.png", d, d,
                     d, d);
    CHECK(rc == 2 && strstr(out, "labels"), "4 key labels for 3 keys: rc %d\n%s", rc, out);
#undef SHOW
}
