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
/* Run "deepc ARGS" (ARGS from fmt) capturing stdout+stderr into out (truncated to size - 1
 * bytes, NUL-terminated; out may be NULL); returns the exit code, or -1 if it did not exit. */
int t_run_deepc(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 1 when the files a and b exist and hold the same bytes. */
int t_same_file(const char *a, const char *b);
/* A small classification set as DIR/<tag>_x.npy [n, 1, 28, 28] and DIR/<tag>_y.npy [n] (10
 * classes): class-dependent blobs plus N(0, 0.3) noise drawn from seed. 1 on success. */
int t_write_blobs_npy(const char *dir, const char *tag, int64_t n, uint64_t seed);
/* Write text to path (replacing it); 1 on success. */
int t_write_text(const char *path, const char *text);

/* PyTorch reference files (tests/test_ref*.c): DIR/<case>.safetensors with inputs x<i>, output
 * y, upstream gradient dy and gradients dx<i> of Σ y·dy. Floats compare within T_REF_RTOL and
 * T_REF_ATOL. */
#define T_REF_RTOL 1e-4
#define T_REF_ATOL 1e-5
/* $DEEPC_REF_DIR (default tests/ref), followed by "/sub" unless sub is NULL; a static buffer. */
const char *t_ref_dir(const char *sub);
/* Read dir/<name>.safetensors; NULL (and a failed check naming the path) if it cannot. */
dc_tdict *t_ref_load(const char *dir, const char *name);
/* Check got (data of got_t's shape; got_t and got may be NULL) against the reference tensor want
 * of case cs: same dtype and shape, then F32 elements within the tolerances, I64 ones exactly. */
void t_ref_compare(const char *cs, const char *tensor, const dc_tensor *got_t, const void *got,
                   const dc_tensor *want);
/* Clone the file's x0, x1, ... (at most max) into x, with requires_grad where the file has
 * dx<i>; *n is how many were cloned (the failed one included). 0 (a failed check) on error. */
int t_ref_inputs(const char *cs, const dc_tdict *d, dc_tensor **x, int max, int *n);
/* Backward from y with the file's dy (re-wrapped when only the shape differs, so that a shape
 * mismatch, already reported, does not hide the gradient comparison); 1 if it ran. */
int t_ref_backward(dc_ctx *ctx, const char *cs, dc_tensor *y, const dc_tensor *dy);
/* Compare x[i]->grad with the file's dx<i> for each i < n that the file has. */
void t_ref_compare_grads(const char *cs, const dc_tdict *d, dc_tensor *const *x, int n);
/* The reference cases that have a test, noted by constructors at load time (at most 512). */
typedef struct t_names {
    const char *name[512];
    int n;
} t_names;
void t_names_add(t_names *l, const char *name);
/* Check that every dir/<name>.safetensors but `except` (may be NULL) is in `tested` and that
 * there are as many such files as names; test_file is named in the failure. */
void t_ref_check_files(const char *dir, const t_names *tested, const char *except,
                       const char *test_file);

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
