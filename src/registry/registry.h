/*
 * registry.h - the app registry: where it comes from, how it resolves, and a
 * holder that lets a server swap in a new version while requests read the old.
 *
 * A registry is two YAML files, app-registry.yaml (repositories, settings,
 * contexts) and the optional app-defaults.yaml, read from a *source*:
 *
 *   /path/to/dir               app-registry.yaml [+ app-defaults.yaml] inside
 *   /path/to/file.yaml         that file [+ app-defaults.yaml beside it]
 *   http(s)://host/base        <base>/app-registry.yaml [+ <base>/app-defaults.yaml]
 *   git+URL[#REF][:PATH]       a git repository (REF: branch, tag or commit,
 *                              default the remote HEAD; PATH: folder inside the
 *                              repository, default its root), cloned into a cache
 *
 * Resolving a context gives Tycho's app entries (docs/registry.md, and
 * tycho-reference.md section 1): depth-first `extends` with whole-entry
 * overrides, app-defaults deep-merged with the defaults winning, mixins that
 * only touch present apps (parents' mixins first), the spec URL from the first
 * repository (optionally on another branch: registry_load_opts.spec_branch,
 * Tycho's DOCKSTORE_APPS_BRANCH), `$repo` substitution in spec/icon/docs, icon
 * beside the spec, and the selected context's bare-key overrides last.  Unlike Tycho, a missing
 * parent, an `extends` cycle and a non-mapping where a mapping belongs are
 * errors with file:line:col; an unknown mixin and an app without docs are
 * warnings.  Every context is resolved once at load time, so a registry that
 * loads has no context that fails.
 *
 * Nothing here logs: warnings are collected in struct registry_warnings for the
 * caller to print, errors come back as struct ty_error.
 *
 * Thread-safety: a loaded struct registry is immutable and reference counted;
 * any number of threads may read it (and its cached resolved apps) at once.
 * struct registry_holder serialises loads and refreshes with a mutex and hands
 * out references (registry_holder_get / registry_put).
 */
#ifndef TY_REGISTRY_REGISTRY_H
#define TY_REGISTRY_REGISTRY_H

#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- warnings */

/* A list of "file:line:col: message" strings.  Caller-owned: init, pass to the
 * functions that collect into it, read items[0..len), cleanup.  Adding a
 * message already in the list does nothing, so a problem inherited by many
 * contexts is reported once. */
struct registry_warnings {
    char **items; /* owned */
    size_t len;
    size_t cap;
};

void registry_warnings_init(struct registry_warnings *w);
void registry_warnings_cleanup(struct registry_warnings *w);
void registry_warnings_add(struct registry_warnings *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends copies of all of src's messages to dst (deduplicated). */
void registry_warnings_extend(struct registry_warnings *dst, const struct registry_warnings *src);

/* ------------------------------------------------------------------ source */

enum registry_source_kind {
    REGISTRY_SOURCE_DIR,  /* a local directory */
    REGISTRY_SOURCE_FILE, /* a local app-registry YAML file */
    REGISTRY_SOURCE_HTTP, /* an http(s) base URL */
    REGISTRY_SOURCE_GIT,  /* git+URL#REF:PATH */
};

/* A parsed source string.  Caller-owned: registry_source_parse() fills it,
 * registry_source_cleanup() frees the strings. */
struct registry_source {
    enum registry_source_kind kind;
    char *text;     /* the source string as given */
    char *location; /* DIR/FILE: the path; HTTP: the base URL (no trailing '/');
                       GIT: the repository URL (without "git+") */
    char *ref;      /* GIT: branch, tag or commit; NULL = remote HEAD */
    char *subdir;   /* GIT: folder inside the repository; NULL = root */
};

/* Parses text as described at the top of this file.  Local paths must exist
 * (TY_ENOTFOUND otherwise); "git+" needs a URL (TY_EINVAL). */
int registry_source_parse(struct registry_source *out, const char *text, struct ty_error *err);
void registry_source_cleanup(struct registry_source *src);

/* The source used when none is given: $TYCHO_REGISTRY, else "registry" (the
 * bundled registry, relative to the working directory).  Borrowed. */
const char *registry_source_default(void);

/* The cache directory for git clones and http bodies: $TYCHO_CACHE_DIR, else
 * $HOME/.cache/tycho.  Returns a new string; free with free(). */
char *registry_cache_dir_default(void);

/* ---------------------------------------------------------------- registry */

struct registry_load_opts {
    /* Base URL that relative repository URLs are joined to (Tycho's
     * tycho_config_url: urljoin(base + "/", url)).  NULL: the source URL for
     * http sources, the registry's own directory for local and git sources
     * (so spec paths name local files). */
    const char *base_url;
    /* Cache for git clones and fetched http bodies; NULL: the default above. */
    const char *cache_dir;
    /* Branch that replaces the path segment "master" in the first
     * repository's URL when it makes an app's default spec URL (Tycho's
     * DOCKSTORE_APPS_BRANCH, see registry_spec_branch_tycho_env()).  Applied
     * before the icon is derived and before $repo substitution; explicit
     * `spec` values and the $repo map are left alone, as in Tycho.  NULL or
     * "": no rewrite.  Checked by registry_spec_branch_check() at load. */
    const char *spec_branch;
};

#define REGISTRY_LOAD_OPTS_INIT \
    {                           \
        NULL, NULL, NULL        \
    }

/* Checks that branch can stand for a git branch or tag inside a URL path:
 * non-empty, no whitespace or control characters, none of ~ ^ : ? * [ \ # %,
 * no "..", "//", "@{", no leading or trailing '/', not ending in "." or
 * ".lock".  TY_EINVAL naming the problem. */
int registry_spec_branch_check(const char *branch, struct ty_error *err);

/* Tycho's rule for its two environment variables, over envp (NULL-terminated
 * "K=V" strings; NULL allowed): DOCKSTORE_APPS_BRANCH when it is non-empty and
 * EXTERNAL_TYCHO_APP_REGISTRY_ENABLED is exactly "false", else NULL.  Returns
 * a pointer into envp (borrowed).  The module never reads the process
 * environment itself: servers and commands call this with theirs and pass the
 * result as registry_load_opts.spec_branch. */
const char *registry_spec_branch_tycho_env(char *const *envp);

/* url with every path segment equal to "master" replaced by branch (the
 * scheme, the authority and any query or fragment are kept).  A new string
 * (free()).  Tycho replaces every "master" substring instead; see
 * docs/compat.md. */
char *registry_spec_branch_apply(const char *url, const char *branch);

/* A loaded registry.  Immutable after registry_load(); read the fields, never
 * write them.  Reference counted: registry_put() drops a reference. */
struct registry {
    struct registry_source source; /* a copy of the source it was loaded from */
    char *dir;                     /* local folder holding the files (DIR/FILE/GIT), or NULL */
    char *url;                     /* HTTP: the base URL the files came from, else NULL */
    char *base_url;                /* the base relative repositories were resolved against
                                      (a URL, or an absolute folder path) */
    char *registry_name;           /* path or URL of app-registry.yaml, used in messages */
    char *defaults_name;           /* same for app-defaults.yaml, or NULL when absent */
    char *cache_dir;
    char *spec_branch;    /* registry_load_opts.spec_branch, or NULL */
    char commit[41];      /* GIT: the commit loaded, else "" */
    int64_t loaded_at_ms; /* wall clock (ms since the epoch) of the load */

    json_t *settings;     /* object (borrowed from the registry); {} when absent */
    json_t *repositories; /* object name -> {url, ...}; {} when absent */
    json_t *contexts;     /* object name -> context */
    json_t *defaults;     /* app-defaults object ({} when absent) */
    json_t *repo_urls;    /* object name -> resolved URL string */

    /* Load-time warnings (every context resolved with the default base). */
    struct registry_warnings warnings;

    /* private */
    struct registry_int *priv;
};

/* Loads the registry named by src.  For a git source, clones or updates the
 * cache and loads the commit the ref names; when the remote cannot be reached
 * the last commit marked live is loaded instead (a warning says so).  Every
 * context is resolved once; any error makes the load fail.
 * Returns a new registry (one reference) in *out; release with registry_put().
 * Errors: TY_ENOTFOUND (missing file, unknown ref), TY_EINVAL (a bad registry,
 * message "file:line:col: ..."), TY_EUPSTREAM (fetch failed). */
int registry_load(struct registry **out,
                  const struct registry_source *src,
                  const struct registry_load_opts *opts,
                  struct ty_error *err);

/* Loads from files or text already at hand (tests, `registry check FILE`).
 * defaults_path may be NULL (no defaults). */
int registry_load_files(struct registry **out,
                        const char *registry_path,
                        const char *defaults_path,
                        const struct registry_load_opts *opts,
                        struct ty_error *err);

/* Takes another reference; returns reg. */
struct registry *registry_ref(struct registry *reg);
/* Drops a reference; frees the registry with the last one.  Accepts NULL. */
void registry_put(struct registry *reg);

/* The context names in file order, as a new array of strings (json_decref). */
json_t *registry_context_names(const struct registry *reg);

/* The resolved apps of context, cached at load time (with the load's base URL):
 * an object app_id -> entry in resolution order.  Borrowed: valid while the
 * caller holds its reference to reg; never modify it.  TY_ENOTFOUND for an
 * unknown context. */
int registry_apps_get(const json_t **out,
                      const struct registry *reg,
                      const char *context,
                      struct ty_error *err);

/* Resolves context afresh, with base_url overriding the load's base (NULL: the
 * load's base).  *out is a new object app_id -> entry (json_decref).  Warnings
 * are added to warnings (may be NULL).  Errors: TY_ENOTFOUND (unknown context),
 * TY_EINVAL with file:line:col. */
int registry_resolve(json_t **out,
                     const struct registry *reg,
                     const char *context,
                     const char *base_url,
                     struct registry_warnings *warnings,
                     struct ty_error *err);

/* The entry of app_id in a resolved apps object, or NULL.  Borrowed. */
const json_t *registry_app_find(const json_t *apps, const char *app_id);

/* Reads the text of the app's compose spec (entry["spec"]): a local path (a
 * relative one from the registry's folder), a file:// URL, or an http(s) URL
 * fetched through the cache.  For a git source, local paths must stay inside
 * the checkout (TY_EINVAL otherwise).  On success *out is a new NUL-terminated
 * string (free()), *len_out (may be NULL) its length, and *name_out (may be
 * NULL) a new string naming the file for messages (free()); on failure both
 * are NULL.  Errors: TY_ENOTFOUND, TY_EUPSTREAM, TY_EINVAL (no spec, outside
 * the repository). */
int registry_app_spec_read(char **out,
                           size_t *len_out,
                           char **name_out,
                           const struct registry *reg,
                           const json_t *app,
                           struct ty_error *err);

/* The largest icon registry_app_icon_read() reads. */
#define REGISTRY_ICON_MAX_BYTES ((size_t)1 << 20)

/* Reads the bytes of the app's icon (entry["icon"], which resolution sets to
 * dirname(spec)/icon.png unless an override replaced it), with the same rules
 * as registry_app_spec_read(): a local path (a relative one from the
 * registry's folder), a file:// URL, or an http(s) URL fetched through the
 * cache; for a git source, local paths must stay inside the checkout.  The
 * content is not checked: callers serving it decide which formats they accept.
 * On success *out is a new buffer (free()) of *len_out bytes (len_out may be
 * NULL; a NUL follows the bytes), and *name_out (may be NULL) a new string
 * naming the file (free()); on failure both are NULL.  Errors: TY_ENOTFOUND
 * (no icon in the entry, or no such file), TY_ELIMIT (larger than
 * REGISTRY_ICON_MAX_BYTES), TY_EUPSTREAM and TY_ETIMEOUT (an http(s) fetch),
 * TY_EINVAL (outside the repository, unsupported URL scheme). */
int registry_app_icon_read(char **out,
                           size_t *len_out,
                           char **name_out,
                           const struct registry *reg,
                           const json_t *app,
                           struct ty_error *err);

/* Reads the .env beside the spec (dirname(spec)/.env).  As in Tycho a missing
 * file is not an error: *out is "" then.  *out is new (free()). */
int registry_app_env_read(char **out,
                          size_t *len_out,
                          const struct registry *reg,
                          const json_t *app,
                          struct ty_error *err);

/* Checks the specs the resolved apps of context (NULL: every context) name:
 * each must be readable, be a YAML mapping with a `services` mapping, and
 * define every service the app entry lists under `services` (Tycho only finds
 * out after a launch).  http(s) specs are fetched only when fetch_remote is
 * true.  Problems are added to warnings as "file:line:col: message"; the
 * return value is the number of specs checked, or TY_ENOTFOUND for an unknown
 * context.  Does not change reg. */
int registry_specs_check(const struct registry *reg,
                         const char *context,
                         bool fetch_remote,
                         struct registry_warnings *warnings,
                         struct ty_error *err);

/* ------------------------------------------------------------------ holder */

/* Keeps the live registry of one source, for a long-running server. */
struct registry_holder;

/* Creates a holder and loads src (see registry_load).  src and opts are copied.
 * Fails when the first load fails.  Free with registry_holder_free(). */
int registry_holder_new(struct registry_holder **out,
                        const struct registry_source *src,
                        const struct registry_load_opts *opts,
                        struct ty_error *err);
void registry_holder_free(struct registry_holder *h);

/* The live registry, with a new reference: release it with registry_put().
 * Never NULL.  Thread-safe. */
struct registry *registry_holder_get(struct registry_holder *h);

/* Reloads the source (git: fetches the ref).  When the new version loads it
 * replaces the live one (*changed_out = true if its content or commit differs);
 * when it does not, the live one stays, the error is returned and remembered
 * as the last refresh error.  An unreachable git remote is such an error.
 * Git checkouts of replaced registries are pruned once no reader holds them.
 * Thread-safe: concurrent refreshes are serialised; readers never wait for one
 * (registry_holder_start() runs it on a schedule).  changed_out may be NULL. */
int registry_holder_refresh(struct registry_holder *h, bool *changed_out, struct ty_error *err);

/* What one interval refresh did, handed to the callback of
 * registry_holder_start().  Strings are borrowed for the call only. */
struct registry_refresh_note {
    bool changed;               /* a new version is live */
    const char *old_commit;     /* GIT: the commit live before, else "" */
    const char *new_commit;     /* GIT: the commit live now, else "" */
    const struct ty_error *err; /* NULL when the source loaded; else why the
                                 * previous version stays live */
};
typedef void (*registry_refresh_cb)(const struct registry_refresh_note *note, void *payload);

/* Starts a thread that refreshes the holder every interval_ms (the first one
 * interval_ms after the call), as registry_holder_refresh() does, and then
 * calls cb (may be NULL) on that thread with what happened, so the caller can
 * log it and drop what it derived from the old version.  cb must not call
 * registry_holder_stop().  TY_EINVAL for interval_ms < 1, TY_ECONFLICT when
 * already started.  Stop it with registry_holder_stop(), or
 * registry_holder_free(), which stops it first. */
int registry_holder_start(struct registry_holder *h,
                          int64_t interval_ms,
                          registry_refresh_cb cb,
                          void *payload,
                          struct ty_error *err);

/* Stops the refresh thread and waits for it (and for a refresh in progress,
 * bounded by the fetch timeouts).  Does nothing when none runs. */
void registry_holder_stop(struct registry_holder *h);

/* Counters of every refresh, by the interval or on demand, for /metrics. */
struct registry_holder_stats {
    long refreshes;          /* refreshes tried */
    long failures;           /* refreshes that left the previous version live */
    long changes;            /* refreshes that made a new version live */
    int64_t last_refresh_ms; /* wall clock of the last refresh; 0 = none yet */
    int64_t last_change_ms;  /* wall clock of the last change; 0 = none yet */
    bool last_ok;            /* the last refresh loaded (true before any) */
    int64_t interval_ms;     /* the refresh thread's interval; 0 = none runs */
};
void registry_holder_stats_get(struct registry_holder *h, struct registry_holder_stats *out);

/* A new JSON object describing the holder, for /healthz and the registry
 * status route: {"source", "kind", "commit" (or null), "loaded_at" (ISO),
 * "last_refresh_at" (ISO or null), "last_error" (string or null),
 * "refresh_interval_seconds" (null when not refreshed on a schedule),
 * "last_changed_at" (ISO or null), "refreshes", "refresh_failures",
 * "warnings": [..], "contexts": [..], "spec_branch" (or null)}.  Thread-safe. */
json_t *registry_holder_status(struct registry_holder *h);

#endif
