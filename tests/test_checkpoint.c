/*
 * test_checkpoint.c - training never loses work: exact resume after a stop, after SIGINT and
 * after kill -9; checkpoints that are damaged are refused; the same seed gives the same weights at
 * 1 and 2 threads; a NaN names its step, op and layer; log.csv and --json.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRAIN "train models/lenet5 --data npy:%s/d_x.npy,%s/d_y.npy --optimizer adam --lr 0.002 " \
              "--batch 32 --threads 1 --seed 3 --quiet"

/* Stop inside epoch 2 (--steps), resume: bitwise the weights of a straight 2-epoch run. */
TEST(ckpt_resume_after_stop_is_bitwise_exact)
{
    const char *d = t_tmpdir();
    char out[4096], a[512], b[512];
    REQUIRE(t_write_blobs_npy(d, "d", 200, 11));
    int rc = t_run_deepc(out, sizeof out, TRAIN " --epochs 2 --out %s/straight", d, d, d);
    REQUIRE(rc == 0);
    rc = t_run_deepc(out, sizeof out, TRAIN " --epochs 2 --steps 9 --save-every 4 --out %s/cut",
                     d, d, d);
    CHECK(rc == 0, "cut run: %s", out);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/cut --steps 0", d);
    CHECK(rc == 0 && !*out, "resume: rc %d, and it printed despite the stored --quiet: %s", rc,
          out);
    snprintf(a, sizeof a, "%s/straight/model.safetensors", d);
    snprintf(b, sizeof b, "%s/cut/model.safetensors", d);
    CHECK(t_same_file(a, b), "resumed weights differ from the straight run");
    snprintf(a, sizeof a, "%s/straight/log.csv", d);
    FILE *f = fopen(a, "r");
    char line[256] = "";
    CHECK(f && fgets(line, sizeof line, f) &&
          !strcmp(line, "step,epoch,loss,acc,val_loss,val_acc,lr,grad_norm,ex_per_s,elapsed_s\n"),
          "log.csv header: %s", line);
    if (f)
        fclose(f);
    rc = t_run_deepc(out, sizeof out, "plot %s/straight", d);
    snprintf(a, sizeof a, "%s/straight/loss.svg", d);
    f = fopen(a, "r");
    CHECK(rc == 0 && f && fgets(line, sizeof line, f) && strstr(line, "<?xml"),
          "deepc plot: rc %d %s", rc, out);
    if (f)
        fclose(f);
    rc = t_run_deepc(out, sizeof out, "plot %s/no-such-run", d);
    CHECK(rc == 2 && !strncmp(out, "deepc plot: ", 12) && strstr(out, "no-such-run/log.csv"),
          "plot of a missing run: %d %s", rc, out);
}

/* kill -9 at an arbitrary moment: the checkpoint left behind is whole, and resuming from it
 * ends with the straight run's weights. SIGINT saves and says how to resume. */
TEST(ckpt_kill9_and_sigint_lose_nothing)
{
    const char *d = t_tmpdir();
    char out[4096], cmd[2048], a[512], b[512];
    REQUIRE(t_write_blobs_npy(d, "d", 600, 11));
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 6 --out %s/ref", d, d, d) == 0);
    const char *sig[2] = {"KILL", "INT"};
    for (int s = 0; s < 2; s++) {
        /* start in the background, wait for the first checkpoint, let it run on, kill it */
        snprintf(cmd, sizeof cmd,
                 "%s " TRAIN " --epochs 6 --save-every 5 --out %s/k%d > %s/k%d.out 2>&1 & "
                 "p=$!; i=0; while [ ! -e %s/k%d/checkpoint ] && [ $i -lt 400 ]; do "
                 "sleep 0.01; i=$((i+1)); done; sleep 0.%d; kill -%s $p; "
                 "{ wait $p; } 2>/dev/null; echo $? > %s/k%d.rc",
                 t_deepc_bin(), d, d, d, s, d, s, d, s, 1 + 2 * s, sig[s], d, s);
        CHECK(system(cmd) == 0, "shell: %s", cmd);
        snprintf(a, sizeof a, "%s/k%d.rc", d, s);
        FILE *f = fopen(a, "r");
        int code = -1;
        if (f) {
            if (fscanf(f, "%d", &code) != 1)
                code = -1;
            fclose(f);
        }
        if (s == 1 && code == 130) { /* SIGINT landed while training: the message says how */
            snprintf(a, sizeof a, "%s/k1.out", d);
            f = fopen(a, "r");
            char msg[2048] = "";
            size_t n = f ? fread(msg, 1, sizeof msg - 1, f) : 0;
            msg[n] = 0;
            if (f)
                fclose(f);
            CHECK(strstr(msg, "--resume"), "SIGINT message: %s", msg);
        }
        int rc = t_run_deepc(out, sizeof out, "train --resume %s/k%d", d, s);
        CHECK(rc == 0, "resume after SIG%s (exit %d): %s", sig[s], code, out);
        snprintf(a, sizeof a, "%s/ref/model.safetensors", d);
        snprintf(b, sizeof b, "%s/k%d/model.safetensors", d, s);
        CHECK(t_same_file(a, b), "after SIG%s (exit %d) + resume the weights differ", sig[s], code);
    }
}

/* A damaged or truncated checkpoint is refused with the file's name; the model is untouched. */
TEST(ckpt_damaged_checkpoint_is_refused)
{
    const char *d = t_tmpdir();
    char out[4096], p[512], q[512];
    REQUIRE(t_write_blobs_npy(d, "d", 100, 11));
    REQUIRE(t_run_deepc(out, sizeof out, TRAIN " --epochs 1 --out %s/c", d, d, d) == 0);
    snprintf(p, sizeof p, "%s/c/checkpoint", d);
    dc_checkpoint_info info;
    REQUIRE(dc_checkpoint_peek(p, &info) == DC_OK);
    CHECK(info.epoch == 1 && info.step == 4 && info.pos == 0, "counters %lld %lld %lld",
          (long long)info.epoch, (long long)info.step, (long long)info.pos);
    CHECK(info.spec && strstr(info.spec, "[conv2d"), "the spec is stored");
    dc_checkpoint_info_free(&info);
    /* flip one byte near the end (inside the tensor data) */
    FILE *f = fopen(p, "r+b");
    REQUIRE(f);
    fseek(f, -100, SEEK_END);
    int c = fgetc(f);
    fseek(f, -100, SEEK_END);
    fputc(c ^ 0x10, f);
    fclose(f);
    int rc = t_run_deepc(out, sizeof out, "train --resume %s/c", d);
    CHECK(rc == 2 && strstr(out, "checksum") && strstr(out, "checkpoint"), "flipped: %d %s", rc,
          out);
    /* truncated */
    snprintf(q, sizeof q, "%s/c/model.safetensors", d);
    REQUIRE(truncate(p, 300) == 0);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/c", d);
    CHECK(rc == 2 && strstr(out, "checkpoint"), "truncated: %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/nothing-here", d);
    CHECK(rc == 2 && strstr(out, "nothing-here"), "missing: %d %s", rc, out);
}

/* The same seed gives bitwise-identical weights at 1 and 2 threads (built-in kernels). */
TEST(ckpt_same_weights_at_1_and_2_threads)
{
    const char *d = t_tmpdir();
    char out[4096], a[512], b[512];
    REQUIRE(t_write_blobs_npy(d, "d", 256, 11));
    setenv("DEEPC_GEMM", "builtin", 1); /* OpenBLAS does not promise it; the built-in GEMM does */
    for (int t = 1; t <= 2; t++) {
        int rc = t_run_deepc(out, sizeof out, "train models/lenet5 --data npy:%s/d_x.npy,"
                             "%s/d_y.npy --optimizer sgd --lr 0.05 --batch 64 --epochs 2 "
                             "--threads %d --quiet --out %s/t%d", d, d, t, d, t);
        CHECK(rc == 0, "threads %d: %s", t, out);
    }
    unsetenv("DEEPC_GEMM");
    snprintf(a, sizeof a, "%s/t1/model.safetensors", d);
    snprintf(b, sizeof b, "%s/t2/model.safetensors", d);
    CHECK(t_same_file(a, b), "weights differ between 1 and 2 threads");
}

/* A diverging run stops at the step, names op and layer with --check-numerics, keeps the last
 * checkpoint; --json prints one object per epoch. */
TEST(ckpt_nan_names_step_and_layer)
{
    const char *d = t_tmpdir();
    char out[4096];
    REQUIRE(t_write_blobs_npy(d, "d", 100, 11));
    int rc = t_run_deepc(out, sizeof out, "train models/lenet5 --data npy:%s/d_x.npy,%s/d_y.npy "
                         "--optimizer sgd --lr 1e6 --epochs 3 --threads 1 --quiet "
                         "--check-numerics --out %s/n", d, d, d);
    CHECK(rc == 1 && strstr(out, "step ") && strstr(out, "layer") && strstr(out, "learning rate"),
          "NaN: rc %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, TRAIN " --epochs 2 --json", d, d);
    CHECK(rc == 0 && strstr(out, "{\"epoch\": 1, \"step\": 4") && strstr(out, "{\"epoch\": 2"),
          "--json: %s", out);
}
