/*
 * log.c - timestamped, leveled lines on stderr (see log.h).
 */
#include "util/log.h"
#include "util/time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static volatile int g_level = TY_LOG_INFO;

void ty_log_set_level(enum ty_log_level level)
{
    g_level = (int)level;
}

enum ty_log_level ty_log_get_level(void)
{
    return (enum ty_log_level)g_level;
}

int ty_log_level_parse(const char *name)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void ty_log(enum ty_log_level level, const char *module, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char ts[40];
    va_list ap;

    if ((int)level < g_level || level >= TY_LOG_OFF)
        return;
    ty_time_format_iso(ts, sizeof(ts), ty_time_now_ms(), 1);
    flockfile(stderr);
    fprintf(stderr, "%s %s %s: ", ts, names[level], module);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}
