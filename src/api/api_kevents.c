/*
 * api_kevents.c - one watch on the namespace's pod Events, shared by every
 * launch progress stream.
 *
 * A progress stream used to list its session's pods and then each pod's
 * Events once a second: 1 + pods Kubernetes calls per second per stream.
 * Instead one thread lists the Events about pods once, then watches them
 * (re-listing after 410 Gone, retrying after errors), and keeps the last
 * API_KEVENTS_MAX of them in a ring.  A stream asks for the ones about pods
 * whose name starts with its Deployment's name and "-" (a Deployment's pods
 * are <deployment>-<pod-template-hash>-<suffix>) recorded after its cursor,
 * which costs no API call at all.
 *
 * The ring holds small copies ({uid, type, reason, message, object}), so a
 * burst of Events on a busy cluster costs at most API_KEVENTS_MAX of them.
 */
#include "api/api_srv.h"
#include "util/mem.h"
#include "util/str.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API_KEVENTS_MAX 4096

struct kev {
    uint64_t seq; /* 0 = empty slot */
    char *pod;
    json_t *view;
};

struct api_kevents {
    struct kube_client *kube; /* borrowed */
    char *ns;
    pthread_t thread;
    int stop; /* atomic; read by kube_watch */

    pthread_mutex_t mu;
    struct kev ring[API_KEVENTS_MAX]; /* seq % API_KEVENTS_MAX */
    uint64_t next_seq;                /* the next event's seq (starts at 1) */
    char rv[64];                      /* last resourceVersion seen */
};

static const char selector[] = "involvedObject.kind=Pod";

static void record(struct api_kevents *k, const json_t *ev)
{
    const json_t *md = json_object_get(ev, "metadata");
    const json_t *inv = json_object_get(ev, "involvedObject");
    const char *pod = json_string_value(json_object_get(inv, "name"));
    const char *uid = json_string_value(json_object_get(md, "uid"));
    if (!uid)
        uid = json_string_value(json_object_get(md, "name"));
    if (!pod || !uid)
        return;
    json_t *view = json_pack("{s:s, s:s?, s:s?, s:s?, s:s}", "uid", uid, "type",
                             json_string_value(json_object_get(ev, "type")), "reason",
                             json_string_value(json_object_get(ev, "reason")), "message",
                             json_string_value(json_object_get(ev, "message")), "object", pod);
    if (!view)
        return; /* a non-string field: not an Event we can show */
    pthread_mutex_lock(&k->mu);
    struct kev *slot = &k->ring[k->next_seq % API_KEVENTS_MAX];
    free(slot->pod);
    json_decref(slot->view);
    slot->seq = k->next_seq++;
    slot->pod = ty_xstrdup(pod);
    slot->view = view;
    pthread_mutex_unlock(&k->mu);
}

static void set_rv(struct api_kevents *k, const json_t *obj)
{
    const char *rv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (!rv || strlen(rv) >= sizeof(k->rv))
        return;
    pthread_mutex_lock(&k->mu);
    ty_strlcpy(k->rv, rv, sizeof(k->rv));
    pthread_mutex_unlock(&k->mu);
}

static int on_event(const char *type, json_t *obj, void *payload)
{
    struct api_kevents *k = payload;
    if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED"))
        record(k, obj);
    set_rv(k, obj);
    return 0;
}

/* Sleeps ms, waking early when stopped. */
static void nap(struct api_kevents *k, int ms)
{
    for (int i = 0; i < ms / 100 && !__atomic_load_n(&k->stop, __ATOMIC_RELAXED); i++) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void *kevents_main(void *arg)
{
    struct api_kevents *k = arg;
    while (!__atomic_load_n(&k->stop, __ATOMIC_RELAXED)) {
        struct ty_error err = TY_ERROR_INIT;
        struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
        json_t *list = NULL, *item;
        size_t i;
        lo.field_selector = selector;
        if (kube_list_all(&list, k->kube, KUBE_EVENT, k->ns, &lo, &err) != 0) {
            nap(k, 2000); /* the cluster is away: streams show states only meanwhile */
            continue;
        }
        json_array_foreach(json_object_get(list, "items"), i, item) record(k, item);
        set_rv(k, list);
        json_decref(list);
        for (;;) {
            struct kube_watch_opts wo = KUBE_WATCH_OPTS_INIT;
            char rv[64];
            pthread_mutex_lock(&k->mu);
            ty_strlcpy(rv, k->rv, sizeof(rv));
            pthread_mutex_unlock(&k->mu);
            wo.field_selector = selector;
            wo.resource_version = rv[0] ? rv : NULL;
            wo.timeout_s = 300;
            wo.stop = &k->stop;
            int rc = kube_watch(k->kube, KUBE_EVENT, k->ns, &wo, on_event, k, &err);
            if (__atomic_load_n(&k->stop, __ATOMIC_RELAXED))
                break;
            if (rc != 0) {
                /* 410 Gone or a failure: list again (streams skip what they sent). */
                if (rc != TY_EGONE)
                    nap(k, 1000);
                break;
            }
        }
    }
    return NULL;
}

int api_kevents_start(struct api_kevents **out,
                      struct kube_client *kube,
                      const char *ns,
                      struct ty_error *err)
{
    struct api_kevents *k = ty_xcalloc(1, sizeof(*k));
    k->kube = kube;
    k->ns = ns ? ty_xstrdup(ns) : NULL;
    k->next_seq = 1;
    pthread_mutex_init(&k->mu, NULL);
    if (pthread_create(&k->thread, NULL, kevents_main, k) != 0) {
        pthread_mutex_destroy(&k->mu);
        free(k->ns);
        free(k);
        *out = NULL;
        return ty_error_set(err, TY_ERR, "cannot start the Kubernetes events thread");
    }
    *out = k;
    return 0;
}

void api_kevents_stop(struct api_kevents *k)
{
    if (!k)
        return;
    __atomic_store_n(&k->stop, 1, __ATOMIC_RELAXED);
    pthread_join(k->thread, NULL);
    for (size_t i = 0; i < API_KEVENTS_MAX; i++) {
        free(k->ring[i].pod);
        json_decref(k->ring[i].view);
    }
    pthread_mutex_destroy(&k->mu);
    free(k->ns);
    free(k);
}

json_t *api_kevents_since(struct api_kevents *k, const char *pod_prefix, uint64_t *cursor)
{
    json_t *out = json_array();
    size_t plen = strlen(pod_prefix);
    pthread_mutex_lock(&k->mu);
    uint64_t first = k->next_seq > API_KEVENTS_MAX ? k->next_seq - API_KEVENTS_MAX : 1;
    if (*cursor + 1 > first)
        first = *cursor + 1;
    for (uint64_t seq = first; seq < k->next_seq; seq++) {
        const struct kev *e = &k->ring[seq % API_KEVENTS_MAX];
        if (e->seq == seq && !strncmp(e->pod, pod_prefix, plen))
            json_array_append(out, e->view);
    }
    *cursor = k->next_seq - 1;
    pthread_mutex_unlock(&k->mu);
    return out;
}
