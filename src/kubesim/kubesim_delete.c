/*
 * kubesim_delete.c - deletion as the API server and the garbage collector do
 * it: DeleteOptions (query or body), preconditions, the three propagation
 * policies, graceful pod termination, finalizers, and delete-collection.
 */
#include "kubesim/kubesim_int.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deletion ---- */

/* Drops uid from the ownerReferences of every object that names it. */
static void orphan_dependents(struct kubesim *s, const char *uid)
{
    /* A copy: each ks_put() below edits the owner index being walked. */
    json_t *set = json_copy(json_object_get(s->deps, uid)), *v;
    const char *wkey;
    json_object_foreach(set, wkey, v)
    {
        enum ks_res r;
        const char *key = ks_work_split(wkey, &r);
        json_t *obj = key ? json_object_get(s->objs[r], key) : NULL;
        json_t *refs = ks_at(obj, "metadata.ownerReferences"), *ref;
        json_t *keep = json_array();
        size_t j;
        json_array_foreach(refs, j, ref)
        {
            const char *u = ks_str(ref, "uid");
            if (!u || strcmp(u, uid) != 0)
                json_array_append(keep, ref);
        }
        if (obj && json_array_size(keep) != json_array_size(refs)) {
            json_t *copy = json_deep_copy(obj);
            if (json_array_size(keep))
                json_object_set(json_object_get(copy, "metadata"), "ownerReferences", keep);
            else
                json_object_del(json_object_get(copy, "metadata"), "ownerReferences");
            ks_put(s, r, copy);
        }
        json_decref(keep);
    }
    json_decref(set);
}

void ks_delete_object(
    struct kubesim *s, enum ks_res r, json_t *obj, const char *propagation, long grace_s)
{
    char ns[256] = "", name[300], uid[64] = "", now[32];
    ty_strlcpy(name, ks_str(obj, "metadata.name"), sizeof name);
    if (ks_str(obj, "metadata.namespace"))
        ty_strlcpy(ns, ks_str(obj, "metadata.namespace"), sizeof ns);
    if (ks_str(obj, "metadata.uid"))
        ty_strlcpy(uid, ks_str(obj, "metadata.uid"), sizeof uid);
    bool terminating = ks_at(obj, "metadata.deletionTimestamp") != NULL;
    ks_now_iso(now);

    if (r == KS_NAMESPACES) {
        for (int k = 0; k < KS_NRES; k++) {
            if (!ks_resources[k].namespaced)
                continue;
            json_t *items = ks_list(s, (enum ks_res)k, name);
            size_t i;
            json_t *v;
            json_array_foreach(items, i, v)
            {
                ks_remove(s, (enum ks_res)k, name, ks_str(v, "metadata.name"));
            }
            json_decref(items);
        }
        ks_remove(s, r, NULL, name);
        return;
    }
    if (propagation && !strcmp(propagation, "Orphan"))
        orphan_dependents(s, uid);
    if (terminating) {
        if (r == KS_PODS && grace_s == 0)
            ks_remove(s, r, ns, name);
        return;
    }
    json_t *fin = ks_at(obj, "metadata.finalizers");
    bool foreground =
        propagation && !strcmp(propagation, "Foreground") && ks_has_dependents(s, uid);
    if (foreground || json_array_size(fin) > 0 || (r == KS_PODS && grace_s != 0)) {
        json_t *copy = json_deep_copy(obj);
        json_t *md = json_object_get(copy, "metadata");
        json_object_set_new(md, "deletionTimestamp", json_string(now));
        if (r == KS_PODS) {
            long g = grace_s >= 0 ? grace_s : ks_int(obj, "spec.terminationGracePeriodSeconds", 30);
            json_object_set_new(md, "deletionGracePeriodSeconds", json_integer(g));
        } else {
            json_object_set_new(md, "deletionGracePeriodSeconds", json_integer(0));
        }
        if (foreground) {
            json_t *f = json_object_get(md, "finalizers");
            if (!json_is_array(f)) {
                f = json_array();
                json_object_set_new(md, "finalizers", f);
            }
            json_array_append_new(f, json_string("foregroundDeletion"));
        }
        json_t *stored = ks_put(s, r, copy);
        if (r == KS_PODS) {
            size_t i;
            json_t *c;
            json_array_foreach(ks_at(obj, "spec.containers"), i, c)
            {
                char msg[300];
                snprintf(msg, sizeof msg, "Stopping container %s",
                         ks_str(c, "name") ? ks_str(c, "name") : "");
                ks_emit_event(s, stored, "Normal", "Killing", msg);
            }
        }
        return;
    }
    ks_remove(s, r, ns, name);
}

/* ---- delete ---- */

/* DeleteOptions, from the query string and the body (the body wins). */
struct delete_opts {
    const char *prop; /* propagationPolicy or NULL; borrowed from the request or body */
    long grace;       /* gracePeriodSeconds; -1 when not given */
    json_t *body;     /* the decoded body (owned) or NULL */
};

/* Reads the DeleteOptions of rq into o; on a bad one replies 400 or 422 and
 * returns false.  Free o->body with json_decref() either way. */
static bool delete_options(const struct ks_request *rq,
                           enum ks_res r,
                           struct delete_opts *o,
                           struct ks_response *resp)
{
    char msg[400];
    int64_t g = -1;
    const char *gq = ks_query_get(&rq->q, "gracePeriodSeconds");
    const char *oq = ks_query_get(&rq->q, "orphanDependents");
    bool has_orphan = oq != NULL, orphan = ks_query_bool(&rq->q, "orphanDependents");
    bool has_grace = gq != NULL;
    memset(o, 0, sizeof *o);
    o->prop = ks_query_get(&rq->q, "propagationPolicy");
    if (gq && ty_str_to_i64(gq, INT64_MIN, INT64_MAX, &g) != 0) {
        snprintf(msg, sizeof msg, "gracePeriodSeconds: invalid value \"%.200s\": not an integer",
                 gq);
        ks_bad_request(resp, msg);
        return false;
    }
    if (rq->body && rq->body_len) {
        json_error_t je;
        json_t *v;
        o->body = json_loadb(rq->body, rq->body_len, 0, &je);
        if (!json_is_object(o->body)) {
            snprintf(msg, sizeof msg, "DeleteOptions: line %d, column %d: %s", je.line, je.column,
                     o->body ? "not a JSON object" : je.text);
            ks_bad_request(resp, msg);
            return false;
        }
        if ((v = json_object_get(o->body, "propagationPolicy")) && json_is_string(v))
            o->prop = json_string_value(v);
        if ((v = json_object_get(o->body, "gracePeriodSeconds")) && json_is_integer(v)) {
            g = json_integer_value(v);
            has_grace = true;
        }
        if ((v = json_object_get(o->body, "orphanDependents")) && json_is_boolean(v)) {
            orphan = json_is_true(v);
            has_orphan = true;
        }
    }
    if (has_orphan && o->prop) {
        snprintf(msg, sizeof msg,
                 "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: "
                 "\"%.100s\": orphanDependents and deletionPropagation cannot be both set",
                 o->prop);
        ks_reply_json(resp, 422, ks_status_json(422, "Invalid", NULL, r, msg));
        return false;
    }
    if (orphan)
        o->prop = "Orphan";
    if (o->prop && strcmp(o->prop, "Background") && strcmp(o->prop, "Foreground") &&
        strcmp(o->prop, "Orphan")) {
        snprintf(msg, sizeof msg,
                 "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported "
                 "value: \"%.200s\": supported values: \"Foreground\", \"Background\", \"Orphan\"",
                 o->prop);
        ks_reply_json(resp, 422, ks_status_json(422, "Invalid", NULL, r, msg));
        return false;
    }
    /* A negative grace period counts as 1 s on the delete path (apiserver BeforeDelete). */
    o->grace = !has_grace ? -1 : g < 0 ? 1 : (long)g;
    return true;
}

void ks_api_delete(struct kubesim *s,
                   const struct ks_request *rq,
                   const struct ks_route *rt,
                   struct ks_response *resp,
                   json_t *obj)
{
    enum ks_res r = rt->res;
    struct delete_opts o;
    if (!delete_options(rq, r, &o, resp))
        goto out;
    json_t *pre = json_object_get(o.body, "preconditions");
    const char *puid = ks_str(pre, "uid"), *prv = ks_str(pre, "resourceVersion");
    char q[96];
    if ((puid && strcmp(puid, ks_str(obj, "metadata.uid"))) ||
        (prv && strcmp(prv, ks_str(obj, "metadata.resourceVersion")))) {
        ks_status(resp, 409, "Conflict", rt->name, r,
                  "Operation cannot be fulfilled on %s \"%s\": Precondition failed: %s",
                  ks_res_qualified(r, q, sizeof q), rt->name,
                  puid ? "UID in precondition does not match"
                       : "ResourceVersion in "
                         "precondition does not match");
        goto out;
    }
    json_t *keep = json_incref(obj);
    if (!ks_is_dry_run(rq))
        ks_delete_object(s, r, obj, o.prop, o.grace);
    json_t *now = ks_get(s, r, rt->ns[0] ? rt->ns : NULL, rt->name);
    if (r == KS_PODS || r == KS_NAMESPACES || (now && ks_at(now, "metadata.deletionTimestamp"))) {
        ks_reply_object(resp, 200, r, rq, now ? now : keep);
    } else {
        json_t *st = ks_status_json(200, "", rt->name, r, "");
        json_object_del(st, "reason");
        json_object_del(st, "message");
        json_object_set_new(json_object_get(st, "details"), "uid",
                            json_string(ks_str(keep, "metadata.uid")));
        ks_reply_json(resp, 200, st);
    }
    json_decref(keep);
out:
    json_decref(o.body);
}

void ks_api_delete_collection(struct kubesim *s,
                              const struct ks_request *rq,
                              const struct ks_route *rt,
                              struct ks_response *resp)
{
    struct ks_filters f;
    enum ks_res r = rt->res;
    if (!ks_filters_parse(&f, r, rq, resp))
        return;
    struct delete_opts o;
    if (!delete_options(rq, r, &o, resp)) {
        json_decref(o.body);
        ks_filters_free(&f);
        return;
    }
    json_t *all = ks_list_match(s, r, rt->ns[0] ? rt->ns : NULL, f.labels, ks_filters_match_cb, &f);
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v)
    {
        if (!ks_is_dry_run(rq))
            ks_delete_object(s, r, v, o.prop, o.grace);
    }
    json_decref(all);
    json_decref(o.body);
    ks_filters_free(&f);
    json_t *st = ks_status_json(200, "", NULL, r, "");
    json_object_del(st, "reason");
    json_object_del(st, "message");
    ks_reply_json(resp, 200, st);
}
