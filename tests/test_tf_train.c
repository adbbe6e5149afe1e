/*
 * test_tf_train.c - the trainer on a tiny char-GPT (the char_gpt spec sized down): a wall-clock
 * budget (--time-limit) that stops at a step boundary and still validates, logs and
 * checkpoints; checkpoints inside an epoch (a Transformer carries no state between chunks) that
 * resume bitwise after kill -9; --check-numerics naming the op and layer of a NaN.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TINY_GPT "[input]\nshape = 12\ndtype = int64\n"                                     \
                 "[embedding tok]\nnum_embeddings = $vocab\nembedding_dim = 8\n"          \
                 "[positional pos]\nmax_len = 12\n"                                        \
                 "[transformerencoder blocks]\nnum_layers = 2\nnhead = 2\n"                \
                 "dim_feedforward = 16\ndropout = 0\nactivation = gelu\nnorm_first = true\n" \
                 "causal = true\n"                                                         \
                 "[layernorm ln_f]\n[linear head]\nout_features = $vocab\n"

#define TINY_GRU "[input]\nshape = 12\ndtype = int64\n[embedding e]\nnum_embeddings = $vocab\n" \
                 "embedding_dim = 8\n[gru rnn]\nhidden_size = 16\n[linear out]\n"          \
                 "out_features = $vocab\n"

/* dir/gpt.spec, dir/gru.spec and dir/text.txt (n characters of a 10-letter pattern). */
static void write_inputs(const char *dir, int n)
{
    char p[700];
    snprintf(p, sizeof p, "%s/gpt.spec", dir);
    REQUIRE(t_write_text(p, TINY_GPT));
    snprintf(p, sizeof p, "%s/gru.spec", dir);
    REQUIRE(t_write_text(p, TINY_GRU));
    char *text = malloc((size_t)n + 1);
    REQUIRE(text);
    for (int i = 0; i < n; i++)
        text[i] = "abcdefghij"[(i * 3 + i / 7) % 10];
    text[n] = 0;
    snprintf(p, sizeof p, "%s/text.txt", dir);
    int ok = t_write_text(p, text);
    free(text);
    REQUIRE(ok);
}

/* The last line of dir/log.csv into buf (empty when none). */
static void last_log_line(const char *dir, char *buf, size_t n)
{
    char p[1024], line[512];
    snprintf(p, sizeof p, "%s/log.csv", dir);
    buf[0] = 0;
    FILE *f = fopen(p, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        snprintf(buf, n, "%s", line);
    fclose(f);
}

static int exists(const char *dir, const char *name)
{
    char p[1024];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

#define TRAIN_ARGS "--data text:%s/text.txt --bptt 12 --batch 8 --optimizer adamw --lr 0.003 " \
                   "--clip 1 --threads 1 --seed 3"

/* --time-limit: far fewer epochs than asked for, then validation, a log row with val_loss at the
 * step it stopped, the weights, and (the GPT) a checkpoint inside the epoch. */
TEST(tf_train_time_limit_stops_validates_logs_and_checkpoints)
{
    const char *d = t_tmpdir();
    char out[8192], dir[700], line[512];
    write_inputs(d, 240000); /* 2,500 steps an epoch: more than the budget allows */
    snprintf(dir, sizeof dir, "%s/g", d);
    int rc = t_run_deepc(out, sizeof out, "train %s/gpt.spec " TRAIN_ARGS " --epochs 50 "
                         "--time-limit 0.2 --out %s", d, d, dir);
    CHECK(rc == 0 && strstr(out, "validation: loss"), "gpt --time-limit: rc %d\n%s", rc, out);
    last_log_line(dir, line, sizeof line);
    long long step = 0, epoch = 0;
    double loss = 0, val = 0;
    int got = sscanf(line, "%lld,%lld,%lf,,%lf", &step, &epoch, &loss, &val);
    CHECK(got == 4 && epoch == 1 && step > 0 && step < 2500 && val > 0,
          "the log's last row should be epoch 1, a step inside it, a val_loss: '%s'", line);
    CHECK(exists(dir, "model.safetensors"), "no weights after --time-limit");
    char p[1024];
    snprintf(p, sizeof p, "%s/checkpoint", dir);
    dc_checkpoint_info info;
    CHECK(dc_checkpoint_peek(p, &info) == DC_OK && info.pos > 0 && info.step == step,
          "a GPT checkpoint inside the epoch at step %lld: %s", step, dc_last_error());
    dc_checkpoint_info_free(&info);
    /* a recurrent model carries states between chunks: checkpoints at epoch ends only; the
     * budget in CPU time stops it too */
    snprintf(dir, sizeof dir, "%s/r", d);
    rc = t_run_deepc(out, sizeof out, "train %s/gru.spec " TRAIN_ARGS " --epochs 50 "
                     "--cpu-time-limit 0.2 --out %s", d, d, dir);
    snprintf(p, sizeof p, "%s/checkpoint", dir);
    const char *ep = strstr(out, "\nepoch ");
    CHECK(rc == 0 && exists(dir, "model.safetensors") && !strstr(out, "epoch 50/50"),
          "gru --cpu-time-limit: rc %d (at most %d epochs)\n%s", rc, ep ? atoi(ep + 7) : 0, out);
    last_log_line(dir, line, sizeof line);
    CHECK(strchr(line, ',') && atoll(line) < 50 * 1250, "gru --cpu-time-limit: log '%s'", line);
    if (exists(dir, "checkpoint")) {
        CHECK(dc_checkpoint_peek(p, &info) == DC_OK && info.pos == 0,
              "a GRU checkpoint inside an epoch (pos %lld)", (long long)info.pos);
        dc_checkpoint_info_free(&info);
    }
    rc = t_run_deepc(out, sizeof out, "train %s/gru.spec " TRAIN_ARGS " --save-every 5 --out %s",
                     d, d, dir);
    CHECK(rc == 2 && strstr(out, "--save-every"), "gru --save-every: rc %d\n%s", rc, out);
}

/* A GPT run with --save-every checkpoints inside epochs; kill -9 after the first one, resume:
 * the weights of an uninterrupted run, bit for bit. */
TEST(tf_train_gpt_resumes_bitwise_after_kill9)
{
    const char *d = t_tmpdir();
    char args[1500], cmd[3000], out[8192], a[700], b[700];
    write_inputs(d, 20000); /* 187 steps an epoch */
    const int epochs = 3;
    snprintf(args, sizeof args, "train %s/gpt.spec " TRAIN_ARGS " --epochs %d --save-every 40",
             d, d, epochs);
    int rc = t_run_deepc(out, sizeof out, "%s --out %s/ref", args, d);
    REQUIRE(rc == 0);
    snprintf(cmd, sizeof cmd,
             "%s %s --out %s/k > %s/k.out 2>&1 & p=$!; i=0; "
             "while [ ! -e %s/k/checkpoint ] && [ $i -lt 2000 ]; do sleep 0.005; i=$((i+1)); "
             "done; kill -9 $p; { wait $p; } 2>/dev/null; true",
             t_deepc_bin(), args, d, d, d);
    REQUIRE(system(cmd) == 0);
    snprintf(a, sizeof a, "%s/k/checkpoint", d);
    dc_checkpoint_info info;
    REQUIRE(dc_checkpoint_peek(a, &info) == DC_OK);
    CHECK(info.epoch < epochs, "the run ended before kill -9 (epoch %lld): the test proves "
          "nothing", (long long)info.epoch);
    CHECK(info.pos > 0 || info.epoch > 0, "checkpoint at epoch %lld pos %lld",
          (long long)info.epoch, (long long)info.pos);
    const long long pos = (long long)info.pos, ep = (long long)info.epoch;
    dc_checkpoint_info_free(&info);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/k", d);
    CHECK(rc == 0 && strstr(out, "resuming"), "resume after kill -9 (epoch %lld, pos %lld): rc %d "
          "%s", ep, pos, rc, out);
    snprintf(a, sizeof a, "%s/ref/model.safetensors", d);
    snprintf(b, sizeof b, "%s/k/model.safetensors", d);
    CHECK(t_same_file(a, b), "kill -9 at epoch %lld pos %lld + resume: other weights than a "
          "straight run", ep, pos);
}

/* A diverging GPT: the NaN is reported at its step; --check-numerics names the op and layer. */
TEST(tf_train_check_numerics_names_op_and_layer)
{
    const char *d = t_tmpdir();
    char out[8192];
    write_inputs(d, 3000);
    const char *diverge = "--data text:%s/text.txt --bptt 12 --batch 8 --optimizer sgd --lr 1e6 "
                          "--epochs 3 --threads 1 --quiet";
    char fmt[600];
    snprintf(fmt, sizeof fmt, "train %%s/gpt.spec %s --out %%s/n", diverge);
    int rc = t_run_deepc(out, sizeof out, fmt, d, d, d);
    CHECK(rc == 1 && strstr(out, "the loss is NaN") && strstr(out, "--check-numerics finds"),
          "without --check-numerics: rc %d\n%s", rc, out);
    snprintf(fmt, sizeof fmt, "train %%s/gpt.spec %s --check-numerics --out %%s/c", diverge);
    rc = t_run_deepc(out, sizeof out, fmt, d, d, d);
    CHECK(rc == 1 && strstr(out, "first appeared in the output of ") &&
              strstr(out, " in layer blocks"),
          "--check-numerics should name the op and the layer 'blocks': rc %d\n%s", rc, out);
}
