/*
 * cli_kubesim.c - `tycho kube-sim`: run the simulated cluster until a signal.
 *
 * Prints the server URL as the first line of stdout (flushed, so a script can
 * read it and go), writes a kubeconfig when asked, then serves until SIGINT or
 * SIGTERM.  The signals are blocked before any thread starts and collected with
 * sigwait(), so shutdown runs on the main thread and is clean.
 */
#include "cli/cli.h"
#include "kubesim/kubesim.h"
#include "util/str.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tycho kube-sim [--listen ADDR:PORT] [--tls] [--token T]\n"
            "                      [--readonly-token T2]\n"
            "                      [--kubeconfig-out FILE] [--namespace NS] [--state FILE]\n"
            "                      [--client-ca FILE] [--schedule-ms N] [--start-ms N]\n"
            "                      [--grace-ms N] [--fail-pull-pattern GLOB]\n"
            "                      [--crash-pattern GLOB] [--unschedulable-pattern GLOB]\n"
            "                      [--error-rate R] [--error-status N] [--retry-after S]\n"
            "                      [--latency-ms N] [--drop-rate R]\n\n"
            "A simulated Kubernetes API server (in memory; --state keeps objects in a file).\n"
            "Prints its URL on the first line, then serves until SIGINT/SIGTERM.\n"
            "Defaults: --listen 127.0.0.1:0 (any free port), --schedule-ms 200, --start-ms 500,\n"
            "--grace-ms 300, images matching *invalid* fail to pull, *crash* crash-loop,\n"
            "*unschedulable* stay Pending.  --readonly-token may only get/list/watch\n"
            "(writes get 403 Forbidden).  Admin endpoints (token required): POST\n"
            "/_sim/faults {error_rate,error_status,latency_ms,drop_rate,gone_next_watch,\n"
            "retry_after_s}, POST /_sim/metrics {namespace,pod|labelSelector,cpu,memory},\n"
            "GET /_sim/stats, POST /_sim/compact (watch history dropped: old versions get 410).\n");
}

static int int_arg(const char *flag, const char *v, int *out)
{
    int64_t n;
    if (!v || ty_str_to_i64(v, 0, 1000000000, &n) != 0)
        return cli_fail("%s: expected a non-negative integer, got '%s'", flag, v ? v : "");
    *out = (int)n;
    return 0;
}

static int rate_arg(const char *flag, const char *v, double *out)
{
    char *end;
    double d = v ? strtod(v, &end) : -1;
    if (!v || *end || d < 0 || d > 1)
        return cli_fail("%s: expected a number between 0 and 1, got '%s'", flag, v ? v : "");
    *out = d;
    return 0;
}

int cli_cmd_kubesim(int argc, char **argv)
{
    struct kubesim_opts o = KUBESIM_OPTS_INIT;
    struct kubesim_faults f;
    const char *kubeconfig = NULL, *ns = NULL;
    struct kubesim *s = NULL;
    struct ty_error err = TY_ERROR_INIT;
    sigset_t set;
    int sig;

    memset(&f, 0, sizeof f);
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (!strcmp(a, "--tls")) {
            o.tls = true;
            takes = false;
        } else if (!v) {
            fprintf(stderr, "tycho: %s needs a value\n", a);
            usage(stderr);
            return 2;
        } else if (!strcmp(a, "--listen")) {
            o.listen = v;
        } else if (!strcmp(a, "--token")) {
            o.token = v;
        } else if (!strcmp(a, "--readonly-token")) {
            o.readonly_token = v;
        } else if (!strcmp(a, "--kubeconfig-out")) {
            kubeconfig = v;
        } else if (!strcmp(a, "--namespace")) {
            ns = v;
        } else if (!strcmp(a, "--state")) {
            o.state_file = v;
        } else if (!strcmp(a, "--client-ca")) {
            o.client_ca_file = v;
        } else if (!strcmp(a, "--schedule-ms")) {
            if (int_arg(a, v, &o.pod_schedule_ms))
                return 2;
        } else if (!strcmp(a, "--start-ms")) {
            if (int_arg(a, v, &o.pod_start_ms))
                return 2;
        } else if (!strcmp(a, "--grace-ms")) {
            if (int_arg(a, v, &o.pod_grace_ms))
                return 2;
        } else if (!strcmp(a, "--fail-pull-pattern")) {
            o.fail_pull_pattern = v;
        } else if (!strcmp(a, "--crash-pattern")) {
            o.crash_pattern = v;
        } else if (!strcmp(a, "--unschedulable-pattern")) {
            o.unschedulable_pattern = v;
        } else if (!strcmp(a, "--error-rate")) {
            if (rate_arg(a, v, &f.error_rate))
                return 2;
        } else if (!strcmp(a, "--drop-rate")) {
            if (rate_arg(a, v, &f.drop_rate))
                return 2;
        } else if (!strcmp(a, "--error-status")) {
            if (int_arg(a, v, &f.error_status))
                return 2;
        } else if (!strcmp(a, "--retry-after")) {
            if (int_arg(a, v, &f.retry_after_s))
                return 2;
        } else if (!strcmp(a, "--latency-ms")) {
            if (int_arg(a, v, &f.latency_ms))
                return 2;
        } else {
            fprintf(stderr, "tycho: kube-sim: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (takes)
            i++;
    }

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (kubesim_start(&s, &o, &err) != 0)
        return cli_fail("%s", err.msg);
    kubesim_set_faults(s, &f);
    if (kubeconfig && kubesim_write_kubeconfig(s, kubeconfig, ns, &err) != 0) {
        kubesim_stop(s);
        return cli_fail("%s", err.msg);
    }
    printf("%s\n", kubesim_url(s));
    fflush(stdout);
    if (kubeconfig)
        fprintf(stderr, "kube-sim: kubeconfig written to %s\n", kubeconfig);
    if (kubesim_ca_file(s))
        fprintf(stderr, "kube-sim: CA certificate %s\n", kubesim_ca_file(s));
    sigwait(&set, &sig);
    fprintf(stderr, "kube-sim: signal %d, stopping\n", sig);
    kubesim_stop(s);
    return 0;
}
