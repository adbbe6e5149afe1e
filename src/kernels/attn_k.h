/*
 * attn_k.h - raw-pointer kernels of the Transformer ops: scaled dot-product attention (blocked,
 * online softmax), layer normalisation rows, masked softmax rows, sinusoidal positions.
 * No tensors, no tape: pointers, sizes and element strides only.
 *
 * Every result is independent of the OpenMP thread count: work is split over (batch, head) or
 * rows, each output element is computed by one thread in a fixed order.
 */
#ifndef DC_KERNELS_ATTN_K_H
#define DC_KERNELS_ATTN_K_H

#include <stdint.h>

/* ---- scaled dot-product attention ---- */

/*
 * One attention problem: for every batch n < N and head h < H
 *   s[i, j] = scale · q[i]·k[j] + mask[n, h, i, j] + kpm[n, j]   (−inf where causal and
 *             j > i + q_offset)
 *   p[i, :] = softmax(s[i, :]),   o[i] = Σ_j p[i, j]·z[i, j]·v[j]
 * with z the dropout mask (0 with probability p_drop, else 1/(1 − p_drop); z = 1 when
 * p_drop == 0). A row whose scores are all −inf (fully masked) gets p = 0 and o = 0 (PyTorch
 * gives NaN there) and sends no gradient.
 *
 * Layouts: q[n, h, i, d] is q[n·q_sn + h·q_sh + i·q_st + d] (d contiguous), likewise k, v
 * (dimension Dv), o. So [N, H, T, D] tensors and heads interleaved in [N, T, H·D] (the packed
 * projections of MultiheadAttention) are both read in place. mask: NULL or element strides
 * m_sn, m_sh, m_sq, m_sk (0 on broadcast dims). kpm: NULL or [N, Tk] (row stride Tk).
 * The dropout draw of element (n, h, i, j) is a hash of (seed, its index), so forward and
 * backward (and a rerun) see the same mask without storing it, at any thread count.
 */
typedef struct dc_k_attn {
    int64_t N, H, Tq, Tk, D, Dv;
    const float *q, *k, *v;
    int64_t q_sn, q_sh, q_st, k_sn, k_sh, k_st, v_sn, v_sh, v_st;
    float *o;
    int64_t o_sn, o_sh, o_st;
    const float *mask;
    int64_t m_sn, m_sh, m_sq, m_sk;
    const float *kpm;
    int causal;
    int64_t q_offset;
    float scale;
    float p_drop;
    uint64_t seed;
    float *lse;   /* [N, H, Tq]: forward writes max + log Σ e^(s − max) (−inf: fully masked) */
    float *probs; /* [N, H, Tq, Tk] or NULL: forward stores p (before dropout); backward then
                     reads it instead of recomputing q·kᵀ and the exponentials */
} dc_k_attn;

/* Forward: writes o (and lse when not NULL, probs when not NULL). Blocks of queries × blocks
 * of keys with a running max and sum: no more than one block of scores exists at a time.
 * Inference (lse and probs NULL, no dropout) with at least 128 keys and 32 queries runs the
 * register-blocked kernel of attn_flash.h instead (its bits differ by rounding). */
void dc_k_attn_fwd(const dc_k_attn *a);
/*
 * Backward from dout (o's strides) given the forward's o and lse (or probs): ADDS into dq, dk,
 * dv (q's, k's, v's strides; any may be NULL). With Δ_i = dout_i·o_i:
 *   dv_j += Σ_i p_ij z_ij dout_i,  dp_ij = z_ij dout_i·v_j,  ds_ij = p_ij (dp_ij − Δ_i)
 *   dq_i += scale Σ_j ds_ij k_j,   dk_j += scale Σ_i ds_ij q_i
 * p is recomputed block by block from lse unless probs is given.
 */
void dc_k_attn_bwd(const dc_k_attn *a, const float *dout, float *dq, float *dk, float *dv);
/* The weights p·z of every (n, h, i, j) into w [N, H, Tq, Tk] (after the forward has written
 * lse): what MultiheadAttention returns with need_weights. */
void dc_k_attn_weights(const dc_k_attn *a, float *w);
/* Whether dropout keeps element idx: hash(seed, idx) ≥ p (a 24-bit uniform). */
int dc_k_attn_keep(uint64_t seed, uint64_t idx, float p);

/* ---- layer normalisation over rows of D ---- */

/* y[r] = (x[r] − μ_r)·ρ_r·w + b, ρ_r = 1/√(σ²_r + eps) (biased variance, two passes in double);
 * w, b [D] or NULL (1, 0). mean, rstd [R] receive μ, ρ when not NULL. */
void dc_k_layer_norm_fwd(int64_t R, int64_t D, const float *x, const float *w, const float *b,
                         float eps, float *y, float *mean, float *rstd);
/* The residual block's epilogue in one pass over each row: t = (x + bias) + res (bias [D] or
 * NULL: t = x + res), then y = LayerNorm(t) exactly as dc_k_layer_norm_fwd (the same operations
 * in the same order as a bias add, an add and a layer norm one after the other, so the same
 * bits). y may be x or res (in place). */
void dc_k_add_layer_norm_fwd(int64_t R, int64_t D, const float *x, const float *bias,
                             const float *res, const float *w, const float *b, float eps,
                             float *y);
/* With x̂ = (x − μ)ρ, g = dy·w: dx += ρ (g − mean(g) − x̂·mean(g·x̂)) (dx may be NULL);
 * dw += Σ_r dy·x̂, db += Σ_r dy (NULL to skip; summed over rows in a fixed order). */
void dc_k_layer_norm_bwd(int64_t R, int64_t D, const float *x, const float *w,
                         const float *mean, const float *rstd, const float *dy, float *dx,
                         float *dw, float *db);

/* ---- masked softmax over rows of K ---- */

/* y[r] = softmax(x[r] + m[r]) with m[r] = mask + moff[r] (moff NULL: no mask); −inf masks an
 * element. A row with every element at −inf gives y = 0. */
void dc_k_masked_softmax_fwd(int64_t R, int64_t K, const float *x, const float *mask,
                             const int64_t *moff, int64_t m_sk, float *y);

/* ---- sinusoidal positions (Vaswani et al. 2017) ---- */

/* pe[t, 2i] = sin(t·ω_i), pe[t, 2i+1] = cos(t·ω_i), ω_i = 10000^(−2i/E), for t in
 * [t0, t0 + T), written to pe[(t − t0)·E + ...] (computed in double). */
void dc_k_sinusoidal(int64_t t0, int64_t T, int64_t E, float *pe);

#endif
