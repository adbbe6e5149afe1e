/*
 * test_wordpiece.c - BERT's WordPiece tokenizer: a parity table of hand-checked cases, one or
 * more per rule of Hugging Face's BasicTokenizer (clean, whitespace, CJK, NFC, lower-casing,
 * accent stripping, punctuation, special tokens), greedy longest-match "##" splitting and [UNK],
 * decoding, the vocab.txt reader and writer (hardening included), and vocabulary training.
 * The expected words were written from the rules (docs/bert.md) and checked against Python's
 * unicodedata where a rule depends on it.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdlib.h>
#include <string.h>

/* The words of the basic tokenizer joined by single spaces into buf. */
static const char *basic_join(const dc_wp_opts *o, const char *text, char *buf, size_t size)
{
    dc_wp_words w = {0};
    buf[0] = '\0';
    if (dc_wp_basic(o, text, strlen(text), &w) != DC_OK)
        return "(error)";
    size_t k = 0;
    for (int64_t i = 0; i < w.n; i++)
        k += (size_t)snprintf(buf + k, k < size ? size - k : 0, "%s%s", i ? " " : "",
                              w.buf + w.off[i]);
    dc_wp_words_free(&w);
    return buf;
}

/* Option variants of the table. */
enum { UNCASED, CASED, CASED_STRIP, LOWER_KEEP_ACCENTS, NO_CJK };

static dc_wp_opts variant(int v)
{
    dc_wp_opts o = dc_wp_defaults();
    o.lower_case = v == UNCASED || v == LOWER_KEEP_ACCENTS || v == NO_CJK;
    o.strip_accents = v == CASED_STRIP ? 1 : v == LOWER_KEEP_ACCENTS ? 0 : -1;
    o.chinese_chars = v != NO_CJK;
    return o;
}

static const struct {
    const char *rule, *text;
    int opts;
    const char *want;
} basic_cases[] = {
    {"lower-case, split punctuation", "Hello, World!", UNCASED, "hello , world !"},
    {"ASCII symbols are punctuation", "a$b^c`d~e|f", UNCASED, "a $ b ^ c ` d ~ e | f"},
    {"Unicode P* is punctuation", "a\u2014b\u00abc\u00bbd\u00bfe\u3001f", UNCASED,
     "a \u2014 b \u00ab c \u00bb d \u00bf e \u3001 f"},
    {"S* outside ASCII is not", "a\u00a9b\u20acc+d", UNCASED, "a\u00a9b\u20acc + d"},
    {"accents stripped (Latin)",
     "H\u00e9llo Na\u00efve \u00c0\u00c9\u00ce\u00d5\u00dc \u00c5ngstr\u00f6m", UNCASED,
     "hello naive aeiou angstrom"},
    {"Greek and Cyrillic, final sigma",
     "\u1f08\u03b8\u1fc6\u03bd\u03b1\u03b9 \u039f\u0394\u039f\u03a3 "
     "\u041c\u043e\u0441\u043a\u0432\u0430 \u0401\u0436\u0438\u043a",
     UNCASED, "\u03b1\u03b8\u03b7\u03bd\u03b1\u03b9 \u03bf\u03b4\u03bf\u03c2 "
              "\u043c\u043e\u0441\u043a\u0432\u0430 \u0435\u0436\u0438\u043a"},
    {"control and format characters dropped", "a\x01" "b\x7f" "c d\u200b" "e", UNCASED, "abc de"},
    {"whitespace: tab, LF, CR, Zs, U+2028", "a\tb\nc\rd\u00a0e\u3000f\u2028g", UNCASED,
     "a b c d e f g"},
    {"CJK ideographs are words, kana is not",
     "\u4e2d\u6587abc\u65e5\u672c\u8a9e \u3072\u3089\u304c\u306a", UNCASED,
     "\u4e2d \u6587 abc \u65e5 \u672c \u8a9e \u3072\u3089\u304b\u306a"},
    {"CJK split off", "\u4e2d\u6587", NO_CJK, "\u4e2d\u6587"},
    {"invalid UTF-8 and U+FFFD dropped inside a word", "caf\xff\xfe" "e ab\xc3 x\xef\xbf\xbdy",
     UNCASED, "cafe ab xy"},
    {"NFC composes e + U+0301", "e\u0301", CASED, "\u00e9"},
    {"NFC with reordered marks", "a\u0323\u0302 o\u0302\u0323", CASED, "\u1ead \u1ed9"},
    {"NFC singletons (Angstrom, Ohm)", "\u212b \u2126", CASED, "\u00c5 \u03a9"},
    {"cased keeps accents", "H\u00e9llo", CASED, "H\u00e9llo"},
    {"strip_accents without lower-casing", "H\u00e9llo", CASED_STRIP, "Hello"},
    {"lower-casing, strip_accents off", "H\u00e9llo", LOWER_KEEP_ACCENTS, "h\u00e9llo"},
    {"U+0130, sharp s, final sigma", "\u0130stanbul Stra\u00dfe \u03a3\u0391\u03a3", UNCASED,
     "istanbul stra\u00dfe \u03c3\u03b1\u03c2"},
    {"final sigma looks past case-ignorable characters",
     "\u0391\u03a3\u0301 \u0391\u03a3'\u0391 \u0391'\u03a3", UNCASED,
     "\u03b1\u03c2 \u03b1\u03c3 ' \u03b1 \u03b1 ' \u03c2"},
    {"no compatibility mapping", "\uff21\uff22\uff23 \ufb01", UNCASED, "\uff41\uff42\uff43 \ufb01"},
    {"Hangul decomposed by strip_accents", "\ud55c\uad6d", UNCASED,
     "\u1112\u1161\u11ab\u1100\u116e\u11a8"},
    {"Hangul kept composed when cased", "\ud55c\uad6d", CASED, "\ud55c\uad6d"},
    {"special tokens stay whole anywhere", "[CLS]Hello[SEP] x[MASK]. [mask] [PAD][UNK]", UNCASED,
     "[CLS] hello [SEP] x [MASK] . [ mask ] [PAD] [UNK]"},
    {"empty and blank texts", " \t\n ", UNCASED, ""},
};

TEST(wordpiece_basic_tokenizer_parity_table)
{
    char buf[1024];
    for (size_t i = 0; i < sizeof basic_cases / sizeof *basic_cases; i++) {
        dc_wp_opts o = variant(basic_cases[i].opts);
        const char *got = basic_join(&o, basic_cases[i].text, buf, sizeof buf);
        CHECK(!strcmp(got, basic_cases[i].want), "%s: '%s' -> '%s', expected '%s'",
              basic_cases[i].rule, basic_cases[i].text, got, basic_cases[i].want);
    }
    /* a NUL inside the text (the table's strings stop at one) */
    dc_wp_words w = {0};
    REQUIRE(dc_wp_basic(NULL, "ab\0cd", 5, &w) == DC_OK);
    CHECK(w.n == 1 && !strcmp(w.buf, "abcd"), "NUL inside a word: %lld words, '%s'",
          (long long)w.n, w.n ? w.buf : "");
    dc_wp_words_free(&w);
}

static const char *const small_vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "a", "##b", "##bc",
    "abc", "##c", "runn", "##ing", "run", "##n", ".", ",", "the", "##a", "\u00e9", "##\u00e9",
    "!", "'", "s", "##s"};
#define N_SMALL ((int64_t)(sizeof small_vocab / sizeof *small_vocab))

/* The tokens of text joined by spaces. */
static const char *encode_join(const dc_wordpiece *wp, const char *text, char *buf, size_t size)
{
    dc_ids ids = {0};
    buf[0] = '\0';
    if (dc_wordpiece_encode(wp, text, strlen(text), &ids) != DC_OK)
        return "(error)";
    size_t k = 0;
    for (int64_t i = 0; i < ids.n; i++)
        k += (size_t)snprintf(buf + k, k < size ? size - k : 0, "%s%s", i ? " " : "",
                              dc_wordpiece_token(wp, ids.ids[i]));
    dc_ids_free(&ids);
    return buf;
}

TEST(wordpiece_greedy_longest_match_and_unk)
{
    dc_wordpiece *wp = dc_wordpiece_new(small_vocab, N_SMALL, NULL);
    REQUIRE(wp);
    static const struct { const char *text, *want; } cases[] = {
        {"unaffable", "un ##aff ##able"},
        {"running", "runn ##ing"},          /* the longest prefix, not the first */
        {"runn", "runn"},
        {"abc", "abc"},                     /* a whole-word match beats a + ##bc */
        {"abcc", "abc ##c"},
        {"abbc", "a ##b ##bc"},
        {"unx", "[UNK]"},                   /* a word that cannot be covered is one [UNK] */
        {"the, unaffable.", "the , un ##aff ##able ."},
        {"The RUNNING!", "the runn ##ing !"},
        {"it's", "[UNK] ' s"},
        {"", ""},
    };
    char buf[4096];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *got = encode_join(wp, cases[i].text, buf, sizeof buf);
        CHECK(!strcmp(got, cases[i].want), "'%s' -> '%s', expected '%s'", cases[i].text, got,
              cases[i].want);
    }
    CHECK(dc_wordpiece_special(wp, DC_WP_MASK) == 4 && dc_wordpiece_special(wp, DC_WP_UNK) == 1,
          "special ids %lld %lld", (long long)dc_wordpiece_special(wp, DC_WP_MASK),
          (long long)dc_wordpiece_special(wp, DC_WP_UNK));
    /* max_input_chars counts characters: 100 'a' split, 101 are [UNK] */
    char word[512];
    memset(word, 'a', 101);
    word[100] = '\0';
    dc_ids ids = {0};
    REQUIRE(dc_wordpiece_encode(wp, word, 100, &ids) == DC_OK);
    CHECK(ids.n == 100 && ids.ids[0] == 8 && ids.ids[99] == 20, "100 chars: %lld ids",
          (long long)ids.n);
    ids.n = 0;
    word[100] = 'a';
    REQUIRE(dc_wordpiece_encode(wp, word, 101, &ids) == DC_OK);
    CHECK(ids.n == 1 && ids.ids[0] == 1, "101 chars: %lld ids, first %lld (expected one [UNK])",
          (long long)ids.n, (long long)(ids.n ? ids.ids[0] : -1));
    dc_wordpiece_free(wp);
    /* 100 two-byte characters (200 bytes) are still 100 characters: not [UNK] */
    dc_wp_opts cased = variant(CASED);
    wp = dc_wordpiece_new(small_vocab, N_SMALL, &cased);
    REQUIRE(wp);
    for (int i = 0; i < 100; i++)
        memcpy(word + 2 * i, "\u00e9", 2);
    ids.n = 0;
    REQUIRE(dc_wordpiece_encode(wp, word, 200, &ids) == DC_OK);
    CHECK(ids.n == 100 && ids.ids[0] == 21 && ids.ids[1] == 22, "100 x U+00E9: %lld ids, %lld %lld",
          (long long)ids.n, (long long)ids.ids[0], (long long)(ids.n > 1 ? ids.ids[1] : -1));
    /* backing off goes by whole characters: "é" is a prefix of "éx" */
    CHECK(!strcmp(encode_join(wp, "\u00e9\u00e9", buf, sizeof buf), "\u00e9 ##\u00e9"),
          "'\u00e9\u00e9' -> '%s'", buf);
    CHECK(!strcmp(encode_join(wp, "Run", buf, sizeof buf), "[UNK]"), "cased 'Run' -> '%s'", buf);
    dc_ids_free(&ids);
    dc_wordpiece_free(wp);
}

TEST(wordpiece_decode_joins_pieces)
{
    dc_wordpiece *wp = dc_wordpiece_new(small_vocab, N_SMALL, NULL);
    REQUIRE(wp);
    const int64_t ids[] = {2, 19, 5, 6, 7, 18, 13, 14, 17, 1, 3};
    char *s = NULL;
    REQUIRE(dc_wordpiece_decode(wp, ids, 11, DC_WP_SKIP_SPECIAL | DC_WP_CLEANUP, &s) == DC_OK);
    CHECK(!strcmp(s, "the unaffable, running."), "decode: '%s'", s);
    free(s);
    REQUIRE(dc_wordpiece_decode(wp, ids, 11, 0, &s) == DC_OK);
    CHECK(!strcmp(s, "[CLS] the unaffable , running . [UNK] [SEP]"), "decode raw: '%s'", s);
    free(s);
    const int64_t lead[] = {6, 8, 9};
    REQUIRE(dc_wordpiece_decode(wp, lead, 3, 0, &s) == DC_OK);
    CHECK(!strcmp(s, "##aff ab"), "a leading piece keeps its ##: '%s'", s);
    free(s);
    const int64_t bad[] = {0, N_SMALL};
    CHECK(dc_wordpiece_decode(wp, bad, 2, 0, &s) == DC_ERR_ARG &&
              strstr(dc_last_error(), "position 1"), "bad id: %s", dc_last_error());
    dc_wordpiece_free(wp);
}

/* Write bytes to dir/name; the path in p. */
static const char *write_file(char *p, size_t size, const char *dir, const char *name,
                              const char *bytes, size_t n)
{
    snprintf(p, size, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite(bytes, 1, n, f);
        fclose(f);
    }
    return p;
}

TEST(wordpiece_vocab_txt_round_trip_and_line_rules)
{
    char dir[400], p[512], q[512];
    snprintf(dir, sizeof dir, "%s", t_tmpdir());
    /* CRLF lines, no final newline, a duplicate ("a" on lines 7 and 9 maps to id 8) */
    const char text[] = "[PAD]\r\n[UNK]\r\n[CLS]\n[SEP]\n[MASK]\nhello\na\n##b\na\n\u00e9t\u00e9";
    dc_wordpiece *wp = dc_wordpiece_load(write_file(p, sizeof p, dir, "v.txt", text,
                                                    sizeof text - 1), NULL);
    REQUIRE(wp);
    CHECK(dc_wordpiece_size(wp) == 10, "size %lld, expected 10", (long long)dc_wordpiece_size(wp));
    CHECK(dc_wordpiece_id(wp, "[UNK]") == 1 && dc_wordpiece_id(wp, "hello") == 5,
          "[UNK] %lld hello %lld", (long long)dc_wordpiece_id(wp, "[UNK]"),
          (long long)dc_wordpiece_id(wp, "hello"));
    CHECK(dc_wordpiece_id(wp, "a") == 8 && !strcmp(dc_wordpiece_token(wp, 6), "a"),
          "duplicate: id of 'a' %lld (expected the later line, 8)",
          (long long)dc_wordpiece_id(wp, "a"));
    CHECK(dc_wordpiece_id(wp, "\u00e9t\u00e9") == 9, "last line without newline: %lld",
          (long long)dc_wordpiece_id(wp, "\u00e9t\u00e9"));
    CHECK(dc_wordpiece_token(wp, 10) == NULL && dc_wordpiece_token(wp, -1) == NULL,
          "ids outside the vocabulary must give NULL");
    snprintf(q, sizeof q, "%s/saved.txt", dir);
    REQUIRE(dc_wordpiece_save(wp, q) == DC_OK);
    dc_wordpiece *w2 = dc_wordpiece_load(q, NULL);
    REQUIRE(w2);
    CHECK(dc_wordpiece_size(w2) == 10, "reloaded size %lld", (long long)dc_wordpiece_size(w2));
    for (int64_t i = 0; i < 10 && i < dc_wordpiece_size(w2); i++)
        CHECK(!strcmp(dc_wordpiece_token(wp, i), dc_wordpiece_token(w2, i)),
              "token %lld: '%s' vs '%s'", (long long)i, dc_wordpiece_token(wp, i),
              dc_wordpiece_token(w2, i));
    FILE *f = fopen(q, "rb");
    char back[256] = {0};
    size_t nb = f ? fread(back, 1, sizeof back - 1, f) : 0;
    if (f)
        fclose(f);
    CHECK(nb > 0 && !strcmp(back, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\na\n##b\na\n"
                                  "\u00e9t\u00e9\n"), "saved file: '%s'", back);
    dc_wordpiece_free(wp);
    dc_wordpiece_free(w2);
}

TEST(wordpiece_vocab_txt_hardened)
{
    char dir[400], p[512];
    snprintf(dir, sizeof dir, "%s", t_tmpdir());
    static const struct { const char *name, *bytes; size_t n; const char *want; } bad[] = {
        {"utf8.txt", "[UNK]\nok\nbad\xc3(\n", 15, "line 3: bytes that are not UTF-8"},
        {"overlong.txt", "[UNK]\n\xc0\xaf\n", 9, "line 2: bytes that are not UTF-8"},
        {"surrogate.txt", "[UNK]\n\xed\xa0\x80\n", 10, "line 2: bytes that are not UTF-8"},
        {"nul.txt", "[UNK]\na\0b\n", 10, "line 2: a NUL byte"},
        {"nounk.txt", "[PAD]\nhello\n", 12, "no [UNK] token"},
        {"empty.txt", "", 0, "empty vocabulary"},
        {"cr.txt", "[UNK]\na\rb\n", 10, "line 2: a line break inside a token"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dc_clear_error();
        dc_wordpiece *wp = dc_wordpiece_load(write_file(p, sizeof p, dir, bad[i].name,
                                                        bad[i].bytes, bad[i].n), NULL);
        CHECK(!wp && dc_last_status() == DC_ERR_FORMAT && strstr(dc_last_error(), bad[i].want) &&
                  strstr(dc_last_error(), bad[i].name),
              "%s: %s (expected DC_ERR_FORMAT naming the file and '%s')", bad[i].name,
              wp ? "loaded" : dc_last_error(), bad[i].want);
        dc_wordpiece_free(wp);
    }
    char *big = malloc(2000);
    REQUIRE(big);
    memcpy(big, "[UNK]\n", 6);
    memset(big + 6, 'x', 1500);
    big[1506] = '\n';
    dc_wordpiece *wp = dc_wordpiece_load(write_file(p, sizeof p, dir, "long.txt", big, 1507),
                                         NULL);
    CHECK(!wp && strstr(dc_last_error(), "line 2: a token longer than 1024 bytes"),
          "long token: %s", wp ? "loaded" : dc_last_error());
    free(big);
    snprintf(p, sizeof p, "%s/missing.txt", dir);
    CHECK(!dc_wordpiece_load(p, NULL) && dc_last_status() == DC_ERR_IO, "missing file: %s",
          dc_last_error());
    CHECK(!dc_wordpiece_load(dir, NULL) && dc_last_status() == DC_ERR_IO, "a directory: %s",
          dc_last_error());
    const char *nl[] = {"[UNK]", "a\nb"};
    CHECK(!dc_wordpiece_new(nl, 2, NULL) && dc_last_status() == DC_ERR_ARG,
          "a token with a newline must be refused: %s", dc_last_error());
}

TEST(wordpiece_train_merges_by_count_then_id)
{
    /* words: aaa (1), ab (3). Alphabet: a, ##a, ##b (ids 5-7). Pairs: (a,##b) 3, (a,##a) 1,
     * (##a,##a) 1: "ab" first; then the tie between (a,##a) and (##a,##a) goes to the smaller
     * left id: "aa"; then (aa,##a): "aaa". */
    const char *texts[] = {"aaa ab [MASK]", "AB ab"}; /* [MASK] is not counted as a word */
    size_t lens[] = {13, 5};
    dc_wp_train_opts o = dc_wp_train_defaults();
    o.vocab_size = 100;
    o.min_frequency = 1;
    dc_wordpiece *wp = dc_wordpiece_train(texts, lens, 2, &o);
    REQUIRE(wp);
    const char *want[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##a", "##b", "ab",
                          "aa", "aaa"};
    CHECK(dc_wordpiece_size(wp) == 11, "size %lld, expected 11", (long long)dc_wordpiece_size(wp));
    for (int64_t i = 0; i < 11 && i < dc_wordpiece_size(wp); i++)
        CHECK(!strcmp(dc_wordpiece_token(wp, i), want[i]), "token %lld: '%s', expected '%s'",
              (long long)i, dc_wordpiece_token(wp, i), want[i]);
    dc_wordpiece_free(wp);
    o.min_frequency = 2; /* only (a,##b) occurs twice */
    wp = dc_wordpiece_train(texts, lens, 2, &o);
    REQUIRE(wp);
    CHECK(dc_wordpiece_size(wp) == 9, "min_frequency 2: size %lld, expected 9",
          (long long)dc_wordpiece_size(wp));
    dc_wordpiece_free(wp);
    o.vocab_size = 7; /* 5 specials + 3 characters do not fit */
    CHECK(!dc_wordpiece_train(texts, lens, 2, &o) && dc_last_status() == DC_ERR_ARG &&
              strstr(dc_last_error(), "need a vocabulary of 8"), "too small: %s", dc_last_error());
}

TEST(wordpiece_train_is_deterministic_and_covers_its_corpus)
{
    const char *texts[] = {"The quick brown fox jumps over the lazy dog. The dog sleeps; "
                           "the fox jumps again, quickly and quietly, over the sleeping dogs.",
                           "Jumping foxes and lazy dogs: a quick study of brown animals."};
    size_t lens[] = {strlen(texts[0]), strlen(texts[1])};
    dc_wp_train_opts o = dc_wp_train_defaults();
    o.vocab_size = 60;
    dc_wordpiece *a = dc_wordpiece_train(texts, lens, 2, &o);
    dc_wordpiece *b = dc_wordpiece_train(texts, lens, 2, &o);
    REQUIRE(a && b);
    CHECK(dc_wordpiece_size(a) == 60 && dc_wordpiece_size(b) == 60, "sizes %lld %lld",
          (long long)dc_wordpiece_size(a), (long long)dc_wordpiece_size(b));
    for (int64_t i = 0; i < dc_wordpiece_size(a) && i < dc_wordpiece_size(b); i++)
        CHECK(!strcmp(dc_wordpiece_token(a, i), dc_wordpiece_token(b, i)),
              "token %lld differs between runs: '%s' '%s'", (long long)i,
              dc_wordpiece_token(a, i), dc_wordpiece_token(b, i));
    CHECK(dc_wordpiece_id(a, "the") >= 0, "'the' (the most frequent word) was not learnt");
    dc_ids ids = {0};
    REQUIRE(dc_wordpiece_encode(a, texts[1], lens[1], &ids) == DC_OK);
    for (int64_t i = 0; i < ids.n; i++)
        CHECK(ids.ids[i] != dc_wordpiece_special(a, DC_WP_UNK),
              "token %lld of the training text is [UNK]", (long long)i);
    char *back = NULL;
    REQUIRE(dc_wordpiece_decode(a, ids.ids, ids.n, DC_WP_CLEANUP, &back) == DC_OK);
    CHECK(!strcmp(back, "jumping foxes and lazy dogs : a quick study of brown animals."),
          "decode(encode(text)) = '%s'", back);
    free(back);
    dc_ids_free(&ids);
    dc_wordpiece_free(a);
    dc_wordpiece_free(b);
}

/* Hex digits s into bytes out (room for strlen(s) / 2 + 1); the length. */
static size_t unhex(const char *s, char *out)
{
    size_t n = 0;
    for (; s[0] && s[1] && s[0] != '\t' && s[0] != '\n'; s += 2) {
        unsigned v = 0;
        sscanf(s, "%2x", &v);
        out[n++] = (char)v;
    }
    out[n] = '\0';
    return n;
}

TEST(wordpiece_basic_tokenizer_matches_reference_rules)
{
    /* tests/ref/gen_wordpiece.py: 1500 random texts through transformers' BasicTokenizer rules
     * restated over Python's unicodedata */
    char path[1024];
    snprintf(path, sizeof path, "%s/basic.tsv", t_ref_dir("wordpiece"));
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    char line[4096], text[2048], want[2048], got[4096];
    int n = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        char *a = strchr(line, '\t'), *b = a ? strchr(a + 1, '\t') : NULL;
        if (!b)
            continue;
        size_t len = unhex(a + 1, text);
        unhex(b + 1, want);
        int k = atoi(line);
        dc_wp_opts o = variant(k == 0 ? UNCASED : k == 1 ? CASED : k == 2 ? CASED_STRIP
                               : k == 3 ? LOWER_KEEP_ACCENTS : NO_CJK);
        dc_wp_words w = {0};
        REQUIRE(dc_wp_basic(&o, text, len, &w) == DC_OK);
        size_t m = 0;
        got[0] = '\0';
        for (int64_t i = 0; i < w.n; i++)
            m += (size_t)snprintf(got + m, m < sizeof got ? sizeof got - m : 0, "%s%s",
                                  i ? " " : "", w.buf + w.off[i]);
        dc_wp_words_free(&w);
        n++;
        if (strcmp(got, want) && bad++ < 5)
            CHECK(0, "case %d (options %d): '%s' -> '%s', expected '%s'", n, k, text, got, want);
    }
    fclose(f);
    CHECK(n == 1500 && bad == 0, "%d of %d reference cases differ", bad, n);
}

TEST(wordpiece_encode_matches_hugging_face_tokenizers)
{
    /* tests/ref/gen_wordpiece_hf.js: ids from Hugging Face's tokenizers library (Rust core:
     * BertNormalizer + BertPreTokenizer + WordPiece) with a vocabulary deepc trained */
    char path[1024];
    snprintf(path, sizeof path, "%s/hf_vocab.txt", t_ref_dir("wordpiece"));
    dc_wordpiece *wp = dc_wordpiece_load(path, NULL);
    REQUIRE(wp);
    snprintf(path, sizeof path, "%s/hf_ids.tsv", t_ref_dir("wordpiece"));
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    static char line[16384], text[8192];
    int n = 0, bad = 0, n_unk = 0;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        size_t len = unhex(line, text);
        dc_ids ids = {0};
        REQUIRE(dc_wordpiece_encode(wp, text, len, &ids) == DC_OK);
        char *p = tab + 1, *end;
        int64_t k = 0;
        int same = 1;
        for (long long v = strtoll(p, &end, 10); end != p; v = strtoll(p, &end, 10), k++) {
            same = same && k < ids.n && ids.ids[k] == v;
            n_unk += v == 1;
            p = end;
        }
        same = same && k == ids.n;
        n++;
        if (!same && bad++ < 3)
            CHECK(0, "text %d ('%.80s'): %lld ids, Hugging Face has %lld, or they differ", n,
                  text, (long long)ids.n, (long long)k);
        dc_ids_free(&ids);
    }
    fclose(f);
    CHECK(n == 240 && bad == 0 && n_unk > 0, "%d of %d texts differ (%d [UNK] in the reference)",
          bad, n, n_unk);
    dc_wordpiece_free(wp);
}
