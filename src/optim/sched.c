/*
 * sched.c - epoch-based learning-rate schedulers with torch 1.13's scheduler.step() semantics:
 * after dc_sched_new the optimizer holds the epoch-0 lr (LinearLR already applies start_factor),
 * and after k calls to dc_sched_step it holds the lr PyTorch's scheduler sets after k step()s.
 *
 * LINEAR is Hugging Face's get_linear_schedule_with_warmup (a LambdaLR stepped after every
 * optimizer step): lr = base·t/W for t < W, then base·max(0, (T − t)/max(1, T − W)).
 *
 * StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR and LINEAR use their closed
 * forms in double (base lr = the optimizer's lr when the scheduler was made; every float factor
 * widened to the decimal the user wrote, as the optimizers do: dc_optim_widen). PyTorch's step()
 * uses recursive "chainable" forms; they equal the closed forms up to double rounding (checked
 * for CosineAnnealingLR over 3·T_max epochs for T_max 1..1000: worst relative difference 4e-12),
 * far below float32 resolution. A closed form overwrites an lr set by someone else in between;
 * ReduceLROnPlateau, being stateful, starts from the optimizer's current lr like PyTorch.
 */
#include "core/internal.h"
#include "optim/widen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dc_sched {
    dc_optim *o;
    dc_sched_cfg cfg;
    int64_t epoch;  /* PyTorch's last_epoch */
    double base;    /* initial lr */
    double lr;      /* the lr last set, in double like PyTorch's param_group['lr'] */
    double best;    /* PLATEAU: best metric so far */
    int bad;        /* PLATEAU: epochs without improvement */
    int cooldown;   /* PLATEAU: epochs of cooldown left */
};

static const char *const sched_names[] = {"none", "step", "multistep", "exponential", "cosine",
                                          "warmup", "plateau", "linear"};
#define N_SCHED ((int)(sizeof sched_names / sizeof *sched_names))

/*
 * dc_sched_defaults - PyTorch's defaults. Where PyTorch has none (StepLR's step_size,
 * CosineAnnealingLR's T_max) the field is 0 and must be set: dc_sched_new rejects it otherwise.
 * MultiStepLR starts without milestones (a constant lr).
 */
dc_sched_cfg dc_sched_defaults(dc_sched_kind kind)
{
    dc_sched_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.gamma = 0.1f;
    c.start_factor = 1.0f / 3.0f;
    c.end_factor = 1.0f;
    c.total_iters = 5;
    c.factor = 0.1f;
    c.patience = 10;
    c.threshold = 1e-4f;
    c.eps = 1e-8f;
    return c;
}

dc_status dc_sched_kind_parse(const char *s, dc_sched_kind *out)
{
    if (!s || !out)
        return dc_err(DC_ERR_ARG, "dc_sched_kind_parse: NULL argument");
    for (int k = 0; k < N_SCHED; k++)
        if (strcmp(s, sched_names[k]) == 0) {
            *out = (dc_sched_kind)k;
            return DC_OK;
        }
    return dc_err(DC_ERR_ARG, "unknown scheduler '%s' (expected none, step, multistep, "
                  "exponential, cosine, warmup, plateau or linear)", s);
}

const char *dc_sched_kind_name(dc_sched_kind k)
{
    return (int)k >= 0 && (int)k < N_SCHED ? sched_names[k] : "unknown";
}

dc_status dc_sched_cfg_check(const dc_sched_cfg *c)
{
    switch (c->kind) {
    case DC_SCHED_NONE:
        return DC_OK;
    case DC_SCHED_STEP:
        if (c->step_size <= 0)
            return dc_err(DC_ERR_ARG, "step scheduler: step_size must be > 0, got %d",
                          c->step_size);
        break;
    case DC_SCHED_MULTISTEP:
        if (c->n_milestones < 0 || c->n_milestones > 16)
            return dc_err(DC_ERR_ARG, "multistep scheduler: %d milestones (0..16 allowed)",
                          c->n_milestones);
        for (int i = 1; i < c->n_milestones; i++)
            if (c->milestones[i] < c->milestones[i - 1])
                return dc_err(DC_ERR_ARG, "multistep scheduler: milestones must ascend (%d "
                              "after %d)", c->milestones[i], c->milestones[i - 1]);
        break;
    case DC_SCHED_EXPONENTIAL:
        break;
    case DC_SCHED_COSINE:
        if (c->t_max <= 0 || !(c->eta_min >= 0))
            return dc_err(DC_ERR_ARG, "cosine scheduler: t_max must be > 0 (got %d) and "
                          "eta_min >= 0 (got %g)", c->t_max, c->eta_min);
        return DC_OK;
    case DC_SCHED_WARMUP:
        if (!(c->start_factor > 0 && c->start_factor <= 1) ||
            !(c->end_factor >= 0 && c->end_factor <= 1) || c->total_iters <= 0)
            return dc_err(DC_ERR_ARG, "warmup scheduler: need 0 < start_factor <= 1 (got %g), "
                          "0 <= end_factor <= 1 (got %g), total_iters > 0 (got %d)",
                          c->start_factor, c->end_factor, c->total_iters);
        return DC_OK;
    case DC_SCHED_PLATEAU:
        if (!(c->factor >= 0 && c->factor < 1) || c->patience < 0 || c->cooldown < 0 ||
            !(c->threshold >= 0) || !(c->min_lr >= 0) || !(c->eps >= 0))
            return dc_err(DC_ERR_ARG, "plateau scheduler: need 0 <= factor < 1 (got %g), "
                          "patience, cooldown, threshold, min_lr, eps >= 0", c->factor);
        return DC_OK;
    case DC_SCHED_LINEAR:
        if (c->warmup_steps < 0 || c->total_steps <= 0)
            return dc_err(DC_ERR_ARG, "linear scheduler: need warmup_steps >= 0 (got %lld) and "
                          "total_steps > 0 (got %lld)", (long long)c->warmup_steps,
                          (long long)c->total_steps);
        return DC_OK;
    default:
        return dc_err(DC_ERR_ARG, "dc_sched_new: unknown scheduler kind %d", (int)c->kind);
    }
    if (!(c->gamma >= 0) || isinf(c->gamma))
        return dc_err(DC_ERR_ARG, "%s scheduler: invalid gamma %g", sched_names[c->kind],
                      c->gamma);
    return DC_OK;
}

/* The closed-form lr at epoch e for the non-plateau kinds. */
static double closed_form(const dc_sched *s, int64_t e)
{
    const dc_sched_cfg *c = &s->cfg;
    double b = s->base, gamma = dc_optim_widen(c->gamma);
    switch (c->kind) {
    case DC_SCHED_STEP:
        return b * pow(gamma, (double)(e / c->step_size));
    case DC_SCHED_MULTISTEP: {
        int k = 0; /* milestones passed: bisect_right(milestones, e) */
        while (k < c->n_milestones && c->milestones[k] <= e)
            k++;
        return b * pow(gamma, k);
    }
    case DC_SCHED_EXPONENTIAL:
        return b * pow(gamma, (double)e);
    case DC_SCHED_COSINE: {
        /* eta_min + (base − eta_min)·(1 + cos(π·e/T_max))/2 */
        const double pi = 3.14159265358979323846;
        double lo = dc_optim_widen(c->eta_min);
        return lo + (b - lo) * (1.0 + cos(pi * (double)e / c->t_max)) / 2.0;
    }
    case DC_SCHED_WARMUP: {
        /* base·(sf + (ef − sf)·min(T, e)/T) */
        double sf = dc_optim_widen(c->start_factor), ef = dc_optim_widen(c->end_factor);
        int64_t t = e < c->total_iters ? e : c->total_iters;
        return b * (sf + (ef - sf) * (double)t / c->total_iters);
    }
    case DC_SCHED_LINEAR: {
        /* t/W during warm-up, then (T − t)/(T − W) down to 0 (HF's lr_lambda) */
        const int64_t W = c->warmup_steps, T = c->total_steps;
        if (e < W)
            return b * ((double)e / (double)(W > 1 ? W : 1));
        double f = (double)(T - e) / (double)(T - W > 1 ? T - W : 1);
        return b * (f > 0 ? f : 0.0);
    }
    default:
        return s->lr;
    }
}

/*
 * dc_sched_new - a scheduler over o (which must outlive it). Base lr = o's lr now; the epoch-0
 * lr is applied at once (PyTorch's constructor step). Returns NULL with DC_ERR_ARG for a bad
 * configuration (message names the field), leaving o's lr unchanged.
 */
dc_sched *dc_sched_new(dc_optim *o, const dc_sched_cfg *cfg)
{
    if (!o || !cfg)
        return dc_err_null(DC_ERR_ARG, "dc_sched_new: NULL optimizer or configuration");
    if (dc_sched_cfg_check(cfg) != DC_OK)
        return NULL;
    dc_sched *s = calloc(1, sizeof *s);
    if (!s)
        return dc_err_null(DC_ERR_NOMEM, "dc_sched_new: out of memory");
    s->o = o;
    s->cfg = *cfg;
    s->base = s->lr = dc_optim_widen(dc_optim_lr(o));
    s->best = cfg->mode_max ? -INFINITY : INFINITY;
    if (cfg->kind != DC_SCHED_PLATEAU && cfg->kind != DC_SCHED_NONE) {
        s->lr = closed_form(s, 0); /* PyTorch's initial step() */
        dc_optim_set_lr(o, (float)s->lr);
    }
    return s;
}

void dc_sched_free(dc_sched *s) { free(s); }

/* ReduceLROnPlateau.step(metric): threshold relative (best·(1 ∓ thr)) or absolute (best ∓ thr);
 * NaN counts as no improvement. */
static void plateau_step(dc_sched *s, double metric)
{
    const dc_sched_cfg *c = &s->cfg;
    double thr = dc_optim_widen(c->threshold);
    int better = c->threshold_abs ? (c->mode_max ? metric > s->best + thr : metric < s->best - thr)
                 : c->mode_max ? metric > s->best * (thr + 1.0) : metric < s->best * (1.0 - thr);
    if (better) {
        s->best = metric;
        s->bad = 0;
    } else {
        s->bad++;
    }
    if (s->cooldown > 0) {
        s->cooldown--;
        s->bad = 0; /* bad epochs in cooldown are ignored */
    }
    if (s->bad > c->patience) {
        double old = s->lr;
        if ((float)old != dc_optim_lr(s->o)) /* someone else changed the lr */
            old = dc_optim_widen(dc_optim_lr(s->o));
        double lr = old * dc_optim_widen(c->factor), min_lr = dc_optim_widen(c->min_lr);
        if (lr < min_lr)
            lr = min_lr;
        if (old - lr > dc_optim_widen(c->eps)) {
            s->lr = lr;
            dc_optim_set_lr(s->o, (float)lr);
        }
        s->cooldown = c->cooldown;
        s->bad = 0;
    }
}

/*
 * dc_sched_step - end of an epoch: epoch += 1 and o's lr becomes the schedule's value for it.
 * metric (a loss in mode min, an accuracy in mode max) is read by PLATEAU only.
 */
void dc_sched_step(dc_sched *s, float metric)
{
    if (!s)
        return;
    if (s->cfg.kind == DC_SCHED_LINEAR)
        return;
    s->epoch++;
    if (s->cfg.kind == DC_SCHED_NONE)
        return;
    if (s->cfg.kind == DC_SCHED_PLATEAU) {
        plateau_step(s, metric);
        return;
    }
    s->lr = closed_form(s, s->epoch);
    dc_optim_set_lr(s->o, (float)s->lr);
}

/* dc_sched_step_batch - after an optimizer step: LINEAR's step counter += 1 and o's lr becomes
 * its value for the next step. The epoch kinds ignore it. */
void dc_sched_step_batch(dc_sched *s)
{
    if (!s || s->cfg.kind != DC_SCHED_LINEAR)
        return;
    s->lr = closed_form(s, ++s->epoch);
    dc_optim_set_lr(s->o, (float)s->lr);
}

int64_t dc_sched_epoch(const dc_sched *s) { return s ? s->epoch : 0; }

/* "kind epoch lr best bad cooldown", the doubles in %a (hexadecimal: exact round trip). */
int dc_sched_state_save(const dc_sched *s, char *buf, size_t n)
{
    return snprintf(buf, n, "%s %lld %a %a %d %d", sched_names[s->cfg.kind],
                    (long long)s->epoch, s->lr, s->best, s->bad, s->cooldown);
}

dc_status dc_sched_state_load(dc_sched *s, const char *text)
{
    char kind[32];
    long long epoch;
    double lr, best;
    int bad, cooldown, used = 0;
    if (!text || sscanf(text, "%31s %lld %la %la %d %d%n", kind, &epoch, &lr, &best, &bad,
                        &cooldown, &used) != 6 || text[used] != '\0' || epoch < 0 ||
        !(lr >= 0) || bad < 0 || cooldown < 0)
        return dc_err(DC_ERR_FORMAT, "scheduler state '%.80s' is not \"kind epoch lr best bad "
                      "cooldown\"", text ? text : "");
    if (strcmp(kind, sched_names[s->cfg.kind]))
        return dc_err(DC_ERR_ARG, "the checkpoint's scheduler is %s, this run's is %s", kind,
                      sched_names[s->cfg.kind]);
    s->epoch = epoch;
    s->lr = lr;
    s->best = best;
    s->bad = bad;
    s->cooldown = cooldown;
    dc_optim_set_lr(s->o, (float)lr);
    return DC_OK;
}
