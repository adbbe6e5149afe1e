/*
 * groupnorm_layer.c - the GroupNorm layer: module and descriptor (PyTorch nn.GroupNorm, its
 * state_dict names weight and bias [C], initialised to 1 and 0). Statistics per example and
 * group of C/G channels, the same in training and eval (no running statistics).
 */
#include "nn/layer_desc.h"

#include <stdlib.h>

typedef struct gn_mod {
    dc_module base;
    int64_t G;
    float eps;
    dc_tensor *weight, *bias; /* [C] or NULL (affine = 0) */
} gn_mod;

static dc_tensor *gn_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    gn_mod *g = (gn_mod *)m;
    return dc_group_norm(ctx, x, g->G, g->weight, g->bias, g->eps);
}

dc_module *dc_group_norm_new(dc_model *m, const char *name, int64_t G, int64_t C, float eps,
                             int affine)
{
    char key[160];
    if (!m || G < 1 || C < 1 || C % G || !(eps >= 0.0f))
        return dc_err_null(DC_ERR_ARG, "GroupNorm %s: needs a model, num_groups %lld >= 1 "
                           "dividing num_channels %lld, and eps >= 0", name ? name : "?",
                           (long long)G, (long long)C);
    gn_mod *g = dc_module_alloc(sizeof *g, "GroupNorm", name, gn_forward);
    if (!g)
        return NULL;
    g->G = G;
    g->eps = eps;
    if (affine && (!dc_join_name(key, sizeof key, name, "weight") ||
                   !(g->weight = dc_model_add_param(m, key, DC_F32, 1, DC_SHAPE(C), 0)) ||
                   !dc_join_name(key, sizeof key, name, "bias") ||
                   !(g->bias = dc_model_add_param(m, key, DC_F32, 1, DC_SHAPE(C), 0)))) {
        free(g);
        return NULL;
    }
    if (g->weight) /* the block may have moved while adding: fill through the final tensor */
        dc_tensor_fill(g->weight, 1.0f);
    return &g->base;
}

/* ---- descriptor (src/nn/layer_desc.h) ---- */

static dc_module *build_group_norm(dc_layer_args *a)
{
    const int64_t G = a->v[0].i[0], C = a->v[1].i[0];
    if (C % G)
        return dc_layer_refuse(a, 0, "%lld does not divide the %lld channels", (long long)G,
                               (long long)C);
    return dc_group_norm_new(a->m, a->name, G, C, (float)a->v[2].f, (int)a->v[3].i[0]);
}

static const dc_layer_key gn_keys[] = {
    DC_KEY_I("num_groups", NULL, 1, 1 << 20, "groups G (must divide the channels)"),
    DC_KEY_IN_DIM("num_channels", 1, "the input's channels"),
    DC_KEY_F("eps", "1e-05", 0, 1, "added to the variance"),
    DC_KEY_B("affine", "true", "learned weight and bias per channel"),
};
const dc_layer_desc dc_layer_groupnorm = {
    .type = "groupnorm", .module = "GroupNorm", .torch = "nn.GroupNorm",
    .doc = "normalise each example over groups of C/G channels: [N, C, ...]", .min_ndim = 2,
    .keys = gn_keys, .n_keys = 4, .build = build_group_norm, .params = "weight bias",
    .gradcheck = "group_norm",
};
