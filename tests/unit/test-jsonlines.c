/* test-jsonlines.c: the host side of agent sessions without a VM: how the
 * agent program's stdout becomes events (util/jsonlines.c). */
#include <check.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "util/jsonlines.h"

/* What came out: "type|json" a line. */
static void collect(const char *type, const char *json, gpointer user_data)
{
    g_ptr_array_add(user_data, g_strdup_printf("%s|%s", type, json));
}

static JsonLines *lines_new(GPtrArray *got, gsize max_line)
{
    return json_lines_new(max_line, collect, got);
}

/* The member name of event i (which must be JSON), as a string. */
static char *member(GPtrArray *got, guint i, const char *name)
{
    const char *json = strchr(got->pdata[i], '|') + 1;
    g_autoptr(JsonParser) p = json_parser_new();
    ck_assert(json_parser_load_from_data(p, json, -1, NULL));
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    JsonNode *n = json_object_get_member(o, name);
    if (!n)
        return NULL;
    if (json_node_get_value_type(n) == G_TYPE_INT64)
        return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
    return g_strdup(json_node_get_string(n));
}

START_TEST(test_events_split_across_chunks)
{
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
    JsonLines *jl = lines_new(got, 1024);
    const char *text = "{\"type\":\"ready\"}\n\n  \r\n{\"type\":\"assistant\",\"text\":\"a\\nb\"}\r\n"
                       "{\"no_type\":1}\n{\"type\":7}\n{\"type\":\"turn_complete\"}";

    /* One byte at a time: a line's pieces join whatever the chunking. */
    for (const char *p = text; *p; p++)
        json_lines_feed(jl, p, 1);
    ck_assert_uint_eq(got->len, 4);
    json_lines_finish(jl);
    ck_assert_uint_eq(got->len, 5);
    ck_assert_str_eq(got->pdata[0], "ready|{\"type\":\"ready\"}");
    ck_assert_str_eq(got->pdata[1], "assistant|{\"type\":\"assistant\",\"text\":\"a\\nb\"}");
    ck_assert_str_eq(got->pdata[2], "|{\"no_type\":1}");
    ck_assert_str_eq(got->pdata[3], "|{\"type\":7}");
    ck_assert_str_eq(got->pdata[4], "turn_complete|{\"type\":\"turn_complete\"}");
    json_lines_free(jl);
}
END_TEST

START_TEST(test_garbage_is_an_error_event)
{
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
    JsonLines *jl = lines_new(got, 1024);
    const char *text = "not json at all\n[1,2]\n{\"type\":\"ready\"\n\xff\xfe bad utf8\n"
                       "{\"type\":\"result\"}\n";

    json_lines_feed(jl, text, strlen(text));
    ck_assert_uint_eq(got->len, 5);
    for (guint i = 0; i < 4; i++) {
        ck_assert(g_str_has_prefix(got->pdata[i], "error|"));
        g_autofree char *source = member(got, i, "source");
        ck_assert_str_eq(source, "host");
    }
    g_autofree char *raw0 = member(got, 0, "raw");
    ck_assert_str_eq(raw0, "not json at all");
    g_autofree char *raw1 = member(got, 1, "raw");
    ck_assert_str_eq(raw1, "[1,2]");
    g_autofree char *msg1 = member(got, 1, "message");
    ck_assert_ptr_nonnull(strstr(msg1, "not an object"));
    g_autofree char *raw2 = member(got, 2, "raw");
    ck_assert_str_eq(raw2, "{\"type\":\"ready\"");
    /* Raw text that is not UTF-8 still makes a valid JSON event. */
    g_autofree char *raw3 = member(got, 3, "raw");
    ck_assert(g_str_has_suffix(raw3, " bad utf8"));
    /* The stream goes on. */
    ck_assert_str_eq(got->pdata[4], "result|{\"type\":\"result\"}");
    json_lines_free(jl);
}
END_TEST

START_TEST(test_long_line_is_bounded)
{
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
    JsonLines *jl = lines_new(got, 64);
    g_autofree char *big = g_strnfill(200, 'x');

    /* Exactly the limit passes; one byte more does not. */
    g_autofree char *fits = g_strdup_printf("{\"type\":\"a\",\"p\":\"%.*s\"}\n", 64 - 19, big);
    ck_assert_uint_eq(strlen(fits), 64 + 1);
    json_lines_feed(jl, fits, strlen(fits));
    ck_assert_uint_eq(got->len, 1);
    ck_assert(g_str_has_prefix(got->pdata[0], "a|"));
    g_autofree char *over = g_strdup_printf("{\"type\":\"b\",\"p\":\"%.*s\"}\n", 64 - 18, big);
    json_lines_feed(jl, over, 30);
    json_lines_feed(jl, over + 30, strlen(over) - 30);
    ck_assert_uint_eq(got->len, 2);
    ck_assert(g_str_has_prefix(got->pdata[1], "error|"));
    g_autofree char *raw = member(got, 1, "raw");
    ck_assert(g_str_has_prefix(raw, "{\"type\":\"b\""));
    ck_assert_uint_le(strlen(raw), JSON_LINES_EXCERPT);
    /* Far longer, in many chunks: one error, then the next line is whole. */
    for (int i = 0; i < 100; i++)
        json_lines_feed(jl, big, 200);
    json_lines_feed(jl, "\n{\"type\":\"c\"}\n", 14);
    ck_assert_uint_eq(got->len, 4);
    ck_assert(g_str_has_prefix(got->pdata[2], "error|"));
    ck_assert_str_eq(got->pdata[3], "c|{\"type\":\"c\"}");
    json_lines_free(jl);
}
END_TEST

START_TEST(test_gap_drops_the_cut_line)
{
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
    JsonLines *jl = lines_new(got, 1024);

    json_lines_feed(jl, "{\"type\":\"a\"}\n{\"type\":\"be", 24);
    json_lines_gap(jl, 5000);
    json_lines_feed(jl, "fore\"}\n{\"type\":\"after\"}\npartial", 31);
    ck_assert_uint_eq(got->len, 3);
    ck_assert_str_eq(got->pdata[0], "a|{\"type\":\"a\"}");
    ck_assert(g_str_has_prefix(got->pdata[1], "error|"));
    g_autofree char *lost = member(got, 1, "lost_bytes");
    ck_assert_str_eq(lost, "5000");
    ck_assert_str_eq(got->pdata[2], "after|{\"type\":\"after\"}");
    /* A gap at the very end: the partial line is dropped, not taken. */
    json_lines_gap(jl, 1);
    json_lines_finish(jl);
    ck_assert_uint_eq(got->len, 4);
    json_lines_free(jl);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonlines");
    TCase *tc = tcase_create("jsonlines");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_events_split_across_chunks);
    tcase_add_test(tc, test_garbage_is_an_error_event);
    tcase_add_test(tc, test_long_line_is_bounded);
    tcase_add_test(tc, test_gap_drops_the_cut_line);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
