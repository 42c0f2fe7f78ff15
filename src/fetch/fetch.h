/*
 * fetch.h - getting registry sources and specs from elsewhere: git repositories
 * (libgit2) and http(s) URLs (libcurl).  libgit2 and libcurl types stay inside
 * this module.  Nothing here logs; failures come back as struct ty_error.
 *
 * Cache layout (under a cache directory chosen by the caller):
 *   git/<sha256(url)[0:16]>/mirror.git        bare mirror, fetched in place
 *   git/<sha256(url)[0:16]>/co-<commit>       one checkout per commit, made in a
 *                                             temporary directory and renamed here
 *   git/<sha256(url)[0:16]>/live              "<commit>\n": the last checkout a
 *                                             caller declared good
 *   http/<sha256(url)>                        body of a fetched URL (+ .meta)
 */
#ifndef TY_FETCH_FETCH_H
#define TY_FETCH_FETCH_H

#include "util/error.h"

#include <stddef.h>

/* Initialises libcurl and libgit2.  Call once from main before any thread. */
void fetch_global_init(void);
void fetch_global_cleanup(void);

struct fetch_git_result {
    char *dir;       /* absolute path of the checkout (owned; fetch_git_result_cleanup) */
    char commit[41]; /* 40 hex digits */
};

void fetch_git_result_cleanup(struct fetch_git_result *r);

/* Brings the mirror of url up to date (clone on first use, fetch afterwards) and
 * makes sure a checkout of ref (a branch, a tag or a commit id; NULL = the
 * remote's HEAD) exists under cache_dir, creating it through a temporary
 * directory renamed into place.  Never modifies or removes an existing
 * checkout.  Errors: TY_ENOTFOUND for an unknown ref, TY_EUPSTREAM when the
 * remote cannot be reached (the message says why). */
int fetch_git_checkout(struct fetch_git_result *out, const char *cache_dir, const char *url,
                       const char *ref, struct ty_error *err);

/* Records commit as the live (last good) checkout of url. */
int fetch_git_mark_live(const char *cache_dir, const char *url, const char *commit,
                        struct ty_error *err);

/* The last checkout marked live, for serving while the remote is unreachable.
 * TY_ENOTFOUND when there is none. */
int fetch_git_last_live(struct fetch_git_result *out, const char *cache_dir, const char *url,
                        struct ty_error *err);

/* Removes checkouts of url other than the live one and keep_commit (may be NULL). */
int fetch_git_prune(const char *cache_dir, const char *url, const char *keep_commit,
                    struct ty_error *err);

/* GETs an http(s) URL into *out (NUL-terminated, free with free()), at most
 * max_bytes, with a timeout.  With cache_dir non-NULL the body is cached there
 * and revalidated with ETag/Last-Modified; when the server is unreachable a
 * cached copy is returned.  A non-2xx status is TY_ENOTFOUND (404) or
 * TY_EUPSTREAM, with the status in the message. */
int fetch_http_get(char **out, size_t *len_out, const char *url, const char *cache_dir,
                   size_t max_bytes, struct ty_error *err);

#endif
