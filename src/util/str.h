/*
 * str.h - small string helpers that the C library lacks.
 */
#ifndef TY_UTIL_STR_H
#define TY_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool ty_str_has_prefix(const char *s, const char *prefix);
bool ty_str_has_suffix(const char *s, const char *suffix);
/* Copies at most n-1 bytes and always terminates (n > 0).  Returns strlen(src). */
size_t ty_strlcpy(char *dst, const char *src, size_t n);
/* True when s equals one of the NULL-terminated list. */
bool ty_str_in(const char *s, const char *const *list);
/* Strict decimal parse of the whole string into [min, max].  Returns 0, or -1
 * when s is empty, not a number, has trailing bytes or is out of range. */
int ty_str_to_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Writes 2*n lowercase hex digits and a NUL to out (size 2*n+1). */
void ty_hex_encode(char *out, const unsigned char *in, size_t n);

#endif
