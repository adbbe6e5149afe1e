/*
 * cmd_textcls.c - deepc train and deepc eval on text classification data (--data textdir:DIR |
 * tsv:FILE | csv:FILE with --vocab | spam-assassin): flags in, the library's run
 * (dc_textcls_run_*, dc_task_textcls, dc_model_init_from), numbers out.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

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

static const dc_textcls_data *g_names; /* class names for cli_print_confusion */
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
        cli_print_confusion(&e, class_name);
    dc_eval_result_free(&e);
    return 0;
}

/* The model of a fresh run from MODEL with $vocab and $labels, or the checkpoint's. */
static dc_model *text_model(const char *path, const train_resume *rs, const dc_textcls_run *r,
                            dc_rng *rng, dc_spec **spec)
{
    if (rs)
        return cli_resume_model(rs, rng, spec);
    dc_model *m = NULL;
    if ((*spec = dc_spec_parse_file(path)) && dc_textcls_run_define(r, *spec) == DC_OK)
        m = dc_spec_build(*spec, rng);
    if (!m)
        fprintf(stderr, "deepc: %s\n", dc_last_error());
    return m;
}

/* --init / --init-from (a fresh run only). 0, or -1 after a message. */
static int text_init(const train_args *a, dc_model *m)
{
    if (a->init && cli_load_weights(m, a->init, 0))
        return -1;
    char *rep = NULL;
    if (a->init_from && dc_model_init_from(m, a->init_from, &rep) != DC_OK) {
        fprintf(stderr, "deepc train: --init-from %s\n", dc_last_error());
        return -1;
    }
    if (rep)
        printf("--init-from %s:\n%s", a->init_from, rep);
    free(rep);
    return 0;
}

int cmd_train_textcls(const train_args *a, const dc_train_opts *o0, const train_resume *rs,
                      const char *args_text)
{
    dc_train_opts o = *o0;
    if (dc_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 reports */
        return 1;
    if (a->val >= 0 || a->augment || a->bptt) {
        fprintf(stderr, "deepc train: %s does not apply to text classification (the split is "
                "--data ...,val=F,test=F)\n", a->val >= 0 ? "--val" : a->bptt ? "--bptt"
                                                                      : "--augment");
        return 2;
    }
    dc_textcls_run r;
    dc_spec *spec = NULL;
    dc_model *m = NULL;
    dc_task *t = NULL;
    char *spec_text = NULL;
    int rc = 2;
    dc_rng rng;
    dc_rng_seed(&rng, (uint64_t)a->seed, 0);
    if (a->threads)
        dc_set_num_threads(a->threads);
    if (dc_textcls_run_open(a->data, a->vocab, &r) != DC_OK) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return 2;
    }
    if (!(m = text_model(a->model, rs, &r, &rng, &spec)))
        goto out;
    o.epochs = a->epochs;
    if (o.sched.kind == DC_SCHED_COSINE && !a->t_max_set)
        o.sched.t_max = o.epochs;
    if (dc_textcls_run_dataset(&r, spec, a->max_len) != DC_OK ||
        !(t = dc_task_textcls(r.d, r.split.idx[0], r.split.n[0], r.split.idx[1], r.split.n[1],
                              &o, r.positive))) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        goto out;
    }
    if ((!rs && text_init(a, m)) || cli_train_prepare(a, spec, rs, args_text, &o, &spec_text))
        goto out;
    if (a->out && dc_dist_rank() == 0 && dc_textcls_run_save(&r, a->out) != DC_OK) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        goto out;
    }
    printf("%s %s on %s: %lld texts for training, %lld validation, %lld test (%d classes), %lld "
           "tokens each, %lld parameters, %s lr %g, batch %lld, %d threads\n",
           rs ? "resuming" : "training", a->model, a->data, (long long)r.split.n[0],
           (long long)r.split.n[1], (long long)r.split.n[2], r.data.n_classes,
           (long long)r.max_len, (long long)dc_model_n_trainable(m),
           dc_optim_kind_name(o.optim.kind), (double)o.optim.lr, (long long)o.batch_size,
           dc_get_num_threads());
    double t0 = cli_now_s();
    if ((rc = cli_run_task(m, t, &o, NULL)) != 0)
        goto out;
    printf("training time %.1fs\n", cli_now_s() - t0);
    if (r.split.n[DC_SPLIT_TEST])
        rc = report(&r, m, DC_SPLIT_TEST, "test", a->json);
    if (a->out && !a->json)
        printf("weights: %s/model.safetensors (spec %s/model.spec, vocabulary %s/vocab.txt, "
               "classes %s/classes.txt, log %s/log.csv)\n", a->out, a->out, a->out, a->out,
               a->out);
out:
    dc_task_free(t);
    free(spec_text);
    dc_model_free(m);
    dc_spec_free(spec);
    dc_textcls_run_free(&r);
    return rc;
}

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
    dc_textcls_run r;
    dc_spec *spec = NULL;
    dc_model *m = NULL;
    int rc = 2;
    if (dc_textcls_run_open(data, vocab, &r) != DC_OK) {
        fprintf(stderr, "deepc eval: %s\n", dc_last_error());
        return 2;
    }
    if ((m = text_model(model, NULL, &r, NULL, &spec)) && cli_load_weights(m, weights, 0) == 0) {
        if (dc_textcls_run_dataset(&r, spec, max_len) == DC_OK)
            rc = report(&r, m, p == 3 ? -1 : p, parts[p], 0) ? 1 : 0;
        else
            fprintf(stderr, "deepc eval: %s\n", dc_last_error());
    }
    dc_model_free(m);
    dc_spec_free(spec);
    dc_textcls_run_free(&r);
    return rc;
}
