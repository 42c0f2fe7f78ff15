/*
 * kube_http.c - the request engine of the Kubernetes client: libcurl handles
 * kept in a small per-client pool (so kept-alive connections are reused and
 * several threads can call at once), credentials that change over time
 * (token files re-read on a schedule and after a 401, exec plugins run again
 * when their credential expires or is refused), bounded retries with jittered
 * exponential backoff for 429, 5xx and transport failures, a reply size cap,
 * and one place that turns failures into ty_code values.
 *
 * Why retries stop where they do: 4xx answers other than 429 are the
 * caller's mistake or a real state (NotFound, Conflict) and repeat
 * identically; a timeout already spent the caller's deadline; a watch stream
 * that broke after it started is the watcher's business (it re-watches from
 * the last resourceVersion it saw).  A POST retried after a failure that hid
 * a success comes back as AlreadyExists, which callers handle anyway.
 */
#include "kube/kube_int.h"

#include "util/crypto.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#ifndef TY_VERSION
#define TY_VERSION "0"
#endif

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool is_cancelled(struct kube_client *c)
{
    return __atomic_load_n(&c->cancelled, __ATOMIC_ACQUIRE) != 0;
}

int kube_client_new(struct kube_client **out,
                    const struct kube_config *cfg,
                    const struct kube_client_opts *o,
                    struct ty_error *err)
{
    static const struct kube_client_opts defaults = KUBE_CLIENT_OPTS_INIT;
    struct kube_client *c;
    bool https, has_creds;

    *out = NULL;
    if (!cfg || !cfg->server || !cfg->server[0])
        return ty_error_set(err, TY_EINVAL, "kube: the configuration has no server");
    https = ty_str_has_prefix(cfg->server, "https://");
    if (!https && !ty_str_has_prefix(cfg->server, "http://"))
        return ty_error_set(err, TY_EINVAL, "kube: server '%s' is not an http(s) URL", cfg->server);
    has_creds =
        cfg->token || cfg->token_file || cfg->exec || cfg->client_cert_pem || cfg->client_cert_file;
    if (!https && has_creds && !kube_url_is_loopback(cfg->server))
        return ty_error_set(err, TY_EINVAL,
                            "kube: refusing to send credentials over plain http to %s "
                            "(use https, or a loopback address for a local simulator)",
                            cfg->server);
    pthread_once(&curl_once, curl_init_once);

    c = ty_xcalloc(1, sizeof(*c));
    kube_config_copy(&c->cfg, cfg);
    if (!c->cfg.namespace)
        c->cfg.namespace = ty_xstrdup("default");
    if (c->cfg.token_reread_s <= 0)
        c->cfg.token_reread_s = 60;
    c->opts = o ? *o : defaults;
    if (c->opts.timeout_ms <= 0)
        c->opts.timeout_ms = defaults.timeout_ms;
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = defaults.connect_timeout_ms;
    if (c->opts.max_reply_bytes == 0)
        c->opts.max_reply_bytes = defaults.max_reply_bytes;
    if (c->opts.retries < 0)
        c->opts.retries = 0;
    if (c->opts.backoff_base_ms <= 0)
        c->opts.backoff_base_ms = defaults.backoff_base_ms;
    if (c->opts.backoff_max_ms <= 0)
        c->opts.backoff_max_ms = defaults.backoff_max_ms;
    c->user_agent = ty_xstrdup(c->opts.user_agent ? c->opts.user_agent : "tycho/" TY_VERSION);
    c->opts.user_agent = c->user_agent;
    c->send_credentials = https || kube_url_is_loopback(cfg->server);
    c->token = cfg->token ? ty_xstrdup(cfg->token) : NULL;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->cred_lock, NULL);
    *out = c;
    return 0;
}

void kube_client_free(struct kube_client *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    kube_config_cleanup(&c->cfg);
    kube_exec_cred_cleanup(&c->exec_cred);
    free(c->token);
    free(c->user_agent);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->cred_lock);
    free(c);
}

const char *kube_client_namespace(const struct kube_client *c)
{
    return c->cfg.namespace;
}

const char *kube_client_server(const struct kube_client *c)
{
    return c->cfg.server;
}

void kube_client_cancel(struct kube_client *c)
{
    __atomic_store_n(&c->cancelled, 1, __ATOMIC_RELEASE);
}

void kube_client_stats(const struct kube_client *c, struct kube_client_stats *out)
{
    struct kube_client *mc = (struct kube_client *)c;
    pthread_mutex_lock(&mc->lock);
    *out = c->stats;
    pthread_mutex_unlock(&mc->lock);
}

void kube_count_call(struct kube_client *c, int rc)
{
    pthread_mutex_lock(&c->lock);
    c->stats.calls++;
    if (rc)
        c->stats.errors++;
    pthread_mutex_unlock(&c->lock);
}

void kube_count_events(struct kube_client *c, uint64_t n)
{
    pthread_mutex_lock(&c->lock);
    c->stats.watch_events += n;
    pthread_mutex_unlock(&c->lock);
}

static CURL *pool_get(struct kube_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->npool > 0)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_reset(h); /* keeps the connection cache */
    else
        h = curl_easy_init();
    if (!h)
        abort(); /* out of memory, as ty_xmalloc would */
    return h;
}

static void pool_put(struct kube_client *c, CURL *h)
{
    pthread_mutex_lock(&c->lock);
    if (c->npool < KUBE_POOL_MAX) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- credentials ---- */

struct creds {
    char *token;
    char *cert_pem;
    char *key_pem;
};

static void creds_cleanup(struct creds *cr)
{
    free(cr->token);
    free(cr->cert_pem);
    free(cr->key_pem);
    memset(cr, 0, sizeof(*cr));
}

static bool creds_refreshable(const struct kube_client *c)
{
    return c->cfg.exec || (c->cfg.token_file && !c->cfg.token);
}

static int read_token_file(char **out, const char *path, struct ty_error *err)
{
    char *data = NULL;
    size_t n;
    int rc = ty_file_read(&data, NULL, path, 64 * 1024, err);
    char *s;

    *out = NULL;
    if (rc) {
        ty_error_wrap(err, "kube: token file: ");
        return rc;
    }
    s = data;
    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0) {
        free(data);
        return ty_error_set(err, TY_EAUTH, "kube: token file %s is empty", path);
    }
    *out = ty_xstrndup(s, n);
    free(data);
    return 0;
}

/* Fills cr with copies of the current credentials, refreshing what is due
 * (force: after a 401). */
static int creds_get(struct kube_client *c, struct creds *cr, bool force, struct ty_error *err)
{
    int rc = 0;

    memset(cr, 0, sizeof(*cr));
    if (!c->send_credentials)
        return 0;
    pthread_mutex_lock(&c->cred_lock);
    if (c->cfg.exec) {
        bool expired = c->exec_cred.expiry_ms && ty_time_now_ms() >= c->exec_cred.expiry_ms - 10000;
        if (force || !c->exec_valid || expired) {
            struct kube_exec_cred fresh;
            rc = kube_exec_run(&fresh, c->cfg.exec, c->cfg.server, c->cfg.ca_pem, c->cfg.insecure,
                               err);
            if (rc)
                goto out;
            kube_exec_cred_cleanup(&c->exec_cred);
            c->exec_cred = fresh;
            c->exec_valid = true;
        }
        cr->token = c->exec_cred.token ? ty_xstrdup(c->exec_cred.token) : NULL;
        cr->cert_pem = c->exec_cred.cert_pem ? ty_xstrdup(c->exec_cred.cert_pem) : NULL;
        cr->key_pem = c->exec_cred.key_pem ? ty_xstrdup(c->exec_cred.key_pem) : NULL;
        goto out;
    }
    if (c->cfg.token_file && !c->cfg.token) {
        int64_t now = ty_time_mono_ms();
        if (force || !c->token || now - c->token_read_ms >= c->cfg.token_reread_s * 1000LL) {
            char *t = NULL;
            rc = read_token_file(&t, c->cfg.token_file, err);
            if (rc && c->token && !force)
                rc = 0; /* keep serving the last good token; the next 401 retries */
            if (rc)
                goto out;
            if (t) {
                free(c->token);
                c->token = t;
                c->token_read_ms = now;
            }
        }
    }
    cr->token = c->token ? ty_xstrdup(c->token) : NULL;
out:
    pthread_mutex_unlock(&c->cred_lock);
    if (rc)
        creds_cleanup(cr);
    return rc;
}

/* ---- one transfer ---- */

struct xfer {
    struct kube_client *c;
    const struct kube_req *r;
    struct kube_resp *resp;
    struct kube_lines lines;
    long status;
    long retry_after_s;
    size_t received; /* body bytes, streamed or collected */
    bool too_big;
    bool line_abort;
    bool stopped;
};

static size_t on_header(char *data, size_t size, size_t nmemb, void *p)
{
    struct xfer *x = p;
    size_t n = size * nmemb;

    if (n > 5 && memcmp(data, "HTTP/", 5) == 0) {
        const char *sp = memchr(data, ' ', n);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->retry_after_s = 0;
    } else if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        char tmp[32];
        size_t k = n - 12 < sizeof(tmp) - 1 ? n - 12 : sizeof(tmp) - 1;
        memcpy(tmp, data + 12, k);
        tmp[k] = '\0';
        x->retry_after_s = strtol(tmp, NULL, 10); /* HTTP-date forms are ignored */
        if (x->retry_after_s < 0)
            x->retry_after_s = 0;
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *p)
{
    struct xfer *x = p;
    size_t n = size * nmemb;

    x->received += n;
    if (x->r->on_line && x->status >= 200 && x->status < 300) {
        int rc = kube_lines_feed(&x->lines, data, n, x->r->on_line, x->r->line_payload);
        if (rc == TY_ELIMIT) {
            x->too_big = true;
            return 0;
        }
        if (rc) {
            x->line_abort = true;
            return 0;
        }
        return n;
    }
    if (x->resp->body.len + n > x->c->opts.max_reply_bytes) {
        x->too_big = true;
        return 0;
    }
    ty_buf_append(&x->resp->body, data, n);
    return n;
}

static int
on_progress(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct xfer *x = p;
    if (is_cancelled(x->c) || (x->r->stop && __atomic_load_n(x->r->stop, __ATOMIC_ACQUIRE))) {
        x->stopped = true;
        return 1;
    }
    return 0;
}

static bool transport_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static void set_tls(CURL *h, const struct kube_client *c, const struct creds *cr)
{
    const struct kube_config *cfg = &c->cfg;
    const char *cert = cr->cert_pem ? cr->cert_pem : cfg->client_cert_pem;
    const char *key = cr->cert_pem ? cr->key_pem : cfg->client_key_pem;

    if (cfg->ca_pem) {
        struct curl_blob b = {(void *)cfg->ca_pem, strlen(cfg->ca_pem), CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    } else if (cfg->ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
    }
    if (cfg->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!c->send_credentials)
        return;
    if (cert && key) {
        struct curl_blob cb = {(void *)cert, strlen(cert), CURL_BLOB_COPY};
        struct curl_blob kb = {(void *)key, strlen(key), CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
    } else if (cfg->client_cert_file && cfg->client_key_file) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->client_cert_file);
        curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->client_key_file);
    }
}

enum outcome { DONE, RETRY, REAUTH };

/* One attempt.  Returns DONE with *rc set, or RETRY/REAUTH with err set and
 * *retry_after_ms filled. */
static enum outcome attempt(struct kube_client *c,
                            const struct kube_req *r,
                            struct kube_resp *resp,
                            const struct creds *cr,
                            const char *what,
                            int *rc,
                            long *retry_after_ms,
                            struct ty_error *err)
{
    CURL *h = pool_get(c);
    struct curl_slist *hdrs = NULL;
    struct xfer x = {c, r, resp, {TY_BUF_INIT, 0}, 0, 0, 0, false, false, false};
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = ty_xasprintf("%s%s", c->cfg.server, r->path);
    char *auth = NULL;
    long timeout = r->timeout_ms == 0 ? c->opts.timeout_ms : r->timeout_ms;
    enum outcome oc = DONE;
    CURLcode cc;

    kube_lines_init(&x.lines, c->opts.max_reply_bytes);
    ty_buf_reset(&resp->body);
    resp->status = 0;
    resp->aborted = false;
    *retry_after_ms = 0;

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout > 0 ? timeout : 0L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    /* Like client-go, honour the *_proxy variables except for loopback
     * servers (the embedded simulator), which a proxy cannot reach. */
    if (kube_url_is_loopback(c->cfg.server))
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    set_tls(h, c, cr);

    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (cr->token) {
        auth = ty_xasprintf("Authorization: Bearer %s", cr->token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (r->body) {
        char *ct = ty_xasprintf("Content-Type: %s",
                                r->content_type ? r->content_type : "application/json");
        hdrs = curl_slist_append(hdrs, ct);
        free(ct);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (r->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }

    cc = curl_easy_perform(h);
    resp->status = x.status;
    pthread_mutex_lock(&c->lock);
    c->stats.attempts++;
    c->stats.bytes_received += x.received;
    pthread_mutex_unlock(&c->lock);

    if (cc == CURLE_OK && r->on_line && x.status >= 200 && x.status < 300) {
        /* End of stream: deliver a last line that lacked its newline. */
        int lr = kube_lines_finish(&x.lines, r->on_line, r->line_payload);
        if (lr)
            resp->aborted = true;
    }
    if (x.too_big) {
        *rc = ty_error_set(err, TY_ELIMIT, "kube: %s: reply %s over the limit of %zu bytes", what,
                           r->on_line ? "line" : "body", c->opts.max_reply_bytes);
    } else if (x.line_abort || (x.stopped && r->on_line)) {
        resp->aborted = true;
        *rc = 0;
    } else if (x.stopped) {
        *rc = ty_error_set(err, TY_ERR, "kube: %s: cancelled", what);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        *rc = ty_error_set(err, TY_ETIMEOUT, "kube: %s: %s", what,
                           errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else if (cc != CURLE_OK) {
        *rc = ty_error_set(err, TY_EUPSTREAM, "kube: %s: %s", what,
                           errbuf[0] ? errbuf : curl_easy_strerror(cc));
        /* A stream that had started is not replayed (see the file comment). */
        if (transport_retryable(cc) && !(r->on_line && x.status >= 200 && x.status < 300))
            oc = RETRY;
    } else if (x.status >= 200 && x.status < 300) {
        *rc = 0;
    } else {
        long ra = 0;
        *rc = kube_status_error(err, x.status, resp->body.data, resp->body.len, what, &ra);
        if (x.retry_after_s > ra)
            ra = x.retry_after_s;
        *retry_after_ms = ra * 1000;
        if (x.status == 401)
            oc = REAUTH;
        else if (kube_status_retryable(x.status))
            oc = RETRY;
    }

    kube_lines_cleanup(&x.lines);
    curl_slist_free_all(hdrs);
    free(auth);
    free(url);
    pool_put(c, h);
    return oc;
}

static void sleep_ms(struct kube_client *c, const int *stop, long ms)
{
    int64_t end = ty_time_mono_ms() + ms;
    for (;;) {
        int64_t left = end - ty_time_mono_ms();
        struct timespec ts;
        if (left <= 0 || is_cancelled(c) || (stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE)))
            return;
        if (left > 50)
            left = 50;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
}

int kube_do(struct kube_client *c,
            const struct kube_req *r,
            struct kube_resp *resp,
            struct ty_error *err)
{
    char what[300];
    bool reauthed = false;
    int rc = TY_ERR, tries = 0;

    snprintf(what, sizeof(what), "%s %.*s", r->method, (int)strcspn(r->path, "?"), r->path);
    for (;;) {
        struct creds cr;
        long retry_after_ms = 0;
        enum outcome oc;

        if (is_cancelled(c)) {
            if (r->on_line) {
                resp->aborted = true;
                return 0;
            }
            return ty_error_set(err, TY_ERR, "kube: %s: cancelled", what);
        }
        rc = creds_get(c, &cr, false, err);
        if (rc) {
            ty_error_wrap(err, "kube: %s: credentials: ", what);
            return rc;
        }
        oc = attempt(c, r, resp, &cr, what, &rc, &retry_after_ms, err);
        creds_cleanup(&cr);
        if (oc == DONE)
            return rc;
        if (oc == REAUTH) {
            /* A 401 may mean the token rotated or the plugin's credential
             * expired early: refresh once and try again. */
            if (reauthed || !creds_refreshable(c))
                return rc;
            reauthed = true;
            pthread_mutex_lock(&c->lock);
            c->stats.auth_refreshes++;
            pthread_mutex_unlock(&c->lock);
            rc = creds_get(c, &cr, true, err);
            creds_cleanup(&cr);
            if (rc) {
                ty_error_wrap(err, "kube: %s: after 401: ", what);
                return rc;
            }
            continue;
        }
        if (tries >= c->opts.retries)
            return rc;
        tries++;
        {
            uint32_t rnd;
            ty_random_bytes(&rnd, sizeof(rnd));
            sleep_ms(c, r->stop,
                     kube_backoff_ms(tries, c->opts.backoff_base_ms, c->opts.backoff_max_ms,
                                     retry_after_ms, rnd));
        }
        pthread_mutex_lock(&c->lock);
        c->stats.retries++;
        pthread_mutex_unlock(&c->lock);
    }
}
