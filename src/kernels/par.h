/*
 * par.h - when a loop runs on the OpenMP team.
 *
 *   DC_PAR_FOR(cond, i, n, { body });         for (int64_t i = 0; i < n; i++) body, on the
 *                                             OpenMP team when cond holds
 *   DC_PAR_FOR_NT(cond, nt, i, n, { body });  the same on at most nt threads
 *
 * Otherwise (cond false, one thread allowed, or already inside a parallel region) the loop runs
 * on the calling thread without entering a parallel region at all. `#pragma omp parallel if (0)`
 * is not free: libgomp builds a one-thread team for it, with an allocation, every time (13 of
 * them in a LeNet-5 batch-1 forward, about a tenth of its latency). Iterations are independent
 * and each writes its own outputs, so the result never depends on which thread ran it.
 */
#ifndef DC_KERNELS_PAR_H
#define DC_KERNELS_PAR_H

#ifdef _OPENMP
#include <omp.h>

#define DC_PRAGMA(x) _Pragma(#x)

/* More than one thread is allowed here and no parallel region is active. */
static inline int dc_par_ok(void) { return omp_get_max_threads() > 1 && !omp_in_parallel(); }

#define DC_PAR_FOR(cond, i, n, ...) DC_PAR_FOR_NT(cond, omp_get_max_threads(), i, n, __VA_ARGS__)

#define DC_PAR_FOR_NT(cond, nt, i, n, ...)                                                     \
    do {                                                                                       \
        const int64_t dc_n_ = (n);                                                             \
        const int dc_nt_ = (cond) && dc_par_ok() ? (nt) : 1;                                   \
        if (dc_nt_ > 1) {                                                                      \
            DC_PRAGMA(omp parallel for schedule(static) num_threads(dc_nt_))                   \
            for (int64_t i = 0; i < dc_n_; i++) __VA_ARGS__                                    \
        } else {                                                                               \
            for (int64_t i = 0; i < dc_n_; i++) __VA_ARGS__                                    \
        }                                                                                      \
    } while (0)
#else
#define DC_PAR_FOR(cond, i, n, ...) DC_PAR_FOR_NT(cond, 1, i, n, __VA_ARGS__)
#define DC_PAR_FOR_NT(cond, nt, i, n, ...)                                                     \
    do {                                                                                       \
        const int64_t dc_n_ = (n);                                                             \
        (void)(cond);                                                                          \
        (void)(nt);                                                                            \
        for (int64_t i = 0; i < dc_n_; i++) __VA_ARGS__                                        \
    } while (0)
#endif

#endif
