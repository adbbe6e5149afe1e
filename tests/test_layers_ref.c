/*
 * test_layers_ref.c - Conv1d and GroupNorm, the layers added through the registry: PyTorch
 * parity of the ops (tests/ref/layers, from tests/ref/gen_layers.py: output and every gradient)
 * and the layers as a spec builds them (PyTorch's state_dict names, shapes, init, defaults,
 * errors with file:line, summary MACs).
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

typedef struct layer_ref {
    const char *name;
    int conv;              /* 1: conv1d, 0: group_norm */
    dc_conv1d_opts o;      /* conv1d */
    int64_t groups;        /* group_norm */
} layer_ref;

static const char *layers_dir(void) { return t_ref_dir("layers"); }

static void run_ref(const layer_ref *c)
{
    dc_tdict *d = t_ref_load(layers_dir(), c->name);
    if (!d)
        return;
    dc_tensor *x[3] = {0};
    int n = 0, ok = t_ref_inputs(c->name, d, x, 3, &n);
    dc_ctx *ctx = ok ? dc_ctx_new(0) : NULL;
    dc_tensor *y = NULL;
    if (ctx && c->conv)
        y = dc_conv1d(ctx, x[0], x[1], n > 2 ? x[2] : NULL, &c->o);
    else if (ctx)
        y = dc_group_norm(ctx, x[0], c->groups, n > 1 ? x[1] : NULL, n > 2 ? x[2] : NULL, 1e-5f);
    if (ok && !y)
        t_fail(__FILE__, __LINE__, "ref %s: the op failed: %s", c->name, dc_last_error());
    if (y) {
        t_ref_compare(c->name, "y", y, dc_f32(y), dc_tdict_get(d, "y"));
        if (t_ref_backward(ctx, c->name, y, dc_tdict_get(d, "dy")))
            t_ref_compare_grads(c->name, d, x, n);
    }
    dc_ctx_free(ctx);
    for (int i = 0; i < n; i++)
        dc_tensor_free(x[i]);
    dc_tdict_free(d);
}

static t_names layer_names;

#define LAYER_REF(nm, ...)                                                                    \
    static const layer_ref lref_##nm = {.name = #nm, __VA_ARGS__};                            \
    __attribute__((constructor)) static void lrefn_##nm(void) { t_names_add(&layer_names, #nm); } \
    TEST(layers_ref_##nm) { run_ref(&lref_##nm); }

/* dc_conv1d_opts: stride, dilation, groups, pad_left, pad_right */
LAYER_REF(conv1d_plain, .conv = 1, .o = {1, 1, 1, 0, 0})
LAYER_REF(conv1d_s2_p1_d2, .conv = 1, .o = {2, 2, 1, 1, 1})
LAYER_REF(conv1d_groups2_nobias, .conv = 1, .o = {1, 1, 2, 2, 2})
LAYER_REF(group_norm_ncl_g2, .groups = 2)
LAYER_REF(group_norm_nchw_g3, .groups = 3)
LAYER_REF(group_norm_g1_noaffine, .groups = 1)

TEST(layers_ref_every_file_has_a_test)
{
    t_ref_check_files(layers_dir(), &layer_names, NULL, "tests/test_layers_ref.c");
}

static const char *spec_c1gn = "[input]\nshape = 4, 16\n"
                               "[conv1d c1]\nout_channels = 6\nkernel = 3\npadding = same\n"
                               "[groupnorm gn]\nnum_groups = 3\n"
                               "[conv1d c2]\nout_channels = 4\nkernel = 5\nstride = 2\n"
                               "groups = 2\nbias = false\n";

/* PyTorch's names and shapes: Conv1d weight [O, C/groups, K], bias [O]; GroupNorm weight and
 * bias [C] starting at 1 and 0; same padding keeps L; the defaults are echoed. */
TEST(layers_conv1d_groupnorm_from_a_spec)
{
    dc_spec *s = dc_spec_parse_string(spec_c1gn, "c.spec");
    dc_rng rng;
    dc_rng_seed(&rng, 1, 1);
    dc_model *m = s ? dc_spec_build(s, &rng) : NULL;
    CHECK(m != NULL, "build: %s", dc_last_error());
    if (!m) {
        dc_spec_free(s);
        return;
    }
    const dc_tensor *w1 = dc_model_find(m, "c1.weight"), *gw = dc_model_find(m, "gn.weight");
    const dc_tensor *gb = dc_model_find(m, "gn.bias"), *w2 = dc_model_find(m, "c2.weight");
    CHECK(w1 && w1->ndim == 3 && w1->shape[0] == 6 && w1->shape[1] == 4 && w1->shape[2] == 3,
          "c1.weight shape");
    CHECK(dc_model_find(m, "c1.bias") && !dc_model_find(m, "c2.bias"), "biases");
    CHECK(w2 && w2->shape[0] == 4 && w2->shape[1] == 3 && w2->shape[2] == 5, "c2.weight shape");
    CHECK(gw && gb && gw->numel == 6 && dc_f32(gw)[5] == 1.0f && dc_f32(gb)[0] == 0.0f,
          "gn.weight / gn.bias init");
    CHECK(dc_model_n_trainable(m) == 6 * 4 * 3 + 6 + 12 + 4 * 3 * 5, "%lld trainable",
          (long long)dc_model_n_trainable(m));
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_zeros(ctx, DC_F32, 3, DC_SHAPE(2, 4, 16));
    dc_tensor *y = x ? dc_model_forward(ctx, m, x) : NULL;
    CHECK(y && y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 4 && y->shape[2] == 6,
          "output shape (want [2, 4, 6])");
    char *text = dc_spec_to_string(s);
    CHECK(text && strstr(text, "in_channels = 4") && strstr(text, "dilation = 1") &&
          strstr(text, "num_channels = 6") && strstr(text, "eps = 1e-05"),
          "defaults not echoed: %s", text ? text : "");
    free(text);
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(s);
}

/* Errors name the file, line, layer and key. */
TEST(layers_conv1d_groupnorm_spec_errors)
{
    static const struct {
        const char *spec, *want;
    } cases[] = {
        {"[input]\nshape = 6, 8\n[groupnorm gn]\nnum_groups = 4\n",
         "e.spec:4: [groupnorm gn] num_groups: 4 does not divide the 6 channels"},
        {"[input]\nshape = 1, 8, 8\n[conv1d c]\nout_channels = 2\nkernel = 3\n",
         "e.spec:3: [conv1d c] conv1d takes [N, C, L] input"},
        {"[input]\nshape = 2, 8\n[conv1d c]\nout_channels = 2\nkernel = 3\npadding = 1, 2, 3\n",
         "e.spec:6: [conv1d c] padding: '1, 2, 3' is not a list of 1 to 2 integers"},
        {"[input]\nshape = 2, 8\n[conv1d c]\nout_channels = 2\nkernel = 9\n",
         "e.spec:3: [conv1d c] does not fit its input"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dc_spec *s = dc_spec_parse_string(cases[i].spec, "e.spec");
        dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
        CHECK(!m && strstr(dc_last_error(), cases[i].want), "case %zu: got '%s', want '%s'", i,
              m ? "(built)" : dc_last_error(), cases[i].want);
        dc_model_free(m);
        dc_spec_free(s);
    }
}

/* summary counts Conv1d's MACs through its descriptor: out·L'·(C/groups)·K. */
TEST(layers_conv1d_summary_macs)
{
    char path[512], out[8192];
    snprintf(path, sizeof path, "%s/c.spec", t_tmpdir());
    CHECK(t_write_text(path, spec_c1gn), "write %s", path);
    int rc = t_run_deepc(out, sizeof out, "summary %s", path);
    /* c1: 6·16·4·3 = 1,152; c2: 4·6·3·5 = 360; total 1,512 */
    CHECK(rc == 0 && strstr(out, "Conv1d") && strstr(out, "GroupNorm") && strstr(out, "1,512"),
          "deepc summary (%d):\n%s", rc, out);
}
