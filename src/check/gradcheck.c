/*
 * gradcheck.c - the gradient-check engine (`deepc gradcheck`, and the tests through gc_count):
 * analytic vs central finite differences, over the cases of the gc_<area>.c files.
 */
#include "gradcheck.h"
#include "nn/layer_desc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const gc_list *const all_lists[] = {
    &gc_ops, &gc_losses, &gc_layers, &gc_conv, &gc_rnn, &gc_seq, &gc_conv1d_norm, &gc_attn,
    &gc_seq2seq,
};

dc_tensor *gc_const(dc_rng *r, int ndim, const int64_t *shape, float lo, float hi)
{
    dc_tensor *t = dc_tensor_new(DC_F32, ndim, shape);
    if (t)
        dc_tensor_uniform(t, r, lo, hi);
    return t;
}

typedef struct gc_module_state {
    dc_model *model;
    dc_module *mod;
} gc_module_state;

int gc_module_finish(dc_model *m, dc_module *mod, dc_tensor *x, dc_tensor **ins, void **st)
{
    gc_module_state *s = malloc(sizeof *s);
    if (dc_model_add(m, mod) != DC_OK || !x || !s) { /* the model owns mod even on failure */
        dc_tensor_free(x);
        dc_model_free(m);
        free(s);
        return -1;
    }
    *s = (gc_module_state){m, mod};
    *st = s;
    int n = 0;
    ins[n++] = x;
    for (int i = 0; i < dc_model_n_tensors(m) && n < GC_MAX_IN; i++)
        if (!dc_model_is_buffer(m, i))
            ins[n++] = dc_model_tensor(m, i);
    return n;
}

dc_tensor *gc_module_fwd(dc_ctx *ctx, dc_tensor **ins, void *st)
{
    gc_module_state *s = st;
    return s->mod->forward(ctx, s->mod, ins[0]);
}

void gc_module_teardown(dc_tensor **ins, int n, void *st)
{
    gc_module_state *s = st;
    (void)n;
    dc_tensor_free(ins[0]);
    if (s) {
        dc_model_free(s->model);
        free(s);
    }
}

dc_tensor *gc_param(dc_rng *r, int ndim, const int64_t *shape, float lo, float hi)
{
    dc_tensor *t = gc_const(r, ndim, shape, lo, hi);
    if (t && dc_tensor_requires_grad(t) != DC_OK) {
        dc_tensor_free(t);
        return NULL;
    }
    return t;
}

void gc_avoid(dc_tensor *t, const float *kinks, int n_kinks, float margin)
{
    float *p = dc_f32(t);
    for (int64_t i = 0; i < t->numel; i++)
        for (int k = 0; k < n_kinks; k++)
            if (fabsf(p[i] - kinks[k]) < margin)
                p[i] = p[i] < kinks[k] ? kinks[k] - margin : kinks[k] + margin;
}

/* L = Σ y·R in double, for the current inputs, without recording. */
static int eval_loss(const gc_case *c, dc_ctx *ctx, dc_rng *drop, dc_tensor **ins, void *st,
                     const float *R, int64_t n_out, double *out)
{
    dc_ctx_reset(ctx);
    dc_rng_seed(drop, 1234, 7); /* same dropout mask every evaluation */
    int old = dc_ctx_set_grad(ctx, 0);
    dc_tensor *y = c->forward(ctx, ins, st);
    dc_ctx_set_grad(ctx, old);
    if (!y || y->numel != n_out)
        return -1;
    double s = 0;
    for (int64_t i = 0; i < n_out; i++)
        s += (double)dc_f32(y)[i] * R[i];
    *out = s;
    return 0;
}

typedef struct gc_result {
    double max_abs, max_rel;
    int64_t n_checked;
    int ok;
} gc_result;

static void compare(const gc_case *c, dc_ctx *ctx, dc_rng *drop, dc_tensor **ins, void *st,
                    dc_tensor *x, const float *analytic, const float *R, int64_t n_out,
                    gc_result *res)
{
    double rtol = c->rtol > 0 ? c->rtol : 1e-2, atol = c->atol > 0 ? c->atol : 1e-3;
    /* large tensors: one element from each of ~150 equal runs, at a pseudo-random place in
     * the run; a fixed step could see only one phase of the data (a step of 15 through 3x3
     * kernels checks the first column of taps only, and missed a broken Winograd transform) */
    const int64_t stride = x->numel > 300 ? x->numel / 150 : 1;
    uint64_t lcg = 0x9E3779B97F4A7C15u;
    float *p = dc_f32(x);
    for (int64_t at = 0; at < x->numel; at += stride) {
        lcg = lcg * 6364136223846793005u + 1442695040888963407u;
        const int64_t i = at + (int64_t)((lcg >> 33) % (uint64_t)stride);
        if (i >= x->numel)
            break;
        float x0 = p[i];
        float eps = 1e-2f * fmaxf(1.0f, fabsf(x0));
        double lp, lm;
        p[i] = x0 + eps;
        int e1 = eval_loss(c, ctx, drop, ins, st, R, n_out, &lp);
        p[i] = x0 - eps;
        int e2 = eval_loss(c, ctx, drop, ins, st, R, n_out, &lm);
        p[i] = x0;
        if (e1 || e2) {
            res->ok = 0;
            return;
        }
        /* the step actually taken in float */
        double h = ((double)(x0 + eps) - (double)(x0 - eps));
        double num = (lp - lm) / h, an = analytic[i];
        double abs_err = fabs(num - an);
        double rel = abs_err / fmax(fabs(num), fmax(fabs(an), 1e-12));
        if (abs_err > res->max_abs)
            res->max_abs = abs_err;
        if (abs_err > atol && rel > res->max_rel)
            res->max_rel = rel;
        if (abs_err > atol + rtol * fmax(fabs(num), fabs(an)))
            res->ok = 0;
        res->n_checked++;
    }
}

static void shapes_str(dc_tensor **ins, int n, char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && k + 1 < size; i++) {
        char s[64];
        k += (size_t)snprintf(buf + k, size - k, "%s%s%s", i ? " " : "",
                              dc_shape_str(ins[i], s, sizeof s),
                              ins[i]->dtype == DC_I64 ? "i" : "");
    }
}

static int run_case(const gc_case *c, dc_ctx *ctx, int verbose)
{
    dc_tensor *ins[GC_MAX_IN] = {0};
    void *st = NULL;
    dc_rng r, drop;
    gc_result res = {0, 0, 0, 1};
    dc_rng_seed(&r, 42, 1);
    dc_ctx_set_rng(ctx, &drop);
    dc_ctx_set_training(ctx, c->training);
    int n = c->setup(&r, ins, &st);
    if (n < 0) {
        printf("%-44s setup failed: %s\nFAIL\n", c->name, dc_last_error());
        return 1;
    }
    dc_ctx_reset(ctx);
    dc_rng_seed(&drop, 1234, 7);
    for (int i = 0; i < n; i++)
        if (ins[i]->flags & DC_TF_REQUIRES_GRAD)
            memset(ins[i]->grad, 0, (size_t)ins[i]->numel * sizeof(float));
    dc_tensor *y = c->forward(ctx, ins, st);
    float *R = NULL, *an[GC_MAX_IN] = {0};
    int64_t n_out = y ? y->numel : 0;
    if (!y || !(R = malloc((size_t)(n_out ? n_out : 1) * sizeof *R))) {
        res.ok = 0;
        goto done;
    }
    for (int64_t i = 0; i < n_out; i++)
        R[i] = dc_rng_uniform(&r) * 2.0f - 1.0f;
    dc_tensor *dy = dc_wrap(ctx, DC_F32, y->ndim, y->shape, R);
    if (!dy || dc_backward_with(ctx, y, dy) != DC_OK) {
        res.ok = 0;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (!(ins[i]->flags & DC_TF_REQUIRES_GRAD))
            continue;
        an[i] = malloc((size_t)ins[i]->numel * sizeof(float));
        if (an[i])
            memcpy(an[i], ins[i]->grad, (size_t)ins[i]->numel * sizeof(float));
    }
    for (int i = 0; i < n && res.ok; i++)
        if (an[i])
            compare(c, ctx, &drop, ins, st, ins[i], an[i], R, n_out, &res);
done:;
    char shapes[256];
    shapes_str(ins, n, shapes, sizeof shapes);
    printf("%-40s %-34s %10.2e %10.2e %6lld  %s\n", c->name, shapes, res.max_abs, res.max_rel,
           (long long)res.n_checked, res.ok ? "pass" : "FAIL");
    if (!res.ok && (verbose || !y))
        printf("    (%s)\n", y ? "gradients differ" : dc_last_error());
    for (int i = 0; i < n; i++)
        free(an[i]);
    free(R);
    dc_ctx_reset(ctx);
    if (c->teardown)
        c->teardown(ins, n, st);
    else
        for (int i = 0; i < n; i++)
            dc_tensor_free(ins[i]);
    return res.ok ? 0 : 1;
}

/* Whether case name c matches filter: any of its '|'-separated alternatives is a substring. */
static int matches(const char *c, const char *filter)
{
    char alt[128];
    for (const char *p = filter; p && *p;) {
        size_t k = strcspn(p, "|");
        snprintf(alt, sizeof alt, "%.*s", (int)(k < 127 ? k : 127), p);
        if (k && strstr(c, alt))
            return 1;
        p += k + (p[k] == '|');
    }
    return !filter;
}

/* No case matched: name the filter, suggest the nearest op or layer type, list what exists. */
static void no_match(const char *filter)
{
    char seen[2048] = " ", best[64] = "";
    int best_d = 1 << 30;
    for (size_t l = 0; l < sizeof all_lists / sizeof *all_lists; l++)
        for (int i = 0; i < all_lists[l]->n; i++) {
            char w[64];
            const char *c = all_lists[l]->cases[i].name;
            snprintf(w, sizeof w, "%.*s", (int)strcspn(c, " ("), c);
            char key[68];
            snprintf(key, sizeof key, " %s ", w);
            if (strstr(seen, key))
                continue;
            snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s ", w);
            int d = dc_edit_distance(filter, w);
            if (d < best_d)
                best_d = d, snprintf(best, sizeof best, "%s", w);
        }
    for (int i = 0; i < dc_layer_count(); i++) {
        int d = dc_edit_distance(filter, dc_layer_at(i)->type);
        if (d < best_d)
            best_d = d, snprintf(best, sizeof best, "%s", dc_layer_at(i)->type);
    }
    fprintf(stderr, "deepc gradcheck: no case matches '%s'", filter);
    if (best_d <= 3)
        fprintf(stderr, " (did you mean '%s'?)", best);
    fprintf(stderr, "\n  ops:%s\n  layer types:", seen);
    for (int i = 0; i < dc_layer_count(); i++)
        fprintf(stderr, " %s", dc_layer_at(i)->type);
    fprintf(stderr, "\n");
}

/* A layer type stands for the cases its descriptor names. */
static const char *resolve(const char *filter)
{
    const dc_layer_desc *d = filter ? dc_layer_find(filter) : NULL;
    return d && d->gradcheck ? d->gradcheck : filter;
}

int gc_count(const char *filter)
{
    int total = 0;
    filter = resolve(filter);
    for (size_t l = 0; l < sizeof all_lists / sizeof *all_lists; l++)
        for (int i = 0; i < all_lists[l]->n; i++)
            total += matches(all_lists[l]->cases[i].name, filter);
    return total;
}

int gc_run_all(const char *filter, int verbose)
{
    int failed = 0, total = gc_count(filter);
    if (total == 0) {
        no_match(filter);
        return -1;
    }
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx)
        return 1;
    filter = resolve(filter);
    printf("%-40s %-34s %10s %10s %6s  %s\n", "op", "input shapes", "max abs", "max rel", "n",
           "result");
    for (size_t l = 0; l < sizeof all_lists / sizeof *all_lists; l++)
        for (int i = 0; i < all_lists[l]->n; i++) {
            const gc_case *c = &all_lists[l]->cases[i];
            if (matches(c->name, filter))
                failed += run_case(c, ctx, verbose);
        }
    printf("gradcheck: %d passed, %d failed\n", total - failed, failed);
    dc_ctx_free(ctx);
    return failed;
}
