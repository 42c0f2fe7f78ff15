/*
 * compose_emit.c - the system model as Kubernetes objects.
 *
 * Shapes follow Tycho's templates (tycho-reference.md §3) where they are
 * sound, and the Kubernetes API where Tycho's are not: probe timings sit inside
 * the probe, the Deployment's template is a real PodTemplateSpec, labels hold
 * slugs, mount paths are absolute, secrets are referenced, never inlined.  All
 * objects carry `executor=tycho` and `tycho-guid` (PVCs excepted: they outlive
 * a launch), so a launch can be found and deleted by one label selector.
 */
#include "compose/compose_int.h"

#include "util/mem.h"
#include "util/slug.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Small object builders: json_pack() parses its format on every call, which
 * made it a fifth of a compile; these are the shapes the hot loops need. */
static json_t *obj1(const char *k1, json_t *v1)
{
    json_t *o = json_object();
    json_object_set_new(o, k1, v1);
    return o;
}

static json_t *obj2(const char *k1, json_t *v1, const char *k2, json_t *v2)
{
    json_t *o = obj1(k1, v1);
    json_object_set_new(o, k2, v2);
    return o;
}

static json_t *base_labels(const struct compose_system *sys, bool with_guid)
{
    json_t *l = json_object();
    json_object_set_new(l, "executor", json_string("tycho"));
    if (with_guid)
        json_object_set_new(l, "tycho-guid", json_string(sys->guid));
    json_object_set_new(l, "username", json_string(sys->user_label));
    json_object_set_new(l, "app-name", json_string(sys->app_label));
    return l;
}

static json_t *annotations(const struct compose_system *sys)
{
    return obj2(COMPOSE_ANNOTATION_USERNAME, json_string(sys->username),
                COMPOSE_ANNOTATION_APP_ID, json_string(sys->app_id));
}

static json_t *metadata(const struct compose_system *sys, const struct compose_input *in,
                        const char *name, json_t *labels)
{
    json_t *m = json_object();
    json_object_set_new(m, "name", json_string(name));
    if (in->namespace && *in->namespace)
        json_object_set_new(m, "namespace", json_string(in->namespace));
    json_object_set_new(m, "labels", labels);
    json_object_set_new(m, "annotations", annotations(sys));
    return m;
}

static json_t *pod_labels(const struct compose_system *sys)
{
    json_t *l = base_labels(sys, true);
    json_object_set_new(l, "name", json_string(sys->name));
    json_object_set_new(l, "original-app-name", json_string(sys->app_label));
    json_object_set_new(l, "reaper-label", json_string(sys->app_label));
    json_object_set_new(l, "tycho-app-id", json_string(sys->app_label));
    return l;
}

static json_t *resources(const struct cmp_res *r, const struct compose_policy *pol)
{
    json_t *o = json_object();
    if (r->cpu)
        json_object_set_new(o, "cpu", json_string(r->cpu));
    if (r->memory)
        json_object_set_new(o, "memory", json_string(r->memory));
    if (r->ephemeral)
        json_object_set_new(o, "ephemeral-storage", json_string(r->ephemeral));
    if (r->gpus > 0)
        json_object_set_new(o, pol->gpu_resource, json_integer(r->gpus));
    return o;
}

static const char *secret_key(const struct cmp_container *c, const struct cmp_env *e, char *buf,
                              size_t n)
{
    if (!strcmp(e->name, "access_token") || !strcmp(e->name, "ACCESS_TOKEN"))
        return "access_token";
    snprintf(buf, n, "%s.%s", c->name, e->name);
    return buf;
}

static json_t *container_json(const struct compose_system *sys, const struct cmp_container *c,
                              const struct compose_policy *pol, json_t *secret_data)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "image", json_string(c->image));
    if (c->command)
        json_object_set(o, "command", c->command);
    if (c->args)
        json_object_set(o, "args", c->args);
    if (c->working_dir)
        json_object_set_new(o, "workingDir", json_string(c->working_dir));

    json_t *env = json_array();
    for (size_t i = 0; i < c->nenv; i++) {
        const struct cmp_env *e = &c->env[i];
        if (e->secret) {
            char buf[512];
            const char *key = secret_key(c, e, buf, sizeof(buf));
            json_object_set_new(secret_data, key, json_string(e->value));
            json_array_append_new(
                env, obj2("name", json_string(e->name), "valueFrom",
                          obj1("secretKeyRef", obj2("name", json_string(sys->secret_name), "key",
                                                    json_string(key)))));
        } else {
            json_array_append_new(env, obj2("name", json_string(e->name), "value",
                                            json_string(e->value)));
        }
    }
    json_object_set_new(o, "env", env);
    /* Tycho appends the keys of a Secret named <app_id>-env when it exists. */
    char *app_env = ty_xasprintf("%s-env", sys->app_slug);
    json_t *env_from = json_array();
    json_array_append_new(env_from, obj1("secretRef", obj2("name", json_string(app_env),
                                                           "optional", json_true())));
    json_object_set_new(o, "envFrom", env_from);
    free(app_env);

    if (c->nports) {
        json_t *ports = json_array();
        for (size_t i = 0; i < c->nports; i++)
            json_array_append_new(ports, obj2("containerPort",
                                              json_integer(c->ports[i].container), "protocol",
                                              json_string(c->ports[i].udp ? "UDP" : "TCP")));
        json_object_set_new(o, "ports", ports);
    }
    json_t *res = json_object();
    json_t *lim = resources(&c->limits, pol), *req = resources(&c->requests, pol);
    if (json_object_size(lim))
        json_object_set_new(res, "limits", lim);
    else
        json_decref(lim);
    if (json_object_size(req))
        json_object_set_new(res, "requests", req);
    else
        json_decref(req);
    json_object_set_new(o, "resources", res);
    if (c->nmounts) {
        json_t *mounts = json_array();
        for (size_t i = 0; i < c->nmounts; i++) {
            const struct cmp_mount *m = &c->mounts[i];
            json_t *mo = obj2("name", json_string(m->volume), "mountPath", json_string(m->path));
            if (m->sub_path)
                json_object_set_new(mo, "subPath", json_string(m->sub_path));
            if (m->read_only)
                json_object_set_new(mo, "readOnly", json_true());
            json_array_append_new(mounts, mo);
        }
        json_object_set_new(o, "volumeMounts", mounts);
    }
    if (c->liveness)
        json_object_set(o, "livenessProbe", c->liveness);
    if (c->readiness)
        json_object_set(o, "readinessProbe", c->readiness);

    json_t *sc = json_object();
    long uid = sys->run_as_user >= 0 ? sys->run_as_user : c->uid;
    long gid = sys->run_as_group >= 0 ? sys->run_as_group : c->gid;
    if (uid >= 0)
        json_object_set_new(sc, "runAsUser", json_integer(uid));
    if (gid >= 0)
        json_object_set_new(sc, "runAsGroup", json_integer(gid));
    if (uid == 0)
        json_object_set_new(sc, "runAsNonRoot", json_false());
    if (c->privileged)
        json_object_set_new(sc, "privileged", json_true());
    if (c->cap_add || c->cap_drop) {
        json_t *caps = json_object();
        if (c->cap_add)
            json_object_set(caps, "add", c->cap_add);
        if (c->cap_drop)
            json_object_set(caps, "drop", c->cap_drop);
        json_object_set_new(sc, "capabilities", caps);
    }
    if (json_object_size(sc))
        json_object_set_new(o, "securityContext", sc);
    else
        json_decref(sc);
    if (c->tty)
        json_object_set_new(o, "tty", json_true());
    if (c->stdin_open)
        json_object_set_new(o, "stdin", json_true());
    return o;
}

/* Single-quotes s for sh. */
static void sh_quote(struct ty_buf *b, const char *s)
{
    ty_buf_putc(b, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            ty_buf_puts(b, "'\\''");
        else
            ty_buf_putc(b, *s);
    }
    ty_buf_putc(b, '\'');
}

static json_t *init_container(const struct compose_system *sys, const struct compose_policy *pol,
                              const char *home_volume)
{
    struct ty_buf s = TY_BUF_INIT;
    /* The claim is mounted at home_parent: a shared one's root, where the
     * user's folder is home_sub; a per-user one's root is the folder. */
    char *mount = sys->home_sub ? ty_xstrdup(pol->home_parent)
                                : ty_xasprintf("%s/%s", pol->home_parent, sys->user_path);
    char *user_dir = sys->home_sub ? ty_xasprintf("%s/%s", pol->home_parent, sys->home_sub)
                                   : ty_xstrdup(mount);
    ty_buf_puts(&s, "mkdir -p ");
    sh_quote(&s, user_dir);
    if (sys->home_sub && pol->home_shared && *pol->home_shared) {
        char *shared = ty_xasprintf("%s/%s", pol->home_parent, pol->home_shared);
        ty_buf_puts(&s, " && mkdir -p ");
        sh_quote(&s, shared);
        free(shared);
    }
    if (sys->gitea && pol->gitea_host) {
        char *ssh = ty_xasprintf("%s/.ssh", user_dir);
        char *cfg = ty_xasprintf("Host %s\n     Hostname %s\n     User %s\n     IdentityFile "
                                 "~/.ssh/id_gitea\n",
                                 pol->gitea_host, pol->gitea_service ? pol->gitea_service : "",
                                 pol->gitea_user ? pol->gitea_user : "");
        ty_buf_puts(&s, " && mkdir -p ");
        sh_quote(&s, ssh);
        ty_buf_puts(&s, " && printf '%s' ");
        sh_quote(&s, cfg);
        ty_buf_puts(&s, " > ");
        char *cfg_path = ty_xasprintf("%s/config", ssh);
        sh_quote(&s, cfg_path);
        free(cfg_path);
        free(ssh);
        free(cfg);
    }
    ty_buf_puts(&s, " && echo OK");
    json_t *res = json_pack("{s:s,s:s}", "cpu", pol->init_cpu, "memory", pol->init_memory);
    json_t *sc = json_object();
    if (sys->init_uid >= 0)
        json_object_set_new(sc, "runAsUser", json_integer(sys->init_uid));
    if (sys->init_gid >= 0)
        json_object_set_new(sc, "runAsGroup", json_integer(sys->init_gid));
    if (sys->init_uid == 0)
        json_object_set_new(sc, "runAsNonRoot", json_false());
    json_t *o = json_pack("{s:s,s:s,s:[s,s],s:[s],s:{s:O,s:o},s:o,s:[{s:s,s:s}]}", "name",
                          "volume-tasks", "image", pol->init_image, "command", "sh", "-c", "args",
                          ty_buf_cstr(&s), "resources", "limits", res, "requests", res,
                          "securityContext", sc, "volumeMounts", "name", home_volume,
                          "mountPath", mount);
    json_decref(res);
    ty_buf_cleanup(&s);
    free(user_dir);
    free(mount);
    return o;
}

static json_t *deployment(const struct compose_system *sys, const struct compose_input *in,
                          const struct compose_policy *pol, json_t *secret_data)
{
    json_t *pod = json_object();
    json_t *containers = json_array();
    bool gpus = false;
    for (size_t i = 0; i < sys->ncontainers; i++) {
        json_array_append_new(containers,
                              container_json(sys, &sys->containers[i], pol, secret_data));
        gpus = gpus || sys->containers[i].limits.gpus > 0;
    }
    const char *home_volume = NULL;
    json_t *vols = json_array();
    for (size_t i = 0; i < sys->nvolumes; i++) {
        const struct cmp_volume *v = &sys->volumes[i];
        json_t *vo = obj1("name", json_string(v->name));
        switch (v->kind) {
        case VOL_PVC:
            json_object_set_new(vo, "persistentVolumeClaim",
                                obj1("claimName", json_string(v->source)));
            if (sys->home_claim && !strcmp(v->source, sys->home_claim))
                home_volume = v->name;
            break;
        case VOL_HOST:
            json_object_set_new(vo, "hostPath", obj1("path", json_string(v->source)));
            break;
        case VOL_TMPFS:
            json_object_set_new(vo, "emptyDir", json_pack("{s:s}", "medium", "Memory"));
            break;
        case VOL_SECRET:
            json_object_set_new(vo, "secret", json_pack("{s:s,s:i}", "secretName", v->source,
                                                        "defaultMode", v->mode));
            break;
        }
        json_array_append_new(vols, vo);
    }
    if (pol->init_home_dirs && home_volume)
        json_object_set_new(pod, "initContainers",
                            json_pack("[o]", init_container(sys, pol, home_volume)));
    json_object_set_new(pod, "containers", containers);
    if (json_array_size(vols))
        json_object_set_new(pod, "volumes", vols);
    else
        json_decref(vols);

    json_t *psc = json_object();
    long uid = sys->run_as_user >= 0 ? sys->run_as_user : pol->default_uid;
    long gid = sys->run_as_group >= 0 ? sys->run_as_group : pol->default_gid;
    long fsg = sys->fs_group >= 0 ? sys->fs_group : pol->default_fs_group;
    if (uid >= 0)
        json_object_set_new(psc, "runAsUser", json_integer(uid));
    else
        json_object_set_new(psc, "runAsNonRoot", json_true());
    if (gid >= 0)
        json_object_set_new(psc, "runAsGroup", json_integer(gid));
    if (fsg >= 0)
        json_object_set_new(psc, "fsGroup", json_integer(fsg));
    json_object_set_new(pod, "securityContext", psc);
    if (sys->service_account)
        json_object_set_new(pod, "serviceAccountName", json_string(sys->service_account));
    if (sys->host_network)
        json_object_set_new(pod, "hostNetwork", json_true());
    json_t *tolerations = json_array();
    if (gpus && pol->gpu_tolerations)
        json_array_extend(tolerations, pol->gpu_tolerations);
    else if (gpus)
        json_array_append_new(tolerations,
                              json_pack("{s:s,s:s,s:s}", "key", pol->gpu_resource, "operator",
                                        "Exists", "effect", "NoSchedule"));
    if (json_is_array(in->tolerations))
        json_array_extend(tolerations, (json_t *)in->tolerations);
    if (json_array_size(tolerations))
        json_object_set(pod, "tolerations", tolerations);
    json_decref(tolerations);
    if (json_object_size(in->node_selector))
        json_object_set_new(pod, "nodeSelector", json_deep_copy(in->node_selector));
    if (in->priority_class && *in->priority_class)
        json_object_set_new(pod, "priorityClassName", json_string(in->priority_class));

    json_t *tmeta = json_pack("{s:o,s:o}", "labels", pod_labels(sys), "annotations",
                              annotations(sys));
    json_t *spec = json_pack("{s:i,s:{s:{s:s,s:s}},s:{s:o,s:o}}", "replicas", 1, "selector",
                             "matchLabels", "tycho-guid", sys->guid, "username", sys->user_label,
                             "template", "metadata", tmeta, "spec", pod);
    return json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "apps/v1", "kind", "Deployment",
                     "metadata", metadata(sys, in, sys->name, pod_labels(sys)), "spec", spec);
}

static char *mapping_yaml(const struct compose_system *sys, const struct compose_policy *pol,
                          const char *svc_name, int port, struct ty_error *err)
{
    json_t *m = json_object();
    char *prefix = ty_xasprintf("%s%s", sys->url_path, sys->conn_string ? sys->conn_string : "");
    char *name = ty_xasprintf("%s-mapping", sys->name);
    char *service = ty_xasprintf("%s:%d", svc_name, port);
    json_object_set_new(m, "apiVersion", json_string("ambassador/v1"));
    json_object_set_new(m, "kind", json_string("Mapping"));
    json_object_set_new(m, "name", json_string(name));
    if (pol->ambassador_id && *pol->ambassador_id)
        json_object_set_new(m, "ambassador_id", json_string(pol->ambassador_id));
    json_object_set_new(m, "prefix", json_string(prefix));
    json_object_set_new(m, "service", json_string(service));
    if (pol->remote_user_header)
        json_object_set_new(m, "headers", json_pack("{s:s}", "REMOTE_USER", sys->username));
    if (sys->rewrite) {
        json_object_set_new(m, "rewrite", json_string(sys->rewrite));
        if (sys->rewrite_header)
            json_object_set_new(m, "add_response_headers",
                                json_pack("{s:s}", "X-Original-Path", prefix));
    }
    json_object_set_new(m, "retry_policy", json_pack("{s:s,s:i}", "retry_on", "gateway-error",
                                                     "num_retries", 10));
    json_object_set_new(m, "bypass_auth", json_true());
    json_object_set_new(m, "timeout_ms", json_integer(300000));
    json_object_set_new(m, "idle_timeout_ms", json_integer(500000));
    json_object_set_new(m, "connect_timeout_ms", json_integer(500000));
    json_object_set_new(m, "use_websocket", json_true());
    struct ty_buf b = TY_BUF_INIT;
    ty_buf_puts(&b, "---\n");
    int rc = doc_emit_yaml(m, &b, err);
    json_decref(m);
    free(prefix);
    free(name);
    free(service);
    if (rc) {
        ty_buf_cleanup(&b);
        return NULL;
    }
    return ty_buf_detach(&b);
}

static const struct cmp_container *find_container(const struct compose_system *sys,
                                                  const char *name, size_t *idx)
{
    for (size_t i = 0; i < sys->ncontainers; i++)
        if (!strcmp(sys->containers[i].name, name)) {
            *idx = i;
            return &sys->containers[i];
        }
    return NULL;
}

static json_t *service_port(const char *name, int port, bool udp)
{
    json_t *o = obj2("name", json_string(name), "port", json_integer(port));
    json_object_set_new(o, "targetPort", json_integer(port));
    json_object_set_new(o, "protocol", json_string(udp ? "UDP" : "TCP"));
    return o;
}

/* An Ingress routing the launch's path to the Service svc_name:port, for a
 * plain ingress controller (the policy's ingress_object). */
static json_t *ingress(const struct compose_system *sys, const struct compose_input *in,
                       const struct compose_policy *pol, const char *svc_name, int port)
{
    char *path = ty_xasprintf("%s%s", sys->url_path, sys->conn_string ? sys->conn_string : "");
    json_t *backend = obj1("service", obj2("name", json_string(svc_name), "port",
                                           obj1("number", json_integer(port))));
    json_t *p = obj2("path", json_string(path), "pathType", json_string("Prefix"));
    json_object_set_new(p, "backend", backend);
    json_t *rule = obj1("http", obj1("paths", json_pack("[o]", p)));
    json_t *spec = json_object();
    if (pol->ingress_class && *pol->ingress_class)
        json_object_set_new(spec, "ingressClassName", json_string(pol->ingress_class));
    if (pol->ingress_host && *pol->ingress_host) {
        json_object_set_new(rule, "host", json_string(pol->ingress_host));
        if (pol->ingress_tls_secret && *pol->ingress_tls_secret)
            json_object_set_new(spec, "tls",
                                json_pack("[{s:[s],s:s}]", "hosts", pol->ingress_host,
                                          "secretName", pol->ingress_tls_secret));
    }
    json_object_set_new(spec, "rules", json_pack("[o]", rule));
    json_t *meta = metadata(sys, in, sys->name, base_labels(sys, true));
    if (json_object_size(pol->ingress_annotations))
        json_object_update(json_object_get(meta, "annotations"), pol->ingress_annotations);
    free(path);
    return json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "networking.k8s.io/v1", "kind",
                     "Ingress", "metadata", meta, "spec", spec);
}

static int service(json_t **out, json_t **ingress_out, const struct compose_system *sys,
                   const struct compose_input *in, const struct compose_policy *pol,
                   const char *cname, int reg_port, bool proxied, json_t *np_ports,
                   struct ty_error *err)
{
    size_t idx = 0;
    const struct cmp_container *c = find_container(sys, cname, &idx);
    *out = NULL;
    json_t *ports = json_array();
    int n = 0;
    for (size_t i = 0; c && i < c->nports; i++) {
        if (!c->ports[i].published)
            continue;
        char pname[16];
        snprintf(pname, sizeof(pname), "port-%d", ++n);
        json_array_append_new(ports, service_port(pname, c->ports[i].container,
                                                  c->ports[i].udp));
    }
    /* The registry's port is a fallback for a container without ports. */
    if (reg_port && !n) {
        char pname[16];
        snprintf(pname, sizeof(pname), "port-%d", ++n);
        json_array_append_new(ports, service_port(pname, reg_port, false));
    }
    if (!n) {
        json_decref(ports);
        return ty_error_set(err, TY_EINVAL,
                            "service '%s' has no ports (give ports: in the spec or a port in the "
                            "registry's services)",
                            cname);
    }
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p)
    {
        json_array_append_new(np_ports, obj2("protocol", json_incref(json_object_get(p, "protocol")),
                                             "port", json_incref(json_object_get(p, "port"))));
    }
    char *name = ty_xasprintf("%s-%s", cname, sys->guid);
    json_t *labels = base_labels(sys, true);
    json_object_del(labels, "app-name");
    json_object_set_new(labels, "name", json_string(name));
    json_object_set_new(labels, "tycho-app", json_string(sys->name));
    if (sys->conn_string) {
        char *cs = ty_slug_label(sys->conn_string);
        json_object_set_new(labels, "conn_string", json_string(cs));
        free(cs);
    }
    json_t *meta = metadata(sys, in, name, labels);
    /* The proxy targets system_port when this Service serves it, else its
     * first port. */
    int port = (int)json_integer_value(json_object_get(json_array_get(ports, 0), "port"));
    size_t pi;
    json_t *pp;
    json_array_foreach(ports, pi, pp)
    {
        if (json_integer_value(json_object_get(pp, "port")) == sys->system_port)
            port = sys->system_port;
    }
    if (proxied && pol->ingress_object)
        *ingress_out = ingress(sys, in, pol, name, port);
    if (proxied && pol->ambassador) {
        char *yaml = mapping_yaml(sys, pol, name, port, err);
        if (!yaml) {
            json_decref(meta);
            json_decref(ports);
            free(name);
            return err ? err->code : TY_ERR;
        }
        json_object_set_new(json_object_get(meta, "annotations"), "getambassador.io/config",
                            json_string(yaml));
        free(yaml);
    }
    *out = json_pack("{s:s,s:s,s:o,s:{s:s,s:{s:s},s:o}}", "apiVersion", "v1", "kind", "Service",
                     "metadata", meta, "spec", "type", pol->service_type, "selector", "name",
                     sys->name, "ports", ports);
    free(name);
    return 0;
}

static json_t *network_policy(const struct compose_system *sys, const struct compose_input *in,
                              const struct compose_policy *pol, json_t *ports)
{
    json_t *from = json_array();
    if (pol->proxy_selector && *pol->proxy_selector) {
        json_t *ml = json_object();
        char *sel = ty_xstrdup(pol->proxy_selector);
        for (char *save = NULL, *tok = strtok_r(sel, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            if (eq) {
                *eq = '\0';
                json_object_set_new(ml, tok, json_string(eq + 1));
            }
        }
        free(sel);
        json_t *peer = json_pack("{s:{s:o}}", "podSelector", "matchLabels", ml);
        if (pol->proxy_namespace && *pol->proxy_namespace)
            json_object_set_new(peer, "namespaceSelector",
                                json_pack("{s:{s:s}}", "matchLabels",
                                          "kubernetes.io/metadata.name", pol->proxy_namespace));
        json_array_append_new(from, peer);
    }
    json_array_append_new(from, json_pack("{s:{s:{s:s}}}", "podSelector", "matchLabels",
                                          "tycho-guid", sys->guid));
    for (char **c = pol->client_cidrs; c && *c; c++)
        json_array_append_new(from, json_pack("{s:{s:s}}", "ipBlock", "cidr", *c));
    json_t *rule = json_pack("{s:o}", "from", from);
    if (json_array_size(ports))
        json_object_set(rule, "ports", ports);
    char *name = ty_xasprintf("%s-netpolicy", sys->guid);
    json_t *np = json_pack("{s:s,s:s,s:o,s:{s:{s:{s:s}},s:[s],s:[o]}}", "apiVersion",
                           "networking.k8s.io/v1", "kind", "NetworkPolicy", "metadata",
                           metadata(sys, in, name, base_labels(sys, true)), "spec", "podSelector",
                           "matchLabels", "tycho-guid", sys->guid, "policyTypes", "Ingress",
                           "ingress", rule);
    free(name);
    return np;
}

int compose_system_emit(json_t **list_out, const struct compose_system *sys,
                        const struct compose_input *in, const struct compose_policy *pol,
                        struct ty_error *err)
{
    json_t *items = json_array();
    json_t *secret_data = json_object();
    json_t *np_ports = json_array();
    json_t *services = json_array();
    json_t *ing = NULL;
    int rc = 0;
    *list_out = NULL;

    json_t *dep = deployment(sys, in, pol, secret_data);

    /* The main container's Service carries the proxy mapping. */
    const char *main_name = sys->containers[sys->main].name;
    const char *proxied = json_object_get(sys->services, main_name) ? main_name : NULL;
    const char *k;
    json_t *v;
    json_object_foreach(sys->services, k, v)
    {
        if (!proxied)
            proxied = k;
        json_t *svc = NULL;
        rc = service(&svc, &ing, sys, in, pol, k, (int)json_integer_value(v),
                     !strcmp(k, proxied), np_ports, err);
        if (rc) {
            json_decref(dep);
            goto out;
        }
        json_array_append_new(services, svc);
    }

    if (json_object_size(secret_data))
        json_array_append_new(items, json_pack("{s:s,s:s,s:o,s:s,s:O}", "apiVersion", "v1",
                                               "kind", "Secret", "metadata",
                                               metadata(sys, in, sys->secret_name,
                                                        base_labels(sys, true)),
                                               "type", "Opaque", "stringData", secret_data));
    json_object_foreach(sys->named_volumes, k, v)
    {
        json_t *spec = json_pack("{s:[s],s:{s:{s:s}}}", "accessModes", pol->pvc_access_mode,
                                 "resources", "requests", "storage", pol->pvc_size);
        if (pol->storage_class && *pol->storage_class)
            json_object_set_new(spec, "storageClassName", json_string(pol->storage_class));
        json_array_append_new(items, json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "v1", "kind",
                                               "PersistentVolumeClaim", "metadata",
                                               metadata(sys, in, k, base_labels(sys, false)),
                                               "spec", spec));
    }
    if (sys->home_create) {
        /* The user's home: no tycho-guid, so it outlives the launch; the
         * session service creates it when it does not exist yet. */
        json_t *spec = json_pack("{s:[s],s:{s:{s:s}}}", "accessModes", pol->pvc_access_mode,
                                 "resources", "requests", "storage", pol->home_size);
        if (pol->home_storage_class && *pol->home_storage_class)
            json_object_set_new(spec, "storageClassName", json_string(pol->home_storage_class));
        /* Every app of the user mounts it: it names the user, not the app. */
        json_t *meta = metadata(sys, in, sys->home_claim, base_labels(sys, false));
        json_object_del(json_object_get(meta, "labels"), "app-name");
        json_object_del(json_object_get(meta, "annotations"), COMPOSE_ANNOTATION_APP_ID);
        json_array_append_new(items, json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "v1", "kind",
                                               "PersistentVolumeClaim", "metadata", meta, "spec",
                                               spec));
    }
    json_array_append_new(items, dep);
    json_array_extend(items, services);
    if (ing) {
        json_array_append_new(items, ing);
        ing = NULL;
    }
    if (pol->network_policy)
        json_array_append_new(items, network_policy(sys, in, pol, np_ports));
    *list_out = json_pack("{s:s,s:s,s:O}", "apiVersion", "v1", "kind", "List", "items", items);
out:
    json_decref(ing);
    json_decref(items);
    json_decref(secret_data);
    json_decref(np_ports);
    json_decref(services);
    return rc;
}
