/*
 * attention.c - scaled dot-product attention as one op, masked softmax, sinusoidal positions.
 *
 * attention, per batch n and head h (kernels/attn_k.c does the work by blocks):
 *   s = q·kᵀ·scale + attn_mask + key_padding_mask (−inf where causal hides a key)
 *   p = softmax(s) along the keys,  y = (p ⊙ z)·v    (z: dropout, 0 or 1/(1 − p_drop))
 * scale = 1/√D unless given. Without a gradient to record, no score matrix exists beyond one
 * block; while recording, the row log-sum-exp is kept ([N, H, Tq]) and backward recomputes p
 * block by block (or reads the probabilities kept with store_probs; docs/design.md has the
 * measurements behind the default). A fully masked row gives y = 0 and no gradient (PyTorch:
 * NaN). The masks get no gradient.
 *
 * masked_softmax along the last axis: y = softmax(x + m), m the mask broadcast to x (float:
 * added; int64: nonzero → −inf). A fully masked row gives y = 0 (PyTorch's softmax of
 * masked_fill(−inf) gives NaN) and no gradient. Backward: dx += y ⊙ (dy − Σ dy·y).
 */
#include "core/internal.h"
#include "kernels/attn_k.h"
#include "kernels/eltwise_k.h"

#include <math.h>
#include <string.h>

static dc_status grad_of(dc_ctx *ctx, dc_tensor *t, float **g)
{
    *g = dc_grad(ctx, t);
    return (!*g && t && (t->flags & DC_TF_REQUIRES_GRAD)) ? DC_ERR_NOMEM : DC_OK;
}

dc_attn_opts dc_attn_defaults(void)
{
    dc_attn_opts o;
    memset(&o, 0, sizeof o);
    return o;
}

/* The mask as float: int64 masks become 0 / −inf (an arena copy). */
static dc_tensor *mask_float(dc_ctx *ctx, dc_tensor *mask)
{
    if (!mask || mask->dtype == DC_F32)
        return mask;
    dc_tensor *f = dc_empty(ctx, DC_F32, mask->ndim, mask->shape);
    if (!f)
        return NULL;
    for (int64_t i = 0; i < mask->numel; i++)
        dc_f32(f)[i] = dc_i64(mask)[i] ? -INFINITY : 0.0f;
    return f;
}

/* ---- attention ---- */

typedef struct attn_saved {
    dc_k_attn a;
    int64_t off[3]; /* element offsets of q, k, v in their tensors */
} attn_saved;

static dc_status attention_bwd(dc_ctx *ctx, dc_node *n)
{ /* dq, dk, dv += (kernels/attn_k.h, dc_k_attn_bwd); q, k, v may be one tensor */
    attn_saved *s = n->saved;
    float *g[3];
    for (int i = 0; i < 3; i++)
        if (grad_of(ctx, n->in[i], &g[i]) != DC_OK)
            return DC_ERR_NOMEM;
    dc_k_attn_bwd(&s->a, n->out->grad, g[0] ? g[0] + s->off[0] : NULL,
                  g[1] ? g[1] + s->off[1] : NULL, g[2] ? g[2] + s->off[2] : NULL);
    return DC_OK;
}

/* attn_mask strides: [Tq, Tk], [N·H, Tq, Tk] (PyTorch MultiheadAttention), or 4-D with each
 * dim equal to [N, H, Tq, Tk] or 1. */
static bool mask_strides(dc_k_attn *a, const dc_tensor *m)
{
    char s[96];
    const int64_t want[4] = {a->N, a->H, a->Tq, a->Tk};
    int64_t sh[4] = {1, 1, 1, 1}, st[4], acc = 1;
    bool ok = true;
    if (m->ndim == 2) {
        sh[2] = m->shape[0];
        sh[3] = m->shape[1];
    } else if (m->ndim == 3 && m->shape[0] == a->N * a->H) {
        sh[0] = a->N;
        sh[1] = a->H;
        sh[2] = m->shape[1];
        sh[3] = m->shape[2];
    } else if (m->ndim == 4) {
        memcpy(sh, m->shape, sizeof sh);
    } else {
        ok = false;
    }
    for (int d = 3; d >= 0 && ok; d--) {
        ok = sh[d] == want[d] || sh[d] == 1;
        st[d] = sh[d] == 1 ? 0 : acc;
        acc *= sh[d];
    }
    if (!ok) {
        dc_err(DC_ERR_SHAPE, "attention: attn_mask %s must be [Tq, Tk] = [%lld, %lld], "
               "[N·H, Tq, Tk] or [N|1, H|1, Tq|1, Tk|1]", dc_shape_str(m, s, sizeof s),
               (long long)a->Tq, (long long)a->Tk);
        return false;
    }
    a->m_sn = st[0];
    a->m_sh = st[1];
    a->m_sq = st[2];
    a->m_sk = st[3];
    return true;
}

static bool kpm_ok(const dc_k_attn *a, const dc_tensor *m)
{
    char s[96];
    if (m->ndim == 2 && m->shape[0] == a->N && m->shape[1] == a->Tk)
        return true;
    dc_err(DC_ERR_SHAPE, "attention: key_padding_mask %s must be [N, Tk] = [%lld, %lld]",
           dc_shape_str(m, s, sizeof s), (long long)a->N, (long long)a->Tk);
    return false;
}

/* Masks, scale, dropout and the saved values; then the forward kernel and the tape entry. */
static dc_tensor *attn_run(dc_ctx *ctx, dc_tensor *q, dc_tensor *k, dc_tensor *v, dc_tensor *y,
                           attn_saved *s, const dc_attn_opts *o)
{
    dc_k_attn *a = &s->a;
    dc_tensor *in[3] = {q, k, v};
    if (a->D > 256 || a->Dv > 256)
        return dc_err_null(DC_ERR_SHAPE, "attention: head dims up to 256, got %lld and %lld",
                           (long long)a->D, (long long)a->Dv);
    dc_tensor *am = o ? mask_float(ctx, o->attn_mask) : NULL;
    dc_tensor *kp = o ? mask_float(ctx, o->key_padding_mask) : NULL;
    if ((o && o->attn_mask && (!am || !mask_strides(a, am))) ||
        (o && o->key_padding_mask && (!kp || !kpm_ok(a, kp))))
        return NULL;
    a->mask = am ? dc_f32(am) : NULL;
    a->kpm = kp ? dc_f32(kp) : NULL;
    a->causal = o && o->causal;
    a->q_offset = o ? o->q_offset : 0;
    a->scale = o && o->scale != 0.0f ? o->scale : 1.0f / sqrtf((float)a->D);
    const float p = o ? o->dropout : 0.0f;
    if (!(p >= 0.0f && p < 1.0f))
        return dc_err_null(DC_ERR_ARG, "attention: dropout must be in [0, 1), got %g", (double)p);
    if (p > 0.0f && dc_ctx_training(ctx)) {
        dc_rng *rng = dc_ctx_rng(ctx);
        if (!rng)
            return dc_err_null(DC_ERR_STATE, "attention: dropout in training mode needs a "
                               "generator (dc_ctx_set_rng)");
        a->p_drop = p;
        a->seed = (uint64_t)dc_rng_u32(rng) << 32 | dc_rng_u32(rng);
    }
    const bool rec = dc_needs_grad(ctx, 3, in), want_w = o && o->weights;
    const int64_t rows = a->N * a->H * a->Tq;
    if ((rec || want_w) && !(a->lse = dc_ctx_alloc(ctx, (size_t)(rows ? rows : 1) * 4)))
        return NULL;
    const int64_t n_probs = rows * a->Tk;
    if (rec && o && o->store_probs &&
        !(a->probs = dc_ctx_alloc(ctx, (size_t)(n_probs > 0 ? n_probs : 1) * 4)))
        return NULL;
    a->o = dc_f32(y);
    dc_k_attn_fwd(a);
    if (want_w) {
        *o->weights = dc_empty(ctx, DC_F32, 4, DC_SHAPE(a->N, a->H, a->Tq, a->Tk));
        if (!*o->weights)
            return NULL;
        dc_k_attn_weights(a, dc_f32(*o->weights));
    }
    dc_node *n = dc_record(ctx, "attention", attention_bwd, y, 3, in);
    if (n)
        n->saved = s;
    return y;
}

dc_tensor *dc_attention(dc_ctx *ctx, dc_tensor *q, dc_tensor *k, dc_tensor *v,
                        const dc_attn_opts *o)
{
    char s1[96], s2[96], s3[96];
    if (!q || !k || !v)
        return NULL;
    if (!dc_check_f32("attention", q, "q") || !dc_check_f32("attention", k, "k") ||
        !dc_check_f32("attention", v, "v"))
        return NULL;
    const int64_t *qs = q->shape, *ks = k->shape, *vs = v->shape;
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4 || ks[0] != qs[0] || vs[0] != qs[0] ||
        ks[1] != qs[1] || vs[1] != qs[1] || ks[3] != qs[3] || vs[2] != ks[2])
        return dc_err_null(DC_ERR_SHAPE, "attention: expected q [N, H, Tq, D], k [N, H, Tk, D], "
                           "v [N, H, Tk, Dv]; got q %s, k %s, v %s",
                           dc_shape_str(q, s1, sizeof s1), dc_shape_str(k, s2, sizeof s2),
                           dc_shape_str(v, s3, sizeof s3));
    attn_saved *s = dc_ctx_alloc(ctx, sizeof *s);
    dc_tensor *y = dc_empty(ctx, DC_F32, 4, DC_SHAPE(qs[0], qs[1], qs[2], vs[3]));
    if (!s || !y)
        return NULL;
    memset(s, 0, sizeof *s);
    const int64_t H = qs[1], Tq = qs[2], Tk = ks[2], D = qs[3], Dv = vs[3];
    s->a = (dc_k_attn){.N = qs[0], .H = H, .Tq = Tq, .Tk = Tk, .D = D, .Dv = Dv,
                       .q = dc_f32(q), .k = dc_f32(k), .v = dc_f32(v),
                       .q_sn = H * Tq * D, .q_sh = Tq * D, .q_st = D,
                       .k_sn = H * Tk * D, .k_sh = Tk * D, .k_st = D,
                       .v_sn = H * Tk * Dv, .v_sh = Tk * Dv, .v_st = Dv,
                       .o_sn = H * Tq * Dv, .o_sh = Tq * Dv, .o_st = Dv};
    return attn_run(ctx, q, k, v, y, s, o);
}

dc_tensor *dc_attention_packed(dc_ctx *ctx, dc_tensor *q, int64_t q_off, dc_tensor *k,
                               int64_t k_off, dc_tensor *v, int64_t v_off, int64_t H,
                               int64_t D, const dc_attn_opts *o)
{
    char s1[96], s2[96], s3[96];
    if (!q || !k || !v)
        return NULL;
    if (!dc_check_f32("attention", q, "q") || !dc_check_f32("attention", k, "k") ||
        !dc_check_f32("attention", v, "v"))
        return NULL;
    const int64_t *qs = q->shape, *ks = k->shape, *vs = v->shape, E = H * D;
    if (H < 1 || D < 1 || q->ndim != 3 || k->ndim != 3 || v->ndim != 3 || ks[0] != qs[0] ||
        vs[0] != qs[0] || vs[1] != ks[1] || q_off < 0 || k_off < 0 || v_off < 0 ||
        q_off + E > qs[2] || k_off + E > ks[2] || v_off + E > vs[2])
        return dc_err_null(DC_ERR_SHAPE, "attention: expected q [N, Tq, Cq], k [N, Tk, Ck], "
                           "v [N, Tk, Cv] holding %lld heads of %lld channels from offsets "
                           "%lld, %lld, %lld; got q %s, k %s, v %s", (long long)H, (long long)D,
                           (long long)q_off, (long long)k_off, (long long)v_off,
                           dc_shape_str(q, s1, sizeof s1), dc_shape_str(k, s2, sizeof s2),
                           dc_shape_str(v, s3, sizeof s3));
    attn_saved *s = dc_ctx_alloc(ctx, sizeof *s);
    dc_tensor *y = dc_empty(ctx, DC_F32, 3, DC_SHAPE(qs[0], qs[1], E));
    if (!s || !y)
        return NULL;
    memset(s, 0, sizeof *s);
    const int64_t Tq = qs[1], Tk = ks[1];
    s->a = (dc_k_attn){.N = qs[0], .H = H, .Tq = Tq, .Tk = Tk, .D = D, .Dv = D,
                       .q = dc_f32(q) + q_off, .k = dc_f32(k) + k_off, .v = dc_f32(v) + v_off,
                       .q_sn = Tq * qs[2], .q_sh = D, .q_st = qs[2],
                       .k_sn = Tk * ks[2], .k_sh = D, .k_st = ks[2],
                       .v_sn = Tk * vs[2], .v_sh = D, .v_st = vs[2],
                       .o_sn = Tq * E, .o_sh = D, .o_st = E};
    s->off[0] = q_off;
    s->off[1] = k_off;
    s->off[2] = v_off;
    return attn_run(ctx, q, k, v, y, s, o);
}

/* ---- sinusoidal positions ---- */

dc_tensor *dc_sinusoidal_table(dc_ctx *ctx, int64_t t0, int64_t T, int64_t E)
{
    if (t0 < 0 || T < 0 || E < 1)
        return dc_err_null(DC_ERR_ARG, "sinusoidal_table: needs t0 >= 0, T >= 0, E >= 1 "
                           "(got %lld, %lld, %lld)", (long long)t0, (long long)T, (long long)E);
    dc_tensor *pe = dc_empty(ctx, DC_F32, 2, DC_SHAPE(T, E));
    if (pe)
        dc_k_sinusoidal(t0, T, E, dc_f32(pe));
    return pe;
}

/* ---- masked softmax ---- */

static dc_status masked_softmax_bwd(dc_ctx *ctx, dc_node *n)
{
    dc_tensor *x = n->in[0], *y = n->out;
    const int64_t K = x->shape[x->ndim - 1];
    float *dx;
    if (grad_of(ctx, x, &dx) != DC_OK)
        return DC_ERR_NOMEM;
    if (dx && K)
        dc_k_softmax_bwd(x->numel / K, K, 1, dc_f32(y), y->grad, dx, NULL);
    return DC_OK;
}

/* Offsets into mask of each row of x (rows = x viewed [R, K]); *m_sk the mask's last stride. */
static int64_t *mask_rows(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *m, int64_t *m_sk)
{
    char s1[96], s2[96];
    const int nd = x->ndim, off = nd - m->ndim;
    int64_t str[DC_MAX_DIMS], acc = 1;
    if (m->ndim > nd)
        goto bad;
    for (int d = nd - 1; d >= 0; d--) {
        const int64_t sz = d >= off ? m->shape[d - off] : 1;
        if (sz != 1 && sz != x->shape[d])
            goto bad;
        str[d] = sz == 1 ? 0 : acc;
        acc *= sz;
    }
    const int64_t K = x->shape[nd - 1], R = K ? x->numel / K : 0;
    int64_t *o = dc_ctx_alloc(ctx, (size_t)(R ? R : 1) * sizeof *o);
    if (!o)
        return NULL;
    for (int64_t r = 0; r < R; r++) {
        int64_t rem = r, v = 0;
        for (int d = nd - 2; d >= 0; d--) {
            v += (rem % x->shape[d]) * str[d];
            rem /= x->shape[d];
        }
        o[r] = v;
    }
    *m_sk = str[nd - 1];
    return o;
bad:
    dc_err(DC_ERR_SHAPE, "masked_softmax: mask %s does not broadcast to input %s",
           dc_shape_str(m, s1, sizeof s1), dc_shape_str(x, s2, sizeof s2));
    return NULL;
}

dc_tensor *dc_masked_softmax(dc_ctx *ctx, dc_tensor *x, dc_tensor *mask)
{
    if (!x)
        return NULL;
    if (!dc_check_f32("masked_softmax", x, "input"))
        return NULL;
    if (x->ndim < 1)
        return dc_err_null(DC_ERR_SHAPE, "masked_softmax: input needs at least 1 dim");
    int64_t *moff = NULL, m_sk = 0;
    dc_tensor *mf = mask_float(ctx, mask);
    if (mask && (!mf || !(moff = mask_rows(ctx, x, mf, &m_sk))))
        return NULL;
    dc_tensor *y = dc_empty_like(ctx, x);
    if (!y)
        return NULL;
    const int64_t K = x->shape[x->ndim - 1];
    if (K)
        dc_k_masked_softmax_fwd(x->numel / K, K, dc_f32(x), mf ? dc_f32(mf) : NULL, moff, m_sk,
                                dc_f32(y));
    dc_record(ctx, "masked_softmax", masked_softmax_bwd, y, 1, &x);
    return y;
}
