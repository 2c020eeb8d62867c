/* test-overlay.c: the in-process qcow2 overlay writer, checked by the QEMU
 * tools themselves (qemu-img check/info, qemu-io), which are the judges that
 * matter: QEMU has to open these images as sandbox disks. */
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "virt/overlay.h"

static char *tmp_dir;

static void setup(void)
{
    GError *err = NULL;
    tmp_dir = g_dir_make_tmp("oc-overlay-XXXXXX", &err);
    ck_assert_msg(tmp_dir, "%s", err ? err->message : "");
}

static void teardown(void)
{
    GDir *dir = g_dir_open(tmp_dir, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *p = g_build_filename(tmp_dir, name, NULL);
        g_unlink(p);
    }
    if (dir)
        g_dir_close(dir);
    g_rmdir(tmp_dir);
    g_clear_pointer(&tmp_dir, g_free);
}

static char *in_tmp(const char *name)
{
    return g_build_filename(tmp_dir, name, NULL);
}

/* Runs argv; returns whether it exited 0, with its stdout in *out (if
 * out) and its stderr in *errout (if errout) for failure messages. */
static gboolean run(const char *const *argv, char **out, char **errout)
{
    g_autofree char *o = NULL, *e = NULL;
    GError *err = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &o, &e,
                      &status, &err))
        ck_abort_msg("cannot run %s: %s", argv[0], err->message);
    if (out)
        *out = g_steal_pointer(&o);
    if (errout)
        *errout = g_steal_pointer(&e);
    return g_spawn_check_wait_status(status, NULL);
}

static void make_base(const char *file, const char *size, const char *compat)
{
    g_autofree char *opt = g_strdup_printf("compat=%s", compat);
    const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-o", opt, file, size,
                           NULL };
    g_autofree char *e = NULL;
    ck_assert_msg(run(argv, NULL, &e), "qemu-img create %s: %s", file, e);
}

static JsonObject *info(const char *file, JsonParser *parser)
{
    const char *argv[] = { "qemu-img", "info", "--output=json", file, NULL };
    g_autofree char *out = NULL, *e = NULL;
    GError *err = NULL;

    ck_assert_msg(run(argv, &out, &e), "qemu-img info %s: %s", file, e);
    ck_assert_msg(json_parser_load_from_data(parser, out, -1, &err), "%s", out);
    return json_node_get_object(json_parser_get_root(parser));
}

/* Asserts qemu-img check is clean and the overlay reports what it must. */
static void assert_overlay(const char *overlay, const char *base, const char *backing_name)
{
    const char *check[] = { "qemu-img", "check", overlay, NULL };
    g_autofree char *e = NULL, *out = NULL;
    g_autoptr(JsonParser) pb = json_parser_new();
    g_autoptr(JsonParser) po = json_parser_new();
    JsonObject *b = info(base, pb), *o = info(overlay, po);

    ck_assert_msg(run(check, &out, &e), "qemu-img check %s: %s%s", overlay, out, e);
    ck_assert_int_eq(json_object_get_int_member(o, "virtual-size"),
                     json_object_get_int_member(b, "virtual-size"));
    ck_assert_str_eq(json_object_get_string_member(o, "format"), "qcow2");
    ck_assert_str_eq(json_object_get_string_member(o, "backing-filename"), backing_name);
    ck_assert_str_eq(json_object_get_string_member(o, "backing-filename-format"), "qcow2");
}

static void qemu_io(const char *file, const char *cmd)
{
    const char *argv[] = { "qemu-io", "-f", "qcow2", "-c", cmd, file, NULL };
    g_autofree char *out = NULL, *e = NULL;

    ck_assert_msg(run(argv, &out, &e), "qemu-io -c '%s' %s: %s%s", cmd, file, out, e);
    /* qemu-io reports a pattern mismatch on stdout yet exits 0 */
    ck_assert_msg(!strstr(out, "Pattern verification failed"), "%s: %s", cmd, out);
}

START_TEST(test_overlay_valid)
{
    g_autofree char *base = in_tmp("base.qcow2");
    g_autofree char *overlay = in_tmp("overlay.qcow2");
    g_autofree char *before = NULL, *after = NULL;
    gsize before_len = 0, after_len = 0;
    GError *err = NULL;

    make_base(base, "1G", "1.1");
    ck_assert(g_file_get_contents(base, &before, &before_len, NULL));
    ck_assert_msg(virt_overlay_create(overlay, base, &err), "%s", err ? err->message : "");
    assert_overlay(overlay, base, base);

    qemu_io(overlay, "write -P 0xab 0 64k");
    qemu_io(overlay, "read -P 0xab 0 64k");
    qemu_io(overlay, "read -P 0 64k 64k"); /* falls through to the empty backing */
    assert_overlay(overlay, base, base);
    ck_assert(g_file_get_contents(base, &after, &after_len, NULL));
    ck_assert_uint_eq(after_len, before_len);
    ck_assert(memcmp(before, after, before_len) == 0);
}
END_TEST

/* Sizes that need no L1 entry, a partial L2 span, and an L1 table of more
 * than one cluster (5 TiB: 10240 entries); v2 and v3 backings alike. */
START_TEST(test_overlay_sizes)
{
    static const struct { const char *size, *compat; } cases[] = {
        { "0", "1.1" }, { "1G", "0.10" }, { "1073742336", "1.1" }, { "5T", "1.1" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *base = g_strdup_printf("%s/base-%zu.qcow2", tmp_dir, i);
        g_autofree char *overlay = g_strdup_printf("%s/overlay-%zu.qcow2", tmp_dir, i);
        GError *err = NULL;

        make_base(base, cases[i].size, cases[i].compat);
        ck_assert_msg(virt_overlay_create(overlay, base, &err), "%s", err ? err->message : "");
        assert_overlay(overlay, base, base);
    }
}
END_TEST

/* QEMU resolves a relative backing name against the overlay's directory. */
START_TEST(test_overlay_relative_backing)
{
    g_autofree char *base = in_tmp("base.qcow2");
    g_autofree char *overlay = in_tmp("overlay.qcow2");
    GError *err = NULL;

    make_base(base, "64M", "1.1");
    ck_assert_msg(virt_overlay_create(overlay, "base.qcow2", &err), "%s",
                  err ? err->message : "");
    assert_overlay(overlay, base, "base.qcow2");
}
END_TEST

static void assert_fails(const char *backing, int code)
{
    g_autofree char *overlay = in_tmp("overlay.qcow2");
    GError *err = NULL;

    ck_assert(!virt_overlay_create(overlay, backing, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(err->domain == OC_ERROR && err->code == code, "%s: code %d, wanted %d",
                  err->message, err->code, code);
    ck_assert_msg(strstr(err->message, overlay), "message names no file: %s", err->message);
    ck_assert(!g_file_test(overlay, G_FILE_TEST_EXISTS));
    g_error_free(err);
}

START_TEST(test_overlay_bad_backing)
{
    g_autofree char *missing = in_tmp("missing.qcow2");
    g_autofree char *raw = in_tmp("raw.img");
    g_autofree char *empty = in_tmp("empty.qcow2");
    g_autofree char *base = in_tmp("base.qcow2");
    g_autofree char *truncated = in_tmp("truncated.qcow2");
    g_autofree char *head = NULL;
    g_autofree char *long_name = g_strnfill(1100, 'a');
    char zeros[4096] = { 0 };
    gsize len = 0;

    assert_fails(missing, OC_ENOTFOUND);

    ck_assert(g_file_set_contents(raw, zeros, sizeof zeros, NULL));
    assert_fails(raw, OC_EINVAL);
    ck_assert(g_file_set_contents(empty, "", 0, NULL));
    assert_fails(empty, OC_EINVAL);

    /* a real qcow2 header cut short after its size field */
    make_base(base, "1G", "1.1");
    ck_assert(g_file_get_contents(base, &head, &len, NULL));
    ck_assert(g_file_set_contents(truncated, head, 40, NULL));
    assert_fails(truncated, OC_EINVAL);

    assert_fails("", OC_EINVAL);
    long_name[0] = '/';
    assert_fails(long_name, OC_EINVAL); /* QEMU refuses names over 1023 bytes */
}
END_TEST

START_TEST(test_overlay_existing_target)
{
    g_autofree char *base = in_tmp("base.qcow2");
    g_autofree char *overlay = in_tmp("overlay.qcow2");
    g_autofree char *content = NULL;
    GError *err = NULL;

    make_base(base, "1G", "1.1");
    ck_assert(g_file_set_contents(overlay, "keep me", -1, NULL));
    ck_assert(!virt_overlay_create(overlay, base, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(err->code, OC_EEXISTS);
    ck_assert(g_file_get_contents(overlay, &content, NULL, NULL));
    ck_assert_str_eq(content, "keep me");
    g_error_free(err);
}
END_TEST

/* A measurement, printed as a TAP comment; never asserted. */
START_TEST(test_overlay_timing)
{
    g_autofree char *base = in_tmp("base.qcow2");
    gint64 total = 0;
    const int n = 1000;

    make_base(base, "1G", "1.1");
    for (int i = 0; i < n; i++) {
        g_autofree char *overlay = g_strdup_printf("%s/t-%d.qcow2", tmp_dir, i);
        gint64 start = g_get_monotonic_time();
        gboolean ok = virt_overlay_create(overlay, base, NULL);
        total += g_get_monotonic_time() - start;
        ck_assert(ok);
        g_unlink(overlay);
    }
    printf("# virt_overlay_create: mean %.1f us over %d overlays (including fsync)\n",
           (double)total / n, n);
    fflush(stdout);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("overlay");
    TCase *tc = tcase_create("overlay");
    g_autofree char *img = g_find_program_in_path("qemu-img");
    g_autofree char *io = g_find_program_in_path("qemu-io");
    SRunner *sr;
    int failed;

    if (!img || !io) {
        printf("1..0 # SKIP qemu-img and qemu-io (qemu-utils) are needed\n");
        return 0;
    }
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_overlay_valid);
    tcase_add_test(tc, test_overlay_sizes);
    tcase_add_test(tc, test_overlay_relative_backing);
    tcase_add_test(tc, test_overlay_bad_backing);
    tcase_add_test(tc, test_overlay_existing_target);
    tcase_add_test(tc, test_overlay_timing);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
