/*
 * kubesim_api.c - the REST surface of the simulated cluster.
 *
 * ks_api_handle() takes one parsed request (method, path, decoded query, body,
 * Accept, Content-Type) and produces the status and body a real API server
 * would.  This file holds the dispatch and the verbs on objects: list with
 * paging, get, create, update and the three PATCH types with resourceVersion
 * preconditions, Table responses, and the Status replies with the real
 * reasons and message formats (kubernetes.md section 2).  The rest of the
 * surface lives beside it: kubesim_route.c (query and path),
 * kubesim_discovery.c, kubesim_valid.c (checks and defaults),
 * kubesim_delete.c, kubesim_metrics.c and kubesim_watch.c (a watch is checked
 * here, then streamed there).  Everything runs with s->mu held, serialisation
 * included, so handlers see one consistent store.
 */
#include "kubesim/kubesim_int.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- responses ---- */

void ks_reply_json(struct ks_response *resp, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    resp->status = status;
    resp->content_type = KS_CT_JSON;
    ty_buf_reset(&resp->body);
    if (!text) { /* cannot happen with ks_status_json's scrubbed strings */
        resp->status = 500;
        ty_buf_puts(&resp->body,
                    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                    "\"status\":\"Failure\",\"message\":\"the reply cannot be encoded\","
                    "\"reason\":\"InternalError\",\"code\":500}");
    } else {
        ty_buf_puts(&resp->body, text);
    }
    ty_buf_putc(&resp->body, '\n');
    free(text);
    json_decref(body);
}

/* Length of the well-formed UTF-8 character at s (avail bytes), or 0. */
static size_t utf8_char(const unsigned char *s, size_t avail)
{
    unsigned c = s[0], cp;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c < 0xc2 || c > 0xf4) /* continuation, overlong 2-byte or beyond U+10FFFF */
        return 0;
    n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    cp = c & (0x7fu >> n);
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* s into out (size n) with each byte that is not part of a well-formed UTF-8
 * character replaced by U+FFFD, as the API server's JSON encoder (Go's) does;
 * cut at a character boundary. */
static const char *utf8_fix(char *out, size_t n, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), o = 0;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_char(p + i, len - i);
        size_t m = k ? k : 3;
        if (o + m >= n)
            break;
        memcpy(out + o, k ? s + i : "\xef\xbf\xbd", m);
        o += m;
        i += k ? k : 1;
    }
    out[o] = '\0';
    return out;
}

/* A Status object.  msg and name often quote the request (a path, a selector,
 * a name), which may hold any bytes: they are made valid UTF-8 first, since
 * jansson refuses anything else (a Status that could not be encoded crashed
 * the server). */
json_t *
ks_status_json(int code, const char *reason, const char *name, enum ks_res r, const char *msg)
{
    char msg_ok[1024], name_ok[512];
    utf8_fix(msg_ok, sizeof msg_ok, msg);
    json_t *st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                           "metadata", "status", code < 400 ? "Success" : "Failure", "message",
                           msg_ok, "reason", reason, "code", code);
    if (name) {
        utf8_fix(name_ok, sizeof name_ok, name);
        json_t *d = json_pack("{s:s,s:s}", "name", name_ok, "kind", ks_resources[r].plural);
        if (ks_resources[r].group[0])
            json_object_set_new(d, "group", json_string(ks_resources[r].group));
        json_object_set_new(st, "details", d);
    }
    return st;
}

void ks_status(struct ks_response *resp,
               int code,
               const char *reason,
               const char *details_name,
               enum ks_res r,
               const char *fmt,
               ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ks_reply_json(resp, code, ks_status_json(code, reason, details_name, r, msg));
}

void ks_not_found(struct ks_response *resp, enum ks_res r, const char *name)
{
    char q[96];
    ks_status(resp, 404, "NotFound", name, r, "%s \"%s\" not found",
              ks_res_qualified(r, q, sizeof q), name);
}

void ks_bad_request(struct ks_response *resp, const char *msg)
{
    ks_reply_json(resp, 400, ks_status_json(400, "BadRequest", NULL, KS_PODS, msg));
}

/* ---- list, get ---- */

static json_t *strip_kind(const json_t *obj)
{
    json_t *c = json_copy((json_t *)obj);
    json_object_del(c, "kind");
    json_object_del(c, "apiVersion");
    return c;
}

bool ks_wants_table(const struct ks_request *rq)
{
    return rq->accept && strstr(rq->accept, "as=Table");
}

bool ks_filters_parse(struct ks_filters *f,
                      enum ks_res r,
                      const struct ks_request *rq,
                      struct ks_response *resp)
{
    struct ty_error e = TY_ERROR_INIT;
    memset(f, 0, sizeof *f);
    if (ks_selector_parse(&f->labels, ks_query_get(&rq->q, "labelSelector"), &e) != 0 ||
        ks_field_selector_parse(&f->fields, r, ks_query_get(&rq->q, "fieldSelector"), &e) != 0) {
        ks_selector_free(f->labels);
        f->labels = NULL;
        ks_bad_request(resp, e.msg);
        return false;
    }
    return true;
}

void ks_filters_free(struct ks_filters *f)
{
    ks_selector_free(f->labels);
    ks_selector_free(f->fields);
}

bool ks_filters_match(const struct ks_filters *f, const json_t *obj)
{
    return ks_selector_match_labels(f->labels, ks_at(obj, "metadata.labels")) &&
           ks_selector_match_fields(f->fields, obj);
}

bool ks_filters_match_cb(const json_t *obj, void *payload)
{
    return ks_filters_match(payload, obj);
}

static char *continue_token(long rv, const char *key)
{
    json_t *t = json_pack("{s:i,s:s}", "rv", (json_int_t)rv, "start", key);
    char *text = json_dumps(t, JSON_COMPACT);
    char *b64 = ty_base64(text, strlen(text));
    free(text);
    json_decref(t);
    return b64;
}

static int decode_b64_token(const char *tok, char *out, size_t outn)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(tok), j = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] == '=')
            break;
        const char *p = strchr(tbl, tok[i]);
        if (!p || !tok[i])
            return -1;
        acc = (acc << 6) | (unsigned)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (j + 1 >= outn)
                return -1;
            out[j++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[j] = 0;
    return 0;
}

static void handle_list(struct kubesim *s,
                        const struct ks_request *rq,
                        const struct ks_route *rt,
                        struct ks_response *resp)
{
    struct ks_filters f;
    enum ks_res r = rt->res;
    if (!ks_filters_parse(&f, r, rq, resp))
        return;
    long limit = 0;
    const char *ls = ks_query_get(&rq->q, "limit");
    if (ls && *ls) {
        int64_t v;
        if (ty_str_to_i64(ls, 0, 1000000000, &v) != 0) {
            ks_bad_request(resp, "limit: must be a non-negative integer");
            goto out;
        }
        limit = (long)v;
    }
    const char *cont = ks_query_get(&rq->q, "continue");
    char start[1024] = "";
    long list_rv = s->rv;
    if (cont && *cont) {
        char dec[1200];
        json_t *t = decode_b64_token(cont, dec, sizeof dec) == 0 ? json_loads(dec, 0, NULL) : NULL;
        const char *st = ks_str(t, "start");
        long trv = ks_int(t, "rv", -1);
        if (!st || trv < 0 || trv > s->rv || trv + 1 < s->hist_oldest) {
            json_decref(t);
            ks_reply_json(resp, 410,
                          ks_status_json(410, "Expired", NULL, r,
                                         "The provided continue parameter is too old to display a "
                                         "consistent list result. You can start a new list without "
                                         "the continue parameter."));
            goto out;
        }
        ty_strlcpy(start, st, sizeof start);
        list_rv = trv;
        json_decref(t);
    }
    json_t *all = ks_list_match(s, r, rt->ns[0] ? rt->ns : NULL, f.labels, ks_filters_match_cb, &f);
    json_t *items = json_array();
    char next_key[1024] = "";
    long remaining = 0;
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v)
    {
        char key[600];
        ks_key(r, ks_str(v, "metadata.namespace"), ks_str(v, "metadata.name"), key, sizeof key);
        if (start[0] && strcmp(key, start) <= 0)
            continue;
        if (limit > 0 && (long)json_array_size(items) >= limit) {
            remaining++;
            continue;
        }
        json_array_append(items, v);
        ty_strlcpy(next_key, key, sizeof next_key);
    }
    json_decref(all);
    char rvs[32];
    snprintf(rvs, sizeof rvs, "%ld", list_rv);
    json_t *body;
    if (ks_wants_table(rq)) {
        const char *io = ks_query_get(&rq->q, "includeObject");
        body = ks_table(r, items, rvs, io && !strcmp(io, "Object"));
    } else {
        char kind[64];
        snprintf(kind, sizeof kind, "%sList", ks_resources[r].kind);
        json_t *stripped = json_array();
        json_array_foreach(items, i, v)
        {
            json_array_append_new(stripped, strip_kind(v));
        }
        body = json_pack("{s:s,s:s,s:{s:s},s:o}", "kind", kind, "apiVersion", ks_res_api_version(r),
                         "metadata", "resourceVersion", rvs, "items", stripped);
    }
    if (remaining > 0) {
        char *tok = continue_token(list_rv, next_key);
        json_object_set_new(json_object_get(body, "metadata"), "continue", json_string(tok));
        json_object_set_new(json_object_get(body, "metadata"), "remainingItemCount",
                            json_integer(remaining));
        free(tok);
    }
    json_decref(items);
    bool table = ks_wants_table(rq);
    ks_reply_json(resp, 200, body);
    if (table)
        resp->content_type = KS_CT_TABLE;
out:
    ks_filters_free(&f);
}

void ks_reply_object(
    struct ks_response *resp, int status, enum ks_res r, const struct ks_request *rq, json_t *obj)
{
    if (ks_wants_table(rq)) {
        json_t *items = json_pack("[O]", obj);
        const char *io = ks_query_get(&rq->q, "includeObject");
        json_t *t = ks_table(r, items, ks_str(obj, "metadata.resourceVersion"),
                             io && !strcmp(io, "Object"));
        json_decref(items);
        ks_reply_json(resp, status, t);
        resp->content_type = KS_CT_TABLE;
        return;
    }
    ks_reply_json(resp, status, json_incref(obj));
}

static json_t *scale_json(const json_t *obj)
{
    char sel[512] = "";
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ks_at(obj, "spec.selector.matchLabels"), k, v)
    {
        size_t n = strlen(sel);
        snprintf(sel + n, sizeof sel - n, "%s%s=%s", n ? "," : "", k, json_string_value(v));
    }
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s},s:{s:I},s:{s:I,s:s}}", "kind", "Scale",
                     "apiVersion", "autoscaling/v1", "metadata", "name",
                     ks_str(obj, "metadata.name"), "namespace", ks_str(obj, "metadata.namespace"),
                     "uid", ks_str(obj, "metadata.uid"), "resourceVersion",
                     ks_str(obj, "metadata.resourceVersion"), "spec", "replicas",
                     (json_int_t)ks_int(obj, "spec.replicas", 0), "status", "replicas",
                     (json_int_t)ks_int(obj, "status.replicas", 0), "selector", sel);
}

/* ---- create ---- */

static void handle_create(struct kubesim *s,
                          const struct ks_request *rq,
                          const struct ks_route *rt,
                          struct ks_response *resp,
                          json_t *obj)
{
    enum ks_res r = rt->res;
    json_t *md = ks_obj_at(obj, "metadata");
    const char *bns = json_string_value(json_object_get(md, "namespace"));
    if (ks_resources[r].namespaced) {
        if (bns && strcmp(bns, rt->ns) != 0) {
            ks_bad_request(resp, "the namespace of the provided object does not match the "
                                 "namespace sent on the request");
            return;
        }
        if (!ks_ns_exists(s, rt->ns, resp))
            return;
        json_object_set_new(md, "namespace", json_string(rt->ns));
    } else {
        json_object_del(md, "namespace");
    }
    const char *gen = json_string_value(json_object_get(md, "generateName"));
    const char *given = json_string_value(json_object_get(md, "name"));
    if ((!given || !*given) && gen && *gen) {
        /* As the real name generator: the prefix cut to 58 characters, then
         * 5 random ones (so a generated name still fits a 63-character label). */
        for (int tries = 0; tries < 8; tries++) {
            char sfx[6], name[300];
            ks_rand_suffix(s, sfx, 5);
            snprintf(name, sizeof name, "%.58s%s", gen, sfx);
            json_object_set_new(md, "name", json_string(name));
            if (!ks_get(s, r, rt->ns, name))
                break;
        }
    }
    json_object_set_new(obj, "kind", json_string(ks_resources[r].kind));
    json_object_set_new(obj, "apiVersion", json_string(ks_res_api_version(r)));
    if (!ks_field_validation(rq, r, obj, resp))
        return;
    ks_apply_defaults(s, r, obj, NULL);
    struct ks_causes c = {json_array()};
    ks_validate(r, obj, &c);
    const char *name = ks_str(obj, "metadata.name");
    if (ks_reply_invalid(resp, r, name, &c)) {
        json_decref(c.arr);
        return;
    }
    json_decref(c.arr);
    if (ks_get(s, r, rt->ns, name)) {
        char q[96];
        ks_status(resp, 409, "AlreadyExists", name, r, "%s \"%s\" already exists",
                  ks_res_qualified(r, q, sizeof q), name);
        return;
    }
    ks_meta_init(s, obj);
    if (json_object_get(obj, "spec"))
        json_object_set_new(md, "generation", json_integer(1));
    ks_initial_status(r, obj);
    if (ks_is_dry_run(rq)) {
        ks_reply_object(resp, 201, r, rq, obj);
        return;
    }
    json_t *stored = ks_put(s, r, json_incref(obj));
    ks_reply_object(resp, 201, r, rq, stored);
}

/* ---- update and patch ---- */

/* Finishes a write of `next` (owned) over `old`: CAS, immutable fields, status
 * handling, validation, generation.  Replies and stores. */
static void commit_update(struct kubesim *s,
                          const struct ks_request *rq,
                          const struct ks_route *rt,
                          struct ks_response *resp,
                          const json_t *old,
                          json_t *next)
{
    enum ks_res r = rt->res;
    const char *name = rt->name;
    char q[96];
    if (!ks_check_kind(r, next, resp))
        goto out;
    if (!rt->sub[0] && !ks_field_validation(rq, r, next, resp))
        goto out;
    json_t *md = ks_obj_at(next, "metadata");
    const char *nname = json_string_value(json_object_get(md, "name"));
    if (nname && strcmp(nname, name) != 0) {
        ks_bad_request(resp, "the name of the object does not match the name on the URL");
        goto out;
    }
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    if (rv && *rv && strcmp(rv, ks_str(old, "metadata.resourceVersion")) != 0) {
        ks_status(resp, 409, "Conflict", name, r,
                  "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
                  "please apply your changes to the latest version and try again",
                  ks_res_qualified(r, q, sizeof q), name);
        goto out;
    }
    /* Fields the server owns. */
    static const char *const kept[] = {"name",
                                       "namespace",
                                       "uid",
                                       "creationTimestamp",
                                       "generation",
                                       "deletionTimestamp",
                                       "deletionGracePeriodSeconds",
                                       NULL};
    for (const char *const *k = kept; *k; k++) {
        json_t *v = ks_at(old, "metadata") ? json_object_get(ks_at(old, "metadata"), *k) : NULL;
        if (v)
            json_object_set(md, *k, v);
        else
            json_object_del(md, *k);
    }
    json_object_set_new(next, "kind", json_string(ks_resources[r].kind));
    json_object_set_new(next, "apiVersion", json_string(ks_res_api_version(r)));
    bool status_sub = !strcmp(rt->sub, "status");
    if (status_sub) {
        /* /status writes change only the status. */
        json_t *st = json_incref(json_object_get(next, "status"));
        json_decref(next);
        next = json_deep_copy(old);
        if (st)
            json_object_set_new(next, "status", st);
        md = json_object_get(next, "metadata");
    } else if (json_object_get(old, "status")) {
        json_object_set(next, "status", json_object_get(old, "status"));
    } else {
        json_object_del(next, "status");
    }
    ks_apply_defaults(s, r, next, old);
    struct ks_causes c = {json_array()};
    ks_validate(r, next, &c);
    if ((r == KS_DEPLOYMENTS || r == KS_REPLICASETS) &&
        !json_equal(ks_at(old, "spec.selector"), ks_at(next, "spec.selector")))
        ks_cause(&c, "spec.selector", "FieldValueInvalid", "Invalid value: field is immutable");
    if (ks_reply_invalid(resp, r, name, &c)) {
        json_decref(c.arr);
        goto out;
    }
    json_decref(c.arr);
    if (!json_equal(json_object_get(old, "spec"), json_object_get(next, "spec")))
        json_object_set_new(md, "generation",
                            json_integer(ks_int(old, "metadata.generation", 0) + 1));
    if (ks_is_dry_run(rq) || json_equal(old, next)) {
        /* A no-op write keeps the resourceVersion, as on a real server. */
        const json_t *shown = ks_is_dry_run(rq) ? next : old;
        if (!strcmp(rt->sub, "scale"))
            ks_reply_json(resp, 200, scale_json(shown));
        else
            ks_reply_object(resp, 200, r, rq, (json_t *)shown);
        goto out;
    }
    bool finish = ks_at(next, "metadata.deletionTimestamp") &&
                  json_array_size(ks_at(next, "metadata.finalizers")) == 0 && r != KS_PODS;
    json_t *stored = ks_put(s, r, json_incref(next));
    if (!strcmp(rt->sub, "scale"))
        ks_reply_json(resp, 200, scale_json(stored));
    else
        ks_reply_object(resp, 200, r, rq, stored);
    if (finish)
        ks_remove(s, r, rt->ns, name);
out:
    json_decref(next);
}

static json_t *scale_apply(const json_t *old, const json_t *scale)
{
    json_t *next = json_deep_copy(old);
    json_t *rep = ks_at(scale, "spec.replicas");
    if (json_is_integer(rep))
        json_object_set(ks_obj_at(next, "spec"), "replicas", rep);
    const char *rv = ks_str(scale, "metadata.resourceVersion");
    if (rv)
        json_object_set_new(ks_obj_at(next, "metadata"), "resourceVersion", json_string(rv));
    else
        json_object_del(ks_obj_at(next, "metadata"), "resourceVersion");
    return next;
}

static void handle_put(struct kubesim *s,
                       const struct ks_request *rq,
                       const struct ks_route *rt,
                       struct ks_response *resp,
                       json_t *body,
                       const json_t *old)
{
    json_t *next;
    if (!strcmp(rt->sub, "scale")) {
        next = scale_apply(old, body);
        json_decref(body);
    } else {
        next = body;
    }
    commit_update(s, rq, rt, resp, old, next);
}

static void handle_patch(struct kubesim *s,
                         const struct ks_request *rq,
                         const struct ks_route *rt,
                         struct ks_response *resp,
                         json_t *patch,
                         const json_t *old)
{
    const char *ct = rq->content_type ? rq->content_type : "";
    json_t *next = NULL;
    struct ty_error e = TY_ERROR_INIT;
    const json_t *base = old;
    json_t *scale = NULL;
    if (!strcmp(rt->sub, "scale"))
        base = scale = scale_json(old);
    if (ty_str_has_prefix(ct, "application/merge-patch+json")) {
        next = ks_patch_merge(base, patch);
    } else if (ty_str_has_prefix(ct, "application/strategic-merge-patch+json")) {
        next = ks_patch_strategic(base, patch);
    } else if (ty_str_has_prefix(ct, "application/apply-patch+yaml")) {
        next = ks_patch_strategic(base, patch);
    } else if (ty_str_has_prefix(ct, "application/json-patch+json")) {
        next = ks_patch_json(base, patch, &e);
        if (!next) {
            char msg[700];
            snprintf(msg, sizeof msg,
                     "the server rejected our request due to an error in our "
                     "request: %s",
                     e.msg);
            ks_reply_json(resp, 422, ks_status_json(422, "Invalid", rt->name, rt->res, msg));
            goto out;
        }
    } else {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "the body of the request was in an unknown format - accepted "
                 "media types include: application/json-patch+json, "
                 "application/merge-patch+json, application/apply-patch+yaml, "
                 "application/strategic-merge-patch+json");
        ks_reply_json(resp, 415, ks_status_json(415, "UnsupportedMediaType", NULL, rt->res, msg));
        goto out;
    }
    if (!json_is_object(next)) {
        ks_bad_request(resp, "the patch did not produce an object");
        json_decref(next);
        goto out;
    }
    if (scale) {
        json_t *n2 = scale_apply(old, next);
        json_decref(next);
        next = n2;
    }
    commit_update(s, rq, rt, resp, old, next);
out:
    json_decref(scale);
}

/* ---- dispatch ---- */

/* 403 for the read-only token, worded like the real RBAC denial. */
static void
forbidden(struct ks_response *resp, const struct ks_request *rq, const struct ks_route *rt)
{
    const char *m = rq->method;
    const char *verb = !strcmp(m, "POST")     ? "create"
                       : !strcmp(m, "PUT")    ? "update"
                       : !strcmp(m, "PATCH")  ? "patch"
                       : !strcmp(m, "DELETE") ? (rt->name[0] ? "delete" : "deletecollection")
                                              : "access";
    char q[96], obj[400], where[300] = "";
    const struct ks_resource *d = &ks_resources[rt->res];
    ks_res_qualified(rt->res, q, sizeof q);
    if (rt->name[0])
        snprintf(obj, sizeof obj, "%s \"%s\"", q, rt->name);
    else
        snprintf(obj, sizeof obj, "%s", q);
    if (rt->ns[0])
        snprintf(where, sizeof where, " in the namespace \"%s\"", rt->ns);
    ks_status(resp, 403, "Forbidden", rt->name[0] ? rt->name : "", rt->res,
              "%s is forbidden: User \"kubesim:readonly\" cannot %s resource \"%s%s%s\" in API "
              "group \"%s\"%s",
              obj, verb, d->plural, rt->sub[0] ? "/" : "", rt->sub, d->group, where);
}

static void method_not_allowed(struct ks_response *resp, enum ks_res r)
{
    ks_status(resp, 405, "MethodNotAllowed", NULL, r,
              "the server does not allow this method on the requested resource");
}

/* The pod subresources that need a kubelet and a container runtime. */
static bool subresource_streams(const struct ks_route *rt)
{
    static const char *const subs[] = {"exec", "attach", "portforward", "proxy", NULL};
    if (rt->res != KS_PODS && !(rt->res == KS_SERVICES && !strcmp(rt->sub, "proxy")))
        return false;
    for (const char *const *p = subs; *p; p++)
        if (!strcmp(rt->sub, *p))
            return true;
    return false;
}

/* The subresources served: status of every kind, scale of the workloads, log of pods. */
static bool subresource_known(const struct ks_route *rt)
{
    enum ks_res r = rt->res;
    return !rt->sub[0] || !strcmp(rt->sub, "status") ||
           (!strcmp(rt->sub, "scale") && (r == KS_DEPLOYMENTS || r == KS_REPLICASETS)) ||
           (!strcmp(rt->sub, "log") && r == KS_PODS);
}

/* A watch is checked here (resourceVersion, selectors) and streamed by
 * ks_api_watch() once the caller has sent the head.  A watch of one object
 * (old /watch/ path or ?watch on the object) is a collection watch narrowed
 * by name, as the real server does it. */
static void
start_watch(const struct ks_request *rq, const struct ks_route *rt, struct ks_response *resp)
{
    struct ks_filters f;
    const char *rvq = ks_query_get(&rq->q, "resourceVersion");
    int64_t rvn;
    if (rvq && *rvq && ty_str_to_i64(rvq, 0, INT64_MAX, &rvn) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "resourceVersion: Invalid value: \"%.200s\": must be an integer",
                 rvq);
        ks_bad_request(resp, msg);
        return;
    }
    if (!ks_filters_parse(&f, rt->res, rq, resp))
        return;
    ks_filters_free(&f);
    resp->is_watch = true;
    resp->status = 200;
}

/* GET, POST and DELETE on a collection. */
static void collection_request(struct kubesim *s,
                               const struct ks_request *rq,
                               const struct ks_route *rt,
                               struct ks_response *resp)
{
    const char *m = rq->method;
    enum ks_res r = rt->res;
    if (!strcmp(m, "GET")) {
        handle_list(s, rq, rt, resp);
    } else if (!strcmp(m, "POST")) {
        if (ks_resources[r].namespaced && !rt->ns[0]) {
            method_not_allowed(resp, r);
            return;
        }
        json_t *body = ks_parse_body(rq, resp);
        if (body && ks_check_kind(r, body, resp))
            handle_create(s, rq, rt, resp, body);
        json_decref(body);
    } else if (!strcmp(m, "DELETE")) {
        ks_api_delete_collection(s, rq, rt, resp);
    } else {
        method_not_allowed(resp, r);
    }
}

/* GET of an object or of its scale or log subresource. */
static void object_get(const struct ks_request *rq,
                       const struct ks_route *rt,
                       struct ks_response *resp,
                       json_t *obj)
{
    if (!strcmp(rt->sub, "scale")) {
        ks_reply_json(resp, 200, scale_json(obj));
    } else if (!strcmp(rt->sub, "log")) {
        resp->status = 200;
        resp->content_type = "text/plain";
        ty_buf_printf(&resp->body, "kubesim: pod %s is simulated; phase %s\n", rt->name,
                      ks_str(obj, "status.phase") ? ks_str(obj, "status.phase") : "Unknown");
    } else {
        ks_reply_object(resp, 200, rt->res, rq, obj);
    }
}

/* Server-side apply of a missing object creates it (body stolen). */
static void apply_create(struct kubesim *s,
                         const struct ks_request *rq,
                         const struct ks_route *rt,
                         struct ks_response *resp,
                         json_t *body)
{
    enum ks_res r = rt->res;
    struct ks_route crt = *rt;
    crt.name[0] = 0;
    if (ks_resources[r].namespaced && !ks_ns_exists(s, rt->ns, resp)) {
        /* replied */
    } else if (!ks_query_get(&rq->q, "fieldManager")) {
        ks_reply_json(resp, 422,
                      ks_status_json(422, "Invalid", NULL, r,
                                     "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: "
                                     "Required value: is required for apply patch"));
    } else if (ks_check_kind(r, body, resp)) {
        handle_create(s, rq, &crt, resp, body);
    }
    json_decref(body);
}

/* PUT and PATCH of an object (obj NULL: an apply that creates it). */
static void object_write(struct kubesim *s,
                         const struct ks_request *rq,
                         const struct ks_route *rt,
                         struct ks_response *resp,
                         json_t *obj)
{
    json_t *body = ks_parse_body(rq, resp);
    if (!body)
        return; /* replied */
    if (!obj) {
        apply_create(s, rq, rt, resp, body);
    } else if (!strcmp(rq->method, "PUT")) {
        handle_put(s, rq, rt, resp, body, obj);
    } else {
        handle_patch(s, rq, rt, resp, body, obj);
        json_decref(body);
    }
}

static bool is_apply_patch(const struct ks_request *rq)
{
    return !strcmp(rq->method, "PATCH") && rq->content_type &&
           ty_str_has_prefix(rq->content_type, "application/apply-patch");
}

/* GET, PUT, PATCH and DELETE on one object. */
static void object_request(struct kubesim *s,
                           const struct ks_request *rq,
                           const struct ks_route *rt,
                           struct ks_response *resp)
{
    const char *m = rq->method;
    enum ks_res r = rt->res;
    json_t *obj = ks_get(s, r, rt->ns[0] ? rt->ns : NULL, rt->name);
    if (!obj && !is_apply_patch(rq)) {
        ks_not_found(resp, r, rt->name);
        return;
    }
    obj = json_incref(obj);
    if (!strcmp(m, "GET"))
        object_get(rq, rt, resp, obj);
    else if (!strcmp(m, "PUT") || !strcmp(m, "PATCH"))
        object_write(s, rq, rt, resp, obj);
    else if (!strcmp(m, "DELETE"))
        ks_api_delete(s, rq, rt, resp, obj);
    else
        method_not_allowed(resp, r);
    json_decref(obj);
}

static void handle_locked(struct kubesim *s, const struct ks_request *rq, struct ks_response *resp)
{
    struct ks_route rt;
    const char *m = rq->method;
    if (!strcmp(m, "GET") && (ks_api_discovery(rq, resp) || ks_api_openapi(rq, resp)))
        return;
    if (!strncmp(rq->path, "/openapi/", 9) || !ks_route_parse(rq->path, &rt)) {
        ks_reply_json(resp, 404,
                      ks_status_json(404, "NotFound", NULL, KS_PODS,
                                     "the server could not find the requested resource"));
        return;
    }
    if (rt.metrics) {
        ks_api_metrics(s, rq, &rt, resp);
        return;
    }
    if (rq->readonly && strcmp(m, "GET") != 0) {
        forbidden(resp, rq, &rt);
        return;
    }
    if (subresource_streams(&rt) && !ks_get(s, rt.res, rt.ns[0] ? rt.ns : NULL, rt.name)) {
        ks_not_found(resp, rt.res, rt.name);
        return;
    }
    if (subresource_streams(&rt)) {
        /* kubectl exec, attach, port-forward and proxy print this Status (over
         * a websocket attempt and then SPDY alike) instead of a bare 404. */
        char q[96];
        ks_status(resp, 400, "BadRequest", rt.name, rt.res,
                  "%s \"%s\": %s is not supported by the simulated cluster (tycho kube-sim runs "
                  "no containers; pods/log answers with one line)",
                  ks_res_qualified(rt.res, q, sizeof q), rt.name, rt.sub);
        return;
    }
    if (!subresource_known(&rt)) {
        ks_reply_json(resp, 404,
                      ks_status_json(404, "NotFound", NULL, rt.res,
                                     "the server could not find the requested resource"));
        return;
    }
    bool watch = rt.watch_prefix || ks_query_bool(&rq->q, "watch");
    if (!strcmp(m, "GET") && watch && !rt.sub[0])
        start_watch(rq, &rt, resp);
    else if (!rt.name[0])
        collection_request(s, rq, &rt, resp);
    else
        object_request(s, rq, &rt, resp);
}

void ks_api_handle(struct kubesim *s, const struct ks_request *rq, struct ks_response *resp)
{
    pthread_mutex_lock(&s->mu);
    handle_locked(s, rq, resp);
    pthread_mutex_unlock(&s->mu);
}
