/*
 * kv_time.c - per-token CPU time of KV-cache decoding (docs/transformer.md, "The decode
 * kernel"): a char-GPT of W7's sizes (vocabulary 96, d 256, 4 heads, 4 blocks, feed-forward
 * 1024) with context 512 and random weights decodes 512 tokens greedily, one at a time, on one
 * thread; the CPU time of each token is the best over REPS runs; prints the mean over tokens
 * 1-32, 97-128 and 481-512.
 *
 *   cc -O3 -fopenmp -Iinclude tools/kv_time.c build/libdeepc.a -lz -lm -lopenblas -o kv_time
 *   OMP_NUM_THREADS=1 ./kv_time [REPS (15)]
 */
#define _POSIX_C_SOURCE 200809L
#include "deepc.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *spec =
    "[input]\nshape = 512\ndtype = int64\n"
    "[embedding tok]\nnum_embeddings = 96\nembedding_dim = 256\n"
    "[positional pos]\nkind = learned\nmax_len = 512\n"
    "[transformerencoder blocks]\nnum_layers = 4\nnhead = 4\ndim_feedforward = 1024\n"
    "dropout = 0\nactivation = gelu\nnorm_first = true\ncausal = true\n"
    "[layernorm ln_f]\n[linear head]\nout_features = 96\n";

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 15;
    static double best[512];
    dc_set_num_threads(1);
    dc_rng r;
    dc_rng_seed(&r, 1, 1);
    dc_spec *s = dc_spec_parse_string(spec, "kv_time");
    dc_model *m = s ? dc_spec_build(s, &r) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    if (!m || !ctx || reps < 1) {
        fprintf(stderr, "kv_time: %s\n", dc_last_error());
        return 1;
    }
    dc_ctx_set_grad(ctx, 0);
    dc_ctx_set_training(ctx, 0);
    for (int rep = 0; rep < reps; rep++) {
        if (dc_model_set_kv_cache(m, 1) != DC_OK)
            return 1;
        int64_t id = 1;
        for (int t = 0; t < 512; t++) {
            const double t0 = cpu_s();
            dc_tensor *x = dc_empty(ctx, DC_I64, 2, DC_SHAPE(1, 1));
            dc_tensor *y = x ? dc_model_forward(ctx, m, (dc_i64(x)[0] = id, x)) : NULL;
            if (!y) {
                fprintf(stderr, "kv_time: %s\n", dc_last_error());
                return 1;
            }
            id = dc_sample_logits(dc_f32(y), 96, 0.0f, 0, NULL);
            dc_ctx_reset(ctx);
            const double dt = cpu_s() - t0;
            best[t] = rep == 0 || dt < best[t] ? dt : best[t];
        }
        dc_model_set_kv_cache(m, 0);
    }
    double a = 0, b = 0, c = 0;
    for (int t = 0; t < 32; t++) {
        a += best[t];
        b += best[96 + t];
        c += best[480 + t];
    }
    printf("tokens 1-32 %.3f ms, 97-128 %.3f ms, 481-512 %.3f ms (best of %d per token)\n",
           a / 32 * 1e3, b / 32 * 1e3, c / 32 * 1e3, reps);
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(s);
    return 0;
}
