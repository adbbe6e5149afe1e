/*
 * npy.c - NumPy .npy files, versions 1.0, 2.0 and 3.0.
 *
 * Layout: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for 2.0/3.0), then a
 * Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
 * spaces and ended by '\n', then the raw C-order data. The header is parsed by a small scanner
 * for exactly that literal; nothing from the file is evaluated or trusted before it is checked:
 * the header is capped at 1 MiB, the shape product is overflow-checked, and the data must fill
 * the rest of the file exactly.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <stdlib.h>
#include <string.h>

#define NPY_MAX_HEADER (1u << 20)

typedef struct npy_header {
    dc_io_enc enc;
    int big_endian;
    int fortran;
    int ndim;
    int64_t shape[DC_MAX_DIMS];
} npy_header;

/* A cursor over the header text; why receives the reason of the first failure. */
typedef struct scan {
    const char *p, *end;
    char why[160];
} scan;

static bool bad(scan *s, const char *why)
{
    snprintf(s->why, sizeof s->why, "%s", why);
    return false;
}

static void ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool eat(scan *s, char c)
{
    ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* A quoted Python string without escapes, 'x' or "x", into out[cap]. */
static bool py_str(scan *s, char *out, size_t cap)
{
    ws(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
        return bad(s, "expected a quoted string");
    char q = *s->p++;
    size_t k = 0;
    while (s->p < s->end && *s->p != q) {
        if (*s->p == '\\')
            return bad(s, "escapes in header strings are not supported");
        if (k + 1 >= cap)
            return bad(s, "string too long");
        out[k++] = *s->p++;
    }
    if (s->p >= s->end)
        return bad(s, "unterminated string");
    s->p++;
    out[k] = '\0';
    return true;
}

/* A Python int (optional sign, optional Python 2 'L' suffix), overflow-checked. */
static bool py_int(scan *s, int64_t *v)
{
    ws(s);
    int neg = s->p < s->end && *s->p == '-';
    if (s->p < s->end && (*s->p == '-' || *s->p == '+'))
        s->p++;
    const char *start = s->p;
    int64_t x = 0;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        int d = *s->p++ - '0';
        if (x > (INT64_MAX - d) / 10)
            return bad(s, "dimension does not fit in 64 bits");
        x = x * 10 + d;
    }
    if (s->p == start)
        return bad(s, "expected an integer in the shape");
    if (s->p < s->end && (*s->p == 'L' || *s->p == 'l'))
        s->p++;
    *v = neg ? -x : x;
    return true;
}

/* (d0, d1, ...) with an optional trailing comma; at most DC_MAX_DIMS entries, none negative. */
static bool py_shape(scan *s, npy_header *h)
{
    if (!eat(s, '('))
        return bad(s, "'shape' must be a tuple");
    h->ndim = 0;
    if (eat(s, ')'))
        return true;
    for (;;) {
        int64_t v = 0;
        if (!py_int(s, &v))
            return false;
        if (v < 0) {
            snprintf(s->why, sizeof s->why, "negative dimension %lld in 'shape'", (long long)v);
            return false;
        }
        if (h->ndim == DC_MAX_DIMS)
            return bad(s, "'shape' has more than 5 dimensions (deepc supports at most 5)");
        h->shape[h->ndim++] = v;
        bool comma = eat(s, ',');
        if (eat(s, ')'))
            return true;
        if (!comma)
            return bad(s, "expected ',' or ')' in 'shape'");
    }
}

/* '<f4' and friends -> encoding and byte order. */
static bool map_descr(scan *s, const char *d, npy_header *h)
{
    static const struct { const char *code; dc_io_enc enc; } codes[] = {
        {"f2", DC_ENC_F16}, {"f4", DC_ENC_F32}, {"f8", DC_ENC_F64}, {"b1", DC_ENC_BOOL},
        {"?", DC_ENC_BOOL}, {"i1", DC_ENC_I8}, {"u1", DC_ENC_U8}, {"i2", DC_ENC_I16},
        {"u2", DC_ENC_U16}, {"i4", DC_ENC_I32}, {"u4", DC_ENC_U32}, {"i8", DC_ENC_I64},
    };
    const char *c = d;
    char order = '=';
    if (*c == '<' || *c == '>' || *c == '|' || *c == '=')
        order = *c++;
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        if (strcmp(c, codes[i].code) != 0)
            continue;
        h->enc = codes[i].enc;
        if (order == '|' && dc_io_enc_size(h->enc) > 1)
            break;
        const uint16_t one = 1;
        unsigned char lo;
        memcpy(&lo, &one, 1);
        h->big_endian = order == '>' || (order == '=' && lo != 1);
        return true;
    }
    snprintf(s->why, sizeof s->why,
             "unsupported dtype '%.40s' (supported: float16/32/64, int8/16/32/64, uint8/16/32, "
             "bool)", d);
    return false;
}

/* One "key: value" pair of the header dict; seen collects the keys found. */
static bool header_item(scan *s, npy_header *h, unsigned *seen)
{
    char key[32], val[64];
    unsigned bit;
    if (!py_str(s, key, sizeof key))
        return false;
    if (!eat(s, ':'))
        return bad(s, "expected ':' after a key");
    if (strcmp(key, "descr") == 0) {
        bit = 1;
        ws(s);
        if (s->p < s->end && *s->p == '[')
            return bad(s, "structured dtypes (a list 'descr') are not supported");
        if (!py_str(s, val, sizeof val) || !map_descr(s, val, h))
            return false;
    } else if (strcmp(key, "fortran_order") == 0) {
        bit = 2;
        ws(s);
        size_t left = (size_t)(s->end - s->p);
        if (left >= 4 && memcmp(s->p, "True", 4) == 0)
            h->fortran = 1, s->p += 4;
        else if (left >= 5 && memcmp(s->p, "False", 5) == 0)
            h->fortran = 0, s->p += 5;
        else
            return bad(s, "'fortran_order' must be True or False");
    } else if (strcmp(key, "shape") == 0) {
        bit = 4;
        if (!py_shape(s, h))
            return false;
    } else {
        snprintf(s->why, sizeof s->why, "unexpected key '%s'", key);
        return false;
    }
    if (*seen & bit)
        return bad(s, "a key appears twice");
    *seen |= bit;
    return true;
}

static bool parse_header(scan *s, npy_header *h)
{
    unsigned seen = 0;
    if (!eat(s, '{'))
        return bad(s, "the header is not a dict");
    while (!eat(s, '}')) {
        if (!header_item(s, h, &seen))
            return false;
        if (!eat(s, ',')) {
            if (!eat(s, '}'))
                return bad(s, "expected ',' or '}'");
            break;
        }
    }
    ws(s);
    if (s->p != s->end)
        return bad(s, "unexpected text after the header dict");
    if (seen != 7)
        return bad(s, !(seen & 1) ? "missing 'descr'" : !(seen & 2) ? "missing 'fortran_order'"
                                                                    : "missing 'shape'");
    return true;
}

/* Magic, version and header length; *hoff receives where the header text starts. */
static dc_status read_prefix(dc_io_file *f, uint32_t *hlen, int64_t *hoff)
{
    unsigned char pre[12] = {0};
    size_t have = f->size < 12 ? (size_t)f->size : 12;
    dc_status st = dc_io_read_at(f, 0, pre, have, "the .npy prefix");
    if (st)
        return st;
    if (have < 6 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return dc_err(DC_ERR_FORMAT, "%s: not a .npy file (bad magic; %lld bytes)", f->path,
                      (long long)f->size);
    if (have < 10)
        return dc_err(DC_ERR_FORMAT, "%s: truncated .npy prefix (%lld bytes)", f->path,
                      (long long)f->size);
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return dc_err(DC_ERR_FORMAT, "%s: unsupported .npy version %d.%d (1.0, 2.0, 3.0 are)",
                      f->path, major, minor);
    if (major == 1) {
        *hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
        *hoff = 10;
    } else {
        if (have < 12)
            return dc_err(DC_ERR_FORMAT, "%s: truncated .npy prefix (%lld bytes)", f->path,
                          (long long)f->size);
        *hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
                (uint32_t)pre[11] << 24;
        *hoff = 12;
    }
    if (*hlen > NPY_MAX_HEADER)
        return dc_err(DC_ERR_FORMAT, "%s: .npy header length %u exceeds the 1 MiB limit",
                      f->path, (unsigned)*hlen);
    if (*hoff + (int64_t)*hlen > f->size)
        return dc_err(DC_ERR_FORMAT, "%s: truncated .npy header: it claims %u bytes, the file "
                      "has %lld after the prefix", f->path, (unsigned)*hlen,
                      (long long)(f->size - *hoff));
    return DC_OK;
}

static dc_status read_header(dc_io_file *f, npy_header *h, int64_t *data_off)
{
    uint32_t hlen = 0;
    int64_t hoff = 0;
    dc_status st = read_prefix(f, &hlen, &hoff);
    if (st)
        return st;
    char *text = malloc(hlen + 1u);
    if (!text)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory for the header", f->path);
    st = dc_io_read_at(f, hoff, text, hlen, "the .npy header");
    if (st == DC_OK) {
        scan s = {.p = text, .end = text + hlen};
        memset(h, 0, sizeof *h);
        if (!parse_header(&s, h))
            st = dc_err(DC_ERR_FORMAT, "%s: bad .npy header at byte %lld: %s", f->path,
                        (long long)(hoff + (s.p - text)), s.why);
    }
    free(text);
    *data_off = hoff + hlen;
    return st;
}

dc_tensor *dc_npy_load(const char *path)
{
    dc_io_file f;
    npy_header h;
    int64_t off = 0, numel = 0;
    if (dc_io_open(&f, path) != DC_OK)
        return NULL;
    dc_tensor *t = NULL;
    if (read_header(&f, &h, &off) != DC_OK)
        goto done;
    int n_big = 0; /* Fortran order is the same layout when at most one dim exceeds 1 */
    for (int i = 0; i < h.ndim; i++)
        n_big += h.shape[i] > 1;
    if (h.fortran && n_big > 1) {
        dc_err(DC_ERR_FORMAT, "%s: Fortran order not supported; save with "
               "np.ascontiguousarray", path);
        goto done;
    }
    if (!dc_shape_numel(h.ndim, h.shape, &numel)) {
        dc_err(DC_ERR_FORMAT, "%s: the shape's element count overflows (more than 2^40)", path);
        goto done;
    }
    int64_t need = numel * dc_io_enc_size(h.enc), have = f.size - off;
    if (have != need) {
        dc_err(DC_ERR_FORMAT, have < need ? "%s: truncated data: the shape needs %lld bytes, "
                                            "the file has %lld"
                                          : "%s: %lld data bytes expected but the file has "
                                            "%lld (trailing garbage)",
               path, (long long)need, (long long)have);
        goto done;
    }
    t = dc_tensor_new(dc_io_enc_dtype(h.enc), h.ndim, h.shape);
    if (!t) {
        dc_err_prefix("%s: ", path);
        goto done;
    }
    if (dc_io_read_convert(&f, off, h.enc, h.big_endian, t, "the .npy data") != DC_OK) {
        dc_tensor_free(t);
        t = NULL;
    }
done:
    dc_io_close(&f);
    return t;
}

/* ---- writing ---- */

typedef struct npy_out {
    const dc_tensor *t;
    char header[256];
    size_t hlen;
} npy_out;

static int npy_write(FILE *f, void *user)
{
    npy_out *o = user;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(o->hlen & 0xff), (unsigned char)(o->hlen >> 8)};
    int e = dc_io_fwrite(f, pre, sizeof pre);
    if (!e)
        e = dc_io_fwrite(f, o->header, o->hlen);
    if (!e)
        e = dc_io_fwrite_tensor_le(f, o->t);
    return e;
}

dc_status dc_npy_save(const char *path, const dc_tensor *t)
{
    npy_out o = {.t = t};
    char shape[160];
    size_t k = 0;
    if (!t || (t->dtype != DC_F32 && t->dtype != DC_I64) || t->ndim < 0 ||
        t->ndim > DC_MAX_DIMS || (t->numel > 0 && !t->data))
        return dc_err(DC_ERR_ARG, "%s: dc_npy_save needs a float32 or int64 tensor",
                      path ? path : "(null)");
    shape[k++] = '(';
    for (int i = 0; i < t->ndim; i++)
        k += (size_t)snprintf(shape + k, sizeof shape - k, i ? ", %lld" : "%lld",
                              (long long)t->shape[i]);
    snprintf(shape + k, sizeof shape - k, t->ndim == 1 ? ",)" : ")");
    int n = snprintf(o.header, sizeof o.header, "{'descr': '%s', 'fortran_order': False, "
                     "'shape': %s, }", t->dtype == DC_F32 ? "<f4" : "<i8", shape);
    /* pad with spaces and a final '\n' so the data starts at a multiple of 64 */
    size_t len = (size_t)n, total = 10 + len + 1;
    size_t pad = (64 - total % 64) % 64;
    memset(o.header + len, ' ', pad);
    o.header[len + pad] = '\n';
    o.hlen = len + pad + 1;
    return dc_io_write_atomic(path, npy_write, &o);
}
