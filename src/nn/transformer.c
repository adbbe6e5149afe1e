/*
 * transformer.c - LayerNorm, PositionalEncoding and MultiheadAttention modules (torch.nn
 * semantics, defaults and state_dict names) and the parts the Transformer layers embed.
 *
 * MultiheadAttention (PyTorch 1.13 F.multi_head_attention_forward, no bias_k/bias_v, no
 * add_zero_attn, kdim = vdim = E): with W = in_proj_weight [3E, E] = [W_q; W_k; W_v],
 *   q = query·W_qᵀ + b_q,  k = key·W_kᵀ + b_k,  v = value·W_vᵀ + b_v       (one product [N, T, 3E]
 *                                                                            when q = k = v)
 *   head h: softmax(q_h k_hᵀ/√(E/H) + masks) v_h   (dc_attention_packed: heads read in place)
 *   y = concat_h(...)·out_proj.weightᵀ + out_proj.bias
 * Init: in_proj_weight xavier_uniform (U(±√(6/(E + 3E)))), in_proj_bias 0, out_proj.weight
 * U(±1/√E) (Linear's kaiming_uniform(a=√5)), out_proj.bias 0.
 */
#include "nn/transformer.h"
#include "kernels/attn_k.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dc_tensor *tf_swap01(dc_ctx *ctx, dc_tensor *x) { return dc_transpose(ctx, x, 0, 1); }

static dc_tensor *add_param(dc_model *m, const char *prefix, const char *name, int ndim,
                            const int64_t *shape)
{
    char key[200];
    if (!dc_join_name(key, sizeof key, prefix, name))
        return dc_err_null(DC_ERR_ARG, "%s.%s: name too long", prefix, name);
    return dc_model_add_param(m, key, DC_F32, ndim, shape, 0);
}

dc_status tf_linear_init(tf_linear *l, dc_model *m, const char *prefix, const char *name,
                         int64_t in, int64_t out, dc_rng *rng)
{
    char pre[200];
    if (!dc_join_name(pre, sizeof pre, prefix, name) ||
        !(l->w = add_param(m, pre, "weight", 2, DC_SHAPE(out, in))) ||
        !(l->b = add_param(m, pre, "bias", 1, DC_SHAPE(out))))
        return dc_last_status() ? dc_last_status() : DC_ERR_ARG;
    if (rng) { /* PyTorch Linear: U(±1/√in) for both */
        const float bound = 1.0f / sqrtf((float)in);
        dc_tensor_uniform(l->w, rng, -bound, bound);
        dc_tensor_uniform(l->b, rng, -bound, bound);
    }
    return DC_OK;
}

dc_status tf_norm_init(tf_norm *n, dc_model *m, const char *prefix, const char *name,
                       int64_t D, float eps, int affine)
{
    char pre[200];
    n->eps = eps;
    n->w = n->b = NULL;
    if (!affine)
        return DC_OK;
    if (!dc_join_name(pre, sizeof pre, prefix, name) ||
        !(n->w = add_param(m, pre, "weight", 1, DC_SHAPE(D))) ||
        !(n->b = add_param(m, pre, "bias", 1, DC_SHAPE(D))))
        return dc_last_status() ? dc_last_status() : DC_ERR_ARG;
    dc_tensor_fill(n->w, 1.0f);
    return DC_OK;
}

dc_status tf_mha_init(tf_mha *a, dc_model *m, const char *prefix, int64_t E, int64_t H,
                      float dropout, int bias, int batch_first, dc_rng *rng)
{
    char pre[200];
    if (E < 1 || H < 1 || E % H != 0)
        return dc_err(DC_ERR_ARG, "MultiheadAttention %s: embed_dim %lld must be a positive "
                      "multiple of num_heads %lld", prefix, (long long)E, (long long)H);
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return dc_err(DC_ERR_ARG, "MultiheadAttention %s: dropout must be in [0, 1), got %g",
                      prefix, (double)dropout);
    *a = (tf_mha){E, H, dropout, batch_first, NULL, NULL, NULL, NULL, NULL};
    if (!(a->in_w = add_param(m, prefix, "in_proj_weight", 2, DC_SHAPE(3 * E, E))) ||
        (bias && !(a->in_b = add_param(m, prefix, "in_proj_bias", 1, DC_SHAPE(3 * E)))) ||
        !dc_join_name(pre, sizeof pre, prefix, "out_proj") ||
        !(a->out_w = add_param(m, pre, "weight", 2, DC_SHAPE(E, E))) ||
        (bias && !(a->out_b = add_param(m, pre, "bias", 1, DC_SHAPE(E)))))
        return dc_last_status() ? dc_last_status() : DC_ERR_ARG;
    if (rng) {
        const float xb = sqrtf(6.0f / (float)(E + 3 * E)), ob = 1.0f / sqrtf((float)E);
        dc_tensor_uniform(a->in_w, rng, -xb, xb);
        dc_tensor_uniform(a->out_w, rng, -ob, ob);
    }
    return DC_OK;
}

/* Rows [r0, r1) of a [3E, ...] projection parameter (a copy on the tape), or NULL for NULL. */
static dc_tensor *rows(dc_ctx *ctx, dc_tensor *p, int64_t r0, int64_t r1)
{
    return p ? dc_slice(ctx, p, 0, r0, r1, 1) : NULL;
}

/* Mean over the heads of w [N, H, Tq, Tk] -> [N, Tq, Tk] (not on the tape). */
static dc_tensor *head_mean(dc_ctx *ctx, const dc_tensor *w)
{
    const int64_t N = w->shape[0], H = w->shape[1], T = w->shape[2] * w->shape[3];
    dc_tensor *y = dc_zeros(ctx, DC_F32, 3, DC_SHAPE(N, w->shape[2], w->shape[3]));
    if (!y)
        return NULL;
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < T; i++)
                dc_f32(y)[n * T + i] += dc_f32(w)[(n * H + h) * T + i] / (float)H;
    return y;
}

/* The weights w [N, H, Tq, Tk] of sequence 0 into c: every head, or their mean. */
static dc_status capture(dc_attn_capture *c, const dc_tensor *w)
{
    const int64_t H = w->shape[1], Tq = w->shape[2], Tk = w->shape[3], keep = c->per_head ? H : 1;
    float *p = realloc(c->w, (size_t)(keep * Tq * Tk) * sizeof *p);
    if (!p)
        return dc_err(DC_ERR_NOMEM, "attention capture: out of memory");
    memset(p, 0, (size_t)(keep * Tq * Tk) * sizeof *p);
    for (int64_t h = 0; h < H; h++)
        for (int64_t i = 0; i < Tq * Tk; i++)
            p[(c->per_head ? h : 0) * Tq * Tk + i] +=
                dc_f32(w)[h * Tq * Tk + i] / (c->per_head ? 1.0f : (float)H);
    *c = (dc_attn_capture){c->per_head, keep, Tq, Tk, p, c->forwards + 1};
    return DC_OK;
}

void dc_attn_capture_clear(dc_attn_capture *c)
{
    if (!c)
        return;
    free(c->w);
    *c = (dc_attn_capture){.per_head = c->per_head};
}

dc_tensor *tf_mha_run(dc_ctx *ctx, const tf_mha *a, dc_tensor *q, dc_tensor *k, dc_tensor *v,
                      const dc_attn_masks *mk, dc_tensor **weights, int average, dc_tensor *res,
                      const tf_norm *pre)
{
    const int64_t E = a->E, D = E / a->H;
    dc_tensor *att, *w = NULL;
    dc_attn_opts o = dc_attn_defaults();
    if (mk) {
        o.attn_mask = mk->attn_mask;
        o.key_padding_mask = mk->key_padding_mask;
        o.causal = mk->causal;
    }
    o.dropout = a->dropout;
    o.weights = weights || a->cap ? &w : NULL;
    if (!q || !k || !v)
        return NULL;
    if (pre && !(q == k && k == v && pre->w && pre->b && a->in_b))
        return dc_err_null(DC_ERR_ARG, "attention: a fused norm needs self-attention with a "
                           "norm weight and bias and an in_proj bias");
    if (q == k && k == v) { /* self-attention: one [N, T, 3E] product */
        dc_tensor *qkv = pre ? dc_layer_norm_linear(ctx, q, pre->w, pre->b, pre->eps, a->in_w,
                                                    a->in_b)
                             : dc_linear(ctx, q, a->in_w, a->in_b);
        att = dc_attention_packed(ctx, qkv, 0, qkv, E, qkv, 2 * E, a->H, D, &o);
    } else if (k == v) { /* cross-attention: q apart, k and v in one [N, Tk, 2E] product */
        dc_tensor *qp = dc_linear(ctx, q, rows(ctx, a->in_w, 0, E), rows(ctx, a->in_b, 0, E));
        dc_tensor *kv = dc_linear(ctx, k, rows(ctx, a->in_w, E, 3 * E),
                                  rows(ctx, a->in_b, E, 3 * E));
        att = dc_attention_packed(ctx, qp, 0, kv, 0, kv, E, a->H, D, &o);
    } else {
        dc_tensor *qp = dc_linear(ctx, q, rows(ctx, a->in_w, 0, E), rows(ctx, a->in_b, 0, E));
        dc_tensor *kp = dc_linear(ctx, k, rows(ctx, a->in_w, E, 2 * E),
                                  rows(ctx, a->in_b, E, 2 * E));
        dc_tensor *vp = dc_linear(ctx, v, rows(ctx, a->in_w, 2 * E, 3 * E),
                                  rows(ctx, a->in_b, 2 * E, 3 * E));
        att = dc_attention_packed(ctx, qp, 0, kp, 0, vp, 0, a->H, D, &o);
    }
    dc_tensor *y = res ? dc_linear_residual(ctx, att, a->out_w, a->out_b, res)
                       : dc_linear(ctx, att, a->out_w, a->out_b);
    if (y && w && a->cap && capture(a->cap, w) != DC_OK)
        return NULL;
    if (y && weights)
        *weights = average && w ? head_mean(ctx, w) : w;
    return y;
}

/* ---- MultiheadAttention module ---- */

typedef struct mha_mod {
    dc_module base;
    tf_mha a;
    int causal; /* forward(x): causal self-attention */
} mha_mod;

dc_tensor *dc_mha_forward(dc_ctx *ctx, dc_module *mod, dc_tensor *q, dc_tensor *k,
                          dc_tensor *v, const dc_attn_masks *mk, dc_tensor **weights,
                          int average)
{
    const tf_mha *a = &((mha_mod *)mod)->a;
    char s[96];
    if (!q || !k || !v)
        return NULL;
    if (q->ndim != 3 || q->shape[2] != a->E)
        return dc_err_null(DC_ERR_SHAPE, "MultiheadAttention %s: query must be [%s, %lld], "
                           "got %s", mod->name, a->batch_first ? "N, T" : "T, N",
                           (long long)a->E, dc_shape_str(q, s, sizeof s));
    if (a->batch_first)
        return tf_mha_run(ctx, a, q, k, v, mk, weights, average, NULL, NULL);
    dc_tensor *qb = tf_swap01(ctx, q);
    dc_tensor *kb = k == q ? qb : tf_swap01(ctx, k);
    dc_tensor *vb = v == q ? qb : v == k ? kb : tf_swap01(ctx, v);
    return tf_swap01(ctx, tf_mha_run(ctx, a, qb, kb, vb, mk, weights, average, NULL, NULL));
}

static dc_tensor *mha_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    dc_attn_masks mk = {NULL, NULL, ((mha_mod *)m)->causal};
    return dc_mha_forward(ctx, m, x, x, x, &mk, NULL, 1);
}

/* forward_n: (query, memory) -> attention of query over memory (keys = values = memory). */
static dc_tensor *mha_forward_n(dc_ctx *ctx, dc_module *m, dc_tensor *const *xs, int n)
{
    if (n == 1)
        return mha_forward(ctx, m, xs[0]);
    if (n != 2)
        return dc_err_null(DC_ERR_ARG, "MultiheadAttention %s: takes 1 input (self-attention) "
                           "or 2 (query, memory), got %d", m->name, n);
    dc_attn_masks mk = {NULL, NULL, ((mha_mod *)m)->causal};
    return dc_mha_forward(ctx, m, xs[0], xs[1], xs[1], &mk, NULL, 1);
}

/* Append ", name" (or "name" first) to names [size]. */
static void add_name(char *names, size_t size, const char *name)
{
    size_t n = names ? strlen(names) : 0;
    if (names && n + 3 < size)
        snprintf(names + n, size - n, "%s%s", n ? ", " : "", name);
}

/* The attention of m called name (NULL: none), appending every attention's name to names. */
static tf_mha *find_attention(const dc_model *m, const char *name, char *names, size_t size,
                              int *count)
{
    tf_mha *found = NULL;
    *count = 0;
    for (int i = 0; m && i < dc_model_n_modules(m); i++) {
        dc_module *mod = dc_model_module(m, i);
        const size_t n = strlen(mod->name);
        if (mod->forward == mha_forward) {
            if (name && !strcmp(name, mod->name) && !found)
                found = &((mha_mod *)mod)->a;
            add_name(names, size, mod->name);
            ++*count;
            continue;
        }
        const int inside = name && !strncmp(name, mod->name, n) && name[n] == '.';
        tf_mha *a = tf_find_attention(mod, inside ? name + n + 1 : "", names, size, count);
        found = found ? found : a;
    }
    return found;
}

int dc_model_attentions(const dc_model *m, char *names, size_t size)
{
    char own[4096] = "";
    int count = 0;
    find_attention(m, NULL, own, sizeof own, &count);
    if (names && size)
        snprintf(names, size, "%s", own);
    return count;
}

dc_status dc_model_capture_attention(dc_model *m, const char *name, dc_attn_capture *cap)
{
    char names[1024] = "";
    int count = 0;
    tf_mha *a = name ? find_attention(m, name, names, sizeof names, &count) : NULL;
    if (!a)
        return dc_err(DC_ERR_ARG, "attention capture: no attention called '%s'; the model's: %s",
                      name ? name : "(null)", names[0] ? names : "none");
    a->cap = cap;
    return DC_OK;
}

/* 4·T·E² for the projections plus 2·Tq·Tk·E for the scores and the weighted sum. */
static int64_t mha_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y)
{
    const tf_mha *a = &((const mha_mod *)m)->a;
    const int64_t rows = y->numel / a->E, T = y->shape[a->batch_first ? 1 : 0];
    return 4 * rows * a->E * a->E + 2 * rows * T * a->E;
}

dc_module *dc_mha_new(dc_model *m, const char *name, int64_t E, int64_t H, float dropout,
                      int bias, int batch_first, int causal, dc_rng *rng)
{
    if (!m || !name)
        return dc_err_null(DC_ERR_ARG, "MultiheadAttention: needs a model and a name");
    mha_mod *a = dc_module_alloc(sizeof *a, "MultiheadAttention", name, mha_forward);
    if (!a)
        return NULL;
    if (tf_mha_init(&a->a, m, name, E, H, dropout, bias, batch_first, rng) != DC_OK) {
        free(a);
        return NULL;
    }
    a->causal = causal;
    a->base.forward_n = mha_forward_n;
    a->base.macs = mha_macs;
    return &a->base;
}

bool tf_mha_dims(const dc_module *m, int64_t *E, int *batch_first)
{
    if (!m || m->forward != mha_forward)
        return false;
    *E = ((const mha_mod *)m)->a.E;
    *batch_first = ((const mha_mod *)m)->a.batch_first;
    return true;
}

/* ---- LayerNorm module ---- */

typedef struct ln_mod {
    dc_module base;
    tf_norm n;
} ln_mod;

static dc_tensor *ln_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    const tf_norm *n = &((ln_mod *)m)->n;
    return dc_layer_norm(ctx, x, 1, n->w, n->b, n->eps);
}

dc_module *dc_layer_norm_new(dc_model *m, const char *name, int64_t D, float eps, int affine)
{
    if (!m || !name || D < 1 || !(eps >= 0.0f))
        return dc_err_null(DC_ERR_ARG, "LayerNorm %s: needs a model, a size >= 1 and eps >= 0",
                           name ? name : "?");
    ln_mod *l = dc_module_alloc(sizeof *l, "LayerNorm", name, ln_forward);
    if (!l)
        return NULL;
    if (affine) {
        char key[200];
        if (!dc_join_name(key, sizeof key, name, "weight") ||
            !(l->n.w = dc_model_add_param(m, key, DC_F32, 1, DC_SHAPE(D), 0)) ||
            !dc_join_name(key, sizeof key, name, "bias") ||
            !(l->n.b = dc_model_add_param(m, key, DC_F32, 1, DC_SHAPE(D), 0))) {
            free(l);
            return NULL;
        }
        dc_tensor_fill(l->n.w, 1.0f);
    }
    l->n.eps = eps;
    return &l->base;
}

/* ---- PositionalEncoding module ---- */

typedef struct pos_mod {
    dc_module base;
    dc_posenc_kind kind;
    int64_t max_len, E;
    int batch_first;
    dc_tensor *weight; /* learned: "<name>.weight" [max_len, E] */
    float *table;      /* sinusoidal: [max_len, E], owned, not in the state_dict */
    int carry;         /* incremental decoding: each forward continues at position seen */
    int64_t seen;
} pos_mod;

static void pos_destroy(dc_module *m) { free(((pos_mod *)m)->table); }

/* dc_model_set_carry / dc_model_reset_state: start the positions again (the continuing
 * positions themselves are switched by dc_model_set_kv_cache). */
static void pos_carry(dc_module *m, int mode)
{
    (void)mode;
    ((pos_mod *)m)->seen = 0;
}

dc_tensor *dc_positional_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x, int64_t offset)
{
    pos_mod *p = (pos_mod *)m;
    char s[96];
    if (!x)
        return NULL;
    if (x->ndim != 3 || x->shape[2] != p->E)
        return dc_err_null(DC_ERR_SHAPE, "PositionalEncoding %s: input must be [%s, %lld], got "
                           "%s", m->name, p->batch_first ? "N, T" : "T, N", (long long)p->E,
                           dc_shape_str(x, s, sizeof s));
    const int64_t T = x->shape[p->batch_first ? 1 : 0];
    if (offset < 0 || offset + T > p->max_len)
        return dc_err_null(DC_ERR_ARG, "PositionalEncoding %s: positions %lld..%lld exceed "
                           "max_len %lld", m->name, (long long)offset, (long long)(offset + T - 1),
                           (long long)p->max_len);
    dc_tensor *pe = p->weight ? dc_slice(ctx, p->weight, 0, offset, offset + T, 1)
                              : dc_wrap(ctx, DC_F32, 2, DC_SHAPE(T, p->E),
                                        p->table + offset * p->E);
    if (pe && !p->batch_first) /* [T, E] -> [T, 1, E] against [T, N, E] */
        pe = dc_reshape(ctx, pe, 3, DC_SHAPE(T, 1, p->E));
    return dc_add(ctx, x, pe);
}

static dc_tensor *pos_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    pos_mod *p = (pos_mod *)m;
    dc_tensor *y = dc_positional_forward(ctx, m, x, p->carry ? p->seen : 0);
    if (y && p->carry)
        p->seen += x->shape[p->batch_first ? 1 : 0];
    return y;
}

dc_module *dc_positional_new(dc_model *m, const char *name, dc_posenc_kind kind,
                             int64_t max_len, int64_t E, int batch_first, dc_rng *rng)
{
    if (!m || !name || max_len < 1 || E < 1 ||
        (kind != DC_POS_LEARNED && kind != DC_POS_SINUSOIDAL))
        return dc_err_null(DC_ERR_ARG, "PositionalEncoding %s: needs a model, a kind and sizes "
                           ">= 1 (max_len %lld, E %lld)", name ? name : "?", (long long)max_len,
                           (long long)E);
    pos_mod *p = dc_module_alloc(sizeof *p, "PositionalEncoding", name, pos_forward);
    if (!p)
        return NULL;
    *p = (pos_mod){p->base, kind, max_len, E, batch_first, NULL, NULL, 0, 0};
    p->base.destroy = pos_destroy;
    p->base.carry = pos_carry;
    if (kind == DC_POS_LEARNED) {
        char key[200];
        if (!dc_join_name(key, sizeof key, name, "weight") ||
            !(p->weight = dc_model_add_param(m, key, DC_F32, 2, DC_SHAPE(max_len, E), 0))) {
            free(p);
            return NULL;
        }
        if (rng) /* an Embedding over positions: N(0, 1) */
            dc_tensor_normal(p->weight, rng, 0.0f, 1.0f);
        return &p->base;
    }
    if (!(p->table = malloc((size_t)(max_len * E) * sizeof(float)))) {
        free(p);
        return dc_err_null(DC_ERR_NOMEM, "PositionalEncoding %s: out of memory", name);
    }
    dc_k_sinusoidal(0, max_len, E, p->table);
    return &p->base;
}

/* Modules that act on each position alone (or are the Transformer's own): a model made of
 * these and causal batch-first Transformer encoders (decoder-only models) can decode with a KV
 * cache. */
static bool positionwise(const dc_module *m)
{
    static const char *types[] = {"Embedding", "Linear", "LayerNorm", "Dropout", "ReLU",
                                  "GELU", "Tanh", "Sigmoid", "LeakyReLU", "Add",
                                  "PositionalEncoding"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (!strcmp(m->type, types[i]))
            return true;
    return false;
}

int64_t dc_model_context(const dc_model *m, int *kv_cache)
{
    int64_t c = INT64_MAX;
    int kv = 1;
    for (int i = 0; m && i < dc_model_n_modules(m); i++) {
        const dc_module *mod = dc_model_module(m, i);
        const bool tf = !strncmp(mod->type, "Transformer", 11);
        if (mod->carry && !tf && mod->forward != pos_forward) { /* a recurrent layer */
            if (kv_cache)
                *kv_cache = 0;
            return 0;
        }
        if (mod->forward == pos_forward && ((const pos_mod *)mod)->max_len < c)
            c = ((const pos_mod *)mod)->max_len;
        if (!(!strncmp(mod->type, "TransformerEncoder", 18) && mod->carry) && !positionwise(mod))
            kv = 0;
    }
    if (kv_cache)
        *kv_cache = kv;
    return c;
}

dc_status dc_model_set_kv_cache(dc_model *m, int on)
{
    int kv = 0;
    if (on && (dc_model_context(m, &kv) == 0 || !kv))
        return dc_err(DC_ERR_ARG, "KV cache: the model is not a causal decoder-only Transformer "
                      "(dc_model_context)");
    for (int i = 0; m && i < dc_model_n_modules(m); i++) {
        dc_module *mod = dc_model_module(m, i);
        if (mod->forward == pos_forward) {
            ((pos_mod *)mod)->carry = on != 0;
            ((pos_mod *)mod)->seen = 0;
        } else {
            tf_kv_switch(mod, on != 0);
        }
    }
    return DC_OK;
}
