/*
 * spec_internal.h - the parsed model spec shared by spec.c (syntax) and build.c (meaning).
 */
#ifndef DC_SPEC_INTERNAL_H
#define DC_SPEC_INTERNAL_H

#include "core/internal.h"

typedef struct spec_kv {
    char key[32];
    char val[256];
    int line;  /* 0 for a default echoed by the builder */
    int used;  /* read by the builder (unused keys are errors) */
} spec_kv;

typedef struct spec_layer {
    char type[32];   /* lower case: "conv2d" */
    char name[64];   /* as written, or given by the builder */
    int line;
    spec_kv *kv;
    int n_kv, cap_kv;
} spec_layer;

struct dc_spec {
    char *file;      /* the path or name given, owned (any length: messages never cut it) */
    spec_layer *l;   /* l[0] is [input] once built */
    int n, cap;
    int64_t in_shape[DC_MAX_DIMS];
    int in_ndim;
    dc_dtype in_dtype;
};

spec_kv *spec_kv_add(dc_spec *s, spec_layer *l, const char *key, const char *val, int line);
spec_kv *spec_kv_find(spec_layer *l, const char *key);

#endif
