/*
 * api_router.c - the pure parts of request handling: path matching against
 * the route tables, path canonical checks, query strings, strict JSON body
 * checks, and the single mapping from ty_code to HTTP status.
 *
 * Nothing here touches a socket, so all of it is unit-tested directly
 * (tests/unit/api/test_router.c).  The router is the only code that looks at
 * paths; handlers read their parameters with api_param().
 */
#include "api/api_int.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/str.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *api_role_name(enum api_role r)
{
    switch (r) {
    case API_ROLE_ADMIN:
        return "admin";
    case API_ROLE_PLATFORM:
        return "platform";
    case API_ROLE_USER:
        return "user";
    default:
        return "none";
    }
}

enum api_role api_role_parse(const char *s)
{
    if (!s)
        return API_ROLE_NONE;
    if (!strcmp(s, "admin"))
        return API_ROLE_ADMIN;
    if (!strcmp(s, "platform"))
        return API_ROLE_PLATFORM;
    if (!strcmp(s, "user"))
        return API_ROLE_USER;
    return API_ROLE_NONE;
}

/* ---- paths --------------------------------------------------------------- */

bool api_path_match(const char *pattern, const char *path, struct api_req *req)
{
    int np = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (p[0] == '*' && p[1] == '\0') {
            /* A trailing '*' captures the rest of the path (one or more bytes). */
            size_t rest = strlen(s);
            if (rest > 255 || np >= API_MAX_PARAMS)
                return false;
            if (req) {
                req->param_names[np] = p;
                memcpy(req->param_values[np], s, rest + 1);
                req->nparams = np + 1;
            }
            return true;
        }
        if (*p == ':') {
            const char *name_end = strchr(p, '/');
            size_t name_len = name_end ? (size_t)(name_end - p - 1) : strlen(p + 1);
            const char *seg_end = strchr(s, '/');
            size_t seg_len = seg_end ? (size_t)(seg_end - s) : strlen(s);
            if (seg_len == 0 || seg_len > 255 || np >= API_MAX_PARAMS)
                return false;
            if (req) {
                /* The name points into the static pattern; keep its length by
                 * storing the pattern pointer and copying the value. */
                req->param_names[np] = p + 1;
                memcpy(req->param_values[np], s, seg_len);
                req->param_values[np][seg_len] = '\0';
            }
            (void)name_len;
            np++;
            p += 1 + name_len;
            s += seg_len;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*p || *s)
        return false;
    if (req)
        req->nparams = np;
    return true;
}

const char *api_param(const struct api_req *req, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < req->nparams; i++) {
        const char *pn = req->param_names[i];
        if (!strncmp(pn, name, n) && (pn[n] == '\0' || pn[n] == '/'))
            return req->param_values[i];
    }
    return NULL;
}

enum api_match api_route_find(const struct api_route **out,
                              const struct api_route *const *tables,
                              const char *method,
                              const char *path,
                              struct api_req *req,
                              char *allow,
                              size_t allow_n)
{
    enum api_match m = API_MATCH_NONE;
    *out = NULL;
    if (allow_n)
        allow[0] = '\0';
    for (const struct api_route *const *t = tables; *t; t++) {
        for (const struct api_route *r = *t; r->method; r++) {
            if (!api_path_match(r->path, path, NULL))
                continue;
            if (!strcmp(r->method, method) ||
                (!strcmp(method, "HEAD") && !strcmp(r->method, "GET"))) {
                api_path_match(r->path, path, req);
                *out = r;
                return API_MATCH_OK;
            }
            m = API_MATCH_PATH_ONLY;
            if (allow_n && !strstr(allow, r->method)) {
                size_t l = strlen(allow);
                snprintf(allow + l, allow_n - l, "%s%s", l ? ", " : "", r->method);
            }
        }
    }
    return m;
}

int api_path_check(const char *path, struct ty_error *err)
{
    if (!path || path[0] != '/')
        return ty_error_set(err, TY_EINVAL, "the path must start with '/'");
    for (const char *p = path; *p; p++) {
        if (p[0] == '/' && p[1] == '/')
            return ty_error_set(err, TY_EINVAL, "empty path segment in '%.100s'", path);
        if (p[0] == '/' && p[1] == '.' &&
            (p[2] == '/' || p[2] == '\0' || (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
            return ty_error_set(err, TY_EINVAL, "dot segment in path '%.100s'", path);
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return ty_error_set(err, TY_EINVAL, "control character in path");
    }
    return 0;
}

/* ---- query strings ------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes src[0..len) (form encoding: '+' is a space) into out. */
static int
qdecode(char *out, size_t n, const char *src, size_t len, const char *key, struct ty_error *err)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)src[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len)
                return ty_error_set(err, TY_EINVAL, "query parameter '%s': bad %%-escape", key);
            int hi = hexval((unsigned char)src[i + 1]), lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return ty_error_set(err, TY_EINVAL, "query parameter '%s': bad %%-escape", key);
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0)
            return ty_error_set(err, TY_EINVAL, "query parameter '%s': NUL byte", key);
        if (o + 1 >= n)
            return ty_error_set(err, TY_EINVAL, "query parameter '%s' is too long (max %zu)", key,
                                n - 1);
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

int api_query_get(char *out, size_t n, const char *query, const char *key, struct ty_error *err)
{
    int found = 0;
    if (!query)
        return 0;
    size_t klen = strlen(key);
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t nlen = eq ? (size_t)(eq - p) : plen;
        if (nlen == klen && !memcmp(p, key, klen)) {
            if (found)
                return ty_error_set(err, TY_EINVAL, "query parameter '%s' given twice", key);
            found = 1;
            const char *v = eq ? eq + 1 : p + plen;
            size_t vlen = eq ? plen - nlen - 1 : 0;
            int rc = qdecode(out, n, v, vlen, key, err);
            if (rc < 0)
                return rc;
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    return found;
}

int api_query_check(const char *query, const char *const *allowed, struct ty_error *err)
{
    if (!query)
        return 0;
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t nlen = eq ? (size_t)(eq - p) : plen;
        char name[64];
        if (nlen == 0) {
            if (plen == 0) { /* "a=1&&b=2" or trailing '&' */
                p += plen;
                if (*p == '&')
                    p++;
                continue;
            }
            return ty_error_set(err, TY_EINVAL, "query string has an empty parameter name");
        }
        if (nlen >= sizeof(name))
            return ty_error_set(err, TY_EINVAL, "unknown query parameter '%.40s...'", p);
        memcpy(name, p, nlen);
        name[nlen] = '\0';
        if (!ty_str_in(name, allowed)) {
            struct ty_buf b = TY_BUF_INIT;
            for (const char *const *a = allowed; *a; a++)
                ty_buf_printf(&b, "%s%s", a == allowed ? "" : ", ", *a);
            ty_error_set(err, TY_EINVAL, "unknown query parameter '%s' (allowed: %s)", name,
                         b.len ? b.data : "none");
            ty_buf_cleanup(&b);
            return TY_EINVAL;
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    return 0;
}

int api_query_int(int64_t *out,
                  const char *query,
                  const char *key,
                  int64_t min,
                  int64_t max,
                  struct ty_error *err)
{
    char v[32];
    int rc = api_query_get(v, sizeof(v), query, key, err);
    if (rc <= 0)
        return rc;
    if (ty_str_to_i64(v, min, max, out) < 0)
        return ty_error_set(err, TY_EINVAL,
                            "query parameter '%s' must be an integer in [%lld, %lld], got '%s'",
                            key, (long long)min, (long long)max, v);
    return 1;
}

/* ---- JSON ---------------------------------------------------------------- */

const char *api_jtype_name(enum api_jtype t)
{
    switch (t) {
    case API_J_STRING:
        return "a string";
    case API_J_INT:
        return "an integer";
    case API_J_NUMBER:
        return "a number";
    case API_J_BOOL:
        return "a boolean";
    case API_J_OBJECT:
        return "an object";
    case API_J_ARRAY:
        return "an array";
    case API_J_STRMAP:
        return "an object of strings";
    case API_J_STRING_OR_OBJECT:
        return "a string or an object";
    case API_J_NUMBER_OR_STRING:
        return "a number or a string";
    default:
        return "a value";
    }
}

const char *api_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static bool type_ok(const json_t *v, enum api_jtype t)
{
    switch (t) {
    case API_J_STRING:
        return json_is_string(v);
    case API_J_INT:
        return json_is_integer(v);
    case API_J_NUMBER:
        return json_is_number(v);
    case API_J_BOOL:
        return json_is_boolean(v);
    case API_J_OBJECT:
        return json_is_object(v);
    case API_J_ARRAY:
        return json_is_array(v);
    case API_J_STRMAP: {
        if (!json_is_object(v))
            return false;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (!json_is_string(x))
                return false;
        }
        return true;
    }
    case API_J_STRING_OR_OBJECT:
        return json_is_string(v) || json_is_object(v);
    case API_J_NUMBER_OR_STRING:
        return json_is_number(v) || json_is_string(v);
    default:
        return true;
    }
}

int api_fields_check(const json_t *obj,
                     const struct api_field *fields,
                     const char *where,
                     struct ty_error *err)
{
    if (!json_is_object(obj))
        return ty_error_set(err, TY_EINVAL, "%s must be a JSON object, got %s", where,
                            api_json_type_name(obj));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        const struct api_field *f = fields;
        while (f->name && strcmp(f->name, k) != 0)
            f++;
        if (!f->name) {
            struct ty_buf b = TY_BUF_INIT;
            for (const struct api_field *g = fields; g->name; g++)
                ty_buf_printf(&b, "%s%s", g == fields ? "" : ", ", g->name);
            ty_error_set(err, TY_EINVAL, "%s: unknown field '%.80s' (allowed: %s)", where, k,
                         b.len ? b.data : "none");
            ty_buf_cleanup(&b);
            return TY_EINVAL;
        }
        if (json_is_null(v) && f->nullable)
            continue;
        if (!type_ok(v, f->type))
            return ty_error_set(err, TY_EINVAL, "%s.%s must be %s, got %s", where, k,
                                api_jtype_name(f->type), api_json_type_name(v));
    }
    for (const struct api_field *f = fields; f->name; f++)
        if (f->required && !json_object_get(obj, f->name))
            return ty_error_set(err, TY_EINVAL, "%s.%s is required", where, f->name);
    return 0;
}

int api_json_depth(const char *text, size_t len)
{
    int depth = 0, max = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
        } else if (c == ']' || c == '}')
            depth--;
    }
    return max;
}

/* ---- errors -------------------------------------------------------------- */

int api_error_status(enum ty_code code)
{
    switch (code) {
    case TY_OK:
        return 200;
    case TY_EINVAL:
        return 400;
    case TY_EAUTH:
        return 401;
    case TY_EFORBIDDEN:
        return 403;
    case TY_ENOTFOUND:
        return 404;
    case TY_EEXISTS:
    case TY_ECONFLICT:
        return 409;
    case TY_EGONE:
        return 410;
    case TY_ELIMIT:
        return 429;
    case TY_EUPSTREAM:
        return 502;
    case TY_ETIMEOUT:
        return 504;
    default:
        return 500;
    }
}

void api_error_fill(struct api_resp *resp, enum api_error_style style, const struct ty_error *err)
{
    enum ty_code code = err && err->code ? err->code : TY_ERR;
    const char *msg = err && err->msg[0] ? err->msg : "internal error";
    json_t *body;
    if (style == API_ERR_TYCHO)
        body = json_pack("{s:s, s:{s:s}, s:s}", "status", "error", "result", "error", msg,
                         "message", msg);
    else
        body = json_pack("{s:{s:s, s:s}}", "error", "code", ty_code_name(code), "message", msg);
    if (style == API_ERR_V1 && resp->error_detail)
        json_object_update_missing(json_object_get(body, "error"), resp->error_detail);
    json_decref(resp->error_detail);
    resp->error_detail = NULL;
    json_decref(resp->json);
    free(resp->text);
    resp->text = NULL;
    resp->json = body;
    resp->status = api_error_status(code);
    resp->content_type = NULL;
    resp->cache_control = NULL;
    resp->csp = NULL;
}

/* ---- responses ----------------------------------------------------------- */

void api_resp_json(struct api_resp *resp, int status, json_t *body)
{
    json_decref(resp->json);
    resp->json = body;
    resp->status = status;
}

void api_resp_text(
    struct api_resp *resp, int status, const char *ctype, const char *text, size_t len)
{
    free(resp->text);
    resp->text = ty_xmalloc(len + 1);
    memcpy(resp->text, text, len);
    resp->text[len] = '\0';
    resp->text_len = len;
    resp->content_type = ctype;
    resp->status = status;
}

void api_resp_static(struct api_resp *resp,
                     const char *ctype,
                     const unsigned char *data,
                     size_t len)
{
    api_resp_text(resp, 200, ctype, (const char *)data, len);
}
