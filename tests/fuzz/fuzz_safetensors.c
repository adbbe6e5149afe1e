/*
 * fuzz_safetensors.c - libFuzzer harness for dc_safetensors_read and dc_model_load: the input is
 * a whole .safetensors file.
 *
 * dc_safetensors_read: every tensor of a dict that loads must be consistent (numel, dtype, data
 * readable to the end) and findable by its name; every metadata key by its key.
 * dc_model_load into a tiny model (fc1: Linear(3, 4), bn1: BatchNorm1d(4): six float32 tensors
 * and the int64 bn1.num_batches_tracked), first strict, then partial: a refused strict load must
 * leave the model bit for bit unchanged, and the report's counts must add up.
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dc_model *tiny_model(void)
{
    static dc_model *m;
    if (m)
        return m;
    m = dc_model_new();
    if (!m || dc_model_add(m, dc_linear_new(m, "fc1", 3, 4, 1, NULL)) != DC_OK ||
        dc_model_add(m, dc_batch_norm_new(m, "bn1", 4, 0.1f, 1e-5f, 1)) != DC_OK) {
        fprintf(stderr, "fuzz: cannot build the tiny model: %s\n", dc_last_error());
        abort();
    }
    return m;
}

static size_t tensor_bytes(const dc_tensor *t)
{
    return (size_t)t->numel * (t->dtype == DC_I64 ? 8 : 4);
}

/* Known contents before every load, so runs do not depend on earlier inputs. */
static void model_reset(dc_model *m)
{
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        memset(t->data, 0x3f, tensor_bytes(t));
    }
}

static int model_is_reset(const dc_model *m)
{
    for (int i = 0; i < dc_model_n_tensors(m); i++) {
        const dc_tensor *t = dc_model_tensor(m, i);
        const uint8_t *p = t->data;
        for (size_t k = 0; k < tensor_bytes(t); k++)
            if (p[k] != 0x3f)
                return 0;
    }
    return 1;
}

static void check_report(const dc_load_report *r, int n_model)
{
    FUZZ_CHECK(memchr(r->text, '\0', sizeof r->text) != NULL, "report text not terminated");
    FUZZ_CHECK(r->n_loaded >= 0 && r->n_missing >= 0 && r->n_mismatched >= 0 &&
               r->n_unexpected >= 0, "negative counts");
    FUZZ_CHECK(r->n_loaded + r->n_missing + r->n_mismatched <= n_model,
               "%d loaded + %d missing + %d mismatched > %d model tensors", r->n_loaded,
               r->n_missing, r->n_mismatched, n_model);
}

static void read_dict(const char *path)
{
    dc_clear_error();
    dc_tdict *d = dc_safetensors_read(path);
    if (!d) {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "no error message");
        return;
    }
    for (int i = 0; i < d->n; i++) {
        const dc_tensor *t = d->tensors[i];
        int64_t numel = 1;
        for (int k = 0; k < t->ndim; k++)
            numel *= t->shape[k];
        FUZZ_CHECK(numel == t->numel, "tensor %d: numel %lld vs %lld", i, (long long)t->numel,
                   (long long)numel);
        FUZZ_CHECK(t->dtype == DC_F32 || t->dtype == DC_I64, "dtype %d", (int)t->dtype);
        if (t->numel > 0) {
            volatile uint8_t last = ((const uint8_t *)t->data)[tensor_bytes(t) - 1];
            (void)last;
        }
        FUZZ_CHECK(dc_tdict_get(d, d->names[i]) == t, "'%s' not found by name", d->names[i]);
    }
    for (int i = 0; i < d->n_meta; i++)
        FUZZ_CHECK(dc_tdict_meta(d, d->meta_keys[i]) != NULL, "metadata '%s' not found",
                   d->meta_keys[i]);
    dc_tdict_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_write(0, data, size);
    read_dict(path);

    dc_model *m = tiny_model();
    int n_model = dc_model_n_tensors(m);
    dc_load_report rep;
    model_reset(m);
    dc_clear_error();
    dc_status st = dc_model_load(m, path, 1, &rep);
    check_report(&rep, n_model);
    if (st != DC_OK)
        FUZZ_CHECK(model_is_reset(m), "a refused strict load changed the model");
    else
        FUZZ_CHECK(rep.n_loaded == n_model, "strict load: %d of %d loaded", rep.n_loaded,
                   n_model);

    model_reset(m);
    st = dc_model_load(m, path, 0, &rep);
    check_report(&rep, n_model);
    if (st == DC_OK)
        FUZZ_CHECK(rep.n_loaded + rep.n_missing + rep.n_mismatched == n_model,
                   "partial load: %d loaded + %d missing + %d mismatched != %d", rep.n_loaded,
                   rep.n_missing, rep.n_mismatched, n_model);
    else
        FUZZ_CHECK(model_is_reset(m), "a failed partial load changed the model");
    dc_clear_error();
    return 0;
}
