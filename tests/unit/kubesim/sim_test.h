/*
 * sim_test.h - shared helpers of the kubesim unit tests: start an in-process
 * simulated cluster with short delays, and talk to it over real HTTP(S) with
 * libcurl (the tests check the wire, not the functions behind it).
 */
#ifndef TY_TESTS_SIM_TEST_H
#define TY_TESTS_SIM_TEST_H

#include "kubesim/kubesim.h"
#include "ty_check.h"
#include "util/buf.h"
#include "util/time.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SIM_TOKEN    "sim-test-token"
#define SIM_RO_TOKEN "sim-readonly-token"

struct sim_reply {
    long status;
    char *body;
    json_t *json; /* parsed body or NULL */
    char retry_after[16];
    char content_type[128];
    char warnings[1024]; /* the Warning header lines, each ending in '\n' */
    CURLcode rc;
};

static inline size_t sim_write_cb(char *p, size_t sz, size_t n, void *ud)
{
    ty_buf_append(ud, p, sz * n);
    return sz * n;
}

/* Copies the value of header line p (len bytes) into out when it is name. */
static inline void
sim_header_value(const char *p, size_t len, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(p, name, nl) != 0)
        return;
    size_t have = strlen(out), vlen = len - nl;
    while (vlen > 0 && (p[nl + vlen - 1] == '\r' || p[nl + vlen - 1] == '\n'))
        vlen--;
    if (have + vlen + 2 > n)
        return;
    memcpy(out + have, p + nl, vlen);
    out[have + vlen] = 0;
}

static inline size_t sim_header_cb(char *p, size_t sz, size_t n, void *ud)
{
    struct sim_reply *r = ud;
    sim_header_value(p, sz * n, "Content-Type: ", r->content_type, sizeof r->content_type);
    if (n * sz > 9 && !strncasecmp(p, "Warning: ", 9)) {
        sim_header_value(p, sz * n, "Warning: ", r->warnings, sizeof r->warnings);
        strcat(r->warnings, "\n");
    }
    if (n * sz > 13 && !strncasecmp(p, "Retry-After: ", 13)) {
        size_t len = n * sz - 13;
        if (len >= sizeof r->retry_after)
            len = sizeof r->retry_after - 1;
        memcpy(r->retry_after, p + 13, len);
        r->retry_after[len] = 0;
        r->retry_after[strcspn(r->retry_after, "\r\n")] = 0;
    }
    return sz * n;
}

/* One request.  token NULL = no Authorization header; ctype NULL = JSON. */
static inline struct sim_reply sim_req_full(struct kubesim *s,
                                            const char *method,
                                            const char *path,
                                            const char *body,
                                            const char *ctype,
                                            const char *accept,
                                            const char *token)
{
    struct sim_reply r;
    struct ty_buf b = TY_BUF_INIT;
    struct curl_slist *h = NULL;
    char url[2048], hdr[512];
    memset(&r, 0, sizeof r);
    CURL *c = curl_easy_init();
    snprintf(url, sizeof url, "%s%s", kubesim_url(s), path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (kubesim_ca_file(s))
        curl_easy_setopt(c, CURLOPT_CAINFO, kubesim_ca_file(s));
    if (token) {
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, hdr);
    }
    snprintf(hdr, sizeof hdr, "Content-Type: %s", ctype ? ctype : "application/json");
    h = curl_slist_append(h, hdr);
    snprintf(hdr, sizeof hdr, "Accept: %s", accept ? accept : "application/json");
    h = curl_slist_append(h, hdr);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sim_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    r.rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    r.body = ty_buf_detach(&b);
    r.json = json_loads(r.body, 0, NULL);
    return r;
}

static inline struct sim_reply
sim_req(struct kubesim *s, const char *method, const char *path, const char *body)
{
    return sim_req_full(s, method, path, body, NULL, NULL, SIM_TOKEN);
}

static inline void sim_reply_free(struct sim_reply *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* Dotted-path string lookup into a reply ("items" arrays by index: "items.0.metadata.name"). */
static inline const char *sim_str(json_t *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = strtok(buf, "."); p && j; p = strtok(NULL, ".")) {
        if (json_is_array(j))
            j = json_array_get(j, (size_t)atoi(p));
        else
            j = json_object_get(j, p);
    }
    return json_string_value(j);
}

static inline json_t *sim_at(json_t *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = strtok(buf, "."); p && j; p = strtok(NULL, ".")) {
        if (json_is_array(j))
            j = json_array_get(j, (size_t)atoi(p));
        else
            j = json_object_get(j, p);
    }
    return j;
}

static inline struct kubesim *sim_start_opts(struct kubesim_opts *o)
{
    struct kubesim *s = NULL;
    struct ty_error err = TY_ERROR_INIT;
    int rc = kubesim_start(&s, o, &err);
    ck_assert_ok(rc, &err);
    return s;
}

static inline struct kubesim *sim_start(void)
{
    struct kubesim_opts o = KUBESIM_OPTS_INIT;
    o.token = SIM_TOKEN;
    o.readonly_token = SIM_RO_TOKEN;
    o.pod_schedule_ms = 20;
    o.pod_start_ms = 60;
    o.pod_grace_ms = 60;
    return sim_start_opts(&o);
}

static inline void sim_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls GET path until the string at jpath equals want (or 5 s pass). */
static inline bool
sim_wait_str(struct kubesim *s, const char *path, const char *jpath, const char *want)
{
    int64_t end = ty_time_mono_ms() + 5000;
    while (ty_time_mono_ms() < end) {
        struct sim_reply r = sim_req(s, "GET", path, NULL);
        const char *v = sim_str(r.json, jpath);
        bool ok = (want == NULL && r.status == 404) || (want && v && !strcmp(v, want));
        sim_reply_free(&r);
        if (ok)
            return true;
        sim_sleep_ms(20);
    }
    return false;
}

static const char *const SIM_DEPLOY_FMT =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"%s\","
    "\"labels\":{\"executor\":\"tycho\",\"username\":\"%s\"}},\"spec\":{\"replicas\":%d,"
    "\"selector\":{\"matchLabels\":{\"app\":\"%s\"}},\"template\":{\"metadata\":{\"labels\":"
    "{\"app\":\"%s\",\"executor\":\"tycho\",\"username\":\"%s\"}},\"spec\":{\"containers\":"
    "[{\"name\":\"main\",\"image\":\"%s\",\"ports\":[{\"containerPort\":8888}]}]}}}}";

static inline char *
sim_deploy_json(const char *name, const char *user, int replicas, const char *image)
{
    static char buf[2048];
    snprintf(buf, sizeof buf, SIM_DEPLOY_FMT, name, user, replicas, name, name, user, image);
    return buf;
}

#endif
