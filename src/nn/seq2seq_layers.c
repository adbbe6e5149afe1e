/*
 * seq2seq_layers.c - the two spec layers that let an encoder-decoder be one model spec
 * (docs/g2p.md): Select (one row of a packed [N, K, L] input, trailing padding trimmed) and
 * LuongAttention (global attention of a recurrent decoder over the encoder's outputs, Luong et
 * al. 2015, the idea the Transformer grew from).
 *
 * A seq2seq model's input is int64 [N, 2, L]: row 0 the source ids, row 1 the decoder's input
 * (BOS, then the target shifted right), both padded with DC_SEQ_PAD to L. `select` takes a row
 * out; with trim_padding it drops the columns that are padding in every example, so a source is
 * never longer than the batch's longest one however long the target is.
 */
#include "nn/layer_desc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Select ---- */

typedef struct select_mod {
    dc_module base;
    int64_t index; /* the row k of [N, K, ...] */
    int64_t trim;  /* -1, or the padding id whose trailing columns go (int64 input) */
} select_mod;

/* int64 x [N, K, L] -> y [N, L'] = x[:, k, :L'], L' the last column with a non-trimmed id + 1
 * (at least 1). Float x [N, K, F] -> x[:, k] (dc_select_step: the gradient flows). */
static dc_tensor *select_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    const select_mod *s = (const select_mod *)m;
    char b[96];
    if (!x)
        return NULL;
    if (x->ndim != 3 || s->index >= x->shape[1])
        return dc_err_null(DC_ERR_SHAPE, "Select %s: needs [N, K, L] with K > %lld, got %s",
                           m->name, (long long)s->index, dc_shape_str(x, b, sizeof b));
    if (x->dtype != DC_I64)
        return dc_select_step(ctx, x, s->index);
    const int64_t N = x->shape[0], K = x->shape[1], L = x->shape[2];
    const int64_t *in = dc_i64(x);
    int64_t keep = 1;
    for (int64_t n = 0; n < N; n++)
        for (int64_t t = L - 1; t >= keep; t--)
            if (s->trim < 0 || in[(n * K + s->index) * L + t] != s->trim) {
                keep = t + 1;
                break;
            }
    if (L == 0)
        keep = 0;
    dc_tensor *y = dc_empty(ctx, DC_I64, 2, DC_SHAPE(N, keep));
    if (y)
        for (int64_t n = 0; n < N; n++)
            memcpy(dc_i64(y) + n * keep, in + (n * K + s->index) * L,
                   (size_t)keep * sizeof(int64_t));
    return y;
}

dc_module *dc_select_new(dc_model *m, const char *name, int64_t index, int64_t trim_padding)
{
    (void)m;
    if (index < 0)
        return dc_err_null(DC_ERR_ARG, "Select %s: index must be >= 0", name ? name : "?");
    select_mod *s = dc_module_alloc(sizeof *s, "Select", name, select_forward);
    if (s) {
        s->index = index;
        s->trim = trim_padding;
    }
    return s ? &s->base : NULL;
}

/* ---- LuongAttention ---- */

dc_tensor *dc_luong_attention(dc_ctx *ctx, dc_tensor *h, dc_tensor *mem,
                              dc_tensor *key_padding_mask, dc_tensor *w_in, dc_tensor *w_out)
{
    char a[96], b[96];
    if (!h || !mem || !w_out)
        return NULL;
    if (h->ndim != 3 || mem->ndim != 3 || h->shape[0] != mem->shape[0])
        return dc_err_null(DC_ERR_SHAPE, "luong_attention: needs h [N, T, H] and memory "
                           "[N, S, Hm] of one batch, got %s and %s",
                           dc_shape_str(h, a, sizeof a), dc_shape_str(mem, b, sizeof b));
    dc_tensor *q = w_in ? dc_linear(ctx, h, w_in, NULL) : h;
    if (!q)
        return NULL;
    if (q->shape[2] != mem->shape[2])
        return dc_err_null(DC_ERR_SHAPE, "luong_attention: dot scores need H = Hm, got %s "
                           "and memory %s", dc_shape_str(h, a, sizeof a),
                           dc_shape_str(mem, b, sizeof b));
    dc_attn_opts o = dc_attn_defaults();
    o.scale = 1.0f;
    o.key_padding_mask = key_padding_mask;
    dc_tensor *c = dc_attention_packed(ctx, q, 0, mem, 0, mem, 0, 1, mem->shape[2], &o);
    dc_tensor *ch[2] = {c, h};
    return c ? dc_tanh(ctx, dc_linear(ctx, dc_concat(ctx, ch, 2, 2), w_out, NULL)) : NULL;
}

typedef struct luong_mod {
    dc_module base;
    int64_t H, Hm, pad;       /* pad: -1, or the id that marks padding keys */
    dc_tensor *w_in, *w_out;  /* [Hm, H] (general) or NULL (dot); [H, Hm + H] */
} luong_mod;

/* forward_n (h, memory[, ids]): int64 ids [N, S] == pad are padding keys. */
static dc_tensor *luong_forward_n(dc_ctx *ctx, dc_module *m, dc_tensor *const *xs, int n)
{
    const luong_mod *l = (const luong_mod *)m;
    dc_tensor *ids = n == 3 ? xs[2] : NULL, *kpm = NULL;
    char b[96];
    if (n < 2 || n > 3 || !xs[0] || !xs[1] || (ids && ids->dtype != DC_I64))
        return dc_err_null(DC_ERR_ARG, "LuongAttention %s: takes `input = h, memory` and "
                           "optional int64 source ids", m->name);
    if (ids) {
        const int64_t N = xs[1]->shape[0], S = xs[1]->ndim == 3 ? xs[1]->shape[1] : -1;
        if (l->pad < 0 || ids->ndim != 2 || ids->shape[0] != N || ids->shape[1] != S)
            return dc_err_null(DC_ERR_SHAPE, "LuongAttention %s: ids must be [%lld, %lld] "
                               "(the memory's N, S) with padding_idx set, got %s", m->name,
                               (long long)N, (long long)S, dc_shape_str(ids, b, sizeof b));
        if (!(kpm = dc_empty(ctx, DC_I64, 2, DC_SHAPE(N, S))))
            return NULL;
        for (int64_t i = 0; i < N * S; i++)
            dc_i64(kpm)[i] = dc_i64(ids)[i] == l->pad;
    }
    return dc_luong_attention(ctx, xs[0], xs[1], kpm, l->w_in, l->w_out);
}

static dc_tensor *luong_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    (void)ctx;
    (void)x;
    return dc_err_null(DC_ERR_ARG, "LuongAttention %s: needs `input = h, memory`", m->name);
}

static dc_tensor *add_weight(dc_model *m, const char *name, const char *what, int64_t out,
                             int64_t in, dc_rng *rng)
{
    char key[200];
    if (!dc_join_name(key, sizeof key, name, what))
        return dc_err_null(DC_ERR_ARG, "LuongAttention %s: name too long", name);
    dc_tensor *w = dc_model_add_param(m, key, DC_F32, 2, DC_SHAPE(out, in), 0);
    if (w && rng) { /* PyTorch Linear: U(±1/√in) */
        const float bound = 1.0f / sqrtf((float)in);
        dc_tensor_uniform(w, rng, -bound, bound);
    }
    return w;
}

dc_module *dc_luong_attention_new(dc_model *m, const char *name, int64_t H, int64_t Hm,
                                  int general, int64_t padding_idx, dc_rng *rng)
{
    if (!m || !name || H < 1 || Hm < 1 || Hm > 256 || (!general && H != Hm))
        return dc_err_null(DC_ERR_ARG, "LuongAttention %s: needs H >= 1, 1 <= Hm <= 256 and, "
                           "for dot scores, H = Hm (H %lld, Hm %lld)", name ? name : "?",
                           (long long)H, (long long)Hm);
    luong_mod *l = dc_module_alloc(sizeof *l, "LuongAttention", name, luong_forward);
    if (!l)
        return NULL;
    *l = (luong_mod){l->base, H, Hm, padding_idx, NULL, NULL};
    l->base.forward_n = luong_forward_n;
    if ((general && !(l->w_in = add_weight(m, name, "linear_in.weight", Hm, H, rng))) ||
        !(l->w_out = add_weight(m, name, "linear_out.weight", H, Hm + H, rng))) {
        free(l);
        return NULL;
    }
    return &l->base;
}

/* ---- descriptors (src/nn/layer_desc.h) ---- */

static dc_module *build_select(dc_layer_args *a)
{
    return dc_select_new(a->m, a->name, a->v[0].i[0], a->v[1].word ? -1 : a->v[1].i[0]);
}

static const dc_layer_key select_keys[] = {
    DC_KEY_I("index", NULL, 0, 0x1p40, "the row k of [N, K, ...] to take"),
    {"trim_padding", DC_KEY_INT, "none", 0, 0x1p40, 1, 1, "none", 0,
     "`none`, or a padding id: int64 columns that hold it in every example are cut off the end"},
};
const dc_layer_desc dc_layer_select = {
    .type = "select", .aliases = "Select", .module = "Select", .torch = "x[:, index]",
    .doc = "one row of a packed input: [N, K, L] -> [N, L] (int64 ids: trailing padding "
           "trimmed; float: dc_select_step)", .min_ndim = 3, .max_ndim = 3,
    .rank_msg = "needs [N, K, L] (batch included)", .keys = select_keys, .n_keys = 2,
    .build = build_select, .params = "", .gradcheck = "select_step",
};

static dc_module *build_luong(dc_layer_args *a)
{
    return dc_luong_attention_new(a->m, a->name, a->v[0].i[0], a->v[1].i[0], a->v[2].word != 2,
                                  a->v[3].word ? -1 : a->v[3].i[0], a->rng);
}

static int64_t luong_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y)
{ /* per query: linear_in H·Hm, scores and sum 2·S·Hm, linear_out (Hm + H)·H */
    const luong_mod *l = (const luong_mod *)m;
    (void)x;
    const int64_t rows = y->numel / l->H;
    return rows * ((l->w_in ? l->H * l->Hm : 0) + (l->Hm + l->H) * l->H);
}

static const dc_layer_key luong_keys[] = {
    DC_KEY_IN_DIM("hidden_size", -1, "the decoder state's size H (input h [N, T, H])"),
    DC_KEY_I("memory_size", NULL, 1, 256, "the encoder outputs' size Hm (memory [N, S, Hm])"),
    {"score", DC_KEY_WORD, "general", 0, 0, 1, 1, "general|dot", 0,
     "`general` (h·W_a·m, linear_in.weight) or `dot` (h·m, H = Hm)"},
    {"padding_idx", DC_KEY_INT, "none", 0, 0x1p40, 1, 1, "none", 0,
     "`none`, or the id of padding in the source ids input (hidden as keys)"},
};
const dc_layer_desc dc_layer_luongattention = {
    .type = "luongattention", .aliases = "LuongAttention luong_attention",
    .module = "LuongAttention", .torch = "OpenNMT GlobalAttention (general / dot)",
    .doc = "a = softmax(h·W_a·memᵀ), c = a·mem, y = tanh(linear_out([c; h])) (`input = h, "
           "memory[, ids]`): [N, T, H] -> [N, T, H]", .min_ndim = 3, .max_ndim = 3,
    .rank_msg = "needs a sequence [N, T, H] (batch included)", .keys = luong_keys,
    .n_keys = 4, .build = build_luong, .params = "linear_in.weight (general) linear_out.weight",
    .macs = luong_macs, .gradcheck = "luong_attention|LuongAttention",
};
