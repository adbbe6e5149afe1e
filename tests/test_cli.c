/*
 * test_cli.c - the deepc command as a user runs it: exit codes, messages, and a small
 * train -> eval -> forward round on data the test makes.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char out[1 << 16];

TEST(cli_gradcheck_every_op_passes)
{
    int rc = t_run_deepc(out, sizeof out, "gradcheck");
    CHECK(rc == 0, "deepc gradcheck exited %d:\n%s", rc, out);
    static const char *must[] = {"add", "matmul", "linear", "sum", "reshape", "concat", "slice",
                                 "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax",
                                 "log_softmax", "dropout", "mse", "l1", "smooth_l1", "huber",
                                 "cross_entropy", "nll", "bce", "conv2d", "max_pool2d",
                                 "avg_pool2d", "adaptive_avg_pool2d", "batch_norm"};
    for (size_t i = 0; i < sizeof must / sizeof *must; i++)
        CHECK(strstr(out, must[i]) != NULL, "gradcheck output has no '%s' case", must[i]);
    CHECK(strstr(out, "FAIL") == NULL, "a gradcheck case failed:\n%s", out);
}

TEST(cli_usage_errors_exit_2)
{
    CHECK(t_run_deepc(out, sizeof out, "no-such-command") == 2, "unknown command should exit 2");
    CHECK(strstr(out, "unknown command"), "message: %s", out);
    CHECK(t_run_deepc(out, sizeof out, "train models/lenet5 --data digits --epochs zero") == 2,
          "bad number should exit 2");
    CHECK(strstr(out, "--epochs") && strstr(out, "zero"), "message should name flag and "
          "value: %s", out);
    CHECK(t_run_deepc(out, sizeof out, "train models/lenet5 --data nosuch --lr 0.01") == 2, "bad --data");
    CHECK(strstr(out, "unknown --data"), "message: %s", out);
}

TEST(cli_bad_spec_names_file_and_line)
{
    const char *dir = t_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/bad.spec", dir);
    REQUIRE(t_write_text(path, "[input]\nshape = 4\n[linear fc]\nout_features = 3\n"
                               "kernel = 5\n"));
    int rc = t_run_deepc(out, sizeof out, "summary %s", path);
    CHECK(rc == 2, "bad spec should exit 2, got %d", rc);
    CHECK(strstr(out, "bad.spec:5") && strstr(out, "unknown key"), "message: %s", out);
}

TEST(cli_summary_lenet5)
{
    int rc = t_run_deepc(out, sizeof out, "summary models/lenet5");
    CHECK(rc == 0, "summary exited %d: %s", rc, out);
    CHECK(strstr(out, "61,706") != NULL, "LeNet-5 should report 61,706 parameters:\n%s", out);
    CHECK(strstr(out, "[1, 16, 5, 5]") != NULL, "S4 output shape missing:\n%s", out);
}

/* Three Gaussian blobs in 4-D, labels 0..2, as .npy files. */
static void write_blobs(const char *dir, int n)
{
    char px[1024], py[1024];
    dc_tensor *x = dc_tensor_new(DC_F32, 2, DC_SHAPE(n, 4));
    dc_tensor *y = dc_tensor_new(DC_I64, 1, DC_SHAPE(n));
    dc_rng r;
    dc_rng_seed(&r, 7, 0);
    for (int i = 0; i < n; i++) {
        int c = i % 3;
        dc_i64(y)[i] = c;
        for (int j = 0; j < 4; j++)
            dc_f32(x)[i * 4 + j] = (j == c ? 2.0f : 0.0f) + 0.5f * dc_rng_normal(&r);
    }
    snprintf(px, sizeof px, "%s/x.npy", dir);
    snprintf(py, sizeof py, "%s/y.npy", dir);
    CHECK(dc_npy_save(px, x) == DC_OK && dc_npy_save(py, y) == DC_OK, "npy save: %s",
          dc_last_error());
    dc_tensor_free(x);
    dc_tensor_free(y);
}

TEST(cli_train_eval_forward_round_trip)
{
    const char *tmp = t_tmpdir();
    char dir[512], spec[600];
    snprintf(dir, sizeof dir, "%s", tmp);
    snprintf(spec, sizeof spec, "%s/mlp.spec", dir);
    REQUIRE(t_write_text(spec, "[input]\nshape = 4\n[linear fc1]\nout_features = 16\n[tanh]\n"
                               "[linear fc2]\nout_features = 3\n"));
    write_blobs(dir, 300);
    int rc = t_run_deepc(out, sizeof out, "train %s --data npy:%s/x.npy,%s/y.npy --epochs 30 "
                         "--batch 32 --optimizer adam --lr 0.01 --out %s/run --quiet", spec, dir,
                         dir, dir);
    CHECK(rc == 0, "train exited %d:\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "eval %s --weights %s/run/model.safetensors --data "
                     "npy:%s/x.npy,%s/y.npy", spec, dir, dir, dir);
    CHECK(rc == 0, "eval exited %d:\n%s", rc, out);
    const char *acc = strstr(out, "accuracy ");
    double a = acc ? atof(acc + 9) : 0;
    CHECK(a > 0.9, "blob accuracy %.3f should exceed 0.9:\n%s", a, out);
    rc = t_run_deepc(out, sizeof out, "forward %s --weights %s/run/model.safetensors --input "
                     "%s/x.npy --output %s/y_pred.npy", spec, dir, dir, dir);
    CHECK(rc == 0, "forward exited %d:\n%s", rc, out);
    char yp[600];
    snprintf(yp, sizeof yp, "%s/y_pred.npy", dir);
    dc_tensor *y = dc_npy_load(yp);
    CHECK(y && y->ndim == 2 && y->shape[0] == 300 && y->shape[1] == 3,
          "forward output should be [300, 3]: %s", y ? "wrong shape" : dc_last_error());
    /* --bf16: the same forward with bfloat16 products: near, not equal; refused by train */
    rc = t_run_deepc(out, sizeof out, "forward %s --weights %s/run/model.safetensors --input "
                     "%s/x.npy --output %s/y_bf16.npy --bf16", spec, dir, dir, dir);
    CHECK(rc == 0, "forward --bf16 exited %d:\n%s", rc, out);
    snprintf(yp, sizeof yp, "%s/y_bf16.npy", dir);
    dc_tensor *yb = dc_npy_load(yp);
    CHECK(y && yb && yb->numel == y->numel, "forward --bf16 output: %s", dc_last_error());
    double diff = 0, mag = 0;
    for (int64_t i = 0; y && yb && i < y->numel && i < yb->numel; i++) {
        diff = fmax(diff, fabs((double)dc_f32(yb)[i] - dc_f32(y)[i]));
        mag = fmax(mag, fabs((double)dc_f32(y)[i]));
    }
    CHECK(diff > 0 && diff < 0.02 * mag, "--bf16 against float32: max |diff| %g, max |y| %g",
          diff, mag);
    dc_tensor_free(yb);
    rc = t_run_deepc(out, sizeof out, "train %s --data npy:%s/x.npy,%s/y.npy --epochs 1 --bf16 "
                     "--out %s/run_bf16", spec, dir, dir, dir);
    CHECK(rc == 2 && strstr(out, "--bf16 is for the inference commands"),
          "train --bf16 should be refused (exit 2), got %d:\n%s", rc, out);
    dc_tensor_free(y);
    /* The written spec re-reads to the same network (defaults echoed). */
    rc = t_run_deepc(out, sizeof out, "summary %s/run/model.spec", dir);
    CHECK(rc == 0, "summary of the written spec exited %d: %s", rc, out);
}

TEST(cli_weights_that_do_not_match_are_refused)
{
    const char *dir = t_tmpdir();
    char spec[512];
    snprintf(spec, sizeof spec, "%s/m.spec", dir);
    REQUIRE(t_write_text(spec, "[input]\nshape = 4\n[linear fc1]\nout_features = 5\n"));
    dc_model *m = dc_model_new();
    REQUIRE(dc_model_add(m, dc_linear_new(m, "fc1", 4, 6, 1, NULL)) == DC_OK);
    char w[600];
    snprintf(w, sizeof w, "%s/w.safetensors", dir);
    REQUIRE(dc_model_save(m, w) == DC_OK);
    dc_model_free(m);
    write_blobs(dir, 9);
    int rc = t_run_deepc(out, sizeof out, "forward %s --weights %s --input %s/x.npy --output "
                         "%s/o.npy", spec, w, dir, dir);
    CHECK(rc == 2, "mis-shaped weights should exit 2, got %d", rc);
    CHECK(strstr(out, "fc1.weight"), "the report should name fc1.weight:\n%s", out);
}

TEST(cli_summary_every_shipped_model_counts_each_parameter_once)
{
    /* parameter totals as PyTorch counts them for the same nets (tools/spec_torch.py) */
    static const struct {
        const char *model, *params;
    } want[] = {{"lenet5", "61,706"}, {"alexnet", "2,273,642"}, {"vgg_small", "437,738"},
                {"resnet", "272,186"}, {"googlenet", "59,122"}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        int rc = t_run_deepc(out, sizeof out, "summary models/%s", want[i].model);
        CHECK(rc == 0, "summary %s exited %d: %s", want[i].model, rc, out);
        char line[64];
        snprintf(line, sizeof line, "parameters: %s trainable", want[i].params);
        CHECK(strstr(out, line) != NULL, "%s should report %s parameters:\n%s", want[i].model,
              want[i].params, out);
        CHECK(strstr(out, "belong to no layer") == NULL, "%s: unowned parameters", want[i].model);
    }
}

TEST(cli_predict_reads_png_and_pgm)
{
    const char *dir = t_tmpdir();
    char spec[512], w[512], png[512], pgm[512];
    snprintf(spec, sizeof spec, "%s/m.spec", dir);
    snprintf(w, sizeof w, "%s/w.safetensors", dir);
    snprintf(png, sizeof png, "%s/x.png", dir);
    snprintf(pgm, sizeof pgm, "%s/x.pgm", dir);
    t_write_text(spec, "[input]\nshape = 1, 8, 8\n[flatten]\n[linear fc]\nout_features = 3\n");
    dc_model *m = dc_model_new();
    REQUIRE(dc_model_add(m, dc_flatten_new(m, "flatten1")) == DC_OK);
    REQUIRE(dc_model_add(m, dc_linear_new(m, "fc", 64, 3, 1, NULL)) == DC_OK);
    dc_f32(dc_model_find(m, "fc.bias"))[2] = 5.0f; /* class 2 wins whatever the image */
    REQUIRE(dc_model_save(m, w) == DC_OK);
    dc_model_free(m);
    uint8_t px[16 * 16 * 3];
    for (int i = 0; i < (int)sizeof px; i++)
        px[i] = (uint8_t)(i * 7);
    REQUIRE(dc_png_write(png, 16, 16, 3, px) == DC_OK);
    char hdr[32];
    int k = snprintf(hdr, sizeof hdr, "P5\n16 16\n255\n");
    FILE *f = fopen(pgm, "wb");
    REQUIRE(f);
    fwrite(hdr, 1, (size_t)k, f);
    fwrite(px, 1, 256, f);
    fclose(f);
    const char *imgs[] = {png, pgm};
    for (int i = 0; i < 2; i++) {
        int rc = t_run_deepc(out, sizeof out, "predict %s --weights %s --image %s --top 3", spec,
                             w, imgs[i]);
        CHECK(rc == 0 && !strncmp(out, "2 ", 2), "predict on %s exited %d:\n%s", imgs[i], rc,
              out);
    }
    t_write_text(pgm, "P5\n16 16\n255\nshort");
    CHECK(t_run_deepc(out, sizeof out, "predict %s --weights %s --image %s", spec, w, pgm) == 2 &&
          strstr(out, "truncated"), "truncated image should exit 2:\n%s", out);
}
