/*
 * policy.h - the launch policy: what a caller may ask of a launch or a change.
 *
 * Every launch and every modification goes through the session service, and
 * the service asks this module, so there is one answer whatever the door
 * (Tycho's /system/start and /system/modify, POST and PATCH /v1/sessions, the
 * command-line client that uses them).  The module decides from four things:
 * the caller's role (user, platform, admin), the app's registry entry (the
 * operator's word), the operator's policy (the server config's `policy:`
 * section, below) and the request.  docs/security.md, "Launch policy", is the
 * operator's view of the same rules.
 *
 *  - Apps: a user launches only what it may see (an entry's `visibility:
 *    admin` is for admins, `users: [..]` for those users), and only names the
 *    registry has; platform and admin tokens may launch a spec under a name
 *    the registry lacks when `unregistered_apps` is on.  Refused: TY_ENOTFOUND,
 *    the answer for an app that does not exist.
 *  - Registry-entry fields sent with a launch (serviceAccount, securityContext,
 *    services, conn_string, proxy-rewrite, gitea-integration): TY_EFORBIDDEN
 *    from a user; from platform and admin, the result is checked like the
 *    rest.  Any other field is TY_EINVAL.
 *  - The compiled objects (policy_objects_check): no root unless the policy
 *    allows it for the app; a service account only when it is the registry
 *    entry's own, "default", or listed, and never the server's; claims: a
 *    spec read from the registry mounts what it says (but never the server's
 *    claim), a spec sent with the request only the user's own home folder,
 *    the shared folder, claims the launch creates and listed claims; no host
 *    paths, privileged containers or host network from a request's spec.
 *  - Labels (policy_label_check): those the compiler writes, those under the
 *    Kubernetes prefixes, the proxy's and the operator's reserved keys are
 *    TY_EINVAL for everyone; those the culler reads are TY_EFORBIDDEN for
 *    users; `app-name` (the workspace name Appstore shows) is free.
 *  - Resources (policy_resources_check): the request's cpu/memory/gpu within
 *    the app's range (its registry spec's main container: reservations to
 *    limits; an app that asks for no GPU gets none) and every session within
 *    the app's total and the operator's maximum: TY_EINVAL naming the field
 *    and the bound.
 *
 * Everything here is pure (no I/O, no threads, no globals): a policy is
 * read-only once built and may be shared by any number of threads.
 */
#ifndef TY_POLICY_POLICY_H
#define TY_POLICY_POLICY_H

#include "compose/compose.h"
#include "doc/doc.h"
#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Who asks.  Zero is the most restricted, so a request that forgets to say
 * is a user's. */
enum policy_role {
    POLICY_ROLE_USER = 0,
    POLICY_ROLE_PLATFORM,
    POLICY_ROLE_ADMIN,
};

/* "user", "platform", "admin". */
const char *policy_role_name(enum policy_role r);

/* A claim a spec sent with a request may mount. */
struct policy_claim {
    char *claim;    /* the PVC's name */
    char *sub_path; /* NULL: the whole claim; else a template ("{username}" is the user's
                       folder) the mount's subPath must equal or lie below */
    unsigned roles; /* 1 << enum policy_role for each role that may mount it */
};

/* Where a pod is scheduled.  Owned; NULL members are absent. */
struct policy_sched {
    json_t *node_selector; /* object of strings */
    json_t *tolerations;   /* array of Toleration objects */
    char *priority_class;
};

/* Settings for one app of the registry. */
struct policy_app {
    char *id;
    bool allow_root; /* its pods may run as root */
    struct policy_sched sched;
};

/* Settings for sessions whose resources reach every threshold given. */
struct policy_profile {
    char *name;
    struct compose_amounts min; /* -1: no condition on that kind */
    struct policy_sched sched;
};

struct policy {
    /* What the compiler reads: ingress, NetworkPolicy, home volume, service
     * type, GPU resource name, pod security flags, PVC settings. */
    struct compose_policy compose;

    bool allow_root;         /* any app's pods may run as root (false) */
    char **service_accounts; /* NULL-terminated allow-list beyond the entry's own; may be NULL */
    struct policy_claim *claims;
    size_t n_claims;
    char *server_service_account;    /* never given to an app ("tycho"); NULL: none */
    char *server_claim;              /* never mounted by an app ("tycho-data"); NULL: none */
    char **reserved_labels;          /* NULL-terminated label keys (or "prefix/") nobody may set */
    char **culler_labels;            /* NULL-terminated keys the culler reads: not for users */
    bool unregistered_apps;          /* platform and admin may launch names the registry lacks */
    struct compose_amounts max;      /* per session, every container; -1: no bound */
    struct compose_amounts defaults; /* for the main container when the spec gives none; -1 */
    struct policy_sched sched;       /* every pod */
    struct policy_app *apps;
    size_t n_apps;
    struct policy_profile *profiles;
    size_t n_profiles;
};

/* Fills the defaults (docs/security.md): no root, only the entry's own
 * service account, no claims beyond the user's home, compose's defaults for
 * the rest, server_service_account "tycho", server_claim "tycho-data". */
void policy_init(struct policy *p);
/* Frees what p owns.  NULL is fine. */
void policy_cleanup(struct policy *p);

/* Layers the `policy:` mapping of the server config over p (keys in
 * docs/security.md, "Launch policy").  d locates errors as
 * "file:line:col: policy.key: message" (d may be NULL).  Unknown keys and
 * bad values are TY_EINVAL; p is left as it was on error. */
int policy_parse(struct policy *p, const json_t *obj, const struct doc *d, struct ty_error *err);
/* Sets one scalar key ("home_claim", "allow_root", "max_resources.cpu"...) from
 * text, as --set policy.KEY=VALUE and the TYCHO_POLICY_* variables do; lists
 * are comma-separated and maps "k=v,k=v".  TY_EINVAL for an unknown key or a
 * bad value (message names it).  TY_ENOTFOUND when key is no policy key. */
int policy_set(struct policy *p, const char *key, const char *value, struct ty_error *err);
/* Checks the combination (the server's claim is not the home claim nor
 * listed, ...).  TY_EINVAL naming the keys. */
int policy_validate(const struct policy *p, struct ty_error *err);
/* The effective policy as a new JSON object, in the config's spelling (for
 * `tycho api --check-config`). */
json_t *policy_to_json(const struct policy *p);
/* The i-th key policy_set() takes (static), or NULL past the last. */
const char *policy_set_key(size_t i);
/* A deep copy of src into dst (policy_init'ed by the call; clean up with
 * policy_cleanup()).  Returns 0 (TY_EINVAL only if src is inconsistent). */
int policy_copy(struct policy *dst, const struct policy *src, struct ty_error *err);

/* ---- decisions ----------------------------------------------------------- */

/* What a launch asks; every pointer borrowed for the call. */
struct policy_launch {
    enum policy_role role;
    const char *username;
    const char *app_id;
    const json_t *entry;    /* the registry's entry; NULL: the registry has no such app */
    const json_t *overlay;  /* registry-entry fields sent with the request; NULL: none */
    bool spec_from_request; /* the compose spec came with the request */
};

/* Whether the launch may happen at all, before anything is compiled: the
 * app's visibility, unregistered names, the overlay's fields and the service
 * account and root it asks for.  *view receives the compose policy this
 * launch compiles with: a shallow copy of p->compose (borrowing its strings:
 * valid while p is) with the pod security flags narrowed for a spec sent
 * with the request.  Returns 0, TY_ENOTFOUND, TY_EFORBIDDEN or TY_EINVAL. */
int policy_launch_check(struct compose_policy *view,
                        const struct policy *p,
                        const struct policy_launch *l,
                        struct ty_error *err);

/* The compiled objects of the launch (a List from compose_compile, after the
 * caller's labels are on): the pod's user, service account, volumes and
 * mounts, host access.  Returns 0, TY_EFORBIDDEN or TY_EINVAL. */
int policy_objects_check(const struct policy *p,
                         const struct policy_launch *l,
                         const json_t *list,
                         struct ty_error *err);

/* May role set (or, value NULL, remove) label key on a session?  0,
 * TY_EINVAL for a reserved key, TY_EFORBIDDEN for a culler's key from a
 * user.  Syntax is the caller's business. */
int policy_label_check(const struct policy *p,
                       enum policy_role role,
                       const char *key,
                       const char *value,
                       struct ty_error *err);

/* The resources a launch or a change asks for: req holds the request's own
 * cpu/memory/gpu (-1: not asked), app the registry spec's summary (NULL: no
 * registry spec), session the summary of what will run (NULL: not known;
 * n_containers then multiplies req, as a change sets every container).
 * Returns 0 or TY_EINVAL "<what> <value> is above/below ... (<bound's origin>)". */
int policy_resources_check(const struct policy *p,
                           const char *app_id,
                           const struct compose_amounts *req,
                           const struct compose_resource_summary *app,
                           const struct compose_resource_summary *session,
                           int n_containers,
                           struct ty_error *err);

/* The scheduling of one launch: the policy's, then every matching profile's,
 * then the app's (node selectors merged key by key, tolerations appended, the
 * last priority class wins).  *out is filled with new references (clean up
 * with policy_sched_cleanup()). */
void policy_sched_for(struct policy_sched *out,
                      const struct policy *p,
                      const char *app_id,
                      const struct compose_amounts *session);
void policy_sched_cleanup(struct policy_sched *s);

/* Whether the policy lets app_id's pods run as root. */
bool policy_root_allowed(const struct policy *p, const char *app_id);

#endif
