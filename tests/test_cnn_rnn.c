/*
 * test_cnn_rnn.c - the view layers that move sequences through a model, and a CNN + LSTM that
 * learns from clips:
 *   - reshape / fold_time / unfold_time: output shapes and values, gradients equal to those of
 *     dc_reshape / dc_flatten applied directly, shape errors naming the module;
 *   - their spec builders: defaults, file:line errors (bad steps, a shape that does not fit),
 *     the round trip of models/cnn_lstm;
 *   - models/cnn_lstm learns the direction of a square moving through 8 noisy 16x16 frames
 *     (4 classes) to >= 90% on held-out clips, trained by dc_train at one thread in about two
 *     seconds of CPU. It reaches 99.8%; the same training on clips with their frames shuffled
 *     reaches 49% (the path tells horizontal from vertical, only the order tells left from
 *     right), on the last frame alone 56%, so the bar needs the order of the frames.
 */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* y must be NULL and the message contain want. */
static void expect_fail(const void *y, const char *want, const char *file, int line)
{
    if (y)
        t_fail(file, line, "the call succeeded but should fail with '%s'", want);
    else if (!strstr(dc_last_error(), want))
        t_fail(file, line, "error '%s' does not contain '%s'", dc_last_error(), want);
}
#define EXPECT_FAIL(y, want) expect_fail(y, want, __FILE__, __LINE__)

/* A heap float tensor with x[i] = i + 1, requiring grad. */
static dc_tensor *iota_leaf(int ndim, const int64_t *shape)
{
    dc_tensor *t = dc_tensor_new(DC_F32, ndim, shape);
    if (!t || dc_tensor_requires_grad(t) != DC_OK) {
        dc_tensor_free(t);
        return NULL;
    }
    for (int64_t i = 0; i < t->numel; i++)
        dc_f32(t)[i] = (float)(i + 1);
    return t;
}

static int has_shape(const dc_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim)
        return 0;
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != shape[d])
            return 0;
    return 1;
}

/* Backward of Σ y ⊙ w with w[i] = sin(i): dx must be w in x's element order. */
static dc_status backward_weighted(dc_ctx *ctx, dc_tensor *y)
{
    dc_tensor *w = y ? dc_empty(ctx, DC_F32, y->ndim, y->shape) : NULL;
    if (!w)
        return DC_ERR_NOMEM;
    for (int64_t i = 0; i < w->numel; i++)
        dc_f32(w)[i] = sinf((float)i);
    return dc_backward(ctx, dc_sum(ctx, dc_mul(ctx, y, w), DC_ALL_AXES, 0));
}

/* Module m on a fresh leaf of in_shape against op(leaf) (the plain op it stands for): same
 * shape out_shape, same values (a view: the same data), same gradient. */
static void check_view(dc_module *m, int in_nd, const int64_t *in_shape, int out_nd,
                       const int64_t *out_shape, const char *what)
{
    dc_tensor *a = iota_leaf(in_nd, in_shape), *b = iota_leaf(in_nd, in_shape);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(m && a && b && ctx);
    dc_tensor *ya = m->forward(ctx, m, a), *yb = dc_reshape(ctx, b, out_nd, out_shape);
    CHECK(has_shape(ya, out_nd, out_shape), "%s: wrong output shape: %s", what,
          ya ? "" : dc_last_error());
    CHECK(ya && yb && !memcmp(ya->data, yb->data, (size_t)a->numel * sizeof(float)),
          "%s: values differ from dc_reshape", what);
    CHECK(ya && ya->data == a->data, "%s: should be a view sharing the input's data", what);
    dc_ctx_reset(ctx);
    REQUIRE(backward_weighted(ctx, m->forward(ctx, m, a)) == DC_OK);
    dc_ctx_reset(ctx);
    REQUIRE(backward_weighted(ctx, dc_reshape(ctx, b, out_nd, out_shape)) == DC_OK);
    CHECK_ALLCLOSE(what, a->grad, b->grad, a->numel, 0, 0);
    for (int64_t i = 0; i < a->numel; i++)
        CHECK(a->grad[i] == sinf((float)i), "%s: dx[%lld] = %g, expected sin(%lld)", what,
              (long long)i, (double)a->grad[i], (long long)i);
    dc_ctx_free(ctx);
    dc_tensor_free(a);
    dc_tensor_free(b);
}

TEST(view_modules_match_dc_reshape)
{
    dc_model *md = dc_model_new();
    REQUIRE(md);
    dc_module *r = dc_reshape_new(md, "r", 2, DC_SHAPE(3, -1));
    dc_module *f = dc_fold_time_new(md, "f"), *u = dc_unfold_time_new(md, "u", 3);
    check_view(r, 2, DC_SHAPE(2, 12), 3, DC_SHAPE(2, 3, 4), "reshape [2, 12] -> 3, -1");
    check_view(r, 4, DC_SHAPE(1, 2, 3, 2), 3, DC_SHAPE(1, 3, 4), "reshape [1, 2, 3, 2]");
    check_view(f, 5, DC_SHAPE(2, 3, 1, 2, 2), 4, DC_SHAPE(6, 1, 2, 2), "fold_time");
    check_view(f, 2, DC_SHAPE(4, 5), 1, DC_SHAPE(20), "fold_time [4, 5]");
    check_view(u, 2, DC_SHAPE(6, 5), 3, DC_SHAPE(2, 3, 5), "unfold_time steps 3");
    check_view(u, 4, DC_SHAPE(3, 2, 2, 2), 5, DC_SHAPE(1, 3, 2, 2, 2), "unfold_time to 5 dims");
    REQUIRE(dc_model_add(md, r) == DC_OK && dc_model_add(md, f) == DC_OK &&
            dc_model_add(md, u) == DC_OK);
    dc_model_free(md);
}

/* fold_time row n·T + t is frame x[n, t]; unfold_time puts it back. */
TEST(view_fold_unfold_round_trip_values)
{
    dc_model *md = dc_model_new();
    REQUIRE(md);
    dc_module *f = dc_fold_time_new(md, "f"), *u = dc_unfold_time_new(md, "u", 4);
    dc_tensor *x = iota_leaf(3, DC_SHAPE(3, 4, 5)); /* x[n, t, k] = 20n + 5t + k + 1 */
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(f && u && x && ctx);
    dc_tensor *y = f->forward(ctx, f, x);
    REQUIRE(y);
    for (int n = 0; n < 3; n++)
        for (int t = 0; t < 4; t++)
            CHECK(dc_f32(y)[(n * 4 + t) * 5] == (float)(20 * n + 5 * t + 1),
                  "folded row %d should start with x[%d, %d, 0]", n * 4 + t, n, t);
    dc_tensor *z = u->forward(ctx, u, dc_mul_scalar(ctx, y, 2.0f));
    REQUIRE(z);
    CHECK(has_shape(z, 3, DC_SHAPE(3, 4, 5)), "unfold of fold should give [3, 4, 5] back");
    for (int64_t i = 0; i < x->numel; i++)
        CHECK(dc_f32(z)[i] == 2.0f * dc_f32(x)[i], "z[%lld] = %g", (long long)i,
              (double)dc_f32(z)[i]);
    REQUIRE(dc_backward(ctx, dc_sum(ctx, z, DC_ALL_AXES, 0)) == DC_OK);
    for (int64_t i = 0; i < x->numel; i++)
        CHECK(x->grad[i] == 2.0f, "dx[%lld] = %g, expected 2", (long long)i,
              (double)x->grad[i]);
    REQUIRE(dc_model_add(md, f) == DC_OK && dc_model_add(md, u) == DC_OK);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_model_free(md);
}

TEST(view_module_errors)
{
    dc_model *md = dc_model_new();
    REQUIRE(md);
    EXPECT_FAIL(dc_reshape_new(md, "r", 2, DC_SHAPE(-1, -1)), "only one size may be -1");
    EXPECT_FAIL(dc_reshape_new(md, "r", 2, DC_SHAPE(0, 4)), "sizes must be >= 1 or -1, got 0");
    EXPECT_FAIL(dc_reshape_new(md, "r", 5, DC_SHAPE(1, 1, 1, 1, 1)), "needs 1 to 4 sizes");
    EXPECT_FAIL(dc_unfold_time_new(md, "u", 0), "steps must be >= 1, got 0");
    dc_module *r = dc_reshape_new(md, "r", 2, DC_SHAPE(5, -1));
    dc_module *r2 = dc_reshape_new(md, "r2", 2, DC_SHAPE(4, 4));
    dc_module *f = dc_fold_time_new(md, "f"), *u = dc_unfold_time_new(md, "u", 3);
    dc_tensor *x = iota_leaf(2, DC_SHAPE(2, 12)), *x1 = iota_leaf(1, DC_SHAPE(7));
    dc_tensor *x5 = iota_leaf(5, DC_SHAPE(3, 1, 1, 1, 1));
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(r && r2 && f && u && x && x1 && x5 && ctx);
    EXPECT_FAIL(r->forward(ctx, r, x), "Reshape r: cannot view the 12 elements of each example "
                "of [2, 12] as [5, -1]");
    EXPECT_FAIL(r2->forward(ctx, r2, x), "as [4, 4]");
    EXPECT_FAIL(f->forward(ctx, f, x1), "FoldTime f: needs a sequence [N, T, ...], got [7]");
    EXPECT_FAIL(u->forward(ctx, u, x1), "UnfoldTime u: the first dim of [7] is not a multiple "
                "of steps = 3");
    EXPECT_FAIL(u->forward(ctx, u, x5), "with 1 to 4 dims, got [3, 1, 1, 1, 1]");
    dc_clear_error();
    CHECK(!r->forward(ctx, r, NULL) && !f->forward(ctx, f, NULL) && !u->forward(ctx, u, NULL) &&
              !*dc_last_error(), "NULL in, NULL out, no error");
    REQUIRE(dc_model_add(md, r) == DC_OK && dc_model_add(md, r2) == DC_OK &&
            dc_model_add(md, f) == DC_OK && dc_model_add(md, u) == DC_OK);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(x1);
    dc_tensor_free(x5);
    dc_model_free(md);
}

/* ------------------------------------------------------------------------------------------ */
/* Specs                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static dc_model *build(const char *text, dc_rng *r, dc_spec **out)
{
    dc_spec *s = dc_spec_parse_string(text, "v.spec");
    dc_model *m = s ? dc_spec_build(s, r) : NULL;
    if (out && m)
        *out = s;
    else
        dc_spec_free(s);
    return m;
}

static void expect_spec_error(const char *text, const char *want, const char *file, int line)
{
    dc_model *m = build(text, NULL, NULL);
    if (m) {
        t_fail(file, line, "spec built but should fail with '%s'", want);
        dc_model_free(m);
    } else if (!strstr(dc_last_error(), want)) {
        t_fail(file, line, "error '%s' does not contain '%s'", dc_last_error(), want);
    }
}
#define EXPECT_SPEC_ERROR(text, want) expect_spec_error(text, want, __FILE__, __LINE__)

#define CLIP_IN "[input]\nshape = 4, 1, 6, 6\n[fold_time f]\n"          /* lines 1-3 */
#define CLIP_CNN "[conv2d c]\nout_channels = 2\nkernel = 3\n[flatten]\n" /* lines 4-7 */

TEST(view_spec_errors_name_the_line)
{
    EXPECT_SPEC_ERROR(CLIP_IN CLIP_CNN "[unfold_time u]\nsteps = 0\n",
                      "v.spec:9: [unfold_time u] steps: 0 is out of range [1, ");
    EXPECT_SPEC_ERROR(CLIP_IN CLIP_CNN "[unfold_time u]\nsteps = 3\n",
                      "v.spec:9: [unfold_time u] steps: 3 does not match the 4 steps folded "
                      "into the batch (a batch of one reaches this layer as [4, 32]");
    EXPECT_SPEC_ERROR(CLIP_IN CLIP_CNN "[unfold_time u]\nsteps = two\n", "v.spec:9: [unfold_time "
                      "u] steps: 'two' is not a list of 1 to 1 integers");
    EXPECT_SPEC_ERROR(CLIP_IN CLIP_CNN "[unfold_time u]\n", "v.spec:8: [unfold_time u] needs "
                      "'steps = ...'");
    EXPECT_SPEC_ERROR("[input]\nshape = 6\n[fold_time a]\n[fold_time b]\n",
                      "v.spec:4: [fold_time b] needs a sequence [N, T, ...] (batch included), "
                      "got [6]");
    EXPECT_SPEC_ERROR("[input]\nshape = 2, 1, 1, 1\n[unfold_time u]\nsteps = 1\n",
                      "v.spec:3: [unfold_time u] needs an input [N·T, ...] with 1 to 4 dims, got "
                      "[1, 2, 1, 1, 1]");
    EXPECT_SPEC_ERROR(CLIP_IN "[fold_time g]\nwidth = 2\n", "v.spec:5: [fold_time g] width: "
                      "unknown key (known: input)");
    EXPECT_SPEC_ERROR("[input]\nshape = 1, 28, 28\n[reshape r]\nshape = 28, 27\n",
                      "v.spec:4: [reshape r] shape: '28, 27' does not fit the 784 elements of "
                      "one example (input [1, 1, 28, 28])");
    EXPECT_SPEC_ERROR("[input]\nshape = 1, 28, 28\n[reshape r]\nshape = 5, -1\n",
                      "v.spec:4: [reshape r] shape: '5, -1' does not fit the 784 elements");
    EXPECT_SPEC_ERROR("[input]\nshape = 1, 28, 28\n[reshape r]\nshape = 16777216, 16777216, "
                      "16777216, 16777216\n", "v.spec:4: [reshape r] shape: '16777216, "
                      "16777216, 16777216, 16777216' does not fit the 784 elements");
    EXPECT_SPEC_ERROR("[input]\nshape = 1, 28, 28\n[reshape r]\nshape = -1, -1\n",
                      "v.spec:4: [reshape r] shape: only one size may be -1");
    EXPECT_SPEC_ERROR("[input]\nshape = 1, 28, 28\n[reshape r]\nshape = 28, 0, 28\n",
                      "v.spec:4: [reshape r] shape: sizes must be >= 1");
    EXPECT_SPEC_ERROR("[input]\nshape = 1, 28, 28\n[reshape r]\nshape = 1, 1, 1, 28, 28\n",
                      "v.spec:4: [reshape r] shape: '1, 1, 1, 28, 28' is not a list of 1 to 4");
    EXPECT_SPEC_ERROR("[input]\nshape = 1, 28, 28\n[reshape r]\n", "v.spec:3: [reshape r] needs "
                      "'shape = ...'");
}

/* reshape -> gru -> last_step -> linear from a spec: its gradients equal those of the same
 * parameters run through dc_reshape and the modules by hand. */
TEST(view_spec_reshape_gradients_flow)
{
    dc_rng r;
    dc_rng_seed(&r, 7, 0);
    dc_model *m = build("[input]\nshape = 1, 4, 3\n[reshape rows]\nshape = 4, -1\n"
                        "[gru g]\nhidden_size = 5\n[last_step]\n[linear out]\nout_features = 2\n",
                        &r, NULL);
    dc_tensor *x = dc_tensor_new(DC_F32, 4, DC_SHAPE(2, 1, 4, 3));
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(m && x && ctx);
    dc_tensor_normal(x, &r, 0, 1);
    dc_model_zero_grad(m);
    REQUIRE(dc_backward(ctx, dc_sum(ctx, dc_model_forward(ctx, m, x), DC_ALL_AXES, 0)) == DC_OK);
    int n = dc_model_n_tensors(m);
    float *want = NULL;
    int64_t total = 0, off = 0;
    for (int i = 0; i < n; i++)
        total += dc_model_tensor(m, i)->numel;
    REQUIRE((want = malloc((size_t)total * sizeof *want)) != NULL);
    for (int i = 0; i < n; i++, off += dc_model_tensor(m, i - 1)->numel)
        memcpy(want + off, dc_model_tensor(m, i)->grad,
               (size_t)dc_model_tensor(m, i)->numel * sizeof *want);
    dc_ctx_reset(ctx);
    dc_model_zero_grad(m);
    dc_tensor *h = dc_reshape(ctx, x, 3, DC_SHAPE(2, 4, 3));
    for (int k = 1; k < dc_model_n_modules(m); k++) {
        dc_module *mod = dc_model_module(m, k);
        h = mod->forward(ctx, mod, h);
    }
    REQUIRE(dc_backward(ctx, dc_sum(ctx, h, DC_ALL_AXES, 0)) == DC_OK);
    off = 0;
    for (int i = 0; i < n; i++) {
        dc_tensor *p = dc_model_tensor(m, i);
        double norm = 0;
        for (int64_t j = 0; j < p->numel; j++)
            norm += fabs(p->grad[j]);
        CHECK(norm > 0, "%s got no gradient through the reshape", p->name);
        CHECK_ALLCLOSE(p->name, p->grad, want + off, p->numel, 0, 0);
        off += p->numel;
    }
    free(want);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_model_free(m);
}

TEST(view_spec_cnn_lstm_shapes_and_round_trip)
{
    dc_spec *s = dc_spec_parse_file("models/cnn_lstm"), *s2 = NULL;
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    REQUIRE(m);
    CHECK(dc_model_find(m, "conv1.weight") && dc_model_find(m, "lstm.weight_ih_l0") &&
              dc_model_find(m, "out.bias"), "state_dict names conv1.weight, lstm.weight_ih_l0, "
          "out.bias expected");
    dc_tensor *wih = dc_model_find(m, "lstm.weight_ih_l0");
    CHECK(wih && wih->shape[0] == 4 * 32 && wih->shape[1] == 8 * 4 * 4,
          "lstm input size should be the 128 features of one frame");
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = ctx ? dc_zeros(ctx, DC_F32, 5, DC_SHAPE(3, 8, 1, 16, 16)) : NULL;
    dc_tensor *y = x ? dc_model_forward(ctx, m, x) : NULL;
    CHECK(has_shape(y, 2, DC_SHAPE(3, 4)), "a batch of 3 clips should give [3, 4]: %s",
          y ? "" : dc_last_error());
    char *t1 = dc_spec_to_string(s);
    REQUIRE(t1);
    CHECK(strstr(t1, "steps = 8") && strstr(t1, "[fold_time frames]"),
          "the written spec should keep the views:\n%s", t1);
    dc_model *m2 = build(t1, NULL, &s2);
    char *t2 = m2 ? dc_spec_to_string(s2) : NULL;
    CHECK(t2 && !strcmp(t1, t2), "write(parse(write(s))) differs:\n%s\n---\n%s", t1,
          t2 ? t2 : dc_last_error());
    CHECK(m2 && dc_model_n_trainable(m2) == dc_model_n_trainable(m), "round trip changed the "
          "network");
    free(t1);
    free(t2);
    dc_ctx_free(ctx);
    dc_spec_free(s);
    dc_spec_free(s2);
    dc_model_free(m);
    dc_model_free(m2);
}

/* ------------------------------------------------------------------------------------------ */
/* Learning: the direction of a moving square                                                  */
/* ------------------------------------------------------------------------------------------ */

enum { CLIP_T = 8, CLIP_HW = 16, SQ = 3 };

/*
 * n clips [n, T, 1, 16, 16] of a 3x3 square of brightness 1 on N(0, 0.2²) noise, moving right,
 * left, down or up (the class) at a speed in [0.75, 1.5) pixels per frame from a random start
 * that keeps it inside all frames; the other coordinate is random and fixed.
 */
static void make_clips(dc_rng *r, int64_t n, dc_tensor **x, dc_tensor **y)
{
    *x = dc_tensor_new(DC_F32, 5, DC_SHAPE(n, CLIP_T, 1, CLIP_HW, CLIP_HW));
    *y = dc_tensor_new(DC_I64, 1, DC_SHAPE(n));
    if (!*x || !*y)
        return;
    dc_tensor_normal(*x, r, 0.0f, 0.2f);
    for (int64_t i = 0; i < n; i++) {
        int dir = (int)dc_rng_below(r, 4), sign = dir % 2 ? -1 : 1;
        float v = 0.75f + 0.75f * dc_rng_uniform(r);
        float room = (float)(CLIP_HW - SQ) - v * (CLIP_T - 1); /* start range along the motion */
        float s0 = dc_rng_uniform(r) * room;
        int other = (int)dc_rng_below(r, CLIP_HW - SQ + 1);
        dc_i64(*y)[i] = dir;
        for (int t = 0; t < CLIP_T; t++) {
            int p = (int)lroundf(s0 + v * (float)t);
            if (sign < 0)
                p = CLIP_HW - SQ - p;
            int top = dir < 2 ? other : p, left = dir < 2 ? p : other;
            float *f = dc_f32(*x) + (i * CLIP_T + t) * CLIP_HW * CLIP_HW;
            for (int a = 0; a < SQ; a++)
                for (int b = 0; b < SQ; b++)
                    f[(top + a) * CLIP_HW + left + b] = 1.0f;
        }
    }
}

TEST(cnn_lstm_learns_motion_direction)
{
    dc_rng r;
    dc_rng_seed(&r, 2024, 3);
    dc_tensor *xtr, *ytr, *xte, *yte;
    make_clips(&r, 1536, &xtr, &ytr);
    make_clips(&r, 512, &xte, &yte);
    dc_dataset *tr = dc_dataset_tensors(xtr, ytr), *te = dc_dataset_tensors(xte, yte);
    dc_spec *s = dc_spec_parse_file("models/cnn_lstm");
    dc_model *m = s ? dc_spec_build(s, &r) : NULL;
    REQUIRE(tr && te && m);
    int old = dc_get_num_threads();
    dc_set_num_threads(1);
    dc_train_opts o = dc_train_defaults();
    o.epochs = 8;
    o.batch_size = 32;
    o.optim = dc_optim_defaults(DC_ADAM);
    o.optim.lr = 0.003f;
    o.progress = 0;
    dc_eval_result fit, held;
    dc_status st = dc_train(m, tr, &o, &fit);
    CHECK(st == DC_OK, "training failed: %s", dc_last_error());
    st = st ? st : dc_evaluate(m, te, NULL, 0, 256, DC_LOSS_CROSS_ENTROPY, &held);
    dc_set_num_threads(old);
    REQUIRE(st == DC_OK);
    CHECK(held.accuracy >= 0.90, "held-out accuracy %.4f (training %.4f, loss %.4f), expected "
          ">= 0.90", held.accuracy, fit.accuracy, fit.loss);
    printf("  cnn_lstm: training accuracy %.4f, held-out %.4f (%lld clips)\n", fit.accuracy,
           held.accuracy, (long long)held.n);
    dc_eval_result_free(&fit);
    dc_eval_result_free(&held);
    dc_dataset_free(tr);
    dc_dataset_free(te);
    dc_model_free(m);
    dc_spec_free(s);
}
