/*
 * rnn_layers.c - the RNN, LSTM and GRU modules (PyTorch nn.RNN/nn.LSTM/nn.GRU): a stack of
 * dc_rnn_layer calls, one per layer and direction, with the directions joined by dc_concat and
 * the states taken from the packed op output with dc_slice, so that the tape differentiates
 * through everything. Parameters use PyTorch's state_dict names (weight_ih_l0_reverse, ...).
 */
#include "nn/layer_desc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RNN_MAX_LAYERS 16

typedef struct rnn_mod {
    dc_module base;
    dc_rnn_opts o;
    dc_tensor *p[RNN_MAX_LAYERS][2][4]; /* [layer][direction]: w_ih, w_hh, b_ih, b_hh (or NULL) */
    int carry;                          /* DC_CARRY_ON: start from the last final states */
    dc_tensor *h, *c;                   /* carried final states [L·D, N, H] (heap), or NULL */
} rnn_mod;

dc_rnn_opts dc_rnn_defaults(dc_rnn_kind kind, int64_t input_size, int64_t hidden_size)
{
    return (dc_rnn_opts){.kind = kind, .input_size = input_size, .hidden_size = hidden_size,
                         .num_layers = 1, .bias = 1};
}

static int64_t rnn_gates(dc_rnn_kind k) { return k == DC_LSTM ? 4 : k == DC_GRU ? 3 : 1; }

static void forget_state(rnn_mod *r)
{
    dc_tensor_free(r->h);
    dc_tensor_free(r->c);
    r->h = r->c = NULL;
}

static void rnn_carry(dc_module *m, int mode)
{
    rnn_mod *r = (rnn_mod *)m;
    forget_state(r);
    if (mode != DC_CARRY_RESET)
        r->carry = mode == DC_CARRY_ON;
}

static void rnn_destroy(dc_module *m) { forget_state((rnn_mod *)m); }

/* An arena copy of a carried state: the forward reads it again during backward (dW_hh needs
 * h_0), after the carried state has been overwritten with this forward's final state. */
static dc_tensor *arena_copy(dc_ctx *ctx, const dc_tensor *s)
{
    if (!s)
        return NULL;
    dc_tensor *t = dc_empty(ctx, DC_F32, s->ndim, s->shape);
    if (t)
        memcpy(t->data, s->data, sizeof(float) * (size_t)s->numel);
    return t;
}

/* *dst = a heap copy of src (reusing *dst when the shape matches). */
static dc_status keep_copy(dc_tensor **dst, const dc_tensor *src)
{
    if (!src)
        return DC_OK;
    if (!*dst || !dc_same_shape(*dst, src)) {
        dc_tensor_free(*dst);
        if (!(*dst = dc_tensor_new(DC_F32, src->ndim, src->shape)))
            return DC_ERR_NOMEM;
    }
    memcpy((*dst)->data, src->data, sizeof(float) * (size_t)src->numel);
    return DC_OK;
}

static dc_tensor *rnn_module_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    rnn_mod *r = (rnn_mod *)m;
    if (!r->carry)
        return dc_rnn_forward(ctx, m, x, NULL, NULL, NULL, NULL);
    if (!x)
        return NULL;
    const int64_t N = x->ndim == 3 ? x->shape[r->o.batch_first ? 0 : 1] : -1;
    dc_tensor *h0 = NULL, *c0 = NULL, *hn = NULL, *cn = NULL;
    if (r->h && r->h->shape[1] == N) {
        if (!(h0 = arena_copy(ctx, r->h)) || (r->c && !(c0 = arena_copy(ctx, r->c))))
            return NULL;
    }
    dc_tensor *y = dc_rnn_forward(ctx, m, x, h0, c0, &hn, &cn);
    if (y && (keep_copy(&r->h, hn) != DC_OK || keep_copy(&r->c, cn) != DC_OK)) {
        forget_state(r);
        return dc_err_null(DC_ERR_NOMEM, "%s %s: out of memory for the carried state",
                           m->type, m->name);
    }
    return y;
}

/* Per step: G·H·(I_k + H) multiply-accumulates per layer and direction. */
static int64_t rnn_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y)
{
    const rnn_mod *r = (const rnn_mod *)m;
    const int64_t H = r->o.hidden_size, D = r->o.bidirectional ? 2 : 1;
    const int64_t steps = x->ndim == 3 ? x->shape[0] * x->shape[1] : 0;
    int64_t per = 0;
    for (int k = 0; k < r->o.num_layers; k++)
        per += D * rnn_gates(r->o.kind) * H * ((k ? D * H : r->o.input_size) + H);
    return steps * per;
}

static dc_tensor *add_p(dc_model *m, const char *name, const char *what, int k, int rev,
                        int ndim, int64_t r, int64_t c)
{
    char key[64], full[160];
    snprintf(key, sizeof key, "%s_l%d%s", what, k, rev ? "_reverse" : "");
    if (!dc_join_name(full, sizeof full, name, key))
        return dc_err_null(DC_ERR_ARG, "RNN %s: name too long", name);
    return dc_model_add_param(m, full, DC_F32, ndim, ndim == 2 ? DC_SHAPE(r, c) : DC_SHAPE(r), 0);
}

static const char *type_name(dc_rnn_kind k)
{
    return k == DC_LSTM ? "LSTM" : k == DC_GRU ? "GRU" : "RNN";
}

dc_module *dc_rnn_new(dc_model *m, const char *name, const dc_rnn_opts *o, dc_rng *rng)
{
    const char *nm = name ? name : "?";
    if (!m || !o || o->kind < DC_RNN_TANH || o->kind > DC_GRU || o->input_size < 1 ||
        o->hidden_size < 1 || o->num_layers < 1 || o->num_layers > RNN_MAX_LAYERS ||
        !(o->dropout >= 0.0f && o->dropout < 1.0f))
        return dc_err_null(DC_ERR_ARG, "RNN %s: needs a model, a known kind, input_size and "
                           "hidden_size > 0, 1 <= num_layers <= %d and dropout in [0, 1)", nm,
                           RNN_MAX_LAYERS);
    rnn_mod *r = dc_module_alloc(sizeof *r, type_name(o->kind), name, rnn_module_forward);
    if (!r)
        return NULL;
    r->o = *o;
    r->base.carry = rnn_carry;
    r->base.destroy = rnn_destroy;
    const int64_t H = o->hidden_size, GH = rnn_gates(o->kind) * H;
    const int D = o->bidirectional ? 2 : 1;
    for (int k = 0; k < o->num_layers; k++)
        for (int d = 0; d < D; d++) {
            dc_tensor **p = r->p[k][d];
            const int64_t in = k ? D * H : o->input_size;
            if (!(p[0] = add_p(m, nm, "weight_ih", k, d, 2, GH, in)) ||
                !(p[1] = add_p(m, nm, "weight_hh", k, d, 2, GH, H)) ||
                (o->bias && (!(p[2] = add_p(m, nm, "bias_ih", k, d, 1, GH, 0)) ||
                             !(p[3] = add_p(m, nm, "bias_hh", k, d, 1, GH, 0)))))
                goto fail;
        }
    if (rng) { /* PyTorch: every weight and bias U(±1/√H), in registration order */
        const float bound = 1.0f / sqrtf((float)H);
        for (int k = 0; k < o->num_layers; k++)
            for (int d = 0; d < D; d++)
                for (int j = 0; j < 4; j++)
                    if (r->p[k][d][j])
                        dc_tensor_uniform(r->p[k][d][j], rng, -bound, bound);
    }
    return &r->base;
fail:
    free(r);
    return NULL;
}

/* Initial state k of s [L·D, N, H] (NULL stays NULL). */
static dc_tensor *state_at(dc_ctx *ctx, dc_tensor *s, int k)
{
    return s ? dc_slice(ctx, s, 0, k, k + 1, 1) : NULL;
}

/* Check the initial state s against [L·D, N, H]. */
static bool check_state(const rnn_mod *r, const dc_tensor *s, const char *what, int64_t N)
{
    const int64_t LD = (int64_t)r->o.num_layers * (r->o.bidirectional ? 2 : 1);
    if (!s || (s->ndim == 3 && s->shape[0] == LD && s->shape[1] == N &&
               s->shape[2] == r->o.hidden_size))
        return true;
    char b[64];
    dc_err(DC_ERR_SHAPE, "%s %s: %s must be [L·D, N, H] = [%lld, %lld, %lld], got %s",
           r->base.type, r->base.name, what, (long long)LD, (long long)N,
           (long long)r->o.hidden_size, dc_shape_str(s, b, sizeof b));
    return false;
}

/* Layer k in both directions on seq [T, N, I_k]: returns [T, N, D·H]; final states into hs/cs. */
static dc_tensor *run_layer(dc_ctx *ctx, const rnn_mod *r, int k, dc_tensor *seq, dc_tensor *h0,
                            dc_tensor *c0, dc_tensor **hs, dc_tensor **cs)
{
    const int D = r->o.bidirectional ? 2 : 1;
    const int64_t T = seq->shape[0];
    dc_tensor *outs[2] = {NULL, NULL};
    for (int d = 0; d < D; d++) {
        dc_tensor *const *p = r->p[k][d];
        const int si = k * D + d;
        dc_tensor *y = dc_rnn_layer(ctx, r->o.kind, seq, p[0], p[1], p[2], p[3],
                                    state_at(ctx, h0, si), state_at(ctx, c0, si), d);
        if (!y)
            return NULL;
        outs[d] = dc_slice(ctx, y, 0, 0, T, 1);
        hs[si] = dc_slice(ctx, y, 0, T, T + 1, 1);
        if (r->o.kind == DC_LSTM)
            cs[si] = dc_slice(ctx, y, 0, T + 1, T + 2, 1);
    }
    return D == 1 ? outs[0] : dc_concat(ctx, outs, 2, 2);
}

dc_tensor *dc_rnn_forward(dc_ctx *ctx, dc_module *rnn, dc_tensor *x, dc_tensor *h0,
                          dc_tensor *c0, dc_tensor **h_n, dc_tensor **c_n)
{
    if (h_n)
        *h_n = NULL;
    if (c_n)
        *c_n = NULL;
    if (!x || !rnn)
        return NULL;
    if (rnn->forward != rnn_module_forward)
        return dc_err_null(DC_ERR_ARG, "rnn_forward: module %s is a %s, not an RNN/LSTM/GRU",
                           rnn->name, rnn->type);
    const rnn_mod *r = (const rnn_mod *)rnn;
    const int bf = r->o.batch_first, D = r->o.bidirectional ? 2 : 1;
    char b[64];
    if (!dc_check_f32(rnn->type, x, "input"))
        return NULL;
    if (x->ndim != 3 || x->shape[2] != r->o.input_size || x->shape[0] < 1 || x->shape[1] < 1)
        return dc_err_null(DC_ERR_SHAPE, "%s %s: input must be %s with I = %lld, got %s",
                           rnn->type, rnn->name, bf ? "[N, T, I]" : "[T, N, I]",
                           (long long)r->o.input_size, dc_shape_str(x, b, sizeof b));
    const int64_t N = x->shape[bf ? 0 : 1];
    if (!check_state(r, h0, "h0", N) || !check_state(r, c0, "c0", N))
        return NULL;
    if (c0 && r->o.kind != DC_LSTM)
        return dc_err_null(DC_ERR_ARG, "%s %s: c0 is for LSTM only", rnn->type, rnn->name);
    dc_tensor *hs[2 * RNN_MAX_LAYERS] = {0}, *cs[2 * RNN_MAX_LAYERS] = {0};
    dc_tensor *seq = bf ? dc_transpose(ctx, x, 0, 1) : x;
    for (int k = 0; k < r->o.num_layers && seq; k++) {
        if (k > 0 && r->o.dropout > 0.0f)
            seq = dc_dropout(ctx, seq, r->o.dropout);
        seq = seq ? run_layer(ctx, r, k, seq, h0, c0, hs, cs) : NULL;
    }
    if (!seq)
        return NULL;
    dc_tensor *out = bf ? dc_transpose(ctx, seq, 0, 1) : seq;
    const int n = r->o.num_layers * D;
    if (out && h_n && !(*h_n = n == 1 ? hs[0] : dc_concat(ctx, hs, n, 0)))
        return NULL;
    if (out && c_n && r->o.kind == DC_LSTM && !(*c_n = n == 1 ? cs[0] : dc_concat(ctx, cs, n, 0)))
        return NULL;
    return out;
}

/* ---- descriptors (src/nn/layer_desc.h) ---- */

/* rnn / lstm / gru: input [N, T, I] (batch_first, the spec default) or [T, N, I]. The keys
 * after nonlinearity sit one later for rnn, which has it. */
static dc_module *build_rnn(dc_layer_args *a)
{
    const char *t = a->desc->type;
    dc_rnn_kind kind = !strcmp(t, "lstm") ? DC_LSTM : !strcmp(t, "gru") ? DC_GRU : DC_RNN_TANH;
    dc_rnn_opts o = dc_rnn_defaults(kind, a->v[0].i[0], a->v[1].i[0]);
    int k = 3;
    o.num_layers = (int)a->v[2].i[0];
    if (kind == DC_RNN_TANH && a->v[k++].word == 2)
        o.kind = DC_RNN_RELU;
    o.bias = (int)a->v[k].i[0];
    o.batch_first = (int)a->v[k + 1].i[0];
    o.bidirectional = (int)a->v[k + 2].i[0];
    o.dropout = (float)a->v[k + 3].f;
    return dc_rnn_new(a->m, a->name, &o, a->rng);
}

#define RNN_KEYS_HEAD                                                                         \
    DC_KEY_IN_DIM("input_size", -1, "the input's last dim"),                                   \
    DC_KEY_I("hidden_size", NULL, 1, 1 << 20, "state size H"),                                 \
    DC_KEY_I("num_layers", "1", 1, 16, "stacked layers")
#define RNN_KEYS_TAIL                                                                         \
    DC_KEY_B("bias", "true", "the b_ih and b_hh biases"),                                      \
    DC_KEY_B("batch_first", "true", "[N, T, I] (true) or [T, N, I]"),                          \
    DC_KEY_B("bidirectional", "false", "a second pass backwards; output 2·H"),                 \
    DC_KEY_F("dropout", "0", 0, 0.999999, "dropout between layers in training")

static const dc_layer_key rnn_keys[] = {
    RNN_KEYS_HEAD,
    {"nonlinearity", DC_KEY_WORD, "tanh", 0, 0, 1, 1, "tanh|relu", 0, "`tanh` or `relu`"},
    RNN_KEYS_TAIL,
};
static const dc_layer_key lstm_keys[] = {RNN_KEYS_HEAD, RNN_KEYS_TAIL};

#define RNN_PARAMS "weight_ih_l{k} weight_hh_l{k} bias_ih_l{k} bias_hh_l{k} (+ _reverse)"
#define RNN_DESC(id, mod, key_table, n, formula, gc)                                              \
    const dc_layer_desc dc_layer_##id = {                                                    \
        .type = #id, .module = mod, .torch = "nn." mod " (the output sequence only)",        \
        .doc = formula ": [N, T, I] -> [N, T, D·H]", .min_ndim = 3, .max_ndim = 3,           \
        .rank_msg = "needs a sequence input [N, T, I] (batch included)", .keys = key_table,       \
        .n_keys = n, .build = build_rnn, .params = RNN_PARAMS, .macs = rnn_macs,             \
        .gradcheck = gc,                                                                     \
    }
RNN_DESC(rnn, "RNN", rnn_keys, 8, "Elman RNN h' = act(W_ih x + W_hh h + b)", "rnn_");
RNN_DESC(lstm, "LSTM", lstm_keys, 7, "LSTM (PyTorch gate order i, f, g, o)", "lstm");
RNN_DESC(gru, "GRU", lstm_keys, 7, "GRU (PyTorch gate order r, z, n)", "gru");
