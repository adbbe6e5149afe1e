/*
 * cmd_attn.c - `deepc show attention`: a heatmap PNG of one attention's weights during a forward
 * (the library part: src/plot/attn.c).
 *   deepc show attention MODEL --weights W --text TEXT [--vocab V] ...   a character model
 *   deepc show attention MODEL --weights W --input X.npy [--rows a,b --cols c,d] ...
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "plot/attn.h"

#include <stdlib.h>
#include <string.h>

static void attn_usage(FILE *f)
{
    fprintf(f,
        "usage: deepc show attention MODEL --weights W.safetensors (--text TEXT | --input X.npy)\n"
        "                            [--layer NAME] [--heads] --out F.png\n"
        "  MODEL           the spec the weights were trained with (DIR/model.spec)\n"
        "  --text TEXT     a character model's prompt (the vocabulary: --vocab FILE, default\n"
        "                  vocab.txt next to the weights); both axes are its characters\n"
        "  --input X.npy   any model's input, one example [1, ...] (e.g. a G2P word's ids)\n"
        "  --rows A,B,..   labels of the queries (with --input); --cols: of the keys; fewer\n"
        "                  than the positions crop the picture to them (a padded input)\n"
        "  --layer NAME    the attention (default: the model's last; a wrong name lists them)\n"
        "  --heads         a panel per head instead of their mean\n");
}

/* The picture for the parsed flags: 0, 1 (could not write), 2 (bad input). */
static int attn_run(dc_model *m, const char *weights, const char *text, const char *vocab,
                    const char *input, const char *rows, const char *cols, const char *layer,
                    int heads, const char *out)
{
    dc_status st;
    if (text) {
        char vpath[1024];
        if (!vocab) { /* vocab.txt next to the weights */
            const char *slash = strrchr(weights, '/');
            snprintf(vpath, sizeof vpath, "%.*s/vocab.txt", slash ? (int)(slash - weights) : 1,
                     slash ? weights : ".");
            vocab = vpath;
        }
        dc_vocab v;
        st = dc_vocab_load(vocab, &v);
        if (st == DC_OK)
            st = attn_picture_text(m, &v, text, layer, heads, out);
    } else {
        dc_tensor *x = dc_npy_load(input);
        char **rl = NULL, **cl = NULL;
        int64_t nr = 0, nc = 0;
        st = x ? attn_labels(rows, &rl, &nr) : dc_last_status();
        if (st == DC_OK)
            st = attn_labels(cols, &cl, &nc);
        if (st == DC_OK)
            st = attn_picture(m, x, layer, heads, (const char *const *)rl, nr,
                              (const char *const *)cl, nc, out);
        free(rl);
        free(cl);
        dc_tensor_free(x);
    }
    if (st != DC_OK) {
        fprintf(stderr, "deepc show attention: %s\n", dc_last_error());
        return st == DC_ERR_IO || st == DC_ERR_NOMEM ? 1 : 2;
    }
    printf("wrote %s\n", out);
    return 0;
}

int cmd_show_attention(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *text = NULL, *vocab = NULL, *input = NULL;
    const char *rows = NULL, *cols = NULL, *layer = NULL, *out = NULL;
    int heads = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = !strcmp(f, "--weights") ? &weights : !strcmp(f, "--text") ? &text
                           : !strcmp(f, "--vocab") ? &vocab : !strcmp(f, "--input") ? &input
                           : !strcmp(f, "--rows") ? &rows : !strcmp(f, "--cols") ? &cols
                           : !strcmp(f, "--layer") ? &layer : !strcmp(f, "--out") ? &out : NULL;
        if (!strcmp(f, "--help")) {
            attn_usage(stdout);
            return 0;
        } else if (!strcmp(f, "--heads")) {
            heads = 1;
        } else if (dst && v) {
            *dst = v;
            i++;
        } else if (f[0] == '-') {
            if (dst)
                fprintf(stderr, "deepc show attention: %s needs a value\n", f);
            else
                cli_unknown_flag_usage("show attention", f, attn_usage);
            return 2;
        } else if (!model) {
            model = f;
        } else {
            fprintf(stderr, "deepc show attention: unexpected argument '%s'\n", f);
            return 2;
        }
    }
    if (!model || !weights || !out || !text == !input) {
        attn_usage(stderr);
        return 2;
    }
    dc_model *m = cli_load_model(model, NULL, NULL);
    int rc = m && cli_load_weights(m, weights, 0) == 0 ? 0 : 2;
    if (rc == 0)
        rc = attn_run(m, weights, text, vocab, input, rows, cols, layer, heads, out);
    dc_model_free(m);
    return rc;
}
