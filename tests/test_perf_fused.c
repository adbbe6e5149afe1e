/*
 * test_perf_fused.c - the fused inference paths of issue 18 against the recorded ones and
 * PyTorch: the BERT layer without a tape (one QKV buffer, bias + residual + LayerNorm and bias +
 * GELU epilogues) on tests/ref/bert's padded batch, the fused residual LayerNorm kernel bit for
 * bit, and the vectorised normal CDF Φ of the GELU epilogue over a dense grid.
 */
#include "harness.h"

#include "kernels/attn_k.h"
#include "kernels/eltwise_k.h"
#include "kernels/fastmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BERT_REF "tests/ref/bert"

/* tests/ref/bert's tiny model with the reference weights, or NULL after a failed check. */
static dc_model *tiny_bert(dc_tdict **ref)
{
    dc_spec *s = dc_spec_parse_file(BERT_REF "/tiny.spec");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    dc_spec_free(s);
    *ref = dc_safetensors_read(BERT_REF "/pretrain.safetensors");
    CHECK(m && *ref, "tiny BERT: %s", dc_last_error());
    for (int i = 0; m && *ref && i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        const dc_tensor *r = dc_tdict_get(*ref, t->name);
        CHECK(r && r->numel == t->numel, "%s: not in the reference", t->name);
        if (!r || r->numel != t->numel) {
            dc_model_free(m);
            return NULL;
        }
        memcpy(t->data, r->data, sizeof(float) * (size_t)t->numel);
    }
    return m;
}

/* The last encoder layer's output for the reference input, with or without a tape. */
static dc_tensor *hidden(dc_ctx *ctx, dc_model *m, dc_tdict *ref, int grad)
{
    dc_ctx_set_grad(ctx, grad);
    const int nm = dc_model_n_modules(m), li = dc_model_find_module(m, "bert.encoder.layer.1");
    dc_tensor **outs = dc_ctx_alloc(ctx, sizeof *outs * (size_t)nm);
    dc_tensor *x = dc_tdict_get(ref, "input");
    if (!outs || !x || li < 0 || !dc_model_forward_all(ctx, m, x, outs))
        return NULL;
    return outs[li];
}

TEST(perf_bert_inference_path_matches_pytorch_and_the_recorded_path)
{
    dc_tdict *ref = NULL;
    dc_model *m = tiny_bert(&ref);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(m && ctx);
    dc_tensor *fast = hidden(ctx, m, ref, 0), *taped = hidden(ctx, m, ref, 1);
    const dc_tensor *want = dc_tdict_get(ref, "out.hidden");
    REQUIRE(fast && taped && want && fast->numel == want->numel && taped->numel == fast->numel);
    CHECK_ALLCLOSE("inference hidden vs PyTorch", dc_f32(fast), dc_f32(want), fast->numel,
                   T_REF_RTOL, T_REF_ATOL);
    /* the same operations in the same order: the same bits */
    CHECK(memcmp(dc_f32(fast), dc_f32(taped), (size_t)fast->numel * sizeof(float)) == 0,
          "the inference path differs from the recorded one");
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_tdict_free(ref);
}

TEST(perf_add_layer_norm_is_bias_add_then_layer_norm_bit_for_bit)
{
    enum { R = 5, D = 37 };
    float x[R * D], res[R * D], bias[D], w[D], b[D], t[R * D], want[R * D], got[R * D];
    dc_rng r;
    dc_rng_seed(&r, 7, 0);
    for (int i = 0; i < R * D; i++) {
        x[i] = 3.0f * dc_rng_uniform(&r) - 1.0f;
        res[i] = 2.0f * dc_rng_uniform(&r) - 1.0f;
    }
    for (int i = 0; i < D; i++) {
        bias[i] = dc_rng_uniform(&r) - 0.5f;
        w[i] = 1.0f + dc_rng_uniform(&r);
        b[i] = dc_rng_uniform(&r) - 0.5f;
    }
    memcpy(t, x, sizeof t);
    dc_k_add_row(R, D, bias, t);
    for (int i = 0; i < R * D; i++)
        t[i] = t[i] + res[i];
    dc_k_layer_norm_fwd(R, D, t, w, b, 1e-12f, want, NULL, NULL);
    dc_k_add_layer_norm_fwd(R, D, x, bias, res, w, b, 1e-12f, got);
    CHECK(memcmp(got, want, sizeof got) == 0, "fused residual LayerNorm differs");
    memcpy(got, res, sizeof got); /* in place over the residual */
    dc_k_add_layer_norm_fwd(R, D, x, bias, got, w, b, 1e-12f, got);
    CHECK(memcmp(got, want, sizeof got) == 0, "in-place fused residual LayerNorm differs");
}

TEST(perf_bias_gelu_is_bias_add_then_gelu_bit_for_bit)
{
    enum { R = 7, C = 301 };
    static float y[R * C], t[R * C], want[R * C], b[C];
    dc_rng r;
    dc_rng_seed(&r, 9, 0);
    for (int i = 0; i < R * C; i++)
        y[i] = 16.0f * dc_rng_uniform(&r) - 8.0f;
    for (int i = 0; i < C; i++)
        b[i] = dc_rng_uniform(&r) - 0.5f;
    memcpy(t, y, sizeof y);
    dc_k_add_row(R, C, b, t);
    dc_k_gelu_fwd(R * C, 0, t, want);
    dc_k_bias_gelu(R, C, b, y);
    CHECK(memcmp(y, want, sizeof y) == 0, "bias + GELU in one pass differs from the two passes");
}

/* Attention's forward with heads of 64 (two query rows at a time, the accumulators in registers)
 * and of 24 (the generic loop) against a plain double-precision computation, causal, with keys
 * past one block (Tk = 80 > 64). */
static void attn_vs_naive(int64_t D)
{
    enum { N = 2, H = 2, T = 80 };
    const int64_t E = H * D;
    dc_rng r;
    dc_rng_seed(&r, 11, 0);
    dc_tensor *qkv = dc_tensor_new(DC_F32, 3, DC_SHAPE(N, T, 3 * E));
    REQUIRE(qkv);
    dc_tensor_normal(qkv, &r, 0.0f, 1.0f);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_ctx_set_grad(ctx, 0);
    dc_attn_opts o = dc_attn_defaults();
    o.causal = 1;
    dc_tensor *y = dc_attention_packed(ctx, qkv, 0, qkv, E, qkv, 2 * E, H, D, &o);
    REQUIRE(y);
    const float *x = dc_f32(qkv);
    double worst = 0.0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < T; i++) {
                double s[T], mx = -1e300, sum = 0.0;
                const float *q = x + (n * T + i) * 3 * E + h * D;
                for (int64_t j = 0; j <= i; j++) {
                    const float *k = x + (n * T + j) * 3 * E + E + h * D;
                    s[j] = 0.0;
                    for (int64_t d = 0; d < D; d++)
                        s[j] += (double)q[d] * k[d] / sqrt((double)D);
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int64_t j = 0; j <= i; j++)
                    sum += (s[j] = exp(s[j] - mx));
                for (int64_t d = 0; d < D; d++) {
                    double want = 0.0;
                    for (int64_t j = 0; j <= i; j++)
                        want += s[j] / sum * x[(n * T + j) * 3 * E + 2 * E + h * D + d];
                    const double e = fabs(dc_f32(y)[(n * T + i) * E + h * D + d] - want);
                    worst = e > worst ? e : worst;
                }
            }
    CHECK(worst < 2e-5, "attention with D = %lld: off by %g", (long long)D, worst);
    dc_ctx_free(ctx);
    dc_tensor_free(qkv);
}

TEST(perf_attention_heads_of_64_and_24_match_a_plain_computation)
{
    attn_vs_naive(64);
    attn_vs_naive(24);
}

/* y = x·Wᵀ (the weight packed by transposes: 16 x 16 blocks on AVX-512, 8 x 8 and the tails
 * otherwise) against a double sum, and the same bits on 1 and 2 threads (N >= 2M: split by
 * columns since issue 18). */
static void gemm_xwt_case(int M, int N, int K)
{
    const size_t fl = sizeof(float);
    float *a = malloc(fl * (size_t)(M * K)), *w = malloc(fl * (size_t)(N * K));
    float *c1 = malloc(fl * (size_t)(M * N)), *c2 = malloc(fl * (size_t)(M * N));
    REQUIRE(a && w && c1 && c2);
    dc_rng r;
    dc_rng_seed(&r, 3, 0);
    for (int i = 0; i < M * K; i++)
        a[i] = dc_rng_uniform(&r) - 0.5f;
    for (int i = 0; i < N * K; i++)
        w[i] = dc_rng_uniform(&r) - 0.5f;
    const int nt = dc_get_num_threads();
    dc_set_num_threads(1);
    dc_gemm(0, 1, M, N, K, 1.0f, a, K, w, K, 0.0f, c1, N);
    dc_set_num_threads(2);
    dc_gemm(0, 1, M, N, K, 1.0f, a, K, w, K, 0.0f, c2, N);
    dc_set_num_threads(nt);
    CHECK(memcmp(c1, c2, sizeof(float) * (size_t)(M * N)) == 0, "%dx%dx%d: 1 and 2 threads "
          "differ", M, N, K);
    double worst = 0.0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++)
                s += (double)a[i * K + k] * w[j * K + k];
            worst = fmax(worst, fabs(s - c2[i * N + j]));
        }
    CHECK(worst < 1e-4, "%dx%dx%d: x·Wᵀ off by %g", M, N, K, worst);
    free(a);
    free(w);
    free(c1);
    free(c2);
}

TEST(perf_gemm_weight_transposed_right_and_same_bits_any_threads)
{
    gemm_xwt_case(24, 512, 128); /* whole 16 x 16 blocks, split by columns */
    gemm_xwt_case(13, 600, 301); /* row and k tails: 600 = 18 panels of 32 + 24 */
    gemm_xwt_case(130, 40, 100);
}
