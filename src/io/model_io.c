/*
 * model_io.c - a model's parameters and buffers saved to and loaded from .safetensors
 * (safetensors.c), PyTorch's state_dict names: dc_model_save, and dc_model_load with its checks
 * (shapes and dtypes against the model, strict or partial, non-finite values refused unless
 * allowed, the names of aliases) and its report.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

dc_status dc_model_save(const dc_model *m, const char *path)
{
    if (!m)
        return dc_err(DC_ERR_ARG, "%s: dc_model_save: no model", path ? path : "(null)");
    int n = dc_model_n_tensors(m);
    const char **names = malloc((size_t)(n ? n : 1) * sizeof *names);
    const dc_tensor **ts = malloc((size_t)(n ? n : 1) * sizeof *ts);
    dc_status st;
    if (!names || !ts) {
        st = dc_err(DC_ERR_NOMEM, "%s: out of memory", path ? path : "(null)");
    } else {
        for (int i = 0; i < n; i++) {
            ts[i] = dc_model_tensor(m, i);
            names[i] = ts[i]->name;
        }
        st = dc_safetensors_write(path, n, names, ts);
    }
    free(names);
    free(ts);
    return st;
}

/* The report text, filled section by section; ends in "..." when it would overflow. */
typedef struct rep_text {
    dc_load_report *r;
    size_t len;
    bool full;
    const char *section; /* the section the last item went to */
} rep_text;

static void rep_item(rep_text *t, const char *section, const char *fmt, ...) DC_PRINTF(3, 4);
static void rep_item(rep_text *t, const char *section, const char *fmt, ...)
{
    char item[512];
    size_t cap = sizeof t->r->text;
    va_list ap;
    if (t->full)
        return;
    va_start(ap, fmt);
    vsnprintf(item, sizeof item, fmt, ap);
    va_end(ap);
    const char *sep = t->section == section ? ", " : t->len ? "; " : "";
    int k = snprintf(t->r->text + t->len, cap - t->len, "%s%s%s%s", sep,
                     t->section == section ? "" : section, t->section == section ? "" : ": ",
                     item);
    if (k >= 0 && (size_t)k < cap - t->len - 4) { /* keep room for "..." */
        t->len += (size_t)k;
        t->section = section;
        return;
    }
    snprintf(t->r->text + t->len, cap - t->len, "%s...", t->len ? "; " : "");
    t->full = true;
}

static const char *dtype_name(dc_dtype d) { return d == DC_I64 ? "int64" : "float32"; }

/* Compare the dict with the model: match[i] is the dict index of model tensor i when it can be
 * loaded, else -1. Fills the report counts and text. */
static dc_status compare(const dc_model *m, const dc_tdict *d, int *match, dc_load_report *rep)
{
    int nm = dc_model_n_tensors(m);
    dc_io_named *s = dc_io_sort_names((const char *const *)d->names, d->n);
    char *used = calloc(d->n ? (size_t)d->n : 1, 1);
    if (!s || !used) {
        free(s);
        free(used);
        return dc_err(DC_ERR_NOMEM, "model load: out of memory");
    }
    rep_text t = {.r = rep};
    for (int pass = 0; pass < 2; pass++) /* pass 0: missing keys, pass 1: mismatched ones */
        for (int i = 0; i < nm; i++) {
            const dc_tensor *mt = dc_model_tensor(m, i);
            dc_io_named key = {mt->name, -1}, *hit = NULL;
            /* bsearch for the first entry with this name: ties sort by index, key.i is -1 */
            int lo = 0, hi = d->n;
            while (lo < hi) {
                int mid = lo + (hi - lo) / 2;
                if (dc_io_cmp_named(&s[mid], &key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < d->n && strcmp(s[lo].name, mt->name) == 0)
                hit = &s[lo];
            match[i] = -1;
            if (!hit) {
                if (pass == 0) {
                    rep->n_missing++;
                    rep_item(&t, "missing", "%s", mt->name);
                }
                continue;
            }
            used[hit->i] = 1;
            const dc_tensor *ft = d->tensors[hit->i];
            char a[96], b[96];
            if (ft->dtype != mt->dtype) {
                if (pass == 1) {
                    rep->n_mismatched++;
                    rep_item(&t, "mismatched", "%s (file %s vs model %s)", mt->name,
                             dtype_name(ft->dtype), dtype_name(mt->dtype));
                }
            } else if (!dc_same_shape(ft, mt)) {
                if (pass == 1) {
                    rep->n_mismatched++;
                    rep_item(&t, "mismatched", "%s (file %s vs model %s)", mt->name,
                             dc_shape_str(ft, a, sizeof a), dc_shape_str(mt, b, sizeof b));
                }
            } else {
                match[i] = hit->i;
            }
        }
    for (int j = 0; j < d->n; j++)
        if (!used[j]) {
            rep->n_unexpected++;
            rep_item(&t, "unexpected", "%s", d->names[j]);
        }
    free(s);
    free(used);
    return DC_OK;
}

/* A float tensor that would be loaded holds a NaN or an infinity: DC_ERR_NUMERIC naming it. */
static dc_status check_finite(const char *path, const dc_tdict *d, const int *match, int nm)
{
    for (int i = 0; i < nm; i++) {
        const dc_tensor *t = match[i] < 0 ? NULL : d->tensors[match[i]];
        for (int64_t k = 0; t && t->dtype == DC_F32 && k < t->numel; k++)
            if (!isfinite(dc_f32(t)[k]))
                return dc_err(DC_ERR_NUMERIC, "%s: tensor '%.200s' holds a non-finite weight (%g "
                              "at element %lld): nothing loaded (--allow-nonfinite, or "
                              "dc_load_opts.allow_nonfinite, loads it)", path, d->names[match[i]],
                              (double)dc_f32(t)[k], (long long)k);
    }
    return DC_OK;
}

/* Rename the dict's keys that are aliases of m's tensors (dc_model_alias); drop the ones to skip:
 * aliases of nothing, and tied copies of a tensor the file also holds under its own name. */
static dc_status apply_aliases(const dc_model *m, dc_tdict *d, const char *path)
{
    for (int j = 0; j < d->n; j++) { /* renames first: a failure leaves the dict whole */
        const char *to = NULL;
        if (dc_model_alias_find(m, d->names[j], &to) && to && !dc_tdict_get(d, to)) {
            char *nn = strdup(to);
            if (!nn)
                return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
            free(d->names[j]);
            d->names[j] = nn;
        }
    }
    int k = 0;
    for (int j = 0; j < d->n; j++) { /* then skips: aliases of nothing and tied copies */
        const char *to = NULL;
        if (dc_model_alias_find(m, d->names[j], &to)) {
            free(d->names[j]);
            dc_tensor_free(d->tensors[j]);
            d->names[j] = NULL; /* dc_tdict_get skips it until it is overwritten */
            continue;
        }
        d->names[k] = d->names[j];
        d->tensors[k++] = d->tensors[j];
    }
    d->n = k;
    return DC_OK;
}

dc_status dc_model_load(dc_model *m, const char *path, int strict, dc_load_report *rep)
{
    dc_load_opts o = {.strict = strict};
    return dc_model_load_opts(m, path, &o, rep);
}

dc_status dc_model_load_opts(dc_model *m, const char *path, const dc_load_opts *o,
                             dc_load_report *rep)
{
    dc_load_report local;
    dc_status st;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    if (!m || !o)
        return dc_err(DC_ERR_ARG, "%s: dc_model_load: no model or no options",
                      path ? path : "(null)");
    const int strict = o->strict;
    dc_tdict *d = dc_io_safetensors_read(path, &st);
    if (!d)
        return st;
    int nm = dc_model_n_tensors(m);
    int *match = malloc((size_t)(nm ? nm : 1) * sizeof *match);
    st = match ? apply_aliases(m, d, path) : dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    if (st == DC_OK)
        st = compare(m, d, match, rep);
    if (st == DC_OK && !o->allow_nonfinite &&
        !(strict && rep->n_missing + rep->n_unexpected + rep->n_mismatched))
        st = check_finite(path, d, match, nm);
    if (st == DC_OK) {
        int problems = rep->n_missing + rep->n_unexpected + rep->n_mismatched;
        if (strict && problems) {
            st = dc_err(DC_ERR_FORMAT, "%s: strict load refused (%d missing, %d unexpected, %d "
                        "mismatched; the model is unchanged): %s", path, rep->n_missing,
                        rep->n_unexpected, rep->n_mismatched, rep->text);
        } else {
            /* everything was validated above: only now touch the model */
            for (int i = 0; i < nm; i++) {
                if (match[i] < 0)
                    continue;
                dc_tensor *mt = dc_model_tensor(m, i);
                const dc_tensor *ft = d->tensors[match[i]];
                memcpy(mt->data, ft->data, (size_t)ft->numel * (ft->dtype == DC_I64 ? 8 : 4));
                rep->n_loaded++;
            }
            dc_model_weights_changed(m); /* a frozen model packs the new weights again */
        }
    }
    free(match);
    dc_tdict_free(d);
    return st;
}
