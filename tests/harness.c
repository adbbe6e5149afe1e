/*
 * harness.c - registry and runner for the TEST() functions of tests/test_*.c, and the helpers
 * several test files share (running the deepc command, PyTorch reference files).
 * Usage: test_runner [PATTERN...]   runs the tests whose name or file (tests/test_io.c) contains
 * any PATTERN (all tests without one). DEEPC_TEST_FAILFAST=1 stops at the first failed test.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

int t_run_deepc(char *out, size_t size, const char *fmt, ...)
{
    char args[2048], cmd[2600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", t_deepc_bin(), args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    if (out && size) {
        size_t n = fread(out, 1, size - 1, p);
        out[n] = '\0';
    }
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int t_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 0;
    int ok = fputs(text, f) >= 0;
    return (fclose(f) == 0) & ok;
}

/* ---- PyTorch reference files ---- */

const char *t_ref_dir(const char *sub)
{
    static char dir[512];
    const char *p = getenv("DEEPC_REF_DIR");
    snprintf(dir, sizeof dir, "%s%s%s", p && *p ? p : "tests/ref", sub ? "/" : "",
             sub ? sub : "");
    return dir;
}

dc_tdict *t_ref_load(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    dc_tdict *d = dc_safetensors_read(path);
    if (!d)
        t_fail(__FILE__, __LINE__, "ref %s: cannot read %s: %s", name, path, dc_last_error());
    return d;
}

void t_ref_compare(const char *cs, const char *tensor, const dc_tensor *got_t, const void *got,
                   const dc_tensor *want)
{
    char what[200], gs[64], ws[64];
    snprintf(what, sizeof what, "ref %s: %s", cs, tensor);
    if (!want) {
        t_fail(__FILE__, __LINE__, "%s: missing from the reference file", what);
        return;
    }
    if (!got_t || !got) {
        t_fail(__FILE__, __LINE__, "%s: deepc produced none (%s)", what, dc_last_error());
        return;
    }
    if (got_t->dtype != want->dtype) {
        t_fail(__FILE__, __LINE__, "%s: deepc dtype %d, expected %d", what, (int)got_t->dtype,
               (int)want->dtype);
        return;
    }
    if (!dc_same_shape(got_t, want))
        t_fail(__FILE__, __LINE__, "%s: shape %s, expected %s", what,
               dc_shape_str(got_t, gs, sizeof gs), dc_shape_str(want, ws, sizeof ws));
    if (got_t->numel != want->numel)
        return;
    if (want->dtype == DC_F32) {
        t_allclose(__FILE__, __LINE__, what, got, dc_f32(want), want->numel, T_REF_RTOL,
                   T_REF_ATOL);
        return;
    }
    if (want->dtype != DC_I64) {
        t_fail(__FILE__, __LINE__, "%s: cannot compare dtype %d", what, (int)want->dtype);
        return;
    }
    const int64_t *g = got, *w = dc_i64(want);
    for (int64_t i = 0; i < want->numel; i++)
        if (g[i] != w[i]) {
            t_fail(__FILE__, __LINE__, "%s: element %lld is %lld, expected %lld", what,
                   (long long)i, (long long)g[i], (long long)w[i]);
            return;
        }
}

int t_ref_inputs(const char *cs, const dc_tdict *d, dc_tensor **x, int max, int *n)
{
    char key[32];
    for (*n = 0; *n < max; (*n)++) {
        snprintf(key, sizeof key, "x%d", *n);
        const dc_tensor *t = dc_tdict_get(d, key);
        if (!t)
            break;
        snprintf(key, sizeof key, "dx%d", *n);
        if (!(x[*n] = dc_tensor_clone(t)) ||
            (dc_tdict_get(d, key) && dc_tensor_requires_grad(x[*n]) != DC_OK)) {
            t_fail(__FILE__, __LINE__, "ref %s: cannot copy x%d: %s", cs, *n, dc_last_error());
            (*n)++;
            return 0;
        }
    }
    return 1;
}

int t_ref_backward(dc_ctx *ctx, const char *cs, dc_tensor *y, const dc_tensor *dy)
{
    if (!dy) {
        t_fail(__FILE__, __LINE__, "ref %s: dy missing from the reference file", cs);
        return 0;
    }
    if (!dc_same_shape(y, dy) && y->numel == dy->numel)
        dy = dc_wrap(ctx, DC_F32, y->ndim, y->shape, dy->data);
    if (!dy || y->numel != dy->numel)
        return 0;
    if (dc_backward_with(ctx, y, dy) != DC_OK) {
        t_fail(__FILE__, __LINE__, "ref %s: backward failed: %s", cs, dc_last_error());
        return 0;
    }
    return 1;
}

void t_ref_compare_grads(const char *cs, const dc_tdict *d, dc_tensor *const *x, int n)
{
    char key[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "dx%d", i);
        const dc_tensor *want = dc_tdict_get(d, key);
        if (want)
            t_ref_compare(cs, key, x[i], x[i]->grad, want);
    }
}

void t_names_add(t_names *l, const char *name)
{
    if (l->n < (int)(sizeof l->name / sizeof *l->name))
        l->name[l->n++] = name;
}

void t_ref_check_files(const char *dir, const t_names *tested, const char *except,
                       const char *test_file)
{
    const char *const *names = tested->name;
    const int n = tested->n;
    DIR *dp = opendir(dir);
    if (!dp) {
        t_fail(__FILE__, __LINE__, "ref: cannot open %s", dir);
        return;
    }
    int seen = 0;
    struct dirent *e;
    const char *ext = ".safetensors";
    size_t n_ext = strlen(ext);
    while ((e = readdir(dp))) {
        size_t len = strlen(e->d_name);
        if (len <= n_ext || strcmp(e->d_name + len - n_ext, ext) != 0 ||
            (except && strcmp(e->d_name, except) == 0))
            continue;
        int found = 0;
        for (int i = 0; i < n && !found; i++)
            found = strlen(names[i]) == len - n_ext &&
                    strncmp(names[i], e->d_name, len - n_ext) == 0;
        if (!found)
            t_fail(__FILE__, __LINE__, "ref: %s/%s has no test in %s", dir, e->d_name, test_file);
        seen++;
    }
    closedir(dp);
    if (seen != n)
        t_fail(__FILE__, __LINE__, "ref: %d reference files for %d tests", seen, n);
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
    const char *failfast = getenv("DEEPC_TEST_FAILFAST");
    int passed = 0, failed = 0;
    /* as the deepc command does (docs/design.md, "Threads") */
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT"))
        setenv("GOMP_SPINCOUNT", dc_spincount_default(), 0);
    snprintf(tmp_root, sizeof tmp_root, "/tmp/deepc-test-XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(cleanup_tmp);
    for (int i = 0; i < n_cases; i++) {
        int chosen = argc < 2;
        for (int k = 1; k < argc && !chosen; k++)
            chosen = strstr(cases[i].name, argv[k]) || strstr(cases[i].file, argv[k]);
        if (!chosen)
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
        if (cur_failed && failfast && *failfast == '1')
            break;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

int t_same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

int t_write_blobs_npy(const char *dir, const char *tag, int64_t n, uint64_t seed)
{
    dc_tensor *x = dc_tensor_new(DC_F32, 4, DC_SHAPE(n, 1, 28, 28));
    dc_tensor *y = dc_tensor_new(DC_I64, 1, DC_SHAPE(n));
    int ok = x && y;
    dc_rng r;
    dc_rng_seed(&r, seed, 0);
    for (int64_t i = 0; ok && i < n; i++) {
        dc_i64(y)[i] = i % 10;
        for (int k = 0; k < 784; k++) /* class-dependent blobs plus noise */
            dc_f32(x)[i * 784 + k] = (k % 10 == i % 10 ? 1.0f : 0.0f) + 0.3f * dc_rng_normal(&r);
    }
    char px[512], py[512];
    snprintf(px, sizeof px, "%s/%s_x.npy", dir, tag);
    snprintf(py, sizeof py, "%s/%s_y.npy", dir, tag);
    ok = ok && dc_npy_save(px, x) == DC_OK && dc_npy_save(py, y) == DC_OK;
    dc_tensor_free(x);
    dc_tensor_free(y);
    return ok;
}
