/*
 * task_bert_fill.c - fill-mask with a pre-trained BERT (docs/bert.md, `deepc fill-mask`):
 *
 *   ids = [CLS] wordpiece(text) [SEP], seg = 0          x = [1, 2, T]
 *   h = the model's forward without cls.predictions     [1, T, E]
 *   p = softmax(head(h[mask positions]))                [M, V]
 *   the top_k of every row of p
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "train/bert_fill.h"
#include "train/predict.h"

#include <stdlib.h>
#include <string.h>

void dc_fill_mask_free(dc_fill_mask *f)
{
    if (!f)
        return;
    free(f->pos);
    free(f->ids);
    free(f->probs);
    memset(f, 0, sizeof *f);
}

/* The model input [1, 2, T] of [CLS] text [SEP] (truncated to max_len) and the positions of its
 * [MASK] tokens (int64 [M]). */
static dc_status fill_input(dc_ctx *ctx, const dc_wordpiece *wp, const char *text,
                            int64_t max_len, dc_tensor **x, dc_tensor **pos)
{
    dc_ids ids = {0};
    const int64_t cls = dc_wordpiece_special(wp, DC_WP_CLS);
    const int64_t sep = dc_wordpiece_special(wp, DC_WP_SEP);
    const int64_t mask = dc_wordpiece_special(wp, DC_WP_MASK);
    dc_status st = cls < 0 || sep < 0 || mask < 0
                       ? dc_err(DC_ERR_ARG, "fill-mask: the vocabulary lacks [CLS], [SEP] or "
                                "[MASK]")
                       : dc_wordpiece_encode(wp, text, strlen(text), &ids);
    int64_t n = st == DC_OK && ids.n + 2 > max_len ? max_len - 2 : (int64_t)ids.n, M = 0;
    if (st == DC_OK && n < 1)
        st = dc_err(DC_ERR_ARG, "fill-mask: no tokens in the text (or max_len < 3)");
    for (int64_t i = 0; st == DC_OK && i < n; i++)
        M += ids.ids[i] == mask;
    if (st == DC_OK && M == 0)
        st = dc_err(DC_ERR_ARG, "fill-mask: the text has no [MASK] in its first %lld tokens",
                    (long long)n);
    if (st == DC_OK) {
        *x = dc_zeros(ctx, DC_I64, 3, DC_SHAPE(1, 2, n + 2));
        *pos = dc_empty(ctx, DC_I64, 1, DC_SHAPE(M));
        if (!*x || !*pos)
            st = dc_err(DC_ERR_NOMEM, "fill-mask: out of memory");
    }
    for (int64_t i = 0, k = 0; st == DC_OK && i < n; i++) {
        dc_i64(*x)[i + 1] = ids.ids[i];
        if (ids.ids[i] == mask)
            dc_i64(*pos)[k++] = i + 1;
    }
    if (st == DC_OK) {
        dc_i64(*x)[0] = cls;
        dc_i64(*x)[n + 1] = sep;
    }
    free(ids.ids);
    return st;
}

/* The top k of row p[0..V) into ids/probs, by probability (ties: the smaller id first). */
static void top_k(const float *p, int64_t V, int64_t k, int64_t *ids, float *probs)
{
    for (int64_t j = 0; j < k; j++) {
        int64_t best = -1;
        for (int64_t v = 0; v < V; v++) {
            int taken = 0;
            for (int64_t i = 0; i < j && !taken; i++)
                taken = ids[i] == v;
            if (!taken && (best < 0 || p[v] > p[best]))
                best = v;
        }
        ids[j] = best;
        probs[j] = p[best];
    }
}

/* The MLM head's probabilities [M, V] at the positions pos of the model's input x. */
static dc_tensor *fill_probs(dc_ctx *ctx, dc_model *m, const dc_wordpiece *wp, dc_tensor *x,
                             dc_tensor *pos)
{
    const int im = dc_model_find_module(m, "cls.predictions");
    const int *hin = NULL;
    if (im < 0 || dc_model_module_inputs(m, im, &hin) != 1 || hin[0] == DC_MODEL_INPUT)
        return dc_err_null(DC_ERR_ARG, "fill-mask: the model has no MLM head cls.predictions "
                           "(models/bert_mini_pre, models/bert_base)");
    dc_tensor **outs = dc_ctx_alloc(ctx, sizeof *outs * (size_t)dc_model_n_modules(m));
    if (!outs || !dc_model_forward_except(ctx, m, x, outs, im))
        return outs ? NULL : dc_err_null(DC_ERR_NOMEM, "fill-mask: out of memory");
    dc_tensor *h = outs[hin[0]];
    if (h->ndim != 3 || h->shape[1] != x->shape[2])
        return dc_err_null(DC_ERR_SHAPE, "fill-mask: the input of cls.predictions is not "
                           "[1, T, E]");
    const int64_t E = h->shape[2];
    dc_module *head = dc_model_module(m, im);
    dc_tensor *rows = dc_embedding(ctx, pos, dc_reshape(ctx, h, 2, DC_SHAPE(h->shape[1], E)), -1);
    dc_tensor *logits = rows ? head->forward(ctx, head, rows) : NULL;
    if (logits && (logits->ndim != 2 || logits->shape[1] != dc_wordpiece_size(wp)))
        return dc_err_null(DC_ERR_ARG, "fill-mask: the model predicts %lld tokens, the "
                           "vocabulary has %lld (give the vocabulary it was trained with)",
                           (long long)logits->shape[logits->ndim - 1],
                           (long long)dc_wordpiece_size(wp));
    return logits ? dc_softmax(ctx, logits, 1) : NULL;
}

dc_status dc_bert_fill_mask(dc_model *m, const dc_wordpiece *wp, const char *text,
                            int64_t max_len, int64_t top_k_n, dc_fill_mask *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!m || !wp || !text || !out || top_k_n < 1 || top_k_n > dc_wordpiece_size(wp))
        return dc_err(DC_ERR_ARG, "fill-mask: NULL argument or top_k outside [1, %lld]",
                      wp ? (long long)dc_wordpiece_size(wp) : 0LL);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = NULL, *pos = NULL, *p = NULL;
    dc_status st = ctx ? fill_input(ctx, wp, text, max_len, &x, &pos)
                       : dc_err(DC_ERR_NOMEM, "fill-mask: out of memory");
    if (st == DC_OK) {
        dc_ctx_set_grad(ctx, 0);
        dc_ctx_set_training(ctx, 0);
        if (!(p = fill_probs(ctx, m, wp, x, pos)))
            st = dc_last_status() != DC_OK ? dc_last_status() : DC_ERR_ARG;
    }
    const int64_t M = pos ? pos->numel : 0, V = p ? p->shape[1] : 0, k = top_k_n;
    if (st == DC_OK) {
        out->pos = malloc((size_t)M * sizeof *out->pos);
        out->ids = malloc((size_t)(M * k) * sizeof *out->ids);
        out->probs = malloc((size_t)(M * k) * sizeof *out->probs);
        if (!out->pos || !out->ids || !out->probs)
            st = dc_err(DC_ERR_NOMEM, "fill-mask: out of memory");
    }
    for (int64_t i = 0; st == DC_OK && i < M; i++) {
        out->pos[i] = dc_i64(pos)[i];
        top_k(dc_f32(p) + i * V, V, k, out->ids + i * k, out->probs + i * k);
    }
    if (st == DC_OK) {
        out->n_masks = M;
        out->top_k = k;
    } else {
        dc_fill_mask_free(out);
    }
    dc_ctx_free(ctx);
    return st;
}

dc_status dc_bert_fill_mask_print(FILE *f, const char *model, const char *weights,
                                  const char *vocab, int cased, const char *text,
                                  int64_t max_len, int64_t top_k, int bf16)
{
    dc_wp_opts wo = dc_wp_defaults();
    if (cased)
        wo.lower_case = 0, wo.strip_accents = 0;
    dc_wordpiece *wp = dc_wordpiece_load(vocab, &wo);
    dc_model *m = wp ? dc_load_frozen_spec(model, dc_wordpiece_size(wp), 0, weights, bf16, NULL)
                      : NULL;
    dc_fill_mask r;
    dc_status st = m ? dc_bert_fill_mask(m, wp, text, max_len, top_k, &r) : dc_last_status();
    for (int64_t i = 0; st == DC_OK && i < r.n_masks; i++) {
        fprintf(f, "[MASK] %lld (token %lld):\n", (long long)i + 1, (long long)r.pos[i]);
        for (int64_t j = 0; j < r.top_k; j++)
            fprintf(f, "  %-16s %.4f\n", dc_wordpiece_token(wp, r.ids[i * r.top_k + j]),
                    (double)r.probs[i * r.top_k + j]);
    }
    if (st == DC_OK)
        dc_fill_mask_free(&r);
    dc_model_free(m);
    dc_wordpiece_free(wp);
    return st;
}
