/*
 * api_openapi.c - /openapi.json: schema/openapi.yaml, embedded at build time
 * and converted once with doc.  The page that renders it, /docs, is one of
 * the web UI's files (web/docs.html, served by api_ui.c).
 *
 * The YAML is parsed on first use and the JSON text kept for the life of the
 * process; a broken file is reported as a 500 naming file:line:col (the test
 * suite parses it too, so that never ships).
 */
#include "api/api_srv.h"
#include "doc/doc.h"
#include "util/embed.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

extern const struct ty_embedded_file ty_embed_schema_files[];

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *spec_json;
static struct ty_error spec_err;

static void convert(void)
{
    const struct ty_embedded_file *f = ty_embed_schema_files;
    while (f->path && strcmp(f->path, "openapi.yaml") != 0)
        f++;
    if (!f->path) {
        ty_error_set(&spec_err, TY_ERR, "schema/openapi.yaml is not embedded in this binary");
        return;
    }
    struct doc *d = NULL;
    if (doc_parse(&d, "schema/openapi.yaml", (const char *)f->data, f->size, NULL, &spec_err) < 0)
        return;
    spec_json = json_dumps(doc_root(d), JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    doc_free(d);
    if (!spec_json)
        ty_error_set(&spec_err, TY_ERR, "schema/openapi.yaml cannot be rendered as JSON");
}

const char *api_openapi_json(struct ty_error *err)
{
    pthread_once(&once, convert);
    if (!spec_json) {
        if (err)
            *err = spec_err;
        return NULL;
    }
    return spec_json;
}

static int openapi_json(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    const char *s = api_openapi_json(err);
    if (!s)
        return err ? err->code : TY_ERR;
    api_resp_text(resp, 200, "application/json", s, strlen(s));
    return 0;
}

const struct api_route api_openapi_routes[] = {
    {.method = "GET", .path = "/openapi.json", .fn = openapi_json, .auth = API_AUTH_PUBLIC},
    {0},
};
