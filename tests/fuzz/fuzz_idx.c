/*
 * fuzz_idx.c - libFuzzer harness for dc_idx_load (an MNIST-style pair of IDX files).
 *
 * Input layout: one mode byte, a little-endian uint32 L, then L bytes of the images file and the
 * rest as the labels file (L is cut to what is there). Mode bit 0 gzip-compresses the images
 * file, bit 1 the labels file, before they are written: the loader detects gzip itself, so the
 * fuzzer reaches the IDX parser through both the raw and the zlib path (and raw bytes that
 * happen to be gzip take the zlib path too).
 *
 * A pair that loads must be consistent: sizes within the documented bounds, every label below
 * n_classes, pixels and labels readable to the end.
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode = fuzz_byte(&data, &size);
    size_t n_img = fuzz_u32(&data, &size);
    if (n_img > size)
        n_img = size;
    const uint8_t *lab = data + n_img;
    size_t n_lab = size - n_img;
    const char *ip = mode & 1 ? fuzz_tmp_write_gz(0, data, n_img) : fuzz_tmp_write(0, data, n_img);
    const char *lp = mode & 2 ? fuzz_tmp_write_gz(1, lab, n_lab) : fuzz_tmp_write(1, lab, n_lab);

    dc_images im;
    dc_clear_error();
    dc_status st = dc_idx_load(ip, lp, &im);
    if (st != DC_OK) {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "no error message");
        FUZZ_CHECK(!im.pixels && !im.labels, "a failed load left buffers");
        dc_clear_error();
        return 0;
    }
    FUZZ_CHECK(im.n >= 1 && im.c == 1 && im.h >= 1 && im.w >= 1 && im.h <= 4096 && im.w <= 4096,
               "sizes n %lld c %lld h %lld w %lld", (long long)im.n, (long long)im.c,
               (long long)im.h, (long long)im.w);
    FUZZ_CHECK(im.n_classes >= 1 && im.n_classes <= 256, "n_classes %d", im.n_classes);
    for (int64_t i = 0; i < im.n; i++)
        FUZZ_CHECK(im.labels[i] >= 0 && im.labels[i] < im.n_classes, "label %lld",
                   (long long)im.labels[i]);
    volatile uint8_t last = im.pixels[im.n * im.c * im.h * im.w - 1];
    (void)last;
    dc_images_free(&im);
    return 0;
}
