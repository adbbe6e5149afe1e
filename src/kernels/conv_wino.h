/*
 * conv_wino.h - 3x3 stride-1 convolution by Winograd's F(2x2, 3x3), the third layout of the
 * direct convolution (DC_K_DIRECT_WINO, chosen by dc_k_conv_direct_layout). Internal to
 * conv_direct.c, which owns the padded input buffer xp [C][Hp][Wp] these functions read.
 */
#ifndef DC_CONV_WINO_H
#define DC_CONV_WINO_H

#include "kernels/conv_k.h"

/* The geometry fits: 3x3, stride and dilation 1, Wo a multiple of 32, Ho even, 16..64 channels
 * in and out. */
int dc_k_wino_fits(const dc_k_conv_geom *g, int64_t O);
/* Floats of the transformed weights U and the biases. */
size_t dc_k_wino_wfloats(const dc_k_conv_geom *g, int64_t O);
/* U = G·w·Gᵀ for every (o, c), in the order the product reads it, then the biases (b or 0). */
void dc_k_wino_pack(const dc_k_conv_geom *g, int64_t O, const float *w, const float *b,
                    float *wp);
/* y [O, Ho, Wo] = conv + b of one padded image (the transforms' sums, then b), then + out->res
 * and max(0, ·) as out says; out->stream: streaming stores where y is 64-byte aligned;
 * out->next is not used. avx512: the vector kernel (1) or the portable loops (0), which give
 * the same bits. Scratch: this thread's dc_k_thread_buffer, so xp must not be that buffer. */
void dc_k_wino_fwd(const dc_k_conv_geom *g, int64_t O, int64_t Hp, int64_t Wp, const float *wp,
                   const float *xp, float *y, const dc_k_conv_out *out, int avx512);

#endif
