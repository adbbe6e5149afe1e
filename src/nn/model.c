/*
 * model.c - a model owns its modules and one block of parameter/buffer memory plus one block of
 * gradients. Tensors are registered by their PyTorch state_dict name.
 *
 * While parameters are being added the blocks grow geometrically (capacity doubles; the bytes
 * in use are data_bytes / grad_bytes) and every tensor's data/grad pointer is moved with them
 * when they move, so adding n parameters costs O(n) copies in all, not O(n^2) (a 4,096-layer
 * spec took 30 s with a copy per parameter); after construction they never move.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *name;
    dc_tensor *t;
    int is_buffer;
    size_t off;      /* byte offset in the data block */
    size_t goff;     /* byte offset in the grad block (trainable only) */
} entry;

typedef struct node {
    dc_module *mod;
    int n_in;
    int in[DC_MAX_NODE_INPUTS]; /* earlier module indices or DC_MODEL_INPUT */
} node;

/* An open-addressing hash set of indices (slot value i + 1; 0 empty) whose names live in the
 * model's entries or modules; at most half full. */
typedef struct name_index {
    int *slot;
    int cap; /* a power of two, or 0 */
} name_index;

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static const char *entry_name(const struct dc_model *m, int i, int modules);

/* The index of name, or -1. */
static int index_find(const struct dc_model *m, const name_index *x, int modules,
                      const char *name)
{
    if (!x->cap)
        return -1;
    for (size_t k = hash_name(name) & (size_t)(x->cap - 1);; k = (k + 1) & (size_t)(x->cap - 1)) {
        int v = x->slot[k];
        if (!v)
            return -1;
        if (!strcmp(entry_name(m, v - 1, modules), name))
            return v - 1;
    }
}

static void index_put(int *slot, int cap, uint64_t h, int i)
{
    size_t k = h & (size_t)(cap - 1);
    while (slot[k])
        k = (k + 1) & (size_t)(cap - 1);
    slot[k] = i + 1;
}

/* Add index i (n indices in all after it) to x, growing it first when needed; false when out of
 * memory (nothing changed). */
static bool index_add(const struct dc_model *m, name_index *x, int modules, int i, int n)
{
    if (2 * n > x->cap) {
        int cap = x->cap ? 2 * x->cap : 64;
        while (2 * n > cap)
            cap *= 2;
        int *slot = calloc((size_t)cap, sizeof *slot);
        if (!slot)
            return false;
        for (int j = 0; j < i; j++)
            index_put(slot, cap, hash_name(entry_name(m, j, modules)), j);
        free(x->slot);
        x->slot = slot;
        x->cap = cap;
    }
    index_put(x->slot, x->cap, hash_name(entry_name(m, i, modules)), i);
    return true;
}

struct dc_model {
    entry *e;
    int n, cap;
    unsigned char *data, *grad;
    size_t data_bytes, grad_bytes; /* in use */
    size_t data_cap, grad_cap;     /* allocated */
    node *mods;
    int n_mods, cap_mods;
    name_index tensors, modules; /* name -> index, so that adding n names is O(n) */
    char **alias;       /* pairs: alias[2i] a file key, alias[2i + 1] its tensor (NULL: ignore) */
    int n_alias, cap_alias;
    dc_packs *packs;    /* frozen (dc_model_freeze): the packed GEMM operands; else NULL */
};

static const char *entry_name(const dc_model *m, int i, int modules)
{
    return modules ? m->mods[i].mod->name : m->e[i].name;
}

static void destroy_module(dc_module *mod)
{
    if (mod && mod->destroy)
        mod->destroy(mod);
    free(mod);
}

dc_model *dc_model_new(void)
{
    dc_model *m = calloc(1, sizeof *m);
    if (!m)
        return dc_err_null(DC_ERR_NOMEM, "dc_model_new: out of memory");
    return m;
}

void dc_model_free(dc_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_mods; i++)
        destroy_module(m->mods[i].mod);
    for (int i = 0; i < m->n; i++) {
        free(m->e[i].name);
        free(m->e[i].t);
    }
    free(m->tensors.slot);
    free(m->modules.slot);
    for (int i = 0; i < 2 * m->n_alias; i++)
        free(m->alias[i]);
    free(m->alias);
    dc_packs_free(m->packs);
    free(m->mods);
    free(m->e);
    free(m->data);
    free(m->grad);
    free(m);
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Make room for `need` bytes in a 64-aligned block of *cap bytes whose first `used` are in use:
 * when it is too small, a new block of max(need, 2 * *cap) bytes (the used bytes copied) replaces
 * it and *moved is set. The rest is left as allocated: each parameter zeroes its own bytes when it
 * is added, so the spare capacity of a large (mmap'd) block is never touched and costs no
 * memory. False when out of memory (the block is kept). */
static bool reserve_block(unsigned char **block, size_t *cap, size_t used, size_t need,
                          bool *moved)
{
    if (need <= *cap && *block)
        return true;
    size_t n = *cap > SIZE_MAX / 2 ? need : 2 * *cap;
    if (n < need)
        n = need;
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0)
        return false;
    if (used)
        memcpy(p, *block, used);
    free(*block);
    *block = p;
    *cap = n;
    *moved = true;
    return true;
}

static void repoint(dc_model *m)
{
    for (int i = 0; i < m->n; i++) {
        entry *e = &m->e[i];
        e->t->data = m->data + e->off;
        e->t->grad = (e->t->flags & DC_TF_REQUIRES_GRAD) ? (float *)(m->grad + e->goff) : NULL;
    }
}

dc_tensor *dc_model_add_param(dc_model *m, const char *name, dc_dtype dtype, int ndim,
                              const int64_t *shape, int is_buffer)
{
    int64_t numel;
    if (!m || !name || !*name)
        return dc_err_null(DC_ERR_ARG, "dc_model_add_param: missing model or name");
    if (m->packs)
        return dc_err_null(DC_ERR_STATE, "dc_model_add_param: '%s': the model is frozen "
                           "(dc_model_freeze); unfreeze it to add parameters", name);
    if (dc_model_find(m, name))
        return dc_err_null(DC_ERR_ARG, "dc_model_add_param: duplicate name '%s'", name);
    if (!dc_shape_numel(ndim, shape, &numel))
        return dc_err_null(DC_ERR_ARG, "dc_model_add_param: bad shape for '%s'", name);
    if (!is_buffer && dtype != DC_F32)
        return dc_err_null(DC_ERR_DTYPE, "dc_model_add_param: trainable '%s' must be float",
                           name);
    if (m->n == m->cap) {
        int cap = m->cap ? m->cap * 2 : 16;
        entry *e = realloc(m->e, (size_t)cap * sizeof *e);
        if (!e)
            return dc_err_null(DC_ERR_NOMEM, "dc_model_add_param: out of memory");
        m->e = e;
        m->cap = cap;
    }
    size_t bytes = round64((size_t)numel * (dtype == DC_I64 ? 8 : 4));
    dc_tensor *t = calloc(1, sizeof *t);
    char *nm = strdup(name);
    bool moved = false;
    bool room = reserve_block(&m->data, &m->data_cap, m->data_bytes, m->data_bytes + bytes,
                              &moved) &&
                (is_buffer || reserve_block(&m->grad, &m->grad_cap, m->grad_bytes,
                                            m->grad_bytes + bytes, &moved));
    if (!t || !nm || !room) {
        free(t);
        free(nm);
        if (moved)
            repoint(m);
        return dc_err_null(DC_ERR_NOMEM, "dc_model_add_param: out of memory for '%s'", name);
    }
    entry *e = &m->e[m->n];
    e->name = nm;
    if (!index_add(m, &m->tensors, 0, m->n, m->n + 1)) {
        free(t);
        free(nm);
        if (moved)
            repoint(m);
        return dc_err_null(DC_ERR_NOMEM, "dc_model_add_param: out of memory for '%s'", name);
    }
    m->n++;
    e->t = t;
    e->is_buffer = is_buffer;
    e->off = m->data_bytes;
    e->goff = m->grad_bytes;
    m->data_bytes += bytes;
    if (!is_buffer)
        m->grad_bytes += bytes;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < DC_MAX_DIMS; i++)
        t->shape[i] = i < ndim ? shape[i] : 1;
    t->numel = numel;
    t->name = nm;
    t->flags = DC_TF_PARAM | (is_buffer ? 0u : DC_TF_REQUIRES_GRAD);
    memset(m->data + e->off, 0, bytes);
    if (!is_buffer)
        memset(m->grad + e->goff, 0, bytes);
    if (moved)
        repoint(m); /* the earlier tensors follow their block; the new one is set too */
    else {
        t->data = m->data + e->off;
        t->grad = is_buffer ? NULL : (float *)(m->grad + e->goff);
    }
    return t;
}

dc_status dc_model_add_from(dc_model *m, dc_module *mod, int n_inputs, const int *inputs)
{
    dc_status st = DC_OK;
    if (!m || !mod)
        st = dc_err(DC_ERR_ARG, "dc_model_add: NULL model or module (did its _new fail?)");
    else if (dc_model_find_module(m, mod->name) >= 0)
        st = dc_err(DC_ERR_ARG, "dc_model_add: a layer called '%s' exists already", mod->name);
    else if (n_inputs < 1 || n_inputs > DC_MAX_NODE_INPUTS)
        st = dc_err(DC_ERR_ARG, "layer %s: %d inputs (1..%d allowed)", mod->name, n_inputs,
                    DC_MAX_NODE_INPUTS);
    else if (n_inputs > 1 && !mod->forward_n)
        st = dc_err(DC_ERR_ARG, "layer %s (%s) takes one input, got %d", mod->name, mod->type,
                    n_inputs);
    for (int i = 0; st == DC_OK && i < n_inputs; i++)
        if (inputs[i] < DC_MODEL_INPUT || inputs[i] >= m->n_mods)
            st = dc_err(DC_ERR_ARG, "layer %s: input %d refers to no earlier layer", mod->name,
                        inputs[i]);
    if (st == DC_OK && m->n_mods == m->cap_mods) {
        int cap = m->cap_mods ? m->cap_mods * 2 : 8;
        node *p = realloc(m->mods, (size_t)cap * sizeof *p);
        if (!p)
            st = dc_err(DC_ERR_NOMEM, "dc_model_add: out of memory");
        else {
            m->mods = p;
            m->cap_mods = cap;
        }
    }
    if (st != DC_OK) {
        destroy_module(mod);
        return st;
    }
    node *nd = &m->mods[m->n_mods];
    nd->mod = mod;
    if (!index_add(m, &m->modules, 1, m->n_mods, m->n_mods + 1)) {
        destroy_module(mod);
        return dc_err(DC_ERR_NOMEM, "dc_model_add: out of memory");
    }
    m->n_mods++;
    nd->n_in = n_inputs;
    memcpy(nd->in, inputs, (size_t)n_inputs * sizeof *inputs);
    return DC_OK;
}

dc_status dc_model_add(dc_model *m, dc_module *mod)
{
    int prev = m ? m->n_mods - 1 : DC_MODEL_INPUT;
    return dc_model_add_from(m, mod, 1, &prev);
}

/* Run module i on its inputs taken from outs[] (or the model input x). */
static dc_tensor *run_node(dc_ctx *ctx, const node *nd, dc_tensor *x, dc_tensor **outs)
{
    dc_tensor *xs[DC_MAX_NODE_INPUTS];
    for (int k = 0; k < nd->n_in; k++) {
        xs[k] = nd->in[k] == DC_MODEL_INPUT ? x : outs[nd->in[k]];
        if (!xs[k])
            return NULL;
    }
    if (nd->mod->forward_n)
        return nd->mod->forward_n(ctx, nd->mod, xs, nd->n_in);
    return nd->mod->forward(ctx, nd->mod, xs[0]);
}

enum { MAX_FUSED = 3 }; /* modules one module may absorb (Conv2d: BatchNorm, Add, ReLU) */

static dc_tensor *node_input(const node *nd, int k, dc_tensor *x, dc_tensor **outs)
{
    return nd->in[k] == DC_MODEL_INPUT ? x : outs[nd->in[k]];
}

/* Offer node i the run of nodes after it that pass one output on to the next: each reads the
 * previous node's output, which nothing else reads (readers[j]: nodes reading output j, plus
 * one for the model's output), and at most one earlier output besides (side[k]). Returns how
 * many it absorbed (outs[i..i+k] all hold the fused output), or 0. */
static int try_fuse(dc_ctx *ctx, dc_model *m, int i, dc_tensor *x, dc_tensor **outs,
                    const int *readers)
{
    const node *nd = &m->mods[i];
    dc_module *next[MAX_FUSED];
    dc_tensor *side[MAX_FUSED];
    int k = 0, used = 0;
    if (!nd->mod->fuse || nd->n_in != 1)
        return 0;
    while (k < MAX_FUSED && i + k + 1 < m->n_mods && readers[i + k] == 1) {
        const node *nx = &m->mods[i + k + 1];
        const int at = nx->in[0] == i + k ? 0 : 1; /* which input is the chain */
        if (nx->in[at] != i + k || nx->n_in > 2 || (nx->n_in == 2 && nx->in[1 - at] == i + k))
            break;
        side[k] = nx->n_in == 2 ? node_input(nx, 1 - at, x, outs) : NULL;
        if (nx->n_in == 2 && !side[k])
            break;
        next[k++] = nx->mod;
    }
    if (k == 0)
        return 0;
    dc_tensor *in = node_input(nd, 0, x, outs);
    dc_tensor *y = in ? nd->mod->fuse(ctx, nd->mod, in, next, side, k, &used) : NULL;
    for (int j = 0; y && j <= used; j++)
        outs[i + j] = y;
    return y ? used : 0;
}

/* 1 when node nd reads the output of node j. */
static int reads(const node *nd, int j)
{
    for (int k = 0; k < nd->n_in; k++)
        if (nd->in[k] == j)
            return 1;
    return 0;
}

/* Every node in order but skip (-1: none; its output stays NULL); with fuse, a module may run
 * the next ones with it (try_fuse). */
static dc_tensor *run_nodes(dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor **outs, int fuse,
                            int skip)
{
    if (m->n_mods == 0)
        return dc_err_null(DC_ERR_STATE, "dc_model_forward: the model has no layers");
    int *readers = NULL;
    if (fuse && (readers = dc_ctx_alloc(ctx, sizeof *readers * (size_t)m->n_mods))) {
        memset(readers, 0, sizeof *readers * (size_t)m->n_mods);
        readers[m->n_mods - 1] = 1;
        for (int i = 0; i < m->n_mods; i++)
            for (int k = 0; k < m->mods[i].n_in; k++)
                if (m->mods[i].in[k] != DC_MODEL_INPUT)
                    readers[m->mods[i].in[k]]++;
    }
    dc_tensor *last = NULL;
    for (int i = 0; i < m->n_mods; i++) {
        if (i == skip) {
            outs[i] = NULL;
            continue;
        }
        if (skip >= 0 && reads(&m->mods[i], skip))
            return dc_err_null(DC_ERR_ARG, "layer %s reads the output of %s, which this forward "
                               "leaves out", m->mods[i].mod->name, m->mods[skip].mod->name);
        dc_ctx_set_scope(ctx, m->mods[i].mod->name);
        const int used = readers ? try_fuse(ctx, m, i, x, outs, readers) : 0;
        if (!used)
            outs[i] = run_node(ctx, &m->mods[i], x, outs);
        dc_ctx_set_scope(ctx, NULL);
        if (!outs[i]) {
            dc_err_prefix("layer %s (%s): ", m->mods[i].mod->name, m->mods[i].mod->type);
            return NULL;
        }
        last = outs[i + used];
        i += used;
    }
    return last;
}

/* run_nodes with the model's packed weights (if frozen) found through ctx while it runs. */
static dc_tensor *forward(dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor **outs, int fuse,
                          int skip)
{
    if (!m || !x)
        return NULL;
    dc_packs *outer = dc_ctx_set_packs(ctx, m->packs);
    dc_tensor *y = run_nodes(ctx, m, x, outs, fuse, skip);
    dc_ctx_set_packs(ctx, outer);
    return y;
}

dc_tensor *dc_model_forward_all(dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor **outs)
{
    return forward(ctx, m, x, outs, 0, -1);
}

dc_tensor *dc_model_forward_except(dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor **outs,
                                   int skip)
{
    if (m && (skip < 0 || skip >= m->n_mods))
        return dc_err_null(DC_ERR_ARG, "dc_model_forward_except: no layer %d", skip);
    return forward(ctx, m, x, outs, 0, skip);
}

dc_tensor *dc_model_forward(dc_ctx *ctx, dc_model *m, dc_tensor *x)
{
    if (!m || !x)
        return NULL;
    dc_tensor **outs = dc_ctx_alloc(ctx, (size_t)(m->n_mods ? m->n_mods : 1) * sizeof *outs);
    return outs ? forward(ctx, m, x, outs, 1, -1) : NULL;
}

int dc_model_find_module(const dc_model *m, const char *name)
{
    return index_find(m, &m->modules, 1, name);
}

int dc_model_module_inputs(const dc_model *m, int i, const int **inputs)
{
    *inputs = m->mods[i].in;
    return m->mods[i].n_in;
}

int dc_model_n_tensors(const dc_model *m) { return m->n; }
dc_tensor *dc_model_tensor(const dc_model *m, int i) { return m->e[i].t; }
int dc_model_is_buffer(const dc_model *m, int i) { return m->e[i].is_buffer; }
int dc_model_n_modules(const dc_model *m) { return m->n_mods; }
dc_module *dc_model_module(const dc_model *m, int i) { return m->mods[i].mod; }

dc_tensor *dc_model_find(const dc_model *m, const char *name)
{
    int i = index_find(m, &m->tensors, 0, name);
    return i < 0 ? NULL : m->e[i].t;
}

int64_t dc_model_n_trainable(const dc_model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n; i++)
        if (!m->e[i].is_buffer)
            n += m->e[i].t->numel;
    return n;
}

/* ---- frozen weights ---- */

/* Freeze m with float32 (bf16 0) or bfloat16 packs. */
static dc_status model_freeze(dc_model *m, int bf16, const char *who)
{
    if (!m)
        return dc_err(DC_ERR_ARG, "%s: NULL model", who);
    if (!m->packs && !(m->packs = dc_packs_new(m->data, m->data ? m->data + m->data_bytes
                                                                  : NULL, who)))
        return dc_last_status();
    /* frozen already: the packs are dropped either way, in case the weights were edited */
    dc_packs_set_bf16(m->packs, bf16);
    return DC_OK;
}

dc_status dc_model_freeze(dc_model *m) { return model_freeze(m, 0, "dc_model_freeze"); }

dc_status dc_model_freeze_bf16(dc_model *m)
{
    return model_freeze(m, 1, "dc_model_freeze_bf16");
}

int dc_model_frozen_bf16(const dc_model *m) { return m && m->packs && dc_packs_bf16(m->packs); }

void dc_model_unfreeze(dc_model *m)
{
    if (!m)
        return;
    dc_packs_free(m->packs);
    m->packs = NULL;
}

int dc_model_frozen(const dc_model *m) { return m && m->packs; }

dc_packs *dc_model_packs(const dc_model *m) { return m ? m->packs : NULL; }

size_t dc_model_frozen_bytes(const dc_model *m) { return m ? dc_packs_bytes(m->packs) : 0; }

void dc_model_weights_changed(dc_model *m)
{
    if (m)
        dc_packs_clear(m->packs);
}

void dc_model_zero_grad(dc_model *m)
{
    if (m->grad_bytes)
        memset(m->grad, 0, m->grad_bytes);
}

/* ---- module helpers ---- */

void *dc_module_alloc(size_t size, const char *type, const char *name, dc_forward_fn fwd)
{
    if (!name || strlen(name) >= sizeof ((dc_module *)0)->name)
        return dc_err_null(DC_ERR_ARG, "%s: module name missing or longer than 63 characters",
                           type);
    dc_module *mod = calloc(1, size);
    if (!mod)
        return dc_err_null(DC_ERR_NOMEM, "%s: out of memory", type);
    mod->type = type;
    strcpy(mod->name, name);
    mod->forward = fwd;
    return mod;
}

bool dc_join_name(char *buf, size_t size, const char *prefix, const char *suffix)
{
    int k = *prefix ? snprintf(buf, size, "%s.%s", prefix, suffix)
                    : snprintf(buf, size, "%s", suffix);
    return k >= 0 && (size_t)k < size;
}

static void carry_all(dc_model *m, int mode)
{
    for (int i = 0; m && i < m->n_mods; i++)
        if (m->mods[i].mod->carry)
            m->mods[i].mod->carry(m->mods[i].mod, mode);
}

void dc_model_set_carry(dc_model *m, int on) { carry_all(m, on ? DC_CARRY_ON : DC_CARRY_OFF); }

void dc_model_reset_state(dc_model *m) { carry_all(m, DC_CARRY_RESET); }

float *dc_model_grad_block(const dc_model *m, int64_t *n)
{
    *n = (int64_t)(m->grad_bytes / sizeof(float)); /* every trainable gradient, model order */
    return (float *)m->grad;
}

dc_status dc_model_alias(dc_model *m, const char *key, const char *name)
{
    if (!m || !key || !*key)
        return dc_err(DC_ERR_ARG, "dc_model_alias: no model or no key");
    if (m->n_alias == m->cap_alias) {
        int cap = m->cap_alias ? 2 * m->cap_alias : 16;
        char **a = realloc(m->alias, sizeof *a * 2 * (size_t)cap);
        if (!a)
            return dc_err(DC_ERR_NOMEM, "dc_model_alias: out of memory");
        m->alias = a;
        m->cap_alias = cap;
    }
    char *k = strdup(key), *v = name ? strdup(name) : NULL;
    if (!k || (name && !v)) {
        free(k);
        free(v);
        return dc_err(DC_ERR_NOMEM, "dc_model_alias: out of memory");
    }
    m->alias[2 * m->n_alias] = k;
    m->alias[2 * m->n_alias + 1] = v;
    m->n_alias++;
    return DC_OK;
}

int dc_model_alias_find(const dc_model *m, const char *key, const char **name)
{
    for (int i = 0; m && i < m->n_alias; i++)
        if (!strcmp(m->alias[2 * i], key)) {
            *name = m->alias[2 * i + 1];
            return 1;
        }
    return 0;
}
