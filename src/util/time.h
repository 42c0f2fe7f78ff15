/*
 * time.h - wall-clock and monotonic time in milliseconds, and formatting.
 *
 * Everything that makes decisions on time (session deadlines, the reaper) takes
 * a struct ty_clock so tests can drive it; ty_clock_system() is the real one.
 */
#ifndef TY_UTIL_TIME_H
#define TY_UTIL_TIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t ty_time_now_ms(void);
/* Milliseconds of CLOCK_MONOTONIC, for measuring durations. */
int64_t ty_time_mono_ms(void);
/* Nanoseconds of CLOCK_MONOTONIC, for benchmarks. */
int64_t ty_time_mono_ns(void);
/* The absolute time ms milliseconds from now on clock (CLOCK_REALTIME or
 * CLOCK_MONOTONIC): the deadline pthread_cond_timedwait takes. */
struct timespec ty_time_deadline(clockid_t clock, int64_t ms);

/* Writes "2026-11-23T09:30:00Z" (with_ms=0) or "2026-11-23T09:30:00.123Z" (UTC).
 * Returns out. */
char *ty_time_format_iso(char *out, size_t n, int64_t ms, int with_ms);
/* Parses RFC 3339 ("2026-11-23T09:30:00Z", optional fraction and offset).
 * Returns 0 and sets *ms_out, or -1 when malformed. */
int ty_time_parse_iso(const char *s, int64_t *ms_out);

/* Parses a duration: "90" or "90s", "15m", "2h", "1d", "1h30m", "500ms".
 * Returns 0 and sets *ms_out, or -1 when malformed or negative. */
int ty_duration_parse(const char *s, int64_t *ms_out);
/* Writes a duration as "1h30m", "45s", "0s". Returns out. */
char *ty_duration_format(char *out, size_t n, int64_t ms);

/* An injectable clock: now_ms() returns wall-clock milliseconds. */
struct ty_clock {
    int64_t (*now_ms)(void *payload);
    void *payload;
};
/* The real clock (static storage; never free it). */
const struct ty_clock *ty_clock_system(void);
static inline int64_t ty_clock_now(const struct ty_clock *c)
{
    return c->now_ms(c->payload);
}

#endif
