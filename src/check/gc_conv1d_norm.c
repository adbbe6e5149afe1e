/*
 * gc_conv1d_norm.c - gradient-check cases for Conv1d and GroupNorm (ops and modules).
 */
#include "gradcheck.h"

#include <stdlib.h>

typedef struct c1_cfg {
    int64_t N, C, L, O;
    int k, bias;
    dc_conv1d_opts o; /* stride, dilation, groups, pad_left, pad_right */
} c1_cfg;

static const c1_cfg c1_cfgs[] = {
    {2, 4, 9, 6, 3, 1, {1, 1, 1, 0, 0}}, /* 0 plain */
    {2, 4, 9, 6, 3, 1, {2, 2, 1, 1, 2}}, /* 1 stride 2, dilation 2, padding (1, 2) */
    {2, 4, 9, 6, 3, 0, {1, 1, 2, 1, 1}}, /* 2 groups 2, no bias */
};

static int c1_setup(const c1_cfg *c, dc_rng *r, dc_tensor **ins)
{
    ins[0] = gc_param(r, 3, DC_SHAPE(c->N, c->C, c->L), -1, 1);
    ins[1] = gc_param(r, 3, DC_SHAPE(c->O, c->C / c->o.groups, c->k), -0.5f, 0.5f);
    if (c->bias)
        ins[2] = gc_param(r, 1, DC_SHAPE(c->O), -0.5f, 0.5f);
    return ins[0] && ins[1] && (!c->bias || ins[2]) ? 2 + c->bias : -1;
}

#define C1_SETUP(i)                                                                           \
    static int c1_setup_##i(dc_rng *r, dc_tensor **ins, void **st)                            \
    {                                                                                         \
        *st = (void *)&c1_cfgs[i];                                                            \
        return c1_setup(&c1_cfgs[i], r, ins);                                                 \
    }
C1_SETUP(0)
C1_SETUP(1)
C1_SETUP(2)

static dc_tensor *c1_fwd(dc_ctx *ctx, dc_tensor **ins, void *st)
{
    const c1_cfg *c = st;
    return dc_conv1d(ctx, ins[0], ins[1], c->bias ? ins[2] : NULL, &c->o);
}

typedef struct gn_cfg {
    int ndim;
    int64_t shape[4];
    int64_t G;
    int affine;
} gn_cfg;

static const gn_cfg gn_cfgs[] = {
    {3, {2, 4, 5}, 2, 1},    /* 0 [N, C, L], 2 groups */
    {4, {2, 6, 3, 2}, 3, 1}, /* 1 [N, C, H, W], 3 groups */
    {4, {2, 3, 2, 2}, 1, 0}, /* 2 one group (LayerNorm over C, H, W), no affine */
    {2, {3, 4}, 4, 1},       /* 3 [N, C], a group per channel */
};

static int gn_setup(const gn_cfg *c, dc_rng *r, dc_tensor **ins)
{
    ins[0] = gc_param(r, c->ndim, c->shape, -2, 2);
    if (!c->affine)
        return ins[0] ? 1 : -1;
    ins[1] = gc_param(r, 1, DC_SHAPE(c->shape[1]), 0.5f, 1.5f);
    ins[2] = gc_param(r, 1, DC_SHAPE(c->shape[1]), -0.5f, 0.5f);
    return ins[0] && ins[1] && ins[2] ? 3 : -1;
}

#define GN_SETUP(i)                                                                           \
    static int gn_setup_##i(dc_rng *r, dc_tensor **ins, void **st)                            \
    {                                                                                         \
        *st = (void *)&gn_cfgs[i];                                                            \
        return gn_setup(&gn_cfgs[i], r, ins);                                                 \
    }
GN_SETUP(0)
GN_SETUP(1)
GN_SETUP(2)
GN_SETUP(3)

static dc_tensor *gn_fwd(dc_ctx *ctx, dc_tensor **ins, void *st)
{
    const gn_cfg *c = st;
    return dc_group_norm(ctx, ins[0], c->G, c->affine ? ins[1] : NULL,
                         c->affine ? ins[2] : NULL, 1e-5f);
}

/* modules: the model's parameters are the inputs after x (gc_module_finish) */
static int conv1d_mod_setup(dc_rng *r, dc_tensor **ins, void **st)
{
    dc_model *m = dc_model_new();
    dc_conv1d_opts o = {2, 1, 1, 1, 1};
    dc_module *mod = m ? dc_conv1d_new(m, "c1", 4, 6, 3, &o, 1, r) : NULL;
    return m ? gc_module_finish(m, mod, gc_param(r, 3, DC_SHAPE(2, 4, 8), -1, 1), ins, st) : -1;
}

static int gn_mod_setup(dc_rng *r, dc_tensor **ins, void **st)
{
    dc_model *m = dc_model_new();
    dc_module *mod = m ? dc_group_norm_new(m, "gn", 2, 6, 1e-5f, 1) : NULL;
    if (mod) { /* move weight, bias away from their 1, 0 init so every term shows */
        dc_tensor_uniform(dc_model_find(m, "gn.weight"), r, 0.5f, 1.5f);
        dc_tensor_uniform(dc_model_find(m, "gn.bias"), r, -0.5f, 0.5f);
    }
    return m ? gc_module_finish(m, mod, gc_param(r, 3, DC_SHAPE(2, 6, 5), -2, 2), ins, st) : -1;
}

static const gc_case cases[] = {
    {"conv1d plain k3", c1_setup_0, c1_fwd, NULL, 0, 0, 0},
    {"conv1d s2 d2 pad(1,2)", c1_setup_1, c1_fwd, NULL, 0, 0, 0},
    {"conv1d groups 2 no bias", c1_setup_2, c1_fwd, NULL, 0, 0, 0},
    {"conv1d module Conv1d(4,6,3,s2,p1)", conv1d_mod_setup, gc_module_fwd, gc_module_teardown, 0, 0, 0},
    {"group_norm [N,C,L] G2", gn_setup_0, gn_fwd, NULL, 0, 0, 0},
    {"group_norm [N,C,H,W] G3", gn_setup_1, gn_fwd, NULL, 0, 0, 0},
    {"group_norm G1 no affine", gn_setup_2, gn_fwd, NULL, 0, 0, 0},
    {"group_norm [N,C] G=C", gn_setup_3, gn_fwd, NULL, 0, 0, 0},
    {"group_norm module GroupNorm(2,6)", gn_mod_setup, gc_module_fwd, gc_module_teardown, 0, 0, 0},
};

const gc_list gc_conv1d_norm = {cases, sizeof cases / sizeof *cases};
