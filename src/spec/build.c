/*
 * build.c - turn a parsed spec into a dc_model: one builder per layer type, typed key getters
 * that echo defaults back into the spec, and shape inference by running each new layer once on a
 * zero batch of one.
 */
#define _POSIX_C_SOURCE 200809L
#include "spec/spec_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bctx {
    dc_spec *s;
    spec_layer *l;
    dc_model *m;
    dc_rng *rng;
    dc_tensor *x;        /* example of the (first) input, batch 1 */
    dc_status st;        /* first error while reading keys */
} bctx;

#define BAD(b, kv, ...) bad_value(b, kv, __VA_ARGS__)

static void bad_value(bctx *b, const spec_kv *kv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void bad_value(bctx *b, const spec_kv *kv, const char *fmt, ...)
{
    if (b->st != DC_OK)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (kv && kv->val[0] == '$') /* a spec variable (dc_spec_define) that nothing defined */
        snprintf(msg, sizeof msg, "'%.40s' is an undefined variable (`deepc train --data "
                 "text:...` defines $vocab; other commands take the DIR/model.spec written with "
                 "the weights)", kv->val);
    b->st = dc_err(DC_ERR_FORMAT, "%s:%d: [%s %s] %s%s%s", b->s->file,
                   kv && kv->line ? kv->line : b->l->line, b->l->type, b->l->name,
                   kv ? kv->key : "", kv ? ": " : "", msg);
}

/* The value of key, or NULL after echoing def (if def is not NULL) as the value used. */
static spec_kv *get_kv(bctx *b, const char *key, const char *def)
{
    spec_kv *kv = spec_kv_find(b->l, key);
    if (!kv && def) {
        kv = spec_kv_add(b->s, b->l, key, def, 0);
        if (!kv && b->st == DC_OK)
            b->st = DC_ERR_NOMEM;
    }
    if (kv)
        kv->used = 1;
    return kv;
}

static spec_kv *require_kv(bctx *b, const char *key, const char *what)
{
    spec_kv *kv = get_kv(b, key, NULL);
    if (!kv && b->st == DC_OK)
        b->st = dc_err(DC_ERR_FORMAT, "%s:%d: [%s %s] needs '%s = ...' (%s)", b->s->file,
                       b->l->line, b->l->type, b->l->name, key, what);
    return kv;
}

/* Parse "a, b, c" into out[0..max); returns the count or -1 (error reported). */
static int parse_ints(bctx *b, spec_kv *kv, int64_t *out, int min_n, int max_n, int64_t lo,
                      int64_t hi)
{
    int n = 0;
    const char *p = kv->val;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (end == p || errno || (*end && *end != ',') || n >= max_n) {
            BAD(b, kv, "'%s' is not a list of %d to %d integers", kv->val, min_n, max_n);
            return -1;
        }
        if (v < lo || v > hi) {
            BAD(b, kv, "%lld is out of range [%lld, %lld]", v, (long long)lo, (long long)hi);
            return -1;
        }
        out[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (n < min_n) {
        BAD(b, kv, "expected %d to %d integers, got %d", min_n, max_n, n);
        return -1;
    }
    return n;
}

static int64_t get_int(bctx *b, const char *key, const char *def, int64_t lo, int64_t hi)
{
    int64_t v = 0;
    spec_kv *kv = def ? get_kv(b, key, def) : require_kv(b, key, "an integer");
    if (kv && b->st == DC_OK)
        parse_ints(b, kv, &v, 1, 1, lo, hi);
    return v;
}

/* One value for both axes or "h, w". */
static void get_pair(bctx *b, const char *key, const char *def, int64_t lo, int64_t hi,
                     int *h, int *w)
{
    int64_t v[2] = {0, 0};
    spec_kv *kv = def ? get_kv(b, key, def) : require_kv(b, key, "one or two integers");
    int n = kv && b->st == DC_OK ? parse_ints(b, kv, v, 1, 2, lo, hi) : -1;
    *h = (int)v[0];
    *w = (int)(n == 2 ? v[1] : v[0]);
}

static double get_float(bctx *b, const char *key, const char *def, double lo, double hi)
{
    spec_kv *kv = get_kv(b, key, def);
    if (!kv || b->st != DC_OK)
        return 0;
    char *end;
    errno = 0;
    double v = strtod(kv->val, &end);
    if (end == kv->val || *end || errno || !isfinite(v))
        BAD(b, kv, "'%s' is not a number", kv->val);
    else if (v < lo || v > hi)
        BAD(b, kv, "%g is out of range [%g, %g]", v, lo, hi);
    return v;
}

static int get_bool(bctx *b, const char *key, const char *def)
{
    spec_kv *kv = get_kv(b, key, def);
    if (!kv || b->st != DC_OK)
        return 0;
    if (!strcmp(kv->val, "true") || !strcmp(kv->val, "1") || !strcmp(kv->val, "yes"))
        return 1;
    if (!strcmp(kv->val, "false") || !strcmp(kv->val, "0") || !strcmp(kv->val, "no"))
        return 0;
    BAD(b, kv, "'%s' is not true or false", kv->val);
    return 0;
}

/* x's size along dim (negatives from the end), for inferring in_features / in_channels. */
static int64_t in_dim(bctx *b, int dim, int min_ndim)
{
    if (b->x->ndim < min_ndim) {
        char s[96];
        BAD(b, NULL, "needs an input with at least %d dims (batch included), got %s", min_ndim,
            dc_shape_str(b->x, s, sizeof s));
        return 1;
    }
    return b->x->shape[dim < 0 ? dim + b->x->ndim : dim];
}

/* Optional explicit input size: must agree with the inferred one. */
static void check_in(bctx *b, const char *key, int64_t inferred)
{
    spec_kv *kv = spec_kv_find(b->l, key);
    char def[32];
    snprintf(def, sizeof def, "%lld", (long long)inferred);
    if (!kv) {
        get_kv(b, key, def);
        return;
    }
    kv->used = 1;
    int64_t v = get_int(b, key, def, 1, INT64_C(1) << 40);
    if (b->st == DC_OK && v != inferred)
        BAD(b, kv, "%lld does not match the input, which has %lld", (long long)v,
            (long long)inferred);
}

/* ---- builders ---- */

static dc_module *build_linear(bctx *b)
{
    int64_t in = in_dim(b, -1, 2);
    check_in(b, "in_features", in);
    int64_t out = get_int(b, "out_features", NULL, 1, INT64_C(1) << 30);
    int bias = get_bool(b, "bias", "true");
    return b->st ? NULL : dc_linear_new(b->m, b->l->name, in, out, bias, b->rng);
}

/* padding = same | valid | p | ph, pw | top, bottom, left, right */
static void get_padding(bctx *b, int kh, int kw, dc_conv2d_opts *o)
{
    spec_kv *kv = get_kv(b, "padding", "0");
    if (!kv || b->st)
        return;
    if (!strcmp(kv->val, "valid"))
        return;
    if (!strcmp(kv->val, "same")) {
        int64_t H = in_dim(b, 2, 4), W = in_dim(b, 3, 4);
        dc_same_padding(H, kh, o->stride_h, o->dilation_h, &o->pad_top, &o->pad_bottom);
        dc_same_padding(W, kw, o->stride_w, o->dilation_w, &o->pad_left, &o->pad_right);
        return;
    }
    int64_t p[4] = {0, 0, 0, 0};
    int n = parse_ints(b, kv, p, 1, 4, 0, 4096);
    if (n == 3)
        BAD(b, kv, "give 1 (all sides), 2 (h, w) or 4 (top, bottom, left, right) values, "
                   "or same / valid");
    else if (n == 1 || n == 2) {
        o->pad_top = o->pad_bottom = (int)p[0];
        o->pad_left = o->pad_right = (int)p[n - 1];
    } else if (n == 4) {
        o->pad_top = (int)p[0];
        o->pad_bottom = (int)p[1];
        o->pad_left = (int)p[2];
        o->pad_right = (int)p[3];
    }
}

static dc_module *build_conv2d(bctx *b)
{
    dc_conv2d_opts o = dc_conv2d_defaults();
    int64_t C = in_dim(b, 1, 4);
    check_in(b, "in_channels", C);
    int64_t O = get_int(b, "out_channels", NULL, 1, 1 << 20);
    int kh, kw;
    get_pair(b, "kernel", NULL, 1, 1024, &kh, &kw);
    get_pair(b, "stride", "1", 1, 1024, &o.stride_h, &o.stride_w);
    get_pair(b, "dilation", "1", 1, 1024, &o.dilation_h, &o.dilation_w);
    o.groups = (int)get_int(b, "groups", "1", 1, 1 << 20);
    get_padding(b, kh, kw, &o);
    int bias = get_bool(b, "bias", "true");
    return b->st ? NULL : dc_conv2d_new(b->m, b->l->name, C, O, kh, kw, &o, bias, b->rng);
}

static dc_module *build_pool(bctx *b, int avg)
{
    dc_pool2d_opts o;
    int kh, kw;
    char def[40];
    get_pair(b, "kernel", NULL, 1, 1024, &kh, &kw);
    o = dc_pool2d_defaults(kh);
    o.kh = kh;
    o.kw = kw;
    snprintf(def, sizeof def, kh == kw ? "%d" : "%d, %d", kh, kw);
    get_pair(b, "stride", def, 1, 1024, &o.stride_h, &o.stride_w);
    get_pair(b, "padding", "0", 0, 512, &o.pad_h, &o.pad_w);
    o.ceil_mode = get_bool(b, "ceil_mode", "false");
    if (avg)
        o.count_include_pad = get_bool(b, "count_include_pad", "true");
    if (b->st)
        return NULL;
    return avg ? dc_avg_pool2d_new(b->m, b->l->name, &o) : dc_max_pool2d_new(b->m, b->l->name, &o);
}

static dc_module *build_maxpool(bctx *b) { return build_pool(b, 0); }
static dc_module *build_avgpool(bctx *b) { return build_pool(b, 1); }

static dc_module *build_adaptive(bctx *b)
{
    int oh, ow;
    get_pair(b, "output", "1", 1, 4096, &oh, &ow);
    return b->st ? NULL : dc_adaptive_avg_pool2d_new(b->m, b->l->name, oh, ow);
}

static dc_module *build_bn(bctx *b)
{
    int is2d = !strcmp(b->l->type, "batchnorm2d");
    int64_t C = in_dim(b, 1, is2d ? 4 : 2);
    if (!b->st && !is2d && b->x->ndim > 3)
        BAD(b, NULL, "batchnorm1d takes [N, C] or [N, C, L] input; use batchnorm2d for images");
    check_in(b, "num_features", C);
    double eps = get_float(b, "eps", "1e-05", 0, 1);
    double mom = get_float(b, "momentum", "0.1", 0, 1);
    int affine = get_bool(b, "affine", "true");
    return b->st ? NULL : dc_batch_norm_new(b->m, b->l->name, C, (float)mom, (float)eps, affine);
}

static dc_module *build_act(bctx *b)
{
    static const struct {
        const char *type;
        dc_act act;
    } acts[] = {{"relu", DC_ACT_RELU},       {"sigmoid", DC_ACT_SIGMOID},
                {"tanh", DC_ACT_TANH},       {"gelu", DC_ACT_GELU},
                {"softmax", DC_ACT_SOFTMAX}, {"logsoftmax", DC_ACT_LOG_SOFTMAX},
                {"leakyrelu", DC_ACT_LEAKY_RELU}};
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
        if (!strcmp(b->l->type, acts[i].type)) {
            float slope = acts[i].act == DC_ACT_LEAKY_RELU
                              ? (float)get_float(b, "negative_slope", "0.01", -1e6, 1e6)
                              : 0;
            return b->st ? NULL : dc_act_new(b->m, b->l->name, acts[i].act, slope);
        }
    return NULL;
}

static dc_module *build_dropout(bctx *b)
{
    double p = get_float(b, "p", "0.5", 0, 0.999999);
    return b->st ? NULL : dc_dropout_new(b->m, b->l->name, (float)p);
}

static dc_module *build_flatten(bctx *b) { return dc_flatten_new(b->m, b->l->name); }
static dc_module *build_add(bctx *b) { return dc_add_new(b->m, b->l->name); }

static dc_module *build_concat(bctx *b)
{
    int axis = (int)get_int(b, "axis", "1", -5, 4);
    return b->st ? NULL : dc_concat_new(b->m, b->l->name, axis);
}

/* ---- sequence pieces: embedding, last_step, onehot ---- */

static dc_module *build_embedding(bctx *b)
{
    int64_t V = get_int(b, "num_embeddings", NULL, 1, INT64_C(1) << 31);
    int64_t E = get_int(b, "embedding_dim", NULL, 1, INT64_C(1) << 24);
    int64_t pad = -1;
    spec_kv *kv = get_kv(b, "padding_idx", "none");
    if (kv && !b->st && strcmp(kv->val, "none"))
        parse_ints(b, kv, &pad, 1, 1, 0, V - 1);
    return b->st ? NULL : dc_embedding_new(b->m, b->l->name, V, E, pad, b->rng);
}

static dc_module *build_last_step(bctx *b)
{
    int64_t step = get_int(b, "step", "-1", -(INT64_C(1) << 40), INT64_C(1) << 40);
    return b->st ? NULL : dc_last_step_new(b->m, b->l->name, step);
}

static dc_module *build_onehot(bctx *b)
{
    int64_t K = get_int(b, "num_classes", NULL, 1, INT64_C(1) << 24);
    return b->st ? NULL : dc_one_hot_new(b->m, b->l->name, K);
}

/* ---- views: reshape (keeps the batch), fold_time / unfold_time (time <-> batch) ---- */

/* shape = s_1, ..., s_k (k <= 4, one may be -1): [N, ...] -> [N, s_1, ..., s_k]. The builder
 * checks the sizes against the elements of one example, so a mismatch names this line. */
static dc_module *build_reshape(bctx *b)
{
    int64_t shape[DC_MAX_DIMS - 1], per = 1, known = 1;
    int n_neg = 0;
    char s[96];
    spec_kv *kv = require_kv(b, "shape", "the sizes after the batch dimension, e.g. 28, 28");
    int n = kv && !b->st ? parse_ints(b, kv, shape, 1, DC_MAX_DIMS - 1, -1, 1 << 24) : -1;
    for (int d = 1; d < b->x->ndim; d++)
        per *= b->x->shape[d];
    for (int i = 0; i < n; i++) { /* known saturates at per + 1: no overflow, still a misfit */
        int64_t v = shape[i] == -1 ? 1 : shape[i];
        n_neg += shape[i] == -1;
        known = v > 0 && known > per / v ? per + 1 : known * v;
        if (shape[i] == 0)
            BAD(b, kv, "sizes must be >= 1 (or -1 for one inferred size), got 0");
    }
    if (!b->st && n_neg > 1)
        BAD(b, kv, "only one size may be -1, got '%s'", kv->val);
    else if (!b->st && b->x->ndim < 1)
        BAD(b, kv, "needs an input with a batch dimension");
    else if (!b->st && (n_neg ? per % known != 0 : per != known))
        BAD(b, kv, "'%s' does not fit the %lld elements of one example (input %s)", kv->val,
            (long long)per, dc_shape_str(b->x, s, sizeof s));
    return b->st ? NULL : dc_reshape_new(b->m, b->l->name, n, shape);
}

static dc_module *build_fold_time(bctx *b)
{
    char s[96];
    if (b->x->ndim < 2)
        b->st = dc_err(DC_ERR_FORMAT, "%s:%d: [%s %s] needs a sequence [N, T, ...] (batch "
                       "included), got %s", b->s->file, b->l->line, b->l->type, b->l->name,
                       dc_shape_str(b->x, s, sizeof s));
    return b->st ? NULL : dc_fold_time_new(b->m, b->l->name);
}

/* Shape inference runs on a batch of one, so the rows of the input are the steps of one example:
 * steps must equal the first dim (any other divisor would change the batch size). */
static dc_module *build_unfold_time(bctx *b)
{
    char s[96];
    int64_t T = get_int(b, "steps", NULL, 1, INT64_C(1) << 31);
    if (!b->st && (b->x->ndim < 1 || b->x->ndim >= DC_MAX_DIMS))
        b->st = dc_err(DC_ERR_FORMAT, "%s:%d: [%s %s] needs an input [N·T, ...] with 1 to %d "
                       "dims, got %s", b->s->file, b->l->line, b->l->type, b->l->name,
                       DC_MAX_DIMS - 1, dc_shape_str(b->x, s, sizeof s));
    else if (!b->st && b->x->shape[0] != T)
        BAD(b, spec_kv_find(b->l, "steps"), "%lld does not match the %lld steps folded into "
            "the batch (a batch of one reaches this layer as %s; use fold_time before it)",
            (long long)T, (long long)b->x->shape[0], dc_shape_str(b->x, s, sizeof s));
    return b->st ? NULL : dc_unfold_time_new(b->m, b->l->name, T);
}

/* rnn / lstm / gru: input [N, T, I] (batch_first, the spec default) or [T, N, I]. */
static dc_module *build_rnn(bctx *b)
{
    const char *t = b->l->type;
    dc_rnn_kind kind = !strcmp(t, "lstm") ? DC_LSTM : !strcmp(t, "gru") ? DC_GRU : DC_RNN_TANH;
    int64_t in = in_dim(b, -1, 3);
    if (!b->st && b->x->ndim != 3)
        BAD(b, NULL, "needs a sequence input [N, T, I] (batch included)");
    check_in(b, "input_size", in);
    dc_rnn_opts o = dc_rnn_defaults(kind, in, get_int(b, "hidden_size", NULL, 1, 1 << 20));
    o.num_layers = (int)get_int(b, "num_layers", "1", 1, 16);
    if (kind == DC_RNN_TANH) {
        spec_kv *kv = get_kv(b, "nonlinearity", "tanh");
        if (kv && !b->st && !strcmp(kv->val, "relu"))
            o.kind = DC_RNN_RELU;
        else if (kv && !b->st && strcmp(kv->val, "tanh"))
            BAD(b, kv, "'%s' is not tanh or relu", kv->val);
    }
    o.bias = get_bool(b, "bias", "true");
    o.batch_first = get_bool(b, "batch_first", "true");
    o.bidirectional = get_bool(b, "bidirectional", "false");
    o.dropout = (float)get_float(b, "dropout", "0", 0, 0.999999);
    return b->st ? NULL : dc_rnn_new(b->m, b->l->name, &o, b->rng);
}

typedef dc_module *(*build_fn)(bctx *b);
static const struct {
    const char *type;
    build_fn fn;
    const char *keys; /* for the unknown-key message */
} builders[] = {
    {"linear", build_linear, "in_features, out_features, bias"},
    {"conv2d", build_conv2d,
     "in_channels, out_channels, kernel, stride, padding, dilation, groups, bias"},
    {"maxpool2d", build_maxpool, "kernel, stride, padding, ceil_mode"},
    {"avgpool2d", build_avgpool, "kernel, stride, padding, ceil_mode, count_include_pad"},
    {"adaptiveavgpool2d", build_adaptive, "output"},
    {"batchnorm1d", build_bn, "num_features, eps, momentum, affine"},
    {"batchnorm2d", build_bn, "num_features, eps, momentum, affine"},
    {"relu", build_act, ""},
    {"leakyrelu", build_act, "negative_slope"},
    {"sigmoid", build_act, ""},
    {"tanh", build_act, ""},
    {"gelu", build_act, ""},
    {"softmax", build_act, ""},
    {"logsoftmax", build_act, ""},
    {"dropout", build_dropout, "p"},
    {"flatten", build_flatten, ""},
    {"add", build_add, ""},
    {"concat", build_concat, "axis"},
    {"rnn", build_rnn,
     "hidden_size, num_layers, nonlinearity, bias, batch_first, bidirectional, dropout, "
     "input_size"},
    {"lstm", build_rnn,
     "hidden_size, num_layers, bias, batch_first, bidirectional, dropout, input_size"},
    {"gru", build_rnn,
     "hidden_size, num_layers, bias, batch_first, bidirectional, dropout, input_size"},
    {"embedding", build_embedding, "num_embeddings, embedding_dim, padding_idx"},
    {"last_step", build_last_step, "step"},
    {"onehot", build_onehot, "num_classes"},
    {"reshape", build_reshape, "shape"},
    {"fold_time", build_fold_time, ""},
    {"unfold_time", build_unfold_time, "steps"},
};
#define N_BUILDERS ((int)(sizeof builders / sizeof *builders))

static int find_builder(const char *type)
{
    for (int i = 0; i < N_BUILDERS; i++)
        if (!strcmp(builders[i].type, type))
            return i;
    return -1;
}

/* ---- the graph ---- */

typedef struct shape_rec {
    int ndim;
    int64_t shape[DC_MAX_DIMS];
    dc_dtype dtype;
} shape_rec;

static dc_status build_input(dc_spec *s)
{
    spec_layer *l = &s->l[0];
    bctx b = {.s = s, .l = l};
    if (strcmp(l->type, "input"))
        return dc_err(DC_ERR_FORMAT, "%s:%d: the first section must be [input] (with shape = "
                      "...), got [%s]", s->file, l->line, l->type);
    int64_t shape[DC_MAX_DIMS];
    spec_kv *kv = require_kv(&b, "shape", "the input shape without the batch, e.g. 1, 28, 28");
    int n = kv && !b.st ? parse_ints(&b, kv, shape, 1, DC_MAX_DIMS - 1, 1, 1 << 24) : -1;
    spec_kv *dt = get_kv(&b, "dtype", "float32");
    if (dt && !b.st && strcmp(dt->val, "float32") && strcmp(dt->val, "int64"))
        BAD(&b, dt, "'%s' is not float32 or int64", dt->val);
    for (int k = 0; k < l->n_kv && !b.st; k++)
        if (!l->kv[k].used)
            BAD(&b, &l->kv[k], "unknown key (known: shape, dtype)");
    if (b.st)
        return b.st;
    s->in_ndim = n;
    memcpy(s->in_shape, shape, (size_t)n * sizeof *shape);
    s->in_dtype = strcmp(dt->val, "int64") ? DC_F32 : DC_I64;
    return DC_OK;
}

/* Give unnamed layers "<type><k>" (the first free k). */
static void name_layers(dc_spec *s)
{
    for (int i = 1; i < s->n; i++) {
        spec_layer *l = &s->l[i];
        for (int k = 1; !*l->name; k++) {
            char cand[64];
            snprintf(cand, sizeof cand, "%.40s%d", l->type, k);
            int taken = !strcmp(cand, "input");
            for (int j = 1; j < s->n && !taken; j++)
                taken = !strcmp(s->l[j].name, cand);
            if (!taken)
                strcpy(l->name, cand);
        }
    }
}

/* Resolve `input = a, b` of layer i into module indices; default the layer before. */
static int resolve_inputs(dc_spec *s, dc_model *m, int i, int *inputs)
{
    spec_layer *l = &s->l[i];
    spec_kv *kv = spec_kv_find(l, "input");
    if (!kv) {
        inputs[0] = i - 2; /* module index of the previous layer (l[0] is [input]) */
        return 1;
    }
    kv->used = 1;
    int n = 0;
    char buf[sizeof kv->val];
    strcpy(buf, kv->val);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        int idx = !strcmp(tok, "input") ? DC_MODEL_INPUT : dc_model_find_module(m, tok);
        if (idx == -1 && strcmp(tok, "input")) {
            int later = 0;
            for (int j = i; j < s->n && !later; j++)
                later = !strcmp(s->l[j].name, tok) ? s->l[j].line : 0;
            if (later)
                dc_err(DC_ERR_FORMAT, "%s:%d: [%s %s] input '%s' is defined at line %d, not "
                       "before this layer (a layer may only use earlier layers, so there are "
                       "no cycles)", s->file, kv->line, l->type, l->name, tok, later);
            else
                dc_err(DC_ERR_FORMAT, "%s:%d: [%s %s] input '%s' is not a layer name (or "
                       "'input')", s->file, kv->line, l->type, l->name, tok);
            return -1;
        }
        if (n == DC_MAX_NODE_INPUTS) {
            dc_err(DC_ERR_FORMAT, "%s:%d: more than %d inputs", s->file, kv->line,
                   DC_MAX_NODE_INPUTS);
            return -1;
        }
        inputs[n++] = idx;
    }
    if (n == 0) {
        dc_err(DC_ERR_FORMAT, "%s:%d: empty input list", s->file, kv->line);
        return -1;
    }
    return n;
}

/* Run the newest module once on zero inputs of the recorded shapes; record its output shape. */
static dc_status infer_shape(dc_spec *s, dc_model *m, dc_ctx *ctx, shape_rec *rec, int i,
                             const int *inputs, int n_in)
{
    spec_layer *l = &s->l[i];
    dc_tensor *xs[DC_MAX_NODE_INPUTS];
    int mi = dc_model_n_modules(m) - 1;
    dc_module *mod = dc_model_module(m, mi);
    for (int k = 0; k < n_in; k++) {
        const shape_rec *r = &rec[inputs[k] + 1];
        if (!(xs[k] = dc_zeros(ctx, r->dtype, r->ndim, r->shape)))
            return DC_ERR_NOMEM;
    }
    dc_tensor *y = mod->forward_n ? mod->forward_n(ctx, mod, xs, n_in)
                                  : mod->forward(ctx, mod, xs[0]);
    if (!y) {
        char in[96];
        dc_err_prefix("%s:%d: [%s %s] does not fit its input %s: ", s->file, l->line, l->type,
                      l->name, dc_shape_str(xs[0], in, sizeof in));
        return DC_ERR_FORMAT;
    }
    shape_rec *r = &rec[mi + 1];
    r->ndim = y->ndim;
    r->dtype = y->dtype;
    memcpy(r->shape, y->shape, sizeof r->shape);
    dc_ctx_reset(ctx);
    return DC_OK;
}

static dc_status build_layer(dc_spec *s, dc_model *m, dc_ctx *ctx, dc_rng *rng, shape_rec *rec,
                             int i)
{
    spec_layer *l = &s->l[i];
    int inputs[DC_MAX_NODE_INPUTS];
    int bi = find_builder(l->type);
    if (!strcmp(l->type, "input"))
        return dc_err(DC_ERR_FORMAT, "%s:%d: only one [input] section is allowed", s->file,
                      l->line);
    if (bi < 0) {
        char known[600] = "";
        for (int k = 0; k < N_BUILDERS; k++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? " " : "",
                     builders[k].type);
        return dc_err(DC_ERR_FORMAT, "%s:%d: unknown layer type '%s' (known: %s)", s->file,
                      l->line, l->type, known);
    }
    for (int j = 1; j < i; j++)
        if (!strcmp(s->l[j].name, l->name))
            return dc_err(DC_ERR_FORMAT, "%s:%d: a layer called '%s' exists already (line %d)",
                          s->file, l->line, l->name, s->l[j].line);
    int n_in = resolve_inputs(s, m, i, inputs);
    if (n_in < 0)
        return DC_ERR_FORMAT;
    const shape_rec *r = &rec[inputs[0] + 1];
    bctx b = {.s = s, .l = l, .m = m, .rng = rng};
    if (!(b.x = dc_zeros(ctx, r->dtype, r->ndim, r->shape)))
        return DC_ERR_NOMEM;
    dc_module *mod = builders[bi].fn(&b);
    for (int k = 0; k < l->n_kv && b.st == DC_OK; k++)
        if (!l->kv[k].used)
            BAD(&b, &l->kv[k], "unknown key (known: input%s%s)", *builders[bi].keys ? ", " : "",
                builders[bi].keys);
    dc_ctx_reset(ctx);
    if (b.st != DC_OK || !mod) {
        if (b.st == DC_OK) /* the constructor refused: its message says why */
            dc_err_prefix("%s:%d: [%s %s] ", s->file, l->line, l->type, l->name);
        free(mod);
        return DC_ERR_FORMAT;
    }
    if (dc_model_add_from(m, mod, n_in, inputs) != DC_OK) {
        dc_err_prefix("%s:%d: ", s->file, l->line);
        return DC_ERR_FORMAT;
    }
    return infer_shape(s, m, ctx, rec, i, inputs, n_in);
}

dc_model *dc_spec_build(dc_spec *s, dc_rng *rng)
{
    if (!s)
        return NULL;
    if (build_input(s) != DC_OK)
        return NULL;
    if (s->n < 2)
        return dc_err_null(DC_ERR_FORMAT, "%s: no layers after [input]", s->file);
    name_layers(s);
    dc_model *m = dc_model_new();
    dc_ctx *ctx = dc_ctx_new(0);
    shape_rec *rec = calloc((size_t)s->n, sizeof *rec); /* rec[0] = input, rec[k+1] = module k */
    dc_status st = m && ctx && rec ? DC_OK : dc_err(DC_ERR_NOMEM, "spec: out of memory");
    if (st == DC_OK) {
        dc_ctx_set_grad(ctx, 0);
        rec[0].ndim = s->in_ndim + 1;
        rec[0].shape[0] = 1;
        memcpy(rec[0].shape + 1, s->in_shape, (size_t)s->in_ndim * sizeof(int64_t));
        rec[0].dtype = s->in_dtype;
    }
    for (int i = 1; i < s->n && st == DC_OK; i++)
        st = build_layer(s, m, ctx, rng, rec, i);
    free(rec);
    dc_ctx_free(ctx);
    if (st != DC_OK) {
        dc_model_free(m);
        return NULL;
    }
    return m;
}
