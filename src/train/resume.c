/*
 * resume.c - the stored command line of a run and the checks of `--resume` (resume.h). The CLI
 * parses the joined arguments; here they are joined, split and compared. Messages go to
 * dc_last_error(); nothing is printed.
 */
#define _POSIX_C_SOURCE 200809L
#include "train/resume.h"
#include "core/internal.h"
#include "io/io.h"

#include <stdlib.h>
#include <string.h>

/* How many entries of argv the argument at i spans: a flag and its value, or one. */
static int arg_span(int argc, char *const *argv, int i, int (*is_switch)(const char *))
{
    return !strncmp(argv[i], "--", 2) && !is_switch(argv[i]) && i + 1 < argc ? 2 : 1;
}

/* Whether the flag at i is given again later (the later one wins when parsing). */
static int given_later(int argc, char *const *argv, int i, int (*is_switch)(const char *))
{
    if (strncmp(argv[i], "--", 2))
        return 0;
    for (int j = i + arg_span(argc, argv, i, is_switch); j < argc;
         j += arg_span(argc, argv, j, is_switch))
        if (!strcmp(argv[j], argv[i]))
            return 1;
    return 0;
}

char *dc_args_join(int argc, char *const *argv, int resuming, int (*is_switch)(const char *))
{
    size_t n = 1;
    for (int i = 1; i < argc; i++)
        n += strlen(argv[i]) + 1;
    char *s = malloc(n), *p = s;
    if (!s) {
        dc_err(DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int i = 1; i < argc; i += arg_span(argc, argv, i, is_switch)) {
        if (!strcmp(argv[i], "--resume") || (resuming && !strcmp(argv[i], "--out")) ||
            given_later(argc, argv, i, is_switch))
            continue;
        for (int j = i; j < i + arg_span(argc, argv, i, is_switch); j++) {
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

/* The value of the last flag in argv (the one the parser keeps), or NULL. */
static const char *last_flag(int argc, char *const *argv, const char *flag)
{
    const char *v = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag))
            v = argv[i + 1];
    return v;
}

/* The optimizer's state is in the checkpoint: another optimizer cannot continue it (one without
 * state, such as plain SGD, would otherwise load silently). */
static dc_status same_optimizer(const dc_resume *r, int argc, char *const *argv)
{
    const char *was = last_flag(r->ac, r->av, "--optimizer");
    const char *now = last_flag(argc, argv, "--optimizer");
    dc_optim_kind kw = DC_SGD, kn = DC_SGD;
    if (now && dc_optim_kind_parse(now, &kn) == DC_OK &&
        (!was || dc_optim_kind_parse(was, &kw) == DC_OK) && kn != kw)
        return dc_err(DC_ERR_ARG, "--resume %s: the run trains with --optimizer %s; a resumed "
                      "run keeps its optimizer (start a new run with --init "
                      "%s/model.safetensors to change it)", r->dir, was ? was : "sgd", r->dir);
    return DC_OK;
}

dc_status dc_resume_open(dc_resume *r, const char *dir, int argc, char *const *argv)
{
    memset(r, 0, sizeof *r);
    size_t k = strlen(dir);
    r->dir = dir;
    if (!(r->path = malloc(k + sizeof "/checkpoint")))
        return dc_err(DC_ERR_NOMEM, "out of memory");
    memcpy(r->path, dir, k);
    memcpy(r->path + k, "/checkpoint", sizeof "/checkpoint");
    dc_status st = dc_checkpoint_peek(r->path, &r->ck);
    if (st != DC_OK) {
        dc_err_prefix("--resume: ");
        return st;
    }
    int n = 1;
    for (const char *c = r->ck.args; *c; c++)
        n += *c == 0x1f;
    if (!(r->av = calloc((size_t)(n + argc + 1), sizeof *r->av)))
        return dc_err(DC_ERR_NOMEM, "out of memory");
    r->av[r->ac++] = argv[0];
    for (char *c = r->ck.args, *start = c; *r->ck.args; c++)
        if (*c == 0x1f || *c == 0) {
            int end = *c == 0;
            *c = 0;
            r->av[r->ac++] = start;
            start = c + 1;
            if (end)
                break;
        }
    r->n_stored = r->ac - 1;
    st = same_optimizer(r, argc, argv);
    for (int i = 1; i < argc && st == DC_OK; i++)
        r->av[r->ac++] = argv[i];
    return st;
}

void dc_resume_free(dc_resume *r)
{
    free(r->av);
    free(r->path);
    dc_checkpoint_info_free(&r->ck);
    memset(r, 0, sizeof *r);
}

int dc_run_epochs(int epochs, int epochs_set, int64_t max_steps, int64_t n_train, int64_t batch)
{
    if (!(max_steps > 0 && !epochs_set && n_train > 0 && batch > 0))
        return epochs;
    const int64_t per = (n_train + batch - 1) / batch, ep = (max_steps + per - 1) / per;
    return ep > DC_TRAIN_MAX_EPOCHS ? DC_TRAIN_MAX_EPOCHS : (int)ep;
}

/* A resumed linear (warm-up, decay) schedule must keep its warm-up and its length (by default
 * the run's epochs of steps), or the lr would jump. */
static dc_status check_linear(const dc_stored_sched *s, const dc_train_opts *o, int before,
                              const char *dir)
{
    if (s->warmup_steps == o->sched.warmup_steps && s->total_steps == o->sched.total_steps &&
        (o->sched.total_steps > 0 || before == o->epochs))
        return DC_OK;
    return dc_err(DC_ERR_ARG, "--resume: this run's linear schedule (warm-up %lld steps over "
                  "%s%lld %s) is stored in its checkpoint, and a resumed run keeps its schedule: "
                  "--epochs, --warmup and --total-steps cannot change it. To train on, start a "
                  "new run from these weights: deepc train MODEL --data DATA --init "
                  "%s/model.safetensors --scheduler linear ... --out NEW_DIR",
                  (long long)s->warmup_steps, s->total_steps ? "" : "the run's ",
                  (long long)(s->total_steps ? s->total_steps : before),
                  s->total_steps ? "steps" : "epochs", dir);
}

dc_status dc_resume_check_sched(const dc_stored_sched *was, const dc_train_opts *o,
                                int64_t n_train, int64_t ck_epoch, const char *dir)
{
    const int before = dc_run_epochs(was->epochs, was->epochs_set, was->max_steps, n_train,
                                     was->batch);
    if (o->sched.kind == DC_SCHED_LINEAR)
        return check_linear(was, o, before, dir);
    /* cosine: T_max is the run's epochs, and changing it mid-run would jump the lr (or, past the
     * end, train at lr 0); an explicit --t-max does not follow --epochs */
    if (o->sched.kind != DC_SCHED_COSINE || was->t_max_set || before == o->epochs)
        return DC_OK;
    return dc_err(DC_ERR_ARG, "--resume: this run's cosine schedule spans %d epochs (T_max), "
                  "and a resumed run keeps its schedule, so --epochs cannot become %d%s. To "
                  "train on, start a new run from these weights: deepc train MODEL --data DATA "
                  "--init %s/model.safetensors --scheduler cosine --epochs N --out NEW_DIR",
                  before, o->epochs,
                  ck_epoch >= before ? " (it has ended: the lr is 0 from here)" : "", dir);
}

dc_status dc_run_dir_prepare(const char *dir, const dc_spec *spec)
{
    dc_status st = dir ? dc_io_mkdir_p(dir) : DC_OK; /* on every rank, as before any write */
    if (!dir || st != DC_OK || dc_dist_rank() != 0)
        return st;
    size_t k = strlen(dir);
    char *p = malloc(k + sizeof "/model.spec");
    if (!p)
        return dc_err(DC_ERR_NOMEM, "out of memory");
    memcpy(p, dir, k);
    memcpy(p + k, "/model.spec", sizeof "/model.spec");
    st = dc_spec_write(spec, p);
    free(p);
    return st;
}
