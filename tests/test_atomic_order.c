/*
 * test_atomic_order.c - the atomic writer's promise ("after a crash or a power loss the file is
 * the old one or the new one, never empty or partial") rests on the order of three system calls:
 * fsync(temporary file, all data written) -> rename(temporary, target) -> fsync(directory). This
 * test observes that order.
 *
 * How: this file defines fsync() and rename() itself. A definition in the executable takes
 * precedence over the C library's for every caller linked into it (libdeepc.a included), so
 * while `spying` the two record each call (the file behind the descriptor, its size then, the
 * names) and then forward to the real functions, found with dlsym(RTLD_NEXT). No extra package,
 * no separate program, and it runs inside `make test`.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EV_FSYNC_FILE, EV_FSYNC_DIR, EV_RENAME };

typedef struct spy_event {
    int kind;
    long long size;          /* EV_FSYNC_FILE: the file's size when it was synced */
    char a[PATH_MAX], b[PATH_MAX];
} spy_event;

static int spying;
static int n_ev;
static spy_event ev[16];

static void record(int kind, long long size, const char *a, const char *b)
{
    if (!spying || n_ev == (int)(sizeof ev / sizeof *ev))
        return;
    spy_event *e = &ev[n_ev++];
    e->kind = kind;
    e->size = size;
    snprintf(e->a, sizeof e->a, "%s", a ? a : "");
    snprintf(e->b, sizeof e->b, "%s", b ? b : "");
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "fsync");
    if (spying) {
        char link[64], path[PATH_MAX] = "";
        struct stat st;
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(link, path, sizeof path - 1);
        path[k > 0 ? k : 0] = '\0';
        if (fstat(fd, &st) == 0)
            record(S_ISDIR(st.st_mode) ? EV_FSYNC_DIR : EV_FSYNC_FILE, (long long)st.st_size,
                   path, NULL);
    }
    return real ? real(fd) : -1;
}

int rename(const char *from, const char *to)
{
    static int (*real)(const char *, const char *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "rename");
    char a[PATH_MAX] = "", b[PATH_MAX] = "";
    if (spying) { /* absolute names, comparable with /proc/self/fd's */
        if (!realpath(from, a))
            snprintf(a, sizeof a, "%s", from);
        snprintf(b, sizeof b, "%s", to);
    }
    int r = real ? real(from, to) : -1;
    if (spying && r == 0 && !realpath(to, b))
        snprintf(b, sizeof b, "%s", to);
    record(EV_RENAME, 0, a, b);
    return r;
}

/* After one atomic write of `path`: exactly fsync(temp holding all `size` bytes), rename(temp,
 * path), fsync(path's directory), in that order. */
static void check_order(const char *what, const char *path)
{
    char target[PATH_MAX], dir[PATH_MAX];
    struct stat st;
    REQUIRE(realpath(path, target) && stat(target, &st) == 0);
    snprintf(dir, sizeof dir, "%s", target);
    *strrchr(dir, '/') = '\0';
    CHECK(n_ev == 3, "%s: %d fsync/rename calls, expected 3 (fsync temp, rename, fsync dir)",
          what, n_ev);
    if (n_ev < 3)
        return;
    CHECK(ev[0].kind == EV_FSYNC_FILE && ev[1].kind == EV_RENAME && ev[2].kind == EV_FSYNC_DIR,
          "%s: calls in the order %d %d %d, expected fsync(file)=%d rename=%d fsync(dir)=%d",
          what, ev[0].kind, ev[1].kind, ev[2].kind, EV_FSYNC_FILE, EV_RENAME, EV_FSYNC_DIR);
    CHECK(!strcmp(ev[0].a, ev[1].a) && strstr(ev[0].a, ".tmp."),
          "%s: the file synced (%s) is not the temporary file renamed (%s)", what, ev[0].a,
          ev[1].a);
    CHECK(ev[0].size == (long long)st.st_size, "%s: synced at %lld bytes, the file has %lld "
          "(data written after the fsync)", what, ev[0].size, (long long)st.st_size);
    CHECK(!strcmp(ev[1].b, target), "%s: renamed to %s, expected %s", what, ev[1].b, target);
    CHECK(!strcmp(ev[2].a, dir), "%s: synced directory %s, expected %s", what, ev[2].a, dir);
}

TEST(atomic_write_fsyncs_temp_then_renames_then_fsyncs_dir)
{
    const char *d = t_tmpdir();
    char path[512];
    dc_tensor *t = dc_tensor_new(DC_F32, 2, DC_SHAPE(64, 33));
    REQUIRE(t);
    dc_tensor_fill(t, 0.5f);
    snprintf(path, sizeof path, "%s/first.npy", d);
    for (int i = 0; i < 2; i++) { /* a new file, then replacing it */
        n_ev = 0;
        spying = 1;
        dc_status st = dc_npy_save(path, t);
        spying = 0;
        REQUIRE(st == DC_OK);
        check_order(i ? "dc_npy_save replacing a file" : "dc_npy_save", path);
    }
    /* a checkpoint: the file that --resume trusts */
    dc_model *m = dc_model_new();
    REQUIRE(m && dc_model_add_param(m, "w", DC_F32, 1, DC_SHAPE(1000), 0));
    dc_checkpoint_info info = {.epoch = 1, .spec = "s", .args = "a"};
    snprintf(path, sizeof path, "%s/checkpoint", d);
    n_ev = 0;
    spying = 1;
    dc_status st = dc_checkpoint_save(path, m, NULL, NULL, &info, NULL);
    spying = 0;
    REQUIRE(st == DC_OK);
    check_order("dc_checkpoint_save", path);
    /* a relative name: the directory synced is the current one */
    char cwd[PATH_MAX];
    REQUIRE(getcwd(cwd, sizeof cwd));
    REQUIRE(chdir(d) == 0);
    n_ev = 0;
    spying = 1;
    st = dc_model_save(m, "model.safetensors");
    spying = 0;
    CHECK(st == DC_OK, "dc_model_save: %s", dc_last_error());
    if (st == DC_OK)
        check_order("dc_model_save to a relative name", "model.safetensors");
    REQUIRE(chdir(cwd) == 0);
    dc_model_free(m);
    dc_tensor_free(t);
}
