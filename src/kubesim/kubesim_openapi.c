/*
 * kubesim_openapi.c - the OpenAPI documents of the simulated cluster, and the
 * field validation that reads them.
 *
 * The definitions come from src/kubesim/openapi/schemas.json (embedded at
 * build time; generate.mjs there made it from kubernetes-models 3.1.0, the
 * Kubernetes 1.22 definitions).  The paths are made here from ks_resources,
 * one collection and one object path per kind (and the status and scale
 * subresources), each operation with the x-kubernetes-action and
 * x-kubernetes-group-version-kind extensions and the query parameters a real
 * server declares.  That is what kubectl reads: its create and apply ask
 * /openapi/v3 for the group version of each object and, when the PATCH
 * operation declares `fieldValidation`, leave the validation to the server
 * and send fieldValidation=Strict.  So the server checks writes against the
 * same definitions (ks_field_validation): fields they do not declare are
 * dropped as a real server drops them when it decodes, reported in a Warning
 * header, or refused with a 400 under Strict.
 *
 * /openapi/v2 is the whole Swagger 2.0 document in JSON (kubectl asks for
 * protobuf, which is 406 here, and only when v3 fails); /openapi/v3 lists one
 * document per group version.  The documents are built once per process and
 * never change.
 */
#include "kubesim/kubesim_int.h"
#include "util/crypto.h"
#include "util/embed.h"
#include "util/mem.h"
#include "util/str.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct ty_embedded_file ty_embed_kubesim_openapi_files[];

/* The group versions with an OpenAPI v3 document. */
/* The body of a PATCH: any of the four patch types. */
#define PATCH_DEF "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"

static const char *const group_versions[] = {"v1", "apps/v1", "networking.k8s.io/v1", NULL};
#define N_GV 3

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct {
    json_t *defs;   /* definitions (v2 references), NULL when the data is missing */
    char *v2;       /* /openapi/v2 */
    char *v3_root;  /* /openapi/v3 */
    char *v3[N_GV]; /* /openapi/v3/api/v1 and the others, by group_versions index */
} oa;

/* ---- paths ---- */

/* "io.k8s.api.apps.v1.Deployment" for r (the group's first label names the package). */
static void def_id(enum ks_res r, const char *suffix, char *out, size_t n)
{
    const struct ks_resource *d = &ks_resources[r];
    size_t glen = strcspn(d->group, ".");
    snprintf(out, n, "io.k8s.api.%.*s.%s.%s%s", d->group[0] ? (int)glen : 4,
             d->group[0] ? d->group : "core", d->version, d->kind, suffix);
}

static json_t *def_ref(const char *id)
{
    char ref[200];
    snprintf(ref, sizeof ref, "#/definitions/%s", id);
    return json_pack("{s:s}", "$ref", ref);
}

static json_t *query_param(const char *name, const char *type)
{
    return json_pack("{s:s,s:s,s:s,s:b}", "name", name, "in", "query", "type", type, "uniqueItems",
                     true);
}

static void add_params(json_t *params, const char *const *names)
{
    for (; *names; names++) {
        bool is_int = !strcmp(*names, "limit") || !strcmp(*names, "timeoutSeconds") ||
                      !strcmp(*names, "gracePeriodSeconds");
        bool is_bool = !strcmp(*names, "watch") || !strcmp(*names, "allowWatchBookmarks") ||
                       !strcmp(*names, "force") || !strcmp(*names, "orphanDependents");
        json_array_append_new(params, query_param(*names, is_int    ? "integer"
                                                          : is_bool ? "boolean"
                                                                    : "string"));
    }
}

/* listCoreV1NamespacedPod, patchAppsV1NamespacedDeploymentScale...: suffix
 * is "", "Scale", "Status" or "ForAllNamespaces". */
static void operation_id(
    enum ks_res r, const char *verb, bool namespaced, const char *suffix, char *out, size_t n)
{
    const struct ks_resource *d = &ks_resources[r];
    char group[32];
    size_t glen = strcspn(d->group, ".");
    snprintf(group, sizeof group, "%.*s", d->group[0] ? (int)glen : 4,
             d->group[0] ? d->group : "core");
    group[0] = (char)(group[0] - 'a' + 'A');
    snprintf(out, n, "%s%sV1%s%s%s", verb, group, namespaced ? "Namespaced" : "", d->kind, suffix);
}

/* One operation (Swagger 2.0 form) on r: verb is the x-kubernetes-action. */
static json_t *operation(enum ks_res r,
                         const char *verb,
                         bool namespaced,
                         const char *sub,
                         const char *body_def,
                         const char *reply_def)
{
    static const char *const list_q[] = {"labelSelector",  "fieldSelector",       "limit",
                                         "continue",       "resourceVersion",     "watch",
                                         "timeoutSeconds", "allowWatchBookmarks", NULL};
    static const char *const write_q[] = {"dryRun", "fieldManager", "fieldValidation", NULL};
    static const char *const patch_q[] = {"force", NULL};
    static const char *const delete_q[] = {"dryRun", "gracePeriodSeconds", "orphanDependents",
                                           "propagationPolicy", NULL};
    const struct ks_resource *d = &ks_resources[r];
    char id[128];
    const char *idverb = !strcmp(verb, "get")    ? "read"
                         : !strcmp(verb, "put")  ? "replace"
                         : !strcmp(verb, "post") ? "create"
                                                 : verb;
    operation_id(r, !strcmp(verb, "deletecollection") ? "deleteCollection" : idverb, namespaced,
                 !strcmp(sub, "scale")    ? "Scale"
                 : !strcmp(sub, "status") ? "Status"
                                          : "",
                 id, sizeof id);
    json_t *params = json_array();
    if (!strcmp(verb, "list") || !strcmp(verb, "deletecollection"))
        add_params(params, list_q);
    if (!strcmp(verb, "post") || !strcmp(verb, "put") || !strcmp(verb, "patch"))
        add_params(params, write_q);
    if (!strcmp(verb, "patch"))
        add_params(params, patch_q);
    if (!strcmp(verb, "delete") || !strcmp(verb, "deletecollection"))
        add_params(params, delete_q);
    if (body_def)
        json_array_append_new(params, json_pack("{s:s,s:s,s:b,s:o}", "name", "body", "in", "body",
                                                "required", true, "schema", def_ref(body_def)));
    const char *kind = !strcmp(sub, "scale") ? "Scale" : d->kind;
    const char *group = !strcmp(sub, "scale") ? "autoscaling" : d->group;
    json_t *op = json_pack("{s:s,s:o,s:{s:{s:s,s:o}},s:s,s:{s:s,s:s,s:s},s:[s],s:[s]}",
                           "operationId", id, "parameters", params, "responses", "200",
                           "description", "OK", "schema", def_ref(reply_def), "x-kubernetes-action",
                           verb, "x-kubernetes-group-version-kind", "group", group, "kind", kind,
                           "version", "v1", "produces", "application/json", "schemes", "https");
    if (!strcmp(verb, "patch"))
        json_object_set_new(
            op, "consumes",
            json_pack("[ssss]", "application/json-patch+json", "application/merge-patch+json",
                      "application/strategic-merge-patch+json", "application/apply-patch+yaml"));
    else if (body_def)
        json_object_set_new(op, "consumes", json_pack("[s]", "application/json"));
    return op;
}

static json_t *path_params(bool namespaced, bool named)
{
    json_t *p = json_array();
    if (named)
        json_array_append_new(p,
                              json_pack("{s:s,s:s,s:b,s:s,s:b}", "name", "name", "in", "path",
                                        "required", true, "type", "string", "uniqueItems", true));
    if (namespaced)
        json_array_append_new(p,
                              json_pack("{s:s,s:s,s:b,s:s,s:b}", "name", "namespace", "in", "path",
                                        "required", true, "type", "string", "uniqueItems", true));
    json_array_append_new(p, query_param("pretty", "string"));
    return p;
}

/* The paths of kind r into paths. */
static void resource_paths(json_t *paths, enum ks_res r)
{
    const struct ks_resource *d = &ks_resources[r];
    char prefix[96], coll[256], item[300], sub[320], obj[128], list[128], scale[64], status[64];
    bool ns = d->namespaced;
    if (d->group[0])
        snprintf(prefix, sizeof prefix, "/apis/%s/%s", d->group, d->version);
    else
        snprintf(prefix, sizeof prefix, "/api/%s", d->version);
    snprintf(coll, sizeof coll, "%s%s/%s", prefix, ns ? "/namespaces/{namespace}" : "", d->plural);
    snprintf(item, sizeof item, "%s/{name}", coll);
    def_id(r, "", obj, sizeof obj);
    def_id(r, "List", list, sizeof list);
    snprintf(scale, sizeof scale, "io.k8s.api.autoscaling.v1.Scale");
    snprintf(status, sizeof status, "io.k8s.apimachinery.pkg.apis.meta.v1.Status");

    json_object_set_new(paths, coll,
                        json_pack("{s:o,s:o,s:o,s:o}", "get",
                                  operation(r, "list", ns, "", NULL, list), "post",
                                  operation(r, "post", ns, "", obj, obj), "delete",
                                  operation(r, "deletecollection", ns, "", NULL, status),
                                  "parameters", path_params(ns, false)));
    json_object_set_new(paths, item,
                        json_pack("{s:o,s:o,s:o,s:o,s:o}", "get",
                                  operation(r, "get", ns, "", NULL, obj), "put",
                                  operation(r, "put", ns, "", obj, obj), "patch",
                                  operation(r, "patch", ns, "", PATCH_DEF, obj), "delete",
                                  operation(r, "delete", ns, "", NULL, status), "parameters",
                                  path_params(ns, true)));
    if (ns) {
        char all[128];
        snprintf(all, sizeof all, "%s/%s", prefix, d->plural);
        json_t *op = operation(r, "list", false, "", NULL, list);
        char id[128];
        operation_id(r, "list", false, "ForAllNamespaces", id, sizeof id);
        json_object_set_new(op, "operationId", json_string(id));
        json_object_set_new(
            paths, all, json_pack("{s:o,s:o}", "get", op, "parameters", path_params(false, false)));
    }
    if (r == KS_DEPLOYMENTS || r == KS_REPLICASETS) {
        snprintf(sub, sizeof sub, "%s/scale", item);
        json_object_set_new(paths, sub,
                            json_pack("{s:o,s:o,s:o,s:o}", "get",
                                      operation(r, "get", ns, "scale", NULL, scale), "put",
                                      operation(r, "put", ns, "scale", scale, scale), "patch",
                                      operation(r, "patch", ns, "scale", PATCH_DEF, scale),
                                      "parameters", path_params(ns, true)));
    }
    if (r != KS_CONFIGMAPS && r != KS_SECRETS && r != KS_EVENTS && r != KS_NETPOLS) {
        snprintf(sub, sizeof sub, "%s/status", item);
        json_object_set_new(paths, sub,
                            json_pack("{s:o,s:o,s:o,s:o}", "get",
                                      operation(r, "get", ns, "status", NULL, obj), "put",
                                      operation(r, "put", ns, "status", obj, obj), "patch",
                                      operation(r, "patch", ns, "status", PATCH_DEF, obj),
                                      "parameters", path_params(ns, true)));
    }
}

/* ---- OpenAPI v3 from the v2 forms ---- */

/* Rewrites every "$ref": "#/definitions/X" under v to "#/components/schemas/X". */
static void refs_to_v3(json_t *v)
{
    const char *k;
    json_t *e;
    size_t i;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            refs_to_v3(e);
        }
        return;
    }
    json_object_foreach(v, k, e)
    {
        const char *ref = json_string_value(e);
        if (!strcmp(k, "$ref") && ref && ty_str_has_prefix(ref, "#/definitions/")) {
            char buf[256];
            snprintf(buf, sizeof buf, "#/components/schemas/%s", ref + 14);
            json_object_set_new(v, k, json_string(buf));
        } else {
            refs_to_v3(e);
        }
    }
}

/* A Swagger 2.0 parameter as OpenAPI 3: the type moves into a schema. */
static json_t *param_v3(const json_t *p)
{
    json_t *schema = json_object();
    json_t *out =
        json_pack("{s:O,s:O}", "name", json_object_get(p, "name"), "in", json_object_get(p, "in"));
    if (json_object_get(p, "required"))
        json_object_set(out, "required", json_object_get(p, "required"));
    json_object_set(schema, "type", json_object_get(p, "type"));
    if (json_object_get(p, "uniqueItems"))
        json_object_set(schema, "uniqueItems", json_object_get(p, "uniqueItems"));
    json_object_set_new(out, "schema", schema);
    return out;
}

static json_t *operation_v3(const json_t *op)
{
    json_t *out = json_deep_copy(op), *params = json_array(), *p;
    size_t i;
    json_object_del(out, "parameters");
    json_object_del(out, "produces");
    json_object_del(out, "consumes");
    json_object_del(out, "schemes");
    json_array_foreach(json_object_get(op, "parameters"), i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "in")), "body") != 0) {
            json_array_append_new(params, param_v3(p));
            continue;
        }
        json_t *content = json_object(), *ct;
        size_t j;
        json_array_foreach(json_object_get(op, "consumes"), j, ct)
        {
            json_object_set_new(content, json_string_value(ct),
                                json_pack("{s:O}", "schema", json_object_get(p, "schema")));
        }
        json_object_set_new(out, "requestBody",
                            json_pack("{s:o,s:b}", "content", content, "required", true));
    }
    json_object_set_new(out, "parameters", params);
    json_t *schema = json_object_get(ks_at(op, "responses"), "200");
    json_object_set_new(out, "responses",
                        json_pack("{s:{s:s,s:{s:{s:O}}}}", "200", "description", "OK", "content",
                                  "application/json", "schema", json_object_get(schema, "schema")));
    refs_to_v3(out);
    return out;
}

static json_t *path_v3(const json_t *item)
{
    json_t *out = json_object(), *v, *p;
    const char *k;
    size_t i;
    json_object_foreach((json_t *)item, k, v)
    {
        if (!strcmp(k, "parameters")) {
            json_t *params = json_array();
            json_array_foreach(v, i, p)
            {
                json_array_append_new(params, param_v3(p));
            }
            json_object_set_new(out, k, params);
        } else {
            json_object_set_new(out, k, operation_v3(v));
        }
    }
    return out;
}

/* ---- building the documents ---- */

static char *dump(json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    return text;
}

static void build(void)
{
    const struct ty_embedded_file *f = ty_embed_kubesim_openapi_files;
    while (f->path && strcmp(f->path, "schemas.json") != 0)
        f++;
    json_t *data = f->path ? json_loadb((const char *)f->data, f->size, 0, NULL) : NULL;
    oa.defs = json_incref(json_object_get(data, "definitions"));
    json_decref(data);
    if (!json_is_object(oa.defs))
        return;

    json_t *paths = json_object(), *gv_paths[N_GV];
    for (int g = 0; g < N_GV; g++)
        gv_paths[g] = json_object();
    for (int r = 0; r < KS_NRES; r++) {
        json_t *mine = json_object();
        resource_paths(mine, (enum ks_res)r);
        json_object_update(paths, mine);
        for (int g = 0; g < N_GV; g++)
            if (!strcmp(group_versions[g], ks_res_api_version((enum ks_res)r)))
                json_object_update(gv_paths[g], mine);
        json_decref(mine);
    }
    oa.v2 =
        dump(json_pack("{s:s,s:{s:s,s:s},s:o,s:O}", "swagger", "2.0", "info", "title", "Kubernetes",
                       "version", "v1.32.0-kubesim", "paths", paths, "definitions", oa.defs));

    json_t *schemas = json_deep_copy(oa.defs), *root = json_object();
    refs_to_v3(schemas);
    for (int g = 0; g < N_GV; g++) {
        json_t *p3 = json_object(), *v;
        const char *k;
        json_object_foreach(gv_paths[g], k, v)
        {
            json_object_set_new(p3, k, path_v3(v));
        }
        json_decref(gv_paths[g]);
        oa.v3[g] = dump(json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:O}}", "openapi", "3.0.0", "info",
                                  "title", "Kubernetes", "version", "v1.32.0-kubesim", "paths", p3,
                                  "components", "schemas", schemas));
        /* The hash names the content, so clients may cache it (kubectl does). */
        unsigned char d[TY_SHA256_LEN];
        char hex[2 * TY_SHA256_LEN + 1], url[200], key[64];
        ty_sha256(d, oa.v3[g], strlen(oa.v3[g]));
        for (int i = 0; i < TY_SHA256_LEN; i++)
            snprintf(hex + 2 * i, 3, "%02X", d[i]);
        snprintf(key, sizeof key, "%s%s", strchr(group_versions[g], '/') ? "apis/" : "api/",
                 group_versions[g]);
        snprintf(url, sizeof url, "/openapi/v3/%s?hash=%s", key, hex);
        json_object_set_new(root, key, json_pack("{s:s}", "serverRelativeURL", url));
    }
    json_decref(schemas);
    oa.v3_root = dump(json_pack("{s:o}", "paths", root));
}

/* ---- serving ---- */

static void reply_text(struct ks_response *resp, const char *text)
{
    resp->status = 200;
    resp->content_type = KS_CT_JSON;
    ty_buf_reset(&resp->body);
    ty_buf_puts(&resp->body, text);
}

/* Whether Accept allows JSON (absent, a JSON type, or any). */
static bool accepts_json(const char *accept)
{
    return !accept || strstr(accept, "application/json") || strstr(accept, "*/*");
}

bool ks_api_openapi(const struct ks_request *rq, struct ks_response *resp)
{
    const char *p = rq->path;
    if (!ty_str_has_prefix(p, "/openapi/"))
        return false;
    pthread_once(&once, build);
    if (!oa.v2) {
        ks_status(resp, 503, "ServiceUnavailable", NULL, KS_PODS,
                  "the OpenAPI definitions are not embedded in this binary");
        return true;
    }
    if (!accepts_json(rq->accept)) {
        ks_status(resp, 406, "NotAcceptable", NULL, KS_PODS,
                  "only the following media types are accepted: application/json (the simulated "
                  "cluster serves no protobuf)");
        return true;
    }
    if (!strcmp(p, "/openapi/v2") || !strcmp(p, "/openapi/v2/")) {
        reply_text(resp, oa.v2);
        return true;
    }
    if (!strcmp(p, "/openapi/v3") || !strcmp(p, "/openapi/v3/")) {
        reply_text(resp, oa.v3_root);
        return true;
    }
    for (int g = 0; g < N_GV; g++) {
        char path[96];
        snprintf(path, sizeof path, "/openapi/v3/%s%s",
                 strchr(group_versions[g], '/') ? "apis/" : "api/", group_versions[g]);
        if (!strcmp(p, path)) {
            reply_text(resp, oa.v3[g]);
            return true;
        }
    }
    return false; /* the caller's 404 */
}

/* ---- field validation ---- */

#define MAX_UNKNOWN 16

struct unknown {
    int n;
    char paths[MAX_UNKNOWN][256];
};

static const json_t *resolve(const json_t *schema)
{
    for (int hops = 0; hops < 8; hops++) {
        const char *ref = json_string_value(json_object_get(schema, "$ref"));
        if (!ref || !ty_str_has_prefix(ref, "#/definitions/"))
            return schema;
        schema = json_object_get(oa.defs, ref + 14);
    }
    return schema;
}

/* Drops from v the fields schema does not declare, noting their paths. */
static void prune(json_t *v, const json_t *schema, const char *path, struct unknown *u, int depth)
{
    schema = resolve(schema);
    if (!schema || depth > 64)
        return;
    const json_t *props = json_object_get(schema, "properties");
    const json_t *addl = json_object_get(schema, "additionalProperties");
    const json_t *items = json_object_get(schema, "items");
    char sub[300];
    if (json_is_array(v) && items) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            prune(e, items, sub, u, depth + 1);
        }
        return;
    }
    if (!json_is_object(v) || (!props && !json_is_object(addl)))
        return;
    const char *k;
    json_t *e, *tmp;
    json_object_foreach_safe(v, tmp, k, e)
    {
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", k);
        const json_t *ps = props ? json_object_get(props, k) : addl;
        if (!props && json_is_object(addl))
            snprintf(sub, sizeof sub, "%s[%s]", path, k);
        if (ps) {
            prune(e, ps, sub, u, depth + 1);
            continue;
        }
        if (u->n < MAX_UNKNOWN)
            ty_strlcpy(u->paths[u->n], sub, sizeof u->paths[0]);
        u->n++;
        json_object_del(v, k);
    }
}

/* A Warning header line (RFC 7234 299) for an unknown field.  The field name
 * comes from the client's JSON, so anything outside printable ASCII becomes
 * '?' and quotes are escaped: nothing it holds can end the header. */
static void warn_unknown(struct ty_buf *h, const char *field)
{
    ty_buf_puts(h, "Warning: 299 - \"unknown field \\\"");
    for (const unsigned char *p = (const unsigned char *)field; *p; p++) {
        if (*p == '"' || *p == '\\')
            ty_buf_puts(h, "\\\\\\");
        ty_buf_putc(h, *p >= 0x20 && *p < 0x7f ? (char)*p : '?');
    }
    ty_buf_puts(h, "\\\"\"\r\n");
}

bool ks_field_validation(const struct ks_request *rq,
                         enum ks_res r,
                         json_t *obj,
                         struct ks_response *resp)
{
    char id[128];
    struct unknown u;
    const char *mode = ks_query_get(&rq->q, "fieldValidation");
    pthread_once(&once, build);
    if (!oa.defs)
        return true;
    if (mode && strcmp(mode, "Strict") && strcmp(mode, "Warn") && strcmp(mode, "Ignore")) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "fieldValidation: Unsupported value: \"%.100s\": supported values: \"Ignore\", "
                 "\"Strict\", \"Warn\"",
                 mode);
        ks_bad_request(resp, msg);
        return false;
    }
    def_id(r, "", id, sizeof id);
    u.n = 0;
    prune(obj, json_object_get(oa.defs, id), "", &u, 0);
    if (u.n == 0 || (mode && !strcmp(mode, "Ignore")))
        return true;
    if (mode && !strcmp(mode, "Strict")) {
        struct ty_buf msg = TY_BUF_INIT;
        ty_buf_printf(&msg,
                      "%s in version \"%s\" cannot be handled as a %s: strict decoding error: ",
                      ks_resources[r].kind, ks_resources[r].version, ks_resources[r].kind);
        for (int i = 0; i < u.n && i < MAX_UNKNOWN; i++)
            ty_buf_printf(&msg, "%sunknown field \"%s\"", i ? ", " : "", u.paths[i]);
        ks_bad_request(resp, ty_buf_cstr(&msg));
        ty_buf_cleanup(&msg);
        return false;
    }
    for (int i = 0; i < u.n && i < MAX_UNKNOWN; i++)
        warn_unknown(&resp->headers, u.paths[i]);
    return true;
}
