/*
 * test_seq.c - the sequence pieces: embedding, one-hot, select_step / select_last.
 *   - against PyTorch (tests/ref/seq/<case>.safetensors from tests/ref/gen_seq.py): embedding
 *     forward and weight gradient with repeated ids and padding_idx, select_last as a gather,
 *     select_step, one_hot; rtol 1e-4, atol 1e-5;
 *   - values and errors (out-of-range ids and lengths name the position and value);
 *   - the embedding backward is bitwise the same at 1 and 2 threads;
 *   - the Embedding module's parameter name, shape and init (padding row zero);
 *   - specs with int64 input: embedding -> flatten -> linear and onehot -> last_step -> linear,
 *     built, run, differentiated and written back; spec errors at the right line.
 */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* PyTorch references                                                                          */
/* ------------------------------------------------------------------------------------------ */

typedef enum seq_kind { S_EMB, S_LAST, S_STEP, S_ONEHOT } seq_kind;

typedef struct seq_ref {
    const char *name;
    seq_kind kind;
    int64_t arg; /* padding_idx, step t or K, as in gen_seq.py */
} seq_ref;

static t_names seq_names;
static void seq_note(const char *name) { t_names_add(&seq_names, name); }

static dc_tensor *seq_apply(dc_ctx *ctx, const seq_ref *c, dc_tensor **x, int n)
{
    switch (c->kind) {
    case S_EMB: return n > 1 ? dc_embedding(ctx, x[0], x[1], c->arg) : NULL;
    case S_LAST: return n > 1 ? dc_select_last(ctx, x[0], x[1]) : NULL;
    case S_STEP: return dc_select_step(ctx, x[0], c->arg);
    case S_ONEHOT: return dc_one_hot(ctx, x[0], c->arg);
    }
    return NULL;
}

static void run_seq_ref(const seq_ref *c)
{
    dc_tdict *d = t_ref_load(t_ref_dir("seq"), c->name);
    if (!d)
        return;
    dc_tensor *x[2] = {0};
    int n = 0, ok = t_ref_inputs(c->name, d, x, 2, &n);
    dc_ctx *ctx = ok ? dc_ctx_new(0) : NULL;
    dc_tensor *y = ctx ? seq_apply(ctx, c, x, n) : NULL;
    if (ok && !y)
        t_fail(__FILE__, __LINE__, "ref %s: the op failed: %s", c->name, dc_last_error());
    if (y) {
        t_ref_compare(c->name, "y", y, dc_f32(y), dc_tdict_get(d, "y"));
        if (c->kind != S_ONEHOT && t_ref_backward(ctx, c->name, y, dc_tdict_get(d, "dy")))
            t_ref_compare_grads(c->name, d, x, n);
    }
    dc_ctx_free(ctx);
    for (int i = 0; i < n; i++)
        dc_tensor_free(x[i]);
    dc_tdict_free(d);
}

#define SEQ_REF(nm, k, a)                                                              \
    static const seq_ref seqc_##nm = {#nm, k, a};                                      \
    __attribute__((constructor)) static void seqn_##nm(void) { seq_note(#nm); }        \
    TEST(seq_ref_##nm) { run_seq_ref(&seqc_##nm); }

SEQ_REF(embedding_basic, S_EMB, -1)
SEQ_REF(embedding_pad, S_EMB, 1)
SEQ_REF(embedding_pad_3d, S_EMB, 0)
SEQ_REF(select_last_var, S_LAST, 0)
SEQ_REF(select_last_rep, S_LAST, 0)
SEQ_REF(select_step_2, S_STEP, 2)
SEQ_REF(select_step_m1, S_STEP, -1)
SEQ_REF(onehot, S_ONEHOT, 5)

TEST(seq_ref_every_file_has_a_test)
{
    t_ref_check_files(t_ref_dir("seq"), &seq_names, NULL, "tests/test_seq.c");
}

/* ------------------------------------------------------------------------------------------ */
/* Values and errors                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* A heap int64 tensor of shape with the given values. */
static dc_tensor *ids_new(int ndim, const int64_t *shape, const int64_t *vals)
{
    dc_tensor *t = dc_tensor_new(DC_I64, ndim, shape);
    if (t && vals)
        memcpy(t->data, vals, (size_t)t->numel * sizeof(int64_t));
    return t;
}

/* y must be NULL and the message contain want. */
static void expect_fail(const dc_tensor *y, const char *want, const char *file, int line)
{
    if (y)
        t_fail(file, line, "the op succeeded but should fail with '%s'", want);
    else if (!strstr(dc_last_error(), want))
        t_fail(file, line, "error '%s' does not contain '%s'", dc_last_error(), want);
}
#define EXPECT_FAIL(y, want) expect_fail(y, want, __FILE__, __LINE__)

TEST(seq_one_hot_values_and_errors)
{
    static const int64_t v[] = {0, 2, 1, 2, 0, 3};
    dc_tensor *ids = ids_new(2, DC_SHAPE(2, 3), v), *bad = ids_new(1, DC_SHAPE(3), NULL);
    dc_tensor *f = dc_tensor_new(DC_F32, 1, DC_SHAPE(3));
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ids && bad && f && ctx);
    dc_tensor *y = dc_one_hot(ctx, ids, 4);
    REQUIRE(y);
    CHECK(y->dtype == DC_F32 && y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 &&
              y->shape[2] == 4, "one_hot of [2, 3] with K 4 should be float [2, 3, 4]");
    for (int p = 0; p < 6; p++)
        for (int k = 0; k < 4; k++)
            CHECK(dc_f32(y)[p * 4 + k] == (k == v[p] ? 1.0f : 0.0f), "y[%d, %d] = %g", p, k,
                  (double)dc_f32(y)[p * 4 + k]);
    CHECK(dc_ctx_tape_len(ctx) == 0, "one_hot must record nothing");
    EXPECT_FAIL(dc_one_hot(ctx, ids, 3), "id 3 at position [1, 2] is out of range [0, 3)");
    dc_i64(bad)[1] = -2;
    EXPECT_FAIL(dc_one_hot(ctx, bad, 4), "id -2 at position [1]");
    EXPECT_FAIL(dc_one_hot(ctx, ids, 0), "must be >= 1");
    EXPECT_FAIL(dc_one_hot(ctx, f, 4), "ids must be int64");
    dc_clear_error();
    CHECK(dc_one_hot(ctx, NULL, 4) == NULL && !*dc_last_error(), "NULL in, NULL out, no error");
    dc_ctx_free(ctx);
    dc_tensor_free(ids);
    dc_tensor_free(bad);
    dc_tensor_free(f);
}

TEST(seq_embedding_values_and_errors)
{
    static const int64_t v[] = {2, 0, 2, 1, 3, 6};
    dc_tensor *ids = ids_new(2, DC_SHAPE(2, 3), v), *w = dc_tensor_new(DC_F32, 2, DC_SHAPE(4, 3));
    dc_tensor *w1 = dc_tensor_new(DC_F32, 1, DC_SHAPE(4)), *f = dc_tensor_new(DC_F32, 1,
                                                                             DC_SHAPE(2));
    dc_tensor *ids5 = ids_new(5, DC_SHAPE(1, 1, 1, 1, 1), NULL);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ids && w && w1 && f && ids5 && ctx);
    for (int i = 0; i < 12; i++)
        dc_f32(w)[i] = (float)i;
    EXPECT_FAIL(dc_embedding(ctx, ids, w, -1), "id 6 at position [1, 2] is out of range [0, 4)");
    dc_i64(ids)[5] = 3;
    dc_tensor *y = dc_embedding(ctx, ids, w, -1);
    REQUIRE(y);
    CHECK(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 3,
          "embedding of [2, 3] ids with E 3 should be [2, 3, 3]");
    for (int p = 0; p < 6; p++)
        for (int e = 0; e < 3; e++)
            CHECK(dc_f32(y)[p * 3 + e] == (float)(dc_i64(ids)[p] * 3 + e), "y[%d, %d] = %g", p,
                  e, (double)dc_f32(y)[p * 3 + e]);
    EXPECT_FAIL(dc_embedding(ctx, ids, w, 4), "padding_idx must be in [0, 4) or -1");
    EXPECT_FAIL(dc_embedding(ctx, ids, w, -2), "got -2");
    EXPECT_FAIL(dc_embedding(ctx, ids, w1, -1), "weight must have 2 dims");
    EXPECT_FAIL(dc_embedding(ctx, f, w, -1), "ids must be int64");
    EXPECT_FAIL(dc_embedding(ctx, ids, ids, -1), "weight must be float32");
    EXPECT_FAIL(dc_embedding(ctx, ids5, w, -1), "at most 4 dims");
    dc_ctx_free(ctx);
    dc_tensor_free(ids);
    dc_tensor_free(ids5);
    dc_tensor_free(w);
    dc_tensor_free(w1);
    dc_tensor_free(f);
}

/* dW of Σ y·dy for 2000 ids over 50 rows with padding_idx 7, at the given thread count. */
static int emb_grad(int threads, const dc_tensor *ids, dc_tensor *w, const dc_tensor *dy)
{
    int old = dc_get_num_threads();
    dc_set_num_threads(threads);
    dc_tensor_zero_grad(w);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *y = ctx ? dc_embedding(ctx, (dc_tensor *)ids, w, 7) : NULL;
    int ok = y && dc_backward_with(ctx, y, dy) == DC_OK;
    dc_ctx_free(ctx);
    dc_set_num_threads(old);
    return ok;
}

TEST(seq_embedding_grad_is_thread_independent)
{
    const int64_t P = 2000, V = 50, E = 64;
    dc_rng r;
    dc_rng_seed(&r, 5, 1);
    dc_tensor *ids = ids_new(1, DC_SHAPE(P), NULL), *w = dc_tensor_new(DC_F32, 2, DC_SHAPE(V, E));
    dc_tensor *dy = dc_tensor_new(DC_F32, 2, DC_SHAPE(P, E));
    float *g1 = malloc((size_t)(V * E) * sizeof *g1);
    double *want = calloc((size_t)(V * E), sizeof *want);
    REQUIRE(ids && w && dy && g1 && want && dc_tensor_requires_grad(w) == DC_OK);
    dc_tensor_normal(w, &r, 0, 1);
    dc_tensor_normal(dy, &r, 0, 1);
    for (int64_t p = 0; p < P; p++) {
        dc_i64(ids)[p] = dc_rng_below(&r, (uint32_t)V);
        for (int64_t e = 0; dc_i64(ids)[p] != 7 && e < E; e++)
            want[dc_i64(ids)[p] * E + e] += dc_f32(dy)[p * E + e];
    }
    CHECK(emb_grad(1, ids, w, dy), "backward at 1 thread failed: %s", dc_last_error());
    memcpy(g1, w->grad, (size_t)(V * E) * sizeof *g1);
    CHECK(emb_grad(2, ids, w, dy), "backward at 2 threads failed: %s", dc_last_error());
    CHECK(memcmp(g1, w->grad, (size_t)(V * E) * sizeof *g1) == 0,
          "dW differs between 1 and 2 threads");
    double worst = 0;
    for (int64_t i = 0; i < V * E; i++)
        worst = fmax(worst, fabs(g1[i] - want[i]));
    CHECK(worst < 1e-4, "dW differs from a double sum by %g", worst);
    for (int64_t e = 0; e < E; e++)
        CHECK(g1[7 * E + e] == 0.0f, "the padding row got gradient %g at %lld",
              (double)g1[7 * E + e], (long long)e);
    free(g1);
    free(want);
    dc_tensor_free(ids);
    dc_tensor_free(w);
    dc_tensor_free(dy);
}

TEST(seq_embedding_module_init)
{
    dc_rng r;
    dc_rng_seed(&r, 3, 0);
    dc_model *m = dc_model_new();
    REQUIRE(m);
    REQUIRE(dc_model_add(m, dc_embedding_new(m, "tok", 100, 16, 0, &r)) == DC_OK);
    dc_tensor *w = dc_model_find(m, "tok.weight");
    REQUIRE(w);
    CHECK(w->ndim == 2 && w->shape[0] == 100 && w->shape[1] == 16, "tok.weight should be "
          "[100, 16]");
    CHECK(dc_model_n_trainable(m) == 1600, "trainable %lld", (long long)dc_model_n_trainable(m));
    double s = 0, s2 = 0;
    for (int e = 0; e < 16; e++)
        CHECK(dc_f32(w)[e] == 0.0f, "padding row 0 should start at zero");
    for (int64_t i = 16; i < w->numel; i++) {
        s += dc_f32(w)[i];
        s2 += (double)dc_f32(w)[i] * dc_f32(w)[i];
    }
    double mean = s / 1584, sd = sqrt(s2 / 1584 - mean * mean);
    CHECK(fabs(mean) < 0.1 && fabs(sd - 1) < 0.1, "N(0, 1) init: mean %g, std %g", mean, sd);
    dc_model_free(m);
    m = dc_model_new();
    REQUIRE(m);
    CHECK(!dc_embedding_new(m, "e", 0, 4, -1, NULL) && strstr(dc_last_error(), "positive"),
          "num_embeddings 0 should fail: %s", dc_last_error());
    CHECK(!dc_embedding_new(m, "e", 5, 4, 5, NULL) && strstr(dc_last_error(), "padding_idx"),
          "padding_idx 5 of 5 should fail: %s", dc_last_error());
    CHECK(!dc_one_hot_new(m, "o", 0) && strstr(dc_last_error(), "num_classes"),
          "num_classes 0 should fail: %s", dc_last_error());
    dc_model_free(m);
}

TEST(seq_select_step_and_last)
{
    static const int64_t lv[] = {3, 1};
    dc_tensor *x = dc_tensor_new(DC_F32, 3, DC_SHAPE(2, 3, 2)), *lens = ids_new(1, DC_SHAPE(2), lv);
    dc_tensor *x2 = dc_tensor_new(DC_F32, 2, DC_SHAPE(2, 3)), *fl = dc_tensor_new(DC_F32, 1,
                                                                                DC_SHAPE(2));
    dc_tensor *l3 = ids_new(1, DC_SHAPE(3), NULL);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(x && lens && x2 && fl && l3 && ctx);
    for (int i = 0; i < 12; i++)
        dc_f32(x)[i] = (float)i; /* x[n, t, f] = 6n + 2t + f */
    dc_tensor *a = dc_select_step(ctx, x, -1), *b = dc_select_step(ctx, x, 1);
    dc_tensor *c = dc_select_last(ctx, x, lens), *d = dc_select_last(ctx, x, NULL);
    REQUIRE(a && b && c && d);
    CHECK(a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 2, "select_step gives [N, F]");
    for (int n = 0; n < 2; n++)
        for (int f = 0; f < 2; f++) {
            CHECK(dc_f32(a)[n * 2 + f] == (float)(6 * n + 4 + f), "step -1 [%d, %d]", n, f);
            CHECK(dc_f32(b)[n * 2 + f] == (float)(6 * n + 2 + f), "step 1 [%d, %d]", n, f);
            CHECK(dc_f32(c)[n * 2 + f] == (float)(6 * n + 2 * (lv[n] - 1) + f), "last [%d, %d]",
                  n, f);
            CHECK(dc_f32(d)[n * 2 + f] == dc_f32(a)[n * 2 + f], "last of NULL lengths [%d, %d]",
                  n, f);
        }
    EXPECT_FAIL(dc_select_step(ctx, x, 3), "step 3 is out of range [-3, 3)");
    EXPECT_FAIL(dc_select_step(ctx, x, -4), "step -4 is out of range");
    EXPECT_FAIL(dc_select_step(ctx, x2, 0), "must be [N, T, F]");
    EXPECT_FAIL(dc_select_last(ctx, x2, NULL), "must be [N, T, F]");
    dc_i64(lens)[1] = 0;
    EXPECT_FAIL(dc_select_last(ctx, x, lens), "length 0 of sequence 1 is out of range [1, 3]");
    dc_i64(lens)[1] = 4;
    EXPECT_FAIL(dc_select_last(ctx, x, lens), "length 4 of sequence 1");
    EXPECT_FAIL(dc_select_last(ctx, x, fl), "lengths must be int64");
    EXPECT_FAIL(dc_select_last(ctx, x, l3), "lengths must be [N] = [2]");
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(x2);
    dc_tensor_free(fl);
    dc_tensor_free(l3);
    dc_tensor_free(lens);
}

/* ------------------------------------------------------------------------------------------ */
/* Specs with int64 input                                                                      */
/* ------------------------------------------------------------------------------------------ */

static const char EMB_SPEC[] = "[input]\nshape = 6\ndtype = int64\n"
                               "[embedding emb]\nnum_embeddings = 10\nembedding_dim = 3\n"
                               "padding_idx = 0\n"
                               "[flatten]\n"
                               "[linear fc]\nout_features = 4\n";

/* Build text with weights from seed; NULL on failure (message kept). */
static dc_model *spec_build(const char *text, dc_spec **out)
{
    dc_rng r;
    dc_rng_seed(&r, 11, 0);
    dc_spec *s = dc_spec_parse_string(text, "seq.spec");
    dc_model *m = s ? dc_spec_build(s, &r) : NULL;
    if (out && m)
        *out = s;
    else
        dc_spec_free(s);
    return m;
}

TEST(seq_spec_embedding_flatten_linear)
{
    static const int64_t v[] = {0, 3, 3, 9, 0, 1, 2, 2, 5, 0, 7, 7};
    dc_spec *s = NULL;
    dc_model *m = spec_build(EMB_SPEC, &s);
    REQUIRE(m);
    dc_tensor *ew = dc_model_find(m, "emb.weight"), *fw = dc_model_find(m, "fc.weight");
    dc_tensor *fb = dc_model_find(m, "fc.bias");
    REQUIRE(ew && fw && fb);
    CHECK(fw->shape[0] == 4 && fw->shape[1] == 18, "fc.weight should be [4, 18] (6 ids x 3)");
    for (int e = 0; e < 3; e++)
        CHECK(dc_f32(ew)[e] == 0.0f, "padding row 0 should start at zero");
    dc_tensor *ids = ids_new(2, DC_SHAPE(2, 6), v);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ids && ctx);
    dc_tensor *y = dc_model_forward(ctx, m, ids);
    REQUIRE(y);
    CHECK(y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 4, "output should be [2, 4]");
    for (int n = 0; n < 2; n++)
        for (int o = 0; o < 4; o++) {
            double want = dc_f32(fb)[o];
            for (int t = 0; t < 6; t++)
                for (int e = 0; e < 3; e++)
                    want += (double)dc_f32(fw)[o * 18 + t * 3 + e] *
                            dc_f32(ew)[v[n * 6 + t] * 3 + e];
            CHECK_NEAR(dc_f32(y)[n * 4 + o], want, 1e-5);
        }
    dc_model_zero_grad(m);
    REQUIRE(dc_backward(ctx, dc_sum(ctx, y, DC_ALL_AXES, 0)) == DC_OK);
    for (int e = 0; e < 3; e++) {
        CHECK(ew->grad[0 * 3 + e] == 0.0f, "the padding row must get no gradient");
        CHECK(ew->grad[4 * 3 + e] == 0.0f, "an unused row must get no gradient");
        /* id 7 sits at positions (1, 4) and (1, 5): dL/dw[7, e] = Σ_o fw[o, 12+e] + fw[o, 15+e] */
        double want = 0;
        for (int o = 0; o < 4; o++)
            want += (double)dc_f32(fw)[o * 18 + 12 + e] + dc_f32(fw)[o * 18 + 15 + e];
        CHECK_NEAR(ew->grad[7 * 3 + e], want, 1e-5);
    }
    char *text = dc_spec_to_string(s);
    REQUIRE(text);
    CHECK(strstr(text, "padding_idx = 0") && strstr(text, "num_embeddings = 10"),
          "the spec should keep its keys:\n%s", text);
    dc_model *m2 = spec_build(text, NULL);
    CHECK(m2 && dc_model_n_trainable(m2) == dc_model_n_trainable(m),
          "the written spec should build the same network: %s", dc_last_error());
    dc_model_free(m2);
    free(text);
    dc_ctx_free(ctx);
    dc_tensor_free(ids);
    dc_spec_free(s);
    dc_model_free(m);
}

/* onehot(7) -> last_step (step) -> linear(2): y[n] = fc.weight[:, ids[n, step]] + fc.bias */
static void check_onehot_last(const char *step_line, int step, const char *echo)
{
    static const int64_t v[] = {1, 4, 6, 0, 2, 3, 3, 5, 1, 6};
    char text[400];
    snprintf(text, sizeof text, "[input]\nshape = 5\ndtype = int64\n[onehot]\nnum_classes = 7\n"
             "[last_step last]\n%s[linear out]\nout_features = 2\n", step_line);
    dc_spec *s = NULL;
    dc_model *m = spec_build(text, &s);
    REQUIRE(m);
    dc_tensor *w = dc_model_find(m, "out.weight"), *b = dc_model_find(m, "out.bias");
    dc_tensor *ids = ids_new(2, DC_SHAPE(2, 5), v);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *y = ids && ctx ? dc_model_forward(ctx, m, ids) : NULL;
    CHECK(w && b && y && w->shape[1] == 7, "onehot spec: %s", dc_last_error());
    int t = step < 0 ? step + 5 : step;
    for (int n = 0; y && n < 2; n++)
        for (int o = 0; o < 2; o++)
            CHECK_NEAR(dc_f32(y)[n * 2 + o], dc_f32(w)[o * 7 + v[n * 5 + t]] + dc_f32(b)[o],
                       1e-6);
    char *out = dc_spec_to_string(s);
    CHECK(out && strstr(out, echo), "the spec should say '%s':\n%s", echo, out ? out : "");
    free(out);
    dc_ctx_free(ctx);
    dc_tensor_free(ids);
    dc_spec_free(s);
    dc_model_free(m);
}

TEST(seq_spec_onehot_last_step)
{
    check_onehot_last("", -1, "step = -1");
    check_onehot_last("step = 1\n", 1, "step = 1");
    check_onehot_last("step = -3\n", -3, "num_classes = 7");
}

/* The build must fail with a message containing want. */
static void spec_fails(const char *text, const char *want, const char *file, int line)
{
    dc_model *m = spec_build(text, NULL);
    if (m) {
        t_fail(file, line, "spec built but should fail with '%s'", want);
        dc_model_free(m);
    } else if (!strstr(dc_last_error(), want)) {
        t_fail(file, line, "error '%s' does not contain '%s'", dc_last_error(), want);
    }
}
#define SPEC_FAILS(text, want) spec_fails(text, want, __FILE__, __LINE__)

TEST(seq_spec_errors)
{
#define IDS "[input]\nshape = 4\ndtype = int64\n"
    SPEC_FAILS(IDS "[embedding e]\nembedding_dim = 3\n", "seq.spec:4: [embedding e] needs "
               "'num_embeddings = ...'");
    SPEC_FAILS(IDS "[embedding e]\nnum_embeddings = 5\n", "needs 'embedding_dim");
    SPEC_FAILS(IDS "[embedding e]\nnum_embeddings = 5\nembedding_dim = 2\npadding_idx = 5\n",
               "seq.spec:7: [embedding e] padding_idx: 5 is out of range [0, 4]");
    SPEC_FAILS(IDS "[embedding e]\nnum_embeddings = 5\nembedding_dim = 2\npadding_idx = x\n",
               "padding_idx: 'x' is not a list");
    SPEC_FAILS(IDS "[embedding e]\nnum_embeddings = 5\nembedding_dim = 2\nsize = 3\n",
               "unknown key (known: input, num_embeddings, embedding_dim, padding_idx)");
    SPEC_FAILS("[input]\nshape = 4\n[embedding e]\nnum_embeddings = 5\nembedding_dim = 2\n",
               "ids must be int64");
    SPEC_FAILS(IDS "[onehot]\n", "needs 'num_classes");
    SPEC_FAILS("[input]\nshape = 4\n[onehot]\nnum_classes = 3\n",
               "seq.spec:3: [onehot onehot1] does not fit its input [1, 4]: one_hot: ids must be "
               "int64");
    SPEC_FAILS(IDS "[embedding e]\nnum_embeddings = 5\nembedding_dim = 2\n[last_step]\n"
               "step = 4\n", "step 4 is out of range [-4, 4)");
    SPEC_FAILS("[input]\nshape = 4\n[last_step]\n", "must be [N, T, F]");
#undef IDS
}
