/*
 * test_mutants_io.c - readers' checks that `make mutate` found untested (tests/mutate/): each
 * test here kills a mutant that the rest of the suite let through.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "io/json.h"

#include <stdio.h>
#include <string.h>

/* A .safetensors file: u64 LE header length, the JSON header, then `data_bytes` bytes. */
static int write_st(const char *path, const char *json, size_t data_bytes)
{
    unsigned char len[8];
    size_t n = strlen(json);
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)n >> (8 * i));
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(json, 1, n, f) == n;
    for (size_t i = 0; ok && i < data_bytes; i++)
        ok = fputc(0, f) != EOF;
    return (fclose(f) == 0) & ok;
}

/* data_offsets must span exactly numel · itemsize bytes: a span larger than the tensor (here 12
 * bytes for two floats) is refused like a smaller one, not read as the first 8 of them
 * (mutant io_safetensors_offsets). */
TEST(safetensors_offsets_must_hold_exactly_the_tensor)
{
    const char *d = t_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/t.safetensors", d);
    static const struct { const char *end; size_t buf; const char *want; } cs[] = {
        {"8", 8, NULL}, {"12", 12, "hold 12 bytes"}, {"4", 8, "hold 4 bytes"},
        {"9", 12, "hold 9 bytes"},
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        char json[160];
        snprintf(json, sizeof json,
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,%s]}}", cs[i].end);
        REQUIRE(write_st(path, json, cs[i].buf));
        dc_clear_error();
        dc_tdict *t = dc_safetensors_read(path);
        if (!cs[i].want)
            CHECK(t && dc_tdict_get(t, "a"), "offsets [0, %s] refused: %s", cs[i].end,
                  dc_last_error());
        else
            CHECK(!t && strstr(dc_last_error(), cs[i].want), "offsets [0, %s] with a %zu-byte "
                  "buffer: %s", cs[i].end, cs[i].buf, t ? "accepted" : dc_last_error());
        dc_tdict_free(t);
    }
}

/* \uXXXX takes every hex digit in either case: 0-9, a-f and A-F, each decoded to its value
 * (mutant io_json_hex_digits; safetensors names and metadata go through this parser). */
TEST(json_unicode_escapes_take_hex_digits_in_both_cases)
{
    static const struct { const char *json, *utf8; } cs[] = {
        {"\"\\u00FF\\u00ff\"", "\xc3\xbf\xc3\xbf"},
        {"\"\\u0ABC\\u0abc\"", "\xe0\xaa\xbc\xe0\xaa\xbc"},
        {"\"\\u0DEF\\u0dEf\"", "\xe0\xb7\xaf\xe0\xb7\xaf"},
        {"\"\\u0F0F\\u09A8\"", "\xe0\xbc\x8f\xe0\xa6\xa8"},
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        dc_json doc;
        dc_status st = dc_json_parse(&doc, cs[i].json, strlen(cs[i].json));
        CHECK(st == DC_OK, "%s refused: %s", cs[i].json, dc_last_error());
        if (st != DC_OK)
            continue;
        CHECK(doc.nodes[0].type == DC_JSON_STRING && !strcmp(doc.nodes[0].s, cs[i].utf8),
              "%s decoded wrong", cs[i].json);
        dc_json_free(&doc);
    }
    dc_json doc;
    CHECK(dc_json_parse(&doc, "\"\\u00FG\"", 8) == DC_ERR_FORMAT, "\\u00FG accepted");
}
