/*
 * compose_text.c - the string-level parts of the compose compiler: `{{ name }}`
 * placeholders, compose `$VAR` interpolation, `.env` files, shell-style word
 * splitting, and resource quantities.
 *
 * Placeholders are deliberately a tiny language: `{{ name }}` with a known name
 * and nothing else.  Tycho runs the whole spec through Jinja, so any `{%`, `{#`,
 * filter or expression would be evaluated there; we refuse them with the exact
 * position instead of guessing, and refuse unknown names instead of rendering
 * them as empty strings.  Interpolation follows the compose specification,
 * except that an unset variable without a default stays as written, because
 * real HeLx specs rely on `${NB_PREFIX}` reaching the container's shell.
 */
#include "compose/compose_int.h"

#include "util/buf.h"
#include "util/mem.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RENDER_DEPTH 4

static bool is_name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static int render_depth(struct ty_buf *b, const char *s, const struct cmp_vars *vars,
                        bool dollar, const char *where, int depth, struct ty_error *err);

/* {{ name }} at s (s points at "{{"); *adv receives the length consumed. */
static int render_tmpl(struct ty_buf *b, const char *s, size_t *adv, const struct cmp_vars *vars,
                       const char *where, int depth, struct ty_error *err)
{
    const char *p = s + 2;
    const char *end = strstr(p, "}}");
    if (!end)
        return ty_error_set(err, TY_EINVAL, "%s: template: '{{' without a closing '}}'", where);
    while (p < end && isspace((unsigned char)*p))
        p++;
    const char *q = end;
    while (q > p && isspace((unsigned char)q[-1]))
        q--;
    size_t n = (size_t)(q - p);
    bool ok = n > 0 && is_name_start(*p);
    for (size_t i = 0; ok && i < n; i++)
        ok = is_name_char(p[i]);
    if (!ok)
        return ty_error_set(err, TY_EINVAL,
                            "%s: template: unsupported expression '{{%.*s}}' (only {{ name }} "
                            "placeholders are supported)",
                            where, (int)(end - s - 2), s + 2);
    char name[128];
    if (n >= sizeof(name))
        return ty_error_set(err, TY_EINVAL, "%s: template: name too long", where);
    memcpy(name, p, n);
    name[n] = '\0';
    const json_t *v = vars->tmpl ? json_object_get(vars->tmpl, name) : NULL;
    if (!v || !json_is_string(v))
        return ty_error_set(err, TY_EINVAL, "%s: template: unknown name '%s' in '{{%.*s}}'",
                            where, name, (int)(end - s - 2), s + 2);
    if (depth >= RENDER_DEPTH)
        return ty_error_set(err, TY_EINVAL, "%s: template: '%s' refers to itself", where, name);
    /* Values (settings such as helx_user: "{{ username }}") may hold placeholders. */
    int rc = render_depth(b, json_string_value(v), vars, false, where, depth + 1, err);
    if (rc)
        return rc;
    *adv = (size_t)(end + 2 - s);
    return 0;
}

static const char *env_get(const struct cmp_vars *vars, const char *name, size_t n)
{
    char key[256];
    if (!vars->env || n >= sizeof(key))
        return NULL;
    memcpy(key, name, n);
    key[n] = '\0';
    const json_t *v = json_object_get(vars->env, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ${...} at s (s points at "${"). */
static int render_braced(struct ty_buf *b, const char *s, size_t *adv, const struct cmp_vars *vars,
                         const char *where, int depth, struct ty_error *err)
{
    const char *p = s + 2;
    /* Find the matching '}' (defaults may nest ${...}). */
    int level = 1;
    const char *end = p;
    for (; *end; end++) {
        if (end[0] == '$' && end[1] == '{') {
            level++;
            end++;
        } else if (*end == '}' && --level == 0) {
            break;
        }
    }
    if (!*end)
        return ty_error_set(err, TY_EINVAL, "%s: interpolation: '${' without a closing '}'",
                            where);
    const char *name = p;
    while (p < end && is_name_char(*p))
        p++;
    size_t n = (size_t)(p - name);
    if (n == 0 || !is_name_start(*name))
        return ty_error_set(err, TY_EINVAL, "%s: interpolation: invalid variable in '%.*s'",
                            where, (int)(end + 1 - s), s);
    const char *val = env_get(vars, name, n);
    char *word = NULL;
    int rc = 0;
    if (p == end) {
        if (val)
            ty_buf_puts(b, val);
        else
            ty_buf_append(b, s, (size_t)(end + 1 - s));
        goto done;
    }
    bool colon = *p == ':';
    if (colon)
        p++;
    char op = *p++;
    if (op != '-' && op != '+' && op != '?')
        return ty_error_set(err, TY_EINVAL, "%s: interpolation: unsupported '%.*s'", where,
                            (int)(end + 1 - s), s);
    word = ty_xstrndup(p, (size_t)(end - p));
    bool set = val != NULL && (!colon || *val);
    if (op == '-') {
        if (set)
            ty_buf_puts(b, val);
        else
            rc = render_depth(b, word, vars, true, where, depth + 1, err);
    } else if (op == '+') {
        if (set)
            rc = render_depth(b, word, vars, true, where, depth + 1, err);
    } else {
        if (set)
            ty_buf_puts(b, val);
        else
            rc = ty_error_set(err, TY_EINVAL, "%s: interpolation: required variable %.*s is %s%s%s",
                              where, (int)n, name, val ? "empty" : "not set", *word ? ": " : "",
                              word);
    }
done:
    free(word);
    if (!rc)
        *adv = (size_t)(end + 1 - s);
    return rc;
}

static int render_depth(struct ty_buf *b, const char *s, const struct cmp_vars *vars,
                        bool dollar, const char *where, int depth, struct ty_error *err)
{
    if (depth > RENDER_DEPTH)
        return ty_error_set(err, TY_EINVAL, "%s: interpolation nested too deeply", where);
    for (const char *p = s; *p;) {
        size_t adv = 0;
        int rc = 0;
        if (p[0] == '{' && p[1] == '{') {
            rc = render_tmpl(b, p, &adv, vars, where, depth, err);
        } else if (p[0] == '{' && (p[1] == '%' || p[1] == '#')) {
            return ty_error_set(err, TY_EINVAL,
                                "%s: template: '{%c' blocks are not supported (only {{ name }} "
                                "placeholders)",
                                where, p[1]);
        } else if (dollar && p[0] == '$' && p[1] == '$') {
            ty_buf_putc(b, '$');
            adv = 2;
        } else if (dollar && p[0] == '$' && p[1] == '{') {
            rc = render_braced(b, p, &adv, vars, where, depth, err);
        } else if (dollar && p[0] == '$' && is_name_start(p[1])) {
            size_t n = 1;
            while (is_name_char(p[1 + n]))
                n++;
            const char *val = env_get(vars, p + 1, n);
            if (val)
                ty_buf_puts(b, val);
            else
                ty_buf_append(b, p, n + 1);
            adv = n + 1;
        } else {
            ty_buf_putc(b, *p);
            adv = 1;
        }
        if (rc)
            return rc;
        p += adv;
    }
    return 0;
}

int cmp_render(char **out, const char *s, const struct cmp_vars *vars, bool dollar,
               const char *where, struct ty_error *err)
{
    struct ty_buf b = TY_BUF_INIT;
    *out = NULL;
    int rc = render_depth(&b, s, vars, dollar, where, 0, err);
    if (rc) {
        ty_buf_cleanup(&b);
        return rc;
    }
    *out = ty_buf_detach(&b);
    return 0;
}

/* ------------------------------------------------------------------ .env */

int cmp_dotenv_parse(json_t *obj, const char *text, size_t len, const char *name,
                     struct ty_error *err)
{
    size_t line = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        const char *ls = p, *s = p, *e = le;
        p = nl ? nl + 1 : end;
        if (e > s && e[-1] == '\r')
            e--;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        if (s == e || *s == '#')
            continue;
        if ((size_t)(e - s) > 7 && !strncmp(s, "export ", 7))
            s += 7;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq)
            return ty_error_set(err, TY_EINVAL, "%s:%zu:1: expected NAME=value", name, line);
        const char *ke = eq;
        while (ke > s && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        bool ok = ke > s && is_name_start(*s);
        for (const char *k = s; ok && k < ke; k++)
            ok = is_name_char(*k) || *k == '.' || *k == '-';
        if (!ok)
            return ty_error_set(err, TY_EINVAL, "%s:%zu:1: invalid variable name '%.*s'", name,
                                line, (int)(ke - s), s);
        const char *v = eq + 1;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        struct ty_buf val = TY_BUF_INIT;
        ty_buf_puts(&val, "");
        if (v < e && (*v == '\'' || *v == '"')) {
            char q = *v++;
            const char *c = v;
            for (; c < e && *c != q; c++) {
                if (q == '"' && *c == '\\' && c + 1 < e) {
                    c++;
                    ty_buf_putc(&val, *c == 'n' ? '\n' : *c == 't' ? '\t' : *c);
                } else {
                    ty_buf_putc(&val, *c);
                }
            }
            if (c >= e) {
                ty_buf_cleanup(&val);
                return ty_error_set(err, TY_EINVAL, "%s:%zu:%d: unterminated quote", name, line,
                                    (int)(v - ls));
            }
        } else {
            const char *ve = e;
            /* An unquoted value ends at " #" (an inline comment). */
            for (const char *c = v; c + 1 < e; c++)
                if ((*c == ' ' || *c == '\t') && c[1] == '#') {
                    ve = c;
                    break;
                }
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            ty_buf_append(&val, v, (size_t)(ve - v));
        }
        char *key = ty_xstrndup(s, (size_t)(ke - s));
        json_object_set_new(obj, key, json_string(ty_buf_cstr(&val)));
        free(key);
        ty_buf_cleanup(&val);
    }
    return 0;
}

/* -------------------------------------------------------------- shell split */

int cmp_shell_split(json_t **out, const char *s, const char *where, struct ty_error *err)
{
    json_t *arr = json_array();
    struct ty_buf w = TY_BUF_INIT;
    bool in_word = false;
    *out = NULL;
    for (const char *p = s;; p++) {
        char c = *p;
        if (c == '\0' || c == ' ' || c == '\t' || c == '\n') {
            if (in_word) {
                json_array_append_new(arr, json_string(ty_buf_cstr(&w)));
                ty_buf_reset(&w);
                in_word = false;
            }
            if (c == '\0')
                break;
            continue;
        }
        in_word = true;
        ty_buf_puts(&w, "");
        if (c == '\\' && p[1]) {
            ty_buf_putc(&w, *++p);
        } else if (c == '\'' || c == '"') {
            char q = c;
            for (p++; *p && *p != q; p++) {
                if (q == '"' && *p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$'))
                    p++;
                ty_buf_putc(&w, *p);
            }
            if (!*p) {
                ty_buf_cleanup(&w);
                json_decref(arr);
                return ty_error_set(err, TY_EINVAL, "%s: unterminated %c quote in command",
                                    where, q);
            }
        } else {
            ty_buf_putc(&w, c);
        }
    }
    ty_buf_cleanup(&w);
    *out = arr;
    return 0;
}

/* --------------------------------------------------------------- quantities */

/* A plain decimal number: digits with at most one '.', at least one digit. */
static bool is_decimal(const char *s, size_t n)
{
    bool digit = false, dot = false;
    for (size_t i = 0; i < n; i++) {
        if (isdigit((unsigned char)s[i]))
            digit = true;
        else if (s[i] == '.' && !dot)
            dot = true;
        else
            return false;
    }
    return digit;
}

char *cmp_cpu_quantity(const json_t *v)
{
    char buf[64];
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return NULL;
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        return ty_xstrdup(buf);
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0) || d > 1e9)
            return NULL;
        snprintf(buf, sizeof(buf), "%.3f", d);
        /* Drop trailing zeros but keep one decimal, as Python's str(float) does. */
        char *dot = strchr(buf, '.');
        char *e = buf + strlen(buf);
        while (e > dot + 2 && e[-1] == '0')
            *--e = '\0';
        return ty_xstrdup(buf);
    }
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return NULL;
    if (s[n - 1] == 'm' && n > 1 && is_decimal(s, n - 1) && !strchr(s, '.'))
        return ty_xstrdup(s);
    if (!is_decimal(s, n))
        return NULL;
    if (s[0] == '.') {
        snprintf(buf, sizeof(buf), "0%s", s);
        return ty_xstrdup(buf);
    }
    return ty_xstrdup(s);
}

char *cmp_mem_quantity(const json_t *v)
{
    char buf[64];
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return NULL;
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        return ty_xstrdup(buf);
    }
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t n = strlen(s), d = 0;
    if (n == 0 || n > 32)
        return NULL;
    while (d < n && (isdigit((unsigned char)s[d]) || s[d] == '.'))
        d++;
    if (!is_decimal(s, d))
        return NULL;
    const char *suf = s + d;
    static const char *const k8s[] = {"", "k", "M", "G", "T", "P", "E", "Ki", "Mi",
                                      "Gi", "Ti", "Pi", "Ei", NULL};
    for (int i = 0; k8s[i]; i++)
        if (!strcmp(suf, k8s[i]))
            return ty_xstrdup(s);
    static const struct {
        const char *docker;
        const char *k8s;
    } conv[] = {{"b", ""},    {"B", ""},   {"kb", "Ki"}, {"KB", "Ki"}, {"K", "Ki"},
                {"m", "Mi"},  {"mb", "Mi"}, {"MB", "Mi"}, {"g", "Gi"},  {"gb", "Gi"},
                {"GB", "Gi"}, {"t", "Ti"},  {"tb", "Ti"}, {"TB", "Ti"}, {NULL, NULL}};
    for (int i = 0; conv[i].docker; i++)
        if (!strcmp(suf, conv[i].docker)) {
            snprintf(buf, sizeof(buf), "%.*s%s", (int)d, s, conv[i].k8s);
            return ty_xstrdup(buf);
        }
    return NULL;
}

long cmp_duration_seconds(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= 0 ? (long)json_integer_value(v) : -1;
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    double total = 0;
    if (!*s)
        return -1;
    while (*s) {
        char *e;
        double x = strtod(s, &e);
        if (e == s || x < 0)
            return -1;
        s = e;
        double unit;
        if (!strncmp(s, "ms", 2)) {
            unit = 0.001;
            s += 2;
        } else if (!strncmp(s, "us", 2)) {
            unit = 0.000001;
            s += 2;
        } else if (*s == 'h') {
            unit = 3600;
            s++;
        } else if (*s == 'm') {
            unit = 60;
            s++;
        } else if (*s == 's') {
            unit = 1;
            s++;
        } else {
            return -1;
        }
        total += x * unit;
    }
    if (total > 1e9)
        return -1;
    long secs = (long)ceil(total);
    return secs < 1 ? 1 : secs;
}

const char *cmp_where(const struct doc *d, const json_t *parent, const char *key, char *buf,
                      size_t n)
{
    return doc_where(d, parent, key, buf, n);
}
