/*
 * g2p_report.h - the printed results of a trained grapheme-to-phoneme model (g2p_report.c):
 * what `deepc g2p` and `deepc eval --data cmudict:PATH` show (docs/g2p.md).
 */
#ifndef DC_TRAIN_G2P_REPORT_H
#define DC_TRAIN_G2P_REPORT_H

#include "deepc.h"

#include <stdio.h>

/*
 * dc_g2p_score_print - WER and PER of m on split ("train", "val" or "test") of the dictionary at
 * path (its fixed split, DC_G2P_SPLIT_SEED), decoded with o (and the KV cache when kv_cache), the
 * first limit words when limit > 0; one line on f:
 *   "SPLIT words: N, beam B: WER x% (k wrong), PER y% (e edits / p phones), Ts (w words/s)",
 *   with ", length penalty A" after B when o->alpha is not 1 and B > 1.
 * DC_ERR_ARG for another split; the errors of dc_g2p_open and dc_g2p_evaluate. With n_models
 * > 1 the models decode as an ensemble (dc_g2p_evaluate_ensemble) and the line says so.
 */
dc_status dc_g2p_score_print(FILE *f, dc_model *const *ms, int n_models, const char *path,
                             const char *split, const dc_beam_opts *o, int kv_cache,
                             int64_t limit);

/*
 * dc_g2p_predict_print - the phones of each word of words (comma separated): one line
 * "WORD<TAB>PH PH ...<TAB>(score s)" per word on f. DC_ERR_ARG for a word longer than
 * DC_G2P_MAX_LEN (naming it); dc_seq2seq_generate_ensemble's errors (prefixed with the word).
 * The models ms[0..n_models) decode as an ensemble when there are several.
 */
dc_status dc_g2p_predict_print(FILE *f, dc_model *const *ms, int n_models, const char *words,
                               const dc_beam_opts *o, int kv_cache);

#endif
