/*
 * kube_int.h - private to src/kube/: the pieces of the client that are pure
 * functions (paths, query encoding, base64, backoff, Status mapping, watch
 * line splitting) so unit tests can reach them, and the shared client state.
 */
#ifndef TY_KUBE_KUBE_INT_H
#define TY_KUBE_KUBE_INT_H

#include "kube/kube.h"
#include "util/buf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- paths and queries (kube_util.c) ---- */

/* Appends s percent-encoded (everything but RFC 3986 unreserved bytes). */
void kube_url_escape(struct ty_buf *b, const char *s);
/* Appends "/api/v1" or "/apis/GROUP/VERSION", then "/namespaces/NS" unless ns
 * is "" (all namespaces), then "/RESOURCE" and "/NAME" when name is not NULL. */
void kube_path_build(struct ty_buf *b, enum kube_kind kind, const char *ns, const char *name);
/* Appends "?k=v" or "&k=v" (v percent-encoded; b must hold the path). Skips a
 * NULL value. */
void kube_query_add(struct ty_buf *b, const char *key, const char *value);

/* Decodes standard base64 (whitespace ignored, padding optional) into a new
 * NUL-terminated buffer.  Returns 0 or TY_EINVAL. */
int kube_base64_decode(char **out, size_t *len_out, const char *in, struct ty_error *err);

/* True when host (of a URL like "http://127.0.0.1:8080") is a loopback name. */
bool kube_url_is_loopback(const char *url);

/* Delay before retry number `attempt` (1 = first retry): full-jittered
 * exponential backoff in [d/2, d] with d = min(max, base * 2^(attempt-1)),
 * rnd supplying the randomness; a server's Retry-After (retry_after_ms > 0)
 * wins when longer, capped at 60 s. */
long kube_backoff_ms(int attempt, int base_ms, int max_ms, long retry_after_ms, uint32_t rnd);

/* True for HTTP statuses worth retrying: 429 and 5xx other than 501. */
bool kube_status_retryable(long http);

/* Sets err from an HTTP error status and its body (a Kubernetes Status when
 * the server is one), prefixed with `what` ("GET /api/v1/..."): 404 ENOTFOUND,
 * 409 AlreadyExists EEXISTS else ECONFLICT, 401 EAUTH, 403 EFORBIDDEN, 410
 * EGONE, 400/405/415/422 EINVAL, 429 and 5xx EUPSTREAM, others TY_ERR.
 * Returns the code.  *retry_after_s_out (may be NULL) receives
 * details.retryAfterSeconds when present, else 0. */
int kube_status_error(struct ty_error *err,
                      long http,
                      const char *body,
                      size_t len,
                      const char *what,
                      long *retry_after_s_out);

/* Maps a Status object's code/reason (as in a watch ERROR event). */
int kube_status_object_error(struct ty_error *err, const json_t *status, const char *what);

/* ---- watch stream splitting (kube_util.c) ---- */

typedef int (*kube_line_fn)(const char *line, size_t len, void *payload);

struct kube_lines {
    struct ty_buf pending; /* bytes of an unfinished line */
    size_t max_line;
};

void kube_lines_init(struct kube_lines *l, size_t max_line);
void kube_lines_cleanup(struct kube_lines *l);
/* Feeds bytes; calls fn for every complete non-empty line (without "\n" or
 * "\r\n").  Returns 0, fn's nonzero result (feeding stops there), or
 * TY_ELIMIT when a line grows beyond max_line. */
int kube_lines_feed(
    struct kube_lines *l, const char *data, size_t len, kube_line_fn fn, void *payload);
/* Delivers an unterminated last line, if any (end of stream). */
int kube_lines_finish(struct kube_lines *l, kube_line_fn fn, void *payload);

/* ---- exec credential plugins (kube_exec.c) ---- */

struct kube_exec_cred {
    char *token;       /* or NULL */
    char *cert_pem;    /* clientCertificateData, or NULL */
    char *key_pem;     /* clientKeyData, or NULL */
    int64_t expiry_ms; /* wall clock; 0 = no expiry given */
};

void kube_exec_cred_cleanup(struct kube_exec_cred *c);
/* Runs the plugin (KUBERNETES_EXEC_INFO set; cluster info when asked) and
 * parses its ExecCredential.  Returns 0, or TY_EAUTH with the plugin's stderr
 * in the message. */
int kube_exec_run(struct kube_exec_cred *out,
                  const struct kube_exec_config *e,
                  const char *server,
                  const char *ca_pem,
                  bool insecure,
                  struct ty_error *err);
/* Parses ExecCredential JSON text (pure; used by kube_exec_run). */
int kube_exec_parse(struct kube_exec_cred *out, const char *text, size_t len, struct ty_error *err);

/* ---- the client (kube_http.c) ---- */

#define KUBE_POOL_MAX 8

struct kube_client {
    struct kube_config cfg;
    struct kube_client_opts opts;
    char *user_agent;
    bool send_credentials;

    pthread_mutex_t lock;      /* guards the pool and the stats */
    void *pool[KUBE_POOL_MAX]; /* idle CURL handles */
    int npool;
    struct kube_client_stats stats;

    pthread_mutex_t cred_lock; /* guards the credentials below (held while a plugin runs) */
    char *token;               /* current bearer token (static, file or exec) */
    int64_t token_read_ms;     /* monotonic time of the last token file read */
    struct kube_exec_cred exec_cred;
    bool exec_valid;
    int cancelled; /* atomic */
};

/* One request.  Streaming requests (on_line set) feed a 2xx body to on_line
 * line by line instead of collecting it; on_line returning nonzero aborts the
 * transfer and kube_do() returns 0 with resp->aborted set. */
struct kube_req {
    const char *method;
    const char *path; /* path + encoded query */
    const char *body; /* NULL = none */
    size_t body_len;
    const char *content_type; /* for the body */
    kube_line_fn on_line;
    void *line_payload;
    const int *stop;
    long timeout_ms; /* 0 = opts.timeout_ms; -1 = none */
};

struct kube_resp {
    long status;
    struct ty_buf body;
    bool aborted; /* on_line or stop ended a streaming transfer */
};

/* Performs r with retries, credential refresh and error mapping.  Returns 0
 * for a 2xx answer (body in resp->body, which the caller cleans up) or an
 * error code.  Counts stats (not `calls`, which the callers count). */
int kube_do(struct kube_client *c,
            const struct kube_req *r,
            struct kube_resp *resp,
            struct ty_error *err);
/* Counts one API call and, when rc != 0, one error. */
void kube_count_call(struct kube_client *c, int rc);
void kube_count_events(struct kube_client *c, uint64_t n);

#endif
