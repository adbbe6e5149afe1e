/*
 * checkpoint.c - everything needed to resume training exactly, in one .safetensors file:
 *
 *   tensors   model.<state_dict name>       weights and buffers (BatchNorm running statistics)
 *             optim.<param>.<key>           optimizer state (momentum_buffer, exp_avg, ...)
 *             train.order                   int64 [n]: the data order of the epoch in progress
 *   metadata  deepc.checkpoint = "1", epoch, step, pos, optim_steps, rng, aug_rng, sched,
 *             spec (the model spec text), args (the hyper-parameters), crc32, and
 *             epoch_sums ("loss_sum correct seen" of the epoch in progress, doubles in %a;
 *             optional: files written before it existed read as zeros), task_state (a
 *             task's own state text, optional); task.* tensors: a task's state (dc_task)
 *
 * crc32 (zlib) covers every tensor's name, dtype, shape and bytes in name order and every other
 * metadata value in key order, so a flipped bit anywhere is caught before anything is restored.
 * Being a .safetensors file, a checkpoint opens in PyTorch (safetensors.torch.load_file) too.
 * Writing goes through dc_safetensors_write_meta: temp file, fsync, rename, directory fsync, so a
 * crash at any instant leaves the old checkpoint or the new one.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CK_MAX_TENSORS 4096
#define CK_N_META 11

static const char *const meta_keys[CK_N_META + 2] = {
    "deepc.checkpoint", "epoch", "step", "pos", "optim_steps", "rng", "aug_rng", "sched",
    "spec", "args", "crc32", "epoch_sums", "task_state"};

void dc_checkpoint_info_free(dc_checkpoint_info *c)
{
    if (!c)
        return;
    free(c->spec);
    free(c->args);
    free(c->task_state);
    c->spec = c->args = c->task_state = NULL;
}

/* CRC of the tensors (in name order, as the tdict or the writer gives them sorted) and the
 * metadata values (all but crc32, in meta_keys order). */
typedef struct ck_item {
    const char *name;
    const dc_tensor *t;
} ck_item;

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const ck_item *)a)->name, ((const ck_item *)b)->name);
}

static unsigned long ck_crc(ck_item *it, int n, const char *const *vals, const char *sums,
                            const char *task)
{
    uLong c = crc32(0L, Z_NULL, 0);
    qsort(it, (size_t)n, sizeof *it, cmp_item);
    for (int i = 0; i < n; i++) {
        const dc_tensor *t = it[i].t;
        int64_t head[2 + DC_MAX_DIMS] = {t->dtype, t->ndim};
        for (int d = 0; d < t->ndim; d++)
            head[2 + d] = t->shape[d];
        c = crc32(c, (const Bytef *)it[i].name, (uInt)strlen(it[i].name) + 1);
        c = crc32(c, (const Bytef *)head, (uInt)sizeof head);
        const unsigned char *p = t->data;
        size_t bytes = (size_t)t->numel * (t->dtype == DC_I64 ? 8 : 4);
        for (size_t off = 0; off < bytes; off += 1u << 30) { /* uInt chunks */
            size_t k = bytes - off < (1u << 30) ? bytes - off : (1u << 30);
            c = crc32(c, p + off, (uInt)k);
        }
    }
    for (int k = 0; k < CK_N_META - 1; k++)
        c = crc32(c, (const Bytef *)vals[k], (uInt)strlen(vals[k]) + 1);
    if (sums) /* the optional keys, after the others */
        c = crc32(c, (const Bytef *)sums, (uInt)strlen(sums) + 1);
    if (task)
        c = crc32(c, (const Bytef *)task, (uInt)strlen(task) + 1);
    return (unsigned long)c;
}

static void rng_str(char *b, size_t n, const dc_rng *r)
{
    snprintf(b, n, "%016" PRIx64 "%016" PRIx64, r->state, r->inc);
}

static int rng_parse(const char *s, dc_rng *r)
{
    if (!s || strlen(s) != 32 || strspn(s, "0123456789abcdef") != 32)
        return -1;
    char a[17], b[17];
    memcpy(a, s, 16);
    memcpy(b, s + 16, 16);
    a[16] = b[16] = 0;
    r->state = strtoull(a, NULL, 16);
    r->inc = strtoull(b, NULL, 16);
    return 0;
}

/* name = prefix + rest, malloc'd. */
static char *cat(const char *prefix, const char *rest)
{
    size_t a = strlen(prefix), b = strlen(rest);
    char *s = malloc(a + b + 1);
    if (s) {
        memcpy(s, prefix, a);
        memcpy(s + a, rest, b + 1);
    }
    return s;
}

dc_status dc_checkpoint_save(const char *path, const dc_model *m, dc_optim *opt,
                             const dc_sched *sched, const dc_checkpoint_info *info,
                             const dc_tensor *order)
{
    const int nm = dc_model_n_tensors(m), no = opt && dc_optim_steps(opt) > 0
                                                   ? dc_optim_n_state(opt) : 0;
    const int ne = info->n_extra > 0 ? info->n_extra : 0;
    const int n = nm + no + (order ? 1 : 0) + ne;
    char **names = calloc((size_t)n + 1, sizeof *names);
    const dc_tensor **ts = calloc((size_t)n + 1, sizeof *ts);
    ck_item *it = calloc((size_t)n + 1, sizeof *it);
    char num[4][32], rng[2][40], sch[160] = "none", crc[16], sums[96];
    dc_status st = names && ts && it ? DC_OK : dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; st == DC_OK && i < nm; i++) {
        ts[i] = dc_model_tensor(m, i);
        if (!(names[i] = cat("model.", ts[i]->name)))
            st = dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; st == DC_OK && i < no; i++) {
        const char *nmi;
        if (!(ts[nm + i] = dc_optim_state(opt, i, &nmi)) || !(names[nm + i] = cat("optim.", nmi)))
            st = st ? st : dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    }
    if (st == DC_OK && order) {
        ts[nm + no] = order;
        if (!(names[nm + no] = cat("train.", "order")))
            st = dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0, k = nm + no + (order ? 1 : 0); st == DC_OK && i < ne; i++, k++) {
        ts[k] = info->extra[i];
        if (!(names[k] = cat("", info->extra_names[i])))
            st = dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    }
    if (st == DC_OK) {
        snprintf(num[0], sizeof num[0], "%lld", (long long)info->epoch);
        snprintf(num[1], sizeof num[1], "%lld", (long long)info->step);
        snprintf(num[2], sizeof num[2], "%lld", (long long)info->pos);
        snprintf(num[3], sizeof num[3], "%lld", (long long)(opt ? dc_optim_steps(opt) : 0));
        rng_str(rng[0], sizeof rng[0], &info->rng);
        rng_str(rng[1], sizeof rng[1], &info->aug_rng);
        if (sched)
            dc_sched_state_save(sched, sch, sizeof sch);
        snprintf(sums, sizeof sums, "%a %a %lld", info->sums.loss_sum, info->sums.correct,
                 (long long)info->sums.seen);
        const char *task = info->task_state ? info->task_state : "";
        const char *vals[CK_N_META + 2] = {"1", num[0], num[1], num[2], num[3], rng[0], rng[1],
                                           sch, info->spec ? info->spec : "",
                                           info->args ? info->args : "", crc, sums, task};
        for (int i = 0; i < n; i++)
            it[i] = (ck_item){names[i], ts[i]};
        snprintf(crc, sizeof crc, "%08lx", ck_crc(it, n, vals, sums, task));
        st = dc_safetensors_write_meta(path, n, (const char *const *)names, ts, CK_N_META + 2,
                                       meta_keys, vals);
    }
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    free(ts);
    free(it);
    return st;
}

/* Parse a non-negative decimal metadata value. */
static int meta_i64(const dc_tdict *d, const char *key, int64_t *v)
{
    const char *s = dc_tdict_meta(d, key);
    char *end;
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18)
        return -1;
    *v = strtoll(s, &end, 10);
    return 0;
}

/* "loss_sum correct seen": two finite non-negative doubles in %a and a count. */
static int sums_parse(const char *s, dc_epoch_sums *out)
{
    double a, b;
    long long n;
    int used = 0;
    if (sscanf(s, "%la %la %lld%n", &a, &b, &n, &used) != 3 || s[used] != '\0' ||
        !(a >= 0 && a < HUGE_VAL) || !(b >= 0 && b < HUGE_VAL) || n < 0)
        return -1;
    *out = (dc_epoch_sums){.loss_sum = a, .correct = b, .seen = n};
    return 0;
}

/* Check the file: every metadata key, the counters, the RNG states, the CRC. */
static dc_status ck_verify(const char *path, const dc_tdict *d, dc_checkpoint_info *info)
{
    const char *vals[CK_N_META];
    for (int k = 0; k < CK_N_META; k++)
        if (!(vals[k] = dc_tdict_meta(d, meta_keys[k])))
            return dc_err(DC_ERR_FORMAT, "%s: not a deepc checkpoint (no \"%s\" in the "
                          "metadata)", path, meta_keys[k]);
    if (strcmp(vals[0], "1"))
        return dc_err(DC_ERR_FORMAT, "%s: checkpoint version '%.20s' (this deepc reads 1)", path,
                      vals[0]);
    int64_t opt_steps;
    if (meta_i64(d, "epoch", &info->epoch) || meta_i64(d, "step", &info->step) ||
        meta_i64(d, "pos", &info->pos) || meta_i64(d, "optim_steps", &opt_steps) ||
        rng_parse(vals[5], &info->rng) || rng_parse(vals[6], &info->aug_rng))
        return dc_err(DC_ERR_FORMAT, "%s: malformed counters or RNG state in the metadata", path);
    if (info->epoch > DC_TRAIN_MAX_EPOCHS || opt_steps > info->step)
        return dc_err(DC_ERR_FORMAT, "%s: counters out of range (epoch %lld of at most %d, "
                      "optimizer step %lld of %lld)", path, (long long)info->epoch,
                      DC_TRAIN_MAX_EPOCHS, (long long)opt_steps, (long long)info->step);
    const char *sums = dc_tdict_meta(d, "epoch_sums");
    if (sums && sums_parse(sums, &info->sums))
        return dc_err(DC_ERR_FORMAT, "%s: malformed epoch_sums '%.60s' in the metadata", path,
                      sums);
    if (d->n > CK_MAX_TENSORS)
        return dc_err(DC_ERR_FORMAT, "%s: more than %d tensors", path, CK_MAX_TENSORS);
    ck_item *it = calloc((size_t)d->n + 1, sizeof *it);
    if (!it)
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < d->n; i++)
        it[i] = (ck_item){d->names[i], d->tensors[i]};
    char crc[16];
    const char *task = dc_tdict_meta(d, "task_state");
    snprintf(crc, sizeof crc, "%08lx", ck_crc(it, d->n, vals, sums, task));
    free(it);
    if (strcmp(crc, vals[10]))
        return dc_err(DC_ERR_FORMAT, "%s: checksum mismatch (stored %.16s, computed %s): the "
                      "file is damaged", path, vals[10], crc);
    info->optim_steps = opt_steps;
    info->spec = strdup(vals[8]);
    info->args = strdup(vals[9]);
    info->task_state = strdup(task ? task : "");
    if (!info->spec || !info->args || !info->task_state) {
        dc_checkpoint_info_free(info);
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", path);
    }
    return DC_OK;
}

dc_status dc_checkpoint_peek(const char *path, dc_checkpoint_info *info)
{
    memset(info, 0, sizeof *info);
    dc_tdict *d = dc_safetensors_read(path);
    if (!d)
        return dc_last_status();
    dc_status st = ck_verify(path, d, info);
    dc_tdict_free(d);
    return st;
}

/* Every model tensor, optimizer state and the order must be present with the right shape. */
static dc_status ck_match(const char *path, const dc_tdict *d, const dc_model *m, dc_optim *opt,
                          int64_t opt_steps, const dc_tensor *order,
                          const dc_checkpoint_info *want)
{
    for (int i = 0; i < want->n_extra; i++) {
        const dc_tensor *t = want->extra[i], *c = dc_tdict_get(d, want->extra_names[i]);
        if (!c || c->dtype != t->dtype || !dc_same_shape(c, t))
            return dc_err(DC_ERR_FORMAT, "%s: the task state %s is %s (a checkpoint of another "
                          "kind of run?)", path, want->extra_names[i],
                          c ? "mis-shaped" : "missing");
    }
    char key[512];
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        const dc_tensor *t = dc_model_tensor(m, i);
        snprintf(key, sizeof key, "model.%s", t->name);
        const dc_tensor *c = dc_tdict_get(d, key);
        if (!c || c->dtype != t->dtype || !dc_same_shape(c, t))
            return dc_err(DC_ERR_FORMAT, "%s: %s is %s in the checkpoint (the model spec or the "
                          "options differ from the checkpointed run's)", path, key,
                          c ? "mis-shaped" : "missing");
    }
    for (int i = 0; opt_steps > 0 && i < dc_optim_n_state(opt); i++) {
        const char *nm;
        const dc_tensor *t = dc_optim_state(opt, i, &nm);
        snprintf(key, sizeof key, "optim.%s", nm ? nm : "");
        const dc_tensor *c = t ? dc_tdict_get(d, key) : NULL;
        if (!c || c->dtype != DC_F32 || !dc_same_shape(c, t))
            return dc_err(DC_ERR_FORMAT, "%s: optimizer state %s is missing or mis-shaped (was the "
                          "checkpoint written with another optimizer?)", path, key);
    }
    const dc_tensor *c = dc_tdict_get(d, "train.order");
    if (order && (!c || c->dtype != DC_I64 || !dc_same_shape(c, order)))
        return dc_err(DC_ERR_FORMAT, "%s: train.order is missing or not [%lld] (another "
                      "dataset?)", path, (long long)order->numel);
    for (int64_t i = 0; order && i < c->numel; i++)
        if (dc_i64(c)[i] < 0 || dc_i64(c)[i] >= c->numel)
            return dc_err(DC_ERR_FORMAT, "%s: train.order holds %lld, outside [0, %lld)", path,
                          (long long)dc_i64(c)[i], (long long)c->numel);
    return DC_OK;
}

/* Restore the scheduler state, or say in words which schedulers differ. */
static dc_status ck_sched(const char *path, const char *text, dc_sched *sched)
{
    char mine[160] = "none", theirs[32] = "", own[32] = "";
    if (sched)
        dc_sched_state_save(sched, mine, sizeof mine);
    sscanf(text, "%31s", theirs);
    sscanf(mine, "%31s", own);
    if (strcmp(theirs, own))
        return dc_err(DC_ERR_ARG, "%s: the checkpointed run used the scheduler '%s', this one "
                      "'%s': a resumed run keeps its scheduler (drop --scheduler, or start a new "
                      "run from the weights with --init)", path, theirs[0] ? theirs : "?", own);
    return sched ? dc_sched_state_load(sched, text) : DC_OK;
}

dc_status dc_checkpoint_load(const char *path, dc_model *m, dc_optim *opt, dc_sched *sched,
                             dc_checkpoint_info *info, dc_tensor *order)
{
    return dc_checkpoint_load_task(path, m, opt, sched, info, order, 0, NULL, NULL);
}

dc_status dc_checkpoint_load_task(const char *path, dc_model *m, dc_optim *opt, dc_sched *sched,
                                  dc_checkpoint_info *info, dc_tensor *order, int n_extra,
                                  const char *const *extra_names, dc_tensor *const *extra)
{
    const dc_checkpoint_info want = {.n_extra = n_extra, .extra_names = extra_names,
                                     .extra = extra};
    memset(info, 0, sizeof *info);
    dc_tdict *d = dc_safetensors_read(path);
    if (!d)
        return dc_last_status();
    dc_status st = ck_verify(path, d, info);
    if (st == DC_OK)
        st = ck_match(path, d, m, opt, info->optim_steps, order, &want);
    if (st == DC_OK)
        st = ck_sched(path, dc_tdict_meta(d, "sched"), sched);
    if (st != DC_OK) { /* nothing restored yet except possibly the scheduler's lr */
        dc_checkpoint_info_free(info);
        dc_tdict_free(d);
        return st;
    }
    char key[512];
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        snprintf(key, sizeof key, "model.%s", t->name);
        memcpy(t->data, dc_tdict_get(d, key)->data, (size_t)t->numel * (t->dtype ? 8 : 4));
    }
    dc_model_weights_changed(m); /* a frozen model's packs are of the old weights */
    for (int i = 0; info->optim_steps > 0 && i < dc_optim_n_state(opt); i++) {
        const char *nm;
        dc_tensor *t = dc_optim_state(opt, i, &nm);
        snprintf(key, sizeof key, "optim.%s", nm);
        memcpy(t->data, dc_tdict_get(d, key)->data, sizeof(float) * (size_t)t->numel);
    }
    if (opt)
        dc_optim_set_steps(opt, info->optim_steps);
    if (order)
        memcpy(order->data, dc_tdict_get(d, "train.order")->data,
               sizeof(int64_t) * (size_t)order->numel);
    for (int i = 0; i < want.n_extra; i++) {
        dc_tensor *t = want.extra[i];
        memcpy(t->data, dc_tdict_get(d, want.extra_names[i])->data,
               (size_t)t->numel * (t->dtype == DC_I64 ? 8 : 4));
    }
    dc_tdict_free(d);
    return DC_OK;
}
