/*
 * train.c - the training loop: epochs of seeded mini-batches, optimizer and scheduler steps,
 * clipping, validation, a progress bar, and the weights saved after every epoch.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

dc_status dc_loss_kind_parse(const char *s, dc_loss_kind *out)
{
    static const struct {
        const char *name;
        dc_loss_kind k;
    } names[] = {{"cross_entropy", DC_LOSS_CROSS_ENTROPY}, {"ce", DC_LOSS_CROSS_ENTROPY},
                 {"mse", DC_LOSS_MSE}, {"l1", DC_LOSS_L1}, {"mae", DC_LOSS_L1},
                 {"smooth_l1", DC_LOSS_SMOOTH_L1}, {"huber", DC_LOSS_HUBER},
                 {"nll", DC_LOSS_NLL}, {"bce", DC_LOSS_BCE},
                 {"bce_with_logits", DC_LOSS_BCE_LOGITS}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].k;
            return DC_OK;
        }
    return dc_err(DC_ERR_ARG, "unknown loss '%s' (cross_entropy, mse, l1, smooth_l1, huber, "
                  "nll, bce, bce_with_logits)", s);
}

dc_tensor *dc_loss(dc_ctx *ctx, dc_loss_kind k, dc_tensor *out, dc_tensor *target)
{
    switch (k) {
    case DC_LOSS_CROSS_ENTROPY: return dc_cross_entropy(ctx, out, target, NULL);
    case DC_LOSS_NLL: return dc_nll_loss(ctx, out, target, NULL);
    case DC_LOSS_MSE: return dc_mse_loss(ctx, out, target, DC_MEAN);
    case DC_LOSS_L1: return dc_l1_loss(ctx, out, target, DC_MEAN);
    case DC_LOSS_SMOOTH_L1: return dc_smooth_l1_loss(ctx, out, target, DC_MEAN, 1.0f);
    case DC_LOSS_HUBER: return dc_huber_loss(ctx, out, target, DC_MEAN, 1.0f);
    case DC_LOSS_BCE: return dc_bce_loss(ctx, out, target, DC_MEAN);
    case DC_LOSS_BCE_LOGITS: return dc_bce_with_logits(ctx, out, target, DC_MEAN, NULL);
    }
    return dc_err_null(DC_ERR_ARG, "unknown loss kind %d", (int)k);
}

dc_train_opts dc_train_defaults(void)
{
    dc_train_opts o;
    memset(&o, 0, sizeof o);
    o.epochs = 10;
    o.batch_size = 64;
    o.seed = 1;
    o.shuffle = 1;
    o.loss = DC_LOSS_CROSS_ENTROPY;
    o.optim = dc_optim_defaults(DC_SGD);
    o.optim.lr = 0.01f;
    o.optim.momentum = 0.9f;
    o.sched = dc_sched_defaults(DC_SCHED_NONE);
    o.progress = 1;
    return o;
}

void dc_eval_result_free(dc_eval_result *r)
{
    if (r) {
        free(r->confusion);
        r->confusion = NULL;
    }
}

dc_status dc_evaluate(dc_model *m, const dc_dataset *d, const int64_t *idx, int64_t n,
                      int64_t batch, dc_loss_kind loss, dc_eval_result *r)
{
    memset(r, 0, sizeof *r);
    if (!idx)
        n = d->n;
    if (n <= 0)
        return dc_err(DC_ERR_ARG, "evaluate: no examples");
    int64_t *seq = idx ? NULL : malloc((size_t)n * sizeof *seq);
    int64_t *pred = malloc((size_t)(batch > 0 ? batch : 1) * sizeof *pred);
    dc_ctx *ctx = dc_ctx_new(0);
    r->n_classes = d->n_classes;
    if (d->n_classes > 0)
        r->confusion = calloc((size_t)d->n_classes * (size_t)d->n_classes, sizeof(int64_t));
    dc_status st = DC_OK;
    if ((!idx && !seq) || !pred || !ctx || (d->n_classes > 0 && !r->confusion)) {
        st = dc_err(DC_ERR_NOMEM, "evaluate: out of memory");
        goto out;
    }
    if (seq)
        for (int64_t i = 0; i < n; i++)
            seq[i] = i;
    const int64_t *ids = idx ? idx : seq;
    dc_ctx_set_grad(ctx, 0);
    double loss_sum = 0;
    for (int64_t i = 0; i < n && st == DC_OK; i += batch) {
        int64_t b = n - i < batch ? n - i : batch;
        dc_tensor *x, *y;
        st = d->batch(d, ctx, ids + i, b, &x, &y);
        dc_tensor *out = st ? NULL : dc_model_forward(ctx, m, x);
        dc_tensor *l = out ? dc_loss(ctx, loss, out, y) : NULL;
        if (!l) {
            st = st ? st : DC_ERR_ARG;
            break;
        }
        loss_sum += (double)dc_f32(l)[0] * (double)b;
        if (d->n_classes > 0 && out->ndim == 2) {
            dc_argmax_rows(out, pred);
            for (int64_t k = 0; k < b; k++) {
                int64_t t = dc_i64(y)[k], p = pred[k];
                r->correct += t == p;
                if (t >= 0 && t < d->n_classes && p >= 0 && p < d->n_classes)
                    r->confusion[t * d->n_classes + p]++;
            }
        }
        dc_ctx_reset(ctx);
    }
    r->n = n;
    r->loss = loss_sum / (double)n;
    r->accuracy = (double)r->correct / (double)n;
out:
    free(seq);
    free(pred);
    dc_ctx_free(ctx);
    return st;
}

/* ---- progress ---- */

typedef struct progress {
    int mode;      /* 0 none, 1 bar (tty), 2 lines */
    double t0, last_draw;
} progress;

static void draw_bar(progress *p, int ep, int epochs, int64_t done, int64_t total, double loss,
                     double acc, double rate)
{
    double t = now_s();
    if (p->mode != 1 || (t - p->last_draw < 0.1 && done < total))
        return;
    p->last_draw = t;
    int width = 24, fill = total ? (int)(width * done / total) : width;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = '\0';
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\repoch %d/%d [%s] %lld/%lld  loss %.4f  acc %.4f  %.0f ex/s  ETA %.0fs ",
            ep, epochs, bar, (long long)done, (long long)total, loss, acc, rate, eta);
    fflush(stderr);
}

typedef struct run {
    dc_model *m;
    const dc_dataset *d;
    const dc_train_opts *o;
    dc_optim *opt;
    dc_sched *sched;
    dc_ctx *ctx;
    dc_rng rng, aug_rng;
    dc_tensor *order;    /* int64 [n]: the data order; the last val_size are held out */
    int64_t n_train, step;
    int64_t epochs_done; /* completed epochs */
    int64_t pos;         /* examples of the epoch in progress done */
    double t_start;      /* for log.csv's elapsed_s */
    FILE *log;           /* out_dir/log.csv or NULL */
    progress prog;
} run;

static void path_in(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static dc_status save_checkpoint(run *r)
{
    if (!r->o->out_dir || dc_dist_rank() != 0) /* rank 0 alone writes files */
        return DC_OK;
    char path[1024];
    path_in(path, sizeof path, r->o->out_dir, "checkpoint");
    dc_checkpoint_info info = {.epoch = r->epochs_done, .step = r->step, .pos = r->pos,
                               .rng = r->rng, .aug_rng = r->aug_rng,
                               .spec = (char *)r->o->spec_text, .args = (char *)r->o->args_text};
    return dc_checkpoint_save(path, r->m, r->opt, r->sched, &info, r->order);
}

/* One row of log.csv (val_loss, val_acc empty when negative). */
static void log_row(run *r, double loss, double acc, double vloss, double vacc, double gnorm,
                    double rate)
{
    if (!r->log)
        return;
    fprintf(r->log, "%lld,%lld,%.6g,%.6g,", (long long)r->step, (long long)r->epochs_done + 1,
            loss, acc);
    if (vloss >= 0)
        fprintf(r->log, "%.6g,%.6g,", vloss, vacc);
    else
        fputs(",,", r->log);
    fprintf(r->log, "%.6g,%.6g,%.1f,%.3f\n", (double)dc_optim_lr(r->opt), gnorm, rate,
            now_s() - r->t_start);
    fflush(r->log);
}

/* A non-finite loss: name the step and, with check_numerics, the op and layer where the first
 * NaN/Inf appeared. */
static dc_status bad_loss(run *r, int ep, float lv)
{
    const char *op = dc_ctx_first_nonfinite(r->ctx), *layer = dc_ctx_first_nonfinite_layer(r->ctx);
    char where[256] = "";
    if (op)
        snprintf(where, sizeof where, "; it first appeared in the output of %s%s%s", op,
                 layer ? " in layer " : "", layer ? layer : "");
    else if (!dc_ctx_checking_numerics(r->ctx))
        snprintf(where, sizeof where, " (--check-numerics finds the op and layer where it "
                 "starts)");
    return dc_err(DC_ERR_NUMERIC, "step %lld (epoch %d): the loss is %s%s; lower the learning "
                  "rate (now %g) or clip gradients (--clip)%s", (long long)r->step + 1, ep,
                  isnan(lv) ? "NaN" : "Inf", where, (double)dc_optim_lr(r->opt),
                  r->o->out_dir ? "; the last checkpoint, if any, is kept" : "");
}

/* Rows [lo, hi) of t as a new arena tensor (any dtype). */
static dc_tensor *rows(dc_ctx *ctx, const dc_tensor *t, int64_t lo, int64_t hi)
{
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = hi - lo;
    dc_tensor *s = dc_empty(ctx, t->dtype, t->ndim, shape);
    const size_t row = (size_t)(t->numel / (t->shape[0] ? t->shape[0] : 1)) *
                       (t->dtype == DC_I64 ? 8 : 4);
    if (s && hi > lo)
        memcpy(s->data, (const char *)t->data + (size_t)lo * row, row * (size_t)(hi - lo));
    return s;
}

/* One optimizer step on the global batch (x, y) of b examples. With several ranks, this rank
 * computes its slice [lo, hi) and the gradients and metrics are summed over the ranks, so every
 * rank takes the same step. *lv: the batch's mean loss; *correct: its correct predictions;
 * *classify: whether the output is class scores. */
static dc_status train_step(run *r, int ep, dc_tensor *x, dc_tensor *y, int64_t b, double *lv,
                            double *correct, int *classify, double *gnorm)
{
    const dc_train_opts *o = r->o;
    const int R = dc_dist_size(), k = dc_dist_rank();
    const int64_t lo = b * k / R, hi = b * (k + 1) / R;
    if (R > 1) {
        if (hi == lo && dc_dist_sync_bn())
            return dc_err(DC_ERR_ARG, "step %lld: a batch of %lld cannot give each of %d ranks an "
                          "example, which synchronised BatchNorm needs", (long long)r->step + 1,
                          (long long)b, R);
        x = rows(r->ctx, x, lo, hi);
        y = rows(r->ctx, y, lo, hi);
    }
    dc_tensor *out = NULL, *l = NULL;
    /* loss·n, correct, classify, stop request, ranks with an empty slice */
    double m[5] = {0, 0, 0, o->stop && *o->stop ? 1 : 0, hi > lo ? 0 : 1};
    if (hi > lo) {
        out = dc_model_forward(r->ctx, r->m, x);
        if (!(l = out ? dc_loss(r->ctx, o->loss, out, y) : NULL))
            return DC_ERR_ARG;
        m[0] = (double)dc_f32(l)[0] * (double)(hi - lo);
        m[2] = r->d->n_classes > 0 && out->ndim == 2;
        if (m[2]) {
            int64_t ok = 0;
            dc_accuracy(out, y, &ok);
            m[1] = (double)ok;
        }
    }
    dc_status st = dc_dist_sum(m, 5); /* every rank sees the same loss and stop request */
    if (st != DC_OK)
        return st;
    *lv = m[0] / (double)b;
    *correct = m[1];
    *classify = m[2] > 0;
    if (m[3] > 0 && o->stop)
        *o->stop = *o->stop ? *o->stop : SIGTERM;
    if (!isfinite(*lv))
        return bad_loss(r, ep, (float)*lv);
    dc_optim_zero_grad(r->opt);
    /* overlapped allreduce: every rank must start the buckets in the same (tape) order, which a
     * rank without examples cannot know, so then all ranks reduce after the backward */
    const float share = (float)(hi - lo) / (float)b;
    if (R > 1 && m[4] == 0 && (st = dc_dist_overlap_begin(r->ctx, r->m, share)) != DC_OK)
        return st;
    if (l && (st = dc_backward(r->ctx, l)) != DC_OK) {
        dc_ctx_set_backward_hook(r->ctx, NULL, NULL);
        return st;
    }
    if (R > 1 && (st = m[4] == 0 ? dc_dist_overlap_end(r->ctx, r->m)
                                  : dc_dist_allreduce_grads(r->m, share)) != DC_OK)
        return st;
    *gnorm = o->clip_norm > 0 ? (double)dc_clip_grad_norm(r->m, o->clip_norm)
             : r->log ? (double)dc_grad_norm(r->m) : 0.0;
    if ((st = dc_optim_step(r->opt)) != DC_OK)
        dc_err_prefix("step %lld (epoch %d): ", (long long)r->step + 1, ep);
    return st;
}

/* The rest of one pass over order[pos..n_train). Mean loss and accuracy through *loss, *acc. */
static dc_status train_epoch(run *r, int ep, double *loss, double *acc, int64_t *n_seen)
{
    const dc_train_opts *o = r->o;
    double loss_sum = 0, correct = 0, t0 = now_s();
    int64_t seen = 0;
    int64_t *order = dc_i64(r->order);
    if (o->shuffle && r->pos == 0)
        dc_rng_shuffle(&r->rng, order, r->n_train);
    dc_ctx_set_training(r->ctx, 1);
    dc_ctx_set_check_numerics(r->ctx, o->check_numerics);
    while (r->pos < r->n_train) {
        const int64_t i = r->pos;
        int64_t b = r->n_train - i < o->batch_size ? r->n_train - i : o->batch_size;
        dc_tensor *x, *y;
        double lv = 0, ok = 0, gnorm = 0;
        int classify = 0;
        dc_status st = r->d->batch(r->d, r->ctx, order + i, b, &x, &y);
        if (st == DC_OK && (o->augment.crop_pad > 0 || o->augment.hflip))
            st = dc_augment_images(r->ctx, x, &o->augment, &r->aug_rng); /* the whole batch */
        if (st == DC_OK)
            st = train_step(r, ep, x, y, b, &lv, &ok, &classify, &gnorm);
        if (st != DC_OK)
            return st;
        r->step++;
        dc_sched_step_batch(r->sched); /* per-step schedules (linear) */
        r->pos += b;
        loss_sum += lv * (double)b;
        correct += ok;
        seen += b;
        dc_ctx_reset(r->ctx);
        double dt = now_s() - t0, rate = dt > 0 ? (double)seen / dt : 0;
        draw_bar(&r->prog, ep, o->epochs, r->pos, r->n_train, loss_sum / (double)seen,
                 correct / (double)seen, rate);
        if (r->step % 10 == 0)
            log_row(r, lv, classify ? correct / (double)seen : 0, -1, 0, gnorm, rate);
        if (o->save_every > 0 && r->step % o->save_every == 0 && r->pos < r->n_train &&
            (st = save_checkpoint(r)) != DC_OK)
            return st;
        if (o->stop && *o->stop) {
            if ((st = save_checkpoint(r)) != DC_OK)
                return st;
            return dc_err(DC_ERR_STATE, "interrupted at step %lld (epoch %d, %lld of %lld "
                          "examples)%s%s", (long long)r->step, ep, (long long)r->pos,
                          (long long)r->n_train, o->out_dir ? ": checkpoint saved; continue "
                          "with: deepc train --resume " : "", o->out_dir ? o->out_dir : "");
        }
        if (o->max_steps > 0 && r->step >= o->max_steps)
            break;
    }
    *n_seen = seen;
    *loss = seen ? loss_sum / (double)seen : 0;
    *acc = seen ? correct / (double)seen : 0;
    return DC_OK;
}

static dc_status save_weights(const dc_model *m, const char *dir)
{
    char path[1024];
    if (!dir || dc_dist_rank() != 0)
        return DC_OK;
    path_in(path, sizeof path, dir, "model.safetensors");
    return dc_model_save(m, path);
}

/* Open out_dir/log.csv: a new file with its header, or on resume the old rows up to `step`. */
static FILE *open_log(const char *dir, int64_t step, int resumed)
{
    char path[1024], tmp[1040], line[512];
    path_in(path, sizeof path, dir, "log.csv");
    FILE *old = resumed ? fopen(path, "r") : NULL;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(old ? tmp : path, "w");
    if (!f) {
        if (old)
            fclose(old);
        return NULL;
    }
    fputs("step,epoch,loss,acc,val_loss,val_acc,lr,grad_norm,ex_per_s,elapsed_s\n", f);
    if (old) {
        while (fgets(line, sizeof line, old))
            if (line[0] >= '0' && line[0] <= '9' && strtoll(line, NULL, 10) <= step)
                fputs(line, f);
        fclose(old);
        fflush(f);
        if (rename(tmp, path) != 0) {
            fclose(f);
            return NULL;
        }
    }
    return f;
}

/* Set up r: order (fresh or from the checkpoint), optimizer, scheduler, log. */
static dc_status train_setup(run *r, const dc_train_opts *o)
{
    const dc_dataset *d = r->d;
    dc_rng_seed(&r->rng, o->seed, 0x5eed);
    dc_rng_seed(&r->aug_rng, o->seed, 0xa06);
    r->n_train = d->n - o->val_size;
    r->order = dc_tensor_new(DC_I64, 1, DC_SHAPE(d->n));
    r->ctx = dc_ctx_new(0);
    r->opt = dc_optim_new(r->m, &o->optim);
    dc_sched_cfg sc = o->sched;
    if (sc.kind == DC_SCHED_LINEAR && sc.total_steps == 0) /* the run's epochs of steps */
        sc.total_steps = (int64_t)o->epochs * ((r->n_train + o->batch_size - 1) / o->batch_size);
    if (r->opt && sc.kind != DC_SCHED_NONE)
        r->sched = dc_sched_new(r->opt, &sc);
    if (!r->order || !r->ctx || !r->opt || (o->sched.kind != DC_SCHED_NONE && !r->sched))
        return r->order && r->ctx ? DC_ERR_ARG : dc_err(DC_ERR_NOMEM, "train: out of memory");
    dc_ctx_set_rng(r->ctx, &r->rng);
    dc_status st;
    if (o->resume) {
        dc_checkpoint_info info;
        st = dc_checkpoint_load(o->resume, r->m, r->opt, r->sched, &info, r->order);
        if (st != DC_OK)
            return st;
        r->step = info.step;
        r->epochs_done = info.epoch;
        r->pos = info.pos;
        r->rng = info.rng;
        r->aug_rng = info.aug_rng;
        dc_checkpoint_info_free(&info);
    } else {
        int64_t *order = dc_i64(r->order);
        for (int64_t i = 0; i < d->n; i++)
            order[i] = i;
        if (o->val_size > 0) /* a fixed seeded hold-out: the last val_size of one permutation */
            dc_rng_shuffle(&r->rng, order, d->n);
    }
    if ((st = dc_dist_broadcast_model(r->m)) != DC_OK) /* every rank starts from rank 0's */
        return st;
    if (o->out_dir && dc_dist_rank() == 0 &&
        !(r->log = open_log(o->out_dir, r->step, o->resume != NULL)))
        return dc_err(DC_ERR_IO, "%s/log.csv: cannot write", o->out_dir);
    return DC_OK;
}

/* After epoch ep: validation, the epoch line, the scheduler, weights, checkpoint. */
static dc_status end_epoch(run *r, int ep, double loss, double acc, int64_t seen, double dt,
                           dc_eval_result *last)
{
    const dc_train_opts *o = r->o;
    dc_eval_result v = {0};
    dc_status st = DC_OK;
    if (o->val_size > 0)
        st = dc_evaluate(r->m, r->d, dc_i64(r->order) + r->n_train, o->val_size, 256, o->loss,
                         &v);
    if (st == DC_OK && o->progress == 2 && dc_dist_rank() == 0) { /* --json: per epoch */
        printf("{\"epoch\": %d, \"step\": %lld, \"loss\": %.6g, \"acc\": %.6g", ep,
               (long long)r->step, loss, acc);
        if (o->val_size > 0)
            printf(", \"val_loss\": %.6g, \"val_acc\": %.6g", v.loss, v.accuracy);
        printf(", \"lr\": %.6g, \"seconds\": %.3f, \"ex_per_s\": %.1f}\n",
               (double)dc_optim_lr(r->opt), dt, dt > 0 ? (double)seen / dt : 0.0);
        fflush(stdout);
    } else if (st == DC_OK && r->prog.mode) {
        if (r->prog.mode == 1)
            fputc('\n', stderr);
        printf("epoch %d/%d  loss %.4f  acc %.4f", ep, o->epochs, loss, acc);
        if (o->val_size > 0)
            printf("  val_loss %.4f  val_acc %.4f", v.loss, v.accuracy);
        printf("  lr %.3g  %.1fs  %.0f ex/s\n", (double)dc_optim_lr(r->opt), dt,
               dt > 0 ? (double)seen / dt : 0.0);
        fflush(stdout);
    }
    if (st == DC_OK)
        log_row(r, loss, acc, o->val_size > 0 ? v.loss : -1, v.accuracy, 0,
                dt > 0 ? (double)seen / dt : 0.0);
    if (r->sched)
        dc_sched_step(r->sched, (float)(o->val_size > 0 ? v.loss : loss));
    r->epochs_done = ep;
    r->pos = 0;
    if (st == DC_OK)
        st = save_weights(r->m, o->out_dir);
    if (st == DC_OK)
        st = save_checkpoint(r);
    if (last) {
        dc_eval_result_free(last);
        *last = o->val_size > 0 ? v : (dc_eval_result){.loss = loss, .accuracy = acc};
    } else {
        dc_eval_result_free(&v);
    }
    return st;
}

dc_status dc_train(dc_model *m, const dc_dataset *d, const dc_train_opts *o,
                   dc_eval_result *last)
{
    run r = {.m = m, .d = d, .o = o};
    if (last)
        memset(last, 0, sizeof *last);
    if (o->batch_size <= 0 || o->epochs <= 0 || o->val_size < 0 || o->val_size >= d->n)
        return dc_err(DC_ERR_ARG, "train: need batch > 0, epochs > 0 and 0 <= validation "
                      "examples < %lld", (long long)d->n);
    dc_status st = train_setup(&r, o);
    r.prog.mode = o->progress != 1 || dc_dist_rank() != 0 ? 0 : (isatty(2) ? 1 : 2);
    r.prog.t0 = r.t_start = now_s();
    for (int ep = (int)r.epochs_done + 1; ep <= o->epochs && st == DC_OK; ep++) {
        double loss = 0, acc = 0, t0 = now_s();
        int64_t seen = 0;
        if ((st = train_epoch(&r, ep, &loss, &acc, &seen)) != DC_OK)
            break;
        if (o->max_steps > 0 && r.step >= o->max_steps && r.pos < r.n_train) {
            st = save_weights(m, o->out_dir); /* stopped inside an epoch */
            if (st == DC_OK)
                st = save_checkpoint(&r);
            break;
        }
        st = end_epoch(&r, ep, loss, acc, seen, now_s() - t0, last);
        if (o->max_steps > 0 && r.step >= o->max_steps)
            break;
    }
    if (r.log)
        fclose(r.log);
    dc_sched_free(r.sched);
    dc_optim_free(r.opt);
    dc_ctx_free(r.ctx);
    dc_tensor_free(r.order);
    return st;
}
