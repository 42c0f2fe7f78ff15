/*
 * kubesim_int.h - private to src/kubesim/: the shared state of the simulated
 * cluster and the helpers its files use on each other.
 *
 * One mutex (s->mu) guards everything in struct kubesim except the fields
 * marked "set once"; s->cond is broadcast after every store change and on stop,
 * so watch handlers and the controller wake up.  Stored objects are immutable
 * jansson trees: a change builds a new tree and replaces the old one, so watch
 * history entries can keep references to old versions without copying.
 */
#ifndef TY_KUBESIM_INT_H
#define TY_KUBESIM_INT_H

#include "kubesim/kubesim.h"
#include "util/buf.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

/* Resource kinds, in the order of ks_resources[]. */
enum ks_res {
    KS_PODS,
    KS_SERVICES,
    KS_PVCS,
    KS_CONFIGMAPS,
    KS_SECRETS,
    KS_EVENTS,
    KS_NAMESPACES,
    KS_DEPLOYMENTS,
    KS_REPLICASETS,
    KS_NETPOLS,
    KS_INGRESSES,
    KS_NRES
};

struct ks_resource {
    const char *plural;
    const char *singular;
    const char *kind;
    const char *group; /* "" for the core group */
    const char *version;
    const char *short_name; /* NULL when none */
    bool namespaced;
};

extern const struct ks_resource ks_resources[KS_NRES];

/* "pods" or "deployments.apps": how Status messages name a resource. */
const char *ks_res_qualified(enum ks_res r, char *buf, size_t n);
/* "v1" or "apps/v1". */
const char *ks_res_api_version(enum ks_res r);

enum ks_ev_type { KS_ADDED, KS_MODIFIED, KS_DELETED };

struct ks_event {
    long rv;
    enum ks_ev_type type;
    enum ks_res res;
    json_t *obj; /* owned reference */
    json_t *old; /* owned reference or NULL: the previous version (MODIFIED, DELETED) */
};

#define KS_HISTORY 1024

struct ks_tls; /* the TLS front end, kubesim_tls.c */

struct kubesim {
    /* set once at start */
    struct kubesim_opts o; /* strings owned copies */
    char *url;
    char *state_dir; /* temp dir for cert files */
    char *ca_file, *key_file;
    struct mg_context *ctx;
    int backend_port;
    struct ks_tls *tls;
    pthread_t ctrl_thread;
    bool ctrl_started;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping;
    int active_watches;

    json_t *objs[KS_NRES];   /* "ns/name" (or "name") -> object */
    json_t *uids;            /* uid -> [res, key] */
    json_t *deps;            /* owner uid -> {work key: true}: the objects naming it as owner */
    json_t *work;            /* work key -> true: what the controller looks at next */
    json_t *timed;           /* work key -> true: objects waiting on time (delays, grace) */
    json_t *labels[KS_NRES]; /* "key=value" -> {store key: true} */
    json_t *ev_agg;          /* Event aggregation key -> store key (see ks_event_find) */
    json_t *ev_recent;       /* Event store key -> true, least recently written first */
    long rv;
    struct ks_event hist[KS_HISTORY]; /* rv % KS_HISTORY */
    long hist_oldest;                 /* smallest rv still in hist (rv+1 when empty) */

    json_t *podsim;  /* pod uid -> {t0, stage, restarts, next} private controller state */
    json_t *metrics; /* "ns/pod" -> [millicores, bytes] */
    struct kubesim_faults faults;
    long requests;
    uint64_t rng;
    uint64_t last_event_id; /* event names increase like the real ones */
    unsigned next_ip, next_cluster_ip;

    bool dirty;
    int64_t dirty_ms;
};

/* ---- kubesim_store.c (all with s->mu held) ---- */

struct ks_selector; /* kubesim_select.c */

/* "ns/name" or "name" into buf. */
const char *ks_key(enum ks_res r, const char *ns, const char *name, char *buf, size_t n);
json_t *ks_get(struct kubesim *s, enum ks_res r, const char *ns, const char *name); /* borrowed */
json_t *ks_get_uid(struct kubesim *s, const char *uid, enum ks_res *res_out);       /* borrowed */
/* Stores obj (stolen) as a new version: sets metadata.resourceVersion, records a
 * watch event, marks the state dirty and wakes watchers.  Returns obj (borrowed). */
json_t *ks_put(struct kubesim *s, enum ks_res r, json_t *obj);
/* Drops the watch history, as etcd's compaction does: a watch from an older
 * resourceVersion, or a continue token made before, is 410 Expired.  Returns
 * the resourceVersion compacted to. */
long ks_compact(struct kubesim *s);
/* Removes the object and records a DELETED event.  No-op when missing. */
void ks_remove(struct kubesim *s, enum ks_res r, const char *ns, const char *name);

/* The controller's work queue.  A work key is "<res>:<store key>", e.g.
 * "0:default/web-abc12" for a pod.  ks_put() and ks_remove() queue the object,
 * its owners and (when it goes or starts terminating) its dependents, so the
 * controller only ever looks at what changed plus what waits on time. */
const char *ks_work_key(enum ks_res r, const char *key, char *buf, size_t n);
/* Splits a work key; returns the store key inside wkey, or NULL when malformed. */
const char *ks_work_split(const char *wkey, enum ks_res *r);
void ks_enqueue(struct kubesim *s, enum ks_res r, const char *key);
/* Queues every stored object (at start and after loading a state file). */
void ks_enqueue_all(struct kubesim *s);
/* True when some stored object names uid in its ownerReferences. */
bool ks_has_dependents(struct kubesim *s, const char *uid);
/* New array of the objects of kind r that name owner's uid as an owner. */
json_t *ks_dependents(struct kubesim *s, const json_t *owner, enum ks_res r);
/* New sorted array of the objects of r (in ns, or all when ns NULL).  Caller frees. */
json_t *ks_list(struct kubesim *s, enum ks_res r, const char *ns);
/* The same, only objects for which match(obj, payload) is true.  When labels
 * pins a label to one value, only the objects carrying it are looked at (the
 * label index); match must still apply the whole selector. */
json_t *ks_list_match(struct kubesim *s,
                      enum ks_res r,
                      const char *ns,
                      const struct ks_selector *labels,
                      bool (*match)(const json_t *obj, void *payload),
                      void *payload);
/* The stored Event that aggregates (ns, involved uid, reason, message), or NULL. */
json_t *ks_event_find(
    struct kubesim *s, const char *ns, const char *uid, const char *reason, const char *msg);
/* The least recently written stored Event, or NULL when there is none. */
json_t *ks_event_oldest(struct kubesim *s);
/* Fills metadata of a new object: uid, creationTimestamp, generation. */
void ks_meta_init(struct kubesim *s, json_t *obj);
void ks_now_iso(char out[32]);
/* Random lowercase "bcdfghjklmnpqrstvwxz2456789" string of n chars + NUL. */
void ks_rand_suffix(struct kubesim *s, char *out, size_t n);
uint64_t ks_rand(struct kubesim *s);
int ks_state_load(struct kubesim *s, const char *path, struct ty_error *err);
int ks_state_save(struct kubesim *s, const char *path, struct ty_error *err);
void ks_store_free(struct kubesim *s);

/* json helpers */
const char *ks_str(const json_t *obj, const char *path); /* dotted path; NULL when absent */
json_t *ks_at(const json_t *obj, const char *path);      /* borrowed, NULL when absent */
json_t *ks_obj_at(json_t *obj, const char *path);        /* creates objects on the way */
long ks_int(const json_t *obj, const char *path, long dflt);

/* ---- kubesim_select.c ---- */

struct ks_selector; /* parsed label or field selector */
/* Parses a label selector string ("a=b,c in (d,e),!f").  Returns 0 or TY_EINVAL. */
int ks_selector_parse(struct ks_selector **out, const char *text, struct ty_error *err);
/* Parses a field selector for resource r ("metadata.name=x,status.phase!=Running"). */
int ks_field_selector_parse(struct ks_selector **out,
                            enum ks_res r,
                            const char *text,
                            struct ty_error *err);
/* From a LabelSelector object ({matchLabels, matchExpressions}). */
int ks_selector_from_json(struct ks_selector **out, const json_t *sel, struct ty_error *err);
bool ks_selector_match_labels(const struct ks_selector *sel, const json_t *labels);
bool ks_selector_match_fields(const struct ks_selector *sel, const json_t *obj);
bool ks_selector_is_empty(const struct ks_selector *sel);
/* The requirements that pin a label to one value ("k=v", "k in (v)"): what
 * the store's label index can answer.  Start with *i = 0; each call returns
 * the next one's key (value in *value), then NULL. */
const char *ks_selector_pinned(const struct ks_selector *sel, int *i, const char **value);
void ks_selector_free(struct ks_selector *sel);
/* The name rules of apimachinery's validation.go.  Each kind's names follow
 * one (ks_res_name_rule): most are DNS-1123 subdomains (up to 253
 * characters, dots allowed, no limit per label), Namespaces DNS-1123 labels
 * and Services RFC 1035 labels (63, starting with a letter). */
enum ks_name_rule { KS_NAME_SUBDOMAIN, KS_NAME_LABEL, KS_NAME_DNS1035_LABEL };
/* What is wrong with name s under rule: 0, 1 or 2 messages (too long, not
 * the pattern), worded as the real server words them, into msgs (static
 * strings).  Returns their count. */
int ks_name_problems(enum ks_name_rule rule, const char *s, const char *msgs[2]);
/* Validation of names and labels; return NULL when valid, else a message. */
const char *ks_check_dns1123_subdomain(const char *s);
const char *ks_check_dns1123_label(const char *s);
const char *ks_check_dns1035_label(const char *s);
const char *ks_check_label_key(const char *s);
const char *ks_check_label_value(const char *s);

/* ---- kubesim_patch.c ---- */

/* Each returns a new object (the patched copy of target) or NULL with err set. */
json_t *ks_patch_merge(const json_t *target, const json_t *patch);
json_t *ks_patch_strategic(const json_t *target, const json_t *patch);
json_t *ks_patch_json(const json_t *target, const json_t *ops, struct ty_error *err);

/* ---- kubesim_route.c: the request line ---- */

struct ks_query {
    int n;
    char **keys, **vals;
};
/* Splits qs ("a=1&b=x+y", NULL ok) into form-decoded pairs; free with
 * ks_query_free(). */
void ks_query_parse(struct ks_query *q, const char *qs);
/* The value of the first key, borrowed from q; NULL when absent. */
const char *ks_query_get(const struct ks_query *q, const char *key);
/* A boolean parameter as the API server's parameter codec reads it
 * (apimachinery runtime.Convert_Slice_string_To_bool): absent, "0" or "false"
 * in any case is false, anything else, the empty string included, is true.
 * So `watch=1`, `watch=true`, `watch=True` and `watch=` all ask for a watch. */
bool ks_query_bool(const struct ks_query *q, const char *key);
void ks_query_free(struct ks_query *q);

/* What an API path names: /api/v1/namespaces/NS/pods/NAME/SUB and the like. */
struct ks_route {
    bool metrics;      /* under /apis/metrics.k8s.io/v1beta1 (res unused) */
    bool watch_prefix; /* old-style /watch/ path */
    enum ks_res res;
    char ns[256];
    char name[256];
    char sub[32];
};
/* Parses an API path into rt; returns false when it names no resource. */
bool ks_route_parse(const char *path, struct ks_route *rt);

/* ---- kubesim_api.c: requests, replies, list/get, create, update, patch ---- */

struct ks_request {
    const char *method;
    const char *path;
    struct ks_query q;
    const char *body;
    size_t body_len;
    const char *accept;
    const char *content_type;
    bool readonly; /* authenticated with the read-only token */
};

struct ks_response {
    int status;
    const char *content_type; /* static string */
    struct ty_buf body;
    int retry_after;
    bool is_watch;         /* the request is a watch: call ks_api_watch */
    struct ty_buf headers; /* extra header lines ("Warning: ...\r\n"), may be empty */
};

#define KS_CT_JSON  "application/json"
#define KS_CT_TABLE "application/json;as=Table;v=v1;g=meta.k8s.io"

/* Serves one non-watch API request into resp (takes s->mu itself). */
void ks_api_handle(struct kubesim *s, const struct ks_request *rq, struct ks_response *resp);
/* Serves a watch: writes newline-delimited events through write() until the
 * timeout, the client goes away (write returns < 0) or the server stops.
 * The caller counts it in s->active_watches. */
typedef int (*ks_write_fn)(void *payload, const char *data, size_t len);
void ks_api_watch(struct kubesim *s, const struct ks_request *rq, ks_write_fn write, void *payload);
/* Fills resp with a Status body. */
void ks_status(struct ks_response *resp,
               int code,
               const char *reason,
               const char *details_name,
               enum ks_res r,
               const char *fmt,
               ...) __attribute__((format(printf, 6, 7)));
/* A new Status object; details {name, kind r, group} when name is set. */
json_t *
ks_status_json(int code, const char *reason, const char *name, enum ks_res r, const char *msg);
/* Replies status with body (stolen) as compact JSON. */
void ks_reply_json(struct ks_response *resp, int status, json_t *body);
/* Replies obj (borrowed), or a one-row Table when the request asks for one. */
void ks_reply_object(
    struct ks_response *resp, int status, enum ks_res r, const struct ks_request *rq, json_t *obj);
void ks_not_found(struct ks_response *resp, enum ks_res r, const char *name);
void ks_bad_request(struct ks_response *resp, const char *msg);
bool ks_wants_table(const struct ks_request *rq);
bool ks_is_dry_run(const struct ks_request *rq);

/* The labelSelector and fieldSelector of a request. */
struct ks_filters {
    struct ks_selector *labels, *fields;
};
/* Parses them for resource r; on a bad selector replies 400 and returns false. */
bool ks_filters_parse(struct ks_filters *f,
                      enum ks_res r,
                      const struct ks_request *rq,
                      struct ks_response *resp);
void ks_filters_free(struct ks_filters *f);
bool ks_filters_match(const struct ks_filters *f, const json_t *obj);
/* ks_filters_match for ks_list_match (payload: the struct ks_filters). */
bool ks_filters_match_cb(const json_t *obj, void *payload);

/* ---- kubesim_discovery.c ---- */

/* Answers a GET of a discovery path (aggregated when the Accept header asks
 * for apidiscovery.k8s.io/v2), /version and the health paths; false when the
 * path is not one. */
bool ks_api_discovery(const struct ks_request *rq, struct ks_response *resp);

/* ---- kubesim_openapi.c ---- */

/* Answers a GET of /openapi/v2, /openapi/v3 or /openapi/v3/<group version>;
 * false when the path is none of them. */
bool ks_api_openapi(const struct ks_request *rq, struct ks_response *resp);
/* Checks obj, an object of kind r in a create or update, against the served
 * schema: fields it does not declare are dropped, as the real server drops
 * them when it decodes.  With fieldValidation=Strict that is a 400 instead
 * (false returned, resp filled); with Warn (the default) each one is a
 * Warning header in resp; with Ignore nothing is said. */
bool ks_field_validation(const struct ks_request *rq,
                         enum ks_res r,
                         json_t *obj,
                         struct ks_response *resp);

/* ---- kubesim_valid.c: checks and defaults (with s->mu held) ---- */

/* The causes of a 422 Invalid: an array of {reason, message, field}. */
struct ks_causes {
    json_t *arr;
};
void ks_cause(struct ks_causes *c, const char *field, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Appends to c what is wrong with obj, an object of kind r. */
void ks_validate(enum ks_res r, const json_t *obj, struct ks_causes *c);
/* Replies 422 Invalid when c has causes; returns true when it did. */
bool ks_reply_invalid(struct ks_response *resp,
                      enum ks_res r,
                      const char *name,
                      struct ks_causes *c);
/* Fills the defaults a real API server adds on create (old NULL) and update. */
void ks_apply_defaults(struct kubesim *s, enum ks_res r, json_t *obj, const json_t *old);
/* The status a new object of kind r starts with. */
void ks_initial_status(enum ks_res r, json_t *obj);
/* Decodes the JSON body; replies 400 or 415 and returns NULL when it cannot. */
json_t *ks_parse_body(const struct ks_request *rq, struct ks_response *resp);
/* Checks the shape every body of kind r needs; replies 400 and returns false otherwise. */
bool ks_check_kind(enum ks_res r, json_t *obj, struct ks_response *resp);
/* True when namespace ns exists; replies 404 otherwise. */
bool ks_ns_exists(struct kubesim *s, const char *ns, struct ks_response *resp);

/* ---- kubesim_delete.c (with s->mu held) ---- */

/* Deletes an object as the API would: pods gracefully,
 * propagation "Background", "Foreground" or "Orphan". */
void ks_delete_object(
    struct kubesim *s, enum ks_res r, json_t *obj, const char *propagation, long grace_s);
/* DELETE of one object (obj borrowed) and of a collection. */
void ks_api_delete(struct kubesim *s,
                   const struct ks_request *rq,
                   const struct ks_route *rt,
                   struct ks_response *resp,
                   json_t *obj);
void ks_api_delete_collection(struct kubesim *s,
                              const struct ks_request *rq,
                              const struct ks_route *rt,
                              struct ks_response *resp);

/* ---- kubesim_event.c ---- */

/* Records a v1 Event about obj (with s->mu held). */
void ks_emit_event(
    struct kubesim *s, const json_t *obj, const char *type, const char *reason, const char *msg);

/* ---- kubesim_metrics.c ---- */

/* The metrics.k8s.io API (with s->mu held). */
void ks_api_metrics(struct kubesim *s,
                    const struct ks_request *rq,
                    const struct ks_route *rt,
                    struct ks_response *resp);

/* ---- kubesim_table.c ---- */

/* A meta.k8s.io/v1 Table for items of r.  Returns a new object. */
json_t *ks_table(enum ks_res r, json_t *items, const char *rv, bool include_object);

/* ---- kubesim_ctrl.c ---- */

void *ks_ctrl_main(void *arg);
/* pod-template-hash of a Deployment template, 10 chars + NUL */
void ks_template_hash(const json_t *tmpl, char out[11]);

/* ---- kubesim_tls.c ---- */

/* Makes a self-signed EC certificate and key under dir; sets the paths. */
int ks_tls_make_cert(char **cert_out, char **key_out, const char *dir, struct ty_error *err);
/* Starts the front end on host:port (port 0 = any) forwarding to backend_port:
 * HTTPS with cert and key, plain HTTP when cert is NULL. */
int ks_tls_start(struct ks_tls **out,
                 const char *host,
                 int port,
                 int backend_port,
                 const char *cert,
                 const char *key,
                 const char *client_ca,
                 int *port_out,
                 struct ty_error *err);
/* Call after the backend stopped: connections flush what it wrote, then end. */
void ks_tls_stop(struct ks_tls *t);
/* Closes the client connection whose backend socket has local port
 * backend_client_port (CivetWeb's remote_port).  Returns true when found. */
bool ks_tls_drop(struct ks_tls *t, int backend_client_port);

#endif
