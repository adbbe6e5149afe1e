/*
 * test_io.c - .npy and .safetensors files, the JSON parser, atomic writes, model save/load.
 *
 * Proves: round trips are exact (dtypes, 0-d, 5-d, empty dims); files written by numpy / by hand
 * in the reference safetensors layout (tests/data/io/make_fixtures.py) read back with the known
 * values, big-endian and half precision included; every malformed, truncated, mutated or hostile
 * file is refused with a message naming the file and nothing read out of bounds (run it under
 * `make sanitize`); a failed save leaves the old file and no temporary behind; strict model loads
 * refuse and change nothing, partial loads load what matches.
 */
#define _XOPEN_SOURCE 700
#include "harness.h"
#include "io/io.h"
#include "io/json.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX "tests/data/io/"

/* ---- helpers ---- */

/* Write a file from scratch (removing it first: rewriting a file in place through truncation
 * makes ext4 flush it on close, which is slow). */
static int write_bytes(const char *path, const void *p, size_t n)
{
    remove(path);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    return (fclose(f) == 0) & (w == n);
}

/* The whole file into a malloc'd buffer (NULL if unreadable). */
static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return p;
}

/* Names in dir that contain ".tmp." (left-over temporary files). */
static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* The last error names the file and says why. */
static void check_err_at(const char *file, int line, const char *path, const char *why)
{
    const char *e = dc_last_error();
    if (!strstr(e, path) || (why && !strstr(e, why)))
        t_fail(file, line, "error for %s should name it and contain '%s'; got: %s", path,
               why ? why : "", e);
}
#define CHECK_ERR(path, why) check_err_at(__FILE__, __LINE__, path, why)

static bool same_f32(float a, float b)
{
    return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b));
}

/* t has dtype F32, shape shape[ndim] and exactly the values want[] (NaN == NaN, -0 != 0). */
static void check_f32_at(const char *file, int line, const char *what, const dc_tensor *t,
                         int ndim, const int64_t *shape, const float *want)
{
    if (!t) {
        t_fail(file, line, "%s: NULL (%s)", what, dc_last_error());
        return;
    }
    char s[96];
    dc_tensor ref = {.ndim = ndim};
    for (int i = 0; i < ndim; i++)
        ref.shape[i] = shape[i];
    if (t->dtype != DC_F32 || !dc_same_shape(t, &ref)) {
        t_fail(file, line, "%s: dtype %d shape %s", what, t->dtype, dc_shape_str(t, s, sizeof s));
        return;
    }
    for (int64_t i = 0; i < t->numel; i++)
        if (!same_f32(dc_f32(t)[i], want[i])) {
            t_fail(file, line, "%s[%lld] = %.9g, expected %.9g", what, (long long)i,
                   (double)dc_f32(t)[i], (double)want[i]);
            return;
        }
}

static void check_i64_at(const char *file, int line, const char *what, const dc_tensor *t,
                         int ndim, const int64_t *shape, const int64_t *want)
{
    if (!t) {
        t_fail(file, line, "%s: NULL (%s)", what, dc_last_error());
        return;
    }
    char s[96];
    dc_tensor ref = {.ndim = ndim};
    for (int i = 0; i < ndim; i++)
        ref.shape[i] = shape[i];
    if (t->dtype != DC_I64 || !dc_same_shape(t, &ref)) {
        t_fail(file, line, "%s: dtype %d shape %s", what, t->dtype, dc_shape_str(t, s, sizeof s));
        return;
    }
    for (int64_t i = 0; i < t->numel; i++)
        if (dc_i64(t)[i] != want[i]) {
            t_fail(file, line, "%s[%lld] = %lld, expected %lld", what, (long long)i,
                   (long long)dc_i64(t)[i], (long long)want[i]);
            return;
        }
}
#define CHECK_F32(what, t, ndim, shape, ...) \
    check_f32_at(__FILE__, __LINE__, what, t, ndim, shape, (const float[]){__VA_ARGS__})
#define CHECK_I64(what, t, ndim, shape, ...) \
    check_i64_at(__FILE__, __LINE__, what, t, ndim, shape, (const int64_t[]){__VA_ARGS__})

/* Two tensors with the same dtype, shape and bytes. */
static int same_tensor(const dc_tensor *a, const dc_tensor *b)
{
    return a && b && a->dtype == b->dtype && dc_same_shape(a, b) && a->numel == b->numel &&
           memcmp(a->data, b->data, (size_t)a->numel * (a->dtype == DC_I64 ? 8 : 4)) == 0;
}

static dc_tensor *filled(dc_dtype dt, int ndim, const int64_t *shape, float scale)
{
    dc_tensor *t = dc_tensor_new(dt, ndim, shape);
    for (int64_t i = 0; t && i < t->numel; i++) {
        if (dt == DC_F32)
            dc_f32(t)[i] = scale * (float)(i - 3) + 0.125f;
        else
            dc_i64(t)[i] = (int64_t)((i - 3) * 1000000007LL * (int64_t)scale);
    }
    return t;
}

/* ---- .npy ---- */

TEST(io_npy_roundtrip)
{
    static const struct { dc_dtype dt; int ndim; int64_t shape[5]; } cases[] = {
        {DC_F32, 2, {2, 3}}, {DC_I64, 1, {4}}, {DC_F32, 0, {0}}, {DC_I64, 0, {0}},
        {DC_F32, 5, {2, 1, 3, 1, 2}}, {DC_F32, 2, {0, 3}}, {DC_I64, 3, {3, 0, 2}},
        {DC_F32, 1, {1000}},
    };
    const char *dir = t_tmpdir();
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char path[512];
        snprintf(path, sizeof path, "%s/rt%zu.npy", dir, c);
        dc_tensor *t = filled(cases[c].dt, cases[c].ndim, cases[c].shape, 1.5f);
        REQUIRE(t);
        REQUIRE(dc_npy_save(path, t) == DC_OK);
        size_t n;
        unsigned char *raw = read_bytes(path, &n);
        size_t data = (size_t)t->numel * (t->dtype == DC_I64 ? 8 : 4);
        CHECK(raw && n >= 64 + data && (n - data) % 64 == 0, "case %zu: header of %zu bytes "
              "does not end at a multiple of 64", c, n - data);
        CHECK(raw && memcmp(raw, "\x93NUMPY\x01\x00", 8) == 0, "case %zu: not a v1.0 .npy", c);
        CHECK(raw && raw[n - data - 1] == '\n', "case %zu: header must end in a newline", c);
        free(raw);
        dc_tensor *u = dc_npy_load(path);
        CHECK(same_tensor(t, u), "case %zu: round trip differs (%s)", c, dc_last_error());
        dc_tensor_free(t);
        dc_tensor_free(u);
    }
    CHECK(count_tmp(dir) == 0, "temporary files left in %s", dir);
}

TEST(io_npy_fixtures_numpy)
{
    static const char *const v[] = {FIX "v1_f4.npy", FIX "v2_f4.npy", FIX "v3_f4.npy"};
    for (int i = 0; i < 3; i++) {
        dc_tensor *t = dc_npy_load(v[i]);
        CHECK_F32(v[i], t, 2, DC_SHAPE(2, 3), -1, -0.5f, 0, 0.5f, 1, 1.5f);
        dc_tensor_free(t);
    }
    dc_tensor *t;
    t = dc_npy_load(FIX "f8.npy");
    CHECK_F32("f8", t, 1, DC_SHAPE(4), (float)(1.0 / 3.0), (float)-2.5e-3, (float)1e30, -0.0f);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "i4.npy");
    CHECK_I64("i4", t, 2, DC_SHAPE(2, 3), INT32_MIN, -1, 0, 1, 2, INT32_MAX);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "u1.npy");
    CHECK_I64("u1", t, 1, DC_SHAPE(5), 0, 1, 127, 128, 255);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "b1.npy");
    CHECK_I64("b1", t, 2, DC_SHAPE(2, 2), 1, 0, 0, 1);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "i2.npy");
    CHECK_I64("i2", t, 1, DC_SHAPE(4), -32768, -1, 0, 32767);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "i1.npy");
    CHECK_I64("i1", t, 1, DC_SHAPE(4), -128, -1, 0, 127);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "f2.npy");
    CHECK_F32("f2", t, 1, DC_SHAPE(8), 1, -2, 65504, ldexpf(1, -24), ldexpf(1, -14),
              3 * ldexpf(1, -24), INFINITY, -0.0f);
    dc_tensor_free(t);
}

TEST(io_npy_fixtures_special)
{
    dc_tensor *t;
    t = dc_npy_load(FIX "be_f4.npy");
    CHECK_F32("be_f4", t, 1, DC_SHAPE(4), 1.5f, -2.25f, 3e-38f, INFINITY);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "be_f8.npy");
    CHECK_F32("be_f8", t, 1, DC_SHAPE(2), 2.5f, (float)-1e-3);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "be_i8.npy");
    CHECK_I64("be_i8", t, 1, DC_SHAPE(5), INT64_MIN, -1, 0, 1, INT64_MAX);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "be_i4.npy");
    CHECK_I64("be_i4", t, 1, DC_SHAPE(2), -5, 70000);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "scalar.npy");
    CHECK_F32("scalar (0-d)", t, 0, NULL, 3.25f);
    CHECK(t && t->numel == 1, "a 0-d array has one element");
    dc_tensor_free(t);
    t = dc_npy_load(FIX "i8_5d.npy");
    CHECK_I64("i8_5d", t, 5, DC_SHAPE(2, 1, 3, 1, 2), -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "empty.npy");
    CHECK(t && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3 && t->numel == 0,
          "empty.npy: %s", dc_last_error());
    dc_tensor_free(t);
    t = dc_npy_load(FIX "py2_long.npy");
    CHECK_I64("py2_long", t, 1, DC_SHAPE(3), 7, 8, 9);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "fortran_1d.npy");
    CHECK_F32("fortran_1d", t, 2, DC_SHAPE(3, 1), 1, 2, 3);
    dc_tensor_free(t);
    t = dc_npy_load(FIX "native_eq.npy");
    CHECK_F32("native_eq", t, 1, DC_SHAPE(2), 0.25f, -4);
    dc_tensor_free(t);
}

TEST(io_npy_bad_files)
{
    static const char *const cases[][2] = {
        {"empty.npy", "bad magic"}, {"short_magic.npy", "bad magic"},
        {"bad_magic.npy", "bad magic"}, {"bad_version.npy", "version 4.0"},
        {"trunc_prefix.npy", "truncated"}, {"trunc_header.npy", "truncated .npy header"},
        {"header_huge.npy", "1 MiB"}, {"trunc_data.npy", "truncated data"},
        {"trailing.npy", "trailing"}, {"fortran.npy", "Fortran order not supported"},
        {"dims6.npy", "more than 5"}, {"neg_dim.npy", "negative dimension"},
        {"overflow.npy", "overflows"}, {"bigint.npy", "64 bits"},
        {"unknown_descr.npy", "unsupported dtype '<c8'"}, {"structured.npy", "structured"},
        {"missing_key.npy", "missing 'shape'"}, {"extra_key.npy", "unexpected key 'x'"},
        {"dup_key.npy", "twice"}, {"not_dict.npy", "not a dict"},
        {"unterminated.npy", "unterminated"}, {"shape_not_tuple.npy", "must be a tuple"},
        {"after_dict.npy", "unexpected text"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[256];
        snprintf(path, sizeof path, FIX "bad/%s", cases[i][0]);
        dc_clear_error();
        dc_tensor *t = dc_npy_load(path);
        CHECK(t == NULL, "%s was accepted", path);
        dc_tensor_free(t);
        CHECK_ERR(path, cases[i][1]);
    }
    CHECK(dc_npy_load(FIX "no_such_file.npy") == NULL, "a missing file was accepted");
    CHECK_ERR(FIX "no_such_file.npy", "cannot open");
    CHECK(dc_npy_load(FIX "bad") == NULL, "a directory was accepted");
    CHECK_ERR(FIX "bad", "is a directory");
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/fifo.npy", t_tmpdir());
    REQUIRE(mkfifo(fifo, 0600) == 0);
    CHECK(dc_npy_load(fifo) == NULL, "a FIFO was accepted"); /* and opening it did not block */
    CHECK_ERR(fifo, "not a regular file");
}

/* Every prefix of a good file and a sweep of single-byte changes: refused or read, never a
 * crash, and refusals name the file. */
TEST(io_npy_truncated_and_mutated)
{
    const char *dir = t_tmpdir();
    char good[512], path[512];
    snprintf(good, sizeof good, "%s/good.npy", dir);
    snprintf(path, sizeof path, "%s/cut.npy", dir);
    dc_tensor *t = filled(DC_F32, 2, DC_SHAPE(3, 5), 0.5f);
    REQUIRE(t && dc_npy_save(good, t) == DC_OK);
    size_t n;
    unsigned char *raw = read_bytes(good, &n);
    REQUIRE(raw);
    for (size_t k = 0; k < n; k++) {
        REQUIRE(write_bytes(path, raw, k));
        dc_tensor *u = dc_npy_load(path);
        CHECK(u == NULL, "a %zu-byte prefix of a %zu-byte file was accepted", k, n);
        dc_tensor_free(u);
        CHECK_ERR(path, "");
    }
    static const unsigned char vals[] = {0x00, 0xff, '(', ')', '9', ',', '\'', '-', ' ', 'L'};
    for (size_t k = 0; k < 128; k++)
        for (size_t v = 0; v < sizeof vals; v++) {
            unsigned char keep = raw[k];
            raw[k] = vals[v];
            REQUIRE(write_bytes(path, raw, n));
            raw[k] = keep;
            dc_clear_error();
            dc_tensor *u = dc_npy_load(path);
            if (!u)
                CHECK_ERR(path, "");
            dc_tensor_free(u);
        }
    free(raw);
    dc_tensor_free(t);
}

/* ---- safetensors ---- */

TEST(io_safetensors_roundtrip)
{
    const char *dir = t_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    const char *names[] = {"fc.weight", "z_count", "a.bias", "emb", "idx", "big5",
                           "we\"ird\\name\n\xc3\xbc"};
    dc_tensor *ts[7] = {
        filled(DC_F32, 2, DC_SHAPE(3, 4), 1), filled(DC_I64, 0, NULL, 7),
        filled(DC_F32, 1, DC_SHAPE(3), 2), filled(DC_F32, 2, DC_SHAPE(0, 2), 1),
        filled(DC_I64, 1, DC_SHAPE(5), 3), filled(DC_F32, 5, DC_SHAPE(1, 2, 1, 2, 2), 0.25f),
        filled(DC_F32, 1, DC_SHAPE(1), 9),
    };
    REQUIRE(dc_safetensors_write(path, 7, names, (const dc_tensor *const *)ts) == DC_OK);
    CHECK(count_tmp(dir) == 0, "temporary files left in %s", dir);
    size_t n;
    unsigned char *raw = read_bytes(path, &n);
    REQUIRE(raw && n >= 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | raw[i];
    CHECK(hl % 8 == 0 && 8 + hl <= n, "header length %llu: not a multiple of 8 or too long",
          (unsigned long long)hl);
    /* the reference layout: int64 tensors first, then float32, each group sorted by name */
    char *h = strndup((const char *)raw + 8, (size_t)hl);
    const char *order[] = {"\"idx\"", "\"z_count\"", "\"a.bias\"", "\"big5\"", "\"emb\"",
                           "\"fc.weight\"", "\"we\\\"ird"};
    const char *prev = h;
    for (int i = 0; i < 7; i++) {
        const char *at = strstr(h, order[i]);
        CHECK(at && at >= prev, "header order: %s missing or out of place in %s", order[i], h);
        prev = at ? at : prev;
    }
    CHECK(strstr(h, "\"data_offsets\":[0,40]") != NULL, "idx should start the buffer: %s", h);
    free(h);
    free(raw);
    dc_tdict *d = dc_safetensors_read(path);
    REQUIRE(d);
    CHECK(d->n == 7, "read %d tensors, wrote 7", d->n);
    for (int i = 0; i < 7; i++)
        CHECK(same_tensor(ts[i], dc_tdict_get(d, names[i])), "tensor %s differs", names[i]);
    CHECK(dc_tdict_get(d, "nope") == NULL, "a missing name was found");
    dc_tdict_free(d);
    for (int i = 0; i < 7; i++)
        dc_tensor_free(ts[i]);
}

TEST(io_safetensors_write_refuses)
{
    const char *dir = t_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    dc_tensor *a = filled(DC_F32, 1, DC_SHAPE(2), 1);
    const dc_tensor *two[] = {a, a};
    const char *dup[] = {"x", "x"}, *meta[] = {"__metadata__"}, *bad[] = {"\xff"};
    CHECK(dc_safetensors_write(path, 2, dup, two) == DC_ERR_ARG, "duplicate names accepted");
    CHECK_ERR(path, "twice");
    CHECK(dc_safetensors_write(path, 1, meta, two) == DC_ERR_ARG, "__metadata__ accepted");
    CHECK(dc_safetensors_write(path, 1, bad, two) == DC_ERR_ARG, "bad UTF-8 name accepted");
    const dc_tensor *none[] = {NULL};
    CHECK(dc_safetensors_write(path, 1, dup, none) == DC_ERR_ARG, "NULL tensor accepted");
    CHECK(access(path, F_OK) != 0, "a refused write created the file");
    CHECK(dc_safetensors_write(path, 0, NULL, NULL) == DC_OK, "empty dict: %s",
          dc_last_error());
    dc_tdict *d = dc_safetensors_read(path);
    CHECK(d && d->n == 0, "empty dict did not read back: %s", dc_last_error());
    dc_tdict_free(d);
    CHECK(count_tmp(dir) == 0, "temporary files left in %s", dir);
    dc_tensor_free(a);
}

TEST(io_safetensors_fixture_dtypes)
{
    dc_tdict *d = dc_safetensors_read(FIX "st_dtypes.safetensors");
    REQUIRE(d);
    CHECK(d->n == 12, "expected 12 tensors, got %d", d->n);
    float inf = INFINITY;
    CHECK_F32("a_f32", dc_tdict_get(d, "a_f32"), 2, DC_SHAPE(2, 3), -1, -0.5f, 0, 0.5f, 1, 1.5f);
    CHECK_F32("b_f64", dc_tdict_get(d, "b_f64"), 1, DC_SHAPE(3), (float)(1.0 / 3.0),
              (float)-1e-3, inf);
    CHECK_F32("c_f16", dc_tdict_get(d, "c_f16"), 1, DC_SHAPE(9), 1, -2, 65504, ldexpf(1, -24),
              ldexpf(1, -14), 3 * ldexpf(1, -24), inf, -0.0f, NAN);
    CHECK_F32("d_bf16", dc_tdict_get(d, "d_bf16"), 2, DC_SHAPE(2, 3), 1, -2.5f,
              ldexpf(1, 100), ldexpf(1, -130), inf, -inf);
    CHECK_I64("e_i32", dc_tdict_get(d, "e_i32"), 1, DC_SHAPE(4), INT32_MIN, -1, 0, INT32_MAX);
    CHECK_I64("f_i64", dc_tdict_get(d, "f_i64"), 2, DC_SHAPE(2, 2), INT64_MIN, 1, -1, INT64_MAX);
    CHECK_I64("g_i8", dc_tdict_get(d, "g_i8"), 1, DC_SHAPE(3), -128, 0, 127);
    CHECK_I64("h_u8", dc_tdict_get(d, "h_u8"), 1, DC_SHAPE(3), 0, 128, 255);
    CHECK_I64("i_bool", dc_tdict_get(d, "i_bool"), 1, DC_SHAPE(4), 1, 0, 0, 1);
    CHECK_F32("j_scalar", dc_tdict_get(d, "j_scalar"), 0, NULL, 7.5f);
    dc_tensor *e = dc_tdict_get(d, "k_empty");
    CHECK(e && e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 4 && e->numel == 0,
          "k_empty should be [0, 4]");
    CHECK_F32("escaped name", dc_tdict_get(d, "l_esc\"\\\xc3\xbc"), 1, DC_SHAPE(1), 42);
    dc_tdict_free(d);
}

/* Every float16 bit pattern against the definition: (-1)^s · 2^(e-15) · (1 + m/1024), or
 * 2^-14 · m/1024 when e == 0; e == 31 is ±inf (m == 0) or NaN. */
TEST(io_half_conversions_exhaustive)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int s = (int)(h >> 15), e = (int)((h >> 10) & 31), m = (int)(h & 1023);
        float want = e == 31 ? (m ? NAN : INFINITY)
                   : e == 0 ? ldexpf((float)m, -24) : ldexpf(1024.0f + (float)m, e - 25);
        if (s)
            want = -want;
        float got = dc_io_f16_to_f32((uint16_t)h);
        if (!same_f32(got, want) && bad++ < 5)
            CHECK(0, "f16 0x%04x -> %.9g, expected %.9g", (unsigned)h, (double)got, (double)want);
        uint32_t bits;
        float b = dc_io_bf16_to_f32((uint16_t)h);
        memcpy(&bits, &b, 4);
        if (bits != h << 16 && bad++ < 5)
            CHECK(0, "bf16 0x%04x -> bits 0x%08x", (unsigned)h, (unsigned)bits);
    }
    CHECK(bad == 0, "%d conversions wrong", bad);
}

TEST(io_safetensors_bad_files)
{
    static const char *const cases[][2] = {
        {"empty", "too short"}, {"short", "too short"}, {"hdr_huge", "100 MiB"},
        {"hdr_cap", "100 MiB"}, {"hdr_past_eof", "exceeds the"},
        {"json_garbage", "JSON byte"}, {"json_trailing", "after the JSON value"},
        {"json_deep", "deeper than 64"}, {"json_deep_obj", "deeper than 64"},
        {"not_object", "must be a JSON object"}, {"unknown_dtype", "unsupported dtype C64"},
        {"dims6", "at most 5"}, {"neg_dim", "negative dimension"}, {"overflow", "overflows"},
        {"offsets_past_eof", "outside"}, {"offsets_mismatch", "need 8"},
        {"offsets_reversed", "outside"}, {"offsets_negative", "outside"},
        {"offsets_one", "two integers"}, {"offsets_float", "only integers"},
        {"missing_dtype", "exactly"}, {"extra_field", "exactly"},
        {"shape_not_int", "array of integers"}, {"metadata_not_str", "__metadata__"},
        {"dup_names", "appears twice"}, {"bad_utf8", "UTF-8"},
        {"bad_escape", "unknown escape"}, {"lone_surrogate", "surrogate"},
        {"control_char", "control character"}, {"int_overflow", "int64 range"},
        {"nul_in_header", "expected ':'"}, {"entry_not_object", "exactly"},
        {"trunc_json", "JSON byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[256];
        snprintf(path, sizeof path, FIX "bad/%s.safetensors", cases[i][0]);
        dc_clear_error();
        dc_tdict *d = dc_safetensors_read(path);
        CHECK(d == NULL, "%s was accepted", path);
        dc_tdict_free(d);
        CHECK_ERR(path, cases[i][1]);
    }
    CHECK(dc_safetensors_read(FIX "nope.safetensors") == NULL, "a missing file was accepted");
    CHECK_ERR(FIX "nope.safetensors", "cannot open");
}

TEST(io_safetensors_truncated_mutated_deep)
{
    const char *dir = t_tmpdir();
    char good[512], path[512];
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    const char *names[] = {"w", "n", "b"};
    dc_tensor *ts[3] = {filled(DC_F32, 2, DC_SHAPE(2, 3), 1), filled(DC_I64, 0, NULL, 1),
                        filled(DC_F32, 1, DC_SHAPE(3), 2)};
    REQUIRE(dc_safetensors_write(good, 3, names, (const dc_tensor *const *)ts) == DC_OK);
    size_t n;
    unsigned char *raw = read_bytes(good, &n);
    REQUIRE(raw);
    for (size_t k = 0; k < n; k++) {
        REQUIRE(write_bytes(path, raw, k));
        dc_tdict *d = dc_safetensors_read(path);
        CHECK(d == NULL, "a %zu-byte prefix of a %zu-byte file was accepted", k, n);
        dc_tdict_free(d);
        CHECK_ERR(path, "");
    }
    dc_rng r;
    dc_rng_seed(&r, 42, 1);
    unsigned char *mut = malloc(n);
    REQUIRE(mut);
    for (int it = 0; it < 1500; it++) {
        memcpy(mut, raw, n);
        int flips = 1 + (int)dc_rng_below(&r, 3);
        for (int f = 0; f < flips; f++)
            mut[dc_rng_below(&r, (uint32_t)n)] = (unsigned char)dc_rng_u32(&r);
        REQUIRE(write_bytes(path, mut, n));
        dc_clear_error();
        dc_tdict *d = dc_safetensors_read(path);
        if (!d)
            CHECK_ERR(path, "");
        dc_tdict_free(d);
    }
    free(mut);
    free(raw);
    /* a million nested brackets: refused at depth 64, no recursion */
    size_t deep = 1000000;
    unsigned char *b = malloc(8 + deep);
    REQUIRE(b);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(deep >> (8 * i));
    memset(b + 8, '[', deep);
    REQUIRE(write_bytes(path, b, 8 + deep));
    free(b);
    CHECK(dc_safetensors_read(path) == NULL, "deep nesting accepted");
    CHECK_ERR(path, "deeper than 64");
    for (int i = 0; i < 3; i++)
        dc_tensor_free(ts[i]);
}

/* ---- JSON ---- */

TEST(io_json_parser)
{
    const char *ok = " {\"a\":[1,-2,{\"b\":\"x\\u00e9\\ud83d\\ude00\\n\\\"\\/\"}],\"c\":true,"
                     "\"d\":null,\"e\":-9223372036854775808,\"f\":{},\"g\":[]} ";
    dc_json doc;
    REQUIRE(dc_json_parse(&doc, ok, strlen(ok)) == DC_OK);
    int32_t a = dc_json_get(&doc, 0, "a");
    CHECK(a > 0 && doc.nodes[a].type == DC_JSON_ARRAY && doc.nodes[a].n == 3, "a: bad array");
    int32_t obj = a > 0 ? doc.nodes[a + 2].end : -1; /* third element follows the second */
    int32_t bb = obj > 0 ? dc_json_get(&doc, obj, "b") : -1;
    CHECK(bb > 0 && strcmp(doc.nodes[bb].s, "x\xc3\xa9\xf0\x9f\x98\x80\n\"/") == 0,
          "escapes decoded wrong: '%s'", bb > 0 ? doc.nodes[bb].s : "?");
    int32_t e = dc_json_get(&doc, 0, "e");
    CHECK(e > 0 && doc.nodes[e].i == INT64_MIN, "int64 min");
    int32_t g = dc_json_get(&doc, 0, "g");
    CHECK(g > 0 && doc.nodes[g].n == 0 && doc.nodes[g].end == g + 1, "empty array");
    CHECK(dc_json_get(&doc, 0, "zz") == -1 && doc.nodes[0].n == 6, "object has 6 members");
    dc_json_free(&doc);

    static const char *const bad[] = {
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.5", "1e3", "\"\\u12\"", "{\"a\":1,}", "[1 2]",
        "tru", "nul", "\"abc", "[\"\\ud800\"]", "\"\\udc00\"", "\"\\u0000\"",
        "9223372036854775808", "-", "{1:2}", " [ ] x", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"", "[}", "{]", "\"a\tb\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(dc_json_parse(&doc, bad[i], strlen(bad[i])) == DC_ERR_FORMAT,
              "accepted bad JSON #%zu: %s", i, bad[i]);
        CHECK(strstr(dc_last_error(), "JSON byte") != NULL, "#%zu: message '%s'", i,
              dc_last_error());
    }
    char deep[200];
    for (int d = 63; d <= 65; d++) {
        memset(deep, '[', (size_t)d);
        memset(deep + d, ']', (size_t)d);
        dc_status st = dc_json_parse(&doc, deep, 2 * (size_t)d);
        CHECK((st == DC_OK) == (d <= 64), "depth %d: status %d", d, st);
        if (st == DC_OK)
            dc_json_free(&doc);
    }
}

/* ---- atomic writes ---- */

static int write_partial_then_fail(FILE *f, void *user)
{
    fputs("partial", f);
    return EIO;
}

TEST(io_atomic_write_failures_keep_old_file)
{
    const char *dir = t_tmpdir();
    char path[512], sub[512], deep[512];
    snprintf(path, sizeof path, "%s/keep.npy", dir);
    dc_tensor *a = filled(DC_F32, 1, DC_SHAPE(3), 1);
    dc_tensor *big = filled(DC_F32, 1, DC_SHAPE(20000), 2);
    REQUIRE(a && big && dc_npy_save(path, a) == DC_OK);

    /* the writer fails half-way */
    CHECK(dc_io_write_atomic(path, write_partial_then_fail, NULL) == DC_ERR_IO,
          "a failing writer should give DC_ERR_IO");
    CHECK_ERR(path, "unchanged");

    /* the disk "fills up": a file-size limit makes write() fail with EFBIG */
    struct rlimit old, lim;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 4096;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    dc_status st = dc_npy_save(path, big);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK(st == DC_ERR_IO, "a save past the file-size limit returned %d", st);
    CHECK_ERR(path, NULL);

    /* the target is a directory: rename fails */
    snprintf(sub, sizeof sub, "%s/adir", dir);
    REQUIRE(mkdir(sub, 0755) == 0);
    CHECK(dc_npy_save(sub, a) == DC_ERR_IO, "saving over a directory succeeded");
    CHECK_ERR(sub, "renaming");

    /* the directory does not exist */
    snprintf(deep, sizeof deep, "%s/no/such/dir/x.npy", dir);
    CHECK(dc_npy_save(deep, a) == DC_ERR_IO, "saving into a missing directory succeeded");
    CHECK_ERR(deep, "cannot create");

    /* a read-only directory (meaningless as root, who may write anywhere) */
    if (geteuid() != 0) {
        REQUIRE(chmod(dir, 0555) == 0);
        CHECK(dc_npy_save(path, big) == DC_ERR_IO, "saving into a read-only dir succeeded");
        CHECK_ERR(path, "cannot create");
        chmod(dir, 0755);
    }

    dc_tensor *u = dc_npy_load(path);
    CHECK(same_tensor(a, u), "the old file changed after failed saves");
    dc_tensor_free(u);
    CHECK(count_tmp(dir) == 0, "temporary files left in %s", dir);

    /* and a successful overwrite replaces it */
    REQUIRE(dc_npy_save(path, big) == DC_OK);
    u = dc_npy_load(path);
    CHECK(same_tensor(big, u), "overwrite did not take");
    dc_tensor_free(u);
    CHECK(count_tmp(dir) == 0, "temporary files left in %s", dir);
    dc_tensor_free(a);
    dc_tensor_free(big);
}

/* ---- model save / load ---- */

/* fc1 [4,3] + [4], bn1 running_mean [4] and num_batches_tracked (int64 scalar), fc2 [2,4] + [2],
 * every value from seed so two models can be told apart. */
static dc_model *small_model(float seed)
{
    dc_model *m = dc_model_new();
    if (!m)
        return NULL;
    dc_model_add_param(m, "fc1.weight", DC_F32, 2, DC_SHAPE(4, 3), 0);
    dc_model_add_param(m, "fc1.bias", DC_F32, 1, DC_SHAPE(4), 0);
    dc_model_add_param(m, "bn1.running_mean", DC_F32, 1, DC_SHAPE(4), 1);
    dc_model_add_param(m, "bn1.num_batches_tracked", DC_I64, 0, NULL, 1);
    dc_model_add_param(m, "fc2.weight", DC_F32, 2, DC_SHAPE(2, 4), 0);
    dc_model_add_param(m, "fc2.bias", DC_F32, 1, DC_SHAPE(2), 0);
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        for (int64_t j = 0; j < t->numel; j++) {
            if (t->dtype == DC_F32)
                dc_f32(t)[j] = seed * (float)(i + 1) + 0.01f * (float)j;
            else
                dc_i64(t)[j] = (int64_t)seed * 1000 + j;
        }
    }
    return m;
}

static int all_f32_equal(const dc_tensor *t, float v)
{
    for (int64_t j = 0; j < t->numel; j++)
        if (dc_f32(t)[j] != v)
            return 0;
    return 1;
}

TEST(io_model_save_load_roundtrip)
{
    const char *dir = t_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    dc_model *a = small_model(3), *b = small_model(0);
    REQUIRE(a && b && dc_model_save(a, path) == DC_OK);
    dc_tdict *d = dc_safetensors_read(path);
    REQUIRE(d);
    CHECK(d->n == 6, "saved %d tensors, expected 6", d->n);
    dc_tensor *nbt = dc_tdict_get(d, "bn1.num_batches_tracked");
    CHECK(nbt && nbt->dtype == DC_I64 && nbt->ndim == 0 && dc_i64(nbt)[0] == 3000,
          "num_batches_tracked should be an int64 scalar");
    dc_tdict_free(d);
    dc_load_report rep;
    REQUIRE(dc_model_load(b, path, 1, &rep) == DC_OK);
    CHECK(rep.n_loaded == 6 && rep.n_missing + rep.n_unexpected + rep.n_mismatched == 0 &&
          rep.text[0] == '\0', "report: %d loaded, text '%s'", rep.n_loaded, rep.text);
    for (int i = 0; i < dc_model_n_tensors(a); i++)
        CHECK(same_tensor(dc_model_tensor(a, i), dc_model_tensor(b, i)), "tensor %s differs",
              dc_model_tensor(a, i)->name);
    CHECK(dc_model_load(b, path, 1, NULL) == DC_OK, "rep may be NULL: %s", dc_last_error());
    dc_model_free(a);
    dc_model_free(b);
}

TEST(io_model_strict_refuses_partial_loads)
{
    const char *dir = t_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    dc_model *a = small_model(3), *b = dc_model_new();
    REQUIRE(a && b && dc_model_save(a, path) == DC_OK);
    /* b: fc1.bias mis-shaped, num_batches_tracked float, running_mean absent, fc3 extra */
    dc_model_add_param(b, "fc1.weight", DC_F32, 2, DC_SHAPE(4, 3), 0);
    dc_model_add_param(b, "fc1.bias", DC_F32, 1, DC_SHAPE(5), 0);
    dc_model_add_param(b, "bn1.num_batches_tracked", DC_F32, 0, NULL, 1);
    dc_model_add_param(b, "fc2.weight", DC_F32, 2, DC_SHAPE(2, 4), 0);
    dc_model_add_param(b, "fc2.bias", DC_F32, 1, DC_SHAPE(2), 0);
    dc_model_add_param(b, "fc3.weight", DC_F32, 2, DC_SHAPE(2, 2), 0);
    REQUIRE(dc_model_n_tensors(b) == 6);
    for (int i = 0; i < 6; i++)
        dc_tensor_fill(dc_model_tensor(b, i), 7);

    dc_load_report rep;
    CHECK(dc_model_load(b, path, 1, &rep) == DC_ERR_FORMAT, "strict load of a mismatch passed");
    CHECK_ERR(path, "strict load refused");
    CHECK(rep.n_loaded == 0 && rep.n_missing == 1 && rep.n_unexpected == 1 &&
          rep.n_mismatched == 2, "counts: %d loaded, %d missing, %d unexpected, %d mismatched",
          rep.n_loaded, rep.n_missing, rep.n_unexpected, rep.n_mismatched);
    static const char *const want[] = {
        "missing: fc3.weight", "unexpected: bn1.running_mean",
        "fc1.bias (file [4] vs model [5])", "bn1.num_batches_tracked (file int64 vs model float32)",
    };
    for (int i = 0; i < 4; i++)
        CHECK(strstr(rep.text, want[i]), "report lacks '%s': %s", want[i], rep.text);
    for (int i = 0; i < 6; i++)
        CHECK(all_f32_equal(dc_model_tensor(b, i), 7), "strict refusal changed %s",
              dc_model_tensor(b, i)->name);

    CHECK(dc_model_load(b, path, 0, &rep) == DC_OK, "partial load: %s", dc_last_error());
    CHECK(rep.n_loaded == 3 && rep.n_missing == 1 && rep.n_unexpected == 1 &&
          rep.n_mismatched == 2, "partial counts: %d loaded", rep.n_loaded);
    static const char *const loaded[] = {"fc1.weight", "fc2.weight", "fc2.bias"};
    for (int i = 0; i < 3; i++)
        CHECK(same_tensor(dc_model_find(a, loaded[i]), dc_model_find(b, loaded[i])),
              "%s was not loaded", loaded[i]);
    static const char *const kept[] = {"fc1.bias", "bn1.num_batches_tracked", "fc3.weight"};
    for (int i = 0; i < 3; i++)
        CHECK(all_f32_equal(dc_model_find(b, kept[i]), 7), "%s should be untouched", kept[i]);

    CHECK(dc_model_load(b, FIX "bad/dup_names.safetensors", 0, &rep) == DC_ERR_FORMAT,
          "a bad file loaded");
    CHECK(dc_model_load(b, FIX "nope.safetensors", 0, &rep) == DC_ERR_IO, "a missing file");
    CHECK_ERR(FIX "nope.safetensors", NULL);
    dc_model_free(a);
    dc_model_free(b);
}

TEST(io_model_report_truncates_safely)
{
    const char *dir = t_tmpdir();
    char path[512], name[96];
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    REQUIRE(dc_safetensors_write(path, 0, NULL, NULL) == DC_OK);
    dc_model *m = dc_model_new();
    REQUIRE(m);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "layer_with_a_rather_long_name_%03d.weight", i);
        REQUIRE(dc_model_add_param(m, name, DC_F32, 1, DC_SHAPE(1), 0));
    }
    dc_load_report rep;
    CHECK(dc_model_load(m, path, 1, &rep) == DC_ERR_FORMAT, "strict load of nothing passed");
    size_t len = strnlen(rep.text, sizeof rep.text);
    CHECK(rep.n_missing == 300 && len < sizeof rep.text, "n_missing %d, text length %zu",
          rep.n_missing, len);
    CHECK(strncmp(rep.text, "missing: layer_with", 19) == 0 && len >= 3 &&
          strcmp(rep.text + len - 3, "...") == 0, "text should start with the list and end "
          "in '...': %.60s ... %s", rep.text, len > 20 ? rep.text + len - 20 : "");
    dc_model_free(m);
}

/* A state_dict saved from torch (Linear, BatchNorm1d, Linear after three training steps). */
TEST(io_model_load_torch_state_dict)
{
    dc_model *m = dc_model_new();
    REQUIRE(m);
    dc_model_add_param(m, "fc1.weight", DC_F32, 2, DC_SHAPE(4, 3), 0);
    dc_model_add_param(m, "fc1.bias", DC_F32, 1, DC_SHAPE(4), 0);
    dc_model_add_param(m, "bn1.weight", DC_F32, 1, DC_SHAPE(4), 0);
    dc_model_add_param(m, "bn1.bias", DC_F32, 1, DC_SHAPE(4), 0);
    dc_model_add_param(m, "bn1.running_mean", DC_F32, 1, DC_SHAPE(4), 1);
    dc_model_add_param(m, "bn1.running_var", DC_F32, 1, DC_SHAPE(4), 1);
    dc_model_add_param(m, "bn1.num_batches_tracked", DC_I64, 0, NULL, 1);
    dc_model_add_param(m, "fc2.weight", DC_F32, 2, DC_SHAPE(2, 4), 0);
    dc_model_add_param(m, "fc2.bias", DC_F32, 1, DC_SHAPE(2), 0);
    REQUIRE(dc_model_n_tensors(m) == 9);
    dc_load_report rep;
    REQUIRE(dc_model_load(m, FIX "torch_state.safetensors", 1, &rep) == DC_OK);
    CHECK(rep.n_loaded == 9, "loaded %d of 9", rep.n_loaded);
    CHECK(dc_i64(dc_model_find(m, "bn1.num_batches_tracked"))[0] == 3,
          "num_batches_tracked should be 3");
    dc_tensor *w = dc_npy_load(FIX "torch_fc1_weight.npy");
    dc_tensor *v = dc_npy_load(FIX "torch_bn1_running_var.npy");
    CHECK(same_tensor(w, dc_model_find(m, "fc1.weight")), "fc1.weight differs from the .npy");
    CHECK(same_tensor(v, dc_model_find(m, "bn1.running_var")), "running_var differs");
    CHECK(w && fabsf(dc_f32(w)[1] - 0.30971584f) < 1e-7f, "fc1.weight[0][1] from torch");
    dc_tensor_free(w);
    dc_tensor_free(v);
    dc_model_free(m);
}
