/*
 * test_mutants_data.c - data helpers' rules that `make mutate` found untested (tests/mutate/):
 * each test here kills a mutant that the rest of the suite let through.
 */
#include "harness.h"

#include <string.h>

/* torch.argmax: the first maximum of a row wins a tie, so the accuracy of a tied prediction is
 * that of its first class (mutant data_argmax_last_tie). */
TEST(argmax_rows_and_accuracy_take_the_first_maximum)
{
    static const float v[12] = {1, 3, 3, 0, 5, 5, 5, 5, 0, -1, 0, -2};
    dc_tensor *logits = dc_tensor_new(DC_F32, 2, DC_SHAPE(3, 4));
    dc_tensor *target = dc_tensor_new(DC_I64, 1, DC_SHAPE(3));
    REQUIRE(logits && target);
    memcpy(logits->data, v, sizeof v);
    int64_t got[3] = {-1, -1, -1};
    dc_argmax_rows(logits, got);
    CHECK(got[0] == 1 && got[1] == 0 && got[2] == 0, "argmax %lld %lld %lld, expected 1 0 0",
          (long long)got[0], (long long)got[1], (long long)got[2]);
    static const int64_t first[3] = {1, 0, 0}, last[3] = {2, 3, 2};
    int64_t correct = -1;
    memcpy(target->data, first, sizeof first);
    CHECK(dc_accuracy(logits, target, &correct) == 1.0 && correct == 3,
          "the first maxima as targets: %lld of 3 correct", (long long)correct);
    memcpy(target->data, last, sizeof last);
    CHECK(dc_accuracy(logits, target, &correct) == 0.0 && correct == 0,
          "the last maxima as targets: %lld of 3 correct", (long long)correct);
    dc_tensor_free(logits);
    dc_tensor_free(target);
}
