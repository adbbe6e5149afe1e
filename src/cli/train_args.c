/*
 * train_args.c - deepc train's flags: the usage text, the parser into train_args and the
 * translation into dc_train_opts.
 *
 * Every hyper-parameter of the PyTorch 1.13 optimizers and schedulers deepc implements is a flag
 * named after PyTorch's argument (lr_decay -> --lr-decay), with PyTorch's default: one table,
 * FLAGS, says where each value goes (a dc_optim_cfg or dc_sched_cfg field), its range, and which
 * optimizer or scheduler kinds take it; a flag given for a kind that has no such argument is an
 * error. Two names differ from PyTorch's because a run has both an optimizer and a scheduler:
 * ReduceLROnPlateau's mode and eps are --plateau-mode and --plateau-eps (--eps is the
 * optimizer's). torch.optim.SGD has no default lr, so `--optimizer sgd` needs --lr.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the optimizer and scheduler flags ---- */

enum { IN_OPT, IN_SCHED };
enum { T_FLOAT, T_INT, T_I64, T_BOOL, T_BETAS, T_MILESTONES, T_CHOICE };

typedef struct flag_def {
    const char *flag;    /* "--lr-decay" */
    const char *torch;   /* PyTorch's argument, "lr_decay" */
    int in;              /* IN_OPT: a dc_optim_cfg field; IN_SCHED: a dc_sched_cfg field */
    unsigned kinds;      /* bit k: optimizer (IN_OPT) or scheduler (IN_SCHED) kind k takes it */
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
    {fl, t, IN_OPT, k, ty, offsetof(dc_optim_cfg, fld), lo, hi, NULL, help}
#define S_(fl, t, k, ty, fld, lo, hi, ch, help) \
    {fl, t, IN_SCHED, k, ty, offsetof(dc_sched_cfg, fld), lo, hi, ch, help}

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
_Static_assert(sizeof FLAGS / sizeof *FLAGS <= 64, "train_args.given has 64 bits");

static int find_def(const char *f)
{
    for (int i = 0; i < N_FLAGS; i++)
        if (!strcmp(f, FLAGS[i].flag))
            return i;
    return -1;
}

static int given(const train_args *a, const char *flag)
{
    int i = find_def(flag);
    return i >= 0 && (a->given >> i & 1);
}

static void *field(const flag_def *d, dc_optim_cfg *oc, dc_sched_cfg *sc)
{
    return d->in == IN_OPT ? (char *)oc + d->off : (char *)sc + d->off;
}

/* --milestones A,B,...: up to 16 ascending epochs >= 1. 0 or -1 after a message. */
static int arg_milestones(const char *flag, const char *val, train_args *a)
{
    const char *p = val;
    dc_sched_cfg *c = &a->sched;
    c->n_milestones = 0;
    while (p && *p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1000000 || c->n_milestones == 16 ||
            (c->n_milestones && v <= c->milestones[c->n_milestones - 1]) ||
            (*end != ',' && *end != '\0')) {
            fprintf(stderr, "deepc: %s: expected up to 16 ascending epochs like 30,60,90, got "
                    "'%s'\n", flag, val);
            return -1;
        }
        c->milestones[c->n_milestones++] = (int)v;
        p = *end == ',' ? end + 1 : end;
    }
    if (c->n_milestones == 0) {
        fprintf(stderr, "deepc: %s needs a value\n", flag);
        return -1;
    }
    return 0;
}

/* --betas B1,B2: two numbers in [0, 1). 0 or -1 after a message. */
static int arg_betas(const char *flag, const char *val, train_args *a)
{
    char b1[64];
    const char *comma = val ? strchr(val, ',') : NULL;
    if (!comma || (size_t)(comma - val) >= sizeof b1) {
        fprintf(stderr, "deepc: %s: expected B1,B2 (two numbers in [0, 1)), got '%s'\n", flag,
                val ? val : "");
        return -1;
    }
    memcpy(b1, val, (size_t)(comma - val));
    b1[comma - val] = '\0';
    if (arg_float(flag, b1, 0, 1, &a->opt.beta1) || arg_float(flag, comma + 1, 0, 1, &a->opt.beta2))
        return -1;
    if (a->opt.beta1 >= 1 || a->opt.beta2 >= 1) {
        fprintf(stderr, "deepc: %s: each beta must be < 1, got '%s'\n", flag, val);
        return -1;
    }
    return 0;
}

/* One flag of the table: parse v into its field and mark it given. *takes: 0 for a switch. */
static int parse_def(int i, const char *v, train_args *a, int *takes)
{
    const flag_def *d = &FLAGS[i];
    void *p = field(d, &a->opt, &a->sched);
    int r = 0;
    *takes = d->type != T_BOOL;
    a->given |= UINT64_C(1) << i;
    switch (d->type) {
    case T_FLOAT: r = arg_float(d->flag, v, d->lo, d->hi, p); break;
    case T_INT: r = arg_int(d->flag, v, (int)d->lo, (int)d->hi, p); break;
    case T_I64: r = arg_i64(d->flag, v, (int64_t)d->lo, (int64_t)d->hi, p); break;
    case T_BOOL: *(int *)p = 1; break;
    case T_BETAS: r = arg_betas(d->flag, v, a); break;
    case T_MILESTONES: r = arg_milestones(d->flag, v, a); break;
    case T_CHOICE: {
        size_t n = strcspn(d->choices, "|");
        if (v && strlen(v) == n && !strncmp(v, d->choices, n))
            *(int *)p = 0;
        else if (v && !strcmp(v, d->choices + n + 1))
            *(int *)p = 1;
        else if (v) {
            fprintf(stderr, "deepc: %s: expected %s, got '%s'\n", d->flag, d->choices, v);
            r = -1;
        }
        break;
    }
    }
    return r;
}

/* Copy the given flags of one side (IN_OPT / IN_SCHED, kind k) into oc / sc; -1 after a message
 * when a flag does not apply to k. */
static int apply_defs(const train_args *a, int in, int k, const char *kname, dc_optim_cfg *oc,
                      dc_sched_cfg *sc)
{
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
                             in == IN_OPT ? dc_optim_kind_name((dc_optim_kind)j)
                                          : dc_sched_kind_name((dc_sched_kind)j));
            fprintf(stderr, "deepc train: %s is not an option of --%s %s; only %s take%s it "
                    "(PyTorch's %s)%s\n", d->flag, in == IN_OPT ? "optimizer" : "scheduler",
                    kname, takers, strchr(takers, ',') ? "" : "s", d->torch,
                    !strcmp(d->flag, "--eps") && k == DC_SGD
                    ? "; ReduceLROnPlateau's eps is --plateau-eps" : "");
            return -1;
        }
        size_t n = d->type == T_I64 ? sizeof(int64_t) : d->type == T_BETAS ? 2 * sizeof(float)
                   : d->type == T_MILESTONES ? sizeof sc->milestones : sizeof(int);
        const char *src = (d->in == IN_OPT ? (const char *)&a->opt : (const char *)&a->sched) +
                          d->off;
        memcpy(field(d, oc, sc), src, n);
        if (d->type == T_MILESTONES)
            sc->n_milestones = a->sched.n_milestones;
    }
    return 0;
}

/* ---- usage ---- */

/* The value of d's field in the defaults oc / sc, as the flag takes it ("" for a switch). */
static void default_text(const flag_def *d, int k, const dc_optim_cfg *oc, const dc_sched_cfg *sc,
                         char *buf, size_t n)
{
    const char *p = (d->in == IN_OPT ? (const char *)oc : (const char *)sc) + d->off;
    const float *f = (const float *)(const void *)p;
    const int iv = d->type == T_INT || d->type == T_BOOL || d->type == T_CHOICE
                   ? *(const int *)(const void *)p : 0;
    const char *fl = d->flag;
    if ((!strcmp(fl, "--lr") && d->in == IN_OPT && k == DC_SGD) || d->type == T_MILESTONES ||
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
    int n_kinds = in == IN_OPT ? DC_ADAMW + 1 : DC_SCHED_LINEAR + 1;
    for (int k = in == IN_OPT ? 0 : 1; k < n_kinds; k++) {
        dc_optim_cfg oc = dc_optim_defaults(in == IN_OPT ? (dc_optim_kind)k : DC_SGD);
        dc_sched_cfg sc = dc_sched_defaults(in == IN_SCHED ? (dc_sched_kind)k : DC_SCHED_NONE);
        const char *name = in == IN_OPT ? dc_optim_kind_name((dc_optim_kind)k)
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

void cli_train_usage(FILE *f)
{
    fprintf(f,
        "usage: deepc train MODEL --data DATA [options]\n"
        "  MODEL                 a model spec file (models/lenet5)\n"
        "  --data DATA           fashion-mnist[:DIR] | digits[:FILE] | npy:X.npy,Y.npy |\n"
        "                        text:FILE (char language model) | csv:FILE,... | weather\n"
        "  --epochs N            passes over the training set (10)\n"
        "  --batch N             mini-batch size (64)\n"
        "  --optimizer NAME      sgd | adagrad | rmsprop | adadelta | adam | adamw (sgd)\n"
        "  --scheduler NAME      none | step | multistep | exponential | cosine | warmup\n"
        "                        (LinearLR) | plateau (ReduceLROnPlateau) | linear (linear decay\n"
        "                        after a linear warm-up, per step; Hugging Face) (none)\n"
        "  --loss NAME           cross_entropy | mse | l1 | smooth_l1 | huber | nll | bce | ...\n"
        "  --clip X              clip the global gradient norm to X (off)\n"
        "  --augment LIST        crop=N,flip: random shifts by up to N pixels (padded) and\n"
        "                        left-right mirroring of training images (none)\n"
        "  --val N               hold N training examples out for validation (1/12 of the\n"
        "                        set for fashion-mnist / idx folders, 0 otherwise)\n"
        "  --seed N              weights, data order and dropout (1)\n"
        "  --threads N           kernel threads (all cores)\n"
        "  --bptt N              text: time steps per truncated-BPTT chunk (64)\n"
        "  --steps N             stop after N optimizer steps (0: no limit; with no --epochs: as\n"
        "                        many epochs as that takes); also --max-steps\n"
        "  --time-limit S        stop at the first step after S seconds of wall time, then\n"
        "                        validate and write weights, log row and checkpoint as --steps\n"
        "  --cpu-time-limit S    the same in CPU time of the process (a shared machine)\n"
        "  --init W.safetensors  start from these weights instead of a random init\n"
        "  --no-shuffle          examples in file order (PyTorch shuffle=False)\n"
        "  --sync-bn             under mpirun: BatchNorm statistics of the global batch\n"
        "  --resume DIR          continue DIR/checkpoint exactly (then the flags given here)\n"
        "  --save-every N        a checkpoint every N steps too (always: every epoch, signals)\n"
        "  --log-every N         a log.csv row every N steps too (0: one row per epoch)\n"
        "  --check-numerics      check every op's output; a NaN/Inf names its op and layer\n"
        "  --json                one JSON object per epoch on stdout instead of the bar\n"
        "  --out DIR             write DIR/model.safetensors and DIR/model.spec\n"
        "  --quiet               print nothing on success (errors still go to stderr)\n"
        "optimizer and scheduler flags (PyTorch's argument names; docs/cli.md maps each one):\n");
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
    usage_kinds(f, IN_OPT);
    fprintf(f, "each scheduler's flags and defaults (stepped per epoch; linear per step):\n");
    usage_kinds(f, IN_SCHED);
}

/* ---- parsing ---- */

int cli_train_is_switch(const char *flag)
{
    static const char *const sw[] = {"--no-shuffle", "--check-numerics", "--json", "--sync-bn",
                                     "--quiet", "--help"};
    for (size_t i = 0; i < sizeof sw / sizeof *sw; i++)
        if (!strcmp(flag, sw[i]))
            return 1;
    int d = find_def(flag);
    return d >= 0 && FLAGS[d].type == T_BOOL;
}

int cli_parse_train_args(int argc, char **argv, train_args *a)
{
    memset(a, 0, sizeof *a);
    a->epochs = 10;
    a->batch = 64;
    a->seed = 1;
    a->val = -1;
    a->optimizer = "sgd";
    a->scheduler = "none";
    a->loss = "cross_entropy";
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = 0, takes = 1, def = find_def(f);
        if (!strcmp(f, "--help")) {
            cli_train_usage(stdout);
            return 1;
        } else if (def >= 0) r = parse_def(def, v, a, &takes);
        else if (!strcmp(f, "--data")) a->data = v;
        else if (!strcmp(f, "--out")) a->out = v;
        else if (!strcmp(f, "--optimizer")) a->optimizer = v;
        else if (!strcmp(f, "--scheduler")) a->scheduler = v;
        else if (!strcmp(f, "--loss")) a->loss = v;
        else if (!strcmp(f, "--augment")) a->augment = v;
        else if (!strcmp(f, "--epochs")) {
            r = arg_int(f, v, 1, 1000000, &a->epochs);
            a->epochs_set = 1;
        } else if (!strcmp(f, "--init")) a->init = v;
        else if (!strcmp(f, "--resume")) a->resume = v;
        else if (!strcmp(f, "--no-shuffle")) { a->no_shuffle = 1; takes = 0; }
        else if (!strcmp(f, "--check-numerics")) { a->check_numerics = 1; takes = 0; }
        else if (!strcmp(f, "--json")) { a->json = 1; takes = 0; }
        else if (!strcmp(f, "--sync-bn")) { a->sync_bn = 1; takes = 0; }
        else if (!strcmp(f, "--save-every")) r = arg_i64(f, v, 1, INT64_MAX, &a->save_every);
        else if (!strcmp(f, "--log-every")) r = arg_i64(f, v, 0, INT64_MAX, &a->log_every);
        else if (!strcmp(f, "--batch")) r = arg_i64(f, v, 1, 1 << 20, &a->batch);
        else if (!strcmp(f, "--clip")) r = arg_float(f, v, 0, 1e9, &a->clip);
        else if (!strcmp(f, "--val")) r = arg_i64(f, v, 0, INT64_C(1) << 40, &a->val);
        else if (!strcmp(f, "--seed")) r = arg_i64(f, v, 0, INT64_MAX, &a->seed);
        else if (!strcmp(f, "--threads")) r = arg_int(f, v, 1, 1024, &a->threads);
        else if (!strcmp(f, "--bptt")) r = arg_i64(f, v, 1, 100000, &a->bptt);
        else if (!strcmp(f, "--max-steps") || !strcmp(f, "--steps"))
            r = arg_i64(f, v, 0, INT64_MAX, &a->max_steps);
        else if (!strcmp(f, "--time-limit") || !strcmp(f, "--cpu-time-limit")) {
            r = arg_float(f, v, 0, 1e9, &a->time_limit);
            a->time_limit_cpu = f[2] == 'c';
        }
        else if (!strcmp(f, "--quiet")) { a->quiet = 1; takes = 0; }
        else if (f[0] == '-') {
            cli_unknown_flag_usage("train", f, cli_train_usage);
            return -1;
        } else if (!a->model) { a->model = f; takes = 0; }
        else {
            fprintf(stderr, "deepc train: unexpected argument '%s'\n", f);
            return -1;
        }
        if (r)
            return -1;
        if (takes && !v) {
            fprintf(stderr, "deepc train: %s needs a value\n", f);
            return -1;
        }
        i += takes;
    }
    a->t_max_set = given(a, "--t-max");
    if (!a->model || !a->data) {
        cli_missing("train", !a->model ? "MODEL (a spec file)" : "--data DATA");
        return -1;
    }
    return 0;
}

/* ---- dc_train_opts ---- */

/* The optimizer: PyTorch's defaults, then the flags given. */
static int optim_opts(const train_args *a, dc_optim_kind ok, dc_train_opts *o)
{
    o->optim = dc_optim_defaults(ok);
    if (ok == DC_SGD && !given(a, "--lr")) {
        fprintf(stderr, "deepc train: --optimizer sgd needs --lr (torch.optim.SGD has no default "
                "learning rate)\n");
        return -1;
    }
    dc_sched_cfg unused;
    return apply_defs(a, IN_OPT, ok, dc_optim_kind_name(ok), &o->optim, &unused);
}

/* The scheduler: PyTorch's defaults, the flags given, and what PyTorch requires. */
static int sched_opts(const train_args *a, dc_sched_kind sk, dc_train_opts *o)
{
    dc_sched_cfg *c = &o->sched;
    *c = dc_sched_defaults(sk);
    if (apply_defs(a, IN_SCHED, sk, dc_sched_kind_name(sk), &o->optim, c))
        return -1;
    const char *need =
        sk == DC_SCHED_STEP && !given(a, "--step-size") ? "--step-size N"
        : sk == DC_SCHED_MULTISTEP && !given(a, "--milestones") ? "--milestones A,B,..."
        : sk == DC_SCHED_EXPONENTIAL && !given(a, "--gamma") ? "--gamma X" : NULL;
    if (need) {
        fprintf(stderr, "deepc train: --scheduler %s needs %s (PyTorch has no default)\n",
                dc_sched_kind_name(sk), need);
        return -1;
    }
    if (sk == DC_SCHED_COSINE && !a->t_max_set)
        c->t_max = a->epochs; /* T_max has no default in PyTorch: the run's epochs */
    if (sk == DC_SCHED_WARMUP) { /* --warmup N is LinearLR's total_iters */
        c->total_iters = given(a, "--warmup") ? (int)c->warmup_steps : 5;
        c->warmup_steps = 0;
    }
    return 0;
}

int cli_train_opts(const train_args *a, dc_train_opts *o)
{
    dc_optim_kind ok;
    dc_sched_kind sk;
    *o = dc_train_defaults();
    if (dc_optim_kind_parse(a->optimizer, &ok) || dc_sched_kind_parse(a->scheduler, &sk) ||
        dc_loss_kind_parse(a->loss, &o->loss) || dc_augment_parse(a->augment, &o->augment)) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return -1;
    }
    if (optim_opts(a, ok, o) || sched_opts(a, sk, o))
        return -1;
    dc_sched_cfg sc = o->sched; /* linear's total_steps 0 is dc_train's to fill in */
    if (sc.kind == DC_SCHED_LINEAR && sc.total_steps == 0)
        sc.total_steps = 1;
    if (dc_optim_cfg_check(&o->optim) != DC_OK || dc_sched_cfg_check(&sc) != DC_OK) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return -1;
    }
    o->epochs = a->epochs;
    o->batch_size = a->batch;
    o->seed = (uint64_t)a->seed;
    o->clip_norm = a->clip;
    o->max_steps = a->max_steps;
    o->time_limit = a->time_limit;
    o->time_limit_cpu = a->time_limit_cpu;
    o->shuffle = !a->no_shuffle;
    o->progress = !a->quiet;
    o->out_dir = a->out;
    o->log_every = a->log_every;
    return 0;
}

int cli_quiet_stdout(void)
{
    fflush(stdout);
    if (!freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "deepc: --quiet: cannot open /dev/null\n");
        return -1;
    }
    return 0;
}
