/*
 * test_sched_resume.c - a scheduler stopped and resumed goes on exactly as if it had never
 * stopped: ReduceLROnPlateau's best metric, bad-epoch and cooldown counters survive a state
 * round trip taken in the middle of a plateau; a small training loop checkpointed half way
 * (dc_checkpoint_save / _load) ends with bitwise the same weights and lr as a straight run, with
 * the plateau scheduler and with StepLR; and the same through `deepc train --resume`.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPOCHS 12
/* A loss that improves, stalls (a plateau long enough for two reductions with patience 1 and a
 * cooldown), improves by less than the 10% threshold, then improves clearly. */
static const float METRIC[EPOCHS] = {10.0f, 8.0f, 8.5f, 7.9f, 9.0f, 7.7f,
                                     7.5f,  7.6f, 5.0f, 5.1f, 5.2f, 5.3f};

static dc_sched_cfg plateau_cfg(void)
{
    dc_sched_cfg c = dc_sched_defaults(DC_SCHED_PLATEAU);
    c.factor = 0.5f;
    c.patience = 1;
    c.cooldown = 1;
    c.threshold = 0.1f;
    return c;
}

static dc_sched_cfg step_cfg(void)
{
    dc_sched_cfg c = dc_sched_defaults(DC_SCHED_STEP);
    c.step_size = 3;
    c.gamma = 0.5f;
    return c;
}

static dc_model *one_param_model(void)
{
    dc_model *m = dc_model_new();
    dc_tensor *w = m ? dc_model_add_param(m, "fc.weight", DC_F32, 1, DC_SHAPE(6), 0) : NULL;
    if (!w) {
        dc_model_free(m);
        return NULL;
    }
    for (int i = 0; i < 6; i++)
        dc_f32(w)[i] = 0.25f * (float)(i - 2);
    return m;
}

/* The fields of a saved state: "kind epoch lr best bad cooldown". */
static int state_counters(const char *st, int *bad, int *cooldown)
{
    char kind[32], lr[64], best[64];
    long long epoch;
    return sscanf(st, "%31s %lld %63s %63s %d %d", kind, &epoch, lr, best, bad, cooldown) == 6;
}

/* For every split epoch k: steps 0..k-1 on one scheduler, its state saved and loaded into a
 * fresh scheduler over a fresh optimizer, steps k.. there; the lr after every epoch and the
 * final state text must equal the straight run's. */
TEST(sched_plateau_state_round_trip_mid_plateau)
{
    dc_model *m = one_param_model();
    REQUIRE(m);
    dc_optim_cfg oc = dc_optim_defaults(DC_SGD);
    oc.lr = 0.1f;
    const dc_sched_cfg sc = plateau_cfg();
    dc_optim *o = dc_optim_new(m, &oc);
    dc_sched *s = o ? dc_sched_new(o, &sc) : NULL;
    REQUIRE(o && s);
    float want[EPOCHS];
    char states[EPOCHS][160], final_state[160];
    for (int e = 0; e < EPOCHS; e++) {
        dc_sched_state_save(s, states[e], sizeof states[e]); /* state before epoch e's step */
        dc_sched_step(s, METRIC[e]);
        want[e] = dc_optim_lr(o);
    }
    dc_sched_state_save(s, final_state, sizeof final_state);
    dc_sched_free(s);
    dc_optim_free(o);
    CHECK(want[EPOCHS - 1] < 0.1f * 0.5f * 0.99f, "the metric should cause two reductions: %g",
          (double)want[EPOCHS - 1]);
    int saw_bad = 0, saw_cooldown = 0;
    for (int k = 1; k < EPOCHS; k++) {
        int bad = 0, cool = 0;
        CHECK(state_counters(states[k], &bad, &cool), "state text '%s'", states[k]);
        saw_bad |= bad > 0;
        saw_cooldown |= cool > 0;
        dc_optim *o2 = dc_optim_new(m, &oc);
        dc_sched *s2 = o2 ? dc_sched_new(o2, &sc) : NULL;
        REQUIRE(o2 && s2);
        CHECK(dc_sched_state_load(s2, states[k]) == DC_OK, "load '%s': %s", states[k],
              dc_last_error());
        char again[160];
        dc_sched_state_save(s2, again, sizeof again);
        CHECK(!strcmp(again, states[k]), "split %d: saved '%s', loaded back as '%s'", k,
              states[k], again);
        CHECK(dc_optim_lr(o2) == (k ? want[k - 1] : 0.1f), "split %d: lr %g after load", k,
              (double)dc_optim_lr(o2));
        for (int e = k; e < EPOCHS; e++) {
            dc_sched_step(s2, METRIC[e]);
            CHECK(dc_optim_lr(o2) == want[e], "split at %d: lr after epoch %d is %g, the straight "
                  "run's %g", k, e + 1, (double)dc_optim_lr(o2), (double)want[e]);
        }
        dc_sched_state_save(s2, again, sizeof again);
        CHECK(!strcmp(again, final_state), "split %d: final state '%s', straight '%s'", k, again,
              final_state);
        dc_sched_free(s2);
        dc_optim_free(o2);
    }
    CHECK(saw_bad && saw_cooldown, "the splits must include a bad-epoch count (%d) and a "
          "cooldown (%d)", saw_bad, saw_cooldown);
    dc_model_free(m);
}

/* Three SGD steps per epoch towards a target, then sched step with METRIC[e]. */
static void run_epochs(dc_model *m, dc_optim *o, dc_sched *s, int e0, int e1)
{
    dc_tensor *w = dc_model_tensor(m, 0);
    for (int e = e0; e < e1; e++) {
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < 6; i++)
                w->grad[i] = 2.0f * (dc_f32(w)[i] - (float)(i % 3)) + 0.01f * (float)k;
            CHECK(dc_optim_step(o) == DC_OK, "step: %s", dc_last_error());
        }
        dc_sched_step(s, METRIC[e]);
    }
}

/* Straight run vs a run checkpointed after `split` epochs into a file and resumed in a fresh
 * model, optimizer and scheduler: bitwise the same weights, lr and scheduler state. */
static void ckpt_resume_case(const dc_sched_cfg *sc, int split, const char *what)
{
    char path[512], sa[160], sb[160];
    snprintf(path, sizeof path, "%s/ck-%s-%d", t_tmpdir(), what, split);
    dc_optim_cfg oc = dc_optim_defaults(DC_SGD);
    oc.lr = 0.1f;
    oc.momentum = 0.9f;
    dc_model *ma = one_param_model(), *mb = one_param_model();
    dc_optim *oa = ma ? dc_optim_new(ma, &oc) : NULL, *ob = mb ? dc_optim_new(mb, &oc) : NULL;
    dc_sched *sa_ = oa ? dc_sched_new(oa, sc) : NULL, *sb_ = ob ? dc_sched_new(ob, sc) : NULL;
    REQUIRE(sa_ && sb_);
    run_epochs(ma, oa, sa_, 0, EPOCHS);
    run_epochs(mb, ob, sb_, 0, split);
    dc_checkpoint_info info = {.epoch = split, .step = 3 * split, .spec = "spec", .args = "args"};
    REQUIRE(dc_checkpoint_save(path, mb, ob, sb_, &info, NULL) == DC_OK);
    dc_sched_free(sb_);
    dc_optim_free(ob);
    dc_model_free(mb);
    mb = one_param_model(); /* fresh: the initial weights and lr again */
    ob = mb ? dc_optim_new(mb, &oc) : NULL;
    sb_ = ob ? dc_sched_new(ob, sc) : NULL;
    REQUIRE(sb_);
    dc_checkpoint_info got;
    REQUIRE(dc_checkpoint_load(path, mb, ob, sb_, &got, NULL) == DC_OK);
    CHECK(got.epoch == split && dc_optim_steps(ob) == 3 * split, "%s: counters %lld %lld", what,
          (long long)got.epoch, (long long)dc_optim_steps(ob));
    dc_checkpoint_info_free(&got);
    run_epochs(mb, ob, sb_, split, EPOCHS);
    CHECK(!memcmp(dc_model_tensor(ma, 0)->data, dc_model_tensor(mb, 0)->data, 6 * sizeof(float)),
          "%s split at epoch %d: the resumed weights differ from the straight run's", what, split);
    CHECK(dc_optim_lr(oa) == dc_optim_lr(ob), "%s split at %d: lr %g vs straight %g", what, split,
          (double)dc_optim_lr(ob), (double)dc_optim_lr(oa));
    dc_sched_state_save(sa_, sa, sizeof sa);
    dc_sched_state_save(sb_, sb, sizeof sb);
    CHECK(!strcmp(sa, sb), "%s split at %d: scheduler state '%s', straight '%s'", what, split, sb,
          sa);
    dc_sched_free(sa_);
    dc_sched_free(sb_);
    dc_optim_free(oa);
    dc_optim_free(ob);
    dc_model_free(ma);
    dc_model_free(mb);
}

TEST(sched_checkpoint_resume_is_bitwise_plateau_and_step)
{
    const dc_sched_cfg plateau = plateau_cfg(), step = step_cfg();
    /* plateau states after 3, 4, 5, 9 epochs: one bad epoch; in cooldown; best 8 with the next
     * metric not 10% better; best 5 (sched_plateau_state_round_trip_mid_plateau tries all) */
    static const int psplit[4] = {3, 4, 5, 9}, ssplit[2] = {2, 4};
    for (int i = 0; i < 4; i++)
        ckpt_resume_case(&plateau, psplit[i], "plateau");
    for (int i = 0; i < 2; i++)
        ckpt_resume_case(&step, ssplit[i], "step");
}

/* ---- the same through the CLI: stop inside epoch 2, resume, compare with a straight run ---- */

#define TRAIN_S "train models/lenet5 --data npy:%s/d_x.npy,%s/d_y.npy --optimizer sgd --lr 0.05 " \
                "--batch 32 --threads 1 --seed 4 --quiet --epochs 3 --scheduler %s"

TEST(sched_cli_resume_bitwise_with_step_and_plateau)
{
    const char *d = t_tmpdir();
    static const char *const scheds[2] = {"step --step-size 1 --gamma 0.5", "plateau"};
    char out[4096], a[512], b[512];
    /* 3 steps per epoch: --steps 4 stops inside epoch 2 */
    REQUIRE(t_write_blobs_npy(d, "d", 96, 5));
    for (int k = 0; k < 2; k++) {
        int rc = t_run_deepc(out, sizeof out, TRAIN_S " --out %s/s%d", d, d, scheds[k], d, k);
        REQUIRE(rc == 0);
        rc = t_run_deepc(out, sizeof out, TRAIN_S " --steps 4 --out %s/c%d", d, d, scheds[k], d,
                         k);
        CHECK(rc == 0, "cut run (%s): %s", scheds[k], out);
        rc = t_run_deepc(out, sizeof out, "train --resume %s/c%d --steps 0", d, k);
        CHECK(rc == 0, "resume (%s): rc %d %s", scheds[k], rc, out);
        snprintf(a, sizeof a, "%s/s%d/model.safetensors", d, k);
        snprintf(b, sizeof b, "%s/c%d/model.safetensors", d, k);
        CHECK(t_same_file(a, b), "--scheduler %s: resumed weights differ from the straight run",
              scheds[k]);
    }
}
