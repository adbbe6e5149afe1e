/*
 * spec.c - the model spec text format: parse, keep, write back (docs/model-format.md).
 *
 *   # comment
 *   [input]
 *   shape = 1, 28, 28
 *
 *   [conv2d c1]          <- [type name]; the name is optional (then type + counter)
 *   out_channels = 6
 *   kernel = 5
 *   padding = 2
 *
 *   [add res1]
 *   input = c1, c3       <- which earlier layers feed this one (default: the one before)
 *
 * This file only knows the syntax; build.c gives the keys their meaning. Every key is kept with
 * its line so the builder can report file:line and echo the defaults it used.
 */
#define _POSIX_C_SOURCE 200809L
#include "spec/spec_internal.h"
#include "io/io.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPEC_MAX_BYTES (4 << 20)
#define SPEC_MAX_LAYERS 4096
#define SPEC_MAX_KEYS 64

void dc_spec_free(dc_spec *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->l[i].kv);
    free(s->l);
    free(s->file);
    free(s);
}

static char *trim(char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    char *e = p + strlen(p);
    while (e > p && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return p;
}

static bool ident_ok(const char *p)
{
    if (!*p)
        return false;
    for (; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return false;
    return true;
}

static spec_layer *add_layer(dc_spec *s, int line)
{
    if (s->n >= SPEC_MAX_LAYERS) {
        dc_err(DC_ERR_FORMAT, "%s:%d: more than %d layers", s->file, line, SPEC_MAX_LAYERS);
        return NULL;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        spec_layer *l = realloc(s->l, (size_t)cap * sizeof *l);
        if (!l) {
            dc_err(DC_ERR_NOMEM, "%s: out of memory", s->file);
            return NULL;
        }
        s->l = l;
        s->cap = cap;
    }
    spec_layer *l = &s->l[s->n++];
    memset(l, 0, sizeof *l);
    l->line = line;
    return l;
}

spec_kv *spec_kv_add(dc_spec *s, spec_layer *l, const char *key, const char *val, int line)
{
    if (strlen(key) >= sizeof l->kv->key || strlen(val) >= sizeof l->kv->val) {
        dc_err(DC_ERR_FORMAT, "%s:%d: key or value too long", s->file, line);
        return NULL;
    }
    if (l->n_kv >= SPEC_MAX_KEYS) {
        dc_err(DC_ERR_FORMAT, "%s:%d: more than %d keys in one layer", s->file, line,
               SPEC_MAX_KEYS);
        return NULL;
    }
    if (l->n_kv == l->cap_kv) {
        int cap = l->cap_kv ? l->cap_kv * 2 : 8;
        spec_kv *kv = realloc(l->kv, (size_t)cap * sizeof *kv);
        if (!kv) {
            dc_err(DC_ERR_NOMEM, "%s: out of memory", s->file);
            return NULL;
        }
        l->kv = kv;
        l->cap_kv = cap;
    }
    spec_kv *kv = &l->kv[l->n_kv++];
    memset(kv, 0, sizeof *kv);
    strcpy(kv->key, key);
    strcpy(kv->val, val);
    kv->line = line;
    return kv;
}

spec_kv *spec_kv_find(spec_layer *l, const char *key)
{
    for (int i = 0; i < l->n_kv; i++)
        if (!strcmp(l->kv[i].key, key))
            return &l->kv[i];
    return NULL;
}

/* "[type]" or "[type name]" */
static dc_status parse_header(dc_spec *s, char *p, int line)
{
    char *end = strchr(p, ']');
    if (!end || *trim(end + 1))
        return dc_err(DC_ERR_FORMAT, "%s:%d: expected '[type name]'", s->file, line);
    *end = '\0';
    char *type = trim(p + 1), *name = type;
    while (*name && !isspace((unsigned char)*name))
        name++;
    if (*name)
        *name++ = '\0';
    name = trim(name);
    if (!ident_ok(type) || strlen(type) >= sizeof s->l->type)
        return dc_err(DC_ERR_FORMAT, "%s:%d: bad layer type '%s'", s->file, line, type);
    if (*name && (!ident_ok(name) || strlen(name) >= sizeof s->l->name))
        return dc_err(DC_ERR_FORMAT, "%s:%d: bad layer name '%s' (letters, digits, _ - . and "
                      "at most 63 characters)", s->file, line, name);
    if (!strcmp(name, "input")) /* `input = input` means the model's input: it could never name it */
        return dc_err(DC_ERR_FORMAT, "%s:%d: a layer cannot be named 'input' (the name is reserved: "
                      "'input = input' means the model's input)", s->file, line);
    spec_layer *l = add_layer(s, line);
    if (!l)
        return DC_ERR_FORMAT;
    strcpy(l->type, type);
    strcpy(l->name, name);
    for (char *c = l->type; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return DC_OK;
}

static dc_status parse_line(dc_spec *s, char *p, int line)
{
    char *hash = strchr(p, '#');
    if (hash)
        *hash = '\0';
    p = trim(p);
    if (!*p)
        return DC_OK;
    if (*p == '[')
        return parse_header(s, p, line);
    char *eq = strchr(p, '=');
    if (!eq)
        return dc_err(DC_ERR_FORMAT, "%s:%d: expected 'key = value' or '[type name]', got '%.40s'",
                      s->file, line, p);
    if (s->n == 0)
        return dc_err(DC_ERR_FORMAT, "%s:%d: 'key = value' before the first [section]",
                      s->file, line);
    *eq = '\0';
    char *key = trim(p), *val = trim(eq + 1);
    if (!ident_ok(key))
        return dc_err(DC_ERR_FORMAT, "%s:%d: bad key '%s'", s->file, line, key);
    if (!*val)
        return dc_err(DC_ERR_FORMAT, "%s:%d: key '%s' has no value", s->file, line, key);
    spec_layer *l = &s->l[s->n - 1];
    spec_kv *dup = spec_kv_find(l, key);
    if (dup)
        return dc_err(DC_ERR_FORMAT, "%s:%d: key '%s' given twice (first at line %d)", s->file,
                      line, key, dup->line);
    return spec_kv_add(s, l, key, val, line) ? DC_OK : DC_ERR_FORMAT;
}

dc_spec *dc_spec_parse_string(const char *text, const char *name)
{
    dc_spec *s = calloc(1, sizeof *s);
    char *buf = text ? strdup(text) : NULL;
    if (!s || !buf) {
        free(s);
        free(buf);
        return dc_err_null(DC_ERR_NOMEM, "spec: out of memory");
    }
    if (!(s->file = strdup(name ? name : "<spec>"))) {
        free(buf);
        free(s);
        return dc_err_null(DC_ERR_NOMEM, "spec: out of memory");
    }
    int line = 1;
    for (char *p = buf; p; line++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (strlen(p) > 4096) {
            dc_err(DC_ERR_FORMAT, "%s:%d: line longer than 4096 characters", s->file, line);
            goto fail;
        }
        if (parse_line(s, p, line) != DC_OK)
            goto fail;
        p = nl ? nl + 1 : NULL;
    }
    if (s->n == 0) {
        dc_err(DC_ERR_FORMAT, "%s: no layers (expected an [input] section and layers)", s->file);
        goto fail;
    }
    free(buf);
    return s;
fail:
    free(buf);
    dc_spec_free(s);
    return NULL;
}

dc_spec *dc_spec_parse_file(const char *path)
{
    dc_io_file f;
    if (dc_io_open(&f, path) != DC_OK)
        return NULL;
    if (f.size > SPEC_MAX_BYTES) {
        dc_io_close(&f);
        return dc_err_null(DC_ERR_FORMAT, "%s: %lld bytes is larger than a spec may be (4 MiB)",
                           path, (long long)f.size);
    }
    char *buf = malloc((size_t)f.size + 1);
    dc_status st = buf ? dc_io_read_at(&f, 0, buf, (size_t)f.size, "the spec")
                       : dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    dc_io_close(&f);
    if (st != DC_OK) {
        free(buf);
        return NULL;
    }
    size_t n = (size_t)f.size;
    const char *nul = memchr(buf, '\0', n);
    if (nul) {
        long line = 1;
        for (const char *p = buf; p < nul; p++)
            line += *p == '\n';
        free(buf);
        return dc_err_null(DC_ERR_FORMAT, "%s:%ld: NUL byte (not a text file)", path, line);
    }
    buf[n] = '\0';
    dc_spec *s = dc_spec_parse_string(buf, path);
    free(buf);
    return s;
}

char *dc_spec_to_string(const dc_spec *s)
{
    size_t cap = 1024, len = 0;
    char *out = malloc(cap);
    if (!out)
        return dc_err_null(DC_ERR_NOMEM, "spec: out of memory");
    out[0] = '\0';
    for (int i = 0; i < s->n; i++) {
        const spec_layer *l = &s->l[i];
        for (int k = -1; k < l->n_kv; k++) {
            char line[512];
            int w = k < 0 ? snprintf(line, sizeof line, "%s[%s%s%s]\n", i ? "\n" : "", l->type,
                                     *l->name ? " " : "", l->name)
                          : snprintf(line, sizeof line, "%s = %s\n", l->kv[k].key,
                                     l->kv[k].val);
            if (len + (size_t)w + 1 > cap) {
                cap = (cap + (size_t)w + 1) * 2;
                char *p = realloc(out, cap);
                if (!p) {
                    free(out);
                    return dc_err_null(DC_ERR_NOMEM, "spec: out of memory");
                }
                out = p;
            }
            memcpy(out + len, line, (size_t)w + 1);
            len += (size_t)w;
        }
    }
    return out;
}

dc_status dc_spec_write(const dc_spec *s, const char *path)
{
    char *text = dc_spec_to_string(s);
    if (!text)
        return DC_ERR_NOMEM;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(text);
        return dc_err(DC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    ok &= fclose(f) == 0;
    free(text);
    return ok ? DC_OK : dc_err(DC_ERR_IO, "%s: write failed", path);
}

int dc_spec_input_shape(const dc_spec *s, int64_t *shape)
{
    for (int i = 0; i < s->in_ndim; i++)
        shape[i] = s->in_shape[i];
    return s->in_ndim;
}

dc_dtype dc_spec_input_dtype(const dc_spec *s) { return s->in_dtype; }
int dc_spec_n_layers(const dc_spec *s) { return s->n; }

int dc_spec_define(dc_spec *s, const char *name, const char *value)
{
    if (!s || !name || !*name || !value || strlen(name) > 30 || strlen(value) > 255)
        return dc_err(DC_ERR_ARG, "spec_define: need a spec, a name of 1..30 bytes and a value "
                      "of at most 255 bytes"), -1;
    int n = 0;
    for (int i = 0; i < s->n; i++)
        for (int j = 0; j < s->l[i].n_kv; j++) {
            char *v = s->l[i].kv[j].val;
            if (v[0] == '$' && !strcmp(v + 1, name)) {
                snprintf(v, sizeof s->l[i].kv[j].val, "%s", value);
                n++;
            }
        }
    return n;
}
const char *dc_spec_layer_type(const dc_spec *s, int i) { return s->l[i].type; }

dc_status dc_spec_define_assign(dc_spec *s, const char *assignment)
{
    const char *eq = assignment ? strchr(assignment, '=') : NULL;
    if (!eq || eq == assignment || eq - assignment > 30)
        return dc_err(DC_ERR_ARG, "--set: expected NAME=VALUE (NAME of 1..30 bytes), got '%s'",
                      assignment ? assignment : "");
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(eq - assignment), assignment);
    int r = dc_spec_define(s, name, eq + 1);
    if (r < 0) {
        dc_err_prefix("--set %s: ", assignment);
        return DC_ERR_ARG;
    }
    if (r == 0)
        return dc_err(DC_ERR_ARG, "--set %s: %s has no value written '$%s'", assignment,
                      s->file, name);
    return DC_OK;
}
