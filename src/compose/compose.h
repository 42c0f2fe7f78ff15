/*
 * compose.h - the compose compiler: one app launch as Kubernetes objects.
 *
 * Input: a docker-compose spec (text), the `.env` text beside it, the app's
 * resolved registry entry (a json_t in Tycho's shape: name, docs, services
 * {container: port}, spec, env, securityContext, ext.kube probes, proxy-rewrite,
 * proxy-rewrite-rule, conn_string, gitea-integration, serviceAccount, count),
 * the registry's settings, the launching user, a GUID, and the server's policy.
 * Output: a Kubernetes `List` (apiVersion v1) holding, in this order, a Secret
 * (the access token and sensitive env values), PVCs for named volumes when the
 * policy asks for them, the Deployment (one replica), one Service per listed
 * service, an Ingress when the policy asks for one, and a NetworkPolicy.
 *
 * The module is pure: no I/O (env_file contents come through a callback the
 * caller supplies), no threads, no mutable globals.  Any number of compiles may
 * run at once on distinct inputs.  Every user-derived name or label value is
 * made valid with KubeSpawner's "safe" slug scheme (util/slug.h); the raw
 * username is kept in the COMPOSE_ANNOTATION_USERNAME annotation.  Deliberate
 * differences from Tycho are listed in docs/compat.md ("Compose specs and
 * manifests").
 *
 * Errors are TY_EINVAL with "file:line:col: message" (the spec's name, or
 * "registry:<app>" for the registry entry), TY_ELIMIT for oversized input.
 */
#ifndef TY_COMPOSE_COMPOSE_H
#define TY_COMPOSE_COMPOSE_H

#include "util/buf.h"
#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Annotation holding the raw (unescaped) username on every object. */
#define COMPOSE_ANNOTATION_USERNAME "tycho.renci.org/username"
/* Annotation holding the app id as given (the reconciler adopts by it). */
#define COMPOSE_ANNOTATION_APP_ID "tycho.renci.org/app-id"
/* Longest app id or container name kept verbatim in `<name>-<guid>` names. */
#define COMPOSE_NAME_MAX 30

/* Server-wide rules and defaults.  Owned strings; compose_policy_init() fills
 * the defaults, compose_policy_cleanup() frees.  Load one from the server's
 * config with compose_policy_from_json(). */
struct compose_policy {
    /* Pod security: baseline by default.  Each flag lets specs ask for more. */
    bool allow_privileged;   /* privileged: true, cap_add beyond baseline */
    bool allow_host_path;    /* bind mounts of host paths */
    bool allow_host_network; /* network_mode: host */
    bool allow_root;         /* registry securityContext runAsUser 0 (default true) */
    long default_uid;        /* runAsUser when the registry gives none; -1: runAsNonRoot */
    long default_gid;        /* runAsGroup default; -1: none */
    long default_fs_group;   /* fsGroup default; -1: none */

    /* Home directories (Tycho's default volumes).  home_claim NULL: none. */
    char *home_claim;    /* "stdnfs"; with "{username}" in it, one claim per user
                            ("home-{username}", the user's object slug), mounted whole */
    char *home_subpath;  /* the user's folder in a shared claim; "{username}" is the user's
                            folder name; NULL: "{username}" (Tycho's layout) */
    bool home_create;    /* emit the per-user claim, kept after the launch (false; only
                            with a per-user home_claim) */
    char *home_size;     /* its size ("10Gi") */
    char *home_storage_class; /* its storage class; NULL: the cluster's default */
    char *home_parent;   /* "/home" (absolute) */
    char *home_shared;   /* "shared" ("" or NULL: no shared mount) */
    bool init_home_dirs; /* init container that creates the directories (false) */
    char *init_image;    /* "busybox:latest" */
    char *init_cpu;      /* "250m" */
    char *init_memory;   /* "250Mi" */
    long init_uid;       /* init container runAsUser (0) */
    long init_gid;       /* init container runAsGroup (0) */
    char *gitea_host;    /* gitea-integration: ssh config Host; NULL: none */
    char *gitea_user;
    char *gitea_service;

    /* Networking and proxy. */
    char *service_type;     /* "ClusterIP" */
    bool ambassador;        /* add the getambassador.io/config Mapping (true) */
    char *ambassador_id;    /* NULL: none */
    bool remote_user_header; /* headers: {REMOTE_USER: user} (true; Tycho's DEV_PHASE=dev: false) */
    bool ingress_object;     /* an Ingress per launch, for a plain ingress controller (false) */
    char *ingress_class;     /* its ingressClassName; NULL: the cluster's default class */
    char *ingress_host;      /* the host its rule matches; NULL: every host */
    char *ingress_tls_secret; /* TLS Secret for ingress_host; NULL: no tls section */
    json_t *ingress_annotations; /* object of strings added to every Ingress (owned); NULL */
    bool network_policy;    /* emit a NetworkPolicy (true) */
    char *proxy_selector;   /* pod labels of the proxy, "k=v[,k=v]" */
    char *proxy_namespace;  /* the proxy's namespace; NULL: the app's own */
    char **client_cidrs;    /* NULL-terminated; extra ingress ranges; may be NULL */

    /* Resources and storage. */
    char *gpu_resource;   /* "nvidia.com/gpu" */
    json_t *gpu_tolerations; /* tolerations of pods with GPUs (owned array); NULL:
                                {key: gpu_resource, operator: Exists, effect: NoSchedule} */
    bool create_pvcs;     /* emit PVCs for the spec's named volumes (false) */
    char *pvc_size;       /* "1Gi" */
    char *storage_class;  /* NULL: cluster default */
    char *pvc_access_mode; /* "ReadWriteOnce" */
};

void compose_policy_init(struct compose_policy *p);
void compose_policy_cleanup(struct compose_policy *p);
/* Overrides fields of p from a JSON/YAML object whose keys are the field names
 * above (e.g. {"home_claim": "stdnfs", "allow_root": false, "client_cidrs": [...]}).
 * Unknown keys and wrong types are TY_EINVAL naming the key.  gpu_tolerations
 * is a list of Toleration objects. */
int compose_policy_from_json(struct compose_policy *p, const json_t *obj, struct ty_error *err);

/* Resource quantities that replace the spec's own (appstore's resource request).
 * NULL / -1 fields leave the spec's value. */
struct compose_resources {
    const char *cpu;
    const char *memory;
    const char *ephemeral_storage;
    long gpus;
};

#define COMPOSE_RESOURCES_NONE {NULL, NULL, NULL, -1}

/* Reads the file a spec's env_file names (relative to the spec) into out.
 * Returns 0, or a ty_code with err set.  The compiler never touches files. */
typedef int (*compose_read_fn)(struct ty_buf *out, const char *name, void *payload,
                               struct ty_error *err);

/* Everything one compile needs; all pointers are borrowed for the call. */
struct compose_input {
    const char *spec_text; /* the compose YAML (required) */
    size_t spec_len;
    const char *spec_name; /* for messages: a path or URL */
    const char *env_text;  /* the .env beside the spec; NULL: none */
    size_t env_len;
    const char *env_name;
    compose_read_fn read_file; /* for env_file; NULL: env_file is an error */
    void *read_payload;

    const json_t *app;      /* resolved registry entry; NULL: spec only */
    const json_t *settings; /* registry settings ({{ helx_registry }} ...); may be NULL */
    const char *app_id;     /* required: registry app id (or spec directory name) */
    const char *username;   /* required: raw username */
    const char *guid;       /* required: 32 lowercase hex */
    const char *access_token; /* NULL: none; never emitted outside the Secret */
    const char *host;         /* public host name (HOST env); NULL: "" */
    const char *namespace;    /* metadata.namespace; NULL: omitted */
    struct compose_resources limits;   /* overrides for the main container */
    struct compose_resources requests; /* (the one the proxy targets) */
    const struct compose_policy *policy; /* NULL: defaults */
    /* Where the pod runs (the launch policy's choice); NULL: nothing said. */
    const json_t *node_selector; /* object of strings -> nodeSelector */
    const json_t *tolerations;   /* array, after the GPU tolerations */
    const char *priority_class;  /* -> priorityClassName */
};

/* Compiles one launch.  On success *list_out is a new reference to the List
 * (caller owns; json_decref); on failure *list_out is NULL and err says where. */
int compose_compile(json_t **list_out, const struct compose_input *in, struct ty_error *err);

/* Amounts in base units; -1: not given. */
struct compose_amounts {
    int64_t cpu_millis;
    int64_t memory_bytes;
    int64_t gpus;
};

/* What a launch's spec asks of its containers, read as compose_compile()
 * reads it (templates, interpolation, the registry entry, and in->limits and
 * in->requests applied to the main container). */
struct compose_resource_summary {
    struct compose_amounts main_limits;   /* the main container: the one the proxy targets */
    struct compose_amounts main_requests; /* and the launch's resources size */
    /* Every container's limit, else its request, summed per kind; a kind no
     * container gives is -1. */
    struct compose_amounts total;
};

/* Fills *out from the system model of in (nothing is emitted).  Errors as
 * compose_compile()'s. */
int compose_resources_read(struct compose_resource_summary *out,
                           const struct compose_input *in,
                           struct ty_error *err);

/* The directory (and home subPath) form of a username: the name itself when
 * it is a plain file name ([A-Za-z0-9._@-], not "." or ".."), else its object
 * slug.  Returns a new string. */
char *compose_user_dir(const char *username);
/* tmpl with every "{username}" replaced by value.  Returns a new string. */
char *compose_expand_user(const char *tmpl, const char *value);
/* The user's home claim under pol: home_claim itself, or, when it holds
 * "{username}", that claim for this user (the user's object slug in place).
 * NULL when the policy has no home volume.  Returns a new string. */
char *compose_home_claim(const struct compose_policy *pol, const char *username);
/* The user's folder (the mount's subPath) in a shared home claim: home_subpath
 * (default "{username}") with the user's folder name in place.  New string. */
char *compose_home_subpath(const struct compose_policy *pol, const char *username);

/* `<app>-<guid>` (the Deployment's name and `name` label), with the app id
 * slugged when it is not a valid short name.  Returns a new string. */
char *compose_system_name(const char *app_id, const char *guid);
/* Label selector for every object of one launch: "executor=tycho,tycho-guid=<guid>".
 * Returns a new string. */
char *compose_guid_selector(const char *guid);
/* Label selector for a user's launches: "executor=tycho,username=<label slug>".
 * Returns a new string. */
char *compose_user_selector(const char *username);
/* The proxy path of a launch: "/private/<app>/<user>/<guid>/" (user
 * percent-encoded where needed).  Returns a new string. */
char *compose_url_path(const char *app_id, const char *username, const char *guid);
/* Sets metadata.ownerReferences of obj to the Deployment (name, uid, controller;
 * no blockOwnerDeletion, which would need RBAC on deployments/finalizers), for
 * the session service once the Deployment exists (Services, Secret,
 * NetworkPolicy).  obj is modified in place. */
void compose_set_owner(json_t *obj, const char *deployment_name, const char *uid);

#endif
