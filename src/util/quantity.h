/*
 * quantity.h - Kubernetes resource quantities as numbers.
 *
 * CPU in millicores ("0.5", "500m", "2" -> 500, 500, 2000) and sizes in bytes
 * (decimal k M G T P E and binary Ki Mi Gi Ti Pi Ei suffixes, plus the
 * docker-compose "K"), each rounded up to a whole unit as Kubernetes does.
 * A leading digit or '.' is required: no sign, no hexadecimal, no NaN.
 * Both parse functions return 0 or TY_EINVAL with a message naming the text;
 * *out is 0 on failure.
 *
 * The format functions write the shortest exact spelling ("250m", "2",
 * "512Mi", "1G", "1000") into buf and return it; they never fail.
 */
#ifndef TY_UTIL_QUANTITY_H
#define TY_UTIL_QUANTITY_H

#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

int ty_quantity_cpu(int64_t *millis_out, const char *text, struct ty_error *err);
int ty_quantity_bytes(int64_t *bytes_out, const char *text, struct ty_error *err);

const char *ty_quantity_cpu_format(char *buf, size_t n, int64_t millis);
const char *ty_quantity_bytes_format(char *buf, size_t n, int64_t bytes);

#endif
