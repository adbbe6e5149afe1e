/*
 * hooks.h - what layers above ops/ plug into ops: functions they install, so that ops never
 * call up (docs/design.md, "Layers of the code"; tests/test_layering.c checks it).
 */
#ifndef DC_OPS_HOOKS_H
#define DC_OPS_HOOKS_H

#include "core/internal.h"

/* Sums v[0..n) over every data-parallel rank, in place (an allreduce). */
typedef dc_status (*dc_allreduce_sum_fn)(double *v, int n);

/*
 * dc_batch_norm_set_sync - synchronised BatchNorm: with sum set, batch norm in training uses the
 * statistics of the global batch, summing through it (src/train/dist.c installs dc_dist_sum
 * under --sync-bn with more than one rank); NULL (the default) keeps every rank's own. Set it
 * before training, not while a step runs.
 */
void dc_batch_norm_set_sync(dc_allreduce_sum_fn sum);

#endif
