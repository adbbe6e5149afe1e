/*
 * test_series_cli.c - time-series forecasting as a user runs it: `deepc train MODEL --data
 * csv:...` on a generated noisy sine beats persistence and prints the table of baselines,
 * `deepc show forecast` writes a well-formed SVG with escaped text, bad --data specs exit 2 with
 * a message that says what was expected, and the `weather` shortcut reproduces the known
 * baselines (or names the Debian package when the file is missing).
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SEATTLE "/usr/lib/python3/dist-packages/vega_datasets/_data/seattle-weather.csv"
#define ROWS 400
#define TARGET "sine<&>" /* a target name that must be escaped in the SVG */

static char out[1 << 16];

/* DIR/wave.csv: a text column, the target sin(2πt/16) + noise, and a second feature
 * cos(2πt/16) + noise (deterministic noise from a small LCG). */
static int write_wave(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/wave.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return 0;
    uint32_t r = 12345;
    fprintf(f, "day,%s,lead\n", TARGET);
    for (int t = 0; t < ROWS; t++) {
        double e[2];
        for (int k = 0; k < 2; k++) {
            r = r * 1664525u + 1013904223u;
            e[k] = ((double)(r >> 8) / (double)(1u << 24) - 0.5) * 0.1;
        }
        double a = 2 * 3.14159265358979323846 * t / 16;
        fprintf(f, "d%03d,%.6f,%.6f\n", t, sin(a) + e[0], cos(a) + e[1]);
    }
    return fclose(f) == 0;
}

/* A GRU forecaster for windows of 6 steps of 2 features. */
static int write_spec(const char *dir, const char *name, int window, int features)
{
    char path[600], text[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(text, sizeof text, "[input]\nshape = %d, %d\n[gru rnn]\nhidden_size = 8\n"
             "[last_step last]\n[linear out]\nout_features = 1\n", window, features);
    return t_write_text(path, text);
}

/* The MAE and RMSE of the validation and test columns on the table row starting with label;
 * 1 if found. */
static int table_row(const char *text, const char *label, double v[4])
{
    const char *p = text;
    size_t n = strlen(label);
    while (p && *p) {
        if (!strncmp(p, label, n))
            return sscanf(p + 30, "%lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3]) == 4;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return 0;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Read a whole (small) file into buf; the byte count, or -1. */
static long read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return (long)n;
}

/* The SVG starts like one, has lines, closes, and shows the target name escaped. */
static void check_svg(const char *path)
{
    static char svg[1 << 20];
    long n = read_file(path, svg, sizeof svg);
    REQUIRE(n > 0);
    CHECK(!strncmp(svg, "<?xml", 5) || !strncmp(svg, "<svg", 4), "%s starts with '%.20s'", path,
          svg);
    CHECK(strstr(svg, "<svg") && strstr(svg, "xmlns=\"http://www.w3.org/2000/svg\""),
          "%s: no <svg xmlns=...>", path);
    CHECK(strstr(svg, "<polyline") || strstr(svg, "<path"), "%s: no polyline or path", path);
    const char *end = svg + n;
    while (end > svg && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    CHECK(end - svg >= 6 && !strncmp(end - 6, "</svg>", 6), "%s does not end with </svg>", path);
    CHECK(strstr(svg, "sine&lt;&amp;&gt;") && !strstr(svg, TARGET),
          "%s: the target name '" TARGET "' is not escaped", path);
    CHECK(strstr(svg, "MAE") && strstr(svg, "RMSE"), "%s: no MAE/RMSE in the title", path);
    CHECK(strstr(svg, ">actual<") && strstr(svg, "forecast"), "%s: no legend", path);
}

TEST(series_cli_gru_beats_persistence_prints_the_table_and_plots)
{
    const char *d = t_tmpdir();
    REQUIRE(write_wave(d) && write_spec(d, "gru.spec", 6, 2));
    char data[800];
    snprintf(data, sizeof data, "'csv:%s/wave.csv,target=" TARGET ",window=6,val=0.2,test=0.2'",
             d);
    int rc = t_run_deepc(out, sizeof out, "train %s/gru.spec --data %s --optimizer adam --lr "
                         "0.01 --batch 16 --epochs 25 --threads 1 --out %s/run", d, data, d);
    CHECK(rc == 0, "train exited %d:\n%s", rc, out);
    double m[4], p[4], ar[4], arall[4];
    CHECK(table_row(out, "model (best epoch", m) && table_row(out, "persistence", p) &&
          table_row(out, "linear AR, target only", ar) &&
          table_row(out, "linear AR, all inputs", arall), "no results table:\n%s", out);
    CHECK(strstr(out, "validation") && strstr(out, "80 test"), "no window counts:\n%s", out);
    CHECK(m[2] < p[2] && m[3] < p[3], "test MAE/RMSE %.4f/%.4f, persistence %.4f/%.4f:\n%s",
          m[2], m[3], p[2], p[3], out);
    CHECK(m[0] < p[0] && p[0] > 0.1 && arall[2] < p[2], "validation MAE %.4f, persistence "
          "%.4f, linear AR test MAE %.4f", m[0], p[0], arall[2]);
    char path[700];
    snprintf(path, sizeof path, "%s/run/model.safetensors", d);
    CHECK(file_size(path) > 0, "no %s", path);
    snprintf(path, sizeof path, "%s/run/model.spec", d);
    CHECK(file_size(path) > 0, "no %s", path);
    rc = t_run_deepc(out, sizeof out, "show forecast %s/run/model.spec --weights "
                     "%s/run/model.safetensors --data %s --out %s/f.svg", d, d, data, d);
    CHECK(rc == 0 && strstr(out, "wrote"), "show forecast exited %d:\n%s", rc, out);
    snprintf(path, sizeof path, "%s/f.svg", d);
    check_svg(path);
}

/* Each bad command exits 2 with a message containing the given words. */
TEST(series_cli_bad_data_exits_2_with_a_clear_message)
{
    const char *d = t_tmpdir();
    REQUIRE(write_wave(d) && write_spec(d, "gru.spec", 6, 2) && write_spec(d, "w7.spec", 7, 2));
    static const struct { const char *args, *words; } bad[] = {
        {"--data csv:%s/wave.csv,window=6,colour=red", "unknown key 'colour'"},
        {"--data csv:%s/wave.csv,window=6,target=nosuch", "no column 'nosuch'"},
        {"--data csv:%s/wave.csv,window=6,inputs=lead+nosuch", "no column 'nosuch'"},
        {"--data csv:%s/wave.csv,window=6,target=day", "not numeric"},
        {"--data csv:%s/wave.csv,window=0", "window=0: expected a whole number"},
        {"--data csv:%s/wave.csv,window=six", "window=six"},
        {"--data csv:%s/wave.csv,window=6,window=6", "given twice"},
        {"--data csv:%s/wave.csv,window=6,val=0.6,test=0.5", "below 1"},
        {"--data csv:%s/wave.csv,window=6,test=1.5", "test=1.5"},
        {"--data csv:%s/wave.csv,window=6,inputs=", "needs a value"},
        {"--data csv:%s/nosuch.csv", "nosuch.csv: cannot open"},
        {"--data csv:,window=6", "file name after csv:"},
        {"--data csv:%s/wave.csv", "expected shape = 7, 2"},        /* default window 7 */
        {"--data csv:%s/wave.csv,window=6 --val 10", "--val"},
        {"--data csv:%s/wave.csv,window=6 --loss nll", "classification loss"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[1600];
        snprintf(args, sizeof args, bad[i].args, d);
        int rc = t_run_deepc(out, sizeof out, "train %s/gru.spec %s --epochs 1 --threads 1 "
                             "--lr 0.01 --quiet", d, args);
        CHECK(rc == 2 && strstr(out, bad[i].words), "'train ... %s' should exit 2 saying "
              "'%s'; got %d:\n%s", args, bad[i].words, rc, out);
    }
    int rc = t_run_deepc(out, sizeof out, "show forecast %s/gru.spec --weights %s/none "
                         "--data csv:%s/wave.csv,window=6,horizon=0 --out %s/x.svg", d, d, d, d);
    CHECK(rc == 2 && strstr(out, "horizon=0"), "show forecast with horizon=0: %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "show forecast %s/gru.spec --weights %s/none.safetensors "
                     "--data csv:%s/wave.csv,window=6 --out %s/x.svg", d, d, d, d);
    CHECK(rc == 2 && strstr(out, "none.safetensors"), "missing weights: %d\n%s", rc, out);
    char x[700];
    snprintf(x, sizeof x, "%s/x.svg", d);
    CHECK(file_size(x) < 0, "a failed show forecast wrote %s", x);
}

TEST(series_cli_weather_shortcut_reproduces_the_baselines)
{
    int have = file_size(SEATTLE) > 0;
    int rc = t_run_deepc(out, sizeof out, "train models/weather_lstm --data weather --epochs 1 "
                         "--max-steps 2 --threads 1 --lr 0.01 --momentum 0.9");
    if (!have) {
        CHECK(rc == 2 && strstr(out, "python3-vega-datasets"), "without %s: exit %d\n%s",
              SEATTLE, rc, out);
        return;
    }
    double p[4], ar[4], arall[4];
    CHECK(rc == 0, "train --data weather exited %d:\n%s", rc, out);
    CHECK(table_row(out, "persistence", p) && table_row(out, "linear AR, target only", ar) &&
          table_row(out, "linear AR, all inputs", arall), "no results table:\n%s", out);
    CHECK(fabs(p[2] - 2.179) < 6e-4 && fabs(p[3] - 2.865) < 6e-4, "persistence %.4f/%.4f",
          p[2], p[3]);
    CHECK(fabs(ar[2] - 2.132) < 6e-4 && fabs(ar[3] - 2.681) < 6e-4, "AR %.4f/%.4f", ar[2],
          ar[3]);
    CHECK(fabs(arall[2] - 2.119) < 6e-4 && fabs(arall[3] - 2.658) < 6e-4, "AR all %.4f/%.4f",
          arall[2], arall[3]);
    CHECK(strstr(out, "1016 training, 292 validation, 146 test"), "windows:\n%s", out);
}
