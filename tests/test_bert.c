/*
 * test_bert.c - BERT against the plain-PyTorch re-implementation of Hugging Face's
 * BertForPreTraining in tests/ref/gen_bert.py: the spec builds the same state_dict names and
 * shapes; on a padded batch with segment ids the last hidden state, the pooled output, the MLM
 * and NSP logits, the pre-training loss and the gradient of every parameter match.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define BERT_REF "tests/ref/bert"

typedef struct bert_fixture {
    dc_spec *spec;
    dc_model *m;
    dc_tdict *ref;
} bert_fixture;

static void fixture_free(bert_fixture *f)
{
    dc_model_free(f->m);
    dc_spec_free(f->spec);
    dc_tdict_free(f->ref);
}

/* The tiny spec built, with the reference weights copied in by name: 1, or 0 after a failed
 * check. Every model tensor must be in the file with its shape. */
static int fixture_load(bert_fixture *f)
{
    memset(f, 0, sizeof *f);
    f->spec = dc_spec_parse_file(BERT_REF "/tiny.spec");
    f->m = f->spec ? dc_spec_build(f->spec, NULL) : NULL;
    f->ref = dc_safetensors_read(BERT_REF "/pretrain.safetensors");
    CHECK(f->m && f->ref, "tiny BERT: %s", dc_last_error());
    if (!f->m || !f->ref)
        return 0;
    int ok = 1;
    for (int i = 0; i < dc_model_n_tensors(f->m); i++) {
        dc_tensor *t = dc_model_tensor(f->m, i);
        const dc_tensor *r = dc_tdict_get(f->ref, t->name);
        CHECK(r && r->numel == t->numel, "%s: missing from the reference or of another size",
              t->name);
        if (r && r->numel == t->numel)
            memcpy(t->data, r->data, sizeof(float) * (size_t)t->numel);
        else
            ok = 0;
    }
    return ok;
}

/* The output of the module called name. */
static dc_tensor *out_of(const bert_fixture *f, dc_tensor **outs, const char *name)
{
    int i = dc_model_find_module(f->m, name);
    CHECK(i >= 0, "no layer %s", name);
    return i >= 0 ? outs[i] : NULL;
}

static void compare(const char *what, const dc_tensor *got, const dc_tensor *want)
{
    CHECK(got && want && got->numel == want->numel, "%s: missing or of another size", what);
    if (got && want && got->numel == want->numel)
        t_allclose(__FILE__, __LINE__, what, dc_f32(got), dc_f32(want), got->numel, T_REF_RTOL,
                   T_REF_ATOL);
}

/* MLM cross-entropy over [N·T, V] with ignore_index -100, plus NSP cross-entropy. */
static dc_tensor *pretrain_loss(dc_ctx *ctx, dc_tensor *mlm, dc_tensor *nsp,
                                const bert_fixture *f)
{
    const dc_tensor *ml = dc_tdict_get(f->ref, "mlm_labels"), *nl = dc_tdict_get(f->ref,
                                                                              "nsp_labels");
    if (!mlm || !nsp || !ml || !nl)
        return NULL;
    const int64_t V = mlm->shape[2], NT = mlm->shape[0] * mlm->shape[1];
    dc_tensor *labels = dc_reshape(ctx, (dc_tensor *)ml, 1, DC_SHAPE(NT));
    dc_tensor *a = dc_cross_entropy(ctx, dc_reshape(ctx, mlm, 2, DC_SHAPE(NT, V)), labels, NULL);
    return dc_add(ctx, a, dc_cross_entropy(ctx, nsp, (dc_tensor *)nl, NULL));
}

TEST(bert_pretraining_forward_and_every_gradient_match_pytorch)
{
    bert_fixture f;
    if (!fixture_load(&f)) {
        fixture_free(&f);
        return;
    }
    dc_ctx *ctx = dc_ctx_new(1);
    dc_ctx_set_training(ctx, 1); /* dropout is 0 in the spec: training = eval here */
    const int nm = dc_model_n_modules(f.m);
    dc_tensor **outs = dc_ctx_alloc(ctx, sizeof *outs * (size_t)nm);
    dc_tensor *x = dc_tdict_get(f.ref, "input");
    CHECK(outs && x && dc_model_forward_all(ctx, f.m, x, outs), "forward: %s", dc_last_error());
    if (!outs || !x || t_failed()) {
        dc_ctx_free(ctx);
        fixture_free(&f);
        return;
    }
    compare("last hidden state", out_of(&f, outs, "bert.encoder.layer.1"),
            dc_tdict_get(f.ref, "out.hidden"));
    compare("pooled output", out_of(&f, outs, "bert.pooler"), dc_tdict_get(f.ref, "out.pooled"));
    dc_tensor *mlm = out_of(&f, outs, "cls.predictions");
    dc_tensor *nsp = out_of(&f, outs, "cls.seq_relationship");
    compare("MLM logits", mlm, dc_tdict_get(f.ref, "out.mlm"));
    compare("NSP logits", nsp, dc_tdict_get(f.ref, "out.nsp"));
    dc_tensor *loss = pretrain_loss(ctx, mlm, nsp, &f);
    compare("MLM + NSP loss", loss, dc_tdict_get(f.ref, "out.loss"));
    CHECK(loss && dc_backward(ctx, loss) == DC_OK, "backward: %s", dc_last_error());
    for (int i = 0; i < dc_model_n_tensors(f.m) && loss; i++) {
        dc_tensor *t = dc_model_tensor(f.m, i);
        char key[256];
        snprintf(key, sizeof key, "grad.%s", t->name);
        const dc_tensor *g = dc_tdict_get(f.ref, key);
        CHECK(g && t->grad, "%s: no gradient (reference %s)", t->name, g ? "has one" : "missing");
        if (g && t->grad)
            t_allclose(__FILE__, __LINE__, key, t->grad, dc_f32(g), t->numel, T_REF_RTOL,
                       T_REF_ATOL);
    }
    dc_ctx_free(ctx);
    fixture_free(&f);
}

TEST(bert_state_dict_names_are_hugging_faces)
{
    bert_fixture f;
    if (!fixture_load(&f)) {
        fixture_free(&f);
        return;
    }
    static const char *const names[] = {
        "bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
        "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
        "bert.encoder.layer.0.attention.self.query.weight",
        "bert.encoder.layer.1.attention.self.value.bias",
        "bert.encoder.layer.0.attention.output.dense.weight",
        "bert.encoder.layer.0.attention.output.LayerNorm.bias",
        "bert.encoder.layer.1.intermediate.dense.weight", "bert.encoder.layer.1.output.dense.bias",
        "bert.encoder.layer.1.output.LayerNorm.weight", "bert.pooler.dense.weight",
        "cls.predictions.transform.dense.weight", "cls.predictions.transform.LayerNorm.bias",
        "cls.predictions.bias", "cls.seq_relationship.weight",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        CHECK(dc_model_find(f.m, names[i]) != NULL, "no parameter %s", names[i]);
    /* the decoder is the word embedding table, stored once (Hugging Face ties them) */
    CHECK(dc_model_find(f.m, "cls.predictions.decoder.weight") == NULL,
          "the tied decoder weight must not be a second parameter");
    int n_ref = 0; /* every parameter of the reference model, and no other */
    for (int i = 0; i < f.ref->n; i++)
        n_ref += !strncmp(f.ref->names[i], "grad.", 5);
    CHECK(n_ref == dc_model_n_tensors(f.m), "reference has %d parameters, deepc %d", n_ref,
          dc_model_n_tensors(f.m));
    fixture_free(&f);
}

TEST(bert_bad_input_names_the_layer_and_the_shape)
{
    bert_fixture f;
    if (!fixture_load(&f)) {
        fixture_free(&f);
        return;
    }
    dc_ctx *ctx = dc_ctx_new(1);
    dc_tensor *x = dc_zeros(ctx, DC_F32, 2, DC_SHAPE(1, 9));
    CHECK(!dc_model_forward(ctx, f.m, x) && strstr(dc_last_error(), "bert.embeddings") &&
              strstr(dc_last_error(), "int64"),
          "float input: %s", dc_last_error());
    dc_ctx_reset(ctx);
    dc_tensor *long_x = dc_zeros(ctx, DC_I64, 2, DC_SHAPE(1, 17)); /* 16 positions */
    CHECK(!dc_model_forward(ctx, f.m, long_x) && strstr(dc_last_error(), "positions"),
          "17 tokens for 16 positions: %s", dc_last_error());
    dc_ctx_free(ctx);
    fixture_free(&f);
}

TEST(bert_loads_older_checkpoint_names_strictly)
{
    bert_fixture f;
    if (!fixture_load(&f)) {
        fixture_free(&f);
        return;
    }
    dc_model *m2 = dc_spec_build(f.spec, NULL);
    dc_load_report rep;
    dc_status st = m2 ? dc_model_load(m2, BERT_REF "/legacy_names.safetensors", 1, &rep)
                      : DC_ERR_STATE;
    CHECK(st == DC_OK, "strict load of gamma/beta, tied decoder and position_ids names: %s",
          dc_last_error());
    for (int i = 0; st == DC_OK && i < dc_model_n_tensors(m2); i++) {
        const dc_tensor *a = dc_model_tensor(m2, i), *b = dc_model_tensor(f.m, i);
        CHECK(!memcmp(a->data, b->data, sizeof(float) * (size_t)a->numel),
              "%s differs from the same weights under today's names", a->name);
    }
    /* a key that is neither a tensor nor an alias is still refused */
    char path[512];
    snprintf(path, sizeof path, "%s/extra.safetensors", t_tmpdir());
    dc_tensor *one = dc_tensor_new(DC_F32, 1, DC_SHAPE(1));
    const char *names[] = {"bert.embeddings.LayerNorm.gamma2"};
    const dc_tensor *ts[] = {one};
    CHECK(dc_safetensors_write(path, 1, names, ts) == DC_OK, "%s", dc_last_error());
    CHECK(dc_model_load(m2, path, 1, &rep) == DC_ERR_FORMAT && rep.n_unexpected == 1,
          "an unknown key must make a strict load fail: %s", dc_last_error());
    dc_tensor_free(one);
    dc_model_free(m2);
    fixture_free(&f);
}
