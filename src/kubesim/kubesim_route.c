/*
 * kubesim_route.c - how the simulated cluster reads a request line: the query
 * string (form-decoded, as the API server's url.ParseQuery does), the
 * booleans in it (as apimachinery's parameter codec reads them), and the API path, split into the
 * resource, namespace, name and subresource it names.  Pure functions on
 * strings, with no store access, so the request parser can be tested and
 * fuzzed on its own.
 */
#include "kubesim/kubesim_int.h"
#include "util/mem.h"
#include "util/str.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- query strings ---- */

static char *form_decode(const char *s, size_t n)
{
    char *out = ty_xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[j++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            out[j++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = 0;
    return out;
}

void ks_query_parse(struct ks_query *q, const char *qs)
{
    memset(q, 0, sizeof *q);
    if (!qs)
        return;
    const char *p = qs;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > 0) {
            const char *eq = memchr(p, '=', n);
            size_t kn = eq ? (size_t)(eq - p) : n;
            q->keys = ty_xrealloc(q->keys, (size_t)(q->n + 1) * sizeof *q->keys);
            q->vals = ty_xrealloc(q->vals, (size_t)(q->n + 1) * sizeof *q->vals);
            q->keys[q->n] = form_decode(p, kn);
            q->vals[q->n] = eq ? form_decode(eq + 1, n - kn - 1) : ty_xstrdup("");
            q->n++;
        }
        p += n;
        if (*p == '&')
            p++;
    }
}

const char *ks_query_get(const struct ks_query *q, const char *key)
{
    for (int i = 0; i < q->n; i++)
        if (!strcmp(q->keys[i], key))
            return q->vals[i];
    return NULL;
}

bool ks_query_bool(const struct ks_query *q, const char *key)
{
    const char *v = ks_query_get(q, key);
    return v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0;
}

void ks_query_free(struct ks_query *q)
{
    for (int i = 0; i < q->n; i++) {
        free(q->keys[i]);
        free(q->vals[i]);
    }
    free(q->keys);
    free(q->vals);
    memset(q, 0, sizeof *q);
}

/* ---- paths ---- */

bool ks_route_parse(const char *path, struct ks_route *rt)
{
    char buf[1024];
    char *seg[12];
    int n = 0;
    memset(rt, 0, sizeof *rt);
    if (strlen(path) >= sizeof buf)
        return false;
    strcpy(buf, path);
    for (char *p = strtok(buf, "/"); p && n < 12; p = strtok(NULL, "/"))
        seg[n++] = p;
    int i;
    const char *gv;
    char gvbuf[128];
    if (n >= 2 && !strcmp(seg[0], "api") && !strcmp(seg[1], "v1")) {
        gv = "v1";
        i = 2;
    } else if (n >= 3 && !strcmp(seg[0], "apis")) {
        snprintf(gvbuf, sizeof gvbuf, "%s/%s", seg[1], seg[2]);
        gv = gvbuf;
        i = 3;
    } else {
        return false;
    }
    if (i < n && !strcmp(seg[i], "watch")) {
        rt->watch_prefix = true;
        i++;
    }
    rt->metrics = !strcmp(gv, "metrics.k8s.io/v1beta1");
    if (i + 1 < n && !strcmp(seg[i], "namespaces") && (i + 2 < n)) {
        ty_strlcpy(rt->ns, seg[i + 1], sizeof rt->ns);
        i += 2;
    }
    if (i >= n)
        return false;
    const char *res = seg[i++];
    if (rt->metrics) {
        if (strcmp(res, "pods") != 0)
            return false;
    } else {
        int r;
        for (r = 0; r < KS_NRES; r++)
            if (!strcmp(ks_resources[r].plural, res) &&
                !strcmp(ks_res_api_version((enum ks_res)r), gv))
                break;
        if (r == KS_NRES)
            return false;
        rt->res = (enum ks_res)r;
        if (rt->ns[0] && !ks_resources[r].namespaced)
            return false;
    }
    if (i < n)
        ty_strlcpy(rt->name, seg[i++], sizeof rt->name);
    if (i < n)
        ty_strlcpy(rt->sub, seg[i++], sizeof rt->sub);
    return i == n;
}
