/*
 * registry_int.h - private to src/registry: the parts of a loaded registry that
 * callers never see, and the URL and template helpers shared by the files.
 */
#ifndef TY_REGISTRY_REGISTRY_INT_H
#define TY_REGISTRY_REGISTRY_INT_H

#include "doc/doc.h"
#include "registry/registry.h"

#include <stdatomic.h>

struct registry_int {
    atomic_int refs;
    struct doc *reg_doc;      /* app-registry.yaml (owns the settings/contexts trees) */
    struct doc *defaults_doc; /* app-defaults.yaml, or NULL */
    json_t *resolved;         /* context name -> resolved apps (cached at load) */
    char digest[65];          /* sha256 of the two files' bytes, to see changes */
    char *root;               /* GIT: the checkout; local spec reads stay inside it */
};

/* Allocates an empty registry with one reference (fields NULL, objects {}). */
struct registry *registry_alloc(void);

/* registry_load() with control over the git fallback: with allow_fallback
 * false a failure to reach the remote or to load the new commit is an error
 * (a refresh keeps what it has instead). */
int registry_load_ex(struct registry **out,
                     const struct registry_source *src,
                     const struct registry_load_opts *opts,
                     bool allow_fallback,
                     struct ty_error *err);

/* Checks the shape of the loaded documents and fills reg->settings,
 * repositories, contexts, defaults, repo_urls (with reg->base_url), then
 * resolves every context into priv->resolved, collecting warnings into
 * reg->warnings.  Errors carry file:line:col. */
int registry_validate_and_resolve_all(struct registry *reg, struct ty_error *err);

/* Resolves one context with the given resolved repository map. */
int registry_resolve_with(json_t **out,
                          const struct registry *reg,
                          const char *context,
                          const json_t *repo_urls,
                          struct registry_warnings *warnings,
                          struct ty_error *err);

/* Builds name -> resolved URL for reg->repositories against base (a URL or an
 * absolute folder).  Returns a new object. */
json_t *registry_repo_urls(const struct registry *reg, const char *base);

/* True when s starts with an RFC 3986 scheme followed by ':'. */
bool registry_url_has_scheme(const char *s);
/* RFC 3986 reference resolution, as Python's urllib.parse.urljoin for the
 * forms registries use.  Returns a new string. */
char *registry_url_join(const char *base, const char *ref);
/* Joins a relative path to an absolute folder and removes "." and ".."
 * segments.  Returns a new string. */
char *registry_path_join_norm(const char *dir, const char *rel);
/* Python string.Template(s).safe_substitute(map): "$$" -> "$", "$name" and
 * "${name}" -> map[name] when map has a string there, anything else kept.
 * Returns a new string. */
char *registry_template_substitute(const char *s, const json_t *map);
/* os.path.dirname: everything before the last '/', "" when none.  New string. */
char *registry_dirname(const char *s);

#endif
