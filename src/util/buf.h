/*
 * buf.h - a growable byte buffer, always NUL-terminated.
 *
 * struct ty_buf is caller-owned: ty_buf_init() it, append to it, and either
 * ty_buf_cleanup() it or take the bytes with ty_buf_detach() (then free() them).
 */
#ifndef TY_UTIL_BUF_H
#define TY_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct ty_buf {
    char *data; /* NUL-terminated when cap > 0; NULL before the first append */
    size_t len;
    size_t cap;
};

#define TY_BUF_INIT {NULL, 0, 0}

void ty_buf_init(struct ty_buf *b);
void ty_buf_cleanup(struct ty_buf *b);
void ty_buf_reset(struct ty_buf *b); /* len = 0, keeps the memory */
void ty_buf_append(struct ty_buf *b, const void *data, size_t len);
void ty_buf_puts(struct ty_buf *b, const char *s);
void ty_buf_putc(struct ty_buf *b, char c);
void ty_buf_printf(struct ty_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ty_buf_vprintf(struct ty_buf *b, const char *fmt, va_list ap);
/* Returns the contents (never NULL; "" when empty) and leaves b empty.
 * The caller frees the result with free(). */
char *ty_buf_detach(struct ty_buf *b);
/* Returns the contents as a C string, borrowed (valid until the next append). */
const char *ty_buf_cstr(const struct ty_buf *b);

#endif
