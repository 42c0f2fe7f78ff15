/*
 * fuzz.c - the helpers of fuzz.h, linked into every fuzz target.
 */
#include "fuzz.h"
#include "util/file.h"
#include "util/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef TY_FUZZ_SOURCE_DIR
#define TY_FUZZ_SOURCE_DIR "."
#endif

void fuzz_parts_split(struct fuzz_parts *p, const uint8_t *data, size_t size)
{
    static const char sep[] = FUZZ_SEP;
    const size_t seplen = sizeof(sep) - 1;
    const char *s = (const char *)data, *end = s + size;
    memset(p, 0, sizeof(*p));
    while (p->n < FUZZ_MAX_PARTS) {
        const char *cut = NULL;
        if (p->n < FUZZ_MAX_PARTS - 1)
            for (const char *q = s; q + seplen <= end; q++)
                if (*q == '\n' && !memcmp(q, sep, seplen)) {
                    cut = q;
                    break;
                }
        size_t len = cut ? (size_t)(cut - s) : (size_t)(end - s);
        p->part[p->n] = ty_xmalloc(len + 1);
        memcpy(p->part[p->n], s, len);
        p->part[p->n][len] = '\0';
        p->len[p->n] = len;
        p->n++;
        if (!cut)
            break;
        s = cut + seplen;
    }
}

void fuzz_parts_cleanup(struct fuzz_parts *p)
{
    for (int i = 0; i < FUZZ_MAX_PARTS; i++)
        free(p->part[i]);
    memset(p, 0, sizeof(*p));
}

const char *fuzz_line(char *out, size_t n, const char *part, size_t len, size_t *pos)
{
    size_t o = 0;
    out[0] = '\0';
    if (!part)
        return out;
    while (*pos < len && part[*pos] != '\n') {
        if (o + 1 < n)
            out[o++] = part[*pos];
        (*pos)++;
    }
    if (*pos < len)
        (*pos)++;
    out[o] = '\0';
    return out;
}

/* The next line of [*p, end) without its "\r\n" or "\n", NUL-terminated in
 * place; NULL when no line break is left. */
static char *next_line(char **p, char *end)
{
    char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl)
        return NULL;
    *nl = '\0';
    if (nl > s && nl[-1] == '\r')
        nl[-1] = '\0';
    *p = nl + 1;
    return s;
}

bool fuzz_request_parse(struct fuzz_request *out, char *text, size_t len)
{
    char *p = text, *end = text + len;
    memset(out, 0, sizeof(*out));
    char *line = next_line(&p, end);
    if (!line) {
        line = p; /* a request line alone */
        p = end;
    }
    char *sp = strchr(line, ' ');
    if (!sp || sp == line)
        return false;
    *sp = '\0';
    out->method = line;
    char *target = sp + 1;
    if ((sp = strchr(target, ' ')))
        *sp = '\0'; /* "HTTP/1.1" after the target */
    char *q = strchr(target, '?');
    if (q) {
        *q = '\0';
        out->query = q + 1;
    }
    out->path = target;
    while ((line = next_line(&p, end)) && line[0]) {
        char *colon = strchr(line, ':');
        if (!colon || out->nheaders == FUZZ_MAX_HEADERS)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        out->headers[2 * out->nheaders] = line;
        out->headers[2 * out->nheaders + 1] = v;
        out->nheaders++;
    }
    if (line) { /* a blank line was seen: the rest is the body */
        out->body = p;
        out->body_len = (size_t)(end - p);
    }
    return true;
}

const char *fuzz_request_header(const struct fuzz_request *r, const char *name)
{
    for (int i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[2 * i], name))
            return r->headers[2 * i + 1];
    return NULL;
}

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("fuzz: FINDING: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static char *tmpdirs[8];
static int ntmpdirs;

static void tmpdirs_remove(void)
{
    for (int i = 0; i < ntmpdirs; i++) {
        ty_rm_rf(tmpdirs[i], NULL);
        free(tmpdirs[i]);
    }
    ntmpdirs = 0;
}

const char *fuzz_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path = ty_xasprintf("%s/tycho-fuzz-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(path) || ntmpdirs == (int)(sizeof(tmpdirs) / sizeof(tmpdirs[0]))) {
        perror("fuzz: mkdtemp");
        abort();
    }
    if (ntmpdirs == 0)
        atexit(tmpdirs_remove);
    tmpdirs[ntmpdirs++] = path;
    return path;
}

const char *fuzz_source_dir(void)
{
    const char *s = getenv("TY_SOURCE_DIR");
    return s && *s ? s : TY_FUZZ_SOURCE_DIR;
}
