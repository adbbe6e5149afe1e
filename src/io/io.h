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
} dc_io_file;

/* Open path for reading; DC_ERR_IO if it cannot be opened or is not a regular file. */
dc_status dc_io_open(dc_io_file *f, const char *path);
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

/* After a short or bad read from a gzip (or plain) stream: the stream's own failure, reported as
 * "<path>: damaged or truncated gzip data (...)" (DC_ERR_FORMAT) or "<path>: cannot read: ..."
 * (DC_ERR_IO), so that a cut file is not blamed on the row it cut; DC_OK when the stream is fine. */
dc_status dc_io_gz_damage(gzFile f, const char *path);

#endif
