/*
 * api_auth.c - who is calling: bearer tokens, the trusted-proxy header and
 * the anonymous loopback mode; and what each role may touch.
 *
 * Tokens are 256-bit random secrets ("tyt_" + 64 hex digits).  The database
 * keeps only sha256(token) - or HMAC-SHA256 under auth.token_secret when one
 * is configured - so a stolen database does not yield usable tokens.  Because
 * the secrets are high-entropy a single fast hash is enough (a slow password
 * hash would buy nothing and cost milliseconds per request, which is what
 * JupyterHub pays).  Lookups are cached in memory for auth.token_cache_ms, so
 * a revocation takes effect within that time (0 disables the cache); cached
 * hashes are compared in constant time.
 *
 * With no token in the database the server may run only on a loopback
 * address; then callers from loopback addresses are treated as admin (there
 * is nobody else to be), and the start-up log warns.  Once a token exists,
 * every non-public request needs one.
 *
 * Roles: admin does everything; platform acts for any user it names (a
 * `username` field or the X-Tycho-User header); user is bound to its own
 * username and sees only its own sessions - another user's session answers
 * 404, so its existence does not leak.
 */
#include "api/api_srv.h"
#include "store/store.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS 256

struct cache_entry {
    char hash[65];
    bool valid;
    enum api_role role;
    char user[128];
    int64_t id;
    int64_t expires_at;
    int64_t fetched_ms;
};

struct api_token_cache {
    struct cache_entry slots[CACHE_SLOTS];
};

static void token_hash(char out[65], const char *token, const char *secret)
{
    if (secret && secret[0])
        ty_hmac_sha256_hex(out, secret, strlen(secret), token, strlen(token));
    else
        ty_sha256_hex(out, token, strlen(token));
}

static bool ct_equal(const char *a, const char *b, size_t n)
{
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int api_username_check(const char *u, struct ty_error *err)
{
    size_t n = u ? strlen(u) : 0;
    if (n == 0)
        return ty_error_set(err, TY_EINVAL, "username must not be empty");
    if (n > 127)
        return ty_error_set(err, TY_EINVAL, "username is longer than 127 bytes");
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '/' || *p == '\\' || *p == '"')
            return ty_error_set(err, TY_EINVAL,
                                "username '%.60s' contains a space, control character, quote "
                                "or slash",
                                u);
    return 0;
}

static int count_tokens(struct api_server *srv, int64_t *out, struct ty_error *err)
{
    struct store *st = NULL;
    struct store_token *v = NULL;
    size_t n = 0;
    int rc = api_server_store_get(srv, &st, err);
    if (rc < 0)
        return rc;
    rc = store_token_list(st, &v, &n, err);
    api_server_store_put(srv, st);
    if (rc < 0)
        return rc;
    int64_t now = ty_time_now_ms(), live = 0;
    for (size_t i = 0; i < n; i++)
        if (!v[i].revoked_at && (!v[i].expires_at || v[i].expires_at > now))
            live++;
    store_tokens_free(v, n);
    *out = live;
    return 0;
}

/* Registers the configured bootstrap admin token unless its hash is known. */
static int bootstrap(struct api_server *srv, struct ty_error *err)
{
    struct store *st = NULL;
    struct store_token t;
    char hash[65];
    token_hash(hash, srv->cfg.bootstrap_token, srv->cfg.token_secret);
    memset(&t, 0, sizeof(t));
    int rc = api_server_store_get(srv, &st, err);
    if (rc < 0)
        return rc;
    rc = store_token_find_by_hash(st, hash, &t, err);
    if (rc == 0) {
        store_token_cleanup(&t);
    } else if (rc == TY_ENOTFOUND) {
        ty_error_clear(err);
        t.name = "bootstrap";
        t.role = "admin";
        t.hash = hash;
        t.created_at = ty_time_now_ms();
        rc = store_token_insert(st, &t, NULL, err);
        if (rc == 0)
            ty_info("api", "auth: registered the bootstrap admin token");
    }
    api_server_store_put(srv, st);
    return rc;
}

int api_auth_startup_check(struct api_server *srv, struct ty_error *err)
{
    int64_t n = 0;
    int rc = srv->cfg.bootstrap_token ? bootstrap(srv, err) : 0;
    if (rc < 0)
        return ty_error_wrap(err, "bootstrap token: ");
    rc = count_tokens(srv, &n, err);
    if (rc < 0)
        return ty_error_wrap(err, "tokens: ");
    srv->tokens = ty_xcalloc(1, sizeof(*srv->tokens));
    srv->token_count = n;
    srv->token_count_at = ty_time_mono_ms();
    if (n > 0) {
        ty_info("api", "auth: %lld API token(s) configured", (long long)n);
        return 0;
    }
    if (srv->cfg.proxy_user_header) {
        ty_info("api", "auth: no API tokens; users come from the %s header of %s",
                srv->cfg.proxy_user_header, srv->cfg.trusted_proxies);
        return 0;
    }
    if (!srv->listen_loopback)
        return ty_error_set(err, TY_EINVAL,
                            "no API tokens in %s and listening on %s, which is not a loopback "
                            "address: create one with `tycho token create --db %s --role admin` "
                            "or listen on 127.0.0.1",
                            srv->cfg.db, srv->cfg.listen, srv->cfg.db);
    if (!srv->cfg.allow_anonymous)
        return ty_error_set(err, TY_EINVAL, "no API tokens in %s and auth.allow_anonymous is false",
                            srv->cfg.db);
    ty_warn("api", "auth: NO API TOKENS: every request from a loopback address is treated as "
                   "admin; create tokens with `tycho token create` before exposing the server");
    return 0;
}

void api_auth_cleanup(struct api_server *srv)
{
    if (srv) {
        free(srv->tokens);
        srv->tokens = NULL;
    }
}

/* Whether any live token exists, re-counted at most every token_cache_ms. */
static bool have_tokens(struct api_server *srv)
{
    int64_t now = ty_time_mono_ms();
    pthread_mutex_lock(&srv->auth_mu);
    bool stale = now - srv->token_count_at >= srv->cfg.token_cache_ms;
    int64_t n = srv->token_count;
    pthread_mutex_unlock(&srv->auth_mu);
    if (stale) {
        struct ty_error e = TY_ERROR_INIT;
        if (count_tokens(srv, &n, &e) < 0) {
            ty_warn("api", "auth: cannot count tokens: %s", e.msg);
            return true; /* fail closed */
        }
        pthread_mutex_lock(&srv->auth_mu);
        srv->token_count = n;
        srv->token_count_at = now;
        pthread_mutex_unlock(&srv->auth_mu);
    }
    return n > 0;
}

static int token_lookup(struct api_server *srv,
                        const char *token,
                        struct api_principal *who,
                        struct ty_error *err)
{
    char hash[65];
    token_hash(hash, token, srv->cfg.token_secret);
    uint32_t slot = (uint32_t)strtoul((char[9]){hash[0], hash[1], hash[2], hash[3], hash[4],
                                                hash[5], hash[6], hash[7], 0},
                                      NULL, 16) %
                    CACHE_SLOTS;
    int64_t now_mono = ty_time_mono_ms(), now = ty_time_now_ms();
    struct cache_entry e;
    bool hit = false;
    pthread_mutex_lock(&srv->auth_mu);
    struct cache_entry *c = &srv->tokens->slots[slot];
    if (c->fetched_ms && now_mono - c->fetched_ms < srv->cfg.token_cache_ms &&
        ct_equal(c->hash, hash, 64)) {
        e = *c;
        hit = true;
    }
    pthread_mutex_unlock(&srv->auth_mu);
    if (!hit) {
        struct store *st = NULL;
        struct store_token t;
        memset(&t, 0, sizeof(t));
        memset(&e, 0, sizeof(e));
        memcpy(e.hash, hash, sizeof(hash));
        int rc = api_server_store_get(srv, &st, err);
        if (rc < 0)
            return rc;
        rc = store_token_find_by_hash(st, hash, &t, err);
        if (rc == 0) {
            e.valid = !t.revoked_at;
            e.role = api_role_parse(t.role);
            ty_strlcpy(e.user, t.username ? t.username : "", sizeof(e.user));
            e.id = t.id;
            e.expires_at = t.expires_at;
            store_token_touch(st, t.id, now, NULL);
            store_token_cleanup(&t);
        } else if (rc != TY_ENOTFOUND) {
            api_server_store_put(srv, st);
            return rc;
        }
        api_server_store_put(srv, st);
        e.fetched_ms = now_mono;
        pthread_mutex_lock(&srv->auth_mu);
        srv->tokens->slots[slot] = e;
        pthread_mutex_unlock(&srv->auth_mu);
    }
    if (!e.valid || e.role == API_ROLE_NONE)
        return ty_error_set(err, TY_EAUTH, "invalid or revoked token");
    if (e.expires_at && e.expires_at <= now)
        return ty_error_set(err, TY_EAUTH, "the token has expired");
    who->role = e.role;
    ty_strlcpy(who->user, e.user, sizeof(who->user));
    snprintf(who->token_id, sizeof(who->token_id), "tok:%lld", (long long)e.id);
    return 0;
}

static bool proxy_trusted(const struct api_server *srv, const char *ip)
{
    const char *list = srv->cfg.trusted_proxies;
    if (!list)
        return false;
    size_t n = strlen(ip);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if ((size_t)(e - p) == n && !memcmp(p, ip, n))
            return true;
        p = e;
    }
    return false;
}

int api_auth_resolve(struct api_server *srv, struct api_req *req, struct ty_error *err)
{
    struct api_principal *who = &req->who;
    memset(who, 0, sizeof(*who));
    if (srv->cfg.proxy_user_header && proxy_trusted(srv, req->remote_ip)) {
        const char *u = api_header(req, srv->cfg.proxy_user_header);
        if (u && u[0]) {
            int rc = api_username_check(u, err);
            if (rc < 0)
                return ty_error_set(err, TY_EAUTH, "%s header: %s", srv->cfg.proxy_user_header,
                                    err->msg);
            who->role = API_ROLE_USER;
            who->is_proxy = true;
            ty_strlcpy(who->user, u, sizeof(who->user));
            snprintf(who->token_id, sizeof(who->token_id), "proxy:%.30s", u);
            return 0;
        }
    }
    const char *auth = api_header(req, "Authorization");
    if (auth && auth[0]) {
        if (strncasecmp(auth, "Bearer ", 7) != 0)
            return ty_error_set(err, TY_EAUTH, "the Authorization header must be 'Bearer <token>'");
        const char *tok = auth + 7;
        while (*tok == ' ')
            tok++;
        if (!tok[0] || strlen(tok) > 256)
            return ty_error_set(err, TY_EAUTH, "invalid or revoked token");
        return token_lookup(srv, tok, who, err);
    }
    if (srv->cfg.allow_anonymous && srv->listen_loopback && api_addr_is_loopback(req->remote_ip) &&
        !have_tokens(srv)) {
        who->role = API_ROLE_ADMIN;
        who->is_anonymous = true;
        snprintf(who->token_id, sizeof(who->token_id), "anon:%.30s", req->remote_ip);
        return 0;
    }
    snprintf(who->token_id, sizeof(who->token_id), "anon:%.30s", req->remote_ip);
    return 0;
}

/* ---- per-request decisions ---------------------------------------------- */

bool api_is_admin(const struct api_req *req)
{
    return req->who.role == API_ROLE_ADMIN;
}

int api_acting_user(char *out,
                    size_t n,
                    const struct api_req *req,
                    const char *requested,
                    bool need_user,
                    struct ty_error *err)
{
    char want[128];
    /* requested may point into out: copy it before clearing out. */
    if (requested && requested[0]) {
        if (strlen(requested) >= sizeof(want))
            return ty_error_set(err, TY_EINVAL, "username is longer than 127 bytes");
        memcpy(want, requested, strlen(requested) + 1);
        requested = want;
    } else {
        requested = NULL;
    }
    out[0] = '\0';
    if (req->who.role == API_ROLE_USER) {
        const char *hdr = api_header(req, "X-Tycho-User");
        if (!requested && hdr && hdr[0])
            requested = hdr;
        if (requested && strcmp(requested, req->who.user) != 0)
            return ty_error_set(err, TY_EFORBIDDEN,
                                "a user token may act only for its own user '%s', not '%.60s'",
                                req->who.user, requested);
        ty_strlcpy(out, req->who.user, n);
        return 0;
    }
    if (!requested)
        requested = api_header(req, "X-Tycho-User");
    if (requested && requested[0]) {
        int rc = api_username_check(requested, err);
        if (rc < 0)
            return rc;
        ty_strlcpy(out, requested, n);
        return 0;
    }
    if (need_user)
        return ty_error_set(err, TY_EINVAL,
                            "name the user: a 'username' field, a ?user= parameter or the "
                            "X-Tycho-User header");
    return 0;
}

int api_may_access(const struct api_req *req, const char *owner, struct ty_error *err)
{
    if (req->who.role == API_ROLE_ADMIN || req->who.role == API_ROLE_PLATFORM)
        return 0;
    if (req->who.role == API_ROLE_USER && owner && !strcmp(owner, req->who.user))
        return 0;
    return ty_error_set(err, TY_ENOTFOUND, "no such session");
}

/* ---- token administration ----------------------------------------------- */

int api_token_create(char **token_out,
                     char id_out[40],
                     const char *db_path,
                     const char *role,
                     const char *user,
                     const char *name,
                     const char *secret,
                     struct ty_error *err)
{
    struct store *st = NULL;
    unsigned char raw[32];
    char hex[65], hash[65];
    int rc;
    *token_out = NULL;
    if (api_role_parse(role) == API_ROLE_NONE)
        return ty_error_set(err, TY_EINVAL, "role must be admin, platform or user, got '%s'",
                            role ? role : "");
    if (!strcmp(role, "user") && (!user || !user[0]))
        return ty_error_set(err, TY_EINVAL, "a user token needs --user NAME");
    if (user && user[0] && (rc = api_username_check(user, err)) < 0)
        return rc;
    ty_random_bytes(raw, sizeof(raw));
    ty_hex_encode(hex, raw, sizeof(raw));
    char *token = ty_xasprintf("tyt_%s", hex);
    token_hash(hash, token, secret);
    rc = store_open(&st, db_path, NULL, err);
    if (rc < 0)
        goto out;
    struct store_token t;
    memset(&t, 0, sizeof(t));
    char defname[160];
    snprintf(defname, sizeof(defname), "%s%s%s", role, user && user[0] ? ":" : "",
             user && user[0] ? user : "");
    t.name = (char *)(name && name[0] ? name : defname);
    t.role = (char *)role;
    t.username = (char *)(user && user[0] ? user : NULL);
    t.hash = hash;
    t.created_at = ty_time_now_ms();
    int64_t id = 0;
    rc = store_token_insert(st, &t, &id, err);
    if (rc < 0)
        goto out;
    snprintf(id_out, 40, "%lld", (long long)id);
    *token_out = token;
    token = NULL;
out:
    store_close(st);
    free(token);
    return rc;
}

int api_token_list(struct api_token_info **out,
                   size_t *n_out,
                   const char *db_path,
                   struct ty_error *err)
{
    struct store *st = NULL;
    struct store_token *v = NULL;
    size_t n = 0;
    *out = NULL;
    *n_out = 0;
    int rc = store_open(&st, db_path, NULL, err);
    if (rc < 0)
        return rc;
    rc = store_token_list(st, &v, &n, err);
    store_close(st);
    if (rc < 0)
        return rc;
    size_t k = 0;
    struct api_token_info *r = ty_xcalloc(n ? n : 1, sizeof(*r));
    for (size_t i = 0; i < n; i++) {
        if (v[i].revoked_at)
            continue;
        snprintf(r[k].id, sizeof(r[k].id), "%lld", (long long)v[i].id);
        ty_strlcpy(r[k].role, v[i].role ? v[i].role : "", sizeof(r[k].role));
        ty_strlcpy(r[k].user, v[i].username ? v[i].username : "", sizeof(r[k].user));
        ty_strlcpy(r[k].name, v[i].name ? v[i].name : "", sizeof(r[k].name));
        r[k].created_ms = v[i].created_at;
        r[k].last_used_ms = v[i].last_used_at;
        k++;
    }
    store_tokens_free(v, n);
    *out = r;
    *n_out = k;
    return 0;
}

int api_token_revoke(const char *db_path, const char *id, struct ty_error *err)
{
    int64_t n;
    if (ty_str_to_i64(id, 1, INT64_MAX, &n) < 0)
        return ty_error_set(err, TY_EINVAL, "token id must be a positive integer, got '%s'", id);
    struct store *st = NULL;
    int rc = store_open(&st, db_path, NULL, err);
    if (rc < 0)
        return rc;
    rc = store_token_revoke(st, n, ty_time_now_ms(), err);
    store_close(st);
    return rc;
}
