/*
 * kubesim.h - the simulated Kubernetes cluster (`tycho kube-sim`).
 *
 * An in-memory Kubernetes API server that behaves like a real one for demos and
 * tests, and for clients we did not write (kubectl, the official Python and
 * JavaScript clients): HTTP or HTTPS (a self-signed certificate made at start),
 * bearer-token auth, discovery (legacy and aggregated), OpenAPI v2 and v3 with
 * field validation, namespaced CRUD for pods, services, persistentvolumeclaims,
 * configmaps, secrets, events, deployments, replicasets, networkpolicies and
 * namespaces, label and field selectors, paging, resourceVersion CAS, PATCH
 * (merge, strategic-merge, json-patch), graceful deletion with owner-reference
 * garbage collection, Table responses for kubectl, watch streams, a small
 * controller (Deployment -> ReplicaSet -> Pods with a scripted lifecycle), a
 * fake metrics API and fault injection.  CivetWeb stays inside this module.
 *
 * Thread-safety: every function may be called from any thread while the server
 * runs; all state is guarded by one mutex inside struct kubesim.
 */
#ifndef TY_KUBESIM_KUBESIM_H
#define TY_KUBESIM_KUBESIM_H

#include "util/error.h"

#include <stdbool.h>

struct kubesim; /* opaque */

struct kubesim_opts {
    const char *listen;                /* "127.0.0.1:0" = any free port */
    bool tls;                          /* HTTPS with a self-signed cert made at start */
    const char *token;                 /* required bearer token; NULL = no auth */
    const char *state_file;            /* NULL = memory only; else persisted and reloaded */
    const char *client_ca_file;        /* optional: require client certs signed by this CA */
    int pod_schedule_ms, pod_start_ms; /* Pending -> ContainerCreating -> Running delays */
    int pod_grace_ms;                  /* terminating pods disappear after this */
    const char *fail_pull_pattern;     /* fnmatch on image: ErrImagePull/ImagePullBackOff */
    const char *crash_pattern;         /* fnmatch on image: CrashLoopBackOff */
    const char *unschedulable_pattern; /* Pending with PodScheduled=False Unschedulable */
    const char *readonly_token;        /* optional 2nd token: get/list/watch only, else 403 */
    int max_events;                    /* Events kept (least recently written go first); 0 = 2000 */
};

#define KUBESIM_OPTS_INIT                                                              \
    {                                                                                  \
        "127.0.0.1:0", false, NULL, NULL, NULL, 200, 500, 300, "*invalid*", "*crash*", \
            "*unschedulable*", NULL, 0                                                 \
    }

/* Starts a simulated cluster listening on o->listen.  On success *out is a new
 * server; stop and free it with kubesim_stop().  The option strings are copied.
 * Returns 0, TY_EINVAL for bad options or a malformed state file (message
 * "FILE:line:col: ..."), TY_ERR when the port cannot be bound, the certificate
 * cannot be made or the state file cannot be read.  A missing state file is
 * not an error (it is written at the first change). */
int kubesim_start(struct kubesim **out, const struct kubesim_opts *o, struct ty_error *err);

/* "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".  Borrowed; valid until stop. */
const char *kubesim_url(const struct kubesim *s);

/* PEM path of the serving certificate (also its own CA) when tls, else NULL.
 * Borrowed; the file is removed by kubesim_stop(). */
const char *kubesim_ca_file(const struct kubesim *s);

/* Writes a kubeconfig for this server to path: cluster "kubesim" (server,
 * certificate-authority-data when tls), user "kubesim" (token when set), and
 * context "kubesim" with namespace ns (NULL = "default") as current-context.
 * Creates namespace ns in the cluster when missing (other namespaces must be
 * created through the API, as on a real cluster: objects in a missing
 * namespace get 404).  TY_EINVAL when ns is not a DNS-1123 label. */
int kubesim_write_kubeconfig(const struct kubesim *s,
                             const char *path,
                             const char *ns,
                             struct ty_error *err);

/* Fault injection; applies to every API request except /_sim/ admin paths.
 * error_rate in [0,1] answers with error_status (429 adds Retry-After:
 * retry_after_s); latency_ms delays every answer; drop_rate closes the
 * connection without answering; gone_next_watch makes the next watch request
 * receive an ERROR event with a 410 Expired Status (then resets itself). */
struct kubesim_faults {
    double error_rate;
    int error_status;
    int latency_ms;
    double drop_rate;
    bool gone_next_watch;
    int retry_after_s;
};

/* Replaces the fault settings (copied).  f NULL clears them. */
void kubesim_set_faults(struct kubesim *s, const struct kubesim_faults *f);

/* Sets the metrics API values (reported for each container) of pod ns/pod;
 * also applies to a pod created later with that name.  The API serves
 * metrics only for Running pods.  Returns 0, or TY_EINVAL for negative values.
 * The admin endpoint POST /_sim/metrics sets them by name or labelSelector. */
int kubesim_set_pod_cpu(
    struct kubesim *s, const char *ns, const char *pod, long millicores, long memory_bytes);

/* Number of API requests answered so far (for benchmarks and tests). */
long kubesim_request_count(const struct kubesim *s);

/* Ends all watches, stops the server and the controller, flushes the state
 * file, removes the temporary certificate files and frees s.  NULL is ok. */
void kubesim_stop(struct kubesim *s);

#endif
