/*
 * task_textcls_init.c - dc_model_init_from: start a model from another model's weights, as
 * fine-tuning does with a pre-trained encoder (BERT-mini from its MLM + NSP pre-training, then a
 * fresh classifier), and say per layer what was loaded, what kept its initialisation and what
 * of the file was not used.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The layer a tensor name belongs to, as the length of its prefix: the first two dot-separated
 * parts, or through a number in the third or fourth ("bert.encoder.layer.3"); a name of one or
 * two parts: its first part ("classifier"). */
static size_t group_len(const char *name)
{
    size_t end[5];
    int n = 0;
    for (size_t i = 0; name[i] && n < 5; i++)
        if (name[i] == '.')
            end[n++] = i;
    if (n <= 1)
        return n ? end[0] : strlen(name);
    int k = 2; /* parts kept */
    for (int j = 2; j <= 3 && j < n; j++) {
        const char *p = name + end[j - 1] + 1;
        if (*p >= '0' && *p <= '9' && p + strspn(p, "0123456789") == name + end[j]) {
            k = j + 1;
            break;
        }
    }
    return end[k - 1];
}

/* Layer groups with counts, in the order first seen. */
typedef struct groups {
    char name[64][96];
    int count[64];
    int n, more; /* more: names past the 64th group */
} groups;

static void groups_add(groups *g, const char *name)
{
    size_t len = group_len(name);
    if (len >= sizeof g->name[0])
        len = sizeof g->name[0] - 1;
    for (int i = g->n - 1; i >= 0; i--)
        if (strlen(g->name[i]) == len && !strncmp(g->name[i], name, len)) {
            g->count[i]++;
            return;
        }
    if (g->n == 64) {
        g->more++;
        return;
    }
    memcpy(g->name[g->n], name, len);
    g->name[g->n][len] = '\0';
    g->count[g->n++] = 1;
}

/* Append "label: a (2), b (5)\n" (or "label: none\n") to the buffer s of cap bytes at *at. */
static void groups_print(const groups *g, const char *label, char *s, size_t cap, size_t *at)
{
    int total = g->more;
    for (int i = 0; i < g->n; i++)
        total += g->count[i];
    *at += (size_t)snprintf(s + *at, *at < cap ? cap - *at : 0, "%s %d tensor%s%s", label,
                            total, total == 1 ? "" : "s", total ? ":" : "");
    for (int i = 0; i < g->n; i++)
        *at += (size_t)snprintf(s + *at, *at < cap ? cap - *at : 0, "%s %s (%d)", i ? "," : "",
                                g->name[i], g->count[i]);
    if (g->more)
        *at += (size_t)snprintf(s + *at, *at < cap ? cap - *at : 0, " and %d more", g->more);
    *at += (size_t)snprintf(s + *at, *at < cap ? cap - *at : 0, "\n");
}

/* The file's tensor for model tensor `name`: under its name or an alias; its index or -1. */
static int file_index(const dc_model *m, const dc_tdict *d, const char *name)
{
    for (int j = 0; j < d->n; j++)
        if (!strcmp(d->names[j], name))
            return j;
    for (int j = 0; j < d->n; j++) {
        const char *to = NULL;
        if (dc_model_alias_find(m, d->names[j], &to) && to && !strcmp(to, name))
            return j;
    }
    return -1;
}

/* Sort m's tensors into loaded / initialised and the file's into used or not; refuse a shape
 * that differs. */
static dc_status plan_init(const dc_model *m, const dc_tdict *d, const char *path, char *used,
                           groups *g)
{
    char a[96], b[96];
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        const dc_tensor *t = dc_model_tensor(m, i);
        const int j = file_index(m, d, t->name);
        if (j < 0) {
            groups_add(&g[1], t->name);
            continue;
        }
        const dc_tensor *f = d->tensors[j];
        if (f->dtype != t->dtype || !dc_same_shape(f, t))
            return dc_err(DC_ERR_SHAPE, "%s: '%s' is %s in the file but %s in the model (another "
                          "vocabulary or model size?); nothing loaded", path, d->names[j],
                          dc_shape_str(f, a, sizeof a), dc_shape_str(t, b, sizeof b));
        used[j] = 1;
        groups_add(&g[0], t->name);
    }
    for (int j = 0; j < d->n; j++)
        if (!used[j])
            groups_add(&g[2], d->names[j]);
    return DC_OK;
}

dc_status dc_model_init_from(dc_model *m, const char *path, char **report)
{
    if (report)
        *report = NULL;
    if (!m || !path)
        return dc_err(DC_ERR_ARG, "init from: NULL argument");
    dc_tdict *d = dc_safetensors_read(path);
    if (!d)
        return dc_last_status();
    char *used = calloc((size_t)(d->n ? d->n : 1), 1);
    groups *g = calloc(3, sizeof *g); /* loaded, initialised, not used */
    dc_status st = used && g ? plan_init(m, d, path, used, g)
                             : dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    if (st == DC_OK && g[0].n == 0)
        st = dc_err(DC_ERR_FORMAT, "%s: holds none of the model's tensors (is it a checkpoint "
                    "of another model? names such as '%s' are expected)", path,
                    dc_model_n_tensors(m) ? dc_model_tensor(m, 0)->name : "?");
    dc_tdict_free(d);
    dc_load_report rep;
    if (st == DC_OK)
        st = dc_model_load(m, path, 0, &rep);
    if (st == DC_OK && report) {
        const size_t cap = 16384;
        size_t at = 0;
        char *s = malloc(cap);
        if (!s) {
            st = dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
        } else {
            groups_print(&g[0], "loaded", s, cap, &at);
            groups_print(&g[1], "initialised (not in the file)", s, cap, &at);
            groups_print(&g[2], "not used from the file", s, cap, &at);
            *report = s;
        }
    }
    free(used);
    free(g);
    return st;
}
