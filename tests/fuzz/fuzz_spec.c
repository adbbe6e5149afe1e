/*
 * fuzz_spec.c - libFuzzer harness for the model spec: dc_spec_parse_string, dc_spec_build,
 * dc_spec_to_string, and the round trip the format promises (docs/model-format.md: parsing the
 * written spec again gives the same network). The input is the spec text.
 *
 *   s1 = parse(input)                     failure: an error message must be set
 *   T0 = to_string(s1)                    parse(T0) succeeds and writes T0 again
 *   define $vocab = 8, build(s1, NULL)    (when the spec is small enough, see below)
 *   T1 = to_string(s1)                    parse(T1) = s2 succeeds and writes T1 again
 *   if s1 built: build(s2) succeeds, leaves T1 unchanged (every default is explicit) and makes
 *   the same tensors (names, dtypes, shapes) as s1's model
 * Any mismatch aborts, so libFuzzer keeps the input.
 *
 * Building runs every layer once on a zero batch, so its cost grows with the sizes in the spec;
 * to keep every execution fast and small the build is skipped when a layer-count or integer
 * value is large: more than 16 layers, or an integer value v with 16 < |v| <= 2^41 (every key's
 * range ends below 2^41, so larger values are still built: they must be refused).
 */
#include "fuzz_util.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BUILD_MAX_LAYERS 16
#define BUILD_MAX_INT 16

/* 1 if a value (the text after "key = " of a written spec line) holds an integer token that
 * would make the build too large. */
static int value_too_big(const char *v)
{
    while (*v) {
        const char *end = strchr(v, ',');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        char tok[300];
        if (n < sizeof tok) {
            memcpy(tok, v, n);
            tok[n] = '\0';
            char *e;
            errno = 0;
            long long x = strtoll(tok, &e, 10);
            while (*e == ' ' || *e == '\t')
                e++;
            if (e != tok && *e == '\0' && errno == 0 && (x > BUILD_MAX_INT || x < -BUILD_MAX_INT) &&
                x <= (1LL << 41) && x >= -(1LL << 41))
                return 1;
        }
        v += n + (end ? 1 : 0);
    }
    return 0;
}

/* Whether to build the spec written as text (one "key = value" or "[type name]" per line). */
static int small_enough(const char *text)
{
    int layers = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[600];
        if (n < sizeof line) {
            memcpy(line, p, n);
            line[n] = '\0';
            char *eq = strstr(line, " = ");
            if (line[0] == '[')
                layers++;
            else if (eq && value_too_big(eq + 3))
                return 0;
        }
        p += n + (nl ? 1 : 0);
    }
    return layers - 1 <= BUILD_MAX_LAYERS;
}

/* Parse text again and check it writes back unchanged; returns the new spec. */
static dc_spec *reparse(const char *text, const char *what)
{
    dc_spec *s = dc_spec_parse_string(text, "fuzz-rewritten.spec");
    FUZZ_CHECK(s != NULL, "%s does not parse again: %s\n--- text ---\n%s", what, dc_last_error(),
               text);
    char *again = dc_spec_to_string(s);
    FUZZ_CHECK(again != NULL, "to_string failed");
    FUZZ_CHECK(strcmp(again, text) == 0, "%s changes when parsed and written again\n--- first "
               "---\n%s--- second ---\n%s", what, text, again);
    free(again);
    return s;
}

static void same_model(const dc_model *a, const dc_model *b)
{
    FUZZ_CHECK(dc_model_n_tensors(a) == dc_model_n_tensors(b) &&
               dc_model_n_modules(a) == dc_model_n_modules(b), "the rebuilt model differs: %d vs "
               "%d tensors, %d vs %d modules", dc_model_n_tensors(a), dc_model_n_tensors(b),
               dc_model_n_modules(a), dc_model_n_modules(b));
    for (int i = 0; i < dc_model_n_tensors(a); i++) {
        const dc_tensor *x = dc_model_tensor(a, i), *y = dc_model_tensor(b, i);
        FUZZ_CHECK(strcmp(x->name, y->name) == 0 && x->dtype == y->dtype && dc_same_shape(x, y) &&
                   dc_model_is_buffer(a, i) == dc_model_is_buffer(b, i),
                   "tensor %d differs: %s vs %s", i, x->name, y->name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    dc_clear_error();
    dc_spec *s1 = dc_spec_parse_string(text, "fuzz.spec");
    free(text);
    if (!s1) {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "no error message");
        dc_clear_error();
        return 0;
    }
    FUZZ_CHECK(dc_spec_n_layers(s1) >= 1, "a parsed spec without sections");
    char *t0 = dc_spec_to_string(s1);
    FUZZ_CHECK(t0 != NULL, "to_string failed");
    dc_spec_free(reparse(t0, "the parsed spec"));

    dc_model *m1 = NULL;
    dc_spec_define(s1, "vocab", "8");
    if (small_enough(t0)) {
        dc_clear_error();
        m1 = dc_spec_build(s1, NULL);
        FUZZ_CHECK(m1 || (dc_last_status() != DC_OK && *dc_last_error()),
                   "build failed without a message");
    }
    free(t0);
    char *t1 = dc_spec_to_string(s1);
    FUZZ_CHECK(t1 != NULL, "to_string failed");
    dc_spec *s2 = reparse(t1, m1 ? "the built spec" : "the spec after a failed build");
    if (m1) {
        int64_t shape[DC_MAX_DIMS];
        int nd = dc_spec_input_shape(s1, shape);
        FUZZ_CHECK(nd >= 1 && nd < DC_MAX_DIMS, "input ndim %d", nd);
        dc_model *m2 = dc_spec_build(s2, NULL);
        FUZZ_CHECK(m2 != NULL, "the written spec does not build: %s\n--- spec ---\n%s",
                   dc_last_error(), t1);
        char *t2 = dc_spec_to_string(s2);
        FUZZ_CHECK(t2 && strcmp(t1, t2) == 0, "building the written spec changed it\n--- "
                   "first ---\n%s--- second ---\n%s", t1, t2 ? t2 : "(null)");
        same_model(m1, m2);
        free(t2);
        dc_model_free(m2);
        dc_model_free(m1);
    }
    free(t1);
    dc_spec_free(s2);
    dc_spec_free(s1);
    dc_clear_error();
    return 0;
}
