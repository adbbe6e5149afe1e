/*
 * fuzz_checkpoint.c - libFuzzer harness for the checkpoint reader (src/train/checkpoint.c): the
 * input is a whole DIR/checkpoint file (a .safetensors file with deepc's metadata).
 *
 * dc_checkpoint_peek must accept or refuse it with a message; a file that peeks is then loaded
 * into a small fixed model with its optimizer, scheduler and data order, which must either succeed
 * or leave the model exactly as it was (the loader verifies everything before changing anything).
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *SPEC = "[input]\nshape = 4\n[linear fc1]\nout_features = 3\n[batchnorm1d bn]\n"
                          "[linear fc2]\nout_features = 2\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_write(0, data, size);
    dc_checkpoint_info info;
    dc_clear_error();
    if (dc_checkpoint_peek(path, &info) != DC_OK) {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "no error message");
        dc_clear_error();
        return 0;
    }
    FUZZ_CHECK(info.spec && info.args, "a verified checkpoint has its spec and args");
    dc_checkpoint_info_free(&info);
    dc_spec *s = dc_spec_parse_string(SPEC, "fuzz.spec");
    dc_model *m = s ? dc_spec_build(s, NULL) : NULL;
    dc_optim_cfg oc = dc_optim_defaults(DC_ADAM);
    dc_optim *o = m ? dc_optim_new(m, &oc) : NULL;
    dc_sched_cfg sc = dc_sched_defaults(DC_SCHED_COSINE);
    sc.t_max = 10;
    dc_sched *sch = o ? dc_sched_new(o, &sc) : NULL;
    dc_tensor *order = dc_tensor_new(DC_I64, 1, DC_SHAPE(8));
    FUZZ_CHECK(s && m && o && sch && order, "setup: %s", dc_last_error());
    for (int i = 0; i < dc_model_n_tensors(m); i++) /* a recognisable state */
        if (dc_model_tensor(m, i)->dtype == DC_F32)
            dc_tensor_fill(dc_model_tensor(m, i), 0.25f);
    if (dc_checkpoint_load(path, m, o, sch, &info, order) == DC_OK) {
        for (int64_t i = 0; i < order->numel; i++)
            FUZZ_CHECK(dc_i64(order)[i] >= 0 && dc_i64(order)[i] < 8, "order[%lld] out of range",
                       (long long)i);
        dc_checkpoint_info_free(&info);
    } else {
        for (int i = 0; i < dc_model_n_tensors(m); i++) {
            const dc_tensor *t = dc_model_tensor(m, i);
            for (int64_t k = 0; t->dtype == DC_F32 && k < t->numel; k++)
                FUZZ_CHECK(dc_f32(t)[k] == 0.25f, "a refused checkpoint changed %s", t->name);
        }
        dc_clear_error();
    }
    dc_tensor_free(order);
    dc_sched_free(sch);
    dc_optim_free(o);
    dc_model_free(m);
    dc_spec_free(s);
    return 0;
}
