/*
 * test_registry.c - the layer registry (src/nn/layers.def): every descriptor is complete, the
 * documentation table is the registry's, aliases resolve, `deepc layers` and `deepc gradcheck`
 * read it.
 */
#include "harness.h"
#include "check/gradcheck.h"
#include "nn/layer_desc.h"

#include <stdlib.h>
#include <string.h>

TEST(registry_descriptors_are_complete_and_unique)
{
    CHECK(dc_layer_count() >= 27, "only %d layer types", dc_layer_count());
    for (int i = 0; i < dc_layer_count(); i++) {
        const dc_layer_desc *d = dc_layer_at(i);
        CHECK(d->type && d->module && d->torch && d->doc && d->build && d->params,
              "layer %d (%s) lacks a field", i, d->type ? d->type : "?");
        CHECK(d->n_keys <= DC_LAYER_MAX_KEYS, "%s: %d keys", d->type, d->n_keys);
        CHECK(dc_layer_find(d->type) == d, "%s does not find itself", d->type);
        for (int k = 0; k < d->n_keys; k++) {
            const dc_layer_key *key = &d->keys[k];
            CHECK(key->name && key->doc && *key->doc, "%s key %d has no name or doc", d->type, k);
            CHECK(dc_layer_key_index(d, key->name) == k, "%s: key %s twice", d->type, key->name);
            CHECK(key->kind != DC_KEY_IN || d->min_ndim > 0,
                  "%s: inferred key %s without a minimum input rank", d->type, key->name);
        }
        for (int j = 0; j < i; j++)
            CHECK(strcmp(dc_layer_at(j)->type, d->type), "type %s listed twice", d->type);
    }
}

TEST(registry_finds_aliases_in_any_case)
{
    CHECK(dc_layer_find("Conv2d") == dc_layer_find("conv2d"), "Conv2d is not conv2d");
    CHECK(dc_layer_find("UnfoldTime") && !strcmp(dc_layer_find("UnfoldTime")->type,
                                                 "unfold_time"), "UnfoldTime alias");
    CHECK(dc_layer_find("LastStep") && !strcmp(dc_layer_find("laststep")->type, "last_step"),
          "LastStep alias");
    CHECK(dc_layer_find("nosuchlayer") == NULL, "an unknown type found something");
    CHECK(dc_layer_find_module("Conv2d") == dc_layer_find("conv2d"), "module lookup");
}

/* A spec written with an alias builds and is echoed with the registry's type. */
TEST(registry_alias_in_spec_is_echoed_as_type)
{
    dc_spec *s = dc_spec_parse_string("[input]\nshape = 3, 4\n[FoldTime f]\n[UnfoldTime u]\n"
                                      "steps = 3\n[LastStep]\n", "a.spec");
    CHECK(s != NULL, "parse: %s", dc_last_error());
    if (!s)
        return;
    dc_model *m = dc_spec_build(s, NULL);
    CHECK(m != NULL, "build: %s", dc_last_error());
    char *text = dc_spec_to_string(s);
    CHECK(text && strstr(text, "[fold_time f]") && strstr(text, "[unfold_time u]") &&
          strstr(text, "[last_step last_step1]") && !strstr(text, "Time"),
          "echo: %s", text ? text : "(null)");
    free(text);
    dc_model_free(m);
    dc_spec_free(s);
}

/* The table of docs/model-format.md between the layers markers is exactly `deepc layers --md`. */
TEST(registry_docs_table_matches_registry)
{
    char path[512];
    snprintf(path, sizeof path, "%s/table.md", t_tmpdir());
    FILE *f = fopen(path, "w+");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f)
        return;
    CHECK(dc_layers_write(f, 0) == DC_OK, "write: %s", dc_last_error());
    long n = ftell(f);
    char *want = calloc(1, (size_t)n + 1), *doc = calloc(1, 1 << 20);
    rewind(f);
    size_t got = want ? fread(want, 1, (size_t)n, f) : 0;
    fclose(f);
    FILE *d = fopen("docs/model-format.md", "r");
    size_t dn = d && doc ? fread(doc, 1, (1 << 20) - 1, d) : 0;
    if (d)
        fclose(d);
    CHECK(got == (size_t)n && dn > 0, "could not read the table or docs/model-format.md");
    const char *begin = dn ? strstr(doc, "<!-- layers:begin") : NULL;
    const char *end = begin ? strstr(begin, "<!-- layers:end -->") : NULL;
    CHECK(begin && end, "docs/model-format.md has no layers:begin / layers:end markers");
    if (begin && end && want) {
        begin = strchr(begin, '\n') + 1;
        CHECK((size_t)(end - begin) == got && !memcmp(begin, want, got),
              "docs/model-format.md's layer table differs from the registry: regenerate it with "
              "`deepc layers --md`:\n%s", want);
    }
    free(want);
    free(doc);
}

TEST(registry_cli_layers_json_lists_every_type)
{
    static char out[1 << 16];
    int rc = t_run_deepc(out, sizeof out, "layers --json");
    CHECK(rc == 0, "deepc layers --json exited %d: %.300s", rc, out);
    for (int i = 0; i < dc_layer_count(); i++) {
        char want[80];
        snprintf(want, sizeof want, "{\"type\": \"%s\"", dc_layer_at(i)->type);
        CHECK(strstr(out, want) != NULL, "no %s in the JSON", want);
    }
    CHECK(t_run_deepc(out, sizeof out, "layers --yaml") == 2, "an unknown flag is not exit 2");
}

/* issue 14 item 16: a filter that matches nothing is an error naming it, with a suggestion. */
TEST(registry_gradcheck_unknown_op_is_an_error)
{
    char out[8192];
    int rc = t_run_deepc(out, sizeof out, "gradcheck nosuchop");
    CHECK(rc == 2, "deepc gradcheck nosuchop exited %d, want 2:\n%s", rc, out);
    CHECK(strstr(out, "'nosuchop'") && strstr(out, "conv2d") && !strstr(out, "0 passed"),
          "message: %s", out);
    rc = t_run_deepc(out, sizeof out, "gradcheck lstn");
    CHECK(rc == 2 && strstr(out, "did you mean 'lstm'"), "no suggestion (%d): %s", rc, out);
}

/* A layer type as the filter runs the cases its descriptor names, and only those. */
TEST(registry_gradcheck_by_layer_type)
{
    static char out[1 << 15];
    int rc = t_run_deepc(out, sizeof out, "gradcheck embedding");
    CHECK(rc == 0 && strstr(out, "embedding module") && !strstr(out, "conv2d"),
          "deepc gradcheck embedding (%d):\n%s", rc, out);
}

/* Every layer type's gradcheck pointer names existing cases; a layer with parameters has one. */
TEST(registry_every_layer_has_its_gradcheck_cases)
{
    for (int i = 0; i < dc_layer_count(); i++) {
        const dc_layer_desc *d = dc_layer_at(i);
        CHECK(d->gradcheck || !*d->params, "%s has parameters but no gradcheck cases", d->type);
        if (d->gradcheck)
            CHECK(gc_count(d->type) > 0, "%s: no gradcheck case matches '%s'", d->type,
                  d->gradcheck);
    }
    CHECK(gc_count("nosuchop") == 0 && gc_count(NULL) > 200, "filters: %d %d",
          gc_count("nosuchop"), gc_count(NULL));
}
