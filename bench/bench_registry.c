/*
 * bench_registry.c - time to load and resolve registries.
 *
 *   1. the helx-apps develop registry of the conformance corpus (16 contexts),
 *      read from $TYCHO_CONFORMANCE_CORPUS or ../shared/corpus/helx beside the
 *      source tree (skipped with a message when absent);
 *   2. a synthetic registry of 1,000 apps in 50 contexts, each context the end
 *      of a 5-level `extends` chain, with app defaults and a mixin, generated
 *      in a temporary folder.
 *
 * "load" is registry_load_files(): read and parse both files, check them and
 * resolve every context (a load is all-or-nothing).  "resolve" is
 * registry_resolve() of one context, and "resolve all" of every context.
 * Prints median and p99 in microseconds; never asserts on time.
 */
#include "registry/registry.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, int64_t *ns, int n)
{
    qsort(ns, (size_t)n, sizeof(*ns), cmp_i64);
    printf("  %-34s median %9.1f us   p99 %9.1f us   (n=%d)\n", what, ns[n / 2] / 1000.0,
           ns[(n * 99) / 100] / 1000.0, n);
}

static int bench(
    const char *label, const char *reg_path, const char *def_path, const char *base_url, int iters)
{
    struct registry_load_opts opts = REGISTRY_LOAD_OPTS_INIT;
    struct ty_error err = TY_ERROR_INIT;
    struct registry *reg = NULL;
    int64_t *load = ty_xcalloc((size_t)iters, sizeof(int64_t));
    int64_t *one = NULL, *all = ty_xcalloc((size_t)iters, sizeof(int64_t));
    json_t *names;
    size_t nctx, k = 0;
    opts.base_url = base_url;

    for (int i = 0; i < iters; i++) {
        int64_t t0 = ty_time_mono_ns();
        if (registry_load_files(&reg, reg_path, def_path, &opts, &err) < 0) {
            fprintf(stderr, "%s: %s\n", label, err.msg);
            free(load);
            free(all);
            return 1;
        }
        load[i] = ty_time_mono_ns() - t0;
        if (i + 1 < iters)
            registry_put(reg);
    }
    names = registry_context_names(reg);
    nctx = json_array_size(names);
    one = ty_xcalloc((size_t)iters * nctx, sizeof(int64_t));
    for (int i = 0; i < iters; i++) {
        int64_t t_all = ty_time_mono_ns();
        for (size_t c = 0; c < nctx; c++) {
            json_t *apps = NULL;
            int64_t t0 = ty_time_mono_ns();
            if (registry_resolve(&apps, reg, json_string_value(json_array_get(names, c)), NULL,
                                 NULL, &err) < 0) {
                fprintf(stderr, "%s: %s\n", label, err.msg);
                break;
            }
            one[k++] = ty_time_mono_ns() - t0;
            json_decref(apps);
        }
        all[i] = ty_time_mono_ns() - t_all;
    }
    printf("%s: %zu contexts, %zu warnings\n", label, nctx, reg->warnings.len);
    report("load (parse + check + resolve all)", load, iters);
    report("resolve one context", one, (int)k);
    report("resolve all contexts", all, iters);
    json_decref(names);
    registry_put(reg);
    free(load);
    free(one);
    free(all);
    return 0;
}

/* 50 contexts in 10 chains of 5 (level 0 extends nothing, level n extends
 * level n-1), 20 apps each = 1,000 apps, every context mixing in "mix". */
static int write_synthetic(const char *dir)
{
    struct ty_buf b = TY_BUF_INIT;
    struct ty_error err = TY_ERROR_INIT;
    char *path;
    int rc;
    ty_buf_puts(&b, "repositories:\n  specs: {url: app-specs}\n"
                    "settings: {helx_registry: containers.example.org}\ncontexts:\n"
                    "  mix:\n    apps:\n");
    for (int a = 0; a < 1000; a += 7)
        ty_buf_printf(&b, "      app%04d: {ext: {kube: {readinessProbe: none}}}\n", a);
    for (int c = 0; c < 50; c++) {
        ty_buf_printf(&b, "  ctx%02d:\n    name: Context %d\n", c, c);
        if (c % 5)
            ty_buf_printf(&b, "    extends: [ctx%02d]\n", c - 1);
        ty_buf_puts(&b, "    mixin: [mix]\n    apps:\n");
        for (int a = c * 20; a < c * 20 + 20; a++)
            ty_buf_printf(&b,
                          "      app%04d:\n        name: App %d\n        description: app %d\n"
                          "        details: a synthetic app for the benchmark\n"
                          "        docs: https://example.org/docs/%d\n"
                          "        services: {app%04d: \"8888\"}\n        count: 1\n"
                          "        proxy-rewrite-rule: true\n",
                          a, a, a, a, a);
        ty_buf_printf(&b, "    app%04d:\n      securityContext: {runAsUser: 1000}\n", c * 20);
    }
    path = ty_path_join(dir, "app-registry.yaml");
    rc = ty_file_write_atomic(path, b.data, b.len, &err);
    free(path);
    ty_buf_reset(&b);
    ty_buf_puts(&b, "ext:\n  kube:\n    readinessProbe:\n      httpGet:\n"
                    "        path: \"/private/{{ system_name }}/{{ username }}\"\n"
                    "        port: \"{{ system_port }}\"\n");
    path = ty_path_join(dir, "app-defaults.yaml");
    if (rc == 0)
        rc = ty_file_write_atomic(path, b.data, b.len, &err);
    free(path);
    ty_buf_cleanup(&b);
    if (rc < 0)
        fprintf(stderr, "bench_registry: %s\n", err.msg);
    return rc;
}

int main(void)
{
    const char *corpus = getenv("TYCHO_CONFORMANCE_CORPUS");
    char *fallback = ty_xasprintf("%s/../shared/corpus/helx", TY_SOURCE_DIR);
    char *reg_path, *def_path;
    char tmp[] = "/tmp/ty-bench-registry-XXXXXX";
    struct stat st;
    int status = 0;

    if (!corpus || !*corpus)
        corpus = fallback;
    reg_path = ty_xasprintf("%s/helx-apps/develop/app-registry.yaml", corpus);
    def_path = ty_xasprintf("%s/helx-apps/develop/app-defaults.yaml", corpus);
    if (stat(reg_path, &st) == 0)
        status |= bench("helx-apps develop", reg_path, def_path,
                        "https://github.com/helxplatform/helx-apps/raw/develop", 500);
    else
        printf("helx-apps develop: skipped, no corpus at %s (set TYCHO_CONFORMANCE_CORPUS)\n",
               corpus);
    free(reg_path);
    free(def_path);

    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        free(fallback);
        return 1;
    }
    if (write_synthetic(tmp) == 0) {
        reg_path = ty_path_join(tmp, "app-registry.yaml");
        def_path = ty_path_join(tmp, "app-defaults.yaml");
        status |= bench("synthetic 1,000 apps / 50 contexts / 5-level extends", reg_path, def_path,
                        NULL, 30);
        free(reg_path);
        free(def_path);
    } else {
        status = 1;
    }
    (void)ty_rm_rf(tmp, NULL);
    free(fallback);
    return status;
}
