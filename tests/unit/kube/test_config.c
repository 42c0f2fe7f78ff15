/*
 * test_config.c - kubeconfig and in-cluster configuration loading, without a
 * server: contexts, first-wins merging of a KUBECONFIG list, relative paths,
 * *-data decoding, token vs tokenFile, exec plugins, positioned errors, and
 * the automatic choice.
 */
#include "kube/kube.h"
#include "ty_check.h"
#include "util/file.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ty-kube-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static void teardown(void)
{
    ty_rm_rf(tmpdir, NULL);
}

/* Writes text to tmpdir/name and returns the path (static buffer per call slot). */
static const char *put(const char *name, const char *text)
{
    static char paths[8][512];
    static int slot;
    char *p = paths[slot++ % 8];
    struct ty_error err = TY_ERROR_INIT;
    snprintf(p, 512, "%s/%s", tmpdir, name);
    ck_assert_ok(ty_file_write_atomic(p, text, strlen(text), &err), &err);
    return p;
}

static const char *const base_config =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: dev\n"
    "clusters:\n"
    "- name: c1\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority: ca.pem\n"
    "- name: c2\n"
    "  cluster:\n"
    "    server: https://k8s.example.org\n"
    "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
    "    insecure-skip-tls-verify: true\n"
    "users:\n"
    "- name: u-token\n"
    "  user:\n"
    "    token: abc\n"
    "    tokenFile: /nonexistent\n"
    "- name: u-file\n"
    "  user:\n"
    "    tokenFile: sub/token\n"
    "- name: u-cert\n"
    "  user:\n"
    "    client-certificate-data: Q0VSVA==\n"
    "    client-key-data: S0VZ\n"
    "- name: u-certfile\n"
    "  user:\n"
    "    client-certificate: /abs/cert.pem\n"
    "    client-key: key.pem\n"
    "- name: u-exec\n"
    "  user:\n"
    "    exec:\n"
    "      apiVersion: client.authentication.k8s.io/v1beta1\n"
    "      command: ./bin/cred\n"
    "      args: [get, --x]\n"
    "      env:\n"
    "      - {name: FOO, value: bar}\n"
    "      provideClusterInfo: true\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: c1, user: u-token, namespace: tycho-ns}\n"
    "- name: file\n"
    "  context: {cluster: c1, user: u-file}\n"
    "- name: cert\n"
    "  context: {cluster: c2, user: u-cert}\n"
    "- name: certfile\n"
    "  context: {cluster: c2, user: u-certfile}\n"
    "- name: exec\n"
    "  context: {cluster: c1, user: u-exec}\n"
    "- name: nouser\n"
    "  context: {cluster: c2}\n";

START_TEST(test_kubeconfig_contexts)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_config cfg;
    const char *p = put("config", base_config);
    char expect[600];

    ck_assert_ok(kube_config_load_kubeconfig(&cfg, p, NULL, &err), &err);
    ck_assert_str_eq(cfg.server, "https://10.0.0.1:6443");
    snprintf(expect, sizeof(expect), "%s/ca.pem", tmpdir);
    ck_assert_str_eq(cfg.ca_file, expect);
    ck_assert_ptr_null(cfg.ca_pem);
    ck_assert_str_eq(cfg.token, "abc"); /* token wins over tokenFile */
    ck_assert_ptr_null(cfg.token_file);
    ck_assert_str_eq(cfg.namespace, "tycho-ns");
    ck_assert(strstr(cfg.source, "context dev") != NULL);
    kube_config_cleanup(&cfg);

    ck_assert_ok(kube_config_load_kubeconfig(&cfg, p, "file", &err), &err);
    snprintf(expect, sizeof(expect), "%s/sub/token", tmpdir);
    ck_assert_str_eq(cfg.token_file, expect);
    ck_assert_ptr_null(cfg.token);
    ck_assert_str_eq(cfg.namespace, "default");
    kube_config_cleanup(&cfg);

    ck_assert_ok(kube_config_load_kubeconfig(&cfg, p, "cert", &err), &err);
    ck_assert_str_eq(cfg.server, "https://k8s.example.org");
    ck_assert_str_eq(cfg.ca_pem, "-----BEGIN CERTIFICATE-----\n");
    ck_assert(cfg.insecure);
    ck_assert_str_eq(cfg.client_cert_pem, "CERT");
    ck_assert_str_eq(cfg.client_key_pem, "KEY");
    kube_config_cleanup(&cfg);

    ck_assert_ok(kube_config_load_kubeconfig(&cfg, p, "certfile", &err), &err);
    ck_assert_str_eq(cfg.client_cert_file, "/abs/cert.pem");
    snprintf(expect, sizeof(expect), "%s/key.pem", tmpdir);
    ck_assert_str_eq(cfg.client_key_file, expect);
    kube_config_cleanup(&cfg);

    ck_assert_ok(kube_config_load_kubeconfig(&cfg, p, "exec", &err), &err);
    ck_assert_ptr_nonnull(cfg.exec);
    snprintf(expect, sizeof(expect), "%s/./bin/cred", tmpdir);
    ck_assert_str_eq(cfg.exec->command, expect);
    ck_assert_uint_eq(cfg.exec->nargs, 2);
    ck_assert_str_eq(cfg.exec->args[1], "--x");
    ck_assert_uint_eq(cfg.exec->nenv, 1);
    ck_assert_str_eq(cfg.exec->env[0], "FOO=bar");
    ck_assert_str_eq(cfg.exec->api_version, "client.authentication.k8s.io/v1beta1");
    ck_assert(cfg.exec->provide_cluster_info);
    {
        struct kube_config copy;
        kube_config_copy(&copy, &cfg);
        ck_assert_str_eq(copy.exec->args[0], "get");
        ck_assert_str_eq(copy.server, cfg.server);
        kube_config_cleanup(&copy);
    }
    kube_config_cleanup(&cfg);

    ck_assert_ok(kube_config_load_kubeconfig(&cfg, p, "nouser", &err), &err);
    ck_assert_ptr_null(cfg.token);
    kube_config_cleanup(&cfg);

    ck_assert_fails_with(kube_config_load_kubeconfig(&cfg, p, "prod", &err), &err, TY_ENOTFOUND,
                         "context 'prod' is not defined");
}
END_TEST

START_TEST(test_kubeconfig_merge)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_config cfg;
    char list[2048];
    const char *a = put("a.yaml", "current-context: from-a\n"
                                  "contexts:\n"
                                  "- {name: from-a, context: {cluster: shared, user: ua}}\n"
                                  "clusters:\n"
                                  "- {name: shared, cluster: {server: https://first:1}}\n");
    const char *b = put("b.yaml", "current-context: from-b\n"
                                  "contexts:\n"
                                  "- {name: from-b, context: {cluster: shared, user: ub}}\n"
                                  "- {name: from-a, context: {cluster: other}}\n"
                                  "clusters:\n"
                                  "- {name: shared, cluster: {server: https://second:2}}\n"
                                  "users:\n"
                                  "- {name: ua, user: {token: token-a}}\n"
                                  "- {name: ub, user: {token: token-b}}\n");

    snprintf(list, sizeof(list), "%s/missing.yaml:%s::%s", tmpdir, a, b);
    setenv("KUBECONFIG", list, 1);
    ck_assert_ok(kube_config_load_kubeconfig(&cfg, NULL, NULL, &err), &err);
    ck_assert_str_eq(cfg.server, "https://first:1"); /* first file's cluster wins */
    ck_assert_str_eq(cfg.token, "token-a");          /* user only in the second file */
    kube_config_cleanup(&cfg);
    ck_assert_ok(kube_config_load_kubeconfig(&cfg, NULL, "from-b", &err), &err);
    ck_assert_str_eq(cfg.server, "https://first:1");
    ck_assert_str_eq(cfg.token, "token-b");
    kube_config_cleanup(&cfg);
    /* kube_config_auto prefers KUBECONFIG */
    setenv("KUBERNETES_SERVICE_HOST", "10.1.1.1", 1);
    ck_assert_ok(kube_config_auto(&cfg, &err), &err);
    ck_assert_str_eq(cfg.token, "token-a");
    kube_config_cleanup(&cfg);

    snprintf(list, sizeof(list), "%s/x:%s/y", tmpdir, tmpdir);
    setenv("KUBECONFIG", list, 1);
    ck_assert_fails_with(kube_config_load_kubeconfig(&cfg, NULL, NULL, &err), &err, TY_ENOTFOUND,
                         "none of the files");
    ck_assert_fails_with(kube_config_load_kubeconfig(&cfg, "/nonexistent/kc", NULL, &err), &err,
                         TY_ENOTFOUND, "/nonexistent/kc");
}
END_TEST

static void bad(const char *yaml, const char *ctx, int code, const char *needle)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_config cfg;
    const char *p = put("bad.yaml", yaml);
    int rc = kube_config_load_kubeconfig(&cfg, p, ctx, &err);
    ck_assert_fails_with(rc, &err, code, needle);
    ck_assert_ptr_null(cfg.server);
}

START_TEST(test_kubeconfig_errors)
{
    bad("- a\n", NULL, TY_EINVAL, "bad.yaml:1:1: a kubeconfig must be a mapping");
    bad("clusters: []\n", NULL, TY_ENOTFOUND, "no current-context");
    bad("current-context: x\ncontexts: []\n", NULL, TY_ENOTFOUND,
        "bad.yaml:1:18: context 'x' is not defined");
    bad("current-context: x\ncontexts:\n- {name: x, context: {cluster: nope}}\n", NULL, TY_EINVAL,
        "bad.yaml:3:");
    bad("current-context: x\ncontexts:\n- {name: x, context: {cluster: nope}}\n", NULL, TY_EINVAL,
        "unknown cluster 'nope'");
    bad("current-context: x\ncontexts:\n- {name: x, context: {user: u}}\n", NULL, TY_EINVAL,
        "names no cluster");
    bad("current-context: x\n"
        "contexts: [{name: x, context: {cluster: c}}]\n"
        "clusters:\n"
        "- name: c\n"
        "  cluster: {server: 'ftp://x'}\n",
        NULL, TY_EINVAL, "bad.yaml:5:");
    bad("current-context: x\n"
        "contexts: [{name: x, context: {cluster: c}}]\n"
        "clusters:\n"
        "- name: c\n"
        "  cluster:\n"
        "    server: https://x\n"
        "    certificate-authority-data: '!!!'\n",
        NULL, TY_EINVAL, "bad.yaml:7:33: certificate-authority-data: invalid base64");
    bad("current-context: x\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
        "users:\n"
        "- name: u\n"
        "  user:\n"
        "    auth-provider: {name: gcp}\n",
        NULL, TY_EINVAL, "bad.yaml:7:20: auth-provider plugins are not supported");
    bad("current-context: x\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
        "users:\n"
        "- name: u\n"
        "  user:\n"
        "    exec: {command: c, args: [1, {a: b}]}\n",
        NULL, TY_EINVAL, "bad.yaml:7:");
    bad("current-context: x\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
        "users:\n"
        "- name: u\n"
        "  user:\n"
        "    token: 12345\n",
        NULL, TY_EINVAL, "bad.yaml:7:12: token must be a string");
    bad("current-context: x\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
        "users:\n"
        "- name: u\n"
        "  user: {client-certificate: c.pem}\n",
        NULL, TY_EINVAL, "needs a client key");
    bad("current-context: x\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
        "users:\n"
        "- name: u\n"
        "  user: {exec: {command: x, interactiveMode: Always}}\n",
        NULL, TY_EINVAL, "needs a terminal");
    bad("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: 3\n", NULL,
        TY_EINVAL, "clusters must be a list");
    bad("current-context: [x\n", NULL, TY_EINVAL, "bad.yaml:");
    bad("current-context: x\n"
        "contexts: [{name: x, context: {cluster: c}}]\n"
        "clusters:\n"
        "- name: c\n"
        "  cluster: {server: 'https://x', proxy-url: 'http://proxy:3128'}\n",
        NULL, TY_EINVAL, "bad.yaml:5:45: cluster 'c': proxy-url is not supported");
    bad("current-context: x\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "clusters: [{name: c, cluster: {server: 'https://x'}}]\n"
        "users: [{name: u, user: {token: t, as: admin}}]\n",
        NULL, TY_EINVAL, "impersonation (as) is not supported");
}
END_TEST

START_TEST(test_in_cluster)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_config cfg;
    char expect[600];

    ck_assert_fails_with(kube_config_load_in_cluster(&cfg, tmpdir, &err), &err, TY_ENOTFOUND,
                         "KUBERNETES_SERVICE_HOST");
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    ck_assert_fails_with(kube_config_load_in_cluster(&cfg, tmpdir, &err), &err, TY_ENOTFOUND,
                         "no service-account token");
    put("token", "tok\n");
    ck_assert_ok(kube_config_load_in_cluster(&cfg, tmpdir, &err), &err);
    ck_assert_str_eq(cfg.server, "https://10.96.0.1:443");
    ck_assert_str_eq(cfg.namespace, "default");
    ck_assert_ptr_null(cfg.ca_file);
    snprintf(expect, sizeof(expect), "%s/token", tmpdir);
    ck_assert_str_eq(cfg.token_file, expect);
    kube_config_cleanup(&cfg);

    put("ca.crt", "PEM");
    put("namespace", "  apps\n");
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    ck_assert_ok(kube_config_load_in_cluster(&cfg, tmpdir, &err), &err);
    ck_assert_str_eq(cfg.server, "https://[fd00::1]:443");
    ck_assert_str_eq(cfg.namespace, "apps");
    snprintf(expect, sizeof(expect), "%s/ca.crt", tmpdir);
    ck_assert_str_eq(cfg.ca_file, expect);
    kube_config_cleanup(&cfg);
}
END_TEST

START_TEST(test_auto_home)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_config cfg;
    char dir[600];
    const char *old_home = getenv("HOME");
    char *saved = old_home ? ty_xstrdup(old_home) : NULL;

    snprintf(dir, sizeof(dir), "%s/.kube", tmpdir);
    ck_assert_ok(ty_mkdir_p(dir, &err), &err);
    setenv("HOME", tmpdir, 1);
    ck_assert_fails_with(kube_config_auto(&cfg, &err), &err, TY_ENOTFOUND, ".kube/config");
    put(".kube/config", "current-context: h\n"
                        "contexts: [{name: h, context: {cluster: c}}]\n"
                        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n");
    ck_assert_ok(kube_config_auto(&cfg, &err), &err);
    ck_assert_str_eq(cfg.server, "http://127.0.0.1:9");
    kube_config_cleanup(&cfg);
    if (saved)
        setenv("HOME", saved, 1);
    free(saved);
}
END_TEST

START_TEST(test_client_new_rules)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_config cfg;
    struct kube_client *c = NULL;

    kube_config_init(&cfg);
    ck_assert_fails_with(kube_client_new(&c, &cfg, NULL, &err), &err, TY_EINVAL, "no server");
    cfg.server = ty_xstrdup("http://10.0.0.1:8080");
    ck_assert_ok(kube_client_new(&c, &cfg, NULL, &err), &err); /* no credentials: fine */
    ck_assert_str_eq(kube_client_namespace(c), "default");
    kube_client_free(c);
    cfg.token = ty_xstrdup("secret");
    ck_assert_fails_with(kube_client_new(&c, &cfg, NULL, &err), &err, TY_EINVAL,
                         "refusing to send credentials over plain http");
    ck_assert_ptr_null(c);
    free(cfg.server);
    cfg.server = ty_xstrdup("http://127.0.0.1:8080");
    ck_assert_ok(kube_client_new(&c, &cfg, NULL, &err), &err);
    ck_assert_str_eq(kube_client_server(c), "http://127.0.0.1:8080");
    kube_client_free(c);
    kube_config_cleanup(&cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kube_config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_kubeconfig_contexts);
    tcase_add_test(tc, test_kubeconfig_merge);
    tcase_add_test(tc, test_kubeconfig_errors);
    tcase_add_test(tc, test_in_cluster);
    tcase_add_test(tc, test_auto_home);
    tcase_add_test(tc, test_client_new_rules);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
