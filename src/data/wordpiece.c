/*
 * wordpiece.c - BERT's tokenizer: the basic tokenizer of Hugging Face's BertTokenizer (clean,
 * CJK split, NFC, whitespace split, lower-casing, accent stripping, punctuation split; the rules
 * are listed with dc_wp_opts in deepc.h), greedy longest-match WordPiece over a hashed
 * vocabulary, decoding, and the standard vocab.txt (one token a line, id = line number).
 *
 * The basic tokenizer streams: the text is decoded once, one whitespace-separated word at a time
 * is normalised in growable code-point buffers, and every final word is handed to a callback, so
 * encoding allocates nothing per word. The character classes and mappings are in
 * wordpiece_unicode.c.
 */
#define _POSIX_C_SOURCE 200809L
#include "data/wordpiece_internal.h"
#include "io/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const special_str[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

dc_wp_opts dc_wp_defaults(void)
{
    dc_wp_opts o = {1, -1, 1, 1, 100};
    return o;
}

/* ---- id lists and word lists ---- */

dc_status dc_ids_push(dc_ids *l, int64_t id)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 256;
        int64_t *p = (uint64_t)cap <= SIZE_MAX / sizeof *p
                         ? realloc(l->ids, (size_t)cap * sizeof *p) : NULL;
        if (!p)
            return dc_err(DC_ERR_NOMEM, "out of memory for %lld token ids", (long long)cap);
        l->ids = p;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return DC_OK;
}

void dc_ids_free(dc_ids *l)
{
    if (!l)
        return;
    free(l->ids);
    memset(l, 0, sizeof *l);
}

void dc_wp_words_free(dc_wp_words *w)
{
    if (!w)
        return;
    free(w->buf);
    free(w->off);
    memset(w, 0, sizeof *w);
}

static int words_add(const char *word, size_t len, size_t nchars, void *user)
{
    dc_wp_words *w = user;
    if (w->len + len + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + len + 1)
            cap *= 2;
        char *p = realloc(w->buf, cap);
        if (!p)
            return DC_ERR_NOMEM;
        w->buf = p;
        w->cap = cap;
    }
    if (w->n == w->cap_n) {
        int64_t cap = w->cap_n ? w->cap_n * 2 : 256;
        int64_t *p = realloc(w->off, (size_t)cap * sizeof *p);
        if (!p)
            return DC_ERR_NOMEM;
        w->off = p;
        w->cap_n = cap;
    }
    w->off[w->n++] = (int64_t)w->len;
    memcpy(w->buf + w->len, word, len + 1);
    w->len += len + 1;
    (void)nchars;
    return 0;
}

dc_status dc_wp_basic(const dc_wp_opts *o, const char *text, size_t n, dc_wp_words *out)
{
    if (!out || (n && !text))
        return dc_err(DC_ERR_ARG, "wordpiece basic: NULL argument");
    dc_wp_opts d = o ? *o : dc_wp_defaults();
    int rc = dc_wp_basic_each(&d, text, n, words_add, out);
    if (rc)
        return dc_err(DC_ERR_NOMEM, "wordpiece basic: out of memory for %lld words",
                      (long long)out->n);
    return DC_OK;
}

/* ---- the basic tokenizer ---- */

/* Scratch of the basic tokenizer: the current whitespace word (raw) and its normalised forms. */
typedef struct scan {
    const dc_wp_opts *o;
    dc_wp_word_fn fn;
    void *user;
    uint32_t *raw, *a, *b; /* raw: cap_raw; a, b: 4·cap_raw + 4 */
    size_t n_raw, cap_raw;
    char *bytes;           /* 4·(4·cap_raw + 4) + 1 */
    int rc;                /* 1: out of memory; else the callback's return */
} scan;

static int scan_grow(scan *s)
{
    size_t cap = s->cap_raw ? s->cap_raw * 2 : 256;
    size_t big = 4 * cap + 4;
    uint32_t *raw = realloc(s->raw, cap * sizeof *raw);
    if (raw)
        s->raw = raw;
    uint32_t *a = raw ? realloc(s->a, big * sizeof *a) : NULL;
    if (a)
        s->a = a;
    uint32_t *b = a ? realloc(s->b, big * sizeof *b) : NULL;
    if (b)
        s->b = b;
    char *bytes = b ? realloc(s->bytes, 4 * big + 1) : NULL;
    if (!bytes)
        return s->rc = 1;
    s->bytes = bytes;
    s->cap_raw = cap;
    return 0;
}

/* Hand the word w[0..n) (code points) to the callback as UTF-8. */
static int emit(scan *s, const uint32_t *w, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)dc_utf8_put(w[i], s->bytes + k);
    s->bytes[k] = '\0';
    return s->rc = s->fn(s->bytes, k, n, s->user);
}

static bool is_special(const uint32_t *w, size_t n)
{
    for (int k = 0; k < 5; k++) {
        size_t len = strlen(special_str[k]), i = 0;
        while (i < n && i < len && w[i] == (uint32_t)(unsigned char)special_str[k][i])
            i++;
        if (i == n && n == len)
            return true;
    }
    return false;
}

/* Normalise the whitespace word in s->raw and emit its punctuation-split parts. */
static int flush(scan *s)
{
    size_t n = s->n_raw;
    s->n_raw = 0;
    if (n == 0)
        return 0;
    const uint32_t *w = s->raw;
    if (s->o->split_special && n <= 6 && w[0] == '[' && is_special(w, n))
        return emit(s, w, n);
    bool wide = false;
    for (size_t i = 0; i < n && !wide; i++)
        wide = w[i] >= 0x300;
    if (wide) { /* below U+0300 every text is already NFC */
        n = dc_wp_nfc(w, n, s->b, s->a);
        w = s->a;
    }
    if (s->o->lower_case) {
        uint32_t *dst = w == s->a ? s->b : s->a;
        n = dc_wp_lower_str(w, n, dst);
        w = dst;
    }
    int strip = s->o->strip_accents < 0 ? s->o->lower_case : s->o->strip_accents;
    bool accents = false; /* no character below U+00C0 decomposes */
    for (size_t i = 0; strip && i < n && !accents; i++)
        accents = w[i] >= 0xC0;
    if (accents) {
        uint32_t *dst = w == s->a ? s->b : s->a;
        n = dc_wp_nfd(w, n, dst, true);
        w = dst;
    }
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (!dc_wp_is_punct(w[i]))
            continue;
        if (i > start && emit(s, w + start, i - start))
            return s->rc;
        if (emit(s, w + i, 1))
            return s->rc;
        start = i + 1;
    }
    return n > start ? emit(s, w + start, n - start) : 0;
}

/* The length of the special token that text[i..n) starts with, or 0. */
static size_t special_at(const char *text, size_t n, size_t i)
{
    for (int k = 0; k < 5; k++) {
        size_t len = strlen(special_str[k]);
        if (n - i >= len && memcmp(text + i, special_str[k], len) == 0)
            return len;
    }
    return 0;
}

/* Append cp to the current word (1 when out of memory). */
static int push_cp(scan *s, uint32_t cp)
{
    if (s->n_raw == s->cap_raw && scan_grow(s))
        return 1;
    s->raw[s->n_raw++] = cp;
    return 0;
}

static int basic_scan(scan *s, const char *text, size_t n)
{
    const uint8_t *u = (const uint8_t *)text;
    size_t i = 0;
    while (i < n) {
        size_t sl;
        if (text[i] == '[' && s->o->split_special && (sl = special_at(text, n, i)) > 0) {
            if (flush(s))
                return s->rc;
            for (size_t k = 0; k < sl; k++)
                if (push_cp(s, (uint8_t)text[i + k]))
                    return s->rc;
            i += sl;
            if (flush(s))
                return s->rc;
            continue;
        }
        uint32_t cp = dc_utf8_next(u, n, &i);
        if (cp == 0 || cp == 0xFFFD || dc_wp_is_control(cp))
            continue;
        if (dc_wp_is_space(cp) || cp == 0x2028 || cp == 0x2029) {
            if (flush(s))
                return s->rc;
        } else if (s->o->chinese_chars && cp >= 0x3400 && dc_wp_is_cjk(cp)) {
            if (flush(s) || push_cp(s, cp) || flush(s))
                return s->rc;
        } else if (push_cp(s, cp)) {
            return s->rc;
        }
    }
    return flush(s);
}

int dc_wp_basic_each(const dc_wp_opts *o, const char *text, size_t n, dc_wp_word_fn fn,
                     void *user)
{
    scan s = {0};
    s.o = o;
    s.fn = fn;
    s.user = user;
    int rc = scan_grow(&s) ? 1 : basic_scan(&s, text, n);
    free(s.raw);
    free(s.a);
    free(s.b);
    free(s.bytes);
    return rc;
}

/* ---- the vocabulary ---- */

static uint64_t fnv(int cont, const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    if (cont)
        h = ((h ^ '#') * 1099511628211ull ^ '#') * 1099511628211ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static bool tok_eq(const dc_wordpiece *wp, int64_t id, int cont, const char *s, size_t len)
{
    const char *t = wp->strs + wp->off[id];
    size_t tl = (size_t)(wp->off[id + 1] - wp->off[id] - 1);
    if (cont)
        return tl == len + 2 && t[0] == '#' && t[1] == '#' && memcmp(t + 2, s, len) == 0;
    return tl == len && memcmp(t, s, len) == 0;
}

int64_t dc_wp_lookup(const dc_wordpiece *wp, int cont, const char *s, size_t len)
{
    for (uint64_t h = fnv(cont, s, len) & wp->mask;; h = (h + 1) & wp->mask) {
        int32_t id = wp->slot[h];
        if (id < 0)
            return -1;
        if (tok_eq(wp, id, cont, s, len))
            return id;
    }
}

/* Insert id (its string already in strs); a string seen before now maps to id. */
static void table_put(dc_wordpiece *wp, int64_t id)
{
    const char *t = wp->strs + wp->off[id];
    size_t len = (size_t)(wp->off[id + 1] - wp->off[id] - 1);
    for (uint64_t h = fnv(0, t, len) & wp->mask;; h = (h + 1) & wp->mask) {
        int32_t old = wp->slot[h];
        if (old < 0 || tok_eq(wp, old, 0, t, len)) {
            wp->slot[h] = (int32_t)id;
            return;
        }
    }
}

void dc_wordpiece_free(dc_wordpiece *wp)
{
    if (!wp)
        return;
    free(wp->strs);
    free(wp->off);
    free(wp->slot);
    free(wp);
}

/* A vocabulary over strs (owned from here: freed on failure) with n tokens at off[0..n]. */
static dc_wordpiece *build(char *strs, int64_t *off, int64_t n, const dc_wp_opts *o,
                           const char *what)
{
    dc_wordpiece *wp = calloc(1, sizeof *wp);
    uint64_t slots = 16;
    while (slots < (uint64_t)n * 2)
        slots *= 2;
    int32_t *slot = wp ? malloc(slots * sizeof *slot) : NULL;
    if (!slot) {
        free(wp);
        free(strs);
        free(off);
        return dc_err_null(DC_ERR_NOMEM, "%s: out of memory for %lld tokens", what,
                           (long long)n);
    }
    memset(slot, 0xFF, slots * sizeof *slot);
    wp->o = o ? *o : dc_wp_defaults();
    wp->n = n;
    wp->strs = strs;
    wp->off = off;
    wp->slot = slot;
    wp->mask = slots - 1;
    for (int64_t i = 0; i < n; i++) {
        table_put(wp, i);
        const char *t = strs + off[i];
        size_t len = (size_t)(off[i + 1] - off[i] - 1);
        len -= len >= 2 && t[0] == '#' && t[1] == '#' ? 2 : 0;
        wp->max_bytes = len > wp->max_bytes ? len : wp->max_bytes;
    }
    for (int k = 0; k < 5; k++)
        wp->special[k] = dc_wp_lookup(wp, 0, special_str[k], strlen(special_str[k]));
    if (wp->special[DC_WP_UNK] < 0) {
        dc_wordpiece_free(wp);
        return dc_err_null(DC_ERR_FORMAT, "%s: no [UNK] token (a BERT vocabulary lists it; "
                           "words the vocabulary cannot cover become it)", what);
    }
    return wp;
}

/* The problem with token t[0..len) as a vocabulary entry, or NULL. */
static const char *token_problem(const char *t, size_t len)
{
    size_t bad;
    if (len > DC_WP_MAX_TOKEN_BYTES)
        return "a token longer than " "1024" " bytes";
    if (memchr(t, '\0', len))
        return "a NUL byte";
    if (memchr(t, '\n', len) || memchr(t, '\r', len))
        return "a line break inside a token";
    if (!dc_utf8_valid((const uint8_t *)t, len, &bad))
        return "bytes that are not UTF-8";
    return NULL;
}

dc_wordpiece *dc_wordpiece_new(const char *const *tokens, int64_t n, const dc_wp_opts *o)
{
    if (!tokens || n < 1 || n > DC_WP_MAX_TOKENS)
        return dc_err_null(DC_ERR_ARG, "wordpiece: need 1 to %lld tokens (got %lld)",
                           (long long)DC_WP_MAX_TOKENS, (long long)n);
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!tokens[i])
            return dc_err_null(DC_ERR_ARG, "wordpiece: token %lld is NULL", (long long)i);
        size_t len = strlen(tokens[i]);
        const char *why = token_problem(tokens[i], len);
        if (why)
            return dc_err_null(DC_ERR_ARG, "wordpiece: token %lld: %s", (long long)i, why);
        total += len + 1;
    }
    char *strs = malloc(total ? total : 1);
    int64_t *off = malloc((size_t)(n + 1) * sizeof *off);
    if (!strs || !off) {
        free(strs);
        free(off);
        return dc_err_null(DC_ERR_NOMEM, "wordpiece: out of memory for %lld tokens",
                           (long long)n);
    }
    size_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t len = strlen(tokens[i]);
        off[i] = (int64_t)k;
        memcpy(strs + k, tokens[i], len + 1);
        k += len + 1;
    }
    off[n] = (int64_t)k;
    return build(strs, off, n, o, "wordpiece");
}

/* Split buf[0..len) (the whole file, room for one more byte) into lines in place; buf is owned
 * from here (kept by the vocabulary, or freed on failure). */
static dc_wordpiece *vocab_parse(const char *path, char *buf, size_t len, const dc_wp_opts *o)
{
    int64_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    if (len && buf[len - 1] != '\n')
        n++; /* a last line without '\n' */
    int64_t *off = n >= 1 && n <= DC_WP_MAX_TOKENS ? malloc((size_t)(n + 1) * sizeof *off) : NULL;
    if (!off) {
        free(buf);
        if (n == 0)
            return dc_err_null(DC_ERR_FORMAT, "%s: empty vocabulary file", path);
        if (n > DC_WP_MAX_TOKENS)
            return dc_err_null(DC_ERR_FORMAT, "%s: %lld lines; a vocabulary has at most %lld "
                               "tokens", path, (long long)n, (long long)DC_WP_MAX_TOKENS);
        return dc_err_null(DC_ERR_NOMEM, "%s: out of memory for %lld tokens", path,
                           (long long)n);
    }
    size_t w = 0, i = 0;
    for (int64_t line = 0; line < n; line++) {
        char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len, tl = end - i;
        if (tl && buf[end - 1] == '\r')
            tl--;
        const char *why = token_problem(buf + i, tl);
        if (why) {
            free(off);
            free(buf);
            return dc_err_null(DC_ERR_FORMAT, "%s: line %lld: %s", path, (long long)line + 1,
                               why);
        }
        off[line] = (int64_t)w;
        memmove(buf + w, buf + i, tl);
        w += tl;
        buf[w++] = '\0';
        i = end + 1;
    }
    off[n] = (int64_t)w;
    return build(buf, off, n, o, path);
}

dc_wordpiece *dc_wordpiece_load(const char *path, const dc_wp_opts *o)
{
    if (!path)
        return dc_err_null(DC_ERR_ARG, "wordpiece load: NULL path");
    dc_io_file f;
    if (dc_io_open(&f, path) != DC_OK)
        return NULL;
    if (f.size > DC_WP_FILE_MAX) {
        dc_io_close(&f);
        return dc_err_null(DC_ERR_FORMAT, "%s: %lld bytes is too large for a vocabulary file "
                           "(at most %lld)", path, (long long)f.size,
                           (long long)DC_WP_FILE_MAX);
    }
    char *buf = malloc((size_t)f.size + 1);
    if (!buf) {
        dc_io_close(&f);
        return dc_err_null(DC_ERR_NOMEM, "%s: out of memory for %lld bytes", path,
                           (long long)f.size);
    }
    dc_status st = dc_io_read_at(&f, 0, buf, (size_t)f.size, "the vocabulary");
    dc_io_close(&f);
    if (st != DC_OK) {
        free(buf);
        return NULL;
    }
    return vocab_parse(path, buf, (size_t)f.size, o);
}

static int vocab_write(FILE *f, void *user)
{
    const dc_wordpiece *wp = user;
    for (int64_t i = 0; i < wp->n; i++) {
        const char *t = wp->strs + wp->off[i];
        size_t len = (size_t)(wp->off[i + 1] - wp->off[i] - 1);
        int e = dc_io_fwrite(f, t, len);
        if (!e)
            e = dc_io_fwrite(f, "\n", 1);
        if (e)
            return e;
    }
    return 0;
}

dc_status dc_wordpiece_save(const dc_wordpiece *wp, const char *path)
{
    if (!wp || !path)
        return dc_err(DC_ERR_ARG, "wordpiece save: NULL argument");
    return dc_io_write_atomic(path, vocab_write, (void *)wp);
}

int64_t dc_wordpiece_size(const dc_wordpiece *wp)
{
    return wp ? wp->n : 0;
}

const char *dc_wordpiece_token(const dc_wordpiece *wp, int64_t id)
{
    return wp && id >= 0 && id < wp->n ? wp->strs + wp->off[id] : NULL;
}

int64_t dc_wordpiece_id(const dc_wordpiece *wp, const char *token)
{
    return wp && token ? dc_wp_lookup(wp, 0, token, strlen(token)) : -1;
}

int64_t dc_wordpiece_special(const dc_wordpiece *wp, dc_wp_special which)
{
    return wp && (unsigned)which < 5 ? wp->special[which] : -1;
}

dc_wp_opts dc_wordpiece_opts(const dc_wordpiece *wp)
{
    return wp ? wp->o : dc_wp_defaults();
}

/* ---- encoding ---- */

typedef struct enc {
    const dc_wordpiece *wp;
    dc_ids *out;
} enc;

/* Greedy longest match of one word: the longest prefix in the vocabulary, then the longest
 * "##" continuation from where it ended, and so on; one [UNK] if a position has no match. */
static int encode_word(const char *word, size_t len, size_t nchars, void *user)
{
    enc *e = user;
    const dc_wordpiece *wp = e->wp;
    if (nchars > (size_t)wp->o.max_input_chars)
        return dc_ids_push(e->out, wp->special[DC_WP_UNK]) != DC_OK;
    int64_t mark = e->out->n;
    size_t start = 0;
    while (start < len) {
        /* no token is longer than max_bytes: start there (on a character boundary), which
         * keeps an unknown 100-character word from costing 100² hash lookups of long keys */
        size_t end = len - start > wp->max_bytes ? start + wp->max_bytes + 1 : len;
        int64_t id = -1;
        if (end < len)
            do
                end--;
            while (end > start && ((uint8_t)word[end] & 0xC0) == 0x80);
        while (end > start) {
            id = dc_wp_lookup(wp, start > 0, word + start, end - start);
            if (id >= 0)
                break;
            do /* back to the previous character boundary */
                end--;
            while (end > start && ((uint8_t)word[end] & 0xC0) == 0x80);
        }
        if (id < 0) {
            e->out->n = mark;
            return dc_ids_push(e->out, wp->special[DC_WP_UNK]) != DC_OK;
        }
        if (dc_ids_push(e->out, id) != DC_OK)
            return 1;
        start = end;
    }
    return 0;
}

dc_status dc_wordpiece_encode(const dc_wordpiece *wp, const char *text, size_t n, dc_ids *out)
{
    if (!wp || !out || (n && !text))
        return dc_err(DC_ERR_ARG, "wordpiece encode: NULL argument");
    enc e = {wp, out};
    if (dc_wp_basic_each(&wp->o, text, n, encode_word, &e))
        return dc_err(DC_ERR_NOMEM, "wordpiece encode: out of memory after %lld ids",
                      (long long)out->n);
    return DC_OK;
}

/* ---- decoding ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_put(sbuf *b, const char *s, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
    return 0;
}

/* HF clean_up_tokenization: remove the space before . ? ! , and the English contractions. */
static void cleanup_spaces(char *s)
{
    static const char *const from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's",
                                       " 've", " 're"};
    static const char *const to[] = {".", "?", "!", ",", "'", "n't", "'m", "'s", "'ve", "'re"};
    for (int k = 0; k < 10; k++) { /* each replacement over the whole string, in HF's order */
        size_t fl = strlen(from[k]), tl = strlen(to[k]);
        char *r = s, *w = s;
        while (*r) {
            if (strncmp(r, from[k], fl) == 0) {
                memmove(w, to[k], tl);
                w += tl;
                r += fl;
            } else {
                *w++ = *r++;
            }
        }
        *w = '\0';
    }
}

static bool is_special_id(const dc_wordpiece *wp, int64_t id)
{
    for (int k = 0; k < 5; k++)
        if (wp->special[k] == id)
            return true;
    return false;
}

dc_status dc_wordpiece_decode(const dc_wordpiece *wp, const int64_t *ids, int64_t n,
                              unsigned flags, char **out)
{
    if (!wp || !out || (n && !ids))
        return dc_err(DC_ERR_ARG, "wordpiece decode: NULL argument");
    sbuf b = {0};
    int fail = sb_put(&b, "", 0);
    bool first = true;
    for (int64_t i = 0; i < n && !fail; i++) {
        if (ids[i] < 0 || ids[i] >= wp->n) {
            free(b.p);
            return dc_err(DC_ERR_ARG, "wordpiece decode: id %lld (position %lld) is not in the "
                          "vocabulary of %lld tokens", (long long)ids[i], (long long)i,
                          (long long)wp->n);
        }
        if ((flags & DC_WP_SKIP_SPECIAL) && is_special_id(wp, ids[i]))
            continue;
        const char *t = wp->strs + wp->off[ids[i]];
        bool cont = !first && t[0] == '#' && t[1] == '#';
        if (cont) /* " ##" joins a piece to the word before it */
            t += 2;
        else if (!first)
            fail = sb_put(&b, " ", 1);
        fail = fail || sb_put(&b, t, strlen(t));
        first = false;
    }
    if (fail) {
        free(b.p);
        return dc_err(DC_ERR_NOMEM, "wordpiece decode: out of memory");
    }
    if (flags & DC_WP_CLEANUP)
        cleanup_spaces(b.p);
    *out = b.p;
    return DC_OK;
}
