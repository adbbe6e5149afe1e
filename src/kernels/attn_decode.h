/*
 * attn_decode.h - the single-query attention of incremental decoding (attn_decode.c).
 */
#ifndef DC_KERNELS_ATTN_DECODE_H
#define DC_KERNELS_ATTN_DECODE_H

#include "kernels/attn_k.h"

/*
 * dc_k_attn_decode - for every n < N, h < H, one query (Tq = 1) against all Tk keys:
 *   o[n, h] = Σ_j softmax_j(scale · q[n, h]·k[n, h, j]) · v[n, h, j]
 * a: the layouts of dc_k_attn (q, k, v, o and their strides; Tq, q_st, o_st unused). No masks,
 * no dropout, no lse: the query is the newest position, so a causal mask hides nothing.
 * scratch: N·H·Tk floats (the scores). Writes o only. Tk == 0 writes nothing.
 */
void dc_k_attn_decode(const dc_k_attn *a, float *scratch);

#endif
