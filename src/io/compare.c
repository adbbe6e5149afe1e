/*
 * compare.c - whether two weight files hold the same tensors within a tolerance (compare.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "compare.h"
#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_npy(const char *path)
{
    size_t n = strlen(path);
    return n >= 4 && !strcmp(path + n - 4, ".npy");
}

/* A .safetensors file, or a .npy file as a dict of one tensor named "array". NULL on error. */
static dc_tdict *read_weights(const char *path)
{
    if (!is_npy(path))
        return dc_safetensors_read(path);
    dc_tdict *d = calloc(1, sizeof *d);
    dc_tensor *t = d ? dc_npy_load(path) : NULL;
    if (d && t) {
        d->names = malloc(sizeof *d->names);
        d->tensors = malloc(sizeof *d->tensors);
        char *name = d->names ? malloc(sizeof "array") : NULL;
        if (d->tensors && name) {
            memcpy(name, "array", sizeof "array");
            d->names[0] = name;
            d->tensors[0] = t;
            d->n = 1;
            return d;
        }
        free(name);
        dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    }
    dc_tensor_free(t);
    if (d) {
        free(d->names);
        free(d->tensors);
    }
    free(d);
    return NULL;
}

/* The names of a that b lacks, on one line (the first 20) of f; returns how many. */
static int list_only(FILE *f, const dc_tdict *a, const dc_tdict *b, const char *label)
{
    int n = 0;
    for (int i = 0; i < a->n; i++)
        n += dc_tdict_get(b, a->names[i]) == NULL;
    if (!n)
        return 0;
    fprintf(f, "only in %s (%d):", label, n);
    for (int i = 0, shown = 0; i < a->n && shown < 20; i++)
        if (!dc_tdict_get(b, a->names[i]))
            fprintf(f, "%s %s", shown++ ? "," : "", a->names[i]);
    fprintf(f, "%s\n", n > 20 ? ", ..." : "");
    return n;
}

/* Fold the elementwise differences of x (from A) and y (from B) into r. */
static void compare_tensor(const char *name, const dc_tensor *x, const dc_tensor *y, float rtol,
                           float atol, dc_weights_diff *r)
{
    for (int64_t k = 0; k < x->numel; k++) {
        const double p = x->dtype == DC_F32 ? dc_f32(x)[k] : (double)dc_i64(x)[k];
        const double q = y->dtype == DC_F32 ? dc_f32(y)[k] : (double)dc_i64(y)[k];
        const double d = fabs(p - q), rel = d / (fabs(q) > 1e-30 ? fabs(q) : 1e-30);
        if (!(d <= atol + rtol * fabs(q)))
            r->bad = 1;
        r->diff2 += d * d;
        r->norm2 += q * q;
        if (d > r->worst_abs) {
            r->worst_abs = d;
            r->worst_rel = rel;
            snprintf(r->worst, sizeof r->worst, "%s", name);
        }
    }
}

/* An array against a file of one tensor: compare the two, whatever its name. */
static void rename_array(const char *a, const char *b, dc_tdict *da, dc_tdict *db)
{
    if (!(da->n == 1 && db->n == 1 && (is_npy(a) || is_npy(b))))
        return;
    char *keep = is_npy(a) ? da->names[0] : db->names[0];
    char *other = is_npy(a) ? db->names[0] : da->names[0];
    char *copy = malloc(strlen(other) + 1);
    if (copy) {
        strcpy(copy, other);
        free(keep);
        *(is_npy(a) ? &da->names[0] : &db->names[0]) = copy;
    }
}

dc_status dc_weights_compare(const char *a, const char *b, float rtol, float atol,
                             dc_weights_diff *r, FILE *report)
{
    memset(r, 0, sizeof *r);
    dc_tdict *da = read_weights(a), *db = da ? read_weights(b) : NULL;
    if (!da || !db) {
        dc_tdict_free(da);
        return dc_last_status() != DC_OK ? dc_last_status() : DC_ERR_IO;
    }
    rename_array(a, b, da, db);
    r->only = list_only(report, da, db, a) + list_only(report, db, da, b);
    r->bad = r->only > 0;
    r->n_a = da->n;
    r->n_b = db->n;
    for (int i = 0; i < da->n; i++) {
        const dc_tensor *x = da->tensors[i], *y = dc_tdict_get(db, da->names[i]);
        if (!y)
            continue;
        if (!dc_same_shape(x, y) || x->dtype != y->dtype) {
            fprintf(report, "%s: another shape or dtype in %s\n", da->names[i], b);
            r->bad = 1;
            continue;
        }
        compare_tensor(da->names[i], x, y, rtol, atol, r);
    }
    dc_tdict_free(da);
    dc_tdict_free(db);
    return DC_OK;
}
