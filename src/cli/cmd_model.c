/*
 * cmd_model.c - deepc eval / forward and the helpers the commands share (train: cmd_train.c runs
 * it, train_args.c parses it; summary: cmd_summary.c).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "nn/layer_desc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

dc_model *cli_load_model_set(const char *path, const cli_sets *sets, dc_rng *rng,
                             dc_spec **spec_out)
{
    dc_spec *s = dc_spec_parse_file(path);
    if (s && cli_spec_set(s, path, sets)) {
        dc_spec_free(s);
        return NULL;
    }
    dc_model *m = s ? dc_spec_build(s, rng) : NULL;
    if (!m) {
        fprintf(stderr, "deepc: %s\n", dc_last_error());
        dc_spec_free(s);
        return NULL;
    }
    if (spec_out)
        *spec_out = s;
    else
        dc_spec_free(s);
    return m;
}

dc_model *cli_load_model(const char *path, dc_rng *rng, dc_spec **spec_out)
{
    return cli_load_model_set(path, NULL, rng, spec_out);
}

int cli_allow_nonfinite;

int cli_load_weights(dc_model *m, const char *path, int partial)
{
    dc_load_report rep;
    memset(&rep, 0, sizeof rep);
    dc_load_opts lo = {.strict = !partial, .allow_nonfinite = cli_allow_nonfinite};
    if (dc_model_load_opts(m, path, &lo, &rep) != DC_OK) {
        const char *e = dc_last_error(); /* names the file; a refusal lists the keys */
        fprintf(stderr, "deepc: %s%s%s\n%s", strstr(e, path) ? "" : path,
                strstr(e, path) ? "" : ": ", e,
                partial || !strstr(e, "refused") ? ""
                                                 : "(--partial loads the tensors that match)\n");
        return -1;
    }
    if (partial && (rep.n_missing || rep.n_unexpected || rep.n_mismatched))
        fprintf(stderr, "deepc: partial load of %s: %d loaded\n%s\n", path, rep.n_loaded,
                rep.text);
    return 0;
}

void cli_print_confusion(const dc_eval_result *r, const char *(*name)(int))
{
    int K = r->n_classes;
    if (K <= 0 || K > 100 || !r->confusion)
        return;
    printf("confusion matrix (rows: true class, columns: predicted)\n%14s", "");
    for (int j = 0; j < K; j++)
        printf(" %5d", j);
    printf("\n");
    for (int i = 0; i < K; i++) {
        printf("%2d %-11.11s", i, name ? name(i) : "");
        for (int j = 0; j < K; j++)
            printf(" %5lld", (long long)r->confusion[i * K + j]);
        printf("\n");
    }
}


/* mkdir -p: every missing folder of dir, from the top; the first that fails is named. */
int cli_ensure_dir(const char *dir)
{
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p) {
        fprintf(stderr, "deepc: out of memory for the path %s\n", dir);
        return -1;
    }
    memcpy(p, dir, n + 1);
    int rc = 0;
    for (size_t i = 1; i <= n && !rc; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        if (p[i - 1] == '/') /* "a//b", "a/" */
            continue;
        char keep = p[i];
        p[i] = '\0';
        struct stat st;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "deepc: cannot create the directory %s%s%s%s: %s\n", p,
                    keep ? " (for " : "", keep ? dir : "", keep ? ")" : "", strerror(errno));
            rc = -1;
        } else if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "deepc: cannot create the directory %s: %s is %s\n", dir, p,
                    errno == ENOENT ? "missing" : "a file, not a directory");
            rc = -1;
        }
        p[i] = keep;
    }
    free(p);
    return rc;
}

int cli_ensure_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return 0;
    char *dir = malloc((size_t)(slash - path) + 1);
    if (!dir) {
        fprintf(stderr, "deepc: out of memory for the path %s\n", path);
        return -1;
    }
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    int rc = cli_ensure_dir(dir);
    free(dir);
    return rc;
}

double cli_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void eval_usage(FILE *f)
{
    fprintf(f, "usage: deepc eval MODEL --weights W.safetensors --data DATA [--loss L] "
               "[--partial] [--quiet]\n                  [--set NAME=VALUE]...\n"
               "  DATA: fashion-mnist[:DIR] (test split) | digits[:FILE] | npy:X.npy,Y.npy\n"
               "  --set NAME=VALUE gives the spec variable $NAME a value\n"
               "  --quiet: print nothing on success (the exit code says it ran)\n");
}

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *data = NULL, *loss = "cross_entropy";
    int partial = 0, quiet = 0;
    if (cli_argv_textcls(argc, argv))
        return cmd_eval_textcls(argc, argv);
    cli_sets sets = {0};
    const cli_opt opts[] = {{"--weights", &weights, NULL}, {"--data", &data, NULL},
                            {"--loss", &loss, NULL}, {"--partial", NULL, &partial},
                            {"--quiet", NULL, &quiet}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("eval", argc, argv, opts, &model, 1, &sets);
    if (pr) {
        if (pr > 0)
            eval_usage(stdout);
        return pr > 0 ? 0 : 2;
    }
    if (!model || !weights || !data)
        return cli_missing("eval", !model     ? "MODEL (a spec file)"
                                   : !weights ? "--weights W.safetensors"
                                              : "--data DATA");
    dc_loss_kind lk;
    if (dc_loss_kind_parse(loss, &lk)) {
        fprintf(stderr, "deepc eval: %s\n", dc_last_error());
        return 2;
    }
    if (quiet && cli_quiet_stdout())
        return 2;
    dc_model *m = cli_load_model_set(model, &sets, NULL, NULL);
    if (!m)
        return 2;
    int rc = 0;
    dc_dataset *d = NULL;
    if (cli_load_weights(m, weights, partial)) {
        rc = 2;
        goto out;
    }
    if (!(d = cli_load_data(data, 0))) {
        fprintf(stderr, "deepc eval: %s\n", dc_last_error());
        rc = 2;
        goto out;
    }
    dc_eval_result r;
    if (dc_evaluate(m, d, NULL, 0, 256, lk, &r) != DC_OK) {
        fprintf(stderr, "deepc eval: %s\n", dc_last_error());
        rc = 2;
        goto out;
    }
    printf("loss %.4f  accuracy %.4f (%lld/%lld)\n", r.loss, r.accuracy, (long long)r.correct,
           (long long)r.n);
    cli_print_confusion(&r, !strncmp(data, "fashion-mnist", 13) ? dc_fashion_mnist_class
                                                                 : NULL);
    dc_eval_result_free(&r);
out:
    dc_dataset_free(d);
    dc_model_free(m);
    return rc;
}

/* ---- forward ---- */

int cmd_forward(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *input = NULL, *output = NULL;
    cli_sets sets = {0};
    const cli_opt opts[] = {{"--weights", &weights, NULL}, {"--input", &input, NULL},
                            {"--output", &output, NULL}, {NULL, NULL, NULL}};
    int pr = cli_parse_opts("forward", argc, argv, opts, &model, 1, &sets);
    if (pr > 0)
        printf("usage: deepc forward MODEL --weights W.safetensors --input X.npy --output Y.npy "
               "[--set NAME=VALUE]...\n  Eval-mode forward of the whole batch in X.npy (first "
               "dim = batch).\n");
    if (pr)
        return pr > 0 ? 0 : 2;
    if (!model || !weights || !input || !output)
        return cli_missing("forward", !model     ? "MODEL (a spec file)"
                                      : !weights ? "--weights W.safetensors"
                                      : !input   ? "--input X.npy"
                                                 : "--output Y.npy");
    dc_model *m = cli_load_model_set(model, &sets, NULL, NULL);
    if (!m)
        return 2;
    int rc = 2;
    dc_tensor *x = NULL;
    dc_ctx *ctx = dc_ctx_new(0);
    if (!ctx || cli_load_weights(m, weights, 0))
        goto out;
    if (!(x = dc_npy_load(input))) {
        fprintf(stderr, "deepc forward: %s\n", dc_last_error());
        goto out;
    }
    dc_ctx_set_grad(ctx, 0);
    dc_tensor *y = dc_model_forward(ctx, m, x);
    if (y && cli_ensure_parent(output)) /* the folders of --output a/b/y.npy, after the checks */
        goto out;
    if (!y || dc_npy_save(output, y) != DC_OK) {
        fprintf(stderr, "deepc forward: %s\n", dc_last_error());
        goto out;
    }
    rc = 0;
out:
    dc_tensor_free(x);
    dc_ctx_free(ctx);
    dc_model_free(m);
    return rc;
}
