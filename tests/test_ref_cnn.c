/*
 * test_ref_cnn.c - deepc's convolutional part against PyTorch. Reference files
 * tests/ref/cnn/<case>.safetensors are written by tests/ref/gen_cnn.py (float64 math on float32
 * inputs); the folder is tests/ref/cnn, or $DEEPC_REF_DIR/cnn.
 *   - conv2d (stride, padding, asymmetric padding, dilation, groups, depthwise, no bias, 1x1),
 *     max / average / adaptive pooling and batch norm (train and eval, 1d and 2d): y and the
 *     gradients of Σ y·dy for input, weight and bias; batch norm also its buffers after the call;
 *   - a LeNet-5 (models/lenet5) and a residual block with a projection shortcut, built from specs,
 *     loaded strictly with PyTorch's weights, one training-mode step: logits, mean cross-entropy,
 *     the gradient of every parameter and the BatchNorm running statistics after the step;
 *   - `deepc forward` of a LeNet-5 trained by PyTorch (tests/data/lenet5_torch) gives PyTorch's
 *     outputs within 1e-4.
 * Every comparison is within rtol 1e-4, atol 1e-5 unless said otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define MAX_IN 3

static const char *cnn_dir(void) { return t_ref_dir("cnn"); }
static dc_tdict *cnn_load(const char *name) { return t_ref_load(cnn_dir(), name); }

/* ------------------------------------------------------------------------------------------ */
/* Ops: conv2d, pooling, batch norm                                                            */
/* ------------------------------------------------------------------------------------------ */

typedef enum cnn_kind { C_CONV, C_MAXPOOL, C_AVGPOOL, C_ADAPTIVE, C_BN } cnn_kind;

/* One case, hard-coded to match gen_cnn.py (the file metadata says the same). */
typedef struct cnn_op {
    const char *name;
    cnn_kind kind;
    dc_conv2d_opts conv;    /* a 0 stride, dilation or group count means 1 */
    dc_pool2d_opts pool;
    int64_t oh, ow;         /* adaptive output */
    int training;           /* batch norm */
    float momentum, eps;
} cnn_op;

static dc_conv2d_opts conv_opts(const dc_conv2d_opts *c)
{
    dc_conv2d_opts o = *c;
    o.stride_h += !o.stride_h;
    o.stride_w += !o.stride_w;
    o.dilation_h += !o.dilation_h;
    o.dilation_w += !o.dilation_w;
    o.groups += !o.groups;
    return o;
}

/* Heap copies of the batch-norm buffers before the call (running_mean, running_var,
 * num_batches_tracked); compared with after.<name> once the op has run. */
static const char *const bn_bufs[3] = {"running_mean", "running_var", "num_batches_tracked"};

static dc_tensor *cnn_apply(dc_ctx *ctx, const cnn_op *c, dc_tensor **x, int n, dc_tensor **buf)
{
    dc_conv2d_opts co;
    switch (c->kind) {
    case C_CONV:
        co = conv_opts(&c->conv);
        return dc_conv2d(ctx, x[0], x[1], n > 2 ? x[2] : NULL, &co);
    case C_MAXPOOL: return dc_max_pool2d(ctx, x[0], &c->pool);
    case C_AVGPOOL: return dc_avg_pool2d(ctx, x[0], &c->pool);
    case C_ADAPTIVE: return dc_adaptive_avg_pool2d(ctx, x[0], c->oh, c->ow);
    case C_BN:
        dc_ctx_set_training(ctx, c->training);
        return dc_batch_norm(ctx, x[0], n > 1 ? x[1] : NULL, n > 2 ? x[2] : NULL, buf[0], buf[1],
                             buf[2], c->momentum, c->eps);
    }
    return NULL;
}

/* Copy x0.. (requires_grad where the file has dx<i>) and, for batch norm, the buffers. */
static int cnn_inputs(const cnn_op *c, const dc_tdict *d, dc_tensor **x, int *n, dc_tensor **buf)
{
    if (!t_ref_inputs(c->name, d, x, MAX_IN, n))
        return 0;
    for (int i = 0; c->kind == C_BN && i < 3; i++) {
        const dc_tensor *t = dc_tdict_get(d, bn_bufs[i]);
        if (!t || !(buf[i] = dc_tensor_clone(t))) {
            t_fail(__FILE__, __LINE__, "ref %s: cannot copy %s: %s", c->name, bn_bufs[i],
                   t ? dc_last_error() : "missing from the file");
            return 0;
        }
    }
    return 1;
}

static void run_cnn_op(const cnn_op *c)
{
    dc_tdict *d = cnn_load(c->name);
    if (!d)
        return;
    dc_tensor *x[MAX_IN] = {0}, *buf[3] = {0};
    int n = 0;
    char key[48];
    dc_ctx *ctx = cnn_inputs(c, d, x, &n, buf) ? dc_ctx_new(0) : NULL;
    dc_tensor *y = ctx ? cnn_apply(ctx, c, x, n, buf) : NULL;
    if (ctx && !y)
        t_fail(__FILE__, __LINE__, "ref %s: the op failed: %s", c->name, dc_last_error());
    if (y) {
        t_ref_compare(c->name, "y", y, y->data, dc_tdict_get(d, "y"));
        for (int i = 0; c->kind == C_BN && i < 3; i++) {
            snprintf(key, sizeof key, "after.%s", bn_bufs[i]);
            t_ref_compare(c->name, key, buf[i], buf[i]->data, dc_tdict_get(d, key));
        }
        if (t_ref_backward(ctx, c->name, y, dc_tdict_get(d, "dy")))
            t_ref_compare_grads(c->name, d, x, n);
    }
    dc_ctx_free(ctx);
    for (int i = 0; i < MAX_IN; i++)
        dc_tensor_free(x[i]);
    for (int i = 0; i < 3; i++)
        dc_tensor_free(buf[i]);
    dc_tdict_free(d);
}

/* The files that have a TEST, filled at load time (for refcnn_every_file_has_a_test). */
static t_names cnn_names;
static void cnn_note(const char *name) { t_names_add(&cnn_names, name); }

#define CNN_OP(nm, ...)                                                                \
    static const cnn_op cnnc_##nm = {.name = #nm, __VA_ARGS__};                        \
    __attribute__((constructor)) static void cnnn_##nm(void) { cnn_note(#nm); }        \
    TEST(refcnn_##nm) { run_cnn_op(&cnnc_##nm); }

/* .conv: stride, padding (top, bottom, left, right), dilation, groups as in gen_cnn.py */
#define CONV(...) .kind = C_CONV, .conv = {__VA_ARGS__}
CNN_OP(conv_plain, CONV(0))
CNN_OP(conv_stride2, CONV(.stride_h = 2, .stride_w = 2))
CNN_OP(conv_pad1, CONV(.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1))
CNN_OP(conv_asym_pad, CONV(.pad_top = 1, .pad_bottom = 0, .pad_left = 0, .pad_right = 2))
CNN_OP(conv_dilation2, CONV(.dilation_h = 2, .dilation_w = 2, .pad_top = 1, .pad_bottom = 1,
                            .pad_left = 1, .pad_right = 1))
CNN_OP(conv_groups2, CONV(.groups = 2))
CNN_OP(conv_depthwise, CONV(.groups = 4, .pad_top = 1, .pad_bottom = 1, .pad_left = 1,
                            .pad_right = 1))
CNN_OP(conv_nobias, CONV(.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1))
CNN_OP(conv_1x1, CONV(0))
CNN_OP(conv_rect, CONV(.stride_h = 1, .stride_w = 2, .pad_top = 1, .pad_bottom = 1))
CNN_OP(conv_all, CONV(.stride_h = 2, .stride_w = 1, .dilation_h = 1, .dilation_w = 2,
                      .groups = 2, .pad_top = 2, .pad_bottom = 1, .pad_left = 1, .pad_right = 0))

/* .pool: kernel, stride (0 = kernel), symmetric padding, ceil_mode, count_include_pad */
#define POOL(K, k, s, p, ceil, inc)                                                    \
    .kind = K, .pool = {.kh = k, .kw = k, .stride_h = s, .stride_w = s, .pad_h = p,    \
                        .pad_w = p, .ceil_mode = ceil, .count_include_pad = inc}
CNN_OP(maxpool_k2s2, POOL(C_MAXPOOL, 2, 2, 0, 0, 1))
CNN_OP(maxpool_k3s2p1, POOL(C_MAXPOOL, 3, 2, 1, 0, 1))
CNN_OP(maxpool_ceil, POOL(C_MAXPOOL, 3, 2, 0, 1, 1))
CNN_OP(maxpool_ceil_p1, POOL(C_MAXPOOL, 2, 2, 1, 1, 1))
CNN_OP(avgpool_k3s2p1_incpad, POOL(C_AVGPOOL, 3, 2, 1, 0, 1))
CNN_OP(avgpool_k3s2p1_nopad, POOL(C_AVGPOOL, 3, 2, 1, 0, 0))
CNN_OP(avgpool_ceil_p1_incpad, POOL(C_AVGPOOL, 3, 2, 1, 1, 1))
CNN_OP(avgpool_ceil_p1_nopad, POOL(C_AVGPOOL, 3, 2, 1, 1, 0))
CNN_OP(avgpool_k2s2, POOL(C_AVGPOOL, 2, 0, 0, 0, 1))
CNN_OP(avgpool_ceil, POOL(C_AVGPOOL, 2, 2, 0, 1, 1))
CNN_OP(adaptive_1x1, .kind = C_ADAPTIVE, .oh = 1, .ow = 1)
CNN_OP(adaptive_3x2, .kind = C_ADAPTIVE, .oh = 3, .ow = 2)
CNN_OP(adaptive_4x4, .kind = C_ADAPTIVE, .oh = 4, .ow = 4)

#define BN(train, mom, e) .kind = C_BN, .training = train, .momentum = mom, .eps = e
CNN_OP(bn2d_train, BN(1, 0.1f, 1e-5f))
CNN_OP(bn2d_train_mom, BN(1, 0.3f, 1e-3f))
CNN_OP(bn2d_train_noaffine, BN(1, 0.1f, 1e-5f))
CNN_OP(bn2d_eval, BN(0, 0.1f, 1e-5f))
CNN_OP(bn1d_train_nc, BN(1, 0.1f, 1e-5f))
CNN_OP(bn1d_train_ncl, BN(1, 0.1f, 1e-5f))
CNN_OP(bn1d_eval_ncl, BN(0, 0.1f, 1e-5f))

/* ------------------------------------------------------------------------------------------ */
/* Whole models: one training-mode step with PyTorch's weights                                 */
/* ------------------------------------------------------------------------------------------ */

/* gen_cnn.py's ResBlockNet: a stem, one torchvision BasicBlock with stride 2 and a projection
 * shortcut (1x1 conv + BatchNorm), global average pooling and a linear layer. */
static const char RESBLOCK_SPEC[] =
    "[input]\nshape = 3, 8, 8\n"
    "[conv2d conv1]\nout_channels = 4\nkernel = 3\npadding = 1\nbias = false\n"
    "[batchnorm2d bn1]\n"
    "[relu relu]\n"
    "[conv2d layer1.0.conv1]\nout_channels = 8\nkernel = 3\nstride = 2\npadding = 1\n"
    "bias = false\n"
    "[batchnorm2d layer1.0.bn1]\n"
    "[relu layer1.0.relu1]\n"
    "[conv2d layer1.0.conv2]\nout_channels = 8\nkernel = 3\npadding = 1\nbias = false\n"
    "[batchnorm2d layer1.0.bn2]\n"
    "[conv2d layer1.0.downsample.0]\ninput = relu\nout_channels = 8\nkernel = 1\nstride = 2\n"
    "bias = false\n"
    "[batchnorm2d layer1.0.downsample.1]\n"
    "[add layer1.0.add]\ninput = layer1.0.bn2, layer1.0.downsample.1\n"
    "[relu layer1.0.relu]\n"
    "[adaptiveavgpool2d avgpool]\noutput = 1\n"
    "[flatten]\n"
    "[linear fc]\nout_features = 5\n";

/* Count the file's keys that start with prefix. */
static int count_prefix(const dc_tdict *d, const char *prefix)
{
    int k = 0;
    for (int i = 0; i < d->n; i++)
        k += strncmp(d->names[i], prefix, strlen(prefix)) == 0;
    return k;
}

/* Every parameter gradient against d.<name>, every buffer against after.<name>; the file may
 * hold no other d.* / after.* keys. */
static void compare_state(const char *cs, const dc_model *m, const dc_tdict *d)
{
    char key[200];
    int n_par = 0, n_buf = 0;
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        const dc_tensor *t = dc_model_tensor(m, i);
        int buf = dc_model_is_buffer(m, i);
        snprintf(key, sizeof key, "%s.%s", buf ? "after" : "d", t->name);
        t_ref_compare(cs, key, t, buf ? t->data : (void *)t->grad, dc_tdict_get(d, key));
        n_par += !buf;
        n_buf += buf;
    }
    CHECK(n_par == count_prefix(d, "d.") && n_buf == count_prefix(d, "after."),
          "ref %s: deepc has %d parameters and %d buffers, the file %d and %d", cs, n_par, n_buf,
          count_prefix(d, "d."), count_prefix(d, "after."));
}

static void run_model(const char *cs, dc_spec *s)
{
    char path[600];
    dc_load_report rep;
    memset(&rep, 0, sizeof rep);
    snprintf(path, sizeof path, "%s/%s_weights.safetensors", cnn_dir(), cs);
    dc_tdict *d = cnn_load(cs);
    dc_model *m = d && s ? dc_spec_build(s, NULL) : NULL;
    dc_ctx *ctx = m ? dc_ctx_new(0) : NULL;
    if (d && !m)
        t_fail(__FILE__, __LINE__, "ref %s: building the spec failed: %s", cs, dc_last_error());
    if (!ctx)
        goto done;
    if (dc_model_load(m, path, 1, &rep) != DC_OK) {
        t_fail(__FILE__, __LINE__, "ref %s: strict load of %s failed: %s\n%s", cs, path,
               dc_last_error(), rep.text);
        goto done;
    }
    dc_ctx_set_training(ctx, 1);
    dc_model_zero_grad(m);
    dc_tensor *logits = dc_model_forward(ctx, m, dc_tdict_get(d, "x"));
    dc_tensor *loss = dc_cross_entropy(ctx, logits, dc_tdict_get(d, "target"), NULL);
    if (!loss) {
        t_fail(__FILE__, __LINE__, "ref %s: forward failed: %s", cs, dc_last_error());
        goto done;
    }
    t_ref_compare(cs, "logits", logits, logits->data, dc_tdict_get(d, "logits"));
    dc_tensor *loss1 = dc_reshape(ctx, loss, 1, DC_SHAPE(1));
    t_ref_compare(cs, "loss", loss1, loss1 ? loss1->data : NULL, dc_tdict_get(d, "loss"));
    if (dc_backward(ctx, loss) != DC_OK) {
        t_fail(__FILE__, __LINE__, "ref %s: backward failed: %s", cs, dc_last_error());
        goto done;
    }
    compare_state(cs, m, d);
done:
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_tdict_free(d);
}

TEST(refcnn_lenet5)
{
    dc_spec *s = dc_spec_parse_file("models/lenet5");
    CHECK(s != NULL, "models/lenet5: %s", dc_last_error());
    run_model("lenet5", s);
    dc_spec_free(s);
}

TEST(refcnn_resblock)
{
    dc_spec *s = dc_spec_parse_string(RESBLOCK_SPEC, "resblock.spec");
    CHECK(s != NULL, "resblock spec: %s", dc_last_error());
    run_model("resblock", s);
    dc_spec_free(s);
}

__attribute__((constructor)) static void cnnn_models(void)
{
    cnn_note("lenet5");
    cnn_note("lenet5_weights");
    cnn_note("resblock");
    cnn_note("resblock_weights");
}

/* ------------------------------------------------------------------------------------------ */
/* `deepc forward` on a LeNet-5 trained by PyTorch                                             */
/* ------------------------------------------------------------------------------------------ */

#define TORCH_LENET "tests/data/lenet5_torch"

TEST(refcnn_cli_forward_torch_trained_lenet5)
{
    char y_path[600], out[8192];
    snprintf(y_path, sizeof y_path, "%s/y.npy", t_tmpdir());
    int rc = t_run_deepc(out, sizeof out, "forward models/lenet5 --weights " TORCH_LENET
                         "/weights.safetensors --input " TORCH_LENET "/x.npy --output %s",
                         y_path);
    CHECK(rc == 0, "deepc forward models/lenet5 ... --output %s exited %d:\n%s", y_path, rc, out);
    dc_tensor *got = rc == 0 ? dc_npy_load(y_path) : NULL;
    dc_tensor *want = dc_npy_load(TORCH_LENET "/y.npy");
    CHECK(want != NULL, "%s", dc_last_error());
    if (got && want) {
        CHECK(got->ndim == 2 && got->shape[0] == 16 && got->shape[1] == 10,
              "deepc forward should write [16, 10]");
        if (dc_same_shape(got, want))   /* PyTorch's eval-mode logits within 1e-4 */
            CHECK_ALLCLOSE("torch-trained LeNet-5 logits", dc_f32(got), dc_f32(want),
                           want->numel, 0.0, 1e-4);
    }
    dc_tensor_free(got);
    dc_tensor_free(want);
}

/* ------------------------------------------------------------------------------------------ */
/* Every reference file has a test, and every test its file                                   */
/* ------------------------------------------------------------------------------------------ */

TEST(refcnn_every_file_has_a_test)
{
    t_ref_check_files(cnn_dir(), &cnn_names, NULL, "tests/test_ref_cnn.c");
}
