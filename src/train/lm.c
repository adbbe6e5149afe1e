/*
 * lm.c - training and evaluating language models (char-RNN) with truncated backpropagation
 * through time: B parallel streams, chunks of T steps, the RNN state carried from one chunk to the
 * next and detached, so each backward pass spans T steps while the state sees the whole text.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Cross-entropy of logits [B, t, V] against y [B, t] as one [B·t, V] batch. */
static dc_tensor *lm_loss(dc_ctx *ctx, dc_tensor *logits, dc_tensor *y)
{
    if (!logits || !y)
        return NULL;
    if (logits->ndim != 3 || logits->shape[0] != y->shape[0] || logits->shape[1] != y->shape[1]) {
        char a[64], b[64];
        return dc_err_null(DC_ERR_SHAPE, "language model: the model must map ids [B, t] to "
                           "logits [B, t, V]; got %s for ids %s",
                           dc_shape_str(logits, a, sizeof a), dc_shape_str(y, b, sizeof b));
    }
    const int64_t n = y->shape[0] * y->shape[1], V = logits->shape[2];
    return dc_cross_entropy(ctx, dc_reshape(ctx, logits, 2, DC_SHAPE(n, V)),
                            dc_reshape(ctx, y, 1, DC_SHAPE(n)), NULL);
}

dc_status dc_evaluate_lm(dc_model *m, const int64_t *ids, int64_t n, int64_t b, int64_t t,
                         double *loss)
{
    *loss = 0;
    dc_text_stream *s = dc_text_stream_new(ids, n, b, t);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_status st = s && ctx ? DC_OK : DC_ERR_NOMEM;
    double sum = 0;
    int64_t count = 0;
    if (st == DC_OK) {
        dc_ctx_set_grad(ctx, 0);
        dc_ctx_set_training(ctx, 0);
        dc_model_set_carry(m, 1);
    }
    while (st == DC_OK) {
        dc_tensor *x, *y;
        if ((st = dc_text_stream_next(s, ctx, &x, &y)) != DC_OK || !x)
            break;
        dc_tensor *l = lm_loss(ctx, dc_model_forward(ctx, m, x), y);
        if (!l) {
            st = DC_ERR_ARG;
            break;
        }
        sum += (double)dc_f32(l)[0] * (double)y->numel;
        count += y->numel;
        dc_ctx_reset(ctx);
    }
    dc_model_set_carry(m, 0);
    dc_ctx_free(ctx);
    dc_text_stream_free(s);
    if (st == DC_OK)
        *loss = count ? sum / (double)count : 0;
    return st;
}

typedef struct lm_run {
    dc_model *m;
    const dc_train_opts *o;
    dc_text_stream *s;
    dc_optim *opt;
    dc_ctx *ctx;
    int64_t step;
} lm_run;

/* One chunk: forward with the carried state, loss, backward, clip, step. */
/* Rows [lo, hi) of an int64 [B, t] chunk (this rank's streams). */
static dc_tensor *stream_rows(dc_ctx *ctx, const dc_tensor *t, int64_t lo, int64_t hi)
{
    dc_tensor *s = dc_empty(ctx, DC_I64, 2, DC_SHAPE(hi - lo, t->shape[1]));
    if (s)
        memcpy(s->data, dc_i64(t) + lo * t->shape[1],
               sizeof(int64_t) * (size_t)((hi - lo) * t->shape[1]));
    return s;
}

/* One chunk: forward with the carried state, loss, backward, clip, step. With several ranks
 * (dc_dist_size), rank k owns streams [B·k/R, B·(k+1)/R): its gradients are weighted by its share
 * and summed, so every rank takes the step of the whole batch of streams. */
static dc_status lm_step(lm_run *r, dc_tensor *x, dc_tensor *y, int ep, double *lv)
{
    const int R = dc_dist_size(), k = dc_dist_rank();
    const int64_t B = x->shape[0], lo = B * k / R, hi = B * (k + 1) / R;
    if (R > 1) {
        x = stream_rows(r->ctx, x, lo, hi);
        y = stream_rows(r->ctx, y, lo, hi);
    }
    dc_tensor *l = hi > lo ? lm_loss(r->ctx, dc_model_forward(r->ctx, r->m, x), y) : NULL;
    if (hi > lo && !l)
        return DC_ERR_ARG;
    double m = l ? (double)dc_f32(l)[0] * (double)(hi - lo) : 0.0;
    dc_status st = dc_dist_sum(&m, 1);
    if (st != DC_OK)
        return st;
    *lv = m / (double)B;
    if (!isfinite(*lv))
        return dc_err(DC_ERR_NUMERIC, "step %lld (epoch %d): the loss is %s; lower the learning "
                      "rate (now %g) or clip gradients (--clip)", (long long)r->step + 1, ep,
                      isnan(*lv) ? "NaN" : "Inf", (double)dc_optim_lr(r->opt));
    dc_optim_zero_grad(r->opt);
    if (l && (st = dc_backward(r->ctx, l)) != DC_OK)
        return st;
    if (R > 1 && (st = dc_dist_allreduce_grads(r->m, (float)(hi - lo) / (float)B)) != DC_OK)
        return st;
    if (r->o->clip_norm > 0)
        dc_clip_grad_norm(r->m, r->o->clip_norm);
    if ((st = dc_optim_step(r->opt)) != DC_OK)
        dc_err_prefix("step %lld: ", (long long)r->step + 1);
    r->step++;
    return st;
}

/* One pass over the streams; mean loss and positions per second through the pointers. */
static dc_status lm_epoch(lm_run *r, int ep, double *loss, double *tps)
{
    double sum = 0, t0 = now_s();
    int64_t count = 0, chunk = 0, chunks = dc_text_stream_chunks(r->s);
    dc_status st = DC_OK;
    dc_text_stream_rewind(r->s);
    dc_model_set_carry(r->m, 1); /* zeros at the start of every pass */
    dc_ctx_set_training(r->ctx, 1);
    while (st == DC_OK) {
        dc_tensor *x, *y;
        double lv = 0;
        if ((st = dc_text_stream_next(r->s, r->ctx, &x, &y)) != DC_OK || !x)
            break;
        const int64_t positions = y->numel; /* of all ranks' streams */
        if ((st = lm_step(r, x, y, ep, &lv)) != DC_OK)
            break;
        sum += lv * (double)positions;
        count += positions;
        dc_ctx_reset(r->ctx);
        chunk++;
        if (r->o->progress && isatty(2) && dc_dist_rank() == 0) {
            double dt = now_s() - t0;
            fprintf(stderr, "\repoch %d/%d  chunk %lld/%lld  loss %.4f  %.0f tok/s   ", ep,
                    r->o->epochs, (long long)chunk, (long long)chunks, sum / (double)count,
                    dt > 0 ? (double)count / dt : 0.0);
        }
        if (r->o->max_steps > 0 && r->step >= r->o->max_steps)
            break;
    }
    dc_model_set_carry(r->m, 0);
    if (r->o->progress && isatty(2) && dc_dist_rank() == 0)
        fputc('\n', stderr);
    double dt = now_s() - t0;
    *loss = count ? sum / (double)count : 0;
    *tps = dt > 0 ? (double)count / dt : 0;
    return st;
}

static dc_status lm_save(const dc_model *m, const char *dir)
{
    char path[1024];
    if (!dir || dc_dist_rank() != 0)
        return DC_OK;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return dc_model_save(m, path);
}

dc_status dc_train_lm(dc_model *m, const int64_t *train_ids, int64_t n_train,
                      const int64_t *val_ids, int64_t n_val, const dc_train_opts *o,
                      dc_lm_result *last)
{
    lm_run r = {.m = m, .o = o};
    dc_lm_result res = {0};
    dc_sched *sched = NULL;
    const int64_t T = o->bptt > 0 ? o->bptt : 64;
    if (o->epochs <= 0 || o->batch_size <= 0 || n_train < 2 * o->batch_size)
        return dc_err(DC_ERR_ARG, "train_lm: need epochs > 0 and at least 2 training symbols "
                      "per stream (%lld symbols, %lld streams)", (long long)n_train,
                      (long long)o->batch_size);
    r.s = dc_text_stream_new(train_ids, n_train, o->batch_size, T);
    r.ctx = dc_ctx_new(0);
    r.opt = r.s && r.ctx ? dc_optim_new(m, &o->optim) : NULL;
    if (r.opt && o->sched.kind != DC_SCHED_NONE)
        sched = dc_sched_new(r.opt, &o->sched);
    dc_status st = r.s && r.ctx && r.opt && (o->sched.kind == DC_SCHED_NONE || sched)
                       ? DC_OK : DC_ERR_ARG;
    if (st == DC_OK) /* every rank starts from rank 0's weights */
        st = dc_dist_broadcast_model(m);
    for (int ep = 1; ep <= o->epochs && st == DC_OK; ep++) {
        double t0 = now_s();
        if ((st = lm_epoch(&r, ep, &res.train_loss, &res.tokens_per_s)) != DC_OK)
            break;
        if (n_val > 1 && (st = dc_evaluate_lm(m, val_ids, n_val, o->batch_size, T,
                                              &res.val_loss)) != DC_OK)
            break;
        res.val_bpc = res.val_loss / log(2.0);
        res.steps = r.step;
        if (o->progress && dc_dist_rank() == 0) {
            printf("epoch %d/%d  loss %.4f (%.3f bpc)", ep, o->epochs, res.train_loss,
                   res.train_loss / log(2.0));
            if (n_val > 1)
                printf("  val_loss %.4f (%.3f bpc)", res.val_loss, res.val_bpc);
            printf("  lr %.3g  %.1fs  %.0f tok/s\n", (double)dc_optim_lr(r.opt), now_s() - t0,
                   res.tokens_per_s);
            fflush(stdout);
        }
        if (sched)
            dc_sched_step(sched, (float)(n_val > 1 ? res.val_loss : res.train_loss));
        st = lm_save(m, o->out_dir);
        if (o->max_steps > 0 && r.step >= o->max_steps)
            break;
    }
    if (last)
        *last = res;
    dc_sched_free(sched);
    dc_optim_free(r.opt);
    dc_ctx_free(r.ctx);
    dc_text_stream_free(r.s);
    return st;
}
