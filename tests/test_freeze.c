/*
 * test_freeze.c - frozen models (dc_model_freeze): the packed weights give the unfrozen model's
 * bits at 1 and 2 threads, BERT's query/key/value packed side by side give the three separate
 * GEMMs' bits, the promise is kept (an optimizer step is refused, a load drops the packs, adding
 * a parameter is refused), and the packs are made on first use and freed with the model.
 */
#include "harness.h"

#include "core/internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A small BERT encoder (E = 40: the three projections' 120 columns do not fall on the kernel's
 * 32-column panels) with a linear head, random weights from seed. */
static const char *FREEZE_SPEC =
    "[input]\nshape = 24\ndtype = int64\n"
    "[bert_embeddings emb]\nvocab_size = 50\nhidden_size = 40\ndropout = 0\n"
    "[bert_layer l0]\ninput = emb, input\nnum_attention_heads = 4\nintermediate_size = 72\n"
    "dropout = 0\nattention_dropout = 0\n"
    "[bert_layer l1]\ninput = l0, input\nnum_attention_heads = 4\nintermediate_size = 72\n"
    "dropout = 0\nattention_dropout = 0\n"
    "[linear head]\nout_features = 7\n";

static dc_model *freeze_model(uint64_t seed)
{
    dc_spec *s = dc_spec_parse_string(FREEZE_SPEC, "freeze");
    dc_rng r;
    dc_rng_seed(&r, seed, 0);
    dc_model *m = s ? dc_spec_build(s, &r) : NULL;
    dc_spec_free(s);
    CHECK(m != NULL, "building the model: %s", dc_last_error());
    return m;
}

/* ids [3, 24] (72 rows: the GEMMs' packed path, not the dot products of small M), padding in
 * the last row. */
static dc_tensor *freeze_input(void)
{
    dc_tensor *x = dc_tensor_new(DC_I64, 2, DC_SHAPE(3, 24));
    for (int64_t i = 0; x && i < x->numel; i++)
        dc_i64(x)[i] = i >= 60 ? 0 : 1 + (i * 17 + 5) % 49;
    return x;
}

/* A heap copy of m's output for x on threads threads (inference, no tape); NULL on failure. */
static float *run_copy(dc_model *m, const dc_tensor *x, int threads, int64_t *n)
{
    dc_ctx *ctx = dc_ctx_new(0);
    dc_ctx_set_grad(ctx, 0);
    const int old = dc_get_num_threads();
    dc_set_num_threads(threads);
    dc_tensor *y = ctx ? dc_model_forward(ctx, m, (dc_tensor *)x) : NULL;
    dc_set_num_threads(old);
    float *out = y ? malloc(sizeof(float) * (size_t)y->numel) : NULL;
    if (out) {
        memcpy(out, dc_f32(y), sizeof(float) * (size_t)y->numel);
        *n = y->numel;
    }
    CHECK(out != NULL, "forward: %s", dc_last_error());
    dc_ctx_free(ctx);
    return out;
}

TEST(freeze_bert_same_bits_as_unfrozen_at_1_and_2_threads)
{
    dc_model *m = freeze_model(11);
    dc_tensor *x = freeze_input();
    REQUIRE(m && x);
    int64_t n = 0, n1 = 0, n2 = 0;
    float *want = run_copy(m, x, 1, &n);
    CHECK(dc_model_freeze(m) == DC_OK && dc_model_frozen(m), "freeze: %s", dc_last_error());
    CHECK(dc_model_frozen_bytes(m) == 0, "packed before the first use: %zu bytes",
          dc_model_frozen_bytes(m));
    float *got1 = run_copy(m, x, 1, &n1), *got2 = run_copy(m, x, 2, &n2);
    /* per layer: Q|K|V [40, 120] + out [40, 40] + ff [40, 72] + [72, 40]; the head [40, 7]; each
     * padded to 32 columns */
    const size_t floats = 2 * (40 * 128 + 40 * 64 + 40 * 96 + 72 * 64) + 40 * 32;
    CHECK(dc_model_frozen_bytes(m) >= floats * sizeof(float), "packed %zu bytes, want >= %zu",
          dc_model_frozen_bytes(m), floats * sizeof(float));
    REQUIRE(want && got1 && got2 && n == n1 && n == n2);
    CHECK(memcmp(want, got1, sizeof(float) * (size_t)n) == 0, "frozen, 1 thread: other bits");
    CHECK(memcmp(want, got2, sizeof(float) * (size_t)n) == 0, "frozen, 2 threads: other bits");
    dc_model_unfreeze(m);
    CHECK(!dc_model_frozen(m) && dc_model_frozen_bytes(m) == 0, "unfreeze kept %zu bytes",
          dc_model_frozen_bytes(m));
    free(want);
    free(got1);
    free(got2);
    dc_tensor_free(x);
    dc_model_free(m);
}

/* dc_gemm_packed_run of op(B) in three parts against dc_gemm per part, bit for bit. */
static void packed_case(int ta, int tb, int64_t M, int64_t K, int64_t Np, float beta, int threads)
{
    const int64_t N = 3 * Np;
    float *A = malloc(sizeof(float) * (size_t)(M * K));
    float *B = malloc(sizeof(float) * (size_t)(N * K));
    float *c1 = malloc(sizeof(float) * (size_t)(M * N));
    float *c2 = malloc(sizeof(float) * (size_t)(M * N));
    REQUIRE(A && B && c1 && c2);
    for (int64_t i = 0; i < M * K; i++)
        A[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (int64_t i = 0; i < N * K; i++)
        B[i] = (float)((i * 53) % 97) / 48.0f - 1.0f;
    for (int64_t i = 0; i < M * N; i++)
        c1[i] = c2[i] = (float)(i % 13) - 6.0f;
    /* part i: Np columns of op(B); B_i stored [Np, K] (tb) or [K, Np] */
    const float *src[3];
    int64_t Ns[3] = {Np, Np, Np}, ld[3];
    for (int i = 0; i < 3; i++) {
        src[i] = B + i * Np * K;
        ld[i] = tb ? K : Np;
    }
    const int64_t lda = ta ? M : K;
    const int old = dc_get_num_threads();
    dc_set_num_threads(threads);
    for (int i = 0; i < 3; i++)
        dc_gemm(ta, tb, M, Np, K, 0.5f, A, lda, src[i], ld[i], beta, c1 + i * Np, N);
    dc_gemm_packed *p = dc_gemm_pack_b(tb, K, 3, Ns, src, ld);
    REQUIRE(p);
    dc_gemm_packed_run(ta, M, 0.5f, A, lda, p, beta, c2, N);
    dc_set_num_threads(old);
    CHECK(memcmp(c1, c2, sizeof(float) * (size_t)(M * N)) == 0,
          "ta %d tb %d M %lld K %lld 3 x %lld, beta %g, %d threads: packed B gives other bits",
          ta, tb, (long long)M, (long long)K, (long long)Np, (double)beta, threads);
    dc_gemm_packed_free(p);
    free(A);
    free(B);
    free(c1);
    free(c2);
}

TEST(freeze_qkv_packed_side_by_side_same_bits_as_three_gemms)
{
    for (int threads = 1; threads <= 2; threads++) {
        packed_case(0, 1, 128, 256, 256, 0.0f, threads); /* BERT-mini's Q|K|V at batch 1 */
        packed_case(0, 1, 72, 40, 40, 0.0f, threads);    /* parts straddle the 32-column panels */
        packed_case(0, 1, 200, 300, 50, 1.0f, threads);  /* K blocks, M blocks, beta */
        packed_case(0, 1, 600, 64, 40, 0.0f, threads);   /* >= 512 rows: shared by rows */
        packed_case(1, 1, 30, 70, 24, 0.5f, threads);    /* op(A) = Aᵀ */
        packed_case(0, 0, 40, 64, 33, 0.0f, threads);    /* op(B) = B */
        packed_case(0, 1, 4, 512, 40, 0.0f, threads);    /* small M: dot products, per part */
    }
}

TEST(freeze_refuses_an_optimizer_step_and_adding_parameters)
{
    dc_model *m = freeze_model(3);
    dc_optim_cfg c = dc_optim_defaults(DC_SGD);
    c.lr = 0.1f;
    dc_optim *o = m ? dc_optim_new(m, &c) : NULL;
    REQUIRE(m && o);
    dc_tensor *w = dc_model_find(m, "head.weight");
    REQUIRE(w && w->grad);
    for (int64_t i = 0; i < w->numel; i++)
        w->grad[i] = 1.0f;
    const float before = dc_f32(w)[0];
    REQUIRE(dc_model_freeze(m) == DC_OK);
    CHECK(dc_optim_step(o) == DC_ERR_STATE, "a step on a frozen model was not refused");
    CHECK(strstr(dc_last_error(), "frozen") != NULL, "message: %s", dc_last_error());
    CHECK(dc_f32(w)[0] == before, "the refused step changed a weight");
    CHECK(dc_model_add_param(m, "extra", DC_F32, 1, DC_SHAPE(4), 0) == NULL,
          "adding a parameter to a frozen model was not refused");
    dc_model_unfreeze(m);
    CHECK(dc_optim_step(o) == DC_OK, "step after unfreeze: %s", dc_last_error());
    CHECK(dc_f32(w)[0] != before, "the step after unfreeze changed nothing");
    dc_optim_free(o);
    dc_model_free(m);
}

TEST(freeze_load_drops_the_packs_and_computes_with_the_new_weights)
{
    dc_model *m = freeze_model(5), *other = freeze_model(6);
    dc_tensor *x = freeze_input();
    REQUIRE(m && other && x);
    char path[512];
    snprintf(path, sizeof path, "%s/other.safetensors", t_tmpdir());
    REQUIRE(dc_model_save(other, path) == DC_OK);
    int64_t n = 0, n2 = 0;
    float *want = run_copy(other, x, 1, &n);
    REQUIRE(dc_model_freeze(m) == DC_OK);
    float *old = run_copy(m, x, 1, &n2);
    CHECK(dc_model_frozen_bytes(m) > 0, "nothing was packed");
    CHECK(dc_model_load(m, path, 1, NULL) == DC_OK, "load: %s", dc_last_error());
    CHECK(dc_model_frozen(m) && dc_model_frozen_bytes(m) == 0,
          "after a load: frozen %d, %zu bytes of packs kept", dc_model_frozen(m),
          dc_model_frozen_bytes(m));
    float *got = run_copy(m, x, 2, &n2);
    REQUIRE(want && old && got && n == n2);
    CHECK(memcmp(old, want, sizeof(float) * (size_t)n) != 0, "the two models agree: no test");
    CHECK(memcmp(got, want, sizeof(float) * (size_t)n) == 0,
          "a frozen model computes with its old weights after a load");
    free(want);
    free(old);
    free(got);
    dc_tensor_free(x);
    dc_model_free(other);
    dc_model_free(m); /* frozen, with packs: freed with it (make sanitize checks) */
}

TEST(freeze_packs_only_the_frozen_models_own_weights)
{
    dc_model *m = freeze_model(7);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = freeze_input();
    REQUIRE(m && ctx && x);
    dc_tensor *w = dc_model_find(m, "head.weight"), *mine = dc_tensor_clone(w);
    REQUIRE(w && mine);
    REQUIRE(dc_model_freeze(m) == DC_OK);
    dc_ctx_set_grad(ctx, 0);
    REQUIRE(dc_model_forward(ctx, m, x));
    CHECK(dc_ctx_packs(ctx) == NULL && dc_ctx_packed_wt(ctx, 1, (const dc_tensor *const[]){w}) ==
                                          NULL,
          "the frozen model's packs are still found after its forward");
    /* a cache for the head's weight alone: a copy of it elsewhere is not packed */
    dc_packs *p = dc_packs_new(dc_f32(w), dc_f32(w) + w->numel, "test");
    REQUIRE(p);
    const dc_gemm_packed *a = dc_packs_wt(p, 1, (const dc_tensor *const[]){w});
    CHECK(a != NULL, "the weight inside the block was not packed");
    CHECK(dc_packs_wt(p, 1, (const dc_tensor *const[]){w}) == a, "packed twice");
    CHECK(dc_packs_wt(p, 1, (const dc_tensor *const[]){mine}) == NULL, "a heap copy was packed");
    /* placed, not left to the allocator: a weight just past the block's end, and one past an
     * empty block (a size_t difference wrapped and took both as inside) */
    float *buf = malloc(2 * sizeof(float) * (size_t)w->numel);
    REQUIRE(buf);
    dc_packs *q = dc_packs_new(buf, buf + w->numel, "test");
    dc_packs *none = dc_packs_new(NULL, NULL, "test");
    dc_tensor in = *w, past = *w;
    in.data = buf;
    past.data = buf + w->numel;
    memcpy(buf, dc_f32(w), sizeof(float) * (size_t)w->numel);
    memcpy(buf + w->numel, dc_f32(w), sizeof(float) * (size_t)w->numel);
    CHECK(q && none && dc_packs_wt(q, 1, (const dc_tensor *const[]){&in}) != NULL,
          "a weight at the start of the block was not packed");
    CHECK(q && dc_packs_wt(q, 1, (const dc_tensor *const[]){&past}) == NULL,
          "a weight just past the block was packed");
    CHECK(none && dc_packs_wt(none, 1, (const dc_tensor *const[]){&in}) == NULL,
          "a weight was packed by a cache of no block");
    dc_packs_free(q);
    dc_packs_free(none);
    free(buf);
    CHECK(dc_packs_bytes(p) >= sizeof(float) * 40 * 32, "%zu bytes", dc_packs_bytes(p));
    dc_packs_clear(p);
    CHECK(dc_packs_bytes(p) == 0, "%zu bytes after clear", dc_packs_bytes(p));
    dc_packs_free(p);
    dc_tensor_free(x);
    dc_tensor_free(mine);
    dc_ctx_free(ctx);
    dc_model_free(m);
}

/* A frozen pre-LN Transformer packs every projection, including those of the fused training
 * ops that inference uses too (out_proj and linear2 with their residual, the GELU feed-forward
 * block): the packs hold at least every weight matrix of the layer. */
TEST(freeze_pre_ln_transformer_packs_its_fused_projections)
{
    dc_spec *s = dc_spec_parse_string("[input]\nshape = 24\ndtype = int64\n"
                                      "[embedding tok]\nnum_embeddings = 50\nembedding_dim = 32\n"
                                      "[transformerencoder enc]\nnum_layers = 1\nnhead = 2\n"
                                      "dim_feedforward = 64\ndropout = 0\nnorm_first = true\n"
                                      "activation = gelu\n", "preln");
    dc_rng r;
    dc_rng_seed(&r, 3, 0);
    dc_model *m = s ? dc_spec_build(s, &r) : NULL;
    dc_spec_free(s);
    dc_tensor *x = freeze_input();
    REQUIRE(m && x);
    int64_t n = 0, numel = 0;
    float *want = run_copy(m, x, 1, &n);
    REQUIRE(dc_model_freeze(m) == DC_OK);
    float *got = run_copy(m, x, 1, &n);
    REQUIRE(want && got);
    CHECK(memcmp(want, got, sizeof(float) * (size_t)n) == 0, "frozen differs from unfrozen");
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        const dc_tensor *t = dc_model_tensor(m, i);
        numel += t->ndim == 2 && strstr(t->name, "enc.") ? t->numel : 0;
    }
    CHECK(dc_model_frozen_bytes(m) >= sizeof(float) * (size_t)numel,
          "%zu bytes of packs for %lld floats of layer weights", dc_model_frozen_bytes(m),
          (long long)numel);
    free(want);
    free(got);
    dc_tensor_free(x);
    dc_model_free(m);
}

/* The largest |a - b| over n floats, and the largest |b|. */
static void max_diff(const float *a, const float *b, int64_t n, double *diff, double *mag)
{
    *diff = *mag = 0;
    for (int64_t i = 0; i < n; i++) {
        *diff = fmax(*diff, fabs((double)a[i] - (double)b[i]));
        *mag = fmax(*mag, fabs((double)b[i]));
    }
}

TEST(freeze_bf16_bert_is_near_float32_same_at_any_threads_and_goes_back_to_float32_bits)
{
    dc_model *m = freeze_model(11);
    /* 16 x 24 rows: the products large enough to be split between 2 threads */
    dc_tensor *x = dc_tensor_new(DC_I64, 2, DC_SHAPE(16, 24));
    for (int64_t i = 0; x && i < x->numel; i++)
        dc_i64(x)[i] = i >= 370 ? 0 : 1 + (i * 17 + 5) % 49;
    REQUIRE(m && x);
    int64_t n = 0, n1 = 0, n2 = 0, n3 = 0;
    float *want = run_copy(m, x, 1, &n);
    REQUIRE(dc_model_freeze(m) == DC_OK);
    float *tmp = run_copy(m, x, 1, &n1);
    const size_t bytes32 = dc_model_frozen_bytes(m);
    free(tmp);
    CHECK(dc_model_freeze_bf16(m) == DC_OK && dc_model_frozen(m) && dc_model_frozen_bf16(m),
          "freeze_bf16: %s", dc_last_error());
    CHECK(dc_model_frozen_bytes(m) == 0, "float32 packs kept: %zu bytes", dc_model_frozen_bytes(m));
    float *got1 = run_copy(m, x, 1, &n1), *got2 = run_copy(m, x, 2, &n2);
    const size_t bytes16 = dc_model_frozen_bytes(m);
    CHECK(bytes16 > 0 && bytes16 < bytes32 * 6 / 10, "bf16 packs %zu bytes, float32 %zu",
          bytes16, bytes32);
    REQUIRE(want && got1 && got2 && n1 == n && n2 == n);
    CHECK(memcmp(got1, got2, sizeof(float) * (size_t)n) == 0, "bf16: 1 and 2 threads differ");
    double diff, mag;
    max_diff(got1, want, n, &diff, &mag);
    /* two layers of bfloat16 products: within a few percent of the output's scale, not equal */
    CHECK(diff > 0 && diff < 0.05 * mag, "bf16 against float32: max |diff| %.3g, max |y| %.3g",
          diff, mag);
    CHECK(dc_model_freeze(m) == DC_OK && !dc_model_frozen_bf16(m), "back to float32");
    float *got3 = run_copy(m, x, 2, &n3);
    REQUIRE(got3 && n3 == n);
    CHECK(memcmp(got3, want, sizeof(float) * (size_t)n) == 0, "float32 again: other bits");
    CHECK(dc_model_freeze_bf16(NULL) == DC_ERR_ARG && !dc_model_frozen_bf16(NULL), "NULL model");
    free(want);
    free(got1);
    free(got2);
    free(got3);
    dc_tensor_free(x);
    dc_model_free(m);
}
