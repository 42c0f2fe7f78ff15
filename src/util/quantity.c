/*
 * quantity.c - Kubernetes resource quantities as numbers (quantity.h).
 *
 * The session service records them, the launch policy compares them with
 * the operator's bounds, and the compose compiler sums what a spec asks for:
 * one parser, so the three never disagree about what "1.5" or "512M" means.
 */
#include "util/quantity.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal number with an optional exponent, and where its suffix starts. */
static int split(double *num, const char **suffix, const char *text)
{
    char *end = NULL;
    if (!text || !(isdigit((unsigned char)*text) || *text == '.'))
        return -1;
    *num = strtod(text, &end);
    if (end == text || !isfinite(*num) || *num < 0 || memchr(text, 'x', (size_t)(end - text)) ||
        memchr(text, 'X', (size_t)(end - text)))
        return -1;
    *suffix = end;
    return 0;
}

int ty_quantity_cpu(int64_t *millis_out, const char *text, struct ty_error *err)
{
    double v;
    const char *suf;

    *millis_out = 0;
    if (split(&v, &suf, text) == 0) {
        if (!strcmp(suf, "m"))
            v = ceil(v);
        else if (!*suf)
            v = ceil(v * 1000.0);
        else
            goto bad;
        if (v > 1e12)
            goto bad;
        *millis_out = (int64_t)v;
        return 0;
    }
bad:
    return ty_error_set(err, TY_EINVAL, "cpu: '%s' is not a CPU quantity (e.g. 0.5, 500m)",
                        text ? text : "");
}

static const struct {
    const char *suf;
    double mul;
} units[] = {
    {"", 1},
    {"k", 1e3},
    {"K", 1e3}, /* docker-compose style */
    {"M", 1e6},
    {"G", 1e9},
    {"T", 1e12},
    {"P", 1e15},
    {"E", 1e18},
    {"Ki", 1024.0},
    {"Mi", 1048576.0},
    {"Gi", 1073741824.0},
    {"Ti", 1099511627776.0},
    {"Pi", 1125899906842624.0},
    {"Ei", 1152921504606846976.0},
};

int ty_quantity_bytes(int64_t *bytes_out, const char *text, struct ty_error *err)
{
    double v;
    const char *suf;

    *bytes_out = 0;
    if (split(&v, &suf, text) == 0) {
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (!strcmp(suf, units[i].suf)) {
                double b = ceil(v * units[i].mul);
                if (b > 9e18)
                    break;
                *bytes_out = (int64_t)b;
                return 0;
            }
        }
    }
    return ty_error_set(err, TY_EINVAL, "memory: '%s' is not a memory quantity (e.g. 512Mi, 2G)",
                        text ? text : "");
}

const char *ty_quantity_cpu_format(char *buf, size_t n, int64_t millis)
{
    if (millis % 1000 == 0)
        snprintf(buf, n, "%" PRId64, millis / 1000);
    else
        snprintf(buf, n, "%" PRId64 "m", millis);
    return buf;
}

const char *ty_quantity_bytes_format(char *buf, size_t n, int64_t bytes)
{
    static const char *const bin[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
    static const char *const dec[] = {"E", "P", "T", "G", "M", "k"};
    if (bytes > 0) {
        for (int i = 0; i < 6; i++) {
            int64_t b = (int64_t)1 << (10 * (6 - i));
            if (bytes % b == 0) {
                snprintf(buf, n, "%" PRId64 "%s", bytes / b, bin[i]);
                return buf;
            }
            int64_t d = 1;
            for (int k = 0; k < 6 - i; k++)
                d *= 1000;
            if (bytes % d == 0) {
                snprintf(buf, n, "%" PRId64 "%s", bytes / d, dec[i]);
                return buf;
            }
        }
    }
    snprintf(buf, n, "%" PRId64, bytes);
    return buf;
}
