/*
 * mem.h - allocation that never returns NULL.
 *
 * Tycho is an application, not a library: running out of memory is not a state
 * it can recover from, so these helpers abort with a message instead of making
 * every caller test for NULL.  Untrusted sizes must be capped before they reach
 * an allocator (see the limits in doc/, api/ and kube/).
 */
#ifndef TY_UTIL_MEM_H
#define TY_UTIL_MEM_H

#include <stddef.h>

void *ty_xmalloc(size_t n);
void *ty_xcalloc(size_t nmemb, size_t size);
void *ty_xrealloc(void *p, size_t n);
char *ty_xstrdup(const char *s);
char *ty_xstrndup(const char *s, size_t n);
/* Returns a new formatted string; free with free(). */
char *ty_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
