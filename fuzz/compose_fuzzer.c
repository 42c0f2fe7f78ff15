/*
 * compose_fuzzer.c - the compose compiler (src/compose/) on any spec, .env,
 * registry entry, settings, policy and launch parameters.
 *
 * Input parts (fuzz.h), each optional but the first:
 *   0  the docker-compose spec
 *   1  the .env text beside it
 *   2  the app's registry entry (YAML or JSON)
 *   3  the registry settings (YAML or JSON)
 *   4  the server's compose policy (YAML or JSON, compose_policy_from_json)
 *   5  one launch parameter per line: app id, username, guid, access token,
 *      host, namespace, cpu, memory, gpus
 *   6  what every env_file the spec names holds
 *
 * A compile must give a List or fail with a message.  Beyond crashes the
 * target checks what Kubernetes would refuse: every object name, container
 * name and label of a compiled List must be valid (checked here by rules
 * written from the Kubernetes documentation, independently of the code under
 * test), and the raw username must be kept in the username annotation.
 */
#include "compose/compose.h"
#include "doc/doc.h"
#include "fuzz.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char default_guid[] = "0123456789abcdef0123456789abcdef";

/* ---- Kubernetes naming rules ---------------------------------------------- */

static bool alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool alnum(char c)
{
    return isalnum((unsigned char)c) != 0;
}

/* Characters of RFC 1123 names: [a-z0-9-], starting and ending alphanumeric. */
static bool dns_chars(const char *s, size_t n)
{
    if (n < 1 || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!alnum_lower(s[i]) && s[i] != '-')
            return false;
    return true;
}

/* RFC 1123 label (Service names, container names): at most 63 bytes. */
static bool dns_label(const char *s, size_t n)
{
    return n <= 63 && dns_chars(s, n);
}

/* RFC 1123 subdomain as Kubernetes checks it (most object names): at most 253
 * bytes of such names joined by '.'; the parts are not held to 63. */
static bool dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 253)
        return false;
    for (const char *p = s;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (!dns_chars(p, l))
            return false;
        if (!dot)
            return true;
        p = dot + 1;
    }
}

/* A label value or the name part of a key: at most 63 of [A-Za-z0-9-_.],
 * starting and ending alphanumeric (values may be empty). */
static bool label_name(const char *s, size_t n, bool may_be_empty)
{
    if (n == 0)
        return may_be_empty;
    if (n > 63 || !alnum(s[0]) || !alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

static void check_labels(const json_t *labels, const char *where)
{
    const char *k;
    json_t *v;
    if (!labels)
        return;
    if (!json_is_object(labels))
        fuzz_fail("%s: labels are not a mapping", where);
    json_object_foreach((json_t *)labels, k, v)
    {
        const char *slash = strchr(k, '/');
        const char *name = slash ? slash + 1 : k;
        if (slash) {
            char prefix[256];
            size_t pl = (size_t)(slash - k);
            if (pl >= sizeof(prefix))
                fuzz_fail("%s: label key '%s' has a prefix over 253 bytes", where, k);
            memcpy(prefix, k, pl);
            prefix[pl] = '\0';
            if (!dns_subdomain(prefix))
                fuzz_fail("%s: label key '%s' has an invalid prefix", where, k);
        }
        if (!label_name(name, strlen(name), false))
            fuzz_fail("%s: invalid label key '%s'", where, k);
        if (!json_is_string(v))
            fuzz_fail("%s: label '%s' is not a string", where, k);
        const char *s = json_string_value(v);
        if (!label_name(s, strlen(s), true))
            fuzz_fail("%s: label %s has the invalid value '%s'", where, k, s);
    }
}

static void check_containers(const json_t *list, const char *where)
{
    size_t i;
    json_t *c;
    json_array_foreach((json_t *)list, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        if (!name || !dns_label(name, strlen(name)))
            fuzz_fail("%s: container %zu has the invalid name '%s'", where, i,
                      name ? name : "(none)");
    }
}

static void check_list(const json_t *list, const char *username)
{
    json_t *items = json_object_get(list, "items");
    size_t i;
    json_t *obj;
    if (!json_is_array(items) || json_array_size(items) == 0)
        fuzz_fail("the compiled List has no items");
    json_array_foreach(items, i, obj)
    {
        const char *kind = json_string_value(json_object_get(obj, "kind"));
        json_t *md = json_object_get(obj, "metadata");
        const char *name = json_string_value(json_object_get(md, "name"));
        char where[128];
        snprintf(where, sizeof(where), "item %zu (%s)", i, kind ? kind : "no kind");
        if (!kind || !name)
            fuzz_fail("%s: no kind or metadata.name", where);
        if (!strcmp(kind, "Service") ? !dns_label(name, strlen(name)) || !isalpha(name[0])
                                     : !dns_subdomain(name))
            fuzz_fail("%s: invalid name '%s'", where, name);
        check_labels(json_object_get(md, "labels"), where);
        const char *u = json_string_value(
            json_object_get(json_object_get(md, "annotations"), COMPOSE_ANNOTATION_USERNAME));
        if (!u || strcmp(u, username) != 0)
            fuzz_fail("%s: the username annotation is '%s', not '%s'", where, u ? u : "(none)",
                      username);
        if (!strcmp(kind, "Deployment")) {
            json_t *tmpl = json_object_get(json_object_get(obj, "spec"), "template");
            json_t *pod = json_object_get(tmpl, "spec");
            check_labels(json_object_get(json_object_get(tmpl, "metadata"), "labels"), where);
            check_containers(json_object_get(pod, "containers"), where);
            check_containers(json_object_get(pod, "initContainers"), where);
        }
    }
}

/* ---- the target ------------------------------------------------------------ */

static int read_env_file(struct ty_buf *out, const char *name, void *payload, struct ty_error *err)
{
    const struct fuzz_parts *p = payload;
    (void)name;
    if (!p->part[6])
        return ty_error_set(err, TY_ENOTFOUND, "%s: no such file", name);
    ty_buf_append(out, p->part[6], p->len[6]);
    return 0;
}

/* Parses part i as YAML into a new reference, or NULL when absent or bad. */
static json_t *part_json(const struct fuzz_parts *p, int i)
{
    struct doc *d = NULL;
    json_t *v = NULL;
    if (!p->part[i] || doc_parse(&d, "part", p->part[i], p->len[i], NULL, NULL) < 0)
        return NULL;
    v = json_incref(doc_root(d));
    doc_free(d);
    return v;
}

static bool is_guid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n]) || isupper((unsigned char)s[n]))
            return false;
    return n == 32;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_parts p;
    struct compose_input in;
    struct compose_policy pol;
    struct ty_error err = TY_ERROR_INIT;
    json_t *app = NULL, *settings = NULL, *poljson = NULL, *list = NULL;
    char app_id[128], user[300], guid[64], token[128], host[128], ns[128], cpu[32], mem[32],
        gpus[16];
    size_t pos = 0;
    bool pol_ok = true;

    fuzz_parts_split(&p, data, size);
    app = part_json(&p, 2);
    settings = part_json(&p, 3);
    compose_policy_init(&pol);
    poljson = part_json(&p, 4);
    if (poljson && compose_policy_from_json(&pol, poljson, &err) < 0) {
        if (!err.msg[0])
            fuzz_fail("compose_policy_from_json failed without a message");
        pol_ok = false;
    }
    fuzz_line(app_id, sizeof(app_id), p.part[5], p.len[5], &pos);
    fuzz_line(user, sizeof(user), p.part[5], p.len[5], &pos);
    fuzz_line(guid, sizeof(guid), p.part[5], p.len[5], &pos);
    fuzz_line(token, sizeof(token), p.part[5], p.len[5], &pos);
    fuzz_line(host, sizeof(host), p.part[5], p.len[5], &pos);
    fuzz_line(ns, sizeof(ns), p.part[5], p.len[5], &pos);
    fuzz_line(cpu, sizeof(cpu), p.part[5], p.len[5], &pos);
    fuzz_line(mem, sizeof(mem), p.part[5], p.len[5], &pos);
    fuzz_line(gpus, sizeof(gpus), p.part[5], p.len[5], &pos);

    memset(&in, 0, sizeof(in));
    in.spec_text = p.part[0];
    in.spec_len = p.len[0];
    in.spec_name = "docker-compose.yaml";
    in.env_text = p.part[1];
    in.env_len = p.len[1];
    in.env_name = ".env";
    in.read_file = read_env_file;
    in.read_payload = &p;
    in.app = app;
    in.settings = settings;
    in.app_id = app_id[0] ? app_id : "app";
    in.username = user[0] ? user : "alice";
    /* The callers check the guid (session.c makes it); the others are free. */
    in.guid = is_guid(guid) ? guid : default_guid;
    in.access_token = token[0] ? token : NULL;
    in.host = host[0] ? host : NULL;
    in.namespace = ns[0] ? ns : NULL;
    in.limits = (struct compose_resources)COMPOSE_RESOURCES_NONE;
    in.requests = (struct compose_resources)COMPOSE_RESOURCES_NONE;
    if (cpu[0])
        in.limits.cpu = in.requests.cpu = cpu;
    if (mem[0])
        in.limits.memory = in.requests.memory = mem;
    if (gpus[0])
        in.limits.gpus = in.requests.gpus = atol(gpus);
    in.policy = pol_ok ? &pol : NULL;

    int rc = compose_compile(&list, &in, &err);
    if (rc < 0) {
        if (list)
            fuzz_fail("compose_compile failed (%d) but set *list_out", rc);
        if (!err.msg[0])
            fuzz_fail("compose_compile failed (%d) without a message", rc);
    } else {
        check_list(list, in.username);
    }

    char *s = compose_system_name(in.app_id, in.guid);
    if (!dns_label(s, strlen(s)))
        fuzz_fail("compose_system_name('%s') = '%s' is not a DNS label", in.app_id, s);
    free(s);
    s = compose_user_selector(in.username);
    free(s);
    s = compose_url_path(in.app_id, in.username, in.guid);
    free(s);

    json_decref(list);
    json_decref(app);
    json_decref(settings);
    json_decref(poljson);
    compose_policy_cleanup(&pol);
    fuzz_parts_cleanup(&p);
    return 0;
}
