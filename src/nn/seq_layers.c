/*
 * seq_layers.c - the sequence-piece modules: Embedding (a parameter table), LastStep (one time
 * step of [N, T, F]) and OneHot (int64 ids to float indicators).
 */
#include "nn/layer_desc.h"

#include <stdlib.h>
#include <string.h>

typedef struct embedding {
    dc_module base;
    dc_tensor *weight;   /* [V, E] */
    int64_t padding_idx; /* -1: none */
} embedding;

static dc_tensor *embedding_forward(dc_ctx *ctx, dc_module *m, dc_tensor *ids)
{
    embedding *e = (embedding *)m;
    return dc_embedding(ctx, ids, e->weight, e->padding_idx);
}

dc_module *dc_embedding_new(dc_model *m, const char *name, int64_t num_embeddings,
                            int64_t embedding_dim, int64_t padding_idx, dc_rng *rng)
{
    char key[160];
    if (!m || num_embeddings <= 0 || embedding_dim <= 0)
        return dc_err_null(DC_ERR_ARG, "Embedding %s: needs a model and positive sizes "
                           "(num_embeddings %lld, embedding_dim %lld)", name ? name : "?",
                           (long long)num_embeddings, (long long)embedding_dim);
    if (padding_idx < -1 || padding_idx >= num_embeddings)
        return dc_err_null(DC_ERR_ARG, "Embedding %s: padding_idx must be in [0, %lld) or -1 "
                           "for none, got %lld", name ? name : "?", (long long)num_embeddings,
                           (long long)padding_idx);
    embedding *e = dc_module_alloc(sizeof *e, "Embedding", name, embedding_forward);
    if (!e)
        return NULL;
    e->padding_idx = padding_idx;
    if (!dc_join_name(key, sizeof key, name, "weight") ||
        !(e->weight = dc_model_add_param(m, key, DC_F32, 2,
                                         DC_SHAPE(num_embeddings, embedding_dim), 0))) {
        free(e);
        return NULL;
    }
    if (rng) {
        /* PyTorch: normal_(0, 1), then the padding row filled with 0 */
        dc_tensor_normal(e->weight, rng, 0.0f, 1.0f);
        if (padding_idx >= 0)
            memset(dc_f32(e->weight) + padding_idx * embedding_dim, 0,
                   (size_t)embedding_dim * sizeof(float));
    }
    return &e->base;
}

typedef struct last_step {
    dc_module base;
    int64_t step;
} last_step;

static dc_tensor *last_step_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x)
{
    return dc_select_step(ctx, x, ((last_step *)m)->step);
}

dc_module *dc_last_step_new(dc_model *m, const char *name, int64_t step)
{
    (void)m;
    last_step *l = dc_module_alloc(sizeof *l, "LastStep", name, last_step_forward);
    if (l)
        l->step = step;
    return l ? &l->base : NULL;
}

typedef struct one_hot {
    dc_module base;
    int64_t K;
} one_hot;

static dc_tensor *one_hot_forward(dc_ctx *ctx, dc_module *m, dc_tensor *ids)
{
    return dc_one_hot(ctx, ids, ((one_hot *)m)->K);
}

dc_module *dc_one_hot_new(dc_model *m, const char *name, int64_t num_classes)
{
    (void)m;
    if (num_classes < 1)
        return dc_err_null(DC_ERR_ARG, "OneHot %s: num_classes must be >= 1, got %lld",
                           name ? name : "?", (long long)num_classes);
    one_hot *o = dc_module_alloc(sizeof *o, "OneHot", name, one_hot_forward);
    if (o)
        o->K = num_classes;
    return o ? &o->base : NULL;
}

/* ---- descriptors (src/nn/layer_desc.h) ---- */

static dc_module *build_embedding(dc_layer_args *a)
{
    const int64_t V = a->v[0].i[0], pad = a->v[2].word ? -1 : a->v[2].i[0];
    if (pad > V - 1)
        return dc_layer_refuse(a, 2, "%lld is out of range [0, %lld]", (long long)pad,
                               (long long)(V - 1));
    return dc_embedding_new(a->m, a->name, V, a->v[1].i[0], pad, a->rng);
}

static const dc_layer_key embedding_keys[] = {
    DC_KEY_I("num_embeddings", NULL, 1, 0x1p31, "vocabulary size V"),
    DC_KEY_I("embedding_dim", NULL, 1, 1 << 24, "vector size E"),
    {"padding_idx", DC_KEY_INT, "none", 0, 0x1p31, 1, 1, "none", 0,
     "`none`, or a row in [0, V) that gets no gradient and starts at zero"},
};
const dc_layer_desc dc_layer_embedding = {
    .type = "embedding", .module = "Embedding", .torch = "nn.Embedding",
    .doc = "rows of a table: int64 ids [N, ...] -> [N, ..., embedding_dim]",
    .keys = embedding_keys, .n_keys = 3, .build = build_embedding, .params = "weight",
    .gradcheck = "embedding",
};

static dc_module *build_last_step(dc_layer_args *a)
{
    return dc_last_step_new(a->m, a->name, a->v[0].i[0]);
}

static const dc_layer_key last_step_keys[] = {
    DC_KEY_I("step", "-1", -0x1p40, 0x1p40, "the time step (negatives count from the end)"),
};
const dc_layer_desc dc_layer_last_step = {
    .type = "last_step", .aliases = "LastStep", .module = "LastStep", .torch = "x[:, step]",
    .doc = "one time step of a batch-first sequence: [N, T, F] -> [N, F]",
    .keys = last_step_keys, .n_keys = 1, .build = build_last_step, .params = "",
    .gradcheck = "select_step",
};

static dc_module *build_onehot(dc_layer_args *a)
{
    return dc_one_hot_new(a->m, a->name, a->v[0].i[0]);
}

static const dc_layer_key onehot_keys[] = {
    DC_KEY_I("num_classes", NULL, 1, 1 << 24, "K"),
};
/* No gradcheck: its input is int64 ids, which have no gradient. */
const dc_layer_desc dc_layer_onehot = {
    .type = "onehot", .aliases = "one_hot", .module = "OneHot",
    .torch = "F.one_hot(x, num_classes).float()",
    .doc = "int64 ids [N, ...] -> float indicators [N, ..., K] (no gradient)",
    .keys = onehot_keys, .n_keys = 1, .build = build_onehot, .params = "",
};
