/*
 * policy.c - the launch policy as the operator writes it: defaults, the
 * `policy:` mapping of the server config (with positions in errors), single
 * keys from --set and TYCHO_POLICY_* variables, checks across keys, and the
 * effective policy as JSON for `tycho api --check-config`.
 *
 * Parsing works on a scratch copy and swaps it in only when every key is
 * good, so a bad file leaves the policy as it was.  The copy itself is a
 * round trip through policy_to_json(), which keeps that function honest:
 * whatever it prints parses back to the same policy (a unit test checks it).
 *
 * Keys that are compose's (docs/compose.md, "Policy") are handed to
 * compose_policy_from_json() one at a time, so its checks apply and its
 * messages get the key's position.
 */
#include "policy/policy.h"

#include "util/buf.h"
#include "util/mem.h"
#include "util/quantity.h"
#include "util/slug.h"
#include "util/str.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALL_ROLES \
    ((1u << POLICY_ROLE_USER) | (1u << POLICY_ROLE_PLATFORM) | (1u << POLICY_ROLE_ADMIN))

const char *policy_role_name(enum policy_role r)
{
    switch (r) {
    case POLICY_ROLE_USER:
        return "user";
    case POLICY_ROLE_PLATFORM:
        return "platform";
    case POLICY_ROLE_ADMIN:
        return "admin";
    }
    return "?";
}

static int role_parse(enum policy_role *out, const char *s)
{
    for (int r = POLICY_ROLE_USER; r <= POLICY_ROLE_ADMIN; r++)
        if (!strcmp(s, policy_role_name((enum policy_role)r))) {
            *out = (enum policy_role)r;
            return 0;
        }
    return -1;
}

/* ---- lifetime ------------------------------------------------------------ */

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

static char **strv_dup(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = ty_xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = ty_xstrdup(v[i]);
    return out;
}

static bool strv_has(char *const *v, const char *s)
{
    for (char *const *p = v; p && *p; p++)
        if (!strcmp(*p, s))
            return true;
    return false;
}

static void amounts_unset(struct compose_amounts *a)
{
    a->cpu_millis = a->memory_bytes = a->gpus = -1;
}

void policy_init(struct policy *p)
{
    memset(p, 0, sizeof(*p));
    compose_policy_init(&p->compose);
    /* The compiler's own default is Tycho's (root when the registry asks);
     * the server's is not: policy_launch_check() sets it per launch. */
    p->compose.allow_root = false;
    p->server_service_account = ty_xstrdup("tycho");
    p->server_claim = ty_xstrdup("tycho-data");
    p->unregistered_apps = true;
    amounts_unset(&p->max);
    amounts_unset(&p->defaults);
}

void policy_sched_cleanup(struct policy_sched *s)
{
    if (!s)
        return;
    json_decref(s->node_selector);
    json_decref(s->tolerations);
    free(s->priority_class);
    memset(s, 0, sizeof(*s));
}

void policy_cleanup(struct policy *p)
{
    if (!p)
        return;
    compose_policy_cleanup(&p->compose);
    strv_free(p->service_accounts);
    for (size_t i = 0; i < p->n_claims; i++) {
        free(p->claims[i].claim);
        free(p->claims[i].sub_path);
    }
    free(p->claims);
    free(p->server_service_account);
    free(p->server_claim);
    strv_free(p->reserved_labels);
    strv_free(p->culler_labels);
    policy_sched_cleanup(&p->sched);
    for (size_t i = 0; i < p->n_apps; i++) {
        free(p->apps[i].id);
        policy_sched_cleanup(&p->apps[i].sched);
    }
    free(p->apps);
    for (size_t i = 0; i < p->n_profiles; i++) {
        free(p->profiles[i].name);
        policy_sched_cleanup(&p->profiles[i].sched);
    }
    free(p->profiles);
    memset(p, 0, sizeof(*p));
}

/* ---- errors -------------------------------------------------------------- */

/* "file:line:col: message" when d locates parent/key, else the message. */
__attribute__((format(printf, 5, 6))) static int bad(struct ty_error *err,
                                                     const struct doc *d,
                                                     const json_t *parent,
                                                     const char *key,
                                                     const char *fmt,
                                                     ...)
{
    char msg[TY_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (d)
        return doc_error(err, TY_EINVAL, d, parent, key, "%s", msg);
    return ty_error_set(err, TY_EINVAL, "%s", msg);
}

/* As bad(), pointing at the key itself (unknown keys). */
__attribute__((format(printf, 5, 6))) static int bad_key(struct ty_error *err,
                                                         const struct doc *d,
                                                         const json_t *parent,
                                                         const char *key,
                                                         const char *fmt,
                                                         ...)
{
    char msg[TY_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (d)
        return doc_key_error(err, TY_EINVAL, d, parent, key, "%s", msg);
    return ty_error_set(err, TY_EINVAL, "%s", msg);
}

/* As bad(), at item i of the sequence arr. */
__attribute__((format(printf, 5, 6))) static int bad_item(
    struct ty_error *err, const struct doc *d, const json_t *arr, size_t i, const char *fmt, ...)
{
    char msg[TY_ERROR_MSG_MAX], where[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (d)
        return ty_error_set(err, TY_EINVAL, "%s: %s",
                            doc_where_item(d, arr, i, where, sizeof(where)), msg);
    return ty_error_set(err, TY_EINVAL, "%s", msg);
}

/* ---- value parsers ------------------------------------------------------- */

struct pctx {
    const struct doc *d;
    struct ty_error *err;
};

/* A list of strings; ok() validates each item (NULL accepts any). */
static int parse_strv(char ***out,
                      const struct pctx *c,
                      const json_t *parent,
                      const char *key,
                      const char *name,
                      bool (*ok)(const char *),
                      const char *what)
{
    const json_t *v = json_object_get(parent, key);
    char **list = NULL;
    size_t n = 0;
    if (json_is_null(v)) {
        strv_free(*out);
        *out = NULL;
        return 0;
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *it;
        list = ty_xcalloc(json_array_size(v) + 1, sizeof(*list));
        json_array_foreach(v, i, it)
        {
            if (!json_is_string(it)) {
                strv_free(list);
                return bad_item(c->err, c->d, v, i, "policy.%s[%zu]: expected a string", name, i);
            }
            list[n++] = ty_xstrdup(json_string_value(it));
        }
    } else {
        return bad(c->err, c->d, parent, key, "policy.%s: expected a list", name);
    }
    for (size_t i = 0; i < n; i++)
        if (ok && !ok(list[i])) {
            int rc = bad_item(c->err, c->d, v, i, "policy.%s[%zu]: '%s' is not %s", name, i,
                              list[i], what);
            strv_free(list);
            return rc;
        }
    strv_free(*out);
    *out = list;
    return 0;
}

static int
parse_bool(bool *out, const struct pctx *c, const json_t *parent, const char *key, const char *name)
{
    const json_t *v = json_object_get(parent, key);
    if (!json_is_boolean(v))
        return bad(c->err, c->d, parent, key, "policy.%s: expected true or false", name);
    *out = json_is_true(v);
    return 0;
}

/* A string, or null for none; ok() validates a non-empty one. */
static int parse_name(char **out,
                      const struct pctx *c,
                      const json_t *parent,
                      const char *key,
                      const char *name,
                      bool (*ok)(const char *),
                      const char *what)
{
    const json_t *v = json_object_get(parent, key);
    const char *s = json_string_value(v);
    if (!json_is_null(v) && !s)
        return bad(c->err, c->d, parent, key, "policy.%s: expected a string or null", name);
    if (s && (!*s || !strcmp(s, "none")))
        s = NULL;
    if (s && ok && !ok(s))
        return bad(c->err, c->d, parent, key, "policy.%s: '%s' is not %s", name, s, what);
    free(*out);
    *out = s ? ty_xstrdup(s) : NULL;
    return 0;
}

static bool is_label_key_or_prefix(const char *s)
{
    size_t n = strlen(s);
    if (n > 1 && s[n - 1] == '/') {
        char *k = ty_xasprintf("%sx", s);
        bool ok = ty_is_label_key(k);
        free(k);
        return ok;
    }
    return ty_is_label_key(s);
}

/* A CPU amount: a number of cores or a quantity string; null: unset. */
static int parse_cpu(
    int64_t *out, const struct pctx *c, const json_t *parent, const char *key, const char *name)
{
    const json_t *v = json_object_get(parent, key);
    char buf[64];
    const char *t = json_string_value(v);
    if (json_is_null(v)) {
        *out = -1;
        return 0;
    }
    if (json_is_number(v)) {
        snprintf(buf, sizeof(buf), "%.17g", json_number_value(v));
        t = buf;
    }
    if (!t || ty_quantity_cpu(out, t, NULL) < 0 || *out <= 0)
        return bad(c->err, c->d, parent, key,
                   "policy.%s: expected a CPU amount such as 4 or \"500m\"", name);
    return 0;
}

static int parse_bytes(
    int64_t *out, const struct pctx *c, const json_t *parent, const char *key, const char *name)
{
    const json_t *v = json_object_get(parent, key);
    char buf[64];
    const char *t = json_string_value(v);
    if (json_is_null(v)) {
        *out = -1;
        return 0;
    }
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        t = buf;
    }
    if (!t || ty_quantity_bytes(out, t, NULL) < 0 || *out <= 0)
        return bad(c->err, c->d, parent, key,
                   "policy.%s: expected a size such as \"16Gi\" or \"512M\"", name);
    return 0;
}

static int parse_count(
    int64_t *out, const struct pctx *c, const json_t *parent, const char *key, const char *name)
{
    const json_t *v = json_object_get(parent, key);
    int64_t n;
    if (json_is_null(v)) {
        *out = -1;
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 1024) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && !ty_str_to_i64(json_string_value(v), 0, 1024, &n)) {
        *out = n;
        return 0;
    }
    return bad(c->err, c->d, parent, key, "policy.%s: expected a whole number from 0 to 1024",
               name);
}

/* {cpu, memory, gpus}: the keys given are set, the others kept. */
static int parse_amounts(struct compose_amounts *out,
                         const struct pctx *c,
                         const json_t *parent,
                         const char *key,
                         const char *name,
                         bool with_gpus)
{
    const json_t *v = json_object_get(parent, key);
    char sub[96];
    const char *k;
    const json_t *x;
    int rc;
    if (json_is_null(v)) {
        amounts_unset(out);
        return 0;
    }
    if (!json_is_object(v))
        return bad(c->err, c->d, parent, key, "policy.%s: expected a mapping of cpu, memory%s",
                   name, with_gpus ? ", gpus" : "");
    json_object_foreach((json_t *)v, k, x)
    {
        snprintf(sub, sizeof(sub), "%s.%s", name, k);
        if (!strcmp(k, "cpu"))
            rc = parse_cpu(&out->cpu_millis, c, v, k, sub);
        else if (!strcmp(k, "memory"))
            rc = parse_bytes(&out->memory_bytes, c, v, k, sub);
        else if (!strcmp(k, "gpus") && with_gpus)
            rc = parse_count(&out->gpus, c, v, k, sub);
        else
            rc = bad_key(c->err, c->d, v, k, "policy.%s: unknown key (cpu, memory%s)", sub,
                         with_gpus ? ", gpus" : "");
        if (rc)
            return rc;
    }
    return 0;
}

/* A map of label keys to label values, or "k=v,k=v". */
static int parse_labels(
    json_t **out, const struct pctx *c, const json_t *parent, const char *key, const char *name)
{
    const json_t *v = json_object_get(parent, key);
    json_t *m = json_object();
    if (json_is_null(v)) {
        json_decref(m);
        json_decref(*out);
        *out = NULL;
        return 0;
    }
    if (json_is_string(v)) {
        char *s = ty_xstrdup(json_string_value(v));
        for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(t, '=');
            if (!eq) {
                free(s);
                json_decref(m);
                return bad(c->err, c->d, parent, key,
                           "policy.%s: expected key=value pairs separated by commas", name);
            }
            *eq = '\0';
            json_object_set_new(m, t, json_string(eq + 1));
        }
        free(s);
    } else if (json_is_object(v)) {
        json_object_update(m, (json_t *)v);
    } else {
        json_decref(m);
        return bad(c->err, c->d, parent, key, "policy.%s: expected a mapping of labels", name);
    }
    const char *k;
    json_t *x;
    json_object_foreach(m, k, x)
    {
        if (!ty_is_label_key(k) || !json_is_string(x) || !ty_is_label_value(json_string_value(x))) {
            int rc = bad(c->err, c->d, parent, key,
                         "policy.%s: '%s' is not a label key with a label value", name, k);
            json_decref(m);
            return rc;
        }
    }
    json_decref(*out);
    *out = m;
    return 0;
}

static int parse_tolerations(
    json_t **out, const struct pctx *c, const json_t *parent, const char *key, const char *name)
{
    static const char *const keys[] = {"key",    "operator",          "value",
                                       "effect", "tolerationSeconds", NULL};
    static const char *const ops[] = {"Exists", "Equal", NULL};
    static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute", "", NULL};
    const json_t *v = json_object_get(parent, key);
    size_t i;
    const json_t *t;
    if (json_is_null(v)) {
        json_decref(*out);
        *out = NULL;
        return 0;
    }
    if (!json_is_array(v))
        return bad(c->err, c->d, parent, key, "policy.%s: expected a list of tolerations", name);
    json_array_foreach(v, i, t)
    {
        const char *k;
        const json_t *x;
        if (!json_is_object(t))
            return bad_item(c->err, c->d, v, i, "policy.%s[%zu]: expected a mapping", name, i);
        json_object_foreach((json_t *)t, k, x)
        {
            bool ok = ty_str_in(k, keys);
            if (ok && !strcmp(k, "tolerationSeconds"))
                ok = json_is_integer(x);
            else if (ok)
                ok = json_is_string(x);
            if (ok && !strcmp(k, "operator"))
                ok = ty_str_in(json_string_value(x), ops);
            if (ok && !strcmp(k, "effect"))
                ok = ty_str_in(json_string_value(x), effects);
            if (ok && !strcmp(k, "key"))
                ok = ty_is_label_key(json_string_value(x));
            if (!ok)
                return bad_item(
                    c->err, c->d, v, i,
                    "policy.%s[%zu].%s: not a toleration field (key, operator Exists or "
                    "Equal, value, effect NoSchedule, PreferNoSchedule or NoExecute, "
                    "tolerationSeconds)",
                    name, i, k);
        }
    }
    json_decref(*out);
    *out = json_deep_copy(v);
    return 0;
}

static bool is_subdomain(const char *s)
{
    return ty_is_dns1123_subdomain(s);
}

/* A claim name, where "{username}" may stand for the user's object slug. */
static bool is_claim_template(const char *s)
{
    char *x = compose_expand_user(s, "u");
    bool ok = ty_is_dns1123_subdomain(x);
    free(x);
    return ok;
}

/* node_selector, tolerations, priority_class of one level. */
static int parse_sched(struct policy_sched *s,
                       const struct pctx *c,
                       const json_t *obj,
                       const char *key,
                       const char *prefix)
{
    char name[160];
    snprintf(name, sizeof(name), "%s%s", prefix, key);
    if (!strcmp(key, "node_selector"))
        return parse_labels(&s->node_selector, c, obj, key, name);
    if (!strcmp(key, "tolerations"))
        return parse_tolerations(&s->tolerations, c, obj, key, name);
    if (!strcmp(key, "priority_class"))
        return parse_name(&s->priority_class, c, obj, key, name, is_subdomain,
                          "a PriorityClass name");
    return 1; /* not a scheduling key */
}

/* A relative path without "..", empty segments or a leading '/'; "{username}"
 * may stand for a segment. */
static bool sub_path_ok(const char *p)
{
    if (!*p || p[0] == '/')
        return false;
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 2 && !strncmp(s, "..", 2)) || (n == 1 && *s == '.'))
            return false;
        s += n + (e ? 1 : 0);
    }
    return true;
}

static int parse_claim(
    struct policy_claim *out, const struct pctx *c, const json_t *list, size_t i, const json_t *it)
{
    char *claim = NULL, *sub = NULL;
    unsigned roles = ALL_ROLES;
    int rc = 0;
    if (json_is_string(it)) {
        claim = ty_xstrdup(json_string_value(it));
        char *slash = strchr(claim, '/');
        if (slash) {
            *slash = '\0';
            sub = ty_xstrdup(slash + 1);
        }
    } else if (json_is_object(it)) {
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)it, k, x)
        {
            if (!strcmp(k, "claim") && json_is_string(x)) {
                claim = ty_xstrdup(json_string_value(x));
            } else if (!strcmp(k, "sub_path") && (json_is_string(x) || json_is_null(x))) {
                free(sub);
                sub = json_is_string(x) ? ty_xstrdup(json_string_value(x)) : NULL;
            } else if (!strcmp(k, "roles") && json_is_array(x)) {
                size_t j;
                const json_t *r;
                roles = 0;
                json_array_foreach(x, j, r)
                {
                    enum policy_role role;
                    if (!json_is_string(r) || role_parse(&role, json_string_value(r)) < 0) {
                        rc = bad_item(c->err, c->d, list, i,
                                      "policy.claims[%zu].roles: expected user, platform or admin",
                                      i);
                        goto out;
                    }
                    roles |= 1u << role;
                }
            } else {
                rc =
                    bad_item(c->err, c->d, list, i,
                             "policy.claims[%zu].%s: expected claim (a name), sub_path (a path) or "
                             "roles (a list)",
                             i, k);
                goto out;
            }
        }
    }
    if (!claim || !ty_is_dns1123_subdomain(claim)) {
        rc = bad_item(c->err, c->d, list, i,
                      "policy.claims[%zu]: expected a claim name, \"claim/sub/path\" or {claim, "
                      "sub_path, roles}",
                      i);
        goto out;
    }
    if (sub && !sub_path_ok(sub)) {
        rc = bad_item(c->err, c->d, list, i,
                      "policy.claims[%zu]: sub-path '%s' must be relative, without '..' or empty "
                      "segments",
                      i, sub);
        goto out;
    }
    out->claim = claim;
    out->sub_path = sub;
    out->roles = roles;
    claim = sub = NULL;
out:
    free(claim);
    free(sub);
    return rc;
}

static int parse_claims(struct policy *p, const struct pctx *c, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    json_t *list = NULL;
    struct policy_claim *claims = NULL;
    size_t n = 0, i;
    const json_t *it;
    int rc = 0;
    if (json_is_array(v)) {
        list = json_incref((json_t *)v);
    } else if (!json_is_null(v)) {
        return bad(c->err, c->d, obj, key, "policy.claims: expected a list");
    }
    claims = ty_xcalloc(json_array_size(list) + 1, sizeof(*claims));
    json_array_foreach(list, i, it)
    {
        if ((rc = parse_claim(&claims[n], c, v, i, it)) < 0)
            break;
        n++;
    }
    json_decref(list);
    if (rc < 0) {
        for (i = 0; i < n; i++) {
            free(claims[i].claim);
            free(claims[i].sub_path);
        }
        free(claims);
        return rc;
    }
    for (i = 0; i < p->n_claims; i++) {
        free(p->claims[i].claim);
        free(p->claims[i].sub_path);
    }
    free(p->claims);
    p->claims = claims;
    p->n_claims = n;
    return 0;
}

static int parse_apps(struct policy *p, const struct pctx *c, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    const char *id;
    const json_t *a;
    if (json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return bad(c->err, c->d, obj, key, "policy.apps: expected a mapping of app ids");
    json_object_foreach((json_t *)v, id, a)
    {
        char prefix[200];
        struct policy_app *app = NULL;
        const char *k;
        const json_t *x;
        snprintf(prefix, sizeof(prefix), "apps.%s.", id);
        if (!json_is_object(a))
            return bad(c->err, c->d, v, id, "policy.apps.%s: expected a mapping", id);
        for (size_t i = 0; i < p->n_apps; i++)
            if (!strcmp(p->apps[i].id, id))
                app = &p->apps[i];
        if (!app) {
            p->apps = ty_xrealloc(p->apps, (p->n_apps + 1) * sizeof(*p->apps));
            app = &p->apps[p->n_apps++];
            memset(app, 0, sizeof(*app));
            app->id = ty_xstrdup(id);
        }
        json_object_foreach((json_t *)a, k, x)
        {
            char name[260];
            int rc;
            snprintf(name, sizeof(name), "%s%s", prefix, k);
            if (!strcmp(k, "allow_root"))
                rc = parse_bool(&app->allow_root, c, a, k, name);
            else if ((rc = parse_sched(&app->sched, c, a, k, prefix)) == 1)
                rc = bad_key(c->err, c->d, a, k,
                             "policy.%s: unknown key (allow_root, node_selector, tolerations, "
                             "priority_class)",
                             name);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int
parse_profiles(struct policy *p, const struct pctx *c, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    size_t i;
    const json_t *pr;
    if (json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return bad(c->err, c->d, obj, key, "policy.profiles: expected a list");
    /* The list replaces the one before it. */
    for (size_t j = 0; j < p->n_profiles; j++) {
        free(p->profiles[j].name);
        policy_sched_cleanup(&p->profiles[j].sched);
    }
    free(p->profiles);
    p->profiles = ty_xcalloc(json_array_size(v) + 1, sizeof(*p->profiles));
    p->n_profiles = 0;
    json_array_foreach(v, i, pr)
    {
        struct policy_profile *prof = &p->profiles[p->n_profiles++];
        char prefix[64];
        const char *k;
        const json_t *x;
        snprintf(prefix, sizeof(prefix), "profiles[%zu].", i);
        amounts_unset(&prof->min);
        if (!json_is_object(pr) || !json_is_string(json_object_get(pr, "name")))
            return bad_item(c->err, c->d, v, i,
                            "policy.profiles[%zu]: expected a mapping with a name", i);
        json_object_foreach((json_t *)pr, k, x)
        {
            char name[128];
            int rc;
            snprintf(name, sizeof(name), "%s%s", prefix, k);
            if (!strcmp(k, "name")) {
                free(prof->name);
                prof->name = ty_xstrdup(json_string_value(x));
                rc = 0;
            } else if (!strcmp(k, "min")) {
                rc = parse_amounts(&prof->min, c, pr, k, name, true);
            } else if ((rc = parse_sched(&prof->sched, c, pr, k, prefix)) == 1) {
                rc = bad_key(c->err, c->d, pr, k,
                             "policy.%s: unknown key (name, min, node_selector, tolerations, "
                             "priority_class)",
                             name);
            }
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* Keys compose owns (compose_policy_from_json), under the same names. */
static const char *const compose_keys[] = {
    "allow_privileged",
    "allow_host_path",
    "allow_host_network",
    "default_uid",
    "default_gid",
    "default_fs_group",
    "home_parent",
    "home_shared",
    "init_home_dirs",
    "init_image",
    "init_cpu",
    "init_memory",
    "init_uid",
    "init_gid",
    "gitea_host",
    "gitea_user",
    "gitea_service",
    "service_type",
    "ambassador_id",
    "remote_user_header",
    "network_policy",
    "proxy_namespace",
    "client_cidrs",
    "gpu_resource",
    "create_pvcs",
    "pvc_size",
    "storage_class",
    "pvc_access_mode",
    "ingress_class",
    "ingress_host",
    "ingress_tls_secret",
    "ingress_annotations",
    "home_subpath",
    "home_create",
    "home_size",
    "home_storage_class",
    NULL,
};

static int
parse_compose_key(struct policy *p, const struct pctx *c, const json_t *obj, const char *key)
{
    struct ty_error e = TY_ERROR_INIT;
    json_t *one = json_object();
    int rc;
    json_object_set(one, key, json_object_get(obj, key));
    rc = compose_policy_from_json(&p->compose, one, &e);
    json_decref(one);
    if (rc < 0) {
        const char *m = e.msg;
        if (ty_str_has_prefix(m, "compose policy: "))
            m += strlen("compose policy: ");
        if (ty_str_has_prefix(m, key))
            return bad(c->err, c->d, obj, key, "policy.%s", m);
        return bad(c->err, c->d, obj, key, "policy.%s: %s", key, m);
    }
    if (!strcmp(key, "proxy_namespace") && p->compose.proxy_namespace &&
        !ty_is_dns1123_label(p->compose.proxy_namespace))
        return bad(c->err, c->d, obj, key, "policy.proxy_namespace: '%s' is not a namespace name",
                   p->compose.proxy_namespace);
    const char *names[] = {p->compose.ingress_class, p->compose.ingress_tls_secret};
    const char *keys[] = {"ingress_class", "ingress_tls_secret"};
    for (int i = 0; i < 2; i++)
        if (!strcmp(key, keys[i]) && names[i] && !ty_is_dns1123_subdomain(names[i]))
            return bad(c->err, c->d, obj, key, "policy.%s: '%s' is not a Kubernetes name", key,
                       names[i]);
    if (!strcmp(key, "ingress_host") && p->compose.ingress_host) {
        const char *h = p->compose.ingress_host;
        if (!ty_is_dns1123_subdomain(ty_str_has_prefix(h, "*.") ? h + 2 : h))
            return bad(c->err, c->d, obj, key,
                       "policy.ingress_host: '%s' is not a host name (or *.domain)", h);
    }
    return 0;
}

static int parse_key(struct policy *p, const struct pctx *c, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    int rc;
    if (!strcmp(key, "allow_root"))
        return parse_bool(&p->allow_root, c, obj, key, key);
    if (!strcmp(key, "unregistered_apps"))
        return parse_bool(&p->unregistered_apps, c, obj, key, key);
    if (!strcmp(key, "service_accounts"))
        return parse_strv(&p->service_accounts, c, obj, key, key, is_subdomain,
                          "a service account name");
    if (!strcmp(key, "reserved_labels"))
        return parse_strv(&p->reserved_labels, c, obj, key, key, is_label_key_or_prefix,
                          "a label key or a \"prefix/\"");
    if (!strcmp(key, "claims"))
        return parse_claims(p, c, obj, key);
    if (!strcmp(key, "server_service_account"))
        return parse_name(&p->server_service_account, c, obj, key, key, is_subdomain,
                          "a service account name");
    if (!strcmp(key, "server_claim"))
        return parse_name(&p->server_claim, c, obj, key, key, is_subdomain, "a claim name");
    if (!strcmp(key, "home_claim"))
        return parse_name(&p->compose.home_claim, c, obj, key, key, is_claim_template,
                          "a claim name, one holding {username}, or none");
    if (!strcmp(key, "max_resources"))
        return parse_amounts(&p->max, c, obj, key, key, true);
    if (!strcmp(key, "default_resources"))
        return parse_amounts(&p->defaults, c, obj, key, key, false);
    if (!strcmp(key, "proxy_labels")) {
        json_t *m = NULL;
        if ((rc = parse_labels(&m, c, obj, key, key)) < 0)
            return rc;
        struct ty_buf b = TY_BUF_INIT;
        const char *k;
        json_t *x;
        json_object_foreach(m, k, x)
        {
            ty_buf_printf(&b, "%s%s=%s", b.len ? "," : "", k, json_string_value(x));
        }
        json_decref(m);
        free(p->compose.proxy_selector);
        p->compose.proxy_selector = b.len ? ty_buf_detach(&b) : NULL;
        ty_buf_cleanup(&b);
        return 0;
    }
    if (!strcmp(key, "ingress")) {
        const char *s = json_string_value(v);
        if (!s || (strcmp(s, "ambassador") && strcmp(s, "ingress") && strcmp(s, "none")))
            return bad(c->err, c->d, obj, key,
                       "policy.ingress: expected ambassador, ingress or none");
        p->compose.ambassador = !strcmp(s, "ambassador");
        p->compose.ingress_object = !strcmp(s, "ingress");
        return 0;
    }
    if (!strcmp(key, "gpu_tolerations"))
        return parse_tolerations(&p->compose.gpu_tolerations, c, obj, key, key);
    if (!strcmp(key, "apps"))
        return parse_apps(p, c, obj, key);
    if (!strcmp(key, "profiles"))
        return parse_profiles(p, c, obj, key);
    if ((rc = parse_sched(&p->sched, c, obj, key, "")) != 1)
        return rc;
    if (ty_str_in(key, compose_keys))
        return parse_compose_key(p, c, obj, key);
    return bad_key(c->err, c->d, obj, key, "policy.%s: unknown key", key);
}

static int
parse_into(struct policy *p, const json_t *obj, const struct doc *d, struct ty_error *err)
{
    struct pctx c = {d, err};
    const char *key;
    const json_t *v;
    if (!json_is_object(obj))
        return bad(err, d, obj, NULL, "policy: expected a mapping");
    json_object_foreach((json_t *)obj, key, v)
    {
        int rc = parse_key(p, &c, obj, key);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- copy, JSON ---------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (char *const *q = v; q && *q; q++)
        json_array_append_new(a, json_string(*q));
    return a;
}

static json_t *amounts_json(const struct compose_amounts *a, bool with_gpus)
{
    char buf[64];
    json_t *o = json_object();
    json_object_set_new(o, "cpu",
                        a->cpu_millis >= 0
                            ? json_string(ty_quantity_cpu_format(buf, sizeof(buf), a->cpu_millis))
                            : json_null());
    json_object_set_new(o, "memory",
                        a->memory_bytes >= 0 ? json_string(ty_quantity_bytes_format(
                                                   buf, sizeof(buf), a->memory_bytes))
                                             : json_null());
    if (with_gpus)
        json_object_set_new(o, "gpus", a->gpus >= 0 ? json_integer(a->gpus) : json_null());
    return o;
}

static void sched_json(json_t *o, const struct policy_sched *s)
{
    json_object_set_new(o, "node_selector",
                        s->node_selector ? json_deep_copy(s->node_selector) : json_object());
    json_object_set_new(o, "tolerations",
                        s->tolerations ? json_deep_copy(s->tolerations) : json_array());
    json_object_set_new(o, "priority_class", str_or_null(s->priority_class));
}

json_t *policy_to_json(const struct policy *p)
{
    const struct compose_policy *cp = &p->compose;
    json_t *o = json_object(), *labels = json_object(), *claims = json_array(),
           *apps = json_object(), *profiles = json_array();

    json_object_set_new(o, "ingress",
                        json_string(cp->ambassador       ? "ambassador"
                                    : cp->ingress_object ? "ingress"
                                                         : "none"));
    json_object_set_new(o, "ingress_class", str_or_null(cp->ingress_class));
    json_object_set_new(o, "ingress_host", str_or_null(cp->ingress_host));
    json_object_set_new(o, "ingress_tls_secret", str_or_null(cp->ingress_tls_secret));
    json_object_set_new(o, "ingress_annotations",
                        cp->ingress_annotations ? json_deep_copy(cp->ingress_annotations)
                                                : json_object());
    json_object_set_new(o, "ambassador_id", str_or_null(cp->ambassador_id));
    json_object_set_new(o, "remote_user_header", json_boolean(cp->remote_user_header));
    json_object_set_new(o, "network_policy", json_boolean(cp->network_policy));
    json_object_set_new(o, "proxy_namespace", str_or_null(cp->proxy_namespace));
    if (cp->proxy_selector) {
        char *sel = ty_xstrdup(cp->proxy_selector);
        for (char *save = NULL, *t = strtok_r(sel, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(t, '=');
            if (eq) {
                *eq = '\0';
                json_object_set_new(labels, t, json_string(eq + 1));
            }
        }
        free(sel);
    }
    json_object_set_new(o, "proxy_labels", labels);
    json_object_set_new(o, "client_cidrs", strv_json(cp->client_cidrs));
    json_object_set_new(o, "home_claim",
                        cp->home_claim ? json_string(cp->home_claim) : json_string("none"));
    json_object_set_new(o, "home_subpath", str_or_null(cp->home_subpath));
    json_object_set_new(o, "home_create", json_boolean(cp->home_create));
    json_object_set_new(o, "home_size", str_or_null(cp->home_size));
    json_object_set_new(o, "home_storage_class", str_or_null(cp->home_storage_class));
    json_object_set_new(o, "home_parent", str_or_null(cp->home_parent));
    json_object_set_new(o, "home_shared", str_or_null(cp->home_shared));
    json_object_set_new(o, "init_home_dirs", json_boolean(cp->init_home_dirs));
    json_object_set_new(o, "init_image", str_or_null(cp->init_image));
    json_object_set_new(o, "init_cpu", str_or_null(cp->init_cpu));
    json_object_set_new(o, "init_memory", str_or_null(cp->init_memory));
    json_object_set_new(o, "init_uid", json_integer(cp->init_uid));
    json_object_set_new(o, "init_gid", json_integer(cp->init_gid));
    json_object_set_new(o, "gitea_host", str_or_null(cp->gitea_host));
    json_object_set_new(o, "gitea_user", str_or_null(cp->gitea_user));
    json_object_set_new(o, "gitea_service", str_or_null(cp->gitea_service));
    json_object_set_new(o, "service_type", str_or_null(cp->service_type));
    json_object_set_new(o, "gpu_resource", str_or_null(cp->gpu_resource));
    json_object_set_new(o, "gpu_tolerations",
                        cp->gpu_tolerations ? json_deep_copy(cp->gpu_tolerations) : json_null());
    json_object_set_new(o, "create_pvcs", json_boolean(cp->create_pvcs));
    json_object_set_new(o, "pvc_size", str_or_null(cp->pvc_size));
    json_object_set_new(o, "storage_class", str_or_null(cp->storage_class));
    json_object_set_new(o, "pvc_access_mode", str_or_null(cp->pvc_access_mode));
    json_object_set_new(o, "allow_root", json_boolean(p->allow_root));
    json_object_set_new(o, "allow_privileged", json_boolean(cp->allow_privileged));
    json_object_set_new(o, "allow_host_path", json_boolean(cp->allow_host_path));
    json_object_set_new(o, "allow_host_network", json_boolean(cp->allow_host_network));
    json_object_set_new(o, "default_uid", json_integer(cp->default_uid));
    json_object_set_new(o, "default_gid", json_integer(cp->default_gid));
    json_object_set_new(o, "default_fs_group", json_integer(cp->default_fs_group));
    json_object_set_new(o, "service_accounts", strv_json(p->service_accounts));
    for (size_t i = 0; i < p->n_claims; i++) {
        json_t *roles = json_array();
        for (int r = POLICY_ROLE_USER; r <= POLICY_ROLE_ADMIN; r++)
            if (p->claims[i].roles & (1u << r))
                json_array_append_new(roles, json_string(policy_role_name((enum policy_role)r)));
        json_array_append_new(claims,
                              json_pack("{s:s, s:o, s:o}", "claim", p->claims[i].claim, "sub_path",
                                        str_or_null(p->claims[i].sub_path), "roles", roles));
    }
    json_object_set_new(o, "claims", claims);
    json_object_set_new(o, "server_service_account", str_or_null(p->server_service_account));
    json_object_set_new(o, "server_claim", str_or_null(p->server_claim));
    json_object_set_new(o, "reserved_labels", strv_json(p->reserved_labels));
    json_object_set_new(o, "unregistered_apps", json_boolean(p->unregistered_apps));
    json_object_set_new(o, "max_resources", amounts_json(&p->max, true));
    json_object_set_new(o, "default_resources", amounts_json(&p->defaults, false));
    sched_json(o, &p->sched);
    for (size_t i = 0; i < p->n_apps; i++) {
        json_t *a = json_object();
        json_object_set_new(a, "allow_root", json_boolean(p->apps[i].allow_root));
        sched_json(a, &p->apps[i].sched);
        json_object_set_new(apps, p->apps[i].id, a);
    }
    json_object_set_new(o, "apps", apps);
    for (size_t i = 0; i < p->n_profiles; i++) {
        json_t *pr = json_object();
        json_object_set_new(pr, "name", json_string(p->profiles[i].name));
        json_object_set_new(pr, "min", amounts_json(&p->profiles[i].min, true));
        sched_json(pr, &p->profiles[i].sched);
        json_array_append_new(profiles, pr);
    }
    json_object_set_new(o, "profiles", profiles);
    return o;
}

/* A deep copy through JSON; culler_labels are the server's, not a key. */
static int copy(struct policy *dst, const struct policy *src, struct ty_error *err)
{
    json_t *j = policy_to_json(src);
    policy_init(dst);
    int rc = parse_into(dst, j, NULL, err);
    json_decref(j);
    if (rc < 0) {
        policy_cleanup(dst);
        return ty_error_wrap(err, "policy: copy: ");
    }
    dst->culler_labels = src->culler_labels ? strv_dup(src->culler_labels) : NULL;
    return 0;
}

int policy_copy(struct policy *dst, const struct policy *src, struct ty_error *err)
{
    return copy(dst, src, err);
}

int policy_parse(struct policy *p, const json_t *obj, const struct doc *d, struct ty_error *err)
{
    struct policy tmp;
    int rc;
    if (!obj || json_is_null(obj))
        return 0;
    if ((rc = copy(&tmp, p, err)) < 0)
        return rc;
    rc = parse_into(&tmp, obj, d, err);
    if (rc < 0) {
        policy_cleanup(&tmp);
        return rc;
    }
    policy_cleanup(p);
    *p = tmp;
    return 0;
}

/* ---- single keys --------------------------------------------------------- */

enum skind { S_BOOL, S_INT, S_STR, S_TEXT, S_AMOUNT };

static const struct skey {
    const char *name;
    enum skind kind;
} set_keys[] = {
    {"ingress", S_STR},
    {"ingress_class", S_STR},
    {"ingress_host", S_STR},
    {"ingress_tls_secret", S_STR},
    {"ambassador_id", S_STR},
    {"remote_user_header", S_BOOL},
    {"network_policy", S_BOOL},
    {"proxy_namespace", S_STR},
    {"proxy_labels", S_TEXT},
    {"client_cidrs", S_TEXT},
    {"home_claim", S_STR},
    {"home_subpath", S_STR},
    {"home_create", S_BOOL},
    {"home_size", S_STR},
    {"home_storage_class", S_STR},
    {"home_parent", S_STR},
    {"home_shared", S_STR},
    {"init_home_dirs", S_BOOL},
    {"init_image", S_STR},
    {"init_cpu", S_STR},
    {"init_memory", S_STR},
    {"init_uid", S_INT},
    {"init_gid", S_INT},
    {"gitea_host", S_STR},
    {"gitea_user", S_STR},
    {"gitea_service", S_STR},
    {"service_type", S_STR},
    {"gpu_resource", S_STR},
    {"create_pvcs", S_BOOL},
    {"pvc_size", S_STR},
    {"storage_class", S_STR},
    {"pvc_access_mode", S_STR},
    {"allow_root", S_BOOL},
    {"allow_privileged", S_BOOL},
    {"allow_host_path", S_BOOL},
    {"allow_host_network", S_BOOL},
    {"default_uid", S_INT},
    {"default_gid", S_INT},
    {"default_fs_group", S_INT},
    {"service_accounts", S_TEXT},
    {"claims", S_TEXT},
    {"server_service_account", S_STR},
    {"server_claim", S_STR},
    {"reserved_labels", S_TEXT},
    {"unregistered_apps", S_BOOL},
    {"max_resources.cpu", S_AMOUNT},
    {"max_resources.memory", S_AMOUNT},
    {"max_resources.gpus", S_AMOUNT},
    {"default_resources.cpu", S_AMOUNT},
    {"default_resources.memory", S_AMOUNT},
    {"node_selector", S_TEXT},
    {"priority_class", S_STR},
};

#define N_SET_KEYS (sizeof(set_keys) / sizeof(set_keys[0]))

const char *policy_set_key(size_t i)
{
    return i < N_SET_KEYS ? set_keys[i].name : NULL;
}

int policy_set(struct policy *p, const char *key, const char *value, struct ty_error *err)
{
    const struct skey *k = NULL;
    json_t *v = NULL, *obj = NULL;
    int64_t n;
    int rc;
    for (size_t i = 0; i < N_SET_KEYS; i++)
        if (!strcmp(set_keys[i].name, key))
            k = &set_keys[i];
    if (!k)
        return ty_error_set(err, TY_ENOTFOUND, "unknown configuration key 'policy.%s'", key);
    switch (k->kind) {
    case S_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
            v = json_true();
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
            v = json_false();
        else
            return ty_error_set(err, TY_EINVAL, "policy.%s: expected true or false, got '%s'", key,
                                value);
        break;
    case S_INT:
        if (ty_str_to_i64(value, -1, 2147483647, &n) < 0)
            return ty_error_set(err, TY_EINVAL, "policy.%s: expected an integer, got '%s'", key,
                                value);
        v = json_integer(n);
        break;
    case S_STR:
    case S_AMOUNT:
        v = value[0] ? json_string(value) : json_null();
        break;
    case S_TEXT:
        /* Maps as "k=v,k=v" (parse_labels reads that), lists as "a,b"; "" empties. */
        if (!strcmp(key, "proxy_labels") || !strcmp(key, "node_selector")) {
            v = value[0] ? json_string(value) : json_object();
            break;
        }
        v = json_array();
        {
            char *text = ty_xstrdup(value);
            for (char *save = NULL, *t = strtok_r(text, ",", &save); t;
                 t = strtok_r(NULL, ",", &save)) {
                while (*t == ' ')
                    t++;
                size_t len = strlen(t);
                while (len && t[len - 1] == ' ')
                    t[--len] = '\0';
                if (len)
                    json_array_append_new(v, json_string(t));
            }
            free(text);
        }
        break;
    }
    if (!v)
        return ty_error_set(err, TY_EINVAL, "policy.%s: the value is not valid UTF-8", key);
    const char *dot = strchr(key, '.');
    if (dot) {
        char parent[64];
        snprintf(parent, sizeof(parent), "%.*s", (int)(dot - key), key);
        obj = json_pack("{s:{s:o}}", parent, dot + 1, v);
    } else {
        obj = json_pack("{s:o}", key, v);
    }
    rc = policy_parse(p, obj, NULL, err);
    json_decref(obj);
    return rc;
}

int policy_validate(const struct policy *p, struct ty_error *err)
{
    const char *sc = p->server_claim;
    if (sc && p->compose.home_claim && !strcmp(sc, p->compose.home_claim))
        return ty_error_set(err, TY_EINVAL,
                            "policy.home_claim and policy.server_claim are both '%s': the "
                            "server's database would be every user's home",
                            sc);
    for (size_t i = 0; sc && i < p->n_claims; i++)
        if (!strcmp(p->claims[i].claim, sc))
            return ty_error_set(err, TY_EINVAL,
                                "policy.claims lists '%s', the server's own claim "
                                "(policy.server_claim): apps never mount it",
                                sc);
    if (p->server_service_account && strv_has(p->service_accounts, p->server_service_account))
        return ty_error_set(err, TY_EINVAL,
                            "policy.service_accounts lists '%s', the server's own service "
                            "account (policy.server_service_account): apps never run as it",
                            p->server_service_account);
    if (p->compose.home_create &&
        (!p->compose.home_claim || !strstr(p->compose.home_claim, "{username}")))
        return ty_error_set(err, TY_EINVAL,
                            "policy.home_create needs a per-user policy.home_claim (one holding "
                            "{username}, such as home-{username})");
    if (p->compose.network_policy && !p->compose.proxy_selector)
        return ty_error_set(err, TY_EINVAL,
                            "policy.proxy_labels is empty while policy.network_policy is on: no "
                            "proxy could reach the apps");
    if (p->defaults.cpu_millis > 0 && p->max.cpu_millis > 0 &&
        p->defaults.cpu_millis > p->max.cpu_millis)
        return ty_error_set(err, TY_EINVAL,
                            "policy.default_resources.cpu is above policy.max_resources.cpu");
    if (p->defaults.memory_bytes > 0 && p->max.memory_bytes > 0 &&
        p->defaults.memory_bytes > p->max.memory_bytes)
        return ty_error_set(err, TY_EINVAL,
                            "policy.default_resources.memory is above policy.max_resources.memory");
    return 0;
}
