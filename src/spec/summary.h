/*
 * summary.h - the tables of `deepc summary` (summary.c). Internal: the CLI and the tests use it.
 */
#ifndef DC_SPEC_SUMMARY_H
#define DC_SPEC_SUMMARY_H

#include "deepc.h"

#include <stdio.h>

/*
 * dc_summary_print - the per-layer table of m (built from spec) to f: output shape at N = 1,
 * parameters (a layer owns "<name>.<key>" unless a deeper layer does), MACs, FLOPs (2 x MACs)
 * and activation KiB, the totals, and for attention layers the T² part of the MACs and the KV
 * cache. *orphans receives the trainable parameters no layer owns (0 normally). DC_OK, or the
 * error of the forward.
 */
dc_status dc_summary_print(FILE *f, dc_model *m, const dc_spec *spec, int64_t *orphans);

/*
 * dc_summary_plan_print - each planned layer's algorithms, for training and for inference, at
 * the given batch size, to f. DC_OK, or the error (naming the layer).
 */
dc_status dc_summary_plan_print(FILE *f, dc_model *m, const dc_spec *spec, int64_t batch);

#endif
