/*
 * transformer_layers.c - TransformerEncoderLayer, TransformerDecoderLayer and the
 * TransformerEncoder / TransformerDecoder stacks (PyTorch 1.13 torch.nn semantics, defaults and
 * state_dict names).
 *
 * Encoder layer, sa(x) = dropout1(self_attn(x, x, x)), ff(x) = dropout2(linear2(dropout(act(
 * linear1(x))))):
 *   norm_first:  x = x + sa(norm1(x));  x = x + ff(norm2(x))
 *   else:        x = norm1(x + sa(x));  x = norm2(x + ff(x))
 * Decoder layer, with ca(x, mem) = dropout2(multihead_attn(x, mem, mem)) and ff's dropout3:
 *   norm_first:  x = x + sa(norm1(x)); x = x + ca(norm2(x), mem); x = x + ff(norm3(x))
 *   else:        x = norm1(x + sa(x)); x = norm2(x + ca(x, mem)); x = norm3(x + ff(x))
 * Stacks: "layers.<i>.…" in order, then the optional final "norm". Every Linear and the
 * attention take PyTorch's inits; the layers of a stack are initialised one after another (PyTorch
 * deep-copies one layer, so its layers start equal; nn.Transformer re-draws them with
 * xavier_uniform). batch_first = 0 inputs [T, N, E] are turned batch-first once per stack.
 */
#include "nn/transformer.h"
#include "kernels/attn_decode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dc_tf_layer_opts dc_tf_layer_defaults(int64_t d_model, int64_t nhead)
{
    return (dc_tf_layer_opts){d_model, nhead, 2048, 0.1f, 0, 1e-5f, 0, 0, 0, -1};
}

typedef struct tf_layer {
    int decoder;
    dc_tf_layer_opts o;
    tf_mha self_attn, cross_attn;
    tf_linear linear1, linear2;
    tf_norm norm1, norm2, norm3;
} tf_layer;

static dc_status layer_init(tf_layer *l, dc_model *m, const char *prefix,
                            const dc_tf_layer_opts *o, int decoder, dc_rng *rng)
{
    char pre[200];
    const int64_t E = o->d_model;
    if (o->dim_feedforward < 1 || !(o->dropout >= 0.0f && o->dropout < 1.0f) ||
        !(o->layer_norm_eps >= 0.0f))
        return dc_err(DC_ERR_ARG, "%s: dim_feedforward must be >= 1, dropout in [0, 1), "
                      "layer_norm_eps >= 0", prefix);
    memset(l, 0, sizeof *l);
    l->decoder = decoder;
    l->o = *o;
    dc_status st = DC_OK;
#define TRY(e) do { if (st == DC_OK) st = (e); } while (0)
    TRY(dc_join_name(pre, sizeof pre, prefix, "self_attn") ? DC_OK : DC_ERR_ARG);
    TRY(tf_mha_init(&l->self_attn, m, pre, E, o->nhead, o->dropout, 1, 1, rng));
    if (decoder) {
        TRY(dc_join_name(pre, sizeof pre, prefix, "multihead_attn") ? DC_OK : DC_ERR_ARG);
        TRY(tf_mha_init(&l->cross_attn, m, pre, E, o->nhead, o->dropout, 1, 1, rng));
    }
    TRY(tf_linear_init(&l->linear1, m, prefix, "linear1", E, o->dim_feedforward, rng));
    TRY(tf_linear_init(&l->linear2, m, prefix, "linear2", o->dim_feedforward, E, rng));
    TRY(tf_norm_init(&l->norm1, m, prefix, "norm1", E, o->layer_norm_eps, 1));
    TRY(tf_norm_init(&l->norm2, m, prefix, "norm2", E, o->layer_norm_eps, 1));
    if (decoder)
        TRY(tf_norm_init(&l->norm3, m, prefix, "norm3", E, o->layer_norm_eps, 1));
#undef TRY
    return st;
}

static dc_tensor *norm(dc_ctx *ctx, const tf_norm *n, dc_tensor *x)
{
    return dc_layer_norm(ctx, x, 1, n->w, n->b, n->eps);
}

/* linear2(dropout(act(linear1(x)))), then dropout (dropout2 / dropout3); with res (when that
 * dropout is the identity), res + that as one tensor. */
static dc_tensor *ff_block(dc_ctx *ctx, const tf_layer *l, dc_tensor *x, dc_tensor *res)
{
    if (res && l->o.gelu && l->linear1.b && l->linear2.b) /* one op, no [R, F] GELU output */
        return dc_ffn_gelu_residual(ctx, x, l->linear1.w, l->linear1.b, l->linear2.w,
                                    l->linear2.b, res);
    dc_tensor *h = dc_linear(ctx, x, l->linear1.w, l->linear1.b);
    h = l->o.gelu ? dc_gelu(ctx, h, 0) : dc_relu(ctx, h);
    h = dc_dropout(ctx, h, l->o.dropout);
    if (res)
        return dc_linear_residual(ctx, h, l->linear2.w, l->linear2.b, res);
    return dc_dropout(ctx, dc_linear(ctx, h, l->linear2.w, l->linear2.b), l->o.dropout);
}

/* ---- the KV cache of incremental decoding ---- */

/* The keys and values of every position a causal self-attention has seen, [N, len, 2E] (k, v
 * side by side as the packed projection makes them), malloc'd. One sequence (N = 1, generation)
 * grows in place with a doubling capacity, so a step copies only its new rows; a batch is
 * re-made each step with the new positions appended after each sequence's (one copy of what
 * the attention reads anyway). */
typedef struct kv_cache {
    float *kv;
    int64_t N, len, cap;
} kv_cache;

/* Make room for T positions of N sequences, keeping the len cached ones in order. */
static bool kv_grow(kv_cache *c, int64_t N, int64_t T, int64_t E2)
{
    if (N == 1 && T <= c->cap)
        return true;
    const int64_t cap = N == 1 ? (T > 2 * c->cap ? T : 2 * c->cap) : T;
    float *kv = malloc((size_t)(N * cap * E2) * sizeof *kv);
    if (!kv)
        return false;
    for (int64_t n = 0; n < N && c->len; n++)
        memcpy(kv + n * cap * E2, c->kv + n * c->cap * E2, (size_t)(c->len * E2) * 4);
    free(c->kv);
    c->kv = kv;
    c->cap = cap;
    return true;
}

/* One new position per sequence, qkv [N, 1, 3E], over the c->len cached ones (itself
 * included): dc_k_attn_decode reads the cache in place. Inference only (no tape). */
static dc_tensor *attn_decode(dc_ctx *ctx, const tf_mha *a, dc_tensor *qkv, const kv_cache *c)
{
    const int64_t E = a->E, H = a->H, D = E / H, N = c->N, T = c->len;
    dc_tensor *o = dc_empty(ctx, DC_F32, 3, DC_SHAPE(N, 1, E));
    float *scratch = dc_ctx_alloc(ctx, (size_t)(N * H * T) * sizeof(float));
    if (!o || !scratch)
        return NULL;
    const int64_t k_sn = c->cap * 2 * E;
    const dc_k_attn k = {.N = N, .H = H, .Tq = 1, .Tk = T, .D = D, .Dv = D,
                         .q = dc_f32(qkv), .k = c->kv, .v = c->kv + E,
                         .q_sn = 3 * E, .q_sh = D, .q_st = 3 * E,
                         .k_sn = k_sn, .k_sh = D, .k_st = 2 * E,
                         .v_sn = k_sn, .v_sh = D, .v_st = 2 * E,
                         .o = dc_f32(o), .o_sn = E, .o_sh = D, .o_st = E,
                         .scale = 1.0f / sqrtf((float)D)};
    dc_k_attn_decode(&k, scratch);
    return o;
}

/* Self-attention of the new positions h [N, Tn, E] over the cached ones and themselves:
 * query i of h sits at position len + i (q_offset) and sees positions <= its own. */
static dc_tensor *self_attn_cached(dc_ctx *ctx, const tf_mha *a, dc_tensor *h, kv_cache *c)
{
    const int64_t E = a->E, E2 = 2 * E;
    dc_tensor *qkv = h ? dc_linear(ctx, h, a->in_w, a->in_b) : NULL;
    if (!qkv)
        return NULL;
    const int64_t N = h->shape[0], Tn = h->shape[1];
    if (c->kv && c->N != N) { /* another batch: start again */
        free(c->kv);
        *c = (kv_cache){NULL, 0, 0, 0};
    }
    const int64_t T = c->len + Tn;
    if (!kv_grow(c, N, T, E2))
        return dc_err_null(DC_ERR_NOMEM, "KV cache: out of memory (%lld positions)",
                           (long long)T);
    for (int64_t n = 0; n < N; n++)
        for (int64_t t = 0; t < Tn; t++)
            memcpy(c->kv + (n * c->cap + c->len + t) * E2,
                   dc_f32(qkv) + (n * Tn + t) * 3 * E + E, (size_t)E2 * 4);
    c->N = N;
    c->len = T;
    if (Tn == 1 && !dc_needs_grad(ctx, 1, &qkv)) /* one new token: the decode kernel */
        return dc_linear(ctx, attn_decode(ctx, a, qkv, c), a->out_w, a->out_b);
    /* [N, T, 2E] in place: exact for one sequence, and a batch's cap is T */
    dc_tensor *kvt = dc_wrap(ctx, DC_F32, 3, DC_SHAPE(N, T, E2), c->kv);
    dc_attn_opts o = dc_attn_defaults();
    o.causal = 1;
    o.q_offset = T - Tn;
    dc_tensor *att = dc_attention_packed(ctx, qkv, 0, kvt, 0, kvt, E, a->H, E / a->H, &o);
    return dc_linear(ctx, att, a->out_w, a->out_b);
}

/* One layer on batch-first x [N, T, E] (memory [N, S, E] for a decoder); with a cache, the
 * self-attention runs incrementally (self masks other than causal do not apply). */
static dc_tensor *layer_run(dc_ctx *ctx, const tf_layer *l, dc_tensor *x, dc_tensor *mem,
                            const dc_attn_masks *self_mk, const dc_attn_masks *mem_mk,
                            kv_cache *cache)
{
    const float p = l->o.dropout;
    const int pre = l->o.norm_first;
    /* pre-LN with identity dropouts: each residual add fused into the linear before it */
    const int fuse = pre && (p == 0.0f || !dc_ctx_training(ctx));
    const tf_norm *n_ff = l->decoder ? &l->norm3 : &l->norm2;
    /* and, in such a block, each norm fused into the linear after it (not kept for backward) */
    const int ln_sa = fuse && !cache && l->norm1.w && l->norm1.b && l->self_attn.in_b;
    const int ln_ff = fuse && n_ff->w && n_ff->b && l->o.gelu && l->linear1.b && l->linear2.b;
    dc_tensor *h = pre && !ln_sa ? norm(ctx, &l->norm1, x) : x;
    if (ln_sa) {
        x = tf_mha_run(ctx, &l->self_attn, x, x, x, self_mk, NULL, 1, x, &l->norm1);
    } else if (fuse && !cache) {
        x = tf_mha_run(ctx, &l->self_attn, h, h, h, self_mk, NULL, 1, x, NULL);
    } else {
        h = cache ? self_attn_cached(ctx, &l->self_attn, h, cache)
                  : tf_mha_run(ctx, &l->self_attn, h, h, h, self_mk, NULL, 1, NULL, NULL);
        h = dc_dropout(ctx, h, p);
        x = pre ? dc_add(ctx, x, h) : norm(ctx, &l->norm1, dc_add(ctx, x, h));
    }
    if (l->decoder) {
        h = pre ? norm(ctx, &l->norm2, x) : x;
        if (fuse) {
            x = tf_mha_run(ctx, &l->cross_attn, h, mem, mem, mem_mk, NULL, 1, x, NULL);
        } else {
            h = tf_mha_run(ctx, &l->cross_attn, h, mem, mem, mem_mk, NULL, 1, NULL, NULL);
            h = dc_dropout(ctx, h, p);
            x = pre ? dc_add(ctx, x, h) : norm(ctx, &l->norm2, dc_add(ctx, x, h));
        }
    }
    if (ln_ff)
        return dc_ln_ffn_gelu_residual(ctx, x, n_ff->w, n_ff->b, n_ff->eps, l->linear1.w,
                                       l->linear1.b, l->linear2.w, l->linear2.b);
    if (fuse)
        return ff_block(ctx, l, norm(ctx, n_ff, x), x);
    h = ff_block(ctx, l, pre ? norm(ctx, n_ff, x) : x, NULL);
    return pre ? dc_add(ctx, x, h) : norm(ctx, n_ff, dc_add(ctx, x, h));
}

/* ---- modules: one layer, or a stack of layers with an optional final norm ---- */

typedef struct tf_mod {
    dc_module base;
    int decoder, n_layers, batch_first, causal;
    int64_t pad_id;   /* forward_n: int64 ids give the key padding mask ids == pad_id */
    tf_layer *layers; /* [n_layers], owned */
    tf_norm final;    /* final.w NULL: no final norm */
    int carry;        /* incremental decoding: the self-attentions use and grow cache[] */
    kv_cache *cache;  /* [n_layers], owned */
} tf_mod;

static void tf_forget(tf_mod *t)
{
    for (int i = 0; t->cache && i < t->n_layers; i++) {
        free(t->cache[i].kv);
        t->cache[i] = (kv_cache){NULL, 0, 0, 0};
    }
}

static void tf_destroy(dc_module *m)
{
    tf_mod *t = (tf_mod *)m;
    tf_forget(t);
    free(t->cache);
    free(t->layers);
}

/* DC_CARRY_* (dc_model_set_carry, dc_model_reset_state): forget the cached positions. The
 * cache itself is switched by dc_model_set_kv_cache only: the language-model trainer's carry
 * (truncated BPTT for RNNs) leaves a Transformer's chunks independent, as W7 trains them. */
static void tf_carry(dc_module *m, int mode)
{
    (void)mode;
    tf_forget((tf_mod *)m);
}

bool tf_kv_switch(dc_module *m, int on)
{
    if (m->carry != tf_carry)
        return false;
    tf_forget((tf_mod *)m);
    ((tf_mod *)m)->carry = on;
    return true;
}

static bool check_in(const tf_mod *t, const char *what, const dc_tensor *x)
{
    char s[96];
    const int64_t E = t->layers[0].o.d_model;
    if (x->ndim == 3 && x->shape[2] == E)
        return true;
    dc_err(DC_ERR_SHAPE, "%s %s: %s must be [%s, %lld], got %s", t->base.type, t->base.name,
           what, t->batch_first ? "N, T" : "T, N", (long long)E, dc_shape_str(x, s, sizeof s));
    return false;
}

static dc_tensor *tf_run(dc_ctx *ctx, dc_module *m, dc_tensor *x, dc_tensor *mem,
                         const dc_attn_masks *self_mk, const dc_attn_masks *mem_mk)
{
    tf_mod *t = (tf_mod *)m;
    if (!x || (t->decoder && !mem))
        return t->decoder && x && !mem ? dc_err_null(DC_ERR_ARG, "%s %s: needs a memory",
                                                     m->type, m->name) : NULL;
    if (!check_in(t, "input", x) || (mem && !check_in(t, "memory", mem)))
        return NULL;
    if (!t->batch_first) {
        x = tf_swap01(ctx, x);
        mem = mem ? tf_swap01(ctx, mem) : NULL;
    }
    for (int i = 0; i < t->n_layers && x; i++)
        x = layer_run(ctx, &t->layers[i], x, mem, self_mk, mem_mk,
                      t->carry ? &t->cache[i] : NULL);
    if (t->final.w)
        x = norm(ctx, &t->final, x);
    return t->batch_first ? x : tf_swap01(ctx, x);
}

dc_tensor *dc_transformer_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x, dc_tensor *memory,
                                  const dc_attn_masks *self_masks,
                                  const dc_attn_masks *memory_masks)
{
    return tf_run(ctx, m, x, memory, self_masks, memory_masks);
}

static dc_tensor *tf_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    dc_attn_masks mk = {NULL, NULL, ((tf_mod *)m)->causal};
    return tf_run(ctx, m, x, NULL, &mk, NULL);
}

/* ids == pad_id as an int64 key padding mask [N, T] (batch-first ids [N, T]; else [T, N]). */
static dc_tensor *pad_mask(dc_ctx *ctx, const tf_mod *t, dc_tensor *ids)
{
    char s[96];
    if (ids->ndim != 2 || t->pad_id < 0)
        return dc_err_null(DC_ERR_ARG, "%s %s: int64 ids [N, T] give the key padding mask "
                           "when padding_idx is set; got %s%s", t->base.type, t->base.name,
                           dc_shape_str(ids, s, sizeof s), t->pad_id < 0 ? " without one" : "");
    const int64_t A = ids->shape[0], B = ids->shape[1];
    const int64_t N = t->batch_first ? A : B, T = t->batch_first ? B : A;
    dc_tensor *m = dc_empty(ctx, DC_I64, 2, DC_SHAPE(N, T));
    if (m)
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < T; i++)
                dc_i64(m)[n * T + i] =
                    dc_i64(ids)[t->batch_first ? n * T + i : i * N + n] == t->pad_id;
    return m;
}

/* forward_n, the float inputs in order - x, then a decoder's memory - and at most one int64
 * ids tensor, whose padding positions (padding_idx) are hidden as keys: the encoder's own
 * (self-attention) or, for a decoder, the memory's (the source ids). */
static dc_tensor *tf_forward_n(dc_ctx *ctx, dc_module *m, dc_tensor *const *xs, int n)
{
    tf_mod *t = (tf_mod *)m;
    dc_tensor *f[2] = {NULL, NULL}, *ids = NULL;
    int nf = 0;
    for (int i = 0; i < n; i++) {
        if (xs[i] && xs[i]->dtype == DC_I64 && !ids)
            ids = xs[i];
        else if (nf < 2)
            f[nf++] = xs[i];
        else
            return dc_err_null(DC_ERR_ARG, "%s %s: takes x%s and optional ids, got %d inputs",
                               m->type, m->name, t->decoder ? ", memory" : "", n);
    }
    if (nf != 1 + t->decoder)
        return dc_err_null(DC_ERR_ARG, "%s %s: needs %s (and optional int64 ids)", m->type,
                           m->name, t->decoder ? "x and memory" : "one float input x");
    dc_attn_masks self = {NULL, NULL, t->causal}, mem = {NULL, NULL, 0};
    dc_tensor *kpm = ids ? pad_mask(ctx, t, ids) : NULL;
    if (ids && !kpm)
        return NULL;
    if (t->decoder)
        mem.key_padding_mask = kpm;
    else
        self.key_padding_mask = kpm;
    return tf_run(ctx, m, f[0], f[1], &self, &mem);
}

static int64_t tf_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y)
{ /* per layer: attention projections 4·E², feed-forward 2·E·F per position; scores 2·T·E */
    const tf_mod *t = (const tf_mod *)m;
    const dc_tf_layer_opts *o = &t->layers[0].o;
    const int64_t E = o->d_model, rows = y->numel / E, T = y->shape[t->batch_first ? 1 : 0];
    const int64_t per = 4 * E * E * (t->decoder ? 2 : 1) + 2 * E * o->dim_feedforward +
                        2 * T * E * (t->decoder ? 2 : 1);
    return rows * per * t->n_layers;
}

static dc_module *tf_new(dc_model *m, const char *name, const char *type,
                         const dc_tf_layer_opts *o, int decoder, int n_layers, int stack,
                         int final_norm, dc_rng *rng)
{
    char pre[200];
    if (!m || !name || !o || n_layers < 1)
        return dc_err_null(DC_ERR_ARG, "%s %s: needs a model, options and >= 1 layer", type,
                           name ? name : "?");
    tf_mod *t = dc_module_alloc(sizeof *t, type, name, tf_forward);
    tf_layer *ls = t ? calloc((size_t)n_layers, sizeof *ls) : NULL;
    if (!ls) {
        free(t);
        return dc_err_null(DC_ERR_NOMEM, "%s %s: out of memory", type, name);
    }
    *t = (tf_mod){t->base, decoder, n_layers, o->batch_first, o->causal, o->padding_idx, ls,
                  {NULL, NULL, 0}, 0, NULL};
    if (o->causal && o->batch_first) { /* incremental decoding with carry on (KV cache) */
        if (!(t->cache = calloc((size_t)n_layers, sizeof *t->cache))) {
            free(ls);
            free(t);
            return dc_err_null(DC_ERR_NOMEM, "%s %s: out of memory", type, name);
        }
        t->base.carry = tf_carry;
    }
    t->base.forward_n = tf_forward_n;
    t->base.destroy = tf_destroy;
    t->base.macs = tf_macs;
    dc_status st = DC_OK;
    for (int i = 0; i < n_layers && st == DC_OK; i++) {
        if (stack)
            snprintf(pre, sizeof pre, "%s.layers.%d", name, i);
        else
            snprintf(pre, sizeof pre, "%s", name);
        st = layer_init(&ls[i], m, pre, o, decoder, rng);
    }
    if (st == DC_OK && final_norm)
        st = tf_norm_init(&t->final, m, name, "norm", o->d_model, o->layer_norm_eps, 1);
    if (st != DC_OK) {
        tf_destroy(&t->base);
        free(t);
        return NULL;
    }
    return &t->base;
}

dc_module *dc_encoder_layer_new(dc_model *m, const char *name, const dc_tf_layer_opts *o,
                                dc_rng *rng)
{
    return tf_new(m, name, "TransformerEncoderLayer", o, 0, 1, 0, 0, rng);
}

dc_module *dc_decoder_layer_new(dc_model *m, const char *name, const dc_tf_layer_opts *o,
                                dc_rng *rng)
{
    return tf_new(m, name, "TransformerDecoderLayer", o, 1, 1, 0, 0, rng);
}

dc_module *dc_encoder_new(dc_model *m, const char *name, const dc_tf_layer_opts *o,
                          int num_layers, int final_norm, dc_rng *rng)
{
    return tf_new(m, name, "TransformerEncoder", o, 0, num_layers, 1, final_norm, rng);
}

dc_module *dc_decoder_new(dc_model *m, const char *name, const dc_tf_layer_opts *o,
                          int num_layers, int final_norm, dc_rng *rng)
{
    return tf_new(m, name, "TransformerDecoder", o, 1, num_layers, 1, final_norm, rng);
}

/* ---- attention capture ---- */

tf_mha *tf_find_attention(dc_module *m, const char *rest, char *names, size_t size, int *count)
{
    if (m->destroy != tf_destroy)
        return NULL;
    tf_mod *t = (tf_mod *)m;
    const int stack = !strcmp(m->type, "TransformerEncoder") ||
                      !strcmp(m->type, "TransformerDecoder");
    tf_mha *found = NULL;
    for (int i = 0; i < t->n_layers; i++)
        for (int c = 0; c < 1 + t->decoder; c++) {
            char nm[96], full[300];
            const char *which = c ? "multihead_attn" : "self_attn";
            if (stack)
                snprintf(nm, sizeof nm, "layers.%d.%s", i, which);
            else
                snprintf(nm, sizeof nm, "%s", which);
            snprintf(full, sizeof full, "%s.%s", m->name, nm);
            ++*count;
            if (strlen(names) + strlen(full) + 3 < size)
                snprintf(names + strlen(names), size - strlen(names), "%s%s",
                         names[0] ? ", " : "", full);
            if (!found && !strcmp(rest, nm))
                found = c ? &t->layers[i].cross_attn : &t->layers[i].self_attn;
        }
    return found;
}

/* ---- summary figures ---- */

int dc_attention_stats(const dc_module *m, const dc_tensor *y, int64_t *score_macs,
                       int64_t *kv_floats)
{
    int64_t E, T, rows, n_attn, n_layers = 1;
    int bf;
    *score_macs = *kv_floats = 0;
    if (!m || !y || y->ndim != 3)
        return 0;
    if (m->forward == tf_forward) {
        const tf_mod *t = (const tf_mod *)m;
        E = t->layers[0].o.d_model;
        bf = t->batch_first;
        n_layers = t->n_layers;
        n_attn = t->decoder ? 2 : 1;
    } else if (!tf_mha_dims(m, &E, &bf)) {
        return 0;
    } else {
        n_attn = 1;
    }
    T = y->shape[bf ? 1 : 0];
    rows = y->numel / E;
    /* q·kᵀ and p·v: 2·T·E per query row and attention; K and V: 2·T·E per attention */
    *score_macs = 2 * rows * T * E * n_attn * n_layers;
    *kv_floats = 2 * rows * E * n_attn * n_layers;
    return 1;
}

bool tf_layer_parts(const dc_module *m, int i, tf_layer_view *v)
{
    if (!m || m->forward != tf_forward || i < 0 || i >= ((const tf_mod *)m)->n_layers)
        return false;
    const tf_mod *t = (const tf_mod *)m;
    const tf_layer *l = &t->layers[i];
    *v = (tf_layer_view){&l->o, &l->self_attn, t->decoder ? &l->cross_attn : NULL, &l->linear1,
                         &l->linear2, &l->norm1, &l->norm2, t->decoder ? &l->norm3 : NULL,
                         t->n_layers, t->decoder, t->batch_first,
                         t->final.w ? &t->final : NULL};
    return true;
}
