/*
 * cmd_summary.c - deepc summary: per layer the output shape, parameters, MACs, FLOPs and
 * activation memory of one example; --plan: each convolution's chosen algorithms; --set for
 * spec variables, $vocab defaulting to the byte vocabulary.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "spec/summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The variable $vocab of a character language model without a text: the byte vocabulary. */
#define CLI_SUMMARY_VOCAB "256"

/* summary's arguments: the spec with its --set variables (and $vocab's default) defined, built.
 * NULL after a message (*rc: 0 after --help, else 2). */
static dc_model *summary_load(int argc, char **argv, dc_spec **spec, int *rc, int *plan,
                              int64_t *batch)
{
    const char *model = NULL, *bs = NULL;
    cli_sets sets = {0};
    const cli_opt opts[] = {{"--plan", NULL, plan}, {"--batch", &bs, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("summary", argc, argv, opts, &model, 1, &sets);
    *rc = pr > 0 ? 0 : 2;
    if (pr > 0)
        printf("usage: deepc summary MODEL [--set NAME=VALUE]... [--plan [--batch N]]\n  Per "
               "layer: output shape, parameters, multiply-accumulates (MACs), FLOPs (= 2 x MACs) "
               "and activation memory for one example.\n  --set NAME=VALUE gives the spec "
               "variable $NAME a value; $vocab defaults to " CLI_SUMMARY_VOCAB " (the byte "
               "vocabulary).\n  --plan: the algorithms each convolution runs in training and "
               "in inference at batch N (default 64) on this CPU.\n");
    if (pr)
        return NULL;
    if ((bs && arg_i64("--batch", bs, 1, 1 << 20, batch)) || (bs && !*plan)) {
        if (bs && !*plan)
            fprintf(stderr, "deepc summary: --batch applies to --plan only\n");
        return NULL;
    }
    if (!model) {
        cli_missing("summary", "MODEL (a spec file)");
        return NULL;
    }
    dc_spec *s = dc_spec_parse_file(model);
    if (!s) {
        fprintf(stderr, "deepc: %s\n", dc_last_error());
        return NULL;
    }
    int vocab_set = 0, n_vocab = 0;
    for (int i = 0; i < sets.n; i++)
        vocab_set |= !strncmp(sets.v[i], "vocab=", 6);
    if (cli_spec_set(s, &sets)) {
        dc_spec_free(s);
        return NULL;
    }
    if (!vocab_set && (n_vocab = dc_spec_define(s, "vocab", CLI_SUMMARY_VOCAB)) > 0)
        printf("$vocab = " CLI_SUMMARY_VOCAB " (the byte vocabulary; --set vocab=N for a "
               "text's own)\n");
    dc_model *m = n_vocab >= 0 ? dc_spec_build(s, NULL) : NULL;
    if (!m) {
        fprintf(stderr, "deepc: %s\n", dc_last_error());
        dc_spec_free(s);
        return NULL;
    }
    *spec = s;
    return m;
}

int cmd_summary(int argc, char **argv)
{
    dc_spec *spec = NULL;
    int rc, plan = 0;
    int64_t batch = 64, orphans = 0;
    dc_model *m = summary_load(argc, argv, &spec, &rc, &plan, &batch);
    if (!m)
        return rc;
    dc_status st = plan ? dc_summary_plan_print(stdout, m, spec, batch)
                        : dc_summary_print(stdout, m, spec, &orphans);
    if (st != DC_OK)
        fprintf(stderr, "deepc summary: %s\n", dc_last_error());
    else if (orphans)
        fprintf(stderr, "deepc summary: %lld parameters belong to no layer\n",
                (long long)orphans);
    dc_model_free(m);
    dc_spec_free(spec);
    return st == DC_OK ? 0 : 2;
}
