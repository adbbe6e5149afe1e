/*
 * layer_desc.h - one descriptor per layer type, and the registry that lists them.
 *
 * A descriptor says everything the rest of deepc needs to know about a layer type, in the
 * layer's own file (src/nn/<family>_layers.c): the spec section name and its aliases, each spec
 * key with its kind, default, range and a one-line doc, the builder that makes the module from
 * the parsed values, the parameter names, the multiply-accumulates for `deepc summary` and the
 * gradcheck cases that cover it. src/nn/registry.c lists the descriptors, one line each; the
 * spec builder (src/spec/build.c), `deepc summary`, `deepc gradcheck`, `deepc layers` (the table
 * of docs/model-format.md, and the JSON that tools/spec_torch.py reads) all read that list.
 *
 * The descriptor knows no spec syntax: the spec builder parses and range-checks each key, echoes
 * the defaults it used, and hands the values to build(); build() checks what depends on several
 * keys or on the input, and on refusal names the key to blame (or the layer) and why, which the
 * spec builder prints with file:line.
 */
#ifndef DC_LAYER_DESC_H
#define DC_LAYER_DESC_H

#include "core/internal.h"

#include <stdio.h>

#define DC_LAYER_MAX_KEYS 12

typedef enum dc_key_kind {
    DC_KEY_INT,   /* one integer in [lo, hi] */
    DC_KEY_INTS,  /* min_n..max_n integers "a, b", each in [lo, hi] */
    DC_KEY_FLOAT, /* a finite number in [lo, hi] */
    DC_KEY_BOOL,  /* true / false (also 1 / 0, yes / no) */
    DC_KEY_WORD,  /* one of the words in `words` ("tanh|relu") */
    DC_KEY_IN     /* an input size inferred from dim `dim` of the input; if given, must agree */
} dc_key_kind;

typedef struct dc_layer_key {
    const char *name;
    dc_key_kind kind;
    /* Default as echoed into the spec; NULL = required; "=key" = the value of an earlier key
     * (maxpool2d's stride defaults to its kernel). Ignored for DC_KEY_IN. */
    const char *def;
    double lo, hi;      /* range of each value (INT, INTS, FLOAT) */
    int min_n, max_n;   /* INTS: how many values */
    /* INT / INTS: words accepted instead of numbers ("same|valid", "none"); WORD: the choices */
    const char *words;
    int dim;            /* IN: the input dimension, negatives from the end */
    const char *doc;    /* one line for docs/model-format.md and `deepc layers` */
} dc_layer_key;

/* One parsed key value. */
typedef struct dc_layer_val {
    int64_t i[DC_MAX_DIMS]; /* INT, INTS (n of them), BOOL (0 / 1), IN */
    int n;                  /* INTS: how many */
    double f;               /* FLOAT */
    int word;               /* the index + 1 of the word given instead of a number; 0 if none */
    const char *text;       /* the value as written (or the default echoed) */
} dc_layer_val;

struct dc_layer_desc;

/* What a builder gets: the values in the order of desc->keys, and where to say why not. */
typedef struct dc_layer_args {
    const struct dc_layer_desc *desc;
    dc_model *m;
    const char *name;       /* the layer's (module's) name */
    dc_rng *rng;            /* initialises the parameters; NULL leaves them zero */
    const dc_tensor *x;     /* an example of the (first) input: a zero batch of one */
    dc_layer_val v[DC_LAYER_MAX_KEYS];
    int bad;                /* on refusal: the index of the key to blame, -1 for the layer */
    char msg[240];          /* on refusal: why; empty = the constructor's dc_last_error() */
} dc_layer_args;

typedef struct dc_layer_desc {
    const char *type;       /* the spec section, lower case: "conv2d" */
    /* other names the spec accepts for it (any case), space separated: "Conv2d dense" */
    const char *aliases;
    const char *module;     /* the module's type (dc_module.type): "Conv2d" */
    const char *torch;      /* the PyTorch equivalent, for docs and tools/spec_torch.py */
    const char *doc;        /* one line: what it computes, input -> output shapes */
    /* input rank (batch included) the layer needs: at least min_ndim (0 = any); above max_ndim
     * (0 = no limit) the error says rank_msg */
    int min_ndim, max_ndim;
    const char *rank_msg;
    const dc_layer_key *keys;
    int n_keys;
    /* Make the module from a->v (NULL on refusal: a->bad / a->msg, or the constructor's error) */
    dc_module *(*build)(dc_layer_args *a);
    const char *params;     /* parameter and buffer names under the layer's name, "" if none */
    /* multiply-accumulates of one forward from input x to output y (NULL: none counted) */
    int64_t (*macs)(const dc_module *m, const dc_tensor *x, const dc_tensor *y);
    /* the gradcheck cases that cover it: `deepc gradcheck <this>` runs them; NULL = none needed
     * (the layer only moves data through ops checked elsewhere: say which in doc) */
    const char *gradcheck;
} dc_layer_desc;

/* Shorthands for the key tables: name, default (NULL = required), range, doc. */
#define DC_KEY_I(nm, def, lo, hi, doc) {nm, DC_KEY_INT, def, lo, hi, 1, 1, NULL, 0, doc}
#define DC_KEY_F(nm, def, lo, hi, doc) {nm, DC_KEY_FLOAT, def, lo, hi, 1, 1, NULL, 0, doc}
#define DC_KEY_B(nm, def, doc) {nm, DC_KEY_BOOL, def, 0, 1, 1, 1, NULL, 0, doc}
#define DC_KEY_IN_DIM(nm, dim, doc) {nm, DC_KEY_IN, NULL, 1, 0x1p40, 1, 1, NULL, dim, doc}
/* "k" or "kh, kw" */
#define DC_KEY_PAIR(nm, def, lo, hi, doc) {nm, DC_KEY_INTS, def, lo, hi, 1, 2, NULL, 0, doc}

/* One value for both axes or "h, w" (a DC_KEY_PAIR). */
static inline void dc_layer_pair(const dc_layer_val *v, int *h, int *w)
{
    *h = (int)v->i[0];
    *w = (int)(v->n == 2 ? v->i[1] : v->i[0]);
}

/* Refuse in a builder: blame key index k (-1 = the layer) with a message; returns NULL. */
dc_module *dc_layer_refuse(dc_layer_args *a, int k, const char *fmt, ...) DC_PRINTF(3, 4);

/* The registry (registry.c): every layer type, in the order of the documentation. */
int dc_layer_count(void);
const dc_layer_desc *dc_layer_at(int i);
/* The descriptor for a spec type or one of its aliases (case-insensitive); NULL if none. */
const dc_layer_desc *dc_layer_find(const char *type);
/* The descriptor whose modules have type `module` (dc_module.type); NULL if none. */
const dc_layer_desc *dc_layer_find_module(const char *module);
/* The index of key `name` in d->keys, or -1. */
int dc_layer_key_index(const dc_layer_desc *d, const char *name);

/* The registry as Markdown (json = 0: the table of docs/model-format.md) or JSON (json = 1). */
dc_status dc_layers_write(FILE *f, int json);

#endif
