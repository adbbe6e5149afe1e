/*
 * harness.h - the test harness. A test is a function declared with TEST(name); it registers
 * itself at load time. Checks print what they compared and what they saw when they fail; a test
 * fails if any of its checks failed. The runner prints one line per failed test and ends with
 * "N passed, N failed", exiting 1 on any failure.
 *
 *   TEST(add_broadcasts) {
 *       CHECK(y != NULL, "add returned NULL: %s", dc_last_error());
 *       CHECK_NEAR(got, want, 1e-6);
 *   }
 */
#ifndef DC_TEST_HARNESS_H
#define DC_TEST_HARNESS_H

#include "deepc.h"

#include <stdio.h>

typedef void (*t_fn)(void);
void t_register(const char *name, const char *file, t_fn fn);
/* Record a failed check (prints "file:line: msg"). */
void t_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 1 if the current test has failed so far. */
int t_failed(void);
/* Compare arrays: |got - want| <= atol + rtol·|want| elementwise; reports the worst element. */
int t_allclose(const char *file, int line, const char *what, const float *got, const float *want,
               long long n, double rtol, double atol);
/* The deepc CLI binary path (DEEPC_BIN, default build/deepc). */
const char *t_deepc_bin(void);
/* A fresh temporary directory for this test (removed at exit). */
const char *t_tmpdir(void);

#define TEST(name)                                                                     \
    static void test_##name(void);                                                     \
    __attribute__((constructor)) static void reg_##name(void)                          \
    {                                                                                  \
        t_register(#name, __FILE__, test_##name);                                      \
    }                                                                                  \
    static void test_##name(void)

#define CHECK(cond, ...)                                                               \
    do {                                                                               \
        if (!(cond))                                                                   \
            t_fail(__FILE__, __LINE__, __VA_ARGS__);                                   \
    } while (0)

#define CHECK_NEAR(got, want, tol)                                                     \
    do {                                                                               \
        double g_ = (double)(got), w_ = (double)(want);                                \
        if (!(g_ - w_ <= (tol) && w_ - g_ <= (tol)))                                   \
            t_fail(__FILE__, __LINE__, "%s = %.9g, expected %.9g (tol %g)", #got, g_, w_, \
                   (double)(tol));                                                     \
    } while (0)

/* Fail and leave the test when x is NULL / not DC_OK (dc_last_error() is printed). */
#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            t_fail(__FILE__, __LINE__, "required %s failed: %s", #cond, dc_last_error()); \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define CHECK_ALLCLOSE(what, got, want, n, rtol, atol)                                 \
    t_allclose(__FILE__, __LINE__, what, got, want, n, rtol, atol)

#endif
