/*
 * fetch_stream.c - a socket stream for libgit2 that honours a deadline.
 *
 * libgit2 1.5 has no connect or read timeout: a remote that accepts the
 * connection and then says nothing blocks a fetch (and with it the registry's
 * refresh) for ever, and the transfer callbacks that fetch_git.c uses for its
 * limits are never called while libgit2 sits in recv().  libgit2 lets an
 * application supply the plain socket stream (git_stream_register), which its
 * git:// and http:// transports use directly and its OpenSSL stream wraps for
 * https://.  This one is non-blocking underneath and waits with poll() until
 * the calling thread's deadline; the deadline is thread-local because libgit2
 * drives a fetch entirely on the caller's thread.  ssh:// goes through libssh2,
 * which opens its own socket, so it is not covered.
 *
 * Name resolution (getaddrinfo) cannot be bounded this way; it uses the
 * resolver's own timeouts.
 */
#include "fetch/fetch_int.h"
#include "util/mem.h"
#include "util/time.h"

#include <errno.h>
#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* Without a deadline set, a stream still gives up after this long idle. */
#define IDLE_DEFAULT_MS 120000

static _Thread_local int64_t tl_deadline_ms;
static _Thread_local int tl_timed_out;

struct tstream {
    git_stream parent;
    char *host;
    char *port;
    int fd;
};

void fetch_stream_deadline_set(int64_t deadline_ms)
{
    tl_deadline_ms = deadline_ms;
    tl_timed_out = 0;
}

int fetch_stream_timed_out(void)
{
    return tl_timed_out;
}

/* Waits for events on fd until the deadline.  Returns 1 when ready, 0 on
 * timeout (flagged and reported to libgit2), -1 on error. */
static int wait_fd(int fd, short events, const char *what)
{
    int64_t deadline = tl_deadline_ms ? tl_deadline_ms : ty_time_mono_ms() + IDLE_DEFAULT_MS;
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int64_t left = deadline - ty_time_mono_ms();
        int rc;
        if (left <= 0) {
            tl_timed_out = 1;
            git_error_set_str(GIT_ERROR_NET, what);
            return 0;
        }
        rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR) {
            git_error_set_str(GIT_ERROR_OS, strerror(errno));
            return -1;
        }
    }
}

static int ts_connect(git_stream *gs)
{
    struct tstream *s = (struct tstream *)gs;
    struct addrinfo hints, *res = NULL, *ai;
    char msg[512];
    int rc, last_errno = 0;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(s->host, s->port, &hints, &res);
    if (rc != 0) {
        snprintf(msg, sizeof msg, "failed to resolve address for %s: %s", s->host,
                 gai_strerror(rc));
        git_error_set_str(GIT_ERROR_NET, msg);
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            s->fd = fd;
            break;
        }
        if (errno != EINPROGRESS) {
            last_errno = errno;
            close(fd);
            continue;
        }
        rc = wait_fd(fd, POLLOUT, "connection timed out");
        if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
            s->fd = fd;
            break;
        }
        close(fd);
        if (rc <= 0) {
            freeaddrinfo(res);
            return -1;
        }
        last_errno = soerr;
    }
    freeaddrinfo(res);
    if (s->fd < 0) {
        snprintf(msg, sizeof msg, "failed to connect to %s:%s: %s", s->host, s->port,
                 strerror(last_errno ? last_errno : ECONNREFUSED));
        git_error_set_str(GIT_ERROR_NET, msg);
        return -1;
    }
    return 0;
}

static ssize_t ts_read(git_stream *gs, void *data, size_t len)
{
    struct tstream *s = (struct tstream *)gs;
    for (;;) {
        ssize_t n = recv(s->fd, data, len, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            git_error_set_str(GIT_ERROR_NET, strerror(errno));
            return -1;
        }
        if (wait_fd(s->fd, POLLIN, "timed out waiting for the remote") != 1)
            return -1;
    }
}

static ssize_t ts_write(git_stream *gs, const char *data, size_t len, int flags)
{
    struct tstream *s = (struct tstream *)gs;
    size_t off = 0;
    (void)flags;
    while (off < len) {
        ssize_t n = send(s->fd, data + off, len - off, MSG_NOSIGNAL);
        if (n >= 0) {
            off += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            git_error_set_str(GIT_ERROR_NET, strerror(errno));
            return -1;
        }
        if (wait_fd(s->fd, POLLOUT, "timed out sending to the remote") != 1)
            return -1;
    }
    return (ssize_t)len;
}

static int ts_close(git_stream *gs)
{
    struct tstream *s = (struct tstream *)gs;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    return 0;
}

static void ts_free(git_stream *gs)
{
    struct tstream *s = (struct tstream *)gs;
    if (!s)
        return;
    ts_close(gs);
    free(s->host);
    free(s->port);
    free(s);
}

static int ts_new(git_stream **out, const char *host, const char *port)
{
    struct tstream *s = ty_xcalloc(1, sizeof *s);
    s->parent.version = GIT_STREAM_VERSION;
    s->parent.encrypted = 0;
    s->parent.proxy_support = 0;
    s->parent.connect = ts_connect;
    s->parent.read = ts_read;
    s->parent.write = ts_write;
    s->parent.close = ts_close;
    s->parent.free = ts_free;
    s->host = ty_xstrdup(host);
    s->port = ty_xstrdup(port);
    s->fd = -1;
    *out = &s->parent;
    return 0;
}

void fetch_stream_register(void)
{
    git_stream_registration reg;
    memset(&reg, 0, sizeof reg);
    reg.version = GIT_STREAM_VERSION;
    reg.init = ts_new;
    reg.wrap = NULL;
    git_stream_register(GIT_STREAM_STANDARD, &reg);
}
