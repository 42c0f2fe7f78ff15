/*
 * reaper_policy.c - the culling policy: parsing it, choosing the limits that
 * apply to one session, and deciding (see reaper.h).
 *
 * Everything here is a pure function of the policy, the facts and `now`, so the
 * tests drive it with a fake clock and the HTTP explanation can never drift from
 * what the scheduler does.
 */
#include "reaper/reaper.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const final_states[] = {"stopped", "failed", NULL};
static const char *const starting_states[] = {"requested", "creating", "pending", NULL};

int reaper_cpu_parse(const char *s, int64_t *out)
{
    char *end;
    double v;

    if (!s || !*s)
        return -1;
    v = strtod(s, &end);
    if (end == s || v < 0 || !isfinite(v))
        return -1;
    if (!strcmp(end, "m"))
        *out = (int64_t)llround(v);
    else if (!strcmp(end, "u"))
        *out = (int64_t)llround(v / 1000.0);
    else if (!strcmp(end, "n"))
        *out = (int64_t)llround(v / 1000000.0);
    else if (!*end)
        *out = (int64_t)llround(v * 1000.0);
    else
        return -1;
    return 0;
}

/* A duration from a string ("2h") or a number of seconds; 0 disables. */
static int parse_duration_value(int64_t *out,
                                const json_t *v,
                                const struct doc *d,
                                const json_t *obj,
                                const char *key,
                                const char *where,
                                struct ty_error *err)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v) * 1000;
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) >= 0) {
        *out = (int64_t)llround(json_real_value(v) * 1000.0);
        return 0;
    }
    if (json_is_string(v) && ty_duration_parse(json_string_value(v), out) == 0)
        return 0;
    return doc_error(err, TY_EINVAL, d, obj, key,
                     "%s%s: expected a duration such as \"30m\", \"2h\" or seconds", where, key);
}

/* Parses key into l when it is one of the limit keys.  Returns 0 when parsed,
 * 1 when key is not a limit key, or a negative code. */
static int parse_limit_key(struct reaper_limits *l,
                           const char *key,
                           const json_t *v,
                           const struct doc *d,
                           const json_t *obj,
                           const char *where,
                           struct ty_error *err)
{
    if (!strcmp(key, "idle_timeout"))
        return parse_duration_value(&l->idle_timeout_ms, v, d, obj, key, where, err);
    if (!strcmp(key, "max_age"))
        return parse_duration_value(&l->max_age_ms, v, d, obj, key, where, err);
    if (strcmp(key, "cpu_threshold") != 0)
        return 1;
    if (json_is_number(v) && json_number_value(v) >= 0) {
        l->cpu_threshold_mc = (int64_t)llround(json_number_value(v) * 1000.0);
        return 0;
    }
    if (json_is_string(v) && reaper_cpu_parse(json_string_value(v), &l->cpu_threshold_mc) == 0)
        return 0;
    return doc_error(err, TY_EINVAL, d, obj, key,
                     "%scpu_threshold: expected a CPU quantity such as \"10m\"", where);
}

int reaper_limits_parse(struct reaper_limits *out,
                        const json_t *obj,
                        const struct doc *d,
                        const char *where,
                        struct ty_error *err)
{
    const char *key;
    json_t *v;
    struct reaper_limits l = REAPER_LIMITS_UNSET;

    *out = l;
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return doc_error(err, TY_EINVAL, d, obj, NULL, "%s: expected a mapping", where);
    json_object_foreach((json_t *)obj, key, v)
    {
        int rc = parse_limit_key(&l, key, v, d, obj, where, err);
        if (rc < 0)
            return rc;
        if (rc > 0)
            return doc_key_error(
                err, TY_EINVAL, d, obj, key,
                "%s%s: unknown key (expected idle_timeout, max_age, cpu_threshold)", where, key);
    }
    *out = l;
    return 0;
}

static int parse_table(struct reaper_override **out,
                       int *n_out,
                       const json_t *obj,
                       const struct doc *d,
                       const char *name,
                       struct ty_error *err)
{
    const char *key;
    json_t *v;
    int n = 0;
    char where[128];

    *out = NULL;
    *n_out = 0;
    if (!obj)
        return 0;
    if (!json_is_object(obj))
        return doc_error(err, TY_EINVAL, d, obj, NULL, "culling.%s: expected a mapping", name);
    *out = ty_xcalloc(json_object_size(obj) + 1, sizeof(**out));
    json_object_foreach((json_t *)obj, key, v)
    {
        snprintf(where, sizeof(where), "culling.%s.%s.", name, key);
        if (reaper_limits_parse(&(*out)[n].limits, v, d, where, err))
            return TY_EINVAL;
        (*out)[n].key = ty_xstrdup(key);
        *n_out = ++n;
    }
    return 0;
}

int reaper_policy_parse(struct reaper_policy *p,
                        const json_t *c,
                        const struct doc *d,
                        struct ty_error *err)
{
    static const char *const known[] = {"enabled",
                                        "interval",
                                        "idle_timeout",
                                        "max_age",
                                        "cpu_threshold",
                                        "stuck_pending",
                                        "stuck_stopping",
                                        "warning",
                                        "exempt_label",
                                        "concurrency",
                                        "dry_run",
                                        "contexts",
                                        "apps",
                                        "users",
                                        "labels",
                                        "notify_url",
                                        NULL};
    const char *key;
    json_t *v;
    struct reaper_limits g;
    int rc = 0;

    memset(p, 0, sizeof(*p));
    p->global.idle_timeout_ms = 8 * 3600 * 1000LL;
    p->global.max_age_ms = 0;
    p->global.cpu_threshold_mc = 10;
    p->interval_ms = 60000;
    p->stuck_pending_ms = 15 * 60000;
    p->stuck_stopping_ms = 5 * 60000;
    p->concurrency = 8;
    p->enabled = true;
    if (!c || json_is_null(c))
        return 0;
    if (!json_is_object(c))
        return doc_error(err, TY_EINVAL, d, c, NULL, "culling: expected a mapping");

    json_object_foreach((json_t *)c, key, v)
    {
        if (!ty_str_in(key, known)) {
            rc = doc_key_error(err, TY_EINVAL, d, c, key, "culling.%s: unknown key", key);
            goto out;
        }
    }
    g = (struct reaper_limits)REAPER_LIMITS_UNSET;
    json_object_foreach((json_t *)c, key, v)
    {
        if ((rc = parse_limit_key(&g, key, v, d, c, "culling.", err)) < 0)
            goto out;
    }
    rc = 0;
    if (g.idle_timeout_ms >= 0)
        p->global.idle_timeout_ms = g.idle_timeout_ms;
    if (g.max_age_ms >= 0)
        p->global.max_age_ms = g.max_age_ms;
    if (g.cpu_threshold_mc >= 0)
        p->global.cpu_threshold_mc = g.cpu_threshold_mc;

    if ((v = json_object_get(c, "interval")) &&
        (rc = parse_duration_value(&p->interval_ms, v, d, c, "interval", "culling.", err)))
        goto out;
    if (p->interval_ms < 100) {
        rc = doc_error(err, TY_EINVAL, d, c, "interval", "culling.interval: at least 100ms");
        goto out;
    }
    if ((v = json_object_get(c, "stuck_pending")) &&
        (rc =
             parse_duration_value(&p->stuck_pending_ms, v, d, c, "stuck_pending", "culling.", err)))
        goto out;
    if ((v = json_object_get(c, "stuck_stopping")) &&
        (rc = parse_duration_value(&p->stuck_stopping_ms, v, d, c, "stuck_stopping", "culling.",
                                   err)))
        goto out;
    if ((v = json_object_get(c, "warning")) &&
        (rc = parse_duration_value(&p->warning_ms, v, d, c, "warning", "culling.", err)))
        goto out;
    if ((v = json_object_get(c, "exempt_label"))) {
        if (!json_is_string(v) || !*json_string_value(v)) {
            rc = doc_error(err, TY_EINVAL, d, c, "exempt_label",
                           "culling.exempt_label: expected \"key\" or \"key=value\"");
            goto out;
        }
        p->exempt_label = ty_xstrdup(json_string_value(v));
    }
    if ((v = json_object_get(c, "concurrency"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 256) {
            rc = doc_error(err, TY_EINVAL, d, c, "concurrency",
                           "culling.concurrency: expected an integer from 1 to 256");
            goto out;
        }
        p->concurrency = (int)json_integer_value(v);
    }
    if ((v = json_object_get(c, "notify_url"))) {
        const char *u = json_string_value(v);
        if (!u || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
            strpbrk(u, " \t\r\n")) {
            rc = doc_error(err, TY_EINVAL, d, c, "notify_url",
                           "culling.notify_url: expected an http:// or https:// URL");
            goto out;
        }
        p->notify_url = ty_xstrdup(u);
    }
    if ((v = json_object_get(c, "dry_run"))) {
        if (!json_is_boolean(v)) {
            rc = doc_error(err, TY_EINVAL, d, c, "dry_run", "culling.dry_run: expected a boolean");
            goto out;
        }
        p->dry_run = json_is_true(v);
    }
    if ((v = json_object_get(c, "enabled"))) {
        if (!json_is_boolean(v)) {
            rc = doc_error(err, TY_EINVAL, d, c, "enabled", "culling.enabled: expected a boolean");
            goto out;
        }
        p->enabled = json_is_true(v);
    }
    if ((rc = parse_table(&p->contexts, &p->n_contexts, json_object_get(c, "contexts"), d,
                          "contexts", err)) ||
        (rc = parse_table(&p->apps, &p->n_apps, json_object_get(c, "apps"), d, "apps", err)) ||
        (rc = parse_table(&p->users, &p->n_users, json_object_get(c, "users"), d, "users", err)) ||
        (rc =
             parse_table(&p->labels, &p->n_labels, json_object_get(c, "labels"), d, "labels", err)))
        goto out;
    for (int i = 0; i < p->n_labels; i++) {
        if (!strchr(p->labels[i].key, '=')) {
            rc = doc_error(err, TY_EINVAL, d, json_object_get(c, "labels"), p->labels[i].key,
                           "culling.labels.%s: expected \"key=value\"", p->labels[i].key);
            goto out;
        }
    }
out:
    if (rc)
        reaper_policy_cleanup(p);
    return rc;
}

static void free_table(struct reaper_override *t, int n)
{
    for (int i = 0; i < n; i++)
        free(t[i].key);
    free(t);
}

void reaper_policy_cleanup(struct reaper_policy *p)
{
    if (!p)
        return;
    free(p->exempt_label);
    free(p->notify_url);
    free_table(p->contexts, p->n_contexts);
    free_table(p->apps, p->n_apps);
    free_table(p->users, p->n_users);
    free_table(p->labels, p->n_labels);
    memset(p, 0, sizeof(*p));
}

/* ---- deciding ----------------------------------------------------------- */

static bool has_label(const json_t *labels, const char *spec)
{
    const char *eq = strchr(spec, '=');
    char key[256];
    const json_t *v;

    if (!labels || !json_is_object(labels))
        return false;
    if (!eq)
        return json_object_get(labels, spec) != NULL;
    snprintf(key, sizeof(key), "%.*s", (int)(eq - spec), spec);
    v = json_object_get(labels, key);
    return v && json_is_string(v) && !strcmp(json_string_value(v), eq + 1);
}

/* Overlays the limits set in l onto out, noting where they came from. */
static void overlay(struct reaper_decision *out, const struct reaper_limits *l, const char *from)
{
    if (l->idle_timeout_ms >= 0) {
        out->limits.idle_timeout_ms = l->idle_timeout_ms;
        ty_strlcpy(out->limits_from[0], from, sizeof(out->limits_from[0]));
    }
    if (l->max_age_ms >= 0) {
        out->limits.max_age_ms = l->max_age_ms;
        ty_strlcpy(out->limits_from[1], from, sizeof(out->limits_from[1]));
    }
    if (l->cpu_threshold_mc >= 0) {
        out->limits.cpu_threshold_mc = l->cpu_threshold_mc;
        ty_strlcpy(out->limits_from[2], from, sizeof(out->limits_from[2]));
    }
}

static const struct reaper_override *find(const struct reaper_override *t, int n, const char *k)
{
    if (!k)
        return NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].key, k))
            return &t[i];
    return NULL;
}

static void resolve_limits(struct reaper_decision *out,
                           const struct reaper_policy *p,
                           const struct reaper_facts *f)
{
    const struct reaper_override *o;
    char from[96];

    out->limits = p->global;
    for (int i = 0; i < 3; i++)
        ty_strlcpy(out->limits_from[i], "global", sizeof(out->limits_from[i]));
    if ((o = find(p->contexts, p->n_contexts, f->context))) {
        snprintf(from, sizeof(from), "context %s", f->context);
        overlay(out, &o->limits, from);
    }
    if (f->app_culling) {
        struct reaper_limits l;
        /* The registry was validated when it loaded; a bad field here is ignored. */
        if (reaper_limits_parse(&l, f->app_culling, NULL, "", NULL) == 0) {
            snprintf(from, sizeof(from), "registry app %s", f->app_id ? f->app_id : "?");
            overlay(out, &l, from);
        }
    }
    if ((o = find(p->apps, p->n_apps, f->app_id))) {
        snprintf(from, sizeof(from), "app %s", f->app_id);
        overlay(out, &o->limits, from);
    }
    if ((o = find(p->users, p->n_users, f->username))) {
        snprintf(from, sizeof(from), "user %s", f->username);
        overlay(out, &o->limits, from);
    }
    for (int i = 0; i < p->n_labels; i++) {
        if (has_label(f->labels, p->labels[i].key)) {
            snprintf(from, sizeof(from), "label %s", p->labels[i].key);
            overlay(out, &p->labels[i].limits, from);
        }
    }
}

static int64_t min_set(int64_t a, int64_t b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return a < b ? a : b;
}

void reaper_decide(struct reaper_decision *out,
                   const struct reaper_policy *p,
                   const struct reaper_facts *f,
                   int64_t now)
{
    char d1[32], d2[32];
    int64_t idle_due = 0, age_due = 0, due;
    const char *reason;

    memset(out, 0, sizeof(*out));
    resolve_limits(out, p, f);
    out->last_active_at = f->created_at;
    out->last_active_source = "created";
    if (f->last_heartbeat_at > out->last_active_at) {
        out->last_active_at = f->last_heartbeat_at;
        out->last_active_source = "heartbeat";
    }
    if (f->has_cpu_metrics && f->last_cpu_active_at > out->last_active_at) {
        out->last_active_at = f->last_cpu_active_at;
        out->last_active_source = "cpu";
    }
    out->idle_ms = now > out->last_active_at ? now - out->last_active_at : 0;

    if (!f->state || ty_str_in(f->state, final_states)) {
        snprintf(out->explanation, sizeof(out->explanation), "The session has ended (%s).",
                 f->state ? f->state : "unknown");
        return;
    }
    if (ty_str_in(f->state, starting_states) || !strcmp(f->state, "stopping")) {
        int64_t limit = strcmp(f->state, "stopping") ? p->stuck_pending_ms : p->stuck_stopping_ms;
        ty_duration_format(d1, sizeof(d1), limit);
        ty_duration_format(d2, sizeof(d2), now - f->state_since);
        if (!limit) {
            snprintf(out->explanation, sizeof(out->explanation),
                     "The session is %s; stuck sessions are never culled.", f->state);
            return;
        }
        out->cull_at = f->state_since + limit;
        if (now >= out->cull_at) {
            out->action = REAPER_CULL;
            out->reason = "stuck";
            snprintf(out->explanation, sizeof(out->explanation),
                     "The session has been %s for %s, longer than the %s allowed: it is stuck.",
                     f->state, d2, d1);
        } else {
            snprintf(out->explanation, sizeof(out->explanation),
                     "The session has been %s for %s; it counts as stuck after %s.", f->state, d2,
                     d1);
        }
        return;
    }
    if (strcmp(f->state, "running") != 0) {
        snprintf(out->explanation, sizeof(out->explanation),
                 "The session is %s; only running sessions are culled.", f->state);
        return;
    }
    if (p->exempt_label && has_label(f->labels, p->exempt_label)) {
        snprintf(out->explanation, sizeof(out->explanation),
                 "The session carries the exemption label %s and is never culled.",
                 p->exempt_label);
        return;
    }
    if (!p->enabled) {
        snprintf(out->explanation, sizeof(out->explanation), "Culling is disabled.");
        return;
    }
    if (out->limits.idle_timeout_ms > 0)
        idle_due = out->last_active_at + out->limits.idle_timeout_ms;
    if (out->limits.max_age_ms > 0)
        age_due = f->created_at + out->limits.max_age_ms;
    due = min_set(idle_due, age_due);
    if (!due) {
        snprintf(out->explanation, sizeof(out->explanation),
                 "No idle timeout or maximum age applies (%s, %s), so the session is never "
                 "culled.",
                 out->limits_from[0], out->limits_from[1]);
        return;
    }
    reason = due == idle_due ? "idle" : "max-age";

    /* With a warning period the owner is told first, and the cull waits at least
     * that long after the warning.  A warning issued before the latest activity no
     * longer counts. */
    out->cull_at = due;
    if (p->warning_ms > 0) {
        bool warned = f->warned_at && f->warned_at >= out->last_active_at;
        if (!warned && now >= due - p->warning_ms) {
            out->action = REAPER_WARN;
            out->reason = reason;
            out->cull_at = due > now + p->warning_ms ? due : now + p->warning_ms;
        } else if (warned) {
            int64_t earliest = f->warned_at + p->warning_ms;
            out->cull_at = due > earliest ? due : earliest;
        }
    }
    if (out->action == REAPER_KEEP && now >= out->cull_at &&
        (p->warning_ms == 0 || (f->warned_at && f->warned_at >= out->last_active_at))) {
        out->action = REAPER_CULL;
        out->reason = reason;
    }

    ty_duration_format(d1, sizeof(d1), out->idle_ms);
    if (!strcmp(reason, "idle")) {
        ty_duration_format(d2, sizeof(d2), out->limits.idle_timeout_ms);
        snprintf(out->explanation, sizeof(out->explanation),
                 "Last active %s ago (%s); the idle timeout is %s (from %s)%s", d1,
                 out->last_active_source, d2, out->limits_from[0],
                 out->action == REAPER_CULL   ? ", so it is culled now."
                 : out->action == REAPER_WARN ? ", so its owner is warned now."
                                              : ".");
    } else {
        ty_duration_format(d2, sizeof(d2), out->limits.max_age_ms);
        snprintf(out->explanation, sizeof(out->explanation), "The maximum age is %s (from %s)%s",
                 d2, out->limits_from[1],
                 out->action == REAPER_CULL   ? " and it has been reached, so it is culled now."
                 : out->action == REAPER_WARN ? "; its owner is warned now."
                                              : ".");
    }
}

static json_t *time_or_null(int64_t ms)
{
    char buf[40];
    if (!ms)
        return json_null();
    return json_string(ty_time_format_iso(buf, sizeof(buf), ms, 0));
}

static json_t *duration_or_null(int64_t ms)
{
    return ms > 0 ? json_integer(ms / 1000) : json_null();
}

json_t *reaper_decision_to_json(const struct reaper_decision *d,
                                const struct reaper_facts *f,
                                const struct reaper_policy *p)
{
    static const char *const actions[] = {"keep", "warn", "cull"};
    json_t *o = json_object();
    json_t *sources = json_object();
    json_t *limits = json_object();

    json_object_set_new(sources, "heartbeat", time_or_null(f->last_heartbeat_at));
    json_object_set_new(sources, "cpu",
                        f->has_cpu_metrics ? time_or_null(f->last_cpu_active_at)
                                           : json_string("unavailable"));
    json_object_set_new(sources, "created", time_or_null(f->created_at));
    json_object_set_new(limits, "idle_timeout_seconds",
                        duration_or_null(d->limits.idle_timeout_ms));
    json_object_set_new(limits, "idle_timeout_from", json_string(d->limits_from[0]));
    json_object_set_new(limits, "max_age_seconds", duration_or_null(d->limits.max_age_ms));
    json_object_set_new(limits, "max_age_from", json_string(d->limits_from[1]));
    json_object_set_new(limits, "cpu_threshold_millicores",
                        json_integer(d->limits.cpu_threshold_mc));
    json_object_set_new(limits, "cpu_threshold_from", json_string(d->limits_from[2]));
    json_object_set_new(o, "session", json_string(f->id ? f->id : ""));
    json_object_set_new(o, "state", json_string(f->state ? f->state : ""));
    json_object_set_new(o, "action", json_string(actions[d->action]));
    json_object_set_new(o, "reason", d->reason ? json_string(d->reason) : json_null());
    json_object_set_new(o, "last_active", time_or_null(d->last_active_at));
    json_object_set_new(o, "last_active_source", json_string(d->last_active_source));
    json_object_set_new(o, "idle_seconds", json_integer(d->idle_ms / 1000));
    json_object_set_new(o, "last_active_by_source", sources);
    json_object_set_new(o, "limits", limits);
    json_object_set_new(o, "cull_at", time_or_null(d->cull_at));
    json_object_set_new(o, "warned_at", time_or_null(f->warned_at));
    json_object_set_new(o, "exempt_label",
                        p->exempt_label ? json_string(p->exempt_label) : json_null());
    json_object_set_new(o, "dry_run", json_boolean(p->dry_run));
    json_object_set_new(o, "explanation", json_string(d->explanation));
    return o;
}
