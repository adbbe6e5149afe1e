/*
 * form_cmudict.c - deepc train MODEL --data cmudict:PATH: grapheme-to-phoneme on the CMU
 * pronouncing dictionary (docs/g2p.md). The dictionary's fixed split (DC_G2P_SPLIT_SEED) gives
 * the training and validation pairs; dc_task_seq2seq trains with teacher forcing. deepc eval
 * --data cmudict:PATH gives the test words' WER and PER with beam 5 (deepc g2p has the options).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct g2p_data {
    dc_cmudict d;
    dc_seq_pairs tr, va;
} g2p_data;

static int g2p_load(cli_run *r)
{
    const train_args *a = r->a;
    g2p_data *g = calloc(1, sizeof *g);
    if (!g)
        dc_err(DC_ERR_NOMEM, "out of memory");
    if (!g || dc_g2p_open(a->data + 8, DC_G2P_SPLIT_SEED, &g->d, &g->tr, &g->va) != DC_OK) {
        free(g);
        return cli_fail(2);
    }
    r->data = g;
    return 0;
}

static int g2p_prepare(cli_run *r)
{
    const g2p_data *g = r->data;
    r->n_train = g->tr.n;
    r->o.epochs = cli_run_epochs(r->a, r->n_train, r->o.batch_size);
    if (r->o.sched.kind == DC_SCHED_COSINE && !r->a->t_max_set)
        r->o.sched.t_max = r->o.epochs;
    return 0;
}

static int g2p_task(cli_run *r)
{
    const train_args *a = r->a;
    const g2p_data *g = r->data;
    if (!(r->task = dc_task_seq2seq(&g->tr, &g->va, &r->o)))
        return cli_fail(2);
    cli_banner(r, a->data + 8, "%lld words (%lld train, %lld validation, %lld test), %lld "
               "training pairs, %lld validation pairs", (long long)g->d.n_words,
               (long long)dc_cmudict_count(&g->d, DC_SPLIT_TRAIN),
               (long long)dc_cmudict_count(&g->d, DC_SPLIT_VAL),
               (long long)dc_cmudict_count(&g->d, DC_SPLIT_TEST), (long long)g->tr.n,
               (long long)g->va.n);
    return 0;
}

static int g2p_report(cli_run *r)
{
    const dc_task_eval *v = &r->last;
    if (r->a->json) {
        printf("{\"steps\": %lld, \"pairs_per_s\": %.6g", (long long)v->steps, v->units_per_s);
        if (v->has)
            printf(", \"val_loss\": %.6g, \"val_token_acc\": %.6g", v->loss, v->metric);
        printf("}\n");
        return 0;
    }
    char extra[96];
    snprintf(extra, sizeof extra, ", %lld steps, %.0f pairs/s", (long long)v->steps,
             v->units_per_s);
    cli_print_time(r, extra);
    if (v->has)
        printf("validation: loss %.4f nats/phone, token accuracy %.4f\n", v->loss, v->metric);
    cli_print_outputs(r, " (test WER/PER: deepc eval DIR/model.spec --weights "
                         "DIR/model.safetensors --data cmudict:PATH)");
    return 0;
}

static void g2p_free(cli_run *r)
{
    g2p_data *g = r->data;
    if (g) {
        dc_seq_pairs_free(&g->tr);
        dc_seq_pairs_free(&g->va);
        dc_cmudict_free(&g->d);
    }
    free(g);
}

/* deepc eval --data cmudict:PATH: the test words with beam 5 and the KV cache where it applies. */
static int g2p_eval(dc_model *m, const char *data, dc_loss_kind loss)
{
    (void)loss;
    dc_beam_opts o = dc_beam_defaults();
    o.beam = 5;
    return cli_g2p_score(&m, 1, data + 8, "test", &o, 1, 0);
}

const cli_data_form cli_form_cmudict = {
    .what = "cmudict",
    .refuse = CLI_NO_BPTT | CLI_NO_AUGMENT | CLI_NO_VAL | CLI_NO_EARLY_STOP | CLI_NO_TEXTCLS,
    .load = g2p_load,
    .prepare = g2p_prepare,
    .task = g2p_task,
    .report = g2p_report,
    .free = g2p_free,
    .eval = g2p_eval,
};
