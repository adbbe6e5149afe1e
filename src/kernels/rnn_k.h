/*
 * rnn_k.h - fused cell kernels of the recurrent layers (RNN, LSTM, GRU): one pass over the
 * [N, gates·H] pre-activations of one time step, forward and backward. No tensors, no tape.
 *
 * Layouts (row-major, one row per batch element):
 *   gx  [N, G·H]  the input projection W_ih·x_t + b_ih of this step (G = 1, 4, 3 gates)
 *   hg  [N, G·H]  the recurrent projection W_hh·h_{t-1} + b_hh
 *   LSTM gates are saved activated, [N, 4H] = i, f, g, o (PyTorch row order);
 *   GRU gates are saved as [N, 4H] = r, z, n, and hn = (W_hn·h_{t-1} + b_hn) (needed for dr).
 * Backward kernels overwrite their outputs (dpre, dph, dh_prev) unless said otherwise; the op
 * adds them into the tensors' gradients with GEMMs.
 */
#ifndef DC_KERNELS_RNN_K_H
#define DC_KERNELS_RNN_K_H

#include <stdint.h>

/* h = act(gx + hg); act = tanh, or relu when relu != 0. */
void k_rnn_cell_fwd(int64_t N, int64_t H, int relu, const float *gx, const float *hg, float *h);
/* dpre = dh ⊙ act'(pre), from the output h: tanh' = 1 − h², relu' = [h > 0]. */
void k_rnn_cell_bwd(int64_t N, int64_t H, int relu, const float *h, const float *dh,
                    float *dpre);

/* LSTM: i, f, o = σ(gx + hg), g = tanh(gx + hg); c = f⊙c_prev + i⊙g; h = o⊙tanh(c).
 * c_prev NULL means zeros. Writes gates [N, 4H], c [N, H], h [N, H]. */
void k_lstm_cell_fwd(int64_t N, int64_t H, const float *gx, const float *hg, const float *c_prev,
                     float *gates, float *c, float *h);
/* LSTM backward of one step. dh: dL/dh_t (all paths); dc: on entry dL/dc_t from the next step,
 * on exit dL/dc_{t-1}. Writes dpre [N, 4H] = dL/d(gx + hg). c_prev NULL means zeros. */
void k_lstm_cell_bwd(int64_t N, int64_t H, const float *gates, const float *c,
                     const float *c_prev, const float *dh, float *dc, float *dpre);

/* GRU: r, z = σ(gx + hg), n = tanh(gx_n + r⊙hg_n), h = (1 − z)⊙n + z⊙h_prev (PyTorch).
 * h_prev NULL means zeros. Writes gates [N, 4H] (r, z, n, hg_n) and h [N, H]. */
void k_gru_cell_fwd(int64_t N, int64_t H, const float *gx, const float *hg, const float *h_prev,
                    float *gates, float *h);
/* GRU backward of one step: dpx [N, 3H] = dL/dgx, dph [N, 3H] = dL/dhg, dh_prev [N, H] = the
 * direct part dh⊙z (the op adds dph·W_hh). h_prev NULL means zeros. */
void k_gru_cell_bwd(int64_t N, int64_t H, const float *gates, const float *h_prev,
                    const float *dh, float *dpx, float *dph, float *dh_prev);

#endif
