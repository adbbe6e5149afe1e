/*
 * test_attn_flash.c - the long-sequence inference kernel (kernels/attn_flash.c) against a plain
 * double-precision attention, for every instruction set this CPU runs: sequence lengths across
 * the lane, tile and 64-key block edges, each mask kind, head sizes 64 and 24 (and Dv 20), the
 * packed [N, T, 3E] layout; the same bits at 1 and 2 threads; its exponential against exp; and
 * that dc_attention uses it for long inference and not while recording.
 */
#include "harness.h"
#include "kernels/attn_flash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { M_NONE, M_FLOAT, M_KPM, M_CAUSAL, M_ALL, M_KINDS };

/* A problem in the packed layout: x [N, T, 3E'] holds q | k | v (E' = H·max(D, Dv)). */
typedef struct prob {
    dc_k_attn a;
    float *x, *mask, *kpm;
} prob;

static int prob_make(prob *p, int64_t N, int64_t H, int64_t Tq, int64_t Tk, int64_t D,
                     int64_t Dv, int kind, uint64_t seed)
{
    const int64_t T = Tq > Tk ? Tq : Tk, C = 3 * H * 64; /* room for 3 x H heads of up to 64 */
    dc_rng r;
    dc_rng_seed(&r, seed, 7);
    memset(p, 0, sizeof *p);
    p->x = malloc(sizeof(float) * (size_t)(N * T * C));
    p->mask = malloc(sizeof(float) * (size_t)(H * Tq * Tk));
    p->kpm = malloc(sizeof(float) * (size_t)(N * Tk));
    if (!p->x || !p->mask || !p->kpm)
        return 0;
    for (int64_t i = 0; i < N * T * C; i++)
        p->x[i] = 1.5f * dc_rng_normal(&r);
    for (int64_t i = 0; i < H * Tq * Tk; i++) /* some −inf, the rest in [−2, 2] */
        p->mask[i] = i % 7 == 3 ? -INFINITY : 4.0f * dc_rng_uniform(&r) - 2.0f;
    for (int64_t j = 0; j < N * Tk; j++) /* batch 1 fully masked: rows of o = 0 */
        p->kpm[j] = j >= Tk || j % 3 == 1 ? -INFINITY : 0.0f;
    const int64_t E = H * 64;
    p->a = (dc_k_attn){.N = N, .H = H, .Tq = Tq, .Tk = Tk, .D = D, .Dv = Dv, .q = p->x,
                       .k = p->x + E, .v = p->x + 2 * E, .q_sn = T * C, .q_sh = 64, .q_st = C,
                       .k_sn = T * C, .k_sh = 64, .k_st = C, .v_sn = T * C, .v_sh = 64,
                       .v_st = C, .o_sn = Tq * H * Dv, .o_sh = Dv, .o_st = H * Dv,
                       .scale = 1.0f / sqrtf((float)D)};
    if (kind == M_FLOAT || kind == M_ALL) { /* [1, H, Tq, Tk], broadcast over the batch */
        p->a.mask = p->mask;
        p->a.m_sh = Tq * Tk, p->a.m_sq = Tk, p->a.m_sk = 1;
    }
    if (kind == M_KPM || kind == M_ALL)
        p->a.kpm = p->kpm;
    if (kind == M_CAUSAL || kind == M_ALL) {
        p->a.causal = 1;
        p->a.q_offset = Tk - Tq; /* the queries are the last Tq positions */
    }
    return 1;
}

static void prob_free(prob *p)
{
    free(p->x);
    free(p->mask);
    free(p->kpm);
}

/* o in double: s = scale·q·k + mask + kpm (−inf where causal hides), softmax, ·v. */
static void reference(const dc_k_attn *a, double *o)
{
    double *s = malloc(sizeof(double) * (size_t)a->Tk);
    if (!s)
        return;
    for (int64_t n = 0; n < a->N; n++)
        for (int64_t h = 0; h < a->H; h++)
            for (int64_t i = 0; i < a->Tq; i++) {
                const float *q = a->q + n * a->q_sn + h * a->q_sh + i * a->q_st;
                double mx = -INFINITY, l = 0;
                for (int64_t j = 0; j < a->Tk; j++) {
                    const float *k = a->k + n * a->k_sn + h * a->k_sh + j * a->k_st;
                    double d = 0;
                    for (int64_t c = 0; c < a->D; c++)
                        d += (double)q[c] * k[c];
                    s[j] = a->scale * d;
                    if (a->mask)
                        s[j] += a->mask[n * a->m_sn + h * a->m_sh + i * a->m_sq + j * a->m_sk];
                    if (a->kpm)
                        s[j] += a->kpm[n * a->Tk + j];
                    if (a->causal && j > i + a->q_offset)
                        s[j] = -INFINITY;
                    mx = s[j] > mx ? s[j] : mx;
                }
                double *oi = o + n * a->o_sn + h * a->o_sh + i * a->o_st;
                for (int64_t c = 0; c < a->Dv; c++)
                    oi[c] = 0;
                if (mx == -INFINITY)
                    continue;
                for (int64_t j = 0; j < a->Tk; j++) {
                    const float *v = a->v + n * a->v_sn + h * a->v_sh + j * a->v_st;
                    const double e = exp(s[j] - mx);
                    l += e;
                    for (int64_t c = 0; c < a->Dv; c++)
                        oi[c] += e * v[c];
                }
                for (int64_t c = 0; c < a->Dv; c++)
                    oi[c] /= l;
            }
    free(s);
}

/* Every supported instruction set against the double reference: |o − ref| <= 2e-5 + 1e-4|ref|
 * (the values are O(1); float sums over up to 600 keys). */
static void check_case(int64_t N, int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                       int kind)
{
    prob p;
    const int64_t no = N * Tq * H * Dv;
    double *ref = malloc(sizeof(double) * (size_t)no);
    float *o = malloc(sizeof(float) * (size_t)no);
    REQUIRE(prob_make(&p, N, H, Tq, Tk, D, Dv, kind, (uint64_t)(Tq * 1000 + Tk + D)) && ref && o);
    reference(&p.a, ref);
    for (int isa = DC_FLASH_SCALAR; isa <= DC_FLASH_AVX512; isa++) {
        if (!dc_k_attn_flash_supported(isa))
            continue;
        for (int64_t i = 0; i < no; i++)
            o[i] = NAN;
        p.a.o = o;
        CHECK(dc_k_attn_flash_fwd(&p.a, isa) == 0, "isa %d refused", isa);
        double worst = 0;
        int64_t at = 0;
        for (int64_t i = 0; i < no; i++) {
            const double e = fabs(o[i] - ref[i]) - (2e-5 + 1e-4 * fabs(ref[i]));
            if (!(e <= worst))
                worst = isnan(e) ? INFINITY : e, at = i;
        }
        CHECK(worst == 0, "isa %d N %lld H %lld Tq %lld Tk %lld D %lld Dv %lld mask %d: o[%lld] "
              "= %.7g, reference %.7g", isa, (long long)N, (long long)H, (long long)Tq,
              (long long)Tk, (long long)D, (long long)Dv, kind, (long long)at, (double)o[at],
              ref[at]);
    }
    prob_free(&p);
    free(ref);
    free(o);
}

TEST(flash_attention_matches_double_reference)
{
    const int64_t ts[] = {1, 7, 64, 129, 600};
    for (size_t t = 0; t < sizeof ts / sizeof *ts; t++)
        for (int kind = 0; kind < M_KINDS; kind++) {
            const int64_t T = ts[t], N = T >= 600 ? 1 : 2, H = T >= 600 ? 1 : 2;
            check_case(N, H, T, T, 64, 64, kind);
            check_case(N, H, T, T, 24, 24, kind);
        }
    for (int kind = 0; kind < M_KINDS; kind++) { /* Dv != D; fewer queries than keys */
        check_case(2, 3, 50, 130, 64, 20, kind);
        check_case(2, 2, 7, 129, 24, 24, kind);
    }
}

/* A fully masked row (every key padded out) gives o = 0 exactly, as the blocked kernel. */
TEST(flash_attention_fully_masked_rows_are_zero)
{
    prob p;
    REQUIRE(prob_make(&p, 2, 2, 40, 40, 24, 24, M_KPM, 3));
    float *o = malloc(sizeof(float) * 2 * 40 * 2 * 24);
    REQUIRE(o);
    for (int isa = DC_FLASH_SCALAR; isa <= DC_FLASH_AVX512; isa++) {
        if (!dc_k_attn_flash_supported(isa))
            continue;
        p.a.o = o;
        memset(o, 0x7f, sizeof(float) * 2 * 40 * 2 * 24);
        REQUIRE(dc_k_attn_flash_fwd(&p.a, isa) == 0);
        int zeros = 1;
        for (int64_t i = 40 * 2 * 24; i < 2 * 40 * 2 * 24; i++) /* batch 1 */
            zeros &= o[i] == 0.0f;
        CHECK(zeros, "isa %d: a fully masked row is not 0", isa);
    }
    free(o);
    prob_free(&p);
}

/* The tasks split (n, h, query block) over the threads; the second thread starts inside a head
 * and packs it again: the same bits. */
TEST(flash_attention_same_bits_at_1_and_2_threads)
{
    prob p;
    REQUIRE(prob_make(&p, 1, 3, 300, 300, 64, 64, M_ALL, 5));
    const int64_t no = 300 * 3 * 64;
    float *o1 = malloc(sizeof(float) * (size_t)no), *o2 = malloc(sizeof(float) * (size_t)no);
    REQUIRE(o1 && o2);
    const int old = dc_get_num_threads();
    for (int isa = DC_FLASH_SCALAR; isa <= DC_FLASH_AVX512; isa++) {
        if (!dc_k_attn_flash_supported(isa))
            continue;
        dc_set_num_threads(1);
        p.a.o = o1;
        REQUIRE(dc_k_attn_flash_fwd(&p.a, isa) == 0);
        dc_set_num_threads(2);
        p.a.o = o2;
        memset(o2, 0, sizeof(float) * (size_t)no);
        REQUIRE(dc_k_attn_flash_fwd(&p.a, isa) == 0);
        CHECK(!memcmp(o1, o2, sizeof(float) * (size_t)no), "isa %d: 1 and 2 threads differ", isa);
    }
    dc_set_num_threads(old);
    free(o1);
    free(o2);
    prob_free(&p);
}

/* The kernel's e^x within 1.5e-7 relative of exp over [−87, 0] (its arguments: s − max), 0 at
 * −inf and below −87, NaN for NaN. */
TEST(flash_exp_is_accurate)
{
    enum { NX = 200003 };
    float *x = malloc(sizeof(float) * NX), *y = malloc(sizeof(float) * NX);
    REQUIRE(x && y);
    for (int i = 0; i < NX - 4; i++)
        x[i] = -87.0f * (float)i / (float)(NX - 5);
    x[NX - 4] = -INFINITY, x[NX - 3] = -88.0f, x[NX - 2] = NAN, x[NX - 1] = 0.0f;
    for (int isa = DC_FLASH_SCALAR; isa <= DC_FLASH_AVX512; isa++) {
        if (!dc_k_attn_flash_supported(isa))
            continue;
        dc_k_flash_exp(isa, x, y, NX);
        double worst = 0;
        for (int i = 0; i < NX - 4; i++) {
            const double e = exp((double)x[i]), rel = fabs(y[i] - e) / e;
            worst = rel > worst ? rel : worst;
        }
        CHECK(worst < 1.5e-7, "isa %d: max relative error %.3g", isa, worst);
        CHECK(y[NX - 4] == 0.0f && y[NX - 3] == 0.0f && isnan(y[NX - 2]) && y[NX - 1] == 1.0f,
              "isa %d: e^-inf %g, e^-88 %g, e^NaN %g, e^0 %g", isa, (double)y[NX - 4],
              (double)y[NX - 3], (double)y[NX - 2], (double)y[NX - 1]);
    }
    free(x);
    free(y);
}

/* dc_attention without a tape, from 128 keys on, gives the flash kernel's bits; while recording
 * (lse kept for backward) it keeps the blocked kernel, whose bits differ. */
TEST(flash_attention_serves_long_inference_only)
{
    dc_rng r;
    dc_rng_seed(&r, 4, 4);
    const int64_t T = 200, E = 128;
    dc_tensor *x = dc_tensor_new(DC_F32, 3, DC_SHAPE(1, T, 3 * E));
    float *o = malloc(sizeof(float) * (size_t)(T * E));
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(x && o && ctx);
    dc_tensor_normal(x, &r, 0.0f, 1.0f);
    dc_attn_opts opt = dc_attn_defaults();
    opt.causal = 1;
    dc_ctx_set_grad(ctx, 0);
    dc_tensor *y = dc_attention_packed(ctx, x, 0, x, E, x, 2 * E, 2, 64, &opt);
    REQUIRE(y);
    const dc_k_attn a = {.N = 1, .H = 2, .Tq = T, .Tk = T, .D = 64, .Dv = 64, .q = dc_f32(x),
                         .k = dc_f32(x) + E, .v = dc_f32(x) + 2 * E, .q_sn = T * 3 * E,
                         .q_sh = 64, .q_st = 3 * E, .k_sn = T * 3 * E, .k_sh = 64,
                         .k_st = 3 * E, .v_sn = T * 3 * E, .v_sh = 64, .v_st = 3 * E, .o = o,
                         .o_sn = T * E, .o_sh = 64, .o_st = E, .causal = 1, .scale = 0.125f};
    if (dc_k_attn_flash_supported(DC_FLASH_AUTO)) {
        REQUIRE(dc_k_attn_flash_fwd(&a, DC_FLASH_AUTO) == 0);
        CHECK(!memcmp(dc_f32(y), o, sizeof(float) * (size_t)(T * E)),
              "inference output is not the flash kernel's");
    } else { /* no vector set: the blocked kernel serves inference too */
        memcpy(o, dc_f32(y), sizeof(float) * (size_t)(T * E));
        CHECK(dc_k_attn_flash_fwd(&a, DC_FLASH_AUTO) == -1, "AUTO ran without a vector set");
    }
    REQUIRE(dc_tensor_requires_grad(x) == DC_OK);
    dc_ctx_set_grad(ctx, 1);
    dc_tensor *yg = dc_attention_packed(ctx, x, 0, x, E, x, 2 * E, 2, 64, &opt);
    REQUIRE(yg);
    if (dc_k_attn_flash_supported(DC_FLASH_AUTO))
        CHECK(memcmp(dc_f32(yg), o, sizeof(float) * (size_t)(T * E)) != 0,
              "the recording forward ran the flash kernel (it keeps no lse)");
    else
        CHECK(!memcmp(dc_f32(yg), o, sizeof(float) * (size_t)(T * E)),
              "without a vector set inference and recording should share the blocked kernel");
    CHECK_ALLCLOSE("recording vs inference", dc_f32(yg), o, T * E, 1e-5, 1e-6);
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    free(o);
}
