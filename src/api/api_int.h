/*
 * api_int.h - private to src/api/: requests, responses, route tables, auth,
 * limits and metrics shared by the resource files.
 *
 * A handler sees a parsed struct api_req (method, path parameters, query,
 * JSON body already checked against the limits, the authenticated principal)
 * and fills a struct api_resp.  It never writes to the socket (except the SSE
 * handler, through api_sse_*), and never chooses an HTTP status for an error:
 * it returns a negative ty_code with a message and api_error_status() maps the
 * code in one place.  CivetWeb types stay in api_server.c.
 */
#ifndef TY_API_API_INT_H
#define TY_API_API_INT_H

#include "api/api.h"
#include "util/error.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- principals ---------------------------------------------------------- */

enum api_role { API_ROLE_NONE = 0, API_ROLE_USER, API_ROLE_PLATFORM, API_ROLE_ADMIN };

struct api_principal {
    enum api_role role;
    char user[128];    /* the bound user (role user), the token's user, or "" */
    char token_id[40]; /* rate-limit key: token id, "anon:<ip>" or "proxy:<user>" */
    bool is_anonymous; /* no token: loopback-only admin */
    bool is_proxy;     /* authenticated by a trusted proxy header */
};

/* "admin", "platform", "user"; API_ROLE_NONE gives "none". */
const char *api_role_name(enum api_role r);
/* Parses a role name; returns API_ROLE_NONE when unknown. */
enum api_role api_role_parse(const char *s);

/* ---- requests and responses --------------------------------------------- */

#define API_MAX_PARAMS 4

struct api_server; /* api_server.c */

struct api_req {
    struct api_server *srv;
    const char *method;
    const char *path;  /* decoded path, no query */
    const char *query; /* raw query string or NULL */
    const char *route; /* the matched pattern, for metrics */
    int nparams;
    const char *param_names[API_MAX_PARAMS];
    char param_values[API_MAX_PARAMS][256];
    const char *body; /* raw body (NUL-terminated), NULL when none */
    size_t body_len;
    json_t *json; /* parsed body when the route takes JSON; owned by the router */
    struct api_principal who;
    char remote_ip[64];
    void *conn; /* the CivetWeb connection (api_server.c only) */
    bool sse_started;
};

struct api_resp {
    int status;   /* 0 = 200 */
    json_t *json; /* owned; rendered compactly */
    char *text;   /* owned raw body (when json is NULL) */
    size_t text_len;
    const char *content_type; /* static; default application/json */
    char location[256];       /* Location header when set */
    int retry_after_s;        /* Retry-After when > 0 */
    /* static; NULL = "no-store".  When set, the response also says "Vary:
     * Authorization, Cookie, X-Tycho-User", since routes answer per caller.
     * api_error_fill() resets it: errors are never cached. */
    const char *cache_control;
    /* Content-Security-Policy for HTML pages; borrowed (static or kept for
     * the process's life); NULL = none.  api_error_fill() resets it. */
    const char *csp;
    /* Owned; NULL = none.  When the request fails, api_error_fill() adds
     * these fields to the error object of the /v1 reply (beside code and
     * message) and frees them, so a handler can say more than a message (the
     * sessions holding a full limit); a successful reply ignores it. */
    json_t *error_detail;
};

typedef int (*api_handler_fn)(struct api_req *req, struct api_resp *resp, struct ty_error *err);

enum api_auth_need {
    API_AUTH_PUBLIC = 0, /* anyone, no token needed */
    API_AUTH_ANY,        /* any valid principal (user, platform, admin) */
    API_AUTH_PLATFORM,   /* platform or admin */
    API_AUTH_ADMIN,      /* admin only */
};

enum api_error_style { API_ERR_V1 = 0, API_ERR_TYCHO };

struct api_route {
    const char *method;
    const char *path; /* "/v1/sessions/:id" */
    api_handler_fn fn;
    enum api_auth_need auth;
    bool takes_json;    /* parse (and require) a JSON object body */
    bool is_stream;     /* SSE: the handler writes the response itself */
    bool json_optional; /* parse a JSON object body when one is sent */
    enum api_error_style errors;
};

/* Route tables, one per resource file; each ends with {0}. */
extern const struct api_route api_health_routes[];
extern const struct api_route api_openapi_routes[];
extern const struct api_route api_apps_routes[];
extern const struct api_route api_sessions_routes[];
extern const struct api_route api_admin_routes[];
extern const struct api_route api_tycho_routes[];
extern const struct api_route api_ui_routes[];
extern const struct api_route api_culler_routes[];

/* ---- router (pure; unit-tested) ----------------------------------------- */

enum api_match { API_MATCH_NONE = 0, API_MATCH_PATH_ONLY, API_MATCH_OK };

/* Matches path against pattern (":name" segments capture one segment, at most
 * 255 bytes, never empty).  Fills req params on success. */
bool api_path_match(const char *pattern, const char *path, struct api_req *req);
/* Finds the route for method+path in the NULL-terminated list of tables.
 * Returns API_MATCH_OK with *out set, API_MATCH_PATH_ONLY (405) with the
 * allowed methods in allow (comma-separated), or API_MATCH_NONE (404). */
enum api_match api_route_find(const struct api_route **out,
                              const struct api_route *const *tables,
                              const char *method,
                              const char *path,
                              struct api_req *req,
                              char *allow,
                              size_t allow_n);
/* Canonical path: rejects NUL, "..", "//", non-"/" starts.  Returns 0 or TY_EINVAL. */
int api_path_check(const char *path, struct ty_error *err);
const char *api_param(const struct api_req *req, const char *name);

/* ---- query strings ------------------------------------------------------ */

/* Copies the decoded value of key from the raw query into out.  Returns 1 when
 * present, 0 when absent, TY_EINVAL for bad %-escapes or a value longer than n-1.
 * A key given twice is TY_EINVAL (ambiguous). */
int api_query_get(char *out, size_t n, const char *query, const char *key, struct ty_error *err);
/* Fails with TY_EINVAL naming the first key not in allowed (NULL-terminated). */
int api_query_check(const char *query, const char *const *allowed, struct ty_error *err);
/* Integer query parameter in [min,max]; absent leaves *out. */
int api_query_int(int64_t *out,
                  const char *query,
                  const char *key,
                  int64_t min,
                  int64_t max,
                  struct ty_error *err);

/* ---- JSON bodies -------------------------------------------------------- */

enum api_jtype {
    API_J_STRING = 1,
    API_J_INT,
    API_J_NUMBER, /* integer or real */
    API_J_BOOL,
    API_J_OBJECT,
    API_J_ARRAY,
    API_J_STRMAP, /* object whose values are all strings */
    API_J_ANY,
    API_J_STRING_OR_OBJECT,
    API_J_NUMBER_OR_STRING,
};

struct api_field {
    const char *name;
    enum api_jtype type;
    bool required;
    bool nullable;
};

/* Checks an object against fields (ends with {0}): unknown members, missing
 * required ones and wrong types are TY_EINVAL naming the field as
 * "<where>.<name>". */
int api_fields_check(const json_t *obj,
                     const struct api_field *fields,
                     const char *where,
                     struct ty_error *err);
/* Deepest nesting of arrays/objects in raw JSON text (strings skipped). */
int api_json_depth(const char *text, size_t len);
const char *api_jtype_name(enum api_jtype t);
const char *api_json_type_name(const json_t *v);

/* ---- errors ------------------------------------------------------------- */

/* The one mapping from ty_code to HTTP status. */
int api_error_status(enum ty_code code);
/* Fills resp with the error body for the style and the mapped status. */
void api_error_fill(struct api_resp *resp, enum api_error_style style, const struct ty_error *err);

/* ---- responses ---------------------------------------------------------- */

void api_resp_json(struct api_resp *resp, int status, json_t *body); /* steals body */
void api_resp_text(struct api_resp *resp,
                   int status,
                   const char *ctype,
                   const char *text,
                   size_t len); /* copies text */
void api_resp_static(struct api_resp *resp,
                     const char *ctype,
                     const unsigned char *data,
                     size_t len); /* copies */

/* ---- SSE (api_server.c) ------------------------------------------------- */

/* Sends the SSE response head once.  Returns 0 or -1 when the client left. */
int api_sse_begin(struct api_req *req);
/* Sends "event: name\ndata: <json>\n\n"; data is borrowed.  -1 when the client left. */
int api_sse_event(struct api_req *req, const char *event, const json_t *data);
/* Sends ": comment\n\n" (keepalive).  -1 when the client left. */
int api_sse_comment(struct api_req *req, const char *comment);

/* ---- auth (api_auth.c) ------------------------------------------------- */

/* The username a request acts for.  requested may be NULL or "".
 *  user role: requested must be absent or equal to its own user;
 *  platform: requested, else the X-Tycho-User header, else TY_EINVAL
 *            when need_user, else "" (all users);
 *  admin:    the same as platform but "" (all users) is fine.
 * Writes into out (size n). */
int api_acting_user(char *out,
                    size_t n,
                    const struct api_req *req,
                    const char *requested,
                    bool need_user,
                    struct ty_error *err);
/* 0 when the principal may see/touch a session owned by owner, else
 * TY_ENOTFOUND (users never learn that another user's session exists). */
int api_may_access(const struct api_req *req, const char *owner, struct ty_error *err);
bool api_is_admin(const struct api_req *req);
/* Usernames: 1-127 bytes, no spaces, control characters, quotes or slashes. */
int api_username_check(const char *u, struct ty_error *err);

/* A request header value or NULL (api_server.c). */
const char *api_header(const struct api_req *req, const char *name);

/* ---- metrics (api_metrics.c) -------------------------------------------- */

struct api_metrics;
struct api_metrics *api_metrics_new(void);
void api_metrics_free(struct api_metrics *m);
void api_metrics_observe_request(
    struct api_metrics *m, const char *method, const char *route, int status, double seconds);
void api_metrics_observe_launch(struct api_metrics *m, double seconds, bool ok);
void api_metrics_observe_stop(struct api_metrics *m, double seconds, bool ok);
void api_metrics_count_ratelimited(struct api_metrics *m);
/* Appends this module's series in Prometheus text format to out. */
struct ty_buf;
void api_metrics_render_own(struct api_metrics *m, struct ty_buf *out);

/* ---- rate limit (api_ratelimit.c) -------------------------------------- */

struct api_ratelimit;
struct api_ratelimit *api_ratelimit_new(double rate_per_s, double burst);
void api_ratelimit_free(struct api_ratelimit *rl);
/* Takes one token for key at now_ms.  Returns 0 when allowed, else the seconds
 * to wait (>= 1) before one token is available. */
int api_ratelimit_take(struct api_ratelimit *rl, const char *key, int64_t now_ms);

/* The OpenAPI document as JSON text (static storage), or NULL with err set. */
const char *api_openapi_json(struct ty_error *err);

/* ---- server state shared by handlers ----------------------------------- */

/* The server object (api_server.c defines the struct); accessors: */
const struct api_config *api_server_config(const struct api_server *srv);
struct api_metrics *api_server_metrics(struct api_server *srv);
bool api_server_is_simulated(const struct api_server *srv);
const char *api_server_cluster_url(const struct api_server *srv);
int64_t api_server_started_ms(const struct api_server *srv);

#endif
