/*
 * bench_compile.c - compiles per second for the corpus apps.
 *
 * For every app with expected manifests in the conformance corpus
 * ($TYCHO_CONFORMANCE_CORPUS, else ../shared/corpus/helx beside the source
 * tree) the inputs are read once; then each app is compiled repeatedly and the
 * time of every single compose_compile() call (spec parse, templates, model,
 * objects) is recorded.  Prints the median and p99 per compile and the rate.
 * Tycho needs about 50 ms per app for the same work (tycho-reference.md §8).
 *
 * Then the same launches again through what the launch policy adds to each
 * (policy/): the checks before compiling, the resource summaries of the
 * app's spec and of the launch (each a model build of the spec), the
 * resource bounds, and the checks of the compiled objects.
 */
#include "compose/compose.h"
#include "doc/doc.h"
#include "policy/policy.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/time.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 200

struct app {
    char *label;
    char *spec, *env;
    size_t spec_len, env_len;
    char *spec_name;
    json_t *entry, *settings;
    char *app_id;
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *branch_of(const char *label)
{
    if (!strcmp(label, "helx-apps-helx-dev"))
        return "helx-apps/helx-dev";
    if (!strcmp(label, "tycho-builtin"))
        return "helx-apps/master";
    return "helx-apps/develop";
}

static json_t *load_settings(const char *corpus, const char *label)
{
    char *path = !strcmp(label, "tycho-builtin")
                     ? ty_xasprintf("%s/tycho/tycho/conf/app-registry.yaml", corpus)
                     : ty_xasprintf("%s/%s/app-registry.yaml", corpus, branch_of(label));
    struct doc *d = NULL;
    json_t *s = NULL;
    if (!doc_load_file(&d, path, NULL, NULL)) {
        s = json_object_get(doc_root(d), "settings");
        s = s ? json_deep_copy(s) : json_object();
    }
    doc_free(d);
    free(path);
    return s ? s : json_object();
}

static size_t load_apps(struct app **out, const char *corpus)
{
    size_t n = 0;
    struct app *apps = NULL;
    char *root = ty_xasprintf("%s/expected/manifests", corpus);
    DIR *labels = opendir(root);
    struct dirent *le;
    while (labels && (le = readdir(labels))) {
        if (le->d_name[0] == '.')
            continue;
        char *ldir = ty_xasprintf("%s/%s", root, le->d_name);
        DIR *ctxs = opendir(ldir);
        struct dirent *ce;
        while (ctxs && (ce = readdir(ctxs))) {
            if (ce->d_name[0] == '.')
                continue;
            char *cdir = ty_xasprintf("%s/%s", ldir, ce->d_name);
            char *regp = ty_xasprintf("%s/expected/registry/%s/%s.json", corpus, le->d_name,
                                      ce->d_name);
            json_t *reg = json_load_file(regp, 0, NULL);
            DIR *files = opendir(cdir);
            struct dirent *fe;
            while (reg && files && (fe = readdir(files))) {
                size_t len = strlen(fe->d_name);
                if (len < 6 || strcmp(fe->d_name + len - 5, ".json"))
                    continue;
                char *app_id = ty_xstrndup(fe->d_name, len - 5);
                json_t *entry = json_object_get(reg, app_id);
                const char *url = json_string_value(json_object_get(entry, "spec"));
                const char *rel = url ? strstr(url, "app-specs/") : NULL;
                if (!rel) {
                    free(app_id);
                    continue;
                }
                struct app a;
                memset(&a, 0, sizeof(a));
                a.spec_name = ty_xasprintf("%s/%s/%s", corpus, branch_of(le->d_name), rel);
                if (ty_file_read(&a.spec, &a.spec_len, a.spec_name, 1u << 20, NULL)) {
                    free(a.spec_name);
                    free(app_id);
                    continue;
                }
                char *dir = ty_path_dirname(a.spec_name);
                char *envp = ty_xasprintf("%s/.env", dir);
                if (ty_file_read(&a.env, &a.env_len, envp, 1u << 20, NULL))
                    a.env = NULL;
                free(dir);
                free(envp);
                a.label = ty_xasprintf("%s/%s/%s", le->d_name, ce->d_name, app_id);
                a.entry = json_incref(entry);
                a.settings = load_settings(corpus, le->d_name);
                a.app_id = app_id;
                apps = ty_xrealloc(apps, (n + 1) * sizeof(*apps));
                apps[n++] = a;
            }
            if (files)
                closedir(files);
            json_decref(reg);
            free(regp);
            free(cdir);
        }
        if (ctxs)
            closedir(ctxs);
        free(ldir);
    }
    if (labels)
        closedir(labels);
    free(root);
    *out = apps;
    return n;
}

int main(void)
{
    const char *corpus = getenv("TYCHO_CONFORMANCE_CORPUS");
    char *fallback = ty_xasprintf("%s/../shared/corpus/helx", TY_SOURCE_DIR);
    struct app *apps = NULL;
    size_t n = load_apps(&apps, corpus ? corpus : fallback);
    if (!n) {
        fprintf(stderr, "bench_compile: no corpus apps found (set TYCHO_CONFORMANCE_CORPUS)\n");
        free(fallback);
        return 1;
    }
    struct compose_policy pol;
    compose_policy_init(&pol);
    size_t total = n * ROUNDS, k = 0;
    double *samples = ty_xmalloc(total * sizeof(double));
    double t_start = now_us();
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t i = 0; i < n; i++) {
            struct compose_input in;
            memset(&in, 0, sizeof(in));
            in.spec_text = apps[i].spec;
            in.spec_len = apps[i].spec_len;
            in.spec_name = apps[i].spec_name;
            in.env_text = apps[i].env;
            in.env_len = apps[i].env_len;
            in.env_name = ".env";
            in.app = apps[i].entry;
            in.settings = apps[i].settings;
            in.app_id = apps[i].app_id;
            in.username = "alice";
            in.guid = "0123456789abcdef0123456789abcdef";
            in.access_token = "TOKEN";
            in.host = "helx.example.org";
            in.limits = (struct compose_resources)COMPOSE_RESOURCES_NONE;
            in.requests = (struct compose_resources)COMPOSE_RESOURCES_NONE;
            in.policy = &pol;
            json_t *list = NULL;
            struct ty_error err = TY_ERROR_INIT;
            double t0 = now_us();
            int rc = compose_compile(&list, &in, &err);
            samples[k++] = now_us() - t0;
            if (rc) {
                fprintf(stderr, "%s: %s\n", apps[i].label, err.msg);
                return 1;
            }
            json_decref(list);
        }
    }
    double wall = now_us() - t_start;
    qsort(samples, total, sizeof(double), cmp_double);
    printf("bench_compile: %zu corpus apps x %d rounds = %zu compiles\n", n, ROUNDS, total);
    printf("  per compile: median %.1f us, p99 %.1f us, max %.1f us\n", samples[total / 2],
           samples[(size_t)((double)total * 0.99)], samples[total - 1]);
    printf("  throughput: %.0f compiles/s (one thread; Tycho: ~20/s at ~50 ms each)\n",
           (double)total / (wall / 1e6));

    /* The launch policy's share of a launch (root allowed: some corpus apps
     * ask for it, and a refusal would stop early). */
    struct policy lp;
    policy_init(&lp);
    lp.allow_root = true;
    k = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t i = 0; i < n; i++) {
            struct compose_input in;
            struct compose_policy view;
            struct compose_resource_summary app_sum, sum;
            struct policy_launch pl = {POLICY_ROLE_PLATFORM, "alice", apps[i].app_id,
                                       apps[i].entry, NULL, false};
            json_t *list = NULL;
            struct ty_error err = TY_ERROR_INIT;
            int rc = policy_launch_check(&view, &lp, &pl, &err);
            memset(&in, 0, sizeof(in));
            in.spec_text = apps[i].spec;
            in.spec_len = apps[i].spec_len;
            in.spec_name = apps[i].spec_name;
            in.env_text = apps[i].env;
            in.env_len = apps[i].env_len;
            in.env_name = ".env";
            in.app = apps[i].entry;
            in.settings = apps[i].settings;
            in.app_id = apps[i].app_id;
            in.username = "alice";
            in.guid = "0123456789abcdef0123456789abcdef";
            in.access_token = "TOKEN";
            in.host = "helx.example.org";
            in.limits = (struct compose_resources)COMPOSE_RESOURCES_NONE;
            in.requests = (struct compose_resources)COMPOSE_RESOURCES_NONE;
            in.policy = &view;
            if (rc == 0)
                rc = compose_compile(&list, &in, &err);
            double t0 = now_us();
            if (rc == 0)
                rc = compose_resources_read(&app_sum, &in, &err);
            if (rc == 0)
                rc = compose_resources_read(&sum, &in, &err);
            if (rc == 0)
                rc = policy_resources_check(&lp, apps[i].app_id, NULL, &app_sum, &sum, 1, &err);
            if (rc == 0)
                rc = policy_objects_check(&lp, &pl, list, &err);
            samples[k++] = now_us() - t0;
            json_decref(list);
            if (rc) {
                fprintf(stderr, "%s: policy: %s\n", apps[i].label, err.msg);
                return 1;
            }
        }
    }
    qsort(samples, total, sizeof(double), cmp_double);
    printf("  launch policy per launch (2 resource summaries + checks): median %.1f us, "
           "p99 %.1f us\n",
           samples[total / 2], samples[(size_t)((double)total * 0.99)]);
    policy_cleanup(&lp);
    for (size_t i = 0; i < n; i++) {
        free(apps[i].label);
        free(apps[i].spec);
        free(apps[i].env);
        free(apps[i].spec_name);
        free(apps[i].app_id);
        json_decref(apps[i].entry);
        json_decref(apps[i].settings);
    }
    free(apps);
    free(samples);
    free(fallback);
    compose_policy_cleanup(&pol);
    return 0;
}
