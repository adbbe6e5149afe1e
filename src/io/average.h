/*
 * average.h - `deepc average`: the element-wise mean of several weight files of one model
 * (checkpoint averaging, Vaswani et al. 2017 §6.1: the last few epochs' weights averaged
 * decode better than any one of them). Internal: the CLI and the tests use it.
 */
#ifndef DC_IO_AVERAGE_H
#define DC_IO_AVERAGE_H

#include "deepc.h"

/*
 * dc_weights_average - read the n .safetensors files paths[0..n) (n >= 1), which must hold the
 * same names with the same dtypes and shapes, and write to out the mean of every float tensor
 * (summed in double, in file order, then rounded once: the same bits on every run). Integer
 * tensors (BatchNorm's num_batches_tracked) are not averaged: out gets the last file's. The
 * first file's metadata is kept. out may be one of the inputs (written atomically at the end).
 * DC_OK, or the error of reading a file or the first name, dtype or shape that differs.
 */
dc_status dc_weights_average(const char *out, int n, const char *const *paths);

#endif
