/*
 * api_culler.c - the culler's routes and who-am-I.
 *
 *   GET  /v1/sessions/:id/idle  why a session will or will not be culled: last
 *                               activity by source, the limits that apply and
 *                               where they come from, and when (reaper.h)
 *   POST /v1/admin/reap         one culling pass now; ?dry_run=true (the default)
 *                               only reports what would be culled and why
 *   GET  /v1/whoami             the caller's role and user (for the web UI)
 *
 * Handlers follow the contract of every resource file (api_int.h).
 */
#include "api/api_int.h"
#include "api/api_srv.h"
#include "reaper/reaper.h"

#include <string.h>

static int session_idle(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct store_session s;
    json_t *out = NULL;
    int rc = api_session_load(&s, req, api_param(req, "id"), err);
    if (rc < 0)
        return rc;
    store_session_cleanup(&s);
    rc = reaper_explain(&out, req->srv->reaper, api_param(req, "id"), err);
    if (rc < 0)
        return rc;
    api_resp_json(resp, 200, out);
    return 0;
}

static int admin_reap(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    static const char *const allowed[] = {"dry_run", NULL};
    char v[16] = "true";
    json_t *report = NULL;
    bool dry_run;
    int rc = api_query_check(req->query, allowed, err);
    if (rc < 0)
        return rc;
    rc = api_query_get(v, sizeof(v), req->query, "dry_run", err);
    if (rc < 0)
        return rc;
    if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0"))
        return ty_error_set(err, TY_EINVAL, "dry_run: expected true or false, got '%s'", v);
    dry_run = !strcmp(v, "true") || !strcmp(v, "1");
    rc = reaper_pass(req->srv->reaper, dry_run, &report, err);
    if (rc < 0)
        return rc;
    api_resp_json(resp, 200,
                  json_pack("{s:b, s:o}", "dry_run", dry_run || req->srv->cull_policy.dry_run,
                            "items", report));
    return 0;
}

static int whoami(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    (void)err;
    api_resp_json(resp, 200,
                  json_pack("{s:s, s:s?, s:b, s:b}", "role", api_role_name(req->who.role),
                            "username", req->who.user[0] ? req->who.user : NULL, "anonymous",
                            req->who.is_anonymous, "proxy", req->who.is_proxy));
    return 0;
}

const struct api_route api_culler_routes[] = {
    {.method = "GET", .path = "/v1/sessions/:id/idle", .fn = session_idle, .auth = API_AUTH_ANY},
    {.method = "POST",
     .path = "/v1/admin/reap",
     .fn = admin_reap,
     .auth = API_AUTH_ADMIN,
     .json_optional = true},
    {.method = "GET", .path = "/v1/whoami", .fn = whoami, .auth = API_AUTH_ANY},
    {0},
};
