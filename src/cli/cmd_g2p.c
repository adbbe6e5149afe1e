/*
 * cmd_g2p.c - deepc g2p: a trained grapheme-to-phoneme model (docs/g2p.md) with beam search
 * (the library prints: train/g2p_report.h):
 *   deepc g2p MODEL --weights W --data cmudict:PATH [--split test] [--beam 5]   WER and PER
 *   deepc g2p MODEL --weights W --text WORD[,WORD...] [--beam 5]               the phones
 *   ... --ensemble SPEC=W[,SPEC=W...]    decoding with MODEL and these models as an ensemble
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
               "  --length-penalty A    a finished hypothesis scores sum log p / (phones + 1)^A,\n"
               "                        A in [0, 10]: 0 sums, 1 averages, above 1 favours longer\n"
               "                        ones (1)\n"
               "  --max-len N           the most phones decoded (64)\n"
               "  --limit N             only the first N words of the split (all)\n"
               "  --no-kv-cache         recompute the whole prefix at every step\n"
               "  --ensemble SPEC=W,... decode with MODEL and these models together (their mean\n"
               "                        probability of each next phone; up to %d in all)\n",
            DC_ENSEMBLE_MAX);
}

/* The exit code of a g2p result, after its message: 2 for bad input, else 1. A shape error is
 * bad input too: a spec that is not a seq2seq model of the G2P vocabulary, or an ensemble whose
 * models disagree on the vocabulary. */
static int g2p_rc(dc_status st)
{
    if (st == DC_OK)
        return 0;
    fprintf(stderr, "deepc g2p: %s\n", dc_last_error());
    const int bad = st == DC_ERR_ARG || st == DC_ERR_IO || st == DC_ERR_FORMAT ||
                    st == DC_ERR_SHAPE;
    return bad ? 2 : 1;
}

int cli_g2p_score(dc_model *const *ms, int n_models, const char *path, const char *split,
                  const dc_beam_opts *o, int kv, int64_t limit)
{
    return g2p_rc(dc_g2p_score_print(stdout, ms, n_models, path, split, o, kv, limit));
}

/* The models of --ensemble SPEC=W[,SPEC=W...] into ms[*n...], each loaded and frozen; 0, or
 * the exit code after a message. Each item splits at its last '=' (a spec path may hold one). */
static int load_ensemble(const char *list, dc_model **ms, int *n)
{
    char item[4096];
    const char *p = list;
    do {
        const size_t k = strcspn(p, ",");
        const char *eq = NULL;
        for (const char *c = p; c < p + k; c++)
            eq = *c == '=' ? c : eq;
        if (!eq || eq == p || eq == p + k - 1 || k >= sizeof item) {
            fprintf(stderr, "deepc g2p: --ensemble takes SPEC=WEIGHTS[,SPEC=WEIGHTS...], not "
                    "'%.*s'\n", (int)k, p);
            return 2;
        }
        if (*n == DC_ENSEMBLE_MAX) {
            fprintf(stderr, "deepc g2p: at most %d models in an ensemble\n", DC_ENSEMBLE_MAX);
            return 2;
        }
        snprintf(item, sizeof item, "%.*s", (int)k, p);
        item[eq - p] = '\0';
        if (!(ms[*n] = cli_load_model(item, NULL, NULL)))
            return 2;
        if (cli_load_frozen(ms[(*n)++], item + (eq - p) + 1, 0) != 0)
            return 2;
        p += k;
    } while (*p++ == ','); /* "a=b," goes on to an empty item, refused above */
    return 0;
}

int cmd_g2p(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *data = NULL, *text = NULL, *split = "test";
    const char *beam = "5", *max_len = "64", *limit = "0", *ensemble = NULL, *lp = "1";
    int no_kv = 0;
    const cli_opt opts[] = {{"--weights", &weights, NULL}, {"--data", &data, NULL},
                            {"--text", &text, NULL}, {"--split", &split, NULL},
                            {"--beam", &beam, NULL}, {"--max-len", &max_len, NULL},
                            {"--length-penalty", &lp, NULL},
                            {"--limit", &limit, NULL}, {"--no-kv-cache", NULL, &no_kv},
                            {"--ensemble", &ensemble, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("g2p", argc, argv, opts, &model, 1, NULL);
    if (pr)
        return pr > 0 ? (g2p_usage(stdout), 0) : 2;
    if (!model || !weights || (!data == !text))
        return cli_missing("g2p", !model ? "MODEL (a spec file)" : !weights
                           ? "--weights W.safetensors" : "--data cmudict:PATH or --text WORD");
    dc_beam_opts o = dc_beam_defaults();
    int64_t lim = 0;
    float alpha = 1;
    if (arg_int("--beam", beam, 1, 256, &o.beam) ||
        arg_float("--length-penalty", lp, 0, 10, &alpha) ||
        arg_i64("--max-len", max_len, 1, 4 * DC_G2P_MAX_LEN, &o.max_len) ||
        arg_i64("--limit", limit, 0, INT64_MAX, &lim))
        return 2;
    o.alpha = alpha;
    if (data && strncmp(data, "cmudict:", 8)) {
        fprintf(stderr, "deepc g2p: --data must be cmudict:PATH, not '%s'\n", data);
        return 2;
    }
    dc_model *ms[DC_ENSEMBLE_MAX] = {cli_load_model(model, NULL, NULL)};
    int n = 1, rc = 2;
    if (ms[0] && cli_load_frozen(ms[0], weights, 0) == 0 &&
        (!ensemble || load_ensemble(ensemble, ms, &n) == 0))
        rc = data ? cli_g2p_score(ms, n, data + 8, split, &o, !no_kv, lim)
                  : g2p_rc(dc_g2p_predict_print(stdout, ms, n, text, &o, !no_kv));
    for (int i = 0; i < DC_ENSEMBLE_MAX; i++)
        dc_model_free(ms[i]);
    return rc;
}
