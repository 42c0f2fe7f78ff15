/*
 * test_slug.c - KubeSpawner's "safe" slugs (published vectors) and the
 * username table: every awkward name gives valid, distinct, stable object
 * names and label values, checked against the apimachinery regexes.
 */
#include "compose/compose.h"
#include "ty_check.h"
#include "util/slug.h"

#include <regex.h>
#include <string.h>

static bool rx_match(const char *pattern, const char *s)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

#define DNS1123_LABEL "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#define DNS1123_SUBDOMAIN "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#define RFC1035_LABEL "^[a-z]([-a-z0-9]*[a-z0-9])?$"
#define LABEL_VALUE "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"

struct vec {
    const char *in, *object48, *label;
};

/* kubernetes.md §4.2 (run against the upstream slugs.py) and upstream tests. */
static const struct vec vectors[] = {
    {"alice", "alice", "alice"},
    {"alice@example.org", "alice-example-org---7a64adf2", "alice-example-org---7a64adf2"},
    {"Alice", "alice---3bc51062", "Alice"},
    {"alice.smith", "alice-smith---63425827", "alice.smith"},
    {"bob-jones", "bob-jones", "bob-jones"},
    {"9lives", "x-9lives---bc867356", "9lives"},
    {"alice--x", "alice-x---2bbc534b", "alice-x---2bbc534b"},
    {"user@email.com", "user-email-com---0925f997", "user-email-com---0925f997"},
    {"", "x---e3b0c442", ""},
};

START_TEST(published_vectors)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char *o = ty_slug_object(vectors[i].in, 48);
        char *l = ty_slug_label(vectors[i].in);
        ck_assert_str_eq(o, vectors[i].object48);
        ck_assert_str_eq(l, vectors[i].label);
        free(o);
        free(l);
    }
    char a70[71];
    memset(a70, 'a', 70);
    a70[70] = '\0';
    char *o = ty_slug_object(a70, 48), *l = ty_slug_label(a70);
    ck_assert_str_eq(o, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa---6bd5e503");
    ck_assert_str_eq(l, "aaaaaaaaaaaaaaaaaaaaa---6bd5e503");
    free(o);
    free(l);
}
END_TEST

static const char *const usernames[] = {
    "alice@example.org", "_bob", "-x", "\xc3\x9c" "n\xc3\xaf" "code",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "a--b", "UPPER", "alice", "alice.smith", "9lives", "a b/c:d", NULL,
};

START_TEST(username_table)
{
    char *objs[16] = {0}, *labels[16] = {0}, *sys[16] = {0}, *svc[16] = {0};
    size_t n = 0;
    for (; usernames[n]; n++) {
        const char *u = usernames[n];
        objs[n] = ty_slug_object(u, 0);
        labels[n] = ty_slug_label(u);
        ck_assert_msg(rx_match(DNS1123_LABEL, objs[n]) && strlen(objs[n]) <= 63,
                      "object slug '%s' of '%s'", objs[n], u);
        ck_assert_msg(rx_match(RFC1035_LABEL, objs[n]), "object slug '%s' not RFC 1035", objs[n]);
        ck_assert_msg(rx_match(LABEL_VALUE, labels[n]) && strlen(labels[n]) <= 63,
                      "label slug '%s' of '%s'", labels[n], u);
        ck_assert(ty_is_dns1123_label(objs[n]) && ty_is_rfc1035_label(objs[n]));
        ck_assert(ty_is_label_value(labels[n]));
        /* Stable: the same input gives the same output. */
        char *again = ty_slug_object(u, 0), *again_l = ty_slug_label(u);
        ck_assert_str_eq(again, objs[n]);
        ck_assert_str_eq(again_l, labels[n]);
        free(again);
        free(again_l);
        /* Names built from them. */
        char *sel = compose_user_selector(u);
        ck_assert(strstr(sel, labels[n]) != NULL);
        free(sel);
        sys[n] = compose_system_name("jupyter-ds", "0123456789abcdef0123456789abcdef");
        ck_assert(rx_match(DNS1123_SUBDOMAIN, sys[n]) && strlen(sys[n]) <= 63);
        char *secret = NULL;
        secret = malloc(strlen(objs[n]) + 16);
        sprintf(secret, "%s-id-gitea", objs[n]);
        ck_assert(rx_match(DNS1123_SUBDOMAIN, secret));
        free(secret);
        svc[n] = NULL;
    }
    /* Distinct. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            ck_assert_msg(strcmp(objs[i], objs[j]), "objects collide: %s", objs[i]);
            ck_assert_msg(strcmp(labels[i], labels[j]), "labels collide: %s", labels[i]);
        }
    for (size_t i = 0; i < n; i++) {
        free(objs[i]);
        free(labels[i]);
        free(sys[i]);
        free(svc[i]);
    }
}
END_TEST

START_TEST(validators)
{
    ck_assert(ty_is_dns1123_label("a-1"));
    ck_assert(!ty_is_dns1123_label("-a"));
    ck_assert(!ty_is_dns1123_label("A"));
    ck_assert(ty_is_dns1123_subdomain("a.b-c.d"));
    ck_assert(!ty_is_dns1123_subdomain("a..b"));
    ck_assert(ty_is_rfc1035_label("abc"));
    ck_assert(!ty_is_rfc1035_label("1abc"));
    ck_assert(ty_is_label_value(""));
    ck_assert(ty_is_label_value("Alice_1.x"));
    ck_assert(!ty_is_label_value("alice@example.org"));
    ck_assert(ty_is_label_key("app.kubernetes.io/name"));
    ck_assert(ty_is_label_key("tycho-guid"));
    ck_assert(!ty_is_label_key("/name"));
    char long64[65];
    memset(long64, 'a', 64);
    long64[64] = '\0';
    ck_assert(!ty_is_dns1123_label(long64));
    ck_assert(!ty_is_label_value(long64));
}
END_TEST

START_TEST(url_and_selectors)
{
    char *p = compose_url_path("jupyter-ds", "alice@example.org", "0123");
    ck_assert_str_eq(p, "/private/jupyter-ds/alice@example.org/0123/");
    free(p);
    p = compose_url_path("app", "a b/c", "g");
    ck_assert_str_eq(p, "/private/app/a%20b%2Fc/g/");
    free(p);
    p = compose_guid_selector("abc");
    ck_assert_str_eq(p, "executor=tycho,tycho-guid=abc");
    free(p);
    p = compose_system_name("Jupyter_DS", "abc");
    ck_assert(ty_is_dns1123_label(p));
    free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compose.slug");
    TCase *tc = tcase_create("slug");
    tcase_add_test(tc, published_vectors);
    tcase_add_test(tc, username_table);
    tcase_add_test(tc, validators);
    tcase_add_test(tc, url_and_selectors);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
