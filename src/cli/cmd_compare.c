/*
 * cmd_compare.c - deepc compare A B [--rtol R] [--atol A]: do two weight files (.safetensors or
 * .npy) hold the same tensors, equal within |a - b| <= atol + rtol·|b|? Lists the names found in
 * only one of them and prints the largest difference; exit 0 when they match, 1 when they
 * differ, 2 on bad input.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <math.h>
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
        fprintf(stderr, "deepc compare: %s: out of memory\n", path);
    }
    dc_tensor_free(t);
    if (d) {
        free(d->names);
        free(d->tensors);
    }
    free(d);
    return NULL;
}

/* The names of a that b lacks, on one line (the first 20); returns how many. */
static int list_only(const dc_tdict *a, const dc_tdict *b, const char *label)
{
    int n = 0;
    for (int i = 0; i < a->n; i++)
        n += dc_tdict_get(b, a->names[i]) == NULL;
    if (!n)
        return 0;
    printf("only in %s (%d):", label, n);
    for (int i = 0, shown = 0; i < a->n && shown < 20; i++)
        if (!dc_tdict_get(b, a->names[i]))
            printf("%s %s", shown++ ? "," : "", a->names[i]);
    printf("%s\n", n > 20 ? ", ..." : "");
    return n;
}

typedef struct diff {
    double worst_rel, worst_abs, diff2, norm2;
    const char *worst;
    int bad;
} diff;

/* Fold the elementwise differences of x (from A) and y (from B) into r. */
static void compare_tensor(const char *name, const dc_tensor *x, const dc_tensor *y, float rtol,
                           float atol, diff *r)
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
            r->worst = name;
        }
    }
}

static void compare_usage(FILE *f)
{
    fprintf(f, "usage: deepc compare A B [--rtol R (1e-5)] [--atol A (1e-6)]\n"
               "  A, B: .safetensors files, or .npy arrays (a .npy against a .safetensors of one\n"
               "  tensor compares those two tensors)\n"
               "  exit 0: the same names and shapes, every value within atol + rtol·|b|;\n"
               "  1: they differ (names in only one file are listed); 2: bad input\n");
}

int cmd_compare(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL}, *rs = NULL, *as = NULL;
    float rtol = 1e-5f, atol = 1e-6f;
    const cli_opt opts[] = {{"--rtol", &rs, NULL}, {"--atol", &as, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("compare", argc, argv, opts, pos, 2, NULL);
    if (pr > 0)
        compare_usage(stdout);
    if (pr)
        return pr > 0 ? 0 : 2;
    if ((rs && arg_float("--rtol", rs, 0, 1e9, &rtol)) ||
        (as && arg_float("--atol", as, 0, 1e9, &atol)))
        return 2;
    const char *a = pos[0], *b = pos[1];
    if (!a || !b)
        return cli_missing("compare", !a ? "the files A and B" : "the second file B");
    dc_tdict *da = read_weights(a), *db = da ? read_weights(b) : NULL;
    if (!da || !db) {
        fprintf(stderr, "deepc compare: %s\n", dc_last_error());
        dc_tdict_free(da);
        return 2;
    }
    /* an array against a file of one tensor: compare the two, whatever its name */
    if (da->n == 1 && db->n == 1 && (is_npy(a) || is_npy(b))) {
        char *keep = is_npy(a) ? da->names[0] : db->names[0];
        char *other = is_npy(a) ? db->names[0] : da->names[0];
        char *copy = malloc(strlen(other) + 1);
        if (copy) {
            strcpy(copy, other);
            free(keep);
            *(is_npy(a) ? &da->names[0] : &db->names[0]) = copy;
        }
    }
    int only = list_only(da, db, a) + list_only(db, da, b);
    diff r = {0, 0, 0, 0, "", only > 0};
    for (int i = 0; i < da->n; i++) {
        const dc_tensor *x = da->tensors[i], *y = dc_tdict_get(db, da->names[i]);
        if (!y)
            continue;
        if (!dc_same_shape(x, y) || x->dtype != y->dtype) {
            printf("%s: another shape or dtype in %s\n", da->names[i], b);
            r.bad = 1;
            continue;
        }
        compare_tensor(da->names[i], x, y, rtol, atol, &r);
    }
    printf("%d tensors in %s, %d in %s%s; largest difference %.3g (relative %.3g) in %s; "
           "|a - b| / |b| = %.3g: %s\n", da->n, a, db->n, b, only ? " (different names)" : "",
           r.worst_abs, r.worst_rel, *r.worst ? r.worst : "-",
           r.norm2 > 0 ? sqrt(r.diff2 / r.norm2) : sqrt(r.diff2), r.bad ? "DIFFERENT" : "match");
    dc_tdict_free(da);
    dc_tdict_free(db);
    return r.bad ? 1 : 0;
}
