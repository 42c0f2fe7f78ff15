/*
 * buf.c - growable byte buffer (see buf.h).
 */
#include "util/buf.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ty_buf_init(struct ty_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void ty_buf_cleanup(struct ty_buf *b)
{
    free(b->data);
    ty_buf_init(b);
}

void ty_buf_reset(struct ty_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static void grow(struct ty_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap = b->cap ? b->cap : 64;

    if (need <= b->cap)
        return;
    while (cap < need)
        cap *= 2;
    b->data = ty_xrealloc(b->data, cap);
    b->cap = cap;
}

void ty_buf_append(struct ty_buf *b, const void *data, size_t len)
{
    grow(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void ty_buf_puts(struct ty_buf *b, const char *s)
{
    ty_buf_append(b, s, strlen(s));
}

void ty_buf_putc(struct ty_buf *b, char c)
{
    ty_buf_append(b, &c, 1);
}

void ty_buf_vprintf(struct ty_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n <= 0)
        return;
    grow(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void ty_buf_printf(struct ty_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ty_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *ty_buf_detach(struct ty_buf *b)
{
    char *p = b->data ? b->data : ty_xstrdup("");
    ty_buf_init(b);
    return p;
}

const char *ty_buf_cstr(const struct ty_buf *b)
{
    return b->data ? b->data : "";
}
