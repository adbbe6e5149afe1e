/*
 * ctx.c - the step context: a bump arena, the tape, and backward.
 *
 * Arena: a list of chunks; allocations are bumped 64-byte aligned. dc_ctx_reset() rewinds. If a
 * step needed more than one chunk, reset replaces them by one chunk of the whole size, so from
 * the second step on a steady loop makes no malloc at all. The replaced chunks often came from
 * malloc's heap (glibc serves blocks below its adaptive mmap threshold, raised by every large
 * free up to 32 MiB, from the heap), where freed blocks stay resident: that reset also calls
 * malloc_trim(0) (glibc), which gave back 27 MB of dead pages in W7. (Chunks as their own mmap
 * gave the same peak, but left the threshold low for every other large malloc of the process,
 * sending those through mmap and munmap; trimming changes nothing else.)
 *
 * Tape: a vector of entry pointers (its capacity survives resets). Backward walks it in reverse;
 * an entry whose output received no gradient is skipped.
 *
 * Gradient buffers: dc_grad / dc_grad_fresh take an arena tensor's gradient from a free list of
 * buffers of the same size before bumping the arena. Once an entry's backward has run, its
 * output's gradient is dead (every consumer of the output is later on the tape, so it ran
 * before), and backward puts the buffer on the free list, unless dc_ctx_keep_grads asked to keep
 * them: the step then holds the gradients of a few layers at a time instead of all of them.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <dirent.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    unsigned char *mem;
} chunk;

/* One prepared weight buffer (dc_ctx_prepared): a copy of its sources, then the result. */
typedef struct prep {
    uint64_t key;
    const float *src[2]; /* where the sources were (one entry per layer, not per shape) */
    size_t n_src[2], n_out;
    float *mem; /* [n_src[0] + n_src[1]] sources, then [n_out] prepared */
} prep;

enum { N_PREP = 16 };

/* A dead gradient buffer of the arena, free for the next gradient of the same size. */
typedef struct grad_buf {
    float *mem;
    size_t bytes;
} grad_buf;

struct dc_ctx {
    chunk *head;          /* current chunk (others follow) */
    size_t total_used;    /* bytes handed out since reset, over all chunks */
    size_t high_water;
    uint64_t n_mallocs;
    dc_node **tape;
    int64_t tape_len, tape_cap;
    int grad_enabled, training, check_numerics;
    const char *first_nonfinite; /* op whose output first held a NaN/Inf (check_numerics) */
    const char *scope;           /* the layer running now (dc_model_forward), or NULL */
    dc_backward_hook hook;       /* called before backward (-1) and after each tape node */
    void *hook_user;
    const char *first_scope;     /* the layer of first_nonfinite */
    dc_rng *rng;
    prep prep[N_PREP];           /* kept across resets; replaced round robin */
    int prep_next;
    int keep_grads;              /* dc_ctx_keep_grads: do not recycle gradient buffers */
    grad_buf *gfree;             /* dead gradient buffers (emptied by reset; capacity kept) */
    int64_t n_gfree, cap_gfree;
    dc_packs *packs;             /* a frozen model's packed weights while it runs, or NULL */
};

#define ALIGN 64

static chunk *chunk_new(size_t size)
{
    chunk *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    if (posix_memalign((void **)&c->mem, ALIGN, size) != 0) {
        free(c);
        return NULL;
    }
    c->size = size;
    c->used = 0;
    c->next = NULL;
    return c;
}

static void chunks_free(chunk *c)
{
    while (c) {
        chunk *n = c->next;
        free(c->mem);
        free(c);
        c = n;
    }
}

dc_ctx *dc_ctx_new(size_t arena_bytes)
{
    dc_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return dc_err_null(DC_ERR_NOMEM, "dc_ctx_new: out of memory");
    ctx->head = chunk_new(arena_bytes ? arena_bytes : (size_t)1 << 20);
    if (!ctx->head) {
        free(ctx);
        return dc_err_null(DC_ERR_NOMEM, "dc_ctx_new: cannot allocate the arena");
    }
    ctx->n_mallocs = 1;
    ctx->grad_enabled = 1;
    return ctx;
}

void dc_ctx_free(dc_ctx *ctx)
{
    if (!ctx)
        return;
    chunks_free(ctx->head);
    free(ctx->tape);
    free(ctx->gfree);
    for (int i = 0; i < N_PREP; i++)
        free(ctx->prep[i].mem);
    free(ctx);
}

float *dc_ctx_prepared(dc_ctx *ctx, uint64_t key, const float *a, size_t na, const float *b,
                       size_t nb, size_t n_out, int *hit)
{
    *hit = 0;
    if ((na + nb + n_out) > PREP_MAX_FLOATS)
        return NULL;
    prep *p = NULL;
    for (int i = 0; i < N_PREP && !p; i++) /* the buffer of this place, key and sizes */
        if (ctx->prep[i].mem && ctx->prep[i].key == key && ctx->prep[i].src[0] == a &&
            ctx->prep[i].src[1] == b && ctx->prep[i].n_src[0] == na &&
            ctx->prep[i].n_src[1] == nb && ctx->prep[i].n_out == n_out)
            p = &ctx->prep[i];
    if (p && memcmp(p->mem, a, na * sizeof(float)) == 0 &&
        (nb == 0 || memcmp(p->mem + na, b, nb * sizeof(float)) == 0)) {
        *hit = 1;
        return p->mem + na + nb;
    }
    if (!p) { /* a new buffer, in place of the oldest */
        float *mem = malloc((na + nb + n_out) * sizeof(float));
        if (!mem)
            return NULL;
        p = &ctx->prep[ctx->prep_next];
        ctx->prep_next = (ctx->prep_next + 1) % N_PREP;
        free(p->mem);
        *p = (prep){.key = key, .src = {a, b}, .n_src = {na, nb}, .n_out = n_out, .mem = mem};
    }
    memcpy(p->mem, a, na * sizeof(float)); /* the sources the caller now prepares from */
    if (nb)
        memcpy(p->mem + na, b, nb * sizeof(float));
    return p->mem + na + nb;
}

void *dc_ctx_alloc(dc_ctx *ctx, size_t bytes)
{
    size_t need = (bytes + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need < bytes)
        return dc_err_null(DC_ERR_NOMEM, "arena: size overflow");
    chunk *c = ctx->head;
    if (c->size - c->used < need) {
        size_t size = c->size * 2 > need ? c->size * 2 : need;
        chunk *n = chunk_new(size);
        if (!n)
            return dc_err_null(DC_ERR_NOMEM, "arena: cannot grow by %zu bytes", size);
        ctx->n_mallocs++;
        n->next = c;
        ctx->head = c = n;
    }
    void *p = c->mem + c->used;
    c->used += need;
    ctx->total_used += need;
    if (ctx->total_used > ctx->high_water)
        ctx->high_water = ctx->total_used;
    return p;
}

void dc_ctx_reset(dc_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->head->next) {
        /* Several chunks: replace them by one that holds the whole step. */
        size_t total = 0;
        for (chunk *c = ctx->head; c; c = c->next)
            total += c->size;
        chunk *one = chunk_new(total);
        if (one) {
            chunks_free(ctx->head);
            ctx->head = one;
            ctx->n_mallocs++;
#ifdef __GLIBC__
            malloc_trim(0); /* as the loop settles (a few times a ctx): freed heap goes back */
#endif
        } else {
            for (chunk *c = ctx->head; c; c = c->next)
                c->used = 0;
        }
    }
    ctx->head->used = 0;
    ctx->total_used = 0;
    ctx->tape_len = 0;
    ctx->n_gfree = 0;
    ctx->first_nonfinite = NULL;
    ctx->first_scope = NULL;
}

int dc_ctx_set_grad(dc_ctx *ctx, int enabled)
{
    int old = ctx->grad_enabled;
    ctx->grad_enabled = enabled != 0;
    return old;
}

int dc_ctx_set_training(dc_ctx *ctx, int training)
{
    int old = ctx->training;
    ctx->training = training != 0;
    return old;
}

int dc_ctx_keep_grads(dc_ctx *ctx, int keep)
{
    int old = ctx->keep_grads;
    ctx->keep_grads = keep != 0;
    return old;
}

int dc_ctx_training(const dc_ctx *ctx) { return ctx->training; }
void dc_ctx_set_rng(dc_ctx *ctx, dc_rng *rng) { ctx->rng = rng; }
dc_rng *dc_ctx_rng(dc_ctx *ctx) { return ctx->rng; }
size_t dc_ctx_arena_used(const dc_ctx *ctx) { return ctx->total_used; }
size_t dc_ctx_arena_capacity(const dc_ctx *ctx)
{
    size_t total = 0;
    for (chunk *c = ctx->head; c; c = c->next)
        total += c->size;
    return total;
}
uint64_t dc_ctx_arena_mallocs(const dc_ctx *ctx) { return ctx->n_mallocs; }
int64_t dc_ctx_tape_len(const dc_ctx *ctx) { return ctx->tape_len; }
void dc_ctx_set_check_numerics(dc_ctx *ctx, int on) { ctx->check_numerics = on != 0; }
bool dc_ctx_checking_numerics(const dc_ctx *ctx) { return ctx->check_numerics; }
const char *dc_ctx_first_nonfinite(const dc_ctx *ctx) { return ctx->first_nonfinite; }
const char *dc_ctx_first_nonfinite_layer(const dc_ctx *ctx) { return ctx->first_scope; }
void dc_ctx_set_scope(dc_ctx *ctx, const char *layer) { ctx->scope = layer; }
dc_packs *dc_ctx_packs(const dc_ctx *ctx) { return ctx->packs; }

dc_packs *dc_ctx_set_packs(dc_ctx *ctx, dc_packs *p)
{
    dc_packs *old = ctx->packs;
    ctx->packs = p;
    return old;
}

/* ---- tape ---- */

bool dc_needs_grad(const dc_ctx *ctx, int n_in, dc_tensor *const *in)
{
    if (!ctx->grad_enabled)
        return false;
    for (int i = 0; i < n_in; i++)
        if (in[i] && (in[i]->flags & DC_TF_REQUIRES_GRAD))
            return true;
    return false;
}

static bool tape_push(dc_ctx *ctx, dc_node *n)
{
    if (ctx->tape_len == ctx->tape_cap) {
        int64_t cap = ctx->tape_cap ? ctx->tape_cap * 2 : 256;
        dc_node **t = realloc(ctx->tape, (size_t)cap * sizeof *t);
        if (!t)
            return false;
        ctx->tape = t;
        ctx->tape_cap = cap;
    }
    ctx->tape[ctx->tape_len++] = n;
    return true;
}

static dc_status check_finite(const char *op, const dc_tensor *t)
{
    if (t->dtype != DC_F32)
        return DC_OK;
    const float *p = dc_f32(t);
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(p[i]))
            return dc_err(DC_ERR_NUMERIC, "%s: output element %lld is %s", op, (long long)i,
                          isnan(p[i]) ? "NaN" : "Inf");
    return DC_OK;
}

dc_node *dc_record(dc_ctx *ctx, const char *op, dc_backward_fn bw, dc_tensor *out, int n_in,
                   dc_tensor *const *in)
{
    out->name = op;
    if (ctx->check_numerics && !ctx->first_nonfinite && check_finite(op, out) != DC_OK) {
        ctx->first_nonfinite = op;
        ctx->first_scope = ctx->scope;
    }
    if (!dc_needs_grad(ctx, n_in, in))
        return NULL;
    dc_node *n = dc_ctx_alloc(ctx, sizeof *n);
    dc_tensor **ins = n_in <= DC_NODE_MAX_IN ? NULL : dc_ctx_alloc(ctx, (size_t)n_in * sizeof *ins);
    if (!n || (n_in > DC_NODE_MAX_IN && !ins) || !tape_push(ctx, n)) {
        dc_err(DC_ERR_NOMEM, "%s: cannot record on the tape", op);
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->op = op;
    n->backward = bw;
    n->out = out;
    n->n_in = n_in;
    for (int i = 0; i < n_in && i < DC_NODE_MAX_IN; i++)
        n->in[i] = in[i];
    if (ins) {
        memcpy(ins, in, (size_t)n_in * sizeof *ins);
        n->ins = ins;
    } else {
        n->ins = n->in;
    }
    out->flags |= DC_TF_REQUIRES_GRAD;
    return n;
}

float *dc_ctx_scratch(dc_ctx *ctx, int64_t n)
{
    const size_t bytes = (size_t)n * sizeof(float);
    for (int64_t i = ctx->n_gfree - 1; i >= 0; i--)
        if (ctx->gfree[i].bytes == bytes) {
            float *g = ctx->gfree[i].mem;
            ctx->gfree[i] = ctx->gfree[--ctx->n_gfree];
            return g;
        }
    return dc_ctx_alloc(ctx, bytes);
}

void dc_ctx_scratch_done(dc_ctx *ctx, float *p, int64_t n)
{
    if (!p)
        return;
    if (ctx->n_gfree == ctx->cap_gfree) {
        const int64_t cap = ctx->cap_gfree ? 2 * ctx->cap_gfree : 64;
        grad_buf *f = realloc(ctx->gfree, (size_t)cap * sizeof *f);
        if (!f)
            return; /* it simply stays in the arena */
        ctx->gfree = f;
        ctx->cap_gfree = cap;
    }
    ctx->gfree[ctx->n_gfree++] = (grad_buf){p, (size_t)n * sizeof(float)};
}

/* A gradient buffer for arena tensor t: a dead one of the same size, else fresh arena memory.
 * Its contents are undefined. */
static float *grad_alloc(dc_ctx *ctx, dc_tensor *t)
{
    float *g = dc_ctx_scratch(ctx, t->numel);
    if (g)
        t->flags |= DC_TF_GRAD_RECYCLE;
    return g;
}

/* After t's entry has run: its gradient buffer goes to the free list (if it came from
 * grad_alloc). */
static void grad_release(dc_ctx *ctx, dc_tensor *t)
{
    if (ctx->keep_grads || !(t->flags & DC_TF_GRAD_RECYCLE) || !t->grad)
        return;
    dc_ctx_scratch_done(ctx, t->grad, t->numel);
    t->grad = NULL;
    t->flags &= ~DC_TF_GRAD_RECYCLE;
}

float *dc_grad(dc_ctx *ctx, dc_tensor *t)
{
    if (!t || !(t->flags & DC_TF_REQUIRES_GRAD))
        return NULL;
    if (!t->grad) {
        t->grad = grad_alloc(ctx, t);
        if (!t->grad)
            return NULL;
        memset(t->grad, 0, (size_t)t->numel * sizeof(float));
    }
    return t->grad;
}

float *dc_grad_fresh(dc_ctx *ctx, dc_tensor *t, int *fresh)
{
    *fresh = 0;
    if (!t || !(t->flags & DC_TF_REQUIRES_GRAD))
        return NULL;
    if (!t->grad) {
        t->grad = grad_alloc(ctx, t);
        *fresh = t->grad != NULL;
    }
    return t->grad;
}

bool dc_grad_move(dc_ctx *ctx, dc_tensor *from, dc_tensor *to)
{
    if (ctx->keep_grads || !to || !(to->flags & DC_TF_REQUIRES_GRAD) || to->grad ||
        !from->grad || !(from->flags & DC_TF_GRAD_RECYCLE) || from->numel != to->numel)
        return false;
    to->grad = from->grad;
    to->flags |= DC_TF_GRAD_RECYCLE;
    from->grad = NULL;
    from->flags &= ~DC_TF_GRAD_RECYCLE;
    return true;
}

static dc_status run_backward(dc_ctx *ctx)
{
    dc_status s = ctx->hook ? ctx->hook(ctx, -1, ctx->hook_user) : DC_OK;
    for (int64_t i = ctx->tape_len - 1; i >= 0 && s == DC_OK; i--) {
        dc_node *n = ctx->tape[i];
        if (n->out->grad && (s = n->backward(ctx, n)) != DC_OK) {
            dc_err_prefix("backward of %s: ", n->op);
            return s;
        }
        grad_release(ctx, n->out);
        if (ctx->hook)
            s = ctx->hook(ctx, i, ctx->hook_user);
    }
    ctx->tape_len = 0;
    return s;
}

void dc_ctx_set_backward_hook(dc_ctx *ctx, dc_backward_hook fn, void *user)
{
    ctx->hook = fn;
    ctx->hook_user = user;
}

const dc_node *dc_ctx_tape_node(const dc_ctx *ctx, int64_t i)
{
    return i >= 0 && i < ctx->tape_len ? ctx->tape[i] : NULL;
}

dc_status dc_backward_with(dc_ctx *ctx, dc_tensor *y, const dc_tensor *dy)
{
    if (!ctx || !y)
        return dc_err(DC_ERR_ARG, "dc_backward: NULL argument (an earlier op failed?)");
    if (!(y->flags & DC_TF_REQUIRES_GRAD))
        return dc_err(DC_ERR_STATE, "dc_backward: the output does not depend on anything that "
                                    "requires grad (grad recording off, or detached)");
    if (dy && (dy->numel != y->numel || dy->dtype != DC_F32))
        return dc_err(DC_ERR_SHAPE, "dc_backward: gradient has %lld elements, output %lld",
                      (long long)dy->numel, (long long)y->numel);
    float *g = dc_grad(ctx, y);
    if (!g)
        return DC_ERR_NOMEM;
    for (int64_t i = 0; i < y->numel; i++)
        g[i] += dy ? dc_f32(dy)[i] : 1.0f;
    return run_backward(ctx);
}

dc_status dc_backward(dc_ctx *ctx, dc_tensor *loss)
{
    if (loss && loss->numel != 1)
        return dc_err(DC_ERR_SHAPE, "dc_backward: loss must be a scalar, got %lld elements",
                      (long long)loss->numel);
    return dc_backward_with(ctx, loss, NULL);
}

dc_tensor *dc_detach(dc_ctx *ctx, dc_tensor *x)
{
    if (!x)
        return NULL;
    dc_tensor *t = dc_view(ctx, x, x->ndim, x->shape);
    if (t)
        t->name = "detach";
    return t;
}

/* ---- threads ---- */


void dc_set_num_threads(int n)
{
#ifdef _OPENMP
    const int nt = n > 0 ? n : omp_get_num_procs();
    omp_set_num_threads(nt);
#else
    const int nt = n > 0 ? n : 1;
#endif
    (void)nt;
}

#ifdef __linux__
/* Runnable tasks on the machine now (/proc/stat's procs_running, this process included), or -1. */
static long procs_running(void)
{
    FILE *f = fopen("/proc/stat", "r");
    long running = -1;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "procs_running ", 14)) {
                running = strtol(line + 14, NULL, 10);
                break;
            }
        fclose(f);
    }
    return running;
}

/* This process's runnable threads (/proc/self/task/<tid>/stat in state R; a library such as
 * OpenBLAS may start threads of its own when it is loaded), at least 1. */
static long own_running(void)
{
    long n = 0;
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        const size_t got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[got] = 0;
        const char *close = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
        n += close && close[1] == ' ' && close[2] == 'R';
    }
    if (d)
        closedir(d);
    return n > 0 ? n : 1;
}
#endif

/* See deepc.h. A single reading often catches a kernel thread or a short-lived process: the
 * machine counts as quiet when any of up to five readings, 0.2 ms apart, leaves a core for each
 * thread (the first reading decides at once on a quiet machine). */
const char *dc_spincount_default(void)
{
#ifdef __linux__
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    const char *e = getenv("OMP_NUM_THREADS");
    long want = e ? strtol(e, NULL, 10) : ncpu;
    want = want < 1 || want > ncpu ? ncpu : want;
    for (int i = 0; i < 5 && ncpu >= 1; i++) {
        const long running = procs_running();
        if (running < 1)
            break;
        if ((running - own_running()) + want <= ncpu)
            return "30000";
        nanosleep(&(struct timespec){.tv_nsec = 200000}, NULL);
    }
#endif
    return "0"; /* busy: sleep at once (docs/design.md, "Threads": spinning loses there) */
}

int dc_get_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
