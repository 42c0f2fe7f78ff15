/*
 * error.h - the one error convention of the project.
 *
 * A fallible function returns int: 0 (TY_OK) or a negative enum ty_code, and
 * takes `struct ty_error *err` as its last parameter.  The callee fills err once
 * with a code and a message; each caller on the way up may prefix context with
 * ty_error_wrap(), so the final message reads like a path:
 *     "registry: contexts.helx: extends: unknown context 'commn' (app-registry.yaml:12:5)"
 * err may be NULL everywhere: the code is still returned.  The struct has a fixed
 * size so that reporting an error never allocates.
 */
#ifndef TY_UTIL_ERROR_H
#define TY_UTIL_ERROR_H

#include <stdarg.h>

enum ty_code {
    TY_OK = 0,
    TY_ERR = -1,        /* anything without a more specific code */
    TY_ENOTFOUND = -2,  /* no such object */
    TY_EEXISTS = -3,    /* already exists */
    TY_EINVAL = -4,     /* the input is malformed or out of range */
    TY_ECONFLICT = -5,  /* the object changed under us / state does not allow it */
    TY_EUPSTREAM = -6,  /* a server we called failed (5xx, transport) */
    TY_ETIMEOUT = -7,   /* a deadline passed */
    TY_EAUTH = -8,      /* not authenticated */
    TY_EFORBIDDEN = -9, /* authenticated, but not allowed */
    TY_ELIMIT = -10,    /* a limit or quota was reached */
    TY_EGONE = -11,     /* expired (Kubernetes 410) */
};

#define TY_ERROR_MSG_MAX 512

struct ty_error {
    enum ty_code code;
    char msg[TY_ERROR_MSG_MAX];
};

#define TY_ERROR_INIT {TY_OK, {0}}

/* Sets err to (code, formatted message).  Returns code, so callers can write
 * `return ty_error_set(err, TY_EINVAL, "...")`.  err may be NULL. */
int ty_error_set(struct ty_error *err, enum ty_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ty_error_vset(struct ty_error *err, enum ty_code code, const char *fmt, va_list ap);

/* Prefixes the current message with the formatted text (no separator is added:
 * write "store: insert: " yourself).  Keeps the code.  Returns err->code (or
 * TY_ERR when err is NULL).  Safe when the arguments point into err->msg. */
int ty_error_wrap(struct ty_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets err to TY_OK with an empty message. */
void ty_error_clear(struct ty_error *err);

/* Stable snake_case name of a code, for API bodies: "not_found", "invalid"... */
const char *ty_code_name(enum ty_code code);

#endif
