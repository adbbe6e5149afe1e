/*
 * test_ckpt_crc.c - the checkpoint's CRC covers everything that --resume trusts: one character
 * changed inside any metadata value (the stored args such as --lr, the model spec, the counters,
 * the RNG states, the scheduler state) or one byte of tensor data makes dc_checkpoint_peek and
 * dc_checkpoint_load refuse the file with "checksum", and the model is left untouched. The
 * changes keep each value well-formed, so only the checksum can catch them.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS "--optimizer sgd --lr 0.125 --batch 32 --seed 77"
#define SPEC "# tiny model for the checksum test: linear in 6 out 3"

static dc_model *ck_model(void)
{
    dc_model *m = dc_model_new();
    dc_tensor *w = m ? dc_model_add_param(m, "fc.weight", DC_F32, 2, DC_SHAPE(3, 6), 0) : NULL;
    dc_tensor *b = m ? dc_model_add_param(m, "fc.bias", DC_F32, 1, DC_SHAPE(3), 0) : NULL;
    if (!w || !b) {
        dc_model_free(m);
        return NULL;
    }
    for (int i = 0; i < 18; i++)
        dc_f32(w)[i] = 0.5f + 0.125f * (float)i;
    dc_tensor_fill(b, -1.5f);
    return m;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = malloc(1 << 16);
    *n = buf ? fread(buf, 1, 1 << 16, f) : 0;
    fclose(f);
    return buf;
}

static int spill(const char *path, const unsigned char *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(buf, 1, n, f) == n;
    return (fclose(f) == 0) & ok;
}

/* Offset of the only occurrence of s in buf, or -1 (none or several). */
static long find_once(const unsigned char *buf, size_t n, const char *s)
{
    size_t k = strlen(s);
    long at = -1;
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(buf + i, s, k)) {
            if (at >= 0)
                return -1;
            at = (long)i;
        }
    return at;
}

/* Write the file with buf[at] replaced by c; then peek and load must refuse it by checksum. */
static void expect_refused(const char *path, unsigned char *buf, size_t n, long at,
                           unsigned char c, const char *what)
{
    REQUIRE(at >= 0 && (size_t)at < n);
    unsigned char keep = buf[at];
    buf[at] = c;
    REQUIRE(spill(path, buf, n));
    buf[at] = keep;
    dc_checkpoint_info info;
    dc_clear_error();
    dc_status st = dc_checkpoint_peek(path, &info);
    CHECK(st != DC_OK && strstr(dc_last_error(), "checksum"),
          "%s: peek %s (%s)", what, st == DC_OK ? "accepted it" : "refused it, but", dc_last_error());
    if (st == DC_OK)
        dc_checkpoint_info_free(&info);
    dc_model *m = ck_model();
    REQUIRE(m);
    dc_tensor_fill(dc_model_find(m, "fc.bias"), 9.0f);
    dc_clear_error();
    st = dc_checkpoint_load(path, m, NULL, NULL, &info, NULL);
    CHECK(st != DC_OK && strstr(dc_last_error(), "checksum"), "%s: load %s (%s)", what,
          st == DC_OK ? "accepted it" : "refused it, but", dc_last_error());
    if (st == DC_OK)
        dc_checkpoint_info_free(&info);
    CHECK(dc_f32(dc_model_find(m, "fc.bias"))[0] == 9.0f, "%s: the refused load changed the model",
          what);
    dc_model_free(m);
}

TEST(ckpt_checksum_covers_args_spec_counters_and_data)
{
    const char *d = t_tmpdir();
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/checkpoint", d);
    snprintf(bad, sizeof bad, "%s/damaged", d);
    dc_model *m = ck_model();
    REQUIRE(m);
    dc_checkpoint_info info = {.epoch = 12345, .step = 67890, .pos = 24680, .spec = SPEC,
                               .args = ARGS};
    dc_rng_seed(&info.rng, 99, 1);
    dc_rng_seed(&info.aug_rng, 98, 2);
    REQUIRE(dc_checkpoint_save(path, m, NULL, NULL, &info, NULL) == DC_OK);
    dc_checkpoint_info got;
    REQUIRE(dc_checkpoint_peek(path, &got) == DC_OK);
    CHECK(!strcmp(got.args, ARGS) && !strcmp(got.spec, SPEC) && got.epoch == 12345,
          "round trip: args '%s' spec '%s'", got.args, got.spec);
    dc_checkpoint_info_free(&got);
    size_t n = 0;
    unsigned char *buf = slurp(path, &n);
    REQUIRE(buf && n > 100);
    long at = find_once(buf, n, "--lr 0.125");
    expect_refused(bad, buf, n, at + 7, '2', "--lr 0.125 -> 0.225 in the stored args");
    at = find_once(buf, n, "--seed 77");
    expect_refused(bad, buf, n, at + 8, '8', "--seed 77 -> 78 in the stored args");
    at = find_once(buf, n, "in 6 out 3");
    expect_refused(bad, buf, n, at + 3, '7', "in 6 -> in 7 in the stored spec");
    at = find_once(buf, n, "# tiny");
    expect_refused(bad, buf, n, at + 2, 'T', "a letter of the stored spec");
    at = find_once(buf, n, "12345");
    expect_refused(bad, buf, n, at + 4, '6', "the epoch");
    at = find_once(buf, n, "67890");
    expect_refused(bad, buf, n, at + 4, '1', "the step");
    at = find_once(buf, n, "24680");
    expect_refused(bad, buf, n, at + 4, '1', "the position");
    char rng[40];
    snprintf(rng, sizeof rng, "%016llx", (unsigned long long)info.rng.state);
    at = find_once(buf, n, rng);
    expect_refused(bad, buf, n, at + 15, rng[15] == 'a' ? 'b' : 'a', "the data-order RNG");
    snprintf(rng, sizeof rng, "%016llx", (unsigned long long)info.aug_rng.state);
    at = find_once(buf, n, rng);
    expect_refused(bad, buf, n, at + 15, rng[15] == 'a' ? 'b' : 'a', "the augmentation RNG");
    /* tensor data: the last byte of the file (fc.weight's last float) */
    expect_refused(bad, buf, n, (long)n - 1, buf[n - 1] ^ 0x01, "one bit of tensor data");
    free(buf);
    dc_model_free(m);
}

/* The scheduler state is metadata too: its epoch digit changed must be refused. */
TEST(ckpt_checksum_covers_the_scheduler_state)
{
    const char *d = t_tmpdir();
    char path[512], bad[512], st[160];
    snprintf(path, sizeof path, "%s/checkpoint", d);
    snprintf(bad, sizeof bad, "%s/damaged", d);
    dc_model *m = ck_model();
    REQUIRE(m);
    dc_optim_cfg oc = dc_optim_defaults(DC_SGD);
    dc_optim *o = dc_optim_new(m, &oc);
    dc_sched_cfg sc = dc_sched_defaults(DC_SCHED_STEP);
    sc.step_size = 2;
    dc_sched *s = o ? dc_sched_new(o, &sc) : NULL;
    REQUIRE(s);
    for (int e = 0; e < 7; e++)
        dc_sched_step(s, 0);
    dc_checkpoint_info info = {.epoch = 7, .spec = SPEC, .args = ARGS};
    REQUIRE(dc_checkpoint_save(path, m, o, s, &info, NULL) == DC_OK);
    size_t n = 0;
    unsigned char *buf = slurp(path, &n);
    REQUIRE(buf);
    dc_sched_state_save(s, st, sizeof st);
    REQUIRE(!strncmp(st, "step 7 ", 7));
    long at = find_once(buf, n, st);
    expect_refused(bad, buf, n, at + 5, '6', "the scheduler's epoch 7 -> 6");
    free(buf);
    dc_sched_free(s);
    dc_optim_free(o);
    dc_model_free(m);
}
