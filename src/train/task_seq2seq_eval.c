/*
 * task_seq2seq_eval.c - the G2P measures (docs/g2p.md): word error rate and phone error rate of
 * a seq2seq model's decodings of a dictionary split.
 *
 *   a word is right when the decoded phones equal ANY of its listed pronunciations;
 *   WER = wrong words / words;
 *   PER = Σ_words edit distance to the closest pronunciation / Σ_words that one's length,
 * where the closest is the one at the smallest edit distance (Levenshtein: insertions,
 * deletions, substitutions of one phone each cost 1), the first listed on a tie.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t dc_edit_distance_ids(const int64_t *a, int64_t na, const int64_t *b, int64_t nb)
{
    int64_t row[DC_G2P_MAX_LEN * 2 + 2];
    if (na < 0 || nb < 0 || nb > DC_G2P_MAX_LEN * 2)
        return -1;
    for (int64_t j = 0; j <= nb; j++)
        row[j] = j;
    for (int64_t i = 1; i <= na; i++) {
        int64_t diag = row[0];
        row[0] = i;
        for (int64_t j = 1; j <= nb; j++) {
            const int64_t up = row[j];
            int64_t v = diag + (a[i - 1] != b[j - 1]);
            v = up + 1 < v ? up + 1 : v;
            v = row[j - 1] + 1 < v ? row[j - 1] + 1 : v;
            row[j] = v;
            diag = up;
        }
    }
    return row[nb];
}

void dc_g2p_score_word(const dc_cmudict *d, int64_t w, const int64_t *out, int64_t n,
                       int64_t *dist, int64_t *len)
{
    *dist = -1;
    *len = 0;
    for (int64_t p = d->pron_first[w]; p < d->pron_first[w + 1]; p++) {
        const int64_t *ph = d->phones + d->phone_off[p];
        const int64_t np = d->phone_off[p + 1] - d->phone_off[p];
        const int64_t e = dc_edit_distance_ids(out, n, ph, np);
        if (*dist < 0 || e < *dist) {
            *dist = e;
            *len = np;
        }
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

dc_status dc_g2p_evaluate(dc_model *m, const dc_cmudict *d, int part, const dc_beam_opts *o,
                          int kv_cache, int64_t limit, dc_g2p_score *s)
{
    return dc_g2p_evaluate_ensemble(&m, 1, d, part, o, kv_cache, limit, s);
}

dc_status dc_g2p_evaluate_ensemble(dc_model *const *ms, int n_models, const dc_cmudict *d,
                                   int part, const dc_beam_opts *o, int kv_cache, int64_t limit,
                                   dc_g2p_score *s)
{
    memset(s, 0, sizeof *s);
    if (!ms || !ms[0] || !d || !o || o->max_len > 4 * DC_G2P_MAX_LEN)
        return dc_err(DC_ERR_ARG, "g2p evaluate: needs a model, a dictionary and options "
                      "(max_len <= %d)", 4 * DC_G2P_MAX_LEN);
    int64_t out[4 * DC_G2P_MAX_LEN];
    const double t0 = now_s();
    dc_status st = DC_OK;
    for (int64_t w = 0; w < d->n_words && st == DC_OK; w++) {
        if (d->part[w] != part || (limit > 0 && s->words >= limit))
            continue;
        const int64_t *src = d->letters + d->letter_off[w];
        const int64_t S = d->letter_off[w + 1] - d->letter_off[w];
        int64_t n = 0, dist, len;
        if ((st = dc_seq2seq_generate_ensemble(ms, n_models, src, S, o, kv_cache, out, &n,
                                               NULL)) != DC_OK) {
            dc_err_prefix("g2p evaluate: word '%s': ", d->text + d->text_off[w]);
            return st;
        }
        dc_g2p_score_word(d, w, out, n, &dist, &len);
        s->words++;
        s->wrong += dist != 0;
        s->errors += dist;
        s->phones += len;
    }
    s->wer = s->words ? (double)s->wrong / (double)s->words : 0;
    s->per = s->phones ? (double)s->errors / (double)s->phones : 0;
    s->seconds = now_s() - t0;
    return st;
}

dc_status dc_g2p_predict(dc_model *m, const char *word, const dc_beam_opts *o, int kv_cache,
                         int64_t *phones, int64_t *n, double *score)
{
    int64_t src[DC_G2P_MAX_LEN];
    const int64_t S = dc_g2p_encode_word(word, src, DC_G2P_MAX_LEN);
    if (S < 0)
        return DC_ERR_ARG;
    return dc_seq2seq_generate(m, src, S, o, kv_cache, phones, n, score);
}
