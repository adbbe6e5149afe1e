/*
 * mkdir.c - mkdir -p for the folders a run or a picture is written to (io.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "io/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

dc_status dc_io_mkdir_p(const char *dir)
{
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p)
        return dc_err(DC_ERR_NOMEM, "out of memory for the path %s", dir);
    memcpy(p, dir, n + 1);
    dc_status st = DC_OK;
    for (size_t i = 1; i <= n && st == DC_OK; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        if (p[i - 1] == '/') /* "a//b", "a/" */
            continue;
        char keep = p[i];
        p[i] = '\0';
        struct stat sb;
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            st = dc_err(DC_ERR_IO, "cannot create the directory %s%s%s%s: %s", p,
                        keep ? " (for " : "", keep ? dir : "", keep ? ")" : "", strerror(errno));
        else if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
            st = dc_err(DC_ERR_IO, "cannot create the directory %s: %s is %s", dir, p,
                        errno == ENOENT ? "missing" : "a file, not a directory");
        p[i] = keep;
    }
    free(p);
    return st;
}

dc_status dc_io_mkdir_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return DC_OK;
    char *dir = malloc((size_t)(slash - path) + 1);
    if (!dir)
        return dc_err(DC_ERR_NOMEM, "out of memory for the path %s", path);
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    dc_status st = dc_io_mkdir_p(dir);
    free(dir);
    return st;
}
