/*
 * reaper.h - culling idle, over-age and stuck sessions.
 *
 * Two layers:
 *  - the policy (pure, no I/O): which limits apply to a session, and, given
 *    what is known of its activity, whether to keep, warn or cull it now, when
 *    it will be culled if nothing changes, and why.  The same function answers
 *    the scheduler, `tycho reap --dry-run` and GET /v1/sessions/{id}/idle, so
 *    the explanation a user reads is the rule that is applied.
 *  - the scheduler (reaper_start): a thread, off the request path, that every
 *    interval samples CPU from the metrics API, evaluates every live session and
 *    stops the ones due, through the session service, with bounded concurrency.
 *
 * Limits come from, in increasing precedence: the global policy, the session's
 * context, the app (the registry entry's `culling` field, then the config's
 * `apps` table), the user, and labels.  A limit set at a more specific level
 * replaces the less specific one; 0 disables it ("never").
 */
#ifndef TY_REAPER_REAPER_H
#define TY_REAPER_REAPER_H

#include "doc/doc.h"
#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Limits at one level; -1 means "not set at this level". */
struct reaper_limits {
    int64_t idle_timeout_ms;  /* cull after this long without activity; 0 = never */
    int64_t max_age_ms;       /* cull this long after creation; 0 = never */
    int64_t cpu_threshold_mc; /* CPU (millicores) at or above which a sample is activity */
};

#define REAPER_LIMITS_UNSET \
    {                       \
        -1, -1, -1          \
    }

struct reaper_override {
    char *key; /* context, app id or user name; for labels "key=value" */
    struct reaper_limits limits;
};

struct reaper_policy {
    struct reaper_limits global; /* fully set after reaper_policy_parse */
    int64_t interval_ms;         /* between two passes */
    int64_t stuck_pending_ms;    /* requested/creating/pending longer than this: stuck */
    int64_t stuck_stopping_ms;   /* stopping longer than this: stuck (deleted again) */
    int64_t warning_ms;          /* warn this long before an idle or max-age cull; 0 = off */
    char *exempt_label;          /* "key" or "key=value": sessions carrying it are never culled */
    char *notify_url; /* http(s) URL POSTed a JSON note per warning and cull; NULL = none */
    int concurrency;  /* stops in flight at once */
    bool dry_run;     /* decide and report, never stop */
    bool enabled;
    struct reaper_override *contexts, *apps, *users, *labels;
    int n_contexts, n_apps, n_users, n_labels;
};

/* Fills p from the `culling` object of the configuration (may be NULL for the
 * defaults: idle 8h, max age 0, pending 15m, stopping 5m, interval 60s, CPU
 * threshold 10m, concurrency 8).  d and the object locate errors
 * ("tycho.yaml:12:5: culling.idle_timeout: ..."); d may be NULL.
 * The policy owns its strings; release with reaper_policy_cleanup(). */
int reaper_policy_parse(struct reaper_policy *p,
                        const json_t *culling,
                        const struct doc *d,
                        struct ty_error *err);
void reaper_policy_cleanup(struct reaper_policy *p);

/* Parses one level's limits from an object with keys idle_timeout, max_age,
 * cpu_threshold (durations as "2h", "30m" or seconds; CPU as "10m" or 0.01).
 * Used for the registry's per-app `culling` field too. */
int reaper_limits_parse(struct reaper_limits *out,
                        const json_t *obj,
                        const struct doc *d,
                        const char *where,
                        struct ty_error *err);

/* What is known of one session at decision time.  All times are ms since the
 * epoch; 0 means never/unknown.  Strings and JSON are borrowed. */
struct reaper_facts {
    const char *id;
    const char *username;
    const char *app_id;
    const char *context;
    const char *state; /* session state name */
    int64_t created_at;
    int64_t state_since;        /* when the current state was entered */
    int64_t last_heartbeat_at;  /* POST /v1/sessions/{id}/activity */
    int64_t last_cpu_active_at; /* last metrics sample at or above the threshold; stored */
    bool has_cpu_metrics;       /* the cluster serves metrics for this session */
    int64_t warned_at;          /* a cull warning was issued (0 = none); stored */
    const json_t *labels;       /* object key -> string value, may be NULL */
    const json_t *app_culling;  /* the registry app's `culling` object, may be NULL */
};

enum reaper_action { REAPER_KEEP = 0, REAPER_WARN, REAPER_CULL };

struct reaper_decision {
    enum reaper_action action;
    const char *reason;             /* "idle", "max-age", "stuck", or NULL when kept */
    struct reaper_limits limits;    /* the limits that apply */
    char limits_from[3][96];        /* where each limit came from: "label course=bio", "app x"... */
    int64_t last_active_at;         /* the latest activity over all sources */
    const char *last_active_source; /* "heartbeat", "cpu" or "created" */
    int64_t idle_ms;                /* now - last_active_at */
    int64_t cull_at;                /* when it will be culled if nothing changes; 0 = never */
    char explanation[512];          /* one sentence for people */
};

/* Decides for one session at time now.  Never fails. */
void reaper_decide(struct reaper_decision *out,
                   const struct reaper_policy *p,
                   const struct reaper_facts *f,
                   int64_t now);

/* The decision as JSON for GET /v1/sessions/{id}/idle and `tycho reap`: a new
 * object (caller owns it). */
json_t *reaper_decision_to_json(const struct reaper_decision *d,
                                const struct reaper_facts *f,
                                const struct reaper_policy *p);

/* Parses a CPU quantity as Kubernetes writes it ("250m", "1", "0.5", "1500000n")
 * into millicores.  Returns 0, or -1 when malformed. */
int reaper_cpu_parse(const char *s, int64_t *millicores_out);

/* ---- the scheduler --------------------------------------------------------- */

struct reaper; /* opaque */
struct session_service;
struct kube_client;
struct registry_holder;

struct reaper_config {
    struct session_service *svc;        /* borrowed; required */
    struct kube_client *kube;           /* borrowed; NULL = no CPU metrics */
    const char *namespace_name;         /* for the metrics API; copied; NULL = the client's */
    struct registry_holder *registry;   /* borrowed; NULL = no per-app `culling` fields */
    const char *context;                /* registry context of the sessions; copied */
    const struct reaper_policy *policy; /* borrowed; must outlive the reaper */
    const struct ty_clock *clock;       /* borrowed; NULL = the system clock */
    /* Called on the culling thread just before a due session is read and
     * decided again; tests use it to make a heartbeat or a stop race the cull.
     * NULL in production. */
    void (*before_cull)(const char *session_id, void *payload);
    void *before_cull_payload;
};

/* Creates a reaper (no thread yet).  Free with reaper_free(). */
int reaper_new(struct reaper **out, const struct reaper_config *cfg, struct ty_error *err);
/* Stops the thread if running, then frees.  NULL is ok. */
void reaper_free(struct reaper *r);

/* Starts the scheduler thread: a pass every policy interval.  TY_ECONFLICT
 * when already running.  The thread logs what it culls and why. */
int reaper_start(struct reaper *r, struct ty_error *err);
void reaper_stop(struct reaper *r);

/* Runs one pass on the calling thread.  With dry_run (or the policy's dry_run)
 * nothing is stopped and no warning is recorded; busy CPU samples are stored
 * in every pass (they are facts about the session, like heartbeats).
 * *report_out (may be NULL) receives a new array with one object per session
 * that is warned, culled or would be, and in a dry run one for every other
 * live session too (action "keep", reason null, the explanation saying why):
 * {"session","username","app_id","state","action","reason","explanation",
 * "cull_at","done"(bool),"error"(string, when the stop failed)}. */
int reaper_pass(struct reaper *r, bool dry_run, json_t **report_out, struct ty_error *err);

/* The decision for one session now, as reaper_decision_to_json() writes it.
 * TY_ENOTFOUND for an unknown session. */
int reaper_explain(json_t **out, struct reaper *r, const char *session_id, struct ty_error *err);

struct reaper_stats {
    long passes;
    long culled; /* sessions stopped by the culler */
    long warned;
    long errors;          /* stops or samples that failed */
    long skipped;         /* culls abandoned at the re-check (activity or a stop raced) */
    long notified;        /* notifications the notify_url accepted */
    long notify_failures; /* notifications that failed or were dropped */
    int64_t last_pass_at;
    int64_t last_pass_ms; /* duration of the last pass */
};
void reaper_stats_get(struct reaper *r, struct reaper_stats *out);

#endif
