/*
 * json.c - the strict, iterative JSON parser of json.h.
 *
 * One pass over the text with an explicit stack of open containers. Each value appends a node;
 * strings are decoded into one pool allocated up front (a decoded string plus its NUL is never
 * longer than its quoted source, so len + 1 bytes always suffice and the pool never moves).
 */
#include "io/json.h"

#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *t;
    size_t len, pos;
    dc_json *doc;
    int32_t cap;
    size_t pool_len;
    int32_t stack[DC_JSON_MAX_DEPTH];
    int depth;
    dc_status st; /* why add_node failed */
} parser;

static dc_status fail(const parser *p, const char *what)
{
    return dc_err(DC_ERR_FORMAT, "JSON byte %zu: %s", p->pos, what);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->t[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* Append a node; returns its index or -1 (error set). */
static int32_t add_node(parser *p, dc_json_type type)
{
    dc_json *d = p->doc;
    if (d->n_nodes == p->cap) {
        if (p->cap >= DC_JSON_MAX_NODES) {
            p->st = dc_err(DC_ERR_FORMAT, "JSON byte %zu: too many values (more than %d)",
                           p->pos, DC_JSON_MAX_NODES);
            return -1;
        }
        int32_t cap = p->cap ? p->cap * 2 : 64;
        dc_json_node *nn = realloc(d->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            p->st = dc_err(DC_ERR_NOMEM, "JSON: out of memory for %d values", (int)cap);
            return -1;
        }
        d->nodes = nn;
        p->cap = cap;
    }
    int32_t i = d->n_nodes++;
    dc_json_node *n = &d->nodes[i];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->end = i + 1;
    return i;
}

/* Length of a valid UTF-8 sequence at s (avail bytes), or 0 if invalid (overlong, surrogate,
 * above U+10FFFF, truncated). */
static int utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    int n;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (avail < (size_t)n || s[1] < lo || s[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

static int hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return 0;
        v = v * 16 + (uint32_t)d;
    }
    *out = v;
    return 1;
}

static void put_utf8(char *o, size_t *k, uint32_t cp)
{
    if (cp < 0x80) {
        o[(*k)++] = (char)cp;
    } else if (cp < 0x800) {
        o[(*k)++] = (char)(0xC0 | (cp >> 6));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        o[(*k)++] = (char)(0xE0 | (cp >> 12));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        o[(*k)++] = (char)(0xF0 | (cp >> 18));
        o[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* \uXXXX at p->pos (just past the 'u'), with a following low surrogate when needed. */
static dc_status parse_u_escape(parser *p, uint32_t *cp)
{
    if (p->len - p->pos < 4 || !hex4(p->t + p->pos, cp))
        return fail(p, "\\u must be followed by 4 hex digits");
    p->pos += 4;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF)
        return fail(p, "lone low surrogate in a \\u escape");
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
        uint32_t lo;
        if (p->len - p->pos < 6 || p->t[p->pos] != '\\' || p->t[p->pos + 1] != 'u' ||
            !hex4(p->t + p->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return fail(p, "high surrogate \\u escape without a low surrogate after it");
        p->pos += 6;
        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (*cp == 0)
        return fail(p, "\\u0000 (NUL) in a string is not supported");
    return DC_OK;
}

/* A string at p->pos (on the opening quote) -> a STRING node. */
static dc_status parse_string(parser *p, int32_t *idx)
{
    char *o = p->doc->pool + p->pool_len;
    size_t k = 0;
    p->pos++;
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, "unterminated string");
        unsigned char c = (unsigned char)p->t[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return fail(p, "control character in a string (escape it)");
        if (c != '\\') {
            int n = utf8_len((const unsigned char *)p->t + p->pos, p->len - p->pos);
            if (!n)
                return fail(p, "invalid UTF-8 in a string");
            memcpy(o + k, p->t + p->pos, (size_t)n);
            k += (size_t)n;
            p->pos += (size_t)n;
            continue;
        }
        if (++p->pos >= p->len)
            return fail(p, "unterminated escape");
        char e = p->t[p->pos++];
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *hit = e ? strchr(from, e) : NULL;
        if (hit) {
            o[k++] = to[hit - from];
        } else if (e == 'u') {
            uint32_t cp = 0;
            dc_status st = parse_u_escape(p, &cp);
            if (st)
                return st;
            put_utf8(o, &k, cp);
        } else {
            p->pos--;
            return fail(p, "unknown escape in a string");
        }
    }
    o[k] = '\0';
    int32_t i = add_node(p, DC_JSON_STRING);
    if (i < 0)
        return p->st;
    p->doc->nodes[i].s = o;
    p->doc->nodes[i].len = (uint32_t)k;
    p->pool_len += k + 1;
    *idx = i;
    return DC_OK;
}

/* -?(0|[1-9][0-9]*) into an int64; fractions and exponents are refused. */
static dc_status parse_int(parser *p)
{
    int neg = p->t[p->pos] == '-';
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (neg)
        p->pos++;
    size_t start = p->pos;
    while (p->pos < p->len && p->t[p->pos] >= '0' && p->t[p->pos] <= '9') {
        unsigned d = (unsigned)(p->t[p->pos] - '0');
        if (v > (lim - d) / 10)
            return fail(p, "integer out of the int64 range");
        v = v * 10 + d;
        p->pos++;
    }
    if (p->pos == start)
        return fail(p, "expected a digit");
    if (p->t[start] == '0' && p->pos - start > 1)
        return fail(p, "leading zero in a number");
    if (p->pos < p->len && (p->t[p->pos] == '.' || p->t[p->pos] == 'e' || p->t[p->pos] == 'E'))
        return fail(p, "only integers are supported here, not fractions or exponents");
    int32_t i = add_node(p, DC_JSON_INT);
    if (i < 0)
        return p->st;
    /* -2^63 is representable: negate in unsigned arithmetic, then convert */
    p->doc->nodes[i].i = neg ? (int64_t)(~v + 1) : (int64_t)v;
    return DC_OK;
}

static dc_status parse_literal(parser *p)
{
    static const char *const words[] = {"true", "false", "null"};
    for (int w = 0; w < 3; w++) {
        size_t n = strlen(words[w]);
        if (p->len - p->pos >= n && memcmp(p->t + p->pos, words[w], n) == 0) {
            int32_t i = add_node(p, w == 2 ? DC_JSON_NULL : DC_JSON_BOOL);
            if (i < 0)
                return p->st;
            p->doc->nodes[i].i = w == 0;
            p->pos += n;
            return DC_OK;
        }
    }
    return fail(p, "expected a value (object, array, string, integer, true, false or null)");
}

/* An object key and its ':' (the caller stands on the key's opening quote). */
static dc_status parse_key(parser *p)
{
    int32_t k = 0;
    if (p->pos >= p->len)
        return fail(p, "the text ends where an object key was expected");
    if (p->t[p->pos] != '"')
        return fail(p, "expected a string key");
    dc_status st = parse_string(p, &k);
    if (st)
        return st;
    skip_ws(p);
    if (p->pos >= p->len || p->t[p->pos] != ':')
        return fail(p, "expected ':' after an object key");
    p->pos++;
    return DC_OK;
}

/* Open '{' or '['; returns 1 when the container is empty and already closed. */
static dc_status open_container(parser *p, int *closed)
{
    char c = p->t[p->pos];
    if (p->depth == DC_JSON_MAX_DEPTH)
        return fail(p, "nesting deeper than 64 levels");
    int32_t i = add_node(p, c == '{' ? DC_JSON_OBJECT : DC_JSON_ARRAY);
    if (i < 0)
        return p->st;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->t[p->pos] == (c == '{' ? '}' : ']')) {
        p->pos++;
        *closed = 1;
        return DC_OK;
    }
    p->stack[p->depth++] = i;
    *closed = 0;
    return c == '{' ? parse_key(p) : DC_OK;
}

/* One value starting at p->pos; *complete = 1 when it is finished (not an open container). */
static dc_status parse_value(parser *p, int *complete)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "expected a value, got the end of the text");
    char c = p->t[p->pos];
    int32_t dummy = 0;
    *complete = 1;
    if (c == '{' || c == '[') {
        int closed = 0;
        dc_status st = open_container(p, &closed);
        *complete = closed;
        return st;
    }
    if (c == '"')
        return parse_string(p, &dummy);
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_int(p);
    return parse_literal(p);
}

/* After a complete value inside containers: count it, then ',' or close. *want_value = 1 when
 * another value must follow. */
static dc_status after_value(parser *p, int *want_value)
{
    int32_t top = p->stack[p->depth - 1];
    dc_json_node *n = &p->doc->nodes[top];
    n->n++;
    skip_ws(p);
    char close = n->type == DC_JSON_OBJECT ? '}' : ']';
    if (p->pos < p->len && p->t[p->pos] == ',') {
        p->pos++;
        skip_ws(p);
        *want_value = 1;
        return n->type == DC_JSON_OBJECT ? parse_key(p) : DC_OK;
    }
    if (p->pos < p->len && p->t[p->pos] == close) {
        p->pos++;
        n->end = p->doc->n_nodes;
        p->depth--;
        *want_value = 0;
        return DC_OK;
    }
    return fail(p, n->type == DC_JSON_OBJECT ? "expected ',' or '}'" : "expected ',' or ']'");
}

dc_status dc_json_parse(dc_json *doc, const char *text, size_t len)
{
    parser p = {.t = text, .len = len, .doc = doc};
    memset(doc, 0, sizeof *doc);
    if (len > UINT32_MAX)
        return dc_err(DC_ERR_FORMAT, "JSON: text of %zu bytes is too large (at most 4 GiB)", len);
    doc->pool = malloc(len + 1);
    if (!doc->pool)
        return dc_err(DC_ERR_NOMEM, "JSON: out of memory for %zu bytes", len);
    /* Every value but the last of a container takes at least 2 bytes ("1," "[]" "\"\""), so the
     * text has at most len / 2 + 2 of them: reserve that (bounded by the cap) once instead of
     * copying the array at every doubling. A large block is mapped lazily: the pages a
     * smaller document does not reach cost nothing. */
    size_t guess = len / 2 + 2 < (size_t)DC_JSON_MAX_NODES ? len / 2 + 2 : DC_JSON_MAX_NODES;
    if (guess > 64 && (doc->nodes = malloc(guess * sizeof *doc->nodes)) != NULL)
        p.cap = (int32_t)guess;
    dc_status st = DC_OK;
    int want_value = 1;
    while (st == DC_OK) {
        int complete = 0;
        if (want_value) {
            st = parse_value(&p, &complete);
            if (st || !complete)
                continue; /* an error, or an open container: its first value comes next */
        }
        if (p.depth == 0)
            break;
        st = after_value(&p, &want_value);
    }
    if (st == DC_OK) {
        skip_ws(&p);
        if (p.pos != len)
            st = fail(&p, "unexpected characters after the JSON value");
    }
    if (st != DC_OK)
        dc_json_free(doc);
    return st;
}

void dc_json_free(dc_json *doc)
{
    free(doc->nodes);
    free(doc->pool);
    memset(doc, 0, sizeof *doc);
}

int32_t dc_json_get(const dc_json *doc, int32_t obj, const char *key)
{
    const dc_json_node *o = &doc->nodes[obj];
    if (o->type != DC_JSON_OBJECT)
        return -1;
    int32_t k = obj + 1;
    for (int32_t m = 0; m < o->n; m++) {
        if (strcmp(doc->nodes[k].s, key) == 0)
            return k + 1;
        k = doc->nodes[k + 1].end;
    }
    return -1;
}

int dc_json_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        int n = utf8_len(u + i, len - i);
        if (!n)
            return 0;
        i += (size_t)n;
    }
    return 1;
}

const char *dc_json_type_name(dc_json_type t)
{
    switch (t) {
    case DC_JSON_OBJECT: return "object";
    case DC_JSON_ARRAY: return "array";
    case DC_JSON_STRING: return "string";
    case DC_JSON_INT: return "integer";
    case DC_JSON_BOOL: return "boolean";
    case DC_JSON_NULL: return "null";
    }
    return "?";
}
