/*
 * api.h - the HTTP server (`tycho api`): Tycho's /system endpoints, the /v1
 * REST API, Server-Sent Events for launch progress, health, metrics, OpenAPI
 * and the embedded web UI, with bearer-token auth and request limits.
 *
 * Configuration comes from a YAML file, then TYCHO_* environment variables,
 * then command-line flags (each overriding the one before): api_config_init()
 * sets the defaults, api_config_load_file() and api_config_load_env() layer on
 * top, and the CLI sets fields directly.  docs/api.md lists every key.
 *
 * Ownership: strings in struct api_config are owned by it (api_config_set()
 * copies); api_config_cleanup() frees them.  api_server_start() copies what it
 * needs from the config.  CivetWeb stays inside this module.
 */
#ifndef TY_API_API_H
#define TY_API_API_H

#include "policy/policy.h"
#include "util/error.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_config {
    char *listen;       /* "127.0.0.1:8080"; port 0 = any free port */
    char *db;           /* SQLite database path */
    char *registry;     /* registry source: directory, file or git URL */
    char *context;      /* registry context (product) */
    char *spec_branch;  /* registry spec branch (Tycho's DOCKSTORE_APPS_BRANCH), NULL = none */
    char *cluster;      /* auto | sim | kubeconfig | in-cluster */
    char *kubeconfig;   /* kubeconfig path (cluster=kubeconfig) */
    char *kube_context; /* kubeconfig context, NULL = current-context */
    char *namespace_;   /* namespace for the apps, NULL = from the cluster config */
    char *port_file;    /* when set, the bound port is written there */
    char *public_url;   /* base of session URLs, e.g. https://helx.example.org */
    char *log_level;    /* debug|info|warn|error */
    int threads;        /* CivetWeb worker threads */
    /* the registry: refreshed every registry_refresh_ms (0 = only when asked);
     * git mirrors and http bodies under cache_dir (NULL = "cache" beside db) */
    int64_t registry_refresh_ms;
    char *cache_dir;
    /* limits */
    int64_t max_body_bytes;
    int max_json_depth;
    int max_header_bytes;
    int request_timeout_ms;
    double rate_limit_per_s; /* per token (or per address when anonymous); 0 = off */
    double rate_limit_burst;
    int sse_keepalive_ms;
    int sse_max_ms; /* an SSE stream ends after this long */
    /* sessions (the session service's settings, session.h; durations in ms) */
    int64_t start_deadline_ms;    /* pending -> running, else failed with the reason */
    int64_t creating_deadline_ms; /* requested/creating -> pending */
    int64_t stopping_deadline_ms; /* stopping: deletes re-sent after this */
    int64_t running_check_ms;     /* running: re-checked against the cluster this often */
    int64_t resync_ms;            /* reconciler: full list + lost/orphan pass */
    int64_t watch_stall_ms;       /* reconciler: restart a watch silent this long */
    int64_t tick_ms;              /* reconciler: deadline scan period */
    int orphan_policy;            /* enum session_orphan_policy (adopt, delete, ignore) */
    int max_per_user;             /* live sessions per user; 0 = no limit */
    int max_global;               /* live sessions in total; 0 = no limit */
    /* auth */
    bool allow_anonymous;    /* no tokens: admin for loopback callers (loopback listen only) */
    char *proxy_user_header; /* trusted-proxy mode: header naming the user; NULL = off */
    char *trusted_proxies;   /* comma-separated addresses allowed to send it */
    char *token_secret;      /* HMAC key for token hashes; NULL = plain sha256 */
    char *bootstrap_token;   /* an admin token to register at start (>= 32 chars) */
    int token_cache_ms;
    /* culling: the `culling` mapping of the config file, checked by
     * reaper_policy_parse() when the file loads (owned; NULL = defaults) */
    json_t *culling;
    /* the launch policy: the `policy` mapping, TYCHO_POLICY_* and --set
     * policy.KEY=VALUE (owned; docs/security.md, "Launch policy") */
    struct policy policy;
};

/* Sets the defaults (listen 127.0.0.1:8080, db tycho.db, registry "registry",
 * cluster auto, limits of docs/api.md). */
void api_config_init(struct api_config *cfg);
void api_config_cleanup(struct api_config *cfg);

/* Sets one key by its config-file name ("listen", "limits.max_body_bytes",
 * "policy.home_claim"...) from text.  TY_EINVAL for an unknown key or a bad
 * value (message names it). */
int api_config_set(struct api_config *cfg,
                   const char *key,
                   const char *value,
                   struct ty_error *err);

/* Layers a YAML config file over cfg.  Unknown keys and bad values are
 * TY_EINVAL "file:line:col: message". */
int api_config_load_file(struct api_config *cfg, const char *path, struct ty_error *err);

/* Layers the TYCHO_* variables of envp (NULL-terminated "K=V" strings) over
 * cfg.  KUBECONFIG is also read for cluster=kubeconfig.  Without
 * TYCHO_SPEC_BRANCH, Tycho's DOCKSTORE_APPS_BRANCH sets spec_branch when
 * EXTERNAL_TYCHO_APP_REGISTRY_ENABLED is "false" (registry_spec_branch_tycho_env). */
int api_config_load_env(struct api_config *cfg, char *const *envp, struct ty_error *err);

/* Checks the combination (listen address syntax, cluster mode, the launch
 * policy's keys against each other...). */
int api_config_validate(const struct api_config *cfg, struct ty_error *err);

struct api_server;

/* Opens the database, loads the registry, connects to (or starts) the cluster,
 * starts the session service and the HTTP listener.  *out is a new server;
 * stop it with api_server_stop(). */
int api_server_start(struct api_server **out, const struct api_config *cfg, struct ty_error *err);

/* The port actually bound (useful with port 0). */
int api_server_port(const struct api_server *srv);

/* Stops the listener and every service, frees srv.  NULL is ok. */
void api_server_stop(struct api_server *srv);

/* ---- token administration (used by `tycho token`) ---------------------- */

struct api_token_info {
    char id[40];
    char role[16];
    char user[128];
    char name[128];
    int64_t created_ms;
    int64_t last_used_ms; /* 0 = never */
};

/* Creates a token with role (admin|platform|user; user needs a username) in
 * the database at db_path.  *token_out is the secret, shown once (free()).
 * Returns 0, TY_EINVAL for a bad role/user. */
int api_token_create(char **token_out,
                     char id_out[40],
                     const char *db_path,
                     const char *role,
                     const char *user,
                     const char *name,
                     const char *secret,
                     struct ty_error *err);
/* Lists tokens (no secrets).  *out is a new array of *n_out infos (free()). */
int api_token_list(struct api_token_info **out,
                   size_t *n_out,
                   const char *db_path,
                   struct ty_error *err);
/* Revokes by id.  TY_ENOTFOUND when unknown. */
int api_token_revoke(const char *db_path, const char *id, struct ty_error *err);

#endif
