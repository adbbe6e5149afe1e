/*
 * cmd_train.c - deepc train: the flags, --resume (the command line stored in the checkpoint and
 * the checks that a resumed run keeps its optimizer and schedule), then the --data form
 * (forms.def) through the one driver (train_run.c), which trains on the library's loop.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct resume_args resume_args;
static int check_cosine_resume(const resume_args *ra, const dc_train_opts *o, int64_t n_train);

/* The train flags that take no value (every other flag takes one). */
static int is_switch(const char *f) { return cli_train_is_switch(f); }

/* How many entries of argv the argument at i spans: a flag and its value, or one. */
static int arg_span(int argc, char **argv, int i)
{
    return !strncmp(argv[i], "--", 2) && !is_switch(argv[i]) && i + 1 < argc ? 2 : 1;
}

/* Whether the flag at i is given again later (the later one wins when parsing). */
static int given_later(int argc, char **argv, int i)
{
    if (strncmp(argv[i], "--", 2))
        return 0;
    for (int j = i + arg_span(argc, argv, i); j < argc; j += arg_span(argc, argv, j))
        if (!strcmp(argv[j], argv[i]))
            return 1;
    return 0;
}

/* argv[1..argc) joined by 0x1f (stored in checkpoints), without "--resume X", without "--out X"
 * when resuming (the run's folder is the resumed one, wherever it moved), and without a flag that
 * is given again later, so the list does not grow at each resume. */
static char *join_args(int argc, char **argv, int resuming)
{
    size_t n = 1;
    for (int i = 1; i < argc; i++)
        n += strlen(argv[i]) + 1;
    char *s = malloc(n), *p = s;
    if (!s)
        return NULL;
    for (int i = 1; i < argc; i += arg_span(argc, argv, i)) {
        if (!strcmp(argv[i], "--resume") || (resuming && !strcmp(argv[i], "--out")) ||
            given_later(argc, argv, i))
            continue;
        for (int j = i; j < i + arg_span(argc, argv, i); j++) {
            size_t k = strlen(argv[j]);
            if (p != s)
                *p++ = 0x1f;
            memcpy(p, argv[j], k);
            p += k;
        }
    }
    *p = 0;
    return s;
}

/* The value of flag in argv, or NULL. */
static const char *find_flag(int argc, char **argv, const char *flag)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag))
            return argv[i + 1];
    return NULL;
}

/* --resume DIR: *av = "train", the checkpoint's stored arguments (n_stored), then argv[1..]. */
struct resume_args {
    dc_checkpoint_info ck;
    const char *dir; /* DIR */
    char *path;      /* DIR/checkpoint, malloc'd */
    char **av;
    int ac, n_stored;
};

/* The value of the last flag in argv (the one the parser keeps), or NULL. */
static const char *last_flag(int argc, char **argv, const char *flag)
{
    const char *v = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag))
            v = argv[i + 1];
    return v;
}

static int load_resume(const char *dir, int argc, char **argv, resume_args *ra)
{
    size_t k = strlen(dir);
    ra->dir = dir;
    if (!(ra->path = malloc(k + sizeof "/checkpoint")))
        return -1;
    memcpy(ra->path, dir, k);
    memcpy(ra->path + k, "/checkpoint", sizeof "/checkpoint");
    if (dc_checkpoint_peek(ra->path, &ra->ck) != DC_OK) {
        fprintf(stderr, "deepc train: --resume: %s\n", dc_last_error());
        return -1;
    }
    int n = 1;
    for (const char *c = ra->ck.args; *c; c++)
        n += *c == 0x1f;
    ra->av = calloc((size_t)(n + argc + 1), sizeof *ra->av);
    if (!ra->av)
        return -1;
    ra->av[ra->ac++] = argv[0];
    for (char *c = ra->ck.args, *start = c; *ra->ck.args; c++)
        if (*c == 0x1f || *c == 0) {
            int end = *c == 0;
            *c = 0;
            ra->av[ra->ac++] = start;
            start = c + 1;
            if (end)
                break;
        }
    ra->n_stored = ra->ac - 1;
    /* the optimizer's state is in the checkpoint: another optimizer cannot continue it (one
     * without state, such as plain SGD, would otherwise load silently) */
    const char *was = last_flag(ra->ac, ra->av, "--optimizer");
    const char *now = last_flag(argc, argv, "--optimizer");
    dc_optim_kind kw = DC_SGD, kn = DC_SGD;
    if (now && dc_optim_kind_parse(now, &kn) == DC_OK &&
        (!was || dc_optim_kind_parse(was, &kw) == DC_OK) && kn != kw) {
        fprintf(stderr, "deepc train: --resume %s: the run trains with --optimizer %s; a resumed "
                "run keeps its optimizer (start a new run with --init %s/model.safetensors to "
                "change it)\n", dir, was ? was : "sgd", dir);
        return -1;
    }
    for (int i = 1; i < argc; i++)
        ra->av[ra->ac++] = argv[i];
    return 0;
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    dc_train_opts o;
    resume_args ra = {0};
    const char *resume = find_flag(argc, argv, "--resume");
    char *args_text = NULL;
    int rc = 2;
    if (resume && find_flag(argc, argv, "--out")) {
        fprintf(stderr, "deepc train: --resume %s writes to %s; --out cannot move it (copy the "
                "folder and resume the copy)\n", resume, resume);
        goto early;
    }
    if (resume && load_resume(resume, argc, argv, &ra))
        goto early;
    /* what the checkpoints store: the whole command line (stored + new flags when resuming) */
    if (!(args_text = resume ? join_args(ra.ac, ra.av, 1) : join_args(argc, argv, 0)))
        goto early;
    int pr = resume ? cli_parse_train_args(ra.ac, ra.av, &a)
                    : cli_parse_train_args(argc, argv, &a);
    if (pr) {
        rc = pr > 0 ? 0 : 2;
        goto early;
    }
    if (resume) /* a resumed run writes where it is resumed, never to the stored --out */
        a.out = resume;
    if (cli_train_opts(&a, &o) || (a.quiet && !a.json && cli_quiet_stdout()))
        goto early;
    /* a file size limit (ulimit -f) must give EFBIG and a message, not kill the run */
    signal(SIGXFSZ, SIG_IGN);
    train_resume rs = {.dir = resume, .path = ra.path, .spec = ra.ck.spec, .stored = &ra};
    rc = cli_train_form(cli_data_form_find(a.data), &a, &o, resume ? &rs : NULL, args_text);
early:
    free(args_text);
    free(ra.av);
    free(ra.path);
    dc_checkpoint_info_free(&ra.ck);
    return rc;
}

/* Epochs of the run: --epochs, or with --steps alone as many as those steps take. */
int cli_run_epochs(const train_args *a, int64_t n_train, int64_t batch)
{
    if (!(a->max_steps > 0 && !a->epochs_set && n_train > 0))
        return a->epochs;
    const int64_t per = (n_train + batch - 1) / batch, ep = (a->max_steps + per - 1) / per;
    return ep > DC_TRAIN_MAX_EPOCHS ? DC_TRAIN_MAX_EPOCHS : (int)ep;
}

/* A resumed linear (warm-up, decay) schedule must keep its warm-up and its length (by default
 * the run's epochs of steps), or the lr would jump. 0, or -1 after a message. */
static int check_linear_resume(const resume_args *ra, const dc_train_opts *o, int64_t n_train)
{
    train_args s;
    if (cli_parse_train_args(ra->n_stored + 1, ra->av, &s) != 0)
        return 0;
    const int before = cli_run_epochs(&s, n_train, s.batch);
    if (s.hp.sched.warmup_steps == o->sched.warmup_steps &&
        s.hp.sched.total_steps == o->sched.total_steps &&
        (o->sched.total_steps > 0 || before == o->epochs))
        return 0;
    fprintf(stderr, "deepc train: --resume: this run's linear schedule (warm-up %lld steps over "
            "%s%lld %s) is stored in its checkpoint, and a resumed run keeps its schedule: "
            "--epochs, --warmup and --total-steps cannot change it. To train on, start a new run "
            "from these weights: deepc train MODEL --data DATA --init %s/model.safetensors "
            "--scheduler linear ... --out NEW_DIR\n", (long long)s.hp.sched.warmup_steps,
            s.hp.sched.total_steps ? "" : "the run's ",
            (long long)(s.hp.sched.total_steps ? s.hp.sched.total_steps : before),
            s.hp.sched.total_steps ? "steps" : "epochs", ra->dir);
    return -1;
}

/* A resumed cosine schedule must keep its length: T_max is the run's epochs, and changing it
 * mid-run would jump the lr (or, past the end, train at lr 0). 0, or -1 after a message. */
static int check_cosine_resume(const resume_args *ra, const dc_train_opts *o, int64_t n_train)
{
    train_args s;
    if (o->sched.kind == DC_SCHED_LINEAR)
        return check_linear_resume(ra, o, n_train);
    if (o->sched.kind != DC_SCHED_COSINE ||
        cli_parse_train_args(ra->n_stored + 1, ra->av, &s) != 0 || s.t_max_set)
        return 0; /* an explicit --t-max does not follow --epochs */
    const int before = cli_run_epochs(&s, n_train, s.batch);
    if (before == o->epochs)
        return 0;
    fprintf(stderr, "deepc train: --resume: this run's cosine schedule spans %d epochs (T_max), "
            "and a resumed run keeps its schedule, so --epochs cannot become %d%s. To train "
            "on, start a new run from these weights: deepc train MODEL --data DATA --init "
            "%s/model.safetensors --scheduler cosine --epochs N --out NEW_DIR\n", before,
            o->epochs, ra->ck.epoch >= before ? " (it has ended: the lr is 0 from here)" : "",
            ra->dir);
    return -1;
}

int cli_check_resume_sched(const train_resume *rs, const dc_train_opts *o, int64_t n_train)
{
    return rs ? check_cosine_resume(rs->stored, o, n_train) : 0;
}
