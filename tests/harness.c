/*
 * harness.c - registry and runner for the TEST() functions of tests/test_*.c.
 * Usage: test_runner [substring]   runs the tests whose name contains substring.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *name, *file;
    t_fn fn;
} t_case;

static t_case cases[1024];
static int n_cases;
static int cur_failed;
static char tmp_root[256];
static int tmp_count;
static char tmp_cur[300];

void t_register(const char *name, const char *file, t_fn fn)
{
    if (n_cases < (int)(sizeof cases / sizeof *cases))
        cases[n_cases++] = (t_case){name, file, fn};
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cur_failed = 1;
}

int t_failed(void) { return cur_failed; }

int t_allclose(const char *file, int line, const char *what, const float *got, const float *want,
               long long n, double rtol, double atol)
{
    long long worst = -1;
    double worst_excess = 0;
    for (long long i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double tol = atol + rtol * fabs(w);
        double err = fabs(g - w);
        if (!(err <= tol) && (worst < 0 || !(err - tol <= worst_excess))) {
            worst = i;
            worst_excess = err - tol;
        }
    }
    if (worst >= 0) {
        t_fail(file, line, "%s: element %lld of %lld is %.9g, expected %.9g (rtol %g, atol %g)",
               what, worst, n, (double)got[worst], (double)want[worst], rtol, atol);
        return 0;
    }
    return 1;
}

const char *t_deepc_bin(void)
{
    const char *p = getenv("DEEPC_BIN");
    return p && *p ? p : "build/deepc";
}

const char *t_tmpdir(void)
{
    snprintf(tmp_cur, sizeof tmp_cur, "%s/t%d", tmp_root, ++tmp_count);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmp_cur);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot create %s\n", tmp_cur);
    return tmp_cur;
}

static void cleanup_tmp(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmp_root);
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    /* as the deepc command does (docs/design.md, "Threads") */
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT"))
        setenv("OMP_WAIT_POLICY", "passive", 0);
    snprintf(tmp_root, sizeof tmp_root, "/tmp/deepc-test-XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(cleanup_tmp);
    for (int i = 0; i < n_cases; i++) {
        if (filter && !strstr(cases[i].name, filter))
            continue;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        cur_failed = 0;
        dc_clear_error();
        cases[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        printf("%-4s %-44s %8.1f ms  (%s)\n", cur_failed ? "FAIL" : "ok", cases[i].name, ms,
               cases[i].file);
        fflush(stdout);
        if (cur_failed)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
