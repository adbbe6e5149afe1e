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

/* Validation: the last 10% of the text unless --val N (symbols) says otherwise. 0 or -1. */
static int text_split(const train_args *a, text_data *t)
{
    const size_t n = t->c.n;
    t->n_train = n;
    if (a->val >= 0 && (size_t)a->val < n) {
        t->n_train = n - (size_t)a->val;
        return 0;
    }
    if (a->val < 0 && dc_text_split(n, 0.1, &t->n_train) == DC_OK)
        return 0;
    if (a->val >= 0)
        fprintf(stderr, "deepc train: --val %lld: the text has only %zu characters\n",
                (long long)a->val, n);
    else
        fprintf(stderr, "deepc train: %s: %s\n", a->data + 5, dc_last_error());
    return -1;
}

static int text_load(cli_run *r)
{
    const train_args *a = r->a;
    const char *bad = a->augment ? "--augment" : a->save_every ? "--save-every"
                      : a->early_stop ? "--early-stop" : NULL;
    if (bad) { /* a text run checkpoints at epoch ends only */
        fprintf(stderr, "deepc train: %s does not apply to text (%s)\n", bad, a->augment
                ? "it shifts images" : a->save_every ? "a text run checkpoints at the end of "
                "every epoch: the carried RNN state is not stored" : "it stops forecasting");
        return 2;
    }
    text_data *t = calloc(1, sizeof *t);
    if (!t || dc_corpus_load(a->data + 5, &t->c) != DC_OK) {
        fprintf(stderr, "deepc train: %s\n", t ? dc_last_error() : "out of memory");
        free(t);
        return 2;
    }
    r->data = t;
    r->o.bptt = a->bptt > 0 ? a->bptt : 64;
    return text_split(a, t) ? 2 : 0;
}

static int text_define(cli_run *r, dc_spec *spec)
{
    const text_data *t = r->data;
    char num[16];
    snprintf(num, sizeof num, "%d", t->c.v.n);
    return dc_spec_define(spec, "vocab", num) < 0 ? -1 : 0;
}

/* DIR/vocab.txt, which `deepc generate` needs (rank 0). 0, or -1 after a message. */
static int save_vocab(const dc_vocab *v, const char *dir)
{
    if (!dir || dc_dist_rank() != 0)
        return 0;
    char *p = malloc(strlen(dir) + sizeof "/vocab.txt");
    int bad = !p;
    if (p) {
        sprintf(p, "%s/vocab.txt", dir);
        bad = dc_vocab_save(v, p) != DC_OK;
    }
    if (bad)
        fprintf(stderr, "deepc train: %s\n", p ? dc_last_error() : "out of memory");
    free(p);
    return bad ? -1 : 0;
}

static int text_task(cli_run *r)
{
    const train_args *a = r->a;
    const text_data *t = r->data;
    const dc_corpus *c = &t->c;
    if (save_vocab(&c->v, a->out))
        return 2;
    if (!(r->task = dc_task_lm(c->ids, (int64_t)t->n_train, c->ids + t->n_train,
                               (int64_t)(c->n - t->n_train), &r->o))) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return 2;
    }
    if (!a->json)
        printf("%s %s on %s: %zu characters for training, %zu for validation, vocabulary %d, "
               "%lld parameters, %s lr %g, %lld streams x %lld steps, %d threads\n",
               cli_run_verb(r), a->model, a->data + 5, t->n_train, c->n - t->n_train, c->v.n,
               (long long)dc_model_n_trainable(r->m), dc_optim_kind_name(r->o.optim.kind),
               (double)r->o.optim.lr, (long long)r->o.batch_size, (long long)r->o.bptt,
               dc_get_num_threads());
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
        if (dc_lm_generate(r->m, &t->c.v, "", 200, 0.8f, 0, &srng, stdout, 1) != DC_OK)
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
    .load = text_load,
    .define = text_define,
    .task = text_task,
    .report = text_report,
    .free = text_free,
};
