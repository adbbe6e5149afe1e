/*
 * atomic.c - checked file reading, element conversion from file encodings, atomic writes.
 *
 * Reading never trusts a size from a file: every range is compared with the file size (taken
 * once with fstat) before anything is allocated or read. Writing goes through a temporary file
 * in the same directory that is fsync'd and renamed, so a crash or a full disk leaves the old
 * file intact; the temporary files of a writer that was killed are removed by the next write of
 * the same file.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- reading ---- */

/* What a path that is not a regular file is, for the message. */
static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m))
        return "is a directory, not a file";
    if (S_ISFIFO(m))
        return "is a FIFO (named pipe), not a regular file";
    if (S_ISCHR(m) || S_ISBLK(m))
        return "is a device, not a regular file";
    if (S_ISSOCK(m))
        return "is a socket, not a regular file";
    return "not a regular file";
}

int dc_io_open_fd(const char *path, int64_t *size)
{
    struct stat st;
    if (!path || !*path)
        return dc_err(DC_ERR_ARG, "open: empty file name"), -1;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return dc_err(DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno)), -1;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return dc_err(DC_ERR_IO, "%s: cannot stat: %s", path, strerror(e)), -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return dc_err(DC_ERR_IO, "%s: %s", path, kind_of(st.st_mode)), -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
        int e = errno;
        close(fd);
        return dc_err(DC_ERR_IO, "%s: cannot open: %s", path, strerror(e)), -1;
    }
    if (size)
        *size = (int64_t)st.st_size;
    return fd;
}

dc_status dc_io_open(dc_io_file *f, const char *path)
{
    f->f = NULL;
    f->path = path ? path : "(null)";
    f->size = 0;
    f->pos = 0;
    int fd = dc_io_open_fd(path, &f->size);
    if (fd < 0)
        return dc_last_status();
    if (!(f->f = fdopen(fd, "rb"))) {
        int e = errno;
        close(fd);
        return dc_err(DC_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    return DC_OK;
}

gzFile dc_io_gzopen(const char *path)
{
    int fd = dc_io_open_fd(path, NULL);
    if (fd < 0)
        return NULL;
    gzFile g = gzdopen(fd, "rb"); /* reads gzip, or plain bytes as they are */
    if (!g) {
        close(fd);
        dc_err(DC_ERR_NOMEM, "%s: cannot open: out of memory", path);
    }
    return g;
}

void dc_io_close(dc_io_file *f)
{
    if (f->f)
        fclose(f->f);
    f->f = NULL;
}

dc_status dc_io_read_at(dc_io_file *f, int64_t off, void *buf, size_t n, const char *what)
{
    if (off < 0 || off > f->size || (uint64_t)n > (uint64_t)(f->size - off))
        return dc_err(DC_ERR_FORMAT,
                      "%s: truncated: %s needs bytes [%lld, %lld) but the file has %lld bytes",
                      f->path, what, (long long)off, (long long)off + (long long)n,
                      (long long)f->size);
    if (n == 0)
        return DC_OK;
    if (off != f->pos && fseeko(f->f, (off_t)off, SEEK_SET) != 0) {
        f->pos = -1;
        return dc_err(DC_ERR_IO, "%s: cannot seek to byte %lld: %s", f->path, (long long)off,
                      strerror(errno));
    }
    size_t got = fread(buf, 1, n, f->f);
    f->pos = got == n ? off + (int64_t)n : -1;
    if (got != n) {
        if (ferror(f->f))
            return dc_err(DC_ERR_IO, "%s: read error in %s: %s", f->path, what,
                          strerror(errno));
        return dc_err(DC_ERR_FORMAT, "%s: truncated: %s ends after %zu of %zu bytes (the file "
                      "shrank while being read?)", f->path, what, got, n);
    }
    return DC_OK;
}

/* ---- element conversion ---- */

int dc_io_enc_size(dc_io_enc e)
{
    switch (e) {
    case DC_ENC_BOOL: case DC_ENC_I8: case DC_ENC_U8: return 1;
    case DC_ENC_F16: case DC_ENC_BF16: case DC_ENC_I16: case DC_ENC_U16: return 2;
    case DC_ENC_F32: case DC_ENC_I32: case DC_ENC_U32: return 4;
    case DC_ENC_F64: case DC_ENC_I64: return 8;
    }
    return 1;
}

dc_dtype dc_io_enc_dtype(dc_io_enc e)
{
    return (e == DC_ENC_F16 || e == DC_ENC_BF16 || e == DC_ENC_F32 || e == DC_ENC_F64) ? DC_F32
                                                                                        : DC_I64;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* half: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Every half is exact in float. */
float dc_io_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) /* inf or NaN, payload kept */
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp != 0) /* normal: rebias 15 -> 127 */
        return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
    /* zero or subnormal: man · 2^-24, exact (power-of-two scale of a small integer) */
    float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
}

/* bfloat16 is the top half of a float32. */
float dc_io_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

/* Load an unsigned k-byte integer stored little- or big-endian. */
static inline uint64_t load_u(const unsigned char *p, int k, int be)
{
    uint64_t v = 0;
    for (int i = 0; i < k; i++)
        v |= (uint64_t)p[be ? k - 1 - i : i] << (8 * i);
    return v;
}

static int host_is_le(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* Convert n elements of encoding enc at src into dst (float* or int64_t* per the encoding). */
static void convert_chunk(dc_io_enc enc, int be, const unsigned char *src, int64_t n, void *dst)
{
    float *df = dst;
    int64_t *di = dst;
    int k = dc_io_enc_size(enc);
    for (int64_t i = 0; i < n; i++) {
        uint64_t u = load_u(src + i * k, k, be);
        switch (enc) {
        case DC_ENC_F16: df[i] = dc_io_f16_to_f32((uint16_t)u); break;
        case DC_ENC_BF16: df[i] = dc_io_bf16_to_f32((uint16_t)u); break;
        case DC_ENC_F32: df[i] = bits_f32((uint32_t)u); break;
        case DC_ENC_F64: {
            double d;
            memcpy(&d, &u, sizeof d);
            df[i] = (float)d;
            break;
        }
        case DC_ENC_BOOL: di[i] = u != 0; break;
        case DC_ENC_I8: di[i] = (int8_t)(uint8_t)u; break;
        case DC_ENC_U8: case DC_ENC_U16: case DC_ENC_U32: di[i] = (int64_t)u; break;
        case DC_ENC_I16: di[i] = (int16_t)(uint16_t)u; break;
        case DC_ENC_I32: di[i] = (int32_t)(uint32_t)u; break;
        case DC_ENC_I64: di[i] = (int64_t)u; break;
        }
    }
}

#define CHUNK_BYTES 65536

dc_status dc_io_read_convert(dc_io_file *f, int64_t off, dc_io_enc enc, int big_endian,
                             dc_tensor *dst, const char *what)
{
    int k = dc_io_enc_size(enc);
    int64_t n = dst->numel;
    if (dst->dtype != dc_io_enc_dtype(enc) || n < 0 || n > INT64_MAX / 8)
        return dc_err(DC_ERR_ARG, "%s: internal: bad conversion target for %s", f->path, what);
    if (off < 0 || off > f->size || n * k > f->size - off)
        return dc_err(DC_ERR_FORMAT, "%s: truncated: %s needs %lld bytes at offset %lld but the "
                      "file has %lld bytes", f->path, what, (long long)(n * k), (long long)off,
                      (long long)f->size);
    /* Same layout as in memory: read straight into the tensor. */
    if ((enc == DC_ENC_F32 || enc == DC_ENC_I64) && (!big_endian) == host_is_le())
        return dc_io_read_at(f, off, dst->data, (size_t)(n * k), what);
    /* a small tensor gets a small buffer: a 64 KiB malloc per tensor dominated reading a
     * million tiny ones */
    int64_t per = n < CHUNK_BYTES / k ? (n ? n : 1) : CHUNK_BYTES / k;
    unsigned char *buf = malloc((size_t)(per * k));
    if (!buf)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory reading %s", f->path, what);
    int esz = dst->dtype == DC_I64 ? 8 : 4;
    dc_status st = DC_OK;
    for (int64_t i = 0; i < n && st == DC_OK; i += per) {
        int64_t m = n - i < per ? n - i : per;
        st = dc_io_read_at(f, off + i * k, buf, (size_t)(m * k), what);
        if (st == DC_OK)
            convert_chunk(enc, big_endian, buf, m, (unsigned char *)dst->data + i * esz);
    }
    free(buf);
    return st;
}

/* ---- writing ---- */

int dc_io_fwrite(FILE *f, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    errno = 0;
    if (fwrite(p, 1, n, f) != n)
        return errno ? errno : EIO;
    return 0;
}

int dc_io_fwrite_tensor_le(FILE *f, const dc_tensor *t)
{
    size_t k = t->dtype == DC_I64 ? 8 : 4;
    if (host_is_le())
        return dc_io_fwrite(f, t->data, (size_t)t->numel * k);
    unsigned char buf[4096];
    const unsigned char *src = t->data;
    size_t per = sizeof buf / k, n = (size_t)t->numel;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        for (size_t j = 0; j < m; j++) /* reverse each element's bytes */
            for (size_t b = 0; b < k; b++)
                buf[j * k + b] = src[(i + j) * k + (k - 1 - b)];
        int e = dc_io_fwrite(f, buf, m * k);
        if (e)
            return e;
    }
    return 0;
}

/* fsync the directory holding path so the rename itself is durable (best effort: some file
 * systems refuse fsync on directories; the data is already safe then). */
static void fsync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

static atomic_uint tmp_counter;

/* name is "<base>.tmp.<pid>.<k>" (decimal pid > 0 and k): 1 and *pid, else 0. */
static int tmp_name_pid(const char *name, const char *base, size_t nb, long *pid)
{
    if (strncmp(name, base, nb) || strncmp(name + nb, ".tmp.", 5))
        return 0;
    const char *p = name + nb + 5;
    size_t a = strspn(p, "0123456789");
    if (a == 0 || a > 9 || p[a] != '.' || !p[a + 1] || strspn(p + a + 1, "0123456789") !=
                                                            strlen(p + a + 1))
        return 0;
    *pid = strtol(p, NULL, 10);
    return *pid > 0;
}

/* Remove the temporary files "<path>.tmp.<pid>.<k>" that a killed writer left behind: those of a
 * process that no longer exists (kill(pid, 0) fails with ESRCH). A live process's files, ours
 * included, are left alone. Best effort: a directory that cannot be read is skipped. */
static void remove_stale_tmp(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    DIR *dp = dir ? opendir(dir) : NULL;
    const size_t nb = strlen(base), nd = dir ? strlen(dir) : 0;
    struct dirent *e;
    while (dp && (e = readdir(dp)) != NULL) {
        long pid;
        if (!tmp_name_pid(e->d_name, base, nb, &pid) || pid == (long)getpid() ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char *full = malloc(nd + strlen(e->d_name) + 2);
        if (full) {
            snprintf(full, nd + strlen(e->d_name) + 2, "%s/%s", dir, e->d_name);
            unlink(full);
            free(full);
        }
    }
    if (dp)
        closedir(dp);
    free(dir);
}

/* Create "<path>.tmp.<pid>.<k>" exclusively; returns the stream and its name (malloc'd). */
static FILE *open_tmp(const char *path, char **tmp_out)
{
    size_t len = strlen(path) + 64;
    char *tmp = malloc(len);
    if (!tmp) {
        errno = ENOMEM;
        return NULL;
    }
    for (int tries = 0; tries < 100; tries++) {
        unsigned k = atomic_fetch_add(&tmp_counter, 1u);
        snprintf(tmp, len, "%s.tmp.%ld.%u", path, (long)getpid(), k);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            break;
        }
        FILE *f = fdopen(fd, "wb");
        if (!f) {
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            break;
        }
        *tmp_out = tmp;
        return f;
    }
    int e = errno;
    free(tmp);
    errno = e;
    return NULL;
}

dc_status dc_io_write_atomic(const char *path, dc_io_write_fn fn, void *user)
{
    char *tmp = NULL;
    if (!path || !*path)
        return dc_err(DC_ERR_ARG, "write: empty file name");
    remove_stale_tmp(path);
    FILE *f = open_tmp(path, &tmp);
    if (!f)
        return dc_err(DC_ERR_IO, "%s: cannot create a temporary file next to it: %s", path,
                      strerror(errno));
    const char *step = "writing";
    int e = fn(f, user);
    if (!e && fflush(f) != 0)
        e = errno ? errno : EIO;
    if (!e && fsync(fileno(f)) != 0) {
        e = errno;
        step = "fsync of";
    }
    if (fclose(f) != 0 && !e)
        e = errno ? errno : EIO;
    if (!e && rename(tmp, path) != 0) {
        e = errno;
        step = "renaming the temporary file to";
    }
    if (e) {
        unlink(tmp);
        free(tmp);
        return dc_err(DC_ERR_IO, "%s: %s the file failed: %s (the old file, if any, is "
                      "unchanged)", path, step, e > 0 ? strerror(e) : "write error");
    }
    free(tmp);
    fsync_dir_of(path);
    return DC_OK;
}

/* See io.h. gzgetc is a macro that takes bytes from zlib's buffer. */
int dc_io_gzline(gzFile f, char *line, size_t cap, size_t *len)
{
    size_t n = 0;
    bool nul = false;
    int c;
    while (n + 1 < cap && (c = gzgetc(f)) != -1) {
        nul |= c == 0;
        line[n++] = (char)c;
        if (c == '\n')
            break;
    }
    line[n] = '\0';
    *len = n;
    if (n == 0)
        return 0;
    if (nul)
        return -2;
    return n + 1 == cap && line[n - 1] != '\n' ? -1 : 1;
}

/* See io.h. */
dc_status dc_io_gz_damage(gzFile f, const char *path)
{
    int zerr;
    const char *zmsg = gzerror(f, &zerr);
    if (zerr == Z_OK || zerr == Z_STREAM_END)
        return DC_OK;
    size_t k = strlen(path); /* zlib's message repeats the path: "<path>: <what>" */
    if (!strncmp(zmsg, path, k) && !strncmp(zmsg + k, ": ", 2))
        zmsg += k + 2;
    if (zerr == Z_ERRNO) /* read(2) failed: a directory, an I/O error */
        return dc_err(DC_ERR_IO, "%s: cannot read: %s", path, zmsg);
    return dc_err(DC_ERR_FORMAT, "%s: damaged or truncated gzip data (%s)", path, zmsg);
}
