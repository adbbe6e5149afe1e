/*
 * csv.c - numeric CSV tables (plain or gzip through zlib) and the scikit-learn digits set.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "io/io.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define LINE_MAX_BYTES (1 << 20)
#define CELLS_MAX (INT64_C(1) << 31)

typedef struct fbuf {
    float *v;
    int64_t n, cap;
} fbuf;

static bool fbuf_push(fbuf *b, float x)
{
    if (b->n == b->cap) {
        int64_t cap = b->cap ? b->cap * 2 : 4096;
        if (cap > CELLS_MAX)
            return false;
        float *v = realloc(b->v, (size_t)cap * sizeof *v);
        if (!v)
            return false;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = x;
    return true;
}

/* Parse one line into b; returns the field count, or -1 with the error set. */
static int64_t parse_line(char *line, char delim, fbuf *b, const char *path, int64_t lineno)
{
    int64_t cols = 0;
    char *p = line;
    for (;;) {
        char *end;
        while (*p == ' ' || *p == '\t')
            p++;
        errno = 0;
        float v = strtof(p, &end);
        char *q = end;
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
            q++;
        /* nan and inf parse, but are never data: refuse them here, not at a NaN loss later */
        const bool finite = end != p && isfinite(v);
        if (!finite || (*q != delim && *q != '\0') || errno == ERANGE) {
            char text[32];
            size_t k = 0;
            while (p[k] && p[k] != delim && p[k] != '\n' && k < sizeof text - 1)
                k++;
            memcpy(text, p, k);
            text[k] = '\0';
            dc_err(DC_ERR_FORMAT, "%s:%lld: column %lld: '%s' is not a %snumber", path,
                   (long long)lineno, (long long)cols + 1, text,
                   end != p && !isfinite(v) ? "finite " : "");
            return -1;
        }
        if (!fbuf_push(b, v)) {
            dc_err(DC_ERR_NOMEM, "%s:%lld: table too large", path, (long long)lineno);
            return -1;
        }
        cols++;
        if (*q == '\0')
            return cols;
        p = q + 1;
    }
}


static bool blank(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return *s == '\0';
}

dc_tensor *dc_csv_load(const char *path, int skip_header, char delim)
{
    if (!path)
        return dc_err_null(DC_ERR_ARG, "dc_csv_load: no path");
    gzFile f = dc_io_gzopen(path);
    if (!f)
        return NULL;
    char *line = malloc(LINE_MAX_BYTES);
    fbuf b = {0};
    int64_t rows = 0, cols = -1, lineno = 0;
    dc_tensor *t = NULL;
    if (!line) {
        dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    size_t len;
    int got;
    while ((got = dc_io_gzline(f, line, LINE_MAX_BYTES, &len)) != 0) {
        lineno++;
        if (got < 0) {
            dc_err(DC_ERR_FORMAT, "%s:%lld: %s", path, (long long)lineno,
                   got == -1 ? "line longer than 1 MiB" : "NUL byte (binary data, not CSV text)");
            goto out;
        }
        if ((skip_header && lineno == 1) || blank(line))
            continue;
        int64_t c = parse_line(line, delim, &b, path, lineno);
        if (c < 0) {
            dc_io_gz_damage(f, path);
            goto out;
        }
        if (cols >= 0 && c != cols) {
            if (dc_io_gz_damage(f, path) == DC_OK)
                dc_err(DC_ERR_FORMAT, "%s:%lld: %lld fields, expected %lld like the first row",
                       path, (long long)lineno, (long long)c, (long long)cols);
            goto out;
        }
        cols = c;
        rows++;
    }
    if (dc_io_gz_damage(f, path) != DC_OK)
        goto out;
    if (rows == 0) {
        dc_err(DC_ERR_FORMAT, "%s: no data rows", path);
        goto out;
    }
    t = dc_tensor_new(DC_F32, 2, DC_SHAPE(rows, cols));
    if (t)
        memcpy(t->data, b.v, (size_t)(rows * cols) * sizeof(float));
out:
    gzclose(f);
    free(line);
    free(b.v);
    return t;
}

static const char *const digits_paths[] = {
    "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz",
    "/usr/share/python3-sklearn/datasets/data/digits.csv.gz",
};

dc_status dc_digits_load(const char *path, dc_tensor **x, dc_tensor **y)
{
    *x = *y = NULL;
    if (!path) {
        for (size_t i = 0; i < sizeof digits_paths / sizeof *digits_paths && !path; i++) {
            struct stat sb;
            if (stat(digits_paths[i], &sb) == 0 && S_ISREG(sb.st_mode))
                path = digits_paths[i];
        }
        if (!path)
            return dc_err(DC_ERR_IO, "digits: sklearn/datasets/data/digits.csv.gz not found; "
                                     "install it with: apt-get install python3-sklearn");
    }
    dc_tensor *t = dc_csv_load(path, 0, ',');
    if (!t)
        return DC_ERR_FORMAT;
    if (t->shape[1] != 65) {
        dc_tensor_free(t);
        return dc_err(DC_ERR_FORMAT, "%s: expected 65 columns (64 pixels + label)", path);
    }
    int64_t n = t->shape[0];
    *x = dc_tensor_new(DC_F32, 2, DC_SHAPE(n, 64));
    *y = dc_tensor_new(DC_I64, 1, DC_SHAPE(n));
    if (!*x || !*y) {
        dc_tensor_free(t);
        dc_tensor_free(*x);
        dc_tensor_free(*y);
        *x = *y = NULL;
        return DC_ERR_NOMEM;
    }
    const float *src = dc_f32(t);
    for (int64_t i = 0; i < n; i++) {
        float label = src[i * 65 + 64];
        if (!(label >= 0 && label <= 9 && label == floorf(label))) {
            dc_tensor_free(t);
            dc_tensor_free(*x);
            dc_tensor_free(*y);
            *x = *y = NULL;
            return dc_err(DC_ERR_FORMAT, "%s:%lld: label %g is not a digit", path,
                          (long long)i + 1, (double)label);
        }
        for (int j = 0; j < 64; j++)
            dc_f32(*x)[i * 64 + j] = src[i * 65 + j] / 16.0f;
        dc_i64(*y)[i] = (int64_t)label;
    }
    dc_tensor_free(t);
    return DC_OK;
}
