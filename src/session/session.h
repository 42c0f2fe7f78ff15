/*
 * session.h - the session service and its reconciler.
 *
 * The session service is the one place that turns a request (launch, stop,
 * modify, heartbeat) into store writes and Kubernetes calls; the HTTP handlers,
 * the CLI, the reconciler and the reaper all go through it.  Intent is written
 * to the store before the cluster is touched, so a crash at any point leaves a
 * row that the reconciler can finish.
 *
 * States (docs/sessions.md):
 *   requested -> creating -> pending -> running -> stopping -> stopped
 *   plus failed and lost.  Every transition is an event row; every live state
 *   has a deadline; a stop wins over a launch in progress.
 *
 * Threads: every session_* operation may be called from any thread at the same
 * time.  The service keeps a small pool of store connections and kube clients
 * and gives each call its own pair, so no handle is ever used by two threads at
 * once.  The reconciler runs on threads of its own (session_reconciler_start).
 */
#ifndef TY_SESSION_SESSION_H
#define TY_SESSION_SESSION_H

#include "policy/policy.h"
#include "store/store.h"
#include "util/error.h"
#include "util/time.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session_service; /* opaque */
struct registry_holder; /* registry/registry.h */
struct kube_client;     /* kube/kube.h */

/* States are the store's (enum store_state, store_state_name(),
 * store_state_can_transition()); this module adds no state of its own. */

enum session_orphan_policy {
    SESSION_ORPHAN_ADOPT = 0, /* create a session row from the objects' labels */
    SESSION_ORPHAN_DELETE,    /* delete the objects */
    SESSION_ORPHAN_IGNORE,    /* leave them alone (reported in the stats only) */
};
/* "adopt", "delete", "ignore".  Parse returns 0 or -1. */
const char *session_orphan_policy_name(enum session_orphan_policy p);
int session_orphan_policy_parse(enum session_orphan_policy *out, const char *name);

struct session_config {
    struct registry_holder *registry; /* borrowed; must outlive the service */
    const char *context;              /* registry context to launch from; copied; required */
    struct kube_client *kube;         /* borrowed, shared by every thread (kube.h: a client
                                         is thread-safe); must outlive the service */
    const char *store_path;           /* SQLite file (migrated on open); copied; not ":memory:" */
    const char *namespace_name;       /* copied; NULL = the kube client's namespace */
    const struct ty_clock *clock;     /* borrowed; NULL = ty_clock_system() */

    /* Limits on live sessions (requested..stopping); 0 = none.  The per-user
     * per-app limit is the registry app's `count` when it is > 0. */
    int max_per_user;
    int max_global;

    /* Deadlines, in milliseconds of the injected clock. */
    int64_t creating_deadline_ms; /* requested/creating: the launch must reach pending */
    int64_t start_deadline_ms;    /* pending: must reach running, or fail with the reason */
    int64_t stopping_deadline_ms; /* stopping: deletes re-sent when passed */
    int64_t running_check_ms;     /* running: re-checked against the cluster this often */

    enum session_orphan_policy orphan_policy;

    /* Platform settings. */
    const char *host;     /* public host for session URLs and the HOST env; copied;
                             NULL = "localhost" */
    const char *protocol; /* "https" or "http"; copied; NULL = "https" */
    /* The launch policy every launch and change passes (policy/policy.h): what
     * each role may ask, the compiler's settings (ingress, NetworkPolicy, home
     * volume...).  Borrowed, must outlive the service; NULL = policy_init()'s
     * defaults.  A NULL proxy_namespace pins the proxy to namespace_name. */
    const struct policy *policy;

    /* Reconciler timing (real time, milliseconds). */
    int64_t resync_ms;      /* full list + lost/orphan pass */
    int64_t watch_stall_ms; /* restart a watch after this long without an event or bookmark */
    int64_t tick_ms;        /* deadline scan period */
};

#define SESSION_CONFIG_INIT                                                                    \
    {                                                                                          \
        .registry = NULL, .context = NULL, .kube = NULL, .store_path = NULL,                   \
        .namespace_name = NULL, .clock = NULL, .max_per_user = 0, .max_global = 0,             \
        .creating_deadline_ms = 60000, .start_deadline_ms = 300000,                            \
        .stopping_deadline_ms = 120000, .running_check_ms = 300000,                            \
        .orphan_policy = SESSION_ORPHAN_ADOPT, .host = NULL, .protocol = NULL, .policy = NULL, \
        .resync_ms = 60000, .watch_stall_ms = 90000, .tick_ms = 1000                           \
    }

/* Creates the service: copies the config's strings (registry, kube and clock
 * are borrowed) and opens a store pool on store_path (migrating it).
 * Returns 0; TY_EINVAL for a bad config; store errors as returned.
 * Free with session_service_free() (after session_reconciler_stop()). */
int session_service_new(struct session_service **out,
                        const struct session_config *cfg,
                        struct ty_error *err);
/* Stops the reconciler if running and frees.  No operation may be in progress. NULL ok. */
void session_service_free(struct session_service *svc);

/* The namespace sessions are launched in (borrowed). */
const char *session_service_namespace(const struct session_service *svc);

struct session_label {
    const char *key;
    const char *value;
};

struct session_launch_req {
    const char *username; /* required */
    const char *app_id;   /* required: the registry app (or the system name with spec) */
    double cpu;           /* cores; <= 0 = the app's default */
    const char *memory;   /* Kubernetes quantity; NULL = the app's default */
    int gpu;              /* < 0 = the app's default */
    const struct session_label *labels; /* recorded in the store and put on the
                                           objects' metadata (never on the pods) */
    size_t n_labels;
    enum policy_role role;    /* who asks; 0 (user) is the most restricted */
    const char *access_token; /* the user's token for the pod env; may be NULL */
    const char *actor;        /* who asked (for the event log); NULL = username */
    const char *id;           /* fixed 32-hex guid; NULL = a new random one */
    /* Optional: a compose spec (YAML or JSON text) used instead of the registry
     * app's spec (Tycho's /system/start and `up -f`); app_id then names the
     * system and the registry entry, when one exists, still supplies its
     * settings.  env_text: .env text for it (NULL = none). */
    const char *spec_text;
    const char *env_text;
    /* Optional entry overlay (borrowed for the call; must be an object, else
     * TY_EINVAL): top-level fields of a registry entry, in the registry's own
     * spelling (services, conn_string, securityContext, proxy-rewrite,
     * gitea-integration, serviceAccount, ...), that replace the registry
     * entry's fields of the same name for this launch only, or make the whole
     * entry when the registry has none (then spec_text is required).  A field
     * is replaced whole (a `services` map is not merged with the registry's).
     * The registry itself is never modified. */
    const json_t *app_overlay;
};

/* Launches one app for one user: resolve the app, ask the launch policy
 * (policy.h: the app's visibility, the entry fields a role may send, service
 * account, root, labels; then the app's resource range and the operator's
 * maximum, and the compiled objects: claims, host access), check the limits
 * (TY_ELIMIT, e.g. "user alice already has 2 sessions (limit 2)"), compile, record the
 * intent (requested -> creating), create the objects (Deployment first, the
 * rest owned by it), record pending.  On a cluster error every object with the
 * guid is deleted and the session is marked failed with the reason.  When a
 * stop arrives during the launch, the launch deletes what it made and leaves
 * the session to the stop.  *out (may be NULL) receives the session row
 * (store_session_init'ed by the call; store_session_cleanup() it on success).
 * Returns 0; TY_ENOTFOUND (unknown app, or one the caller may not see),
 * TY_EINVAL (bad request, reserved label, resources out of range),
 * TY_EFORBIDDEN (the policy refuses it), TY_ELIMIT, TY_ECONFLICT (stopped
 * during launch), TY_EUPSTREAM (cluster), store codes. */
int session_launch(struct store_session *out,
                   struct session_service *svc,
                   const struct session_launch_req *req,
                   struct ty_error *err);

/* The limit a launch can hit: the per-user limit (max_per_user), the app's
 * per-user `count`, the platform's max_global; NONE when none is full. */
enum session_limit {
    SESSION_LIMIT_NONE = 0,
    SESSION_LIMIT_USER,
    SESSION_LIMIT_APP,
    SESSION_LIMIT_GLOBAL,
};
/* "none", "user", "app", "global" (static). */
const char *session_limit_name(enum session_limit which);

/* For a launch refused with TY_ELIMIT: which limit a launch of app_id by
 * username hits now (*which_out), and the user's live sessions that hold its
 * slots in *out (initialised by the call; free with store_page_cleanup()):
 * all of the user's for SESSION_LIMIT_USER, those of app_id for
 * SESSION_LIMIT_APP, none for SESSION_LIMIT_GLOBAL (they are other users')
 * nor SESSION_LIMIT_NONE (a slot was freed meanwhile).  At most 20, newest
 * first.  A read only, checked as session_launch() checks before compiling.
 * Returns 0; TY_EINVAL without username or app_id; store codes. */
int session_limit_holders(struct store_page *out,
                          enum session_limit *which_out,
                          struct session_service *svc,
                          const char *username,
                          const char *app_id,
                          struct ty_error *err);

/* Stops a session: moves it to stopping from any live state (a stop wins over
 * a launch in progress), deletes every object labelled with its tycho-guid
 * (Deployments, ReplicaSets, Pods, Services, NetworkPolicies, PVCs, Secrets),
 * and marks it stopped when they are gone, or leaves it stopping with a
 * deadline for the reconciler to finish.  Stopping a session already stopping
 * resends the deletes; a final session is left as it is (returns 0).
 * Returns 0; TY_ENOTFOUND; TY_EUPSTREAM when a delete failed (the session
 * stays stopping and the reconciler retries). */
int session_stop(struct session_service *svc,
                 const char *id,
                 const char *actor,
                 const char *reason,
                 struct ty_error *err);

struct session_modify_req {
    double cpu;                         /* cores; <= 0 = unchanged */
    const char *memory;                 /* quantity; NULL = unchanged */
    const struct session_label *labels; /* merged into the labels; value NULL removes */
    size_t n_labels;
    const char *actor;
    enum policy_role role; /* who asks; 0 (user) is the most restricted */
};

/* Merge-patches the session's Deployment: cpu/memory as requests and limits of
 * every container (within the app's range and the operator's maximum:
 * TY_EINVAL), labels on the metadata of the Deployment and the other objects
 * of the launch, never on the pods (policy_label_check() decides which keys:
 * TY_EINVAL for reserved ones, TY_EFORBIDDEN for the culler's from a user),
 * and records the resources, the labels and a `modified` event in the store.
 * Only pending or running sessions can be modified: TY_ECONFLICT otherwise. */
int session_modify(struct session_service *svc,
                   const char *id,
                   const struct session_modify_req *req,
                   struct ty_error *err);

/* The session row with its labels (*out initialised by the call; clean up with
 * store_session_cleanup() on success).  Returns 0 or TY_ENOTFOUND.
 * Authorization is the caller's business, here and in the two below. */
int session_get(struct store_session *out,
                struct session_service *svc,
                const char *id,
                struct ty_error *err);

/* One page of sessions matching q (store_session_list on a pooled connection).
 * *out initialised by the call; free with store_page_cleanup(). */
int session_list(struct store_page *out,
                 struct session_service *svc,
                 const struct store_query *q,
                 struct ty_error *err);

/* Waits until this service has written to the store since it returned
 * `since` (a launch, a state change, a modification, activity, a warning),
 * or timeout_ms passed; returns the count of writes so far.  Call with 0
 * first.  Writes by other processes on the same database are not seen: treat
 * the timeout as the longest delay.  Thread-safe; for readers that follow
 * sessions (progress streams) instead of polling. */
uint64_t session_changes_wait(struct session_service *svc, uint64_t since, int timeout_ms);

/* The session's events, oldest first (store_events_list); free the array with
 * store_events_free().  TY_ENOTFOUND. */
int session_events(struct store_event **out,
                   size_t *n_out,
                   struct session_service *svc,
                   const char *id,
                   struct ty_error *err);

/* Records activity (heartbeat) at at_ms (0 = now).  TY_ENOTFOUND. */
int session_activity(struct session_service *svc,
                     const char *id,
                     int64_t at_ms,
                     struct ty_error *err);

/* The culler's memory (the reaper calls these; see docs/culling.md).  Both
 * write through a pooled connection under the service's write lock.
 *
 * session_cpu_active: for every item, cpu_active_at = max(old, item.at), all n
 * in one transaction (store_session_cpu_active); ids of sessions that no longer
 * exist are skipped.  *n_updated_out (may be NULL): rows written.  items are
 * borrowed for the call.
 *
 * session_cull_warned: records that the owner of id was warned at at_ms (0 =
 * now): cull_warned_at and a "cull-warning" event by actor "culler" carrying
 * message (borrowed; the explanation sentence), in one transaction.
 * TY_ENOTFOUND when absent. */
int session_cpu_active(struct session_service *svc,
                       const struct store_cpu_active *items,
                       size_t n,
                       size_t *n_updated_out,
                       struct ty_error *err);
int session_cull_warned(struct session_service *svc,
                        const char *id,
                        int64_t at_ms,
                        const char *message,
                        struct ty_error *err);

/* Counters of one reconcile pass (or totals since the reconciler started). */
struct session_reconcile_stats {
    long synced;       /* sessions examined */
    long transitions;  /* state changes made */
    long lost;         /* sessions marked lost */
    long orphans_seen; /* guids with objects and no session row */
    long adopted, orphans_deleted;
    long watch_restarts; /* watches re-opened (410, stall, error) */
    long relists;
    long errors;
};

/* One full, synchronous reconcile pass on the calling thread: finish
 * interrupted launches (when startup is true, every requested/creating row not
 * being launched by this process), sync every live session against the cluster,
 * enforce deadlines, mark lost, handle orphans by the policy.  *stats may be
 * NULL.  Returns 0 or the first error that stopped the pass. */
int session_reconcile_once(struct session_reconcile_stats *stats,
                           struct session_service *svc,
                           bool startup,
                           struct ty_error *err);

/* Starts the reconciler threads: a start-up pass, watches on pods and
 * deployments labelled executor=tycho (re-list on 410, restart on stall),
 * deadline scans every tick_ms and a full resync every resync_ms.  Returns 0,
 * TY_ECONFLICT when already running. */
int session_reconciler_start(struct session_service *svc, struct ty_error *err);
/* Stops and joins the reconciler threads.  No-op when not running. */
void session_reconciler_stop(struct session_service *svc);
/* Totals since session_reconciler_start(). */
void session_reconciler_stats(struct session_reconcile_stats *out, struct session_service *svc);

#endif
