/*
 * test_ref_train.c - whole training runs through `deepc train` against PyTorch
 * (tests/ref/train/, written by tests/ref/gen_train.py).
 *
 * Every case starts from given weights and trains on given tensors in file order:
 *
 *   deepc train SPEC --init INIT --data npy:X,Y --no-shuffle --batch 16 --steps 7 FLAGS --out DIR
 *
 * 40 rows in batches of 16: batches of 16, 16 and 8 rows, two epoch ends (where a scheduler
 * steps) and a stop inside the third epoch. DIR/model.safetensors must then equal PyTorch's
 * weights after the same run within T_REF_RTOL / T_REF_ATOL (rtol 1e-4, atol 1e-5). The
 * references are the float64 result of the run; gen_train.py checks that PyTorch's own float32
 * run lands within a quarter of that tolerance, so a failure here is deepc's, not rounding.
 *
 * The table below repeats each case's arguments; the reference file stores the arguments it was
 * made for (metadata "spec", "init", "x", "y", "flags") and the test fails if they differ, so the
 * two sides cannot drift apart. torch_defaults.safetensors holds the default hyper-parameters of
 * PyTorch's optimizers, checked against dc_optim_defaults (the CLI's defaults, which the cases
 * rely on for the hyper-parameters that they do not pass).
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

#define TRAIN_STEPS 7
#define TRAIN_BATCH 16

static t_names train_names;

static void train_note(const char *name) { t_names_add(&train_names, name); }

/* The reference file's metadata key equals what the table says. */
static void check_meta(const char *cs, const dc_tdict *ref, const char *key, const char *want)
{
    const char *got = dc_tdict_meta(ref, key);
    CHECK(got && !strcmp(got, want), "reftrain %s: the reference was made with %s '%s', the test "
          "runs '%s' (regenerate with tests/ref/gen_train.py or fix the table)", cs, key,
          got ? got : "(missing)", want);
}

/*
 * run_case - train with the CLI and compare every weight with the reference. A weight that is
 * missing, extra or mis-shaped fails like a wrong value.
 */
static void run_case(const char *cs, const char *spec, const char *init, const char *x,
                     const char *y, const char *flags)
{
    char dir[512], out_dir[600], path[700], log[8192], num[32];
    snprintf(dir, sizeof dir, "%s", t_ref_dir("train"));
    dc_tdict *ref = t_ref_load(dir, cs);
    if (!ref)
        return;
    check_meta(cs, ref, "spec", spec);
    check_meta(cs, ref, "init", init);
    check_meta(cs, ref, "x", x);
    check_meta(cs, ref, "y", y);
    check_meta(cs, ref, "flags", flags);
    snprintf(num, sizeof num, "%d", TRAIN_STEPS);
    check_meta(cs, ref, "steps", num);
    snprintf(num, sizeof num, "%d", TRAIN_BATCH);
    check_meta(cs, ref, "batch", num);
    snprintf(out_dir, sizeof out_dir, "%s", t_tmpdir());
    int rc = t_run_deepc(log, sizeof log, "train %s/%s --init %s/%s --data npy:%s/%s,%s/%s "
                         "--no-shuffle --batch %d --steps %d --threads 1 --quiet --out %s %s",
                         dir, spec, dir, init, dir, x, dir, y, TRAIN_BATCH, TRAIN_STEPS,
                         out_dir, flags);
    CHECK(rc == 0, "reftrain %s: deepc train ... %s exited %d:\n%s", cs, flags, rc, log);
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    dc_tdict *got = rc == 0 ? dc_safetensors_read(path) : NULL;
    CHECK(rc != 0 || got, "reftrain %s: cannot read %s: %s", cs, path, dc_last_error());
    if (got) {
        CHECK(got->n == ref->n, "reftrain %s: deepc wrote %d tensors, PyTorch's state_dict has "
              "%d", cs, got->n, ref->n);
        for (int i = 0; i < ref->n; i++) {
            const dc_tensor *g = dc_tdict_get(got, ref->names[i]);
            CHECK(g != NULL, "reftrain %s: %s is missing from deepc's weights", cs,
                  ref->names[i]);
            if (g)
                t_ref_compare(cs, ref->names[i], g, g->data, ref->tensors[i]);
        }
    }
    dc_tdict_free(got);
    dc_tdict_free(ref);
}

#define REF_TRAIN(nm, spec, x, y, flags)                                               \
    __attribute__((constructor)) static void reftrain_note_##nm(void)                  \
    {                                                                                  \
        train_note(#nm);                                                               \
    }                                                                                  \
    TEST(reftrain_##nm)                                                                \
    {                                                                                  \
        run_case(#nm, spec, !strncmp(spec, "conv", 4) ? "init_conv.safetensors"        \
                                                       : "init_mlp.safetensors",       \
                 x, y, flags);                                                         \
    }

/* Every optimizer variant, cross-entropy on mlp.spec (Linear(6,8) -> ReLU -> Linear(8,3)). */
REF_TRAIN(sgd, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer sgd --lr 0.2")
REF_TRAIN(sgd_momentum, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer sgd --lr 0.1 --momentum 0.9")
REF_TRAIN(sgd_nesterov, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer sgd --lr 0.1 --momentum 0.9 "
          "--nesterov")
REF_TRAIN(sgd_wd, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer sgd --lr 0.1 --momentum 0.9 --weight-decay 0.05")
REF_TRAIN(adagrad, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer adagrad --lr 0.05")
REF_TRAIN(rmsprop, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer rmsprop --lr 0.01")
REF_TRAIN(rmsprop_centered_momentum, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer rmsprop --lr 0.005 --momentum 0.5 "
          "--centered")
REF_TRAIN(adadelta, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer adadelta --lr 1")
REF_TRAIN(adam, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer adam --lr 0.02")
REF_TRAIN(adam_amsgrad, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer adam --lr 0.02 "
          "--betas 0.9,0.5 --amsgrad")
REF_TRAIN(adamw, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer adamw --lr 0.02 --weight-decay 0.1")

/* Every other loss with SGD + momentum; nll after mlp_logsoftmax.spec, bce after
 * mlp_sigmoid.spec. */
REF_TRAIN(loss_nll, "mlp_logsoftmax.spec", "X.npy", "Y_class.npy",
          "--loss nll --optimizer sgd --lr 0.1 --momentum 0.9")
REF_TRAIN(loss_mse, "mlp.spec", "X.npy", "Y_reg.npy",
          "--loss mse --optimizer sgd --lr 0.05 --momentum 0.9")
REF_TRAIN(loss_l1, "mlp.spec", "X.npy", "Y_reg.npy",
          "--loss l1 --optimizer sgd --lr 0.1 --momentum 0.9")
REF_TRAIN(loss_smooth_l1, "mlp.spec", "X.npy", "Y_reg.npy",
          "--loss smooth_l1 --optimizer sgd --lr 0.1 --momentum 0.9")
REF_TRAIN(loss_huber, "mlp.spec", "X.npy", "Y_reg.npy",
          "--loss huber --optimizer sgd --lr 0.1 --momentum 0.9")
REF_TRAIN(loss_bce, "mlp_sigmoid.spec", "X.npy", "Y_bin.npy",
          "--loss bce --optimizer sgd --lr 0.2 --momentum 0.9")
REF_TRAIN(loss_bce_with_logits, "mlp.spec", "X.npy", "Y_bin.npy",
          "--loss bce_with_logits --optimizer sgd --lr 0.2 --momentum 0.9")

/* Clipping (norms 0.94 .. 0.51 around 0.7: some steps clipped, some not), a cosine schedule
 * stepped per epoch (T_max = the 3 epochs of the run: lr 0.1, 0.075, 0.025), a conv net. */
REF_TRAIN(sgd_clip, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer sgd --lr 0.1 --momentum 0.9 "
          "--clip 0.7")
REF_TRAIN(sgd_cosine, "mlp.spec", "X.npy", "Y_class.npy",
          "--loss cross_entropy --optimizer sgd --lr 0.1 --momentum 0.9 "
          "--scheduler cosine")
REF_TRAIN(conv_adam, "conv.spec", "X_conv.npy", "Y_class_conv.npy",
          "--loss cross_entropy --optimizer adam --lr 0.01")

/* ------------------------------------------------------------------------------------------ */
/* PyTorch's default hyper-parameters = dc_optim_defaults                                      */
/* ------------------------------------------------------------------------------------------ */

/* The field of c that PyTorch's argument `key` sets, as a double; 0 if deepc has none. */
static int cfg_field(const dc_optim_cfg *c, const char *key, double *v)
{
    static const struct {
        const char *key;
        size_t off;
        int is_int;
    } f[] = {
#define F_(k, fld, i) {k, offsetof(dc_optim_cfg, fld), i}
        F_("lr", lr, 0), F_("weight_decay", weight_decay, 0), F_("momentum", momentum, 0),
        F_("dampening", dampening, 0), F_("nesterov", nesterov, 1), F_("alpha", alpha, 0),
        F_("centered", centered, 1), F_("eps", eps, 0), F_("rho", rho, 0),
        F_("lr_decay", lr_decay, 0),
        F_("initial_accumulator_value", initial_accumulator_value, 0),
        F_("beta1", beta1, 0), F_("beta2", beta2, 0), F_("amsgrad", amsgrad, 1),
        F_("maximize", maximize, 1),
#undef F_
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (!strcmp(f[i].key, key)) {
            const char *p = (const char *)c + f[i].off;
            *v = f[i].is_int ? (double)*(const int *)(const void *)p
                             : (double)*(const float *)(const void *)p;
            return 1;
        }
    return 0;
}

TEST(reftrain_torch_defaults_equal_dc_optim_defaults)
{
    dc_tdict *d = t_ref_load(t_ref_dir("train"), "torch_defaults");
    if (!d)
        return;
    int seen[DC_ADAMW + 1] = {0};
    for (int i = 0; i < d->n; i++) {
        char opt[32];
        const char *name = d->names[i], *dot = strchr(name, '.');
        dc_optim_kind k;
        double got;
        if (!dot || (size_t)(dot - name) >= sizeof opt) {
            CHECK(0, "torch_defaults: bad name '%s'", name);
            continue;
        }
        memcpy(opt, name, (size_t)(dot - name));
        opt[dot - name] = '\0';
        if (dc_optim_kind_parse(opt, &k) != DC_OK) {
            CHECK(0, "torch_defaults: '%s' is not a deepc optimizer", name);
            continue;
        }
        seen[k]++;
        dc_optim_cfg c = dc_optim_defaults(k);
        const dc_tensor *t = d->tensors[i];
        if (!cfg_field(&c, dot + 1, &got)) {
            CHECK(0, "torch_defaults: deepc has no hyper-parameter for PyTorch's %s", name);
            continue;
        }
        if (t->dtype != DC_F32 || t->numel != 1) {
            CHECK(0, "torch_defaults: %s is not one float", name);
            continue;
        }
        CHECK(got == (double)dc_f32(t)[0], "dc_optim_defaults(%s).%s = %.9g, PyTorch's default "
              "is %.9g", opt, dot + 1, got, (double)dc_f32(t)[0]);
    }
    for (int k = 0; k <= DC_ADAMW; k++)
        CHECK(seen[k] >= 4, "torch_defaults: only %d defaults of %s", seen[k],
              dc_optim_kind_name((dc_optim_kind)k));
    dc_tdict_free(d);
}

/* ------------------------------------------------------------------------------------------ */
/* Every reference file has a test, and every test its file                                   */
/* ------------------------------------------------------------------------------------------ */

TEST(reftrain_every_file_has_a_test)
{
    t_names all = train_names;
    t_names_add(&all, "init_mlp");         /* used by every mlp case */
    t_names_add(&all, "init_conv");        /* conv_adam */
    t_names_add(&all, "torch_defaults");   /* reftrain_torch_defaults_equal_dc_optim_defaults */
    t_ref_check_files(t_ref_dir("train"), &all, NULL, "tests/test_ref_train.c");
}
