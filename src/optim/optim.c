/*
 * optim.c - SGD (momentum, dampening, Nesterov), Adagrad, RMSprop, Adadelta, Adam and AdamW with
 * PyTorch 1.13's update formulas and defaults (torch/optim: the _single_tensor_* paths).
 *
 * Each update is one fused pass over a parameter that performs, per element, the same float32
 * operations in the same order as PyTorch's sequence of tensor ops (add_ with alpha is
 * a + alpha·b, addcmul_ is a + (value·b)·c, addcdiv_ is a + (value·b)/c); scalar factors are
 * computed in double like Python does and rounded to float where PyTorch passes them to a kernel.
 *
 * State: every state tensor of every parameter lives in ONE 64-byte aligned block, allocated on
 * the first dc_optim_step (PyTorch's lazy state init) or on the first dc_optim_state() call (so a
 * checkpoint can be restored into a fresh optimizer). After that no step allocates. The state
 * tensors are exposed as views named "<param>.<key>" with PyTorch's keys, in PyTorch's order:
 *   SGD (momentum != 0)  momentum_buffer
 *   Adagrad              step, sum
 *   RMSprop              step, square_avg, momentum_buffer (momentum > 0), grad_avg (centered)
 *   Adadelta             step, square_avg, acc_delta
 *   Adam, AdamW          step, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)
 * "step" is a float32 scalar tensor (ndim 0, like PyTorch's torch.tensor(0.)), exact up to 2^24.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "optim/widen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* State keys, PyTorch's names. */
enum { K_STEP, K_BUF, K_SUM, K_SQ, K_GAVG, K_ACC, K_M, K_V, K_VMAX, K_COUNT };
static const char *const key_name[K_COUNT] = {
    "step", "momentum_buffer", "sum", "square_avg", "grad_avg", "acc_delta",
    "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

/* The hyper-parameters PyTorch combines in double (Python floats), as the decimals the user
 * wrote: see dc_optim_widen(). */
typedef struct hyper {
    double lr, weight_decay, dampening, alpha, rho, lr_decay, beta1, beta2;
} hyper;

struct dc_optim {
    dc_model *model;
    dc_optim_cfg cfg;
    hyper h;              /* cfg's scalars widened to double */
    int64_t steps;        /* successful dc_optim_step calls */
    int n_params;
    dc_tensor **params;   /* the trainable tensors of model, in registration order */
    int n_keys;           /* state tensors per parameter */
    int keys[K_COUNT];    /* the keys in PyTorch order (first n_keys used) */
    int slot[K_COUNT];    /* position of each key among a parameter's state, or -1 */
    dc_tensor *state;     /* [n_params · n_keys] view headers into block */
    char **names;         /* their names */
    float *block;         /* NULL until the state is first needed */
    int have_state;       /* PyTorch's "state[p] is not empty" (SGD clones d_p into buf if not) */
};

/* ---- configuration ---- */

dc_optim_cfg dc_optim_defaults(dc_optim_kind kind)
{
    dc_optim_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    switch (kind) {
    case DC_SGD: c.lr = 0.01f; break;
    case DC_ADAGRAD: c.lr = 1e-2f; c.eps = 1e-10f; break;
    case DC_RMSPROP: c.lr = 1e-2f; c.alpha = 0.99f; c.eps = 1e-8f; break;
    case DC_ADADELTA: c.lr = 1.0f; c.rho = 0.9f; c.eps = 1e-6f; break;
    case DC_ADAM: c.lr = 1e-3f; c.beta1 = 0.9f; c.beta2 = 0.999f; c.eps = 1e-8f; break;
    case DC_ADAMW:
        c.lr = 1e-3f; c.beta1 = 0.9f; c.beta2 = 0.999f; c.eps = 1e-8f; c.weight_decay = 1e-2f;
        break;
    }
    return c;
}

static const char *const kind_names[] = {"sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw"};
#define N_KINDS ((int)(sizeof kind_names / sizeof *kind_names))

dc_status dc_optim_kind_parse(const char *s, dc_optim_kind *out)
{
    if (!s || !out)
        return dc_err(DC_ERR_ARG, "dc_optim_kind_parse: NULL argument");
    for (int k = 0; k < N_KINDS; k++) {
        const char *a = s, *b = kind_names[k];
        while (*a && (*a | 0x20) == *b) /* ASCII case-insensitive */
            a++, b++;
        if (!*a && !*b) {
            *out = (dc_optim_kind)k;
            return DC_OK;
        }
    }
    return dc_err(DC_ERR_ARG, "unknown optimizer '%s' (expected sgd, adagrad, rmsprop, adadelta, "
                  "adam or adamw)", s);
}

const char *dc_optim_kind_name(dc_optim_kind k)
{
    return (int)k >= 0 && (int)k < N_KINDS ? kind_names[k] : "unknown";
}

/* PyTorch's constructor checks. !(x >= 0) also rejects NaN. */
dc_status dc_optim_cfg_check(const dc_optim_cfg *c)
{
    const char *kn = dc_optim_kind_name(c->kind);
    if ((int)c->kind < 0 || (int)c->kind >= N_KINDS)
        return dc_err(DC_ERR_ARG, "dc_optim_new: unknown optimizer kind %d", (int)c->kind);
    if (!(c->lr >= 0) || isinf(c->lr))
        return dc_err(DC_ERR_ARG, "%s: invalid learning rate %g (must be >= 0)", kn, c->lr);
    if (!(c->weight_decay >= 0) || isinf(c->weight_decay))
        return dc_err(DC_ERR_ARG, "%s: invalid weight_decay %g", kn, c->weight_decay);
    if (!(c->eps >= 0) || isinf(c->eps))
        return dc_err(DC_ERR_ARG, "%s: invalid eps %g", kn, c->eps);
    switch (c->kind) {
    case DC_SGD:
        if (!(c->momentum >= 0) || !isfinite(c->dampening))
            return dc_err(DC_ERR_ARG, "sgd: invalid momentum %g / dampening %g", c->momentum,
                          c->dampening);
        if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
            return dc_err(DC_ERR_ARG, "sgd: Nesterov momentum requires a momentum > 0 and zero "
                          "dampening (momentum %g, dampening %g)", c->momentum, c->dampening);
        break;
    case DC_ADAGRAD:
        if (!(c->lr_decay >= 0) || !(c->initial_accumulator_value >= 0))
            return dc_err(DC_ERR_ARG, "adagrad: invalid lr_decay %g / initial_accumulator_value "
                          "%g", c->lr_decay, c->initial_accumulator_value);
        break;
    case DC_RMSPROP:
        if (!(c->momentum >= 0) || !(c->alpha >= 0))
            return dc_err(DC_ERR_ARG, "rmsprop: invalid momentum %g / alpha %g", c->momentum,
                          c->alpha);
        break;
    case DC_ADADELTA:
        if (!(c->rho >= 0 && c->rho <= 1))
            return dc_err(DC_ERR_ARG, "adadelta: invalid rho %g (must be in [0, 1])", c->rho);
        break;
    case DC_ADAM:
    case DC_ADAMW:
        if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
            return dc_err(DC_ERR_ARG, "%s: invalid betas (%g, %g) (each must be in [0, 1))", kn,
                          c->beta1, c->beta2);
        break;
    }
    return DC_OK;
}

/* The state keys of a configuration, in PyTorch's order. */
static int layout_keys(const dc_optim_cfg *c, int *keys)
{
    int n = 0;
    switch (c->kind) {
    case DC_SGD:
        if (c->momentum != 0)
            keys[n++] = K_BUF;
        break;
    case DC_ADAGRAD: keys[n++] = K_STEP; keys[n++] = K_SUM; break;
    case DC_RMSPROP:
        keys[n++] = K_STEP;
        keys[n++] = K_SQ;
        if (c->momentum > 0)
            keys[n++] = K_BUF;
        if (c->centered)
            keys[n++] = K_GAVG;
        break;
    case DC_ADADELTA: keys[n++] = K_STEP; keys[n++] = K_SQ; keys[n++] = K_ACC; break;
    case DC_ADAM:
    case DC_ADAMW:
        keys[n++] = K_STEP;
        keys[n++] = K_M;
        keys[n++] = K_V;
        if (c->amsgrad)
            keys[n++] = K_VMAX;
        break;
    }
    return n;
}

/*
 * dc_optim_widen - the double that the decimal literal behind f denotes: the shortest "%.Ng"
 * (N = 6..9) that reads back as f. PyTorch receives hyper-parameters as Python doubles (0.999)
 * while dc_optim_cfg holds floats (0.999f), and 1 − 0.999f differs from 1 − 0.999 by 1.3e-5
 * relative; widening restores the value the user wrote, so the scalar factors PyTorch computes in
 * double (1 − β, lr / (1 − β1^t), 1 − lr·wd, ...) come out identical. Values of more than 9
 * digits stay as the float's exact value. sched.c widens its factors the same way.
 */
double dc_optim_widen(float f)
{
    char buf[32];
    if (!isfinite(f))
        return f;
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f)
            return d;
    }
    return f;
}

static hyper widen_cfg(const dc_optim_cfg *c)
{
    double (*w)(float) = dc_optim_widen;
    hyper h = {w(c->lr), w(c->weight_decay), w(c->dampening), w(c->alpha), w(c->rho),
               w(c->lr_decay), w(c->beta1), w(c->beta2)};
    return h;
}

/* ---- construction ---- */

/* Name and shape the state headers (data stays NULL until the block exists). */
static dc_status make_headers(dc_optim *o)
{
    int n = o->n_params * o->n_keys;
    o->state = calloc(n ? (size_t)n : 1, sizeof *o->state);
    o->names = calloc(n ? (size_t)n : 1, sizeof *o->names);
    if (!o->state || !o->names)
        return dc_err(DC_ERR_NOMEM, "dc_optim_new: out of memory");
    for (int i = 0; i < o->n_params; i++) {
        const dc_tensor *p = o->params[i];
        for (int k = 0; k < o->n_keys; k++) {
            dc_tensor *s = &o->state[i * o->n_keys + k];
            const char *key = key_name[o->keys[k]];
            size_t len = strlen(p->name) + strlen(key) + 2;
            char *nm = malloc(len);
            if (!nm)
                return dc_err(DC_ERR_NOMEM, "dc_optim_new: out of memory");
            snprintf(nm, len, "%s.%s", p->name, key);
            o->names[i * o->n_keys + k] = nm;
            *s = *p;
            s->grad = NULL;
            s->data = NULL;
            s->flags = DC_TF_VIEW;
            s->name = nm;
            if (o->keys[k] == K_STEP) {
                s->ndim = 0;
                for (int d = 0; d < DC_MAX_DIMS; d++)
                    s->shape[d] = 1;
                s->numel = 1;
            }
        }
    }
    return DC_OK;
}

/*
 * dc_optim_new - an optimizer over the trainable tensors m has now (buffers skipped; parameters
 * added to m later are not seen). cfg is copied and checked like PyTorch's constructors check it
 * (lr, eps, weight_decay, momentum >= 0; betas in [0, 1); rho in [0, 1]; Nesterov needs
 * momentum > 0 and dampening 0). Returns NULL with DC_ERR_ARG / DC_ERR_NOMEM in dc_last_error().
 * Allocates the state headers and names only; the state block comes with the first step.
 */
dc_optim *dc_optim_new(dc_model *m, const dc_optim_cfg *cfg)
{
    if (!m || !cfg)
        return dc_err_null(DC_ERR_ARG, "dc_optim_new: NULL model or configuration");
    if (dc_optim_cfg_check(cfg) != DC_OK)
        return NULL;
    dc_optim *o = calloc(1, sizeof *o);
    int nt = dc_model_n_tensors(m);
    if (!o || !(o->params = calloc(nt ? (size_t)nt : 1, sizeof *o->params))) {
        free(o);
        return dc_err_null(DC_ERR_NOMEM, "dc_optim_new: out of memory");
    }
    o->model = m;
    o->cfg = *cfg;
    o->h = widen_cfg(cfg);
    for (int i = 0; i < nt; i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        if (dc_model_is_buffer(m, i))
            continue;
        if (t->dtype != DC_F32 || !t->grad) {
            dc_optim_free(o);
            return dc_err_null(DC_ERR_ARG, "dc_optim_new: parameter '%s' is not a float tensor "
                               "with a gradient", t->name);
        }
        o->params[o->n_params++] = t;
    }
    o->n_keys = layout_keys(cfg, o->keys);
    for (int k = 0; k < K_COUNT; k++)
        o->slot[k] = -1;
    for (int k = 0; k < o->n_keys; k++)
        o->slot[o->keys[k]] = k;
    if (make_headers(o) != DC_OK) {
        dc_optim_free(o);
        return NULL;
    }
    return o;
}

void dc_optim_free(dc_optim *o)
{
    if (!o)
        return;
    if (o->names)
        for (int i = 0; i < o->n_params * o->n_keys; i++)
            free(o->names[i]);
    free(o->names);
    free(o->state);
    free(o->params);
    free(o->block);
    free(o);
}

/* Floats a state tensor takes in the block: numel rounded up to 64 bytes. */
static size_t padded(int64_t numel) { return ((size_t)numel + 15) & ~(size_t)15; }

/* Allocate the block and initialise it as PyTorch's lazy init does (zeros; Adagrad's sum =
 * initial_accumulator_value; step = 0). */
static dc_status ensure_block(dc_optim *o)
{
    size_t total = 0;
    int n = o->n_params * o->n_keys;
    if (o->block || n == 0)
        return DC_OK;
    for (int j = 0; j < n; j++)
        total += padded(o->state[j].numel);
    void *p = NULL;
    if (total > SIZE_MAX / sizeof(float) || posix_memalign(&p, 64, total * sizeof(float)) != 0)
        return dc_err(DC_ERR_NOMEM, "dc_optim: cannot allocate %zu floats of optimizer state",
                      total);
    memset(p, 0, total * sizeof(float));
    o->block = p;
    size_t off = 0;
    for (int j = 0; j < n; j++) {
        dc_tensor *s = &o->state[j];
        s->data = o->block + off;
        off += padded(s->numel);
        if (o->keys[j % o->n_keys] == K_SUM)
            dc_tensor_fill(s, o->cfg.initial_accumulator_value);
    }
    return DC_OK;
}

/* ---- update kernels: one parameter, n elements; comments give PyTorch's tensor ops ----
 *
 * Each kernel handles one element in an always-inlined helper and calls it from one loop per
 * combination of the optional buffers (flags passed as literal constants), so no loop holds a
 * conditional store and every loop vectorizes (the loops with sqrtf only under -fno-math-errno:
 * otherwise gcc and clang keep a scalar errno path for negative arguments). */
#define INLINE static inline __attribute__((always_inline))

/* PyTorch's gradient preamble: d = maximize ? −g : g;  d = d + wd·p when wd != 0. */
INLINE float grad_in(float g, float p, float wd, int maximize)
{
    float d = maximize ? -g : g;
    return wd != 0 ? d + wd * p : d;
}

typedef struct kcfg {
    float nlr, wd, mom, a, a1, eps; /* −lr, weight decay, momentum, α|ρ|β2, 1−α|1−ρ|1−dampening */
    int maximize, nesterov;
} kcfg;

/* buf = first ? d : μ·buf + (1−dampening)·d;  d = nesterov ? d + μ·buf : buf;  p += −lr·d */
INLINE void sgd_elem(int64_t i, float *restrict p, const float *restrict g, float *restrict buf,
                     const kcfg *k, int first, int momentum)
{
    float d = grad_in(g[i], p[i], k->wd, k->maximize);
    if (momentum) {
        float b = first ? d : buf[i] * k->mom + k->a1 * d;
        buf[i] = b;
        d = k->nesterov ? d + k->mom * b : b;
    }
    p[i] = p[i] + k->nlr * d;
}

static void sgd_update(int64_t n, float *restrict p, const float *restrict g, float *restrict buf,
                       const dc_optim_cfg *c, const hyper *h, int first)
{
    const kcfg k = {.nlr = -c->lr, .wd = c->weight_decay, .mom = c->momentum,
                    .a1 = (float)(1.0 - h->dampening), .maximize = c->maximize,
                    .nesterov = c->nesterov};
    if (c->momentum == 0)
        for (int64_t i = 0; i < n; i++)
            sgd_elem(i, p, g, NULL, &k, 0, 0);
    else if (first)
        for (int64_t i = 0; i < n; i++)
            sgd_elem(i, p, g, buf, &k, 1, 1);
    else
        for (int64_t i = 0; i < n; i++)
            sgd_elem(i, p, g, buf, &k, 0, 1);
}

/* sum += d²;  p += (−clr·d) / (√sum + eps),  clr = lr / (1 + (step−1)·lr_decay) */
static void adagrad_update(int64_t n, float *restrict p, const float *restrict g,
                           float *restrict sum, const dc_optim_cfg *c, const hyper *h,
                           double step)
{
    const double clr = h->lr / (1.0 + (step - 1.0) * h->lr_decay);
    const float nclr = (float)-clr, wd = c->weight_decay, eps = c->eps;
    const int maximize = c->maximize;
    for (int64_t i = 0; i < n; i++) {
        float d = grad_in(g[i], p[i], wd, maximize);
        sum[i] = sum[i] + d * d;
        float std = sqrtf(sum[i]) + eps;
        p[i] = p[i] + nclr * d / std;
    }
}

/* sq = α·sq + (1−α)·d²;  centered: ga = α·ga + (1−α)·d, avg = √(sq − ga²) + eps, else √sq + eps;
 * momentum: buf = μ·buf + d/avg, p += −lr·buf;  else p += (−lr·d)/avg */
INLINE void rms_elem(int64_t i, float *restrict p, const float *restrict g, float *restrict sq,
                     float *restrict ga, float *restrict buf, const kcfg *k, int centered,
                     int momentum)
{
    float d = grad_in(g[i], p[i], k->wd, k->maximize);
    float s = sq[i] * k->a + k->a1 * d * d, avg;
    sq[i] = s;
    if (centered) {
        float m = ga[i] * k->a + k->a1 * d;
        ga[i] = m;
        avg = sqrtf(s + -m * m) + k->eps;
    } else {
        avg = sqrtf(s) + k->eps;
    }
    if (momentum) {
        float b = buf[i] * k->mom + d / avg;
        buf[i] = b;
        p[i] = p[i] + k->nlr * b;
    } else {
        p[i] = p[i] + k->nlr * d / avg;
    }
}

static void rmsprop_update(int64_t n, float *restrict p, const float *restrict g,
                           float *restrict sq, float *restrict ga, float *restrict buf,
                           const dc_optim_cfg *c, const hyper *h)
{
    const kcfg k = {.nlr = -c->lr, .wd = c->weight_decay, .mom = c->momentum, .a = c->alpha,
                    .a1 = (float)(1.0 - h->alpha), .eps = c->eps,
                    .maximize = c->maximize};
    if (ga && buf)
        for (int64_t i = 0; i < n; i++)
            rms_elem(i, p, g, sq, ga, buf, &k, 1, 1);
    else if (ga)
        for (int64_t i = 0; i < n; i++)
            rms_elem(i, p, g, sq, ga, NULL, &k, 1, 0);
    else if (buf)
        for (int64_t i = 0; i < n; i++)
            rms_elem(i, p, g, sq, NULL, buf, &k, 0, 1);
    else
        for (int64_t i = 0; i < n; i++)
            rms_elem(i, p, g, sq, NULL, NULL, &k, 0, 0);
}

/* sq = ρ·sq + (1−ρ)·d²;  δ = √(acc + eps) / √(sq + eps) · d;  acc = ρ·acc + (1−ρ)·δ²;
 * p += −lr·δ */
static void adadelta_update(int64_t n, float *restrict p, const float *restrict g,
                            float *restrict sq, float *restrict acc, const dc_optim_cfg *c,
                            const hyper *h)
{
    const float rho = c->rho, r1 = (float)(1.0 - h->rho);
    const float nlr = -c->lr, wd = c->weight_decay, eps = c->eps;
    const int maximize = c->maximize;
    for (int64_t i = 0; i < n; i++) {
        float d = grad_in(g[i], p[i], wd, maximize);
        sq[i] = sq[i] * rho + r1 * d * d;
        float std = sqrtf(sq[i] + eps);
        float delta = sqrtf(acc[i] + eps) / std * d;
        acc[i] = acc[i] * rho + r1 * delta * delta;
        p[i] = p[i] + nlr * delta;
    }
}

typedef struct adam_k {
    float beta1, b1c, beta2, b2c; /* β1, 1−β1, β2, 1−β2 */
    float shrink, wd, nstep, bc2s, eps; /* 1−lr·wd (AdamW) or 1, L2 wd (Adam) or 0, ... */
    int maximize;
} adam_k;

/* p *= shrink;  m = β1·m + (1−β1)·d;  v = β2·v + (1−β2)·d²;  amsgrad: vmax = max(vmax, v);
 * p += (−step_size·m) / (√v̂ / √bc2 + eps) with v̂ = vmax or v */
INLINE void adam_elem(int64_t i, float *restrict p, const float *restrict g, float *restrict m,
                      float *restrict v, float *restrict vmax, const adam_k *k, int ams)
{
    float pi = p[i] * k->shrink; /* exact when shrink == 1 (Adam) */
    float d = grad_in(g[i], pi, k->wd, k->maximize);
    float mi = m[i] * k->beta1 + k->b1c * d;
    float vi = v[i] * k->beta2 + k->b2c * d * d;
    m[i] = mi;
    v[i] = vi;
    if (ams) {
        vi = vmax[i] > vi ? vmax[i] : vi;
        vmax[i] = vi;
    }
    float denom = sqrtf(vi) / k->bc2s + k->eps;
    p[i] = pi + k->nstep * mi / denom;
}

/*
 * Adam (decoupled = 0) / AdamW (decoupled = 1) at step t (already incremented):
 *   AdamW: p *= 1 − lr·wd;  Adam: d = ±g + wd·p
 *   bias corrections bc1 = 1 − β1^t, bc2 = 1 − β2^t;  step_size = lr / bc1 (double, like Python)
 */
static void adam_update(int64_t n, float *restrict p, const float *restrict g, float *restrict m,
                        float *restrict v, float *restrict vmax, const dc_optim_cfg *c,
                        const hyper *h, double t, int decoupled)
{
    const double lr = h->lr, b1 = h->beta1, b2 = h->beta2;
    const double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
    const adam_k k = {.beta1 = c->beta1, .b1c = (float)(1.0 - b1), .beta2 = c->beta2,
                      .b2c = (float)(1.0 - b2),
                      .shrink = decoupled ? (float)(1.0 - lr * h->weight_decay) : 1.0f,
                      .wd = decoupled ? 0.0f : c->weight_decay, .nstep = (float)-(lr / bc1),
                      .bc2s = (float)sqrt(bc2), .eps = c->eps, .maximize = c->maximize};
    if (vmax)
        for (int64_t i = 0; i < n; i++)
            adam_elem(i, p, g, m, v, vmax, &k, 1);
    else
        for (int64_t i = 0; i < n; i++)
            adam_elem(i, p, g, m, v, NULL, &k, 0);
}

/* ---- stepping ---- */

/* Index of the first NaN/Inf in g[0..n), or -1. Integer test on the exponent bits so the loop
 * vectorizes: a float is non-finite iff all eight exponent bits are set. */
static int64_t first_nonfinite(int64_t n, const float *restrict g)
{
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &g[i], sizeof u);
        bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    if (!bad)
        return -1;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(g[i]))
            return i;
    return -1;
}

static dc_status check_grads(const dc_optim *o)
{
    for (int i = 0; i < o->n_params; i++) {
        const dc_tensor *p = o->params[i];
        int64_t j = first_nonfinite(p->numel, p->grad);
        if (j >= 0)
            return dc_err(DC_ERR_NUMERIC, "%s step %lld: gradient of '%s' is not finite (element "
                          "%lld = %g); no parameter was updated",
                          dc_optim_kind_name(o->cfg.kind), (long long)o->steps + 1, p->name,
                          (long long)j, (double)p->grad[j]);
    }
    return DC_OK;
}

/* Pointer to state key k of parameter i, or NULL when this configuration has no such key. */
static float *st(const dc_optim *o, int i, int k)
{
    return o->slot[k] < 0 ? NULL : dc_f32(&o->state[i * o->n_keys + o->slot[k]]);
}

/* Bump a parameter's float step counter and return the new value (PyTorch: step_t += 1). */
static double bump_step(float *step)
{
    step[0] += 1.0f;
    return (double)step[0];
}

/*
 * dc_optim_step - one update of every parameter from its gradient. Checks all gradients first:
 * a NaN/Inf returns DC_ERR_NUMERIC naming the parameter and element, with parameters, state and
 * step counters untouched. The first step allocates the state block (DC_ERR_NOMEM possible);
 * later steps allocate nothing.
 */
dc_status dc_optim_step(dc_optim *o)
{
    if (!o)
        return dc_err(DC_ERR_ARG, "dc_optim_step: NULL optimizer");
    if (dc_model_frozen(o->model))
        return dc_err(DC_ERR_STATE, "dc_optim_step: the model is frozen for inference "
                      "(dc_model_freeze): its weights may not change; dc_model_unfreeze it to "
                      "train");
    dc_status s = check_grads(o);
    if (s != DC_OK)
        return s;
    if ((s = ensure_block(o)) != DC_OK)
        return s;
    dc_optim_cfg c_nodecay = o->cfg;
    hyper h_nodecay = o->h;
    c_nodecay.weight_decay = 0.0f;
    h_nodecay.weight_decay = 0.0;
    for (int i = 0; i < o->n_params; i++) {
        dc_tensor *t = o->params[i];
        float *p = dc_f32(t);
        const float *g = t->grad;
        int64_t n = t->numel;
        const int plain = o->cfg.no_decay_1d && t->ndim <= 1; /* no_decay_1d's group */
        const dc_optim_cfg *c = plain ? &c_nodecay : &o->cfg;
        const hyper *h = plain ? &h_nodecay : &o->h;
        switch (c->kind) {
        case DC_SGD:
            sgd_update(n, p, g, st(o, i, K_BUF), c, h, !o->have_state);
            break;
        case DC_ADAGRAD:
            adagrad_update(n, p, g, st(o, i, K_SUM), c, h, bump_step(st(o, i, K_STEP)));
            break;
        case DC_RMSPROP:
            bump_step(st(o, i, K_STEP));
            rmsprop_update(n, p, g, st(o, i, K_SQ), st(o, i, K_GAVG), st(o, i, K_BUF), c,
                           h);
            break;
        case DC_ADADELTA:
            bump_step(st(o, i, K_STEP));
            adadelta_update(n, p, g, st(o, i, K_SQ), st(o, i, K_ACC), c, h);
            break;
        case DC_ADAM:
        case DC_ADAMW:
            adam_update(n, p, g, st(o, i, K_M), st(o, i, K_V), st(o, i, K_VMAX), c, h,
                        bump_step(st(o, i, K_STEP)), c->kind == DC_ADAMW);
            break;
        }
    }
    o->have_state = 1;
    o->steps++;
    return DC_OK;
}

void dc_optim_zero_grad(dc_optim *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->n_params; i++)
        dc_tensor_zero_grad(o->params[i]);
}

float dc_optim_lr(const dc_optim *o) { return o ? o->cfg.lr : 0.0f; }

void dc_optim_set_lr(dc_optim *o, float lr)
{
    if (!o)
        return;
    if (!(lr >= 0) || isinf(lr)) {
        dc_err(DC_ERR_ARG, "dc_optim_set_lr: invalid learning rate %g (kept %g)", lr, o->cfg.lr);
        return;
    }
    o->cfg.lr = lr;
    o->h.lr = dc_optim_widen(lr);
}

int64_t dc_optim_steps(const dc_optim *o) { return o ? o->steps : 0; }

void dc_optim_set_steps(dc_optim *o, int64_t steps)
{
    if (o && steps >= 0)
        o->steps = steps;
}

const dc_optim_cfg *dc_optim_config(const dc_optim *o) { return o ? &o->cfg : NULL; }

int dc_optim_n_state(const dc_optim *o) { return o ? o->n_params * o->n_keys : 0; }

/*
 * dc_optim_state - state tensor i (0 <= i < dc_optim_n_state) as a float view into the state
 * block, named "<param>.<key>" (*name, owned by the optimizer). Order: parameters in model
 * order, each with its keys in PyTorch's order (see the top of this file). Views stay valid and
 * never move for the optimizer's life, so a checkpoint may read or overwrite them.
 *
 * Before the first step this allocates the block with PyTorch's initial values, and the state
 * then counts as existing (as after PyTorch's load_state_dict): SGD's first step updates the
 * momentum buffer as momentum·buf + (1 − dampening)·d instead of cloning d, which is the same
 * with zeros and the default dampening 0.
 */
dc_tensor *dc_optim_state(dc_optim *o, int i, const char **name)
{
    if (!o || i < 0 || i >= o->n_params * o->n_keys)
        return dc_err_null(DC_ERR_ARG, "dc_optim_state: index %d out of range [0, %d)", i,
                           o ? o->n_params * o->n_keys : 0);
    if (!o->block) {
        /* Materialise the lazily allocated state (a checkpoint is being saved or restored). */
        if (ensure_block(o) != DC_OK)
            return NULL;
        o->have_state = 1;
    }
    if (name)
        *name = o->names[i];
    return &o->state[i];
}
