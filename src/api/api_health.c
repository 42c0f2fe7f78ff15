/*
 * api_health.c - /healthz (the process is up, and what it runs against),
 * /readyz (registry loaded, database reachable, cluster reachable) and
 * /metrics (Prometheus text format).
 *
 * /healthz never touches a dependency, so a liveness probe cannot kill the
 * server because the cluster is slow; /readyz does, with each check reported
 * separately, and answers 503 when one fails.  /metrics adds, at scrape time,
 * the gauges other modules keep: sessions by state (store), reconciler
 * counters (session), culler counters (reaper), Kubernetes client counters
 * (kube), and the reconciler lag - how far past its deadline the most overdue
 * live session is.
 */
#include "api/api_srv.h"
#include "registry/registry.h"
#include "session/session.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/time.h"

#include <stdlib.h>
#include <string.h>

static int healthz(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct api_server *srv = req->srv;
    char started[40];
    ty_time_format_iso(started, sizeof(started), srv->started_ms, 0);
    json_t *b =
        json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s, s:I}", "status", "ok", "version", TY_VERSION,
                  "cluster", srv->sim ? "simulated" : "kubernetes", "cluster_url", srv->cluster_url,
                  "context", srv->context, "started_at", started, "uptime_s",
                  (json_int_t)((ty_time_now_ms() - srv->started_ms) / 1000));
    if (srv->sim)
        json_object_set_new(b, "message",
                            json_string("no cluster is configured: sessions run on the simulated "
                                        "cluster inside this process"));
    api_resp_json(resp, 200, b);
    return 0;
}

static int readyz(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct api_server *srv = req->srv;
    struct ty_error e = TY_ERROR_INIT;
    bool ready = true;
    json_t *checks = json_object();

    struct registry *r = registry_holder_get(srv->reg);
    const json_t *apps = NULL;
    if (r && srv->context && registry_apps_get(&apps, r, srv->context, &e) == 0) {
        json_object_set_new(
            checks, "registry",
            json_pack("{s:b, s:I}", "ok", 1, "apps", (json_int_t)json_object_size(apps)));
    } else {
        ready = false;
        json_object_set_new(
            checks, "registry",
            json_pack("{s:b, s:s}", "ok", 0, "error", e.msg[0] ? e.msg : "no context loaded"));
    }
    registry_put(r);

    struct store *st = NULL;
    ty_error_clear(&e);
    if (api_server_store_get(srv, &st, &e) == 0) {
        int64_t n = 0;
        if (store_sessions_count_live(st, NULL, NULL, &n, &e) == 0) {
            json_object_set_new(checks, "database",
                                json_pack("{s:b, s:i, s:I}", "ok", 1, "schema",
                                          store_schema_version(st), "live_sessions",
                                          (json_int_t)n));
        } else {
            ready = false;
            json_object_set_new(checks, "database",
                                json_pack("{s:b, s:s}", "ok", 0, "error", e.msg));
        }
        api_server_store_put(srv, st);
    } else {
        ready = false;
        json_object_set_new(checks, "database", json_pack("{s:b, s:s}", "ok", 0, "error", e.msg));
    }

    ty_error_clear(&e);
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    lo.limit = 1;
    lo.label_selector = "executor=tycho";
    json_t *list = NULL;
    if (kube_list(&list, srv->kube, KUBE_DEPLOYMENT, NULL, &lo, &e) == 0)
        json_object_set_new(checks, "cluster",
                            json_pack("{s:b, s:s, s:s}", "ok", 1, "kind",
                                      srv->sim ? "simulated" : "kubernetes", "url",
                                      srv->cluster_url));
    else {
        ready = false;
        json_object_set_new(checks, "cluster",
                            json_pack("{s:b, s:s, s:s}", "ok", 0, "kind",
                                      srv->sim ? "simulated" : "kubernetes", "error", e.msg));
    }
    json_decref(list);
    api_resp_json(resp, ready ? 200 : 503,
                  json_pack("{s:b, s:o}", "ready", ready, "checks", checks));
    return 0;
}

static void gauge(struct ty_buf *b, const char *name, const char *help, const char *type, double v)
{
    ty_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

static int metrics(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct api_server *srv = req->srv;
    struct ty_buf b = TY_BUF_INIT;
    api_metrics_render_own(srv->metrics, &b);

    struct store *st = NULL;
    if (api_server_store_get(srv, &st, NULL) == 0) {
        int64_t by[STORE_STATE__COUNT];
        if (store_stats_by_state(st, by, NULL) == 0) {
            ty_buf_puts(&b, "# HELP tycho_sessions Sessions in the store by state.\n"
                            "# TYPE tycho_sessions gauge\n");
            for (int s = 0; s < STORE_STATE__COUNT; s++)
                ty_buf_printf(&b, "tycho_sessions{state=\"%s\"} %lld\n",
                              store_state_name((enum store_state)s), (long long)by[s]);
        }
        struct store_session *due = NULL;
        size_t ndue = 0;
        int64_t now = ty_time_now_ms();
        double lag = 0;
        if (store_sessions_due(st, now, 1, &due, &ndue, NULL) == 0) {
            if (ndue > 0)
                lag = (double)(now - due[0].state_deadline_at) / 1000.0;
            store_sessions_free(due, ndue);
        }
        gauge(&b, "tycho_reconciler_lag_seconds",
              "How far past its state deadline the most overdue live session is (0 when none).",
              "gauge", lag);
        api_server_store_put(srv, st);
    }

    struct session_reconcile_stats rs;
    memset(&rs, 0, sizeof(rs));
    session_reconciler_stats(&rs, srv->svc);
    gauge(&b, "tycho_reconciler_synced_total", "Sessions examined by the reconciler.", "counter",
          (double)rs.synced);
    gauge(&b, "tycho_reconciler_transitions_total", "State changes made by the reconciler.",
          "counter", (double)rs.transitions);
    gauge(&b, "tycho_reconciler_lost_total", "Sessions marked lost.", "counter", (double)rs.lost);
    gauge(&b, "tycho_reconciler_orphans_seen_total", "Labelled objects without a session.",
          "counter", (double)rs.orphans_seen);
    gauge(&b, "tycho_reconciler_watch_restarts_total", "Watches re-opened.", "counter",
          (double)rs.watch_restarts);
    gauge(&b, "tycho_reconciler_errors_total", "Reconciler errors.", "counter", (double)rs.errors);

    if (srv->reaper) {
        struct reaper_stats cs;
        reaper_stats_get(srv->reaper, &cs);
        gauge(&b, "tycho_culler_enabled", "1 when the culler runs on its schedule.", "gauge",
              srv->cull_policy.enabled ? 1 : 0);
        gauge(&b, "tycho_culler_passes_total", "Culling passes run.", "counter", (double)cs.passes);
        gauge(&b, "tycho_culler_culled_total", "Sessions stopped by the culler.", "counter",
              (double)cs.culled);
        gauge(&b, "tycho_culler_warned_total", "Cull warnings issued.", "counter",
              (double)cs.warned);
        gauge(&b, "tycho_culler_skipped_total",
              "Culls abandoned at the re-check (activity or a stop came first).", "counter",
              (double)cs.skipped);
        gauge(&b, "tycho_culler_errors_total", "Stops or CPU samples of the culler that failed.",
              "counter", (double)cs.errors);
        gauge(&b, "tycho_culler_notified_total", "Warnings and culls POSTed to notify_url.",
              "counter", (double)cs.notified);
        gauge(&b, "tycho_culler_notify_failures_total",
              "Notifications that failed or were dropped after a failure in the same pass.",
              "counter", (double)cs.notify_failures);
        gauge(&b, "tycho_culler_last_pass_timestamp_seconds",
              "When the last culling pass ran (0 before the first).", "gauge",
              (double)cs.last_pass_at / 1000.0);
        gauge(&b, "tycho_culler_last_pass_duration_seconds", "How long the last pass took.",
              "gauge", (double)cs.last_pass_ms / 1000.0);
    }

    struct kube_client_stats sum;
    kube_client_stats(srv->kube, &sum); /* the one client the session service shares */
    gauge(&b, "tycho_kube_api_calls_total", "Kubernetes API calls.", "counter", (double)sum.calls);
    gauge(&b, "tycho_kube_api_retries_total", "Kubernetes API retries.", "counter",
          (double)sum.retries);
    gauge(&b, "tycho_kube_api_errors_total",
          "Kubernetes API calls that returned an error (404 included).", "counter",
          (double)sum.errors);
    gauge(&b, "tycho_kube_watch_events_total", "Watch events received.", "counter",
          (double)sum.watch_events);
    gauge(&b, "tycho_http_streams_open", "Progress streams open (each holds a worker thread).",
          "gauge", (double)__atomic_load_n(&srv->streams_open, __ATOMIC_RELAXED));
    gauge(&b, "tycho_http_streams_max", "Progress streams this server keeps open at most.", "gauge",
          (double)srv->streams_max);
    gauge(&b, "tycho_cluster_simulated", "1 when the simulated in-process cluster is used.",
          "gauge", srv->sim ? 1 : 0);

    struct registry *r = registry_holder_get(srv->reg);
    gauge(&b, "tycho_registry_loaded_timestamp_seconds", "When the live registry was loaded.",
          "gauge", (double)r->loaded_at_ms / 1000.0);
    gauge(&b, "tycho_registry_warnings", "Warnings of the live registry.", "gauge",
          (double)r->warnings.len);
    /* The commit is 40 hex digits (or empty): safe as a label value. */
    ty_buf_printf(&b,
                  "# HELP tycho_registry_info The live registry's commit (git sources).\n"
                  "# TYPE tycho_registry_info gauge\ntycho_registry_info{commit=\"%s\"} 1\n",
                  r->commit);
    registry_put(r);
    struct registry_holder_stats rst;
    registry_holder_stats_get(srv->reg, &rst);
    gauge(&b, "tycho_registry_refresh_interval_seconds",
          "How often the registry is refreshed (0: only on POST /v1/registry/reload).", "gauge",
          (double)rst.interval_ms / 1000.0);
    gauge(&b, "tycho_registry_refreshes_total", "Registry refreshes tried (scheduled or asked).",
          "counter", (double)rst.refreshes);
    gauge(&b, "tycho_registry_refresh_failures_total",
          "Registry refreshes that failed, leaving the previous version live.", "counter",
          (double)rst.failures);
    gauge(&b, "tycho_registry_changes_total", "Registry refreshes that made a new version live.",
          "counter", (double)rst.changes);
    gauge(&b, "tycho_registry_last_refresh_ok", "1 when the last refresh loaded (or none ran yet).",
          "gauge", rst.last_ok ? 1 : 0);
    gauge(&b, "tycho_registry_last_refresh_timestamp_seconds",
          "When the registry was last refreshed (0 before the first).", "gauge",
          (double)rst.last_refresh_ms / 1000.0);
    gauge(&b, "tycho_registry_last_change_timestamp_seconds",
          "When a refresh last made a new version live (0 before the first).", "gauge",
          (double)rst.last_change_ms / 1000.0);
    gauge(&b, "tycho_start_time_seconds", "Server start time.", "gauge",
          (double)srv->started_ms / 1000.0);

    api_resp_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "",
                  b.len);
    ty_buf_cleanup(&b);
    return 0;
}

const struct api_route api_health_routes[] = {
    {.method = "GET", .path = "/healthz", .fn = healthz, .auth = API_AUTH_PUBLIC},
    {.method = "GET", .path = "/readyz", .fn = readyz, .auth = API_AUTH_PUBLIC},
    {.method = "GET", .path = "/metrics", .fn = metrics, .auth = API_AUTH_PUBLIC},
    {0},
};
