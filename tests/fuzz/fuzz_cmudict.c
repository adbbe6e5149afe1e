/*
 * fuzz_cmudict.c - libFuzzer harness for the CMUdict reader (src/data/cmudict.c): the input is
 * the text of a pronouncing dictionary (`WORD  PH PH ...` lines).
 *
 * dc_cmudict_parse must accept it or refuse it with a message. An accepted dictionary must be
 * consistent: words sorted and distinct, offsets non-decreasing and in range, every word with at
 * least one pronunciation and every pronunciation with 1..DC_G2P_MAX_LEN phone ids; the split
 * and the pairs must then work on it.
 */
#include "fuzz_util.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_cmudict d;
    dc_clear_error();
    if (dc_cmudict_parse("fuzz", (const char *)data, size, &d) != DC_OK) {
        FUZZ_CHECK(dc_last_status() != DC_OK && *dc_last_error(), "no error message");
        dc_clear_error();
        return 0;
    }
    FUZZ_CHECK(d.n_words >= 1 && d.n_prons >= d.n_words, "%lld words, %lld prons",
               (long long)d.n_words, (long long)d.n_prons);
    const int V = dc_g2p_vocab_size();
    for (int64_t w = 0; w < d.n_words; w++) {
        const int64_t nl = d.letter_off[w + 1] - d.letter_off[w];
        FUZZ_CHECK(nl >= 1 && nl <= DC_G2P_MAX_LEN, "word %lld: %lld letters", (long long)w,
                   (long long)nl);
        FUZZ_CHECK((int64_t)strlen(d.text + d.text_off[w]) == nl, "spelling of word %lld",
                   (long long)w);
        FUZZ_CHECK(w == 0 || strcmp(d.text + d.text_off[w - 1], d.text + d.text_off[w]) < 0,
                   "words %lld, %lld not sorted and distinct", (long long)w - 1, (long long)w);
        FUZZ_CHECK(d.pron_first[w + 1] > d.pron_first[w], "word %lld has no pronunciation",
                   (long long)w);
    }
    FUZZ_CHECK(d.pron_first[d.n_words] == d.n_prons, "pronunciation count");
    for (int64_t p = 0; p < d.n_prons; p++) {
        const int64_t n = d.phone_off[p + 1] - d.phone_off[p];
        FUZZ_CHECK(n >= 1 && n <= DC_G2P_MAX_LEN, "pronunciation %lld: %lld phones",
                   (long long)p, (long long)n);
        for (int64_t i = d.phone_off[p]; i < d.phone_off[p + 1]; i++)
            FUZZ_CHECK(d.phones[i] >= 4 && d.phones[i] < V, "phone id %lld",
                       (long long)d.phones[i]);
    }
    dc_cmudict_split(&d, 1);
    dc_seq_pairs pairs;
    FUZZ_CHECK(dc_cmudict_pairs(&d, DC_SPLIT_TRAIN, &pairs) == DC_OK, "pairs: %s",
               dc_last_error());
    dc_seq_pairs_free(&pairs);
    dc_cmudict_free(&d);
    return 0;
}
