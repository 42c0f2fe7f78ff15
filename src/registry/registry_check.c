/*
 * registry_check.c - the checks `tycho registry check` adds on top of
 * loading: every spec a resolved app names is read and parsed, and the
 * services the app lists must exist in it.  Tycho only discovers a missing
 * service after a launch (an AssertionError once the pods exist), so finding
 * it here saves a failed launch.  Everything is a warning: a registry whose
 * specs live elsewhere or change later still loads.
 */
#include "registry/registry_int.h"

#include "util/mem.h"
#include "util/str.h"

#include <stdlib.h>
#include <string.h>

/* Checks one app's spec; returns 1 when a spec was examined, 0 when skipped. */
static int check_app(const struct registry *reg,
                     const char *context,
                     const char *id,
                     const json_t *app,
                     bool fetch_remote,
                     json_t *seen,
                     struct registry_warnings *w)
{
    const char *spec = json_string_value(json_object_get(app, "spec"));
    const json_t *want = json_object_get(app, "services");
    struct ty_error e = TY_ERROR_INIT;
    struct doc *d = NULL;
    char *text = NULL, *name = NULL, *key;
    size_t len = 0;
    const json_t *services;
    const char *svc;
    json_t *port;

    if (!spec)
        return 0;
    if (!fetch_remote &&
        (ty_str_has_prefix(spec, "http://") || ty_str_has_prefix(spec, "https://")))
        return 0;
    /* Each (spec, services) pair once: contexts share most apps. */
    {
        char *dump = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        key = ty_xasprintf("%s\n%s", spec, dump ? dump : "");
        free(dump);
    }
    if (json_object_get(seen, key)) {
        free(key);
        return 0;
    }
    json_object_set_new(seen, key, json_true());
    free(key);

    if (registry_app_spec_read(&text, &len, &name, reg, app, &e) < 0) {
        registry_warnings_add(w, "%s: context '%s': app '%s': cannot read spec: %s",
                              reg->registry_name, context, id, e.msg);
        return 1;
    }
    if (doc_parse(&d, name, text, len, NULL, &e) < 0) {
        registry_warnings_add(w, "%s (app '%s')", e.msg, id);
        goto out;
    }
    services = json_object_get(doc_root(d), "services");
    if (!json_is_object(services)) {
        char where[512];
        registry_warnings_add(w, "%s: app '%s': the spec has no services mapping",
                              doc_where(d, doc_root(d), "services", where, sizeof(where)), id);
        goto out;
    }
    if (want && !json_is_object(want)) {
        registry_warnings_add(w,
                              "%s: context '%s': app '%s': services must be a mapping of "
                              "service name to port",
                              reg->registry_name, context, id);
        goto out;
    }
    json_object_foreach((json_t *)want, svc, port)
    {
        if (!json_object_get(services, svc)) {
            char where[512];
            registry_warnings_add(w,
                                  "%s: app '%s' lists service '%s', which the spec does not "
                                  "define",
                                  doc_where(d, services, NULL, where, sizeof(where)), id, svc);
        }
    }
out:
    doc_free(d);
    free(text);
    free(name);
    return 1;
}

int registry_specs_check(const struct registry *reg,
                         const char *context,
                         bool fetch_remote,
                         struct registry_warnings *warnings,
                         struct ty_error *err)
{
    json_t *seen = json_object();
    const char *cname, *id;
    json_t *apps, *app;
    int n = 0;
    if (context && !json_object_get(reg->priv->resolved, context)) {
        json_decref(seen);
        return ty_error_set(err, TY_ENOTFOUND, "%s: no context '%s'", reg->registry_name, context);
    }
    json_object_foreach(reg->priv->resolved, cname, apps)
    {
        if (context && strcmp(context, cname) != 0)
            continue;
        json_object_foreach(apps, id, app)
        {
            n += check_app(reg, cname, id, app, fetch_remote, seen, warnings);
        }
    }
    json_decref(seen);
    return n;
}
