/*
 * fetch_test.h - helpers shared by the fetch unit tests: temporary trees, shell
 * commands against local git repositories, and directory inspection.
 */
#ifndef TY_TESTS_FETCH_TEST_H
#define TY_TESTS_FETCH_TEST_H

#include "ty_check.h"
#include "util/file.h"
#include "util/mem.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Makes git deterministic and independent of the user's configuration.  Call
 * from main() before fetch_global_init(), so libgit2 sees the same HOME. */
static inline char *ft_env_setup(void)
{
    char tmpl[] = "/tmp/ty-fetch-home-XXXXXX";
    char *home = mkdtemp(tmpl);
    if (!home)
        abort();
    home = ty_xstrdup(home);
    setenv("HOME", home, 1);
    setenv("XDG_CONFIG_HOME", home, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_AUTHOR_NAME", "Tycho Test", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@example.org", 1);
    setenv("GIT_COMMITTER_NAME", "Tycho Test", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@example.org", 1);
    setenv("GIT_TERMINAL_PROMPT", "0", 1);
    /* The test servers are on loopback: never through a proxy. */
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    return home;
}

/* Runs a shell command (formatted) and asserts it exits 0. */
static inline void ft_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void ft_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    rc = system(cmd);
    ck_assert_msg(rc == 0, "command failed (%d): %s", rc, cmd);
}

/* Runs a command and returns its first output line, without the newline
 * (owned). */
static inline char *ft_sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *ft_sh_out(const char *fmt, ...)
{
    char cmd[4096], line[4096] = "";
    va_list ap;
    FILE *p;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    line[strcspn(line, "\r\n")] = '\0';
    return ty_xstrdup(line);
}

/* Reads a whole small file (owned), or NULL when it cannot be read. */
static inline char *ft_read(const char *dir, const char *name)
{
    char *path = ty_xasprintf("%s/%s", dir, name), *data = NULL;
    if (ty_file_read(&data, NULL, path, 1 << 20, NULL) < 0)
        data = NULL;
    free(path);
    return data;
}

static inline int ft_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Number of entries of dir whose name contains needle ("" counts all). */
static inline int ft_count(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (strstr(e->d_name, needle))
            n++;
    }
    closedir(d);
    return n;
}

/* A fresh temporary directory (owned). */
static inline char *ft_tmpdir(const char *tag)
{
    char *tmpl = ty_xasprintf("/tmp/ty-fetch-%s-XXXXXX", tag);
    if (!mkdtemp(tmpl))
        abort();
    return tmpl;
}

#endif
