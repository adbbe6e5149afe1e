/*
 * text.c - text for character models: a byte vocabulary (build, encode, a small text file
 * format), loading a text file or a directory of them, the train/validation split, and the
 * B-stream chunking used for truncated backpropagation through time.
 *
 * Vocabulary file (dc_vocab_save / dc_vocab_load), plain text:
 *     deepc-vocab 1
 *     <n>                 decimal, 1..256
 *     <hh>                n lines, two hex digits each: the byte of id 0, 1, ..., n-1
 * A final newline is optional; nothing may follow the n-th entry.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- vocabulary ---- */

#define VOCAB_MAGIC "deepc-vocab 1"
#define VOCAB_FILE_MAX 4096 /* header + 256 three-byte lines is ~790 bytes */

dc_status dc_vocab_build(const uint8_t *text, size_t n, dc_vocab *out)
{
    if (!text || !out || n == 0)
        return dc_err(DC_ERR_ARG, "vocab: need a non-empty text (got %s, %zu bytes)",
                      text ? "a buffer" : "NULL", n);
    unsigned char seen[256] = {0};
    for (size_t i = 0; i < n; i++)
        seen[text[i]] = 1;
    dc_vocab v;
    v.n = 0;
    for (int b = 0; b < 256; b++) {
        v.to_id[b] = -1;
        if (seen[b]) {
            v.to_id[b] = (int16_t)v.n;
            v.to_byte[v.n++] = (uint8_t)b;
        }
    }
    for (int i = v.n; i < 256; i++)
        v.to_byte[i] = 0;
    *out = v;
    return DC_OK;
}

dc_status dc_vocab_encode(const dc_vocab *v, const uint8_t *text, size_t n, int64_t *ids)
{
    if (!v || (n && (!text || !ids)))
        return dc_err(DC_ERR_ARG, "vocab encode: NULL argument");
    for (size_t i = 0; i < n; i++) {
        int id = v->to_id[text[i]];
        if (id < 0)
            return dc_err(DC_ERR_ARG, "vocab encode: byte 0x%02x at offset %zu is not in the "
                          "vocabulary of %d symbols", text[i], i, v->n);
        ids[i] = id;
    }
    return DC_OK;
}

static int vocab_write(FILE *f, void *user)
{
    const dc_vocab *v = user;
    if (fprintf(f, "%s\n%d\n", VOCAB_MAGIC, v->n) < 0)
        return errno ? errno : -1;
    for (int i = 0; i < v->n; i++)
        if (fprintf(f, "%02x\n", v->to_byte[i]) < 0)
            return errno ? errno : -1;
    return 0;
}

dc_status dc_vocab_save(const dc_vocab *v, const char *path)
{
    if (!v || v->n < 1 || v->n > DC_VOCAB_MAX)
        return dc_err(DC_ERR_ARG, "%s: vocab save: %d symbols (need 1..256)",
                      path ? path : "(null)", v ? v->n : 0);
    unsigned char seen[256] = {0};
    for (int i = 0; i < v->n; i++) {
        if (seen[v->to_byte[i]]++)
            return dc_err(DC_ERR_ARG, "%s: vocab save: byte 0x%02x is listed twice", path,
                          v->to_byte[i]);
    }
    return dc_io_write_atomic(path, vocab_write, (void *)v);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Cut the next line out of buf (NUL-terminating it in place); NULL at the end. */
static char *next_line(char **cur, char *end)
{
    char *s = *cur;
    if (s >= end)
        return NULL;
    char *nl = memchr(s, '\n', (size_t)(end - s));
    if (nl) {
        *nl = '\0';
        *cur = nl + 1;
    } else {
        *end = '\0';
        *cur = end;
    }
    return s;
}

/* Parse a whole vocabulary file held in buf[0..len) (buf has room for a NUL at len). */
static dc_status vocab_parse(const char *path, char *buf, size_t len, dc_vocab *out)
{
    if (memchr(buf, '\0', len))
        return dc_err(DC_ERR_FORMAT, "%s: not a vocabulary file (binary data)", path);
    char *cur = buf, *end = buf + len;
    char *line = next_line(&cur, end);
    if (!line || strcmp(line, VOCAB_MAGIC) != 0)
        return dc_err(DC_ERR_FORMAT, "%s: line 1: expected '%s' (not a deepc vocabulary file)",
                      path, VOCAB_MAGIC);
    line = next_line(&cur, end);
    long count = 0;
    size_t k = 0;
    for (; line && line[k] >= '0' && line[k] <= '9' && k < 9; k++)
        count = count * 10 + (line[k] - '0');
    if (!line || k == 0 || line[k] != '\0')
        return dc_err(DC_ERR_FORMAT, "%s: line 2: expected the number of entries", path);
    if (count < 1 || count > DC_VOCAB_MAX)
        return dc_err(DC_ERR_FORMAT, "%s: line 2: %ld entries; a byte vocabulary has 1 to 256",
                      path, count);
    dc_vocab v;
    int line_of[256] = {0};
    for (int b = 0; b < 256; b++) {
        v.to_id[b] = -1;
        v.to_byte[b] = 0;
    }
    v.n = (int)count;
    for (int i = 0; i < v.n; i++) {
        int ln = i + 3;
        line = next_line(&cur, end);
        if (!line)
            return dc_err(DC_ERR_FORMAT, "%s: truncated: the header announces %d entries but "
                          "the file has %d", path, v.n, i);
        int hi = hexval(line[0]), lo = hi < 0 ? -1 : hexval(line[1]);
        if (hi < 0 || lo < 0 || line[2] != '\0')
            return dc_err(DC_ERR_FORMAT, "%s: line %d: expected two hex digits (a byte)", path,
                          ln);
        int b = hi * 16 + lo;
        if (v.to_id[b] >= 0)
            return dc_err(DC_ERR_FORMAT, "%s: line %d: byte 0x%02x appears twice (also on "
                          "line %d)", path, ln, b, line_of[b]);
        v.to_id[b] = (int16_t)i;
        v.to_byte[i] = (uint8_t)b;
        line_of[b] = ln;
    }
    while ((line = next_line(&cur, end)) != NULL) {
        if (*line)
            return dc_err(DC_ERR_FORMAT, "%s: more entries than the %d the header announces",
                          path, v.n);
    }
    *out = v;
    return DC_OK;
}

dc_status dc_vocab_load(const char *path, dc_vocab *out)
{
    if (!out)
        return dc_err(DC_ERR_ARG, "vocab load: NULL output");
    dc_io_file f;
    dc_status st = dc_io_open(&f, path);
    if (st != DC_OK)
        return st;
    if (f.size > VOCAB_FILE_MAX) {
        dc_io_close(&f);
        return dc_err(DC_ERR_FORMAT, "%s: %lld bytes is too large for a vocabulary file "
                      "(at most %d)", path, (long long)f.size, VOCAB_FILE_MAX);
    }
    char buf[VOCAB_FILE_MAX + 1];
    st = dc_io_read_at(&f, 0, buf, (size_t)f.size, "the vocabulary");
    dc_io_close(&f);
    if (st != DC_OK)
        return st;
    return vocab_parse(path, buf, (size_t)f.size, out);
}

/* ---- loading text ---- */

#define FORTUNES_DIR "/usr/share/games/fortunes" /* Debian's fortunes package */

typedef struct tbuf {
    uint8_t *p;
    size_t n, cap, limit;
} tbuf;

/* Append the whole regular file at path to b (bounded by b->limit). */
static dc_status append_file(tbuf *b, const char *path)
{
    dc_io_file f;
    dc_status st = dc_io_open(&f, path);
    if (st != DC_OK)
        return st;
    if ((uint64_t)f.size > (uint64_t)(b->limit - b->n)) {
        dc_io_close(&f);
        return dc_err(DC_ERR_FORMAT, "%s: the text would exceed the limit of %zu bytes (%zu "
                      "read so far, this file has %lld)", path, b->limit, b->n,
                      (long long)f.size);
    }
    size_t need = b->n + (size_t)f.size + 1; /* + the final NUL */
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            dc_io_close(&f);
            return dc_err(DC_ERR_NOMEM, "%s: out of memory for %zu bytes of text", path, need);
        }
        b->p = p;
        b->cap = cap;
    }
    st = dc_io_read_at(&f, 0, b->p + b->n, (size_t)f.size, "the text");
    dc_io_close(&f);
    const uint8_t *nul = st == DC_OK ? memchr(b->p + b->n, 0, (size_t)f.size) : NULL;
    if (nul) {
        long long line = 1;
        for (const uint8_t *q = b->p + b->n; q < nul; q++)
            line += *q == '\n';
        return dc_err(DC_ERR_FORMAT, "%s:%lld: NUL byte (binary data, not text)", path, line);
    }
    if (st == DC_OK)
        b->n += (size_t)f.size;
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool skipped_name(const char *name)
{
    size_t len = strlen(name);
    return name[0] == '.' || (len >= 4 && strcmp(name + len - 4, ".dat") == 0);
}

/* The names of dir worth reading (not yet lstat'ed), sorted; *n_out of them. */
static dc_status list_dir(const char *dir, char ***names_out, size_t *n_out)
{
    DIR *d = opendir(dir);
    if (!d)
        return dc_err(DC_ERR_IO, "%s: cannot open the directory: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    dc_status st = DC_OK;
    struct dirent *e;
    while (st == DC_OK && (e = readdir(d)) != NULL) {
        if (skipped_name(e->d_name))
            continue;
        if (n == cap) {
            size_t c2 = cap ? cap * 2 : 64;
            char **nn = c2 < (SIZE_MAX / sizeof *nn) ? realloc(names, c2 * sizeof *nn) : NULL;
            if (!nn) {
                st = dc_err(DC_ERR_NOMEM, "%s: out of memory listing the directory", dir);
                break;
            }
            names = nn;
            cap = c2;
        }
        if (!(names[n] = strdup(e->d_name)))
            st = dc_err(DC_ERR_NOMEM, "%s: out of memory listing the directory", dir);
        else
            n++;
    }
    closedir(d);
    if (st != DC_OK) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return st;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    *names_out = names;
    *n_out = n;
    return DC_OK;
}

/* Append every regular, non-symlink file of dir (sorted by name) to b. */
static dc_status append_dir(tbuf *b, const char *dir)
{
    char **names = NULL;
    size_t n = 0, n_files = 0;
    dc_status st = list_dir(dir, &names, &n);
    if (st != DC_OK)
        return st;
    size_t dlen = strlen(dir);
    for (size_t i = 0; i < n && st == DC_OK; i++) {
        size_t len = dlen + strlen(names[i]) + 2;
        char *p = malloc(len);
        if (!p) {
            st = dc_err(DC_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        snprintf(p, len, "%s/%s", dir, names[i]);
        struct stat sb;
        if (lstat(p, &sb) != 0)
            st = dc_err(DC_ERR_IO, "%s: cannot stat: %s", p, strerror(errno));
        else if (S_ISREG(sb.st_mode)) { /* symlinks, subdirectories, devices are skipped */
            st = append_file(b, p);
            n_files++;
        }
        free(p);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (st == DC_OK && n_files == 0)
        st = dc_err(DC_ERR_FORMAT, "%s: no text files in the directory (names starting with "
                    "'.' or ending in .dat, symlinks and subdirectories are skipped)", dir);
    return st;
}

dc_status dc_text_load(const char *path, size_t cap, uint8_t **text, size_t *n)
{
    if (!path || !*path || !text || !n)
        return dc_err(DC_ERR_ARG, "text load: NULL or empty argument");
    *text = NULL;
    *n = 0;
    tbuf b = {NULL, 0, 0, cap ? cap : DC_TEXT_DEFAULT_CAP};
    struct stat sb;
    dc_status st;
    if (stat(path, &sb) != 0) {
        int e = errno;
        /* the README's corpus: say which package provides it, as the Fashion-MNIST loader does */
        bool fortunes = !strncmp(path, FORTUNES_DIR, strlen(FORTUNES_DIR));
        return dc_err(DC_ERR_IO, "%s: cannot open: %s%s", path, strerror(e),
                      fortunes && e == ENOENT ? "; install it with: apt-get install fortunes" : "");
    }
    st = S_ISDIR(sb.st_mode) ? append_dir(&b, path) : append_file(&b, path);
    if (st == DC_OK && b.n == 0)
        st = dc_err(DC_ERR_FORMAT, "%s: no text (the file%s empty)", path,
                    S_ISDIR(sb.st_mode) ? "s are" : " is");
    if (st != DC_OK) {
        free(b.p);
        return st;
    }
    b.p[b.n] = 0;
    *text = b.p;
    *n = b.n;
    return DC_OK;
}

dc_status dc_text_split(size_t n, double val_fraction, size_t *n_train)
{
    if (!n_train)
        return dc_err(DC_ERR_ARG, "text split: NULL output");
    if (!(val_fraction >= 0.0 && val_fraction < 1.0))
        return dc_err(DC_ERR_ARG, "text split: validation fraction %g is not in [0, 1)",
                      val_fraction);
    size_t n_val = (size_t)floor((double)n * val_fraction);
    if (n_val > n)
        n_val = n;
    if (n - n_val < 2)
        return dc_err(DC_ERR_ARG, "text split: %zu symbols leave %zu for training (need 2)", n,
                      n - n_val);
    if (n_val == 1)
        return dc_err(DC_ERR_ARG, "text split: a validation part of 1 symbol has no target; "
                      "use a larger fraction or 0");
    *n_train = n - n_val;
    return DC_OK;
}

/* ---- streams for truncated BPTT ---- */

dc_text_stream *dc_text_stream_new(const int64_t *ids, int64_t n, int64_t B, int64_t T)
{
    if (!ids || n < 0 || B < 1 || T < 1)
        return dc_err_null(DC_ERR_ARG, "text stream: need ids, B >= 1 and T >= 1 (got n %lld, "
                           "B %lld, T %lld)", (long long)n, (long long)B, (long long)T);
    int64_t L = n / B;
    if (L < 2)
        return dc_err_null(DC_ERR_ARG, "text stream: %lld ids give %lld per stream for %lld "
                           "streams; need at least 2", (long long)n, (long long)L,
                           (long long)B);
    const int64_t N = B * L; /* row b = ids[b·L .. (b+1)·L) */
    int64_t top = 0;
    for (int64_t i = 0; i < N; i++) {
        if (ids[i] < 0)
            return dc_err_null(DC_ERR_ARG, "text stream: id %lld at %lld is negative",
                               (long long)ids[i], (long long)i);
        top = ids[i] > top ? ids[i] : top;
    }
    const int w = top <= UINT8_MAX ? 1 : top <= UINT16_MAX ? 2 : top <= UINT32_MAX ? 4 : 8;
    dc_text_stream *s = calloc(1, sizeof *s);
    void *copy = (uint64_t)N <= SIZE_MAX / (size_t)w ? malloc((size_t)N * (size_t)w) : NULL;
    if (!s || !copy) {
        free(s);
        free(copy);
        return dc_err_null(DC_ERR_NOMEM, "text stream: out of memory for %lld ids",
                           (long long)N);
    }
    for (int64_t i = 0; i < N; i++)
        switch (w) {
        case 1: ((uint8_t *)copy)[i] = (uint8_t)ids[i]; break;
        case 2: ((uint16_t *)copy)[i] = (uint16_t)ids[i]; break;
        case 4: ((uint32_t *)copy)[i] = (uint32_t)ids[i]; break;
        default: ((int64_t *)copy)[i] = ids[i];
        }
    *s = (dc_text_stream){.data = copy, .B = B, .L = L, .T = T, .pos = 0, .id_bytes = w};
    return s;
}

/* out[0..n) = ids i0 .. i0 + n - 1 of the copy (in range), widened to int64. */
static void widen(const dc_text_stream *s, int64_t i0, int64_t n, int64_t *out)
{
    for (int64_t i = 0; i < n; i++)
        switch (s->id_bytes) {
        case 1: out[i] = ((const uint8_t *)s->data)[i0 + i]; break;
        case 2: out[i] = ((const uint16_t *)s->data)[i0 + i]; break;
        case 4: out[i] = ((const uint32_t *)s->data)[i0 + i]; break;
        default: out[i] = ((const int64_t *)s->data)[i0 + i];
        }
}

int64_t dc_text_stream_id(const dc_text_stream *s, int64_t i)
{
    if (!s || i < 0 || i >= s->B * s->L)
        return -1;
    int64_t id;
    widen(s, i, 1, &id);
    return id;
}

void dc_text_stream_free(dc_text_stream *s)
{
    if (!s)
        return;
    free(s->data);
    free(s);
}

void dc_text_stream_rewind(dc_text_stream *s)
{
    if (s)
        s->pos = 0;
}

int64_t dc_text_stream_chunks(const dc_text_stream *s)
{
    return s && s->L >= 2 ? (s->L - 1 + s->T - 1) / s->T : 0;
}

dc_status dc_text_stream_next(dc_text_stream *s, dc_ctx *ctx, dc_tensor **x, dc_tensor **y)
{
    if (!s || !ctx || !x || !y)
        return dc_err(DC_ERR_ARG, "text stream next: NULL argument");
    *x = *y = NULL;
    if (s->pos < 0 || s->pos > s->L - 1)
        return dc_err(DC_ERR_ARG, "text stream next: position %lld outside [0, %lld]",
                      (long long)s->pos, (long long)(s->L - 1));
    int64_t t = s->L - 1 - s->pos;
    if (t == 0)
        return DC_OK; /* end of the pass */
    if (t > s->T)
        t = s->T;
    dc_tensor *xt = dc_empty(ctx, DC_I64, 2, DC_SHAPE(s->B, t));
    dc_tensor *yt = dc_empty(ctx, DC_I64, 2, DC_SHAPE(s->B, t));
    if (!xt || !yt)
        return DC_ERR_NOMEM;
    for (int64_t b = 0; b < s->B; b++) {
        const int64_t row = b * s->L + s->pos;
        widen(s, row, t, dc_i64(xt) + b * t);
        widen(s, row + 1, t, dc_i64(yt) + b * t);
    }
    s->pos += t;
    *x = xt;
    *y = yt;
    return DC_OK;
}
