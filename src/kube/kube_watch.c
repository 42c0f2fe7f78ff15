/*
 * kube_watch.c - watch streams: one GET ?watch=1 whose chunked body is a
 * sequence of JSON events, one per line, fed to the caller's callback as
 * they arrive.
 *
 * The stream ends normally when the server closes it (timeoutSeconds passed):
 * the caller re-watches from the last resourceVersion it saw, BOOKMARK events
 * included.  A resourceVersion the server no longer has comes back either as
 * HTTP 410 or as a 200 stream carrying an ERROR event with a 410 Status; both
 * are TY_EGONE, so callers have one case to handle (re-list, then watch from
 * the list's resourceVersion).
 */
#include "kube/kube_int.h"

#include <string.h>

struct watch_state {
    struct kube_client *c;
    kube_watch_cb cb;
    void *payload;
    const char *what;
    uint64_t events;
    int rc; /* error from the stream itself (ERROR event, bad line) */
    struct ty_error *err;
    bool stopped_by_cb;
};

static int on_line(const char *line, size_t len, void *p)
{
    struct watch_state *w = p;
    json_error_t jerr;
    json_t *ev = json_loadb(line, len, 0, &jerr);
    const char *type;
    json_t *obj;
    int rc = 0;

    if (!json_is_object(ev)) {
        w->rc = ty_error_set(w->err, TY_EUPSTREAM, "kube: %s: watch event is not a JSON object%s%s",
                             w->what, ev ? "" : ": ", ev ? "" : jerr.text);
        rc = 1;
        goto out;
    }
    type = json_string_value(json_object_get(ev, "type"));
    obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) {
        w->rc = ty_error_set(w->err, TY_EUPSTREAM, "kube: %s: watch event without type/object",
                             w->what);
        rc = 1;
        goto out;
    }
    if (strcmp(type, "ERROR") == 0) {
        w->rc = kube_status_object_error(w->err, obj, w->what);
        if (w->rc == 0)
            w->rc = TY_ERR;
        rc = 1;
        goto out;
    }
    if (strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0 &&
        strcmp(type, "DELETED") != 0 && strcmp(type, "BOOKMARK") != 0) {
        w->rc = ty_error_set(w->err, TY_EUPSTREAM, "kube: %s: unknown watch event type '%s'",
                             w->what, type);
        rc = 1;
        goto out;
    }
    w->events++;
    if (w->cb(type, obj, w->payload) != 0) {
        w->stopped_by_cb = true;
        rc = 1;
    }
out:
    json_decref(ev);
    return rc;
}

int kube_watch(struct kube_client *c,
               enum kube_kind kind,
               const char *ns,
               const struct kube_watch_opts *o,
               kube_watch_cb cb,
               void *payload,
               struct ty_error *err)
{
    static const struct kube_watch_opts defaults = KUBE_WATCH_OPTS_INIT;
    struct ty_buf path = TY_BUF_INIT;
    struct kube_req r = {0};
    struct kube_resp resp = {0, TY_BUF_INIT, false};
    struct watch_state w = {0};
    char what[200], num[32];
    int rc;

    if (!o)
        o = &defaults;
    if ((int)kind < 0 || kind >= KUBE_KIND_COUNT || !cb)
        return ty_error_set(err, TY_EINVAL, "kube: watch: bad kind or no callback");
    if (!ns)
        ns = c->cfg.namespace;
    kube_path_build(&path, kind, ns, NULL);
    snprintf(what, sizeof(what), "watch %s", path.data);
    kube_query_add(&path, "watch", "1");
    if (o->label_selector && o->label_selector[0])
        kube_query_add(&path, "labelSelector", o->label_selector);
    if (o->field_selector && o->field_selector[0])
        kube_query_add(&path, "fieldSelector", o->field_selector);
    if (o->resource_version && o->resource_version[0])
        kube_query_add(&path, "resourceVersion", o->resource_version);
    if (o->allow_bookmarks)
        kube_query_add(&path, "allowWatchBookmarks", "true");
    if (o->timeout_s > 0) {
        snprintf(num, sizeof(num), "%d", o->timeout_s);
        kube_query_add(&path, "timeoutSeconds", num);
    }

    w.c = c;
    w.cb = cb;
    w.payload = payload;
    w.what = what;
    w.err = err;
    r.method = "GET";
    r.path = path.data;
    r.on_line = on_line;
    r.line_payload = &w;
    r.stop = o->stop;
    /* The server ends the stream after timeoutSeconds; our own deadline is a
     * safety net against a server that never does. */
    r.timeout_ms = o->timeout_s > 0 ? (o->timeout_s + 60) * 1000L : -1;

    rc = kube_do(c, &r, &resp, err);
    if (rc == 0 && w.rc)
        rc = w.rc;
    kube_count_events(c, w.events);
    kube_count_call(c, rc);
    ty_buf_cleanup(&resp.body);
    ty_buf_cleanup(&path);
    return rc;
}
