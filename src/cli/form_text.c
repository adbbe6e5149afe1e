/*
 * form_text.c - deepc train --data text:PATH: a character language model trained with truncated
 * BPTT (dc_task_lm on the trainer): $vocab is the text's vocabulary size, DIR/vocab.txt is saved
 * next to the weights for `deepc generate`, the last 10% of the text validates.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "train/lm_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct text_data {
    dc_corpus c;
    size_t n_train;
} text_data;

static int text_load(cli_run *r)
{
    const train_args *a = r->a;
    text_data *t = calloc(1, sizeof *t);
    if (!t)
        dc_err(DC_ERR_NOMEM, "out of memory");
    if (!t || dc_corpus_load(a->data + 5, &t->c) != DC_OK) {
        free(t);
        return cli_fail(2);
    }
    r->data = t;
    r->o.bptt = a->bptt > 0 ? a->bptt : 64;
    if (dc_corpus_split(&t->c, a->val, &t->n_train) == DC_OK)
        return 0;
    dc_err_prefix("%s: ", a->data + 5);
    return cli_fail(2);
}

static int text_define(cli_run *r, dc_spec *spec)
{
    return cli_define_i64(spec, "vocab", ((const text_data *)r->data)->c.v.n);
}

static int text_task(cli_run *r)
{
    text_data *t = r->data;
    dc_corpus *c = &t->c;
    if (r->a->save_every && dc_model_context(r->m, NULL) == 0) { /* a recurrent model */
        fprintf(stderr, "deepc train: --save-every does not apply to a recurrent model on text "
                "(it checkpoints at the end of every epoch: the carried state is not stored)\n");
        return 2;
    }
    if (r->a->out && dc_dist_rank() == 0 && dc_corpus_save_vocab(c, r->a->out) != DC_OK)
        return cli_fail(2); /* DIR/vocab.txt, which `deepc generate` needs */
    if (!(r->task = dc_task_lm(c->ids, (int64_t)t->n_train, c->ids + t->n_train,
                               (int64_t)(c->n - t->n_train), &r->o)))
        return cli_fail(2);
    dc_corpus_free(c); /* the task holds its copies (the stream's 1 byte an id): 9 bytes a char */
    cli_banner(r, r->a->data + 5, "%zu characters for training, %zu for validation, vocabulary "
               "%d, %lld-step BPTT chunks", t->n_train, c->n - t->n_train, c->v.n,
               (long long)r->o.bptt);
    return 0;
}

/* After training: the validation figures and a sample (one JSON object with --json). */
static int text_report(cli_run *r)
{
    const train_args *a = r->a;
    const text_data *t = r->data;
    const dc_task_eval *v = &r->last;
    const int has_val = t->c.n > t->n_train && v->has;
    if (a->json) {
        printf("{\"steps\": %lld, \"tokens_per_s\": %.6g", (long long)v->steps, v->units_per_s);
        if (has_val)
            printf(", \"val_loss\": %.6g, \"val_bits_per_char\": %.6g", v->loss,
                   v->loss / log(2.0));
        printf("}\n");
        return 0;
    }
    char extra[96];
    snprintf(extra, sizeof extra, ", %lld steps, %.0f tokens/s", (long long)v->steps,
             v->units_per_s);
    cli_print_time(r, extra);
    if (has_val)
        printf("validation: loss %.4f nats/char, %.4f bits/char\n", v->loss, v->loss / log(2.0));
    if (!a->quiet) {
        printf("sample (temperature 0.8):\n");
        dc_rng srng;
        dc_rng_seed(&srng, (uint64_t)a->seed, 7);
        if (dc_lm_generate(r->m, &t->c.v, "", 200, 0.8f, 0, 1.0f, &srng, stdout, 1) != DC_OK)
            fprintf(stderr, "deepc train: sample: %s\n", dc_last_error());
    }
    char files[2200];
    snprintf(files, sizeof files, " (spec %.1000s/model.spec, vocabulary %.1000s/vocab.txt)",
             a->out ? a->out : "", a->out ? a->out : "");
    cli_print_outputs(r, files);
    return 0;
}

static void text_free(cli_run *r)
{
    text_data *t = r->data;
    if (t)
        dc_corpus_free(&t->c);
    free(t);
}

const cli_data_form cli_form_text = {
    .what = "text",
    .refuse = CLI_NO_AUGMENT | CLI_NO_EARLY_STOP | CLI_NO_TEXTCLS, /* --save-every: text_task */
    .load = text_load,
    .define = text_define,
    .task = text_task,
    .report = text_report,
    .free = text_free,
};
