/*
 * test_tf_interop.c - PyTorch modules and deepc specs of the Transformer and BERT types are one
 * model (tests/ref/spec_torch/, written by tests/ref/gen_spec_torch.py): the state_dict of the
 * module tools/spec_torch.py built from a spec loads strictly into deepc's build of that spec
 * and gives the module's outputs; so does a plain PyTorch char-GPT written as the W7 workload
 * writes it (its causal-mask buffer dropped on export, as docs/transformer.md says). deepc's
 * saved weights hold exactly the same names, so they go back just as strictly.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static const char *const CASES[] = {"tf_encdec", "tf_seqfirst", "tf_mha_causal", "bert_mlm",
                                    "bert_pool", "w7_chargpt"};
#define N_CASES ((int)(sizeof CASES / sizeof *CASES))

/* Build DIR/<name>.spec, load <name>.safetensors strictly, run x of <name>_io, compare y; then
 * save and check that the saved file loads strictly again (the names go back unchanged). */
static void same_outputs(const char *name)
{
    const char *dir = t_ref_dir("spec_torch");
    char spec[700], w[700], io[700], saved[700];
    snprintf(spec, sizeof spec, "%s/%s.spec", dir, name);
    snprintf(w, sizeof w, "%s/%s.safetensors", dir, name);
    snprintf(io, sizeof io, "%s_io", name);
    snprintf(saved, sizeof saved, "%s/%s.safetensors", t_tmpdir(), name);
    dc_rng rng;
    dc_rng_seed(&rng, 3, 0);
    dc_spec *s = dc_spec_parse_file(spec);
    dc_model *m = s ? dc_spec_build(s, &rng) : NULL;
    dc_tdict *d = t_ref_load(dir, io);
    dc_ctx *ctx = dc_ctx_new(0);
    CHECK(m != NULL, "%s: %s", spec, dc_last_error());
    if (m && d && ctx) {
        dc_load_report rep;
        memset(&rep, 0, sizeof rep);
        dc_status st = dc_model_load(m, w, 1, &rep);
        CHECK(st == DC_OK, "%s: PyTorch's state_dict does not load strictly: %s", name,
              dc_last_error());
        dc_ctx_set_grad(ctx, 0);
        dc_ctx_set_training(ctx, 0);
        dc_tensor *x = dc_tdict_get(d, "x"), *want = dc_tdict_get(d, "y");
        dc_tensor *y = st == DC_OK && x ? dc_model_forward(ctx, m, x) : NULL;
        CHECK(y != NULL || st != DC_OK, "%s: forward: %s", name, dc_last_error());
        if (y && want)
            t_ref_compare(name, "y", y, dc_f32(y), want);
        CHECK(dc_model_save(m, saved) == DC_OK && dc_model_load(m, saved, 1, &rep) == DC_OK,
              "%s: deepc's saved weights do not load strictly: %s", name, dc_last_error());
    }
    dc_ctx_free(ctx);
    dc_tdict_free(d);
    dc_model_free(m);
    dc_spec_free(s);
}

TEST(tf_interop_spec_torch_modules_load_strictly_and_agree)
{
    for (int i = 0; i < N_CASES - 1; i++)
        same_outputs(CASES[i]);
}

TEST(tf_interop_w7_pytorch_chargpt_loads_strictly_and_agrees)
{
    same_outputs("w7_chargpt");
    /* the file is W7's state_dict less its mask buffer: a mask in it would not load strictly */
    dc_tdict *d = t_ref_load(t_ref_dir("spec_torch"), "w7_chargpt");
    CHECK(d && !dc_tdict_get(d, "mask") && dc_tdict_get(d, "blocks.layers.1.norm2.weight") &&
              dc_tdict_get(d, "pos.weight"),
          "w7_chargpt.safetensors: W7's names without 'mask' expected");
    dc_tdict_free(d);
}

TEST(tf_interop_every_reference_has_a_test)
{
    DIR *dir = opendir(t_ref_dir("spec_torch"));
    REQUIRE(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".spec"))
            continue;
        int known = 0;
        for (int i = 0; i < N_CASES; i++)
            known |= len == strlen(CASES[i]) + 5 && !strncmp(e->d_name, CASES[i], len - 5);
        CHECK(known, "tests/ref/spec_torch/%s has no check in tests/test_tf_interop.c",
              e->d_name);
        n++;
    }
    closedir(dir);
    CHECK(n == N_CASES, "tests/ref/spec_torch/ has %d specs, the test knows %d", n, N_CASES);
}
