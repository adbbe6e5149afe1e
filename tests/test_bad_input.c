/*
 * test_bad_input.c - bad input gives a clear error, not a crash: the deepc command is run on
 * every file of the corpus tests/data/bad/ (written by tests/data/bad/make.py) through the
 * subcommand that reads it, and must exit 2 with a message that names the file (and line, for
 * text formats) and says what is wrong. A failing command must also leave every file it would
 * have written exactly as it was, and weights that do not fit a model are refused with the list
 * of keys unless --partial is given.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BAD "tests/data/bad/"
#define OK BAD "ok/"

static char out[1 << 16];

/* One run: cmd with {F} replaced by BAD file and {T} by a scratch directory; it must exit with
 * rc and print the file's path and every want[]. */
typedef struct bad_case {
    const char *cmd;
    const char *file;   /* under BAD; "" when the command names nothing from the corpus */
    int rc;
    const char *want[3];
} bad_case;

/* Templates: the subcommand that reads each kind of file, with valid partners from ok/. */
#define FORWARD_X "forward " OK "mlp.spec --weights " OK "mlp.safetensors --input {F} " \
                  "--output {T}/y.npy"
/* deepc train with the SGD learning rate it requires (PyTorch has no default) */
#define TR "train --lr 0.01 "
#define TRAIN_X TR OK "mlp.spec --data npy:{F}," OK "y.npy --epochs 1 --quiet"
#define TRAIN_Y TR OK "mlp.spec --data npy:" OK "x.npy,{F} --epochs 1 --quiet"
#define EVAL_W "eval " OK "mlp.spec --weights {F} --data npy:" OK "x.npy," OK "y.npy"
#define FORWARD_W "forward " OK "mlp.spec --weights {F} --input " OK "x.npy --output {T}/y.npy"
#define LENET_DATA "--data npy:" OK "img28_x.npy," OK "img28_y.npy"
#define EVAL_LENET "eval models/lenet5 --weights {F} " LENET_DATA
#define INIT_LENET TR "models/lenet5 " LENET_DATA " --init {F} --epochs 1 --quiet"
#define FMNIST TR "models/lenet5 --data fashion-mnist:{F} --val 0 --steps 1 --threads 1 " \
               "--quiet"
#define SHOW_SAMPLES "show samples --data fashion-mnist:{F} --n 4 --out {T}/s.png"
#define SERIES TR OK "series.spec --data csv:{F},window=2 --epochs 1 --quiet"
#define DIGITS TR OK "digits.spec --data digits:{F} --epochs 1 --quiet"
#define TEXT TR "models/char_rnn --data text:{F} --epochs 1 --quiet"
#define SUMMARY "summary {F}"
#define VOCAB "generate models/char_rnn --weights " OK "mlp.safetensors --vocab {F} --length 5"
#define PREDICT "predict " OK "img.spec --weights " OK "img.safetensors --image {F}"

/* tmpl with {F} -> path, {T} -> tmp into buf. */
static void expand(const char *tmpl, const char *path, const char *tmp, char *buf, size_t size)
{
    size_t k = 0;
    for (const char *p = tmpl; *p && k + 1 < size; p++) {
        const char *sub = !strncmp(p, "{F}", 3) ? path : !strncmp(p, "{T}", 3) ? tmp : NULL;
        if (!sub) {
            buf[k++] = *p;
            continue;
        }
        int w = snprintf(buf + k, size - k, "%s", sub);
        k = w < 0 ? k : k + (size_t)w < size ? k + (size_t)w : size - 1;
        p += 2;
    }
    buf[k < size ? k : size - 1] = '\0';
}

/* Run every case; a failure prints the command, the exit code and what deepc said. */
static void run_cases(const bad_case *cases, size_t n, const char *file, int line)
{
    const char *tmp = t_tmpdir();
    for (size_t i = 0; i < n; i++) {
        const bad_case *c = &cases[i];
        char path[512], cmd[2048];
        snprintf(path, sizeof path, "%s%s", *c->file ? BAD : "", c->file);
        expand(c->cmd, path, tmp, cmd, sizeof cmd);
        int rc = t_run_deepc(out, sizeof out, "%s", cmd);
        const char *missing = *c->file && !strstr(out, path) ? path : NULL;
        for (int k = 0; k < 3 && !missing && c->want[k]; k++)
            if (!strstr(out, c->want[k]))
                missing = c->want[k];
        if (rc != c->rc)
            t_fail(file, line, "deepc %s\n      exited %d, expected %d; it said:\n%s", cmd, rc,
                   c->rc, out);
        else if (missing)
            t_fail(file, line, "deepc %s\n      the message does not say '%s'; it said:\n%s",
                   cmd, missing, out);
    }
}
#define RUN_CASES(cases) run_cases(cases, sizeof cases / sizeof *cases, __FILE__, __LINE__)

/* ---- .npy ---- */

/* Each hostile .npy as forward's input and as train's inputs; also what the reader says. */
static const struct {
    const char *file, *want;
} npy_files[] = {
    {"npy/bad_magic.npy", "not a .npy file (bad magic"},
    {"npy/empty.npy", "not a .npy file (bad magic; 0 bytes)"},
    {"npy/prefix_only.npy", "truncated .npy prefix"},
    {"npy/version9.npy", "unsupported .npy version 9.0"},
    {"npy/header_huge.npy", "exceeds the 1 MiB limit"},
    {"npy/header_past_eof.npy", "truncated .npy header: it claims 60000 bytes"},
    {"npy/header_not_dict.npy", "the header is not a dict"},
    {"npy/header_eval.npy", "expected a quoted string"},
    {"npy/header_unterminated.npy", "bad .npy header"},
    {"npy/shape_overflow.npy", "element count overflows"},
    {"npy/shape_int64_overflow.npy", "does not fit in 64 bits"},
    {"npy/shape_huge.npy", "the shape needs 4000000000000 bytes, the file has 320"},
    {"npy/shape_negative.npy", "negative dimension -20"},
    {"npy/shape_6d.npy", "more than 5 dimensions"},
    {"npy/dtype_complex.npy", "unsupported dtype '<c8'"},
    {"npy/dtype_object.npy", "unsupported dtype '|O'"},
    {"npy/dtype_unicode.npy", "unsupported dtype '<U1'"},
    {"npy/dtype_structured.npy", "structured dtypes"},
    {"npy/fortran.npy", "Fortran order not supported"},
    {"npy/missing_shape.npy", "missing 'shape'"},
    {"npy/truncated_data.npy", "truncated data: the shape needs 320 bytes, the file has 150"},
    {"npy/trailing_data.npy", "trailing garbage"},
};

TEST(bad_input_npy_forward_and_train_exit_2)
{
    enum { N = sizeof npy_files / sizeof *npy_files };
    static bad_case c[3 * N];
    for (int i = 0; i < N; i++) {
        c[3 * i] = (bad_case){FORWARD_X, npy_files[i].file, 2, {npy_files[i].want}};
        c[3 * i + 1] = (bad_case){TRAIN_X, npy_files[i].file, 2, {npy_files[i].want}};
        c[3 * i + 2] = (bad_case){TRAIN_Y, npy_files[i].file, 2, {npy_files[i].want}};
    }
    RUN_CASES(c);
}

/* ---- .safetensors ---- */

static const struct {
    const char *file, *want[2];
} st_files[] = {
    {"st/empty.safetensors", {"too short for a safetensors file (0 bytes)"}},
    {"st/short.safetensors", {"too short for a safetensors file (4 bytes)"}},
    {"st/header_huge.safetensors", {"exceeds the 100 MiB limit"}},
    {"st/header_past_eof.safetensors", {"header length 4096 exceeds the 64 bytes after it"}},
    {"st/json_garbage.safetensors", {"safetensors header: JSON byte"}},
    {"st/json_not_object.safetensors", {"must be a JSON object, got array"}},
    {"st/json_deep.safetensors", {"nesting deeper than"}},
    {"st/header_nul.safetensors", {"control character"}},
    {"st/header_bad_utf8.safetensors", {"invalid UTF-8"}},
    {"st/dtype_unknown.safetensors", {"'fc1.weight'", "unsupported dtype C64"}},
    {"st/shape_overflow.safetensors", {"'fc1.weight'", "element count overflows"}},
    {"st/shape_6d.safetensors", {"'fc1.weight' has 6 dims"}},
    {"st/offsets_past_eof.safetensors", {"'fc1.weight'", "outside the 220-byte data buffer"}},
    {"st/offsets_negative.safetensors", {"[-128, 0] outside"}},
    {"st/offsets_wrong_size.safetensors", {"hold 100 bytes", "need 128"}},
    {"st/truncated.safetensors", {"'fc2.weight'", "outside the"}},
    {"st/duplicate_name.safetensors", {"'fc1.bias' appears twice"}},
    {"st/metadata_not_strings.safetensors", {"\"__metadata__\" must be an object of strings"}},
    {"st/dtype_int.safetensors", {"strict load refused", "fc1.weight (file int64 vs model "
                                                         "float32)"}},
};

TEST(bad_input_safetensors_eval_and_forward_exit_2)
{
    enum { N = sizeof st_files / sizeof *st_files };
    static bad_case c[2 * N];
    for (int i = 0; i < N; i++) {
        c[2 * i] = (bad_case){EVAL_W, st_files[i].file, 2,
                              {st_files[i].want[0], st_files[i].want[1]}};
        c[2 * i + 1] = (bad_case){FORWARD_W, st_files[i].file, 2,
                                  {st_files[i].want[0], st_files[i].want[1]}};
    }
    RUN_CASES(c);
}

/* ---- weights that do not fit models/lenet5 ---- */

static const bad_case lenet_weights[] = {
    {EVAL_LENET, "weights/lenet5_missing.safetensors", 2,
     {"strict load refused (1 missing, 0 unexpected, 0 mismatched", "missing: c5.weight",
      "--partial"}},
    {EVAL_LENET, "weights/lenet5_unexpected.safetensors", 2,
     {"(0 missing, 2 unexpected, 0 mismatched", "unexpected: c7.weight, num_batches_tracked",
      "--partial"}},
    {EVAL_LENET, "weights/lenet5_misshaped.safetensors", 2,
     {"(0 missing, 0 unexpected, 2 mismatched", "c1.bias (file int64 vs model float32)",
      "c5.weight (file [120, 40] vs model [120, 400])"}},
    {"forward models/lenet5 --weights {F} --input " OK "img28_x.npy --output {T}/y.npy",
     "weights/lenet5_missing.safetensors", 2, {"missing: c5.weight"}},
    {INIT_LENET, "weights/lenet5_misshaped.safetensors", 2, {"2 mismatched", "c5.weight"}},
    {INIT_LENET, "weights/lenet5_unexpected.safetensors", 2, {"2 unexpected"}},
    {"show filters models/lenet5 --weights {F} --out {T}/f.png",
     "weights/lenet5_missing.safetensors", 2, {"missing: c5.weight"}},
    /* --partial loads what matches, lists the rest, and goes on */
    {EVAL_LENET " --partial", "weights/lenet5_missing.safetensors", 0,
     {": 9 loaded", "missing: c5.weight", "accuracy"}},
    {EVAL_LENET " --partial", "weights/lenet5_unexpected.safetensors", 0,
     {": 10 loaded", "unexpected: c7.weight, num_batches_tracked", "accuracy"}},
    {EVAL_LENET " --partial", "weights/lenet5_misshaped.safetensors", 0,
     {": 8 loaded", "c5.weight (file [120, 40] vs model [120, 400])", "accuracy"}},
};

TEST(bad_input_weights_that_do_not_fit_are_refused_with_the_list)
{
    RUN_CASES(lenet_weights);
}

/* ---- IDX (Fashion-MNIST directories) ---- */

static const bad_case idx_cases[] = {
    {FMNIST, "idx/bad_magic", 2, {"train-images-idx3-ubyte.gz", "bad IDX magic 0x00000801"}},
    {FMNIST, "idx/bad_magic_raw", 2, {"train-images-idx3-ubyte:", "bad IDX magic 0x00000d03"}},
    {FMNIST, "idx/truncated_header", 2, {"truncated IDX header"}},
    {FMNIST, "idx/truncated_data", 2, {"truncated IDX data (expected 3136 bytes)"}},
    {FMNIST, "idx/truncated_raw", 2, {"truncated IDX data"}},
    {FMNIST, "idx/dims_huge", 2, {"IDX data of 1677721600000000 bytes is too large"}},
    {FMNIST, "idx/dims_zero", 2, {"IDX dimension 0 is 0"}},
    {FMNIST, "idx/count_mismatch", 2, {"has 3 labels", "has 4 images"}},
    {FMNIST, "idx/trailing_bytes", 2, {"trailing bytes after the IDX data"}},
    {FMNIST, "idx/corrupt_gzip", 2, {"damaged gzip data in the IDX header"}},
    {SHOW_SAMPLES, "idx/bad_magic", 2, {"bad IDX magic"}},
    {SHOW_SAMPLES, "idx/corrupt_gzip", 2, {"damaged gzip data"}},
    {"eval models/lenet5 --weights " BAD "weights/lenet5_missing.safetensors --partial "
     "--data fashion-mnist:{F}", "idx/dims_zero", 2, {"t10k-images-idx3-ubyte", "not found"}},
};

TEST(bad_input_idx_raw_and_gzip_exit_2)
{
    RUN_CASES(idx_cases);
}

/* ---- CSV: time series and digits ---- */

static const bad_case csv_cases[] = {
    {SERIES, "csv/empty.csv", 2, {"no data rows after the header"}},
    {SERIES, "csv/header_only.csv", 2, {"no data rows after the header"}},
    {SERIES, "csv/ragged.csv", 2, {"ragged.csv:4: 2 fields, expected 3 like the header"}},
    {SERIES, "csv/unclosed_quote.csv", 2, {"unclosed_quote.csv:3: unclosed quote"}},
    {SERIES, "csv/no_numeric.csv", 2, {"no numeric column"}},
    {SERIES, "csv/missing_value.csv", 2, {"missing_value.csv:4: column 'b'",
                                          "is not a finite number"}},
    {SERIES, "csv/nan_value.csv", 2, {"nan_value.csv:4: column 'b': 'nan' is not a finite"}},
    {SERIES, "csv/inf_value.csv", 2, {"inf_value.csv:4: column 'c': 'inf' is not a finite"}},
    {SERIES, "csv/duplicate_column.csv", 2, {"duplicate_column.csv:1: column name 'a' appears "
                                             "twice"}},
    {SERIES, "csv/too_few_rows.csv", 2, {"too few for a window of 2"}},
    {SERIES, "csv/binary.csv", 2, {"damaged or truncated gzip data"}},
    {SERIES, "csv/truncated.csv.gz", 2, {"damaged or truncated gzip data"}},
    {SERIES, "csv/no_trailer.csv.gz", 2, {"damaged or truncated gzip data"}},
    {SERIES, "csv/nonexistent.csv", 2, {"cannot open"}},
    {TR OK "series.spec --data csv:{F},window=2,target=nope --epochs 1 --quiet",
     "ok/series.csv", 2, {"no column 'nope'", "numeric columns: a, b, c"}},
    {TR OK "series.spec --data csv:{F},window=3 --epochs 1 --quiet", "ok/series.csv", 2,
     {"ok/series.spec takes input shape = 2, 3", "3 steps of 3 features"}},
    {DIGITS, "csv/digits_columns.csv", 2, {"expected 65 columns (64 pixels + label)"}},
    {DIGITS, "csv/digits_text.csv", 2, {"digits_text.csv:2: column 1: 'x' is not a number"}},
    {DIGITS, "csv/digits_label.csv", 2, {"digits_label.csv:2: label 10 is not a digit"}},
    {DIGITS, "csv/digits_label_frac.csv", 2, {"label 2.5 is not a digit"}},
    {DIGITS, "csv/digits_ragged.csv", 2, {"digits_ragged.csv:2: 64 fields, expected 65"}},
    {DIGITS, "csv/digits_nan.csv", 2, {"digits_nan.csv:2: column 1: 'nan' is not a finite "
                                       "number"}},
    {DIGITS, "csv/digits_empty.csv", 2, {"no data rows"}},
    {DIGITS, "csv/nonexistent.csv", 2, {"cannot open"}},
};

TEST(bad_input_csv_names_file_and_line)
{
    RUN_CASES(csv_cases);
}

/* ---- text corpora ---- */

static const bad_case text_cases[] = {
    {TEXT, "text/empty.txt", 2, {"no text"}},
    {TEXT, "text/one_char.txt", 2, {"need 2"}},
    {TEXT, "text/only_hidden", 2, {"no text files in the directory"}},
    {TEXT, "text/only_dat", 2, {"no text files in the directory", ".dat"}},
    {TEXT, "text/nonexistent", 2, {"cannot open"}},
};

TEST(bad_input_text_without_text_exit_2)
{
    RUN_CASES(text_cases);
}

/* ---- model specs: file:line and what was expected ---- */

static const bad_case spec_cases[] = {
    {SUMMARY, "spec/unknown_layer.spec", 2, {"unknown_layer.spec:3: unknown layer type 'lineer'",
                                             "known: linear"}},
    {SUMMARY, "spec/unknown_key.spec", 2, {"unknown_key.spec:5: [linear fc] width: unknown key",
                                           "known: input, in_features, out_features"}},
    {SUMMARY, "spec/bad_value_negative.spec", 2, {"bad_value_negative.spec:4: [linear fc] "
                                                  "out_features: -3 is out of range"}},
    {SUMMARY, "spec/bad_value_word.spec", 2, {"bad_value_word.spec:4: [linear fc] out_features: "
                                              "'three'"}},
    {SUMMARY, "spec/bad_value_bool.spec", 2, {"bad_value_bool.spec:5: [linear fc] bias: 'maybe' "
                                              "is not true or false"}},
    {SUMMARY, "spec/bad_kernel.spec", 2, {"bad_kernel.spec:5: [conv2d c] kernel: 0 is out of "
                                          "range"}},
    {SUMMARY, "spec/missing_required.spec", 2, {"missing_required.spec:3: [linear fc] needs "
                                                "'out_features = ...'"}},
    {SUMMARY, "spec/missing_input.spec", 2, {"missing_input.spec:6: [add s] input 'nope' is not "
                                             "a layer name"}},
    {SUMMARY, "spec/forward_reference.spec", 2, {"forward_reference.spec:4: [add s] input "
                                                 "'later' is defined at line 5", "no cycles"}},
    {SUMMARY, "spec/self_reference.spec", 2, {"self_reference.spec:4: [linear a] input 'a' is "
                                              "defined at line 3"}},
    {SUMMARY, "spec/duplicate_name.spec", 2, {"duplicate_name.spec:5: a layer called 'a' exists "
                                              "already (line 3)"}},
    {SUMMARY, "spec/duplicate_key.spec", 2, {"duplicate_key.spec:5: key 'out_features' given "
                                             "twice (first at line 4)"}},
    {SUMMARY, "spec/shape_mismatch_add.spec", 2, {"shape_mismatch_add.spec:8: [add s] does not "
                                                  "fit its input", "[1, 4] and [1, 5]"}},
    {SUMMARY, "spec/shape_mismatch_in_features.spec", 2,
     {"shape_mismatch_in_features.spec:4: [linear fc] in_features: 9 does not match the input, "
      "which has 4"}},
    {SUMMARY, "spec/shape_mismatch_conv.spec", 2, {"shape_mismatch_conv.spec:3: [conv2d c] needs "
                                                   "an input with at least 4 dims"}},
    {SUMMARY, "spec/kernel_too_large.spec", 2, {"kernel_too_large.spec:3: [conv2d c] does not "
                                                "fit its input", "larger than the padded"}},
    {SUMMARY, "spec/no_input_section.spec", 2, {"no_input_section.spec:1: the first section "
                                                "must be [input]"}},
    {SUMMARY, "spec/input_no_shape.spec", 2, {"input_no_shape.spec:1:", "needs 'shape = ...'"}},
    {SUMMARY, "spec/input_bad_shape.spec", 2, {"input_bad_shape.spec:2:", "shape: 0 is out of "
                                               "range"}},
    {SUMMARY, "spec/input_6d.spec", 2, {"input_6d.spec:2:", "1 to 4 integers"}},
    {SUMMARY, "spec/bad_section.spec", 2, {"bad_section.spec:3: expected '[type name]'"}},
    {SUMMARY, "spec/bad_name.spec", 2, {"bad_name.spec:3: bad layer name 'fc/1'"}},
    {SUMMARY, "spec/key_before_section.spec", 2, {"key_before_section.spec:1: 'key = value' "
                                                  "before the first [section]"}},
    {SUMMARY, "spec/no_equals.spec", 2, {"no_equals.spec:4: expected 'key = value'"}},
    {SUMMARY, "spec/undefined_variable.spec", 2, {"undefined_variable.spec:4:", "'$classes' is "
                                                  "an undefined variable"}},
    {SUMMARY, "spec/empty.spec", 2, {"no layers"}},
    {SUMMARY, "spec/only_comments.spec", 2, {"no layers"}},
    {SUMMARY, "spec/binary.spec", 2, {"binary.spec:3: NUL byte (not a text file)"}},
    {SUMMARY, "spec/long_line.spec", 2, {"long_line.spec:3: line longer than 4096"}},
    {SUMMARY, "spec/nonexistent.spec", 2, {"cannot open"}},
    /* the other subcommands that read a spec say the same */
    {TR "{F} --data npy:" OK "x.npy," OK "y.npy --epochs 1 --quiet", "spec/unknown_key.spec",
     2, {"unknown_key.spec:5: [linear fc] width: unknown key"}},
    {"eval {F} --weights " OK "mlp.safetensors --data npy:" OK "x.npy," OK "y.npy",
     "spec/forward_reference.spec", 2, {"forward_reference.spec:4:"}},
    {"forward {F} --weights " OK "mlp.safetensors --input " OK "x.npy --output {T}/y.npy",
     "spec/shape_mismatch_add.spec", 2, {"shape_mismatch_add.spec:8:"}},
    {"predict {F} --weights " OK "img.safetensors --image " BAD "image/truncated.pgm",
     "spec/duplicate_name.spec", 2, {"duplicate_name.spec:5:"}},
};

TEST(bad_input_spec_errors_give_file_line_and_expectation)
{
    RUN_CASES(spec_cases);
}

/* ---- vocabularies, images, checkpoints, logs ---- */

static const bad_case other_cases[] = {
    {VOCAB, "vocab/bad_magic.txt", 2, {"line 1: expected 'deepc-vocab 1'"}},
    {VOCAB, "vocab/count_too_large.txt", 2, {"line 2: 300 entries"}},
    {VOCAB, "vocab/count_zero.txt", 2, {"line 2: 0 entries"}},
    {VOCAB, "vocab/duplicate_byte.txt", 2, {"line 5: byte 0x61 appears twice (also on line "
                                            "3)"}},
    {VOCAB, "vocab/not_hex.txt", 2, {"line 4: expected two hex digits"}},
    {VOCAB, "vocab/truncated.txt", 2, {"announces 5 entries but the file has 2"}},
    {VOCAB, "vocab/extra_lines.txt", 2, {"more entries than the 2"}},
    {VOCAB, "vocab/binary.txt", 2, {"binary data"}},
    {VOCAB, "vocab/too_large.txt", 2, {"too large for a vocabulary file"}},
    {PREDICT, "image/not_an_image.png", 2, {"not a PNG or binary PGM/PPM image"}},
    {PREDICT, "image/empty.png", 2, {"not a PNG or binary PGM/PPM image"}},
    {PREDICT, "image/truncated.png", 2, {"truncated PNG chunk"}},
    {PREDICT, "image/chunk_past_eof.png", 2, {"truncated PNG chunk"}},
    {PREDICT, "image/huge.png", 2, {"unsupported PNG (100000x100000"}},
    {PREDICT, "image/size_lie.png", 2, {"claims 16384x16384 pixels but holds only"}},
    {PREDICT, "image/depth16.png", 2, {"depth 16"}},
    {PREDICT, "image/palette.png", 2, {"color type 3"}},
    {PREDICT, "image/interlaced.png", 2, {"interlaced"}},
    {PREDICT, "image/corrupt_idat.png", 2, {"corrupt PNG image data"}},
    {PREDICT, "image/bad_filter.png", 2, {"corrupt PNG image data"}},
    {PREDICT, "image/no_idat.png", 2, {"PNG without IHDR or IDAT"}},
    {PREDICT, "image/truncated.pgm", 2, {"truncated PGM/PPM data"}},
    {PREDICT, "image/truncated.ppm", 2, {"truncated PGM/PPM data"}},
    {PREDICT, "image/maxval16.pgm", 2, {"bad PGM/PPM header (8-bit P5/P6 expected)"}},
    {PREDICT, "image/huge.pgm", 2, {"bad PGM/PPM header"}},
    {PREDICT, "image/zero.pgm", 2, {"bad PGM/PPM header"}},
    {PREDICT, "image/ascii.pgm", 2, {"not a PNG or binary PGM/PPM image"}},
    {TR "--resume {F} --quiet", "ckpt/garbage", 2, {"--resume", "/checkpoint:"}},
    {TR "--resume {F} --quiet", "ckpt/empty", 2, {"--resume", "/checkpoint:"}},
    {TR "--resume {F} --quiet", "ckpt/no_metadata", 2, {"--resume", "/checkpoint:"}},
    {TR "--resume {F} --quiet", "ckpt/truncated", 2, {"--resume", "/checkpoint:"}},
    {TR "--resume {F} --quiet", "ckpt/nonexistent", 2, {"--resume", "cannot open"}},
    {"plot {F} --out {T}/p.svg", "log/wrong_header", 2, {"not a deepc log.csv"}},
    {"plot {F} --out {T}/p.svg", "log/binary", 2, {"not a deepc log.csv"}},
    {"plot {F} --out {T}/p.svg", "log/no_rows", 2, {"has no rows"}},
    {"plot {F} --out {T}/p.svg", "log/nonexistent", 2, {"cannot open"}},
};

TEST(bad_input_vocab_image_checkpoint_log_exit_2)
{
    RUN_CASES(other_cases);
}

/* ---- a directory (or a device) where a file belongs ---- */

static const bad_case dir_cases[] = {
    {FORWARD_X, "ok", 2, {"is a directory"}},
    {EVAL_W, "ok", 2, {"is a directory"}},
    {SERIES, "ok", 2, {"is a directory"}},
    {DIGITS, "ok", 2, {"is a directory"}},
    {PREDICT, "ok", 2, {"is a directory"}},
    {VOCAB, "ok", 2, {"is a directory"}},
    {SUMMARY, "ok", 2, {NULL}},
    {TR "models/char_rnn --data text:/dev/null --quiet", "", 2, {"/dev/null: is a device"}},
};

TEST(bad_input_a_directory_for_a_file_exit_2)
{
    RUN_CASES(dir_cases);
}

/* ---- a missing dataset says which package or path provides it ---- */

TEST(bad_input_missing_dataset_names_package_or_path)
{
    static const bad_case c[] = {
        {FMNIST, "idx/nonexistent", 2, {"Fashion-MNIST not found",
                                        "apt-get install dataset-fashion-mnist"}},
        {SHOW_SAMPLES, "idx/nonexistent", 2, {"apt-get install dataset-fashion-mnist"}},
        {TR "models/lenet5 --data fashion-mnist --steps 1 --quiet", "", 2,
         {"/nonexistent-deepc-data/fashion-mnist", "apt-get install dataset-fashion-mnist"}},
        {DIGITS, "nonexistent/digits.csv.gz", 2, {"cannot open"}},
        {TR OK "mlp.spec --data npy:{F}," OK "y.npy --quiet", "nonexistent.npy", 2,
         {"cannot open"}},
    };
    const char *old = getenv("DEEPC_DATA");
    char *saved = old ? strdup(old) : NULL;
    setenv("DEEPC_DATA", "/nonexistent-deepc-data", 1);
    RUN_CASES(c);
    /* weather: $DEEPC_DATA first, then Debian's copy; the message only shows without that */
    if (access("/usr/lib/python3/dist-packages/vega_datasets/_data/seattle-weather.csv",
               R_OK) != 0) {
        static const bad_case w[] = {{TR "models/weather_lstm --data weather --quiet", "",
                                      2, {"python3-vega-datasets", "$DEEPC_DATA"}}};
        RUN_CASES(w);
    }
    if (saved)
        setenv("DEEPC_DATA", saved, 1);
    else
        unsetenv("DEEPC_DATA");
    free(saved);
}

/* ---- nothing on disk is overwritten ---- */

/* The files a run directory holds, with contents a failed command must not touch. */
static const char *const sentinel[][2] = {
    {"model.safetensors", "old weights\n"}, {"model.spec", "old spec\n"},
    {"checkpoint", "old checkpoint\n"},     {"log.csv", "old log\n"},
    {"vocab.txt", "old vocab\n"},           {"y.npy", "old output\n"},
    {"s.png", "old picture\n"},
};
enum { N_SENTINEL = sizeof sentinel / sizeof *sentinel };

static int same_text(const char *path, const char *text)
{
    char buf[256];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n == strlen(text) && !memcmp(buf, text, n);
}

/* Entries of dir other than . and .. */
static int n_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

/* Run cmd ({T} = a directory of sentinel files): it must exit 2 and leave every file as it was,
 * with no file added (a temporary file left behind would show). */
static void check_untouched(const char *tmpl, const char *file, int line)
{
    const char *dir = t_tmpdir();
    char path[600], cmd[2048];
    for (int i = 0; i < N_SENTINEL; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, sentinel[i][0]);
        if (!t_write_text(path, sentinel[i][1])) {
            t_fail(file, line, "cannot write %s", path);
            return;
        }
    }
    expand(tmpl, "", dir, cmd, sizeof cmd);
    int rc = t_run_deepc(out, sizeof out, "%s", cmd);
    if (rc != 2)
        t_fail(file, line, "deepc %s\n      exited %d, expected 2:\n%s", cmd, rc, out);
    for (int i = 0; i < N_SENTINEL; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, sentinel[i][0]);
        if (!same_text(path, sentinel[i][1]))
            t_fail(file, line, "deepc %s\n      changed %s", cmd, path);
    }
    if (n_entries(dir) != N_SENTINEL)
        t_fail(file, line, "deepc %s\n      left %d files in %s, expected %d", cmd,
               n_entries(dir), dir, N_SENTINEL);
}

TEST(bad_input_leaves_existing_files_untouched)
{
    static const char *const cmds[] = {
        /* forward --output EXISTING with a bad input, bad weights, a bad spec, a bad fit */
        "forward " OK "mlp.spec --weights " OK "mlp.safetensors --input " BAD
        "npy/truncated_data.npy --output {T}/y.npy",
        "forward " OK "mlp.spec --weights " OK "mlp.safetensors --input " BAD
        "npy/x_wrong_width.npy --output {T}/y.npy",
        "forward " OK "mlp.spec --weights " BAD "st/truncated.safetensors --input " OK
        "x.npy --output {T}/y.npy",
        "forward " BAD "spec/unknown_layer.spec --weights " OK "mlp.safetensors --input " OK
        "x.npy --output {T}/y.npy",
        /* train --out DIR over an earlier run, with a bad spec, data, weights to start from */
        TR BAD "spec/unknown_key.spec --data npy:" OK "x.npy," OK "y.npy --out {T}",
        TR BAD "spec/shape_mismatch_add.spec --data npy:" OK "x.npy," OK "y.npy --out {T}",
        TR OK "mlp.spec --data npy:" BAD "npy/truncated_data.npy," OK "y.npy --out {T}",
        TR OK "mlp.spec --data npy:" OK "x.npy," OK "y.npy --init " BAD
        "st/offsets_past_eof.safetensors --out {T}",
        TR OK "series.spec --data csv:" BAD "csv/ragged.csv,window=2 --out {T}",
        TR "models/char_rnn --data text:" BAD "text/empty.txt --out {T}",
        TR "models/lenet5 --data fashion-mnist:" BAD "idx/corrupt_gzip --out {T}",
        /* pictures */
        "show samples --data fashion-mnist:" BAD "idx/truncated_data --out {T}/s.png",
        "show filters models/lenet5 --weights " BAD "weights/lenet5_misshaped.safetensors "
        "--out {T}/s.png",
        /* the checkpoint itself (it holds "old checkpoint": not a checkpoint) */
        TR "--resume {T}",
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        check_untouched(cmds[i], __FILE__, __LINE__);
}

/* ---- data that parses but does not fit the model: no crash, a message that says why ---- */

TEST(bad_input_data_that_does_not_fit_stops_without_a_crash)
{
    /* Not file-format errors, so exit 1 (training stopped) is allowed as well as 2; none of
     * these may crash, and each must say what went wrong. NaN data stops training at the first
     * step that sees it, naming the step; --check-numerics also names the op and layer. Weights
     * holding NaN load, and eval prints a NaN loss (exit 0). These messages do not name the
     * file yet (the data are checked at the first step, not when loaded). */
    static const struct {
        const char *cmd, *want[2];
        int rc_max;
    } c[] = {
        {TR OK "mlp.spec --data npy:" BAD "npy/x_nan.npy," OK "y.npy --epochs 1 --quiet",
         {"x_nan.npy", "not a finite number"}, 2},
        {TR OK "mlp.spec --data npy:" BAD "npy/x_nan.npy," OK "y.npy --epochs 1 --quiet "
         "--check-numerics", {"x_nan.npy", "element"}, 2},
        {TR OK "mlp.spec --data npy:" BAD "npy/x_wrong_width.npy," OK "y.npy --epochs 1 "
         "--quiet", {"fc1", "weight [8, 4]"}, 2},
        {"forward " OK "mlp.spec --weights " OK "mlp.safetensors --input " BAD
         "npy/x_wrong_width.npy --output /nonexistent-dir/y.npy", {"fc1", "[20, 5]"}, 2},
        {TR "models/lenet5 --data fashion-mnist:" BAD "idx/label_out_of_range --val 0 "
         "--steps 1 --threads 1 --quiet", {"200", "[0, 10)"}, 2},
        {TR "models/lenet5 --data fashion-mnist:" BAD "idx/images_8x8 --val 0 --steps 1 "
         "--threads 1 --quiet", {"c3", "larger than the padded input"}, 2},
        {"eval " OK "mlp.spec --weights " BAD "st/weights_nan.safetensors --data npy:" OK
         "x.npy," OK "y.npy", {"nan", NULL}, 2},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        int rc = t_run_deepc(out, sizeof out, "%s", c[i].cmd);
        CHECK(rc >= 0 && rc <= c[i].rc_max, "deepc %s\n      exited %d:\n%s", c[i].cmd, rc,
              out);
        for (int k = 0; k < 2 && c[i].want[k]; k++)
            CHECK(strstr(out, c[i].want[k]), "deepc %s\n      does not say '%s':\n%s", c[i].cmd,
                  c[i].want[k], out);
    }
}
