/*
 * error.c - formatting of struct ty_error.  See error.h for the convention.
 */
#include "util/error.h"

#include <stdio.h>
#include <string.h>

int ty_error_vset(struct ty_error *err, enum ty_code code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
    return code;
}

int ty_error_set(struct ty_error *err, enum ty_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ty_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int ty_error_wrap(struct ty_error *err, const char *fmt, ...)
{
    char old[TY_ERROR_MSG_MAX];
    char prefix[TY_ERROR_MSG_MAX];
    va_list ap;

    if (!err)
        return TY_ERR;
    if (err->code == TY_OK)
        err->code = TY_ERR;
    /* Copy first: the arguments may point into err->msg. */
    memcpy(old, err->msg, sizeof(old));
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    snprintf(err->msg, sizeof(err->msg), "%s%s", prefix, old);
    return err->code;
}

void ty_error_clear(struct ty_error *err)
{
    if (err) {
        err->code = TY_OK;
        err->msg[0] = '\0';
    }
}

const char *ty_code_name(enum ty_code code)
{
    switch (code) {
    case TY_OK:
        return "ok";
    case TY_ENOTFOUND:
        return "not_found";
    case TY_EEXISTS:
        return "already_exists";
    case TY_EINVAL:
        return "invalid";
    case TY_ECONFLICT:
        return "conflict";
    case TY_EUPSTREAM:
        return "upstream";
    case TY_ETIMEOUT:
        return "timeout";
    case TY_EAUTH:
        return "unauthorized";
    case TY_EFORBIDDEN:
        return "forbidden";
    case TY_ELIMIT:
        return "limit";
    case TY_EGONE:
        return "gone";
    case TY_ERR:
    default:
        return "error";
    }
}
