/*
 * doc_emit.c - jansson tree to block-style YAML (see doc_emit_yaml in doc.h).
 *
 * A small hand-written emitter rather than libyaml's: it must quote every string
 * that a YAML 1.1 loader would read back as another type ("yes", "0777", "1:30",
 * "null"), which libyaml's emitter does not know about.  Output is stable: keys
 * keep the tree's order.
 *
 * Beyond ASCII, YAML reads NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR as line
 * breaks (a plain or quoted scalar holding one is folded or cut there), and
 * refuses C1 controls and U+FFFE/U+FFFF outright; a BOM at the start of a line
 * is skipped.  Strings holding any of these are double-quoted with the
 * character escaped, so every string reads back as itself.
 */
#include "doc/doc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The code point of the UTF-8 sequence at p (jansson strings are valid
 * UTF-8) and its length in *len. */
static unsigned utf8_decode(const unsigned char *p, int *len)
{
    if (p[0] < 0xe0) {
        *len = 2;
        return (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu);
    }
    if (p[0] < 0xf0) {
        *len = 3;
        return (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
    }
    *len = 4;
    return (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
}

/* True for the non-ASCII code points that may not appear as themselves in a
 * scalar (see the top of the file). */
static bool must_escape(unsigned cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
           cp == 0xfffe || cp == 0xffff;
}

/* The longest key written as "key:"; YAML loaders give up looking for the
 * ':' of an implicit key 1024 characters after it starts. */
#define SIMPLE_KEY_MAX 1000

static bool plain_safe(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || doc_scalar_is_special(s))
        return false;
    if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0]) || s[0] == ' ' || s[n - 1] == ' ')
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        int len;
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c >= 0x80 && must_escape(utf8_decode((const unsigned char *)p, &len)))
            return false;
        if (c == ':' && (p[1] == ' ' || p[1] == '\0'))
            return false;
        if (c == '#' && p > s && p[-1] == ' ')
            return false;
    }
    return true;
}

static void emit_string(struct ty_buf *out, const char *s)
{
    if (plain_safe(s)) {
        ty_buf_puts(out, s);
        return;
    }
    ty_buf_putc(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            ty_buf_puts(out, "\\\"");
            break;
        case '\\':
            ty_buf_puts(out, "\\\\");
            break;
        case '\n':
            ty_buf_puts(out, "\\n");
            break;
        case '\t':
            ty_buf_puts(out, "\\t");
            break;
        case '\r':
            ty_buf_puts(out, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                ty_buf_printf(out, "\\x%02x", *p);
            } else if (*p >= 0x80) {
                int len;
                unsigned cp = utf8_decode(p, &len);
                if (cp == 0x85)
                    ty_buf_puts(out, "\\N");
                else if (cp == 0x2028)
                    ty_buf_puts(out, "\\L");
                else if (cp == 0x2029)
                    ty_buf_puts(out, "\\P");
                else if (must_escape(cp))
                    ty_buf_printf(out, "\\u%04x", cp);
                else
                    ty_buf_append(out, p, (size_t)len);
                p += len - 1;
            } else {
                ty_buf_putc(out, (char)*p);
            }
        }
    }
    ty_buf_putc(out, '"');
}

static void emit_scalar(struct ty_buf *out, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        emit_string(out, json_string_value(v));
        break;
    case JSON_INTEGER:
        ty_buf_printf(out, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL: {
        /* A YAML 1.1 float needs a '.' in its mantissa: "2e+20" reads back as
         * a string and "3000000000000000" as an integer. */
        double x = json_real_value(v);
        char num[40];
        if (x == floor(x) && fabs(x) < 1e15)
            snprintf(num, sizeof(num), "%.1f", x);
        else
            snprintf(num, sizeof(num), "%.17g", x);
        char *e = strchr(num, 'e');
        if (strchr(num, '.')) {
            ty_buf_puts(out, num);
        } else if (e) {
            ty_buf_append(out, num, (size_t)(e - num));
            ty_buf_printf(out, ".0%s", e);
        } else { /* %.17g of an integral 1e15 or more: "3000000000000000" */
            ty_buf_printf(out, "%s.0", num);
        }
        break;
    }
    case JSON_TRUE:
        ty_buf_puts(out, "true");
        break;
    case JSON_FALSE:
        ty_buf_puts(out, "false");
        break;
    default:
        ty_buf_puts(out, "null");
        break;
    }
}

static bool is_empty_container(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

static void indent(struct ty_buf *out, int n)
{
    for (int i = 0; i < n; i++)
        ty_buf_putc(out, ' ');
}

static void emit_node(struct ty_buf *out, const json_t *v, int level, bool inline_first);

/* Emits the value after "key:" or "-": scalars on the same line, containers below. */
static void emit_value(struct ty_buf *out, const json_t *v, int level)
{
    if (json_is_object(v) && !is_empty_container(v)) {
        ty_buf_putc(out, '\n');
        emit_node(out, v, level + 2, false);
    } else if (json_is_array(v) && !is_empty_container(v)) {
        ty_buf_putc(out, '\n');
        emit_node(out, v, level, false);
    } else {
        ty_buf_putc(out, ' ');
        if (json_is_object(v))
            ty_buf_puts(out, "{}");
        else if (json_is_array(v))
            ty_buf_puts(out, "[]");
        else
            emit_scalar(out, v);
        ty_buf_putc(out, '\n');
    }
}

/* inline_first: the first line continues a "- " already written. */
static void emit_node(struct ty_buf *out, const json_t *v, int level, bool inline_first)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        bool first = true;
        json_object_foreach((json_t *)v, k, child) {
            struct ty_buf key = TY_BUF_INIT;
            if (!(first && inline_first))
                indent(out, level);
            first = false;
            emit_string(&key, k);
            if (key.len <= SIMPLE_KEY_MAX) {
                ty_buf_append(out, key.data, key.len);
            } else {
                /* Too long for "key:" (loaders look for the ':' within 1024
                 * characters of the key): the explicit "? key" ": value". */
                ty_buf_printf(out, "? %s\n", key.data);
                indent(out, level);
            }
            ty_buf_cleanup(&key);
            ty_buf_putc(out, ':');
            emit_value(out, child, level);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach((json_t *)v, i, child) {
            if (!(i == 0 && inline_first))
                indent(out, level);
            ty_buf_puts(out, "-");
            if (json_is_object(child) && !is_empty_container(child)) {
                ty_buf_putc(out, ' ');
                emit_node(out, child, level + 2, true);
            } else if (json_is_array(child) && !is_empty_container(child)) {
                ty_buf_putc(out, ' ');
                emit_node(out, child, level + 2, true);
            } else {
                emit_value(out, child, level);
            }
        }
    } else {
        indent(out, level);
        emit_scalar(out, v);
        ty_buf_putc(out, '\n');
    }
}

int doc_emit_yaml(const json_t *root, struct ty_buf *out, struct ty_error *err)
{
    if (!root)
        return ty_error_set(err, TY_EINVAL, "emit: no document");
    if (is_empty_container(root)) {
        ty_buf_puts(out, json_is_object(root) ? "{}\n" : "[]\n");
        return 0;
    }
    emit_node(out, root, 0, false);
    return 0;
}
