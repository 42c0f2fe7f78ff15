/*
 * test_watch.c - watch streams of the simulated cluster over real HTTP:
 * synthetic ADDED, replay from a resourceVersion, live events from another
 * thread, selectors (objects leaving a selector are DELETED), bookmarks,
 * timeoutSeconds, and 410 Expired for a too-old version or an injected fault.
 */
#include "sim_test.h"

#include <pthread.h>

static struct kubesim *S;

static void setup(void)
{
    S = sim_start();
}

static void teardown(void)
{
    kubesim_stop(S);
    S = NULL;
}

struct watch_acc {
    struct ty_buf line;
    json_t *events;
    int max;
};

static size_t watch_cb(char *p, size_t sz, size_t n, void *ud)
{
    struct watch_acc *a = ud;
    for (size_t i = 0; i < sz * n; i++) {
        if (p[i] != '\n') {
            ty_buf_putc(&a->line, p[i]);
            continue;
        }
        json_t *ev = json_loads(ty_buf_cstr(&a->line), 0, NULL);
        ck_assert_msg(ev != NULL, "bad watch line: %s", ty_buf_cstr(&a->line));
        json_array_append_new(a->events, ev);
        ty_buf_reset(&a->line);
    }
    return (int)json_array_size(a->events) >= a->max ? 0 : sz * n;
}

/* Watches path until max events arrived or timeout_ms passed; returns the events. */
static json_t *watch(const char *path, int max, long timeout_ms, CURLcode *rc_out)
{
    struct watch_acc a = {TY_BUF_INIT, json_array(), max};
    char url[1024], auth[128];
    snprintf(url, sizeof url, "%s%s", kubesim_url(S), path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", SIM_TOKEN);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    CURLcode rc = curl_easy_perform(c);
    if (rc_out)
        *rc_out = rc;
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    ty_buf_cleanup(&a.line);
    return a.events;
}

static void make_cm(const char *name, const char *labels)
{
    char body[512];
    snprintf(body, sizeof body, "{\"metadata\":{\"name\":\"%s\",\"labels\":%s}}", name, labels);
    struct sim_reply r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps", body);
    ck_assert_int_eq(r.status, 201);
    sim_reply_free(&r);
}

static char *list_rv(void)
{
    struct sim_reply r = sim_req(S, "GET", "/api/v1/namespaces/default/configmaps", NULL);
    char *rv = strdup(sim_str(r.json, "metadata.resourceVersion"));
    sim_reply_free(&r);
    return rv;
}

START_TEST(test_synthetic_added)
{
    make_cm("w1", "{\"w\":\"1\"}");
    make_cm("w2", "{\"w\":\"1\"}");
    CURLcode rc;
    json_t *ev =
        watch("/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1", 100, 5000, &rc);
    ck_assert_int_eq(rc, CURLE_OK); /* the server ended the stream at timeoutSeconds */
    ck_assert_int_eq(json_array_size(ev), 2);
    ck_assert_str_eq(sim_str(ev, "0.type"), "ADDED");
    ck_assert_str_eq(sim_str(ev, "0.object.metadata.name"), "w1");
    json_decref(ev);
}
END_TEST

/* Booleans in the query as the API server reads them (apimachinery's
 * Convert_Slice_string_To_bool): the Python client sends watch=True, and
 * anything but absent, "0" or "false" asks for a watch. */
START_TEST(test_watch_booleans)
{
    static const char *const yes[] = {"True", "TRUE", "t", "1", "", "yes", NULL};
    static const char *const no[] = {"0", "false", "False", "FALSE", NULL};
    make_cm("b1", "{\"w\":\"1\"}");
    for (const char *const *v = yes; *v; v++) {
        char path[256];
        snprintf(path, sizeof path,
                 "/api/v1/namespaces/default/configmaps?watch=%s&timeoutSeconds=1", *v);
        json_t *ev = watch(path, 1, 5000, NULL);
        ck_assert_msg(json_array_size(ev) == 1, "watch=%s", *v);
        ck_assert_str_eq(sim_str(ev, "0.type"), "ADDED");
        ck_assert_str_eq(sim_str(ev, "0.object.metadata.name"), "b1");
        json_decref(ev);
    }
    for (const char *const *v = no; *v; v++) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1/namespaces/default/configmaps?watch=%s", *v);
        struct sim_reply r = sim_req(S, "GET", path, NULL);
        ck_assert_int_eq(r.status, 200);
        ck_assert_msg(!strcmp(sim_str(r.json, "kind"), "ConfigMapList"), "watch=%s: %s", *v,
                      r.body);
        sim_reply_free(&r);
    }
    /* allowWatchBookmarks=True gives bookmarks too. */
    json_t *ev = watch("/api/v1/namespaces/default/configmaps?watch=True&resourceVersion=1&"
                       "allowWatchBookmarks=True&timeoutSeconds=2",
                       5, 5000, NULL);
    bool bookmark = false;
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e)
    {
        bookmark |= !strcmp(sim_str(e, "type"), "BOOKMARK");
    }
    ck_assert_msg(bookmark, "no BOOKMARK with allowWatchBookmarks=True");
    json_decref(ev);
}
END_TEST

START_TEST(test_replay_and_selector)
{
    make_cm("keep", "{\"team\":\"a\"}");
    char *rv = list_rv();
    make_cm("new", "{\"team\":\"a\"}");
    struct sim_reply r = sim_req_full(S, "PATCH", "/api/v1/namespaces/default/configmaps/keep",
                                      "{\"metadata\":{\"labels\":{\"team\":\"b\"}}}",
                                      "application/merge-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    r = sim_req(S, "DELETE", "/api/v1/namespaces/default/configmaps/new", NULL);
    sim_reply_free(&r);
    char path[256];
    snprintf(path, sizeof path,
             "/api/v1/namespaces/default/configmaps?watch=true&"
             "resourceVersion=%s&labelSelector=team%%3Da",
             rv);
    json_t *ev = watch(path, 3, 3000, NULL);
    ck_assert_int_eq(json_array_size(ev), 3);
    ck_assert_str_eq(sim_str(ev, "0.type"), "ADDED");
    ck_assert_str_eq(sim_str(ev, "0.object.metadata.name"), "new");
    /* keep left the selector: a selector watch sees it DELETED */
    ck_assert_str_eq(sim_str(ev, "1.type"), "DELETED");
    ck_assert_str_eq(sim_str(ev, "1.object.metadata.name"), "keep");
    ck_assert_str_eq(sim_str(ev, "2.type"), "DELETED");
    ck_assert_str_eq(sim_str(ev, "2.object.metadata.name"), "new");
    json_decref(ev);
    free(rv);
}
END_TEST

static void *later_create(void *arg)
{
    (void)arg;
    sim_sleep_ms(150);
    make_cm("live", "{\"x\":\"y\"}");
    return NULL;
}

START_TEST(test_live_event)
{
    char *rv = list_rv();
    char path[256];
    snprintf(path, sizeof path, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=%s",
             rv);
    pthread_t th;
    pthread_create(&th, NULL, later_create, NULL);
    int64_t t0 = ty_time_mono_ms();
    json_t *ev = watch(path, 1, 5000, NULL);
    pthread_join(th, NULL);
    ck_assert_int_eq(json_array_size(ev), 1);
    ck_assert_str_eq(sim_str(ev, "0.type"), "ADDED");
    ck_assert_str_eq(sim_str(ev, "0.object.metadata.name"), "live");
    ck_assert_int_lt(ty_time_mono_ms() - t0, 3000);
    json_decref(ev);
    free(rv);
}
END_TEST

START_TEST(test_table_watch)
{
    make_cm("tw", "{\"t\":\"w\"}");
    struct watch_acc a = {TY_BUF_INIT, json_array(), 1};
    char url[512];
    snprintf(url, sizeof url, "%s/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1",
             kubesim_url(S));
    struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " SIM_TOKEN);
    h = curl_slist_append(h, "Accept: application/json;as=Table;v=v1;g=meta.k8s.io");
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    ck_assert_str_eq(sim_str(a.events, "0.object.kind"), "Table");
    ck_assert_str_eq(sim_str(a.events, "0.object.rows.0.cells.0"), "tw");
    ty_buf_cleanup(&a.line);
    json_decref(a.events);
}
END_TEST

START_TEST(test_object_watch)
{
    make_cm("one", "{\"o\":\"1\"}");
    make_cm("two", "{\"o\":\"1\"}");
    CURLcode rc;
    json_t *ev =
        watch("/api/v1/watch/namespaces/default/configmaps/two?timeoutSeconds=1", 10, 5000, &rc);
    ck_assert_int_eq(rc, CURLE_OK);
    ck_assert_int_eq(json_array_size(ev), 1);
    ck_assert_str_eq(sim_str(ev, "0.object.metadata.name"), "two");
    json_decref(ev);
}
END_TEST

START_TEST(test_bookmarks)
{
    char *rv = list_rv();
    char path[256];
    snprintf(path, sizeof path,
             "/api/v1/namespaces/default/pods?watch=1&resourceVersion=%s&"
             "allowWatchBookmarks=true&timeoutSeconds=3",
             rv);
    json_t *ev = watch(path, 1, 5000, NULL);
    ck_assert_int_eq(json_array_size(ev), 1);
    ck_assert_str_eq(sim_str(ev, "0.type"), "BOOKMARK");
    ck_assert_str_eq(sim_str(ev, "0.object.kind"), "Pod");
    ck_assert_ptr_nonnull(sim_str(ev, "0.object.metadata.resourceVersion"));
    json_decref(ev);
    free(rv);
}
END_TEST

START_TEST(test_too_old)
{
    /* Push the history past its bound: 520 creates + one deletecollection of 520. */
    for (int i = 0; i < 520; i++) {
        char n[16];
        snprintf(n, sizeof n, "o%d", i);
        make_cm(n, "{\"old\":\"y\"}");
    }
    struct sim_reply r =
        sim_req(S, "DELETE", "/api/v1/namespaces/default/configmaps?labelSelector=old", NULL);
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    json_t *ev =
        watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=2", 5, 3000, NULL);
    ck_assert_int_eq(json_array_size(ev), 1);
    ck_assert_str_eq(sim_str(ev, "0.type"), "ERROR");
    ck_assert_int_eq(json_integer_value(sim_at(ev, "0.object.code")), 410);
    ck_assert_str_eq(sim_str(ev, "0.object.reason"), "Expired");
    json_decref(ev);
}
END_TEST

START_TEST(test_gone_fault)
{
    struct sim_reply r = sim_req(S, "POST", "/_sim/faults", "{\"gone_next_watch\":true}");
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    json_t *ev = watch("/api/v1/namespaces/default/pods?watch=1", 5, 3000, NULL);
    ck_assert_int_eq(json_array_size(ev), 1);
    ck_assert_str_eq(sim_str(ev, "0.type"), "ERROR");
    ck_assert_int_eq(json_integer_value(sim_at(ev, "0.object.code")), 410);
    json_decref(ev);
    /* only the next watch */
    CURLcode rc;
    ev = watch("/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1", 5, 3000, &rc);
    ck_assert_int_eq(rc, CURLE_OK);
    ck_assert_int_eq(json_array_size(ev), 0);
    json_decref(ev);
}
END_TEST

static void *churn(void *arg)
{
    int id = *(int *)arg;
    for (int i = 0; i < 20; i++) {
        char body[256], path[256];
        snprintf(body, sizeof body,
                 "{\"metadata\":{\"name\":\"c%d-%d\",\"labels\":"
                 "{\"churn\":\"y\"}}}",
                 id, i);
        struct sim_reply r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps", body);
        ck_assert_int_eq(r.status, 201);
        sim_reply_free(&r);
        snprintf(path, sizeof path, "/api/v1/namespaces/default/configmaps/c%d-%d", id, i);
        r = sim_req(S, "DELETE", path, NULL);
        ck_assert_int_eq(r.status, 200);
        sim_reply_free(&r);
    }
    return NULL;
}

struct watcher {
    char path[256];
    json_t *events;
};

static void *watch_n(void *arg)
{
    struct watcher *w = arg;
    w->events = watch(w->path, 160, 15000, NULL);
    return NULL;
}

/* Four writers and two watchers at once: every watcher sees every event, in order. */
START_TEST(test_concurrent_churn)
{
    char *rv = list_rv();
    struct watcher w[2];
    pthread_t wt[2], ct[4];
    int ids[4] = {0, 1, 2, 3};
    for (int i = 0; i < 2; i++) {
        snprintf(w[i].path, sizeof w[i].path,
                 "/api/v1/namespaces/default/configmaps?watch=1&"
                 "resourceVersion=%s&labelSelector=churn",
                 rv);
        pthread_create(&wt[i], NULL, watch_n, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_create(&ct[i], NULL, churn, &ids[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(ct[i], NULL);
    for (int i = 0; i < 2; i++) {
        pthread_join(wt[i], NULL);
        ck_assert_int_eq(json_array_size(w[i].events), 160);
        long last = 0;
        int added = 0;
        size_t j;
        json_t *e;
        json_array_foreach(w[i].events, j, e)
        {
            long v = atol(sim_str(e, "object.metadata.resourceVersion"));
            ck_assert_int_gt(v, last);
            last = v;
            added += !strcmp(sim_str(e, "type"), "ADDED");
        }
        ck_assert_int_eq(added, 80);
        json_decref(w[i].events);
    }
    free(rv);
}
END_TEST

static void *watch_forever(void *arg)
{
    CURLcode *rc = arg;
    json_t *ev = watch("/api/v1/namespaces/default/pods?watch=1", 1000, 20000, rc);
    json_decref(ev);
    return NULL;
}

START_TEST(test_stop_ends_watches)
{
    pthread_t th;
    CURLcode rc = CURLE_OK;
    pthread_create(&th, NULL, watch_forever, &rc);
    /* Stop only once the watch is streaming (a fixed sleep raced a loaded machine). */
    for (int i = 0; i < 500; i++) {
        struct sim_reply r = sim_req(S, "GET", "/_sim/stats", NULL);
        json_int_t n = json_integer_value(json_object_get(r.json, "watches"));
        sim_reply_free(&r);
        if (n >= 1)
            break;
        sim_sleep_ms(20);
    }
    int64_t t0 = ty_time_mono_ms();
    kubesim_stop(S);
    S = NULL;
    pthread_join(th, NULL);
    ck_assert_int_lt(ty_time_mono_ms() - t0, 5000);
    ck_assert_int_eq(rc, CURLE_OK);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("kubesim_watch");
    TCase *tc = tcase_create("watch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_synthetic_added);
    tcase_add_test(tc, test_watch_booleans);
    tcase_add_test(tc, test_replay_and_selector);
    tcase_add_test(tc, test_live_event);
    tcase_add_test(tc, test_bookmarks);
    tcase_add_test(tc, test_object_watch);
    tcase_add_test(tc, test_table_watch);
    tcase_add_test(tc, test_too_old);
    tcase_add_test(tc, test_gone_fault);
    tcase_add_test(tc, test_concurrent_churn);
    tcase_add_test(tc, test_stop_ends_watches);
    suite_add_tcase(s, tc);
    int rc = ty_run_suite(s);
    curl_global_cleanup();
    return rc;
}
