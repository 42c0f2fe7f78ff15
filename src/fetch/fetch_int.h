/*
 * fetch_int.h - private to src/fetch/: the socket stream libgit2 uses for
 * git://, http:// and (under TLS) https:// remotes, with deadlines.
 */
#ifndef TY_FETCH_INT_H
#define TY_FETCH_INT_H

#include "util/error.h"

#include <stdint.h>

/* Registers the stream with libgit2 (GIT_STREAM_STANDARD).  Called once by
 * fetch_global_init() after git_libgit2_init(). */
void fetch_stream_register(void);

/* Sets the calling thread's deadline (CLOCK_MONOTONIC ms) for every connect,
 * read and write of the streams it drives, and clears the timed-out flag.
 * 0 removes the deadline. */
void fetch_stream_deadline_set(int64_t deadline_ms);

/* True when a stream of the calling thread gave up on the deadline since the
 * last fetch_stream_deadline_set(). */
int fetch_stream_timed_out(void);

/* Replaces the userinfo of url ("user:token" in scheme://user:token@host/...)
 * wherever it appears in err->msg with "***", so credentials in a registry URL
 * never reach logs or API replies.  err may be NULL. */
void fetch_error_scrub(struct ty_error *err, const char *url);

#endif
