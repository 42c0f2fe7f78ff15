/*
 * bench_kube.c - cost of the Kubernetes client's calls against the in-process
 * simulated cluster over HTTPS with a token.
 *
 * Times sequential GETs through one client (pooled, kept-alive connections),
 * GETs with a fresh client per call (a TLS handshake each time, for
 * comparison), a paged kube_list_all over 500 ConfigMaps, and 4 threads
 * sharing one client.  Prints figures; never asserts on time.
 */
#include "kube/kube.h"
#include "kubesim/kubesim.h"
#include "util/time.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_GET   2000
#define N_FRESH 200
#define N_CM    500

static struct kube_client *shared;

static void die(const char *what, const struct ty_error *err)
{
    fprintf(stderr, "bench_kube: %s: %s\n", what, err->msg);
    exit(1);
}

static void *worker(void *p)
{
    struct ty_error err = TY_ERROR_INIT;
    for (int i = 0; i < N_GET / 4; i++)
        if (kube_get(NULL, shared, KUBE_CONFIGMAP, NULL, "cm-0", &err))
            die("threaded get", &err);
    return p;
}

int main(void)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kubesim_opts so = KUBESIM_OPTS_INIT;
    struct kubesim *sim = NULL;
    struct kube_config cfg;
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    struct kube_client_stats st;
    char kc[] = "/tmp/ty-bench-kube-XXXXXX";
    int fd = mkstemp(kc);
    pthread_t t[4];
    json_t *list = NULL;
    int64_t t0;
    double ms;

    so.tls = true;
    so.token = "bench";
    if (fd < 0 || kubesim_start(&sim, &so, &err) ||
        kubesim_write_kubeconfig(sim, kc, "bench", &err) ||
        kube_config_load_kubeconfig(&cfg, kc, NULL, &err) ||
        kube_client_new(&shared, &cfg, NULL, &err))
        die("setup", &err);
    close(fd);
    for (int i = 0; i < N_CM; i++) {
        char name[32];
        json_t *cm;
        snprintf(name, sizeof(name), "cm-%d", i);
        cm = json_pack("{s:{s:s,s:{s:s}},s:{s:s}}", "metadata", "name", name, "labels", "b", "1",
                       "data", "k", "value");
        if (kube_create(NULL, shared, KUBE_CONFIGMAP, NULL, cm, &err))
            die("create", &err);
        json_decref(cm);
    }

    t0 = ty_time_mono_ns();
    for (int i = 0; i < N_GET; i++)
        if (kube_get(NULL, shared, KUBE_CONFIGMAP, NULL, "cm-0", &err))
            die("get", &err);
    ms = (double)(ty_time_mono_ns() - t0) / 1e6;
    printf("kube_get, one client (reused TLS connection): %d calls, %.3f ms/call, %.0f calls/s\n",
           N_GET, ms / N_GET, N_GET / (ms / 1000));

    t0 = ty_time_mono_ns();
    for (int i = 0; i < N_FRESH; i++) {
        struct kube_client *c = NULL;
        if (kube_client_new(&c, &cfg, NULL, &err) ||
            kube_get(NULL, c, KUBE_CONFIGMAP, NULL, "cm-0", &err))
            die("fresh get", &err);
        kube_client_free(c);
    }
    ms = (double)(ty_time_mono_ns() - t0) / 1e6;
    printf("kube_get, new client per call (TLS handshake each): %d calls, %.3f ms/call\n", N_FRESH,
           ms / N_FRESH);

    lo.label_selector = "b=1";
    lo.limit = 50;
    t0 = ty_time_mono_ns();
    if (kube_list_all(&list, shared, KUBE_CONFIGMAP, NULL, &lo, &err))
        die("list_all", &err);
    ms = (double)(ty_time_mono_ns() - t0) / 1e6;
    printf("kube_list_all, %zu ConfigMaps in pages of 50: %.2f ms\n",
           json_array_size(json_object_get(list, "items")), ms);
    json_decref(list);

    t0 = ty_time_mono_ns();
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ms = (double)(ty_time_mono_ns() - t0) / 1e6;
    printf("kube_get, 4 threads sharing one client: %d calls, %.0f calls/s\n", N_GET,
           N_GET / (ms / 1000));

    kube_client_stats(shared, &st);
    printf("stats: calls %llu, attempts %llu, retries %llu, errors %llu, bytes %llu\n",
           (unsigned long long)st.calls, (unsigned long long)st.attempts,
           (unsigned long long)st.retries, (unsigned long long)st.errors,
           (unsigned long long)st.bytes_received);
    kube_client_free(shared);
    kube_config_cleanup(&cfg);
    kubesim_stop(sim);
    remove(kc);
    return 0;
}
