/*
 * test_text.c - text for character models: the byte vocabulary and its file format (round trip
 * and malformed files), loading a file or a directory, the train/validation split, B-stream
 * chunks for truncated BPTT, and sampling from logits.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* dir/name into buf (t_tmpdir() makes a new directory at every call: take it once per test). */
static const char *tmp_path(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

TEST(text_vocab_build_is_sorted_and_maps_both_ways)
{
    const char *s = "hello, world";
    dc_vocab v;
    REQUIRE(dc_vocab_build((const uint8_t *)s, strlen(s), &v) == DC_OK);
    const char *want = " ,dehlorw";
    CHECK(v.n == (int)strlen(want), "n = %d, expected %zu", v.n, strlen(want));
    for (int i = 0; i < v.n && i < (int)strlen(want); i++) {
        CHECK(v.to_byte[i] == (uint8_t)want[i], "id %d -> '%c', expected '%c'", i, v.to_byte[i],
              want[i]);
        CHECK(v.to_id[(uint8_t)want[i]] == i, "'%c' -> %d, expected %d", want[i],
              v.to_id[(uint8_t)want[i]], i);
    }
    CHECK(v.to_id['z'] == -1 && v.to_id[0] == -1, "absent bytes must map to -1");
    int64_t ids[12];
    REQUIRE(dc_vocab_encode(&v, (const uint8_t *)s, 12, ids) == DC_OK);
    CHECK(ids[0] == 4 && ids[1] == 3 && ids[5] == 1 && ids[6] == 0, "encode: %lld %lld %lld %lld",
          (long long)ids[0], (long long)ids[1], (long long)ids[5], (long long)ids[6]);
    CHECK(dc_vocab_encode(&v, (const uint8_t *)"hz", 2, ids) == DC_ERR_ARG &&
              strstr(dc_last_error(), "offset 1") && strstr(dc_last_error(), "0x7a"),
          "unknown byte: %s", dc_last_error());
    CHECK(dc_vocab_build((const uint8_t *)s, 0, &v) == DC_ERR_ARG, "empty text accepted");
}

TEST(text_vocab_save_load_round_trip_all_256_bytes)
{
    uint8_t all[300];
    for (int i = 0; i < 300; i++)
        all[i] = (uint8_t)(255 - i % 256);
    char dir[400], p[512];
    snprintf(dir, sizeof dir, "%s", t_tmpdir());
    tmp_path(p, sizeof p, dir, "all.vocab");
    dc_vocab v, w;
    REQUIRE(dc_vocab_build(all, sizeof all, &v) == DC_OK);
    CHECK(v.n == 256, "n = %d", v.n);
    REQUIRE(dc_vocab_save(&v, p) == DC_OK);
    REQUIRE(dc_vocab_load(p, &w) == DC_OK);
    CHECK(w.n == 256 && memcmp(v.to_byte, w.to_byte, 256) == 0 &&
              memcmp(v.to_id, w.to_id, sizeof v.to_id) == 0, "256-byte vocab differs after load");

    const char *s = "\n\tabcABC~";
    tmp_path(p, sizeof p, dir, "small.vocab");
    REQUIRE(dc_vocab_build((const uint8_t *)s, strlen(s), &v) == DC_OK);
    REQUIRE(dc_vocab_save(&v, p) == DC_OK);
    memset(&w, 0x55, sizeof w);
    REQUIRE(dc_vocab_load(p, &w) == DC_OK);
    CHECK(w.n == 9 && memcmp(v.to_byte, w.to_byte, 9) == 0 &&
              memcmp(v.to_id, w.to_id, sizeof v.to_id) == 0, "small vocab differs after load");
    /* the documented format, byte for byte */
    FILE *f = fopen(p, "rb");
    char buf[256] = {0};
    REQUIRE(f != NULL);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    CHECK(got > 0 && strcmp(buf, "deepc-vocab 1\n9\n09\n0a\n41\n42\n43\n61\n62\n63\n7e\n") == 0,
          "file text: '%s'", buf);
    /* a hand-written file in another order, uppercase hex, no final newline */
    REQUIRE(t_write_text(p, "deepc-vocab 1\n3\n7A\n0a\n41"));
    REQUIRE(dc_vocab_load(p, &w) == DC_OK);
    CHECK(w.n == 3 && w.to_byte[0] == 'z' && w.to_id['\n'] == 1 && w.to_id['A'] == 2,
          "hand-written vocab read wrong");
}

/* Load text as a vocabulary file; check it fails with DC_ERR_FORMAT and a message with the path
 * and `want`, and leaves *out untouched. */
static void check_bad_vocab(const char *dir, const char *name, const char *text,
                            const char *want)
{
    char p[512];
    tmp_path(p, sizeof p, dir, name);
    if (!t_write_text(p, text)) {
        CHECK(0, "cannot write %s", p);
        return;
    }
    dc_vocab v;
    memset(&v, 0x5a, sizeof v);
    dc_status st = dc_vocab_load(p, &v);
    CHECK(st == DC_ERR_FORMAT, "%s: status %s (%s)", name, dc_status_str(st), dc_last_error());
    CHECK(strstr(dc_last_error(), p) != NULL, "%s: message does not name the file: %s", name,
          dc_last_error());
    CHECK(strstr(dc_last_error(), want) != NULL, "%s: message lacks '%s': %s", name, want,
          dc_last_error());
    CHECK(v.n == 0x5a5a5a5a, "%s: output changed on failure", name);
}

TEST(text_vocab_load_rejects_malformed_files)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s", t_tmpdir());
    check_bad_vocab(dir, "empty.vocab", "", "deepc-vocab 1");
    check_bad_vocab(dir, "magic.vocab", "deepc-vocab 2\n1\n61\n", "line 1");
    check_bad_vocab(dir, "trunc.vocab", "deepc-vocab 1\n3\n61\n62\n", "truncated");
    check_bad_vocab(dir, "trunc2.vocab", "deepc-vocab 1\n", "line 2");
    check_bad_vocab(dir, "dup.vocab", "deepc-vocab 1\n3\n61\n62\n61\n", "appears twice");
    check_bad_vocab(dir, "dup2.vocab", "deepc-vocab 1\n3\n61\n62\n61\n", "line 5");
    check_bad_vocab(dir, "many.vocab", "deepc-vocab 1\n257\n00\n", "1 to 256");
    check_bad_vocab(dir, "extra.vocab", "deepc-vocab 1\n2\n61\n62\n63\n", "more entries");
    check_bad_vocab(dir, "zero.vocab", "deepc-vocab 1\n0\n", "1 to 256");
    check_bad_vocab(dir, "count.vocab", "deepc-vocab 1\n-3\n61\n", "line 2");
    check_bad_vocab(dir, "hex.vocab", "deepc-vocab 1\n2\n61\ng1\n", "line 4");
    check_bad_vocab(dir, "long.vocab", "deepc-vocab 1\n1\n612\n", "two hex digits");
    /* 300 distinct-looking lines: over the count, and a 5000-byte file over the size limit */
    char big[5200];
    size_t k = (size_t)snprintf(big, sizeof big, "deepc-vocab 1\n256\n");
    for (int i = 0; i < 300 && k + 4 < sizeof big; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "%02x\n", i % 256);
    check_bad_vocab(dir, "toomany.vocab", big, "more entries");
    while (k + 1 < 5100)
        big[k++] = '\n';
    big[k] = '\0';
    check_bad_vocab(dir, "huge.vocab", big, "too large");
    char p[512];
    dc_vocab v;
    CHECK(dc_vocab_load(tmp_path(p, sizeof p, dir, "missing.vocab"), &v) == DC_ERR_IO &&
              strstr(dc_last_error(), "missing.vocab"), "missing file: %s", dc_last_error());
}

TEST(text_load_reads_a_file_and_a_directory_skipping_dat_and_symlinks)
{
    char root[400], dir[512], p[600];
    snprintf(root, sizeof root, "%s", t_tmpdir());
    snprintf(dir, sizeof dir, "%s/fortunes", root);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/sub'", dir);
    REQUIRE(system(cmd) == 0);
    snprintf(p, sizeof p, "%s/b-jokes", dir);
    REQUIRE(t_write_text(p, "B1\n%\n"));
    snprintf(p, sizeof p, "%s/a-art", dir);
    REQUIRE(t_write_text(p, "A1\n%\n"));
    snprintf(p, sizeof p, "%s/a-art.dat", dir);
    REQUIRE(t_write_text(p, "\x01\x02INDEX"));
    snprintf(p, sizeof p, "%s/.hidden", dir);
    REQUIRE(t_write_text(p, "HIDDEN"));
    snprintf(p, sizeof p, "%s/sub/c", dir);
    REQUIRE(t_write_text(p, "SUB"));
    snprintf(p, sizeof p, "%s/a-art.u8", dir);
    REQUIRE(symlink("a-art", p) == 0);

    uint8_t *text = NULL;
    size_t n = 0;
    REQUIRE(dc_text_load(dir, 0, &text, &n) == DC_OK);
    CHECK(n == 10 && memcmp(text, "A1\n%\nB1\n%\n", 10) == 0 && text[n] == 0,
          "directory text (%zu bytes): '%.*s'", n, (int)n, (const char *)text);
    free(text);

    snprintf(p, sizeof p, "%s/b-jokes", dir);
    REQUIRE(dc_text_load(p, 0, &text, &n) == DC_OK);
    CHECK(n == 5 && memcmp(text, "B1\n%\n", 5) == 0, "file text wrong");
    free(text);

    /* the cap is a limit, not a silent cut */
    CHECK(dc_text_load(dir, 7, &text, &n) == DC_ERR_FORMAT && text == NULL &&
              strstr(dc_last_error(), "b-jokes") && strstr(dc_last_error(), "limit"),
          "cap: %s", dc_last_error());
    snprintf(p, sizeof p, "%s/nothing-here", dir);
    CHECK(dc_text_load(p, 0, &text, &n) == DC_ERR_IO && strstr(dc_last_error(), "nothing-here"),
          "missing: %s", dc_last_error());
    snprintf(p, sizeof p, "%s/empty", root);
    REQUIRE(t_write_text(p, ""));
    CHECK(dc_text_load(p, 0, &text, &n) == DC_ERR_FORMAT && strstr(dc_last_error(), "empty"),
          "empty file: %s", dc_last_error());
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/onlydat' && printf x > '%s/onlydat/x.dat'",
             root, root);
    REQUIRE(system(cmd) == 0);
    snprintf(p, sizeof p, "%s/onlydat", root);
    CHECK(dc_text_load(p, 0, &text, &n) == DC_ERR_FORMAT && strstr(dc_last_error(), "onlydat"),
          "directory without text: %s", dc_last_error());
}

TEST(text_split_keeps_the_last_fraction_for_validation)
{
    size_t nt = 0;
    REQUIRE(dc_text_split(100, 0.1, &nt) == DC_OK);
    CHECK(nt == 90, "n_train = %zu", nt);
    REQUIRE(dc_text_split(105, 0.1, &nt) == DC_OK);
    CHECK(nt == 95, "n_train = %zu (floor of 10.5 held out)", nt);
    REQUIRE(dc_text_split(7, 0.0, &nt) == DC_OK);
    CHECK(nt == 7, "n_train = %zu", nt);
    CHECK(dc_text_split(100, 1.0, &nt) == DC_ERR_ARG, "fraction 1 accepted");
    CHECK(dc_text_split(100, -0.1, &nt) == DC_ERR_ARG, "negative fraction accepted");
    CHECK(dc_text_split(100, NAN, &nt) == DC_ERR_ARG, "NaN fraction accepted");
    CHECK(dc_text_split(10, 0.1, &nt) == DC_ERR_ARG, "1-symbol validation part accepted");
    CHECK(dc_text_split(3, 0.5, &nt) == DC_ERR_ARG, "1 training symbol accepted");
}

/* Check t (int64 [B, T]) against want[B·T]. */
static void check_ids(const char *what, const dc_tensor *t, int64_t B, int64_t T,
                      const int64_t *want)
{
    if (!t || t->ndim != 2 || t->shape[0] != B || t->shape[1] != T || t->dtype != DC_I64) {
        CHECK(0, "%s: expected int64 [%lld, %lld]", what, (long long)B, (long long)T);
        return;
    }
    for (int64_t i = 0; i < B * T; i++)
        if (dc_i64(t)[i] != want[i]) {
            CHECK(0, "%s: element %lld is %lld, expected %lld", what, (long long)i,
                  (long long)dc_i64(t)[i], (long long)want[i]);
            return;
        }
}

TEST(text_stream_chunks_by_hand_and_carries_positions)
{
    /* 26 letters, ids 0..25; B = 3 streams of L = 8 ("yz" dropped): a..h, i..p, q..x */
    const char *s = "abcdefghijklmnopqrstuvwxyz";
    dc_vocab v;
    int64_t ids[26];
    REQUIRE(dc_vocab_build((const uint8_t *)s, 26, &v) == DC_OK);
    REQUIRE(dc_vocab_encode(&v, (const uint8_t *)s, 26, ids) == DC_OK);
    dc_text_stream *st = dc_text_stream_new(ids, 26, 3, 3);
    REQUIRE(st != NULL);
    CHECK(st->B == 3 && st->L == 8 && st->T == 3 && st->pos == 0, "B %lld L %lld T %lld",
          (long long)st->B, (long long)st->L, (long long)st->T);
    CHECK(dc_text_stream_chunks(st) == 3, "chunks = %lld", (long long)dc_text_stream_chunks(st));
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx != NULL);
    dc_tensor *x, *y;
    for (int pass = 0; pass < 2; pass++) {
        REQUIRE(dc_text_stream_next(st, ctx, &x, &y) == DC_OK);
        check_ids("chunk 1 x", x, 3, 3, (const int64_t[]){0, 1, 2, 8, 9, 10, 16, 17, 18});
        check_ids("chunk 1 y", y, 3, 3, (const int64_t[]){1, 2, 3, 9, 10, 11, 17, 18, 19});
        CHECK(st->pos == 3, "pos after chunk 1 = %lld", (long long)st->pos);
        int64_t carry[3] = {dc_i64(y)[2], dc_i64(y)[5], dc_i64(y)[8]};
        REQUIRE(dc_text_stream_next(st, ctx, &x, &y) == DC_OK);
        check_ids("chunk 2 x", x, 3, 3, (const int64_t[]){3, 4, 5, 11, 12, 13, 19, 20, 21});
        check_ids("chunk 2 y", y, 3, 3, (const int64_t[]){4, 5, 6, 12, 13, 14, 20, 21, 22});
        for (int b = 0; b < 3 && x; b++) /* row b continues where it stopped */
            CHECK(dc_i64(x)[b * 3] == carry[b], "stream %d does not continue", b);
        REQUIRE(dc_text_stream_next(st, ctx, &x, &y) == DC_OK);
        check_ids("chunk 3 x (short)", x, 3, 1, (const int64_t[]){6, 14, 22});
        check_ids("chunk 3 y (short)", y, 3, 1, (const int64_t[]){7, 15, 23});
        CHECK(st->pos == 7, "pos after the pass = %lld", (long long)st->pos);
        REQUIRE(dc_text_stream_next(st, ctx, &x, &y) == DC_OK);
        CHECK(x == NULL && y == NULL, "a chunk after the end of the pass");
        dc_text_stream_rewind(st);
        dc_ctx_reset(ctx);
    }
    dc_text_stream_free(st);
    dc_ctx_free(ctx);

    CHECK(dc_text_stream_new(ids, 5, 3, 2) == NULL && strstr(dc_last_error(), "at least 2"),
          "L = 1 accepted: %s", dc_last_error());
    CHECK(dc_text_stream_new(ids, 26, 0, 2) == NULL, "B = 0 accepted");
    CHECK(dc_text_stream_new(ids, 26, 2, 0) == NULL, "T = 0 accepted");
}

TEST(text_stream_keeps_ids_in_the_narrowest_width_and_returns_them_exactly)
{
    /* Each width's extreme ids, the row layout and the chunk values must survive the narrowing. */
    const int64_t tops[4] = {255, 65535, 4294967295LL, 4294967296LL};
    const int widths[4] = {1, 2, 4, 8};
    dc_ctx *ctx = dc_ctx_new(0);
    REQUIRE(ctx != NULL);
    for (int w = 0; w < 4; w++) {
        int64_t ids[12];
        for (int i = 0; i < 12; i++)
            ids[i] = (i * 7919) % (tops[w] + 1);
        ids[5] = tops[w];
        dc_text_stream *st = dc_text_stream_new(ids, 12, 2, 4);
        REQUIRE(st != NULL);
        CHECK(st->id_bytes == widths[w], "top %lld: %d bytes an id, expected %d",
              (long long)tops[w], st->id_bytes, widths[w]);
        for (int64_t i = 0; i < 12; i++)
            CHECK(dc_text_stream_id(st, i) == ids[i], "top %lld: id %lld = %lld, not %lld",
                  (long long)tops[w], (long long)i, (long long)dc_text_stream_id(st, i),
                  (long long)ids[i]);
        dc_tensor *x, *y;
        REQUIRE(dc_text_stream_next(st, ctx, &x, &y) == DC_OK && x && y);
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 4; t++) {
                CHECK(dc_i64(x)[b * 4 + t] == ids[b * 6 + t], "x[%d, %d]", b, t);
                CHECK(dc_i64(y)[b * 4 + t] == ids[b * 6 + t + 1], "y[%d, %d]", b, t);
            }
        dc_text_stream_free(st);
        dc_ctx_reset(ctx);
    }
    dc_ctx_free(ctx);
    const int64_t neg[4] = {1, 2, -3, 4};
    CHECK(dc_text_stream_new(neg, 4, 1, 2) == NULL && strstr(dc_last_error(), "negative"),
          "a negative id accepted: %s", dc_last_error());
}

TEST(text_sample_argmax_at_temperature_zero_and_top_k_one)
{
    const float l[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
    dc_rng r;
    dc_rng_seed(&r, 7, 1);
    CHECK(dc_sample_logits(l, 5, 0.0f, 0, &r) == 1, "temperature 0 must give the first max");
    CHECK(dc_sample_logits(l, 5, 0.0f, 0, NULL) == 1, "temperature 0 needs no rng");
    const float l2[4] = {0.1f, 0.3f, 3.0f, 0.2f};
    for (int i = 0; i < 100; i++)
        CHECK(dc_sample_logits(l2, 4, 1.0f, 1, &r) == 2, "top_k 1 must give the argmax");
    /* top_k 2 never picks outside the two largest */
    for (int i = 0; i < 500; i++) {
        int k = dc_sample_logits(l2, 4, 5.0f, 2, &r);
        CHECK(k == 1 || k == 2, "top_k 2 picked %d", k);
    }
    /* a tiny temperature is the argmax too */
    CHECK(dc_sample_logits(l2, 4, 1e-6f, 0, &r) == 2, "T -> 0 must give the argmax");
    /* -inf logits are never drawn */
    const float l3[3] = {-INFINITY, 0.0f, -INFINITY};
    for (int i = 0; i < 50; i++)
        CHECK(dc_sample_logits(l3, 3, 1.0f, 0, &r) == 1, "-inf logit drawn");
    const float bad[2] = {0.0f, NAN}, allinf[2] = {-INFINITY, -INFINITY};
    CHECK(dc_sample_logits(bad, 2, 1.0f, 0, &r) == -1 && strstr(dc_last_error(), "logit 1"),
          "NaN logit: %s", dc_last_error());
    CHECK(dc_sample_logits(allinf, 2, 1.0f, 0, &r) == -1, "all -inf accepted");
    CHECK(dc_sample_logits(l, 5, -1.0f, 0, &r) == -1, "negative temperature accepted");
    CHECK(dc_sample_logits(l, 5, 1.0f, 0, NULL) == -1, "no rng accepted");
    CHECK(dc_sample_logits(l, 0, 1.0f, 0, &r) == -1, "K = 0 accepted");
}

TEST(text_sample_frequencies_match_softmax_and_repeat_with_the_seed)
{
    const float l[3] = {0.0f, logf(2.0f), logf(4.0f)};
    dc_rng r;
    dc_rng_seed(&r, 42, 3);
    int count[3] = {0, 0, 0}, n = 20000;
    int first[64];
    for (int i = 0; i < n; i++) {
        int k = dc_sample_logits(l, 3, 1.0f, 0, &r);
        REQUIRE(k >= 0 && k < 3);
        count[k]++;
        if (i < 64)
            first[i] = k;
    }
    for (int k = 0; k < 3; k++)
        CHECK_NEAR((double)count[k] / n, (double)(1 << k) / 7.0, 0.02);
    /* temperature 2 flattens: p ∝ 1, √2, 2 */
    int c2[3] = {0, 0, 0};
    for (int i = 0; i < n; i++)
        c2[dc_sample_logits(l, 3, 2.0f, 0, &r)]++;
    double z = 1.0 + sqrt(2.0) + 2.0;
    CHECK_NEAR((double)c2[0] / n, 1.0 / z, 0.02);
    CHECK_NEAR((double)c2[2] / n, 2.0 / z, 0.02);
    /* the same seed gives the same sequence */
    dc_rng_seed(&r, 42, 3);
    int same = 1;
    for (int i = 0; i < 64; i++)
        same &= dc_sample_logits(l, 3, 1.0f, 0, &r) == first[i];
    CHECK(same, "the same seed gave a different sequence");
    dc_rng_seed(&r, 43, 3);
    int differ = 0;
    for (int i = 0; i < 64; i++)
        differ |= dc_sample_logits(l, 3, 1.0f, 0, &r) != first[i];
    CHECK(differ, "another seed gave the same 64 draws");
}
