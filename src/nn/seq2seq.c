/*
 * seq2seq.c - an encoder-decoder over token sequences (Sutskever et al. 2014, without attention):
 *
 *   encoder:  (_, state) = RNN_enc(enc_embed[src])              src [N, S] -> state [L, N, H]
 *   decoder:  (o, _)     = RNN_dec(dec_embed[prev], state)      prev [N, T] -> o [N, T, H]
 *             logits     = out(o)                               -> [N, T, V_t]
 *
 * The encoder's final states (h, and c for LSTM) are the decoder's initial states, layer by
 * layer, so all the decoder knows about the source passes through them. Training feeds the
 * decoder the true previous tokens (teacher forcing); inference feeds back its own arg-max one
 * step at a time, carrying the states between calls. The modules are not chained into the
 * model's graph (the model only holds the parameters): the loop lives here, in C.
 */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

struct dc_seq2seq {
    dc_seq2seq_opts o;
    dc_model *m;       /* parameters, in state_dict order */
    dc_module *enc_embed, *encoder, *dec_embed, *decoder, *out; /* owned here, not by m */
};

dc_seq2seq_opts dc_seq2seq_defaults(int64_t src_vocab, int64_t tgt_vocab, int64_t bos_id,
                                    int64_t eos_id)
{
    return (dc_seq2seq_opts){.kind = DC_GRU, .src_vocab = src_vocab, .tgt_vocab = tgt_vocab,
                             .embed_dim = 32, .hidden_size = 128, .num_layers = 1,
                             .pad_id = -1, .bos_id = bos_id, .eos_id = eos_id};
}

static void free_module(dc_module *mod)
{
    if (mod && mod->destroy)
        mod->destroy(mod);
    free(mod);
}

void dc_seq2seq_free(dc_seq2seq *s)
{
    if (!s)
        return;
    free_module(s->enc_embed);
    free_module(s->encoder);
    free_module(s->dec_embed);
    free_module(s->decoder);
    free_module(s->out);
    dc_model_free(s->m);
    free(s);
}

static dc_status check_opts(const dc_seq2seq_opts *o)
{
    if (!o)
        return dc_err(DC_ERR_ARG, "seq2seq: options are NULL");
    if (o->src_vocab < 1 || o->tgt_vocab < 1 || o->embed_dim < 1 || o->hidden_size < 1)
        return dc_err(DC_ERR_ARG, "seq2seq: vocabularies (%lld, %lld), embed_dim %lld and "
                      "hidden_size %lld must be >= 1", (long long)o->src_vocab,
                      (long long)o->tgt_vocab, (long long)o->embed_dim,
                      (long long)o->hidden_size);
    const int64_t vmin = o->src_vocab < o->tgt_vocab ? o->src_vocab : o->tgt_vocab;
    if (o->pad_id < -1 || o->pad_id >= vmin)
        return dc_err(DC_ERR_ARG, "seq2seq: pad_id %lld must be -1 or an id of both "
                      "vocabularies (< %lld)", (long long)o->pad_id, (long long)vmin);
    if (o->bos_id < 0 || o->bos_id >= o->tgt_vocab || o->eos_id < 0 ||
        o->eos_id >= o->tgt_vocab || o->bos_id == o->eos_id || o->bos_id == o->pad_id ||
        o->eos_id == o->pad_id)
        return dc_err(DC_ERR_ARG, "seq2seq: bos_id %lld and eos_id %lld must be distinct ids of "
                      "the target vocabulary [0, %lld), other than pad_id %lld",
                      (long long)o->bos_id, (long long)o->eos_id, (long long)o->tgt_vocab,
                      (long long)o->pad_id);
    return DC_OK;
}

dc_seq2seq *dc_seq2seq_new(const dc_seq2seq_opts *o, dc_rng *rng)
{
    if (check_opts(o) != DC_OK)
        return NULL;
    dc_seq2seq *s = calloc(1, sizeof *s);
    if (!s)
        return dc_err_null(DC_ERR_NOMEM, "seq2seq: out of memory");
    s->o = *o;
    dc_rnn_opts r = dc_rnn_defaults(o->kind, o->embed_dim, o->hidden_size);
    r.num_layers = o->num_layers;
    r.batch_first = 1;
    /* PyTorch initialises in construction order; the same order here gives the same draws */
    if (!(s->m = dc_model_new()) ||
        !(s->enc_embed = dc_embedding_new(s->m, "enc_embed", o->src_vocab, o->embed_dim,
                                          o->pad_id, rng)) ||
        !(s->encoder = dc_rnn_new(s->m, "encoder", &r, rng)) ||
        !(s->dec_embed = dc_embedding_new(s->m, "dec_embed", o->tgt_vocab, o->embed_dim,
                                          o->pad_id, rng)) ||
        !(s->decoder = dc_rnn_new(s->m, "decoder", &r, rng)) ||
        !(s->out = dc_linear_new(s->m, "out", o->hidden_size, o->tgt_vocab, 1, rng))) {
        dc_err_prefix("seq2seq: ");
        dc_seq2seq_free(s);
        return NULL;
    }
    return s;
}

dc_model *dc_seq2seq_model(dc_seq2seq *s) { return s ? s->m : NULL; }

const dc_seq2seq_opts *dc_seq2seq_options(const dc_seq2seq *s) { return s ? &s->o : NULL; }

/* ids must be int64 [N, T] with N, T >= 1 (and N == n when n > 0). */
static dc_status check_ids(const char *fn, const dc_tensor *ids, const char *what, int64_t n)
{
    char b[64];
    if (!ids)
        return dc_err(DC_ERR_ARG, "%s: %s is NULL", fn, what);
    if (ids->dtype != DC_I64)
        return dc_err(DC_ERR_DTYPE, "%s: %s must be int64 token ids", fn, what);
    if (ids->ndim != 2 || ids->shape[0] < 1 || ids->shape[1] < 1 || (n > 0 && ids->shape[0] != n))
        return dc_err(DC_ERR_SHAPE, "%s: %s must be [N, T] with N%s, T >= 1, got %s", fn, what,
                      n > 0 ? " = the source batch" : " >= 1", dc_shape_str(ids, b, sizeof b));
    return DC_OK;
}

/* An op below returned NULL: name the caller in its message. The op's status is not kept, and
 * what a user can cause here is a bad argument (an id out of its vocabulary, a wrong state). */
static dc_status op_failed(const char *fn)
{
    dc_err_prefix("%s: ", fn);
    return DC_ERR_ARG;
}

dc_status dc_seq2seq_encode(dc_ctx *ctx, dc_seq2seq *s, dc_tensor *src, dc_tensor **h,
                            dc_tensor **c)
{
    if (h)
        *h = NULL;
    if (c)
        *c = NULL;
    if (!ctx || !s || !h)
        return dc_err(DC_ERR_ARG, "seq2seq_encode: NULL ctx, model or h");
    dc_status st = check_ids("seq2seq_encode", src, "src", 0);
    if (st != DC_OK)
        return st;
    dc_tensor *e = s->enc_embed->forward(ctx, s->enc_embed, src); /* [N, S, E] */
    if (!dc_rnn_forward(ctx, s->encoder, e, NULL, NULL, h, c))
        return op_failed("seq2seq_encode");
    return DC_OK;
}

dc_tensor *dc_seq2seq_decode(dc_ctx *ctx, dc_seq2seq *s, dc_tensor *prev, dc_tensor *h0,
                             dc_tensor *c0, dc_tensor **h_n, dc_tensor **c_n)
{
    if (h_n)
        *h_n = NULL;
    if (c_n)
        *c_n = NULL;
    if (!ctx || !s)
        return dc_err_null(DC_ERR_ARG, "seq2seq_decode: NULL ctx or model");
    if (check_ids("seq2seq_decode", prev, "prev", 0) != DC_OK)
        return NULL;
    dc_tensor *e = s->dec_embed->forward(ctx, s->dec_embed, prev);               /* [N, T, E] */
    dc_tensor *o = dc_rnn_forward(ctx, s->decoder, e, h0, c0, h_n, c_n);         /* [N, T, H] */
    return o ? s->out->forward(ctx, s->out, o) : NULL;                           /* [N, T, V] */
}

/* prev[n, 0] = bos, prev[n, t] = tgt[n, t - 1]: the decoder input under teacher forcing. */
static dc_tensor *shift_right(dc_ctx *ctx, const dc_tensor *tgt, int64_t bos)
{
    const int64_t N = tgt->shape[0], T = tgt->shape[1];
    dc_tensor *prev = dc_empty(ctx, DC_I64, 2, DC_SHAPE(N, T));
    if (!prev)
        return NULL;
    const int64_t *y = dc_i64(tgt);
    int64_t *p = dc_i64(prev);
    for (int64_t n = 0; n < N; n++) {
        p[n * T] = bos;
        memcpy(p + n * T + 1, y + n * T, (size_t)(T - 1) * sizeof *p);
    }
    return prev;
}

/* Arg-max hits of logits [M, V] against targets y[M], skipping pad; counts into *hit, *tot. */
static void count_hits(dc_ctx *ctx, const dc_tensor *logits, const int64_t *y, int64_t pad,
                       int64_t *hit, int64_t *tot)
{
    const int64_t M = logits->shape[0];
    int64_t *am = dc_ctx_alloc(ctx, (size_t)M * sizeof *am);
    *hit = *tot = 0;
    if (!am)
        return;
    dc_argmax_rows(logits, am);
    for (int64_t i = 0; i < M; i++)
        if (pad < 0 || y[i] != pad) {
            *tot += 1;
            *hit += am[i] == y[i];
        }
}

dc_tensor *dc_seq2seq_loss(dc_ctx *ctx, dc_seq2seq *s, dc_tensor *src, dc_tensor *tgt,
                           int64_t *n_correct, int64_t *n_tokens)
{
    if (!ctx || !s)
        return dc_err_null(DC_ERR_ARG, "seq2seq_loss: NULL ctx or model");
    if (check_ids("seq2seq_loss", src, "src", 0) != DC_OK ||
        check_ids("seq2seq_loss", tgt, "tgt", src->shape[0]) != DC_OK)
        return NULL;
    const int64_t N = tgt->shape[0], T = tgt->shape[1], V = s->o.tgt_vocab;
    dc_tensor *h = NULL, *c = NULL;
    if (dc_seq2seq_encode(ctx, s, src, &h, &c) != DC_OK)
        return NULL;
    dc_tensor *logits = dc_seq2seq_decode(ctx, s, shift_right(ctx, tgt, s->o.bos_id), h, c,
                                          NULL, NULL);
    dc_tensor *flat = dc_reshape(ctx, logits, 2, DC_SHAPE(N * T, V));
    dc_tensor *y = dc_reshape(ctx, tgt, 1, DC_SHAPE(N * T));
    dc_ce_opts ce = dc_ce_defaults();
    if (s->o.pad_id >= 0)
        ce.ignore_index = s->o.pad_id;
    dc_tensor *loss = dc_cross_entropy(ctx, flat, y, &ce);
    if (loss && (n_correct || n_tokens)) {
        int64_t hit, tot;
        count_hits(ctx, flat, dc_i64(tgt), s->o.pad_id, &hit, &tot);
        if (n_correct)
            *n_correct = hit;
        if (n_tokens)
            *n_tokens = tot;
    }
    return loss;
}

/* Index of the largest of x[0..n) (the first on ties). */
static int64_t argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* The decoding loop of dc_seq2seq_greedy, with grad recording already off. */
static dc_status greedy_loop(dc_ctx *ctx, dc_seq2seq *s, dc_tensor *src, int64_t max_len,
                             int64_t *out, int64_t *out_len, float *logits)
{
    const int64_t N = src->shape[0], V = s->o.tgt_vocab;
    const int64_t fill = s->o.pad_id >= 0 ? s->o.pad_id : -1;
    for (int64_t i = 0; i < N * max_len; i++)
        out[i] = fill;
    memset(out_len, 0, (size_t)N * sizeof *out_len); /* 0: no EOS yet */
    dc_tensor *h = NULL, *c = NULL;
    dc_status st = dc_seq2seq_encode(ctx, s, src, &h, &c);
    dc_tensor *prev = st == DC_OK ? dc_empty(ctx, DC_I64, 2, DC_SHAPE(N, 1)) : NULL;
    if (!prev)
        return st != DC_OK ? st : DC_ERR_NOMEM;
    for (int64_t n = 0; n < N; n++)
        dc_i64(prev)[n] = s->o.bos_id;
    int64_t n_done = 0;
    for (int64_t t = 0; t < max_len && n_done < N; t++) {
        /* one step: logits [N, 1, V]; (h, c) become the states after it */
        dc_tensor *lg = dc_seq2seq_decode(ctx, s, prev, h, c, &h, &c);
        dc_tensor *next = lg ? dc_empty(ctx, DC_I64, 2, DC_SHAPE(N, 1)) : NULL;
        if (!next) {
            dc_err_prefix("step %lld: ", (long long)t);
            return op_failed("seq2seq_greedy");
        }
        for (int64_t n = 0; n < N; n++) {
            const float *row = dc_f32(lg) + n * V;
            const int64_t tok = argmax(row, V);
            if (logits)
                memcpy(logits + (n * max_len + t) * V, row, (size_t)V * sizeof(float));
            dc_i64(next)[n] = tok;
            if (out_len[n] == 0) {
                out[n * max_len + t] = tok;
                if (tok == s->o.eos_id) {
                    out_len[n] = t + 1;
                    n_done++;
                }
            }
        }
        prev = next;
    }
    for (int64_t n = 0; n < N; n++)
        if (out_len[n] == 0)
            out_len[n] = max_len;
    return DC_OK;
}

dc_status dc_seq2seq_greedy(dc_ctx *ctx, dc_seq2seq *s, dc_tensor *src, int64_t max_len,
                            int64_t *out, int64_t *out_len, float *logits)
{
    if (!ctx || !s || !out || !out_len || max_len < 1)
        return dc_err(DC_ERR_ARG, "seq2seq_greedy: needs ctx, model, out, out_len and "
                      "max_len >= 1 (got %lld)", (long long)max_len);
    dc_status st = check_ids("seq2seq_greedy", src, "src", 0);
    if (st != DC_OK)
        return st;
    const int old = dc_ctx_set_grad(ctx, 0);
    st = greedy_loop(ctx, s, src, max_len, out, out_len, logits);
    dc_ctx_set_grad(ctx, old);
    return st;
}
