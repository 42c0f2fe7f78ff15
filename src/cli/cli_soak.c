/*
 * cli_soak.c - `tycho session-soak`: a driver for the crash-safety test.
 *
 * Runs the session service (with its reconciler) against an external cluster
 * named by a kubeconfig and a database file, and performs launches and stops
 * in a loop, printing one line per step so a test harness can kill the process
 * with SIGKILL at any point and count what was done:
 *     begin <id>      the launch of <id> is about to start (row not yet written)
 *     launched <id>   session_launch returned 0
 *     stopped <id>    session_stop returned 0
 *     error <op> <id> <message>
 * With --settle, it runs a start-up reconcile pass and then reconciles until no
 * session is in requested, creating, pending or stopping (or the timeout), and
 * prints "settled" or "unsettled <n>".  The logic is the session module's; this
 * file only parses flags and loops.
 */
#include "cli/cli.h"

#include "kube/kube.h"
#include "registry/registry.h"
#include "session/session.h"
#include "store/store.h"
#include "util/crypto.h"
#include "util/str.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: tycho session-soak --kubeconfig FILE --db FILE --registry SRC "
               "--context C\n"
               "                          [--ops N] [--seed S] [--max-live N] "
               "[--orphans adopt|delete|ignore]\n"
               "                          [--settle] [--timeout-ms N]\n"
               "Crash-safety driver: launches and stops sessions in a loop (see "
               "docs/sessions.md).\n");
}

struct soak_opts {
    const char *kubeconfig, *db, *registry, *context, *orphans;
    long ops, seed, max_live, timeout_ms;
    bool settle;
};

static int parse_long(const char *s, long *out)
{
    int64_t v;
    if (ty_str_to_i64(s, 0, 1000000000, &v))
        return -1;
    *out = (long)v;
    return 0;
}

static int parse_args(struct soak_opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    o->ops = 100;
    o->seed = (long)(ty_time_now_ms() % 1000000);
    o->max_live = 6;
    o->timeout_ms = 30000;
    o->orphans = "delete";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--settle")) {
            o->settle = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "tycho: session-soak: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--kubeconfig"))
            o->kubeconfig = v;
        else if (!strcmp(a, "--db"))
            o->db = v;
        else if (!strcmp(a, "--registry"))
            o->registry = v;
        else if (!strcmp(a, "--context"))
            o->context = v;
        else if (!strcmp(a, "--orphans"))
            o->orphans = v;
        else if ((!strcmp(a, "--ops") && parse_long(v, &o->ops) == 0) ||
                 (!strcmp(a, "--seed") && parse_long(v, &o->seed) == 0) ||
                 (!strcmp(a, "--max-live") && parse_long(v, &o->max_live) == 0) ||
                 (!strcmp(a, "--timeout-ms") && parse_long(v, &o->timeout_ms) == 0))
            continue;
        else {
            fprintf(stderr, "tycho: session-soak: bad option or value: %s %s\n", a, v);
            return -1;
        }
    }
    if (!o->kubeconfig || !o->db || !o->registry || !o->context) {
        fprintf(stderr, "tycho: session-soak: --kubeconfig, --db, --registry and --context "
                        "are required\n");
        return -1;
    }
    return 0;
}

/* Live session ids (any live state), up to max. */
static size_t live_ids(struct session_service *svc, char ids[][33], size_t max)
{
    struct store_query q;
    struct store_page page;
    size_t n = 0;

    memset(&q, 0, sizeof(q));
    q.states = STORE_STATES_LIVE;
    q.limit = STORE_LIST_MAX;
    q.skip_total = true;
    if (session_list(&page, svc, &q, NULL))
        return 0;
    for (size_t i = 0; i < page.n && n < max; i++)
        ty_strlcpy(ids[n++], page.items[i].id, 33);
    store_page_cleanup(&page);
    return n;
}

static size_t count_unsettled(struct session_service *svc)
{
    struct store_query q;
    struct store_page page;
    size_t n;

    memset(&q, 0, sizeof(q));
    q.states = STORE_STATE_BIT(STORE_STATE_REQUESTED) | STORE_STATE_BIT(STORE_STATE_CREATING) |
               STORE_STATE_BIT(STORE_STATE_PENDING) | STORE_STATE_BIT(STORE_STATE_STOPPING);
    q.limit = 1;
    if (session_list(&page, svc, &q, NULL))
        return (size_t)-1;
    n = (size_t)page.total;
    store_page_cleanup(&page);
    return n;
}

static int run_ops(struct session_service *svc, const struct soak_opts *o)
{
    static const char *const users[] = {"alice", "bob", "carol"};
    static const char *const apps[] = {"web", "multi"};
    unsigned int seed = (unsigned int)o->seed;

    for (long op = 0; op < o->ops; op++) {
        char ids[64][33];
        size_t n = live_ids(svc, ids, 64);
        struct ty_error err = TY_ERROR_INIT;
        bool launch = n < (size_t)o->max_live && (n == 0 || rand_r(&seed) % 2 == 0);

        if (launch) {
            struct session_launch_req req;
            char id[33];
            ty_guid_new(id);
            memset(&req, 0, sizeof(req));
            req.username = users[rand_r(&seed) % 3];
            req.app_id = apps[rand_r(&seed) % 2];
            req.gpu = -1;
            req.id = id;
            printf("begin %s\n", id);
            fflush(stdout);
            if (session_launch(NULL, svc, &req, &err) == 0)
                printf("launched %s\n", id);
            else
                printf("error launch %s %s\n", id, err.msg);
        } else {
            const char *id = ids[rand_r(&seed) % n];
            if (session_stop(svc, id, "soak", "user", &err) == 0)
                printf("stopped %s\n", id);
            else
                printf("error stop %s %s\n", id, err.msg);
        }
        fflush(stdout);
    }
    return 0;
}

int cli_cmd_session_soak(int argc, char **argv)
{
    struct soak_opts o;
    struct kube_config kc;
    struct kube_client *kube = NULL;
    struct registry_source src;
    struct registry_holder *reg = NULL;
    struct session_service *svc = NULL;
    struct session_config cfg = SESSION_CONFIG_INIT;
    struct ty_error err = TY_ERROR_INIT;
    int status = 1;

    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (parse_args(&o, argc, argv)) {
        usage(stderr);
        return 2;
    }
    kube_config_init(&kc);
    memset(&src, 0, sizeof(src));
    if (kube_config_load_kubeconfig(&kc, o.kubeconfig, NULL, &err) ||
        kube_client_new(&kube, &kc, NULL, &err)) {
        cli_fail("session-soak: %s", err.msg);
        goto out;
    }
    if (registry_source_parse(&src, o.registry, &err) ||
        registry_holder_new(&reg, &src, NULL, &err)) {
        cli_fail("session-soak: %s", err.msg);
        goto out;
    }
    cfg.registry = reg;
    cfg.context = o.context;
    cfg.kube = kube;
    cfg.store_path = o.db;
    cfg.tick_ms = 100;
    cfg.resync_ms = 2000;
    cfg.watch_stall_ms = 10000;
    cfg.creating_deadline_ms = 5000;
    cfg.stopping_deadline_ms = 5000;
    if (session_orphan_policy_parse(&cfg.orphan_policy, o.orphans)) {
        cli_fail("session-soak: --orphans: '%s' is not adopt, delete or ignore", o.orphans);
        status = 2;
        goto out;
    }
    if (session_service_new(&svc, &cfg, &err) || session_reconciler_start(svc, &err)) {
        cli_fail("session-soak: %s", err.msg);
        goto out;
    }
    if (o.settle) {
        int64_t end = ty_time_mono_ms() + o.timeout_ms;
        size_t n = 0;
        if (session_reconcile_once(NULL, svc, true, &err))
            fprintf(stderr, "tycho: session-soak: start-up pass: %s\n", err.msg);
        while ((n = count_unsettled(svc)) != 0 && ty_time_mono_ms() < end) {
            ty_error_clear(&err);
            if (session_reconcile_once(NULL, svc, false, &err))
                fprintf(stderr, "tycho: session-soak: reconcile: %s\n", err.msg);
            usleep(100000);
        }
        /* One more full pass for orphans created by the last kills. */
        (void)session_reconcile_once(NULL, svc, false, NULL);
        n = count_unsettled(svc);
        if (n == 0)
            printf("settled\n");
        else
            printf("unsettled %zu\n", n);
        status = n == 0 ? 0 : 1;
    } else {
        status = run_ops(svc, &o);
    }
out:
    session_service_free(svc);
    registry_holder_free(reg);
    registry_source_cleanup(&src);
    kube_client_free(kube);
    kube_config_cleanup(&kc);
    return status;
}
