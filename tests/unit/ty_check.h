/*
 * ty_check.h - helpers shared by the Check unit tests.
 */
#ifndef TY_TESTS_CHECK_H
#define TY_TESTS_CHECK_H

#include "util/error.h"

#include <check.h>
#include <stdlib.h>

/* Asserts rc == 0 and prints the error message when it is not. */
#define ck_assert_ok(rc, errp)                                                                     \
    ck_assert_msg((rc) == 0, "expected success, got %d: %s", (int)(rc), (errp)->msg)

/* Asserts rc == code and that the message contains needle. */
#define ck_assert_fails_with(rc, errp, code, needle)                                               \
    do {                                                                                           \
        ck_assert_msg((rc) == (code), "expected code %d, got %d: %s", (int)(code), (int)(rc),     \
                      (errp)->msg);                                                                \
        ck_assert_msg(strstr((errp)->msg, (needle)) != NULL, "message '%s' lacks '%s'",           \
                      (errp)->msg, (needle));                                                      \
    } while (0)

/* The source tree, for test data (set by ctest; falls back to "."). */
static inline const char *ty_test_source_dir(void)
{
    const char *s = getenv("TY_SOURCE_DIR");
    return s ? s : ".";
}

/* Runs one suite and returns the process exit status. */
static inline int ty_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
