/*
 * test_compile.c - the compose compiler, one case per feature, plus the
 * malformed specs that must fail with a position instead of crashing.
 */
#include "compose/compose.h"
#include "ty_check.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/slug.h"

#include <stdio.h>
#include <string.h>

#define GUID "0123456789abcdef0123456789abcdef"

struct tcase_in {
    const char *spec;
    const char *env;
    const char *app;      /* JSON of the registry entry */
    const char *settings; /* JSON */
    const char *user;
    const char *token;
    struct compose_policy *pol;
    const json_t *node_selector, *tolerations; /* scheduling (the launch policy's) */
    const char *priority_class;
};

static int run(json_t **out, const struct tcase_in *t, struct ty_error *err)
{
    json_t *app = t->app ? json_loads(t->app, 0, NULL) : NULL;
    json_t *settings = json_loads(t->settings ? t->settings
                                              : "{\"helx_registry\": \"containers.renci.org\"}",
                                  0, NULL);
    struct compose_input in;
    memset(&in, 0, sizeof(in));
    ck_assert(!t->app || app);
    in.spec_text = t->spec;
    in.spec_len = strlen(t->spec);
    in.spec_name = "spec.yaml";
    in.env_text = t->env;
    in.env_len = t->env ? strlen(t->env) : 0;
    in.env_name = ".env";
    in.app = app;
    in.settings = settings;
    in.app_id = "app";
    in.username = t->user ? t->user : "alice";
    in.guid = GUID;
    in.access_token = t->token;
    in.host = "helx.example.org";
    in.limits = (struct compose_resources)COMPOSE_RESOURCES_NONE;
    in.requests = (struct compose_resources)COMPOSE_RESOURCES_NONE;
    in.policy = t->pol;
    in.node_selector = t->node_selector;
    in.tolerations = t->tolerations;
    in.priority_class = t->priority_class;
    int rc = compose_compile(out, &in, err);
    json_decref(app);
    json_decref(settings);
    return rc;
}

static json_t *ok(const struct tcase_in *t)
{
    json_t *list = NULL;
    struct ty_error err = TY_ERROR_INIT;
    int rc = run(&list, t, &err);
    ck_assert_ok(rc, &err);
    ck_assert_str_eq(json_string_value(json_object_get(list, "kind")), "List");
    return list;
}

static void fails(const struct tcase_in *t, int code, const char *needle)
{
    json_t *list = NULL;
    struct ty_error err = TY_ERROR_INIT;
    int rc = run(&list, t, &err);
    ck_assert_fails_with(rc, &err, code, needle);
    ck_assert_ptr_null(list);
}

/* The nth object of kind in the List (borrowed). */
static json_t *obj(json_t *list, const char *kind, int nth)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        if (!strcmp(json_string_value(json_object_get(it, "kind")), kind) && nth-- == 0)
            return it;
    }
    return NULL;
}

/* A tiny JSON pointer ("/a/0/b"); NULL when absent. */
static json_t *at(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = root;
    for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok && cur;
         tok = strtok_r(NULL, "/", &save)) {
        if (json_is_array(cur))
            cur = json_array_get(cur, strtoul(tok, NULL, 10));
        else
            cur = json_object_get(cur, tok);
    }
    return cur;
}

static const char *str_at(json_t *root, const char *path)
{
    json_t *v = at(root, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *container(json_t *list, int i)
{
    char p[64];
    snprintf(p, sizeof(p), "/spec/template/spec/containers/%d", i);
    return at(obj(list, "Deployment", 0), p);
}

/* The value of env name in container c, or NULL. */
static json_t *env(json_t *c, const char *name)
{
    size_t i;
    json_t *e;
    json_t *found = NULL;
    json_array_foreach(json_object_get(c, "env"), i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "name")), name))
            found = e;
    }
    return found;
}

static const char *env_val(json_t *c, const char *name)
{
    return str_at(env(c, name), "/value");
}

/* ------------------------------------------------------------------ cases */

START_TEST(image_entrypoint_command)
{
    struct tcase_in t = {.spec = "services:\n"
                                 "  app:\n"
                                 "    image: \"{{ helx_registry }}/x/app:1\"\n"
                                 "    entrypoint: /bin/sh -c 'echo \"hi there\"'\n"
                                 "    command: [\"--port\", 8080]\n"
                                 "    working_dir: /work\n"
                                 "    ports: [\"8080:8080\"]\n"};
    json_t *l = ok(&t);
    json_t *c = container(l, 0);
    ck_assert_str_eq(str_at(c, "/image"), "containers.renci.org/x/app:1");
    ck_assert_str_eq(str_at(c, "/command/0"), "/bin/sh");
    ck_assert_str_eq(str_at(c, "/command/2"), "echo \"hi there\"");
    ck_assert_str_eq(str_at(c, "/args/0"), "--port");
    ck_assert_str_eq(str_at(c, "/args/1"), "8080");
    ck_assert_str_eq(str_at(c, "/workingDir"), "/work");
    json_decref(l);
}
END_TEST

static int read_cb(struct ty_buf *out, const char *name, void *payload, struct ty_error *err)
{
    (void)payload;
    if (!strcmp(name, "extra.env")) {
        ty_buf_puts(out, "FROM_FILE=1\nOVERRIDE=file\n");
        return 0;
    }
    return ty_error_set(err, TY_ENOTFOUND, "%s: not found", name);
}

START_TEST(environment_and_interpolation)
{
    const char *spec = "services:\n"
                       "  app:\n"
                       "    image: img\n"
                       "    env_file: extra.env\n"
                       "    environment:\n"
                       "      - A=$HOST_PORT\n"
                       "      - B=${HOST_PORT}/x\n"
                       "      - C=${MISSING:-dflt}\n"
                       "      - D=$${literal}\n"
                       "      - E=${NB_PREFIX}\n"
                       "      - OPTS=--a=b\n"
                       "      - OVERRIDE=env\n"
                       "      - HOST_PORT\n"
                       "    ports: [\"$HOST_PORT:8080\"]\n";
    json_t *app = NULL;
    struct compose_input in;
    memset(&in, 0, sizeof(in));
    in.spec_text = spec;
    in.spec_len = strlen(spec);
    in.spec_name = "spec.yaml";
    in.env_text = "# comment\nexport HOST_PORT=8888\nQ='a b'\n";
    in.env_len = strlen(in.env_text);
    in.read_file = read_cb;
    in.app_id = "app";
    in.username = "alice";
    in.guid = GUID;
    in.limits = (struct compose_resources)COMPOSE_RESOURCES_NONE;
    in.requests = (struct compose_resources)COMPOSE_RESOURCES_NONE;
    struct ty_error err = TY_ERROR_INIT;
    json_t *l = NULL;
    ck_assert_ok(compose_compile(&l, &in, &err), &err);
    json_t *c = container(l, 0);
    ck_assert_str_eq(env_val(c, "A"), "8888");
    ck_assert_str_eq(env_val(c, "B"), "8888/x");
    ck_assert_str_eq(env_val(c, "C"), "dflt");
    ck_assert_str_eq(env_val(c, "D"), "${literal}");
    ck_assert_str_eq(env_val(c, "E"), "${NB_PREFIX}");
    ck_assert_str_eq(env_val(c, "OPTS"), "--a=b");
    ck_assert_str_eq(env_val(c, "FROM_FILE"), "1");
    ck_assert_str_eq(env_val(c, "OVERRIDE"), "env");
    ck_assert_str_eq(env_val(c, "Q"), "a b");
    ck_assert_str_eq(env_val(c, "HOST_PORT"), "8888");
    ck_assert_str_eq(env_val(c, "NB_PREFIX"), "/private/app/alice/" GUID);
    ck_assert_int_eq(json_integer_value(at(c, "/ports/0/containerPort")), 8080);
    json_decref(l);
    json_decref(app);

    /* Map form, with a null value taken from .env. */
    struct tcase_in t = {.spec = "services:\n  app:\n    image: img\n    environment:\n"
                                 "      X: 1\n      Y: yes\n      Z:\n",
                         .env = "Z=zed\n"};
    l = ok(&t);
    c = container(l, 0);
    ck_assert_str_eq(env_val(c, "X"), "1");
    ck_assert_str_eq(env_val(c, "Y"), "true");
    ck_assert_str_eq(env_val(c, "Z"), "zed");
    json_decref(l);

    struct tcase_in req = {.spec = "services:\n  app:\n    image: \"${NEED:?set it}\"\n"};
    fails(&req, TY_EINVAL, "spec.yaml:3:12: interpolation: required variable NEED");
    struct tcase_in nofile = {.spec = "services:\n  app:\n    image: i\n    env_file: x.env\n"};
    fails(&nofile, TY_EINVAL, "spec.yaml:4:15: env_file 'x.env': this spec has no folder");
    struct tcase_in badenv = {.spec = "services:\n  app:\n    image: i\n", .env = "A=1\nnot a line\n"};
    fails(&badenv, TY_EINVAL, ".env:2:1: expected NAME=value");
}
END_TEST

START_TEST(ports_and_expose)
{
    struct tcase_in t = {.spec = "services:\n"
                                 "  app:\n"
                                 "    image: img\n"
                                 "    ports:\n"
                                 "      - 8080\n"
                                 "      - \"127.0.0.1:9000:9001/udp\"\n"
                                 "      - target: 7000\n"
                                 "        published: 7001\n"
                                 "    expose: [\"5000\", 5001]\n"};
    json_t *l = ok(&t);
    json_t *c = container(l, 0);
    ck_assert_int_eq(json_array_size(at(c, "/ports")), 5);
    ck_assert_str_eq(str_at(c, "/ports/1/protocol"), "UDP");
    ck_assert_int_eq(json_integer_value(at(c, "/ports/1/containerPort")), 9001);
    /* Without a registry, published ports become a Service. */
    json_t *svc = obj(l, "Service", 0);
    ck_assert_str_eq(str_at(svc, "/metadata/name"), "app-" GUID);
    ck_assert_int_eq(json_integer_value(at(svc, "/spec/ports/0/port")), 9001);
    ck_assert_int_eq(json_integer_value(at(svc, "/spec/ports/1/port")), 7000);
    json_t *np = obj(l, "NetworkPolicy", 0);
    ck_assert_int_eq(json_array_size(at(np, "/spec/ingress/0/ports")), 2);
    ck_assert_str_eq(str_at(np, "/spec/policyTypes/0"), "Ingress");
    json_decref(l);

    struct tcase_in bad = {.spec = "services:\n  app:\n    image: img\n    ports:\n"
                                   "      - \"80:http\"\n"};
    fails(&bad, TY_EINVAL, "spec.yaml:5:9: invalid port '80:http'");
    struct tcase_in big = {.spec = "services:\n  app:\n    image: img\n    ports: [70000]\n"};
    fails(&big, TY_EINVAL, "spec.yaml:4:13: port 70000 is out of range");
    struct tcase_in range = {.spec = "services:\n  app:\n    image: img\n    ports: [\"8000-8010:8000-8010\"]\n"};
    fails(&range, TY_EINVAL, "port ranges");
}
END_TEST

START_TEST(volumes)
{
    struct compose_policy pol;
    compose_policy_init(&pol);
    pol.create_pvcs = true;
    struct tcase_in t = {.spec = "services:\n"
                                 "  app:\n"
                                 "    image: img\n"
                                 "    volumes:\n"
                                 "      - pvc://projects/sub/dir:/projects:ro\n"
                                 "      - pvc://projects:/all\n"
                                 "      - data:/data\n"
                                 "      - type: volume\n"
                                 "        source: ext\n"
                                 "        target: /ext\n"
                                 "        read_only: true\n"
                                 "volumes:\n"
                                 "  data: {}\n"
                                 "  ext:\n"
                                 "    external: true\n",
                         .pol = &pol};
    json_t *l = ok(&t);
    json_t *c = container(l, 0);
    ck_assert_str_eq(str_at(c, "/volumeMounts/0/name"), "projects");
    ck_assert_str_eq(str_at(c, "/volumeMounts/0/subPath"), "sub/dir");
    ck_assert(json_is_true(at(c, "/volumeMounts/0/readOnly")));
    ck_assert_ptr_null(at(c, "/volumeMounts/1/subPath"));
    ck_assert_str_eq(str_at(c, "/volumeMounts/2/mountPath"), "/data");
    ck_assert_str_eq(str_at(c, "/volumeMounts/3/name"), "ext");
    /* Home directories, absolute. */
    ck_assert_str_eq(str_at(c, "/volumeMounts/4/mountPath"), "/home/shared");
    ck_assert_str_eq(str_at(c, "/volumeMounts/5/mountPath"), "/home/alice");
    ck_assert_str_eq(str_at(c, "/volumeMounts/5/subPath"), "alice");
    json_t *pvc = obj(l, "PersistentVolumeClaim", 0);
    ck_assert_ptr_nonnull(pvc);
    ck_assert_str_eq(str_at(pvc, "/metadata/name"), "app-data-alice");
    ck_assert_ptr_null(at(pvc, "/metadata/labels/tycho-guid"));
    ck_assert_ptr_null(obj(l, "PersistentVolumeClaim", 1));
    json_decref(l);
    compose_policy_cleanup(&pol);

    struct tcase_in scheme = {.spec = "services:\n  app:\n    image: img\n    volumes:\n"
                                      "      - nfs://server/x:/x\n"};
    fails(&scheme, TY_EINVAL, "spec.yaml:5:9: unknown volume scheme 'nfs://'");
    struct tcase_in host = {.spec = "services:\n  app:\n    image: img\n    volumes:\n"
                                    "      - /etc:/host-etc\n"};
    fails(&host, TY_EFORBIDDEN, "spec.yaml:5:9: host path volume '/etc' is not allowed");
    struct tcase_in rel = {.spec = "services:\n  app:\n    image: img\n    volumes:\n"
                                   "      - pvc://x:home/x\n"};
    fails(&rel, TY_EINVAL, "mount path 'home/x' must be absolute");
    struct tcase_in undecl = {.spec = "services:\n  app:\n    image: img\n    volumes:\n"
                                      "      - data:/data\n"};
    fails(&undecl, TY_EINVAL, "volume 'data' is not declared");
    struct tcase_in dotdot = {.spec = "services:\n  app:\n    image: img\n    volumes:\n"
                                      "      - pvc://x/../y:/y\n"};
    fails(&dotdot, TY_EINVAL, "invalid sub-path");
}
END_TEST

START_TEST(resources_and_gpus)
{
    struct tcase_in t = {.spec = "services:\n"
                                 "  app:\n"
                                 "    image: img\n"
                                 "    deploy:\n"
                                 "      resources:\n"
                                 "        limits: {cpus: '2', memory: 512m, ephemeralStorage: 1g}\n"
                                 "        reservations:\n"
                                 "          cpus: 0.25\n"
                                 "          memory: 2048M\n"
                                 "          devices:\n"
                                 "            - capabilities: [gpu]\n"
                                 "              count: 2\n"};
    json_t *l = ok(&t);
    json_t *c = container(l, 0);
    ck_assert_str_eq(str_at(c, "/resources/limits/cpu"), "2");
    ck_assert_str_eq(str_at(c, "/resources/limits/memory"), "512Mi");
    ck_assert_str_eq(str_at(c, "/resources/limits/ephemeral-storage"), "1Gi");
    ck_assert_str_eq(str_at(c, "/resources/requests/cpu"), "0.25");
    ck_assert_str_eq(str_at(c, "/resources/requests/memory"), "2048M");
    json_t *res = at(c, "/resources/limits");
    ck_assert_int_eq(json_integer_value(json_object_get(res, "nvidia.com/gpu")), 2);
    ck_assert_int_eq(json_integer_value(
                         json_object_get(at(c, "/resources/requests"), "nvidia.com/gpu")),
                     2);
    ck_assert_str_eq(str_at(obj(l, "Deployment", 0), "/spec/template/spec/tolerations/0/key"),
                     "nvidia.com/gpu");
    json_decref(l);

    /* Tycho's gpus: 0 -> no GPU resource and no toleration. */
    struct tcase_in z = {.spec = "services:\n  app:\n    image: img\n    deploy:\n      resources:\n"
                                 "        limits: {cpus: 1, gpus: 0}\n"};
    l = ok(&z);
    c = container(l, 0);
    ck_assert_ptr_null(json_object_get(at(c, "/resources/limits"), "nvidia.com/gpu"));
    ck_assert_ptr_null(at(obj(l, "Deployment", 0), "/spec/template/spec/tolerations"));
    json_decref(l);

    struct tcase_in bad = {.spec = "services:\n  app:\n    image: img\n    deploy:\n      resources:\n"
                                   "        limits: {memory: lots}\n"};
    fails(&bad, TY_EINVAL, "spec.yaml:6:26: invalid memory size");
    struct tcase_in all = {.spec = "services:\n  app:\n    image: img\n    deploy:\n      resources:\n"
                                   "        reservations:\n          devices:\n"
                                   "            - capabilities: [gpu]\n              count: all\n"};
    fails(&all, TY_EINVAL, "\"all\" cannot be expressed");
}
END_TEST

START_TEST(probes)
{
    struct tcase_in t = {
        .spec = "services:\n"
                "  app:\n"
                "    image: img\n"
                "    ports: [\"8888:8888\"]\n"
                "    healthcheck:\n"
                "      test: [\"CMD\", \"curl\", \"-f\", \"http://localhost\"]\n"
                "      interval: 1m30s\n"
                "      timeout: 500ms\n"
                "      retries: 3\n",
        .app = "{\"services\": {\"app\": 8888}, \"ext\": {\"kube\": {"
               "\"livenessProbe\": {\"cmd\": [\"pgrep\", \"jupyter\"], \"delay\": 5, \"period\": 6},"
               "\"readinessProbe\": {\"httpGet\": {\"path\": "
               "\"/private/{{ system_name }}/{{ username }}/{{ identifier }}\","
               " \"port\": \"{{ system_port }}\"}}}}}"};
    json_t *l = ok(&t);
    json_t *c = container(l, 0);
    ck_assert_str_eq(str_at(c, "/livenessProbe/exec/command/0"), "pgrep");
    ck_assert_int_eq(json_integer_value(at(c, "/livenessProbe/initialDelaySeconds")), 5);
    ck_assert_int_eq(json_integer_value(at(c, "/livenessProbe/periodSeconds")), 6);
    ck_assert_ptr_null(at(c, "/initialDelaySeconds"));
    ck_assert_str_eq(str_at(c, "/readinessProbe/httpGet/path"), "/private/app/alice/" GUID);
    ck_assert_int_eq(json_integer_value(at(c, "/readinessProbe/httpGet/port")), 8888);
    json_decref(l);

    /* Healthcheck alone -> readiness; "none" disables. */
    struct tcase_in h = {.spec = t.spec};
    l = ok(&h);
    c = container(l, 0);
    ck_assert_str_eq(str_at(c, "/readinessProbe/exec/command/0"), "curl");
    ck_assert_int_eq(json_integer_value(at(c, "/readinessProbe/periodSeconds")), 90);
    ck_assert_int_eq(json_integer_value(at(c, "/readinessProbe/timeoutSeconds")), 1);
    ck_assert_int_eq(json_integer_value(at(c, "/readinessProbe/failureThreshold")), 3);
    json_decref(l);
    struct tcase_in n = {.spec = t.spec, .app = "{\"ext\": {\"kube\": {\"readinessProbe\": \"none\"}}}"};
    l = ok(&n);
    ck_assert_ptr_null(at(container(l, 0), "/readinessProbe"));
    json_decref(l);
    struct tcase_in bad = {.spec = t.spec,
                           .app = "{\"ext\": {\"kube\": {\"livenessProbe\": {\"bogus\": 1}}}}"};
    fails(&bad, TY_EINVAL, "registry:app: ext.kube.livenessProbe: unknown key 'bogus'");
}
END_TEST

START_TEST(security)
{
    /* No securityContext in the registry: non-root, nothing forced. */
    struct tcase_in t = {.spec = "services:\n  app:\n    image: img\n    user: \"1000:100\"\n"};
    json_t *l = ok(&t);
    json_t *pod = at(obj(l, "Deployment", 0), "/spec/template/spec");
    ck_assert(json_is_true(at(pod, "/securityContext/runAsNonRoot")));
    ck_assert_ptr_null(at(pod, "/securityContext/runAsUser"));
    ck_assert_int_eq(json_integer_value(at(pod, "/containers/0/securityContext/runAsUser")), 1000);
    ck_assert_int_eq(json_integer_value(at(pod, "/containers/0/securityContext/runAsGroup")), 100);
    json_decref(l);

    struct tcase_in r = {.spec = "services:\n  app:\n    image: img\n",
                         .app = "{\"securityContext\": {\"runAsUser\": 30000, \"runAsGroup\": \"\","
                                " \"fsGroup\": \"100\"}}"};
    l = ok(&r);
    pod = at(obj(l, "Deployment", 0), "/spec/template/spec");
    ck_assert_int_eq(json_integer_value(at(pod, "/securityContext/runAsUser")), 30000);
    ck_assert_ptr_null(at(pod, "/securityContext/runAsGroup"));
    ck_assert_int_eq(json_integer_value(at(pod, "/securityContext/fsGroup")), 100);
    ck_assert_ptr_null(at(pod, "/securityContext/runAsNonRoot"));
    json_decref(l);

    struct compose_policy pol;
    compose_policy_init(&pol);
    pol.allow_root = false;
    struct tcase_in root = {.spec = "services:\n  app:\n    image: img\n",
                            .app = "{\"securityContext\": {\"runAsUser\": 0}}", .pol = &pol};
    fails(&root, TY_EFORBIDDEN, "runAsUser 0 (root) is not allowed");
    compose_policy_cleanup(&pol);

    struct tcase_in priv = {.spec = "services:\n  app:\n    image: img\n    privileged: true\n"};
    fails(&priv, TY_EFORBIDDEN, "spec.yaml:4:17: privileged containers are not allowed");
    struct tcase_in net = {.spec = "services:\n  app:\n    image: img\n    network_mode: host\n"};
    fails(&net, TY_EFORBIDDEN, "network_mode: host is not allowed");
    struct tcase_in cap = {.spec = "services:\n  app:\n    image: img\n    cap_add: [SYS_ADMIN]\n"};
    fails(&cap, TY_EFORBIDDEN, "capability SYS_ADMIN is not allowed");
    struct tcase_in okcap = {.spec = "services:\n  app:\n    image: img\n    cap_add: [CHOWN]\n"};
    l = ok(&okcap);
    ck_assert_str_eq(str_at(container(l, 0), "/securityContext/capabilities/add/0"), "CHOWN");
    json_decref(l);
}
END_TEST

START_TEST(registry_fields)
{
    struct tcase_in t = {
        .spec = "services:\n  app:\n    image: img\n    ports: [\"8080:8080\"]\n"
                "  db:\n    image: postgres\n    environment: [DB_PASSWORD=hunter2]\n",
        .app = "{\"services\": {\"app\": \"8080\"}, \"serviceAccount\": \"spark\","
               " \"env\": {\"CONN_STRING\": \"SASStudio\", \"PVC_NAME\": \"$STDNFS\"},"
               " \"conn_string\": \"SASStudio\", \"gitea-integration\": true,"
               " \"proxy-rewrite\": {\"enabled\": true, \"target\": \"/\"}}",
        .token = "s3cr3t-t0ken"};
    json_t *l = ok(&t);
    json_t *dep = obj(l, "Deployment", 0);
    ck_assert_str_eq(str_at(dep, "/spec/template/spec/serviceAccountName"), "spark");
    json_t *c = container(l, 0);
    ck_assert_str_eq(env_val(c, "CONN_STRING"), "SASStudio");
    ck_assert_str_eq(env_val(c, "PVC_NAME"), "$STDNFS");
    /* The token sits in the Secret only. */
    ck_assert_ptr_null(env_val(c, "access_token"));
    ck_assert_str_eq(str_at(env(c, "access_token"), "/valueFrom/secretKeyRef/name"),
                     "app-" GUID "-secret");
    json_t *secret = obj(l, "Secret", 0);
    ck_assert_str_eq(str_at(secret, "/stringData/access_token"), "s3cr3t-t0ken");
    ck_assert_str_eq(str_at(secret, "/stringData/db.DB_PASSWORD"), "hunter2");
    ck_assert_ptr_null(env_val(container(l, 1), "DB_PASSWORD"));
    char *all = json_dumps(dep, 0);
    ck_assert_ptr_null(strstr(all, "s3cr3t-t0ken"));
    ck_assert_ptr_null(strstr(all, "hunter2"));
    free(all);
    /* Gitea key mount. */
    ck_assert_str_eq(str_at(c, "/volumeMounts/2/mountPath"), "/home/alice/.ssh/id_gitea");
    /* One Service (the registry's list), with the mapping. */
    ck_assert_ptr_null(obj(l, "Service", 1));
    json_t *svc = obj(l, "Service", 0);
    ck_assert_str_eq(str_at(svc, "/metadata/labels/conn_string"), "SASStudio");
    const char *m = json_string_value(
        json_object_get(at(svc, "/metadata/annotations"), "getambassador.io/config"));
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(strstr(m, "prefix: /private/app/alice/" GUID "/SASStudio\n"));
    ck_assert_ptr_nonnull(strstr(m, "rewrite: /\n"));
    ck_assert_ptr_nonnull(strstr(m, "X-Original-Path: /private/app/alice/" GUID "/SASStudio"));
    ck_assert_ptr_nonnull(strstr(m, "service: app-" GUID ":8080\n"));
    json_decref(l);

    struct tcase_in rule = {.spec = "services:\n  app:\n    image: img\n    ports: [\"80:80\"]\n",
                            .app = "{\"proxy-rewrite-rule\": true}"};
    l = ok(&rule);
    m = json_string_value(json_object_get(at(obj(l, "Service", 0), "/metadata/annotations"),
                                          "getambassador.io/config"));
    ck_assert_ptr_nonnull(strstr(m, "rewrite: /private/app/alice/" GUID "/\n"));
    json_decref(l);

    struct tcase_in missing = {.spec = "services:\n  app:\n    image: img\n",
                               .app = "{\"services\": {\"other\": 80}}"};
    fails(&missing, TY_EINVAL, "services lists 'other'");
}
END_TEST

START_TEST(labels_and_names)
{
    struct tcase_in t = {.spec = "services:\n  app:\n    image: img\n    ports: [\"80:80\"]\n",
                         .user = "Jane.Doe@unc.edu"};
    json_t *l = ok(&t);
    json_t *dep = obj(l, "Deployment", 0);
    json_t *labels = at(dep, "/spec/template/metadata/labels");
    ck_assert_str_eq(str_at(labels, "/executor"), "tycho");
    ck_assert_str_eq(str_at(labels, "/tycho-app-id"), "app");
    ck_assert_str_eq(str_at(labels, "/tycho-guid"), GUID);
    const char *u = str_at(labels, "/username");
    ck_assert(ty_is_label_value(u));
    ck_assert_ptr_nonnull(strstr(u, "---"));
    ck_assert_str_eq(json_string_value(json_object_get(at(dep, "/metadata/annotations"),
                                                       COMPOSE_ANNOTATION_USERNAME)),
                     "Jane.Doe@unc.edu");
    ck_assert_str_eq(env_val(container(l, 0), "USER"), "Jane.Doe@unc.edu");
    ck_assert(ty_is_rfc1035_label(str_at(obj(l, "Service", 0), "/metadata/name")));
    json_decref(l);
}
END_TEST

START_TEST(templates)
{
    struct tcase_in t = {.spec = "services:\n  app:\n    image: \"{{helx_user}}/{{ username }}\"\n",
                         .settings = "{\"helx_user\": \"{{ username }}-x\"}"};
    json_t *l = ok(&t);
    ck_assert_str_eq(str_at(container(l, 0), "/image"), "alice-x/alice");
    json_decref(l);
    struct tcase_in blk = {.spec = "services:\n  app:\n    image: img\n"
                                   "    entrypoint: [\"date +{%Y}\"]\n"};
    fails(&blk, TY_EINVAL, "spec.yaml:4:18: template: '{%' blocks are not supported");
    struct tcase_in unk = {.spec = "services:\n  app:\n    image: \"{{ nope }}\"\n"};
    fails(&unk, TY_EINVAL, "spec.yaml:3:12: template: unknown name 'nope'");
    struct tcase_in filt = {.spec = "services:\n  app:\n    image: \"{{ username | upper }}\"\n"};
    fails(&filt, TY_EINVAL, "unsupported expression");
    struct tcase_in loop = {.spec = "services:\n  app:\n    image: \"{{ a }}\"\n",
                            .settings = "{\"a\": \"{{ a }}\"}"};
    fails(&loop, TY_EINVAL, "refers to itself");
}
END_TEST

START_TEST(malformed)
{
    struct tcase_in noimg = {.spec = "services:\n  app:\n    ports: [\"80\"]\n"};
    fails(&noimg, TY_EINVAL, "spec.yaml:2:3: service 'app' has no image");
    struct tcase_in nosvc = {.spec = "version: '3'\n"};
    fails(&nosvc, TY_EINVAL, "spec.yaml:1:1: a compose file needs a services mapping");
    struct tcase_in list = {.spec = "- a\n- b\n"};
    fails(&list, TY_EINVAL, "spec.yaml:1:1: a compose file must be a mapping");
    struct tcase_in syntax = {.spec = "services:\n  app:\n    image: {{ helx_registry }}/x\n"};
    fails(&syntax, TY_EINVAL, "spec.yaml:3:");

    /* Deep nesting. */
    struct ty_buf b = TY_BUF_INIT;
    ty_buf_puts(&b, "services:\n  app:\n    image: img\n    labels: ");
    for (int i = 0; i < 200; i++)
        ty_buf_puts(&b, "[");
    for (int i = 0; i < 200; i++)
        ty_buf_puts(&b, "]");
    ty_buf_puts(&b, "\n");
    struct tcase_in deep = {.spec = ty_buf_cstr(&b)};
    json_t *l = NULL;
    struct ty_error err = TY_ERROR_INIT;
    int rc = run(&l, &deep, &err);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(err.msg, "spec.yaml:4:") != NULL, "no position: %s", err.msg);
    ty_buf_cleanup(&b);

    /* A 10 MB file. */
    ty_buf_puts(&b, "services:\n  app:\n    image: img\n    labels:\n");
    while (b.len < 10u << 20)
        ty_buf_puts(&b, "      - aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
    struct tcase_in huge = {.spec = ty_buf_cstr(&b)};
    rc = run(&l, &huge, &err);
    ck_assert_int_eq(rc, TY_ELIMIT);
    ck_assert_msg(strstr(err.msg, "spec.yaml:1:1:") != NULL, "no position: %s", err.msg);
    ty_buf_cleanup(&b);

    /* Bad inputs to the call itself. */
    struct tcase_in t = {.spec = "services:\n  app:\n    image: img\n", .user = ""};
    fails(&t, TY_EINVAL, "no username");
    t.user = "bad\xff\xfe";
    fails(&t, TY_EINVAL, "username is not valid UTF-8");
    t.user = "two\nlines";
    fails(&t, TY_EINVAL, "username contains a control character");
}
END_TEST

START_TEST(deterministic_and_homedirs)
{
    struct compose_policy pol;
    compose_policy_init(&pol);
    json_t *p = json_pack("{s:b,s:s,s:s,s:s,s:[s],s:s}", "init_home_dirs", 1, "gitea_host", "g",
                          "gitea_user", "git", "gitea_service", "gitea-ssh", "client_cidrs",
                          "10.0.0.0/8", "proxy_namespace", "ingress");
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_ok(compose_policy_from_json(&pol, p, &err), &err);
    json_decref(p);
    struct tcase_in t = {.spec = "services:\n  app:\n    image: img\n    ports: [\"80:80\"]\n",
                         .app = "{\"gitea-integration\": true}", .pol = &pol};
    json_t *a = ok(&t), *b = ok(&t);
    ck_assert(json_equal(a, b));
    json_t *init = at(obj(a, "Deployment", 0), "/spec/template/spec/initContainers/0");
    ck_assert_str_eq(str_at(init, "/image"), "busybox:latest");
    ck_assert_ptr_nonnull(strstr(str_at(init, "/args/0"), "mkdir -p '/home/alice'"));
    ck_assert_ptr_nonnull(strstr(str_at(init, "/args/0"), "'/home/alice/.ssh/config'"));
    ck_assert_str_eq(str_at(init, "/volumeMounts/0/mountPath"), "/home");
    json_t *np = obj(a, "NetworkPolicy", 0);
    ck_assert_str_eq(str_at(np, "/spec/ingress/0/from/2/ipBlock/cidr"), "10.0.0.0/8");
    ck_assert_ptr_nonnull(at(np, "/spec/ingress/0/from/0/namespaceSelector"));
    json_decref(a);
    json_decref(b);
    compose_policy_cleanup(&pol);

    compose_policy_init(&pol);
    p = json_pack("{s:i}", "no_such_key", 1);
    ck_assert_fails_with(compose_policy_from_json(&pol, p, &err), &err, TY_EINVAL,
                         "unknown key 'no_such_key'");
    json_decref(p);
    p = json_pack("{s:[s]}", "client_cidrs", "everyone");
    ck_assert_fails_with(compose_policy_from_json(&pol, p, &err), &err, TY_EINVAL,
                         "client_cidrs[0]");
    json_decref(p);
    compose_policy_cleanup(&pol);
}
END_TEST

/* The policy's ingress mode: an Ingress to the main Service instead of the
 * Ambassador mapping; and where the pod runs. */
START_TEST(ingress_and_scheduling)
{
    struct compose_policy pol;
    struct ty_error err = TY_ERROR_INIT;
    compose_policy_init(&pol);
    json_t *p = json_pack("{s:b,s:b,s:s,s:s,s:s,s:{s:s},s:[{s:s,s:s}]}", "ambassador", 0,
                          "ingress_object", 1, "ingress_class", "nginx", "ingress_host",
                          "helx.example.org", "ingress_tls_secret", "helx-tls",
                          "ingress_annotations", "cert-manager.io/cluster-issuer", "le",
                          "gpu_tolerations", "key", "gpu", "operator", "Exists");
    ck_assert_ok(compose_policy_from_json(&pol, p, &err), &err);
    json_decref(p);
    json_t *ns = json_pack("{s:s}", "pool", "apps");
    json_t *tol = json_pack("[{s:s,s:s}]", "key", "apps", "operator", "Exists");
    struct tcase_in t = {.spec = "services:\n  app:\n    image: img\n    ports: [\"8888:8888\"]\n"
                                 "    deploy: {resources: {limits: {gpus: 1}}}\n",
                         .app = "{\"conn_string\": \"lab\"}",
                         .pol = &pol,
                         .node_selector = ns,
                         .tolerations = tol,
                         .priority_class = "users"};
    json_t *l = ok(&t);
    json_t *ing = obj(l, "Ingress", 0);
    ck_assert_ptr_nonnull(ing);
    ck_assert_str_eq(str_at(ing, "/apiVersion"), "networking.k8s.io/v1");
    ck_assert_str_eq(str_at(ing, "/metadata/labels/tycho-guid"), GUID);
    ck_assert_str_eq(str_at(ing, "/spec/ingressClassName"), "nginx");
    ck_assert_str_eq(str_at(ing, "/spec/rules/0/host"), "helx.example.org");
    ck_assert_str_eq(str_at(ing, "/spec/rules/0/http/paths/0/path"),
                     "/private/app/alice/" GUID "/lab");
    ck_assert_str_eq(str_at(ing, "/spec/rules/0/http/paths/0/pathType"), "Prefix");
    ck_assert_str_eq(str_at(ing, "/spec/rules/0/http/paths/0/backend/service/name"),
                     "app-" GUID);
    ck_assert_int_eq(
        json_integer_value(at(ing, "/spec/rules/0/http/paths/0/backend/service/port/number")),
        8888);
    ck_assert_str_eq(str_at(ing, "/spec/tls/0/secretName"), "helx-tls");
    ck_assert_str_eq(json_string_value(json_object_get(at(ing, "/metadata/annotations"),
                                                       "cert-manager.io/cluster-issuer")),
                     "le");
    /* No Ambassador mapping, and the app serves under its prefix. */
    ck_assert_ptr_null(json_object_get(at(obj(l, "Service", 0), "/metadata/annotations"),
                                       "getambassador.io/config"));
    json_t *c = at(obj(l, "Deployment", 0), "/spec/template/spec/containers/0");
    ck_assert_str_eq(env_val(c, "NB_PREFIX"), "/private/app/alice/" GUID);
    /* Scheduling: the GPU tolerations first, then the launch's. */
    json_t *pod = at(obj(l, "Deployment", 0), "/spec/template/spec");
    ck_assert_str_eq(str_at(pod, "/nodeSelector/pool"), "apps");
    ck_assert_str_eq(str_at(pod, "/priorityClassName"), "users");
    ck_assert_str_eq(str_at(pod, "/tolerations/0/key"), "gpu");
    ck_assert_str_eq(str_at(pod, "/tolerations/1/key"), "apps");
    json_decref(l);
    json_decref(ns);
    json_decref(tol);
    compose_policy_cleanup(&pol);
}
END_TEST

START_TEST(owner_helper)
{
    json_t *o = json_pack("{s:{s:s}}", "metadata", "name", "x");
    compose_set_owner(o, "app-" GUID, "uid-1");
    ck_assert_str_eq(str_at(o, "/metadata/ownerReferences/0/uid"), "uid-1");
    ck_assert_str_eq(str_at(o, "/metadata/ownerReferences/0/kind"), "Deployment");
    json_decref(o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compose.compile");
    TCase *tc = tcase_create("compile");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, image_entrypoint_command);
    tcase_add_test(tc, environment_and_interpolation);
    tcase_add_test(tc, ports_and_expose);
    tcase_add_test(tc, volumes);
    tcase_add_test(tc, resources_and_gpus);
    tcase_add_test(tc, probes);
    tcase_add_test(tc, security);
    tcase_add_test(tc, registry_fields);
    tcase_add_test(tc, labels_and_names);
    tcase_add_test(tc, templates);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, deterministic_and_homedirs);
    tcase_add_test(tc, ingress_and_scheduling);
    tcase_add_test(tc, owner_helper);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
