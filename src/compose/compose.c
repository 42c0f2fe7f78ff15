/*
 * compose.c - the compose compiler's entry point, its policy, and the small
 * naming helpers the session service shares with it.
 *
 * compose_compile() is two steps with the system model in between: the model
 * says what the spec means (compose_model.c); the emitter says how Kubernetes
 * spells it (compose_emit.c).  The policy is plain data with defaults that
 * give Kubernetes' "baseline" pod security and Tycho's volume layout with
 * absolute paths.
 */
#include "compose/compose_int.h"

#include "util/buf.h"
#include "util/mem.h"
#include "util/quantity.h"
#include "util/slug.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void compose_policy_init(struct compose_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->allow_root = true;
    p->default_uid = -1;
    p->default_gid = -1;
    p->default_fs_group = -1;
    p->home_claim = ty_xstrdup("stdnfs");
    p->home_parent = ty_xstrdup("/home");
    p->home_shared = ty_xstrdup("shared");
    p->home_size = ty_xstrdup("10Gi");
    p->init_image = ty_xstrdup("busybox:latest");
    p->init_cpu = ty_xstrdup("250m");
    p->init_memory = ty_xstrdup("250Mi");
    p->init_uid = 0;
    p->init_gid = 0;
    p->service_type = ty_xstrdup("ClusterIP");
    p->ambassador = true;
    p->remote_user_header = true;
    p->network_policy = true;
    p->proxy_selector = ty_xstrdup("app.kubernetes.io/name=ambassador");
    p->gpu_resource = ty_xstrdup("nvidia.com/gpu");
    p->pvc_size = ty_xstrdup("1Gi");
    p->pvc_access_mode = ty_xstrdup("ReadWriteOnce");
}

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

void compose_policy_cleanup(struct compose_policy *p)
{
    if (!p)
        return;
    char **strs[] = {&p->home_claim,   &p->home_parent,   &p->home_shared,     &p->init_image,
                     &p->init_cpu,     &p->init_memory,   &p->gitea_host,      &p->gitea_user,
                     &p->gitea_service, &p->service_type, &p->ambassador_id,   &p->proxy_selector,
                     &p->proxy_namespace, &p->gpu_resource, &p->pvc_size,     &p->storage_class,
                     &p->pvc_access_mode, &p->ingress_class, &p->ingress_host,
                     &p->ingress_tls_secret, &p->home_subpath, &p->home_size,
                     &p->home_storage_class};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    strv_free(p->client_cidrs);
    p->client_cidrs = NULL;
    json_decref(p->gpu_tolerations);
    p->gpu_tolerations = NULL;
    json_decref(p->ingress_annotations);
    p->ingress_annotations = NULL;
}

enum field_kind { F_BOOL, F_LONG, F_STR, F_STRV, F_OBJV, F_STRMAP };

struct field {
    const char *name;
    enum field_kind kind;
    size_t off;
};

#define FB(n) {#n, F_BOOL, offsetof(struct compose_policy, n)}
#define FL(n) {#n, F_LONG, offsetof(struct compose_policy, n)}
#define FS(n) {#n, F_STR, offsetof(struct compose_policy, n)}

static const struct field fields[] = {
    FB(allow_privileged), FB(allow_host_path), FB(allow_host_network), FB(allow_root),
    FL(default_uid),      FL(default_gid),     FL(default_fs_group),   FS(home_claim),
    FS(home_parent),      FS(home_shared),     FB(init_home_dirs),     FS(init_image),
    FS(init_cpu),         FS(init_memory),     FL(init_uid),           FL(init_gid),
    FS(gitea_host),       FS(gitea_user),      FS(gitea_service),      FS(service_type),
    FB(ambassador),       FS(ambassador_id),   FB(remote_user_header), FB(network_policy),
    FS(proxy_selector),   FS(proxy_namespace), {"client_cidrs", F_STRV, offsetof(struct compose_policy, client_cidrs)},
    FS(gpu_resource),     FB(create_pvcs),     FS(pvc_size),           FS(storage_class),
    FS(pvc_access_mode),  {"gpu_tolerations", F_OBJV, offsetof(struct compose_policy, gpu_tolerations)},
    FB(ingress_object),   FS(ingress_class),   FS(ingress_host),       FS(ingress_tls_secret),
    FS(home_subpath),     FB(home_create),     FS(home_size),          FS(home_storage_class),
    {"ingress_annotations", F_STRMAP, offsetof(struct compose_policy, ingress_annotations)},
    {NULL, F_BOOL, 0},
};

static bool cidr_ok(const char *s)
{
    /* Digits, hex, '.', ':' and one '/' with a prefix length. */
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1] || strlen(slash + 1) > 3)
        return false;
    for (const char *p = s; p < slash; p++)
        if (!isxdigit((unsigned char)*p) && *p != '.' && *p != ':')
            return false;
    for (const char *p = slash + 1; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

int compose_policy_from_json(struct compose_policy *p, const json_t *obj, struct ty_error *err)
{
    if (!json_is_object(obj))
        return ty_error_set(err, TY_EINVAL, "compose policy: must be a mapping");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        const struct field *f = fields;
        while (f->name && strcmp(f->name, k))
            f++;
        if (!f->name)
            return ty_error_set(err, TY_EINVAL, "compose policy: unknown key '%s'", k);
        char *base = (char *)p + f->off;
        switch (f->kind) {
        case F_BOOL:
            if (!json_is_boolean(v))
                return ty_error_set(err, TY_EINVAL, "compose policy: %s must be true or false",
                                    k);
            *(bool *)base = json_is_true(v);
            break;
        case F_LONG:
            if (!json_is_integer(v) || json_integer_value(v) < -1 ||
                json_integer_value(v) > 2147483647)
                return ty_error_set(err, TY_EINVAL, "compose policy: %s must be a number", k);
            *(long *)base = (long)json_integer_value(v);
            break;
        case F_STR:
            if (!json_is_string(v) && !json_is_null(v))
                return ty_error_set(err, TY_EINVAL, "compose policy: %s must be a string", k);
            free(*(char **)base);
            *(char **)base = json_is_string(v) ? ty_xstrdup(json_string_value(v)) : NULL;
            break;
        case F_STRV: {
            if (!json_is_array(v))
                return ty_error_set(err, TY_EINVAL, "compose policy: %s must be a list", k);
            char **list = ty_xcalloc(json_array_size(v) + 1, sizeof(char *));
            size_t i;
            const json_t *it;
            json_array_foreach(v, i, it)
            {
                if (!json_is_string(it) || !cidr_ok(json_string_value(it))) {
                    strv_free(list);
                    return ty_error_set(err, TY_EINVAL,
                                        "compose policy: %s[%zu] must be an address range "
                                        "such as 10.0.0.0/8",
                                        k, i);
                }
                list[i] = ty_xstrdup(json_string_value(it));
            }
            strv_free(*(char ***)base);
            *(char ***)base = list;
            break;
        }
        case F_OBJV: {
            size_t i;
            const json_t *it;
            if (!json_is_array(v) && !json_is_null(v))
                return ty_error_set(err, TY_EINVAL, "compose policy: %s must be a list", k);
            json_array_foreach(v, i, it)
            {
                if (!json_is_object(it))
                    return ty_error_set(err, TY_EINVAL,
                                        "compose policy: %s[%zu] must be a mapping", k, i);
            }
            json_decref(*(json_t **)base);
            *(json_t **)base = json_is_array(v) ? json_deep_copy(v) : NULL;
            break;
        }
        case F_STRMAP: {
            const char *mk;
            const json_t *mv;
            if (!json_is_object(v) && !json_is_null(v))
                return ty_error_set(err, TY_EINVAL, "compose policy: %s must be a mapping", k);
            json_object_foreach((json_t *)v, mk, mv)
            {
                if (!json_is_string(mv))
                    return ty_error_set(err, TY_EINVAL,
                                        "compose policy: %s.%s must be a string", k, mk);
            }
            json_decref(*(json_t **)base);
            *(json_t **)base = json_is_object(v) ? json_deep_copy(v) : NULL;
            break;
        }
        }
    }
    if (!p->home_parent || p->home_parent[0] != '/')
        return ty_error_set(err, TY_EINVAL, "compose policy: home_parent must be absolute");
    if (p->home_subpath &&
        (!*p->home_subpath || p->home_subpath[0] == '/' || strstr(p->home_subpath, "..") ||
         !strstr(p->home_subpath, "{username}")))
        return ty_error_set(err, TY_EINVAL,
                            "compose policy: home_subpath must be a relative path holding "
                            "{username}, without '..'");
    if (!p->home_size)
        return ty_error_set(err, TY_EINVAL, "compose policy: home_size cannot be null");
    if (!p->gpu_resource || !ty_is_label_key(p->gpu_resource))
        return ty_error_set(err, TY_EINVAL, "compose policy: gpu_resource must be a resource "
                                            "name");
    if (!p->service_type || !*p->service_type || !p->init_image || !p->init_cpu ||
        !p->init_memory || !p->pvc_size || !p->pvc_access_mode)
        return ty_error_set(err, TY_EINVAL, "compose policy: service_type, init_image, init_cpu, "
                                            "init_memory, pvc_size and pvc_access_mode cannot be "
                                            "null");
    return 0;
}

int compose_compile(json_t **list_out, const struct compose_input *in, struct ty_error *err)
{
    struct compose_policy defaults;
    const struct compose_policy *pol = in->policy;
    struct compose_system *sys = NULL;
    int rc;
    *list_out = NULL;
    if (!pol) {
        compose_policy_init(&defaults);
        pol = &defaults;
    }
    rc = compose_system_build(&sys, in, pol, err);
    if (!rc)
        rc = compose_system_emit(list_out, sys, in, pol, err);
    compose_system_free(sys);
    if (!in->policy)
        compose_policy_cleanup(&defaults);
    return rc;
}

static void amounts_read(struct compose_amounts *out, const struct cmp_res *r)
{
    out->cpu_millis = out->memory_bytes = out->gpus = -1;
    if (r->cpu && ty_quantity_cpu(&out->cpu_millis, r->cpu, NULL) < 0)
        out->cpu_millis = -1;
    if (r->memory && ty_quantity_bytes(&out->memory_bytes, r->memory, NULL) < 0)
        out->memory_bytes = -1;
    if (r->gpus > 0)
        out->gpus = r->gpus;
}

static void amount_add(int64_t *sum, int64_t limit, int64_t request)
{
    int64_t v = limit >= 0 ? limit : request;
    if (v >= 0)
        *sum = (*sum < 0 ? 0 : *sum) + v;
}

int compose_resources_read(struct compose_resource_summary *out,
                           const struct compose_input *in,
                           struct ty_error *err)
{
    struct compose_policy defaults;
    const struct compose_policy *pol = in->policy;
    struct compose_system *sys = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    out->total.cpu_millis = out->total.memory_bytes = out->total.gpus = -1;
    if (!pol) {
        compose_policy_init(&defaults);
        pol = &defaults;
    }
    rc = compose_system_build(&sys, in, pol, err);
    if (rc == 0) {
        for (size_t i = 0; i < sys->ncontainers; i++) {
            struct compose_amounts lim, req;
            amounts_read(&lim, &sys->containers[i].limits);
            amounts_read(&req, &sys->containers[i].requests);
            if (i == sys->main) {
                out->main_limits = lim;
                out->main_requests = req;
            }
            amount_add(&out->total.cpu_millis, lim.cpu_millis, req.cpu_millis);
            amount_add(&out->total.memory_bytes, lim.memory_bytes, req.memory_bytes);
            amount_add(&out->total.gpus, lim.gpus, req.gpus);
        }
    }
    compose_system_free(sys);
    if (!in->policy)
        compose_policy_cleanup(&defaults);
    return rc;
}

char *compose_expand_user(const char *tmpl, const char *value)
{
    struct ty_buf b = TY_BUF_INIT;
    for (const char *s = tmpl; *s;) {
        const char *at = strstr(s, "{username}");
        if (!at) {
            ty_buf_puts(&b, s);
            break;
        }
        ty_buf_append(&b, s, (size_t)(at - s));
        ty_buf_puts(&b, value);
        s = at + strlen("{username}");
    }
    return ty_buf_detach(&b);
}

char *compose_home_claim(const struct compose_policy *pol, const char *username)
{
    if (!pol->home_claim || !*pol->home_claim)
        return NULL;
    if (!strstr(pol->home_claim, "{username}"))
        return ty_xstrdup(pol->home_claim);
    char *slug = ty_slug_object(username, 0);
    char *claim = compose_expand_user(pol->home_claim, slug);
    free(slug);
    return claim;
}

char *compose_home_subpath(const struct compose_policy *pol, const char *username)
{
    char *dir = compose_user_dir(username);
    char *sub = compose_expand_user(pol->home_subpath ? pol->home_subpath : "{username}", dir);
    free(dir);
    return sub;
}

char *compose_system_name(const char *app_id, const char *guid)
{
    char *app = ty_slug_object(app_id, COMPOSE_NAME_MAX);
    char *name = ty_xasprintf("%s-%s", app, guid);
    free(app);
    return name;
}

char *compose_guid_selector(const char *guid)
{
    return ty_xasprintf("executor=tycho,tycho-guid=%s", guid);
}

char *compose_user_selector(const char *username)
{
    char *label = ty_slug_label(username);
    char *sel = ty_xasprintf("executor=tycho,username=%s", label);
    free(label);
    return sel;
}

static void url_escape(struct ty_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~@+", *p)) {
            ty_buf_putc(b, (char)*p);
        } else {
            ty_buf_putc(b, '%');
            ty_buf_putc(b, hex[*p >> 4]);
            ty_buf_putc(b, hex[*p & 15]);
        }
    }
}

char *compose_url_path(const char *app_id, const char *username, const char *guid)
{
    struct ty_buf b = TY_BUF_INIT;
    ty_buf_puts(&b, "/private/");
    url_escape(&b, app_id);
    ty_buf_putc(&b, '/');
    url_escape(&b, username);
    ty_buf_putc(&b, '/');
    url_escape(&b, guid);
    ty_buf_putc(&b, '/');
    return ty_buf_detach(&b);
}

void compose_set_owner(json_t *obj, const char *deployment_name, const char *uid)
{
    json_t *meta = json_object_get(obj, "metadata");
    if (!json_is_object(meta))
        return;
    json_object_set_new(meta, "ownerReferences",
                        json_pack("[{s:s,s:s,s:s,s:s,s:b}]", "apiVersion", "apps/v1", "kind",
                                  "Deployment", "name", deployment_name, "uid", uid, "controller",
                                  1));
}
