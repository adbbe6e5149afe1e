/*
 * cmd_train.c - deepc train: the run's folder and --resume (the stored command line, the
 * checkpoint's spec), then the data path: images and tensors here, text (cmd_text.c) and series
 * (cmd_series.c); every path trains on the library's one loop (dc_train_task) through
 * cli_run_task, which adds SIGINT/SIGTERM and the exit codes.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Show what the model says about the first n examples of d. */
static void print_predictions(dc_model *m, const dc_dataset *d, int n, const char *(*name)(int))
{
    dc_ctx *ctx = dc_ctx_new(0);
    int64_t idx[16];
    dc_tensor *x, *y;
    if (!ctx || n > 16 || n > d->n)
        goto out;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    dc_ctx_set_grad(ctx, 0);
    if (d->batch(d, ctx, idx, n, &x, &y) != DC_OK)
        goto out;
    dc_tensor *p = dc_softmax(ctx, dc_model_forward(ctx, m, x), -1);
    if (!p || p->ndim != 2)
        goto out;
    int64_t K = p->shape[1], pred[16];
    dc_argmax_rows(p, pred);
    printf("predictions for the first %d test examples:\n", n);
    for (int i = 0; i < n; i++) {
        int64_t t = dc_i64(y)[i];
        printf("  #%d  true %-12s predicted %-12s p=%.3f  %s\n", i, name((int)t),
               name((int)pred[i]), (double)dc_f32(p)[i * K + pred[i]],
               t == pred[i] ? "ok" : "WRONG");
    }
out:
    dc_ctx_free(ctx);
}

/* The test split that goes with a training --data, or NULL when there is none. */
static dc_dataset *load_test_split(const char *data)
{
    if (strncmp(data, "fashion-mnist", 13))
        return NULL;
    return cli_load_data(data, 0);
}

typedef struct resume_args resume_args;
static int check_cosine_resume(const resume_args *ra, const dc_train_opts *o, int64_t n_train);
static int cmd_train_images(train_args *ap, dc_train_opts *op, resume_args *ra,
                            const char *args_text);

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { g_stop = sig; }

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
    train_resume rs = {.dir = resume, .path = ra.path, .spec = ra.ck.spec};
    const int images = strncmp(a.data, "text:", 5) && strncmp(a.data, "csv:", 4) &&
                       strcmp(a.data, "weather") && strncmp(a.data, "cmudict:", 8);
    if (resume && !images && check_cosine_resume(&ra, &o, 0)) /* epochs: --epochs as given */
        goto early;
    if (!strncmp(a.data, "text:", 5)) {
        rc = cmd_train_text(&a, &o, resume ? &rs : NULL, args_text);
        goto early;
    }
    if (!strncmp(a.data, "cmudict:", 8)) {
        rc = cmd_train_cmudict(&a, &o, resume ? &rs : NULL, args_text);
        goto early;
    }
    if (!strncmp(a.data, "csv:", 4) || !strcmp(a.data, "weather")) {
        rc = cmd_train_series(&a, &o, resume ? &rs : NULL, args_text);
        goto early;
    }
    rc = cmd_train_images(&a, &o, resume ? &ra : NULL, args_text);
early:
    free(args_text);
    free(ra.av);
    free(ra.path);
    dc_checkpoint_info_free(&ra.ck);
    return rc;
}

/* Image folders hold out 1/12 of the training set for validation by default (Fashion-MNIST:
 * 5000 of 60000); other data none. */
static int64_t default_val(const char *data, int64_t n)
{
    return !strncmp(data, "fashion-mnist", 13) || !strncmp(data, "idx:", 4) ? n / 12 : 0;
}

/* Epochs of the run: --epochs, or with --steps alone as many as those steps take. */
static int run_epochs(const train_args *a, int64_t n_train, int64_t batch)
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
    const int before = run_epochs(&s, n_train, s.batch);
    if (s.sched.warmup_steps == o->sched.warmup_steps &&
        s.sched.total_steps == o->sched.total_steps &&
        (o->sched.total_steps > 0 || before == o->epochs))
        return 0;
    fprintf(stderr, "deepc train: --resume: this run's linear schedule (warm-up %lld steps over "
            "%s%lld %s) is stored in its checkpoint, and a resumed run keeps its schedule: "
            "--epochs, --warmup and --total-steps cannot change it. To train on, start a new run "
            "from these weights: deepc train MODEL --data DATA --init %s/model.safetensors "
            "--scheduler linear ... --out NEW_DIR\n", (long long)s.sched.warmup_steps,
            s.sched.total_steps ? "" : "the run's ",
            (long long)(s.sched.total_steps ? s.sched.total_steps : before),
            s.sched.total_steps ? "steps" : "epochs", ra->dir);
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
    const int before = run_epochs(&s, n_train, s.batch);
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

/* The options that depend on the data: validation, epochs from --steps, the checks of a resumed
 * run. 0, or -1 after a message (bad usage). */
static int train_data_opts(const train_args *a, dc_train_opts *o, const dc_dataset *d,
                           const resume_args *ra)
{
    if (a->bptt) {
        fprintf(stderr, "deepc train: --bptt applies to text data (--data text:FILE), not to "
                "%s\n", a->data);
        return -1;
    }
    o->val_size = a->val >= 0 ? a->val : default_val(a->data, d->n);
    if (o->val_size >= d->n) {
        fprintf(stderr, "deepc train: --val %lld: the data has only %lld examples, and training "
                "needs at least one (give a smaller --val)\n", (long long)o->val_size,
                (long long)d->n);
        return -1;
    }
    o->epochs = run_epochs(a, d->n - o->val_size, o->batch_size);
    if (o->sched.kind == DC_SCHED_COSINE && !a->t_max_set)
        o->sched.t_max = o->epochs;
    if (ra && check_cosine_resume(ra, o, d->n - o->val_size))
        return -1;
    return 0;
}

/* Write DIR/model.spec (rank 0). 0 or -1 after a message. */
static int write_run_spec(const dc_spec *spec, const char *dir)
{
    if (!dir || dc_dist_rank() != 0)
        return 0;
    size_t k = strlen(dir);
    char *p = malloc(k + sizeof "/model.spec");
    if (!p)
        return -1;
    memcpy(p, dir, k);
    memcpy(p + k, "/model.spec", sizeof "/model.spec");
    int bad = dc_spec_write(spec, p) != DC_OK;
    if (bad)
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
    free(p);
    return bad ? -1 : 0;
}

int cli_train_prepare(const train_args *a, const dc_spec *spec, const train_resume *rs,
                      const char *args_text, dc_train_opts *o, char **spec_text)
{
    if (!(*spec_text = dc_spec_to_string(spec))) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return -1;
    }
    o->spec_text = *spec_text;
    o->args_text = args_text;
    o->save_every = a->save_every;
    o->check_numerics = a->check_numerics;
    o->resume = rs ? rs->path : NULL;
    dc_dist_set_sync_bn(a->sync_bn);
    if (a->json)
        o->progress = 2;
    if ((a->out && cli_ensure_dir(a->out)) || write_run_spec(spec, a->out))
        return -1;
    return 0;
}

dc_model *cli_resume_model(const train_resume *rs, dc_rng *rng, dc_spec **spec_out)
{
    dc_spec *spec = dc_spec_parse_string(rs->spec, rs->path);
    dc_model *m = spec ? dc_spec_build(spec, rng) : NULL;
    if (!m) {
        fprintf(stderr, "deepc train: --resume: %s\n", dc_last_error());
        dc_spec_free(spec);
        spec = NULL;
    }
    *spec_out = spec;
    return m;
}

int cli_run_task(dc_model *m, dc_task *t, dc_train_opts *o, dc_task_eval *last)
{
    g_stop = 0;
    o->stop = &g_stop;
    void (*old_int)(int) = signal(SIGINT, on_signal), (*old_term)(int) = signal(SIGTERM, on_signal);
    dc_status st = dc_train_task(m, t, o, last);
    signal(SIGINT, old_int);
    signal(SIGTERM, old_term);
    if (st == DC_OK)
        return 0;
    fprintf(stderr, "deepc train: %s\n", dc_last_error());
    if (g_stop)
        return 128 + (int)g_stop; /* 130 after SIGINT, 143 after SIGTERM */
    return st == DC_ERR_FORMAT || st == DC_ERR_ARG || st == DC_ERR_SHAPE ? 2 : 1;
}

/* After training: the test split (Fashion-MNIST) and where the files are. */
static int report_test(const train_args *a, dc_model *m, dc_loss_kind loss)
{
    int rc = 0;
    dc_dataset *test = load_test_split(a->data);
    if (test) {
        dc_eval_result r;
        if (dc_evaluate(m, test, NULL, 0, 256, loss, &r) != DC_OK) {
            fprintf(stderr, "deepc train: test: %s\n", dc_last_error());
            rc = 1;
        } else if (a->json) {
            printf("{\"test_loss\": %.6g, \"test_acc\": %.6g, \"n\": %lld}\n", r.loss,
                   r.accuracy, (long long)r.n);
        } else {
            printf("test: loss %.4f  accuracy %.4f (%lld/%lld)\n", r.loss, r.accuracy,
                   (long long)r.correct, (long long)r.n);
            cli_print_confusion(&r, dc_fashion_mnist_class);
            if (!a->quiet)
                print_predictions(m, test, 8, dc_fashion_mnist_class);
        }
        dc_eval_result_free(&r);
        dc_dataset_free(test);
    }
    if (a->out && !a->json)
        printf("weights: %s/model.safetensors, checkpoint: %s/checkpoint, log: %s/log.csv\n",
               a->out, a->out, a->out);
    return rc;
}

static int cmd_train_images(train_args *ap, dc_train_opts *op, resume_args *ra,
                            const char *args_text)
{
    train_args a = *ap;
    dc_train_opts o = *op;
    train_resume rs = {.dir = a.out, .path = ra ? ra->path : NULL, .spec = ra ? ra->ck.spec : 0};
    if (dc_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 reports */
        return 1;
    if (a.threads)
        dc_set_num_threads(a.threads);
    dc_rng rng;
    dc_rng_seed(&rng, (uint64_t)a.seed, 0);
    dc_spec *spec = NULL;
    dc_model *m = ra ? cli_resume_model(&rs, &rng, &spec) : cli_load_model(a.model, &rng, &spec);
    if (!m)
        return 2;
    dc_dataset *d = cli_load_data(a.data, 1);
    dc_task *t = NULL;
    char *spec_text = NULL;
    int rc = 2;
    if (!d) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        goto out;
    }
    if (train_data_opts(&a, &o, d, ra) || (a.init && !ra && cli_load_weights(m, a.init, 0)) ||
        cli_train_prepare(&a, spec, ra ? &rs : NULL, args_text, &o, &spec_text))
        goto out;
    if (!(t = dc_task_dataset(d, &o))) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        goto out;
    }
    if (!a.json)
        printf("%s %s on %s: %lld examples for training, %lld for validation%s, %lld parameters, "
               "%s lr %g, batch %lld, %d threads, gemm %s\n", ra ? "resuming" : "training",
               a.model, a.data, (long long)(d->n - o.val_size), (long long)o.val_size,
               a.val >= 0 ? "" : " (--val)", (long long)dc_model_n_trainable(m),
               dc_optim_kind_name(o.optim.kind), (double)o.optim.lr, (long long)o.batch_size,
               dc_get_num_threads(), dc_gemm_backend());
    double t0 = cli_now_s();
    if ((rc = cli_run_task(m, t, &o, NULL)) != 0)
        goto out;
    if (!a.json)
        printf("training time %.1fs\n", cli_now_s() - t0);
    if (!a.json && dc_dist_size() > 1)
        printf("%d ranks; rank 0 spent %.2fs in communication (gradient allreduce, metrics)\n",
               dc_dist_size(), dc_dist_comm_seconds());
    rc = report_test(&a, m, o.loss);
out:
    dc_task_free(t);
    free(spec_text);
    dc_dataset_free(d);
    dc_model_free(m);
    dc_spec_free(spec);
    return rc;
}

