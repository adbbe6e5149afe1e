/*
 * cmd_tokenize.c - BERT's WordPiece tokenizer on the command line (docs/bert.md):
 *   deepc tokenize encode --vocab V (--text T | --in FILE...) [--pair T2] [--bert] ...
 *   deepc tokenize decode --vocab V ID... [--keep-special] [--no-cleanup]
 *   deepc tokenize train --vocab-size N --in FILE... --out vocab.txt [--min-frequency F]
 * Every subcommand takes --cased (no lower-casing or accent stripping; for cased vocabularies).
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "data/wp_job.h"

#include <stdlib.h>
#include <string.h>

#define TOK_MAX_IN DC_WP_JOB_MAX_IN

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
            if (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
                fprintf(stderr, "deepc tokenize: --in takes at most %d files; give their "
                        "directory instead (its files are read in name order)\n", TOK_MAX_IN);
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

/* The exit code of a failed library call, after its message: 2 for bad input, else 1. */
static int tok_fail(const char *sub, dc_status st)
{
    fprintf(stderr, "deepc tokenize %s: %s\n", sub, dc_last_error());
    return st == DC_ERR_ARG || st == DC_ERR_IO || st == DC_ERR_FORMAT ? 2 : 1;
}

static dc_wp_job tok_job(const tok_args *a)
{
    return (dc_wp_job){.vocab = a->vocab, .text = a->text, .pair = a->pair, .in = a->in,
                       .n_in = a->n_in, .cased = a->cased, .bert = a->bert,
                       .max_len = a->max_len};
}

static int tok_encode(const tok_args *a)
{
    dc_wp_job j = tok_job(a);
    dc_wp_encoded e;
    dc_status st = dc_wp_job_encode(&j, &e);
    if (st != DC_OK)
        return tok_fail("encode", st);
    if (a->stats)
        fprintf(stderr, "%zu bytes, %lld tokens in %.3f s (%.1f MB/s), CPU time %.3f s\n",
                e.bytes, (long long)e.n_tokens, e.wall_s,
                e.wall_s > 0 ? (double)e.bytes / e.wall_s / 1e6 : 0.0, e.cpu_s);
    if (!a->quiet)
        dc_wp_encoded_print(stdout, &e, a->ids_only);
    dc_wp_encoded_free(&e);
    return 0;
}

static int tok_decode(const tok_args *a)
{
    dc_wp_job j = tok_job(a);
    char *text = NULL;
    unsigned flags = (a->keep_special ? 0 : DC_WP_SKIP_SPECIAL) |
                     (a->no_cleanup ? 0 : DC_WP_CLEANUP);
    dc_status st = dc_wp_job_decode(&j, a->ids, a->n_ids, flags, &text);
    if (st != DC_OK)
        return tok_fail("decode", st);
    printf("%s\n", text);
    free(text);
    return 0;
}

static int tok_train(const tok_args *a)
{
    if (!a->n_in)
        return cli_missing("tokenize train", "--in FILE...");
    dc_wp_job j = tok_job(a);
    double t0 = cli_now_s();
    dc_wordpiece *wp = dc_wp_job_train(&j, a->vocab_size, a->min_freq, a->out);
    if (!wp)
        return tok_fail("train", DC_ERR_ARG);
    printf("%s: %lld tokens (%.2f s)\n", a->out, (long long)dc_wordpiece_size(wp),
           cli_now_s() - t0);
    dc_wordpiece_free(wp);
    return 0;
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
