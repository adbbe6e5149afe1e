/*
 * json.h - a small strict JSON parser, enough for .safetensors headers: objects, arrays,
 * strings (all escapes incl. \uXXXX surrogate pairs, UTF-8 validated), integers (int64, no
 * fractions or exponents), true/false/null. Iterative (an explicit stack, no recursion), with
 * limits on nesting depth and node count, so hostile input cannot exhaust the C stack or memory.
 *
 * The document is a flat array of nodes in document order. A container's children follow it;
 * node[i].end is the index just past i's subtree, so the sibling after i is node[i].end. In an
 * object the children alternate key (a STRING node) and value.
 */
#ifndef DC_JSON_H
#define DC_JSON_H

#include "core/internal.h"

typedef enum dc_json_type {
    DC_JSON_OBJECT, DC_JSON_ARRAY, DC_JSON_STRING, DC_JSON_INT, DC_JSON_BOOL, DC_JSON_NULL
} dc_json_type;

/* 24 bytes: a safetensors header of 1,048,576 five-dimensional tensors is 16 M nodes. */
typedef struct dc_json_node {
    dc_json_type type;
    int32_t n;       /* OBJECT: members; ARRAY: elements */
    int32_t end;     /* index just past this node's subtree */
    uint32_t len;    /* STRING: bytes in s (texts are at most 4 GiB) */
    union {
        const char *s; /* STRING: decoded UTF-8, NUL-terminated (no NUL inside) */
        int64_t i;     /* INT: the value; BOOL: 0 or 1 */
    };
} dc_json_node;

typedef struct dc_json {
    dc_json_node *nodes;
    int32_t n_nodes;
    char *pool;      /* decoded strings */
} dc_json;

#define DC_JSON_MAX_DEPTH 64
/* Enough for the most tensors a .safetensors header may hold (1,048,576), each with its name,
 * its object, three keys, three values and up to 5 + 2 integers: 15 values per tensor. */
#define DC_JSON_MAX_NODES (1 << 24)

/*
 * dc_json_parse - parse text[0..len) (exactly one value, whitespace around it allowed).
 * len is at most UINT32_MAX. On failure returns DC_ERR_FORMAT ("JSON byte 17: expected ':' after an object key") or
 * DC_ERR_NOMEM with doc emptied; on success the caller frees doc with dc_json_free.
 */
dc_status dc_json_parse(dc_json *doc, const char *text, size_t len);
void dc_json_free(dc_json *doc);
/* Index of the value of key in object node obj, or -1 (the first one if repeated). */
int32_t dc_json_get(const dc_json *doc, int32_t obj, const char *key);
/* 1 if s[0..len) is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
int dc_json_utf8_valid(const char *s, size_t len);
/* A short name for a node type ("object", "string", ...). */
const char *dc_json_type_name(dc_json_type t);

#endif
