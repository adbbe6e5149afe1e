/*
 * fuzz_vocab.c - libFuzzer harness for dc_vocab_load: the input is a whole vocabulary file
 * ("deepc-vocab 1", a count, then one byte in two hex digits per line).
 *
 * A vocabulary that loads must be a bijection between ids 0..n-1 and n distinct bytes.
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_write(0, data, size);
    dc_vocab v;
    dc_clear_error();
    if (dc_vocab_load(path, &v) != DC_OK) {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "no error message");
        dc_clear_error();
        return 0;
    }
    FUZZ_CHECK(v.n >= 1 && v.n <= DC_VOCAB_MAX, "n %d", v.n);
    int mapped = 0;
    for (int b = 0; b < 256; b++) {
        int id = v.to_id[b];
        FUZZ_CHECK(id >= -1 && id < v.n, "to_id[%d] = %d", b, id);
        if (id >= 0) {
            FUZZ_CHECK(v.to_byte[id] == b, "to_byte[%d] = %d, not %d", id, v.to_byte[id], b);
            mapped++;
        }
    }
    FUZZ_CHECK(mapped == v.n, "%d bytes mapped for %d ids", mapped, v.n);
    return 0;
}
