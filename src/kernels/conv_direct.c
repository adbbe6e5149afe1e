/*
 * conv_direct.c - direct 2-D convolution (stride 1, dilation 1, one group) for small channel
 * counts, where im2col + GEMM wastes most of its time copying columns and filling tiles that are
 * mostly padding (LeNet-5's C1 is a 6 x 25 by 25 x 784 product; C3 16 x 150 by 150 x 100).
 *
 * The image is first copied into a zero-padded buffer xp [C][Hp][Wp] (Hp = Ho + kh - 1,
 * Wp ≥ Wo + kw - 1 rounded so whole vectors can be loaded), so the inner loops have no bounds
 * tests. Three layouts, chosen by dc_k_conv_direct_layout:
 *
 *   WINO  (3x3 with rows of a multiple of 32 and 16..64 channels: the 64-channel layers of a
 *         ResNet on 32x32): Winograd's F(2x2, 3x3), conv_wino.c; 218 against 424 us for
 *         64 -> 64 at 32x32 by ROWS (one core).
 *   ROWS  (rows of 16 or more; C1, the 3 -> 64 stem): a vector holds 16 adjacent output
 *         pixels of one row; 6 channels x 2 such vectors (O <= 6) or 8 channels x 3 vectors
 *         are accumulated together. Per tap (c, ky, kx): NS input loads, OB weight broadcasts,
 *         NS·OB FMAs; stores go straight to y. Input channels go in equal passes whose weights
 *         fit in 16 KB, the partial sums waiting in y.
 *   CHANS (short rows, output channels a multiple of 16; C3): a vector holds 16 output
 *         channels of one pixel; up to 16 pixels of one row (a block size that splits the row
 *         evenly) x 1, 2 or 4 channel vectors are accumulated together. Per tap: NV weight
 *         loads, PB input broadcasts at constant offsets. The block is written back through a
 *         small transpose.
 *   Where both fill every lane, ROWS wins (64 -> 64 channels 3x3 at 32x32, one core: 178
 *   against 138 GFLOP/s; the 3 -> 64 stem: 161 against 67).
 * Each may add a residual (the skip connection of a ResNet block) and apply max(0, ·) as it
 * stores: y = max(0, conv + b + res).
 *
 * ROWS and CHANS sum every output in the same order (c, ky, kx), WINO through its transforms;
 * none depends on the thread count. The kernels use AVX-512 (run-time check);
 * dc_k_conv_direct_layout says NONE elsewhere and the caller keeps im2col + GEMM. Portable
 * scalar versions of the same contracts serve the tests (dc_k_conv_direct_force_generic).
 *
 * Backward: dX is a forward problem of its own (dc_k_conv_direct_dx_geom); dW goes by channel
 * vectors or by rows of pixels (dc_k_conv_direct_dw).
 */
#include "kernels/conv_k.h"
#include "kernels/conv_wino.h"
#include "kernels/eltwise_k.h"
#include "kernels/fastmath.h"
#include "kernels/kernels.h"
#include "kernels/par.h"

#include <stddef.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DC_DIRECT_X86 1
#include <immintrin.h>
#else
#define DC_DIRECT_X86 0
#endif

enum { VL = 16, ROWS_OB = 8, ROWS_NS = 3 };

static int g_force_generic;

void dc_k_conv_direct_force_generic(int on) { g_force_generic = on != 0; }

int dc_k_have_avx512(void)
{
#if DC_DIRECT_X86
    static _Atomic int have = -1; /* asked once; threads racing here store the same answer */
    int h = have;
    if (h < 0) {
        __builtin_cpu_init();
        h = __builtin_cpu_supports("avx512f") != 0;
        have = h;
    }
    return h;
#else
    return 0;
#endif
}

/* The vector kernels run: not forced off, and the CPU has AVX-512 (callers that pass a layout
 * the layout query would not give, the tests among them, still get correct code). */
static int use_vector(void) { return DC_DIRECT_X86 && !g_force_generic && dc_k_have_avx512(); }

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* Lanes filled by each layout, as a fraction of what it computes. */
static double rows_fill(const dc_k_conv_geom *g, int64_t O)
{
    const int ob = O <= 6 ? 6 : ROWS_OB;
    return (double)g->Wo / (double)round_up(g->Wo, VL) * (double)O / (double)round_up(O, ob);
}

static double chans_fill(int64_t O) { return (double)O / (double)round_up(O, VL); }

dc_k_direct_layout dc_k_conv_direct_layout(const dc_k_conv_geom *g, int64_t O)
{
    if (g->sh != 1 || g->sw != 1 || g->dh != 1 || g->dw != 1 || O < 1)
        return DC_K_DIRECT_NONE;
    /* only where a column matrix is small: deep layers are GEMM-bound and im2col pays off (and
     * the GEMM spreads one image over the threads, where these kernels take an image each) */
    const int64_t K = g->C * g->kh * g->kw;
    if (K > 1024 || O > 64 || g->Wo > 4096)
        return DC_K_DIRECT_NONE;
    if (!g_force_generic && !dc_k_have_avx512())
        return DC_K_DIRECT_NONE;
    if (!g_force_generic && dc_k_wino_fits(g, O))
        return DC_K_DIRECT_WINO;
    const double r = rows_fill(g, O), c = chans_fill(O);
    if (r < 0.5 && c < 0.75)
        return DC_K_DIRECT_NONE;
    return c > r ? DC_K_DIRECT_CHANS : DC_K_DIRECT_ROWS; /* ties: rows, no transpose */
}

/* Padded plane sizes. */
static void padded(const dc_k_conv_geom *g, int64_t *Hp, int64_t *Wp)
{
    *Hp = g->Ho + g->kh - 1;
    *Wp = round_up(g->Wo, VL) + g->kw - 1;
}

/* Output channels per block of the layout (its weight panel width). */
static int block_o(dc_k_direct_layout L, int64_t O)
{
    if (L == DC_K_DIRECT_CHANS)
        return O <= VL ? VL : O % (4 * VL) == 0 ? 4 * VL : 2 * VL;
    return O <= 6 ? 6 : ROWS_OB;
}

size_t dc_k_conv_direct_wfloats(const dc_k_conv_geom *g, int64_t O, dc_k_direct_layout L)
{
    if (L == DC_K_DIRECT_WINO)
        return dc_k_wino_wfloats(g, O);
    const int64_t ob = block_o(L, O);
    return (size_t)(round_up(O, ob) * (g->C * g->kh * g->kw + 1));
}

size_t dc_k_conv_direct_xfloats(const dc_k_conv_geom *g)
{
    int64_t Hp, Wp;
    padded(g, &Hp, &Wp);
    return (size_t)(g->C * Hp * Wp + VL); /* + VL: a tail vector may read past the last row */
}

/* wp[blk][tap][ob] (tap = (c·kh + ky)·kw + kx), zero for channels beyond O, then the biases
 * bp[blk][ob]. */
void dc_k_conv_direct_pack(const dc_k_conv_geom *g, int64_t O, dc_k_direct_layout L,
                           const float *w, const float *b, float *wp)
{
    if (L == DC_K_DIRECT_WINO) {
        dc_k_wino_pack(g, O, w, b, wp);
        return;
    }
    const int64_t ob = block_o(L, O), T = g->C * g->kh * g->kw, nb = (O + ob - 1) / ob;
    float *bp = wp + nb * ob * T;
    for (int64_t blk = 0; blk < nb; blk++) {
        const int64_t on = O - blk * ob < ob ? O - blk * ob : ob; /* real channels */
        const float *src = w + blk * ob * T;
        float *dst = wp + blk * ob * T;
        for (int64_t t = 0; t < T; t++, dst += ob) { /* written in order, read ob streams */
            for (int64_t o = 0; o < on; o++)
                dst[o] = src[o * T + t];
            for (int64_t o = on; o < ob; o++)
                dst[o] = 0.0f;
        }
        for (int64_t o = 0; o < ob; o++)
            bp[blk * ob + o] = o < on && b ? b[blk * ob + o] : 0.0f;
    }
}

/* Each element of xp written once, row by row, in loops the compiler vectorises: a memset of
 * the whole buffer and a memcpy per row of 32 floats took 11% of W6's inference. */
DC_CLONES void dc_k_conv_direct_pad(const dc_k_conv_geom *g, const float *x, float *xp)
{
    int64_t Hp, Wp;
    padded(g, &Hp, &Wp);
    /* columns that no output reads (x wider than the padded span) are dropped */
    const int64_t n = g->W + g->pl <= Wp ? g->W : Wp - g->pl > 0 ? Wp - g->pl : 0;
    const int64_t l = g->pl < Wp ? g->pl : Wp;
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t r = 0; r < Hp; r++) {
            float *restrict d = xp + (c * Hp + r) * Wp;
            const int64_t i = r - g->pt;
            if (i < 0 || i >= g->H) {
                for (int64_t j = 0; j < Wp; j++)
                    d[j] = 0.0f;
                continue;
            }
            const float *restrict s = x + (c * g->H + i) * g->W;
            for (int64_t j = 0; j < l; j++)
                d[j] = 0.0f;
            for (int64_t j = 0; j < n; j++)
                d[l + j] = s[j];
            for (int64_t j = l + n; j < Wp; j++)
                d[j] = 0.0f;
        }
    for (int64_t j = 0; j < VL; j++) /* the slack a tail vector may read */
        xp[g->C * Hp * Wp + j] = 0.0f;
}

/* ------------------------------------------------------------------------------------------ */
/* Portable reference                                                                          */
/* ------------------------------------------------------------------------------------------ */

static void direct_generic(const dc_k_conv_geom *g, int64_t O, dc_k_direct_layout L,
                           const float *wp, const float *xp, float *y, const float *res,
                           int relu)
{
    int64_t Hp, Wp;
    padded(g, &Hp, &Wp);
    const int64_t ob = block_o(L, O), T = g->C * g->kh * g->kw, nb = (O + ob - 1) / ob;
    const float *bp = wp + nb * ob * T;
    for (int64_t o = 0; o < O; o++) {
        const float *wo = wp + o / ob * ob * T + o % ob;
        for (int64_t i = 0; i < g->Ho; i++)
            for (int64_t j = 0; j < g->Wo; j++) {
                float acc = bp[o];
                for (int64_t c = 0; c < g->C; c++)
                    for (int ky = 0; ky < g->kh; ky++)
                        for (int kx = 0; kx < g->kw; kx++)
                            acc += wo[((c * g->kh + ky) * g->kw + kx) * ob] *
                                   xp[(c * Hp + i + ky) * Wp + j + kx];
                const int64_t at = (o * g->Ho + i) * g->Wo + j;
                acc = res ? acc + res[at] : acc;
                y[at] = relu ? dc_k_relu(acc) : acc;
            }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* AVX-512 kernels                                                                             */
/* ------------------------------------------------------------------------------------------ */

#if DC_DIRECT_X86
/* The small loops over accumulator arrays carry _Pragma("GCC unroll 32"): GCC 12 otherwise
 * unrolls some of them only after deciding the array lives in memory, and then loads and stores
 * every accumulator around each vector step (dW of LeNet-5's C1: 353 against 247 us). */

/* The direct kernels pull the caller's next image (dc_k_conv_out.next) into L2 a line per
 * input channel while they compute: the next line from pf, unless the region is done. */
static inline const char *pull_line(const char *pf, const char *end)
{
    if (pf >= end)
        return pf;
    _mm_prefetch(pf, _MM_HINT_T1);
    return pf + 64;
}

/* ROWS: output vectors ("slots") are (row i, 16 columns from 16v); NS at a time, OB channels. */
#define ROWS_BODY(OB, NS)                                                                        \
    for (int64_t blk = 0; blk < nb; blk++)                                                       \
    for (int64_t c0 = 0; c0 < g->C; c0 += CC) {                                                 \
        const int64_t c1 = c0 + CC < g->C ? c0 + CC : g->C;                                      \
        const int first = c0 == 0, last = c1 == g->C;                                            \
        const float *wb = wp + blk * OB * T, *bb = bp + blk * OB;                                \
        const int64_t o0 = blk * OB;                                                             \
        for (int64_t s = 0; s < slots; s += NS) {                                                \
            int64_t off[NS], yo[NS];                                                             \
            __mmask16 m[NS];                                                                     \
            _Pragma("GCC unroll 32")                                                             \
            for (int k = 0; k < NS; k++) {                                                       \
                const int64_t sk = s + k < slots ? s + k : s, i = sk / nv, j = sk % nv * VL;     \
                off[k] = i * Wp + j;                                                             \
                yo[k] = i * g->Wo + j;                                                           \
                m[k] = s + k < slots                                                             \
                    ? (__mmask16)((1u << (g->Wo - j < VL ? g->Wo - j : VL)) - 1) : 0;            \
            }                                                                                    \
            __m512 a[NS][OB];                                                                    \
            _Pragma("GCC unroll 32")                                                             \
            for (int o = 0; o < OB; o++)                                                         \
                _Pragma("GCC unroll 32")                                                         \
                for (int k = 0; k < NS; k++) {                                                   \
                    a[k][o] = first || o0 + o >= O ? _mm512_set1_ps(bb[o])                       \
                        : _mm512_maskz_loadu_ps(m[k], y + (o0 + o) * P + yo[k]);                 \
                    /* the block's outputs (and residual) are touched at the store: ask for     \
                     * them now, or each of those scattered accesses misses while the FMAs wait */ \
                    if (first && o0 + o < O) {                                                   \
                        __builtin_prefetch(y + (o0 + o) * P + yo[k], 1);                         \
                        if (res)                                                                 \
                            __builtin_prefetch(res + (o0 + o) * P + yo[k], 0);                   \
                    }                                                                            \
                }                                                                                \
            const float *wt = wb + c0 * g->kh * g->kw * OB;                                      \
            for (int64_t c = c0; c < c1; c++) {                                                  \
                pf = pull_line(pf, pf_end);                                                      \
                for (int ky = 0; ky < g->kh; ky++) {                                             \
                    const float *r = xp + (c * Hp + ky) * Wp;                                    \
                    for (int kx = 0; kx < g->kw; kx++, wt += OB) {                               \
                        __m512 xv[NS];                                                           \
                        _Pragma("GCC unroll 32")                                                 \
                        for (int k = 0; k < NS; k++)                                             \
                            xv[k] = _mm512_loadu_ps(r + off[k] + kx);                            \
                        _Pragma("GCC unroll 32")                                                 \
                        for (int o = 0; o < OB; o++) {                                           \
                            const __m512 wv = _mm512_set1_ps(wt[o]);                             \
                            _Pragma("GCC unroll 32")                                             \
                            for (int k = 0; k < NS; k++)                                         \
                                a[k][o] = _mm512_fmadd_ps(wv, xv[k], a[k][o]);                   \
                        }                                                                        \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
            for (int o = 0; o < OB && o0 + o < O; o++)                                           \
                _Pragma("GCC unroll 32")                                                         \
                for (int k = 0; k < NS; k++)                                                     \
                {                                                                                \
                    const int64_t at = (o0 + o) * P + yo[k];                                     \
                    __m512 v = res && last                                                       \
                        ? _mm512_add_ps(a[k][o], _mm512_maskz_loadu_ps(m[k], res + at)) : a[k][o]; \
                    _mm512_mask_storeu_ps(y + at, m[k],                                          \
                                          relu && last ? _mm512_max_ps(zero, v) : v);            \
                }                                                                                \
        }                                                                                        \
    }

__attribute__((target("avx512f"))) static void
rows_avx512(const dc_k_conv_geom *g, int64_t O, const float *wp, const float *xp, float *y,
            const dc_k_conv_out *out)
{
    const float *res = out->res;
    const int relu = out->relu;
    const char *pf = out->next, *pf_end = pf ? pf + out->next_bytes : NULL;
    const __m512 zero = _mm512_setzero_ps(); /* max(0, v) keeps NaN and -0, as x < 0 ? 0 : x */
    int64_t Hp, Wp;
    padded(g, &Hp, &Wp);
    const int64_t P = g->Ho * g->Wo, T = g->C * g->kh * g->kw, nv = round_up(g->Wo, VL) / VL;
    const int64_t slots = g->Ho * nv;
    /* input channels in equal passes whose weights fit in 16 KB, so that they and the input
     * rows of a slot stay in L1 together (64 channels 3x3: two passes of 32; all 64 at once
     * spilled L1, 5% slower); partial sums wait in y between passes */
    const int64_t ccmax = 4096 / ((int64_t)g->kh * g->kw * (O <= 6 ? 6 : ROWS_OB));
    const int64_t npass = ccmax < 1 ? g->C : (g->C + ccmax - 1) / ccmax;
    const int64_t CC = (g->C + npass - 1) / npass;
    if (O <= 6) {
        const int64_t nb = 1;
        const float *bp = wp + 6 * T;
        ROWS_BODY(6, 2)
    } else {
        const int64_t nb = (O + ROWS_OB - 1) / ROWS_OB;
        const float *bp = wp + nb * ROWS_OB * T;
        ROWS_BODY(ROWS_OB, ROWS_NS)
    }
}
#undef ROWS_BODY

/* CHANS: PB adjacent pixels of one output row x NV channel vectors. The PB pixels sit at fixed
 * offsets from one pointer, so every broadcast is an FMA with a memory operand and a constant
 * displacement (blocks that crossed rows needed a register per pixel and spilled). PB is picked
 * per call so a row splits into equal blocks (rows of 10: one block of 10; 28: two of 14).
 * The weights of a block of 32 channels take kh·kw·C·128 bytes (72 KB for 64 channels 3x3),
 * more than L1: the input channels go in chunks of CC whose weights fit in 16 KB, every pixel
 * block runs over a chunk before the next chunk starts, and the partial sums wait in `part`
 * ([P][NV·16], this thread's GEMM scratch: no GEMM runs in here) between chunks. Lanes past the
 * row end compute on whatever follows in the padded buffer and are never stored. */
#define CHANS_BODY(NV, PB)                                                                       \
    for (int64_t blk = 0; blk < nb; blk++) {                                                     \
        const float *wb = wp + blk * NV * VL * T, *bb = bp + blk * NV * VL;                      \
        const int64_t o0 = blk * NV * VL, on = O - o0 < NV * VL ? O - o0 : NV * VL;              \
        for (int64_t c0 = 0; c0 < g->C; c0 += CC) {                                              \
            const int64_t c1 = c0 + CC < g->C ? c0 + CC : g->C;                                  \
            const int first = c0 == 0, last = c1 == g->C;                                        \
            for (int64_t i = 0; i < g->Ho; i++)                                                  \
                for (int64_t j0 = 0; j0 < g->Wo; j0 += PB) {                                     \
                    const int64_t np = g->Wo - j0 < PB ? g->Wo - j0 : PB, p0 = i * g->Wo + j0;   \
                    __m512 acc[PB][NV];                                                          \
                    float *pp = part + p0 * (NV * VL);                                           \
                    _Pragma("GCC unroll 32")                                                     \
                    for (int v = 0; v < NV; v++) {                                               \
                        const __m512 bv = _mm512_loadu_ps(bb + v * VL);                          \
                        _Pragma("GCC unroll 32")                                                 \
                        for (int k = 0; k < PB; k++)                                             \
                            acc[k][v] = first || k >= np                                         \
                                ? bv : _mm512_loadu_ps(pp + k * NV * VL + v * VL);               \
                    }                                                                            \
                    const float *wt = wb + c0 * g->kh * g->kw * NV * VL;                         \
                    for (int64_t c = c0; c < c1; c++) {                                          \
                        pf = pull_line(pf, pf_end);                                              \
                        for (int ky = 0; ky < g->kh; ky++) {                                     \
                            const float *r = xp + (c * Hp + i + ky) * Wp + j0;                   \
                            for (int kx = 0; kx < g->kw; kx++, wt += NV * VL, r++) {             \
                                __m512 wv[NV];                                                   \
                                _Pragma("GCC unroll 32")                                         \
                                for (int v = 0; v < NV; v++)                                     \
                                    wv[v] = _mm512_loadu_ps(wt + v * VL);                        \
                                _Pragma("GCC unroll 32")                                         \
                                for (int k = 0; k < PB; k++) {                                   \
                                    const __m512 xv = _mm512_set1_ps(r[k]);                      \
                                    _Pragma("GCC unroll 32")                                     \
                                    for (int v = 0; v < NV; v++)                                 \
                                        acc[k][v] = _mm512_fmadd_ps(wv[v], xv, acc[k][v]);       \
                                }                                                                \
                            }                                                                    \
                        }                                                                        \
                    }                                                                            \
                    if (!last) {                                                                 \
                        for (int k = 0; k < np; k++)                                             \
                            _Pragma("GCC unroll 32")                                             \
                            for (int v = 0; v < NV; v++)                                         \
                                _mm512_storeu_ps(pp + k * NV * VL + v * VL, acc[k][v]);          \
                        continue;                                                                \
                    }                                                                            \
                    float tmp[PB][NV * VL];                                                      \
                    _Pragma("GCC unroll 32")                                                     \
                    for (int k = 0; k < PB; k++)                                                 \
                        _Pragma("GCC unroll 32")                                                 \
                        for (int v = 0; v < NV; v++)                                             \
                            _mm512_storeu_ps(tmp[k] + v * VL, !res && relu                       \
                                             ? _mm512_max_ps(zero, acc[k][v]) : acc[k][v]);      \
                    for (int64_t o = 0; o < on; o++)                                             \
                        for (int64_t k = 0; k < np; k++) {                                       \
                            const int64_t at = (o0 + o) * P + p0 + k;                            \
                            const float v = res ? tmp[k][o] + res[at] : tmp[k][o];               \
                            y[at] = res && relu ? dc_k_relu(v) : v;                              \
                        }                                                                        \
                }                                                                                \
        }                                                                                        \
    }
#define CHANS_CASE(NV, PB)                                                                       \
    case PB: CHANS_BODY(NV, PB) break;

/* Pixels per block: the fewest blocks of at most pmax per row, as equal as the sizes in
 * `sizes` (ascending, ending in pmax) allow. */
static int chans_pb(int64_t Wo, int pmax, const int *sizes)
{
    const int64_t nblk = (Wo + pmax - 1) / pmax, want = (Wo + nblk - 1) / nblk;
    int k = 0;
    while (sizes[k] < want && sizes[k] != pmax)
        k++;
    return sizes[k];
}

__attribute__((target("avx512f"))) static void
chans_avx512(const dc_k_conv_geom *g, int64_t O, const float *wp, const float *xp, float *y,
             const dc_k_conv_out *out)
{
    const float *res = out->res;
    const int relu = out->relu;
    const char *pf = out->next, *pf_end = pf ? pf + out->next_bytes : NULL;
    const __m512 zero = _mm512_setzero_ps();
    int64_t Hp, Wp;
    padded(g, &Hp, &Wp);
    const int64_t P = g->Ho * g->Wo, T = g->C * g->kh * g->kw, kk = (int64_t)g->kh * g->kw;
    const int nv = O <= VL ? 1 : O % (4 * VL) == 0 ? 4 : 2;
    /* input channels per chunk: their weights for one block fit in 16 KB */
    int64_t CC = 4096 / (kk * nv * VL);
    CC = CC < 1 ? 1 : CC;
    float *part = NULL;
    if (CC < g->C) {
        part = dc_k_thread_buffer((size_t)(P * nv * VL));
        if (!part)
            CC = g->C; /* no buffer: one chunk, as fast as the L2 allows */
    }
    /* registers: PB·NV accumulators + NV weights <= 32 */
    static const int pb1[] = {4, 6, 8, 10, 12, 14, 16}, pb2[] = {4, 6, 8, 10, 12, 14},
                     pb4[] = {4, 6};
    if (nv == 1) {
        const int64_t nb = 1;
        const float *bp = wp + VL * T;
        switch (chans_pb(g->Wo, 16, pb1)) {
            CHANS_CASE(1, 4) CHANS_CASE(1, 6) CHANS_CASE(1, 8) CHANS_CASE(1, 10)
            CHANS_CASE(1, 12) CHANS_CASE(1, 14) CHANS_CASE(1, 16)
        }
    } else if (nv == 2) {
        const int64_t nb = (O + 2 * VL - 1) / (2 * VL);
        const float *bp = wp + nb * 2 * VL * T;
        switch (chans_pb(g->Wo, 14, pb2)) {
            CHANS_CASE(2, 4) CHANS_CASE(2, 6) CHANS_CASE(2, 8) CHANS_CASE(2, 10)
            CHANS_CASE(2, 12) CHANS_CASE(2, 14)
        }
    } else {
        const int64_t nb = O / (4 * VL);
        const float *bp = wp + nb * 4 * VL * T;
        switch (chans_pb(g->Wo, 6, pb4)) {
            CHANS_CASE(4, 4) CHANS_CASE(4, 6)
        }
    }
}
#undef CHANS_CASE
#undef CHANS_BODY
#endif

/* See conv_k.h. */
void dc_k_conv_direct_fwd(const dc_k_conv_geom *g, int64_t O, dc_k_direct_layout L,
                          const float *wp, const float *x, float *y, float *xp,
                          const dc_k_conv_out *out)
{
    dc_k_conv_direct_pad(g, x, xp);
    dc_k_conv_direct_fwd_padded(g, O, L, wp, xp, y, out);
}

/* See conv_k.h. */
void dc_k_conv_direct_fwd_padded(const dc_k_conv_geom *g, int64_t O, dc_k_direct_layout L,
                                 const float *wp, const float *xp, float *y,
                                 const dc_k_conv_out *out)
{
    const dc_k_conv_out plain = {0};
    out = out ? out : &plain;
    if (L == DC_K_DIRECT_WINO) {
        int64_t Hp, Wp;
        padded(g, &Hp, &Wp);
        dc_k_wino_fwd(g, O, Hp, Wp, wp, xp, y, out, use_vector());
        return;
    }
#if DC_DIRECT_X86
    if (use_vector()) {
        if (L == DC_K_DIRECT_ROWS)
            rows_avx512(g, O, wp, xp, y, out);
        else
            chans_avx512(g, O, wp, xp, y, out);
        return;
    }
#endif
    direct_generic(g, O, L, wp, xp, y, out->res, out->relu);
}

/* ------------------------------------------------------------------------------------------ */
/* Backward                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* dX is the convolution of dy, padded by k - 1 - p, with the weights turned by 180° and their
 * two channel axes swapped: a forward problem of its own. */
int dc_k_conv_direct_dx_geom(const dc_k_conv_geom *g, int64_t O, dc_k_conv_geom *gx)
{
    const int64_t pb = g->Ho - g->H - g->pt + g->kh - 1, pr = g->Wo - g->W - g->pl + g->kw - 1;
    if (g->sh != 1 || g->sw != 1 || g->dh != 1 || g->dw != 1 || g->pt > g->kh - 1 ||
        g->pl > g->kw - 1 || pb > g->kh - 1 || pr > g->kw - 1 || pb < 0 || pr < 0)
        return 0;
    *gx = (dc_k_conv_geom){.C = O, .H = g->Ho, .W = g->Wo, .Ho = g->H, .Wo = g->W, .kh = g->kh,
                           .kw = g->kw, .sh = 1, .sw = 1, .pt = g->kh - 1 - g->pt,
                           .pl = g->kw - 1 - g->pl, .dh = 1, .dw = 1};
    return 1;
}

void dc_k_conv_direct_rotate(const dc_k_conv_geom *g, int64_t O, const float *w, float *wr)
{
    const int64_t C = g->C, kk = (int64_t)g->kh * g->kw;
    for (int64_t o = 0; o < O; o++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < kk; t++)
                wr[(c * O + o) * kk + (kk - 1 - t)] = w[(o * C + c) * kk + t];
}

/* One task of dW: output channels [o0, o0 + on) (on <= DW_OB), input channel c, kernel row ky. */
enum { DW_OB = 4 };

static void dw_generic(const dc_k_conv_geom *g, int64_t O, int64_t N, const float *xp,
                       int64_t xs, const float *dy, float *dw, int64_t o0, int64_t on,
                       int64_t c, int ky)
{
    int64_t Hp, Wp;
    padded(g, &Hp, &Wp);
    const int64_t P = g->Ho * g->Wo, kk = (int64_t)g->kh * g->kw;
    for (int64_t o = o0; o < o0 + on; o++)
        for (int kx = 0; kx < g->kw; kx++) {
            float acc = 0.0f;
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < g->Ho; i++)
                    for (int64_t j = 0; j < g->Wo; j++)
                        acc += dy[(n * O + o) * P + i * g->Wo + j] *
                               xp[n * xs + (c * Hp + i + ky) * Wp + j + kx];
            dw[(o * g->C + c) * kk + ky * g->kw + kx] += acc;
        }
}

#if DC_DIRECT_X86
/* acc[o][kx] over 16-pixel vectors of each output row: per vector DW_OB dy loads and KW input
 * loads feed DW_OB·KW FMAs. Lanes past the row end load dy as 0. */
#define DW_BODY(KW)                                                                              \
    do {                                                                                         \
        __m512 acc[DW_OB][KW];                                                                   \
        int64_t at[DW_OB];  /* channels past `on` read channel o0 under an empty mask: no     \
                               branch in the loop (one kept every acc in memory) */              \
        __mmask16 live[DW_OB];                                                                   \
        _Pragma("GCC unroll 32")                                                                 \
        for (int o = 0; o < DW_OB; o++) {                                                        \
            at[o] = (o < on ? o : 0) * P;                                                        \
            live[o] = (__mmask16)(o < on ? 0xffff : 0);                                          \
            _Pragma("GCC unroll 32")                                                             \
            for (int q = 0; q < KW; q++)                                                         \
                acc[o][q] = n0 ? _mm512_loadu_ps(keep + (o * KW + q) * VL) : _mm512_setzero_ps(); \
        }                                                                                        \
        for (int64_t n = n0; n < n1; n++)                                                        \
            for (int64_t i = 0; i < g->Ho; i++) {                                                \
                const float *xr = xp + n * xs + (c * Hp + i + ky) * Wp;                          \
                const float *dr = dy + (n * O + o0) * P + i * g->Wo;                             \
                for (int64_t j = 0; j < g->Wo; j += VL) {                                        \
                    const int64_t left = g->Wo - j;                                              \
                    const __mmask16 m = (__mmask16)(left >= VL ? 0xffff : (1u << left) - 1);     \
                    __m512 d[DW_OB];                                                             \
                    _Pragma("GCC unroll 32")                                                     \
                    for (int o = 0; o < DW_OB; o++)                                              \
                        d[o] = _mm512_maskz_loadu_ps(m & live[o], dr + at[o] + j);               \
                    _Pragma("GCC unroll 32")                                                     \
                    for (int q = 0; q < KW; q++) {                                               \
                        const __m512 xv = _mm512_loadu_ps(xr + j + q);                           \
                        _Pragma("GCC unroll 32")                                                 \
                        for (int o = 0; o < DW_OB; o++)                                          \
                            acc[o][q] = _mm512_fmadd_ps(d[o], xv, acc[o][q]);                    \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
        /* plain stores first: acc[][] is indexed by constants only, so it stays in registers */ \
        float sums[DW_OB * KW * VL];                                                             \
        float *to = n1 < N ? keep : sums; /* more images to come: the sums wait in keep */       \
        _Pragma("GCC unroll 32")                                                                 \
        for (int o = 0; o < DW_OB; o++)                                                          \
            _Pragma("GCC unroll 32")                                                             \
            for (int q = 0; q < KW; q++)                                                         \
                _mm512_storeu_ps(to + (o * KW + q) * VL, acc[o][q]);                             \
        for (int o = 0; o < on && n1 == N; o++)                                                  \
            _Pragma("GCC unroll 32")                                                             \
            for (int q = 0; q < KW; q++)                                                         \
                dw[((o0 + o) * g->C + c) * kk + ky * g->kw + q] +=                               \
                    _mm512_reduce_add_ps(_mm512_loadu_ps(sums + (o * KW + q) * VL));             \
    } while (0)

/* One function per kernel width, each with its own register allocation. */
#define DW_FN(KW)                                                                                \
    __attribute__((target("avx512f"))) static void dw_avx512_##KW(                              \
        const dc_k_conv_geom *g, int64_t O, int64_t N, const float *xp, int64_t xs,             \
        const float *dy, float *dw, int64_t o0, int64_t on, int64_t c, int ky, int64_t n0,       \
        int64_t n1, float *keep)                                                                 \
    {                                                                                            \
        int64_t Hp, Wp;                                                                          \
        padded(g, &Hp, &Wp);                                                                     \
        const int64_t P = g->Ho * g->Wo, kk = (int64_t)g->kh * g->kw;                            \
        DW_BODY(KW);                                                                             \
    }
DW_FN(1)
DW_FN(2)
DW_FN(3)
DW_FN(5)
DW_FN(7)
#undef DW_FN

/* Images [n0, n1) of one task; the partial sums wait in keep (DW_OB·kw vectors) between calls.
 * Kernel widths without a vector body go by dw_generic, all images in one call. */
static void dw_avx512(const dc_k_conv_geom *g, int64_t O, int64_t N, const float *xp,
                      int64_t xs, const float *dy, float *dw, int64_t o0, int64_t on, int64_t c,
                      int ky, int64_t n0, int64_t n1, float *keep)
{
    switch (g->kw) {
    case 1: dw_avx512_1(g, O, N, xp, xs, dy, dw, o0, on, c, ky, n0, n1, keep); break;
    case 2: dw_avx512_2(g, O, N, xp, xs, dy, dw, o0, on, c, ky, n0, n1, keep); break;
    case 3: dw_avx512_3(g, O, N, xp, xs, dy, dw, o0, on, c, ky, n0, n1, keep); break;
    case 5: dw_avx512_5(g, O, N, xp, xs, dy, dw, o0, on, c, ky, n0, n1, keep); break;
    case 7: dw_avx512_7(g, O, N, xp, xs, dy, dw, o0, on, c, ky, n0, n1, keep); break;
    default:
        if (n0 == 0)
            dw_generic(g, O, N, xp, xs, dy, dw, o0, on, c, ky);
        break;
    }
}
#undef DW_BODY
#endif

/* dW by channel vectors, where O is a multiple of 16 and the kernel 3x3 or 5x5. dy is first
 * transposed to dyt [N][P][O], so a vector holds 16 output channels of one pixel. A task owns
 * NOV·16 output channels x NC input channels x KT kernel rows x the KW taps of a row and keeps
 * those accumulators in registers while it walks the pixels: per pixel NOV dy vectors and one
 * input broadcast per (channel, row) feed NOV·NC·KT·KW FMAs, every lane in use. The other
 * KW - 1 taps of a row are the broadcasts of the pixels before; GCC keeps them in registers
 * (predictive commoning, -O3). Shapes, by how many dy vectors a pixel has:
 *   3x3, O % 64 == 0: 4 x 2 channels x 1 row x 3 (24; a 64-channel layer of W6 at 196 GFLOP/s
 *                     on one core with the transpose, 82% of its peak; vectors of 16 pixels
 *                     instead, 8 output channels x 3 taps, made 11 full vector loads per 24
 *                     FMAs and ran at 140);
 *   5x5, O % 64 == 0: 4 x 1 x 1 x 5 (20);
 *   3x3, O % 32 == 0: 2 x 1 x 3 x 3 (18);    5x5: 2 x 2 x 1 x 5 (20);
 *   otherwise:        1 x 1 x kh x kw (9 or 25; LeNet-5's C3, whose rows of 10 would waste 6
 *                     of 16 lanes in the rows method).
 * Each dW element is one task's sum over the images, then pixels, in order. */
static int dw_chans_ok(const dc_k_conv_geom *g, int64_t O)
{
    return use_vector() && O % VL == 0 && g->kh == g->kw && (g->kh == 3 || g->kh == 5);
}

int dc_k_conv_direct_dw_chans(const dc_k_conv_geom *g, int64_t O) { return dw_chans_ok(g, O); }

typedef struct dwc_shape {
    int nov, nc, kt; /* dy vectors, input channels and kernel rows of one task */
} dwc_shape;

static dwc_shape dwc_pick(const dc_k_conv_geom *g, int64_t O)
{
    const int k3 = g->kw == 3;
    if (O % (4 * VL) == 0)
        return (dwc_shape){4, k3 ? 2 : 1, 1};
    if (O % (2 * VL) == 0)
        return k3 ? (dwc_shape){2, 1, 3} : (dwc_shape){2, 2, 1};
    return (dwc_shape){1, 1, g->kh};
}

/* Tasks: output channel groups x input channel groups x kernel row groups. */
static int64_t dwc_tasks(const dc_k_conv_geom *g, int64_t O, dwc_shape sh)
{
    return O / (sh.nov * VL) * ((g->C + sh.nc - 1) / sh.nc) * (g->kh / sh.kt);
}

/* Floats of one task's accumulators. */
static int64_t dwc_accs(const dc_k_conv_geom *g, dwc_shape sh)
{
    return (int64_t)sh.nov * sh.nc * sh.kt * g->kw * VL;
}

/* Images per pass: their dyt stays within 512 KB (L2) while each task walks it. */
static int64_t dwc_chunk(const dc_k_conv_geom *g, int64_t O)
{
    const int64_t per = O * g->Ho * g->Wo * (int64_t)sizeof(float);
    return per < (1 << 19) ? (1 << 19) / per : 1;
}

/* Images per pass of the rows method: their dy and padded inputs stay within 32 KB (L1) while
 * every task runs over them (LeNet-5's C1: one image of 23 KB per pass). All 64 at once
 * (1.5 MB) were read from beyond L2 by each of the 10 tasks: 247 against 215 us a batch. */
static int64_t dw_rows_chunk(const dc_k_conv_geom *g, int64_t O)
{
    int64_t Hp, Wp;
    padded(g, &Hp, &Wp);
    const int64_t per = (O * g->Ho * g->Wo + g->C * Hp * Wp) * (int64_t)sizeof(float);
    return per < (1 << 15) ? (1 << 15) / per : 1;
}

static int64_t dw_rows_tasks(const dc_k_conv_geom *g, int64_t O)
{
    return (O + DW_OB - 1) / DW_OB * g->C * g->kh;
}

size_t dc_k_conv_direct_dw_scratch(const dc_k_conv_geom *g, int64_t O, int64_t N)
{
    if (dw_chans_ok(g, O)) { /* dyt, then the partial sums between passes */
        const dwc_shape sh = dwc_pick(g, O);
        return (size_t)(N * O * g->Ho * g->Wo +
                        (N > dwc_chunk(g, O) ? dwc_tasks(g, O, sh) * dwc_accs(g, sh) : 0));
    }
    /* the rows method's partial sums between passes: DW_OB·kw vectors per task */
    return N > dw_rows_chunk(g, O) ? (size_t)(dw_rows_tasks(g, O) * DW_OB * g->kw * VL) : 0;
}

#if DC_DIRECT_X86
/* Task t over images [n0, n1): acc[v][c][r][q] += Σ dyt[n, p, o0 + 16v + lane] ·
 * xp_n[c0 + c, i + ky0 + r, j + q]; partial sums wait in keep between passes. Channels past C
 * read channel c0 again, and their sums are dropped. */
/* S for every accumulator (v, c, r, q), unrolled; DWC_AT its offset in keep or sums. */
#define DWC_EACH(NOV, NC, KT, KW, S)                                                             \
    _Pragma("GCC unroll 32")                                                                     \
    for (int v = 0; v < NOV; v++)                                                                \
        _Pragma("GCC unroll 32")                                                                 \
        for (int c = 0; c < NC; c++)                                                             \
            _Pragma("GCC unroll 32")                                                             \
            for (int r = 0; r < KT; r++)                                                         \
                _Pragma("GCC unroll 32")                                                         \
                for (int q = 0; q < KW; q++) {                                                   \
                    S                                                                            \
                }
#define DWC_AT(NC, KT, KW) ((((v * NC + c) * KT + r) * KW + q) * VL)
#define DWC_BODY(NOV, NC, KT, KW)                                                                \
    do {                                                                                         \
        __m512 acc[NOV][NC][KT][KW];                                                             \
        DWC_EACH(NOV, NC, KT, KW,                                                                \
                 acc[v][c][r][q] = n0 ? _mm512_loadu_ps(keep + DWC_AT(NC, KT, KW))               \
                                      : _mm512_setzero_ps();)                                    \
        for (int64_t n = n0; n < n1; n++) {                                                      \
            const float *xc[NC];                                                                 \
            _Pragma("GCC unroll 32")                                                             \
            for (int c = 0; c < NC; c++)                                                         \
                xc[c] = xp + n * xs + ((c0 + c < g->C ? c0 + c : c0) * Hp + ky0) * Wp;           \
            const float *d = dyt + n * P * O + o0;                                               \
            for (int64_t i = 0; i < g->Ho; i++)                                                  \
                for (int64_t j = 0; j < g->Wo; j++, d += O) {                                    \
                    __m512 dv[NOV];                                                              \
                    _Pragma("GCC unroll 32")                                                     \
                    for (int v = 0; v < NOV; v++)                                                \
                        dv[v] = _mm512_loadu_ps(d + v * VL);                                     \
                    _Pragma("GCC unroll 32")                                                     \
                    for (int c = 0; c < NC; c++)                                                 \
                        _Pragma("GCC unroll 32")                                                 \
                        for (int r = 0; r < KT; r++)                                             \
                            _Pragma("GCC unroll 32")                                             \
                            for (int q = 0; q < KW; q++) {                                       \
                                const __m512 b = _mm512_set1_ps(xc[c][(i + r) * Wp + j + q]);    \
                                _Pragma("GCC unroll 32")                                         \
                                for (int v = 0; v < NOV; v++)                                    \
                                    acc[v][c][r][q] = _mm512_fmadd_ps(dv[v], b, acc[v][c][r][q]); \
                            }                                                                    \
                }                                                                                \
        }                                                                                        \
        /* plain stores first: acc is indexed by constants only, so it stays in registers */     \
        float sums[NOV * NC * KT * KW * VL];                                                     \
        float *to = n1 < N ? keep : sums; /* more images to come: the sums wait in keep */       \
        DWC_EACH(NOV, NC, KT, KW, _mm512_storeu_ps(to + DWC_AT(NC, KT, KW), acc[v][c][r][q]);)   \
        if (n1 == N)                                                                             \
            dwc_scatter(g, o0, c0, ky0, NOV, NC, KT, sums, dw);                                  \
    } while (0)

/* dw[o0 + 16v + lane, c0 + c, ky0 + r, q] += sums[v][c][r][q][lane], for channels below C. */
static void dwc_scatter(const dc_k_conv_geom *g, int64_t o0, int64_t c0, int ky0, int nov,
                        int nc, int kt, const float *sums, float *dw)
{
    const int64_t kk = (int64_t)g->kh * g->kw;
    for (int v = 0; v < nov; v++)
        for (int c = 0; c < nc && c0 + c < g->C; c++)
            for (int r = 0; r < kt; r++)
                for (int q = 0; q < g->kw; q++)
                    for (int l = 0; l < VL; l++)
                        dw[((o0 + v * VL + l) * g->C + c0 + c) * kk + (ky0 + r) * g->kw + q] +=
                            sums[(((v * nc + c) * kt + r) * g->kw + q) * VL + l];
}

#define DWC_FN(NOV, NC, KT, KW)                                                                  \
    __attribute__((target("avx512f"))) static void dwc_##NOV##_##NC##_##KT##_##KW(             \
        const dc_k_conv_geom *g, int64_t O, int64_t N, const float *xp, int64_t xs,             \
        const float *dyt, float *dw, int64_t o0, int64_t c0, int ky0, int64_t n0, int64_t n1,     \
        float *keep)                                                                             \
    {                                                                                            \
        int64_t Hp, Wp;                                                                          \
        padded(g, &Hp, &Wp);                                                                     \
        const int64_t P = g->Ho * g->Wo;                                                         \
        DWC_BODY(NOV, NC, KT, KW);                                                               \
    }
DWC_FN(4, 2, 1, 3)
DWC_FN(4, 1, 1, 5)
DWC_FN(2, 1, 3, 3)
DWC_FN(2, 2, 1, 5)
DWC_FN(1, 1, 3, 3)
DWC_FN(1, 1, 5, 5)
#undef DWC_FN
#undef DWC_BODY
#undef DWC_AT
#undef DWC_EACH

/* Task t of the channel-vector method over images [n0, n1). */
static void dwc_task(const dc_k_conv_geom *g, int64_t O, int64_t N, const float *xp, int64_t xs,
                     const float *dyt, float *dw, int64_t t, int64_t n0, int64_t n1, float *keep)
{
    const dwc_shape sh = dwc_pick(g, O);
    const int64_t ncg = (g->C + sh.nc - 1) / sh.nc, nkg = g->kh / sh.kt;
    const int64_t o0 = t / (ncg * nkg) * sh.nov * VL, c0 = t / nkg % ncg * sh.nc;
    const int ky0 = (int)(t % nkg) * sh.kt;
    float *kp = keep ? keep + t * dwc_accs(g, sh) : NULL;
#define DWC_CALL(NOV, NC, KT, KW)                                                                \
    dwc_##NOV##_##NC##_##KT##_##KW(g, O, N, xp, xs, dyt, dw, o0, c0, ky0, n0, n1, kp)
    if (sh.nov == 4)
        g->kw == 3 ? DWC_CALL(4, 2, 1, 3) : DWC_CALL(4, 1, 1, 5);
    else if (sh.nov == 2)
        g->kw == 3 ? DWC_CALL(2, 1, 3, 3) : DWC_CALL(2, 2, 1, 5);
    else
        g->kw == 3 ? DWC_CALL(1, 1, 3, 3) : DWC_CALL(1, 1, 5, 5);
#undef DWC_CALL
}
#endif

/* Task t of the rows method over images [n0, n1); keep: its partial sums between passes. */
static void dw_rows_task(const dc_k_conv_geom *g, int64_t O, int64_t N, const float *xp,
                         int64_t xs, const float *dy, float *dw, int64_t t, int64_t n0,
                         int64_t n1, float *keep)
{
    const int64_t ob = t / (g->C * g->kh), c = t / g->kh % g->C;
    const int ky = (int)(t % g->kh);
    const int64_t o0 = ob * DW_OB, on = O - o0 < DW_OB ? O - o0 : DW_OB;
#if DC_DIRECT_X86
    if (use_vector()) {
        dw_avx512(g, O, N, xp, xs, dy, dw, o0, on, c, ky, n0, n1,
                  keep ? keep + t * DW_OB * g->kw * VL : NULL);
        return;
    }
#else
    (void)keep;
#endif
    if (n0 == 0)
        dw_generic(g, O, N, xp, xs, dy, dw, o0, on, c, ky);
}

void dc_k_conv_direct_dw(const dc_k_conv_geom *g, int64_t O, int64_t N, const float *xp,
                         int64_t xs, const float *dy, float *dw, float *scratch, int par)
{
    /* Images go in passes that stay in cache (L1 for the rows method, L2 for channel vectors),
     * each task's sums kept in scratch in between; every sum still runs over the images in
     * order, so the result is the same. Each thread takes a fixed share of the tasks and runs
     * its passes on its own: a barrier per pass (64 of them per LeNet-5 batch) left the second
     * thread waiting a third of the time. */
    int64_t tasks = dw_rows_tasks(g, O), chunk = scratch ? dw_rows_chunk(g, O) : N;
    float *keep = scratch;
#if DC_DIRECT_X86
    const int chans = scratch && dw_chans_ok(g, O);
    const float *dyt = NULL;
    if (chans) {
        const int64_t P = g->Ho * g->Wo;
        float *t = scratch;
        DC_PAR_FOR(par, n, N, { dc_k_transpose(O, P, dy + n * O * P, P, t + n * P * O, O); });
        dyt = t;
        keep = t + N * O * P;
        tasks = dwc_tasks(g, O, dwc_pick(g, O));
        chunk = dwc_chunk(g, O);
    }
#endif
#ifdef _OPENMP
    const int nt = par ? omp_get_max_threads() : 1;
#else
    const int nt = 1;
#endif
    DC_PAR_FOR(par, th, nt, {
        const int64_t t0 = th * tasks / nt, t1 = (th + 1) * tasks / nt;
        for (int64_t n0 = 0; n0 < N; n0 += chunk) {
            const int64_t n1 = N - n0 < chunk ? N : n0 + chunk;
            float *kp = N > chunk ? keep : NULL;
            for (int64_t t = t0; t < t1; t++) {
#if DC_DIRECT_X86
                if (chans) {
                    dwc_task(g, O, N, xp, xs, dyt, dw, t, n0, n1, kp);
                    continue;
                }
#endif
                dw_rows_task(g, O, N, xp, xs, dy, dw, t, n0, n1, kp);
            }
        }
    });
}
