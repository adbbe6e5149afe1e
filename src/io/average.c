/*
 * average.c - checkpoint averaging (average.h): mean = (1/n) Σ_k w_k per element, in double.
 */
#include "io/average.h"
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

/* d must hold every tensor of ref, by name, with the same dtype and shape, and nothing else. */
static dc_status same_layout(const dc_tdict *ref, const dc_tdict *d, const char *rp,
                             const char *dp)
{
    if (d->n != ref->n)
        return dc_err(DC_ERR_ARG, "%s holds %d tensors, %s %d: not the same model", dp, d->n,
                      rp, ref->n);
    for (int i = 0; i < ref->n; i++) {
        const dc_tensor *a = ref->tensors[i], *b = dc_tdict_get(d, ref->names[i]);
        if (!b)
            return dc_err(DC_ERR_ARG, "%s has no tensor '%s' (%s has)", dp, ref->names[i], rp);
        int same = a->dtype == b->dtype && a->ndim == b->ndim;
        for (int k = 0; same && k < a->ndim; k++)
            same = a->shape[k] == b->shape[k];
        if (!same)
            return dc_err(DC_ERR_ARG, "'%s': another dtype or shape in %s than in %s",
                          ref->names[i], dp, rp);
    }
    return DC_OK;
}

/* acc[i] += file's float tensors (double sums); the integer tensors are copied into first. */
static void add_file(dc_tdict *first, double **acc, const dc_tdict *d)
{
    for (int i = 0; i < first->n; i++) {
        dc_tensor *t = first->tensors[i];
        const dc_tensor *s = dc_tdict_get(d, first->names[i]);
        const int64_t n = t->numel;
        if (t->dtype != DC_F32) {
            if (s != t)
                memcpy(dc_i64(t), dc_i64(s), (size_t)n * sizeof(int64_t));
            continue;
        }
        const float *x = dc_f32(s);
        for (int64_t j = 0; j < n; j++)
            acc[i][j] += (double)x[j];
    }
}

static dc_status write_mean(const char *out, dc_tdict *first, double **acc, int n)
{
    for (int i = 0; i < first->n; i++) {
        dc_tensor *t = first->tensors[i];
        if (t->dtype != DC_F32)
            continue;
        float *y = dc_f32(t);
        for (int64_t j = 0, e = t->numel; j < e; j++)
            y[j] = (float)(acc[i][j] / (double)n);
    }
    const char **keys = malloc(((size_t)first->n_meta + 1) * sizeof *keys);
    const char **vals = malloc(((size_t)first->n_meta + 1) * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", out);
    }
    int m = 0;
    for (int i = 0; i < first->n_meta; i++)
        if (strcmp(first->meta_keys[i], "format")) { /* always written */
            keys[m] = first->meta_keys[i];
            vals[m++] = first->meta_vals[i];
        }
    dc_status st = dc_safetensors_write_meta(out, first->n, (const char *const *)first->names,
                                             (const dc_tensor *const *)first->tensors, m, keys,
                                             vals);
    free(keys);
    free(vals);
    return st;
}

dc_status dc_weights_average(const char *out, int n, const char *const *paths)
{
    if (!out || !paths || n < 1)
        return dc_err(DC_ERR_ARG, "average: an output file and at least one input file");
    dc_tdict *first = dc_safetensors_read(paths[0]);
    if (!first)
        return dc_last_status();
    double **acc = calloc((size_t)first->n + 1, sizeof *acc);
    dc_status st = acc ? DC_OK : dc_err(DC_ERR_NOMEM, "average: out of memory");
    for (int i = 0; st == DC_OK && i < first->n; i++)
        if (first->tensors[i]->dtype == DC_F32 &&
            !(acc[i] = calloc((size_t)first->tensors[i]->numel, sizeof **acc)))
            st = dc_err(DC_ERR_NOMEM, "average: out of memory for '%s'", first->names[i]);
    if (st == DC_OK)
        add_file(first, acc, first);
    for (int k = 1; st == DC_OK && k < n; k++) {
        dc_tdict *d = dc_safetensors_read(paths[k]);
        st = !d ? dc_last_status() : same_layout(first, d, paths[0], paths[k]);
        if (st == DC_OK)
            add_file(first, acc, d);
        dc_tdict_free(d);
    }
    if (st == DC_OK)
        st = write_mean(out, first, acc, n);
    for (int i = 0; acc && i < first->n; i++)
        free(acc[i]);
    free(acc);
    dc_tdict_free(first);
    return st;
}
