/*
 * test_load.c - the YAML loader: scalar resolution as YAML 1.1 loaders do it,
 * anchors, aliases and merge keys, positions, and the limits that keep hostile
 * input from hanging or exhausting the process.
 */
#include "doc/doc.h"
#include "ty_check.h"

#include <string.h>

static struct doc *parse(const char *text)
{
    struct doc *d = NULL;
    struct ty_error err = TY_ERROR_INIT;
    int rc = doc_parse(&d, "t.yaml", text, strlen(text), NULL, &err);
    ck_assert_ok(rc, &err);
    return d;
}

static void assert_json(const json_t *v, const char *expected)
{
    json_t *e = json_loads(expected, JSON_DECODE_ANY, NULL);
    char *got = json_dumps(v, JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_ptr_nonnull(e);
    ck_assert_msg(json_equal(v, e), "got %s, expected %s", got, expected);
    free(got);
    json_decref(e);
}

START_TEST(scalars_resolve_like_yaml_1_1)
{
    struct doc *d = parse("a: yes\nb: Off\nc: 0777\nd: 0x1F\ne: 1:30\nf: 1.5\ng: 1e3\n"
                          "h: ~\ni:\nj: '0777'\nk: \"yes\"\nl: 8080:80\nm: -12\nn: 1_000\n"
                          "o: .inf\np: 2024-01-02\nq: !!str 12\nr: 08\n");
    assert_json(doc_root(d), "{\"a\":true,\"b\":false,\"c\":511,\"d\":31,\"e\":90,\"f\":1.5,"
                             "\"g\":\"1e3\",\"h\":null,\"i\":null,\"j\":\"0777\",\"k\":\"yes\","
                             "\"l\":\"8080:80\",\"m\":-12,\"n\":1000,\"o\":\".inf\","
                             "\"p\":\"2024-01-02\",\"q\":\"12\",\"r\":\"08\"}");
    doc_free(d);
    /* Base 60 beyond 64 bits is a float, as a long decimal is (it overflowed). */
    d = parse("a: 4000000000000000000:00\nb: -4000000000000000000:00\n");
    assert_json(doc_root(d), "{\"a\":2.4e20,\"b\":-2.4e20}");
    doc_free(d);
}
END_TEST

START_TEST(non_string_keys_become_their_text)
{
    struct doc *d = parse("8000: a\ntrue: b\n~: c\n");
    assert_json(doc_root(d), "{\"8000\":\"a\",\"true\":\"b\",\"null\":\"c\"}");
    doc_free(d);
}
END_TEST

START_TEST(anchors_aliases_and_merge_keys)
{
    struct doc *d = parse("base: &b {x: 1, y: 2}\n"
                          "more: &m {z: 3, y: 9}\n"
                          "one:\n  <<: *b\n  y: 5\n"
                          "two:\n  <<: [*m, *b]\n"
                          "list: [*b, *b]\n");
    json_t *root = doc_root(d);
    assert_json(json_object_get(root, "one"), "{\"x\":1,\"y\":5}");
    /* Earlier sources win among merges. */
    assert_json(json_object_get(root, "two"), "{\"x\":1,\"y\":9,\"z\":3}");
    assert_json(json_object_get(root, "list"), "[{\"x\":1,\"y\":2},{\"x\":1,\"y\":2}]");
    /* Aliases are copies: changing one leaves the anchor alone. */
    json_object_set_new(json_array_get(json_object_get(root, "list"), 0), "x", json_integer(7));
    assert_json(json_object_get(root, "base"), "{\"x\":1,\"y\":2}");
    doc_free(d);
}
END_TEST

START_TEST(positions_of_members_items_and_keys)
{
    struct doc *d = parse("apps:\n  jupyter:\n    image: x\n    ports:\n      - \"8888\"\n"
                          "      - 22\n");
    json_t *apps = json_object_get(doc_root(d), "apps");
    json_t *j = json_object_get(apps, "jupyter");
    json_t *ports = json_object_get(j, "ports");
    struct doc_pos p;
    char where[128];

    ck_assert(doc_member_pos(d, j, "image", &p));
    ck_assert_int_eq(p.line, 3);
    ck_assert_int_eq(p.col, 12);
    ck_assert(doc_key_pos(d, j, "image", &p));
    ck_assert_int_eq(p.line, 3);
    ck_assert_int_eq(p.col, 5);
    ck_assert(doc_item_pos(d, ports, 1, &p));
    ck_assert_int_eq(p.line, 6);
    ck_assert_int_eq(p.col, 9);
    ck_assert_str_eq(doc_where(d, j, "ports", where, sizeof(where)), "t.yaml:5:7");
    ck_assert_str_eq(doc_where(d, j, "missing", where, sizeof(where)), "t.yaml:3:5");
    ck_assert_str_eq(doc_where(d, NULL, NULL, where, sizeof(where)), "t.yaml");
    doc_free(d);
}
END_TEST

START_TEST(syntax_errors_name_the_place)
{
    struct doc *d = NULL;
    struct ty_error err = TY_ERROR_INIT;
    const char *text = "a: 1\nb: [1, 2\nc: 3\n";
    int rc = doc_parse(&d, "bad.yaml", text, strlen(text), NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "bad.yaml:");
    ck_assert_ptr_null(d);

    text = "a: *nope\n";
    rc = doc_parse(&d, "bad.yaml", text, strlen(text), NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "bad.yaml:1:4: unknown alias '*nope'");

    text = "a: !custom 3\n";
    rc = doc_parse(&d, "bad.yaml", text, strlen(text), NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "bad.yaml:1:4: unsupported tag");

    text = "? [a, b]\n: c\n";
    rc = doc_parse(&d, "bad.yaml", text, strlen(text), NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "a mapping key must be a scalar");

    text = "<<: 3\n";
    rc = doc_parse(&d, "bad.yaml", text, strlen(text), NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "bad.yaml:1:5: '<<' merge key needs");

    text = "a: 1\n---\nb: 2\n";
    rc = doc_parse(&d, "multi.yaml", text, strlen(text), NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "multi.yaml:2:1: expected a single document");

    /* A NUL would silently cut the string wherever it is read as a C string. */
    text = "spec: \"https://\\0evil.example/x\"\n";
    rc = doc_parse(&d, "nul.yaml", text, strlen(text), NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "nul.yaml:1:7: a NUL character is not allowed");
    text = "{\"k\": 1, \"a\\u0000b\": 2}";
    rc = doc_parse(&d, "nul.json", text, strlen(text), NULL, &err);
    ck_assert_fails_with(rc, &err, TY_EINVAL, "nul.json:1:10: a NUL character is not allowed");
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(last_document_when_asked)
{
    struct doc *d = NULL;
    struct ty_error err = TY_ERROR_INIT;
    struct doc_limits lim = DOC_LIMITS_DEFAULT;
    const char *text = "a: 1\n---\nb: 2\n";
    lim.last_document = true;
    ck_assert_ok(doc_parse(&d, "m.yaml", text, strlen(text), &lim, &err), &err);
    assert_json(doc_root(d), "{\"b\":2}");
    doc_free(d);
}
END_TEST

START_TEST(billion_laughs_is_refused_quickly)
{
    struct ty_buf b = TY_BUF_INIT;
    struct doc *d = NULL;
    struct ty_error err = TY_ERROR_INIT;
    int rc;

    ty_buf_puts(&b, "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i < 12; i++) {
        ty_buf_printf(&b, "a%d: &a%d [", i, i);
        for (int k = 0; k < 10; k++)
            ty_buf_printf(&b, "%s*a%d", k ? ", " : "", i - 1);
        ty_buf_puts(&b, "]\n");
    }
    rc = doc_parse(&d, "lol.yaml", b.data, b.len, NULL, &err);
    ck_assert_fails_with(rc, &err, TY_ELIMIT, "more than 1000000 nodes");
    ck_assert_ptr_null(d);
    ty_buf_cleanup(&b);
}
END_TEST

START_TEST(depth_and_size_limits)
{
    struct ty_buf b = TY_BUF_INIT;
    struct doc *d = NULL;
    struct ty_error err = TY_ERROR_INIT;
    struct doc_limits lim = DOC_LIMITS_DEFAULT;
    int rc;

    for (int i = 0; i < 200; i++)
        ty_buf_putc(&b, '[');
    for (int i = 0; i < 200; i++)
        ty_buf_putc(&b, ']');
    rc = doc_parse(&d, "deep.yaml", b.data, b.len, NULL, &err);
    ck_assert_fails_with(rc, &err, TY_ELIMIT, "deep.yaml:1:65: nesting deeper than 64 levels");

    lim.max_bytes = 10;
    rc = doc_parse(&d, "big.yaml", "a: 123456789012", 15, &lim, &err);
    ck_assert_fails_with(rc, &err, TY_ELIMIT, "big.yaml:1:1: document is 15 bytes");
    ty_buf_cleanup(&b);
}
END_TEST

START_TEST(emitted_yaml_reads_back_equal)
{
    struct doc *d = parse("s: \"yes\"\nn: \"0777\"\nt: true\nq: \"a: b\"\nh: \"#x\"\n"
                          "e: ''\nm: \"l1\\nl2\"\nlist: [{a: 1, b: [x, {c: null}]}, [], {}]\n"
                          "f: 2.0\nk: \"1:30\"\nbig: 1.0e+20\ntiny: 1.0e-300\nlarge: 3.0e+15\n");
    struct ty_buf out = TY_BUF_INIT;
    struct ty_error err = TY_ERROR_INIT;
    struct doc *back = NULL;

    ck_assert_ok(doc_emit_yaml(doc_root(d), &out, &err), &err);
    ck_assert_ok(doc_parse(&back, "out.yaml", out.data, out.len, NULL, &err), &err);
    ck_assert_msg(json_equal(doc_root(d), doc_root(back)), "round trip differs:\n%s", out.data);
    doc_free(back);
    doc_free(d);
    ty_buf_cleanup(&out);
}
END_TEST

/* YAML reads NEL, LS and PS as line breaks and refuses C1 controls: strings
 * holding them are quoted and escaped (a lone LS used to read back as null). */
START_TEST(unicode_line_breaks_read_back_as_themselves)
{
    json_t *tree =
        json_loads("{\"ls\": \"\\u2028\", \"nel\": \"a\\u0085b\", \"ps\": \" \\u2029x\","
                   " \"c1\": \"\\u0080\", \"bom\": \"\\ufeffx\", \"\\u2028k\": [\"\\u2029\"],"
                   " \"plain\": \"caf\\u00e9\"}",
                   0, NULL);
    struct ty_buf out = TY_BUF_INIT;
    struct ty_error err = TY_ERROR_INIT;
    struct doc *back = NULL;

    ck_assert_ptr_nonnull(tree);
    ck_assert_ok(doc_emit_yaml(tree, &out, &err), &err);
    ck_assert_ok(doc_parse(&back, "out.yaml", out.data, out.len, NULL, &err), &err);
    ck_assert_msg(json_equal(tree, doc_root(back)), "round trip differs:\n%s", out.data);
    ck_assert_msg(strstr(out.data, "ls: \"\\L\"\n") && strstr(out.data, "plain: caf\xc3\xa9\n"),
                  "%s", out.data);
    doc_free(back);
    json_decref(tree);
    ty_buf_cleanup(&out);
}
END_TEST

/* A key longer than 1024 characters cannot be an implicit key: it is written
 * as "? key" / ": value" (the emitted YAML used not to load). */
START_TEST(long_keys_are_written_explicitly)
{
    char key[3000];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    json_t *tree = json_pack("{s:i, s:{s:[s]}, s:[{s:s}]}", key, 1, "a", key, "x", "l", key, "v");
    struct ty_buf out = TY_BUF_INIT;
    struct ty_error err = TY_ERROR_INIT;
    struct doc *back = NULL;

    ck_assert_ok(doc_emit_yaml(tree, &out, &err), &err);
    ck_assert_ok(doc_parse(&back, "out.yaml", out.data, out.len, NULL, &err), &err);
    ck_assert_msg(json_equal(tree, doc_root(back)), "round trip differs:\n%.300s", out.data);
    ck_assert(strstr(out.data, "? kkk") != NULL);
    doc_free(back);
    json_decref(tree);
    ty_buf_cleanup(&out);
}
END_TEST

START_TEST(empty_document_is_null_and_files_load)
{
    struct doc *d = parse("");
    struct ty_error err = TY_ERROR_INIT;
    int rc;
    ck_assert(json_is_null(doc_root(d)));
    doc_free(d);
    rc = doc_load_file(&d, "/nonexistent/x.yaml", NULL, &err);
    ck_assert_fails_with(rc, &err, TY_ENOTFOUND, "/nonexistent/x.yaml");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("doc");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, scalars_resolve_like_yaml_1_1);
    tcase_add_test(tc, non_string_keys_become_their_text);
    tcase_add_test(tc, anchors_aliases_and_merge_keys);
    tcase_add_test(tc, positions_of_members_items_and_keys);
    tcase_add_test(tc, syntax_errors_name_the_place);
    tcase_add_test(tc, last_document_when_asked);
    tcase_add_test(tc, billion_laughs_is_refused_quickly);
    tcase_add_test(tc, depth_and_size_limits);
    tcase_add_test(tc, emitted_yaml_reads_back_equal);
    tcase_add_test(tc, unicode_line_breaks_read_back_as_themselves);
    tcase_add_test(tc, long_keys_are_written_explicitly);
    tcase_add_test(tc, empty_document_is_null_and_files_load);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
