/*
 * cli.h - the subcommands of the deepc CLI and their shared helpers.
 * Exit codes: 0 success, 1 a failure while running (a check failed, training diverged),
 * 2 bad usage or bad input (unknown flag, malformed file, shape mismatch).
 */
#ifndef DC_CLI_H
#define DC_CLI_H

#include "deepc.h"
#include "check/gradcheck.h"
#include "core/internal.h"
#include "data/data_spec.h"
#include "optim/hparams.h"

#include <stdio.h>

int cmd_gradcheck(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_show_attention(int argc, char **argv); /* cmd_attn.c: argv[0] = "attention" */
int cmd_generate(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_average(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_tokenize(int argc, char **argv); /* cmd_tokenize.c */
int cmd_g2p(int argc, char **argv);      /* cmd_g2p.c */
int cmd_fill_mask(int argc, char **argv); /* cmd_fillmask.c */

/* deepc train's options, shared by every --data form (form_images.c, form_text.c,
 * form_series.c: forms.def). */
typedef struct train_args {
    const char *model, *data, *out, *optimizer, *scheduler, *loss, *augment;
    const char *init;   /* --init W.safetensors: start from these weights (strict) */
    const char *resume; /* --resume DIR: continue DIR/checkpoint */
    float clip;
    float time_limit; /* --time-limit S: stop at a step boundary after S seconds (0: none) */
    int time_limit_cpu; /* --cpu-time-limit S: the same in CPU time */
    float label_smoothing; /* --label-smoothing E (0: none) */
    int epochs, threads, quiet, epochs_set, no_shuffle, json;
    int check_numerics, sync_bn;
    int64_t batch, val, max_steps, seed;
    int64_t bptt; /* text: time steps per truncated-BPTT chunk (0: the default) */
    int64_t save_every; /* --save-every N: a checkpoint every N steps too (0: per epoch only) */
    int64_t log_every;  /* --log-every N: a log.csv row every N steps (0: per epoch only) */
    int64_t early_stop; /* --early-stop N: forecasting stops after N epochs without a better
                         * validation score (0: never) */
    const char *vocab, *init_from; /* text classification: --vocab, --init-from (form_textcls) */
    int64_t max_len;               /* --max-len (0: the model input's) */
    /* The optimizer and scheduler flags (PyTorch's names, optim/hparams.h's table): the values
     * given, and which were given. */
    dc_hparams hp;
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
    const struct dc_resume *stored; /* the stored command line (train/resume.h) */
} train_resume;
/* A resumed run keeps its schedule: a cosine T_max or a linear warm-up and length that the new
 * flags would change is refused. n_train: training examples (0: epochs are --epochs as given).
 * 0, or -1 after a message. */
int cli_check_resume_sched(const train_resume *rs, const dc_train_opts *o, int64_t n_train);
/* Epochs of the run: --epochs, or with --steps alone as many as those steps take. */
int cli_run_epochs(const train_args *a, int64_t n_train, int64_t batch);
/* --quiet: point stdout at /dev/null, so that a successful command prints nothing (errors still
 * go to stderr). 0, or -1 after a message. */
int cli_quiet_stdout(void);

/* ---- the --data forms of deepc train (and eval) ----
 * Each form of --data (text:FILE, csv:..., images and tensors, ...) is a cli_data_form in its own
 * file and one line of forms.def; cli_train_form runs every form through the same steps:
 *   the flags the form refuses (.refuse) -> load (the data) -> the model (rebuilt from the
 *   checkpoint when resuming, else MODEL with the form's spec variables defined) -> prepare
 *   (check the model against the data, the data-dependent options) -> the run's folder,
 *   model.spec and --init -> task (make the dc_task, write the form's own files, say what is
 *   trained) -> dc_train_task with signals -> report. docs/design.md, "Adding a --data form". */
typedef struct cli_run {
    const train_args *a;
    dc_train_opts o;        /* the run's options (a form may change them in load/prepare) */
    const train_resume *rs; /* NULL: a fresh run */
    void *data;             /* the form's loaded data, freed by its free */
    dc_spec *spec;
    dc_model *m;
    dc_task *task;          /* made by the form's task step; freed by the driver */
    dc_task_eval last;      /* the last validation, after the run */
    int64_t n_train;        /* training examples (set by prepare; 0: epochs as given) */
    double secs;            /* training time */
} cli_run;

/* The train flags a form may refuse (cli_data_form.refuse): the driver refuses them, naming
 * the form's data, before load. */
enum {
    CLI_NO_AUGMENT = 1, CLI_NO_BPTT = 2, CLI_NO_EARLY_STOP = 4, CLI_NO_SAVE_EVERY = 8,
    CLI_NO_VAL = 16, CLI_NO_VOCAB = 32, CLI_NO_MAX_LEN = 64, CLI_NO_INIT_FROM = 128,
    CLI_NO_TEXTCLS = CLI_NO_VOCAB | CLI_NO_MAX_LEN | CLI_NO_INIT_FROM, /* text classification's */
};

typedef struct cli_data_form {
    /* What the data is, for messages ("text", "time-series data"), and the flags that do not
     * apply to it (CLI_NO_*). */
    const char *what;
    unsigned refuse;
    /* --data into r->data; adjust the options (r->o). 0, or an exit code after a message. */
    int (*load)(cli_run *r);
    /* The spec variables the data gives ($vocab, ...): dc_spec_define calls before the build.
     * 0, or -1 with dc_last_error() set. NULL: none. */
    int (*define)(cli_run *r, dc_spec *spec);
    /* The model against the data, the options that depend on both (validation size, epochs).
     * 0, or an exit code after a message. NULL: nothing to check. */
    int (*prepare)(cli_run *r);
    /* r->task for the trainer; the form's own files in a->out; the line that says what is
     * trained (none with --json). 0, or an exit code after a message. */
    int (*task)(cli_run *r);
    /* After a successful run: results on stdout (one JSON object with --json). Exit code.
     * NULL: cli_report_default (time, validation loss, where the files are). */
    int (*report)(cli_run *r);
    /* Free r->data. NULL: free(r->data). */
    void (*free)(cli_run *r);
    /* deepc eval of weights on this form's data (its test split where there is one): prints
     * the results; the exit code. NULL: deepc eval does not take the form. */
    int (*eval)(dc_model *m, const char *data, dc_loss_kind loss);
} cli_data_form;

/* The form that --data names: the first line of forms.def whose prefix matches ("text:"
 * matches "text:FILE"; a prefix without ':' matches itself and "NAME:..."; "" anything). */
const cli_data_form *cli_data_form_find(const char *data);
/* Train on one form (the steps above); the exit code. */
int cli_train_form(const cli_data_form *f, const train_args *a, const dc_train_opts *o,
                   const train_resume *rs, const char *args_text);
/* "training", or "resuming" after --resume: the first word of a form's banner line. */
const char *cli_run_verb(const cli_run *r);
/* The banner line of a form's task step (not with --json): "training MODEL on DATA: " + fmt +
 * ", N parameters, OPTIMIZER lr X, batch B, T threads". */
void cli_banner(const cli_run *r, const char *data, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "deepc train: " + dc_last_error() on stderr; returns rc (`return cli_fail(2);`). */
int cli_fail(int rc);
/* dc_spec_define(spec, name, the decimal v): a form's define step. 0, or -1. */
int cli_define_i64(dc_spec *spec, const char *name, int64_t v);
/* The report of a form without its own: the training time, the last validation loss (one JSON
 * object {"steps", "val_loss"} with --json) and where the files are. 0. */
int cli_report_default(cli_run *r);
/* "training time Ns" + extra, and the ranks' communication time under MPI (not with --json). */
void cli_print_time(const cli_run *r, const char *extra);
/* "weights: DIR/model.safetensors" + extra ", checkpoint: ..., log: ..." after a run with --out
 * (not with --json). */
void cli_print_outputs(const cli_run *r, const char *extra);
/* deepc g2p and deepc eval --data cmudict:PATH (cmd_g2p.c): WER and PER of the models ms (one,
 * or an ensemble) on a split ("train", "val", "test") of the dictionary at path; prints them.
 * Exit code. */
int cli_g2p_score(dc_model *const *ms, int n_models, const char *path, const char *split,
                  const dc_beam_opts *o, int kv_cache, int64_t limit);
/* Text classification (form_textcls.c): whether --data (with --vocab) names it (csv: is the
 * time-series form without --vocab); deepc eval when argv's --data does; deepc predict --text
 * (all in form_textcls.c). */
int cli_is_textcls(const char *data, const char *vocab);
int cli_argv_textcls(int argc, char **argv);
int cmd_eval_textcls(int argc, char **argv);
int cmd_predict_text(int argc, char **argv);
#define CLI_FORM(name, prefix) extern const cli_data_form name;
#include "forms.def"
#undef CLI_FORM

/* Monotonic seconds. */
double cli_now_s(void);

/* Strict value parsing: 0 on success, -1 after printing "deepc: FLAG: ..." to stderr. */
int arg_i64(const char *flag, const char *val, int64_t lo, int64_t hi, int64_t *out);
int arg_int(const char *flag, const char *val, int lo, int hi, int *out);
int arg_float(const char *flag, const char *val, double lo, double hi, float *out);

/* The one message for an unknown flag of any subcommand, on stderr:
 * "deepc CMD: unknown option 'FLAG' — did you mean 'NEAR'? (deepc CMD --help lists the options)"
 * (the suggestion only when dc_nearest_name finds one). The caller exits 2. */
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
/* Define every --set variable in s (dc_spec_define_assign: a name the spec does not use is an
 * error). 0, or -1 after a message. */
int cli_spec_set(dc_spec *s, const cli_sets *sets);

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

/* Parse and build a model spec; on failure print the message and return NULL. The spec is
 * returned through *spec_out when not NULL (caller frees). */
dc_model *cli_load_model(const char *path, dc_rng *rng, dc_spec **spec_out);
/* cli_load_model with the --set variables defined before the build. */
dc_model *cli_load_model_set(const char *path, const cli_sets *sets, dc_rng *rng,
                             dc_spec **spec_out);
/* Load weights strictly (or partially) and print the report on failure. 0 or -1. */
int cli_load_weights(dc_model *m, const char *path, int partial);
/* cli_load_weights, then dc_model_freeze: the inference-only commands (weights packed once). */
int cli_load_frozen(dc_model *m, const char *path, int partial);
/* Set by --allow-nonfinite (any command that loads weights; main.c takes it out of argv):
 * cli_load_weights then loads NaN / Inf weights instead of refusing them. */
extern int cli_allow_nonfinite;
/* --bf16: cli_load_frozen freezes for bfloat16 products (dc_model_freeze_bf16). */
extern int cli_bf16;

#endif
