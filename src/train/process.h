/*
 * process.h - what a program built on deepc does first (the deepc command's main): how idle
 * OpenMP threads wait, OpenBLAS on one thread, DEEPC_GEMM, MPI. Internal (train layer, as
 * dist.c).
 */
#ifndef DC_TRAIN_PROCESS_H
#define DC_TRAIN_PROCESS_H

#include "deepc.h"

/*
 * dc_process_start - call first in main. Without OMP_WAIT_POLICY or GOMP_SPINCOUNT in the
 * environment, set GOMP_SPINCOUNT to dc_spincount_default() and OPENBLAS_NUM_THREADS=1 and
 * exec argv[0]'s program again (Linux: /proc/self/exe) so that libgomp and OpenBLAS, which read
 * the environment before main, see them; if the exec fails, go on as we are. Then DEEPC_GEMM
 * (builtin: dc_gemm_force_builtin; openblas: dc_gemm_prefer_blas) and dc_dist_init (MPI_Init
 * under mpirun; a no-op without MPI). DC_OK, or dc_dist_init's error.
 */
dc_status dc_process_start(int *argc, char ***argv);
/* "GOMP_SPINCOUNT=N" or "OMP_WAIT_POLICY=P" as set (or "GOMP_SPINCOUNT=libgomp's default"):
 * how idle OpenMP threads wait, for `deepc version`. Points into the environment or a static. */
const char *dc_process_wait_policy(char *buf, size_t cap);

#endif
