/*
 * g2p_report.c - the printed results of a trained grapheme-to-phoneme model (g2p_report.h): a
 * split's WER and PER (dc_g2p_evaluate) and the phones of given words, of one model or an
 * ensemble.
 */
#define _POSIX_C_SOURCE 200809L
#include "train/g2p_report.h"
#include "core/internal.h"

#include <string.h>

dc_status dc_g2p_score_print(FILE *f, dc_model *const *ms, int n_models, const char *path,
                             const char *split, const dc_beam_opts *o, int kv_cache,
                             int64_t limit)
{
    const int part = !strcmp(split, "train") ? DC_SPLIT_TRAIN : !strcmp(split, "val")
                     ? DC_SPLIT_VAL : !strcmp(split, "test") ? DC_SPLIT_TEST : -1;
    if (part < 0)
        return dc_err(DC_ERR_ARG, "--split: train, val or test, not '%s'", split);
    dc_cmudict d;
    dc_g2p_score s;
    char lp[48] = ""; /* the length penalty, where it is not the default and can matter */
    if (o->alpha != 1 && o->beam > 1)
        snprintf(lp, sizeof lp, ", length penalty %g", o->alpha);
    dc_status st = dc_g2p_open(path, DC_G2P_SPLIT_SEED, &d, NULL, NULL);
    if (st != DC_OK)
        return st;
    st = dc_g2p_evaluate_ensemble(ms, n_models, &d, part, o, kv_cache, limit, &s);
    if (st == DC_OK && n_models > 1)
        fprintf(f, "ensemble of %d models, ", n_models);
    if (st == DC_OK)
        fprintf(f, "%s words: %lld, beam %d%s: WER %.2f%% (%lld wrong), PER %.2f%% (%lld edits / "
                "%lld phones), %.1fs (%.1f words/s)\n", split, (long long)s.words, o->beam,
                lp, 100 * s.wer, (long long)s.wrong, 100 * s.per, (long long)s.errors,
                (long long)s.phones, s.seconds, s.seconds > 0 ? (double)s.words / s.seconds : 0);
    dc_cmudict_free(&d);
    return st;
}

dc_status dc_g2p_predict_print(FILE *f, dc_model *const *ms, int n_models, const char *words,
                               const dc_beam_opts *o, int kv_cache)
{
    char word[DC_G2P_MAX_LEN + 1];
    int64_t ph[4 * DC_G2P_MAX_LEN], n;
    if (o->max_len > (int64_t)(sizeof ph / sizeof *ph))
        return dc_err(DC_ERR_ARG, "max_len %lld: at most %d phones", (long long)o->max_len,
                      4 * DC_G2P_MAX_LEN);
    for (const char *p = words; *p;) {
        size_t k = strcspn(p, ",");
        if (k >= sizeof word)
            return dc_err(DC_ERR_ARG, "'%.*s': too long", (int)k, p);
        snprintf(word, sizeof word, "%.*s", (int)k, p);
        double score = 0;
        int64_t src[DC_G2P_MAX_LEN];
        const int64_t S = dc_g2p_encode_word(word, src, DC_G2P_MAX_LEN);
        dc_status st = S < 0 ? DC_ERR_ARG
                             : dc_seq2seq_generate_ensemble(ms, n_models, src, S, o, kv_cache,
                                                            ph, &n, &score);
        if (st != DC_OK) {
            dc_err_prefix("'%s': ", word);
            return st;
        }
        fprintf(f, "%s\t", word);
        for (int64_t i = 0; i < n; i++)
            fprintf(f, "%s%s", i ? " " : "", dc_g2p_token_name(ph[i]));
        fprintf(f, "\t(score %.4f)\n", score);
        p += k + (p[k] == ',');
    }
    return DC_OK;
}
