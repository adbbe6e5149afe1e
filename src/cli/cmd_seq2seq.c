/*
 * cmd_seq2seq.c - deepc train MODEL --data cmudict:PATH: grapheme-to-phoneme on the CMU
 * pronouncing dictionary (docs/g2p.md). The dictionary's fixed split (seed 1) gives the training
 * and validation pairs; dc_task_seq2seq trains with teacher forcing on the trainer's one loop
 * (log.csv, checkpoints, --resume).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_train_cmudict(const train_args *a, const dc_train_opts *o0, const train_resume *rs,
                      const char *args_text)
{
    dc_train_opts o = *o0;
    const char *path = a->data + strlen("cmudict:");
    dc_cmudict d;
    dc_seq_pairs tr = {0}, va = {0};
    dc_spec *spec = NULL;
    dc_model *m = NULL;
    dc_task *t = NULL;
    char *spec_text = NULL;
    int rc = 2;
    if (dc_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 reports */
        return 1;
    if (a->bptt || a->augment || a->val >= 0) {
        fprintf(stderr, "deepc train: --bptt, --augment and --val do not apply to cmudict (its "
                "split is fixed: docs/g2p.md)\n");
        return 2;
    }
    if (dc_g2p_open(path, DC_G2P_SPLIT_SEED, &d, &tr, &va) != DC_OK) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        return 2;
    }
    if (a->threads)
        dc_set_num_threads(a->threads);
    dc_rng rng;
    dc_rng_seed(&rng, (uint64_t)a->seed, 0);
    m = rs ? cli_resume_model(rs, &rng, &spec) : cli_load_model(a->model, &rng, &spec);
    if (a->max_steps > 0 && !a->epochs_set) { /* --steps alone: as many epochs as they take */
        const int64_t per = (tr.n + o.batch_size - 1) / o.batch_size;
        o.epochs = (int)((a->max_steps + per - 1) / per);
    }
    if (o.sched.kind == DC_SCHED_COSINE && !a->t_max_set)
        o.sched.t_max = o.epochs;
    if (!m || (a->init && !rs && cli_load_weights(m, a->init, 0)) ||
        cli_train_prepare(a, spec, rs, args_text, &o, &spec_text))
        goto out;
    if (!(t = dc_task_seq2seq(&tr, &va, &o))) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        goto out;
    }
    printf("%s %s on %s: %lld words (%lld train, %lld validation, %lld test), %lld training "
           "pairs, %lld validation pairs, %lld parameters, %s lr %g, batch %lld, %d threads\n",
           rs ? "resuming" : "training", a->model, path, (long long)d.n_words,
           (long long)dc_cmudict_count(&d, DC_SPLIT_TRAIN),
           (long long)dc_cmudict_count(&d, DC_SPLIT_VAL),
           (long long)dc_cmudict_count(&d, DC_SPLIT_TEST), (long long)tr.n, (long long)va.n,
           (long long)dc_model_n_trainable(m), dc_optim_kind_name(o.optim.kind),
           (double)o.optim.lr, (long long)o.batch_size, dc_get_num_threads());
    dc_task_eval v;
    const double t0 = cli_now_s();
    if ((rc = cli_run_task(m, t, &o, &v)) == 0) {
        printf("training time %.1fs, %lld steps, %.0f pairs/s\n", cli_now_s() - t0,
               (long long)v.steps, v.units_per_s);
        if (v.has)
            printf("validation: loss %.4f nats/phone, token accuracy %.4f\n", v.loss, v.metric);
        if (a->out)
            printf("weights: %s/model.safetensors (spec %s/model.spec); WER/PER: deepc g2p eval "
                   "%s/model.spec --weights %s/model.safetensors --data cmudict:%s\n", a->out,
                   a->out, a->out, a->out, path);
    }
out:
    dc_task_free(t);
    free(spec_text);
    dc_model_free(m);
    dc_spec_free(spec);
    dc_seq_pairs_free(&tr);
    dc_seq_pairs_free(&va);
    dc_cmudict_free(&d);
    return rc;
}
