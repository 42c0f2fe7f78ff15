/*
 * kubesim_patch.c - the three PATCH flavours of the Kubernetes API.
 *
 * Merge patch is RFC 7386 exactly (objects merge recursively, null deletes,
 * everything else replaces, lists included).  Strategic merge patch is the
 * Kubernetes variant for built-in types; the simulator knows the merge keys of
 * the lists Tycho and kubectl patch (containers, initContainers, env, ports,
 * volumes, volumeMounts, imagePullSecrets) and honours the `$patch: delete`
 * and `$patch: replace` directives on list items and maps; any other list is
 * replaced as in a merge patch.  JSON patch is RFC 6902 with JSON Pointers
 * (RFC 6901): add, remove, replace, move, copy, test.
 */
#include "kubesim/kubesim_int.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

static json_t *
merge(const json_t *target, const json_t *patch, bool strategic, const char *parent_key);

json_t *ks_patch_merge(const json_t *target, const json_t *patch)
{
    return merge(target, patch, false, NULL);
}

json_t *ks_patch_strategic(const json_t *target, const json_t *patch)
{
    return merge(target, patch, true, NULL);
}

/* The merge key of a list under parent key k, or NULL when the list is atomic. */
static const char *merge_key(const char *k, const json_t *list)
{
    static const char *const by_name[] = {"containers", "initContainers", "ephemeralContainers",
                                          "env",        "volumes",        "imagePullSecrets",
                                          NULL};
    if (!k)
        return NULL;
    for (const char *const *p = by_name; *p; p++)
        if (!strcmp(k, *p))
            return "name";
    if (!strcmp(k, "volumeMounts"))
        return "mountPath";
    if (!strcmp(k, "ports")) {
        json_t *first = json_array_get(list, 0);
        return json_object_get(first, "containerPort") ? "containerPort" : "port";
    }
    return NULL;
}

static json_t *find_by_key(json_t *list, const char *mk, const json_t *keyval, size_t *idx)
{
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        if (json_equal(json_object_get(item, mk), keyval)) {
            *idx = i;
            return item;
        }
    }
    return NULL;
}

static json_t *merge_list(const json_t *target, const json_t *patch, const char *mk)
{
    json_t *out = json_is_array(target) ? json_deep_copy(target) : json_array();
    size_t i;
    json_t *p;
    json_array_foreach(patch, i, p)
    {
        const char *directive = json_string_value(json_object_get(p, "$patch"));
        if (directive && !strcmp(directive, "replace")) {
            /* {"$patch":"replace"} as a list item: the rest of the list replaces all */
            json_decref(out);
            out = json_array();
            continue;
        }
        json_t *kv = json_object_get(p, mk);
        size_t idx = 0;
        json_t *cur = kv ? find_by_key(out, mk, kv, &idx) : NULL;
        if (directive && !strcmp(directive, "delete")) {
            if (cur)
                json_array_remove(out, idx);
            continue;
        }
        if (cur)
            json_array_set_new(out, idx, merge(cur, p, true, NULL));
        else
            json_array_append_new(out, merge(NULL, p, true, NULL));
    }
    return out;
}

static json_t *
merge(const json_t *target, const json_t *patch, bool strategic, const char *parent_key)
{
    (void)parent_key;
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
    if (strategic) {
        const char *d = json_string_value(json_object_get(patch, "$patch"));
        if (d && !strcmp(d, "replace")) {
            json_decref(out);
            out = json_object();
        } else if (d && !strcmp(d, "delete")) {
            json_decref(out);
            return json_null();
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (strategic && k[0] == '$')
            continue;
        if (json_is_null(v)) {
            json_object_del(out, k);
            continue;
        }
        json_t *cur = json_object_get(out, k);
        json_t *nv;
        const char *mk = strategic && json_is_array(v) ? merge_key(k, v) : NULL;
        if (mk)
            nv = merge_list(cur, v, mk);
        else if (json_is_object(v))
            nv = merge(cur, v, strategic, k);
        else
            nv = json_deep_copy(v);
        if (json_is_null(nv)) {
            json_decref(nv);
            json_object_del(out, k);
        } else {
            json_object_set_new(out, k, nv);
        }
    }
    return out;
}

/* ---- RFC 6902 ---- */

/* Splits a JSON Pointer into its parent container and last token (unescaped). */
static json_t *resolve_parent(json_t *doc, const char *ptr, char **last, struct ty_error *err)
{
    *last = NULL;
    if (ptr[0] != '/') {
        ty_error_set(err, TY_EINVAL, "path '%s' is not a JSON Pointer", ptr);
        return NULL;
    }
    json_t *cur = doc;
    const char *p = ptr + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char *tok = ty_xmalloc(n + 1);
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1')) {
                tok[j++] = p[i + 1] == '0' ? '~' : '/';
                i++;
            } else {
                tok[j++] = p[i];
            }
        }
        tok[j] = 0;
        if (!slash) {
            *last = tok;
            return cur;
        }
        json_t *next = NULL;
        if (json_is_object(cur))
            next = json_object_get(cur, tok);
        else if (json_is_array(cur)) {
            char *end;
            unsigned long idx = strtoul(tok, &end, 10);
            next = (*end || !*tok) ? NULL : json_array_get(cur, idx);
        }
        free(tok);
        if (!next) {
            ty_error_set(err, TY_EINVAL, "path '%s' does not exist", ptr);
            return NULL;
        }
        cur = next;
        p = slash + 1;
    }
}

static int array_index(const json_t *arr, const char *tok, bool allow_end, size_t *out)
{
    char *end;
    if (allow_end && !strcmp(tok, "-")) {
        *out = json_array_size(arr);
        return 0;
    }
    if (!*tok || (tok[0] == '0' && tok[1]))
        return -1;
    unsigned long i = strtoul(tok, &end, 10);
    if (*end || i > json_array_size(arr) || (!allow_end && i == json_array_size(arr)))
        return -1;
    *out = i;
    return 0;
}

static json_t *ptr_get(json_t *doc, const char *ptr, struct ty_error *err)
{
    if (!*ptr)
        return doc;
    char *last;
    json_t *parent = resolve_parent(doc, ptr, &last, err);
    json_t *v = NULL;
    if (parent && json_is_object(parent))
        v = json_object_get(parent, last);
    else if (parent && json_is_array(parent)) {
        size_t i;
        if (array_index(parent, last, false, &i) == 0)
            v = json_array_get(parent, i);
    }
    free(last);
    if (!v && parent)
        ty_error_set(err, TY_EINVAL, "path '%s' does not exist", ptr);
    return v;
}

static int ptr_remove(json_t *doc, const char *ptr, struct ty_error *err)
{
    char *last;
    json_t *parent = resolve_parent(doc, ptr, &last, err);
    int rc = TY_EINVAL;
    size_t i;
    if (!parent)
        return TY_EINVAL;
    if (json_is_object(parent) && json_object_get(parent, last))
        rc = json_object_del(parent, last) == 0 ? 0 : TY_EINVAL;
    else if (json_is_array(parent) && array_index(parent, last, false, &i) == 0)
        rc = json_array_remove(parent, i) == 0 ? 0 : TY_EINVAL;
    if (rc)
        ty_error_set(err, TY_EINVAL, "unable to remove nonexistent key: %s", ptr);
    free(last);
    return rc;
}

/* Steals value. */
static int ptr_add(json_t *doc, const char *ptr, json_t *value, bool replace, struct ty_error *err)
{
    char *last;
    json_t *parent = resolve_parent(doc, ptr, &last, err);
    int rc = TY_EINVAL;
    size_t i;
    if (!parent) {
        json_decref(value);
        return TY_EINVAL;
    }
    if (json_is_object(parent)) {
        if (replace && !json_object_get(parent, last))
            ty_error_set(err, TY_EINVAL,
                         "replace operation does not apply: doc is missing "
                         "key: %s",
                         ptr);
        else
            rc = json_object_set_new(parent, last, value) == 0 ? 0 : TY_EINVAL;
        value = rc == 0 ? NULL : value;
    } else if (json_is_array(parent) && array_index(parent, last, !replace, &i) == 0) {
        if (replace)
            rc = json_array_set_new(parent, i, value);
        else
            rc = json_array_insert_new(parent, i, value);
        value = NULL;
        rc = rc == 0 ? 0 : TY_EINVAL;
    } else {
        ty_error_set(err, TY_EINVAL, "path '%s': no such array index or object", ptr);
    }
    json_decref(value);
    free(last);
    return rc;
}

json_t *ks_patch_json(const json_t *target, const json_t *ops, struct ty_error *err)
{
    json_t *doc = json_deep_copy(target);
    size_t i;
    json_t *op;
    if (!json_is_array(ops)) {
        ty_error_set(err, TY_EINVAL, "json patch must be an array of operations");
        goto fail;
    }
    json_array_foreach(ops, i, op)
    {
        const char *name = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));
        const char *from = json_string_value(json_object_get(op, "from"));
        json_t *value = json_object_get(op, "value");
        int rc = TY_EINVAL;
        if (!name || !path) {
            ty_error_set(err, TY_EINVAL, "operation %zu: 'op' and 'path' are required", i);
            goto fail;
        }
        if (!strcmp(name, "add") || !strcmp(name, "replace")) {
            if (!value) {
                ty_error_set(err, TY_EINVAL, "operation %zu: 'value' is required", i);
                goto fail;
            }
            rc = ptr_add(doc, path, json_deep_copy(value), name[0] == 'r', err);
        } else if (!strcmp(name, "remove")) {
            rc = ptr_remove(doc, path, err);
        } else if (!strcmp(name, "test")) {
            json_t *cur = ptr_get(doc, path, err);
            rc = cur && value && json_equal(cur, value) ? 0 : TY_EINVAL;
            if (rc && cur)
                ty_error_set(err, TY_EINVAL, "testing value %s failed", path);
        } else if (!strcmp(name, "move") || !strcmp(name, "copy")) {
            json_t *src = from ? ptr_get(doc, from, err) : NULL;
            if (src) {
                json_t *copy = json_deep_copy(src);
                rc = name[0] == 'm' ? ptr_remove(doc, from, err) : 0;
                if (rc == 0)
                    rc = ptr_add(doc, path, copy, false, err);
                else
                    json_decref(copy);
            } else if (!from) {
                ty_error_set(err, TY_EINVAL, "operation %zu: 'from' is required", i);
            }
        } else {
            ty_error_set(err, TY_EINVAL, "Unexpected kind: %s", name);
        }
        if (rc != 0)
            goto fail;
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}
