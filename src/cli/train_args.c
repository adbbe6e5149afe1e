/*
 * train_args.c - deepc train's flags: the usage text, the parser into train_args and the
 * translation into dc_train_opts. The optimizer and scheduler flags (PyTorch's argument names,
 * ranges, the kinds that take each) are the library's table (optim/hparams.h);
 * torch.optim.SGD has no default lr, so `--optimizer sgd` needs --lr.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "optim/hparams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_train_usage(FILE *f)
{
    fprintf(f,
        "usage: deepc train MODEL --data DATA [options]\n"
        "  MODEL                 a model spec file (models/lenet5)\n"
        "  --data DATA           fashion-mnist[:DIR] | digits[:FILE] | npy:X.npy,Y.npy |\n"
        "                        text:FILE (char language model) | csv:FILE,... | weather |\n"
        "                        cmudict:FILE (grapheme-to-phoneme, docs/g2p.md) |\n"
        "                        bert:fortunes=P,spam=D,vocab=V,... (BERT pre-training) |\n"
        "                        textdir:DIR | tsv:FILE | csv:FILE --vocab V | spam-assassin\n"
        "                        (text classification, docs/text-classification.md)\n"
        "  --epochs N            passes over the training set (10)\n"
        "  --batch N             mini-batch size (64)\n"
        "  --optimizer NAME      sgd | adagrad | rmsprop | adadelta | adam | adamw (sgd)\n"
        "  --scheduler NAME      none | step | multistep | exponential | cosine | warmup\n"
        "                        (LinearLR) | plateau (ReduceLROnPlateau) | linear (linear decay\n"
        "                        after a linear warm-up, per step; Hugging Face) (none)\n"
        "  --loss NAME           cross_entropy | mse | l1 | smooth_l1 | huber | nll | bce | ...\n"
        "  --clip X              clip the global gradient norm to X (off)\n"
        "  --label-smoothing E   cross-entropy against (1-E)·target + E/classes: images,\n"
        "                        text classification, cmudict (0)\n"
        "  --augment LIST        crop=N,flip: random shifts by up to N pixels (padded) and\n"
        "                        left-right mirroring of training images (none)\n"
        "  --val N               hold N training examples out for validation (1/12 of the\n"
        "                        set for fashion-mnist / idx folders, 0 otherwise)\n"
        "  --seed N              weights, data order and dropout (1)\n"
        "  --threads N           kernel threads (all cores)\n"
        "  --bptt N              text: time steps per truncated-BPTT chunk (64)\n"
        "  --early-stop N        time series: stop after N epochs without a better validation\n"
        "                        score (0: never; the best epoch's weights are kept anyway)\n"
        "  --vocab FILE          text classification: the WordPiece vocab.txt\n"
        "  --max-len N           text classification: tokens per text (the model input's)\n"
        "  --init-from W         start from the tensors of W that fit (pre-trained), say which\n"
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
    dc_hparams_usage(f);
}

/* ---- parsing ---- */

int cli_train_is_switch(const char *flag)
{
    static const char *const sw[] = {"--no-shuffle", "--check-numerics", "--json", "--sync-bn",
                                     "--quiet", "--help"};
    for (size_t i = 0; i < sizeof sw / sizeof *sw; i++)
        if (!strcmp(flag, sw[i]))
            return 1;
    return dc_hparam_is_switch(dc_hparam_find(flag));
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
        int r = 0, takes = 1, def = dc_hparam_find(f);
        if (!strcmp(f, "--help")) {
            cli_train_usage(stdout);
            return 1;
        } else if (def >= 0) {
            if ((r = dc_hparam_parse(&a->hp, def, v, &takes) != DC_OK))
                fprintf(stderr, "deepc: %s\n", dc_last_error());
        }
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
        else if (!strcmp(f, "--label-smoothing"))
            r = arg_float(f, v, 0, 0.999f, &a->label_smoothing);
        else if (!strcmp(f, "--val")) r = arg_i64(f, v, 0, INT64_C(1) << 40, &a->val);
        else if (!strcmp(f, "--seed")) r = arg_i64(f, v, 0, INT64_MAX, &a->seed);
        else if (!strcmp(f, "--threads")) r = arg_int(f, v, 1, 1024, &a->threads);
        else if (!strcmp(f, "--bptt")) r = arg_i64(f, v, 1, 100000, &a->bptt);
        else if (!strcmp(f, "--early-stop")) r = arg_i64(f, v, 0, 1000000, &a->early_stop);
        else if (!strcmp(f, "--vocab")) a->vocab = v;
        else if (!strcmp(f, "--init-from")) a->init_from = v;
        else if (!strcmp(f, "--max-len")) r = arg_i64(f, v, 2, 1 << 20, &a->max_len);
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
    a->t_max_set = dc_hparam_given(&a->hp, "--t-max");
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
    if (ok == DC_SGD && !dc_hparam_given(&a->hp, "--lr")) {
        fprintf(stderr, "deepc train: --optimizer sgd needs --lr (torch.optim.SGD has no default "
                "learning rate)\n");
        return -1;
    }
    dc_sched_cfg unused;
    if (dc_hparams_apply(&a->hp, DC_HP_OPTIM, ok, &o->optim, &unused) == DC_OK)
        return 0;
    fprintf(stderr, "deepc train: %s\n", dc_last_error());
    return -1;
}

/* The scheduler: PyTorch's defaults, the flags given, and what PyTorch requires. */
static int sched_opts(const train_args *a, dc_sched_kind sk, dc_train_opts *o)
{
    dc_sched_cfg *c = &o->sched;
    *c = dc_sched_defaults(sk);
    if (dc_hparams_apply(&a->hp, DC_HP_SCHED, sk, &o->optim, c) != DC_OK) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return -1;
    }
    const dc_hparams *h = &a->hp;
    const char *need =
        sk == DC_SCHED_STEP && !dc_hparam_given(h, "--step-size") ? "--step-size N"
        : sk == DC_SCHED_MULTISTEP && !dc_hparam_given(h, "--milestones") ? "--milestones A,B,..."
        : sk == DC_SCHED_EXPONENTIAL && !dc_hparam_given(h, "--gamma") ? "--gamma X" : NULL;
    if (need) {
        fprintf(stderr, "deepc train: --scheduler %s needs %s (PyTorch has no default)\n",
                dc_sched_kind_name(sk), need);
        return -1;
    }
    if (sk == DC_SCHED_COSINE && !a->t_max_set)
        c->t_max = a->epochs; /* T_max has no default in PyTorch: the run's epochs */
    if (sk == DC_SCHED_WARMUP) { /* --warmup N is LinearLR's total_iters */
        c->total_iters = dc_hparam_given(&a->hp, "--warmup") ? (int)c->warmup_steps : 5;
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
    o->label_smoothing = a->label_smoothing;
    o->shuffle = !a->no_shuffle;
    o->progress = !a->quiet;
    o->out_dir = a->out;
    o->log_every = a->log_every;
    return 0;
}
