/*
 * cli_client.c - the subcommands that talk to a running server: Tycho's
 * `up`, `status`, `down` and `modify` (through the /system endpoints, with
 * Tycho's output format), and `launch`, `sessions`, `history` (through /v1).
 *
 * Common options: --server URL (default $TYCHO_SERVER, else
 * http://127.0.0.1:8080), --token T (default $TYCHO_TOKEN), --user NAME (the
 * user Tycho's up/status act for: default $TYCHO_USER, else $USER; Tycho
 * itself hard-codes "renci", and so acts for someone nobody named: with
 * neither set, the commands that need a user say what to set).  libcurl stays
 * in this file.
 */
#include "cli/cli.h"
#include "doc/doc.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct client {
    const char *server;
    const char *token;
    const char *user;
};

static size_t on_data(char *p, size_t size, size_t n, void *payload)
{
    ty_buf_append(payload, p, size * n);
    return size * n;
}

/* Sends method path with body (may be NULL); *out is the parsed JSON reply
 * (NULL when not JSON).  Returns the HTTP status, or -1 for a transport error
 * (printed). */
static long
call(json_t **out, const struct client *c, const char *method, const char *path, const json_t *body)
{
    CURL *h = curl_easy_init();
    struct ty_buf resp = TY_BUF_INIT;
    struct curl_slist *hdrs = NULL;
    char *text = NULL, errbuf[CURL_ERROR_SIZE] = "";
    long status = -1;
    *out = NULL;
    if (!h)
        return -1;
    char *url = ty_xasprintf("%s%s", c->server, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (c->token && c->token[0]) {
        char *a = ty_xasprintf("Authorization: Bearer %s", c->token);
        hdrs = curl_slist_append(hdrs, a);
        free(a);
    }
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        fprintf(stderr, "tycho: %s %s: %s\n", method, url,
                errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (resp.len)
            *out = json_loadb(resp.data, resp.len, 0, NULL);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    ty_buf_cleanup(&resp);
    free(text);
    free(url);
    return status;
}

/* Prints the error of a failed reply; returns 1. */
static int report(long status, const json_t *reply, const char *what)
{
    if (status < 0)
        return 1;
    const char *msg =
        json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
    if (!msg)
        msg = json_string_value(json_object_get(reply, "message"));
    fprintf(stderr, "tycho: %s: HTTP %ld: %s\n", what, status, msg ? msg : "(no message)");
    return 1;
}

/* Parses the common options out of argv (compacting the rest into argv);
 * returns the new argc, or -1 on a usage error. */
static int common_opts(struct client *c, int argc, char **argv)
{
    c->server = getenv("TYCHO_SERVER");
    if (!c->server || !c->server[0])
        c->server = "http://127.0.0.1:8080";
    c->token = getenv("TYCHO_TOKEN");
    c->user = getenv("TYCHO_USER");
    if (!c->user || !c->user[0])
        c->user = getenv("USER");
    int k = 1;
    for (int i = 1; i < argc; i++) {
        const char **dst = !strcmp(argv[i], "--server")  ? &c->server
                           : !strcmp(argv[i], "--token") ? &c->token
                           : !strcmp(argv[i], "--user")  ? &c->user
                                                         : NULL;
        if (dst) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tycho %s: %s needs a value\n", argv[0], argv[i]);
                return -1;
            }
            *dst = argv[++i];
            continue;
        }
        argv[k++] = argv[i];
    }
    size_t n = strlen(c->server);
    while (n > 0 && c->server[n - 1] == '/')
        n--;
    static char server[1024];
    snprintf(server, sizeof(server), "%.*s", (int)n, c->server);
    c->server = server;
    return k;
}

/* The commands that act for a user (up, status) need one; an empty $USER
 * (a container, cron, su -) must not quietly become somebody else. */
static int need_user(const struct client *c, const char *cmd)
{
    if (c->user && c->user[0])
        return 0;
    fprintf(stderr,
            "tycho %s: no user to act for: pass --user NAME or set TYCHO_USER "
            "(USER is empty or unset)\n",
            cmd);
    return -1;
}

static const char common_help[] =
    "common options: --server URL ($TYCHO_SERVER, default http://127.0.0.1:8080)\n"
    "                --token T ($TYCHO_TOKEN)  --user NAME ($TYCHO_USER, else $USER)\n";

/* Tycho's column: the value left-aligned in w characters; a longer one is cut
 * and marked ".." so one space still separates the columns. */
static void col(const char *s, int w)
{
    if ((int)strlen(s) > w - 1)
        printf("%.*s.. ", w - 3, s);
    else
        printf("%-*s", w, s);
}

static void json_text(char *out, size_t n, const json_t *v)
{
    if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else
        snprintf(out, n, "None");
}

/* ---- up ------------------------------------------------------------------ */

/* Parses a .env file into {KEY: value}; a missing file gives {}. */
static json_t *read_env(const char *path)
{
    json_t *env = json_object();
    char *text = NULL;
    if (ty_file_read(&text, NULL, path, 1 << 20, NULL) < 0)
        return env;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (!*line || *line == '#')
            continue;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        size_t vl = strlen(eq + 1);
        if (vl && eq[vl] == '\r')
            eq[vl] = '\0';
        json_object_set_new(env, line, json_string(eq + 1));
    }
    free(text);
    return env;
}

int cli_cmd_up(int argc, char **argv)
{
    struct client c;
    const char *file = NULL, *name = NULL;
    if (cli_wants_help(argc, argv)) {
        printf("usage: tycho up -f SPEC [--name NAME] [common options]\n"
               "Launches a docker-compose spec through /system/start for --user.  NAME\n"
               "defaults to the spec's directory name; a .env beside the spec is sent too.\n%s",
               common_help);
        return 0;
    }
    if ((argc = common_opts(&c, argc, argv)) < 0)
        return 2;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) && i + 1 < argc)
            file = argv[++i];
        else if ((!strcmp(argv[i], "-n") || !strcmp(argv[i], "--name")) && i + 1 < argc)
            name = argv[++i];
        else {
            fprintf(stderr, "tycho up: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "tycho up: -f SPEC is required\n");
        return 2;
    }
    if (need_user(&c, "up") < 0)
        return 2;
    struct doc *d = NULL;
    struct ty_error err = TY_ERROR_INIT;
    if (doc_load_file(&d, file, NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char *dir = ty_path_dirname(file);
    char *base = NULL;
    if (!name) {
        char *abs = realpath(dir, NULL);
        const char *slash = abs ? strrchr(abs, '/') : NULL;
        base = ty_xstrdup(slash && slash[1] ? slash + 1 : "system");
        free(abs);
        name = base;
    }
    char *envp = ty_path_join(dir, ".env");
    json_t *env = read_env(envp);
    json_t *principal = json_pack("{s:s}", "username", c.user);
    char *ptext = json_dumps(principal, JSON_COMPACT);
    json_t *body = json_pack("{s:s, s:s, s:O, s:o, s:{}}", "name", name, "principal", ptext,
                             "system", doc_root(d), "env", env, "services");
    json_t *reply = NULL;
    long st = call(&reply, &c, "POST", "/system/start", body);
    int rc = 0;
    if (st != 200) {
        rc = report(st, reply, "up");
    } else {
        json_t *res = json_object_get(reply, "result");
        printf("%-30s%-35s%-15s%-7s\n", "SERVICE", "GUID", "IP_ADDRESS", "PORT");
        const char *cname;
        json_t *cv;
        const char *sys = json_string_value(json_object_get(res, "name"));
        const char *sid = json_string_value(json_object_get(res, "sid"));
        json_object_foreach(json_object_get(res, "containers"), cname, cv)
        {
            char ip[64], port[16];
            json_text(ip, sizeof(ip), json_object_get(cv, "ip_address"));
            json_text(port, sizeof(port), json_object_get(cv, "port-1"));
            col(sys ? sys : cname, 30);
            col(sid ? sid : "", 35);
            col(ip, 15);
            printf("%-7s\n", port);
        }
    }
    json_decref(reply);
    json_decref(body);
    json_decref(principal);
    free(ptext);
    free(envp);
    free(dir);
    free(base);
    doc_free(d);
    return rc;
}

/* ---- status -------------------------------------------------------------- */

int cli_cmd_status(int argc, char **argv)
{
    struct client c;
    const char *guid = NULL;
    bool terse = false;
    if (cli_wants_help(argc, argv)) {
        printf("usage: tycho status [GUID] [--terse] [common options]\n"
               "Lists --user's running systems (or one GUID) through /system/status.\n%s",
               common_help);
        return 0;
    }
    if ((argc = common_opts(&c, argc, argv)) < 0)
        return 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--terse"))
            terse = true;
        else if (argv[i][0] != '-' && !guid)
            guid = argv[i];
        else {
            fprintf(stderr, "tycho status: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!guid && need_user(&c, "status") < 0)
        return 2;
    json_t *body = guid ? json_pack("{s:s}", "name", guid) : json_pack("{s:s}", "username", c.user);
    json_t *reply = NULL;
    long st = call(&reply, &c, "POST", "/system/status", body);
    int rc = 0;
    if (st != 200) {
        rc = report(st, reply, "status");
    } else {
        json_t *rows = json_object_get(reply, "result");
        if (json_array_size(rows) == 0) {
            printf("None running\n");
        } else if (terse) {
            size_t i;
            json_t *r;
            json_array_foreach(rows, i, r)
                printf("%s\n", json_string_value(json_object_get(r, "sid")));
        } else {
            printf("%-30s%-35s%-15s%-7s%s\n", "SYSTEM", "GUID", "IP_ADDRESS", "PORT",
                   "CREATION_TIME");
            size_t i;
            json_t *r;
            json_array_foreach(rows, i, r)
            {
                char ip[64], port[16];
                json_text(ip, sizeof(ip), json_object_get(r, "ip_address"));
                json_text(port, sizeof(port), json_object_get(r, "port"));
                const char *n = json_string_value(json_object_get(r, "name"));
                const char *s = json_string_value(json_object_get(r, "sid"));
                const char *t = json_string_value(json_object_get(r, "creation_time"));
                col(n ? n : "", 30);
                col(s ? s : "", 35);
                col(ip, 15);
                printf("%-7s%s\n", port, t ? t : "");
            }
        }
    }
    json_decref(reply);
    json_decref(body);
    return rc;
}

/* ---- down ---------------------------------------------------------------- */

int cli_cmd_down(int argc, char **argv)
{
    struct client c;
    if (cli_wants_help(argc, argv)) {
        printf("usage: tycho down GUID... [common options]\n"
               "Deletes systems through /system/delete; prints each GUID deleted.\n%s",
               common_help);
        return 0;
    }
    if ((argc = common_opts(&c, argc, argv)) < 0)
        return 2;
    if (argc < 2) {
        fprintf(stderr, "tycho down: give at least one GUID\n");
        return 2;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        json_t *body = json_pack("{s:s}", "name", argv[i]), *reply = NULL;
        long st = call(&reply, &c, "POST", "/system/delete", body);
        if (st == 200) {
            printf("%s\n", argv[i]);
        } else {
            char *t = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
            printf("%s\n", t ? t : "error");
            free(t);
            rc = 1;
        }
        json_decref(body);
        json_decref(reply);
    }
    return rc;
}

/* ---- modify / launch --------------------------------------------------- */

/* --cpu, --memory, --label k=v (repeatable) into obj; returns the next
 * unparsed index or -1. */
static int resource_opt(json_t *obj, int argc, char **argv, int i, bool null_labels)
{
    if (i + 1 >= argc)
        return -1;
    const char *a = argv[i], *v = argv[i + 1];
    if (!strcmp(a, "--cpu")) {
        char *end = NULL;
        double d = strtod(v, &end);
        if (end == v || *end)
            json_object_set_new(obj, "cpu", json_string(v));
        else
            json_object_set_new(obj, "cpu", json_real(d));
    } else if (!strcmp(a, "--memory")) {
        json_object_set_new(obj, "memory", json_string(v));
    } else if (!strcmp(a, "--label")) {
        const char *eq = strchr(v, '=');
        json_t *labels = json_object_get(obj, "labels");
        if (!labels) {
            labels = json_object();
            json_object_set_new(obj, "labels", labels);
        }
        if (eq) {
            char *k = ty_xstrndup(v, (size_t)(eq - v));
            json_object_set_new(labels, k, json_string(eq + 1));
            free(k);
        } else if (null_labels) {
            json_object_set_new(labels, v, json_null());
        } else {
            return -1;
        }
    } else {
        return -1;
    }
    return i + 2;
}

int cli_cmd_modify(int argc, char **argv)
{
    struct client c;
    if (cli_wants_help(argc, argv)) {
        printf("usage: tycho modify GUID [--cpu N] [--memory Q] [--label k=v]... [common]\n"
               "Changes a running system through /system/modify (--label k alone removes k).\n"
               "%s",
               common_help);
        return 0;
    }
    if ((argc = common_opts(&c, argc, argv)) < 0)
        return 2;
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "tycho modify: give the GUID first\n");
        return 2;
    }
    json_t *body = json_pack("{s:s}", "tycho-guid", argv[1]), *reply = NULL;
    for (int i = 2; i < argc;) {
        int next = resource_opt(body, argc, argv, i, true);
        if (next < 0) {
            fprintf(stderr, "tycho modify: bad argument '%s'\n", argv[i]);
            json_decref(body);
            return 2;
        }
        i = next;
    }
    long st = call(&reply, &c, "POST", "/system/modify", body);
    int rc = 0;
    if (st != 200)
        rc = report(st, reply, "modify");
    else
        printf("%s\n", json_string_value(json_object_get(reply, "message")));
    json_decref(body);
    json_decref(reply);
    return rc;
}

static void print_session_row(const json_t *s)
{
    const char *id = json_string_value(json_object_get(s, "id"));
    const char *app = json_string_value(json_object_get(s, "app"));
    const char *user = json_string_value(json_object_get(s, "user"));
    const char *state = json_string_value(json_object_get(s, "state"));
    const char *created = json_string_value(json_object_get(s, "created_at"));
    const char *url = json_string_value(json_object_get(s, "url"));
    printf("%-33s %-20s %-16s %-9s %-25s %s\n", id ? id : "-", app ? app : "-", user ? user : "-",
           state ? state : "-", created ? created : "-", url ? url : "-");
}

/* A 429 from a full limit of the user's own names the sessions holding it
 * (error.sessions): list them on stderr, with the commands that open or
 * stop one, as JupyterHub points at the running server. */
static void print_limit_holders(const json_t *reply)
{
    const json_t *items = json_object_get(json_object_get(reply, "error"), "sessions");
    const json_t *s;
    size_t i;
    if (!json_array_size(items))
        return;
    fprintf(stderr, "tycho: the session%s holding the limit:\n",
            json_array_size(items) == 1 ? "" : "s");
    json_array_foreach(items, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "id"));
        const char *state = json_string_value(json_object_get(s, "state"));
        const char *url = json_string_value(json_object_get(s, "url"));
        fprintf(stderr, "  %s  %s  %s\n", id ? id : "-", state ? state : "-", url ? url : "-");
    }
    const char *first = json_string_value(json_object_get(json_array_get(items, 0), "id"));
    fprintf(stderr, "tycho: open it at its URL, or stop it (tycho down %s) and launch again\n",
            first ? first : "ID");
}

int cli_cmd_launch(int argc, char **argv)
{
    struct client c;
    if (cli_wants_help(argc, argv) || argc < 2) {
        printf("usage: tycho launch APP --user U [--cpu N] [--memory Q] [--label k=v]... "
               "[common]\nLaunches a registry app through POST /v1/sessions.\n%s",
               common_help);
        return argc < 2 ? 2 : 0;
    }
    bool user_given = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--user"))
            user_given = true;
    if ((argc = common_opts(&c, argc, argv)) < 0)
        return 2;
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "tycho launch: give the APP first\n");
        return 2;
    }
    json_t *body = json_pack("{s:s}", "app", argv[1]), *reply = NULL;
    if (user_given)
        json_object_set_new(body, "username", json_string(c.user));
    for (int i = 2; i < argc;) {
        int next = resource_opt(body, argc, argv, i, false);
        if (next < 0) {
            fprintf(stderr, "tycho launch: bad argument '%s'\n", argv[i]);
            json_decref(body);
            return 2;
        }
        i = next;
    }
    long st = call(&reply, &c, "POST", "/v1/sessions", body);
    int rc = 0;
    if (st != 201) {
        rc = report(st, reply, "launch");
        print_limit_holders(reply);
    } else {
        print_session_row(reply);
    }
    json_decref(body);
    json_decref(reply);
    return rc;
}

/* ---- sessions / history -------------------------------------------------- */

static void qadd(struct ty_buf *q, const char *key, const char *value)
{
    char *e = curl_easy_escape(NULL, value, 0);
    ty_buf_printf(q, "%s%s=%s", q->len ? "&" : "?", key, e ? e : "");
    curl_free(e);
}

/* "2026-11-23T10:02:11.123Z" as "2026-11-23 10:02:11"; "-" for null. */
static void short_time(char *out, size_t n, const json_t *v)
{
    const char *t = json_string_value(v);
    if (!t) {
        snprintf(out, n, "-");
        return;
    }
    snprintf(out, n, "%.19s", t);
    char *tee = strchr(out, 'T');
    if (tee)
        *tee = ' ';
}

/* How long a session lived: from its creation to its stop, or to now while it
 * is live. */
static void lifetime(char *out, size_t n, const json_t *s)
{
    int64_t from = 0, to = 0;
    const char *created = json_string_value(json_object_get(s, "created_at"));
    const char *stopped = json_string_value(json_object_get(s, "stopped_at"));
    if (!created || ty_time_parse_iso(created, &from) < 0) {
        snprintf(out, n, "-");
        return;
    }
    if (!stopped || ty_time_parse_iso(stopped, &to) < 0)
        to = ty_time_now_ms();
    ty_duration_format(out, n, to > from ? (to - from) / 1000 * 1000 : 0);
}

static void print_history_header(void)
{
    printf("%-33s %-16s %-12s %-9s %-19s  %-19s  %-8s %s\n", "ID", "APP", "USER", "STATE",
           "STARTED", "STOPPED", "LIVED", "STOPPED BY");
}

/* One row of `tycho history`: when it started, when it stopped, how long it
 * lived, and who stopped it and why, which the sessions table does not say. */
static void print_history_row(const json_t *s)
{
    const char *id = json_string_value(json_object_get(s, "id"));
    const char *app = json_string_value(json_object_get(s, "app"));
    const char *user = json_string_value(json_object_get(s, "user"));
    const char *state = json_string_value(json_object_get(s, "state"));
    const char *by = json_string_value(json_object_get(s, "stopped_by"));
    const char *why = json_string_value(json_object_get(s, "stop_reason"));
    char started[32], stopped[32], lived[32];
    short_time(started, sizeof(started), json_object_get(s, "created_at"));
    short_time(stopped, sizeof(stopped), json_object_get(s, "stopped_at"));
    lifetime(lived, sizeof(lived), s);
    /* A failed or lost session may have no stop actor: its state's reason
     * says why it ended.  A live one has nothing to say here. */
    if (!why && json_string_value(json_object_get(s, "stopped_at")))
        why = json_string_value(json_object_get(s, "reason"));
    printf("%-33s %-16s %-12s %-9s %-19s  %-19s  %-8s %s%s%s\n", id ? id : "-", app ? app : "-",
           user ? user : "-", state ? state : "-", started, stopped, lived, by ? by : "-",
           why ? ": " : "", why ? why : "");
}

static void print_sessions_header(void)
{
    printf("%-33s %-20s %-16s %-9s %-25s %s\n", "ID", "APP", "USER", "STATE", "CREATED", "URL");
}

struct list_view {
    const char *path;
    bool admin; /* --from and --to are allowed */
    void (*header)(void);
    void (*row)(const json_t *s);
};

static int list_cmd(int argc, char **argv, const struct list_view *v)
{
    struct client c;
    struct ty_buf q = TY_BUF_INIT;
    bool as_json = false, all = false, user_given = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--user"))
            user_given = true;
    if ((argc = common_opts(&c, argc, argv)) < 0)
        return 2;
    if (user_given)
        qadd(&q, "user", c.user);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        static const char *const keys[] = {"state", "app", "label", "limit", "from", "to", NULL};
        if (!strcmp(a, "--json")) {
            as_json = true;
            continue;
        }
        if (!strcmp(a, "--all")) {
            all = true;
            continue;
        }
        if (ty_str_has_prefix(a, "--") && ty_str_in(a + 2, keys) && i + 1 < argc) {
            if (!v->admin && (!strcmp(a + 2, "from") || !strcmp(a + 2, "to"))) {
                fprintf(stderr, "tycho %s: %s is for history\n", argv[0], a);
                ty_buf_cleanup(&q);
                return 2;
            }
            qadd(&q, a + 2, argv[++i]);
            continue;
        }
        fprintf(stderr, "tycho %s: unknown argument '%s'\n", argv[0], a);
        ty_buf_cleanup(&q);
        return 2;
    }
    int rc = 0;
    char *cursor = NULL;
    if (!as_json)
        v->header();
    for (;;) {
        struct ty_buf p = TY_BUF_INIT;
        ty_buf_printf(&p, "%s%s", v->path, q.len ? q.data : "");
        if (cursor) {
            char *e = curl_easy_escape(NULL, cursor, 0);
            ty_buf_printf(&p, "%scursor=%s", q.len ? "&" : "?", e);
            curl_free(e);
        }
        json_t *reply = NULL;
        long st = call(&reply, &c, "GET", p.data, NULL);
        ty_buf_cleanup(&p);
        free(cursor);
        cursor = NULL;
        if (st != 200) {
            rc = report(st, reply, argv[0]);
            json_decref(reply);
            break;
        }
        if (as_json) {
            char *t = json_dumps(reply, JSON_INDENT(2));
            printf("%s\n", t);
            free(t);
        } else {
            size_t i;
            json_t *s;
            json_array_foreach(json_object_get(reply, "items"), i, s) v->row(s);
        }
        const char *next = json_string_value(json_object_get(reply, "next_cursor"));
        if (all && next)
            cursor = ty_xstrdup(next);
        json_decref(reply);
        if (!cursor)
            break;
    }
    ty_buf_cleanup(&q);
    return rc;
}

int cli_cmd_sessions(int argc, char **argv)
{
    static const struct list_view view = {"/v1/sessions", false, print_sessions_header,
                                          print_session_row};
    if (cli_wants_help(argc, argv)) {
        printf("usage: tycho sessions [--state S] [--app A] [--label k=v] [--limit N] [--all]\n"
               "                      [--json] [common options]\n"
               "Lists sessions (GET /v1/sessions): a user token sees its own; admin and\n"
               "platform tokens see everyone's, or --user's.\n%s",
               common_help);
        return 0;
    }
    return list_cmd(argc, argv, &view);
}

/* `tycho history SID`: the session's state changes, oldest first, following
 * the event list's pages. */
static int history_one(int argc, char **argv, const char *sid)
{
    struct client c;
    char *cursor = NULL;
    bool as_json = false;
    int rc = 0;
    if ((argc = common_opts(&c, argc, argv)) < 0)
        return 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            as_json = true;
        else if (argv[i] != sid) {
            fprintf(stderr,
                    "tycho history: unknown argument '%s' (a session id takes only "
                    "--json)\n",
                    argv[i]);
            return 2;
        }
    }
    if (!as_json)
        printf("%-24s %-10s %-10s %-10s %-24s %s\n", "AT", "FROM", "TO", "BY", "REASON", "MESSAGE");
    char *esc = curl_easy_escape(NULL, sid, 0);
    for (;;) {
        char *path;
        if (cursor) {
            char *e = curl_easy_escape(NULL, cursor, 0);
            path = ty_xasprintf("/v1/sessions/%s/events?cursor=%s", esc, e);
            curl_free(e);
        } else {
            path = ty_xasprintf("/v1/sessions/%s/events", esc);
        }
        json_t *reply = NULL, *e;
        size_t i;
        long st = call(&reply, &c, "GET", path, NULL);
        free(path);
        free(cursor);
        cursor = NULL;
        if (st != 200) {
            rc = report(st, reply, "history");
            json_decref(reply);
            break;
        }
        if (as_json) {
            char *t = json_dumps(reply, JSON_INDENT(2));
            printf("%s\n", t);
            free(t);
        }
        json_array_foreach(json_object_get(reply, "items"), i, e)
        {
            if (as_json)
                break;
            const char *at = json_string_value(json_object_get(e, "at"));
            const char *from = json_string_value(json_object_get(e, "from"));
            const char *to = json_string_value(json_object_get(e, "to"));
            const char *by = json_string_value(json_object_get(e, "actor"));
            const char *why = json_string_value(json_object_get(e, "reason"));
            const char *msg = json_string_value(json_object_get(e, "message"));
            printf("%-24s %-10s %-10s %-10s %-24s %s\n", at ? at : "-", from ? from : "-",
                   to ? to : "-", by ? by : "-", why ? why : "-", msg ? msg : "");
        }
        const char *next = json_string_value(json_object_get(reply, "next_cursor"));
        if (next)
            cursor = ty_xstrdup(next);
        json_decref(reply);
        if (!cursor)
            break;
    }
    curl_free(esc);
    return rc;
}

int cli_cmd_history(int argc, char **argv)
{
    static const struct list_view view = {"/v1/admin/history", true, print_history_header,
                                          print_history_row};
    if (cli_wants_help(argc, argv)) {
        printf("usage: tycho history [--user U] [--app A] [--state S] [--label k=v]\n"
               "                     [--from T] [--to T] [--limit N] [--all] [--json]\n"
               "       tycho history SESSION_ID [--json]\n"
               "Every recorded session (GET /v1/admin/history; admin token): when it\n"
               "started and stopped, how long it lived, who stopped it and why.  With a\n"
               "session id: its state changes, oldest first (GET /v1/sessions/{id}/events).\n%s",
               common_help);
        return 0;
    }
    /* A bare argument that is not an option's value is a session id. */
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            if (strcmp(argv[i], "--json") && strcmp(argv[i], "--all"))
                i++; /* skip the option's value */
            continue;
        }
        return history_one(argc, argv, argv[i]);
    }
    return list_cmd(argc, argv, &view);
}

int cli_cmd_reap(int argc, char **argv)
{
    struct client c;
    json_t *reply = NULL, *row;
    bool dry_run = true, as_json = false;
    long status;
    size_t i;

    if (cli_wants_help(argc, argv)) {
        printf("usage: tycho reap [--dry-run | --now] [--json] [common options]\n"
               "Runs one culling pass on the server (POST /v1/admin/reap; admin token).\n"
               "--dry-run (the default) lists every live session, what the culler would do\n"
               "with it now and why; --now culls what is due.\n%s",
               common_help);
        return 0;
    }
    argc = common_opts(&c, argc, argv);
    if (argc < 0)
        return 2;
    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--dry-run"))
            dry_run = true;
        else if (!strcmp(argv[k], "--now"))
            dry_run = false;
        else if (!strcmp(argv[k], "--json"))
            as_json = true;
        else {
            fprintf(stderr, "tycho reap: unknown option '%s'\n", argv[k]);
            return 2;
        }
    }
    status = call(&reply, &c, "POST",
                  dry_run ? "/v1/admin/reap?dry_run=true" : "/v1/admin/reap?dry_run=false", NULL);
    if (status != 200) {
        int rc = report(status, reply, "reap");
        json_decref(reply);
        return rc;
    }
    /* The server's culling.dry_run makes every pass a dry run. */
    dry_run = dry_run || json_is_true(json_object_get(reply, "dry_run"));
    if (as_json) {
        char *text = json_dumps(reply, JSON_INDENT(2));
        puts(text);
        free(text);
        json_decref(reply);
        return 0;
    }
    if (json_array_size(json_object_get(reply, "items")) == 0) {
        printf(dry_run ? "No live session.\n" : "Nothing to cull.\n");
        json_decref(reply);
        return 0;
    }
    printf("%-33s %-12s %-16s %-8s %-6s %-8s %s\n", "SESSION", "USER", "APP", "STATE", "ACTION",
           "REASON", dry_run ? "WHY" : "RESULT");
    int counts[3] = {0, 0, 0}; /* keep, warn, cull */
    json_array_foreach(json_object_get(reply, "items"), i, row)
    {
        const char *err = json_string_value(json_object_get(row, "error"));
        const char *skipped = json_string_value(json_object_get(row, "skipped"));
        const char *action = json_string_value(json_object_get(row, "action"));
        const char *reason = json_string_value(json_object_get(row, "reason"));
        const char *state = json_string_value(json_object_get(row, "state"));
        counts[!action || !strcmp(action, "keep") ? 0 : !strcmp(action, "warn") ? 1 : 2]++;
        printf("%-33s %-12s %-16s %-8s %-6s %-8s %s\n",
               json_string_value(json_object_get(row, "session")),
               json_string_value(json_object_get(row, "username")),
               json_string_value(json_object_get(row, "app_id")), state ? state : "-",
               action ? action : "-", reason ? reason : "-",
               dry_run   ? json_string_value(json_object_get(row, "explanation"))
               : err     ? err
               : skipped ? skipped
                         : "done");
    }
    if (dry_run)
        printf("%d to cull, %d to warn, %d kept; nothing was done (tycho reap --now culls).\n",
               counts[2], counts[1], counts[0]);
    json_decref(reply);
    return 0;
}
