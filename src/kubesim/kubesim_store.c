/*
 * kubesim_store.c - the object store of the simulated cluster.
 *
 * Objects live in one jansson object per resource kind, keyed "ns/name" (or
 * "name" for namespaces).  Every write takes the next global resourceVersion
 * (an integer, served as a string) and appends one event to a ring of the last
 * KS_HISTORY events, which is what watches replay from; a watch asking for a
 * version older than the ring gets 410 Expired, as from a compacted etcd.
 * Stored trees are never modified in place (see kubesim_int.h).  The state
 * file is the same data as JSON, written atomically by the controller thread
 * (debounced) and at stop.
 */
#include "kubesim/kubesim_int.h"
#include "util/crypto.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct ks_resource ks_resources[KS_NRES] = {
    [KS_PODS] = {"pods", "pod", "Pod", "", "v1", "po", true},
    [KS_SERVICES] = {"services", "service", "Service", "", "v1", "svc", true},
    [KS_PVCS] = {"persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", "",
                 "v1", "pvc", true},
    [KS_CONFIGMAPS] = {"configmaps", "configmap", "ConfigMap", "", "v1", "cm", true},
    [KS_SECRETS] = {"secrets", "secret", "Secret", "", "v1", NULL, true},
    [KS_EVENTS] = {"events", "event", "Event", "", "v1", "ev", true},
    [KS_NAMESPACES] = {"namespaces", "namespace", "Namespace", "", "v1", "ns", false},
    [KS_DEPLOYMENTS] = {"deployments", "deployment", "Deployment", "apps", "v1", "deploy", true},
    [KS_REPLICASETS] = {"replicasets", "replicaset", "ReplicaSet", "apps", "v1", "rs", true},
    [KS_NETPOLS] = {"networkpolicies", "networkpolicy", "NetworkPolicy", "networking.k8s.io", "v1",
                    "netpol", true},
    [KS_INGRESSES] = {"ingresses", "ingress", "Ingress", "networking.k8s.io", "v1", "ing", true},
};

const char *ks_res_qualified(enum ks_res r, char *buf, size_t n)
{
    const struct ks_resource *d = &ks_resources[r];
    if (!d->group[0])
        snprintf(buf, n, "%s", d->plural);
    else
        snprintf(buf, n, "%s.%s", d->plural, d->group);
    return buf;
}

const char *ks_res_api_version(enum ks_res r)
{
    switch (r) {
    case KS_DEPLOYMENTS:
    case KS_REPLICASETS:
        return "apps/v1";
    case KS_NETPOLS:
    case KS_INGRESSES:
        return "networking.k8s.io/v1";
    default:
        return "v1";
    }
}

/* ---- json helpers ---- */

json_t *ks_at(const json_t *obj, const char *path)
{
    const char *p = path;
    json_t *cur = (json_t *)obj;
    char part[128];
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part)
            return NULL;
        memcpy(part, p, n);
        part[n] = 0;
        cur = json_is_object(cur) ? json_object_get(cur, part) : NULL;
        p += n;
        if (*p == '.')
            p++;
    }
    return cur;
}

const char *ks_str(const json_t *obj, const char *path)
{
    return json_string_value(ks_at(obj, path));
}

long ks_int(const json_t *obj, const char *path, long dflt)
{
    json_t *v = ks_at(obj, path);
    return json_is_integer(v) ? (long)json_integer_value(v) : dflt;
}

json_t *ks_obj_at(json_t *obj, const char *path)
{
    const char *p = path;
    json_t *cur = obj;
    char part[128];
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part)
            n = sizeof part - 1;
        memcpy(part, p, n);
        part[n] = 0;
        json_t *next = json_object_get(cur, part);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(cur, part, next);
        }
        cur = next;
        p += n;
        if (*p == '.')
            p++;
    }
    return cur;
}

void ks_now_iso(char out[32])
{
    ty_time_format_iso(out, 32, ty_time_now_ms(), 0);
}

uint64_t ks_rand(struct kubesim *s)
{
    /* xorshift64*: good enough for names and fault dice, seeded at start. */
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 2685821657736338717ULL;
}

void ks_rand_suffix(struct kubesim *s, char *out, size_t n)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[ks_rand(s) % (sizeof alphabet - 1)];
    out[n] = 0;
}

void ks_meta_init(struct kubesim *s, json_t *obj)
{
    char guid[33], uid[37], now[32];
    json_t *md = ks_obj_at(obj, "metadata");
    ty_guid_new(guid);
    snprintf(uid, sizeof uid, "%.8s-%.4s-%.4s-%.4s-%.12s", guid, guid + 8, guid + 12, guid + 16,
             guid + 20);
    ks_now_iso(now);
    json_object_set_new(md, "uid", json_string(uid));
    json_object_set_new(md, "creationTimestamp", json_string(now));
    json_object_del(md, "resourceVersion");
    json_object_del(md, "deletionTimestamp");
    json_object_del(md, "deletionGracePeriodSeconds");
    (void)s;
}

const char *ks_key(enum ks_res r, const char *ns, const char *name, char *buf, size_t n)
{
    if (ks_resources[r].namespaced)
        snprintf(buf, n, "%s/%s", ns ? ns : "", name);
    else
        snprintf(buf, n, "%s", name);
    return buf;
}

static const char *obj_key(enum ks_res r, const json_t *obj, char *buf, size_t n)
{
    return ks_key(r, ks_str(obj, "metadata.namespace"), ks_str(obj, "metadata.name"), buf, n);
}

json_t *ks_get(struct kubesim *s, enum ks_res r, const char *ns, const char *name)
{
    char key[600];
    return json_object_get(s->objs[r], ks_key(r, ns, name, key, sizeof key));
}

json_t *ks_get_uid(struct kubesim *s, const char *uid, enum ks_res *res_out)
{
    json_t *e = uid ? json_object_get(s->uids, uid) : NULL;
    if (!e)
        return NULL;
    enum ks_res r = (enum ks_res)json_integer_value(json_array_get(e, 0));
    if (res_out)
        *res_out = r;
    return json_object_get(s->objs[r], json_string_value(json_array_get(e, 1)));
}

long ks_compact(struct kubesim *s)
{
    for (int i = 0; i < KS_HISTORY; i++) {
        struct ks_event *e = &s->hist[i];
        json_decref(e->obj);
        json_decref(e->old);
        e->obj = e->old = NULL;
    }
    s->hist_oldest = s->rv + 1;
    return s->rv;
}

static void record(struct kubesim *s, enum ks_res r, enum ks_ev_type type, json_t *obj, json_t *old)
{
    struct ks_event *e = &s->hist[s->rv % KS_HISTORY];
    if (e->obj) {
        json_decref(e->obj);
        json_decref(e->old);
        s->hist_oldest = e->rv + 1;
    }
    e->rv = s->rv;
    e->type = type;
    e->res = r;
    e->obj = json_incref(obj);
    e->old = old ? json_incref(old) : NULL;
    if (!s->dirty)
        s->dirty_ms = ty_time_mono_ms();
    s->dirty = true;
    pthread_cond_broadcast(&s->cond);
}

static void set_rv(json_t *obj, long rv)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", rv);
    json_object_set_new(ks_obj_at(obj, "metadata"), "resourceVersion", json_string(buf));
}

/* ---- the controller's work queue and the owner index ---- */

const char *ks_work_key(enum ks_res r, const char *key, char *buf, size_t n)
{
    snprintf(buf, n, "%d:%s", (int)r, key);
    return buf;
}

const char *ks_work_split(const char *wkey, enum ks_res *r)
{
    char *end;
    long v = strtol(wkey, &end, 10);
    if (end == wkey || *end != ':' || v < 0 || v >= KS_NRES)
        return NULL;
    *r = (enum ks_res)v;
    return end + 1;
}

void ks_enqueue(struct kubesim *s, enum ks_res r, const char *key)
{
    char wkey[620];
    json_object_set_new(s->work, ks_work_key(r, key, wkey, sizeof wkey), json_true());
}

static void enqueue_uid(struct kubesim *s, const char *uid)
{
    json_t *e = uid ? json_object_get(s->uids, uid) : NULL;
    if (e)
        ks_enqueue(s, (enum ks_res)json_integer_value(json_array_get(e, 0)),
                   json_string_value(json_array_get(e, 1)));
}

/* Adds (or removes) wkey under every owner uid obj names. */
static void index_owners(struct kubesim *s, const char *wkey, const json_t *obj, bool add)
{
    size_t i;
    json_t *ref;
    json_array_foreach(ks_at(obj, "metadata.ownerReferences"), i, ref)
    {
        const char *uid = ks_str(ref, "uid");
        json_t *set = uid ? json_object_get(s->deps, uid) : NULL;
        if (!uid)
            continue;
        if (add) {
            if (!set) {
                set = json_object();
                json_object_set_new(s->deps, uid, set);
            }
            json_object_set_new(set, wkey, json_true());
        } else if (set) {
            json_object_del(set, wkey);
            if (json_object_size(set) == 0)
                json_object_del(s->deps, uid);
        }
    }
}

static void enqueue_owners(struct kubesim *s, const json_t *obj)
{
    size_t i;
    json_t *ref;
    json_array_foreach(ks_at(obj, "metadata.ownerReferences"), i, ref)
    {
        enqueue_uid(s, ks_str(ref, "uid"));
    }
}

static void enqueue_dependents(struct kubesim *s, const char *uid)
{
    json_t *set = uid ? json_object_get(s->deps, uid) : NULL;
    const char *wkey;
    json_t *v;
    json_object_foreach(set, wkey, v)
    {
        json_object_set_new(s->work, wkey, json_true());
    }
}

/* Kinds the controller acts on, or objects garbage collection must check. */
static bool wants_control(enum ks_res r, const json_t *obj)
{
    return r == KS_PODS || r == KS_REPLICASETS || r == KS_DEPLOYMENTS || r == KS_PVCS ||
           json_array_size(ks_at(obj, "metadata.ownerReferences")) > 0 ||
           json_array_size(ks_at(obj, "metadata.finalizers")) > 0;
}

/* Adds (or removes) key under each "label=value" of obj in the label index. */
static void index_labels(struct kubesim *s, enum ks_res r, const char *key, const json_t *obj,
                         bool add)
{
    const char *k;
    json_t *v;
    json_object_foreach(ks_at(obj, "metadata.labels"), k, v)
    {
        char lk[1024];
        if (!json_is_string(v))
            continue;
        snprintf(lk, sizeof lk, "%s=%s", k, json_string_value(v));
        json_t *set = json_object_get(s->labels[r], lk);
        if (add) {
            if (!set) {
                set = json_object();
                json_object_set_new(s->labels[r], lk, set);
            }
            json_object_set_new(set, key, json_true());
        } else if (set) {
            json_object_del(set, key);
            if (json_object_size(set) == 0)
                json_object_del(s->labels[r], lk);
        }
    }
}

static const char *event_agg_key(const char *ns,
                                 const char *uid,
                                 const char *reason,
                                 const char *msg,
                                 char *buf,
                                 size_t n)
{
    if (!ns || !uid || !*uid || !reason || !msg)
        return NULL;
    snprintf(buf, n, "%s\x1f%s\x1f%s\x1f%s", ns, uid, reason, msg);
    return buf;
}

static void index_event(struct kubesim *s, const char *key, const json_t *ev, bool add)
{
    char ak[2048];
    const char *a = event_agg_key(ks_str(ev, "metadata.namespace"), ks_str(ev, "involvedObject.uid"),
                                  ks_str(ev, "reason"), ks_str(ev, "message"), ak, sizeof ak);
    if (add) {
        if (a)
            json_object_set_new(s->ev_agg, a, json_string(key));
        /* A rewrite removed the key first (track), so it moves to the end. */
        json_object_set_new(s->ev_recent, key, json_true());
    } else {
        const char *cur = a ? json_string_value(json_object_get(s->ev_agg, a)) : NULL;
        if (cur && !strcmp(cur, key))
            json_object_del(s->ev_agg, a);
        json_object_del(s->ev_recent, key);
    }
}

json_t *ks_event_find(struct kubesim *s,
                      const char *ns,
                      const char *uid,
                      const char *reason,
                      const char *msg)
{
    char ak[2048];
    const char *a = event_agg_key(ns, uid, reason, msg, ak, sizeof ak);
    const char *key = a ? json_string_value(json_object_get(s->ev_agg, a)) : NULL;
    return key ? json_object_get(s->objs[KS_EVENTS], key) : NULL;
}

json_t *ks_event_oldest(struct kubesim *s)
{
    /* jansson iterates objects in insertion order. */
    void *it = json_object_iter(s->ev_recent);
    return it ? json_object_get(s->objs[KS_EVENTS], json_object_iter_key(it)) : NULL;
}

/* Keeps the indexes and the work queue in step with a write: obj replaces
 * old (either may be NULL). */
static void track(struct kubesim *s, enum ks_res r, const char *key, json_t *old, json_t *obj)
{
    char wkey[620];
    ks_work_key(r, key, wkey, sizeof wkey);
    if (!old || !obj ||
        !json_equal(ks_at(old, "metadata.labels"), ks_at(obj, "metadata.labels"))) {
        index_labels(s, r, key, old, false);
        index_labels(s, r, key, obj, true);
    }
    if (r == KS_EVENTS) {
        if (old)
            index_event(s, key, old, false);
        if (obj)
            index_event(s, key, obj, true);
    }
    if (old)
        index_owners(s, wkey, old, false);
    if (obj) {
        index_owners(s, wkey, obj, true);
        if (wants_control(r, obj))
            json_object_set_new(s->work, wkey, json_true());
    }
    enqueue_owners(s, old);
    enqueue_owners(s, obj);
    if (!obj || ks_at(obj, "metadata.deletionTimestamp"))
        enqueue_dependents(s, ks_str(obj ? obj : old, "metadata.uid"));
}

void ks_enqueue_all(struct kubesim *s)
{
    for (int r = 0; r < KS_NRES; r++) {
        const char *key;
        json_t *v;
        json_object_foreach(s->objs[r], key, v)
        {
            if (wants_control((enum ks_res)r, v))
                ks_enqueue(s, (enum ks_res)r, key);
        }
    }
}

bool ks_has_dependents(struct kubesim *s, const char *uid)
{
    return uid && json_object_size(json_object_get(s->deps, uid)) > 0;
}

json_t *ks_dependents(struct kubesim *s, const json_t *owner, enum ks_res r)
{
    json_t *out = json_array(), *v;
    const char *uid = ks_str(owner, "metadata.uid"), *wkey;
    json_object_foreach(uid ? json_object_get(s->deps, uid) : NULL, wkey, v)
    {
        enum ks_res dr;
        const char *key = ks_work_split(wkey, &dr);
        json_t *dep = key && dr == r ? json_object_get(s->objs[r], key) : NULL;
        if (dep)
            json_array_append(out, dep);
    }
    return out;
}

json_t *ks_put(struct kubesim *s, enum ks_res r, json_t *obj)
{
    char key[600];
    obj_key(r, obj, key, sizeof key);
    json_t *old = json_object_get(s->objs[r], key);
    json_incref(old);
    set_rv(obj, ++s->rv);
    json_object_set_new(s->objs[r], key, obj);
    const char *uid = ks_str(obj, "metadata.uid");
    if (uid && !old)
        json_object_set_new(s->uids, uid, json_pack("[is]", (int)r, key));
    track(s, r, key, old, obj);
    record(s, r, old ? KS_MODIFIED : KS_ADDED, obj, old);
    json_decref(old);
    return obj;
}

void ks_remove(struct kubesim *s, enum ks_res r, const char *ns, const char *name)
{
    char key[600];
    ks_key(r, ns, name, key, sizeof key);
    json_t *old = json_object_get(s->objs[r], key);
    if (!old)
        return;
    json_incref(old);
    json_object_del(s->objs[r], key);
    const char *uid = ks_str(old, "metadata.uid");
    if (uid) {
        json_object_del(s->uids, uid);
        /* The controller's private state of the object dies with it. */
        json_object_del(s->podsim, uid);
    }
    track(s, r, key, old, NULL);
    json_t *gone = json_deep_copy(old);
    set_rv(gone, ++s->rv);
    record(s, r, KS_DELETED, gone, old);
    json_decref(gone);
    json_decref(old);
}

static int cmp_order(const void *a, const void *b, void *keys)
{
    const char **k = keys;
    return strcmp(k[*(const size_t *)a], k[*(const size_t *)b]);
}

json_t *ks_list_match(struct kubesim *s,
                      enum ks_res r,
                      const char *ns,
                      const struct ks_selector *labels,
                      bool (*match)(const json_t *obj, void *payload),
                      void *payload)
{
    /* With pinned labels only the objects carrying the rarest one are
     * candidates. */
    json_t *from = s->objs[r];
    bool indexed = false;
    const char *value, *lkey;
    int req = 0;
    while ((lkey = ks_selector_pinned(labels, &req, &value)) != NULL) {
        char lk[1024];
        snprintf(lk, sizeof lk, "%s=%s", lkey, value);
        json_t *set = json_object_get(s->labels[r], lk);
        if (!indexed || json_object_size(set) < json_object_size(from))
            from = set;
        indexed = true;
    }
    size_t n = json_object_size(from), k = 0;
    const char **keys = ty_xcalloc(n ? n : 1, sizeof *keys);
    json_t **vals = ty_xcalloc(n ? n : 1, sizeof *vals);
    size_t nsl = ns ? strlen(ns) : 0;
    /* Plain iterators: json_object_foreach() re-hashes every key to step. */
    for (void *it = json_object_iter(from); it; it = json_object_iter_next(from, it)) {
        const char *key = json_object_iter_key(it);
        json_t *v = indexed ? json_object_get(s->objs[r], key) : json_object_iter_value(it);
        /* Keys are "ns/name", so the namespace test needs no lookup. */
        if (ns && ks_resources[r].namespaced && (strncmp(key, ns, nsl) != 0 || key[nsl] != '/'))
            continue;
        if (!v || (match && !match(v, payload)))
            continue;
        keys[k] = key;
        vals[k++] = v;
    }
    /* Sorting only what matched keeps selector lists cheap on big namespaces. */
    size_t *order = ty_xcalloc(k ? k : 1, sizeof *order);
    for (size_t i = 0; i < k; i++)
        order[i] = i;
    qsort_r(order, k, sizeof *order, cmp_order, keys);
    json_t *arr = json_array();
    for (size_t i = 0; i < k; i++)
        json_array_append(arr, vals[order[i]]);
    free(order);
    free(vals);
    free(keys);
    return arr;
}

json_t *ks_list(struct kubesim *s, enum ks_res r, const char *ns)
{
    return ks_list_match(s, r, ns, NULL, NULL, NULL);
}

/* ---- persistence ---- */

int ks_state_save(struct kubesim *s, const char *path, struct ty_error *err)
{
    json_t *root = json_object(), *objs = json_array();
    for (int r = 0; r < KS_NRES; r++) {
        const char *key;
        json_t *v;
        json_object_foreach(s->objs[r], key, v)
        {
            json_array_append_new(
                objs, json_pack("{s:s,s:O}", "resource", ks_resources[r].plural, "object", v));
        }
    }
    json_object_set_new(root, "resourceVersion", json_integer(s->rv));
    json_object_set_new(root, "objects", objs);
    json_object_set(root, "metrics", s->metrics);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    int rc = ty_file_write_atomic(path, text, strlen(text), err);
    free(text);
    if (rc == 0)
        s->dirty = false;
    return rc;
}

int ks_state_load(struct kubesim *s, const char *path, struct ty_error *err)
{
    char *text = NULL;
    json_error_t je;
    json_t *root = NULL;
    int rc = ty_file_read(&text, NULL, path, 256u << 20, err);
    if (rc == TY_ENOTFOUND) {
        ty_error_clear(err);
        return 0;
    }
    if (rc != 0)
        return rc;
    root = json_loads(text, 0, &je);
    free(text);
    if (!json_is_object(root)) {
        rc = ty_error_set(err, TY_EINVAL, "%s:%d:%d: %s", path, je.line, je.column,
                          root ? "expected a JSON object" : je.text);
        goto out;
    }
    json_t *objs = json_object_get(root, "objects"), *item;
    size_t i;
    json_array_foreach(objs, i, item)
    {
        const char *res = json_string_value(json_object_get(item, "resource"));
        json_t *obj = json_object_get(item, "object");
        int r;
        for (r = 0; r < KS_NRES; r++)
            if (res && !strcmp(res, ks_resources[r].plural))
                break;
        if (r == KS_NRES || !json_is_object(obj) || !ks_str(obj, "metadata.name")) {
            rc = ty_error_set(err, TY_EINVAL, "%s: objects[%zu]: not a stored object", path, i);
            goto out;
        }
        char key[600];
        obj_key((enum ks_res)r, obj, key, sizeof key);
        json_object_set(s->objs[r], key, obj);
        const char *uid = ks_str(obj, "metadata.uid");
        if (uid)
            json_object_set_new(s->uids, uid, json_pack("[is]", r, key));
        track(s, (enum ks_res)r, key, NULL, obj);
    }
    json_int_t rv = json_integer_value(json_object_get(root, "resourceVersion"));
    if (rv > s->rv)
        s->rv = (long)rv;
    s->hist_oldest = s->rv + 1;
    json_t *m = json_object_get(root, "metrics");
    if (json_is_object(m))
        json_object_update(s->metrics, m);
out:
    json_decref(root);
    return rc;
}

void ks_store_free(struct kubesim *s)
{
    for (int r = 0; r < KS_NRES; r++)
        json_decref(s->objs[r]);
    json_decref(s->uids);
    json_decref(s->deps);
    json_decref(s->work);
    json_decref(s->timed);
    for (int r = 0; r < KS_NRES; r++)
        json_decref(s->labels[r]);
    json_decref(s->ev_agg);
    json_decref(s->ev_recent);
    for (int i = 0; i < KS_HISTORY; i++) {
        json_decref(s->hist[i].obj);
        json_decref(s->hist[i].old);
    }
    json_decref(s->podsim);
    json_decref(s->metrics);
}
