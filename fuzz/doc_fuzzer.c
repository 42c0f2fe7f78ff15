/*
 * doc_fuzzer.c - the YAML loader (src/doc/) on any bytes.
 *
 * Input: a YAML (or JSON) text, as a registry, a spec or a config file would
 * hold.  The loader must either return a tree or fail with a message, within
 * its limits (size, depth, alias expansion).  Beyond crashes the target
 * checks two properties:
 *   - every position the loader recorded lies inside the text;
 *   - the emitter round-trips: doc_emit_yaml() of the tree, loaded again,
 *     gives the same tree (what `tycho compile -o yaml` prints reads back as
 *     what was compiled).
 */
#include "doc/doc.h"
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct walk {
    const struct doc *d;
    int lines; /* lines in the input */
};

/* A position inside the text, or just past its end (where libyaml puts the
 * empty value of a key that has none, "? k" at the end of the input). */
static void pos_check(const struct walk *w, const struct doc_pos *p, const char *what)
{
    if (p->line < 1 || p->col < 1 || p->line > w->lines + 1 ||
        (p->line == w->lines + 1 && p->col != 1))
        fuzz_fail("%s at %d:%d, outside the input's %d lines", what, p->line, p->col, w->lines);
}

static void walk_node(const struct walk *w, const json_t *v)
{
    struct doc_pos p;
    char where[256];
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        if (doc_node_pos(w->d, v, &p))
            pos_check(w, &p, "mapping");
        json_object_foreach((json_t *)v, k, child)
        {
            if (doc_member_pos(w->d, v, k, &p))
                pos_check(w, &p, "member value");
            if (doc_key_pos(w->d, v, k, &p))
                pos_check(w, &p, "member key");
            doc_where(w->d, v, k, where, sizeof(where));
            walk_node(w, child);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        if (doc_node_pos(w->d, v, &p))
            pos_check(w, &p, "sequence");
        json_array_foreach((json_t *)v, i, child)
        {
            if (doc_item_pos(w->d, v, i, &p))
                pos_check(w, &p, "sequence item");
            doc_where_item(w->d, v, i, where, sizeof(where));
            walk_node(w, child);
        }
    }
}

static void round_trip(const json_t *root, const struct doc_limits *lim)
{
    struct ty_buf yaml = TY_BUF_INIT;
    struct ty_error err = TY_ERROR_INIT;
    struct doc *again = NULL;
    /* The emitted text holds every alias expanded, so it may be longer than
     * the input was allowed to be; the node and depth limits still hold. */
    struct doc_limits big = *lim;
    big.max_bytes = (size_t)1 << 30;
    big.last_document = false;

    if (doc_emit_yaml(root, &yaml, &err) < 0)
        fuzz_fail("doc_emit_yaml failed on a loaded tree: %s", err.msg);
    if (doc_parse(&again, "<emitted>", yaml.data ? yaml.data : "", yaml.len, &big, &err) < 0)
        fuzz_fail("the emitted YAML does not load: %s\n---\n%.2000s", err.msg,
                  yaml.data ? yaml.data : "");
    if (!json_equal((json_t *)root, doc_root(again))) {
        char *a = json_dumps(root, JSON_ENCODE_ANY | JSON_COMPACT);
        char *b = json_dumps(doc_root(again), JSON_ENCODE_ANY | JSON_COMPACT);
        fuzz_fail("the emitted YAML loads as another tree:\n%.1000s\nemitted:\n%.1000s\nloads as:\n"
                  "%.1000s",
                  a ? a : "?", yaml.data ? yaml.data : "", b ? b : "?");
    }
    doc_free(again);
    ty_buf_cleanup(&yaml);
}

/* Line breaks as YAML counts them: LF, CR, CRLF, NEL, LS and PS. */
static int line_breaks(const uint8_t *p, size_t n)
{
    int lines = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' || (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n')))
            lines++;
        else if (p[i] == 0xc2 && i + 1 < n && p[i + 1] == 0x85)
            lines++;
        else if (p[i] == 0xe2 && i + 2 < n && p[i + 1] == 0x80 && (p[i + 2] & 0xfe) == 0xa8)
            lines++;
    }
    return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct doc_limits lim = DOC_LIMITS_DEFAULT;
    struct ty_error err = TY_ERROR_INIT;
    struct doc *d = NULL;
    int rc = doc_parse(&d, "fuzz.yaml", (const char *)data, size, &lim, &err);
    if (rc < 0 && strstr(err.msg, "expected a single document")) {
        /* Several documents: load the last one, as kubeconfig readers do. */
        lim.last_document = true;
        ty_error_clear(&err);
        rc = doc_parse(&d, "fuzz.yaml", (const char *)data, size, &lim, &err);
    }
    if (rc < 0) {
        if (d)
            fuzz_fail("doc_parse failed (%d) but set *out", rc);
        if (!err.msg[0])
            fuzz_fail("doc_parse failed (%d) without a message", rc);
        return 0;
    }
    struct walk w = {d, 1 + line_breaks(data, size)};
    walk_node(&w, doc_root(d));
    if (doc_root(d))
        round_trip(doc_root(d), &lim);
    doc_free(d);
    return 0;
}
