/*
 * kube_fuzzer.c - the Kubernetes client (src/kube/) on any reply: statuses,
 * JSON bodies, Status errors, list pages and watch streams.
 *
 * A tiny HTTP server on a loopback port of the process answers the client's
 * requests with the replies the input describes, so the real client code
 * runs end to end: libcurl, the header and body callbacks, the reply size
 * cap, the watch-stream splitter, the JSON parsing of each verb and the
 * mapping of errors.  The parts of the replies are also fed to the pure
 * parsers directly (Status errors, the line splitter in uneven pieces, the
 * ExecCredential parser).
 *
 * Input parts (fuzz.h): the replies, in order.  A reply is a body, or
 *
 *   HTTP STATUS [CHUNK]
 *   Name: value        (extra headers)
 *
 *   body
 *
 * where CHUNK > 0 sends the body chunked in pieces of that size.  Each verb
 * (get, list with paging, watch, delete, create, metrics, a raw GET) starts
 * from the first reply; a request beyond the last reply finds the connection
 * closed.  Beyond crashes the target checks what kube.h promises: a failure
 * leaves *out NULL and says why, a success returns an object, a watch
 * delivers only the four event types with an object each.
 */
#include "fuzz.h"
#include "kube/kube_int.h"
#include "util/mem.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct reply {
    int status;
    size_t chunk;
    const char *headers; /* extra header lines, each ending in "\r\n" (owned) */
    const char *body;    /* borrowed from the parts */
    size_t body_len;
};

static struct {
    pthread_mutex_t mu;
    struct reply replies[FUZZ_MAX_PARTS];
    int n;
    int next;
    int listen_fd;
    int port;
} sv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static struct kube_client *client;

/* ---- the server ------------------------------------------------------------- */

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Reads the request head and its Content-Length body; false when the client
 * went away. */
static bool read_request(int fd)
{
    char buf[65536];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len == sizeof(buf) - 1)
            return false;
        ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (r <= 0)
            return false;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t body = (size_t)(end + 4 - buf);
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
    size_t have = len - body;
    while (have < want) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            return false;
        have += (size_t)r;
    }
    return true;
}

static void answer(int fd, const struct reply *r)
{
    char head[512];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d Fuzz\r\nConnection: close\r\n%s", r->status,
                     r->headers ? r->headers : "");
    if (!r->headers || !strcasestr(r->headers, "Content-Type:"))
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: application/json\r\n");
    if (r->chunk)
        snprintf(head + n, sizeof(head) - (size_t)n, "Transfer-Encoding: chunked\r\n\r\n");
    else
        snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n\r\n", r->body_len);
    write_all(fd, head, strlen(head));
    if (!r->chunk) {
        write_all(fd, r->body, r->body_len);
        return;
    }
    for (size_t off = 0; off < r->body_len; off += r->chunk) {
        size_t k = r->body_len - off < r->chunk ? r->body_len - off : r->chunk;
        char size[32];
        snprintf(size, sizeof(size), "%zx\r\n", k);
        write_all(fd, size, strlen(size));
        write_all(fd, r->body + off, k);
        write_all(fd, "\r\n", 2);
    }
    write_all(fd, "0\r\n\r\n", 5);
}

static void *server_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(sv.listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (read_request(fd)) {
            /* A copy: the client may give up on a reply (a watch callback
             * stops it) and the input end while it is still being sent. */
            struct reply r = {0};
            char *headers = NULL, *body = NULL;
            pthread_mutex_lock(&sv.mu);
            int i = sv.next++;
            if (i < sv.n) {
                r = sv.replies[i];
                headers = r.headers ? ty_xstrdup(r.headers) : NULL;
                body = ty_xmalloc(r.body_len + 1);
                memcpy(body, r.body, r.body_len);
                r.headers = headers;
                r.body = body;
            }
            pthread_mutex_unlock(&sv.mu);
            if (r.status)
                answer(fd, &r);
            free(headers);
            free(body);
        }
        close(fd);
    }
    return NULL;
}

static void client_free(void)
{
    kube_client_free(client);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    struct kube_config cfg;
    struct kube_client_opts o = KUBE_CLIENT_OPTS_INIT;
    struct ty_error err = TY_ERROR_INIT;
    pthread_t th;
    (void)argc;
    (void)argv;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sv.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (sv.listen_fd < 0 || bind(sv.listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(sv.listen_fd, 16) < 0 || getsockname(sv.listen_fd, (struct sockaddr *)&a, &alen) < 0)
        fuzz_fail("cannot listen on loopback");
    sv.port = ntohs(a.sin_port);
    if (pthread_create(&th, NULL, server_main, NULL) != 0)
        fuzz_fail("cannot start the server thread");
    pthread_detach(th);

    kube_config_init(&cfg);
    cfg.server = ty_xasprintf("http://127.0.0.1:%d", sv.port);
    cfg.namespace = ty_xstrdup("default");
    cfg.token = ty_xstrdup("fuzz-token");
    o.retries = 0; /* a retry would sleep for the reply's Retry-After */
    o.timeout_ms = 10000;
    o.connect_timeout_ms = 5000;
    o.max_reply_bytes = (size_t)1 << 20; /* small enough for inputs to reach it */
    if (kube_client_new(&client, &cfg, &o, &err) < 0)
        fuzz_fail("kube_client_new: %s", err.msg);
    kube_config_cleanup(&cfg);
    atexit(client_free);
    return 0;
}

/* ---- the input -------------------------------------------------------------- */

/* Fills r from part text (NUL-terminated, len bytes). */
static void reply_parse(struct reply *r, char *text, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->status = 200;
    r->body = text;
    r->body_len = len;
    if (strncmp(text, "HTTP ", 5) != 0)
        return;
    char *nl = memchr(text, '\n', len);
    long status = strtol(text + 5, NULL, 10);
    const char *sp = strchr(text + 5, ' ');
    r->status = status >= 100 && status <= 599 ? (int)status : 200;
    if (sp && (!nl || sp < nl)) {
        long k = strtol(sp + 1, NULL, 10);
        r->chunk = k > 0 && k < (1 << 20) ? (size_t)k : 0;
    }
    if (!nl) {
        r->body = text + len;
        r->body_len = 0;
        return;
    }
    /* Header lines up to a blank line, re-terminated with "\r\n". */
    struct ty_buf h = TY_BUF_INIT;
    char *p = nl + 1, *end = text + len;
    while (p < end) {
        char *line = p, *e = memchr(p, '\n', (size_t)(end - p));
        size_t l = e ? (size_t)(e - p) : (size_t)(end - p);
        p = e ? e + 1 : end;
        if (l && line[l - 1] == '\r')
            l--;
        if (l == 0)
            break;
        if (h.len + l + 2 < 256 && !memchr(line, '\0', l)) {
            ty_buf_append(&h, line, l);
            ty_buf_puts(&h, "\r\n");
        }
    }
    r->headers = h.len ? ty_buf_detach(&h) : (ty_buf_cleanup(&h), NULL);
    r->body = p;
    r->body_len = (size_t)(end - p);
}

static void replies_set(const struct fuzz_parts *p)
{
    pthread_mutex_lock(&sv.mu);
    for (int i = 0; i < p->n; i++)
        reply_parse(&sv.replies[i], p->part[i], p->len[i]);
    sv.n = p->n;
    sv.next = 0;
    pthread_mutex_unlock(&sv.mu);
}

static void replies_clear(void)
{
    pthread_mutex_lock(&sv.mu);
    for (int i = 0; i < sv.n; i++)
        free((char *)sv.replies[i].headers);
    sv.n = 0;
    pthread_mutex_unlock(&sv.mu);
}

static void rewind_replies(void)
{
    pthread_mutex_lock(&sv.mu);
    sv.next = 0;
    pthread_mutex_unlock(&sv.mu);
}

/* ---- the checks ------------------------------------------------------------- */

static void check_result(const char *verb, int rc, json_t *out, const struct ty_error *err)
{
    if (rc < 0) {
        if (out)
            fuzz_fail("%s failed (%d) but returned a reply", verb, rc);
        if (!err->msg[0])
            fuzz_fail("%s failed (%d) without a message", verb, rc);
    } else if (rc > 0) {
        fuzz_fail("%s returned %d", verb, rc);
    } else if (out && !json_is_object(out) && strcmp(verb, "raw") != 0) {
        fuzz_fail("%s succeeded with a reply that is not an object", verb);
    }
    json_decref(out);
}

static int on_event(const char *type, json_t *object, void *payload)
{
    int *n = payload;
    if (strcmp(type, "ADDED") && strcmp(type, "MODIFIED") && strcmp(type, "DELETED") &&
        strcmp(type, "BOOKMARK"))
        fuzz_fail("watch event of type '%s'", type);
    if (!json_is_object(object))
        fuzz_fail("watch event without an object");
    return ++*n > 10000;
}

static int count_line(const char *line, size_t len, void *payload)
{
    (void)line;
    if (len == 0)
        fuzz_fail("the splitter delivered an empty line");
    ++*(size_t *)payload;
    return 0;
}

static void pure_parsers(const struct fuzz_parts *p)
{
    for (int i = 0; i < p->n; i++) {
        struct ty_error err = TY_ERROR_INIT;
        struct kube_exec_cred cred = {0};
        struct kube_lines l;
        long retry = 0;
        size_t lines = 0;
        int code = kube_status_error(&err, 400 + i, p->part[i], p->len[i], "fuzz", &retry);
        if (code >= 0 || !err.msg[0])
            fuzz_fail("kube_status_error gave %d '%s'", code, err.msg);
        kube_lines_init(&l, 4096);
        /* Uneven pieces, as the network delivers them. */
        for (size_t off = 0, k = 1; off < p->len[i]; off += k, k = k * 3 % 17 + 1) {
            size_t n = p->len[i] - off < k ? p->len[i] - off : k;
            if (kube_lines_feed(&l, p->part[i] + off, n, count_line, &lines) != 0)
                break;
        }
        kube_lines_finish(&l, count_line, &lines);
        kube_lines_cleanup(&l);
        if (kube_exec_parse(&cred, p->part[i], p->len[i], &err) == 0 && !cred.token &&
            !cred.cert_pem)
            fuzz_fail("kube_exec_parse succeeded without credentials");
        kube_exec_cred_cleanup(&cred);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_parts p;
    struct ty_error err = TY_ERROR_INIT;
    json_t *out = NULL;
    int rc, events = 0;

    fuzz_parts_split(&p, data, size);
    pure_parsers(&p);
    replies_set(&p);

    rc = kube_get(&out, client, KUBE_POD, NULL, "web-0", &err);
    check_result("get", rc, out, &err);

    rewind_replies();
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    lo.limit = 2;
    lo.label_selector = "executor=tycho";
    ty_error_clear(&err);
    out = NULL;
    rc = kube_list_all(&out, client, KUBE_DEPLOYMENT, NULL, &lo, &err);
    if (rc == 0 && !json_is_array(json_object_get(out, "items")))
        fuzz_fail("kube_list_all succeeded without an items array");
    check_result("list_all", rc, out, &err);

    rewind_replies();
    struct kube_watch_opts wo = KUBE_WATCH_OPTS_INIT;
    wo.resource_version = "1";
    ty_error_clear(&err);
    rc = kube_watch(client, KUBE_POD, NULL, &wo, on_event, &events, &err);
    check_result("watch", rc, NULL, &err);

    rewind_replies();
    ty_error_clear(&err);
    rc = kube_delete(client, KUBE_SERVICE, NULL, "web", KUBE_PROPAGATION_FOREGROUND, &err);
    check_result("delete", rc, NULL, &err);

    rewind_replies();
    ty_error_clear(&err);
    out = NULL;
    json_t *body = json_pack("{s:{s:s}}", "metadata", "name", "web");
    rc = kube_create(&out, client, KUBE_SECRET, NULL, body, &err);
    json_decref(body);
    check_result("create", rc, out, &err);

    rewind_replies();
    ty_error_clear(&err);
    out = NULL;
    rc = kube_pod_metrics(&out, client, NULL, "executor=tycho", &err);
    check_result("metrics", rc, out, &err);

    rewind_replies();
    ty_error_clear(&err);
    out = NULL;
    rc = kube_request_json(&out, client, "GET", "/version", NULL, &err);
    check_result("raw", rc, out, &err);

    replies_clear();
    fuzz_parts_cleanup(&p);
    return 0;
}
