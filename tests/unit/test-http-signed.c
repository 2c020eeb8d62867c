/* test-http-signed.c: oc-server's signed file URLs (signed-url.c) and
 * their routes, without a socket or a sandbox. */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "route.h"
#include "signed-url.h"

#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
/* KEY with its first byte changed */
#define OTHER_KEY "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define NOW 1800000000

static HttpSigner *signer(const char *hex)
{
    g_autoptr(GError) error = NULL;
    HttpSigner *s = http_signer_new(hex, "test.key", &error);

    ck_assert_msg(s, "%s", error ? error->message : "");
    return s;
}

/* One check of a URL signed for ("sb-1", "get", "/tmp/a", NOW + 60): the
 * parameters as they come (NULL: the original) and what it must give. */
typedef struct {
    const char *id, *op, *path, *exp, *sig;
    gint64 now;
    HttpSignedCheck want;
} Case;

static void run_cases(const HttpSigner *s, const Case *cases, size_t n)
{
    g_autofree char *sig = http_signer_sign(s, "sb-1", "get", "/tmp/a", NOW + 60);
    g_autofree char *exp = g_strdup_printf("%d", NOW + 60);

    ck_assert_uint_eq(strlen(sig), 64);
    for (size_t i = 0; i < n; i++) {
        const Case *c = &cases[i];

        ck_assert_msg(http_signer_check(s, c->id ? c->id : "sb-1", c->op ? c->op : "get",
                                        c->path ? c->path : "/tmp/a", c->exp ? c->exp : exp,
                                        c->sig ? c->sig : sig, c->now) == c->want,
                      "case %zu", i);
    }
}

START_TEST(test_sign_and_check)
{
    HttpSigner *s = signer(KEY "\n");
    const Case cases[] = {
        { .now = NOW, .want = HTTP_SIGNED_OK },
        /* the last second still counts, the next does not */
        { .now = NOW + 60, .want = HTTP_SIGNED_OK },
        { .now = NOW + 61, .want = HTTP_SIGNED_EXPIRED },
    };

    run_cases(s, cases, G_N_ELEMENTS(cases));
    http_signer_free(s);
}
END_TEST

START_TEST(test_tampering)
{
    HttpSigner *s = signer(KEY), *other = signer(OTHER_KEY);
    g_autofree char *sig = http_signer_sign(s, "sb-1", "get", "/tmp/a", NOW + 60);
    g_autofree char *upper = g_ascii_strup(sig, -1);
    g_autofree char *flipped = g_strdup(sig);
    g_autofree char *later = g_strdup_printf("%d", NOW + 61);
    g_autofree char *padded = g_strdup_printf("0%d", NOW + 60);
    const Case cases[] = {
        { .id = "sb-2", .now = NOW, .want = HTTP_SIGNED_INVALID },
        { .op = "put", .now = NOW, .want = HTTP_SIGNED_INVALID },
        { .path = "/tmp/b", .now = NOW, .want = HTTP_SIGNED_INVALID },
        { .path = "/tmp/a/", .now = NOW, .want = HTTP_SIGNED_INVALID },
        { .exp = later, .now = NOW, .want = HTTP_SIGNED_INVALID },
        { .sig = flipped, .now = NOW, .want = HTTP_SIGNED_INVALID },
        /* a bad signature past the expiry is invalid, not expired */
        { .sig = flipped, .now = NOW + 100, .want = HTTP_SIGNED_INVALID },
        /* hex digits in either case are the same bytes, and so is a number
         * with a leading zero */
        { .sig = upper, .now = NOW, .want = HTTP_SIGNED_OK },
        { .exp = padded, .now = NOW, .want = HTTP_SIGNED_OK },
    };
    g_autofree char *theirs = http_signer_sign(other, "sb-1", "get", "/tmp/a", NOW + 60);

    flipped[10] = flipped[10] == '0' ? '1' : '0';
    run_cases(s, cases, G_N_ELEMENTS(cases));
    /* a signature under another key */
    ck_assert_str_ne(theirs, sig);
    run_cases(other, &(Case){ .sig = sig, .now = NOW, .want = HTTP_SIGNED_INVALID }, 1);
    http_signer_free(other);
    http_signer_free(s);
}
END_TEST

START_TEST(test_malformed)
{
    HttpSigner *s = signer(KEY);
    g_autofree char *sig = http_signer_sign(s, "sb-1", "get", "/tmp/a", NOW + 60);
    g_autofree char *shortsig = g_strndup(sig, 62);
    g_autofree char *plus = g_strdup_printf("+%d", NOW + 60);
    const Case cases[] = {
        { .exp = plus, .now = NOW, .want = HTTP_SIGNED_INVALID },
        { .exp = "-1", .now = NOW, .want = HTTP_SIGNED_INVALID },
        { .exp = "", .now = NOW, .want = HTTP_SIGNED_INVALID },
        { .exp = "99999999999999999999", .now = NOW, .want = HTTP_SIGNED_INVALID },
        { .sig = shortsig, .now = NOW, .want = HTTP_SIGNED_INVALID },
        { .sig = "", .now = NOW, .want = HTTP_SIGNED_INVALID },
    };
    const char *bad_keys[] = {
        "", "00", KEY "00",
        "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "0x112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    };
    g_autoptr(GError) error = NULL;

    run_cases(s, cases, G_N_ELEMENTS(cases));
    /* a parameter missing from the query */
    ck_assert_int_eq(http_signer_check(s, "sb-1", "get", "/tmp/a", NULL, sig, NOW),
                     HTTP_SIGNED_INVALID);
    ck_assert_int_eq(http_signer_check(s, "sb-1", NULL, "/tmp/a", "1", NULL, NOW),
                     HTTP_SIGNED_INVALID);
    for (size_t i = 0; i < G_N_ELEMENTS(bad_keys); i++) {
        ck_assert_ptr_null(http_signer_new(bad_keys[i], "x.key", &error));
        ck_assert(strstr(error->message, "x.key") && strstr(error->message, "remove it"));
        g_clear_error(&error);
    }
    http_signer_free(s);
}
END_TEST

START_TEST(test_routes)
{
    HttpRoute r;

    ck_assert_int_eq(http_route_match(&r, "POST", "/api/sandboxes/sb-1/files/download-url"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_FILES_DOWNLOAD_URL);
    ck_assert_str_eq(r.sandbox_id, "sb-1");
    http_route_clear(&r);
    ck_assert_int_eq(http_route_match(&r, "POST", "/api/sandboxes/sb-1/files/upload-url"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_FILES_UPLOAD_URL);
    http_route_clear(&r);
    ck_assert_int_eq(http_route_match(&r, "GET", "/api/sandboxes/sb-1/files/signed"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_FILES_SIGNED_GET);
    http_route_clear(&r);
    ck_assert_int_eq(http_route_match(&r, "PUT", "/api/sandboxes/sb-1/files/signed"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_FILES_SIGNED_PUT);
    http_route_clear(&r);
    ck_assert_int_eq(http_route_match(&r, "OPTIONS", "/api/sandboxes/sb-1/files/signed"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_FILES_SIGNED_PREFLIGHT);
    http_route_clear(&r);
    ck_assert_int_eq(http_route_match(&r, "DELETE", "/api/sandboxes/sb-1/files/signed"), 405);
    ck_assert_int_eq(http_route_match(&r, "GET", "/api/sandboxes/sb-1/files/download-url"), 405);
    ck_assert_int_eq(http_route_match(&r, "GET", "/api/sandboxes/../files/signed"), 404);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http-signed");
    TCase *tc = tcase_create("http-signed");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_sign_and_check);
    tcase_add_test(tc, test_tampering);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_routes);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
