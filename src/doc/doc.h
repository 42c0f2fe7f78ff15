/*
 * doc.h - YAML (and JSON, which is YAML) documents as jansson trees that
 * remember where every node came from.
 *
 * The loader resolves plain scalars the way YAML 1.1 loaders such as PyYAML's
 * SafeLoader do (yes/no/on/off are booleans, 0777 is octal, 1:30 is 90, ~ is
 * null), because the registries and specs we read were written for one; it
 * supports anchors, aliases and `<<` merge keys, and refuses hostile input:
 * documents over a size limit, nesting over a depth limit, and alias expansion
 * over a node limit (a "billion laughs" file is an error, not a hang).
 *
 * Positions are 1-based line:column.  They are recorded for every container and
 * for every member of a mapping and item of a sequence, so callers can report
 * "app-registry.yaml:12:5: ..." for the exact place of a bad value.
 *
 * Ownership: doc_parse()/doc_load_file() return a new struct doc; free it with
 * doc_free().  doc_root() is borrowed from the doc; take json_incref() to keep
 * it.  Nodes created later (copies, merges) have no positions; lookups on them
 * return false and the *_where() helpers fall back to the document name.
 * A struct doc is not thread-safe; distinct docs may be used from distinct
 * threads.
 */
#ifndef TY_DOC_DOC_H
#define TY_DOC_DOC_H

#include "util/buf.h"
#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct doc;

struct doc_limits {
    size_t max_bytes;  /* input size */
    int max_depth;     /* nesting of mappings and sequences */
    size_t max_nodes;  /* nodes after alias and merge expansion */
    bool last_document; /* several documents: keep the last (else an error) */
};

#define DOC_LIMITS_DEFAULT {4u << 20, 64, 1000000, false}

struct doc_pos {
    int line;
    int col;
};

/* Parses text (len bytes, need not be NUL-terminated) into *out.  name is used
 * in positions and messages (a file path, "<stdin>", a URL).  lim may be NULL
 * for DOC_LIMITS_DEFAULT.  An empty document gives a null root.
 * Errors: TY_EINVAL "name:line:col: message" for syntax and type errors,
 * TY_ELIMIT for a broken limit. */
int doc_parse(struct doc **out, const char *name, const char *text, size_t len,
              const struct doc_limits *lim, struct ty_error *err);

/* Reads and parses a file; name in messages is the path. */
int doc_load_file(struct doc **out, const char *path, const struct doc_limits *lim,
                  struct ty_error *err);

void doc_free(struct doc *d);

/* The root node (borrowed). */
json_t *doc_root(const struct doc *d);
/* The name given at parse time (borrowed). */
const char *doc_name(const struct doc *d);

/* Position of a container (mapping or sequence) node. */
bool doc_node_pos(const struct doc *d, const json_t *node, struct doc_pos *out);
/* Position of the value stored under key in the mapping object. */
bool doc_member_pos(const struct doc *d, const json_t *object, const char *key,
                    struct doc_pos *out);
/* Position of the key itself (where a "duplicate" or "unknown key" points). */
bool doc_key_pos(const struct doc *d, const json_t *object, const char *key, struct doc_pos *out);
/* Position of item index of the sequence array. */
bool doc_item_pos(const struct doc *d, const json_t *array, size_t index, struct doc_pos *out);

/* Writes "name:line:col" for the member key of parent (key NULL: parent itself),
 * falling back to parent's position, then to "name".  d may be NULL ("?").
 * Returns buf. */
const char *doc_where(const struct doc *d, const json_t *parent, const char *key, char *buf,
                      size_t n);
const char *doc_where_item(const struct doc *d, const json_t *array, size_t index, char *buf,
                           size_t n);

/* Sets err to "<where>: <message>" with the position of parent/key as in
 * doc_where().  Returns code. */
int doc_error(struct ty_error *err, enum ty_code code, const struct doc *d, const json_t *parent,
              const char *key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* As doc_error(), but points at the key itself rather than its value (for
 * "unknown key" and "duplicate key" messages). */
int doc_key_error(struct ty_error *err, enum ty_code code, const struct doc *d,
                  const json_t *parent, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* True when a plain YAML scalar with this text would load as something other
 * than a string (null, bool, int, float), i.e. when an emitter must quote it. */
bool doc_scalar_is_special(const char *text);

/* Appends root as block YAML to out (strings quoted where a loader would read
 * them as another type).  Returns 0, or TY_EINVAL for a tree jansson cannot
 * represent (should not happen). */
int doc_emit_yaml(const json_t *root, struct ty_buf *out, struct ty_error *err);

#endif
