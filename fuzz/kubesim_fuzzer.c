/*
 * kubesim_fuzzer.c - the simulated cluster's API (src/kubesim/) on any
 * request: path routing, query strings and selectors, JSON bodies, the three
 * patch types, validation, deletes with propagation, paging, Tables.
 *
 * The requests go straight to ks_api_handle(), the function the simulator's
 * HTTP handler calls after reading a request (auth, fault injection and the
 * /_sim/ admin paths come before it and are not fuzzed here).  A simulated
 * cluster runs in the process with its controller, so Deployments grow Pods
 * while the input goes on.  Its state is kept from one input to the next; it
 * is started afresh every RESTART_EVERY inputs so it stays small.  Watches
 * are parsed and checked by ks_api_handle() but not streamed (a watch waits
 * for events).
 *
 * Input parts (fuzz.h): up to eight requests, in order, each in the shape of
 * struct fuzz_request; the headers read are Accept, Content-Type, and
 * Authorization ("Bearer readonly" makes the request read-only).
 *
 * Beyond crashes the target checks every response: a status the API uses,
 * a body that parses as JSON, a Status body for every error, no 500, and
 * extra header lines (Warning) that cannot split the response.
 */
#include "fuzz.h"
#include "kubesim/kubesim_int.h"
#include "util/crypto.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESTART_EVERY 500

static struct kubesim *sim;
static int inputs;

static void sim_start(void)
{
    struct kubesim_opts o = KUBESIM_OPTS_INIT;
    struct ty_error err = TY_ERROR_INIT;
    o.pod_schedule_ms = 1;
    o.pod_start_ms = 2;
    o.pod_grace_ms = 2;
    if (kubesim_start(&sim, &o, &err) < 0)
        fuzz_fail("kubesim_start: %s", err.msg);
}

static void sim_stop(void)
{
    kubesim_stop(sim);
    sim = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    unsigned char sum[TY_SHA256_LEN];
    (void)argc;
    (void)argv;
    /* libcrypto is initialised on the main thread, as tycho's main() does
     * through curl_global_init(): when the simulator's controller thread is
     * the first to use it, OpenSSL keeps that thread's error state after the
     * thread ends, and LeakSanitizer reports it at exit. */
    ty_sha256(sum, "", 0);
    sim_start();
    atexit(sim_stop);
    return 0;
}

static void check_response(const struct ks_response *resp, const char *method, const char *path)
{
    const char *body = resp->body.data ? resp->body.data : "";
    if (resp->status < 200 || resp->status > 599)
        fuzz_fail("status %d for %s %s", resp->status, method, path);
    if (resp->status == 500)
        fuzz_fail("500 for %s %s: %.300s", method, path, body);
    if (resp->body.len == 0 && resp->status != 200)
        fuzz_fail("an empty %d reply", resp->status);
    if (resp->body.len == 0)
        return;
    json_error_t je;
    json_t *j = json_loadb(body, resp->body.len, 0, &je);
    if (!j)
        fuzz_fail("a reply that does not parse (%s): %.300s", je.text, body);
    if (resp->status >= 400) {
        const char *kind = json_string_value(json_object_get(j, "kind"));
        const char *msg = json_string_value(json_object_get(j, "message"));
        json_t *code = json_object_get(j, "code");
        if (!kind || strcmp(kind, "Status") != 0 || !msg || !msg[0] ||
            json_integer_value(code) != resp->status)
            fuzz_fail("a %d reply that is not a Status with a message: %.300s", resp->status, body);
    }
    json_decref(j);
}

/* Extra header lines go into the HTTP head as they are: each must be one
 * "Name: value" line of printable ASCII ending in CRLF, or a request could
 * write headers of its own (response splitting). */
static void check_headers(const struct ty_buf *h)
{
    const char *p = h->data ? h->data : "", *end = p + h->len;
    while (p < end) {
        const char *crlf = strstr(p, "\r\n");
        if (!crlf || !memchr(p, ':', (size_t)(crlf - p)))
            fuzz_fail("an extra header that is not a 'Name: value' line: %.200s", p);
        for (const char *q = p; q < crlf; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
                fuzz_fail("an extra header with byte 0x%02x: %.200s", (unsigned char)*q, p);
        p = crlf + 2;
    }
}

static void one_request(char *text, size_t len)
{
    struct fuzz_request r;
    struct ks_request rq;
    struct ks_response resp;
    if (!fuzz_request_parse(&r, text, len))
        return;
    memset(&rq, 0, sizeof(rq));
    memset(&resp, 0, sizeof(resp));
    ty_buf_init(&resp.body);
    ty_buf_init(&resp.headers);
    resp.content_type = "application/json";
    rq.method = r.method;
    rq.path = r.path;
    ks_query_parse(&rq.q, r.query);
    rq.body = r.body && r.body_len ? r.body : NULL;
    rq.body_len = rq.body ? r.body_len : 0;
    rq.accept = fuzz_request_header(&r, "Accept");
    rq.content_type = fuzz_request_header(&r, "Content-Type");
    const char *auth = fuzz_request_header(&r, "Authorization");
    rq.readonly = auth && !strcmp(auth, "Bearer readonly");
    ks_api_handle(sim, &rq, &resp);
    if (!resp.is_watch)
        check_response(&resp, r.method, r.path);
    check_headers(&resp.headers);
    ks_query_free(&rq.q);
    ty_buf_cleanup(&resp.body);
    ty_buf_cleanup(&resp.headers);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_parts p;
    if (++inputs % RESTART_EVERY == 0) {
        sim_stop();
        sim_start();
    }
    fuzz_parts_split(&p, data, size);
    for (int i = 0; i < p.n; i++)
        one_request(p.part[i], p.len[i]);
    fuzz_parts_cleanup(&p);
    return 0;
}
