/*
 * test_trust_io.c - issue 14's reader, spec, safetensors and model-build defects: every reader
 * opens files one way (a FIFO or a directory is refused at once, never waited on), NUL bytes in
 * text are errors naming file and line, and the rest of the items noted at each test.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "core/internal.h" /* dc_err_prefix */

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ---- running a reader that might block, in a child with a deadline ---- */

typedef int (*reader_fn)(const char *path); /* 0 when it loaded, else nonzero */

/* Run fn(path) in a child process. Returns 1 when it returned within secs seconds, with its
 * dc_last_error() in msg; 0 when it had to be killed (it blocked or spun). */
static int returns_in_time(reader_fn fn, const char *path, double secs, char *msg, size_t size)
{
    int fd[2];
    msg[0] = '\0';
    if (pipe(fd) != 0)
        return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return 0;
    }
    if (pid == 0) {
        close(fd[0]);
        int rc = fn(path);
        const char *e = rc ? dc_last_error() : "(loaded)";
        ssize_t w = write(fd[1], e, strlen(e));
        (void)w;
        _exit(0);
    }
    close(fd[1]);
    int status = 0, done = 0;
    for (int i = 0; i < (int)(secs * 100) && !done; i++) {
        done = waitpid(pid, &status, WNOHANG) == pid;
        if (!done)
            nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    ssize_t n = done ? read(fd[0], msg, size - 1) : 0;
    msg[n > 0 ? n : 0] = '\0';
    close(fd[0]);
    return done;
}

static int rd_spec(const char *p)
{
    dc_spec *s = dc_spec_parse_file(p);
    dc_spec_free(s);
    return s == NULL;
}
static int rd_csv(const char *p)
{
    dc_tensor *t = dc_csv_load(p, 0, ',');
    dc_tensor_free(t);
    return t == NULL;
}
static int rd_digits(const char *p)
{
    dc_tensor *x = NULL, *y = NULL;
    dc_status st = dc_digits_load(p, &x, &y);
    dc_tensor_free(x);
    dc_tensor_free(y);
    return st != DC_OK;
}
static int rd_idx(const char *p)
{
    dc_images im;
    dc_status st = dc_idx_load(p, p, &im);
    dc_images_free(&im);
    return st != DC_OK;
}
static int rd_npy(const char *p)
{
    dc_tensor *t = dc_npy_load(p);
    dc_tensor_free(t);
    return t == NULL;
}
static int rd_st(const char *p)
{
    dc_tdict *d = dc_safetensors_read(p);
    dc_tdict_free(d);
    return d == NULL;
}
static int rd_image(const char *p)
{
    int w, h, c;
    uint8_t *px = NULL;
    dc_status st = dc_image_read(p, &w, &h, &c, &px);
    free(px);
    return st != DC_OK;
}
static int rd_text(const char *p)
{
    uint8_t *t = NULL;
    size_t n = 0;
    dc_status st = dc_text_load(p, 0, &t, &n);
    free(t);
    return st != DC_OK;
}
static int rd_table(const char *p)
{
    dc_table *t = dc_table_load(p, ',');
    dc_table_free(t);
    return t == NULL;
}
static int rd_vocab(const char *p)
{
    dc_vocab v;
    return dc_vocab_load(p, &v) != DC_OK;
}

static const struct {
    const char *name;
    reader_fn fn;
} readers[] = {
    {"spec", rd_spec},   {"csv", rd_csv},       {"digits", rd_digits}, {"idx", rd_idx},
    {"npy", rd_npy},     {"safetensors", rd_st}, {"image", rd_image},  {"text", rd_text},
    {"table", rd_table}, {"vocab", rd_vocab},
};

/* Issue 14 item 7: a FIFO is refused at once by every reader, saying what it is. */
TEST(trust_every_reader_refuses_a_fifo_at_once)
{
    char fifo[512], msg[4096];
    snprintf(fifo, sizeof fifo, "%s/pipe", t_tmpdir());
    REQUIRE(mkfifo(fifo, 0600) == 0);
    for (size_t i = 0; i < sizeof readers / sizeof *readers; i++) {
        int ok = returns_in_time(readers[i].fn, fifo, 10.0, msg, sizeof msg);
        CHECK(ok, "%s reader blocked on a FIFO (killed after 10 s)", readers[i].name);
        CHECK(!ok || (strstr(msg, fifo) && strstr(msg, "is a FIFO")),
              "%s reader on a FIFO: '%s'", readers[i].name, msg);
    }
}

/* Issue 14 items 7 and 11: a directory is "a directory", not a read error, for every reader
 * (the text reader reads directories of text files: an empty one has no text files). */
TEST(trust_every_reader_says_a_directory_is_a_directory)
{
    char dir[512], msg[4096];
    snprintf(dir, sizeof dir, "%s/adir", t_tmpdir());
    REQUIRE(mkdir(dir, 0700) == 0);
    for (size_t i = 0; i < sizeof readers / sizeof *readers; i++) {
        int ok = returns_in_time(readers[i].fn, dir, 10.0, msg, sizeof msg);
        const char *want = readers[i].fn == rd_text ? "no text files" : "is a directory";
        CHECK(ok && strstr(msg, dir) && strstr(msg, want), "%s reader on a directory: '%s'",
              readers[i].name, msg);
    }
}

/* Run the CLI under timeout(1): the exit code (124 when it had to be stopped). */
static int run_cli(char *out, size_t size, const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "timeout 20 %s %s 2>&1", t_deepc_bin(), args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Issue 14 items 7 and 11: `summary FIFO`, `--data digits:FIFO`, `--data csv:FIFO` and a
 * directory given as a spec: exit 2 at once with a message that says what the path is. */
TEST(trust_cli_fifo_and_directory_exit_2_at_once)
{
    char fifo[512], args[2048], out[4096];
    snprintf(fifo, sizeof fifo, "%s/cli_pipe", t_tmpdir());
    REQUIRE(mkfifo(fifo, 0600) == 0);
    const char *fmt[] = {"summary %s", "train models/mlp --data digits:%s --lr 0.1 --quiet",
                         "train models/mlp --data csv:%s --lr 0.1 --quiet"};
    for (size_t i = 0; i < sizeof fmt / sizeof *fmt; i++) {
        snprintf(args, sizeof args, fmt[i], fifo);
        int rc = run_cli(out, sizeof out, args);
        CHECK(rc == 2 && strstr(out, "is a FIFO"), "deepc %s: exit %d (124: hung), '%s'", args,
              rc, out);
    }
    snprintf(args, sizeof args, "summary %s", t_tmpdir());
    int rc = run_cli(out, sizeof out, args);
    CHECK(rc == 2 && strstr(out, "is a directory") && !strstr(out, "read error"),
          "deepc %s: exit %d, '%s'", args, rc, out);
}

/* ---- NUL bytes (issue 14 item 8) ---- */

static int write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(p, 1, n, f) == n;
    return (fclose(f) == 0) & ok;
}

/* A NUL byte in a CSV, table, text or spec file is an error naming the file and its line (the
 * CSV reader used strlen: the rest of the line after a NUL vanished without a word). */
TEST(trust_nul_byte_in_text_names_file_and_line)
{
    char path[512], msg[4096], want[600];
    static const char csv[] = "1,2,3\n4,5,6\n7,8\0,9\n10,11,12\n";
    static const char table[] = "a,b\n1,2\n3,4\n5\0,6\n";
    static const char text[] = "hello\nworld\n\0more\n";
    static const char spec[] = "[input]\nshape = 4\n\n[linear fc]\nout_\0features = 2\n";
    const struct {
        reader_fn fn;
        const char *bytes;
        size_t n;
        int line;
    } c[] = {{rd_csv, csv, sizeof csv - 1, 3}, {rd_table, table, sizeof table - 1, 4},
             {rd_text, text, sizeof text - 1, 3}, {rd_spec, spec, sizeof spec - 1, 5}};
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        snprintf(path, sizeof path, "%s/nul%zu.txt", t_tmpdir(), i);
        REQUIRE(write_bytes(path, c[i].bytes, c[i].n));
        int ok = returns_in_time(c[i].fn, path, 10.0, msg, sizeof msg);
        snprintf(want, sizeof want, "%s:%d: NUL byte", path, c[i].line);
        CHECK(ok && strstr(msg, want), "case %zu: expected '%s', got '%s'", i, want, msg);
    }
    /* /dev/zero is endless NULs: refused before a byte is read, and quickly */
    for (size_t i = 0; i < 3; i++) {
        reader_fn fn[] = {rd_csv, rd_digits, rd_table};
        int ok = returns_in_time(fn[i], "/dev/zero", 10.0, msg, sizeof msg);
        CHECK(ok && strstr(msg, "/dev/zero: is a device"), "/dev/zero (%zu): '%s'", i, msg);
    }
}

/* Issue 14 item 14: the missing fortunes corpus names the Debian package. */
TEST(trust_missing_fortunes_names_the_package)
{
    uint8_t *t = NULL;
    size_t n = 0;
    CHECK(dc_text_load("/usr/share/games/fortunes/no-such-deepc-file", 0, &t, &n) == DC_ERR_IO,
          "a missing file loaded");
    free(t);
    CHECK(strstr(dc_last_error(), "apt-get install fortunes"), "got '%s'", dc_last_error());
}

/* ---- building a spec is linear (issue 14 item 9) ---- */

/* CPU seconds of this thread: a wall clock on a busy machine would measure the other jobs. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A spec of 4,096 layers (the documented limit: [input] and 4,095 linear layers of 16 x 16, 8,190
 * parameter tensors, 4.5 MB) parses and builds in under a second of CPU. With a copy of the
 * parameter and gradient blocks per parameter (18 GB copied in all) it took minutes. */
TEST(trust_spec_of_4096_layers_builds_in_under_a_second)
{
    size_t cap = 4096 * 48, len = 0;
    char *text = malloc(cap);
    REQUIRE(text != NULL);
    len += (size_t)snprintf(text, cap, "[input]\nshape = 16\n");
    for (int i = 0; i < 4095; i++)
        len += (size_t)snprintf(text + len, cap - len, "[linear l%d]\nout_features = 16\n", i);
    char path[512];
    snprintf(path, sizeof path, "%s/deep.spec", t_tmpdir());
    int written = t_write_text(path, text);
    free(text);
    REQUIRE(written);
    double t0 = now_s();
    dc_spec *s = dc_spec_parse_file(path);
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    double dt = now_s() - t0;
    CHECK(m != NULL, "build failed: %s", dc_last_error());
    CHECK(m == NULL || dc_model_n_tensors(m) == 2 * 4095, "%d tensors",
          m ? dc_model_n_tensors(m) : -1);
    CHECK(m == NULL || dc_model_n_trainable(m) == 4095 * (16 * 16 + 16), "%lld parameters",
          m ? (long long)dc_model_n_trainable(m) : -1LL);
    /* every tensor still points into the block and is zero until initialised (rng NULL) */
    for (int i = 0; m && i < dc_model_n_tensors(m); i += 1001) {
        const dc_tensor *t = dc_model_tensor(m, i);
        CHECK(t->grad && dc_f32(t)[0] == 0.0f && t->grad[0] == 0.0f,
              "tensor %d not set up", i);
    }
    CHECK(dt < 1.0, "parse + build of 4,096 layers took %.2f s of CPU (limit 1 s)", dt);
    dc_model_free(m);
    dc_spec_free(s);
}

/* ---- the spec (issue 14 items 11 and 12) ---- */

/* Item 12: a layer named `input` could never be referenced (`input = input` is the model's
 * input): refused at its file:line. */
TEST(trust_spec_layer_named_input_is_refused_at_its_line)
{
    dc_spec *s = dc_spec_parse_string("[input]\nshape = 4\n\n[linear input]\nout_features = 3\n",
                                      "named.spec");
    CHECK(s == NULL, "a layer named input was accepted");
    dc_spec_free(s);
    CHECK(strstr(dc_last_error(), "named.spec:4:") && strstr(dc_last_error(), "'input'"), "'%s'",
          dc_last_error());
    s = dc_spec_parse_string("[input]\nshape = 4\n\n[linear Input]\nout_features = 3\n", "ok");
    CHECK(s != NULL, "another name was refused: %s", dc_last_error());
    dc_spec_free(s);
}

/* Item 11: a 5-D input (a shape of 5 numbers, 6 dims with the batch) or one too large to hold
 * gives file:line and the reason, not "bad dtype or shape (ndim N)". */
TEST(trust_spec_5d_input_gives_file_line_and_reason)
{
    dc_spec *s = dc_spec_parse_string("[input]\nshape = 2, 3, 4, 5, 6\n\n[flatten f]\n", "d5.spec");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    CHECK(m == NULL, "a 5-D input was accepted");
    CHECK(strstr(dc_last_error(), "d5.spec:2:") && strstr(dc_last_error(), "1 to 4"), "'%s'",
          dc_last_error());
    dc_model_free(m);
    dc_spec_free(s);
    /* an input too large to hold: file:line and why, not "bad dtype or shape (ndim 4)" */
    s = dc_spec_parse_string("[input]\nshape = 16777216, 16777216, 16777216\n\n[flatten f]\n",
                             "big.spec");
    m = s ? dc_spec_build(s, NULL) : NULL;
    CHECK(m == NULL && strstr(dc_last_error(), "big.spec:2:") &&
          strstr(dc_last_error(), "more than 2^31 elements"), "'%s'", dc_last_error());
    dc_model_free(m);
    dc_spec_free(s);
    /* and the tensor constructor says what is wrong with a shape */
    dc_tensor *t = dc_tensor_new(DC_F32, 6, (int64_t[]){1, 1, 1, 1, 1, 1});
    CHECK(!t && strstr(dc_last_error(), "ndim 6 is outside 0..5"), "'%s'", dc_last_error());
    t = dc_tensor_new(DC_F32, 2, (int64_t[]){3, -2});
    CHECK(!t && strstr(dc_last_error(), "[3, -2]"), "'%s'", dc_last_error());
}

/* ---- safetensors (issue 14 items 10 and 12) ---- */

/* Write a .safetensors file: the header text as given (padded to a multiple of 8), then nbuf
 * bytes of buf. */
static int write_st(const char *path, const char *header, const void *buf, size_t nbuf)
{
    size_t n = strlen(header), pad = (8 - n % 8) % 8;
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)(n + pad) >> (8 * i));
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(header, 1, n, f) == n;
    for (size_t i = 0; i < pad; i++)
        ok &= fputc(' ', f) != EOF;
    ok &= nbuf == 0 || fwrite(buf, 1, nbuf, f) == nbuf;
    return (fclose(f) == 0) & ok;
}

/* Item 12: the documented 1,048,576 tensors fit, with __metadata__ besides (the JSON value cap
 * of 4,194,304 stopped a header of scalars at about 420,000 tensors: 10 values each). */
TEST(trust_safetensors_reaches_1048576_tensors)
{
    const int n = 1 << 20;
    size_t cap = (size_t)n * 80 + 256, len = 0;
    char *h = malloc(cap);
    unsigned char *buf = calloc((size_t)n, 1);
    REQUIRE(h != NULL && buf != NULL);
    len += (size_t)snprintf(h, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(h + len, cap - len, ",\"%x\":{\"dtype\":\"U8\",\"shape\":[],"
                                "\"data_offsets\":[%d,%d]}", i, i, i + 1);
    snprintf(h + len, cap - len, "}");
    buf[n - 1] = 7;
    char path[512];
    snprintf(path, sizeof path, "%s/many.safetensors", t_tmpdir());
    int ok = write_st(path, h, buf, (size_t)n);
    free(h);
    free(buf);
    REQUIRE(ok);
    dc_tdict *d = dc_safetensors_read(path);
    CHECK(d && d->n == n, "%d tensors: %s", d ? d->n : -1, d ? "" : dc_last_error());
    const dc_tensor *t = d ? dc_tdict_get(d, "fffff") : NULL;
    CHECK(t && t->numel == 1 && dc_i64(t)[0] == 7, "the last tensor");
    dc_tdict_free(d);
    remove(path);
}

/* ---- safetensors offsets and non-finite weights (issue 14 item 10) ---- */

/* Tensors whose data_offsets overlap, leave a gap or stop before the end of the buffer are
 * refused, as the reference implementation refuses them; an exact tiling loads. */
TEST(trust_safetensors_offsets_must_tile_the_buffer)
{
    static const struct {
        const char *hdr;
        size_t nbuf;
        const char *want; /* NULL: loads */
    } c[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[20,36]}}", 36,
         "bytes [16, 20) of the data buffer belong to no tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[4,20]}}", 20,
         "bytes [0, 4)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 20,
         "end at byte 16 of the 20-byte data buffer"},
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]},"
         "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,16]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 32, NULL},
    };
    float buf[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    char path[512];
    snprintf(path, sizeof path, "%s/tile.safetensors", t_tmpdir());
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        REQUIRE(write_st(path, c[i].hdr, buf, c[i].nbuf));
        dc_tdict *d = dc_safetensors_read(path);
        if (c[i].want)
            CHECK(!d && strstr(dc_last_error(), c[i].want) && strstr(dc_last_error(), path),
                  "case %zu: want '%s', got %s '%s'", i, c[i].want, d ? "a dict" : "",
                  d ? "" : dc_last_error());
        else
            CHECK(d && d->n == 3 && dc_f32(dc_tdict_get(d, "b"))[0] == 5.0f, "case %zu: %s", i,
                  d ? "wrong data" : dc_last_error());
        dc_tdict_free(d);
    }
}

/* Save a Linear(2, 2) (fc.weight, fc.bias) whose weight [1] is v; the model comes back. */
static dc_model *save_linear(const char *path, float v)
{
    dc_spec *s = dc_spec_parse_string("[input]\nshape = 2\n\n[linear fc]\nout_features = 2\n",
                                      "lin");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    dc_spec_free(s);
    dc_tensor *w = m ? dc_model_find(m, "fc.weight") : NULL;
    if (!w || dc_model_save((dc_f32(w)[1] = v, m), path) != DC_OK) {
        dc_model_free(m);
        return NULL;
    }
    dc_f32(w)[1] = 0.0f;
    return m;
}

/* NaN and Inf weights are refused at load naming the tensor, the model unchanged; the option
 * lets them through. */
TEST(trust_nonfinite_weights_are_refused_at_load_unless_allowed)
{
    char path[512];
    const float bad[2] = {NAN, -INFINITY};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/nonfinite%d.safetensors", t_tmpdir(), k);
        dc_model *m = save_linear(path, bad[k]);
        REQUIRE(m != NULL);
        dc_tensor *w = dc_model_find(m, "fc.weight");
        dc_f32(w)[0] = 42.0f;
        CHECK(dc_model_load(m, path, 1, NULL) == DC_ERR_NUMERIC, "%s loaded", path);
        CHECK(strstr(dc_last_error(), "'fc.weight'") && strstr(dc_last_error(), "element 1") &&
              strstr(dc_last_error(), path), "'%s'", dc_last_error());
        CHECK(dc_f32(w)[0] == 42.0f, "a refused load changed the model");
        CHECK(dc_model_load(m, path, 0, NULL) == DC_ERR_NUMERIC, "partial load let it through");
        dc_load_opts o = {.strict = 1, .allow_nonfinite = 1};
        CHECK(dc_model_load_opts(m, path, &o, NULL) == DC_OK, "allowed: %s", dc_last_error());
        CHECK(!isfinite(dc_f32(w)[1]) && dc_f32(w)[0] == 0.0f, "allowed load did not load");
        dc_model_free(m);
    }
}

/* The CLI: eval and train --init refuse NaN weights naming the tensor (exit 2); eval with
 * --allow-nonfinite runs. */
TEST(trust_cli_nonfinite_weights_and_allow_nonfinite)
{
    char spec[512], w[512], args[2048], out[8192];
    snprintf(spec, sizeof spec, "%s/d.spec", t_tmpdir());
    snprintf(w, sizeof w, "%s/d.safetensors", t_tmpdir());
    REQUIRE(t_write_text(spec, "[input]\nshape = 64\n\n[linear fc]\nout_features = 10\n"));
    dc_spec *s = dc_spec_parse_file(spec);
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    dc_spec_free(s);
    REQUIRE(m != NULL);
    dc_f32(dc_model_find(m, "fc.bias"))[3] = NAN;
    REQUIRE(dc_model_save(m, w) == DC_OK);
    dc_model_free(m);
    snprintf(args, sizeof args, "eval %s --weights %s --data digits", spec, w);
    int rc = run_cli(out, sizeof out, args);
    CHECK(rc == 2 && strstr(out, "'fc.bias'") && strstr(out, "non-finite"), "deepc %s: exit %d, "
          "'%s'", args, rc, out);
    snprintf(args, sizeof args, "train %s --data digits --init %s --lr 0.1 --steps 1 --quiet --out %s/run",
             spec, w, t_tmpdir());
    rc = run_cli(out, sizeof out, args);
    CHECK(rc == 2 && strstr(out, "'fc.bias'") && strstr(out, "non-finite"), "deepc %s: exit %d, "
          "'%s'", args, rc, out);
    snprintf(args, sizeof args, "eval %s --weights %s --data digits --allow-nonfinite", spec, w);
    rc = run_cli(out, sizeof out, args);
    CHECK(rc == 0 && strstr(out, "loss") && !strstr(out, "non-finite weight"), "deepc %s: exit "
          "%d, '%s'", args, rc, out);
}

/* ---- error messages are never cut before the reason (issue 14 item 3) ---- */

/* "d/d/.../d" of about len bytes under the test directory (nothing there exists). */
static char *long_path(size_t len)
{
    char *p = malloc(len + 64);
    if (!p)
        return NULL;
    size_t k = (size_t)snprintf(p, len + 64, "%s", t_tmpdir());
    while (k < len)
        k += (size_t)snprintf(p + k, len + 64 - k, "/%s", "directory_that_is_not_there");
    return p;
}

static int ends_with(const char *s, const char *end)
{
    size_t a = strlen(s), b = strlen(end);
    return a >= b && !strcmp(s + a - b, end);
}

TEST(trust_error_messages_keep_the_reason_after_long_paths)
{
    /* 1,500 bytes: the 1,024-byte message buffer cut it before ": cannot open: ..." */
    char *p = long_path(1500);
    REQUIRE(p != NULL);
    CHECK(dc_npy_load(p) == NULL, "loaded");
    CHECK(!strncmp(dc_last_error(), p, strlen(p)) &&
          ends_with(dc_last_error(), ": cannot open: No such file or directory"),
          "the path or the reason is cut: '...%s'", dc_last_error() + strlen(p) - 40);
    /* the spec reader kept its file name in 256 bytes: file:line lost the line */
    dc_spec *s = dc_spec_parse_string("[input]\nshape = x\n", p);
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    CHECK(m == NULL && !strncmp(dc_last_error(), p, strlen(p)) &&
          !strncmp(dc_last_error() + strlen(p), ":2: ", 4), "spec: '...%s'",
          dc_last_error() + (strlen(dc_last_error()) > 60 ? strlen(dc_last_error()) - 60 : 0));
    dc_model_free(m);
    dc_spec_free(s);
    free(p);
    /* longer than any buffer: the start and the reason are kept, the middle is elided */
    p = long_path(20000);
    REQUIRE(p != NULL);
    CHECK(dc_spec_parse_file(p) == NULL, "parsed");
    CHECK(!strncmp(dc_last_error(), p, 100) && strstr(dc_last_error(), " ... ") &&
          ends_with(dc_last_error(), ": cannot open: File name too long"), "'%.80s...%s'",
          dc_last_error(), dc_last_error() + strlen(dc_last_error()) - 60);
    /* and a prefix added to such a message keeps the reason too */
    dc_err_prefix("loading %s: ", p);
    CHECK(!strncmp(dc_last_error(), "loading ", 8) &&
          ends_with(dc_last_error(), ": cannot open: File name too long"), "prefixed: '%s'",
          dc_last_error() + strlen(dc_last_error()) - 60);
    free(p);
}

/* ---- idx:DIR, any folder of IDX files (issue 14 item 20, data part) ---- */

/* Write an IDX file of uint8 data with dims d[0..nd) (gzip when gz). */
static int write_idx(const char *path, int nd, const uint32_t *d, const uint8_t *data, int gz)
{
    unsigned char hdr[16] = {0, 0, 8, (unsigned char)nd};
    size_t n = 1, hl = 4 + 4 * (size_t)nd;
    for (int i = 0; i < nd; i++) {
        for (int b = 0; b < 4; b++)
            hdr[4 + 4 * i + b] = (unsigned char)(d[i] >> (24 - 8 * b));
        n *= d[i];
    }
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (!g)
            return 0;
        int ok = gzwrite(g, hdr, (unsigned)hl) == (int)hl && gzwrite(g, data, (unsigned)n) == (int)n;
        return (gzclose(g) == Z_OK) & ok;
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(hdr, 1, hl, f) == hl && fwrite(data, 1, n, f) == n;
    return (fclose(f) == 0) & ok;
}

/* A digits-like IDX folder: 40 training and 20 test images of 4 x 4 pixels, labels 0..9, the
 * names in the variants found in the wild (dot spelling, gzip, "test" for the test split). */
static int make_idx_dir(const char *dir, uint8_t *px, int n_train)
{
    uint8_t lb[64];
    for (int i = 0; i < 64; i++)
        lb[i] = (uint8_t)(i % 10);
    for (int i = 0; i < 64 * 16; i++)
        px[i] = (uint8_t)((i * 37 + (i / 16) * 11) % 256);
    char p[1024];
    uint32_t di[3] = {(uint32_t)n_train, 4, 4}, dl[1] = {(uint32_t)n_train};
    uint32_t ti[3] = {20, 4, 4}, tl[1] = {20};
    int ok = mkdir(dir, 0700) == 0;
    snprintf(p, sizeof p, "%s/train-images.idx3-ubyte", dir);
    ok &= write_idx(p, 3, di, px, 0);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", dir);
    ok &= write_idx(p, 1, dl, lb, 1);
    snprintf(p, sizeof p, "%s/test-images.idx3-ubyte.gz", dir);
    ok &= write_idx(p, 3, ti, px + 16 * n_train, 1);
    snprintf(p, sizeof p, "%s/test-labels.idx1-ubyte", dir);
    ok &= write_idx(p, 1, tl, lb, 0);
    return ok;
}

TEST(trust_idx_folder_loads_any_mnist_layout)
{
    char dir[512];
    uint8_t px[64 * 16];
    snprintf(dir, sizeof dir, "%s/digits-idx", t_tmpdir());
    REQUIRE(make_idx_dir(dir, px, 40));
    dc_images tr, te;
    REQUIRE(dc_idx_dir_load(dir, 1, &tr) == DC_OK);
    CHECK(tr.n == 40 && tr.h == 4 && tr.w == 4 && tr.n_classes == 10 && tr.labels[13] == 3 &&
          tr.pixels[17] == px[17], "training split: n %lld, %lldx%lld, %d classes", (long long)tr.n,
          (long long)tr.h, (long long)tr.w, tr.n_classes);
    REQUIRE(dc_idx_dir_load(dir, 0, &te) == DC_OK);
    CHECK(te.n == 20 && te.pixels[0] == px[16 * 40], "test split: n %lld", (long long)te.n);
    /* the normalisation of the training split: mean and std of pixel/255 */
    double s = 0, ss = 0;
    for (int i = 0; i < 40 * 16; i++) {
        s += px[i] / 255.0;
        ss += (px[i] / 255.0) * (px[i] / 255.0);
    }
    double m = s / 640, sd = sqrt(ss / 640 - m * m);
    float mean = 0, std = 0;
    CHECK(dc_images_stats(&tr, &mean, &std) == DC_OK, "stats: %s", dc_last_error());
    CHECK_NEAR(mean, m, 1e-6);
    CHECK_NEAR(std, sd, 1e-6);
    dc_images_free(&tr);
    dc_images_free(&te);
    /* Fashion-MNIST's loader accepts the same spellings */
    CHECK(dc_fashion_mnist_load(dir, 1, &tr) == DC_OK && tr.n == 40, "fashion-mnist:DIR: %s",
          dc_last_error());
    dc_images_free(&tr);
    /* a folder without the files says what it looked for */
    CHECK(dc_idx_dir_load(t_tmpdir(), 1, &tr) == DC_ERR_IO &&
          strstr(dc_last_error(), "train-images-idx3-ubyte") &&
          strstr(dc_last_error(), "train-images.idx3-ubyte"), "'%s'", dc_last_error());
}

/* The CLI: train and eval on --data idx:DIR; the confusion matrix has no Fashion-MNIST names. */
TEST(trust_cli_trains_and_evaluates_an_idx_folder)
{
    char dir[600], spec[600], args[3000], out[8192], tmp[512];
    uint8_t px[64 * 16];
    snprintf(tmp, sizeof tmp, "%s", t_tmpdir());
    snprintf(dir, sizeof dir, "%s/cli-idx", tmp);
    REQUIRE(make_idx_dir(dir, px, 40));
    snprintf(spec, sizeof spec, "%s/idx.spec", tmp);
    REQUIRE(t_write_text(spec, "[input]\nshape = 1, 4, 4\n\n[flatten f]\n[linear fc]\n"
                               "out_features = 10\n"));
    snprintf(args, sizeof args, "train %s --data idx:%s --epochs 1 --batch 8 --lr 0.1 --val 0 "
             "--quiet --out %s/idx-run", spec, dir, tmp);
    int rc = run_cli(out, sizeof out, args);
    CHECK(rc == 0, "deepc %s: exit %d, '%s'", args, rc, out);
    snprintf(args, sizeof args, "eval %s --weights %s/idx-run/model.safetensors --data idx:%s",
             spec, tmp, dir);
    rc = run_cli(out, sizeof out, args);
    CHECK(rc == 0 && strstr(out, "/20)") &&
          !strstr(out, "T-shirt") && strstr(out, "confusion"), "deepc %s: exit %d, '%s'", args,
          rc, out);
    snprintf(args, sizeof args, "eval %s --weights %s/idx-run/model.safetensors --data "
             "idx:%s,0.5,0.25", spec, tmp, dir);
    rc = run_cli(out, sizeof out, args);
    CHECK(rc == 0 && strstr(out, "/20)"), "deepc %s: exit %d, '%s'", args, rc, out);
}

/* ---- counters read from files (issue 14 item 6, the readers' side) ---- */

/* Every count or size a reader takes from a file is range-checked before it is used: IDX
 * dimensions, safetensors shapes, offsets and integers, the vocabulary's entry count. */
TEST(trust_counters_from_files_are_range_checked)
{
    char path[512];
    uint8_t byte = 0;
    /* IDX: 2^32 - 1 images claimed */
    snprintf(path, sizeof path, "%s/huge-idx", t_tmpdir());
    uint32_t d[3] = {0xffffffffu, 4, 4};
    REQUIRE(write_idx(path, 3, (uint32_t[]){1, 4, 4}, (uint8_t[16]){0}, 0));
    FILE *f = fopen(path, "r+b");
    REQUIRE(f != NULL);
    unsigned char be[4] = {(unsigned char)(d[0] >> 24), (unsigned char)(d[0] >> 16),
                           (unsigned char)(d[0] >> 8), (unsigned char)d[0]};
    int ok = fseek(f, 4, SEEK_SET) == 0 && fwrite(be, 1, 4, f) == 4;
    REQUIRE((fclose(f) == 0) & ok);
    dc_images im;
    CHECK(dc_idx_load(path, path, &im) == DC_ERR_FORMAT &&
          strstr(dc_last_error(), "IDX dimension 0 is 4294967295"), "'%s'", dc_last_error());
    /* safetensors: an element count past 2^40, an offset past int64, end before begin */
    static const char *const st[][2] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,2],\"data_offsets\":[0,1]}}",
         "overflows"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}",
         "int64"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,0]}}", "outside"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", "negative"},
    };
    snprintf(path, sizeof path, "%s/counts.safetensors", t_tmpdir());
    for (size_t i = 0; i < sizeof st / sizeof *st; i++) {
        REQUIRE(write_st(path, st[i][0], &byte, 1));
        dc_tdict *t = dc_safetensors_read(path);
        CHECK(!t && strstr(dc_last_error(), st[i][1]), "case %zu: '%s'", i, dc_last_error());
        dc_tdict_free(t);
    }
    /* vocab.txt: an entry count beyond a byte vocabulary */
    snprintf(path, sizeof path, "%s/vocab.txt", t_tmpdir());
    REQUIRE(t_write_text(path, "deepc-vocab 1\n99999999\n41\n"));
    dc_vocab v;
    CHECK(dc_vocab_load(path, &v) == DC_ERR_FORMAT && strstr(dc_last_error(), "1 to 256"),
          "'%s'", dc_last_error());
}
