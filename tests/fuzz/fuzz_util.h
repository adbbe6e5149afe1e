/*
 * fuzz_util.h - what the libFuzzer harnesses of tests/fuzz share: per-process temporary files
 * for the parsers that take a path, optionally gzip-compressed, and small helpers to read option
 * bytes off the front of an input.
 *
 * Each harness makes its temporary files once and rewrites them for every input: in $TMPDIR when
 * it is set, else in /dev/shm when there is one (memory: truncating and rewriting a file on a disk
 * can cost a millisecond, which would be most of an execution), else in /tmp. They are removed at
 * a normal exit (a crash leaves them: they are small).
 */
#ifndef DC_FUZZ_UTIL_H
#define DC_FUZZ_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include "deepc.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define FUZZ_MAX_FILES 4

typedef struct fuzz_tmp {
    int fd;
    char path[4096];
} fuzz_tmp;

static fuzz_tmp fuzz_tmps[FUZZ_MAX_FILES];
static int fuzz_n_tmps;

static inline void fuzz_tmp_cleanup(void)
{
    for (int i = 0; i < fuzz_n_tmps; i++) {
        close(fuzz_tmps[i].fd);
        unlink(fuzz_tmps[i].path);
    }
    fuzz_n_tmps = 0;
}

/* Temporary file number slot (0 .. FUZZ_MAX_FILES - 1), made on first use. A failure to make one is
 * the machine's problem, not the parser's: the harness stops with a message. */
static inline fuzz_tmp *fuzz_tmp_get(int slot)
{
    if (slot < 0 || slot >= FUZZ_MAX_FILES) {
        fprintf(stderr, "fuzz: bad temporary file slot %d\n", slot);
        abort();
    }
    while (fuzz_n_tmps <= slot) {
        fuzz_tmp *t = &fuzz_tmps[fuzz_n_tmps];
        const char *dirs[3] = {getenv("TMPDIR"), "/dev/shm", "/tmp"};
        t->fd = -1;
        for (int i = 0; i < 3 && t->fd < 0; i++) {
            if (!dirs[i] || !*dirs[i])
                continue;
            snprintf(t->path, sizeof t->path, "%s/deepc-fuzz-XXXXXX", dirs[i]);
            t->fd = mkstemp(t->path);
        }
        if (t->fd < 0) {
            perror("fuzz: mkstemp");
            abort();
        }
        if (fuzz_n_tmps++ == 0)
            atexit(fuzz_tmp_cleanup);
    }
    return &fuzz_tmps[slot];
}

/* Replace the contents of temporary file slot with data[0..size); returns its path. */
static inline const char *fuzz_tmp_write(int slot, const uint8_t *data, size_t size)
{
    fuzz_tmp *t = fuzz_tmp_get(slot);
    if (ftruncate(t->fd, 0) != 0) {
        perror("fuzz: ftruncate");
        abort();
    }
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(t->fd, data + done, size - done, (off_t)done);
        if (w <= 0) {
            perror("fuzz: pwrite");
            abort();
        }
        done += (size_t)w;
    }
    return t->path;
}

/* The same, gzip-compressed (so the zlib path of a loader sees a valid stream of fuzzed bytes). */
static inline const char *fuzz_tmp_write_gz(int slot, const uint8_t *data, size_t size)
{
    fuzz_tmp *t = fuzz_tmp_get(slot);
    gzFile z = gzopen(t->path, "wb1");
    if (!z) {
        perror("fuzz: gzopen");
        abort();
    }
    if (size && gzwrite(z, data, (unsigned)size) != (int)size) {
        fprintf(stderr, "fuzz: gzwrite failed\n");
        abort();
    }
    if (gzclose(z) != Z_OK) {
        fprintf(stderr, "fuzz: gzclose failed\n");
        abort();
    }
    return t->path;
}

/* Take one option byte off the front of the input (0 when it is empty). */
static inline uint8_t fuzz_byte(const uint8_t **data, size_t *size)
{
    if (*size == 0)
        return 0;
    uint8_t b = **data;
    (*data)++;
    (*size)--;
    return b;
}

/* Take a little-endian uint32 off the front (missing bytes read as 0). */
static inline uint32_t fuzz_u32(const uint8_t **data, size_t *size)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)fuzz_byte(data, size) << (8 * i);
    return v;
}

/* A harness-detected inconsistency: print it and abort so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond, ...)                                                                     \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz check failed: %s (%s:%d): ", #cond, __FILE__, __LINE__);        \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

#endif
