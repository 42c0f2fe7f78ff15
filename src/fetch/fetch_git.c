/*
 * fetch_git.c - git sources through libgit2: one bare mirror per URL, one
 * immutable checkout per commit, and a "live" file naming the last good one.
 *
 * The shape follows from what the registry needs.  A registry must keep serving
 * while its remote is down and must never see a half-written tree, so every
 * checkout is written into "co-<commit>.tmp.<pid>" and renamed to "co-<commit>"
 * only when complete; an existing co-<commit> is never touched again, which lets
 * readers use it without locks.  The mirror (refspec "+refs/ANY:refs/ANY", pruned) is fetched
 * on each call so that branch names, tags and abbreviated ids all resolve against
 * the remote's current refs.  Paths are made only from the SHA-256 of the URL
 * and from commit ids that libgit2 produced, never from the ref or URL text, so
 * odd input cannot name a path outside the cache.
 *
 * Concurrency: a process-wide mutex (striped by URL hash) serialises threads, and
 * flock(2) on git/<hash>/lock serialises processes; whoever holds both may remove
 * ".tmp." leftovers, since no one else can be writing them.
 */
#include "fetch/fetch.h"
#include "fetch/fetch_int.h"
#include "util/crypto.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STRIPES  32
#define REF_MAX  255
#define URL_MAX  4096
#define LIVE_MAX 128

static pthread_mutex_t stripes[STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void)
{
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&stripes[i], NULL);
}

/* A locked URL slot of the cache. */
struct slot {
    char *dir; /* cache_dir/git/<hash16> */
    pthread_mutex_t *mu;
    int lock_fd;
};

/* Data of the transfer callbacks: enforce the deadline and the size cap. */
struct xfer {
    int64_t deadline_ms;
    size_t max_bytes;
    enum { XFER_OK, XFER_TIMEOUT, XFER_LIMIT } why;
};

void fetch_git_result_cleanup(struct fetch_git_result *r)
{
    if (!r)
        return;
    free(r->dir);
    r->dir = NULL;
    r->commit[0] = '\0';
}

static int git_fail(struct ty_error *err, enum ty_code code, const char *what)
{
    const git_error *e = git_error_last();
    return ty_error_set(err, code, "%s: %s", what,
                        e && e->message ? e->message : "unknown libgit2 error");
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

static int is_commit_id(const char *s)
{
    if (!s || strlen(s) != 40)
        return 0;
    for (size_t i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int check_args(const char *cache_dir, const char *url, struct ty_error *err)
{
    if (!cache_dir || !*cache_dir)
        return ty_error_set(err, TY_EINVAL, "git: no cache directory");
    if (!url || !*url)
        return ty_error_set(err, TY_EINVAL, "git: empty repository URL");
    if (strlen(url) > URL_MAX)
        return ty_error_set(err, TY_EINVAL, "git: repository URL longer than %d bytes", URL_MAX);
    if (has_ctl(url) || url[0] == '-')
        return ty_error_set(err, TY_EINVAL, "git: malformed repository URL");
    return TY_OK;
}

static char *slot_path(const char *cache_dir, const char *url)
{
    char hex[65];
    ty_sha256_hex(hex, url, strlen(url));
    hex[16] = '\0';
    return ty_xasprintf("%s/git/%s", cache_dir, hex);
}

/* Locks the slot of url: the stripe mutex, then flock on slot/lock.  With
 * create == 0 a missing slot is TY_ENOTFOUND. */
static int
slot_lock(struct slot *s, const char *cache_dir, const char *url, int create, struct ty_error *err)
{
    char *lock_path = NULL;
    unsigned char h[TY_SHA256_LEN];
    struct stat st;
    int rc = TY_OK;

    s->dir = slot_path(cache_dir, url);
    s->mu = NULL;
    s->lock_fd = -1;
    if (!create && stat(s->dir, &st) != 0)
        return ty_error_set(err, TY_ENOTFOUND, "git: %s was never fetched", url);
    if (create && (rc = ty_mkdir_p(s->dir, err)) < 0)
        return rc;
    pthread_once(&stripes_once, stripes_init);
    ty_sha256(h, url, strlen(url));
    s->mu = &stripes[h[0] % STRIPES];
    pthread_mutex_lock(s->mu);
    lock_path = ty_xasprintf("%s/lock", s->dir);
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        rc = ty_error_set(err, TY_ERR, "git: %s: %s", lock_path, strerror(errno));
        goto out;
    }
    while (flock(s->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            rc = ty_error_set(err, TY_ERR, "git: flock %s: %s", lock_path, strerror(errno));
            goto out;
        }
    }
out:
    free(lock_path);
    return rc;
}

/* Releases what slot_lock took (also after its failure) and frees s->dir. */
static void slot_unlock(struct slot *s)
{
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* drops the flock */
    if (s->mu)
        pthread_mutex_unlock(s->mu);
    free(s->dir);
    s->dir = NULL;
    s->mu = NULL;
    s->lock_fd = -1;
}

/* Removes ".tmp." entries of the slot: with the lock held they are leftovers
 * of a crashed or failed caller. */
static void slot_clean_tmp(const struct slot *s)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".tmp.") && strcmp(e->d_name, ".") != 0 &&
            strcmp(e->d_name, "..") != 0) {
            char *p = ty_xasprintf("%s/%s", s->dir, e->d_name);
            ty_rm_rf(p, NULL);
            free(p);
        }
    }
    closedir(d);
}

static int is_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int xfer_progress(const git_indexer_progress *stats, void *payload)
{
    struct xfer *x = payload;
    if (stats->received_bytes > x->max_bytes) {
        x->why = XFER_LIMIT;
        return -1;
    }
    if (ty_time_mono_ms() > x->deadline_ms) {
        x->why = XFER_TIMEOUT;
        return -1;
    }
    return 0;
}

static int xfer_sideband(const char *str, int len, void *payload)
{
    struct xfer *x = payload;
    (void)str;
    (void)len;
    if (ty_time_mono_ms() > x->deadline_ms) {
        x->why = XFER_TIMEOUT;
        return -1;
    }
    return 0;
}

/* Creates a bare repository at path for mirroring url, which is recorded in
 * path/tycho-url (the cache slot is named by a 64-bit hash prefix: a collision
 * must be an error, not a wrong checkout). */
static int mirror_init(const char *path, const char *url, struct ty_error *err)
{
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    char *url_file = NULL;
    int rc = TY_OK;

    if (git_repository_init(&repo, path, 1) < 0) {
        rc = git_fail(err, TY_ERR, "git: init mirror");
        goto out;
    }
    /* Symlinks become plain files: a checkout must not point outside itself. */
    if (git_repository_config(&cfg, repo) < 0 || git_config_set_bool(cfg, "core.symlinks", 0) < 0) {
        rc = git_fail(err, TY_ERR, "git: configure mirror");
        goto out;
    }
    url_file = ty_xasprintf("%s/tycho-url", path);
    rc = ty_file_write_atomic(url_file, url, strlen(url), err);
out:
    free(url_file);
    git_config_free(cfg);
    git_repository_free(repo);
    return rc;
}

static int rm_lock_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_F && ty_str_has_suffix(path, ".lock"))
        unlink(path);
    return 0;
}

/* With the slot locked nobody else writes the mirror, so ".lock" files in it
 * are left by a crashed fetch and would block every later ref update: remove
 * them.  A mirror libgit2 cannot open any more is removed, to be cloned anew. */
static void mirror_repair(const char *path)
{
    git_repository *repo = NULL;
    char *url_file = ty_xasprintf("%s/tycho-url", path);

    nftw(path, rm_lock_file, 16, FTW_PHYS);
    if (git_repository_open_bare(&repo, path) < 0 || !is_file(url_file))
        ty_rm_rf(path, NULL);
    git_repository_free(repo);
    free(url_file);
}

/* Deletes the mirror's refs that do not lead to a commit (tags of trees or
 * blobs, as git.git's junio-gpg-pub).  libgit2 1.5 walks the local refs when it
 * negotiates the next fetch and fails ("object is not a committish") on such a
 * ref, which would wedge the mirror for good; a registry never needs one. */
static int mirror_drop_non_commits(git_repository *repo, struct ty_error *err)
{
    git_reference_iterator *it = NULL;
    git_reference *ref = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = TY_OK;

    if (git_reference_iterator_new(&it, repo) < 0)
        return git_fail(err, TY_ERR, "git: list refs");
    while (git_reference_next(&ref, it) == 0) {
        git_object *obj = NULL;
        int is_commit = git_reference_peel(&obj, ref, GIT_OBJECT_ANY) == 0 &&
                        git_object_type(obj) == GIT_OBJECT_COMMIT;
        if (!is_commit && git_reference_type(ref) == GIT_REFERENCE_DIRECT) {
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                names = ty_xrealloc(names, cap * sizeof *names);
            }
            names[n++] = ty_xstrdup(git_reference_name(ref));
        }
        git_object_free(obj);
        git_reference_free(ref);
    }
    git_reference_iterator_free(it);
    for (size_t i = 0; i < n; i++) {
        if (rc == TY_OK && git_reference_remove(repo, names[i]) < 0)
            rc = git_fail(err, TY_ERR, "git: drop ref");
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Fetches the mirror at path from url (which must be the one it was made for).  Sets
 * *has_head and *head to the remote's HEAD as advertised. */
static int mirror_fetch(int *has_head,
                        git_oid *head,
                        const char *path,
                        const char *url,
                        const struct fetch_git_opts *opts,
                        struct ty_error *err)
{
    git_repository *repo = NULL;
    git_remote *remote = NULL;
    git_fetch_options fo;
    git_remote_create_options copts;
    char *url_file = NULL, *recorded = NULL;
    const git_remote_head **heads = NULL;
    size_t nheads = 0;
    struct xfer x;
    int rc = TY_OK, grc;

    *has_head = 0;
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    git_remote_create_options_init(&copts, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    if (git_repository_open_bare(&repo, path) < 0) {
        rc = git_fail(err, TY_ERR, "git: open mirror");
        goto out;
    }
    url_file = ty_xasprintf("%s/tycho-url", path);
    if (ty_file_read(&recorded, NULL, url_file, URL_MAX, NULL) < 0 || strcmp(recorded, url) != 0) {
        rc = ty_error_set(err, TY_ECONFLICT, "git: cache slot %s belongs to another URL", path);
        goto out;
    }
    /* An in-memory remote: no config lookups (libgit2 1.5 leaks pcre2 match data
     * while scanning config for url.*.insteadOf), and the refspec is ours. */
    copts.repository = repo;
    copts.name = NULL;
    copts.fetchspec = "+refs/*:refs/*";
    copts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if (git_remote_create_with_opts(&remote, url, &copts) < 0) {
        rc = git_fail(err, TY_EINVAL, "git: remote");
        goto out;
    }
    x.deadline_ms = ty_time_mono_ms() +
                    (opts->timeout_ms > 0 ? opts->timeout_ms : FETCH_GIT_TIMEOUT_MS_DEFAULT);
    x.max_bytes = opts->max_bytes ? opts->max_bytes : FETCH_GIT_MAX_BYTES_DEFAULT;
    x.why = XFER_OK;
    fo.callbacks.transfer_progress = xfer_progress;
    fo.callbacks.sideband_progress = xfer_sideband;
    fo.callbacks.payload = &x;
    fo.prune = GIT_FETCH_PRUNE;
    fo.update_fetchhead = 0;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE; /* the refspec brings tags */
    fetch_stream_deadline_set(x.deadline_ms);
    grc = git_remote_fetch(remote, NULL, &fo, "tycho fetch");
    if (fetch_stream_timed_out())
        x.why = XFER_TIMEOUT;
    fetch_stream_deadline_set(0);
    if (grc < 0) {
        if (x.why == XFER_LIMIT)
            rc = ty_error_set(err, TY_ELIMIT, "git fetch %s: over the limit of %zu bytes", url,
                              x.max_bytes);
        else if (x.why == XFER_TIMEOUT)
            rc = ty_error_set(err, TY_ETIMEOUT, "git fetch %s: timed out", url);
        else
            rc = git_fail(err, TY_EUPSTREAM, "git fetch");
        goto out;
    }
    if ((rc = mirror_drop_non_commits(repo, err)) < 0)
        goto out;
    /* The advertisement stays readable after the fetch disconnected. */
    if (git_remote_ls(&heads, &nheads, remote) == 0) {
        for (size_t i = 0; i < nheads; i++) {
            if (strcmp(heads[i]->name, "HEAD") == 0) {
                git_oid_cpy(head, &heads[i]->oid);
                *has_head = 1;
                break;
            }
        }
    }
out:
    git_remote_free(remote);
    git_repository_free(repo);
    free(recorded);
    free(url_file);
    return rc;
}

/* Peels obj to a commit into *oid.  Frees obj. */
static int peel_commit(git_oid *oid, git_object *obj, const char *ref, struct ty_error *err)
{
    git_object *c = NULL;
    int rc = TY_OK;

    if (git_object_peel(&c, obj, GIT_OBJECT_COMMIT) < 0)
        rc = ty_error_set(err, TY_EINVAL, "ref '%s' does not name a commit", ref);
    else
        git_oid_cpy(oid, git_object_id(c));
    git_object_free(c);
    git_object_free(obj);
    return rc;
}

/* Resolves ref in the mirror as a branch, a tag, a full ref name or a commit id. */
static int ref_resolve(git_oid *oid,
                       git_repository *repo,
                       const char *ref,
                       int has_head,
                       const git_oid *head,
                       const char *url,
                       struct ty_error *err)
{
    char *names[2] = {NULL, NULL};
    git_object *obj = NULL;
    size_t len;
    int rc = TY_ENOTFOUND;

    if (!ref) {
        if (!has_head)
            return ty_error_set(err, TY_ENOTFOUND, "remote HEAD not found in %s", url);
        if (git_object_lookup(&obj, repo, head, GIT_OBJECT_ANY) < 0)
            return git_fail(err, TY_EUPSTREAM, "git: remote HEAD");
        return peel_commit(oid, obj, "HEAD", err);
    }
    len = strlen(ref);
    if (len == 0 || len > REF_MAX || has_ctl(ref) || ref[0] == '-')
        return ty_error_set(err, TY_EINVAL,
                            "malformed git ref (empty, over %d bytes, "
                            "control characters or leading '-')",
                            REF_MAX);
    if (ty_str_has_prefix(ref, "refs/")) {
        names[0] = ty_xstrdup(ref);
    } else {
        names[0] = ty_xasprintf("refs/heads/%s", ref);
        names[1] = ty_xasprintf("refs/tags/%s", ref);
    }
    for (int i = 0; i < 2 && names[i]; i++) {
        git_reference *r = NULL;
        int valid = 0;
        if (git_reference_name_is_valid(&valid, names[i]) < 0 || !valid)
            continue;
        if (git_reference_lookup(&r, repo, names[i]) < 0)
            continue;
        if (git_reference_peel(&obj, r, GIT_OBJECT_ANY) < 0) {
            git_reference_free(r);
            rc = git_fail(err, TY_ERR, "git: peel ref");
            goto out;
        }
        git_reference_free(r);
        rc = peel_commit(oid, obj, ref, err);
        goto out;
    }
    if (len >= GIT_OID_MINPREFIXLEN && len <= GIT_OID_HEXSZ && is_hex(ref, len)) {
        git_oid prefix;
        int grc;
        if (git_oid_fromstrn(&prefix, ref, len) == 0) {
            grc = git_object_lookup_prefix(&obj, repo, &prefix, len, GIT_OBJECT_ANY);
            if (grc == 0) {
                rc = peel_commit(oid, obj, ref, err);
                goto out;
            }
            if (grc == GIT_EAMBIGUOUS) {
                rc = ty_error_set(err, TY_EINVAL, "commit id '%s' is ambiguous in %s", ref, url);
                goto out;
            }
        }
    }
    rc = ty_error_set(err, TY_ENOTFOUND, "ref '%s' not found in %s", ref, url);
out:
    free(names[0]);
    free(names[1]);
    return rc;
}

/* Makes slot/co-<hex> for commit oid unless it exists.  Sets *dir_out (owned). */
static int checkout_make(char **dir_out,
                         git_repository *repo,
                         const git_oid *oid,
                         const struct slot *s,
                         struct ty_error *err)
{
    char hex[GIT_OID_HEXSZ + 1];
    char *final = NULL, *tmp = NULL, *abs = NULL;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_checkout_options co;
    int rc = TY_OK;

    *dir_out = NULL;
    git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
    git_oid_tostr(hex, sizeof hex, oid);
    final = ty_xasprintf("%s/co-%s", s->dir, hex);
    if (is_dir(final))
        goto done;
    tmp = ty_xasprintf("%s.tmp.%ld", final, (long)getpid());
    ty_rm_rf(tmp, NULL);
    if (mkdir(tmp, 0755) != 0) {
        rc = ty_error_set(err, TY_ERR, "git: mkdir %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (git_commit_lookup(&commit, repo, oid) < 0 || git_commit_tree(&tree, commit) < 0) {
        rc = git_fail(err, TY_ERR, "git: read commit");
        goto out;
    }
    co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_RECREATE_MISSING |
                           GIT_CHECKOUT_DONT_UPDATE_INDEX | GIT_CHECKOUT_DONT_WRITE_INDEX;
    co.target_directory = tmp;
    if (git_checkout_tree(repo, (const git_object *)tree, &co) < 0) {
        rc = git_fail(err, TY_ERR, "git: check out");
        goto out;
    }
    if (rename(tmp, final) != 0) {
        rc = ty_error_set(err, TY_ERR, "git: rename %s: %s", tmp, strerror(errno));
        goto out;
    }
done:
    abs = realpath(final, NULL);
    if (!abs) {
        rc = ty_error_set(err, TY_ERR, "git: %s: %s", final, strerror(errno));
        goto out;
    }
    *dir_out = abs;
out:
    if (rc < 0 && tmp)
        ty_rm_rf(tmp, NULL);
    git_tree_free(tree);
    git_commit_free(commit);
    free(tmp);
    free(final);
    return rc;
}

int fetch_git_checkout_ex(struct fetch_git_result *out,
                          const char *cache_dir,
                          const char *url,
                          const char *ref,
                          const struct fetch_git_opts *opts,
                          struct ty_error *err)
{
    static const struct fetch_git_opts defaults = FETCH_GIT_OPTS_INIT;
    struct slot s = {NULL, NULL, -1};
    char *mirror = NULL, *tmp = NULL;
    git_repository *repo = NULL;
    git_oid head, oid;
    int has_head = 0, rc;

    out->dir = NULL;
    out->commit[0] = '\0';
    if (!opts)
        opts = &defaults;
    if ((rc = check_args(cache_dir, url, err)) < 0)
        return rc;
    if ((rc = slot_lock(&s, cache_dir, url, 1, err)) < 0)
        goto out;
    slot_clean_tmp(&s);
    mirror = ty_xasprintf("%s/mirror.git", s.dir);
    if (is_dir(mirror))
        mirror_repair(mirror);
    if (!is_dir(mirror)) {
        /* First use: build the mirror aside so a failed clone leaves nothing. */
        tmp = ty_xasprintf("%s.tmp.%ld", mirror, (long)getpid());
        if ((rc = mirror_init(tmp, url, err)) < 0)
            goto out;
        if ((rc = mirror_fetch(&has_head, &head, tmp, url, opts, err)) < 0)
            goto out;
        if (rename(tmp, mirror) != 0) {
            rc = ty_error_set(err, TY_ERR, "git: rename %s: %s", tmp, strerror(errno));
            goto out;
        }
    } else if ((rc = mirror_fetch(&has_head, &head, mirror, url, opts, err)) < 0) {
        goto out;
    }
    if (git_repository_open_bare(&repo, mirror) < 0) {
        rc = git_fail(err, TY_ERR, "git: open mirror");
        goto out;
    }
    if ((rc = ref_resolve(&oid, repo, ref, has_head, &head, url, err)) < 0)
        goto out;
    if ((rc = checkout_make(&out->dir, repo, &oid, &s, err)) < 0)
        goto out;
    git_oid_tostr(out->commit, sizeof out->commit, &oid);
out:
    if (tmp)
        ty_rm_rf(tmp, NULL);
    git_repository_free(repo);
    slot_unlock(&s);
    free(tmp);
    free(mirror);
    if (rc < 0)
        fetch_error_scrub(err, url);
    return rc;
}

int fetch_git_checkout(struct fetch_git_result *out,
                       const char *cache_dir,
                       const char *url,
                       const char *ref,
                       struct ty_error *err)
{
    return fetch_git_checkout_ex(out, cache_dir, url, ref, NULL, err);
}

int fetch_git_mark_live(const char *cache_dir,
                        const char *url,
                        const char *commit,
                        struct ty_error *err)
{
    struct slot s = {NULL, NULL, -1};
    char *co = NULL, *live = NULL, *data = NULL;
    int rc;

    if ((rc = check_args(cache_dir, url, err)) < 0)
        return rc;
    if (!is_commit_id(commit))
        return ty_error_set(err, TY_EINVAL, "git: '%s' is not a 40-hex commit id",
                            commit ? commit : "(null)");
    if ((rc = slot_lock(&s, cache_dir, url, 0, err)) < 0)
        goto out;
    co = ty_xasprintf("%s/co-%s", s.dir, commit);
    if (!is_dir(co)) {
        rc = ty_error_set(err, TY_ENOTFOUND, "git: no checkout of %s from %s", commit, url);
        goto out;
    }
    live = ty_xasprintf("%s/live", s.dir);
    data = ty_xasprintf("%s\n", commit);
    rc = ty_file_write_atomic(live, data, strlen(data), err);
out:
    slot_unlock(&s);
    free(data);
    free(live);
    free(co);
    if (rc < 0)
        fetch_error_scrub(err, url);
    return rc;
}

/* Reads slot/live into commit (41 bytes).  TY_ENOTFOUND when absent. */
static int live_read(char *commit, const char *dir, const char *url, struct ty_error *err)
{
    char *path = ty_xasprintf("%s/live", dir), *data = NULL;
    size_t len = 0;
    int rc;

    commit[0] = '\0';
    rc = ty_file_read(&data, &len, path, LIVE_MAX, err);
    if (rc == TY_ENOTFOUND) {
        rc = ty_error_set(err, TY_ENOTFOUND, "git: no live checkout of %s", url);
        goto out;
    }
    if (rc < 0)
        goto out;
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        data[--len] = '\0';
    if (!is_commit_id(data)) {
        rc = ty_error_set(err, TY_ERR, "git: %s: not a commit id", path);
        goto out;
    }
    memcpy(commit, data, 41);
out:
    free(data);
    free(path);
    return rc;
}

int fetch_git_last_live(struct fetch_git_result *out,
                        const char *cache_dir,
                        const char *url,
                        struct ty_error *err)
{
    char *dir = NULL, *co = NULL;
    char commit[41];
    int rc;

    out->dir = NULL;
    out->commit[0] = '\0';
    if ((rc = check_args(cache_dir, url, err)) < 0)
        return rc;
    dir = slot_path(cache_dir, url);
    if ((rc = live_read(commit, dir, url, err)) < 0)
        goto out;
    co = ty_xasprintf("%s/co-%s", dir, commit);
    if (!is_dir(co) || !(out->dir = realpath(co, NULL))) {
        rc = ty_error_set(err, TY_ENOTFOUND, "git: live checkout %s of %s has gone", commit, url);
        goto out;
    }
    memcpy(out->commit, commit, sizeof commit);
out:
    free(co);
    free(dir);
    if (rc < 0)
        fetch_error_scrub(err, url);
    return rc;
}

int fetch_git_prune(const char *cache_dir,
                    const char *url,
                    const char *keep_commit,
                    struct ty_error *err)
{
    struct slot s = {NULL, NULL, -1};
    char live[41];
    DIR *d = NULL;
    struct dirent *e;
    int rc;

    if ((rc = check_args(cache_dir, url, err)) < 0)
        return rc;
    if (keep_commit && !is_commit_id(keep_commit))
        return ty_error_set(err, TY_EINVAL, "git: '%s' is not a 40-hex commit id", keep_commit);
    rc = slot_lock(&s, cache_dir, url, 0, err);
    if (rc == TY_ENOTFOUND) {
        ty_error_clear(err);
        rc = TY_OK;
        goto out;
    }
    if (rc < 0)
        goto out;
    if (live_read(live, s.dir, url, NULL) < 0)
        live[0] = '\0';
    d = opendir(s.dir);
    if (!d) {
        rc = ty_error_set(err, TY_ERR, "git: %s: %s", s.dir, strerror(errno));
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        char *p;
        if (strstr(name, ".tmp.") == NULL && !ty_str_has_prefix(name, "co-"))
            continue;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (ty_str_has_prefix(name, "co-") && ((live[0] && strcmp(name + 3, live) == 0) ||
                                               (keep_commit && strcmp(name + 3, keep_commit) == 0)))
            continue;
        p = ty_xasprintf("%s/%s", s.dir, name);
        if (ty_rm_rf(p, err) < 0 && rc == TY_OK)
            rc = ty_error_wrap(err, "git: prune: ");
        free(p);
    }
out:
    if (d)
        closedir(d);
    slot_unlock(&s);
    if (rc < 0)
        fetch_error_scrub(err, url);
    return rc;
}
