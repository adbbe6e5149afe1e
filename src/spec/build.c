/*
 * build.c - turn a parsed spec into a dc_model: each section's keys read as its layer descriptor
 * (src/nn/layer_desc.h) says, the defaults echoed back into the spec, the descriptor's builder
 * called, and shape inference by running each new layer once on a zero batch of one.
 */
#define _POSIX_C_SOURCE 200809L
#include "spec/spec_internal.h"
#include "nn/layer_desc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bctx {
    dc_spec *s;
    spec_layer *l;
    dc_model *m;
    dc_rng *rng;
    dc_tensor *x;        /* example of the (first) input, batch 1 */
    dc_status st;        /* first error while reading keys */
} bctx;

#define BAD(b, kv, ...) bad_value(b, kv, __VA_ARGS__)

static void bad_value(bctx *b, const spec_kv *kv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void bad_value(bctx *b, const spec_kv *kv, const char *fmt, ...)
{
    if (b->st != DC_OK)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (kv && kv->val[0] == '$') /* a spec variable (dc_spec_define) that nothing defined */
        snprintf(msg, sizeof msg, "'%.40s' is an undefined variable (`deepc train --data "
                 "text:...` defines $vocab; other commands take the DIR/model.spec written with "
                 "the weights)", kv->val);
    b->st = dc_err(DC_ERR_FORMAT, "%s:%d: [%s %s] %s%s%s", b->s->file,
                   kv && kv->line ? kv->line : b->l->line, b->l->type, b->l->name,
                   kv ? kv->key : "", kv ? ": " : "", msg);
}

/* The value of key, or NULL after echoing def (if def is not NULL) as the value used. */
static spec_kv *get_kv(bctx *b, const char *key, const char *def)
{
    spec_kv *kv = spec_kv_find(b->l, key);
    if (!kv && def) {
        kv = spec_kv_add(b->s, b->l, key, def, 0);
        if (!kv && b->st == DC_OK)
            b->st = DC_ERR_NOMEM;
    }
    if (kv)
        kv->used = 1;
    return kv;
}

static spec_kv *require_kv(bctx *b, const char *key, const char *what)
{
    spec_kv *kv = get_kv(b, key, NULL);
    if (!kv && b->st == DC_OK)
        b->st = dc_err(DC_ERR_FORMAT, "%s:%d: [%s %s] needs '%s = ...' (%s)", b->s->file,
                       b->l->line, b->l->type, b->l->name, key, what);
    return kv;
}

/* Parse "a, b, c" into out[0..max); returns the count or -1 (error reported). */
static int parse_ints(bctx *b, spec_kv *kv, int64_t *out, int min_n, int max_n, int64_t lo,
                      int64_t hi)
{
    int n = 0;
    const char *p = kv->val;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (end == p || errno || (*end && *end != ',') || n >= max_n) {
            BAD(b, kv, "'%s' is not a list of %d to %d integers", kv->val, min_n, max_n);
            return -1;
        }
        if (v < lo || v > hi) {
            BAD(b, kv, "%lld is out of range [%lld, %lld]", v, (long long)lo, (long long)hi);
            return -1;
        }
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (n < min_n) {
        BAD(b, kv, "expected %d to %d integers, got %d", min_n, max_n, n);
        return -1;
    }
    return n;
}

static int64_t get_int(bctx *b, const char *key, const char *def, int64_t lo, int64_t hi)
{
    int64_t v = 0;
    spec_kv *kv = def ? get_kv(b, key, def) : require_kv(b, key, "an integer");
    if (kv && b->st == DC_OK)
        parse_ints(b, kv, &v, 1, 1, lo, hi);
    return v;
}

static double parse_float(bctx *b, spec_kv *kv, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(kv->val, &end);
    if (end == kv->val || *end || errno || !isfinite(v))
        BAD(b, kv, "'%s' is not a number", kv->val);
    else if (v < lo || v > hi)
        BAD(b, kv, "%g is out of range [%g, %g]", v, lo, hi);
    return v;
}

static int parse_bool(bctx *b, spec_kv *kv)
{
    if (!strcmp(kv->val, "true") || !strcmp(kv->val, "1") || !strcmp(kv->val, "yes"))
        return 1;
    if (!strcmp(kv->val, "false") || !strcmp(kv->val, "0") || !strcmp(kv->val, "no"))
        return 0;
    BAD(b, kv, "'%s' is not true or false", kv->val);
    return 0;
}

/* The index + 1 of v among words "a|b|c", or 0. */
static int word_index(const char *words, const char *v)
{
    size_t n = strlen(v);
    int i = 1;
    for (const char *p = words; p && *p; i++) {
        size_t k = strcspn(p, "|");
        if (k == n && !strncmp(p, v, n))
            return i;
        p += k + (p[k] == '|');
    }
    return 0;
}

/* "tanh or relu", "a, b or c" */
static const char *words_str(const char *words, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (const char *p = words; p && *p && len + 1 < size;) {
        size_t k = strcspn(p, "|");
        const char *sep = !len ? "" : p[k] ? ", " : " or ";
        len += (size_t)snprintf(buf + len, size - len, "%s%.*s", sep, (int)k, p);
        p += k + (p[k] == '|');
    }
    return buf;
}

/* An inferred input size (linear's in_features from the input's last dim): echoed when absent;
 * when given, it must agree with the input. */
static int64_t read_in_size(bctx *b, const dc_layer_key *key)
{
    const int dim = key->dim < 0 ? key->dim + b->x->ndim : key->dim;
    char def[32];
    if (dim < 0 || dim >= b->x->ndim) {
        BAD(b, NULL, "needs an input with more dims (batch included)");
        return 1;
    }
    int64_t inferred = b->x->shape[dim];
    snprintf(def, sizeof def, "%lld", (long long)inferred);
    spec_kv *kv = spec_kv_find(b->l, key->name);
    if (!kv) {
        get_kv(b, key->name, def);
        return inferred;
    }
    kv->used = 1;
    int64_t v = get_int(b, key->name, def, 1, INT64_C(1) << 40);
    if (b->st == DC_OK && v != inferred)
        BAD(b, kv, "%lld does not match the input, which has %lld", (long long)v,
            (long long)inferred);
    return inferred;
}

/* The default of key k as text; "=other" copies the value read for an earlier key. */
static const char *key_default(const dc_layer_desc *d, const dc_layer_key *key,
                               const dc_layer_val *vals, char *buf, size_t size)
{
    if (!key->def || key->def[0] != '=')
        return key->def;
    int j = dc_layer_key_index(d, key->def + 1);
    const dc_layer_val *v = j >= 0 ? &vals[j] : NULL;
    if (!v || v->n < 1)
        return "0";
    if (v->n == 2 && v->i[0] != v->i[1])
        snprintf(buf, size, "%lld, %lld", (long long)v->i[0], (long long)v->i[1]);
    else
        snprintf(buf, size, "%lld", (long long)v->i[0]);
    return buf;
}

/* Read key k of descriptor d into vals[k]: default echoed, kind parsed, range checked. */
static void read_key(bctx *b, const dc_layer_desc *d, int k, dc_layer_val *vals)
{
    const dc_layer_key *key = &d->keys[k];
    dc_layer_val *v = &vals[k];
    char def[64], what[128];
    if (key->kind == DC_KEY_IN) {
        v->i[0] = read_in_size(b, key);
        v->n = 1;
        return;
    }
    const char *dp = key_default(d, key, vals, def, sizeof def);
    const char *need = key->kind == DC_KEY_INT ? "an integer"
                       : key->kind == DC_KEY_INTS && key->max_n == 2 ? "one or two integers"
                                                                      : key->doc;
    spec_kv *kv = dp ? get_kv(b, key->name, dp) : require_kv(b, key->name, need);
    if (!kv || b->st != DC_OK)
        return;
    switch (key->kind) {
    case DC_KEY_INT:
    case DC_KEY_INTS:
        if (!(v->word = word_index(key->words, kv->val)))
            v->n = parse_ints(b, kv, v->i, key->min_n, key->max_n, (int64_t)key->lo,
                              (int64_t)key->hi);
        break;
    case DC_KEY_FLOAT: v->f = parse_float(b, kv, key->lo, key->hi); break;
    case DC_KEY_BOOL: v->i[0] = parse_bool(b, kv); break;
    case DC_KEY_WORD:
        if (!(v->word = word_index(key->words, kv->val)))
            BAD(b, kv, "'%s' is not %s", kv->val, words_str(key->words, what, sizeof what));
        break;
    case DC_KEY_IN: break;
    }
}

/* Read the layer's keys as its descriptor says and let its builder make the module; NULL with
 * b->st set (a key's or the layer's message), or NULL with the constructor's error. */
static dc_module *build_from_desc(bctx *b, const dc_layer_desc *d)
{
    dc_layer_args a = {.desc = d, .m = b->m, .name = b->l->name, .rng = b->rng, .x = b->x};
    char s[96];
    if (d->min_ndim && b->x->ndim < d->min_ndim)
        BAD(b, NULL, "needs an input with at least %d dims (batch included), got %s",
            d->min_ndim, dc_shape_str(b->x, s, sizeof s));
    else if (d->max_ndim && b->x->ndim > d->max_ndim)
        BAD(b, NULL, "%s", d->rank_msg ? d->rank_msg : "input has too many dims");
    for (int k = 0; k < d->n_keys && b->st == DC_OK; k++)
        read_key(b, d, k, a.v);
    if (b->st != DC_OK)
        return NULL;
    for (int k = 0; k < d->n_keys; k++) { /* kv addresses are final now */
        spec_kv *kv = spec_kv_find(b->l, d->keys[k].name);
        a.v[k].text = kv ? kv->val : "";
    }
    dc_module *mod = d->build(&a);
    if (!mod && a.msg[0])
        BAD(b, a.bad >= 0 ? spec_kv_find(b->l, d->keys[a.bad].name) : NULL, "%s", a.msg);
    return mod;
}

/* ---- the graph ---- */

typedef struct shape_rec {
    int ndim;
    int64_t shape[DC_MAX_DIMS];
    dc_dtype dtype;
} shape_rec;

static dc_status build_input(dc_spec *s)
{
    spec_layer *l = &s->l[0];
    bctx b = {.s = s, .l = l};
    if (strcmp(l->type, "input"))
        return dc_err(DC_ERR_FORMAT, "%s:%d: the first section must be [input] (with shape = "
                      "...), got [%s]", s->file, l->line, l->type);
    int64_t shape[DC_MAX_DIMS];
    spec_kv *kv = require_kv(&b, "shape", "the input shape without the batch, e.g. 1, 28, 28");
    int n = kv && !b.st ? parse_ints(&b, kv, shape, 1, DC_MAX_DIMS - 1, 1, 1 << 24) : -1;
    spec_kv *dt = get_kv(&b, "dtype", "float32");
    if (dt && !b.st && strcmp(dt->val, "float32") && strcmp(dt->val, "int64"))
        BAD(&b, dt, "'%s' is not float32 or int64", dt->val);
    for (int k = 0; k < l->n_kv && !b.st; k++)
        if (!l->kv[k].used)
            BAD(&b, &l->kv[k], "unknown key (known: shape, dtype)");
    int64_t per = 0; /* one example must be a tensor deepc can hold, with room for a batch */
    if (!b.st && (!dc_shape_numel(n, shape, &per) || per > (INT64_C(1) << 31)))
        BAD(&b, kv, "one example of this shape has more than 2^31 elements");
    if (b.st)
        return b.st;
    s->in_ndim = n;
    memcpy(s->in_shape, shape, (size_t)n * sizeof *shape);
    s->in_dtype = strcmp(dt->val, "int64") ? DC_F32 : DC_I64;
    return DC_OK;
}

/* Spell each known type as its descriptor does (an alias becomes the type), then give unnamed
 * layers "<type><k>" (the first free k). */
static void name_layers(dc_spec *s)
{
    for (int i = 1; i < s->n; i++) {
        const dc_layer_desc *d = dc_layer_find(s->l[i].type);
        if (d)
            snprintf(s->l[i].type, sizeof s->l[i].type, "%s", d->type);
    }
    for (int i = 1; i < s->n; i++) {
        spec_layer *l = &s->l[i];
        for (int k = 1; !*l->name; k++) {
            char cand[64];
            snprintf(cand, sizeof cand, "%.40s%d", l->type, k);
            int taken = !strcmp(cand, "input");
            for (int j = 1; j < s->n && !taken; j++)
                taken = !strcmp(s->l[j].name, cand);
            if (!taken)
                strcpy(l->name, cand);
        }
    }
}

/* Resolve `input = a, b` of layer i into module indices; default the layer before. */
static int resolve_inputs(dc_spec *s, dc_model *m, int i, int *inputs)
{
    spec_layer *l = &s->l[i];
    spec_kv *kv = spec_kv_find(l, "input");
    if (!kv) {
        inputs[0] = i - 2; /* module index of the previous layer (l[0] is [input]) */
        return 1;
    }
    kv->used = 1;
    int n = 0;
    char buf[sizeof kv->val];
    strcpy(buf, kv->val);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        int idx = !strcmp(tok, "input") ? DC_MODEL_INPUT : dc_model_find_module(m, tok);
        if (idx == -1 && strcmp(tok, "input")) {
            int later = 0;
            for (int j = i; j < s->n && !later; j++)
                later = !strcmp(s->l[j].name, tok) ? s->l[j].line : 0;
            if (later)
                dc_err(DC_ERR_FORMAT, "%s:%d: [%s %s] input '%s' is defined at line %d, not "
                       "before this layer (a layer may only use earlier layers, so there are "
                       "no cycles)", s->file, kv->line, l->type, l->name, tok, later);
            else
                dc_err(DC_ERR_FORMAT, "%s:%d: [%s %s] input '%s' is not a layer name (or "
                       "'input')", s->file, kv->line, l->type, l->name, tok);
            return -1;
        }
        if (n == DC_MAX_NODE_INPUTS) {
            dc_err(DC_ERR_FORMAT, "%s:%d: more than %d inputs", s->file, kv->line,
                   DC_MAX_NODE_INPUTS);
            return -1;
        }
        inputs[n++] = idx;
    }
    if (n == 0) {
        dc_err(DC_ERR_FORMAT, "%s:%d: empty input list", s->file, kv->line);
        return -1;
    }
    return n;
}

/* Run the newest module once on zero inputs of the recorded shapes; record its output shape. */
static dc_status infer_shape(dc_spec *s, dc_model *m, dc_ctx *ctx, shape_rec *rec, int i,
                             const int *inputs, int n_in)
{
    spec_layer *l = &s->l[i];
    dc_tensor *xs[DC_MAX_NODE_INPUTS];
    int mi = dc_model_n_modules(m) - 1;
    dc_module *mod = dc_model_module(m, mi);
    for (int k = 0; k < n_in; k++) {
        const shape_rec *r = &rec[inputs[k] + 1];
        if (!(xs[k] = dc_zeros(ctx, r->dtype, r->ndim, r->shape)))
            return DC_ERR_NOMEM;
    }
    dc_tensor *y = mod->forward_n ? mod->forward_n(ctx, mod, xs, n_in)
                                  : mod->forward(ctx, mod, xs[0]);
    if (!y) {
        char in[96];
        dc_err_prefix("%s:%d: [%s %s] does not fit its input %s: ", s->file, l->line, l->type,
                      l->name, dc_shape_str(xs[0], in, sizeof in));
        return DC_ERR_FORMAT;
    }
    shape_rec *r = &rec[mi + 1];
    r->ndim = y->ndim;
    r->dtype = y->dtype;
    memcpy(r->shape, y->shape, sizeof r->shape);
    dc_ctx_reset(ctx);
    return DC_OK;
}

static dc_status build_layer(dc_spec *s, dc_model *m, dc_ctx *ctx, dc_rng *rng, shape_rec *rec,
                             int i)
{
    spec_layer *l = &s->l[i];
    int inputs[DC_MAX_NODE_INPUTS];
    const dc_layer_desc *d = dc_layer_find(l->type);
    if (!strcmp(l->type, "input"))
        return dc_err(DC_ERR_FORMAT, "%s:%d: only one [input] section is allowed", s->file,
                      l->line);
    if (!d) {
        char known[600] = "";
        for (int k = 0; k < dc_layer_count(); k++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? " " : "",
                     dc_layer_at(k)->type);
        return dc_err(DC_ERR_FORMAT, "%s:%d: unknown layer type '%s' (known: %s)", s->file,
                      l->line, l->type, known);
    }
    for (int j = 1; j < i; j++)
        if (!strcmp(s->l[j].name, l->name))
            return dc_err(DC_ERR_FORMAT, "%s:%d: a layer called '%s' exists already (line %d)",
                          s->file, l->line, l->name, s->l[j].line);
    int n_in = resolve_inputs(s, m, i, inputs);
    if (n_in < 0)
        return DC_ERR_FORMAT;
    const shape_rec *r = &rec[inputs[0] + 1];
    bctx b = {.s = s, .l = l, .m = m, .rng = rng};
    if (!(b.x = dc_zeros(ctx, r->dtype, r->ndim, r->shape)))
        return DC_ERR_NOMEM;
    dc_module *mod = build_from_desc(&b, d);
    for (int k = 0; k < l->n_kv && b.st == DC_OK; k++)
        if (!l->kv[k].used) {
            char known[400] = "input";
            for (int j = 0; j < d->n_keys; j++)
                snprintf(known + strlen(known), sizeof known - strlen(known), ", %s",
                         d->keys[j].name);
            BAD(&b, &l->kv[k], "unknown key (known: %s)", known);
        }
    dc_ctx_reset(ctx);
    if (b.st != DC_OK || !mod) {
        if (b.st == DC_OK) /* the constructor refused: its message says why */
            dc_err_prefix("%s:%d: [%s %s] ", s->file, l->line, l->type, l->name);
        free(mod);
        return DC_ERR_FORMAT;
    }
    if (dc_model_add_from(m, mod, n_in, inputs) != DC_OK) {
        dc_err_prefix("%s:%d: ", s->file, l->line);
        return DC_ERR_FORMAT;
    }
    return infer_shape(s, m, ctx, rec, i, inputs, n_in);
}

dc_model *dc_spec_build(dc_spec *s, dc_rng *rng)
{
    if (!s)
        return NULL;
    if (build_input(s) != DC_OK)
        return NULL;
    if (s->n < 2)
        return dc_err_null(DC_ERR_FORMAT, "%s: no layers after [input]", s->file);
    name_layers(s);
    dc_model *m = dc_model_new();
    dc_ctx *ctx = dc_ctx_new(0);
    shape_rec *rec = calloc((size_t)s->n, sizeof *rec); /* rec[0] = input, rec[k+1] = module k */
    dc_status st = m && ctx && rec ? DC_OK : dc_err(DC_ERR_NOMEM, "spec: out of memory");
    if (st == DC_OK) {
        dc_ctx_set_grad(ctx, 0);
        rec[0].ndim = s->in_ndim + 1;
        rec[0].shape[0] = 1;
        memcpy(rec[0].shape + 1, s->in_shape, (size_t)s->in_ndim * sizeof(int64_t));
        rec[0].dtype = s->in_dtype;
    }
    for (int i = 1; i < s->n && st == DC_OK; i++)
        st = build_layer(s, m, ctx, rng, rec, i);
    free(rec);
    dc_ctx_free(ctx);
    if (st != DC_OK) {
        dc_model_free(m);
        return NULL;
    }
    return m;
}
