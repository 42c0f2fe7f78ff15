/*
 * bench_reaper.c - culling N idle sessions (default 10,000) against the
 * in-process simulated cluster, at concurrency 1, 8 and 32 (or those given):
 * the time to cull them all and the Kubernetes API calls the pass made, and,
 * in the first run, the cost of a pass that finds nothing to cull.  The
 * sessions are launched through the session service, brought to running by
 * reconcile passes, and made idle by advancing a fake clock.  Prints figures;
 * never asserts on time.
 *
 *     build/bench/bench_reaper [N [CONCURRENCY ...]]
 */
#include "kube/kube.h"
#include "kubesim/kubesim.h"
#include "reaper/reaper.h"
#include "registry/registry.h"
#include "session/session.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t fake_ms;

static int64_t fake_now(void *payload)
{
    (void)payload;
    return __atomic_load_n(&fake_ms, __ATOMIC_RELAXED);
}

static void die(const char *what, const struct ty_error *err)
{
    fprintf(stderr, "bench_reaper: %s: %s\n", what, err->msg);
    exit(1);
}

static void run(int n, int concurrency, bool first)
{
    struct kubesim_opts so = KUBESIM_OPTS_INIT;
    struct kubesim *sim = NULL;
    struct kube_config kc;
    struct kube_client *kube = NULL;
    struct registry_source src;
    struct registry_holder *reg = NULL;
    struct session_config cfg = SESSION_CONFIG_INIT;
    struct session_service *svc = NULL;
    struct reaper_policy policy;
    struct reaper_config rc;
    struct reaper *r = NULL;
    struct ty_clock clock = {fake_now, NULL};
    struct ty_error err = TY_ERROR_INIT;
    struct kube_client_stats k0, k1;
    char dir[] = "/tmp/ty-bench-reaper-XXXXXX";
    char *db, *regdir;
    json_t *report = NULL, *cfgj;
    long sim0, sim1;
    int64_t t0, t1;
    size_t culled = 0;

    fake_ms = ty_time_now_ms();
    so.token = "bench";
    so.pod_schedule_ms = 0;
    so.pod_start_ms = 0;
    so.pod_grace_ms = 0;
    if (kubesim_start(&sim, &so, &err))
        die("kubesim", &err);
    kube_config_init(&kc);
    kc.server = ty_xstrdup(kubesim_url(sim));
    kc.token = ty_xstrdup("bench");
    kc.namespace = ty_xstrdup("default");
    if (kube_client_new(&kube, &kc, NULL, &err))
        die("kube client", &err);
    kube_config_cleanup(&kc);
    regdir = ty_path_join(TY_SOURCE_DIR, "tests/data/session");
    if (registry_source_parse(&src, regdir, &err) || registry_holder_new(&reg, &src, NULL, &err))
        die("registry", &err);
    registry_source_cleanup(&src);
    free(regdir);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    db = ty_path_join(dir, "tycho.db");
    cfg.registry = reg;
    cfg.context = "test";
    cfg.kube = kube;
    cfg.store_path = db;
    cfg.clock = &clock;
    if (session_service_new(&svc, &cfg, &err))
        die("session service", &err);

    for (int i = 0; i < n; i++) {
        struct session_launch_req req;
        char user[32];
        memset(&req, 0, sizeof(req));
        snprintf(user, sizeof(user), "user%d", i % 500);
        req.username = user;
        req.app_id = "web";
        req.gpu = -1;
        struct store_session s;
        if (session_launch(&s, svc, &req, &err))
            die("launch", &err);
        store_session_cleanup(&s);
    }
    /* Let the controller run the pods, then record them as running. */
    usleep(200000);
    for (int pass = 0; pass < 3; pass++)
        if (session_reconcile_once(NULL, svc, false, &err))
            die("reconcile", &err);

    cfgj = json_pack("{s:s, s:i}", "idle_timeout", "1h", "concurrency", concurrency);
    if (reaper_policy_parse(&policy, cfgj, NULL, &err))
        die("policy", &err);
    json_decref(cfgj);
    memset(&rc, 0, sizeof(rc));
    rc.svc = svc;
    rc.kube = kube;
    rc.namespace_name = "default";
    rc.registry = reg;
    rc.context = "test";
    rc.policy = &policy;
    rc.clock = &clock;
    if (reaper_new(&r, &rc, &err))
        die("reaper", &err);

    /* The cost of a pass that finds nothing to do: what the culler spends
     * every interval on a busy platform. */
    if (first) {
        kube_client_stats(kube, &k0);
        t0 = ty_time_mono_ns();
        if (reaper_pass(r, false, &report, &err))
            die("pass", &err);
        t1 = ty_time_mono_ns();
        kube_client_stats(kube, &k1);
        printf("a pass over %d active sessions with nothing to cull: %.1f ms, %llu Kubernetes "
               "API calls\n",
               n, (double)(t1 - t0) / 1e6, (unsigned long long)(k1.calls - k0.calls));
        json_decref(report);
        report = NULL;
    }

    __atomic_add_fetch(&fake_ms, 2 * 3600 * 1000LL, __ATOMIC_RELAXED);
    kube_client_stats(kube, &k0);
    sim0 = kubesim_request_count(sim);
    t0 = ty_time_mono_ns();
    if (reaper_pass(r, false, &report, &err))
        die("pass", &err);
    t1 = ty_time_mono_ns();
    kube_client_stats(kube, &k1);
    sim1 = kubesim_request_count(sim);
    for (size_t i = 0; i < json_array_size(report); i++)
        if (json_is_true(json_object_get(json_array_get(report, i), "done")))
            culled++;
    printf("concurrency %2d: culled %zu of %d idle sessions in %.2f s (%.0f/s), "
           "%llu Kubernetes API calls (%.1f per session), %ld requests seen by the cluster\n",
           concurrency, culled, n, (double)(t1 - t0) / 1e9,
           culled / ((double)(t1 - t0) / 1e9), (unsigned long long)(k1.calls - k0.calls),
           culled ? (double)(k1.calls - k0.calls) / (double)culled : 0.0, sim1 - sim0);
    fflush(stdout);

    json_decref(report);
    reaper_free(r);
    reaper_policy_cleanup(&policy);
    session_service_free(svc);
    registry_holder_free(reg);
    kube_client_free(kube);
    kubesim_stop(sim);
    ty_rm_rf(dir, NULL);
    free(db);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    int levels[16] = {1, 8, 32}, n_levels = 3;

    if (argc > 2) {
        n_levels = 0;
        for (int i = 2; i < argc && n_levels < 16; i++)
            levels[n_levels++] = atoi(argv[i]);
    }
    for (int i = 0; i < n_levels; i++)
        if (levels[i] <= 0)
            n = 0;
    if (n <= 0) {
        fprintf(stderr, "usage: bench_reaper [N [CONCURRENCY ...]] (positive integers)\n");
        return 2;
    }
    ty_log_set_level(TY_LOG_WARN);
    printf("bench_reaper: %d idle sessions per run (simulated cluster, in-process)\n", n);
    for (int i = 0; i < n_levels; i++)
        run(n, levels[i], i == 0);
    return 0;
}
