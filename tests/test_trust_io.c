/*
 * test_trust_io.c - issue 14's reader, spec, safetensors and model-build defects: every reader
 * opens files one way (a FIFO or a directory is refused at once, never waited on), NUL bytes in
 * text are errors naming file and line, and the rest of the items noted at each test.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
        int ok = returns_in_time(readers[i].fn, fifo, 3.0, msg, sizeof msg);
        CHECK(ok, "%s reader blocked on a FIFO (killed after 3 s)", readers[i].name);
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
        int ok = returns_in_time(readers[i].fn, dir, 3.0, msg, sizeof msg);
        const char *want = readers[i].fn == rd_text ? "no text files" : "is a directory";
        CHECK(ok && strstr(msg, dir) && strstr(msg, want), "%s reader on a directory: '%s'",
              readers[i].name, msg);
    }
}

/* Run the CLI under timeout(1): the exit code (124 when it had to be stopped). */
static int run_cli(char *out, size_t size, const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "timeout 5 %s %s 2>&1", t_deepc_bin(), args);
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
    const char *fmt[] = {"summary %s", "train models/mlp --data digits:%s --quiet",
                         "train models/mlp --data csv:%s --quiet"};
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
        int ok = returns_in_time(c[i].fn, path, 3.0, msg, sizeof msg);
        snprintf(want, sizeof want, "%s:%d: NUL byte", path, c[i].line);
        CHECK(ok && strstr(msg, want), "case %zu: expected '%s', got '%s'", i, want, msg);
    }
    /* /dev/zero is endless NULs: refused before a byte is read, and quickly */
    for (size_t i = 0; i < 3; i++) {
        reader_fn fn[] = {rd_csv, rd_digits, rd_table};
        int ok = returns_in_time(fn[i], "/dev/zero", 3.0, msg, sizeof msg);
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

/* A spec of 4,096 layers (the documented limit: [input] and 4,095 linear layers, 8,190
 * parameters) parses and builds in under a second. With a copy of the parameter block per
 * parameter it took 30 s. */
TEST(trust_spec_of_4096_layers_builds_in_under_a_second)
{
    size_t cap = 4096 * 48, len = 0;
    char *text = malloc(cap);
    REQUIRE(text != NULL);
    len += (size_t)snprintf(text, cap, "[input]\nshape = 8\n");
    for (int i = 0; i < 4095; i++)
        len += (size_t)snprintf(text + len, cap - len, "[linear l%d]\nout_features = 8\n", i);
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
    CHECK(m == NULL || dc_model_n_trainable(m) == 4095 * (8 * 8 + 8), "%lld parameters",
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

/* Item 11: a 5-D input (a shape of 5 numbers, 6 dims with the batch) gives file:line and the
 * reason, not "bad dtype or shape (ndim 6)". */
TEST(trust_spec_5d_input_gives_file_line_and_reason)
{
    dc_spec *s = dc_spec_parse_string("[input]\nshape = 2, 3, 4, 5, 6\n\n[flatten f]\n", "d5.spec");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    CHECK(m == NULL, "a 5-D input was accepted");
    CHECK(strstr(dc_last_error(), "d5.spec:2:") && strstr(dc_last_error(), "1 to 4"), "'%s'",
          dc_last_error());
    dc_model_free(m);
    dc_spec_free(s);
}
