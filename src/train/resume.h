/*
 * resume.h - what `deepc train --resume DIR` needs beyond the checkpoint itself: the command line
 * stored in checkpoints (joined with 0x1f, split back), the checks that a resumed run keeps its
 * optimizer and its schedule, and the epochs of a run given in steps. Internal (train layer).
 */
#ifndef DC_TRAIN_RESUME_H
#define DC_TRAIN_RESUME_H

#include "deepc.h"

/* argv[1..argc) joined by 0x1f (what checkpoints store as args_text), without "--resume X",
 * without "--out X" when resuming (the run's folder is the resumed one, wherever it moved), and
 * without a flag that is given again later (the later one wins), so the list does not grow at
 * each resume. is_switch says which "--flags" take no value (all others take one). malloc'd
 * string, or NULL (DC_ERR_NOMEM). */
char *dc_args_join(int argc, char *const *argv, int resuming, int (*is_switch)(const char *));

/* A run being resumed: its checkpoint's header and the command line to parse. */
typedef struct dc_resume {
    dc_checkpoint_info ck; /* spec text, stored args (split in place), epoch */
    const char *dir;       /* DIR */
    char *path;            /* DIR/checkpoint (owned) */
    char **av;             /* argv[0], the stored arguments, then argv[1..argc) (owned array) */
    int ac, n_stored;      /* entries of av; how many of them are stored ones */
} dc_resume;
/* Peek DIR/checkpoint and build r->av. A different --optimizer than the stored one is refused
 * (the optimizer state in the checkpoint cannot continue another optimizer). DC_OK, or the
 * error with a message starting "--resume". dc_resume_free in every case. */
dc_status dc_resume_open(dc_resume *r, const char *dir, int argc, char *const *argv);
void dc_resume_free(dc_resume *r);

/* The epochs of a run: epochs, or when only max_steps was given (epochs_set 0) as many epochs
 * as max_steps steps of batch take over n_train examples (at most DC_TRAIN_MAX_EPOCHS). */
int dc_run_epochs(int epochs, int epochs_set, int64_t max_steps, int64_t n_train, int64_t batch);

/* The schedule of the stored run (its parsed flags). */
typedef struct dc_stored_sched {
    int epochs, epochs_set, t_max_set;
    int64_t max_steps, batch;
    int64_t warmup_steps, total_steps; /* linear */
} dc_stored_sched;
/* A resumed run keeps its schedule: a cosine T_max that follows --epochs, or a linear warm-up
 * and length, that o (the resumed run's options) would change is refused with DC_ERR_ARG and a
 * message that says how to train on instead. n_train: training examples (0: epochs as given);
 * ck_epoch: the checkpoint's epoch; dir: the run's folder (for the message). */
dc_status dc_resume_check_sched(const dc_stored_sched *was, const dc_train_opts *o,
                                int64_t n_train, int64_t ck_epoch, const char *dir);

/* The folder of a run (deepc train --out DIR): DIR and the folders above it made, and the
 * model's spec (all keys explicit after the build) written to DIR/model.spec (rank 0 only).
 * dir NULL: nothing. DC_ERR_IO naming what could not be made or written; DC_ERR_NOMEM. */
dc_status dc_run_dir_prepare(const char *dir, const dc_spec *spec);

#endif
