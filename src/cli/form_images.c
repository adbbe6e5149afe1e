/*
 * form_images.c - deepc train and eval on image and tensor data (--data fashion-mnist[:DIR],
 * idx:DIR[,MEAN,STD], digits[:FILE], npy:X.npy,Y.npy: dc_dataset_open): the trainer's dataset
 * task (classification or regression), validation held out of the training split, and after
 * training the test split with its confusion matrix where the data has one (Fashion-MNIST).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "train/eval_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int images_load(cli_run *r)
{
    return (r->data = dc_dataset_open(r->a->data, 1)) ? 0 : cli_fail(2);
}

/* The options that depend on the data: validation, epochs from --steps. */
static int images_prepare(cli_run *r)
{
    const train_args *a = r->a;
    const dc_dataset *d = r->data;
    dc_train_opts *o = &r->o;
    o->val_size = a->val >= 0 ? a->val : dc_dataset_default_val(a->data, d->n);
    if (o->val_size >= d->n) {
        fprintf(stderr, "deepc train: --val %lld: the data has only %lld examples, and training "
                "needs at least one (give a smaller --val)\n", (long long)o->val_size,
                (long long)d->n);
        return 2;
    }
    r->n_train = d->n - o->val_size;
    o->epochs = cli_run_epochs(a, r->n_train, o->batch_size);
    if (o->sched.kind == DC_SCHED_COSINE && !a->t_max_set)
        o->sched.t_max = o->epochs;
    return 0;
}

static int images_task(cli_run *r)
{
    if (!(r->task = dc_task_dataset(r->data, &r->o)))
        return cli_fail(2);
    cli_banner(r, r->a->data, "%lld examples for training, %lld for validation%s, gemm %s",
               (long long)r->n_train, (long long)r->o.val_size,
               r->a->val >= 0 ? "" : " (--val)", dc_gemm_backend());
    return 0;
}

/* After training: the test split (Fashion-MNIST) and where the files are; without a test
 * split (digits, .npy) the validation figures (one JSON object with --json either way). */
static int images_report(cli_run *r)
{
    const train_args *a = r->a;
    int rc = 0;
    dc_dataset *test = dc_dataset_open_test(a->data);
    if (!test)
        return cli_report_default(r);
    cli_print_time(r, NULL);
    dc_eval_result e;
    if (dc_evaluate(r->m, test, NULL, 0, 256, r->o.loss, &e) != DC_OK) {
        fprintf(stderr, "deepc train: test: %s\n", dc_last_error());
        rc = 1;
    } else if (a->json) {
        printf("{\"steps\": %lld, ", (long long)r->last.steps);
        if (r->last.has)
            printf("\"val_loss\": %.6g, ", r->last.loss);
        printf("\"test_loss\": %.6g, \"test_acc\": %.6g, \"n\": %lld}\n", e.loss,
               e.accuracy, (long long)e.n);
    } else {
        printf("test: loss %.4f  accuracy %.4f (%lld/%lld)\n", e.loss, e.accuracy,
               (long long)e.correct, (long long)e.n);
        dc_print_confusion(stdout, &e, dc_fashion_mnist_class);
        if (!a->quiet)
            dc_print_predictions(stdout, r->m, test, 8, dc_fashion_mnist_class);
    }
    dc_eval_result_free(&e);
    dc_dataset_free(test);
    cli_print_outputs(r, NULL);
    return rc;
}

static void images_free(cli_run *r)
{
    dc_dataset_free(r->data);
}

/* deepc eval: loss, accuracy and the confusion matrix on the test split. */
static int images_eval(dc_model *m, const char *data, dc_loss_kind loss)
{
    dc_dataset *d = dc_dataset_open(data, 0);
    dc_eval_result e;
    if (!d || dc_evaluate(m, d, NULL, 0, 256, loss, &e) != DC_OK) {
        fprintf(stderr, "deepc eval: %s\n", dc_last_error());
        dc_dataset_free(d);
        return 2;
    }
    printf("loss %.4f  accuracy %.4f (%lld/%lld)\n", e.loss, e.accuracy, (long long)e.correct,
           (long long)e.n);
    dc_print_confusion(stdout, &e, dc_dataset_class_names(data));
    dc_eval_result_free(&e);
    dc_dataset_free(d);
    return 0;
}

const cli_data_form cli_form_images = {
    .refuse = CLI_NO_BPTT | CLI_NO_EARLY_STOP | CLI_NO_TEXTCLS,
    .load = images_load,
    .prepare = images_prepare,
    .task = images_task,
    .report = images_report,
    .free = images_free,
    .eval = images_eval,
};
