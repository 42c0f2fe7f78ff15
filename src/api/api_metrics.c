/*
 * api_metrics.c - the server's own Prometheus series: request durations by
 * method, route pattern and status, launch and stop durations, rate-limited
 * requests.
 *
 * Series are keyed by the route *pattern* ("/v1/sessions/:id"), never the
 * raw path, so a client cannot grow the table by inventing URLs; unknown
 * paths all count under route "unmatched".  The table is a fixed array under
 * a mutex; observing is a lookup and a few additions.  Gauges that belong to
 * other modules (sessions by state, reconciler, Kubernetes client) are read at
 * scrape time by the /metrics handler (api_health.c).
 */
#include "api/api_int.h"
#include "util/buf.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                0.25,  0.5,    1,     2.5,  5,     10,   30};
#define NB         (sizeof(bounds) / sizeof(bounds[0]))
#define MAX_SERIES 512

struct hist {
    uint64_t buckets[NB]; /* non-cumulative; rendered cumulatively */
    uint64_t count;
    double sum;
};

struct req_series {
    char method[8];
    const char *route; /* static pattern */
    int status;
    struct hist h;
};

struct api_metrics {
    pthread_mutex_t mu;
    struct req_series series[MAX_SERIES];
    size_t n;
    uint64_t dropped;
    struct hist launch[2], stop[2]; /* [0] failed, [1] ok */
    uint64_t ratelimited;
};

struct api_metrics *api_metrics_new(void)
{
    struct api_metrics *m = ty_xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void api_metrics_free(struct api_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static void hist_add(struct hist *h, double v)
{
    for (size_t i = 0; i < NB; i++)
        if (v <= bounds[i]) {
            h->buckets[i]++;
            break;
        }
    h->count++;
    h->sum += v;
}

void api_metrics_observe_request(
    struct api_metrics *m, const char *method, const char *route, int status, double seconds)
{
    if (!route)
        route = "unmatched";
    pthread_mutex_lock(&m->mu);
    struct req_series *s = NULL;
    for (size_t i = 0; i < m->n; i++)
        if (m->series[i].route == route && m->series[i].status == status &&
            !strcmp(m->series[i].method, method)) {
            s = &m->series[i];
            break;
        }
    if (!s && m->n < MAX_SERIES) {
        s = &m->series[m->n++];
        strncpy(s->method, method, sizeof(s->method) - 1);
        s->route = route;
        s->status = status;
    }
    if (s)
        hist_add(&s->h, seconds);
    else
        m->dropped++;
    pthread_mutex_unlock(&m->mu);
}

void api_metrics_observe_launch(struct api_metrics *m, double seconds, bool ok)
{
    pthread_mutex_lock(&m->mu);
    hist_add(&m->launch[ok ? 1 : 0], seconds);
    pthread_mutex_unlock(&m->mu);
}

void api_metrics_observe_stop(struct api_metrics *m, double seconds, bool ok)
{
    pthread_mutex_lock(&m->mu);
    hist_add(&m->stop[ok ? 1 : 0], seconds);
    pthread_mutex_unlock(&m->mu);
}

void api_metrics_count_ratelimited(struct api_metrics *m)
{
    pthread_mutex_lock(&m->mu);
    m->ratelimited++;
    pthread_mutex_unlock(&m->mu);
}

static void
hist_render(struct ty_buf *out, const char *name, const char *labels, const struct hist *h)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (size_t i = 0; i < NB; i++) {
        cum += h->buckets[i];
        ty_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[i],
                      (unsigned long long)cum);
    }
    ty_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                  (unsigned long long)h->count);
    ty_buf_printf(out, "%s_sum{%s} %.6f\n", name, labels, h->sum);
    ty_buf_printf(out, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
}

void api_metrics_render_own(struct api_metrics *m, struct ty_buf *out)
{
    pthread_mutex_lock(&m->mu);
    ty_buf_puts(out, "# HELP tycho_http_request_duration_seconds HTTP request durations by "
                     "method, route pattern and status.\n"
                     "# TYPE tycho_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n; i++) {
        char labels[256];
        snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",status=\"%d\"",
                 m->series[i].method, m->series[i].route, m->series[i].status);
        hist_render(out, "tycho_http_request_duration_seconds", labels, &m->series[i].h);
    }
    ty_buf_puts(out, "# HELP tycho_launch_duration_seconds Time for a launch request to "
                     "return (objects created or failure).\n"
                     "# TYPE tycho_launch_duration_seconds histogram\n");
    hist_render(out, "tycho_launch_duration_seconds", "result=\"ok\"", &m->launch[1]);
    hist_render(out, "tycho_launch_duration_seconds", "result=\"error\"", &m->launch[0]);
    ty_buf_puts(out, "# HELP tycho_stop_duration_seconds Time for a stop request to return.\n"
                     "# TYPE tycho_stop_duration_seconds histogram\n");
    hist_render(out, "tycho_stop_duration_seconds", "result=\"ok\"", &m->stop[1]);
    hist_render(out, "tycho_stop_duration_seconds", "result=\"error\"", &m->stop[0]);
    ty_buf_printf(out,
                  "# HELP tycho_http_rate_limited_total Requests refused with 429.\n"
                  "# TYPE tycho_http_rate_limited_total counter\n"
                  "tycho_http_rate_limited_total %llu\n"
                  "# HELP tycho_http_metric_series_dropped_total Observations not recorded "
                  "because the series table was full.\n"
                  "# TYPE tycho_http_metric_series_dropped_total counter\n"
                  "tycho_http_metric_series_dropped_total %llu\n",
                  (unsigned long long)m->ratelimited, (unsigned long long)m->dropped);
    pthread_mutex_unlock(&m->mu);
}
