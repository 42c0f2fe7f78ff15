/*
 * slug.h - Kubernetes-safe names and label values from arbitrary user strings,
 * with KubeSpawner's "safe" slug scheme, and the Kubernetes name validators.
 *
 * A string that is already valid (and has no "--") is kept as it is; anything
 * else is lowercased, every run of characters outside [a-z0-9] becomes "-",
 * "-" is trimmed, "x-" is prefixed when it does not start with a letter, the
 * result is truncated, and "---" + the first 8 hex digits of sha256(original
 * UTF-8 bytes) is appended.  "---" never occurs in a kept name, so escaped and
 * kept names cannot collide, and the hash keeps escaped names distinct.
 * Vectors: "alice@example.org" -> "alice-example-org---7a64adf2" (both kinds),
 * "Alice" -> object "alice---3bc51062", label "Alice".
 *
 * Non-ASCII letters are treated as separators (Python's str.lower() would
 * first lowercase them, which changes nothing after the [a-z0-9] filter except
 * for the few code points that lowercase into ASCII, such as U+212A KELVIN SIGN).
 *
 * All functions are pure and thread-safe.
 */
#ifndef TY_UTIL_SLUG_H
#define TY_UTIL_SLUG_H

#include <stdbool.h>
#include <stddef.h>

/* Object-name slug (lowercase, starts with a letter, ends alnum, [a-z0-9-]):
 * valid both as an RFC 1035 and a DNS-1123 label.  max_len 0 means 63; hashed
 * results are then at most 32 characters, as in KubeSpawner (whose templates
 * pass 48).  Returns a new string (free()). */
char *ty_slug_object(const char *name, size_t max_len);
/* Label-value slug: the name kept when it is a valid label value (upper case,
 * '.', '_' allowed), else escaped as above, at most 32 characters.  Returns a
 * new string. */
char *ty_slug_label(const char *name);

/* Validators, exactly the apimachinery rules (kubernetes.md §4.1). */
bool ty_is_dns1123_label(const char *s);     /* <= 63, [a-z0-9-], alnum ends */
bool ty_is_dns1123_subdomain(const char *s); /* <= 253, labels joined by '.' */
bool ty_is_rfc1035_label(const char *s);     /* <= 63, starts with a letter */
bool ty_is_label_value(const char *s);       /* <= 63, empty allowed */
bool ty_is_label_key(const char *s);         /* [prefix/]name */

#endif
