/*
 * fuzz_vocab_wordpiece.c - libFuzzer harness for BERT's WordPiece: the vocab.txt reader
 * (dc_wordpiece_load) and the tokenizer (dc_wp_basic, dc_wordpiece_encode, dc_wordpiece_decode).
 *
 * Input: an option byte (bit 0 lower_case, bit 1 strip_accents forced on, bit 2 forced off,
 * bit 3 no CJK split, bit 4 no special-token split, bits 5-7 max_input_chars = 4 + 12 * value),
 * a little-endian u32 L, then L bytes of vocab.txt and the rest the text to tokenize. When the
 * vocabulary does not load, the text is tokenized with a small built-in one.
 *
 * Checks: a loaded vocabulary maps every token string to an id whose token is that string (the
 * last of its duplicates), every token is valid UTF-8 without a line break, [UNK] is there; the
 * basic tokenizer's words are non-empty valid UTF-8 with no whitespace; encoding gives ids inside
 * the vocabulary, the same ids twice, at most one id per byte of text plus one; decoding them
 * works.
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const builtin[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##a",
                                      "ab", "##b", "\xc3\xa9", "##\xc3\xa9", ".", "\xe4\xb8\xad"};

static int utf8_ok(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
                                 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (len == 0 || i + (size_t)len > n)
            return 0;
        for (int k = 1; k < len; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80)
                return 0;
        i += (size_t)len;
    }
    return 1;
}

static void check_vocab(const dc_wordpiece *wp)
{
    int64_t n = dc_wordpiece_size(wp);
    FUZZ_CHECK(n >= 1 && n <= DC_WP_MAX_TOKENS, "size %lld", (long long)n);
    FUZZ_CHECK(dc_wordpiece_special(wp, DC_WP_UNK) >= 0, "no [UNK] id");
    for (int64_t i = 0; i < n; i++) {
        const char *t = dc_wordpiece_token(wp, i);
        FUZZ_CHECK(t != NULL, "token %lld is NULL", (long long)i);
        size_t len = strlen(t);
        FUZZ_CHECK(utf8_ok(t, len) && !strchr(t, '\n') && !strchr(t, '\r'), "token %lld bad",
                   (long long)i);
        int64_t id = dc_wordpiece_id(wp, t);
        FUZZ_CHECK(id >= i && !strcmp(dc_wordpiece_token(wp, id), t),
                   "token %lld maps to id %lld", (long long)i, (long long)id);
    }
    FUZZ_CHECK(dc_wordpiece_token(wp, n) == NULL, "token past the end");
}

static void check_text(const dc_wordpiece *wp, const char *text, size_t n)
{
    dc_wp_opts o = dc_wordpiece_opts(wp);
    dc_wp_words w = {0};
    FUZZ_CHECK(dc_wp_basic(&o, text, n, &w) == DC_OK, "basic: %s", dc_last_error());
    for (int64_t i = 0; i < w.n; i++) {
        const char *s = w.buf + w.off[i];
        size_t len = strlen(s);
        FUZZ_CHECK(len > 0 && utf8_ok(s, len), "word %lld empty or not UTF-8", (long long)i);
        FUZZ_CHECK(!strpbrk(s, " \t\n\r"), "word %lld holds whitespace", (long long)i);
    }
    dc_wp_words_free(&w);
    dc_ids a = {0}, b = {0};
    FUZZ_CHECK(dc_wordpiece_encode(wp, text, n, &a) == DC_OK, "encode: %s", dc_last_error());
    FUZZ_CHECK(dc_wordpiece_encode(wp, text, n, &b) == DC_OK, "encode: %s", dc_last_error());
    FUZZ_CHECK(a.n == b.n && (a.n == 0 || !memcmp(a.ids, b.ids, (size_t)a.n * sizeof *a.ids)),
               "two encodings differ");
    FUZZ_CHECK((size_t)a.n <= n + 1, "%lld ids for %zu bytes", (long long)a.n, n);
    for (int64_t i = 0; i < a.n; i++)
        FUZZ_CHECK(a.ids[i] >= 0 && a.ids[i] < dc_wordpiece_size(wp), "id %lld",
                   (long long)a.ids[i]);
    char *s = NULL;
    FUZZ_CHECK(dc_wordpiece_decode(wp, a.ids, a.n, DC_WP_CLEANUP, &s) == DC_OK, "decode: %s",
               dc_last_error());
    free(s);
    dc_ids_free(&a);
    dc_ids_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t opt = fuzz_byte(&data, &size);
    uint32_t L = fuzz_u32(&data, &size);
    if (L > size)
        L = (uint32_t)size;
    dc_wp_opts o = dc_wp_defaults();
    o.lower_case = opt & 1;
    o.strip_accents = opt & 2 ? 1 : opt & 4 ? 0 : -1;
    o.chinese_chars = !(opt & 8);
    o.split_special = !(opt & 16);
    o.max_input_chars = 4 + 12 * (opt >> 5);
    const char *path = fuzz_tmp_write(0, data, L);
    dc_clear_error();
    dc_wordpiece *wp = dc_wordpiece_load(path, &o);
    if (!wp) {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "no error message");
        dc_clear_error();
        wp = dc_wordpiece_new(builtin, (int64_t)(sizeof builtin / sizeof *builtin), &o);
        FUZZ_CHECK(wp != NULL, "built-in vocabulary: %s", dc_last_error());
    } else {
        check_vocab(wp);
    }
    check_text(wp, (const char *)data + L, size - L);
    dc_wordpiece_free(wp);
    return 0;
}
