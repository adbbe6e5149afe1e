/*
 * masked_mean_layer.c - the mean of a sequence over its real (not padded) time steps, for
 * classifying padded texts with a recurrent or embedding model (docs/text-classification.md):
 *
 *   y[n, e] = Σ_t m[n, t] · h[n, t, e] / max(1, Σ_t m[n, t]),   m[n, t] = (ids[n, t] != pad)
 *
 * h [N, T, E] are the hidden states; ids are the model input, int64 [N, T] or [N, 2, T] (token
 * and segment ids: the first row counts), given as the layer's second input (`input = previous,
 * input` in a spec). Without it every step counts (the plain mean over T). A row of padding
 * only gives zeros. With right padding a forward RNN's states at real steps do not depend on
 * the padding after them, so this is exactly the mean over the text.
 *
 * Built from differentiable ops (mul by a constant mask, sum over T, div by the constant count),
 * so backward is theirs: dh[n, t, e] = m[n, t] · dy[n, e] / count[n].
 */
#include "nn/layer_desc.h"

#include <stdlib.h>
#include <string.h>

typedef struct masked_mean {
    dc_module base;
    int64_t pad;
} masked_mean;

/* mask [N, T, 1] (float 0 / 1) and count [N, 1] (at least 1) from ids [N, T] or [N, 2, T]. */
static bool make_mask(dc_ctx *ctx, const char *who, const dc_tensor *ids, int64_t N, int64_t T,
                      int64_t pad, dc_tensor **mask, dc_tensor **count)
{
    char s[96];
    if (ids->dtype != DC_I64 || ids->shape[0] != N || ids->shape[ids->ndim - 1] != T ||
        !(ids->ndim == 2 || (ids->ndim == 3 && ids->shape[1] == 2))) {
        dc_err(DC_ERR_SHAPE, "%s: the second input must be the model's int64 ids [%lld, %lld] "
               "or [%lld, 2, %lld], got %s %s", who, (long long)N, (long long)T, (long long)N,
               (long long)T, ids->dtype == DC_I64 ? "int64" : "float32",
               dc_shape_str(ids, s, sizeof s));
        return false;
    }
    *mask = dc_empty(ctx, DC_F32, 3, DC_SHAPE(N, T, 1));
    *count = dc_empty(ctx, DC_F32, 2, DC_SHAPE(N, 1));
    if (!*mask || !*count)
        return false;
    const int64_t stride = ids->ndim == 3 ? 2 * T : T;
    for (int64_t n = 0; n < N; n++) {
        const int64_t *row = dc_i64(ids) + n * stride;
        float c = 0;
        for (int64_t t = 0; t < T; t++) {
            const float v = row[t] != pad ? 1.0f : 0.0f;
            dc_f32(*mask)[n * T + t] = v;
            c += v;
        }
        dc_f32(*count)[n] = c > 0 ? c : 1.0f;
    }
    return true;
}

static dc_tensor *mm_forward_n(dc_ctx *ctx, dc_module *m, dc_tensor *const *xs, int n)
{
    const masked_mean *l = (const masked_mean *)m;
    dc_tensor *h = xs[0];
    char s[96];
    if (n > 2)
        return dc_err_null(DC_ERR_ARG, "%s: takes the hidden states and, optionally, the model "
                           "input (for its padding); got %d inputs", m->name, n);
    if (!h || (n == 2 && !xs[1]))
        return NULL;
    if (h->ndim != 3 || h->dtype != DC_F32)
        return dc_err_null(DC_ERR_SHAPE, "%s: the hidden states must be float32 [N, T, E], got "
                           "%s", m->name, dc_shape_str(h, s, sizeof s));
    if (n == 1)
        return dc_mean(ctx, h, 1, 0);
    dc_tensor *mask, *count;
    if (!make_mask(ctx, m->name, xs[1], h->shape[0], h->shape[1], l->pad, &mask, &count))
        return NULL;
    return dc_div(ctx, dc_sum(ctx, dc_mul(ctx, h, mask), 1, 0), count);
}

static dc_tensor *mm_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    return mm_forward_n(ctx, m, &x, 1);
}

dc_module *dc_masked_mean_new(dc_model *m, const char *name, int64_t pad)
{
    (void)m;
    masked_mean *l = dc_module_alloc(sizeof *l, "MaskedMean", name, mm_forward);
    if (!l)
        return NULL;
    l->base.forward_n = mm_forward_n;
    l->pad = pad;
    return &l->base;
}

static dc_module *build_masked_mean(dc_layer_args *a)
{
    return dc_masked_mean_new(a->m, a->name, a->v[0].i[0]);
}

static const dc_layer_key masked_mean_keys[] = {
    DC_KEY_I("pad_token_id", "0", 0, 0x1p31, "ids of the model input (2nd input) left out"),
};

const dc_layer_desc dc_layer_masked_mean = {
    .type = "masked_mean", .aliases = "MaskedMean", .module = "MaskedMean",
    .torch = "(h * m).sum(1) / m.sum(1).clamp(min=1), m = (ids != pad)[..., None]",
    .doc = "mean over the time steps whose model-input id (2nd input) is not padding: "
           "[N, T, E] -> [N, E]",
    .min_ndim = 3, .max_ndim = 3, .rank_msg = "hidden states [N, T, E]",
    .keys = masked_mean_keys, .n_keys = 1, .build = build_masked_mean, .params = "",
    .gradcheck = "mul bcast|sum axis 1|div bcast",
};
