/* gc_rnn.c - gradient-check cases (rnn). */
#include "gradcheck.h"

static const gc_case cases[] = {{0}};
const gc_list gc_rnn = {cases, 0};
