/*
 * cmd_generate.c - deepc generate MODEL --weights W ...: sampling from a trained character
 * language model, one character at a time (dc_lm_generate); $vocab is the size of the
 * vocabulary saved with the weights (vocab.txt).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "train/lm_text.h"

#include <stdlib.h>
#include <string.h>

/* Parse MODEL, give $vocab the vocabulary size, build it. */
static dc_model *load_lm(const char *path, const dc_vocab *v, dc_rng *rng, dc_spec **spec_out)
{
    char num[16];
    snprintf(num, sizeof num, "%d", v->n);
    dc_spec *s = dc_spec_parse_file(path);
    if (s && dc_spec_define(s, "vocab", num) < 0) {
        dc_spec_free(s);
        s = NULL;
    }
    dc_model *m = s ? dc_spec_build(s, rng) : NULL;
    if (!m) {
        fprintf(stderr, "deepc: %s\n", dc_last_error());
        dc_spec_free(s);
        return NULL;
    }
    *spec_out = s;
    return m;
}

static void generate_usage(FILE *f)
{
    fprintf(f,
        "usage: deepc generate MODEL --weights W.safetensors [options]\n"
        "  MODEL                 the spec the weights were trained with (DIR/model.spec)\n"
        "  --vocab FILE          the vocabulary (default: vocab.txt next to the weights)\n"
        "  --prime TEXT          text to start from (default: none)\n"
        "  --length N            characters to generate (500)\n"
        "  --temperature T       softmax temperature; 0 picks the most likely (1)\n"
        "  --top-k K             sample among the K most likely only (0: all)\n"
        "  --top-p P             then among the fewest most likely whose mass is >= P (1: all)\n"
        "  --seed S              the same seed gives the same text (1)\n"
        "  --no-kv-cache         a Transformer: run the whole context at every step instead\n"
        "                        of the new symbol over cached keys and values\n");
}

int cmd_generate(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *vocab = NULL, *prime = "";
    int64_t length = 500, seed = 1;
    float temp = 1.0f, top_p = 1.0f;
    int top_k = 0, kv_cache = 1;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = 0, takes = 1;
        if (!strcmp(f, "--help")) {
            generate_usage(stdout);
            return 0;
        } else if (!strcmp(f, "--no-kv-cache")) {
            kv_cache = 0;
            takes = 0;
        } else if (!strcmp(f, "--weights")) weights = v;
        else if (!strcmp(f, "--vocab")) vocab = v;
        else if (!strcmp(f, "--prime")) prime = v;
        else if (!strcmp(f, "--length")) r = arg_i64(f, v, 0, INT64_C(1) << 30, &length);
        else if (!strcmp(f, "--temperature")) r = arg_float(f, v, 0, 100, &temp);
        else if (!strcmp(f, "--top-k")) r = arg_int(f, v, 0, 256, &top_k);
        else if (!strcmp(f, "--top-p")) r = arg_float(f, v, 1e-6, 1, &top_p);
        else if (!strcmp(f, "--seed")) r = arg_i64(f, v, 0, INT64_MAX, &seed);
        else if (f[0] == '-') {
            cli_unknown_flag_usage("generate", f, generate_usage);
            return 2;
        } else if (!model) { model = f; takes = 0; }
        else {
            fprintf(stderr, "deepc generate: unexpected argument '%s'\n", f);
            return 2;
        }
        if (r)
            return 2;
        if (takes && !v) {
            fprintf(stderr, "deepc generate: %s needs a value\n", f);
            return 2;
        }
        i += takes;
    }
    if (!model || !weights) {
        generate_usage(stderr);
        return 2;
    }
    char vpath[1024];
    if (!vocab) { /* vocab.txt in the directory of the weights */
        const char *slash = strrchr(weights, '/');
        int dir = slash ? (int)(slash - weights) : 1;
        snprintf(vpath, sizeof vpath, "%.*s/vocab.txt", dir, slash ? weights : ".");
        vocab = vpath;
    }
    dc_vocab v;
    if (dc_vocab_load(vocab, &v) != DC_OK) {
        fprintf(stderr, "deepc generate: %s\n", dc_last_error());
        return 2;
    }
    dc_spec *spec = NULL;
    dc_model *m = load_lm(model, &v, NULL, &spec);
    int rc = 2;
    if (m && cli_load_frozen(m, weights, 0) == 0) {
        dc_rng rng;
        dc_rng_seed(&rng, (uint64_t)seed, 7);
        if (dc_lm_generate(m, &v, prime, length, temp, top_k, top_p, &rng, stdout,
                           kv_cache) != DC_OK) {
            fprintf(stderr, "deepc generate: %s\n", dc_last_error());
            rc = 2;
        } else {
            rc = 0;
        }
    }
    dc_model_free(m);
    dc_spec_free(spec);
    return rc;
}
