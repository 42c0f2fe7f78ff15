/*
 * compose_int.h - private to src/compose: the system model and the text
 * helpers shared by the parser (compose_model.c) and the emitter
 * (compose_emit.c).
 *
 * The model is what a spec means once templates, interpolation, the registry
 * entry and the policy have been applied: plain C data, no YAML and no
 * Kubernetes shapes (probes excepted: they are kept as the JSON fragment they
 * become, since their shape is the Kubernetes one already).  Every pointer in
 * the model is owned by it; compose_system_free() releases all of it.
 */
#ifndef TY_COMPOSE_INT_H
#define TY_COMPOSE_INT_H

#include "compose/compose.h"
#include "doc/doc.h"

#include <jansson.h>
#include <stdbool.h>

struct cmp_env {
    char *name;
    char *value;
    bool secret; /* goes to the launch Secret, referenced by secretKeyRef */
};

struct cmp_port {
    int container;
    int published; /* 0: none (expose) */
    bool udp;
};

struct cmp_mount {
    char *volume; /* pod volume name */
    char *path;   /* absolute */
    char *sub_path; /* NULL: none */
    bool read_only;
};

enum cmp_vol_kind { VOL_PVC, VOL_HOST, VOL_TMPFS, VOL_SECRET };

struct cmp_volume {
    char *name;   /* pod volume name (DNS-1123 label) */
    enum cmp_vol_kind kind;
    char *source; /* claim, host path or secret name */
    bool create;  /* a PVC this launch emits */
    int mode;     /* secret defaultMode */
};

struct cmp_res {
    char *cpu;
    char *memory;
    char *ephemeral;
    long gpus; /* -1: unset */
};

struct cmp_container {
    char *name;
    char *image;
    json_t *command; /* array or NULL */
    json_t *args;    /* array or NULL */
    char *working_dir;
    struct cmp_env *env;
    size_t nenv;
    struct cmp_port *ports;
    size_t nports;
    struct cmp_mount *mounts;
    size_t nmounts;
    struct cmp_res limits;
    struct cmp_res requests;
    json_t *liveness;  /* Kubernetes probe object or NULL */
    json_t *readiness;
    long uid, gid; /* from compose user:, -1 unset */
    bool privileged;
    json_t *cap_add; /* array or NULL */
    json_t *cap_drop;
    bool tty, stdin_open;
};

struct compose_system {
    char *app_id;    /* as given */
    char *app_slug;  /* valid short name */
    char *app_label; /* label-value slug of app_id */
    char *guid;
    char *name;      /* <app_slug>-<guid> */
    char *username;  /* raw */
    char *user_label; /* label slug */
    char *user_object; /* object slug */
    char *user_path;  /* directory / subPath form */
    char *url_path;   /* /private/<app>/<user>/<guid>/ */
    char *host;

    struct cmp_container *containers;
    size_t ncontainers;
    size_t main; /* index of the container the proxy and probes target */
    struct cmp_volume *volumes;
    size_t nvolumes;
    int system_port; /* 0: none */

    json_t *services;  /* object container -> port (int) for Services */
    char *conn_string;
    char *rewrite;     /* Ambassador rewrite target, NULL: none */
    bool rewrite_header; /* add X-Original-Path */
    bool gitea;
    char *service_account;
    json_t *named_volumes; /* object volume -> claim for PVCs to create */
    char *home_claim;      /* the user's home claim (compose_home_claim); NULL: none */
    char *home_sub;        /* the user's folder in it; NULL: a per-user claim, whole */
    bool home_create;      /* emit the per-user home claim (kept after the launch) */

    /* security */
    long run_as_user, run_as_group, fs_group; /* -1: unset */
    long init_uid, init_gid;
    bool host_network;

    char *secret_name;
    json_t *secret_data; /* object key -> value */
};

void compose_system_free(struct compose_system *sys);

/* Builds the model; *out is new (compose_system_free). */
int compose_system_build(struct compose_system **out, const struct compose_input *in,
                         const struct compose_policy *pol, struct ty_error *err);
/* Builds the List from the model. */
int compose_system_emit(json_t **list_out, const struct compose_system *sys,
                        const struct compose_input *in, const struct compose_policy *pol,
                        struct ty_error *err);

/* ---- text helpers (compose_text.c) ---- */

/* Variables for {{ name }} (tmpl) and $VAR (env); both objects of strings. */
struct cmp_vars {
    const json_t *tmpl;
    const json_t *env;
};

/* Renders s: {{ name }} from vars->tmpl (values rendered again, depth-limited),
 * and when dollar is true compose interpolation ($$, $VAR, ${VAR}, ${VAR:-d},
 * ${VAR-d}, ${VAR:+a}, ${VAR+a}, ${VAR:?msg}, ${VAR?msg}) from vars->env; an
 * unset $VAR without a default is kept literally.  Errors name `where`.
 * *out is new (free()). */
int cmp_render(char **out, const char *s, const struct cmp_vars *vars, bool dollar,
               const char *where, struct ty_error *err);

/* Parses .env text into obj (key -> value): blank lines and # comments skipped,
 * optional "export ", quotes removed ('..' literal, ".." with \n \" \\ escapes),
 * CR stripped, a line without '=' is an error "name:line:1: ...". */
int cmp_dotenv_parse(json_t *obj, const char *text, size_t len, const char *name,
                     struct ty_error *err);

/* Splits a command string the way a POSIX shell splits words (quotes and
 * backslashes; no expansion) into a new JSON array. */
int cmp_shell_split(json_t **out, const char *s, const char *where, struct ty_error *err);

/* Normalises a CPU amount ("2", "0.5", 1.5, "500m") into a new string, or NULL
 * when invalid. */
char *cmp_cpu_quantity(const json_t *v);
/* Normalises a memory/storage size into a Kubernetes quantity: Kubernetes
 * suffixes (k M G T P E, Ki Mi Gi Ti Pi Ei) are kept; Docker's lower-case byte
 * units (b, k, kb, m, mb, g, gb, t, tb) become binary (Ki, Mi, Gi, Ti).  NULL
 * when invalid.  New string. */
char *cmp_mem_quantity(const json_t *v);
/* Parses a Docker duration ("1m30s", "10s", "500ms", 30) into whole seconds
 * (rounded up, at least 1).  -1 when invalid. */
long cmp_duration_seconds(const json_t *v);

/* "where" for a member of a doc node, into buf. */
const char *cmp_where(const struct doc *d, const json_t *parent, const char *key, char *buf,
                      size_t n);

#endif
