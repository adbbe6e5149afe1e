/*
 * train.c - the one training loop (dc_train_task): epochs of steps over a task's batches,
 * optimizer and scheduler steps, clipping, the NaN guard, validation, a progress bar or JSON
 * lines, log.csv, checkpoints with bitwise-exact resume, the stop flag, MPI data parallelism.
 * A task (dc_task: task_data.c, lm.c, task_forecast.c) supplies the batches, the loss and its
 * metrics; everything else is here, once.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "io/io.h"

#include <errno.h>
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

/* The clock of o->time_limit: wall time, or the process's CPU time (time_limit_cpu). */
static double budget_s(const dc_train_opts *o)
{
    struct timespec t;
    if (!o->time_limit_cpu || clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) != 0)
        return now_s();
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
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

void dc_task_free(dc_task *t)
{
    if (t && t->destroy)
        t->destroy(t);
    free(t);
}

/* ---- progress ---- */

typedef struct progress {
    int mode;      /* 0 none, 1 bar (tty), 2 lines */
    double last_draw;
} progress;

/* The bar: pos of total, the epoch's loss and accuracy so far (acc < 0: none), the rate. */
static void draw_bar(progress *p, int64_t ep, int epochs, int64_t done, int64_t total,
                     double loss, double acc, double rate, double eta, const char *unit)
{
    double t = now_s();
    if (p->mode != 1 || (t - p->last_draw < 0.1 && done < total))
        return;
    p->last_draw = t;
    int width = 24, fill = total ? (int)(width * done / total) : width;
    char bar[32], a[32] = "";
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = '\0';
    if (acc >= 0)
        snprintf(a, sizeof a, "  acc %.4f", acc);
    fprintf(stderr, "\repoch %lld/%d [%s] %lld/%lld  loss %.4f%s  %.0f %s/s  ETA %.0fs ",
            (long long)ep, epochs, bar, (long long)done, (long long)total, loss, a, rate, unit,
            eta);
    fflush(stderr);
}

typedef struct run {
    dc_model *m;
    dc_task *t;
    const dc_train_opts *o;
    dc_optim *opt;
    dc_sched *sched;
    dc_ctx *ctx;
    dc_rng rng, aug_rng;
    int64_t step;
    int64_t epochs_done; /* completed epochs */
    int64_t pos;         /* position in the epoch in progress (the task's unit) */
    int counts_correct;  /* the task counts correct predictions (classification) */
    double t_start;      /* for log.csv's elapsed_s and time_limit */
    double budget0;      /* budget_s() at the start (time_limit) */
    FILE *log;           /* out_dir/log.csv or NULL */
    char *log_path;      /* its name (malloc'd) */
    dc_epoch_sums sums;  /* the epoch in progress so far (carried in checkpoints) */
    progress prog;
    dc_status limit_st;  /* a failed sum of the ranks' time-limit answers (limit_hit) */
} run;

/* dir/name, malloc'd; NULL (DC_ERR_NOMEM) when out of memory. Never truncated. */
static char *path_in(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return dc_err_null(DC_ERR_NOMEM, "%s/%s: out of memory for the path", dir, name);
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static dc_status save_checkpoint(run *r)
{
    if (!r->o->out_dir || dc_dist_rank() != 0) /* rank 0 alone writes files */
        return DC_OK;
    char *path = path_in(r->o->out_dir, "checkpoint");
    char *task = r->t->state_save ? r->t->state_save(r->t) : NULL;
    if (!path || (r->t->state_save && !task)) {
        free(path);
        return dc_err(DC_ERR_NOMEM, "checkpoint: out of memory");
    }
    dc_checkpoint_info info = {.epoch = r->epochs_done, .step = r->step, .pos = r->pos,
                               .rng = r->rng, .aug_rng = r->aug_rng, .sums = r->sums,
                               .task_state = task, .n_extra = r->t->n_state,
                               .extra_names = r->t->state_names, .extra = r->t->state,
                               .spec = (char *)r->o->spec_text, .args = (char *)r->o->args_text};
    dc_status st = dc_checkpoint_save(path, r->m, r->opt, r->sched, &info, r->t->order);
    free(path);
    free(task);
    return st;
}

/* The task's extra metrics as ",v1,v2..." (empty fields without v or for a NaN). */
static void extra_fields(const dc_task *t, const dc_task_eval *v, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < t->n_extra_metrics && i < DC_TASK_MAX_EXTRA && used < n; i++) {
        const double x = v ? v->extra_metrics[i] : NAN;
        int k = isfinite(x) ? snprintf(buf + used, n - used, ",%.6g", x)
                            : snprintf(buf + used, n - used, ",");
        used += k > 0 ? (size_t)k : 0;
    }
}

/* One row of log.csv (val_loss, val_acc empty when there is no validation or metric). Every
 * write is checked: a full disk or a file size limit is an error naming the file, never a
 * silently cut row. An epoch's row (sync) is also fsync'd. */
static dc_status log_row(run *r, double loss, double acc, const dc_task_eval *v, double gnorm,
                         double rate, int sync)
{
    if (!r->log)
        return DC_OK;
    char a[32] = "", vl[32] = "", va[32] = "";
    if (acc >= 0)
        snprintf(a, sizeof a, "%.6g", acc);
    if (v && v->has)
        snprintf(vl, sizeof vl, "%.6g", v->loss);
    if (v && v->has && v->metric >= 0)
        snprintf(va, sizeof va, "%.6g", v->metric);
    char ex[DC_TASK_MAX_EXTRA * 24] = "";
    extra_fields(r->t, v, ex, sizeof ex);
    errno = 0;
    int bad = fprintf(r->log, "%lld,%lld,%.6g,%s,%s,%s,%.6g,%.6g,%.1f,%.3f%s\n", (long long)r->step,
                      (long long)r->epochs_done + 1, loss, a, vl, va, (double)dc_optim_lr(r->opt),
                      gnorm, rate, now_s() - r->t_start, ex) < 0;
    const char *what = "writing a row of";
    if (!bad && fflush(r->log) != 0) {
        bad = 1;
        what = "flushing";
    }
    if (!bad && sync && fsync(fileno(r->log)) != 0) {
        bad = 1;
        what = "fsync of";
    }
    if (bad)
        return dc_err(DC_ERR_IO, "%s: %s the training log failed: %s", r->log_path, what,
                      errno ? strerror(errno) : "write error");
    return DC_OK;
}

/* A non-finite loss: name the step and, with check_numerics, the op and layer where the first
 * NaN/Inf appeared. */
static dc_status bad_loss(run *r, int64_t ep, float lv)
{
    const char *op = dc_ctx_first_nonfinite(r->ctx), *layer = dc_ctx_first_nonfinite_layer(r->ctx);
    char where[256] = "";
    if (op)
        snprintf(where, sizeof where, "; it first appeared in the output of %s%s%s", op,
                 layer ? " in layer " : "", layer ? layer : "");
    else if (!dc_ctx_checking_numerics(r->ctx))
        snprintf(where, sizeof where, " (--check-numerics finds the op and layer where it "
                 "starts)");
    return dc_err(DC_ERR_NUMERIC, "step %lld (epoch %lld): the loss is %s%s; lower the "
                  "learning rate (now %g) or clip gradients (--clip)%s", (long long)r->step + 1,
                  (long long)ep, isnan(lv) ? "NaN" : "Inf", where, (double)dc_optim_lr(r->opt),
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

/* One optimizer step on the global batch (x, y) of b rows. With several ranks, this rank
 * computes its slice [lo, hi) of the rows and the gradients and metrics are summed over the
 * ranks, so every rank takes the same step. *lv: the batch's mean loss; *correct: its correct
 * predictions (-1: the task does not count them). */
static dc_status train_step(run *r, int64_t ep, dc_tensor *x, dc_tensor *y, double *lv,
                            double *correct, double *gnorm)
{
    const dc_train_opts *o = r->o;
    const int R = dc_dist_size(), k = dc_dist_rank();
    const int64_t b = x->shape[0], lo = b * k / R, hi = b * (k + 1) / R;
    if (R > 1) {
        if (hi == lo && dc_dist_sync_bn())
            return dc_err(DC_ERR_ARG, "step %lld: a batch of %lld cannot give each of %d ranks an "
                          "example, which synchronised BatchNorm needs", (long long)r->step + 1,
                          (long long)b, R);
        x = rows(r->ctx, x, lo, hi);
        y = rows(r->ctx, y, lo, hi);
    }
    dc_tensor *l = NULL;
    /* loss·rows, correct, counts correct, stop request, ranks with an empty slice */
    double m[5] = {0, 0, 0, o->stop && *o->stop ? 1 : 0, hi > lo ? 0 : 1};
    if (hi > lo) {
        double ok = -1;
        if (!(l = r->t->loss(r->t, r->ctx, r->m, x, y, &ok)))
            return dc_last_status() != DC_OK ? dc_last_status() : DC_ERR_ARG;
        m[0] = (double)dc_f32(l)[0] * (double)(hi - lo);
        m[1] = ok >= 0 ? ok : 0;
        m[2] = ok >= 0;
    }
    dc_status st = dc_dist_sum(m, 5); /* every rank sees the same loss and stop request */
    if (st != DC_OK)
        return st;
    *lv = m[0] / (double)b;
    *correct = m[2] > 0 ? m[1] : -1;
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
        dc_err_prefix("step %lld (epoch %lld): ", (long long)r->step + 1, (long long)ep);
    return st;
}

/* The stop flag was raised: save (when the task can resume here) and say how to continue. */
static dc_status stop_now(run *r, int64_t ep)
{
    const char *dir = r->o->out_dir;
    dc_status st = r->t->mid_epoch_resume ? save_checkpoint(r) : DC_OK;
    if (st != DC_OK)
        return st;
    return dc_err(DC_ERR_STATE, "interrupted at step %lld (epoch %lld, %lld of %lld)%s%s",
                  (long long)r->step, (long long)ep, (long long)r->pos,
                  (long long)r->t->epoch_total(r->t),
                  !dir ? "" : r->t->mid_epoch_resume ? ": checkpoint saved; continue with: "
                  "deepc train --resume " : ": the checkpoint of the last whole epoch is kept "
                  "(this task resumes at epoch ends); continue with: deepc train --resume ",
                  dir ? dir : "");
}

/* After a step: the bar, a log row every log_every steps, a checkpoint every save_every. */
static dc_status after_step(run *r, int64_t ep, double lv, double gnorm, double t0,
                            int64_t units, int64_t pos0)
{
    const dc_train_opts *o = r->o;
    const int64_t total = r->t->epoch_total(r->t);
    const double dt = now_s() - t0, rate = dt > 0 ? (double)units / dt : 0;
    const double acc = r->counts_correct ? r->sums.correct / (double)r->sums.seen : -1;
    const double eta = r->pos > pos0 ? dt * (double)(total - r->pos) / (double)(r->pos - pos0)
                                     : 0;
    draw_bar(&r->prog, ep, o->epochs, r->pos, total, r->sums.loss_sum / (double)r->sums.seen,
             acc, rate, eta, r->t->unit);
    dc_status st = DC_OK;
    if (o->log_every > 0 && r->step % o->log_every == 0)
        st = log_row(r, lv, acc, NULL, gnorm, rate, 0);
    if (st == DC_OK && o->save_every > 0 && r->step % o->save_every == 0 && r->pos < total &&
        r->t->mid_epoch_resume)
        st = save_checkpoint(r);
    return st;
}

/* --steps reached, or --time-limit passed, checked after each step so the run stops at the
 * first step boundary past the limit. Ranks read their clocks at different moments, so they
 * sum their answers (one small allreduce per step, only with a time limit): all stop together.
 * A failed sum stops too, with its error in r->limit_st for the caller to return. */
static int limit_hit(run *r)
{
    const dc_train_opts *o = r->o;
    if (o->max_steps > 0 && r->step >= o->max_steps)
        return 1;
    if (!(o->time_limit > 0))
        return 0;
    double up = budget_s(o) - r->budget0 >= o->time_limit;
    if (dc_dist_size() > 1 && (r->limit_st = dc_dist_sum(&up, 1)) != DC_OK)
        return 1;
    return up > 0;
}

/* The rest of one pass from r->pos, adding to r->sums (the whole epoch so far: on resume they
 * come back from the checkpoint). *units: the predictions of this call (for the rate). */
static dc_status train_epoch(run *r, int64_t ep, int64_t *units)
{
    const dc_train_opts *o = r->o;
    const double t0 = now_s();
    const int64_t pos0 = r->pos;
    *units = 0;
    if (r->pos == 0)
        memset(&r->sums, 0, sizeof r->sums);
    dc_status st = r->t->epoch_begin(r->t, r->m, &r->rng, r->pos);
    dc_ctx_set_training(r->ctx, 1);
    dc_ctx_set_check_numerics(r->ctx, o->check_numerics);
    while (st == DC_OK && r->pos < r->t->epoch_total(r->t)) {
        dc_task_batch b = {0};
        double lv = 0, ok = -1, gnorm = 0;
        st = r->t->next(r->t, r->ctx, r->pos, &b);
        if (st == DC_OK && (o->augment.crop_pad > 0 || o->augment.hflip) && b.x->ndim == 4)
            st = dc_augment_images(r->ctx, b.x, &o->augment, &r->aug_rng); /* the whole batch */
        if (st == DC_OK)
            st = train_step(r, ep, b.x, b.y, &lv, &ok, &gnorm);
        if (st != DC_OK)
            return st;
        const int64_t n = b.x->shape[0] * b.units_per_row;
        r->step++;
        dc_sched_step_batch(r->sched); /* per-step schedules (linear) */
        r->pos += b.advance;
        r->counts_correct = ok >= 0;
        r->sums.loss_sum += lv * (double)n;
        r->sums.correct += ok >= 0 ? ok : 0;
        r->sums.seen += n;
        *units += n;
        dc_ctx_reset(r->ctx);
        if ((st = after_step(r, ep, lv, gnorm, t0, *units, pos0)) != DC_OK)
            return st;
        /* a stop after the epoch's last step waits for the epoch's end (its validation and
         * checkpoint): a checkpoint at pos == total would name no position to resume from */
        if (o->stop && *o->stop && r->pos < r->t->epoch_total(r->t))
            return stop_now(r, ep);
        if (limit_hit(r))
            return r->limit_st;
    }
    return st;
}

static dc_status save_weights(const dc_model *m, const char *dir)
{
    if (!dir || dc_dist_rank() != 0)
        return DC_OK;
    char *path = path_in(dir, "model.safetensors");
    dc_status st = path ? dc_model_save(m, path) : DC_ERR_NOMEM;
    free(path);
    return st;
}

typedef struct text_buf {
    char *p;
    size_t len, cap;
} text_buf;

static int text_add(text_buf *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = realloc(t->p, cap);
        if (!p)
            return -1;
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    return 0;
}

static int text_write(FILE *f, void *user)
{
    const text_buf *t = user;
    return dc_io_fwrite(f, t->p, t->len);
}

/* Open out_dir/log.csv for appending. It is first written whole and atomically (temp file, fsync,
 * rename): the header, and on resume the old rows up to `step` (later rows belong to steps that
 * the resumed run takes again); a crash or a full disk leaves the old log. */
static dc_status open_log(run *r, const char *dir, int64_t step, int resumed)
{
    static const char head[] =
        "step,epoch,loss,acc,val_loss,val_acc,lr,grad_norm,ex_per_s,elapsed_s\n";
    if (!(r->log_path = path_in(dir, "log.csv")))
        return DC_ERR_NOMEM;
    text_buf t = {0};
    int oom = text_add(&t, head, sizeof head - 2); /* the task's extra columns, then '\n' */
    for (int i = 0; i < r->t->n_extra_metrics && i < DC_TASK_MAX_EXTRA && !oom; i++)
        oom = text_add(&t, ",", 1) ||
              text_add(&t, r->t->extra_metric_names[i], strlen(r->t->extra_metric_names[i]));
    oom = oom || text_add(&t, "\n", 1);
    FILE *old = resumed ? fopen(r->log_path, "r") : NULL;
    if (old) {
        char *line = NULL;
        size_t n = 0;
        ssize_t k;
        while (!oom && (k = getline(&line, &n, old)) > 0)
            if (line[0] >= '0' && line[0] <= '9' && line[k - 1] == '\n' &&
                strtoll(line, NULL, 10) <= step)
                oom = text_add(&t, line, (size_t)k);
        free(line);
        fclose(old);
    }
    dc_status st = oom ? dc_err(DC_ERR_NOMEM, "%s: out of memory", r->log_path)
                       : dc_io_write_atomic(r->log_path, text_write, &t);
    free(t.p);
    if (st == DC_OK && !(r->log = fopen(r->log_path, "a")))
        st = dc_err(DC_ERR_IO, "%s: cannot open the training log: %s", r->log_path,
                    strerror(errno));
    return st;
}

/* The counters of a checkpoint against what this run can mean: a forged or damaged file must
 * not make the loop run 1e18 epochs or wrap around to epoch 1. */
static dc_status check_counters(const run *r, const dc_checkpoint_info *c)
{
    const int64_t total = r->t->epoch_total(r->t);
    const char *bad = c->epoch > DC_TRAIN_MAX_EPOCHS ? "epoch"
                      : c->pos < 0 || c->pos >= total ? "pos"
                      : c->pos > 0 && !r->t->mid_epoch_resume ? "pos"
                      : c->step < 0 || c->step > (c->epoch + 1) * total ? "step"
                      : c->optim_steps > c->step ? "optim_steps" : NULL;
    if (bad)
        return dc_err(DC_ERR_FORMAT, "%s: the checkpoint's counter '%s' is out of range for "
                      "this run (epoch %lld, step %lld, pos %lld of %lld per epoch; at most %d "
                      "epochs)", r->o->resume, bad, (long long)c->epoch, (long long)c->step,
                      (long long)c->pos, (long long)total, DC_TRAIN_MAX_EPOCHS);
    return DC_OK;
}

/* Restore the run from o->resume (everything verified before anything is used). */
static dc_status train_restore(run *r)
{
    dc_checkpoint_info info;
    dc_status st = dc_checkpoint_load_task(r->o->resume, r->m, r->opt, r->sched, &info,
                                           r->t->order, r->t->n_state, r->t->state_names,
                                           r->t->state);
    if (st != DC_OK)
        return st;
    if ((st = check_counters(r, &info)) == DC_OK && r->t->state_load)
        st = r->t->state_load(r->t, info.task_state);
    if (st == DC_OK) {
        r->step = info.step;
        r->epochs_done = info.epoch;
        r->pos = info.pos;
        r->rng = info.rng;
        r->aug_rng = info.aug_rng;
        r->sums = info.sums;
    }
    dc_checkpoint_info_free(&info);
    return st;
}

/* Optimizer steps in a whole epoch of task t: its own count, else one per batch_size units. */
static int64_t epoch_steps(dc_task *t, const dc_train_opts *o)
{
    if (t->epoch_steps)
        return t->epoch_steps(t);
    const int64_t b = o->batch_size > 0 ? o->batch_size : 1;
    return (t->epoch_total(t) + b - 1) / b;
}

/* Set up r: optimizer, scheduler, the task's start or the checkpoint, the log. */
static dc_status train_setup(run *r, const dc_train_opts *o)
{
    dc_rng_seed(&r->rng, o->seed, 0x5eed);
    dc_rng_seed(&r->aug_rng, o->seed, 0xa06);
    r->ctx = dc_ctx_new(0);
    r->opt = dc_optim_new(r->m, &o->optim);
    dc_sched_cfg sc = o->sched;
    if (sc.kind == DC_SCHED_LINEAR && sc.total_steps == 0) /* the run's epochs of steps */
        sc.total_steps = (int64_t)o->epochs * epoch_steps(r->t, o);
    if (r->opt && sc.kind != DC_SCHED_NONE)
        r->sched = dc_sched_new(r->opt, &sc);
    if (!r->ctx || !r->opt || (o->sched.kind != DC_SCHED_NONE && !r->sched))
        return r->ctx ? DC_ERR_ARG : dc_err(DC_ERR_NOMEM, "train: out of memory");
    dc_ctx_set_rng(r->ctx, &r->rng);
    dc_status st = DC_OK;
    if (o->resume)
        st = train_restore(r);
    else if (r->t->start)
        st = r->t->start(r->t, &r->rng);
    if (st == DC_OK) /* every rank starts from rank 0's weights */
        st = dc_dist_broadcast_model(r->m);
    if (st == DC_OK && o->out_dir && dc_dist_rank() == 0)
        st = open_log(r, o->out_dir, r->step, o->resume != NULL);
    return st;
}

/* The epoch's line: text, or one JSON object (--json). */
static void epoch_line(const run *r, int64_t ep, double loss, double acc, const dc_task_eval *v,
                       double dt, double rate)
{
    const dc_train_opts *o = r->o;
    const char *mn = r->t->metric_name ? r->t->metric_name : "metric";
    if (o->progress == 2) { /* --json */
        printf("{\"epoch\": %lld, \"step\": %lld, \"loss\": %.6g", (long long)ep,
               (long long)r->step, loss);
        if (acc >= 0)
            printf(", \"acc\": %.6g", acc);
        if (v->has)
            printf(", \"val_loss\": %.6g", v->loss);
        if (v->has && v->metric >= 0)
            printf(", \"val_%s\": %.6g", mn, v->metric);
        for (int i = 0; i < r->t->n_extra_metrics && i < DC_TASK_MAX_EXTRA; i++)
            if (isfinite(v->extra_metrics[i]))
                printf(", \"%s\": %.6g", r->t->extra_metric_names[i], v->extra_metrics[i]);
        printf(", \"lr\": %.6g, \"seconds\": %.3f, \"%s_per_s\": %.1f}\n",
               (double)dc_optim_lr(r->opt), dt, r->t->unit, rate);
    } else {
        if (r->prog.mode == 1)
            fputc('\n', stderr);
        printf("epoch %lld/%d  loss %.4f", (long long)ep, o->epochs, loss);
        if (acc >= 0)
            printf("  acc %.4f", acc);
        if (v->has)
            printf("  val_loss %.4f", v->loss);
        if (v->has && v->metric >= 0)
            printf("  val_%s %.4f", mn, v->metric);
        for (int i = 0; i < r->t->n_extra_metrics && i < DC_TASK_MAX_EXTRA; i++)
            if (isfinite(v->extra_metrics[i]))
                printf("  %s %.4f", r->t->extra_metric_names[i], v->extra_metrics[i]);
        printf("%s%s  lr %.3g  %.1fs  %.0f %s/s\n", v->note[0] ? "  " : "", v->note,
               (double)dc_optim_lr(r->opt), dt, rate, r->t->unit);
    }
    fflush(stdout);
}

/* After epoch ep: validation, the epoch line, the log row, the scheduler, the task's model
 * selection, weights, checkpoint. The epoch's loss and accuracy are the means over all of it
 * (r->sums), resumed or not. *stop: the task asks to stop (early stopping). */
static dc_status end_epoch(run *r, int64_t ep, int64_t units, double dt, dc_task_eval *last,
                           int *stop)
{
    const dc_train_opts *o = r->o;
    const double n = r->sums.seen > 0 ? (double)r->sums.seen : 1.0;
    const double loss = r->sums.loss_sum / n;
    const double acc = r->counts_correct ? r->sums.correct / n : -1;
    const double rate = dt > 0 ? (double)units / dt : 0.0;
    dc_task_eval v = {.metric = -1};
    dc_status st = r->t->validate ? r->t->validate(r->t, r->m, &v) : DC_OK;
    if (st == DC_OK && r->t->after_epoch)
        st = r->t->after_epoch(r->t, r->m, ep, &v, stop);
    if (st == DC_OK && o->progress && dc_dist_rank() == 0 && (r->prog.mode || o->progress == 2))
        epoch_line(r, ep, loss, acc, &v, dt, rate);
    if (st == DC_OK)
        st = log_row(r, loss, acc, &v, 0, rate, 1);
    if (r->sched)
        dc_sched_step(r->sched, (float)(v.has ? v.select : loss));
    r->epochs_done = ep;
    r->pos = 0;
    memset(&r->sums, 0, sizeof r->sums);
    if (st == DC_OK)
        st = save_weights(r->m, o->out_dir);
    if (st == DC_OK)
        st = save_checkpoint(r);
    if (last) {
        *last = v.has ? v : (dc_task_eval){.has = 0, .loss = loss, .metric = acc,
                                           .select = loss};
        last->train_loss = loss;
        last->train_metric = acc;
        last->units_per_s = rate;
        last->steps = r->step;
    }
    return st;
}

/* A --steps or --time-limit stop inside an epoch: the partial epoch's figures and a validation
 * for *last (the caller reports them) and a log row; no scheduler step: the epoch is not over. */
static dc_status partial_epoch(run *r, int64_t units, double dt, dc_task_eval *last)
{
    dc_task_eval v = {.metric = -1}, own;
    if (!last)
        last = &own;
    dc_status st = r->t->validate ? r->t->validate(r->t, r->m, &v) : DC_OK;
    const double n = r->sums.seen > 0 ? (double)r->sums.seen : 1.0;
    const double loss = r->sums.loss_sum / n;
    *last = v.has ? v : (dc_task_eval){.loss = loss, .metric = -1, .select = loss};
    last->train_loss = loss;
    last->train_metric = r->counts_correct ? r->sums.correct / n : -1;
    last->units_per_s = dt > 0 ? (double)units / dt : 0;
    last->steps = r->step;
    if (st == DC_OK)
        st = log_row(r, loss, last->train_metric, &v, 0, last->units_per_s, 1);
    return st;
}

/* The epochs from the first not yet done. */
static dc_status train_loop(run *r, dc_task_eval *last)
{
    const dc_train_opts *o = r->o;
    dc_status st = DC_OK;
    int stop = 0;
    for (int64_t ep = r->epochs_done + 1; ep <= o->epochs && st == DC_OK && !stop; ep++) {
        double t0 = now_s();
        int64_t units = 0;
        if ((st = train_epoch(r, ep, &units)) != DC_OK)
            break;
        const int hit = limit_hit(r);
        if ((st = r->limit_st) != DC_OK)
            break;
        if (hit && r->pos < r->t->epoch_total(r->t)) {
            if ((st = partial_epoch(r, units, now_s() - t0, last)) != DC_OK)
                break;
            st = save_weights(r->m, o->out_dir); /* stopped inside an epoch */
            if (st == DC_OK && r->t->mid_epoch_resume)
                st = save_checkpoint(r);
            break;
        }
        st = end_epoch(r, ep, units, now_s() - t0, last, &stop);
        /* the signal came with the epoch's last step: stop here unless the run is complete */
        if (st == DC_OK && o->stop && *o->stop && ep < o->epochs && !stop)
            return stop_now(r, ep);
        if (limit_hit(r)) {
            st = r->limit_st;
            break;
        }
    }
    if (st == DC_OK && r->t->finish && (st = r->t->finish(r->t, r->m)) == DC_OK)
        st = save_weights(r->m, o->out_dir);
    return st;
}

dc_status dc_train_task(dc_model *m, dc_task *t, const dc_train_opts *o, dc_task_eval *last)
{
    run r = {.m = m, .t = t, .o = o};
    if (last)
        memset(last, 0, sizeof *last);
    if (!m || !t || !o)
        return dc_err(DC_ERR_ARG, "train: NULL model, task or options");
    if (o->batch_size <= 0 || o->epochs <= 0 || o->epochs > DC_TRAIN_MAX_EPOCHS ||
        o->log_every < 0)
        return dc_err(DC_ERR_ARG, "train: need batch > 0, 0 < epochs <= %d and log_every >= 0 "
                      "(got batch %lld, epochs %d)", DC_TRAIN_MAX_EPOCHS,
                      (long long)o->batch_size, o->epochs);
    if (t->bind)
        t->bind(t, m);
    r.budget0 = budget_s(o);
    dc_status st = train_setup(&r, o);
    r.prog.mode = o->progress != 1 || dc_dist_rank() != 0 ? 0 : (isatty(2) ? 1 : 2);
    r.t_start = now_s();
    if (st == DC_OK)
        st = train_loop(&r, last);
    if (r.log && fclose(r.log) != 0 && st == DC_OK)
        st = dc_err(DC_ERR_IO, "%s: closing the training log failed: %s", r.log_path,
                    strerror(errno));
    free(r.log_path);
    dc_sched_free(r.sched);
    dc_optim_free(r.opt);
    dc_ctx_free(r.ctx);
    return st;
}

dc_status dc_train(dc_model *m, const dc_dataset *d, const dc_train_opts *o,
                   dc_eval_result *last)
{
    if (last)
        memset(last, 0, sizeof *last);
    if (o->val_size < 0 || o->val_size >= d->n)
        return dc_err(DC_ERR_ARG, "train: need 0 <= validation examples < %lld (got %lld)",
                      (long long)d->n, (long long)o->val_size);
    dc_task *t = dc_task_dataset(d, o);
    if (!t)
        return dc_last_status();
    dc_task_eval v;
    dc_status st = dc_train_task(m, t, o, &v);
    const dc_eval_result *e = dc_task_dataset_eval(t);
    if (st == DC_OK && last && v.has && e) { /* hand over the last validation in full */
        *last = *e;
        if (e->confusion) {
            size_t k = (size_t)e->n_classes * (size_t)e->n_classes * sizeof(int64_t);
            if ((last->confusion = malloc(k)))
                memcpy(last->confusion, e->confusion, k);
        }
    } else if (st == DC_OK && last) {
        *last = (dc_eval_result){.loss = v.loss, .accuracy = v.metric > 0 ? v.metric : 0};
    }
    dc_task_free(t);
    return st;
}
