/*
 * dirlist.c - the sorted entries of a folder (dirlist.h), shared by the folder readers.
 */
#define _POSIX_C_SOURCE 200809L
#include "data/dirlist.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *name, size_t nl, const char *end)
{
    size_t el = end ? strlen(end) : 0;
    return end && nl >= el && !strcmp(name + nl - el, end);
}

void dc_dir_list_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

dc_status dc_dir_list(const char *dir, int want_dir, const char *suffix, const char *skip,
                      char ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d)
        return dc_err(DC_ERR_IO, "%s: cannot open the directory: %s", dir, strerror(errno));
    char **v = NULL;
    size_t n = 0, cap = 0, dl = strlen(dir);
    dc_status st = DC_OK;
    struct dirent *e;
    while (st == DC_OK && (e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (e->d_name[0] == '.' ||
            (!want_dir && ((suffix && !ends_with(e->d_name, nl, suffix)) ||
                           ends_with(e->d_name, nl, skip))))
            continue;
        char *p = malloc(dl + nl + 2);
        struct stat sb;
        if (p)
            snprintf(p, dl + nl + 2, "%s/%s", dir, e->d_name);
        if (p && (lstat(p, &sb) != 0 || !(want_dir ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode)))) {
            free(p);
            continue;
        }
        if (p && want_dir) /* folders: the name alone */
            memmove(p, p + dl + 1, nl + 1);
        char **nv = p && n == cap ? realloc(v, (cap = cap ? cap * 2 : 64) * sizeof *v) : v;
        if (!p || !nv) {
            free(p);
            st = dc_err(DC_ERR_NOMEM, "%s: out of memory listing the directory", dir);
            break;
        }
        v = nv;
        v[n++] = p;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, cmp_name);
    *out = v;
    *n_out = n;
    return st;
}
