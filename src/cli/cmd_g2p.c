/*
 * cmd_g2p.c - deepc g2p: a trained grapheme-to-phoneme model (docs/g2p.md) with beam search:
 *   deepc g2p MODEL --weights W --data cmudict:PATH [--split test] [--beam 5]   WER and PER
 *   deepc g2p MODEL --weights W --text WORD[,WORD...] [--beam 5]               the phones
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

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

int cli_g2p_score(dc_model *m, const char *path, const char *split, const dc_beam_opts *o,
                  int kv, int64_t limit)
{
    const int part = !strcmp(split, "train") ? DC_SPLIT_TRAIN : !strcmp(split, "val")
                     ? DC_SPLIT_VAL : !strcmp(split, "test") ? DC_SPLIT_TEST : -1;
    dc_cmudict d;
    dc_g2p_score s;
    if (part < 0) {
        fprintf(stderr, "deepc g2p: --split: train, val or test, not '%s'\n", split);
        return 2;
    }
    if (dc_g2p_open(path, DC_G2P_SPLIT_SEED, &d, NULL, NULL) != DC_OK) {
        fprintf(stderr, "deepc g2p: %s\n", dc_last_error());
        return 2;
    }
    dc_status st = dc_g2p_evaluate(m, &d, part, o, kv, limit, &s);
    if (st == DC_OK)
        printf("%s words: %lld, beam %d: WER %.2f%% (%lld wrong), PER %.2f%% (%lld edits / "
               "%lld phones), %.1fs (%.1f words/s)\n", split, (long long)s.words, o->beam,
               100 * s.wer, (long long)s.wrong, 100 * s.per, (long long)s.errors,
               (long long)s.phones, s.seconds, s.seconds > 0 ? (double)s.words / s.seconds : 0);
    else
        fprintf(stderr, "deepc g2p: %s\n", dc_last_error());
    dc_cmudict_free(&d);
    return st == DC_OK ? 0 : 1;
}

static int predict_words(dc_model *m, const char *text, const dc_beam_opts *o, int kv)
{
    char word[DC_G2P_MAX_LEN + 1];
    int64_t ph[256], n;
    for (const char *p = text; *p;) {
        size_t k = strcspn(p, ",");
        snprintf(word, sizeof word, "%.*s", (int)(k < sizeof word - 1 ? k : sizeof word - 1), p);
        double score = 0;
        if (k >= sizeof word || dc_g2p_predict(m, word, o, kv, ph, &n, &score) != DC_OK) {
            fprintf(stderr, "deepc g2p: '%.*s': %s\n", (int)k, p,
                    k >= sizeof word ? "too long" : dc_last_error());
            return 2;
        }
        printf("%s\t", word);
        for (int64_t i = 0; i < n; i++)
            printf("%s%s", i ? " " : "", dc_g2p_token_name(ph[i]));
        printf("\t(score %.4f)\n", score);
        p += k + (p[k] == ',');
    }
    return 0;
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
    if (m && cli_load_weights(m, weights, 0) == 0)
        rc = data ? cli_g2p_score(m, data + 8, split, &o, !no_kv, lim)
                  : predict_words(m, text, &o, !no_kv);
    dc_model_free(m);
    return rc;
}
