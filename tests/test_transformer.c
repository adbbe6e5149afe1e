/*
 * test_transformer.c - the Transformer modules against PyTorch (tests/ref/transformer_nn/<case>
 * from tests/ref/gen_transformer.py): MultiheadAttention (self, cross with both masks and the
 * head-averaged weights, distinct q/k/v with a per-head mask), TransformerEncoderLayer and
 * TransformerDecoderLayer (post-LN relu batch-first, pre-LN gelu sequence-first, causal and
 * padding masks), a TransformerEncoder stack with its final norm, and nn.Transformer
 * (encoder-decoder, given weights). Each case loads PyTorch's state_dict into the deepc module
 * (every name and shape must match, none left over) and compares the output and every gradient
 * (inputs and parameters) in eval and in training mode (dropout 0), rtol 1e-4, atol 1e-5.
 * Then: module behaviour (dropout active only in training, sinusoidal buffer not in the
 * state_dict, errors).
 */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum nn_kind { K_MHA_SELF, K_MHA_CROSS, K_MHA_QKV, K_ENC, K_DEC, K_STACK, K_FULL } nn_kind;

typedef struct nn_ref {
    const char *name;
    nn_kind kind;
    int batch_first, norm_first, gelu;
} nn_ref;

static t_names nn_names;
static void nn_note(const char *name) { t_names_add(&nn_names, name); }

enum { E = 8, H = 2, F = 16 };

static dc_tf_layer_opts layer_opts(const nn_ref *c)
{
    dc_tf_layer_opts o = dc_tf_layer_defaults(E, H);
    o.dim_feedforward = F;
    o.dropout = 0.0f;
    o.batch_first = c->batch_first;
    o.norm_first = c->norm_first;
    o.gelu = c->gelu;
    return o;
}

/* The modules of case c in m: mods[0] (and mods[1], the decoder of K_FULL). */
static int build(const nn_ref *c, dc_model *m, dc_module **mods)
{
    dc_tf_layer_opts o = layer_opts(c);
    switch (c->kind) {
    case K_MHA_SELF:
    case K_MHA_CROSS:
    case K_MHA_QKV: mods[0] = dc_mha_new(m, "mha", E, H, 0.0f, 1, c->batch_first, 0, NULL); break;
    case K_ENC: mods[0] = dc_encoder_layer_new(m, "layer", &o, NULL); break;
    case K_DEC: mods[0] = dc_decoder_layer_new(m, "layer", &o, NULL); break;
    case K_STACK: mods[0] = dc_encoder_new(m, "stack", &o, 2, 1, NULL); break;
    case K_FULL:
        mods[0] = dc_encoder_new(m, "encoder", &o, 2, 1, NULL);
        if (!mods[0] || dc_model_add(m, mods[0]) != DC_OK)
            return 0;
        mods[1] = dc_decoder_new(m, "decoder", &o, 2, 1, NULL);
        return mods[1] && dc_model_add(m, mods[1]) == DC_OK;
    }
    return mods[0] && dc_model_add(m, mods[0]) == DC_OK;
}

/* The file's parameters: every tensor that is not an input, output, gradient or mask. */
static int is_param(const char *k)
{
    static const char *other[] = {"y", "dy", "w", "attn_mask", "kpm", "mem_kpm"};
    const char *digit = k[0] == 'd' ? k + 2 : k + 1;
    if ((k[0] == 'x' || (k[0] == 'd' && k[1] == 'x')) && *digit >= '0' && *digit <= '9')
        return 0;
    if (!strncmp(k, "d.", 2))
        return 0;
    for (size_t i = 0; i < sizeof other / sizeof *other; i++)
        if (!strcmp(k, other[i]))
            return 0;
    return 1;
}

/* Copy every parameter of the file into m: names and shapes must match both ways. */
static int load_params(const char *cs, const dc_tdict *d, dc_model *m)
{
    int n_file = 0, ok = 1;
    for (int i = 0; i < d->n; i++)
        n_file += is_param(d->names[i]);
    CHECK(n_file == dc_model_n_tensors(m), "ref %s: the file has %d parameters, deepc %d", cs,
          n_file, dc_model_n_tensors(m));
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        const dc_tensor *f = dc_tdict_get(d, t->name);
        if (!f || !dc_same_shape(f, t)) {
            t_fail(__FILE__, __LINE__, "ref %s: parameter %s missing or of another shape", cs,
                   t->name);
            ok = 0;
            continue;
        }
        memcpy(t->data, f->data, (size_t)t->numel * sizeof(float));
    }
    return ok && n_file == dc_model_n_tensors(m);
}

static dc_tensor *run(dc_ctx *ctx, const nn_ref *c, dc_module **mods, dc_tensor **x,
                      const dc_tdict *d, dc_tensor **w)
{
    dc_tensor *am = (dc_tensor *)dc_tdict_get(d, "attn_mask");
    dc_tensor *kpm = (dc_tensor *)dc_tdict_get(d, "kpm");
    dc_tensor *mkpm = (dc_tensor *)dc_tdict_get(d, "mem_kpm");
    dc_attn_masks causal = {NULL, NULL, 1}, mk = {am, kpm, 0};
    switch (c->kind) {
    case K_MHA_SELF: return dc_mha_forward(ctx, mods[0], x[0], x[0], x[0], NULL, w, 1);
    case K_MHA_CROSS: return dc_mha_forward(ctx, mods[0], x[0], x[1], x[1], &mk, w, 1);
    case K_MHA_QKV: return dc_mha_forward(ctx, mods[0], x[0], x[1], x[2], &mk, NULL, 1);
    case K_ENC: {
        dc_attn_masks self = {NULL, kpm, 1};
        return dc_transformer_forward(ctx, mods[0], x[0], NULL, &self, NULL);
    }
    case K_DEC: {
        dc_attn_masks mem = {NULL, mkpm, 0};
        return dc_transformer_forward(ctx, mods[0], x[0], x[1], &causal, &mem);
    }
    case K_STACK: return dc_transformer_forward(ctx, mods[0], x[0], NULL, &causal, NULL);
    case K_FULL: {
        dc_attn_masks src = {NULL, kpm, 0};
        dc_tensor *memory = dc_transformer_forward(ctx, mods[0], x[0], NULL, &src, NULL);
        return dc_transformer_forward(ctx, mods[1], x[1], memory, &causal, &src);
    }
    }
    return NULL;
}

static void compare_all(const char *cs, const dc_tdict *d, dc_model *m, dc_tensor **x, int n)
{
    char key[200];
    t_ref_compare_grads(cs, d, x, n);
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        snprintf(key, sizeof key, "d.%s", t->name);
        t_ref_compare(cs, key, t, t->grad, dc_tdict_get(d, key));
    }
}

static void run_nn_ref(const nn_ref *c)
{
    dc_tdict *d = t_ref_load(t_ref_dir("transformer_nn"), c->name);
    dc_model *m = dc_model_new();
    dc_module *mods[2] = {NULL, NULL};
    dc_tensor *x[3] = {0};
    int n = 0;
    if (!d || !m || !build(c, m, mods) || !load_params(c->name, d, m) ||
        !t_ref_inputs(c->name, d, x, 3, &n)) {
        t_fail(__FILE__, __LINE__, "ref %s: setup failed: %s", c->name, dc_last_error());
        goto done;
    }
    for (int training = 0; training < 2; training++) {
        char cs[96];
        snprintf(cs, sizeof cs, "%s (%s)", c->name, training ? "training" : "eval");
        dc_ctx *ctx = dc_ctx_new(0);
        dc_rng rng;
        dc_rng_seed(&rng, 1, 1);
        dc_ctx_set_rng(ctx, &rng);
        dc_ctx_set_training(ctx, training);
        dc_model_zero_grad(m);
        for (int i = 0; i < n; i++)
            dc_tensor_zero_grad(x[i]);
        dc_tensor *w = NULL;
        dc_tensor *y = run(ctx, c, mods, x, d, dc_tdict_get(d, "w") ? &w : NULL);
        if (!y)
            t_fail(__FILE__, __LINE__, "ref %s: forward failed: %s", cs, dc_last_error());
        else {
            t_ref_compare(cs, "y", y, dc_f32(y), dc_tdict_get(d, "y"));
            if (w)
                t_ref_compare(cs, "w", w, dc_f32(w), dc_tdict_get(d, "w"));
            if (t_ref_backward(ctx, cs, y, dc_tdict_get(d, "dy")))
                compare_all(cs, d, m, x, n);
        }
        dc_ctx_free(ctx);
    }
done:
    for (int i = 0; i < n; i++)
        dc_tensor_free(x[i]);
    dc_model_free(m);
    dc_tdict_free(d);
}

#define NN_REF(nm, ...)                                                                \
    static const nn_ref nnc_##nm = {#nm, __VA_ARGS__};                                 \
    __attribute__((constructor)) static void nnn_##nm(void) { nn_note(#nm); }          \
    TEST(tf_ref_##nm) { run_nn_ref(&nnc_##nm); }

NN_REF(mha_self, K_MHA_SELF, 1, 0, 0)
NN_REF(mha_cross_masks, K_MHA_CROSS, 0, 0, 0)
NN_REF(mha_qkv_3dmask, K_MHA_QKV, 1, 0, 0)
NN_REF(enc_post_relu, K_ENC, 1, 0, 0)
NN_REF(enc_pre_gelu, K_ENC, 0, 1, 1)
NN_REF(dec_post_relu, K_DEC, 1, 0, 0)
NN_REF(dec_pre_gelu, K_DEC, 0, 1, 1)
NN_REF(encoder_stack, K_STACK, 1, 1, 1)
NN_REF(transformer, K_FULL, 1, 0, 0)

TEST(tf_ref_every_file_has_a_test)
{
    t_ref_check_files(t_ref_dir("transformer_nn"), &nn_names, NULL, "tests/test_transformer.c");
}

/* ------------------------------------------------------------------------------------------ */
/* Module behaviour                                                                            */
/* ------------------------------------------------------------------------------------------ */

static dc_tensor *rand_x(dc_rng *r, int64_t a, int64_t b, int64_t c)
{
    dc_tensor *t = dc_tensor_new(DC_F32, 3, DC_SHAPE(a, b, c));
    if (t)
        dc_tensor_uniform(t, r, -1.0f, 1.0f);
    return t;
}

/* Dropout 0.5: eval gives the dropout-free output, training another one, reproducibly. */
TEST(tf_dropout_only_in_training)
{
    dc_rng r, drop;
    dc_rng_seed(&r, 11, 1);
    dc_model *m = dc_model_new();
    dc_tf_layer_opts o = dc_tf_layer_defaults(E, H);
    o.batch_first = 1;
    o.dim_feedforward = F;
    o.dropout = 0.5f;
    dc_module *l = dc_encoder_layer_new(m, "l", &o, &r);
    dc_tensor *x = rand_x(&r, 2, 5, E);
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(m && l && dc_model_add(m, l) == DC_OK && x && ctx);
    dc_ctx_set_rng(ctx, &drop);
    dc_tensor *y_eval = dc_model_forward(ctx, m, x);
    REQUIRE(y_eval);
    dc_ctx_set_training(ctx, 1);
    dc_rng_seed(&drop, 3, 1);
    dc_tensor *y1 = dc_model_forward(ctx, m, x);
    dc_rng_seed(&drop, 3, 1);
    dc_tensor *y2 = dc_model_forward(ctx, m, x);
    REQUIRE(y1 && y2);
    CHECK(memcmp(dc_f32(y_eval), dc_f32(y1), (size_t)y1->numel * 4) != 0,
          "training with dropout 0.5 gave the eval output");
    CHECK(!memcmp(dc_f32(y1), dc_f32(y2), (size_t)y1->numel * 4), "same seed, other output");
    /* eval equals a dropout-0 layer with the same weights */
    dc_model *m0 = dc_model_new();
    o.dropout = 0.0f;
    dc_module *l0 = dc_encoder_layer_new(m0, "l", &o, NULL);
    REQUIRE(m0 && l0 && dc_model_add(m0, l0) == DC_OK);
    for (int i = 0; i < dc_model_n_tensors(m); i++)
        memcpy(dc_model_tensor(m0, i)->data, dc_model_tensor(m, i)->data,
               (size_t)dc_model_tensor(m, i)->numel * 4);
    dc_ctx_set_training(ctx, 0);
    dc_tensor *y0 = dc_model_forward(ctx, m0, x);
    REQUIRE(y0);
    CHECK(!memcmp(dc_f32(y_eval), dc_f32(y0), (size_t)y0->numel * 4), "eval used dropout");
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_model_free(m);
    dc_model_free(m0);
}

TEST(tf_positional_encodings)
{
    dc_rng r;
    dc_rng_seed(&r, 2, 1);
    dc_model *m = dc_model_new();
    dc_module *sinus = dc_positional_new(m, "pe", DC_POS_SINUSOIDAL, 16, 6, 1, &r);
    REQUIRE(m && sinus && dc_model_add(m, sinus) == DC_OK);
    CHECK(dc_model_n_tensors(m) == 0, "the sinusoidal table must not be in the state_dict");
    dc_module *lrn = dc_positional_new(m, "pos", DC_POS_LEARNED, 16, 6, 1, &r);
    REQUIRE(lrn && dc_model_add(m, lrn) == DC_OK);
    CHECK(dc_model_find(m, "pos.weight") && dc_model_find(m, "pos.weight")->shape[0] == 16,
          "learned positions are pos.weight [16, 6]");
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_tensor_new(DC_F32, 3, DC_SHAPE(2, 5, 6));
    REQUIRE(ctx && x);
    dc_tensor *y = dc_positional_forward(ctx, sinus, x, 3); /* zeros + pe[3..8) */
    REQUIRE(y);
    CHECK_NEAR(dc_f32(y)[0], sin(3.0), 1e-6);                  /* t = 3, i = 0 */
    CHECK_NEAR(dc_f32(y)[6 + 1], cos(4.0), 1e-6);              /* t = 4, cos of i = 0 */
    CHECK_NEAR(dc_f32(y)[5 * 6 + 2], sin(3.0 / pow(10000.0, 2.0 / 6)), 1e-6); /* batch 1 */
    CHECK(!dc_positional_forward(ctx, sinus, x, 12) && strstr(dc_last_error(), "max_len"),
          "positions past max_len: %s", dc_last_error());
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_model_free(m);
}

/* forward_n(x, ids) hides the keys whose id is padding_idx: the same as an explicit mask. */
TEST(tf_padding_ids_give_the_key_mask)
{
    dc_rng r;
    dc_rng_seed(&r, 8, 1);
    dc_model *m = dc_model_new();
    dc_tf_layer_opts o = dc_tf_layer_defaults(E, H);
    o.batch_first = 1;
    o.dim_feedforward = F;
    o.padding_idx = 0;
    dc_module *l = dc_encoder_layer_new(m, "enc", &o, &r);
    dc_tensor *x = rand_x(&r, 2, 4, E), *ids = dc_tensor_new(DC_I64, 2, DC_SHAPE(2, 4));
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(m && l && dc_model_add(m, l) == DC_OK && x && ids && ctx);
    static const int64_t v[] = {5, 3, 0, 0, 2, 0, 7, 1};
    memcpy(ids->data, v, sizeof v);
    dc_tensor *xs[2] = {x, ids};
    dc_tensor *a = l->forward_n(ctx, l, xs, 2);
    dc_tensor *kpm = dc_empty(ctx, DC_I64, 2, DC_SHAPE(2, 4));
    REQUIRE(a && kpm);
    for (int i = 0; i < 8; i++)
        dc_i64(kpm)[i] = v[i] == 0;
    dc_attn_masks mk = {NULL, kpm, 0};
    dc_tensor *b = dc_transformer_forward(ctx, l, x, NULL, &mk, NULL);
    REQUIRE(b);
    CHECK(!memcmp(dc_f32(a), dc_f32(b), (size_t)a->numel * 4), "ids mask != explicit mask");
    dc_tensor *c = dc_model_forward(ctx, m, x);
    REQUIRE(c);
    CHECK(memcmp(dc_f32(a), dc_f32(c), (size_t)a->numel * 4) != 0, "the mask changed nothing");
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(ids);
    dc_model_free(m);
}

TEST(tf_module_errors)
{
    dc_model *m = dc_model_new();
    REQUIRE(m);
    CHECK(!dc_mha_new(m, "a", 10, 3, 0.0f, 1, 1, 0, NULL) && strstr(dc_last_error(), "multiple"),
          "E %% H: %s", dc_last_error());
    dc_tf_layer_opts o = dc_tf_layer_defaults(E, H);
    o.dropout = 1.0f;
    CHECK(!dc_encoder_layer_new(m, "b", &o, NULL) && strstr(dc_last_error(), "dropout"),
          "dropout 1: %s", dc_last_error());
    o = dc_tf_layer_defaults(E, H);
    dc_module *dec = dc_decoder_layer_new(m, "d", &o, NULL);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_tensor_new(DC_F32, 3, DC_SHAPE(3, 2, E));
    REQUIRE(dec && dc_model_add(m, dec) == DC_OK && ctx && x);
    CHECK(!dc_model_forward(ctx, m, x) && strstr(dc_last_error(), "memory"),
          "decoder without memory: %s", dc_last_error());
    dc_tensor *bad = dc_tensor_new(DC_F32, 3, DC_SHAPE(3, 2, E + 1));
    REQUIRE(bad);
    CHECK(!dc_transformer_forward(ctx, dec, bad, x, NULL, NULL) &&
              strstr(dc_last_error(), "[T, N, 8]"), "bad width: %s", dc_last_error());
    dc_ctx_free(ctx);
    dc_tensor_free(x);
    dc_tensor_free(bad);
    dc_model_free(m);
}

/* ------------------------------------------------------------------------------------------ */
/* Spec types and the CLI                                                                      */
/* ------------------------------------------------------------------------------------------ */

static const char *gpt_spec =
    "[input]\nshape = 12\ndtype = int64\n"
    "[embedding tok]\nnum_embeddings = 11\nembedding_dim = 8\n"
    "[positional pos]\nmax_len = 12\n"
    "[transformerencoder blocks]\nnum_layers = 2\nnhead = 2\ndim_feedforward = 16\n"
    "dropout = 0\nactivation = gelu\nnorm_first = true\ncausal = true\nnorm = true\n"
    "[layernorm ln_f]\n"
    "[linear head]\nout_features = 11\n";

/* Logits [1, 12, 11] of ids (i·seed mod 11), changed from position `from` on. */
static dc_tensor *gpt_logits(dc_ctx *ctx, dc_model *m, int from)
{
    dc_tensor *ids = dc_empty(ctx, DC_I64, 2, DC_SHAPE(1, 12));
    if (!ids)
        return NULL;
    for (int t = 0; t < 12; t++)
        dc_i64(ids)[t] = t < from ? (t * 7 + 3) % 11 : (t * 5 + 1) % 11;
    return dc_model_forward(ctx, m, ids);
}

TEST(tf_spec_gpt_builds_is_causal_and_round_trips)
{
    dc_rng r;
    dc_rng_seed(&r, 1, 1);
    dc_spec *s = dc_spec_parse_string(gpt_spec, "gpt.spec");
    dc_model *m = s ? dc_spec_build(s, &r) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(s && m && ctx);
    static const char *names[] = {"tok.weight", "pos.weight", "blocks.layers.1.self_attn."
                                  "in_proj_weight", "blocks.layers.0.linear2.bias",
                                  "blocks.norm.weight", "ln_f.bias", "head.weight"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        CHECK(dc_model_find(m, names[i]) != NULL, "no parameter %s", names[i]);
    dc_tensor *a = gpt_logits(ctx, m, 12), *b = gpt_logits(ctx, m, 7);
    REQUIRE(a && b);
    CHECK(a->ndim == 3 && a->shape[1] == 12 && a->shape[2] == 11, "logits shape");
    /* causal: positions before 7 do not see the change at 7.. */
    CHECK(!memcmp(dc_f32(a), dc_f32(b), 7 * 11 * sizeof(float)), "the past saw the future");
    CHECK(memcmp(dc_f32(a) + 7 * 11, dc_f32(b) + 7 * 11, 11 * sizeof(float)) != 0,
          "position 7 did not see its own input");
    char *t1 = dc_spec_to_string(s);
    dc_spec *s2 = t1 ? dc_spec_parse_string(t1, "again.spec") : NULL;
    dc_model *m2 = s2 ? dc_spec_build(s2, NULL) : NULL;
    char *t2 = m2 ? dc_spec_to_string(s2) : NULL;
    REQUIRE(t2);
    CHECK(!strcmp(t1, t2), "the spec does not round-trip:\n%s\n---\n%s", t1, t2);
    CHECK(strstr(t1, "kind = learned") && strstr(t1, "batch_first = true"),
          "defaults not echoed:\n%s", t1);
    free(t1);
    free(t2);
    dc_model_free(m2);
    dc_spec_free(s2);
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(s);
}

/* A decoder reads the encoder's output as its memory (input = tgt, memory); an encoder takes the
 * ids as a second input for its key padding mask. */
TEST(tf_spec_memory_and_padding_inputs)
{
    static const char *spec =
        "[input]\nshape = 6\ndtype = int64\n"
        "[embedding emb]\nnum_embeddings = 9\nembedding_dim = 8\npadding_idx = 0\n"
        "[positional pe]\nkind = sinusoidal\nmax_len = 6\n"
        "[transformerencoderlayer enc]\nnhead = 2\ndim_feedforward = 12\npadding_idx = 0\n"
        "input = pe, input\n"
        "[transformerdecoderlayer dec]\nnhead = 2\ndim_feedforward = 12\ncausal = true\n"
        "padding_idx = 0\ninput = pe, enc, input\n"
        "[linear out]\nout_features = 9\n";
    dc_rng r;
    dc_rng_seed(&r, 2, 1);
    dc_spec *s = dc_spec_parse_string(spec, "ed.spec");
    dc_model *m = s ? dc_spec_build(s, &r) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(s && m && ctx);
    CHECK(dc_model_find(m, "dec.multihead_attn.in_proj_weight") &&
              dc_model_find(m, "dec.norm3.bias") && !dc_model_find(m, "pe.weight"),
          "decoder parameters / no sinusoidal parameters");
    dc_tensor *ids = dc_empty(ctx, DC_I64, 2, DC_SHAPE(2, 6));
    REQUIRE(ids);
    static const int64_t v[] = {3, 4, 5, 0, 0, 0, 1, 2, 3, 4, 5, 6};
    memcpy(ids->data, v, sizeof v);
    dc_tensor *y = dc_model_forward(ctx, m, ids);
    REQUIRE(y);
    CHECK(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 6 && y->shape[2] == 9,
          "output shape");
    /* sequence 0 is 3 tokens and 3 pads: its outputs at 0..2 never read a pad (the encoder
     * and the memory hide them as keys, the decoder's self-attention is causal), so changing
     * the padding row of the embedding leaves them exactly as they were */
    float before[3 * 9];
    memcpy(before, dc_f32(y), sizeof before);
    float *w = dc_f32(dc_model_find(m, "emb.weight"));
    for (int e = 0; e < 8; e++)
        w[e] += 1.0f + (float)e;
    dc_tensor *y2 = dc_model_forward(ctx, m, ids);
    REQUIRE(y2);
    CHECK(!memcmp(before, dc_f32(y2), sizeof before), "a padding key changed the outputs");
    CHECK(memcmp(dc_f32(y) + 3 * 9, dc_f32(y2) + 3 * 9, 9 * sizeof(float)) != 0,
          "the change did not reach the pad positions themselves");
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(s);
}

TEST(tf_spec_errors_name_the_line)
{
    static const char *spec = "[input]\nshape = 4, 8\n[transformerencoderlayer e]\nnhead = 3\n";
    dc_spec *s = dc_spec_parse_string(spec, "bad.spec");
    REQUIRE(s);
    CHECK(!dc_spec_build(s, NULL) && strstr(dc_last_error(), "bad.spec:4") &&
              strstr(dc_last_error(), "do not divide"), "message: %s", dc_last_error());
    dc_spec_free(s);
}

/* summary counts the T² part and the KV cache; train --data text: and generate run a GPT. */
TEST(tf_cli_summary_train_generate)
{
    char path[512], text_path[512], dir[512], out[16384], out2[16384];
    snprintf(path, sizeof path, "%s/gpt.spec", t_tmpdir());
    snprintf(text_path, sizeof text_path, "%s/corpus.txt", t_tmpdir());
    snprintf(dir, sizeof dir, "%s/gpt", t_tmpdir());
    REQUIRE(t_write_text(path, gpt_spec));
    int rc = t_run_deepc(out, sizeof out, "summary %s", path);
    CHECK(rc == 0 && strstr(out, "attention: ") && strstr(out, "KV cache 1.5 KiB"),
          "summary (%d):\n%s", rc, out); /* 2 layers · 2 · 12 · 8 floats */
    CHECK(strstr(out, "1,216") != NULL, "blocks should own 2 · 600 + 16 = 1,216 parameters:\n%s",
          out);
    char *text = malloc(8001);
    REQUIRE(text);
    for (int i = 0; i < 8000; i++)
        text[i] = "abcdefghij"[(i * 3 + i / 7) % 10];
    text[8000] = 0;
    REQUIRE(t_write_text(text_path, text));
    free(text);
    /* the same network over the text's vocabulary */
    char sv[1024], *p;
    snprintf(sv, sizeof sv, "%s", gpt_spec);
    while ((p = strstr(sv, "= 11\n"))) { /* "= 11" -> "= $vocab" */
        memmove(p + 8, p + 4, strlen(p + 4) + 1);
        memcpy(p, "= $vocab", 8);
    }
    snprintf(path, sizeof path, "%s/gpt_v.spec", t_tmpdir());
    REQUIRE(t_write_text(path, sv));
    rc = t_run_deepc(out, sizeof out, "train %s --data text:%s --bptt 12 --batch 8 --optimizer "
                     "adamw --lr 0.003 --clip 1 --epochs 1 --threads 1 --out %s", path,
                     text_path, dir);
    const char *bpc = strstr(out, "nats/char, ");
    double v = bpc ? atof(bpc + 11) : 99;
    CHECK(rc == 0 && v < 3.0, "train (%d): validation %.3f bits/char, log2(10) = 3.32:\n%s",
          rc, v, out);
    rc = t_run_deepc(out, sizeof out, "generate %s/model.spec --weights %s/model.safetensors "
                     "--prime abc --length 40 --temperature 0.8 --seed 3", dir, dir);
    t_run_deepc(out2, sizeof out2, "generate %s/model.spec --weights %s/model.safetensors "
                "--prime abc --length 40 --temperature 0.8 --seed 3", dir, dir);
    CHECK(rc == 0 && !strncmp(out, "abc", 3) && strlen(out) >= 43 && !strcmp(out, out2),
          "generate (%d):\n%s\n%s", rc, out, out2);
    /* the KV cache gives the tokens of full recomputation, past the context (12) too */
    t_run_deepc(out2, sizeof out2, "generate %s/model.spec --weights %s/model.safetensors "
                "--prime abc --length 40 --temperature 0.8 --seed 3 --no-kv-cache", dir, dir);
    CHECK(!strcmp(out, out2), "KV cache and full recomputation differ:\n%s\n%s", out, out2);
}

/* With the KV cache on, feeding a GPT a few ids and then one at a time gives, at every step, the
 * logits of a full forward over the whole prefix; reset_state starts a new sequence. */
TEST(tf_kv_cache_equals_full_forward)
{
    dc_rng r;
    dc_rng_seed(&r, 4, 1);
    dc_spec *s = dc_spec_parse_string(gpt_spec, "gpt.spec");
    dc_model *m = s ? dc_spec_build(s, &r) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(s && m && ctx);
    int kv = 0;
    CHECK(dc_model_context(m, &kv) == 12 && kv == 1, "a causal GPT decodes with a KV cache");
    dc_ctx_set_grad(ctx, 0);
    int64_t ids[12];
    for (int t = 0; t < 12; t++)
        ids[t] = (t * 7 + 2) % 11;
    for (int pass = 0; pass < 2; pass++) { /* the second pass after reset_state */
        REQUIRE(dc_model_set_kv_cache(m, 1) == DC_OK);
        if (pass)
            dc_model_reset_state(m);
        for (int t = 4; t <= 12; t++) {
            const int first = t == 4; /* feed 4 ids at once, then one by one */
            dc_tensor *xi = dc_wrap(ctx, DC_I64, 2, DC_SHAPE(1, first ? 4 : 1),
                                    ids + (first ? 0 : t - 1));
            dc_tensor *yi = dc_model_forward(ctx, m, xi);
            REQUIRE(yi);
            float got[11];
            memcpy(got, dc_f32(yi) + (yi->shape[1] - 1) * 11, sizeof got);
            dc_model_set_kv_cache(m, 0); /* a full forward over the prefix, no cache */
            dc_tensor *yf = dc_model_forward(ctx, m, dc_wrap(ctx, DC_I64, 2, DC_SHAPE(1, t), ids));
            REQUIRE(yf);
            char what[64];
            snprintf(what, sizeof what, "step %d logits (pass %d)", t, pass);
            CHECK_ALLCLOSE(what, got, dc_f32(yf) + (t - 1) * 11, 11, 1e-5, 1e-5);
            dc_model_set_kv_cache(m, 1); /* an empty cache: run the prefix again */
            dc_model_forward(ctx, m, dc_wrap(ctx, DC_I64, 2, DC_SHAPE(1, t), ids));
            dc_ctx_reset(ctx);
        }
        CHECK(!dc_model_forward(ctx, m, dc_wrap(ctx, DC_I64, 2, DC_SHAPE(1, 1), ids)) &&
                  strstr(dc_last_error(), "max_len"), "past the context: %s", dc_last_error());
        dc_model_set_kv_cache(m, 0);
    }
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_spec_free(s);
}

/* A tiny GPT (gpt_spec) trained 4 AdamW steps (lr 1e-2, weight decay 0.01, clip 1) from
 * PyTorch's given weights on given ids: the losses and every final weight match PyTorch's. */
__attribute__((constructor)) static void nnn_gpt_adamw(void) { nn_note("gpt_adamw"); }
TEST(tf_ref_gpt_adamw)
{
    char key[200];
    dc_tdict *d = t_ref_load(t_ref_dir("transformer_nn"), "gpt_adamw");
    dc_spec *s = dc_spec_parse_string(gpt_spec, "gpt.spec");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    dc_optim_cfg oc = dc_optim_defaults(DC_ADAMW);
    oc.lr = 1e-2f;
    oc.weight_decay = 0.01f;
    dc_optim *opt = m ? dc_optim_new(m, &oc) : NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(d && s && m && opt && ctx);
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        snprintf(key, sizeof key, "init.%s", t->name);
        const dc_tensor *f = dc_tdict_get(d, key);
        CHECK(f && dc_same_shape(f, t), "gpt_adamw: no %s of the right shape", key);
        if (f && dc_same_shape(f, t))
            memcpy(t->data, f->data, (size_t)t->numel * 4);
    }
    const dc_tensor *x = dc_tdict_get(d, "x"), *y = dc_tdict_get(d, "y");
    const dc_tensor *loss = dc_tdict_get(d, "loss");
    REQUIRE(x && y && loss && loss->numel == 4);
    dc_ctx_set_training(ctx, 1);
    for (int step = 0; step < 4; step++) {
        dc_tensor *lg = dc_model_forward(ctx, m, (dc_tensor *)x);
        dc_tensor *tgt = dc_wrap(ctx, DC_I64, 1, DC_SHAPE(48), y->data);
        dc_tensor *l = dc_cross_entropy(ctx, dc_reshape(ctx, lg, 2, DC_SHAPE(48, 11)), tgt, NULL);
        REQUIRE(l);
        CHECK_NEAR(dc_f32(l)[0], dc_f32(loss)[step], 1e-5);
        dc_optim_zero_grad(opt);
        REQUIRE(dc_backward(ctx, l) == DC_OK);
        dc_clip_grad_norm(m, 1.0f);
        REQUIRE(dc_optim_step(opt) == DC_OK);
        dc_ctx_reset(ctx);
    }
    /* The key bias (rows E..2E of in_proj_bias) has a true gradient of 0 - adding a constant
     * to every score of a row leaves the softmax as it is - so either side's gradient there is
     * rounding noise (1e-17 in PyTorch's float64, 1e-9 in float32), which Adam divides by
     * √v + eps and turns into steps of up to about lr on each side: those 8 values are only
     * checked to lie within 2 · 4 steps · lr = 0.08 of PyTorch's. Every other weight must
     * match. */
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        snprintf(key, sizeof key, "final.%s", t->name);
        const dc_tensor *want = dc_tdict_get(d, key);
        if (!strstr(t->name, "in_proj_bias") || !want || want->numel != 24) {
            t_ref_compare("gpt_adamw", key, t, t->data, want);
            continue;
        }
        float got[24], ref[24];
        memcpy(got, t->data, sizeof got);
        memcpy(ref, want->data, sizeof ref);
        for (int k = 8; k < 16; k++) {
            CHECK(fabsf(got[k] - ref[k]) < 0.08f, "%s[%d] moved too far", key, k);
            got[k] = ref[k];
        }
        CHECK_ALLCLOSE(key, got, ref, 24, T_REF_RTOL, T_REF_ATOL);
    }
    dc_ctx_free(ctx);
    dc_optim_free(opt);
    dc_model_free(m);
    dc_spec_free(s);
    dc_tdict_free(d);
}
