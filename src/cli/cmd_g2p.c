/*
 * cmd_g2p.c - deepc g2p: a trained grapheme-to-phoneme model (docs/g2p.md) with beam search
 * (the library prints: train/g2p_report.h):
 *   deepc g2p MODEL --weights W --data cmudict:PATH [--split test] [--beam 5]   WER and PER
 *   deepc g2p MODEL --weights W --text WORD[,WORD...] [--beam 5]               the phones
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "train/g2p_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void g2p_usage(FILE *f)
{
    fprintf(f, "usage: deepc g2p MODEL --weights W.safetensors (--data cmudict:PATH | --text "
               "WORD[,WORD...]) [options]\n"
               "  --data cmudict:PATH   word and phone error rates on a split of the dictionary\n"
               "  --text WORDS          the phones of each word (comma separated)\n"
               "  --split NAME          test | val | train (test)\n"
               "  --beam N              beam width; 1 is greedy (5)\n"
               "  --max-len N           the most phones decoded (64)\n"
               "  --limit N             only the first N words of the split (all)\n"
               "  --no-kv-cache         recompute the whole prefix at every step\n");
}

/* The exit code of a g2p result, after its message: 2 for bad input, else 1. */
static int g2p_rc(dc_status st)
{
    if (st == DC_OK)
        return 0;
    fprintf(stderr, "deepc g2p: %s\n", dc_last_error());
    return st == DC_ERR_ARG || st == DC_ERR_IO || st == DC_ERR_FORMAT ? 2 : 1;
}

int cli_g2p_score(dc_model *m, const char *path, const char *split, const dc_beam_opts *o,
                  int kv, int64_t limit)
{
    return g2p_rc(dc_g2p_score_print(stdout, m, path, split, o, kv, limit));
}

int cmd_g2p(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *data = NULL, *text = NULL, *split = "test";
    const char *beam = "5", *max_len = "64", *limit = "0";
    int no_kv = 0;
    const cli_opt opts[] = {{"--weights", &weights, NULL}, {"--data", &data, NULL},
                            {"--text", &text, NULL}, {"--split", &split, NULL},
                            {"--beam", &beam, NULL}, {"--max-len", &max_len, NULL},
                            {"--limit", &limit, NULL}, {"--no-kv-cache", NULL, &no_kv},
                            {NULL, NULL, NULL}};
    int pr = cli_parse_opts("g2p", argc, argv, opts, &model, 1, NULL);
    if (pr)
        return pr > 0 ? (g2p_usage(stdout), 0) : 2;
    if (!model || !weights || (!data == !text))
        return cli_missing("g2p", !model ? "MODEL (a spec file)" : !weights
                           ? "--weights W.safetensors" : "--data cmudict:PATH or --text WORD");
    dc_beam_opts o = dc_beam_defaults();
    int64_t lim = 0;
    if (arg_int("--beam", beam, 1, 256, &o.beam) ||
        arg_i64("--max-len", max_len, 1, 4 * DC_G2P_MAX_LEN, &o.max_len) ||
        arg_i64("--limit", limit, 0, INT64_MAX, &lim))
        return 2;
    if (data && strncmp(data, "cmudict:", 8)) {
        fprintf(stderr, "deepc g2p: --data must be cmudict:PATH, not '%s'\n", data);
        return 2;
    }
    dc_model *m = cli_load_model(model, NULL, NULL);
    int rc = 2;
    if (m && cli_load_frozen(m, weights, 0) == 0)
        rc = data ? cli_g2p_score(m, data + 8, split, &o, !no_kv, lim)
                  : g2p_rc(dc_g2p_predict_print(stdout, m, text, &o, !no_kv));
    dc_model_free(m);
    return rc;
}
