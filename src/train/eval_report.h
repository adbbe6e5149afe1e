/*
 * eval_report.h - the confusion matrix and a few predictions of a classifier, as `deepc train`
 * and `deepc eval` print them (eval_report.c). Internal: the CLI and the tests use it.
 */
#ifndef DC_TRAIN_EVAL_REPORT_H
#define DC_TRAIN_EVAL_REPORT_H

#include "deepc.h"

#include <stdio.h>

/* The confusion matrix of r to f (rows: true class, columns: predicted), each row labelled by
 * name(i) when name is not NULL; nothing for more than 100 classes or without a matrix. */
void dc_print_confusion(FILE *f, const dc_eval_result *r, const char *(*name)(int));

/* What m (eval mode) says about the first n <= 16 examples of d: true and predicted class, the
 * probability, ok or WRONG, a line each to f. Nothing when the batch or forward fails. */
void dc_print_predictions(FILE *f, dc_model *m, const dc_dataset *d, int n,
                          const char *(*name)(int));

#endif
