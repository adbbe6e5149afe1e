/*
 * idx.c - MNIST-format IDX files (raw or gzip through zlib), folders of them (MNIST,
 * Fashion-MNIST and their kin: dc_idx_dir_load), and the pixel statistics to normalise by.
 *
 * IDX: a 4-byte big-endian magic 0x0000TTDD (TT = 0x08 for uint8, DD = number of dims), one
 * big-endian uint32 per dim, then the data. We accept uint8 images of 3 dims and labels of 1 dim.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_MAX_N 100000000
#define IDX_MAX_SIDE 4096

static bool read_exact(gzFile f, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        unsigned chunk = n > (1u << 30) ? 1u << 30 : (unsigned)n;
        int got = gzread(f, p, chunk);
        if (got <= 0)
            return false;
        p += got;
        n -= (size_t)got;
    }
    return true;
}

/* Why a read came up short: a read error (DC_ERR_IO), a damaged gzip stream (zlib says so), else
 * the file ended (both DC_ERR_FORMAT). what names the part that was being read. */
static dc_status short_read(gzFile f, const char *path, const char *what)
{
    int zerr;
    const char *zmsg = gzerror(f, &zerr);
    if (zerr == Z_OK || zerr == Z_STREAM_END || zerr == Z_BUF_ERROR)
        return dc_err(DC_ERR_FORMAT, "%s: truncated IDX %s", path, what);
    size_t k = strlen(path); /* zlib's message repeats the path: "<path>: <what>" */
    if (!strncmp(zmsg, path, k) && !strncmp(zmsg + k, ": ", 2))
        zmsg += k + 2;
    if (zerr == Z_ERRNO) /* read(2) failed: a directory, an I/O error */
        return dc_err(DC_ERR_IO, "%s: cannot read the IDX %s: %s", path, what, zmsg);
    return dc_err(DC_ERR_FORMAT, "%s: damaged gzip data in the IDX %s (%s)", path, what, zmsg);
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Read exactly total data bytes into a new buffer *data. The header's sizes are not trusted
 * with memory (a gzip stream's length is unknown until it is read): the buffer starts at 1 MiB
 * and doubles as the data arrives, so a short file that claims gigabytes costs little. */
static dc_status read_data(gzFile f, size_t total, uint8_t **data, const char *path)
{
    size_t cap = total < ((size_t)1 << 20) ? total : (size_t)1 << 20, have = 0;
    uint8_t *buf = malloc(cap);
    while (buf && have < total) {
        if (have == cap) {
            size_t grow = cap > total - cap ? total : 2 * cap;
            uint8_t *p = realloc(buf, grow);
            if (!p)
                break;
            buf = p;
            cap = grow;
        }
        if (!read_exact(f, buf + have, cap - have)) {
            free(buf);
            char what[64];
            snprintf(what, sizeof what, "data (expected %llu bytes)", (unsigned long long)total);
            return short_read(f, path, what);
        }
        have = cap;
    }
    if (have < total) {
        free(buf);
        return dc_err(DC_ERR_NOMEM, "%s: cannot allocate %llu bytes", path,
                      (unsigned long long)total);
    }
    *data = buf;
    return DC_OK;
}

/* Read the header and data of an IDX file with `ndim` dims into a malloc'd buffer. */
static dc_status idx_read(const char *path, int ndim, uint32_t dims[3], uint8_t **data)
{
    *data = NULL;
    gzFile f = dc_io_gzopen(path);
    if (!f)
        return dc_last_status();
    unsigned char hdr[16];
    dc_status st = DC_OK;
    if (!read_exact(f, hdr, 4 + 4 * (size_t)ndim)) {
        st = short_read(f, path, "header");
        goto out;
    }
    uint32_t magic = be32(hdr);
    if (magic != (0x0800u | (uint32_t)ndim)) {
        st = dc_err(DC_ERR_FORMAT, "%s: bad IDX magic 0x%08x (expected 0x%08x: uint8, %d dims)",
                    path, magic, 0x0800u | (uint32_t)ndim, ndim);
        goto out;
    }
    uint64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        uint32_t cap = i == 0 ? IDX_MAX_N : IDX_MAX_SIDE;
        if (dims[i] == 0 || dims[i] > cap) {
            st = dc_err(DC_ERR_FORMAT, "%s: IDX dimension %d is %u (allowed 1..%u)", path, i,
                        dims[i], cap);
            goto out;
        }
        total *= dims[i];
    }
    if (total > (UINT64_C(1) << 36)) {
        st = dc_err(DC_ERR_FORMAT, "%s: IDX data of %llu bytes is too large", path,
                    (unsigned long long)total);
        goto out;
    }
    st = read_data(f, (size_t)total, data, path);
    if (st != DC_OK)
        goto out;
    unsigned char extra;
    if (gzread(f, &extra, 1) > 0)
        st = dc_err(DC_ERR_FORMAT, "%s: trailing bytes after the IDX data", path);
out:
    gzclose(f);
    if (st != DC_OK) {
        free(*data);
        *data = NULL;
    }
    return st;
}

void dc_images_free(dc_images *d)
{
    if (!d)
        return;
    free(d->pixels);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

dc_status dc_idx_load(const char *images_path, const char *labels_path, dc_images *out)
{
    uint32_t idims[3] = {0, 0, 0}, ldims[3] = {0, 0, 0};
    uint8_t *px = NULL, *lb = NULL;
    memset(out, 0, sizeof *out);
    dc_status st = idx_read(images_path, 3, idims, &px);
    if (st == DC_OK)
        st = idx_read(labels_path, 1, ldims, &lb);
    if (st == DC_OK && ldims[0] != idims[0])
        st = dc_err(DC_ERR_FORMAT, "%s has %u labels but %s has %u images", labels_path,
                    ldims[0], images_path, idims[0]);
    int64_t *labels = st == DC_OK ? malloc((size_t)ldims[0] * sizeof *labels) : NULL;
    if (st == DC_OK && !labels)
        st = dc_err(DC_ERR_NOMEM, "%s: out of memory", labels_path);
    if (st != DC_OK) {
        free(px);
        free(lb);
        free(labels);
        return st;
    }
    int max_label = 0;
    for (uint32_t i = 0; i < ldims[0]; i++) {
        labels[i] = lb[i];
        if (lb[i] > max_label)
            max_label = lb[i];
    }
    free(lb);
    *out = (dc_images){.n = idims[0], .c = 1, .h = idims[1], .w = idims[2], .pixels = px,
                       .labels = labels, .n_classes = max_label + 1};
    return DC_OK;
}

/* Whether something is at path (a FIFO or a directory too: opening it then says what it is;
 * never opened here, so that a FIFO cannot block). */
static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* "<dir>/<prefix>-<kind><sep>idx<d>-ubyte[.gz]" in the spellings found in the wild (MNIST's
 * "train-images-idx3-ubyte", Kaggle's "train-images.idx3-ubyte", either gzipped), gzip first:
 * the first that exists, as a malloc'd path; NULL when none does (or out of memory). */
static char *find_idx(const char *dir, const char *prefix, const char *kind, int d)
{
    static const char *const seps[] = {"-", "."}, *const exts[] = {".gz", ""};
    size_t len = strlen(dir) + strlen(prefix) + strlen(kind) + 32;
    char *p = malloc(len);
    for (int i = 0; p && i < 2; i++)
        for (int j = 0; j < 2; j++) {
            snprintf(p, len, "%s/%s-%s%sidx%d-ubyte%s", dir, prefix, kind, seps[i], d, exts[j]);
            if (file_exists(p))
                return p;
        }
    free(p);
    return NULL;
}

/* Find the images and labels of one split of dir; the test split is "t10k" (MNIST's name) or
 * "test". DC_OK with both paths (malloc'd), else DC_ERR_IO listing what was looked for. */
static dc_status find_split(const char *dir, int train, char **ip, char **lp)
{
    static const char *const test_prefixes[] = {"t10k", "test"};
    *ip = *lp = NULL;
    for (int k = 0; k < (train ? 1 : 2) && !(*ip && *lp); k++) {
        const char *prefix = train ? "train" : test_prefixes[k];
        free(*ip);
        free(*lp);
        *ip = find_idx(dir, prefix, "images", 3);
        *lp = find_idx(dir, prefix, "labels", 1);
    }
    if (*ip && *lp)
        return DC_OK;
    free(*ip);
    free(*lp);
    *ip = *lp = NULL;
    return dc_err(DC_ERR_IO, "%s: no IDX %s split (looked for %s-images-idx3-ubyte and "
                  "%s-labels-idx1-ubyte, also spelled %s-images.idx3-ubyte, each optionally "
                  ".gz)", dir, train ? "training" : "test", train ? "train" : "t10k/test",
                  train ? "train" : "t10k/test", train ? "train" : "t10k/test");
}

dc_status dc_idx_dir_load(const char *dir, int train, dc_images *out)
{
    char *ip, *lp;
    memset(out, 0, sizeof *out);
    if (!dir || !*dir)
        return dc_err(DC_ERR_ARG, "idx: no directory");
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return dc_err(DC_ERR_IO, "%s: %s", dir,
                      stat(dir, &sb) != 0 ? "no such directory" : "not a directory (an IDX "
                      "folder holds train-images-idx3-ubyte and its companions)");
    dc_status st = find_split(dir, train, &ip, &lp);
    if (st == DC_OK)
        st = dc_idx_load(ip, lp, out);
    free(ip);
    free(lp);
    return st;
}

dc_status dc_fashion_mnist_load(const char *dir, int train, dc_images *out)
{
    char *dbuf = NULL, *ip = NULL, *lp = NULL;
    memset(out, 0, sizeof *out);
    if (!dir) {
        const char *env = getenv("DEEPC_DATA");
        if (env && *env) {
            size_t len = strlen(env) + sizeof "/fashion-mnist";
            if (!(dbuf = malloc(len)))
                return dc_err(DC_ERR_NOMEM, "fashion-mnist: out of memory");
            snprintf(dbuf, len, "%s/fashion-mnist", env);
            dir = dbuf;
        } else {
            dir = "/usr/share/datasets/fashion-mnist";
        }
    }
    dc_status st = find_split(dir, train, &ip, &lp);
    if (st != DC_OK)
        st = dc_err(DC_ERR_IO, "Fashion-MNIST not found in %s (%s-images-idx3-ubyte.gz); "
                    "install it with: apt-get install dataset-fashion-mnist, or pass the "
                    "directory that holds the IDX files", dir, train ? "train" : "t10k");
    else
        st = dc_idx_load(ip, lp, out);
    free(ip);
    free(lp);
    free(dbuf);
    return st;
}

dc_status dc_images_stats(const dc_images *d, float *mean, float *std)
{
    if (!d || !mean || !std || d->n < 1 || !d->pixels)
        return dc_err(DC_ERR_ARG, "images stats: no images");
    /* a histogram of the byte values: exact, and the same whatever the order */
    uint64_t hist[256] = {0};
    const int64_t total = d->n * d->c * d->h * d->w;
    for (int64_t i = 0; i < total; i++)
        hist[d->pixels[i]]++;
    double s = 0, ss = 0;
    for (int v = 0; v < 256; v++) {
        s += (double)hist[v] * v;
        ss += (double)hist[v] * v * v;
    }
    double m = s / (double)total, var = ss / (double)total - m * m;
    if (!(var > 0))
        return dc_err(DC_ERR_ARG, "images stats: every pixel is %g: no spread to normalise by",
                      m);
    *mean = (float)(m / 255.0);
    *std = (float)(sqrt(var) / 255.0);
    return DC_OK;
}

dc_tensor *dc_images_batch(dc_ctx *ctx, const dc_images *d, const int64_t *idx, int64_t n,
                           float mean, float std, dc_tensor **labels)
{
    int64_t per = d->c * d->h * d->w;
    dc_tensor *x = dc_empty(ctx, DC_F32, 4, DC_SHAPE(n, d->c, d->h, d->w));
    dc_tensor *y = labels ? dc_empty(ctx, DC_I64, 1, DC_SHAPE(n)) : NULL;
    if (!x || (labels && !y))
        return NULL;
    const float scale = 1.0f / (255.0f * std), shift = -mean / std;
    float *restrict dst = dc_f32(x);
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= d->n)
            return dc_err_null(DC_ERR_ARG, "images_batch: index %lld out of range [0, %lld)",
                               (long long)idx[i], (long long)d->n);
        const uint8_t *restrict src = d->pixels + idx[i] * per;
        for (int64_t j = 0; j < per; j++)
            dst[i * per + j] = (float)src[j] * scale + shift;
        if (y)
            dc_i64(y)[i] = d->labels[idx[i]];
    }
    if (labels)
        *labels = y;
    return x;
}

const char *dc_fashion_mnist_class(int k)
{
    static const char *names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    return k >= 0 && k < 10 ? names[k] : "?";
}
