/*
 * test_time_limit.c - dc_train_opts.time_limit stops at the first step boundary past the limit:
 * the clock is read after each step. A task whose every step takes 30 ms with a limit of 10 ms
 * stops after exactly one step (reading the clock before each step ran a second one). A stop
 * request (a signal's flag) raised during an epoch's last step stops at that epoch's end with a
 * checkpoint that resumes (it wrote position total-of-total, which no resume accepts).
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>

static dc_tensor *(*inner_loss)(dc_task *, dc_ctx *, dc_model *, dc_tensor *, dc_tensor *,
                                double *);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The dataset task's loss after 30 ms of waiting (a slow step). */
static dc_tensor *slow_loss(dc_task *t, dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor *y,
                            double *correct)
{
    const double t0 = now_s();
    while (now_s() - t0 < 0.03)
        ;
    return inner_loss(t, ctx, m, x, y, correct);
}

/* 64 examples of 4 features in 2 classes, a linear model, and options of 16 steps an epoch. */
typedef struct fixture {
    dc_dataset *d;
    dc_model *m;
    dc_train_opts o;
} fixture;

static int fixture_make(fixture *f)
{
    dc_tensor *xs = dc_tensor_new(DC_F32, 2, DC_SHAPE(64, 4));
    dc_tensor *ys = dc_tensor_new(DC_I64, 1, DC_SHAPE(64));
    for (int i = 0; ys && i < 64; i++)
        dc_i64(ys)[i] = i % 2;
    f->d = xs && ys ? dc_dataset_tensors(xs, ys) : NULL;
    dc_spec *s = dc_spec_parse_string("[input]\nshape = 4\n[linear fc]\nout_features = 2\n", "tl");
    dc_rng rng;
    dc_rng_seed(&rng, 1, 0);
    f->m = s ? dc_spec_build(s, &rng) : NULL;
    dc_spec_free(s);
    f->o = dc_train_defaults();
    f->o.batch_size = 4; /* 16 steps an epoch */
    f->o.optim.lr = 0.01f;
    f->o.progress = 0;
    return f->d && f->m;
}

static void fixture_free(fixture *f)
{
    dc_model_free(f->m);
    dc_dataset_free(f->d);
}

TEST(time_limit_stops_after_the_step_that_passes_it)
{
    fixture f;
    REQUIRE(fixture_make(&f));
    dc_train_opts o = f.o;
    o.epochs = 5;
    o.time_limit = 0.01;
    dc_task *t = dc_task_dataset(f.d, &o);
    REQUIRE(t);
    inner_loss = t->loss;
    t->loss = slow_loss;
    dc_task_eval last;
    dc_status st = dc_train_task(f.m, t, &o, &last);
    CHECK(st == DC_OK && last.steps == 1, "status %d, %lld steps (want 1): %s", (int)st,
          (long long)last.steps, dc_last_error());
    dc_task_free(t);
    fixture_free(&f);
}

static volatile sig_atomic_t stop_flag;
static int calls;

/* The dataset task's loss; the 16th call (an epoch's last step) raises the stop flag, as a
 * SIGINT during that step would. */
static dc_tensor *stop_on_16(dc_task *t, dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor *y,
                             double *correct)
{
    if (++calls == 16)
        stop_flag = SIGINT;
    return inner_loss(t, ctx, m, x, y, correct);
}

TEST(stop_on_an_epochs_last_step_checkpoints_a_position_that_resumes)
{
    fixture f;
    REQUIRE(fixture_make(&f));
    char dir[600], ck[700];
    snprintf(dir, sizeof dir, "%s/run", t_tmpdir());
    snprintf(ck, sizeof ck, "%s/checkpoint", dir);
    REQUIRE(mkdir(dir, 0755) == 0);
    dc_train_opts o = f.o;
    o.epochs = 3;
    o.out_dir = dir;
    o.stop = &stop_flag;
    dc_task *t = dc_task_dataset(f.d, &o);
    REQUIRE(t);
    inner_loss = t->loss;
    t->loss = stop_on_16;
    stop_flag = 0;
    calls = 0;
    dc_status st = dc_train_task(f.m, t, &o, NULL);
    dc_checkpoint_info info;
    CHECK(st == DC_ERR_STATE, "a stop request should end the run with DC_ERR_STATE, got %d",
          (int)st);
    CHECK(dc_checkpoint_peek(ck, &info) == DC_OK && info.step == 16 && info.pos == 0,
          "checkpoint: %s (step %lld, pos %lld; want 16 and 0)", dc_last_error(),
          (long long)info.step, (long long)info.pos);
    dc_checkpoint_info_free(&info);
    dc_task_free(t);
    fixture_free(&f);
}
