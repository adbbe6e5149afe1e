/*
 * form_bert.c - deepc train --data bert:fortunes=PATH,spam=DIR,vocab=FILE[,KEY=VALUE...]: BERT
 * pre-training (masked LM + next sentence, dc_task_bert; docs/bert.md). Keys besides the
 * sources: vocab (required), max_len (128), epoch_pairs (0: all), val_pairs (1024), val_docs
 * (0.05: the held-out share of documents). $vocab is the vocabulary's size; DIR/vocab.txt is
 * saved next to the weights for `deepc fill-mask`.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdlib.h>
#include <string.h>

typedef struct bert_form {
    dc_bert_data *d;
    dc_bert_task_opts bo;
} bert_form;

static int bert_load(cli_run *r)
{
    const train_args *a = r->a;
    bert_form *f = calloc(1, sizeof *f);
    if (f)
        f->bo = dc_bert_task_defaults();
    if (!f || !(f->d = dc_bert_data_open(a->data + 5, (uint64_t)a->seed, &f->bo)))
        fprintf(stderr, "deepc train: %s\n", f ? dc_last_error() : "out of memory");
    r->data = f;
    r->n_train = f && f->d && f->bo.epoch_pairs > 0 ? f->bo.epoch_pairs : 0;
    return f && f->d ? 0 : 2;
}

static int bert_define(cli_run *r, dc_spec *spec)
{
    return cli_define_i64(spec, "vocab", dc_wordpiece_size(((const bert_form *)r->data)->d->wp));
}

static int bert_task(cli_run *r)
{
    const train_args *a = r->a;
    bert_form *f = r->data;
    char path[1100];
    snprintf(path, sizeof path, "%.1000s/vocab.txt", a->out ? a->out : ".");
    if ((a->out && dc_dist_rank() == 0 && dc_wordpiece_save(f->d->wp, path) != DC_OK) ||
        !(r->task = dc_task_bert(f->d->train, f->d->val, &f->bo, &r->o))) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return 2;
    }
    if (!a->json)
        printf("%s %s on %lld documents (%lld held out): %lld sentences, %lld tokens, vocabulary "
               "%lld, max_len %lld, %lld parameters, %s lr %g, batch %lld, %d epochs\n",
               cli_run_verb(r), a->model, (long long)f->d->n_docs, (long long)f->d->n_val_docs,
               (long long)f->d->train->n_sents, (long long)f->d->train->n_ids,
               (long long)dc_wordpiece_size(f->d->wp), (long long)f->bo.data.max_len,
               (long long)dc_model_n_trainable(r->m), dc_optim_kind_name(r->o.optim.kind),
               (double)r->o.optim.lr, (long long)r->o.batch_size, r->o.epochs);
    return 0;
}

static int bert_report(cli_run *r)
{
    const dc_task_eval *v = &r->last;
    if (r->a->json)
        return 0; /* the epoch lines carried every figure */
    char extra[96];
    snprintf(extra, sizeof extra, ", %lld steps, %.0f tokens/s", (long long)v->steps,
             v->units_per_s);
    cli_print_time(r, extra);
    if (v->has)
        printf("held out: MLM accuracy %.4f, NSP accuracy %.4f (loss %.4f)\n",
               v->extra_metrics[2], v->extra_metrics[3], v->loss);
    char files[1100];
    snprintf(files, sizeof files, ", vocabulary: %.1000s/vocab.txt", r->a->out ? r->a->out : "");
    cli_print_outputs(r, files);
    return 0;
}

static void bert_free(cli_run *r)
{
    bert_form *f = r->data;
    if (f)
        dc_bert_data_free(f->d);
    free(f);
}

const cli_data_form cli_form_bert = {
    .what = "bert", /* val_pairs=N and val_docs=F in --data say what validates */
    .refuse = CLI_NO_AUGMENT | CLI_NO_BPTT | CLI_NO_EARLY_STOP | CLI_NO_VAL | CLI_NO_TEXTCLS,
    .load = bert_load,
    .define = bert_define,
    .task = bert_task,
    .report = bert_report,
    .free = bert_free,
};
