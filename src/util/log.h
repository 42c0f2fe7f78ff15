/*
 * log.h - the process log.
 *
 * Only the top of the program logs: main, the HTTP layer, the reconciler and the
 * reaper loops.  Deep modules (doc, registry, compose, kube, store) never print;
 * they return a struct ty_error or a list of warnings and let their caller decide.
 * Lines go to stderr as "2026-11-23T09:30:00.123Z level module: message".
 * Thread-safe.
 */
#ifndef TY_UTIL_LOG_H
#define TY_UTIL_LOG_H

enum ty_log_level { TY_LOG_DEBUG = 0, TY_LOG_INFO, TY_LOG_WARN, TY_LOG_ERROR, TY_LOG_OFF };

void ty_log_set_level(enum ty_log_level level);
enum ty_log_level ty_log_get_level(void);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 when unknown. */
int ty_log_level_parse(const char *name);
void ty_log(enum ty_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ty_debug(mod, ...) ty_log(TY_LOG_DEBUG, mod, __VA_ARGS__)
#define ty_info(mod, ...)  ty_log(TY_LOG_INFO, mod, __VA_ARGS__)
#define ty_warn(mod, ...)  ty_log(TY_LOG_WARN, mod, __VA_ARGS__)
#define ty_errorf(mod, ...) ty_log(TY_LOG_ERROR, mod, __VA_ARGS__)

#endif
