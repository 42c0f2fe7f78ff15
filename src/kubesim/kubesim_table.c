/*
 * kubesim_table.c - server-side Table responses (meta.k8s.io/v1) for kubectl.
 *
 * kubectl's human-readable output comes from the server: it asks for
 * `application/json;as=Table;v=v1;g=meta.k8s.io` and prints the columns it
 * gets, priority-1 columns only with -o wide.  The column sets and cell
 * formats follow kubernetes pkg/printers/internalversion/printers.go for pods,
 * deployments, replicasets, services and PVCs; other kinds get Name and Age.
 */
#include "kubesim/kubesim_int.h"
#include "util/mem.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* kubectl's HumanDuration. */
static void age(char *out, size_t n, const json_t *obj)
{
    int64_t t;
    const char *ts = ks_str(obj, "metadata.creationTimestamp");
    if (!ts || ty_time_parse_iso(ts, &t) != 0) {
        snprintf(out, n, "<unknown>");
        return;
    }
    long s = (long)((ty_time_now_ms() - t) / 1000);
    if (s < 0)
        s = 0;
    long m = s / 60, h = s / 3600, d = s / 86400;
    if (s < 120)
        snprintf(out, n, "%lds", s);
    else if (m < 10)
        s % 60 ? snprintf(out, n, "%ldm%lds", m, s % 60) : snprintf(out, n, "%ldm", m);
    else if (m < 180)
        snprintf(out, n, "%ldm", m);
    else if (h < 8)
        m % 60 ? snprintf(out, n, "%ldh%ldm", h, m % 60) : snprintf(out, n, "%ldh", h);
    else if (h < 48)
        snprintf(out, n, "%ldh", h);
    else if (h < 192)
        h % 24 ? snprintf(out, n, "%ldd%ldh", d, h % 24) : snprintf(out, n, "%ldd", d);
    else
        snprintf(out, n, "%ldd", d);
}

static void col(json_t *cols, const char *name, const char *type, int priority, const char *desc)
{
    json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:i}", "name", name, "type", type, "format", "",
                          "description", desc, "priority", priority);
    if (!strcmp(name, "Name"))
        json_object_set_new(c, "format", json_string("name"));
    json_array_append_new(cols, c);
}

static char *join_labels(const json_t *labels)
{
    struct ty_buf b = TY_BUF_INIT;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v)
    {
        ty_buf_printf(&b, "%s%s=%s", b.len ? "," : "", k, json_string_value(v));
    }
    return b.len ? ty_buf_detach(&b) : (ty_buf_cleanup(&b), ty_xstrdup("<none>"));
}

static json_t *pod_cells(const json_t *p)
{
    const char *reason = ks_str(p, "status.phase") ? ks_str(p, "status.phase") : "Pending";
    if (ks_str(p, "status.reason"))
        reason = ks_str(p, "status.reason");
    long total = (long)json_array_size(ks_at(p, "spec.containers")), ready = 0, restarts = 0;
    size_t i;
    json_t *cs;
    const char *waiting = NULL, *term = NULL;
    bool running = false;
    json_array_foreach(ks_at(p, "status.containerStatuses"), i, cs)
    {
        restarts += ks_int(cs, "restartCount", 0);
        if (json_is_true(json_object_get(cs, "ready")))
            ready++;
        if (ks_str(cs, "state.waiting.reason"))
            waiting = ks_str(cs, "state.waiting.reason");
        else if (ks_str(cs, "state.terminated.reason"))
            term = ks_str(cs, "state.terminated.reason");
        else if (ks_at(cs, "state.running"))
            running = true;
    }
    if (waiting)
        reason = waiting;
    else if (term)
        reason = term;
    else if (running && !strcmp(reason, "Completed"))
        reason = "Running";
    if (ks_at(p, "metadata.deletionTimestamp"))
        reason = "Terminating";
    char readys[32], a[32];
    snprintf(readys, sizeof readys, "%ld/%ld", ready, total);
    age(a, sizeof a, p);
    const char *ip = ks_str(p, "status.podIP"), *node = ks_str(p, "spec.nodeName");
    return json_pack("[s,s,s,I,s,s,s,s,s]", ks_str(p, "metadata.name"), readys, reason,
                     (json_int_t)restarts, a, ip ? ip : "<none>", node ? node : "<none>", "<none>",
                     "<none>");
}

static void containers_images(const json_t *podspec, char **names, char **images)
{
    struct ty_buf n = TY_BUF_INIT, im = TY_BUF_INIT;
    size_t i;
    json_t *c;
    json_array_foreach(ks_at(podspec, "containers"), i, c)
    {
        ty_buf_printf(&n, "%s%s", i ? "," : "", ks_str(c, "name") ? ks_str(c, "name") : "");
        ty_buf_printf(&im, "%s%s", i ? "," : "", ks_str(c, "image") ? ks_str(c, "image") : "");
    }
    *names = ty_buf_detach(&n);
    *images = ty_buf_detach(&im);
}

static json_t *workload_cells(enum ks_res r, const json_t *d)
{
    char readys[48], a[32];
    char *names, *images;
    char *sel = join_labels(ks_at(d, "spec.selector.matchLabels"));
    long desired = ks_int(d, "spec.replicas", 1);
    containers_images(ks_at(d, "spec.template.spec"), &names, &images);
    age(a, sizeof a, d);
    json_t *cells;
    if (r == KS_DEPLOYMENTS) {
        snprintf(readys, sizeof readys, "%ld/%ld", ks_int(d, "status.readyReplicas", 0), desired);
        cells =
            json_pack("[s,s,I,I,s,s,s,s]", ks_str(d, "metadata.name"), readys,
                      (json_int_t)ks_int(d, "status.updatedReplicas", 0),
                      (json_int_t)ks_int(d, "status.availableReplicas", 0), a, names, images, sel);
    } else {
        cells = json_pack("[s,I,I,I,s,s,s,s]", ks_str(d, "metadata.name"), (json_int_t)desired,
                          (json_int_t)ks_int(d, "status.replicas", 0),
                          (json_int_t)ks_int(d, "status.readyReplicas", 0), a, names, images, sel);
    }
    free(names);
    free(images);
    free(sel);
    return cells;
}

static json_t *service_cells(const json_t *svc)
{
    struct ty_buf ports = TY_BUF_INIT;
    size_t i;
    json_t *p;
    json_array_foreach(ks_at(svc, "spec.ports"), i, p)
    {
        const char *proto = ks_str(p, "protocol") ? ks_str(p, "protocol") : "TCP";
        if (ks_int(p, "nodePort", 0))
            ty_buf_printf(&ports, "%s%ld:%ld/%s", i ? "," : "", ks_int(p, "port", 0),
                          ks_int(p, "nodePort", 0), proto);
        else
            ty_buf_printf(&ports, "%s%ld/%s", i ? "," : "", ks_int(p, "port", 0), proto);
    }
    char *portstr =
        ports.len ? ty_buf_detach(&ports) : (ty_buf_cleanup(&ports), ty_xstrdup("<none>"));
    char *sel = join_labels(ks_at(svc, "spec.selector"));
    char a[32];
    age(a, sizeof a, svc);
    const char *type = ks_str(svc, "spec.type") ? ks_str(svc, "spec.type") : "ClusterIP";
    const char *ext = !strcmp(type, "LoadBalancer") ? "<pending>" : "<none>";
    const char *cip = ks_str(svc, "spec.clusterIP") ? ks_str(svc, "spec.clusterIP") : "<none>";
    json_t *cells =
        json_pack("[s,s,s,s,s,s,s]", ks_str(svc, "metadata.name"), type, cip, ext, portstr, a, sel);
    free(portstr);
    free(sel);
    return cells;
}

static json_t *pvc_cells(const json_t *pvc)
{
    char a[32];
    struct ty_buf modes = TY_BUF_INIT;
    size_t i;
    json_t *m;
    json_array_foreach(ks_at(pvc, "status.accessModes"), i, m)
    {
        const char *s = json_string_value(m);
        const char *abbr = !s                            ? ""
                           : !strcmp(s, "ReadWriteOnce") ? "RWO"
                           : !strcmp(s, "ReadOnlyMany")  ? "ROX"
                           : !strcmp(s, "ReadWriteMany") ? "RWX"
                                                         : "RWOP";
        ty_buf_printf(&modes, "%s%s", i ? "," : "", abbr);
    }
    char *ms = ty_buf_detach(&modes);
    age(a, sizeof a, pvc);
    const char *vol = ks_str(pvc, "spec.volumeName");
    const char *cap = ks_str(pvc, "status.capacity.storage");
    const char *sc = ks_str(pvc, "spec.storageClassName");
    json_t *cells =
        json_pack("[s,s,s,s,s,s,s,s]", ks_str(pvc, "metadata.name"),
                  ks_str(pvc, "status.phase") ? ks_str(pvc, "status.phase") : "", vol ? vol : "",
                  cap ? cap : "", ms, sc ? sc : "<unset>", "<unset>", a);
    free(ms);
    return cells;
}

static json_t *event_cells(const json_t *e)
{
    char last[32], first[32], obj[400], kind[64];
    const char *k = ks_str(e, "involvedObject.kind") ? ks_str(e, "involvedObject.kind") : "";
    size_t i;
    for (i = 0; k[i] && i + 1 < sizeof kind; i++)
        kind[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] - 'A' + 'a' : k[i]);
    kind[i] = 0;
    snprintf(obj, sizeof obj, "%s/%s", kind,
             ks_str(e, "involvedObject.name") ? ks_str(e, "involvedObject.name") : "");
    /* Ages of the event times, through a stand-in object for age(). */
    json_t *t = json_pack("{s:{s:s}}", "metadata", "creationTimestamp",
                          ks_str(e, "lastTimestamp") ? ks_str(e, "lastTimestamp") : "");
    age(last, sizeof last, t);
    json_object_set_new(
        json_object_get(t, "metadata"), "creationTimestamp",
        json_string(ks_str(e, "firstTimestamp") ? ks_str(e, "firstTimestamp") : ""));
    age(first, sizeof first, t);
    json_decref(t);
    const char *src = ks_str(e, "source.component") ? ks_str(e, "source.component") : "";
    return json_pack("[s,s,s,s,s,s,s,s,I,s]", last, ks_str(e, "type") ? ks_str(e, "type") : "",
                     ks_str(e, "reason") ? ks_str(e, "reason") : "", obj, "", src,
                     ks_str(e, "message") ? ks_str(e, "message") : "", first,
                     (json_int_t)ks_int(e, "count", 1), ks_str(e, "metadata.name"));
}

/* The column definitions of r, as the real server's printers define them. */
static json_t *columns(enum ks_res r)
{
    json_t *cols = json_array();
    const char *name_desc = "Name must be unique within a namespace.";
    if (r != KS_EVENTS)
        col(cols, "Name", "string", 0, name_desc);
    switch (r) {
    case KS_EVENTS:
        col(cols, "Last Seen", "string", 0, "Time when last event occurred");
        col(cols, "Type", "string", 0, "Type of this event.");
        col(cols, "Reason", "string", 0, "Short, machine understandable string.");
        col(cols, "Object", "string", 0, "The object this Event is about.");
        col(cols, "Subobject", "string", 1, "The subobject this Event is about.");
        col(cols, "Source", "string", 1, "The component reporting this event.");
        col(cols, "Message", "string", 0, "A human-readable description of the status.");
        col(cols, "First Seen", "string", 1, "Time when first event occurred.");
        col(cols, "Count", "integer", 1, "The number of times this event has occurred.");
        col(cols, "Name", "string", 1, name_desc);
        break;
    case KS_PODS:
        col(cols, "Ready", "string", 0, "The aggregate readiness state of this pod.");
        col(cols, "Status", "string", 0, "The aggregate status of the containers in this pod.");
        col(cols, "Restarts", "string", 0, "The number of times the containers were restarted.");
        col(cols, "Age", "string", 0, "CreationTimestamp");
        col(cols, "IP", "string", 1, "IP address allocated to the pod.");
        col(cols, "Node", "string", 1, "Name of the Node this pod is assigned to.");
        col(cols, "Nominated Node", "string", 1, "Nominated node name.");
        col(cols, "Readiness Gates", "string", 1, "Pod readiness gates.");
        break;
    case KS_DEPLOYMENTS:
        col(cols, "Ready", "string", 0, "Number of the pod with ready state");
        col(cols, "Up-to-date", "integer", 0, "Total number of updated pods.");
        col(cols, "Available", "integer", 0, "Total number of available pods.");
        col(cols, "Age", "string", 0, "CreationTimestamp");
        col(cols, "Containers", "string", 1, "Names of each container in the template.");
        col(cols, "Images", "string", 1, "Images referenced by each container in the template.");
        col(cols, "Selector", "string", 1, "Label selector for pods.");
        break;
    case KS_REPLICASETS:
        col(cols, "Desired", "integer", 0, "Number of desired pods.");
        col(cols, "Current", "integer", 0, "Number of actual replicas.");
        col(cols, "Ready", "integer", 0, "The number of ready replicas.");
        col(cols, "Age", "string", 0, "CreationTimestamp");
        col(cols, "Containers", "string", 1, "Names of each container in the template.");
        col(cols, "Images", "string", 1, "Images referenced by each container in the template.");
        col(cols, "Selector", "string", 1, "Label selector for pods.");
        break;
    case KS_SERVICES:
        col(cols, "Type", "string", 0, "The type of the service.");
        col(cols, "Cluster-IP", "string", 0, "The IP address of the service.");
        col(cols, "External-IP", "string", 0, "The external IP address of the service.");
        col(cols, "Port(s)", "string", 0, "The ports of the service.");
        col(cols, "Age", "string", 0, "CreationTimestamp");
        col(cols, "Selector", "string", 1, "The label selector of the service.");
        break;
    case KS_PVCS:
        col(cols, "Status", "string", 0, "The phase of the claim.");
        col(cols, "Volume", "string", 0, "The bound volume.");
        col(cols, "Capacity", "string", 0, "The capacity of the volume.");
        col(cols, "Access Modes", "string", 0, "The access modes.");
        col(cols, "StorageClass", "string", 0, "The storage class.");
        col(cols, "VolumeAttributesClass", "string", 0, "The volume attributes class.");
        col(cols, "Age", "string", 0, "CreationTimestamp");
        break;
    case KS_NAMESPACES:
        col(cols, "Status", "string", 0, "The status of the namespace");
        col(cols, "Age", "string", 0, "CreationTimestamp");
        break;
    case KS_CONFIGMAPS:
        col(cols, "Data", "string", 0, "Number of data entries.");
        col(cols, "Age", "string", 0, "CreationTimestamp");
        break;
    case KS_SECRETS:
        col(cols, "Type", "string", 0, "The type of the secret.");
        col(cols, "Data", "string", 0, "Number of data entries.");
        col(cols, "Age", "string", 0, "CreationTimestamp");
        break;
    case KS_NETPOLS:
        col(cols, "Pod-Selector", "string", 0, "The pod selector of the policy.");
        col(cols, "Age", "string", 0, "CreationTimestamp");
        break;
    default:
        col(cols, "Age", "string", 0, "CreationTimestamp");
        break;
    }
    return cols;
}

/* The cells of one row for o, an object of kind r. */
static json_t *cells_of(enum ks_res r, const json_t *o)
{
    json_t *cells;
    char a[32];
    switch (r) {
    case KS_PODS:
        cells = pod_cells(o);
        break;
    case KS_DEPLOYMENTS:
    case KS_REPLICASETS:
        cells = workload_cells(r, o);
        break;
    case KS_SERVICES:
        cells = service_cells(o);
        break;
    case KS_PVCS:
        cells = pvc_cells(o);
        break;
    case KS_EVENTS:
        cells = event_cells(o);
        break;
    case KS_CONFIGMAPS:
    case KS_SECRETS: {
        age(a, sizeof a, o);
        json_int_t n = (json_int_t)(json_object_size(json_object_get(o, "data")) +
                                    json_object_size(json_object_get(o, "binaryData")));
        if (r == KS_SECRETS)
            cells = json_pack("[s,s,I,s]", ks_str(o, "metadata.name"),
                              ks_str(o, "type") ? ks_str(o, "type") : "Opaque", n, a);
        else
            cells = json_pack("[s,I,s]", ks_str(o, "metadata.name"), n, a);
        break;
    }
    case KS_NETPOLS: {
        age(a, sizeof a, o);
        char *sel = join_labels(ks_at(o, "spec.podSelector.matchLabels"));
        cells = json_pack("[s,s,s]", ks_str(o, "metadata.name"), sel, a);
        free(sel);
        break;
    }
    case KS_NAMESPACES:
        age(a, sizeof a, o);
        cells = json_pack("[s,s,s]", ks_str(o, "metadata.name"),
                          ks_str(o, "status.phase") ? ks_str(o, "status.phase") : "Active", a);
        break;
    default:
        age(a, sizeof a, o);
        cells = json_pack("[s,s]", ks_str(o, "metadata.name"), a);
        break;
    }
    return cells;
}

json_t *ks_table(enum ks_res r, json_t *items, const char *rv, bool include_object)
{
    json_t *cols = columns(r), *rows = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o)
    {
        json_t *cells = cells_of(r, o);
        json_t *obj;
        if (include_object) {
            obj = json_deep_copy(o);
        } else {
            obj = json_pack("{s:s,s:s,s:O}", "kind", "PartialObjectMetadata", "apiVersion",
                            "meta.k8s.io/v1", "metadata", json_object_get(o, "metadata"));
        }
        json_array_append_new(rows, json_pack("{s:o,s:o}", "cells", cells, "object", obj));
    }
    return json_pack("{s:s,s:s,s:{s:s},s:o,s:o}", "kind", "Table", "apiVersion", "meta.k8s.io/v1",
                     "metadata", "resourceVersion", rv ? rv : "", "columnDefinitions", cols, "rows",
                     rows);
}
