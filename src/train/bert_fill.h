/*
 * bert_fill.h - `deepc fill-mask` as one library call (task_bert_fill.c, docs/bert.md).
 */
#ifndef DC_TRAIN_BERT_FILL_H
#define DC_TRAIN_BERT_FILL_H

#include "deepc.h"

#include <stdio.h>

/*
 * dc_bert_fill_mask_print - the WordPiece vocabulary at vocab (lower-cased and accent-stripped
 * unless cased), the spec file model built with $vocab = its size and the weights loaded
 * strictly and frozen (bf16: for bfloat16 products, dc_model_freeze_bf16), then
 * dc_bert_fill_mask(text, max_len, top_k) printed on f: for each [MASK]
 *   "[MASK] i (token p):" and top_k lines "  TOKEN  probability", most likely first.
 * The errors of the loads, of the build and of dc_bert_fill_mask.
 */
dc_status dc_bert_fill_mask_print(FILE *f, const char *model, const char *weights,
                                  const char *vocab, int cased, const char *text,
                                  int64_t max_len, int64_t top_k, int bf16);

#endif
