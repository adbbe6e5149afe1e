/*
 * series.c - time series: a CSV table with named columns (dc_table), sliding windows with a
 * chronological train/validation/test split and train-only normalisation (dc_series), and two
 * forecasting baselines (persistence, linear autoregression by ridge least squares).
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "io/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define LINE_MAX_BYTES (1 << 20)
#define CELLS_MAX (INT64_C(1) << 31)
#define COLS_MAX 4096
#define NAME_MAX_BYTES 256
#define AR_MAX_P 2048   /* most regressors of the linear AR baseline (p² doubles of memory) */

/* ---- table ---- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void free_names(char **v, int n)
{
    if (v)
        for (int i = 0; i < n; i++)
            free(v[i]);
    free(v);
}

void dc_table_free(dc_table *t)
{
    if (!t)
        return;
    free_names(t->names, t->n_cols);
    free_names(t->skipped, t->n_skipped);
    free(t->data);
    free(t);
}

/*
 * Split line in place into at most COLS_MAX fields (trailing \r\n removed). A field may be
 * quoted ("a,b" with "" for a quote); spaces around unquoted fields are trimmed. Returns the
 * field count, or -1 if there are too many fields or a quote is not closed.
 */
static int split_fields(char *line, char delim, char **f)
{
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == COLS_MAX)
            return -1;
        while (*p == ' ' || *p == '\t')
            p++;
        char *start = p, *end;
        if (*p == '"') {
            char *w = start;
            p++;
            for (;;) {
                if (*p == '\0')
                    return -1;
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            end = w;
            while (*p == ' ' || *p == '\t')
                p++;
        } else {
            while (*p && *p != delim)
                p++;
            end = p;
            while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        }
        f[n++] = start;
        char c = *p;
        *end = '\0';
        if (c != delim)
            return c == '\0' ? n : -1;
        p++;
    }
}

/* A whole-field finite number? */
static bool parse_num(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && errno != ERANGE && isfinite(*v);
}

static bool blank(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return *s == '\0';
}

/* Names from the header row; an empty name becomes "column<k>", duplicates are an error. */
static dc_status read_header(char **f, int n, const char *path, char ***names)
{
    *names = calloc((size_t)n, sizeof **names);
    if (!*names)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    for (int c = 0; c < n; c++) {
        char buf[32];
        const char *s = f[c];
        if (!*s) {
            snprintf(buf, sizeof buf, "column%d", c + 1);
            s = buf;
        }
        if (strlen(s) >= NAME_MAX_BYTES)
            return dc_err(DC_ERR_FORMAT, "%s:1: column %d: name longer than %d bytes", path,
                          c + 1, NAME_MAX_BYTES - 1);
        for (int k = 0; k < c; k++)
            if (!strcmp((*names)[k], s))
                return dc_err(DC_ERR_FORMAT, "%s:1: column name '%s' appears twice", path, s);
        if (!((*names)[c] = dup_str(s)))
            return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    }
    return DC_OK;
}

typedef struct dbuf {
    double *v;
    int64_t n, cap;
} dbuf;

static bool dbuf_push(dbuf *b, double x)
{
    if (b->n == b->cap) {
        int64_t cap = b->cap ? b->cap * 2 : 4096;
        if (cap > CELLS_MAX)
            return false;
        double *v = realloc(b->v, (size_t)cap * sizeof *v);
        if (!v)
            return false;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = x;
    return true;
}

/* Keep the names of the numeric columns in t->names and the others in t->skipped. */
static dc_status sort_columns(dc_table *t, char **all, int n, const bool *numeric)
{
    t->names = calloc((size_t)n, sizeof *t->names);
    t->skipped = calloc((size_t)n, sizeof *t->skipped);
    if (!t->names || !t->skipped)
        return dc_err(DC_ERR_NOMEM, "table: out of memory");
    for (int c = 0; c < n; c++) {
        if (numeric[c])
            t->names[t->n_cols++] = all[c];
        else
            t->skipped[t->n_skipped++] = all[c];
        all[c] = NULL;
    }
    return DC_OK;
}

/* Parse data row `f` (n fields) of line lineno into b; the first row decides numeric[]. */
static dc_status table_row(char **f, int n, int64_t row, bool *numeric, dbuf *b,
                           const char *path, int64_t lineno, char **names)
{
    for (int c = 0; c < n; c++) {
        double v;
        bool ok = parse_num(f[c], &v);
        if (row == 0)
            numeric[c] = ok;
        if (!numeric[c])
            continue;
        if (!ok)
            return dc_err(DC_ERR_FORMAT, "%s:%lld: column '%s': '%.40s' is not a finite number "
                          "(the first data row made it numeric)", path, (long long)lineno,
                          names[c], f[c]);
        if (!dbuf_push(b, v))
            return dc_err(DC_ERR_NOMEM, "%s:%lld: table too large", path, (long long)lineno);
    }
    return DC_OK;
}


/* Read every line of f into t (names, numeric values); the caller frees what is left. */
static dc_status table_read(gzFile f, char *line, char **fields, const char *path, char delim,
                            dc_table *t, char ***all, int *n_all, bool **numeric, dbuf *b)
{
    int64_t lineno = 0, rows = 0;
    size_t len;
    int got;
    while ((got = dc_io_gzline(f, line, LINE_MAX_BYTES, &len)) != 0) {
        lineno++;
        if (got < 0)
            return dc_err(DC_ERR_FORMAT, "%s:%lld: %s", path, (long long)lineno,
                          got == -1 ? "line longer than 1 MiB"
                                    : "NUL byte (binary data, not CSV text)");
        if (blank(line))
            continue;
        int n = split_fields(line, delim, fields);
        if (n < 0 && dc_io_gz_damage(f, path) == DC_OK)
            return dc_err(DC_ERR_FORMAT, "%s:%lld: unclosed quote or more than %d fields", path,
                          (long long)lineno, COLS_MAX);
        if (n < 0)
            return DC_ERR_FORMAT;
        if (!*all) {
            *n_all = n;
            dc_status s = read_header(fields, n, path, all);
            if (s)
                return s;
            if (!(*numeric = calloc((size_t)n, sizeof **numeric)))
                return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
            continue;
        }
        if (n != *n_all && dc_io_gz_damage(f, path) == DC_OK)
            return dc_err(DC_ERR_FORMAT, "%s:%lld: %d fields, expected %d like the header", path,
                          (long long)lineno, n, *n_all);
        if (n != *n_all)
            return DC_ERR_FORMAT;
        dc_status s = table_row(fields, n, rows, *numeric, b, path, lineno, *all);
        if (s && s != DC_ERR_NOMEM && dc_io_gz_damage(f, path) != DC_OK)
            return DC_ERR_FORMAT;
        if (s)
            return s;
        rows++;
    }
    if (dc_io_gz_damage(f, path) != DC_OK)
        return DC_ERR_FORMAT;
    if (rows == 0)
        return dc_err(DC_ERR_FORMAT, "%s: no data rows after the header", path);
    t->n_rows = rows;
    return DC_OK;
}

dc_table *dc_table_load(const char *path, char delim)
{
    if (!path)
        return dc_err_null(DC_ERR_ARG, "dc_table_load: no path");
    gzFile f = dc_io_gzopen(path);
    if (!f)
        return NULL;
    char *line = malloc(LINE_MAX_BYTES);
    char **fields = malloc(COLS_MAX * sizeof *fields);
    dc_table *t = calloc(1, sizeof *t);
    char **all = NULL;
    bool *numeric = NULL;
    int n_all = 0;
    dbuf b = {0};
    dc_status s = DC_ERR_NOMEM;
    if (!line || !fields || !t)
        dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    else
        s = table_read(f, line, fields, path, delim, t, &all, &n_all, &numeric, &b);
    if (s == DC_OK)
        s = sort_columns(t, all, n_all, numeric);
    if (s == DC_OK && t->n_cols == 0)
        s = dc_err(DC_ERR_FORMAT, "%s: no numeric column", path);
    gzclose(f);
    free(line);
    free(fields);
    free_names(all, n_all);
    free(numeric);
    if (s != DC_OK) {
        free(b.v);
        dc_table_free(t);
        return NULL;
    }
    t->data = b.v;
    return t;
}

/* "a, b, c" of up to n names into buf (truncated with "..."). */
static void list_names(char *buf, size_t size, char *const *names, int n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && k + 4 < size; i++) {
        int w = snprintf(buf + k, size - k, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= size - k) {
            snprintf(buf + (size - 4), 4, "...");
            return;
        }
        k += (size_t)w;
    }
}

int dc_table_column(const dc_table *t, const char *name)
{
    if (!t || !name) {
        dc_err(DC_ERR_ARG, "dc_table_column: NULL argument");
        return -1;
    }
    for (int c = 0; c < t->n_cols; c++)
        if (!strcmp(t->names[c], name))
            return c;
    char avail[1024], skipped[512];
    list_names(avail, sizeof avail, t->names, t->n_cols);
    list_names(skipped, sizeof skipped, t->skipped, t->n_skipped);
    for (int c = 0; c < t->n_skipped; c++)
        if (!strcmp(t->skipped[c], name)) {
            dc_err(DC_ERR_ARG, "column '%s' is not numeric; numeric columns: %s", name, avail);
            return -1;
        }
    dc_err(DC_ERR_ARG, "no column '%s'; numeric columns: %s%s%s%s", name, avail,
           t->n_skipped ? " (not numeric: " : "", skipped, t->n_skipped ? ")" : "");
    return -1;
}

/* ---- windows ---- */

void dc_series_free(dc_series *s)
{
    if (!s)
        return;
    free_names(s->features, s->n_features);
    free(s->target);
    free(s->mean);
    free(s->std);
    free(s->target_raw);
    for (int p = 0; p < 3; p++) {
        dc_tensor_free(s->x[p]);
        dc_tensor_free(s->y[p]);
    }
    free(s);
}

/* Mean and population std of column c over rows [0, n); a constant column gets std 1. */
static void fit_column(const dc_table *t, int c, int64_t n, double *mean, double *std)
{
    double m = 0, v = 0;
    for (int64_t r = 0; r < n; r++)
        m += t->data[r * t->n_cols + c];
    m /= (double)n;
    for (int64_t r = 0; r < n; r++) {
        double d = t->data[r * t->n_cols + c] - m;
        v += d * d;
    }
    v = sqrt(v / (double)n);
    *mean = m;
    *std = v > 1e-12 * (1.0 + fabs(m)) ? v : 1.0;
}

/* Resolve the input names into table columns (all numeric columns when n_inputs is 0). */
static dc_status pick_inputs(dc_series *s, const dc_table *t, const char *const *inputs,
                             int n_inputs, int *cols)
{
    s->n_features = n_inputs > 0 ? n_inputs : t->n_cols;
    s->features = calloc((size_t)s->n_features, sizeof *s->features);
    if (!s->features)
        return dc_err(DC_ERR_NOMEM, "series: out of memory");
    for (int i = 0; i < s->n_features; i++) {
        cols[i] = n_inputs > 0 ? dc_table_column(t, inputs[i]) : i;
        if (cols[i] < 0) {
            dc_err_prefix("series inputs: ");
            return DC_ERR_ARG;
        }
        for (int k = 0; k < i; k++)
            if (cols[k] == cols[i])
                return dc_err(DC_ERR_ARG, "series inputs: '%s' given twice", inputs[i]);
        if (!(s->features[i] = dup_str(t->names[cols[i]])))
            return dc_err(DC_ERR_NOMEM, "series: out of memory");
    }
    return DC_OK;
}

/* Fill part p's windows: target rows s->row0[p] .. + s->n[p]. */
static void fill_windows(dc_series *s, const dc_table *t, const int *cols, int tcol, int p)
{
    int W = s->window, F = s->n_features;
    float *x = dc_f32(s->x[p]), *y = dc_f32(s->y[p]);
    for (int64_t i = 0; i < s->n[p]; i++) {
        int64_t tau = s->row0[p] + i, first = tau - s->horizon - W + 1;
        for (int k = 0; k < W; k++) {
            const double *row = t->data + (first + k) * t->n_cols;
            float *xo = x + (i * W + k) * F;
            for (int f = 0; f < F; f++)
                xo[f] = (float)((row[cols[f]] - s->mean[f]) / s->std[f]);
        }
        y[i] = (float)((t->data[tau * t->n_cols + tcol] - s->target_mean) / s->target_std);
    }
}

/* Rows per part from the fractions, windows per part by where their target row falls. */
static dc_status split_parts(dc_series *s, int64_t R, double val_frac, double test_frac)
{
    int64_t r_val = (int64_t)llround((double)R * val_frac);
    int64_t r_test = (int64_t)llround((double)R * test_frac);
    s->n_rows[0] = R - r_val - r_test;
    s->n_rows[1] = r_val;
    s->n_rows[2] = r_test;
    int64_t first_target = s->window + s->horizon - 1, start = 0;
    for (int p = 0; p < 3; p++) {
        int64_t end = start + s->n_rows[p];
        s->row0[p] = start > first_target ? start : first_target;
        s->n[p] = end > s->row0[p] ? end - s->row0[p] : 0;
        start = end;
    }
    if (s->n[0] < 1 || s->n_rows[0] < 2)
        return dc_err(DC_ERR_ARG, "series: %lld rows leave %lld training rows, too few for a "
                      "window of %d and horizon %d", (long long)R, (long long)s->n_rows[0],
                      s->window, s->horizon);
    return DC_OK;
}

dc_series *dc_series_windows(const dc_table *t, const char *const *inputs, int n_inputs,
                             const char *target, int window, int horizon, double val_frac,
                             double test_frac)
{
    if (!t || !target || n_inputs < 0 || (n_inputs > 0 && !inputs))
        return dc_err_null(DC_ERR_ARG, "dc_series_windows: NULL argument");
    if (window < 1 || horizon < 1 || window > 100000 || horizon > 100000 ||
        !(val_frac >= 0 && test_frac >= 0 && val_frac + test_frac < 1))
        return dc_err_null(DC_ERR_ARG, "dc_series_windows: need window >= 1, horizon >= 1, "
                           "fractions >= 0 with val + test < 1 (got %d, %d, %g, %g)", window,
                           horizon, val_frac, test_frac);
    int tcol = dc_table_column(t, target);
    if (tcol < 0) {
        dc_err_prefix("series target: ");
        return NULL;
    }
    dc_series *s = calloc(1, sizeof *s);
    int *cols = calloc((size_t)(n_inputs > 0 ? n_inputs : t->n_cols), sizeof *cols);
    if (!s || !cols) {
        free(s);
        free(cols);
        return dc_err_null(DC_ERR_NOMEM, "series: out of memory");
    }
    s->window = window;
    s->horizon = horizon;
    s->target_feature = -1;
    dc_status st = pick_inputs(s, t, inputs, n_inputs, cols);
    if (st == DC_OK)
        st = split_parts(s, t->n_rows, val_frac, test_frac);
    if (st == DC_OK) {
        s->target = dup_str(target);
        s->mean = malloc((size_t)s->n_features * sizeof *s->mean);
        s->std = malloc((size_t)s->n_features * sizeof *s->std);
        s->target_raw = malloc((size_t)t->n_rows * sizeof *s->target_raw);
        if (!s->target || !s->mean || !s->std || !s->target_raw)
            st = dc_err(DC_ERR_NOMEM, "series: out of memory");
    }
    for (int p = 0; st == DC_OK && p < 3; p++) {
        s->x[p] = dc_tensor_new(DC_F32, 3, DC_SHAPE(s->n[p], window, s->n_features));
        s->y[p] = dc_tensor_new(DC_F32, 2, DC_SHAPE(s->n[p], 1));
        if (!s->x[p] || !s->y[p])
            st = DC_ERR_NOMEM;
    }
    if (st != DC_OK) {
        free(cols);
        dc_series_free(s);
        return NULL;
    }
    s->n_total_rows = t->n_rows;
    for (int f = 0; f < s->n_features; f++) {
        fit_column(t, cols[f], s->n_rows[0], &s->mean[f], &s->std[f]);
        if (cols[f] == tcol)
            s->target_feature = f;
    }
    fit_column(t, tcol, s->n_rows[0], &s->target_mean, &s->target_std);
    for (int64_t r = 0; r < t->n_rows; r++)
        s->target_raw[r] = t->data[r * t->n_cols + tcol];
    for (int p = 0; p < 3; p++)
        fill_windows(s, t, cols, tcol, p);
    free(cols);
    return s;
}

dc_dataset *dc_series_dataset(const dc_series *s, dc_split part)
{
    if (!s || part < DC_SPLIT_TRAIN || part > DC_SPLIT_TEST)
        return dc_err_null(DC_ERR_ARG, "dc_series_dataset: NULL series or bad part");
    if (s->n[part] == 0)
        return dc_err_null(DC_ERR_ARG, "dc_series_dataset: the %s part has no windows",
                           part == DC_SPLIT_VAL ? "validation" : "test");
    dc_tensor *x = dc_tensor_clone(s->x[part]), *y = dc_tensor_clone(s->y[part]);
    if (!x || !y) {
        dc_tensor_free(x);
        dc_tensor_free(y);
        return NULL;
    }
    return dc_dataset_tensors(x, y);
}

/* ---- scores and baselines ---- */

/* Accumulate |e| and e² of raw predictions against the targets of part's windows. */
static dc_status score_raw(const dc_series *s, dc_split part, const double *pred,
                           dc_forecast_score *out)
{
    double sa = 0, s2 = 0;
    int64_t n = s->n[part];
    for (int64_t i = 0; i < n; i++) {
        double e = pred[i] - s->target_raw[s->row0[part] + i];
        sa += fabs(e);
        s2 += e * e;
    }
    out->n = n;
    out->mae = sa / (double)n;
    out->rmse = sqrt(s2 / (double)n);
    if (!isfinite(out->mae) || !isfinite(out->rmse))
        return dc_err(DC_ERR_NUMERIC, "series score: a prediction is not finite");
    return DC_OK;
}

static dc_status check_part(const dc_series *s, dc_split part, const char *who)
{
    if (!s || part < DC_SPLIT_TRAIN || part > DC_SPLIT_TEST)
        return dc_err(DC_ERR_ARG, "%s: NULL series or bad part", who);
    if (s->n[part] == 0)
        return dc_err(DC_ERR_ARG, "%s: the %s part has no windows", who,
                      part == DC_SPLIT_VAL ? "validation" : "test");
    return DC_OK;
}

dc_status dc_series_score(const dc_series *s, dc_split part, const float *pred,
                          dc_forecast_score *out)
{
    dc_status st = check_part(s, part, "dc_series_score");
    if (st)
        return st;
    if (!pred || !out)
        return dc_err(DC_ERR_ARG, "dc_series_score: NULL argument");
    double *raw = malloc((size_t)s->n[part] * sizeof *raw);
    if (!raw)
        return dc_err(DC_ERR_NOMEM, "dc_series_score: out of memory");
    for (int64_t i = 0; i < s->n[part]; i++)
        raw[i] = (double)pred[i] * s->target_std + s->target_mean;
    st = score_raw(s, part, raw, out);
    free(raw);
    return st;
}

dc_status dc_baseline_persistence(const dc_series *s, dc_forecast_score *test)
{
    dc_status st = check_part(s, DC_SPLIT_TEST, "dc_baseline_persistence");
    if (st)
        return st;
    if (!test)
        return dc_err(DC_ERR_ARG, "dc_baseline_persistence: NULL result");
    double *pred = malloc((size_t)s->n[DC_SPLIT_TEST] * sizeof *pred);
    if (!pred)
        return dc_err(DC_ERR_NOMEM, "dc_baseline_persistence: out of memory");
    for (int64_t i = 0; i < s->n[DC_SPLIT_TEST]; i++)   /* ŷ(τ) = target(τ − h) */
        pred[i] = s->target_raw[s->row0[DC_SPLIT_TEST] + i - s->horizon];
    st = score_raw(s, DC_SPLIT_TEST, pred, test);
    free(pred);
    return st;
}

/* Regressors of window i of part: the normalised target over the window [W], or the whole
 * normalised window [W·F] when all_features. */
static void ar_row(const dc_series *s, dc_split part, int64_t i, int all_features, double *row)
{
    int W = s->window;
    if (all_features) {
        int64_t p = (int64_t)W * s->n_features;
        const float *x = dc_f32(s->x[part]) + i * p;
        for (int64_t k = 0; k < p; k++)
            row[k] = x[k];
        return;
    }
    int64_t first = s->row0[part] + i - s->horizon - W + 1;
    for (int k = 0; k < W; k++)
        row[k] = (s->target_raw[first + k] - s->target_mean) / s->target_std;
}

/* Solve (A + λI) w = b in place by Cholesky; A [p, p] symmetric (lower triangle used). */
static dc_status ridge_solve(double *A, double *b, int p, double lambda)
{
    for (int j = 0; j < p; j++) {
        double d = A[j * p + j] + lambda;
        for (int k = 0; k < j; k++)
            d -= A[j * p + k] * A[j * p + k];
        if (!(d > 0))
            return dc_err(DC_ERR_NUMERIC, "linear AR: normal equations not positive definite "
                          "(raise the ridge term)");
        double l = sqrt(d);
        A[j * p + j] = l;
        for (int i = j + 1; i < p; i++) {
            double v = A[i * p + j];
            for (int k = 0; k < j; k++)
                v -= A[i * p + k] * A[j * p + k];
            A[i * p + j] = v / l;
        }
    }
    for (int i = 0; i < p; i++) {           /* L z = b */
        for (int k = 0; k < i; k++)
            b[i] -= A[i * p + k] * b[k];
        b[i] /= A[i * p + i];
    }
    for (int i = p - 1; i >= 0; i--) {      /* Lᵀ w = z */
        for (int k = i + 1; k < p; k++)
            b[i] -= A[k * p + i] * b[k];
        b[i] /= A[i * p + i];
    }
    return DC_OK;
}

/* Centred normal equations of the train windows: A = Σ (x−x̄)(x−x̄)ᵀ / n, b = Σ (x−x̄)(y−ȳ) / n. */
static void ar_normal_eq(const dc_series *s, int all, int p, double *row, double *mx,
                         double *my, double *A, double *b)
{
    int64_t n = s->n[DC_SPLIT_TRAIN];
    const double *y = s->target_raw + s->row0[DC_SPLIT_TRAIN];   /* raw targets, in double */
    *my = 0;
    for (int64_t i = 0; i < n; i++) {
        ar_row(s, DC_SPLIT_TRAIN, i, all, row);
        for (int k = 0; k < p; k++)
            mx[k] += row[k];
        *my += (y[i] - s->target_mean) / s->target_std;
    }
    for (int k = 0; k < p; k++)
        mx[k] /= (double)n;
    *my /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        ar_row(s, DC_SPLIT_TRAIN, i, all, row);
        for (int k = 0; k < p; k++)
            row[k] -= mx[k];
        double dy = (y[i] - s->target_mean) / s->target_std - *my;
        for (int r = 0; r < p; r++) {
            b[r] += row[r] * dy;
            for (int c = 0; c <= r; c++)
                A[r * p + c] += row[r] * row[c];
        }
    }
    for (int r = 0; r < p; r++) {
        b[r] /= (double)n;
        for (int c = 0; c <= r; c++)
            A[r * p + c] /= (double)n;
    }
}

dc_status dc_baseline_linear_ar(const dc_series *s, int all_features, double ridge,
                                dc_forecast_score *test)
{
    dc_status st = check_part(s, DC_SPLIT_TEST, "dc_baseline_linear_ar");
    if (st)
        return st;
    if (!test || !(ridge >= 0) || !isfinite(ridge))
        return dc_err(DC_ERR_ARG, "dc_baseline_linear_ar: NULL result or ridge < 0");
    int64_t p64 = all_features ? (int64_t)s->window * s->n_features : s->window;
    if (p64 > AR_MAX_P)
        return dc_err(DC_ERR_ARG, "dc_baseline_linear_ar: %lld regressors, at most %d",
                      (long long)p64, AR_MAX_P);
    int p = (int)p64;
    if (ridge == 0)
        ridge = 1e-6;
    int64_t nt = s->n[DC_SPLIT_TEST];
    double *A = calloc((size_t)p * (size_t)p, sizeof *A);
    double *work = calloc((size_t)(3 * p), sizeof *work);
    double *pred = malloc((size_t)nt * sizeof *pred);
    if (!A || !work || !pred) {
        st = dc_err(DC_ERR_NOMEM, "dc_baseline_linear_ar: out of memory");
        goto out;
    }
    double *row = work, *mx = work + p, *w = work + 2 * p, my;
    ar_normal_eq(s, all_features, p, row, mx, &my, A, w);
    if ((st = ridge_solve(A, w, p, ridge)))
        goto out;
    for (int64_t i = 0; i < nt; i++) {   /* ŷ = ȳ + w·(x − x̄), then de-normalised */
        ar_row(s, DC_SPLIT_TEST, i, all_features, row);
        double v = my;
        for (int k = 0; k < p; k++)
            v += w[k] * (row[k] - mx[k]);
        pred[i] = v * s->target_std + s->target_mean;
    }
    st = score_raw(s, DC_SPLIT_TEST, pred, test);
out:
    free(A);
    free(work);
    free(pred);
    return st;
}
