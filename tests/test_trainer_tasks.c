/*
 * test_trainer_tasks.c - the one trainer serves every task like the image task: a character
 * language model (TBPTT) and a forecasting run each write log.csv, plot, checkpoint, survive
 * kill -9 and resume to bitwise the weights of an uninterrupted run; the task interface carries
 * a task's own state (the forecast's best weights) through a checkpoint.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Lines of dir/log.csv (-1: no file) and whether its header is the trainer's. */
static int log_lines(const char *dir, int *header_ok)
{
    char p[700], line[512];
    snprintf(p, sizeof p, "%s/log.csv", dir);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    int n = 0;
    *header_ok = fgets(line, sizeof line, f) && !strncmp(line, "step,epoch,loss,acc,val_loss", 28);
    n = 1;
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    return n;
}

/* Start "deepc ARGS --out dir/NAME" in the background, wait for its first checkpoint, let it run
 * a moment, kill -9 it; then resume it. The straight run is dir/ref. */
static void kill9_and_resume(const char *dir, const char *args, const char *name, int epochs)
{
    char cmd[3000], out[4096], a[700], b[700];
    snprintf(cmd, sizeof cmd,
             "%s %s --out %s/%s > %s/%s.out 2>&1 & p=$!; i=0; "
             "while [ ! -e %s/%s/checkpoint ] && [ $i -lt 2000 ]; do sleep 0.005; i=$((i+1)); "
             "done; kill -9 $p; { wait $p; } 2>/dev/null; true",
             t_deepc_bin(), args, dir, name, dir, name, dir, name);
    REQUIRE(system(cmd) == 0);
    snprintf(a, sizeof a, "%s/%s/checkpoint", dir, name);
    dc_checkpoint_info info;
    REQUIRE(dc_checkpoint_peek(a, &info) == DC_OK);
    CHECK(info.epoch < epochs, "%s: the run ended before kill -9 (epoch %lld of %d): the test "
          "proves nothing", name, (long long)info.epoch, epochs);
    dc_checkpoint_info_free(&info);
    int rc = t_run_deepc(out, sizeof out, "train --resume %s/%s", dir, name);
    CHECK(rc == 0 && strstr(out, "resuming"), "%s: resume after kill -9: rc %d %s", name, rc, out);
    snprintf(a, sizeof a, "%s/ref/model.safetensors", dir);
    snprintf(b, sizeof b, "%s/%s/model.safetensors", dir, name);
    CHECK(t_same_file(a, b), "%s: kill -9 + resume ends with other weights than a straight run",
          name);
}

/* log.csv with the header and a row per epoch, `deepc plot` draws it. */
static void check_log_and_plot(const char *dir, int epochs)
{
    char out[4096], p[700];
    int head = 0, n = log_lines(dir, &head);
    CHECK(n == 1 + epochs && head, "%s/log.csv: %d lines (want %d), header %d", dir, n,
          1 + epochs, head);
    int rc = t_run_deepc(out, sizeof out, "plot %s", dir);
    snprintf(p, sizeof p, "%s/loss.svg", dir);
    struct stat st;
    CHECK(rc == 0 && stat(p, &st) == 0 && st.st_size > 100, "deepc plot %s: rc %d %s", dir, rc,
          out);
}

#define LM_SPEC "[input]\nshape = 16\ndtype = int64\n[embedding embed]\nnum_embeddings = $vocab\n" \
                "embedding_dim = 8\n[gru rnn]\nhidden_size = 16\n[linear out]\n"             \
                "out_features = $vocab\n"

/* A char-LM run: log.csv, plot, checkpoints at epoch ends, kill -9 and a bitwise resume. */
TEST(trainer_char_lm_logs_checkpoints_and_resumes_bitwise)
{
    char d[600], args[1500], p[700];
    snprintf(d, sizeof d, "%s", t_tmpdir());
    snprintf(p, sizeof p, "%s/lm.spec", d);
    REQUIRE(t_write_text(p, LM_SPEC));
    snprintf(p, sizeof p, "%s/text.txt", d);
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    for (int i = 0; i < 300; i++)
        fprintf(f, "the %d cat sat on the mat\n", i % 37);
    fclose(f);
    const int epochs = 12;
    snprintf(args, sizeof args, "train %s/lm.spec --data text:%s/text.txt --epochs %d --batch 4 "
             "--bptt 16 --optimizer adam --lr 0.01 --threads 1 --seed 2", d, d, epochs);
    char out[4096];
    int rc = t_run_deepc(out, sizeof out, "%s --out %s/ref", args, d);
    REQUIRE(rc == 0);
    snprintf(p, sizeof p, "%s/ref", d);
    check_log_and_plot(p, epochs);
    snprintf(p, sizeof p, "%s/ref/checkpoint", d);
    dc_checkpoint_info info;
    CHECK(dc_checkpoint_peek(p, &info) == DC_OK && info.epoch == epochs && info.pos == 0,
          "LM checkpoint: %s", dc_last_error());
    dc_checkpoint_info_free(&info);
    kill9_and_resume(d, args, "k", epochs);
    snprintf(p, sizeof p, "%s/k", d);
    check_log_and_plot(p, epochs);
}

/* Resuming a text run keeps its cosine schedule: --epochs that would change it is refused. */
TEST(trainer_char_lm_cosine_resume_keeps_the_schedule)
{
    char d[600], p[700], out[4096];
    snprintf(d, sizeof d, "%s", t_tmpdir());
    snprintf(p, sizeof p, "%s/lm.spec", d);
    REQUIRE(t_write_text(p, LM_SPEC));
    snprintf(p, sizeof p, "%s/text.txt", d);
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    for (int i = 0; i < 60; i++)
        fprintf(f, "the %d cat sat on the mat\n", i % 37);
    fclose(f);
    int rc = t_run_deepc(out, sizeof out, "train %s/lm.spec --data text:%s/text.txt --epochs 2 "
                         "--batch 4 --bptt 16 --lr 0.1 --scheduler cosine --threads 1 --quiet --out %s/c",
                         d, d, d);
    REQUIRE(rc == 0);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/c --epochs 5 --quiet", d);
    CHECK(rc == 2 && strstr(out, "cosine") && strstr(out, "--init"), "rc %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/c --quiet", d);
    CHECK(rc == 0, "resuming a finished text run: rc %d %s", rc, out);
    /* a --steps limit inside an epoch still reports the steps taken and the rate */
    rc = t_run_deepc(out, sizeof out, "train %s/lm.spec --data text:%s/text.txt --epochs 1 "
                     "--batch 4 --bptt 4 --lr 0.1 --steps 3 --threads 1", d, d);
    CHECK(rc == 0 && strstr(out, ", 3 steps, ") && !strstr(out, " 0 tokens/s"),
          "--steps 3: rc %d %s", rc, out);
}

/* DIR/wave.csv: a noisy sine (the target) and a second feature, 400 rows. */
static void write_wave(const char *dir)
{
    char p[700];
    snprintf(p, sizeof p, "%s/wave.csv", dir);
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    fprintf(f, "y,x\n");
    dc_rng r;
    dc_rng_seed(&r, 4, 0);
    for (int i = 0; i < 400; i++)
        fprintf(f, "%.5f,%.5f\n", sin(6.283185307179586 * i / 16.0) + 0.1 * dc_rng_normal(&r),
                cos(6.283185307179586 * i / 16.0));
    fclose(f);
}

/* A forecasting run: log.csv, plot, checkpoints inside epochs, kill -9 and a bitwise resume of
 * the best validation epoch's weights (the task's state rides in the checkpoint). */
TEST(trainer_series_logs_checkpoints_and_resumes_bitwise)
{
    static char out[1 << 16]; /* 150 epoch lines, then the best epoch */
    char d[600], args[1500], p[700];
    snprintf(d, sizeof d, "%s", t_tmpdir());
    write_wave(d);
    snprintf(p, sizeof p, "%s/fc.spec", d);
    REQUIRE(t_write_text(p, "[input]\nshape = 7, 2\n[lstm lstm]\nhidden_size = 8\n"
                            "[last_step last]\n[linear out]\nout_features = 1\n"));
    const int epochs = 150; /* long enough that kill -9 lands inside the run on a quiet machine */
    snprintf(args, sizeof args, "train %s/fc.spec --data csv:%s/wave.csv,target=y --epochs %d "
             "--batch 16 --optimizer adam --lr 0.01 --threads 1 --seed 5 --save-every 7",
             d, d, epochs);
    int rc = t_run_deepc(out, sizeof out, "%s --out %s/ref", args, d);
    REQUIRE(rc == 0);
    CHECK(strstr(out, "best epoch"), "no model selection:\n%s", out);
    snprintf(p, sizeof p, "%s/ref", d);
    check_log_and_plot(p, epochs);
    kill9_and_resume(d, args, "k", epochs);
    /* a finished run extends with --epochs (the best epoch and its weights come back) */
    rc = t_run_deepc(out, sizeof out, "train --resume %s/ref --epochs %d --quiet", d, epochs + 1);
    CHECK(rc == 0, "extending a finished forecast run: rc %d %s", rc, out);
}

/* The forecast task through the library: early stopping after `patience` epochs without a better
 * validation score, and the best epoch's weights put back at the end. */
TEST(trainer_forecast_patience_stops_and_keeps_the_best)
{
    char d[600], p[700];
    snprintf(d, sizeof d, "%s", t_tmpdir());
    write_wave(d);
    snprintf(p, sizeof p, "%s/wave.csv", d);
    dc_table *tb = dc_table_load(p, ',');
    REQUIRE(tb);
    dc_series *s = dc_series_windows(tb, NULL, 0, "y", 7, 1, 0.2, 0.1);
    REQUIRE(s);
    dc_spec *sp = dc_spec_parse_string("[input]\nshape = 7, 2\n[flatten f]\n[linear out]\n"
                                       "out_features = 1\n", "fc");
    dc_rng rng;
    dc_rng_seed(&rng, 3, 0);
    dc_model *m = sp ? dc_spec_build(sp, &rng) : NULL;
    REQUIRE(m);
    dc_train_opts o = dc_train_defaults();
    o.loss = DC_LOSS_MSE;
    o.epochs = 300;
    o.batch_size = 32;
    o.progress = 0;
    o.optim = dc_optim_defaults(DC_ADAM);
    o.optim.lr = 0.05f;
    dc_task *t = dc_task_forecast(s, m, &o, 3);
    REQUIRE(t);
    dc_task_eval v;
    CHECK(dc_train_task(m, t, &o, &v) == DC_OK, "train: %s", dc_last_error());
    dc_forecast_score best;
    const int64_t be = dc_task_forecast_best(t, &best);
    const int64_t per = (s->n[DC_SPLIT_TRAIN] + 31) / 32, epochs = v.steps / per;
    CHECK(be > 0 && epochs == be + 3 && epochs < 300, "stopped after epoch %lld, best %lld "
          "(patience 3)", (long long)epochs, (long long)be);
    /* the model holds the best epoch's weights: its validation RMSE is the best one */
    float *pred = malloc((size_t)s->n[DC_SPLIT_VAL] * sizeof *pred);
    dc_forecast_score now;
    REQUIRE(pred && dc_series_predict(m, s, DC_SPLIT_VAL, pred) == DC_OK &&
            dc_series_score(s, DC_SPLIT_VAL, pred, &now) == DC_OK);
    CHECK(now.rmse == best.rmse, "validation RMSE of the final weights %.9g, of the best epoch "
          "%.9g", now.rmse, best.rmse);
    free(pred);
    dc_task_free(t);
    dc_model_free(m);
    dc_spec_free(sp);
    dc_series_free(s);
    dc_table_free(tb);
}
