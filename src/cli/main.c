/*
 * main.c - the `deepc` command: dispatch to subcommands. Exit codes: 0 ok, 1 failure (a check
 * failed, training diverged), 2 bad usage or bad input.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"train", cmd_train, "train a model spec on a dataset"},
    {"eval", cmd_eval, "loss, accuracy and confusion matrix of trained weights"},
    {"forward", cmd_forward, "eval-mode forward of a .npy batch, written as .npy"},
    {"compare", cmd_compare, "whether two .safetensors files match within a tolerance"},
    {"average", cmd_average, "the mean of weight files of one model (checkpoint averaging)"},
    {"plot", cmd_plot, "SVG training curves from a run's log.csv"},
    {"generate", cmd_generate, "sample text from a trained character language model"},
    {"predict", cmd_predict, "top-5 classes of one image (.png or .pgm)"},
    {"g2p", cmd_g2p, "grapheme-to-phoneme: WER/PER on CMUdict, or the phones of words"},
    {"show", cmd_show, "pictures: samples, conv filters, feature maps, errors (PNG); forecasts (SVG)"},
    {"summary", cmd_summary, "per-layer shapes, parameters, MACs/FLOPs and memory"},
    {"tokenize", cmd_tokenize, "BERT WordPiece: encode, decode, train a vocab.txt"},
    {"fill-mask", cmd_fill_mask, "top-k tokens a pre-trained BERT puts at a [MASK]"},
    {"gradcheck", cmd_gradcheck, "check every op's gradient against finite differences"},
    {"layers", cmd_layers, "the layer types a model spec can use, their keys and defaults"},
    {"version", cmd_version, "print the version and the GEMM backend (also --version)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: deepc <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'deepc help <command>' or 'deepc <command> --help' describes each command;\n"
               "'deepc --version' prints the version.\n");
}

#define N_COMMANDS (sizeof commands / sizeof *commands)

/* "unknown command 'trian' — did you mean 'train'?", then the list; exit code 2. */
static int unknown_command(const char *name)
{
    const char *names[N_COMMANDS + 2];
    for (size_t i = 0; i < N_COMMANDS; i++)
        names[i] = commands[i].name;
    names[N_COMMANDS] = "help";
    names[N_COMMANDS + 1] = NULL;
    const char *near = dc_nearest_name(name, names);
    fprintf(stderr, "deepc: unknown command '%s'", name);
    if (near)
        fprintf(stderr, " \u2014 did you mean '%s'?", near);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

static int run_command(int argc, char **argv);

/* The start of the program: how idle threads wait, DEEPC_GEMM, MPI. It stays here, in main's
 * file: exec'ing the process and setting its environment is a program's decision, never the
 * library's (tests/test_layering.c). DC_OK, or dc_dist_init's error. */
static dc_status process_start(int *argc, char ***argv)
{
    /* OpenMP threads that spin without end while waiting turn a busy 2-core machine into a 10x
     * slowdown (LeNet-5 training 15.6 s spinning vs 1.2 s passive with another job running),
     * and a one-image predict from 2.4 ms of work into 16 ms of CPU; threads that sleep at once
     * make every parallel region pay a wake-up. So spin a little: dc_spincount_default() picks
     * the count from how busy the machine is. OpenBLAS runs on one thread (dc_gemm splits big
     * products over the OpenMP threads), so it need not start a pool of its own at load.
     * libgomp and OpenBLAS read their environment in constructors, before main, so setting
     * the variables here is too late for this process: set them and exec ourselves once (about
     * 1 ms); if the exec fails, run on as we are. docs/design.md, "Threads". */
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
        setenv("GOMP_SPINCOUNT", dc_spincount_default(), 0);
        setenv("OPENBLAS_NUM_THREADS", "1", 0);
#ifdef __linux__
        execv("/proc/self/exe", *argv);
#endif
    }
    /* DEEPC_GEMM=builtin: the built-in GEMM even where OpenBLAS would be used (its reduction
     * order is fixed, so results do not depend on the thread count: docs/design.md,
     * "Determinism"); DEEPC_GEMM=openblas: OpenBLAS whenever it is linked in */
    const char *gemm = getenv("DEEPC_GEMM");
    if (gemm && !strcmp(gemm, "builtin"))
        dc_gemm_force_builtin(1);
    else if (gemm && !strcmp(gemm, "openblas"))
        dc_gemm_prefer_blas();
    /* under mpirun: MPI_Init here (a no-op without MPI=1) */
    return dc_dist_init(argc, argv);
}

int main(int argc, char **argv)
{
    /* thread waiting, DEEPC_GEMM, MPI; ranks other than 0 stay quiet */
    if (process_start(&argc, &argv) != DC_OK) {
        fprintf(stderr, "deepc: %s\n", dc_last_error());
        return 1;
    }
    /* --allow-nonfinite: every command that loads weights (eval, forward, predict, generate,
     * show, train --init) loads NaN / Inf weights instead of refusing them (cli_load_weights) */
    /* --bf16: the inference commands that freeze the model freeze it for bfloat16 products
     * (dc_model_freeze_bf16); refused elsewhere rather than ignored */
    int kept = argc > 1 ? 2 : argc;
    for (int i = kept; i < argc; i++) {
        if (!strcmp(argv[i], "--allow-nonfinite"))
            cli_allow_nonfinite = 1;
        else if (!strcmp(argv[i], "--bf16"))
            cli_bf16 = 1;
        else
            argv[kept++] = argv[i];
    }
    argv[kept] = NULL;
    argc = kept;
    static const char *const bf16_cmds[] = {"eval",     "forward", "predict",
                                            "generate", "g2p",     "fill-mask"};
    int bf16_ok = 0;
    for (size_t i = 0; argc > 1 && i < sizeof bf16_cmds / sizeof bf16_cmds[0]; i++)
        bf16_ok |= !strcmp(argv[1], bf16_cmds[i]);
    if (cli_bf16 && !bf16_ok) {
        fprintf(stderr, "deepc: --bf16 is for the inference commands eval, forward, predict, "
                        "generate, g2p and fill-mask\n");
        dc_dist_finalize();
        return 2;
    }
    int rc = run_command(argc, argv);
    dc_dist_finalize();
    return rc;
}

/* deepc help [CMD]: the command list, or CMD's own --help. */
static int run_help(int argc, char **argv)
{
    if (argc < 3 || !strcmp(argv[2], "help")) {
        usage(stdout);
        return 0;
    }
    char help_flag[] = "--help";
    char *av[] = {argv[2], help_flag, NULL};
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[2], commands[i].name))
            return commands[i].fn(2, av);
    return unknown_command(argv[2]);
}

static int run_command(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
        return cmd_version(1, argv + 1);
    if (!strcmp(argv[1], "help"))
        return run_help(argc, argv);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    return unknown_command(argv[1]);
}

int cmd_version(int argc, char **argv)
{
    static const char *const known[] = {"--help", NULL};
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        printf("usage: deepc version (or deepc --version)\n"
               "Prints the version, the GEMM backend and the default thread count.\n");
        return 0;
    }
    if (argc > 1) {
        cli_unknown_flag("version", argv[1], known);
        return 2;
    }
    const char *spin = getenv("GOMP_SPINCOUNT"), *policy = getenv("OMP_WAIT_POLICY");
    /* how idle OpenMP threads wait: what main() chose (dc_spincount_default) or the user set */
    printf("deepc %s (gemm: %s, threads: %d, %s=%s)\n", DC_VERSION, dc_gemm_backend(),
           dc_get_num_threads(), policy ? "OMP_WAIT_POLICY" : "GOMP_SPINCOUNT",
           policy ? policy : spin ? spin : "libgomp's default");
    return 0;
}

int cmd_gradcheck(int argc, char **argv)
{
    const char *filter = NULL;
    int verbose = 0;
    const cli_opt opts[] = {{"--verbose", NULL, &verbose}, {"-v", NULL, &verbose},
                            {NULL, NULL, NULL}};
    int pr = cli_parse_opts("gradcheck", argc, argv, opts, &filter, 1, NULL);
    if (pr > 0)
        printf("usage: deepc gradcheck [-v] [FILTER]\n"
               "Checks the analytic gradient of every op, layer and loss against central\n"
               "finite differences; FILTER keeps the cases whose name contains it (a\n"
               "layer type such as conv2d runs that layer's cases).\n"
               "Exit 0 only if every case passes.\n");
    if (pr)
        return pr > 0 ? 0 : 2;
    int failed = gc_run_all(filter, verbose);
    return failed < 0 ? 2 : failed ? 1 : 0;
}
