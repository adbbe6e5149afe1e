/*
 * cli.h - the subcommands of the deepc CLI and their shared helpers.
 * Exit codes: 0 success, 1 a failure while running (a check failed, training diverged),
 * 2 bad usage or bad input (unknown flag, malformed file, shape mismatch).
 */
#ifndef DC_CLI_H
#define DC_CLI_H

#include "deepc.h"
#include "check/gradcheck.h"

#include <stdio.h>

int cmd_gradcheck(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_tokenize(int argc, char **argv); /* cmd_tokenize.c */
int cmd_fill_mask(int argc, char **argv); /* cmd_fillmask.c */

/* deepc train's options, shared by its image/tensor, text (cmd_text.c) and series
 * (cmd_series.c) paths. */
typedef struct train_args {
    const char *model, *data, *out, *optimizer, *scheduler, *loss, *augment;
    const char *init;   /* --init W.safetensors: start from these weights (strict) */
    const char *resume; /* --resume DIR: continue DIR/checkpoint */
    float clip;
    int epochs, threads, quiet, epochs_set, no_shuffle, json;
    int check_numerics, sync_bn;
    int64_t batch, val, max_steps, seed;
    int64_t bptt; /* text: time steps per truncated-BPTT chunk (0: the default) */
    int64_t save_every; /* --save-every N: a checkpoint every N steps too (0: per epoch only) */
    int64_t log_every;  /* --log-every N: a log.csv row every N steps (0: per epoch only) */
    /* The optimizer and scheduler flags (PyTorch's names, train_args.c's table): the values
     * given, and which were given (bit i: entry i of the table). */
    dc_optim_cfg opt;
    dc_sched_cfg sched;
    uint64_t given;
    int t_max_set;  /* --t-max given (else cosine's T_max is the run's epochs) */
} train_args;
/* Parse train's argv (1 after --help, -1 after a usage error, else 0) and turn the options into
 * dc_train_opts (-1 on a bad name). */
int cli_parse_train_args(int argc, char **argv, train_args *a);
int cli_train_opts(const train_args *a, dc_train_opts *o);
void cli_train_usage(FILE *f);
/* Whether a train flag takes no value (--quiet, --nesterov, --maximize, ...). */
int cli_train_is_switch(const char *flag);
/* What cmd_train hands every data path when it resumes (NULL: a fresh run). */
typedef struct train_resume {
    const char *dir;    /* --resume DIR: where the resumed run writes */
    const char *path;   /* DIR/checkpoint */
    const char *spec;   /* the checkpoint's spec text (the model to rebuild) */
} train_resume;
/* --quiet: point stdout at /dev/null, so that a successful command prints nothing (errors still
 * go to stderr). 0, or -1 after a message. */
int cli_quiet_stdout(void);
/* train --data text:FILE (character language model, truncated BPTT) */
int cmd_train_text(const train_args *a, const dc_train_opts *o, const train_resume *rs,
                   const char *args_text);
/* train --data csv:... (time-series regression) */
int cmd_train_series(const train_args *a, const dc_train_opts *o, const train_resume *rs,
                     const char *args_text);
/* The options every data path shares (the spec and command line stored in checkpoints,
 * --save-every, --check-numerics, --json, --resume) and DIR/model.spec. *spec_text (malloc'd)
 * must outlive the run. 0, or -1 after a message. */
int cli_train_prepare(const train_args *a, const dc_spec *spec, const train_resume *rs,
                      const char *args_text, dc_train_opts *o, char **spec_text);
/* The model of a run: rebuilt from the checkpoint's spec when resuming, else NULL (the caller
 * builds it from MODEL). Prints the error; *spec_out receives the parsed spec. */
dc_model *cli_resume_model(const train_resume *rs, dc_rng *rng, dc_spec **spec_out);
/* Run dc_train_task with SIGINT/SIGTERM saving a checkpoint; prints the error. Exit code: 0;
 * 2 for bad input (a checkpoint of another run, shapes); 130/143 after a signal; 1 otherwise. */
int cli_run_task(dc_model *m, dc_task *t, dc_train_opts *o, dc_task_eval *last);
/* mkdir -p: create dir and every missing folder above it (0), else print which folder could not
 * be made and why (-1). cli_ensure_parent does the same for the folder a file path is in. */
int cli_ensure_dir(const char *dir);
int cli_ensure_parent(const char *path);
/* Monotonic seconds. */
double cli_now_s(void);

/* Strict value parsing: 0 on success, -1 after printing "deepc: FLAG: ..." to stderr. */
int arg_i64(const char *flag, const char *val, int64_t lo, int64_t hi, int64_t *out);
int arg_int(const char *flag, const char *val, int lo, int hi, int *out);
int arg_float(const char *flag, const char *val, double lo, double hi, float *out);

/* Unknown names: the optimal-string-alignment edit distance of a and b (a swap of two
 * neighbours counts 1); the entry of the NULL-terminated list known nearest to word, or NULL
 * when none is close (at most a third of its letters differ, or word abbreviates it). */
int cli_edit_distance(const char *a, const char *b);
const char *cli_nearest(const char *word, const char *const *known);
/* The one message for an unknown flag of any subcommand, on stderr:
 * "deepc CMD: unknown option 'FLAG' — did you mean 'NEAR'? (deepc CMD --help lists the options)"
 * (the suggestion only when cli_nearest finds one). The caller exits 2. */
void cli_unknown_flag(const char *cmd, const char *flag, const char *const *known);
/* cli_unknown_flag with the flags ("--name") that the usage function prints as the known list,
 * so that the suggestions follow the --help text without a second list. */
void cli_unknown_flag_usage(const char *cmd, const char *flag, void (*usage)(FILE *f));
/* "deepc CMD: missing WHAT (deepc CMD --help shows the usage)" on stderr; returns 2. */
int cli_missing(const char *cmd, const char *what);

/* --set NAME=VALUE: values for the spec's $NAME variables (dc_spec_define). */
#define CLI_MAX_SETS 16
typedef struct cli_sets {
    int n;
    const char *v[CLI_MAX_SETS]; /* "NAME=VALUE", pointing into argv */
} cli_sets;
/* Add one --set value after checking its NAME=VALUE form; 0, or -1 after a message. */
int cli_set_add(cli_sets *s, const char *val);
/* Define every --set variable in s (read from path); a name the spec does not use is an error.
 * 0, or -1 after a message. */
int cli_spec_set(dc_spec *s, const char *path, const cli_sets *sets);

/* One flag of a subcommand: a switch (on != NULL: set to 1) or a flag with a value (*val). */
typedef struct cli_opt {
    const char *name;
    const char **val;
    int *on;
} cli_opt;
/* Parse argv[1..argc) for subcommand cmd: the flags of opts (ended by a NULL name), --set
 * NAME=VALUE into sets (when not NULL), and up to n_pos positional arguments into pos (the
 * caller sets them to NULL first). Unknown flags go through cli_unknown_flag. Returns 0, 1 for
 * --help (the caller prints its usage), or -1 after a message on stderr. */
int cli_parse_opts(const char *cmd, int argc, char **argv, const cli_opt *opts,
                   const char **pos, int n_pos, cli_sets *sets);

/* Fashion-MNIST normalisation: mean and std of the training pixels / 255. */
#define CLI_FMNIST_MEAN 0.2860f
#define CLI_FMNIST_STD 0.3530f

/* --data: fashion-mnist[:DIR] (train or test split), digits[:FILE], npy:X.npy,Y.npy. */
dc_dataset *cli_load_data(const char *spec, int train);

/* Parse and build a model spec; on failure print the message and return NULL. The spec is
 * returned through *spec_out when not NULL (caller frees). */
dc_model *cli_load_model(const char *path, dc_rng *rng, dc_spec **spec_out);
/* cli_load_model with the --set variables defined before the build. */
dc_model *cli_load_model_set(const char *path, const cli_sets *sets, dc_rng *rng,
                             dc_spec **spec_out);
/* Load weights strictly (or partially) and print the report on failure. 0 or -1. */
int cli_load_weights(dc_model *m, const char *path, int partial);
/* Set by --allow-nonfinite (any command that loads weights; main.c takes it out of argv):
 * cli_load_weights then loads NaN / Inf weights instead of refusing them. */
extern int cli_allow_nonfinite;
/* Print a confusion matrix with class labels (names may be NULL). */
void cli_print_confusion(const dc_eval_result *r, const char *(*name)(int));

#endif
