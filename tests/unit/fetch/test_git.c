/*
 * test_git.c - git sources against local bare repositories made by the git CLI:
 * clone, update, refs of every kind, missing refs, an unreachable remote with
 * the live checkout still served, prune, immutability of checkouts, clean-up
 * of temporary directories, hostile trees and concurrent callers.
 */
#include "fetch/fetch.h"
#include "fetch_test.h"
#include "util/crypto.h"
#include "util/time.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>

static char *root, *bare, *work, *cache, *url;

/* Commits file=content in the work clone and pushes; returns the commit (owned). */
static char *commit_push(const char *file, const char *content, const char *branch)
{
    ft_sh("printf '%%s\\n' '%s' > %s/%s && git -C %s add %s && git -C %s commit -qm '%s'", content,
          work, file, work, file, work, content);
    ft_sh("git -C %s push -q origin HEAD:refs/heads/%s 2>/dev/null", work, branch);
    return ft_sh_out("git -C %s rev-parse HEAD", work);
}

static char *slot_dir(const char *u)
{
    char hex[65];
    ty_sha256_hex(hex, u, strlen(u));
    hex[16] = '\0';
    return ty_xasprintf("%s/git/%s", cache, hex);
}

static void setup(void)
{
    root = ft_tmpdir("git");
    bare = ty_xasprintf("%s/remote.git", root);
    work = ty_xasprintf("%s/work", root);
    cache = ty_xasprintf("%s/cache", root);
    url = ty_xasprintf("file://%s", bare);
    ft_sh("git init -q --bare -b main %s", bare);
    ft_sh("git clone -q %s %s 2>/dev/null", bare, work);
    ft_sh("git -C %s checkout -q -b main 2>/dev/null || true", work);
    free(commit_push("registry.yaml", "v1", "main"));
}

static void teardown(void)
{
    ty_rm_rf(root, NULL);
    free(root);
    free(bare);
    free(work);
    free(cache);
    free(url);
}

START_TEST(test_first_clone)
{
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *head = ft_sh_out("git -C %s rev-parse HEAD", work), *text, *slot = slot_dir(url);
    char *real_cache;

    ck_assert_ok(fetch_git_checkout(&r, cache, url, NULL, &err), &err);
    ck_assert_str_eq(r.commit, head);
    ck_assert_ptr_nonnull(r.dir);
    ck_assert_int_eq(r.dir[0], '/');
    real_cache = realpath(cache, NULL);
    ck_assert_msg(strncmp(r.dir, real_cache, strlen(real_cache)) == 0, "%s", r.dir);
    text = ft_read(r.dir, "registry.yaml");
    ck_assert_str_eq(text, "v1\n");
    ck_assert_int_eq(ft_count(slot, ".tmp."), 0);
    ck_assert_int_eq(ft_count(slot, "co-"), 1);
    ck_assert(ft_exists(r.dir));
    free(text);
    free(real_cache);
    free(slot);
    free(head);
    fetch_git_result_cleanup(&r);
    ck_assert_ptr_null(r.dir);
}
END_TEST

START_TEST(test_plain_path)
{
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *head = ft_sh_out("git -C %s rev-parse HEAD", work), *text;

    ck_assert_ok(fetch_git_checkout(&r, cache, bare, "main", &err), &err);
    ck_assert_str_eq(r.commit, head);
    text = ft_read(r.dir, "registry.yaml");
    ck_assert_str_eq(text, "v1\n");
    free(text);
    free(head);
    fetch_git_result_cleanup(&r);
}
END_TEST

START_TEST(test_update)
{
    struct fetch_git_result r1, r2;
    struct ty_error err = TY_ERROR_INIT;
    char *c2, *t1, *t2;

    ck_assert_ok(fetch_git_checkout(&r1, cache, url, "main", &err), &err);
    c2 = commit_push("registry.yaml", "v2", "main");
    ck_assert_ok(fetch_git_checkout(&r2, cache, url, "main", &err), &err);
    ck_assert_str_eq(r2.commit, c2);
    ck_assert_str_ne(r1.commit, r2.commit);
    ck_assert_str_ne(r1.dir, r2.dir);
    t1 = ft_read(r1.dir, "registry.yaml");
    t2 = ft_read(r2.dir, "registry.yaml");
    ck_assert_str_eq(t1, "v1\n");
    ck_assert_str_eq(t2, "v2\n");
    free(t1);
    free(t2);
    free(c2);
    fetch_git_result_cleanup(&r1);
    fetch_git_result_cleanup(&r2);
}
END_TEST

START_TEST(test_refs)
{
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *c1 = ft_sh_out("git -C %s rev-parse HEAD", work), *c2, *dev, *abbrev, *text, *tree;

    ft_sh("git -C %s tag v1.0 && git -C %s push -q origin v1.0 2>/dev/null", work, work);
    c2 = commit_push("registry.yaml", "v2", "main");
    ft_sh("git -C %s tag -a v2.0 -m release && git -C %s push -q origin v2.0 2>/dev/null", work,
          work);
    ft_sh("git -C %s checkout -q -b dev", work);
    dev = commit_push("other.yaml", "dev", "dev");

    ck_assert_ok(fetch_git_checkout(&r, cache, url, "dev", &err), &err);
    ck_assert_str_eq(r.commit, dev);
    text = ft_read(r.dir, "other.yaml");
    ck_assert_str_eq(text, "dev\n");
    free(text);
    fetch_git_result_cleanup(&r);

    ck_assert_ok(fetch_git_checkout(&r, cache, url, "refs/heads/dev", &err), &err);
    ck_assert_str_eq(r.commit, dev);
    fetch_git_result_cleanup(&r);

    /* The remote's HEAD is still main. */
    ck_assert_ok(fetch_git_checkout(&r, cache, url, NULL, &err), &err);
    ck_assert_str_eq(r.commit, c2);
    fetch_git_result_cleanup(&r);

    ck_assert_ok(fetch_git_checkout(&r, cache, url, "v1.0", &err), &err);
    ck_assert_str_eq(r.commit, c1);
    text = ft_read(r.dir, "registry.yaml");
    ck_assert_str_eq(text, "v1\n");
    free(text);
    fetch_git_result_cleanup(&r);

    /* An annotated tag is peeled to its commit. */
    ck_assert_ok(fetch_git_checkout(&r, cache, url, "v2.0", &err), &err);
    ck_assert_str_eq(r.commit, c2);
    fetch_git_result_cleanup(&r);

    ck_assert_ok(fetch_git_checkout(&r, cache, url, c1, &err), &err);
    ck_assert_str_eq(r.commit, c1);
    fetch_git_result_cleanup(&r);

    abbrev = ty_xstrndup(c2, 7);
    ck_assert_ok(fetch_git_checkout(&r, cache, url, abbrev, &err), &err);
    ck_assert_str_eq(r.commit, c2);
    fetch_git_result_cleanup(&r);

    /* Upper-case hex names the same commit. */
    for (char *p = abbrev; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    ck_assert_ok(fetch_git_checkout(&r, cache, url, abbrev, &err), &err);
    ck_assert_str_eq(r.commit, c2);
    fetch_git_result_cleanup(&r);

    /* The remote's HEAD moving to another branch is followed. */
    ft_sh("git -C %s symbolic-ref HEAD refs/heads/dev", bare);
    ck_assert_ok(fetch_git_checkout(&r, cache, url, NULL, &err), &err);
    ck_assert_str_eq(r.commit, dev);
    fetch_git_result_cleanup(&r);

    /* Tags of a tree or a blob lead to no commit: they are not found, and they
     * do not wedge later fetches (libgit2 1.5 fails to negotiate with them). */
    ft_sh("git -C %s tag treetag HEAD^{tree} && git -C %s tag blobtag HEAD:other.yaml && "
          "git -C %s push -q origin treetag blobtag 2>/dev/null",
          work, work, work);
    ck_assert_fails_with(fetch_git_checkout(&r, cache, url, "treetag", &err), &err, TY_ENOTFOUND,
                         "ref 'treetag' not found");
    ck_assert_fails_with(fetch_git_checkout(&r, cache, url, "blobtag", &err), &err, TY_ENOTFOUND,
                         "ref 'blobtag' not found");
    ck_assert_ptr_null(r.dir);
    tree = ft_sh_out("git -C %s rev-parse HEAD^{tree}", work);
    ck_assert_fails_with(fetch_git_checkout(&r, cache, url, tree, &err), &err, TY_EINVAL,
                         "does not name a commit");
    free(tree);

    /* A force-pushed branch (rewritten history) is followed too. */
    ft_sh("git -C %s checkout -q --orphan fresh && git -C %s commit -qm rewritten && "
          "git -C %s push -q -f origin HEAD:refs/heads/main 2>/dev/null",
          work, work, work);
    free(c2);
    c2 = ft_sh_out("git -C %s rev-parse HEAD", work);
    ck_assert_ok(fetch_git_checkout(&r, cache, url, "main", &err), &err);
    ck_assert_str_eq(r.commit, c2);
    fetch_git_result_cleanup(&r);

    free(abbrev);
    free(c1);
    free(c2);
    free(dev);
}
END_TEST

START_TEST(test_missing_ref)
{
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *slot = slot_dir(url);
    int rc;

    rc = fetch_git_checkout(&r, cache, url, "nope", &err);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "ref 'nope' not found in");
    ck_assert_ptr_null(r.dir);
    ck_assert_int_eq(ft_count(slot, ".tmp."), 0);
    ck_assert_int_eq(ft_count(slot, "co-"), 0);

    /* A hex string that is no object, and a too-short prefix. */
    rc = fetch_git_checkout(&r, cache, url, "deadbeefdeadbeef", &err);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "ref 'deadbeefdeadbeef' not found");
    rc = fetch_git_checkout(&r, cache, url, "abc", &err);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "not found");

    /* A branch deleted on the remote disappears from the mirror too. */
    ft_sh("git -C %s push -q origin HEAD:refs/heads/gone 2>/dev/null", work);
    ck_assert_ok(fetch_git_checkout(&r, cache, url, "gone", &err), &err);
    fetch_git_result_cleanup(&r);
    ft_sh("git -C %s push -q origin :refs/heads/gone 2>/dev/null", work);
    rc = fetch_git_checkout(&r, cache, url, "gone", &err);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "ref 'gone' not found");
    free(slot);
}
END_TEST

START_TEST(test_empty_remote)
{
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *empty = ty_xasprintf("%s/empty.git", root);
    int rc;

    ft_sh("git init -q --bare %s", empty);
    rc = fetch_git_checkout(&r, cache, empty, NULL, &err);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "remote HEAD not found");
    rc = fetch_git_checkout(&r, cache, empty, "main", &err);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "ref 'main' not found");
    free(empty);
}
END_TEST

START_TEST(test_unreachable)
{
    struct fetch_git_result r, live;
    struct ty_error err = TY_ERROR_INIT;
    char *moved = ty_xasprintf("%s/moved.git", root), *c1, *slot = slot_dir(url);
    char *never = ty_xasprintf("file://%s/never.git", root), *never_slot;
    int rc;

    ck_assert_ok(fetch_git_checkout(&r, cache, url, "main", &err), &err);
    c1 = ty_xstrdup(r.commit);
    ck_assert_ok(fetch_git_mark_live(cache, url, r.commit, &err), &err);
    fetch_git_result_cleanup(&r);

    ck_assert_int_eq(rename(bare, moved), 0);
    rc = fetch_git_checkout(&r, cache, url, "main", &err);
    ck_assert_fails_with(rc, &err, TY_EUPSTREAM, "git fetch");
    ck_assert_ptr_null(r.dir);
    ck_assert_int_eq(ft_count(slot, ".tmp."), 0);

    ck_assert_ok(fetch_git_last_live(&live, cache, url, &err), &err);
    ck_assert_str_eq(live.commit, c1);
    ck_assert(ft_exists(live.dir));
    fetch_git_result_cleanup(&live);

    /* A remote that never existed leaves neither a mirror nor temporary files. */
    rc = fetch_git_checkout(&r, cache, never, NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EUPSTREAM, "git fetch");
    never_slot = slot_dir(never);
    ck_assert_int_eq(ft_count(never_slot, "mirror"), 0);
    ck_assert_int_eq(ft_count(never_slot, ".tmp."), 0);
    rc = fetch_git_last_live(&live, cache, never, &err);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "no live checkout");

    /* Back again: fetching works as before. */
    ck_assert_int_eq(rename(moved, bare), 0);
    ck_assert_ok(fetch_git_checkout(&r, cache, url, "main", &err), &err);
    ck_assert_str_eq(r.commit, c1);
    fetch_git_result_cleanup(&r);

    free(never_slot);
    free(never);
    free(slot);
    free(c1);
    free(moved);
}
END_TEST

START_TEST(test_live_errors)
{
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    int rc;

    rc = fetch_git_last_live(&r, cache, url, &err);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "no live checkout");
    ck_assert_ptr_null(r.dir);
    rc = fetch_git_mark_live(cache, url, "0123456789012345678901234567890123456789", &err);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "never fetched");
    ck_assert_ok(fetch_git_checkout(&r, cache, url, NULL, &err), &err);
    fetch_git_result_cleanup(&r);
    rc = fetch_git_mark_live(cache, url, "0123456789012345678901234567890123456789", &err);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "no checkout of");
    rc = fetch_git_mark_live(cache, url, "../../../etc", &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "not a 40-hex commit id");
    rc = fetch_git_mark_live(cache, url, NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "not a 40-hex commit id");
    rc = fetch_git_prune(cache, url, "xyz", &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "not a 40-hex commit id");
    rc = fetch_git_checkout(&r, NULL, url, NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "no cache directory");
    rc = fetch_git_checkout(&r, cache, "", NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "empty repository URL");
}
END_TEST

START_TEST(test_prune)
{
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *c[3], *slot = slot_dir(url), *p;

    c[0] = ft_sh_out("git -C %s rev-parse HEAD", work);
    c[1] = commit_push("registry.yaml", "v2", "main");
    c[2] = commit_push("registry.yaml", "v3", "main");
    for (int i = 0; i < 3; i++) {
        ck_assert_ok(fetch_git_checkout(&r, cache, url, c[i], &err), &err);
        fetch_git_result_cleanup(&r);
    }
    ck_assert_int_eq(ft_count(slot, "co-"), 3);
    ck_assert_ok(fetch_git_mark_live(cache, url, c[1], &err), &err);
    ck_assert_ok(fetch_git_prune(cache, url, c[2], &err), &err);
    ck_assert_int_eq(ft_count(slot, "co-"), 2);
    ck_assert_int_eq(ft_count(slot, c[0]), 0);
    ck_assert_int_eq(ft_count(slot, c[1]), 1);
    ck_assert_int_eq(ft_count(slot, c[2]), 1);
    ck_assert_ok(fetch_git_prune(cache, url, NULL, &err), &err);
    ck_assert_int_eq(ft_count(slot, "co-"), 1);
    ck_assert_int_eq(ft_count(slot, c[1]), 1);
    /* The mirror and the live file stay; the live checkout still serves. */
    p = ty_xasprintf("%s/mirror.git", slot);
    ck_assert(ft_exists(p));
    free(p);
    ck_assert_ok(fetch_git_last_live(&r, cache, url, &err), &err);
    ck_assert_str_eq(r.commit, c[1]);
    fetch_git_result_cleanup(&r);
    /* A pruned commit comes back on demand. */
    ck_assert_ok(fetch_git_checkout(&r, cache, url, c[0], &err), &err);
    ck_assert_str_eq(r.commit, c[0]);
    fetch_git_result_cleanup(&r);
    /* Never fetched: nothing to prune, no error, nothing created. */
    ck_assert_ok(fetch_git_prune(cache, "file:///nowhere", NULL, &err), &err);
    for (int i = 0; i < 3; i++)
        free(c[i]);
    free(slot);
}
END_TEST

START_TEST(test_existing_checkout_untouched)
{
    struct fetch_git_result r1, r2;
    struct ty_error err = TY_ERROR_INIT;
    char *text;

    ck_assert_ok(fetch_git_checkout(&r1, cache, url, NULL, &err), &err);
    ft_sh("echo local > %s/marker && echo changed > %s/registry.yaml", r1.dir, r1.dir);
    ck_assert_ok(fetch_git_checkout(&r2, cache, url, NULL, &err), &err);
    ck_assert_str_eq(r1.dir, r2.dir);
    text = ft_read(r2.dir, "marker");
    ck_assert_str_eq(text, "local\n");
    free(text);
    text = ft_read(r2.dir, "registry.yaml");
    ck_assert_str_eq(text, "changed\n");
    free(text);
    fetch_git_result_cleanup(&r1);
    fetch_git_result_cleanup(&r2);
}
END_TEST

START_TEST(test_tmp_cleanup)
{
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *slot = slot_dir(url), *bad, *co, *outside;
    int rc;

    /* Leftovers of a crashed process go at the next call. */
    ck_assert_ok(fetch_git_checkout(&r, cache, url, NULL, &err), &err);
    fetch_git_result_cleanup(&r);
    ft_sh("mkdir -p %s/co-0000000000000000000000000000000000000000.tmp.999999/sub && "
          "touch %s/co-0000000000000000000000000000000000000000.tmp.999999/sub/f && "
          "mkdir -p %s/mirror.git.tmp.999999",
          slot, slot, slot);
    ck_assert_int_eq(ft_count(slot, ".tmp."), 2);
    ck_assert_ok(fetch_git_checkout(&r, cache, url, NULL, &err), &err);
    fetch_git_result_cleanup(&r);
    ck_assert_int_eq(ft_count(slot, ".tmp."), 0);

    /* A tree libgit2 refuses to write (an entry named ".git" holding a config
     * file) fails the checkout and leaves no temporary directory behind. */
    ft_sh("cd %s && b=$(echo '[core]' | git hash-object -w --stdin) && "
          "t=$(printf '100644 blob %%s\\tconfig\\n' $b | git mktree) && "
          "t2=$(printf '040000 tree %%s\\t.git\\n100644 blob %%s\\tok\\n' $t $b | git mktree) && "
          "c=$(git commit-tree $t2 -m evil) && git update-ref refs/heads/evil $c",
          bare);
    bad = ft_sh_out("git -C %s rev-parse evil", bare);
    rc = fetch_git_checkout(&r, cache, url, "evil", &err);
    ck_assert_fails_with(rc, &err, TY_ERR, "invalid path '.git/config'");
    ck_assert_ptr_null(r.dir);
    ck_assert_int_eq(ft_count(slot, ".tmp."), 0);
    co = ty_xasprintf("%s/co-%s", slot, bad);
    ck_assert(!ft_exists(co));

    /* An entry named ".." must not write beside the checkout either. */
    ft_sh("cd %s && b=$(echo pwned | git hash-object -w --stdin) && "
          "t=$(printf '100644 blob %%s\\tescaped\\n' $b | git mktree) && "
          "t2=$(printf '040000 tree %%s\\t..\\n' $t | git mktree) && "
          "c=$(git commit-tree $t2 -m evil2) && git update-ref refs/heads/evil2 $c",
          bare);
    rc = fetch_git_checkout(&r, cache, url, "evil2", &err);
    ck_assert_fails_with(rc, &err, TY_ERR, "invalid path");
    outside = ty_xasprintf("%s/escaped", slot);
    ck_assert(!ft_exists(outside));
    free(outside);
    outside = ty_xasprintf("%s/git/escaped", cache);
    ck_assert(!ft_exists(outside));
    ck_assert_int_eq(ft_count(slot, ".tmp."), 0);
    free(outside);
    free(co);
    free(bad);
    free(slot);
}
END_TEST

START_TEST(test_symlink_is_plain_file)
{
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *path, *text;
    struct stat st;

    ft_sh("ln -s /etc/passwd %s/link && git -C %s add link && git -C %s commit -qm link && "
          "git -C %s push -q origin HEAD:refs/heads/main 2>/dev/null",
          work, work, work, work);
    ck_assert_ok(fetch_git_checkout(&r, cache, url, "main", &err), &err);
    path = ty_xasprintf("%s/link", r.dir);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    text = ft_read(r.dir, "link");
    ck_assert_str_eq(text, "/etc/passwd");
    free(text);
    free(path);
    fetch_git_result_cleanup(&r);
}
END_TEST

START_TEST(test_size_limit)
{
    struct fetch_git_result r;
    struct fetch_git_opts opts = FETCH_GIT_OPTS_INIT;
    struct ty_error err = TY_ERROR_INIT;
    int rc;

    /* Enough data that a pack is certainly sent through the smart protocol. */
    ft_sh("head -c 200000 /dev/urandom > %s/blob.bin && git -C %s add blob.bin && "
          "git -C %s commit -qm big && git -C %s push -q origin HEAD:refs/heads/main 2>/dev/null",
          work, work, work, work);
    opts.max_bytes = 1000;
    rc = fetch_git_checkout_ex(&r, cache, url, NULL, &opts, &err);
    ck_assert_fails_with(rc, &err, TY_ELIMIT, "over the limit of 1000 bytes");
    ck_assert_ptr_null(r.dir);
    opts.max_bytes = 0;
    ck_assert_ok(fetch_git_checkout_ex(&r, cache, url, NULL, &opts, &err), &err);
    fetch_git_result_cleanup(&r);
}
END_TEST

START_TEST(test_mirror_repair)
{
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *slot = slot_dir(url), *c2, *c3;

    ck_assert_ok(fetch_git_checkout(&r, cache, url, "main", &err), &err);
    fetch_git_result_cleanup(&r);
    /* A crashed fetch left a ref lock: the next fetch still updates main. */
    ft_sh("touch %s/mirror.git/refs/heads/main.lock %s/mirror.git/packed-refs.lock", slot, slot);
    c2 = commit_push("registry.yaml", "v2", "main");
    ck_assert_ok(fetch_git_checkout(&r, cache, url, "main", &err), &err);
    ck_assert_str_eq(r.commit, c2);
    fetch_git_result_cleanup(&r);
    /* A mirror libgit2 cannot open is cloned again. */
    ft_sh("rm -f %s/mirror.git/HEAD", slot);
    c3 = commit_push("registry.yaml", "v3", "main");
    ck_assert_ok(fetch_git_checkout(&r, cache, url, "main", &err), &err);
    ck_assert_str_eq(r.commit, c3);
    fetch_git_result_cleanup(&r);
    /* A slot holding another URL's mirror is refused, not reused. */
    ft_sh("printf 'file:///elsewhere' > %s/mirror.git/tycho-url", slot);
    ck_assert_fails_with(fetch_git_checkout(&r, cache, url, "main", &err), &err, TY_ECONFLICT,
                         "belongs to another URL");
    free(c2);
    free(c3);
    free(slot);
}
END_TEST

/* A free loopback port (bound, read, released: a small race, fine for tests). */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int port_open(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* The smart protocol (git://, served by `git daemon` on loopback), as used by
 * real hosted registries: negotiation against an existing mirror, pack
 * transfer, the size limit, and the daemon going away. */
START_TEST(test_smart_protocol)
{
    struct fetch_git_result r;
    struct fetch_git_opts opts = FETCH_GIT_OPTS_INIT;
    struct ty_error err = TY_ERROR_INIT;
    int port = free_port(), status;
    char *gurl = ty_xasprintf("git://127.0.0.1:%d/remote.git", port), *c1, *c2, *text;
    char port_arg[32], base_arg[4200];
    pid_t daemon;

    snprintf(port_arg, sizeof port_arg, "--port=%d", port);
    snprintf(base_arg, sizeof base_arg, "--base-path=%s", root);
    daemon = fork();
    ck_assert_int_ge(daemon, 0);
    if (daemon == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        execlp("git", "git", "daemon", "--export-all", "--reuseaddr", "--listen=127.0.0.1",
               port_arg, base_arg, root, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && !port_open(port); i++)
        usleep(50000);
    ck_assert_msg(port_open(port), "git daemon did not start on port %d", port);

    c1 = ft_sh_out("git -C %s rev-parse HEAD", work);
    ck_assert_ok(fetch_git_checkout(&r, cache, gurl, NULL, &err), &err);
    ck_assert_str_eq(r.commit, c1);
    ck_assert_ok(fetch_git_mark_live(cache, gurl, r.commit, &err), &err);
    fetch_git_result_cleanup(&r);

    /* Incremental fetch with a tag of a tree present on both sides. */
    ft_sh("git -C %s tag treetag HEAD^{tree} && git -C %s push -q origin treetag 2>/dev/null", work,
          work);
    free(commit_push("registry.yaml", "v2", "main"));
    c2 = commit_push("registry.yaml", "v3", "main");
    ck_assert_ok(fetch_git_checkout(&r, cache, gurl, "main", &err), &err);
    ck_assert_str_eq(r.commit, c2);
    text = ft_read(r.dir, "registry.yaml");
    ck_assert_str_eq(text, "v3\n");
    free(text);
    fetch_git_result_cleanup(&r);
    ck_assert_fails_with(fetch_git_checkout(&r, cache, gurl, "nope", &err), &err, TY_ENOTFOUND,
                         "ref 'nope' not found");

    /* The size limit on a real pack. */
    ft_sh("head -c 300000 /dev/urandom > %s/blob.bin && git -C %s add blob.bin && "
          "git -C %s commit -qm big && git -C %s push -q origin HEAD:refs/heads/main 2>/dev/null",
          work, work, work, work);
    opts.max_bytes = 10000;
    ck_assert_fails_with(fetch_git_checkout_ex(&r, cache, gurl, "main", &opts, &err), &err,
                         TY_ELIMIT, "over the limit");

    /* The daemon gone: EUPSTREAM, and the live checkout still serves. */
    kill(daemon, SIGTERM);
    ck_assert_int_eq(waitpid(daemon, &status, 0), daemon);
    for (int i = 0; i < 100 && port_open(port); i++)
        usleep(50000);
    ck_assert_fails_with(fetch_git_checkout(&r, cache, gurl, "main", &err), &err, TY_EUPSTREAM,
                         "git fetch");
    ck_assert_ok(fetch_git_last_live(&r, cache, gurl, &err), &err);
    ck_assert_str_eq(r.commit, c1);
    fetch_git_result_cleanup(&r);
    free(c1);
    free(c2);
    free(gurl);
}
END_TEST

/* A remote that accepts connections and never answers: the deadline of
 * fetch_git_opts ends the fetch (libgit2 alone would wait for ever). */
static atomic_int silent_stop;
static int silent_fd = -1;

static void *silent_main(void *p)
{
    int held[16], n = 0;
    (void)p;
    while (!atomic_load(&silent_stop)) {
        struct pollfd pfd = {silent_fd, POLLIN, 0};
        if (poll(&pfd, 1, 20) > 0 && n < 16) {
            int c = accept(silent_fd, NULL, NULL);
            if (c >= 0)
                held[n++] = c;
        }
    }
    for (int i = 0; i < n; i++)
        close(held[i]);
    return NULL;
}

START_TEST(test_silent_remote)
{
    struct fetch_git_result r;
    struct fetch_git_opts opts = FETCH_GIT_OPTS_INIT;
    struct ty_error err = TY_ERROR_INIT;
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    pthread_t t;
    char *gurl, *hurl, *slot;
    int64_t t0;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    silent_fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(silent_fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(silent_fd, 16), 0);
    ck_assert_int_eq(getsockname(silent_fd, (struct sockaddr *)&a, &alen), 0);
    atomic_store(&silent_stop, 0);
    ck_assert_int_eq(pthread_create(&t, NULL, silent_main, NULL), 0);
    gurl = ty_xasprintf("git://127.0.0.1:%d/remote.git", ntohs(a.sin_port));
    hurl = ty_xasprintf("http://127.0.0.1:%d/remote.git", ntohs(a.sin_port));

    opts.timeout_ms = 300;
    t0 = ty_time_mono_ms();
    ck_assert_fails_with(fetch_git_checkout_ex(&r, cache, gurl, NULL, &opts, &err), &err,
                         TY_ETIMEOUT, "timed out");
    ck_assert_fails_with(fetch_git_checkout_ex(&r, cache, hurl, NULL, &opts, &err), &err,
                         TY_ETIMEOUT, "timed out");
    ck_assert_int_lt(ty_time_mono_ms() - t0, 10000);
    ck_assert_ptr_null(r.dir);
    slot = slot_dir(gurl);
    ck_assert_int_eq(ft_count(slot, "mirror"), 0);
    ck_assert_int_eq(ft_count(slot, ".tmp."), 0);
    free(slot);

    atomic_store(&silent_stop, 1);
    pthread_join(t, NULL);
    close(silent_fd);
    /* Nothing listening any more: refused at once, an upstream failure. */
    ck_assert_fails_with(fetch_git_checkout_ex(&r, cache, gurl, NULL, &opts, &err), &err,
                         TY_EUPSTREAM, "git fetch");
    /* Credentials in the URL never reach a message. */
    free(hurl);
    hurl = ty_xasprintf("http://bob:s3cret@127.0.0.1:%d/remote.git", ntohs(a.sin_port));
    ck_assert_fails_with(fetch_git_checkout_ex(&r, cache, hurl, NULL, &opts, &err), &err,
                         TY_EUPSTREAM, "git fetch");
    ck_assert_msg(strstr(err.msg, "s3cret") == NULL, "%s", err.msg);
    ck_assert_fails_with(fetch_git_last_live(&r, cache, hurl, &err), &err, TY_ENOTFOUND,
                         "no live checkout of http://***@127.0.0.1");
    free(gurl);
    free(hurl);
}
END_TEST

struct thread_arg {
    struct fetch_git_result r;
    struct ty_error err;
    int rc;
};

static void *checkout_thread(void *p)
{
    struct thread_arg *a = p;
    a->rc = fetch_git_checkout(&a->r, cache, url, "main", &a->err);
    return NULL;
}

START_TEST(test_threads)
{
    struct thread_arg a[4];
    pthread_t t[4];
    char *slot = slot_dir(url);

    for (int i = 0; i < 4; i++) {
        memset(&a[i], 0, sizeof a[i]);
        ck_assert_int_eq(pthread_create(&t[i], NULL, checkout_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        ck_assert_ok(a[i].rc, &a[i].err);
        ck_assert_str_eq(a[i].r.commit, a[0].r.commit);
        ck_assert_str_eq(a[i].r.dir, a[0].r.dir);
    }
    for (int i = 0; i < 4; i++)
        fetch_git_result_cleanup(&a[i].r);
    ck_assert_int_eq(ft_count(slot, "co-"), 1);
    ck_assert_int_eq(ft_count(slot, ".tmp."), 0);
    free(slot);
}
END_TEST

START_TEST(test_processes)
{
    char *slot = slot_dir(url);
    pid_t pids[3];

    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            struct fetch_git_result r;
            struct ty_error err = TY_ERROR_INIT;
            int rc = fetch_git_checkout(&r, cache, url, NULL, &err);
            fetch_git_result_cleanup(&r);
            _exit(rc == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 3; i++) {
        int status = 0;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ck_assert_int_eq(ft_count(slot, "co-"), 1);
    ck_assert_int_eq(ft_count(slot, "mirror.git"), 1);
    ck_assert_int_eq(ft_count(slot, ".tmp."), 0);
    free(slot);
}
END_TEST

int main(void)
{
    char *home = ft_env_setup();
    Suite *s = suite_create("fetch.git");
    TCase *tc = tcase_create("git");
    int rc;

    fetch_global_init();
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_first_clone);
    tcase_add_test(tc, test_plain_path);
    tcase_add_test(tc, test_update);
    tcase_add_test(tc, test_refs);
    tcase_add_test(tc, test_missing_ref);
    tcase_add_test(tc, test_empty_remote);
    tcase_add_test(tc, test_unreachable);
    tcase_add_test(tc, test_live_errors);
    tcase_add_test(tc, test_prune);
    tcase_add_test(tc, test_existing_checkout_untouched);
    tcase_add_test(tc, test_tmp_cleanup);
    tcase_add_test(tc, test_symlink_is_plain_file);
    tcase_add_test(tc, test_size_limit);
    tcase_add_test(tc, test_mirror_repair);
    tcase_add_test(tc, test_smart_protocol);
    tcase_add_test(tc, test_silent_remote);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_processes);
    suite_add_tcase(s, tc);
    rc = ty_run_suite(s);
    fetch_global_cleanup();
    ty_rm_rf(home, NULL);
    free(home);
    return rc;
}
