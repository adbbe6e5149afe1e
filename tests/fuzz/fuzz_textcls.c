/*
 * fuzz_textcls.c - libFuzzer harness for the text-classification table reader
 * (dc_textcls_load_table, RFC 4180 quoting) and what a run does with a table that loads: the
 * split, encoding into every input form, the classes file and the --data parser.
 *
 * Input layout: one option byte, then the table's text.
 *   byte 0: bit 0 the delimiter (',' or '\t'), bit 1 no header (columns by index), bits 2-3
 *           the text column (0-2), bits 4-5 the label column (0-2; for a header: "text",
 *           "label", a column index or a missing name), bits 6-7 the validation / test share
 */
#include "fuzz_util.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const VOCAB[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b",
                                    "##b", "spam", "ham"};

/* What a run does with loaded texts: split, encode into each form, check the classes. */
static void use(const dc_textcls_data *d, uint8_t o)
{
    FUZZ_CHECK(d->n_classes >= 2 && d->docs.n >= 1, "%d classes, %lld texts", d->n_classes,
               (long long)d->docs.n);
    for (int64_t i = 0; i < d->docs.n; i++)
        FUZZ_CHECK(d->docs.label[i] >= 0 && d->docs.label[i] < d->n_classes &&
                   strlen(d->docs.text[i]) <= d->docs.len[i], "text %lld", (long long)i);
    dc_textcls_split s;
    const double f = 0.1 * (double)(o >> 6);
    FUZZ_CHECK(dc_textcls_split_make(d, f, f, o, &s) == DC_OK, "split: %s", dc_last_error());
    FUZZ_CHECK(s.n[0] + s.n[1] + s.n[2] == d->docs.n, "split loses texts");
    dc_textcls_split_free(&s);
    dc_wordpiece *wp = dc_wordpiece_new(VOCAB, 10, NULL);
    FUZZ_CHECK(wp != NULL, "vocab: %s", dc_last_error());
    dc_ctx *ctx = dc_ctx_new(0);
    for (int form = 0; form < 3 && ctx; form++) {
        dc_dataset *ds = dc_dataset_textcls(d, wp, (dc_textcls_form)form, 8);
        FUZZ_CHECK(ds != NULL, "dataset: %s", dc_last_error());
        int64_t idx[2] = {0, ds->n - 1};
        dc_tensor *x, *y;
        FUZZ_CHECK(ds->batch(ds, ctx, idx, 2, &x, &y) == DC_OK, "batch: %s", dc_last_error());
        dc_dataset_free(ds);
        dc_ctx_reset(ctx);
    }
    dc_ctx_free(ctx);
    dc_wordpiece_free(wp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const cols[4] = {"text", "label", "1", "nope"};
    uint8_t o = fuzz_byte(&data, &size);
    const char *path = fuzz_tmp_write(0, data, size);
    dc_textcls_table_opts t = dc_textcls_table_defaults(o & 1 ? '\t' : ',');
    t.header = !(o & 2);
    static const char *const idx[3] = {"0", "1", "2"};
    t.text_col = t.header ? cols[(o >> 2) & 3] : idx[((o >> 2) & 3) % 3];
    t.label_col = t.header ? cols[(o >> 4) & 3] : idx[((o >> 4) & 3) % 3];
    dc_textcls_data d;
    dc_clear_error();
    if (dc_textcls_load_table(path, &t, &d) == DC_OK) {
        use(&d, o);
        dc_textcls_data_free(&d);
    } else {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "table: no error message");
        FUZZ_CHECK(d.docs.n == 0 && d.n_classes == 0, "a failed load left data");
    }
    char **names;
    int n;
    dc_clear_error();
    if (dc_textcls_classes_load(path, &names, &n) == DC_OK) {
        FUZZ_CHECK(n >= 2, "%d classes", n);
        for (int k = 0; k < n; k++)
            free(names[k]);
        free(names);
    }
    dc_textcls_source src;
    char spec[300];
    snprintf(spec, sizeof spec, "csv:f,%.*s", (int)(size < 200 ? size : 200), (const char *)data);
    if (!memchr(data, 0, size < 200 ? size : 200))
        dc_textcls_source_parse(spec, &src);
    dc_clear_error();
    return 0;
}
