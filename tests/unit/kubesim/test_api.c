/*
 * test_api.c - the REST surface of the simulated cluster over real HTTP:
 * auth, discovery, CRUD with the real Status bodies, conflicts, validation,
 * selectors, paging, the three PATCH types, dry runs, tables.
 */
#include "sim_test.h"

static struct kubesim *S;

#define DEPLOYMENTS "/apis/apps/v1/namespaces/default/deployments"

static void setup(void)
{
    S = sim_start();
}

static void teardown(void)
{
    kubesim_stop(S);
    S = NULL;
}

START_TEST(test_auth)
{
    struct sim_reply r =
        sim_req_full(S, "GET", "/api/v1/namespaces/default/pods", NULL, NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 401);
    ck_assert_str_eq(sim_str(r.json, "reason"), "Unauthorized");
    ck_assert_str_eq(sim_str(r.json, "kind"), "Status");
    sim_reply_free(&r);
    r = sim_req_full(S, "GET", "/version", NULL, NULL, NULL, "wrong");
    ck_assert_int_eq(r.status, 401);
    sim_reply_free(&r);
    r = sim_req_full(S, "POST", "/_sim/faults", "{}", NULL, NULL, NULL);
    ck_assert_int_eq(r.status, 401);
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/api/v1/namespaces/default/pods", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "kind"), "PodList");
    sim_reply_free(&r);
    ck_assert_int_ge(kubesim_request_count(S), 4);

    /* The read-only token reads, and gets the RBAC-style 403 for writes. */
    r = sim_req_full(S, "GET", "/api/v1/namespaces/default/pods", NULL, NULL, NULL, SIM_RO_TOKEN);
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    r = sim_req_full(S, "POST", "/apis/apps/v1/namespaces/default/deployments", "{}", NULL, NULL,
                     SIM_RO_TOKEN);
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(sim_str(r.json, "reason"), "Forbidden");
    ck_assert_str_eq(sim_str(r.json, "message"),
                     "deployments.apps is forbidden: User \"kubesim:readonly\" cannot create "
                     "resource \"deployments\" in API group \"apps\" in the namespace "
                     "\"default\"");
    sim_reply_free(&r);
    r = sim_req_full(S, "DELETE", "/api/v1/namespaces/default/pods/x", NULL, NULL, NULL,
                     SIM_RO_TOKEN);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(sim_str(r.json, "message"), "pods \"x\" is forbidden"));
    sim_reply_free(&r);
    r = sim_req_full(S, "POST", "/_sim/faults", "{}", NULL, NULL, SIM_RO_TOKEN);
    ck_assert_int_eq(r.status, 403);
    sim_reply_free(&r);
}
END_TEST

START_TEST(test_discovery)
{
    struct sim_reply r = sim_req(S, "GET", "/version", NULL);
    ck_assert_str_eq(sim_str(r.json, "major"), "1");
    ck_assert_str_eq(sim_str(r.json, "minor"), "32");
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/api/v1", NULL);
    ck_assert_str_eq(sim_str(r.json, "kind"), "APIResourceList");
    json_t *res = json_object_get(r.json, "resources");
    bool pods = false;
    size_t i;
    json_t *e;
    json_array_foreach(res, i, e)
    {
        if (!strcmp(sim_str(e, "name"), "pods")) {
            pods = true;
            ck_assert_str_eq(sim_str(e, "shortNames.0"), "po");
            ck_assert(json_is_true(json_object_get(e, "namespaced")));
        }
    }
    ck_assert(pods);
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/apis", NULL);
    ck_assert_str_eq(sim_str(r.json, "groups.0.name"), "apps");
    sim_reply_free(&r);
    /* With a trailing slash too, as the real routes answer (the Python client's
     * VersionApi asks for /version/). */
    r = sim_req(S, "GET", "/version/", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "gitVersion"), "v1.32.0-kubesim");
    sim_reply_free(&r);
    static const char *const paths[] = {"/api",
                                        "/api/",
                                        "/apis/",
                                        "/apis/apps/v1",
                                        "/apis/apps/v1/",
                                        "/apis/networking.k8s.io/v1",
                                        "/apis/metrics.k8s.io/v1beta1",
                                        NULL};
    for (const char *const *p = paths; *p; p++) {
        r = sim_req(S, "GET", *p, NULL);
        ck_assert_msg(r.status == 200, "%s: %ld", *p, r.status);
        sim_reply_free(&r);
    }
}
END_TEST

/* Aggregated discovery, as kubectl asks for it (kubernetes.md 5.1): one
 * APIGroupDiscoveryList per /api and /apis, with the content type saying so. */
START_TEST(test_aggregated_discovery)
{
    static const char accept[] =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/"
        "json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    struct sim_reply r = sim_req_full(S, "GET", "/apis", NULL, NULL, accept, SIM_TOKEN);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.content_type,
                     "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
    ck_assert_str_eq(sim_str(r.json, "kind"), "APIGroupDiscoveryList");
    ck_assert_str_eq(sim_str(r.json, "items.0.metadata.name"), "apps");
    ck_assert_str_eq(sim_str(r.json, "items.0.versions.0.version"), "v1");
    json_t *res = sim_at(r.json, "items.0.versions.0.resources");
    bool deploy = false;
    size_t i;
    json_t *e;
    json_array_foreach(res, i, e)
    {
        if (strcmp(sim_str(e, "resource"), "deployments") != 0)
            continue;
        deploy = true;
        ck_assert_str_eq(sim_str(e, "responseKind.kind"), "Deployment");
        ck_assert_str_eq(sim_str(e, "scope"), "Namespaced");
        ck_assert_str_eq(sim_str(e, "shortNames.0"), "deploy");
        ck_assert_str_eq(sim_str(e, "subresources.0.subresource"), "scale");
        ck_assert_str_eq(sim_str(e, "subresources.0.responseKind.kind"), "Scale");
    }
    ck_assert(deploy);
    sim_reply_free(&r);
    r = sim_req_full(S, "GET", "/api", NULL, NULL, accept, SIM_TOKEN);
    ck_assert_str_eq(sim_str(r.json, "kind"), "APIGroupDiscoveryList");
    ck_assert_ptr_null(sim_at(r.json, "items.0.metadata.name"));
    ck_assert_str_eq(sim_str(r.json, "items.0.versions.0.resources.0.resource"), "pods");
    sim_reply_free(&r);
    /* Without the Accept, the legacy documents. */
    r = sim_req(S, "GET", "/api", NULL);
    ck_assert_str_eq(sim_str(r.json, "kind"), "APIVersions");
    ck_assert_str_eq(r.content_type, "application/json");
    sim_reply_free(&r);
}
END_TEST

/* /openapi/v2 and /openapi/v3: the definitions of the kinds served, and the
 * operations kubectl's query-parameter check reads (fieldValidation on the
 * PATCH of each kind, with its group-version-kind). */
START_TEST(test_openapi)
{
    struct sim_reply r = sim_req(S, "GET", "/openapi/v2", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "swagger"), "2.0");
    json_t *defs = json_object_get(r.json, "definitions");
    static const char *const kinds[] = {"io.k8s.api.core.v1.Pod",
                                        "io.k8s.api.core.v1.Service",
                                        "io.k8s.api.core.v1.ConfigMap",
                                        "io.k8s.api.core.v1.Secret",
                                        "io.k8s.api.core.v1.Namespace",
                                        "io.k8s.api.core.v1.PersistentVolumeClaim",
                                        "io.k8s.api.core.v1.Event",
                                        "io.k8s.api.apps.v1.Deployment",
                                        "io.k8s.api.apps.v1.ReplicaSet",
                                        "io.k8s.api.networking.v1.NetworkPolicy",
                                        "io.k8s.api.autoscaling.v1.Scale",
                                        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                                        NULL};
    for (const char *const *k = kinds; *k; k++)
        ck_assert_msg(json_object_get(defs, *k) != NULL, "no definition %s", *k);
    ck_assert_str_eq(
        sim_str(json_object_get(defs, "io.k8s.api.apps.v1.DeploymentSpec"), "required.0"),
        "selector");
    json_t *patch =
        sim_at(json_object_get(json_object_get(r.json, "paths"),
                               "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"),
               "patch");
    ck_assert_str_eq(sim_str(patch, "x-kubernetes-action"), "patch");
    ck_assert_str_eq(sim_str(patch, "x-kubernetes-group-version-kind.kind"), "Deployment");
    bool fv = false;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(patch, "parameters"), i, p)
    {
        fv |= !strcmp(sim_str(p, "name"), "fieldValidation") && !strcmp(sim_str(p, "in"), "query");
    }
    ck_assert(fv);
    sim_reply_free(&r);

    r = sim_req(S, "GET", "/openapi/v3", NULL);
    ck_assert_int_eq(r.status, 200);
    const char *url = sim_str(json_object_get(json_object_get(r.json, "paths"), "apis/apps/v1"),
                              "serverRelativeURL");
    ck_assert_ptr_nonnull(url);
    ck_assert(strncmp(url, "/openapi/v3/apis/apps/v1?hash=", 30) == 0);
    char *gv = strdup(url);
    sim_reply_free(&r);
    r = sim_req(S, "GET", gv, NULL);
    free(gv);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "openapi"), "3.0.0");
    json_t *schemas = sim_at(r.json, "components.schemas");
    ck_assert_str_eq(
        sim_str(json_object_get(schemas, "io.k8s.api.apps.v1.Deployment"), "properties.spec.$ref"),
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec");
    json_t *paths = json_object_get(r.json, "paths");
    ck_assert_ptr_nonnull(
        json_object_get(paths, "/apis/apps/v1/namespaces/{namespace}/deployments"));
    ck_assert_ptr_null(json_object_get(paths, "/api/v1/namespaces/{namespace}/pods"));
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/openapi/v3/api/v1", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(
        json_object_get(json_object_get(r.json, "paths"), "/api/v1/namespaces/{namespace}/pods"));
    sim_reply_free(&r);

    /* Protobuf only (kubectl's /openapi/v2 request): 406, and unknown documents 404. */
    r = sim_req_full(S, "GET", "/openapi/v2", NULL, NULL,
                     "application/com.github.proto-openapi.spec.v2@v1.0+protobuf", SIM_TOKEN);
    ck_assert_int_eq(r.status, 406);
    ck_assert_str_eq(sim_str(r.json, "reason"), "NotAcceptable");
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/openapi/v3/apis/batch/v1", NULL);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(sim_str(r.json, "kind"), "Status");
    sim_reply_free(&r);
}
END_TEST

/* fieldValidation: fields the schema does not declare are dropped (Ignore),
 * reported in Warning headers (Warn, the default) or refused (Strict), as the
 * real server does since 1.27. */
START_TEST(test_field_validation)
{
    static const char body[] =
        "{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"replicaz\":2,\"selector\":{"
        "\"matchLabels\":{\"a\":\"b\"}},\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},"
        "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"imagePullPolicyy\":"
        "\"Always\",\"env\":[{\"name\":\"E\",\"valu\":\"1\"}]}]}}}}";
    char b[1024];
    snprintf(b, sizeof b, body, "strict");
    struct sim_reply r = sim_req(S, "POST", DEPLOYMENTS "?fieldValidation=Strict", b);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(sim_str(r.json, "reason"), "BadRequest");
    ck_assert_str_eq(sim_str(r.json, "message"),
                     "Deployment in version \"v1\" cannot be handled as a Deployment: strict "
                     "decoding error: unknown field \"spec.replicaz\", unknown field "
                     "\"spec.template.spec.containers[0].imagePullPolicyy\", unknown field "
                     "\"spec.template.spec.containers[0].env[0].valu\"");
    sim_reply_free(&r);
    r = sim_req(S, "GET", DEPLOYMENTS "/strict", NULL);
    ck_assert_int_eq(r.status, 404);
    sim_reply_free(&r);

    snprintf(b, sizeof b, body, "warn");
    r = sim_req(S, "POST", DEPLOYMENTS, b);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.warnings, "299 - \"unknown field \\\"spec.replicaz\\\"\"\n"
                                 "299 - \"unknown field "
                                 "\\\"spec.template.spec.containers[0].imagePullPolicyy\\\"\"\n"
                                 "299 - \"unknown field "
                                 "\\\"spec.template.spec.containers[0].env[0].valu\\\"\"\n");
    ck_assert_ptr_null(sim_at(r.json, "spec.replicaz"));
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "spec.replicas")), 1);
    ck_assert_str_eq(sim_str(r.json, "spec.template.spec.containers.0.env.0.name"), "E");
    ck_assert_ptr_null(sim_at(r.json, "spec.template.spec.containers.0.env.0.valu"));
    sim_reply_free(&r);

    snprintf(b, sizeof b, body, "ignore");
    r = sim_req(S, "POST", DEPLOYMENTS "?fieldValidation=Ignore", b);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.warnings, "");
    ck_assert_ptr_null(sim_at(r.json, "spec.replicaz"));
    sim_reply_free(&r);

    /* Patches are checked as the object they make; maps keep any key. */
    r = sim_req_full(S, "PATCH", DEPLOYMENTS "/warn?fieldValidation=Strict",
                     "{\"spec\":{\"paused\":true,\"pausd\":true}}", "application/merge-patch+json",
                     NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(sim_str(r.json, "message"), "unknown field \"spec.pausd\""));
    sim_reply_free(&r);
    r = sim_req(
        S, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        "{\"metadata\":{\"name\":\"m\",\"labels\":{\"any\":\"x\"}},\"data\":{\"k\":\"v\"}}");
    ck_assert_int_eq(r.status, 201);
    sim_reply_free(&r);
    /* A field name cannot break the Warning header it is quoted in. */
    r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps",
                "{\"metadata\":{\"name\":\"n\"},\"x\\r\\nInjected: 1\\\"\":1}");
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.warnings, "299 - \"unknown field \\\"x??Injected: 1\\\\\\\"\\\"\"\n");
    sim_reply_free(&r);
    r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Sometimes",
                "{\"metadata\":{\"name\":\"o\"}}");
    ck_assert_int_eq(r.status, 400);
    sim_reply_free(&r);
}
END_TEST

/* kubectl exec, attach, port-forward and proxy get a Status that says why,
 * over a websocket upgrade (kubectl's first try) and plain HTTP (its SPDY
 * fallback) alike. */
START_TEST(test_streams_unsupported)
{
    struct sim_reply r = sim_req(S, "POST", "/api/v1/namespaces/default/pods",
                                 "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{"
                                 "\"name\":\"c\",\"image\":\"i\"}]}}");
    ck_assert_int_eq(r.status, 201);
    sim_reply_free(&r);
    static const char *const subs[] = {"exec?command=ls", "attach", "portforward?ports=80", "proxy",
                                       NULL};
    for (const char *const *sub = subs; *sub; sub++) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1/namespaces/default/pods/p/%s", *sub);
        r = sim_req(S, "POST", path, NULL);
        ck_assert_int_eq(r.status, 400);
        ck_assert_msg(strstr(sim_str(r.json, "message"), "not supported by the simulated cluster"),
                      "%s", r.body);
        sim_reply_free(&r);
    }
    /* A websocket upgrade, as kubectl sends it first. */
    struct ty_buf b = TY_BUF_INIT;
    struct curl_slist *h = NULL;
    char url[512];
    snprintf(url, sizeof url, "%s/api/v1/namespaces/default/pods/p/exec?command=ls",
             kubesim_url(S));
    h = curl_slist_append(h, "Authorization: Bearer " SIM_TOKEN);
    h = curl_slist_append(h, "Connection: Upgrade");
    h = curl_slist_append(h, "Upgrade: websocket");
    h = curl_slist_append(h, "Sec-WebSocket-Version: 13");
    h = curl_slist_append(h, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
    h = curl_slist_append(h, "Sec-WebSocket-Protocol: v5.channel.k8s.io");
    CURL *c = curl_easy_init();
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    ck_assert_int_eq(status, 400);
    ck_assert_msg(strstr(ty_buf_cstr(&b), "exec is not supported by the simulated cluster"), "%s",
                  ty_buf_cstr(&b));
    ty_buf_cleanup(&b);
    r = sim_req(S, "POST", "/api/v1/namespaces/default/pods/nope/exec", NULL);
    ck_assert_int_eq(r.status, 404);
    sim_reply_free(&r);
}
END_TEST

START_TEST(test_crud_configmap)
{
    const char *base = "/api/v1/namespaces/default/configmaps";
    struct sim_reply r =
        sim_req(S, "POST", base, "{\"metadata\":{\"name\":\"cm1\"},\"data\":{\"a\":\"1\"}}");
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(sim_str(r.json, "kind"), "ConfigMap");
    ck_assert_str_eq(sim_str(r.json, "metadata.namespace"), "default");
    ck_assert_ptr_nonnull(sim_str(r.json, "metadata.uid"));
    ck_assert_ptr_nonnull(sim_str(r.json, "metadata.creationTimestamp"));
    char rv1[32];
    snprintf(rv1, sizeof rv1, "%s", sim_str(r.json, "metadata.resourceVersion"));
    sim_reply_free(&r);

    r = sim_req(S, "POST", base, "{\"metadata\":{\"name\":\"cm1\"}}");
    ck_assert_int_eq(r.status, 409);
    ck_assert_str_eq(sim_str(r.json, "reason"), "AlreadyExists");
    ck_assert_str_eq(sim_str(r.json, "message"), "configmaps \"cm1\" already exists");
    sim_reply_free(&r);

    r = sim_req(S, "GET", "/api/v1/namespaces/default/configmaps/cm1", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "data.a"), "1");
    sim_reply_free(&r);

    r = sim_req(S, "GET", "/apis/apps/v1/namespaces/default/deployments/nope", NULL);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(sim_str(r.json, "message"), "deployments.apps \"nope\" not found");
    ck_assert_str_eq(sim_str(r.json, "details.group"), "apps");
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "code")), 404);
    sim_reply_free(&r);

    /* PUT with the current version succeeds and changes it. */
    char body[512];
    snprintf(body, sizeof body,
             "{\"metadata\":{\"name\":\"cm1\",\"resourceVersion\":\"%s\"},"
             "\"data\":{\"a\":\"2\"}}",
             rv1);
    r = sim_req(S, "PUT", "/api/v1/namespaces/default/configmaps/cm1", body);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_ne(sim_str(r.json, "metadata.resourceVersion"), rv1);
    ck_assert_str_eq(sim_str(r.json, "data.a"), "2");
    sim_reply_free(&r);
    /* The same stale version again conflicts. */
    r = sim_req(S, "PUT", "/api/v1/namespaces/default/configmaps/cm1", body);
    ck_assert_int_eq(r.status, 409);
    ck_assert_str_eq(sim_str(r.json, "reason"), "Conflict");
    ck_assert_str_eq(sim_str(r.json, "message"),
                     "Operation cannot be fulfilled on configmaps \"cm1\": the object has been "
                     "modified; please apply your changes to the latest version and try again");
    sim_reply_free(&r);

    r = sim_req(S, "DELETE", "/api/v1/namespaces/default/configmaps/cm1", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "kind"), "Status");
    ck_assert_str_eq(sim_str(r.json, "status"), "Success");
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/api/v1/namespaces/default/configmaps/cm1", NULL);
    ck_assert_int_eq(r.status, 404);
    sim_reply_free(&r);
}
END_TEST

START_TEST(test_validation)
{
    struct sim_reply r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps",
                                 "{\"metadata\":{\"name\":\"Jupyter_Alice@x\"}}");
    ck_assert_int_eq(r.status, 422);
    ck_assert_str_eq(sim_str(r.json, "reason"), "Invalid");
    ck_assert_str_eq(sim_str(r.json, "details.causes.0.field"), "metadata.name");
    ck_assert_ptr_nonnull(strstr(sim_str(r.json, "message"), "ConfigMap \"Jupyter_Alice@x\" is "
                                                             "invalid: metadata.name"));
    sim_reply_free(&r);

    r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps",
                "{\"metadata\":{\"name\":\"ok\",\"labels\":{\"username\":\"alice@example.org\"}}}");
    ck_assert_int_eq(r.status, 422);
    ck_assert_str_eq(sim_str(r.json, "details.causes.0.field"), "metadata.labels");
    sim_reply_free(&r);

    /* Deployment: selector required, and must match the template labels. */
    r = sim_req(S, "POST", "/apis/apps/v1/namespaces/default/deployments",
                "{\"metadata\":{\"name\":\"d\"},\"spec\":{\"template\":{\"metadata\":{\"labels\":"
                "{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}");
    ck_assert_int_eq(r.status, 422);
    ck_assert_str_eq(sim_str(r.json, "message"),
                     "Deployment.apps \"d\" is invalid: spec.selector: Required value");
    sim_reply_free(&r);
    r = sim_req(S, "POST", "/apis/apps/v1/namespaces/default/deployments",
                "{\"metadata\":{\"name\":\"d\"},\"spec\":{\"selector\":{\"matchLabels\":{\"a\":"
                "\"c\"}},\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{"
                "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}");
    ck_assert_int_eq(r.status, 422);
    ck_assert_ptr_nonnull(strstr(r.body, "`selector` does not match template `labels`"));
    sim_reply_free(&r);

    /* Services are RFC 1035 labels: no leading digit. */
    r = sim_req(S, "POST", "/api/v1/namespaces/default/services",
                "{\"metadata\":{\"name\":\"9lives\"},\"spec\":{\"ports\":[{\"port\":80}]}}");
    ck_assert_int_eq(r.status, 422);
    sim_reply_free(&r);

    /* Names: each kind's rule, as apimachinery's validation.go.  DNS-1123
     * subdomains (Secrets, ConfigMaps, Deployments...) reach 253 characters with
     * no limit per label; Services are RFC 1035 labels of at most 63. */
    char name[300], body[700];
    memset(name, 'a', 253);
    name[253] = 0;
    memcpy(name + 100, ".b", 2);
    snprintf(body, sizeof body, "{\"metadata\":{\"name\":\"%s\"},\"stringData\":{\"k\":\"v\"}}",
             name);
    r = sim_req(S, "POST", "/api/v1/namespaces/default/secrets", body);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    sim_reply_free(&r);
    memset(name, 'c', 200);
    name[200] = 0;
    snprintf(body, sizeof body, "{\"metadata\":{\"name\":\"%s\"}}", name);
    r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps", body);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    sim_reply_free(&r);
    memset(name, 'd', 254);
    name[254] = 0;
    snprintf(body, sizeof body, "{\"metadata\":{\"name\":\"%s\"}}", name);
    r = sim_req(S, "POST", "/api/v1/namespaces/default/secrets", body);
    ck_assert_int_eq(r.status, 422);
    ck_assert_msg(strstr(sim_str(r.json, "details.causes.0.message"),
                         "must be no more than 253 characters") != NULL,
                  "%s", r.body);
    sim_reply_free(&r);
    memset(name, 'e', 64);
    name[64] = 0;
    snprintf(body, sizeof body,
             "{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"ports\":[{\"port\":80}]}}", name);
    r = sim_req(S, "POST", "/api/v1/namespaces/default/services", body);
    ck_assert_int_eq(r.status, 422);
    ck_assert_msg(strstr(r.body, "must be no more than 63 characters") != NULL, "%s", r.body);
    sim_reply_free(&r);
    name[63] = 0;
    snprintf(body, sizeof body,
             "{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"ports\":[{\"port\":80}]}}", name);
    r = sim_req(S, "POST", "/api/v1/namespaces/default/services", body);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    sim_reply_free(&r);

    r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps", "{\"metadata\":");
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(sim_str(r.json, "reason"), "BadRequest");
    sim_reply_free(&r);

    r = sim_req(S, "POST", "/api/v1/namespaces/nons/configmaps", "{\"metadata\":{\"name\":\"x\"}}");
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(sim_str(r.json, "message"), "namespaces \"nons\" not found");
    sim_reply_free(&r);

    r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps",
                "{\"metadata\":{\"name\":\"x\",\"namespace\":\"other\"}}");
    ck_assert_int_eq(r.status, 400);
    sim_reply_free(&r);
}
END_TEST

START_TEST(test_generate_name_and_dry_run)
{
    struct sim_reply r = sim_req(S, "POST", "/api/v1/namespaces/default/secrets",
                                 "{\"metadata\":{\"generateName\":\"tok-\"},\"stringData\":"
                                 "{\"k\":\"hello\"}}");
    ck_assert_int_eq(r.status, 201);
    const char *name = sim_str(r.json, "metadata.name");
    ck_assert(strncmp(name, "tok-", 4) == 0 && strlen(name) == 9);
    ck_assert_str_eq(sim_str(r.json, "data.k"), "aGVsbG8=");
    ck_assert_str_eq(sim_str(r.json, "type"), "Opaque");
    sim_reply_free(&r);
    /* A long prefix is cut to 58 characters, so the name stays a 63-character label. */
    char body[400], prefix[101];
    memset(prefix, 'p', 100);
    prefix[100] = 0;
    snprintf(body, sizeof body, "{\"metadata\":{\"generateName\":\"%s\"}}", prefix);
    r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps", body);
    ck_assert_int_eq(r.status, 201);
    ck_assert_int_eq(strlen(sim_str(r.json, "metadata.name")), 63);
    ck_assert(strncmp(sim_str(r.json, "metadata.name"), prefix, 58) == 0);
    sim_reply_free(&r);

    r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps?dryRun=All",
                "{\"metadata\":{\"name\":\"dry\"}}");
    ck_assert_int_eq(r.status, 201);
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/api/v1/namespaces/default/configmaps/dry", NULL);
    ck_assert_int_eq(r.status, 404);
    sim_reply_free(&r);
}
END_TEST

static void make_cm(const char *name, const char *labels)
{
    char body[512];
    snprintf(body, sizeof body, "{\"metadata\":{\"name\":\"%s\",\"labels\":%s}}", name, labels);
    struct sim_reply r = sim_req(S, "POST", "/api/v1/namespaces/default/configmaps", body);
    ck_assert_int_eq(r.status, 201);
    sim_reply_free(&r);
}

static int list_count(const char *query)
{
    char path[512];
    snprintf(path, sizeof path, "/api/v1/namespaces/default/configmaps?%s", query);
    struct sim_reply r = sim_req(S, "GET", path, NULL);
    ck_assert_msg(r.status == 200, "%s: %ld %s", query, r.status, r.body);
    int n = (int)json_array_size(json_object_get(r.json, "items"));
    sim_reply_free(&r);
    return n;
}

START_TEST(test_selectors)
{
    make_cm("a1", "{\"executor\":\"tycho\",\"username\":\"alice\"}");
    make_cm("b1", "{\"executor\":\"tycho\",\"username\":\"bob\",\"gpu\":\"yes\"}");
    make_cm("c1", "{\"username\":\"carol\"}");
    ck_assert_int_eq(list_count("labelSelector=executor%3Dtycho"), 2);
    ck_assert_int_eq(list_count("labelSelector=executor%3D%3Dtycho%2Cusername%3Dalice"), 1);
    ck_assert_int_eq(list_count("labelSelector=executor%21%3Dtycho"), 1);
    ck_assert_int_eq(list_count("labelSelector=username+in+%28alice%2Cbob%29%2C%21gpu"), 1);
    ck_assert_int_eq(list_count("labelSelector=username%20notin%20(alice)"), 2);
    ck_assert_int_eq(list_count("labelSelector=gpu"), 1);
    ck_assert_int_eq(list_count("labelSelector=%21executor"), 1);
    ck_assert_int_eq(list_count("fieldSelector=metadata.name%3Db1"), 1);
    ck_assert_int_eq(list_count("fieldSelector=metadata.name%21%3Db1"), 2);

    struct sim_reply r =
        sim_req(S, "GET", "/api/v1/namespaces/default/configmaps?labelSelector=a%3D%3D%3D", NULL);
    ck_assert_int_eq(r.status, 400);
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/api/v1/namespaces/default/configmaps?fieldSelector=spec.x%3D1", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(sim_str(r.json, "message"), "field label not supported: spec.x");
    sim_reply_free(&r);

    /* All-namespace list. */
    r = sim_req(S, "GET", "/api/v1/configmaps?labelSelector=executor%3Dtycho", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 2);
    sim_reply_free(&r);

    /* Selectors that pin a label are answered from an index: it follows
     * relabelling and deletion. */
    r = sim_req_full(S, "PATCH", "/api/v1/namespaces/default/configmaps/a1",
                     "{\"metadata\":{\"labels\":{\"username\":\"dave\"}}}",
                     "application/merge-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    ck_assert_int_eq(list_count("labelSelector=username%3Dalice"), 0);
    ck_assert_int_eq(list_count("labelSelector=username+in+%28dave%29%2Cexecutor%3Dtycho"), 1);
    ck_assert_int_eq(list_count("labelSelector=executor%3Dtycho%2Cusername%3Dbob%2Cgpu%3Dno"), 0);
    r = sim_req(S, "DELETE", "/api/v1/namespaces/default/configmaps/b1", NULL);
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    ck_assert_int_eq(list_count("labelSelector=username%3Dbob"), 0);
    make_cm("b1", "{\"executor\":\"tycho\",\"username\":\"bob\",\"gpu\":\"yes\"}");
    ck_assert_int_eq(list_count("labelSelector=username%3Dbob"), 1);

    /* deletecollection with a selector */
    r = sim_req(S, "DELETE", "/api/v1/namespaces/default/configmaps?labelSelector=executor%3Dtycho",
                NULL);
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    ck_assert_int_eq(list_count("labelSelector="), 1);
}
END_TEST

START_TEST(test_paging)
{
    for (int i = 0; i < 7; i++) {
        char n[16];
        snprintf(n, sizeof n, "p%d", i);
        make_cm(n, "{\"page\":\"yes\"}");
    }
    char path[1024] = "/api/v1/namespaces/default/configmaps?limit=3&labelSelector=page";
    int seen = 0, pages = 0;
    char first_rv[32] = "";
    for (;;) {
        struct sim_reply r = sim_req(S, "GET", path, NULL);
        ck_assert_int_eq(r.status, 200);
        seen += (int)json_array_size(json_object_get(r.json, "items"));
        pages++;
        const char *rv = sim_str(r.json, "metadata.resourceVersion");
        if (!first_rv[0])
            snprintf(first_rv, sizeof first_rv, "%s", rv);
        else
            ck_assert_str_eq(rv, first_rv);
        const char *cont = sim_str(r.json, "metadata.continue");
        if (!cont) {
            sim_reply_free(&r);
            break;
        }
        char *esc = curl_easy_escape(NULL, cont, 0);
        snprintf(path, sizeof path,
                 "/api/v1/namespaces/default/configmaps?limit=3&labelSelector=page&continue=%s",
                 esc);
        curl_free(esc);
        sim_reply_free(&r);
        ck_assert_int_lt(pages, 10);
    }
    ck_assert_int_eq(seen, 7);
    ck_assert_int_eq(pages, 3);
    struct sim_reply r =
        sim_req(S, "GET", "/api/v1/namespaces/default/configmaps?limit=3&continue=bogus!", NULL);
    ck_assert_int_eq(r.status, 410);
    ck_assert_str_eq(sim_str(r.json, "reason"), "Expired");
    sim_reply_free(&r);
}
END_TEST

START_TEST(test_patch)
{
    const char *dep = "/apis/apps/v1/namespaces/default/deployments";
    struct sim_reply r = sim_req(S, "POST", dep, sim_deploy_json("web", "alice", 0, "nginx:1"));
    ck_assert_int_eq(r.status, 201);
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "metadata.generation")), 1);
    sim_reply_free(&r);
    const char *obj = "/apis/apps/v1/namespaces/default/deployments/web";

    r = sim_req_full(S, "PATCH", obj, "{\"metadata\":{\"labels\":{\"x\":\"1\",\"username\":null}}}",
                     "application/merge-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "metadata.labels.x"), "1");
    ck_assert_ptr_null(sim_str(r.json, "metadata.labels.username"));
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "metadata.generation")), 1);
    sim_reply_free(&r);

    /* Strategic merge: containers merge by name instead of being replaced. */
    r = sim_req_full(S, "PATCH", obj,
                     "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"side\","
                     "\"image\":\"busybox\"},{\"name\":\"main\",\"image\":\"nginx:2\"}]}}}}",
                     "application/strategic-merge-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 200);
    json_t *cs = sim_at(r.json, "spec.template.spec.containers");
    ck_assert_int_eq(json_array_size(cs), 2);
    ck_assert_str_eq(sim_str(cs, "0.name"), "main");
    ck_assert_str_eq(sim_str(cs, "0.image"), "nginx:2");
    ck_assert_int_eq(json_integer_value(sim_at(cs, "0.ports.0.containerPort")), 8888);
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "metadata.generation")), 2);
    sim_reply_free(&r);

    /* Merge patch replaces lists wholesale. */
    r = sim_req_full(S, "PATCH", obj,
                     "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"main\","
                     "\"image\":\"nginx:3\"}]}}}}",
                     "application/merge-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(json_array_size(sim_at(r.json, "spec.template.spec.containers")), 1);
    sim_reply_free(&r);

    r = sim_req_full(S, "PATCH", obj,
                     "[{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":0},"
                     "{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":2},"
                     "{\"op\":\"add\",\"path\":\"/metadata/labels/a~1b\",\"value\":\"v\"}]",
                     "application/json-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "spec.replicas")), 2);
    ck_assert_str_eq(sim_str(json_object_get(sim_at(r.json, "metadata"), "labels"), "x"), "1");
    ck_assert_ptr_nonnull(json_object_get(sim_at(r.json, "metadata.labels"), "a/b"));
    sim_reply_free(&r);

    r = sim_req_full(S, "PATCH", obj, "[{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":9}]",
                     "application/json-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 422);
    sim_reply_free(&r);

    r = sim_req_full(S, "PATCH", obj, "{}", "text/plain", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 415);
    ck_assert_str_eq(sim_str(r.json, "reason"), "UnsupportedMediaType");
    sim_reply_free(&r);

    /* A patch carrying a stale resourceVersion is a precondition. */
    r = sim_req_full(S, "PATCH", obj, "{\"metadata\":{\"resourceVersion\":\"1\"}}",
                     "application/merge-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 409);
    sim_reply_free(&r);

    /* The selector is immutable. */
    r = sim_req_full(S, "PATCH", obj, "{\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"z\"}}}}",
                     "application/merge-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 422);
    sim_reply_free(&r);

    /* Scale subresource. */
    r = sim_req(S, "GET", "/apis/apps/v1/namespaces/default/deployments/web/scale", NULL);
    ck_assert_str_eq(sim_str(r.json, "kind"), "Scale");
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "spec.replicas")), 2);
    sim_reply_free(&r);
}
END_TEST

START_TEST(test_table)
{
    struct sim_reply r = sim_req(S, "POST", "/api/v1/namespaces/default/services",
                                 "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"selector\":{\"app\":"
                                 "\"web\"},\"ports\":[{\"port\":80,\"targetPort\":8888}]}}");
    ck_assert_int_eq(r.status, 201);
    ck_assert_ptr_nonnull(strstr(sim_str(r.json, "spec.clusterIP"), "10.96."));
    sim_reply_free(&r);
    r = sim_req_full(S, "GET", "/api/v1/namespaces/default/services", NULL, NULL,
                     "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", SIM_TOKEN);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "kind"), "Table");
    ck_assert_str_eq(sim_str(r.json, "columnDefinitions.1.name"), "Type");
    ck_assert_str_eq(sim_str(r.json, "rows.0.cells.0"), "web");
    ck_assert_str_eq(sim_str(r.json, "rows.0.cells.4"), "80/TCP");
    ck_assert_str_eq(sim_str(r.json, "rows.0.cells.6"), "app=web");
    ck_assert_str_eq(sim_str(r.json, "rows.0.object.kind"), "PartialObjectMetadata");
    sim_reply_free(&r);
}
END_TEST

/* Malformed requests get a status and a Status body, never a crash or a hang. */
START_TEST(test_malformed)
{
    static const struct {
        const char *method, *path, *body, *ctype;
        long status;
    } cases[] = {
        {"GET", "/api/v1/namespaces/default/pods/../../x", NULL, NULL, 404},
        {"GET", "/apis/apps/v1/namespaces//deployments", NULL, NULL, 404},
        {"GET", "/api/v1/namespaces/default/pods?labelSelector=%ZZ", NULL, NULL, 400},
        {"GET", "/api/v1/namespaces/default/pods?limit=-1", NULL, NULL, 400},
        {"GET", "/api/v1/namespaces/default/pods?limit=abc", NULL, NULL, 400},
        {"GET", "/api/v1/namespaces/default/pods?continue=e30=", NULL, NULL, 410},
        {"GET", "/api/v1/namespaces/default/pods?watch=1&labelSelector=(", NULL, NULL, 400},
        {"GET", "/api/v1/namespaces/default/pods/x/exec", NULL, NULL, 404},
        {"GET", "/api/v1/namespaces/default/pods?watch=1&resourceVersion=abc", NULL, NULL, 400},
        {"GET", "/api/v2/pods", NULL, NULL, 404},
        {"GET", "/apis/apps/v2/deployments", NULL, NULL, 404},
        {"PUT", "/api/v1/namespaces/default/pods", "{}", NULL, 405},
        {"POST", "/apis/apps/v1/namespaces/default/deployments", "[]", NULL, 400},
        {"POST", "/apis/apps/v1/namespaces/default/deployments", "\"s\"", NULL, 400},
        {"POST", "/apis/apps/v1/namespaces/default/deployments", "{\"metadata\":5}", NULL, 400},
        {"POST", "/apis/apps/v1/namespaces/default/deployments", "{\"metadata\":{\"name\":5}}",
         NULL, 422},
        {"POST", "/api/v1/namespaces/default/configmaps",
         "{\"metadata\":{\"name\":\"x\",\"labels\":[1]}}", NULL, 201},
        {"POST", "/apis/apps/v1/namespaces/default/deployments",
         "{\"metadata\":{\"name\":\"y\"},\"spec\":\"x\"}", NULL, 422},
        {"POST", "/apis/apps/v1/namespaces/default/deployments",
         "{\"metadata\":{\"name\":\"y\"},\"spec\":{\"replicas\":\"one\"}}", NULL, 400},
        {"POST", "/apis/apps/v1/namespaces/default/deployments",
         "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"y\"}}", NULL, 400},
        {"POST", "/api/v1/namespaces/default/pods",
         "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":\"x\"}}", NULL, 422},
        {"POST", "/api/v1/pods", "{\"metadata\":{\"name\":\"p\"}}", NULL, 405},
        {"POST", "/api/v1/namespaces/default/configmaps", "", NULL, 400},
        {"POST", "/api/v1/namespaces/default/configmaps", "k8s\001",
         "application/vnd.kubernetes.protobuf", 415},
        {"PATCH", "/api/v1/namespaces/default/configmaps/x", "[{\"op\":\"add\",\"path\":\"x\"}]",
         "application/json-patch+json", 422},
        {"PATCH", "/api/v1/namespaces/default/configmaps/x",
         "[{\"op\":\"move\",\"from\":\"/nope\",\"path\":\"/a\"}]", "application/json-patch+json",
         422},
        {"PATCH", "/api/v1/namespaces/default/configmaps/x", "{\"a\":1}",
         "application/json-patch+json", 422},
        {"PATCH", "/api/v1/namespaces/default/configmaps/x",
         "[{\"op\":\"remove\",\"path\":"
         "\"/metadata\"}]",
         "application/json-patch+json", 200},
        {"PATCH", "/api/v1/namespaces/default/configmaps/x", "5", "application/merge-patch+json",
         400},
        {"PATCH", "/api/v1/namespaces/default/configmaps/x", "{\"metadata\":{\"name\":\"z\"}}",
         "application/merge-patch+json", 400},
        {"PUT", "/api/v1/namespaces/default/configmaps/x", "{\"metadata\":{\"name\":\"q\"}}", NULL,
         400},
        {"DELETE", "/api/v1/namespaces/default/configmaps/x", "{garbage", NULL, 400},
        {"DELETE", "/api/v1/namespaces/default/configmaps/x", "[1]", NULL, 400},
        {"DELETE", "/api/v1/namespaces/default/configmaps/x?gracePeriodSeconds=soon", NULL, NULL,
         400},
        {"DELETE", "/api/v1/namespaces/default/configmaps/x?propagationPolicy=Sideways", NULL, NULL,
         422},
        {"DELETE", "/api/v1/namespaces/default/configmaps/x",
         "{\"orphanDependents\":false,\"propagationPolicy\":\"Background\"}", NULL, 422},
        {"DELETE", "/api/v1/namespaces/default/configmaps/x?gracePeriodSeconds=-5", NULL, NULL,
         200},
        {"DELETE", "/api/v1/namespaces/default/configmaps/x", NULL, NULL, 404},
        {"DELETE", "/api/v1/namespaces/default/configmaps?propagationPolicy=Sideways", NULL, NULL,
         422},
        {"POST", "/apis/apps/v1/namespaces/default/deployments/x/scale", "{}", NULL, 404},
        /* The admin endpoints answer errors with a Status too. */
        {"GET", "/_sim/nope", NULL, NULL, 404},
        {"POST", "/_sim/metrics", "{}", NULL, 400},
        {"POST", "/_sim/metrics", "{\"labelSelector\":\"a in (\",\"cpu\":1}", NULL, 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sim_reply r = sim_req_full(S, cases[i].method, cases[i].path, cases[i].body,
                                          cases[i].ctype, NULL, SIM_TOKEN);
        ck_assert_msg(r.status == cases[i].status, "case %zu %s %s: %ld %s", i, cases[i].method,
                      cases[i].path, r.status, r.body);
        if (r.status >= 400)
            ck_assert_msg(sim_str(r.json, "kind") && !strcmp(sim_str(r.json, "kind"), "Status"),
                          "case %zu: %s", i, r.body);
        sim_reply_free(&r);
    }
    char path[512] = "/api/v1/namespaces/default/configmaps/";
    memset(path + strlen(path), 'a', 300);
    path[sizeof path - 1] = 0;
    struct sim_reply r = sim_req(S, "GET", path, NULL);
    ck_assert_int_eq(r.status, 404);
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/version", NULL);
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
}
END_TEST

/* Names and selectors that are not UTF-8 get a Status quoting them with U+FFFD
 * (the server used to crash: its Status could not be encoded). */
START_TEST(test_invalid_utf8)
{
    static const struct {
        const char *path;
        long status;
        const char *needle;
    } cases[] = {
        {"/api/v1/namespaces/default/configmaps/a%ff%c3", 404, "\"a\xef\xbf\xbd\xef\xbf\xbd\""},
        {"/api/v1/namespaces/default/pods?labelSelector=%ff%3D1", 400, "\xef\xbf\xbd"},
        {"/api/v1/namespaces/%ed%a0%80", 404, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sim_reply r = sim_req(S, "GET", cases[i].path, NULL);
        const char *msg = sim_str(r.json, "message");
        ck_assert_msg(r.status == cases[i].status && msg && strstr(msg, cases[i].needle),
                      "case %zu %s: %ld %s", i, cases[i].path, r.status, r.body);
        sim_reply_free(&r);
    }
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("kubesim_api");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_auth);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_discovery);
    tcase_add_test(tc, test_aggregated_discovery);
    tcase_add_test(tc, test_openapi);
    tcase_add_test(tc, test_field_validation);
    tcase_add_test(tc, test_streams_unsupported);
    tcase_add_test(tc, test_crud_configmap);
    tcase_add_test(tc, test_validation);
    tcase_add_test(tc, test_generate_name_and_dry_run);
    tcase_add_test(tc, test_selectors);
    tcase_add_test(tc, test_paging);
    tcase_add_test(tc, test_patch);
    tcase_add_test(tc, test_table);
    tcase_add_test(tc, test_malformed);
    suite_add_tcase(s, tc);
    int rc = ty_run_suite(s);
    curl_global_cleanup();
    return rc;
}
