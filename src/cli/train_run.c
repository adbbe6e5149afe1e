/*
 * train_run.c - the one path of deepc train through the --data forms (forms.def, cli.h): find
 * the form, build or rebuild the model, prepare the run's folder, train on the library's loop
 * (dc_train_task) with SIGINT/SIGTERM saving a checkpoint, report.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "train/resume.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *prefix;
    const cli_data_form *form;
} forms[] = {
#define CLI_FORM(name, prefix) {prefix, &name},
#include "forms.def"
#undef CLI_FORM
};

const cli_data_form *cli_data_form_find(const char *data)
{
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        const char *p = forms[i].prefix;
        size_t k = strlen(p);
        if (!strncmp(data, p, k) && (!k || p[k - 1] == ':' || data[k] == '\0' || data[k] == ':'))
            return forms[i].form;
    }
    return NULL; /* not reached while forms.def ends with the catch-all "" */
}

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { g_stop = sig; }

/* Run dc_train_task with SIGINT/SIGTERM saving a checkpoint; prints the error. Exit code: 0;
 * 2 for bad input (a checkpoint of another run, shapes); 130/143 after a signal; 1 otherwise. */
static int run_task(cli_run *r)
{
    g_stop = 0;
    r->o.stop = &g_stop;
    void (*old_int)(int) = signal(SIGINT, on_signal), (*old_term)(int) = signal(SIGTERM, on_signal);
    double t0 = cli_now_s();
    dc_status st = dc_train_task(r->m, r->task, &r->o, &r->last);
    r->secs = cli_now_s() - t0;
    signal(SIGINT, old_int);
    signal(SIGTERM, old_term);
    if (st == DC_OK)
        return 0;
    fprintf(stderr, "deepc train: %s\n", dc_last_error());
    if (g_stop)
        return 128 + (int)g_stop; /* 130 after SIGINT, 143 after SIGTERM */
    return st == DC_ERR_FORMAT || st == DC_ERR_ARG || st == DC_ERR_SHAPE ? 2 : 1;
}

/* The model of a run: rebuilt from the checkpoint's spec when resuming, else MODEL with the
 * form's spec variables. Prints the error. */
static dc_model *run_model(cli_run *r, const cli_data_form *f, dc_rng *rng)
{
    dc_spec *spec = r->rs ? dc_spec_parse_string(r->rs->spec, r->rs->path)
                          : dc_spec_parse_file(r->a->model);
    int bad = !spec || (!r->rs && f->define && f->define(r, spec) < 0);
    dc_model *m = bad ? NULL : dc_spec_build(spec, rng);
    if (!m) {
        fprintf(stderr, "deepc train: %s%s\n", r->rs ? "--resume: " : "", dc_last_error());
        dc_spec_free(spec);
        return NULL;
    }
    r->spec = spec;
    return m;
}

/* The options every form shares (the spec and command line stored in checkpoints, --save-every,
 * --check-numerics, --json, --resume), DIR/model.spec and --init. *spec_text (malloc'd) must
 * outlive the run. 0, or -1 after a message. */
static int prepare_run(cli_run *r, const char *args_text, char **spec_text)
{
    const train_args *a = r->a;
    if (a->init && !r->rs && cli_load_weights(r->m, a->init, 0)) /* before anything is written */
        return -1;
    if (!(*spec_text = dc_spec_to_string(r->spec))) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return -1;
    }
    r->o.spec_text = *spec_text;
    r->o.args_text = args_text;
    r->o.save_every = a->save_every;
    r->o.check_numerics = a->check_numerics;
    r->o.resume = r->rs ? r->rs->path : NULL;
    dc_dist_set_sync_bn(a->sync_bn);
    if (a->json)
        r->o.progress = 2;
    if (dc_run_dir_prepare(a->out, r->spec) == DC_OK)
        return 0;
    fprintf(stderr, "deepc train: %s\n", dc_last_error());
    return -1;
}

/* The flags the form refuses (f->refuse), each with why; 0, or 2 after a message. */
static int refuse_flags(const cli_data_form *f, const train_args *a)
{
    static const struct { unsigned bit; const char *flag, *why; } t[] = {
        {CLI_NO_AUGMENT, "--augment", "it shifts and mirrors images"},
        {CLI_NO_BPTT, "--bptt", "it applies to text data, --data text:FILE"},
        {CLI_NO_EARLY_STOP, "--early-stop", "it applies to time-series data, --data csv:... "
                                            "or weather"},
        {CLI_NO_SAVE_EVERY, "--save-every", "this run checkpoints at the end of every epoch: "
                                            "the state it carries is not stored"},
        {CLI_NO_VAL, "--val", "its validation split is fixed or given in --data"},
        {CLI_NO_VOCAB, "--vocab", "it applies to text classification"},
        {CLI_NO_MAX_LEN, "--max-len", "it applies to text classification"},
        {CLI_NO_INIT_FROM, "--init-from", "it applies to text classification; --init W loads "
                                          "all weights"},
    };
    const int given[] = {a->augment != NULL, a->bptt != 0, a->early_stop != 0,
                         a->save_every != 0, a->val >= 0, a->vocab != NULL, a->max_len != 0,
                         a->init_from != NULL};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if ((f->refuse & t[i].bit) && given[i]) {
            fprintf(stderr, "deepc train: %s does not apply to %s (%s)\n", t[i].flag,
                    f->what ? f->what : a->data, t[i].why);
            return 2;
        }
    return 0;
}

int cli_train_form(const cli_data_form *f, const train_args *a, const dc_train_opts *o,
                   const train_resume *rs, const char *args_text)
{
    cli_run r = {.a = a, .o = *o, .rs = rs};
    char *spec_text = NULL;
    dc_rng rng;
    if (dc_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 reports */
        return 1;
    if (a->threads)
        dc_set_num_threads(a->threads);
    int rc = refuse_flags(f, a);
    if (!rc)
        rc = f->load(&r);
    if (rc)
        goto out;
    dc_rng_seed(&rng, (uint64_t)a->seed, 0);
    rc = 2;
    if (!(r.m = run_model(&r, f, &rng)) || (f->prepare && (rc = f->prepare(&r)) != 0))
        goto out;
    rc = 2;
    if (cli_check_resume_sched(rs, &r.o, r.n_train))
        goto out;
    if (prepare_run(&r, args_text, &spec_text) || (rc = f->task(&r)) != 0)
        goto out;
    if ((rc = run_task(&r)) == 0)
        rc = f->report ? f->report(&r) : cli_report_default(&r);
out:
    dc_task_free(r.task);
    if (f->free)
        f->free(&r);
    else
        free(r.data);
    free(spec_text);
    dc_model_free(r.m);
    dc_spec_free(r.spec);
    return rc;
}

const char *cli_run_verb(const cli_run *r)
{
    return r->rs ? "resuming" : "training";
}

void cli_print_time(const cli_run *r, const char *extra)
{
    if (r->a->json)
        return;
    printf("training time %.1fs%s\n", r->secs, extra ? extra : "");
    if (dc_dist_size() > 1)
        printf("%d ranks; rank 0 spent %.2fs in communication (gradient allreduce, metrics)\n",
               dc_dist_size(), dc_dist_comm_seconds());
}

void cli_print_outputs(const cli_run *r, const char *extra)
{
    const char *d = r->a->out;
    if (d && !r->a->json)
        printf("weights: %s/model.safetensors%s, checkpoint: %s/checkpoint, log: %s/log.csv\n",
               d, extra ? extra : "", d, d);
}

void cli_banner(const cli_run *r, const char *data, const char *fmt, ...)
{
    if (r->a->json)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("%s %s on %s: ", cli_run_verb(r), r->a->model, data);
    vprintf(fmt, ap);
    va_end(ap);
    printf(", %lld parameters, %s lr %g, batch %lld, %d threads\n",
           (long long)dc_model_n_trainable(r->m), dc_optim_kind_name(r->o.optim.kind),
           (double)r->o.optim.lr, (long long)r->o.batch_size, dc_get_num_threads());
}

int cli_fail(int rc)
{
    fprintf(stderr, "deepc train: %s\n", dc_last_error());
    return rc;
}

int cli_define_i64(dc_spec *spec, const char *name, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)v);
    return dc_spec_define(spec, name, num) < 0 ? -1 : 0;
}

int cli_report_default(cli_run *r)
{
    const dc_task_eval *v = &r->last;
    if (r->a->json) {
        printf("{\"steps\": %lld", (long long)v->steps);
        if (v->has)
            printf(", \"val_loss\": %.6g", v->loss);
        printf("}\n");
        return 0;
    }
    cli_print_time(r, NULL);
    if (v->has)
        printf("validation: loss %.4f\n", v->loss);
    cli_print_outputs(r, NULL);
    return 0;
}
