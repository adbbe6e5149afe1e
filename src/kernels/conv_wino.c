/*
 * conv_wino.c - 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): each 2x2 block of outputs
 * comes from a 4x4 block of input with 16 multiplications per (input, output) channel pair
 * instead of 36, 2.25 times fewer:
 *
 *   U = G g Gᵀ   per (o, c): the 3x3 kernel g becomes 4x4      G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
 *   V = Bᵀ d B   per (c, tile): the 4x4 input block d (tiles step 2) Bᵀ = [1 0 -1 0; 0 1 1 0;
 *                                                                        0 -1 1 0; 0 1 0 -1]
 *   M[ξ][o][tile] = Σ_c U[ξ][o][c] · V[ξ][c][tile]     sixteen independent products, ξ = 4i + j
 *   Y = Aᵀ M A   per (o, tile): the 2x2 outputs                  Aᵀ = [1 1 1 0; 0 1 -1 -1]
 *
 * The transforms only add and subtract (and halve, for U), so the rounding stays close to the
 * direct sum's (the tests allow the direct kernels' 1e-6·(9C + 1) on inputs and weights in
 * [-1, 1]). Where it runs (dc_k_wino_fits): rows of a multiple of 32 outputs and an even number
 * of rows, so the 16 tiles of a tile row that share a vector ("a slot": tile row T, tiles
 * 16v .. 16v + 15) are always whole and the input loads never leave the padded rows; 16 to 64
 * channels in and out (measured on 64; with fewer the transforms cost more than they save, and
 * with more U, V and M outgrow L2 and im2col + GEMM spreads an image over the threads). The
 * portable loops make the same floating-point operations in the same order (fmaf for the
 * products), so both give the same bits; they also serve when no scratch can be had.
 *
 * An image goes in bands of NS slots, so that the band's V (16 x C x NS·16 floats) and M
 * (16 x O x NS·16) stay in L2: transform the band's input, run the sixteen products, transform
 * the outputs. A product takes OB output channels x NS slots at a time: per input channel NS
 * vector loads of V and OB broadcasts of U feed OB·NS FMAs (6 x 4 = 24 accumulators).
 *
 * Outputs too large for the caches (dc_k_conv_out.stream) are written with streaming stores:
 * whole lines, without first reading them from memory (W6's inference, 8 MB a layer: 13% less
 * time on one core).
 *
 * W6's 64-channel layers at 32x32: the direct ROWS kernel does 37.7 M multiply-adds per image at
 * ~178 GFLOP/s; this does 16.8 M plus the transforms, in 218 against 424 us (one core).
 */
#include "kernels/conv_wino.h"
#include "kernels/eltwise_k.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DC_WINO_X86 1
#include <immintrin.h>
#else
#define DC_WINO_X86 0
#endif

enum { VL = 16, OB = 6, NS = 4, XI = 16 };

int dc_k_wino_fits(const dc_k_conv_geom *g, int64_t O)
{
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           g->Wo > 0 && g->Wo % 32 == 0 && g->Ho > 0 && g->Ho % 2 == 0 && g->C >= 16 &&
           g->C <= 64 && O >= 16 && O <= 64;
}

static int64_t n_blocks(int64_t O) { return (O + OB - 1) / OB; }

size_t dc_k_wino_wfloats(const dc_k_conv_geom *g, int64_t O)
{
    const int64_t nb = n_blocks(O);
    return (size_t)(XI * nb * g->C * OB + nb * OB);
}

/* u = G g Gᵀ (4x4) of one 3x3 kernel g, in double. */
static void kernel_transform(const float *g, double u[4][4])
{
    double t[4][3]; /* G g */
    for (int k = 0; k < 3; k++) {
        const double a = g[k], b = g[3 + k], c = g[6 + k];
        t[0][k] = a;
        t[1][k] = 0.5 * (a + b + c);
        t[2][k] = 0.5 * (a - b + c);
        t[3][k] = c;
    }
    for (int i = 0; i < 4; i++) {
        const double a = t[i][0], b = t[i][1], c = t[i][2];
        u[i][0] = a;
        u[i][1] = 0.5 * (a + b + c);
        u[i][2] = 0.5 * (a - b + c);
        u[i][3] = c;
    }
}

/* wp: U[ξ][blk][c][OB] (zero for channels past O), then the biases [nb·OB]. */
void dc_k_wino_pack(const dc_k_conv_geom *g, int64_t O, const float *w, const float *b,
                    float *wp)
{
    const int64_t C = g->C, nb = n_blocks(O);
    memset(wp, 0, sizeof(float) * dc_k_wino_wfloats(g, O));
    for (int64_t o = 0; o < O; o++)
        for (int64_t c = 0; c < C; c++) {
            double u[4][4];
            kernel_transform(w + (o * C + c) * 9, u);
            for (int xi = 0; xi < XI; xi++)
                wp[((xi * nb + o / OB) * C + c) * OB + o % OB] = (float)u[xi / 4][xi % 4];
        }
    for (int64_t o = 0; o < O; o++)
        wp[XI * nb * C * OB + o] = b ? b[o] : 0.0f;
}

/* ------------------------------------------------------------------------------------------ */
/* Portable loops (CPUs without AVX-512, and the tests)                                        */
/* ------------------------------------------------------------------------------------------ */

/* V = Bᵀ d B of the 4x4 block at r (row stride Wp), into v[16]. */
static void input_transform(const float *r, int64_t Wp, float v[16])
{
    float t[4][4];
    for (int a = 0; a < 4; a++) {
        const float *d = r + a * Wp;
        t[a][0] = d[0] - d[2];
        t[a][1] = d[1] + d[2];
        t[a][2] = d[2] - d[1];
        t[a][3] = d[1] - d[3];
    }
    for (int j = 0; j < 4; j++) {
        v[0 * 4 + j] = t[0][j] - t[2][j];
        v[1 * 4 + j] = t[1][j] + t[2][j];
        v[2 * 4 + j] = t[2][j] - t[1][j];
        v[3 * 4 + j] = t[1][j] - t[3][j];
    }
}

/* Y = Aᵀ m A (2x2) of m[16]. */
static void output_transform(const float m[16], float yv[2][2])
{
    float p[4][2];
    for (int i = 0; i < 4; i++) {
        p[i][0] = m[i * 4 + 0] + m[i * 4 + 1] + m[i * 4 + 2];
        p[i][1] = m[i * 4 + 1] - m[i * 4 + 2] - m[i * 4 + 3];
    }
    for (int j = 0; j < 2; j++) {
        yv[0][j] = p[0][j] + p[1][j] + p[2][j];
        yv[1][j] = p[1][j] - p[2][j] - p[3][j];
    }
}

static void wino_generic(const dc_k_conv_geom *g, int64_t O, int64_t Hp, int64_t Wp,
                         const float *wp, const float *xp, float *y, const dc_k_conv_out *out)
{
    const int64_t C = g->C, nb = n_blocks(O), P = g->Ho * g->Wo;
    const float *bias = wp + XI * nb * C * OB;
    for (int64_t T = 0; T < g->Ho / 2; T++)
        for (int64_t t = 0; t < g->Wo / 2; t++)
            for (int64_t o = 0; o < O; o++) {
                float m[16] = {0}, v[16], yv[2][2];
                for (int64_t c = 0; c < C; c++) {
                    input_transform(xp + (c * Hp + 2 * T) * Wp + 2 * t, Wp, v);
                    for (int xi = 0; xi < XI; xi++) /* as the vector FMA */
                        m[xi] = fmaf(wp[((xi * nb + o / OB) * C + c) * OB + o % OB], v[xi], m[xi]);
                }
                output_transform(m, yv);
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) {
                        const int64_t at = o * P + (2 * T + i) * g->Wo + 2 * t + j;
                        float s = yv[i][j] + bias[o];
                        s = out->res ? s + out->res[at] : s;
                        y[at] = out->relu ? dc_k_relu(s) : s;
                    }
            }
}

/* ------------------------------------------------------------------------------------------ */
/* AVX-512                                                                                     */
/* ------------------------------------------------------------------------------------------ */

#if DC_WINO_X86
/* Band slots [s0, s0 + ns): V[ξ][c][k·16 + lane] for k < ns. A slot's 16 tiles start at
 * columns 32v + 2·lane: the even and odd columns of two loads give d[a][0..1], of two loads two
 * columns on d[a][2..3]. */
__attribute__((target("avx512f"))) static void
band_inputs(const dc_k_conv_geom *g, int64_t Hp, int64_t Wp, const float *xp, int64_t s0,
            int64_t ns, float *V)
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const int64_t nvt = g->Wo / 32, C = g->C;
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < ns; k++) {
            const int64_t s = s0 + k, T = s / nvt, v = s % nvt;
            const float *r = xp + (c * Hp + 2 * T) * Wp + 32 * v;
            __m512 t[4][4];
            for (int a = 0; a < 4; a++, r += Wp) {
                const __m512 lo = _mm512_loadu_ps(r), hi = _mm512_loadu_ps(r + 16);
                const __m512 lo2 = _mm512_loadu_ps(r + 2), hi2 = _mm512_loadu_ps(r + 18);
                const __m512 d0 = _mm512_permutex2var_ps(lo, ev, hi);
                const __m512 d1 = _mm512_permutex2var_ps(lo, od, hi);
                const __m512 d2 = _mm512_permutex2var_ps(lo2, ev, hi2);
                const __m512 d3 = _mm512_permutex2var_ps(lo2, od, hi2);
                t[a][0] = _mm512_sub_ps(d0, d2);
                t[a][1] = _mm512_add_ps(d1, d2);
                t[a][2] = _mm512_sub_ps(d2, d1);
                t[a][3] = _mm512_sub_ps(d1, d3);
            }
            float *to = V + (c * NS + k) * VL;
            const int64_t step = C * NS * VL; /* from ξ to ξ + 1 */
            for (int j = 0; j < 4; j++) {
                _mm512_storeu_ps(to + (0 * 4 + j) * step, _mm512_sub_ps(t[0][j], t[2][j]));
                _mm512_storeu_ps(to + (1 * 4 + j) * step, _mm512_add_ps(t[1][j], t[2][j]));
                _mm512_storeu_ps(to + (2 * 4 + j) * step, _mm512_sub_ps(t[2][j], t[1][j]));
                _mm512_storeu_ps(to + (3 * 4 + j) * step, _mm512_sub_ps(t[1][j], t[3][j]));
            }
        }
}

/* M[ξ][o][k·16 + lane] = Σ_c U[ξ][o][c] · V[ξ][c][k·16 + lane], c in order. Slots past ns read
 * slot 0 again and are never transformed back. */
__attribute__((target("avx512f"))) static void
band_products(int64_t C, int64_t nb, const float *U, const float *V, int64_t ns, float *M)
{
    for (int xi = 0; xi < XI; xi++)
        for (int64_t blk = 0; blk < nb; blk++) {
            const float *u = U + (xi * nb + blk) * C * OB, *v = V + xi * C * NS * VL;
            int64_t at[NS];
            _Pragma("GCC unroll 32")
            for (int k = 0; k < NS; k++)
                at[k] = (k < ns ? k : 0) * VL;
            __m512 acc[OB][NS];
            _Pragma("GCC unroll 32")
            for (int o = 0; o < OB; o++)
                _Pragma("GCC unroll 32")
                for (int k = 0; k < NS; k++)
                    acc[o][k] = _mm512_setzero_ps();
            for (int64_t c = 0; c < C; c++, u += OB, v += NS * VL) {
                __m512 vv[NS];
                _Pragma("GCC unroll 32")
                for (int k = 0; k < NS; k++)
                    vv[k] = _mm512_loadu_ps(v + at[k]);
                _Pragma("GCC unroll 32")
                for (int o = 0; o < OB; o++) {
                    const __m512 uo = _mm512_set1_ps(u[o]);
                    _Pragma("GCC unroll 32")
                    for (int k = 0; k < NS; k++)
                        acc[o][k] = _mm512_fmadd_ps(uo, vv[k], acc[o][k]);
                }
            }
            float *m = M + (xi * nb + blk) * OB * NS * VL;
            _Pragma("GCC unroll 32")
            for (int o = 0; o < OB; o++)
                _Pragma("GCC unroll 32")
                for (int k = 0; k < NS; k++)
                    _mm512_storeu_ps(m + (o * NS + k) * VL, acc[o][k]);
        }
}

/* y rows 2T, 2T + 1 of slots [s0, s0 + ns): Y = Aᵀ M A + b, then + res and max(0, ·); the two
 * columns of each tile are interleaved back into rows. */
__attribute__((target("avx512f"))) static void
band_outputs(const dc_k_conv_geom *g, int64_t O, int64_t nb, const float *M, const float *bias,
             int64_t s0, int64_t ns, float *y, const dc_k_conv_out *out)
{
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                         15, 31);
    const __m512 zero = _mm512_setzero_ps(); /* max(0, v) keeps NaN and -0, as x < 0 ? 0 : x */
    const int64_t nvt = g->Wo / 32, P = g->Ho * g->Wo, step = nb * OB * NS * VL;
    /* rows of 32 outputs are whole cache lines when y is */
    const int stream = out->stream && ((uintptr_t)y & 63) == 0;
    for (int64_t o = 0; o < O; o++)
        for (int64_t k = 0; k < ns; k++) {
            const float *m = M + (o * NS + k) * VL;
            __m512 p[4][2];
            for (int i = 0; i < 4; i++) {
                const __m512 m0 = _mm512_loadu_ps(m + (i * 4 + 0) * step);
                const __m512 m1 = _mm512_loadu_ps(m + (i * 4 + 1) * step);
                const __m512 m2 = _mm512_loadu_ps(m + (i * 4 + 2) * step);
                const __m512 m3 = _mm512_loadu_ps(m + (i * 4 + 3) * step);
                p[i][0] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
                p[i][1] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
            }
            const __m512 b = _mm512_set1_ps(bias[o]);
            const int64_t s = s0 + k, T = s / nvt, v = s % nvt;
            for (int i = 0; i < 2; i++) {
                __m512 yv[2];
                for (int j = 0; j < 2; j++)
                    yv[j] = i == 0 ? _mm512_add_ps(_mm512_add_ps(p[0][j], p[1][j]), p[2][j])
                                   : _mm512_sub_ps(_mm512_sub_ps(p[1][j], p[2][j]), p[3][j]);
                const int64_t at = o * P + (2 * T + i) * g->Wo + 32 * v;
                __m512 r0 = _mm512_add_ps(_mm512_permutex2var_ps(yv[0], lo, yv[1]), b);
                __m512 r1 = _mm512_add_ps(_mm512_permutex2var_ps(yv[0], hi, yv[1]), b);
                if (out->res) {
                    r0 = _mm512_add_ps(r0, _mm512_loadu_ps(out->res + at));
                    r1 = _mm512_add_ps(r1, _mm512_loadu_ps(out->res + at + 16));
                }
                if (out->relu) {
                    r0 = _mm512_max_ps(zero, r0);
                    r1 = _mm512_max_ps(zero, r1);
                }
                if (stream) {
                    _mm512_stream_ps(y + at, r0);
                    _mm512_stream_ps(y + at + 16, r1);
                } else {
                    _mm512_storeu_ps(y + at, r0);
                    _mm512_storeu_ps(y + at + 16, r1);
                }
            }
        }
}

static int wino_avx512(const dc_k_conv_geom *g, int64_t O, int64_t Hp, int64_t Wp,
                       const float *wp, const float *xp, float *y, const dc_k_conv_out *out)
{
    const int64_t C = g->C, nb = n_blocks(O), slots = g->Ho / 2 * (g->Wo / 32);
    const int64_t nV = XI * C * NS * VL, nM = XI * nb * OB * NS * VL;
    float *V = dc_k_thread_buffer((size_t)(nV + nM));
    if (!V)
        return 0;
    float *M = V + nV;
    const float *bias = wp + XI * nb * C * OB;
    for (int64_t s0 = 0; s0 < slots; s0 += NS) {
        const int64_t ns = slots - s0 < NS ? slots - s0 : NS;
        band_inputs(g, Hp, Wp, xp, s0, ns, V);
        band_products(C, nb, wp, V, ns, M);
        band_outputs(g, O, nb, M, bias, s0, ns, y, out);
    }
    if (out->stream)
        _mm_sfence(); /* the streamed stores are visible before anyone reads y */
    return 1;
}
#endif

void dc_k_wino_fwd(const dc_k_conv_geom *g, int64_t O, int64_t Hp, int64_t Wp, const float *wp,
                   const float *xp, float *y, const dc_k_conv_out *out, int avx512)
{
#if DC_WINO_X86
    if (avx512 && wino_avx512(g, O, Hp, Wp, wp, xp, y, out))
        return;
#else
    (void)avx512;
#endif
    wino_generic(g, O, Hp, Wp, wp, xp, y, out);
}
