/*
 * kube_util.c - the pure parts of the Kubernetes client: the table of kinds
 * and their REST paths, query-string encoding, base64 (kubeconfig *-data
 * fields), the retry backoff, the mapping of Kubernetes Status replies to
 * ty_code values, and the splitter that cuts a watch stream into lines.
 *
 * Nothing here does I/O, so each piece is unit-tested on its own
 * (tests/unit/kube/test_pure.c); kube_http.c and kube_watch.c compose them.
 */
#include "kube/kube_int.h"

#include "util/mem.h"
#include "util/str.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct kind_info {
    const char *kind;
    const char *resource;
    const char *singular;
    const char *group; /* "" = core */
    const char *version;
};

static const struct kind_info kinds[KUBE_KIND_COUNT] = {
    [KUBE_DEPLOYMENT] = {"Deployment", "deployments", "deployment", "apps", "v1"},
    [KUBE_REPLICASET] = {"ReplicaSet", "replicasets", "replicaset", "apps", "v1"},
    [KUBE_POD] = {"Pod", "pods", "pod", "", "v1"},
    [KUBE_SERVICE] = {"Service", "services", "service", "", "v1"},
    [KUBE_PVC] = {"PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", "",
                  "v1"},
    [KUBE_NETWORKPOLICY] = {"NetworkPolicy", "networkpolicies", "networkpolicy",
                            "networking.k8s.io", "v1"},
    [KUBE_SECRET] = {"Secret", "secrets", "secret", "", "v1"},
    [KUBE_CONFIGMAP] = {"ConfigMap", "configmaps", "configmap", "", "v1"},
    [KUBE_EVENT] = {"Event", "events", "event", "", "v1"},
    [KUBE_INGRESS] = {"Ingress", "ingresses", "ingress", "networking.k8s.io", "v1"},
};

static const char *const api_versions[KUBE_KIND_COUNT] = {
    [KUBE_DEPLOYMENT] = "apps/v1",
    [KUBE_REPLICASET] = "apps/v1",
    [KUBE_POD] = "v1",
    [KUBE_SERVICE] = "v1",
    [KUBE_PVC] = "v1",
    [KUBE_NETWORKPOLICY] = "networking.k8s.io/v1",
    [KUBE_SECRET] = "v1",
    [KUBE_CONFIGMAP] = "v1",
    [KUBE_EVENT] = "v1",
    [KUBE_INGRESS] = "networking.k8s.io/v1",
};

static bool kind_ok(enum kube_kind kind)
{
    return (int)kind >= 0 && kind < KUBE_KIND_COUNT;
}

const char *kube_kind_name(enum kube_kind kind)
{
    return kind_ok(kind) ? kinds[kind].kind : "?";
}

const char *kube_kind_resource(enum kube_kind kind)
{
    return kind_ok(kind) ? kinds[kind].resource : "?";
}

const char *kube_kind_api_version(enum kube_kind kind)
{
    return kind_ok(kind) ? api_versions[kind] : "?";
}

int kube_kind_parse(enum kube_kind *out, const char *name, struct ty_error *err)
{
    *out = KUBE_KIND_COUNT;
    for (int i = 0; name && i < KUBE_KIND_COUNT; i++) {
        if (strcasecmp(name, kinds[i].kind) == 0 || strcasecmp(name, kinds[i].resource) == 0 ||
            strcasecmp(name, kinds[i].singular) == 0) {
            *out = (enum kube_kind)i;
            return 0;
        }
    }
    if (name && (strcasecmp(name, "pvc") == 0 || strcasecmp(name, "pvcs") == 0)) {
        *out = KUBE_PVC;
        return 0;
    }
    return ty_error_set(err, TY_EINVAL, "kube: unknown kind '%s'", name ? name : "(null)");
}

void kube_url_escape(struct ty_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            ty_buf_putc(b, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            ty_buf_append(b, e, 3);
        }
    }
}

void kube_path_build(struct ty_buf *b, enum kube_kind kind, const char *ns, const char *name)
{
    const struct kind_info *k = &kinds[kind_ok(kind) ? kind : KUBE_POD];
    if (k->group[0])
        ty_buf_printf(b, "/apis/%s/%s", k->group, k->version);
    else
        ty_buf_printf(b, "/api/%s", k->version);
    if (ns && ns[0]) {
        ty_buf_puts(b, "/namespaces/");
        kube_url_escape(b, ns);
    }
    ty_buf_putc(b, '/');
    ty_buf_puts(b, k->resource);
    if (name) {
        ty_buf_putc(b, '/');
        kube_url_escape(b, name);
    }
}

void kube_query_add(struct ty_buf *b, const char *key, const char *value)
{
    if (!value)
        return;
    ty_buf_putc(b, b->data && strchr(b->data, '?') ? '&' : '?');
    kube_url_escape(b, key);
    ty_buf_putc(b, '=');
    kube_url_escape(b, value);
}

static int b64_value(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

int kube_base64_decode(char **out, size_t *len_out, const char *in, struct ty_error *err)
{
    size_t n = strlen(in), o = 0;
    char *res = ty_xmalloc(n / 4 * 3 + 4);
    uint32_t acc = 0;
    int bits = 0, pad = 0;

    *out = NULL;
    if (len_out)
        *len_out = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        int v;
        if (isspace(ch))
            continue;
        if (ch == '=') {
            pad++;
            continue;
        }
        v = b64_value(ch);
        if (v < 0 || pad) {
            free(res);
            return ty_error_set(err, TY_EINVAL, "invalid base64 at offset %zu", i);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            res[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (bits >= 6 || pad > 2) {
        free(res);
        return ty_error_set(err, TY_EINVAL, "invalid base64: truncated input");
    }
    res[o] = '\0';
    *out = res;
    if (len_out)
        *len_out = o;
    return 0;
}

bool kube_url_is_loopback(const char *url)
{
    const char *h = strstr(url, "://");
    char host[256];
    size_t n = 0;

    h = h ? h + 3 : url;
    if (*h == '[') {
        h++;
        while (h[n] && h[n] != ']' && n < sizeof(host) - 1)
            n++;
    } else {
        while (h[n] && h[n] != ':' && h[n] != '/' && n < sizeof(host) - 1)
            n++;
    }
    memcpy(host, h, n);
    host[n] = '\0';
    return strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
           ty_str_has_prefix(host, "127.");
}

long kube_backoff_ms(int attempt, int base_ms, int max_ms, long retry_after_ms, uint32_t rnd)
{
    long d = base_ms > 0 ? base_ms : 1;
    long cap = max_ms > 0 ? max_ms : 1;
    long delay;

    for (int i = 1; i < attempt && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    /* Full jitter over the upper half keeps a floor under the delay while
     * spreading clients that failed together. */
    delay = d / 2 + (long)(rnd % (uint32_t)(d - d / 2 + 1));
    if (retry_after_ms > 0) {
        if (retry_after_ms > 60000)
            retry_after_ms = 60000;
        if (retry_after_ms > delay)
            delay = retry_after_ms;
    }
    return delay;
}

bool kube_status_retryable(long http)
{
    return http == 429 || (http >= 500 && http <= 599 && http != 501);
}

static int code_for(long http, const char *reason)
{
    switch (http) {
    case 404:
        return TY_ENOTFOUND;
    case 409:
        return reason && strcmp(reason, "AlreadyExists") == 0 ? TY_EEXISTS : TY_ECONFLICT;
    case 401:
        return TY_EAUTH;
    case 403:
        return TY_EFORBIDDEN;
    case 410:
        return TY_EGONE;
    case 400:
    case 405:
    case 415:
    case 422:
        return TY_EINVAL;
    default:
        break;
    }
    if (http == 429 || (http >= 500 && http <= 599))
        return TY_EUPSTREAM;
    return TY_ERR;
}

int kube_status_object_error(struct ty_error *err, const json_t *status, const char *what)
{
    const char *msg = json_string_value(json_object_get(status, "message"));
    const char *reason = json_string_value(json_object_get(status, "reason"));
    json_int_t code = json_integer_value(json_object_get(status, "code"));

    if (!msg || !msg[0])
        msg = "(no message)";
    return ty_error_set(err, code_for((long)code, reason), "kube: %s: %s (%d %s)", what, msg,
                        (int)code, reason && reason[0] ? reason : "Failure");
}

int kube_status_error(struct ty_error *err,
                      long http,
                      const char *body,
                      size_t len,
                      const char *what,
                      long *retry_after_s_out)
{
    json_t *st = NULL;
    int rc;

    if (retry_after_s_out)
        *retry_after_s_out = 0;
    if (body && len)
        st = json_loadb(body, len, 0, NULL);
    if (json_is_object(st) && json_is_string(json_object_get(st, "message"))) {
        const char *msg = json_string_value(json_object_get(st, "message"));
        const char *reason = json_string_value(json_object_get(st, "reason"));
        json_t *ra = json_object_get(json_object_get(st, "details"), "retryAfterSeconds");
        if (retry_after_s_out && json_is_integer(ra))
            *retry_after_s_out = (long)json_integer_value(ra);
        rc = ty_error_set(err, code_for(http, reason), "kube: %s: %s (%ld %s)", what, msg, http,
                          reason && reason[0] ? reason : "Failure");
    } else {
        /* Not a Status (a proxy's HTML page, an empty body): keep a short,
         * printable prefix of what came back. */
        char snippet[120];
        size_t n = 0;
        for (size_t i = 0; body && i < len && n < sizeof(snippet) - 1; i++) {
            unsigned char ch = (unsigned char)body[i];
            snippet[n++] = (char)(isprint(ch) ? ch : ' ');
        }
        snippet[n] = '\0';
        rc = ty_error_set(err, code_for(http, NULL), "kube: %s: HTTP %ld%s%s", what, http,
                          n ? ": " : "", snippet);
    }
    json_decref(st);
    return rc;
}

void kube_lines_init(struct kube_lines *l, size_t max_line)
{
    ty_buf_init(&l->pending);
    l->max_line = max_line;
}

void kube_lines_cleanup(struct kube_lines *l)
{
    ty_buf_cleanup(&l->pending);
}

static int deliver(const char *line, size_t len, kube_line_fn fn, void *payload)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    return fn(line, len, payload);
}

int kube_lines_feed(
    struct kube_lines *l, const char *data, size_t len, kube_line_fn fn, void *payload)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        int rc;

        if (l->pending.len + take > l->max_line)
            return TY_ELIMIT;
        if (!nl) {
            ty_buf_append(&l->pending, data, take);
            return 0;
        }
        if (l->pending.len) {
            ty_buf_append(&l->pending, data, take);
            rc = deliver(l->pending.data, l->pending.len, fn, payload);
            ty_buf_reset(&l->pending);
        } else {
            rc = deliver(data, take, fn, payload);
        }
        if (rc)
            return rc;
        data += take + 1;
        len -= take + 1;
    }
    return 0;
}

int kube_lines_finish(struct kube_lines *l, kube_line_fn fn, void *payload)
{
    int rc = 0;
    if (l->pending.len)
        rc = deliver(l->pending.data, l->pending.len, fn, payload);
    ty_buf_reset(&l->pending);
    return rc;
}

const char *kube_obj_name(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
}

const char *kube_obj_resource_version(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}
