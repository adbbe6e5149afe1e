/*
 * textcls_source.c - the `--data` forms of text classification, parsed in the library so the
 * CLI only passes the string on: textdir:DIR, tsv:FILE, csv:FILE, spam-assassin[:DIR], each with
 * optional ",key=value" options (columns, header, the split, the positive class).
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *prefix;
    dc_textcls_kind kind;
    char delim;
} FORMS[] = {{"textdir:", DC_TEXTCLS_DIR, 0}, {"tsv:", DC_TEXTCLS_TABLE, '\t'},
             {"csv:", DC_TEXTCLS_TABLE, ','}, {"spam-assassin", DC_TEXTCLS_SPAM, 0}};
#define N_FORMS (int)(sizeof FORMS / sizeof *FORMS)

static int form_of(const char *data)
{
    for (int i = 0; data && i < N_FORMS; i++) {
        size_t k = strlen(FORMS[i].prefix);
        if (!strncmp(data, FORMS[i].prefix, k) &&
            (FORMS[i].kind != DC_TEXTCLS_SPAM || data[k] == '\0' || data[k] == ':' ||
             data[k] == ','))
            return i;
    }
    return -1;
}

int dc_textcls_source_is(const char *data) { return form_of(data) >= 0; }

/* A fraction in [0, 1). */
static dc_status frac(const char *key, const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= 0 && x < 1))
        return dc_err(DC_ERR_ARG, "--data: %s=%s: expected a fraction in [0, 1)", key, v);
    *out = x;
    return DC_OK;
}

static dc_status copy_val(const char *key, const char *v, char *dst, size_t cap)
{
    if (!*v || strlen(v) >= cap)
        return dc_err(DC_ERR_ARG, "--data: %s= needs a value of 1 to %zu bytes", key, cap - 1);
    memcpy(dst, v, strlen(v) + 1);
    return DC_OK;
}

/* One key=value (kv is modified). */
static dc_status option(char *kv, dc_textcls_source *s)
{
    char *eq = strchr(kv, '=');
    if (!eq)
        return dc_err(DC_ERR_ARG, "--data: '%s' is not key=value (keys: text, label, header, "
                      "val, test, seed, positive)", kv);
    *eq = '\0';
    const char *k = kv, *v = eq + 1;
    const int table = s->kind == DC_TEXTCLS_TABLE;
    if (table && !strcmp(k, "text"))
        return copy_val(k, v, s->text_col, sizeof s->text_col);
    if (table && !strcmp(k, "label"))
        return copy_val(k, v, s->label_col, sizeof s->label_col);
    if (table && !strcmp(k, "header")) {
        if (strcmp(v, "0") && strcmp(v, "1"))
            return dc_err(DC_ERR_ARG, "--data: header=%s: expected 0 or 1", v);
        s->table.header = v[0] == '1';
        return DC_OK;
    }
    if (!strcmp(k, "val"))
        return frac(k, v, &s->val);
    if (!strcmp(k, "test"))
        return frac(k, v, &s->test);
    if (!strcmp(k, "positive"))
        return copy_val(k, v, s->positive, sizeof s->positive);
    if (!strcmp(k, "seed")) {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || *v == '-')
            return dc_err(DC_ERR_ARG, "--data: seed=%s: expected a whole number >= 0", v);
        s->seed = (uint64_t)x;
        return DC_OK;
    }
    return dc_err(DC_ERR_ARG, "--data: unknown key '%s' (%s)", k,
                  table ? "text, label, header, val, test, seed, positive"
                        : "val, test, seed, positive");
}

/* The npm package's data/ folder under $DEEPC_NPM_DATA or $HOME/.cache/deepc/npm. */
static dc_status spam_default(char *path, size_t cap)
{
    const char *root = getenv("DEEPC_NPM_DATA"), *home = getenv("HOME");
    int n = root && *root ? snprintf(path, cap, "%s/datasets-spam-assassin-0.2.3/data", root)
            : home ? snprintf(path, cap, "%s/.cache/deepc/npm/datasets-spam-assassin-0.2.3/data",
                              home)
                   : -1;
    if (n < 0 || (size_t)n >= cap)
        return dc_err(DC_ERR_ARG, "--data spam-assassin: no $HOME or $DEEPC_NPM_DATA to find the "
                      "data in; give spam-assassin:DIR");
    return DC_OK;
}

dc_status dc_textcls_source_parse(const char *data, dc_textcls_source *s)
{
    const int f = form_of(data);
    if (!s)
        return dc_err(DC_ERR_ARG, "--data: NULL argument");
    memset(s, 0, sizeof *s);
    if (f < 0)
        return dc_err(DC_ERR_ARG, "--data '%s': expected textdir:DIR, tsv:FILE, csv:FILE or "
                      "spam-assassin[:DIR], then any ,key=value", data ? data : "(null)");
    *s = (dc_textcls_source){.kind = FORMS[f].kind, .val = 0.1, .test = 0.1,
                             .table = dc_textcls_table_defaults(FORMS[f].delim)};
    strcpy(s->text_col, "text");
    strcpy(s->label_col, "label");
    const char *rest = data + strlen(FORMS[f].prefix);
    if (s->kind == DC_TEXTCLS_SPAM && *rest == ':')
        rest++;
    char buf[8192];
    if (strlen(rest) >= sizeof buf)
        return dc_err(DC_ERR_ARG, "--data: longer than %zu bytes", sizeof buf - 1);
    strcpy(buf, rest);
    char *comma = strchr(buf, ',');
    if (comma)
        *comma = '\0';
    dc_status st = DC_OK;
    if (!buf[0] && s->kind == DC_TEXTCLS_SPAM)
        st = spam_default(s->path, sizeof s->path);
    else if (!buf[0] || strlen(buf) >= sizeof s->path)
        st = dc_err(DC_ERR_ARG, "--data '%s': expected a %s after '%s'", data,
                    s->kind == DC_TEXTCLS_TABLE ? "file" : "folder", FORMS[f].prefix);
    else
        strcpy(s->path, buf);
    for (char *kv = comma ? comma + 1 : NULL; st == DC_OK && kv;) {
        char *next = strchr(kv, ',');
        if (next)
            *next++ = '\0';
        st = option(kv, s);
        kv = next;
    }
    if (st == DC_OK && !(s->val + s->test < 1))
        st = dc_err(DC_ERR_ARG, "--data: val=%g and test=%g leave nothing to train on", s->val,
                    s->test);
    s->table.text_col = s->text_col;
    s->table.label_col = s->label_col;
    return st;
}

dc_status dc_textcls_load(const dc_textcls_source *s, dc_textcls_data *out)
{
    if (!s || !out)
        return dc_err(DC_ERR_ARG, "text data: NULL argument");
    dc_textcls_table_opts o = s->table;
    o.text_col = s->text_col;
    o.label_col = s->label_col;
    switch (s->kind) {
    case DC_TEXTCLS_DIR: return dc_textcls_load_dir(s->path, out);
    case DC_TEXTCLS_TABLE: return dc_textcls_load_table(s->path, &o, out);
    case DC_TEXTCLS_SPAM: return dc_textcls_load_spam(s->path, out);
    }
    return dc_err(DC_ERR_ARG, "text data: unknown source kind %d", (int)s->kind);
}

dc_status dc_textcls_positive(const dc_textcls_source *s, const dc_textcls_data *d, int *positive)
{
    if (!s || !d || !positive)
        return dc_err(DC_ERR_ARG, "positive class: NULL argument");
    if (!s->positive[0]) {
        *positive = d->n_classes == 2 ? 1 : -1;
        return DC_OK;
    }
    for (int k = 0; k < d->n_classes; k++)
        if (!strcmp(d->classes[k], s->positive)) {
            *positive = k;
            return DC_OK;
        }
    char list[512] = "";
    size_t at = 0;
    for (int k = 0; k < d->n_classes && at + 4 < sizeof list; k++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s'%s'", k ? ", " : "",
                               d->classes[k]);
    return dc_err(DC_ERR_ARG, "--data: positive=%s is not a class (the classes: %s)", s->positive,
                  list);
}
