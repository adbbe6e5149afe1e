/*
 * cmd_model.c - deepc eval / forward / summary (train: cmd_train.c runs it, train_args.c parses it).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

dc_model *cli_load_model(const char *path, dc_rng *rng, dc_spec **spec_out)
{
    dc_spec *s = dc_spec_parse_file(path);
    dc_model *m = s ? dc_spec_build(s, rng) : NULL;
    if (!m) {
        fprintf(stderr, "deepc: %s\n", dc_last_error());
        dc_spec_free(s);
        return NULL;
    }
    if (spec_out)
        *spec_out = s;
    else
        dc_spec_free(s);
    return m;
}

int cli_allow_nonfinite;

int cli_load_weights(dc_model *m, const char *path, int partial)
{
    dc_load_report rep;
    memset(&rep, 0, sizeof rep);
    dc_load_opts lo = {.strict = !partial, .allow_nonfinite = cli_allow_nonfinite};
    if (dc_model_load_opts(m, path, &lo, &rep) != DC_OK) {
        const char *e = dc_last_error(); /* names the file; a refusal lists the keys */
        fprintf(stderr, "deepc: %s%s%s\n%s", strstr(e, path) ? "" : path,
                strstr(e, path) ? "" : ": ", e,
                partial || !strstr(e, "refused") ? "" : "(--partial loads the tensors that match)\n");
        return -1;
    }
    if (partial && (rep.n_missing || rep.n_unexpected || rep.n_mismatched))
        fprintf(stderr, "deepc: partial load of %s: %d loaded\n%s\n", path, rep.n_loaded,
                rep.text);
    return 0;
}

void cli_print_confusion(const dc_eval_result *r, const char *(*name)(int))
{
    int K = r->n_classes;
    if (K <= 0 || K > 100 || !r->confusion)
        return;
    printf("confusion matrix (rows: true class, columns: predicted)\n%14s", "");
    for (int j = 0; j < K; j++)
        printf(" %5d", j);
    printf("\n");
    for (int i = 0; i < K; i++) {
        printf("%2d %-11.11s", i, name ? name(i) : "");
        for (int j = 0; j < K; j++)
            printf(" %5lld", (long long)r->confusion[i * K + j]);
        printf("\n");
    }
}

static const char *class_name_fmnist(int k) { return dc_fashion_mnist_class(k); }

/* ---- train (its flags: train_args.c) ---- */

int cli_ensure_dir(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "deepc: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

double cli_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- eval ---- */

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *data = NULL, *loss = "cross_entropy";
    int partial = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help")) {
            printf("usage: deepc eval MODEL --weights W.safetensors --data DATA [--loss L] "
                   "[--partial] [--quiet]\n  DATA: fashion-mnist[:DIR] (test split) | "
                   "digits[:FILE] | npy:X.npy,Y.npy\n  --quiet: print nothing on success (the "
                   "exit code says it ran)\n");
            return 0;
        } else if (!strcmp(f, "--partial")) partial = 1;
        else if (!strcmp(f, "--quiet")) quiet = 1;
        else if ((!strcmp(f, "--weights") || !strcmp(f, "--data") || !strcmp(f, "--loss")) && v) {
            *(f[2] == 'w' ? &weights : f[2] == 'd' ? &data : &loss) = v;
            i++;
        } else if (f[0] != '-' && !model) model = f;
        else {
            fprintf(stderr, "deepc eval: bad argument '%s' (see --help)\n", f);
            return 2;
        }
    }
    if (!model || !weights || !data) {
        fprintf(stderr, "usage: deepc eval MODEL --weights W.safetensors --data DATA\n");
        return 2;
    }
    dc_loss_kind lk;
    if (dc_loss_kind_parse(loss, &lk)) {
        fprintf(stderr, "deepc eval: %s\n", dc_last_error());
        return 2;
    }
    if (quiet && cli_quiet_stdout())
        return 2;
    dc_model *m = cli_load_model(model, NULL, NULL);
    if (!m)
        return 2;
    int rc = 0;
    dc_dataset *d = NULL;
    if (cli_load_weights(m, weights, partial)) {
        rc = 2;
        goto out;
    }
    if (!(d = cli_load_data(data, 0))) {
        fprintf(stderr, "deepc eval: %s\n", dc_last_error());
        rc = 2;
        goto out;
    }
    dc_eval_result r;
    if (dc_evaluate(m, d, NULL, 0, 256, lk, &r) != DC_OK) {
        fprintf(stderr, "deepc eval: %s\n", dc_last_error());
        rc = 2;
        goto out;
    }
    printf("loss %.4f  accuracy %.4f (%lld/%lld)\n", r.loss, r.accuracy, (long long)r.correct,
           (long long)r.n);
    cli_print_confusion(&r, !strncmp(data, "fashion-mnist", 13) ? class_name_fmnist : NULL);
    dc_eval_result_free(&r);
out:
    dc_dataset_free(d);
    dc_model_free(m);
    return rc;
}

/* ---- forward ---- */

int cmd_forward(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *input = NULL, *output = NULL;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help")) {
            printf("usage: deepc forward MODEL --weights W.safetensors --input X.npy --output "
                   "Y.npy\n  Eval-mode forward of the whole batch in X.npy (first dim = "
                   "batch).\n");
            return 0;
        } else if (!strcmp(f, "--weights") && v) weights = argv[++i];
        else if (!strcmp(f, "--input") && v) input = argv[++i];
        else if (!strcmp(f, "--output") && v) output = argv[++i];
        else if (f[0] != '-' && !model) model = f;
        else {
            fprintf(stderr, "deepc forward: bad argument '%s' (see --help)\n", f);
            return 2;
        }
    }
    if (!model || !weights || !input || !output) {
        fprintf(stderr, "usage: deepc forward MODEL --weights W --input X.npy --output Y.npy\n");
        return 2;
    }
    dc_model *m = cli_load_model(model, NULL, NULL);
    if (!m)
        return 2;
    int rc = 2;
    dc_tensor *x = NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx || cli_load_weights(m, weights, 0))
        goto out;
    if (!(x = dc_npy_load(input))) {
        fprintf(stderr, "deepc forward: %s\n", dc_last_error());
        goto out;
    }
    dc_ctx_set_grad(ctx, 0);
    dc_tensor *y = dc_model_forward(ctx, m, x);
    if (!y || dc_npy_save(output, y) != DC_OK) {
        fprintf(stderr, "deepc forward: %s\n", dc_last_error());
        goto out;
    }
    rc = 0;
out:
    dc_tensor_free(x);
    dc_ctx_free(ctx);
    dc_model_free(m);
    return rc;
}

/* ---- summary ---- */

/* Whether a module with a name longer than k is a prefix of "name." */
static int owned_deeper(const dc_model *m, const char *name, size_t k)
{
    for (int j = 0; j < dc_model_n_modules(m); j++) {
        const char *o = dc_model_module(m, j)->name;
        size_t ko = strlen(o);
        if (ko > k && !strncmp(name, o, ko) && name[ko] == '.')
            return 1;
    }
    return 0;
}

static int64_t module_params(const dc_model *m, const char *name)
{
    size_t k = strlen(name);
    int64_t n = 0;
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        const dc_tensor *t = dc_model_tensor(m, i);
        /* "<module>.<key>": a layer "a" does not own "a.b.weight" when a layer "a.b" exists
         * (keys may have dots: "blocks.layers.0.self_attn.in_proj_weight") */
        if (!dc_model_is_buffer(m, i) && !strncmp(t->name, name, k) && t->name[k] == '.' &&
            (!strchr(t->name + k + 1, '.') || !owned_deeper(m, t->name, k)))
            n += t->numel;
    }
    return n;
}

static void print_count(int64_t v, char *buf, size_t n)
{
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%lld", (long long)v), k = 0;
    for (int i = 0; i < len && (size_t)k + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = raw[i];
    }
    buf[k] = '\0';
}

/* deepc summary MODEL --plan [--batch N]: each planned layer's algorithms, training and
 * inference, at batch N. */
static int summary_plan(int argc, char **argv)
{
    int64_t batch = 64;
    if (argc == 5 && !strcmp(argv[3], "--batch")) {
        if (arg_i64("--batch", argv[4], 1, 1 << 20, &batch) != 0)
            return 2;
    } else if (argc != 3) {
        fprintf(stderr, "deepc summary: usage: deepc summary MODEL --plan [--batch N]\n");
        return 2;
    }
    dc_spec *spec = NULL;
    dc_model *m = cli_load_model(argv[1], NULL, &spec);
    if (!m)
        return 2;
    int64_t shape[DC_MAX_DIMS + 1] = {batch};
    int nd = dc_spec_input_shape(spec, shape + 1) + 1, rc = 0;
    dc_ctx *ctx = dc_ctx_new(0);
    int nm = dc_model_n_modules(m);
    dc_tensor **outs = ctx ? dc_ctx_alloc(ctx, (size_t)nm * sizeof *outs) : NULL;
    dc_tensor *x = outs ? dc_zeros(ctx, dc_spec_input_dtype(spec), nd, shape) : NULL;
    dc_ctx_set_grad(ctx, 0);
    if (!x || !dc_model_forward_all(ctx, m, x, outs)) {
        fprintf(stderr, "deepc summary: %s\n", dc_last_error());
        rc = 2;
    }
    printf("batch %lld, %s\n", (long long)batch, dc_gemm_backend());
    for (int i = 0; i < nm && !rc; i++) {
        dc_module *mod = dc_model_module(m, i);
        const int *in;
        dc_model_module_inputs(m, i, &in);
        char tr[200], inf[200];
        if (!mod->plan)
            continue;
        const dc_tensor *xin = in[0] == DC_MODEL_INPUT ? x : outs[in[0]];
        if (mod->plan(mod, xin, 1, tr, sizeof tr) != DC_OK ||
            mod->plan(mod, xin, 0, inf, sizeof inf) != DC_OK) {
            fprintf(stderr, "deepc summary: layer %s: %s\n", mod->name, dc_last_error());
            rc = 2;
            break;
        }
        printf("%-14.14s %-10.10s training:  %s\n%-25s inference: %s\n", mod->name, mod->type,
               tr, "", inf);
    }
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(spec);
    return rc;
}

int cmd_summary(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("usage: deepc summary MODEL [--plan [--batch N]]\n  Per layer: output shape, "
               "parameters, multiply-accumulates (MACs), FLOPs (= 2 x MACs) and activation "
               "memory for one example.\n  --plan: the algorithms each convolution runs in "
               "training and in inference at batch N (default 64) on this CPU.\n");
        return argc < 2 ? 2 : 0;
    }
    if (argc > 2 && !strcmp(argv[2], "--plan"))
        return summary_plan(argc, argv);
    dc_spec *spec = NULL;
    dc_model *m = cli_load_model(argv[1], NULL, &spec);
    if (!m)
        return 2;
    int64_t shape[DC_MAX_DIMS + 1] = {1};
    int nd = dc_spec_input_shape(spec, shape + 1) + 1;
    dc_ctx *ctx = dc_ctx_new(0);
    int nm = dc_model_n_modules(m);
    dc_tensor **outs = ctx ? dc_ctx_alloc(ctx, (size_t)nm * sizeof *outs) : NULL;
    dc_tensor *x = outs ? dc_zeros(ctx, dc_spec_input_dtype(spec), nd, shape) : NULL;
    dc_ctx_set_grad(ctx, 0);
    if (!x || !dc_model_forward_all(ctx, m, x, outs)) {
        fprintf(stderr, "deepc summary: %s\n", dc_last_error());
        dc_ctx_free(ctx);
        dc_model_free(m);
        dc_spec_free(spec);
        return 2;
    }
    int64_t tp = 0, tm = 0, ta = 0, t_att = 0, t_kv = 0, att_macs, kv;
    char s[96], c1[32], c2[32], c3[32];
    printf("%-14s %-18s %-20s %12s %14s %14s %10s\n", "layer", "type", "output (N=1)", "params",
           "MACs", "FLOPs", "act. KiB");
    for (int i = 0; i < nm; i++) {
        dc_module *mod = dc_model_module(m, i);
        const int *in;
        dc_model_module_inputs(m, i, &in);
        const dc_tensor *xin = in[0] == DC_MODEL_INPUT ? x : outs[in[0]];
        int64_t p = module_params(m, mod->name);
        int64_t macs = dc_module_macs(mod, xin, outs[i]);
        int64_t act = outs[i]->numel * 4;
        tp += p;
        tm += macs;
        ta += act;
        if (dc_attention_stats(mod, outs[i], &att_macs, &kv)) {
            t_att += att_macs;
            t_kv += kv;
        }
        print_count(p, c1, sizeof c1);
        print_count(macs, c2, sizeof c2);
        print_count(2 * macs, c3, sizeof c3);
        printf("%-14.14s %-18.18s %-20s %12s %14s %14s %10.1f\n", mod->name, mod->type,
               dc_shape_str(outs[i], s, sizeof s), c1, c2, c3, (double)act / 1024);
    }
    if (tp != dc_model_n_trainable(m))
        fprintf(stderr, "deepc summary: %lld parameters belong to no layer\n",
                (long long)(dc_model_n_trainable(m) - tp));
    print_count(tp, c1, sizeof c1);
    print_count(tm, c2, sizeof c2);
    print_count(2 * tm, c3, sizeof c3);
    printf("%-14s %-18s %-20s %12s %14s %14s %10.1f\n", "total", "", "", c1, c2, c3,
           (double)ta / 1024);
    printf("parameters: %s trainable (%.1f KiB as float32); FLOPs count a multiply-add as 2\n",
           c1, (double)tp * 4 / 1024);
    if (t_att) { /* Transformer layers: the T² part of the MACs and the KV cache */
        print_count(t_att, c2, sizeof c2);
        printf("attention: %s of the MACs grow with T² (scores and weighted sums, %.1f%%); KV "
               "cache %.1f KiB per sequence of this length (float32)\n", c2,
               100.0 * (double)t_att / (double)(tm ? tm : 1), (double)t_kv * 4 / 1024);
    }
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(spec);
    return 0;
}
