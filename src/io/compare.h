/*
 * compare.h - `deepc compare`: two weight files (.safetensors, or .npy as one tensor named
 * "array") tensor by tensor (compare.c). Internal: the CLI and the tests use it.
 */
#ifndef DC_IO_COMPARE_H
#define DC_IO_COMPARE_H

#include "deepc.h"

#include <stdio.h>

typedef struct dc_weights_diff {
    double worst_rel, worst_abs; /* the largest |a - b| and its |a - b| / |b| */
    double diff2, norm2;         /* sum of (a - b)² and of b² over every compared element */
    char worst[256];             /* the tensor holding the largest difference ("" none) */
    int bad;                     /* 1: a value outside atol + rtol·|b|, a name in one file only,
                                  * or another shape or dtype */
    int only, n_a, n_b;          /* names in one file only; tensors in a and in b */
} dc_weights_diff;

/*
 * dc_weights_compare - read a and b and compare every tensor of a with b's of the same name:
 * equal when |a - b| <= atol + rtol·|b| elementwise. A .npy against a file of one tensor compares
 * those two whatever the name. The names found in only one file (the first 20) and the tensors of
 * another shape or dtype are listed on report, a line each. DC_OK with *r filled, or the error
 * of reading a file.
 */
dc_status dc_weights_compare(const char *a, const char *b, float rtol, float atol,
                             dc_weights_diff *r, FILE *report);

#endif
