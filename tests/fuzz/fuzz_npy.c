/*
 * fuzz_npy.c - libFuzzer harness for dc_npy_load: the input is a whole .npy file.
 *
 * A file that loads must give a consistent tensor: numel equal to the product of the shape, a
 * float32 or int64 dtype and data that can be read to the end (ASan checks the last element).
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_write(0, data, size);
    dc_clear_error();
    dc_tensor *t = dc_npy_load(path);
    if (!t) {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "no error message");
        dc_clear_error();
        return 0;
    }
    int64_t numel = 1;
    FUZZ_CHECK(t->ndim >= 0 && t->ndim <= DC_MAX_DIMS, "ndim %d", t->ndim);
    for (int i = 0; i < t->ndim; i++)
        numel *= t->shape[i];
    FUZZ_CHECK(numel == t->numel, "numel %lld, shape product %lld", (long long)t->numel,
               (long long)numel);
    FUZZ_CHECK(t->dtype == DC_F32 || t->dtype == DC_I64, "dtype %d", (int)t->dtype);
    if (t->numel > 0) {
        volatile uint8_t last = ((const uint8_t *)t->data)[t->numel * (t->dtype == DC_I64 ? 8 : 4)
                                                             - 1];
        (void)last;
    }
    dc_tensor_free(t);
    return 0;
}
