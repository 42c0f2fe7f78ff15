/*
 * kubesim_select.c - label and field selectors, and the name and label rules.
 *
 * Label selectors follow the Kubernetes grammar: comma-separated requirements,
 * each `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (v1,v2)` or
 * `key notin (v1,v2)`, with optional blanks around the parts (the query string
 * is form-decoded before it gets here, so '+' is already a space).  Field
 * selectors accept `path=v`, `path==v` and `path!=v` on the fields the real API
 * server allows for each kind.  The validators mirror apimachinery's
 * validation.go: DNS-1123 subdomain and label, RFC 1035 label, qualified
 * names for label keys and values.
 */
#include "kubesim/kubesim_int.h"
#include "util/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOTEXISTS };

struct req {
    char *key;
    enum op op;
    int nvals;
    char **vals;
};

struct ks_selector {
    int n;
    struct req *reqs;
};

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?, with letter_first [a-z]([-a-z0-9]*[a-z0-9])?:
 * one label of n bytes, without a length limit. */
static bool label_ok(const char *s, size_t n, bool letter_first)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    if (letter_first && !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    return s[0] != '-' && s[n - 1] != '-';
}

/* Dot-separated labels, each label_ok: the DNS-1123 subdomain pattern. */
static bool subdomain_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || s[n - 1] == '.')
        return false;
    for (const char *p = s; *p;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!label_ok(p, len, false))
            return false;
        p += len + (dot ? 1 : 0);
    }
    return true;
}

static const char subdomain_msg[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
static const char label_msg[] =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
static const char dns1035_msg[] =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

int ks_name_problems(enum ks_name_rule rule, const char *s, const char *msgs[2])
{
    size_t n = strlen(s), max = rule == KS_NAME_SUBDOMAIN ? 253 : 63;
    int k = 0;
    bool ok =
        rule == KS_NAME_SUBDOMAIN ? subdomain_ok(s) : label_ok(s, n, rule == KS_NAME_DNS1035_LABEL);
    if (n > max)
        msgs[k++] = max == 63 ? "must be no more than 63 characters"
                              : "must be no more than 253 characters";
    if (!ok)
        msgs[k++] = rule == KS_NAME_SUBDOMAIN ? subdomain_msg
                    : rule == KS_NAME_LABEL   ? label_msg
                                              : dns1035_msg;
    return k;
}

static const char *first_problem(enum ks_name_rule rule, const char *s)
{
    const char *msgs[2];
    return ks_name_problems(rule, s, msgs) > 0 ? msgs[0] : NULL;
}

const char *ks_check_dns1123_label(const char *s)
{
    return first_problem(KS_NAME_LABEL, s);
}

const char *ks_check_dns1035_label(const char *s)
{
    return first_problem(KS_NAME_DNS1035_LABEL, s);
}

const char *ks_check_dns1123_subdomain(const char *s)
{
    return first_problem(KS_NAME_SUBDOMAIN, s);
}

static bool qualified_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

const char *ks_check_label_key(const char *s)
{
    const char *slash = strchr(s, '/');
    const char *name = slash ? slash + 1 : s;
    if (slash) {
        char prefix[260];
        size_t pn = (size_t)(slash - s);
        if (pn == 0 || pn >= sizeof prefix)
            return "prefix part must be a non-empty DNS-1123 subdomain";
        memcpy(prefix, s, pn);
        prefix[pn] = 0;
        if (ks_check_dns1123_subdomain(prefix))
            return "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                   "alphanumeric characters, '-' or '.'";
    }
    if (!qualified_name_ok(name, strlen(name)))
        return "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
               "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
               "'123-abc', regex used for validation is "
               "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    return NULL;
}

const char *ks_check_label_value(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return NULL;
    if (n > 63)
        return "must be no more than 63 characters";
    if (!qualified_name_ok(s, n))
        return "a valid label must be an empty string or consist of alphanumeric characters, "
               "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
               "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
               "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    return NULL;
}

/* ---- parsing ---- */

static void req_add(struct ks_selector *sel, const char *key, size_t klen, enum op op)
{
    sel->reqs = ty_xrealloc(sel->reqs, (size_t)(sel->n + 1) * sizeof *sel->reqs);
    struct req *r = &sel->reqs[sel->n++];
    memset(r, 0, sizeof *r);
    r->key = ty_xstrndup(key, klen);
    r->op = op;
}

static void val_add(struct ks_selector *sel, const char *v, size_t n)
{
    struct req *r = &sel->reqs[sel->n - 1];
    r->vals = ty_xrealloc(r->vals, (size_t)(r->nvals + 1) * sizeof *r->vals);
    r->vals[r->nvals++] = ty_xstrndup(v, n);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static bool key_char(char c)
{
    return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '/';
}

/* field = true: keys are dotted paths and values are free text up to ','. */
static int parse(struct ks_selector **out, const char *text, bool field, struct ty_error *err)
{
    struct ks_selector *sel = ty_xcalloc(1, sizeof *sel);
    const char *p = text ? text : "";
    *out = NULL;
    p = skip_ws(p);
    if (!*p) {
        *out = sel;
        return 0;
    }
    for (;;) {
        p = skip_ws(p);
        bool neg = false;
        if (*p == '!' && !field) {
            neg = true;
            p = skip_ws(p + 1);
        }
        const char *k = p;
        while (key_char(*p))
            p++;
        size_t klen = (size_t)(p - k);
        if (klen == 0)
            goto bad;
        char *key = ty_xstrndup(k, klen);
        const char *km = field ? NULL : ks_check_label_key(key);
        free(key);
        if (km) {
            ks_selector_free(sel);
            return ty_error_set(err, TY_EINVAL,
                                "unable to parse requirement: key: Invalid "
                                "value: \"%.*s\": %s",
                                (int)klen, k, km);
        }
        p = skip_ws(p);
        if (neg) {
            req_add(sel, k, klen, OP_NOTEXISTS);
        } else if (*p == ',' || !*p) {
            if (field)
                goto bad;
            req_add(sel, k, klen, OP_EXISTS);
        } else if (*p == '=' || (*p == '!' && p[1] == '=')) {
            enum op op = *p == '!' ? OP_NE : OP_EQ;
            p += (*p == '!' || p[1] == '=') ? 2 : 1;
            p = skip_ws(p);
            const char *v = p;
            if (field) {
                while (*p && *p != ',')
                    p++;
            } else {
                while (is_alnum(*p) || *p == '-' || *p == '_' || *p == '.')
                    p++;
            }
            size_t vlen = (size_t)(p - v);
            while (field && vlen > 0 && v[vlen - 1] == ' ')
                vlen--;
            req_add(sel, k, klen, op);
            val_add(sel, v, vlen);
            if (!field) {
                const char *vm = ks_check_label_value(sel->reqs[sel->n - 1].vals[0]);
                if (vm) {
                    ty_error_set(err, TY_EINVAL,
                                 "unable to parse requirement: values[0][%.*s]: "
                                 "Invalid value: \"%.*s\": %s",
                                 (int)klen, k, (int)vlen, v, vm);
                    ks_selector_free(sel);
                    return TY_EINVAL;
                }
            }
        } else if (!field && (!strncmp(p, "in", 2) || !strncmp(p, "notin", 5))) {
            enum op op = p[0] == 'i' ? OP_IN : OP_NOTIN;
            p += op == OP_IN ? 2 : 5;
            p = skip_ws(p);
            if (*p != '(')
                goto bad;
            req_add(sel, k, klen, op);
            p++;
            for (;;) {
                p = skip_ws(p);
                const char *v = p;
                while (is_alnum(*p) || *p == '-' || *p == '_' || *p == '.')
                    p++;
                val_add(sel, v, (size_t)(p - v));
                p = skip_ws(p);
                if (*p == ',') {
                    p++;
                    continue;
                }
                if (*p == ')') {
                    p++;
                    break;
                }
                goto bad;
            }
        } else {
            goto bad;
        }
        p = skip_ws(p);
        if (!*p)
            break;
        if (*p != ',')
            goto bad;
        p++;
    }
    *out = sel;
    return 0;
bad:
    ks_selector_free(sel);
    return ty_error_set(err, TY_EINVAL,
                        "unable to parse requirement: found '%s', expected: "
                        "',', '=', '!=', 'in' or 'notin' in \"%s\"",
                        p, text);
}

int ks_selector_parse(struct ks_selector **out, const char *text, struct ty_error *err)
{
    return parse(out, text, false, err);
}

static bool field_allowed(enum ks_res r, const char *f)
{
    static const char *const pods[] = {"spec.nodeName",
                                       "spec.restartPolicy",
                                       "spec.schedulerName",
                                       "spec.serviceAccountName",
                                       "status.phase",
                                       "status.podIP",
                                       "status.nominatedNodeName",
                                       NULL};
    static const char *const events[] = {"involvedObject.kind",
                                         "involvedObject.namespace",
                                         "involvedObject.name",
                                         "involvedObject.uid",
                                         "involvedObject.apiVersion",
                                         "involvedObject.resourceVersion",
                                         "involvedObject.fieldPath",
                                         "reason",
                                         "reportingComponent",
                                         "source",
                                         "type",
                                         NULL};
    if (!strcmp(f, "metadata.name") || !strcmp(f, "metadata.namespace"))
        return true;
    const char *const *list = r == KS_PODS ? pods : r == KS_EVENTS ? events : NULL;
    if (r == KS_SECRETS && !strcmp(f, "type"))
        return true;
    if (r == KS_NAMESPACES && !strcmp(f, "status.phase"))
        return true;
    if (r == KS_REPLICASETS && !strcmp(f, "status.replicas"))
        return true;
    for (; list && *list; list++)
        if (!strcmp(f, *list))
            return true;
    return false;
}

int ks_field_selector_parse(struct ks_selector **out,
                            enum ks_res r,
                            const char *text,
                            struct ty_error *err)
{
    int rc = parse(out, text, true, err);
    if (rc != 0)
        return rc;
    for (int i = 0; i < (*out)->n; i++)
        if (!field_allowed(r, (*out)->reqs[i].key)) {
            rc = ty_error_set(err, TY_EINVAL, "field label not supported: %s", (*out)->reqs[i].key);
            ks_selector_free(*out);
            *out = NULL;
            return rc;
        }
    return 0;
}

int ks_selector_from_json(struct ks_selector **out, const json_t *js, struct ty_error *err)
{
    struct ks_selector *sel = ty_xcalloc(1, sizeof *sel);
    const char *k;
    json_t *v;
    size_t i;
    *out = NULL;
    json_object_foreach((json_t *)json_object_get(js, "matchLabels"), k, v)
    {
        if (!json_is_string(v)) {
            ks_selector_free(sel);
            return ty_error_set(err, TY_EINVAL, "matchLabels.%s: must be a string", k);
        }
        req_add(sel, k, strlen(k), OP_EQ);
        val_add(sel, json_string_value(v), strlen(json_string_value(v)));
    }
    json_array_foreach(json_object_get(js, "matchExpressions"), i, v)
    {
        const char *key = json_string_value(json_object_get(v, "key"));
        const char *op = json_string_value(json_object_get(v, "operator"));
        enum op o;
        if (!key || !op) {
            ks_selector_free(sel);
            return ty_error_set(err, TY_EINVAL,
                                "matchExpressions[%zu]: key and operator are "
                                "required",
                                i);
        }
        if (!strcmp(op, "In"))
            o = OP_IN;
        else if (!strcmp(op, "NotIn"))
            o = OP_NOTIN;
        else if (!strcmp(op, "Exists"))
            o = OP_EXISTS;
        else if (!strcmp(op, "DoesNotExist"))
            o = OP_NOTEXISTS;
        else {
            ks_selector_free(sel);
            return ty_error_set(err, TY_EINVAL,
                                "matchExpressions[%zu].operator: Invalid value: "
                                "\"%s\": not a valid selector operator",
                                i, op);
        }
        req_add(sel, key, strlen(key), o);
        size_t j;
        json_t *val;
        json_array_foreach(json_object_get(v, "values"), j, val)
        {
            const char *sv = json_string_value(val);
            if (sv)
                val_add(sel, sv, strlen(sv));
        }
    }
    *out = sel;
    return 0;
}

static bool in_vals(const struct req *r, const char *v)
{
    for (int i = 0; i < r->nvals; i++)
        if (!strcmp(r->vals[i], v))
            return true;
    return false;
}

static bool match_one(const struct req *r, const char *v)
{
    switch (r->op) {
    case OP_EQ:
        return v && !strcmp(v, r->vals[0]);
    case OP_NE:
        return !v || strcmp(v, r->vals[0]) != 0;
    case OP_IN:
        return v && in_vals(r, v);
    case OP_NOTIN:
        return !v || !in_vals(r, v);
    case OP_EXISTS:
        return v != NULL;
    case OP_NOTEXISTS:
        return v == NULL;
    }
    return false;
}

bool ks_selector_match_labels(const struct ks_selector *sel, const json_t *labels)
{
    for (int i = 0; sel && i < sel->n; i++)
        if (!match_one(&sel->reqs[i], json_string_value(json_object_get(labels, sel->reqs[i].key))))
            return false;
    return true;
}

bool ks_selector_match_fields(const struct ks_selector *sel, const json_t *obj)
{
    for (int i = 0; sel && i < sel->n; i++) {
        json_t *v = ks_at(obj, sel->reqs[i].key);
        char num[32];
        const char *sv = "";
        if (json_is_string(v))
            sv = json_string_value(v);
        else if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            sv = num;
        }
        if (!match_one(&sel->reqs[i], sv))
            return false;
    }
    return true;
}

bool ks_selector_is_empty(const struct ks_selector *sel)
{
    return !sel || sel->n == 0;
}

const char *ks_selector_pinned(const struct ks_selector *sel, int *i, const char **value)
{
    while (sel && *i < sel->n) {
        const struct req *q = &sel->reqs[(*i)++];
        if (q->op == OP_EQ || (q->op == OP_IN && q->nvals == 1)) {
            *value = q->vals[0];
            return q->key;
        }
    }
    return NULL;
}

void ks_selector_free(struct ks_selector *sel)
{
    if (!sel)
        return;
    for (int i = 0; i < sel->n; i++) {
        free(sel->reqs[i].key);
        for (int j = 0; j < sel->reqs[i].nvals; j++)
            free(sel->reqs[i].vals[j]);
        free(sel->reqs[i].vals);
    }
    free(sel->reqs);
    free(sel);
}
