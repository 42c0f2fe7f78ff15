/*
 * test_pure.c - the Kubernetes client's pure pieces: kinds and paths, query
 * encoding of selectors, base64, backoff math, Status -> ty_code mapping,
 * watch-stream line splitting and ExecCredential parsing.
 */
#include "kube/kube_int.h"
#include "ty_check.h"

#include <stdlib.h>
#include <string.h>

START_TEST(test_kinds)
{
    struct ty_error err = TY_ERROR_INIT;
    enum kube_kind k;

    ck_assert_str_eq(kube_kind_name(KUBE_PVC), "PersistentVolumeClaim");
    ck_assert_str_eq(kube_kind_resource(KUBE_NETWORKPOLICY), "networkpolicies");
    ck_assert_str_eq(kube_kind_api_version(KUBE_DEPLOYMENT), "apps/v1");
    ck_assert_str_eq(kube_kind_api_version(KUBE_EVENT), "v1");
    ck_assert_ok(kube_kind_parse(&k, "deployments", &err), &err);
    ck_assert_int_eq(k, KUBE_DEPLOYMENT);
    ck_assert_ok(kube_kind_parse(&k, "ReplicaSet", &err), &err);
    ck_assert_int_eq(k, KUBE_REPLICASET);
    ck_assert_ok(kube_kind_parse(&k, "pvc", &err), &err);
    ck_assert_int_eq(k, KUBE_PVC);
    ck_assert_ok(kube_kind_parse(&k, "Ingress", &err), &err);
    ck_assert_int_eq(k, KUBE_INGRESS);
    ck_assert_str_eq(kube_kind_api_version(KUBE_INGRESS), "networking.k8s.io/v1");
    ck_assert_fails_with(kube_kind_parse(&k, "cronjob", &err), &err, TY_EINVAL, "cronjob");
}
END_TEST

START_TEST(test_paths_and_queries)
{
    struct ty_buf b = TY_BUF_INIT;

    kube_path_build(&b, KUBE_DEPLOYMENT, "tycho", "jupyter-ds-1");
    ck_assert_str_eq(b.data, "/apis/apps/v1/namespaces/tycho/deployments/jupyter-ds-1");
    ty_buf_reset(&b);
    kube_path_build(&b, KUBE_POD, "", NULL);
    ck_assert_str_eq(b.data, "/api/v1/pods");
    ty_buf_reset(&b);
    kube_path_build(&b, KUBE_NETWORKPOLICY, "a b", "x/y");
    ck_assert_str_eq(b.data, "/apis/networking.k8s.io/v1/namespaces/a%20b/networkpolicies/x%2Fy");
    ty_buf_reset(&b);
    kube_path_build(&b, KUBE_PVC, "ns", NULL);
    kube_query_add(&b, "labelSelector", "executor=tycho,username=alice");
    kube_query_add(&b, "fieldSelector", NULL);
    kube_query_add(&b, "limit", "2");
    ck_assert_str_eq(b.data, "/api/v1/namespaces/ns/persistentvolumeclaims"
                             "?labelSelector=executor%3Dtycho%2Cusername%3Dalice&limit=2");
    ty_buf_reset(&b);
    kube_url_escape(&b, "env in (prod,qa),!gpu");
    ck_assert_str_eq(b.data, "env%20in%20%28prod%2Cqa%29%2C%21gpu");
    ty_buf_reset(&b);
    kube_url_escape(&b, "a-b_c.d~e");
    ck_assert_str_eq(b.data, "a-b_c.d~e");
    ty_buf_cleanup(&b);
}
END_TEST

START_TEST(test_base64)
{
    struct ty_error err = TY_ERROR_INIT;
    char *out = NULL;
    size_t n;

    ck_assert_ok(kube_base64_decode(&out, &n, "aGVsbG8gd29ybGQ=", &err), &err);
    ck_assert_str_eq(out, "hello world");
    ck_assert_uint_eq(n, 11);
    free(out);
    ck_assert_ok(kube_base64_decode(&out, &n, "LS0t\nLS0=\n", &err), &err);
    ck_assert_str_eq(out, "-----");
    free(out);
    ck_assert_ok(kube_base64_decode(&out, &n, "YQ", &err), &err); /* unpadded */
    ck_assert_str_eq(out, "a");
    free(out);
    ck_assert_fails_with(kube_base64_decode(&out, &n, "aGV*bG8=", &err), &err, TY_EINVAL,
                         "offset 3");
    ck_assert_ptr_null(out);
    ck_assert_fails_with(kube_base64_decode(&out, &n, "YWJjZ", &err), &err, TY_EINVAL, "truncated");
    ck_assert_fails_with(kube_base64_decode(&out, &n, "YQ==YQ==", &err), &err, TY_EINVAL,
                         "invalid");
}
END_TEST

START_TEST(test_loopback)
{
    ck_assert(kube_url_is_loopback("http://127.0.0.1:8080"));
    ck_assert(kube_url_is_loopback("http://127.1.2.3"));
    ck_assert(kube_url_is_loopback("http://localhost:1/x"));
    ck_assert(kube_url_is_loopback("http://[::1]:6443"));
    ck_assert(!kube_url_is_loopback("http://10.0.0.1:8080"));
    ck_assert(!kube_url_is_loopback("http://localhost.example.com"));
    ck_assert(!kube_url_is_loopback("http://127example.com"));
    ck_assert(!kube_url_is_loopback("https://[::2]:443"));
}
END_TEST

START_TEST(test_backoff)
{
    /* attempt 1: d = base = 200 -> [100, 200] */
    ck_assert_int_eq(kube_backoff_ms(1, 200, 10000, 0, 0), 100);
    ck_assert_int_eq(kube_backoff_ms(1, 200, 10000, 0, 100), 200);
    ck_assert_int_eq(kube_backoff_ms(1, 200, 10000, 0, 101), 100);
    /* doubling: attempt 3 -> d = 800 */
    ck_assert_int_eq(kube_backoff_ms(3, 200, 10000, 0, 0), 400);
    ck_assert_int_eq(kube_backoff_ms(3, 200, 10000, 0, 400), 800);
    /* cap */
    ck_assert_int_eq(kube_backoff_ms(30, 200, 10000, 0, 5000), 10000);
    ck_assert_int_eq(kube_backoff_ms(30, 200, 10000, 0, 0), 5000);
    /* Retry-After wins when longer, capped at 60 s; never shortens */
    ck_assert_int_eq(kube_backoff_ms(1, 200, 10000, 3000, 0), 3000);
    ck_assert_int_eq(kube_backoff_ms(1, 200, 10000, 50, 100), 200);
    ck_assert_int_eq(kube_backoff_ms(1, 200, 10000, 3600000, 0), 60000);
    for (uint32_t r = 0; r < 5000; r += 7) {
        long d = kube_backoff_ms(4, 100, 10000, 0, r);
        ck_assert(d >= 400 && d <= 800);
    }
    ck_assert(kube_status_retryable(429));
    ck_assert(kube_status_retryable(503));
    ck_assert(kube_status_retryable(500));
    ck_assert(!kube_status_retryable(501));
    ck_assert(!kube_status_retryable(409));
    ck_assert(!kube_status_retryable(404));
}
END_TEST

static void status_case(long http, const char *reason, int code, const char *msg)
{
    struct ty_error err = TY_ERROR_INIT;
    char body[512];
    long ra = -1;
    int rc;

    snprintf(body, sizeof(body),
             "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
             "\"message\":\"%s\",\"reason\":\"%s\",\"code\":%ld}",
             msg, reason, http);
    rc = kube_status_error(&err, http, body, strlen(body), "GET /x", &ra);
    ck_assert_int_eq(rc, code);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(strstr(err.msg, "GET /x") && strstr(err.msg, reason), "%s", err.msg);
    ck_assert_int_eq(ra, 0);
}

START_TEST(test_status_mapping)
{
    struct ty_error err = TY_ERROR_INIT;
    const char *b;
    long ra = 0;
    int rc;

    status_case(404, "NotFound", TY_ENOTFOUND, "pods x not found");
    status_case(409, "AlreadyExists", TY_EEXISTS, "deployments.apps x already exists");
    status_case(409, "Conflict", TY_ECONFLICT, "the object has been modified");
    status_case(401, "Unauthorized", TY_EAUTH, "Unauthorized");
    status_case(403, "Forbidden", TY_EFORBIDDEN, "forbidden");
    status_case(410, "Expired", TY_EGONE, "too old resource version");
    status_case(422, "Invalid", TY_EINVAL, "spec.replicas: Invalid value");
    status_case(400, "BadRequest", TY_EINVAL, "bad selector");
    status_case(429, "TooManyRequests", TY_EUPSTREAM, "slow down");
    status_case(503, "ServiceUnavailable", TY_EUPSTREAM, "unavailable");
    status_case(500, "InternalError", TY_EUPSTREAM, "boom");
    status_case(418, "Teapot", TY_ERR, "short and stout");

    b = "{\"kind\":\"Status\",\"message\":\"pods \\\"g\\\" not found\",\"reason\":\"NotFound\","
        "\"code\":404}";
    rc = kube_status_error(&err, 404, b, strlen(b), "GET /api/v1/namespaces/n/pods/g", NULL);
    ck_assert_int_eq(rc, TY_ENOTFOUND);
    ck_assert_str_eq(err.msg, "kube: GET /api/v1/namespaces/n/pods/g: pods \"g\" not found "
                              "(404 NotFound)");
    b = "{\"kind\":\"Status\",\"message\":\"wait\",\"reason\":\"TooManyRequests\","
        "\"details\":{\"retryAfterSeconds\":7},\"code\":429}";
    kube_status_error(&err, 429, b, strlen(b), "GET /", &ra);
    ck_assert_int_eq(ra, 7);
    /* not a Status: status code decides, snippet kept printable */
    b = "<html>\nBad Gateway</html>";
    rc = kube_status_error(&err, 502, b, strlen(b), "GET /", NULL);
    ck_assert_int_eq(rc, TY_EUPSTREAM);
    ck_assert_str_eq(err.msg, "kube: GET /: HTTP 502: <html> Bad Gateway</html>");
    rc = kube_status_error(&err, 404, NULL, 0, "GET /", NULL);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "HTTP 404");
    {
        json_t *st =
            json_pack("{s:s,s:s,s:i}", "message", "too old", "reason", "Expired", "code", 410);
        ck_assert_int_eq(kube_status_object_error(&err, st, "watch /p"), TY_EGONE);
        ck_assert_str_eq(err.msg, "kube: watch /p: too old (410 Expired)");
        json_decref(st);
    }
}
END_TEST

struct lines_seen {
    char all[1024];
    int n;
    int stop_at;
};

static int collect_line(const char *line, size_t len, void *p)
{
    struct lines_seen *s = p;
    strncat(s->all, line, len);
    strcat(s->all, "|");
    s->n++;
    return s->stop_at && s->n == s->stop_at ? 42 : 0;
}

START_TEST(test_line_splitter)
{
    struct kube_lines l;
    struct lines_seen s = {{0}, 0, 0};
    const char *stream = "{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}\n{\"d\"";

    /* byte-by-byte must give the same lines as one chunk */
    kube_lines_init(&l, 100);
    for (size_t i = 0; i < strlen(stream); i++)
        ck_assert_int_eq(kube_lines_feed(&l, stream + i, 1, collect_line, &s), 0);
    ck_assert_str_eq(s.all, "{\"a\":1}|{\"b\":2}|{\"c\":3}|");
    ck_assert_int_eq(kube_lines_feed(&l, ":4}", 3, collect_line, &s), 0);
    ck_assert_int_eq(kube_lines_finish(&l, collect_line, &s), 0);
    ck_assert_str_eq(s.all, "{\"a\":1}|{\"b\":2}|{\"c\":3}|{\"d\":4}|");
    kube_lines_cleanup(&l);

    memset(&s, 0, sizeof(s));
    kube_lines_init(&l, 100);
    ck_assert_int_eq(kube_lines_feed(&l, stream, strlen(stream), collect_line, &s), 0);
    ck_assert_int_eq(s.n, 3);
    kube_lines_cleanup(&l);

    /* callback stops the feed */
    memset(&s, 0, sizeof(s));
    s.stop_at = 2;
    kube_lines_init(&l, 100);
    ck_assert_int_eq(kube_lines_feed(&l, stream, strlen(stream), collect_line, &s), 42);
    ck_assert_int_eq(s.n, 2);
    kube_lines_cleanup(&l);

    /* a line over the cap, whether split across chunks or not */
    memset(&s, 0, sizeof(s));
    kube_lines_init(&l, 8);
    ck_assert_int_eq(kube_lines_feed(&l, "12345", 5, collect_line, &s), 0);
    ck_assert_int_eq(kube_lines_feed(&l, "6789\n", 5, collect_line, &s), TY_ELIMIT);
    kube_lines_cleanup(&l);
    kube_lines_init(&l, 8);
    ck_assert_int_eq(kube_lines_feed(&l, "12345678\n", 9, collect_line, &s), 0);
    ck_assert_int_eq(kube_lines_feed(&l, "123456789\n", 10, collect_line, &s), TY_ELIMIT);
    kube_lines_cleanup(&l);
}
END_TEST

START_TEST(test_exec_parse)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_exec_cred c;
    const char *t;

    t = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        "\"status\":{\"token\":\"tok-1\",\"expirationTimestamp\":\"2099-01-01T00:00:00Z\"}}";
    ck_assert_ok(kube_exec_parse(&c, t, strlen(t), &err), &err);
    ck_assert_str_eq(c.token, "tok-1");
    ck_assert_int_eq(c.expiry_ms, 4070908800000LL);
    kube_exec_cred_cleanup(&c);
    t = "{\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":\"C\","
        "\"clientKeyData\":\"K\"}}";
    ck_assert_ok(kube_exec_parse(&c, t, strlen(t), &err), &err);
    ck_assert_ptr_null(c.token);
    ck_assert_str_eq(c.cert_pem, "C");
    ck_assert_str_eq(c.key_pem, "K");
    ck_assert_int_eq(c.expiry_ms, 0);
    kube_exec_cred_cleanup(&c);
    t = "{\"kind\":\"ExecCredential\",\"status\":{}}";
    ck_assert_fails_with(kube_exec_parse(&c, t, strlen(t), &err), &err, TY_EAUTH, "neither");
    t = "{\"kind\":\"Pod\"}";
    ck_assert_fails_with(kube_exec_parse(&c, t, strlen(t), &err), &err, TY_EAUTH, "Pod");
    t = "not json";
    ck_assert_fails_with(kube_exec_parse(&c, t, strlen(t), &err), &err, TY_EAUTH, "not JSON");
    t = "{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"x\",\"expirationTimestamp\":\"soon\"}"
        "}";
    ck_assert_fails_with(kube_exec_parse(&c, t, strlen(t), &err), &err, TY_EAUTH, "soon");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kube_pure");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, test_kinds);
    tcase_add_test(tc, test_paths_and_queries);
    tcase_add_test(tc, test_base64);
    tcase_add_test(tc, test_loopback);
    tcase_add_test(tc, test_backoff);
    tcase_add_test(tc, test_status_mapping);
    tcase_add_test(tc, test_line_splitter);
    tcase_add_test(tc, test_exec_parse);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
