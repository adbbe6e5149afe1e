/*
 * form_textcls.c - deepc train and deepc eval on text classification data (--data textdir:DIR |
 * tsv:FILE | csv:FILE with --vocab | spam-assassin; docs/text-classification.md): flags in, the
 * library's run (dc_textcls_run_*, dc_task_textcls, dc_model_init_from), numbers out.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "train/eval_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_is_textcls(const char *data, const char *vocab)
{
    return data && dc_textcls_source_is(data) && (strncmp(data, "csv:", 4) || vocab);
}

int cli_argv_textcls(int argc, char **argv)
{
    const char *data = NULL, *vocab = NULL;
    for (int i = 1; i + 1 < argc; i++) {
        data = !strcmp(argv[i], "--data") ? argv[i + 1] : data;
        vocab = !strcmp(argv[i], "--vocab") ? argv[i + 1] : vocab;
    }
    return cli_is_textcls(data, vocab);
}

static const dc_textcls_data *g_names; /* class names for dc_print_confusion */
static const char *class_name(int k) { return g_names->classes[k]; }

/* "PART: loss, accuracy, F1" and the confusion matrix (or one JSON line). */
static int report(const dc_textcls_run *r, dc_model *m, int part, const char *what, int json)
{
    dc_eval_result e;
    dc_cls_scores sc;
    if (dc_textcls_run_evaluate(r, m, part, &e, &sc) != DC_OK) {
        fprintf(stderr, "deepc: %s: %s\n", what, dc_last_error());
        return 1;
    }
    const char *pos = sc.positive >= 0 ? r->data.classes[sc.positive] : "macro";
    if (json)
        printf("{\"%s_loss\": %.6g, \"%s_acc\": %.6g, \"%s_f1\": %.6g, \"n\": %lld}\n", what,
               e.loss, what, e.accuracy, what, sc.f1, (long long)e.n);
    else
        printf("%s: loss %.4f  accuracy %.4f (%lld/%lld)  F1 %.4f (%s; precision %.4f, recall "
               "%.4f)\n", what, e.loss, e.accuracy, (long long)e.correct, (long long)e.n, sc.f1,
               pos, sc.precision, sc.recall);
    g_names = &r->data;
    if (!json)
        dc_print_confusion(stdout, &e, class_name);
    dc_eval_result_free(&e);
    return 0;
}

static int tc_load(cli_run *r)
{
    const train_args *a = r->a;
    if (a->val >= 0 || a->augment || a->bptt || a->early_stop) {
        fprintf(stderr, "deepc train: %s does not apply to text classification (the split is "
                "--data ...,val=F,test=F)\n", a->val >= 0 ? "--val" : a->bptt ? "--bptt"
                : a->augment ? "--augment" : "--early-stop");
        return 2;
    }
    dc_textcls_run *t = calloc(1, sizeof *t);
    if (!t || dc_textcls_run_open(a->data, a->vocab, t) != DC_OK) {
        fprintf(stderr, "deepc train: %s\n", t ? dc_last_error() : "out of memory");
        free(t);
        return 2;
    }
    r->data = t;
    return 0;
}

static int tc_define(cli_run *r, dc_spec *spec)
{
    return dc_textcls_run_define(r->data, spec) == DC_OK ? 0 : -1;
}

/* The inputs in the model's form, the epochs, and --init-from (a fresh run only). */
static int tc_prepare(cli_run *r)
{
    dc_textcls_run *t = r->data;
    const train_args *a = r->a;
    if (dc_textcls_run_dataset(t, r->spec, a->max_len) != DC_OK) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return 2;
    }
    r->n_train = t->split.n[DC_SPLIT_TRAIN];
    r->o.epochs = cli_run_epochs(a, r->n_train, r->o.batch_size);
    if (r->o.sched.kind == DC_SCHED_COSINE && !a->t_max_set)
        r->o.sched.t_max = r->o.epochs;
    char *rep = NULL;
    if (a->init_from && !r->rs && dc_model_init_from(r->m, a->init_from, &rep) != DC_OK) {
        fprintf(stderr, "deepc train: --init-from %s\n", dc_last_error());
        return 2;
    }
    if (rep && !a->json)
        printf("--init-from %s:\n%s", a->init_from, rep);
    free(rep);
    return 0;
}

static int tc_task(cli_run *r)
{
    const train_args *a = r->a;
    const dc_textcls_run *t = r->data;
    if (a->out && dc_dist_rank() == 0 && dc_textcls_run_save(t, a->out) != DC_OK) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return 2;
    }
    if (!(r->task = dc_task_textcls(t->d, t->split.idx[0], t->split.n[0], t->split.idx[1],
                                    t->split.n[1], &r->o, t->positive))) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return 2;
    }
    if (!a->json)
        printf("%s %s on %s: %lld texts for training, %lld validation, %lld test (%d classes), "
               "%lld tokens each, %lld parameters, %s lr %g, batch %lld, %d threads\n",
               cli_run_verb(r), a->model, a->data, (long long)t->split.n[0],
               (long long)t->split.n[1], (long long)t->split.n[2], t->data.n_classes,
               (long long)t->max_len, (long long)dc_model_n_trainable(r->m),
               dc_optim_kind_name(r->o.optim.kind), (double)r->o.optim.lr,
               (long long)r->o.batch_size, dc_get_num_threads());
    return 0;
}

static int tc_report(cli_run *r)
{
    const dc_textcls_run *t = r->data;
    cli_print_time(r, NULL);
    int rc = t->split.n[DC_SPLIT_TEST] ? report(t, r->m, DC_SPLIT_TEST, "test", r->a->json) : 0;
    cli_print_outputs(r, " (vocabulary and classes: vocab.txt, classes.txt beside it)");
    return rc;
}

static void tc_free(cli_run *r)
{
    dc_textcls_run_free(r->data);
    free(r->data);
}

const cli_data_form cli_form_textcls = {
    .load = tc_load,
    .define = tc_define,
    .prepare = tc_prepare,
    .task = tc_task,
    .report = tc_report,
    .free = tc_free,
};

int cmd_eval_textcls(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *data = NULL, *vocab = NULL, *len = NULL;
    const char *part = "test";
    int64_t max_len = 0;
    const cli_opt opts[] = {{"--weights", &weights, NULL}, {"--data", &data, NULL},
                            {"--vocab", &vocab, NULL}, {"--max-len", &len, NULL},
                            {"--part", &part, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("eval", argc, argv, opts, &model, 1, NULL);
    if (pr > 0)
        printf("usage: deepc eval MODEL --weights W --data DATA --vocab V [--max-len N] "
               "[--part test|val|train|all]\n(docs/text-classification.md)\n");
    if (pr)
        return pr > 0 ? 0 : 2;
    static const char *const parts[] = {"train", "val", "test", "all"};
    int p = 0;
    while (p < 4 && strcmp(part, parts[p]))
        p++;
    if (!model || !weights || !data || !vocab || p == 4)
        return cli_missing("eval", p == 4 ? "--part train|val|test|all" : !model ? "MODEL"
                                   : !weights ? "--weights W" : !data ? "--data" : "--vocab V");
    if (len && arg_i64("--max-len", len, 2, 1 << 20, &max_len))
        return 2;
    dc_textcls_run t;
    dc_spec *spec = NULL;
    dc_model *m = NULL;
    int rc = 2;
    if (dc_textcls_run_open(data, vocab, &t) != DC_OK) {
        fprintf(stderr, "deepc eval: %s\n", dc_last_error());
        return 2;
    }
    if ((spec = dc_spec_parse_file(model)) && dc_textcls_run_define(&t, spec) == DC_OK)
        m = dc_spec_build(spec, NULL);
    if (!m)
        fprintf(stderr, "deepc eval: %s\n", dc_last_error());
    else if (cli_load_weights(m, weights, 0) == 0) {
        if (dc_textcls_run_dataset(&t, spec, max_len) == DC_OK)
            rc = report(&t, m, p == 3 ? -1 : p, parts[p], 0) ? 1 : 0;
        else
            fprintf(stderr, "deepc eval: %s\n", dc_last_error());
    }
    dc_model_free(m);
    dc_spec_free(spec);
    dc_textcls_run_free(&t);
    return rc;
}
