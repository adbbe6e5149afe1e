/*
 * io.h - what the file readers and writers of src/io share: checked reads at an offset,
 * element conversion from file encodings (float16, bfloat16, big-endian, narrow ints) into
 * deepc's float32 / int64 tensors, and atomic writes. Internal to src/ (and tests).
 *
 * Every message set here starts with the file's path, so a caller can return it unchanged.
 */
#ifndef DC_IO_H
#define DC_IO_H

#include "core/internal.h"

#include <stdio.h>
#include <zlib.h>

/* An open regular file for reading, with its size taken once at open. */
typedef struct dc_io_file {
    FILE *f;
    const char *path; /* not owned */
    int64_t size;     /* bytes */
    int64_t pos;      /* where the stream stands, or -1: reads in file order need no seek, so
                       * that stdio's buffer serves a million small tensors in a few reads */
} dc_io_file;

/*
 * The one way every reader opens a file (npy, safetensors, spec, CSV, IDX, images, text):
 * open(2) with O_NONBLOCK, so that a FIFO never waits for a writer, then fstat: anything but a
 * regular file is refused at once with DC_ERR_IO "<path>: is a directory, not a file" (or "is a
 * FIFO (named pipe)...", "is a device...") -- a FIFO, /dev/zero or a directory can neither hang
 * nor spin a reader. Then the descriptor is made blocking again.
 *
 * dc_io_open_fd: the descriptor (the caller closes it) and the file size into *size (may be
 * NULL), or -1 with the error set. dc_io_open: the same as a stdio stream in *f.
 * dc_io_gzopen: the same as a zlib stream (gzip, or plain bytes as they are), or NULL.
 */
int dc_io_open_fd(const char *path, int64_t *size);
dc_status dc_io_open(dc_io_file *f, const char *path);
gzFile dc_io_gzopen(const char *path);
void dc_io_close(dc_io_file *f);
/*
 * Read exactly n bytes at byte offset off into buf. A range past the end of the file gives
 * DC_ERR_FORMAT "<path>: truncated: <what> needs bytes [off, off+n) but the file has size bytes";
 * a read error gives DC_ERR_IO.
 */
dc_status dc_io_read_at(dc_io_file *f, int64_t off, void *buf, size_t n, const char *what);

/* Element encodings found in .npy and .safetensors files. */
typedef enum dc_io_enc {
    DC_ENC_F16, DC_ENC_BF16, DC_ENC_F32, DC_ENC_F64,                 /* -> DC_F32 */
    DC_ENC_BOOL, DC_ENC_I8, DC_ENC_U8, DC_ENC_I16, DC_ENC_U16,      /* -> DC_I64 */
    DC_ENC_I32, DC_ENC_U32, DC_ENC_I64
} dc_io_enc;

/* Bytes per element of an encoding. */
int dc_io_enc_size(dc_io_enc e);
/* The deepc dtype an encoding is converted to. */
dc_dtype dc_io_enc_dtype(dc_io_enc e);
/* float16 / bfloat16 bit patterns -> float32, exactly (subnormals, ±inf, NaN kept). */
float dc_io_f16_to_f32(uint16_t h);
float dc_io_bf16_to_f32(uint16_t h);

/*
 * dc_io_read_convert - fill dst (already allocated, dtype dc_io_enc_dtype(enc)) with its numel
 * elements stored at byte offset off in encoding enc, big-endian when big_endian. The range must
 * lie inside the file (checked again here). Works in fixed-size chunks: no second full copy.
 */
dc_status dc_io_read_convert(dc_io_file *f, int64_t off, dc_io_enc enc, int big_endian,
                             dc_tensor *dst, const char *what);

/* Write fn: write everything to f; return 0, or an errno value (or -1) on failure. */
typedef int (*dc_io_write_fn)(FILE *f, void *user);
/* fwrite n bytes; 0 or errno (EIO if fwrite set none). */
int dc_io_fwrite(FILE *f, const void *p, size_t n);
/* Write t's numel elements as little-endian float32 / int64 (host order independent). */
int dc_io_fwrite_tensor_le(FILE *f, const dc_tensor *t);

/*
 * dc_io_write_atomic - write a file so that path holds either its old contents or the complete
 * new ones, never a mix: fn writes "<path>.tmp.<pid>.<k>", which is flushed, fsync'd, closed,
 * renamed over path, and the directory fsync'd. On any failure the temporary file is removed,
 * path is untouched, and DC_ERR_IO names the step and the reason. Before writing, temporary files
 * of path left by a process that no longer exists (killed mid-write) are removed.
 */
dc_status dc_io_write_atomic(const char *path, dc_io_write_fn fn, void *user);

/*
 * dc_io_gzline - the next line of f (through its '\n', or to the end of the data) into
 * line[0..cap), NUL-terminated, its length in *len. Returns 1 for a line, 0 at the end of the data
 * (or on a read error: dc_io_gz_damage tells which), -1 when cap - 1 bytes came without a
 * newline (the line is too long), -2 when the line holds a NUL byte (binary data, not text: a
 * strlen-based reader would see a short line and drop the rest silently).
 */
int dc_io_gzline(gzFile f, char *line, size_t cap, size_t *len);

/* After a short or bad read from a gzip (or plain) stream: the stream's own failure, reported as
 * "<path>: damaged or truncated gzip data (...)" (DC_ERR_FORMAT) or "<path>: cannot read: ..."
 * (DC_ERR_IO), so that a cut file is not blamed on the row it cut; DC_OK when the stream is fine. */
dc_status dc_io_gz_damage(gzFile f, const char *path);

/* dc_io_mkdir_p - mkdir -p: create dir and every missing folder above it, from the top. DC_OK,
 * or DC_ERR_IO naming the folder that could not be made and why. dc_io_mkdir_parent does the
 * same for the folder the file path is in (nothing for a bare file name). */
dc_status dc_io_mkdir_p(const char *dir);
dc_status dc_io_mkdir_parent(const char *path);

/* A name with its index, for sorting without a global (qsort has no context argument)
 * (safetensors.c): dc_io_sort_names gives names[0..n) sorted, ties by index, in a new array
 * (NULL when out of memory); dc_io_cmp_named is its order, for bsearch-like lookups. */
typedef struct dc_io_named {
    const char *name;
    int i;
} dc_io_named;
int dc_io_cmp_named(const void *a, const void *b);
dc_io_named *dc_io_sort_names(const char *const *names, int n);
/* dc_safetensors_read with its status in *status (safetensors.c). */
dc_tdict *dc_io_safetensors_read(const char *path, dc_status *status);

#endif
