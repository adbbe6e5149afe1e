/*
 * test_fusion.c - layer fusion in dc_model_forward and the inference shortcuts that came with it:
 *   - Conv2d absorbs a following ReLU (dc_conv2d_opts.relu): output and every gradient equal the
 *     unfused run (dc_model_forward_all) bit for bit, on the direct kernels and on im2col + GEMM;
 *   - a BatchNorm no conv folded (training, gradients wanted) absorbs a following Add and ReLU
 *     (dc_batch_norm_add_relu), again bit for bit, its own input as the residual included;
 *   - in inference without gradients Conv2d folds a following BatchNorm into its weights (then a
 *     ReLU): the result matches a double-precision Conv -> BatchNorm -> ReLU; with gradients or
 *     batch statistics wanted, or a conv that has a ReLU of its own, nothing is folded;
 *   - no fusion where a conv's (or a BatchNorm's) output has another reader;
 *   - the packed weights kept per ctx in inference (dc_ctx_prepared) follow the weight values:
 *     an in-place edit between forwards gives what a fresh ctx gives, undoing it the old output;
 *   - first-write gradients (dc_grad_fresh: relu, max pool, the direct conv dX store) still add
 *     to what an earlier contribution wrote, and write every element (checked on an arena filled
 *     with garbage beforehand).
 * A spy on dc_module.fuse counts what each forward absorbed, so a test cannot pass because the
 * fusion silently never happened.
 */
#include "harness.h"
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static dc_tensor *rand_tensor(int ndim, const int64_t *shape, uint64_t seed, float lo, float hi)
{
    dc_tensor *t = dc_tensor_new(DC_F32, ndim, shape);
    if (t) {
        dc_rng r;
        dc_rng_seed(&r, seed, 3);
        dc_tensor_uniform(t, &r, lo, hi);
    }
    return t;
}

static dc_conv2d_opts conv_opts(int stride, int pad, int relu)
{
    dc_conv2d_opts o = dc_conv2d_defaults();
    o.stride_h = o.stride_w = stride;
    o.pad_top = o.pad_bottom = o.pad_left = o.pad_right = pad;
    o.relu = relu;
    return o;
}

static int add_conv(dc_model *m, const char *name, int64_t in, int64_t out, int k, int stride,
                    int pad, int bias, dc_rng *r)
{
    dc_conv2d_opts o = conv_opts(stride, pad, 0);
    return dc_model_add(m, dc_conv2d_new(m, name, in, out, k, k, &o, bias, r)) == DC_OK;
}

static int add_relu(dc_model *m, const char *name)
{
    return dc_model_add(m, dc_act_new(m, name, DC_ACT_RELU, 0)) == DC_OK;
}

static int add_pool(dc_model *m, const char *name)
{
    dc_pool2d_opts o = dc_pool2d_defaults(2);
    return dc_model_add(m, dc_max_pool2d_new(m, name, &o)) == DC_OK;
}

static int add_bn(dc_model *m, const char *name, int64_t C, float eps, int affine)
{
    return dc_model_add(m, dc_batch_norm_new(m, name, C, 0.1f, eps, affine)) == DC_OK;
}

/* Non-trivial statistics and affine parameters for BatchNorm `name` (after construction: the
 * model's blocks no longer move). γ takes both signs, running_var spans 0.05 .. 2. */
static int set_bn(dc_model *m, const char *name, uint64_t seed)
{
    char key[96];
    static const char *const part[] = {"weight", "bias", "running_mean", "running_var"};
    static const float lo[] = {-1.5f, -0.5f, -0.3f, 0.05f}, hi[] = {1.5f, 0.5f, 0.3f, 2.0f};
    dc_rng r;
    dc_rng_seed(&r, seed, 5);
    int found = 0;
    for (int k = 0; k < 4; k++) {
        snprintf(key, sizeof key, "%s.%s", name, part[k]);
        dc_tensor *t = dc_model_find(m, key);
        if (!t)
            continue; /* affine = 0 has no weight / bias */
        dc_tensor_uniform(t, &r, lo[k], hi[k]);
        for (int64_t i = 0; k == 0 && i < t->numel; i++) /* keep |γ| away from 0 */
            dc_f32(t)[i] += dc_f32(t)[i] < 0 ? -0.25f : 0.25f;
        found += k >= 2;
    }
    return found == 2;
}

static int idx(const dc_model *m, const char *name) { return dc_model_find_module(m, name); }

/* LeNet-5 (optionally with BatchNorm after each conv): c1 1->6 5x5 pad 2 on 28x28 (direct,
 * rows), [bn1], r1, p1, c2 6->16 5x5 on 14x14 (direct, channels), [bn2], r2, p2, flat, fc. */
static dc_model *lenet(uint64_t seed, int bn)
{
    dc_model *m = dc_model_new();
    dc_rng r;
    dc_rng_seed(&r, seed, 1);
    int ok = m && add_conv(m, "c1", 1, 6, 5, 1, 2, 1, &r) &&
             (!bn || add_bn(m, "bn1", 6, 1e-3f, 1)) && add_relu(m, "r1") && add_pool(m, "p1") &&
             add_conv(m, "c2", 6, 16, 5, 1, 0, 1, &r) && (!bn || add_bn(m, "bn2", 16, 1e-5f, 1)) &&
             add_relu(m, "r2") && add_pool(m, "p2") &&
             dc_model_add(m, dc_flatten_new(m, "flat")) == DC_OK &&
             dc_model_add(m, dc_linear_new(m, "fc", 400, 10, 1, &r)) == DC_OK;
    ok = ok && (!bn || (set_bn(m, "bn1", seed + 10) && set_bn(m, "bn2", seed + 11)));
    if (!ok) {
        dc_model_free(m);
        return NULL;
    }
    return m;
}

/* A ResNet-like stem on 3x32x32: c1 3->64 3x3 pad 1 + r1 and c2 64->64 without bias + r2
 * (direct, rows), c3 64->32 stride 2 without bias + bn3 + r3 and c4 32->16 stride 2 + r4
 * (im2col + GEMM). */
static dc_model *stem(uint64_t seed)
{
    dc_model *m = dc_model_new();
    dc_rng r;
    dc_rng_seed(&r, seed, 1);
    const int ok = m && add_conv(m, "c1", 3, 64, 3, 1, 1, 1, &r) && add_relu(m, "r1") &&
                   add_conv(m, "c2", 64, 64, 3, 1, 1, 0, &r) && add_relu(m, "r2") &&
                   add_conv(m, "c3", 64, 32, 3, 2, 1, 0, &r) && add_bn(m, "bn3", 32, 1e-5f, 1) &&
                   add_relu(m, "r3") && add_conv(m, "c4", 32, 16, 3, 2, 1, 1, &r) &&
                   add_relu(m, "r4") &&
                   dc_model_add(m, dc_adaptive_avg_pool2d_new(m, "gap", 1, 1)) == DC_OK &&
                   dc_model_add(m, dc_flatten_new(m, "flat")) == DC_OK &&
                   dc_model_add(m, dc_linear_new(m, "fc", 16, 10, 1, &r)) == DC_OK &&
                   set_bn(m, "bn3", seed + 3);
    if (!ok) {
        dc_model_free(m);
        return NULL;
    }
    return m;
}

/* ---- a spy on dc_module.fuse: how many modules the forward absorbed ---- */

typedef dc_tensor *(*fuse_fn)(dc_ctx *, dc_module *, dc_tensor *, dc_module *const *,
                              dc_tensor *const *, int, int *);
enum { SPY_MAX = 64 };
static struct {
    const dc_module *mod;
    fuse_fn real;
} spied[SPY_MAX]; /* each module's own hook (Conv2d's and BatchNorm's differ) */
static int n_spied, spy_calls, spy_absorbed, spy_bn_absorbed;

static dc_tensor *spy_fuse(dc_ctx *ctx, dc_module *m, dc_tensor *x, dc_module *const *next,
                           dc_tensor *const *side, int n_next, int *used)
{
    fuse_fn real = NULL;
    for (int i = 0; i < n_spied && !real; i++)
        real = spied[i].mod == m ? spied[i].real : NULL;
    dc_tensor *y = real ? real(ctx, m, x, next, side, n_next, used) : NULL;
    spy_calls++;
    spy_absorbed += y ? *used : 0;
    spy_bn_absorbed += y && strcmp(m->type, "BatchNorm") == 0 ? *used : 0;
    return y;
}

/* A module may sit where a freed one of another type was: its entry is then replaced. */
static void spy_on(dc_model *m)
{
    for (int i = 0; i < dc_model_n_modules(m); i++) {
        dc_module *mod = dc_model_module(m, i);
        if (!mod->fuse || mod->fuse == spy_fuse)
            continue;
        int k = 0;
        while (k < n_spied && spied[k].mod != mod)
            k++;
        if (k == SPY_MAX)
            continue; /* never reached by these tests: the module then runs unspied */
        spied[k].mod = mod;
        spied[k].real = mod->fuse;
        n_spied += k == n_spied;
        mod->fuse = spy_fuse;
    }
}

/* ---- one forward (and backward) of a model, everything copied out ---- */

typedef struct run {
    float *y, *g, *dx;     /* output, all trainable gradients in order, the input's gradient */
    int64_t ny, ng, nx;
    int calls, absorbed;   /* what the spy saw */
    int bn_absorbed;       /* of which by BatchNorm modules (dc_batch_norm_add_relu) */
    int64_t tape;          /* tape entries of the forward */
} run;

static void run_free(run *r)
{
    free(r->y), free(r->g), free(r->dx);
    memset(r, 0, sizeof *r);
}

static float *copy_floats(const float *p, int64_t n)
{
    float *c = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (c && p)
        memcpy(c, p, sizeof(float) * (size_t)n);
    else if (c)
        memset(c, 0, sizeof(float) * (size_t)(n > 0 ? n : 1));
    return c;
}

/* Forward x through m with dc_model_forward (fused) or dc_model_forward_all, in a new ctx with
 * the given modes; with grad, backward of Σ y·dy (dy from dy_seed). 1 on success. */
static int run_model(dc_model *m, dc_tensor *x, int fused, int training, int grad,
                     uint64_t dy_seed, run *out)
{
    memset(out, 0, sizeof *out);
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx)
        return 0;
    dc_ctx_set_training(ctx, training);
    dc_ctx_set_grad(ctx, grad);
    dc_model_zero_grad(m);
    dc_tensor_zero_grad(x);
    spy_calls = spy_absorbed = spy_bn_absorbed = 0;
    dc_tensor **outs = dc_ctx_alloc(ctx, sizeof *outs * (size_t)dc_model_n_modules(m));
    dc_tensor *y = fused ? dc_model_forward(ctx, m, x) : dc_model_forward_all(ctx, m, x, outs);
    int ok = y != NULL;
    out->calls = spy_calls, out->absorbed = spy_absorbed, out->bn_absorbed = spy_bn_absorbed;
    out->tape = dc_ctx_tape_len(ctx);
    if (ok) {
        out->ny = y->numel;
        out->y = copy_floats(dc_f32(y), y->numel);
    }
    if (ok && grad) {
        dc_tensor *dy = rand_tensor(y->ndim, y->shape, dy_seed, -1, 1);
        ok = dy && dc_backward_with(ctx, y, dy) == DC_OK;
        dc_tensor_free(dy);
        out->ng = dc_model_n_trainable(m);
        out->g = copy_floats(NULL, out->ng);
        int64_t at = 0;
        for (int i = 0; ok && out->g && i < dc_model_n_tensors(m); i++) {
            const dc_tensor *t = dc_model_tensor(m, i);
            if (dc_model_is_buffer(m, i))
                continue;
            memcpy(out->g + at, t->grad, sizeof(float) * (size_t)t->numel);
            at += t->numel;
        }
        out->nx = x->numel;
        out->dx = copy_floats(x->grad, x->numel);
    }
    dc_ctx_free(ctx);
    return ok && out->y && (!grad || (out->g && out->dx));
}

/* a and b hold the same bits (NaN and signed zeros included); reports the first difference. */
static int same_bits(const char *what, const char *model, const float *a, const float *b,
                     int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof(float)) != 0) {
            CHECK(0, "%s: %s: element %lld of %lld differs: %.9g vs %.9g", model, what,
                  (long long)i, (long long)n, (double)a[i], (double)b[i]);
            return 0;
        }
    return 1;
}

static int differs(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, sizeof(float) * (size_t)n) != 0;
}

/* Fused and unfused runs of m on x agree bit for bit: output, every parameter gradient and the
 * input's gradient; the fused forward absorbed `absorbed` modules, `bn_absorbed` of them by
 * BatchNorms (and recorded that many tape entries fewer), the unfused one never asked. */
static void check_fused_equals_unfused(const char *name, dc_model *m, dc_tensor *x, int training,
                                       int absorbed, int bn_absorbed)
{
    run a = {0}, b = {0};
    spy_on(m);
    if (!run_model(m, x, 0, training, 1, 99, &b) || !run_model(m, x, 1, training, 1, 99, &a)) {
        CHECK(0, "%s: forward/backward failed: %s", name, dc_last_error());
        run_free(&a), run_free(&b);
        return;
    }
    CHECK(b.calls == 0, "%s: dc_model_forward_all asked a module to fuse (%d calls)", name,
          b.calls);
    CHECK(a.absorbed == absorbed, "%s: the fused forward absorbed %d modules, expected %d", name,
          a.absorbed, absorbed);
    CHECK(a.bn_absorbed == bn_absorbed, "%s: BatchNorms absorbed %d modules, expected %d", name,
          a.bn_absorbed, bn_absorbed);
    CHECK(b.tape - a.tape == absorbed, "%s: tape entries %lld fused vs %lld unfused, expected %d "
          "fewer", name, (long long)a.tape, (long long)b.tape, absorbed);
    if (a.ny == b.ny && a.ng == b.ng && a.nx == b.nx) {
        same_bits("output", name, a.y, b.y, a.ny);
        same_bits("parameter gradients", name, a.g, b.g, a.ng);
        same_bits("input gradient", name, a.dx, b.dx, a.nx);
    } else {
        CHECK(0, "%s: sizes differ", name);
    }
    run_free(&a), run_free(&b);
}

/* ---- a): Conv2d + ReLU in training ---- */

/* Conv2d absorbs the ReLU after it in training; the output, every parameter gradient (dW and db
 * from the masked dy) and the input's gradient equal the unfused run bit for bit: LeNet-5's
 * convolutions (direct kernels, both layouts), a ResNet stem (3->64 and 64->64 direct, the
 * latter without bias, stride 2 through im2col + GEMM). In Conv -> BatchNorm -> ReLU in
 * training the conv takes nothing (batch statistics) and the BatchNorm takes the ReLU, so the
 * stem's convs absorb 3 ReLUs and its BatchNorm the fourth. */
TEST(fusion_conv_relu_training_equals_unfused_bitwise)
{
    dc_model *le = lenet(7, 0), *st = stem(8);
    dc_tensor *x1 = rand_tensor(4, DC_SHAPE(3, 1, 28, 28), 1, -1, 1);
    dc_tensor *x2 = rand_tensor(4, DC_SHAPE(2, 3, 32, 32), 2, -1, 1);
    REQUIRE(le && st && x1 && x2);
    REQUIRE(dc_tensor_requires_grad(x1) == DC_OK && dc_tensor_requires_grad(x2) == DC_OK);
    check_fused_equals_unfused("LeNet-5", le, x1, 1, 2, 0);
    check_fused_equals_unfused("stem", st, x2, 1, 4, 1);
    /* training mode off but gradients on: the ReLU is still absorbed, nothing else */
    check_fused_equals_unfused("LeNet-5 (eval mode, grad on)", le, x1, 0, 2, 0);
    dc_model_free(le), dc_model_free(st);
    dc_tensor_free(x1), dc_tensor_free(x2);
}

/* ---- b): BatchNorm folded in inference ---- */

/* The offset in an H x H input plane that output (i, j) reads at tap (p, q), for stride s and
 * padding pad, or -1 in the padding (the references below). */
static int64_t tap(int64_t H, int s, int pad, int64_t i, int64_t j, int p, int q)
{
    const int64_t r = i * s + p - pad, t = j * s + q - pad;
    return r < 0 || r >= H || t < 0 || t >= H ? -1 : r * H + t;
}

/* y = [relu] ((conv(x) + b - mean)/√(var + eps)·γ + β) in double; mag[i] bounds the size of the
 * terms (for the tolerance). */
typedef struct cbr {
    int64_t N, C, H, O;
    int k, s, p, bias, affine, relu;
    float eps;
    int absorbed; /* modules the fused forward should absorb */
} cbr;

static void ref_conv_bn(const cbr *c, const float *x, const float *w, const float *b,
                        const float *g, const float *be, const float *mu, const float *var,
                        int64_t Ho, double *want, double *mag)
{
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t o = 0; o < c->O; o++) {
            const double sc = (g ? g[o] : 1.0) / sqrt((double)var[o] + (double)c->eps);
            for (int64_t i = 0; i < Ho; i++)
                for (int64_t j = 0; j < Ho; j++) {
                    double z = b ? b[o] : 0, a = fabs(z);
                    for (int64_t ch = 0; ch < c->C; ch++)
                        for (int p = 0; p < c->k; p++)
                            for (int q = 0; q < c->k; q++) {
                                const int64_t at = tap(c->H, c->s, c->p, i, j, p, q);
                                if (at < 0)
                                    continue;
                                const double t =
                                    (double)w[((o * c->C + ch) * c->k + p) * c->k + q] *
                                    x[(n * c->C + ch) * c->H * c->H + at];
                                z += t, a += fabs(t);
                            }
                    double v = (z - mu[o]) * sc + (be ? be[o] : 0);
                    const int64_t at = ((n * c->O + o) * Ho + i) * Ho + j;
                    want[at] = c->relu && v < 0 ? 0 : v;
                    mag[at] = (a + fabs(mu[o])) * fabs(sc) + (be ? fabs(be[o]) : 0) + 1e-3;
                }
        }
}

/* Element by element |got - want| <= rtol·mag; reports the worst. */
static void check_near_ref(const char *what, const float *got, const double *want,
                           const double *mag, int64_t n, double rtol)
{
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        const double e = isnan(got[i]) ? INFINITY : fabs(got[i] - want[i]) / mag[i];
        if (!(e <= worst))
            worst = e, at = i;
    }
    CHECK(worst <= rtol, "%s: element %lld: got %.9g, want %.9g (error %.3g of the term size, "
          "allowed %.3g)", what, (long long)at, (double)got[at], want[at], worst, rtol);
}

/* In inference without gradients, Conv2d folds the BatchNorm after it (running statistics, γ,
 * β, its own eps) into its weights, then takes a ReLU: the fused forward and the layer-by-layer
 * one both match a double Conv -> BatchNorm -> ReLU within 1e-5 of the terms' size, for the
 * direct kernels (LeNet-5's C1 with eps 1e-3, C3 without conv bias, a 3->64 stem) and for
 * im2col + GEMM (stride 2, BatchNorm without affine, no ReLU after it: only the BatchNorm is
 * absorbed). */
TEST(fusion_conv_batchnorm_relu_inference_matches_double_reference)
{
    static const cbr cases[] = {
        {2, 1, 28, 6, 5, 1, 2, 1, 1, 1, 1e-3f, 2},
        {2, 6, 14, 16, 5, 1, 0, 0, 1, 1, 1e-5f, 2},
        {1, 3, 32, 64, 3, 1, 1, 1, 1, 1, 1e-5f, 2},
        {2, 4, 15, 8, 3, 2, 1, 1, 0, 0, 1e-5f, 1},
    };
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        const cbr *c = &cases[t];
        char name[64];
        snprintf(name, sizeof name, "case %zu (%lld->%lld, k %d, stride %d)", t,
                 (long long)c->C, (long long)c->O, c->k, c->s);
        dc_model *m = dc_model_new();
        dc_rng r;
        dc_rng_seed(&r, 20 + t, 1);
        REQUIRE(m && add_conv(m, "c", c->C, c->O, c->k, c->s, c->p, c->bias, &r) &&
                add_bn(m, "bn", c->O, c->eps, c->affine) &&
                (c->relu ? add_relu(m, "r")
                         : dc_model_add(m, dc_flatten_new(m, "flat")) == DC_OK) &&
                set_bn(m, "bn", 30 + t));
        dc_tensor *x = rand_tensor(4, DC_SHAPE(c->N, c->C, c->H, c->H), 40 + t, -1, 1);
        const int64_t Ho = dc_conv_out_size(c->H, c->k, c->s, 1, c->p, c->p);
        const int64_t ny = c->N * c->O * Ho * Ho;
        double *want = malloc(sizeof(double) * (size_t)ny);
        double *mag = malloc(sizeof(double) * (size_t)ny);
        REQUIRE(x && want && mag);
        const dc_tensor *b = dc_model_find(m, "c.bias"), *g = dc_model_find(m, "bn.weight"),
                        *be = dc_model_find(m, "bn.bias");
        ref_conv_bn(c, dc_f32(x), dc_f32(dc_model_find(m, "c.weight")), b ? dc_f32(b) : NULL,
                    g ? dc_f32(g) : NULL, be ? dc_f32(be) : NULL,
                    dc_f32(dc_model_find(m, "bn.running_mean")),
                    dc_f32(dc_model_find(m, "bn.running_var")), Ho, want, mag);
        spy_on(m);
        run fu = {0}, un = {0};
        if (run_model(m, x, 1, 0, 0, 0, &fu) && run_model(m, x, 0, 0, 0, 0, &un) &&
            fu.ny == ny && un.ny == ny) {
            CHECK(fu.absorbed == c->absorbed, "%s: absorbed %d modules, expected %d", name,
                  fu.absorbed, c->absorbed);
            char what[96];
            snprintf(what, sizeof what, "%s, fused", name);
            check_near_ref(what, fu.y, want, mag, ny, 1e-5);
            snprintf(what, sizeof what, "%s, layer by layer", name);
            check_near_ref(what, un.y, want, mag, ny, 1e-5);
        } else {
            CHECK(0, "%s: forward failed or wrong size: %s", name, dc_last_error());
        }
        run_free(&fu), run_free(&un);
        free(want), free(mag);
        dc_tensor_free(x);
        dc_model_free(m);
    }
}

/* Every buffer of m (running statistics, batch counters) copied into flat, or from it with
 * restore; returns their size in bytes (flat may be NULL to ask). */
static size_t buffers_copy(dc_model *m, unsigned char *flat, int restore)
{
    size_t at = 0;
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        if (!dc_model_is_buffer(m, i))
            continue;
        const size_t n = (size_t)t->numel * (t->dtype == DC_F32 ? sizeof(float) : sizeof(int64_t));
        if (flat && restore)
            memcpy(t->data, flat + at, n);
        else if (flat)
            memcpy(flat + at, t->data, n);
        at += n;
    }
    return at;
}

/* Nothing is folded into a convolution when it would be wrong: (1) eval mode with gradients
 * recorded (the BatchNorm's γ and β need theirs): same bits as unfused, output and gradients;
 * (2) training mode without gradients (batch statistics, running statistics updated): same
 * output and the same running statistics afterwards; (3) a conv with a ReLU of its own
 * (opts.relu) before the BatchNorm, in inference. In each, the BatchNorm itself still takes
 * the ReLU after it (dc_batch_norm_add_relu), which changes no value. */
TEST(fusion_declined_for_gradients_batch_statistics_and_own_relu)
{
    dc_model *m = lenet(11, 1);
    dc_tensor *x = rand_tensor(4, DC_SHAPE(2, 1, 28, 28), 12, -1, 1);
    REQUIRE(m && x && dc_tensor_requires_grad(x) == DC_OK);
    check_fused_equals_unfused("LeNet-5 + BatchNorm, eval mode, grad on", m, x, 0, 2, 2);

    /* (2) training without recording: both runs from the same buffers */
    const size_t nb = buffers_copy(m, NULL, 0);
    unsigned char *save = malloc(nb), *after = malloc(nb), *now = malloc(nb);
    REQUIRE(save && after && now);
    buffers_copy(m, save, 0);
    run a = {0}, b = {0};
    spy_on(m);
    REQUIRE(run_model(m, x, 0, 1, 0, 0, &b));
    buffers_copy(m, after, 0);
    buffers_copy(m, save, 1);
    REQUIRE(run_model(m, x, 1, 1, 0, 0, &a));
    buffers_copy(m, now, 0);
    CHECK(a.absorbed == 2 && a.bn_absorbed == 2, "training without grad: absorbed %d modules, "
          "%d by BatchNorms (a BatchNorm with batch statistics cannot be folded; it takes its "
          "ReLU)", a.absorbed, a.bn_absorbed);
    same_bits("output", "training, no grad", a.y, b.y, a.ny);
    CHECK(memcmp(now, after, nb) == 0,
          "training without grad: running statistics differ after the fused forward");
    CHECK(memcmp(save, after, nb) != 0,
          "training without grad: the running statistics were not updated at all");
    run_free(&a), run_free(&b);
    free(save), free(after), free(now);
    dc_tensor_free(x);
    dc_model_free(m);

    /* (3) Conv2d(relu) -> BatchNorm -> ReLU in inference */
    m = dc_model_new();
    dc_rng r;
    dc_rng_seed(&r, 13, 1);
    dc_conv2d_opts o = conv_opts(1, 0, 1);
    REQUIRE(m && dc_model_add(m, dc_conv2d_new(m, "c", 6, 16, 5, 5, &o, 1, &r)) == DC_OK &&
            add_bn(m, "bn", 16, 1e-5f, 1) && add_relu(m, "r") && set_bn(m, "bn", 14));
    x = rand_tensor(4, DC_SHAPE(2, 6, 14, 14), 15, -1, 1);
    REQUIRE(x);
    spy_on(m);
    REQUIRE(run_model(m, x, 1, 0, 0, 0, &a) && run_model(m, x, 0, 0, 0, 0, &b));
    CHECK(a.absorbed == 1 && a.bn_absorbed == 1, "a conv with its own ReLU: absorbed %d "
          "modules, %d by the BatchNorm (expected only its ReLU)", a.absorbed, a.bn_absorbed);
    same_bits("output", "Conv2d(relu) -> BatchNorm -> ReLU", a.y, b.y, a.ny);
    run_free(&a), run_free(&b);
    dc_tensor_free(x);
    dc_model_free(m);
}

/* ---- d): outputs with other readers ---- */

/* A conv whose output is read by another module too is not fused (c + relu(c), concat(relu(c),
 * c)); a ReLU whose output is read twice still is (the fused output stands for both modules:
 * relu(c) + conv2(relu(c)), where conv2 also absorbs the Add, relu(c) being both its input
 * and its residual). In inference, a BatchNorm read twice is folded but the ReLU after it is
 * not absorbed (bn + relu(bn)). Training results equal the unfused run bit for bit. */
TEST(fusion_skips_outputs_with_other_readers)
{
    dc_tensor *x = rand_tensor(4, DC_SHAPE(2, 6, 14, 14), 21, -1, 1);
    REQUIRE(x && dc_tensor_requires_grad(x) == DC_OK);
    for (int v = 0; v < 3; v++) {
        dc_model *m = dc_model_new();
        dc_rng r;
        dc_rng_seed(&r, 22 + v, 1);
        REQUIRE(m && add_conv(m, "c", 6, 16, 5, 1, 0, 1, &r) && add_relu(m, "r"));
        const int ic = idx(m, "c"), ir = idx(m, "r");
        static const char *const names[] = {"c + relu(c)", "concat(relu(c), c)",
                                            "relu(c) + conv2(relu(c))"};
        if (v == 0)
            REQUIRE(dc_model_add_from(m, dc_add_new(m, "add"), 2, (int[]){ic, ir}) == DC_OK);
        if (v == 1)
            REQUIRE(dc_model_add_from(m, dc_concat_new(m, "cat", 1), 2, (int[]){ir, ic}) ==
                    DC_OK);
        if (v == 2) {
            REQUIRE(add_conv(m, "c2", 16, 16, 3, 1, 1, 1, &r));
            REQUIRE(dc_model_add_from(m, dc_add_new(m, "add"), 2,
                                      (int[]){ir, idx(m, "c2")}) == DC_OK);
        }
        check_fused_equals_unfused(names[v], m, x, 1, v == 2 ? 2 : 0, 0);
        dc_model_free(m);
    }

    /* inference: c -> bn -> r, add(bn, r) */
    dc_model *m = dc_model_new();
    dc_rng r;
    dc_rng_seed(&r, 25, 1);
    REQUIRE(m && add_conv(m, "c", 6, 16, 5, 1, 0, 1, &r) && add_bn(m, "bn", 16, 1e-5f, 1) &&
            add_relu(m, "r") &&
            dc_model_add_from(m, dc_add_new(m, "add"), 2, (int[]){idx(m, "bn"), idx(m, "r")}) ==
                DC_OK &&
            set_bn(m, "bn", 26));
    spy_on(m);
    run a = {0}, b = {0};
    REQUIRE(run_model(m, x, 1, 0, 0, 0, &a) && run_model(m, x, 0, 0, 0, 0, &b));
    CHECK(a.absorbed == 1, "bn read twice: absorbed %d modules, expected 1 (the BatchNorm)",
          a.absorbed);
    CHECK(a.ny == b.ny, "sizes differ");
    double worst = 0;
    for (int64_t i = 0; i < a.ny && a.ny == b.ny; i++) {
        const double e = fabs((double)a.y[i] - b.y[i]) / (1.0 + fabs(b.y[i]));
        worst = e > worst || isnan(e) ? e : worst;
    }
    CHECK(worst <= 1e-5, "bn + relu(bn): fused and unfused differ by %g (relative)", worst);
    run_free(&a), run_free(&b);
    dc_model_free(m);
    dc_tensor_free(x);
}

/* ---- residual blocks: Conv2d absorbs the Add of the skip connection ---- */

/* One basic block on x [2, 16, 12, 12] (direct kernels) or, with stride-1 1x1 convs on a 5x5
 * map, through im2col + GEMM: c1 -> [bn1] -> r1 -> c2 -> [bn2] -> add(·, x) -> out. */
static dc_model *basic_block(int bn, int k, dc_rng *r)
{
    dc_model *m = dc_model_new();
    if (!m || !add_conv(m, "c1", 16, 16, k, 1, k / 2, 1, r) ||
        (bn && !add_bn(m, "bn1", 16, 1e-5f, 1)) || !add_relu(m, "r1") ||
        !add_conv(m, "c2", 16, 16, k, 1, k / 2, !bn, r) ||
        (bn && !add_bn(m, "bn2", 16, 1e-3f, 1)) ||
        dc_model_add_from(m, dc_add_new(m, "add"), 2,
                          (int[]){DC_MODEL_INPUT, idx(m, bn ? "bn2" : "c2")}) != DC_OK ||
        !add_relu(m, "out") || (bn && (!set_bn(m, "bn1", 31) || !set_bn(m, "bn2", 32)))) {
        dc_model_free(m);
        return NULL;
    }
    return m;
}

/* Training without BatchNorm: c1 takes r1, c2 takes the Add and the ReLU (3 absorbed), and
 * output and every gradient (the input's through both the convolution and the skip) equal the
 * unfused run bit for bit. Inference with BatchNorm: each conv folds its BatchNorm, c2 also
 * the Add and the ReLU (5 absorbed), within float rounding of the layer-by-layer forward. */
TEST(fusion_residual_block_absorbs_the_skip_connection)
{
    for (int k = 3; k >= 1; k -= 2) {
        dc_rng r;
        dc_rng_seed(&r, 30 + k, 1);
        const int64_t hw = k == 3 ? 12 : 5;
        dc_tensor *x = rand_tensor(4, DC_SHAPE(2, 16, hw, hw), 33, -1, 1);
        REQUIRE(x && dc_tensor_requires_grad(x) == DC_OK);
        dc_model *m = basic_block(0, k, &r);
        REQUIRE(m);
        check_fused_equals_unfused(k == 3 ? "block 3x3" : "block 1x1", m, x, 1, 3, 0);
        dc_model_free(m);
        /* training with BatchNorm: the convs take nothing, bn1 takes r1, bn2 the Add and the
         * ReLU (dc_batch_norm_add_relu), bit for bit as unfused */
        m = basic_block(1, k, &r);
        REQUIRE(m);
        check_fused_equals_unfused(k == 3 ? "block 3x3 + BatchNorm, training"
                                          : "block 1x1 + BatchNorm, training", m, x, 1, 3, 3);
        dc_model_free(m);

        m = basic_block(1, k, &r);
        REQUIRE(m);
        spy_on(m);
        run a = {0}, b = {0};
        REQUIRE(run_model(m, x, 1, 0, 0, 0, &a) && run_model(m, x, 0, 0, 0, 0, &b));
        CHECK(a.absorbed == 5, "block with BatchNorm, inference: absorbed %d, expected 5",
              a.absorbed);
        double worst = 0;
        for (int64_t i = 0; i < a.ny && a.ny == b.ny; i++) {
            const double e = fabs((double)a.y[i] - b.y[i]) / (1.0 + fabs(b.y[i]));
            worst = e > worst || isnan(e) ? e : worst;
        }
        CHECK(a.ny == b.ny && worst <= 1e-5, "block with BatchNorm: fused and unfused differ by "
              "%g (relative)", worst);
        run_free(&a), run_free(&b);
        dc_model_free(m);
        dc_tensor_free(x);
    }
}

/* z = relu(bn(x) + x): the residual is the batch norm's own input, so its gradient and the
 * batch norm's dx land in one buffer (the residual's is stored first, dx adds). Against separate
 * ops on two tensors holding x's values, relu(dc_batch_norm(x1) + x2), whose dx is
 * x1.grad + x2.grad, bit for bit: output, dx, dγ, dβ and the running statistics. */
TEST(fusion_batch_norm_add_relu_with_its_input_as_residual)
{
    dc_tensor *x = rand_tensor(4, DC_SHAPE(3, 4, 5, 6), 51, -2, 2);
    dc_tensor *x2 = rand_tensor(4, DC_SHAPE(3, 4, 5, 6), 51, -2, 2); /* x's values */
    dc_tensor *g = rand_tensor(1, DC_SHAPE(4), 52, 0.5f, 1.5f);
    dc_tensor *b = rand_tensor(1, DC_SHAPE(4), 53, -0.5f, 0.5f);
    dc_tensor *dz = rand_tensor(4, DC_SHAPE(3, 4, 5, 6), 54, -1, 1);
    dc_tensor *rm[2], *rv[2];
    float *out[2][4] = {{0}};
    REQUIRE(x && x2 && g && b && dz && dc_tensor_requires_grad(x) == DC_OK &&
            dc_tensor_requires_grad(x2) == DC_OK && dc_tensor_requires_grad(g) == DC_OK &&
            dc_tensor_requires_grad(b) == DC_OK);
    for (int fused = 0; fused < 2; fused++) {
        rm[fused] = dc_tensor_new(DC_F32, 1, DC_SHAPE(4));
        rv[fused] = dc_tensor_new(DC_F32, 1, DC_SHAPE(4));
        REQUIRE(rm[fused] && rv[fused]);
        dc_tensor_fill(rv[fused], 1.0f);
        dc_ctx *ctx = dc_ctx_new(0);
        REQUIRE(ctx);
        dc_ctx_set_training(ctx, 1);
        dc_tensor_zero_grad(x), dc_tensor_zero_grad(x2);
        dc_tensor_zero_grad(g), dc_tensor_zero_grad(b);
        dc_tensor *z = fused ? dc_batch_norm_add_relu(ctx, x, g, b, rm[fused], rv[fused], NULL,
                                                      0.1f, 1e-5f, x, 1)
                             : dc_relu(ctx, dc_add(ctx, dc_batch_norm(ctx, x, g, b, rm[fused],
                                                                      rv[fused], NULL, 0.1f,
                                                                      1e-5f), x2));
        REQUIRE(z && dc_backward_with(ctx, z, dz) == DC_OK);
        out[fused][0] = copy_floats(dc_f32(z), z->numel);
        out[fused][1] = copy_floats(x->grad, x->numel);
        for (int64_t i = 0; !fused && out[0][1] && i < x->numel; i++)
            out[0][1][i] += x2->grad[i];
        out[fused][2] = copy_floats(g->grad, 4);
        out[fused][3] = copy_floats(b->grad, 4);
        dc_ctx_free(ctx);
    }
    static const char *const what[] = {"output", "dx", "dgamma", "dbeta"};
    const int64_t n[] = {x->numel, x->numel, 4, 4};
    for (int k = 0; k < 4; k++)
        if (out[0][k] && out[1][k])
            same_bits(what[k], "relu(bn(x) + x)", out[1][k], out[0][k], n[k]);
    same_bits("running_mean", "relu(bn(x) + x)", dc_f32(rm[1]), dc_f32(rm[0]), 4);
    same_bits("running_var", "relu(bn(x) + x)", dc_f32(rv[1]), dc_f32(rv[0]), 4);
    int zeros = 0; /* the ReLU cut some outputs, so the mask was exercised */
    for (int64_t i = 0; out[1][0] && i < x->numel; i++)
        zeros += out[1][0][i] == 0.0f;
    CHECK(zeros > 0 && zeros < x->numel, "%d of %lld outputs are 0", zeros, (long long)x->numel);
    for (int f = 0; f < 2; f++) {
        for (int k = 0; k < 4; k++)
            free(out[f][k]);
        dc_tensor_free(rm[f]), dc_tensor_free(rv[f]);
    }
    dc_tensor_free(x), dc_tensor_free(x2), dc_tensor_free(g), dc_tensor_free(b);
    dc_tensor_free(dz);
}

/* ---- c): the packed-weight cache of inference ---- */

/* dc_model_forward in inference on ctx (reset first), output copied into out. */
static int infer(dc_ctx *ctx, dc_model *m, dc_tensor *x, float *out, int64_t n)
{
    dc_ctx_reset(ctx);
    dc_tensor *y = dc_model_forward(ctx, m, x);
    if (!y || y->numel != n)
        return 0;
    memcpy(out, y->data, sizeof(float) * (size_t)n);
    return 1;
}

/* The same in a new ctx (nothing cached), through the direct kernels or (direct 0) im2col. */
static int infer_fresh(dc_model *m, dc_tensor *x, float *out, int64_t n, int direct)
{
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx)
        return 0;
    dc_ctx_set_grad(ctx, 0);
    dc_conv_direct_enable(direct);
    const int ok = infer(ctx, m, x, out, n);
    dc_conv_direct_enable(1);
    dc_ctx_free(ctx);
    return ok;
}

/* After an edit: the warm ctx gives what a fresh ctx gives, bit for bit, and what im2col + GEMM
 * gives within rounding. */
static void check_warm_equals_fresh(const char *what, dc_ctx *ctx, dc_model *m, dc_tensor *x,
                                    float *warm, float *fresh, float *gemm, int64_t n)
{
    if (!infer(ctx, m, x, warm, n) || !infer_fresh(m, x, fresh, n, 1) ||
        !infer_fresh(m, x, gemm, n, 0)) {
        CHECK(0, "%s: forward failed: %s", what, dc_last_error());
        return;
    }
    same_bits("warm ctx vs a fresh ctx", what, warm, fresh, n);
    CHECK_ALLCLOSE(what, warm, gemm, n, 1e-4, 1e-5);
}

/* Inference keeps the packed weights of the direct path in the ctx, checked by value: an
 * in-place change to a weight or a bias (both layouts: C1 by rows, C3 by channels), or to a
 * BatchNorm's statistics or γ (folded weights live in the arena, at the same address every
 * forward), gives the output of a fresh ctx; undoing it gives the first output again. LeNet-5
 * at batch 1, with and without BatchNorm. */
TEST(fusion_weight_cache_follows_in_place_edits)
{
    static const struct { const char *t; int64_t k; float d; int bn; } edits[] = {
        {"c1.weight", 12, 1.0f, 0},  {"c1.bias", 3, 2.0f, 0},    {"c2.weight", 837, 1.0f, 0},
        {"c2.bias", 15, 2.0f, 0},    {"c1.weight", 0, -1.0f, 1}, {"bn1.running_var", 2, 3.0f, 1},
        {"bn1.running_mean", 4, -1.0f, 1}, {"bn2.weight", 9, 2.0f, 1}, {"bn2.bias", 1, 2.0f, 1},
    };
    dc_tensor *x = rand_tensor(4, DC_SHAPE(1, 1, 28, 28), 31, 0, 1);
    dc_ctx *ctx = dc_ctx_new(0);
    float y0[10], warm[10], fresh[10], gemm[10];
    REQUIRE(x && ctx);
    dc_ctx_set_grad(ctx, 0);
    for (int bn = 0; bn < 2; bn++) {
        dc_model *m = lenet(32 + bn, bn);
        REQUIRE(m);
        spy_on(m);
        check_warm_equals_fresh(bn ? "LeNet-5 + BN" : "LeNet-5", ctx, m, x, y0, fresh, gemm, 10);
        spy_absorbed = 0;
        REQUIRE(infer(ctx, m, x, warm, 10)); /* the second forward takes the kept weights */
        CHECK(spy_absorbed == (bn ? 4 : 2), "inference absorbed %d modules, expected %d",
              spy_absorbed, bn ? 4 : 2);
        same_bits("second forward, same ctx", "LeNet-5", warm, y0, 10);
        for (size_t e = 0; e < sizeof edits / sizeof *edits; e++) {
            if (edits[e].bn != bn)
                continue;
            dc_tensor *t = dc_model_find(m, edits[e].t);
            REQUIRE(t && edits[e].k < t->numel);
            float *v = dc_f32(t) + edits[e].k;
            const float old = *v;
            char what[96];
            snprintf(what, sizeof what, "%s[%lld] %+g", edits[e].t, (long long)edits[e].k,
                     (double)edits[e].d);
            *v += edits[e].d;
            check_warm_equals_fresh(what, ctx, m, x, warm, fresh, gemm, 10);
            CHECK(differs(warm, y0, 10), "%s: the output did not change", what);
            *v = old;
            snprintf(what, sizeof what, "%s restored", edits[e].t);
            check_warm_equals_fresh(what, ctx, m, x, warm, fresh, gemm, 10);
            same_bits("restored vs the first output", edits[e].t, warm, y0, 10);
        }
        dc_model_free(m);
    }
    dc_ctx_free(ctx);
    dc_tensor_free(x);
}

/* The cache stays right when what sits at the weights' address changes: another model built
 * where a freed one was, the same conv on inputs that pick the other layout (14x14: channels,
 * 20x20: rows, alternating), and more convolutions (20) than the ctx keeps buffers (16). */
TEST(fusion_weight_cache_survives_new_models_layouts_and_eviction)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_ctx_set_grad(ctx, 0);
    float warm[10], fresh[10], gemm[10];
    /* a new model in the old one's place */
    dc_tensor *x = rand_tensor(4, DC_SHAPE(1, 1, 28, 28), 41, 0, 1);
    REQUIRE(x);
    for (int k = 0; k < 3; k++) {
        dc_model *m = lenet(42 + k, 0);
        REQUIRE(m);
        check_warm_equals_fresh("LeNet-5, a new model on the same ctx", ctx, m, x, warm, fresh,
                                gemm, 10);
        dc_model_free(m);
    }
    dc_tensor_free(x);

    /* one conv, two layouts */
    dc_model *m = dc_model_new();
    dc_rng r;
    dc_rng_seed(&r, 43, 1);
    REQUIRE(m && add_conv(m, "c", 6, 16, 5, 1, 0, 1, &r));
    dc_tensor *xs[2] = {rand_tensor(4, DC_SHAPE(1, 6, 14, 14), 44, -1, 1),
                        rand_tensor(4, DC_SHAPE(1, 6, 20, 20), 45, -1, 1)};
    const int64_t n[2] = {16 * 10 * 10, 16 * 16 * 16};
    float *bw = malloc(sizeof(float) * 3 * 4096);
    REQUIRE(xs[0] && xs[1] && bw);
    for (int k = 0; k < 6; k++)
        check_warm_equals_fresh(k % 2 ? "conv on 20x20" : "conv on 14x14", ctx, m, xs[k % 2],
                                bw, bw + 4096, bw + 8192, n[k % 2]);
    dc_model_free(m);
    dc_tensor_free(xs[0]), dc_tensor_free(xs[1]);

    /* 20 convolutions 8->8 3x3 (+ ReLU) on 16x16 */
    m = dc_model_new();
    REQUIRE(m);
    char name[16];
    for (int l = 0; l < 20; l++) {
        snprintf(name, sizeof name, "c%d", l);
        REQUIRE(add_conv(m, name, 8, 8, 3, 1, 1, 1, &r));
        snprintf(name, sizeof name, "r%d", l);
        REQUIRE(add_relu(m, name));
    }
    x = rand_tensor(4, DC_SHAPE(1, 8, 16, 16), 46, -1, 1);
    REQUIRE(x);
    const int64_t ny = 8 * 16 * 16;
    for (int k = 0; k < 4; k++) {
        if (k == 2) /* the first layer's weights (its buffer was evicted or is kept) */
            dc_f32(dc_model_find(m, "c0.weight"))[5] += 0.5f;
        if (k == 3) /* and the last layer's bias */
            dc_f32(dc_model_find(m, "c19.bias"))[7] += 0.5f;
        check_warm_equals_fresh("20 convolutions", ctx, m, x, bw, bw + 4096, bw + 8192, ny);
    }
    free(bw);
    dc_tensor_free(x);
    dc_model_free(m);
    dc_ctx_free(ctx);
}

/* dc_ctx_prepared's contract (core/internal.h): a buffer per (key, sources, sizes), kept across
 * resets; hit only while the sources hold the same values as when it was filled (either source
 * changing counts); none above PREP_MAX_FLOATS. With more sources than buffers, a hit still
 * always means the buffer holds what was computed from these values. */
TEST(fusion_ctx_prepared_hits_only_on_equal_values)
{
    dc_ctx *ctx = dc_ctx_new(0);
    static float a[24][100], b[10];
    REQUIRE(ctx);
    for (int s = 0; s < 24; s++)
        for (int i = 0; i < 100; i++)
            a[s][i] = (float)(s * 1000 + i);
    for (int i = 0; i < 10; i++)
        b[i] = (float)-i;
    int hit = -1;
    float *p = dc_ctx_prepared(ctx, 7, a[0], 100, b, 10, 50, &hit);
    REQUIRE(p);
    CHECK(hit == 0, "first call: hit %d", hit);
    for (int i = 0; i < 50; i++)
        p[i] = (float)i;
    float *q = dc_ctx_prepared(ctx, 7, a[0], 100, b, 10, 50, &hit);
    CHECK(q == p && hit == 1, "same sources: hit %d, same buffer %d", hit, q == p);
    dc_ctx_reset(ctx);
    q = dc_ctx_prepared(ctx, 7, a[0], 100, b, 10, 50, &hit);
    CHECK(q == p && hit == 1 && q[49] == 49.0f, "kept across dc_ctx_reset: hit %d", hit);
    a[0][99] += 1;
    q = dc_ctx_prepared(ctx, 7, a[0], 100, b, 10, 50, &hit);
    CHECK(q && hit == 0, "a changed in place: hit %d", hit);
    q = dc_ctx_prepared(ctx, 7, a[0], 100, b, 10, 50, &hit);
    CHECK(q && hit == 1, "a unchanged since the refill: hit %d", hit);
    b[9] = 5;
    q = dc_ctx_prepared(ctx, 7, a[0], 100, b, 10, 50, &hit);
    CHECK(q && hit == 0, "b changed in place: hit %d", hit);
    q = dc_ctx_prepared(ctx, 8, a[0], 100, b, 10, 50, &hit);
    CHECK(q && hit == 0, "another key: hit %d", hit);
    q = dc_ctx_prepared(ctx, 7, a[0], 100, b, 10, 60, &hit);
    CHECK(q && hit == 0, "another output size: hit %d", hit);
    q = dc_ctx_prepared(ctx, 7, a[0], 99, b, 10, 50, &hit);
    CHECK(q && hit == 0, "fewer sources: hit %d", hit);
    q = dc_ctx_prepared(ctx, 7, a[0], 100, NULL, 0, 50, &hit);
    CHECK(q && hit == 0, "without b: hit %d", hit);
    CHECK(dc_ctx_prepared(ctx, 7, a[0], 100, b, 10, PREP_MAX_FLOATS, &hit) == NULL && hit == 0,
          "over PREP_MAX_FLOATS: a buffer was returned");
    /* 24 sources through 16 buffers, three rounds, one source changed each round: a change
     * always misses, and a hit always finds what was stored for the current values */
    int version[24] = {0};
    for (int round = 0; round < 3; round++)
        for (int s = 0; s < 24; s++) {
            const int changed = s == round * 7 + 1;
            if (changed)
                a[s][round] -= 3, version[s]++;
            q = dc_ctx_prepared(ctx, 1, a[s], 100, NULL, 0, 2, &hit);
            REQUIRE(q);
            CHECK(!changed || hit == 0, "round %d source %d: changed, yet a hit", round, s);
            CHECK(!hit || (q[0] == (float)s && q[1] == (float)version[s]),
                  "round %d source %d: a hit on a buffer filled for %g version %g (want %d "
                  "version %d)", round, s, (double)q[0], (double)q[1], s, version[s]);
            q[0] = (float)s, q[1] = (float)version[s];
        }
    dc_ctx_free(ctx);
}

/* ---- e): first-write gradients next to other contributions ---- */

/* dc_grad_fresh (core/internal.h): NULL for a tensor that wants no gradient; fresh once, for a
 * tensor that wants one and has none yet (allocated then); not fresh for a leaf whose gradient
 * exists. */
TEST(fusion_first_write_gradients_grad_fresh_contract)
{
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx);
    dc_tensor *t = dc_zeros(ctx, DC_F32, 1, DC_SHAPE(8));
    REQUIRE(t);
    int fresh = -1;
    CHECK(dc_grad_fresh(ctx, t, &fresh) == NULL && fresh == 0,
          "no gradient wanted: got a buffer or fresh %d", fresh);
    t->flags |= DC_TF_REQUIRES_GRAD;
    float *g = dc_grad_fresh(ctx, t, &fresh);
    CHECK(g && g == t->grad && fresh == 1, "first call: fresh %d", fresh);
    float *g2 = dc_grad_fresh(ctx, t, &fresh);
    CHECK(g2 == g && fresh == 0, "second call: fresh %d", fresh);
    dc_tensor *h = dc_tensor_new(DC_F32, 1, DC_SHAPE(8));
    REQUIRE(h && dc_tensor_requires_grad(h) == DC_OK);
    CHECK(dc_grad_fresh(ctx, h, &fresh) == h->grad && fresh == 0,
          "a leaf with its gradient allocated: fresh %d", fresh);
    dc_tensor_free(h);
    dc_ctx_free(ctx);
}

enum { POISON_BYTES = 4 << 20 };
static const float POISON = 7777.0f;

/* Fill the whole arena chunk with POISON and reset: every buffer the next step allocates starts
 * with garbage, so an element a fresh store skips shows. */
static void poison(dc_ctx *ctx)
{
    dc_ctx_reset(ctx);
    float *p = dc_ctx_alloc(ctx, POISON_BYTES);
    for (size_t i = 0; p && i < POISON_BYTES / sizeof(float); i++)
        p[i] = POISON;
    dc_ctx_reset(ctx);
}

/* Σ y·dy as one scalar (dy a heap tensor, not differentiated). */
static dc_tensor *dot(dc_ctx *ctx, dc_tensor *y, dc_tensor *dy)
{
    return dc_sum(ctx, dc_mul(ctx, y, dy), DC_ALL_AXES, 0);
}

typedef enum { U_RELU, U_POOL, U_TWICE2 } user;

/* x = a·1 (an arena tensor: no gradient until backward), used by relu and / or max pooling and
 * by 2·x; loss = Σ u1(x)·d1 + Σ u2(x)·d2 with the users recorded in the given order. The
 * gradient of a (= that of x) against its exact value: ReLU passes dy where x > 0, 2x2 max
 * pooling (no overlap: one contribution per element) sends dy to each window's maximum, 2x
 * passes 2dy. Every sum has two terms at most, so the float result is the same in any order. */
static void check_two_users(const char *name, int u1, int u2, int leaf)
{
    const int64_t N = 2, C = 3, H = 8, W = 12;
    dc_tensor *a = rand_tensor(4, DC_SHAPE(N, C, H, W), 51, -1, 1);
    dc_tensor *dfull[2] = {rand_tensor(4, DC_SHAPE(N, C, H, W), 52, -1, 1),
                           rand_tensor(4, DC_SHAPE(N, C, H, W), 53, -1, 1)};
    dc_tensor *dpool[2] = {rand_tensor(4, DC_SHAPE(N, C, H / 2, W / 2), 54, -1, 1),
                           rand_tensor(4, DC_SHAPE(N, C, H / 2, W / 2), 55, -1, 1)};
    dc_ctx *ctx = dc_ctx_new(POISON_BYTES);
    float *want = malloc(sizeof(float) * (size_t)(N * C * H * W));
    if (!a || !dfull[0] || !dfull[1] || !dpool[0] || !dpool[1] || !ctx || !want ||
        dc_tensor_requires_grad(a) != DC_OK) {
        CHECK(0, "%s: setup failed", name);
        goto out;
    }
    for (int i = 0; i < N * C * H * W; i += 17)
        dc_f32(a)[i] = 0; /* x == 0 passes no gradient through the ReLU */
    const dc_pool2d_opts po = dc_pool2d_defaults(2);
    const int us[2] = {u1, u2};
    /* the exact gradient */
    for (int64_t i = 0; i < N * C * H * W; i++)
        want[i] = 0;
    for (int k = 0; k < 2; k++) {
        const float *xv = dc_f32(a), *d = dc_f32(dfull[k]), *dp = dc_f32(dpool[k]);
        if (us[k] == U_RELU)
            for (int64_t i = 0; i < N * C * H * W; i++)
                want[i] += xv[i] > 0 ? d[i] : 0.0f;
        if (us[k] == U_TWICE2)
            for (int64_t i = 0; i < N * C * H * W; i++)
                want[i] += 2.0f * d[i];
        if (us[k] == U_POOL)
            for (int64_t pl = 0; pl < N * C; pl++)
                for (int64_t i = 0; i < H / 2; i++)
                    for (int64_t j = 0; j < W / 2; j++) {
                        int64_t at = pl * H * W + 2 * i * W + 2 * j;
                        const int64_t cand[3] = {at + 1, at + W, at + W + 1};
                        float best = xv[at];
                        for (int q = 0; q < 3; q++)
                            if (xv[cand[q]] > best)
                                best = xv[cand[q]], at = cand[q];
                        want[at] += dp[(pl * (H / 2) + i) * (W / 2) + j];
                    }
    }
    for (int rep = 0; rep < 2; rep++) { /* the second time onto an arena used before */
        poison(ctx);
        const uint64_t mallocs = dc_ctx_arena_mallocs(ctx);
        dc_tensor_zero_grad(a);
        dc_tensor *x = leaf ? a : dc_mul_scalar(ctx, a, 1.0f), *l[2] = {NULL, NULL};
        for (int k = 0; k < 2 && x; k++) {
            if (us[k] == U_RELU)
                l[k] = dot(ctx, dc_relu(ctx, x), dfull[k]);
            if (us[k] == U_TWICE2)
                l[k] = dot(ctx, dc_mul_scalar(ctx, x, 2.0f), dfull[k]);
            if (us[k] == U_POOL)
                l[k] = dot(ctx, dc_max_pool2d(ctx, x, &po), dpool[k]);
        }
        dc_tensor *loss = dc_add(ctx, l[0], l[1]);
        if (!loss || dc_backward(ctx, loss) != DC_OK) {
            CHECK(0, "%s: forward/backward failed: %s", name, dc_last_error());
            goto out;
        }
        CHECK(dc_ctx_arena_mallocs(ctx) == mallocs, "%s: the step outgrew the poisoned arena",
              name);
        int64_t bad = -1;
        for (int64_t i = 0; i < N * C * H * W && bad < 0; i++)
            if (!(a->grad[i] == want[i]))
                bad = i;
        CHECK(bad < 0, "%s%s (round %d): dx[%lld] = %.9g, expected %.9g", name,
              leaf ? " on a leaf" : "", rep, (long long)bad, bad < 0 ? 0.0 : (double)a->grad[bad],
              bad < 0 ? 0.0 : (double)want[bad]);
    }
out:
    dc_tensor_free(a);
    for (int k = 0; k < 2; k++)
        dc_tensor_free(dfull[k]), dc_tensor_free(dpool[k]);
    dc_ctx_free(ctx);
    free(want);
}

/* Backward of relu and of max pooling store into a gradient nobody wrote yet and add to one
 * that exists: x used by relu and 2x, by max pooling and 2x, by relu and max pooling, each in
 * both recording orders, by the same op twice; on an intermediate tensor (fresh) and on a leaf
 * (its gradient allocated already). */
TEST(fusion_first_write_gradients_relu_and_max_pool)
{
    static const struct { const char *name; int u1, u2; } cases[] = {
        {"relu(x), 2x", U_RELU, U_TWICE2}, {"2x, relu(x)", U_TWICE2, U_RELU},
        {"relu(x), relu(x)", U_RELU, U_RELU}, {"pool(x), 2x", U_POOL, U_TWICE2},
        {"2x, pool(x)", U_TWICE2, U_POOL}, {"pool(x), pool(x)", U_POOL, U_POOL},
        {"relu(x), pool(x)", U_RELU, U_POOL}, {"pool(x), relu(x)", U_POOL, U_RELU},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int leaf = 0; leaf < 2; leaf++)
            check_two_users(cases[i].name, cases[i].u1, cases[i].u2, leaf);
}

/* dX of a convolution in double: dx[n,c,·] = Σ_o Σ_(p,q) w[o,c,p,q]·dy[n,o,·] at the taps. */
typedef struct cshape {
    int64_t N, C, H, O;
    int k, s, p, relu;
    const char *name;
} cshape;

static void ref_conv_dx(const cshape *c, int64_t Ho, const float *w, const float *dy,
                        double *dx, double *mag)
{
    const int64_t nx = c->N * c->C * c->H * c->H;
    for (int64_t i = 0; i < nx; i++)
        dx[i] = 0, mag[i] = 1e-6;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t o = 0; o < c->O; o++)
            for (int64_t i = 0; i < Ho; i++)
                for (int64_t j = 0; j < Ho; j++) {
                    const double d = dy[((n * c->O + o) * Ho + i) * Ho + j];
                    for (int64_t ch = 0; ch < c->C; ch++)
                        for (int p = 0; p < c->k; p++)
                            for (int q = 0; q < c->k; q++) {
                                const int64_t t0 = tap(c->H, c->s, c->p, i, j, p, q);
                                if (t0 < 0)
                                    continue;
                                const int64_t at = (n * c->C + ch) * c->H * c->H + t0;
                                const double t = w[((o * c->C + ch) * c->k + p) * c->k + q] * d;
                                dx[at] += t, mag[at] += fabs(t);
                            }
                }
}

/* The data of one conv case: x = a, weights w[0] (the conv under test, bias b) and w[1] (the
 * second conv, no bias), and the upstream gradients of the conv (dy), the ReLU (dx2) and the
 * second conv (dy2). */
typedef struct conv_data {
    dc_tensor *a, *w[2], *b, *dy, *dx2, *dy2;
} conv_data;

static void conv_data_free(conv_data *d)
{
    dc_tensor_free(d->a), dc_tensor_free(d->w[0]), dc_tensor_free(d->w[1]);
    dc_tensor_free(d->b), dc_tensor_free(d->dy), dc_tensor_free(d->dx2), dc_tensor_free(d->dy2);
}

static int conv_data_new(const cshape *c, int64_t Ho, conv_data *d)
{
    d->a = rand_tensor(4, DC_SHAPE(c->N, c->C, c->H, c->H), 61, -1, 1);
    d->w[0] = rand_tensor(4, DC_SHAPE(c->O, c->C, c->k, c->k), 62, -0.3f, 0.3f);
    d->w[1] = rand_tensor(4, DC_SHAPE(c->O, c->C, c->k, c->k), 63, -0.3f, 0.3f);
    d->b = rand_tensor(1, DC_SHAPE(c->O), 64, -0.3f, 0.3f);
    d->dy = rand_tensor(4, DC_SHAPE(c->N, c->O, Ho, Ho), 65, -1, 1);
    d->dx2 = rand_tensor(4, DC_SHAPE(c->N, c->C, c->H, c->H), 66, -1, 1);
    d->dy2 = rand_tensor(4, DC_SHAPE(c->N, c->O, Ho, Ho), 67, -1, 1);
    return d->a && d->w[0] && d->w[1] && d->b && d->dy && d->dx2 && d->dy2 &&
           dc_tensor_requires_grad(d->a) == DC_OK && dc_tensor_requires_grad(d->w[0]) == DC_OK &&
           dc_tensor_requires_grad(d->w[1]) == DC_OK && dc_tensor_requires_grad(d->b) == DC_OK;
}

/* x (leaf a, or a·1) used by conv2d (its dX: direct store when fresh, else direct add, or
 * columns after a memset) and by a second user (relu, or a second conv with other weights),
 * in the given recording order, on a poisoned arena. Returns a's gradient (malloc'd) or NULL;
 * *y1 (may be NULL) receives the conv output (for the fused ReLU's mask). */
static float *conv_two_users(const cshape *c, conv_data *d, int second_conv, int conv_first,
                             int leaf, float **y1)
{
    dc_ctx *ctx = dc_ctx_new(POISON_BYTES);
    float *g = NULL;
    if (!ctx)
        return NULL;
    dc_tensor_zero_grad(d->a), dc_tensor_zero_grad(d->w[0]), dc_tensor_zero_grad(d->w[1]);
    dc_tensor_zero_grad(d->b);
    poison(ctx);
    const uint64_t mallocs = dc_ctx_arena_mallocs(ctx);
    dc_conv2d_opts o = conv_opts(c->s, c->p, c->relu);
    dc_tensor *x = leaf ? d->a : dc_mul_scalar(ctx, d->a, 1.0f), *y = NULL, *l[2] = {NULL, NULL};
    for (int k = 0; k < 2 && x; k++) {
        if ((k == 0) == (conv_first != 0)) {
            y = dc_conv2d(ctx, x, d->w[0], d->b, &o);
            l[k] = dot(ctx, y, d->dy);
        } else if (second_conv) {
            l[k] = dot(ctx, dc_conv2d(ctx, x, d->w[1], NULL, &o), d->dy2);
        } else {
            l[k] = dot(ctx, dc_relu(ctx, x), d->dx2);
        }
    }
    dc_tensor *loss = dc_add(ctx, l[0], l[1]);
    if (loss && dc_backward(ctx, loss) == DC_OK) {
        CHECK(dc_ctx_arena_mallocs(ctx) == mallocs, "%s: the step outgrew the poisoned arena",
              c->name);
        g = copy_floats(d->a->grad, d->a->numel);
        if (y1)
            *y1 = copy_floats(dc_f32(y), y->numel);
    }
    dc_ctx_free(ctx);
    return g;
}

/* Conv2d's dX written straight into a fresh gradient (direct kernels) or by columns after a
 * memset, and added to an existing one, next to a ReLU or a second conv on the same x, in both
 * orders: an intermediate x gets what a leaf x (all adds) gets, and both match dX in double.
 * LeNet-5's C1 (direct forward, dX by columns), C3 (direct dX), C3 with the fused ReLU (dy
 * masked), stride 2 (columns), the ResNet stem's 3->64 (direct dX). */
TEST(fusion_first_write_gradients_conv_dx)
{
    static const cshape cases[] = {
        {2, 1, 28, 6, 5, 1, 2, 0, "C1 1->6 5x5 pad 2"},
        {2, 6, 14, 16, 5, 1, 0, 0, "C3 6->16 5x5"},
        {2, 6, 14, 16, 5, 1, 0, 1, "C3 with the fused ReLU"},
        {2, 4, 15, 8, 3, 2, 1, 0, "4->8 3x3 stride 2"},
        {1, 3, 32, 64, 3, 1, 1, 0, "stem 3->64 3x3 pad 1"},
    };
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        const cshape *c = &cases[t];
        const int64_t Ho = dc_conv_out_size(c->H, c->k, c->s, 1, c->p, c->p);
        const int64_t nx = c->N * c->C * c->H * c->H, ny = c->N * c->O * Ho * Ho;
        conv_data d = {0};
        double *want = malloc(sizeof(double) * (size_t)nx * 4), *mag = want + nx;
        double *w2 = want + 2 * nx, *m2 = want + 3 * nx;
        if (!conv_data_new(c, Ho, &d) || !want) {
            CHECK(0, "%s: setup failed", c->name);
            conv_data_free(&d), free(want);
            continue;
        }
        for (int second = 0; second < 2; second++)
            for (int first = 0; first < 2; first++) {
                if (second && t != 1 && t != 3)
                    continue; /* a second conv: C3 and stride 2 are enough */
                char what[128];
                snprintf(what, sizeof what, "%s, %s %s", c->name,
                         second ? "second conv" : "relu", first ? "after" : "first");
                float *y1 = NULL;
                float *gi = conv_two_users(c, &d, second, first, 0, &y1);
                float *gl = conv_two_users(c, &d, second, first, 1, NULL);
                if (!gi || !gl || !y1) {
                    CHECK(0, "%s: run failed: %s", what, dc_last_error());
                    free(gi), free(gl), free(y1);
                    continue;
                }
                /* dX of each conv in double (dy masked by the fused ReLU), plus the ReLU's
                 * share */
                float *dym = copy_floats(dc_f32(d.dy), ny);
                for (int64_t i = 0; dym && c->relu && i < ny; i++)
                    dym[i] = y1[i] > 0 ? dym[i] : 0.0f;
                REQUIRE(dym);
                ref_conv_dx(c, Ho, dc_f32(d.w[0]), dym, want, mag);
                free(dym);
                if (second) {
                    ref_conv_dx(c, Ho, dc_f32(d.w[1]), dc_f32(d.dy2), w2, m2);
                    for (int64_t i = 0; i < nx; i++)
                        want[i] += w2[i], mag[i] += m2[i];
                } else {
                    for (int64_t i = 0; i < nx; i++) {
                        want[i] += dc_f32(d.a)[i] > 0 ? dc_f32(d.dx2)[i] : 0.0f;
                        mag[i] += fabs(dc_f32(d.dx2)[i]);
                    }
                }
                int64_t bad = -1;
                for (int64_t i = 0; i < nx && bad < 0; i++)
                    if (!(gi[i] == gl[i]))
                        bad = i;
                CHECK(bad < 0, "%s: intermediate x dx[%lld] = %.9g, leaf x %.9g", what,
                      (long long)bad, bad < 0 ? 0.0 : (double)gi[bad],
                      bad < 0 ? 0.0 : (double)gl[bad]);
                check_near_ref(what, gi, want, mag, nx, 1e-5);
                free(gi), free(gl), free(y1);
            }
        conv_data_free(&d);
        free(want);
    }
}
