/*
 * fetch.h - getting registry sources and specs from elsewhere: git repositories
 * (libgit2) and http(s) URLs (libcurl).  libgit2 and libcurl types stay inside
 * this module.  Nothing here logs; failures come back as struct ty_error, whose
 * messages never contain the userinfo of a URL (user:token@ becomes ***@).
 *
 * Cache layout (under a cache directory chosen by the caller):
 *   git/<sha256(url)[0:16]>/mirror.git        bare mirror, fetched in place
 *   git/<sha256(url)[0:16]>/co-<commit>       one checkout per commit, made in a
 *                                             temporary directory and renamed here
 *   git/<sha256(url)[0:16]>/live              "<commit>\n": the last checkout a
 *                                             caller declared good
 *   git/<sha256(url)[0:16]>/lock              flock(2) target serialising processes
 *   git/<sha256(url)[0:16]>/<x>.tmp.<pid>      work in progress; removed on failure
 *                                             and by the next caller holding the lock
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

/* Frees r->dir and resets r; r may be NULL. */
void fetch_git_result_cleanup(struct fetch_git_result *r);

/* Limits of one git fetch.  Zero fields take the defaults below.  timeout_ms
 * bounds connecting, every read and write, and the whole transfer of git://,
 * http:// and https:// remotes (fetch_stream.c gives libgit2 a socket with
 * deadlines); for ssh:// (libssh2's own socket) it is checked only while data
 * flows, and name resolution uses the resolver's own timeouts. */
struct fetch_git_opts {
    long timeout_ms;  /* whole fetch; 0 = FETCH_GIT_TIMEOUT_MS_DEFAULT */
    size_t max_bytes; /* pack bytes received by one fetch; 0 = FETCH_GIT_MAX_BYTES_DEFAULT */
};
#define FETCH_GIT_OPTS_INIT \
    {                       \
        0, 0                \
    }
#define FETCH_GIT_TIMEOUT_MS_DEFAULT 120000L
#define FETCH_GIT_MAX_BYTES_DEFAULT  ((size_t)512 << 20)

/* Brings the mirror of url up to date (clone on first use, fetch on every call)
 * and makes sure a checkout of ref exists under cache_dir, creating it through a
 * temporary directory renamed into place.  Never modifies or removes an existing
 * checkout (an existing co-<commit> is reused as it is).
 *   url: anything libgit2 clones: file:// URL, plain local path, http(s)://, ssh://.
 *   ref: a branch name (refs/heads/ref), a tag (refs/tags/ref, peeled to its
 *        commit), a full ref name starting "refs/", a full or abbreviated (>= 4 hex)
 *        commit id, or NULL = the remote's HEAD.  Branches win over tags, tags over
 *        commit ids.  The ref never becomes part of a path.
 * Symlinks in the repository are checked out as plain files holding the link
 * target (core.symlinks=false), so nothing in a checkout points outside it.
 * On success out->dir is the absolute path of the checkout (owned: call
 * fetch_git_result_cleanup) and out->commit its 40-hex id; on failure out->dir
 * is NULL.  Errors: TY_ENOTFOUND unknown ref or empty remote ("ref 'x' not found
 * in URL"); TY_EUPSTREAM remote unreachable or the fetch failed (libgit2's
 * message); TY_ETIMEOUT / TY_ELIMIT a limit of opts was hit; TY_EINVAL a
 * malformed url, ref, ambiguous abbreviated id or a ref that is not a commit;
 * TY_ECONFLICT the cache slot belongs to another URL; TY_ERR local I/O.
 * Thread-safe: calls on the same cache serialise on a process-wide mutex and,
 * across processes, on flock(2) of git/<hash>/lock.  opts may be NULL. */
int fetch_git_checkout_ex(struct fetch_git_result *out,
                          const char *cache_dir,
                          const char *url,
                          const char *ref,
                          const struct fetch_git_opts *opts,
                          struct ty_error *err);

/* fetch_git_checkout_ex() with the default limits. */
int fetch_git_checkout(struct fetch_git_result *out,
                       const char *cache_dir,
                       const char *url,
                       const char *ref,
                       struct ty_error *err);

/* Records commit (40 lowercase hex) as the live (last good) checkout of url,
 * writing git/<hash>/live atomically.  TY_ENOTFOUND when co-<commit> does not
 * exist, TY_EINVAL for a malformed commit id. */
int fetch_git_mark_live(const char *cache_dir,
                        const char *url,
                        const char *commit,
                        struct ty_error *err);

/* The last checkout marked live, for serving while the remote is unreachable.
 * Touches no network.  out as for fetch_git_checkout (owned dir).  TY_ENOTFOUND
 * when none was marked or its checkout has gone. */
int fetch_git_last_live(struct fetch_git_result *out,
                        const char *cache_dir,
                        const char *url,
                        struct ty_error *err);

/* Removes checkouts of url other than the live one and keep_commit (may be NULL;
 * else 40 hex), and any temporary directories left by crashed processes.  The
 * mirror stays.  A url never fetched is not an error.  Callers must not prune
 * a checkout that another thread is still reading. */
int fetch_git_prune(const char *cache_dir,
                    const char *url,
                    const char *keep_commit,
                    struct ty_error *err);

/* Resolves rel, a path relative to root (a checkout, or any registry directory),
 * to the absolute real path of an existing file or directory inside root, for
 * "specs named relative to the registry".  Refused with TY_EINVAL: rel NULL,
 * absolute, over 4096 bytes, holding control characters, with ".." components
 * that climb above root, or resolving (through symlinks) outside root's real
 * path.  "" and "." name root itself.  TY_ENOTFOUND when the target does not
 * exist (or root does not).  *out is owned (free()); NULL on failure. */
int fetch_path_resolve(char **out, const char *root, const char *rel, struct ty_error *err);

/* Options of one http(s) GET.  Zero fields take the defaults below. */
struct fetch_http_opts {
    const char *cache_dir;   /* NULL = no cache; else bodies under cache_dir/http/ */
    size_t max_bytes;        /* body cap (after decoding); 0 = FETCH_HTTP_MAX_BYTES_DEFAULT */
    long connect_timeout_ms; /* 0 = FETCH_HTTP_CONNECT_TIMEOUT_MS_DEFAULT */
    long timeout_ms;         /* whole transfer incl. redirects; 0 = ..._TIMEOUT_MS_DEFAULT */
};
#define FETCH_HTTP_OPTS_INIT \
    {                        \
        NULL, 0, 0, 0        \
    }
#define FETCH_HTTP_MAX_BYTES_DEFAULT          ((size_t)8 << 20)
#define FETCH_HTTP_CONNECT_TIMEOUT_MS_DEFAULT 10000L
#define FETCH_HTTP_TIMEOUT_MS_DEFAULT         30000L
#define FETCH_HTTP_MAX_REDIRECTS              5

/* GETs an http(s) URL into *out (NUL-terminated; free with free()) and its length
 * into *len_out (may be NULL).  Follows at most FETCH_HTTP_MAX_REDIRECTS redirects,
 * to http(s) only.  With opts->cache_dir the body is cached under
 * cache_dir/http/<sha256(url)> (+ .meta JSON: etag, last_modified, fetched_at,
 * sha256, size) and revalidated with If-None-Match / If-Modified-Since; a 304
 * returns the cached body.  When the transfer fails (connect, DNS, timeout,
 * reset) or the server answers 5xx and a cached copy exists, the cached copy is
 * returned with *is_stale_out = 1 (is_stale_out may be NULL); otherwise
 * *is_stale_out = 0.  Errors (*out = NULL): TY_EINVAL not an http(s) URL or a
 * redirect to another scheme; TY_ENOTFOUND 404; TY_ELIMIT body over max_bytes;
 * TY_ETIMEOUT; TY_EUPSTREAM other status (in the message) or transport failure
 * (curl's message); TY_ERR the cache could not be written.  Thread-safe.
 * opts may be NULL (no cache, default limits). */
int fetch_http_get_ex(char **out,
                      size_t *len_out,
                      int *is_stale_out,
                      const char *url,
                      const struct fetch_http_opts *opts,
                      struct ty_error *err);

/* fetch_http_get_ex() with cache_dir (may be NULL), max_bytes (0 = default) and
 * the default timeouts. */
int fetch_http_get(char **out,
                   size_t *len_out,
                   const char *url,
                   const char *cache_dir,
                   size_t max_bytes,
                   struct ty_error *err);

/* POSTs a JSON document (json_text, NUL-terminated) to an http(s) URL: for
 * notifications.  No redirect is followed; the answer's body is read up to
 * 64 KiB and dropped.  timeout_ms bounds the whole exchange (0 = 5000).
 * Returns 0 on a 2xx answer; TY_EINVAL not an http(s) URL, TY_ETIMEOUT, or
 * TY_EUPSTREAM for any other status (in the message) or a transport failure.
 * Thread-safe. */
int fetch_http_post_json(const char *url,
                         const char *json_text,
                         long timeout_ms,
                         struct ty_error *err);

#endif
