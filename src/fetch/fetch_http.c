/*
 * fetch_http.c - http(s) GETs through libcurl, with a revalidating cache.
 *
 * Specs named by absolute URLs are small documents fetched rarely, so this is a
 * single blocking easy-handle transfer per call, bounded every way that matters
 * for input we do not control: only http and https (also on redirects), at most
 * FETCH_HTTP_MAX_REDIRECTS hops, connect and total timeouts, and a body cap that
 * aborts the transfer as soon as it is passed (Content-Length is checked first
 * through CURLOPT_MAXFILESIZE, the write callback catches the rest).
 *
 * The cache keeps the last good body of each URL at http/<sha256(url)> with a
 * .meta JSON beside it.  The two files are replaced separately (each atomically),
 * so the meta records the body's SHA-256: a meta that does not match its body is
 * ignored, which costs an unconditional GET and never serves the wrong ETag.
 * A cached body is served when the server says 304, and also, flagged stale,
 * when the server cannot be reached or fails with 5xx.
 */
#include "fetch/fetch.h"
#include "fetch/fetch_int.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_MAX       8192
#define META_MAX      65536
#define VALIDATOR_MAX 512

/* ty_file_write_atomic's temporary name is per process: threads take turns. */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

struct cached {
    char *body; /* NULL when there is no usable cached copy */
    size_t len;
    char etag[VALIDATOR_MAX];          /* "" when unknown or the meta is unusable */
    char last_modified[VALIDATOR_MAX]; /* same */
};

struct transfer {
    struct ty_buf body;
    size_t max_bytes;
    int is_over;
    char etag[VALIDATOR_MAX];
    char last_modified[VALIDATOR_MAX];
};

static int has_ctl_or_space(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int url_check(const char *url, struct ty_error *err)
{
    if (!url || !*url)
        return ty_error_set(err, TY_EINVAL, "GET: empty URL");
    if (strlen(url) > URL_MAX)
        return ty_error_set(err, TY_EINVAL, "GET: URL longer than %d bytes", URL_MAX);
    if (has_ctl_or_space(url))
        return ty_error_set(err, TY_EINVAL, "GET: URL contains spaces or control characters");
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return ty_error_set(err, TY_EINVAL, "GET %s: only http and https URLs are fetched", url);
    return TY_OK;
}

static void cached_cleanup(struct cached *c)
{
    free(c->body);
    c->body = NULL;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* Copies a validator from the meta; one that could split a request header (a
 * tampered meta) is never sent back. */
static void copy_validator(char *dst, json_t *meta, const char *key)
{
    const char *v = json_string_value(json_object_get(meta, key));
    dst[0] = '\0';
    if (v && strlen(v) < VALIDATOR_MAX && !has_ctl(v))
        ty_strlcpy(dst, v, VALIDATOR_MAX);
}

/* Loads the cached copy of url, if any, into c.  Never fails: an unreadable
 * cache is no cache. */
static void cache_load(struct cached *c,
                       const char *body_path,
                       const char *meta_path,
                       const char *url,
                       size_t max_bytes)
{
    char *meta_text = NULL;
    json_t *meta = NULL;
    char hex[65];
    const char *want;

    memset(c, 0, sizeof *c);
    if (ty_file_read(&c->body, &c->len, body_path, max_bytes, NULL) < 0)
        return;
    if (ty_file_read(&meta_text, NULL, meta_path, META_MAX, NULL) < 0)
        return;
    meta = json_loads(meta_text, 0, NULL);
    free(meta_text);
    if (!json_is_object(meta))
        goto out;
    ty_sha256_hex(hex, c->body, c->len);
    want = json_string_value(json_object_get(meta, "sha256"));
    if (!want || strcmp(want, hex) != 0)
        goto out;
    if (!json_string_value(json_object_get(meta, "url")) ||
        strcmp(json_string_value(json_object_get(meta, "url")), url) != 0)
        goto out;
    copy_validator(c->etag, meta, "etag");
    copy_validator(c->last_modified, meta, "last_modified");
out:
    json_decref(meta);
}

/* Writes the meta of url, and its body too when is_new.  Holds cache_mu. */
static int cache_store(const char *dir,
                       const char *body_path,
                       const char *meta_path,
                       const char *url,
                       const char *body,
                       size_t len,
                       int is_new,
                       const char *etag,
                       const char *last_modified,
                       struct ty_error *err)
{
    json_t *meta = json_object();
    char hex[65], when[40];
    char *text = NULL;
    int rc;

    ty_sha256_hex(hex, body, len);
    ty_time_format_iso(when, sizeof when, ty_time_now_ms(), 0);
    json_object_set_new(meta, "url", json_string(url));
    json_object_set_new(meta, "etag", *etag ? json_string(etag) : json_null());
    json_object_set_new(meta, "last_modified",
                        *last_modified ? json_string(last_modified) : json_null());
    json_object_set_new(meta, "fetched_at", json_string(when));
    json_object_set_new(meta, "sha256", json_string(hex));
    json_object_set_new(meta, "size", json_integer((json_int_t)len));
    text = json_dumps(meta, JSON_INDENT(1) | JSON_SORT_KEYS);
    pthread_mutex_lock(&cache_mu);
    if ((rc = ty_mkdir_p(dir, err)) < 0)
        goto out;
    if (is_new && (rc = ty_file_write_atomic(body_path, body, len, err)) < 0)
        goto out;
    rc = ty_file_write_atomic(meta_path, text, strlen(text), err);
out:
    pthread_mutex_unlock(&cache_mu);
    if (rc < 0)
        ty_error_wrap(err, "GET %s: cache: ", url);
    free(text);
    json_decref(meta);
    return rc;
}

static size_t on_body(char *data, size_t size, size_t n, void *payload)
{
    struct transfer *t = payload;
    size_t len = size * n;
    if (len > t->max_bytes - t->body.len) {
        t->is_over = 1;
        return 0; /* aborts with CURLE_WRITE_ERROR */
    }
    ty_buf_append(&t->body, data, len);
    return len;
}

/* Keeps the value of header name from line, trimmed, if it fits. */
static void header_take(char *dst, const char *line, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *v, *end = line + len;
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    v = line + nl + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if ((size_t)(end - v) >= VALIDATOR_MAX || memchr(v, '\r', (size_t)(end - v)) ||
        memchr(v, '\n', (size_t)(end - v)))
        return;
    memcpy(dst, v, (size_t)(end - v));
    dst[end - v] = '\0';
}

static size_t on_header(char *line, size_t size, size_t n, void *payload)
{
    struct transfer *t = payload;
    size_t len = size * n;
    /* Each response of a redirect chain starts with a status line: only the
     * last response's validators count. */
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        t->etag[0] = '\0';
        t->last_modified[0] = '\0';
        return len;
    }
    header_take(t->etag, line, len, "ETag");
    header_take(t->last_modified, line, len, "Last-Modified");
    return len;
}

static void give(char **out, size_t *len_out, char *body, size_t len)
{
    *out = body;
    if (len_out)
        *len_out = len;
}

int fetch_http_get_ex(char **out,
                      size_t *len_out,
                      int *is_stale_out,
                      const char *url,
                      const struct fetch_http_opts *opts,
                      struct ty_error *err)
{
    static const struct fetch_http_opts defaults = FETCH_HTTP_OPTS_INIT;
    struct cached c;
    struct transfer t;
    char errbuf[CURL_ERROR_SIZE];
    char hex[65];
    char *dir = NULL, *body_path = NULL, *meta_path = NULL, *hdr = NULL;
    struct curl_slist *headers = NULL;
    CURL *curl = NULL;
    CURLcode cres;
    long status = 0;
    int rc = TY_OK, is_stale = 0;

    *out = NULL;
    if (len_out)
        *len_out = 0;
    if (is_stale_out)
        *is_stale_out = 0;
    memset(&c, 0, sizeof c);
    memset(&t, 0, sizeof t);
    ty_buf_init(&t.body);
    if (!opts)
        opts = &defaults;
    if ((rc = url_check(url, err)) < 0) {
        fetch_error_scrub(err, url);
        return rc;
    }
    t.max_bytes = opts->max_bytes ? opts->max_bytes : FETCH_HTTP_MAX_BYTES_DEFAULT;
    if (opts->cache_dir && *opts->cache_dir) {
        ty_sha256_hex(hex, url, strlen(url));
        dir = ty_xasprintf("%s/http", opts->cache_dir);
        body_path = ty_xasprintf("%s/%s", dir, hex);
        meta_path = ty_xasprintf("%s/%s.meta", dir, hex);
        cache_load(&c, body_path, meta_path, url, t.max_bytes);
    }

    curl = curl_easy_init();
    if (!curl) {
        rc = ty_error_set(err, TY_ERR, "GET %s: cannot create a curl handle", url);
        goto out;
    }
    errbuf[0] = '\0';
    if (c.body && c.etag[0]) {
        hdr = ty_xasprintf("If-None-Match: %s", c.etag);
        headers = curl_slist_append(headers, hdr);
        free(hdr);
    }
    if (c.body && c.last_modified[0]) {
        hdr = ty_xasprintf("If-Modified-Since: %s", c.last_modified);
        headers = curl_slist_append(headers, hdr);
        free(hdr);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, (long)FETCH_HTTP_MAX_REDIRECTS);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                  : FETCH_HTTP_CONNECT_TIMEOUT_MS_DEFAULT);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     opts->timeout_ms > 0 ? opts->timeout_ms : FETCH_HTTP_TIMEOUT_MS_DEFAULT);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t.max_bytes);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tycho/" TY_VERSION);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    if (headers)
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

    cres = curl_easy_perform(curl);
    if (cres != CURLE_OK) {
        const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cres);
        if (t.is_over || cres == CURLE_FILESIZE_EXCEEDED) {
            rc = ty_error_set(err, TY_ELIMIT, "GET %s: body over the limit of %zu bytes", url,
                              t.max_bytes);
        } else if (cres == CURLE_UNSUPPORTED_PROTOCOL) {
            rc = ty_error_set(err, TY_EINVAL, "GET %s: %s (only http and https are followed)", url,
                              why);
        } else if (c.body) {
            is_stale = 1;
        } else {
            rc = ty_error_set(err, cres == CURLE_OPERATION_TIMEDOUT ? TY_ETIMEOUT : TY_EUPSTREAM,
                              "GET %s: %s", url, why);
        }
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 304 && c.body) {
        /* Revalidated: keep the body, refresh the meta (validators may change). */
        rc = cache_store(dir, body_path, meta_path, url, c.body, c.len, 0,
                         t.etag[0] ? t.etag : c.etag,
                         t.last_modified[0] ? t.last_modified : c.last_modified, err);
        goto out;
    }
    if (status >= 200 && status < 300) {
        if (dir && (rc = cache_store(dir, body_path, meta_path, url, ty_buf_cstr(&t.body),
                                     t.body.len, 1, t.etag, t.last_modified, err)) < 0)
            goto out;
        size_t len = t.body.len;
        give(out, len_out, ty_buf_detach(&t.body), len);
        goto out;
    }
    if (status >= 500 && c.body) {
        is_stale = 1;
        goto out;
    }
    rc = ty_error_set(err, status == 404 ? TY_ENOTFOUND : TY_EUPSTREAM, "GET %s: HTTP %ld", url,
                      status);
out:
    if (rc == TY_OK && !*out && c.body) {
        give(out, len_out, c.body, c.len);
        c.body = NULL;
        if (is_stale_out)
            *is_stale_out = is_stale;
    }
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
    ty_buf_cleanup(&t.body);
    cached_cleanup(&c);
    free(meta_path);
    free(body_path);
    free(dir);
    if (rc < 0)
        fetch_error_scrub(err, url);
    return rc;
}

int fetch_http_get(char **out,
                   size_t *len_out,
                   const char *url,
                   const char *cache_dir,
                   size_t max_bytes,
                   struct ty_error *err)
{
    struct fetch_http_opts opts = FETCH_HTTP_OPTS_INIT;
    opts.cache_dir = cache_dir;
    opts.max_bytes = max_bytes;
    return fetch_http_get_ex(out, len_out, NULL, url, &opts, err);
}

int fetch_http_post_json(const char *url,
                         const char *json_text,
                         long timeout_ms,
                         struct ty_error *err)
{
    struct transfer t;
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE];
    CURL *curl;
    CURLcode cres;
    long status = 0;
    int rc;

    if ((rc = url_check(url, err)) < 0) {
        fetch_error_scrub(err, url);
        return rc;
    }
    memset(&t, 0, sizeof t);
    ty_buf_init(&t.body);
    t.max_bytes = 64 << 10;
    curl = curl_easy_init();
    if (!curl)
        return ty_error_set(err, TY_ERR, "POST %s: cannot create a curl handle", url);
    errbuf[0] = '\0';
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json_text);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json_text));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 5000L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tycho/" TY_VERSION);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    cres = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (cres != CURLE_OK && !t.is_over) /* a long answer is cut short on purpose */
        rc = ty_error_set(err, cres == CURLE_OPERATION_TIMEDOUT ? TY_ETIMEOUT : TY_EUPSTREAM,
                          "POST %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cres));
    else if (status < 200 || status >= 300)
        rc = ty_error_set(err, TY_EUPSTREAM, "POST %s: HTTP %ld", url, status);
    else
        rc = 0;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    ty_buf_cleanup(&t.body);
    if (rc < 0)
        fetch_error_scrub(err, url);
    return rc;
}
