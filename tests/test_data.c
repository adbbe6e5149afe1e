/*
 * test_data.c - data loaders: IDX (MNIST format), CSV, the scikit-learn digits, batches and
 * datasets. Files are made by the tests; the digits come from python3-sklearn, which .ci/run
 * installs.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Write an IDX file: magic, dims, then data (len bytes); gzip when gz. */
static void write_idx(const char *path, uint32_t magic, int ndim, const uint32_t *dims,
                      const unsigned char *data, size_t len, int gz)
{
    unsigned char hdr[16];
    put_be32(hdr, magic);
    for (int i = 0; i < ndim; i++)
        put_be32(hdr + 4 + 4 * i, dims[i]);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, hdr, (unsigned)(4 + 4 * ndim));
        if (len)
            gzwrite(f, data, (unsigned)len);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(hdr, 1, (size_t)(4 + 4 * ndim), f);
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

TEST(data_idx_reads_images_and_labels_raw_and_gzip)
{
    const char *dir = t_tmpdir();
    char ip[512], lp[512];
    unsigned char px[3 * 2 * 4], lb[3] = {2, 0, 7};
    for (int i = 0; i < 24; i++)
        px[i] = (unsigned char)(i * 10);
    for (int gz = 0; gz < 2; gz++) {
        snprintf(ip, sizeof ip, "%s/img%d", dir, gz);
        snprintf(lp, sizeof lp, "%s/lab%d", dir, gz);
        write_idx(ip, 0x803, 3, (uint32_t[]){3, 2, 4}, px, sizeof px, gz);
        write_idx(lp, 0x801, 1, (uint32_t[]){3}, lb, sizeof lb, gz);
        dc_images d;
        REQUIRE(dc_idx_load(ip, lp, &d) == DC_OK);
        CHECK(d.n == 3 && d.c == 1 && d.h == 2 && d.w == 4, "shape %lld %lld %lld %lld",
              (long long)d.n, (long long)d.c, (long long)d.h, (long long)d.w);
        CHECK(d.n_classes == 8 && d.labels[2] == 7 && d.pixels[23] == 230, "contents wrong");
        dc_ctx *ctx = dc_ctx_new(0);
        dc_tensor *y;
        dc_tensor *x = dc_images_batch(ctx, &d, (int64_t[]){2, 0}, 2, 0.5f, 0.25f, &y);
        REQUIRE(x && y);
        /* image 2 pixel 0 is 160: (160/255 - 0.5)/0.25 */
        CHECK_NEAR(dc_f32(x)[0], (160.0 / 255.0 - 0.5) / 0.25, 1e-6);
        CHECK(dc_i64(y)[0] == 7 && dc_i64(y)[1] == 2, "labels of the batch");
        dc_ctx_free(ctx);
        dc_images_free(&d);
    }
}

/* dc_idx_load must fail with a message containing want. */
static void idx_error(const char *ip, const char *lp, const char *want, int line)
{
    dc_images d;
    dc_status st = dc_idx_load(ip, lp, &d);
    if (st == DC_OK) {
        t_fail(__FILE__, line, "IDX load should fail with '%s'", want);
        dc_images_free(&d);
    } else if (!strstr(dc_last_error(), want)) {
        t_fail(__FILE__, line, "message '%s' lacks '%s'", dc_last_error(), want);
    }
    CHECK(d.pixels == NULL && d.labels == NULL, "failed load must leave the set empty");
}

TEST(data_idx_refuses_malformed_files)
{
    const char *dir = t_tmpdir();
    char ok_i[512], ok_l[512], bad[512];
    unsigned char px[2 * 2 * 2] = {0}, lb[2] = {1, 1};
    snprintf(ok_i, sizeof ok_i, "%s/ok_i", dir);
    snprintf(ok_l, sizeof ok_l, "%s/ok_l", dir);
    write_idx(ok_i, 0x803, 3, (uint32_t[]){2, 2, 2}, px, sizeof px, 0);
    write_idx(ok_l, 0x801, 1, (uint32_t[]){2}, lb, sizeof lb, 0);
    snprintf(bad, sizeof bad, "%s/bad", dir);
    write_idx(bad, 0x802, 3, (uint32_t[]){2, 2, 2}, px, sizeof px, 0);
    idx_error(bad, ok_l, "bad IDX magic", __LINE__);
    write_idx(bad, 0x803, 3, (uint32_t[]){2, 2, 2}, px, 5, 0);
    idx_error(bad, ok_l, "truncated IDX data", __LINE__);
    write_idx(bad, 0x803, 3, (uint32_t[]){4000000000u, 4000, 4000}, px, 0, 0);
    idx_error(bad, ok_l, "IDX dimension 0", __LINE__);
    write_idx(bad, 0x801, 1, (uint32_t[]){3}, (unsigned char[]){1, 2, 3}, 3, 0);
    idx_error(ok_i, bad, "has 3 labels but", __LINE__);
    idx_error(ok_i, "no/such/file", "no/such/file", __LINE__);
    write_idx(bad, 0x803, 3, (uint32_t[]){2, 2, 2}, (unsigned char[9]){0}, 9, 0);
    idx_error(bad, ok_l, "trailing bytes", __LINE__);
}

TEST(data_fashion_mnist_missing_names_the_package)
{
    dc_images d;
    CHECK(dc_fashion_mnist_load("/nonexistent-dir", 1, &d) != DC_OK, "load should fail");
    CHECK(strstr(dc_last_error(), "dataset-fashion-mnist") != NULL,
          "message should name the Debian package: %s", dc_last_error());
}

TEST(data_csv_errors_name_file_and_line)
{
    const char *dir = t_tmpdir();
    char p[512];
    snprintf(p, sizeof p, "%s/t.csv", dir);
    t_write_text(p, "a,b\n1,2\n3,x4\n");
    CHECK(dc_csv_load(p, 1, ',') == NULL && strstr(dc_last_error(), "t.csv:3: column 2"),
          "bad number: %s", dc_last_error());
    t_write_text(p, "1,2\n3\n");
    CHECK(dc_csv_load(p, 0, ',') == NULL && strstr(dc_last_error(), "t.csv:2: 1 fields"),
          "ragged row: %s", dc_last_error());
    t_write_text(p, "1, 2.5\n\n-3,4e1\n");
    dc_tensor *t = dc_csv_load(p, 0, ',');
    REQUIRE(t);
    CHECK(t->shape[0] == 2 && t->shape[1] == 2 && dc_f32(t)[1] == 2.5f && dc_f32(t)[3] == 40.0f,
          "parsed values wrong");
    dc_tensor_free(t);
}

TEST(data_digits_from_sklearn)
{
    dc_tensor *x, *y;
    REQUIRE(dc_digits_load(NULL, &x, &y) == DC_OK);
    CHECK(x->shape[0] == 1797 && x->shape[1] == 64 && y->shape[0] == 1797, "digits shape");
    int64_t count[10] = {0};
    float mx = 0;
    for (int64_t i = 0; i < y->numel; i++)
        count[dc_i64(y)[i]]++;
    for (int64_t i = 0; i < x->numel; i++)
        mx = dc_f32(x)[i] > mx ? dc_f32(x)[i] : mx;
    CHECK(count[0] == 178 && count[9] == 180 && mx == 1.0f, "class counts %lld %lld, max %g",
          (long long)count[0], (long long)count[9], (double)mx);
    dc_tensor_free(x);
    dc_tensor_free(y);
}

TEST(data_tensor_dataset_batches_and_checks_labels)
{
    dc_tensor *x = dc_tensor_new(DC_F32, 2, DC_SHAPE(4, 3));
    dc_tensor *y = dc_tensor_new(DC_I64, 1, DC_SHAPE(4));
    for (int i = 0; i < 12; i++)
        dc_f32(x)[i] = (float)i;
    for (int i = 0; i < 4; i++)
        dc_i64(y)[i] = i % 2;
    dc_dataset *d = dc_dataset_tensors(x, y);
    REQUIRE(d);
    CHECK(d->n == 4 && d->n_classes == 2, "n %lld classes %d", (long long)d->n, d->n_classes);
    dc_ctx *ctx = dc_ctx_new(0);
    dc_tensor *bx, *by;
    REQUIRE(d->batch(d, ctx, (int64_t[]){3, 1}, 2, &bx, &by) == DC_OK);
    CHECK(dc_f32(bx)[0] == 9.0f && dc_f32(bx)[3] == 3.0f && dc_i64(by)[0] == 1, "gathered rows");
    CHECK(d->batch(d, ctx, (int64_t[]){4}, 1, &bx, &by) != DC_OK &&
          strstr(dc_last_error(), "out of range"), "index 4 should be refused");
    dc_ctx_free(ctx);
    dc_dataset_free(d);
    dc_tensor *x2 = dc_tensor_new(DC_F32, 2, DC_SHAPE(2, 3));
    dc_tensor *y2 = dc_tensor_new(DC_I64, 1, DC_SHAPE(3));
    CHECK(dc_dataset_tensors(x2, y2) == NULL && strstr(dc_last_error(), "same first"),
          "mismatched rows should be refused: %s", dc_last_error());
}
