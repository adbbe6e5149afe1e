/*
 * gc_ops.c - gradient-check cases for the core ops: broadcasting arithmetic, scalar and unary
 * math, matmul/linear, reductions, shape ops, activations, softmax and dropout.
 *
 * Each case is a setup (inputs made by the macros below) and a one-line forward. Inputs near a
 * kink (relu, leaky relu, abs at 0) are pushed away from it with gc_avoid; log, sqrt, fractional
 * powers and denominators get inputs in [0.5, 2].
 */
#include "gradcheck.h"
#include "core/internal.h"

#include <stddef.h>

/* ins[0..n) or -1 (freeing what was made) if any allocation failed. */
static int finish(dc_tensor **in, int n)
{
    for (int i = 0; i < n; i++)
        if (!in[i]) {
            for (int j = 0; j < n; j++)
                dc_tensor_free(in[j]);
            return -1;
        }
    return n;
}

#define NDIM(...) ((int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
/* A checked input U(lo, hi) of the given shape / one not checked. Use inside SETUP only. */
#define P(lo, hi, ...) gc_param(r, NDIM(__VA_ARGS__), DC_SHAPE(__VA_ARGS__), lo, hi)
#define K(lo, hi, ...) gc_const(r, NDIM(__VA_ARGS__), DC_SHAPE(__VA_ARGS__), lo, hi)

/* static int fn(...): ins = the listed tensors, made in order. */
#define SETUP(fn, ...)                                                                 \
    static int fn(dc_rng *r, dc_tensor **in, void **st)                                \
    {                                                                                  \
        (void)st;                                                                      \
        dc_tensor *const mk_[] = {__VA_ARGS__};                                        \
        const int n_ = (int)(sizeof mk_ / sizeof *mk_);                                \
        for (int i = 0; i < n_; i++)                                                   \
            in[i] = mk_[i];                                                            \
        return finish(in, n_);                                                         \
    }

/* A setup with one checked input kept at least 0.05 away from 0. */
#define SETUP_KINK0(fn, ...)                                                           \
    static int fn(dc_rng *r, dc_tensor **in, void **st)                                \
    {                                                                                  \
        static const float zero[1] = {0.0f};                                           \
        (void)st;                                                                      \
        in[0] = P(-2.0f, 2.0f, __VA_ARGS__);                                           \
        if (in[0])                                                                     \
            gc_avoid(in[0], zero, 1, 0.05f);                                           \
        return finish(in, 1);                                                          \
    }

/* static dc_tensor *fn(ctx, in, st) { return expr; } */
#define FWD(fn, expr)                                                                  \
    static dc_tensor *fn(dc_ctx *ctx, dc_tensor **in, void *st)                        \
    {                                                                                  \
        (void)st;                                                                      \
        return expr;                                                                   \
    }

/* ---- setups ---- */

SETUP(s_23_23, P(-2, 2, 2, 3), P(-2, 2, 2, 3))
SETUP(s_234_31, P(-2, 2, 2, 3, 4), P(-2, 2, 3, 1))
SETUP(s_4_234, P(-2, 2, 4), P(-2, 2, 2, 3, 4))
SETUP(s_53_3, P(-2, 2, 5, 3), P(-2, 2, 3))
SETUP(s_214_31, P(-2, 2, 2, 1, 4), P(-2, 2, 3, 1))
SETUP(s_11_234, P(-2, 2, 1, 1), P(-2, 2, 2, 3, 4))
SETUP(s_34_pos, P(-2, 2, 3, 4), P(0.5f, 2, 3, 4))
SETUP(s_234_31pos, P(-2, 2, 2, 3, 4), P(0.5f, 2, 3, 1))
SETUP(s_4_234pos, P(-2, 2, 4), P(0.5f, 2, 2, 3, 4))
SETUP(s_31_234pos, P(-2, 2, 3, 1), P(0.5f, 2, 2, 3, 4))
SETUP(s_234_c4, P(-2, 2, 2, 3, 4), K(-2, 2, 4))
SETUP(s_34, P(-2, 2, 3, 4))
SETUP(s_34_small, P(-1, 1, 3, 4))
SETUP(s_34_pos1, P(0.5f, 2, 3, 4))
SETUP(s_234, P(-2, 2, 2, 3, 4))
SETUP(s_2345, P(-2, 2, 2, 3, 4, 5))
SETUP(s_372, P(-2, 2, 3, 7, 2))
SETUP(s_35, P(-3, 3, 3, 5))
SETUP(s_45, P(-3, 3, 4, 5))
SETUP(s_sig, P(-6, 6, 4, 6))
SETUP_KINK0(s_kink_34, 3, 4)
SETUP_KINK0(s_kink_234, 2, 3, 4)
SETUP(s_mm2, P(-1, 1, 3, 4), P(-1, 1, 4, 5))
SETUP(s_mm3, P(-1, 1, 2, 3, 4), P(-1, 1, 2, 4, 5))
SETUP(s_mm32, P(-1, 1, 2, 3, 4), P(-1, 1, 4, 5))
SETUP(s_mm_c, K(-1, 1, 3, 4), P(-1, 1, 4, 2))
SETUP(s_lin, P(-1, 1, 4, 3), P(-1, 1, 5, 3), P(-1, 1, 5))
SETUP(s_linres, P(-1, 1, 4, 3), P(-1, 1, 5, 3), P(-1, 1, 5), P(-1, 1, 4, 5))
SETUP(s_linres3, P(-1, 1, 2, 3, 4), P(-1, 1, 5, 4), P(-1, 1, 5), P(-1, 1, 2, 3, 5))
SETUP(s_ln_linear, P(-1, 1, 2, 3, 5), P(0.5, 1.5, 5), P(-1, 1, 5), P(-1, 1, 4, 5), P(-1, 1, 4))
SETUP(s_ln_ffn, P(-1, 1, 4, 3), P(0.5, 1.5, 3), P(-1, 1, 3), P(-1, 1, 6, 3), P(-1, 1, 6),
      P(-1, 1, 3, 6), P(-1, 1, 3))
SETUP(s_ffn, P(-1, 1, 4, 3), P(-1, 1, 6, 3), P(-1, 1, 6), P(-1, 1, 3, 6), P(-1, 1, 3),
      P(-1, 1, 4, 3))
SETUP(s_lin_nb, P(-1, 1, 4, 3), P(-1, 1, 5, 3))
SETUP(s_lin3, P(-1, 1, 2, 3, 4), P(-1, 1, 5, 4), P(-1, 1, 5))
SETUP(s_lin1, P(-1, 1, 4), P(-1, 1, 3, 4), P(-1, 1, 3))
SETUP(s_cat0, P(-2, 2, 2, 3), P(-2, 2, 1, 3), P(-2, 2, 3, 3))
SETUP(s_cat1, P(-2, 2, 2, 1, 2), P(-2, 2, 2, 3, 2), K(-2, 2, 2, 2, 2))
SETUP(s_cat5, P(-2, 2, 2, 1), P(-2, 2, 2, 2), P(-2, 2, 2, 1), P(-2, 2, 2, 3), P(-2, 2, 2, 1))

/* ---- forwards ---- */

FWD(f_add, dc_add(ctx, in[0], in[1]))
FWD(f_sub, dc_sub(ctx, in[0], in[1]))
FWD(f_mul, dc_mul(ctx, in[0], in[1]))
FWD(f_div, dc_div(ctx, in[0], in[1]))
FWD(f_mul_self, dc_mul(ctx, in[0], in[0]))
FWD(f_mul_chain, dc_mul(ctx, dc_tanh(ctx, in[0]), dc_add(ctx, in[0], in[1])))
FWD(f_add_scalar, dc_add_scalar(ctx, in[0], 1.5f))
FWD(f_mul_scalar, dc_mul_scalar(ctx, in[0], -0.7f))
FWD(f_pow2, dc_pow_scalar(ctx, in[0], 2.0f))
FWD(f_pow3, dc_pow_scalar(ctx, in[0], 3.0f))
FWD(f_pow_half, dc_pow_scalar(ctx, in[0], 0.5f))
FWD(f_pow_neg, dc_pow_scalar(ctx, in[0], -1.5f))
FWD(f_neg, dc_neg(ctx, in[0]))
FWD(f_exp, dc_exp(ctx, in[0]))
FWD(f_log, dc_log(ctx, in[0]))
FWD(f_sqrt, dc_sqrt(ctx, in[0]))
FWD(f_abs, dc_abs(ctx, in[0]))
FWD(f_matmul, dc_matmul(ctx, in[0], in[1]))
FWD(f_linear, dc_linear(ctx, in[0], in[1], in[2]))
FWD(f_linear_nb, dc_linear(ctx, in[0], in[1], NULL))
/* the fused Transformer ops of training: the residual a leaf, and an op's output (whose gradient
 * buffer the backward hands over instead of adding into it) */
FWD(f_linres, dc_linear_residual(ctx, in[0], in[1], in[2], in[3]))
FWD(f_linres_mid, dc_linear_residual(ctx, in[0], in[1], in[2], dc_mul_scalar(ctx, in[3], -0.7f)))
FWD(f_ffn, dc_ffn_gelu_residual(ctx, in[0], in[1], in[2], in[3], in[4], in[5]))
/* a pre-LN block's norm fused into the op after it; x an op's output (the residual stream) */
FWD(f_ln_linear, dc_layer_norm_linear(ctx, dc_mul_scalar(ctx, in[0], -0.7f), in[1], in[2], 1e-5f,
                                      in[3], in[4]))
FWD(f_ln_ffn, dc_ln_ffn_gelu_residual(ctx, dc_mul_scalar(ctx, in[0], -0.7f), in[1], in[2], 1e-5f,
                                      in[3], in[4], in[5], in[6]))
FWD(f_ffn_mid, dc_ffn_gelu_residual(ctx, in[0], in[1], in[2], in[3], in[4],
                                    dc_mul_scalar(ctx, in[5], -0.7f)))
FWD(f_sum_all, dc_sum(ctx, in[0], DC_ALL_AXES, 0))
FWD(f_sum_all_k, dc_sum(ctx, in[0], DC_ALL_AXES, 1))
FWD(f_sum0, dc_sum(ctx, in[0], 0, 0))
FWD(f_sum1, dc_sum(ctx, in[0], 1, 0))
FWD(f_sum2, dc_sum(ctx, in[0], 2, 0))
FWD(f_sum1k, dc_sum(ctx, in[0], 1, 1))
FWD(f_sum_m1k, dc_sum(ctx, in[0], -1, 1))
FWD(f_mean_all, dc_mean(ctx, in[0], DC_ALL_AXES, 0))
FWD(f_mean0, dc_mean(ctx, in[0], 0, 0))
FWD(f_mean1, dc_mean(ctx, in[0], 1, 0))
FWD(f_mean2, dc_mean(ctx, in[0], 2, 0))
FWD(f_mean0k, dc_mean(ctx, in[0], 0, 1))
FWD(f_mean_m1k, dc_mean(ctx, in[0], -1, 1))
/* reshape output times a fixed function so the view's own gradient matters */
FWD(f_reshape, dc_tanh(ctx, dc_reshape(ctx, in[0], 2, DC_SHAPE(6, -1))))
FWD(f_reshape3, dc_reshape(ctx, in[0], 3, DC_SHAPE(4, -1, 2)))
FWD(f_flatten, dc_flatten(ctx, in[0], 1, -1))
FWD(f_flatten01, dc_flatten(ctx, in[0], 0, 1))
FWD(f_tr01, dc_transpose(ctx, in[0], 0, 1))
FWD(f_tr02, dc_transpose(ctx, in[0], 0, 2))
FWD(f_tr12, dc_transpose(ctx, in[0], 1, 2))
FWD(f_tr20, dc_transpose(ctx, in[0], 2, 0))
FWD(f_tr_4d, dc_transpose(ctx, in[0], 1, -1))
FWD(f_cat0, dc_concat(ctx, in, 3, 0))
FWD(f_cat1, dc_concat(ctx, in, 3, 1))
FWD(f_cat5, dc_concat(ctx, in, 5, -1))
FWD(f_slice_step2, dc_slice(ctx, in[0], 1, 1, 6, 2))
FWD(f_slice_neg, dc_slice(ctx, in[0], 1, -4, -1, 1))
FWD(f_slice_clamp, dc_slice(ctx, in[0], -2, -100, 100, 3))
FWD(f_slice0, dc_slice(ctx, in[0], 0, 1, 3, 1))
FWD(f_relu, dc_relu(ctx, in[0]))
FWD(f_leaky, dc_leaky_relu(ctx, in[0], 0.1f))
FWD(f_sigmoid, dc_sigmoid(ctx, in[0]))
FWD(f_tanh, dc_tanh(ctx, in[0]))
FWD(f_gelu, dc_gelu(ctx, in[0], 0))
FWD(f_gelu_tanh, dc_gelu(ctx, in[0], 1))
FWD(f_softmax_last, dc_softmax(ctx, in[0], -1))
FWD(f_softmax0, dc_softmax(ctx, in[0], 0))
FWD(f_softmax1, dc_softmax(ctx, in[0], 1))
FWD(f_logsm_last, dc_log_softmax(ctx, in[0], -1))
FWD(f_logsm0, dc_log_softmax(ctx, in[0], 0))
FWD(f_logsm1, dc_log_softmax(ctx, in[0], 1))
FWD(f_dropout3, dc_dropout(ctx, in[0], 0.3f))
FWD(f_dropout5, dc_mul(ctx, dc_dropout(ctx, in[0], 0.5f), in[0]))

#define CASE(name, setup, fwd) {name, setup, fwd, NULL, 0, 0, 0}
#define CASE_TOL(name, setup, fwd, rtol, atol) {name, setup, fwd, NULL, rtol, atol, 0}
#define CASE_TRAIN(name, setup, fwd) {name, setup, fwd, NULL, 0, 0, 1}

static const gc_case cases[] = {
    CASE("add [2,3]+[2,3]", s_23_23, f_add),
    CASE("add bcast [2,3,4]+[3,1]", s_234_31, f_add),
    CASE("add bcast [4]+[2,3,4]", s_4_234, f_add),
    CASE("add bias [5,3]+[3]", s_53_3, f_add),
    CASE("add bcast both [2,1,4]+[3,1]", s_214_31, f_add),
    CASE("add bcast [1,1]+[2,3,4]", s_11_234, f_add),
    CASE("add bcast const [2,3,4]+[4]", s_234_c4, f_add),
    CASE("sub [2,3]-[2,3]", s_23_23, f_sub),
    CASE("sub bcast [2,3,4]-[3,1]", s_234_31, f_sub),
    CASE("sub bcast [4]-[2,3,4]", s_4_234, f_sub),
    CASE("mul [2,3]*[2,3]", s_23_23, f_mul),
    CASE("mul bcast [2,3,4]*[3,1]", s_234_31, f_mul),
    CASE("mul bcast [4]*[2,3,4]", s_4_234, f_mul),
    CASE("mul bcast both [2,1,4]*[3,1]", s_214_31, f_mul),
    CASE("mul x*x", s_34, f_mul_self),
    CASE("mul chain tanh(a)*(a+b)", s_23_23, f_mul_chain),
    CASE("div [3,4]/[3,4]", s_34_pos, f_div),
    CASE("div bcast [2,3,4]/[3,1]", s_234_31pos, f_div),
    CASE("div bcast [4]/[2,3,4]", s_4_234pos, f_div),
    CASE("div bcast [3,1]/[2,3,4]", s_31_234pos, f_div),
    CASE("add_scalar", s_34, f_add_scalar),
    CASE("mul_scalar", s_34, f_mul_scalar),
    CASE("pow_scalar 2", s_34, f_pow2),
    CASE("pow_scalar 3", s_34, f_pow3),
    CASE("pow_scalar 0.5", s_34_pos1, f_pow_half),
    CASE("pow_scalar -1.5", s_34_pos1, f_pow_neg),
    CASE("neg", s_34, f_neg),
    CASE("exp", s_34_small, f_exp),
    CASE("log", s_34_pos1, f_log),
    CASE("sqrt", s_34_pos1, f_sqrt),
    CASE("abs", s_kink_34, f_abs),
    CASE("matmul 2d [3,4]x[4,5]", s_mm2, f_matmul),
    CASE("matmul 3d [2,3,4]x[2,4,5]", s_mm3, f_matmul),
    CASE("matmul 3dx2d [2,3,4]x[4,5]", s_mm32, f_matmul),
    CASE("matmul const a [3,4]x[4,2]", s_mm_c, f_matmul),
    CASE("linear [4,3] w[5,3] b[5]", s_lin, f_linear),
    CASE("linear no bias [4,3] w[5,3]", s_lin_nb, f_linear_nb),
    CASE("linear 3d [2,3,4] w[5,4] b[5]", s_lin3, f_linear),
    CASE("linear 1d [4] w[3,4] b[3]", s_lin1, f_linear),
    CASE("linear+residual [4,3] w[5,3] b[5] res[4,5]", s_linres, f_linres),
    CASE("linear+residual 3d [2,3,4] w[5,4] res[2,3,5]", s_linres3, f_linres),
    CASE("linear+residual, residual an op's output", s_linres, f_linres_mid),
    CASE("ffn gelu+residual [4,3] w1[6,3] w2[3,6] res[4,3]", s_ffn, f_ffn),
    CASE("ffn gelu+residual, residual an op's output", s_ffn, f_ffn_mid),
    CASE("layer_norm+linear [2,3,5] w[4,5] b[4]", s_ln_linear, f_ln_linear),
    CASE("layer_norm+ffn gelu+residual [4,3] w1[6,3] w2[3,6]", s_ln_ffn, f_ln_ffn),
    CASE("sum all", s_234, f_sum_all),
    CASE("sum all keepdim", s_234, f_sum_all_k),
    CASE("sum axis 0", s_234, f_sum0),
    CASE("sum axis 1", s_234, f_sum1),
    CASE("sum axis 2", s_234, f_sum2),
    CASE("sum axis 1 keepdim", s_234, f_sum1k),
    CASE("sum axis -1 keepdim", s_234, f_sum_m1k),
    CASE("mean all", s_234, f_mean_all),
    CASE("mean axis 0", s_234, f_mean0),
    CASE("mean axis 1", s_234, f_mean1),
    CASE("mean axis 2", s_234, f_mean2),
    CASE("mean axis 0 keepdim", s_234, f_mean0k),
    CASE("mean axis -1 keepdim", s_234, f_mean_m1k),
    CASE("reshape [2,3,4]->[6,-1] (tanh)", s_234, f_reshape),
    CASE("reshape [2,3,4]->[4,-1,2]", s_234, f_reshape3),
    CASE("flatten 1..-1", s_234, f_flatten),
    CASE("flatten 0..1", s_234, f_flatten01),
    CASE("transpose 2d 0,1", s_34, f_tr01),
    CASE("transpose 3d 0,2", s_234, f_tr02),
    CASE("transpose 3d 1,2", s_234, f_tr12),
    CASE("transpose 3d 2,0", s_234, f_tr20),
    CASE("transpose 4d 1,-1", s_2345, f_tr_4d),
    CASE("concat 3 axis 0", s_cat0, f_cat0),
    CASE("concat 3 axis 1 (one const)", s_cat1, f_cat1),
    CASE("concat 5 axis -1", s_cat5, f_cat5),
    CASE("slice axis 1 [1:6:2]", s_372, f_slice_step2),
    CASE("slice axis 1 [-4:-1]", s_372, f_slice_neg),
    CASE("slice axis -2 [-100:100:3]", s_372, f_slice_clamp),
    CASE("slice axis 0 [1:3]", s_372, f_slice0),
    CASE("relu", s_kink_234, f_relu),
    CASE("leaky_relu 0.1", s_kink_234, f_leaky),
    CASE("sigmoid", s_sig, f_sigmoid),
    CASE("tanh", s_234, f_tanh),
    CASE("gelu exact", s_234, f_gelu),
    CASE("gelu tanh", s_234, f_gelu_tanh),
    CASE("softmax axis -1", s_35, f_softmax_last),
    CASE("softmax axis 0", s_45, f_softmax0),
    CASE("softmax axis 1 of 3d", s_234, f_softmax1),
    CASE("log_softmax axis -1", s_35, f_logsm_last),
    CASE("log_softmax axis 0", s_45, f_logsm0),
    CASE("log_softmax axis 1 of 3d", s_234, f_logsm1),
    CASE_TRAIN("dropout p=0.3 (train)", s_45, f_dropout3),
    CASE_TRAIN("dropout p=0.5 * x (train)", s_234, f_dropout5),
    CASE("dropout eval = identity", s_45, f_dropout3),
};

const gc_list gc_ops = {cases, (int)(sizeof cases / sizeof *cases)};
