/*
 * test_spec.c - the model spec: parsing, building, errors with file:line, round trips.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

/* Parse and build text; returns the model or NULL (message in dc_last_error()). */
static dc_model *build(const char *text, dc_spec **out)
{
    dc_spec *s = dc_spec_parse_string(text, "t.spec");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    if (out && m)
        *out = s;
    else
        dc_spec_free(s);
    return m;
}

/* The build must fail with a message containing want. */
static void expect_error(const char *text, const char *want, const char *file, int line)
{
    dc_model *m = build(text, NULL);
    if (m) {
        t_fail(file, line, "spec built but should fail with '%s'", want);
        dc_model_free(m);
    } else if (!strstr(dc_last_error(), want)) {
        t_fail(file, line, "error '%s' does not contain '%s'", dc_last_error(), want);
    }
}
#define EXPECT_ERROR(text, want) expect_error(text, want, __FILE__, __LINE__)

static const char *mlp = "[input]\nshape = 8\n[linear fc1]\nout_features = 16\n[relu]\n"
                         "[linear fc2]\nout_features = 3\n";

TEST(spec_builds_mlp_with_inferred_sizes)
{
    dc_model *m = build(mlp, NULL);
    REQUIRE(m);
    dc_tensor *w1 = dc_model_find(m, "fc1.weight"), *w2 = dc_model_find(m, "fc2.weight");
    REQUIRE(w1 && w2);
    CHECK(w1->shape[0] == 16 && w1->shape[1] == 8, "fc1.weight should be [16, 8]");
    CHECK(w2->shape[0] == 3 && w2->shape[1] == 16, "fc2.weight should be [3, 16]");
    CHECK(dc_model_n_trainable(m) == 16 * 8 + 16 + 3 * 16 + 3, "parameter count %lld",
          (long long)dc_model_n_trainable(m));
    CHECK(dc_model_find_module(m, "relu1") == 1, "unnamed relu should be called relu1");
    dc_model_free(m);
}

TEST(spec_round_trip_is_stable)
{
    dc_spec *s = NULL;
    dc_model *m = build(mlp, &s);
    REQUIRE(m);
    char *t1 = dc_spec_to_string(s);
    REQUIRE(t1);
    CHECK(strstr(t1, "bias = true") != NULL, "defaults should be echoed:\n%s", t1);
    dc_spec *s2 = NULL;
    dc_model *m2 = build(t1, &s2);
    REQUIRE(m2);
    char *t2 = dc_spec_to_string(s2);
    CHECK(t2 && !strcmp(t1, t2), "write(parse(write(s))) differs:\n%s\n---\n%s", t1, t2);
    CHECK(dc_model_n_tensors(m) == dc_model_n_tensors(m2), "tensor counts differ");
    free(t1);
    free(t2);
    dc_spec_free(s);
    dc_spec_free(s2);
    dc_model_free(m);
    dc_model_free(m2);
}

TEST(spec_residual_and_concat_graph)
{
    const char *text = "[input]\nshape = 4\n[linear a]\nout_features = 4\n[relu r]\n"
                       "[linear b]\nout_features = 4\n[add res]\ninput = b, input\n"
                       "[linear c]\ninput = res\nout_features = 2\n"
                       "[concat cat]\ninput = c, res\naxis = 1\n";
    dc_model *m = build(text, NULL);
    REQUIRE(m);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_zeros(ctx, DC_F32, 2, DC_SHAPE(3, 4));
    dc_tensor *y = dc_model_forward(ctx, m, x);
    REQUIRE(y);
    CHECK(y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 6, "concat output should be "
          "[3, 6], got [%lld, %lld]", (long long)y->shape[0], (long long)y->shape[1]);
    dc_ctx_free(ctx);
    dc_model_free(m);
}

TEST(spec_errors_name_file_and_line)
{
    EXPECT_ERROR("[input]\nshape = 8\n[linear fc]\nout_features = 4\nwidth = 3\n",
                 "t.spec:5: [linear fc] width: unknown key");
    EXPECT_ERROR("[input]\nshape = 8\n[lstmx a]\n", "t.spec:3: unknown layer type 'lstmx'");
    EXPECT_ERROR("[input]\nshape = 8\n[linear fc]\nout_features = -4\n",
                 "t.spec:4: [linear fc] out_features: -4 is out of range");
    EXPECT_ERROR("[input]\nshape = 8\n[linear fc]\nout_features = four\n", "t.spec:4");
    EXPECT_ERROR("[input]\nshape = 8\n[linear fc]\n", "t.spec:3: [linear fc] needs "
                 "'out_features");
    EXPECT_ERROR("[input]\nshape = 8\n[linear fc]\nout_features = 4\n[add s]\ninput = fc, nope\n",
                 "t.spec:6: [add s] input 'nope' is not a layer name");
    EXPECT_ERROR("[input]\nshape = 8\n[add s]\ninput = later, input\n[linear later]\n"
                 "out_features = 8\n", "defined at line 5");
    EXPECT_ERROR("[input]\nshape = 8\n[linear a]\nout_features = 4\n[linear b]\ninput = input\n"
                 "out_features = 5\n[add s]\ninput = a, b\n", "t.spec:8: [add s] does not fit");
    EXPECT_ERROR("[input]\nshape = 8\n[linear fc]\nout_features = 4\nout_features = 5\n",
                 "t.spec:5: key 'out_features' given twice (first at line 4)");
    EXPECT_ERROR("shape = 8\n", "t.spec:1: 'key = value' before the first [section]");
    EXPECT_ERROR("[linear fc]\nout_features = 4\n", "the first section must be [input]");
    EXPECT_ERROR("[input]\nshape = 8\n[linear fc\n", "t.spec:3: expected '[type name]'");
    EXPECT_ERROR("[input]\nshape = 8\n[linear fc]\nin_features = 9\nout_features = 2\n",
                 "t.spec:4: [linear fc] in_features: 9 does not match the input, which has 8");
    EXPECT_ERROR("[input]\nshape = 8\n[linear a]\nout_features = 4\n[linear a]\n"
                 "out_features = 4\n", "exists already");
}

TEST(spec_lenet5_has_61706_parameters)
{
    dc_spec *s = dc_spec_parse_file("models/lenet5");
    REQUIRE(s);
    dc_model *m = dc_spec_build(s, NULL);
    REQUIRE(m);
    CHECK(dc_model_n_trainable(m) == 61706, "LeNet-5 has %lld parameters, expected 61706",
          (long long)dc_model_n_trainable(m));
    CHECK(dc_model_find(m, "c1.weight") && dc_model_find(m, "out.bias"),
          "state_dict names c1.weight / out.bias missing");
    dc_model_free(m);
    dc_spec_free(s);
}

TEST(spec_missing_file_is_a_clear_error)
{
    dc_spec *s = dc_spec_parse_file("no/such/model");
    CHECK(!s && strstr(dc_last_error(), "no/such/model"), "message should name the file: %s",
          dc_last_error());
}
