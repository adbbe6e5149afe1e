/*
 * test_torch_spec.c - PyTorch models in deepc's spec format: PyTorch's class names as layer
 * types, and the specs tools/torch_spec.py wrote from PyTorch modules (tests/ref/torch_spec/,
 * by tests/ref/gen_torch_spec.py, which round-trips every models/ spec through
 * spec_torch.build -> torch_spec.to_spec -> spec_torch.build in PyTorch).
 *
 * Here deepc builds each written spec; for a models/ spec, the original's weights must load into
 * it strictly (every name and shape the same) and give the original's outputs on a random batch.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every models/ spec gen_torch_spec.py converts ($vocab = 40 as there) but alexnet (2.3M
 * parameters: building it takes seconds; the Python round trip checks it). */
static const char *const MODELS[] = {"char_gru", "char_lstm", "char_rnn", "cnn_lstm",
                                     "fmnist_gru", "googlenet", "lenet5", "mlp", "resnet",
                                     "vgg_small", "weather_lstm"};
#define N_MODELS ((int)(sizeof MODELS / sizeof *MODELS))
#define VOCAB 40

static dc_model *load(const char *path, dc_spec **spec, uint64_t seed)
{
    dc_rng rng;
    dc_rng_seed(&rng, seed, 0);
    *spec = dc_spec_parse_file(path);
    if (*spec)
        dc_spec_define(*spec, "vocab", "40");
    dc_model *m = *spec ? dc_spec_build(*spec, &rng) : NULL;
    CHECK(m != NULL, "%s: %s", path, dc_last_error());
    return m;
}

/* A batch of 2 random inputs of the spec's shape (token ids below VOCAB for int64). */
static dc_tensor *random_input(dc_ctx *ctx, const dc_spec *s)
{
    int64_t shape[8] = {2};
    int nd = dc_spec_input_shape(s, shape + 1) + 1;
    dc_tensor *x = dc_zeros(ctx, dc_spec_input_dtype(s), nd, shape);
    dc_rng rng;
    dc_rng_seed(&rng, 7, 0);
    for (int64_t i = 0; x && i < x->numel; i++) {
        if (x->dtype == DC_I64)
            dc_i64(x)[i] = (int64_t)(dc_rng_uniform(&rng) * VOCAB) % VOCAB;
        else
            dc_f32(x)[i] = dc_rng_normal(&rng);
    }
    return x;
}

static void same_model(const char *name, int run_forward)
{
    char orig[256], conv[512], weights[600];
    snprintf(orig, sizeof orig, "models/%s", name);
    snprintf(conv, sizeof conv, "%s/%s.spec", t_ref_dir("torch_spec"), name);
    snprintf(weights, sizeof weights, "%s/%s.safetensors", t_tmpdir(), name);
    dc_spec *s1 = NULL, *s2 = NULL;
    dc_model *m1 = load(orig, &s1, 1), *m2 = load(conv, &s2, 2);
    if (m1 && m2) {
        REQUIRE(dc_model_save(m1, weights) == DC_OK);
        dc_load_report rep;
        memset(&rep, 0, sizeof rep);
        dc_status st = dc_model_load(m2, weights, 1, &rep);
        CHECK(st == DC_OK, "%s: models/%s's weights do not load strictly into torch_spec.py's "
              "spec: %s", name, name, dc_last_error());
        if (st == DC_OK && run_forward) {
            dc_ctx *ctx = dc_ctx_new(0);
            dc_ctx_set_training(ctx, 0);
            dc_tensor *x = random_input(ctx, s1);
            dc_tensor *y1 = x ? dc_model_forward(ctx, m1, x) : NULL;
            dc_tensor *y2 = x ? dc_model_forward(ctx, m2, x) : NULL;
            CHECK(y1 && y2 && y1->numel == y2->numel, "%s: forward: %s", name, dc_last_error());
            double worst = 0;
            for (int64_t i = 0; y1 && y2 && y1->numel == y2->numel && i < y1->numel; i++)
                worst = fmax(worst, fabs((double)dc_f32(y1)[i] - dc_f32(y2)[i]) /
                                        (1e-5 + 1e-5 * fabs(dc_f32(y1)[i])));
            CHECK(worst <= 1, "%s: outputs differ by %.3g tolerances (rtol = atol = 1e-5)", name,
                  worst);
            dc_ctx_free(ctx);
        }
    }
    dc_model_free(m1);
    dc_model_free(m2);
    dc_spec_free(s1);
    dc_spec_free(s2);
}

TEST(torch_spec_models_round_trip_to_the_same_parameters_and_outputs)
{
    for (int i = 0; i < N_MODELS; i++)
        same_model(MODELS[i], 1);
}

TEST(torch_spec_plain_pytorch_modules_build)
{
    static const char *const plain[][2] = {{"torch_sequential", "28918"},
                                           {"torch_residual", "1292"},
                                           {"torch_conv1d", "347"},
                                           {"torch_layernorm", "212"}};
    for (int i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.spec", t_ref_dir("torch_spec"), plain[i][0]);
        dc_spec *s = NULL;
        dc_model *m = load(path, &s, 1);
        CHECK(!m || dc_model_n_trainable(m) == atoll(plain[i][1]), "%s: %lld parameters, PyTorch "
              "has %s", plain[i][0], m ? (long long)dc_model_n_trainable(m) : 0LL, plain[i][1]);
        dc_model_free(m);
        dc_spec_free(s);
    }
}

/* Layer types are matched case-insensitively, so PyTorch's class names are deepc's types. */
TEST(torch_spec_pytorch_class_names_are_layer_types)
{
    const char *text = "[input]\nshape = 1, 8, 8\n[Conv2d c1]\nout_channels = 4\nkernel = 3\n"
                       "[BatchNorm2d]\n[LeakyReLU]\n[MaxPool2d]\nkernel = 2\n"
                       "[AdaptiveAvgPool2d]\noutput = 1\n[Flatten]\n[Dropout]\np = 0.1\n"
                       "[Linear fc]\nout_features = 3\n[GELU]\n[LogSoftmax]\n";
    dc_spec *s = dc_spec_parse_string(text, "t.spec");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    CHECK(m != NULL, "a spec with PyTorch's class names: %s", dc_last_error());
    static const char *const want[] = {"conv2d", "batchnorm2d", "leakyrelu", "maxpool2d",
                                       "adaptiveavgpool2d", "flatten", "dropout", "linear",
                                       "gelu", "logsoftmax"};
    for (int i = 0; m && i < 10; i++)
        CHECK(!strcmp(dc_spec_layer_type(s, i + 1), want[i]), "layer %d: type '%s', want '%s'",
              i + 1, dc_spec_layer_type(s, i + 1), want[i]);
    dc_model_free(m);
    dc_spec_free(s);
}

TEST(torch_spec_every_file_has_a_test)
{
    DIR *d = opendir(t_ref_dir("torch_spec"));
    REQUIRE(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".spec"))
            continue;
        int known = !strcmp(e->d_name, "torch_sequential.spec") ||
                    !strcmp(e->d_name, "torch_residual.spec") ||
                    !strcmp(e->d_name, "torch_conv1d.spec") ||
                    !strcmp(e->d_name, "torch_layernorm.spec") ||
                    !strcmp(e->d_name, "alexnet.spec");
        for (int i = 0; i < N_MODELS; i++)
            known |= len == strlen(MODELS[i]) + 5 && !strncmp(e->d_name, MODELS[i], len - 5);
        CHECK(known, "tests/ref/torch_spec/%s has no check in tests/test_torch_spec.c",
              e->d_name);
        n++;
    }
    closedir(d);
    CHECK(n == N_MODELS + 5, "tests/ref/torch_spec/ has %d specs, the test knows %d", n,
          N_MODELS + 5);
}
