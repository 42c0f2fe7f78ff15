/*
 * file.c - file helpers (see file.h).
 */
#include "util/file.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ty_file_read(char **out, size_t *len_out, const char *path, size_t max, struct ty_error *err)
{
    FILE *f = NULL;
    char *data = NULL;
    struct stat st;
    size_t len = 0, cap, n;
    int rc = TY_OK;

    *out = NULL;
    if (len_out)
        *len_out = 0;
    f = fopen(path, "rb");
    if (!f)
        return ty_error_set(err, errno == ENOENT ? TY_ENOTFOUND : TY_ERR, "%s: %s", path,
                            strerror(errno));
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = ty_error_set(err, TY_EINVAL, "%s: is a directory", path);
        goto out;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > max) {
        rc = ty_error_set(err, TY_ELIMIT, "%s:1:1: file is %lld bytes, over the limit of %zu",
                          path, (long long)st.st_size, max);
        goto out;
    }
    cap = 4096;
    data = ty_xmalloc(cap);
    while ((n = fread(data + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len > max) {
            rc = ty_error_set(err, TY_ELIMIT, "%s:1:1: file is over the limit of %zu bytes",
                              path, max);
            goto out;
        }
        if (cap - len - 1 == 0) {
            cap *= 2;
            data = ty_xrealloc(data, cap);
        }
    }
    if (ferror(f)) {
        rc = ty_error_set(err, TY_ERR, "%s: read failed", path);
        goto out;
    }
    data[len] = '\0';
    *out = data;
    data = NULL;
    if (len_out)
        *len_out = len;
out:
    free(data);
    fclose(f);
    return rc;
}

int ty_file_write_atomic(const char *path, const void *data, size_t len, struct ty_error *err)
{
    char *tmp = ty_xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd, rc = TY_OK;
    const char *p = data;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = ty_error_set(err, TY_ERR, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = ty_error_set(err, TY_ERR, "%s: write: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            goto out;
        }
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        rc = ty_error_set(err, TY_ERR, "%s: sync: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = ty_error_set(err, TY_ERR, "rename %s: %s", path, strerror(errno));
        unlink(tmp);
    }
out:
    free(tmp);
    return rc;
}

int ty_mkdir_p(const char *path, struct ty_error *err)
{
    char *p = ty_xstrdup(path);
    int rc = TY_OK;

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = ty_error_set(err, TY_ERR, "mkdir %s: %s", p, strerror(errno));
            goto out;
        }
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        rc = ty_error_set(err, TY_ERR, "mkdir %s: %s", p, strerror(errno));
out:
    free(p);
    return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int ty_rm_rf(const char *path, struct ty_error *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return TY_OK;
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
        return ty_error_set(err, TY_ERR, "remove %s: %s", path, strerror(errno));
    return TY_OK;
}

char *ty_path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ty_xstrdup(".");
    if (slash == path)
        return ty_xstrdup("/");
    return ty_xstrndup(path, (size_t)(slash - path));
}

char *ty_path_join(const char *a, const char *b)
{
    size_t la;
    if (b[0] == '/' || !a || !*a)
        return ty_xstrdup(b);
    la = strlen(a);
    return ty_xasprintf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}
