/*
 * attn_flash.h - the inference forward of scaled dot-product attention for long sequences
 * (attn_flash.c): packed key/value panels, register-blocked Q·Kᵀ and P·V, online softmax with a
 * vectorised exponential. dc_k_attn_fwd (attn_k.c) calls it when nothing is recorded.
 */
#ifndef DC_KERNELS_ATTN_FLASH_H
#define DC_KERNELS_ATTN_FLASH_H

#include "kernels/attn_k.h"

#include <stddef.h>

/* Instruction sets of the flash kernel. AUTO takes the widest vector set this CPU runs and none
 * without AVX2 + FMA: there the one-lane code is slower than dc_k_attn_fwd's blocked kernel
 * (which the compiler vectorises), so SCALAR runs only when asked for (the tests). */
enum { DC_FLASH_AUTO = 0, DC_FLASH_SCALAR = 1, DC_FLASH_AVX2 = 2, DC_FLASH_AVX512 = 3 };

/* Whether this build and CPU run isa (SCALAR: always; AUTO: whether it finds a vector set). */
int dc_k_attn_flash_supported(int isa);

/*
 * dc_k_attn_flash_fwd - o of every (n, h) as dc_k_attn_fwd computes it (the same masks: attn
 * mask, key-padding mask, causal with q_offset; a fully masked row gives o = 0), for the
 * inference case only: lse and probs NULL, p_drop 0. D and Dv up to 256.
 * Returns 0 when o is written; -1 when the case is not covered, isa is not supported or the
 * scratch could not be allocated (nothing written; the caller falls back to dc_k_attn_fwd's
 * blocked kernel). Scratch: dc_k_attn_flash_bytes per thread, allocated and freed here.
 * Results are the same bits at any thread count; they differ from the blocked kernel's, and
 * between instruction sets, by rounding (the scale is folded into q; products are fused
 * multiply-adds).
 */
int dc_k_attn_flash_fwd(const dc_k_attn *a, int isa);

/* Scratch bytes one thread of dc_k_attn_flash_fwd uses: the packed keys and values of one
 * head (linear in Tk) and the tiles of one query block. */
size_t dc_k_attn_flash_bytes(const dc_k_attn *a, int isa);

/* y[i] = e^x[i] by the exponential the kernel uses for isa (for its accuracy test; AUTO without
 * a vector set: the scalar one). */
void dc_k_flash_exp(int isa, const float *x, float *y, int64_t n);

#endif
