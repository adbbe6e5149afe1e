/*
 * train.c - the training loop: epochs of seeded mini-batches, optimizer and scheduler steps,
 * clipping, validation, a progress bar, and the weights saved after every epoch.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <math.h>
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
    dc_ctx *ctx;
    dc_rng rng, aug_rng;
    int64_t *order, n_train, step;
    progress prog;
} run;

/* One pass over order[0..n_train). Returns the mean loss and accuracy through *loss, *acc. */
static dc_status train_epoch(run *r, int ep, double *loss, double *acc, int64_t *n_seen)
{
    const dc_train_opts *o = r->o;
    double loss_sum = 0, t0 = now_s();
    int64_t seen = 0, correct = 0;
    if (o->shuffle)
        dc_rng_shuffle(&r->rng, r->order, r->n_train);
    dc_ctx_set_training(r->ctx, 1);
    for (int64_t i = 0; i < r->n_train; i += o->batch_size) {
        int64_t b = r->n_train - i < o->batch_size ? r->n_train - i : o->batch_size;
        dc_tensor *x, *y;
        dc_status st = r->d->batch(r->d, r->ctx, r->order + i, b, &x, &y);
        if (st == DC_OK && (o->augment.crop_pad > 0 || o->augment.hflip))
            st = dc_augment_images(r->ctx, x, &o->augment, &r->aug_rng);
        dc_tensor *out = st ? NULL : dc_model_forward(r->ctx, r->m, x);
        dc_tensor *l = out ? dc_loss(r->ctx, o->loss, out, y) : NULL;
        if (!l)
            return st ? st : DC_ERR_ARG;
        float lv = dc_f32(l)[0];
        if (!isfinite(lv))
            return dc_err(DC_ERR_NUMERIC, "step %lld (epoch %d): the loss is %s; lower the "
                          "learning rate (now %g) or clip gradients (--clip)",
                          (long long)r->step + 1, ep, isnan(lv) ? "NaN" : "Inf",
                          (double)dc_optim_lr(r->opt));
        dc_optim_zero_grad(r->opt);
        if ((st = dc_backward(r->ctx, l)) != DC_OK)
            return st;
        if (o->clip_norm > 0)
            dc_clip_grad_norm(r->m, o->clip_norm);
        if ((st = dc_optim_step(r->opt)) != DC_OK) {
            dc_err_prefix("step %lld: ", (long long)r->step + 1);
            return st;
        }
        r->step++;
        loss_sum += (double)lv * (double)b;
        seen += b;
        if (r->d->n_classes > 0 && out->ndim == 2) {
            int64_t ok = 0;
            dc_accuracy(out, y, &ok);
            correct += ok;
        }
        dc_ctx_reset(r->ctx);
        double dt = now_s() - t0;
        draw_bar(&r->prog, ep, o->epochs, seen, r->n_train, loss_sum / (double)seen,
                 (double)correct / (double)seen, dt > 0 ? (double)seen / dt : 0);
        if (o->max_steps > 0 && r->step >= o->max_steps)
            break;
    }
    *n_seen = seen;
    *loss = seen ? loss_sum / (double)seen : 0;
    *acc = seen ? (double)correct / (double)seen : 0;
    return DC_OK;
}

static dc_status save_weights(const dc_model *m, const char *dir)
{
    char path[1024];
    if (!dir)
        return DC_OK;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return dc_model_save(m, path);
}

dc_status dc_train(dc_model *m, const dc_dataset *d, const dc_train_opts *o,
                   dc_eval_result *last)
{
    run r = {.m = m, .d = d, .o = o};
    dc_status st = DC_OK;
    dc_sched *sched = NULL;
    if (last)
        memset(last, 0, sizeof *last);
    if (o->batch_size <= 0 || o->epochs <= 0 || o->val_size < 0 || o->val_size >= d->n)
        return dc_err(DC_ERR_ARG, "train: need batch > 0, epochs > 0 and 0 <= validation "
                      "examples < %lld", (long long)d->n);
    dc_rng_seed(&r.rng, o->seed, 0x5eed);
    dc_rng_seed(&r.aug_rng, o->seed, 0xa06);
    r.n_train = d->n - o->val_size;
    r.order = malloc((size_t)d->n * sizeof *r.order);
    r.ctx = dc_ctx_new(0);
    r.opt = dc_optim_new(m, &o->optim);
    if (r.opt && o->sched.kind != DC_SCHED_NONE)
        sched = dc_sched_new(r.opt, &o->sched);
    if (!r.order || !r.ctx || !r.opt || (o->sched.kind != DC_SCHED_NONE && !sched)) {
        st = r.order && r.ctx ? DC_ERR_ARG : dc_err(DC_ERR_NOMEM, "train: out of memory");
        goto out;
    }
    dc_ctx_set_rng(r.ctx, &r.rng);
    for (int64_t i = 0; i < d->n; i++)
        r.order[i] = i;
    if (o->val_size > 0) /* a fixed seeded hold-out: the last val_size of one permutation */
        dc_rng_shuffle(&r.rng, r.order, d->n);
    r.prog.mode = o->progress == 0 ? 0 : (isatty(2) ? 1 : 2);
    r.prog.t0 = now_s();
    for (int ep = 1; ep <= o->epochs && st == DC_OK; ep++) {
        double loss = 0, acc = 0, t0 = now_s();
        int64_t seen = 0;
        if ((st = train_epoch(&r, ep, &loss, &acc, &seen)) != DC_OK)
            break;
        double dt = now_s() - t0;
        dc_eval_result v = {0};
        if (o->val_size > 0)
            st = dc_evaluate(m, d, r.order + r.n_train, o->val_size, 256, o->loss, &v);
        if (st == DC_OK && r.prog.mode) {
            if (r.prog.mode == 1)
                fputc('\n', stderr);
            printf("epoch %d/%d  loss %.4f  acc %.4f", ep, o->epochs, loss, acc);
            if (o->val_size > 0)
                printf("  val_loss %.4f  val_acc %.4f", v.loss, v.accuracy);
            printf("  lr %.3g  %.1fs  %.0f ex/s\n", (double)dc_optim_lr(r.opt), dt,
                   (double)seen / dt);
            fflush(stdout);
        }
        if (sched)
            dc_sched_step(sched, (float)(o->val_size > 0 ? v.loss : loss));
        if (st == DC_OK)
            st = save_weights(m, o->out_dir);
        if (last) {
            dc_eval_result_free(last);
            *last = o->val_size > 0 ? v : (dc_eval_result){.loss = loss, .accuracy = acc};
        } else {
            dc_eval_result_free(&v);
        }
        if (o->max_steps > 0 && r.step >= o->max_steps)
            break;
    }
out:
    dc_sched_free(sched);
    dc_optim_free(r.opt);
    dc_ctx_free(r.ctx);
    free(r.order);
    return st;
}
