/*
 * cmd_tokenize.c - BERT's WordPiece tokenizer on the command line (docs/bert.md):
 *   deepc tokenize encode --vocab V (--text T | --in FILE...) [--pair T2] [--bert] ...
 *   deepc tokenize decode --vocab V ID... [--keep-special] [--no-cleanup]
 *   deepc tokenize train --vocab-size N --in FILE... --out vocab.txt [--min-frequency F]
 * Every subcommand takes --cased (no lower-casing or accent stripping; for cased vocabularies).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOK_MAX_IN 64

typedef struct tok_args {
    const char *vocab, *text, *pair, *out;
    const char *in[TOK_MAX_IN];
    int n_in, cased, bert, ids_only, quiet, stats, keep_special, no_cleanup;
    int64_t max_len, vocab_size, min_freq;
    const char *ids[4096];
    int n_ids;
} tok_args;

static void tok_usage(FILE *f)
{
    static const char *const lines[] = {
        "usage: deepc tokenize encode --vocab vocab.txt (--text TEXT | --in FILE...)",
        "         [--pair TEXT_B] [--bert] [--max-len 128] [--ids] [--stats] [--quiet] [--cased]",
        "       deepc tokenize decode --vocab vocab.txt ID... [--keep-special] [--no-cleanup]",
        "         [--cased]",
        "       deepc tokenize train --vocab-size N --in FILE... --out vocab.txt",
        "         [--min-frequency 2] [--cased]",
        "",
        "encode prints the tokens and their ids (BERT's basic tokenizer, then greedy",
        "longest-match WordPiece). --bert adds [CLS] ... [SEP] and prints the segment ids;",
        "--pair TEXT_B makes [CLS] A [SEP] B [SEP] (truncated to --max-len, longer side first).",
        "--ids prints only the ids; --stats prints bytes, tokens, wall and CPU time to stderr;",
        "--quiet prints nothing else. A FILE may be a directory: its files are read in name",
        "order (dot files, .dat files and symlinks skipped, as for Debian's fortunes);",
        "bert:fortunes=PATH,spam=DIR is the documents of BERT pre-training (e-mail bodies).",
        "decode joins the tokens of the ids, '##' pieces back into words, without the special",
        "tokens (--keep-special keeps them) and with HF's clean-up of spaces before punctuation.",
        "train learns a vocabulary of at most N tokens (special tokens, characters, then merges",
        "of the most frequent adjacent pair; docs/bert.md).",
        "--cased: no lower-casing and no accent stripping (for a cased vocabulary).",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        fprintf(f, "%s\n", lines[i]);
}

/* Flags with a value: 0 on success, -1 after a message. */
static int tok_value(tok_args *a, const char *f, const char *v)
{
    if (!v) {
        fprintf(stderr, "deepc tokenize: %s needs a value\n", f);
        return -1;
    }
    if (!strcmp(f, "--vocab"))
        a->vocab = v;
    else if (!strcmp(f, "--text"))
        a->text = v;
    else if (!strcmp(f, "--pair"))
        a->pair = v;
    else if (!strcmp(f, "--out"))
        a->out = v;
    else if (!strcmp(f, "--max-len"))
        return arg_i64(f, v, 3, 1 << 20, &a->max_len);
    else if (!strcmp(f, "--vocab-size"))
        return arg_i64(f, v, 6, 1 << 24, &a->vocab_size);
    else if (!strcmp(f, "--min-frequency"))
        return arg_i64(f, v, 1, INT64_MAX, &a->min_freq);
    else {
        fprintf(stderr, "deepc tokenize: unknown option '%s'\n", f);
        return -1;
    }
    return 0;
}

static int tok_parse(int argc, char **argv, tok_args *a)
{
    static const struct { const char *name; size_t off; } sw[] = {
        {"--cased", offsetof(tok_args, cased)}, {"--bert", offsetof(tok_args, bert)},
        {"--ids", offsetof(tok_args, ids_only)}, {"--quiet", offsetof(tok_args, quiet)},
        {"--stats", offsetof(tok_args, stats)},
        {"--keep-special", offsetof(tok_args, keep_special)},
        {"--no-cleanup", offsetof(tok_args, no_cleanup)}};
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i];
        size_t k = 0;
        while (k < sizeof sw / sizeof *sw && strcmp(f, sw[k].name))
            k++;
        if (k < sizeof sw / sizeof *sw) {
            *(int *)((char *)a + sw[k].off) = 1;
        } else if (!strcmp(f, "--in")) {
            int n0 = a->n_in;
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) && a->n_in < TOK_MAX_IN)
                a->in[a->n_in++] = argv[++i];
            if (a->n_in == n0) {
                fprintf(stderr, "deepc tokenize: --in needs at least one file\n");
                return -1;
            }
        } else if (!strncmp(f, "--", 2)) {
            if (tok_value(a, f, i + 1 < argc ? argv[++i] : NULL))
                return -1;
        } else if (a->n_ids < (int)(sizeof a->ids / sizeof *a->ids)) {
            a->ids[a->n_ids++] = f;
        } else {
            fprintf(stderr, "deepc tokenize: too many ids (at most 4096 on the command line)\n");
            return -1;
        }
    }
    return 0;
}

static dc_wp_opts tok_opts(const tok_args *a)
{
    dc_wp_opts o = dc_wp_defaults();
    if (a->cased) {
        o.lower_case = 0;
        o.strip_accents = 0;
    }
    return o;
}

static dc_wordpiece *tok_vocab(const tok_args *a)
{
    if (!a->vocab) {
        fprintf(stderr, "deepc tokenize: --vocab vocab.txt is required\n");
        return NULL;
    }
    dc_wp_opts o = tok_opts(a);
    dc_wordpiece *wp = dc_wordpiece_load(a->vocab, &o);
    if (!wp)
        fprintf(stderr, "deepc tokenize: %s\n", dc_last_error());
    return wp;
}

/* The texts of --in (each file or directory one text), or --text. */
static int tok_texts(const tok_args *a, uint8_t **texts, size_t *lens, int *n)
{
    *n = 0;
    if (a->text) {
        texts[0] = (uint8_t *)strdup(a->text);
        lens[0] = strlen(a->text);
        *n = texts[0] ? 1 : 0;
        return texts[0] ? 0 : -1;
    }
    for (int i = 0; i < a->n_in; i++) {
        if ((strncmp(a->in[i], "bert:", 5) ? dc_text_load(a->in[i], 0, &texts[i], &lens[i])
             : dc_bert_docs_text(a->in[i] + 5, &texts[i], &lens[i])) != DC_OK) { /* docs */
            fprintf(stderr, "deepc tokenize: %s\n", dc_last_error());
            return -1;
        }
        *n = i + 1;
    }
    if (*n == 0)
        fprintf(stderr, "deepc tokenize: give the text with --text TEXT or --in FILE\n");
    return *n ? 0 : -1;
}

static void print_ids(const dc_wordpiece *wp, const int64_t *ids, const int64_t *seg, int64_t n,
                      const tok_args *a)
{
    if (!a->ids_only) {
        printf("tokens:");
        for (int64_t i = 0; i < n; i++)
            printf(" %s", dc_wordpiece_token(wp, ids[i]));
        printf("\nids:");
    }
    for (int64_t i = 0; i < n; i++)
        printf(a->ids_only && i == 0 ? "%lld" : " %lld", (long long)ids[i]);
    printf("\n");
    if (seg && !a->ids_only) {
        printf("segments:");
        for (int64_t i = 0; i < n; i++)
            printf(" %lld", (long long)seg[i]);
        printf("\n");
    }
}

/* [CLS] a [SEP] (b [SEP]) with segment ids, printed. */
static int encode_bert(const dc_wordpiece *wp, const dc_ids *a_ids, const dc_ids *b_ids,
                       const tok_args *t)
{
    int64_t cls = dc_wordpiece_special(wp, DC_WP_CLS), sep = dc_wordpiece_special(wp, DC_WP_SEP);
    if (cls < 0 || sep < 0) {
        fprintf(stderr, "deepc tokenize: %s has no [CLS] or [SEP]\n", t->vocab);
        return 2;
    }
    int64_t *ids = malloc((size_t)t->max_len * sizeof *ids);
    int64_t *seg = malloc((size_t)t->max_len * sizeof *seg);
    int64_t len = 0;
    int rc = 0;
    if (!ids || !seg || dc_bert_encode_pair(a_ids->ids, a_ids->n, b_ids ? b_ids->ids : NULL,
                                            b_ids ? b_ids->n : 0, cls, sep, t->max_len, ids,
                                            seg, &len) != DC_OK) {
        fprintf(stderr, "deepc tokenize: %s\n", ids && seg ? dc_last_error() : "out of memory");
        rc = 2;
    } else {
        print_ids(wp, ids, seg, len, t);
    }
    free(ids);
    free(seg);
    return rc;
}

static int tok_encode(const tok_args *a)
{
    dc_wordpiece *wp = tok_vocab(a);
    if (!wp)
        return 2;
    uint8_t *texts[TOK_MAX_IN] = {0};
    size_t lens[TOK_MAX_IN] = {0}, bytes = 0;
    int n = 0, rc = tok_texts(a, texts, lens, &n) ? 2 : 0;
    dc_ids ids = {0}, pair = {0};
    double t0 = cli_now_s();
    clock_t c0 = clock(); /* CPU time too: on a busy machine the wall time mostly waits */
    for (int i = 0; i < n && !rc; i++) {
        bytes += lens[i];
        if (dc_wordpiece_encode(wp, (const char *)texts[i], lens[i], &ids) != DC_OK)
            rc = 1;
    }
    if (!rc && a->pair && dc_wordpiece_encode(wp, a->pair, strlen(a->pair), &pair) != DC_OK)
        rc = 1;
    double dt = cli_now_s() - t0, cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    if (rc == 1)
        fprintf(stderr, "deepc tokenize: %s\n", dc_last_error());
    if (!rc && a->stats)
        fprintf(stderr, "%zu bytes, %lld tokens in %.3f s (%.1f MB/s), CPU time %.3f s\n", bytes,
                (long long)(ids.n + pair.n), dt, dt > 0 ? (double)bytes / dt / 1e6 : 0.0, cpu);
    if (!rc && !a->quiet) {
        if (a->bert || a->pair)
            rc = encode_bert(wp, &ids, a->pair ? &pair : NULL, a);
        else
            print_ids(wp, ids.ids, NULL, ids.n, a);
    }
    for (int i = 0; i < n; i++)
        free(texts[i]);
    dc_ids_free(&ids);
    dc_ids_free(&pair);
    dc_wordpiece_free(wp);
    return rc;
}

static int tok_decode(const tok_args *a)
{
    dc_wordpiece *wp = tok_vocab(a);
    if (!wp)
        return 2;
    int64_t *ids = malloc((size_t)(a->n_ids ? a->n_ids : 1) * sizeof *ids);
    int rc = ids ? 0 : 1;
    for (int i = 0; i < a->n_ids && !rc; i++)
        if (arg_i64("decode: id", a->ids[i], 0, dc_wordpiece_size(wp) - 1, &ids[i]))
            rc = 2;
    char *text = NULL;
    unsigned flags = (a->keep_special ? 0 : DC_WP_SKIP_SPECIAL) |
                     (a->no_cleanup ? 0 : DC_WP_CLEANUP);
    if (!rc && dc_wordpiece_decode(wp, ids, a->n_ids, flags, &text) != DC_OK) {
        fprintf(stderr, "deepc tokenize: %s\n", dc_last_error());
        rc = 1;
    }
    if (!rc)
        printf("%s\n", text);
    free(text);
    free(ids);
    dc_wordpiece_free(wp);
    return rc;
}

static int tok_train(const tok_args *a)
{
    if (!a->out || !a->vocab_size || !a->n_in) {
        fprintf(stderr, "deepc tokenize train: needs --vocab-size N, --in FILE... and --out "
                        "vocab.txt\n");
        return 2;
    }
    uint8_t *texts[TOK_MAX_IN] = {0};
    size_t lens[TOK_MAX_IN] = {0};
    int n = 0, rc = tok_texts(a, texts, lens, &n) ? 2 : 0;
    dc_wp_train_opts o = dc_wp_train_defaults();
    o.vocab_size = a->vocab_size;
    if (a->min_freq)
        o.min_frequency = a->min_freq;
    o.basic = tok_opts(a);
    double t0 = cli_now_s();
    dc_wordpiece *wp = rc ? NULL : dc_wordpiece_train((const char *const *)texts, lens, n, &o);
    if (!rc && (!wp || dc_wordpiece_save(wp, a->out) != DC_OK)) {
        fprintf(stderr, "deepc tokenize train: %s\n", dc_last_error());
        rc = wp ? 1 : 2;
    }
    if (!rc)
        printf("%s: %lld tokens (%.2f s)\n", a->out, (long long)dc_wordpiece_size(wp),
               cli_now_s() - t0);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    dc_wordpiece_free(wp);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        tok_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            tok_usage(stdout);
            return 0;
        }
    tok_args a = {0};
    a.max_len = 128;
    if (tok_parse(argc, argv, &a))
        return 2;
    if (!strcmp(argv[1], "encode"))
        return tok_encode(&a);
    if (!strcmp(argv[1], "decode"))
        return tok_decode(&a);
    if (!strcmp(argv[1], "train"))
        return tok_train(&a);
    fprintf(stderr, "deepc tokenize: unknown subcommand '%s' (encode, decode or train)\n", argv[1]);
    return 2;
}
