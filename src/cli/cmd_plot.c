/*
 * cmd_plot.c - deepc plot DIR: the training curves of DIR/log.csv (written by deepc train) as
 * SVG charts (plot_log_curves).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "plot/plot.h"

#include <stdlib.h>
#include <string.h>

int cmd_plot(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    const cli_opt opts[] = {{"--out", &out, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("plot", argc, argv, opts, &dir, 1, NULL);
    if (pr > 0)
        printf("usage: deepc plot DIR [--out F.svg]\n  the loss (and accuracy) curves of "
               "DIR/log.csv; writes DIR/loss.svg (and DIR/accuracy.svg) unless --out\n");
    if (pr)
        return pr > 0 ? 0 : 2;
    if (!dir)
        return cli_missing("plot", "DIR (a training run's --out folder)");
    char wrote[2200];
    int rc = plot_log_curves(dir, out, wrote, sizeof wrote);
    if (rc == 0)
        printf("wrote %s\n", wrote);
    else
        fprintf(stderr, "deepc plot: %s\n", dc_last_error());
    return rc == 0 ? 0 : rc == -2 ? 2 : 1;
}
