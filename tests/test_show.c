/*
 * test_show.c - `deepc show` as a user runs it, on a tiny IDX dataset and a tiny conv net the
 * test makes (Fashion-MNIST need not be installed): the PNGs exist, have the sizes the layout
 * implies and show the images; bad inputs exit 2 without writing anything.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IMG 8         /* the tiny images are IMG x IMG */
#define MARK 137      /* a gray level only the images use: seen in a PNG = images were drawn */

static char out[1 << 16];

static void be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* An un-gzipped IDX pair DIR/<prefix>-{images-idx3,labels-idx1}-ubyte of n IMG x IMG images in
 * 3 classes: a horizontal bar, a vertical bar or a diagonal (gray MARK) at a position that
 * varies, on black. */
static int write_idx(const char *dir, const char *prefix, int n)
{
    char ip[600], lp[600];
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte", dir, prefix);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte", dir, prefix);
    FILE *fi = fopen(ip, "wb"), *fl = fopen(lp, "wb");
    if (!fi || !fl) {
        if (fi)
            fclose(fi);
        if (fl)
            fclose(fl);
        return -1;
    }
    be32(fi, 0x00000803);
    be32(fi, (uint32_t)n);
    be32(fi, IMG);
    be32(fi, IMG);
    be32(fl, 0x00000801);
    be32(fl, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        unsigned char px[IMG][IMG], label = (unsigned char)(i % 3);
        int pos = 1 + (i / 3) % (IMG - 2);
        memset(px, 0, sizeof px);
        for (int k = 0; k < IMG; k++) {
            if (label == 0)
                px[pos][k] = MARK;
            else if (label == 1)
                px[k][pos] = MARK;
            else
                px[k][(k + pos) % IMG] = MARK;
        }
        px[0][0] = (unsigned char)(20 * i); /* every image differs */
        fwrite(px, 1, sizeof px, fi);
        fwrite(&label, 1, 1, fl);
    }
    int bad = ferror(fi) || ferror(fl);
    bad |= fclose(fi) != 0;
    bad |= fclose(fl) != 0;
    return bad ? -1 : 0;
}

static const char conv_spec[] =
    "[input]\nshape = 1, 8, 8\n"
    "[conv2d c1]\nout_channels = 3\nkernel = 3\npadding = 1\n"
    "[relu r1]\n[maxpool2d p1]\nkernel = 2\n"
    "[flatten flat]\n[linear fc]\nout_features = 3\n";
static const char dense_spec[] =
    "[input]\nshape = 1, 8, 8\n[flatten flat]\n[linear fc]\nout_features = 3\n";

/* DIR/NAME.spec holding text and DIR/NAME.safetensors with seeded random weights for it. */
static int write_model(const char *dir, const char *name, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.spec", dir, name);
    if (!t_write_text(path, text))
        return -1;
    dc_rng rng;
    dc_rng_seed(&rng, 5, 0);
    dc_spec *s = dc_spec_parse_string(text, name);
    dc_model *m = s ? dc_spec_build(s, &rng) : NULL;
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    int rc = m && dc_model_save(m, path) == DC_OK ? 0 : -1;
    dc_model_free(m);
    dc_spec_free(s);
    return rc;
}

/* A directory with the tiny data set (20 train, 12 test images) and both models. */
static const char *make_fixture(void)
{
    const char *dir = t_tmpdir();
    if (write_idx(dir, "train", 20) || write_idx(dir, "t10k", 12) ||
        write_model(dir, "conv", conv_spec) || write_model(dir, "dense", dense_spec))
        return NULL;
    return dir;
}

/* Read DIR/NAME back: checks it is a gray PNG of at least min_w x min_h that is not one flat
 * color; *has_mark tells whether the image gray MARK occurs. 0 or -1 (after a failed check). */
static int check_png(const char *dir, const char *name, int min_w, int min_h, int *has_mark)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int w = 0, h = 0, c = 0, differ = 0;
    uint8_t *px = NULL;
    if (dc_image_read(path, &w, &h, &c, &px) != DC_OK) {
        t_fail(__FILE__, __LINE__, "cannot read %s back: %s", path, dc_last_error());
        return -1;
    }
    CHECK(c == 1, "%s: %d channels, expected gray", name, c);
    CHECK(w >= min_w && h >= min_h, "%s is %dx%d, expected at least %dx%d", name, w, h, min_w,
          min_h);
    if (has_mark)
        *has_mark = 0;
    for (long i = 0; i < (long)w * h * c; i++) {
        differ |= px[i] != px[0];
        if (has_mark && px[i] == MARK)
            *has_mark = 1;
    }
    CHECK(differ, "%s: every pixel is %d", name, px[0]);
    /* The title (the top 28 rows hold only it) is black text on white paper. */
    int ink = 0, paper = 0;
    for (long i = 0; i < (long)w * (h < 28 ? h : 28) * c; i++) {
        ink += px[i] == 0;
        paper += px[i] == 255;
    }
    CHECK(ink > 20 && paper > ink, "%s: no title text (%d black, %d white pixels on top)", name,
          ink, paper);
    free(px);
    return 0;
}

static int exists(const char *dir, const char *name)
{
    char path[1200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

TEST(show_samples_grid_of_labelled_images)
{
    const char *d = make_fixture();
    REQUIRE(d);
    int rc = t_run_deepc(out, sizeof out, "show samples --data fashion-mnist:%s --n 5 --out "
                         "%s/s.png", d, d);
    CHECK(rc == 0, "show samples exited %d:\n%s", rc, out);
    int mark = 0;
    /* 5 tiles of 8x8 drawn 10x: a 3x2 grid of 80-pixel tiles with captions. */
    if (check_png(d, "s.png", 3 * 80, 2 * 80 + 2 * 9, &mark) == 0)
        CHECK(mark, "s.png has no pixel of the images' gray %d", MARK);
    rc = t_run_deepc(out, sizeof out, "show samples --data fashion-mnist:%s --n 100 --seed 9 "
                     "--out %s/r.png", d, d);
    CHECK(rc == 0, "seeded samples (n above the set size) exited %d:\n%s", rc, out);
    check_png(d, "r.png", 5 * 80, 4 * 80, NULL);
}

TEST(show_filters_of_the_first_conv)
{
    const char *d = make_fixture();
    REQUIRE(d);
    int rc = t_run_deepc(out, sizeof out, "show filters %s/conv.spec --weights "
                         "%s/conv.safetensors --out %s/f.png", d, d, d);
    CHECK(rc == 0, "show filters exited %d:\n%s", rc, out);
    /* 3 output channels of one 3x3 kernel each, drawn at least 8x. */
    check_png(d, "f.png", 3 * 24, 24, NULL);
}

TEST(show_features_writes_input_and_every_conv_and_pool)
{
    const char *d = make_fixture();
    REQUIRE(d);
    int rc = t_run_deepc(out, sizeof out, "show features %s/conv.spec --weights "
                         "%s/conv.safetensors --data fashion-mnist:%s --index 4 --out %s/feat",
                         d, d, d, d);
    CHECK(rc == 0, "show features exited %d:\n%s", rc, out);
    char fd[1024];
    snprintf(fd, sizeof fd, "%s/feat", d);
    int mark = 0;
    if (check_png(fd, "input.png", 8 * 10, 8 * 10, &mark) == 0)
        CHECK(mark, "input.png has no pixel of the image's gray %d", MARK);
    check_png(fd, "c1.png", 3 * 8, 8, NULL);  /* [1, 3, 8, 8] */
    check_png(fd, "p1.png", 3 * 4, 4, NULL);  /* [1, 3, 4, 4] */
    CHECK(!exists(fd, "r1.png") && !exists(fd, "fc.png"),
          "only conv and pooling layers are drawn:\n%s", out);
}

TEST(show_errors_grid)
{
    const char *d = make_fixture();
    REQUIRE(d);
    int rc = t_run_deepc(out, sizeof out, "show errors %s/conv.spec --weights "
                         "%s/conv.safetensors --data fashion-mnist:%s --n 4 --out %s/e.png", d,
                         d, d, d);
    CHECK(rc == 0, "show errors exited %d:\n%s", rc, out);
    CHECK(strstr(out, "misclassified"), "no count of misclassified images:\n%s", out);
    check_png(d, "e.png", 80, 30, NULL);
}

/* Each bad command exits 2 and writes no DIR/x.png. */
TEST(show_bad_input_exits_2_and_writes_nothing)
{
    const char *d = make_fixture();
    REQUIRE(d);
    static const char *bad[] = {
        "samples --out %s/x.png",                                          /* no --data */
        "samples --data fashion-mnist:%s/nodir --out %s/x.png",            /* no data there */
        "samples --data fashion-mnist:%s --n zero --out %s/x.png",         /* bad number */
        "samples --data fashion-mnist:%s --weights w --out %s/x.png",      /* not for samples */
        "nosuch --out %s/x.png",                                           /* unknown picture */
        "filters %s/conv.spec --out %s/x.png",                             /* no --weights */
        "filters %s/conv.spec --weights %s/none.safetensors --out %s/x.png",   /* no file */
        "filters %s/conv.spec --weights %s/dense.safetensors --out %s/x.png",  /* mismatch */
        "filters %s/dense.spec --weights %s/dense.safetensors --out %s/x.png", /* no conv */
        "features %s/conv.spec --weights %s/conv.safetensors --out %s/x.png",  /* no --data */
        "features %s/conv.spec --weights %s/conv.safetensors --data fashion-mnist:%s "
        "--index 12 --out %s/x.png",                                       /* index too big */
        "features %s/dense.spec --weights %s/dense.safetensors --data fashion-mnist:%s "
        "--out %s/x.png",                                                  /* nothing to draw */
        "errors %s/conv.spec --weights %s/conv.safetensors --data fashion-mnist:%s/nodir "
        "--out %s/x.png",                                                  /* no data there */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[2048];
        snprintf(args, sizeof args, bad[i], d, d, d, d);
        int rc = t_run_deepc(out, sizeof out, "show %s", args);
        CHECK(rc == 2, "'show %s' should exit 2, got %d:\n%s", args, rc, out);
        CHECK(strstr(out, "deepc") != NULL, "'show %s' gave no message", args);
        CHECK(!exists(d, "x.png"), "'show %s' wrote x.png", args);
    }
    CHECK(t_run_deepc(out, sizeof out, "show --help") == 0 && strstr(out, "features"),
          "show --help:\n%s", out);
}

TEST(show_mismatched_input_shape_is_named)
{
    const char *d = make_fixture();
    REQUIRE(d);
    char spec[600];
    snprintf(spec, sizeof spec, "%s/wide", d);
    REQUIRE(write_model(d, "wide", "[input]\nshape = 1, 6, 6\n[conv2d c1]\nout_channels = 2\n"
                                   "kernel = 3\n") == 0);
    int rc = t_run_deepc(out, sizeof out, "show features %s.spec --weights %s.safetensors "
                         "--data fashion-mnist:%s --out %s/fw", spec, spec, d, d);
    CHECK(rc == 2, "a model for 6x6 input on 8x8 images should exit 2, got %d:\n%s", rc, out);
    CHECK(strstr(out, "[1, 6, 6]") && strstr(out, "[1, 8, 8]"), "message: %s", out);
    CHECK(!exists(d, "fw"), "the output directory was created");
}

/* issue 14 item 13: --out folders that do not exist yet are created (mkdir -p) */
TEST(show_out_creates_missing_folders)
{
    const char *d = make_fixture();
    REQUIRE(d);
    int rc = t_run_deepc(out, sizeof out, "show features %s/conv.spec --weights "
                         "%s/conv.safetensors --data fashion-mnist:%s --out %s/a/b/feat", d, d,
                         d, d);
    char fd[1024];
    snprintf(fd, sizeof fd, "%s/a/b/feat", d);
    CHECK(rc == 0 && exists(fd, "input.png"), "show features --out a/b/feat: %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "show samples --data fashion-mnist:%s --n 3 --out "
                     "%s/c/d/s.png", d, d);
    snprintf(fd, sizeof fd, "%s/c/d", d);
    CHECK(rc == 0 && exists(fd, "s.png"), "show samples --out c/d/s.png: %d\n%s", rc, out);
}
