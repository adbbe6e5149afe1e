/*
 * cmd_text.c - the character language model on the command line:
 *   deepc train MODEL --data text:PATH ...   truncated-BPTT training (dc_task_lm on the trainer),
 *                                             the vocabulary and the resolved spec saved with the
 *                                             weights; log.csv, checkpoints, --resume
 *   deepc generate MODEL --weights W ...      sampling from the softmax, one character at a time
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Parse MODEL, give $vocab the vocabulary size, build it. */
static dc_model *load_lm(const char *path, const dc_vocab *v, dc_rng *rng, dc_spec **spec_out)
{
    char num[16];
    snprintf(num, sizeof num, "%d", v->n);
    dc_spec *s = dc_spec_parse_file(path);
    if (s && dc_spec_define(s, "vocab", num) < 0) {
        dc_spec_free(s);
        s = NULL;
    }
    dc_model *m = s ? dc_spec_build(s, rng) : NULL;
    if (!m) {
        fprintf(stderr, "deepc: %s\n", dc_last_error());
        dc_spec_free(s);
        return NULL;
    }
    *spec_out = s;
    return m;
}

/* Write len sampled characters after prime to out (prime itself first). A recurrent model
 * (dc_model_context 0) runs with carry on: the prime runs through the network once, then every
 * sampled id is fed back as a [1, 1] input. A Transformer sees the last up-to-context ids: with
 * kv_cache (and a model that can) incrementally, carry on, only the new ids fed and the cache
 * restarted from the last context-many ids when it is full; else all of them every time. */
static int generate(dc_model *m, const dc_vocab *v, const char *prime, int64_t len, float temp,
                    int top_k, dc_rng *rng, FILE *out, int kv_cache)
{
    const size_t np = strlen(prime);
    int can_kv = 0;
    const int64_t window = dc_model_context(m, &can_kv);
    const int incr = window == 0 || (kv_cache && can_kv);
    dc_ctx *ctx = dc_ctx_new(0);
    int64_t *ids = malloc((np + (window ? (size_t)len : 0) + 1) * sizeof *ids);
    int rc = -1;
    if (!ctx || !ids)
        goto done;
    if (np == 0) /* no prime: start from the vocabulary's first symbol (a newline in fortunes) */
        ids[0] = 0;
    else if (dc_vocab_encode(v, (const uint8_t *)prime, np, ids) != DC_OK)
        goto done;
    dc_ctx_set_grad(ctx, 0);
    dc_ctx_set_training(ctx, 0);
    if (window == 0)
        dc_model_set_carry(m, 1);
    else if (incr && dc_model_set_kv_cache(m, 1) != DC_OK)
        goto done;
    fwrite(prime, 1, np, out);
    int64_t n_all = np ? (int64_t)np : 1, start = 0, fed = 0; /* fed: ids in the KV cache */
    for (int64_t i = 0; i < len; i++) {
        int64_t from = n_all - 1, n_in = 1;
        if (window == 0) { /* recurrent: the prime once, then the last id */
            from = i ? n_all - 1 : 0;
            n_in = i ? 1 : n_all;
        } else if (incr) { /* the ids after the cached ones; restart when the cache is full */
            if (n_all - start > window) {
                dc_model_reset_state(m);
                start = n_all - window;
                fed = 0;
            }
            from = start + fed;
            n_in = n_all - from;
        } else { /* the last up-to-window ids */
            n_in = n_all < window ? n_all : window;
            from = n_all - n_in;
        }
        dc_tensor *x = dc_empty(ctx, DC_I64, 2, DC_SHAPE(1, n_in));
        if (!x)
            goto done;
        memcpy(x->data, ids + from, sizeof(int64_t) * (size_t)n_in);
        dc_tensor *y = dc_model_forward(ctx, m, x);
        if (y && (y->ndim != 3 || y->shape[2] != v->n)) {
            fprintf(stderr, "deepc generate: the model must give logits [1, t, %d]\n", v->n);
            rc = -2;
            goto done;
        }
        if (!y)
            goto done;
        fed += n_in;
        const float *last = dc_f32(y) + (n_in - 1) * v->n;
        int k = dc_sample_logits(last, v->n, temp, top_k, rng);
        if (k < 0)
            goto done;
        fputc(v->to_byte[k], out);
        if (window) {
            ids[n_all++] = k;
        } else {
            ids[0] = k;
            n_all = 1;
        }
        dc_ctx_reset(ctx);
    }
    fputc('\n', out);
    rc = 0;
done:
    dc_model_set_carry(m, 0);
    if (window && incr)
        dc_model_set_kv_cache(m, 0);
    if (rc == -1)
        fprintf(stderr, "deepc generate: %s\n", dc_last_error());
    free(ids);
    dc_ctx_free(ctx);
    return rc;
}

/* The text, its vocabulary and its ids. */
typedef struct corpus {
    uint8_t *text;
    size_t n;
    dc_vocab v;
    int64_t *ids;
} corpus;

static int load_corpus(const char *path, corpus *c)
{
    memset(c, 0, sizeof *c);
    if (dc_text_load(path, 0, &c->text, &c->n) != DC_OK ||
        dc_vocab_build(c->text, c->n, &c->v) != DC_OK)
        goto fail;
    if (!(c->ids = malloc(c->n * sizeof *c->ids))) {
        fprintf(stderr, "deepc train: %s: out of memory for %zu ids\n", path, c->n);
        free(c->text);
        return -1;
    }
    if (dc_vocab_encode(&c->v, c->text, c->n, c->ids) != DC_OK)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "deepc train: %s\n", dc_last_error());
    free(c->text);
    free(c->ids);
    return -1;
}

/* DIR/vocab.txt, which `deepc generate` needs (rank 0). 0, or -1 after a message. */
static int save_vocab(const dc_vocab *v, const char *dir)
{
    if (!dir || dc_dist_rank() != 0)
        return 0;
    size_t k = strlen(dir);
    char *p = malloc(k + sizeof "/vocab.txt");
    int bad = !p;
    if (p) {
        memcpy(p, dir, k);
        memcpy(p + k, "/vocab.txt", sizeof "/vocab.txt");
        bad = dc_vocab_save(v, p) != DC_OK;
    }
    if (bad)
        fprintf(stderr, "deepc train: %s\n", p ? dc_last_error() : "out of memory");
    free(p);
    return bad ? -1 : 0;
}

/* Validation: the last 10% of the text unless --val N (symbols) says otherwise. 0 or -1. */
static int text_split(const train_args *a, const corpus *c, size_t *n_train)
{
    *n_train = c->n;
    if (a->val >= 0 && (size_t)a->val < c->n) {
        *n_train = c->n - (size_t)a->val;
        return 0;
    }
    if (a->val < 0 && dc_text_split(c->n, 0.1, n_train) == DC_OK)
        return 0;
    if (a->val >= 0)
        fprintf(stderr, "deepc train: --val %lld: the text has only %zu characters\n",
                (long long)a->val, c->n);
    else
        fprintf(stderr, "deepc train: %s: %s\n", a->data + 5, dc_last_error());
    return -1;
}

/* After training: the validation figures and a sample. */
static void text_report(const train_args *a, dc_model *m, const corpus *c, size_t n_train,
                        const dc_task_eval *v, double secs)
{
    printf("training time %.1fs, %lld steps, %.0f tokens/s\n", secs, (long long)v->steps,
           v->units_per_s);
    if (dc_dist_size() > 1)
        printf("%d ranks; rank 0 spent %.2fs in communication (gradient allreduce, metrics)\n",
               dc_dist_size(), dc_dist_comm_seconds());
    if (c->n > n_train && v->has)
        printf("validation: loss %.4f nats/char, %.4f bits/char\n", v->loss, v->loss / log(2.0));
    if (!a->quiet) {
        printf("sample (temperature 0.8):\n");
        dc_rng srng;
        dc_rng_seed(&srng, (uint64_t)a->seed, 7);
        generate(m, &c->v, "", 200, 0.8f, 0, &srng, stdout, 1);
    }
    if (a->out)
        printf("weights: %s/model.safetensors (spec %s/model.spec, vocabulary %s/vocab.txt, "
               "checkpoint %s/checkpoint, log %s/log.csv)\n", a->out, a->out, a->out, a->out,
               a->out);
}

int cmd_train_text(const train_args *a, const dc_train_opts *o0, const train_resume *rs,
                   const char *args_text)
{
    dc_train_opts o = *o0;
    corpus c;
    if (dc_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 reports */
        return 1;
    if (a->augment) {
        fprintf(stderr, "deepc train: --augment does not apply to text (it shifts images)\n");
        return 2;
    }
    if (load_corpus(a->data + 5, &c))
        return 2;
    dc_spec *spec = NULL;
    dc_model *m = NULL;
    dc_task *t = NULL;
    char *spec_text = NULL;
    dc_rng rng;
    size_t n_train;
    int rc = 2;
    if (text_split(a, &c, &n_train))
        goto out;
    if (a->threads)
        dc_set_num_threads(a->threads);
    dc_rng_seed(&rng, (uint64_t)a->seed, 0);
    m = rs ? cli_resume_model(rs, &rng, &spec) : load_lm(a->model, &c.v, &rng, &spec);
    o.bptt = a->bptt > 0 ? a->bptt : 64;
    if (m && a->save_every && dc_model_context(m, NULL) == 0) { /* a recurrent model */
        fprintf(stderr, "deepc train: --save-every does not apply to a recurrent model on text "
                "(it checkpoints at the end of every epoch: the carried state is not stored)\n");
        goto out;
    }
    if (!m || cli_train_prepare(a, spec, rs, args_text, &o, &spec_text) ||
        save_vocab(&c.v, a->out))
        goto out;
    if (!(t = dc_task_lm(c.ids, (int64_t)n_train, c.ids + n_train, (int64_t)(c.n - n_train),
                         &o))) {
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        goto out;
    }
    printf("%s %s on %s: %zu characters for training, %zu for validation, vocabulary %d, %lld "
           "parameters, %s lr %g, %lld streams x %lld steps, %d threads\n",
           rs ? "resuming" : "training", a->model, a->data + 5, n_train, c.n - n_train, c.v.n,
           (long long)dc_model_n_trainable(m), dc_optim_kind_name(o.optim.kind),
           (double)o.optim.lr, (long long)o.batch_size, (long long)o.bptt, dc_get_num_threads());
    dc_task_eval v;
    double t0 = cli_now_s();
    if ((rc = cli_run_task(m, t, &o, &v)) == 0)
        text_report(a, m, &c, n_train, &v, cli_now_s() - t0);
out:
    dc_task_free(t);
    free(spec_text);
    dc_model_free(m);
    dc_spec_free(spec);
    free(c.text);
    free(c.ids);
    return rc;
}

static void generate_usage(FILE *f)
{
    fprintf(f,
        "usage: deepc generate MODEL --weights W.safetensors [options]\n"
        "  MODEL                 the spec the weights were trained with (DIR/model.spec)\n"
        "  --vocab FILE          the vocabulary (default: vocab.txt next to the weights)\n"
        "  --prime TEXT          text to start from (default: none)\n"
        "  --length N            characters to generate (500)\n"
        "  --temperature T       softmax temperature; 0 picks the most likely (1)\n"
        "  --top-k K             sample among the K most likely only (0: all)\n"
        "  --seed S              the same seed gives the same text (1)\n"
        "  --no-kv-cache         a Transformer: run the whole context at every step instead\n"
        "                        of the new symbol over cached keys and values\n");
}

int cmd_generate(int argc, char **argv)
{
    const char *model = NULL, *weights = NULL, *vocab = NULL, *prime = "";
    int64_t length = 500, seed = 1;
    float temp = 1.0f;
    int top_k = 0, kv_cache = 1;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = 0, takes = 1;
        if (!strcmp(f, "--help")) {
            generate_usage(stdout);
            return 0;
        } else if (!strcmp(f, "--no-kv-cache")) {
            kv_cache = 0;
            takes = 0;
        } else if (!strcmp(f, "--weights")) weights = v;
        else if (!strcmp(f, "--vocab")) vocab = v;
        else if (!strcmp(f, "--prime")) prime = v;
        else if (!strcmp(f, "--length")) r = arg_i64(f, v, 0, INT64_C(1) << 30, &length);
        else if (!strcmp(f, "--temperature")) r = arg_float(f, v, 0, 100, &temp);
        else if (!strcmp(f, "--top-k")) r = arg_int(f, v, 0, 256, &top_k);
        else if (!strcmp(f, "--seed")) r = arg_i64(f, v, 0, INT64_MAX, &seed);
        else if (f[0] == '-') {
            cli_unknown_flag_usage("generate", f, generate_usage);
            return 2;
        } else if (!model) { model = f; takes = 0; }
        else {
            fprintf(stderr, "deepc generate: unexpected argument '%s'\n", f);
            return 2;
        }
        if (r)
            return 2;
        if (takes && !v) {
            fprintf(stderr, "deepc generate: %s needs a value\n", f);
            return 2;
        }
        i += takes;
    }
    if (!model || !weights) {
        generate_usage(stderr);
        return 2;
    }
    char vpath[1024];
    if (!vocab) { /* vocab.txt in the directory of the weights */
        const char *slash = strrchr(weights, '/');
        int dir = slash ? (int)(slash - weights) : 1;
        snprintf(vpath, sizeof vpath, "%.*s/vocab.txt", dir, slash ? weights : ".");
        vocab = vpath;
    }
    dc_vocab v;
    if (dc_vocab_load(vocab, &v) != DC_OK) {
        fprintf(stderr, "deepc generate: %s\n", dc_last_error());
        return 2;
    }
    dc_spec *spec = NULL;
    dc_model *m = load_lm(model, &v, NULL, &spec);
    int rc = 2;
    if (m && cli_load_weights(m, weights, 0) == 0) {
        dc_rng rng;
        dc_rng_seed(&rng, (uint64_t)seed, 7);
        rc = generate(m, &v, prime, length, temp, top_k, &rng, stdout, kv_cache) ? 2 : 0;
    }
    dc_model_free(m);
    dc_spec_free(spec);
    return rc;
}
