/*
 * test_util.c - the error convention, buffers, time formatting, files, hashing.
 */
#include "util/buf.h"
#include "util/crypto.h"
#include "util/error.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"
#include "ty_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(error_wrap_prefixes_and_keeps_code)
{
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_int_eq(ty_error_set(&err, TY_ENOTFOUND, "app '%s' not found", "x"), TY_ENOTFOUND);
    ck_assert_int_eq(ty_error_wrap(&err, "context %s: ", "helx"), TY_ENOTFOUND);
    ck_assert_str_eq(err.msg, "context helx: app 'x' not found");
    /* Arguments may alias the message itself. */
    ty_error_wrap(&err, "%s | ", err.msg);
    ck_assert_str_eq(err.msg, "context helx: app 'x' not found | context helx: app 'x' not found");
    ck_assert_str_eq(ty_code_name(TY_EINVAL), "invalid");
    ck_assert_int_eq(ty_error_set(NULL, TY_EINVAL, "x"), TY_EINVAL);
    ty_error_clear(&err);
    ck_assert_int_eq(err.code, TY_OK);
}
END_TEST

START_TEST(buffers_grow_and_detach)
{
    struct ty_buf b = TY_BUF_INIT;
    char *s;
    ck_assert_str_eq(ty_buf_cstr(&b), "");
    for (int i = 0; i < 1000; i++)
        ty_buf_printf(&b, "%d,", i);
    ck_assert(ty_str_has_prefix(b.data, "0,1,2,"));
    ck_assert(ty_str_has_suffix(b.data, "998,999,"));
    s = ty_buf_detach(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(strlen(s), 3890);
    free(s);
}
END_TEST

START_TEST(iso_times_round_trip)
{
    char out[40];
    int64_t ms;
    ck_assert_str_eq(ty_time_format_iso(out, sizeof(out), 1763890200123LL, 1),
                     "2025-11-23T09:30:00.123Z");
    ck_assert_str_eq(ty_time_format_iso(out, sizeof(out), 1763890200123LL, 0),
                     "2025-11-23T09:30:00Z");
    ck_assert_int_eq(ty_time_parse_iso("2025-11-23T09:30:00.123Z", &ms), 0);
    ck_assert_int_eq(ms, 1763890200123LL);
    ck_assert_int_eq(ty_time_parse_iso("2025-11-23T10:30:00+01:00", &ms), 0);
    ck_assert_int_eq(ms, 1763890200000LL);
    ck_assert_int_eq(ty_time_parse_iso("2025-11-23 09:30", &ms), -1);
    ck_assert_int_eq(ty_time_parse_iso("2025-13-23T09:30:00Z", &ms), -1);
}
END_TEST

START_TEST(strict_integers)
{
    int64_t v;
    ck_assert_int_eq(ty_str_to_i64("42", 0, 100, &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(ty_str_to_i64("101", 0, 100, &v), -1);
    ck_assert_int_eq(ty_str_to_i64("4x", 0, 100, &v), -1);
    ck_assert_int_eq(ty_str_to_i64("", 0, 100, &v), -1);
    ck_assert_int_eq(ty_str_to_i64(" 4", 0, 100, &v), -1);
    ck_assert_int_eq(ty_str_to_i64("99999999999999999999", 0, INT64_MAX, &v), -1);
}
END_TEST

START_TEST(files_atomic_write_and_capped_read)
{
    char dir[] = "/tmp/ty-util-XXXXXX";
    struct ty_error err = TY_ERROR_INIT;
    char *path, *data = NULL, *sub;
    size_t len;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    sub = ty_path_join(dir, "a/b/c");
    ck_assert_ok(ty_mkdir_p(sub, &err), &err);
    path = ty_path_join(sub, "f.txt");
    ck_assert_ok(ty_file_write_atomic(path, "hello", 5, &err), &err);
    ck_assert_ok(ty_file_read(&data, &len, path, 100, &err), &err);
    ck_assert_str_eq(data, "hello");
    ck_assert_uint_eq(len, 5);
    free(data);
    ck_assert_fails_with(ty_file_read(&data, &len, path, 3, &err), &err, TY_ELIMIT,
                         "over the limit");
    ck_assert_ptr_null(data);
    free(path);
    path = ty_path_dirname(sub);
    ck_assert(ty_str_has_suffix(path, "/a/b"));
    free(path);
    ck_assert_ok(ty_rm_rf(dir, &err), &err);
    ck_assert_int_ne(access(dir, F_OK), 0);
    free(sub);
}
END_TEST

START_TEST(hashes_and_ids)
{
    char hex[65], guid[33], guid2[33];
    ty_sha256_hex(hex, "abc", 3);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ty_guid_new(guid);
    ty_guid_new(guid2);
    ck_assert_uint_eq(strlen(guid), 32);
    ck_assert_str_ne(guid, guid2);
    ty_hmac_sha256_hex(hex, "key", 3, "The quick brown fox jumps over the lazy dog", 43);
    ck_assert_str_eq(hex, "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
    /* RFC 4648 section 10 vectors, and bytes that are not text. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                        "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        char *b = ty_base64(plain[i], strlen(plain[i]));
        ck_assert_str_eq(b, coded[i]);
        free(b);
    }
    char *b = ty_base64("\xff\x00\xfe", 3);
    ck_assert_str_eq(b, "/wD+");
    free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("util");
    tcase_add_test(tc, error_wrap_prefixes_and_keeps_code);
    tcase_add_test(tc, buffers_grow_and_detach);
    tcase_add_test(tc, iso_times_round_trip);
    tcase_add_test(tc, strict_integers);
    tcase_add_test(tc, files_atomic_write_and_capped_read);
    tcase_add_test(tc, hashes_and_ids);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
