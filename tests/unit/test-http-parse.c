/* test-http-parse.c: oc-server's routing and request bodies, without a
 * socket or a sandbox. */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "body.h"
#include "route.h"

static int match(HttpRoute *r, const char *method, const char *path)
{
    return http_route_match(r, method, path);
}

START_TEST(test_routes)
{
    HttpRoute r;

    ck_assert_int_eq(match(&r, "POST", "/api/sandboxes"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_SANDBOX_CREATE);
    ck_assert_ptr_null(r.sandbox_id);
    ck_assert_int_eq(match(&r, "GET", "/api/sandboxes/"), 0); /* one trailing slash */
    ck_assert_int_eq(r.id, HTTP_ROUTE_SANDBOX_LIST);
    ck_assert_int_eq(match(&r, "GET", "/api/sandboxes/sb-0123456789ab"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_SANDBOX_GET);
    ck_assert_str_eq(r.sandbox_id, "sb-0123456789ab");
    ck_assert_str_eq(r.pattern, "/api/sandboxes/:id");
    http_route_clear(&r);

    /* a literal segment wins over a capture */
    ck_assert_int_eq(match(&r, "POST", "/api/sandboxes/sb-1/exec/run-async"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_EXEC_RUN_ASYNC);
    http_route_clear(&r);
    ck_assert_int_eq(match(&r, "GET", "/api/sandboxes/sb-1/exec/ex-17/result"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_EXEC_RESULT);
    ck_assert_str_eq(r.sub_id, "ex-17");
    http_route_clear(&r);
    ck_assert_int_eq(match(&r, "GET", "/api/sandboxes/sb-1/exec/12"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_EXEC_WS);
    ck_assert(r.websocket);
    http_route_clear(&r);
    ck_assert_int_eq(match(&r, "POST", "/api/sandboxes/from-checkpoint/cp-0123456789ab"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_FROM_CHECKPOINT);
    ck_assert_ptr_null(r.sandbox_id);
    ck_assert_str_eq(r.sub_id, "cp-0123456789ab");
    http_route_clear(&r);
    ck_assert_int_eq(match(&r, "DELETE", "/api/sandboxes/sb-1/checkpoints/cp-1"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_CHECKPOINT_DELETE);
    http_route_clear(&r);
    ck_assert_int_eq(match(&r, "GET", "/api/templates/base"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_TEMPLATE_GET);
    ck_assert_ptr_null(r.sandbox_id);
    ck_assert_str_eq(r.sub_id, "base");
    http_route_clear(&r);
    ck_assert_int_eq(match(&r, "GET", "/api/templates/..base"), 404);
    ck_assert_int_eq(match(&r, "POST", "/api/sandboxes/sb-1/pty/3/resize"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_PTY_RESIZE);
    http_route_clear(&r);
    ck_assert_int_eq(match(&r, "PUT", "/api/sandboxes/sb-1/network"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_NETWORK_PUT);
    http_route_clear(&r);
    ck_assert_int_eq(match(&r, "GET", "/api/sandboxes/sb-1/allowed-hosts"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_ALLOWED_HOSTS);
    ck_assert_str_eq(r.sandbox_id, "sb-1");
    http_route_clear(&r);

    /* unknown paths, other methods, ids that cannot be */
    ck_assert_int_eq(match(&r, "GET", "/api/nope"), 404);
    ck_assert_int_eq(match(&r, "GET", "/"), 404);
    ck_assert_int_eq(match(&r, "GET", "api/sandboxes"), 404);
    ck_assert_int_eq(match(&r, "GET", "/api/sandboxes//files"), 404);
    ck_assert_int_eq(match(&r, "PATCH", "/api/sandboxes"), 405);
    ck_assert_int_eq(match(&r, "PUT", "/api/sandboxes/sb-1/hibernate"), 405);
    ck_assert_int_eq(match(&r, "GET", "/api/sandboxes/../files"), 404);
    ck_assert_int_eq(match(&r, "GET", "/api/sandboxes/.hidden"), 404);
    ck_assert_int_eq(match(&r, "GET", "/api/sandboxes/a b"), 404);
    ck_assert_int_eq(r.id, HTTP_ROUTE_NONE);
}
END_TEST

/* Whether (method, path, host) is a preview, and of what. */
static gboolean preview(HttpPreviewTarget *t, const char *method, const char *path,
                        const char *host)
{
    http_preview_target_clear(t);
    return http_preview_match(t, method, path, host, "localhost");
}

START_TEST(test_preview_targets)
{
    HttpPreviewTarget t = { 0 };
    HttpRoute r;

    /* by path: the rest goes to the guest, still encoded */
    ck_assert(preview(&t, "GET", "/api/sandboxes/sb-1/preview/3000/a%20b/c", "127.0.0.1:8080"));
    ck_assert_str_eq(t.sandbox_id, "sb-1");
    ck_assert_uint_eq(t.port, 3000);
    ck_assert_str_eq(t.rest, "/a%20b/c");
    ck_assert(preview(&t, "POST", "/api/sandboxes/sb-1/preview/80", NULL));
    ck_assert_str_eq(t.rest, "/");
    ck_assert(preview(&t, "DELETE", "/api/sandboxes/sb-1/preview/80/", NULL));
    /* the SDK's own calls are routes, not previews */
    ck_assert(!preview(&t, "DELETE", "/api/sandboxes/sb-1/preview/80", NULL));
    ck_assert(!preview(&t, "POST", "/api/sandboxes/sb-1/preview/rotate", NULL));
    ck_assert(!preview(&t, "GET", "/api/sandboxes/sb-1/preview", NULL));
    ck_assert(!preview(&t, "POST", "/api/sandboxes/sb-1/preview", NULL));
    /* ports and ids that cannot be */
    ck_assert(!preview(&t, "GET", "/api/sandboxes/sb-1/preview/0/", NULL));
    ck_assert(!preview(&t, "GET", "/api/sandboxes/sb-1/preview/65536/", NULL));
    ck_assert(!preview(&t, "GET", "/api/sandboxes/sb-1/preview/-1/", NULL));
    ck_assert(!preview(&t, "GET", "/api/sandboxes/sb-1/preview/30x/", NULL));
    ck_assert(!preview(&t, "GET", "/api/sandboxes/../preview/3000/", NULL));
    ck_assert(!preview(&t, "GET", "/api/sandboxes//preview/3000/", NULL));
    ck_assert(!preview(&t, "GET", "/api/sandboxes/sb-1/files", NULL));

    /* by Host: any path, any port after ':', any case of the domain */
    ck_assert(preview(&t, "GET", "/api/sandboxes", "sb-0123456789ab-p3000.localhost:8080"));
    ck_assert_str_eq(t.sandbox_id, "sb-0123456789ab");
    ck_assert_uint_eq(t.port, 3000);
    ck_assert_str_eq(t.rest, "/api/sandboxes");
    ck_assert(preview(&t, "GET", "/", "sb-1-p80.LOCALHOST."));
    ck_assert_uint_eq(t.port, 80);
    ck_assert(!preview(&t, "GET", "/", "sb-1-p80.localhost.example"));
    ck_assert(!preview(&t, "GET", "/", "sb-1-p80.xlocalhost"));
    ck_assert(!preview(&t, "GET", "/", "sb-1-p0.localhost"));
    ck_assert(!preview(&t, "GET", "/", "sb-1-p99999.localhost"));
    ck_assert(!preview(&t, "GET", "/", "sb-1.localhost"));
    ck_assert(!preview(&t, "GET", "/", "-p80.localhost"));
    ck_assert(!preview(&t, "GET", "/", ".x-p80.localhost"));
    ck_assert(!preview(&t, "GET", "/", "localhost"));
    ck_assert(!preview(&t, "GET", "/", "[::1]:8080"));
    http_preview_target_clear(&t);

    /* the preview-URL routes */
    ck_assert_int_eq(http_route_match(&r, "POST", "/api/sandboxes/sb-1/preview/rotate"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_PREVIEW_ROTATE);
    http_route_clear(&r);
    ck_assert_int_eq(http_route_match(&r, "DELETE", "/api/sandboxes/sb-1/preview/3000"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_PREVIEW_DELETE);
    ck_assert_str_eq(r.sub_id, "3000");
    http_route_clear(&r);
    ck_assert_int_eq(http_route_match(&r, "GET", "/api/sandboxes/sb-1/preview"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_PREVIEW_LIST);
    http_route_clear(&r);
}
END_TEST

START_TEST(test_names)
{
    g_autofree char *long_name = g_strnfill(65, 'a');

    ck_assert(http_valid_name("base"));
    ck_assert(http_valid_name("my_tpl-1.2"));
    ck_assert(!http_valid_name(""));
    ck_assert(!http_valid_name(NULL));
    ck_assert(!http_valid_name(".."));
    ck_assert(!http_valid_name("a/b"));
    ck_assert(!http_valid_name("a\\b"));
    ck_assert(!http_valid_name(long_name));
    long_name[64] = '\0';
    ck_assert(http_valid_name(long_name));
}
END_TEST

static JsonObject *parse(const char *text, GError **error)
{
    return http_body_parse(text, strlen(text), error);
}

START_TEST(test_bodies)
{
    g_autoptr(GError) error = NULL;
    JsonObject *o;
    HttpCreateBody c;
    HttpExecBody e;

    o = parse("", &error);
    ck_assert_ptr_nonnull(o);
    json_object_unref(o);
    ck_assert_ptr_null(parse("{", &error));
    ck_assert_ptr_nonnull(strstr(error->message, "not valid JSON"));
    g_clear_error(&error);
    ck_assert_ptr_null(parse("[]", &error));
    g_clear_error(&error);

    o = parse("{\"templateID\":\"base\",\"timeout\":600,\"cpuCount\":2,\"memoryMB\":1024,"
              "\"envs\":{\"A\":\"1\"},\"metadata\":{\"k\":\"v=w\"},\"burst\":true}", &error);
    ck_assert(http_body_create(o, &c, &error));
    ck_assert_str_eq(c.template_name, "base");
    ck_assert_int_eq(c.timeout_s, 600);
    ck_assert_uint_eq(c.cpu_count, 2);
    ck_assert_uint_eq(c.memory_mb, 1024);
    ck_assert_str_eq(c.envs[0], "A=1");
    ck_assert_ptr_null(c.envs[1]);
    ck_assert_str_eq(c.metadata[0], "k=v=w");
    ck_assert(!c.network.given);
    http_create_body_clear(&c);
    json_object_unref(o);

    o = parse("{\"network\":{\"allowOut\":[\"10.0.2.2:80\",\"example.com\"],"
              "\"denyOut\":[],\"blockAll\":true}}", &error);
    ck_assert(http_body_create(o, &c, &error));
    ck_assert(c.network.given && c.network.block_all);
    ck_assert_str_eq(c.network.allow_out[1], "example.com");
    ck_assert_ptr_null(c.network.allow_out[2]);
    ck_assert_ptr_null(c.network.deny_out[0]);
    http_create_body_clear(&c);
    json_object_unref(o);
    /* {} is a policy too: none (PUT uses it to clear) */
    o = parse("{\"network\":{}}", &error);
    ck_assert(http_body_create(o, &c, &error));
    ck_assert(c.network.given && !c.network.block_all && !c.network.allow_out);
    http_create_body_clear(&c);
    json_object_unref(o);

    const char *bad[] = {
        "{\"templateID\":\"../etc\"}", "{\"templateID\":5}", "{\"timeout\":-1}",
        "{\"timeout\":1.5}", "{\"cpuCount\":\"2\"}", "{\"envs\":{\"A\":1}}",
        "{\"envs\":{\"A=B\":\"1\"}}", "{\"envs\":[\"A=1\"]}", "{\"image\":{}}",
        /* numbers no integer holds (converting them was undefined; found by fuzzing) */
        "{\"timeout\":1e999}", "{\"timeout\":-1e999}", "{\"timeout\":9.3e18}",
        "{\"memoryMB\":9223372036854775807}", "{\"cpuCount\":1e300}",
        /* a misspelt member would leave the sandbox open */
        "{\"network\":{\"allowout\":[]}}", "{\"network\":{\"allowOut\":\"10.0.2.2\"}}",
        "{\"network\":{\"denyOut\":[1]}}", "{\"network\":{\"blockAll\":1}}",
        "{\"network\":[]}", "{\"network\":\"none\"}",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        o = parse(bad[i], &error);
        ck_assert_ptr_nonnull(o);
        ck_assert_msg(!http_body_create(o, &c, &error), "accepted %s", bad[i]);
        ck_assert_ptr_nonnull(error);
        g_clear_error(&error);
        http_create_body_clear(&c);
        json_object_unref(o);
    }

    o = parse("{\"cmd\":\"sh\",\"args\":[\"-c\",\"echo hi\"],\"envs\":{\"X\":\"y\"},"
              "\"cwd\":\"/tmp\",\"timeout\":60}", &error);
    ck_assert(http_body_exec(o, &e, &error));
    ck_assert_str_eq(e.cmd, "sh");
    ck_assert_str_eq(e.args[1], "echo hi");
    ck_assert_str_eq(e.envs[0], "X=y");
    ck_assert_str_eq(e.cwd, "/tmp");
    ck_assert_int_eq(e.timeout_s, 60);
    http_exec_body_clear(&e);
    json_object_unref(o);
    o = parse("{\"args\":[\"x\"]}", &error);
    ck_assert(!http_body_exec(o, &e, &error));
    ck_assert_ptr_nonnull(strstr(error->message, "'cmd' is required"));
    g_clear_error(&error);
    http_exec_body_clear(&e);
    json_object_unref(o);
    o = parse("{\"cmd\":\"ls\",\"args\":[1]}", &error);
    ck_assert(!http_body_exec(o, &e, &error));
    http_exec_body_clear(&e);
    json_object_unref(o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http-parse");
    TCase *tc = tcase_create("http-parse");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_routes);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_preview_targets);
    tcase_add_test(tc, test_bodies);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
