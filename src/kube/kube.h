/*
 * kube.h - a Kubernetes REST client (libcurl + jansson) for the few kinds
 * Tycho creates, watches and deletes.
 *
 * Configuration comes from a kubeconfig (KUBECONFIG list or ~/.kube/config,
 * clusters/users/contexts, CA/cert/key files or data, token or tokenFile, exec
 * credential plugins) or from inside a pod (service-account token, CA and
 * namespace), loaded into a caller-owned struct kube_config.  A struct
 * kube_client built from it issues the requests: it maps Kubernetes Status
 * errors to ty_code values with the server's message kept, retries 429, 5xx
 * and transport failures with exponential backoff and jitter (honouring
 * Retry-After), reuses connections, applies timeouts and caps reply sizes.
 * See docs/kube.md.
 *
 * Error codes used by every call: TY_ENOTFOUND (404), TY_EEXISTS (409
 * AlreadyExists), TY_ECONFLICT (409 Conflict), TY_EAUTH (401), TY_EFORBIDDEN
 * (403), TY_EGONE (410 / watch ERROR Expired), TY_EINVAL (400, 422, bad
 * arguments), TY_EUPSTREAM (429, 5xx, transport failure after the retries,
 * an unparsable reply), TY_ETIMEOUT (a request deadline passed), TY_ELIMIT
 * (a reply over max_reply_bytes), TY_ERR (cancelled, anything else).
 *
 * Thread-safety: a struct kube_client may be shared by any number of threads.
 * Each call takes a connection (CURL handle) from a small pool guarded by a
 * mutex and puts it back afterwards, so concurrent calls run in parallel and
 * sequential calls reuse kept-alive connections.  Credential refresh (token
 * file re-read, exec plugin) is serialised inside the client.  A struct
 * kube_config is plain data: not shared, not locked.
 *
 * Credentials over plain http: kubectl never sends credentials to an http://
 * server.  This client sends them only when the server is https:// or its host
 * is a loopback address (127.0.0.0/8, ::1, localhost), so the embedded
 * simulated cluster may run without TLS; kube_client_new() refuses any other
 * http:// server that has credentials configured (TY_EINVAL).
 *
 * Namespaces: a `ns` argument of NULL means the configuration's namespace
 * (kube_config.namespace, "default" when unset).  For kube_list and kube_watch
 * KUBE_ALL_NAMESPACES ("") lists across all namespaces.
 */
#ifndef TY_KUBE_KUBE_H
#define TY_KUBE_KUBE_H

#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- kinds ------------------------------------------------------------------ */

enum kube_kind {
    KUBE_DEPLOYMENT,
    KUBE_REPLICASET,
    KUBE_POD,
    KUBE_SERVICE,
    KUBE_PVC,
    KUBE_NETWORKPOLICY,
    KUBE_SECRET,
    KUBE_CONFIGMAP,
    KUBE_EVENT,
    KUBE_INGRESS,
    KUBE_KIND_COUNT
};

/* "Deployment", "PersistentVolumeClaim"... (static strings). */
const char *kube_kind_name(enum kube_kind kind);
/* The plural resource name: "deployments", "persistentvolumeclaims"... */
const char *kube_kind_resource(enum kube_kind kind);
/* "apps/v1", "v1", "networking.k8s.io/v1". */
const char *kube_kind_api_version(enum kube_kind kind);
/* Accepts a Kind ("Deployment"), a plural ("deployments") or a singular
 * ("deployment"), case-insensitive.  Returns 0 or TY_EINVAL. */
int kube_kind_parse(enum kube_kind *out, const char *name, struct ty_error *err);

#define KUBE_ALL_NAMESPACES ""

/* ---- configuration ---------------------------------------------------------- */

struct kube_exec_config {
    char *command; /* resolved against the kubeconfig's directory when it has a '/' */
    char **args;   /* nargs strings */
    size_t nargs;
    char **env; /* nenv "NAME=value" strings added to the environment */
    size_t nenv;
    char *api_version; /* client.authentication.k8s.io/v1 (default) or v1beta1 */
    bool provide_cluster_info;
};

struct kube_config {
    char *server;  /* "https://host:port" (no trailing slash); required */
    char *ca_file; /* PEM file to verify the server, or NULL */
    char *ca_pem;  /* PEM text (certificate-authority-data decoded; wins over ca_file) */
    bool insecure; /* insecure-skip-tls-verify */
    char *client_cert_file, *client_key_file;
    char *client_cert_pem, *client_key_pem; /* -data variants, decoded; win over the files */
    char *token;                            /* bearer token; wins over token_file */
    char *token_file;   /* re-read at most every token_reread_s seconds and after a 401 */
    int token_reread_s; /* default 60 */
    struct kube_exec_config *exec; /* exec credential plugin, or NULL */
    char *namespace;               /* default namespace (never NULL after a successful load) */
    char *source; /* human description: "kubeconfig /p (context c)", "in-cluster" */
};

/* Zeroes cfg (token_reread_s = 60). */
void kube_config_init(struct kube_config *cfg);
/* Frees every member and re-inits cfg.  NULL is ok. */
void kube_config_cleanup(struct kube_config *cfg);
/* Deep copy of src into dst (dst is overwritten, not cleaned up first). */
void kube_config_copy(struct kube_config *dst, const struct kube_config *src);

/* Loads a kubeconfig into *out (which is kube_config_init'ed first; clean it up
 * with kube_config_cleanup() on every path).  path: one file, or a ':'-separated
 * list merged first-wins like kubectl (the first file to set current-context or
 * to define a named cluster/user/context wins; missing files in a list are
 * skipped); NULL means $KUBECONFIG, else ~/.kube/config.  context: NULL means
 * current-context.  Relative file paths in the file are resolved against the
 * directory of the file that named them.  Errors: TY_ENOTFOUND (no file, no such
 * context), TY_EINVAL "file:line:col: message" for malformed content. */
int kube_config_load_kubeconfig(struct kube_config *out,
                                const char *path,
                                const char *context,
                                struct ty_error *err);

/* In-cluster configuration: $KUBERNETES_SERVICE_HOST and $KUBERNETES_SERVICE_PORT,
 * token (as token_file, so rotation is seen), ca.crt and namespace from root_dir
 * (NULL = /var/run/secrets/kubernetes.io/serviceaccount; tests pass a temporary
 * directory).  Errors: TY_ENOTFOUND when the variables or the token are missing. */
int kube_config_load_in_cluster(struct kube_config *out,
                                const char *root_dir,
                                struct ty_error *err);

/* Automatic choice: $KUBECONFIG set -> kubeconfig; else in-cluster when
 * $KUBERNETES_SERVICE_HOST is set; else ~/.kube/config; else TY_ENOTFOUND. */
int kube_config_auto(struct kube_config *out, struct ty_error *err);

/* ---- client ----------------------------------------------------------------- */

struct kube_client; /* opaque */

struct kube_client_opts {
    long timeout_ms;         /* whole request, per attempt (not watches); default 30000 */
    long connect_timeout_ms; /* default 10000 */
    size_t max_reply_bytes;  /* reply body cap (and watch line cap); default 64 MiB */
    int retries;             /* extra attempts after the first; default 4; 0 = none */
    int backoff_base_ms;     /* first retry delay; default 200 */
    int backoff_max_ms;      /* delay cap (Retry-After may exceed it up to 60 s); default 10000 */
    const char *user_agent;  /* default "tycho/<version>" */
};

#define KUBE_CLIENT_OPTS_INIT                               \
    {                                                       \
        30000, 10000, (size_t)64 << 20, 4, 200, 10000, NULL \
    }

/* Creates a client for cfg (deep-copied; the caller keeps cfg).  o NULL means
 * KUBE_CLIENT_OPTS_INIT.  Calls curl_global_init once per process if nobody
 * has.  Returns 0, or TY_EINVAL for an unusable configuration (no server,
 * credentials over non-loopback http).  Free with kube_client_free(). */
int kube_client_new(struct kube_client **out,
                    const struct kube_config *cfg,
                    const struct kube_client_opts *o,
                    struct ty_error *err);
/* Frees the client.  No call may be in progress.  NULL is ok. */
void kube_client_free(struct kube_client *c);

/* The default namespace and server URL (borrowed; valid for the client's life). */
const char *kube_client_namespace(const struct kube_client *c);
const char *kube_client_server(const struct kube_client *c);

/* Aborts every call in progress on c (within about a second) and makes later
 * calls fail at once: watches return 0, other calls TY_ERR "cancelled".
 * Permanent; meant for shutdown.  Thread-safe. */
void kube_client_cancel(struct kube_client *c);

struct kube_client_stats {
    uint64_t calls;          /* API calls made (kube_get, kube_list page, ...) */
    uint64_t attempts;       /* HTTP requests sent, retries included */
    uint64_t retries;        /* attempts after a retryable failure */
    uint64_t errors;         /* calls that returned an error (ENOTFOUND included) */
    uint64_t auth_refreshes; /* credential re-reads / plugin runs after a 401 */
    uint64_t watch_events;   /* events delivered to watch callbacks */
    uint64_t bytes_received; /* reply body bytes */
};

/* Copies the counters (monotonic since kube_client_new).  Thread-safe. */
void kube_client_stats(const struct kube_client *c, struct kube_client_stats *out);

/* ---- object operations -----------------------------------------------------
 * out parameters receive a new reference (json_decref it) and may be NULL when
 * the caller does not want the reply; *out is NULL on failure.  Bodies are
 * borrowed (never stolen).  kind/ns/name select the object path; names are
 * percent-encoded. */

/* POST the object (201).  body's apiVersion/kind are filled in when missing. */
int kube_create(json_t **out,
                struct kube_client *c,
                enum kube_kind kind,
                const char *ns,
                const json_t *body,
                struct ty_error *err);
int kube_get(json_t **out,
             struct kube_client *c,
             enum kube_kind kind,
             const char *ns,
             const char *name,
             struct ty_error *err);
/* PUT the whole object; its metadata.resourceVersion is the precondition (409
 * Conflict -> TY_ECONFLICT when stale). */
int kube_replace(json_t **out,
                 struct kube_client *c,
                 enum kube_kind kind,
                 const char *ns,
                 const char *name,
                 const json_t *body,
                 struct ty_error *err);
/* PATCH with application/merge-patch+json (RFC 7386: null deletes a key, lists
 * are replaced wholesale). */
int kube_patch_merge(json_t **out,
                     struct kube_client *c,
                     enum kube_kind kind,
                     const char *ns,
                     const char *name,
                     const json_t *patch,
                     struct ty_error *err);

enum kube_propagation {
    KUBE_PROPAGATION_DEFAULT, /* the server's default for the kind (Background for most) */
    KUBE_PROPAGATION_BACKGROUND,
    KUBE_PROPAGATION_FOREGROUND,
    KUBE_PROPAGATION_ORPHAN
};

/* DELETE one object.  404 is TY_ENOTFOUND: callers that only want it gone treat
 * that as success. */
int kube_delete(struct kube_client *c,
                enum kube_kind kind,
                const char *ns,
                const char *name,
                enum kube_propagation propagation,
                struct ty_error *err);
/* DELETE the collection matching label_selector (NULL or "" = every object of
 * the kind in ns!).  Matching nothing is success. */
int kube_delete_collection(struct kube_client *c,
                           enum kube_kind kind,
                           const char *ns,
                           const char *label_selector,
                           enum kube_propagation propagation,
                           struct ty_error *err);

struct kube_list_opts {
    const char *label_selector;   /* "executor=tycho,username=alice", "a in (x,y)", "!gpu" */
    const char *field_selector;   /* "metadata.name=x" */
    long limit;                   /* page size; 0 = server default (everything) */
    const char *continue_token;   /* from the previous page's metadata.continue */
    const char *resource_version; /* NULL = most recent */
};

#define KUBE_LIST_OPTS_INIT       \
    {                             \
        NULL, NULL, 0, NULL, NULL \
    }

/* GET the collection (one page).  *list_out is the <Kind>List; its
 * metadata.continue (may be absent) names the next page.  An expired continue
 * token is TY_EGONE.  o may be NULL. */
int kube_list(json_t **list_out,
              struct kube_client *c,
              enum kube_kind kind,
              const char *ns,
              const struct kube_list_opts *o,
              struct ty_error *err);
/* Like kube_list but follows metadata.continue until the last page (page size
 * o->limit, default 500) and returns one list with every item; its
 * metadata.resourceVersion is the first page's, suitable for kube_watch. */
int kube_list_all(json_t **list_out,
                  struct kube_client *c,
                  enum kube_kind kind,
                  const char *ns,
                  const struct kube_list_opts *o,
                  struct ty_error *err);

/* ---- watch ------------------------------------------------------------------ */

/* Called once per event with type "ADDED", "MODIFIED", "DELETED" or "BOOKMARK"
 * (object borrowed; for BOOKMARK only metadata.resourceVersion is meaningful).
 * Return 0 to continue, nonzero to stop the watch (kube_watch then returns 0).
 * Runs on the thread that called kube_watch. */
typedef int (*kube_watch_cb)(const char *type, json_t *object, void *payload);

struct kube_watch_opts {
    const char *label_selector;
    const char *field_selector;
    const char *resource_version; /* start after this version (list's RV); NULL = from now,
                                     with synthetic ADDED events for what exists */
    bool allow_bookmarks;
    int timeout_s;   /* server-side timeoutSeconds; 0 = server default */
    const int *stop; /* optional: watch returns 0 soon after *stop becomes
                        nonzero (read atomically, checked about once a second) */
};

#define KUBE_WATCH_OPTS_INIT            \
    {                                   \
        NULL, NULL, NULL, true, 0, NULL \
    }

/* Streams events until the server ends the stream (returns 0: re-watch from
 * the last resourceVersion seen), the callback returns nonzero or *o->stop is
 * set (returns 0), or an error: TY_EGONE when the resourceVersion is too old
 * (HTTP 410 or an ERROR event with code 410: re-list, then watch from the new
 * list's RV); other ERROR events and HTTP failures map as everywhere else.
 * Connecting retries like any request; a broken stream is not retried. */
int kube_watch(struct kube_client *c,
               enum kube_kind kind,
               const char *ns,
               const struct kube_watch_opts *o,
               kube_watch_cb cb,
               void *payload,
               struct ty_error *err);

/* ---- other ------------------------------------------------------------------ */

/* PodMetricsList from metrics.k8s.io/v1beta1 for ns (label_selector may be
 * NULL).  TY_ENOTFOUND when the cluster does not serve the metrics API. */
int kube_pod_metrics(json_t **out,
                     struct kube_client *c,
                     const char *ns,
                     const char *label_selector,
                     struct ty_error *err);

/* A raw JSON request for paths outside the kinds above (e.g. GET /version).
 * path starts with '/' and may carry a query string (already encoded); body
 * may be NULL.  Same retries and error mapping as everything else. */
int kube_request_json(json_t **out,
                      struct kube_client *c,
                      const char *method,
                      const char *path,
                      const json_t *body,
                      struct ty_error *err);

/* Small accessors on objects (borrowed strings, NULL when absent). */
const char *kube_obj_name(const json_t *obj);
const char *kube_obj_resource_version(const json_t *obj);

#endif
