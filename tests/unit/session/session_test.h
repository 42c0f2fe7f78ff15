/*
 * session_test.h - fixture shared by the session service tests: an in-process
 * simulated cluster (real HTTP on 127.0.0.1), a kube client, the small test
 * registry in tests/data/session/, a temporary SQLite file and a fake clock.
 */
#ifndef TY_TESTS_SESSION_TEST_H
#define TY_TESTS_SESSION_TEST_H

#include "ty_check.h"

#include "compose/compose.h"
#include "kube/kube.h"
#include "kubesim/kubesim.h"
#include "registry/registry.h"
#include "session/session.h"
#include "store/store.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ST_TOKEN "session-test-token"

struct fake_clock {
    int64_t now;
};

static inline int64_t fake_now(void *payload)
{
    return __atomic_load_n(&((struct fake_clock *)payload)->now, __ATOMIC_RELAXED);
}

static inline void fake_advance(struct fake_clock *c, int64_t ms)
{
    __atomic_add_fetch(&c->now, ms, __ATOMIC_RELAXED);
}

struct st_env {
    struct kubesim *sim;
    struct kube_client *kube;
    struct registry_holder *reg;
    struct session_service *svc;
    struct fake_clock fclock;
    struct ty_clock clock;
    char dir[64];
    char *db;
    struct policy policy; /* the service borrows it: tests may change it between launches */
    struct session_config cfg;
};

static struct st_env E;

/* Starts the cluster with the given pod timings, and the service with cfg
 * tweaks applied by the caller through E.cfg before st_service_open(). */
static inline void st_cluster_start(int schedule_ms, int start_ms, int grace_ms)
{
    struct kubesim_opts o = KUBESIM_OPTS_INIT;
    struct kube_config kc;
    struct ty_error err = TY_ERROR_INIT;
    struct registry_source src;
    struct session_config init = SESSION_CONFIG_INIT;
    char *regdir;

    memset(&E, 0, sizeof(E));
    o.token = ST_TOKEN;
    o.pod_schedule_ms = schedule_ms;
    o.pod_start_ms = start_ms;
    o.pod_grace_ms = grace_ms;
    ck_assert_ok(kubesim_start(&E.sim, &o, &err), &err);
    kube_config_init(&kc);
    kc.server = ty_xstrdup(kubesim_url(E.sim));
    kc.token = ty_xstrdup(ST_TOKEN);
    kc.namespace = ty_xstrdup("default");
    ck_assert_ok(kube_client_new(&E.kube, &kc, NULL, &err), &err);
    kube_config_cleanup(&kc);

    regdir = ty_path_join(ty_test_source_dir(), "tests/data/session");
    ck_assert_ok(registry_source_parse(&src, regdir, &err), &err);
    ck_assert_ok(registry_holder_new(&E.reg, &src, NULL, &err), &err);
    registry_source_cleanup(&src);
    free(regdir);

    strcpy(E.dir, "/tmp/ty-session-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(E.dir));
    E.db = ty_path_join(E.dir, "tycho.db");
    E.fclock.now = ty_time_now_ms();
    E.clock.now_ms = fake_now;
    E.clock.payload = &E.fclock;

    policy_init(&E.policy);
    E.cfg = init;
    E.cfg.policy = &E.policy;
    E.cfg.registry = E.reg;
    E.cfg.context = "test";
    E.cfg.kube = E.kube;
    E.cfg.store_path = E.db;
    E.cfg.clock = &E.clock;
    E.cfg.host = "helx.example.org";
    E.cfg.tick_ms = 50;
    E.cfg.resync_ms = 500;
}

static inline void st_service_open(void)
{
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_ok(session_service_new(&E.svc, &E.cfg, &err), &err);
}

static inline void st_teardown(void)
{
    session_service_free(E.svc);
    kube_client_free(E.kube);
    kubesim_stop(E.sim);
    registry_holder_free(E.reg);
    policy_cleanup(&E.policy);
    if (E.dir[0])
        ty_rm_rf(E.dir, NULL);
    free(E.db);
    memset(&E, 0, sizeof(E));
}

static inline void st_setup_default(void)
{
    st_cluster_start(10, 30, 30);
    st_service_open();
}

/* Objects carrying the guid, over every kind a launch may create. */
static inline size_t st_count_objects(const char *id)
{
    static const enum kube_kind kinds[] = {KUBE_DEPLOYMENT, KUBE_REPLICASET,    KUBE_POD,
                                           KUBE_SERVICE,    KUBE_NETWORKPOLICY, KUBE_PVC,
                                           KUBE_SECRET};
    char sel[128];
    size_t n = 0;
    struct ty_error err = TY_ERROR_INIT;

    snprintf(sel, sizeof(sel), "tycho-guid=%s", id);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
        json_t *list = NULL;
        lo.label_selector = sel;
        ck_assert_ok(kube_list(&list, E.kube, kinds[i], "default", &lo, &err), &err);
        n += json_array_size(json_object_get(list, "items"));
        json_decref(list);
    }
    return n;
}

static inline size_t st_count_kind(const char *id, enum kube_kind kind)
{
    char sel[128];
    struct ty_error err = TY_ERROR_INIT;
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    json_t *list = NULL;
    size_t n;

    snprintf(sel, sizeof(sel), "tycho-guid=%s", id);
    lo.label_selector = sel;
    ck_assert_ok(kube_list(&list, E.kube, kind, "default", &lo, &err), &err);
    n = json_array_size(json_object_get(list, "items"));
    json_decref(list);
    return n;
}

static inline enum store_state st_state(const char *id)
{
    struct store_session s;
    struct ty_error err = TY_ERROR_INIT;
    enum store_state state;
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    state = s.state;
    store_session_cleanup(&s);
    return state;
}

/* Runs reconcile passes (when drive) or just waits (when the reconciler
 * thread runs) until the session reaches want; fails after timeout_ms. */
static inline void st_wait_state(const char *id, enum store_state want, bool drive, int timeout_ms)
{
    int64_t end = ty_time_mono_ms() + timeout_ms;
    struct ty_error err = TY_ERROR_INIT;
    enum store_state s;

    for (;;) {
        if (drive)
            ck_assert_ok(session_reconcile_once(NULL, E.svc, false, &err), &err);
        s = st_state(id);
        if (s == want)
            return;
        if (ty_time_mono_ms() >= end) {
            struct store_session row;
            ck_assert_ok(session_get(&row, E.svc, id, &err), &err);
            ck_assert_msg(0, "session %s is %s (%s: %s), still not %s", id, store_state_name(s),
                          row.state_reason ? row.state_reason : "-",
                          row.state_message ? row.state_message : "-", store_state_name(want));
        }
        usleep(20000);
    }
}

/* Waits until no object carries the guid. */
static inline void st_wait_gone(const char *id, int timeout_ms)
{
    int64_t end = ty_time_mono_ms() + timeout_ms;
    while (st_count_objects(id) > 0) {
        ck_assert_msg(ty_time_mono_ms() < end, "objects of %s are still there", id);
        usleep(20000);
    }
}

/* The name of the first pod of session id (static storage, valid until the
 * next call). */
static inline const char *st_pod_of(const char *id)
{
    static char name[256];
    char sel[80];
    json_t *list = NULL;
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    struct ty_error err = TY_ERROR_INIT;

    snprintf(sel, sizeof(sel), "tycho-guid=%s", id);
    lo.label_selector = sel;
    ck_assert_ok(kube_list(&list, E.kube, KUBE_POD, "default", &lo, &err), &err);
    ck_assert_int_ge(json_array_size(json_object_get(list, "items")), 1);
    snprintf(name, sizeof(name), "%s",
             json_string_value(json_object_get(
                 json_object_get(json_array_get(json_object_get(list, "items"), 0), "metadata"),
                 "name")));
    json_decref(list);
    return name;
}

/* Launches app for user; returns the new id in id_out (33 bytes). */
static inline int st_launch(char *id_out, const char *user, const char *app, struct ty_error *err)
{
    struct session_launch_req req;
    struct store_session s;
    int rc;

    memset(&req, 0, sizeof(req));
    req.username = user;
    req.app_id = app;
    req.gpu = -1;
    rc = session_launch(&s, E.svc, &req, err);
    if (rc == 0) {
        snprintf(id_out, 33, "%s", s.id);
        store_session_cleanup(&s);
    }
    return rc;
}

/* True when the session's events include a move to `to` with `reason`
 * (reason NULL: any). */
static inline bool st_has_event(const char *id, enum store_state to, const char *reason)
{
    struct store_event *ev = NULL;
    size_t n = 0;
    struct ty_error err = TY_ERROR_INIT;
    bool found = false;

    ck_assert_ok(session_events(&ev, &n, E.svc, id, &err), &err);
    for (size_t i = 0; i < n && !found; i++)
        found = ev[i].to == to && (!reason || (ev[i].reason && !strcmp(ev[i].reason, reason)));
    store_events_free(ev, n);
    return found;
}

#endif
