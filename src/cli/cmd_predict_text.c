/*
 * cmd_predict_text.c - deepc predict MODEL --weights W --text "...": the class probabilities of
 * one text under a text classifier (dc_textcls_predict), most likely first.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: deepc predict MODEL --weights W.safetensors --text TEXT [--vocab V]\n"
               "  [--classes FILE] [--max-len N] [--set NAME=VALUE]\n"
               "Prints each class with its probability, most likely first. --vocab and\n"
               "--classes default to vocab.txt and classes.txt next to the weights (what\n"
               "deepc train writes); MODEL is the run's spec (DIR/model.spec).\n");
}

/* dir(weights)/name into buf. */
static const char *beside(const char *weights, const char *name, char *buf, size_t n)
{
    const char *slash = strrchr(weights, '/');
    snprintf(buf, n, "%.*s/%s", slash ? (int)(slash - weights) : 1, slash ? weights : ".", name);
    return buf;
}

int cmd_predict_text(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *text = NULL, *vocab = NULL, *classes = NULL;
    const char *len = NULL;
    cli_sets sets = {0};
    const cli_opt opts[] = {{"--weights", &weights, NULL}, {"--text", &text, NULL},
                            {"--vocab", &vocab, NULL}, {"--classes", &classes, NULL},
                            {"--max-len", &len, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("predict", argc, argv, opts, &model, 1, &sets);
    if (pr > 0)
        usage(stdout);
    if (pr)
        return pr > 0 ? 0 : 2;
    int64_t max_len = 0;
    if (!model || !weights || !text)
        return cli_missing("predict", !model ? "MODEL" : !weights ? "--weights W" : "--text");
    if (len && arg_i64("--max-len", len, 2, 1 << 20, &max_len))
        return 2;
    char vbuf[4096], cbuf[4096];
    vocab = vocab ? vocab : beside(weights, "vocab.txt", vbuf, sizeof vbuf);
    const int own_classes = classes != NULL;
    classes = classes ? classes : beside(weights, "classes.txt", cbuf, sizeof cbuf);
    char **names = NULL, num[32];
    int n_names = 0, K = 0, rc = 2;
    float *p = NULL;
    dc_wordpiece *wp = dc_wordpiece_load(vocab, NULL);
    if (!wp || (dc_textcls_classes_load(classes, &names, &n_names) != DC_OK && own_classes)) {
        fprintf(stderr, "deepc predict: %s\n", dc_last_error());
        goto out;
    }
    dc_spec *spec = dc_spec_parse_file(model);
    snprintf(num, sizeof num, "%lld", (long long)dc_wordpiece_size(wp));
    if (spec && dc_spec_define(spec, "vocab", num) >= 0 && n_names) {
        snprintf(num, sizeof num, "%d", n_names);
        dc_spec_define(spec, "labels", num);
    }
    dc_model *m = spec && cli_spec_set(spec, model, &sets) == 0 ? dc_spec_build(spec, NULL) : NULL;
    if (!m)
        fprintf(stderr, "deepc predict: %s\n", dc_last_error());
    if (m && !cli_load_weights(m, weights, 0) &&
        dc_textcls_predict(m, spec, wp, max_len, text, &p, &K) != DC_OK)
        fprintf(stderr, "deepc predict: %s\n", dc_last_error());
    if (p) {
        for (int r = 0; r < K; r++) { /* the most likely left, by selection */
            int best = -1;
            for (int k = 0; k < K; k++)
                if (p[k] >= 0 && (best < 0 || p[k] > p[best]))
                    best = k;
            if (best < n_names)
                printf("%-16s %.4f\n", names[best], (double)p[best]);
            else
                printf("%-16d %.4f\n", best, (double)p[best]);
            p[best] = -1;
        }
        rc = 0;
    }
    free(p);
    dc_model_free(m);
    dc_spec_free(spec);
out:
    for (int k = 0; k < n_names; k++)
        free(names[k]);
    free(names);
    dc_wordpiece_free(wp);
    return rc;
}
