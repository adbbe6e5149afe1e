/*
 * transformer.h - what the Transformer modules share inside src/nn: the parts of a layer
 * (MultiheadAttention, Linear, LayerNorm) as plain structs that a composite module embeds and
 * registers under its own prefix, so that the names are PyTorch's ("layers.0.self_attn.
 * in_proj_weight").
 */
#ifndef DC_NN_TRANSFORMER_H
#define DC_NN_TRANSFORMER_H

#include "core/internal.h"

typedef struct tf_mha {
    int64_t E, H;
    float dropout;
    int batch_first;
    dc_tensor *in_w, *in_b;   /* [3E, E], [3E] or NULL (bias=False) */
    dc_tensor *out_w, *out_b; /* [E, E], [E] or NULL */
    dc_attn_capture *cap;     /* dc_model_capture_attention: the caller's, or NULL */
} tf_mha;

typedef struct tf_linear {
    dc_tensor *w, *b;         /* [O, I], [O] */
} tf_linear;

typedef struct tf_norm {
    dc_tensor *w, *b;         /* [D], [D] or NULL (elementwise_affine=False) */
    float eps;
} tf_norm;

/* Register "<prefix>.in_proj_weight", ... with PyTorch's init (rng NULL: zeros). */
dc_status tf_mha_init(tf_mha *a, dc_model *m, const char *prefix, int64_t E, int64_t H,
                      float dropout, int bias, int batch_first, dc_rng *rng);
/* Batch-first attention of q [N, Tq, E] over k, v [N, Tk, E] (q == k == v: one packed QKV
 * product). weights (may be NULL) receive the head-averaged weights [N, Tq, Tk]
 * (average = 0: [N, H, Tq, Tk]). res (may be NULL): the result is res + attention, one tensor
 * (dc_linear_residual: the pre-LN residual without keeping the output projection apart).
 * pre (may be NULL; self-attention with a norm weight and bias and an in_proj bias only): q is
 * the block's input and the packed product reads pre's LayerNorm of it (dc_layer_norm_linear:
 * the norm's output is not kept). */
dc_tensor *tf_mha_run(dc_ctx *ctx, const tf_mha *a, dc_tensor *q, dc_tensor *k, dc_tensor *v,
                      const dc_attn_masks *mk, dc_tensor **weights, int average, dc_tensor *res,
                      const tf_norm *pre);
dc_status tf_linear_init(tf_linear *l, dc_model *m, const char *prefix, const char *name,
                         int64_t in, int64_t out, dc_rng *rng);
dc_status tf_norm_init(tf_norm *n, dc_model *m, const char *prefix, const char *name,
                       int64_t D, float eps, int affine);
/* A MultiheadAttention module's E and layout (false for any other module). */
bool tf_mha_dims(const dc_module *m, int64_t *E, int *batch_first);
/* The attention called rest ("self_attn", "multihead_attn"; in a stack "layers.<i>.…") inside
 * the Transformer layer or stack m, or NULL (also for any other module). names gets the full
 * names of m's attentions appended, comma-separated (cut to fit size); *count counts them. */
tf_mha *tf_find_attention(dc_module *m, const char *rest, char *names, size_t size, int *count);
/* Switch the KV cache of a causal Transformer module (false for any other module). */
bool tf_kv_switch(dc_module *m, int on);
/* The parts of layer i of a Transformer encoder / decoder (layer or stack) module, for the
 * incremental decoder of tf_decode.c. False for any other module or i out of range. */
typedef struct tf_layer_view {
    const dc_tf_layer_opts *o;
    const tf_mha *self_attn, *cross_attn;   /* cross_attn: decoders only */
    const tf_linear *linear1, *linear2;
    const tf_norm *norm1, *norm2, *norm3;   /* norm3: decoders only */
    int n_layers, decoder, batch_first;
    const tf_norm *final;                    /* the stack's final norm, or NULL */
} tf_layer_view;
bool tf_layer_parts(const dc_module *m, int i, tf_layer_view *v);
/* x [N, T, E] <-> [T, N, E] (a copy; batch_first = 0 layouts). */
dc_tensor *tf_swap01(dc_ctx *ctx, dc_tensor *x);

#endif
