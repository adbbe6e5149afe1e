/*
 * cmd_train.c - deepc train: the flags, --resume (train/resume.h: the command line stored in the
 * checkpoint, the checks that a resumed run keeps its optimizer and schedule), then the --data
 * form (forms.def) through the one driver (train_run.c), which trains on the library's loop.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "train/resume.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of flag in argv, or NULL. */
static const char *find_flag(int argc, char **argv, const char *flag)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag))
            return argv[i + 1];
    return NULL;
}

/* --resume DIR: the stored command line and the checks (train/resume.h). 0 or -1. */
static int open_resume(const char *dir, int argc, char **argv, dc_resume *ra)
{
    if (find_flag(argc, argv, "--out")) {
        fprintf(stderr, "deepc train: --resume %s writes to %s; --out cannot move it (copy the "
                "folder and resume the copy)\n", dir, dir);
        return -1;
    }
    if (dc_resume_open(ra, dir, argc, argv) == DC_OK)
        return 0;
    fprintf(stderr, "deepc train: %s\n", dc_last_error());
    return -1;
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    dc_train_opts o;
    dc_resume ra = {0};
    const char *resume = find_flag(argc, argv, "--resume");
    char *args_text = NULL;
    int rc = 2;
    if (resume && open_resume(resume, argc, argv, &ra))
        goto early;
    /* what the checkpoints store: the whole command line (stored + new flags when resuming) */
    if (!(args_text = resume ? dc_args_join(ra.ac, ra.av, 1, cli_train_is_switch)
                             : dc_args_join(argc, argv, 0, cli_train_is_switch)))
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
    dc_resume_free(&ra);
    return rc;
}

int cli_run_epochs(const train_args *a, int64_t n_train, int64_t batch)
{
    return dc_run_epochs(a->epochs, a->epochs_set, a->max_steps, n_train, batch);
}

/* The stored run's schedule (its flags parsed again) against the resumed run's options. */
int cli_check_resume_sched(const train_resume *rs, const dc_train_opts *o, int64_t n_train)
{
    const dc_resume *ra = rs ? rs->stored : NULL;
    train_args s;
    if (!ra || (o->sched.kind != DC_SCHED_COSINE && o->sched.kind != DC_SCHED_LINEAR) ||
        cli_parse_train_args(ra->n_stored + 1, ra->av, &s) != 0)
        return 0;
    dc_stored_sched was = {.epochs = s.epochs, .epochs_set = s.epochs_set,
                           .t_max_set = s.t_max_set, .max_steps = s.max_steps, .batch = s.batch,
                           .warmup_steps = s.hp.sched.warmup_steps,
                           .total_steps = s.hp.sched.total_steps};
    if (dc_resume_check_sched(&was, o, n_train, ra->ck.epoch, ra->dir) == DC_OK)
        return 0;
    fprintf(stderr, "deepc train: %s\n", dc_last_error());
    return -1;
}
