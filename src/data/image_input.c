/*
 * image_input.c - one decoded image (dc_image_read) as a model input: the bilinear resize, gray
 * conversion and normalisation `deepc predict` applies, and the light-background test that tells
 * a dark-on-light photo from Fashion-MNIST's light-on-black images.
 */
#include "core/internal.h"

#include <math.h>

/* ITU-R 601 luma of pixel p (1 or 3 channels), 0..255 */
static double luma(const uint8_t *p, int channels)
{
    return channels == 1 ? p[0] : 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
}

/* Bilinear sample of channel c (or luma when gray) at (fy, fx), the edge repeated. */
static double sample(const uint8_t *src, int w, int h, int channels, int gray, int64_t c,
                     double fy, double fx)
{
    const int y0 = (int)floor(fy), x0 = (int)floor(fx);
    const double wy = fy - y0, wx = fx - x0;
    double acc = 0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            const int yy = y0 + dy < 0 ? 0 : (y0 + dy >= h ? h - 1 : y0 + dy);
            const int xx = x0 + dx < 0 ? 0 : (x0 + dx >= w ? w - 1 : x0 + dx);
            const uint8_t *p = src + ((size_t)yy * (size_t)w + (size_t)xx) * (size_t)channels;
            const double v = channels == 1 ? p[0] : gray ? luma(p, channels) : p[c < channels ? c : 0];
            acc += v * (dy ? wy : 1 - wy) * (dx ? wx : 1 - wx);
        }
    return acc;
}

dc_status dc_image_to_input(const uint8_t *pixels, int w, int h, int channels, int64_t C,
                            int64_t H, int64_t W, float mean, float std, int invert, float *out)
{
    if (!pixels || !out || w < 1 || h < 1 || (channels != 1 && channels != 3) || C < 1 ||
        H < 1 || W < 1 || C * H * W > (INT64_C(1) << 31) || !(std > 0) || !isfinite(mean))
        return dc_err(DC_ERR_ARG, "image_to_input: need pixels [%d, %d, %d] with 1 or 3 "
                      "channels, an output [%lld, %lld, %lld] and std > 0 (got %g)", h, w,
                      channels, (long long)C, (long long)H, (long long)W, (double)std);
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                const double fy = ((double)y + 0.5) * h / (double)H - 0.5;
                const double fx = ((double)x + 0.5) * w / (double)W - 0.5;
                double v = sample(pixels, w, h, channels, C == 1, c, fy, fx) / 255.0;
                if (invert)
                    v = 1.0 - v;
                out[(c * H + y) * W + x] = (float)((v - mean) / std);
            }
    return DC_OK;
}

int dc_image_light_background(const uint8_t *pixels, int w, int h, int channels, double *border,
                              double *centre)
{
    /* border: the outer eighth on every side (at least one pixel); centre: the middle half */
    const int bw = w / 8 > 0 ? w / 8 : 1, bh = h / 8 > 0 ? h / 8 : 1;
    double sb = 0, sc = 0;
    int64_t nb = 0, nc = 0;
    for (int y = 0; pixels && y < h; y++)
        for (int x = 0; x < w; x++) {
            const double v = luma(pixels + ((size_t)y * (size_t)w + (size_t)x) * (size_t)channels,
                                  channels) / 255.0;
            if (y < bh || y >= h - bh || x < bw || x >= w - bw) {
                sb += v;
                nb++;
            } else if (y >= h / 4 && y < h - h / 4 && x >= w / 4 && x < w - w / 4) {
                sc += v;
                nc++;
            }
        }
    const double mb = nb ? sb / (double)nb : 0, mc = nc ? sc / (double)nc : mb;
    if (border)
        *border = mb;
    if (centre)
        *centre = mc;
    return mb > 0.6 && mb > mc + 0.1;
}
