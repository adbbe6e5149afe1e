/*
 * bert.c - the modules of BERT (Devlin et al. 2018; notes 004, §13) with Hugging Face's
 * state_dict names, so a released checkpoint loads into them unchanged:
 *
 *   BertEmbeddings  e = LayerNorm(word[ids] + token_type[segments] + position[t]) → dropout
 *                   bert.embeddings.{word,position,token_type}_embeddings.weight, .LayerNorm.*
 *   BertLayer       post-LN encoder layer with separate query/key/value projections:
 *                   a = LayerNorm(h + dropout(dense(attention(q(h), k(h), v(h), padding))))
 *                   y = LayerNorm(a + dropout(out(gelu(intermediate(a)))))
 *                   bert.encoder.layer.N.attention.self.{query,key,value}.*,
 *                   .attention.output.dense.*, .attention.output.LayerNorm.*,
 *                   .intermediate.dense.*, .output.dense.*, .output.LayerNorm.*
 *   BertPooler      p = tanh(dense(h[:, 0]))                        bert.pooler.dense.*
 *   BertLMHead      logits = LayerNorm(gelu(dense(h))) · word_embeddingsᵀ + bias
 *                   cls.predictions.transform.dense.*, .transform.LayerNorm.*, .bias; the
 *                   decoder's weight is the word embedding table (tied, stored once)
 *
 * The model input is int64 [N, T] token ids, or [N, 2, T]: ids and segment (token type) ids.
 * The padding mask is where ids equal the pad id ([PAD] = 0 in BERT's vocabularies): padded keys
 * get no attention (Hugging Face adds a large negative number to their scores; the two agree
 * wherever a query sees one real key, which [CLS] guarantees). Encoder layers take the model
 * input as their second input (`input = previous, input` in a spec) to find the padding.
 *
 * Initialisation as Hugging Face's BertPreTrainedModel._init_weights: N(0, 0.02) for dense and
 * embedding weights (the padding row zero), zero biases, LayerNorm weight 1 and bias 0.
 */
#include "nn/layer_desc.h"
#include "kernels/attn_k.h"
#include "kernels/eltwise_k.h"
#include "kernels/kernels.h"

#include <stdlib.h>
#include <string.h>

#define BERT_INIT_STD 0.02f

/* A parameter "<prefix>.<suffix>" of the given shape, N(0, 0.02) / zeros / ones as init says. */
enum { INIT_NORMAL, INIT_ZERO, INIT_ONE };

static dc_tensor *param(dc_model *m, const char *prefix, const char *suffix, int ndim,
                        const int64_t *shape, int init, dc_rng *rng)
{
    char key[192];
    if (!dc_join_name(key, sizeof key, prefix, suffix))
        return dc_err_null(DC_ERR_ARG, "%s.%s: name too long", prefix, suffix);
    dc_tensor *t = dc_model_add_param(m, key, DC_F32, ndim, shape, 0);
    if (t && init == INIT_ONE)
        dc_tensor_fill(t, 1.0f);
    else if (t && init == INIT_NORMAL && rng)
        dc_tensor_normal(t, rng, 0.0f, BERT_INIT_STD);
    return t;
}

/* A dense layer's weight [out, in] and bias [out] under "<prefix>.<what>". */
typedef struct dense {
    dc_tensor *w, *b;
} dense;

static bool dense_add(dc_model *m, const char *prefix, const char *what, int64_t in, int64_t out,
                      dc_rng *rng, dense *d)
{
    char p[192];
    if (!dc_join_name(p, sizeof p, prefix, what))
        return dc_err(DC_ERR_ARG, "%s.%s: name too long", prefix, what), false;
    d->w = param(m, p, "weight", 2, DC_SHAPE(out, in), INIT_NORMAL, rng);
    d->b = d->w ? param(m, p, "bias", 1, DC_SHAPE(out), INIT_ZERO, rng) : NULL;
    return d->b != NULL;
}

/* LayerNorm weight (ones) and bias (zeros) [E] under "<prefix>.<what>". */
static bool norm_add(dc_model *m, const char *prefix, const char *what, int64_t E, dense *d)
{
    char p[192];
    if (!dc_join_name(p, sizeof p, prefix, what))
        return dc_err(DC_ERR_ARG, "%s.%s: name too long", prefix, what), false;
    d->w = param(m, p, "weight", 1, DC_SHAPE(E), INIT_ONE, NULL);
    d->b = d->w ? param(m, p, "bias", 1, DC_SHAPE(E), INIT_ZERO, NULL) : NULL;
    /* the original BERT checkpoints (and Hugging Face's older ones) say gamma and beta */
    char g[208], b[208];
    return d->b && dc_join_name(g, sizeof g, p, "gamma") && dc_join_name(b, sizeof b, p, "beta") &&
           dc_model_alias(m, g, d->w->name) == DC_OK && dc_model_alias(m, b, d->b->name) == DC_OK;
}

static dc_tensor *dense_fwd(dc_ctx *ctx, dc_tensor *x, const dense *d)
{
    return dc_linear(ctx, x, d->w, d->b);
}

/* ---- input: ids [N, T] or ids and segments [N, 2, T] ---- */

/* Split the model input into ids [N, T] and segments [N, T] (zeros when not given). */
static bool split_input(dc_ctx *ctx, const char *who, dc_tensor *x, dc_tensor **ids,
                        dc_tensor **seg)
{
    char s[96];
    if (!x)
        return false;
    if (x->dtype != DC_I64 || !(x->ndim == 2 || (x->ndim == 3 && x->shape[1] == 2))) {
        dc_err(DC_ERR_SHAPE, "%s: the input must be int64 token ids [N, T] or ids and segment "
               "ids [N, 2, T], got %s %s", who, x->dtype == DC_I64 ? "int64" : "float32",
               dc_shape_str(x, s, sizeof s));
        return false;
    }
    const int64_t N = x->shape[0], T = x->shape[x->ndim - 1];
    *ids = dc_empty(ctx, DC_I64, 2, DC_SHAPE(N, T));
    *seg = dc_zeros(ctx, DC_I64, 2, DC_SHAPE(N, T));
    if (!*ids || !*seg)
        return false;
    const int64_t *in = dc_i64(x);
    for (int64_t n = 0; n < N; n++) {
        const int64_t *row = in + n * (x->ndim == 3 ? 2 * T : T);
        memcpy(dc_i64(*ids) + n * T, row, sizeof(int64_t) * (size_t)T);
        if (x->ndim == 3)
            memcpy(dc_i64(*seg) + n * T, row + T, sizeof(int64_t) * (size_t)T);
    }
    return true;
}

/* The key padding mask of the model input: int64 [N, T], 1 where the id is the pad id. */
static dc_tensor *pad_mask(dc_ctx *ctx, const char *who, dc_tensor *x, int64_t pad)
{
    dc_tensor *ids, *seg;
    if (!split_input(ctx, who, x, &ids, &seg))
        return NULL;
    int64_t *p = dc_i64(ids);
    for (int64_t i = 0; i < ids->numel; i++)
        p[i] = p[i] == pad;
    return ids;
}

/* ---- BertEmbeddings ---- */

typedef struct bert_emb {
    dc_module base;
    dc_tensor *word, *pos, *type;
    dense ln;
    int64_t pad;
    float eps, p;
} bert_emb;

static dc_tensor *emb_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    bert_emb *b = (bert_emb *)m;
    dc_tensor *ids, *seg;
    if (!split_input(ctx, m->name, x, &ids, &seg))
        return NULL;
    const int64_t T = ids->shape[1];
    if (T > b->pos->shape[0])
        return dc_err_null(DC_ERR_SHAPE, "%s: %lld tokens, more than the %lld positions of "
                           "position_embeddings", m->name, (long long)T,
                           (long long)b->pos->shape[0]);
    dc_tensor *t = dc_empty(ctx, DC_I64, 1, DC_SHAPE(T));
    if (!t)
        return NULL;
    for (int64_t i = 0; i < T; i++)
        dc_i64(t)[i] = i;
    /* Hugging Face's order: (word + token_type) + position */
    dc_tensor *e = dc_add(ctx, dc_embedding(ctx, ids, b->word, b->pad),
                          dc_embedding(ctx, seg, b->type, -1));
    e = dc_add(ctx, e, dc_embedding(ctx, t, b->pos, -1));
    return dc_dropout(ctx, dc_layer_norm(ctx, e, 1, b->ln.w, b->ln.b, b->eps), b->p);
}

dc_module *dc_bert_embeddings_new(dc_model *m, const char *name, const dc_bert_config *c,
                                  dc_rng *rng)
{
    bert_emb *b = dc_module_alloc(sizeof *b, "BertEmbeddings", name, emb_forward);
    if (!b)
        return NULL;
    b->pad = c->pad_token_id;
    b->eps = c->layer_norm_eps;
    b->p = c->hidden_dropout;
    const int64_t E = c->hidden_size;
    if (!(b->word = param(m, name, "word_embeddings.weight", 2, DC_SHAPE(c->vocab_size, E),
                          INIT_NORMAL, rng)) ||
        !(b->pos = param(m, name, "position_embeddings.weight", 2,
                         DC_SHAPE(c->max_position_embeddings, E), INIT_NORMAL, rng)) ||
        !(b->type = param(m, name, "token_type_embeddings.weight", 2,
                          DC_SHAPE(c->type_vocab_size, E), INIT_NORMAL, rng)) ||
        !norm_add(m, name, "LayerNorm", E, &b->ln)) {
        free(b);
        return NULL;
    }
    char ids[192]; /* newer Hugging Face checkpoints may hold the buffer position_ids */
    if (!dc_join_name(ids, sizeof ids, name, "position_ids") ||
        dc_model_alias(m, ids, NULL) != DC_OK) {
        free(b);
        return NULL;
    }
    if (rng && b->pad >= 0 && b->pad < c->vocab_size) /* the padding row starts at zero */
        memset(dc_f32(b->word) + b->pad * E, 0, sizeof(float) * (size_t)E);
    return &b->base;
}

/* ---- BertLayer ---- */

typedef struct bert_layer {
    dc_module base;
    dense q, k, v, attn_out, attn_ln, inter, out, out_ln;
    int64_t H, pad;
    float eps, p, attn_p;
} bert_layer;

/* y[R, O_0 + ... + O_{n-1}] = x[R, I]·[W_0; ...; W_{n-1}]ᵀ (weights [O_i, I]) into rows ldy
 * apart, no bias (the caller's epilogue adds it): one GEMM through the weights packed side by
 * side while a frozen model runs (dc_model_freeze), else one GEMM per weight; the same bits. */
static void gemm_xwt(dc_ctx *ctx, int64_t R, const dc_tensor *x, int n,
                     const dc_tensor *const *w, float *y, int64_t ldy)
{
    const int64_t I = w[0]->shape[1];
    const dc_gemm_packed *p = dc_ctx_packed_wt(ctx, n, w);
    if (p) {
        dc_gemm_packed_run(0, R, 1.0f, dc_f32(x), I, p, 0.0f, y, ldy);
        return;
    }
    for (int i = 0; i < n; i++, y += w[i - 1]->shape[0])
        dc_gemm(0, 1, R, w[i]->shape[0], I, 1.0f, dc_f32(x), I, dc_f32(w[i]), I, 0.0f, y, ldy);
}

/*
 * The layer without a tape (inference: nothing to record, no dropout), its passes fused:
 *   qkv [R, 3E] = the three projections side by side (one buffer, read in place by attention)
 *                 + their biases in one row pass
 *   a = LayerNorm((attn·Woᵀ + bo) + h)      one pass after the GEMM (dc_k_add_layer_norm_fwd)
 *   f = gelu(a·Wiᵀ + bi)                    one pass (dc_k_bias_gelu: exact, erf)
 *   y = LayerNorm((f·Wᵀ + b) + a)           one pass
 * The same operations as the recorded path (layer_forward_n): bias, GELU, residual and
 * LayerNorm round as they do there (attention from 128 keys runs the flash kernel, within
 * rounding of the recording one: docs/design.md).
 */
static dc_tensor *layer_infer(dc_ctx *ctx, const bert_layer *l, dc_tensor *h,
                              const dc_attn_opts *o)
{
    const int64_t N = h->shape[0], T = h->shape[1], E = h->shape[2], R = N * T;
    const int64_t F = l->inter.w->shape[0];
    dc_tensor *qkv = dc_empty(ctx, DC_F32, 3, DC_SHAPE(N, T, 3 * E));
    float *bqkv = dc_ctx_alloc(ctx, (size_t)(3 * E) * sizeof(float));
    if (!qkv || !bqkv)
        return NULL;
    const dense *p[3] = {&l->q, &l->k, &l->v};
    gemm_xwt(ctx, R, h, 3, (const dc_tensor *const[]){l->q.w, l->k.w, l->v.w}, dc_f32(qkv),
             3 * E);
    for (int i = 0; i < 3; i++)
        memcpy(bqkv + i * E, dc_f32(p[i]->b), (size_t)E * sizeof(float));
    dc_k_add_row(R, 3 * E, bqkv, dc_f32(qkv));
    dc_tensor *att = dc_attention_packed(ctx, qkv, 0, qkv, E, qkv, 2 * E, l->H, E / l->H, o);
    dc_tensor *a = dc_empty(ctx, DC_F32, 3, DC_SHAPE(N, T, E));
    dc_tensor *f = dc_empty(ctx, DC_F32, 3, DC_SHAPE(N, T, F));
    dc_tensor *y = dc_empty(ctx, DC_F32, 3, DC_SHAPE(N, T, E));
    if (!att || !a || !f || !y)
        return NULL;
    gemm_xwt(ctx, R, att, 1, (const dc_tensor *const[]){l->attn_out.w}, dc_f32(a), E);
    dc_k_add_layer_norm_fwd(R, E, dc_f32(a), dc_f32(l->attn_out.b), dc_f32(h),
                            dc_f32(l->attn_ln.w), dc_f32(l->attn_ln.b), l->eps, dc_f32(a));
    gemm_xwt(ctx, R, a, 1, (const dc_tensor *const[]){l->inter.w}, dc_f32(f), F);
    dc_k_bias_gelu(R, F, dc_f32(l->inter.b), dc_f32(f));
    gemm_xwt(ctx, R, f, 1, (const dc_tensor *const[]){l->out.w}, dc_f32(y), E);
    dc_k_add_layer_norm_fwd(R, E, dc_f32(y), dc_f32(l->out.b), dc_f32(a), dc_f32(l->out_ln.w),
                            dc_f32(l->out_ln.b), l->eps, dc_f32(y));
    return y;
}

static dc_tensor *layer_forward_n(dc_ctx *ctx, dc_module *m, dc_tensor *const *xs, int n)
{
    bert_layer *l = (bert_layer *)m;
    dc_tensor *h = xs[0];
    char s[96];
    if (n > 2)
        return dc_err_null(DC_ERR_ARG, "%s: takes the hidden states and, optionally, the model "
                           "input (for its padding); got %d inputs", m->name, n);
    if (h && (h->ndim != 3 || h->shape[2] != l->q.w->shape[1]))
        return dc_err_null(DC_ERR_SHAPE, "%s: hidden states must be [N, T, %lld], got %s",
                           m->name, (long long)l->q.w->shape[1], dc_shape_str(h, s, sizeof s));
    dc_attn_opts o = dc_attn_defaults();
    o.dropout = l->attn_p;
    if (n == 2 && !(o.key_padding_mask = pad_mask(ctx, m->name, xs[1], l->pad)))
        return NULL;
    const int64_t E = l->q.w->shape[0];
    dc_tensor *rec[2] = {h, l->q.w};
    const bool dropping = dc_ctx_training(ctx) && (l->p > 0.0f || l->attn_p > 0.0f);
    if (h && !dc_needs_grad(ctx, 2, rec) && !dropping)
        return layer_infer(ctx, l, h, &o);
    dc_tensor *a = dc_attention_packed(ctx, dense_fwd(ctx, h, &l->q), 0,
                                       dense_fwd(ctx, h, &l->k), 0, dense_fwd(ctx, h, &l->v), 0,
                                       l->H, E / l->H, &o);
    a = dc_dropout(ctx, dense_fwd(ctx, a, &l->attn_out), l->p);
    a = dc_layer_norm(ctx, dc_add(ctx, a, h), 1, l->attn_ln.w, l->attn_ln.b, l->eps);
    dc_tensor *f = dc_gelu(ctx, dense_fwd(ctx, a, &l->inter), 0);
    f = dc_dropout(ctx, dense_fwd(ctx, f, &l->out), l->p);
    return dc_layer_norm(ctx, dc_add(ctx, f, a), 1, l->out_ln.w, l->out_ln.b, l->eps);
}

static dc_tensor *layer_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    return layer_forward_n(ctx, m, &x, 1);
}

/* Per token: the four E x E projections and the two E x F ones; per pair of tokens: q·k and
 * p·v (E each). */
static int64_t layer_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y)
{
    const bert_layer *l = (const bert_layer *)m;
    const int64_t E = l->q.w->shape[0], F = l->inter.w->shape[0];
    const int64_t N = x->shape[0], T = x->ndim == 3 ? x->shape[1] : 1;
    return N * T * (4 * E * E + 2 * E * F) + 2 * N * T * T * E;
}

dc_module *dc_bert_layer_new(dc_model *m, const char *name, const dc_bert_config *c,
                             dc_rng *rng)
{
    const int64_t E = c->hidden_size, F = c->intermediate_size;
    if (c->num_attention_heads < 1 || E % c->num_attention_heads)
        return dc_err_null(DC_ERR_ARG, "%s: %lld heads must divide hidden_size %lld", name,
                           (long long)c->num_attention_heads, (long long)E);
    bert_layer *l = dc_module_alloc(sizeof *l, "BertLayer", name, layer_forward);
    if (!l)
        return NULL;
    l->base.forward_n = layer_forward_n;
    l->base.macs = layer_macs;
    l->H = c->num_attention_heads;
    l->pad = c->pad_token_id;
    l->eps = c->layer_norm_eps;
    l->p = c->hidden_dropout;
    l->attn_p = c->attention_dropout;
    if (!dense_add(m, name, "attention.self.query", E, E, rng, &l->q) ||
        !dense_add(m, name, "attention.self.key", E, E, rng, &l->k) ||
        !dense_add(m, name, "attention.self.value", E, E, rng, &l->v) ||
        !dense_add(m, name, "attention.output.dense", E, E, rng, &l->attn_out) ||
        !norm_add(m, name, "attention.output.LayerNorm", E, &l->attn_ln) ||
        !dense_add(m, name, "intermediate.dense", E, F, rng, &l->inter) ||
        !dense_add(m, name, "output.dense", F, E, rng, &l->out) ||
        !norm_add(m, name, "output.LayerNorm", E, &l->out_ln)) {
        free(l);
        return NULL;
    }
    return &l->base;
}

/* ---- BertPooler ---- */

typedef struct bert_pooler {
    dc_module base;
    dense d;
} bert_pooler;

static dc_tensor *pooler_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    return dc_tanh(ctx, dense_fwd(ctx, dc_select_step(ctx, x, 0), &((bert_pooler *)m)->d));
}

static int64_t pooler_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y)
{
    const dc_tensor *w = ((const bert_pooler *)m)->d.w;
    return y->shape[0] * w->shape[0] * w->shape[1];
}

dc_module *dc_bert_pooler_new(dc_model *m, const char *name, int64_t hidden, dc_rng *rng)
{
    bert_pooler *p = dc_module_alloc(sizeof *p, "BertPooler", name, pooler_forward);
    if (!p)
        return NULL;
    p->base.macs = pooler_macs;
    if (!dense_add(m, name, "dense", hidden, hidden, rng, &p->d)) {
        free(p);
        return NULL;
    }
    return &p->base;
}

/* ---- BertLMPredictionHead ---- */

typedef struct bert_mlm {
    dc_module base;
    dense transform, ln;
    dc_tensor *decoder, *bias; /* decoder: the word embeddings [V, E] (tied) */
    float eps;
} bert_mlm;

static dc_tensor *mlm_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    bert_mlm *h = (bert_mlm *)m;
    dc_tensor *t = dc_gelu(ctx, dense_fwd(ctx, x, &h->transform), 0);
    t = dc_layer_norm(ctx, t, 1, h->ln.w, h->ln.b, h->eps);
    return dc_linear(ctx, t, h->decoder, h->bias);
}

static int64_t mlm_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y)
{
    const bert_mlm *h = (const bert_mlm *)m;
    const int64_t E = h->transform.w->shape[0], V = h->decoder->shape[0];
    return x->numel / E * (E * E + E * V);
}

dc_module *dc_bert_mlm_head_new(dc_model *m, const char *name, const char *tied, float eps,
                                dc_rng *rng)
{
    dc_tensor *dec = tied ? dc_model_find(m, tied) : NULL;
    if (!dec || dec->ndim != 2)
        return dc_err_null(DC_ERR_ARG, "%s: the decoder is tied to '%s', which is not a [V, E] "
                           "parameter of the model (declare the embeddings first)", name,
                           tied ? tied : "(none)");
    bert_mlm *h = dc_module_alloc(sizeof *h, "BertLMHead", name, mlm_forward);
    if (!h)
        return NULL;
    h->base.macs = mlm_macs;
    h->decoder = dec;
    h->eps = eps;
    const int64_t V = dec->shape[0], E = dec->shape[1];
    if (!dense_add(m, name, "transform.dense", E, E, rng, &h->transform) ||
        !norm_add(m, name, "transform.LayerNorm", E, &h->ln) ||
        !(h->bias = param(m, name, "bias", 1, DC_SHAPE(V), INIT_ZERO, NULL))) {
        free(h);
        return NULL;
    }
    /* a file may hold the tied decoder under its own names too (torch.save of the module) */
    char dw[192], db[192];
    if (!dc_join_name(dw, sizeof dw, name, "decoder.weight") ||
        !dc_join_name(db, sizeof db, name, "decoder.bias") ||
        dc_model_alias(m, dw, dec->name) != DC_OK ||
        dc_model_alias(m, db, h->bias->name) != DC_OK) {
        free(h);
        return NULL;
    }
    return &h->base;
}

dc_bert_config dc_bert_config_defaults(void)
{
    return (dc_bert_config){.vocab_size = 30522, .hidden_size = 768, .num_hidden_layers = 12,
                            .num_attention_heads = 12, .intermediate_size = 3072,
                            .max_position_embeddings = 512, .type_vocab_size = 2,
                            .pad_token_id = 0, .layer_norm_eps = 1e-12f,
                            .hidden_dropout = 0.1f, .attention_dropout = 0.1f};
}

/* ---- descriptors (src/nn/layer_desc.h) ---- */

static const dc_layer_key emb_keys[] = {
    DC_KEY_I("vocab_size", NULL, 1, 0x1p31, "vocabulary size V (30522 for bert-base-uncased)"),
    DC_KEY_I("hidden_size", NULL, 1, 1 << 16, "hidden size E"),
    DC_KEY_I("max_position_embeddings", "512", 1, 1 << 20, "positions learned"),
    DC_KEY_I("type_vocab_size", "2", 1, 1 << 16, "segment (token type) ids"),
    DC_KEY_I("pad_token_id", "0", 0, 0x1p31, "the [PAD] id: its row gets no gradient"),
    DC_KEY_F("layer_norm_eps", "1e-12", 0, 1, "LayerNorm epsilon"),
    DC_KEY_F("dropout", "0.1", 0, 0.999, "hidden_dropout_prob"),
};

static dc_module *build_emb(dc_layer_args *a)
{
    dc_bert_config c = dc_bert_config_defaults();
    c.vocab_size = a->v[0].i[0];
    c.hidden_size = a->v[1].i[0];
    c.max_position_embeddings = a->v[2].i[0];
    c.type_vocab_size = a->v[3].i[0];
    c.pad_token_id = a->v[4].i[0];
    c.layer_norm_eps = (float)a->v[5].f;
    c.hidden_dropout = (float)a->v[6].f;
    if (c.pad_token_id >= c.vocab_size)
        return dc_layer_refuse(a, 4, "%lld is not below vocab_size %lld",
                               (long long)c.pad_token_id, (long long)c.vocab_size);
    return dc_bert_embeddings_new(a->m, a->name, &c, a->rng);
}

const dc_layer_desc dc_layer_bert_embeddings = {
    .type = "bert_embeddings", .aliases = "BertEmbeddings", .module = "BertEmbeddings",
    .torch = "transformers BertEmbeddings",
    .doc = "word + segment + position embeddings, LayerNorm, dropout: int64 [N, T] or "
           "[N, 2, T] (ids, segments) -> [N, T, E]",
    .min_ndim = 2, .max_ndim = 3, .rank_msg = "token ids [N, T] or [N, 2, T]",
    .keys = emb_keys, .n_keys = 7, .build = build_emb,
    .params = "word_embeddings.weight position_embeddings.weight "
              "token_type_embeddings.weight LayerNorm.weight LayerNorm.bias",
    .gradcheck = "embedding|layer_norm|bert embeddings",
};

static const dc_layer_key layer_keys[] = {
    DC_KEY_IN_DIM("hidden_size", -1, "the input's last dim E"),
    DC_KEY_I("num_attention_heads", NULL, 1, 1 << 12, "heads H (E/H per head)"),
    DC_KEY_I("intermediate_size", NULL, 1, 1 << 20, "feed-forward size F"),
    DC_KEY_F("layer_norm_eps", "1e-12", 0, 1, "LayerNorm epsilon"),
    DC_KEY_F("dropout", "0.1", 0, 0.999, "hidden_dropout_prob"),
    DC_KEY_F("attention_dropout", "0.1", 0, 0.999, "attention_probs_dropout_prob"),
    DC_KEY_I("pad_token_id", "0", 0, 0x1p31, "ids of the model input (2nd input) that are padding"),
};

static dc_module *build_layer(dc_layer_args *a)
{
    dc_bert_config c = dc_bert_config_defaults();
    c.hidden_size = a->v[0].i[0];
    c.num_attention_heads = a->v[1].i[0];
    c.intermediate_size = a->v[2].i[0];
    c.layer_norm_eps = (float)a->v[3].f;
    c.hidden_dropout = (float)a->v[4].f;
    c.attention_dropout = (float)a->v[5].f;
    c.pad_token_id = a->v[6].i[0];
    if (c.hidden_size % c.num_attention_heads)
        return dc_layer_refuse(a, 1, "%lld heads do not divide hidden_size %lld",
                               (long long)c.num_attention_heads, (long long)c.hidden_size);
    return dc_bert_layer_new(a->m, a->name, &c, a->rng);
}

const dc_layer_desc dc_layer_bert_layer = {
    .type = "bert_layer", .aliases = "BertLayer", .module = "BertLayer",
    .torch = "transformers BertLayer",
    .doc = "post-LN encoder layer (self-attention, GELU feed-forward): [N, T, E] (+ the model "
           "input for its padding) -> [N, T, E]",
    .min_ndim = 3, .max_ndim = 3, .rank_msg = "hidden states [N, T, E]",
    .keys = layer_keys, .n_keys = 7, .build = build_layer,
    .params = "attention.self.query.weight attention.self.query.bias attention.self.key.weight "
              "attention.self.key.bias attention.self.value.weight attention.self.value.bias "
              "attention.output.dense.weight attention.output.dense.bias "
              "attention.output.LayerNorm.weight attention.output.LayerNorm.bias "
              "intermediate.dense.weight intermediate.dense.bias output.dense.weight "
              "output.dense.bias output.LayerNorm.weight output.LayerNorm.bias",
    .macs = layer_macs, .gradcheck = "attention|layer_norm|linear|gelu|bert layer",
};

static const dc_layer_key pooler_keys[] = {
    DC_KEY_IN_DIM("hidden_size", -1, "the input's last dim E"),
};

static dc_module *build_pooler(dc_layer_args *a)
{
    return dc_bert_pooler_new(a->m, a->name, a->v[0].i[0], a->rng);
}

const dc_layer_desc dc_layer_bert_pooler = {
    .type = "bert_pooler", .aliases = "BertPooler", .module = "BertPooler",
    .torch = "transformers BertPooler",
    .doc = "tanh(dense(h[:, 0])), the [CLS] position: [N, T, E] -> [N, E]",
    .min_ndim = 3, .max_ndim = 3, .rank_msg = "hidden states [N, T, E]",
    .keys = pooler_keys, .n_keys = 1, .build = build_pooler, .params = "dense.weight dense.bias",
    .macs = pooler_macs, .gradcheck = "select_step|linear|tanh",
};

static const dc_layer_key mlm_keys[] = {
    DC_KEY_F("layer_norm_eps", "1e-12", 0, 1, "LayerNorm epsilon"),
};

/* The decoder is tied to the word embeddings of the model's (first) BertEmbeddings. */
static dc_module *build_mlm(dc_layer_args *a)
{
    for (int i = 0; i < dc_model_n_modules(a->m); i++) {
        const dc_module *e = dc_model_module(a->m, i);
        if (!strcmp(e->type, "BertEmbeddings")) {
            char tied[192];
            if (!dc_join_name(tied, sizeof tied, e->name, "word_embeddings.weight"))
                return dc_layer_refuse(a, -1, "the embeddings' name is too long");
            return dc_bert_mlm_head_new(a->m, a->name, tied, (float)a->v[0].f, a->rng);
        }
    }
    return dc_layer_refuse(a, -1, "needs a bert_embeddings layer before it (its decoder is the "
                           "word embedding table)");
}

const dc_layer_desc dc_layer_bert_mlm_head = {
    .type = "bert_mlm_head", .aliases = "BertLMPredictionHead", .module = "BertLMHead",
    .torch = "transformers BertLMPredictionHead",
    .doc = "masked-LM logits, decoder tied to the word embeddings: [N, T, E] -> [N, T, V]",
    .min_ndim = 3, .max_ndim = 3, .rank_msg = "hidden states [N, T, E]",
    .keys = mlm_keys, .n_keys = 1, .build = build_mlm,
    .params = "transform.dense.weight transform.dense.bias transform.LayerNorm.weight "
              "transform.LayerNorm.bias bias",
    .macs = mlm_macs, .gradcheck = "linear|gelu|layer_norm",
};
