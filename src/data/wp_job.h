/*
 * wp_job.h - the work of `deepc tokenize` (docs/bert.md) as library calls: a vocabulary loaded
 * cased or uncased, the texts of --text or of files and folders, a text (or pair) encoded into
 * ids with BERT's [CLS]/[SEP] and segment ids, ids given as strings decoded, a vocabulary trained
 * and saved. The CLI parses the flags into a dc_wp_job and prints the results. Internal.
 */
#ifndef DC_DATA_WP_JOB_H
#define DC_DATA_WP_JOB_H

#include "deepc.h"

#include <stdio.h>

#define DC_WP_JOB_MAX_IN 64

typedef struct dc_wp_job {
    const char *vocab;       /* vocab.txt (encode, decode) */
    const char *text;        /* the text, or NULL: the files of in[] */
    const char *pair;        /* encode: a second segment, or NULL */
    const char *const *in;   /* [n_in] files or folders (dc_text_load), each one text */
    int n_in;                /* at most DC_WP_JOB_MAX_IN */
    int cased;               /* no lower-casing, no accent stripping */
    int bert;                /* encode: [CLS] a [SEP] with segment ids (implied by pair) */
    int64_t max_len;         /* encode with bert/pair: the most tokens (>= 3) */
} dc_wp_job;

/* What dc_wp_job_encode made; dc_wp_encoded_free. */
typedef struct dc_wp_encoded {
    dc_wordpiece *wp;  /* the vocabulary (owned), for the token strings */
    int64_t *ids;      /* [n] token ids (owned) */
    int64_t *seg;      /* [n] segment ids with bert/pair, else NULL (owned) */
    int64_t n;
    size_t bytes;      /* bytes of text encoded */
    int64_t n_tokens;  /* WordPiece tokens of the texts (and pair), before [CLS]/[SEP] */
    double wall_s, cpu_s; /* time of the WordPiece encoding alone (wall and CPU) */
} dc_wp_encoded;

/* The vocabulary of j->vocab with j->cased's options. NULL with dc_last_error() (DC_ERR_ARG when
 * j->vocab is NULL, else dc_wordpiece_load's). */
dc_wordpiece *dc_wp_job_vocab(const dc_wp_job *j);
/* The texts of the job: j->text (copied), or each of j->in read whole. texts[i] owned by the
 * caller (free each of the *n). DC_ERR_ARG when there is none; dc_text_load's errors. */
dc_status dc_wp_job_texts(const dc_wp_job *j, uint8_t **texts, size_t *lens, int *n);
/* Encode every text of the job (one id list, in order), then with j->bert or j->pair the BERT
 * input [CLS] a [SEP] (b [SEP]) truncated to j->max_len. DC_ERR_ARG (no [CLS]/[SEP] in the
 * vocabulary), DC_ERR_IO, DC_ERR_FORMAT, DC_ERR_NOMEM; *e is zeroed on failure. */
dc_status dc_wp_job_encode(const dc_wp_job *j, dc_wp_encoded *e);
void dc_wp_encoded_free(dc_wp_encoded *e);
/* `deepc tokenize encode`'s output on f: "tokens: T T ...", "ids: I I ..." and, with segment
 * ids, "segments: S S ..."; ids_only: the ids alone on one line. */
void dc_wp_encoded_print(FILE *f, const dc_wp_encoded *e, int ids_only);
/* The text of ids[0..n) given as decimal strings (each in [0, vocabulary size)); flags as for
 * dc_wordpiece_decode. *text malloc'd. DC_ERR_ARG names a bad id. */
dc_status dc_wp_job_decode(const dc_wp_job *j, const char *const *ids, int n, unsigned flags,
                           char **text);
/* Train a vocabulary of at most vocab_size tokens on the job's texts (min_freq 0: the default)
 * and save it to out. The vocabulary (caller frees), or NULL with dc_last_error(). */
dc_wordpiece *dc_wp_job_train(const dc_wp_job *j, int64_t vocab_size, int64_t min_freq,
                              const char *out);

#endif
