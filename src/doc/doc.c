/*
 * doc.c - YAML to jansson with positions (see doc.h).
 *
 * The loader is driven by libyaml's event parser, not its document loader, so
 * that limits are enforced while parsing: depth is the height of our own frame
 * stack, and the node budget is charged for every scalar, container, alias and
 * merged member as it is produced.  An alias is expanded by copying the anchored
 * tree (after charging its size), so later deep merges in the registry never
 * modify two places at once; the copy keeps the anchor's positions.
 *
 * Positions live in one open-addressing table keyed by (container, member):
 * the member is a hash of the mapping key or the sequence index.  Scalars are
 * not keyed by their own pointer because jansson shares true/false/null.
 */
#include "doc/doc.h"
#include "util/file.h"
#include "util/mem.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---- position table ---------------------------------------------------- */

#define SELF_TAG 0x5e1f5e1f5e1f5e1fULL
#define KEYPOS_TAG 0x6b65796b65796b65ULL

struct pos_entry {
    const void *owner; /* NULL = empty slot */
    uint64_t member;
    int line, col;
};

struct doc {
    char *name;
    json_t *root;
    struct pos_entry *tab;
    size_t tab_cap, tab_len;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t mix(const void *owner, uint64_t member)
{
    uint64_t h = (uint64_t)(uintptr_t)owner * 0x9e3779b97f4a7c15ULL ^ member;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return h;
}

static void pos_put(struct doc *d, const void *owner, uint64_t member, int line, int col);

static void pos_grow(struct doc *d)
{
    struct pos_entry *old = d->tab;
    size_t old_cap = d->tab_cap;

    d->tab_cap = old_cap ? old_cap * 2 : 256;
    d->tab = ty_xcalloc(d->tab_cap, sizeof(*d->tab));
    d->tab_len = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].owner)
            pos_put(d, old[i].owner, old[i].member, old[i].line, old[i].col);
    free(old);
}

static void pos_put(struct doc *d, const void *owner, uint64_t member, int line, int col)
{
    size_t i;

    if ((d->tab_len + 1) * 4 >= d->tab_cap * 3)
        pos_grow(d);
    i = mix(owner, member) & (d->tab_cap - 1);
    while (d->tab[i].owner && !(d->tab[i].owner == owner && d->tab[i].member == member))
        i = (i + 1) & (d->tab_cap - 1);
    if (!d->tab[i].owner)
        d->tab_len++;
    d->tab[i].owner = owner;
    d->tab[i].member = member;
    d->tab[i].line = line;
    d->tab[i].col = col;
}

static bool pos_get(const struct doc *d, const void *owner, uint64_t member, struct doc_pos *out)
{
    size_t i;

    if (!d || !d->tab_cap || !owner)
        return false;
    i = mix(owner, member) & (d->tab_cap - 1);
    while (d->tab[i].owner) {
        if (d->tab[i].owner == owner && d->tab[i].member == member) {
            if (out) {
                out->line = d->tab[i].line;
                out->col = d->tab[i].col;
            }
            return true;
        }
        i = (i + 1) & (d->tab_cap - 1);
    }
    return false;
}

static uint64_t item_member(size_t index)
{
    return (uint64_t)index | (1ULL << 63);
}

static uint64_t key_member(const char *key)
{
    return hash_str(key) & ~(1ULL << 63);
}

bool doc_node_pos(const struct doc *d, const json_t *node, struct doc_pos *out)
{
    return pos_get(d, node, SELF_TAG, out);
}

bool doc_member_pos(const struct doc *d, const json_t *object, const char *key,
                    struct doc_pos *out)
{
    return pos_get(d, object, key_member(key), out);
}

bool doc_key_pos(const struct doc *d, const json_t *object, const char *key, struct doc_pos *out)
{
    return pos_get(d, object, key_member(key) ^ KEYPOS_TAG, out) ||
           doc_member_pos(d, object, key, out);
}

bool doc_item_pos(const struct doc *d, const json_t *array, size_t index, struct doc_pos *out)
{
    return pos_get(d, array, item_member(index), out);
}

/* ---- scalar resolution (YAML 1.1, as PyYAML's SafeLoader) -------------- */

static bool all_match(const char *s, const char *set)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!strchr(set, *s))
            return false;
    return true;
}

static bool is_null_text(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

static int bool_text(const char *s)
{
    static const char *const t[] = {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
                                    NULL};
    static const char *const f[] = {"no",    "No",    "NO",  "false", "False",
                                    "FALSE", "off",   "Off", "OFF",   NULL};
    for (int i = 0; t[i]; i++)
        if (!strcmp(s, t[i]))
            return 1;
    for (int i = 0; f[i]; i++)
        if (!strcmp(s, f[i]))
            return 0;
    return -1;
}

/* Strips '_' and returns a new string. */
static char *strip_underscores(const char *s)
{
    char *r = ty_xmalloc(strlen(s) + 1), *w = r;
    for (; *s; s++)
        if (*s != '_')
            *w++ = *s;
    *w = '\0';
    return r;
}

/* Sexagesimal tail ":[0-5]?[0-9]" repeated; returns pointer past it or NULL. */
static const char *sexa_tail(const char *p)
{
    int groups = 0;
    while (*p == ':') {
        p++;
        if (p[0] >= '0' && p[0] <= '5' && isdigit((unsigned char)p[1]))
            p += 2;
        else if (isdigit((unsigned char)p[0]))
            p += 1;
        else
            return NULL;
        groups++;
    }
    return groups ? p : NULL;
}

/* Returns 1 and sets *out when s is a YAML 1.1 int; 2 when it is an int too
 * large for json_int_t (stored in *dout). */
static int int_text(const char *s, json_int_t *out, double *dout)
{
    const char *p = s;
    int neg = 0;
    char *digits = NULL;
    int base = 10, rc = 0;

    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (!*p)
        return 0;
    if (p[0] == '0' && p[1] == 'b' && all_match(p + 2, "01_")) {
        base = 2;
        p += 2;
    } else if (p[0] == '0' && p[1] == 'x' && all_match(p + 2, "0123456789abcdefABCDEF_")) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && p[1] && all_match(p + 1, "01234567_")) {
        base = 8;
        p += 1;
    } else if (!strcmp(p, "0")) {
        base = 10;
    } else if (p[0] >= '1' && p[0] <= '9') {
        const char *q = p;
        while (isdigit((unsigned char)*q) || *q == '_')
            q++;
        if (*q == ':') {
            /* sexagesimal: [1-9][0-9_]*(:[0-5]?[0-9])+ */
            const char *end = sexa_tail(q);
            double v = 0;
            if (!end || *end)
                return 0;
            digits = strip_underscores(p);
            for (char *tok = strtok(digits, ":"); tok; tok = strtok(NULL, ":"))
                v = v * 60 + strtod(tok, NULL);
            free(digits);
            if (v >= 9223372036854775808.0) { /* 2^63: too large, as for decimals */
                *dout = neg ? -v : v;
                return 2;
            }
            *out = (json_int_t)(neg ? -v : v);
            return 1;
        }
        if (*q)
            return 0;
    } else {
        return 0;
    }
    digits = strip_underscores(p);
    if (!*digits) {
        free(digits);
        return 0;
    }
    errno = 0;
    {
        unsigned long long u = strtoull(digits, NULL, base);
        if (errno == ERANGE || u > (unsigned long long)INT64_MAX + (unsigned long long)neg) {
            *dout = strtod(digits, NULL) * (neg ? -1 : 1);
            rc = 2;
        } else {
            *out = neg ? (json_int_t)(0 - u) : (json_int_t)u;
            rc = 1;
        }
    }
    free(digits);
    return rc;
}

static int float_text(const char *s, double *out)
{
    const char *p = s;
    int neg = 0;

    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
        *out = NAN;
        return 1;
    }
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) {
        *out = neg ? -INFINITY : INFINITY;
        return 1;
    }
    /* [0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)?  |  \.[0-9][0-9_]*([eE][-+][0-9]+)? (unsigned)
     * [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]* */
    {
        const char *q = p;
        char *clean;
        if (isdigit((unsigned char)*q)) {
            while (isdigit((unsigned char)*q) || *q == '_')
                q++;
            if (*q == ':') {
                const char *end = sexa_tail(q);
                double v = 0;
                char *tok;
                if (!end || *end != '.')
                    return 0;
                end++;
                while (isdigit((unsigned char)*end) || *end == '_')
                    end++;
                if (*end)
                    return 0;
                clean = strip_underscores(p);
                for (tok = strtok(clean, ":"); tok; tok = strtok(NULL, ":"))
                    v = v * 60 + strtod(tok, NULL);
                free(clean);
                *out = neg ? -v : v;
                return 1;
            }
        } else if (*q != '.' || p != s || !isdigit((unsigned char)q[1])) {
            return 0;
        }
        if (*q != '.')
            return 0;
        q++;
        while (isdigit((unsigned char)*q) || *q == '_')
            q++;
        if (*q == 'e' || *q == 'E') {
            q++;
            if (*q != '-' && *q != '+')
                return 0;
            q++;
            if (!isdigit((unsigned char)*q))
                return 0;
            while (isdigit((unsigned char)*q))
                q++;
        }
        if (*q)
            return 0;
        clean = strip_underscores(p);
        *out = strtod(clean, NULL) * (neg ? -1 : 1);
        free(clean);
        return 1;
    }
}

bool doc_scalar_is_special(const char *s)
{
    json_int_t i;
    double f;
    if (is_null_text(s) || bool_text(s) >= 0 || int_text(s, &i, &f) || float_text(s, &f))
        return true;
    /* '<<' and '=' are keys with meaning; timestamps load as dates in YAML 1.1. */
    if (!strcmp(s, "<<") || !strcmp(s, "="))
        return true;
    if (strlen(s) >= 10 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
        isdigit((unsigned char)s[2]) && isdigit((unsigned char)s[3]) && s[4] == '-')
        return true;
    return false;
}

/* ---- the loader -------------------------------------------------------- */

struct anchor {
    char *name;
    json_t *node; /* owned reference */
    size_t size;  /* nodes in the expanded subtree */
    int line, col;
};

struct frame {
    json_t *node;      /* the container being filled */
    bool is_map;
    char *key;         /* mapping: pending key, NULL when the next scalar is a key */
    int key_line, key_col;
    bool key_is_merge;
    size_t size;       /* expanded nodes so far (including itself) */
    char *anchor;      /* anchor to register when the container ends */
    json_t *merges;    /* mapping: array of merge sources, in order */
    json_t *explicit_keys; /* mapping: object of keys set explicitly (for merges) */
};

struct loader {
    struct doc *d;
    const struct doc_limits *lim;
    yaml_parser_t parser;
    struct frame *stack;
    int depth, cap;
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
    size_t nodes;
    json_t *result;
    size_t result_size;
    struct ty_error *err;
};

static int lerr(struct loader *l, enum ty_code code, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int lerr(struct loader *l, enum ty_code code, int line, int col, const char *fmt, ...)
{
    char msg[TY_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ty_error_set(l->err, code, "%s:%d:%d: %s", l->d->name, line, col, msg);
}

static int charge(struct loader *l, size_t n, int line, int col)
{
    l->nodes += n;
    if (l->nodes > l->lim->max_nodes)
        return lerr(l, TY_ELIMIT, line, col,
                    "document expands to more than %zu nodes (alias or merge-key bomb?)",
                    l->lim->max_nodes);
    return 0;
}

static struct anchor *anchor_find(struct loader *l, const char *name)
{
    /* Last definition wins, as in YAML: search backwards. */
    for (size_t i = l->n_anchors; i > 0; i--)
        if (!strcmp(l->anchors[i - 1].name, name))
            return &l->anchors[i - 1];
    return NULL;
}

static void anchor_add(struct loader *l, const char *name, json_t *node, size_t size, int line,
                       int col)
{
    if (l->n_anchors == l->cap_anchors) {
        l->cap_anchors = l->cap_anchors ? l->cap_anchors * 2 : 16;
        l->anchors = ty_xrealloc(l->anchors, l->cap_anchors * sizeof(*l->anchors));
    }
    l->anchors[l->n_anchors].name = ty_xstrdup(name);
    l->anchors[l->n_anchors].node = json_incref(node);
    l->anchors[l->n_anchors].size = size;
    l->anchors[l->n_anchors].line = line;
    l->anchors[l->n_anchors].col = col;
    l->n_anchors++;
}

/* Deep copy that carries positions over to the copy. */
static json_t *copy_with_pos(struct doc *d, json_t *src)
{
    struct doc_pos p;
    json_t *dst;

    if (json_is_object(src)) {
        const char *k;
        json_t *v;
        dst = json_object();
        if (doc_node_pos(d, src, &p))
            pos_put(d, dst, SELF_TAG, p.line, p.col);
        json_object_foreach(src, k, v) {
            json_object_set_new(dst, k, copy_with_pos(d, v));
            if (doc_member_pos(d, src, k, &p))
                pos_put(d, dst, key_member(k), p.line, p.col);
            if (pos_get(d, src, key_member(k) ^ KEYPOS_TAG, &p))
                pos_put(d, dst, key_member(k) ^ KEYPOS_TAG, p.line, p.col);
        }
        return dst;
    }
    if (json_is_array(src)) {
        size_t i;
        json_t *v;
        dst = json_array();
        if (doc_node_pos(d, src, &p))
            pos_put(d, dst, SELF_TAG, p.line, p.col);
        json_array_foreach(src, i, v) {
            json_array_append_new(dst, copy_with_pos(d, v));
            if (doc_item_pos(d, src, i, &p))
                pos_put(d, dst, item_member(i), p.line, p.col);
        }
        return dst;
    }
    return json_deep_copy(src);
}

/* JSON text of a non-string scalar key, as Python's json.dumps would write the
 * key of a dict whose key is that value. */
static char *key_text(json_t *v)
{
    if (json_is_string(v))
        return ty_xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return ty_xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_true(v))
        return ty_xstrdup("true");
    if (json_is_false(v))
        return ty_xstrdup("false");
    if (json_is_null(v))
        return ty_xstrdup("null");
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (isnan(x))
            return ty_xstrdup("NaN");
        if (isinf(x))
            return ty_xstrdup(x > 0 ? "Infinity" : "-Infinity");
        if (x == floor(x) && fabs(x) < 1e16)
            return ty_xasprintf("%.1f", x);
        return ty_xasprintf("%.17g", x);
    }
    return ty_xstrdup("");
}

static json_t *resolve_scalar(struct loader *l, yaml_event_t *ev, int line, int col, int *rc)
{
    const char *text = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    json_int_t i;
    double f;
    int b;

    *rc = 0;
    /* "\0" and "\u0000" can put a NUL inside a string; everything downstream
     * reads strings as C strings, so it would silently cut them there (a URL,
     * a path, a name): refuse it here, where the position is known. */
    if (memchr(text, '\0', ev->data.scalar.length)) {
        *rc = lerr(l, TY_EINVAL, line, col, "a NUL character is not allowed in a value");
        return NULL;
    }
    if (tag && strcmp(tag, "!") != 0) {
        if (!strcmp(tag, YAML_STR_TAG))
            return json_stringn(text, ev->data.scalar.length);
        if (!strcmp(tag, YAML_NULL_TAG))
            return json_null();
        if (!strcmp(tag, YAML_BOOL_TAG) && (b = bool_text(text)) >= 0)
            return json_boolean(b);
        if (!strcmp(tag, YAML_INT_TAG)) {
            int k = int_text(text, &i, &f);
            if (k == 1)
                return json_integer(i);
            if (k == 2)
                return json_real(f);
        }
        if (!strcmp(tag, YAML_FLOAT_TAG)) {
            if (float_text(text, &f) || int_text(text, &i, &f) == 2)
                return json_real(f);
            if (int_text(text, &i, &f) == 1)
                return json_real((double)i);
        }
        if (!strcmp(tag, "tag:yaml.org,2002:timestamp") || !strcmp(tag, "tag:yaml.org,2002:binary"))
            return json_stringn(text, ev->data.scalar.length);
        *rc = lerr(l, TY_EINVAL, line, col, "unsupported tag '%s' for value '%.40s'", tag, text);
        return NULL;
    }
    if (!plain || tag)
        return json_stringn(text, ev->data.scalar.length);
    if (is_null_text(text))
        return json_null();
    if ((b = bool_text(text)) >= 0)
        return json_boolean(b);
    switch (int_text(text, &i, &f)) {
    case 1:
        return json_integer(i);
    case 2:
        return json_real(f);
    default:
        break;
    }
    if (float_text(text, &f)) {
        if (isnan(f) || isinf(f))
            return json_stringn(text, ev->data.scalar.length); /* JSON has no NaN/Inf */
        return json_real(f);
    }
    return json_stringn(text, ev->data.scalar.length);
}

/* Adds value (stolen) to the top frame, or makes it the result. */
static int attach(struct loader *l, json_t *value, size_t size, int line, int col)
{
    struct frame *top;

    if (l->depth == 0) {
        json_decref(l->result);
        l->result = value;
        l->result_size = size;
        return 0;
    }
    top = &l->stack[l->depth - 1];
    top->size += size;
    if (!top->is_map) {
        size_t idx = json_array_size(top->node);
        json_array_append_new(top->node, value);
        pos_put(l->d, top->node, item_member(idx), line, col);
        return 0;
    }
    if (!top->key) {
        /* value is a key */
        if (json_is_object(value) || json_is_array(value)) {
            json_decref(value);
            return lerr(l, TY_EINVAL, line, col, "a mapping key must be a scalar");
        }
        top->key_is_merge = false;
        top->key = key_text(value);
        json_decref(value);
        top->key_line = line;
        top->key_col = col;
        return 0;
    }
    if (top->key_is_merge) {
        if (!json_is_object(value) &&
            !(json_is_array(value) && json_array_size(value) > 0)) {
            json_decref(value);
            return lerr(l, TY_EINVAL, line, col,
                        "'<<' merge key needs a mapping or a sequence of mappings");
        }
        if (json_is_array(value)) {
            size_t k;
            json_t *it;
            json_array_foreach(value, k, it) {
                if (!json_is_object(it)) {
                    json_decref(value);
                    return lerr(l, TY_EINVAL, line, col,
                                "'<<' merge key needs a mapping or a sequence of mappings");
                }
                json_array_append(top->merges, it);
            }
            json_decref(value);
        } else {
            json_array_append_new(top->merges, value);
        }
    } else {
        json_object_set_new(top->node, top->key, value);
        json_object_set_new(top->explicit_keys, top->key, json_true());
        pos_put(l->d, top->node, key_member(top->key), line, col);
        pos_put(l->d, top->node, key_member(top->key) ^ KEYPOS_TAG, top->key_line,
                top->key_col);
    }
    free(top->key);
    top->key = NULL;
    top->key_is_merge = false;
    return 0;
}

static int push(struct loader *l, json_t *node, bool is_map, const char *anchor, int line,
                int col)
{
    struct frame *f;

    if (l->depth >= l->lim->max_depth) {
        json_decref(node);
        return lerr(l, TY_ELIMIT, line, col, "nesting deeper than %d levels", l->lim->max_depth);
    }
    if (l->depth == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->stack = ty_xrealloc(l->stack, (size_t)l->cap * sizeof(*l->stack));
    }
    f = &l->stack[l->depth++];
    memset(f, 0, sizeof(*f));
    f->node = node;
    f->is_map = is_map;
    f->size = 1;
    f->anchor = anchor ? ty_xstrdup(anchor) : NULL;
    if (is_map) {
        f->merges = json_array();
        f->explicit_keys = json_object();
    }
    pos_put(l->d, node, SELF_TAG, line, col);
    return 0;
}

/* Applies '<<' sources to the mapping on top: explicit keys win, and among the
 * sources the earlier one wins. */
static int apply_merges(struct loader *l, struct frame *f)
{
    size_t i;
    json_t *src;

    json_array_foreach(f->merges, i, src) {
        const char *k;
        json_t *v;
        json_object_foreach(src, k, v) {
            struct doc_pos p;
            json_t *copy;
            if (json_object_get(f->node, k))
                continue;
            if (charge(l, 1, 0, 0))
                return -1;
            copy = copy_with_pos(l->d, v);
            json_object_set_new(f->node, k, copy);
            if (doc_member_pos(l->d, src, k, &p))
                pos_put(l->d, f->node, key_member(k), p.line, p.col);
            if (pos_get(l->d, src, key_member(k) ^ KEYPOS_TAG, &p))
                pos_put(l->d, f->node, key_member(k) ^ KEYPOS_TAG, p.line, p.col);
            f->size += 1;
        }
    }
    return 0;
}

static int pop(struct loader *l, int line, int col)
{
    struct frame f = l->stack[--l->depth];
    struct doc_pos p = {line, col};
    int rc = 0;

    doc_node_pos(l->d, f.node, &p);
    if (f.is_map && json_array_size(f.merges) > 0)
        rc = apply_merges(l, &f);
    if (!rc && f.anchor)
        anchor_add(l, f.anchor, f.node, f.size, p.line, p.col);
    free(f.anchor);
    free(f.key);
    json_decref(f.merges);
    json_decref(f.explicit_keys);
    if (rc) {
        json_decref(f.node);
        return rc;
    }
    return attach(l, f.node, f.size, p.line, p.col);
}

static void loader_cleanup(struct loader *l)
{
    while (l->depth > 0) {
        struct frame *f = &l->stack[--l->depth];
        json_decref(f->node);
        json_decref(f->merges);
        json_decref(f->explicit_keys);
        free(f->key);
        free(f->anchor);
    }
    free(l->stack);
    for (size_t i = 0; i < l->n_anchors; i++) {
        free(l->anchors[i].name);
        json_decref(l->anchors[i].node);
    }
    free(l->anchors);
    json_decref(l->result);
}

static int handle_event(struct loader *l, yaml_event_t *ev, int *documents)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    int rc = 0;

    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        (*documents)++;
        if (*documents > 1 && !l->lim->last_document)
            return lerr(l, TY_EINVAL, line, col,
                        "expected a single document, found another one here");
        /* Anchors do not cross documents. */
        for (size_t i = 0; i < l->n_anchors; i++) {
            free(l->anchors[i].name);
            json_decref(l->anchors[i].node);
        }
        l->n_anchors = 0;
        return 0;
    case YAML_SCALAR_EVENT: {
        json_t *v;
        struct frame *top = l->depth ? &l->stack[l->depth - 1] : NULL;
        if (charge(l, 1, line, col))
            return -1;
        /* A plain '<<' in key position is a merge key. */
        if (top && top->is_map && !top->key &&
            ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            !strcmp((const char *)ev->data.scalar.value, "<<")) {
            top->key = ty_xstrdup("<<");
            top->key_is_merge = true;
            top->key_line = line;
            top->key_col = col;
            return 0;
        }
        v = resolve_scalar(l, ev, line, col, &rc);
        if (!v)
            return rc ? rc : lerr(l, TY_EINVAL, line, col, "bad scalar");
        if (ev->data.scalar.anchor)
            anchor_add(l, (const char *)ev->data.scalar.anchor, v, 1, line, col);
        return attach(l, v, 1, line, col);
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        struct anchor *a = anchor_find(l, name);
        if (!a)
            return lerr(l, TY_EINVAL, line, col, "unknown alias '*%s'", name);
        if (charge(l, a->size, line, col))
            return -1;
        return attach(l, copy_with_pos(l->d, a->node), a->size, line, col);
    }
    case YAML_SEQUENCE_START_EVENT:
        if (charge(l, 1, line, col))
            return -1;
        if (ev->data.sequence_start.tag &&
            strcmp((const char *)ev->data.sequence_start.tag, YAML_SEQ_TAG) != 0 &&
            strcmp((const char *)ev->data.sequence_start.tag, "!") != 0)
            return lerr(l, TY_EINVAL, line, col, "unsupported tag '%s' on a sequence",
                        (const char *)ev->data.sequence_start.tag);
        return push(l, json_array(), false, (const char *)ev->data.sequence_start.anchor, line,
                    col);
    case YAML_MAPPING_START_EVENT:
        if (charge(l, 1, line, col))
            return -1;
        if (ev->data.mapping_start.tag &&
            strcmp((const char *)ev->data.mapping_start.tag, YAML_MAP_TAG) != 0 &&
            strcmp((const char *)ev->data.mapping_start.tag, "!") != 0)
            return lerr(l, TY_EINVAL, line, col, "unsupported tag '%s' on a mapping",
                        (const char *)ev->data.mapping_start.tag);
        return push(l, json_object(), true, (const char *)ev->data.mapping_start.anchor, line,
                    col);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return pop(l, line, col);
    default:
        return 0;
    }
}

int doc_parse(struct doc **out, const char *name, const char *text, size_t len,
              const struct doc_limits *lim, struct ty_error *err)
{
    static const struct doc_limits defaults = DOC_LIMITS_DEFAULT;
    struct loader l;
    yaml_event_t ev;
    int rc = 0, documents = 0, done = 0;

    *out = NULL;
    memset(&l, 0, sizeof(l));
    l.lim = lim ? lim : &defaults;
    l.err = err;
    l.d = ty_xcalloc(1, sizeof(*l.d));
    l.d->name = ty_xstrdup(name ? name : "<input>");
    if (len > l.lim->max_bytes) {
        rc = ty_error_set(err, TY_ELIMIT, "%s:1:1: document is %zu bytes, over the limit of %zu",
                          l.d->name, len, l.lim->max_bytes);
        doc_free(l.d);
        return rc;
    }
    if (!yaml_parser_initialize(&l.parser)) {
        doc_free(l.d);
        return ty_error_set(err, TY_ERR, "%s: cannot initialise the YAML parser", name);
    }
    yaml_parser_set_input_string(&l.parser, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&l.parser, &ev)) {
            const yaml_mark_t *m = l.parser.problem ? &l.parser.problem_mark : &l.parser.mark;
            if (l.parser.context)
                rc = ty_error_set(err, TY_EINVAL, "%s:%zu:%zu: %s (%s at line %zu)", l.d->name,
                                  m->line + 1, m->column + 1,
                                  l.parser.problem ? l.parser.problem : "syntax error",
                                  l.parser.context, l.parser.context_mark.line + 1);
            else
                rc = ty_error_set(err, TY_EINVAL, "%s:%zu:%zu: %s", l.d->name, m->line + 1,
                                  m->column + 1,
                                  l.parser.problem ? l.parser.problem : "syntax error");
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = handle_event(&l, &ev, &documents);
        yaml_event_delete(&ev);
        if (rc) {
            rc = err && err->code ? (int)err->code : TY_EINVAL;
            break;
        }
    }
    yaml_parser_delete(&l.parser);
    if (rc) {
        loader_cleanup(&l);
        doc_free(l.d);
        return rc;
    }
    l.d->root = l.result ? l.result : json_null();
    l.result = NULL;
    loader_cleanup(&l);
    *out = l.d;
    return 0;
}

int doc_load_file(struct doc **out, const char *path, const struct doc_limits *lim,
                  struct ty_error *err)
{
    static const struct doc_limits defaults = DOC_LIMITS_DEFAULT;
    char *text = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if (!lim)
        lim = &defaults;
    rc = ty_file_read(&text, &len, path, lim->max_bytes, err);
    if (rc)
        return rc;
    rc = doc_parse(out, path, text, len, lim, err);
    free(text);
    return rc;
}

void doc_free(struct doc *d)
{
    if (!d)
        return;
    json_decref(d->root);
    free(d->tab);
    free(d->name);
    free(d);
}

json_t *doc_root(const struct doc *d)
{
    return d->root;
}

const char *doc_name(const struct doc *d)
{
    return d->name;
}

static const char *fmt_where(const struct doc *d, bool ok, struct doc_pos p, char *buf, size_t n)
{
    if (!d)
        snprintf(buf, n, "?");
    else if (ok)
        snprintf(buf, n, "%s:%d:%d", d->name, p.line, p.col);
    else
        snprintf(buf, n, "%s", d->name);
    return buf;
}

const char *doc_where(const struct doc *d, const json_t *parent, const char *key, char *buf,
                      size_t n)
{
    struct doc_pos p = {0, 0};
    bool ok = false;

    if (d && parent && key)
        ok = doc_member_pos(d, parent, key, &p);
    if (d && parent && !ok)
        ok = doc_node_pos(d, parent, &p);
    return fmt_where(d, ok, p, buf, n);
}

const char *doc_where_item(const struct doc *d, const json_t *array, size_t index, char *buf,
                           size_t n)
{
    struct doc_pos p = {0, 0};
    bool ok = d && array && doc_item_pos(d, array, index, &p);
    if (d && array && !ok)
        ok = doc_node_pos(d, array, &p);
    return fmt_where(d, ok, p, buf, n);
}

int doc_error(struct ty_error *err, enum ty_code code, const struct doc *d, const json_t *parent,
              const char *key, const char *fmt, ...)
{
    char where[300], msg[TY_ERROR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    doc_where(d, parent, key, where, sizeof(where));
    return ty_error_set(err, code, "%s: %s", where, msg);
}

int doc_key_error(struct ty_error *err, enum ty_code code, const struct doc *d,
                  const json_t *parent, const char *key, const char *fmt, ...)
{
    char where[300], msg[TY_ERROR_MSG_MAX];
    struct doc_pos p;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (d && parent && key && doc_key_pos(d, parent, key, &p))
        snprintf(where, sizeof(where), "%s:%d:%d", d->name, p.line, p.col);
    else
        doc_where(d, parent, key, where, sizeof(where));
    return ty_error_set(err, code, "%s: %s", where, msg);
}
