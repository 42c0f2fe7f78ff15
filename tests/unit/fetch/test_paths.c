/*
 * test_paths.c - path safety: odd refs, odd URLs and odd relative paths must
 * never name, create or read anything outside the cache (or the checkout).
 *
 * Each git case snapshots the whole test tree (everything outside the cache
 * directory, plus the cache's own top levels) before and after, so a write in
 * an unexpected place fails the test whatever its name.
 */
#include "fetch/fetch.h"
#include "fetch_test.h"
#include "util/buf.h"
#include "util/crypto.h"

#include <ftw.h>

static char *root, *bare, *work, *cache, *url;
static struct ty_buf listing;

static int list_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    /* The cache's slot internals change legitimately on every fetch. */
    if (strstr(path, "/cache/git/") && strchr(strstr(path, "/cache/git/") + 11, '/'))
        return 0;
    ty_buf_puts(&listing, path);
    ty_buf_putc(&listing, '\n');
    return 0;
}

/* A sorted-enough listing of root (nftw order is stable for an unchanged tree). */
static char *snapshot(void)
{
    ty_buf_reset(&listing);
    ck_assert_int_eq(nftw(root, list_one, 32, FTW_PHYS), 0);
    return ty_xstrdup(ty_buf_cstr(&listing));
}

/* Every entry of cache/git must be a 16-hex slot name. */
static void assert_slots_hex(void)
{
    char *git = ty_xasprintf("%s/git", cache);
    DIR *d = opendir(git);
    struct dirent *e;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        ck_assert_msg(strlen(e->d_name) == 16 && strspn(e->d_name, "0123456789abcdef") == 16,
                      "odd slot name '%s'", e->d_name);
    }
    closedir(d);
    free(git);
}

static void setup(void)
{
    root = ft_tmpdir("paths");
    bare = ty_xasprintf("%s/remote.git", root);
    work = ty_xasprintf("%s/work", root);
    cache = ty_xasprintf("%s/cache", root);
    url = ty_xasprintf("file://%s", bare);
    ty_buf_init(&listing);
    ft_sh("git init -q --bare -b main %s", bare);
    ft_sh("git clone -q %s %s 2>/dev/null", bare, work);
    ft_sh("cd %s && git checkout -q -b main 2>/dev/null; mkdir -p sub && echo spec > sub/spec.yaml"
          " && echo reg > registry.yaml && git add . && git commit -qm one && "
          "git push -q origin HEAD:refs/heads/main 2>/dev/null && git tag v1 && "
          "git push -q origin v1 2>/dev/null",
          work);
}

static void teardown(void)
{
    ty_rm_rf(root, NULL);
    ty_buf_cleanup(&listing);
    free(root);
    free(bare);
    free(work);
    free(cache);
    free(url);
}

START_TEST(test_odd_refs)
{
    static const char *const refs[] = {
        "..",
        "../../../../etc/passwd",
        "../co-x",
        "refs/heads/../../../x",
        "refs/../../x",
        "main/../../x",
        "main/../main",
        "-n",
        "--upload-pack=touch pwned",
        "main;touch pwned",
        "$(touch pwned)",
        "`touch pwned`",
        "main\ntouch pwned",
        "main\r",
        "%2e%2e%2f%2e%2e",
        "HEAD~1",
        "main^",
        "main:registry.yaml",
        "@{-1}",
        "main@{0}",
        "*",
        "main*",
        "ma?n",
        "[main]",
        "main.lock",
        "a..b",
        "refs/heads/main/",
        "/refs/heads/main",
        "/etc/passwd",
        "refs/heads/",
        "refs/",
        "refs",
        "heads/main/..",
        "co-0000000000000000000000000000000000000000",
        ".tmp.1",
        "live",
        "lock",
        "mirror.git",
        "\xff\xfe",
        "m\xc3\xa4in",
        "main\\..\\..",
        "~main",
        " main",
        "main ",
        "012",
        "zzzzzzz",
        "",
    };
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *before, *after, *slot_listing, *ok_commit, *long_ref;

    /* One good checkout first, so the slot exists and holds one co-. */
    ck_assert_ok(fetch_git_checkout(&r, cache, url, "main", &err), &err);
    ok_commit = ty_xstrdup(r.commit);
    fetch_git_result_cleanup(&r);
    before = snapshot();
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        int rc = fetch_git_checkout(&r, cache, url, refs[i], &err);
        ck_assert_msg(rc == TY_ENOTFOUND || rc == TY_EINVAL, "ref '%s' gave %d: %s", refs[i], rc,
                      err.msg);
        ck_assert_ptr_null(r.dir);
        ck_assert_str_eq(r.commit, "");
    }
    long_ref = ty_xmalloc(301);
    memset(long_ref, 'a', 300);
    long_ref[300] = '\0';
    ck_assert_int_eq(fetch_git_checkout(&r, cache, url, long_ref, &err), TY_EINVAL);
    free(long_ref);
    after = snapshot();
    ck_assert_str_eq(before, after);
    ck_assert(!ft_exists("pwned"));
    slot_listing = ft_sh_out("ls %s/git/*/ | tr '\\n' ' '", cache);
    ck_assert_msg(strstr(slot_listing, ok_commit) != NULL, "%s", slot_listing);
    {
        char hex[65], *slot;
        ty_sha256_hex(hex, url, strlen(url));
        hex[16] = '\0';
        slot = ty_xasprintf("%s/git/%s", cache, hex);
        ck_assert_int_eq(ft_count(slot, "co-"), 1);
        ck_assert_int_eq(ft_count(slot, ".tmp."), 0);
        ck_assert_int_eq(ft_count(slot, ""), 3); /* lock, mirror.git, co-<commit> */
        free(slot);
    }
    ck_assert_int_eq(ft_count(cache, ""), 1); /* only git/ */
    assert_slots_hex();
    /* The same odd strings as live/prune commit ids are refused outright. */
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        ck_assert_int_eq(fetch_git_mark_live(cache, url, refs[i], &err), TY_EINVAL);
        if (refs[i][0])
            ck_assert_int_eq(fetch_git_prune(cache, url, refs[i], &err), TY_EINVAL);
    }
    free(slot_listing);
    free(before);
    free(after);
    free(ok_commit);
}
END_TEST

START_TEST(test_odd_urls)
{
    char *urls[16];
    size_t n = 0;
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *before, *after;

    urls[n++] = ty_xasprintf("file://%s/../../../../etc", root);
    urls[n++] = ty_xstrdup("../../outside.git");
    urls[n++] = ty_xstrdup("file:///");
    urls[n++] = ty_xstrdup("file://");
    urls[n++] = ty_xasprintf("%s/nothing/../../x.git", root);
    urls[n++] = ty_xstrdup("-oProxyCommand=touch pwned");
    urls[n++] = ty_xstrdup("ext::sh -c touch% pwned");
    urls[n++] = ty_xasprintf("file://%s\n", bare);
    urls[n++] = ty_xstrdup("http://127.0.0.1:1/repo.git");
    urls[n++] = ty_xstrdup("https://127.0.0.1:1/../../repo.git");
    urls[n++] = ty_xstrdup("$(touch pwned)");
    ck_assert_ok(fetch_git_checkout(&r, cache, url, NULL, &err), &err);
    fetch_git_result_cleanup(&r);
    before = snapshot();
    for (size_t i = 0; i < n; i++) {
        int rc = fetch_git_checkout(&r, cache, urls[i], NULL, &err);
        ck_assert_msg(rc < 0, "url '%s' succeeded", urls[i]);
        ck_assert_ptr_null(r.dir);
        ck_assert_int_eq(fetch_git_last_live(&r, cache, urls[i], &err) < 0, 1);
        ck_assert_int_eq(fetch_git_prune(cache, urls[i], NULL, &err) <= 0, 1);
    }
    after = snapshot();
    /* Failed URLs may leave an empty slot (lock file only), never anything else. */
    assert_slots_hex();
    ck_assert(!ft_exists("pwned"));
    {
        char *outside = ty_xasprintf("%s/pwned", root);
        ck_assert(!ft_exists(outside));
        free(outside);
    }
    ck_assert_int_eq(ft_count(cache, ""), 1);
    {
        /* Nothing outside cache/git/ changed. */
        char *b = before, *a = after;
        struct ty_buf bo = TY_BUF_INIT, ao = TY_BUF_INIT;
        for (char *line = strtok(b, "\n"); line; line = strtok(NULL, "\n"))
            if (!strstr(line, "/cache/git/"))
                ty_buf_printf(&bo, "%s\n", line);
        for (char *line = strtok(a, "\n"); line; line = strtok(NULL, "\n"))
            if (!strstr(line, "/cache/git/"))
                ty_buf_printf(&ao, "%s\n", line);
        ck_assert_str_eq(ty_buf_cstr(&bo), ty_buf_cstr(&ao));
        ty_buf_cleanup(&bo);
        ty_buf_cleanup(&ao);
    }
    /* The same repository named two ways gets two independent slots. */
    {
        char *alias = ty_xasprintf("%s/../%s/remote.git", root, strrchr(root, '/') + 1);
        ck_assert_ok(fetch_git_checkout(&r, cache, alias, "v1", &err), &err);
        fetch_git_result_cleanup(&r);
        free(alias);
    }
    assert_slots_hex();
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    free(before);
    free(after);
}
END_TEST

START_TEST(test_path_resolve)
{
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    char *p = NULL, *expect, *outside_dir;
    static const char *const bad[] = {
        "..",
        "../",
        "../x",
        "sub/../../x",
        "sub/../..",
        "./../x",
        "a/b/../../../x",
        "/etc/passwd",
        "/",
        "sub/\n",
        "\t",
        "sub/spec.yaml\r",
    };

    ck_assert_ok(fetch_git_checkout(&r, cache, url, NULL, &err), &err);

    ck_assert_ok(fetch_path_resolve(&p, r.dir, "sub/spec.yaml", &err), &err);
    expect = ty_xasprintf("%s/sub/spec.yaml", r.dir);
    ck_assert_str_eq(p, expect);
    free(p);
    ck_assert_ok(fetch_path_resolve(&p, r.dir, "./sub//../sub/./spec.yaml", &err), &err);
    ck_assert_str_eq(p, expect);
    free(p);
    free(expect);
    ck_assert_ok(fetch_path_resolve(&p, r.dir, "", &err), &err);
    ck_assert_str_eq(p, r.dir);
    free(p);
    ck_assert_ok(fetch_path_resolve(&p, r.dir, "sub/..", &err), &err);
    ck_assert_str_eq(p, r.dir);
    free(p);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = fetch_path_resolve(&p, r.dir, bad[i], &err);
        ck_assert_msg(rc == TY_EINVAL, "'%s' gave %d: %s", bad[i], rc, err.msg);
        ck_assert_ptr_null(p);
    }
    ck_assert_fails_with(fetch_path_resolve(&p, r.dir, "nope.yaml", &err), &err, TY_ENOTFOUND,
                         "no such file");
    ck_assert_fails_with(fetch_path_resolve(&p, r.dir, "registry.yaml/x", &err), &err, TY_ENOTFOUND,
                         "no such file");
    ck_assert_int_eq(fetch_path_resolve(&p, r.dir, NULL, &err), TY_EINVAL);
    ck_assert_int_eq(fetch_path_resolve(&p, NULL, "x", &err), TY_EINVAL);

    /* A local directory source with symlinks: inside is fine, outside is not. */
    outside_dir = ty_xasprintf("%s/local", root);
    ft_sh("mkdir -p %s/d && echo s > %s/d/spec.yaml && ln -s d %s/alias && "
          "ln -s /etc %s/etc && ln -s ../remote.git %s/up",
          outside_dir, outside_dir, outside_dir, outside_dir, outside_dir);
    ck_assert_ok(fetch_path_resolve(&p, outside_dir, "alias/spec.yaml", &err), &err);
    ck_assert(strstr(p, "/local/d/spec.yaml") != NULL);
    free(p);
    ck_assert_fails_with(fetch_path_resolve(&p, outside_dir, "etc/passwd", &err), &err, TY_EINVAL,
                         "outside");
    ck_assert_fails_with(fetch_path_resolve(&p, outside_dir, "up", &err), &err, TY_EINVAL,
                         "outside");
    ck_assert_ptr_null(p);
    free(outside_dir);
    fetch_git_result_cleanup(&r);
}
END_TEST

int main(void)
{
    char *home = ft_env_setup();
    Suite *s = suite_create("fetch.paths");
    TCase *tc = tcase_create("paths");
    int rc;

    fetch_global_init();
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_odd_refs);
    tcase_add_test(tc, test_odd_urls);
    tcase_add_test(tc, test_path_resolve);
    suite_add_tcase(s, tc);
    rc = ty_run_suite(s);
    fetch_global_cleanup();
    ty_rm_rf(home, NULL);
    free(home);
    return rc;
}
