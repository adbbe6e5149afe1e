/*
 * form_textcls.c - deepc train and deepc eval on text classification data (--data textdir:DIR |
 * tsv:FILE | csv:FILE with --vocab | spam-assassin; docs/text-classification.md) and deepc
 * predict --text: flags in, the library's run (dc_textcls_*), numbers out.
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

static int tc_load(cli_run *r)
{
    const train_args *a = r->a;
    dc_textcls_run *t = calloc(1, sizeof *t);
    if (!t)
        dc_err(DC_ERR_NOMEM, "out of memory");
    if (!t || dc_textcls_run_open(a->data, a->vocab, t) != DC_OK) {
        free(t);
        return cli_fail(2);
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
    if (dc_textcls_run_dataset(t, r->spec, a->max_len) != DC_OK)
        return cli_fail(2);
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
    if (!(r->task = dc_textcls_run_task(t, a->out, &r->o)))
        return cli_fail(2);
    cli_banner(r, a->data, "%lld texts for training, %lld validation, %lld test (%d classes), "
               "%lld tokens each", (long long)t->split.n[0], (long long)t->split.n[1],
               (long long)t->split.n[2], t->data.n_classes, (long long)t->max_len);
    return 0;
}

static int tc_report(cli_run *r)
{
    const dc_textcls_run *t = r->data;
    cli_print_time(r, NULL);
    int rc = 0;
    if (t->split.n[DC_SPLIT_TEST] &&
        dc_textcls_report(stdout, t, r->m, DC_SPLIT_TEST, "test", r->a->json) != DC_OK) {
        fprintf(stderr, "deepc train: test: %s\n", dc_last_error());
        rc = 1;
    }
    cli_print_outputs(r, " (vocabulary and classes: vocab.txt, classes.txt beside it)");
    return rc;
}

static void tc_free(cli_run *r)
{
    dc_textcls_run_free(r->data);
    free(r->data);
}

const cli_data_form cli_form_textcls = {
    .what = "text classification", /* its split: --data ...,val=F,test=F */
    .refuse = CLI_NO_VAL | CLI_NO_AUGMENT | CLI_NO_BPTT | CLI_NO_EARLY_STOP,
    .load = tc_load,
    .define = tc_define,
    .prepare = tc_prepare,
    .task = tc_task,
    .report = tc_report,
    .free = tc_free,
};

/* deepc eval MODEL --weights W --data DATA --vocab V [--max-len N] [--part P] */
int cmd_eval_textcls(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *data = NULL, *vocab = NULL, *len = NULL;
    const char *part = "test";
    int64_t max_len = 0;
    const cli_opt opts[] = {{"--weights", &weights, NULL}, {"--data", &data, NULL},
                            {"--vocab", &vocab, NULL}, {"--max-len", &len, NULL},
                            {"--part", &part, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("eval", argc, argv, opts, &model, 1, NULL), p = 0;
    if (pr > 0)
        printf("usage: deepc eval MODEL --weights W --data DATA --vocab V [--max-len N] "
               "[--part test|val|train|all]\n(docs/text-classification.md)\n");
    if (pr)
        return pr > 0 ? 0 : 2;
    static const char *const parts[] = {"train", "val", "test", "all"};
    while (p < 4 && strcmp(part, parts[p]))
        p++;
    if (!model || !weights || !data || !vocab || p == 4)
        return cli_missing("eval", p == 4 ? "--part train|val|test|all" : !model ? "MODEL"
                                   : !weights ? "--weights W" : !data ? "--data" : "--vocab V");
    if ((len && arg_i64("--max-len", len, 2, 1 << 20, &max_len)))
        return 2;
    if (dc_textcls_eval(stdout, model, weights, data, vocab, max_len, p == 3 ? -1 : p,
                        cli_bf16) == DC_OK)
        return 0;
    fprintf(stderr, "deepc eval: %s\n", dc_last_error());
    return 2;
}

/* deepc predict MODEL --weights W --text TEXT [--vocab V] [--classes FILE] [--max-len N] */
int cmd_predict_text(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *text = NULL, *vocab = NULL, *classes = NULL;
    const char *len = NULL;
    int64_t max_len = 0;
    const cli_opt opts[] = {{"--weights", &weights, NULL}, {"--text", &text, NULL},
                            {"--vocab", &vocab, NULL}, {"--classes", &classes, NULL},
                            {"--max-len", &len, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("predict", argc, argv, opts, &model, 1, NULL);
    if (pr > 0)
        printf("usage: deepc predict MODEL --weights W --text TEXT [--vocab V] [--classes FILE] "
               "[--max-len N]\nEach class with its probability, most likely first; --vocab and "
               "--classes default to\nvocab.txt and classes.txt next to the weights.\n");
    if (pr)
        return pr > 0 ? 0 : 2;
    if (!model || !weights || !text)
        return cli_missing("predict", !model ? "MODEL" : !weights ? "--weights W" : "--text");
    if (len && arg_i64("--max-len", len, 2, 1 << 20, &max_len))
        return 2;
    if (dc_textcls_predict_print(stdout, model, weights, vocab, classes, max_len, text,
                                 cli_bf16) == DC_OK)
        return 0;
    fprintf(stderr, "deepc predict: %s\n", dc_last_error());
    return 2;
}
