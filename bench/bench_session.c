/*
 * bench_session.c - the session service end to end against the in-process
 * simulated cluster (real HTTP on 127.0.0.1) and a SQLite file: launches per
 * second (one thread and four), stops per second, Kubernetes API requests per
 * launch, per stop and per full reconcile pass.  Store-only rates (inserts,
 * updates, lists at 100,000 sessions) are bench_store's.  Prints figures;
 * never asserts on time.  Most of the time is the simulator's (it scans its
 * objects on every request, so later phases, with more objects and events
 * behind them, run slower whatever the thread count): read the request counts
 * as the portable figure.
 *
 *     build/bench/bench_session [N]      (N launches per phase, default 200)
 */
#include "kube/kube.h"
#include "kubesim/kubesim.h"
#include "registry/registry.h"
#include "session/session.h"
#include "store/store.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/time.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4

static struct session_service *svc;
static struct kubesim *sim;

static void die(const char *what, const struct ty_error *err)
{
    fprintf(stderr, "bench_session: %s: %s\n", what, err->msg);
    exit(1);
}

struct worker {
    int n, first;
    char (*ids)[33];
};

static void *launch_worker(void *arg)
{
    struct worker *w = arg;
    static const char *const users[] = {"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"};
    for (int i = 0; i < w->n; i++) {
        struct session_launch_req req;
        struct store_session s;
        struct ty_error err = TY_ERROR_INIT;
        memset(&req, 0, sizeof(req));
        req.username = users[(w->first + i) % 8];
        req.app_id = "web";
        req.gpu = -1;
        if (session_launch(&s, svc, &req, &err))
            die("launch", &err);
        memcpy(w->ids[w->first + i], s.id, 33);
        store_session_cleanup(&s);
    }
    return NULL;
}

static double launch_phase(char (*ids)[33], int n, int threads)
{
    struct worker w[THREADS];
    pthread_t t[THREADS];
    int64_t t0 = ty_time_mono_ns();
    int per = n / threads;

    for (int i = 0; i < threads; i++) {
        w[i].n = i == threads - 1 ? n - per * (threads - 1) : per;
        w[i].first = i * per;
        w[i].ids = ids;
        pthread_create(&t[i], NULL, launch_worker, &w[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return (double)(ty_time_mono_ns() - t0) / 1e9;
}

static double stop_phase(char (*ids)[33], int n)
{
    int64_t t0 = ty_time_mono_ns();
    for (int i = 0; i < n; i++) {
        struct ty_error err = TY_ERROR_INIT;
        if (session_stop(svc, ids[i], "bench", "user", &err))
            die("stop", &err);
    }
    return (double)(ty_time_mono_ns() - t0) / 1e9;
}

int main(int argc, char **argv)
{
    struct kubesim_opts o = KUBESIM_OPTS_INIT;
    struct kube_config kc;
    struct kube_client *kube = NULL;
    struct registry_source src;
    struct registry_holder *reg = NULL;
    struct session_config cfg = SESSION_CONFIG_INIT;
    struct ty_error err = TY_ERROR_INIT;
    char dir[] = "/tmp/ty-bench-session-XXXXXX";
    char *db, (*ids)[33];
    int n = argc > 1 ? atoi(argv[1]) : 200;
    long r0;
    double secs;

    if (n < THREADS)
        n = THREADS;
    o.pod_schedule_ms = 1;
    o.pod_start_ms = 1;
    o.pod_grace_ms = 1;
    if (kubesim_start(&sim, &o, &err))
        die("kubesim", &err);
    kube_config_init(&kc);
    kc.server = ty_xstrdup(kubesim_url(sim));
    kc.namespace = ty_xstrdup("default");
    if (kube_client_new(&kube, &kc, NULL, &err))
        die("kube client", &err);
    kube_config_cleanup(&kc);
    if (registry_source_parse(&src, TY_SOURCE_DIR "/tests/data/session", &err) ||
        registry_holder_new(&reg, &src, NULL, &err))
        die("registry", &err);
    registry_source_cleanup(&src);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    db = ty_path_join(dir, "tycho.db");
    cfg.registry = reg;
    cfg.context = "test";
    cfg.kube = kube;
    cfg.store_path = db;
    if (session_service_new(&svc, &cfg, &err))
        die("service", &err);
    ids = ty_xcalloc((size_t)n, sizeof(*ids));

    printf("session service against the in-process simulated cluster, %d sessions per phase\n", n);
    r0 = kubesim_request_count(sim);
    secs = launch_phase(ids, n, 1);
    printf("launch, 1 thread:   %8.1f launches/s  %6.2f ms each  %5.1f API requests each\n",
           n / secs, secs * 1000 / n, (double)(kubesim_request_count(sim) - r0) / n);

    r0 = kubesim_request_count(sim);
    secs = (double)ty_time_mono_ns();
    if (session_reconcile_once(NULL, svc, false, &err))
        die("reconcile", &err);
    secs = ((double)ty_time_mono_ns() - secs) / 1e9;
    printf("reconcile pass, %d live: %8.1f ms  %ld API requests\n", n, secs * 1000,
           kubesim_request_count(sim) - r0);

    r0 = kubesim_request_count(sim);
    secs = stop_phase(ids, n);
    printf("stop:               %8.1f stops/s     %6.2f ms each  %5.1f API requests each\n",
           n / secs, secs * 1000 / n, (double)(kubesim_request_count(sim) - r0) / n);

    r0 = kubesim_request_count(sim);
    secs = launch_phase(ids, n, THREADS);
    printf("launch, %d threads:  %8.1f launches/s  %6.2f ms each  %5.1f API requests each\n",
           THREADS, n / secs, secs * 1000 / n, (double)(kubesim_request_count(sim) - r0) / n);
    (void)stop_phase(ids, n);

    session_service_free(svc);
    registry_holder_free(reg);
    kube_client_free(kube);
    kubesim_stop(sim);
    ty_rm_rf(dir, NULL);
    free(db);
    free(ids);
    return 0;
}
