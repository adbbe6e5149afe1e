/*
 * gc_seq2seq.c - gradient-check cases for the seq2seq pieces (docs/g2p.md): Luong attention as
 * an op (general and dot scores, with a key padding mask that hides some source positions) and
 * the LuongAttention module (its weights). Select on a float input is dc_select_step (gc_seq.c).
 */
#include "gradcheck.h"

#include <stdlib.h>

#define NDIM(...) ((int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define P(...) gc_param(r, NDIM(__VA_ARGS__), DC_SHAPE(__VA_ARGS__), -1.0f, 1.0f)

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

/* h [2, 3, 4], memory [2, 5, 6], key padding [2, 5] (the second source is 3 long), w_in [6, 4],
 * w_out [4, 10]. */
static int s_luong(dc_rng *r, dc_tensor **in, void **st)
{
    (void)st;
    in[0] = P(2, 3, 4);
    in[1] = P(2, 5, 6);
    in[2] = dc_tensor_new(DC_I64, 2, DC_SHAPE(2, 5));
    in[3] = P(6, 4);
    in[4] = P(4, 10);
    if (in[2])
        for (int i = 0; i < 10; i++)
            dc_i64(in[2])[i] = i >= 8;
    return all_or_none(in, 5);
}

static dc_tensor *f_luong(dc_ctx *ctx, dc_tensor **in, void *st)
{
    (void)st;
    return dc_luong_attention(ctx, in[0], in[1], in[2], in[3], in[4]);
}

/* dot scores: h and memory of one size, no w_in */
static int s_luong_dot(dc_rng *r, dc_tensor **in, void **st)
{
    (void)st;
    in[0] = P(2, 3, 4);
    in[1] = P(2, 5, 4);
    in[2] = P(4, 8);
    return all_or_none(in, 3);
}

static dc_tensor *f_luong_dot(dc_ctx *ctx, dc_tensor **in, void *st)
{
    (void)st;
    return dc_luong_attention(ctx, in[0], in[1], NULL, NULL, in[2]);
}

/* The module with its registered weights, run through forward_n(h, memory). */
typedef struct luong_state {
    dc_model *m;
    dc_module *mod;
    dc_tensor *mem;
} luong_state;

static int s_luong_mod(dc_rng *r, dc_tensor **in, void **st)
{
    dc_model *m = dc_model_new();
    dc_module *a = m ? dc_luong_attention_new(m, "attn", 4, 6, 1, -1, r) : NULL;
    luong_state *s = calloc(1, sizeof *s);
    if (!a || !s || dc_model_add(m, a) != DC_OK) {
        dc_model_free(m);
        free(s);
        return -1;
    }
    *s = (luong_state){m, a, P(2, 5, 6)};
    *st = s;
    in[0] = P(2, 3, 4);
    in[1] = s->mem;
    int n = 2;
    for (int i = 0; i < dc_model_n_tensors(m) && n < GC_MAX_IN; i++)
        in[n++] = dc_model_tensor(m, i);
    return n;
}

static dc_tensor *f_luong_mod(dc_ctx *ctx, dc_tensor **in, void *st)
{
    luong_state *s = st;
    dc_tensor *xs[2] = {in[0], in[1]};
    return s->mod->forward_n(ctx, s->mod, xs, 2);
}

static void t_luong_mod(dc_tensor **in, int n, void *st)
{
    luong_state *s = st;
    (void)n;
    dc_tensor_free(in[0]);
    if (s) {
        dc_tensor_free(s->mem);
        dc_model_free(s->m);
        free(s);
    }
}

static const gc_case cases[] = {
    {"luong_attention general + key padding", s_luong, f_luong, NULL, 0, 0, 0},
    {"luong_attention dot", s_luong_dot, f_luong_dot, NULL, 0, 0, 0},
    {"LuongAttention module", s_luong_mod, f_luong_mod, t_luong_mod, 0, 0, 0},
};
const gc_list gc_seq2seq = {cases, (int)(sizeof cases / sizeof *cases)};
