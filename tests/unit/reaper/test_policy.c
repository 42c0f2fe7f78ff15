/*
 * test_policy.c - the culling policy with a fake clock: each limit, each
 * override level, exemptions, stuck states, warnings, and parsing errors.
 */
#include "reaper/reaper.h"
#include "ty_check.h"

#include <string.h>

#define MIN  (60 * 1000LL)
#define HOUR (60 * MIN)
#define T0   1700000000000LL

static struct reaper_policy policy_from(const char *yaml)
{
    struct reaper_policy p;
    struct doc *d = NULL;
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_ok(doc_parse(&d, "tycho.yaml", yaml, strlen(yaml), NULL, &err), &err);
    ck_assert_ok(reaper_policy_parse(&p, json_object_get(doc_root(d), "culling"), d, &err), &err);
    doc_free(d);
    return p;
}

static struct reaper_facts running(void)
{
    struct reaper_facts f;
    memset(&f, 0, sizeof(f));
    f.id = "0123456789abcdef0123456789abcdef";
    f.username = "alice";
    f.app_id = "jupyter";
    f.context = "helx";
    f.state = "running";
    f.created_at = T0;
    f.state_since = T0;
    return f;
}

START_TEST(idle_timeout_from_creation_then_heartbeat)
{
    struct reaper_policy p = policy_from("culling: {idle_timeout: 1h}\n");
    struct reaper_facts f = running();
    struct reaper_decision d;

    reaper_decide(&d, &p, &f, T0 + HOUR - 1);
    ck_assert_int_eq(d.action, REAPER_KEEP);
    ck_assert_int_eq(d.cull_at, T0 + HOUR);
    ck_assert_str_eq(d.last_active_source, "created");
    reaper_decide(&d, &p, &f, T0 + HOUR);
    ck_assert_int_eq(d.action, REAPER_CULL);
    ck_assert_str_eq(d.reason, "idle");
    ck_assert_msg(strstr(d.explanation, "idle timeout is 1h (from global)"), "%s", d.explanation);

    f.last_heartbeat_at = T0 + 30 * MIN;
    reaper_decide(&d, &p, &f, T0 + HOUR);
    ck_assert_int_eq(d.action, REAPER_KEEP);
    ck_assert_int_eq(d.cull_at, T0 + 90 * MIN);
    ck_assert_str_eq(d.last_active_source, "heartbeat");
    reaper_policy_cleanup(&p);
}
END_TEST

START_TEST(cpu_counts_only_where_metrics_exist)
{
    struct reaper_policy p = policy_from("culling: {idle_timeout: 1h, cpu_threshold: 50m}\n");
    struct reaper_facts f = running();
    struct reaper_decision d;

    f.last_cpu_active_at = T0 + 50 * MIN;
    reaper_decide(&d, &p, &f, T0 + HOUR);
    ck_assert_int_eq(d.action, REAPER_CULL); /* no metrics: the sample is ignored */
    f.has_cpu_metrics = true;
    reaper_decide(&d, &p, &f, T0 + HOUR);
    ck_assert_int_eq(d.action, REAPER_KEEP);
    ck_assert_str_eq(d.last_active_source, "cpu");
    ck_assert_int_eq(d.limits.cpu_threshold_mc, 50);
    reaper_policy_cleanup(&p);
}
END_TEST

START_TEST(max_age_culls_active_sessions)
{
    struct reaper_policy p = policy_from("culling: {idle_timeout: 1h, max_age: 4h}\n");
    struct reaper_facts f = running();
    struct reaper_decision d;

    f.last_heartbeat_at = T0 + 4 * HOUR - MIN;
    reaper_decide(&d, &p, &f, T0 + 4 * HOUR);
    ck_assert_int_eq(d.action, REAPER_CULL);
    ck_assert_str_eq(d.reason, "max-age");
    reaper_policy_cleanup(&p);
}
END_TEST

START_TEST(override_levels_in_precedence_order)
{
    struct reaper_policy p = policy_from("culling:\n"
                                         "  idle_timeout: 1h\n"
                                         "  contexts: {helx: {idle_timeout: 2h}}\n"
                                         "  apps: {jupyter: {idle_timeout: 4h}}\n"
                                         "  users: {alice: {idle_timeout: 5h}}\n"
                                         "  labels: {'course=bio': {idle_timeout: 6h}}\n");
    struct reaper_facts f = running();
    struct reaper_decision d;
    json_t *app = json_pack("{s:s}", "idle_timeout", "3h");
    json_t *labels = json_pack("{s:s}", "course", "bio");

    f.context = "other";
    f.app_id = "rstudio";
    f.username = "bob";
    reaper_decide(&d, &p, &f, T0);
    ck_assert_int_eq(d.limits.idle_timeout_ms, HOUR);
    ck_assert_str_eq(d.limits_from[0], "global");
    f.context = "helx";
    reaper_decide(&d, &p, &f, T0);
    ck_assert_int_eq(d.limits.idle_timeout_ms, 2 * HOUR);
    ck_assert_str_eq(d.limits_from[0], "context helx");
    f.app_culling = app;
    reaper_decide(&d, &p, &f, T0);
    ck_assert_int_eq(d.limits.idle_timeout_ms, 3 * HOUR);
    ck_assert_str_eq(d.limits_from[0], "registry app rstudio");
    f.app_id = "jupyter";
    reaper_decide(&d, &p, &f, T0);
    ck_assert_int_eq(d.limits.idle_timeout_ms, 4 * HOUR);
    ck_assert_str_eq(d.limits_from[0], "app jupyter");
    f.username = "alice";
    reaper_decide(&d, &p, &f, T0);
    ck_assert_int_eq(d.limits.idle_timeout_ms, 5 * HOUR);
    f.labels = labels;
    reaper_decide(&d, &p, &f, T0);
    ck_assert_int_eq(d.limits.idle_timeout_ms, 6 * HOUR);
    ck_assert_str_eq(d.limits_from[0], "label course=bio");
    /* Max age was never overridden. */
    ck_assert_str_eq(d.limits_from[1], "global");
    json_decref(app);
    json_decref(labels);
    reaper_policy_cleanup(&p);
}
END_TEST

START_TEST(zero_disables_a_limit)
{
    struct reaper_policy p =
        policy_from("culling: {idle_timeout: 1h, users: {alice: {idle_timeout: 0}}}\n");
    struct reaper_facts f = running();
    struct reaper_decision d;
    reaper_decide(&d, &p, &f, T0 + 100 * HOUR);
    ck_assert_int_eq(d.action, REAPER_KEEP);
    ck_assert_int_eq(d.cull_at, 0);
    ck_assert_msg(strstr(d.explanation, "never culled"), "%s", d.explanation);
    reaper_policy_cleanup(&p);
}
END_TEST

START_TEST(exemption_label)
{
    struct reaper_policy p = policy_from("culling: {idle_timeout: 1h, exempt_label: 'keep=yes'}\n");
    struct reaper_facts f = running();
    struct reaper_decision d;
    json_t *labels = json_pack("{s:s}", "keep", "yes");
    json_t *other = json_pack("{s:s}", "keep", "no");

    f.labels = other;
    reaper_decide(&d, &p, &f, T0 + 2 * HOUR);
    ck_assert_int_eq(d.action, REAPER_CULL);
    f.labels = labels;
    reaper_decide(&d, &p, &f, T0 + 2 * HOUR);
    ck_assert_int_eq(d.action, REAPER_KEEP);
    ck_assert_msg(strstr(d.explanation, "exemption label keep=yes"), "%s", d.explanation);
    json_decref(labels);
    json_decref(other);
    reaper_policy_cleanup(&p);
}
END_TEST

START_TEST(stuck_pending_and_stopping)
{
    struct reaper_policy p =
        policy_from("culling: {stuck_pending: 10m, stuck_stopping: 2m, exempt_label: keep}\n");
    struct reaper_facts f = running();
    struct reaper_decision d;
    json_t *labels = json_pack("{s:s}", "keep", "");

    f.state = "pending";
    f.state_since = T0;
    f.labels = labels; /* exemption covers idleness, not broken launches */
    reaper_decide(&d, &p, &f, T0 + 9 * MIN);
    ck_assert_int_eq(d.action, REAPER_KEEP);
    ck_assert_int_eq(d.cull_at, T0 + 10 * MIN);
    reaper_decide(&d, &p, &f, T0 + 10 * MIN);
    ck_assert_int_eq(d.action, REAPER_CULL);
    ck_assert_str_eq(d.reason, "stuck");
    f.state = "stopping";
    reaper_decide(&d, &p, &f, T0 + 2 * MIN);
    ck_assert_int_eq(d.action, REAPER_CULL);
    f.state = "stopped";
    reaper_decide(&d, &p, &f, T0 + 100 * HOUR);
    ck_assert_int_eq(d.action, REAPER_KEEP);
    f.state = "lost";
    reaper_decide(&d, &p, &f, T0 + 100 * HOUR);
    ck_assert_int_eq(d.action, REAPER_KEEP);
    json_decref(labels);
    reaper_policy_cleanup(&p);
}
END_TEST

START_TEST(warning_period_before_cull)
{
    struct reaper_policy p = policy_from("culling: {idle_timeout: 1h, warning: 10m}\n");
    struct reaper_facts f = running();
    struct reaper_decision d;

    reaper_decide(&d, &p, &f, T0 + 49 * MIN);
    ck_assert_int_eq(d.action, REAPER_KEEP);
    reaper_decide(&d, &p, &f, T0 + 50 * MIN);
    ck_assert_int_eq(d.action, REAPER_WARN);
    ck_assert_int_eq(d.cull_at, T0 + HOUR);
    f.warned_at = T0 + 50 * MIN;
    reaper_decide(&d, &p, &f, T0 + 59 * MIN);
    ck_assert_int_eq(d.action, REAPER_KEEP);
    reaper_decide(&d, &p, &f, T0 + HOUR);
    ck_assert_int_eq(d.action, REAPER_CULL);
    /* A reaper that was down past the deadline warns first, then waits. */
    f.warned_at = 0;
    reaper_decide(&d, &p, &f, T0 + 3 * HOUR);
    ck_assert_int_eq(d.action, REAPER_WARN);
    ck_assert_int_eq(d.cull_at, T0 + 3 * HOUR + 10 * MIN);
    /* Activity after a warning voids it. */
    f.warned_at = T0 + 50 * MIN;
    f.last_heartbeat_at = T0 + 55 * MIN;
    reaper_decide(&d, &p, &f, T0 + HOUR);
    ck_assert_int_eq(d.action, REAPER_KEEP);
    ck_assert_int_eq(d.cull_at, T0 + 115 * MIN);
    reaper_policy_cleanup(&p);
}
END_TEST

START_TEST(explanation_as_json)
{
    struct reaper_policy p = policy_from("culling: {idle_timeout: 1h, dry_run: true}\n");
    struct reaper_facts f = running();
    struct reaper_decision d;
    json_t *j;

    f.last_heartbeat_at = T0 + MIN;
    reaper_decide(&d, &p, &f, T0 + 2 * HOUR);
    j = reaper_decision_to_json(&d, &f, &p);
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "cull");
    ck_assert_str_eq(json_string_value(json_object_get(j, "reason")), "idle");
    ck_assert(json_is_true(json_object_get(j, "dry_run")));
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(j, "last_active_by_source"), "cpu")),
        "unavailable");
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(j, "limits"), "idle_timeout_seconds")),
        3600);
    json_decref(j);
    reaper_policy_cleanup(&p);
}
END_TEST

START_TEST(bad_policies_name_the_place)
{
    struct reaper_policy p;
    struct doc *d = NULL;
    struct ty_error err = TY_ERROR_INIT;
    static const struct {
        const char *yaml, *needle;
    } cases[] = {
        {"culling:\n  idle_timeout: soon\n", "tycho.yaml:2:17: culling.idle_timeout: expected a"},
        {"culling:\n  idel_timeout: 1h\n", "tycho.yaml:2:3: culling.idel_timeout: unknown key"},
        {"culling:\n  apps:\n    x: {idle: 1h}\n", "culling.apps.x.idle: unknown key"},
        {"culling:\n  labels:\n    course: {idle_timeout: 1h}\n", "expected \"key=value\""},
        {"culling:\n  concurrency: 0\n", "tycho.yaml:2:16: culling.concurrency"},
        {"culling: [1]\n", "tycho.yaml:1:10: culling: expected a mapping"},
        {"culling:\n  users:\n    bob: {cpu_threshold: lots}\n", "cpu_threshold: expected"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;
        ck_assert_ok(doc_parse(&d, "tycho.yaml", cases[i].yaml, strlen(cases[i].yaml), NULL, &err),
                     &err);
        rc = reaper_policy_parse(&p, json_object_get(doc_root(d), "culling"), d, &err);
        ck_assert_fails_with(rc, &err, TY_EINVAL, cases[i].needle);
        doc_free(d);
    }
}
END_TEST

START_TEST(cpu_quantities)
{
    int64_t mc;
    ck_assert_int_eq(reaper_cpu_parse("250m", &mc), 0);
    ck_assert_int_eq(mc, 250);
    ck_assert_int_eq(reaper_cpu_parse("1.5", &mc), 0);
    ck_assert_int_eq(mc, 1500);
    ck_assert_int_eq(reaper_cpu_parse("2500000n", &mc), 0);
    ck_assert_int_eq(mc, 3);
    ck_assert_int_eq(reaper_cpu_parse("12Ki", &mc), -1);
    ck_assert_int_eq(reaper_cpu_parse("", &mc), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reaper");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, idle_timeout_from_creation_then_heartbeat);
    tcase_add_test(tc, cpu_counts_only_where_metrics_exist);
    tcase_add_test(tc, max_age_culls_active_sessions);
    tcase_add_test(tc, override_levels_in_precedence_order);
    tcase_add_test(tc, zero_disables_a_limit);
    tcase_add_test(tc, exemption_label);
    tcase_add_test(tc, stuck_pending_and_stopping);
    tcase_add_test(tc, warning_period_before_cull);
    tcase_add_test(tc, explanation_as_json);
    tcase_add_test(tc, bad_policies_name_the_place);
    tcase_add_test(tc, cpu_quantities);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
