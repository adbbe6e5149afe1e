/*
 * test_npy_limits.c - the .npy header scanner at its string-length limits: keys have room for
 * 31 characters, 'descr' values for 63 (plus the NUL). One character more must be refused as
 * "string too long", never written past the buffer (also run under `make sanitize`); one less
 * reaches the next check (an unknown key, an unknown dtype).
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write a version 1.0 .npy file with this header text and 8 data bytes; 1 on success. */
static int write_npy(const char *path, const char *header)
{
    char text[1024];
    size_t n = (size_t)snprintf(text, sizeof text, "%s", header);
    while ((10 + n + 1) % 64 && n + 2 < sizeof text) /* pad like numpy, end with '\n' */
        text[n++] = ' ';
    text[n++] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff),
                             (unsigned char)(n >> 8)};
    static const unsigned char data[8] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}; /* 1.0f, 2.0f */
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(text, 1, n, f) == n &&
             fwrite(data, 1, 8, f) == 8;
    return (fclose(f) == 0) & ok;
}

static void repeat(char *out, char c, int n)
{
    memset(out, c, (size_t)n);
    out[n] = '\0';
}

/* Load a file with this header; expect refusal with `want` in the message (NULL: success). */
static void expect(const char *dir, const char *header, const char *want, const char *what)
{
    char path[512];
    snprintf(path, sizeof path, "%s/h.npy", dir);
    REQUIRE(write_npy(path, header));
    dc_clear_error();
    dc_tensor *t = dc_npy_load(path);
    if (!want) {
        CHECK(t && t->numel == 2 && dc_f32(t)[1] == 2.0f, "%s: not read: %s", what,
              dc_last_error());
    } else {
        CHECK(!t, "%s: accepted", what);
        CHECK(strstr(dc_last_error(), want) != NULL, "%s: message '%s' lacks '%s'", what,
              dc_last_error(), want);
    }
    dc_tensor_free(t);
}

TEST(npy_header_key_length_limits)
{
    const char *dir = t_tmpdir();
    char key[80], hdr[400], want[120];
    expect(dir, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", NULL, "control");
    static const int lens[5] = {30, 31, 32, 63, 64};
    for (int i = 0; i < 5; i++) {
        repeat(key, 'k', lens[i]);
        snprintf(hdr, sizeof hdr, "{'%s': '<f4', 'fortran_order': False, 'shape': (2,), }", key);
        char what[64];
        snprintf(what, sizeof what, "a %d-character key", lens[i]);
        if (lens[i] <= 31) { /* fits: the key itself is reported, whole */
            snprintf(want, sizeof want, "unexpected key '%s'", key);
            expect(dir, hdr, want, what);
        } else {
            expect(dir, hdr, "string too long", what);
        }
    }
}

TEST(npy_header_descr_length_limits)
{
    const char *dir = t_tmpdir();
    char val[80], hdr[400];
    static const int lens[4] = {62, 63, 64, 65};
    for (int i = 0; i < 4; i++) {
        repeat(val, 'f', lens[i]);
        val[0] = '<';
        snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (2,), }", val);
        char what[64];
        snprintf(what, sizeof what, "a %d-character descr", lens[i]);
        expect(dir, hdr, lens[i] <= 63 ? "unsupported dtype '<fff" : "string too long", what);
    }
    /* the same limits for the string in the other position of the dict */
    repeat(val, 'x', 64);
    snprintf(hdr, sizeof hdr, "{'fortran_order': False, 'shape': (2,), 'descr': \"%s\"}", val);
    expect(dir, hdr, "string too long", "a 64-character descr last, double quotes");
    repeat(val, 'x', 63);
    snprintf(hdr, sizeof hdr, "{'fortran_order': False, 'shape': (2,), 'descr': \"%s\"}", val);
    expect(dir, hdr, "unsupported dtype", "a 63-character descr last, double quotes");
}
