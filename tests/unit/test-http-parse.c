/* test-http-parse.c: oc-server's routing, request bodies and Image manifests,
 * without a socket or a sandbox. */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "body.h"
#include "image.h"
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
    ck_assert_int_eq(match(&r, "POST", "/api/templates"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_TEMPLATE_BUILD);
    http_route_clear(&r);
    ck_assert_int_eq(match(&r, "DELETE", "/api/snapshots/data-science"), 0);
    ck_assert_int_eq(r.id, HTTP_ROUTE_SNAPSHOT_DELETE);
    ck_assert_ptr_null(r.sandbox_id);
    ck_assert_str_eq(r.sub_id, "data-science");
    http_route_clear(&r);
    ck_assert_int_eq(match(&r, "GET", "/api/snapshots/..x"), 404);
    ck_assert_int_eq(match(&r, "PUT", "/api/snapshots"), 405);
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
        "{\"envs\":{\"A=B\":\"1\"}}", "{\"envs\":[\"A=1\"]}", "{\"image\":[]}",
        "{\"image\":\"python\"}", "{\"snapshot\":\"../x\"}", "{\"snapshot\":1}",
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

/* ---- the SDK's Image manifests as build steps (image.c) ---- */

static JsonObject *manifest(const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonObject *o = http_body_parse(text, strlen(text), &error);

    ck_assert_msg(o != NULL, "%s", error ? error->message : "");
    return o;
}

static const oc_build_step *step(const HttpImage *img, guint i)
{
    return &g_array_index(img->steps, oc_build_step, i);
}

/* What the SDK sends for Image.base().aptInstall(['jq', 'curl'])
 * .pipInstall(['requests']).runCommands('a', 'b').env({K: 'v', L: 'w'})
 * .workdir('/app').addFile('/app/c.txt', 'hi').addLocalDir(..., '/opt/d') */
static const char sdk_image[] =
    "{\"base\":\"base\",\"steps\":["
    "{\"type\":\"apt_install\",\"args\":{\"packages\":[\"jq\",\"curl\"]}},"
    "{\"type\":\"pip_install\",\"args\":{\"packages\":[\"requests\"]}},"
    "{\"type\":\"run\",\"args\":{\"commands\":[\"a\",\"b\"]}},"
    "{\"type\":\"env\",\"args\":{\"vars\":{\"K\":\"v\",\"L\":\"w\"}}},"
    "{\"type\":\"workdir\",\"args\":{\"path\":\"/app\"}},"
    "{\"type\":\"add_file\",\"args\":{\"path\":\"/app/c.txt\",\"content\":\"aGk=\","
    "\"encoding\":\"base64\"}},"
    "{\"type\":\"add_dir\",\"args\":{\"path\":\"/opt/d\",\"files\":["
    "{\"relativePath\":\"x/y.txt\",\"content\":\"eXk=\"}]}}],"
    "\"builderMemoryMB\":8192}";

START_TEST(test_mapping)
{
    g_autoptr(GError) error = NULL;
    JsonObject *o = manifest(sdk_image);
    HttpImage img;
    g_autofree char *file = NULL, *nested = NULL, *text = NULL;

    ck_assert_msg(http_image_parse(o, &img, &error), "%s", error ? error->message : "");
    ck_assert_str_eq(img.parent, "base");
    ck_assert_uint_eq(img.memory_mb, OC_MAX_MEMORY_MB); /* capped */
    ck_assert_uint_eq(img.steps->len, 9);
    ck_assert_uint_eq(step(&img, 0)->kind, OC_BUILD_STEP_APT);
    ck_assert_str_eq(step(&img, 0)->args[1], "curl");
    ck_assert_ptr_null(step(&img, 0)->args[2]);
    ck_assert_uint_eq(step(&img, 1)->kind, OC_BUILD_STEP_RUN);
    ck_assert_ptr_nonnull(strstr(step(&img, 1)->args[0], "pip install"));
    ck_assert_ptr_nonnull(strstr(step(&img, 1)->args[0], "'requests'"));
    ck_assert_str_eq(step(&img, 2)->args[0], "a");
    ck_assert_str_eq(step(&img, 3)->args[0], "b");
    ck_assert_uint_eq(step(&img, 4)->kind, OC_BUILD_STEP_ENV);
    ck_assert_str_eq(step(&img, 4)->args[0], "K");
    ck_assert_str_eq(step(&img, 5)->args[1], "w");
    ck_assert_uint_eq(step(&img, 6)->kind, OC_BUILD_STEP_WORKDIR);
    ck_assert_uint_eq(step(&img, 7)->kind, OC_BUILD_STEP_COPY);
    ck_assert_str_eq(step(&img, 7)->args[1], "/app/c.txt");
    ck_assert_uint_eq(step(&img, 8)->kind, OC_BUILD_STEP_COPY);
    ck_assert_str_eq(step(&img, 8)->args[1], "/opt/d");
    ck_assert(g_str_has_prefix(img.name, "img-"));
    ck_assert_uint_eq(strlen(img.name), 36);
    ck_assert_ptr_null(img.context_dir);

    /* the files the COPY steps name, with their contents */
    ck_assert(http_image_write_context(&img, &error));
    file = g_build_filename(img.context_dir, step(&img, 7)->args[0], NULL);
    ck_assert(g_file_get_contents(file, &text, NULL, NULL));
    ck_assert_str_eq(text, "hi");
    g_clear_pointer(&text, g_free);
    nested = g_build_filename(img.context_dir, step(&img, 8)->args[0], "x", "y.txt", NULL);
    ck_assert(g_file_get_contents(nested, &text, NULL, NULL));
    ck_assert_str_eq(text, "yy");
    http_image_clear(&img);
    ck_assert(!g_file_test(file, G_FILE_TEST_EXISTS));
    json_object_unref(o);
}
END_TEST

/* The name follows the content: the same image, the same name; one byte of
 * a file changed, another; memory, which is no content, changes nothing. */
START_TEST(test_hash)
{
    const char *a = "{\"base\":\"base\",\"steps\":[{\"type\":\"add_file\",\"args\":{\"path\":\"/f\","
                    "\"content\":\"YQ==\",\"encoding\":\"base64\"}}]}";
    const char *b = "{\"base\":\"base\",\"steps\":[{\"type\":\"add_file\",\"args\":{\"path\":\"/f\","
                    "\"content\":\"Yg==\",\"encoding\":\"base64\"}}]}";
    const char *a_mem = "{\"base\":\"base\",\"builderMemoryMB\":1024,\"steps\":[{\"type\":"
                        "\"add_file\",\"args\":{\"path\":\"/f\",\"content\":\"YQ==\","
                        "\"encoding\":\"base64\"}}]}";
    const char *texts[] = { a, a, b, a_mem };
    char *names[4];

    for (int i = 0; i < 4; i++) {
        JsonObject *o = manifest(texts[i]);
        HttpImage img;

        ck_assert(http_image_parse(o, &img, NULL));
        names[i] = g_strdup(img.name);
        http_image_clear(&img);
        json_object_unref(o);
    }
    ck_assert_str_eq(names[0], names[1]);
    ck_assert_str_ne(names[0], names[2]);
    ck_assert_str_eq(names[0], names[3]);
    for (int i = 0; i < 4; i++)
        g_free(names[i]);
}
END_TEST

START_TEST(test_refused)
{
    const char *bad[][2] = {
        { "{\"steps\":[]}", "'base'" },
        { "{\"base\":\"../etc\",\"steps\":[]}", "'base'" },
        { "{\"base\":\"base\"}", "'steps'" },
        { "{\"base\":\"base\",\"steps\":[{\"type\":\"add_secret\",\"args\":{}}]}",
          "image step 1 (add_secret)" },
        { "{\"base\":\"base\",\"steps\":[{\"type\":\"run\",\"args\":{}},{\"type\":\"run\"}]}",
          "image step 1 (run)" },
        { "{\"base\":\"base\",\"steps\":[{\"type\":\"run\",\"args\":{\"commands\":[\"a\"]}},"
          "{\"type\":\"run\"}]}", "image step 2 (run)" },
        { "{\"base\":\"base\",\"steps\":[{\"type\":\"apt_install\",\"args\":{\"packages\":[]}}]}",
          "'packages'" },
        { "{\"base\":\"base\",\"steps\":[{\"type\":\"env\",\"args\":{\"vars\":{\"A=B\":\"1\"}}}]}",
          "A=B" },
        { "{\"base\":\"base\",\"steps\":[{\"type\":\"workdir\",\"args\":{\"path\":\"rel\"}}]}",
          "absolute" },
        { "{\"base\":\"base\",\"steps\":[{\"type\":\"add_file\",\"args\":{\"path\":\"/f\"}}]}",
          "'content'" },
        { "{\"base\":\"base\",\"steps\":[{\"type\":\"add_file\",\"args\":{\"path\":\"/f\","
          "\"content\":\"x\",\"encoding\":\"rot13\"}}]}", "'content'" },
        { "{\"base\":\"base\",\"steps\":[{\"type\":\"add_dir\",\"args\":{\"path\":\"/d\","
          "\"files\":[{\"relativePath\":\"../x\",\"content\":\"eA==\"}]}}]}", "'relativePath'" },
        { "{\"base\":\"base\",\"steps\":[{\"type\":\"add_dir\",\"args\":{\"path\":\"/d\","
          "\"files\":[{\"relativePath\":\"/etc/x\",\"content\":\"eA==\"}]}}]}", "'relativePath'" },
        { "{\"base\":\"base\",\"steps\":[],\"builderMemoryMB\":\"lots\"}", "builderMemoryMB" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        JsonObject *o = manifest(bad[i][0]);
        HttpImage img;

        ck_assert_msg(!http_image_parse(o, &img, &error), "accepted %s", bad[i][0]);
        ck_assert_msg(strstr(error->message, bad[i][1]) != NULL, "%s: %s", bad[i][0],
                      error->message);
        http_image_clear(&img);
        json_object_unref(o);
    }
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
    tcase_add_test(tc, test_mapping);
    tcase_add_test(tc, test_hash);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
