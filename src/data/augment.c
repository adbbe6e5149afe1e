/*
 * augment.c - random crops with padding and horizontal flips of an image batch, the two
 * augmentations of the CIFAR ResNet recipe (He et al. 2015, section 4.2), done in place on the
 * normalised float batch.
 *
 * torchvision's RandomCrop(size, padding=p) pads the image with black (byte 0) before ToTensor and
 * Normalize; here the batch is already normalised, so the padding takes each image's smallest value,
 * which is black for any image that has a black pixel (all of Fashion-MNIST's backgrounds).
 */
#include "core/internal.h"

#include <string.h>

/* Parse "crop=N,flip" (either part optional; "none" or "" turns both off). */
dc_status dc_augment_parse(const char *s, dc_augment *a)
{
    memset(a, 0, sizeof *a);
    if (!s || !*s || !strcmp(s, "none"))
        return DC_OK;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 4 && !strncmp(p, "flip", 4)) {
            a->hflip = 1;
        } else if (n > 5 && !strncmp(p, "crop=", 5)) {
            int v = 0;
            for (size_t i = 5; i < n; i++) {
                if (p[i] < '0' || p[i] > '9' || v > 1000)
                    return dc_err(DC_ERR_ARG, "augment '%s': crop=N needs a padding 0..1000", s);
                v = v * 10 + (p[i] - '0');
            }
            if (v > 1000)
                return dc_err(DC_ERR_ARG, "augment '%s': crop=N needs a padding 0..1000", s);
            a->crop_pad = v;
        } else {
            return dc_err(DC_ERR_ARG, "augment '%s': expected a comma list of crop=N and flip, "
                          "or none", s);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return DC_OK;
}

/* One image [C, H, W] → dst: shifted by (dy, dx) with padding `fill`, mirrored when flip. */
static void augment_one(const float *restrict src, float *restrict dst, int64_t C, int64_t H,
                        int64_t W, int64_t dy, int64_t dx, int flip, float fill)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < H; i++) {
            const int64_t si = i + dy;
            float *restrict d = dst + (c * H + i) * W;
            const float *restrict s = src + (c * H + si) * W;
            for (int64_t j = 0; j < W; j++) {
                const int64_t sj = (flip ? W - 1 - j : j) + dx;
                d[j] = si >= 0 && si < H && sj >= 0 && sj < W ? s[sj] : fill;
            }
        }
}

dc_status dc_augment_images(dc_ctx *ctx, dc_tensor *x, const dc_augment *a, dc_rng *rng)
{
    if (!x || !a || !rng)
        return dc_err(DC_ERR_ARG, "augment: NULL argument");
    if (a->crop_pad <= 0 && !a->hflip)
        return DC_OK;
    if (x->dtype != DC_F32 || x->ndim != 4) {
        char s[96];
        return dc_err(DC_ERR_SHAPE, "augment: expected a float image batch [N, C, H, W], got %s",
                      dc_shape_str(x, s, sizeof s));
    }
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t per = C * H * W, pad = a->crop_pad;
    float *tmp = dc_ctx_alloc(ctx, sizeof(float) * (size_t)(per > 0 ? per : 1));
    if (!tmp)
        return DC_ERR_NOMEM;
    for (int64_t n = 0; n < N; n++) {
        /* draws in a fixed order per image: shift y, shift x, flip */
        const int64_t dy = pad > 0 ? (int64_t)dc_rng_below(rng, (uint32_t)(2 * pad + 1)) - pad : 0;
        const int64_t dx = pad > 0 ? (int64_t)dc_rng_below(rng, (uint32_t)(2 * pad + 1)) - pad : 0;
        const int flip = a->hflip ? (int)dc_rng_below(rng, 2) : 0;
        float *img = dc_f32(x) + n * per;
        if (per == 0 || (dy == 0 && dx == 0 && !flip))
            continue;
        float fill = img[0];
        for (int64_t i = 1; i < per; i++)
            fill = img[i] < fill ? img[i] : fill;
        memcpy(tmp, img, sizeof(float) * (size_t)per);
        augment_one(tmp, img, C, H, W, dy, dx, flip, fill);
    }
    return DC_OK;
}
