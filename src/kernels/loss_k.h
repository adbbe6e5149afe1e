/*
 * loss_k.h - raw-pointer kernels of the losses: elementwise regression / binary losses with
 * their derivatives, fused log-softmax + cross-entropy, NLL, and a fixed-order sum.
 *
 * Shapes: n elements for the elementwise kernels. The class kernels view their input as
 * [N, K, S]: N outer rows, K classes, S trailing positions (S = 1 for logits [N, K]); "row" r =
 * n·S + s indexes the N·S class vectors, element k of row r is at x[(n·K + k)·S + s].
 * Per-row outputs (loss, max, log-sum) are [N·S]. Kernels never fail and never allocate; the op
 * layer validates targets and provides scratch. Results do not depend on the thread count.
 */
#ifndef DC_LOSS_K_H
#define DC_LOSS_K_H

#include <stdint.h>

/* Σ x[0..n) in double, in a fixed order (eight interleaved partial sums, then combined). */
double dc_k_sum_f64(int64_t n, const float *x);

/* dst[i] += s · (g ? g[i] : 1) · v[i]   (g: upstream gradient of a reduction 'none', or NULL). */
void dc_k_grad_acc(int64_t n, const float *v, const float *g, float s, float *dst);

/* ---- elementwise losses over d = x - y; fwd writes ℓ_i, dx writes ∂ℓ_i/∂x_i (= -∂ℓ_i/∂y_i) */
void dc_k_mse_fwd(int64_t n, const float *x, const float *y, float *out);        /* d²     */
void dc_k_mse_dx(int64_t n, const float *x, const float *y, float *out);         /* 2d     */
void dc_k_l1_fwd(int64_t n, const float *x, const float *y, float *out);         /* |d|    */
void dc_k_l1_dx(int64_t n, const float *x, const float *y, float *out);          /* sign d, 0 at 0 */
/* |d| < beta ? 0.5 d²/beta : |d| - 0.5 beta; beta > 0 (beta == 0 is L1, done by the caller). */
void dc_k_smooth_l1_fwd(int64_t n, const float *x, const float *y, float beta, float *out);
void dc_k_smooth_l1_dx(int64_t n, const float *x, const float *y, float beta, float *out);
/* |d| < delta ? 0.5 d² : delta·(|d| - 0.5 delta); derivative clamp(d, -delta, delta). */
void dc_k_huber_fwd(int64_t n, const float *x, const float *y, float delta, float *out);
void dc_k_huber_dx(int64_t n, const float *x, const float *y, float delta, float *out);

/* ---- binary cross-entropy on probabilities p in [0, 1] (checked by the caller) ---- */
/* -(y·max(ln p, -100) + (1-y)·max(ln(1-p), -100)) */
void dc_k_bce_fwd(int64_t n, const float *p, const float *y, float *out);
/* ∂/∂p = (p - y) / max(p(1-p), 1e-12)   (PyTorch's backward) */
void dc_k_bce_dp(int64_t n, const float *p, const float *y, float *out);
/* ∂/∂y = max(ln(1-p), -100) - max(ln p, -100) */
void dc_k_bce_dy(int64_t n, const float *p, const float *y, float *out);

/* ---- BCE on logits; x, y [rows, K] with pos_weight pw [K] or NULL (all ones) ----
 * ℓ = (1-y)·x + (1 + (pw-1)·y)·softplus(-x), softplus(-x) = max(-x, 0) + log1p(e^-|x|)
 * ∂ℓ/∂x = (1 + (pw-1)·y)·σ(x) - pw·y,   ∂ℓ/∂y = -x + (pw-1)·softplus(-x)              */
void dc_k_bcel_fwd(int64_t rows, int64_t K, const float *x, const float *y, const float *pw,
                   float *out);
void dc_k_bcel_dx(int64_t rows, int64_t K, const float *x, const float *y, const float *pw,
                  float *out);
void dc_k_bcel_dy(int64_t rows, int64_t K, const float *x, const float *y, const float *pw,
                  float *out);

/* ---- cross-entropy over logits x [N, K, S] ----
 * Every row r gets m[r] = max_k x, ls[r] = ln Σ_k e^(x_k - m) so that
 * log_softmax_k = (x_k - m) - ls exactly as PyTorch evaluates it (stable for any finite x).
 * w: class weights [K] or NULL (ones); eps: label smoothing. */

/* Index targets t [N·S]; rows with t == ignore get loss 0 and wy 0. Else, with logp the
 * log-softmax, loss = -(1-eps)·w_t·logp_t - eps/K · Σ_k w_k·logp_k and wy = w_t.
 * t must be ignore or in [0, K). */
void dc_k_ce_idx_fwd(int64_t N, int64_t K, int64_t S, const float *x, const int64_t *t,
                     const float *w, float eps, int64_t ignore, float *m, float *ls,
                     float *loss, float *wy);
/* dx[r,k] += c_r · (Σ_j w_j q_j · softmax_k - w_k q_k), q = (1-eps)·onehot(t) + eps/K,
 * c_r = s · (g ? g[r] : 1); ignored rows add nothing. */
void dc_k_ce_idx_bwd(int64_t N, int64_t K, int64_t S, const float *x, const int64_t *t,
                     const float *w, float eps, int64_t ignore, const float *m, const float *ls,
                     const float *g, float s, float *dx);
/* Probability targets t [N, K, S]: q = (1-eps)·t + eps/K, loss = -Σ_k w_k q_k logp_k. */
void dc_k_ce_prob_fwd(int64_t N, int64_t K, int64_t S, const float *x, const float *t,
                      const float *w, float eps, float *m, float *ls, float *loss);
void dc_k_ce_prob_bwd(int64_t N, int64_t K, int64_t S, const float *x, const float *t,
                      const float *w, float eps, const float *m, const float *ls,
                      const float *g, float s, float *dx);

/* ---- NLL over log-probabilities lp [N, K, S] with index targets t [N·S] ----
 * loss = -w_t · lp[t] (0 and wy 0 for ignored rows);  backward dlp[r, t] -= c_r · w_t. */
void dc_k_nll_fwd(int64_t N, int64_t K, int64_t S, const float *lp, const int64_t *t,
                  const float *w, int64_t ignore, float *loss, float *wy);
void dc_k_nll_bwd(int64_t N, int64_t K, int64_t S, const int64_t *t, const float *w,
                  int64_t ignore, const float *g, float s, float *dlp);

#endif
