/*
 * mlp_digits.c - the first real program: an MLP on the 8x8 digits of scikit-learn.
 *
 * 1797 images of 64 pixels, shuffled with a fixed seed, 80% to train and 20% held out.
 * Model 64 -> 128 -> ReLU -> 64 -> ReLU -> 10, cross-entropy, Adam (lr 1e-3), batch 32.
 * Prints a line per epoch, the held-out accuracy, then saves the weights, reloads them into a
 * fresh model and checks that it predicts the same.
 *
 *   build/mlp_digits [path/to/digits.csv.gz] [--epochs N] [--seed S] [--weights W]
 *
 * The weights go to W (default: mlp_digits.safetensors in the current folder; `make demo-digits`
 * puts them under build/) and are removed after the check.
 */
#define _POSIX_C_SOURCE 200809L
#include "deepc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* 64 -> 128 -> 64 -> 10 with ReLUs; parameter names fc1.weight ... fc3.bias. */
static dc_model *build_mlp(dc_rng *rng)
{
    dc_model *m = dc_model_new();
    if (!m)
        return NULL;
    if (dc_model_add(m, dc_linear_new(m, "fc1", 64, 128, 1, rng)) ||
        dc_model_add(m, dc_act_new(m, "relu1", DC_ACT_RELU, 0)) ||
        dc_model_add(m, dc_linear_new(m, "fc2", 128, 64, 1, rng)) ||
        dc_model_add(m, dc_act_new(m, "relu2", DC_ACT_RELU, 0)) ||
        dc_model_add(m, dc_linear_new(m, "fc3", 64, 10, 1, rng))) {
        dc_model_free(m);
        return NULL;
    }
    return m;
}

/* Accuracy of m on rows idx[0..n) of (x, y), evaluated in batches without recording. */
static double evaluate(dc_model *m, dc_ctx *ctx, const dc_tensor *x, const dc_tensor *y,
                       const int64_t *idx, int64_t n)
{
    int64_t correct = 0;
    int old_grad = dc_ctx_set_grad(ctx, 0), old_train = dc_ctx_set_training(ctx, 0);
    for (int64_t i = 0; i < n; i += 256) {
        int64_t b = n - i < 256 ? n - i : 256, ok = 0;
        dc_tensor *logits = dc_model_forward(ctx, m, dc_gather_rows(ctx, x, idx + i, b));
        dc_tensor *target = dc_gather_rows(ctx, y, idx + i, b);
        if (logits && target)
            dc_accuracy(logits, target, &ok);
        correct += ok;
        dc_ctx_reset(ctx);
    }
    dc_ctx_set_grad(ctx, old_grad);
    dc_ctx_set_training(ctx, old_train);
    return (double)correct / (double)n;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *wpath = "mlp_digits.safetensors";
    int epochs = 40;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--weights") && i + 1 < argc)
            wpath = argv[++i];
        else
            path = argv[i];
    }
    dc_tensor *x, *y;
    if (dc_digits_load(path, &x, &y) != DC_OK) {
        fprintf(stderr, "mlp_digits: %s\n", dc_last_error());
        return 2;
    }
    int64_t n = x->shape[0], n_test = n / 5, n_train = n - n_test;
    int64_t *order = malloc((size_t)n * sizeof *order);
    dc_rng rng;
    dc_rng_seed(&rng, seed, 0);
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    dc_rng_shuffle(&rng, order, n); /* order[0..n_train) trains, the rest is held out */

    dc_model *m = build_mlp(&rng);
    dc_optim_cfg cfg = dc_optim_defaults(DC_ADAM);
    dc_optim *opt = m ? dc_optim_new(m, &cfg) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    if (!m || !opt || !ctx) {
        fprintf(stderr, "mlp_digits: %s\n", dc_last_error());
        return 1;
    }
    dc_ctx_set_rng(ctx, &rng);
    printf("digits: %lld train, %lld held out; MLP 64-128-64-10, %lld parameters, gemm %s\n",
           (long long)n_train, (long long)n_test, (long long)dc_model_n_trainable(m),
           dc_gemm_backend());
    double t0 = now();
    const int64_t B = 32;
    for (int ep = 1; ep <= epochs; ep++) {
        dc_rng_shuffle(&rng, order, n_train);
        double loss_sum = 0;
        int64_t steps = 0;
        dc_ctx_set_training(ctx, 1);
        for (int64_t i = 0; i < n_train; i += B, steps++) {
            int64_t b = n_train - i < B ? n_train - i : B;
            dc_tensor *xb = dc_gather_rows(ctx, x, order + i, b);
            dc_tensor *yb = dc_gather_rows(ctx, y, order + i, b);
            dc_tensor *loss = dc_cross_entropy(ctx, dc_model_forward(ctx, m, xb), yb, NULL);
            dc_optim_zero_grad(opt);
            if (!loss || dc_backward(ctx, loss) != DC_OK || dc_optim_step(opt) != DC_OK) {
                fprintf(stderr, "mlp_digits: step failed: %s\n", dc_last_error());
                return 1;
            }
            loss_sum += dc_f32(loss)[0];
            dc_ctx_reset(ctx);
        }
        if (ep % 5 == 0 || ep == 1 || ep == epochs) {
            double acc = evaluate(m, ctx, x, y, order, n_train);
            printf("epoch %3d  loss %.4f  train acc %.4f  %.2fs\n", ep, loss_sum / steps, acc,
                   now() - t0);
        }
    }
    double test_acc = evaluate(m, ctx, x, y, order + n_train, n_test);
    printf("held-out accuracy: %.4f (%lld images) in %.2fs\n", test_acc, (long long)n_test,
           now() - t0);

    /* Save, reload into a fresh model, and check it predicts the same. */
    dc_model *m2 = build_mlp(NULL);
    dc_load_report rep;
    if (dc_model_save(m, wpath) != DC_OK || !m2 || dc_model_load(m2, wpath, 1, &rep) != DC_OK) {
        fprintf(stderr, "mlp_digits: save/load failed: %s\n", dc_last_error());
        return 1;
    }
    double acc2 = evaluate(m2, ctx, x, y, order + n_train, n_test);
    printf("saved %s; reloaded model accuracy %.4f\n", wpath, acc2);
    remove(wpath);
    int ok = test_acc >= 0.96 && acc2 == test_acc;
    dc_model_free(m2);
    dc_optim_free(opt);
    dc_model_free(m);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(y);
    free(order);
    return ok ? 0 : 1;
}
