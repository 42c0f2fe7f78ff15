/*
 * fetch_scrub.c - keeping credentials embedded in URLs out of error messages.
 *
 * Registry URLs may carry a token (https://user:token@host/repo.git).  Messages
 * are built from the URL here and by libgit2 and libcurl, so rather than
 * redacting at every place a message is made, each public entry point scrubs
 * its final message once.
 */
#include "fetch/fetch_int.h"
#include "util/str.h"

#include <string.h>

void fetch_error_scrub(struct ty_error *err, const char *url)
{
    const char *start, *end, *at = NULL, *p;
    char out[TY_ERROR_MSG_MAX];
    size_t ulen, o = 0;

    if (!err || !url || !(start = strstr(url, "://")))
        return;
    start += 3;
    end = start + strcspn(start, "/?#");
    for (p = start; p < end; p++)
        if (*p == '@')
            at = p;
    if (!at || at == start)
        return;
    ulen = (size_t)(at - start);
    for (p = err->msg; *p && o + 4 < sizeof out;) {
        if (strncmp(p, start, ulen) == 0) {
            memcpy(out + o, "***", 3);
            o += 3;
            p += ulen;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    ty_strlcpy(err->msg, out, sizeof err->msg);
}
