/*
 * session_int.h - private to src/session/: the service struct and the helpers
 * shared by the operations (session.c), the cluster helpers (session_kube.c)
 * and the reconciler (session_reconcile.c).
 */
#ifndef TY_SESSION_SESSION_INT_H
#define TY_SESSION_SESSION_INT_H

#include "session/session.h"

#include "kube/kube.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>

/* The kinds a launch may create, in the order a stop deletes them: the
 * fixed ones, plus Ingresses when the policy makes them.  Returns how many
 * were written to out. */
#define SESSION_KINDS_MAX 12
size_t session_kinds(enum kube_kind out[SESSION_KINDS_MAX], const struct session_service *svc);

/* One watch thread (pods or deployments). */
struct session_watcher {
    struct session_service *svc;
    enum kube_kind kind;
    pthread_t thread;
    bool started;
    int abort_flag;         /* read by kube_watch (atomic); set on stall or shutdown */
    int64_t last_seen_mono; /* atomic: last event/bookmark/(re)start, monotonic ms */
    bool stalled;           /* atomic: set by the monitor before abort_flag */
};

struct session_service {
    struct registry_holder *registry;
    struct kube_client *kube;
    const struct ty_clock *clock;
    const struct policy *policy; /* the config's (borrowed) or own_policy */
    struct policy own_policy;    /* policy_init()'s defaults when the config gives none */
    struct store_pool *pool;
    char *context, *ns, *host, *protocol, *store_path;
    int max_per_user, max_global;
    int64_t creating_ms, start_ms, stopping_ms, running_check_ms;
    enum session_orphan_policy orphan_policy;
    int64_t resync_ms, watch_stall_ms, tick_ms;

    /* Serialises this process's store writes: SQLite allows one writer at a
     * time, and waiting on a mutex is far cheaper than SQLite's busy-handler
     * sleeps (1, 2, 5, 10... ms) when launches run on several threads. */
    pthread_mutex_t wmu;
    /* Counts this process's store writes; ccond is broadcast after each
     * (session_changed), for session_changes_wait. */
    pthread_mutex_t cmu;
    pthread_cond_t ccond;
    uint64_t changes;
    /* Guards the in-flight set. */
    pthread_mutex_t mu;
    char (*inflight)[33]; /* guids being launched by this process */
    size_t n_inflight, cap_inflight;

    /* Reconciler. */
    pthread_mutex_t rmu; /* guards everything below */
    pthread_cond_t rcond;
    bool running, stop_requested;
    pthread_t loop_thread;
    struct session_watcher watchers[2];
    char (*dirty)[33]; /* guids seen by the watches, to sync */
    size_t n_dirty, cap_dirty;
    struct session_reconcile_stats stats; /* totals */
};

static inline int64_t svc_now(const struct session_service *svc)
{
    return ty_clock_now(svc->clock);
}

/* Counts a store write and wakes session_changes_wait (takes svc->cmu). */
void session_changed(struct session_service *svc);

/* Adds / removes / tests a guid in the in-flight set (takes svc->mu). */
void session_inflight_add(struct session_service *svc, const char *id);
void session_inflight_remove(struct session_service *svc, const char *id);
bool session_inflight_has(struct session_service *svc, const char *id);

/* Borrows a store connection (store_pool_get) / gives it back. */
int session_store_get(struct session_service *svc, struct store **out, struct ty_error *err);
void session_store_put(struct session_service *svc, struct store *st);

/* Store writes under svc->wmu (same arguments as the store functions). */
int session_db_insert(struct session_service *svc,
                      struct store *st,
                      const struct store_session *s,
                      const struct store_limits *lim,
                      const char *actor,
                      struct ty_error *err);
int session_db_transition(struct session_service *svc,
                          struct store *st,
                          const char *id,
                          uint32_t expected_from,
                          enum store_state to,
                          const char *reason,
                          const char *message,
                          const char *actor,
                          int64_t deadline_at,
                          int64_t now,
                          enum store_state *prev_out,
                          struct ty_error *err);
int session_db_update(struct session_service *svc,
                      struct store *st,
                      const char *id,
                      const struct store_session_update *u,
                      int64_t now,
                      struct ty_error *err);

/* --- cluster helpers (session_kube.c) --- */

/* "executor=tycho,tycho-guid=<id>"; new string. */
char *session_guid_selector(const char *id);
/* The tycho-guid label of a Kubernetes object, or NULL (borrowed). */
const char *session_obj_guid(const json_t *obj);
const char *session_obj_label(const json_t *obj, const char *key);

/* Deletes every object with the guid, kind by kind (delete-collection with
 * background propagation).  Tries every kind even when one fails; returns the
 * first error. */
int session_cluster_delete_all(struct session_service *svc, const char *id, struct ty_error *err);
/* *gone_out = true when no object of any kind carries the guid any more.
 * Stops listing at the first kind that still has one. */
int session_cluster_gone(bool *gone_out,
                         struct session_service *svc,
                         const char *id,
                         struct ty_error *err);

/* Why a launch is not starting, from its pods (and the namespace's Events):
 * reason ("ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff",
 * "Unschedulable", ... ) and message, or both empty when nothing is wrong.
 * pods: a PodList's items array (borrowed). */
void session_pods_problem(char *reason, size_t rn, char *message, size_t mn, const json_t *pods);
/* Latest Warning event message about object `name`, appended to message when
 * found (best effort: errors are ignored). */
void session_events_message(struct session_service *svc,
                            const char *name,
                            char *message,
                            size_t mn);

/* Quantities: "500m" / "1.5" cores -> millicores; "2G", "512Mi", "1e3" -> bytes.
 * Return 0, or TY_EINVAL naming the text. */
int session_cpu_parse(int64_t *millis_out, const char *text, struct ty_error *err);
int session_memory_parse(int64_t *bytes_out, const char *text, struct ty_error *err);

/* --- reconciler (session_reconcile.c) --- */

/* Brings one session up to date with the cluster.  deploy/pods: what a full
 * pass already listed for this guid (NULL = fetch them).  have_view: deploy ==
 * NULL means "no Deployment" rather than "not fetched".  startup: requested/
 * creating rows not in flight are interrupted launches. */
int session_sync(struct session_service *svc,
                 struct store *st,
                 const struct store_session *s,
                 bool have_view,
                 const json_t *deploy,
                 const json_t *pods,
                 bool startup,
                 struct session_reconcile_stats *stats,
                 struct ty_error *err);

/* Deletes the objects of id and records failed (expected from `from_mask`). */
int session_fail(struct session_service *svc,
                 struct store *st,
                 const char *id,
                 uint32_t from_mask,
                 const char *reason,
                 const char *message,
                 struct ty_error *err);

#endif
