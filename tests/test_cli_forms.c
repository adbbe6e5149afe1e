/*
 * test_cli_forms.c - the --data forms of deepc train through the one driver (src/cli/forms.def):
 * --json keeps stdout to JSON objects on every form and ends with a result object (text and
 * series used to print plain lines into it, .npy printed no result), --early-stop N stops a
 * forecasting run after N epochs without a better validation score and is refused where it
 * means nothing, text classification's --vocab, --max-len and
 * --init-from are refused by the other forms, and deepc eval says which forms it takes.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char out[1 << 16];

/* DIR/wave.csv: 200 rows of a noisy sine and a second column. */
static int write_wave(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/wave.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return 0;
    fprintf(f, "y,lead\n");
    for (int t = 0; t < 200; t++)
        fprintf(f, "%.6f,%.6f\n", sin(t * 0.39) + 0.01 * (t % 7), cos(t * 0.39));
    return fclose(f) == 0;
}

/* DIR/gru.spec: a GRU forecaster for windows of 6 steps of 2 features. */
static int write_gru(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/gru.spec", dir);
    return t_write_text(path, "[input]\nshape = 6, 2\n[gru rnn]\nhidden_size = 4\n"
                              "[last_step last]\n[linear out]\nout_features = 1\n");
}

/* Read DIR/NAME into out; every non-empty line must be one JSON object. The count of lines
 * holding key, or -1 when a line is not JSON (or the file is missing or empty). */
static int json_lines(const char *dir, const char *name, const char *key)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    int lines = 0, with_key = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        size_t k = strlen(line);
        if (line[0] != '{' || line[k - 1] != '}')
            return -1;
        lines++;
        with_key += strstr(line, key) != NULL;
    }
    return lines ? with_key : -1;
}

TEST(forms_json_keeps_stdout_json_on_the_text_and_series_forms)
{
    const char *d = t_tmpdir();
    char text[700], body[2048] = "";
    snprintf(text, sizeof text, "%s/t.txt", d);
    for (int i = 0; i < 24; i++)
        strcat(body, i % 3 ? "the cat sat on the mat. " : "a dog ran to the log.\n");
    REQUIRE(write_wave(d) && write_gru(d) && t_write_text(text, body));
    int rc = t_run_deepc(out, sizeof out, "train models/char_gru --data text:%s --epochs 1 "
                         "--batch 2 --bptt 8 --lr 0.01 --threads 1 --json --out %s/text "
                         ">%s/text.json 2>%s/text.err; exit $?", text, d, d, d);
    CHECK(rc == 0, "train text --json exited %d", rc);
    CHECK(json_lines(d, "text.json", "\"val_bits_per_char\"") == 1,
          "text --json: a plain line on stdout, or no result object:\n%s", out);
    rc = t_run_deepc(out, sizeof out, "train %s/gru.spec --data csv:%s/wave.csv,window=6 "
                     "--epochs 2 --lr 0.01 --threads 1 --json >%s/series.json 2>%s/s.err; "
                     "exit $?", d, d, d, d);
    CHECK(rc == 0, "train csv --json exited %d", rc);
    CHECK(json_lines(d, "series.json", "\"persistence\"") == 1,
          "series --json: a plain line on stdout, or no table object:\n%s", out);
}

/* The image forms without a test split (.npy, digits) end with a result object too (they printed
 * none with --json). */
TEST(forms_json_npy_ends_with_a_result_object)
{
    const char *d = t_tmpdir();
    char spec[700];
    snprintf(spec, sizeof spec, "%s/small.spec", d);
    REQUIRE(t_write_blobs_npy(d, "b", 64, 5) &&
            t_write_text(spec, "[input]\nshape = 1, 28, 28\n[flatten]\n[linear fc]\n"
                               "out_features = 10\n"));
    int rc = t_run_deepc(out, sizeof out, "train %s --data npy:%s/b_x.npy,%s/b_y.npy "
                         "--epochs 1 --batch 16 --lr 0.01 --threads 1 --json >%s/npy.json "
                         "2>%s/npy.err; exit $?", spec, d, d, d, d);
    CHECK(rc == 0, "train npy --json exited %d", rc);
    CHECK(json_lines(d, "npy.json", "\"steps\"") == 1,
          "npy --json: a plain line on stdout, or no result object:\n%s", out);
}

TEST(forms_early_stop_stops_forecasting_and_is_refused_elsewhere)
{
    const char *d = t_tmpdir();
    REQUIRE(write_wave(d) && write_gru(d));
    /* lr 1e-12 leaves the weights as they are: no epoch after the first is better */
    const char *run = "train %s/gru.spec --data csv:%s/wave.csv,window=6 --epochs 12 "
                      "--lr 1e-12 --threads 1 --json %s >%s/%s 2>/dev/null; exit $?";
    int rc = t_run_deepc(out, sizeof out, run, d, d, "--early-stop 2", d, "stop.json");
    int stopped = json_lines(d, "stop.json", "\"epoch\"");
    CHECK(rc == 0 && stopped == 3, "--early-stop 2: exit %d, %d epochs (want 3)", rc, stopped);
    rc = t_run_deepc(out, sizeof out, run, d, d, "", d, "all.json");
    int all = json_lines(d, "all.json", "\"epoch\"");
    CHECK(rc == 0 && all == 12, "no --early-stop: exit %d, %d epochs (want 12)", rc, all);
    rc = t_run_deepc(out, sizeof out, "train %s/gru.spec --data csv:%s/wave.csv,window=6 "
                     "--early-stop x", d, d);
    CHECK(rc == 2 && strstr(out, "--early-stop"), "--early-stop x: %d\n%s", rc, out);
    rc = t_run_deepc(out, sizeof out, "train models/mlp_digits --data npy:a.npy,b.npy "
                     "--early-stop 3 --lr 0.1");
    CHECK(rc == 2 && strstr(out, "time-series"), "--early-stop on tensors: %d\n%s", rc, out);
    /* without validation windows there is no score to stop on: refused, not ignored */
    rc = t_run_deepc(out, sizeof out, "train %s/gru.spec --data csv:%s/wave.csv,window=6,val=0 "
                     "--early-stop 2 --epochs 3 --lr 0.1 --threads 1", d, d);
    CHECK(rc == 2 && strstr(out, "early stopping") && strstr(out, "validation"),
          "--early-stop with val=0: %d\n%s", rc, out);
}

TEST(forms_eval_names_the_forms_it_takes)
{
    const char *d = t_tmpdir();
    REQUIRE(write_wave(d) && write_gru(d));
    int rc = t_run_deepc(out, sizeof out, "eval %s/gru.spec --weights %s/none.safetensors "
                         "--data csv:%s/wave.csv", d, d, d);
    CHECK(rc == 2 && strstr(out, "image and tensor data"), "eval --data csv: %d\n%s", rc, out);
}

/* --vocab, --max-len and --init-from mean something to text classification only: every other
 * form refuses them by name before it reads its data (they used to be ignored). */
TEST(forms_refuse_the_text_classification_flags_elsewhere)
{
    static const struct { const char *data, *flag, *what; } cases[] = {
        {"npy:none_x.npy,none_y.npy", "--vocab v.txt", "none_x.npy"},
        {"fashion-mnist:/nonexistent", "--init-from w.safetensors", "fashion-mnist"},
        {"text:/nonexistent.txt", "--max-len 16", "to text "},
        {"csv:/nonexistent.csv,window=6", "--init-from w.safetensors", "time-series data"},
        {"cmudict:/nonexistent.dict", "--max-len 32", "cmudict"},
        {"bert:fortunes=/nonexistent,vocab=v.txt", "--init-from w.safetensors", "bert"},
        {"bert:fortunes=/nonexistent,vocab=v.txt", "--vocab v.txt", "bert"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char flag[32];
        snprintf(flag, sizeof flag, "%.*s", (int)strcspn(cases[i].flag, " "), cases[i].flag);
        int rc = t_run_deepc(out, sizeof out, "train models/mlp_digits --data %s %s --lr 0.1",
                             cases[i].data, cases[i].flag);
        CHECK(rc == 2 && strstr(out, flag) && strstr(out, "does not apply") &&
                  strstr(out, cases[i].what),
              "%s on %s: rc %d\n%s", flag, cases[i].data, rc, out);
    }
}
