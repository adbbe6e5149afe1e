/*
 * png.c - just enough PNG (and PGM/PPM) for pictures of images, filters and feature maps, and for
 * reading an image to classify. Writing: 8-bit gray or RGB, filter 0, zlib. Reading: 8-bit gray,
 * gray+alpha, RGB and RGBA, non-interlaced, all five filters; PGM/PPM (P5/P6,
 * maxval <= 255). Every length is checked against the file; sizes are capped at 16384 x 16384.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IMG_MAX_SIDE 16384
#define PNG_MAX_FILE (256u << 20)

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool write_chunk(FILE *f, const char *type, const unsigned char *data, uint32_t len)
{
    unsigned char hdr[8], crc[4];
    put32(hdr, len);
    memcpy(hdr + 4, type, 4);
    uLong c = crc32(0, hdr + 4, 4);
    if (len)
        c = crc32(c, data, len);
    put32(crc, (uint32_t)c);
    return fwrite(hdr, 1, 8, f) == 8 && (len == 0 || fwrite(data, 1, len, f) == len) &&
           fwrite(crc, 1, 4, f) == 4;
}

dc_status dc_png_write(const char *path, int w, int h, int channels, const uint8_t *pixels)
{
    if (w <= 0 || h <= 0 || w > IMG_MAX_SIDE || h > IMG_MAX_SIDE ||
        (channels != 1 && channels != 3))
        return dc_err(DC_ERR_ARG, "%s: bad PNG size %dx%d or channels %d", path, w, h, channels);
    size_t row = (size_t)w * (size_t)channels + 1, raw_n = row * (size_t)h;
    unsigned char *raw = malloc(raw_n);
    uLongf zn = compressBound((uLong)raw_n);
    unsigned char *z = malloc(zn);
    dc_status st = DC_OK;
    if (!raw || !z) {
        st = dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (int y = 0; y < h; y++) {
        raw[(size_t)y * row] = 0; /* filter: none */
        memcpy(raw + (size_t)y * row + 1, pixels + (size_t)y * (row - 1), row - 1);
    }
    if (compress2(z, &zn, raw, (uLong)raw_n, 6) != Z_OK) {
        st = dc_err(DC_ERR_NOMEM, "%s: compression failed", path);
        goto out;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        st = dc_err(DC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        goto out;
    }
    unsigned char ihdr[13];
    put32(ihdr, (uint32_t)w);
    put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;                        /* bit depth */
    ihdr[9] = channels == 1 ? 0 : 2;    /* gray / RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, filter 0, no interlace */
    bool ok = fwrite("\x89PNG\r\n\x1a\n", 1, 8, f) == 8 && write_chunk(f, "IHDR", ihdr, 13) &&
              write_chunk(f, "IDAT", z, (uint32_t)zn) && write_chunk(f, "IEND", NULL, 0);
    ok &= fclose(f) == 0;
    if (!ok)
        st = dc_err(DC_ERR_IO, "%s: write failed", path);
out:
    free(raw);
    free(z);
    return st;
}

/* ---- reading ---- */

static unsigned char *slurp(const char *path, size_t *n)
{
    dc_io_file fl;
    if (dc_io_open(&fl, path) != DC_OK)
        return NULL;
    FILE *f = fl.f;
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        if (cap >= PNG_MAX_FILE) {
            free(buf);
            fclose(f);
            return dc_err_null(DC_ERR_FORMAT, "%s: larger than 256 MiB", path);
        }
        unsigned char *p = realloc(buf, cap * 2);
        if (!p) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = p;
        cap *= 2;
    }
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (!buf)
        return dc_err_null(DC_ERR_NOMEM, "%s: out of memory", path);
    if (err) {
        free(buf);
        return dc_err_null(DC_ERR_IO, "%s: cannot read: %s", path, strerror(err));
    }
    *n = len;
    return buf;
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
}

/* Undo the per-row filters in place; rows of `stride` bytes plus the filter byte. */
static bool unfilter(unsigned char *raw, uint32_t h, size_t stride, int bpp)
{
    unsigned char *prev = NULL;
    for (uint32_t y = 0; y < h; y++) {
        unsigned char *r = raw + (size_t)y * (stride + 1), *px = r + 1;
        int ft = r[0];
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)bpp ? px[i - bpp] : 0, b = prev ? prev[i] : 0;
            int c = prev && i >= (size_t)bpp ? prev[i - bpp] : 0;
            switch (ft) {
            case 0: break;
            case 1: px[i] = (unsigned char)(px[i] + a); break;
            case 2: px[i] = (unsigned char)(px[i] + b); break;
            case 3: px[i] = (unsigned char)(px[i] + ((a + b) >> 1)); break;
            case 4: px[i] = (unsigned char)(px[i] + paeth(a, b, c)); break;
            default: return false;
            }
        }
        prev = px;
    }
    return true;
}

/* Decode a PNG held in buf[0..n) into 8-bit gray (1 channel) or RGB (3); alpha is dropped. */
static dc_status png_decode(const char *path, const unsigned char *buf, size_t n, int *w, int *h,
                            int *channels, uint8_t **pixels)
{
    if (n < 8 + 25 || memcmp(buf, "\x89PNG\r\n\x1a\n", 8))
        return dc_err(DC_ERR_FORMAT, "%s: not a PNG file", path);
    uint32_t W = 0, H = 0;
    int depth = 0, ctype = -1;
    size_t zlen = 0, pos = 8;
    unsigned char *z = NULL;
    dc_status st = DC_OK;
    while (pos + 12 <= n && st == DC_OK) {
        uint32_t len = get32(buf + pos);
        const unsigned char *type = buf + pos + 4, *data = buf + pos + 8;
        if (len > n - pos - 12) {
            st = dc_err(DC_ERR_FORMAT, "%s: truncated PNG chunk", path);
            break;
        }
        if (!memcmp(type, "IHDR", 4) && len == 13) {
            W = get32(data);
            H = get32(data + 4);
            depth = data[8];
            ctype = data[9];
            if (W == 0 || H == 0 || W > IMG_MAX_SIDE || H > IMG_MAX_SIDE || depth != 8 ||
                (ctype != 0 && ctype != 2 && ctype != 4 && ctype != 6) || data[12] != 0)
                st = dc_err(DC_ERR_FORMAT, "%s: unsupported PNG (%ux%u, depth %d, color type "
                            "%d%s); use 8-bit gray or RGB(A), not interlaced", path, W, H, depth,
                            ctype, data[12] ? ", interlaced" : "");
        } else if (!memcmp(type, "IDAT", 4)) {
            unsigned char *p = realloc(z, zlen + len + 1);
            if (!p) {
                st = dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            z = p;
            memcpy(z + zlen, data, len);
            zlen += len;
        } else if (!memcmp(type, "IEND", 4)) {
            break;
        }
        pos += 12 + (size_t)len;
    }
    if (st == DC_OK && (ctype < 0 || !z))
        st = dc_err(DC_ERR_FORMAT, "%s: PNG without IHDR or IDAT", path);
    int bpp = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 4 ? 2 : 4;
    size_t stride = (size_t)W * (size_t)bpp;
    uLongf raw_n = (uLongf)((stride + 1) * H);
    /* Deflate expands at most about 1032:1, so image data shorter than that cannot hold the
     * size IHDR claims: refuse before allocating rather than reserve memory for a lie. */
    if (st == DC_OK && raw_n / 1032 > zlen + 64)
        st = dc_err(DC_ERR_FORMAT, "%s: PNG claims %ux%u pixels but holds only %zu bytes of "
                    "image data", path, W, H, zlen);
    unsigned char *raw = st == DC_OK ? malloc(raw_n) : NULL;
    if (st == DC_OK && !raw)
        st = dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    uLongf got = raw_n;
    if (st == DC_OK && (uncompress(raw, &got, z, (uLong)zlen) != Z_OK || got != raw_n ||
                        !unfilter(raw, H, stride, bpp)))
        st = dc_err(DC_ERR_FORMAT, "%s: corrupt PNG image data", path);
    int out_c = ctype == 0 || ctype == 4 ? 1 : 3;
    uint8_t *px = st == DC_OK ? malloc((size_t)W * H * (size_t)out_c) : NULL;
    if (st == DC_OK && !px)
        st = dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    for (uint32_t y = 0; st == DC_OK && y < H; y++)
        for (uint32_t x = 0; x < W; x++)
            for (int c = 0; c < out_c; c++)
                px[((size_t)y * W + x) * (size_t)out_c + (size_t)c] =
                    raw[(size_t)y * (stride + 1) + 1 + (size_t)x * (size_t)bpp + (size_t)c];
    free(z);
    free(raw);
    if (st != DC_OK) {
        free(px);
        return st;
    }
    *w = (int)W;
    *h = (int)H;
    *channels = out_c;
    *pixels = px;
    return DC_OK;
}

/* Skip white space and # comments of a PNM header; read one decimal number. */
static bool pnm_number(const unsigned char *buf, size_t n, size_t *pos, uint32_t *out)
{
    while (*pos < n && (buf[*pos] == ' ' || buf[*pos] == '\t' || buf[*pos] == '\n' ||
                        buf[*pos] == '\r' || buf[*pos] == '#')) {
        if (buf[*pos] == '#')
            while (*pos < n && buf[*pos] != '\n')
                (*pos)++;
        else
            (*pos)++;
    }
    uint64_t v = 0;
    size_t start = *pos;
    while (*pos < n && buf[*pos] >= '0' && buf[*pos] <= '9' && v < 100000)
        v = v * 10 + (uint64_t)(buf[(*pos)++] - '0');
    *out = (uint32_t)v;
    return *pos > start && v < 100000;
}

static dc_status pnm_decode(const char *path, const unsigned char *buf, size_t n, int *w,
                            int *h, int *channels, uint8_t **pixels)
{
    size_t pos = 2;
    uint32_t W, H, maxval;
    int c = buf[1] == '5' ? 1 : 3;
    if (!pnm_number(buf, n, &pos, &W) || !pnm_number(buf, n, &pos, &H) ||
        !pnm_number(buf, n, &pos, &maxval) || pos >= n || W == 0 || H == 0 ||
        W > IMG_MAX_SIDE || H > IMG_MAX_SIDE || maxval == 0 || maxval > 255)
        return dc_err(DC_ERR_FORMAT, "%s: bad PGM/PPM header (8-bit P5/P6 expected)", path);
    pos++; /* the single white space after maxval */
    size_t need = (size_t)W * H * (size_t)c;
    if (n - pos < need)
        return dc_err(DC_ERR_FORMAT, "%s: truncated PGM/PPM data", path);
    uint8_t *px = malloc(need);
    if (!px)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < need; i++)
        px[i] = (uint8_t)((unsigned)buf[pos + i] * 255u / maxval);
    *w = (int)W;
    *h = (int)H;
    *channels = c;
    *pixels = px;
    return DC_OK;
}

dc_status dc_image_read(const char *path, int *w, int *h, int *channels, uint8_t **pixels)
{
    size_t n = 0;
    unsigned char *buf = slurp(path, &n);
    if (!buf)
        return DC_ERR_IO;
    dc_status st;
    if (n >= 8 && !memcmp(buf, "\x89PNG", 4))
        st = png_decode(path, buf, n, w, h, channels, pixels);
    else if (n >= 3 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '6'))
        st = pnm_decode(path, buf, n, w, h, channels, pixels);
    else
        st = dc_err(DC_ERR_FORMAT, "%s: not a PNG or binary PGM/PPM image", path);
    free(buf);
    return st;
}
