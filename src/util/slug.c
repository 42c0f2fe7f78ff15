/*
 * slug.c - KubeSpawner's "safe" slugs and the Kubernetes name rules.
 *
 * The escaping follows jupyterhub/kubespawner slugs.py (described, not copied,
 * in kubernetes.md §4.2): keep a valid name, otherwise strip to [a-z0-9-] and
 * append a short hash of the original so distinct inputs stay distinct.  The
 * validators implement apimachinery's regular expressions by hand; they are
 * small enough that a character loop is clearer than a regex engine.
 */
#include "util/slug.h"

#include "util/crypto.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

#define HASH_LEN 8
#define DEFAULT_HASHED_MAX 32

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum_lower(char c)
{
    return is_lower(c) || is_digit(c);
}

static bool is_alnum(char c)
{
    return is_alnum_lower(c) || (c >= 'A' && c <= 'Z');
}

/* KubeSpawner's is_valid_default / is_valid_object_name with a length cap. */
static bool valid_object(const char *s, size_t max_len)
{
    size_t n = strlen(s);
    if (n == 0 || n > max_len || !is_lower(s[0]) || !is_alnum_lower(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum_lower(s[i]) && s[i] != '-')
            return false;
    return true;
}

/* strip_and_hash(name, max_len): lowercase, runs of non-[a-z0-9] to '-',
 * lstrip '-', truncate to keep, rstrip '-', then "x-" + truncate(keep - 2) when
 * not starting with a letter, "x" when empty; then "---" and the hash. */
static char *strip_and_hash(const char *name, size_t max_len)
{
    char hex[65];
    size_t keep = max_len > HASH_LEN + 3 ? max_len - (HASH_LEN + 3) : 1;
    size_t n = strlen(name);
    char *safe = ty_xmalloc(n + 1);
    size_t len = 0;
    bool in_sep = false;

    ty_sha256_hex(hex, name, n);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (is_alnum_lower(c)) {
            safe[len++] = c;
            in_sep = false;
        } else if (!in_sep) {
            safe[len++] = '-';
            in_sep = true;
        }
    }
    size_t start = 0;
    while (start < len && safe[start] == '-')
        start++;
    if (len - start > keep)
        len = start + keep;
    while (len > start && safe[len - 1] == '-')
        len--;

    char *out = ty_xmalloc(keep + 3 + HASH_LEN + 3);
    size_t o = 0;
    if (len == start) {
        out[o++] = 'x';
    } else if (!is_lower(safe[start])) {
        size_t sub = keep >= 2 ? keep - 2 : 0;
        out[o++] = 'x';
        out[o++] = '-';
        for (size_t i = start; i < len && i - start < sub; i++)
            out[o++] = safe[i];
    } else {
        for (size_t i = start; i < len; i++)
            out[o++] = safe[i];
    }
    memcpy(out + o, "---", 3);
    o += 3;
    memcpy(out + o, hex, HASH_LEN);
    o += HASH_LEN;
    out[o] = '\0';
    free(safe);
    return out;
}

char *ty_slug_object(const char *name, size_t max_len)
{
    if (max_len == 0)
        max_len = 63;
    if (!strstr(name, "--") && valid_object(name, max_len))
        return ty_xstrdup(name);
    return strip_and_hash(name, max_len == 63 ? DEFAULT_HASHED_MAX : max_len);
}

char *ty_slug_label(const char *name)
{
    if (!strstr(name, "--") && ty_is_label_value(name))
        return ty_xstrdup(name);
    return strip_and_hash(name, DEFAULT_HASHED_MAX);
}

bool ty_is_dns1123_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum_lower(s[i]) && s[i] != '-')
            return false;
    return true;
}

bool ty_is_dns1123_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        char part[64];
        if (len == 0 || len > 63)
            return false;
        memcpy(part, p, len);
        part[len] = '\0';
        if (!ty_is_dns1123_label(part))
            return false;
        if (!dot)
            return true;
        p = dot + 1;
    }
}

bool ty_is_rfc1035_label(const char *s)
{
    return ty_is_dns1123_label(s) && is_lower(s[0]);
}

/* qualifiedNameFmt: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], <= 63. */
static bool qualified_name(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

bool ty_is_label_value(const char *s)
{
    size_t n = strlen(s);
    return n == 0 || qualified_name(s, n);
}

bool ty_is_label_key(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash)
        return qualified_name(s, strlen(s));
    size_t plen = (size_t)(slash - s);
    if (plen == 0 || plen > 253)
        return false;
    char prefix[254];
    memcpy(prefix, s, plen);
    prefix[plen] = '\0';
    return ty_is_dns1123_subdomain(prefix) && qualified_name(slash + 1, strlen(slash + 1));
}
