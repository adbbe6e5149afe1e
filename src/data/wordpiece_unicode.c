/*
 * wordpiece_unicode.c - the Unicode character data BERT's basic tokenizer needs, over the tables
 * generated from Python's unicodedata (wordpiece_tables.c): character classes, Python's
 * str.lower(), NFD (for strip_accents) and NFC (Hugging Face normalises every text to NFC before
 * splitting it on whitespace), and UTF-8 decoding.
 *
 * Scope: the categories, case mappings, canonical decompositions and compositions cover every
 * code point of the Unicode version of the generating Python (the table file names it), not
 * only Latin, Greek and Cyrillic; Hangul syllables are decomposed and composed by formula. Not
 * done: compatibility (NFKD) mappings (BERT does not use them), the context rules of SpecialCasing
 * other than Final_Sigma (Lithuanian, Turkish), which Python's str.lower() does not do either.
 */
#include "data/wordpiece_internal.h"

/* Index of the range [lo, hi] of tab (rows of `width`, sorted) that holds cp, or -1. */
static int range_find(const uint32_t *tab, int n, int width, uint32_t cp)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const uint32_t *r = tab + (size_t)mid * width;
        if (cp < r[0])
            hi = mid - 1;
        else if (cp > r[1])
            lo = mid + 1;
        else
            return mid;
    }
    return -1;
}

#define IN_RANGES(name, cp) (range_find(&dc_wp_##name[0][0], dc_wp_n_##name, 2, (cp)) >= 0)

bool dc_wp_is_control(uint32_t cp)
{
    if (cp == '\t' || cp == '\n' || cp == '\r')
        return false;
    if (cp < 0x7F)
        return cp < 0x20;
    return range_find(&dc_wp_ctrl[0][0], dc_wp_n_ctrl, 2, cp) >= 0;
}

bool dc_wp_is_space(uint32_t cp)
{
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r')
        return true;
    return cp >= 0xA0 && IN_RANGES(zs, cp);
}

bool dc_wp_is_punct(uint32_t cp)
{
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        return true;
    return cp >= 0x80 && IN_RANGES(punct, cp);
}

bool dc_wp_is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool dc_wp_is_mn(uint32_t cp)
{
    return cp >= 0x300 && IN_RANGES(mn, cp);
}

static bool is_cased(uint32_t cp)
{
    return IN_RANGES(cased, cp);
}

static bool is_ignorable(uint32_t cp)
{
    return IN_RANGES(ignorable, cp);
}

/* Python's Final_Sigma test for the Σ at s[i]: skipping case-ignorable characters, a cased one
 * comes before it and none after it. */
static bool final_sigma(const uint32_t *s, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && is_ignorable(s[j - 1]))
        j--;
    if (j == 0 || !is_cased(s[j - 1]))
        return false;
    for (j = i + 1; j < n && is_ignorable(s[j]); j++)
        ;
    return j == n || !is_cased(s[j]);
}

/* Python's lower() of one code point (not U+0130 or Σ, done by the caller). */
static uint32_t lower1(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    int i = range_find((const uint32_t *)&dc_wp_lower[0][0], dc_wp_n_lower, 4, cp);
    if (i < 0)
        return cp;
    const int32_t *r = dc_wp_lower[i];
    return (cp - (uint32_t)r[0]) % (uint32_t)r[2] == 0 ? (uint32_t)((int32_t)cp + r[3]) : cp;
}

size_t dc_wp_lower_str(const uint32_t *s, size_t n, uint32_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x130) { /* İ -> i + combining dot above (SpecialCasing) */
            out[k++] = 'i';
            out[k++] = 0x307;
        } else if (c == 0x3A3) { /* Σ: final ς after a cased letter, before none */
            out[k++] = final_sigma(s, n, i) ? 0x3C2 : 0x3C3;
        } else {
            out[k++] = lower1(c);
        }
    }
    return k;
}

/* ---- normalisation ---- */

#define HANGUL_S 0xAC00u
#define HANGUL_L 0x1100u
#define HANGUL_V 0x1161u
#define HANGUL_T 0x11A7u
#define HANGUL_NV 21u
#define HANGUL_NT 28u
#define HANGUL_N (19u * HANGUL_NV * HANGUL_NT)

static unsigned ccc(uint32_t cp)
{
    if (cp < 0x300)
        return 0;
    int i = range_find(&dc_wp_ccc[0][0], dc_wp_n_ccc, 3, cp);
    return i < 0 ? 0 : dc_wp_ccc[i][2];
}

static int decomp_find(uint32_t cp)
{
    int lo = 0, hi = dc_wp_n_decomp - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < dc_wp_decomp[mid][0])
            hi = mid - 1;
        else if (cp > dc_wp_decomp[mid][0])
            lo = mid + 1;
        else
            return mid;
    }
    return -1;
}

/* Append the full canonical decomposition of cp to out; returns the new length. One level of the
 * table adds at most one code point and Unicode decompositions are at most 4 deep. */
static size_t decompose(uint32_t cp, uint32_t *out, size_t k)
{
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_N) {
        uint32_t si = cp - HANGUL_S;
        out[k++] = HANGUL_L + si / (HANGUL_NV * HANGUL_NT);
        out[k++] = HANGUL_V + (si % (HANGUL_NV * HANGUL_NT)) / HANGUL_NT;
        if (si % HANGUL_NT)
            out[k++] = HANGUL_T + si % HANGUL_NT;
        return k;
    }
    int i = cp < 0xC0 ? -1 : decomp_find(cp);
    if (i < 0) {
        out[k++] = cp;
        return k;
    }
    k = decompose(dc_wp_decomp[i][1], out, k);
    if (dc_wp_decomp[i][2])
        k = decompose(dc_wp_decomp[i][2], out, k);
    return k;
}

/* Canonical ordering: a stable sort by combining class of each run of non-starters. */
static void reorder(uint32_t *s, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        unsigned c = ccc(s[i]);
        if (c == 0)
            continue;
        uint32_t v = s[i];
        size_t j = i;
        while (j > 0 && ccc(s[j - 1]) > c) {
            s[j] = s[j - 1];
            j--;
        }
        s[j] = v;
    }
}

size_t dc_wp_nfd(const uint32_t *s, size_t n, uint32_t *out, bool strip_mn)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k = decompose(s[i], out, k);
    reorder(out, k);
    if (!strip_mn)
        return k;
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        if (!dc_wp_is_mn(out[i]))
            out[m++] = out[i];
    return m;
}

/* The primary composite of a + b, or 0. */
static uint32_t compose(uint32_t a, uint32_t b)
{
    if (a >= HANGUL_L && a < HANGUL_L + 19 && b >= HANGUL_V && b < HANGUL_V + HANGUL_NV)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_NV + (b - HANGUL_V)) * HANGUL_NT;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_N && (a - HANGUL_S) % HANGUL_NT == 0 &&
        b > HANGUL_T && b < HANGUL_T + HANGUL_NT)
        return a + (b - HANGUL_T);
    int lo = 0, hi = dc_wp_n_compose - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const uint32_t *r = dc_wp_compose[mid];
        if (a < r[0] || (a == r[0] && b < r[1]))
            hi = mid - 1;
        else if (a > r[0] || b > r[1])
            lo = mid + 1;
        else
            return r[2];
    }
    return 0;
}

size_t dc_wp_nfc(const uint32_t *s, size_t n, uint32_t *tmp, uint32_t *out)
{
    size_t k = dc_wp_nfd(s, n, tmp, false);
    /* canonical composition (UAX #15): each character joins the last starter unless a character
     * between them has a combining class >= its own (or is a starter) */
    size_t m = 0, starter = (size_t)-1;
    unsigned last_cc = 0;
    for (size_t i = 0; i < k; i++) {
        uint32_t c = tmp[i];
        unsigned cc = ccc(c);
        if (starter != (size_t)-1 && (m == starter + 1 || (last_cc != 0 && last_cc < cc))) {
            uint32_t p = compose(out[starter], c);
            if (p) {
                out[starter] = p;
                continue;
            }
        }
        if (cc == 0)
            starter = m;
        last_cc = cc;
        out[m++] = c;
    }
    return m;
}

/* ---- UTF-8 ---- */

uint32_t dc_utf8_next(const uint8_t *s, size_t n, size_t *i)
{
    size_t p = *i;
    uint8_t b = s[p];
    if (b < 0x80) {
        *i = p + 1;
        return b;
    }
    int len = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 && b <= 0xEF ? 3
            : b >= 0xC2 && b <= 0xDF ? 2 : 0;
    if (len == 0 || p + (size_t)len > n) {
        *i = p + 1;
        return 0xFFFD;
    }
    uint32_t cp = b & (0x7F >> len);
    for (int k = 1; k < len; k++) {
        if ((s[p + k] & 0xC0) != 0x80) {
            *i = p + 1;
            return 0xFFFD;
        }
        cp = cp << 6 | (s[p + k] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        *i = p + 1;
        return 0xFFFD;
    }
    *i = p + (size_t)len;
    return cp;
}

int dc_utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int dc_utf8_valid(const uint8_t *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t at = i;
        uint32_t cp = dc_utf8_next(s, n, &i);
        /* a literal U+FFFD (EF BF BD) is valid; a replacement from a bad byte advances by 1 */
        if (cp == 0xFFFD && i == at + 1) {
            *bad = at;
            return 0;
        }
    }
    return 1;
}
