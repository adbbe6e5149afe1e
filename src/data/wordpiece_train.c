/*
 * wordpiece_train.c - learning a WordPiece vocabulary from a corpus (dc_wordpiece_train).
 *
 * The algorithm (BPE-style merges over words, the way Hugging Face's WordPiece trainer builds a
 * vocabulary, with its own deterministic tie rule):
 *   1. The corpus goes through the basic tokenizer; every distinct word is counted (words longer
 *      than max_input_chars are left out: encoding turns them into [UNK] anyway; so are the
 *      special tokens when the text holds them).
 *   2. The vocabulary starts with [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0-4), then every character
 *      that starts a word, in code-point order, then every character that continues a word as
 *      "##c", in code-point order. Each word is a sequence of these symbols: "hug" = h ##u ##g.
 *   3. Repeatedly, the adjacent pair of symbols (x, y) with the largest count, summed over the
 *      words with their frequencies, is merged everywhere into one symbol x·y ("h" + "##u" ->
 *      "hu", "##u" + "##g" -> "##ug"). Ties go to the pair whose x has the smaller id, then whose
 *      y has. A merged string that is already a token (reached by other merges) keeps its id.
 *   4. It stops at vocab_size tokens, or when no pair occurs min_frequency times.
 * The same corpus and options give the same vocabulary on every machine.
 *
 * Cost: the pair counts live in a hash table; a max-heap holds (count, x, y) entries that go
 * stale as counts fall (a popped entry whose count is out of date is pushed again with the
 * current one), and each pair keeps the list of words it occurs in, so a merge touches only
 * those words. Fortunes (2.5 MB, about 60,000 distinct words) trains 8,000 tokens in well under
 * a second.
 */
#define _POSIX_C_SOURCE 200809L
#include "data/wordpiece_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- a string -> index hash table over a growing array of strings ---- */

typedef struct strtab {
    char **s;       /* [n] owned */
    int64_t *count; /* [n] occurrences (words) */
    int64_t n, cap;
    int64_t *slot;  /* -1 empty */
    uint64_t mask;
} strtab;

static uint64_t str_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void strtab_free(strtab *t)
{
    for (int64_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->count);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

static int strtab_rehash(strtab *t, uint64_t slots)
{
    int64_t *slot = malloc(slots * sizeof *slot);
    if (!slot)
        return 1;
    memset(slot, 0xFF, slots * sizeof *slot);
    for (int64_t i = 0; i < t->n; i++) {
        uint64_t h = str_hash(t->s[i], strlen(t->s[i])) & (slots - 1);
        while (slot[h] >= 0)
            h = (h + 1) & (slots - 1);
        slot[h] = i;
    }
    free(t->slot);
    t->slot = slot;
    t->mask = slots - 1;
    return 0;
}

/* The index of s[0..len), added (with count 0) when new; -1 when out of memory. */
static int64_t strtab_get(strtab *t, const char *s, size_t len)
{
    if (!t->slot && strtab_rehash(t, 1024))
        return -1;
    uint64_t h = str_hash(s, len) & t->mask;
    for (; t->slot[h] >= 0; h = (h + 1) & t->mask) {
        const char *e = t->s[t->slot[h]];
        if (strncmp(e, s, len) == 0 && e[len] == '\0')
            return t->slot[h];
    }
    if (t->n == t->cap) {
        int64_t cap = t->cap ? t->cap * 2 : 1024;
        char **ns = realloc(t->s, (size_t)cap * sizeof *ns);
        if (ns)
            t->s = ns;
        int64_t *nc = ns ? realloc(t->count, (size_t)cap * sizeof *nc) : NULL;
        if (!nc)
            return -1;
        t->count = nc;
        t->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    int64_t id = t->n++;
    t->s[id] = copy;
    t->count[id] = 0;
    t->slot[h] = id;
    if ((uint64_t)t->n * 2 > t->mask && strtab_rehash(t, (t->mask + 1) * 2))
        return -1;
    return id;
}

/* ---- pairs: counts, the words they occur in, a max-heap ---- */

typedef struct pair {
    uint32_t x, y;
    int64_t count;
    int32_t *words; /* word indices, possibly repeated or stale */
    int64_t n_words, cap_words;
} pair;

typedef struct heap_e {
    int64_t count;
    uint32_t x, y;
} heap_e;

typedef struct trainer {
    strtab words;       /* distinct words with their counts */
    strtab vocab;       /* tokens, ids in order */
    uint32_t *sym;      /* the symbols of every word, back to back */
    int64_t *w_off;     /* [n_words + 1] where word i's symbols start */
    int64_t *w_len;     /* [n_words] its current number of symbols */
    int64_t *stamp;     /* [n_words] the last merge that rewrote the word */
    pair *pairs;
    int64_t n_pairs, cap_pairs;
    int64_t *pslot;     /* (x, y) -> pair index, -1 empty */
    uint64_t pmask;
    heap_e *heap;
    int64_t n_heap, cap_heap;
    heap_e heap_top;    /* the pair being merged */
} trainer;

static uint64_t pair_hash(uint32_t x, uint32_t y)
{
    uint64_t k = ((uint64_t)x << 32 | y) * 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 31);
}

static int pairs_rehash(trainer *t, uint64_t slots)
{
    int64_t *slot = malloc(slots * sizeof *slot);
    if (!slot)
        return 1;
    memset(slot, 0xFF, slots * sizeof *slot);
    for (int64_t i = 0; i < t->n_pairs; i++) {
        uint64_t h = pair_hash(t->pairs[i].x, t->pairs[i].y) & (slots - 1);
        while (slot[h] >= 0)
            h = (h + 1) & (slots - 1);
        slot[h] = i;
    }
    free(t->pslot);
    t->pslot = slot;
    t->pmask = slots - 1;
    return 0;
}

/* The pair (x, y), made with count 0 when new; NULL when out of memory. */
static pair *pair_get(trainer *t, uint32_t x, uint32_t y)
{
    uint64_t h = pair_hash(x, y) & t->pmask;
    for (; t->pslot[h] >= 0; h = (h + 1) & t->pmask) {
        pair *p = &t->pairs[t->pslot[h]];
        if (p->x == x && p->y == y)
            return p;
    }
    if (t->n_pairs == t->cap_pairs) {
        int64_t cap = t->cap_pairs ? t->cap_pairs * 2 : 4096;
        pair *np = realloc(t->pairs, (size_t)cap * sizeof *np);
        if (!np)
            return NULL;
        t->pairs = np;
        t->cap_pairs = cap;
    }
    pair *p = &t->pairs[t->n_pairs];
    memset(p, 0, sizeof *p);
    p->x = x;
    p->y = y;
    t->pslot[h] = t->n_pairs++;
    if ((uint64_t)t->n_pairs * 2 > t->pmask && pairs_rehash(t, (t->pmask + 1) * 2))
        return NULL;
    return &t->pairs[t->n_pairs - 1];
}

static int pair_add_word(pair *p, int64_t w)
{
    if (p->n_words && p->words[p->n_words - 1] == (int32_t)w)
        return 0;
    if (p->n_words == p->cap_words) {
        int64_t cap = p->cap_words ? p->cap_words * 2 : 4;
        int32_t *nw = realloc(p->words, (size_t)cap * sizeof *nw);
        if (!nw)
            return 1;
        p->words = nw;
        p->cap_words = cap;
    }
    p->words[p->n_words++] = (int32_t)w;
    return 0;
}

/* a before b in the heap: the larger count, then the smaller x, then the smaller y. */
static bool heap_before(const heap_e *a, const heap_e *b)
{
    if (a->count != b->count)
        return a->count > b->count;
    return a->x != b->x ? a->x < b->x : a->y < b->y;
}

static int heap_push(trainer *t, const pair *p)
{
    if (t->n_heap == t->cap_heap) {
        int64_t cap = t->cap_heap ? t->cap_heap * 2 : 4096;
        heap_e *nh = realloc(t->heap, (size_t)cap * sizeof *nh);
        if (!nh)
            return 1;
        t->heap = nh;
        t->cap_heap = cap;
    }
    heap_e e = {p->count, p->x, p->y};
    int64_t i = t->n_heap++;
    while (i > 0 && heap_before(&e, &t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
    return 0;
}

static heap_e heap_pop(trainer *t)
{
    heap_e top = t->heap[0], last = t->heap[--t->n_heap];
    int64_t i = 0, n = t->n_heap;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_before(&t->heap[c + 1], &t->heap[c]))
            c++;
        if (!heap_before(&t->heap[c], &last))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n > 0)
        t->heap[i] = last;
    return top;
}

/* ---- counting words and the alphabet ---- */

static const char *const specials[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

typedef struct count_ctx {
    strtab *words;
    int max_chars;
} count_ctx;

static int count_word(const char *word, size_t len, size_t nchars, void *user)
{
    count_ctx *c = user;
    if (nchars > (size_t)c->max_chars)
        return 0;
    if (word[0] == '[' && len >= 5 && word[len - 1] == ']') /* a special token in the text */
        for (int k = 0; k < 5; k++)
            if (!strcmp(word, specials[k]))
                return 0;
    int64_t i = strtab_get(c->words, word, len);
    if (i < 0)
        return 1;
    c->words->count[i]++;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Add the characters of group cont (0: word-initial, 1: "##" continuations) of every word, in
 * code-point order. tmp: room for every character of every word. */
static int add_alphabet(trainer *t, int cont, uint32_t *tmp)
{
    int64_t n = 0;
    for (int64_t w = 0; w < t->words.n; w++) {
        const uint8_t *s = (const uint8_t *)t->words.s[w];
        size_t len = strlen((const char *)s), i = 0;
        for (int64_t k = 0; i < len; k++) {
            uint32_t cp = dc_utf8_next(s, len, &i);
            if ((k > 0) == cont)
                tmp[n++] = cp;
        }
    }
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_u32);
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && tmp[i] == tmp[i - 1])
            continue;
        char b[8] = "##";
        int k = dc_utf8_put(tmp[i], b + 2);
        if (strtab_get(&t->vocab, cont ? b : b + 2, (size_t)k + (cont ? 2 : 0)) < 0)
            return 1;
    }
    return 0;
}

/* Each word as its symbols: its first character, then "##" + each following one. */
static int split_words(trainer *t, int64_t total_chars)
{
    t->sym = malloc((size_t)(total_chars ? total_chars : 1) * sizeof *t->sym);
    t->w_off = malloc((size_t)(t->words.n + 1) * sizeof *t->w_off);
    t->w_len = malloc((size_t)(t->words.n ? t->words.n : 1) * sizeof *t->w_len);
    t->stamp = calloc((size_t)(t->words.n ? t->words.n : 1), sizeof *t->stamp);
    if (!t->sym || !t->w_off || !t->w_len || !t->stamp)
        return 1;
    int64_t k = 0;
    for (int64_t w = 0; w < t->words.n; w++) {
        const uint8_t *s = (const uint8_t *)t->words.s[w];
        size_t len = strlen((const char *)s), i = 0;
        t->w_off[w] = k;
        while (i < len) {
            char b[8] = "##";
            size_t at = i;
            uint32_t cp = dc_utf8_next(s, len, &i);
            int nb = dc_utf8_put(cp, b + 2);
            int64_t id = at == 0 ? strtab_get(&t->vocab, b + 2, (size_t)nb)
                                 : strtab_get(&t->vocab, b, (size_t)nb + 2);
            if (id < 0)
                return 1;
            t->sym[k++] = (uint32_t)id;
        }
        t->w_len[w] = k - t->w_off[w];
    }
    t->w_off[t->words.n] = k;
    return 0;
}

/* Add (or with sign -1 take away) the pairs of word w, times its count; new pairs involving
 * symbol `fresh` (or all, when fresh is UINT32_MAX) note the word and go on the heap. */
static int word_pairs(trainer *t, int64_t w, int sign, uint32_t fresh)
{
    const uint32_t *s = t->sym + t->w_off[w];
    int64_t c = t->words.count[w] * sign;
    for (int64_t i = 0; i + 1 < t->w_len[w]; i++) {
        pair *p = pair_get(t, s[i], s[i + 1]);
        if (!p)
            return 1;
        p->count += c;
        bool noted = sign > 0 && (fresh == UINT32_MAX || s[i] == fresh || s[i + 1] == fresh);
        if (noted && (pair_add_word(p, w) || (fresh != UINT32_MAX && heap_push(t, p))))
            return 1;
    }
    return 0;
}

/* Rewrite word w with every (x, y) replaced by z, left to right. */
static void merge_word(trainer *t, int64_t w, uint32_t x, uint32_t y, uint32_t z)
{
    uint32_t *s = t->sym + t->w_off[w];
    int64_t n = t->w_len[w], k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i + 1 < n && s[i] == x && s[i + 1] == y) {
            s[k++] = z;
            i++;
        } else {
            s[k++] = s[i];
        }
    }
    t->w_len[w] = k;
}

/* The token of merging x and y: x followed by y without its "##". -1: out of memory. */
static int64_t merged_token(trainer *t, uint32_t x, uint32_t y)
{
    const char *a = t->vocab.s[x], *b = t->vocab.s[y] + 2;
    size_t la = strlen(a), lb = strlen(b);
    char *m = malloc(la + lb + 1);
    if (!m)
        return -1;
    memcpy(m, a, la);
    memcpy(m + la, b, lb + 1);
    int64_t id = strtab_get(&t->vocab, m, la + lb);
    free(m);
    return id;
}

/* Apply the best pair; 1 out of memory, 2 nothing left to merge. */
static int merge_step(trainer *t, int64_t min_frequency, int64_t step)
{
    for (;;) {
        if (t->n_heap == 0)
            return 2;
        heap_e e = heap_pop(t);
        pair *p = pair_get(t, e.x, e.y);
        if (!p)
            return 1;
        if (p->count != e.count) { /* stale: counts only fall, so requeue the current one */
            if (p->count > 0 && heap_push(t, p))
                return 1;
            continue;
        }
        if (e.count < min_frequency || e.count <= 0)
            return 2;
        t->heap_top = e;
        break;
    }
    int64_t z = merged_token(t, t->heap_top.x, t->heap_top.y);
    if (z < 0)
        return 1;
    pair *p = pair_get(t, t->heap_top.x, t->heap_top.y);
    if (!p)
        return 1;
    int32_t *ws = p->words; /* taken: the pair's count falls to 0 */
    int64_t nw = p->n_words;
    p->words = NULL;
    p->n_words = p->cap_words = 0;
    uint32_t x = t->heap_top.x, y = t->heap_top.y;
    int rc = 0;
    for (int64_t i = 0; i < nw && !rc; i++) {
        int64_t w = ws[i];
        if (t->stamp[w] == step)
            continue;
        t->stamp[w] = step;
        rc = word_pairs(t, w, -1, 0);
        merge_word(t, w, x, y, (uint32_t)z);
        rc = rc || word_pairs(t, w, 1, (uint32_t)z);
    }
    free(ws);
    return rc;
}

static void trainer_free(trainer *t)
{
    strtab_free(&t->words);
    strtab_free(&t->vocab);
    free(t->sym);
    free(t->w_off);
    free(t->w_len);
    free(t->stamp);
    for (int64_t i = 0; i < t->n_pairs; i++)
        free(t->pairs[i].words);
    free(t->pairs);
    free(t->pslot);
    free(t->heap);
}

dc_wp_train_opts dc_wp_train_defaults(void)
{
    dc_wp_train_opts o = {30522, 2, dc_wp_defaults()};
    return o;
}

/* Steps 1 and 2: count the words, make the alphabet, split the words, count the pairs.
 * 0, 1 (out of memory) or 3 (the alphabet alone exceeds vocab_size). */
static int train_prepare(trainer *t, const char *const *texts, const size_t *lens,
                         int64_t n_texts, const dc_wp_train_opts *o)
{
    count_ctx cc = {&t->words, o->basic.max_input_chars};
    for (int64_t i = 0; i < n_texts; i++)
        if (dc_wp_basic_each(&o->basic, texts[i], lens[i], count_word, &cc))
            return 1;
    for (int k = 0; k < 5; k++)
        if (strtab_get(&t->vocab, specials[k], strlen(specials[k])) < 0)
            return 1;
    int64_t total = 0;
    for (int64_t w = 0; w < t->words.n; w++) {
        const uint8_t *s = (const uint8_t *)t->words.s[w];
        size_t len = strlen((const char *)s), i = 0;
        for (; i < len; total++)
            dc_utf8_next(s, len, &i);
    }
    uint32_t *tmp = malloc((size_t)(total ? total : 1) * sizeof *tmp);
    int rc = !tmp || add_alphabet(t, 0, tmp) || add_alphabet(t, 1, tmp);
    free(tmp);
    if (rc)
        return 1;
    if (t->vocab.n > o->vocab_size)
        return 3;
    if (split_words(t, total) || pairs_rehash(t, 4096))
        return 1;
    for (int64_t w = 0; w < t->words.n; w++)
        if (word_pairs(t, w, 1, UINT32_MAX))
            return 1;
    for (int64_t i = 0; i < t->n_pairs; i++)
        if (t->pairs[i].count > 0 && heap_push(t, &t->pairs[i]))
            return 1;
    return 0;
}

dc_wordpiece *dc_wordpiece_train(const char *const *texts, const size_t *lens, int64_t n_texts,
                                 const dc_wp_train_opts *o)
{
    dc_wp_train_opts d = o ? *o : dc_wp_train_defaults();
    if (!texts || !lens || n_texts < 1)
        return dc_err_null(DC_ERR_ARG, "wordpiece train: need at least one text");
    for (int64_t i = 0; i < n_texts; i++)
        if (!texts[i] && lens[i])
            return dc_err_null(DC_ERR_ARG, "wordpiece train: text %lld is NULL", (long long)i);
    if (d.vocab_size < 6 || d.vocab_size > DC_WP_MAX_TOKENS || d.min_frequency < 1)
        return dc_err_null(DC_ERR_ARG, "wordpiece train: vocab_size %lld (need 6 .. %lld) or "
                           "min_frequency %lld (need >= 1)", (long long)d.vocab_size,
                           (long long)DC_WP_MAX_TOKENS, (long long)d.min_frequency);
    trainer t = {0};
    int rc = train_prepare(&t, texts, lens, n_texts, &d);
    for (int64_t step = 1; rc == 0 && t.vocab.n < d.vocab_size; step++)
        rc = merge_step(&t, d.min_frequency, step);
    dc_wordpiece *wp = NULL;
    if (rc == 1)
        dc_err(DC_ERR_NOMEM, "wordpiece train: out of memory (%lld distinct words, %lld pairs)",
               (long long)t.words.n, (long long)t.n_pairs);
    else if (rc == 3)
        dc_err(DC_ERR_ARG, "wordpiece train: the 5 special tokens and the %lld characters of the "
               "corpus need a vocabulary of %lld; vocab_size is %lld",
               (long long)(t.vocab.n - 5), (long long)t.vocab.n, (long long)d.vocab_size);
    else if (t.words.n == 0)
        dc_err(DC_ERR_ARG, "wordpiece train: the texts have no words");
    else
        wp = dc_wordpiece_new((const char *const *)t.vocab.s, t.vocab.n, &d.basic);
    trainer_free(&t);
    return wp;
}
