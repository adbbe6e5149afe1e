/*
 * gc_seq.c - gradient-check cases for the sequence pieces: embedding (repeated ids, padding_idx,
 * 3-d ids, the Embedding module), select_step (positive and negative steps) and select_last
 * (per-sequence lengths, repeated lengths, NULL lengths, fed by an embedding).
 *
 * padding_idx: its row gets no gradient by definition, while finite differences of that row are
 * not zero (the forward reads it). The padding cases therefore build the table from a constant
 * padding row and trainable blocks around it (dc_concat), so that every checked element has a
 * true derivative; the padding row itself is checked against PyTorch in tests/test_seq.c.
 */
#include "gradcheck.h"

#include <string.h>

/* A heap int64 tensor holding vals (numel of shape values). */
static dc_tensor *ids_new(int ndim, const int64_t *shape, const int64_t *vals)
{
    dc_tensor *t = dc_tensor_new(DC_I64, ndim, shape);
    if (t)
        memcpy(t->data, vals, (size_t)t->numel * sizeof(int64_t));
    return t;
}

/* Return n when every ins[0..n) was made, else free them and return -1. */
static int all_or_none(dc_tensor **ins, int n)
{
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= ins[i] != NULL;
    if (ok)
        return n;
    for (int i = 0; i < n; i++)
        dc_tensor_free(ins[i]);
    return -1;
}

/* ---- embedding ---- */

static dc_tensor *f_emb(dc_ctx *ctx, dc_tensor **in, void *st)
{
    return dc_embedding(ctx, in[0], in[1], -1);
}

/* ids [2, 5] with repeats (3 three times, 1 three times) into w [7, 4]. */
static int s_emb(dc_rng *r, dc_tensor **in, void **st)
{
    static const int64_t ids[] = {3, 1, 3, 0, 6, 1, 1, 5, 3, 2};
    in[0] = ids_new(2, DC_SHAPE(2, 5), ids);
    in[1] = gc_param(r, 2, DC_SHAPE(7, 4), -1, 1);
    return all_or_none(in, 2);
}

/* ids [2, 2, 3] into w [5, 3]: a 4-d output. */
static int s_emb3(dc_rng *r, dc_tensor **in, void **st)
{
    static const int64_t ids[] = {4, 0, 4, 2, 2, 1, 0, 0, 3, 4, 1, 2};
    in[0] = ids_new(3, DC_SHAPE(2, 2, 3), ids);
    in[1] = gc_param(r, 2, DC_SHAPE(5, 3), -1, 1);
    return all_or_none(in, 2);
}

/* w = [const padding row 0; trainable rows 1..6], padding_idx 0 */
static dc_tensor *f_emb_pad0(dc_ctx *ctx, dc_tensor **in, void *st)
{
    dc_tensor *parts[2] = {in[1], in[2]};
    return dc_embedding(ctx, in[0], dc_concat(ctx, parts, 2, 0), 0);
}

static int s_emb_pad0(dc_rng *r, dc_tensor **in, void **st)
{
    static const int64_t ids[] = {0, 2, 2, 0, 5, 0, 6, 2, 1, 0, 0, 3};
    in[0] = ids_new(2, DC_SHAPE(3, 4), ids);
    in[1] = gc_const(r, 2, DC_SHAPE(1, 4), -1, 1);
    in[2] = gc_param(r, 2, DC_SHAPE(6, 4), -1, 1);
    return all_or_none(in, 3);
}

/* w = [trainable rows 0..2; const padding row 3; trainable rows 4..6], padding_idx 3 */
static dc_tensor *f_emb_pad3(dc_ctx *ctx, dc_tensor **in, void *st)
{
    dc_tensor *parts[3] = {in[1], in[2], in[3]};
    return dc_embedding(ctx, in[0], dc_concat(ctx, parts, 3, 0), 3);
}

static int s_emb_pad3(dc_rng *r, dc_tensor **in, void **st)
{
    static const int64_t ids[] = {3, 4, 4, 3, 0, 6, 3, 2, 4, 1};
    in[0] = ids_new(2, DC_SHAPE(2, 5), ids);
    in[1] = gc_param(r, 2, DC_SHAPE(3, 5), -1, 1);
    in[2] = gc_const(r, 2, DC_SHAPE(1, 5), -1, 1);
    in[3] = gc_param(r, 2, DC_SHAPE(3, 5), -1, 1);
    return all_or_none(in, 4);
}

/* The Embedding module inside a model: ids, then the model's weight. */
static dc_tensor *f_model(dc_ctx *ctx, dc_tensor **in, void *st)
{
    return dc_model_forward(ctx, st, in[0]);
}

static void t_model(dc_tensor **in, int n, void *st)
{
    dc_tensor_free(in[0]);
    dc_model_free(st);
}

static int s_emb_module(dc_rng *r, dc_tensor **in, void **st)
{
    static const int64_t ids[] = {1, 5, 1, 1, 0, 2};
    dc_model *m = dc_model_new();
    if (!m || dc_model_add(m, dc_embedding_new(m, "emb", 6, 3, -1, r)) != DC_OK) {
        dc_model_free(m);
        return -1;
    }
    in[0] = ids_new(2, DC_SHAPE(3, 2), ids);
    in[1] = dc_model_find(m, "emb.weight");
    if (!in[0] || !in[1]) {
        dc_tensor_free(in[0]);
        dc_model_free(m);
        return -1;
    }
    *st = m;
    return 2;
}

/* ---- select_step / select_last ---- */

static int s_seq(dc_rng *r, dc_tensor **in, void **st)
{
    in[0] = gc_param(r, 3, DC_SHAPE(3, 5, 4), -1, 1);
    return all_or_none(in, 1);
}

static dc_tensor *f_step2(dc_ctx *ctx, dc_tensor **in, void *st)
{
    return dc_select_step(ctx, in[0], 2);
}
static dc_tensor *f_step_m1(dc_ctx *ctx, dc_tensor **in, void *st)
{
    return dc_select_step(ctx, in[0], -1);
}
static dc_tensor *f_step_m5(dc_ctx *ctx, dc_tensor **in, void *st)
{
    return dc_select_step(ctx, in[0], -5);
}

/* x [N, T, F] (requires grad) and int64 lengths [N] (no grad). */
static int s_last(dc_rng *r, dc_tensor **in, int64_t N, int64_t T, const int64_t *lens)
{
    in[0] = gc_param(r, 3, DC_SHAPE(N, T, 3), -1, 1);
    in[1] = ids_new(1, DC_SHAPE(N), lens);
    return all_or_none(in, 2);
}

static int s_last_var(dc_rng *r, dc_tensor **in, void **st)
{
    static const int64_t lens[] = {5, 1, 3};
    return s_last(r, in, 3, 5, lens);
}

static int s_last_rep(dc_rng *r, dc_tensor **in, void **st)
{
    static const int64_t lens[] = {2, 2, 4, 2};
    return s_last(r, in, 4, 4, lens);
}

static dc_tensor *f_last(dc_ctx *ctx, dc_tensor **in, void *st)
{
    return dc_select_last(ctx, in[0], in[1]);
}
static dc_tensor *f_last_null(dc_ctx *ctx, dc_tensor **in, void *st)
{
    return dc_select_last(ctx, in[0], NULL);
}

/* ids [3, 4] -> embedding [3, 4, 5] -> the last valid step of each row (lengths 4, 2, 1). */
static int s_last_emb(dc_rng *r, dc_tensor **in, void **st)
{
    static const int64_t ids[] = {1, 2, 0, 2, 3, 3, 0, 0, 2, 0, 0, 0};
    static const int64_t lens[] = {4, 2, 1};
    in[0] = ids_new(2, DC_SHAPE(3, 4), ids);
    in[1] = gc_param(r, 2, DC_SHAPE(4, 5), -1, 1);
    in[2] = ids_new(1, DC_SHAPE(3), lens);
    return all_or_none(in, 3);
}

static dc_tensor *f_last_emb(dc_ctx *ctx, dc_tensor **in, void *st)
{
    return dc_select_last(ctx, dc_embedding(ctx, in[0], in[1], -1), in[2]);
}

#define CASE(name, setup, fwd) {name, setup, fwd, NULL, 0, 0, 0}

static const gc_case cases[] = {
    CASE("embedding [7,4] ids [2,5] repeated", s_emb, f_emb),
    CASE("embedding [5,3] ids [2,2,3]", s_emb3, f_emb),
    CASE("embedding padding_idx 0, repeated", s_emb_pad0, f_emb_pad0),
    CASE("embedding padding_idx 3 (middle row)", s_emb_pad3, f_emb_pad3),
    {"embedding module emb(6,3)", s_emb_module, f_model, t_model, 0, 0, 0},
    CASE("select_step t=2 [3,5,4]", s_seq, f_step2),
    CASE("select_step t=-1 [3,5,4]", s_seq, f_step_m1),
    CASE("select_step t=-5 [3,5,4]", s_seq, f_step_m5),
    CASE("select_last lengths 5,1,3", s_last_var, f_last),
    CASE("select_last lengths 2,2,4,2", s_last_rep, f_last),
    CASE("select_last lengths NULL", s_last_var, f_last_null),
    CASE("select_last of embedding", s_last_emb, f_last_emb),
};
const gc_list gc_seq = {cases, (int)(sizeof cases / sizeof *cases)};
