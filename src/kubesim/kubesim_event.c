/*
 * kubesim_event.c - the v1 Events the simulated cluster records about its
 * objects, aggregated and bounded as a real cluster's event recorder and
 * TTL aggregate and bound them.
 */
#include "kubesim/kubesim_int.h"
#include "util/str.h"
#include "util/time.h"

#include <stdio.h>
#include <string.h>

/* ---- events ---- */

void ks_emit_event(
    struct kubesim *s, const json_t *obj, const char *type, const char *reason, const char *msg)
{
    char now[32], name[300], sfx[17];
    const char *ns = ks_str(obj, "metadata.namespace");
    const char *oname = ks_str(obj, "metadata.name");
    const char *kind = ks_str(obj, "kind");
    if (!ns || !oname || !ks_get(s, KS_NAMESPACES, NULL, ns))
        return;
    ks_now_iso(now);
    /* Repeats are aggregated as the real event recorder does: count and lastTimestamp. */
    json_t *same = ks_event_find(s, ns, ks_str(obj, "metadata.uid"), reason, msg);
    if (same) {
        json_t *copy = json_deep_copy(same);
        json_object_set_new(copy, "count", json_integer(ks_int(same, "count", 1) + 1));
        json_object_set_new(copy, "lastTimestamp", json_string(now));
        ks_put(s, KS_EVENTS, copy);
        return;
    }
    uint64_t id = (uint64_t)ty_time_now_ms() * 1000000u;
    if (id <= s->last_event_id)
        id = s->last_event_id + 1;
    s->last_event_id = id;
    snprintf(sfx, sizeof sfx, "%016llx", (unsigned long long)id);
    snprintf(name, sizeof name, "%s.%s", oname, sfx);
    const char *component = !strcmp(reason, "Scheduled") || !strcmp(reason, "FailedScheduling")
                                ? "default-scheduler"
                            : kind && !strcmp(kind, "Pod")        ? "kubelet"
                            : kind && !strcmp(kind, "Deployment") ? "deployment-controller"
                            : kind && !strcmp(kind, "ReplicaSet") ? "replicaset-controller"
                                                                  : "kubesim";
    json_t *ev = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s},s:s,s:s,s:i,"
        "s:s,s:s}",
        "kind", "Event", "apiVersion", "v1", "metadata", "name", name, "namespace", ns,
        "involvedObject", "kind", kind ? kind : "", "namespace", ns, "name", oname, "uid",
        ks_str(obj, "metadata.uid") ? ks_str(obj, "metadata.uid") : "", "apiVersion",
        ks_str(obj, "apiVersion") ? ks_str(obj, "apiVersion") : "v1", "reason", reason, "message",
        msg, "type", type, "source", "component", component, "firstTimestamp", now, "lastTimestamp",
        now, "count", 1, "reportingComponent", component, "reportingInstance", "kubesim");
    ks_meta_init(s, ev);
    ks_put(s, KS_EVENTS, ev);
    /* Events are bounded as a real cluster's one-hour TTL bounds them: the
     * ones written longest ago go first. */
    size_t max = s->o.max_events > 0 ? (size_t)s->o.max_events : 2000;
    json_t *victim;
    while (json_object_size(s->objs[KS_EVENTS]) > max && (victim = ks_event_oldest(s)) != NULL) {
        char vns[256], vname[300];
        ty_strlcpy(vns, ks_str(victim, "metadata.namespace"), sizeof vns);
        ty_strlcpy(vname, ks_str(victim, "metadata.name"), sizeof vname);
        ks_remove(s, KS_EVENTS, vns, vname);
    }
}
