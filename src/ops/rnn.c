/*
 * rnn.c - the recurrent op: one layer of RNN/LSTM/GRU in one direction over a sequence
 * (formulas in deepc.h, dc_rnn_layer). Forward: one GEMM projects all T·N inputs, one GEMM per
 * step adds the recurrent part, a fused cell kernel applies the gates. Backward through time
 * walks the steps in reverse with the gates saved per step, then adds dx, dW_ih, dW_hh (GEMMs with
 * beta = 1) and the bias column sums in one go.
 */
#include "core/internal.h"
#include "kernels/rnn_k.h"

#include <string.h>

/* What forward keeps for backward (arena). */
typedef struct rnn_saved {
    dc_rnn_kind kind;
    int reverse;
    int64_t T, N, I, H, G;
    dc_tensor *x, *w_ih, *w_hh, *b_ih, *b_hh, *h0, *c0;
    float *gates; /* [T, N, 4H] LSTM/GRU (time order), else NULL */
    float *c;     /* [T, N, H] LSTM cell states, else NULL */
} rnn_saved;

static int64_t n_gates(dc_rnn_kind k) { return k == DC_LSTM ? 4 : k == DC_GRU ? 3 : 1; }

/* The state before step t in processing order: h_{t∓1} from out, or the initial one (may be
 * NULL = zeros). out rows are [N, H] in time order. */
static const float *prev_row(const rnn_saved *s, const float *rows, const dc_tensor *init,
                             int64_t t)
{
    int64_t p = s->reverse ? t + 1 : t - 1;
    if (p < 0 || p >= s->T)
        return init ? dc_f32(init) : NULL;
    return rows + p * s->N * s->H;
}

/* Fill `rows` rows of dst [rows, n] with b (or zeros when b is NULL). */
static void fill_bias(float *dst, int64_t rows, int64_t n, const dc_tensor *b)
{
    if (!b) {
        memset(dst, 0, (size_t)(rows * n) * sizeof *dst);
        return;
    }
    for (int64_t r = 0; r < rows; r++)
        memcpy(dst + r * n, dc_f32(b), (size_t)n * sizeof *dst);
}

/* db[j] += Σ_r d[r, j] (rows in a fixed order). */
static void add_colsum(float *db, const float *d, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++)
            db[j] += d[r * n + j];
}

static float *grad_of(dc_ctx *ctx, dc_tensor *t, dc_status *st)
{
    if (!t)
        return NULL;
    float *g = dc_grad(ctx, t);
    if (!g && (t->flags & DC_TF_REQUIRES_GRAD))
        *st = DC_ERR_NOMEM;
    return g;
}

/* Walk the steps backwards: dPX/dPH [T, N, G·H] (time order) receive the gradients of the input
 * and recurrent pre-activations; returns the carries dh (and dc) for h0 (c0). */
static dc_status bptt(dc_ctx *ctx, const rnn_saved *s, const float *y, const float *dy,
                      float *dPX, float *dPH, float *dh, float *dc)
{
    const int64_t T = s->T, N = s->N, H = s->H, GH = s->G * H, NH = N * H;
    float *dhc = dc_ctx_alloc(ctx, (size_t)NH * sizeof *dhc);
    if (!dhc)
        return DC_ERR_NOMEM;
    memcpy(dh, dy + T * NH, (size_t)NH * sizeof *dh); /* from h_n */
    if (dc)
        memcpy(dc, dy + (T + 1) * NH, (size_t)NH * sizeof *dc); /* from c_n */
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = s->reverse ? k : T - 1 - k;
        for (int64_t e = 0; e < NH; e++)
            dhc[e] = dh[e] + dy[t * NH + e];
        float *px = dPX + t * N * GH, *ph = dPH + t * N * GH;
        float beta = 0.0f;
        if (s->kind == DC_LSTM) {
            k_lstm_cell_bwd(N, H, s->gates + t * N * GH, s->c + t * NH,
                            prev_row(s, s->c, s->c0, t), dhc, dc, px);
        } else if (s->kind == DC_GRU) {
            k_gru_cell_bwd(N, H, s->gates + t * N * 4 * H, prev_row(s, y, s->h0, t), dhc, px, ph,
                           dh);
            beta = 1.0f;
        } else {
            k_rnn_cell_bwd(N, H, s->kind == DC_RNN_RELU, y + t * NH, dhc, px);
        }
        /* dh_{t-1} (+)= dPH_t · W_hh */
        dc_gemm(0, 0, N, H, GH, 1.0f, ph, GH, dc_f32(s->w_hh), H, beta, dh, H);
    }
    return DC_OK;
}

/* dx += dPX·W_ih, dW_ih += dPXᵀ·x, dW_hh += dPHᵀ·Hprev, biases += column sums. */
static dc_status rnn_bwd(dc_ctx *ctx, dc_node *n)
{
    const rnn_saved *s = n->saved;
    const int64_t T = s->T, N = s->N, I = s->I, H = s->H, GH = s->G * H, NH = N * H;
    const int64_t TN = T * N;
    dc_status st = DC_OK;
    float *dx = grad_of(ctx, s->x, &st), *dwi = grad_of(ctx, s->w_ih, &st);
    float *dwh = grad_of(ctx, s->w_hh, &st), *dbi = grad_of(ctx, s->b_ih, &st);
    float *dbh = grad_of(ctx, s->b_hh, &st), *dh0 = grad_of(ctx, s->h0, &st);
    float *dc0 = grad_of(ctx, s->c0, &st);
    if (st != DC_OK)
        return st;
    float *dPX = dc_ctx_alloc(ctx, (size_t)(TN * GH) * sizeof(float));
    float *dPH = s->kind == DC_GRU ? dc_ctx_alloc(ctx, (size_t)(TN * GH) * sizeof(float)) : dPX;
    float *dh = dc_ctx_alloc(ctx, (size_t)NH * sizeof(float));
    float *dc = s->kind == DC_LSTM ? dc_ctx_alloc(ctx, (size_t)NH * sizeof(float)) : NULL;
    float *hprev = dc_ctx_alloc(ctx, (size_t)(TN * H) * sizeof(float));
    if (!dPX || !dPH || !dh || (s->kind == DC_LSTM && !dc) || !hprev)
        return DC_ERR_NOMEM;
    const float *y = dc_f32(n->out);
    if ((st = bptt(ctx, s, y, n->out->grad, dPX, dPH, dh, dc)) != DC_OK)
        return st;
    if (dx)
        dc_gemm(0, 0, TN, I, GH, 1.0f, dPX, GH, dc_f32(s->w_ih), I, 1.0f, dx, I);
    if (dwi)
        dc_gemm(1, 0, GH, I, TN, 1.0f, dPX, GH, dc_f32(s->x), I, 1.0f, dwi, I);
    if (dwh) {
        for (int64_t t = 0; t < T; t++) {
            const float *p = prev_row(s, y, s->h0, t);
            if (p)
                memcpy(hprev + t * NH, p, (size_t)NH * sizeof(float));
            else
                memset(hprev + t * NH, 0, (size_t)NH * sizeof(float));
        }
        dc_gemm(1, 0, GH, H, TN, 1.0f, dPH, GH, hprev, H, 1.0f, dwh, H);
    }
    if (dbi)
        add_colsum(dbi, dPX, TN, GH);
    if (dbh)
        add_colsum(dbh, dPH, TN, GH);
    for (int64_t e = 0; dh0 && e < NH; e++)
        dh0[e] += dh[e];
    for (int64_t e = 0; dc0 && e < NH; e++)
        dc0[e] += dc[e];
    return DC_OK;
}

/* One step in processing order: hg = h_prev·W_hhᵀ + b_hh, then the cell. */
static void step_fwd(const rnn_saved *s, const float *G, float *hg, float *y, int64_t t)
{
    const int64_t N = s->N, H = s->H, GH = s->G * H, NH = N * H;
    const float *hp = prev_row(s, y, s->h0, t);
    fill_bias(hg, N, GH, s->b_hh);
    if (hp)
        dc_gemm(0, 1, N, GH, H, 1.0f, hp, H, dc_f32(s->w_hh), H, 1.0f, hg, GH);
    const float *gx = G + t * N * GH;
    if (s->kind == DC_LSTM)
        k_lstm_cell_fwd(N, H, gx, hg, prev_row(s, s->c, s->c0, t), s->gates + t * N * GH,
                        s->c + t * NH, y + t * NH);
    else if (s->kind == DC_GRU)
        k_gru_cell_fwd(N, H, gx, hg, hp, s->gates + t * N * 4 * H, y + t * NH);
    else
        k_rnn_cell_fwd(N, H, s->kind == DC_RNN_RELU, gx, hg, y + t * NH);
}

/* Shape checks; fills s's sizes. */
static bool rnn_check(rnn_saved *s)
{
    char a[64], b[64], c[64];
    const char *op = "rnn_layer";
    if (!dc_check_f32(op, s->x, "input") || !dc_check_ndim(op, s->x, "input", 3) ||
        !dc_check_f32(op, s->w_ih, "weight_ih") || !dc_check_ndim(op, s->w_ih, "weight_ih", 2) ||
        !dc_check_f32(op, s->w_hh, "weight_hh") || !dc_check_ndim(op, s->w_hh, "weight_hh", 2))
        return false;
    s->T = s->x->shape[0];
    s->N = s->x->shape[1];
    s->I = s->x->shape[2];
    s->G = n_gates(s->kind);
    s->H = s->w_hh->shape[1];
    const int64_t GH = s->G * s->H;
    if (s->w_ih->shape[0] != GH || s->w_ih->shape[1] != s->I || s->w_hh->shape[0] != GH ||
        s->H < 1 || s->T < 1) {
        dc_err(DC_ERR_SHAPE, "rnn_layer: input [T, N, I] = %s needs T >= 1, weight_ih [%lld, I] "
               "and weight_hh [%lld, H] with %lld gate(s), got weight_ih %s, weight_hh %s",
               dc_shape_str(s->x, a, sizeof a), (long long)GH, (long long)GH, (long long)s->G,
               dc_shape_str(s->w_ih, b, sizeof b), dc_shape_str(s->w_hh, c, sizeof c));
        return false;
    }
    const dc_tensor *bs[2] = {s->b_ih, s->b_hh};
    for (int k = 0; k < 2; k++)
        if (bs[k] && (!dc_check_f32(op, bs[k], "bias") || bs[k]->numel != GH))
            return dc_err(DC_ERR_SHAPE, "rnn_layer: bias must have %lld elements, got %s",
                          (long long)GH, dc_shape_str(bs[k], a, sizeof a)), false;
    const dc_tensor *st[2] = {s->h0, s->c0};
    for (int k = 0; k < 2; k++)
        if (st[k] && (!dc_check_f32(op, st[k], "state") || st[k]->numel != s->N * s->H ||
                      st[k]->shape[st[k]->ndim - 1] != s->H))
            return dc_err(DC_ERR_SHAPE, "rnn_layer: %s must be [N, H] = [%lld, %lld] (or [1, N, "
                          "H]), got %s", k ? "c0" : "h0", (long long)s->N, (long long)s->H,
                          dc_shape_str(st[k], a, sizeof a)), false;
    if (s->c0 && s->kind != DC_LSTM)
        return dc_err(DC_ERR_ARG, "rnn_layer: c0 is for LSTM only"), false;
    return true;
}

dc_tensor *dc_rnn_layer(dc_ctx *ctx, dc_rnn_kind kind, dc_tensor *x, dc_tensor *w_ih,
                        dc_tensor *w_hh, dc_tensor *b_ih, dc_tensor *b_hh, dc_tensor *h0,
                        dc_tensor *c0, int reverse)
{
    if (!x || !w_ih || !w_hh)
        return NULL;
    if (kind < DC_RNN_TANH || kind > DC_GRU)
        return dc_err_null(DC_ERR_ARG, "rnn_layer: unknown kind %d", (int)kind);
    rnn_saved *s = dc_ctx_alloc(ctx, sizeof *s);
    if (!s)
        return NULL;
    *s = (rnn_saved){.kind = kind, .reverse = reverse != 0, .x = x, .w_ih = w_ih, .w_hh = w_hh,
                     .b_ih = b_ih, .b_hh = b_hh, .h0 = h0, .c0 = c0};
    if (!rnn_check(s))
        return NULL;
    const int64_t T = s->T, N = s->N, H = s->H, GH = s->G * H, NH = N * H;
    dc_tensor *y = dc_empty(ctx, DC_F32, 3, DC_SHAPE(T + 1 + (kind == DC_LSTM), N, H));
    float *G = dc_ctx_alloc(ctx, (size_t)(T * N * GH) * sizeof(float));
    float *hg = dc_ctx_alloc(ctx, (size_t)(N * GH) * sizeof(float));
    if (kind == DC_LSTM || kind == DC_GRU)
        s->gates = dc_ctx_alloc(ctx, (size_t)(T * N * 4 * H) * sizeof(float));
    if (kind == DC_LSTM)
        s->c = dc_ctx_alloc(ctx, (size_t)(T * NH) * sizeof(float));
    if (!y || !G || !hg || (kind >= DC_LSTM && !s->gates) || (kind == DC_LSTM && !s->c))
        return NULL;
    /* G [T·N, G·H] = x · W_ihᵀ + b_ih, all steps at once */
    fill_bias(G, T * N, GH, b_ih);
    dc_gemm(0, 1, T * N, GH, s->I, 1.0f, dc_f32(x), s->I, dc_f32(w_ih), s->I, 1.0f, G, GH);
    float *yd = dc_f32(y);
    for (int64_t k = 0; k < T; k++)
        step_fwd(s, G, hg, yd, reverse ? T - 1 - k : k);
    const int64_t last = reverse ? 0 : T - 1;
    memcpy(yd + T * NH, yd + last * NH, (size_t)NH * sizeof(float));
    if (kind == DC_LSTM)
        memcpy(yd + (T + 1) * NH, s->c + last * NH, (size_t)NH * sizeof(float));
    dc_tensor *ins[7] = {x, w_ih, w_hh, b_ih, b_hh, h0, c0};
    dc_node *nd = dc_record(ctx, kind == DC_LSTM ? "lstm" : kind == DC_GRU ? "gru" : "rnn",
                            rnn_bwd, y, 7, ins);
    if (nd)
        nd->saved = s;
    return y;
}
