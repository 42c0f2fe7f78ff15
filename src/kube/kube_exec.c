/*
 * kube_exec.c - client-go's exec credential plugins: run a command named by
 * the kubeconfig, hand it KUBERNETES_EXEC_INFO, and read the ExecCredential it
 * prints (a bearer token, or a client certificate and key, with an optional
 * expiry).  The client caches the result until it expires and runs the plugin
 * again after a 401.
 *
 * The child is started with posix_spawnp (safe in a threaded server), stdin
 * from /dev/null, stdout and stderr captured through pipes with a size cap and
 * a deadline; stderr is only used to explain a failure.
 */
#include "kube/kube_int.h"

#include "util/buf.h"
#include "util/mem.h"
#include "util/time.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define EXEC_OUTPUT_MAX  (1u << 20)
#define EXEC_DEADLINE_MS 30000

void kube_exec_cred_cleanup(struct kube_exec_cred *c)
{
    if (!c)
        return;
    free(c->token);
    free(c->cert_pem);
    free(c->key_pem);
    memset(c, 0, sizeof(*c));
}

int kube_exec_parse(struct kube_exec_cred *out, const char *text, size_t len, struct ty_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr), *st;
    const char *kind, *token, *cert, *key, *exp;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!root)
        return ty_error_set(err, TY_EAUTH, "exec plugin output is not JSON: %d:%d: %s", jerr.line,
                            jerr.column, jerr.text);
    kind = json_string_value(json_object_get(root, "kind"));
    if (!kind || strcmp(kind, "ExecCredential") != 0) {
        rc = ty_error_set(err, TY_EAUTH, "exec plugin output: kind is '%s', not ExecCredential",
                          kind ? kind : "(missing)");
        goto out;
    }
    st = json_object_get(root, "status");
    if (!json_is_object(st)) {
        rc = ty_error_set(err, TY_EAUTH, "exec plugin output has no status");
        goto out;
    }
    token = json_string_value(json_object_get(st, "token"));
    cert = json_string_value(json_object_get(st, "clientCertificateData"));
    key = json_string_value(json_object_get(st, "clientKeyData"));
    exp = json_string_value(json_object_get(st, "expirationTimestamp"));
    if (!(token && token[0]) && !(cert && key)) {
        rc = ty_error_set(err, TY_EAUTH,
                          "exec plugin output: status has neither a token nor "
                          "clientCertificateData and clientKeyData");
        goto out;
    }
    if ((cert != NULL) != (key != NULL)) {
        rc = ty_error_set(err, TY_EAUTH,
                          "exec plugin output: clientCertificateData and "
                          "clientKeyData must come together");
        goto out;
    }
    if (exp && ty_time_parse_iso(exp, &out->expiry_ms) != 0) {
        rc = ty_error_set(err, TY_EAUTH, "exec plugin output: bad expirationTimestamp '%s'", exp);
        goto out;
    }
    out->token = token && token[0] ? ty_xstrdup(token) : NULL;
    out->cert_pem = cert ? ty_xstrdup(cert) : NULL;
    out->key_pem = key ? ty_xstrdup(key) : NULL;
out:
    json_decref(root);
    if (rc)
        kube_exec_cred_cleanup(out);
    return rc;
}

static char *
exec_info(const struct kube_exec_config *e, const char *server, const char *ca_pem, bool insecure)
{
    json_t *info = json_object(), *spec = json_object();
    char *s;

    json_object_set_new(info, "kind", json_string("ExecCredential"));
    json_object_set_new(info, "apiVersion", json_string(e->api_version));
    json_object_set_new(spec, "interactive", json_false());
    if (e->provide_cluster_info) {
        json_t *cl = json_object();
        json_object_set_new(cl, "server", json_string(server));
        if (insecure)
            json_object_set_new(cl, "insecure-skip-tls-verify", json_true());
        if (ca_pem) {
            /* The spec carries the CA base64-encoded, as in a kubeconfig. */
            static const char tbl[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            size_t n = strlen(ca_pem);
            struct ty_buf b = TY_BUF_INIT;
            for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)(unsigned char)ca_pem[i] << 16;
                if (i + 1 < n)
                    v |= (uint32_t)(unsigned char)ca_pem[i + 1] << 8;
                if (i + 2 < n)
                    v |= (unsigned char)ca_pem[i + 2];
                ty_buf_putc(&b, tbl[(v >> 18) & 63]);
                ty_buf_putc(&b, tbl[(v >> 12) & 63]);
                ty_buf_putc(&b, i + 1 < n ? tbl[(v >> 6) & 63] : '=');
                ty_buf_putc(&b, i + 2 < n ? tbl[v & 63] : '=');
            }
            json_object_set_new(cl, "certificate-authority-data", json_string(ty_buf_cstr(&b)));
            ty_buf_cleanup(&b);
        }
        json_object_set_new(spec, "cluster", cl);
    }
    json_object_set_new(info, "spec", spec);
    s = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    return s;
}

/* Reads both pipes until EOF, the cap or the deadline. */
static int
collect(int outfd, int errfd, struct ty_buf *out, struct ty_buf *errb, struct ty_error *err)
{
    int64_t deadline = ty_time_mono_ms() + EXEC_DEADLINE_MS;
    struct pollfd p[2] = {{outfd, POLLIN, 0}, {errfd, POLLIN, 0}};
    int open_fds = 2;

    while (open_fds > 0) {
        int64_t left = deadline - ty_time_mono_ms();
        int n;
        if (left <= 0)
            return ty_error_set(err, TY_ETIMEOUT, "exec plugin did not finish within %d s",
                                EXEC_DEADLINE_MS / 1000);
        n = poll(p, 2, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ty_error_set(err, TY_ERR, "exec plugin: poll: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            char chunk[4096];
            ssize_t r;
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            r = read(p[i].fd, chunk, sizeof(chunk));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                p[i].fd = -1;
                open_fds--;
                continue;
            }
            if ((i == 0 ? out : errb)->len + (size_t)r > EXEC_OUTPUT_MAX)
                return ty_error_set(err, TY_ELIMIT, "exec plugin printed more than %u bytes",
                                    EXEC_OUTPUT_MAX);
            ty_buf_append(i == 0 ? out : errb, chunk, (size_t)r);
        }
    }
    return 0;
}

static bool env_overridden(const char *var, const struct kube_exec_config *e)
{
    size_t n = strcspn(var, "=");
    if (n == 20 && strncmp(var, "KUBERNETES_EXEC_INFO", 20) == 0)
        return true;
    for (size_t i = 0; i < e->nenv; i++)
        if (strncmp(e->env[i], var, n) == 0 && e->env[i][n] == '=')
            return true;
    return false;
}

int kube_exec_run(struct kube_exec_cred *out,
                  const struct kube_exec_config *e,
                  const char *server,
                  const char *ca_pem,
                  bool insecure,
                  struct ty_error *err)
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    char **argv = NULL, **envp = NULL, *info = NULL, *info_env = NULL;
    struct ty_buf so = TY_BUF_INIT, se = TY_BUF_INIT;
    size_t nenv = 0, k = 0;
    pid_t pid = -1;
    int rc = 0, status = 0, sp;

    memset(out, 0, sizeof(*out));
    if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        rc = ty_error_set(err, TY_ERR, "exec plugin: pipe: %s", strerror(errno));
        goto out;
    }
    argv = ty_xcalloc(e->nargs + 2, sizeof(char *));
    argv[0] = e->command;
    for (size_t i = 0; i < e->nargs; i++)
        argv[i + 1] = e->args[i];
    while (environ && environ[nenv])
        nenv++;
    envp = ty_xcalloc(nenv + e->nenv + 2, sizeof(char *));
    /* The configured env overrides inherited variables of the same name. */
    for (size_t i = 0; i < nenv; i++)
        if (!env_overridden(environ[i], e))
            envp[k++] = environ[i];
    for (size_t i = 0; i < e->nenv; i++)
        envp[k++] = e->env[i];
    info = exec_info(e, server, ca_pem, insecure);
    info_env = ty_xasprintf("KUBERNETES_EXEC_INFO=%s", info);
    envp[k++] = info_env;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    sp = posix_spawnp(&pid, e->command, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;
    if (sp != 0) {
        pid = -1;
        rc = ty_error_set(err, TY_EAUTH, "exec plugin '%s' could not start: %s", e->command,
                          strerror(sp));
        goto out;
    }
    rc = collect(outp[0], errp[0], &so, &se, err);
    if (rc) {
        kill(pid, SIGKILL);
        ty_error_wrap(err, "'%s': ", e->command);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    pid = -1;
    if (rc)
        goto out;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        const char *msg = se.len ? ty_buf_cstr(&se) : "(no output on stderr)";
        size_t ml = strcspn(msg, "\n");
        rc = ty_error_set(err, TY_EAUTH, "exec plugin '%s' failed (%s %d): %.*s", e->command,
                          WIFEXITED(status) ? "exit status" : "signal",
                          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                          (int)(ml > 300 ? 300 : ml), msg);
        goto out;
    }
    rc = kube_exec_parse(out, so.data ? so.data : "", so.len, err);
    if (rc)
        ty_error_wrap(err, "'%s': ", e->command);
out:
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    free(argv);
    free(envp);
    free(info);
    free(info_env);
    ty_buf_cleanup(&so);
    ty_buf_cleanup(&se);
    return rc;
}
