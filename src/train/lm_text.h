/*
 * lm_text.h - a character language model's text (its bytes, vocabulary and ids) and sampling
 * from a trained model (lm_text.c). Internal: the CLI and the tests use it.
 */
#ifndef DC_TRAIN_LM_TEXT_H
#define DC_TRAIN_LM_TEXT_H

#include "deepc.h"

#include <stdio.h>

/* A text, its byte vocabulary and its ids. */
typedef struct dc_corpus {
    uint8_t *text;  /* [n] bytes, malloc'd */
    size_t n;
    dc_vocab v;     /* the distinct bytes of text (dc_vocab_build) */
    int64_t *ids;   /* [n] ids of text under v, malloc'd */
} dc_corpus;

/* dc_corpus_load - read path (a file, or a folder of files: dc_text_load) and encode it. DC_OK,
 * or the error (nothing to free then). dc_corpus_free frees text and ids. */
dc_status dc_corpus_load(const char *path, dc_corpus *c);
void dc_corpus_free(dc_corpus *c);
/* The training symbols of c: all but the last val symbols, or with val < 0 all but the last 10%
 * (dc_text_split). DC_ERR_ARG when that leaves no training (or a 1-symbol validation) part. */
dc_status dc_corpus_split(const dc_corpus *c, int64_t val, size_t *n_train);
/* DIR/vocab.txt: c's vocabulary, which `deepc generate` reads back (dc_vocab_save). */
dc_status dc_corpus_save_vocab(const dc_corpus *c, const char *dir);

/*
 * dc_lm_generate - write prime and then len characters sampled from m (logits [1, t, v->n] for
 * ids [1, t]) to out, with a newline at the end; temp, top_k and top_p (1: none) as
 * dc_sample_logits_p, rng the
 * sampler's stream; kv_cache: a Transformer that can runs incrementally over cached keys and
 * values. An empty prime starts from id 0. DC_OK, DC_ERR_SHAPE when the model gives other
 * logits, or the error of the forward.
 */
dc_status dc_lm_generate(dc_model *m, const dc_vocab *v, const char *prime, int64_t len,
                         float temp, int top_k, float top_p, dc_rng *rng, FILE *out,
                         int kv_cache);

#endif
