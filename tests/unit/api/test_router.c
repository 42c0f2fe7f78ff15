/*
 * test_router.c - the pure parts of the HTTP layer: path matching and
 * canonical checks, query strings, strict JSON field checks, JSON depth, the
 * ty_code -> HTTP status mapping, the token bucket, configuration layering,
 * and that schema/openapi.yaml documents every route the router serves.
 */
#include "api/api_int.h"
#include "ty_check.h"
#include "util/file.h"
#include "util/mem.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_path_match)
{
    struct api_req req;
    memset(&req, 0, sizeof(req));
    ck_assert(api_path_match("/v1/sessions/:id", "/v1/sessions/abc", &req));
    ck_assert_str_eq(api_param(&req, "id"), "abc");
    ck_assert(api_path_match("/v1/sessions/:id/events", "/v1/sessions/x1/events", &req));
    ck_assert_str_eq(api_param(&req, "id"), "x1");
    ck_assert_ptr_null(api_param(&req, "i"));
    ck_assert(!api_path_match("/v1/sessions/:id", "/v1/sessions/", NULL));
    ck_assert(!api_path_match("/v1/sessions/:id", "/v1/sessions/a/b", NULL));
    ck_assert(!api_path_match("/v1/sessions", "/v1/sessions/", NULL));
    ck_assert(api_path_match("/ui/*", "/ui/app.js", &req));
    ck_assert_str_eq(api_param(&req, "*"), "app.js");
    ck_assert(!api_path_match("/ui/*", "/ui/", NULL));
    char longseg[400];
    memset(longseg, 'a', sizeof(longseg));
    memcpy(longseg, "/v1/sessions/", 13);
    longseg[sizeof(longseg) - 1] = '\0';
    ck_assert(!api_path_match("/v1/sessions/:id", longseg, NULL));
}
END_TEST

START_TEST(test_route_find)
{
    static const struct api_route t[] = {
        {.method = "GET", .path = "/a/:id"},
        {.method = "DELETE", .path = "/a/:id"},
        {0},
    };
    const struct api_route *const tables[] = {t, NULL};
    const struct api_route *r = NULL;
    struct api_req req;
    char allow[64];
    memset(&req, 0, sizeof(req));
    ck_assert_int_eq(api_route_find(&r, tables, "GET", "/a/1", &req, allow, sizeof(allow)),
                     API_MATCH_OK);
    ck_assert_ptr_eq(r, &t[0]);
    ck_assert_int_eq(api_route_find(&r, tables, "HEAD", "/a/1", &req, allow, sizeof(allow)),
                     API_MATCH_OK);
    ck_assert_int_eq(api_route_find(&r, tables, "POST", "/a/1", &req, allow, sizeof(allow)),
                     API_MATCH_PATH_ONLY);
    ck_assert_str_eq(allow, "GET, DELETE");
    ck_assert_int_eq(api_route_find(&r, tables, "GET", "/b", &req, allow, sizeof(allow)),
                     API_MATCH_NONE);
}
END_TEST

START_TEST(test_path_check)
{
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_int_eq(api_path_check("/v1/apps", &err), 0);
    ck_assert_fails_with(api_path_check("/v1//apps", &err), &err, TY_EINVAL, "empty");
    ck_assert_fails_with(api_path_check("/v1/../x", &err), &err, TY_EINVAL, "dot");
    ck_assert_fails_with(api_path_check("/v1/./x", &err), &err, TY_EINVAL, "dot");
    ck_assert_fails_with(api_path_check("v1", &err), &err, TY_EINVAL, "start");
    ck_assert_fails_with(api_path_check("/a\tb", &err), &err, TY_EINVAL, "control");
}
END_TEST

START_TEST(test_query)
{
    struct ty_error err = TY_ERROR_INIT;
    char v[16];
    ck_assert_int_eq(api_query_get(v, sizeof(v), "a=1&b=x%20y+z", "b", &err), 1);
    ck_assert_str_eq(v, "x y z");
    ck_assert_int_eq(api_query_get(v, sizeof(v), "a=1", "b", &err), 0);
    ck_assert_int_eq(api_query_get(v, sizeof(v), "b", "b", &err), 1);
    ck_assert_str_eq(v, "");
    ck_assert_fails_with(api_query_get(v, sizeof(v), "b=1&b=2", "b", &err), &err, TY_EINVAL,
                         "twice");
    ck_assert_fails_with(api_query_get(v, sizeof(v), "b=%zz", "b", &err), &err, TY_EINVAL,
                         "escape");
    ck_assert_fails_with(api_query_get(v, sizeof(v), "b=%4", "b", &err), &err, TY_EINVAL, "escape");
    ck_assert_fails_with(api_query_get(v, sizeof(v), "b=%00", "b", &err), &err, TY_EINVAL, "NUL");
    ck_assert_fails_with(api_query_get(v, sizeof(v), "b=01234567890123456789", "b", &err), &err,
                         TY_EINVAL, "too long");
    static const char *const allowed[] = {"limit", "cursor", NULL};
    ck_assert_int_eq(api_query_check("limit=1&cursor=x&", allowed, &err), 0);
    ck_assert_fails_with(api_query_check("limit=1&sort=x", allowed, &err), &err, TY_EINVAL,
                         "'sort' (allowed: limit, cursor)");
    int64_t n = 7;
    ck_assert_int_eq(api_query_int(&n, "limit=20", "limit", 1, 500, &err), 1);
    ck_assert_int_eq(n, 20);
    ck_assert_fails_with(api_query_int(&n, "limit=0", "limit", 1, 500, &err), &err, TY_EINVAL,
                         "[1, 500]");
    ck_assert_fails_with(api_query_int(&n, "limit=1x", "limit", 1, 500, &err), &err, TY_EINVAL,
                         "'1x'");
}
END_TEST

START_TEST(test_fields)
{
    static const struct api_field f[] = {
        {"app", API_J_STRING, true, false},
        {"cpu", API_J_NUMBER, false, true},
        {"labels", API_J_STRMAP, false, false},
        {NULL, 0, false, false},
    };
    struct ty_error err = TY_ERROR_INIT;
    json_t *o = json_loads("{\"app\":\"x\",\"cpu\":null,\"labels\":{\"a\":\"b\"}}", 0, NULL);
    ck_assert_int_eq(api_fields_check(o, f, "body", &err), 0);
    json_decref(o);
    o = json_loads("{\"app\":\"x\",\"colour\":1}", 0, NULL);
    ck_assert_fails_with(api_fields_check(o, f, "body", &err), &err, TY_EINVAL,
                         "unknown field 'colour'");
    json_decref(o);
    o = json_loads("{\"app\":3}", 0, NULL);
    ck_assert_fails_with(api_fields_check(o, f, "body", &err), &err, TY_EINVAL,
                         "body.app must be a string, got an integer");
    json_decref(o);
    o = json_loads("{\"cpu\":1}", 0, NULL);
    ck_assert_fails_with(api_fields_check(o, f, "body", &err), &err, TY_EINVAL,
                         "body.app is required");
    json_decref(o);
    o = json_loads("{\"app\":\"x\",\"labels\":{\"a\":1}}", 0, NULL);
    ck_assert_fails_with(api_fields_check(o, f, "body", &err), &err, TY_EINVAL,
                         "body.labels must be an object of strings");
    json_decref(o);
    ck_assert_int_eq(api_json_depth("[[[\"]]]]]]\"]]]", 15), 3);
    ck_assert_int_eq(api_json_depth("{\"a\":{\"b\":[1,{\"c\":\"\\\"{\"}]}}", 27), 4);
}
END_TEST

START_TEST(test_status_map)
{
    ck_assert_int_eq(api_error_status(TY_EINVAL), 400);
    ck_assert_int_eq(api_error_status(TY_EAUTH), 401);
    ck_assert_int_eq(api_error_status(TY_EFORBIDDEN), 403);
    ck_assert_int_eq(api_error_status(TY_ENOTFOUND), 404);
    ck_assert_int_eq(api_error_status(TY_ECONFLICT), 409);
    ck_assert_int_eq(api_error_status(TY_EEXISTS), 409);
    ck_assert_int_eq(api_error_status(TY_ELIMIT), 429);
    ck_assert_int_eq(api_error_status(TY_EUPSTREAM), 502);
    ck_assert_int_eq(api_error_status(TY_ETIMEOUT), 504);
    ck_assert_int_eq(api_error_status(TY_ERR), 500);
    struct api_resp resp;
    struct ty_error err = TY_ERROR_INIT;
    memset(&resp, 0, sizeof(resp));
    ty_error_set(&err, TY_ENOTFOUND, "no such session: x");
    api_error_fill(&resp, API_ERR_V1, &err);
    ck_assert_int_eq(resp.status, 404);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(resp.json, "error"), "code")),
        "not_found");
    api_error_fill(&resp, API_ERR_TYCHO, &err);
    ck_assert_str_eq(json_string_value(json_object_get(resp.json, "status")), "error");
    ck_assert_str_eq(json_string_value(json_object_get(resp.json, "message")),
                     "no such session: x");
    json_decref(resp.json);
}
END_TEST

START_TEST(test_ratelimit)
{
    struct api_ratelimit *rl = api_ratelimit_new(2, 3);
    ck_assert_int_eq(api_ratelimit_take(rl, "a", 1000), 0);
    ck_assert_int_eq(api_ratelimit_take(rl, "a", 1000), 0);
    ck_assert_int_eq(api_ratelimit_take(rl, "a", 1000), 0);
    ck_assert_int_eq(api_ratelimit_take(rl, "a", 1000), 1); /* empty: wait 0.5 s -> 1 */
    ck_assert_int_eq(api_ratelimit_take(rl, "b", 1000), 0); /* another key is separate */
    ck_assert_int_eq(api_ratelimit_take(rl, "a", 1500), 0); /* refilled one */
    /* Many keys: the table stays bounded and keeps answering. */
    char k[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        api_ratelimit_take(rl, k, 2000 + i);
    }
    api_ratelimit_free(rl);
    api_ratelimit_free(NULL);
}
END_TEST

START_TEST(test_config)
{
    struct api_config cfg;
    struct ty_error err = TY_ERROR_INIT;
    char path[] = "/tmp/tycho-cfg-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *yaml = "listen: 127.0.0.1:9999\nlimits:\n  max_body_bytes: 2048\n"
                       "auth:\n  allow_anonymous: false\nsessions:\n  max_per_user: 3\n";
    ck_assert_int_eq(write(fd, yaml, strlen(yaml)), (int)strlen(yaml));
    close(fd);
    api_config_init(&cfg);
    ck_assert_ok(api_config_load_file(&cfg, path, &err), &err);
    ck_assert_str_eq(cfg.listen, "127.0.0.1:9999");
    ck_assert_int_eq(cfg.max_body_bytes, 2048);
    ck_assert(!cfg.allow_anonymous);
    ck_assert_int_eq(cfg.max_per_user, 3);
    char *env[] = {"TYCHO_LISTEN=127.0.0.1:7777", "TYCHO_MAX_BODY_BYTES=4096", "OTHER=1", NULL};
    ck_assert_ok(api_config_load_env(&cfg, env, &err), &err);
    ck_assert_str_eq(cfg.listen, "127.0.0.1:7777");
    ck_assert_int_eq(cfg.max_body_bytes, 4096);
    ck_assert_ok(api_config_set(&cfg, "listen", "127.0.0.1:0", &err), &err);
    ck_assert_ok(api_config_validate(&cfg, &err), &err);
    ck_assert_fails_with(api_config_set(&cfg, "limits.max_json_depth", "x", &err), &err, TY_EINVAL,
                         "expected an integer");
    ck_assert_fails_with(api_config_set(&cfg, "nope", "1", &err), &err, TY_EINVAL,
                         "unknown configuration key 'nope'");
    char *bad_env[] = {"TYCHO_RATE_LIMIT_PER_SECOND=-1", NULL};
    ck_assert_fails_with(api_config_load_env(&cfg, bad_env, &err), &err, TY_EINVAL,
                         "TYCHO_RATE_LIMIT_PER_SECOND");
    ck_assert_ok(api_config_set(&cfg, "cluster", "mars", &err), &err);
    ck_assert_fails_with(api_config_validate(&cfg, &err), &err, TY_EINVAL, "cluster");
    api_config_cleanup(&cfg);

    /* Unknown keys in the file point at file:line:col. */
    FILE *f = fopen(path, "w");
    fputs("listen: 127.0.0.1:1\nlimits:\n  max_bodybytes: 1\n", f);
    fclose(f);
    api_config_init(&cfg);
    ck_assert_fails_with(api_config_load_file(&cfg, path, &err), &err, TY_EINVAL,
                         ":3:18: unknown configuration key 'limits.max_bodybytes'");
    api_config_cleanup(&cfg);
    unlink(path);
}
END_TEST

/* Every route the router serves is a path of schema/openapi.yaml, with the
 * same method (":id" written "{id}", a trailing "*" as "{file}"). */
START_TEST(test_openapi_covers_routes)
{
    struct ty_error err = TY_ERROR_INIT;
    const char *text = api_openapi_json(&err);
    ck_assert_msg(text != NULL, "%s", err.msg);
    json_t *spec = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(spec);
    json_t *paths = json_object_get(spec, "paths");
    const struct api_route *const tables[] = {
        api_health_routes,   api_openapi_routes, api_apps_routes,
        api_sessions_routes, api_admin_routes,   api_tycho_routes,
        api_culler_routes,   api_ui_routes,      NULL,
    };
    int n = 0;
    for (const struct api_route *const *t = tables; *t; t++)
        for (const struct api_route *r = *t; r->method; r++) {
            char p[256] = "";
            size_t o = 0;
            for (const char *c = r->path; *c && o < sizeof(p) - 16; c++) {
                if (*c == ':') {
                    o += (size_t)snprintf(p + o, sizeof(p) - o, "{");
                    while (c[1] && c[1] != '/')
                        p[o++] = *++c;
                    p[o++] = '}';
                } else if (*c == '*') {
                    o += (size_t)snprintf(p + o, sizeof(p) - o, "{file}");
                } else {
                    p[o++] = *c;
                }
            }
            p[o] = '\0';
            char m[16];
            size_t i;
            for (i = 0; r->method[i] && i < sizeof(m) - 1; i++)
                m[i] = (char)(r->method[i] | 0x20);
            m[i] = '\0';
            ck_assert_msg(json_object_get(json_object_get(paths, p), m) != NULL,
                          "schema/openapi.yaml lacks %s %s", r->method, p);
            n++;
        }
    ck_assert_int_ge(n, 20);
    json_decref(spec);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("api_router");
    TCase *tc = tcase_create("router");
    tcase_add_test(tc, test_path_match);
    tcase_add_test(tc, test_route_find);
    tcase_add_test(tc, test_path_check);
    tcase_add_test(tc, test_query);
    tcase_add_test(tc, test_fields);
    tcase_add_test(tc, test_status_map);
    tcase_add_test(tc, test_ratelimit);
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_openapi_covers_routes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ty_run_suite(suite());
}
