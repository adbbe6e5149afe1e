/*
 * seq2seq.c - an encoder-decoder that learns to reverse (or sort) strings of digits.
 *
 * The task is generated here: a source is 1..10 random digits, its target the same digits
 * reversed (--task reverse) or in ascending order (--task sort), followed by EOS. A hash of the
 * source string puts one string in eight into the held-out set: training never draws those, and
 * the final accuracy is measured only on them (unseen inputs).
 *
 * Model (dc_seq2seq, docs/seq2seq.md): embedding -> GRU encoder; its final state starts the GRU
 * decoder, which reads the previous target token (BOS first; the true one while training:
 * teacher forcing) -> linear over the 13 tokens. Inference is greedy, one step at a time with the
 * decoder state carried, until EOS. Every batch holds sources of one length (bucketing), so
 * nothing is padded.
 *
 *   build/seq2seq [--task reverse|sort] [--steps N] [--seed S] [--threads T] [--cell gru|lstm]
 *                 [--batch B] [--save model.safetensors]
 *
 * Exit status 0 when the exact-sequence accuracy on the held-out strings is at least 95%.
 */
#define _POSIX_C_SOURCE 200809L
#include "deepc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PAD = 0, BOS = 1, EOS = 2, DIGIT0 = 3, VOCAB = 13, MAX_LEN = 10, EVAL_PER_LEN = 100 };

typedef enum task { TASK_REVERSE, TASK_SORT } task;

typedef struct options {
    task task;
    int steps, threads, batch;
    uint64_t seed;
    dc_rnn_kind cell;
    const char *save;
} options;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* 1 for the one string in eight that is held out: FNV-1a over the digits, then a 64-bit mix. */
static int held_out(const int *d, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++)
        h = (h ^ (uint64_t)(d[i] + 1)) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (h & 7) == 0;
}

/* The answer for digits d[0..n): reversed or sorted. */
static void answer(task tk, const int *d, int n, int *y)
{
    for (int i = 0; i < n; i++)
        y[i] = tk == TASK_REVERSE ? d[n - 1 - i] : d[i];
    if (tk == TASK_SORT) /* insertion sort: n <= 10 */
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && y[j - 1] > y[j]; j--) {
                int t = y[j];
                y[j] = y[j - 1];
                y[j - 1] = t;
            }
}

/* Token rows for B strings of length L: src [B, L] (digit tokens), tgt [B, L + 1] (answer, EOS). */
static void encode_rows(task tk, const int *digits, int64_t B, int L, int64_t *src, int64_t *tgt)
{
    int y[MAX_LEN];
    for (int64_t b = 0; b < B; b++) {
        const int *d = digits + b * L;
        answer(tk, d, L, y);
        for (int i = 0; i < L; i++) {
            src[b * L + i] = DIGIT0 + d[i];
            tgt[b * (L + 1) + i] = DIGIT0 + y[i];
        }
        tgt[b * (L + 1) + L] = EOS;
    }
}

/* The held-out strings of length L: all of them for L <= 3, else EVAL_PER_LEN distinct random
 * ones. digits receives [count, L]; returns count. */
static int eval_strings(int L, dc_rng *rng, int *digits)
{
    int count = 0, d[MAX_LEN];
    if (L <= 3) {
        int total = L == 1 ? 10 : L == 2 ? 100 : 1000;
        for (int v = 0; v < total && count < EVAL_PER_LEN * 2; v++) {
            for (int i = 0, x = v; i < L; i++, x /= 10)
                d[i] = x % 10;
            if (held_out(d, L))
                memcpy(digits + count++ * L, d, (size_t)L * sizeof *d);
        }
        return count;
    }
    while (count < EVAL_PER_LEN) {
        for (int i = 0; i < L; i++)
            d[i] = (int)dc_rng_below(rng, 10);
        int dup = !held_out(d, L);
        for (int k = 0; k < count && !dup; k++)
            dup = !memcmp(digits + k * L, d, (size_t)L * sizeof *d);
        if (!dup)
            memcpy(digits + count++ * L, d, (size_t)L * sizeof *d);
    }
    return count;
}

/* B training strings of length L, none held out, into digits [B, L]. */
static void train_strings(int L, int64_t B, dc_rng *rng, int *digits)
{
    for (int64_t b = 0; b < B; b++) {
        int *d = digits + b * L;
        do {
            for (int i = 0; i < L; i++)
                d[i] = (int)dc_rng_below(rng, 10);
        } while (held_out(d, L));
    }
}

/* The held-out strings, by length. */
typedef struct evalset {
    int n[MAX_LEN + 1];
    int *digits[MAX_LEN + 1]; /* [n[L], L] */
} evalset;

/* Token string "3141" of digit tokens t[0..n) up to EOS ("" + "$" for EOS, "?" for others). */
static void show_tokens(const int64_t *t, int64_t n, char *buf)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        buf[k++] = t[i] == EOS ? '$' : (t[i] >= DIGIT0 && t[i] < VOCAB) ? (char)('0' + t[i] - DIGIT0)
                                                                         : '?';
    buf[k] = '\0';
}

/* Greedy-decode the held-out strings of length L; returns how many match exactly (all L digits
 * and then EOS). Prints the first n_show decodings. */
static int eval_length(dc_seq2seq *s, dc_ctx *ctx, task tk, const evalset *ev, int L, int n_show)
{
    const int64_t N = ev->n[L], T = L + 1, max_len = L + 3;
    dc_tensor *src = dc_empty(ctx, DC_I64, 2, DC_SHAPE(N, L));
    int64_t *tgt = dc_ctx_alloc(ctx, (size_t)(N * T) * sizeof *tgt);
    int64_t *out = dc_ctx_alloc(ctx, (size_t)(N * max_len) * sizeof *out);
    int64_t *out_len = dc_ctx_alloc(ctx, (size_t)N * sizeof *out_len);
    if (!src || !tgt || !out || !out_len)
        return -1;
    encode_rows(tk, ev->digits[L], N, L, dc_i64(src), tgt);
    if (dc_seq2seq_greedy(ctx, s, src, max_len, out, out_len, NULL) != DC_OK)
        return -1;
    int correct = 0;
    for (int64_t n = 0; n < N; n++) {
        int ok = out_len[n] == T && !memcmp(out + n * max_len, tgt + n * T, (size_t)T * 8);
        correct += ok;
        if (n < n_show) {
            char a[MAX_LEN + 2], b[MAX_LEN + 4], c[MAX_LEN + 4];
            show_tokens(dc_i64(src) + n * L, L, a);
            show_tokens(out + n * max_len, out_len[n], b);
            show_tokens(tgt + n * T, T, c);
            printf("  %-10s -> %-12s %s (want %s)\n", a, b, ok ? "ok   " : "WRONG", c);
        }
    }
    dc_ctx_reset(ctx);
    return correct;
}

/* Exact-sequence accuracy over every held-out string; per-length lines when verbose. */
static double evaluate(dc_seq2seq *s, dc_ctx *ctx, task tk, const evalset *ev, int verbose)
{
    int correct = 0, total = 0;
    for (int L = 1; L <= MAX_LEN; L++) {
        if (!ev->n[L])
            continue;
        int c = eval_length(s, ctx, tk, ev, L, verbose && (L == 4 || L == 7 || L == 10) ? 3 : 0);
        if (c < 0) {
            fprintf(stderr, "seq2seq: evaluation failed: %s\n", dc_last_error());
            return -1;
        }
        if (verbose)
            printf("  length %2d: %3d / %3d exact\n", L, c, ev->n[L]);
        correct += c;
        total += ev->n[L];
    }
    return (double)correct / (double)total;
}

/* One teacher-forced step on a batch of B strings of one random length. Returns the loss, or
 * NAN on error; adds the arg-max hits / tokens into *hit, *tot. */
static float train_step(dc_seq2seq *s, dc_optim *opt, dc_ctx *ctx, const options *o, dc_rng *rng,
                        int *digits, int64_t *hit, int64_t *tot)
{
    const int L = 1 + (int)dc_rng_below(rng, MAX_LEN);
    const int64_t B = o->batch;
    train_strings(L, B, rng, digits);
    dc_tensor *src = dc_empty(ctx, DC_I64, 2, DC_SHAPE(B, L));
    dc_tensor *tgt = dc_empty(ctx, DC_I64, 2, DC_SHAPE(B, L + 1));
    if (!src || !tgt)
        return NAN;
    encode_rows(o->task, digits, B, L, dc_i64(src), dc_i64(tgt));
    int64_t h = 0, t = 0;
    dc_tensor *loss = dc_seq2seq_loss(ctx, s, src, tgt, &h, &t);
    dc_optim_zero_grad(opt);
    if (!loss || dc_backward(ctx, loss) != DC_OK)
        return NAN;
    dc_clip_grad_norm(dc_seq2seq_model(s), 1.0f);
    if (dc_optim_step(opt) != DC_OK)
        return NAN;
    float v = dc_f32(loss)[0];
    dc_ctx_reset(ctx);
    *hit += h;
    *tot += t;
    return v;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.task = TASK_REVERSE, .steps = 5000, .threads = 1, .batch = 64, .seed = 1,
                   .cell = DC_GRU};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!v)
            goto bad;
        i++;
        if (!strcmp(a, "--task") && (!strcmp(v, "reverse") || !strcmp(v, "sort")))
            o->task = !strcmp(v, "sort") ? TASK_SORT : TASK_REVERSE;
        else if (!strcmp(a, "--cell") && (!strcmp(v, "gru") || !strcmp(v, "lstm")))
            o->cell = !strcmp(v, "lstm") ? DC_LSTM : DC_GRU;
        else if (!strcmp(a, "--steps") && (o->steps = (int)strtol(v, &end, 10)) > 0 && !*end)
            continue;
        else if (!strcmp(a, "--threads") && (o->threads = (int)strtol(v, &end, 10)) > 0 && !*end)
            continue;
        else if (!strcmp(a, "--batch") && (o->batch = (int)strtol(v, &end, 10)) > 0 && !*end)
            continue;
        else if (!strcmp(a, "--seed") && (o->seed = strtoull(v, &end, 10), *v && !*end))
            continue;
        else if (!strcmp(a, "--save"))
            o->save = v;
        else
            goto bad;
        continue;
    bad:
        fprintf(stderr, "usage: seq2seq [--task reverse|sort] [--steps N] [--seed S] "
                        "[--threads T] [--cell gru|lstm] [--batch B] [--save FILE]\n"
                        "seq2seq: bad or incomplete option '%s'\n", a);
        return 0;
    }
    return 1;
}

static void free_evalset(evalset *ev)
{
    for (int L = 1; L <= MAX_LEN; L++)
        free(ev->digits[L]);
}

/* Train for o->steps with Adam (lr 3e-3, cosine decay to 5%), printing progress. */
static int train(dc_seq2seq *s, dc_ctx *ctx, const options *o, const evalset *ev, dc_rng *rng)
{
    dc_optim_cfg cfg = dc_optim_defaults(DC_ADAM);
    cfg.lr = 3e-3f;
    dc_optim *opt = dc_optim_new(dc_seq2seq_model(s), &cfg);
    int *digits = malloc((size_t)o->batch * MAX_LEN * sizeof *digits);
    if (!opt || !digits) {
        fprintf(stderr, "seq2seq: %s\n", opt ? "out of memory" : dc_last_error());
        dc_optim_free(opt);
        free(digits);
        return 0;
    }
    const double t0 = now();
    double loss_sum = 0;
    int64_t hit = 0, tot = 0;
    int ok = 1;
    for (int step = 1; step <= o->steps && ok; step++) {
        const double frac = (double)(step - 1) / (double)o->steps;
        dc_optim_set_lr(opt, cfg.lr * (float)(0.05 + 0.95 * 0.5 * (1.0 + cos(3.14159265358979 * frac))));
        float l = train_step(s, opt, ctx, o, rng, digits, &hit, &tot);
        if (!(ok = isfinite(l)))
            fprintf(stderr, "seq2seq: step %d failed: %s\n", step, dc_last_error());
        loss_sum += l;
        if (ok && (step % 250 == 0 || step == o->steps)) {
            const int n = step % 250 ? step % 250 : 250;
            printf("step %5d  loss %.4f  token acc %.4f  held-out exact %.4f  lr %.2e  %.1fs\n",
                   step, loss_sum / n, (double)hit / (double)tot, evaluate(s, ctx, o->task, ev, 0),
                   (double)dc_optim_lr(opt), now() - t0);
            loss_sum = 0;
            hit = tot = 0;
        }
    }
    dc_optim_free(opt);
    free(digits);
    return ok;
}

int main(int argc, char **argv)
{
    options o;
    if (!parse_args(argc, argv, &o))
        return 2;
    dc_set_num_threads(o.threads);
    dc_rng rng, eval_rng;
    dc_rng_seed(&rng, o.seed, 0);
    dc_rng_seed(&eval_rng, o.seed, 1);
    evalset ev = {0};
    int n_eval = 0;
    for (int L = 1; L <= MAX_LEN; L++) {
        if (!(ev.digits[L] = malloc((size_t)EVAL_PER_LEN * 2 * L * sizeof(int)))) {
            free_evalset(&ev);
            fprintf(stderr, "seq2seq: out of memory\n");
            return 1;
        }
        n_eval += ev.n[L] = eval_strings(L, &eval_rng, ev.digits[L]);
    }
    dc_seq2seq_opts so = dc_seq2seq_defaults(VOCAB, VOCAB, BOS, EOS);
    so.kind = o.cell;
    so.pad_id = PAD;
    dc_seq2seq *s = dc_seq2seq_new(&so, &rng);
    dc_ctx *ctx = dc_ctx_new(0);
    if (!s || !ctx) {
        fprintf(stderr, "seq2seq: %s\n", dc_last_error());
        return 1;
    }
    printf("seq2seq: %s digit strings of length 1..%d; %s encoder-decoder, E %lld, H %lld, "
           "%lld parameters; batch %d, %d steps, %d thread(s); %d held-out strings\n",
           o.task == TASK_SORT ? "sort" : "reverse", MAX_LEN, o.cell == DC_LSTM ? "LSTM" : "GRU",
           (long long)so.embed_dim, (long long)so.hidden_size,
           (long long)dc_model_n_trainable(dc_seq2seq_model(s)), o.batch, o.steps, o.threads,
           n_eval);
    const double t0 = now();
    int ok = train(s, ctx, &o, &ev, &rng);
    const double t_train = now() - t0;
    if (ok)
        printf("held-out strings by length, a few greedy decodings ($ is EOS):\n");
    double acc = ok ? evaluate(s, ctx, o.task, &ev, 1) : -1;
    if (ok)
        printf("held-out exact-sequence accuracy: %.4f (%d strings), training %.1fs\n", acc,
               n_eval, t_train);
    if (ok && o.save && dc_model_save(dc_seq2seq_model(s), o.save) != DC_OK) {
        fprintf(stderr, "seq2seq: %s\n", dc_last_error());
        ok = 0;
    } else if (ok && o.save) {
        printf("saved %s\n", o.save);
    }
    dc_ctx_free(ctx);
    dc_seq2seq_free(s);
    free_evalset(&ev);
    return ok && acc >= 0.95 ? 0 : 1;
}
