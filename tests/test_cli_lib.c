/*
 * test_cli_lib.c - the library functions the thin CLI calls instead of doing the work itself:
 * tokenize's jobs (data/wp_job.h), --resume's stored command line and schedule checks
 * (train/resume.h), the text split and vocabulary file (train/lm_text.h), predict's inference
 * (train/predict.h), show's inputs and forecast chart (plot/), the usage-text flag scan
 * (core), the data-dependent defaults of the images form (data/data_spec.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "core/internal.h"
#include "data/data_spec.h"
#include "data/wp_job.h"
#include "plot/picture.h"
#include "plot/plot.h"
#include "train/forecast_report.h"
#include "train/lm_text.h"
#include "train/predict.h"
#include "train/resume.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST(lib_wp_job_trains_encodes_and_decodes)
{
    char corpus[600], vocab[600];
    snprintf(corpus, sizeof corpus, "%s/c.txt", t_tmpdir());
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", t_tmpdir());
    REQUIRE(t_write_text(corpus, "the cat sat on the mat. the cats sat on the mats!\n"
                                 "a dog ran after the cat; the dogs ran.\n"));
    const char *in[] = {corpus};
    dc_wp_job j = {.in = in, .n_in = 1, .max_len = 16};
    dc_wordpiece *wp = dc_wp_job_train(&j, 40, 1, vocab);
    CHECK(wp && dc_wordpiece_size(wp) == 40, "train: %s", wp ? "size" : dc_last_error());
    dc_wordpiece_free(wp);
    j = (dc_wp_job){.vocab = vocab, .text = "The cats ran", .pair = "a dog", .max_len = 16};
    dc_wp_encoded e;
    REQUIRE(dc_wp_job_encode(&j, &e) == DC_OK);
    CHECK(e.seg && e.n == e.n_tokens + 3 && e.bytes == 12 &&
              e.ids[0] == dc_wordpiece_special(e.wp, DC_WP_CLS) && e.seg[e.n - 1] == 1,
          "pair: n %lld of %lld tokens", (long long)e.n, (long long)e.n_tokens);
    dc_wp_encoded_free(&e);
    j.pair = NULL;
    REQUIRE(dc_wp_job_encode(&j, &e) == DC_OK);
    CHECK(!e.seg && e.n == e.n_tokens && e.n > 0, "plain: n %lld", (long long)e.n);
    char num[8][24];
    const char *ids[8];
    for (int64_t i = 0; i < e.n && i < 8; i++) {
        snprintf(num[i], sizeof num[i], "%lld", (long long)e.ids[i]);
        ids[i] = num[i];
    }
    char *text = NULL;
    CHECK(dc_wp_job_decode(&j, ids, (int)e.n, DC_WP_SKIP_SPECIAL | DC_WP_CLEANUP, &text) ==
              DC_OK && text && !strcmp(text, "the cats ran"), "decode: %s", text ? text : "");
    free(text);
    dc_wp_encoded_free(&e);
    const char *bad[] = {"0", "99999"};
    CHECK(dc_wp_job_decode(&j, bad, 2, 0, &text) == DC_ERR_ARG &&
              !strncmp(dc_last_error(), "id '99999'", 10), /* the CLI adds "tokenize decode: " */
          "bad id: %s", dc_last_error());
    j = (dc_wp_job){.vocab = vocab};
    CHECK(dc_wp_job_encode(&j, &e) == DC_ERR_ARG && !e.wp, "no text: %s", dc_last_error());
    j = (dc_wp_job){.text = "x"};
    CHECK(dc_wp_job_encode(&j, &e) == DC_ERR_ARG && strstr(dc_last_error(), "--vocab"),
          "no vocab: %s", dc_last_error());
}

static int only_quiet(const char *f) { return !strcmp(f, "--quiet"); }

TEST(lib_resume_args_join_drops_resume_out_and_repeats)
{
    char *argv[] = {"train", "m", "--data", "x", "--lr", "0.1", "--resume", "d", "--quiet",
                    "--out", "o", "--lr", "0.2"};
    char *s = dc_args_join(13, argv, 0, only_quiet);
    CHECK(s && !strcmp(s, "m\x1f--data\x1fx\x1f--quiet\x1f--out\x1fo\x1f--lr\x1f" "0.2"),
          "fresh: %s", s ? s : "");
    free(s);
    s = dc_args_join(13, argv, 1, only_quiet);
    CHECK(s && !strcmp(s, "m\x1f--data\x1fx\x1f--quiet\x1f--lr\x1f" "0.2"), "resuming: %s",
          s ? s : "");
    free(s);
    dc_resume r;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/none", t_tmpdir());
    CHECK(dc_resume_open(&r, dir, 1, argv) != DC_OK &&
              !strncmp(dc_last_error(), "--resume: ", 10), "missing: %s", dc_last_error());
    dc_resume_free(&r);
}

TEST(lib_resume_schedule_checks_and_epochs_from_steps)
{
    CHECK(dc_run_epochs(10, 0, 7, 20, 4) == 2 && dc_run_epochs(10, 1, 7, 20, 4) == 10 &&
              dc_run_epochs(3, 0, 0, 20, 4) == 3, "epochs from steps");
    dc_train_opts o = dc_train_defaults();
    o.sched.kind = DC_SCHED_COSINE;
    o.epochs = 4;
    dc_stored_sched was = {.epochs = 2, .epochs_set = 1, .batch = 4};
    CHECK(dc_resume_check_sched(&was, &o, 20, 2, "D") == DC_ERR_ARG &&
              strstr(dc_last_error(), "cosine") && strstr(dc_last_error(), "lr is 0") &&
              strstr(dc_last_error(), "D/model.safetensors"), "cosine: %s", dc_last_error());
    o.epochs = 2;
    CHECK(dc_resume_check_sched(&was, &o, 20, 1, "D") == DC_OK, "same cosine");
    was.t_max_set = 1;
    o.epochs = 5;
    CHECK(dc_resume_check_sched(&was, &o, 20, 1, "D") == DC_OK, "explicit T_max");
    o.sched.kind = DC_SCHED_LINEAR;
    o.sched.warmup_steps = was.warmup_steps = 3;
    o.epochs = 2;
    CHECK(dc_resume_check_sched(&was, &o, 20, 1, "D") == DC_OK, "same linear");
    o.epochs = 3;
    CHECK(dc_resume_check_sched(&was, &o, 20, 1, "D") == DC_ERR_ARG &&
              strstr(dc_last_error(), "linear"), "linear: %s", dc_last_error());
    o.sched.kind = DC_SCHED_NONE;
    CHECK(dc_resume_check_sched(&was, &o, 20, 1, "D") == DC_OK, "no schedule");
}

TEST(lib_corpus_split_and_vocab_file)
{
    char path[600], vpath[600];
    const char *dir = t_tmpdir();
    snprintf(path, sizeof path, "%s/t.txt", dir);
    REQUIRE(t_write_text(path, "abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc"));
    dc_corpus c;
    REQUIRE(dc_corpus_load(path, &c) == DC_OK && c.n == 60);
    size_t n = 0;
    CHECK(dc_corpus_split(&c, -1, &n) == DC_OK && n == 54, "10%%: %zu", n);
    CHECK(dc_corpus_split(&c, 20, &n) == DC_OK && n == 40, "--val 20: %zu", n);
    CHECK(dc_corpus_split(&c, 60, &n) == DC_ERR_ARG && strstr(dc_last_error(), "60"),
          "--val 60: %s", dc_last_error());
    dc_vocab v;
    snprintf(vpath, sizeof vpath, "%s/vocab.txt", dir);
    CHECK(dc_corpus_save_vocab(&c, dir) == DC_OK && dc_vocab_load(vpath, &v) == DC_OK &&
              v.n == 3, "vocab file: %s", dc_last_error());
    dc_corpus_free(&c);
}

/* DIR/NAME.pgm: a 4x4 gray image, border b, centre c. */
static int write_pgm(const char *path, int b, int c)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fprintf(f, "P5\n4 4\n255\n");
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            fputc(x == 0 || y == 0 || x == 3 || y == 3 ? b : c, f);
    return fclose(f) == 0;
}

TEST(lib_predict_image_top_classes_and_invert)
{
    dc_spec *spec = dc_spec_parse_string("[input]\nshape = 1, 4, 4\n[flatten f]\n"
                                         "[linear out]\nout_features = 3\n", "t");
    dc_rng rng;
    dc_rng_seed(&rng, 3, 0);
    dc_model *m = spec ? dc_spec_build(spec, &rng) : NULL;
    REQUIRE(m);
    char light[600];
    snprintf(light, sizeof light, "%s/light.pgm", t_tmpdir());
    REQUIRE(write_pgm(light, 250, 10));
    dc_predict_opts o = {.mean = 0.5f, .std = 0.5f, .invert = -1, .top = 5};
    dc_prediction p;
    REQUIRE(dc_predict_image(m, spec, light, &o, &p) == DC_OK);
    CHECK(p.n == 3 && p.prob[0] >= p.prob[1] && p.prob[1] >= p.prob[2] && !p.name &&
              fabsf(p.prob[0] + p.prob[1] + p.prob[2] - 1.0f) < 1e-5f, "top: n %d", p.n);
    CHECK(p.light && p.inverted && p.auto_inverted, "a light border inverts by itself");
    o.invert = 0;
    o.top = 1;
    REQUIRE(dc_predict_image(m, spec, light, &o, &p) == DC_OK);
    CHECK(p.n == 1 && !p.inverted && !p.auto_inverted, "--no-invert");
    dc_tensor *w = dc_model_find(m, "out.weight"); /* NaN weights (--allow-nonfinite) */
    REQUIRE(w);
    for (int64_t i = 0; i < w->numel; i++)
        dc_f32(w)[i] = NAN;
    CHECK(dc_predict_image(m, spec, light, &o, &p) == DC_ERR_NUMERIC && p.n == 0 &&
              strstr(dc_last_error(), "not finite"),
          "NaN output: n %d, class %d: %s", p.n, p.cls[0], dc_last_error());
    dc_spec *flat = dc_spec_parse_string("[input]\nshape = 16\n[linear out]\n"
                                         "out_features = 3\n", "f");
    dc_model *fm = flat ? dc_spec_build(flat, &rng) : NULL;
    CHECK(fm && dc_predict_image(fm, flat, light, &o, &p) == DC_ERR_SHAPE, "not an image");
    dc_model_free(fm);
    dc_spec_free(flat);
    dc_model_free(m);
    dc_spec_free(spec);
}

TEST(lib_show_inputs_and_images_form_defaults)
{
    dc_images im = {.c = 1, .h = 28, .w = 28};
    dc_spec *spec = dc_spec_parse_string("[input]\nshape = 1, 4, 4\n[flatten f]\n", "t");
    dc_model *m = spec ? dc_spec_build(spec, NULL) : NULL; /* the input shape is known then */
    REQUIRE(m);
    CHECK(picture_check_input(spec, "M", &im) == DC_ERR_SHAPE &&
              strstr(dc_last_error(), "[1, 4, 4]") && strstr(dc_last_error(), "[1, 28, 28]"),
          "shape: %s", dc_last_error());
    im.h = im.w = 4;
    CHECK(picture_check_input(spec, "M", &im) == DC_OK, "same shape");
    dc_model_free(m);
    dc_spec_free(spec);
    CHECK(picture_images_load("npy:a.npy,b.npy", 1, &im) == DC_ERR_ARG &&
              strstr(dc_last_error(), "fashion-mnist"), "npy: %s", dc_last_error());
    CHECK(dc_dataset_default_val("fashion-mnist:/x", 60000) == 5000 &&
              dc_dataset_default_val("idx:d", 120) == 10 &&
              dc_dataset_default_val("npy:a,b", 100) == 0, "default validation");
    CHECK(dc_dataset_class_names("fashion-mnist") == dc_fashion_mnist_class &&
              !dc_dataset_class_names("digits") && !dc_dataset_open_test("npy:a,b"),
          "class names, test split");
}

TEST(lib_usage_flags)
{
    char text[] = "usage: x [--a N] --bb|--cc, --a (--9x)\n  --d-e  not--this --";
    const char *known[8];
    int n = dc_usage_flags(text, known, 8);
    CHECK(n == 5 && !strcmp(known[0], "--a") && !strcmp(known[1], "--bb") &&
              !strcmp(known[2], "--cc") && !strcmp(known[3], "--9x") &&
              !strcmp(known[4], "--d-e") && !known[5], "flags: %d", n);
}

TEST(lib_forecast_open_checked_predict_and_chart)
{
    const char *d = t_tmpdir();
    char csv[600], data[700], svg[600];
    snprintf(csv, sizeof csv, "%s/wave.csv", d);
    snprintf(data, sizeof data, "csv:%s,window=6", csv);
    snprintf(svg, sizeof svg, "%s/f.svg", d);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    fprintf(f, "y,lead\n");
    for (int t = 0; t < 120; t++)
        fprintf(f, "%.6f,%.6f\n", sin(t * 0.39), cos(t * 0.39));
    REQUIRE(fclose(f) == 0);
    dc_spec *spec = dc_spec_parse_string("[input]\nshape = 6, 2\n[flatten f]\n[linear out]\n"
                                         "out_features = 1\n", "g");
    dc_rng rng;
    dc_rng_seed(&rng, 1, 0);
    dc_model *m = spec ? dc_spec_build(spec, &rng) : NULL;
    REQUIRE(m);
    dc_forecast_score sc;
    float *pred = NULL;
    char path[1100];
    dc_series *s = dc_forecast_open_checked(m, spec, data, "g", path, sizeof path);
    CHECK(s && dc_forecast_predict_test(m, s, &pred, &sc) == DC_OK && pred &&
              s->n[DC_SPLIT_TEST] > 0 && !strcmp(s->target, "y") && isfinite(sc.mae) &&
              !strcmp(path, csv), "test run: %s", dc_last_error());
    CHECK(s && pred && plot_forecast_svg(svg, s, pred, &sc, "g", path) == 0, "chart");
    free(pred);
    dc_series_free(s);
    FILE *g = fopen(svg, "r");
    CHECK(g != NULL, "no %s", svg);
    if (g)
        fclose(g);
    snprintf(data, sizeof data, "csv:%s/none.csv", d);
    CHECK(!dc_forecast_open_checked(m, spec, data, "g", path, sizeof path), "missing data");
    dc_spec *wide = dc_spec_parse_string("[input]\nshape = 5, 2\n[flatten f]\n[linear out]\n"
                                         "out_features = 1\n", "w");
    dc_model *wm = wide ? dc_spec_build(wide, &rng) : NULL;
    snprintf(data, sizeof data, "csv:%s,window=6", csv);
    CHECK(wm && !dc_forecast_open_checked(wm, wide, data, "w", path, sizeof path) &&
              !strncmp(dc_last_error(), "w ", 2), "window 6 into a 5-step model: %s",
          dc_last_error());
    dc_model_free(wm);
    dc_spec_free(wide);
    dc_model_free(m);
    dc_spec_free(spec);
}

/* The plot writers are library code: a failure is in dc_last_error(), naming the file, and
 * nothing goes to stderr (they printed their messages themselves). */
TEST(lib_plot_failures_set_the_error_and_print_nothing)
{
    const char *d = t_tmpdir();
    char err[600], bad[700];
    snprintf(err, sizeof err, "%s/stderr.txt", d);
    snprintf(bad, sizeof bad, "%s/no/such/dir/c.svg", d);
    double x[3] = {0, 1, 2}, y[3] = {1, 2, 1}, nan3[3] = {NAN, NAN, NAN};
    plot_line line = {"y", y, "#000000", 0}, none = {"nan", nan3, "#000000", 0};
    plot_chart ok = {"t", "x", "y", x, 3, &line, 1, 0, 0};
    plot_chart empty = {"t", "x", "y", x, 3, &none, 1, 0, 0};
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(err, "w");
    REQUIRE(saved >= 0 && f);
    dup2(fileno(f), 2);
    int r1 = plot_svg_write(bad, &ok);
    char e1[300];
    snprintf(e1, sizeof e1, "%s", dc_last_error());
    int r2 = plot_svg_write(bad, &empty);
    char e2[300];
    snprintf(e2, sizeof e2, "%s", dc_last_error());
    snprintf(bad, sizeof bad, "%s/no/such/dir/c.png", d);
    int r3 = plot_png_write(bad, &ok);
    int r4 = plot_log_curves(bad, NULL, e1 + 200, 50);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long printed = ftell(f);
    fclose(f);
    CHECK(r1 == -1 && strstr(e1, "c.svg"), "unwritable svg: %d '%s'", r1, e1);
    CHECK(r2 == -1 && strstr(e2, "nothing to draw"), "no finite value: %d '%s'", r2, e2);
    CHECK(r3 == -1 && r4 == -2, "png %d, curves %d", r3, r4);
    CHECK(printed == 0, "%ld bytes on stderr", printed);
}
