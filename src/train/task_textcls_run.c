/*
 * task_textcls_run.c - what `deepc train / eval / predict` need for text classification, kept
 * out of the CLI: the source, vocabulary, texts and split of a run; the spec variables; the
 * dataset in the form the spec's input asks for; evaluation of one part; the files a run leaves
 * for predict (vocab.txt, classes.txt).
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "io/io.h"
#include "train/eval_report.h"
#include "train/predict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dc_textcls_run_free(dc_textcls_run *r)
{
    if (!r)
        return;
    dc_dataset_free(r->d);
    dc_wordpiece_free(r->wp);
    dc_textcls_split_free(&r->split);
    dc_textcls_data_free(&r->data);
    memset(r, 0, sizeof *r);
}

dc_status dc_textcls_run_open(const char *data, const char *vocab, dc_textcls_run *r)
{
    if (!r)
        return dc_err(DC_ERR_ARG, "text run: NULL argument");
    memset(r, 0, sizeof *r);
    if (!vocab)
        return dc_err(DC_ERR_ARG, "text classification needs a WordPiece vocabulary (--vocab "
                      "vocab.txt; `deepc tokenize train` makes one)");
    dc_status st = dc_textcls_source_parse(data, &r->src);
    if (st == DC_OK && !(r->wp = dc_wordpiece_load(vocab, NULL)))
        st = dc_last_status();
    if (st == DC_OK && (dc_wordpiece_special(r->wp, DC_WP_PAD) < 0 ||
                        dc_wordpiece_special(r->wp, DC_WP_CLS) < 0 ||
                        dc_wordpiece_special(r->wp, DC_WP_SEP) < 0))
        st = dc_err(DC_ERR_FORMAT, "%s: the vocabulary needs [PAD], [CLS] and [SEP]", vocab);
    if (st == DC_OK)
        st = dc_textcls_load(&r->src, &r->data);
    if (st == DC_OK)
        st = dc_textcls_positive(&r->src, &r->data, &r->positive);
    if (st == DC_OK)
        st = dc_textcls_split_make(&r->data, r->src.val, r->src.test, r->src.seed, &r->split);
    if (st == DC_OK && r->split.n[DC_SPLIT_TRAIN] < 1)
        st = dc_err(DC_ERR_ARG, "%s: no examples left for training after the split", data);
    if (st != DC_OK)
        dc_textcls_run_free(r);
    return st;
}

dc_status dc_textcls_run_define(const dc_textcls_run *r, dc_spec *s)
{
    char v[32], k[32];
    snprintf(v, sizeof v, "%lld", (long long)dc_wordpiece_size(r->wp));
    snprintf(k, sizeof k, "%d", r->data.n_classes);
    if (dc_spec_define(s, "vocab", v) < 0 || dc_spec_define(s, "labels", k) < 0)
        return dc_last_status();
    return DC_OK;
}

dc_status dc_textcls_run_dataset(dc_textcls_run *r, const dc_spec *s, int64_t max_len)
{
    int64_t shape[DC_MAX_DIMS], L = 0;
    const int nd = dc_spec_input_shape(s, shape);
    dc_status st = dc_textcls_form_of(dc_spec_input_dtype(s), nd, shape,
                                      dc_wordpiece_size(r->wp), &r->form, &L);
    if (st != DC_OK)
        return st;
    r->max_len = max_len > 0 ? max_len : r->form == DC_TEXTCLS_BOW ? 128 : L;
    dc_dataset_free(r->d);
    r->d = dc_dataset_textcls(&r->data, r->wp, r->form, r->max_len);
    return r->d ? DC_OK : dc_last_status();
}

dc_status dc_textcls_run_evaluate(const dc_textcls_run *r, dc_model *m, int part,
                                  dc_eval_result *res, dc_cls_scores *scores)
{
    memset(res, 0, sizeof *res);
    if (!r->d || part < -1 || part > DC_SPLIT_TEST)
        return dc_err(DC_ERR_ARG, "text evaluate: no dataset or a bad part %d", part);
    if (part >= 0 && r->split.n[part] == 0)
        return dc_err(DC_ERR_ARG, "text evaluate: the %s part is empty (val= / test= of --data)",
                      part == DC_SPLIT_VAL ? "validation" : part == DC_SPLIT_TEST ? "test"
                                                                                : "training");
    dc_status st = dc_evaluate(m, r->d, part < 0 ? NULL : r->split.idx[part],
                               part < 0 ? 0 : r->split.n[part], 256, DC_LOSS_CROSS_ENTROPY, res);
    if (st == DC_OK && !res->confusion)
        st = dc_err(DC_ERR_ARG, "text evaluate: the model's output is not class scores [N, K]");
    if (st == DC_OK)
        st = dc_cls_scores_of(res->confusion, res->n_classes, r->positive, scores);
    if (st != DC_OK)
        dc_eval_result_free(res);
    return st;
}

static int write_classes(FILE *f, void *user)
{
    const dc_textcls_data *d = user;
    for (int k = 0; k < d->n_classes; k++)
        if (fprintf(f, "%s\n", d->classes[k]) < 0)
            return -1;
    return 0;
}

dc_status dc_textcls_run_save(const dc_textcls_run *r, const char *dir)
{
    size_t n = strlen(dir) + 16;
    char *p = malloc(n);
    if (!p)
        return dc_err(DC_ERR_NOMEM, "out of memory");
    snprintf(p, n, "%s/vocab.txt", dir);
    dc_status st = dc_wordpiece_save(r->wp, p);
    if (st == DC_OK) {
        snprintf(p, n, "%s/classes.txt", dir);
        st = dc_io_write_atomic(p, write_classes, (void *)&r->data);
    }
    free(p);
    return st;
}

dc_task *dc_textcls_run_task(const dc_textcls_run *r, const char *out_dir,
                             const dc_train_opts *o)
{
    if (out_dir && dc_dist_rank() == 0 && dc_textcls_run_save(r, out_dir) != DC_OK)
        return NULL;
    return dc_task_textcls(r->d, r->split.idx[DC_SPLIT_TRAIN], r->split.n[DC_SPLIT_TRAIN],
                           r->split.idx[DC_SPLIT_VAL], r->split.n[DC_SPLIT_VAL], o, r->positive);
}

dc_status dc_textcls_classes_load(const char *path, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    uint8_t *text;
    size_t len;
    dc_status st = dc_text_load(path, 1 << 20, &text, &len);
    if (st != DC_OK)
        return st;
    char **v = calloc(DC_TEXTCLS_MAX_CLASSES, sizeof *v);
    int k = 0;
    char *s = (char *)text;
    for (size_t i = 0; v && st == DC_OK && i < len;) {
        size_t e = i;
        while (e < len && s[e] != '\n')
            e++;
        size_t l = e - i - (e > i && s[e - 1] == '\r');
        if (k == DC_TEXTCLS_MAX_CLASSES)
            st = dc_err(DC_ERR_FORMAT, "%s: more than %d classes", path, DC_TEXTCLS_MAX_CLASSES);
        else if (l == 0)
            st = dc_err(DC_ERR_FORMAT, "%s:%d: an empty class name", path, k + 1);
        else if (!(v[k++] = strndup(s + i, l)))
            st = dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
        i = e + 1;
    }
    free(text);
    if (!v)
        st = dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    else if (st == DC_OK && k < 2)
        st = dc_err(DC_ERR_FORMAT, "%s: fewer than 2 class names", path);
    if (st != DC_OK) {
        for (int i = 0; v && i < k; i++)
            free(v[i]);
        free(v);
        return st;
    }
    *names = v;
    *n = k;
    return DC_OK;
}

dc_status dc_textcls_predict(dc_model *m, const dc_spec *s, const dc_wordpiece *wp,
                             int64_t max_len, const char *text, float **probs, int *K)
{
    *probs = NULL;
    *K = 0;
    int64_t shape[DC_MAX_DIMS], L = 0;
    dc_textcls_form form;
    const int nd = dc_spec_input_shape(s, shape);
    dc_status st = dc_textcls_form_of(dc_spec_input_dtype(s), nd, shape, dc_wordpiece_size(wp),
                                      &form, &L);
    dc_ctx *ctx = st == DC_OK ? dc_ctx_new(0) : NULL;
    if (st != DC_OK || !ctx)
        return st != DC_OK ? st : dc_err(DC_ERR_NOMEM, "predict: out of memory");
    dc_ctx_set_grad(ctx, 0);
    dc_tensor *x = dc_textcls_input(ctx, wp, form,
                                    max_len > 0 ? max_len : form == DC_TEXTCLS_BOW ? 128 : L,
                                    &text, 1);
    dc_tensor *p = x ? dc_softmax(ctx, dc_model_forward(ctx, m, x), -1) : NULL;
    if (!p)
        st = dc_last_status() ? dc_last_status() : DC_ERR_ARG;
    else if (p->ndim != 2 || p->shape[0] != 1)
        st = dc_err(DC_ERR_SHAPE, "predict: the model's output is not class scores [1, K]");
    else if (!(*probs = malloc((size_t)p->shape[1] * sizeof **probs)))
        st = dc_err(DC_ERR_NOMEM, "predict: out of memory");
    else {
        *K = (int)p->shape[1];
        memcpy(*probs, dc_f32(p), (size_t)*K * sizeof **probs);
    }
    dc_ctx_free(ctx);
    return st;
}

static const dc_textcls_data *g_names; /* class names for dc_print_confusion (one report at once) */
static const char *class_name(int k) { return g_names->classes[k]; }

dc_status dc_textcls_report(FILE *f, const dc_textcls_run *r, dc_model *m, int part,
                            const char *what, int json)
{
    dc_eval_result e;
    dc_cls_scores sc;
    dc_status st = dc_textcls_run_evaluate(r, m, part, &e, &sc);
    if (st != DC_OK)
        return st;
    if (json)
        fprintf(f, "{\"%s_loss\": %.6g, \"%s_acc\": %.6g, \"%s_f1\": %.6g, \"n\": %lld}\n", what,
                e.loss, what, e.accuracy, what, sc.f1, (long long)e.n);
    else
        fprintf(f, "%s: loss %.4f  accuracy %.4f (%lld/%lld)  F1 %.4f (%s; precision %.4f, "
                "recall %.4f)\n", what, e.loss, e.accuracy, (long long)e.correct,
                (long long)e.n, sc.f1, sc.positive >= 0 ? r->data.classes[sc.positive] : "macro",
                sc.precision, sc.recall);
    g_names = &r->data;
    if (!json)
        dc_print_confusion(f, &e, class_name);
    dc_eval_result_free(&e);
    return DC_OK;
}

dc_status dc_textcls_eval(FILE *f, const char *model, const char *weights, const char *data,
                          const char *vocab, int64_t max_len, int part, int bf16)
{
    static const char *const parts[] = {"train", "val", "test"};
    dc_textcls_run r;
    dc_spec *spec = NULL;
    dc_status st = dc_textcls_run_open(data, vocab, &r);
    if (st != DC_OK)
        return st;
    dc_model *m = dc_load_frozen_spec(model, dc_wordpiece_size(r.wp), r.data.n_classes, weights,
                                      bf16, &spec);
    st = m ? dc_textcls_run_dataset(&r, spec, max_len) : dc_last_status();
    if (st == DC_OK)
        st = dc_textcls_report(f, &r, m, part, part < 0 || part > 2 ? "all" : parts[part], 0);
    dc_model_free(m);
    dc_spec_free(spec);
    dc_textcls_run_free(&r);
    return st;
}

/* dir(weights)/name into buf. */
static const char *beside(const char *weights, const char *name, char *buf, size_t n)
{
    const char *slash = strrchr(weights, '/');
    snprintf(buf, n, "%.*s/%s", slash ? (int)(slash - weights) : 1, slash ? weights : ".", name);
    return buf;
}

dc_status dc_textcls_predict_print(FILE *f, const char *model, const char *weights,
                                   const char *vocab, const char *classes, int64_t max_len,
                                   const char *text, int bf16)
{
    char vbuf[4096], cbuf[4096], **names = NULL;
    int n_names = 0, K = 0;
    float *p = NULL;
    dc_spec *spec = NULL;
    dc_model *m = NULL;
    dc_wordpiece *wp = dc_wordpiece_load(vocab ? vocab : beside(weights, "vocab.txt", vbuf,
                                                                sizeof vbuf), NULL);
    dc_status st = wp ? dc_textcls_classes_load(classes ? classes : beside(weights, "classes.txt",
                                                cbuf, sizeof cbuf), &names, &n_names)
                      : dc_last_status();
    if (wp && st != DC_OK && !classes) /* no classes.txt beside the weights: class numbers */
        st = DC_OK;
    if (st == DC_OK && !(m = dc_load_frozen_spec(model, dc_wordpiece_size(wp), n_names, weights,
                                                 bf16, &spec)))
        st = dc_last_status();
    if (st == DC_OK)
        st = dc_textcls_predict(m, spec, wp, max_len, text, &p, &K);
    for (int r = 0; st == DC_OK && r < K; r++) { /* the most likely left, by selection */
        int best = 0;
        for (int k = 1; k < K; k++)
            best = p[k] > p[best] ? k : best;
        if (best < n_names)
            fprintf(f, "%-16s %.4f\n", names[best], (double)p[best]);
        else
            fprintf(f, "%-16d %.4f\n", best, (double)p[best]);
        p[best] = -1;
    }
    free(p);
    for (int k = 0; k < n_names; k++)
        free(names[k]);
    free(names);
    dc_model_free(m);
    dc_spec_free(spec);
    dc_wordpiece_free(wp);
    return st;
}
