/*
 * test_g2p_ref.c - the GRU + Luong-attention seq2seq (the layers of models/g2p_gru at small
 * sizes) against PyTorch (tests/ref/gen_g2p.py): the logits of a padded batch, the cross-entropy
 * over its non-padding targets and the gradient of every parameter, and the decoder step: the
 * logits of each next token after a prefix (deepc runs the decoder over the prefix; PyTorch steps
 * a GRUCell with the state carried) - the same numbers within the suite's tolerance.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdio.h>
#include <string.h>

#define REF_SPEC                                                                               \
    "[input]\nshape = 2, 6\ndtype = int64\n[select src_ids]\nindex = 0\ntrim_padding = 0\n"     \
    "[embedding src_embed]\nnum_embeddings = 11\nembedding_dim = 5\npadding_idx = 0\n"          \
    "[gru encoder]\nhidden_size = 4\nbidirectional = true\n[select tgt_ids]\ninput = input\n"   \
    "index = 1\n[embedding tgt_embed]\nnum_embeddings = 11\nembedding_dim = 5\n"                \
    "padding_idx = 0\n[gru decoder]\nhidden_size = 8\n[luongattention attn]\n"                  \
    "input = decoder, encoder, src_ids\nmemory_size = 8\npadding_idx = 0\n[linear head]\n"      \
    "out_features = 11\n"

TEST(g2p_ref_gru_attention_matches_pytorch)
{
    const char *dir = t_ref_dir("g2p");
    char path[700];
    snprintf(path, sizeof path, "%s/gru_attn.safetensors", dir);
    dc_tdict *d = t_ref_load(dir, "gru_attn");
    REQUIRE(d);
    dc_spec *s = dc_spec_parse_string(REF_SPEC, "ref.spec");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    dc_spec_free(s);
    REQUIRE(m);
    dc_load_report rep;
    REQUIRE(dc_model_load(m, path, 0, &rep) == DC_OK);
    CHECK(rep.n_loaded == dc_model_n_tensors(m) && rep.n_missing == 0, "loaded %d of %d: %s",
          rep.n_loaded, dc_model_n_tensors(m), rep.text);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *x = dc_tdict_get(d, "x"), *tgt = dc_tdict_get(d, "tgt");
    REQUIRE(x && tgt);
    dc_tensor *logits = dc_model_forward(ctx, m, x);
    t_ref_compare("gru_attn", "logits", logits, logits ? logits->data : NULL,
                  dc_tdict_get(d, "logits"));
    dc_tensor *l = dc_seq2seq_loss_ids(ctx, logits, tgt, NULL, NULL);
    REQUIRE(l);
    t_ref_compare("gru_attn", "loss", l, l->data, dc_tdict_get(d, "loss"));
    dc_model_zero_grad(m);
    REQUIRE(dc_backward(ctx, l) == DC_OK);
    static const char *const names[] = {
        "src_embed.weight", "encoder.weight_ih_l0", "encoder.weight_hh_l0",
        "encoder.bias_ih_l0", "encoder.bias_hh_l0", "encoder.weight_ih_l0_reverse",
        "encoder.weight_hh_l0_reverse", "encoder.bias_ih_l0_reverse",
        "encoder.bias_hh_l0_reverse", "tgt_embed.weight", "decoder.weight_ih_l0",
        "decoder.weight_hh_l0", "decoder.bias_ih_l0", "decoder.bias_hh_l0",
        "attn.linear_in.weight", "attn.linear_out.weight", "head.weight", "head.bias"};
    CHECK(dc_model_n_tensors(m) == 18, "%d tensors", dc_model_n_tensors(m));
    for (int i = 0; i < 18; i++) {
        dc_tensor *p = dc_model_find(m, names[i]);
        char name[200];
        snprintf(name, sizeof name, "d.%s", names[i]);
        dc_tensor *want = dc_tdict_get(d, name);
        CHECK(p && want, "%s: model %p, reference %p", names[i], (void *)p, (void *)want);
        if (p && want)
            t_ref_compare("gru_attn", name, p, p->grad, want);
    }
    /* the decoder step */
    dc_tensor *src = dc_tdict_get(d, "step_src"), *pre = dc_tdict_get(d, "step_prefix");
    dc_tensor *want = dc_tdict_get(d, "step_logits");
    REQUIRE(src && pre && want);
    float got[5 * 11];
    int64_t V = 0;
    dc_ctx_set_grad(ctx, 0);
    for (int64_t t = 0; t < pre->shape[0]; t++) {
        dc_ctx_reset(ctx);
        REQUIRE(dc_seq2seq_next_logits(ctx, m, dc_i64(src), src->shape[0], dc_i64(pre), 1,
                                       pre->shape[0], t, got + t * 11, &V) == DC_OK);
    }
    CHECK_ALLCLOSE("decoder step logits", got, dc_f32(want), 5 * 11, T_REF_RTOL, T_REF_ATOL);
    dc_ctx_free(ctx);
    dc_model_free(m);
    dc_tdict_free(d);
}
