/*
 * cmd_fillmask.c - deepc fill-mask: the top-k tokens a pre-trained BERT puts at each [MASK]
 * (dc_bert_fill_mask; docs/bert.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

static void fill_usage(FILE *f)
{
    fprintf(f, "usage: deepc fill-mask MODEL --weights W.safetensors --vocab vocab.txt\n"
               "  --text \"the quick brown [MASK] jumps\" [--top-k 5] [--max-len 128] [--cased]\n"
               "Prints, for each [MASK] of the text, the top-k tokens of the model's masked-LM\n"
               "head with their probabilities. MODEL's $vocab (models/bert_mini_pre) is the\n"
               "vocabulary's size.\n");
}

/* The spec with $vocab = the vocabulary's size, built, with the weights loaded. */
static dc_model *fill_model(const char *path, const char *weights, int64_t vocab,
                            dc_spec **spec)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)vocab);
    *spec = dc_spec_parse_file(path);
    dc_model *m = *spec && dc_spec_define(*spec, "vocab", num) >= 0 ? dc_spec_build(*spec, NULL)
                                                                     : NULL;
    if (!m)
        fprintf(stderr, "deepc fill-mask: %s\n", dc_last_error());
    if (m && cli_load_weights(m, weights, 0)) {
        dc_model_free(m);
        return NULL;
    }
    return m;
}

static void fill_print(const dc_fill_mask *r, const dc_wordpiece *wp)
{
    for (int64_t i = 0; i < r->n_masks; i++) {
        printf("[MASK] %lld (token %lld):\n", (long long)i + 1, (long long)r->pos[i]);
        for (int64_t j = 0; j < r->top_k; j++)
            printf("  %-16s %.4f\n", dc_wordpiece_token(wp, r->ids[i * r->top_k + j]),
                   (double)r->probs[i * r->top_k + j]);
    }
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
    dc_wp_opts wo = dc_wp_defaults();
    if (cased)
        wo.lower_case = 0, wo.strip_accents = 0;
    dc_wordpiece *wp = dc_wordpiece_load(vocab, &wo);
    if (!wp) {
        fprintf(stderr, "deepc fill-mask: %s\n", dc_last_error());
        return 2;
    }
    dc_spec *spec = NULL;
    dc_model *m = fill_model(model, weights, dc_wordpiece_size(wp), &spec);
    dc_fill_mask r;
    int rc = m ? 0 : 2;
    if (m && dc_bert_fill_mask(m, wp, text, max_len, top, &r) != DC_OK) {
        fprintf(stderr, "deepc fill-mask: %s\n", dc_last_error());
        rc = 2;
    } else if (m) {
        fill_print(&r, wp);
        dc_fill_mask_free(&r);
    }
    dc_model_free(m);
    dc_spec_free(spec);
    dc_wordpiece_free(wp);
    return rc;
}
