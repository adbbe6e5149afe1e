/*
 * safetensors.c - .safetensors state dicts (model save / load on top of them: model_io.c).
 *
 * Layout: u64 LE header length N, N bytes of JSON
 *   {"__metadata__": {"k": "v"}, "fc1.weight": {"dtype": "F32", "shape": [4, 3],
 *    "data_offsets": [begin, end]}, ...}
 * (padded with spaces), then the byte buffer; offsets are relative to the buffer. Reading checks
 * everything before allocating a tensor: N against a 100 MiB cap and the file size, every dtype
 * and shape (at most 5 dims, overflow-checked product), every [begin, end) inside the buffer with
 * end - begin == numel · itemsize, unique names, and offsets that tile the buffer exactly (no
 * overlap, no gap, nothing after the last tensor: the reference implementation's rule).
 *
 * Writing follows the reference implementation (huggingface/safetensors): tensors ordered by
 * dtype alignment, largest first (so I64 before F32), then by name; offsets increase in that
 * order with no gaps; the header is padded with spaces to a multiple of 8, so every tensor starts
 * aligned to its element size; "__metadata__" is {"format":"pt"}.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"
#include "io/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER (INT64_C(100) << 20)
#define ST_MAX_TENSORS (1 << 20)

void dc_tdict_free(dc_tdict *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n; i++) {
        if (d->names)
            free(d->names[i]);
        if (d->tensors)
            dc_tensor_free(d->tensors[i]);
    }
    free(d->names);
    free(d->tensors);
    for (int i = 0; i < d->n_meta; i++) {
        free(d->meta_keys[i]);
        free(d->meta_vals[i]);
    }
    free(d->meta_keys);
    free(d->meta_vals);
    free(d);
}

const char *dc_tdict_meta(const dc_tdict *d, const char *key)
{
    for (int i = 0; d && key && i < d->n_meta; i++)
        if (!strcmp(d->meta_keys[i], key))
            return d->meta_vals[i];
    return NULL;
}

/* Copy the "__metadata__" object at node v (already checked to hold strings) into d. */
static dc_status copy_metadata(const char *path, const dc_json *doc, int32_t v, dc_tdict *d)
{
    const int32_t n = doc->nodes[v].n;
    d->meta_keys = calloc(n ? (size_t)n : 1, sizeof *d->meta_keys);
    d->meta_vals = calloc(n ? (size_t)n : 1, sizeof *d->meta_vals);
    if (!d->meta_keys || !d->meta_vals)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory for the metadata", path);
    for (int32_t k = v + 1, m = 0; m < n; m++, k = doc->nodes[k + 1].end) {
        d->meta_keys[m] = strdup(doc->nodes[k].s);
        d->meta_vals[m] = strdup(doc->nodes[k + 1].s);
        d->n_meta = m + 1;
        if (!d->meta_keys[m] || !d->meta_vals[m])
            return dc_err(DC_ERR_NOMEM, "%s: out of memory for the metadata", path);
    }
    return DC_OK;
}

dc_tensor *dc_tdict_get(const dc_tdict *d, const char *name)
{
    if (!d || !name)
        return NULL;
    for (int i = 0; i < d->n; i++)
        if (d->names[i] && strcmp(d->names[i], name) == 0)
            return d->tensors[i];
    return NULL;
}

/* ---- reading ---- */

typedef struct st_entry {
    const char *name; /* in the JSON pool */
    dc_io_enc enc;
    int ndim;
    int64_t shape[DC_MAX_DIMS];
    int64_t begin, end;
} st_entry;

static bool map_dtype(const char *s, dc_io_enc *enc)
{
    static const struct { const char *name; dc_io_enc enc; } map[] = {
        {"F32", DC_ENC_F32}, {"F64", DC_ENC_F64}, {"F16", DC_ENC_F16}, {"BF16", DC_ENC_BF16},
        {"I64", DC_ENC_I64}, {"I32", DC_ENC_I32}, {"I16", DC_ENC_I16}, {"I8", DC_ENC_I8},
        {"U8", DC_ENC_U8}, {"U16", DC_ENC_U16}, {"U32", DC_ENC_U32}, {"BOOL", DC_ENC_BOOL},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(s, map[i].name) == 0) {
            *enc = map[i].enc;
            return true;
        }
    return false;
}

/* Read an array node of integers into v[max]; returns the count or -1. */
static int int_array(const dc_json *doc, int32_t a, int64_t *v, int max)
{
    const dc_json_node *n = &doc->nodes[a];
    if (n->type != DC_JSON_ARRAY || n->n > max)
        return -1;
    for (int32_t i = 0; i < n->n; i++) {
        if (doc->nodes[a + 1 + i].type != DC_JSON_INT)
            return -1;
        v[i] = doc->nodes[a + 1 + i].i;
    }
    return n->n;
}

/* One tensor's {"dtype", "shape", "data_offsets"} object; buf_bytes bounds the offsets. */
static dc_status parse_entry(const char *path, const dc_json *doc, int32_t v, int64_t buf_bytes,
                             st_entry *e)
{
    const char *nm = e->name;
    int32_t dt = dc_json_get(doc, v, "dtype"), sh = dc_json_get(doc, v, "shape");
    int32_t of = dc_json_get(doc, v, "data_offsets");
    int64_t offs[2] = {0, 0}, numel = 0;
    if (doc->nodes[v].type != DC_JSON_OBJECT || dt < 0 || sh < 0 || of < 0 ||
        doc->nodes[v].n != 3)
        return dc_err(DC_ERR_FORMAT, "%s: tensor '%.200s' must be an object with exactly "
                      "\"dtype\", \"shape\" and \"data_offsets\"", path, nm);
    if (doc->nodes[dt].type != DC_JSON_STRING || !map_dtype(doc->nodes[dt].s, &e->enc))
        return dc_err(DC_ERR_FORMAT, "%s: tensor '%.200s': unsupported dtype %.40s (supported: "
                      "F32 F64 F16 BF16 I64 I32 I16 I8 U8 U16 U32 BOOL)", path, nm,
                      doc->nodes[dt].type == DC_JSON_STRING ? doc->nodes[dt].s : "(not a string)");
    if (doc->nodes[sh].type == DC_JSON_ARRAY && doc->nodes[sh].n > DC_MAX_DIMS)
        return dc_err(DC_ERR_FORMAT, "%s: tensor '%.200s' has %d dims; deepc supports at most 5",
                      path, nm, (int)doc->nodes[sh].n);
    e->ndim = int_array(doc, sh, e->shape, DC_MAX_DIMS);
    if (e->ndim < 0)
        return dc_err(DC_ERR_FORMAT, "%s: tensor '%.200s': \"shape\" must be an array of "
                      "integers", path, nm);
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] < 0)
            return dc_err(DC_ERR_FORMAT, "%s: tensor '%.200s': negative dimension %lld", path,
                          nm, (long long)e->shape[i]);
    if (!dc_shape_numel(e->ndim, e->shape, &numel))
        return dc_err(DC_ERR_FORMAT, "%s: tensor '%.200s': the shape's element count overflows "
                      "(more than 2^40)", path, nm);
    if (int_array(doc, of, offs, 2) != 2)
        return dc_err(DC_ERR_FORMAT, "%s: tensor '%.200s': \"data_offsets\" must be two "
                      "integers [begin, end]", path, nm);
    e->begin = offs[0];
    e->end = offs[1];
    if (e->begin < 0 || e->begin > e->end || e->end > buf_bytes)
        return dc_err(DC_ERR_FORMAT, "%s: tensor '%.200s': data_offsets [%lld, %lld] outside "
                      "the %lld-byte data buffer", path, nm, (long long)e->begin,
                      (long long)e->end, (long long)buf_bytes);
    int64_t need = numel * dc_io_enc_size(e->enc);
    if (e->end - e->begin != need)
        return dc_err(DC_ERR_FORMAT, "%s: tensor '%.200s': data_offsets [%lld, %lld] hold %lld "
                      "bytes but dtype %s and its shape need %lld", path, nm,
                      (long long)e->begin, (long long)e->end, (long long)(e->end - e->begin),
                      doc->nodes[dt].s, (long long)need);
    return DC_OK;
}

static dc_status check_metadata(const char *path, const dc_json *doc, int32_t v)
{
    const dc_json_node *n = &doc->nodes[v];
    bool ok = n->type == DC_JSON_OBJECT;
    for (int32_t k = v + 1, m = 0; ok && m < n->n; m++, k = doc->nodes[k + 1].end)
        ok = doc->nodes[k + 1].type == DC_JSON_STRING;
    return ok ? DC_OK : dc_err(DC_ERR_FORMAT, "%s: \"__metadata__\" must be an object of "
                               "strings", path);
}

int dc_io_cmp_named(const void *a, const void *b)
{
    const dc_io_named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->i - y->i;
}

dc_io_named *dc_io_sort_names(const char *const *names, int n)
{
    dc_io_named *s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s)
        return NULL;
    for (int i = 0; i < n; i++)
        s[i] = (dc_io_named){names[i], i};
    qsort(s, (size_t)n, sizeof *s, dc_io_cmp_named);
    return s;
}

/* Fail on a name that appears twice. */
static dc_status check_unique(const char *path, const st_entry *e, int n)
{
    dc_io_named *s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        s[i] = (dc_io_named){e[i].name, i};
    qsort(s, (size_t)n, sizeof *s, dc_io_cmp_named);
    dc_status st = DC_OK;
    for (int i = 1; i < n && st == DC_OK; i++)
        if (strcmp(s[i - 1].name, s[i].name) == 0)
            st = dc_err(DC_ERR_FORMAT, "%s: tensor name '%.200s' appears twice", path,
                        s[i].name);
    free(s);
    return st;
}

static int cmp_extent(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* The tensors must tile the data buffer exactly, as the reference implementation requires:
 * sorted by offset, each begins where the one before ends, the first at 0 and the last at the
 * buffer's end. So no tensor overlaps another (a forged file could alias two weights) and no
 * byte is unaccounted for. */
static dc_status check_tiling(const char *path, const st_entry *e, int n, int64_t buf_bytes)
{
    const st_entry **s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        s[i] = &e[i];
    qsort(s, (size_t)n, sizeof *s, cmp_extent);
    dc_status st = DC_OK;
    int64_t at = 0;
    for (int i = 0; i < n && st == DC_OK; i++) {
        if (s[i]->begin < at)
            st = dc_err(DC_ERR_FORMAT, "%s: tensors '%.200s' [%lld, %lld) and '%.200s' [%lld, "
                        "%lld) overlap in the data buffer", path, s[i - 1]->name,
                        (long long)s[i - 1]->begin, (long long)s[i - 1]->end, s[i]->name,
                        (long long)s[i]->begin, (long long)s[i]->end);
        else if (s[i]->begin > at)
            st = dc_err(DC_ERR_FORMAT, "%s: bytes [%lld, %lld) of the data buffer belong to no "
                        "tensor (the offsets must tile the buffer)", path, (long long)at,
                        (long long)s[i]->begin);
        at = s[i]->end;
    }
    if (st == DC_OK && at != buf_bytes)
        st = dc_err(DC_ERR_FORMAT, "%s: the tensors end at byte %lld of the %lld-byte data "
                    "buffer (the offsets must tile the buffer)", path, (long long)at,
                    (long long)buf_bytes);
    free(s);
    return st;
}

/* Every member of the top-level object -> entries (the metadata is checked and skipped). */
static dc_status parse_entries(const char *path, const dc_json *doc, int64_t buf_bytes,
                               st_entry **out, int *n_out)
{
    const dc_json_node *top = &doc->nodes[0];
    if (top->type != DC_JSON_OBJECT)
        return dc_err(DC_ERR_FORMAT, "%s: the safetensors header must be a JSON object, got "
                      "%s", path, dc_json_type_name(top->type));
    int32_t n_meta = dc_json_get(doc, 0, "__metadata__") >= 0;
    if (top->n - n_meta > ST_MAX_TENSORS)
        return dc_err(DC_ERR_FORMAT, "%s: more than %d tensors", path, ST_MAX_TENSORS);
    st_entry *e = calloc(top->n ? (size_t)top->n : 1, sizeof *e);
    if (!e)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    int n = 0;
    dc_status st = DC_OK;
    for (int32_t k = 1, m = 0; st == DC_OK && m < top->n; m++, k = doc->nodes[k + 1].end) {
        if (strcmp(doc->nodes[k].s, "__metadata__") == 0) {
            st = check_metadata(path, doc, k + 1);
            continue;
        }
        e[n].name = doc->nodes[k].s;
        st = parse_entry(path, doc, k + 1, buf_bytes, &e[n]);
        n++;
    }
    if (st == DC_OK)
        st = check_unique(path, e, n);
    if (st == DC_OK)
        st = check_tiling(path, e, n, buf_bytes);
    if (st != DC_OK) {
        free(e);
        return st;
    }
    *out = e;
    *n_out = n;
    return DC_OK;
}

/* Read and parse the header; *buf_off receives where the byte buffer starts. */
static dc_status read_header(dc_io_file *f, dc_json *doc, int64_t *buf_off)
{
    unsigned char b[8];
    if (f->size < 8)
        return dc_err(DC_ERR_FORMAT, "%s: too short for a safetensors file (%lld bytes)",
                      f->path, (long long)f->size);
    dc_status st = dc_io_read_at(f, 0, b, 8, "the header length");
    if (st)
        return st;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b[i];
    if (n > (uint64_t)ST_MAX_HEADER)
        return dc_err(DC_ERR_FORMAT, "%s: safetensors header length %llu exceeds the 100 MiB "
                      "limit (not a safetensors file?)", f->path, (unsigned long long)n);
    if ((int64_t)n > f->size - 8)
        return dc_err(DC_ERR_FORMAT, "%s: safetensors header length %llu exceeds the %lld "
                      "bytes after it (truncated?)", f->path, (unsigned long long)n,
                      (long long)(f->size - 8));
    char *text = malloc(n ? (size_t)n : 1);
    if (!text)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory for a %llu-byte header", f->path,
                      (unsigned long long)n);
    st = dc_io_read_at(f, 8, text, (size_t)n, "the header");
    if (st == DC_OK) {
        st = dc_json_parse(doc, text, (size_t)n);
        if (st)
            dc_err_prefix("%s: safetensors header: ", f->path);
    }
    free(text);
    *buf_off = 8 + (int64_t)n;
    return st;
}

/* Allocate and read every entry into a new dict. */
static dc_tdict *load_entries(dc_io_file *f, const st_entry *e, int n, int64_t buf_off,
                              dc_status *status)
{
    dc_tdict *d = calloc(1, sizeof *d);
    if (d) {
        d->names = calloc(n ? (size_t)n : 1, sizeof *d->names);
        d->tensors = calloc(n ? (size_t)n : 1, sizeof *d->tensors);
    }
    if (!d || !d->names || !d->tensors) {
        dc_tdict_free(d);
        *status = dc_err(DC_ERR_NOMEM, "%s: out of memory", f->path);
        return NULL;
    }
    d->n = n;
    for (int i = 0; i < n; i++) {
        char what[256];
        d->names[i] = strdup(e[i].name);
        d->tensors[i] = dc_tensor_new(dc_io_enc_dtype(e[i].enc), e[i].ndim, e[i].shape);
        if (!d->names[i] || !d->tensors[i]) {
            dc_err_prefix("%s: tensor '%.200s': ", f->path, e[i].name);
            *status = DC_ERR_NOMEM;
            break;
        }
        d->tensors[i]->name = d->names[i];
        snprintf(what, sizeof what, "tensor '%.200s'", e[i].name);
        *status = dc_io_read_convert(f, buf_off + e[i].begin, e[i].enc, 0, d->tensors[i], what);
        if (*status)
            break;
    }
    if (*status) {
        dc_tdict_free(d);
        return NULL;
    }
    return d;
}

dc_tdict *dc_io_safetensors_read(const char *path, dc_status *status)
{
    dc_io_file f;
    dc_json doc = {0};
    st_entry *e = NULL;
    int n = 0;
    int64_t buf_off = 0;
    dc_tdict *d = NULL;
    *status = dc_io_open(&f, path);
    if (*status)
        return NULL;
    *status = read_header(&f, &doc, &buf_off);
    if (*status == DC_OK)
        *status = parse_entries(path, &doc, f.size - buf_off, &e, &n);
    if (*status == DC_OK)
        d = load_entries(&f, e, n, buf_off, status);
    for (int32_t k = 1, m = 0; d && *status == DC_OK && m < doc.nodes[0].n;
         m++, k = doc.nodes[k + 1].end)
        if (strcmp(doc.nodes[k].s, "__metadata__") == 0)
            *status = copy_metadata(path, &doc, k + 1, d);
    if (*status && d) {
        dc_tdict_free(d);
        d = NULL;
    }
    free(e);
    dc_json_free(&doc);
    dc_io_close(&f);
    return d;
}

dc_tdict *dc_safetensors_read(const char *path)
{
    dc_status st;
    return dc_io_safetensors_read(path, &st);
}

/* ---- writing ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) DC_PRINTF(2, 3);
static void sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        if (b->oom)
            return;
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)k < room) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap - b->len <= (size_t)k)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A JSON string literal for name (quotes, backslashes and control bytes escaped). */
static void sb_json_str(sbuf *b, const char *s)
{
    sb_add(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            sb_add(b, "\\%c", c);
        else if (c < 0x20)
            sb_add(b, "\\u%04x", c);
        else
            sb_add(b, "%c", c);
    }
    sb_add(b, "\"");
}

typedef struct st_out {
    const char *const *names;
    const dc_tensor *const *tensors;
    int *order;
    int n;
    int n_meta;
    const char *const *keys, *const *vals;
    sbuf hdr;
} st_out;

static int st_write_fn(FILE *f, void *user)
{
    st_out *o = user;
    unsigned char len[8];
    uint64_t n = o->hdr.len;
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    int e = dc_io_fwrite(f, len, 8);
    if (!e)
        e = dc_io_fwrite(f, o->hdr.p, o->hdr.len);
    for (int i = 0; i < o->n && !e; i++)
        e = dc_io_fwrite_tensor_le(f, o->tensors[o->order[i]]);
    return e;
}

/* Check the arguments; o->order receives the write order (I64 group first, then by name). */
static dc_status plan_order(const char *path, st_out *o)
{
    for (int i = 0; i < o->n; i++) {
        const char *nm = o->names[i];
        const dc_tensor *t = o->tensors[i];
        if (!nm || !*nm || strcmp(nm, "__metadata__") == 0 || !dc_json_utf8_valid(nm, strlen(nm)))
            return dc_err(DC_ERR_ARG, "%s: tensor %d has no name, an invalid UTF-8 name or the "
                          "reserved name __metadata__", path, i);
        if (!t || (t->dtype != DC_F32 && t->dtype != DC_I64) || t->ndim < 0 ||
            t->ndim > DC_MAX_DIMS || (t->numel > 0 && !t->data))
            return dc_err(DC_ERR_ARG, "%s: tensor '%.200s' is missing or not float32/int64",
                          path, nm);
    }
    dc_io_named *s = dc_io_sort_names(o->names, o->n);
    if (!s)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    dc_status st = DC_OK;
    for (int i = 1; i < o->n && st == DC_OK; i++)
        if (strcmp(s[i - 1].name, s[i].name) == 0)
            st = dc_err(DC_ERR_ARG, "%s: tensor name '%.200s' given twice", path, s[i].name);
    /* the name-sorted order, partitioned stably: int64 tensors first, then float32 */
    int k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < o->n; i++)
            if ((o->tensors[s[i].i]->dtype == DC_I64) == (pass == 0))
                o->order[k++] = s[i].i;
    free(s);
    return st;
}

static void build_header(st_out *o)
{
    sbuf *b = &o->hdr;
    int64_t off = 0;
    sb_add(b, "{\"__metadata__\":{\"format\":\"pt\"");
    for (int i = 0; i < o->n_meta; i++) {
        sb_add(b, ",");
        sb_json_str(b, o->keys[i]);
        sb_add(b, ":");
        sb_json_str(b, o->vals[i]);
    }
    sb_add(b, "}");
    for (int i = 0; i < o->n; i++) {
        const dc_tensor *t = o->tensors[o->order[i]];
        int64_t bytes = t->numel * (t->dtype == DC_I64 ? 8 : 4);
        sb_add(b, ",");
        sb_json_str(b, o->names[o->order[i]]);
        sb_add(b, ":{\"dtype\":\"%s\",\"shape\":[", t->dtype == DC_I64 ? "I64" : "F32");
        for (int d = 0; d < t->ndim; d++)
            sb_add(b, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        sb_add(b, "],\"data_offsets\":[%lld,%lld]}", (long long)off, (long long)(off + bytes));
        off += bytes;
    }
    sb_add(b, "}");
    while (!b->oom && b->len % 8 != 0)
        sb_add(b, " ");
}

dc_status dc_safetensors_write(const char *path, int n, const char *const *names,
                               const dc_tensor *const *tensors)
{
    return dc_safetensors_write_meta(path, n, names, tensors, 0, NULL, NULL);
}

dc_status dc_safetensors_write_meta(const char *path, int n, const char *const *names,
                                    const dc_tensor *const *tensors, int n_meta,
                                    const char *const *keys, const char *const *vals)
{
    st_out o = {.names = names, .tensors = tensors, .n = n, .n_meta = n_meta, .keys = keys,
                .vals = vals};
    if (!path || n < 0 || (n > 0 && (!names || !tensors)) || n_meta < 0 ||
        (n_meta > 0 && (!keys || !vals)))
        return dc_err(DC_ERR_ARG, "%s: dc_safetensors_write: bad arguments",
                      path ? path : "(null)");
    for (int i = 0; i < n_meta; i++)
        if (!keys[i] || !vals[i] || !strcmp(keys[i], "format") ||
            !dc_json_utf8_valid(keys[i], strlen(keys[i])) ||
            !dc_json_utf8_valid(vals[i], strlen(vals[i])))
            return dc_err(DC_ERR_ARG, "%s: metadata %d: a key other than \"format\" and a value, "
                          "both valid UTF-8, are needed", path, i);
    o.order = malloc((size_t)(n ? n : 1) * sizeof *o.order);
    if (!o.order)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    dc_status st = plan_order(path, &o);
    if (st == DC_OK) {
        build_header(&o);
        st = o.hdr.oom ? dc_err(DC_ERR_NOMEM, "%s: out of memory for the header", path)
                       : dc_io_write_atomic(path, st_write_fn, &o);
    }
    free(o.hdr.p);
    free(o.order);
    return st;
}
