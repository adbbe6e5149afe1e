/*
 * test_cli_user.c - the deepc command as a new user meets it: --out folders that do not exist
 * yet, help and version, suggestions for misspelt commands and flags in one form across the
 * subcommands, --set for spec variables, compare's key lists and .npy, predict's preprocessing
 * and its light-background check.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char out[1 << 16];

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* DIR/x.npy [n, 4] float and DIR/y.npy [n] int64 (labels 0..2), a separable toy set. */
static void write_toy(const char *dir, int n)
{
    char px[600], py[600];
    dc_tensor *x = dc_tensor_new(DC_F32, 2, DC_SHAPE(n, 4));
    dc_tensor *y = dc_tensor_new(DC_I64, 1, DC_SHAPE(n));
    for (int i = 0; i < n; i++) {
        dc_i64(y)[i] = i % 3;
        for (int j = 0; j < 4; j++)
            dc_f32(x)[i * 4 + j] = j == i % 3 ? 1.0f : 0.1f * (float)(i % 5);
    }
    snprintf(px, sizeof px, "%s/x.npy", dir);
    snprintf(py, sizeof py, "%s/y.npy", dir);
    CHECK(dc_npy_save(px, x) == DC_OK && dc_npy_save(py, y) == DC_OK, "npy: %s", dc_last_error());
    dc_tensor_free(x);
    dc_tensor_free(y);
}

static const char mlp_spec[] = "[input]\nshape = 4\n[linear fc]\nout_features = 3\n";

/* issue 14 item 13: --out a/b/c creates every missing folder (mkdir -p) */
TEST(cli_out_creates_missing_parent_folders)
{
    const char *d = t_tmpdir();
    char spec[600], path[700];
    snprintf(spec, sizeof spec, "%s/m.spec", d);
    REQUIRE(t_write_text(spec, mlp_spec));
    write_toy(d, 30);
    int rc = t_run_deepc(out, sizeof out, "train %s --data npy:%s/x.npy,%s/y.npy --epochs 1 --lr 0.1 "
                         "--quiet --out %s/runs/deep/er/run1", spec, d, d, d);
    CHECK(rc == 0, "train --out into missing folders exited %d:\n%s", rc, out);
    snprintf(path, sizeof path, "%s/runs/deep/er/run1/model.safetensors", d);
    CHECK(is_file(path), "%s was not written:\n%s", path, out);
    rc = t_run_deepc(out, sizeof out, "forward %s --weights %s --input %s/x.npy --output "
                     "%s/fw/d/y.npy", spec, path, d, d);
    snprintf(path, sizeof path, "%s/fw/d/y.npy", d);
    CHECK(rc == 0 && is_file(path), "forward --output into missing folders: %d\n%s", rc, out);
    /* a folder on the way that is a file: exit 2, the message names it */
    snprintf(path, sizeof path, "%s/afile", d);
    REQUIRE(t_write_text(path, "x"));
    rc = t_run_deepc(out, sizeof out, "train %s --data npy:%s/x.npy,%s/y.npy --epochs 1 --lr 0.1 "
                     "--quiet --out %s/afile/run", spec, d, d, d);
    CHECK(rc == 2 && strstr(out, "afile") && strstr(out, "not a directory"),
          "--out under a file: exit %d:\n%s", rc, out);
}

/* issue 14 item 16: deepc --version, deepc help, deepc help CMD */
TEST(cli_help_and_version)
{
    int rc = t_run_deepc(out, sizeof out, "--version");
    CHECK(rc == 0 && !strncmp(out, "deepc ", 6), "--version: %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "help");
    CHECK(rc == 0 && strstr(out, "commands:") && strstr(out, "summary"), "help: %d %s", rc, out);
    static const char *cmds[] = {"train", "eval", "forward", "predict", "show", "summary",
                                 "generate", "plot", "compare", "gradcheck", "layers", "version"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: deepc %s", cmds[i]);
        rc = t_run_deepc(out, sizeof out, "help %s", cmds[i]);
        CHECK(rc == 0 && strstr(out, want), "help %s: exit %d:\n%s", cmds[i], rc, out);
    }
    rc = t_run_deepc(out, sizeof out, "help trian");
    CHECK(rc == 2 && strstr(out, "did you mean 'train'"), "help trian: %d %s", rc, out);
}

/* issue 14 item 16: the nearest command or flag is suggested, in one form everywhere */
TEST(cli_unknown_names_suggest_the_nearest)
{
    int rc = t_run_deepc(out, sizeof out, "trian models/lenet5");
    CHECK(rc == 2 && strstr(out, "unknown command 'trian' \u2014 did you mean 'train'?"),
          "trian: %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "sumary models/lenet5");
    CHECK(rc == 2 && strstr(out, "did you mean 'summary'?"), "sumary: %d %s", rc, out);
    rc = t_run_deepc(out, sizeof out, "xyzzy");
    CHECK(rc == 2 && !strstr(out, "did you mean"), "nothing is near xyzzy: %s", out);
    static const struct { const char *args, *cmd, *flag, *near; } c[] = {
        {"train models/lenet5 --data digits --epoch 3", "train", "--epoch", "--epochs"},
        {"train models/lenet5 --data digits --optimiser adam", "train", "--optimiser",
         "--optimizer"},
        {"eval models/lenet5 --wieghts w --data digits", "eval", "--wieghts", "--weights"},
        {"forward models/lenet5 --inptu x.npy", "forward", "--inptu", "--input"},
        {"predict models/lenet5 --imgae x.png", "predict", "--imgae", "--image"},
        {"compare a b --rtl 1", "compare", "--rtl", "--rtol"},
        {"show samples --dat x --out y.png", "show", "--dat", "--data"},
        {"plot runs/x --ot x.svg", "plot", "--ot", "--out"},
        {"summary models/lenet5 --sett a=1", "summary", "--sett", "--set"},
        {"generate m --weights w --temp 1", "generate", "--temp", "--temperature"},
        {"gradcheck --verbse", "gradcheck", "--verbse", "--verbose"},
        {"layers --jsn", "layers", "--jsn", "--json"},
        {"summary models/lenet5 --plan --bach 8", "summary", "--bach", "--batch"},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        char want[200];
        snprintf(want, sizeof want, "deepc %s: unknown option '%s' \u2014 did you mean '%s'? "
                 "(deepc %s --help lists the options)", c[i].cmd, c[i].flag, c[i].near,
                 c[i].cmd);
        rc = t_run_deepc(out, sizeof out, "%s", c[i].args);
        CHECK(rc == 2 && strstr(out, want), "'%s': exit %d, wanted \"%s\":\n%s", c[i].args, rc,
              want, out);
    }
}

/* issue 14 items 16, 20: a missing required flag is named */
TEST(cli_missing_required_flags_are_named)
{
    static const struct { const char *args, *want; } c[] = {
        {"eval models/lenet5 --data digits", "deepc eval: missing --weights"},
        {"eval models/lenet5 --weights w.safetensors", "deepc eval: missing --data"},
        {"eval --weights w --data digits", "deepc eval: missing MODEL"},
        {"forward models/lenet5 --weights w --input x.npy", "deepc forward: missing --output"},
        {"predict models/lenet5 --weights w", "deepc predict: missing --image"},
        {"compare a.safetensors", "deepc compare: missing the second file"},
        {"show features models/lenet5 --data digits --out x", "deepc show features: missing "
         "--weights"},
        {"eval models/lenet5 --weights", "deepc eval: --weights needs a value"},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        int rc = t_run_deepc(out, sizeof out, "%s", c[i].args);
        CHECK(rc == 2 && strstr(out, c[i].want), "'%s': exit %d, wanted \"%s\":\n%s", c[i].args,
              rc, c[i].want, out);
    }
}

/* issue 14 item 17: summary of a text model without data; --set for any spec variable */
TEST(cli_summary_set_and_the_vocab_default)
{
    int rc = t_run_deepc(out, sizeof out, "summary models/char_lstm");
    CHECK(rc == 0 && strstr(out, "$vocab = 256"), "summary models/char_lstm: %d\n%s", rc, out);
    /* embedding 256x64 + LSTM + linear 256x256+256 */
    CHECK(strstr(out, "938,240"), "char_lstm with 256 symbols has 938,240 parameters:\n%s", out);
    rc = t_run_deepc(out, sizeof out, "summary models/char_lstm --set vocab=96");
    CHECK(rc == 0 && !strstr(out, "$vocab") && strstr(out, "[1, 64, 96]"),
          "--set vocab=96: %d\n%s", rc, out);
    const char *d = t_tmpdir();
    char spec[600];
    snprintf(spec, sizeof spec, "%s/v.spec", d);
    REQUIRE(t_write_text(spec, "[input]\nshape = 4\n[linear fc]\nout_features = $k\n"));
    rc = t_run_deepc(out, sizeof out, "summary %s --set k=7", spec);
    CHECK(rc == 0 && strstr(out, "[1, 7]"), "--set k=7: %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "summary %s --set q=7", spec);
    CHECK(rc == 2 && strstr(out, "$q"), "--set of an unused name: %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "summary %s --set k", spec);
    CHECK(rc == 2 && strstr(out, "NAME=VALUE"), "--set without '=': %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "summary %s", spec);
    CHECK(rc == 2 && strstr(out, "$k"), "an undefined variable: %d\n%s", rc, out);
}

/* Save tensors named names[i] = {v[i], v[i]+1} to path. */
static void save_pairs(const char *path, int n, const char *const *names, const float *v)
{
    dc_tensor *t[8] = {0};
    for (int i = 0; i < n; i++) {
        t[i] = dc_tensor_new(DC_F32, 1, DC_SHAPE(2));
        dc_f32(t[i])[0] = v[i];
        dc_f32(t[i])[1] = v[i] + 1;
    }
    CHECK(dc_safetensors_write(path, n, names, (const dc_tensor *const *)t) == DC_OK, "%s",
          dc_last_error());
    for (int i = 0; i < n; i++)
        dc_tensor_free(t[i]);
}

/* issue 14 item 20, issue 19 item 3: compare lists the keys of one file only; reads .npy */
TEST(cli_compare_lists_keys_in_one_file_only_and_reads_npy)
{
    const char *d = t_tmpdir();
    char a[600], b[600], x[600], y[600];
    snprintf(a, sizeof a, "%s/a.safetensors", d);
    snprintf(b, sizeof b, "%s/b.safetensors", d);
    static const char *const na[] = {"fc.bias", "fc.weight", "old.weight"};
    static const char *const nb[] = {"fc.bias", "fc.weight", "new.weight"};
    const float v[] = {1, 2, 3};
    save_pairs(a, 3, na, v);
    save_pairs(b, 3, nb, v);
    int rc = t_run_deepc(out, sizeof out, "compare %s %s", a, b);
    CHECK(rc == 1 && strstr(out, "only in") && strstr(out, "old.weight") &&
          strstr(out, "new.weight") && strstr(out, "DIFFERENT"),
          "different keys: exit %d:\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "compare %s %s", a, a);
    CHECK(rc == 0 && !strstr(out, "only in") && strstr(out, "match"), "same: %d\n%s", rc, out);
    snprintf(x, sizeof x, "%s/x.npy", d);
    snprintf(y, sizeof y, "%s/y.npy", d);
    dc_tensor *t = dc_tensor_new(DC_F32, 1, DC_SHAPE(3));
    dc_f32(t)[0] = 1;
    dc_f32(t)[1] = 2;
    dc_f32(t)[2] = 3;
    REQUIRE(dc_npy_save(x, t) == DC_OK);
    dc_f32(t)[2] = 3.5f;
    REQUIRE(dc_npy_save(y, t) == DC_OK);
    dc_tensor_free(t);
    rc = t_run_deepc(out, sizeof out, "compare %s %s", x, x);
    CHECK(rc == 0 && strstr(out, "match"), "npy against itself: %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "compare %s %s", x, y);
    CHECK(rc == 1 && strstr(out, "largest difference 0.5"), "npy that differ: %d\n%s", rc, out);
}

/* issue 14 item 18: the CLI's image preprocessing is library API; formula checked by hand */
TEST(cli_image_to_input_resizes_and_normalises)
{
    /* 2x2 gray image to 1x1: the bilinear sample at the centre is the mean of the four */
    const uint8_t g[4] = {0, 255, 255, 0};
    float o[4];
    CHECK(dc_image_to_input(g, 2, 2, 1, 1, 1, 1, 0.5f, 0.25f, 0, o) == DC_OK, "%s",
          dc_last_error());
    CHECK_NEAR(o[0], 0.0f, 1e-6); /* (0.5 - 0.5) / 0.25 */
    /* same size: each pixel, inverted: (1 - p/255 - 0.2) / 0.5 */
    CHECK(dc_image_to_input(g, 2, 2, 1, 1, 2, 2, 0.2f, 0.5f, 1, o) == DC_OK, "%s",
          dc_last_error());
    CHECK_NEAR(o[0], 1.6f, 1e-6);
    CHECK_NEAR(o[1], -0.4f, 1e-6);
    /* RGB to one channel: ITU-R 601 luma */
    const uint8_t rgb[3] = {255, 0, 0};
    CHECK(dc_image_to_input(rgb, 1, 1, 3, 1, 1, 1, 0, 1, 0, o) == DC_OK, "%s", dc_last_error());
    CHECK_NEAR(o[0], 0.299f, 1e-6);
    CHECK(dc_image_to_input(g, 2, 2, 1, 1, 2, 2, 0, 0, 0, o) == DC_ERR_ARG, "std 0 is refused");
}

/* issue 14 item 19: a dark object on a light background is inverted, and predict says so */
TEST(cli_predict_light_background_is_inverted_and_said)
{
    const char *d = t_tmpdir();
    char spec[600], w[600], light[600], dark[600];
    snprintf(spec, sizeof spec, "%s/m.spec", d);
    snprintf(w, sizeof w, "%s/w.safetensors", d);
    snprintf(light, sizeof light, "%s/light.png", d);
    snprintf(dark, sizeof dark, "%s/dark.png", d);
    REQUIRE(t_write_text(spec, "[input]\nshape = 1, 8, 8\n[flatten]\n[linear fc]\n"
                               "out_features = 2\n"));
    /* class 1 scores the mean of the input: positive for a light-on-dark input */
    dc_model *m = dc_model_new();
    REQUIRE(dc_model_add(m, dc_flatten_new(m, "flatten1")) == DC_OK);
    REQUIRE(dc_model_add(m, dc_linear_new(m, "fc", 64, 2, 1, NULL)) == DC_OK);
    float *wt = dc_f32(dc_model_find(m, "fc.weight"));
    for (int i = 0; i < 64; i++)
        wt[64 + i] = -1.0f / 64; /* class 1 wins on a mostly dark (below-mean) input */
    REQUIRE(dc_model_save(m, w) == DC_OK);
    dc_model_free(m);
    uint8_t px[16 * 16], inv[16 * 16];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) { /* a dark square on white */
            px[y * 16 + x] = x >= 6 && x < 10 && y >= 5 && y < 11 ? 20 : 240;
            inv[y * 16 + x] = (uint8_t)(255 - px[y * 16 + x]);
        }
    REQUIRE(dc_png_write(light, 16, 16, 1, px) == DC_OK);
    REQUIRE(dc_png_write(dark, 16, 16, 1, inv) == DC_OK);
    CHECK(dc_image_light_background(px, 16, 16, 1, NULL, NULL) == 1 &&
          dc_image_light_background(inv, 16, 16, 1, NULL, NULL) == 0, "light background test");
    int rc = t_run_deepc(out, sizeof out, "predict %s --weights %s --image %s --top 1", spec, w,
                         light);
    CHECK(rc == 0 && strstr(out, "light background") && strstr(out, "inverting") &&
          strstr(out, "\n1 "), "a dark square on white: %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "predict %s --weights %s --image %s --top 1", spec, w, dark);
    CHECK(rc == 0 && !strstr(out, "inverting") && !strncmp(out, "1 ", 2),
          "a light square on black is used as it is: %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "predict %s --weights %s --image %s --top 1 --no-invert",
                     spec, w, light);
    CHECK(rc == 0 && !strstr(out, "inverting") && !strncmp(out, "0 ", 2),
          "--no-invert keeps the image: %d\n%s", rc, out);
}

/* issue 14 item 21: with every core busy, deepc's idle OpenMP threads do not spin (spinning
 * took the core from the thread the others waited for: docs/design.md, "Threads") */
TEST(cli_busy_machine_threads_sleep_at_once)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    pid_t hog[64];
    int n = 0;
    for (; n < ncpu + 1 && n < 64; n++) { /* one spinning process per core, and one more */
        hog[n] = fork();
        if (hog[n] == 0) {
            for (volatile unsigned long i = 0;; i++)
                ;
        }
        if (hog[n] < 0)
            break;
    }
    unsetenv("GOMP_SPINCOUNT"); /* deepc's own choice, not the caller's */
    unsetenv("OMP_WAIT_POLICY");
    int rc = t_run_deepc(out, sizeof out, "version");
    for (int i = 0; i < n; i++) {
        kill(hog[i], SIGKILL);
        waitpid(hog[i], NULL, 0);
    }
    CHECK(rc == 0 && strstr(out, "GOMP_SPINCOUNT=0)"), "deepc version on a busy machine:\n%s",
          out);
}
