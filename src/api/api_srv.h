/*
 * api_srv.h - the server struct, private to src/api/.  Handlers use the
 * services through it: the session service for every change, a store
 * connection from the pool for reads (lists, events, statistics, tokens),
 * the registry holder, and the shared Kubernetes client (events for the
 * progress stream, /readyz).
 */
#ifndef TY_API_API_SRV_H
#define TY_API_API_SRV_H

#include "api/api_int.h"
#include "kube/kube.h"
#include "reaper/reaper.h"
#include "session/session.h"
#include "store/store.h"

#include <civetweb.h>
#include <pthread.h>

struct store;
struct store_pool;
struct registry_holder;
struct session_service;
struct kubesim;
struct api_token_cache;

struct api_server {
    struct api_config cfg; /* deep copy */
    char *context;         /* the registry context served */
    struct mg_context *ctx;
    bool mg_inited;
    int port;
    bool listen_loopback;
    int64_t started_ms;
    struct api_metrics *metrics;
    struct api_ratelimit *rl;
    struct store_pool *pool;
    struct registry_holder *reg;
    struct session_service *svc;
    struct kubesim *sim; /* non-NULL when the simulated cluster runs in-process */
    struct kube_config kcfg;
    struct kube_client *kube;
    char *cluster_url;
    /* auth (api_auth.c) */
    pthread_mutex_t auth_mu;
    struct api_token_cache *tokens;
    int64_t token_count; /* tokens not revoked, as of token_count_at */
    int64_t token_count_at;
    /* culling (the reaper thread; api_culler.c serves its routes) */
    struct reaper_policy cull_policy;
    struct reaper *reaper;
    /* Streams (SSE) hold a worker thread each; at most streams_max are open at
     * once so that a quarter of the threads always serve ordinary requests. */
    int streams_open; /* atomic */
    int streams_max;  /* set once at start */
    /* pod Events for the progress streams (api_kevents.c); NULL without a cluster */
    struct api_kevents *kevents;
};

/* ---- api_kevents.c: one watch on the namespace's pod Events ---- */
struct api_kevents;
/* Starts the thread (it retries while the cluster is away).  kube is borrowed
 * and must outlive api_kevents_stop(); ns is copied (NULL: the client's). */
int api_kevents_start(struct api_kevents **out,
                      struct kube_client *kube,
                      const char *ns,
                      struct ty_error *err);
/* Stops the thread (within about a second) and frees.  NULL is ok. */
void api_kevents_stop(struct api_kevents *k);
/* A new array of the Events kept about pods whose name starts with
 * pod_prefix and recorded after *cursor (0: every one kept), each
 * {uid, type, reason, message, object}; *cursor moves past the newest.
 * Thread-safe. */
json_t *api_kevents_since(struct api_kevents *k, const char *pod_prefix, uint64_t *cursor);

/* A store connection for this thread; give it back with api_server_store_put(). */
int api_server_store_get(struct api_server *srv, struct store **out, struct ty_error *err);
void api_server_store_put(struct api_server *srv, struct store *st);

/* api_sessions.c: shared views and helpers */
json_t *api_time_json(int64_t ms); /* ISO with ms, or null for 0 */
json_t *api_session_json(const struct store_session *s);
json_t *api_event_json(const struct store_event *e);
json_t *api_page_json(const struct store_page *pg);
/* Loads a session the caller may see (another user's: TY_ENOTFOUND).  *out
 * is initialised; clean up with store_session_cleanup() on success. */
int api_session_load(struct store_session *out,
                     struct api_req *req,
                     const char *id,
                     struct ty_error *err);
void api_actor(char *out, size_t n, const struct api_req *req);
/* The caller's role for the launch policy (an anonymous loopback caller is
 * admin, as everywhere else). */
enum policy_role api_policy_role(const struct api_req *req);
/* *out is a new array (free()) whose strings are borrowed from obj. */
int api_labels_parse(struct session_label **out,
                     size_t *n_out,
                     const json_t *obj,
                     bool allow_null,
                     const char *where,
                     struct ty_error *err);
int api_memory_arg(char *out, size_t n, const json_t *v, const char *where, struct ty_error *err);
int api_cpu_arg(double *out, const json_t *v, const char *where, struct ty_error *err);
/* session_launch/session_stop with timing for /metrics. */
int api_launch(struct store_session *out,
               struct api_req *req,
               const struct session_launch_req *lr,
               struct ty_error *err);
int api_stop(struct api_req *req, const char *id, const char *reason, struct ty_error *err);
/* Storage for the decoded strings a list query points into. */
struct api_list_strings {
    char labels[STORE_QUERY_MAX_LABELS][2][256];
    char app[256];
    char cursor[512];
};
/* The limit, state, app, cursor and label filters of a list query; q points
 * into *strs, which must outlive it. */
int api_list_query(struct store_query *q,
                   struct api_list_strings *strs,
                   const struct api_req *req,
                   struct ty_error *err);

/* api_apps.c */
void api_apps_cache_clear(void);

/* api_auth.c */
int api_auth_resolve(struct api_server *srv, struct api_req *req, struct ty_error *err);
int api_auth_startup_check(struct api_server *srv, struct ty_error *err);
void api_auth_cleanup(struct api_server *srv);
bool api_addr_is_loopback(const char *addr);

#endif
