/*
 * hparams.h - the optimizer and scheduler hyper-parameters by their PyTorch names, as flags
 * ("--lr-decay" for lr_decay): one table (hparams.c) with each one's field, range, kinds and
 * help, read by `deepc train`'s parser and usage text. Internal: the CLI and the tests use it.
 */
#ifndef DC_OPTIM_HPARAMS_H
#define DC_OPTIM_HPARAMS_H

#include "deepc.h"

#include <stdio.h>

enum { DC_HP_OPTIM, DC_HP_SCHED }; /* the side of a hyper-parameter */

/* The values given by name, and which were given (bit i: entry i of the table). */
typedef struct dc_hparams {
    dc_optim_cfg opt;
    dc_sched_cfg sched;
    uint64_t given;
} dc_hparams;

/* The table entry of flag ("--lr"), or -1; whether entry i is a switch (--nesterov); whether
 * flag was given in h. */
int dc_hparam_find(const char *flag);
int dc_hparam_is_switch(int i);
int dc_hparam_given(const dc_hparams *h, const char *flag);

/* Parse v (NULL: none followed) for entry i into h and mark it given; *takes: 0 for a switch.
 * DC_OK, or DC_ERR_ARG "FLAG: 'v' is not a number in [lo, hi]" and the like. */
dc_status dc_hparam_parse(dc_hparams *h, int i, const char *v, int *takes);

/* Copy the given values of one side (DC_HP_OPTIM / DC_HP_SCHED) into oc / sc for kind k (a
 * dc_optim_kind or dc_sched_kind). DC_OK, or DC_ERR_ARG when a given flag is not one of k's
 * (naming the kinds that take it). */
dc_status dc_hparams_apply(const dc_hparams *h, int side, int k, dc_optim_cfg *oc,
                           dc_sched_cfg *sc);

/* The usage lines: every flag with its help and PyTorch name, then each optimizer's and each
 * scheduler's flags with their defaults. */
void dc_hparams_usage(FILE *f);

#endif
