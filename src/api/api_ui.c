/*
 * api_ui.c - the web UI: files from web/, embedded at build time, served at
 * "/" (index.html), "/docs" (docs.html, the API reference rendered from
 * /openapi.json) and "/ui/<file>".
 *
 * Only embedded files are served, by exact name, so there is no file system
 * path to escape from; the content type comes from the extension.  HTML gets
 * a Content-Security-Policy that allows nothing but this origin (and blob:
 * images, which is how the UI shows the icons it fetched).  When the
 * binary carries no index.html (the UI is built separately), "/" answers with
 * a short page pointing at /docs and /healthz.
 */
#include "api/api_int.h"
#include "util/embed.h"
#include "util/str.h"

#include <string.h>

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (ty_str_has_suffix(path, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static const struct ty_embedded_file *find(const char *path)
{
    for (const struct ty_embedded_file *f = ty_embed_web_files; f->path; f++)
        if (!strcmp(f->path, path))
            return f;
    return NULL;
}

static const char fallback[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Tycho</title></head>"
    "<body><h1>Tycho</h1><p>This build has no web UI.  The API is described at "
    "<a href=\"/docs\">/docs</a>; health at <a href=\"/healthz\">/healthz</a>.</p></body></html>\n";

/* The UI loads its script, style and images from this server only, talks
 * only to it, and shows icons it fetched itself as blob: URLs. */
static const char ui_csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                             "img-src 'self' blob:; connect-src 'self'; base-uri 'none'; "
                             "form-action 'self'; frame-ancestors 'none'";

static int serve(struct api_resp *resp, const char *path, struct ty_error *err)
{
    const struct ty_embedded_file *f = find(path);
    if (!f)
        return ty_error_set(err, TY_ENOTFOUND, "no such file: /ui/%.200s", path);
    api_resp_static(resp, content_type(path), f->data, f->size);
    if (ty_str_has_suffix(path, ".html"))
        resp->csp = ui_csp;
    return 0;
}

static int ui_index(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    if (!find("index.html")) {
        api_resp_text(resp, 200, "text/html; charset=utf-8", fallback, sizeof(fallback) - 1);
        resp->csp = ui_csp;
        return 0;
    }
    return serve(resp, "index.html", err);
}

static int ui_docs(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    return serve(resp, "docs.html", err);
}

static int ui_file(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    return serve(resp, api_param(req, "*"), err);
}

const struct api_route api_ui_routes[] = {
    {.method = "GET", .path = "/", .fn = ui_index, .auth = API_AUTH_PUBLIC},
    {.method = "GET", .path = "/docs", .fn = ui_docs, .auth = API_AUTH_PUBLIC},
    {.method = "GET", .path = "/ui/*", .fn = ui_file, .auth = API_AUTH_PUBLIC},
    {0},
};
