/*
 * api_apps.c - GET /v1/apps and GET /v1/apps/:id: the apps the caller may
 * launch, with what HeLx Appstore shows for each (name, description, docs,
 * icon, count) plus the resource range read from the app's compose spec
 * (min = the first service's deploy.resources.reservations, max = its
 * limits; GPUs from its first `devices` entry with the gpu capability, as
 * Appstore's get_definition does).
 *
 * Reading specs can mean HTTP fetches, so the list is built once per loaded
 * registry (keyed by its load time and commit) and kept; a reload builds a
 * new one on the next request.  Visibility is then applied per caller, from
 * two optional fields of the resolved registry entry:
 *   visibility: public (default) | admin   ("admin": listed to admins only)
 *   users: [name, ...]                     (listed to those users, and admins)
 * Platform tokens see what the user they name (X-Tycho-User / ?user=) sees,
 * or everything when they name nobody.
 *
 * GET /v1/apps/:id/icon serves the file the entry's `icon` names (read through
 * registry_app_icon_read(), so a git registry's icon stays inside its
 * checkout) to those who may see the app, and only when its first bytes say it
 * is a PNG, JPEG, GIF or WebP image: an SVG, HTML or anything else named
 * icon.png could carry script, so it is refused like a missing icon.  The
 * browser may keep an icon for a few minutes (private, varied by caller).
 */
#include "api/api_srv.h"
#include "doc/doc.h"
#include "registry/registry.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

#include <stdlib.h>
#include <string.h>

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *cache_list;      /* array of app views */
static int64_t cache_loaded_at; /* registry loaded_at_ms */
static char cache_key[128];     /* commit + context */
static const void *cache_srv;

static json_t *quantity_json(const json_t *v)
{
    if (json_is_string(v))
        return json_string(json_string_value(v));
    if (json_is_integer(v))
        return json_sprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v))
        return json_sprintf("%g", json_real_value(v));
    return json_null();
}

static json_t *res_view(const json_t *r, int gpus)
{
    json_t *o = json_object();
    json_object_set_new(o, "cpus", quantity_json(json_object_get(r, "cpus")));
    json_object_set_new(o, "memory", quantity_json(json_object_get(r, "memory")));
    json_object_set_new(o, "gpus", json_integer(gpus));
    json_object_set_new(o, "ephemeral_storage",
                        quantity_json(json_object_get(r, "ephemeralStorage")));
    return o;
}

/* Fills view["resources"] from the spec text. */
static void spec_resources(json_t *view, const char *name, const char *text, size_t len)
{
    struct doc *d = NULL;
    struct ty_error e = TY_ERROR_INIT;
    if (doc_parse(&d, name, text, len, NULL, &e) < 0) {
        json_object_set_new(view, "spec_error", json_string(e.msg));
        return;
    }
    json_t *services = json_object_get(doc_root(d), "services");
    const char *sname;
    json_t *svc, *first = NULL;
    json_object_foreach(services, sname, svc)
    {
        first = svc;
        break;
    }
    json_t *res = json_object_get(json_object_get(first, "deploy"), "resources");
    json_t *limits = json_object_get(res, "limits"), *resv = json_object_get(res, "reservations");
    int gpus = 0;
    json_t *dev;
    size_t i;
    json_array_foreach(json_object_get(resv, "devices"), i, dev)
    {
        json_t *caps = json_object_get(dev, "capabilities"), *c;
        size_t j;
        bool gpu = false;
        json_array_foreach(caps, j, c) gpu =
            gpu || (json_is_string(c) && !strcmp(json_string_value(c), "gpu"));
        if (gpu) {
            json_t *count = json_object_get(dev, "count");
            gpus = json_is_integer(count) ? (int)json_integer_value(count) : 0;
            break;
        }
    }
    json_object_set_new(
        view, "resources",
        json_pack("{s:o, s:o}", "min", res_view(resv, gpus), "max", res_view(limits, gpus)));
    doc_free(d);
}

/* "/v1/apps/<id>/icon" with id percent-encoded outside [A-Za-z0-9._~-]. */
static json_t *icon_url_json(const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    struct ty_buf b = TY_BUF_INIT;
    ty_buf_puts(&b, "/v1/apps/");
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("._~-", *p))
            ty_buf_append(&b, p, 1);
        else
            ty_buf_printf(&b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
    ty_buf_puts(&b, "/icon");
    json_t *out = json_stringn(b.data, b.len);
    ty_buf_cleanup(&b);
    return out;
}

static json_t *build_list(struct registry *r, const json_t *apps)
{
    json_t *list = json_array();
    const char *id;
    json_t *a;
    json_object_foreach((json_t *)apps, id, a)
    {
        json_t *v = json_object();
        json_object_set_new(v, "id", json_string(id));
        static const char *const copy[] = {"name",  "description", "details",    "docs",  "icon",
                                           "count", "services",    "visibility", "users", NULL};
        for (const char *const *k = copy; *k; k++) {
            json_t *x = json_object_get(a, *k);
            json_object_set_new(v, *k, x ? json_deep_copy(x) : json_null());
        }
        const char *icon = json_string_value(json_object_get(a, "icon"));
        json_object_set_new(v, "icon_url", icon && *icon ? icon_url_json(id) : json_null());
        char *text = NULL, *name = NULL;
        size_t len = 0;
        struct ty_error e = TY_ERROR_INIT;
        if (registry_app_spec_read(&text, &len, &name, r, a, &e) == 0)
            spec_resources(v, name ? name : id, text, len);
        else
            json_object_set_new(v, "spec_error", json_string(e.msg));
        if (!json_object_get(v, "resources"))
            json_object_set_new(v, "resources", json_null());
        free(text);
        free(name);
        json_array_append_new(list, v);
    }
    return list;
}

/* A new reference to the app views of the live registry. */
static int apps_views(json_t **out, struct api_server *srv, struct ty_error *err)
{
    *out = NULL;
    struct registry *r = registry_holder_get(srv->reg);
    const json_t *apps = NULL;
    int rc = registry_apps_get(&apps, r, srv->context, err);
    if (rc < 0) {
        registry_put(r);
        return rc;
    }
    char key[128];
    snprintf(key, sizeof(key), "%s/%s", r->commit, srv->context);
    pthread_mutex_lock(&cache_mu);
    if (cache_list && cache_srv == srv && cache_loaded_at == r->loaded_at_ms &&
        !strcmp(cache_key, key)) {
        *out = json_incref(cache_list);
        pthread_mutex_unlock(&cache_mu);
        registry_put(r);
        return 0;
    }
    pthread_mutex_unlock(&cache_mu);
    json_t *list = build_list(r, apps);
    pthread_mutex_lock(&cache_mu);
    json_decref(cache_list);
    cache_list = json_incref(list);
    cache_loaded_at = r->loaded_at_ms;
    cache_srv = srv;
    ty_strlcpy(cache_key, key, sizeof(cache_key));
    pthread_mutex_unlock(&cache_mu);
    registry_put(r);
    *out = list;
    return 0;
}

void api_apps_cache_clear(void)
{
    pthread_mutex_lock(&cache_mu);
    json_decref(cache_list);
    cache_list = NULL;
    cache_srv = NULL;
    pthread_mutex_unlock(&cache_mu);
}

/* Whether user (NULL/"" = anyone, for admins and platform without a user)
 * may see app view v. */
static bool visible(const json_t *v, const struct api_req *req, const char *user)
{
    if (api_is_admin(req) && !(user && user[0]))
        return true;
    const char *vis = json_string_value(json_object_get(v, "visibility"));
    if (vis && !strcmp(vis, "admin"))
        return api_is_admin(req) && !(user && user[0]);
    json_t *users = json_object_get(v, "users");
    if (json_is_array(users)) {
        if (!user || !user[0])
            return req->who.role == API_ROLE_PLATFORM;
        size_t i;
        json_t *u;
        json_array_foreach(users, i, u) if (json_is_string(u) &&
                                            !strcmp(json_string_value(u), user)) return true;
        return false;
    }
    return true;
}

static int apps_list(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    static const char *const allowed[] = {"user", NULL};
    char user[128];
    json_t *list = NULL;
    int rc = api_query_check(req->query, allowed, err);
    if (rc < 0)
        return rc;
    if ((rc = api_query_get(user, sizeof(user), req->query, "user", err)) < 0)
        return rc;
    if ((rc = api_acting_user(user, sizeof(user), req, rc > 0 ? user : NULL, false, err)) < 0)
        return rc;
    if ((rc = apps_views(&list, req->srv, err)) < 0)
        return rc;
    json_t *items = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (visible(v, req, user)) json_array_append(items, v);
    json_decref(list);
    api_resp_json(resp, 200,
                  json_pack("{s:s?, s:o}", "context", req->srv->context, "items", items));
    return 0;
}

/* The view of app id (a new reference in *out) when the caller may see it;
 * TY_ENOTFOUND otherwise, whether it exists or not. */
static int app_view_find(json_t **out, struct api_req *req, const char *id, struct ty_error *err)
{
    char user[128];
    json_t *list = NULL;
    *out = NULL;
    int rc = api_acting_user(user, sizeof(user), req, NULL, false, err);
    if (rc < 0)
        return rc;
    if ((rc = apps_views(&list, req->srv, err)) < 0)
        return rc;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "id")), id) && visible(v, req, user)) {
            *out = json_incref(v);
            break;
        }
    }
    json_decref(list);
    if (!*out)
        return ty_error_set(err, TY_ENOTFOUND, "no such app: %.100s", id);
    return 0;
}

static int apps_get(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    json_t *found = NULL;
    int rc = app_view_find(&found, req, api_param(req, "id"), err);
    if (rc < 0)
        return rc;
    api_resp_json(resp, 200, found);
    return 0;
}

/* The Content-Type of a raster image recognised by its magic bytes, or NULL. */
static const char *icon_type(const unsigned char *d, size_t len)
{
    if (len >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8))
        return "image/png";
    if (len >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
        return "image/jpeg";
    if (len >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6)))
        return "image/gif";
    if (len >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4))
        return "image/webp";
    return NULL;
}

static int apps_icon(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    const char *id = api_param(req, "id");
    json_t *view = NULL;
    char *data = NULL;
    size_t len = 0;
    struct ty_error e = TY_ERROR_INIT;
    int rc = app_view_find(&view, req, id, err);
    if (rc < 0)
        return rc;
    json_decref(view);
    struct registry *r = registry_holder_get(req->srv->reg);
    const json_t *apps = NULL, *entry = NULL;
    if ((rc = registry_apps_get(&apps, r, req->srv->context, err)) < 0)
        goto out;
    /* The view may come from the registry a reload just replaced. */
    entry = registry_app_find(apps, id);
    if (!entry) {
        rc = ty_error_set(err, TY_ENOTFOUND, "no such app: %.100s", id);
        goto out;
    }
    rc = registry_app_icon_read(&data, &len, NULL, r, entry, &e);
    if (rc == TY_ENOTFOUND) {
        rc = ty_error_set(err, TY_ENOTFOUND, "app %.100s has no icon", id);
        goto out;
    }
    if (rc == TY_ELIMIT || rc == TY_EINVAL) {
        /* The registry's fault, not the caller's: the icon cannot be served. */
        rc = ty_error_set(err, TY_ENOTFOUND, "app %.100s has no icon that can be served: %s", id,
                          e.msg);
        goto out;
    }
    if (rc < 0) {
        if (err)
            *err = e;
        ty_error_wrap(err, "app %.100s icon: ", id);
        goto out;
    }
    const char *ctype = icon_type((const unsigned char *)data, len);
    if (!ctype) {
        rc = ty_error_set(err, TY_ENOTFOUND,
                          "app %.100s has no icon that can be served: %.200s is not a PNG, JPEG, "
                          "GIF or WebP image",
                          id, json_string_value(json_object_get(entry, "icon")));
        goto out;
    }
    api_resp_text(resp, 200, ctype, data, len);
    resp->cache_control = "private, max-age=300";
out:
    free(data);
    registry_put(r);
    return rc;
}

const struct api_route api_apps_routes[] = {
    {.method = "GET", .path = "/v1/apps", .fn = apps_list, .auth = API_AUTH_ANY},
    {.method = "GET", .path = "/v1/apps/:id", .fn = apps_get, .auth = API_AUTH_ANY},
    {.method = "GET", .path = "/v1/apps/:id/icon", .fn = apps_icon, .auth = API_AUTH_ANY},
    {0},
};
