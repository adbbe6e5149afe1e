/*
 * test_average.c - checkpoint averaging (src/io/average.c, deepc average): the element-wise mean
 * of float tensors rounded once from double sums, integer tensors from the last file, metadata
 * from the first, and a clear error for files of different models.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "io/average.h"

#include <string.h>

static char out[4096];

/* DIR/NAME.safetensors holding "w" [2, 3] = base + j·step (j the element) and "n" [1] = count,
 * plus "extra" [2] when extra, with the metadata note = "file COUNT". 1 on success. */
static int write_w(const char *path, float base, float step, int64_t count, int extra)
{
    dc_tensor *w = dc_tensor_new(DC_F32, 2, DC_SHAPE(2, 3));
    dc_tensor *n = dc_tensor_new(DC_I64, 1, DC_SHAPE(1));
    dc_tensor *e = dc_tensor_new(DC_F32, 1, DC_SHAPE(2));
    if (!w || !n || !e)
        return 0;
    for (int j = 0; j < 6; j++)
        dc_f32(w)[j] = base + (float)j * step;
    dc_i64(n)[0] = count;
    const char *names[3] = {"w", "n", "extra"};
    const dc_tensor *ts[3] = {w, n, e};
    char note[32];
    snprintf(note, sizeof note, "file %lld", (long long)count); /* which file it came from */
    const char *k[1] = {"note"}, *v[1] = {note};
    dc_status st = dc_safetensors_write_meta(path, extra ? 3 : 2, names, ts, 1, k, v);
    dc_tensor_free(w);
    dc_tensor_free(n);
    dc_tensor_free(e);
    return st == DC_OK;
}

TEST(average_is_the_mean_of_floats_last_ints_first_metadata)
{
    const char *d = t_tmpdir();
    char a[600], b[600], c[600], o[600], x[600];
    snprintf(a, sizeof a, "%s/a.safetensors", d);
    snprintf(b, sizeof b, "%s/b.safetensors", d);
    snprintf(c, sizeof c, "%s/c.safetensors", d);
    snprintf(o, sizeof o, "%s/o.safetensors", d);
    snprintf(x, sizeof x, "%s/x.safetensors", d);
    REQUIRE(write_w(a, 1.0f, 0.1f, 10, 0) && write_w(b, 2.0f, 0.2f, 20, 0) &&
            write_w(c, 4.0f, 0.4f, 30, 0) && write_w(x, 1.0f, 0.1f, 10, 1));
    const char *in[3] = {a, b, c};
    REQUIRE(dc_weights_average(o, 3, in) == DC_OK);
    dc_tdict *t = dc_safetensors_read(o);
    REQUIRE(t);
    const dc_tensor *w = dc_tdict_get(t, "w"), *n = dc_tdict_get(t, "n");
    CHECK(w && n && w->numel == 6 && dc_i64(n)[0] == 30, "layout, or n not the last file's");
    for (int j = 0; w && j < 6; j++) {
        double want = ((double)(1.0f + (float)j * 0.1f) + (double)(2.0f + (float)j * 0.2f) +
                       (double)(4.0f + (float)j * 0.4f)) / 3.0;
        CHECK(dc_f32(w)[j] == (float)want, "w[%d] %.9g, want %.9g", j, dc_f32(w)[j], want);
    }
    CHECK(dc_tdict_meta(t, "note") && !strcmp(dc_tdict_meta(t, "note"), "file 10"),
          "the metadata of the first file, not '%s'",
          dc_tdict_meta(t, "note") ? dc_tdict_meta(t, "note") : "(none)");
    dc_tdict_free(t);
    const char *bad[2] = {a, x};
    CHECK(dc_weights_average(o, 2, bad) == DC_ERR_ARG && strstr(dc_last_error(), "3 tensors"),
          "another model: %s", dc_last_error());
    int rc = t_run_deepc(out, sizeof out, "average --out %s %s %s", o, a, b);
    CHECK(rc == 0 && strstr(out, "mean of 2 files"), "deepc average: rc %d: %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "average --out %s %s %s", o, a, x);
    CHECK(rc == 2 && strstr(out, "not the same model"), "deepc average of two models: rc %d: %s",
          rc, out);
    rc = t_run_deepc(out, sizeof out, "average %s", a);
    CHECK(rc == 2 && strstr(out, "--out"), "no --out: rc %d: %s", rc, out);
}
