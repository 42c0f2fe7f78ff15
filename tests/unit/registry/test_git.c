/*
 * test_git.c - registries hosted in git, through local bare repositories that
 * the test creates and commits to with the git command line: first clone,
 * update to a new commit and refresh, a broken commit that keeps the old
 * registry live, a missing ref, and an unreachable remote (the bare repository
 * moved away) that keeps serving the last good clone.
 */
#include "fetch/fetch.h"
#include "registry/registry.h"
#include "ty_check.h"
#include "util/file.h"
#include "util/mem.h"

#include <pthread.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp[64];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd); /* NOLINT(cert-env33-c): the test drives the git CLI */
    ck_assert_msg(rc == 0, "command failed (%d): %s", rc, cmd);
}

static void head_commit(char out[41])
{
    char *cmd = ty_xasprintf("git -C %s/work rev-parse HEAD", tmp);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(fgets(out, 41, p));
    pclose(p);
    free(cmd);
}

/* Writes registry/app-registry.yaml in the work tree, commits and pushes. */
static void commit_registry(const char *yaml, char commit_out[41])
{
    char *path = ty_xasprintf("%s/work/registry/app-registry.yaml", tmp);
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_ok(ty_file_write_atomic(path, yaml, strlen(yaml), &err), &err);
    sh("cd %s/work && git add -A && git commit -q -m change && git push -q origin HEAD:main", tmp);
    head_commit(commit_out);
    free(path);
}

static const char *v1 = "repositories:\n  specs: {url: app-specs}\n"
                        "contexts:\n  c:\n    apps:\n      a: {docs: d}\n";
static const char *v2 = "repositories:\n  specs: {url: app-specs}\n"
                        "contexts:\n  c:\n    apps:\n      a: {docs: d}\n      b: {docs: d}\n";
static const char *broken = "repositories:\n  specs: {url: app-specs}\n"
                            "contexts:\n  c:\n    extends: [gone]\n";

static char *source_text(const char *ref)
{
    return ty_xasprintf("git+file://%s/remote.git%s%s:registry", tmp, ref ? "#" : "#",
                        ref ? ref : "");
}

static void setup(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/ty-registry-git-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    sh("git init -q --bare %s/remote.git && git --git-dir=%s/remote.git symbolic-ref HEAD "
       "refs/heads/main",
       tmp, tmp);
    sh("git init -q %s/work && cd %s/work && git remote add origin %s/remote.git && "
       "mkdir -p registry/app-specs/a && echo 'services: {a: {image: x}}' > "
       "registry/app-specs/a/docker-compose.yaml",
       tmp, tmp, tmp);
}

static void teardown(void)
{
    (void)ty_rm_rf(tmp, NULL);
}

static struct registry_load_opts opts_for_cache(char **cache)
{
    struct registry_load_opts o = REGISTRY_LOAD_OPTS_INIT;
    *cache = ty_xasprintf("%s/cache", tmp);
    o.cache_dir = *cache;
    return o;
}

START_TEST(test_clone_update_broken_unreachable)
{
    char c1[41], c2[41], c3[41];
    char *text = source_text("main"), *cache = NULL, *spec = NULL;
    struct registry_load_opts o = opts_for_cache(&cache);
    struct registry_source src;
    struct registry_holder *h = NULL;
    struct registry *reg, *reg2;
    struct ty_error err = TY_ERROR_INIT;
    const json_t *apps = NULL;
    bool changed = false;
    json_t *status;

    commit_registry(v1, c1);
    ck_assert_ok(registry_source_parse(&src, text, &err), &err);

    /* Clone: the commit is recorded, specs resolve to files in the clone. */
    ck_assert_ok(registry_holder_new(&h, &src, &o, &err), &err);
    reg = registry_holder_get(h);
    ck_assert_str_eq(reg->commit, c1);
    ck_assert_ok(registry_apps_get(&apps, reg, "c", &err), &err);
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(registry_app_find(apps, "a"), "spec")),
               "/registry/app-specs/a/docker-compose.yaml"));
    ck_assert_ok(registry_app_spec_read(&spec, NULL, NULL, reg, registry_app_find(apps, "a"), &err),
                 &err);
    ck_assert_str_eq(spec, "services: {a: {image: x}}\n");
    free(spec);
    ck_assert_ptr_null(registry_app_find(apps, "b"));

    /* A new commit: refresh picks it up. */
    commit_registry(v2, c2);
    ck_assert_ok(registry_holder_refresh(h, &changed, &err), &err);
    ck_assert(changed);
    reg2 = registry_holder_get(h);
    ck_assert_str_eq(reg2->commit, c2);
    ck_assert_ok(registry_apps_get(&apps, reg2, "c", &err), &err);
    ck_assert_ptr_nonnull(registry_app_find(apps, "b"));
    registry_put(reg2);
    /* The reference taken before the refresh still reads its own commit. */
    ck_assert_ok(registry_apps_get(&apps, reg, "c", &err), &err);
    ck_assert_ptr_null(registry_app_find(apps, "b"));
    registry_put(reg);

    /* A broken commit never replaces the live registry. */
    commit_registry(broken, c3);
    ck_assert_fails_with(registry_holder_refresh(h, &changed, &err), &err, TY_EINVAL,
                         "context 'c' extends unknown context 'gone'");
    ck_assert(!changed);
    reg = registry_holder_get(h);
    ck_assert_str_eq(reg->commit, c2);
    registry_put(reg);
    status = registry_holder_status(h);
    ck_assert_str_eq(json_string_value(json_object_get(status, "commit")), c2);
    ck_assert_str_eq(json_string_value(json_object_get(status, "kind")), "git");
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(status, "last_error")), "app-registry.yaml:5:15"));
    json_decref(status);

    /* A fresh load (a restarted server) with the broken commit at the ref
     * serves the last good one and says why. */
    ck_assert_ok(registry_load(&reg, &src, &o, &err), &err);
    ck_assert_str_eq(reg->commit, c2);
    ck_assert_uint_eq(reg->warnings.len, 1);
    ck_assert_ptr_nonnull(strstr(reg->warnings.items[0], "serving the last good commit"));
    ck_assert_ptr_nonnull(strstr(reg->warnings.items[0], "unknown context 'gone'"));
    registry_put(reg);

    /* The remote goes away: refresh fails, the last good clone keeps serving. */
    sh("mv %s/remote.git %s/moved.git", tmp, tmp);
    ck_assert_int_lt(registry_holder_refresh(h, &changed, &err), 0);
    reg = registry_holder_get(h);
    ck_assert_str_eq(reg->commit, c2);
    registry_put(reg);
    status = registry_holder_status(h);
    ck_assert(json_is_string(json_object_get(status, "last_error")));
    json_decref(status);
    ck_assert_ok(registry_load(&reg, &src, &o, &err), &err);
    ck_assert_str_eq(reg->commit, c2);
    ck_assert_ptr_nonnull(strstr(reg->warnings.items[0], "serving the last good commit"));
    ck_assert_ok(registry_apps_get(&apps, reg, "c", &err), &err);
    ck_assert_ptr_nonnull(registry_app_find(apps, "b"));
    registry_put(reg);

    registry_holder_free(h);
    registry_source_cleanup(&src);
    free(text);
    free(cache);
}
END_TEST

START_TEST(test_missing_ref_and_default_head)
{
    char c1[41];
    char *cache = NULL, *bad = source_text("no-such-branch"), *head = source_text(NULL);
    struct registry_load_opts o = opts_for_cache(&cache);
    struct registry_source src;
    struct registry *reg = NULL;
    struct ty_error err = TY_ERROR_INIT;

    commit_registry(v1, c1);
    ck_assert_ok(registry_source_parse(&src, bad, &err), &err);
    ck_assert_int_eq(registry_load(&reg, &src, &o, &err), TY_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "no-such-branch"));
    ck_assert_ptr_null(reg);
    registry_source_cleanup(&src);

    /* No ref: the remote's HEAD (main). */
    ck_assert_ok(registry_source_parse(&src, head, &err), &err);
    ck_assert_ptr_null(src.ref);
    ck_assert_ok(registry_load(&reg, &src, &o, &err), &err);
    ck_assert_str_eq(reg->commit, c1);
    ck_assert_uint_eq(reg->warnings.len, 0);
    registry_put(reg);
    registry_source_cleanup(&src);

    /* A path that holds no registry is an error naming the file. */
    {
        char *nofile = ty_xasprintf("git+file://%s/remote.git#main:elsewhere", tmp);
        ck_assert_ok(registry_source_parse(&src, nofile, &err), &err);
        ck_assert_int_eq(registry_load(&reg, &src, &o, &err), TY_ENOTFOUND);
        ck_assert_ptr_nonnull(strstr(err.msg, "elsewhere/app-registry.yaml"));
        registry_source_cleanup(&src);
        free(nofile);
    }
    free(bad);
    free(head);
    free(cache);
}
END_TEST

static bool dir_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Old checkouts are pruned only once no reader holds a registry using them. */
START_TEST(test_prune_waits_for_readers)
{
    char c1[41], c2[41], c3[41];
    char *text = source_text("main"), *cache = NULL;
    struct registry_load_opts o = opts_for_cache(&cache);
    struct registry_source src;
    struct registry_holder *h = NULL;
    struct registry *r1, *r2, *r3;
    struct ty_error err = TY_ERROR_INIT;
    char *d1, *d2;

    commit_registry(v1, c1);
    ck_assert_ok(registry_source_parse(&src, text, &err), &err);
    ck_assert_ok(registry_holder_new(&h, &src, &o, &err), &err);
    r1 = registry_holder_get(h);
    d1 = ty_xstrdup(r1->dir);

    commit_registry(v2, c2);
    ck_assert_ok(registry_holder_refresh(h, NULL, &err), &err);
    r2 = registry_holder_get(h);
    d2 = ty_xstrdup(r2->dir);
    registry_put(r2);
    ck_assert(dir_exists(d1)); /* r1 is still held */

    commit_registry(v1, c3);
    ck_assert_ok(registry_holder_refresh(h, NULL, &err), &err);
    r3 = registry_holder_get(h);
    ck_assert_str_eq(r3->commit, c3);
    ck_assert(dir_exists(d1));  /* still held */
    ck_assert(!dir_exists(d2)); /* nobody holds c2 any more */
    ck_assert(dir_exists(r3->dir));

    registry_put(r1);
    ck_assert_ok(registry_holder_refresh(h, NULL, &err), &err); /* no change: sweeps */
    ck_assert(!dir_exists(d1));
    ck_assert(dir_exists(r3->dir));
    registry_put(r3);

    registry_holder_free(h);
    registry_source_cleanup(&src);
    free(d1);
    free(d2);
    free(text);
    free(cache);
}
END_TEST

/* What the refresh thread reported, for the test to wait on. */
struct notes {
    pthread_mutex_t mu;
    int calls, changes, failures;
    char last_error[256];
    char old_commit[41], new_commit[41];
};

static void on_refresh(const struct registry_refresh_note *note, void *payload)
{
    struct notes *n = payload;
    pthread_mutex_lock(&n->mu);
    n->calls++;
    if (note->changed) {
        n->changes++;
        snprintf(n->old_commit, sizeof(n->old_commit), "%s", note->old_commit);
        snprintf(n->new_commit, sizeof(n->new_commit), "%s", note->new_commit);
    }
    if (note->err) {
        n->failures++;
        snprintf(n->last_error, sizeof(n->last_error), "%s", note->err->msg);
    }
    pthread_mutex_unlock(&n->mu);
}

/* Waits up to 20 s for *field (read under the lock) to reach want. */
static bool wait_count(struct notes *n, const int *field, int want)
{
    for (int i = 0; i < 400; i++) {
        pthread_mutex_lock(&n->mu);
        int v = *field;
        pthread_mutex_unlock(&n->mu);
        if (v >= want)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

/* The refresh thread: a pushed commit goes live by itself, the callback hears
 * of the change (old and new commit), a broken commit keeps the last good one
 * live and is reported, and the counters say so.  Stopping is prompt even with
 * a long interval. */
START_TEST(test_scheduled_refresh)
{
    char c1[41], c2[41], c3[41];
    char *text = source_text("main"), *cache = NULL;
    struct registry_load_opts o = opts_for_cache(&cache);
    struct registry_source src;
    struct registry_holder *h = NULL;
    struct registry *reg;
    struct registry_holder_stats st;
    struct ty_error err = TY_ERROR_INIT;
    struct notes n;
    json_t *status;

    memset(&n, 0, sizeof(n));
    pthread_mutex_init(&n.mu, NULL);
    commit_registry(v1, c1);
    ck_assert_ok(registry_source_parse(&src, text, &err), &err);
    ck_assert_ok(registry_holder_new(&h, &src, &o, &err), &err);
    ck_assert_int_eq(registry_holder_start(h, 0, on_refresh, &n, &err), TY_EINVAL);
    ck_assert_ok(registry_holder_start(h, 200, on_refresh, &n, &err), &err);
    ck_assert_int_eq(registry_holder_start(h, 200, on_refresh, &n, &err), TY_ECONFLICT);

    commit_registry(v2, c2);
    ck_assert_msg(wait_count(&n, &n.changes, 1), "the new commit never went live");
    reg = registry_holder_get(h);
    ck_assert_str_eq(reg->commit, c2);
    registry_put(reg);
    pthread_mutex_lock(&n.mu);
    ck_assert_str_eq(n.old_commit, c1);
    ck_assert_str_eq(n.new_commit, c2);
    pthread_mutex_unlock(&n.mu);

    commit_registry(broken, c3);
    ck_assert_msg(wait_count(&n, &n.failures, 1), "the broken commit was never reported");
    pthread_mutex_lock(&n.mu);
    ck_assert_ptr_nonnull(strstr(n.last_error, "unknown context 'gone'"));
    pthread_mutex_unlock(&n.mu);
    reg = registry_holder_get(h);
    ck_assert_str_eq(reg->commit, c2); /* the last good one stays live */
    registry_put(reg);

    registry_holder_stats_get(h, &st);
    ck_assert_int_eq(st.interval_ms, 200);
    ck_assert_int_eq(st.changes, 1);
    ck_assert_int_ge(st.failures, 1);
    ck_assert_int_ge(st.refreshes, st.changes + st.failures);
    ck_assert(!st.last_ok);
    ck_assert_int_gt(st.last_change_ms, 0);
    status = registry_holder_status(h);
    ck_assert(json_real_value(json_object_get(status, "refresh_interval_seconds")) == 0.2);
    ck_assert(json_is_string(json_object_get(status, "last_changed_at")));
    json_decref(status);

    /* A stop wakes the thread at once, however long the interval (were it to
     * sleep out the hour, the test case's timeout would fail it). */
    registry_holder_stop(h);
    ck_assert_ok(registry_holder_start(h, 3600 * 1000, on_refresh, &n, &err), &err);
    registry_holder_stop(h);
    registry_holder_stats_get(h, &st);
    ck_assert_int_eq(st.interval_ms, 0);

    registry_holder_free(h);
    registry_source_cleanup(&src);
    pthread_mutex_destroy(&n.mu);
    free(text);
    free(cache);
}
END_TEST

/* A git-hosted registry reads files of its own repository only. */
START_TEST(test_specs_stay_in_repository)
{
    char c1[41];
    char *text = source_text(NULL), *cache = NULL, *spec = NULL, *name = NULL;
    struct registry_load_opts o = opts_for_cache(&cache);
    struct registry_source src;
    struct registry *reg = NULL;
    struct ty_error err = TY_ERROR_INIT;
    const json_t *apps = NULL;
    size_t len = 1;

    commit_registry("repositories:\n  specs: {url: app-specs}\n"
                    "contexts:\n  c:\n    apps:\n      a: {docs: d}\n"
                    "      abs: {docs: d, spec: /etc/hostname}\n"
                    "      up: {docs: d, spec: ../../../outside/docker-compose.yaml}\n"
                    "      file: {docs: d, spec: 'file:///etc/passwd'}\n",
                    c1);
    ck_assert_ok(registry_source_parse(&src, text, &err), &err);
    ck_assert_ok(registry_load(&reg, &src, &o, &err), &err);
    ck_assert_ok(registry_apps_get(&apps, reg, "c", &err), &err);
    ck_assert_ok(
        registry_app_spec_read(&spec, &len, &name, reg, registry_app_find(apps, "a"), &err), &err);
    ck_assert_str_eq(spec, "services: {a: {image: x}}\n");
    ck_assert_ptr_nonnull(strstr(name, "/registry/app-specs/a/docker-compose.yaml"));
    free(spec);
    free(name);
    ck_assert_ok(registry_app_env_read(&spec, &len, reg, registry_app_find(apps, "a"), &err), &err);
    ck_assert_str_eq(spec, "");
    free(spec);
    {
        const char *bad[] = {"abs", "up", "file"};
        for (size_t i = 0; i < 3; i++) {
            spec = name = NULL;
            ck_assert_fails_with(registry_app_spec_read(&spec, &len, &name, reg,
                                                        registry_app_find(apps, bad[i]), &err),
                                 &err, TY_EINVAL, "outside the registry's repository");
            ck_assert_ptr_null(spec);
            ck_assert_ptr_null(name);
        }
    }
    registry_put(reg);
    registry_source_cleanup(&src);
    free(text);
    free(cache);
}
END_TEST

/* Icons follow the same rules as specs, with a byte cap: inside the checkout
 * (no absolute path, ".." or file:// URL out of it; a symlink is a plain
 * file), at most REGISTRY_ICON_MAX_BYTES, TY_ENOTFOUND when there is none. */
START_TEST(test_icons_stay_in_repository)
{
    char c1[41];
    char *text = source_text(NULL), *cache = NULL, *icon = NULL, *name = NULL;
    struct registry_load_opts o = opts_for_cache(&cache);
    struct registry_source src;
    struct registry *reg = NULL;
    struct ty_error err = TY_ERROR_INIT;
    const json_t *apps = NULL;
    size_t len = 1;
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 'x'};

    {
        char *path = ty_xasprintf("%s/work/registry/app-specs/a/icon.png", tmp);
        ck_assert_ok(ty_file_write_atomic(path, png, sizeof(png), &err), &err);
        free(path);
    }
    sh("cd %s/work/registry/app-specs && mkdir link big && ln -s /etc/passwd link/icon.png && "
       "head -c %zu /dev/zero > big/icon.png",
       tmp, REGISTRY_ICON_MAX_BYTES + 1);
    commit_registry("repositories:\n  specs: {url: app-specs}\n"
                    "contexts:\n  c:\n    apps:\n      a: {docs: d}\n      none: {docs: d}\n"
                    "      link: {docs: d}\n      big: {docs: d}\n"
                    "      abs: {docs: d}\n      up: {docs: d}\n      file: {docs: d}\n"
                    "      nullicon: {docs: d}\n"
                    "    abs: {icon: /etc/hostname}\n"
                    "    up: {icon: ../../../outside/icon.png}\n"
                    "    file: {icon: 'file:///etc/passwd'}\n"
                    "    nullicon: {icon: null}\n",
                    c1);
    ck_assert_ok(registry_source_parse(&src, text, &err), &err);
    ck_assert_ok(registry_load(&reg, &src, &o, &err), &err);
    ck_assert_ok(registry_apps_get(&apps, reg, "c", &err), &err);
    ck_assert_ok(
        registry_app_icon_read(&icon, &len, &name, reg, registry_app_find(apps, "a"), &err), &err);
    ck_assert_uint_eq(len, sizeof(png));
    ck_assert_mem_eq(icon, png, sizeof(png));
    ck_assert_ptr_nonnull(strstr(name, "/registry/app-specs/a/icon.png"));
    free(icon);
    free(name);
    /* A symlink is checked out as a plain file holding its target. */
    ck_assert_ok(
        registry_app_icon_read(&icon, &len, NULL, reg, registry_app_find(apps, "link"), &err),
        &err);
    ck_assert_str_eq(icon, "/etc/passwd");
    free(icon);
    {
        const struct {
            const char *app;
            int code;
            const char *msg;
        } bad[] = {
            {"abs", TY_EINVAL, "outside the registry's repository"},
            {"up", TY_EINVAL, "outside the registry's repository"},
            {"file", TY_EINVAL, "outside the registry's repository"},
            {"big", TY_ELIMIT, ""},
            {"none", TY_ENOTFOUND, ""},
            {"nullicon", TY_ENOTFOUND, "app has no icon"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            icon = name = NULL;
            len = 1;
            ck_assert_fails_with(registry_app_icon_read(&icon, &len, &name, reg,
                                                        registry_app_find(apps, bad[i].app), &err),
                                 &err, bad[i].code, bad[i].msg);
            ck_assert_ptr_null(icon);
            ck_assert_ptr_null(name);
            ck_assert_uint_eq(len, 0);
        }
    }
    registry_put(reg);
    registry_source_cleanup(&src);
    free(text);
    free(cache);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("registry_git");
    TCase *tc = tcase_create("git");
    char home[] = "/tmp/ty-registry-home-XXXXXX";
    int rc;
    /* git and libgit2 must not see the user's configuration. */
    if (!mkdtemp(home))
        return 1;
    setenv("HOME", home, 1);
    setenv("XDG_CONFIG_HOME", home, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_AUTHOR_NAME", "Tycho Test", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@example.org", 1);
    setenv("GIT_COMMITTER_NAME", "Tycho Test", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@example.org", 1);
    fetch_global_init();
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_clone_update_broken_unreachable);
    tcase_add_test(tc, test_missing_ref_and_default_head);
    tcase_add_test(tc, test_prune_waits_for_readers);
    tcase_add_test(tc, test_scheduled_refresh);
    tcase_add_test(tc, test_specs_stay_in_repository);
    tcase_add_test(tc, test_icons_stay_in_repository);
    suite_add_tcase(s, tc);
    rc = ty_run_suite(s);
    fetch_global_cleanup();
    (void)ty_rm_rf(home, NULL);
    return rc;
}
