/*
 * packs.c - the GEMM operands of a frozen model (dc_model_freeze), packed once and kept.
 *
 * A linear layer computes y[R, O] = x[R, I] · W[O, I]ᵀ; the GEMM packs op(B) = Wᵀ into panels
 * on every call (a transpose of the whole weight: a fifth of BERT-mini's batch-1 forward). While
 * a model is frozen its parameters are promised not to change, so the pack is made on first use
 * and kept here, keyed by the weights' data addresses and shapes:
 *
 *   (W_0, ..., W_{n-1})  →  op(B) = [W_0; ...; W_{n-1}]ᵀ  [I, O_0 + ... + O_{n-1}]  (dc_gemm_pack_b)
 *
 * n > 1 puts several weights side by side (BERT's query, key and value: one product writes the
 * [R, 3E] buffer). Only tensors whose data lies in the frozen block [lo, hi) (the model's
 * parameters) are packed; anything else (an arena tensor, another model's weight) is computed as
 * usual. The cache is an open-addressing table (at most half full) of malloc'd entries; one
 * mutex guards it, so several threads may run inference on one frozen model (each with its own
 * ctx); the first of them to need a pack makes it while the others wait.
 *
 * dc_model_freeze_bf16 makes the cache's packs bfloat16 ones (dc_gemm_pack_b_bf16): half the
 * weights' size, and the products round x to bfloat16 as well (kernels.h).
 *
 * Memory: each pack is about as large as its weights (zero-padded to the kernel's 32 columns;
 * half that for bfloat16);
 * all of it belongs to the cache and is freed by dc_packs_clear / dc_packs_free.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PACK_MAX_W 4

typedef struct pack_entry {
    int n;
    const void *data[PACK_MAX_W];
    int64_t rows[PACK_MAX_W], cols;
    dc_gemm_packed *packed; /* NULL: could not be packed (out of memory); not retried */
} pack_entry;

struct dc_packs {
    const unsigned char *lo, *hi; /* the frozen block */
    int bf16;                     /* packs for bfloat16 products (dc_model_freeze_bf16) */
    pack_entry **slot;
    int cap, count;
    size_t bytes;
    pthread_mutex_t lock;
};

dc_packs *dc_packs_new(const void *lo, const void *hi, const char *who)
{
    dc_packs *p = calloc(1, sizeof *p);
    if (!p)
        return dc_err_null(DC_ERR_NOMEM, "%s: out of memory", who);
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return dc_err_null(DC_ERR_NOMEM, "%s: cannot create a mutex", who);
    }
    p->lo = lo;
    p->hi = hi;
    return p;
}

/* Drop every entry (the caller holds the lock or owns p alone). */
static void packs_drop(dc_packs *p)
{
    for (int i = 0; i < p->cap; i++)
        if (p->slot[i]) {
            dc_gemm_packed_free(p->slot[i]->packed);
            free(p->slot[i]);
        }
    free(p->slot);
    p->slot = NULL;
    p->cap = p->count = 0;
    p->bytes = 0;
}

void dc_packs_clear(dc_packs *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    packs_drop(p);
    pthread_mutex_unlock(&p->lock);
}

void dc_packs_free(dc_packs *p)
{
    if (!p)
        return;
    packs_drop(p);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void dc_packs_set_bf16(dc_packs *p, int on)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    packs_drop(p);
    p->bf16 = on != 0;
    pthread_mutex_unlock(&p->lock);
}

int dc_packs_bf16(dc_packs *p)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&p->lock);
    const int b = p->bf16;
    pthread_mutex_unlock(&p->lock);
    return b;
}

size_t dc_packs_bytes(dc_packs *p)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&p->lock);
    const size_t b = p->bytes;
    pthread_mutex_unlock(&p->lock);
    return b;
}

/* The key of n weights: their data addresses (the shapes are checked on a hit). */
static size_t key_hash(int n, const void *const *data)
{
    uint64_t h = (uint64_t)n;
    for (int i = 0; i < n; i++)
        h = (h ^ (uint64_t)(uintptr_t)data[i]) * 1099511628211u; /* FNV-1a step per address */
    return (size_t)(h ^ (h >> 29));
}

static bool key_equal(const pack_entry *e, int n, const dc_tensor *const *w)
{
    if (e->n != n || e->cols != w[0]->shape[1])
        return false;
    for (int i = 0; i < n; i++)
        if (e->data[i] != w[i]->data || e->rows[i] != w[i]->shape[0])
            return false;
    return true;
}

/* The weights qualify: float [O_i, I] with the same I, their data inside the frozen block. */
static bool packable(const dc_packs *p, int n, const dc_tensor *const *w)
{
    if (n < 1 || n > PACK_MAX_W)
        return false;
    /* addresses as integers: comparing pointers into different objects is undefined */
    const uintptr_t lo = (uintptr_t)p->lo, hi = (uintptr_t)p->hi;
    for (int i = 0; i < n; i++) {
        const dc_tensor *t = w[i];
        const uintptr_t d = t ? (uintptr_t)t->data : 0;
        if (!t || t->dtype != DC_F32 || t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 ||
            t->shape[1] != w[0]->shape[1] || hi <= lo || d < lo || d >= hi ||
            hi - d < (uintptr_t)t->numel * sizeof(float))
            return false;
    }
    return true;
}

/* Room for one more entry (the table at most half full); false when out of memory. */
static bool packs_grow(dc_packs *p)
{
    if (2 * (p->count + 1) <= p->cap)
        return true;
    const int cap = p->cap ? 2 * p->cap : 64;
    pack_entry **slot = calloc((size_t)cap, sizeof *slot);
    if (!slot)
        return false;
    for (int i = 0; i < p->cap; i++) {
        pack_entry *e = p->slot[i];
        if (!e)
            continue;
        size_t k = key_hash(e->n, e->data) & (size_t)(cap - 1);
        while (slot[k])
            k = (k + 1) & (size_t)(cap - 1);
        slot[k] = e;
    }
    free(p->slot);
    p->slot = slot;
    p->cap = cap;
    return true;
}

/* A new entry for w with its pack, bfloat16 if bf16 (entry->packed NULL when that could not be
 * made). */
static pack_entry *entry_make(int n, const dc_tensor *const *w, int bf16)
{
    pack_entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    const float *src[PACK_MAX_W];
    int64_t N[PACK_MAX_W], ld[PACK_MAX_W];
    e->n = n;
    e->cols = w[0]->shape[1];
    for (int i = 0; i < n; i++) {
        e->data[i] = w[i]->data;
        e->rows[i] = N[i] = w[i]->shape[0];
        src[i] = dc_f32(w[i]);
        ld[i] = e->cols;
    }
    /* y = x·Wᵀ: op(B) = Wᵀ [I, O], W stored [O, I] (trans_b) */
    e->packed = bf16 ? dc_gemm_pack_b_bf16(1, e->cols, n, N, src, ld)
                     : dc_gemm_pack_b(1, e->cols, n, N, src, ld);
    return e;
}

const dc_gemm_packed *dc_packs_wt(dc_packs *p, int n, const dc_tensor *const *w)
{
    if (!p || !packable(p, n, w))
        return NULL;
    const void *data[PACK_MAX_W];
    for (int i = 0; i < n; i++)
        data[i] = w[i]->data;
    pthread_mutex_lock(&p->lock);
    const dc_gemm_packed *out = NULL;
    size_t k = p->cap ? key_hash(n, data) & (size_t)(p->cap - 1) : 0;
    while (p->cap && p->slot[k] && !key_equal(p->slot[k], n, w))
        k = (k + 1) & (size_t)(p->cap - 1);
    if (p->cap && p->slot[k]) {
        out = p->slot[k]->packed;
    } else if (packs_grow(p)) {
        pack_entry *e = entry_make(n, w, p->bf16);
        if (e) {
            k = key_hash(n, data) & (size_t)(p->cap - 1);
            while (p->slot[k])
                k = (k + 1) & (size_t)(p->cap - 1);
            p->slot[k] = e;
            p->count++;
            p->bytes += dc_gemm_packed_bytes(e->packed);
            out = e->packed;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return out;
}

const dc_gemm_packed *dc_ctx_packed_wt(dc_ctx *ctx, int n, const dc_tensor *const *w)
{
    dc_packs *p = ctx ? dc_ctx_packs(ctx) : NULL;
    return p ? dc_packs_wt(p, n, w) : NULL;
}
