/*
 * test_rnn.c - the recurrent layers (RNN tanh/relu, LSTM, GRU) against PyTorch:
 *   - reference cases tests/ref/rnn/<case>.safetensors (tests/ref/gen_rnn.py): a module "rnn"
 *     with PyTorch's parameters, the output sequence, the final states and the gradient of
 *     Σ y·dy + Σ h_n·dh_n (+ Σ c_n·dc_n) for x, h0, c0 and every parameter, within rtol 1e-4,
 *     atol 1e-5;
 *   - `deepc forward` of a 2-layer LSTM and a bidirectional GRU trained by PyTorch
 *     (tests/data/rnn_torch, spec files there) gives PyTorch's outputs within 1e-4;
 *   - spec keys, defaults written back, and shape errors.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdlib.h>
#include <string.h>

typedef struct rnn_ref {
    const char *name;
    dc_rnn_kind kind;
    int layers, bidir, batch_first, bias;
} rnn_ref;

/* As written by gen_rnn.py (the file metadata says the same). */
static const rnn_ref refs[] = {
    {"lstm_2layer", DC_LSTM, 2, 0, 1, 1},
    {"lstm_bidir_nobias", DC_LSTM, 1, 1, 0, 0},
    {"gru_bidir", DC_GRU, 1, 1, 0, 1},
    {"gru_2layer_bidir", DC_GRU, 2, 1, 1, 1},
    {"rnn_tanh", DC_RNN_TANH, 2, 0, 1, 1},
    {"rnn_relu_nostate", DC_RNN_RELU, 1, 0, 0, 1},
};

static const char *rnn_dir(void) { return t_ref_dir("rnn"); }

/* A heap clone of the file's tensor `name` that requires grad, or NULL if absent. */
static dc_tensor *grad_clone(const dc_tdict *d, const char *name)
{
    const dc_tensor *t = dc_tdict_get(d, name);
    dc_tensor *c = t ? dc_tensor_clone(t) : NULL;
    if (c)
        dc_tensor_requires_grad(c);
    return c;
}

/* Σ a ⊙ w, or NULL when w is missing. */
static dc_tensor *dot(dc_ctx *ctx, dc_tensor *a, const dc_tdict *d, const char *w)
{
    dc_tensor *t = dc_tdict_get(d, w);
    return t && a ? dc_sum(ctx, dc_mul(ctx, a, t), DC_ALL_AXES, 0) : NULL;
}

/* Load every parameter of m from the file (same names); 0 on a missing one. */
static int load_params(const char *cs, dc_model *m, const dc_tdict *d)
{
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *p = dc_model_tensor(m, i);
        const dc_tensor *w = dc_tdict_get(d, p->name);
        CHECK(w && w->numel == p->numel, "%s: parameter %s missing or mis-shaped", cs, p->name);
        if (!w || w->numel != p->numel)
            return 0;
        memcpy(p->data, w->data, (size_t)p->numel * sizeof(float));
    }
    return 1;
}

static void run_ref(const rnn_ref *c)
{
    dc_tdict *d = t_ref_load(rnn_dir(), c->name);
    if (!d)
        return;
    const dc_tensor *xw = dc_tdict_get(d, "x"), *w0 = dc_tdict_get(d, "rnn.weight_hh_l0");
    REQUIRE(xw && w0);
    dc_rnn_opts o = dc_rnn_defaults(c->kind, xw->shape[2], w0->shape[1]);
    o.num_layers = c->layers;
    o.bidirectional = c->bidir;
    o.batch_first = c->batch_first;
    o.bias = c->bias;
    dc_model *m = dc_model_new();
    dc_module *mod = m ? dc_rnn_new(m, "rnn", &o, NULL) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = grad_clone(d, "x"), *h0 = grad_clone(d, "h0"), *c0 = grad_clone(d, "c0");
    if (mod && dc_model_add(m, mod) == DC_OK && ctx && x && load_params(c->name, m, d)) {
        dc_tensor *hn = NULL, *cn = NULL;
        dc_tensor *y = dc_rnn_forward(ctx, mod, x, h0, c0, &hn, &cn);
        CHECK(y != NULL, "%s: forward failed: %s", c->name, dc_last_error());
        t_ref_compare(c->name, "y", y, y ? y->data : NULL, dc_tdict_get(d, "y"));
        t_ref_compare(c->name, "h_n", hn, hn ? hn->data : NULL, dc_tdict_get(d, "h_n"));
        if (c->kind == DC_LSTM)
            t_ref_compare(c->name, "c_n", cn, cn ? cn->data : NULL, dc_tdict_get(d, "c_n"));
        dc_tensor *loss = dc_add(ctx, dot(ctx, y, d, "dy"), dot(ctx, hn, d, "dh_n"));
        if (c->kind == DC_LSTM)
            loss = dc_add(ctx, loss, dot(ctx, cn, d, "dc_n"));
        CHECK(loss && dc_backward(ctx, loss) == DC_OK, "%s: backward: %s", c->name,
              dc_last_error());
        t_ref_compare(c->name, "dx", x, x->grad, dc_tdict_get(d, "dx"));
        if (h0)
            t_ref_compare(c->name, "dh0", h0, h0->grad, dc_tdict_get(d, "dh0"));
        if (c0)
            t_ref_compare(c->name, "dc0", c0, c0->grad, dc_tdict_get(d, "dc0"));
        for (int i = 0; i < dc_model_n_tensors(m); i++) {
            dc_tensor *p = dc_model_tensor(m, i);
            char key[128];
            snprintf(key, sizeof key, "d.%s", p->name);
            t_ref_compare(c->name, key, p, p->grad, dc_tdict_get(d, key));
        }
    } else {
        CHECK(0, "%s: setup failed: %s", c->name, dc_last_error());
    }
    dc_tensor_free(x);
    dc_tensor_free(h0);
    dc_tensor_free(c0);
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_tdict_free(d);
}

#define REF_TEST(i, name)                                                                  \
    TEST(rnn_ref_##name) { run_ref(&refs[i]); }
REF_TEST(0, lstm_2layer)
REF_TEST(1, lstm_bidir_nobias)
REF_TEST(2, gru_bidir)
REF_TEST(3, gru_2layer_bidir)
REF_TEST(4, rnn_tanh)
REF_TEST(5, rnn_relu_nostate)

TEST(rnn_ref_every_file_tested)
{
    t_names names = {.n = 0};
    for (size_t i = 0; i < sizeof refs / sizeof *refs; i++)
        t_names_add(&names, refs[i].name);
    t_ref_check_files(rnn_dir(), &names, NULL, "tests/test_rnn.c");
}

/* ------------------------------------------------------------------------------------------ */
/* `deepc forward` of models trained by PyTorch                                                */
/* ------------------------------------------------------------------------------------------ */

#define RNN_TORCH "tests/data/rnn_torch"

static void cli_forward(const char *model)
{
    char y_path[600], want_path[300], out[8192];
    snprintf(y_path, sizeof y_path, "%s/%s_y.npy", t_tmpdir(), model);
    snprintf(want_path, sizeof want_path, RNN_TORCH "/%s_y.npy", model);
    int rc = t_run_deepc(out, sizeof out, "forward " RNN_TORCH "/%s.spec --weights " RNN_TORCH
                         "/%s_weights.safetensors --input " RNN_TORCH "/%s_x.npy --output %s",
                         model, model, model, y_path);
    CHECK(rc == 0, "deepc forward %s exited %d:\n%s", model, rc, out);
    dc_tensor *got = rc == 0 ? dc_npy_load(y_path) : NULL;
    dc_tensor *want = dc_npy_load(want_path);
    CHECK(want != NULL, "%s", dc_last_error());
    if (got && want) {
        CHECK(dc_same_shape(got, want) && got->ndim == 3, "%s: output shape differs", model);
        if (dc_same_shape(got, want))
            CHECK_ALLCLOSE(model, dc_f32(got), dc_f32(want), want->numel, 0.0, 1e-4);
    }
    dc_tensor_free(got);
    dc_tensor_free(want);
}

TEST(rnn_cli_forward_torch_trained_lstm2) { cli_forward("lstm2"); }
TEST(rnn_cli_forward_torch_trained_gru_bidir) { cli_forward("gru_bidir"); }

/* ------------------------------------------------------------------------------------------ */
/* Specs, module use and errors                                                                */
/* ------------------------------------------------------------------------------------------ */

TEST(rnn_spec_defaults_and_names)
{
    dc_spec *s = dc_spec_parse_string("[input]\nshape = 5, 3\n[lstm enc]\nhidden_size = 4\n"
                                      "num_layers = 2\nbidirectional = true\n[linear fc]\n"
                                      "out_features = 2\n", "t.spec");
    REQUIRE(s);
    dc_rng rng;
    dc_rng_seed(&rng, 1, 1);
    dc_model *m = dc_spec_build(s, &rng);
    CHECK(m != NULL, "build: %s", dc_last_error());
    if (m) {
        dc_tensor *w = dc_model_find(m, "enc.weight_ih_l1_reverse");
        CHECK(w && w->shape[0] == 16 && w->shape[1] == 8, "enc.weight_ih_l1_reverse [16, 8]");
        CHECK(dc_model_find(m, "enc.bias_hh_l0") != NULL, "enc.bias_hh_l0");
        CHECK(dc_model_find(m, "fc.weight")->shape[1] == 8, "fc takes D·H = 8");
        const float b = 0.5f; /* U(±1/√H) */
        int in_range = 1;
        for (int64_t i = 0; i < w->numel; i++)
            in_range &= dc_f32(w)[i] >= -b && dc_f32(w)[i] <= b;
        CHECK(in_range, "init within ±1/√H");
        dc_ctx *ctx = dc_ctx_new(0);
        dc_tensor *x = dc_zeros(ctx, DC_F32, 3, DC_SHAPE(2, 5, 3));
        dc_tensor *y = dc_model_forward(ctx, m, x);
        CHECK(y && y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 5 && y->shape[2] == 2,
              "output [2, 5, 2]: %s", dc_last_error());
        dc_ctx_free(ctx);
    }
    char *txt = dc_spec_to_string(s);
    CHECK(txt && strstr(txt, "batch_first = true") && strstr(txt, "dropout = 0") &&
              strstr(txt, "input_size = 3"), "defaults written back:\n%s", txt ? txt : "");
    free(txt);
    dc_model_free(m);
    dc_spec_free(s);
}

TEST(rnn_spec_errors)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"[input]\nshape = 5, 3\n[gru g]\nnum_layers = 2\n", "hidden_size"},
        {"[input]\nshape = 5, 3\n[rnn r]\nhidden_size = 4\nnonlinearity = gelu\n", "gelu"},
        {"[input]\nshape = 5, 3\n[lstm l]\nhidden_size = 4\nnonlinearity = relu\n",
         "unknown key"},
        {"[input]\nshape = 15\n[lstm l]\nhidden_size = 4\n", "3 dims"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dc_spec *s = dc_spec_parse_string(bad[i].text, "bad.spec");
        dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
        CHECK(!m && strstr(dc_last_error(), bad[i].want) && strstr(dc_last_error(), "bad.spec:"),
              "case %zu: expected an error with '%s', got '%s'", i, bad[i].want,
              dc_last_error());
        dc_model_free(m);
        dc_spec_free(s);
    }
}

TEST(rnn_forward_shape_errors)
{
    dc_model *m = dc_model_new();
    dc_rnn_opts o = dc_rnn_defaults(DC_GRU, 3, 4);
    o.batch_first = 1;
    dc_module *mod = dc_rnn_new(m, "g", &o, NULL);
    REQUIRE(mod && dc_model_add(m, mod) == DC_OK);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_zeros(ctx, DC_F32, 3, DC_SHAPE(2, 5, 4));
    CHECK(!dc_rnn_forward(ctx, mod, x, NULL, NULL, NULL, NULL) &&
              strstr(dc_last_error(), "I = 3"), "wrong I: %s", dc_last_error());
    x = dc_zeros(ctx, DC_F32, 3, DC_SHAPE(2, 5, 3));
    dc_tensor *h0 = dc_zeros(ctx, DC_F32, 3, DC_SHAPE(2, 2, 4));
    CHECK(!dc_rnn_forward(ctx, mod, x, h0, NULL, NULL, NULL) && strstr(dc_last_error(), "h0"),
          "wrong h0: %s", dc_last_error());
    h0 = dc_zeros(ctx, DC_F32, 3, DC_SHAPE(1, 2, 4));
    CHECK(!dc_rnn_forward(ctx, mod, x, h0, h0, NULL, NULL) && strstr(dc_last_error(), "LSTM"),
          "c0 on a GRU: %s", dc_last_error());
    dc_tensor *hn = NULL, *cn = x;
    dc_tensor *y = dc_rnn_forward(ctx, mod, x, h0, NULL, &hn, &cn);
    CHECK(y && hn && !cn && hn->shape[0] == 1 && hn->shape[1] == 2 && hn->shape[2] == 4,
          "GRU forward with h0: %s", dc_last_error());
    o.num_layers = 0;
    CHECK(!dc_rnn_new(m, "bad", &o, NULL), "num_layers 0 must be refused");
    dc_ctx_free(ctx);
    dc_model_free(m);
}

/* Dropout between layers acts in training mode only, and backward runs through it. */
TEST(rnn_dropout_between_layers)
{
    dc_model *m = dc_model_new();
    dc_rnn_opts o = dc_rnn_defaults(DC_LSTM, 3, 4);
    o.num_layers = 2;
    o.dropout = 0.5f;
    dc_rng rng;
    dc_rng_seed(&rng, 3, 1);
    dc_module *mod = dc_rnn_new(m, "l", &o, &rng);
    REQUIRE(mod && dc_model_add(m, mod) == DC_OK);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_ctx_set_rng(ctx, &rng);
    dc_tensor *x = dc_zeros(ctx, DC_F32, 3, DC_SHAPE(4, 2, 3));
    dc_tensor_fill(x, 0.7f);
    dc_tensor *ye = dc_model_forward(ctx, m, x);
    dc_ctx_set_training(ctx, 1);
    dc_tensor *yt = dc_model_forward(ctx, m, x);
    REQUIRE(ye && yt);
    int differ = 0;
    for (int64_t i = 0; i < ye->numel; i++)
        differ |= dc_f32(ye)[i] != dc_f32(yt)[i];
    CHECK(differ, "training-mode dropout should change the output");
    CHECK(dc_backward(ctx, dc_sum(ctx, yt, DC_ALL_AXES, 0)) == DC_OK, "backward: %s",
          dc_last_error());
    CHECK(dc_model_find(m, "l.weight_ih_l0")->grad[0] != 0.0f, "gradient reaches layer 0");
    dc_ctx_free(ctx);
    dc_model_free(m);
}
