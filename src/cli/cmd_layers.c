/*
 * cmd_layers.c - deepc layers: the layer registry (src/nn/layers.def) as a table, Markdown
 * (the table of docs/model-format.md) or JSON (read by tools/spec_torch.py).
 */
#include "cli.h"
#include "nn/layer_desc.h"

#include <string.h>

static void print_text(void)
{
    for (int i = 0; i < dc_layer_count(); i++) {
        const dc_layer_desc *d = dc_layer_at(i);
        printf("%-18s %s\n", d->type, d->doc);
        for (int k = 0; k < d->n_keys; k++) {
            const dc_layer_key *key = &d->keys[k];
            printf("  %-18s %-12s %s\n", key->name,
                   key->kind == DC_KEY_IN ? "(inferred)" : key->def ? key->def : "(required)",
                   key->doc);
        }
    }
}

int cmd_layers(int argc, char **argv)
{
    int json = 0, md = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--md"))
            md = 1;
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: deepc layers [--json | --md]\n  The layer types a model spec can use "
                   "(docs/model-format.md): keys, defaults, ranges.\n  --json  as JSON (for "
                   "tools)\n  --md    as the Markdown table of docs/model-format.md\n");
            return 0;
        } else {
            static const char *const known[] = {"--json", "--md", "--help", NULL};
            cli_unknown_flag("layers", argv[i], known);
            return 2;
        }
    }
    if (json && md) {
        fprintf(stderr, "deepc layers: give --json or --md, not both\n");
        return 2;
    }
    if (!json && !md) {
        print_text();
        return 0;
    }
    if (dc_layers_write(stdout, json) != DC_OK) {
        fprintf(stderr, "deepc layers: %s\n", dc_last_error());
        return 1;
    }
    return 0;
}
