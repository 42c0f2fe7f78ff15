/*
 * fetch_path.c - resolving a path named by registry content inside a checkout.
 *
 * A registry names its specs, icons and sub-directories with paths relative to
 * itself, and those strings come from whoever can push to the repository.  The
 * check is made twice: lexically (no absolute path, no ".." above the root),
 * which gives a clear error for the common mistakes, and on the real path, which
 * catches symlinks in local directory sources (git checkouts have none: see
 * core.symlinks in fetch_git.c).
 */
#include "fetch/fetch.h"
#include "util/buf.h"
#include "util/mem.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define REL_MAX 4096

/* True when path is root or lies below it (both real paths). */
static int is_within(const char *path, const char *root)
{
    size_t n = strlen(root);
    if (strcmp(root, "/") == 0)
        return 1;
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int fetch_path_resolve(char **out, const char *root, const char *rel, struct ty_error *err)
{
    struct ty_buf norm = TY_BUF_INIT;
    char *real_root = NULL, *joined = NULL, *real = NULL;
    const char *p;
    int depth = 0, rc = TY_OK;

    *out = NULL;
    if (!root || !*root)
        return ty_error_set(err, TY_EINVAL, "path: no root directory");
    if (!rel)
        return ty_error_set(err, TY_EINVAL, "path: no path");
    if (strlen(rel) > REL_MAX)
        return ty_error_set(err, TY_EINVAL, "path: longer than %d bytes", REL_MAX);
    for (p = rel; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return ty_error_set(err, TY_EINVAL, "path '%s': control characters", rel);
    if (rel[0] == '/')
        return ty_error_set(err, TY_EINVAL, "path '%s': must be relative", rel);

    /* Lexical pass: drop "" and "." components, let ".." pop, never above root. */
    p = rel;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* nothing */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (depth == 0) {
                rc = ty_error_set(err, TY_EINVAL, "path '%s': climbs out of its directory", rel);
                goto out;
            }
            depth--;
            while (norm.len > 0 && norm.data[norm.len - 1] != '/')
                norm.len--;
            if (norm.len > 0)
                norm.len--; /* the '/' before the dropped component */
            norm.data[norm.len] = '\0';
        } else {
            if (norm.len > 0)
                ty_buf_putc(&norm, '/');
            ty_buf_append(&norm, p, n);
            depth++;
        }
        p += n;
        if (*p == '/')
            p++;
    }

    real_root = realpath(root, NULL);
    if (!real_root) {
        rc = ty_error_set(err, errno == ENOENT ? TY_ENOTFOUND : TY_ERR, "path: %s: %s", root,
                          strerror(errno));
        goto out;
    }
    joined =
        norm.len ? ty_xasprintf("%s/%s", real_root, ty_buf_cstr(&norm)) : ty_xstrdup(real_root);
    real = realpath(joined, NULL);
    if (!real) {
        if (errno == ENOENT || errno == ENOTDIR)
            rc = ty_error_set(err, TY_ENOTFOUND, "path '%s': no such file in %s", rel, root);
        else
            rc = ty_error_set(err, TY_ERR, "path '%s': %s", rel, strerror(errno));
        goto out;
    }
    if (!is_within(real, real_root)) {
        rc = ty_error_set(err, TY_EINVAL, "path '%s': leads outside %s through a symlink", rel,
                          root);
        goto out;
    }
    *out = real;
    real = NULL;
out:
    free(real);
    free(joined);
    free(real_root);
    ty_buf_cleanup(&norm);
    return rc;
}
