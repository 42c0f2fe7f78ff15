/*
 * registry_fuzzer.c - the registry resolver (src/registry/) on any registry.
 *
 * Input parts (fuzz.h): app-registry.yaml, then optionally app-defaults.yaml,
 * then optionally one setting per line: the base URL, the spec branch.  The
 * texts are written to a folder of their own and loaded with
 * registry_load_files(), as `tycho registry check FILE` does; every context
 * is then resolved.  Beyond crashes the target checks what registry.h
 * promises: a failed load says why; a registry that loads resolves every
 * context again, with its own base, to exactly what it cached at load time;
 * and an app found in the apps is the entry stored there.
 */
#include "fuzz.h"
#include "registry/registry.h"
#include "util/error.h"
#include "util/file.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *dir;
static char *reg_path, *def_path, *cache_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    dir = fuzz_tmpdir("registry");
    reg_path = ty_path_join(dir, "app-registry.yaml");
    def_path = ty_path_join(dir, "app-defaults.yaml");
    cache_path = ty_path_join(dir, "cache");
    return 0;
}

/* Plain writes: no fsync, which would make every run wait for the disk. */
static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
        fuzz_fail("cannot write %s", path);
}

static void check_contexts(const struct registry *reg, const char *other_base)
{
    json_t *names = registry_context_names(reg);
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name)
    {
        const char *ctx = json_string_value(name);
        const json_t *apps = NULL;
        json_t *again = NULL;
        struct ty_error err = TY_ERROR_INIT;
        struct registry_warnings w;
        if (!ctx)
            fuzz_fail("context name %zu is not a string", i);
        if (registry_apps_get(&apps, reg, ctx, &err) < 0)
            fuzz_fail("context '%s' is listed but has no apps: %s", ctx, err.msg);
        registry_warnings_init(&w);
        if (registry_resolve(&again, reg, ctx, NULL, &w, &err) < 0)
            fuzz_fail("context '%s' loaded but does not resolve again: %s", ctx, err.msg);
        if (!json_equal((json_t *)apps, again))
            fuzz_fail("context '%s' resolves differently from what the load cached", ctx);
        json_decref(again);
        again = NULL;
        const char *app_id;
        json_t *entry;
        json_object_foreach((json_t *)apps, app_id, entry)
        {
            if (registry_app_find(apps, app_id) != entry)
                fuzz_fail("registry_app_find(%s) is not the stored entry", app_id);
            const char *spec = json_string_value(json_object_get(entry, "spec"));
            if (spec) {
                char *s = registry_spec_branch_apply(spec, "feature/x");
                free(s);
            }
        }
        /* Another base: may fail (a repository URL it cannot join), never crash. */
        if (registry_resolve(&again, reg, ctx, other_base, &w, &err) == 0)
            json_decref(again);
        registry_warnings_cleanup(&w);
    }
    json_decref(names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_parts p;
    struct registry *reg = NULL;
    struct registry_load_opts opts = REGISTRY_LOAD_OPTS_INIT;
    struct ty_error err = TY_ERROR_INIT;
    char base[512], branch[256];
    size_t pos = 0;

    fuzz_parts_split(&p, data, size);
    write_file(reg_path, p.part[0], p.len[0]);
    if (p.part[1])
        write_file(def_path, p.part[1], p.len[1]);
    else
        unlink(def_path);
    fuzz_line(base, sizeof(base), p.part[2], p.len[2], &pos);
    fuzz_line(branch, sizeof(branch), p.part[2], p.len[2], &pos);
    opts.base_url = base[0] ? base : NULL;
    opts.spec_branch = branch[0] ? branch : NULL;
    opts.cache_dir = cache_path;

    int rc = registry_load_files(&reg, reg_path, p.part[1] ? def_path : NULL, &opts, &err);
    if (rc < 0) {
        if (reg)
            fuzz_fail("registry_load_files failed (%d) but set *out", rc);
        if (!err.msg[0] || err.code == TY_OK)
            fuzz_fail("registry_load_files failed (%d) without a message", rc);
    } else {
        check_contexts(reg, "https://example.org/apps/");
        registry_put(reg);
    }
    fuzz_parts_cleanup(&p);
    return 0;
}
