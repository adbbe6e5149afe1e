/*
 * test_replay.c - PyTorch training runs replayed through `deepc train`'s flags alone
 * (tests/ref/replay/, written by tests/ref/gen_replay.py).
 *
 * One run per optimizer with a non-default value of every hyper-parameter PyTorch 1.13 gives it
 * (maximize included), one per scheduler with every argument set, on gen_train.py's net and data:
 *
 *   deepc train mlp.spec --init init_mlp.safetensors --data npy:X.npy,Y_class.npy --no-shuffle
 *               --loss cross_entropy --batch B --steps S FLAGS --out DIR
 *
 * DIR/model.safetensors must equal PyTorch's weights after the same run within T_REF_RTOL /
 * T_REF_ATOL. gen_replay.py checks that PyTorch's float32 run lands within a quarter of that
 * tolerance and that every optimizer flag moves the result by at least 20 tolerances (every
 * scheduler flag changes the lr sequence), so a flag that deepc ignored or mapped to the wrong
 * field fails here. The reference stores the flags, batch and steps it was made with, and the
 * test fails if the table below differs.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

static t_names replay_names;

static void check_meta(const char *cs, const dc_tdict *ref, const char *key, const char *want)
{
    const char *got = dc_tdict_meta(ref, key);
    CHECK(got && !strcmp(got, want), "replay %s: the reference was made with %s '%s', the test "
          "runs '%s' (regenerate with tests/ref/gen_replay.py or fix the table)", cs, key,
          got ? got : "(missing)", want);
}

static void replay(const char *cs, int batch, int steps, const char *flags)
{
    char train[512], out_dir[600], path[700], log[8192], num[32];
    snprintf(train, sizeof train, "%s", t_ref_dir("train"));
    dc_tdict *ref = t_ref_load(t_ref_dir("replay"), cs);
    if (!ref)
        return;
    check_meta(cs, ref, "flags", flags);
    snprintf(num, sizeof num, "%d", batch);
    check_meta(cs, ref, "batch", num);
    snprintf(num, sizeof num, "%d", steps);
    check_meta(cs, ref, "steps", num);
    snprintf(out_dir, sizeof out_dir, "%s", t_tmpdir());
    int rc = t_run_deepc(log, sizeof log, "train %s/mlp.spec --init %s/init_mlp.safetensors "
                         "--data npy:%s/X.npy,%s/Y_class.npy --no-shuffle --loss cross_entropy "
                         "--batch %d --steps %d --threads 1 --quiet --out %s %s", train, train,
                         train, train, batch, steps, out_dir, flags);
    CHECK(rc == 0 && !*log, "replay %s: deepc train ... %s exited %d (and --quiet printed "
          "'%s')", cs, flags, rc, log);
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    dc_tdict *got = rc == 0 ? dc_safetensors_read(path) : NULL;
    CHECK(rc != 0 || got, "replay %s: cannot read %s: %s", cs, path, dc_last_error());
    if (got) {
        CHECK(got->n == ref->n, "replay %s: %d tensors, PyTorch's state_dict has %d", cs, got->n,
              ref->n);
        for (int i = 0; i < ref->n; i++) {
            const dc_tensor *g = dc_tdict_get(got, ref->names[i]);
            CHECK(g != NULL, "replay %s: %s is missing from deepc's weights", cs, ref->names[i]);
            if (g)
                t_ref_compare(cs, ref->names[i], g, g->data, ref->tensors[i]);
        }
    }
    dc_tdict_free(got);
    dc_tdict_free(ref);
}

#define REPLAY(nm, batch, steps, flags)                                                \
    __attribute__((constructor)) static void replay_note_##nm(void)                    \
    {                                                                                  \
        t_names_add(&replay_names, #nm);                                               \
    }                                                                                  \
    TEST(replay_##nm) { replay(#nm, batch, steps, flags); }

/* Optimizers: 40 rows in batches of 16, 7 steps (two epoch ends, a stop inside epoch 3). */
REPLAY(sgd_dampening, 16, 7,
       "--optimizer sgd --lr 0.15 --momentum 0.8 --dampening 0.3 --weight-decay 0.02")
REPLAY(sgd_nesterov_maximize, 16, 7,
       "--optimizer sgd --lr 0.02 --momentum 0.7 --nesterov --weight-decay 0.03 --maximize")
REPLAY(adagrad, 16, 7,
       "--optimizer adagrad --lr 0.1 --lr-decay 0.2 --weight-decay 0.02 "
       "--initial-accumulator-value 0.5 --eps 0.1 --maximize")
REPLAY(rmsprop, 16, 7,
       "--optimizer rmsprop --lr 0.005 --alpha 0.7 --eps 0.05 --weight-decay 0.03 --momentum 0.4 "
       "--centered --maximize")
REPLAY(adadelta, 16, 7,
       "--optimizer adadelta --lr 0.7 --rho 0.6 --eps 0.001 --weight-decay 0.05 --maximize")
REPLAY(adam, 16, 7,
       "--optimizer adam --lr 0.01 --betas 0.7,0.8 --eps 0.01 --weight-decay 0.05 --amsgrad "
       "--maximize")
REPLAY(adamw, 16, 7,
       "--optimizer adamw --lr 0.02 --betas 0.8,0.7 --eps 0.01 --weight-decay 0.3 --amsgrad "
       "--maximize")

/* Schedulers: batches of 8 (5 steps per epoch); 23 steps cross 4 epoch ends, 53 cross 10. */
REPLAY(sched_step, 8, 23,
       "--optimizer sgd --lr 0.1 --momentum 0.9 --scheduler step --step-size 2 --gamma 0.4")
REPLAY(sched_multistep, 8, 23,
       "--optimizer sgd --lr 0.1 --momentum 0.9 --scheduler multistep --milestones 1,3 "
       "--gamma 0.3")
REPLAY(sched_exponential, 8, 23,
       "--optimizer sgd --lr 0.1 --momentum 0.9 --scheduler exponential --gamma 0.6")
REPLAY(sched_cosine, 8, 23,
       "--optimizer sgd --lr 0.1 --momentum 0.9 --scheduler cosine --t-max 3 --eta-min 0.02")
REPLAY(sched_warmup, 8, 23,
       "--optimizer sgd --lr 0.1 --momentum 0.9 --scheduler warmup --start-factor 0.2 "
       "--end-factor 0.7 --warmup 3")
REPLAY(sched_plateau, 8, 53,
       "--optimizer sgd --lr 0.2 --momentum 0.9 --scheduler plateau --plateau-mode min "
       "--factor 0.5 --patience 0 --threshold 0.1 --threshold-mode abs --cooldown 1 "
       "--min-lr 0.03 --plateau-eps 0.021")
REPLAY(sched_plateau_max, 8, 23,
       "--optimizer sgd --lr 0.1 --momentum 0.9 --scheduler plateau --plateau-mode max "
       "--factor 0.3 --patience 1")
/* Hugging Face's linear schedule, per step: total = the run's 5 epochs of 5 steps (the run
 * stops at 23), then an explicit 40 */
REPLAY(sched_linear, 8, 23, "--optimizer adam --lr 0.05 --scheduler linear --warmup 4")
REPLAY(sched_linear_total, 8, 23,
       "--optimizer sgd --lr 0.1 --momentum 0.9 --scheduler linear --warmup 3 --total-steps 40")

TEST(replay_every_file_has_a_test)
{
    t_ref_check_files(t_ref_dir("replay"), &replay_names, NULL, "tests/test_replay.c");
}

/* ------------------------------------------------------------------------------------------ */
/* The flags themselves: PyTorch's defaults in --help, the errors, --quiet, --log-every        */
/* ------------------------------------------------------------------------------------------ */

static char out[16384];

TEST(replay_help_prints_each_optimizers_pytorch_defaults)
{
    int rc = t_run_deepc(out, sizeof out, "train --help");
    static const char *const want[] = {
        "sgd          --lr (required) --momentum 0 --dampening 0 --weight-decay 0 [--nesterov]",
        "adagrad      --lr 0.01 --weight-decay 0 --lr-decay 0 --initial-accumulator-value 0",
        "rmsprop      --lr 0.01 --momentum 0 --weight-decay 0 --alpha 0.99 [--centered]",
        "adadelta     --lr 1 --weight-decay 0 --rho 0.9 --eps 1e-06 [--maximize]",
        "adam         --lr 0.001 --weight-decay 0 --eps 1e-08 --betas 0.9,0.999 [--amsgrad]",
        "adamw        --lr 0.001 --weight-decay 0.01 --eps 1e-08 --betas 0.9,0.999 [--amsgrad]",
        "exponential  --gamma (required)",
        "plateau      --plateau-mode min --factor 0.1 --patience 10 --threshold 0.0001",
        "linear       --warmup 0 --total-steps (the run's epochs of steps)"};
    CHECK(rc == 0, "train --help exited %d", rc);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        CHECK(strstr(out, want[i]) != NULL, "train --help lacks '%s':\n%s", want[i], out);
}

TEST(replay_flags_that_do_not_apply_or_are_missing_exit_2)
{
    static const struct {
        const char *flags, *words;
    } bad[] = {
        {"", "--optimizer sgd needs --lr"},
        {"--optimizer adam --alpha 0.9", "--alpha is not an option of --optimizer adam; only "
                                         "rmsprop takes it"},
        {"--lr 0.1 --eps 0.1", "--plateau-eps"},
        {"--optimizer rmsprop --rho 0.5", "only adadelta takes it"},
        {"--optimizer adam --gamma 0.5", "--gamma is not an option of --scheduler none"},
        {"--optimizer adam --scheduler exponential", "needs --gamma X"},
        {"--optimizer adam --scheduler step", "needs --step-size N"},
        {"--optimizer adam --scheduler cosine --factor 0.5", "only plateau takes it"},
        {"--optimizer adam --scheduler plateau --threshold-mode relative", "rel|abs"},
        {"--optimizer adam --log-every -1", "--log-every"},
        /* PyTorch's constructor checks, before any data is read */
        {"--lr 0.1 --momentum 0.9 --dampening 0.1 --nesterov", "zero dampening"},
        {"--optimizer adam --scheduler warmup --warmup 0", "total_iters > 0"},
        {"--optimizer adam --scheduler plateau --factor 1", "factor < 1"},
    };
    const char *d = t_ref_dir("train");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = t_run_deepc(out, sizeof out, "train %s/mlp.spec --data npy:%s/X.npy,"
                             "%s/Y_class.npy --epochs 1 --quiet %s", d, d, d, bad[i].flags);
        CHECK(rc == 2 && strstr(out, bad[i].words), "train ... %s should exit 2 saying '%s'; "
              "got %d:\n%s", bad[i].flags, bad[i].words, rc, out);
    }
}

/* --quiet: nothing on stdout or stderr after a successful train (tensor, text and series data)
 * or eval; without it they do print. */
TEST(replay_quiet_prints_nothing_on_success)
{
    const char *d = t_ref_dir("train"), *tmp = t_tmpdir();
    char path[600], spec[600];
    snprintf(path, sizeof path, "%s/t.txt", tmp);
    REQUIRE(t_write_text(path, "the cat sat on the mat. the dog sat on the log.\n"
                               "a cat and a dog sat on a mat and a log.\n"));
    snprintf(path, sizeof path, "%s/s.csv", tmp);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fprintf(f, "v\n");
    for (int i = 0; i < 60; i++)
        fprintf(f, "%d\n", (i * 7) % 11);
    fclose(f);
    snprintf(spec, sizeof spec, "%s/s.spec", tmp);
    REQUIRE(t_write_text(spec, "[input]\nshape = 4, 1\n[flatten]\n[linear fc]\n"
                               "out_features = 1\n"));
    char cmd[4][2048];
    snprintf(cmd[0], sizeof cmd[0], "train %s/mlp.spec --data npy:%s/X.npy,%s/Y_class.npy "
             "--epochs 2 --lr 0.1 --out %s/run --log-every 1", d, d, d, tmp);
    snprintf(cmd[1], sizeof cmd[1], "eval %s/mlp.spec --weights %s/run/model.safetensors "
             "--data npy:%s/X.npy,%s/Y_class.npy", d, tmp, d, d);
    snprintf(cmd[2], sizeof cmd[2], "train models/char_rnn --data text:%s/t.txt --epochs 1 "
             "--batch 2 --bptt 8 --steps 2 --optimizer adam --threads 1", tmp);
    snprintf(cmd[3], sizeof cmd[3], "train %s --data csv:%s,window=4 --epochs 1 --optimizer adam "
             "--threads 1", spec, path);
    for (int i = 0; i < 4; i++) {
        int rc = t_run_deepc(out, sizeof out, "%s", cmd[i]);
        CHECK(rc == 0 && *out, "'%s' exited %d, or printed nothing without --quiet", cmd[i], rc);
        rc = t_run_deepc(out, sizeof out, "%s --quiet", cmd[i]);
        CHECK(rc == 0 && !*out, "'%s --quiet' exited %d and printed:\n%s", cmd[i], rc, out);
    }
}

/* The per-step linear schedule survives a stop and --resume: the same weights as a straight run
 * (its total is the run's epochs of steps, which --steps does not change). */
TEST(replay_linear_schedule_resumes_exactly)
{
    const char *d = t_ref_dir("train"), *tmp = t_tmpdir();
    char args[1024], a[600], b[600];
    snprintf(args, sizeof args, "train %s/mlp.spec --data npy:%s/X.npy,%s/Y_class.npy --batch 8 "
             "--optimizer adam --lr 0.05 --scheduler linear --warmup 3 --epochs 3 --threads 1 "
             "--quiet", d, d, d);
    int rc = t_run_deepc(out, sizeof out, "%s --out %s/straight", args, tmp);
    CHECK(rc == 0, "straight run: %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "%s --steps 7 --save-every 4 --out %s/cut", args, tmp);
    CHECK(rc == 0, "cut run: %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train --resume %s/cut --steps 0", tmp);
    CHECK(rc == 0, "resume: %d %s", rc, out);
    snprintf(a, sizeof a, "%s/straight/model.safetensors", tmp);
    snprintf(b, sizeof b, "%s/cut/model.safetensors", tmp);
    dc_tdict *x = dc_safetensors_read(a), *y = dc_safetensors_read(b);
    CHECK(x && y && x->n == y->n, "cannot read %s / %s", a, b);
    for (int i = 0; x && y && x->n == y->n && i < x->n; i++) {
        const dc_tensor *t = dc_tdict_get(y, x->names[i]);
        CHECK(t && t->dtype == DC_F32 && t->numel == x->tensors[i]->numel &&
              !memcmp(t->data, x->tensors[i]->data, (size_t)t->numel * sizeof(float)),
              "%s differs after the resume", x->names[i]);
    }
    dc_tdict_free(x);
    dc_tdict_free(y);
}

/* --log-every N sets dc_train_opts.log_every: log.csv gets a row every N steps besides the
 * epoch's (5 steps of 8 rows: steps 2 and 4, then the epoch row at 5). */
TEST(replay_log_every_adds_step_rows)
{
    const char *d = t_ref_dir("train"), *tmp = t_tmpdir();
    char path[600], text[2048];
    int rc = t_run_deepc(out, sizeof out, "train %s/mlp.spec --data npy:%s/X.npy,%s/Y_class.npy "
                         "--epochs 1 --batch 8 --lr 0.1 --log-every 2 --quiet --out %s/l", d, d,
                         d, tmp);
    CHECK(rc == 0, "train --log-every 2: %d %s", rc, out);
    snprintf(path, sizeof path, "%s/l/log.csv", tmp);
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    CHECK(strstr(text, "\n2,1,") && strstr(text, "\n4,1,") && strstr(text, "\n5,1,") &&
          !strstr(text, "\n1,1,") && !strstr(text, "\n3,1,"), "log.csv:\n%s", text);
}
