/*
 * summary.c - what `deepc summary` prints of a model built from a spec (summary.h): per layer
 * the output shape, parameters, MACs, FLOPs and activation memory of one example, and the
 * algorithms each planned layer (convolution) runs.
 */
#define _POSIX_C_SOURCE 200809L
#include "summary.h"
#include "core/internal.h"

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

dc_status dc_summary_plan_print(FILE *f, dc_model *m, const dc_spec *spec, int64_t batch)
{
    int64_t shape[DC_MAX_DIMS + 1] = {batch};
    int nd = dc_spec_input_shape(spec, shape + 1) + 1;
    dc_status st = DC_OK;
    dc_ctx *ctx = dc_ctx_new(0);
    int nm = dc_model_n_modules(m);
    dc_tensor **outs = ctx ? dc_ctx_alloc(ctx, (size_t)nm * sizeof *outs) : NULL;
    dc_tensor *x = outs ? dc_zeros(ctx, dc_spec_input_dtype(spec), nd, shape) : NULL;
    if (ctx)
        dc_ctx_set_grad(ctx, 0);
    if (!x || !dc_model_forward_all(ctx, m, x, outs))
        st = dc_last_status() != DC_OK ? dc_last_status() : DC_ERR_NOMEM;
    else
        fprintf(f, "batch %lld, %s\n", (long long)batch, dc_gemm_backend());
    for (int i = 0; i < nm && st == DC_OK; i++) {
        dc_module *mod = dc_model_module(m, i);
        const int *in;
        dc_model_module_inputs(m, i, &in);
        char tr[200], inf[200];
        if (!mod->plan)
            continue;
        const dc_tensor *xin = in[0] == DC_MODEL_INPUT ? x : outs[in[0]];
        if ((st = mod->plan(mod, xin, 1, tr, sizeof tr)) != DC_OK ||
            (st = mod->plan(mod, xin, 0, inf, sizeof inf)) != DC_OK) {
            dc_err_prefix("layer %s: ", mod->name);
            break;
        }
        fprintf(f, "%-14.14s %-10.10s training:  %s\n%-25s inference: %s\n", mod->name, mod->type,
               tr, "", inf);
    }
    dc_ctx_free(ctx);
    return st;
}

dc_status dc_summary_print(FILE *f, dc_model *m, const dc_spec *spec, int64_t *orphans)
{
    int64_t shape[DC_MAX_DIMS + 1] = {1};
    int nd = dc_spec_input_shape(spec, shape + 1) + 1;
    dc_ctx *ctx = dc_ctx_new(0);
    int nm = dc_model_n_modules(m);
    dc_tensor **outs = ctx ? dc_ctx_alloc(ctx, (size_t)nm * sizeof *outs) : NULL;
    dc_tensor *x = outs ? dc_zeros(ctx, dc_spec_input_dtype(spec), nd, shape) : NULL;
    if (ctx)
        dc_ctx_set_grad(ctx, 0);
    if (!x || !dc_model_forward_all(ctx, m, x, outs)) {
        dc_ctx_free(ctx);
        return dc_last_status() != DC_OK ? dc_last_status() : DC_ERR_NOMEM;
    }
    int64_t tp = 0, tm = 0, ta = 0, t_att = 0, t_kv = 0, att_macs, kv;
    char s[96], c1[32], c2[32], c3[32];
    fprintf(f, "%-14s %-18s %-20s %12s %14s %14s %10s\n", "layer", "type", "output (N=1)", "params",
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
        fprintf(f, "%-14.14s %-18.18s %-20s %12s %14s %14s %10.1f\n", mod->name, mod->type,
               dc_shape_str(outs[i], s, sizeof s), c1, c2, c3, (double)act / 1024);
    }
    *orphans = dc_model_n_trainable(m) - tp;
    print_count(tp, c1, sizeof c1);
    print_count(tm, c2, sizeof c2);
    print_count(2 * tm, c3, sizeof c3);
    fprintf(f, "%-14s %-18s %-20s %12s %14s %14s %10.1f\n", "total", "", "", c1, c2, c3,
           (double)ta / 1024);
    fprintf(f, "parameters: %s trainable (%.1f KiB as float32); FLOPs count a multiply-add as 2\n",
           c1, (double)tp * 4 / 1024);
    if (t_att) { /* Transformer layers: the T² part of the MACs and the KV cache */
        print_count(t_att, c2, sizeof c2);
        fprintf(f, "attention: %s of the MACs grow with T² (scores and weighted sums, %.1f%%); KV "
               "cache %.1f KiB per sequence of this length (float32)\n", c2,
               100.0 * (double)t_att / (double)(tm ? tm : 1), (double)t_kv * 4 / 1024);
    }
    dc_ctx_free(ctx);
    return DC_OK;
}
