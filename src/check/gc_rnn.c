/*
 * gc_rnn.c - gradient-check cases for the recurrent layers (RNN tanh/relu, LSTM, GRU): 1 and 2
 * layers, bidirectional, batch_first true and false, with and without bias and initial states.
 *
 * A setup builds a one-module model from a config row and exposes x, every parameter and the
 * initial states (h0, c0 when the row asks for them) as inputs. The forward returns the output
 * sequence and the final states flattened and joined, so every piece is checked.
 */
#include "gradcheck.h"

#include <stdlib.h>

typedef struct rnn_cfg {
    dc_rnn_kind kind;
    int layers, bidir, batch_first, bias, h0, c0;
} rnn_cfg;

static const rnn_cfg rnn_cfgs[] = {
    {DC_RNN_TANH, 1, 0, 0, 1, 1, 0}, /* 0 rnn tanh, h0, [T, N, I] */
    {DC_RNN_RELU, 2, 0, 1, 1, 0, 0}, /* 1 rnn relu, 2 layers, batch_first */
    {DC_RNN_TANH, 2, 1, 1, 1, 1, 0}, /* 2 rnn tanh, 2 layers bidirectional, h0 */
    {DC_LSTM, 1, 0, 0, 1, 1, 1},     /* 3 lstm, h0 c0 */
    {DC_LSTM, 2, 0, 1, 1, 1, 1},     /* 4 lstm 2 layers, batch_first, h0 c0 */
    {DC_LSTM, 1, 1, 1, 1, 0, 0},     /* 5 lstm bidirectional */
    {DC_LSTM, 2, 1, 0, 0, 1, 1},     /* 6 lstm 2 layers bidirectional, no bias, h0 c0 */
    {DC_GRU, 1, 0, 0, 1, 1, 0},      /* 7 gru, h0 */
    {DC_GRU, 2, 0, 1, 1, 0, 0},      /* 8 gru 2 layers, batch_first */
    {DC_GRU, 1, 1, 1, 1, 1, 0},      /* 9 gru bidirectional, h0 */
    {DC_GRU, 2, 1, 0, 0, 1, 0},      /* 10 gru 2 layers bidirectional, no bias, h0 */
};

enum { T_ = 3, N_ = 2, I_ = 3, H_ = 3 };

typedef struct rnn_state {
    dc_model *m;
    const rnn_cfg *c;
    int h0, c0; /* indices of the states in ins, or 0 */
} rnn_state;

static void rnn_teardown(dc_tensor **in, int n, void *st)
{
    for (int i = 0; i < n; i++)
        if (in[i] && !(in[i]->flags & DC_TF_PARAM))
            dc_tensor_free(in[i]);
    if (st)
        dc_model_free(((rnn_state *)st)->m);
    free(st);
}

static int rnn_setup(const rnn_cfg *c, dc_rng *r, dc_tensor **ins, void **st)
{
    rnn_state *s = calloc(1, sizeof *s);
    dc_model *m = dc_model_new();
    dc_rnn_opts o = dc_rnn_defaults(c->kind, I_, H_);
    o.num_layers = c->layers;
    o.bidirectional = c->bidir;
    o.batch_first = c->batch_first;
    o.bias = c->bias;
    dc_module *mod = m ? dc_rnn_new(m, "rnn", &o, r) : NULL;
    if (!s || !mod || dc_model_add(m, mod) != DC_OK) {
        free(s);
        dc_model_free(m);
        return -1;
    }
    s->m = m;
    s->c = c;
    *st = s;
    int n = 0;
    const int64_t LD = c->layers * (c->bidir ? 2 : 1);
    ins[n++] = gc_param(r, 3, c->batch_first ? DC_SHAPE(N_, T_, I_) : DC_SHAPE(T_, N_, I_), -1, 1);
    for (int i = 0; i < dc_model_n_tensors(m) && n < GC_MAX_IN - 2; i++)
        ins[n++] = dc_model_tensor(m, i);
    if (c->h0) {
        s->h0 = n;
        ins[n++] = gc_param(r, 3, DC_SHAPE(LD, N_, H_), -1, 1);
    }
    if (c->c0) {
        s->c0 = n;
        ins[n++] = gc_param(r, 3, DC_SHAPE(LD, N_, H_), -1, 1);
    }
    for (int i = 0; i < n; i++)
        if (!ins[i])
            return -1;
    return n;
}

static dc_tensor *flat(dc_ctx *ctx, dc_tensor *t) { return dc_reshape(ctx, t, 1, DC_SHAPE(-1)); }

static dc_tensor *rnn_fwd(dc_ctx *ctx, dc_tensor **ins, void *st)
{
    rnn_state *s = st;
    dc_tensor *h_n = NULL, *c_n = NULL;
    dc_tensor *y = dc_rnn_forward(ctx, dc_model_module(s->m, 0), ins[0],
                                  s->h0 ? ins[s->h0] : NULL, s->c0 ? ins[s->c0] : NULL, &h_n,
                                  &c_n);
    if (!y)
        return NULL;
    dc_tensor *parts[3] = {flat(ctx, y), flat(ctx, h_n), c_n ? flat(ctx, c_n) : NULL};
    return dc_concat(ctx, parts, c_n ? 3 : 2, 0);
}

#define RNN_SETUP(i)                                                                      \
    static int rnn_setup_##i(dc_rng *r, dc_tensor **ins, void **st)                       \
    {                                                                                     \
        return rnn_setup(&rnn_cfgs[i], r, ins, st);                                       \
    }
RNN_SETUP(0)
RNN_SETUP(1)
RNN_SETUP(2)
RNN_SETUP(3)
RNN_SETUP(4)
RNN_SETUP(5)
RNN_SETUP(6)
RNN_SETUP(7)
RNN_SETUP(8)
RNN_SETUP(9)
RNN_SETUP(10)

#define CASE(name, i) {name, rnn_setup_##i, rnn_fwd, rnn_teardown, 0, 0, 0}
static const gc_case cases[] = {
    CASE("rnn_tanh 1 layer, h0, [T,N,I]", 0),
    CASE("rnn_relu 2 layers, batch_first", 1),
    CASE("rnn_tanh 2 layers bidirectional, h0, batch_first", 2),
    CASE("lstm 1 layer, h0 c0, [T,N,I]", 3),
    CASE("lstm 2 layers, h0 c0, batch_first", 4),
    CASE("lstm bidirectional, batch_first", 5),
    CASE("lstm 2 layers bidirectional, no bias, h0 c0", 6),
    CASE("gru 1 layer, h0, [T,N,I]", 7),
    CASE("gru 2 layers, batch_first", 8),
    CASE("gru bidirectional, h0, batch_first", 9),
    CASE("gru 2 layers bidirectional, no bias, h0", 10),
};
const gc_list gc_rnn = {cases, (int)(sizeof cases / sizeof *cases)};
