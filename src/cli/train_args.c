/*
 * train_args.c - deepc train's flags: the usage text, the parser into train_args and the
 * translation into dc_train_opts (optimizer, scheduler and loop settings with PyTorch's names
 * and defaults).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        "  --lr X                learning rate (0.01)\n"
        "  --momentum X          SGD / RMSprop momentum (0.9 for sgd)\n"
        "  --weight-decay X      L2 penalty (AdamW: decoupled) (0)\n"
        "  --nesterov            SGD: Nesterov momentum (needs --momentum > 0)\n"
        "  --centered            RMSprop: divide by the centered second moment\n"
        "  --amsgrad             Adam / AdamW: the AMSGrad variant\n"
        "  --betas B1,B2         Adam / AdamW moment decays (0.9,0.999)\n"
        "  --scheduler NAME      none | step | multistep | exponential | cosine | warmup | plateau\n"
        "  --step-size N         step: decay every N epochs (1)\n"
        "  --milestones A,B,...  multistep: the epochs to decay at (required)\n"
        "  --gamma X             step / multistep / exponential: the factor (0.1)\n"
        "  --loss NAME           cross_entropy | mse | l1 | smooth_l1 | huber | nll | bce | ...\n"
        "  --clip X              clip the global gradient norm to X (off)\n"
        "  --augment LIST        crop=N,flip: random shifts by up to N pixels (padded) and\n"
        "                        left-right mirroring of training images (none)\n"
        "  --val N               hold N training examples out for validation (5000 for\n"
        "                        fashion-mnist, 0 otherwise)\n"
        "  --seed N              weights, data order and dropout (1)\n"
        "  --threads N           kernel threads (all cores)\n"
        "  --bptt N              text: time steps per truncated-BPTT chunk (64)\n"
        "  --steps N             stop after N optimizer steps (0: no limit; with no --epochs: as many\n"
        "                        epochs as that takes); also --max-steps\n"
        "  --init W.safetensors  start from these weights instead of a random init\n"
        "  --no-shuffle          examples in file order (PyTorch shuffle=False)\n"
        "  --sync-bn             under mpirun: BatchNorm statistics of the global batch\n"
        "  --resume DIR          continue DIR/checkpoint exactly (then the flags given here)\n"
        "  --save-every N        a checkpoint every N steps too (always: every epoch, signals)\n"
        "  --check-numerics      check every op's output; a NaN/Inf names its op and layer\n"
        "  --json                one JSON object per epoch on stdout instead of the bar\n"
        "  --out DIR             write DIR/model.safetensors and DIR/model.spec\n"
        "  --quiet               no progress output\n");
}

/* --milestones A,B,...: up to 16 ascending epochs >= 1. 0 or -1 after a message. */
static int arg_milestones(const char *flag, const char *val, train_args *a)
{
    const char *p = val;
    a->n_milestones = 0;
    while (p && *p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1000000 || a->n_milestones == 16 ||
            (a->n_milestones && v <= a->milestones[a->n_milestones - 1]) ||
            (*end != ',' && *end != '\0')) {
            fprintf(stderr, "deepc: %s: expected up to 16 ascending epochs like 30,60,90, got "
                    "'%s'\n", flag, val);
            return -1;
        }
        a->milestones[a->n_milestones++] = (int)v;
        p = *end == ',' ? end + 1 : end;
    }
    if (a->n_milestones == 0) {
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
    if (arg_float(flag, b1, 0, 1, &a->beta1) || arg_float(flag, comma + 1, 0, 1, &a->beta2))
        return -1;
    if (a->beta1 >= 1 || a->beta2 >= 1) {
        fprintf(stderr, "deepc: %s: each beta must be < 1, got '%s'\n", flag, val);
        return -1;
    }
    a->betas_set = 1;
    return 0;
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
        int r = 0, takes = 1;
        if (!strcmp(f, "--help")) {
            cli_train_usage(stdout);
            return 1;
        } else if (!strcmp(f, "--data")) a->data = v;
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
        else if (!strcmp(f, "--nesterov")) { a->nesterov = 1; takes = 0; }
        else if (!strcmp(f, "--centered")) { a->centered = 1; takes = 0; }
        else if (!strcmp(f, "--amsgrad")) { a->amsgrad = 1; takes = 0; }
        else if (!strcmp(f, "--betas")) r = arg_betas(f, v, a);
        else if (!strcmp(f, "--milestones")) r = arg_milestones(f, v, a);
        else if (!strcmp(f, "--step-size")) r = arg_int(f, v, 1, 1000000, &a->step_size);
        else if (!strcmp(f, "--gamma")) r = arg_float(f, v, 0, 1, &a->gamma);
        else if (!strcmp(f, "--save-every")) r = arg_i64(f, v, 1, INT64_MAX, &a->save_every);
        else if (!strcmp(f, "--batch")) r = arg_i64(f, v, 1, 1 << 20, &a->batch);
        else if (!strcmp(f, "--lr")) { r = arg_float(f, v, 0, 1e6, &a->lr); a->lr_set = 1; }
        else if (!strcmp(f, "--momentum")) {
            r = arg_float(f, v, 0, 1, &a->momentum);
            a->momentum_set = 1;
        } else if (!strcmp(f, "--weight-decay")) {
            r = arg_float(f, v, 0, 1e3, &a->wd);
            a->wd_set = 1;
        }
        else if (!strcmp(f, "--clip")) r = arg_float(f, v, 0, 1e9, &a->clip);
        else if (!strcmp(f, "--val")) r = arg_i64(f, v, 0, INT64_C(1) << 40, &a->val);
        else if (!strcmp(f, "--seed")) r = arg_i64(f, v, 0, INT64_MAX, &a->seed);
        else if (!strcmp(f, "--threads")) r = arg_int(f, v, 1, 1024, &a->threads);
        else if (!strcmp(f, "--bptt")) r = arg_i64(f, v, 1, 100000, &a->bptt);
        else if (!strcmp(f, "--max-steps") || !strcmp(f, "--steps"))
            r = arg_i64(f, v, 0, INT64_MAX, &a->max_steps);
        else if (!strcmp(f, "--quiet")) { a->quiet = 1; takes = 0; }
        else if (f[0] == '-') {
            fprintf(stderr, "deepc train: unknown option '%s'\n", f);
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
    if (!a->model || !a->data) {
        cli_train_usage(stderr);
        return -1;
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
    o->optim = dc_optim_defaults(ok);
    if (ok == DC_SGD)
        o->optim.momentum = 0.9f;
    if (a->lr_set)
        o->optim.lr = a->lr;
    if (a->momentum_set)
        o->optim.momentum = a->momentum;
    if (a->wd_set) /* also 0: turns AdamW's default 0.01 off */
        o->optim.weight_decay = a->wd;
    const int adam = ok == DC_ADAM || ok == DC_ADAMW;
    const char *bad = a->nesterov && ok != DC_SGD ? "--nesterov"
                      : a->centered && ok != DC_RMSPROP ? "--centered"
                      : a->amsgrad && !adam ? "--amsgrad" : a->betas_set && !adam ? "--betas"
                      : NULL;
    if (bad) {
        fprintf(stderr, "deepc train: %s is not an option of %s\n", bad, dc_optim_kind_name(ok));
        return -1;
    }
    o->optim.nesterov = a->nesterov;
    o->optim.centered = a->centered;
    o->optim.amsgrad = a->amsgrad;
    if (a->betas_set) {
        o->optim.beta1 = a->beta1;
        o->optim.beta2 = a->beta2;
    }
    o->sched = dc_sched_defaults(sk);
    if (sk == DC_SCHED_COSINE)
        o->sched.t_max = a->epochs;
    if (sk == DC_SCHED_STEP)
        o->sched.step_size = a->step_size > 0 ? a->step_size : 1;
    if (sk == DC_SCHED_MULTISTEP) {
        if (a->n_milestones == 0) {
            fprintf(stderr, "deepc train: --scheduler multistep needs --milestones A,B,...\n");
            return -1;
        }
        memcpy(o->sched.milestones, a->milestones, sizeof a->milestones);
        o->sched.n_milestones = a->n_milestones;
    }
    if (a->gamma > 0)
        o->sched.gamma = a->gamma;
    o->epochs = a->epochs;
    o->batch_size = a->batch;
    o->seed = (uint64_t)a->seed;
    o->clip_norm = a->clip;
    o->max_steps = a->max_steps;
    o->shuffle = !a->no_shuffle;
    o->progress = !a->quiet;
    o->out_dir = a->out;
    return 0;
}
