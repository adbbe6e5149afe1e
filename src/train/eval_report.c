/*
 * eval_report.c - what a classification run prints of its results (eval_report.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "eval_report.h"

#include <stdio.h>

void dc_print_confusion(FILE *f, const dc_eval_result *r, const char *(*name)(int))
{
    int K = r->n_classes;
    if (K <= 0 || K > 100 || !r->confusion)
        return;
    fprintf(f, "confusion matrix (rows: true class, columns: predicted)\n%14s", "");
    for (int j = 0; j < K; j++)
        fprintf(f, " %5d", j);
    fprintf(f, "\n");
    for (int i = 0; i < K; i++) {
        fprintf(f, "%2d %-11.11s", i, name ? name(i) : "");
        for (int j = 0; j < K; j++)
            fprintf(f, " %5lld", (long long)r->confusion[i * K + j]);
        fprintf(f, "\n");
    }
}

void dc_print_predictions(FILE *f, dc_model *m, const dc_dataset *d, int n,
                          const char *(*name)(int))
{
    dc_ctx *ctx = dc_ctx_new(0);
    int64_t idx[16];
    dc_tensor *x, *y;
    if (!ctx || n > 16 || n > d->n)
        goto out;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    dc_ctx_set_grad(ctx, 0);
    if (d->batch(d, ctx, idx, n, &x, &y) != DC_OK)
        goto out;
    dc_tensor *p = dc_softmax(ctx, dc_model_forward(ctx, m, x), -1);
    if (!p || p->ndim != 2)
        goto out;
    int64_t K = p->shape[1], pred[16];
    dc_argmax_rows(p, pred);
    fprintf(f, "predictions for the first %d test examples:\n", n);
    for (int i = 0; i < n; i++) {
        int64_t t = dc_i64(y)[i];
        fprintf(f, "  #%d  true %-12s predicted %-12s p=%.3f  %s\n", i, name((int)t),
               name((int)pred[i]), (double)dc_f32(p)[i * K + pred[i]],
               t == pred[i] ? "ok" : "WRONG");
    }
out:
    dc_ctx_free(ctx);
}

