/*
 * store_token.c - API tokens, stored only as hashes.
 *
 * The API layer hashes a presented bearer token (sha256 or HMAC of a
 * high-entropy secret: cheap, unlike JupyterHub's 16,384 sha512 rounds per
 * request) and looks the hash up here through the UNIQUE index.  Revocation
 * and expiry are recorded, not enforced: the caller reads them and decides.
 */
#include "store/store_int.h"

#include "util/mem.h"
#include "util/str.h"

#include <stdlib.h>
#include <string.h>

void store_token_cleanup(struct store_token *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->role);
    free(t->username);
    free(t->hash);
    memset(t, 0, sizeof(*t));
}

void store_tokens_free(struct store_token *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_token_cleanup(&v[i]);
    free(v);
}

static void token_from_row(sqlite3_stmt *s, struct store_token *t)
{
    memset(t, 0, sizeof(*t));
    t->id = col_i64(s, 0);
    t->name = col_dup(s, 1);
    t->role = col_dup(s, 2);
    t->username = col_dup(s, 3);
    t->hash = col_dup(s, 4);
    t->created_at = col_i64(s, 5);
    t->expires_at = col_i64(s, 6);
    t->last_used_at = col_i64(s, 7);
    t->revoked_at = col_i64(s, 8);
}

int store_token_insert(struct store *st,
                       const struct store_token *t,
                       int64_t *id_out,
                       struct ty_error *err)
{
    static const char *const roles[] = {"admin", "platform", "user", NULL};
    sqlite3_stmt *s;
    int rc;

    if (id_out)
        *id_out = 0;
    if (!t->role || !ty_str_in(t->role, roles))
        return ty_error_set(err, TY_EINVAL, "store: token role '%s' is not admin, platform or user",
                            t->role ? t->role : "(null)");
    if (!strcmp(t->role, "user") && (!t->username || !*t->username))
        return ty_error_set(err, TY_EINVAL, "store: a user token needs a username");
    if (!t->hash || strlen(t->hash) < 32)
        return ty_error_set(err, TY_EINVAL, "store: token hash missing or too short");
    if (!t->name || !*t->name)
        return ty_error_set(err, TY_EINVAL, "store: token name is required");
    rc = stmt_get(st, STMT_TOKEN_INSERT, &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, t->name);
    bind_text(s, 2, t->role);
    bind_text(s, 3, t->username);
    bind_text(s, 4, t->hash);
    sqlite3_bind_int64(s, 5, t->created_at);
    bind_time(s, 6, t->expires_at);
    bind_time(s, 7, t->last_used_at);
    bind_time(s, 8, t->revoked_at);
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, rc, err, "insert token");
        if (rc == TY_EEXISTS)
            ty_error_set(err, TY_EEXISTS, "store: a token with this hash already exists");
        return rc;
    }
    if (id_out)
        *id_out = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int store_token_find_by_hash(struct store *st,
                             const char *hash,
                             struct store_token *out,
                             struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = stmt_get(st, STMT_TOKEN_FIND, &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, hash);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        token_from_row(s, out);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = ty_error_set(err, TY_ENOTFOUND, "store: no such token");
    } else {
        rc = store_fail(st, rc, err, "find token");
    }
    stmt_done(s);
    return rc;
}

static int
token_update(struct store *st, enum stmt_id id, int64_t token_id, int64_t now, struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc = stmt_get(st, id, &s, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, token_id);
    sqlite3_bind_int64(s, 2, now);
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE)
        return store_fail(st, rc, err, "update token");
    if (sqlite3_changes(st->db) == 0)
        return ty_error_set(err, TY_ENOTFOUND, "store: no token %lld", (long long)token_id);
    return 0;
}

int store_token_touch(struct store *st, int64_t id, int64_t now, struct ty_error *err)
{
    return token_update(st, STMT_TOKEN_TOUCH, id, now, err);
}

int store_token_revoke(struct store *st, int64_t id, int64_t now, struct ty_error *err)
{
    return token_update(st, STMT_TOKEN_REVOKE, id, now, err);
}

int store_token_list(struct store *st,
                     struct store_token **out,
                     size_t *n_out,
                     struct ty_error *err)
{
    struct store_token *v = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s;
    int rc;

    *out = NULL;
    *n_out = 0;
    rc = stmt_get(st, STMT_TOKEN_LIST, &s, err);
    if (rc)
        return rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            v = ty_xrealloc(v, cap * sizeof(*v));
        }
        token_from_row(s, &v[n++]);
    }
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, rc, err, "list tokens");
        store_tokens_free(v, n);
        return rc;
    }
    *out = v;
    *n_out = n;
    return 0;
}
