/*
 * gc_attn.c - gradient-check cases for the Transformer ops: layer norm, broadcast matmul,
 * masked softmax, attention (plain, causal, both masks, dropout, several blocks of queries and
 * keys, packed heads, stored probabilities) and the Transformer modules.
 *
 * Masks are constants (int64 or float inputs without requires_grad). A fully masked attention
 * row has output 0 and gradient 0, and its finite differences are 0 as well, so such rows are
 * checked like the others.
 */
#include "gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Return n when every ins[0..n) was made, else free them and return -1. */
static int all_or_none(dc_tensor **ins, int n)
{
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= ins[i] != NULL;
    if (ok)
        return n;
    for (int i = 0; i < n; i++)
        dc_tensor_free(ins[i]);
    return -1;
}

#define NDIM(...) ((int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define P(...) gc_param(r, NDIM(__VA_ARGS__), DC_SHAPE(__VA_ARGS__), -1.5f, 1.5f)
#define K(...) gc_const(r, NDIM(__VA_ARGS__), DC_SHAPE(__VA_ARGS__), -1.5f, 1.5f)

#define SETUP(fn, ...)                                                                 \
    static int fn(dc_rng *r, dc_tensor **in, void **st)                                \
    {                                                                                  \
        (void)st;                                                                      \
        dc_tensor *const mk_[] = {__VA_ARGS__};                                        \
        const int n_ = (int)(sizeof mk_ / sizeof *mk_);                                \
        for (int i = 0; i < n_; i++)                                                   \
            in[i] = mk_[i];                                                            \
        return all_or_none(in, n_);                                                    \
    }
#define FWD(fn, expr)                                                                  \
    static dc_tensor *fn(dc_ctx *ctx, dc_tensor **in, void *st)                        \
    {                                                                                  \
        (void)st;                                                                      \
        return expr;                                                                   \
    }

/* An int64 mask of shape with ones (hidden) where pattern(i) says so. */
static dc_tensor *imask(int ndim, const int64_t *shape, const int64_t *vals)
{
    dc_tensor *t = dc_tensor_new(DC_I64, ndim, shape);
    if (t)
        memcpy(t->data, vals, (size_t)t->numel * sizeof(int64_t));
    return t;
}

/* ---- layer norm, matmul_bcast, masked softmax ---- */

SETUP(s_ln, P(3, 5), P(5), P(5))
SETUP(s_ln2, P(2, 3, 4), P(3, 4), P(3, 4))
SETUP(s_ln_plain, P(4, 6))
FWD(f_ln, dc_layer_norm(ctx, in[0], 1, in[1], in[2], 1e-5f))
FWD(f_ln2, dc_layer_norm(ctx, in[0], 2, in[1], in[2], 1e-5f))
FWD(f_ln_plain, dc_layer_norm(ctx, in[0], 1, NULL, NULL, 1e-5f))

SETUP(s_bmm_a, P(2, 1, 3, 4), P(3, 4, 5))
SETUP(s_bmm_b, P(3, 4), P(2, 4, 2))
SETUP(s_bmm_c, P(2, 3, 2, 4), P(1, 3, 4, 3))
FWD(f_bmm, dc_matmul_bcast(ctx, in[0], in[1]))

static int s_msm_int(dc_rng *r, dc_tensor **in, void **st)
{ /* row 2 of batch 0 hidden entirely */
    static const int64_t m[] = {0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
                                0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0};
    (void)st;
    in[0] = P(2, 3, 6);
    in[1] = imask(3, DC_SHAPE(2, 3, 6), m);
    return all_or_none(in, 2);
}
SETUP(s_msm_f, P(2, 3, 5), K(3, 5))
FWD(f_msm, dc_masked_softmax(ctx, in[0], in[1]))

/* ---- attention ---- */

SETUP(s_att, P(2, 2, 5, 4), P(2, 2, 6, 4), P(2, 2, 6, 3))
SETUP(s_att_big, P(1, 1, 40, 3), P(1, 1, 70, 3), P(1, 1, 70, 2))
FWD(f_att, dc_attention(ctx, in[0], in[1], in[2], NULL))

static dc_tensor *f_att_causal(dc_ctx *ctx, dc_tensor **in, void *st)
{
    dc_attn_opts o = dc_attn_defaults();
    o.causal = 1;
    o.q_offset = in[1]->shape[2] - in[0]->shape[2];
    return dc_attention(ctx, in[0], in[1], in[2], &o);
}

static dc_tensor *f_att_store(dc_ctx *ctx, dc_tensor **in, void *st)
{
    dc_attn_opts o = dc_attn_defaults();
    o.causal = 1;
    o.store_probs = 1;
    return dc_attention(ctx, in[0], in[1], in[2], &o);
}

/* q, k, v, float attn_mask [5, 6], key_padding_mask [2, 6] with batch 1 fully padded */
static int s_att_mask(dc_rng *r, dc_tensor **in, void **st)
{
    static const int64_t kpm[] = {0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1};
    (void)st;
    in[0] = P(2, 2, 5, 4);
    in[1] = P(2, 2, 6, 4);
    in[2] = P(2, 2, 6, 4);
    in[3] = K(5, 6);
    in[4] = imask(2, DC_SHAPE(2, 6), kpm);
    return all_or_none(in, 5);
}

static dc_tensor *f_att_mask(dc_ctx *ctx, dc_tensor **in, void *st)
{
    dc_attn_opts o = dc_attn_defaults();
    o.attn_mask = in[3];
    o.key_padding_mask = in[4];
    return dc_attention(ctx, in[0], in[1], in[2], &o);
}

static dc_tensor *f_att_drop(dc_ctx *ctx, dc_tensor **in, void *st)
{
    dc_attn_opts o = dc_attn_defaults();
    o.dropout = 0.3f;
    o.causal = 1;
    return dc_attention(ctx, in[0], in[1], in[2], &o);
}

/* packed QKV [2, 5, 3·E], E = 2 heads × 3 */
SETUP(s_att_packed, P(2, 5, 18))
static dc_tensor *f_att_packed(dc_ctx *ctx, dc_tensor **in, void *st)
{
    dc_attn_opts o = dc_attn_defaults();
    o.causal = 1;
    return dc_attention_packed(ctx, in[0], 0, in[0], 6, in[0], 12, 2, 3, &o);
}

/* ---- modules: inputs, then the model's parameters (as many as fit), the model in *st ---- */

typedef struct mod_state {
    dc_model *m;
    dc_module *mod;
    int n_x; /* leading inputs that are data (x, memory) */
} mod_state;

static int mod_finish(dc_rng *r, dc_tensor **in, void **st, dc_model *m, dc_module *mod,
                      int n_x, int64_t T, int64_t S, int seq_first)
{
    mod_state *s = NULL;
    if (!m || !mod || dc_model_add(m, mod) != DC_OK || !(s = calloc(1, sizeof *s))) {
        dc_model_free(m);
        return -1;
    }
    *s = (mod_state){m, mod, n_x};
    in[0] = seq_first ? P(T, 2, 8) : P(2, T, 8);
    if (n_x > 1)
        in[1] = seq_first ? P(S, 2, 8) : P(2, S, 8);
    int n = n_x;
    for (int i = 0; i < dc_model_n_tensors(m) && n < GC_MAX_IN; i++)
        in[n++] = dc_model_tensor(m, i);
    *st = s;
    if (all_or_none(in, n_x) < 0) {
        dc_model_free(m);
        free(s);
        return -1;
    }
    return n;
}

static void t_mod(dc_tensor **in, int n, void *st)
{
    mod_state *s = st;
    for (int i = 0; i < s->n_x; i++)
        dc_tensor_free(in[i]);
    dc_model_free(s->m);
    free(s);
}

static dc_tensor *f_mod(dc_ctx *ctx, dc_tensor **in, void *st)
{
    mod_state *s = st;
    dc_attn_masks causal = {NULL, NULL, 1};
    return dc_transformer_forward(ctx, s->mod, in[0], s->n_x > 1 ? in[1] : NULL, &causal, NULL);
}

static dc_tensor *f_mha(dc_ctx *ctx, dc_tensor **in, void *st)
{
    return dc_model_forward(ctx, ((mod_state *)st)->m, in[0]);
}

static int s_mha(dc_rng *r, dc_tensor **in, void **st)
{
    dc_model *m = dc_model_new();
    dc_module *a = m ? dc_mha_new(m, "attn", 8, 2, 0.0f, 1, 1, 1, r) : NULL;
    return mod_finish(r, in, st, m, a, 1, 5, 0, 0);
}

static int s_pos(dc_rng *r, dc_tensor **in, void **st)
{
    dc_model *m = dc_model_new();
    dc_module *p = m ? dc_positional_new(m, "pos", DC_POS_LEARNED, 7, 8, 1, r) : NULL;
    return mod_finish(r, in, st, m, p, 1, 5, 0, 0);
}

static int s_layer(dc_rng *r, dc_tensor **in, void **st, int decoder, int pre, int gelu,
                   float p)
{
    dc_model *m = dc_model_new();
    dc_tf_layer_opts o = dc_tf_layer_defaults(8, 2);
    o.dim_feedforward = 12;
    o.norm_first = pre;
    o.gelu = gelu;
    o.dropout = p;
    dc_module *l = !m ? NULL : decoder ? dc_decoder_layer_new(m, "dec", &o, r)
                                       : dc_encoder_layer_new(m, "enc", &o, r);
    return mod_finish(r, in, st, m, l, 1 + decoder, 4, 5, 1);
}

static int s_enc_pre(dc_rng *r, dc_tensor **in, void **st)
{
    return s_layer(r, in, st, 0, 1, 1, 0.2f);
}
static int s_enc_post(dc_rng *r, dc_tensor **in, void **st)
{
    return s_layer(r, in, st, 0, 0, 0, 0.0f);
}
static int s_dec_pre(dc_rng *r, dc_tensor **in, void **st)
{
    return s_layer(r, in, st, 1, 1, 1, 0.0f);
}

#define CASE(name, setup, fwd) {name, setup, fwd, NULL, 0, 0, 0}

static const gc_case cases[] = {
    CASE("layer_norm [3,5] affine", s_ln, f_ln),
    CASE("layer_norm [2,3,4] over [3,4]", s_ln2, f_ln2),
    CASE("layer_norm [4,6] no affine", s_ln_plain, f_ln_plain),
    CASE("matmul_bcast [2,1,3,4]·[3,4,5]", s_bmm_a, f_bmm),
    CASE("matmul_bcast [3,4]·[2,4,2]", s_bmm_b, f_bmm),
    CASE("matmul_bcast [2,3,2,4]·[1,3,4,3]", s_bmm_c, f_bmm),
    CASE("masked_softmax int mask, full row", s_msm_int, f_msm),
    CASE("masked_softmax float mask [3,5]", s_msm_f, f_msm),
    CASE("attention [2,2,5,4] kv 6", s_att, f_att),
    CASE("attention causal offset 1", s_att, f_att_causal),
    CASE("attention 40 q x 70 k (blocks)", s_att_big, f_att),
    CASE("attention causal 40x70 (blocks)", s_att_big, f_att_causal),
    CASE("attention causal stored probs", s_att_big, f_att_store),
    CASE("attention attn_mask + key_padding", s_att_mask, f_att_mask),
    {"attention dropout 0.3 causal", s_att, f_att_drop, NULL, 0, 0, 1},
    CASE("attention packed qkv 2 heads", s_att_packed, f_att_packed),
    {"MultiheadAttention module causal", s_mha, f_mha, t_mod, 0, 0, 0},
    {"PositionalEncoding learned", s_pos, f_mha, t_mod, 0, 0, 0},
    {"TransformerEncoderLayer pre-LN gelu drop", s_enc_pre, f_mod, t_mod, 0, 0, 1},
    {"TransformerEncoderLayer post-LN relu", s_enc_post, f_mod, t_mod, 0, 0, 0},
    {"TransformerDecoderLayer pre-LN gelu", s_dec_pre, f_mod, t_mod, 0, 0, 0},
};
const gc_list gc_attn = {cases, (int)(sizeof cases / sizeof *cases)};
