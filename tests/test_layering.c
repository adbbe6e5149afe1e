/*
 * test_layering.c - the layers of the code are checked, not hoped for (docs/design.md, "Layers
 * of the code"). Reads the symbol tables of the built objects (nm -P -A on
 * <build>/obj/src/<folder>/<file>.o, <build> being the folder of the deepc binary under test) and
 * fails on any reference from one folder to a symbol defined in a folder that is not below it.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

/* Folder ranks: a folder may use the folders of lower rank only (equal ranks are peers that do
 * not use each other). Keep in step with docs/design.md. */
static const struct {
    const char *dir;
    int rank;
} layers[] = {
    {"kernels", 0}, {"core", 1}, {"ops", 2},  {"nn", 3},    {"optim", 4}, {"io", 4},
    {"data", 5},    {"spec", 6}, {"check", 6}, {"train", 7}, {"plot", 7},  {"cli", 8},
};
#define N_LAYERS ((int)(sizeof layers / sizeof *layers))

static int layer_rank(const char *dir)
{
    for (int i = 0; i < N_LAYERS; i++)
        if (!strcmp(layers[i].dir, dir))
            return layers[i].rank;
    return -1;
}

typedef struct sym {
    char name[96];
    char dir[16];  /* the folder that defines it, or that references it */
    char obj[160]; /* the object (references only) */
} sym;

typedef struct symtab {
    sym *def, *ref;
    int n_def, n_ref, cap_def, cap_ref, n_obj;
    int check_sources, stale; /* skip objects whose src/<dir>/<file>.c no longer exists */
    char last_obj[160];
} symtab;

static int push(sym **a, int *n, int *cap, const char *name, const char *dir, const char *obj)
{
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 1024;
        sym *p = realloc(*a, (size_t)c * sizeof *p);
        if (!p)
            return 0;
        *a = p;
        *cap = c;
    }
    sym *s = &(*a)[(*n)++];
    snprintf(s->name, sizeof s->name, "%.95s", name);
    snprintf(s->dir, sizeof s->dir, "%.15s", dir);
    snprintf(s->obj, sizeof s->obj, "%.159s", obj);
    return 1;
}

/* One line of `nm -P -A`: "path/obj/src/<dir>/<file>.o: <name> <type> ..." */
static void read_line(symtab *t, char *line)
{
    char *colon = strstr(line, ".o: ");
    char *src = strstr(line, "/src/");
    if (!colon || !src || src > colon)
        return;
    colon[2] = '\0';
    char dir[16], name[96], type[4];
    const char *after = src + 5, *slash = strchr(after, '/');
    if (!slash || slash - after >= (long)sizeof dir)
        return;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - after), after);
    if (sscanf(colon + 4, "%95s %3s", name, type) != 2)
        return;
    if (strcmp(t->last_obj, line)) { /* a new object: skip it if its source is gone (stale) */
        char source[200];
        snprintf(t->last_obj, sizeof t->last_obj, "%.159s", line);
        snprintf(source, sizeof source, "%.*sc", (int)(colon - src), src + 1);
        FILE *f = t->check_sources ? fopen(source, "r") : NULL;
        t->stale = t->check_sources && !f;
        if (f)
            fclose(f);
        t->n_obj += !t->stale;
    }
    if (t->stale)
        return;
    if (!strcmp(type, "U"))
        push(&t->ref, &t->n_ref, &t->cap_ref, name, dir, line);
    else if (type[0] >= 'A' && type[0] <= 'Z' && name[0] != '.')
        push(&t->def, &t->n_def, &t->cap_def, name, dir, "");
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const sym *)a)->name, ((const sym *)b)->name);
}

/* Read nm output from f; count the upward references (and unknown folders), listing them in
 * report. */
static int check_layers(FILE *f, symtab *t, char *report, size_t size)
{
    char line[512];
    int bad = 0;
    size_t len = 0;
    report[0] = '\0';
    while (fgets(line, sizeof line, f))
        read_line(t, line);
    qsort(t->def, (size_t)t->n_def, sizeof *t->def, by_name);
    for (int i = 0; i < t->n_ref; i++) {
        const sym *r = &t->ref[i];
        const sym *d = bsearch(r, t->def, (size_t)t->n_def, sizeof *t->def, by_name);
        if (!d || !strcmp(d->dir, r->dir))
            continue;
        int from = layer_rank(r->dir), to = layer_rank(d->dir);
        if (from >= 0 && to >= 0 && to < from)
            continue;
        bad++;
        if (len + 1 < size)
            len += (size_t)snprintf(report + len, size - len, "  %s uses %s from src/%s/%s\n",
                                    r->obj, r->name, d->dir,
                                    from < 0 || to < 0 ? " (a folder not in the layer table)"
                                                       : " (a layer above or beside it)");
    }
    return bad;
}

static void symtab_free(symtab *t)
{
    free(t->def);
    free(t->ref);
}

/* The checker itself: an ops object calling into train/ is caught, a call down is not. */
TEST(layering_checker_catches_an_upward_call)
{
    const char *nm = "b/obj/src/ops/norm.o: dc_dist_sum U\n"
                     "b/obj/src/ops/norm.o: dc_k_add T 0 10\n"
                     "b/obj/src/train/dist.o: dc_dist_sum T 0 20\n"
                     "b/obj/src/train/dist.o: dc_k_add U\n"
                     "b/obj/src/train/dist.o: dc_k_sub U\n"
                     "b/obj/src/kernels/k.o: dc_k_sub T 0 5\n";
    char path[512], report[4096];
    snprintf(path, sizeof path, "%s/nm.txt", t_tmpdir());
    CHECK(t_write_text(path, nm), "write %s", path);
    FILE *f = fopen(path, "r");
    symtab t = {0};
    int bad = f ? check_layers(f, &t, report, sizeof report) : -1;
    if (f)
        fclose(f);
    CHECK(bad == 1 && strstr(report, "ops/norm.o uses dc_dist_sum from src/train/"),
          "%d violations:\n%s", bad, report);
    symtab_free(&t);
}

/* The nm command over the objects of the build of the deepc binary under test, into cmd. */
static void nm_command(char *cmd, size_t size)
{
    char bin[400];
    snprintf(bin, sizeof bin, "%s", t_deepc_bin());
    char *slash = strrchr(bin, '/');
    snprintf(cmd, size, "nm -P -A %.*s/obj/src/*/*.o 2>/dev/null",
             slash ? (int)(slash - bin) : 1, slash ? bin : ".");
}

TEST(layering_no_call_goes_up_a_layer)
{
    char cmd[600], report[8192];
    nm_command(cmd, sizeof cmd);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL, "cannot run %s", cmd);
    if (!p)
        return;
    symtab t = {.check_sources = 1};
    int bad = check_layers(p, &t, report, sizeof report);
    int rc = pclose(p);
    CHECK(rc == 0 && t.n_obj > 60 && t.n_def > 300 && t.n_ref > 1000,
          "%s: exit %d, read %d objects, %d definitions, %d references (is nm installed?)", cmd,
          rc, t.n_obj, t.n_def, t.n_ref);
    CHECK(bad == 0, "%d calls go up a layer (docs/design.md, \"Layers of the code\"):\n%s", bad,
          report);
    symtab_free(&t);
}

/* What only a program's main may do: end the process, replace it (exec), or change the
 * environment that later code reads. A library function doing it would take that decision away
 * from every program linking libdeepc (docs/design.md, "Layers of the code"). */
TEST(layering_library_never_exits_execs_or_sets_the_environment)
{
    static const char *const banned[] = {"exit",  "_exit",  "_Exit",  "quick_exit", "abort",
                                         "execv", "execve", "execvp", "execl",      "execlp",
                                         "setenv", "putenv", "unsetenv", NULL};
    char cmd[600], report[4096] = "";
    nm_command(cmd, sizeof cmd);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL, "cannot run %s", cmd);
    if (!p)
        return;
    symtab t = {.check_sources = 1};
    char line[512];
    while (fgets(line, sizeof line, p))
        read_line(&t, line);
    CHECK(pclose(p) == 0 && t.n_obj > 60, "%s: read %d objects", cmd, t.n_obj);
    int bad = 0;
    size_t len = 0;
    for (int i = 0; i < t.n_ref; i++)
        for (int k = 0; banned[k]; k++)
            if (strcmp(t.ref[i].dir, "cli") && !strcmp(t.ref[i].name, banned[k]) &&
                len + 1 < sizeof report) {
                bad++;
                len += (size_t)snprintf(report + len, sizeof report - len, "  %s uses %s\n",
                                        t.ref[i].obj, banned[k]);
            }
    CHECK(bad == 0, "%d library objects end the process, exec or set the environment:\n%s",
          bad, report);
    symtab_free(&t);
}
