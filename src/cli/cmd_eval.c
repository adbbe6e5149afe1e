/*
 * cmd_eval.c - deepc eval (trained weights on the test data of a --data form: the form's eval,
 * forms.def) and deepc forward (an eval-mode forward of a .npy batch).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "train/predict.h"

#include <stdio.h>
#include <string.h>

static void eval_usage(FILE *f)
{
    fprintf(f, "usage: deepc eval MODEL --weights W.safetensors --data DATA [--loss L] "
               "[--partial] [--quiet]\n                  [--set NAME=VALUE]...\n"
               "  DATA: fashion-mnist[:DIR] (test split) | digits[:FILE] | npy:X.npy,Y.npy\n"
               "  --set NAME=VALUE gives the spec variable $NAME a value\n"
               "  --quiet: print nothing on success (the exit code says it ran)\n");
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *data = NULL, *loss = "cross_entropy";
    int partial = 0, quiet = 0;
    if (cli_argv_textcls(argc, argv)) /* form_textcls.c */
        return cmd_eval_textcls(argc, argv);
    cli_sets sets = {0};
    const cli_opt opts[] = {{"--weights", &weights, NULL}, {"--data", &data, NULL},
                            {"--loss", &loss, NULL}, {"--partial", NULL, &partial},
                            {"--quiet", NULL, &quiet}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("eval", argc, argv, opts, &model, 1, &sets);
    if (pr) {
        if (pr > 0)
            eval_usage(stdout);
        return pr > 0 ? 0 : 2;
    }
    if (!model || !weights || !data)
        return cli_missing("eval", !model     ? "MODEL (a spec file)"
                                   : !weights ? "--weights W.safetensors"
                                              : "--data DATA");
    dc_loss_kind lk;
    if (dc_loss_kind_parse(loss, &lk)) {
        fprintf(stderr, "deepc eval: %s\n", dc_last_error());
        return 2;
    }
    if (quiet && cli_quiet_stdout())
        return 2;
    dc_model *m = cli_load_model_set(model, &sets, NULL, NULL);
    if (!m)
        return 2;
    const cli_data_form *f = cli_data_form_find(data);
    int rc = 2;
    if (!f->eval)
        fprintf(stderr, "deepc eval: --data %s: deepc eval takes image and tensor data "
                "(deepc train reports the validation and test scores of the other forms)\n",
                data);
    else if (cli_load_frozen(m, weights, partial) == 0)
        rc = f->eval(m, data, lk);
    dc_model_free(m);
    return rc;
}

/* ---- forward ---- */

int cmd_forward(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *input = NULL, *output = NULL;
    cli_sets sets = {0};
    const cli_opt opts[] = {{"--weights", &weights, NULL}, {"--input", &input, NULL},
                            {"--output", &output, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("forward", argc, argv, opts, &model, 1, &sets);
    if (pr > 0)
        printf("usage: deepc forward MODEL --weights W.safetensors --input X.npy --output Y.npy "
               "[--set NAME=VALUE]...\n  Eval-mode forward of the whole batch in X.npy (first "
               "dim = batch).\n");
    if (pr)
        return pr > 0 ? 0 : 2;
    if (!model || !weights || !input || !output)
        return cli_missing("forward", !model     ? "MODEL (a spec file)"
                                      : !weights ? "--weights W.safetensors"
                                      : !input   ? "--input X.npy"
                                                 : "--output Y.npy");
    dc_model *m = cli_load_model_set(model, &sets, NULL, NULL);
    if (!m)
        return 2;
    int rc = cli_load_frozen(m, weights, 0) ? 2 : 0;
    if (!rc && dc_forward_npy(m, input, output) != DC_OK) {
        fprintf(stderr, "deepc forward: %s\n", dc_last_error());
        rc = 2;
    }
    dc_model_free(m);
    return rc;
}
