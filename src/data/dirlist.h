/*
 * dirlist.h - the entries of a folder, sorted, for the readers of folders of text files
 * (text classification's one folder per class, the BERT corpora).
 */
#ifndef DC_DATA_DIRLIST_H
#define DC_DATA_DIRLIST_H

#include "core/internal.h"

#include <stddef.h>

/*
 * dc_dir_list - the entries of dir sorted by name (strcmp), dot entries and symbolic links
 * left out: with want_dir its real folders (their names), else its regular files (full paths
 * "dir/name") whose names end in suffix (NULL: any) and not in skip (NULL: none).
 * *out is malloc'd (NULL when empty); free it with dc_dir_list_free. DC_ERR_IO names dir when
 * it cannot be opened; DC_ERR_NOMEM.
 */
dc_status dc_dir_list(const char *dir, int want_dir, const char *suffix, const char *skip,
                      char ***out, size_t *n_out);
void dc_dir_list_free(char **v, size_t n);

#endif
