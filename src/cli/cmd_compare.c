/*
 * cmd_compare.c - deepc compare A B [--rtol R] [--atol A]: do two weight files (.safetensors or
 * .npy) hold the same tensors, equal within |a - b| <= atol + rtol·|b|? Lists the names found in
 * only one of them and prints the largest difference; exit 0 when they match, 1 when they
 * differ, 2 on bad input.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "io/compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    dc_weights_diff r;
    if (dc_weights_compare(a, b, rtol, atol, &r, stdout) != DC_OK) {
        fprintf(stderr, "deepc compare: %s\n", dc_last_error());
        return 2;
    }
    printf("%d tensors in %s, %d in %s%s; largest difference %.3g (relative %.3g) in %s; "
           "|a - b| / |b| = %.3g: %s\n", r.n_a, a, r.n_b, b, r.only ? " (different names)" : "",
           r.worst_abs, r.worst_rel, *r.worst ? r.worst : "-",
           r.norm2 > 0 ? sqrt(r.diff2 / r.norm2) : sqrt(r.diff2), r.bad ? "DIFFERENT" : "match");
    return r.bad ? 1 : 0;
}
