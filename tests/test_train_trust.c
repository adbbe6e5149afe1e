/*
 * test_train_trust.c - a training run never writes elsewhere, never truncates, never loses data:
 * --resume DIR writes to DIR; log.csv write errors are errors naming the file; long paths are
 * whole; stale temp files are cleaned; a file size limit is a message with the old checkpoint
 * kept; forged counters are refused; a resumed epoch reports the whole epoch; the stored argument
 * list does not grow; options that do not apply are errors (issue 14, training side).
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The whole file, malloc'd (NULL if it cannot be read); *n its size. */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0, k;
    char *b = malloc(cap + 1);
    while (b && (k = fread(b + len, 1, cap - len, f)) > 0) {
        len += k;
        if (len == cap) {
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (b)
        b[len] = 0;
    if (n)
        *n = len;
    return b;
}

/* Run "sh -c cmd" in a child with RLIMIT_FSIZE = limit bytes (0: none) and SIGXFSZ at its default
 * (deadly); stdout+stderr through the file log into out. The exit code, or 1000 + the signal
 * that killed it. */
static int run_limited(rlim_t limit, char *out, size_t size, const char *cmd, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_DFL);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        if (limit) {
            struct rlimit rl = {limit, limit};
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
                _exit(127);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    char *text = slurp(log, NULL);
    snprintf(out, size, "%s", text ? text : "");
    free(text);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

#define TRAIN "train models/lenet5 --data npy:%s/d_x.npy,%s/d_y.npy --optimizer adam --lr 0.002 " \
              "--batch 32 --threads 1 --seed 3 --quiet"

/* Issue 14 item 1: resuming a copied run advances the copy; the original is not touched. */
TEST(train_resume_writes_to_the_resumed_folder)
{
    const char *d = t_tmpdir();
    char out[4096], cmd[2048], a[600], b[600];
    REQUIRE(t_write_blobs_npy(d, "d", 200, 5));
    int rc = t_run_deepc(out, sizeof out, TRAIN " --epochs 2 --steps 3 --out %s/orig", d, d, d);
    REQUIRE(rc == 0);
    snprintf(cmd, sizeof cmd, "cp -r %s/orig %s/copy && cp -r %s/orig %s/snap", d, d, d, d);
    REQUIRE(system(cmd) == 0);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/copy --steps 0", d);
    CHECK(rc == 0, "resume of the copy: rc %d %s", rc, out);
    const char *files[] = {"checkpoint", "model.safetensors", "log.csv", "model.spec"};
    for (int i = 0; i < 4; i++) {
        snprintf(a, sizeof a, "%s/orig/%s", d, files[i]);
        snprintf(b, sizeof b, "%s/snap/%s", d, files[i]);
        CHECK(t_same_file(a, b), "the original run's %s changed when its copy was resumed",
              files[i]);
    }
    dc_checkpoint_info info;
    snprintf(a, sizeof a, "%s/copy/checkpoint", d);
    REQUIRE(dc_checkpoint_peek(a, &info) == DC_OK);
    CHECK(info.epoch == 2 && info.step == 14, "the copy advanced to epoch %lld step %lld",
          (long long)info.epoch, (long long)info.step);
    dc_checkpoint_info_free(&info);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/copy --out %s/else", d, d);
    CHECK(rc == 2 && strstr(out, "--out"), "--resume with --out: rc %d %s", rc, out);
}

/* A tiny run through the library in a child under RLIMIT_FSIZE: log.csv (a row every step)
 * outgrows the limit long before the tiny checkpoint does. The child exits 0 if dc_train
 * reported the log's write error naming the file, 3 if it succeeded, 4 otherwise. */
static int log_limit_child(const char *dir)
{
    struct rlimit rl = {4096, 4096};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 5;
    dc_spec *s = dc_spec_parse_string("[input]\nshape = 4\n[linear fc]\nout_features = 2\n",
                                      "tiny");
    dc_rng rng;
    dc_rng_seed(&rng, 1, 0);
    dc_model *m = s ? dc_spec_build(s, &rng) : NULL;
    dc_tensor *x = dc_tensor_new(DC_F32, 2, DC_SHAPE(16, 4));
    dc_tensor *y = dc_tensor_new(DC_I64, 1, DC_SHAPE(16));
    if (!m || !x || !y)
        return 6;
    for (int i = 0; i < 64; i++)
        dc_f32(x)[i] = (float)(i % 7) * 0.1f;
    for (int i = 0; i < 16; i++)
        dc_i64(y)[i] = i % 2;
    dc_dataset *d = dc_dataset_tensors(x, y);
    dc_train_opts o = dc_train_defaults();
    o.epochs = 200;
    o.batch_size = 4;
    o.progress = 0;
    o.log_every = 1;
    o.out_dir = dir;
    dc_status st = dc_train(m, d, &o, NULL);
    const char *e = dc_last_error();
    fprintf(stderr, "%s\n", e);
    if (st == DC_OK)
        return 3;
    return st == DC_ERR_IO && strstr(e, "log.csv") && strstr(e, "too large") ? 0 : 4;
}

/* Issue 14 item 2: a log row that cannot be written is an error naming log.csv. */
TEST(train_log_write_error_names_the_file)
{
    char dir[600], out[4096];
    snprintf(dir, sizeof dir, "%s/lim", t_tmpdir());
    REQUIRE(mkdir(dir, 0777) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(log_limit_child(dir));
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s %d (0: the log's error was "
          "reported; 3: training succeeded with the log cut)", WIFEXITED(st) ? "exit" : "signal",
          WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    /* resume rewrites the log atomically: the file is whole, every row complete */
    const char *d = t_tmpdir();
    REQUIRE(t_write_blobs_npy(d, "d", 100, 5));
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 2 --steps 5 --out %s/lg", d, d, d) ==
            0);
    REQUIRE(t_run_deepc(out, sizeof out, "train --resume %s/lg --steps 0", d) == 0);
    snprintf(dir, sizeof dir, "%s/lg/log.csv", d);
    char *text = slurp(dir, NULL);
    int rows = 0;
    for (char *p = text; p && *p; p++)
        rows += *p == '\n';
    /* header, epoch 1 (step 4), the --steps 5 stop inside epoch 2, epoch 2 (step 8) */
    CHECK(text && rows == 4 && strstr(text, "\n5,2,") && text[strlen(text) - 1] == '\n',
          "log after resume: %d lines\n%s", rows, text ? text : "(none)");
    free(text);
}

/* Issue 14 item 3: a ~1000-character --out gives files with their whole names. */
TEST(train_long_out_path_is_not_truncated)
{
    const char *d = t_tmpdir();
    char out[4096], path[1400], seg[201], f[1500];
    REQUIRE(t_write_blobs_npy(d, "d", 40, 5));
    memset(seg, 'p', 200);
    seg[200] = 0;
    snprintf(path, sizeof path, "%s", d);
    while (strlen(path) < 800) {
        strcat(path, "/");
        strcat(path, seg);
        REQUIRE(mkdir(path, 0777) == 0);
    }
    strcat(path, "/run");
    while (strlen(path) < 1010)
        strcat(path, "n");
    int rc = t_run_deepc(out, sizeof out, TRAIN " --epochs 1 --out %s", d, d, path);
    CHECK(rc == 0, "long --out: rc %d %.300s", rc, out);
    const char *files[] = {"checkpoint", "model.safetensors", "log.csv", "model.spec"};
    for (int i = 0; i < 4; i++) {
        snprintf(f, sizeof f, "%s/%s", path, files[i]);
        struct stat st;
        CHECK(stat(f, &st) == 0 && st.st_size > 0, "%s is missing under the long --out",
              files[i]);
    }
    rc = t_run_deepc(out, sizeof out, "train --resume %s --steps 0", path);
    CHECK(rc == 0, "resume under a long path: rc %d %.300s", rc, out);
}

/* Issue 14 item 4: temp files of a killed run (dead pid) are removed; a live process's stay. */
TEST(train_stale_temp_files_are_removed)
{
    const char *d = t_tmpdir();
    char out[4096], dir[600], stale[700], live[700], stale2[700];
    REQUIRE(t_write_blobs_npy(d, "d", 40, 5));
    snprintf(dir, sizeof dir, "%s/st", d);
    REQUIRE(mkdir(dir, 0777) == 0);
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0); /* its pid is free now */
    snprintf(stale, sizeof stale, "%s/checkpoint.tmp.%ld.0", dir, (long)dead);
    snprintf(stale2, sizeof stale2, "%s/model.safetensors.tmp.%ld.3", dir, (long)dead);
    snprintf(live, sizeof live, "%s/checkpoint.tmp.%ld.7", dir, (long)getpid());
    REQUIRE(t_write_text(stale, "partial") && t_write_text(stale2, "partial") &&
            t_write_text(live, "in use"));
    int rc = t_run_deepc(out, sizeof out, TRAIN " --epochs 1 --out %s", d, d, dir);
    CHECK(rc == 0, "train: %s", out);
    CHECK(access(stale, F_OK) != 0 && access(stale2, F_OK) != 0,
          "stale temp files of a dead process are still there");
    CHECK(access(live, F_OK) == 0, "a live process's temp file was removed");
}

/* Issue 14 item 5: ulimit -f: a clear error naming the file, the old checkpoint intact. */
TEST(train_file_size_limit_is_a_clear_error)
{
    const char *d = t_tmpdir();
    char out[4096], cmd[2048], a[600], b[600];
    REQUIRE(t_write_blobs_npy(d, "d", 100, 5));
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 2 --steps 2 --out %s/fl", d, d, d) ==
            0);
    snprintf(a, sizeof a, "%s/fl/checkpoint", d);
    snprintf(b, sizeof b, "%s/fl-checkpoint.before", d);
    snprintf(cmd, sizeof cmd, "cp %s %s", a, b);
    REQUIRE(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s train --resume %s/fl --steps 0", t_deepc_bin(), d);
    snprintf(b, sizeof b, "%s/limited.out", d);
    int rc = run_limited(200000, out, sizeof out, cmd, b); /* the weights are ~250 kB */
    snprintf(b, sizeof b, "%s/fl-checkpoint.before", d);
    CHECK(rc == 1 && strstr(out, "/fl/") && strstr(out, "too large"),
          "under a 200 kB file size limit: rc %d (1000+: killed by that signal)\n%s", rc, out);
    CHECK(t_same_file(a, b), "the old checkpoint changed");
    rc = t_run_deepc(out, sizeof out, "train --resume %s/fl --steps 0", d);
    CHECK(rc == 0, "resume without the limit: rc %d %s", rc, out);
}

/* A copy of a real checkpoint with other counters (and a valid CRC). */
static void forge(const char *from, const char *to, int64_t epoch, int64_t step, int64_t pos)
{
    dc_checkpoint_info info;
    REQUIRE(dc_checkpoint_peek(from, &info) == DC_OK);
    dc_spec *s = dc_spec_parse_string(info.spec, "ck");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    REQUIRE(m);
    dc_optim_cfg oc = dc_optim_defaults(DC_ADAM);
    dc_optim *opt = dc_optim_new(m, &oc);
    dc_tensor *order = dc_tensor_new(DC_I64, 1, DC_SHAPE(100));
    dc_checkpoint_info got;
    REQUIRE(opt && order && dc_checkpoint_load(from, m, opt, NULL, &got, order) == DC_OK);
    got.epoch = epoch;
    got.step = step;
    got.pos = pos;
    CHECK(dc_checkpoint_save(to, m, opt, NULL, &got, order) == DC_OK, "forge: %s",
          dc_last_error());
    dc_checkpoint_info_free(&got);
    dc_checkpoint_info_free(&info);
    dc_tensor_free(order);
    dc_optim_free(opt);
    dc_model_free(m);
    dc_spec_free(s);
}

/* Issue 14 item 6: counters out of range are refused, never wrapped or run for 1e18 epochs. */
TEST(train_forged_checkpoint_counters_are_refused)
{
    const char *d = t_tmpdir();
    char out[4096], a[600], b[600], cmd[1400];
    REQUIRE(t_write_blobs_npy(d, "d", 100, 5));
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 1 --out %s/fc", d, d, d) == 0);
    snprintf(a, sizeof a, "%s/fc/checkpoint", d);
    const int64_t bad[][3] = {{INT64_C(4294967296), 4, 0}, {INT64_C(999999999999999999), 4, 0},
                              {2147483647, 4, 0}, {1, 4, 1000}, {1, INT64_C(999999999999), 0}};
    for (int i = 0; i < 5; i++) {
        snprintf(cmd, sizeof cmd, "rm -rf %s/f%d && cp -r %s/fc %s/f%d", d, i, d, d, i);
        REQUIRE(system(cmd) == 0);
        snprintf(b, sizeof b, "%s/f%d/checkpoint", d, i);
        forge(a, b, bad[i][0], bad[i][1], bad[i][2]);
        int rc = t_run_deepc(out, sizeof out, "train --resume %s/f%d --epochs 3", d, i);
        CHECK(rc == 2 && strstr(out, "range") && strstr(out, "checkpoint"),
              "epoch %lld step %lld pos %lld: rc %d %s", (long long)bad[i][0],
              (long long)bad[i][1], (long long)bad[i][2], rc, out);
    }
}

/* Issue 14 item 11: a checkpoint of another run, --val too large, another scheduler: exit 2
 * with messages in words. */
TEST(train_mismatched_resume_exits_2)
{
    const char *d = t_tmpdir();
    char out[4096];
    REQUIRE(t_write_blobs_npy(d, "d", 100, 5));
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 2 --steps 2 --out %s/mm", d, d, d) ==
            0);
    int rc = t_run_deepc(out, sizeof out, "train --resume %s/mm --scheduler step --step-size 1 --steps 0", d);
    CHECK(rc == 2 && strstr(out, "'none'") && strstr(out, "'step'") && !strstr(out, "kind epoch"),
          "another scheduler: rc %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/mm --optimizer sgd --steps 0", d);
    CHECK(rc == 2 && strstr(out, "optimizer"), "another optimizer: rc %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, TRAIN " --val 100 --epochs 1", d, d);
    CHECK(rc == 2 && strstr(out, "--val"), "--val = n: rc %d %s", rc, out);
    /* the data the checkpoint names now has another size */
    REQUIRE(t_write_blobs_npy(d, "d", 60, 5));
    rc = t_run_deepc(out, sizeof out, "train --resume %s/mm --steps 0", d);
    CHECK(rc == 2 && strstr(out, "order"), "another dataset: rc %d %s", rc, out);
}

/* The loss column of log.csv's last row. */
static double last_loss(const char *path)
{
    char *t = slurp(path, NULL);
    double v = -1;
    char *p = t ? strrchr(t, '\n') : NULL;
    if (p) {
        *p = 0;
        p = strrchr(t, '\n');
        long long s, e;
        if (p && sscanf(p + 1, "%lld,%lld,%lf", &s, &e, &v) != 3)
            v = -1;
    }
    free(t);
    return v;
}

/* Issue 14 item 12: the resumed epoch's row is the whole epoch's mean (as a straight run's). */
TEST(train_resumed_epoch_row_averages_whole_epoch)
{
    const char *d = t_tmpdir();
    char out[4096], a[600], b[600];
    REQUIRE(t_write_blobs_npy(d, "d", 200, 5));
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 1 --out %s/whole", d, d, d) == 0);
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 1 --steps 4 --out %s/part", d, d, d) ==
            0);
    int rc = t_run_deepc(out, sizeof out, "train --resume %s/part --steps 0", d);
    CHECK(rc == 0, "resume: %s", out);
    snprintf(a, sizeof a, "%s/whole/log.csv", d);
    snprintf(b, sizeof b, "%s/part/log.csv", d);
    double la = last_loss(a), lb = last_loss(b);
    CHECK(la > 0 && la == lb, "epoch loss: straight %.9g, resumed %.9g", la, lb);
}

/* Issue 14 item 12: ten resumes with --quiet store one --quiet, not nine. */
TEST(train_resume_args_do_not_grow)
{
    const char *d = t_tmpdir();
    char out[4096], p[600];
    REQUIRE(t_write_blobs_npy(d, "d", 200, 5));
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 2 --steps 1 --out %s/g", d, d, d) == 0);
    for (int i = 0; i < 10; i++) {
        int rc = t_run_deepc(out, sizeof out, "train --resume %s/g --steps %d --quiet", d, i + 2);
        CHECK(rc == 0, "resume %d: %s", i, out);
    }
    snprintf(p, sizeof p, "%s/g/checkpoint", d);
    dc_checkpoint_info info;
    REQUIRE(dc_checkpoint_peek(p, &info) == DC_OK);
    int quiet = 0, steps = 0;
    for (const char *c = info.args; (c = strstr(c, "--quiet")) != NULL; c++)
        quiet++;
    for (const char *c = info.args; (c = strstr(c, "--steps")) != NULL; c++)
        steps++;
    CHECK(quiet == 1 && steps == 1 && info.step == 11, "after 10 resumes: %d --quiet, %d --steps, "
          "step %lld", quiet, steps, (long long)info.step);
    dc_checkpoint_info_free(&info);
}

/* Issue 14 item 12: --bptt on image data is an error, not silently ignored. */
TEST(train_option_that_does_not_apply_is_an_error)
{
    const char *d = t_tmpdir();
    char out[4096];
    REQUIRE(t_write_blobs_npy(d, "d", 40, 5));
    int rc = t_run_deepc(out, sizeof out, TRAIN " --epochs 1 --bptt 16", d, d);
    CHECK(rc == 2 && strstr(out, "--bptt") && strstr(out, "text"), "--bptt on images: rc %d %s",
          rc, out);
}

/* Issue 14 item 19: --resume --epochs N past a cosine schedule is refused, saying what to do. */
TEST(train_cosine_resume_beyond_schedule_refused)
{
    const char *d = t_tmpdir();
    char out[4096];
    REQUIRE(t_write_blobs_npy(d, "d", 40, 5));
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 2 --scheduler cosine --out %s/cos", d,
                        d, d) == 0);
    int rc = t_run_deepc(out, sizeof out, "train --resume %s/cos --epochs 4", d);
    CHECK(rc == 2 && strstr(out, "cosine") && strstr(out, "--init") && strstr(out, "lr is 0"),
          "cosine past its end: rc %d %s", rc, out);
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 2 --steps 1 --scheduler step --step-size 1 "
                        "--out %s/stp", d, d, d) == 0);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/stp --epochs 3", d);
    CHECK(rc == 0, "a step schedule may be extended: rc %d %s", rc, out);
}

/* An IDX folder (the un-gzipped Fashion-MNIST names) of n train and n / 4 test images. */
static void write_idx_dir(const char *dir, uint32_t n)
{
    const char *names[2] = {"train", "t10k"};
    for (int t = 0; t < 2; t++) {
        uint32_t k = t ? n / 4 : n;
        char p[700];
        unsigned char hi[16] = {0, 0, 8, 3, k >> 24, k >> 16, k >> 8, k, 0, 0, 0, 28, 0, 0, 0, 28};
        unsigned char hl[8] = {0, 0, 8, 1, k >> 24, k >> 16, k >> 8, k};
        snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, names[t]);
        FILE *f = fopen(p, "wb");
        REQUIRE(f);
        fwrite(hi, 1, 16, f);
        for (uint32_t i = 0; i < k * 784; i++)
            fputc((int)((i / 784) % 10 == (i % 10) ? 200 : 10), f);
        fclose(f);
        snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, names[t]);
        REQUIRE((f = fopen(p, "wb")));
        fwrite(hl, 1, 8, f);
        for (uint32_t i = 0; i < k; i++)
            fputc((int)(i % 10), f);
        fclose(f);
    }
}

/* Issue 14 item 20: the --val default is 1/12 of an image folder, and the first line says how
 * many examples went where. */
TEST(train_val_default_is_a_twelfth)
{
    const char *d = t_tmpdir();
    char out[4096];
    write_idx_dir(d, 120);
    int rc = t_run_deepc(out, sizeof out, "train models/lenet5 --data fashion-mnist:%s --epochs 1 --lr 0.01 "
                         "--batch 50 --threads 1", d);
    CHECK(rc == 0 && strstr(out, "110 examples for training, 10 for validation"),
          "120 images: rc %d %s", rc, out);
}

/* log_every: one row per epoch by default, and one every N steps with log_every = N. */
TEST(train_log_every_n_steps)
{
    char dir[2][600];
    for (int k = 0; k < 2; k++) {
        snprintf(dir[k], sizeof dir[k], "%s/le%d", t_tmpdir(), k);
        REQUIRE(mkdir(dir[k], 0777) == 0);
        dc_spec *s = dc_spec_parse_string("[input]\nshape = 4\n[linear fc]\nout_features = 2\n",
                                          "tiny");
        dc_rng rng;
        dc_rng_seed(&rng, 1, 0);
        dc_model *m = s ? dc_spec_build(s, &rng) : NULL;
        dc_tensor *x = dc_tensor_new(DC_F32, 2, DC_SHAPE(16, 4));
        dc_tensor *y = dc_tensor_new(DC_I64, 1, DC_SHAPE(16));
        REQUIRE(m && x && y);
        for (int i = 0; i < 64; i++)
            dc_f32(x)[i] = (float)(i % 7) * 0.1f;
        for (int i = 0; i < 16; i++)
            dc_i64(y)[i] = i % 2;
        dc_dataset *d = dc_dataset_tensors(x, y);
        dc_train_opts o = dc_train_defaults();
        o.epochs = 3;
        o.batch_size = 4; /* 4 steps per epoch */
        o.progress = 0;
        o.log_every = k ? 2 : 0;
        o.out_dir = dir[k];
        CHECK(dc_train(m, d, &o, NULL) == DC_OK, "train: %s", dc_last_error());
        char p[1400];
        snprintf(p, sizeof p, "%s/log.csv", dir[k]);
        char *t = slurp(p, NULL);
        int rows = -1;
        for (char *c = t; c && *c; c++)
            rows += *c == '\n';
        CHECK(rows == (k ? 3 + 6 : 3), "log_every %d: %d rows\n%s", k ? 2 : 0, rows, t);
        free(t);
        dc_dataset_free(d);
        dc_model_free(m);
        dc_spec_free(s);
    }
}

/* A resumed run keeps its schedule and its optimizer: a linear (warm-up, decay) schedule whose
 * length --epochs would change is refused like cosine's; the optimizer is compared by kind (any
 * case) and by the flag the parser keeps (the last one). */
TEST(train_resume_keeps_linear_schedule_and_optimizer_kind)
{
    const char *d = t_tmpdir();
    char out[4096];
    REQUIRE(t_write_blobs_npy(d, "d", 64, 5));
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 2 --steps 1 --scheduler linear "
                        "--warmup 1 --out %s/lin", d, d, d) == 0);
    int rc = t_run_deepc(out, sizeof out, "train --resume %s/lin --epochs 4", d);
    CHECK(rc == 2 && strstr(out, "linear") && strstr(out, "--init"),
          "linear schedule made longer on resume: rc %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/lin --warmup 3 --steps 0", d);
    CHECK(rc == 2 && strstr(out, "linear"), "another warm-up on resume: rc %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/lin --optimizer adam --optimizer sgd "
                     "--steps 0", d);
    CHECK(rc == 2 && strstr(out, "optimizer"), "the last --optimizer counts: rc %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/lin --optimizer Adam --steps 0", d);
    CHECK(rc == 0, "the same optimizer in another case: rc %d %s", rc, out);
}
