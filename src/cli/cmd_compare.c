/*
 * cmd_compare.c - deepc compare A.safetensors B.safetensors [--rtol R] [--atol A]: do two weight
 * files hold the same tensors, equal within |a - b| <= atol + rtol·|b|? Prints the largest
 * differences; exit 0 when they match, 1 when they differ, 2 on bad input.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cmd_compare(int argc, char **argv)
{
    const char *a = NULL, *b = NULL;
    float rtol = 1e-5f, atol = 1e-6f;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help")) {
            printf("usage: deepc compare A.safetensors B.safetensors [--rtol R (1e-5)] "
                   "[--atol A (1e-6)]\n  exit 0: the same names and shapes, every value within "
                   "atol + rtol·|b|; 1: they differ\n");
            return 0;
        } else if (!strcmp(f, "--rtol") || !strcmp(f, "--atol")) {
            if (arg_float(f, v, 0, 1e9, f[2] == 'r' ? &rtol : &atol))
                return 2;
            i++;
        } else if (f[0] == '-') {
            fprintf(stderr, "deepc compare: unknown option '%s'\n", f);
            return 2;
        } else if (!a) a = f;
        else if (!b) b = f;
        else {
            fprintf(stderr, "deepc compare: unexpected argument '%s'\n", f);
            return 2;
        }
    }
    if (!a || !b) {
        fprintf(stderr, "usage: deepc compare A.safetensors B.safetensors [--rtol R] [--atol A]\n");
        return 2;
    }
    dc_tdict *da = dc_safetensors_read(a), *db = da ? dc_safetensors_read(b) : NULL;
    if (!da || !db) {
        fprintf(stderr, "deepc compare: %s\n", dc_last_error());
        dc_tdict_free(da);
        return 2;
    }
    int bad = da->n != db->n;
    double worst_rel = 0, worst_abs = 0, diff2 = 0, norm2 = 0;
    const char *worst = "";
    for (int i = 0; i < da->n; i++) {
        const dc_tensor *x = da->tensors[i], *y = dc_tdict_get(db, da->names[i]);
        if (!y || !dc_same_shape(x, y) || x->dtype != y->dtype) {
            printf("%s: %s in %s\n", da->names[i], y ? "another shape or dtype" : "missing", b);
            bad = 1;
            continue;
        }
        for (int64_t k = 0; k < x->numel; k++) {
            const double p = x->dtype == DC_F32 ? dc_f32(x)[k] : (double)dc_i64(x)[k];
            const double q = y->dtype == DC_F32 ? dc_f32(y)[k] : (double)dc_i64(y)[k];
            const double d = fabs(p - q), rel = d / (fabs(q) > 1e-30 ? fabs(q) : 1e-30);
            if (!(d <= atol + rtol * fabs(q)))
                bad = 1;
            diff2 += d * d;
            norm2 += q * q;
            if (d > worst_abs) {
                worst_abs = d;
                worst_rel = rel;
                worst = da->names[i];
            }
        }
    }
    printf("%d tensors; largest difference %.3g (relative %.3g) in %s; |a - b| / |b| = %.3g: "
           "%s\n", da->n, worst_abs, worst_rel, *worst ? worst : "-",
           norm2 > 0 ? sqrt(diff2 / norm2) : sqrt(diff2), bad ? "DIFFERENT" : "match");
    dc_tdict_free(da);
    dc_tdict_free(db);
    return bad ? 1 : 0;
}
