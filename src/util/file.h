/*
 * file.h - whole-file reads with a size cap, atomic writes, directories.
 */
#ifndef TY_UTIL_FILE_H
#define TY_UTIL_FILE_H

#include "util/error.h"

#include <stddef.h>

/* Reads the whole file into *out (NUL-terminated; free with free()) and its size
 * into *len_out (may be NULL).  Files larger than max bytes are refused with
 * TY_ELIMIT; a missing file is TY_ENOTFOUND. */
int ty_file_read(char **out, size_t *len_out, const char *path, size_t max, struct ty_error *err);
/* Writes data to path through "path.tmp.<pid>" + fsync + rename, so readers see
 * the old or the new contents, never a torn file. */
int ty_file_write_atomic(const char *path, const void *data, size_t len, struct ty_error *err);
/* mkdir -p with mode 0755. */
int ty_mkdir_p(const char *path, struct ty_error *err);
/* rm -rf; a missing path is not an error. */
int ty_rm_rf(const char *path, struct ty_error *err);
/* Returns a new string: dirname of path ("." when none).  Free with free(). */
char *ty_path_dirname(const char *path);
/* Returns a new string: a joined with b by '/', or b alone when b is absolute. */
char *ty_path_join(const char *a, const char *b);

#endif
