/*
 * policy_check.c - the launch policy's decisions (policy.h).
 *
 * Two passes make a launch safe.  policy_launch_check() runs before anything
 * is compiled and refuses what the request itself asks for (an app the caller
 * cannot see, entry fields from a user, a foreign service account, root), so
 * the common refusals are fast and name the request's field.  Then
 * policy_objects_check() reads the compiled objects, which is what the cluster
 * would run: whatever path a spec took through the compiler (a template, a
 * named volume, a long-form mount, a `user:` key), the pod that comes out is
 * judged, so a new compose feature cannot open a hole the first pass missed.
 *
 * A spec read from the registry is the operator's own and may mount what it
 * says; a spec sent with the request is the caller's, and mounts only the
 * user's own home folder, the shared folder, claims the launch itself creates
 * and claims the operator lists.  The server's own claim and service account
 * are refused whatever the source.
 */
#include "policy/policy.h"

#include "util/buf.h"
#include "util/mem.h"
#include "util/quantity.h"
#include "util/slug.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Labels the compiler writes and selectors, the Services, the NetworkPolicy
 * and the reconciler read.  `app-name` is not among them: it is the
 * workspace name the owner may change (nothing trusted reads it). */
static const char *const compiler_labels[] = {
    "name",         "tycho-guid",   "executor",  "username",    "original-app-name",
    "reaper-label", "tycho-app-id", "tycho-app", "conn_string", "pod-template-hash",
    NULL,
};

/* Prefixes Kubernetes and this server reserve (a label under them may be
 * read by a controller, a scheduler or a policy anywhere in the cluster). */
static const char *const reserved_domains[] = {"kubernetes.io", "k8s.io", "tycho.renci.org", NULL};

/* The fields of a registry entry a launch may carry (docs/api.md). */
static const char *const overlay_fields[] = {
    "serviceAccount", "securityContext",   "services", "conn_string",
    "proxy-rewrite",  "gitea-integration", NULL,
};

bool policy_root_allowed(const struct policy *p, const char *app_id)
{
    if (p->allow_root)
        return true;
    for (size_t i = 0; app_id && i < p->n_apps; i++)
        if (!strcmp(p->apps[i].id, app_id))
            return p->apps[i].allow_root;
    return false;
}

static bool in_strv(char *const *v, const char *s)
{
    for (char *const *q = v; q && *q; q++)
        if (!strcmp(*q, s))
            return true;
    return false;
}

/* ---- apps ---------------------------------------------------------------- */

static int app_check(const struct policy *p, const struct policy_launch *l, struct ty_error *err)
{
    if (!l->entry) {
        if (l->role != POLICY_ROLE_USER && p->unregistered_apps)
            return 0;
        return ty_error_set(err, TY_ENOTFOUND, "unknown app '%s'", l->app_id);
    }
    if (l->role == POLICY_ROLE_ADMIN)
        return 0;
    const char *vis = json_string_value(json_object_get(l->entry, "visibility"));
    const json_t *users = json_object_get(l->entry, "users");
    bool ok = !(vis && !strcmp(vis, "admin"));
    if (ok && json_is_array(users)) {
        size_t i;
        const json_t *u;
        ok = false;
        json_array_foreach(users, i, u) ok =
            ok || (json_is_string(u) && l->username && !strcmp(json_string_value(u), l->username));
    }
    /* The answer of an app that does not exist: its existence is not the
     * caller's business either. */
    return ok ? 0 : ty_error_set(err, TY_ENOTFOUND, "unknown app '%s'", l->app_id);
}

/* ---- service accounts and root ------------------------------------------- */

static int sa_check(const struct policy *p,
                    const struct policy_launch *l,
                    const char *sa,
                    struct ty_error *err)
{
    if (!sa || !*sa)
        return 0;
    if (p->server_service_account && !strcmp(sa, p->server_service_account))
        return ty_error_set(err, TY_EFORBIDDEN,
                            "serviceAccount '%s' is the server's own "
                            "(policy.server_service_account): apps never run as it",
                            sa);
    /* What a pod gets when it names none: naming it grants nothing more. */
    if (!strcmp(sa, "default"))
        return 0;
    const char *own =
        l->entry ? json_string_value(json_object_get(l->entry, "serviceAccount")) : NULL;
    if (own && !strcmp(own, sa))
        return 0;
    if (in_strv(p->service_accounts, sa))
        return 0;
    return ty_error_set(err, TY_EFORBIDDEN,
                        "serviceAccount '%s' is neither app %s's own in the registry nor one the "
                        "server's policy lists (policy.service_accounts)",
                        sa, l->app_id);
}

/* A securityContext id asking for root: 0 or "0". */
static bool is_root_id(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) == 0;
    if (json_is_string(v)) {
        int64_t n;
        return ty_str_to_i64(json_string_value(v), 0, 0, &n) == 0;
    }
    return false;
}

static const json_t *entry_field(const struct policy_launch *l, const char *key)
{
    const json_t *v = l->overlay ? json_object_get(l->overlay, key) : NULL;
    return v ? v : (l->entry ? json_object_get(l->entry, key) : NULL);
}

int policy_launch_check(struct compose_policy *view,
                        const struct policy *p,
                        const struct policy_launch *l,
                        struct ty_error *err)
{
    const char *key;
    const json_t *v;
    int rc;

    *view = p->compose;
    view->allow_root = policy_root_allowed(p, l->app_id);
    if (l->spec_from_request) {
        /* The operator's host access is for the registry's specs. */
        view->allow_privileged = false;
        view->allow_host_path = false;
        view->allow_host_network = false;
    }
    if ((rc = app_check(p, l, err)) < 0)
        return rc;
    json_object_foreach((json_t *)l->overlay, key, v)
    {
        if (!ty_str_in(key, overlay_fields))
            return ty_error_set(err, TY_EINVAL,
                                "the registry-entry field '%s' cannot be sent with a launch", key);
        if (l->role == POLICY_ROLE_USER)
            return ty_error_set(err, TY_EFORBIDDEN,
                                "%s: registry-entry fields (serviceaccount, security_context, "
                                "services, conn_string, proxy_rewrite, gitea_integration) may be "
                                "sent only by platform or admin tokens; a user's launch takes "
                                "them from the registry",
                                key);
    }
    v = entry_field(l, "serviceAccount");
    if (json_is_string(v) && (rc = sa_check(p, l, json_string_value(v), err)) < 0)
        return rc;
    v = json_object_get(entry_field(l, "securityContext"), "runAsUser");
    if (is_root_id(v) && !view->allow_root)
        return ty_error_set(err, TY_EFORBIDDEN,
                            "securityContext.runAsUser 0: app %s may not run as root under the "
                            "server's policy (policy.allow_root, policy.apps.%s.allow_root)",
                            l->app_id, l->app_id);
    return 0;
}

/* ---- compiled objects ---------------------------------------------------- */

struct objctx {
    const struct policy *p;
    const struct policy_launch *l;
    bool root_ok;
    char *home;         /* the user's home claim, or NULL */
    char *home_sub;     /* the user's folder in it; NULL: a per-user claim, all the user's */
    char *user_dir;     /* the user's folder name ({username} in claim templates) */
    char *gitea_secret; /* the only Secret a pod may mount: the user's gitea key */
    const json_t *list;
};

/* Whether the launch's own List creates a PVC named name. */
static bool creates_claim(const json_t *list, const char *name)
{
    size_t i;
    const json_t *it;
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        const char *k = json_string_value(json_object_get(it, "kind"));
        const char *n = json_string_value(json_object_get(json_object_get(it, "metadata"), "name"));
        if (k && n && !strcmp(k, "PersistentVolumeClaim") && !strcmp(n, name))
            return true;
    }
    return false;
}

/* sub equals dir or lies below it. */
static bool within(const char *sub, const char *dir)
{
    size_t n = strlen(dir);
    return dir[0] && !strncmp(sub, dir, n) && (sub[n] == '\0' || sub[n] == '/');
}

static int claim_check(const struct objctx *o,
                       const char *claim,
                       const char *sub,
                       const char *container,
                       const char *path,
                       struct ty_error *err)
{
    const struct policy *p = o->p;
    if (p->server_claim && !strcmp(claim, p->server_claim))
        return ty_error_set(err, TY_EFORBIDDEN,
                            "container %s mounts claim '%s' at %s: it is the server's own "
                            "(policy.server_claim), never an app's",
                            container, claim, path);
    if (!o->l->spec_from_request || creates_claim(o->list, claim))
        return 0;
    if (o->home && !strcmp(claim, o->home)) {
        if (!o->home_sub || within(sub, o->home_sub))
            return 0;
        if (p->compose.home_shared && *p->compose.home_shared &&
            within(sub, p->compose.home_shared))
            return 0;
    }
    for (size_t i = 0; i < p->n_claims; i++) {
        const struct policy_claim *c = &p->claims[i];
        if (strcmp(c->claim, claim) || !(c->roles & (1u << o->l->role)))
            continue;
        if (!c->sub_path)
            return 0;
        char *want = compose_expand_user(c->sub_path, o->user_dir);
        bool ok = within(sub, want);
        free(want);
        if (ok)
            return 0;
    }
    if (o->home && !strcmp(claim, o->home))
        return ty_error_set(err, TY_EFORBIDDEN,
                            "container %s mounts claim '%s' (the home volume) with sub-path "
                            "'%s' at %s: a spec sent with the request may mount only the "
                            "user's own folder '%s'%s%s%s",
                            container, claim, sub, path, o->home_sub,
                            p->compose.home_shared ? " or the shared one '" : "",
                            p->compose.home_shared ? p->compose.home_shared : "",
                            p->compose.home_shared ? "'" : "");
    return ty_error_set(err, TY_EFORBIDDEN,
                        "container %s mounts claim '%s' at %s: a spec sent with the request "
                        "may mount only the claims the server's policy lists (policy.claims)",
                        container, claim, path);
}

static int
container_check(const struct objctx *o, const json_t *pod, const json_t *c, struct ty_error *err)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const json_t *psc = json_object_get(pod, "securityContext");
    const json_t *csc = json_object_get(c, "securityContext");
    const json_t *uid = json_object_get(csc, "runAsUser");
    const json_t *nonroot = json_object_get(csc, "runAsNonRoot");
    size_t i;
    const json_t *m;
    int rc;

    if (!name)
        name = "?";
    if (!uid)
        uid = json_object_get(psc, "runAsUser");
    if (!nonroot)
        nonroot = json_object_get(psc, "runAsNonRoot");
    if (!o->root_ok) {
        if (json_is_integer(uid) && json_integer_value(uid) == 0)
            return ty_error_set(err, TY_EFORBIDDEN,
                                "container %s runs as root (user 0): app %s may not under the "
                                "server's policy (policy.allow_root, policy.apps.%s.allow_root)",
                                name, o->l->app_id, o->l->app_id);
        if (!json_is_integer(uid) && !json_is_true(nonroot))
            return ty_error_set(err, TY_EFORBIDDEN,
                                "container %s names no user and does not require a non-root one: "
                                "it could run as root, which app %s may not",
                                name, o->l->app_id);
    }
    if (json_is_true(json_object_get(csc, "privileged")) &&
        (o->l->spec_from_request || !o->p->compose.allow_privileged))
        return ty_error_set(err, TY_EFORBIDDEN,
                            "container %s is privileged, which the server's policy does not "
                            "allow here (policy.allow_privileged, registry specs only)",
                            name);
    json_array_foreach(json_object_get(c, "volumeMounts"), i, m)
    {
        const char *vol = json_string_value(json_object_get(m, "name"));
        const char *path = json_string_value(json_object_get(m, "mountPath"));
        const char *sub = json_string_value(json_object_get(m, "subPath"));
        size_t j;
        const json_t *v;
        json_array_foreach(json_object_get(pod, "volumes"), j, v)
        {
            const char *vn = json_string_value(json_object_get(v, "name"));
            const char *claim = json_string_value(
                json_object_get(json_object_get(v, "persistentVolumeClaim"), "claimName"));
            if (!vn || !vol || strcmp(vn, vol) || !claim)
                continue;
            if ((rc = claim_check(o, claim, sub ? sub : "", name, path ? path : "?", err)) < 0)
                return rc;
        }
    }
    return 0;
}

static int volumes_check(const struct objctx *o, const json_t *pod, struct ty_error *err)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(pod, "volumes"), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const json_t *secret = json_object_get(v, "secret");
        if (json_object_get(v, "persistentVolumeClaim") || json_object_get(v, "emptyDir"))
            continue;
        if (json_object_get(v, "hostPath")) {
            if (o->l->spec_from_request || !o->p->compose.allow_host_path)
                return ty_error_set(err, TY_EFORBIDDEN,
                                    "volume %s is a host path, which the server's policy does "
                                    "not allow here (policy.allow_host_path, registry specs only)",
                                    name ? name : "?");
            continue;
        }
        if (secret) {
            const char *sn = json_string_value(json_object_get(secret, "secretName"));
            if (sn && !strcmp(sn, o->gitea_secret))
                continue;
            return ty_error_set(err, TY_EFORBIDDEN,
                                "volume %s mounts Secret '%s': a pod may mount only its user's "
                                "gitea key",
                                name ? name : "?", sn ? sn : "?");
        }
        return ty_error_set(err, TY_EFORBIDDEN,
                            "volume %s is of a kind apps may not mount (only claims, emptyDir "
                            "and the user's gitea key)",
                            name ? name : "?");
    }
    return 0;
}

static int pod_check(const struct objctx *o, const json_t *pod, struct ty_error *err)
{
    static const char *const host[] = {"hostNetwork", "hostPID", "hostIPC"};
    const char *sa = json_string_value(json_object_get(pod, "serviceAccountName"));
    const char *sa_old = json_string_value(json_object_get(pod, "serviceAccount"));
    size_t i;
    const json_t *c;
    int rc;

    if ((rc = sa_check(o->p, o->l, sa, err)) < 0 || (rc = sa_check(o->p, o->l, sa_old, err)) < 0)
        return rc;
    for (int h = 0; h < 3; h++) {
        if (!json_is_true(json_object_get(pod, host[h])))
            continue;
        if (h == 0 && !o->l->spec_from_request && o->p->compose.allow_host_network)
            continue;
        return ty_error_set(err, TY_EFORBIDDEN,
                            "the pod asks for %s, which the server's policy does not allow here",
                            host[h]);
    }
    if ((rc = volumes_check(o, pod, err)) < 0)
        return rc;
    json_array_foreach(json_object_get(pod, "containers"), i, c)
    {
        if ((rc = container_check(o, pod, c, err)) < 0)
            return rc;
    }
    json_array_foreach(json_object_get(pod, "initContainers"), i, c)
    {
        /* The server's own init container (policy init_home_dirs): its image
         * and command are the operator's, and it runs as init_uid. */
        const char *n = json_string_value(json_object_get(c, "name"));
        const char *img = json_string_value(json_object_get(c, "image"));
        if (o->p->compose.init_home_dirs && n && !strcmp(n, "volume-tasks") && img &&
            o->p->compose.init_image && !strcmp(img, o->p->compose.init_image))
            continue;
        if ((rc = container_check(o, pod, c, err)) < 0)
            return rc;
    }
    return 0;
}

int policy_objects_check(const struct policy *p,
                         const struct policy_launch *l,
                         const json_t *list,
                         struct ty_error *err)
{
    struct objctx o;
    size_t i;
    const json_t *it;
    int rc = 0;
    char *user_obj = ty_slug_object(l->username ? l->username : "", 0);

    memset(&o, 0, sizeof(o));
    o.p = p;
    o.l = l;
    o.list = list;
    o.root_ok = policy_root_allowed(p, l->app_id);
    o.home = compose_home_claim(&p->compose, l->username ? l->username : "");
    if (o.home && !strstr(p->compose.home_claim, "{username}"))
        o.home_sub = compose_home_subpath(&p->compose, l->username ? l->username : "");
    o.user_dir = compose_user_dir(l->username ? l->username : "");
    o.gitea_secret = ty_xasprintf("%s-id-gitea", user_obj);
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        const char *kind = json_string_value(json_object_get(it, "kind"));
        const json_t *pod = NULL;
        if (kind && !strcmp(kind, "Deployment"))
            pod = json_object_get(json_object_get(json_object_get(it, "spec"), "template"), "spec");
        else if (kind && !strcmp(kind, "Pod"))
            pod = json_object_get(it, "spec");
        if (pod && (rc = pod_check(&o, pod, err)) < 0)
            break;
    }
    free(o.home);
    free(o.home_sub);
    free(o.user_dir);
    free(o.gitea_secret);
    free(user_obj);
    return rc;
}

/* ---- labels -------------------------------------------------------------- */

/* The label's prefix ("example.org" of "example.org/x"), or "" */
static void label_prefix(char *out, size_t n, const char *key)
{
    const char *slash = strchr(key, '/');
    snprintf(out, n, "%.*s", slash ? (int)(slash - key) : 0, key);
}

static bool proxy_label(const struct policy *p, const char *key)
{
    const char *sel = p->compose.proxy_selector;
    size_t n = strlen(key);
    for (const char *s = sel; s && *s;) {
        const char *comma = strchr(s, ',');
        const char *eq = strchr(s, '=');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        size_t klen = eq && eq < s + len ? (size_t)(eq - s) : len;
        if (klen == n && !strncmp(s, key, n))
            return true;
        s += len + (comma ? 1 : 0);
    }
    return false;
}

int policy_label_check(const struct policy *p,
                       enum policy_role role,
                       const char *key,
                       const char *value,
                       struct ty_error *err)
{
    char prefix[254];
    (void)value;
    if (!strcmp(key, "app-name"))
        return 0;
    if (ty_str_in(key, compiler_labels))
        return ty_error_set(err, TY_EINVAL,
                            "labels: '%s' is reserved: the server's selectors and the "
                            "reconciler read it",
                            key);
    label_prefix(prefix, sizeof(prefix), key);
    for (const char *const *d = reserved_domains; prefix[0] && *d; d++) {
        size_t pl = strlen(prefix), dl = strlen(*d);
        if (!strcmp(prefix, *d) ||
            (pl > dl && prefix[pl - dl - 1] == '.' && !strcmp(prefix + pl - dl, *d)))
            return ty_error_set(err, TY_EINVAL,
                                "labels: '%s' is reserved: keys under %s belong to Kubernetes "
                                "and the platform",
                                key, *d);
    }
    if (proxy_label(p, key))
        return ty_error_set(err, TY_EINVAL,
                            "labels: '%s' is reserved: the NetworkPolicy admits the proxy by it "
                            "(policy.proxy_labels)",
                            key);
    for (char *const *r = p->reserved_labels; r && *r; r++) {
        size_t n = strlen(*r);
        if (!strcmp(key, *r) || (n && (*r)[n - 1] == '/' && !strncmp(key, *r, n)))
            return ty_error_set(err, TY_EINVAL,
                                "labels: '%s' is reserved by the operator (policy.reserved_labels)",
                                key);
    }
    if (role == POLICY_ROLE_USER && in_strv(p->culler_labels, key))
        return ty_error_set(err, TY_EFORBIDDEN,
                            "labels: '%s' is read by the culler: only platform or admin tokens "
                            "may set or remove it",
                            key);
    return 0;
}

/* ---- resources ----------------------------------------------------------- */

enum kind { K_CPU, K_MEMORY, K_GPU };

static int64_t amount(const struct compose_amounts *a, enum kind k)
{
    return k == K_CPU ? a->cpu_millis : k == K_MEMORY ? a->memory_bytes : a->gpus;
}

static const char *fmt(char *buf, size_t n, enum kind k, int64_t v)
{
    if (k == K_CPU)
        return ty_quantity_cpu_format(buf, n, v);
    if (k == K_MEMORY)
        return ty_quantity_bytes_format(buf, n, v);
    snprintf(buf, n, "%lld", (long long)v);
    return buf;
}

static const char *const kind_names[] = {"cpu", "memory", "gpu"};
static const char *const cap_keys[] = {"cpu", "memory", "gpus"};

/* The most an app's spec lets one kind be: its limit, else (GPUs) its
 * request; an app that asks for no GPU gets none.  -1: no bound. */
static int64_t
app_max(const struct compose_amounts *lim, const struct compose_amounts *req, enum kind k)
{
    int64_t v = amount(lim, k);
    if (k == K_GPU) {
        if (v < 0)
            v = amount(req, k);
        if (v < 0)
            v = 0;
    }
    return v;
}

static int request_check(const struct policy *p,
                         const char *app_id,
                         const struct compose_amounts *req,
                         const struct compose_resource_summary *app,
                         int n_containers,
                         enum kind k,
                         struct ty_error *err)
{
    char a[32], b[32];
    int64_t v = amount(req, k);
    if (v < 0)
        return 0;
    if (app) {
        int64_t hi = app_max(&app->main_limits, &app->main_requests, k);
        int64_t lo = amount(&app->main_requests, k);
        if (hi >= 0 && v > hi)
            return ty_error_set(
                err, TY_EINVAL, "%s %s is above the maximum of %s for app %s (%s)", kind_names[k],
                fmt(a, sizeof(a), k, v), fmt(b, sizeof(b), k, hi), app_id,
                k == K_GPU && amount(&app->main_limits, k) < 0 && amount(&app->main_requests, k) < 0
                    ? "its spec asks for none"
                    : "its spec's limit");
        if (lo > 0 && v < lo && k != K_GPU)
            return ty_error_set(err, TY_EINVAL,
                                "%s %s is below the minimum of %s for app %s (its spec's "
                                "reservation)",
                                kind_names[k], fmt(a, sizeof(a), k, v), fmt(b, sizeof(b), k, lo),
                                app_id);
    }
    int64_t cap = amount(&p->max, k);
    int64_t total = n_containers > 1 ? v * n_containers : v;
    if (cap >= 0 && total > cap)
        return ty_error_set(err, TY_EINVAL,
                            "%s %s%s is above the server's maximum of %s per session "
                            "(policy.max_resources.%s)",
                            kind_names[k], fmt(a, sizeof(a), k, total),
                            n_containers > 1 ? " (for every container)" : "",
                            fmt(b, sizeof(b), k, cap), cap_keys[k]);
    return 0;
}

static int total_check(const struct policy *p,
                       const char *app_id,
                       const struct compose_resource_summary *app,
                       const struct compose_resource_summary *session,
                       enum kind k,
                       struct ty_error *err)
{
    char a[32], b[32];
    int64_t v = amount(&session->total, k);
    if (v <= 0)
        return 0;
    if (app) {
        int64_t hi = amount(&app->total, k);
        if (k == K_GPU && hi < 0)
            hi = 0;
        if (hi >= 0 && v > hi)
            return ty_error_set(err, TY_EINVAL,
                                "the session's containers ask for %s %s in all, above the %s "
                                "app %s's spec allows",
                                kind_names[k], fmt(a, sizeof(a), k, v), fmt(b, sizeof(b), k, hi),
                                app_id);
    }
    int64_t cap = amount(&p->max, k);
    if (cap >= 0 && v > cap)
        return ty_error_set(err, TY_EINVAL,
                            "the session's containers ask for %s %s in all, above the server's "
                            "maximum of %s (policy.max_resources.%s)",
                            kind_names[k], fmt(a, sizeof(a), k, v), fmt(b, sizeof(b), k, cap),
                            cap_keys[k]);
    return 0;
}

int policy_resources_check(const struct policy *p,
                           const char *app_id,
                           const struct compose_amounts *req,
                           const struct compose_resource_summary *app,
                           const struct compose_resource_summary *session,
                           int n_containers,
                           struct ty_error *err)
{
    int rc;
    for (int k = K_CPU; k <= K_GPU; k++) {
        if (req && (rc = request_check(p, app_id, req, app, session ? 1 : n_containers,
                                       (enum kind)k, err)) < 0)
            return rc;
        if (session && (rc = total_check(p, app_id, app, session, (enum kind)k, err)) < 0)
            return rc;
    }
    return 0;
}

/* ---- scheduling ---------------------------------------------------------- */

static void sched_add(struct policy_sched *out, const struct policy_sched *s)
{
    if (s->node_selector) {
        if (!out->node_selector)
            out->node_selector = json_object();
        json_object_update(out->node_selector, s->node_selector);
    }
    if (s->tolerations) {
        if (!out->tolerations)
            out->tolerations = json_array();
        json_array_extend(out->tolerations, s->tolerations);
    }
    if (s->priority_class) {
        free(out->priority_class);
        out->priority_class = ty_xstrdup(s->priority_class);
    }
}

static bool reaches(const struct compose_amounts *have, const struct compose_amounts *min)
{
    for (int k = K_CPU; k <= K_GPU; k++) {
        int64_t m = amount(min, (enum kind)k);
        int64_t h = amount(have, (enum kind)k);
        if (m >= 0 && (h < 0 ? 0 : h) < m)
            return false;
    }
    return true;
}

void policy_sched_for(struct policy_sched *out,
                      const struct policy *p,
                      const char *app_id,
                      const struct compose_amounts *session)
{
    struct compose_amounts none = {-1, -1, -1};
    memset(out, 0, sizeof(*out));
    sched_add(out, &p->sched);
    for (size_t i = 0; i < p->n_profiles; i++)
        if (reaches(session ? session : &none, &p->profiles[i].min))
            sched_add(out, &p->profiles[i].sched);
    for (size_t i = 0; app_id && i < p->n_apps; i++)
        if (!strcmp(p->apps[i].id, app_id))
            sched_add(out, &p->apps[i].sched);
}
