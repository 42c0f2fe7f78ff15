/*
 * test_misc.c - fault injection, the metrics API, the state file, HTTPS with
 * the self-signed certificate and the kubeconfig the simulator writes.
 */
#include "sim_test.h"
#include "util/file.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

START_TEST(test_faults)
{
    struct kubesim *s = sim_start();
    struct sim_reply r = sim_req(s, "POST", "/_sim/faults",
                                 "{\"error_rate\":1.0,\"error_status\":429,\"retry_after_s\":3}");
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    r = sim_req(s, "GET", "/api/v1/namespaces/default/pods", NULL);
    ck_assert_int_eq(r.status, 429);
    ck_assert_str_eq(r.retry_after, "3");
    ck_assert_str_eq(sim_str(r.json, "reason"), "TooManyRequests");
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "details.retryAfterSeconds")), 3);
    sim_reply_free(&r);

    struct kubesim_faults f = {0};
    f.error_rate = 1.0;
    f.error_status = 503;
    kubesim_set_faults(s, &f);
    r = sim_req(s, "GET", "/api/v1/namespaces/default/pods", NULL);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(sim_str(r.json, "reason"), "ServiceUnavailable");
    sim_reply_free(&r);

    /* Dropped connections: a transport error, not an HTTP status, and fast. */
    memset(&f, 0, sizeof f);
    f.drop_rate = 1.0;
    kubesim_set_faults(s, &f);
    int64_t t0 = ty_time_mono_ms();
    r = sim_req(s, "GET", "/api/v1/namespaces/default/pods", NULL);
    ck_assert_int_ne(r.rc, CURLE_OK);
    ck_assert_int_lt(ty_time_mono_ms() - t0, 3000);
    sim_reply_free(&r);

    memset(&f, 0, sizeof f);
    f.latency_ms = 150;
    kubesim_set_faults(s, &f);
    t0 = ty_time_mono_ms();
    r = sim_req(s, "GET", "/api/v1/namespaces/default/pods", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_ge(ty_time_mono_ms() - t0, 150);
    sim_reply_free(&r);

    kubesim_set_faults(s, NULL);
    r = sim_req(s, "GET", "/_sim/faults", NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "latency_ms")), 0);
    sim_reply_free(&r);
    kubesim_stop(s);
}
END_TEST

START_TEST(test_metrics)
{
    struct kubesim *s = sim_start();
    struct sim_reply r = sim_req(s, "POST", "/apis/apps/v1/namespaces/default/deployments",
                                 sim_deploy_json("m", "alice", 1, "nginx:1"));
    ck_assert_int_eq(r.status, 201);
    sim_reply_free(&r);
    ck_assert(sim_wait_str(s, "/api/v1/namespaces/default/pods?labelSelector=app%3Dm",
                           "items.0.status.phase", "Running"));
    r = sim_req(s, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dm", NULL);
    char pod[128], path[256];
    snprintf(pod, sizeof pod, "%s", sim_str(r.json, "items.0.metadata.name"));
    sim_reply_free(&r);

    snprintf(path, sizeof path, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/%s", pod);
    r = sim_req(s, "GET", path, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "kind"), "PodMetrics");
    ck_assert_str_eq(sim_str(r.json, "containers.0.usage.cpu"), "0m");
    sim_reply_free(&r);

    ck_assert_int_eq(kubesim_set_pod_cpu(s, "default", pod, 250, 64L << 20), 0);
    r = sim_req(s, "GET", path, NULL);
    ck_assert_str_eq(sim_str(r.json, "containers.0.usage.cpu"), "250m");
    ck_assert_str_eq(sim_str(r.json, "containers.0.usage.memory"), "65536Ki");
    sim_reply_free(&r);

    r = sim_req(s, "POST", "/_sim/metrics",
                "{\"namespace\":\"default\",\"labelSelector\":"
                "\"username=alice\",\"cpu\":\"12m\",\"memory\":\"1Mi\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "pods")), 1);
    sim_reply_free(&r);
    r = sim_req(s, "GET",
                "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector="
                "app%3Dm",
                NULL);
    ck_assert_str_eq(sim_str(r.json, "kind"), "PodMetricsList");
    ck_assert_str_eq(sim_str(r.json, "items.0.containers.0.usage.cpu"), "12m");
    ck_assert_str_eq(sim_str(r.json, "items.0.containers.0.usage.memory"), "1024Ki");
    sim_reply_free(&r);

    r = sim_req(s, "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/none", NULL);
    ck_assert_int_eq(r.status, 404);
    sim_reply_free(&r);
    ck_assert_int_eq(kubesim_set_pod_cpu(s, "default", pod, -1, 0), TY_EINVAL);
    kubesim_stop(s);
}
END_TEST

START_TEST(test_state_file)
{
    char dir[] = "/tmp/kubesim-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char state[300];
    snprintf(state, sizeof state, "%s/state.json", dir);
    struct kubesim_opts o = KUBESIM_OPTS_INIT;
    o.token = SIM_TOKEN;
    o.state_file = state;
    o.pod_schedule_ms = 10;
    o.pod_start_ms = 20;
    struct kubesim *s = sim_start_opts(&o);
    struct sim_reply r = sim_req(s, "POST", "/apis/apps/v1/namespaces/default/deployments",
                                 sim_deploy_json("keep", "alice", 1, "nginx:1"));
    ck_assert_int_eq(r.status, 201);
    sim_reply_free(&r);
    ck_assert(sim_wait_str(s, "/api/v1/namespaces/default/pods?labelSelector=app%3Dkeep",
                           "items.0.status.phase", "Running"));
    r = sim_req(s, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dkeep", NULL);
    char pod[128];
    snprintf(pod, sizeof pod, "%s", sim_str(r.json, "items.0.metadata.name"));
    long rv = atol(sim_str(r.json, "metadata.resourceVersion"));
    sim_reply_free(&r);
    kubesim_stop(s);
    ck_assert_int_eq(access(state, F_OK), 0);

    s = sim_start_opts(&o);
    char path[256];
    snprintf(path, sizeof path, "/api/v1/namespaces/default/pods/%s", pod);
    r = sim_req(s, "GET", path, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "status.phase"), "Running");
    sim_reply_free(&r);
    r = sim_req(s, "POST", "/api/v1/namespaces/default/configmaps",
                "{\"metadata\":{\"name\":"
                "\"after\"}}");
    ck_assert_int_gt(atol(sim_str(r.json, "metadata.resourceVersion")), rv);
    sim_reply_free(&r);
    /* The reloaded Deployment still owns its pod: no second pod appears. */
    sim_sleep_ms(200);
    r = sim_req(s, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dkeep", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 1);
    sim_reply_free(&r);
    /* ... and the controller knows the reloaded objects: a deleted pod is replaced. */
    r = sim_req(s, "DELETE", path, "{\"gracePeriodSeconds\":0}");
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    int64_t end = ty_time_mono_ms() + 5000;
    bool replaced = false;
    while (!replaced && ty_time_mono_ms() < end) {
        r = sim_req(s, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dkeep", NULL);
        const char *name = sim_str(r.json, "items.0.metadata.name");
        replaced = json_array_size(json_object_get(r.json, "items")) == 1 && name &&
                   strcmp(name, pod) != 0;
        sim_reply_free(&r);
        sim_sleep_ms(20);
    }
    ck_assert(replaced);
    kubesim_stop(s);

    /* A corrupt state file is an error naming the file. */
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_ok(ty_file_write_atomic(state, "{nope", 5, &err), &err);
    s = NULL;
    int rc = kubesim_start(&s, &o, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "state.json:1:");
    ck_assert_ptr_null(s);
    ty_rm_rf(dir, NULL);
}
END_TEST

START_TEST(test_tls_and_kubeconfig)
{
    struct kubesim_opts o = KUBESIM_OPTS_INIT;
    o.tls = true;
    o.token = SIM_TOKEN;
    struct kubesim *s = sim_start_opts(&o);
    ck_assert(strncmp(kubesim_url(s), "https://127.0.0.1:", 18) == 0);
    ck_assert_ptr_nonnull(kubesim_ca_file(s));
    struct sim_reply r = sim_req(s, "GET", "/version", NULL);
    ck_assert_int_eq(r.rc, CURLE_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "minor"), "32");
    sim_reply_free(&r);

    /* Without the CA the certificate is not trusted. */
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s/version", kubesim_url(s));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_CAINFO, "/dev/null");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_write_cb);
    struct ty_buf sink = TY_BUF_INIT;
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    ck_assert_int_ne(curl_easy_perform(c), CURLE_OK);
    /* The name "localhost" is in the certificate too. */
    char url2[256];
    snprintf(url2, sizeof url2, "https://localhost:%s/version", strrchr(kubesim_url(s), ':') + 1);
    curl_easy_setopt(c, CURLOPT_URL, url2);
    curl_easy_setopt(c, CURLOPT_CAINFO, kubesim_ca_file(s));
    curl_easy_setopt(c, CURLOPT_RESOLVE, NULL);
    CURLcode rc = curl_easy_perform(c);
    ck_assert_msg(rc == CURLE_OK || rc == CURLE_COULDNT_CONNECT, "localhost: %d", rc);
    curl_easy_cleanup(c);
    ty_buf_cleanup(&sink);

    char dir[] = "/tmp/kubesim-kc-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char kc[300];
    snprintf(kc, sizeof kc, "%s/config", dir);
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_fails_with(kubesim_write_kubeconfig(s, kc, "Bad NS", &err), &err, TY_EINVAL,
                         "Bad NS");
    ck_assert_ok(kubesim_write_kubeconfig(s, kc, "apps", &err), &err);
    char *text = NULL;
    ck_assert_ok(ty_file_read(&text, NULL, kc, 1 << 20, &err), &err);
    ck_assert_ptr_nonnull(strstr(text, "certificate-authority-data: LS0t"));
    ck_assert_ptr_nonnull(strstr(text, "token: \"" SIM_TOKEN "\""));
    ck_assert_ptr_nonnull(strstr(text, "namespace: \"apps\""));
    ck_assert_ptr_nonnull(strstr(text, kubesim_url(s)));
    free(text);
    /* The context's namespace exists. */
    r = sim_req(s, "GET", "/api/v1/namespaces/apps", NULL);
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    ty_rm_rf(dir, NULL);
    char ca[300];
    snprintf(ca, sizeof ca, "%s", kubesim_ca_file(s));
    kubesim_stop(s);
    ck_assert_int_ne(access(ca, F_OK), 0); /* removed at stop */
}
END_TEST

/* Makes a certificate for key signed by (ca, ca_key), or self-signed when ca is NULL. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *ca_key)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 2 : 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : n);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, ca ? ca : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "CA:FALSE" : "critical,CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, ca_key ? ca_key : key, EVP_sha256());
    return x;
}

static void write_pem(const char *path, X509 *x, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    if (x)
        PEM_write_X509(f, x);
    if (key)
        PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

START_TEST(test_client_certificates)
{
    char dir[] = "/tmp/kubesim-cc-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ca_path[300], cert_path[300], key_path[300];
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", dir);
    snprintf(cert_path, sizeof cert_path, "%s/client.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/client-key.pem", dir);
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *cl_key = EVP_EC_gen("P-256");
    X509 *ca = make_cert(ca_key, "test-ca", NULL, NULL);
    X509 *cl = make_cert(cl_key, "alice", ca, ca_key);
    write_pem(ca_path, ca, NULL);
    write_pem(cert_path, cl, NULL);
    write_pem(key_path, NULL, cl_key);

    struct kubesim_opts o = KUBESIM_OPTS_INIT;
    o.tls = true;
    o.client_ca_file = ca_path;
    struct kubesim *s = sim_start_opts(&o);
    char url[256];
    snprintf(url, sizeof url, "%s/version", kubesim_url(s));
    for (int with = 0; with < 2; with++) {
        CURL *c = curl_easy_init();
        struct ty_buf b = TY_BUF_INIT;
        long code = 0;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_CAINFO, kubesim_ca_file(s));
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        if (with) {
            curl_easy_setopt(c, CURLOPT_SSLCERT, cert_path);
            curl_easy_setopt(c, CURLOPT_SSLKEY, key_path);
        }
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (with) {
            ck_assert_int_eq(rc, CURLE_OK);
            ck_assert_int_eq(code, 200);
        } else {
            ck_assert_int_ne(rc, CURLE_OK);
        }
        curl_easy_cleanup(c);
        ty_buf_cleanup(&b);
    }
    kubesim_stop(s);
    X509_free(ca);
    X509_free(cl);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(cl_key);
    ty_rm_rf(dir, NULL);
}
END_TEST

START_TEST(test_bad_options)
{
    struct kubesim_opts o = KUBESIM_OPTS_INIT;
    struct kubesim *s = NULL;
    struct ty_error err = TY_ERROR_INIT;
    o.listen = "nohost";
    ck_assert_fails_with(kubesim_start(&s, &o, &err), &err, TY_EINVAL, "ADDR:PORT");
    o.listen = "127.0.0.1:0";
    o.pod_start_ms = -1;
    ck_assert_fails_with(kubesim_start(&s, &o, &err), &err, TY_EINVAL, "negative");
    kubesim_stop(NULL);
}
END_TEST

/* Sends raw bytes to the simulator and returns what comes back (at most 64 KB). */
static char *raw_exchange(struct kubesim *s, const char *req, size_t len)
{
    const char *colon = strrchr(kubesim_url(s), ':');
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(colon + 1));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer and close before it read everything */
        off += (size_t)n;
    }
    struct ty_buf b = TY_BUF_INIT;
    char tmp[4096];
    ssize_t n;
    while (b.len < 65536 && (n = recv(fd, tmp, sizeof tmp, 0)) > 0)
        ty_buf_append(&b, tmp, (size_t)n);
    close(fd);
    return ty_buf_detach(&b);
}

/* Requests CivetWeb refuses before the handler sees them get a Status too. */
START_TEST(test_http_errors)
{
    struct kubesim *s = sim_start();
    static const char bad_line[] = "BLAH\r\n\r\n";
    char *out = raw_exchange(s, bad_line, sizeof bad_line - 1);
    ck_assert_msg(!strncmp(out, "HTTP/1.1 400 ", 13), "%s", out);
    ck_assert_msg(strstr(out, "\"kind\":\"Status\"") && strstr(out, "\"code\":400"), "%s", out);
    free(out);
    struct ty_buf req = TY_BUF_INIT;
    ty_buf_puts(&req, "GET /version HTTP/1.1\r\nHost: x\r\nX-Big: ");
    for (int i = 0; i < 40000; i++)
        ty_buf_putc(&req, 'a');
    ty_buf_puts(&req, "\r\n\r\n");
    out = raw_exchange(s, req.data, req.len);
    ty_buf_cleanup(&req);
    ck_assert_msg(!strncmp(out, "HTTP/1.1 4", 10), "%s", out);
    ck_assert_msg(strstr(out, "\"kind\":\"Status\""), "%s", out);
    free(out);
    kubesim_stop(s);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("kubesim_misc");
    TCase *tc = tcase_create("misc");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_faults);
    tcase_add_test(tc, test_metrics);
    tcase_add_test(tc, test_state_file);
    tcase_add_test(tc, test_tls_and_kubeconfig);
    tcase_add_test(tc, test_client_certificates);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_http_errors);
    suite_add_tcase(s, tc);
    int rc = ty_run_suite(s);
    curl_global_cleanup();
    return rc;
}
