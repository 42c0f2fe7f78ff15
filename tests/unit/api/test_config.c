/*
 * test_config.c - the `sessions` section of the server's configuration: the
 * session service's orphan policy, deadlines and reconciler timings from the
 * file (durations like "30s"), TYCHO_* variables and api_config_set() (the
 * CLI's --set), their defaults (the session service's own), and positioned
 * errors for bad values, negatives, unknown keys and two spellings of one
 * value; and the `policy` section (the launch policy) through the same three
 * layers.
 */
#include "api/api.h"
#include "session/session.h"
#include "ty_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void setup(void)
{
    snprintf(path, sizeof(path), "/tmp/tycho-scfg-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void teardown(void)
{
    unlink(path);
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Loads text as a config file; returns the call's result (err filled). */
static int load(struct api_config *cfg, const char *text, struct ty_error *err)
{
    write_file(text);
    api_config_init(cfg);
    return api_config_load_file(cfg, path, err);
}

START_TEST(defaults_are_the_services)
{
    const struct session_config sd = SESSION_CONFIG_INIT;
    struct api_config cfg;
    struct ty_error err = TY_ERROR_INIT;

    api_config_init(&cfg);
    ck_assert_int_eq(cfg.creating_deadline_ms, sd.creating_deadline_ms);
    ck_assert_int_eq(cfg.start_deadline_ms, sd.start_deadline_ms);
    ck_assert_int_eq(cfg.stopping_deadline_ms, sd.stopping_deadline_ms);
    ck_assert_int_eq(cfg.running_check_ms, sd.running_check_ms);
    ck_assert_int_eq(cfg.resync_ms, sd.resync_ms);
    ck_assert_int_eq(cfg.watch_stall_ms, sd.watch_stall_ms);
    ck_assert_int_eq(cfg.tick_ms, sd.tick_ms);
    ck_assert_int_eq(cfg.orphan_policy, SESSION_ORPHAN_ADOPT);
    ck_assert_ok(api_config_validate(&cfg, &err), &err);
    api_config_cleanup(&cfg);
}
END_TEST

START_TEST(file_sets_every_session_value)
{
    struct api_config cfg;
    struct ty_error err = TY_ERROR_INIT;

    ck_assert_ok(load(&cfg,
                      "sessions:\n"
                      "  orphan_policy: delete\n"
                      "  creating_deadline: 45s\n"
                      "  start_deadline: 10m\n"
                      "  stopping_deadline: 1m30s\n"
                      "  running_check: 2m\n"
                      "  resync: 30s\n"
                      "  watch_stall: 2m\n"
                      "  tick: 250ms\n"
                      "  max_global: 40\n",
                      &err),
                 &err);
    ck_assert_int_eq(cfg.orphan_policy, SESSION_ORPHAN_DELETE);
    ck_assert_int_eq(cfg.creating_deadline_ms, 45000);
    ck_assert_int_eq(cfg.start_deadline_ms, 600000);
    ck_assert_int_eq(cfg.stopping_deadline_ms, 90000);
    ck_assert_int_eq(cfg.running_check_ms, 120000);
    ck_assert_int_eq(cfg.resync_ms, 30000);
    ck_assert_int_eq(cfg.watch_stall_ms, 120000);
    ck_assert_int_eq(cfg.tick_ms, 250);
    ck_assert_int_eq(cfg.max_global, 40);
    ck_assert_ok(api_config_validate(&cfg, &err), &err);
    api_config_cleanup(&cfg);

    /* A bare YAML number is seconds; the older *_ms keys still work. */
    ck_assert_ok(load(&cfg, "sessions:\n  resync: 90\n  start_deadline_ms: 4000\n", &err), &err);
    ck_assert_int_eq(cfg.resync_ms, 90000);
    ck_assert_int_eq(cfg.start_deadline_ms, 4000);
    api_config_cleanup(&cfg);
}
END_TEST

START_TEST(env_and_set_layer_over_the_file)
{
    struct api_config cfg;
    struct ty_error err = TY_ERROR_INIT;

    ck_assert_ok(load(&cfg, "sessions:\n  orphan_policy: delete\n  resync: 30s\n", &err), &err);
    char *env[] = {"TYCHO_ORPHAN_POLICY=ignore",
                   "TYCHO_RESYNC=5m",
                   "TYCHO_TICK=2s",
                   "TYCHO_WATCH_STALL=3m",
                   "TYCHO_RUNNING_CHECK=1h",
                   "TYCHO_CREATING_DEADLINE=2m",
                   "TYCHO_START_DEADLINE=20m",
                   "TYCHO_STOPPING_DEADLINE=4m",
                   NULL};
    ck_assert_ok(api_config_load_env(&cfg, env, &err), &err);
    ck_assert_int_eq(cfg.orphan_policy, SESSION_ORPHAN_IGNORE);
    ck_assert_int_eq(cfg.resync_ms, 300000);
    ck_assert_int_eq(cfg.tick_ms, 2000);
    ck_assert_int_eq(cfg.watch_stall_ms, 180000);
    ck_assert_int_eq(cfg.running_check_ms, 3600000);
    ck_assert_int_eq(cfg.creating_deadline_ms, 120000);
    ck_assert_int_eq(cfg.start_deadline_ms, 1200000);
    ck_assert_int_eq(cfg.stopping_deadline_ms, 240000);
    /* --set KEY=VALUE (api_config_set) wins over both. */
    ck_assert_ok(api_config_set(&cfg, "sessions.orphan_policy", "adopt", &err), &err);
    ck_assert_ok(api_config_set(&cfg, "sessions.tick", "100ms", &err), &err);
    ck_assert_int_eq(cfg.orphan_policy, SESSION_ORPHAN_ADOPT);
    ck_assert_int_eq(cfg.tick_ms, 100);
    ck_assert_ok(api_config_validate(&cfg, &err), &err);

    char *bad_policy[] = {"TYCHO_ORPHAN_POLICY=keep", NULL};
    ck_assert_fails_with(api_config_load_env(&cfg, bad_policy, &err), &err, TY_EINVAL,
                         "environment TYCHO_ORPHAN_POLICY: sessions.orphan_policy: expected "
                         "adopt, delete or ignore, got 'keep'");
    char *negative[] = {"TYCHO_RESYNC=-1s", NULL};
    ck_assert_fails_with(api_config_load_env(&cfg, negative, &err), &err, TY_EINVAL,
                         "TYCHO_RESYNC: sessions.resync: expected a duration from 1s to 1d");
    ck_assert_fails_with(api_config_set(&cfg, "sessions.tick", "2m", &err), &err, TY_EINVAL,
                         "sessions.tick: expected a duration from 10ms to 1m");
    ck_assert_fails_with(api_config_set(&cfg, "sessions.watch_stall", "1s", &err), &err, TY_EINVAL,
                         "from 2s to 1d");
    ck_assert_fails_with(api_config_set(&cfg, "sessions.running_check", "", &err), &err, TY_EINVAL,
                         "got ''");
    ck_assert_fails_with(api_config_set(&cfg, "sessions.orphans", "delete", &err), &err, TY_EINVAL,
                         "unknown configuration key 'sessions.orphans'");
    /* A failed set leaves the value as it was. */
    ck_assert_int_eq(cfg.tick_ms, 100);
    ck_assert_int_eq(cfg.resync_ms, 300000);
    api_config_cleanup(&cfg);
}
END_TEST

START_TEST(bad_values_name_file_line_col)
{
    struct api_config cfg;
    struct ty_error err = TY_ERROR_INIT;

    ck_assert_fails_with(load(&cfg, "sessions:\n  resync: 1s\n  orphan_policy: sometimes\n", &err),
                         &err, TY_EINVAL,
                         ":3:18: sessions.orphan_policy: expected adopt, delete or ignore, "
                         "got 'sometimes'");
    api_config_cleanup(&cfg);
    ck_assert_fails_with(load(&cfg, "sessions:\n  tick: -5s\n", &err), &err, TY_EINVAL,
                         ":2:9: sessions.tick: expected a duration from 10ms to 1m");
    ck_assert(strstr(err.msg, "got '-5s'"));
    api_config_cleanup(&cfg);
    ck_assert_fails_with(load(&cfg, "sessions:\n  stopping_deadline: -30\n", &err), &err, TY_EINVAL,
                         ":2:22: sessions.stopping_deadline: expected a duration");
    api_config_cleanup(&cfg);
    ck_assert_fails_with(load(&cfg, "sessions:\n  running_check: 5 minutes\n", &err), &err,
                         TY_EINVAL, ":2:18: sessions.running_check: expected a duration");
    api_config_cleanup(&cfg);
    ck_assert_fails_with(load(&cfg, "sessions:\n  resync: [1s]\n", &err), &err, TY_EINVAL,
                         ":2:11: sessions.resync: expected a scalar, got a sequence");
    api_config_cleanup(&cfg);
    ck_assert_fails_with(load(&cfg, "sessions:\n  tick: 1s\n  resync_period: 30s\n", &err), &err,
                         TY_EINVAL, ":3:18: unknown configuration key 'sessions.resync_period'");
    api_config_cleanup(&cfg);
    ck_assert_fails_with(
        load(&cfg, "sessions:\n  start_deadline: 5m\n  start_deadline_ms: 3000\n", &err), &err,
        TY_EINVAL,
        "sessions.start_deadline and sessions.start_deadline_ms set the same "
        "value: keep one");
    ck_assert(strstr(err.msg, path) == err.msg);
    api_config_cleanup(&cfg);
}
END_TEST

START_TEST(tick_must_fit_the_periods)
{
    struct api_config cfg;
    struct ty_error err = TY_ERROR_INIT;

    ck_assert_ok(load(&cfg, "sessions:\n  resync: 2s\n  tick: 5s\n", &err), &err);
    ck_assert_fails_with(api_config_validate(&cfg, &err), &err, TY_EINVAL,
                         "sessions.tick (5s) must not be longer than sessions.resync (2s)");
    api_config_cleanup(&cfg);
    ck_assert_ok(load(&cfg, "sessions:\n  watch_stall: 2s\n  tick: 2s\n", &err), &err);
    ck_assert_fails_with(api_config_validate(&cfg, &err), &err, TY_EINVAL,
                         "shorter than sessions.watch_stall (2s)");
    api_config_cleanup(&cfg);
    ck_assert_ok(load(&cfg, "sessions:\n  resync: 2s\n  tick: 2s\n  watch_stall: 3s\n", &err),
                 &err);
    ck_assert_ok(api_config_validate(&cfg, &err), &err);
    api_config_cleanup(&cfg);
}
END_TEST

/* The `policy` section: the file (positions), TYCHO_POLICY_* and --set
 * policy.KEY in that precedence, and the checks across keys. */
START_TEST(policy_section_layers)
{
    struct api_config cfg;
    struct ty_error err = TY_ERROR_INIT;

    ck_assert_ok(load(&cfg,
                      "listen: 127.0.0.1:0\n"
                      "policy:\n"
                      "  home_claim: homes\n"
                      "  service_accounts: [spark]\n"
                      "  max_resources: {cpu: 8, memory: 32Gi}\n"
                      "  apps: {webtop: {allow_root: true}}\n",
                      &err),
                 &err);
    ck_assert_str_eq(cfg.policy.compose.home_claim, "homes");
    ck_assert_int_eq(cfg.policy.max.cpu_millis, 8000);
    ck_assert(policy_root_allowed(&cfg.policy, "webtop"));
    char *env[] = {"TYCHO_POLICY_HOME_CLAIM=none", "TYCHO_POLICY_MAX_RESOURCES_CPU=4",
                   "TYCHO_POLICY_SERVICE_ACCOUNTS=spark,dask", "TYCHO_POLICY_INGRESS=none", NULL};
    ck_assert_ok(api_config_load_env(&cfg, env, &err), &err);
    ck_assert_ptr_null(cfg.policy.compose.home_claim);
    ck_assert_int_eq(cfg.policy.max.cpu_millis, 4000);
    ck_assert_int_eq(cfg.policy.max.memory_bytes, 32LL << 30);
    ck_assert_str_eq(cfg.policy.service_accounts[1], "dask");
    ck_assert(!cfg.policy.compose.ambassador);
    ck_assert(policy_root_allowed(&cfg.policy, "webtop"));
    ck_assert_ok(api_config_set(&cfg, "policy.home_claim", "stdnfs", &err), &err);
    ck_assert_str_eq(cfg.policy.compose.home_claim, "stdnfs");
    ck_assert_ok(api_config_validate(&cfg, &err), &err);

    char *typo[] = {"TYCHO_POLICY_HOME_CLAIMS=x", NULL};
    ck_assert_fails_with(api_config_load_env(&cfg, typo, &err), &err, TY_EINVAL,
                         "environment TYCHO_POLICY_HOME_CLAIMS: no such policy key");
    char *bad[] = {"TYCHO_POLICY_ALLOW_ROOT=sometimes", NULL};
    ck_assert_fails_with(api_config_load_env(&cfg, bad, &err), &err, TY_EINVAL,
                         "environment TYCHO_POLICY_ALLOW_ROOT: policy.allow_root: expected true");
    ck_assert_fails_with(api_config_set(&cfg, "policy.home_claims", "x", &err), &err, TY_EINVAL,
                         "unknown configuration key 'policy.home_claims'");
    ck_assert_ok(api_config_set(&cfg, "policy.server_claim", "stdnfs", &err), &err);
    ck_assert_fails_with(api_config_validate(&cfg, &err), &err, TY_EINVAL,
                         "policy.home_claim and policy.server_claim are both 'stdnfs'");
    api_config_cleanup(&cfg);

    ck_assert_fails_with(
        load(&cfg, "listen: 127.0.0.1:0\npolicy:\n  claims: [ok, \"a b\"]\n", &err), &err,
        TY_EINVAL, ":3:16: policy.claims[1]: expected a claim name");
    api_config_cleanup(&cfg);
    ck_assert_fails_with(load(&cfg, "policy:\n  alow_root: true\n", &err), &err, TY_EINVAL,
                         ":2:3: policy.alow_root: unknown key");
    api_config_cleanup(&cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api.config");
    TCase *tc = tcase_create("sessions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults_are_the_services);
    tcase_add_test(tc, file_sets_every_session_value);
    tcase_add_test(tc, env_and_set_layer_over_the_file);
    tcase_add_test(tc, bad_values_name_file_line_col);
    tcase_add_test(tc, tick_must_fit_the_periods);
    tcase_add_test(tc, policy_section_layers);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
