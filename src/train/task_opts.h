/*
 * task_opts.h - checks of dc_train_opts shared by the task constructors (src/train/task_*.c).
 */
#ifndef DC_TRAIN_TASK_OPTS_H
#define DC_TRAIN_TASK_OPTS_H

#include "core/internal.h"

/* Label smoothing is for the cross-entropy of classification and seq2seq tasks: a task whose
 * loss has no smoothing refuses it rather than ignoring it. DC_OK when o asks for none. */
static inline dc_status dc_task_refuse_label_smoothing(const dc_train_opts *o, const char *task)
{
    if (!o || o->label_smoothing == 0.0f)
        return DC_OK;
    return dc_err(DC_ERR_ARG, "%s: label smoothing (%g) applies to classification and "
                  "sequence-to-sequence training, not to this task", task,
                  (double)o->label_smoothing);
}

/* The smoothing asked for must be in [0, 1) (1 would ignore the targets); a task whose loss is
 * o->loss (uses_o_loss) needs the cross-entropy for it. */
static inline dc_status dc_task_check_label_smoothing(const dc_train_opts *o, const char *task,
                                                      int uses_o_loss)
{
    if (o && !(o->label_smoothing >= 0.0f && o->label_smoothing < 1.0f))
        return dc_err(DC_ERR_ARG, "%s: label smoothing must be in [0, 1), got %g", task,
                      (double)o->label_smoothing);
    if (o && uses_o_loss && o->label_smoothing != 0.0f && o->loss != DC_LOSS_CROSS_ENTROPY)
        return dc_err(DC_ERR_ARG, "%s: label smoothing needs the cross_entropy loss", task);
    return DC_OK;
}

/* The training loss of o->loss on the model's output: cross-entropy with o->label_smoothing when
 * set (the validation loss stays dc_loss's plain one). */
dc_tensor *dc_task_train_loss(dc_ctx *ctx, const dc_train_opts *o, dc_tensor *out, dc_tensor *y);

#endif
