/*
 * registry_util.c - the small pieces resolution is built from: the warnings
 * list, URL reference resolution (Tycho joins relative repository URLs with
 * Python's urljoin, so we follow RFC 3986 section 5.2 the same way), path
 * normalisation for registries read from local folders, and Python's
 * string.Template.safe_substitute, which Tycho applies to spec, icon and docs,
 * and the spec branch (Tycho's DOCKSTORE_APPS_BRANCH), rewritten by whole path
 * segment rather than by Tycho's substring replacement.
 */
#include "registry/registry_int.h"

#include "util/buf.h"
#include "util/mem.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void registry_warnings_init(struct registry_warnings *w)
{
    w->items = NULL;
    w->len = 0;
    w->cap = 0;
}

void registry_warnings_cleanup(struct registry_warnings *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->len; i++)
        free(w->items[i]);
    free(w->items);
    registry_warnings_init(w);
}

static void warnings_take(struct registry_warnings *w, char *msg)
{
    for (size_t i = 0; i < w->len; i++) {
        if (!strcmp(w->items[i], msg)) {
            free(msg);
            return;
        }
    }
    if (w->len == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->items = ty_xrealloc(w->items, w->cap * sizeof(*w->items));
    }
    w->items[w->len++] = msg;
}

void registry_warnings_add(struct registry_warnings *w, const char *fmt, ...)
{
    struct ty_buf b = TY_BUF_INIT;
    va_list ap;
    if (!w)
        return;
    va_start(ap, fmt);
    ty_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    warnings_take(w, ty_buf_detach(&b));
}

void registry_warnings_extend(struct registry_warnings *dst, const struct registry_warnings *src)
{
    if (!dst || !src)
        return;
    for (size_t i = 0; i < src->len; i++)
        warnings_take(dst, ty_xstrdup(src->items[i]));
}

bool registry_url_has_scheme(const char *s)
{
    const char *p = s;
    if (!isalpha((unsigned char)*p))
        return false;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    /* A one-letter "scheme" would be a Windows drive; registries never use it. */
    return *p == ':' && p - s > 1;
}

char *registry_dirname(const char *s)
{
    /* os.path.dirname: the head up to the last '/', trailing slashes stripped
     * unless the head is nothing but slashes. */
    const char *slash = strrchr(s, '/');
    size_t n;
    if (!slash)
        return ty_xstrdup("");
    n = (size_t)(slash - s) + 1;
    size_t k = n;
    while (k > 0 && s[k - 1] == '/')
        k--;
    return ty_xstrndup(s, k == 0 ? n : k);
}

/* Removes "." and ".." segments of an absolute or relative path (RFC 3986
 * 5.2.4), keeping a trailing slash. */
static char *remove_dot_segments(const char *path)
{
    struct ty_buf out = TY_BUF_INIT;
    const char *p = path;
    ty_buf_puts(&out, "");
    while (*p) {
        if (!strncmp(p, "../", 3)) {
            p += 3;
        } else if (!strncmp(p, "./", 2)) {
            p += 2;
        } else if (!strncmp(p, "/./", 3)) {
            p += 2;
        } else if (!strcmp(p, "/.")) {
            p = "/";
        } else if (!strncmp(p, "/../", 4) || !strcmp(p, "/..")) {
            p = p[3] ? p + 3 : "/";
            char *last = strrchr(out.data, '/');
            out.len = last ? (size_t)(last - out.data) : 0;
            out.data[out.len] = '\0';
        } else if (!strcmp(p, ".") || !strcmp(p, "..")) {
            break;
        } else {
            const char *next = strchr(p + 1, '/');
            size_t n = next ? (size_t)(next - p) : strlen(p);
            ty_buf_append(&out, p, n);
            p += n;
        }
    }
    return ty_buf_detach(&out);
}

struct url_parts {
    const char *scheme; /* without ':' */
    size_t scheme_len;
    const char *auth; /* after "//" */
    size_t auth_len;
    bool has_auth;
    const char *path;
    size_t path_len;
    const char *rest; /* "?query#frag" */
};

static void url_split(struct url_parts *u, const char *s)
{
    memset(u, 0, sizeof(*u));
    if (registry_url_has_scheme(s)) {
        u->scheme = s;
        u->scheme_len = (size_t)(strchr(s, ':') - s);
        s += u->scheme_len + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        s += 2;
        u->auth = s;
        u->has_auth = true;
        u->auth_len = strcspn(s, "/?#");
        s += u->auth_len;
    }
    u->path = s;
    u->path_len = strcspn(s, "?#");
    u->rest = s + u->path_len;
}

char *registry_url_join(const char *base, const char *ref)
{
    struct url_parts b, r;
    struct ty_buf out = TY_BUF_INIT;
    char *path = NULL, *merged = NULL;
    if (!*ref)
        return ty_xstrdup(base);
    url_split(&b, base);
    url_split(&r, ref);
    if (r.scheme && (!b.scheme || r.scheme_len != b.scheme_len ||
                     strncasecmp(r.scheme, b.scheme, r.scheme_len)))
        return ty_xstrdup(ref);
    if (b.scheme)
        ty_buf_printf(&out, "%.*s:", (int)b.scheme_len, b.scheme);
    if (r.has_auth) {
        ty_buf_printf(&out, "//%.*s", (int)r.auth_len, r.auth);
        merged = ty_xstrndup(r.path, r.path_len);
        goto merge_done;
    }
    if (b.has_auth)
        ty_buf_printf(&out, "//%.*s", (int)b.auth_len, b.auth);
    if (r.path_len == 0) {
        ty_buf_append(&out, b.path, b.path_len);
        ty_buf_puts(&out, *r.rest ? r.rest : b.rest);
        goto out;
    }
    if (r.path[0] == '/') {
        merged = ty_xstrndup(r.path, r.path_len);
    } else {
        const char *last = NULL;
        for (size_t i = 0; i < b.path_len; i++)
            if (b.path[i] == '/')
                last = b.path + i;
        if (last)
            merged =
                ty_xasprintf("%.*s%.*s", (int)(last - b.path + 1), b.path, (int)r.path_len, r.path);
        else if (b.has_auth)
            merged = ty_xasprintf("/%.*s", (int)r.path_len, r.path);
        else
            merged = ty_xstrndup(r.path, r.path_len);
    }
merge_done:
    path = remove_dot_segments(merged);
    ty_buf_puts(&out, path);
    ty_buf_puts(&out, r.rest);
out:
    free(merged);
    free(path);
    return ty_buf_detach(&out);
}

char *registry_path_join_norm(const char *dir, const char *rel)
{
    char *joined, *norm;
    if (rel[0] == '/')
        joined = ty_xstrdup(rel);
    else {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            n--;
        joined = ty_xasprintf("%.*s/%s", (int)n, dir, rel);
    }
    norm = remove_dot_segments(joined);
    free(joined);
    /* Collapse doubled slashes that a folder with a trailing '/' leaves. */
    char *w = norm;
    for (const char *p = norm; *p; p++)
        if (!(p[0] == '/' && p[1] == '/'))
            *w++ = *p;
    *w = '\0';
    if (w > norm + 1 && w[-1] == '/')
        w[-1] = '\0';
    return norm;
}

static size_t ident_len(const char *p)
{
    size_t n = 0;
    if (!(isalpha((unsigned char)*p) || *p == '_'))
        return 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_')
        n++;
    return n;
}

char *registry_template_substitute(const char *s, const json_t *map)
{
    struct ty_buf out = TY_BUF_INIT;
    ty_buf_puts(&out, "");
    for (const char *p = s; *p;) {
        if (*p != '$') {
            const char *dollar = strchr(p, '$');
            size_t n = dollar ? (size_t)(dollar - p) : strlen(p);
            ty_buf_append(&out, p, n);
            p += n;
            continue;
        }
        if (p[1] == '$') {
            ty_buf_putc(&out, '$');
            p += 2;
            continue;
        }
        bool braced = p[1] == '{';
        const char *name = p + (braced ? 2 : 1);
        size_t n = ident_len(name);
        if (n == 0 || (braced && name[n] != '}')) {
            ty_buf_putc(&out, *p++);
            continue;
        }
        char *key = ty_xstrndup(name, n);
        const json_t *v = json_object_get(map, key);
        free(key);
        size_t whole = n + 1 + (braced ? 2 : 0);
        if (json_is_string(v))
            ty_buf_puts(&out, json_string_value(v));
        else
            ty_buf_append(&out, p, whole);
        p += whole;
    }
    return ty_buf_detach(&out);
}

/* ------------------------------------------------------------ spec branch */

int registry_spec_branch_check(const char *branch, struct ty_error *err)
{
    size_t n = branch ? strlen(branch) : 0;
    if (n == 0)
        return ty_error_set(err, TY_EINVAL, "spec branch: empty");
    for (const char *p = branch; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == 0x7f)
            return ty_error_set(err, TY_EINVAL,
                                "spec branch '%s': whitespace or control character at %zu", branch,
                                (size_t)(p - branch) + 1);
        if (strchr("~^:?*[\\#%", c))
            return ty_error_set(err, TY_EINVAL,
                                "spec branch '%s': '%c' is not allowed in a branch in a URL",
                                branch, c);
    }
    if (strstr(branch, "..") || strstr(branch, "//") || strstr(branch, "@{"))
        return ty_error_set(err, TY_EINVAL, "spec branch '%s': '..', '//' and '@{' are not allowed",
                            branch);
    if (branch[0] == '/' || branch[n - 1] == '/' || branch[n - 1] == '.' ||
        (n >= 5 && !strcmp(branch + n - 5, ".lock")))
        return ty_error_set(err, TY_EINVAL,
                            "spec branch '%s': must not start or end with '/' or end with '.' "
                            "or '.lock'",
                            branch);
    return 0;
}

/* The value of name in envp, or NULL. */
static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; e && *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

const char *registry_spec_branch_tycho_env(char *const *envp)
{
    /* Tycho: os.environ.get(...) for both, then
     * `external_tycho_app_registry_enabled == "false" and dockstore_branch != ""`. */
    const char *external = env_get(envp, "EXTERNAL_TYCHO_APP_REGISTRY_ENABLED");
    const char *branch = env_get(envp, "DOCKSTORE_APPS_BRANCH");
    if (!external || strcmp(external, "false") || !branch || !*branch)
        return NULL;
    return branch;
}

char *registry_spec_branch_apply(const char *url, const char *branch)
{
    struct ty_buf b = TY_BUF_INIT;
    size_t start = 0, end = strlen(url);
    if (registry_url_has_scheme(url)) {
        const char *colon = strchr(url, ':');
        start = (size_t)(colon - url) + 1;
        if (url[start] == '/' && url[start + 1] == '/')
            start += 2 + strcspn(url + start + 2, "/?#"); /* the authority stays */
        end = start + strcspn(url + start, "?#");         /* so do query and fragment */
    }
    ty_buf_puts(&b, "");
    ty_buf_append(&b, url, start);
    for (size_t i = start; i < end;) {
        size_t seg = i;
        while (i < end && url[i] != '/')
            i++;
        if (i - seg == 6 && !strncmp(url + seg, "master", 6))
            ty_buf_puts(&b, branch);
        else
            ty_buf_append(&b, url + seg, i - seg);
        if (i < end) {
            ty_buf_append(&b, "/", 1);
            i++;
        }
    }
    ty_buf_puts(&b, url + end);
    return ty_buf_detach(&b);
}
