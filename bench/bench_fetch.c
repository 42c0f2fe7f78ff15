/*
 * bench_fetch.c - what a git-hosted registry costs on each refresh.
 *
 * Builds a local bare repository shaped like a registry (a registry file plus
 * N spec folders, default 200; `bench_fetch N`) with the git CLI, then prints in
 * milliseconds: the first clone and checkout, a refresh when nothing changed
 * (fetch + reuse of the checkout; median of 20), a refresh after a new commit
 * (fetch + new checkout; median of 10), fetch_git_last_live, and the rate of
 * fetch_path_resolve on a spec path.  Local file:// transport, so the figures
 * are the library's own cost, not a network's.  Figures only.
 */
#include "fetch/fetch.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const struct ty_error *err)
{
    fprintf(stderr, "bench_fetch: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static void sh(const char *cmd)
{
    if (system(cmd) != 0)
        die(cmd, NULL);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double median_ms(int64_t *ns, int n)
{
    qsort(ns, (size_t)n, sizeof ns[0], cmp_i64);
    return (double)ns[n / 2] / 1e6;
}

int main(int argc, char **argv)
{
    int n_specs = argc > 1 ? atoi(argv[1]) : 200;
    char tmpl[] = "/tmp/ty-bench-fetch-XXXXXX";
    char *root, *cmd, *cache, *url, *spec = NULL;
    struct fetch_git_result r;
    struct ty_error err = TY_ERROR_INIT;
    int64_t t, ns[20];
    int i;

    if (n_specs < 1)
        n_specs = 200;
    root = mkdtemp(tmpl);
    if (!root)
        die("mkdtemp", NULL);
    setenv("GIT_AUTHOR_NAME", "bench", 1);
    setenv("GIT_AUTHOR_EMAIL", "bench@example.org", 1);
    setenv("GIT_COMMITTER_NAME", "bench", 1);
    setenv("GIT_COMMITTER_EMAIL", "bench@example.org", 1);
    fetch_global_init();
    cmd = ty_xasprintf(
        "set -e; cd %s; git init -q --bare -b main remote.git; git init -q -b main work; cd work;"
        " echo 'apps: {}' > app-registry.yaml;"
        " i=0; while [ $i -lt %d ]; do mkdir -p app$i;"
        " printf 'services:\\n  app%%s:\\n    image: example/app:%%s\\n' $i $i"
        " > app$i/docker-compose.yaml; i=$((i+1)); done;"
        " git add .; git commit -qm one; git push -q ../remote.git HEAD:refs/heads/main",
        root, n_specs);
    sh(cmd);
    free(cmd);
    cache = ty_xasprintf("%s/cache", root);
    url = ty_xasprintf("file://%s/remote.git", root);

    t = ty_time_mono_ns();
    if (fetch_git_checkout(&r, cache, url, "main", &err) < 0)
        die("first checkout", &err);
    printf("first clone + checkout (%d specs): %.2f ms\n", n_specs,
           (double)(ty_time_mono_ns() - t) / 1e6);
    if (fetch_git_mark_live(cache, url, r.commit, &err) < 0)
        die("mark live", &err);
    fetch_git_result_cleanup(&r);

    for (i = 0; i < 20; i++) {
        t = ty_time_mono_ns();
        if (fetch_git_checkout(&r, cache, url, "main", &err) < 0)
            die("refresh", &err);
        ns[i] = ty_time_mono_ns() - t;
        fetch_git_result_cleanup(&r);
    }
    printf("refresh, nothing changed (fetch + reuse): %.2f ms median of 20\n", median_ms(ns, 20));

    for (i = 0; i < 10; i++) {
        cmd = ty_xasprintf("set -e; cd %s/work; echo 'apps: {} # %d' > app-registry.yaml;"
                           " git commit -qam c%d; git push -q ../remote.git HEAD:refs/heads/main",
                           root, i, i);
        sh(cmd);
        free(cmd);
        t = ty_time_mono_ns();
        if (fetch_git_checkout(&r, cache, url, "main", &err) < 0)
            die("update", &err);
        ns[i] = ty_time_mono_ns() - t;
        fetch_git_result_cleanup(&r);
    }
    printf("refresh after a new commit (fetch + checkout): %.2f ms median of 10\n",
           median_ms(ns, 10));

    for (i = 0; i < 20; i++) {
        t = ty_time_mono_ns();
        if (fetch_git_last_live(&r, cache, url, &err) < 0)
            die("last live", &err);
        ns[i] = ty_time_mono_ns() - t;
        if (i < 19)
            fetch_git_result_cleanup(&r);
    }
    printf("last live checkout (no network): %.3f ms median of 20\n", median_ms(ns, 20));

    t = ty_time_mono_ns();
    for (i = 0; i < 10000; i++) {
        if (fetch_path_resolve(&spec, r.dir, "app7/../app1/./docker-compose.yaml", &err) < 0)
            die("path", &err);
        free(spec);
    }
    printf("fetch_path_resolve: %.0f per second\n",
           10000.0 / ((double)(ty_time_mono_ns() - t) / 1e9));
    fetch_git_result_cleanup(&r);

    if (fetch_git_prune(cache, url, NULL, &err) < 0)
        die("prune", &err);
    ty_rm_rf(root, NULL);
    free(cache);
    free(url);
    fetch_global_cleanup();
    return 0;
}
