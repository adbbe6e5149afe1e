/*
 * hparams.c - the hyper-parameters of the optimizers and schedulers by name (hparams.h).
 *
 * Every hyper-parameter of the PyTorch 1.13 optimizers and schedulers deepc implements is a flag
 * named after PyTorch's argument (lr_decay -> --lr-decay), with PyTorch's default: one table,
 * FLAGS, says where each value goes (a dc_optim_cfg or dc_sched_cfg field), its range, and which
 * optimizer or scheduler kinds take it; a flag given for a kind that has no such argument is an
 * error. Two names differ from PyTorch's because a run has both an optimizer and a scheduler:
 * ReduceLROnPlateau's mode and eps are --plateau-mode and --plateau-eps (--eps is the
 * optimizer's).
 */
#define _POSIX_C_SOURCE 200809L
#include "hparams.h"
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the optimizer and scheduler flags ---- */

enum { T_FLOAT, T_INT, T_I64, T_BOOL, T_BETAS, T_MILESTONES, T_CHOICE };

typedef struct flag_def {
    const char *flag;    /* "--lr-decay" */
    const char *torch;   /* PyTorch's argument, "lr_decay" */
    int in;              /* DC_HP_OPTIM: a dc_optim_cfg field; DC_HP_SCHED: dc_sched_cfg */
    unsigned kinds;      /* bit k: optimizer (DC_HP_OPTIM) or scheduler kind k takes it */
    int type;
    size_t off;          /* the field */
    double lo, hi;       /* T_FLOAT, T_INT, T_I64: the accepted range */
    const char *choices; /* T_CHOICE: "min|max" (value 0 or 1) */
    const char *help;
} flag_def;

#define K(k) (1u << (k))
#define ALL_OPT (K(DC_SGD) | K(DC_ADAGRAD) | K(DC_RMSPROP) | K(DC_ADADELTA) | K(DC_ADAM) | \
                 K(DC_ADAMW))
#define ADAMS (K(DC_ADAM) | K(DC_ADAMW))
#define O_(fl, t, k, ty, fld, lo, hi, help) \
    {fl, t, DC_HP_OPTIM, k, ty, offsetof(dc_optim_cfg, fld), lo, hi, NULL, help}
#define S_(fl, t, k, ty, fld, lo, hi, ch, help) \
    {fl, t, DC_HP_SCHED, k, ty, offsetof(dc_sched_cfg, fld), lo, hi, ch, help}

_Static_assert(offsetof(dc_optim_cfg, beta2) == offsetof(dc_optim_cfg, beta1) + sizeof(float),
               "--betas copies beta1 and beta2 together");

static const flag_def FLAGS[] = {
    O_("--lr", "lr", ALL_OPT, T_FLOAT, lr, 0, 1e6, "learning rate"),
    O_("--momentum", "momentum", K(DC_SGD) | K(DC_RMSPROP), T_FLOAT, momentum, 0, 1,
       "momentum factor"),
    O_("--dampening", "dampening", K(DC_SGD), T_FLOAT, dampening, 0, 1,
       "dampening of the momentum"),
    O_("--weight-decay", "weight_decay", ALL_OPT, T_FLOAT, weight_decay, 0, 1e3,
       "L2 penalty (AdamW: decoupled weight decay)"),
    O_("--nesterov", "nesterov", K(DC_SGD), T_BOOL, nesterov, 0, 0,
       "Nesterov momentum (needs momentum > 0, dampening 0)"),
    O_("--alpha", "alpha", K(DC_RMSPROP), T_FLOAT, alpha, 0, 1, "smoothing constant"),
    O_("--centered", "centered", K(DC_RMSPROP), T_BOOL, centered, 0, 0,
       "normalise by the centered second moment"),
    O_("--rho", "rho", K(DC_ADADELTA), T_FLOAT, rho, 0, 1,
       "decay of the running averages"),
    O_("--lr-decay", "lr_decay", K(DC_ADAGRAD), T_FLOAT, lr_decay, 0, 1e6,
       "learning-rate decay: lr / (1 + (t - 1) lr_decay)"),
    O_("--initial-accumulator-value", "initial_accumulator_value", K(DC_ADAGRAD), T_FLOAT,
       initial_accumulator_value, 0, 1e6, "starting value of the squared-gradient sums"),
    O_("--eps", "eps", ALL_OPT & ~K(DC_SGD), T_FLOAT, eps, 0, 1,
       "term added to the denominator"),
    O_("--betas", "betas", ADAMS, T_BETAS, beta1, 0, 1, "B1,B2: moment decays"),
    O_("--amsgrad", "amsgrad", ADAMS, T_BOOL, amsgrad, 0, 0, "the AMSGrad variant"),
    O_("--maximize", "maximize", ALL_OPT, T_BOOL, maximize, 0, 0,
       "ascend the objective instead of descending"),
    O_("--no-decay-1d", "Hugging Face's no_decay group", ALL_OPT, T_BOOL, no_decay_1d, 0, 0,
       "no weight decay on 1-D parameters: biases, norm weights"),
    S_("--step-size", "step_size", K(DC_SCHED_STEP), T_INT, step_size, 1, 1e6, NULL,
       "decay every N epochs"),
    S_("--gamma", "gamma", K(DC_SCHED_STEP) | K(DC_SCHED_MULTISTEP) | K(DC_SCHED_EXPONENTIAL),
       T_FLOAT, gamma, 0, 1, NULL, "the decay factor"),
    S_("--milestones", "milestones", K(DC_SCHED_MULTISTEP), T_MILESTONES, milestones, 0, 0,
       NULL, "A,B,...: the epochs to decay at"),
    S_("--t-max", "T_max", K(DC_SCHED_COSINE), T_INT, t_max, 1, 1e6, NULL,
       "half period in epochs"),
    S_("--eta-min", "eta_min", K(DC_SCHED_COSINE), T_FLOAT, eta_min, 0, 1e6, NULL,
       "the lowest lr"),
    S_("--warmup", "total_iters / num_warmup_steps", K(DC_SCHED_WARMUP) | K(DC_SCHED_LINEAR),
       T_I64, warmup_steps, 0, 1e9, NULL,
       "warmup: epochs of LinearLR; linear: steps up from lr 0"),
    S_("--start-factor", "start_factor", K(DC_SCHED_WARMUP), T_FLOAT, start_factor, 0, 1, NULL,
       "lr factor at epoch 0"),
    S_("--end-factor", "end_factor", K(DC_SCHED_WARMUP), T_FLOAT, end_factor, 0, 1, NULL,
       "lr factor after the warm-up"),
    S_("--total-steps", "num_training_steps", K(DC_SCHED_LINEAR), T_I64, total_steps, 1, 1e15,
       NULL, "the step at which the lr reaches 0"),
    S_("--plateau-mode", "mode", K(DC_SCHED_PLATEAU), T_CHOICE, mode_max, 0, 0, "min|max",
       "min: the metric (loss) should fall; max: rise"),
    S_("--factor", "factor", K(DC_SCHED_PLATEAU), T_FLOAT, factor, 0, 1, NULL,
       "lr factor at a plateau"),
    S_("--patience", "patience", K(DC_SCHED_PLATEAU), T_INT, patience, 0, 1e6, NULL,
       "epochs without improvement before reducing"),
    S_("--threshold", "threshold", K(DC_SCHED_PLATEAU), T_FLOAT, threshold, 0, 1e6, NULL,
       "least change that counts as an improvement"),
    S_("--threshold-mode", "threshold_mode", K(DC_SCHED_PLATEAU), T_CHOICE, threshold_abs, 0, 0,
       "rel|abs", "threshold relative to the best value or absolute"),
    S_("--cooldown", "cooldown", K(DC_SCHED_PLATEAU), T_INT, cooldown, 0, 1e6, NULL,
       "epochs to wait after a reduction"),
    S_("--min-lr", "min_lr", K(DC_SCHED_PLATEAU), T_FLOAT, min_lr, 0, 1e6, NULL,
       "the lowest lr"),
    S_("--plateau-eps", "eps", K(DC_SCHED_PLATEAU), T_FLOAT, eps, 0, 1, NULL,
       "a reduction smaller than this is skipped"),
};
#define N_FLAGS ((int)(sizeof FLAGS / sizeof *FLAGS))
_Static_assert(sizeof FLAGS / sizeof *FLAGS <= 64, "dc_hparams.given has 64 bits");

int dc_hparam_find(const char *f)
{
    for (int i = 0; i < N_FLAGS; i++)
        if (!strcmp(f, FLAGS[i].flag))
            return i;
    return -1;
}

int dc_hparam_given(const dc_hparams *h, const char *flag)
{
    int i = dc_hparam_find(flag);
    return i >= 0 && (h->given >> i & 1);
}

int dc_hparam_is_switch(int i)
{
    return i >= 0 && i < N_FLAGS && FLAGS[i].type == T_BOOL;
}

/* A number of [lo, hi] from v: DC_OK, or DC_ERR_ARG naming flag (as the CLI says it). */
static dc_status num(const char *flag, const char *v, double lo, double hi, int integer,
                     double *out)
{
    char *end;
    if (!v)
        return dc_err(DC_ERR_ARG, "%s needs a value", flag);
    errno = 0;
    double x = integer ? (double)strtoll(v, &end, 10) : strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x) || x < lo || x > hi) {
        if (integer)
            return dc_err(DC_ERR_ARG, "%s: '%s' is not an integer in [%lld, %lld]", flag, v,
                          (long long)lo, (long long)hi);
        return dc_err(DC_ERR_ARG, "%s: '%s' is not a number in [%g, %g]", flag, v, lo, hi);
    }
    *out = x;
    return DC_OK;
}

static void *field(const flag_def *d, dc_optim_cfg *oc, dc_sched_cfg *sc)
{
    return d->in == DC_HP_OPTIM ? (char *)oc + d->off : (char *)sc + d->off;
}

/* --milestones A,B,...: up to 16 ascending epochs >= 1. */
static dc_status arg_milestones(const char *flag, const char *val, dc_hparams *a)
{
    const char *p = val;
    dc_sched_cfg *c = &a->sched;
    c->n_milestones = 0;
    while (p && *p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1000000 || c->n_milestones == 16 ||
            (c->n_milestones && v <= c->milestones[c->n_milestones - 1]) ||
            (*end != ',' && *end != '\0'))
            return dc_err(DC_ERR_ARG, "%s: expected up to 16 ascending epochs like 30,60,90, "
                          "got '%s'", flag, val);
        c->milestones[c->n_milestones++] = (int)v;
        p = *end == ',' ? end + 1 : end;
    }
    if (c->n_milestones == 0)
        return dc_err(DC_ERR_ARG, "%s needs a value", flag);
    return DC_OK;
}

/* --betas B1,B2: two numbers in [0, 1). */
static dc_status arg_betas(const char *flag, const char *val, dc_hparams *a)
{
    char b1[64];
    double x1 = 0, x2 = 0;
    const char *comma = val ? strchr(val, ',') : NULL;
    if (!comma || (size_t)(comma - val) >= sizeof b1)
        return dc_err(DC_ERR_ARG, "%s: expected B1,B2 (two numbers in [0, 1)), got '%s'", flag,
                      val ? val : "");
    memcpy(b1, val, (size_t)(comma - val));
    b1[comma - val] = '\0';
    if (num(flag, b1, 0, 1, 0, &x1) != DC_OK || num(flag, comma + 1, 0, 1, 0, &x2) != DC_OK)
        return DC_ERR_ARG;
    a->opt.beta1 = (float)x1;
    a->opt.beta2 = (float)x2;
    if (a->opt.beta1 >= 1 || a->opt.beta2 >= 1)
        return dc_err(DC_ERR_ARG, "%s: each beta must be < 1, got '%s'", flag, val);
    return DC_OK;
}

dc_status dc_hparam_parse(dc_hparams *a, int i, const char *v, int *takes)
{
    const flag_def *d = &FLAGS[i];
    void *p = field(d, &a->opt, &a->sched);
    dc_status r = DC_OK;
    double x = 0;
    *takes = d->type != T_BOOL;
    a->given |= UINT64_C(1) << i;
    switch (d->type) {
    case T_FLOAT: case T_INT: case T_I64:
        if ((r = num(d->flag, v, d->lo, d->hi, d->type != T_FLOAT, &x)) != DC_OK)
            break;
        if (d->type == T_FLOAT)
            *(float *)p = (float)x;
        else if (d->type == T_INT)
            *(int *)p = (int)x;
        else
            *(int64_t *)p = (int64_t)x;
        break;
    case T_BOOL: *(int *)p = 1; break;
    case T_BETAS: r = arg_betas(d->flag, v, a); break;
    case T_MILESTONES: r = arg_milestones(d->flag, v, a); break;
    case T_CHOICE: {
        size_t n = strcspn(d->choices, "|");
        if (v && strlen(v) == n && !strncmp(v, d->choices, n))
            *(int *)p = 0;
        else if (v && !strcmp(v, d->choices + n + 1))
            *(int *)p = 1;
        else
            r = dc_err(DC_ERR_ARG, v ? "%s: expected %s, got '%s'" : "%s needs a value (%s)",
                       d->flag, d->choices, v);
        break;
    }
    }
    return r;
}

dc_status dc_hparams_apply(const dc_hparams *a, int in, int k, dc_optim_cfg *oc,
                           dc_sched_cfg *sc)
{
    const char *kname = in == DC_HP_OPTIM ? dc_optim_kind_name((dc_optim_kind)k)
                                     : dc_sched_kind_name((dc_sched_kind)k);
    for (int i = 0; i < N_FLAGS; i++) {
        const flag_def *d = &FLAGS[i];
        if (d->in != in || !(a->given >> i & 1))
            continue;
        if (!(d->kinds & K(k))) {
            char takers[128] = "";
            for (int j = 0; j < 8; j++)
                if (d->kinds & K(j))
                    snprintf(takers + strlen(takers), sizeof takers - strlen(takers), "%s%s",
                             *takers ? ", " : "",
                             in == DC_HP_OPTIM ? dc_optim_kind_name((dc_optim_kind)j)
                                          : dc_sched_kind_name((dc_sched_kind)j));
            return dc_err(DC_ERR_ARG, "%s is not an option of --%s %s; only %s take%s it "
                          "(PyTorch's %s)%s", d->flag,
                          in == DC_HP_OPTIM ? "optimizer" : "scheduler", kname, takers,
                          strchr(takers, ',') ? "" : "s", d->torch,
                          !strcmp(d->flag, "--eps") && k == DC_SGD
                          ? "; ReduceLROnPlateau's eps is --plateau-eps" : "");
        }
        size_t n = d->type == T_I64 ? sizeof(int64_t) : d->type == T_BETAS ? 2 * sizeof(float)
                   : d->type == T_MILESTONES ? sizeof sc->milestones : sizeof(int);
        const char *src = (d->in == DC_HP_OPTIM ? (const char *)&a->opt
                                                : (const char *)&a->sched) + d->off;
        memcpy(field(d, oc, sc), src, n);
        if (d->type == T_MILESTONES)
            sc->n_milestones = a->sched.n_milestones;
    }
    return DC_OK;
}

/* ---- usage ---- */

/* The value of d's field in the defaults oc / sc, as the flag takes it ("" for a switch). */
static void default_text(const flag_def *d, int k, const dc_optim_cfg *oc, const dc_sched_cfg *sc,
                         char *buf, size_t n)
{
    const char *p = (d->in == DC_HP_OPTIM ? (const char *)oc : (const char *)sc) + d->off;
    const float *f = (const float *)(const void *)p;
    const int iv = d->type == T_INT || d->type == T_BOOL || d->type == T_CHOICE
                   ? *(const int *)(const void *)p : 0;
    const char *fl = d->flag;
    if ((!strcmp(fl, "--lr") && d->in == DC_HP_OPTIM && k == DC_SGD) || d->type == T_MILESTONES ||
        (!strcmp(fl, "--step-size")) || (!strcmp(fl, "--gamma") && k == DC_SCHED_EXPONENTIAL))
        snprintf(buf, n, "(required)");
    else if (!strcmp(fl, "--t-max") || !strcmp(fl, "--total-steps"))
        snprintf(buf, n, "(the run's %s)", fl[2] == 't' && fl[3] == '-' ? "epochs"
                                                                         : "epochs of steps");
    else if (!strcmp(fl, "--warmup"))
        snprintf(buf, n, "%lld", k == DC_SCHED_WARMUP ? (long long)sc->total_iters
                                                       : (long long)sc->warmup_steps);
    else if (d->type == T_FLOAT)
        snprintf(buf, n, "%g", (double)*f);
    else if (d->type == T_BETAS)
        snprintf(buf, n, "%g,%g", (double)f[0], (double)f[1]);
    else if (d->type == T_CHOICE) {
        size_t bar = strcspn(d->choices, "|");
        snprintf(buf, n, "%.*s", (int)(iv ? strlen(d->choices) - bar - 1 : bar),
                 iv ? d->choices + bar + 1 : d->choices);
    } else if (d->type == T_BOOL)
        snprintf(buf, n, "%s", iv ? "(on)" : "");
    else
        snprintf(buf, n, "%lld", d->type == T_I64 ? (long long)*(const int64_t *)(const void *)p
                                                   : (long long)iv);
}

/* One line per optimizer / scheduler kind: its flags with the defaults deepc uses. */
static void usage_kinds(FILE *f, int in)
{
    int n_kinds = in == DC_HP_OPTIM ? DC_ADAMW + 1 : DC_SCHED_LINEAR + 1;
    for (int k = in == DC_HP_OPTIM ? 0 : 1; k < n_kinds; k++) {
        dc_optim_cfg oc = dc_optim_defaults(in == DC_HP_OPTIM ? (dc_optim_kind)k : DC_SGD);
        dc_sched_cfg sc = dc_sched_defaults(in == DC_HP_SCHED ? (dc_sched_kind)k : DC_SCHED_NONE);
        const char *name = in == DC_HP_OPTIM ? dc_optim_kind_name((dc_optim_kind)k)
                                        : dc_sched_kind_name((dc_sched_kind)k);
        int col = fprintf(f, "  %-12s", name);
        for (int i = 0; i < N_FLAGS; i++) {
            const flag_def *d = &FLAGS[i];
            char val[64], item[128];
            if (d->in != in || !(d->kinds & K(k)))
                continue;
            default_text(d, k, &oc, &sc, val, sizeof val);
            int len = d->type == T_BOOL ? snprintf(item, sizeof item, " [%s]", d->flag)
                                        : snprintf(item, sizeof item, " %s %s", d->flag, val);
            if (col + len > 98)
                col = fprintf(f, "\n  %-12s", "");
            col += fprintf(f, "%s", item);
        }
        fputc('\n', f);
    }
}

void dc_hparams_usage(FILE *f)
{
    for (int i = 0; i < N_FLAGS; i++) {
        const flag_def *d = &FLAGS[i];
        const char *arg = d->type == T_BOOL ? "" : d->type == T_BETAS ? " B1,B2"
                          : d->type == T_MILESTONES ? " A,B,..." : d->type == T_CHOICE
                          ? (d->choices[0] == 'm' ? " min|max" : " rel|abs")
                          : d->type == T_FLOAT ? " X" : " N";
        char lhs[64];
        snprintf(lhs, sizeof lhs, "%s%s", d->flag, arg);
        fprintf(f, "  %-30s %s (%s)\n", lhs, d->help, d->torch);
    }
    fprintf(f, "each optimizer's flags with PyTorch 1.13's defaults:\n");
    usage_kinds(f, DC_HP_OPTIM);
    fprintf(f, "each scheduler's flags and defaults (stepped per epoch; linear per step):\n");
    usage_kinds(f, DC_HP_SCHED);
}
