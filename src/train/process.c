/*
 * process.c - the start of a deepc program (process.h): thread waiting, the GEMM backend, MPI.
 */
#define _POSIX_C_SOURCE 200809L
#include "train/process.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

dc_status dc_process_start(int *argc, char ***argv)
{
    /* OpenMP threads that spin without end while waiting turn a busy 2-core machine into a 10x
     * slowdown (LeNet-5 training 15.6 s spinning vs 1.2 s passive with another job running),
     * and a one-image predict from 2.4 ms of work into 16 ms of CPU; threads that sleep at once
     * make every parallel region pay a wake-up. So spin a little: dc_spincount_default() picks
     * the count from how busy the machine is. OpenBLAS runs on one thread (dc_gemm splits big
     * products over the OpenMP threads), so it need not start a pool of its own at load.
     * libgomp and OpenBLAS read their environment in constructors, before main, so setting
     * the variables here is too late for this process: set them and exec ourselves once (about
     * 1 ms); if the exec fails, run on as we are. docs/design.md, "Threads". */
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
        setenv("GOMP_SPINCOUNT", dc_spincount_default(), 0);
        setenv("OPENBLAS_NUM_THREADS", "1", 0);
#ifdef __linux__
        execv("/proc/self/exe", *argv);
#endif
    }
    /* DEEPC_GEMM=builtin: the built-in GEMM even where OpenBLAS would be used (its reduction
     * order is fixed, so results do not depend on the thread count: docs/design.md,
     * "Determinism"); DEEPC_GEMM=openblas: OpenBLAS whenever it is linked in */
    const char *gemm = getenv("DEEPC_GEMM");
    if (gemm && !strcmp(gemm, "builtin"))
        dc_gemm_force_builtin(1);
    else if (gemm && !strcmp(gemm, "openblas"))
        dc_gemm_prefer_blas();
    /* under mpirun: MPI_Init here (a no-op without MPI=1) */
    return dc_dist_init(argc, argv);
}

const char *dc_process_wait_policy(char *buf, size_t cap)
{
    const char *spin = getenv("GOMP_SPINCOUNT"), *policy = getenv("OMP_WAIT_POLICY");
    snprintf(buf, cap, "%s=%s", policy ? "OMP_WAIT_POLICY" : "GOMP_SPINCOUNT",
             policy ? policy : spin ? spin : "libgomp's default");
    return buf;
}
