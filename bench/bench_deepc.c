/*
 * bench_deepc.c - deepc's side of the peer workloads (../shared/bench/peers/README.md), with the
 * same definitions and protocols as the PyTorch scripts there; prints one JSON object per line.
 *
 *   bench_deepc w1 [epochs]      LeNet-5 training on Fashion-MNIST, SGD 0.01 momentum 0.9,
 *                                batch 64, pixels in [0, 1]; 50 warm-up steps on a throw-away
 *                                copy, then epochs (3) timed separately: images/s min / median
 *   bench_deepc w2               LeNet-5 inference (eval, no grad): batch-1 latency (median of
 *                                2,000 calls after 200 warm-up) and batch-256 images/s
 *   bench_deepc w3 lstm|gru|rnn  char LM on Debian's fortunes (printable ASCII + newline):
 *                                Embedding 64 -> 2 x 256 -> Linear, 32 streams x 64 steps, Adam
 *                                2e-3, clip 5, carried state; 10 warm-up steps, 3 windows of 100
 *                                steps: tokens/s best / median
 *   bench_deepc w6               the ResNet-style net on 3x32x32 random data, batch 32: SGD 0.01
 *                                momentum 0.9 train steps (3 warm-up, 5 x 3) and eval forwards
 *                                (3 warm-up, 5 x 5): images/s best / median
 *   bench_deepc w7 [steps]       char-GPT training on fortunes (models/char_gpt, vocab $vocab):
 *                                16 streams x 128 tokens, AdamW 1e-3 (weight decay 0.01), clip 1,
 *                                no state carried; 5 warm-up steps, 3 windows of `steps` (20)
 *                                steps: tokens/s best / median, the loss of step 65 (step 1 +
 *                                5 + 3 * steps - 1 in general)
 *   bench_deepc w8 mini|base     BERT encoder inference, seq 128, no padding (embeddings + L post-LN
 *                                layers; mini 4 x 256, 4 heads, ff 1024; base 12 x 768, 12, 3072):
 *                                ids (7919·i + 13) mod 30522; batch 1 latency (5 warm-up, median
 *                                of 30) and batch 8 sequences/s (2 warm-up, 10 timed); the
 *                                model frozen (dc_model_freeze: weights packed on first use)
 *   bench_deepc w8 mini|base bf16
 *                                the same with the model frozen for bfloat16 products
 *                                (dc_model_freeze_bf16; workload w8_bert_<cfg>_bf16), and
 *                                bf16_max_rel_diff: max |bf16 - float32| / max |float32| of
 *                                the batch-1 output
 *   bench_deepc w8 mini|base K [unfrozen]
 *                                for profiles (valgrind): K batch-1 forwards only after one
 *                                through dc_model_forward_all (--toggle-collect=dc_model_forward
 *                                leaves it out), a vocabulary of 1024 (ids mod 1024; the same
 *                                work but for the initialisation of the word embeddings);
 *                                unfrozen: without dc_model_freeze, for comparisons
 *   bench_deepc attn T           issue 18's long-context check: BERT-mini's self-attention (4
 *                                heads of 64, batch 1, no mask, no tape) at sequence T, median
 *                                of 9 after 2 warm-up; predicted = its 4·H·T²·D FLOPs at the rate
 *                                the GEMM reaches in the same process on x·Wᵀ [T, 256]·[256,
 *                                256] (the two timed alternately); the arena bytes it used and
 *                                the peak RSS (linear in T: no T x T buffer); blocked_ms: the
 *                                same attention while recording a tape, which runs the blocked
 *                                kernel (src/kernels/attn_k.c) instead of the flash one;
 *                                cpu_ratio: the same ratios from process CPU time (meaningful
 *                                with --threads 1 on a loaded machine)
 * Threads: --threads N (default: all). The thread count and GEMM backend go into the JSON.
 */
#define _POSIX_C_SOURCE 200809L
#include "deepc.h"
#include "kernels/kernels.h" /* dc_k_gemm_bf16_name */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double best(const double *v, int n)
{
    double b = v[0];
    for (int i = 1; i < n; i++)
        b = v[i] > b ? v[i] : b;
    return b;
}

static dc_model *build(const char *text, const char *name, uint64_t seed)
{
    dc_spec *s = dc_spec_parse_string(text, name);
    dc_rng r;
    dc_rng_seed(&r, seed, 0);
    dc_model *m = s ? dc_spec_build(s, &r) : NULL;
    if (!m)
        fprintf(stderr, "bench: %s\n", dc_last_error());
    dc_spec_free(s);
    return m;
}

static const char *LENET =
    "[input]\nshape = 1, 28, 28\n[conv2d c1]\nout_channels = 6\nkernel = 5\npadding = 2\n[relu]\n"
    "[maxpool2d]\nkernel = 2\n[conv2d c2]\nout_channels = 16\nkernel = 5\n[relu]\n[maxpool2d]\n"
    "kernel = 2\n[flatten]\n[linear f1]\nout_features = 120\n[relu]\n[linear f2]\n"
    "out_features = 84\n[relu]\n[linear f3]\nout_features = 10\n";

static void header(const char *w)
{
    printf("{\"workload\": \"%s\", \"threads\": %d, \"gemm\": \"%s\"", w, dc_get_num_threads(),
           dc_gemm_backend());
}

/* One SGD step of m on batch (x, y). */
static int sgd_step(dc_ctx *ctx, dc_model *m, dc_optim *o, dc_tensor *x, dc_tensor *y)
{
    dc_tensor *l = dc_cross_entropy(ctx, dc_model_forward(ctx, m, x), y, NULL);
    if (!l)
        return -1;
    dc_optim_zero_grad(o);
    int rc = dc_backward(ctx, l) == DC_OK && dc_optim_step(o) == DC_OK ? 0 : -1;
    dc_ctx_reset(ctx);
    return rc;
}

static int w1(int epochs)
{
    dc_images tr;
    if (dc_fashion_mnist_load(NULL, 1, &tr) != DC_OK) {
        fprintf(stderr, "bench w1: %s\n", dc_last_error());
        return 1;
    }
    dc_model *m = build(LENET, "lenet5", 0), *warm = build(LENET, "lenet5", 0);
    dc_optim_cfg c = dc_optim_defaults(DC_SGD);
    c.lr = 0.01f;
    c.momentum = 0.9f;
    dc_optim *o = m ? dc_optim_new(m, &c) : NULL, *ow = warm ? dc_optim_new(warm, &c) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    int64_t *idx = malloc((size_t)tr.n * sizeof *idx);
    double ips[64];
    if (!o || !ow || !ctx || !idx || epochs < 1 || epochs > 64)
        return 1;
    dc_rng r;
    dc_rng_seed(&r, 1234, 0);
    for (int64_t i = 0; i < tr.n; i++)
        idx[i] = i;
    for (int s = 0; s < 50; s++) { /* warm-up on a throw-away copy */
        dc_tensor *y, *x = dc_images_batch(ctx, &tr, idx + 64 * s, 64, 0.0f, 1.0f, &y);
        if (!x || sgd_step(ctx, warm, ow, x, y))
            return 1;
    }
    for (int e = 0; e < epochs; e++) {
        dc_rng_shuffle(&r, idx, tr.n);
        double t0 = now_s();
        for (int64_t i = 0; i < tr.n; i += 64) {
            int64_t b = tr.n - i < 64 ? tr.n - i : 64;
            dc_tensor *y, *x = dc_images_batch(ctx, &tr, idx + i, b, 0.0f, 1.0f, &y);
            if (!x || sgd_step(ctx, m, o, x, y))
                return 1;
        }
        ips[e] = (double)tr.n / (now_s() - t0);
    }
    header("w1_lenet_train");
    printf(", \"images_per_s_best\": %.0f, \"images_per_s_median\": %.0f, \"epochs\": %d}\n",
           best(ips, epochs), median(ips, epochs), epochs);
    dc_optim_free(o);
    dc_optim_free(ow);
    dc_model_free(m);
    dc_model_free(warm);
    dc_ctx_free(ctx);
    dc_images_free(&tr);
    free(idx);
    return 0;
}

static int w2(void)
{
    dc_model *m = build(LENET, "lenet5", 0);
    dc_ctx *ctx = dc_ctx_new(0);
    if (!m || !ctx)
        return 1;
    dc_ctx_set_grad(ctx, 0);
    dc_ctx_set_training(ctx, 0);
    dc_rng r;
    dc_rng_seed(&r, 5, 0);
    dc_tensor *x1 = dc_tensor_new(DC_F32, 4, DC_SHAPE(1, 1, 28, 28));
    dc_tensor *x256 = dc_tensor_new(DC_F32, 4, DC_SHAPE(256, 1, 28, 28));
    dc_tensor_uniform(x1, &r, 0, 1);
    dc_tensor_uniform(x256, &r, 0, 1);
    enum { N1 = 2000 };
    static double lat[N1];
    for (int i = 0; i < 200 + N1; i++) {
        double t0 = now_s();
        if (!dc_model_forward(ctx, m, x1))
            return 1;
        dc_ctx_reset(ctx);
        if (i >= 200)
            lat[i - 200] = now_s() - t0;
    }
    double thr[5];
    for (int i = 0; i < 3; i++) {
        dc_model_forward(ctx, m, x256);
        dc_ctx_reset(ctx);
    }
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        for (int k = 0; k < 10; k++) {
            if (!dc_model_forward(ctx, m, x256))
                return 1;
            dc_ctx_reset(ctx);
        }
        thr[rep] = 2560.0 / (now_s() - t0);
    }
    double med = median(lat, N1);
    header("w2_lenet_infer");
    printf(", \"batch1_latency_us_median\": %.1f, \"batch1_latency_us_min\": %.1f, "
           "\"batch256_images_per_s_best\": %.0f, \"batch256_images_per_s_median\": %.0f}\n",
           1e6 * med, 1e6 * lat[0], best(thr, 5), median(thr, 5));
    dc_tensor_free(x1);
    dc_tensor_free(x256);
    dc_model_free(m);
    dc_ctx_free(ctx);
    return 0;
}

/* The fortunes text as the peer reads it: printable ASCII and newlines. */
static int64_t *fortunes_ids(int64_t *n, int *V)
{
    uint8_t *t;
    size_t len;
    if (dc_text_load("/usr/share/games/fortunes", 0, &t, &len) != DC_OK) {
        fprintf(stderr, "bench w3: %s\n", dc_last_error());
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if ((t[i] >= 0x20 && t[i] <= 0x7e) || t[i] == '\n')
            t[k++] = t[i];
    dc_vocab v;
    int64_t *ids = malloc(k * sizeof *ids);
    if (!ids || dc_vocab_build(t, k, &v) != DC_OK || dc_vocab_encode(&v, t, k, ids) != DC_OK) {
        free(t);
        free(ids);
        return NULL;
    }
    free(t);
    *n = (int64_t)k;
    *V = v.n;
    return ids;
}

static int w3(const char *cell)
{
    int64_t n;
    int V;
    int64_t *ids = fortunes_ids(&n, &V);
    if (!ids)
        return 1;
    char spec[512];
    snprintf(spec, sizeof spec, "[input]\nshape = 64\ndtype = int64\n[embedding e]\n"
             "num_embeddings = %d\nembedding_dim = 64\n[%s rnn]\nhidden_size = 256\n"
             "num_layers = 2\n[linear out]\nout_features = %d\n", V, cell, V);
    dc_model *m = build(spec, cell, 0);
    dc_optim_cfg c = dc_optim_defaults(DC_ADAM);
    c.lr = 2e-3f;
    dc_optim *o = m ? dc_optim_new(m, &c) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    dc_text_stream *s = dc_text_stream_new(ids, n, 32, 64);
    if (!o || !ctx || !s)
        return 1;
    dc_model_set_carry(m, 1);
    dc_ctx_set_training(ctx, 1);
    double tps[3], t0 = 0;
    for (int step = 0; step < 310; step++) {
        if (step >= 10 && (step - 10) % 100 == 0)
            t0 = now_s();
        dc_tensor *x, *y;
        if (dc_text_stream_next(s, ctx, &x, &y) != DC_OK)
            return 1;
        if (!x) { /* a pass ended: start again from zeros, like the peer */
            dc_text_stream_rewind(s);
            dc_model_reset_state(m);
            step--;
            continue;
        }
        const int64_t B = y->shape[0], T = y->shape[1];
        dc_tensor *logits = dc_model_forward(ctx, m, x);
        dc_tensor *l = dc_cross_entropy(ctx, dc_reshape(ctx, logits, 2, DC_SHAPE(B * T, V)),
                                        dc_reshape(ctx, y, 1, DC_SHAPE(B * T)), NULL);
        if (!l)
            return 1;
        dc_optim_zero_grad(o);
        if (dc_backward(ctx, l) != DC_OK)
            return 1;
        dc_clip_grad_norm(m, 5.0f);
        if (dc_optim_step(o) != DC_OK)
            return 1;
        dc_ctx_reset(ctx);
        if (step >= 10 && (step - 10) % 100 == 99)
            tps[(step - 10) / 100] = 100.0 * 32 * 64 / (now_s() - t0);
    }
    char w[32];
    snprintf(w, sizeof w, "w3_charlm_%s", cell);
    header(w);
    printf(", \"tokens_per_s_best\": %.0f, \"tokens_per_s_median\": %.0f}\n", best(tps, 3),
           median(tps, 3));
    dc_text_stream_free(s);
    dc_optim_free(o);
    dc_model_free(m);
    dc_ctx_free(ctx);
    free(ids);
    return 0;
}

static size_t w7_arena_used; /* bytes of the step's arena (activations, gradients, tape) */

/* One W7 step: logits [B, T, V], mean cross-entropy, backward, clip 1, AdamW. The loss, or -1. */
static double w7_step(dc_ctx *ctx, dc_model *m, dc_optim *o, dc_tensor *x, dc_tensor *y, int V)
{
    const int64_t B = y->shape[0], T = y->shape[1];
    dc_tensor *logits = dc_model_forward(ctx, m, x);
    dc_tensor *l = dc_cross_entropy(ctx, dc_reshape(ctx, logits, 2, DC_SHAPE(B * T, V)),
                                    dc_reshape(ctx, y, 1, DC_SHAPE(B * T)), NULL);
    if (!l)
        return -1;
    const double loss = dc_f32(l)[0];
    dc_optim_zero_grad(o);
    if (dc_backward(ctx, l) != DC_OK)
        return -1;
    dc_clip_grad_norm(m, 1.0f);
    if (dc_optim_step(o) != DC_OK)
        return -1;
    w7_arena_used = dc_ctx_arena_used(ctx);
    dc_ctx_reset(ctx);
    return loss;
}

static int w7(int steps)
{
    int64_t n;
    int V;
    int64_t *ids = fortunes_ids(&n, &V);
    dc_spec *sp = ids ? dc_spec_parse_file("models/char_gpt") : NULL;
    char v[16];
    snprintf(v, sizeof v, "%d", V);
    dc_rng r;
    dc_rng_seed(&r, 0, 0);
    dc_model *m = sp && dc_spec_define(sp, "vocab", v) > 0 ? dc_spec_build(sp, &r) : NULL;
    dc_spec_free(sp);
    dc_optim_cfg c = dc_optim_defaults(DC_ADAMW);
    c.lr = 1e-3f;
    dc_optim *o = m ? dc_optim_new(m, &c) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    dc_text_stream *s = ids ? dc_text_stream_new(ids, n, 16, 128) : NULL;
    free(ids); /* the stream holds its own copy */
    ids = NULL;
    if (!o || !ctx || !s || steps < 1) {
        fprintf(stderr, "bench w7: %s\n", dc_last_error());
        return 1;
    }
    dc_ctx_set_training(ctx, 1);
    double tps[3], t0 = 0, loss = 0;
    const int total = 5 + 3 * steps;
    for (int step = 0; step < total; step++) {
        if (step >= 5 && (step - 5) % steps == 0)
            t0 = now_s();
        dc_tensor *x, *y;
        if (dc_text_stream_next(s, ctx, &x, &y) != DC_OK || !x ||
            (loss = w7_step(ctx, m, o, x, y, V)) < 0) {
            fprintf(stderr, "bench w7: %s\n", dc_last_error());
            return 1;
        }
        if (step >= 5 && (step - 5) % steps == steps - 1)
            tps[(step - 5) / steps] = (double)steps * 16 * 128 / (now_s() - t0);
    }
    header("w7_chargpt");
    printf(", \"params\": %lld, \"vocab\": %d, \"tokens_per_s_best\": %.0f, "
           "\"tokens_per_s_median\": %.0f, \"loss_step_%d\": %.3f, \"arena_step_mb\": %.1f}\n",
           (long long)dc_model_n_trainable(m), V, best(tps, 3), median(tps, 3), total, loss,
           (double)w7_arena_used / 1048576.0);
    dc_text_stream_free(s);
    dc_optim_free(o);
    dc_model_free(m);
    dc_ctx_free(ctx);
    return 0;
}

/* The W6 net: stem conv 3->64 + BN + ReLU, 4 basic blocks at 64 channels, avg pool, FC 10. */
static char *w6_spec(void)
{
    char *s = malloc(8192);
    if (!s)
        return NULL;
    int k = snprintf(s, 8192, "[input]\nshape = 3, 32, 32\n[conv2d stem]\nout_channels = 64\n"
                     "kernel = 3\npadding = 1\nbias = false\n[batchnorm2d bn]\n[relu r0]\n");
    const char *prev = "r0";
    char names[4][16];
    for (int b = 0; b < 4; b++) {
        snprintf(names[b], sizeof names[b], "b%d.out", b);
        k += snprintf(s + k, (size_t)(8192 - k),
                      "[conv2d b%d.c1]\ninput = %s\nout_channels = 64\nkernel = 3\npadding = 1\n"
                      "bias = false\n[batchnorm2d b%d.bn1]\n[relu b%d.r1]\n[conv2d b%d.c2]\n"
                      "out_channels = 64\nkernel = 3\npadding = 1\nbias = false\n"
                      "[batchnorm2d b%d.bn2]\n[add b%d.add]\ninput = b%d.bn2, %s\n"
                      "[relu b%d.out]\n", b, prev, b, b, b, b, b, b, prev, b);
        prev = names[b];
    }
    snprintf(s + k, (size_t)(8192 - k), "[adaptiveavgpool2d pool]\noutput = 1\n[flatten]\n"
             "[linear fc]\nout_features = 10\n");
    return s;
}

static int w6(void)
{
    char *spec = w6_spec();
    dc_model *m = spec ? build(spec, "w6", 0) : NULL;
    free(spec);
    dc_optim_cfg c = dc_optim_defaults(DC_SGD);
    c.lr = 0.01f;
    c.momentum = 0.9f;
    dc_optim *o = m ? dc_optim_new(m, &c) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_tensor_new(DC_F32, 4, DC_SHAPE(32, 3, 32, 32));
    dc_tensor *y = dc_tensor_new(DC_I64, 1, DC_SHAPE(32));
    if (!o || !ctx || !x || !y)
        return 1;
    dc_rng r;
    dc_rng_seed(&r, 0, 0);
    dc_tensor_normal(x, &r, 0, 1);
    for (int i = 0; i < 32; i++)
        dc_i64(y)[i] = dc_rng_below(&r, 10);
    double tr[5], inf[5];
    dc_ctx_set_training(ctx, 1);
    for (int i = 0; i < 3; i++)
        if (sgd_step(ctx, m, o, x, y))
            return 1;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        for (int k = 0; k < 3; k++)
            if (sgd_step(ctx, m, o, x, y))
                return 1;
        tr[rep] = 96.0 / (now_s() - t0);
    }
    dc_ctx_set_training(ctx, 0);
    dc_ctx_set_grad(ctx, 0);
    for (int rep = -1; rep < 5; rep++) {
        double t0 = now_s();
        for (int k = 0; k < (rep < 0 ? 3 : 5); k++) {
            if (!dc_model_forward(ctx, m, x))
                return 1;
            dc_ctx_reset(ctx);
        }
        if (rep >= 0)
            inf[rep] = 160.0 / (now_s() - t0);
    }
    header("w6_resnet");
    printf(", \"train_images_per_s_best\": %.1f, \"train_images_per_s_median\": %.1f, "
           "\"infer_images_per_s_best\": %.1f, \"infer_images_per_s_median\": %.1f}\n",
           best(tr, 5), median(tr, 5), best(inf, 5), median(inf, 5));
    dc_tensor_free(x);
    dc_tensor_free(y);
    dc_optim_free(o);
    dc_model_free(m);
    dc_ctx_free(ctx);
    return 0;
}

/* Files for the CLI start-up figure: DIR/lenet.safetensors (seeded init) and DIR/img.pgm. */
static int prepare(const char *dir)
{
    char p[1024];
    dc_spec *s = dc_spec_parse_file("models/lenet5"); /* the CLI's names: c1, c3, ..., out */
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    dc_spec_free(s);
    snprintf(p, sizeof p, "%s/lenet.safetensors", dir);
    if (!m || dc_model_save(m, p) != DC_OK)
        return 1;
    dc_model_free(m);
    snprintf(p, sizeof p, "%s/img.pgm", dir);
    FILE *f = fopen(p, "wb");
    if (!f)
        return 1;
    fprintf(f, "P5\n28 28\n255\n");
    for (int i = 0; i < 784; i++)
        fputc((i * 37) % 256, f);
    return fclose(f) ? 1 : 0;
}

/* The W8 encoder as a spec: embeddings and L BERT layers, dropout 0, no pooler. */
static char *w8_spec(int L, int E, int H, int F, int vocab)
{
    size_t cap = 4096 + (size_t)L * 160, n = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    n += (size_t)snprintf(s + n, cap - n, "[input]\nshape = 128\ndtype = int64\n"
                          "[bert_embeddings emb]\nvocab_size = %d\nhidden_size = %d\n"
                          "dropout = 0\n", vocab, E);
    for (int l = 0; l < L; l++)
        n += (size_t)snprintf(s + n, cap - n, "[bert_layer layer.%d]\nnum_attention_heads = %d\n"
                              "intermediate_size = %d\ndropout = 0\nattention_dropout = 0\n",
                              l, H, F);
    return s;
}

/* Median seconds of `runs` (1..32) forwards of x after `warm`. */
static double w8_time(dc_ctx *ctx, dc_model *m, dc_tensor *x, int warm, int runs, double *min)
{
    double t[32];
    for (int i = 0; i < warm + runs; i++) {
        double t0 = now_s();
        if (!dc_model_forward(ctx, m, x)) {
            fprintf(stderr, "bench: %s\n", dc_last_error());
            return -1;
        }
        dc_ctx_reset(ctx);
        if (i >= warm)
            t[i - warm] = now_s() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_d);
    *min = t[0];
    return median(t, runs);
}

/* The bfloat16 model's output for x against the float32 one's: max |difference| / max |float32
 * output| (the encoder's last hidden states); m is left frozen for bfloat16. -1 on failure. */
static double w8_bf16_error(dc_ctx *ctx, dc_model *m, dc_tensor *x)
{
    double err = -1;
    dc_tensor *y = NULL;
    float *ref = NULL;
    if (dc_model_freeze(m) == DC_OK && (y = dc_model_forward(ctx, m, x)) &&
        (ref = malloc(sizeof(float) * (size_t)y->numel))) {
        const int64_t n = y->numel;
        memcpy(ref, dc_f32(y), sizeof(float) * (size_t)n);
        dc_ctx_reset(ctx);
        if (dc_model_freeze_bf16(m) == DC_OK && (y = dc_model_forward(ctx, m, x))) {
            double d = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                d = fmax(d, fabs((double)dc_f32(y)[i] - ref[i]));
                mag = fmax(mag, fabs((double)ref[i]));
            }
            err = mag > 0 ? d / mag : d;
        }
    }
    free(ref);
    dc_ctx_reset(ctx);
    return err;
}

/* One forward through dc_model_forward_all, which callgrind's --toggle-collect=dc_model_forward
 * does not count: a frozen model packs its weights here. */
static int w8_untimed(dc_ctx *ctx, dc_model *m, dc_tensor *x)
{
    dc_tensor **outs = malloc(sizeof *outs * (size_t)dc_model_n_modules(m));
    const int ok = outs && dc_model_forward_all(ctx, m, x, outs);
    free(outs);
    dc_ctx_reset(ctx);
    if (!ok)
        fprintf(stderr, "bench: %s\n", dc_last_error());
    return ok;
}

static int w8(const char *cfg, int only_b1, int frozen)
{
    const int base = !strcmp(cfg, "base");
    const int vocab = only_b1 ? 1024 : 30522;
    char *spec = w8_spec(base ? 12 : 4, base ? 768 : 256, base ? 12 : 4, base ? 3072 : 1024, vocab);
    dc_model *m = spec ? build(spec, "w8", 0) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x1 = dc_tensor_new(DC_I64, 2, DC_SHAPE(1, 128));
    dc_tensor *x8 = dc_tensor_new(DC_I64, 2, DC_SHAPE(8, 128));
    int rc = 1;
    free(spec);
    if (!m || !ctx || !x1 || !x8) {
        fprintf(stderr, "bench: w8 %s: %s\n", cfg, dc_last_error());
        goto done;
    }
    dc_ctx_set_grad(ctx, 0);
    dc_ctx_set_training(ctx, 0);
    if (frozen && (frozen == 2 ? dc_model_freeze_bf16(m) : dc_model_freeze(m)) != DC_OK) {
        /* inference only: weights packed once (2: bfloat16 products) */
        fprintf(stderr, "bench: %s\n", dc_last_error());
        goto done;
    }
    for (int64_t i = 0; i < 8 * 128; i++) {
        if (i < 128)
            dc_i64(x1)[i] = (7919 * i + 13) % 30522 % vocab;
        dc_i64(x8)[i] = (7919 * i + 13) % 30522 % vocab;
    }
    const double bf16_err = frozen == 2 ? w8_bf16_error(ctx, m, x1) : 0;
    if (bf16_err < 0) {
        fprintf(stderr, "bench: %s\n", dc_last_error());
        goto done;
    }
    double min1, min8 = 0;
    only_b1 = only_b1 > 32 ? 32 : only_b1;
    if (only_b1 && !w8_untimed(ctx, m, x1))
        goto done;
    const double t1 = w8_time(ctx, m, x1, only_b1 ? 0 : 5, only_b1 ? only_b1 : 30, &min1);
    const double t8 = only_b1 ? 0 : w8_time(ctx, m, x8, 2, 10, &min8);
    if (t1 < 0 || t8 < 0)
        goto done;
    if (only_b1) {
        header("w8_profile");
        printf(", \"batch1_ms_median\": %.2f, \"runs\": %d}\n", 1e3 * t1, only_b1);
    } else {
        printf("{\"workload\": \"w8_bert_%s%s\", \"threads\": %d, \"gemm\": \"%s\", "
               "\"params\": %lld, \"batch1_ms_median\": %.2f, \"batch1_ms_min\": %.2f, "
               "\"batch8_seq_per_s_median\": %.2f, \"batch8_seq_per_s_best\": %.2f%s",
               cfg, frozen == 2 ? "_bf16" : "", dc_get_num_threads(),
               frozen == 2 ? dc_k_gemm_bf16_name() : dc_gemm_backend(),
               (long long)dc_model_n_trainable(m),
               1e3 * t1, 1e3 * min1, 8 / t8, 8 / min8, frozen == 2 ? "" : "}\n");
        if (frozen == 2) /* against float32: max |difference| / max |output| at batch 1 */
            printf(", \"bf16_max_rel_diff\": %.3g}\n", bf16_err);
    }
    rc = 0;
done:
    dc_tensor_free(x1);
    dc_tensor_free(x8);
    dc_model_free(m);
    dc_ctx_free(ctx);
    return rc;
}

typedef struct attn_job {
    dc_ctx *ctx, *rec; /* rec records a tape: the blocked kernel (it keeps the lse) */
    dc_tensor *qkv;
    float *a, *w, *y;
    int64_t T;
} attn_job;

static void attn_run(dc_ctx *ctx, attn_job *j)
{
    dc_attn_opts o = dc_attn_defaults();
    if (!dc_attention_packed(ctx, j->qkv, 0, j->qkv, 256, j->qkv, 512, 4, 64, &o))
        fprintf(stderr, "bench attn: %s\n", dc_last_error());
    dc_ctx_reset(ctx);
}

static void attn_once(void *p) { attn_run(((attn_job *)p)->ctx, p); }
static void attn_blocked_once(void *p) { attn_run(((attn_job *)p)->rec, p); }

static void gemm_once(void *p)
{
    attn_job *j = p;
    dc_gemm(0, 1, j->T, 256, 256, 1.0f, j->a, 256, j->w, 256, 0.0f, j->y, 256);
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Medians of 9 calls of each f[i](arg) after 2 warm-up rounds, the calls interleaved (f0, f1,
 * f2, f0, ...) so that a load on the machine falls on all of them alike: wall seconds in med,
 * process CPU seconds in cpu (on one thread, the time the call ran, however long it waited). */
static void median9_each(void (*const *f)(void *), int n, void *arg, double *med, double *cpu)
{
    double t[3][9], c[3][9];
    for (int r = 0; r < 11; r++)
        for (int i = 0; i < n; i++) {
            const double t0 = now_s(), c0 = cpu_s();
            f[i](arg);
            if (r >= 2) {
                t[i][r - 2] = now_s() - t0;
                c[i][r - 2] = cpu_s() - c0;
            }
        }
    for (int i = 0; i < n; i++) {
        med[i] = median(t[i], 9);
        cpu[i] = median(c[i], 9);
    }
}

static int attn_bench(int64_t T)
{
    attn_job j = {dc_ctx_new(0), dc_ctx_new(0), dc_tensor_new(DC_F32, 3, DC_SHAPE(1, T, 768)),
                  NULL, NULL, NULL, T};
    dc_tensor *a = dc_tensor_new(DC_F32, 2, DC_SHAPE(T, 256));
    dc_tensor *w = dc_tensor_new(DC_F32, 2, DC_SHAPE(256, 256));
    dc_tensor *y = dc_tensor_new(DC_F32, 2, DC_SHAPE(T, 256));
    if (T < 1 || !j.ctx || !j.rec || !j.qkv || !a || !w || !y ||
        dc_tensor_requires_grad(j.qkv) != DC_OK)
        return 1;
    dc_rng r;
    dc_rng_seed(&r, 1, 0);
    dc_tensor_normal(j.qkv, &r, 0.0f, 1.0f);
    dc_tensor_normal(a, &r, 0.0f, 1.0f);
    dc_tensor_normal(w, &r, 0.0f, 1.0f);
    j.a = dc_f32(a), j.w = dc_f32(w), j.y = dc_f32(y);
    dc_ctx_set_grad(j.ctx, 0);
    dc_ctx_set_grad(j.rec, 1);
    dc_attn_opts o = dc_attn_defaults();
    dc_attention_packed(j.ctx, j.qkv, 0, j.qkv, 256, j.qkv, 512, 4, 64, &o);
    const size_t used = dc_ctx_arena_used(j.ctx);
    dc_ctx_reset(j.ctx);
    void (*const f[3])(void *) = {attn_once, gemm_once, attn_blocked_once};
    double t[3], c[3];
    median9_each(f, 3, &j, t, c);
    const double flops = 4.0 * 4 * (double)T * (double)T * 64, rate = 2.0 * T * 256 * 256 / t[1];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    header("attn_long");
    printf(", \"T\": %lld, \"ms\": %.3f, \"gemm_gflops\": %.1f, \"predicted_ms\": %.3f, "
           "\"ratio\": %.2f, \"cpu_ratio\": %.2f, \"blocked_ms\": %.3f, "
           "\"blocked_ratio\": %.2f, \"blocked_cpu_ratio\": %.2f, \"arena_bytes\": %zu, "
           "\"peak_rss_kb\": %ld}\n", (long long)T, 1e3 * t[0], rate / 1e9, 1e3 * flops / rate,
           t[0] / (flops / rate), c[0] / c[1] * t[1] / (flops / rate), 1e3 * t[2],
           t[2] / (flops / rate), c[2] / c[1] * t[1] / (flops / rate), used, ru.ru_maxrss);
    dc_tensor_free(a);
    dc_tensor_free(w);
    dc_tensor_free(y);
    dc_tensor_free(j.qkv);
    dc_ctx_free(j.ctx);
    dc_ctx_free(j.rec);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 0, i = 1;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
        /* as the CLI does (src/cli/main.c): libgomp reads it before main, hence the exec */
        setenv("GOMP_SPINCOUNT", dc_spincount_default(), 0);
        setenv("OPENBLAS_NUM_THREADS", "1", 0);
        execv("/proc/self/exe", argv);
    }
    if (argc > 2 && !strcmp(argv[1], "--threads")) {
        threads = atoi(argv[2]);
        i = 3;
    }
    if (getenv("DEEPC_GEMM") && !strcmp(getenv("DEEPC_GEMM"), "builtin"))
        dc_gemm_force_builtin(1);
    else if (getenv("DEEPC_GEMM") && !strcmp(getenv("DEEPC_GEMM"), "openblas"))
        dc_gemm_prefer_blas();
    dc_set_num_threads(threads);
    if (i >= argc) {
        fprintf(stderr, "usage: bench_deepc [--threads N] w1 [epochs] | w2 | w3 lstm|gru|rnn | w6 | "
                        "w7 [steps] | w8 mini|base [bf16] | attn T\n");
        return 2;
    }
    const char *w = argv[i];
    if (!strcmp(w, "prepare") && i + 1 < argc)
        return prepare(argv[i + 1]);
    if (!strcmp(w, "w1"))
        return w1(i + 1 < argc ? atoi(argv[i + 1]) : 3);
    if (!strcmp(w, "w2"))
        return w2();
    if (!strcmp(w, "w3") && i + 1 < argc)
        return w3(argv[i + 1]);
    if (!strcmp(w, "w6"))
        return w6();
    if (!strcmp(w, "attn") && i + 1 < argc)
        return attn_bench(atoll(argv[i + 1]));
    if (!strcmp(w, "w7"))
        return w7(i + 1 < argc ? atoi(argv[i + 1]) : 20);
    if (!strcmp(w, "w8") && i + 1 < argc && (!strcmp(argv[i + 1], "mini") ||
                                             !strcmp(argv[i + 1], "base")))
    {
        if (i + 2 < argc && !strcmp(argv[i + 2], "bf16")) {
            if (strcmp(dc_k_gemm_bf16_name(), "bf16-avx512")) { /* the portable kernel: slow */
                fprintf(stderr, "bench_deepc: no AVX512-BF16 here: the bf16 rows are skipped\n");
                return 0;
            }
            return w8(argv[i + 1], 0, 2);
        }
        return w8(argv[i + 1], i + 2 < argc ? atoi(argv[i + 2]) : 0,
                  !(i + 3 < argc && !strcmp(argv[i + 3], "unfrozen")));
    }
    fprintf(stderr, "bench_deepc: unknown workload '%s'\n", w);
    return 2;
}
