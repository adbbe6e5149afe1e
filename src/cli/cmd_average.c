/*
 * cmd_average.c - deepc average --out OUT.safetensors A.safetensors B.safetensors ...: checkpoint
 * averaging, the element-wise mean of weight files of one model (io/average.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "io/average.h"

#include <string.h>

#define AVG_MAX_IN 256

int cmd_average(int argc, char **argv)
{
    const char *out = NULL, *in[AVG_MAX_IN];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: deepc average --out OUT.safetensors A.safetensors B.safetensors ...\n"
                   "  the element-wise mean of weight files of one model (checkpoint averaging:\n"
                   "  e.g. the weights of the last epochs); integer tensors come from the last\n"
                   "  file\n");
            return 0;
        }
        if (!strcmp(argv[i], "--out")) {
            if (++i == argc)
                return cli_missing("average", "the file after --out");
            out = argv[i];
        } else if (!strncmp(argv[i], "--", 2)) {
            fprintf(stderr, "deepc average: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (n == AVG_MAX_IN) {
            fprintf(stderr, "deepc average: at most %d files\n", AVG_MAX_IN);
            return 2;
        } else {
            in[n++] = argv[i];
        }
    }
    if (!out || n == 0)
        return cli_missing("average", !out ? "--out OUT.safetensors" : "the files to average");
    if (dc_weights_average(out, n, in) != DC_OK) {
        fprintf(stderr, "deepc average: %s\n", dc_last_error());
        return 2;
    }
    printf("wrote %s: the mean of %d files\n", out, n);
    return 0;
}
