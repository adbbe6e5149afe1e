/*
 * transformer_spec.c - the layer descriptors (src/nn/layer_desc.h) of the Transformer modules:
 * layernorm, positional, multiheadattention, transformerencoderlayer, transformerdecoderlayer,
 * transformerencoder, transformerdecoder. Spec defaults are PyTorch's except batch_first, which
 * is true as for the recurrent layers (the spec's sequences are [N, T, ...]).
 *
 * Inputs: a decoder takes `input = tgt, memory` (the encoder's output, named by its layer);
 * any of the encoder / decoder types also takes an int64 ids input (`input = h, input`) whose
 * padding_idx positions are hidden as keys: an encoder's own, a decoder's memory (the source).
 */
#include "nn/layer_desc.h"

#include <string.h>

static dc_module *build_layer_norm(dc_layer_args *a)
{
    return dc_layer_norm_new(a->m, a->name, a->v[0].i[0], (float)a->v[1].f, (int)a->v[2].i[0]);
}

static const dc_layer_key layer_norm_keys[] = {
    DC_KEY_IN_DIM("normalized_shape", -1, "the input's last dim D (normalised over)"),
    DC_KEY_F("eps", "1e-05", 0, 1, "added to the variance"),
    DC_KEY_B("elementwise_affine", "true", "the weight and bias [D]"),
};
const dc_layer_desc dc_layer_layernorm = {
    .type = "layernorm", .aliases = "LayerNorm layer_norm", .module = "LayerNorm",
    .torch = "nn.LayerNorm(D)",
    .doc = "(x − mean)/√(var + eps)·weight + bias over the last dim: [N, ..., D] -> same",
    .min_ndim = 2, .keys = layer_norm_keys, .n_keys = 3, .build = build_layer_norm,
    .params = "weight bias", .gradcheck = "layer_norm",
};

static dc_module *build_positional(dc_layer_args *a)
{
    const dc_posenc_kind k = a->v[0].word == 2 ? DC_POS_SINUSOIDAL : DC_POS_LEARNED;
    if (a->v[1].i[0] < a->x->shape[a->v[3].i[0] ? 1 : 0])
        return dc_layer_refuse(a, 1, "%lld is shorter than the input's %lld positions",
                               (long long)a->v[1].i[0],
                               (long long)a->x->shape[a->v[3].i[0] ? 1 : 0]);
    return dc_positional_new(a->m, a->name, k, a->v[1].i[0], a->v[2].i[0], (int)a->v[3].i[0],
                             a->rng);
}

static const dc_layer_key positional_keys[] = {
    {"kind", DC_KEY_WORD, "learned", 0, 0, 1, 1, "learned|sinusoidal", 0,
     "`learned` (an Embedding over positions: weight) or `sinusoidal` (a fixed table, no "
     "parameters)"},
    DC_KEY_I("max_len", NULL, 1, 1 << 24, "the most positions"),
    DC_KEY_IN_DIM("embedding_dim", -1, "the input's last dim E"),
    DC_KEY_B("batch_first", "true", "[N, T, E] (true) or [T, N, E]"),
};
const dc_layer_desc dc_layer_positional = {
    .type = "positional", .aliases = "PositionalEncoding positional_encoding",
    .module = "PositionalEncoding", .torch = "x + pos(arange(T)) / x + pe[:T] (a buffer)",
    .doc = "adds a position vector to each step: [N, T, E] -> [N, T, E]", .min_ndim = 3,
    .max_ndim = 3, .rank_msg = "needs a sequence of vectors [N, T, E] (batch included)",
    .keys = positional_keys, .n_keys = 4, .build = build_positional,
    .params = "weight (learned only)", .gradcheck = "PositionalEncoding",
};

static dc_module *build_mha(dc_layer_args *a)
{
    if (a->v[0].i[0] % a->v[1].i[0])
        return dc_layer_refuse(a, 1, "%lld heads do not divide embed_dim %lld",
                               (long long)a->v[1].i[0], (long long)a->v[0].i[0]);
    return dc_mha_new(a->m, a->name, a->v[0].i[0], a->v[1].i[0], (float)a->v[2].f,
                      (int)a->v[3].i[0], (int)a->v[4].i[0], (int)a->v[5].i[0], a->rng);
}

static const dc_layer_key mha_keys[] = {
    DC_KEY_IN_DIM("embed_dim", -1, "the input's last dim E"),
    DC_KEY_I("num_heads", NULL, 1, 4096, "heads H (E/H channels each)"),
    DC_KEY_F("dropout", "0", 0, 0.999999, "dropout on the attention weights in training"),
    DC_KEY_B("bias", "true", "in_proj_bias and out_proj.bias"),
    DC_KEY_B("batch_first", "true", "[N, T, E] (true) or [T, N, E]"),
    DC_KEY_B("causal", "false", "hide later positions (self-attention)"),
};
const dc_layer_desc dc_layer_multiheadattention = {
    .type = "multiheadattention", .aliases = "MultiheadAttention mha attention",
    .module = "MultiheadAttention", .torch = "nn.MultiheadAttention (output only)",
    .doc = "self-attention of [N, T, E] (one input) or of x over a memory (`input = x, mem`)",
    .min_ndim = 3, .max_ndim = 3, .rank_msg = "needs a sequence [N, T, E] (batch included)",
    .keys = mha_keys, .n_keys = 6, .build = build_mha,
    .params = "in_proj_weight in_proj_bias out_proj.weight out_proj.bias",
    .gradcheck = "MultiheadAttention",
};

/* keys 0..9 of every encoder / decoder type, then num_layers and norm for the stacks */
#define TF_KEYS                                                                                \
    DC_KEY_IN_DIM("d_model", -1, "the input's last dim E"),                                    \
    DC_KEY_I("nhead", NULL, 1, 4096, "attention heads (E/nhead channels each)"),               \
    DC_KEY_I("dim_feedforward", "2048", 1, 1 << 24, "the feed-forward block's width"),         \
    DC_KEY_F("dropout", "0.1", 0, 0.999999, "dropout (attention weights, blocks) in training"), \
    {"activation", DC_KEY_WORD, "relu", 0, 0, 1, 1, "relu|gelu", 0, "`relu` or `gelu`"},       \
    DC_KEY_F("layer_norm_eps", "1e-05", 0, 1, "the LayerNorms' eps"),                          \
    DC_KEY_B("batch_first", "true", "[N, T, E] (true) or [T, N, E]"),                          \
    DC_KEY_B("norm_first", "false", "pre-LN (true) or post-LN (false)"),                       \
    DC_KEY_B("causal", "false", "self-attention hides later positions"),                       \
    {"padding_idx", DC_KEY_INT, "none", 0, 0x1p40, 1, 1, "none", 0,                             \
     "`none`, or the id of padding in an int64 ids input (hidden as keys)"}

static dc_module *build_tf(dc_layer_args *a)
{
    const char *t = a->desc->type;
    const int decoder = strstr(t, "decoder") != NULL, stack = a->desc->n_keys > 10;
    dc_tf_layer_opts o = dc_tf_layer_defaults(a->v[0].i[0], a->v[1].i[0]);
    if (o.d_model % o.nhead)
        return dc_layer_refuse(a, 1, "%lld heads do not divide d_model %lld",
                               (long long)o.nhead, (long long)o.d_model);
    o.dim_feedforward = a->v[2].i[0];
    o.dropout = (float)a->v[3].f;
    o.gelu = a->v[4].word == 2;
    o.layer_norm_eps = (float)a->v[5].f;
    o.batch_first = (int)a->v[6].i[0];
    o.norm_first = (int)a->v[7].i[0];
    o.causal = (int)a->v[8].i[0];
    o.padding_idx = a->v[9].word ? -1 : a->v[9].i[0];
    if (!stack)
        return decoder ? dc_decoder_layer_new(a->m, a->name, &o, a->rng)
                       : dc_encoder_layer_new(a->m, a->name, &o, a->rng);
    return decoder ? dc_decoder_new(a->m, a->name, &o, (int)a->v[10].i[0], (int)a->v[11].i[0],
                                    a->rng)
                   : dc_encoder_new(a->m, a->name, &o, (int)a->v[10].i[0], (int)a->v[11].i[0],
                                    a->rng);
}

static const dc_layer_key tf_layer_keys[] = {TF_KEYS};
static const dc_layer_key tf_stack_keys[] = {
    TF_KEYS,
    DC_KEY_I("num_layers", NULL, 1, 1024, "layers in the stack (layers.0 ...)"),
    DC_KEY_B("norm", "false", "a final LayerNorm (norm.weight, norm.bias)"),
};

#define TF_PARAMS_ENC "self_attn.{in_proj_weight,in_proj_bias,out_proj.weight,out_proj.bias} " \
                      "linear1.{weight,bias} linear2.{weight,bias} norm1.{weight,bias} "       \
                      "norm2.{weight,bias}"
#define TF_PARAMS_DEC "self_attn.* multihead_attn.* linear1.* linear2.* norm1.* norm2.* norm3.*"
#define TF_RANK .min_ndim = 3, .max_ndim = 3, \
                .rank_msg = "needs a sequence [N, T, E] (batch included)"

const dc_layer_desc dc_layer_transformerencoderlayer = {
    .type = "transformerencoderlayer", .aliases = "TransformerEncoderLayer encoder_layer",
    .module = "TransformerEncoderLayer", .torch = "nn.TransformerEncoderLayer",
    .doc = "self-attention and feed-forward blocks with residuals and LayerNorms: [N, T, E] -> "
           "[N, T, E]", TF_RANK,
    .keys = tf_layer_keys, .n_keys = 10, .build = build_tf, .params = TF_PARAMS_ENC,
    .gradcheck = "TransformerEncoderLayer",
};
const dc_layer_desc dc_layer_transformerdecoderlayer = {
    .type = "transformerdecoderlayer", .aliases = "TransformerDecoderLayer decoder_layer",
    .module = "TransformerDecoderLayer", .torch = "nn.TransformerDecoderLayer",
    .doc = "self-attention, attention over the memory (`input = tgt, memory`), feed-forward: "
           "[N, T, E] -> [N, T, E]", TF_RANK,
    .keys = tf_layer_keys, .n_keys = 10, .build = build_tf, .params = TF_PARAMS_DEC,
    .gradcheck = "TransformerDecoderLayer",
};
const dc_layer_desc dc_layer_transformerencoder = {
    .type = "transformerencoder", .aliases = "TransformerEncoder",
    .module = "TransformerEncoder", .torch = "nn.TransformerEncoder (+ norm)",
    .doc = "num_layers encoder layers (layers.<i>.…), then an optional final LayerNorm",
    TF_RANK, .keys = tf_stack_keys, .n_keys = 12, .build = build_tf,
    .params = "layers.<i>." TF_PARAMS_ENC " (norm.{weight,bias})",
    .gradcheck = "TransformerEncoderLayer",
};
const dc_layer_desc dc_layer_transformerdecoder = {
    .type = "transformerdecoder", .aliases = "TransformerDecoder",
    .module = "TransformerDecoder", .torch = "nn.TransformerDecoder (+ norm)",
    .doc = "num_layers decoder layers over the memory (`input = tgt, memory`), optional norm",
    TF_RANK, .keys = tf_stack_keys, .n_keys = 12, .build = build_tf,
    .params = "layers.<i>." TF_PARAMS_DEC " (norm.{weight,bias})",
    .gradcheck = "TransformerDecoderLayer",
};
