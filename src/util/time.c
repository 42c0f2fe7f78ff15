/*
 * time.c - clocks and ISO-8601 formatting (see time.h).
 */
#include "util/time.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t ty_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ty_time_mono_ms(void)
{
    return ty_time_mono_ns() / 1000000;
}

int64_t ty_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *ty_time_format_iso(char *out, size_t n, int64_t ms, int with_ms)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    if (with_ms)
        snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    else
        snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return out;
}

static int digits(const char **p, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

int ty_time_parse_iso(const char *s, int64_t *ms_out)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, ms = 0;
    int64_t offset_min = 0;
    struct tm tm;

    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec))
        return -1;
    if (*p == '.') {
        int scale = 100;
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p)) {
            ms += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms_out = ((int64_t)timegm(&tm) - offset_min * 60) * 1000 + ms;
    return 0;
}

int ty_duration_parse(const char *s, int64_t *ms_out)
{
    int64_t total = 0;
    const char *p = s;

    if (!s || !*s)
        return -1;
    while (*p) {
        int64_t v = 0, unit;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p)) {
            if (v > INT64_MAX / 10 - 10)
                return -1;
            v = v * 10 + (*p++ - '0');
        }
        if (!strncmp(p, "ms", 2)) {
            unit = 1;
            p += 2;
        } else if (*p == 's' || *p == '\0') {
            unit = 1000;
            p += *p ? 1 : 0;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else if (*p == 'd') {
            unit = 86400000;
            p++;
        } else {
            return -1;
        }
        if (v > (INT64_MAX - total) / unit)
            return -1;
        total += v * unit;
    }
    *ms_out = total;
    return 0;
}

char *ty_duration_format(char *out, size_t n, int64_t ms)
{
    int64_t s = ms / 1000;
    size_t off = 0;

    if (s <= 0) {
        snprintf(out, n, ms > 0 ? "%lldms" : "0s", (long long)ms);
        return out;
    }
    if (s >= 86400) {
        off += (size_t)snprintf(out + off, n - off, "%lldd", (long long)(s / 86400));
        s %= 86400;
    }
    if (s >= 3600 && off < n) {
        off += (size_t)snprintf(out + off, n - off, "%lldh", (long long)(s / 3600));
        s %= 3600;
    }
    if (s >= 60 && off < n) {
        off += (size_t)snprintf(out + off, n - off, "%lldm", (long long)(s / 60));
        s %= 60;
    }
    if ((s > 0 || off == 0) && off < n)
        snprintf(out + off, n - off, "%llds", (long long)s);
    return out;
}

static int64_t system_now(void *payload)
{
    (void)payload;
    return ty_time_now_ms();
}

const struct ty_clock *ty_clock_system(void)
{
    static const struct ty_clock c = {system_now, NULL};
    return &c;
}

struct timespec ty_time_deadline(clockid_t clock, int64_t ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}
