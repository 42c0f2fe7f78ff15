/*
 * bench_kubesim.c - throughput and memory of the simulated cluster.
 *
 * Starts an in-process kubesim (plain HTTP and HTTPS), fills a namespace with
 * N ConfigMaps and a few Deployments, then times a loop of GET list requests
 * over one reused keep-alive libcurl connection, and a few parallel clients.
 * Prints requests/second and the process's peak RSS; never asserts on time.
 */
#include "kubesim/kubesim.h"
#include "util/buf.h"
#include "util/time.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define TOKEN "bench"

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    *(size_t *)ud += sz * n;
    return sz * n;
}

static CURL *client(struct kubesim *s, struct curl_slist **h)
{
    CURL *c = curl_easy_init();
    *h = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
    *h = curl_slist_append(*h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *h);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    if (kubesim_ca_file(s))
        curl_easy_setopt(c, CURLOPT_CAINFO, kubesim_ca_file(s));
    return c;
}

static long do_req(CURL *c, const char *url, const char *body, size_t *bytes)
{
    long code = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, bytes);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (!body)
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    if (curl_easy_perform(c) != CURLE_OK)
        return -1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

struct worker {
    struct kubesim *s;
    const char *url;
    int n;
    int ok;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct curl_slist *h;
    CURL *c = client(w->s, &h);
    size_t bytes = 0;
    for (int i = 0; i < w->n; i++)
        if (do_req(c, w->url, NULL, &bytes) == 200)
            w->ok++;
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return NULL;
}

static void run(bool tls, int nobjs, int nreq)
{
    struct kubesim_opts o = KUBESIM_OPTS_INIT;
    struct kubesim *s = NULL;
    struct ty_error err = TY_ERROR_INIT;
    o.tls = tls;
    o.token = TOKEN;
    o.pod_schedule_ms = 10;
    o.pod_start_ms = 20;
    if (kubesim_start(&s, &o, &err) != 0) {
        fprintf(stderr, "start: %s\n", err.msg);
        exit(1);
    }
    struct curl_slist *h;
    CURL *c = client(s, &h);
    char url[512], body[512];
    size_t bytes = 0;
    snprintf(url, sizeof url, "%s/api/v1/namespaces/default/configmaps", kubesim_url(s));
    int64_t t0 = ty_time_mono_ns();
    for (int i = 0; i < nobjs; i++) {
        snprintf(body, sizeof body,
                 "{\"metadata\":{\"name\":\"cm-%d\",\"labels\":{\"executor\":"
                 "\"tycho\",\"username\":\"u%d\"}},\"data\":{\"k\":\"value-%d\"}}",
                 i, i % 50, i);
        if (do_req(c, url, body, &bytes) != 201) {
            fprintf(stderr, "create failed\n");
            exit(1);
        }
    }
    double create_s = (double)(ty_time_mono_ns() - t0) / 1e9;
    for (int i = 0; i < 5; i++) {
        snprintf(url, sizeof url, "%s/apis/apps/v1/namespaces/default/deployments", kubesim_url(s));
        snprintf(
            body, sizeof body,
            "{\"metadata\":{\"name\":\"d%d\"},\"spec\":{\"replicas\":2,\"selector\":{"
            "\"matchLabels\":{\"app\":\"d%d\"}},\"template\":{\"metadata\":{\"labels\":{"
            "\"app\":\"d%d\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}",
            i, i, i);
        do_req(c, url, body, &bytes);
    }

    /* Let the controller bring the pods up, so the figures are of a quiet cluster. */
    struct timespec settle = {0, 500 * 1000000L};
    nanosleep(&settle, NULL);

    /* GET list of pods (10 objects) and of all configmaps (selector: 1/50 of them). */
    const char *names[] = {"pods (10 items)", "configmaps labelSelector (N/50 items)",
                           "configmaps full list (N items)"};
    char urls[3][512];
    snprintf(urls[0], sizeof urls[0], "%s/api/v1/namespaces/default/pods", kubesim_url(s));
    snprintf(urls[1], sizeof urls[1],
             "%s/api/v1/namespaces/default/configmaps?labelSelector=username%%3Du7",
             kubesim_url(s));
    snprintf(urls[2], sizeof urls[2], "%s/api/v1/namespaces/default/configmaps", kubesim_url(s));
    printf("kubesim %s, %d configmaps (created at %.0f req/s)\n", tls ? "HTTPS" : "HTTP", nobjs,
           nobjs / create_s);
    for (int u = 0; u < 3; u++) {
        int n = u == 2 ? nreq / 10 : nreq;
        bytes = 0;
        t0 = ty_time_mono_ns();
        for (int i = 0; i < n; i++)
            do_req(c, urls[u], NULL, &bytes);
        double secs = (double)(ty_time_mono_ns() - t0) / 1e9;
        printf("  GET %-40s %8.0f req/s  (%zu bytes/reply)\n", names[u], n / secs,
               bytes / (size_t)n);
    }
    /* 8 parallel clients on the selector list. */
    struct worker w[8];
    pthread_t th[8];
    t0 = ty_time_mono_ns();
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){s, urls[1], nreq / 8, 0};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
    }
    double secs = (double)(ty_time_mono_ns() - t0) / 1e9;
    printf("  GET %-40s %8.0f req/s  (8 clients, %d ok)\n", names[1], ok / secs, ok);
    printf("  requests served: %ld\n", kubesim_request_count(s));
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    kubesim_stop(s);
}

int main(int argc, char **argv)
{
    int nobjs = argc > 1 ? atoi(argv[1]) : 1000;
    int nreq = argc > 2 ? atoi(argv[2]) : 4000;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long base = ru.ru_maxrss;
    run(false, nobjs, nreq);
    getrusage(RUSAGE_SELF, &ru);
    printf("  peak RSS %ld KiB (%ld KiB before start)\n", ru.ru_maxrss, base);
    run(true, nobjs, nreq);
    getrusage(RUSAGE_SELF, &ru);
    printf("  peak RSS %ld KiB\n", ru.ru_maxrss);
    curl_global_cleanup();
    return 0;
}
