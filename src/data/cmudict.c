/*
 * cmudict.c - the CMU pronouncing dictionary for grapheme-to-phoneme (G2P): the fixed
 * vocabulary (specials, graphemes, ARPAbet phones), a hardened reader, the seeded split by word
 * and the (letters -> phones) pairs of the seq2seq task. docs/g2p.md describes the data.
 *
 * Reading: every line is checked (messages "name:line: what"); entries are gathered, sorted by
 * word (bytewise, then file order) and grouped, so alternates `WORD(k)` join WORD wherever they
 * stand, and a pronunciation that repeats one of the word's (after the stress digits are
 * dropped) is kept once.
 */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const phone_names[DC_G2P_N_PHONES] = {
    "AA", "AE", "AH", "AO", "AW", "AY", "B",  "CH", "D",  "DH", "EH", "ER", "EY",
    "F",  "G",  "HH", "IH", "IY", "JH", "K",  "L",  "M",  "N",  "NG", "OW", "OY",
    "P",  "R",  "S",  "SH", "T",  "TH", "UH", "UW", "V",  "W",  "Y",  "Z",  "ZH"};
static const char *const special_names[4] = {"<pad>", "<s>", "</s>", "<unk>"};

#define N_LETTERS ((int64_t)sizeof DC_G2P_LETTERS - 1)
#define FIRST_LETTER 4
#define FIRST_PHONE (FIRST_LETTER + N_LETTERS)

int dc_g2p_vocab_size(void) { return (int)(FIRST_PHONE + DC_G2P_N_PHONES); }

int64_t dc_g2p_letter_id(int byte)
{
    if (byte >= 'a' && byte <= 'z')
        byte -= 'a' - 'A';
    const char *p = byte > 0 && byte < 128 ? strchr(DC_G2P_LETTERS, byte) : NULL;
    return p ? FIRST_LETTER + (p - DC_G2P_LETTERS) : DC_G2P_UNK;
}

int64_t dc_g2p_phone_id(const char *name, size_t n)
{
    for (int i = 0; i < DC_G2P_N_PHONES; i++)
        if (strlen(phone_names[i]) == n && !memcmp(phone_names[i], name, n))
            return FIRST_PHONE + i;
    return -1;
}

const char *dc_g2p_token_name(int64_t id)
{
    static char letters[N_LETTERS][2];
    if (id >= 0 && id < FIRST_LETTER)
        return special_names[id];
    if (id >= FIRST_LETTER && id < FIRST_PHONE) {
        letters[id - FIRST_LETTER][0] = DC_G2P_LETTERS[id - FIRST_LETTER];
        return letters[id - FIRST_LETTER];
    }
    if (id >= FIRST_PHONE && id < FIRST_PHONE + DC_G2P_N_PHONES)
        return phone_names[id - FIRST_PHONE];
    return "?";
}

int64_t dc_g2p_encode_word(const char *word, int64_t *ids, int64_t cap)
{
    const size_t n = word ? strlen(word) : 0;
    if (n == 0 || (int64_t)n > cap)
        return dc_err(DC_ERR_ARG, "g2p: a word of 1 to %lld letters is needed, got %zu",
                      (long long)cap, n), -1;
    for (size_t i = 0; i < n; i++)
        ids[i] = dc_g2p_letter_id((unsigned char)word[i]);
    return (int64_t)n;
}

/* ---- reading ---- */

/* One entry as read: its base word (in the text), its phones (in the phone buffer), its line. */
typedef struct entry {
    const char *word;
    int64_t word_len, ph0, n_ph, line;
} entry;

typedef struct reader {
    const char *name;
    entry *e;
    int64_t n, cap;
    int64_t *ph;
    int64_t n_ph, cap_ph;
} reader;

static bool grow(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    int64_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

/* The word of a line: [s, *end) up to the first space; a `(k)` suffix is cut off. */
static dc_status parse_word(const reader *r, int64_t line, const char *s, const char *e,
                            int64_t *len)
{
    const char *w = s;
    while (w < e && *w != ' ' && *w != '\t')
        w++;
    int64_t n = w - s;
    if (n > 2 && s[n - 1] == ')') {
        int64_t k = n - 2;
        while (k > 0 && s[k] >= '0' && s[k] <= '9')
            k--;
        if (s[k] == '(' && k < n - 2 && k > 0)
            n = k;
        else if (memchr(s, '(', (size_t)n))
            return dc_err(DC_ERR_FORMAT, "%s:%lld: the word '%.*s' has a bad alternate "
                          "suffix (expected WORD(k), k digits)", r->name, (long long)line,
                          (int)(n > 60 ? 60 : n), s);
    }
    if (n == 0)
        return dc_err(DC_ERR_FORMAT, "%s:%lld: a line must start with a word", r->name,
                      (long long)line);
    if (n > DC_G2P_MAX_LEN)
        return dc_err(DC_ERR_FORMAT, "%s:%lld: the word has %lld letters (at most %d)",
                      r->name, (long long)line, (long long)n, DC_G2P_MAX_LEN);
    *len = n;
    return DC_OK;
}

/* The phones of a line after its word: names, each with an optional stress digit 0-2. */
static dc_status parse_phones(reader *r, int64_t line, const char *s, const char *e,
                              int64_t *count)
{
    int64_t n = 0;
    while (s < e) {
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        const char *t = s;
        while (t < e && *t != ' ' && *t != '\t')
            t++;
        if (t == s)
            break;
        size_t k = (size_t)(t - s);
        if (k > 1 && s[k - 1] >= '0' && s[k - 1] <= '2')
            k--;
        int64_t id = dc_g2p_phone_id(s, k);
        if (id < 0)
            return dc_err(DC_ERR_FORMAT, "%s:%lld: unknown phone '%.*s' (ARPAbet, e.g. AH0, "
                          "K)", r->name, (long long)line, (int)(t - s > 20 ? 20 : t - s), s);
        if (++n > DC_G2P_MAX_LEN)
            return dc_err(DC_ERR_FORMAT, "%s:%lld: more than %d phones", r->name,
                          (long long)line, DC_G2P_MAX_LEN);
        if (!grow((void **)&r->ph, &r->cap_ph, r->n_ph + 1, sizeof *r->ph))
            return dc_err(DC_ERR_NOMEM, "%s: out of memory", r->name);
        r->ph[r->n_ph++] = id;
        s = t;
    }
    if (n == 0)
        return dc_err(DC_ERR_FORMAT, "%s:%lld: the word has no phones", r->name,
                      (long long)line);
    *count = n;
    return DC_OK;
}

static dc_status parse_line(reader *r, int64_t line, const char *s, const char *e)
{
    if (e > s && e[-1] == '\r')
        e--;
    if (e == s || (e - s >= 3 && !memcmp(s, ";;;", 3)))
        return DC_OK;
    if (memchr(s, 0, e > s ? (size_t)(e - s) : 0))
        return dc_err(DC_ERR_FORMAT, "%s:%lld: NUL byte", r->name, (long long)line);
    int64_t wl = 0, n_ph = 0, ph0 = r->n_ph;
    dc_status st = parse_word(r, line, s, e, &wl);
    const char *p = s;
    while (st == DC_OK && p < e && *p != ' ' && *p != '\t')
        p++;
    if (st == DC_OK)
        st = parse_phones(r, line, p, e, &n_ph);
    if (st != DC_OK)
        return st;
    if (!grow((void **)&r->e, &r->cap, r->n + 1, sizeof *r->e))
        return dc_err(DC_ERR_NOMEM, "%s: out of memory", r->name);
    r->e[r->n++] = (entry){s, wl, ph0, n_ph, line};
    return DC_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    const int64_t n = x->word_len < y->word_len ? x->word_len : y->word_len;
    int c = memcmp(x->word, y->word, (size_t)n);
    if (c)
        return c;
    if (x->word_len != y->word_len)
        return x->word_len < y->word_len ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static bool same_word(const entry *a, const entry *b)
{
    return a->word_len == b->word_len && !memcmp(a->word, b->word, (size_t)a->word_len);
}

/* Whether entry e's phones equal those of a pronunciation kept for its word already. */
static bool repeats(const dc_cmudict *d, int64_t first, int64_t np, const int64_t *ph,
                    int64_t n)
{
    for (int64_t p = first; p < np; p++)
        if (d->phone_off[p + 1] - d->phone_off[p] == n &&
            !memcmp(d->phones + d->phone_off[p], ph, (size_t)n * sizeof *ph))
            return true;
    return false;
}

static dc_status alloc_dict(dc_cmudict *d, const reader *r, int64_t chars)
{
    const size_t n = (size_t)r->n + 1;
    d->text = malloc((size_t)chars + n);
    d->text_off = malloc(n * sizeof *d->text_off);
    d->letter_off = malloc(n * sizeof *d->letter_off);
    d->letters = malloc(((size_t)chars + 1) * sizeof *d->letters);
    d->pron_first = malloc(n * sizeof *d->pron_first);
    d->phone_off = malloc(n * sizeof *d->phone_off);
    d->phones = malloc(((size_t)r->n_ph + 1) * sizeof *d->phones);
    d->part = calloc(n, 1);
    if (d->text && d->text_off && d->letter_off && d->letters && d->pron_first &&
        d->phone_off && d->phones && d->part)
        return DC_OK;
    dc_cmudict_free(d);
    return dc_err(DC_ERR_NOMEM, "%s: out of memory", r->name);
}

/* The sorted entries grouped into words with their distinct pronunciations. */
static dc_status build(dc_cmudict *d, const reader *r)
{
    int64_t chars = 0;
    for (int64_t i = 0; i < r->n; i++)
        chars += r->e[i].word_len;
    dc_status st = alloc_dict(d, r, chars);
    if (st != DC_OK)
        return st;
    int64_t w = 0, np = 0, nc = 0, nl = 0, nph = 0;
    d->phone_off[0] = 0;
    for (int64_t i = 0; i < r->n; i++) {
        const entry *e = &r->e[i];
        if (i == 0 || !same_word(e, &r->e[i - 1])) {
            d->text_off[w] = nc;
            d->letter_off[w] = nl;
            d->pron_first[w++] = np;
            for (int64_t k = 0; k < e->word_len; k++) {
                d->text[nc++] = e->word[k];
                d->letters[nl++] = dc_g2p_letter_id((unsigned char)e->word[k]);
            }
            d->text[nc++] = 0;
        }
        const int64_t *ph = r->ph + e->ph0;
        if (repeats(d, d->pron_first[w - 1], np, ph, e->n_ph))
            continue;
        memcpy(d->phones + nph, ph, (size_t)e->n_ph * sizeof *ph);
        nph += e->n_ph;
        d->phone_off[++np] = nph;
    }
    d->letter_off[w] = nl;
    d->pron_first[w] = np;
    d->n_words = w;
    d->n_prons = np;
    d->n_lines = r->n;
    return DC_OK;
}

dc_status dc_cmudict_parse(const char *name, const char *text, size_t n, dc_cmudict *out)
{
    if (!out || (!text && n))
        return dc_err(DC_ERR_ARG, "cmudict: NULL argument");
    memset(out, 0, sizeof *out);
    reader r = {.name = name ? name : "cmudict"};
    dc_status st = DC_OK;
    int64_t line = 1;
    for (const char *s = text, *end = text + n; st == DC_OK && s < end; line++) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        if (!e)
            e = end;
        st = parse_line(&r, line, s, e);
        s = e + 1;
    }
    if (st == DC_OK && r.n == 0)
        st = dc_err(DC_ERR_FORMAT, "%s: no entries (lines `WORD  PH PH ...`)", r.name);
    if (st == DC_OK) {
        qsort(r.e, (size_t)r.n, sizeof *r.e, cmp_entry);
        st = build(out, &r);
    }
    free(r.e);
    free(r.ph);
    return st;
}

dc_status dc_cmudict_load(const char *path, dc_cmudict *out)
{
    uint8_t *text = NULL;
    size_t n = 0;
    if (out)
        memset(out, 0, sizeof *out);
    dc_status st = dc_text_load(path, (size_t)64 << 20, &text, &n);
    if (st == DC_OK)
        st = dc_cmudict_parse(path, (const char *)text, n, out);
    free(text);
    return st;
}

void dc_cmudict_free(dc_cmudict *d)
{
    if (!d)
        return;
    free(d->text);
    free(d->text_off);
    free(d->letter_off);
    free(d->letters);
    free(d->pron_first);
    free(d->phone_off);
    free(d->phones);
    free(d->part);
    memset(d, 0, sizeof *d);
}

/* ---- split and pairs ---- */

void dc_cmudict_split(dc_cmudict *d, uint64_t seed)
{
    const int64_t n = d ? d->n_words : 0;
    int64_t *idx = n ? malloc((size_t)n * sizeof *idx) : NULL;
    if (!idx)
        return;
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    dc_rng rng;
    dc_rng_seed(&rng, seed, 0);
    dc_rng_shuffle(&rng, idx, n);
    const int64_t n_train = n * 9 / 10, n_val = n / 20;
    for (int64_t i = 0; i < n; i++)
        d->part[idx[i]] = (uint8_t)(i < n_train ? DC_SPLIT_TRAIN
                                    : i < n_train + n_val ? DC_SPLIT_VAL : DC_SPLIT_TEST);
    free(idx);
}

int64_t dc_cmudict_count(const dc_cmudict *d, int part)
{
    int64_t c = 0;
    for (int64_t w = 0; d && w < d->n_words; w++)
        c += part < 0 || d->part[w] == part;
    return c;
}

void dc_seq_pairs_free(dc_seq_pairs *p)
{
    if (!p)
        return;
    free(p->src_off);
    free(p->src);
    free(p->tgt_off);
    free(p->tgt);
    memset(p, 0, sizeof *p);
}

dc_status dc_cmudict_pairs(const dc_cmudict *d, int part, dc_seq_pairs *out)
{
    int64_t n = 0, ns = 0, nt = 0;
    memset(out, 0, sizeof *out);
    for (int64_t w = 0; w < d->n_words; w++)
        if (d->part[w] == part)
            for (int64_t p = d->pron_first[w]; p < d->pron_first[w + 1]; p++) {
                n++;
                ns += d->letter_off[w + 1] - d->letter_off[w];
                nt += d->phone_off[p + 1] - d->phone_off[p];
            }
    out->src_off = malloc((size_t)(n + 1) * sizeof(int64_t));
    out->tgt_off = malloc((size_t)(n + 1) * sizeof(int64_t));
    out->src = malloc((size_t)(ns + 1) * sizeof(int64_t));
    out->tgt = malloc((size_t)(nt + 1) * sizeof(int64_t));
    if (!out->src_off || !out->tgt_off || !out->src || !out->tgt) {
        dc_seq_pairs_free(out);
        return dc_err(DC_ERR_NOMEM, "cmudict: out of memory for %lld pairs", (long long)n);
    }
    out->src_off[0] = out->tgt_off[0] = 0;
    for (int64_t w = 0, i = 0; w < d->n_words; w++) {
        if (d->part[w] != part)
            continue;
        const int64_t ls = d->letter_off[w], le = d->letter_off[w + 1];
        for (int64_t p = d->pron_first[w]; p < d->pron_first[w + 1]; p++, i++) {
            const int64_t ps = d->phone_off[p], pe = d->phone_off[p + 1];
            memcpy(out->src + out->src_off[i], d->letters + ls, (size_t)(le - ls) * 8);
            out->src_off[i + 1] = out->src_off[i] + le - ls;
            memcpy(out->tgt + out->tgt_off[i], d->phones + ps, (size_t)(pe - ps) * 8);
            out->tgt_off[i + 1] = out->tgt_off[i] + pe - ps;
        }
    }
    out->n = n;
    return DC_OK;
}

dc_status dc_g2p_open(const char *path, uint64_t seed, dc_cmudict *d, dc_seq_pairs *train,
                      dc_seq_pairs *val)
{
    if (train)
        memset(train, 0, sizeof *train);
    if (val)
        memset(val, 0, sizeof *val);
    dc_status st = dc_cmudict_load(path, d);
    if (st != DC_OK)
        return st;
    dc_cmudict_split(d, seed);
    if (train && (st = dc_cmudict_pairs(d, DC_SPLIT_TRAIN, train)) == DC_OK && val)
        st = dc_cmudict_pairs(d, DC_SPLIT_VAL, val);
    if (st != DC_OK) {
        dc_seq_pairs_free(train);
        dc_seq_pairs_free(val);
        dc_cmudict_free(d);
    }
    return st;
}
