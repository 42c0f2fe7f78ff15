/*
 * kubesim_valid.c - what the API server checks and fills in before it stores
 * an object: body decoding and shape, the names, labels and per-kind rules
 * (422 Invalid with one cause per field, messages as the real server words
 * them), and the defaults a real server adds on create and update.
 */
#include "kubesim/kubesim_int.h"
#include "util/crypto.h"
#include "util/str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- validation and defaults ---- */

void ks_cause(struct ks_causes *c, const char *field, const char *reason, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(
        c->arr, json_pack("{s:s,s:s,s:s}", "reason", reason, "message", msg, "field", field));
}

static void check_labels(struct ks_causes *c, const json_t *md, const char *base)
{
    const char *k;
    json_t *v;
    char field[300];
    snprintf(field, sizeof field, "%s.labels", base);
    json_object_foreach((json_t *)json_object_get(md, "labels"), k, v)
    {
        const char *m = ks_check_label_key(k);
        if (m)
            ks_cause(c, field, "FieldValueInvalid", "Invalid value: \"%s\": %s", k, m);
        if (!json_is_string(v))
            ks_cause(c, field, "FieldValueInvalid", "Invalid value: label %s must be a string", k);
        else if ((m = ks_check_label_value(json_string_value(v))))
            ks_cause(c, field, "FieldValueInvalid", "Invalid value: \"%s\": %s",
                     json_string_value(v), m);
    }
    snprintf(field, sizeof field, "%s.annotations", base);
    json_object_foreach((json_t *)json_object_get(md, "annotations"), k, v)
    {
        const char *m = ks_check_label_key(k);
        if (m)
            ks_cause(c, field, "FieldValueInvalid", "Invalid value: \"%s\": %s", k, m);
    }
}

static void check_pod_spec(struct ks_causes *c, const json_t *spec, const char *base)
{
    json_t *cs = json_object_get(spec, "containers");
    char field[300];
    if (!json_is_array(cs) || json_array_size(cs) == 0) {
        snprintf(field, sizeof field, "%s.containers", base);
        ks_cause(c, field, "FieldValueRequired", "Required value");
        return;
    }
    size_t i;
    json_t *ct;
    json_array_foreach(cs, i, ct)
    {
        const char *name = json_string_value(json_object_get(ct, "name"));
        snprintf(field, sizeof field, "%s.containers[%zu].name", base, i);
        if (!name || !*name)
            ks_cause(c, field, "FieldValueRequired", "Required value");
        else if (ks_check_dns1123_label(name))
            ks_cause(c, field, "FieldValueInvalid", "Invalid value: \"%s\": %s", name,
                     ks_check_dns1123_label(name));
        snprintf(field, sizeof field, "%s.containers[%zu].image", base, i);
        const char *image = json_string_value(json_object_get(ct, "image"));
        if (!image || !*image)
            ks_cause(c, field, "FieldValueRequired", "Required value");
    }
    const char *rp = json_string_value(json_object_get(spec, "restartPolicy"));
    if (rp && strcmp(rp, "Always") && strcmp(rp, "OnFailure") && strcmp(rp, "Never")) {
        snprintf(field, sizeof field, "%s.restartPolicy", base);
        ks_cause(c, field, "FieldValueNotSupported", "Unsupported value: \"%s\"", rp);
    }
}

/* The name rule of each kind, as its Validate<Kind>Name in the real server:
 * Services are RFC 1035 labels (they become DNS names), Namespaces DNS-1123
 * labels, everything else DNS-1123 subdomains. */
static enum ks_name_rule name_rule(enum ks_res r)
{
    return r == KS_SERVICES     ? KS_NAME_DNS1035_LABEL
           : r == KS_NAMESPACES ? KS_NAME_LABEL
                                : KS_NAME_SUBDOMAIN;
}

void ks_validate(enum ks_res r, const json_t *obj, struct ks_causes *c)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *name = ks_str(obj, "metadata.name");
    const char *msgs[2];
    if (!name || !*name) {
        ks_cause(c, "metadata.name", "FieldValueRequired",
                 "Required value: name or generateName is required");
    } else {
        int n = ks_name_problems(name_rule(r), name, msgs);
        for (int i = 0; i < n; i++)
            ks_cause(c, "metadata.name", "FieldValueInvalid", "Invalid value: \"%s\": %s", name,
                     msgs[i]);
    }
    check_labels(c, md, "metadata");
    const json_t *spec = json_object_get(obj, "spec");
    if (r == KS_PODS)
        check_pod_spec(c, spec, "spec");
    if (r == KS_DEPLOYMENTS || r == KS_REPLICASETS) {
        const json_t *sel = json_object_get(spec, "selector");
        const json_t *tmpl = json_object_get(spec, "template");
        if (!json_is_object(sel) ||
            (json_object_size(json_object_get(sel, "matchLabels")) == 0 &&
             json_array_size(json_object_get(sel, "matchExpressions")) == 0)) {
            ks_cause(c, "spec.selector", "FieldValueRequired", "Required value");
        } else {
            struct ks_selector *ls = NULL;
            struct ty_error e = TY_ERROR_INIT;
            if (ks_selector_from_json(&ls, sel, &e) != 0) {
                ks_cause(c, "spec.selector", "FieldValueInvalid", "Invalid value: %s", e.msg);
            } else if (!ks_selector_match_labels(ls, ks_at(tmpl, "metadata.labels"))) {
                char *labels = json_dumps(ks_at(tmpl, "metadata.labels"), JSON_COMPACT);
                ks_cause(c, "spec.template.metadata.labels", "FieldValueInvalid",
                         "Invalid value: %s: `selector` does not match template `labels`",
                         labels ? labels : "null");
                free(labels);
            }
            ks_selector_free(ls);
        }
        check_labels(c, json_object_get(tmpl, "metadata"), "spec.template.metadata");
        check_pod_spec(c, json_object_get(tmpl, "spec"), "spec.template.spec");
        json_t *rep = json_object_get(spec, "replicas");
        if (json_is_integer(rep) && json_integer_value(rep) < 0)
            ks_cause(c, "spec.replicas", "FieldValueInvalid",
                     "Invalid value: %lld: must be greater than or equal to 0",
                     (long long)json_integer_value(rep));
        const char *rp = ks_str(tmpl, "spec.restartPolicy");
        if (rp && strcmp(rp, "Always") != 0)
            ks_cause(c, "spec.template.spec.restartPolicy", "FieldValueNotSupported",
                     "Unsupported value: \"%s\": supported values: \"Always\"", rp);
    }
    if (r == KS_SERVICES) {
        const char *type = ks_str(obj, "spec.type");
        if (type && strcmp(type, "ClusterIP") && strcmp(type, "NodePort") &&
            strcmp(type, "LoadBalancer") && strcmp(type, "ExternalName"))
            ks_cause(c, "spec.type", "FieldValueNotSupported", "Unsupported value: \"%s\"", type);
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(spec, "ports"), i, p)
        {
            json_t *port = json_object_get(p, "port");
            char field[64];
            snprintf(field, sizeof field, "spec.ports[%zu].port", i);
            if (!json_is_integer(port))
                ks_cause(c, field, "FieldValueRequired", "Required value");
            else if (json_integer_value(port) < 1 || json_integer_value(port) > 65535)
                ks_cause(c, field, "FieldValueInvalid",
                         "Invalid value: %lld: must be between 1 and "
                         "65535, inclusive",
                         (long long)json_integer_value(port));
        }
        if (json_array_size(json_object_get(spec, "ports")) == 0 &&
            !(type && !strcmp(type, "ExternalName")) &&
            !(ks_str(obj, "spec.clusterIP") && !strcmp(ks_str(obj, "spec.clusterIP"), "None")))
            ks_cause(c, "spec.ports", "FieldValueRequired", "Required value");
    }
    if (r == KS_PVCS) {
        if (json_array_size(ks_at(obj, "spec.accessModes")) == 0)
            ks_cause(c, "spec.accessModes", "FieldValueRequired",
                     "Required value: at least 1 "
                     "access mode is required");
        if (!ks_at(obj, "spec.resources.requests.storage"))
            ks_cause(c, "spec.resources[storage]", "FieldValueRequired", "Required value");
    }
}

/* Sends 422 Invalid when c has causes; returns true when it did. */
bool ks_reply_invalid(struct ks_response *resp,
                      enum ks_res r,
                      const char *name,
                      struct ks_causes *c)
{
    size_t n = json_array_size(c->arr);
    if (n == 0)
        return false;
    struct ty_buf msg = TY_BUF_INIT;
    const struct ks_resource *d = &ks_resources[r];
    ty_buf_printf(&msg, "%s%s%s \"%s\" is invalid: %s", d->kind, d->group[0] ? "." : "", d->group,
                  name ? name : "", n > 1 ? "[" : "");
    size_t i;
    json_t *cs;
    json_array_foreach(c->arr, i, cs)
    {
        ty_buf_printf(&msg, "%s%s: %s", i ? ", " : "", ks_str(cs, "field"), ks_str(cs, "message"));
    }
    if (n > 1)
        ty_buf_putc(&msg, ']');
    json_t *st = ks_status_json(422, "Invalid", name ? name : "", r, ty_buf_cstr(&msg));
    json_object_set_new(json_object_get(st, "details"), "kind", json_string(d->kind));
    json_object_set(json_object_get(st, "details"), "causes", c->arr);
    ks_reply_json(resp, 422, st);
    ty_buf_cleanup(&msg);
    return true;
}

static void default_pod_spec(json_t *spec)
{
    if (!json_is_object(spec))
        return;
    if (!json_object_get(spec, "restartPolicy"))
        json_object_set_new(spec, "restartPolicy", json_string("Always"));
    if (!json_object_get(spec, "terminationGracePeriodSeconds"))
        json_object_set_new(spec, "terminationGracePeriodSeconds", json_integer(30));
    if (!json_object_get(spec, "dnsPolicy"))
        json_object_set_new(spec, "dnsPolicy", json_string("ClusterFirst"));
    if (!json_object_get(spec, "schedulerName"))
        json_object_set_new(spec, "schedulerName", json_string("default-scheduler"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        const char *image = json_string_value(json_object_get(c, "image"));
        if (image && !json_object_get(c, "imagePullPolicy")) {
            const char *slash = strrchr(image, '/');
            const char *tag = strchr(slash ? slash : image, ':');
            bool latest = !tag || !strcmp(tag, ":latest");
            json_object_set_new(c, "imagePullPolicy",
                                json_string(latest ? "Always" : "IfNotPresent"));
        }
        if (!json_object_get(c, "terminationMessagePolicy"))
            json_object_set_new(c, "terminationMessagePolicy", json_string("File"));
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(c, "ports"), j, p)
        {
            if (!json_object_get(p, "protocol"))
                json_object_set_new(p, "protocol", json_string("TCP"));
        }
    }
}

/* Fills defaults a real API server adds on create and update. */
void ks_apply_defaults(struct kubesim *s, enum ks_res r, json_t *obj, const json_t *old)
{
    json_t *spec = json_object_get(obj, "spec");
    if (r == KS_PODS)
        default_pod_spec(spec);
    if (r == KS_DEPLOYMENTS || r == KS_REPLICASETS) {
        if (!json_object_get(spec, "replicas"))
            json_object_set_new(spec, "replicas", json_integer(1));
        if (r == KS_DEPLOYMENTS) {
            if (!json_object_get(spec, "strategy"))
                json_object_set_new(spec, "strategy",
                                    json_pack("{s:s,s:{s:s,s:s}}", "type", "RollingUpdate",
                                              "rollingUpdate", "maxUnavailable", "25%", "maxSurge",
                                              "25%"));
            if (!json_object_get(spec, "revisionHistoryLimit"))
                json_object_set_new(spec, "revisionHistoryLimit", json_integer(10));
            if (!json_object_get(spec, "progressDeadlineSeconds"))
                json_object_set_new(spec, "progressDeadlineSeconds", json_integer(600));
        }
        default_pod_spec(ks_at(obj, "spec.template.spec"));
    }
    if (r == KS_SERVICES && json_is_object(spec)) {
        if (!json_object_get(spec, "type"))
            json_object_set_new(spec, "type", json_string("ClusterIP"));
        if (!json_object_get(spec, "sessionAffinity"))
            json_object_set_new(spec, "sessionAffinity", json_string("None"));
        const char *type = ks_str(spec, "type");
        const char *old_ip = ks_str(old, "spec.clusterIP");
        if (old_ip) {
            json_object_set_new(spec, "clusterIP", json_string(old_ip));
        } else if (strcmp(type, "ExternalName") != 0 && !json_object_get(spec, "clusterIP")) {
            unsigned n = s->next_cluster_ip++;
            char ip[32];
            snprintf(ip, sizeof ip, "10.96.%u.%u", (n / 250) % 250, n % 250 + 2);
            json_object_set_new(spec, "clusterIP", json_string(ip));
        }
        if (ks_str(spec, "clusterIP") && !json_object_get(spec, "clusterIPs"))
            json_object_set_new(spec, "clusterIPs", json_pack("[s]", ks_str(spec, "clusterIP")));
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(spec, "ports"), i, p)
        {
            if (!json_object_get(p, "protocol"))
                json_object_set_new(p, "protocol", json_string("TCP"));
            if (!json_object_get(p, "targetPort") && json_object_get(p, "port"))
                json_object_set(p, "targetPort", json_object_get(p, "port"));
            if ((!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer")) &&
                !json_object_get(p, "nodePort"))
                json_object_set_new(p, "nodePort", json_integer(30000 + (long)(ks_rand(s) % 2767)));
        }
    }
    if (r == KS_SECRETS) {
        json_t *sd = json_object_get(obj, "stringData");
        const char *k;
        json_t *v;
        json_object_foreach(sd, k, v)
        {
            const char *sv = json_string_value(v);
            if (!sv)
                continue;
            char *b64 = ty_base64(sv, strlen(sv));
            json_object_set_new(ks_obj_at(obj, "data"), k, json_string(b64));
            free(b64);
        }
        json_object_del(obj, "stringData");
        if (!json_object_get(obj, "type"))
            json_object_set_new(obj, "type", json_string("Opaque"));
    }
    if (r == KS_PVCS && json_is_object(spec) && !json_object_get(spec, "volumeMode"))
        json_object_set_new(spec, "volumeMode", json_string("Filesystem"));
}

void ks_initial_status(enum ks_res r, json_t *obj)
{
    char now[32];
    ks_now_iso(now);
    switch (r) {
    case KS_PODS:
        json_object_set_new(obj, "status",
                            json_pack("{s:s,s:s}", "phase", "Pending", "qosClass", "BestEffort"));
        break;
    case KS_PVCS:
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Pending"));
        break;
    case KS_NAMESPACES:
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
        break;
    case KS_SERVICES:
        json_object_set_new(obj, "status", json_pack("{s:{}}", "loadBalancer"));
        break;
    case KS_DEPLOYMENTS:
    case KS_REPLICASETS:
        json_object_set_new(obj, "status", json_object());
        break;
    default:
        break;
    }
}

bool ks_is_dry_run(const struct ks_request *rq)
{
    const char *d = ks_query_get(&rq->q, "dryRun");
    return d && !strcmp(d, "All");
}

json_t *ks_parse_body(const struct ks_request *rq, struct ks_response *resp)
{
    json_error_t je;
    const char *ct = rq->content_type ? rq->content_type : "";
    if (ty_str_has_prefix(ct, "application/vnd.kubernetes.protobuf") ||
        ty_str_has_prefix(ct, "application/cbor") || ty_str_has_prefix(ct, "application/yaml")) {
        /* The real server's 415, and what to do instead: kubectl's imperative
         * create, run and expose send protobuf, which only kubectl itself
         * can turn into JSON (client-side dry run). */
        ks_reply_json(resp, 415,
                      ks_status_json(415, "UnsupportedMediaType", NULL, KS_PODS,
                                     "the body of the request was in an unknown format - "
                                     "accepted media types include: application/json. The "
                                     "simulated cluster does not decode protobuf, which "
                                     "kubectl create deployment|namespace|configmap|secret|"
                                     "service, kubectl run and kubectl expose send: add "
                                     "--dry-run=client -o yaml and pipe the object to kubectl "
                                     "apply -f - (or kubectl create -f FILE)"));
        return NULL;
    }
    if (!rq->body || rq->body_len == 0) {
        ks_bad_request(resp, "the body of the request was empty");
        return NULL;
    }
    json_t *b = json_loadb(rq->body, rq->body_len, 0, &je);
    if (!b) {
        char msg[400];
        snprintf(msg, sizeof msg, "error decoding request body: line %d, column %d: %s", je.line,
                 je.column, je.text);
        ks_bad_request(resp, msg);
        return NULL;
    }
    return b;
}

/* Checks the shape every body needs; replies 400 and returns false otherwise. */
bool ks_check_kind(enum ks_res r, json_t *obj, struct ks_response *resp)
{
    if (!json_is_object(obj) ||
        (json_object_get(obj, "metadata") && !json_is_object(json_object_get(obj, "metadata")))) {
        ks_bad_request(resp, "the object provided is not a JSON object with metadata");
        return false;
    }
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    if ((kind && strcmp(kind, ks_resources[r].kind)) || (av && strcmp(av, ks_res_api_version(r)))) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "the API version in the data (%s) does not match the expected "
                 "API version (%s) or kind %s is not %s",
                 av ? av : "", ks_res_api_version(r), kind ? kind : "", ks_resources[r].kind);
        ks_bad_request(resp, msg);
        return false;
    }
    json_t *rep = ks_at(obj, "spec.replicas");
    if (rep && !json_is_integer(rep)) {
        ks_bad_request(resp, "json: cannot unmarshal into Go struct field spec.replicas of type "
                             "int32");
        return false;
    }
    return true;
}

bool ks_ns_exists(struct kubesim *s, const char *ns, struct ks_response *resp)
{
    if (ks_get(s, KS_NAMESPACES, NULL, ns))
        return true;
    ks_not_found(resp, KS_NAMESPACES, ns);
    return false;
}
