/*
 * test_policy.c - the launch policy: the config section (defaults, positions
 * in errors, single keys, the round trip through JSON, checks across keys)
 * and every decision (apps, entry fields, service accounts, root, claims,
 * host access, labels, resources, scheduling) on hand-written registry
 * entries and compiled objects.
 */
#include "policy/policy.h"
#include "ty_check.h"

#include "util/quantity.h"

#include <string.h>

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    ck_assert_msg(v != NULL, "bad JSON in the test: %s: %s", je.text, text);
    return v;
}

/* Parses yaml (a config file with a `policy:` section) over the defaults. */
static int from_yaml(struct policy *p, const char *yaml, struct ty_error *err)
{
    struct doc *d = NULL;
    ck_assert_ok(doc_parse(&d, "tycho.yaml", yaml, strlen(yaml), NULL, err), err);
    policy_init(p);
    int rc = policy_parse(p, json_object_get(doc_root(d), "policy"), d, err);
    doc_free(d);
    return rc;
}

/* Layers a JSON policy mapping over p. */
static int parse_json(struct policy *p, const char *text, struct ty_error *err)
{
    json_t *v = J(text);
    int rc = policy_parse(p, v, NULL, err);
    json_decref(v);
    return rc;
}

/* ---- the config section ------------------------------------------------ */

START_TEST(defaults)
{
    struct policy p;
    policy_init(&p);
    ck_assert(!p.allow_root);
    ck_assert(!policy_root_allowed(&p, "anything"));
    ck_assert_str_eq(p.server_service_account, "tycho");
    ck_assert_str_eq(p.server_claim, "tycho-data");
    ck_assert_str_eq(p.compose.home_claim, "stdnfs");
    ck_assert(p.compose.ambassador && p.compose.network_policy);
    ck_assert(p.unregistered_apps);
    ck_assert_int_eq(p.max.cpu_millis, -1);
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_ok(policy_validate(&p, &err), &err);
    policy_cleanup(&p);
}
END_TEST

START_TEST(parse_every_kind_of_key)
{
    struct ty_error err = TY_ERROR_INIT;
    struct policy p;
    const char *yaml = "policy:\n"
                       "  ingress: none\n"
                       "  home_claim: none\n"
                       "  proxy_labels: {app: proxy, tier: edge}\n"
                       "  proxy_namespace: ingress\n"
                       "  service_accounts: [spark, dask]\n"
                       "  claims:\n"
                       "    - projects\n"
                       "    - scratch/users/{username}\n"
                       "    - {claim: shared-data, roles: [platform, admin]}\n"
                       "  max_resources: {cpu: 8, memory: 64Gi, gpus: 2}\n"
                       "  default_resources: {cpu: 500m, memory: 1G}\n"
                       "  node_selector: {pool: apps}\n"
                       "  tolerations: [{key: apps, operator: Exists, effect: NoSchedule}]\n"
                       "  priority_class: users\n"
                       "  apps:\n"
                       "    webtop: {allow_root: true, node_selector: {pool: desktops}}\n"
                       "  profiles:\n"
                       "    - {name: gpu, min: {gpus: 1}, node_selector: {pool: gpu}}\n"
                       "  service_type: NodePort\n"
                       "  create_pvcs: true\n";
    ck_assert_ok(from_yaml(&p, yaml, &err), &err);
    ck_assert(!p.compose.ambassador);
    ck_assert_ptr_null(p.compose.home_claim);
    ck_assert_str_eq(p.compose.proxy_selector, "app=proxy,tier=edge");
    ck_assert_str_eq(p.compose.proxy_namespace, "ingress");
    ck_assert_str_eq(p.service_accounts[1], "dask");
    ck_assert_int_eq(p.n_claims, 3);
    ck_assert_ptr_null(p.claims[0].sub_path);
    ck_assert_str_eq(p.claims[1].claim, "scratch");
    ck_assert_str_eq(p.claims[1].sub_path, "users/{username}");
    ck_assert_uint_eq(p.claims[2].roles, (1u << POLICY_ROLE_PLATFORM) | (1u << POLICY_ROLE_ADMIN));
    ck_assert_int_eq(p.max.cpu_millis, 8000);
    ck_assert_int_eq(p.max.memory_bytes, 64LL << 30);
    ck_assert_int_eq(p.max.gpus, 2);
    ck_assert_int_eq(p.defaults.cpu_millis, 500);
    ck_assert(policy_root_allowed(&p, "webtop"));
    ck_assert(!policy_root_allowed(&p, "jupyter"));
    ck_assert_str_eq(p.compose.service_type, "NodePort");
    ck_assert(p.compose.create_pvcs);
    ck_assert_int_eq(p.n_profiles, 1);

    /* The printed policy parses back to itself. */
    json_t *a = policy_to_json(&p);
    struct policy q;
    ck_assert_ok(policy_copy(&q, &p, &err), &err);
    json_t *b = policy_to_json(&q);
    ck_assert_msg(json_equal(a, b), "round trip differs");
    json_decref(a);
    json_decref(b);
    policy_cleanup(&q);
    policy_cleanup(&p);
}
END_TEST

START_TEST(errors_name_the_place)
{
    static const struct {
        const char *yaml, *needle;
    } cases[] = {
        {"policy:\n  home_claims: x\n", "tycho.yaml:2:3: policy.home_claims: unknown key"},
        {"policy:\n  allow_root: maybe\n", "tycho.yaml:2:15: policy.allow_root: expected true"},
        {"policy:\n  claims:\n    - ok\n    - ../etc\n",
         "tycho.yaml:4:7: policy.claims[1]: expected a claim name"},
        {"policy:\n  claims: [home/../bob]\n", "policy.claims[0]: sub-path '../bob'"},
        {"policy:\n  claims: [{claim: x, roles: [root]}]\n",
         "policy.claims[0].roles: expected user, platform or admin"},
        {"policy:\n  service_accounts: [ok, Not_OK]\n",
         "tycho.yaml:2:26: policy.service_accounts[1]: 'Not_OK' is not a service account"},
        {"policy:\n  max_resources: {cpu: lots}\n",
         "tycho.yaml:2:24: policy.max_resources.cpu: expected a CPU amount"},
        {"policy:\n  max_resources: {disk: 1}\n", "policy.max_resources.disk: unknown key"},
        {"policy:\n  ingress: traefik\n", "tycho.yaml:2:12: policy.ingress: expected"},
        {"policy:\n  home_parent: home\n", "tycho.yaml:2:16: policy.home_parent must be absolute"},
        {"policy:\n  tolerations: [{key: a, operator: Maybe}]\n",
         "policy.tolerations[0].operator: not a toleration field"},
        {"policy:\n  apps: {webtop: {allow_rot: true}}\n",
         "tycho.yaml:2:19: policy.apps.webtop.allow_rot: unknown key"},
        {"policy:\n  proxy_labels: {app: \"a b\"}\n", "policy.proxy_labels: 'app' is not"},
        {"policy: [a]\n", "policy: expected a mapping"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ty_error err = TY_ERROR_INIT;
        struct policy p;
        ck_assert_fails_with(from_yaml(&p, cases[i].yaml, &err), &err, TY_EINVAL, cases[i].needle);
        /* A bad file changes nothing. */
        ck_assert_str_eq(p.compose.home_claim, "stdnfs");
        ck_assert_int_eq(p.n_claims, 0);
        policy_cleanup(&p);
    }
}
END_TEST

START_TEST(single_keys)
{
    struct ty_error err = TY_ERROR_INIT;
    struct policy p;
    policy_init(&p);
    ck_assert_ok(policy_set(&p, "home_claim", "none", &err), &err);
    ck_assert_ptr_null(p.compose.home_claim);
    ck_assert_ok(policy_set(&p, "service_accounts", "spark, dask", &err), &err);
    ck_assert_str_eq(p.service_accounts[0], "spark");
    ck_assert_str_eq(p.service_accounts[1], "dask");
    ck_assert_ok(policy_set(&p, "claims", "projects,scratch/{username}", &err), &err);
    ck_assert_int_eq(p.n_claims, 2);
    ck_assert_ok(policy_set(&p, "max_resources.cpu", "4", &err), &err);
    ck_assert_ok(policy_set(&p, "max_resources.memory", "16Gi", &err), &err);
    ck_assert_int_eq(p.max.cpu_millis, 4000);
    ck_assert_int_eq(p.max.memory_bytes, 16LL << 30);
    ck_assert_ok(policy_set(&p, "proxy_labels", "app=edge", &err), &err);
    ck_assert_str_eq(p.compose.proxy_selector, "app=edge");
    ck_assert_ok(policy_set(&p, "allow_root", "yes", &err), &err);
    ck_assert(p.allow_root);
    ck_assert_ok(policy_set(&p, "init_uid", "1000", &err), &err);
    ck_assert_int_eq(p.compose.init_uid, 1000);
    ck_assert_fails_with(policy_set(&p, "home_claims", "x", &err), &err, TY_ENOTFOUND,
                         "policy.home_claims");
    ck_assert_fails_with(policy_set(&p, "network_policy", "perhaps", &err), &err, TY_EINVAL,
                         "policy.network_policy: expected true or false");
    ck_assert_fails_with(policy_set(&p, "max_resources.gpus", "-1", &err), &err, TY_EINVAL,
                         "policy.max_resources.gpus");
    for (size_t i = 0; policy_set_key(i); i++)
        ck_assert_ptr_nonnull(strchr("abcdefghijklmnopqrstuvwxyz", policy_set_key(i)[0]));
    policy_cleanup(&p);
}
END_TEST

START_TEST(validation_across_keys)
{
    struct ty_error err = TY_ERROR_INIT;
    struct policy p;
    ck_assert_ok(from_yaml(&p, "policy: {home_claim: tycho-data}\n", &err), &err);
    ck_assert_fails_with(policy_validate(&p, &err), &err, TY_EINVAL, "every user's home");
    policy_cleanup(&p);
    ck_assert_ok(from_yaml(&p, "policy: {claims: [tycho-data/x]}\n", &err), &err);
    ck_assert_fails_with(policy_validate(&p, &err), &err, TY_EINVAL, "server's own claim");
    policy_cleanup(&p);
    ck_assert_ok(from_yaml(&p, "policy: {service_accounts: [tycho]}\n", &err), &err);
    ck_assert_fails_with(policy_validate(&p, &err), &err, TY_EINVAL, "server's own service");
    policy_cleanup(&p);
    ck_assert_ok(from_yaml(&p, "policy: {proxy_labels: {}}\n", &err), &err);
    ck_assert_fails_with(policy_validate(&p, &err), &err, TY_EINVAL, "no proxy could reach");
    policy_cleanup(&p);
    ck_assert_ok(from_yaml(&p, "policy: {proxy_labels: {}, network_policy: false}\n", &err), &err);
    ck_assert_ok(policy_validate(&p, &err), &err);
    policy_cleanup(&p);
}
END_TEST

/* ---- decisions before compiling ----------------------------------------- */

static struct policy_launch launch(enum policy_role role, const char *app, const json_t *entry)
{
    struct policy_launch l;
    memset(&l, 0, sizeof(l));
    l.role = role;
    l.username = "alice";
    l.app_id = app;
    l.entry = entry;
    return l;
}

START_TEST(apps_visibility_and_unregistered)
{
    struct ty_error err = TY_ERROR_INIT;
    struct policy p;
    struct compose_policy view;
    json_t *pub = J("{}"), *adm = J("{\"visibility\": \"admin\"}"),
           *few = J("{\"users\": [\"bob\"]}");
    policy_init(&p);
    struct policy_launch l = launch(POLICY_ROLE_USER, "web", pub);
    ck_assert_ok(policy_launch_check(&view, &p, &l, &err), &err);
    l.entry = adm;
    ck_assert_fails_with(policy_launch_check(&view, &p, &l, &err), &err, TY_ENOTFOUND,
                         "unknown app 'web'");
    l.role = POLICY_ROLE_PLATFORM;
    ck_assert_fails_with(policy_launch_check(&view, &p, &l, &err), &err, TY_ENOTFOUND, "web");
    l.role = POLICY_ROLE_ADMIN;
    ck_assert_ok(policy_launch_check(&view, &p, &l, &err), &err);
    l = launch(POLICY_ROLE_PLATFORM, "web", few);
    ck_assert_fails_with(policy_launch_check(&view, &p, &l, &err), &err, TY_ENOTFOUND, "web");
    l.username = "bob";
    ck_assert_ok(policy_launch_check(&view, &p, &l, &err), &err);
    /* Names the registry lacks: platform and admin only, while allowed. */
    l = launch(POLICY_ROLE_USER, "mine", NULL);
    l.spec_from_request = true;
    ck_assert_fails_with(policy_launch_check(&view, &p, &l, &err), &err, TY_ENOTFOUND, "mine");
    l.role = POLICY_ROLE_PLATFORM;
    ck_assert_ok(policy_launch_check(&view, &p, &l, &err), &err);
    p.unregistered_apps = false;
    ck_assert_fails_with(policy_launch_check(&view, &p, &l, &err), &err, TY_ENOTFOUND, "mine");
    json_decref(pub);
    json_decref(adm);
    json_decref(few);
    policy_cleanup(&p);
}
END_TEST

START_TEST(entry_fields_service_accounts_root)
{
    struct ty_error err = TY_ERROR_INIT;
    struct policy p;
    struct compose_policy view;
    json_t *entry = J("{\"serviceAccount\": \"sa-of-web\"}");
    json_t *ov = J("{\"conn_string\": \"lab\"}");
    policy_init(&p);
    p.compose.allow_host_path = true;
    struct policy_launch l = launch(POLICY_ROLE_USER, "web", entry);
    l.overlay = ov;
    ck_assert_fails_with(policy_launch_check(&view, &p, &l, &err), &err, TY_EFORBIDDEN,
                         "conn_string: registry-entry fields");
    l.role = POLICY_ROLE_PLATFORM;
    ck_assert_ok(policy_launch_check(&view, &p, &l, &err), &err);
    json_object_set_new(ov, "count", json_integer(9));
    ck_assert_fails_with(policy_launch_check(&view, &p, &l, &err), &err, TY_EINVAL,
                         "'count' cannot be sent");
    json_object_del(ov, "count");
    /* Service accounts: the entry's own, "default", listed; never the server's. */
    static const struct {
        const char *sa;
        int code;
    } sas[] = {{"sa-of-web", 0},
               {"default", 0},
               {"", 0},
               {"tycho", TY_EFORBIDDEN},
               {"spark", TY_EFORBIDDEN}};
    for (size_t i = 0; i < sizeof(sas) / sizeof(sas[0]); i++) {
        json_object_set_new(ov, "serviceAccount", json_string(sas[i].sa));
        int rc = policy_launch_check(&view, &p, &l, &err);
        ck_assert_msg(rc == sas[i].code, "%s: %d %s", sas[i].sa, rc, err.msg);
    }
    ck_assert_ok(policy_set(&p, "service_accounts", "spark", &err), &err);
    ck_assert_ok(policy_launch_check(&view, &p, &l, &err), &err);
    json_object_del(ov, "serviceAccount");
    /* Root from the overlay or the entry, unless the app may. */
    json_object_set_new(ov, "securityContext", J("{\"runAsUser\": \"0\"}"));
    ck_assert_fails_with(policy_launch_check(&view, &p, &l, &err), &err, TY_EFORBIDDEN,
                         "app web may not run as root");
    ck_assert_ok(parse_json(&p, "{\"apps\": {\"web\": {\"allow_root\": true}}}", &err), &err);
    ck_assert_ok(policy_launch_check(&view, &p, &l, &err), &err);
    ck_assert(view.allow_root && view.allow_host_path);
    /* A spec sent with the request never gets the host. */
    l.spec_from_request = true;
    ck_assert_ok(policy_launch_check(&view, &p, &l, &err), &err);
    ck_assert(!view.allow_host_path && !view.allow_privileged && !view.allow_host_network);
    json_decref(entry);
    json_decref(ov);
    policy_cleanup(&p);
}
END_TEST

/* ---- the compiled objects ------------------------------------------------- */

/* A List with one Deployment whose pod is pod (JSON text), plus extra items. */
static json_t *list_with(const char *pod, const char *extra)
{
    char buf[4096];
    snprintf(buf, sizeof(buf),
             "{\"kind\": \"List\", \"items\": [%s%s{\"kind\": \"Deployment\", \"metadata\": "
             "{\"name\": \"web-x\"}, \"spec\": {\"template\": {\"spec\": %s}}}]}",
             extra ? extra : "", extra ? "," : "", pod);
    return J(buf);
}

static int objects(const struct policy *p,
                   struct policy_launch *l,
                   const char *pod,
                   const char *extra,
                   struct ty_error *err)
{
    json_t *list = list_with(pod, extra);
    int rc = policy_objects_check(p, l, list, err);
    json_decref(list);
    return rc;
}

#define SAFE_SC "\"securityContext\": {\"runAsNonRoot\": true}"
#define HOME_VOL \
    "\"volumes\": [{\"name\": \"h\", \"persistentVolumeClaim\": {\"claimName\": \"stdnfs\"}}]"
#define MOUNT(sub) "{\"name\": \"h\", \"mountPath\": \"/m\", \"subPath\": \"" sub "\"}"

START_TEST(objects_root_and_host)
{
    struct ty_error err = TY_ERROR_INIT;
    struct policy p;
    policy_init(&p);
    struct policy_launch l = launch(POLICY_ROLE_PLATFORM, "web", NULL);
    ck_assert_ok(objects(&p, &l, "{" SAFE_SC ", \"containers\": [{\"name\": \"a\"}]}", NULL, &err),
                 &err);
    ck_assert_fails_with(objects(&p, &l,
                                 "{" SAFE_SC
                                 ", \"containers\": [{\"name\": \"a\", \"securityContext\": "
                                 "{\"runAsUser\": 0}}]}",
                                 NULL, &err),
                         &err, TY_EFORBIDDEN, "container a runs as root");
    ck_assert_fails_with(objects(&p, &l, "{\"containers\": [{\"name\": \"b\"}]}", NULL, &err), &err,
                         TY_EFORBIDDEN, "container b names no user");
    ck_assert_fails_with(objects(&p, &l,
                                 "{\"securityContext\": {\"runAsUser\": 0}, \"containers\": "
                                 "[{\"name\": \"c\", \"securityContext\": {\"runAsUser\": 1}}], "
                                 "\"initContainers\": [{\"name\": \"i\"}]}",
                                 NULL, &err),
                         &err, TY_EFORBIDDEN, "container i runs as root");
    ck_assert_fails_with(
        objects(&p, &l, "{" SAFE_SC ", \"hostPID\": true, \"containers\": []}", NULL, &err), &err,
        TY_EFORBIDDEN, "hostPID");
    ck_assert_fails_with(objects(&p, &l,
                                 "{" SAFE_SC ", \"serviceAccountName\": \"tycho\", "
                                 "\"containers\": []}",
                                 NULL, &err),
                         &err, TY_EFORBIDDEN, "the server's own");
    ck_assert_fails_with(objects(&p, &l,
                                 "{" SAFE_SC ", \"volumes\": [{\"name\": \"v\", \"hostPath\": "
                                 "{\"path\": \"/etc\"}}], \"containers\": []}",
                                 NULL, &err),
                         &err, TY_EFORBIDDEN, "volume v is a host path");
    ck_assert_fails_with(objects(&p, &l,
                                 "{" SAFE_SC ", \"volumes\": [{\"name\": \"v\", \"secret\": "
                                 "{\"secretName\": \"bob-id-gitea\"}}], \"containers\": []}",
                                 NULL, &err),
                         &err, TY_EFORBIDDEN, "Secret 'bob-id-gitea'");
    ck_assert_ok(objects(&p, &l,
                         "{" SAFE_SC ", \"volumes\": [{\"name\": \"v\", \"secret\": "
                         "{\"secretName\": \"alice-id-gitea\"}}], \"containers\": []}",
                         NULL, &err),
                 &err);
    ck_assert_fails_with(objects(&p, &l,
                                 "{" SAFE_SC ", \"volumes\": [{\"name\": \"v\", \"nfs\": "
                                 "{\"server\": \"x\"}}], \"containers\": []}",
                                 NULL, &err),
                         &err, TY_EFORBIDDEN, "of a kind apps may not mount");
    /* Root where the policy lets the app. */
    p.allow_root = true;
    ck_assert_ok(objects(&p, &l,
                         "{\"securityContext\": {\"runAsUser\": 0}, \"containers\": [{\"name\": "
                         "\"a\"}]}",
                         NULL, &err),
                 &err);
    policy_cleanup(&p);
}
END_TEST

START_TEST(objects_claims)
{
    struct ty_error err = TY_ERROR_INIT;
    struct policy p;
    char pod[1024];
    policy_init(&p);
    ck_assert_ok(policy_set(&p, "claims", "projects,scratch/u/{username}", &err), &err);
    ck_assert_ok(parse_json(&p,
                            "{\"claims\": [\"projects\", \"scratch/u/{username}\", "
                            "{\"claim\": \"ops\", \"roles\": [\"admin\"]}]}",
                            &err),
                 &err);
    struct policy_launch l = launch(POLICY_ROLE_USER, "web", NULL);
    l.spec_from_request = true;
    static const struct {
        const char *claim, *sub;
        bool ok;
    } cases[] = {
        {"stdnfs", "alice", true},       {"stdnfs", "alice/projects", true},
        {"stdnfs", "shared", true},      {"stdnfs", "", false},
        {"stdnfs", "bob", false},        {"stdnfs", "alice-and-bob", false},
        {"stdnfs", "sharedx", false},    {"projects", "", true},
        {"projects", "any/where", true}, {"scratch", "u/alice", true},
        {"scratch", "u/alice/x", true},  {"scratch", "u/bob", false},
        {"scratch", "", false},          {"ops", "", false},
        {"tycho-data", "", false},       {"elsewhere", "", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(pod, sizeof(pod),
                 "{" SAFE_SC ", \"volumes\": [{\"name\": \"h\", \"persistentVolumeClaim\": "
                 "{\"claimName\": \"%s\"}}], \"containers\": [{\"name\": \"a\", "
                 "\"volumeMounts\": [" MOUNT("%s") "]}]}",
                 cases[i].claim, cases[i].sub);
        int rc = objects(&p, &l, pod, NULL, &err);
        ck_assert_msg((rc == 0) == cases[i].ok, "%s/%s: %d %s", cases[i].claim, cases[i].sub, rc,
                      err.msg);
    }
    /* The role counts; a claim the launch creates is its own; the server's
     * is nobody's, even in the registry's spec. */
    l.role = POLICY_ROLE_ADMIN;
    snprintf(pod, sizeof(pod),
             "{" SAFE_SC ", \"volumes\": [{\"name\": \"h\", \"persistentVolumeClaim\": "
             "{\"claimName\": \"ops\"}}], \"containers\": [{\"name\": \"a\", \"volumeMounts\": "
             "[" MOUNT("") "]}]}");
    ck_assert_ok(objects(&p, &l, pod, NULL, &err), &err);
    l.role = POLICY_ROLE_USER;
    snprintf(pod, sizeof(pod),
             "{" SAFE_SC ", \"volumes\": [{\"name\": \"h\", \"persistentVolumeClaim\": "
             "{\"claimName\": \"web-data-alice\"}}], \"containers\": [{\"name\": \"a\", "
             "\"volumeMounts\": [" MOUNT("") "]}]}");
    ck_assert_fails_with(objects(&p, &l, pod, NULL, &err), &err, TY_EFORBIDDEN,
                         "only the claims the server's policy lists");
    ck_assert_ok(objects(&p, &l, pod,
                         "{\"kind\": \"PersistentVolumeClaim\", \"metadata\": {\"name\": "
                         "\"web-data-alice\"}}",
                         &err),
                 &err);
    l.spec_from_request = false;
    snprintf(pod, sizeof(pod),
             "{" SAFE_SC ", \"volumes\": [{\"name\": \"h\", \"persistentVolumeClaim\": "
             "{\"claimName\": \"stdnfs\"}}], \"containers\": [{\"name\": \"a\", \"volumeMounts\": "
             "[" MOUNT("") "]}]}");
    ck_assert_ok(objects(&p, &l, pod, NULL, &err), &err);
    snprintf(pod, sizeof(pod),
             "{" SAFE_SC ", \"volumes\": [{\"name\": \"h\", \"persistentVolumeClaim\": "
             "{\"claimName\": \"tycho-data\"}}], \"containers\": [{\"name\": \"a\", "
             "\"volumeMounts\": [" MOUNT("") "]}]}");
    ck_assert_fails_with(objects(&p, &l, pod, NULL, &err), &err, TY_EFORBIDDEN,
                         "claim 'tycho-data' at /m: it is the server's own");
    policy_cleanup(&p);
}
END_TEST

/* Home layouts: a folder of a shared claim chosen by home_subpath, or a
 * claim per user. */
START_TEST(objects_home_layouts)
{
    struct ty_error err = TY_ERROR_INIT;
    struct policy p;
    char pod[1024];
    struct policy_launch l = launch(POLICY_ROLE_USER, "web", NULL);
    l.spec_from_request = true;
    static const struct {
        const char *yaml, *claim, *sub;
        bool ok;
    } cases[] = {
        {"policy: {home_subpath: \"users/{username}\"}\n", "stdnfs", "users/alice", true},
        {"policy: {home_subpath: \"users/{username}\"}\n", "stdnfs", "users/alice/x", true},
        {"policy: {home_subpath: \"users/{username}\"}\n", "stdnfs", "alice", false},
        {"policy: {home_claim: \"home-{username}\"}\n", "home-alice", "", true},
        {"policy: {home_claim: \"home-{username}\"}\n", "home-alice", "any/thing", true},
        {"policy: {home_claim: \"home-{username}\"}\n", "home-bob", "", false},
        {"policy: {home_claim: \"home-{username}\"}\n", "stdnfs", "alice", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_ok(from_yaml(&p, cases[i].yaml, &err), &err);
        snprintf(pod, sizeof(pod),
                 "{" SAFE_SC ", \"volumes\": [{\"name\": \"h\", \"persistentVolumeClaim\": "
                 "{\"claimName\": \"%s\"}}], \"containers\": [{\"name\": \"a\", "
                 "\"volumeMounts\": [" MOUNT("%s") "]}]}",
                 cases[i].claim, cases[i].sub);
        int rc = objects(&p, &l, pod, NULL, &err);
        ck_assert_msg((rc == 0) == cases[i].ok, "%s %s/%s: %d %s", cases[i].yaml, cases[i].claim,
                      cases[i].sub, rc, err.msg);
        policy_cleanup(&p);
    }
    /* A per-user claim made on demand needs a per-user name. */
    ck_assert_ok(from_yaml(&p, "policy: {home_create: true}\n", &err), &err);
    ck_assert_fails_with(policy_validate(&p, &err), &err, TY_EINVAL,
                         "policy.home_create needs a per-user policy.home_claim");
    policy_cleanup(&p);
    ck_assert_ok(from_yaml(&p,
                           "policy: {home_claim: \"home-{username}\", home_create: true, "
                           "ingress: ingress, ingress_host: \"*.apps.example.org\"}\n",
                           &err),
                 &err);
    ck_assert_ok(policy_validate(&p, &err), &err);
    ck_assert(p.compose.ingress_object && !p.compose.ambassador);
    policy_cleanup(&p);
    ck_assert_fails_with(from_yaml(&p, "policy: {ingress_host: \"a b\"}\n", &err), &err, TY_EINVAL,
                         "policy.ingress_host: 'a b' is not a host name");
    policy_cleanup(&p);
    ck_assert_fails_with(from_yaml(&p, "policy: {home_claim: \"Home_{username}\"}\n", &err), &err,
                         TY_EINVAL, "policy.home_claim: 'Home_{username}' is not");
    policy_cleanup(&p);
}
END_TEST

/* ---- labels ---------------------------------------------------------------- */

START_TEST(labels)
{
    struct ty_error err = TY_ERROR_INIT;
    struct policy p;
    policy_init(&p);
    ck_assert_ok(policy_set(&p, "reserved_labels", "team,ops.example.org/", &err), &err);
    /* The server fills these from the culling policy. */
    p.culler_labels = calloc(2, sizeof(char *));
    p.culler_labels[0] = strdup("keep-alive");
    static const struct {
        const char *key;
        int user, platform;
    } cases[] = {
        {"app-name", 0, 0},
        {"course", 0, 0},
        {"example.org/x", 0, 0},
        {"tycho-guid", TY_EINVAL, TY_EINVAL},
        {"name", TY_EINVAL, TY_EINVAL},
        {"username", TY_EINVAL, TY_EINVAL},
        {"app.kubernetes.io/name", TY_EINVAL, TY_EINVAL},
        {"kubernetes.io/hostname", TY_EINVAL, TY_EINVAL},
        {"node-role.kubernetes.io/x", TY_EINVAL, TY_EINVAL},
        {"k8s.io/x", TY_EINVAL, TY_EINVAL},
        {"tycho.renci.org/x", TY_EINVAL, TY_EINVAL},
        {"notkubernetes.io/x", 0, 0},
        {"team", TY_EINVAL, TY_EINVAL},
        {"ops.example.org/x", TY_EINVAL, TY_EINVAL},
        {"keep-alive", TY_EFORBIDDEN, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int u = policy_label_check(&p, POLICY_ROLE_USER, cases[i].key, "v", &err);
        ck_assert_msg(u == cases[i].user, "user %s: %d %s", cases[i].key, u, err.msg);
        int pl = policy_label_check(&p, POLICY_ROLE_PLATFORM, cases[i].key, NULL, &err);
        ck_assert_msg(pl == cases[i].platform, "platform %s: %d %s", cases[i].key, pl, err.msg);
    }
    /* The proxy's labels, whatever the operator calls them. */
    ck_assert_ok(policy_set(&p, "proxy_labels", "role=gateway", &err), &err);
    ck_assert_fails_with(policy_label_check(&p, POLICY_ROLE_ADMIN, "role", "x", &err), &err,
                         TY_EINVAL, "admits the proxy by it");
    ck_assert_fails_with(policy_label_check(&p, POLICY_ROLE_USER, "keep-alive", "x", &err), &err,
                         TY_EFORBIDDEN, "only platform or admin tokens");
    policy_cleanup(&p);
}
END_TEST

/* ---- resources ------------------------------------------------------------- */

static struct compose_resource_summary
summary(int64_t lcpu, int64_t lmem, int64_t rcpu, int64_t rmem, int64_t gpus, int64_t tcpu)
{
    struct compose_resource_summary s;
    s.main_limits = (struct compose_amounts){lcpu, lmem, gpus};
    s.main_requests = (struct compose_amounts){rcpu, rmem, -1};
    s.total = (struct compose_amounts){tcpu, lmem, gpus};
    return s;
}

START_TEST(resources)
{
    struct ty_error err = TY_ERROR_INIT;
    struct policy p;
    policy_init(&p);
    struct compose_resource_summary app = summary(2000, 2LL << 30, 500, 1LL << 30, -1, 2000);
    struct compose_amounts req = {1000, -1, -1};
    ck_assert_ok(policy_resources_check(&p, "web", &req, &app, NULL, 1, &err), &err);
    req.cpu_millis = 2500;
    ck_assert_fails_with(policy_resources_check(&p, "web", &req, &app, NULL, 1, &err), &err,
                         TY_EINVAL, "cpu 2500m is above the maximum of 2 for app web");
    req.cpu_millis = 100;
    ck_assert_fails_with(policy_resources_check(&p, "web", &req, &app, NULL, 1, &err), &err,
                         TY_EINVAL, "cpu 100m is below the minimum of 500m");
    req = (struct compose_amounts){-1, 100LL << 40, -1};
    ck_assert_fails_with(policy_resources_check(&p, "web", &req, &app, NULL, 1, &err), &err,
                         TY_EINVAL, "memory 100Ti is above the maximum of 2Gi");
    req = (struct compose_amounts){-1, -1, 1};
    ck_assert_fails_with(policy_resources_check(&p, "web", &req, &app, NULL, 1, &err), &err,
                         TY_EINVAL,
                         "gpu 1 is above the maximum of 0 for app web (its spec asks "
                         "for none)");
    /* The operator's maximum: per session, so a change that sets every
     * container counts them all. */
    ck_assert_ok(policy_set(&p, "max_resources.cpu", "3", &err), &err);
    req = (struct compose_amounts){2000, -1, -1};
    ck_assert_ok(policy_resources_check(&p, "web", &req, &app, NULL, 1, &err), &err);
    ck_assert_fails_with(policy_resources_check(&p, "web", &req, &app, NULL, 2, &err), &err,
                         TY_EINVAL, "cpu 4 (for every container) is above the server's maximum");
    ck_assert_fails_with(policy_resources_check(&p, "new", &req, NULL, NULL, 2, &err), &err,
                         TY_EINVAL, "policy.max_resources.cpu");
    /* The whole session against the app's total and the maximum. */
    struct compose_resource_summary sess = summary(1000, 1LL << 30, 1000, 1LL << 30, -1, 2500);
    ck_assert_fails_with(policy_resources_check(&p, "web", NULL, &app, &sess, 1, &err), &err,
                         TY_EINVAL, "ask for cpu 2500m in all, above the 2 app web's spec");
    sess.total.cpu_millis = 1500;
    sess.total.gpus = 1000;
    ck_assert_fails_with(policy_resources_check(&p, "web", NULL, &app, &sess, 1, &err), &err,
                         TY_EINVAL, "gpu 1000 in all");
    sess.total.gpus = -1;
    ck_assert_ok(policy_resources_check(&p, "web", NULL, &app, &sess, 1, &err), &err);
    sess.total.cpu_millis = 5000;
    ck_assert_fails_with(policy_resources_check(&p, "new", NULL, NULL, &sess, 1, &err), &err,
                         TY_EINVAL, "above the server's maximum of 3");
    policy_cleanup(&p);
}
END_TEST

START_TEST(scheduling)
{
    struct ty_error err = TY_ERROR_INIT;
    struct policy p;
    struct policy_sched s;
    const char *yaml = "policy:\n"
                       "  node_selector: {pool: apps}\n"
                       "  tolerations: [{key: apps, operator: Exists}]\n"
                       "  priority_class: users\n"
                       "  profiles:\n"
                       "    - {name: big, min: {cpu: 4}, node_selector: {size: big}}\n"
                       "    - {name: gpu, min: {gpus: 1}, node_selector: {pool: gpu},\n"
                       "       tolerations: [{key: gpu, operator: Exists}],\n"
                       "       priority_class: gpu-users}\n"
                       "  apps:\n"
                       "    webtop: {node_selector: {desktop: \"yes\"}}\n";
    ck_assert_ok(from_yaml(&p, yaml, &err), &err);
    struct compose_amounts small = {1000, -1, -1}, gpu = {8000, -1, 1};
    policy_sched_for(&s, &p, "jupyter", &small);
    ck_assert_str_eq(json_string_value(json_object_get(s.node_selector, "pool")), "apps");
    ck_assert_ptr_null(json_object_get(s.node_selector, "size"));
    ck_assert_int_eq(json_array_size(s.tolerations), 1);
    ck_assert_str_eq(s.priority_class, "users");
    policy_sched_cleanup(&s);
    policy_sched_for(&s, &p, "webtop", &gpu);
    ck_assert_str_eq(json_string_value(json_object_get(s.node_selector, "pool")), "gpu");
    ck_assert_str_eq(json_string_value(json_object_get(s.node_selector, "size")), "big");
    ck_assert_str_eq(json_string_value(json_object_get(s.node_selector, "desktop")), "yes");
    ck_assert_int_eq(json_array_size(s.tolerations), 2);
    ck_assert_str_eq(s.priority_class, "gpu-users");
    policy_sched_cleanup(&s);
    policy_cleanup(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, parse_every_kind_of_key);
    tcase_add_test(tc, errors_name_the_place);
    tcase_add_test(tc, single_keys);
    tcase_add_test(tc, validation_across_keys);
    tcase_add_test(tc, apps_visibility_and_unregistered);
    tcase_add_test(tc, entry_fields_service_accounts_root);
    tcase_add_test(tc, objects_root_and_host);
    tcase_add_test(tc, objects_claims);
    tcase_add_test(tc, objects_home_layouts);
    tcase_add_test(tc, labels);
    tcase_add_test(tc, resources);
    tcase_add_test(tc, scheduling);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
