/*
 * embed.h - files compiled into the binary by cmake/Embed.cmake.
 *
 * Each embedded set is an array ending with an entry whose path is NULL.  The
 * data is static and NUL-terminated (size excludes the NUL).
 */
#ifndef TY_UTIL_EMBED_H
#define TY_UTIL_EMBED_H

#include <stddef.h>

struct ty_embedded_file {
    const char *path; /* relative to the embedded folder, '/'-separated */
    const unsigned char *data;
    size_t size;
};

/* migrations/ *.sql, sorted by name. */
extern const struct ty_embedded_file ty_embed_migrations_files[];
/* web/ (the UI). */
extern const struct ty_embedded_file ty_embed_web_files[];

#endif
