/*
 * cmd_summary.c - deepc summary: per layer the output shape, parameters, MACs, FLOPs and
 * activation memory of one example; --plan: each convolution's chosen algorithms; --set for
 * spec variables, $vocab defaulting to the byte vocabulary.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The variable $vocab of a character language model without a text: the byte vocabulary. */
#define CLI_SUMMARY_VOCAB "256"

/* summary's arguments: the spec with its --set variables (and $vocab's default) defined, built.
 * NULL after a message (*rc: 0 after --help, else 2). */
static dc_model *summary_load(int argc, char **argv, dc_spec **spec, int *rc, int *plan,
                              int64_t *batch)
{
    const char *model = NULL, *bs = NULL;
    cli_sets sets = {0};
    const cli_opt opts[] = {{"--plan", NULL, plan}, {"--batch", &bs, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("summary", argc, argv, opts, &model, 1, &sets);
    *rc = pr > 0 ? 0 : 2;
    if (pr > 0)
        printf("usage: deepc summary MODEL [--set NAME=VALUE]... [--plan [--batch N]]\n  Per "
               "layer: output shape, parameters, multiply-accumulates (MACs), FLOPs (= 2 x MACs) "
               "and activation memory for one example.\n  --set NAME=VALUE gives the spec "
               "variable $NAME a value; $vocab defaults to " CLI_SUMMARY_VOCAB " (the byte "
               "vocabulary).\n  --plan: the algorithms each convolution runs in training and "
               "in inference at batch N (default 64) on this CPU.\n");
    if (pr)
        return NULL;
    if ((bs && arg_i64("--batch", bs, 1, 1 << 20, batch)) || (bs && !*plan)) {
        if (bs && !*plan)
            fprintf(stderr, "deepc summary: --batch applies to --plan only\n");
        return NULL;
    }
    if (!model) {
        cli_missing("summary", "MODEL (a spec file)");
        return NULL;
    }
    dc_spec *s = dc_spec_parse_file(model);
    if (!s) {
        fprintf(stderr, "deepc: %s\n", dc_last_error());
        return NULL;
    }
    int vocab_set = 0, n_vocab = 0;
    for (int i = 0; i < sets.n; i++)
        vocab_set |= !strncmp(sets.v[i], "vocab=", 6);
    if (cli_spec_set(s, model, &sets)) {
        dc_spec_free(s);
        return NULL;
    }
    if (!vocab_set && (n_vocab = dc_spec_define(s, "vocab", CLI_SUMMARY_VOCAB)) > 0)
        printf("$vocab = " CLI_SUMMARY_VOCAB " (the byte vocabulary; --set vocab=N for a "
               "text's own)\n");
    dc_model *m = n_vocab >= 0 ? dc_spec_build(s, NULL) : NULL;
    if (!m) {
        fprintf(stderr, "deepc: %s\n", dc_last_error());
        dc_spec_free(s);
        return NULL;
    }
    *spec = s;
    return m;
}

/* deepc summary MODEL --plan [--batch N]: each planned layer's algorithms, training and
 * inference, at batch N. */
static int summary_plan(dc_model *m, dc_spec *spec, int64_t batch)
{
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
    dc_spec *spec = NULL;
    int lrc, plan = 0;
    int64_t batch = 64;
    dc_model *m = summary_load(argc, argv, &spec, &lrc, &plan, &batch);
    if (!m)
        return lrc;
    if (plan)
        return summary_plan(m, spec, batch);
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
