/*
 * kube_ops.c - the object verbs (create, get, replace, merge-patch, delete,
 * delete-collection, list with paging, metrics) on top of kube_do().
 *
 * Each verb builds a path and query, serialises the body, and parses the
 * reply as JSON.  A 2xx reply that is not JSON is TY_EUPSTREAM: the server is
 * not behaving like a Kubernetes API server and the caller should know.
 */
#include "kube/kube_int.h"

#include "util/mem.h"

#include <string.h>

#define LIST_ALL_PAGE      500
#define LIST_ALL_MAX_PAGES 100000

static const char *ns_or_default(struct kube_client *c, const char *ns)
{
    return ns ? ns : c->cfg.namespace;
}

static int check_name(const char *name, struct ty_error *err)
{
    if (!name || !name[0])
        return ty_error_set(err, TY_EINVAL, "kube: an object name is required");
    return 0;
}

static int check_ns(const char *ns, struct ty_error *err)
{
    if (!ns[0])
        return ty_error_set(err, TY_EINVAL, "kube: a namespace is required for this call");
    return 0;
}

static int check_kind(enum kube_kind kind, struct ty_error *err)
{
    if ((int)kind < 0 || kind >= KUBE_KIND_COUNT)
        return ty_error_set(err, TY_EINVAL, "kube: bad kind %d", (int)kind);
    return 0;
}

/* Runs the request and parses the reply into *out (when out is not NULL). */
static int call_json(json_t **out,
                     struct kube_client *c,
                     const char *method,
                     const char *path,
                     const json_t *body,
                     const char *content_type,
                     struct ty_error *err)
{
    struct kube_req r = {0};
    struct kube_resp resp = {0, TY_BUF_INIT, false};
    char *text = NULL;
    int rc;

    if (out)
        *out = NULL;
    r.method = method;
    r.path = path;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text) {
            rc = ty_error_set(err, TY_EINVAL, "kube: %s %s: body cannot be serialised", method,
                              path);
            goto out;
        }
        r.body = text;
        r.body_len = strlen(text);
        r.content_type = content_type ? content_type : "application/json";
    }
    rc = kube_do(c, &r, &resp, err);
    if (rc == 0 && out) {
        json_error_t jerr;
        *out = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, &jerr);
        if (!*out)
            rc = ty_error_set(err, TY_EUPSTREAM, "kube: %s %.*s: reply is not JSON: %d:%d: %s",
                              method, (int)strcspn(path, "?"), path, jerr.line, jerr.column,
                              jerr.text);
    }
out:
    free(text);
    ty_buf_cleanup(&resp.body);
    kube_count_call(c, rc);
    return rc;
}

int kube_request_json(json_t **out,
                      struct kube_client *c,
                      const char *method,
                      const char *path,
                      const json_t *body,
                      struct ty_error *err)
{
    if (out)
        *out = NULL;
    if (!path || path[0] != '/')
        return ty_error_set(err, TY_EINVAL, "kube: request path must start with '/'");
    return call_json(out, c, method, path, body, NULL, err);
}

int kube_create(json_t **out,
                struct kube_client *c,
                enum kube_kind kind,
                const char *ns,
                const json_t *body,
                struct ty_error *err)
{
    struct ty_buf path = TY_BUF_INIT;
    json_t *copy = NULL;
    int rc;

    if (out)
        *out = NULL;
    ns = ns_or_default(c, ns);
    if ((rc = check_kind(kind, err)) || (rc = check_ns(ns, err)))
        return rc;
    if (!json_is_object(body))
        return ty_error_set(err, TY_EINVAL, "kube: create %s: body must be an object",
                            kube_kind_name(kind));
    if (!json_object_get(body, "apiVersion") || !json_object_get(body, "kind")) {
        copy = json_copy((json_t *)body);
        if (!json_object_get(copy, "apiVersion"))
            json_object_set_new(copy, "apiVersion", json_string(kube_kind_api_version(kind)));
        if (!json_object_get(copy, "kind"))
            json_object_set_new(copy, "kind", json_string(kube_kind_name(kind)));
        body = copy;
    }
    kube_path_build(&path, kind, ns, NULL);
    rc = call_json(out, c, "POST", path.data, body, NULL, err);
    ty_buf_cleanup(&path);
    json_decref(copy);
    return rc;
}

static json_t *delete_options(enum kube_propagation p)
{
    static const char *const names[] = {NULL, "Background", "Foreground", "Orphan"};
    json_t *o;
    if ((int)p <= 0 || (int)p > 3)
        return NULL;
    o = json_object();
    json_object_set_new(o, "kind", json_string("DeleteOptions"));
    json_object_set_new(o, "apiVersion", json_string("v1"));
    json_object_set_new(o, "propagationPolicy", json_string(names[p]));
    return o;
}

/* One request on the object kind/ns/name: checks the arguments, builds the
 * path, sends body (may be NULL) with ctype (NULL = JSON). */
static int object_call(json_t **out,
                       struct kube_client *c,
                       enum kube_kind kind,
                       const char *ns,
                       const char *name,
                       const char *method,
                       const json_t *body,
                       const char *ctype,
                       struct ty_error *err)
{
    struct ty_buf path = TY_BUF_INIT;
    int rc;

    if (out)
        *out = NULL;
    ns = ns_or_default(c, ns);
    if ((rc = check_kind(kind, err)) || (rc = check_ns(ns, err)) || (rc = check_name(name, err)))
        return rc;
    kube_path_build(&path, kind, ns, name);
    rc = call_json(out, c, method, path.data, body, ctype, err);
    ty_buf_cleanup(&path);
    return rc;
}

int kube_get(json_t **out,
             struct kube_client *c,
             enum kube_kind kind,
             const char *ns,
             const char *name,
             struct ty_error *err)
{
    return object_call(out, c, kind, ns, name, "GET", NULL, NULL, err);
}

int kube_replace(json_t **out,
                 struct kube_client *c,
                 enum kube_kind kind,
                 const char *ns,
                 const char *name,
                 const json_t *body,
                 struct ty_error *err)
{
    if (out)
        *out = NULL;
    if (!json_is_object(body))
        return ty_error_set(err, TY_EINVAL, "kube: replace: body must be an object");
    return object_call(out, c, kind, ns, name, "PUT", body, NULL, err);
}

int kube_patch_merge(json_t **out,
                     struct kube_client *c,
                     enum kube_kind kind,
                     const char *ns,
                     const char *name,
                     const json_t *patch,
                     struct ty_error *err)
{
    if (out)
        *out = NULL;
    if (!json_is_object(patch))
        return ty_error_set(err, TY_EINVAL, "kube: patch: a merge patch must be an object");
    return object_call(out, c, kind, ns, name, "PATCH", patch, "application/merge-patch+json", err);
}

int kube_delete(struct kube_client *c,
                enum kube_kind kind,
                const char *ns,
                const char *name,
                enum kube_propagation propagation,
                struct ty_error *err)
{
    json_t *opts = delete_options(propagation);
    int rc = object_call(NULL, c, kind, ns, name, "DELETE", opts, NULL, err);
    json_decref(opts);
    return rc;
}

int kube_delete_collection(struct kube_client *c,
                           enum kube_kind kind,
                           const char *ns,
                           const char *label_selector,
                           enum kube_propagation propagation,
                           struct ty_error *err)
{
    struct ty_buf path = TY_BUF_INIT;
    json_t *opts = NULL;
    int rc;

    ns = ns_or_default(c, ns);
    if ((rc = check_kind(kind, err)) || (rc = check_ns(ns, err)))
        return rc;
    kube_path_build(&path, kind, ns, NULL);
    if (label_selector && label_selector[0])
        kube_query_add(&path, "labelSelector", label_selector);
    opts = delete_options(propagation);
    rc = call_json(NULL, c, "DELETE", path.data, opts, NULL, err);
    ty_buf_cleanup(&path);
    json_decref(opts);
    return rc;
}

static void add_list_query(struct ty_buf *path, const struct kube_list_opts *o)
{
    char num[32];
    if (!o)
        return;
    if (o->label_selector && o->label_selector[0])
        kube_query_add(path, "labelSelector", o->label_selector);
    if (o->field_selector && o->field_selector[0])
        kube_query_add(path, "fieldSelector", o->field_selector);
    if (o->limit > 0) {
        snprintf(num, sizeof(num), "%ld", o->limit);
        kube_query_add(path, "limit", num);
    }
    if (o->continue_token && o->continue_token[0])
        kube_query_add(path, "continue", o->continue_token);
    if (o->resource_version)
        kube_query_add(path, "resourceVersion", o->resource_version);
}

int kube_list(json_t **list_out,
              struct kube_client *c,
              enum kube_kind kind,
              const char *ns,
              const struct kube_list_opts *o,
              struct ty_error *err)
{
    struct ty_buf path = TY_BUF_INIT;
    json_t *list = NULL;
    int rc;

    *list_out = NULL;
    ns = ns_or_default(c, ns);
    if ((rc = check_kind(kind, err)))
        return rc;
    kube_path_build(&path, kind, ns, NULL);
    add_list_query(&path, o);
    rc = call_json(&list, c, "GET", path.data, NULL, NULL, err);
    ty_buf_cleanup(&path);
    if (rc)
        return rc;
    if (!json_is_array(json_object_get(list, "items"))) {
        json_decref(list);
        return ty_error_set(err, TY_EUPSTREAM, "kube: list %s: reply has no items array",
                            kube_kind_resource(kind));
    }
    *list_out = list;
    return 0;
}

int kube_list_all(json_t **list_out,
                  struct kube_client *c,
                  enum kube_kind kind,
                  const char *ns,
                  const struct kube_list_opts *o,
                  struct ty_error *err)
{
    struct kube_list_opts page = KUBE_LIST_OPTS_INIT;
    json_t *all = NULL, *cur = NULL;
    char *token = NULL;
    int rc = 0;

    *list_out = NULL;
    if (o)
        page = *o;
    if (page.limit <= 0)
        page.limit = LIST_ALL_PAGE;
    for (int n = 0;; n++) {
        const char *next;
        if (n == LIST_ALL_MAX_PAGES) {
            rc = ty_error_set(err, TY_ELIMIT, "kube: list %s: more than %d pages",
                              kube_kind_resource(kind), LIST_ALL_MAX_PAGES);
            goto out;
        }
        page.continue_token = token;
        rc = kube_list(&cur, c, kind, ns, &page, err);
        if (rc)
            goto out;
        if (!all) {
            all = cur;
        } else {
            json_array_extend(json_object_get(all, "items"), json_object_get(cur, "items"));
        }
        next = json_string_value(json_object_get(json_object_get(cur, "metadata"), "continue"));
        free(token);
        token = next && next[0] ? ty_xstrdup(next) : NULL;
        if (cur != all)
            json_decref(cur);
        cur = NULL;
        if (!token)
            break;
        /* Later pages are served at the first page's resourceVersion; the
         * server knows it from the token, so it must not be passed again. */
        page.resource_version = NULL;
    }
    {
        json_t *md = json_object_get(all, "metadata");
        if (json_is_object(md)) {
            json_object_del(md, "continue");
            json_object_del(md, "remainingItemCount");
        }
    }
    *list_out = all;
    all = NULL;
out:
    free(token);
    json_decref(all);
    return rc;
}

int kube_pod_metrics(json_t **out,
                     struct kube_client *c,
                     const char *ns,
                     const char *label_selector,
                     struct ty_error *err)
{
    struct ty_buf path = TY_BUF_INIT;
    int rc;

    *out = NULL;
    ns = ns_or_default(c, ns);
    ty_buf_puts(&path, "/apis/metrics.k8s.io/v1beta1");
    if (ns[0]) {
        ty_buf_puts(&path, "/namespaces/");
        kube_url_escape(&path, ns);
    }
    ty_buf_puts(&path, "/pods");
    if (label_selector && label_selector[0])
        kube_query_add(&path, "labelSelector", label_selector);
    rc = call_json(out, c, "GET", path.data, NULL, NULL, err);
    ty_buf_cleanup(&path);
    if (rc == TY_ENOTFOUND)
        ty_error_wrap(err, "metrics API not served: ");
    return rc;
}
