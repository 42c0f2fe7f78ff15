/*
 * compose_model.c - from a compose spec, its .env and the registry entry to
 * the system model (compose_int.h).
 *
 * The order of work matters and mirrors what a reader of the spec expects:
 * the .env file is read first, the main container and its port are found
 * (they are what `{{ system_name }}` and `{{ system_port }}` mean), every string
 * of the spec is rendered once (placeholders, then compose interpolation in
 * the same left-to-right pass, so a substituted value is never scanned again),
 * and only then are services read key by key.  Every error names the position
 * in the spec of the value at fault; errors in the registry entry name the app
 * and the key path, since resolved entries carry no positions.
 */
#include "compose/compose_int.h"

#include "util/mem.h"
#include "util/slug.h"
#include "util/str.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPEC_MAX_BYTES (4u << 20)
#define SPEC_MAX_DEPTH 32
#define SPEC_MAX_NODES 200000
#define MAX_SERVICES 32
#define MAX_ITEMS 256

#define PUSH(arr, n, item)                                                                         \
    do {                                                                                           \
        (arr) = ty_xrealloc((arr), ((n) + 1) * sizeof(*(arr)));                                    \
        (arr)[(n)++] = (item);                                                                     \
    } while (0)

struct build {
    const struct compose_input *in;
    const struct compose_policy *pol;
    struct doc *doc;
    json_t *dotenv;  /* .env variables */
    json_t *tmpl;    /* {{ }} variables */
    struct cmp_vars vars;
    struct compose_system *sys;
    char where[512];
};

static const char *W(struct build *b, const json_t *parent, const char *key)
{
    return doc_where(b->doc, parent, key, b->where, sizeof(b->where));
}

/* Position of the key itself (a service name), falling back to W(). */
static const char *WK(struct build *b, const json_t *parent, const char *key)
{
    struct doc_pos p;
    if (doc_key_pos(b->doc, parent, key, &p)) {
        snprintf(b->where, sizeof(b->where), "%s:%d:%d", doc_name(b->doc), p.line, p.col);
        return b->where;
    }
    return W(b, parent, key);
}

static const char *WI(struct build *b, const json_t *arr, size_t i)
{
    return doc_where_item(b->doc, arr, i, b->where, sizeof(b->where));
}

/* A scalar as a string (numbers and booleans as YAML writes them); NULL for
 * containers and null.  New string. */
static char *scalar_str(const json_t *v)
{
    char buf[64];
    if (json_is_string(v))
        return ty_xstrdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        return ty_xstrdup(buf);
    }
    if (json_is_real(v)) {
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
        return ty_xstrdup(buf);
    }
    if (json_is_boolean(v))
        return ty_xstrdup(json_is_true(v) ? "true" : "false");
    return NULL;
}

/* -------------------------------------------------------------- free */

static void res_free(struct cmp_res *r)
{
    free(r->cpu);
    free(r->memory);
    free(r->ephemeral);
}

static void container_free(struct cmp_container *c)
{
    free(c->name);
    free(c->image);
    json_decref(c->command);
    json_decref(c->args);
    free(c->working_dir);
    for (size_t i = 0; i < c->nenv; i++) {
        free(c->env[i].name);
        free(c->env[i].value);
    }
    free(c->env);
    free(c->ports);
    for (size_t i = 0; i < c->nmounts; i++) {
        free(c->mounts[i].volume);
        free(c->mounts[i].path);
        free(c->mounts[i].sub_path);
    }
    free(c->mounts);
    res_free(&c->limits);
    res_free(&c->requests);
    json_decref(c->liveness);
    json_decref(c->readiness);
    json_decref(c->cap_add);
    json_decref(c->cap_drop);
}

void compose_system_free(struct compose_system *sys)
{
    if (!sys)
        return;
    free(sys->app_id);
    free(sys->app_slug);
    free(sys->app_label);
    free(sys->guid);
    free(sys->name);
    free(sys->username);
    free(sys->user_label);
    free(sys->user_object);
    free(sys->user_path);
    free(sys->url_path);
    free(sys->host);
    for (size_t i = 0; i < sys->ncontainers; i++)
        container_free(&sys->containers[i]);
    free(sys->containers);
    for (size_t i = 0; i < sys->nvolumes; i++) {
        free(sys->volumes[i].name);
        free(sys->volumes[i].source);
    }
    free(sys->volumes);
    json_decref(sys->services);
    free(sys->conn_string);
    free(sys->rewrite);
    free(sys->service_account);
    json_decref(sys->named_volumes);
    free(sys->home_claim);
    free(sys->home_sub);
    free(sys->secret_name);
    json_decref(sys->secret_data);
    free(sys);
}

/* ------------------------------------------------------------ env */

static bool is_sensitive(const char *name)
{
    static const char *const words[] = {"PASSWORD", "PASSWD",      "SECRET",     "TOKEN",
                                        "API_KEY",  "APIKEY",      "PRIVATE_KEY", "CREDENTIAL",
                                        NULL};
    char up[256];
    size_t n = strlen(name);
    if (n >= sizeof(up))
        n = sizeof(up) - 1;
    for (size_t i = 0; i < n; i++)
        up[i] = (char)toupper((unsigned char)name[i]);
    up[n] = '\0';
    for (int i = 0; words[i]; i++)
        if (strstr(up, words[i]))
            return true;
    return false;
}

/* Sets name=value in c, replacing an earlier value in place (the later
 * definition wins, as it does in Tycho's env list). */
static void env_set(struct cmp_container *c, const char *name, const char *value)
{
    for (size_t i = 0; i < c->nenv; i++)
        if (!strcmp(c->env[i].name, name)) {
            free(c->env[i].value);
            c->env[i].value = ty_xstrdup(value);
            return;
        }
    struct cmp_env e = {ty_xstrdup(name), ty_xstrdup(value), false};
    PUSH(c->env, c->nenv, e);
}

static void env_set_obj(struct cmp_container *c, const json_t *obj)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        char *s = scalar_str(v);
        if (s)
            env_set(c, k, s);
        free(s);
    }
}

/* environment / env in list ("K=V", "K") or map form. */
static int read_environment(struct build *b, struct cmp_container *c, const json_t *svc,
                            const char *key, struct ty_error *err)
{
    const json_t *env = json_object_get(svc, key);
    if (!env || json_is_null(env))
        return 0;
    if (json_is_array(env)) {
        size_t i;
        const json_t *it;
        json_array_foreach(env, i, it)
        {
            char *s = scalar_str(it);
            if (!s || !*s) {
                free(s);
                return ty_error_set(err, TY_EINVAL, "%s: %s entries must be NAME=value strings",
                                    WI(b, env, i), key);
            }
            char *eq = strchr(s, '=');
            if (eq) {
                *eq = '\0';
                env_set(c, s, eq + 1);
            } else {
                const json_t *dv = json_object_get(b->dotenv, s);
                if (json_is_string(dv))
                    env_set(c, s, json_string_value(dv));
            }
            free(s);
        }
        return 0;
    }
    if (json_is_object(env)) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)env, k, v)
        {
            if (json_is_null(v)) {
                const json_t *dv = json_object_get(b->dotenv, k);
                if (json_is_string(dv))
                    env_set(c, k, json_string_value(dv));
                continue;
            }
            char *s = scalar_str(v);
            if (!s)
                return ty_error_set(err, TY_EINVAL, "%s: value of %s must be a scalar",
                                    W(b, env, k), k);
            env_set(c, k, s);
            free(s);
        }
        return 0;
    }
    return ty_error_set(err, TY_EINVAL, "%s: %s must be a list or a mapping", W(b, svc, key),
                        key);
}

static int read_env_file(struct build *b, struct cmp_container *c, const json_t *svc,
                         struct ty_error *err)
{
    const json_t *ef = json_object_get(svc, "env_file");
    if (!ef || json_is_null(ef))
        return 0;
    json_t *list = json_is_array(ef) ? json_incref((json_t *)ef) : json_pack("[O]", ef);
    size_t i;
    const json_t *it;
    int rc = 0;
    json_array_foreach(list, i, it)
    {
        const char *path = NULL;
        bool required = true;
        if (json_is_string(it)) {
            path = json_string_value(it);
        } else if (json_is_object(it) && json_is_string(json_object_get(it, "path"))) {
            path = json_string_value(json_object_get(it, "path"));
            required = !json_is_false(json_object_get(it, "required"));
        }
        if (!path) {
            rc = ty_error_set(err, TY_EINVAL, "%s: env_file entries must be paths",
                              json_is_array(ef) ? WI(b, ef, i) : W(b, svc, "env_file"));
            break;
        }
        char where[512];
        snprintf(where, sizeof(where), "%s", json_is_array(ef) ? WI(b, ef, i) : W(b, svc, "env_file"));
        if (!b->in->read_file) {
            /* The same answer whatever the name: a file's existence is not
             * the caller's business. */
            rc = ty_error_set(err, TY_EINVAL,
                              "%s: env_file '%s': this spec has no folder to read files from "
                              "(send the variables as the .env text instead)",
                              where, path);
            break;
        }
        struct ty_buf text = TY_BUF_INIT;
        rc = b->in->read_file(&text, path, b->in->read_payload, err);
        if (rc == TY_ENOTFOUND && !required) {
            ty_buf_cleanup(&text);
            ty_error_clear(err);
            rc = 0;
            continue;
        }
        if (rc) {
            ty_buf_cleanup(&text);
            ty_error_wrap(err, "%s: env_file: ", where);
            break;
        }
        json_t *vars = json_object();
        rc = cmp_dotenv_parse(vars, ty_buf_cstr(&text), text.len, path, err);
        if (!rc)
            env_set_obj(c, vars);
        json_decref(vars);
        ty_buf_cleanup(&text);
        if (rc)
            break;
    }
    json_decref(list);
    return rc;
}

/* ------------------------------------------------------------ ports */

static int parse_port_num(const char *s, size_t n, int *out)
{
    char buf[16];
    int64_t v;
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (ty_str_to_i64(buf, 1, 65535, &v))
        return -1;
    *out = (int)v;
    return 0;
}

static void add_port(struct cmp_container *c, struct cmp_port p)
{
    for (size_t i = 0; i < c->nports; i++)
        if (c->ports[i].container == p.container && c->ports[i].udp == p.udp) {
            if (!c->ports[i].published)
                c->ports[i].published = p.published;
            return;
        }
    PUSH(c->ports, c->nports, p);
}

/* Short syntax: [ip:][host:]container[/proto], or an integer. */
static int parse_port_short(struct cmp_port *out, const json_t *v, bool expose, const char *where,
                            struct ty_error *err)
{
    memset(out, 0, sizeof(*out));
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 1 || n > 65535)
            return ty_error_set(err, TY_EINVAL, "%s: port %lld is out of range 1-65535", where,
                                (long long)n);
        out->container = (int)n;
        return 0;
    }
    if (!json_is_string(v))
        return ty_error_set(err, TY_EINVAL, "%s: a port must be a number or a string", where);
    const char *s = json_string_value(v);
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : strlen(s);
    if (slash) {
        if (!strcmp(slash + 1, "udp"))
            out->udp = true;
        else if (strcmp(slash + 1, "tcp"))
            return ty_error_set(err, TY_EINVAL, "%s: unknown protocol '%s' in port '%s'", where,
                                slash + 1, s);
    }
    const char *last = s;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            last = s + i + 1;
    if (memchr(last, '-', len - (size_t)(last - s)))
        return ty_error_set(err, TY_EINVAL, "%s: port ranges ('%s') are not supported", where, s);
    if (parse_port_num(last, len - (size_t)(last - s), &out->container))
        return ty_error_set(err, TY_EINVAL, "%s: invalid port '%s' (expected [host:]container "
                                            "with numbers 1-65535)", where, s);
    if (last != s && !expose) {
        /* host part: the text between the previous ':' (or the start) and last. */
        const char *he = last - 1, *hs = he;
        while (hs > s && hs[-1] != ':')
            hs--;
        if (he > hs && parse_port_num(hs, (size_t)(he - hs), &out->published))
            return ty_error_set(err, TY_EINVAL, "%s: invalid host port in '%s'", where, s);
    } else if (last != s) {
        return ty_error_set(err, TY_EINVAL, "%s: expose takes container ports only ('%s')",
                            where, s);
    }
    return 0;
}

static int read_ports(struct build *b, struct cmp_container *c, const json_t *svc, bool expose,
                      struct ty_error *err)
{
    const char *key = expose ? "expose" : "ports";
    const json_t *ports = json_object_get(svc, key);
    if (!ports || json_is_null(ports))
        return 0;
    if (!json_is_array(ports))
        return ty_error_set(err, TY_EINVAL, "%s: %s must be a list", W(b, svc, key), key);
    if (json_array_size(ports) > MAX_ITEMS)
        return ty_error_set(err, TY_ELIMIT, "%s: too many %s", W(b, svc, key), key);
    size_t i;
    const json_t *it;
    json_array_foreach(ports, i, it)
    {
        struct cmp_port p;
        int rc;
        if (json_is_object(it) && !expose) {
            const json_t *t = json_object_get(it, "target");
            memset(&p, 0, sizeof(p));
            rc = parse_port_short(&p, t ? t : json_null(), true, W(b, it, "target"), err);
            if (rc)
                return rc;
            const json_t *pub = json_object_get(it, "published");
            if (pub && !json_is_null(pub)) {
                struct cmp_port pp;
                rc = parse_port_short(&pp, pub, true, W(b, it, "published"), err);
                if (rc)
                    return rc;
                p.published = pp.container;
            }
            const json_t *proto = json_object_get(it, "protocol");
            if (json_is_string(proto) && !strcmp(json_string_value(proto), "udp"))
                p.udp = true;
            else if (proto && !(json_is_string(proto) && !strcmp(json_string_value(proto), "tcp")))
                return ty_error_set(err, TY_EINVAL, "%s: protocol must be tcp or udp",
                                    W(b, it, "protocol"));
        } else {
            rc = parse_port_short(&p, it, expose, WI(b, ports, i), err);
            if (rc)
                return rc;
        }
        add_port(c, p);
    }
    return 0;
}

/* ------------------------------------------------------------ volumes */

static size_t volume_add(struct compose_system *sys, enum cmp_vol_kind kind, const char *source,
                         bool create)
{
    for (size_t i = 0; i < sys->nvolumes; i++)
        if (sys->volumes[i].kind == kind && !strcmp(sys->volumes[i].source, source))
            return i;
    struct cmp_volume v = {NULL, kind, ty_xstrdup(source), create, 0};
    /* Pod volume names are DNS-1123 labels; keep the claim name when it is one. */
    char *name = ty_is_dns1123_label(source) ? ty_xstrdup(source)
                                             : ty_slug_object(source, COMPOSE_NAME_MAX + 20);
    for (size_t i = 0; i < sys->nvolumes; i++)
        if (!strcmp(sys->volumes[i].name, name)) {
            char *alt = ty_xasprintf("vol-%zu", sys->nvolumes);
            free(name);
            name = alt;
            break;
        }
    v.name = name;
    PUSH(sys->volumes, sys->nvolumes, v);
    return sys->nvolumes - 1;
}

static bool path_is_safe_sub(const char *p)
{
    if (!*p || p[0] == '/')
        return false;
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if ((n == 2 && !strncmp(s, "..", 2)) || n == 0)
            return false;
        s += n + (e ? 1 : 0);
    }
    return true;
}

static int add_mount(struct build *b, struct cmp_container *c, size_t vol, const char *path,
                     const char *sub, bool ro, const char *where, struct ty_error *err)
{
    if (!path || path[0] != '/')
        return ty_error_set(err, TY_EINVAL, "%s: mount path '%s' must be absolute", where,
                            path ? path : "");
    if (sub && *sub && !path_is_safe_sub(sub))
        return ty_error_set(err, TY_EINVAL, "%s: invalid sub-path '%s'", where, sub);
    for (size_t i = 0; i < c->nmounts; i++)
        if (!strcmp(c->mounts[i].path, path))
            return ty_error_set(err, TY_EINVAL, "%s: '%s' is mounted twice", where, path);
    struct cmp_mount m = {ty_xstrdup(b->sys->volumes[vol].name), ty_xstrdup(path),
                          sub && *sub ? ty_xstrdup(sub) : NULL, ro};
    PUSH(c->mounts, c->nmounts, m);
    return 0;
}

static bool is_mode(const char *s)
{
    return !strcmp(s, "ro") || !strcmp(s, "rw") || !strcmp(s, "z") || !strcmp(s, "Z");
}

static int mount_named(struct build *b, struct cmp_container *c, const json_t *top_vols,
                       const char *vname, const char *path, bool ro, const char *where,
                       struct ty_error *err)
{
    const json_t *decl = json_is_object(top_vols) ? json_object_get(top_vols, vname) : NULL;
    if (!decl && !json_object_get(top_vols ? top_vols : json_null(), vname))
        return ty_error_set(err, TY_EINVAL,
                            "%s: volume '%s' is not declared under the top-level volumes "
                            "(use pvc://claim:/path for an existing claim)",
                            where, vname);
    const json_t *ext = json_is_object(decl) ? json_object_get(decl, "external") : NULL;
    const json_t *nm = json_is_object(decl) ? json_object_get(decl, "name") : NULL;
    char *claim;
    bool create = false;
    if (json_is_true(ext) || json_is_string(nm)) {
        claim = ty_xstrdup(json_is_string(nm) ? json_string_value(nm) : vname);
    } else {
        /* Per user and app, so it outlives one launch and is never shared. */
        char *raw = ty_xasprintf("%s-%s-%s", b->sys->app_slug, vname, b->sys->user_object);
        claim = ty_slug_object(raw, 63);
        free(raw);
        create = b->pol->create_pvcs;
    }
    if (!ty_is_dns1123_subdomain(claim)) {
        int rc = ty_error_set(err, TY_EINVAL, "%s: '%s' is not a valid claim name", where, claim);
        free(claim);
        return rc;
    }
    size_t vi = volume_add(b->sys, VOL_PVC, claim, create);
    if (create)
        json_object_set_new(b->sys->named_volumes, claim, json_string(vname));
    free(claim);
    return add_mount(b, c, vi, path, NULL, ro, where, err);
}

/* pvc://claim[/sub/path]:/mount[:ro] */
static int mount_pvc(struct build *b, struct cmp_container *c, const char *spec,
                     const char *where, struct ty_error *err)
{
    char *s = ty_xstrdup(spec + 6);
    char *parts[4] = {NULL};
    int n = 0, rc;
    for (char *p = s; p && n < 4;) {
        parts[n++] = p;
        p = strchr(p, ':');
        if (p)
            *p++ = '\0';
    }
    if (n < 2 || n > 3 || !*parts[0] || (n == 3 && !is_mode(parts[2]))) {
        rc = ty_error_set(err, TY_EINVAL,
                          "%s: invalid volume '%s' (expected pvc://claim[/subpath]:/path[:ro])",
                          where, spec);
        goto out;
    }
    char *sub = strchr(parts[0], '/');
    if (sub)
        *sub++ = '\0';
    if (!ty_is_dns1123_subdomain(parts[0])) {
        rc = ty_error_set(err, TY_EINVAL, "%s: '%s' is not a valid claim name", where, parts[0]);
        goto out;
    }
    size_t vi = volume_add(b->sys, VOL_PVC, parts[0], false);
    rc = add_mount(b, c, vi, parts[1], sub, n == 3 && !strcmp(parts[2], "ro"), where, err);
out:
    free(s);
    return rc;
}

static int mount_host(struct build *b, struct cmp_container *c, const char *src,
                      const char *path, bool ro, const char *where, struct ty_error *err)
{
    if (!b->pol->allow_host_path)
        return ty_error_set(err, TY_EFORBIDDEN,
                            "%s: host path volume '%s' is not allowed by the server's policy",
                            where, src);
    if (src[0] != '/')
        return ty_error_set(err, TY_EINVAL, "%s: host path '%s' must be absolute", where, src);
    size_t vi = volume_add(b->sys, VOL_HOST, src, false);
    return add_mount(b, c, vi, path, NULL, ro, where, err);
}

static int read_volumes(struct build *b, struct cmp_container *c, const json_t *svc,
                        const json_t *top_vols, struct ty_error *err)
{
    const json_t *vols = json_object_get(svc, "volumes");
    if (!vols || json_is_null(vols))
        return 0;
    if (!json_is_array(vols))
        return ty_error_set(err, TY_EINVAL, "%s: volumes must be a list", W(b, svc, "volumes"));
    if (json_array_size(vols) > MAX_ITEMS)
        return ty_error_set(err, TY_ELIMIT, "%s: too many volumes", W(b, svc, "volumes"));
    size_t i;
    const json_t *it;
    json_array_foreach(vols, i, it)
    {
        char where[512];
        int rc;
        snprintf(where, sizeof(where), "%s", WI(b, vols, i));
        if (json_is_object(it)) {
            const char *type = json_string_value(json_object_get(it, "type"));
            const char *src = json_string_value(json_object_get(it, "source"));
            const char *dst = json_string_value(json_object_get(it, "target"));
            bool ro = json_is_true(json_object_get(it, "read_only"));
            if (!type || !dst)
                return ty_error_set(err, TY_EINVAL, "%s: a long-form volume needs type and "
                                                    "target", where);
            if (!strcmp(type, "volume") && src && ty_str_has_prefix(src, "pvc://")) {
                char *s = ty_xasprintf("%s:%s%s", src, dst, ro ? ":ro" : "");
                rc = mount_pvc(b, c, s, where, err);
                free(s);
            } else if (!strcmp(type, "volume") && src) {
                rc = mount_named(b, c, top_vols, src, dst, ro, where, err);
            } else if (!strcmp(type, "bind") && src) {
                rc = mount_host(b, c, src, dst, ro, where, err);
            } else if (!strcmp(type, "tmpfs")) {
                char *nm = ty_xasprintf("tmpfs-%zu", b->sys->nvolumes);
                size_t vi = volume_add(b->sys, VOL_TMPFS, nm, false);
                free(nm);
                rc = add_mount(b, c, vi, dst, NULL, false, where, err);
            } else {
                return ty_error_set(err, TY_EINVAL, "%s: unsupported volume type '%s'", where,
                                    type);
            }
            if (rc)
                return rc;
            continue;
        }
        if (!json_is_string(it))
            return ty_error_set(err, TY_EINVAL, "%s: a volume must be a string or a mapping",
                                where);
        const char *v = json_string_value(it);
        if (ty_str_has_prefix(v, "pvc://")) {
            rc = mount_pvc(b, c, v, where, err);
        } else {
            const char *scheme = strstr(v, "://");
            if (scheme)
                return ty_error_set(err, TY_EINVAL,
                                    "%s: unknown volume scheme '%.*s://' (only pvc:// is "
                                    "supported)",
                                    where, (int)(scheme - v), v);
            char *s = ty_xstrdup(v);
            char *parts[4] = {NULL};
            int n = 0;
            for (char *p = s; p && n < 4;) {
                parts[n++] = p;
                p = strchr(p, ':');
                if (p)
                    *p++ = '\0';
            }
            if (n == 1) {
                rc = ty_error_set(err, TY_EINVAL,
                                  "%s: anonymous volume '%s' is not supported (name it or use "
                                  "pvc://claim:%s)",
                                  where, v, v);
            } else if (n > 3 || (n == 3 && !is_mode(parts[2]))) {
                rc = ty_error_set(err, TY_EINVAL, "%s: invalid volume '%s'", where, v);
            } else {
                bool ro = n == 3 && !strcmp(parts[2], "ro");
                if (parts[0][0] == '/' || parts[0][0] == '.' || parts[0][0] == '~')
                    rc = mount_host(b, c, parts[0], parts[1], ro, where, err);
                else
                    rc = mount_named(b, c, top_vols, parts[0], parts[1], ro, where, err);
            }
            free(s);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ resources */

static int read_res(struct build *b, struct cmp_res *r, const json_t *obj, const char *what,
                    struct ty_error *err)
{
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return ty_error_set(err, TY_EINVAL, "%s: %s must be a mapping", W(b, obj, NULL), what);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
            continue;
        if (!strcmp(k, "cpus")) {
            free(r->cpu);
            r->cpu = cmp_cpu_quantity(v);
            if (!r->cpu)
                return ty_error_set(err, TY_EINVAL, "%s: invalid cpus value", W(b, obj, k));
        } else if (!strcmp(k, "memory")) {
            free(r->memory);
            r->memory = cmp_mem_quantity(v);
            if (!r->memory)
                return ty_error_set(err, TY_EINVAL, "%s: invalid memory size", W(b, obj, k));
        } else if (!strcmp(k, "ephemeralStorage") || !strcmp(k, "ephemeral_storage")) {
            free(r->ephemeral);
            r->ephemeral = cmp_mem_quantity(v);
            if (!r->ephemeral)
                return ty_error_set(err, TY_EINVAL, "%s: invalid storage size", W(b, obj, k));
            if (!strcmp(r->ephemeral, "0")) {
                free(r->ephemeral);
                r->ephemeral = NULL;
            }
        } else if (!strcmp(k, "gpus")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > 1024) {
                int64_t n;
                if (!json_is_string(v) || ty_str_to_i64(json_string_value(v), 0, 1024, &n))
                    return ty_error_set(err, TY_EINVAL, "%s: gpus must be a whole number",
                                        W(b, obj, k));
                r->gpus = (long)n;
            } else {
                r->gpus = (long)json_integer_value(v);
            }
        } else if (!strcmp(k, "devices")) {
            if (!json_is_array(v))
                return ty_error_set(err, TY_EINVAL, "%s: devices must be a list", W(b, obj, k));
            size_t i;
            const json_t *d;
            json_array_foreach(v, i, d)
            {
                const json_t *caps = json_object_get(d, "capabilities");
                bool gpu = false;
                size_t j;
                const json_t *cap;
                json_array_foreach(caps, j, cap)
                {
                    if (json_is_string(cap) && !strcmp(json_string_value(cap), "gpu"))
                        gpu = true;
                }
                if (!gpu)
                    return ty_error_set(err, TY_EINVAL,
                                        "%s: only devices with capabilities [gpu] are supported",
                                        WI(b, v, i));
                const json_t *cnt = json_object_get(d, "count");
                const json_t *ids = json_object_get(d, "device_ids");
                long n;
                int64_t sn;
                if (json_is_integer(cnt) && json_integer_value(cnt) >= 0 &&
                    json_integer_value(cnt) <= 1024)
                    n = (long)json_integer_value(cnt);
                else if (json_is_string(cnt) && !ty_str_to_i64(json_string_value(cnt), 0, 1024, &sn))
                    n = (long)sn;
                else if (!cnt && json_is_array(ids))
                    n = (long)json_array_size(ids);
                else if (!cnt && !ids)
                    n = 1;
                else
                    return ty_error_set(err, TY_EINVAL,
                                        "%s: GPU count must be a number (\"all\" cannot be "
                                        "expressed in Kubernetes)",
                                        W(b, d, "count"));
                r->gpus = (r->gpus > 0 ? r->gpus : 0) + n;
            }
        } else if (!strcmp(k, "pids")) {
            continue;
        } else {
            return ty_error_set(err, TY_EINVAL, "%s: unknown resource '%s' in %s", W(b, obj, k),
                                k, what);
        }
    }
    return 0;
}

static void res_override(struct cmp_res *r, const struct compose_resources *o)
{
    if (o->cpu) {
        free(r->cpu);
        r->cpu = ty_xstrdup(o->cpu);
    }
    if (o->memory) {
        free(r->memory);
        r->memory = ty_xstrdup(o->memory);
    }
    if (o->ephemeral_storage) {
        free(r->ephemeral);
        r->ephemeral = *o->ephemeral_storage ? ty_xstrdup(o->ephemeral_storage) : NULL;
    }
    if (o->gpus >= 0)
        r->gpus = o->gpus;
}

static int check_override(const struct compose_resources *o, const char *what,
                          struct ty_error *err)
{
    json_t *v;
    char *q;
    if (o->cpu) {
        v = json_string(o->cpu);
        q = cmp_cpu_quantity(v);
        json_decref(v);
        if (!q)
            return ty_error_set(err, TY_EINVAL, "%s cpu '%s' is not a CPU amount", what, o->cpu);
        free(q);
    }
    const char *mems[2] = {o->memory, o->ephemeral_storage};
    for (int i = 0; i < 2; i++) {
        if (!mems[i] || (i == 1 && !*mems[i]))
            continue;
        v = json_string(mems[i]);
        q = cmp_mem_quantity(v);
        json_decref(v);
        if (!q)
            return ty_error_set(err, TY_EINVAL, "%s %s '%s' is not a size", what,
                                i ? "ephemeral-storage" : "memory", mems[i]);
        free(q);
    }
    return 0;
}

/* ------------------------------------------------------------ probes */

static int probe_port(json_t **out, const json_t *v, int dflt, const char *where,
                      struct ty_error *err)
{
    int64_t n;
    if (!v || json_is_null(v)) {
        *out = json_integer(dflt);
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 65535) {
        *out = json_integer(json_integer_value(v));
        return 0;
    }
    if (json_is_string(v) && !ty_str_to_i64(json_string_value(v), 1, 65535, &n)) {
        *out = json_integer(n);
        return 0;
    }
    if (json_is_string(v) && ty_is_dns1123_label(json_string_value(v)) &&
        strlen(json_string_value(v)) <= 15) {
        *out = json_string(json_string_value(v));
        return 0;
    }
    return ty_error_set(err, TY_EINVAL, "%s: invalid probe port", where);
}

/* A registry ext.kube probe ({httpGet|tcpSocket|cmd|exec, delay, period,
 * threshold, or Kubernetes field names}) as a Kubernetes probe; NULL for "none". */
static int registry_probe(json_t **out, struct build *b, const json_t *p, const char *path,
                          struct ty_error *err)
{
    *out = NULL;
    if (json_is_string(p) && !strcmp(json_string_value(p), "none"))
        return 0;
    if (!json_is_object(p))
        return ty_error_set(err, TY_EINVAL, "%s: must be a mapping or \"none\"", path);
    json_t *probe = json_object();
    const char *k;
    const json_t *v;
    int rc = 0;
    bool action = false;
    json_object_foreach((json_t *)p, k, v)
    {
        static const struct {
            const char *key, *k8s;
        } timing[] = {{"delay", "initialDelaySeconds"},
                      {"period", "periodSeconds"},
                      {"threshold", "failureThreshold"},
                      {"initialDelaySeconds", "initialDelaySeconds"},
                      {"periodSeconds", "periodSeconds"},
                      {"failureThreshold", "failureThreshold"},
                      {"timeoutSeconds", "timeoutSeconds"},
                      {"successThreshold", "successThreshold"},
                      {NULL, NULL}};
        int t = 0;
        while (timing[t].key && strcmp(timing[t].key, k))
            t++;
        if (timing[t].key) {
            int64_t n;
            if (json_is_integer(v) && json_integer_value(v) >= 0 &&
                json_integer_value(v) <= 86400)
                n = json_integer_value(v);
            else if (!json_is_string(v) || ty_str_to_i64(json_string_value(v), 0, 86400, &n)) {
                rc = ty_error_set(err, TY_EINVAL, "%s.%s: must be a number of seconds", path, k);
                goto out;
            }
            json_object_set_new(probe, timing[t].k8s, json_integer(n));
        } else if (!strcmp(k, "httpGet")) {
            if (!json_is_object(v)) {
                rc = ty_error_set(err, TY_EINVAL, "%s.httpGet: must be a mapping", path);
                goto out;
            }
            json_t *hg = json_object();
            const json_t *pth = json_object_get(v, "path");
            json_object_set_new(hg, "path", json_string(json_is_string(pth)
                                                            ? json_string_value(pth) : "/"));
            json_t *port = NULL;
            char w[512];
            snprintf(w, sizeof(w), "%s.httpGet.port", path);
            rc = probe_port(&port, json_object_get(v, "port"),
                            b->sys->system_port ? b->sys->system_port : 80, w, err);
            if (rc) {
                json_decref(hg);
                goto out;
            }
            json_object_set_new(hg, "port", port);
            const json_t *hdrs = json_object_get(v, "httpHeaders");
            if (json_is_object(hdrs) && json_object_size(hdrs)) {
                json_t *list = json_array();
                const char *hk;
                const json_t *hv;
                json_object_foreach((json_t *)hdrs, hk, hv)
                {
                    char *s = scalar_str(hv);
                    json_array_append_new(list, json_pack("{s:s,s:s}", "name", hk, "value",
                                                          s ? s : ""));
                    free(s);
                }
                json_object_set_new(hg, "httpHeaders", list);
            } else if (json_is_array(hdrs)) {
                json_object_set_new(hg, "httpHeaders", json_deep_copy(hdrs));
            }
            const json_t *scheme = json_object_get(v, "scheme");
            if (json_is_string(scheme))
                json_object_set_new(hg, "scheme", json_string(json_string_value(scheme)));
            json_object_set_new(probe, "httpGet", hg);
            action = true;
        } else if (!strcmp(k, "tcpSocket")) {
            json_t *port = NULL;
            char w[512];
            snprintf(w, sizeof(w), "%s.tcpSocket.port", path);
            rc = probe_port(&port, json_is_object(v) ? json_object_get(v, "port") : NULL,
                            b->sys->system_port ? b->sys->system_port : 80, w, err);
            if (rc)
                goto out;
            json_object_set_new(probe, "tcpSocket", json_pack("{s:o}", "port", port));
            action = true;
        } else if (!strcmp(k, "cmd") || !strcmp(k, "exec")) {
            const json_t *cmd = json_is_object(v) ? json_object_get(v, "command") : v;
            json_t *arr = NULL;
            if (json_is_string(cmd)) {
                rc = cmp_shell_split(&arr, json_string_value(cmd), path, err);
                if (rc)
                    goto out;
            } else if (json_is_array(cmd) && json_array_size(cmd)) {
                arr = json_array();
                size_t i;
                const json_t *it;
                json_array_foreach(cmd, i, it)
                {
                    char *s = scalar_str(it);
                    if (!s) {
                        json_decref(arr);
                        rc = ty_error_set(err, TY_EINVAL, "%s.%s: must be a list of strings",
                                          path, k);
                        goto out;
                    }
                    json_array_append_new(arr, json_string(s));
                    free(s);
                }
            } else {
                rc = ty_error_set(err, TY_EINVAL, "%s.%s: must be a command list", path, k);
                goto out;
            }
            json_object_set_new(probe, "exec", json_pack("{s:o}", "command", arr));
            action = true;
        } else {
            rc = ty_error_set(err, TY_EINVAL, "%s: unknown key '%s'", path, k);
            goto out;
        }
    }
    if (!action) {
        rc = ty_error_set(err, TY_EINVAL, "%s: needs httpGet, tcpSocket or cmd", path);
        goto out;
    }
    *out = probe;
    probe = NULL;
out:
    json_decref(probe);
    return rc;
}

/* compose healthcheck -> readiness probe. */
static int healthcheck_probe(json_t **out, struct build *b, const json_t *hc,
                             struct ty_error *err)
{
    *out = NULL;
    if (!json_is_object(hc))
        return ty_error_set(err, TY_EINVAL, "%s: healthcheck must be a mapping", W(b, hc, NULL));
    if (json_is_true(json_object_get(hc, "disable")))
        return 0;
    const json_t *test = json_object_get(hc, "test");
    json_t *cmd = NULL;
    int rc;
    if (json_is_string(test)) {
        cmd = json_pack("[s,s,s]", "/bin/sh", "-c", json_string_value(test));
    } else if (json_is_array(test) && json_array_size(test) >= 1 &&
               json_is_string(json_array_get(test, 0))) {
        const char *kind = json_string_value(json_array_get(test, 0));
        if (!strcmp(kind, "NONE"))
            return 0;
        if (!strcmp(kind, "CMD-SHELL") && json_array_size(test) == 2 &&
            json_is_string(json_array_get(test, 1))) {
            cmd = json_pack("[s,s,s]", "/bin/sh", "-c",
                            json_string_value(json_array_get(test, 1)));
        } else if (!strcmp(kind, "CMD") && json_array_size(test) >= 2) {
            cmd = json_array();
            for (size_t i = 1; i < json_array_size(test); i++) {
                char *s = scalar_str(json_array_get(test, i));
                json_array_append_new(cmd, json_string(s ? s : ""));
                free(s);
            }
        }
    }
    if (!cmd)
        return ty_error_set(err, TY_EINVAL,
                            "%s: test must be a string, [\"CMD\", ...] or [\"CMD-SHELL\", \"...\"]",
                            W(b, hc, "test"));
    json_t *probe = json_pack("{s:{s:o}}", "exec", "command", cmd);
    static const struct {
        const char *key, *k8s;
    } map[] = {{"interval", "periodSeconds"},
               {"timeout", "timeoutSeconds"},
               {"start_period", "initialDelaySeconds"},
               {NULL, NULL}};
    for (int i = 0; map[i].key; i++) {
        const json_t *v = json_object_get(hc, map[i].key);
        if (!v)
            continue;
        long s = cmp_duration_seconds(v);
        if (s < 0) {
            rc = ty_error_set(err, TY_EINVAL, "%s: invalid duration", W(b, hc, map[i].key));
            json_decref(probe);
            return rc;
        }
        json_object_set_new(probe, map[i].k8s, json_integer(s));
    }
    const json_t *retries = json_object_get(hc, "retries");
    if (retries) {
        if (!json_is_integer(retries) || json_integer_value(retries) < 1 ||
            json_integer_value(retries) > 1000) {
            json_decref(probe);
            return ty_error_set(err, TY_EINVAL, "%s: retries must be a positive number",
                                W(b, hc, "retries"));
        }
        json_object_set_new(probe, "failureThreshold", json_integer(json_integer_value(retries)));
    }
    *out = probe;
    return 0;
}

/* ------------------------------------------------------------ security */

/* A registry securityContext id: int, numeric string, "" or null (unset). */
static int sc_id(long *out, const json_t *sc, const char *key, const char *app,
                 struct ty_error *err)
{
    const json_t *v = json_object_get(sc, key);
    int64_t n;
    if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 2147483647) {
        *out = (long)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && !ty_str_to_i64(json_string_value(v), 0, 2147483647, &n)) {
        *out = (long)n;
        return 0;
    }
    return ty_error_set(err, TY_EINVAL, "registry:%s: securityContext.%s must be a number", app,
                        key);
}

static bool cap_is_baseline(const char *cap)
{
    static const char *const ok[] = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID",
                                     "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID",
                                     "SETPCAP", "SETUID", "SYS_CHROOT", NULL};
    if (ty_str_has_prefix(cap, "CAP_"))
        cap += 4;
    return ty_str_in(cap, ok);
}

static int read_security(struct build *b, struct cmp_container *c, const json_t *svc,
                         struct ty_error *err)
{
    const json_t *v = json_object_get(svc, "privileged");
    if (json_is_true(v)) {
        if (!b->pol->allow_privileged)
            return ty_error_set(err, TY_EFORBIDDEN,
                                "%s: privileged containers are not allowed by the server's "
                                "policy",
                                W(b, svc, "privileged"));
        c->privileged = true;
    }
    v = json_object_get(svc, "cap_add");
    if (v && json_is_array(v)) {
        size_t i;
        const json_t *it;
        c->cap_add = json_array();
        json_array_foreach(v, i, it)
        {
            if (!json_is_string(it))
                return ty_error_set(err, TY_EINVAL, "%s: capabilities are strings",
                                    WI(b, v, i));
            const char *cap = json_string_value(it);
            if (!cap_is_baseline(cap) && !b->pol->allow_privileged)
                return ty_error_set(err, TY_EFORBIDDEN,
                                    "%s: capability %s is not allowed by the server's policy",
                                    WI(b, v, i), cap);
            json_array_append_new(c->cap_add, json_string(ty_str_has_prefix(cap, "CAP_")
                                                              ? cap + 4 : cap));
        }
    }
    v = json_object_get(svc, "cap_drop");
    if (v && json_is_array(v)) {
        size_t i;
        const json_t *it;
        c->cap_drop = json_array();
        json_array_foreach(v, i, it)
        {
            if (json_is_string(it))
                json_array_append_new(c->cap_drop, json_string(json_string_value(it)));
        }
    }
    v = json_object_get(svc, "network_mode");
    if (json_is_string(v) && !strcmp(json_string_value(v), "host")) {
        if (!b->pol->allow_host_network)
            return ty_error_set(err, TY_EFORBIDDEN,
                                "%s: network_mode: host is not allowed by the server's policy",
                                W(b, svc, "network_mode"));
        b->sys->host_network = true;
    }
    v = json_object_get(svc, "user");
    if (v && !json_is_null(v)) {
        char *s = scalar_str(v);
        if (!s)
            return ty_error_set(err, TY_EINVAL, "%s: user must be uid[:gid]", W(b, svc, "user"));
        char *colon = strchr(s, ':');
        if (colon)
            *colon++ = '\0';
        int64_t n;
        if (!strcmp(s, "root"))
            c->uid = 0;
        else if (!ty_str_to_i64(s, 0, 2147483647, &n))
            c->uid = (long)n;
        /* A user name cannot be expressed in Kubernetes: the image's user applies. */
        if (colon && !ty_str_to_i64(colon, 0, 2147483647, &n))
            c->gid = (long)n;
        free(s);
    }
    return 0;
}

/* ------------------------------------------------------------ commands */

static int read_command(struct build *b, json_t **out, const json_t *svc, const char *key,
                        struct ty_error *err)
{
    const json_t *v = json_object_get(svc, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return cmp_shell_split(out, json_string_value(v), W(b, svc, key), err);
    if (!json_is_array(v))
        return ty_error_set(err, TY_EINVAL, "%s: %s must be a string or a list", W(b, svc, key),
                            key);
    json_t *arr = json_array();
    size_t i;
    const json_t *it;
    json_array_foreach(v, i, it)
    {
        char *s = scalar_str(it);
        if (!s) {
            json_decref(arr);
            return ty_error_set(err, TY_EINVAL, "%s: %s items must be strings", WI(b, v, i), key);
        }
        json_array_append_new(arr, json_string(s));
        free(s);
    }
    *out = arr;
    return 0;
}

/* ------------------------------------------------------------ rendering */

static int render_tree(struct build *b, json_t *node, struct ty_error *err)
{
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v)
        {
            if (json_is_string(v)) {
                const char *s = json_string_value(v);
                if (!strchr(s, '{') && !strchr(s, '$'))
                    continue;
                char *r = NULL;
                int rc = cmp_render(&r, s, &b->vars, true, W(b, node, k), err);
                if (rc)
                    return rc;
                json_string_set(v, r);
                free(r);
            } else if (json_is_object(v) || json_is_array(v)) {
                int rc = render_tree(b, v, err);
                if (rc)
                    return rc;
            }
        }
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v)
        {
            if (json_is_string(v)) {
                const char *s = json_string_value(v);
                if (!strchr(s, '{') && !strchr(s, '$'))
                    continue;
                char *r = NULL;
                int rc = cmp_render(&r, s, &b->vars, true, WI(b, node, i), err);
                if (rc)
                    return rc;
                json_string_set(v, r);
                free(r);
            } else if (json_is_object(v) || json_is_array(v)) {
                int rc = render_tree(b, v, err);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

/* Registry strings (probe paths) get placeholders only, never $-interpolation. */
static int render_registry(struct build *b, json_t *node, const char *path, struct ty_error *err)
{
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v)
        {
            char sub[512];
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            if (json_is_string(v)) {
                char *r = NULL;
                int rc = cmp_render(&r, json_string_value(v), &b->vars, false, sub, err);
                if (rc)
                    return rc;
                json_string_set(v, r);
                free(r);
            } else {
                int rc = render_registry(b, v, sub, err);
                if (rc)
                    return rc;
            }
        }
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v)
        {
            char sub[512];
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (json_is_string(v)) {
                char *r = NULL;
                int rc = cmp_render(&r, json_string_value(v), &b->vars, false, sub, err);
                if (rc)
                    return rc;
                json_string_set(v, r);
                free(r);
            } else {
                int rc = render_registry(b, v, sub, err);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

/* The first port of the main service, read before rendering (for {{ system_port }}). */
static int guess_system_port(struct build *b, const json_t *svc)
{
    const json_t *ports = json_object_get(svc, "ports");
    const json_t *first = json_is_array(ports) ? json_array_get(ports, 0) : NULL;
    if (!first) {
        ports = json_object_get(svc, "expose");
        first = json_is_array(ports) ? json_array_get(ports, 0) : NULL;
    }
    if (!first)
        return 0;
    json_t *copy = json_deep_copy(first);
    struct cmp_vars v = {NULL, b->dotenv};
    int port = 0;
    if (json_is_string(copy)) {
        char *r = NULL;
        struct ty_error e = TY_ERROR_INIT;
        if (!cmp_render(&r, json_string_value(copy), &v, true, "", &e))
            json_string_set(copy, r);
        free(r);
    }
    struct cmp_port p;
    struct ty_error e = TY_ERROR_INIT;
    if (json_is_object(copy)) {
        if (!parse_port_short(&p, json_object_get(copy, "target"), true, "", &e))
            port = p.container;
    } else if (!parse_port_short(&p, copy, false, "", &e)) {
        port = p.container;
    }
    json_decref(copy);
    return port;
}

static int registry_port(const json_t *v)
{
    int64_t n;
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 65535)
        return (int)json_integer_value(v);
    if (json_is_string(v) && !ty_str_to_i64(json_string_value(v), 1, 65535, &n))
        return (int)n;
    return 0;
}

static void tmpl_set_obj(json_t *tmpl, const json_t *obj)
{
    const char *k;
    const json_t *v;
    if (!json_is_object(obj))
        return;
    json_object_foreach((json_t *)obj, k, v)
    {
        char *s = scalar_str(v);
        if (s)
            json_object_set_new(tmpl, k, json_string(s));
        free(s);
    }
}

char *compose_user_dir(const char *u)
{
    bool ok = *u && strcmp(u, ".") && strcmp(u, "..") && strlen(u) <= 128;
    for (const char *p = u; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-' || *p == '@';
    return ok ? ty_xstrdup(u) : ty_slug_object(u, 0);
}

static int check_inputs(const struct compose_input *in, struct ty_error *err)
{
    if (!in->spec_text)
        return ty_error_set(err, TY_EINVAL, "compose: no spec given");
    if (!in->app_id || !*in->app_id)
        return ty_error_set(err, TY_EINVAL, "compose: no app id given");
    if (!in->username || !*in->username)
        return ty_error_set(err, TY_EINVAL, "compose: no username given");
    if (strlen(in->username) > 256)
        return ty_error_set(err, TY_EINVAL, "compose: username longer than 256 bytes");
    if (!in->guid || !*in->guid || strlen(in->guid) > 32)
        return ty_error_set(err, TY_EINVAL, "compose: the launch id must be 1-32 characters");
    for (const char *p = in->guid; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')))
            return ty_error_set(err, TY_EINVAL,
                                "compose: the launch id '%s' must be lowercase letters and digits",
                                in->guid);
    /* Everything below ends up in JSON strings: valid UTF-8 only, and no
     * control characters in the names that reach labels, paths and headers. */
    const char *texts[][2] = {{"username", in->username}, {"app id", in->app_id},
                              {"access token", in->access_token}, {"host", in->host},
                              {"namespace", in->namespace}};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        const char *t = texts[i][1];
        if (!t)
            continue;
        json_t *probe = json_string(t);
        if (!probe)
            return ty_error_set(err, TY_EINVAL, "compose: the %s is not valid UTF-8", texts[i][0]);
        json_decref(probe);
        for (const unsigned char *c = (const unsigned char *)t; *c; c++)
            if (*c < 0x20 || *c == 0x7f)
                return ty_error_set(err, TY_EINVAL, "compose: the %s contains a control character",
                                    texts[i][0]);
    }
    if (in->namespace && *in->namespace && !ty_is_dns1123_label(in->namespace))
        return ty_error_set(err, TY_EINVAL, "compose: namespace '%s' is not a DNS label",
                            in->namespace);
    if (in->app && !json_is_object(in->app))
        return ty_error_set(err, TY_EINVAL, "compose: the registry entry must be an object");
    int rc = check_override(&in->limits, "limit", err);
    if (!rc)
        rc = check_override(&in->requests, "request", err);
    return rc;
}

static int read_registry(struct build *b, struct ty_error *err)
{
    const json_t *app = b->in->app;
    struct compose_system *sys = b->sys;
    const char *id = sys->app_id;
    if (!app)
        return 0;
    const json_t *v = json_object_get(app, "serviceAccount");
    if (json_is_string(v) && *json_string_value(v)) {
        if (!ty_is_dns1123_subdomain(json_string_value(v)))
            return ty_error_set(err, TY_EINVAL, "registry:%s: serviceAccount '%s' is not a valid "
                                                "name", id, json_string_value(v));
        sys->service_account = ty_xstrdup(json_string_value(v));
    }
    v = json_object_get(app, "conn_string");
    if (v && !json_is_null(v)) {
        char *s = scalar_str(v);
        if (s && *s)
            sys->conn_string = s;
        else
            free(s);
    }
    v = json_object_get(app, "gitea-integration");
    sys->gitea = json_is_true(v) || (json_is_string(v) && !strcasecmp(json_string_value(v), "true"));
    /* proxy-rewrite {enabled, target} wins over proxy-rewrite-rule. */
    const json_t *pr = json_object_get(app, "proxy-rewrite");
    const json_t *rule = json_object_get(app, "proxy-rewrite-rule");
    if (json_is_object(pr) && json_is_true(json_object_get(pr, "enabled"))) {
        const json_t *t = json_object_get(pr, "target");
        if (json_is_string(t) && *json_string_value(t)) {
            sys->rewrite = ty_xstrdup(json_string_value(t));
            sys->rewrite_header = true;
        } else {
            sys->rewrite = ty_xasprintf("%s%s", sys->url_path,
                                        sys->conn_string ? sys->conn_string : "");
        }
    } else if (json_is_true(rule)) {
        sys->rewrite = ty_xasprintf("%s%s", sys->url_path, sys->conn_string ? sys->conn_string : "");
    }
    const json_t *sc = json_object_get(app, "securityContext");
    if (sc && !json_is_null(sc)) {
        if (!json_is_object(sc))
            return ty_error_set(err, TY_EINVAL, "registry:%s: securityContext must be a mapping",
                                id);
        int rc = sc_id(&sys->run_as_user, sc, "runAsUser", id, err);
        if (!rc)
            rc = sc_id(&sys->run_as_group, sc, "runAsGroup", id, err);
        if (!rc)
            rc = sc_id(&sys->fs_group, sc, "fsGroup", id, err);
        if (!rc)
            rc = sc_id(&sys->init_uid, sc, "initRunAsUser", id, err);
        if (!rc)
            rc = sc_id(&sys->init_gid, sc, "initRunAsGroup", id, err);
        if (rc)
            return rc;
    }
    if (sys->run_as_user == 0 && !b->pol->allow_root)
        return ty_error_set(err, TY_EFORBIDDEN,
                            "registry:%s: securityContext.runAsUser 0 (root) is not allowed by "
                            "the server's policy",
                            id);
    const json_t *svcs = json_object_get(app, "services");
    if (svcs && !json_is_object(svcs) && !json_is_null(svcs))
        return ty_error_set(err, TY_EINVAL, "registry:%s: services must be a mapping", id);
    return 0;
}

/* The container the proxy and the registry's probes target. */
static const char *pick_main(const struct compose_input *in, const json_t *services)
{
    if (json_object_get(services, in->app_id))
        return in->app_id;
    const json_t *rs = in->app ? json_object_get(in->app, "services") : NULL;
    const char *k;
    const json_t *v;
    if (json_is_object(rs))
        json_object_foreach((json_t *)rs, k, v)
        {
            if (json_object_get(services, k))
                return k;
        }
    json_object_foreach((json_t *)services, k, v)
    {
        return k;
    }
    return NULL;
}

static int build_container(struct build *b, struct cmp_container *c, const char *key,
                           const json_t *svc, const json_t *top_vols, struct ty_error *err)
{
    int rc;
    memset(c, 0, sizeof(*c));
    c->uid = c->gid = -1;
    c->limits.gpus = c->requests.gpus = -1;
    c->name = ty_slug_object(key, COMPOSE_NAME_MAX);
    if (!json_is_object(svc))
        return ty_error_set(err, TY_EINVAL, "%s: service '%s' must be a mapping",
                            WK(b, json_object_get(doc_root(b->doc), "services"), key), key);
    const json_t *img = json_object_get(svc, "image");
    if (!json_is_string(img) || !*json_string_value(img))
        return ty_error_set(err, TY_EINVAL, "%s: service '%s' has no image",
                            WK(b, json_object_get(doc_root(b->doc), "services"), key), key);
    c->image = ty_xstrdup(json_string_value(img));
    for (const char *p = c->image; *p; p++)
        if (isspace((unsigned char)*p))
            return ty_error_set(err, TY_EINVAL, "%s: invalid image '%s'", W(b, svc, "image"),
                                c->image);
    if ((rc = read_command(b, &c->command, svc, "entrypoint", err)) ||
        (rc = read_command(b, &c->args, svc, "command", err)) ||
        (rc = read_env_file(b, c, svc, err)) ||
        (rc = read_environment(b, c, svc, json_object_get(svc, "environment") ? "environment"
                                                                              : "env", err)) ||
        (rc = read_ports(b, c, svc, false, err)) || (rc = read_ports(b, c, svc, true, err)) ||
        (rc = read_volumes(b, c, svc, top_vols, err)) || (rc = read_security(b, c, svc, err)))
        return rc;
    if (json_object_get(svc, "environment") && json_object_get(svc, "env") &&
        (rc = read_environment(b, c, svc, "env", err)))
        return rc;
    const json_t *wd = json_object_get(svc, "working_dir");
    if (json_is_string(wd) && *json_string_value(wd)) {
        if (json_string_value(wd)[0] != '/')
            return ty_error_set(err, TY_EINVAL, "%s: working_dir must be absolute",
                                W(b, svc, "working_dir"));
        c->working_dir = ty_xstrdup(json_string_value(wd));
    }
    c->tty = json_is_true(json_object_get(svc, "tty"));
    c->stdin_open = json_is_true(json_object_get(svc, "stdin_open"));
    const json_t *deploy = json_object_get(svc, "deploy");
    if (deploy && !json_is_null(deploy)) {
        if (!json_is_object(deploy))
            return ty_error_set(err, TY_EINVAL, "%s: deploy must be a mapping",
                                W(b, svc, "deploy"));
        const json_t *res = json_object_get(deploy, "resources");
        if (res && !json_is_null(res)) {
            if (!json_is_object(res))
                return ty_error_set(err, TY_EINVAL, "%s: resources must be a mapping",
                                    W(b, deploy, "resources"));
            if ((rc = read_res(b, &c->limits, json_object_get(res, "limits"), "limits", err)) ||
                (rc = read_res(b, &c->requests, json_object_get(res, "reservations"),
                               "reservations", err)))
                return rc;
        }
    }
    const json_t *hc = json_object_get(svc, "healthcheck");
    if (hc && !json_is_null(hc) && (rc = healthcheck_probe(&c->readiness, b, hc, err)))
        return rc;
    return 0;
}

/* The home volume: on a shared claim the shared folder and the user's own
 * (subPaths), on a per-user claim the whole claim as the user's folder; a
 * mount the spec already makes at the same path wins. */
static void add_home_mounts(struct build *b)
{
    const struct compose_policy *pol = b->pol;
    struct compose_system *sys = b->sys;
    sys->home_claim = compose_home_claim(pol, sys->username);
    if (!sys->home_claim)
        return;
    bool per_user = strstr(pol->home_claim, "{username}") != NULL;
    sys->home_sub = per_user ? NULL : compose_home_subpath(pol, sys->username);
    sys->home_create = per_user && pol->home_create;
    size_t vi = (size_t)-1;
    for (size_t i = 0; i < sys->ncontainers; i++) {
        struct cmp_container *c = &sys->containers[i];
        const char *dirs[2] = {per_user ? NULL : pol->home_shared, sys->user_path};
        const char *subs[2] = {pol->home_shared, sys->home_sub};
        for (int k = 0; k < 2; k++) {
            if (!dirs[k] || !*dirs[k])
                continue;
            char *path = ty_xasprintf("%s/%s", pol->home_parent, dirs[k]);
            bool taken = false;
            for (size_t m = 0; m < c->nmounts; m++)
                taken = taken || !strcmp(c->mounts[m].path, path);
            if (!taken) {
                if (vi == (size_t)-1)
                    vi = volume_add(sys, VOL_PVC, sys->home_claim, sys->home_create);
                struct cmp_mount mt = {ty_xstrdup(sys->volumes[vi].name), path,
                                       subs[k] ? ty_xstrdup(subs[k]) : NULL, false};
                PUSH(c->mounts, c->nmounts, mt);
            } else {
                free(path);
            }
        }
    }
}

static void add_builtin_env(struct build *b)
{
    struct compose_system *sys = b->sys;
    const struct compose_input *in = b->in;
    char port[16];
    char *prefix = ty_xstrndup(sys->url_path, strlen(sys->url_path) - 1);
    snprintf(port, sizeof(port), "%d", sys->system_port);
    const json_t *renv = in->app ? json_object_get(in->app, "env") : NULL;
    for (size_t i = 0; i < sys->ncontainers; i++) {
        struct cmp_container *c = &sys->containers[i];
        env_set_obj(c, b->dotenv);
        if (json_is_object(renv))
            env_set_obj(c, renv);
        env_set(c, "identifier", sys->guid);
        env_set(c, "username", sys->username);
        env_set(c, "system_name", sys->app_id);
        if (sys->system_port)
            env_set(c, "system_port", port);
        env_set(c, "GUID", sys->guid);
        env_set(c, "USER_NAME", sys->username);
        env_set(c, "USER", sys->username);
        /* Behind a proxy that keeps the path (Ambassador, an Ingress) the app
         * serves under its prefix. */
        bool routed = b->pol->ambassador || b->pol->ingress_object;
        env_set(c, "NB_PREFIX", routed ? prefix : "/");
        env_set(c, "FB_BASEURL", routed ? prefix : "/");
        env_set(c, "HOST", sys->host);
        if (in->access_token) {
            env_set(c, "access_token", in->access_token);
            env_set(c, "ACCESS_TOKEN", in->access_token);
        }
        env_set(c, "host", sys->host);
        /* Sensitive values move to the launch Secret. */
        for (size_t e = 0; e < c->nenv; e++) {
            struct cmp_env *ev = &c->env[e];
            if (!is_sensitive(ev->name))
                continue;
            bool key_ok = true;
            for (const char *p = ev->name; *p && key_ok; p++)
                key_ok = isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.';
            if (!key_ok)
                continue;
            ev->secret = true;
        }
    }
    free(prefix);
}

static int setup_names(struct build *b, struct ty_error *err)
{
    struct compose_system *sys = b->sys;
    const struct compose_input *in = b->in;
    sys->app_id = ty_xstrdup(in->app_id);
    sys->app_slug = ty_slug_object(in->app_id, COMPOSE_NAME_MAX);
    sys->app_label = ty_slug_label(in->app_id);
    sys->guid = ty_xstrdup(in->guid);
    sys->name = compose_system_name(in->app_id, in->guid);
    sys->username = ty_xstrdup(in->username);
    sys->user_label = ty_slug_label(in->username);
    sys->user_object = ty_slug_object(in->username, 0);
    sys->user_path = compose_user_dir(in->username);
    sys->url_path = compose_url_path(in->app_id, in->username, in->guid);
    sys->host = ty_xstrdup(in->host ? in->host : "");
    sys->secret_name = ty_xasprintf("%s-secret", sys->name);
    sys->secret_data = json_object();
    sys->services = json_object();
    sys->named_volumes = json_object();
    sys->run_as_user = sys->run_as_group = sys->fs_group = -1;
    sys->init_uid = b->pol->init_uid;
    sys->init_gid = b->pol->init_gid;
    (void)err;
    return 0;
}

int compose_system_build(struct compose_system **out, const struct compose_input *in,
                         const struct compose_policy *pol, struct ty_error *err)
{
    struct build b;
    int rc;
    json_t *ext = NULL;
    *out = NULL;
    memset(&b, 0, sizeof(b));
    if ((rc = check_inputs(in, err)))
        return rc;
    b.in = in;
    b.pol = pol;
    b.sys = ty_xcalloc(1, sizeof(*b.sys));
    b.dotenv = json_object();
    b.tmpl = json_object();
    setup_names(&b, err);

    const char *spec_name = in->spec_name ? in->spec_name : "docker-compose.yaml";
    if (in->env_text && (rc = cmp_dotenv_parse(b.dotenv, in->env_text, in->env_len,
                                               in->env_name ? in->env_name : ".env", err)))
        goto out;
    struct doc_limits lim = {SPEC_MAX_BYTES, SPEC_MAX_DEPTH, SPEC_MAX_NODES, true};
    if ((rc = doc_parse(&b.doc, spec_name, in->spec_text, in->spec_len, &lim, err))) {
        if (rc == TY_ELIMIT && !strstr(err->msg, spec_name))
            ty_error_wrap(err, "%s:1:1: ", spec_name);
        goto out;
    }
    json_t *root = doc_root(b.doc);
    if (!json_is_object(root)) {
        rc = ty_error_set(err, TY_EINVAL, "%s:1:1: a compose file must be a mapping", spec_name);
        goto out;
    }
    json_t *services = json_object_get(root, "services");
    if (!json_is_object(services) || !json_object_size(services)) {
        rc = ty_error_set(err, TY_EINVAL, "%s: a compose file needs a services mapping",
                          W(&b, root, json_object_get(root, "services") ? "services" : NULL));
        goto out;
    }
    if (json_object_size(services) > MAX_SERVICES) {
        rc = ty_error_set(err, TY_ELIMIT, "%s: more than %d services", W(&b, root, "services"),
                          MAX_SERVICES);
        goto out;
    }
    if ((rc = read_registry(&b, err)))
        goto out;

    /* system_name / system_port, then the template variables. */
    const char *main_key = pick_main(in, services);
    const json_t *rsvcs = in->app ? json_object_get(in->app, "services") : NULL;
    /* The spec's own port first: registries carry stale ports (filebrowser
     * lists 8888 while its spec serves 8080), and Tycho's Services use the spec's. */
    b.sys->system_port = guess_system_port(&b, json_object_get(services, main_key));
    if (!b.sys->system_port)
        b.sys->system_port = registry_port(json_object_get(rsvcs, main_key));
    tmpl_set_obj(b.tmpl, in->settings);
    tmpl_set_obj(b.tmpl, b.dotenv);
    if (in->app)
        tmpl_set_obj(b.tmpl, json_object_get(in->app, "env"));
    json_object_set_new(b.tmpl, "username", json_string(in->username));
    json_object_set_new(b.tmpl, "identifier", json_string(in->guid));
    json_object_set_new(b.tmpl, "system_name", json_string(in->app_id));
    json_object_set_new(b.tmpl, "app_id", json_string(in->app_id));
    if (b.sys->system_port)
        json_object_set_new(b.tmpl, "system_port", json_sprintf("%d", b.sys->system_port));
    b.vars.tmpl = b.tmpl;
    b.vars.env = b.dotenv;
    if ((rc = render_tree(&b, root, err)))
        goto out;

    const json_t *top_vols = json_object_get(root, "volumes");
    const char *key;
    json_t *svc;
    json_object_foreach(services, key, svc)
    {
        struct cmp_container c;
        rc = build_container(&b, &c, key, svc, top_vols, err);
        for (size_t i = 0; !rc && i < b.sys->ncontainers; i++)
            if (!strcmp(b.sys->containers[i].name, c.name))
                rc = ty_error_set(err, TY_EINVAL, "%s: two services map to the container name "
                                                  "'%s'", W(&b, services, key), c.name);
        if (rc) {
            container_free(&c);
            goto out;
        }
        if (!strcmp(key, main_key))
            b.sys->main = b.sys->ncontainers;
        PUSH(b.sys->containers, b.sys->ncontainers, c);
    }
    struct cmp_container *mc = &b.sys->containers[b.sys->main];

    /* Services: the registry's list, else every container with published ports. */
    if (json_is_object(rsvcs) && json_object_size(rsvcs)) {
        const json_t *pv;
        json_object_foreach((json_t *)rsvcs, key, pv)
        {
            const json_t *svc_node = json_object_get(services, key);
            if (!svc_node) {
                rc = ty_error_set(err, TY_EINVAL,
                                  "registry:%s: services lists '%s', which %s does not define",
                                  in->app_id, key, spec_name);
                goto out;
            }
            int port = registry_port(pv);
            if (!port && pv && !json_is_null(pv)) {
                rc = ty_error_set(err, TY_EINVAL, "registry:%s: services.%s: invalid port",
                                  in->app_id, key);
                goto out;
            }
            char *cname = ty_slug_object(key, COMPOSE_NAME_MAX);
            json_object_set_new(b.sys->services, cname, json_integer(port));
            free(cname);
        }
    } else {
        for (size_t i = 0; i < b.sys->ncontainers; i++)
            for (size_t p = 0; p < b.sys->containers[i].nports; p++)
                if (b.sys->containers[i].ports[p].published) {
                    json_object_set_new(b.sys->services, b.sys->containers[i].name,
                                        json_integer(0));
                    break;
                }
    }

    /* The registry's probes (ext.kube) go to the main container and win over
     * a compose healthcheck. */
    const json_t *kube = in->app ? json_object_get(json_object_get(in->app, "ext"), "kube") : NULL;
    if (json_is_object(kube)) {
        char path[256];
        ext = json_deep_copy(kube);
        snprintf(path, sizeof(path), "registry:%s: ext.kube", in->app_id);
        if ((rc = render_registry(&b, ext, path, err)))
            goto out;
        static const char *const probes[] = {"livenessProbe", "readinessProbe", NULL};
        for (int i = 0; probes[i]; i++) {
            const json_t *p = json_object_get(ext, probes[i]);
            if (!p)
                continue;
            json_t *probe = NULL;
            snprintf(path, sizeof(path), "registry:%s: ext.kube.%s", in->app_id, probes[i]);
            if ((rc = registry_probe(&probe, &b, p, path, err)))
                goto out;
            json_t **slot = i == 0 ? &mc->liveness : &mc->readiness;
            json_decref(*slot);
            *slot = probe;
        }
    }

    add_home_mounts(&b);
    if (b.sys->gitea) {
        char *secret = ty_xasprintf("%s-id-gitea", b.sys->user_object);
        size_t vi = volume_add(b.sys, VOL_SECRET, secret, false);
        b.sys->volumes[vi].mode = 0600;
        char *path = ty_xasprintf("%s/%s/.ssh/id_gitea", pol->home_parent, b.sys->user_path);
        struct cmp_mount mt = {ty_xstrdup(b.sys->volumes[vi].name), path, ty_xstrdup("id_gitea"),
                               true};
        PUSH(mc->mounts, mc->nmounts, mt);
        free(secret);
    }
    add_builtin_env(&b);
    for (size_t i = 0; i < b.sys->ncontainers; i++) {
        struct cmp_container *c = &b.sys->containers[i];
        /* The launch's resource request sizes the app's own container, as in
         * Tycho, where it replaces that service's deploy section. */
        if (i == b.sys->main) {
            res_override(&c->limits, &in->limits);
            res_override(&c->requests, &in->requests);
        }
        /* Extended resources (GPUs) need limits, and requests equal to them. */
        long g = c->limits.gpus > 0 ? c->limits.gpus : c->requests.gpus;
        c->limits.gpus = c->requests.gpus = g > 0 ? g : -1;
        if (c->uid == 0 && b.sys->run_as_user < 0 && !pol->allow_root) {
            rc = ty_error_set(err, TY_EFORBIDDEN, "%s: user root is not allowed by the server's "
                                                  "policy", spec_name);
            goto out;
        }
    }
    *out = b.sys;
    b.sys = NULL;
out:
    json_decref(ext);
    compose_system_free(b.sys);
    doc_free(b.doc);
    json_decref(b.dotenv);
    json_decref(b.tmpl);
    return rc;
}
