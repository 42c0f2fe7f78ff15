/*
 * test_client.c - the Kubernetes client over the wire.
 *
 * Normally every test starts the project's simulated cluster in-process
 * (HTTPS with a self-signed certificate and a bearer token) and talks to it
 * through a kubeconfig the simulator writes.  With TY_KUBE_REAL=1 (the
 * `kube-real` ctest suite, tests/kube/tests.cmake) the portable subset runs
 * against the real cluster named by KUBECONFIG instead, in its context's
 * namespace (or $TY_KUBE_REAL_NAMESPACE), on ConfigMaps labelled with a
 * per-run id that are deleted at the end; without KUBECONFIG it exits 77
 * (skipped).
 */
#include "kube/kube.h"
#include "kubesim/kubesim.h"
#include "ty_check.h"
#include "util/crypto.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/time.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN    "test-token-1"
#define RO_TOKEN "read-only-token"

static bool real_mode;
static char tmpdir[256];
static char run_id[17];
static char run_label[64]; /* "tycho-test=<run_id>" */
static struct kubesim *sim;
static struct kube_client *kc;
static struct kube_config cfg;

static struct kube_client_opts fast_opts(void)
{
    struct kube_client_opts o = KUBE_CLIENT_OPTS_INIT;
    o.backoff_base_ms = 10;
    o.backoff_max_ms = 100;
    o.retries = 6;
    o.timeout_ms = 10000;
    return o;
}

static void start_sim(const struct kubesim_opts *so)
{
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_ok(kubesim_start(&sim, so, &err), &err);
}

static void setup(void)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_client_opts o = fast_opts();
    char guid[33];

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ty-kube-client-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ty_guid_new(guid);
    memcpy(run_id, guid, 16);
    run_id[16] = '\0';
    snprintf(run_label, sizeof(run_label), "tycho-test=%s", run_id);
    if (real_mode) {
        const char *ns = getenv("TY_KUBE_REAL_NAMESPACE");
        ck_assert_ok(kube_config_load_kubeconfig(&cfg, NULL, NULL, &err), &err);
        if (ns && ns[0]) {
            free(cfg.namespace);
            cfg.namespace = ty_xstrdup(ns);
        }
    } else {
        struct kubesim_opts so = KUBESIM_OPTS_INIT;
        char *path = ty_path_join(tmpdir, "kubeconfig");
        so.tls = true;
        so.token = TOKEN;
        so.readonly_token = RO_TOKEN;
        so.pod_schedule_ms = 50;
        so.pod_start_ms = 100;
        so.pod_grace_ms = 100;
        start_sim(&so);
        ck_assert_ok(kubesim_write_kubeconfig(sim, path, "tycho-test", &err), &err);
        ck_assert_ok(kube_config_load_kubeconfig(&cfg, path, NULL, &err), &err);
        free(path);
    }
    ck_assert_ok(kube_client_new(&kc, &cfg, &o, &err), &err);
}

static void teardown(void)
{
    if (kc && real_mode)
        kube_delete_collection(kc, KUBE_CONFIGMAP, NULL, run_label, KUBE_PROPAGATION_DEFAULT, NULL);
    kube_client_free(kc);
    kc = NULL;
    kube_config_cleanup(&cfg);
    kubesim_stop(sim);
    sim = NULL;
    ty_rm_rf(tmpdir, NULL);
}

/* A ConfigMap labelled for this run; name "ty-<run>-<suffix>". */
static json_t *configmap(const char *suffix, const char *extra_label, const char *value)
{
    char name[128];
    json_t *cm;
    snprintf(name, sizeof(name), "ty-%s-%s", run_id, suffix);
    cm = json_pack("{s:{s:s,s:{s:s}},s:{s:s}}", "metadata", "name", name, "labels", "tycho-test",
                   run_id, "data", "v", value);
    if (extra_label)
        json_object_set_new(json_object_get(json_object_get(cm, "metadata"), "labels"), "idx",
                            json_string(extra_label));
    return cm;
}

static const char *cm_name(const char *suffix)
{
    static char name[8][128];
    static int slot;
    char *n = name[slot++ % 8];
    snprintf(n, 128, "ty-%s-%s", run_id, suffix);
    return n;
}

START_TEST(test_crud)
{
    struct ty_error err = TY_ERROR_INIT;
    json_t *body = configmap("crud", NULL, "one"), *obj = NULL, *got = NULL, *patch;
    const char *name = cm_name("crud");
    char *rv;

    ck_assert_ok(kube_create(&obj, kc, KUBE_CONFIGMAP, NULL, body, &err), &err);
    ck_assert_str_eq(kube_obj_name(obj), name);
    ck_assert_str_eq(json_string_value(json_object_get(obj, "kind")), "ConfigMap");
    ck_assert_ptr_nonnull(kube_obj_resource_version(obj));
    ck_assert_fails_with(kube_create(&got, kc, KUBE_CONFIGMAP, NULL, body, &err), &err, TY_EEXISTS,
                         "already exists");
    ck_assert_ptr_null(got);

    ck_assert_ok(kube_get(&got, kc, KUBE_CONFIGMAP, NULL, name, &err), &err);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(got, "data"), "v")), "one");
    rv = ty_xstrdup(kube_obj_resource_version(got));
    json_decref(got);

    patch = json_pack("{s:{s:{s:s}},s:{s:s,s:n}}", "metadata", "labels", "patched", "yes", "data",
                      "w", "two", "v");
    ck_assert_ok(kube_patch_merge(&got, kc, KUBE_CONFIGMAP, NULL, name, patch, &err), &err);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(got, "data"), "w")), "two");
    ck_assert_ptr_null(json_object_get(json_object_get(got, "data"), "v"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(got, "metadata"), "labels"), "patched")),
                     "yes");
    ck_assert_str_ne(kube_obj_resource_version(got), rv);
    json_decref(patch);

    /* replace with the stale resourceVersion: Conflict; with the current one: ok */
    json_object_set_new(json_object_get(body, "metadata"), "resourceVersion", json_string(rv));
    ck_assert_fails_with(kube_replace(NULL, kc, KUBE_CONFIGMAP, NULL, name, body, &err), &err,
                         TY_ECONFLICT, "modified");
    json_object_set_new(json_object_get(body, "metadata"), "resourceVersion",
                        json_string(kube_obj_resource_version(got)));
    json_decref(got);
    ck_assert_ok(kube_replace(&got, kc, KUBE_CONFIGMAP, NULL, name, body, &err), &err);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(got, "data"), "v")), "one");
    json_decref(got);

    ck_assert_ok(kube_delete(kc, KUBE_CONFIGMAP, NULL, name, KUBE_PROPAGATION_BACKGROUND, &err),
                 &err);
    ck_assert_fails_with(
        kube_delete(kc, KUBE_CONFIGMAP, NULL, name, KUBE_PROPAGATION_DEFAULT, &err), &err,
        TY_ENOTFOUND, "not found");
    ck_assert_fails_with(kube_get(&got, kc, KUBE_CONFIGMAP, NULL, name, &err), &err, TY_ENOTFOUND,
                         name);
    ck_assert_fails_with(kube_get(&got, kc, KUBE_CONFIGMAP, NULL, "", &err), &err, TY_EINVAL,
                         "name");
    free(rv);
    json_decref(obj);
    json_decref(body);
}
END_TEST

START_TEST(test_list_paging)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    json_t *list = NULL;
    char *token = NULL;
    int pages = 0, total = 0;

    for (int i = 0; i < 5; i++) {
        char sfx[16], idx[4];
        json_t *cm;
        snprintf(sfx, sizeof(sfx), "page%d", i);
        snprintf(idx, sizeof(idx), "%d", i);
        cm = configmap(sfx, idx, "x");
        ck_assert_ok(kube_create(NULL, kc, KUBE_CONFIGMAP, NULL, cm, &err), &err);
        json_decref(cm);
    }
    lo.label_selector = run_label;
    lo.limit = 2;
    do {
        const char *next;
        lo.continue_token = token;
        ck_assert_ok(kube_list(&list, kc, KUBE_CONFIGMAP, NULL, &lo, &err), &err);
        ck_assert_int_le(json_array_size(json_object_get(list, "items")), 2);
        total += (int)json_array_size(json_object_get(list, "items"));
        pages++;
        next = json_string_value(json_object_get(json_object_get(list, "metadata"), "continue"));
        free(token);
        token = next && next[0] ? ty_xstrdup(next) : NULL;
        json_decref(list);
    } while (token && pages < 10);
    ck_assert_int_eq(pages, 3);
    ck_assert_int_eq(total, 5);
    lo.continue_token = NULL;

    ck_assert_ok(kube_list_all(&list, kc, KUBE_CONFIGMAP, NULL, &lo, &err), &err);
    ck_assert_int_eq(json_array_size(json_object_get(list, "items")), 5);
    ck_assert_ptr_null(json_object_get(json_object_get(list, "metadata"), "continue"));
    ck_assert_ptr_nonnull(kube_obj_resource_version(list));
    json_decref(list);

    /* set-based selectors */
    {
        char sel[128];
        struct kube_list_opts so = KUBE_LIST_OPTS_INIT;
        snprintf(sel, sizeof(sel), "%s,idx in (1,3)", run_label);
        so.label_selector = sel;
        ck_assert_ok(kube_list(&list, kc, KUBE_CONFIGMAP, NULL, &so, &err), &err);
        ck_assert_int_eq(json_array_size(json_object_get(list, "items")), 2);
        json_decref(list);
        snprintf(sel, sizeof(sel), "%s,idx!=0", run_label);
        ck_assert_ok(kube_list(&list, kc, KUBE_CONFIGMAP, NULL, &so, &err), &err);
        ck_assert_int_eq(json_array_size(json_object_get(list, "items")), 4);
        json_decref(list);
        so.label_selector = run_label;
        so.field_selector = "metadata.name=nonexistent-name";
        ck_assert_ok(kube_list(&list, kc, KUBE_CONFIGMAP, NULL, &so, &err), &err);
        ck_assert_int_eq(json_array_size(json_object_get(list, "items")), 0);
        json_decref(list);
        so.field_selector = NULL;
        so.label_selector = "bad selector (((";
        ck_assert_fails_with(kube_list(&list, kc, KUBE_CONFIGMAP, NULL, &so, &err), &err, TY_EINVAL,
                             "400");
    }

    ck_assert_ok(kube_delete_collection(kc, KUBE_CONFIGMAP, NULL, run_label,
                                        KUBE_PROPAGATION_BACKGROUND, &err),
                 &err);
    lo.limit = 0;
    ck_assert_ok(kube_list(&list, kc, KUBE_CONFIGMAP, NULL, &lo, &err), &err);
    ck_assert_int_eq(json_array_size(json_object_get(list, "items")), 0);
    json_decref(list);
    /* matching nothing is success */
    ck_assert_ok(
        kube_delete_collection(kc, KUBE_CONFIGMAP, NULL, run_label, KUBE_PROPAGATION_DEFAULT, &err),
        &err);
}
END_TEST

/* ---- watch ---- */

struct seen {
    const char *name;
    int added, modified, deleted, bookmarks, other;
    char last_rv[64];
};

static int on_event(const char *type, json_t *obj, void *p)
{
    struct seen *s = p;
    const char *n = kube_obj_name(obj), *rv = kube_obj_resource_version(obj);
    if (rv)
        snprintf(s->last_rv, sizeof(s->last_rv), "%s", rv);
    if (strcmp(type, "BOOKMARK") == 0) {
        s->bookmarks++;
        return 0;
    }
    if (!n || strcmp(n, s->name) != 0) {
        s->other++;
        return 0;
    }
    if (strcmp(type, "ADDED") == 0)
        s->added++;
    else if (strcmp(type, "MODIFIED") == 0)
        s->modified++;
    else if (strcmp(type, "DELETED") == 0)
        s->deleted++;
    return s->deleted > 0; /* stop after the deletion */
}

static void *writer(void *p)
{
    const char *sfx = p;
    struct ty_error err = TY_ERROR_INIT;
    json_t *cm = configmap(sfx, NULL, "a"), *patch = json_pack("{s:{s:s}}", "data", "v", "b");
    usleep(300 * 1000);
    if (kube_create(NULL, kc, KUBE_CONFIGMAP, NULL, cm, &err) == 0 &&
        kube_patch_merge(NULL, kc, KUBE_CONFIGMAP, NULL, cm_name(sfx), patch, &err) == 0)
        kube_delete(kc, KUBE_CONFIGMAP, NULL, cm_name(sfx), KUBE_PROPAGATION_DEFAULT, &err);
    json_decref(cm);
    json_decref(patch);
    return NULL;
}

static void watch_once(const char *sfx, const char *rv)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_watch_opts wo = KUBE_WATCH_OPTS_INIT;
    struct seen s = {0};
    pthread_t t;

    s.name = cm_name(sfx);
    wo.label_selector = run_label;
    wo.resource_version = rv;
    wo.timeout_s = 20;
    pthread_create(&t, NULL, writer, (void *)sfx);
    ck_assert_ok(kube_watch(kc, KUBE_CONFIGMAP, NULL, &wo, on_event, &s, &err), &err);
    pthread_join(t, NULL);
    ck_assert_int_eq(s.added, 1);
    ck_assert_int_eq(s.modified, 1);
    ck_assert_int_eq(s.deleted, 1);
    ck_assert_int_eq(s.other, 0);
    ck_assert(s.last_rv[0]);
}

START_TEST(test_watch)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    struct kube_client_stats st;
    json_t *list = NULL;

    lo.label_selector = run_label;
    ck_assert_ok(kube_list(&list, kc, KUBE_CONFIGMAP, NULL, &lo, &err), &err);
    watch_once("w1", kube_obj_resource_version(list));
    json_decref(list);
    kube_client_stats(kc, &st);
    ck_assert_uint_ge(st.watch_events, 3);
}
END_TEST

START_TEST(test_watch_gone_relist)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_watch_opts wo = KUBE_WATCH_OPTS_INIT;
    struct kubesim_faults f = {0};
    struct seen s = {0};
    json_t *list = NULL;

    ck_assert_ok(kube_list(&list, kc, KUBE_CONFIGMAP, NULL, NULL, &err), &err);
    f.gone_next_watch = true;
    kubesim_set_faults(sim, &f);
    s.name = "none";
    wo.resource_version = kube_obj_resource_version(list);
    wo.timeout_s = 5;
    ck_assert_fails_with(kube_watch(kc, KUBE_CONFIGMAP, NULL, &wo, on_event, &s, &err), &err,
                         TY_EGONE, "410");
    json_decref(list);
    /* the caller's recovery: re-list, then watch from the new list's version */
    ck_assert_ok(kube_list(&list, kc, KUBE_CONFIGMAP, NULL, NULL, &err), &err);
    watch_once("w2", kube_obj_resource_version(list));
    json_decref(list);
}
END_TEST

/* A watch that the server ends (timeoutSeconds) returns 0; bookmarks reach
 * the callback with a resourceVersion; without a resourceVersion the watch
 * starts with synthetic ADDED events for what exists. */
START_TEST(test_watch_bookmarks_and_server_timeout)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_watch_opts wo = KUBE_WATCH_OPTS_INIT;
    json_t *cm = configmap("bm", NULL, "x");
    struct seen s = {0};
    int64_t t0;

    ck_assert_ok(kube_create(NULL, kc, KUBE_CONFIGMAP, NULL, cm, &err), &err);
    json_decref(cm);
    s.name = cm_name("bm");
    wo.label_selector = run_label;
    wo.allow_bookmarks = true;
    wo.timeout_s = 2;
    t0 = ty_time_mono_ms();
    ck_assert_ok(kube_watch(kc, KUBE_CONFIGMAP, NULL, &wo, on_event, &s, &err), &err);
    ck_assert_int_ge(ty_time_mono_ms() - t0, 1900);
    ck_assert_int_eq(s.added, 1);
    ck_assert_int_ge(s.bookmarks, 1);
    ck_assert(s.last_rv[0]);
}
END_TEST

static int never_stop(const char *type, json_t *obj, void *p)
{
    (*(int *)p)++;
    return 0;
}

struct canceller {
    struct kube_client *c;
    int *flag;
};

static void *cancel_later(void *p)
{
    struct canceller *cn = p;
    usleep(300 * 1000);
    if (cn->flag)
        __atomic_store_n(cn->flag, 1, __ATOMIC_RELEASE);
    else
        kube_client_cancel(cn->c);
    return NULL;
}

START_TEST(test_watch_stop_and_cancel)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_watch_opts wo = KUBE_WATCH_OPTS_INIT;
    struct kube_client *c2 = NULL;
    struct kube_client_opts o = fast_opts();
    int flag = 0, events = 0;
    struct canceller cn = {kc, &flag};
    pthread_t t;
    int64_t t0;

    wo.label_selector = run_label;
    wo.timeout_s = 30;
    wo.stop = &flag;
    t0 = ty_time_mono_ms();
    pthread_create(&t, NULL, cancel_later, &cn);
    ck_assert_ok(kube_watch(kc, KUBE_CONFIGMAP, NULL, &wo, never_stop, &events, &err), &err);
    pthread_join(t, NULL);
    ck_assert_int_lt(ty_time_mono_ms() - t0, 5000);

    /* cancel a second client from another thread: the watch ends, later calls fail */
    ck_assert_ok(kube_client_new(&c2, &cfg, &o, &err), &err);
    cn.c = c2;
    cn.flag = NULL;
    wo.stop = NULL;
    t0 = ty_time_mono_ms();
    pthread_create(&t, NULL, cancel_later, &cn);
    ck_assert_ok(kube_watch(c2, KUBE_CONFIGMAP, NULL, &wo, never_stop, &events, &err), &err);
    pthread_join(t, NULL);
    ck_assert_int_lt(ty_time_mono_ms() - t0, 5000);
    ck_assert_fails_with(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, "x", &err), &err, TY_ERR,
                         "cancelled");
    kube_client_free(c2);
}
END_TEST

START_TEST(test_version_and_limits)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_client *c2 = NULL;
    struct kube_client_opts o = fast_opts();
    json_t *v = NULL, *cm = configmap("big", NULL, ""), *list = NULL;
    char big[4096];

    ck_assert_ok(kube_request_json(&v, kc, "GET", "/version", NULL, &err), &err);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(v, "gitVersion")));
    json_decref(v);
    ck_assert_fails_with(kube_request_json(&v, kc, "GET", "version", NULL, &err), &err, TY_EINVAL,
                         "path");

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_object_set_new(json_object_get(cm, "data"), "v", json_string(big));
    ck_assert_ok(kube_create(NULL, kc, KUBE_CONFIGMAP, NULL, cm, &err), &err);
    o.max_reply_bytes = 1024;
    ck_assert_ok(kube_client_new(&c2, &cfg, &o, &err), &err);
    ck_assert_fails_with(kube_get(&v, c2, KUBE_CONFIGMAP, NULL, cm_name("big"), &err), &err,
                         TY_ELIMIT, "over the limit of 1024");
    ck_assert_fails_with(kube_list(&list, c2, KUBE_CONFIGMAP, NULL, NULL, &err), &err, TY_ELIMIT,
                         "1024");
    kube_client_free(c2);
    json_decref(cm);
}
END_TEST

/* ---- simulator-only tests (registered only without TY_KUBE_REAL) ---- */

/* Contents of tmpdir/name (new string). */
static char *read_tmp(const char *name)
{
    struct ty_error err = TY_ERROR_INIT;
    char *p = ty_path_join(tmpdir, name), *text = NULL;
    ck_assert_ok(ty_file_read(&text, NULL, p, 1 << 20, &err), &err);
    free(p);
    return text;
}

START_TEST(test_retries_under_faults)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kubesim_faults f = {0};
    struct kube_client_stats a, b;
    struct kube_client *c2 = NULL;
    struct kube_client_opts o = fast_opts();
    json_t *cm = configmap("retry", NULL, "r");
    long req0;
    int64_t t0;

    ck_assert_ok(kube_create(NULL, kc, KUBE_CONFIGMAP, NULL, cm, &err), &err);
    json_decref(cm);

    /* 50% of answers are 500: every call still succeeds, with retries (20
     * retries: a call fails only with probability 2^-21) */
    f.error_rate = 0.5;
    f.error_status = 500;
    kubesim_set_faults(sim, &f);
    o.retries = 20;
    ck_assert_ok(kube_client_new(&c2, &cfg, &o, &err), &err);
    kube_client_stats(c2, &a);
    for (int i = 0; i < 20; i++)
        ck_assert_ok(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, cm_name("retry"), &err), &err);
    kube_client_stats(c2, &b);
    kube_client_free(c2);
    ck_assert_uint_eq(b.calls - a.calls, 20);
    ck_assert_uint_eq(b.errors - a.errors, 0);
    ck_assert_uint_gt(b.retries - a.retries, 0);
    ck_assert_uint_eq(b.attempts - a.attempts, 20 + (b.retries - a.retries));

    /* 50% 503, which the simulator sends with Retry-After: 1 like a real
     * overloaded apiserver: succeeds, and every retry waited a second */
    f.error_status = 503;
    kubesim_set_faults(sim, &f);
    ck_assert_ok(kube_client_new(&c2, &cfg, &o, &err), &err);
    t0 = ty_time_mono_ms();
    for (int i = 0; i < 3; i++)
        ck_assert_ok(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, cm_name("retry"), &err), &err);
    kube_client_stats(c2, &b);
    ck_assert_int_ge(ty_time_mono_ms() - t0, (int64_t)b.retries * 1000);
    ck_assert_uint_eq(b.attempts, 3 + b.retries);
    kube_client_free(c2);

    /* always 429 with Retry-After: 1 -> exactly 1 + retries attempts, each
     * retry waiting at least a second */
    f.error_rate = 1.0;
    f.error_status = 429;
    f.retry_after_s = 1;
    kubesim_set_faults(sim, &f);
    o.retries = 2;
    ck_assert_ok(kube_client_new(&c2, &cfg, &o, &err), &err);
    req0 = kubesim_request_count(sim);
    t0 = ty_time_mono_ms();
    ck_assert_fails_with(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, cm_name("retry"), &err), &err,
                         TY_EUPSTREAM, "429");
    ck_assert_int_ge(ty_time_mono_ms() - t0, 2000);
    ck_assert_int_eq(kubesim_request_count(sim) - req0, 3);
    kube_client_stats(c2, &a);
    ck_assert_uint_eq(a.attempts, 3);
    ck_assert_uint_eq(a.retries, 2);
    ck_assert_uint_eq(a.errors, 1);

    /* 50% 429 + Retry-After: eventually succeeds */
    f.error_rate = 0.5;
    kubesim_set_faults(sim, &f);
    o.retries = 20;
    kube_client_free(c2);
    ck_assert_ok(kube_client_new(&c2, &cfg, &o, &err), &err);
    for (int i = 0; i < 2; i++)
        ck_assert_ok(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, cm_name("retry"), &err), &err);

    /* 404 is never retried */
    kubesim_set_faults(sim, NULL);
    kube_client_stats(c2, &a);
    ck_assert_int_eq(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, "absent", &err), TY_ENOTFOUND);
    kube_client_stats(c2, &b);
    ck_assert_uint_eq(b.attempts - a.attempts, 1);

    /* latency over the client's timeout: ETIMEOUT, not retried */
    memset(&f, 0, sizeof(f));
    f.latency_ms = 1500;
    kubesim_set_faults(sim, &f);
    kube_client_free(c2);
    o.timeout_ms = 300;
    o.retries = 3;
    ck_assert_ok(kube_client_new(&c2, &cfg, &o, &err), &err);
    t0 = ty_time_mono_ms();
    ck_assert_fails_with(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, cm_name("retry"), &err), &err,
                         TY_ETIMEOUT, "GET");
    ck_assert_int_lt(ty_time_mono_ms() - t0, 1400);
    kubesim_set_faults(sim, NULL);
    kube_client_free(c2);
}
END_TEST

/* Dropped connections (the server closes without answering) are transport
 * errors: retried, and EUPSTREAM once the retries are spent. */
START_TEST(test_dropped_connections)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kubesim_faults f = {0};
    struct kube_client_stats a;
    struct kube_client *c2 = NULL;
    struct kube_client_opts o = fast_opts();
    json_t *cm = configmap("retry", NULL, "r");

    ck_assert_ok(kube_create(NULL, kc, KUBE_CONFIGMAP, NULL, cm, &err), &err);
    json_decref(cm);
    o.retries = 20;
    o.timeout_ms = 3000;
    ck_assert_ok(kube_client_new(&c2, &cfg, &o, &err), &err);
    f.drop_rate = 0.5;
    kubesim_set_faults(sim, &f);
    for (int i = 0; i < 10; i++)
        ck_assert_ok(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, cm_name("retry"), &err), &err);
    f.drop_rate = 1.0;
    kubesim_set_faults(sim, &f);
    kube_client_free(c2);
    o.retries = 1;
    ck_assert_ok(kube_client_new(&c2, &cfg, &o, &err), &err);
    ck_assert_int_eq(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, cm_name("retry"), &err),
                     TY_EUPSTREAM);
    kube_client_stats(c2, &a);
    ck_assert_uint_eq(a.attempts, 2);
    kubesim_set_faults(sim, NULL);
    kube_client_free(c2);
}
END_TEST

/* A kubeconfig for the running simulator with the given user block. */
static char *write_kubeconfig(const char *file, const char *user_yaml)
{
    struct ty_error err = TY_ERROR_INIT;
    char *path = ty_path_join(tmpdir, file);
    char *text = ty_xasprintf("apiVersion: v1\nkind: Config\ncurrent-context: t\n"
                              "clusters:\n- name: sim\n  cluster:\n    server: %s\n"
                              "    certificate-authority: %s\n"
                              "users:\n- name: u\n  user:\n%s"
                              "contexts:\n- name: t\n  context: {cluster: sim, user: u, "
                              "namespace: ns-%s}\n",
                              kubesim_url(sim), kubesim_ca_file(sim), user_yaml, run_id);
    ck_assert_ok(ty_file_write_atomic(path, text, strlen(text), &err), &err);
    free(text);
    return path;
}

static void write_file(const char *name, const char *text)
{
    struct ty_error err = TY_ERROR_INIT;
    char *p = ty_path_join(tmpdir, name);
    ck_assert_ok(ty_file_write_atomic(p, text, strlen(text), &err), &err);
    free(p);
}

/* Loads path, makes a client, GETs a missing configmap: returns that rc
 * (TY_ENOTFOUND means the request was authenticated). */
static int probe(const char *path, struct kube_client **keep, struct ty_error *err)
{
    struct kube_config c;
    struct kube_client *cl = NULL;
    struct kube_client_opts o = fast_opts();
    int rc;

    o.retries = 0;
    rc = kube_config_load_kubeconfig(&c, path, NULL, err);
    ck_assert_ok(rc, err);
    ck_assert_ok(kube_client_new(&cl, &c, &o, err), err);
    kube_config_cleanup(&c);
    rc = kube_get(NULL, cl, KUBE_CONFIGMAP, NULL, "missing", err);
    if (keep)
        *keep = cl;
    else
        kube_client_free(cl);
    return rc;
}

START_TEST(test_kubeconfig_token_variants)
{
    struct ty_error err = TY_ERROR_INIT;
    char *p;

    p = write_kubeconfig("k1", "    token: " TOKEN "\n");
    ck_assert_fails_with(probe(p, NULL, &err), &err, TY_ENOTFOUND, "not found");
    free(p);
    p = write_kubeconfig("k2", "    token: wrong\n");
    ck_assert_fails_with(probe(p, NULL, &err), &err, TY_EAUTH, "401");
    free(p);
    write_file("tok", TOKEN "\n");
    p = write_kubeconfig("k3", "    tokenFile: tok\n"); /* relative to the kubeconfig */
    ck_assert_fails_with(probe(p, NULL, &err), &err, TY_ENOTFOUND, "not found");
    free(p);
    /* token wins over tokenFile */
    p = write_kubeconfig("k4", "    token: wrong\n    tokenFile: tok\n");
    ck_assert_fails_with(probe(p, NULL, &err), &err, TY_EAUTH, "401");
    free(p);
    /* a token that may read but not write: 403 -> TY_EFORBIDDEN */
    p = write_kubeconfig("k6", "    token: " RO_TOKEN "\n");
    {
        struct kube_client *ro = NULL;
        json_t *cm = configmap("ro", NULL, "x");
        ck_assert_int_eq(probe(p, &ro, &err), TY_ENOTFOUND);
        ck_assert_fails_with(kube_create(NULL, ro, KUBE_CONFIGMAP, NULL, cm, &err), &err,
                             TY_EFORBIDDEN, "403");
        json_decref(cm);
        kube_client_free(ro);
    }
    free(p);
    /* no credentials at all */
    p = write_kubeconfig("k5", "    {}\n");
    ck_assert_int_eq(probe(p, NULL, &err), TY_EAUTH);
    free(p);
}
END_TEST

START_TEST(test_token_rotation)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_client *c2 = NULL;
    struct kube_client_stats st;
    struct kube_config c;
    struct kube_client_opts o = fast_opts();
    char *p;

    /* start with a stale token: 401, re-read, still stale -> EAUTH */
    write_file("tok", "old-token\n");
    p = write_kubeconfig("kr", "    tokenFile: tok\n");
    ck_assert_ok(kube_config_load_kubeconfig(&c, p, NULL, &err), &err);
    c.token_reread_s = 3600; /* only 401s make this client re-read */
    o.retries = 0;
    ck_assert_ok(kube_client_new(&c2, &c, &o, &err), &err);
    ck_assert_fails_with(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, "missing", &err), &err, TY_EAUTH,
                         "401");
    /* the kubelet rotates the file: the next 401 makes the client re-read it */
    write_file("tok", TOKEN "\n");
    ck_assert_int_eq(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, "missing", &err), TY_ENOTFOUND);
    kube_client_stats(c2, &st);
    ck_assert_uint_eq(st.auth_refreshes, 2);
    kube_client_free(c2);

    /* a later rotation is picked up by the periodic re-read (2 s here) */
    c.token_reread_s = 2;
    ck_assert_ok(kube_client_new(&c2, &c, &o, &err), &err);
    ck_assert_int_eq(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, "missing", &err), TY_ENOTFOUND);
    write_file("tok", "rotated-away\n");
    ck_assert_int_eq(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, "missing", &err), TY_ENOTFOUND);
    usleep(2100 * 1000);
    ck_assert_fails_with(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, "missing", &err), &err, TY_EAUTH,
                         "401");
    kube_client_free(c2);
    kube_config_cleanup(&c);
    free(p);
}
END_TEST

START_TEST(test_exec_plugin)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_client *c2 = NULL;
    struct kube_client_stats st;
    char *p, *script, *count = NULL, *info = NULL, *yaml;

    /* the plugin prints the token found in a file, counts its runs and keeps
     * the KUBERNETES_EXEC_INFO it was given */
    script = ty_xasprintf("#!/bin/sh\n"
                          "d=\"$(dirname \"$0\")\"\n"
                          "echo run >> \"$d/runs\"\n"
                          "printf '%%s' \"$KUBERNETES_EXEC_INFO\" > \"$d/info\"\n"
                          "[ \"$1\" = get-token ] || { echo 'bad args' >&2; exit 3; }\n"
                          "[ \"$MY_FLAVOUR\" = mint ] || { echo 'no env' >&2; exit 4; }\n"
                          "t=$(cat \"$d/exec-token\")\n"
                          "[ \"$t\" = fail ] && { echo 'plugin says no' >&2; exit 1; }\n"
                          "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                          "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%%s\","
                          "\"expirationTimestamp\":\"%%s\"}}' \"$t\" "
                          "\"${MY_EXPIRY:-2099-01-01T00:00:00Z}\"\n");
    write_file("plugin.sh", script);
    free(script);
    script = ty_path_join(tmpdir, "plugin.sh");
    ck_assert_int_eq(chmod(script, 0755), 0);
    free(script);
    write_file("exec-token", TOKEN);
    p = write_kubeconfig("ke", "    exec:\n"
                               "      apiVersion: client.authentication.k8s.io/v1\n"
                               "      command: ./plugin.sh\n"
                               "      args: [get-token]\n"
                               "      env: [{name: MY_FLAVOUR, value: mint}]\n"
                               "      provideClusterInfo: true\n"
                               "      interactiveMode: Never\n");
    ck_assert_int_eq(probe(p, &c2, &err), TY_ENOTFOUND);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, "missing", &err), TY_ENOTFOUND);
    count = read_tmp("runs");
    ck_assert_str_eq(count, "run\n"); /* cached until expirationTimestamp */
    free(count);
    info = read_tmp("info");
    ck_assert_msg(strstr(info, "\"kind\":\"ExecCredential\"") && strstr(info, kubesim_url(sim)) &&
                      strstr(info, "certificate-authority-data") == NULL,
                  "%s", info); /* CA given as a file, so no -data */
    free(info);

    /* the plugin now hands out a token the server refuses; the cached one
     * still works until a 401 */
    write_file("exec-token", "other");
    ck_assert_fails_with(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, "missing", &err), &err,
                         TY_ENOTFOUND, "not found");
    kube_client_free(c2);
    /* a fresh client gets the refused token: 401, plugin re-run, still refused */
    ck_assert_fails_with(probe(p, &c2, &err), &err, TY_EAUTH, "401");
    /* the plugin recovers: the next 401 re-runs it and the call succeeds */
    write_file("exec-token", TOKEN);
    ck_assert_int_eq(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, "missing", &err), TY_ENOTFOUND);
    kube_client_stats(c2, &st);
    ck_assert_uint_eq(st.auth_refreshes, 2);
    kube_client_free(c2);

    /* an expired credential is not cached: the plugin runs for every call */
    {
        char *p2 = write_kubeconfig("ke2", "    exec:\n"
                                           "      command: ./plugin.sh\n"
                                           "      args: [get-token]\n"
                                           "      env: [{name: MY_FLAVOUR, value: mint},\n"
                                           "            {name: MY_EXPIRY, "
                                           "value: '2000-01-01T00:00:00Z'}]\n");
        write_file("runs", "");
        ck_assert_int_eq(probe(p2, &c2, &err), TY_ENOTFOUND);
        ck_assert_int_eq(kube_get(NULL, c2, KUBE_CONFIGMAP, NULL, "missing", &err), TY_ENOTFOUND);
        count = read_tmp("runs");
        ck_assert_str_eq(count, "run\nrun\n");
        free(count);
        kube_client_free(c2);
        free(p2);
    }

    /* a failing plugin: its stderr is in the message */
    write_file("exec-token", "fail");
    ck_assert_fails_with(probe(p, NULL, &err), &err, TY_EAUTH, "plugin says no");
    free(p);
    yaml = ty_xasprintf("    exec:\n      command: %s/nonexistent-plugin\n", tmpdir);
    p = write_kubeconfig("kx", yaml);
    ck_assert_fails_with(probe(p, NULL, &err), &err, TY_EAUTH, "could not start");
    free(yaml);
    free(p);
}
END_TEST

static int run_cmd(const char *cmd)
{
    char *full = ty_xasprintf("cd '%s' && (%s) >/dev/null 2>&1", tmpdir, cmd);
    int rc = system(full);
    free(full);
    return rc;
}

START_TEST(test_client_certificates)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kubesim_opts so = KUBESIM_OPTS_INIT;
    char *p, *cafile, *yaml, *cert = NULL, *key = NULL;

    ck_assert_int_eq(run_cmd("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                             "-nodes -keyout ca.key -out clientca.pem -days 1 -subj /CN=test-ca"),
                     0);
    ck_assert_int_eq(run_cmd("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                             "-nodes -keyout client.key -out client.csr -subj /CN=alice"),
                     0);
    ck_assert_int_eq(run_cmd("openssl x509 -req -in client.csr -CA clientca.pem -CAkey ca.key "
                             "-CAcreateserial -out client.pem -days 1"),
                     0);
    ck_assert_int_eq(run_cmd("base64 -w0 client.pem > client.b64 && "
                             "base64 -w0 client.key > key.b64"),
                     0);
    /* a second simulator that wants client certificates instead of a token */
    kube_client_free(kc);
    kc = NULL;
    kubesim_stop(sim);
    cafile = ty_path_join(tmpdir, "clientca.pem");
    so.tls = true;
    so.client_ca_file = cafile;
    start_sim(&so);

    p = write_kubeconfig("kc1", "    client-certificate: client.pem\n"
                                "    client-key: client.key\n");
    ck_assert_fails_with(probe(p, NULL, &err), &err, TY_ENOTFOUND, "not found");
    free(p);
    cert = read_tmp("client.b64");
    key = read_tmp("key.b64");
    yaml = ty_xasprintf("    client-certificate-data: %s\n    client-key-data: %s\n", cert, key);
    p = write_kubeconfig("kc2", yaml);
    ck_assert_fails_with(probe(p, NULL, &err), &err, TY_ENOTFOUND, "not found");
    free(p);
    free(yaml);
    /* without a certificate the handshake is refused */
    p = write_kubeconfig("kc3", "    {}\n");
    ck_assert_int_ne(probe(p, NULL, &err), TY_ENOTFOUND);
    free(p);
    /* a certificate from an exec plugin */
    {
        char *pem = NULL, *kpem = NULL, *script;
        json_t *cred;
        char *text;
        pem = read_tmp("client.pem");
        kpem = read_tmp("client.key");
        cred = json_pack("{s:s,s:s,s:{s:s,s:s}}", "apiVersion", "client.authentication.k8s.io/v1",
                         "kind", "ExecCredential", "status", "clientCertificateData", pem,
                         "clientKeyData", kpem);
        text = json_dumps(cred, JSON_COMPACT);
        write_file("cred.json", text);
        script = ty_xasprintf("#!/bin/sh\ncat '%s/cred.json'\n", tmpdir);
        write_file("certplugin.sh", script);
        free(script);
        script = ty_path_join(tmpdir, "certplugin.sh");
        ck_assert_int_eq(chmod(script, 0755), 0);
        yaml = ty_xasprintf("    exec: {command: %s}\n", script);
        p = write_kubeconfig("kc4", yaml);
        ck_assert_fails_with(probe(p, NULL, &err), &err, TY_ENOTFOUND, "not found");
        free(p);
        free(yaml);
        free(script);
        free(text);
        json_decref(cred);
        free(pem);
        free(kpem);
    }
    free(cert);
    free(key);
    free(cafile);
}
END_TEST

START_TEST(test_in_cluster_config)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_config c;
    struct kube_client *c2 = NULL;
    struct kube_client_opts o = fast_opts();
    char *ca = NULL, port[16];
    const char *url = kubesim_url(sim), *colon = strrchr(url, ':');
    json_t *cm = configmap("incluster", NULL, "ic"), *got = NULL, *ns;

    ck_assert_ok(ty_file_read(&ca, NULL, kubesim_ca_file(sim), 100000, &err), &err);
    write_file("ca.crt", ca);
    free(ca);
    write_file("token", TOKEN "\n");
    write_file("namespace", "in-cluster-ns\n");
    snprintf(port, sizeof(port), "%s", colon + 1);
    setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", port, 1);
    ck_assert_ok(kube_config_load_in_cluster(&c, tmpdir, &err), &err);
    ck_assert_str_eq(c.namespace, "in-cluster-ns");
    ck_assert_ok(kube_client_new(&c2, &c, &o, &err), &err);
    ns = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name",
                   "in-cluster-ns");
    ck_assert_ok(kube_request_json(NULL, c2, "POST", "/api/v1/namespaces", ns, &err), &err);
    json_decref(ns);
    ck_assert_ok(kube_create(NULL, c2, KUBE_CONFIGMAP, NULL, cm, &err), &err);
    ck_assert_ok(kube_get(&got, kc, KUBE_CONFIGMAP, "in-cluster-ns", cm_name("incluster"), &err),
                 &err);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(got, "metadata"), "namespace")),
        "in-cluster-ns");
    json_decref(got);
    json_decref(cm);
    kube_client_free(c2);
    kube_config_cleanup(&c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}
END_TEST

START_TEST(test_workloads_and_metrics)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    json_t *dep, *list = NULL, *m = NULL, *svc;
    const char *pod = NULL;
    char sel[64];
    int64_t deadline;

    snprintf(sel, sizeof(sel), "tycho-guid=%s", run_id);
    dep = json_pack("{s:{s:s,s:{s:s}},s:{s:i,s:{s:{s:s}},s:{s:{s:{s:s}},s:{s:[{s:s,s:s}]}}}}",
                    "metadata", "name", "jupyter", "labels", "tycho-guid", run_id, "spec",
                    "replicas", 1, "selector", "matchLabels", "tycho-guid", run_id, "template",
                    "metadata", "labels", "tycho-guid", run_id, "spec", "containers", "name",
                    "jupyter", "image", "jupyter/minimal:1");
    ck_assert_ok(kube_create(NULL, kc, KUBE_DEPLOYMENT, NULL, dep, &err), &err);
    json_decref(dep);
    svc = json_pack("{s:{s:s},s:{s:{s:s},s:[{s:i}]}}", "metadata", "name", "jupyter", "spec",
                    "selector", "tycho-guid", run_id, "ports", "port", 8888);
    ck_assert_ok(kube_create(NULL, kc, KUBE_SERVICE, NULL, svc, &err), &err);
    json_decref(svc);

    lo.label_selector = sel;
    deadline = ty_time_mono_ms() + 10000;
    while (ty_time_mono_ms() < deadline) {
        json_t *items;
        ck_assert_ok(kube_list(&list, kc, KUBE_POD, NULL, &lo, &err), &err);
        items = json_object_get(list, "items");
        if (json_array_size(items) == 1) {
            const char *phase = json_string_value(
                json_object_get(json_object_get(json_array_get(items, 0), "status"), "phase"));
            if (phase && strcmp(phase, "Running") == 0)
                break;
        }
        json_decref(list);
        list = NULL;
        usleep(50 * 1000);
    }
    ck_assert_ptr_nonnull(list);
    pod = kube_obj_name(json_array_get(json_object_get(list, "items"), 0));
    ck_assert_ok(kubesim_set_pod_cpu(sim, "tycho-test", pod, 250, 64L << 20), &err);
    ck_assert_ok(kube_pod_metrics(&m, kc, NULL, sel, &err), &err);
    ck_assert_int_eq(json_array_size(json_object_get(m, "items")), 1);
    json_decref(m);
    json_decref(list);

    ck_assert_ok(kube_list(&list, kc, KUBE_REPLICASET, NULL, &lo, &err), &err);
    ck_assert_int_eq(json_array_size(json_object_get(list, "items")), 1);
    json_decref(list);
    ck_assert_ok(kube_list(&list, kc, KUBE_POD, KUBE_ALL_NAMESPACES, &lo, &err), &err);
    ck_assert_int_eq(json_array_size(json_object_get(list, "items")), 1);
    json_decref(list);

    ck_assert_ok(
        kube_delete(kc, KUBE_DEPLOYMENT, NULL, "jupyter", KUBE_PROPAGATION_FOREGROUND, &err), &err);
    ck_assert_ok(kube_delete(kc, KUBE_SERVICE, NULL, "jupyter", KUBE_PROPAGATION_DEFAULT, &err),
                 &err);
    /* garbage collection removes the ReplicaSet and the Pod */
    deadline = ty_time_mono_ms() + 10000;
    for (;;) {
        size_t n;
        ck_assert_ok(kube_list(&list, kc, KUBE_POD, NULL, &lo, &err), &err);
        n = json_array_size(json_object_get(list, "items"));
        json_decref(list);
        if (n == 0)
            break;
        ck_assert_msg(ty_time_mono_ms() < deadline, "pods not collected");
        usleep(50 * 1000);
    }
    ck_assert_ok(kube_delete_collection(kc, KUBE_POD, NULL, sel, KUBE_PROPAGATION_DEFAULT, &err),
                 &err);
}
END_TEST

struct hammer {
    int ok;
};

static void *hammer_thread(void *p)
{
    struct hammer *h = p;
    struct ty_error err = TY_ERROR_INIT;
    for (int i = 0; i < 25; i++)
        if (kube_get(NULL, kc, KUBE_CONFIGMAP, NULL, cm_name("shared"), &err) == 0)
            h->ok++;
    return NULL;
}

START_TEST(test_threads_share_a_client)
{
    struct ty_error err = TY_ERROR_INIT;
    json_t *cm = configmap("shared", NULL, "s");
    struct hammer h[6] = {{0}};
    pthread_t t[6];
    struct kube_client_stats st;

    ck_assert_ok(kube_create(NULL, kc, KUBE_CONFIGMAP, NULL, cm, &err), &err);
    json_decref(cm);
    for (int i = 0; i < 6; i++)
        pthread_create(&t[i], NULL, hammer_thread, &h[i]);
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(h[i].ok, 25);
    }
    kube_client_stats(kc, &st);
    ck_assert_uint_eq(st.calls, 151);
    ck_assert_uint_eq(st.errors, 0);
    ck_assert_ok(
        kube_delete(kc, KUBE_CONFIGMAP, NULL, cm_name("shared"), KUBE_PROPAGATION_DEFAULT, &err),
        &err);
}
END_TEST

/* TY_KUBE_ONLY=test_name runs one test (for timing and debugging). */
#define ADD(tc, t)                                 \
    do {                                           \
        const char *only = getenv("TY_KUBE_ONLY"); \
        if (!only || strcmp(only, #t) == 0)        \
            tcase_add_test(tc, t);                 \
    } while (0)

int main(void)
{
    const char *real = getenv("TY_KUBE_REAL");
    Suite *s;
    TCase *tc;

    real_mode = real && real[0] && strcmp(real, "0") != 0;
    if (real_mode) {
        const char *kcfg = getenv("KUBECONFIG");
        if (!kcfg || !kcfg[0]) {
            printf("kube-real: KUBECONFIG does not name a cluster; skipped\n");
            return 77;
        }
    }
    s = suite_create("kube_client");
    tc = tcase_create("portable");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    ADD(tc, test_crud);
    ADD(tc, test_list_paging);
    ADD(tc, test_watch);
    ADD(tc, test_watch_stop_and_cancel);
    ADD(tc, test_version_and_limits);
    ADD(tc, test_threads_share_a_client);
    suite_add_tcase(s, tc);
    if (!real_mode) {
        TCase *ts = tcase_create("simulator");
        tcase_add_checked_fixture(ts, setup, teardown);
        tcase_set_timeout(ts, 60);
        ADD(ts, test_watch_gone_relist);
        ADD(ts, test_watch_bookmarks_and_server_timeout);
        ADD(ts, test_retries_under_faults);
        ADD(ts, test_dropped_connections);
        ADD(ts, test_kubeconfig_token_variants);
        ADD(ts, test_token_rotation);
        ADD(ts, test_exec_plugin);
        ADD(ts, test_client_certificates);
        ADD(ts, test_in_cluster_config);
        ADD(ts, test_workloads_and_metrics);
        suite_add_tcase(s, ts);
    }
    return ty_run_suite(s);
}
