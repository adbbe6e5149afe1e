/*
 * cmd_fillmask.c - deepc fill-mask: the top-k tokens a pre-trained BERT puts at each [MASK]
 * (dc_bert_fill_mask_print, train/bert_fill.h; docs/bert.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "train/bert_fill.h"

#include <stdio.h>

static void fill_usage(FILE *f)
{
    fprintf(f, "usage: deepc fill-mask MODEL --weights W.safetensors --vocab vocab.txt\n"
               "  --text \"the quick brown [MASK] jumps\" [--top-k 5] [--max-len 128] [--cased]\n"
               "  [--bf16]\n"
               "Prints, for each [MASK] of the text, the top-k tokens of the model's masked-LM\n"
               "head with their probabilities. MODEL's $vocab (models/bert_mini_pre) is the\n"
               "vocabulary's size. --bf16 runs its products in bfloat16 (dc_model_freeze_bf16).\n");
}

int cmd_fill_mask(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *vocab = NULL, *text = NULL, *k = NULL,
               *len = NULL;
    int cased = 0, top = 5;
    int64_t max_len = 128;
    const cli_opt opts[] = {{"--weights", &weights, NULL}, {"--vocab", &vocab, NULL},
                            {"--text", &text, NULL},       {"--top-k", &k, NULL},
                            {"--max-len", &len, NULL},     {"--cased", NULL, &cased},
                            {NULL, NULL, NULL}};
    int pr = cli_parse_opts("fill-mask", argc, argv, opts, &model, 1, NULL);
    if (pr > 0)
        fill_usage(stdout);
    if (pr)
        return pr > 0 ? 0 : 2;
    if ((k && arg_int("--top-k", k, 1, 1000, &top)) ||
        (len && arg_i64("--max-len", len, 3, 512, &max_len)))
        return 2;
    if (!model || !weights || !vocab || !text)
        return cli_missing("fill-mask", !model     ? "MODEL (a spec file)"
                                        : !weights ? "--weights W.safetensors"
                                        : !vocab   ? "--vocab vocab.txt"
                                                   : "--text TEXT");
    if (dc_bert_fill_mask_print(stdout, model, weights, vocab, cased, text, max_len, top, cli_bf16)
        == DC_OK)
        return 0;
    fprintf(stderr, "deepc fill-mask: %s\n", dc_last_error());
    return 2;
}
