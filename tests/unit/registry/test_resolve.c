/*
 * test_resolve.c - registry resolution and load errors, driven by the cases
 * under tests/data/registry/ (one folder per rule, written for this project):
 *
 *   valid/<case>/app-registry.yaml [+ app-defaults.yaml]
 *       expected/<ctx>.json       resolved apps of ctx (@DIR@ = the case folder,
 *                                 @PARENT@ = its parent, for local spec paths)
 *       base_url + expected-base/<ctx>.json   the same resolved with --base-url
 *       warnings.txt              one substring per expected warning (exact count)
 *       order.txt                 "ctx: a b c": the apps' resolution order
 *       branch/<variant>/env      "K=V" lines (Tycho's DOCKSTORE_APPS_BRANCH and
 *                                 EXTERNAL_TYCHO_APP_REGISTRY_ENABLED): the spec
 *                                 branch comes from them through
 *                                 registry_spec_branch_tycho_env(), as in the
 *                                 server and the CLI
 *       branch/<variant>/expected/<ctx>.json   resolved apps loaded with it
 *       branch/<variant>/base_url  optional: resolve with this base too
 *   invalid/<case>/app-registry.yaml [+ app-defaults.yaml]
 *       error                     "[file:]line:col message": the load must fail
 *                                 with TY_EINVAL naming that place
 *
 * Plus the things a data file cannot say: no leak between contexts or
 * registries in one process, source strings, URL joining and templates,
 * reading specs and .env files, and the holder's refresh behaviour.
 */
#include "registry/registry.h"
#include "registry/registry_int.h"
#include "ty_check.h"
#include "util/file.h"
#include "util/mem.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *case_dir(const char *kind, const char *name)
{
    return ty_xasprintf("%s/tests/data/registry/%s/%s", ty_test_source_dir(), kind, name);
}

/* Sorted subfolder names of path (NULL-terminated, free with free_list). */
static char **list_dir(const char *path)
{
    struct dirent **ents = NULL;
    int n = scandir(path, &ents, NULL, alphasort);
    char **out;
    size_t k = 0;
    ck_assert_msg(n >= 0, "cannot list %s", path);
    out = ty_xcalloc((size_t)n + 1, sizeof(*out));
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.')
            out[k++] = ty_xstrdup(ents[i]->d_name);
        free(ents[i]);
    }
    free(ents);
    return out;
}

static void free_list(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

static char *read_text(const char *path)
{
    char *text = NULL;
    struct ty_error err = TY_ERROR_INIT;
    int rc = ty_file_read(&text, NULL, path, 1 << 20, &err);
    return rc == 0 ? text : NULL;
}

static char *replace_all(const char *s, const char *from, const char *to)
{
    struct ty_buf b = TY_BUF_INIT;
    size_t n = strlen(from);
    const char *p;
    ty_buf_puts(&b, "");
    while ((p = strstr(s, from))) {
        ty_buf_append(&b, s, (size_t)(p - s));
        ty_buf_puts(&b, to);
        s = p + n;
    }
    ty_buf_puts(&b, s);
    return ty_buf_detach(&b);
}

static json_t *load_expected(const char *path, const char *dir)
{
    char real[PATH_MAX];
    char *text = read_text(path), *t1, *t2, *parent;
    json_error_t jerr;
    json_t *j;
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(realpath(dir, real));
    parent = ty_path_dirname(real);
    t1 = replace_all(text, "@DIR@", real);
    t2 = replace_all(t1, "@PARENT@", parent);
    j = json_loads(t2, 0, &jerr);
    ck_assert_msg(j != NULL, "%s: %s", path, jerr.text);
    free(text);
    free(t1);
    free(t2);
    free(parent);
    return j;
}

static struct registry *load_dir(const char *dir, struct ty_error *err, int *rc)
{
    struct registry_source src;
    struct registry *reg = NULL;
    *rc = registry_source_parse(&src, dir, err);
    if (*rc == 0) {
        *rc = registry_load(&reg, &src, NULL, err);
        registry_source_cleanup(&src);
    }
    return reg;
}

static void assert_apps_equal(const json_t *got, const json_t *want, const char *what)
{
    if (!json_equal((json_t *)got, (json_t *)want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(1));
        char *w = json_dumps(want, JSON_SORT_KEYS | JSON_INDENT(1));
        ck_abort_msg("%s differs:\n--- got\n%s\n--- want\n%s", what, g, w);
    }
}

/* Compares the resolved contexts with dir/sub/<ctx>.json (@DIR@ = dir). */
static void
check_expected_dir(struct registry *reg, const char *dir, const char *sub, const char *base_url)
{
    char *edir = ty_xasprintf("%s/%s", dir, sub);
    char **files = list_dir(edir);
    ck_assert_ptr_nonnull(files[0]);
    for (size_t i = 0; files[i]; i++) {
        char *ctx = ty_xstrndup(files[i], strlen(files[i]) - strlen(".json"));
        char *path = ty_xasprintf("%s/%s", edir, files[i]);
        json_t *want = load_expected(path, dir);
        struct ty_error err = TY_ERROR_INIT;
        char what[PATH_MAX];
        snprintf(what, sizeof(what), "%s (context %s)", path, ctx);
        if (base_url) {
            json_t *got = NULL;
            ck_assert_ok(registry_resolve(&got, reg, ctx, base_url, NULL, &err), &err);
            assert_apps_equal(got, want, what);
            json_decref(got);
        } else {
            const json_t *got = NULL;
            ck_assert_ok(registry_apps_get(&got, reg, ctx, &err), &err);
            assert_apps_equal(got, want, what);
        }
        json_decref(want);
        free(ctx);
        free(path);
    }
    free_list(files);
    free(edir);
}

static void check_warnings(struct registry *reg, const char *dir)
{
    char *path = ty_xasprintf("%s/warnings.txt", dir);
    char *text = read_text(path);
    size_t expected = 0;
    if (text) {
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            bool found = false;
            expected++;
            for (size_t i = 0; i < reg->warnings.len; i++)
                found = found || strstr(reg->warnings.items[i], line) != NULL;
            ck_assert_msg(found, "%s: no warning contains '%s'", dir, line);
        }
    }
    ck_assert_msg(reg->warnings.len == expected, "%s: %zu warnings, expected %zu (first: %s)", dir,
                  reg->warnings.len, expected, reg->warnings.len ? reg->warnings.items[0] : "-");
    free(text);
    free(path);
}

static void check_order(struct registry *reg, const char *dir)
{
    char *path = ty_xasprintf("%s/order.txt", dir);
    char *text = read_text(path);
    char *save = NULL;
    if (text) {
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *colon = strchr(line, ':');
            const json_t *apps = NULL;
            struct ty_error err = TY_ERROR_INIT;
            struct ty_buf got = TY_BUF_INIT;
            const char *id;
            json_t *v;
            ck_assert_ptr_nonnull(colon);
            *colon = '\0';
            ck_assert_ok(registry_apps_get(&apps, reg, line, &err), &err);
            json_object_foreach((json_t *)apps, id, v)
            {
                ty_buf_printf(&got, " %s", id);
            }
            ck_assert_str_eq(ty_buf_cstr(&got), colon + 1);
            ty_buf_cleanup(&got);
        }
    }
    free(text);
    free(path);
}

/* Splits text into a NULL-terminated "K=V" array (pointers into text). */
static char **env_lines(char *text)
{
    size_t n = 0, cap = 8;
    char **envp = ty_xcalloc(cap, sizeof(*envp));
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        if (n + 2 > cap) {
            cap *= 2;
            envp = ty_xrealloc(envp, cap * sizeof(*envp));
        }
        envp[n++] = line;
    }
    envp[n] = NULL;
    return envp;
}

/* Every branch/<variant> of a valid case: the spec branch from its env file,
 * loaded with it, compared with its expected/ (and with its base_url). */
static void check_branch_variants(const char *dir)
{
    char *bdir = ty_xasprintf("%s/branch", dir);
    struct stat st;
    char **variants;
    if (stat(bdir, &st) != 0) {
        free(bdir);
        return;
    }
    variants = list_dir(bdir);
    ck_assert_ptr_nonnull(variants[0]);
    for (size_t i = 0; variants[i]; i++) {
        char *env_path = ty_xasprintf("%s/%s/env", bdir, variants[i]);
        char *base_path = ty_xasprintf("%s/%s/base_url", bdir, variants[i]);
        char *sub = ty_xasprintf("branch/%s/expected", variants[i]);
        char *env_text = read_text(env_path);
        char *base = read_text(base_path);
        char **envp;
        struct registry_source src;
        struct registry_load_opts opts = REGISTRY_LOAD_OPTS_INIT;
        struct registry *reg = NULL;
        struct ty_error err = TY_ERROR_INIT;
        ck_assert_msg(env_text != NULL, "%s is missing", env_path);
        envp = env_lines(env_text);
        opts.spec_branch = registry_spec_branch_tycho_env(envp);
        ck_assert_ok(registry_source_parse(&src, dir, &err), &err);
        ck_assert_ok(registry_load(&reg, &src, &opts, &err), &err);
        if (opts.spec_branch)
            ck_assert_str_eq(reg->spec_branch, opts.spec_branch);
        else
            ck_assert_ptr_null(reg->spec_branch);
        if (base) {
            base[strcspn(base, "\n")] = '\0';
            check_expected_dir(reg, dir, sub, base);
        } else {
            check_expected_dir(reg, dir, sub, NULL);
        }
        registry_put(reg);
        registry_source_cleanup(&src);
        free(envp);
        free(env_text);
        free(base);
        free(sub);
        free(base_path);
        free(env_path);
    }
    free_list(variants);
    free(bdir);
}

START_TEST(test_valid_cases)
{
    char *root = ty_xasprintf("%s/tests/data/registry/valid", ty_test_source_dir());
    char **cases = list_dir(root);
    ck_assert_ptr_nonnull(cases[0]);
    for (size_t i = 0; cases[i]; i++) {
        char *dir = case_dir("valid", cases[i]);
        char *base_path = ty_xasprintf("%s/base_url", dir);
        char *base = read_text(base_path);
        struct ty_error err = TY_ERROR_INIT;
        int rc;
        struct registry *reg = load_dir(dir, &err, &rc);
        ck_assert_msg(rc == 0, "%s: %s", dir, err.msg);
        check_expected_dir(reg, dir, "expected", NULL);
        if (base) {
            base[strcspn(base, "\n")] = '\0';
            check_expected_dir(reg, dir, "expected-base", base);
        }
        check_warnings(reg, dir);
        check_order(reg, dir);
        check_branch_variants(dir);
        registry_put(reg);
        free(base);
        free(base_path);
        free(dir);
    }
    free_list(cases);
    free(root);
}
END_TEST

START_TEST(test_invalid_cases)
{
    char *root = ty_xasprintf("%s/tests/data/registry/invalid", ty_test_source_dir());
    char **cases = list_dir(root);
    ck_assert_ptr_nonnull(cases[0]);
    for (size_t i = 0; cases[i]; i++) {
        char *dir = case_dir("invalid", cases[i]);
        char *epath = ty_xasprintf("%s/error", dir);
        char *expect = read_text(epath);
        struct ty_error err = TY_ERROR_INIT;
        char *space, *where;
        int rc;
        struct registry *reg;
        ck_assert_msg(expect != NULL, "%s has no error file", dir);
        expect[strcspn(expect, "\n")] = '\0';
        space = strchr(expect, ' ');
        ck_assert_ptr_nonnull(space);
        *space = '\0';
        where = strstr(expect, ".yaml:") ? ty_xasprintf("/%s:", expect)
                                         : ty_xasprintf("/app-registry.yaml:%s:", expect);
        reg = load_dir(dir, &err, &rc);
        ck_assert_msg(reg == NULL && rc == TY_EINVAL, "%s: expected TY_EINVAL, got %d (%s)", dir,
                      rc, err.msg);
        ck_assert_msg(strstr(err.msg, where) != NULL, "%s: '%s' lacks position '%s'", dir, err.msg,
                      where);
        ck_assert_msg(strstr(err.msg, space + 1) != NULL, "%s: '%s' lacks '%s'", dir, err.msg,
                      space + 1);
        free(where);
        free(expect);
        free(epath);
        free(dir);
    }
    free_list(cases);
    free(root);
}
END_TEST

/* Tycho's inherit() shares one dict between every context of a process
 * (mutable default argument): loading braini then eduhelx gave eduhelx both
 * sets.  Here every resolution starts empty and returns fresh objects. */
START_TEST(test_no_leak_between_contexts)
{
    char *dir = case_dir("valid", "extends");
    char *dir2 = case_dir("valid", "mixins");
    struct ty_error err = TY_ERROR_INIT;
    struct registry *reg, *reg2;
    json_t *child = NULL, *diamond = NULL, *again = NULL, *mixed = NULL;
    int rc;

    reg = load_dir(dir, &err, &rc);
    ck_assert_ok(rc, &err);
    reg2 = load_dir(dir2, &err, &rc);
    ck_assert_ok(rc, &err);
    ck_assert_ok(registry_resolve(&child, reg, "child", NULL, NULL, &err), &err);
    ck_assert_ok(registry_resolve(&diamond, reg, "diamond", NULL, NULL, &err), &err);
    ck_assert_ok(registry_resolve(&mixed, reg2, "leaf", NULL, NULL, &err), &err);
    ck_assert_int_eq(json_object_size(child), 3);
    ck_assert_int_eq(json_object_size(diamond), 3);
    ck_assert_ptr_null(json_object_get(diamond, "a"));
    ck_assert_ptr_null(json_object_get(child, "t"));
    ck_assert_ptr_null(json_object_get(mixed, "a"));
    ck_assert_ptr_null(json_object_get(child, "x"));

    /* Changing a result changes nothing the next resolution sees. */
    json_object_set_new(json_object_get(child, "a"), "from", json_string("changed"));
    json_object_set_new(child, "intruder", json_object());
    ck_assert_ok(registry_resolve(&again, reg, "child", NULL, NULL, &err), &err);
    ck_assert_int_eq(json_object_size(again), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(again, "a"), "from")),
                     "base2");
    json_decref(child);
    json_decref(diamond);
    json_decref(again);
    json_decref(mixed);
    registry_put(reg);
    registry_put(reg2);
    free(dir);
    free(dir2);
}
END_TEST

START_TEST(test_unknown_context)
{
    char *dir = case_dir("valid", "extends");
    struct ty_error err = TY_ERROR_INIT;
    const json_t *apps = NULL;
    json_t *fresh = NULL;
    int rc;
    struct registry *reg = load_dir(dir, &err, &rc);
    ck_assert_ok(rc, &err);
    ck_assert_fails_with(registry_apps_get(&apps, reg, "nope", &err), &err, TY_ENOTFOUND,
                         "no context 'nope'");
    ck_assert_fails_with(registry_resolve(&fresh, reg, "nope", NULL, NULL, &err), &err,
                         TY_ENOTFOUND, "no context 'nope'");
    ck_assert_ptr_null(fresh);
    ck_assert_ok(registry_apps_get(&apps, reg, "child", &err), &err);
    ck_assert_ptr_nonnull(registry_app_find(apps, "a"));
    ck_assert_ptr_null(registry_app_find(apps, "t"));
    registry_put(reg);
    free(dir);
}
END_TEST

START_TEST(test_source_parse)
{
    struct registry_source s;
    struct ty_error err = TY_ERROR_INIT;
    char *dir = case_dir("valid", "extends");
    char *file = ty_xasprintf("%s/app-registry.yaml", dir);

    ck_assert_ok(registry_source_parse(&s, "git+file:///tmp/r.git#main:registry", &err), &err);
    ck_assert_int_eq(s.kind, REGISTRY_SOURCE_GIT);
    ck_assert_str_eq(s.location, "file:///tmp/r.git");
    ck_assert_str_eq(s.ref, "main");
    ck_assert_str_eq(s.subdir, "registry");
    registry_source_cleanup(&s);

    ck_assert_ok(registry_source_parse(&s, "git+https://h/x.git", &err), &err);
    ck_assert_str_eq(s.location, "https://h/x.git");
    ck_assert_ptr_null(s.ref);
    ck_assert_ptr_null(s.subdir);
    registry_source_cleanup(&s);

    ck_assert_ok(registry_source_parse(&s, "git+/srv/r.git#:/a/b/", &err), &err);
    ck_assert_ptr_null(s.ref);
    ck_assert_str_eq(s.subdir, "a/b");
    registry_source_cleanup(&s);

    ck_assert_ok(registry_source_parse(&s, "git+/srv/r.git#v1.2", &err), &err);
    ck_assert_str_eq(s.ref, "v1.2");
    ck_assert_ptr_null(s.subdir);
    registry_source_cleanup(&s);

    ck_assert_fails_with(registry_source_parse(&s, "git+", &err), &err, TY_EINVAL,
                         "needs a repository URL");
    ck_assert_fails_with(registry_source_parse(&s, "git+/srv/r.git#main:../etc", &err), &err,
                         TY_EINVAL, "plain relative folder");
    ck_assert_fails_with(registry_source_parse(&s, "git+/srv/r.git#main:a/../../b", &err), &err,
                         TY_EINVAL, "plain relative folder");

    ck_assert_ok(registry_source_parse(&s, "https://h/raw/develop/", &err), &err);
    ck_assert_int_eq(s.kind, REGISTRY_SOURCE_HTTP);
    ck_assert_str_eq(s.location, "https://h/raw/develop");
    registry_source_cleanup(&s);

    ck_assert_ok(registry_source_parse(&s, dir, &err), &err);
    ck_assert_int_eq(s.kind, REGISTRY_SOURCE_DIR);
    registry_source_cleanup(&s);
    ck_assert_ok(registry_source_parse(&s, file, &err), &err);
    ck_assert_int_eq(s.kind, REGISTRY_SOURCE_FILE);
    registry_source_cleanup(&s);
    ck_assert_fails_with(registry_source_parse(&s, "/no/such/registry", &err), &err, TY_ENOTFOUND,
                         "/no/such/registry");
    ck_assert_fails_with(registry_source_parse(&s, "", &err), &err, TY_EINVAL, "empty");
    free(dir);
    free(file);
}
END_TEST

START_TEST(test_url_and_template)
{
    struct {
        const char *base, *ref, *want;
    } joins[] = {
        {"https://github.com/o/r/raw/develop/", "app-specs",
         "https://github.com/o/r/raw/develop/app-specs"},
        {"https://h/a/b/", "../c", "https://h/a/c"},
        {"https://h/a/b/", "/root", "https://h/root"},
        {"https://h/a/b/", "https://other/x", "https://other/x"},
        {"https://h/a/b/", "//cdn/x", "https://cdn/x"},
        {"https://h/a/b", "c", "https://h/a/c"},
        {"https://h", "c", "https://h/c"},
        {"https://h/a/", "./x/./y/../z", "https://h/a/x/z"},
        {"file:///srv/reg/", "specs", "file:///srv/reg/specs"},
    };
    json_t *map = json_pack("{s:s, s:s, s:i}", "repo", "https://r", "Up_1", "U", "num", 3);
    struct {
        const char *in, *want;
    } subs[] = {
        {"$repo/x", "https://r/x"},
        {"${repo}x", "https://rx"},
        {"$$repo", "$repo"},
        {"$Up_1-$up_1", "U-$up_1"},
        {"${nope} $nope", "${nope} $nope"},
        {"${repo", "${repo"},
        {"a$", "a$"},
        {"$1 $-", "$1 $-"},
        {"$num", "$num"},
        {"$repox", "$repox"},
    };
    for (size_t i = 0; i < sizeof(joins) / sizeof(joins[0]); i++) {
        char *got = registry_url_join(joins[i].base, joins[i].ref);
        ck_assert_msg(!strcmp(got, joins[i].want), "join(%s, %s) = %s, want %s", joins[i].base,
                      joins[i].ref, got, joins[i].want);
        free(got);
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        char *got = registry_template_substitute(subs[i].in, map);
        ck_assert_msg(!strcmp(got, subs[i].want), "subst(%s) = %s, want %s", subs[i].in, got,
                      subs[i].want);
        free(got);
    }
    json_decref(map);
    {
        char *p = registry_path_join_norm("/a/b/", "../c/./d");
        ck_assert_str_eq(p, "/a/c/d");
        free(p);
        p = registry_dirname("https://h/x/docker-compose.yaml");
        ck_assert_str_eq(p, "https://h/x");
        free(p);
        p = registry_dirname("spec.yaml");
        ck_assert_str_eq(p, "");
        free(p);
        p = registry_dirname("/spec.yaml");
        ck_assert_str_eq(p, "/");
        free(p);
    }
}
END_TEST

static char tmpdir[64];

static void write_file(const char *rel, const char *text)
{
    char *path = ty_xasprintf("%s/%s", tmpdir, rel);
    char *d = ty_path_dirname(path);
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_ok(ty_mkdir_p(d, &err), &err);
    ck_assert_ok(ty_file_write_atomic(path, text, strlen(text), &err), &err);
    free(d);
    free(path);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ty-registry-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    (void)ty_rm_rf(tmpdir, NULL);
}

START_TEST(test_spec_and_env_read)
{
    struct ty_error err = TY_ERROR_INIT;
    const json_t *apps = NULL;
    char *text = NULL, *name = NULL;
    size_t len = 0;
    int rc;
    struct registry *reg;
    write_file("app-registry.yaml", "repositories:\n  local: {url: specs}\n"
                                    "contexts:\n  c:\n    apps:\n"
                                    "      a: {docs: d}\n      b: {docs: d}\n"
                                    "      rel: {docs: d, spec: other/compose.yaml}\n");
    write_file("specs/a/docker-compose.yaml", "services: {a: {image: x}}\n");
    write_file("specs/a/.env", "A=1\nB=two\n");
    write_file("other/compose.yaml", "services: {}\n");
    reg = load_dir(tmpdir, &err, &rc);
    ck_assert_ok(rc, &err);
    ck_assert_ok(registry_apps_get(&apps, reg, "c", &err), &err);

    ck_assert_ok(
        registry_app_spec_read(&text, &len, &name, reg, registry_app_find(apps, "a"), &err), &err);
    ck_assert_str_eq(text, "services: {a: {image: x}}\n");
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_ptr_nonnull(strstr(name, "/specs/a/docker-compose.yaml"));
    ck_assert_int_eq(name[0], '/');
    free(text);
    free(name);
    ck_assert_ok(registry_app_env_read(&text, &len, reg, registry_app_find(apps, "a"), &err), &err);
    ck_assert_str_eq(text, "A=1\nB=two\n");
    free(text);

    /* b has no spec file and no .env: the spec is an error, the .env empty. */
    ck_assert_fails_with(
        registry_app_spec_read(&text, NULL, NULL, reg, registry_app_find(apps, "b"), &err), &err,
        TY_ENOTFOUND, "b/docker-compose.yaml");
    ck_assert_ptr_null(text);
    ck_assert_ok(registry_app_env_read(&text, &len, reg, registry_app_find(apps, "b"), &err), &err);
    ck_assert_str_eq(text, "");
    ck_assert_uint_eq(len, 0);
    free(text);

    /* An explicit relative spec is read from the registry's folder. */
    ck_assert_ok(
        registry_app_spec_read(&text, NULL, NULL, reg, registry_app_find(apps, "rel"), &err), &err);
    ck_assert_str_eq(text, "services: {}\n");
    free(text);
    registry_put(reg);
}
END_TEST

START_TEST(test_holder_refresh_keeps_last_good)
{
    struct ty_error err = TY_ERROR_INIT;
    struct registry_source src;
    struct registry_holder *h = NULL;
    struct registry *before, *after;
    const json_t *apps = NULL;
    bool changed = true;
    json_t *status;
    const char *good = "repositories:\n  r: {url: 'https://e.org/s'}\n"
                       "contexts:\n  c:\n    apps:\n      a: {docs: d}\n";
    write_file("app-registry.yaml", good);
    ck_assert_ok(registry_source_parse(&src, tmpdir, &err), &err);
    ck_assert_ok(registry_holder_new(&h, &src, NULL, &err), &err);
    before = registry_holder_get(h);

    /* Same content: not changed. */
    ck_assert_ok(registry_holder_refresh(h, &changed, &err), &err);
    ck_assert(!changed);

    /* A broken file never replaces the live registry. */
    write_file("app-registry.yaml", "contexts:\n  c:\n    extends: [missing]\n");
    ck_assert_fails_with(registry_holder_refresh(h, &changed, &err), &err, TY_EINVAL,
                         "app-registry.yaml:3:15: context 'c' extends unknown context");
    ck_assert(!changed);
    after = registry_holder_get(h);
    ck_assert_ok(registry_apps_get(&apps, after, "c", &err), &err);
    ck_assert_ptr_nonnull(registry_app_find(apps, "a"));
    registry_put(after);
    status = registry_holder_status(h);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(status, "last_error")),
                                 "extends unknown context 'missing'"));
    ck_assert_str_eq(json_string_value(json_object_get(status, "kind")), "dir");
    ck_assert(json_is_null(json_object_get(status, "commit")));
    json_decref(status);

    /* A good new version replaces it; the old reference stays readable. */
    write_file("app-registry.yaml", "repositories:\n  r: {url: 'https://e.org/s'}\n"
                                    "contexts:\n  c:\n    apps:\n      b: {docs: d}\n");
    ck_assert_ok(registry_holder_refresh(h, &changed, &err), &err);
    ck_assert(changed);
    after = registry_holder_get(h);
    ck_assert_ok(registry_apps_get(&apps, after, "c", &err), &err);
    ck_assert_ptr_nonnull(registry_app_find(apps, "b"));
    ck_assert_ok(registry_apps_get(&apps, before, "c", &err), &err);
    ck_assert_ptr_nonnull(registry_app_find(apps, "a"));
    status = registry_holder_status(h);
    ck_assert(json_is_null(json_object_get(status, "last_error")));
    ck_assert_ptr_nonnull(json_string_value(json_object_get(status, "last_refresh_at")));
    json_decref(status);
    registry_put(after);
    registry_put(before);
    registry_holder_free(h);
    registry_source_cleanup(&src);
}
END_TEST

/* The spec branch: whole path segments only, the authority, query and
 * fragment kept; Tycho's environment rule; bad branches refused at load; the
 * holder keeps the branch across refreshes and reports it. */
START_TEST(test_spec_branch)
{
    struct {
        const char *url, *want;
    } cases[] = {
        {"https://github.com/o/r/raw/master/app-specs", "https://github.com/o/r/raw/dev/app-specs"},
        {"https://master.example.org/masterclass/master",
         "https://master.example.org/masterclass/dev"},
        {"https://h/a/master/?ref=master#master", "https://h/a/dev/?ref=master#master"},
        {"https://h/master-x/xmaster/Master", "https://h/master-x/xmaster/Master"},
        {"/srv/master/specs", "/srv/dev/specs"},
        {"master", "dev"},
        {"file:///srv/master//master/", "file:///srv/dev//dev/"},
        {"https://master", "https://master"},
        {"", ""},
    };
    const char *bad[] = {"",    "a b",  "a..b",  "/x",   "x/",  "x.lock", "x.", "a:b", "a?b", "a#b",
                         "a%b", "a//b", "a@{1}", "a\tb", "a~1", "a^",     "a*", "a[",  "a\\b"};
    char *env_set[] = {"EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false", "DOCKSTORE_APPS_BRANCH=v1.6.0",
                       NULL};
    char *env_true[] = {"EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=true", "DOCKSTORE_APPS_BRANCH=dev",
                        NULL};
    char *env_caps[] = {"EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=False", "DOCKSTORE_APPS_BRANCH=dev",
                        NULL};
    char *env_empty[] = {"DOCKSTORE_APPS_BRANCH=", "EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false",
                         NULL};
    char *env_prefix[] = {"DOCKSTORE_APPS_BRANCHX=dev", "EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false",
                          NULL};
    struct ty_error err = TY_ERROR_INIT;
    struct registry_source src;
    struct registry_load_opts opts = REGISTRY_LOAD_OPTS_INIT;
    struct registry_holder *h = NULL;
    struct registry *reg = NULL;
    const json_t *apps = NULL;
    json_t *status;
    bool changed = false;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = registry_spec_branch_apply(cases[i].url, "dev");
        ck_assert_msg(!strcmp(got, cases[i].want), "apply(%s) = %s, want %s", cases[i].url, got,
                      cases[i].want);
        free(got);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(registry_spec_branch_check(bad[i], &err) == TY_EINVAL, "'%s' accepted",
                      bad[i]);
    ck_assert_ok(registry_spec_branch_check("feature/x-1.2_b", &err), &err);
    ck_assert_ok(registry_spec_branch_check("v1.6.0", &err), &err);

    ck_assert_str_eq(registry_spec_branch_tycho_env(env_set), "v1.6.0");
    ck_assert_ptr_null(registry_spec_branch_tycho_env(env_true));
    ck_assert_ptr_null(registry_spec_branch_tycho_env(env_caps));
    ck_assert_ptr_null(registry_spec_branch_tycho_env(env_empty));
    ck_assert_ptr_null(registry_spec_branch_tycho_env(env_prefix));
    ck_assert_ptr_null(registry_spec_branch_tycho_env(NULL));

    write_file("app-registry.yaml", "repositories:\n  r: {url: 'https://e.org/raw/master/s'}\n"
                                    "contexts:\n  c:\n    apps:\n      a: {docs: d}\n");
    ck_assert_ok(registry_source_parse(&src, tmpdir, &err), &err);
    opts.spec_branch = "bad branch";
    ck_assert_fails_with(registry_load(&reg, &src, &opts, &err), &err, TY_EINVAL,
                         "spec branch 'bad branch'");
    ck_assert_ptr_null(reg);
    ck_assert_fails_with(registry_holder_new(&h, &src, &opts, &err), &err, TY_EINVAL,
                         "spec branch 'bad branch'");
    ck_assert_ptr_null(h);

    opts.spec_branch = "dev";
    ck_assert_ok(registry_holder_new(&h, &src, &opts, &err), &err);
    write_file("app-registry.yaml", "repositories:\n  r: {url: 'https://e.org/raw/master/s'}\n"
                                    "contexts:\n  c:\n    apps:\n      b: {docs: d}\n");
    ck_assert_ok(registry_holder_refresh(h, &changed, &err), &err);
    ck_assert(changed);
    reg = registry_holder_get(h);
    ck_assert_ok(registry_apps_get(&apps, reg, "c", &err), &err);
    ck_assert_str_eq(json_string_value(json_object_get(registry_app_find(apps, "b"), "spec")),
                     "https://e.org/raw/dev/s/b/docker-compose.yaml");
    registry_put(reg);
    status = registry_holder_status(h);
    ck_assert_str_eq(json_string_value(json_object_get(status, "spec_branch")), "dev");
    json_decref(status);
    registry_holder_free(h);

    /* "" means no rewrite, and status says null. */
    opts.spec_branch = "";
    ck_assert_ok(registry_holder_new(&h, &src, &opts, &err), &err);
    status = registry_holder_status(h);
    ck_assert(json_is_null(json_object_get(status, "spec_branch")));
    json_decref(status);
    reg = registry_holder_get(h);
    ck_assert_ok(registry_apps_get(&apps, reg, "c", &err), &err);
    ck_assert_str_eq(json_string_value(json_object_get(registry_app_find(apps, "b"), "spec")),
                     "https://e.org/raw/master/s/b/docker-compose.yaml");
    registry_put(reg);
    registry_holder_free(h);
    registry_source_cleanup(&src);
}
END_TEST

struct reader_arg {
    struct registry_holder *h;
    atomic_int *stop;
    atomic_int reads;
    int bad;
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    while (!atomic_load(a->stop)) {
        struct registry *reg = registry_holder_get(a->h);
        const json_t *apps = NULL;
        /* Every snapshot is whole: context c has exactly one app, a or b. */
        if (registry_apps_get(&apps, reg, "c", NULL) < 0 || json_object_size(apps) != 1 ||
            !json_is_string(
                json_object_get(json_object_iter_value(json_object_iter((json_t *)apps)), "spec")))
            a->bad++;
        atomic_fetch_add(&a->reads, 1);
        registry_put(reg);
    }
    return NULL;
}

/* Readers on four threads while the main thread swaps versions: every read
 * sees a whole registry, and ASan/LSan see no use-after-free or leak. */
START_TEST(test_holder_concurrent_readers)
{
    struct ty_error err = TY_ERROR_INIT;
    struct registry_source src;
    struct registry_holder *h = NULL;
    atomic_int stop;
    pthread_t th[4];
    struct reader_arg args[4];
    const char *va = "repositories:\n  r: {url: 'https://e.org/s'}\n"
                     "contexts:\n  c:\n    apps:\n      a: {docs: d}\n";
    const char *vb = "repositories:\n  r: {url: 'https://e.org/s'}\n"
                     "contexts:\n  c:\n    apps:\n      b: {docs: d}\n";
    atomic_init(&stop, 0);
    write_file("app-registry.yaml", va);
    ck_assert_ok(registry_source_parse(&src, tmpdir, &err), &err);
    ck_assert_ok(registry_holder_new(&h, &src, NULL, &err), &err);
    for (int i = 0; i < 4; i++) {
        args[i].h = h;
        args[i].stop = &stop;
        atomic_init(&args[i].reads, 0);
        args[i].bad = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader, &args[i]), 0);
    }
    /* At least 40 swaps, and on until every reader has read a few times. */
    for (int i = 0;
         i < 40 ||
         (i < 100000 && (atomic_load(&args[0].reads) < 5 || atomic_load(&args[1].reads) < 5 ||
                         atomic_load(&args[2].reads) < 5 || atomic_load(&args[3].reads) < 5));
         i++) {
        bool changed = false;
        write_file("app-registry.yaml", i % 2 ? va : vb);
        ck_assert_ok(registry_holder_refresh(h, &changed, &err), &err);
        ck_assert(changed);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_int_eq(args[i].bad, 0);
        ck_assert_int_ge(atomic_load(&args[i].reads), 5);
    }
    registry_holder_free(h);
    registry_source_cleanup(&src);
}
END_TEST

static bool has_warning(const struct registry_warnings *w, const char *a, const char *b)
{
    for (size_t i = 0; i < w->len; i++)
        if (strstr(w->items[i], a) && strstr(w->items[i], b))
            return true;
    return false;
}

START_TEST(test_specs_check)
{
    struct ty_error err = TY_ERROR_INIT;
    struct registry_warnings w;
    struct registry *reg;
    int rc;
    write_file("app-registry.yaml", "repositories:\n  local: {url: specs}\n"
                                    "contexts:\n  c:\n    apps:\n"
                                    "      good: {docs: d, services: {good: 80}}\n"
                                    "      missing: {docs: d, services: {missing: 80}}\n"
                                    "      noservices: {docs: d, services: {x: 80}}\n"
                                    "      wrongname: {docs: d, services: {web: 80, db: 5432}}\n"
                                    "      remote: {docs: d, spec: 'https://127.0.0.1:1/x.yaml'}\n"
                                    "  d:\n    extends: [c]\n");
    write_file("specs/good/docker-compose.yaml", "services: {good: {image: x}}\n");
    write_file("specs/noservices/docker-compose.yaml", "version: '3'\n");
    write_file("specs/wrongname/docker-compose.yaml",
               "services:\n  web: {image: x}\n  database: {image: y}\n");
    reg = load_dir(tmpdir, &err, &rc);
    ck_assert_ok(rc, &err);
    registry_warnings_init(&w);
    /* Contexts c and d share the specs: each is examined once. */
    ck_assert_int_eq(registry_specs_check(reg, NULL, false, &w, &err), 4);
    ck_assert_uint_eq(w.len, 3);
    ck_assert(has_warning(&w, "app 'missing': cannot read spec", "missing/docker-compose.yaml"));
    ck_assert(has_warning(&w, "noservices/docker-compose.yaml:1:1: app 'noservices'",
                          "no services mapping"));
    ck_assert(has_warning(&w, "wrongname/docker-compose.yaml:2:3: app 'wrongname'",
                          "lists service 'db', which the spec does not define"));
    registry_warnings_cleanup(&w);
    ck_assert_fails_with(registry_specs_check(reg, "nope", false, &w, &err), &err, TY_ENOTFOUND,
                         "no context 'nope'");
    registry_put(reg);
}
END_TEST

/* Robustness: truncated and byte-flipped variants of every valid case either
 * load or fail with a message; none crashes (ASan/UBSan run this too). */
START_TEST(test_mutations_never_crash)
{
    static const char cases[][16] = {"extends", "mixins", "urls", "defaults"};
    static const char junk[] = ":-[]{}#&*!|>'\"%@`, \n\t\\$";
    uint32_t seed = 12345;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        char *dir = case_dir("valid", cases[c]);
        char *path = ty_xasprintf("%s/app-registry.yaml", dir);
        char *orig = read_text(path);
        size_t len = strlen(orig);
        ck_assert_ptr_nonnull(orig);
        for (int i = 0; i < 150; i++) {
            char *text = ty_xstrdup(orig);
            size_t n = len;
            struct registry *reg = NULL;
            struct ty_error err = TY_ERROR_INIT;
            int flips = 1 + i % 4;
            seed = seed * 1103515245u + 12345u;
            if (i % 3 == 0)
                n = seed % (len + 1);
            for (int k = 0; k < flips && n; k++) {
                seed = seed * 1103515245u + 12345u;
                text[(seed >> 8) % n] = junk[(seed >> 20) % (sizeof(junk) - 1)];
            }
            text[n] = '\0';
            write_file("app-registry.yaml", text);
            {
                int rc;
                reg = load_dir(tmpdir, &err, &rc);
                if (rc < 0)
                    ck_assert_msg(err.msg[0] != '\0', "error without a message");
                else
                    ck_assert_ptr_nonnull(reg);
            }
            registry_put(reg);
            free(text);
        }
        free(orig);
        free(path);
        free(dir);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("registry_resolve");
    TCase *tc = tcase_create("data");
    tcase_add_test(tc, test_valid_cases);
    tcase_add_test(tc, test_invalid_cases);
    tcase_add_test(tc, test_no_leak_between_contexts);
    tcase_add_test(tc, test_unknown_context);
    tcase_add_test(tc, test_source_parse);
    tcase_add_test(tc, test_url_and_template);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_spec_and_env_read);
    tcase_add_test(tc, test_holder_refresh_keeps_last_good);
    tcase_add_test(tc, test_spec_branch);
    tcase_add_test(tc, test_holder_concurrent_readers);
    tcase_add_test(tc, test_specs_check);
    tcase_add_test(tc, test_mutations_never_crash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ty_run_suite(suite());
}
