/*
 * cmd_attn.c - `deepc show attention`: a heatmap PNG of one attention's weights during a forward
 * (the library part: attn_show, src/plot/attn.c).
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

int cmd_show_attention(int argc, char **argv)
{
    const char *model = NULL;
    attn_show_opts o = {0};
    const cli_opt opts[] = {{"--weights", &o.weights, NULL}, {"--text", &o.text, NULL},
                            {"--vocab", &o.vocab, NULL}, {"--input", &o.input, NULL},
                            {"--rows", &o.rows, NULL}, {"--cols", &o.cols, NULL},
                            {"--layer", &o.layer, NULL}, {"--out", &o.out, NULL},
                            {"--heads", NULL, &o.heads}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("show attention", argc, argv, opts, &model, 1, NULL);
    if (pr)
        return pr > 0 ? (attn_usage(stdout), 0) : 2;
    if (!model || !o.weights || !o.out || !o.text == !o.input) {
        attn_usage(stderr);
        return 2;
    }
    dc_model *m = cli_load_model(model, NULL, NULL);
    int rc = m && cli_load_weights(m, o.weights, 0) == 0 ? 0 : 2;
    dc_status st = rc ? DC_OK : attn_show(m, &o);
    if (st != DC_OK) {
        fprintf(stderr, "deepc show attention: %s\n", dc_last_error());
        rc = st == DC_ERR_IO || st == DC_ERR_NOMEM ? 1 : 2;
    } else if (rc == 0) {
        printf("wrote %s\n", o.out);
    }
    dc_model_free(m);
    return rc;
}
