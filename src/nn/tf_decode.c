/*
 * tf_decode.c - incremental decoding of a Transformer encoder-decoder spec model with a KV cache
 * (docs/g2p.md): the source is encoded once, each decoder layer's cross-attention keys and
 * values of that memory are projected once, and every step feeds only the newest token of each
 * hypothesis through the decoder, its self-attention reading the keys and values of the earlier
 * positions from the cache. Beam search reorders hypotheses between steps: the cache rows follow
 * each hypothesis' parent.
 *
 * The model is found by its layer names (models/g2p_transformer): src_embed (Embedding), src_pos
 * (PositionalEncoding), encoder (TransformerEncoder), tgt_embed, tgt_pos, decoder
 * (TransformerDecoder, batch-first) and head (Linear), the encoder taking the source ids for its
 * padding. Eval mode: no dropout. Memory: per layer, the memory's K/V [S, 2E] and the cache
 * [n, t, 2E] (malloc'd); the step's temporaries live in the decoder's own ctx.
 */
#include "nn/transformer.h"

#include <stdlib.h>
#include <string.h>

struct dc_tf_decoder {
    dc_model *m;
    dc_module *src_embed, *src_pos, *encoder, *tgt_embed, *tgt_pos, *decoder, *head;
    int n_layers;
    int64_t E, V, S;
    dc_ctx *ctx;
    float **mem_kv;  /* [n_layers] of [S, 2E]: the memory's cross-attention keys and values */
    float **self_kv; /* [n_layers] of [n, t, 2E]: the cached self-attention keys and values */
    int64_t n, t;    /* hypotheses and positions in the cache */
};

static dc_module *find(dc_model *m, const char *name, const char *type)
{
    const int i = dc_model_find_module(m, name);
    dc_module *mod = i >= 0 ? dc_model_module(m, i) : NULL;
    if (!mod || strcmp(mod->type, type))
        return dc_err_null(DC_ERR_ARG, "KV-cache decoding: the model needs a %s layer called "
                           "'%s' (models/g2p_transformer)", type, name);
    return mod;
}

void dc_tf_decoder_free(dc_tf_decoder *d)
{
    if (!d)
        return;
    for (int l = 0; l < d->n_layers; l++) {
        free(d->mem_kv ? d->mem_kv[l] : NULL);
        free(d->self_kv ? d->self_kv[l] : NULL);
    }
    free(d->mem_kv);
    free(d->self_kv);
    dc_ctx_free(d->ctx);
    free(d);
}

dc_tf_decoder *dc_tf_decoder_new(dc_model *m)
{
    dc_tf_decoder *d = m ? calloc(1, sizeof *d) : NULL;
    if (!d)
        return m ? dc_err_null(DC_ERR_NOMEM, "KV-cache decoding: out of memory") : NULL;
    tf_layer_view v;
    d->m = m;
    if (!(d->src_embed = find(m, "src_embed", "Embedding")) ||
        !(d->src_pos = find(m, "src_pos", "PositionalEncoding")) ||
        !(d->encoder = find(m, "encoder", "TransformerEncoder")) ||
        !(d->tgt_embed = find(m, "tgt_embed", "Embedding")) ||
        !(d->tgt_pos = find(m, "tgt_pos", "PositionalEncoding")) ||
        !(d->decoder = find(m, "decoder", "TransformerDecoder")) ||
        !(d->head = find(m, "head", "Linear")) || !tf_layer_parts(d->decoder, 0, &v) ||
        !v.batch_first) {
        dc_tf_decoder_free(d);
        return dc_err_null(DC_ERR_ARG, "KV-cache decoding: %s", dc_last_error());
    }
    const dc_tensor *hw = dc_model_find(m, "head.weight");
    d->n_layers = v.n_layers;
    d->E = v.o->d_model;
    d->V = hw && hw->ndim == 2 ? hw->shape[0] : 0;
    d->ctx = dc_ctx_new(0);
    d->mem_kv = calloc((size_t)d->n_layers, sizeof *d->mem_kv);
    d->self_kv = calloc((size_t)d->n_layers, sizeof *d->self_kv);
    if (!d->ctx || !d->mem_kv || !d->self_kv) {
        dc_tf_decoder_free(d);
        return dc_err_null(DC_ERR_NOMEM, "KV-cache decoding: out of memory");
    }
    dc_ctx_set_grad(d->ctx, 0);
    dc_ctx_set_training(d->ctx, 0);
    return d;
}

int64_t dc_tf_decoder_vocab(const dc_tf_decoder *d) { return d ? d->V : 0; }

/* Rows [E, 3E) of a packed in_proj (weight [3E, E], bias [3E]): the key and value projections. */
static dc_tensor *kv_rows(dc_ctx *ctx, const dc_tensor *t, int64_t E)
{
    return t->ndim == 2 ? dc_wrap(ctx, DC_F32, 2, DC_SHAPE(2 * E, E), dc_f32(t) + E * E)
                        : dc_wrap(ctx, DC_F32, 1, DC_SHAPE(2 * E), dc_f32(t) + E);
}

/* Rows [0, E): the query projection. */
static dc_tensor *q_rows(dc_ctx *ctx, const dc_tensor *t, int64_t E)
{
    return t->ndim == 2 ? dc_wrap(ctx, DC_F32, 2, DC_SHAPE(E, E), dc_f32(t))
                        : dc_wrap(ctx, DC_F32, 1, DC_SHAPE(E), dc_f32(t));
}

static dc_status decoder_start(dc_tf_decoder *d, const int64_t *src, int64_t S);
static dc_status decoder_step(dc_tf_decoder *d, int64_t n, const int64_t *parent,
                              const int64_t *tokens, float *logits);

/* The two entry points run the modules themselves, not through dc_model_forward: they put a
 * frozen model's packs on the ctx as it would (dc_model_freeze: the same bits;
 * dc_model_freeze_bf16: bfloat16 products here too). */
dc_status dc_tf_decoder_start(dc_tf_decoder *d, const int64_t *src, int64_t S)
{
    if (!d)
        return dc_err(DC_ERR_ARG, "KV-cache decoding: NULL decoder");
    dc_packs *outer = dc_ctx_set_packs(d->ctx, dc_model_packs(d->m));
    const dc_status st = decoder_start(d, src, S);
    dc_ctx_set_packs(d->ctx, outer);
    return st;
}

dc_status dc_tf_decoder_step(dc_tf_decoder *d, int64_t n, const int64_t *parent,
                             const int64_t *tokens, float *logits)
{
    if (!d)
        return dc_err(DC_ERR_ARG, "KV-cache decoding: NULL decoder");
    dc_packs *outer = dc_ctx_set_packs(d->ctx, dc_model_packs(d->m));
    const dc_status st = decoder_step(d, n, parent, tokens, logits);
    dc_ctx_set_packs(d->ctx, outer);
    return st;
}

static dc_status decoder_start(dc_tf_decoder *d, const int64_t *src, int64_t S)
{
    dc_ctx *ctx = d->ctx;
    const int64_t E = d->E;
    if (!src || S < 1)
        return dc_err(DC_ERR_ARG, "KV-cache decoding: a source of >= 1 ids is needed");
    d->S = 0; /* until this source's memory is complete: _step refuses */
    dc_tensor *ids = dc_empty(ctx, DC_I64, 2, DC_SHAPE(1, S));
    if (!ids)
        return dc_last_status();
    memcpy(ids->data, src, (size_t)S * sizeof *src);
    dc_tensor *x = d->src_embed->forward(ctx, d->src_embed, ids);
    x = x ? dc_positional_forward(ctx, d->src_pos, x, 0) : NULL;
    dc_tensor *in[2] = {x, ids};
    dc_tensor *mem = x ? d->encoder->forward_n(ctx, d->encoder, in, 2) : NULL;
    for (int l = 0; l < d->n_layers && mem; l++) {
        tf_layer_view v;
        tf_layer_parts(d->decoder, l, &v);
        const tf_mha *a = v.cross_attn;
        dc_tensor *kv = dc_linear(ctx, mem, kv_rows(ctx, a->in_w, E),
                                  a->in_b ? kv_rows(ctx, a->in_b, E) : NULL);
        free(d->mem_kv[l]);
        d->mem_kv[l] = NULL;
        if (!kv || !(d->mem_kv[l] = malloc((size_t)(S * 2 * E) * sizeof(float)))) {
            dc_status st = kv ? dc_err(DC_ERR_NOMEM, "KV-cache decoding: out of memory")
                              : dc_last_status();
            dc_ctx_reset(ctx);
            return st;
        }
        memcpy(d->mem_kv[l], dc_f32(kv), (size_t)(S * 2 * E) * sizeof(float));
    }
    for (int l = 0; l < d->n_layers; l++) {
        free(d->self_kv[l]);
        d->self_kv[l] = NULL;
    }
    d->S = mem ? S : 0;
    d->n = d->t = 0;
    dc_status st = mem ? DC_OK : dc_last_status() ? dc_last_status() : DC_ERR_ARG;
    dc_ctx_reset(ctx);
    return st;
}

/* Self-attention of the newest position h [n, 1, E] over the cache, which it extends: the new
 * cache holds, for hypothesis i, the rows of hypothesis parent[i] and then its own k, v. */
static dc_tensor *self_step(dc_tf_decoder *d, int l, const tf_mha *a, dc_tensor *h,
                            const int64_t *parent)
{
    dc_ctx *ctx = d->ctx;
    const int64_t E = d->E, n = h->shape[0], t = d->t, E2 = 2 * E;
    dc_tensor *qkv = dc_linear(ctx, h, a->in_w, a->in_b);
    float *kv = qkv ? malloc((size_t)(n * (t + 1) * E2) * sizeof *kv) : NULL;
    if (!kv)
        return qkv ? dc_err_null(DC_ERR_NOMEM, "KV-cache decoding: out of memory") : NULL;
    for (int64_t i = 0; i < n; i++) {
        if (t > 0)
            memcpy(kv + i * (t + 1) * E2, d->self_kv[l] + (parent ? parent[i] : i) * t * E2,
                   (size_t)(t * E2) * sizeof *kv);
        memcpy(kv + (i * (t + 1) + t) * E2, dc_f32(qkv) + i * 3 * E + E,
               (size_t)E2 * sizeof *kv);
    }
    free(d->self_kv[l]);
    d->self_kv[l] = kv;
    dc_tensor *kvt = dc_wrap(ctx, DC_F32, 3, DC_SHAPE(n, t + 1, E2), kv);
    dc_attn_opts o = dc_attn_defaults();
    dc_tensor *att = dc_attention_packed(ctx, qkv, 0, kvt, 0, kvt, E, a->H, E / a->H, &o);
    return dc_linear(ctx, att, a->out_w, a->out_b);
}

/* Cross-attention of h [n, 1, E] over the memory's projected keys and values. */
static dc_tensor *cross_step(dc_tf_decoder *d, int l, const tf_mha *a, dc_tensor *h)
{
    dc_ctx *ctx = d->ctx;
    const int64_t E = d->E, n = h->shape[0], S = d->S;
    dc_tensor *q = dc_linear(ctx, h, q_rows(ctx, a->in_w, E), a->in_b ? q_rows(ctx, a->in_b, E)
                                                                       : NULL);
    dc_tensor *kv = q ? dc_empty(ctx, DC_F32, 3, DC_SHAPE(n, S, 2 * E)) : NULL;
    if (!kv)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        memcpy(dc_f32(kv) + i * S * 2 * E, d->mem_kv[l], (size_t)(S * 2 * E) * sizeof(float));
    dc_attn_opts o = dc_attn_defaults();
    dc_tensor *att = dc_attention_packed(ctx, q, 0, kv, 0, kv, E, a->H, E / a->H, &o);
    return dc_linear(ctx, att, a->out_w, a->out_b);
}

static dc_tensor *ln(dc_ctx *ctx, const tf_norm *n, dc_tensor *x)
{
    return dc_layer_norm(ctx, x, 1, n->w, n->b, n->eps);
}

/* One decoder layer on the newest position x [n, 1, E] (as transformer_layers.c's layer_run). */
static dc_tensor *layer_step(dc_tf_decoder *d, int l, dc_tensor *x, const int64_t *parent)
{
    dc_ctx *ctx = d->ctx;
    tf_layer_view v;
    tf_layer_parts(d->decoder, l, &v);
    const int pre = v.o->norm_first;
    dc_tensor *h = self_step(d, l, v.self_attn, pre ? ln(ctx, v.norm1, x) : x, parent);
    x = pre ? dc_add(ctx, x, h) : ln(ctx, v.norm1, dc_add(ctx, x, h));
    h = cross_step(d, l, v.cross_attn, pre ? ln(ctx, v.norm2, x) : x);
    x = pre ? dc_add(ctx, x, h) : ln(ctx, v.norm2, dc_add(ctx, x, h));
    h = dc_linear(ctx, pre ? ln(ctx, v.norm3, x) : x, v.linear1->w, v.linear1->b);
    h = v.o->gelu ? dc_gelu(ctx, h, 0) : dc_relu(ctx, h);
    h = dc_linear(ctx, h, v.linear2->w, v.linear2->b);
    return pre ? dc_add(ctx, x, h) : ln(ctx, v.norm3, dc_add(ctx, x, h));
}

static dc_status decoder_step(dc_tf_decoder *d, int64_t n, const int64_t *parent,
                              const int64_t *tokens, float *logits)
{
    dc_ctx *ctx = d->ctx;
    if (n < 1 || d->S < 1 || (d->t > 0 && !parent && n != d->n))
        return dc_err(DC_ERR_ARG, "KV-cache decoding: start with a source, then step with "
                      "n >= 1 hypotheses (a new n needs parents)");
    for (int64_t i = 0; parent && d->t > 0 && i < n; i++)
        if (parent[i] < 0 || parent[i] >= d->n)
            return dc_err(DC_ERR_ARG, "KV-cache decoding: parent %lld of %lld hypotheses",
                          (long long)parent[i], (long long)d->n);
    dc_tensor *ids = dc_empty(ctx, DC_I64, 2, DC_SHAPE(n, 1));
    if (!ids)
        return dc_last_status();
    memcpy(ids->data, tokens, (size_t)n * sizeof *tokens);
    dc_tensor *x = d->tgt_embed->forward(ctx, d->tgt_embed, ids);
    x = x ? dc_positional_forward(ctx, d->tgt_pos, x, d->t) : NULL;
    for (int l = 0; l < d->n_layers && x; l++)
        x = layer_step(d, l, x, d->t > 0 ? parent : NULL);
    tf_layer_view v;
    tf_layer_parts(d->decoder, 0, &v);
    if (x && v.final)
        x = ln(ctx, v.final, x);
    dc_tensor *y = x ? d->head->forward(ctx, d->head, x) : NULL;
    dc_status st = y ? DC_OK : dc_last_status() ? dc_last_status() : DC_ERR_ARG;
    if (y && y->shape[2] != d->V)
        st = dc_err(DC_ERR_SHAPE, "KV-cache decoding: head gives %lld logits, its weight %lld",
                    (long long)y->shape[2], (long long)d->V);
    else if (y) {
        if (logits)
            memcpy(logits, dc_f32(y), (size_t)(n * d->V) * sizeof *logits);
        d->n = n;
        d->t++;
    }
    if (st != DC_OK) /* some layers' caches may have grown: only a new start is safe */
        d->S = 0;
    dc_ctx_reset(ctx);
    return st;
}
