/*
 * test_fuzz.c - mutated specs, .env files and registry entries never crash
 * the compiler (run under ASan/UBSan in `make test`): every compile either
 * succeeds with a List or fails with a message.  Deterministic (fixed seed).
 */
#include "compose/compose.h"
#include "ty_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const char *const specs[] = {
    "version: '3'\n"
    "services:\n"
    "  app:\n"
    "    image: \"{{ helx_registry }}/x/app:1\"\n"
    "    entrypoint: [/bin/sh, -c, 'start.sh --base=${NB_PREFIX} --port=$PORT']\n"
    "    command: run --flag \"a b\"\n"
    "    environment:\n"
    "      - A=${PORT:-80}\n"
    "      - B=$$x\n"
    "    ports: [\"8080:8080\", {target: 9000, published: 9001, protocol: udp}]\n"
    "    expose: [5000]\n"
    "    user: \"1000:100\"\n"
    "    volumes:\n"
    "      - pvc://projects/sub:/projects:ro\n"
    "      - data:/data\n"
    "    healthcheck: {test: [CMD, curl, -f, localhost], interval: 10s, retries: 3}\n"
    "    deploy:\n"
    "      resources:\n"
    "        limits: {cpus: '2', memory: 2g, ephemeralStorage: 1Gi}\n"
    "        reservations:\n"
    "          cpus: .5\n"
    "          devices: [{capabilities: [gpu], count: 1}]\n"
    "  db:\n"
    "    image: postgres\n"
    "    environment: {POSTGRES_PASSWORD: pw, X: 1}\n"
    "volumes:\n"
    "  data: {}\n",
    "services:\n"
    "  jupyter:\n"
    "    image: img\n"
    "    ports:\n"
    "      - $PORT:8888\n"
    "    volumes: [\"pvc://stdnfs:/workspace\"]\n",
};

static const char *const apps[] = {
    "{\"services\": {\"app\": \"8080\"}, \"securityContext\": {\"runAsUser\": 1000, "
    "\"runAsGroup\": \"\", \"fsGroup\": 100}, \"conn_string\": \"X\", \"gitea-integration\": true,"
    " \"proxy-rewrite\": {\"enabled\": true, \"target\": \"/\"}, \"serviceAccount\": \"spark\","
    " \"env\": {\"K\": \"v\"}, \"ext\": {\"kube\": {\"livenessProbe\": {\"cmd\": [\"pgrep\", \"x\"],"
    " \"delay\": 5}, \"readinessProbe\": {\"httpGet\": {\"path\": \"/private/{{ system_name }}\","
    " \"port\": \"{{ system_port }}\"}}}}}",
    "{\"services\": {\"jupyter\": 8888}, \"ext\": {\"kube\": {\"readinessProbe\": \"none\"}},"
    " \"proxy-rewrite-rule\": true}",
};

static uint32_t rng = 12345;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* Applies 1-4 random edits: flip a byte to a YAML/template-significant one,
 * delete a range, duplicate a range, or truncate. */
static size_t mutate(char *buf, size_t len, size_t cap)
{
    static const char special[] = "{}[]:$-#'\"\n \t%|&*!>?,@`\\0a1";
    int edits = 1 + (int)(next() % 4);
    for (int e = 0; e < edits && len > 1; e++) {
        size_t pos = next() % len;
        switch (next() % 4) {
        case 0:
            buf[pos] = special[next() % (sizeof(special) - 1)];
            break;
        case 1: {
            size_t n = 1 + next() % 8;
            if (pos + n > len)
                n = len - pos;
            memmove(buf + pos, buf + pos + n, len - pos - n);
            len -= n;
            break;
        }
        case 2: {
            size_t n = 1 + next() % 16;
            if (pos + n > len)
                n = len - pos;
            if (len + n < cap) {
                memmove(buf + pos + n, buf + pos, len - pos);
                len += n;
            }
            break;
        }
        default:
            len = pos + 1;
            break;
        }
    }
    buf[len] = '\0';
    return len;
}

START_TEST(mutations_never_crash)
{
    char spec[4096], env[256], app[2048];
    int ok = 0, failed = 0;
    json_t *settings = json_pack("{s:s}", "helx_registry", "r.example.org");
    /* TY_FUZZ_ITERS / TY_FUZZ_SEED allow longer runs by hand. */
    int iters = getenv("TY_FUZZ_ITERS") ? atoi(getenv("TY_FUZZ_ITERS")) : 10000;
    if (getenv("TY_FUZZ_SEED"))
        rng = (uint32_t)strtoul(getenv("TY_FUZZ_SEED"), NULL, 10) | 1u;
    for (int i = 0; i < iters; i++) {
        size_t k = (size_t)i % 2;
        size_t slen = strlen(specs[k]);
        memcpy(spec, specs[k], slen + 1);
        snprintf(env, sizeof(env), "PORT=8080\n# c\nQ='a b'\n");
        snprintf(app, sizeof(app), "%s", apps[k]);
        int target = (int)(next() % 3);
        if (target == 0 || i % 7 == 0)
            slen = mutate(spec, slen, sizeof(spec));
        if (target == 1)
            mutate(env, strlen(env), sizeof(env));
        json_t *entry = NULL;
        if (target == 2) {
            mutate(app, strlen(app), sizeof(app));
            entry = json_loads(app, 0, NULL);
        }
        if (!entry)
            entry = json_loads(apps[k], 0, NULL);
        struct compose_input in;
        memset(&in, 0, sizeof(in));
        in.spec_text = spec;
        in.spec_len = slen;
        in.spec_name = "fuzz.yaml";
        in.env_text = env;
        in.env_len = strlen(env);
        in.app = entry;
        in.settings = settings;
        in.app_id = k ? "jupyter" : "app";
        in.username = "alice@example.org";
        in.guid = "0123456789abcdef0123456789abcdef";
        in.access_token = "tok";
        in.limits = (struct compose_resources)COMPOSE_RESOURCES_NONE;
        in.requests = (struct compose_resources)COMPOSE_RESOURCES_NONE;
        json_t *list = NULL;
        struct ty_error err = TY_ERROR_INIT;
        int rc = compose_compile(&list, &in, &err);
        if (rc == 0) {
            ck_assert_ptr_nonnull(list);
            ok++;
        } else {
            ck_assert_ptr_null(list);
            ck_assert_msg(err.msg[0] != '\0', "failure without a message (rc %d)", rc);
            failed++;
        }
        json_decref(list);
        json_decref(entry);
    }
    json_decref(settings);
    /* Both outcomes must actually occur, or the mutations test nothing. */
    ck_assert_int_gt(ok, 100);
    ck_assert_int_gt(failed, 100);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compose.fuzz");
    TCase *tc = tcase_create("fuzz");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, mutations_never_crash);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
