/*
 * fuzz.h - what the fuzz targets share: the libFuzzer entry points, the
 * splitting of one input into parts, and the few checks that turn a wrong
 * answer (not only a crash) into a finding.
 *
 * Every target is one file, fuzz/<target>_fuzzer.c, defining
 * LLVMFuzzerTestOneInput (and LLVMFuzzerInitialize when it needs set-up).  It
 * is linked with libFuzzer by the clang build of `make fuzz` (build-fuzz/,
 * -DTY_FUZZ=ON) and with standalone.c everywhere else, where it replays its
 * corpus as the test fuzz.<target>.  docs/security.md ("Fuzzing") says what
 * each target covers and what it found.
 *
 * Inputs that carry several texts (a compose spec, its .env, a registry
 * entry...) separate them with FUZZ_SEP on a line of its own; the first part
 * comes first and needs no separator, so any plain file of the right kind (a
 * docker-compose.yaml, an app-registry.yaml) is a valid input by itself.
 */
#ifndef TY_FUZZ_FUZZ_H
#define TY_FUZZ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The line that separates the parts of an input (a YAML comment, so a part
 * holding a mangled separator still reads as YAML). */
#define FUZZ_SEP "\n#@@\n"

#define FUZZ_MAX_PARTS 8

/* The parts of one input: part[i] is a NUL-terminated copy of len[i] bytes
 * (it may hold NUL bytes of its own), NULL for a part the input lacks. */
struct fuzz_parts {
    char *part[FUZZ_MAX_PARTS];
    size_t len[FUZZ_MAX_PARTS];
    int n; /* parts present */
};

/* Splits data at FUZZ_SEP.  Anything after the last part the array holds
 * stays in that part.  Free with fuzz_parts_cleanup(). */
void fuzz_parts_split(struct fuzz_parts *p, const uint8_t *data, size_t size);
void fuzz_parts_cleanup(struct fuzz_parts *p);

/* The next line of part (up to '\n' or its end) copied into out, size n, and
 * *pos moved past it; "" when the part has no more lines.  For parts that
 * carry one short setting per line. */
const char *fuzz_line(char *out, size_t n, const char *part, size_t len, size_t *pos);

/* A request in the shape of HTTP/1.1 (lines end in "\n" or "\r\n"):
 *
 *   METHOD PATH[?QUERY] [HTTP/1.1]
 *   Name: value            (headers, up to FUZZ_MAX_HEADERS)
 *
 *   body
 *
 * Every pointer points into the text given to fuzz_request_parse(). */
#define FUZZ_MAX_HEADERS 16
struct fuzz_request {
    const char *method;
    const char *path;
    const char *query;                             /* NULL: none */
    const char *headers[2 * FUZZ_MAX_HEADERS + 4]; /* name, value, ..., NULL; room for one more */
    int nheaders;
    const char *body; /* NULL: no blank line, so no body */
    size_t body_len;
};

/* Parses text (len bytes, NUL-terminated, cut up in place).  False when the
 * first line has no method and path. */
bool fuzz_request_parse(struct fuzz_request *out, char *text, size_t len);
/* The value of header name (case-insensitive), or NULL. */
const char *fuzz_request_header(const struct fuzz_request *r, const char *name);

/* Reports a wrong answer (what the target checks beyond crashes) and aborts,
 * so libFuzzer keeps the input as a crash. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A new directory under $TMPDIR (or /tmp) removed at exit.  Borrowed;
 * aborts when it cannot be made. */
const char *fuzz_tmpdir(const char *tag);

/* The source tree (for the registry and specs the servers load): the
 * compile-time TY_FUZZ_SOURCE_DIR, unless TY_SOURCE_DIR is set. */
const char *fuzz_source_dir(void);

#endif
