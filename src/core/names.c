/*
 * names.c - the nearest known name to a misspelt one, for "did you mean ...?" in messages
 * (core/internal.h): the CLI's unknown commands and flags, gradcheck's unknown filters.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <string.h>

/* Optimal-string-alignment distance: the fewest single-byte insertions, deletions,
 * substitutions and swaps of two neighbours turning a into b ("trian" -> "train": 1).
 * Names longer than 63 bytes are compared by their first 63. */
int dc_edit_distance(const char *a, const char *b)
{
    enum { L = 64 };
    int d[L][L];
    int na = (int)strnlen(a, L - 1), nb = (int)strnlen(b, L - 1);
    for (int i = 0; i <= na; i++)
        d[i][0] = i;
    for (int j = 0; j <= nb; j++)
        d[0][j] = j;
    for (int i = 1; i <= na; i++)
        for (int j = 1; j <= nb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            best = d[i - 1][j] + 1 < best ? d[i - 1][j] + 1 : best;
            best = d[i][j - 1] + 1 < best ? d[i][j - 1] + 1 : best;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

const char *dc_nearest_name(const char *word, const char *const *known)
{
    const char *best = NULL;
    int best_d = 0;
    size_t wl = strlen(word), dashes = strspn(word, "-");
    for (int i = 0; known && known[i]; i++) {
        int d = dc_edit_distance(word, known[i]);
        size_t kl = strlen(known[i]);
        /* close enough: a third of the name may differ (at least 1, at most 3 edits) */
        int limit = (int)(kl - strspn(known[i], "-")) / 3;
        limit = limit < 1 ? 1 : limit > 3 ? 3 : limit;
        /* an abbreviation of 3+ letters ("--opt" for "--optimizer") is close too */
        if (d > limit && wl >= dashes + 3 && wl < kl && !strncmp(word, known[i], wl))
            d = limit;
        if (d <= limit && (!best || d < best_d)) {
            best = known[i];
            best_d = d;
        }
    }
    return best;
}


int dc_usage_flags(char *text, const char **known, int cap)
{
    int n = 0;
    for (char *p = text; p && *p && n < cap - 1; p++) {
        if (!(p[0] == '-' && p[1] == '-' && (p == text || strchr(" \t\n[(|,", p[-1]))))
            continue;
        char *q = p + 2;
        while ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-')
            q++;
        char end = *q;
        *q = '\0';
        int seen = q - p <= 2;
        for (int i = 0; i < n && !seen; i++)
            seen = !strcmp(known[i], p);
        if (!seen)
            known[n++] = p;
        p = q;
        if (!end)
            break;
    }
    if (cap > 0)
        known[n] = NULL;
    return n;
}
