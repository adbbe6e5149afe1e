/*
 * fuzz_image.c - libFuzzer harness for dc_image_read: the input is a whole PNG, PGM (P5) or PPM
 * (P6) file.
 *
 * An image that loads must have sides in 1..16384, 1 or 3 channels, and w·h·channels readable
 * pixels (ASan checks the last one).
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_write(0, data, size);
    int w = 0, h = 0, c = 0;
    uint8_t *px = NULL;
    dc_clear_error();
    if (dc_image_read(path, &w, &h, &c, &px) != DC_OK) {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "no error message");
        dc_clear_error();
        return 0;
    }
    FUZZ_CHECK(w >= 1 && h >= 1 && w <= 16384 && h <= 16384 && (c == 1 || c == 3) && px,
               "image %d x %d x %d", w, h, c);
    volatile uint8_t last = px[(size_t)w * (size_t)h * (size_t)c - 1];
    (void)last;
    free(px);
    return 0;
}
