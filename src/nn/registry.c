/*
 * registry.c - the list of layer descriptors (layers.def) and what reads it as a whole: lookup
 * by spec type or alias, lookup by module type, and the layer table as Markdown (the table of
 * docs/model-format.md) or JSON (`deepc layers --json`, read by tools/spec_torch.py).
 */
#include "nn/layer_desc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DC_LAYER(id) extern const dc_layer_desc dc_layer_##id;
#include "nn/layers.def"
#undef DC_LAYER

static const dc_layer_desc *const registry[] = {
#define DC_LAYER(id) &dc_layer_##id,
#include "nn/layers.def"
#undef DC_LAYER
};
#define N_LAYERS ((int)(sizeof registry / sizeof *registry))

int dc_layer_count(void) { return N_LAYERS; }

const dc_layer_desc *dc_layer_at(int i) { return i >= 0 && i < N_LAYERS ? registry[i] : NULL; }

/* Whether `name` is one of the space-separated words of list (case-insensitive). */
static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && !strncasecmp(p, name, n))
            return true;
        p += k + (p[k] == ' ');
    }
    return false;
}

const dc_layer_desc *dc_layer_find(const char *type)
{
    for (int i = 0; i < N_LAYERS; i++)
        if (!strcasecmp(registry[i]->type, type))
            return registry[i];
    for (int i = 0; i < N_LAYERS; i++)
        if (in_list(registry[i]->aliases, type))
            return registry[i];
    return NULL;
}

const dc_layer_desc *dc_layer_find_module(const char *module)
{
    for (int i = 0; i < N_LAYERS; i++)
        if (registry[i]->module && !strcmp(registry[i]->module, module))
            return registry[i];
    return NULL;
}

int dc_layer_key_index(const dc_layer_desc *d, const char *name)
{
    for (int k = 0; k < d->n_keys; k++)
        if (!strcmp(d->keys[k].name, name))
            return k;
    return -1;
}

int64_t dc_module_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y)
{
    const dc_layer_desc *d = m ? dc_layer_find_module(m->type) : NULL;
    if (d && d->macs)
        return d->macs(m, x, y);
    return m && m->macs ? m->macs(m, x, y) : 0;
}

dc_module *dc_layer_refuse(dc_layer_args *a, int k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
    a->bad = k;
    return NULL;
}

/* ---- the table as Markdown and JSON ---- */

static const char *const kind_names[] = {"int", "ints", "float", "bool", "word", "inferred"};

/* "(required)", "(inferred)", "(= kernel)" or "(0.1)" */
static void key_default(const dc_layer_key *k, char *buf, size_t size)
{
    if (k->kind == DC_KEY_IN)
        snprintf(buf, size, "inferred");
    else if (!k->def)
        snprintf(buf, size, "required");
    else if (k->def[0] == '=')
        snprintf(buf, size, "= %s", k->def + 1);
    else
        snprintf(buf, size, "%s", k->def);
}

static void md_row(FILE *f, const dc_layer_desc *d)
{
    fprintf(f, "| `%s` | ", d->type);
    for (int k = 0; k < d->n_keys; k++) {
        char def[64];
        key_default(&d->keys[k], def, sizeof def);
        fprintf(f, "%s`%s` (%s): %s", k ? "; " : "", d->keys[k].name, def, d->keys[k].doc);
    }
    fprintf(f, "%s | %s | %s |\n", d->n_keys ? "" : "none", d->doc, d->torch);
}

/* A JSON string: the texts are ASCII/UTF-8 without control characters; quote and backslash
 * are escaped. */
static void js(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* ["a", "b"] from a list separated by any of seps */
static void js_list(FILE *f, const char *list, const char *seps)
{
    fputc('[', f);
    for (const char *p = list; p && *p;) {
        size_t k = strcspn(p, seps);
        char w[64];
        snprintf(w, sizeof w, "%.*s", (int)(k < 63 ? k : 63), p);
        if (k)
            js(f, w), fputs(p[k] ? ", " : "", f);
        p += k + (p[k] != '\0');
    }
    fputc(']', f);
}

static void json_key(FILE *f, const dc_layer_key *k, int last)
{
    fputs("      {\"name\": ", f);
    js(f, k->name);
    fprintf(f, ", \"kind\": \"%s\", \"default\": ", kind_names[k->kind]);
    if (k->def && k->kind != DC_KEY_IN)
        js(f, k->def);
    else
        fputs("null", f);
    fprintf(f, ", \"lo\": %.17g, \"hi\": %.17g, \"min_n\": %d, \"max_n\": %d, \"dim\": %d, "
               "\"words\": ", k->lo, k->hi, k->min_n, k->max_n, k->dim);
    js_list(f, k->words, "|");
    fputs(", \"doc\": ", f);
    js(f, k->doc);
    fprintf(f, "}%s\n", last ? "" : ",");
}

static void json_layer(FILE *f, const dc_layer_desc *d, int last)
{
    fputs("  {\"type\": ", f);
    js(f, d->type);
    fputs(", \"aliases\": ", f);
    js_list(f, d->aliases, " ");
    fputs(", \"module\": ", f);
    js(f, d->module);
    fputs(", \"torch\": ", f);
    js(f, d->torch);
    fputs(", \"doc\": ", f);
    js(f, d->doc);
    fputs(", \"params\": ", f);
    js_list(f, d->params, " ");
    fprintf(f, ", \"min_ndim\": %d, \"max_ndim\": %d, \"gradcheck\": ", d->min_ndim, d->max_ndim);
    js(f, d->gradcheck ? d->gradcheck : "");
    fputs(",\n    \"keys\": [\n", f);
    for (int k = 0; k < d->n_keys; k++)
        json_key(f, &d->keys[k], k == d->n_keys - 1);
    fprintf(f, "    ]}%s\n", last ? "" : ",");
}

/*
 * dc_layers_write - the registry as the Markdown table of docs/model-format.md (json = 0) or as
 * a JSON array of layer objects (json = 1: type, aliases, module, torch, doc, params, keys with
 * name, kind, default, lo, hi, min_n, max_n, dim, words, doc). Returns DC_OK or DC_ERR_IO.
 */
dc_status dc_layers_write(FILE *f, int json)
{
    if (json)
        fputs("[\n", f);
    else
        fputs("| type | keys (default): meaning | computes | PyTorch |\n|---|---|---|---|\n", f);
    for (int i = 0; i < N_LAYERS; i++)
        if (json)
            json_layer(f, registry[i], i == N_LAYERS - 1);
        else
            md_row(f, registry[i]);
    if (json)
        fputs("]\n", f);
    return ferror(f) ? dc_err(DC_ERR_IO, "layers: write error") : DC_OK;
}
