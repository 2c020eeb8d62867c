/* test-template-store.c: template records, the users found from disk
 * chains (sandboxes, checkpoints, templates built on it, through any
 * number of layers), the use lock, and removal.  No VM: the disks are
 * qcow2 headers written in-process. */
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "image/templates.h"
#include "util/error.h"
#include "virt/overlay.h"

static char *state;

static char *path(const char *rel)
{
    return g_build_filename(state, rel, NULL);
}

static void mkdirs(const char *rel)
{
    g_autofree char *p = path(rel);
    ck_assert_int_eq(g_mkdir_with_parents(p, 0755), 0);
}

static void put(const char *rel, const char *text)
{
    g_autofree char *p = path(rel);
    ck_assert(g_file_set_contents(p, text, -1, NULL));
}

static void overlay(const char *rel, const char *backing_rel)
{
    g_autofree char *p = path(rel), *b = path(backing_rel);
    g_autofree char *dir = g_path_get_dirname(p);
    g_autoptr(GError) err = NULL;
    ck_assert_int_eq(g_mkdir_with_parents(dir, 0755), 0);
    ck_assert_msg(virt_overlay_create(p, b, &err), "%s", err ? err->message : "");
}

/* templates/NAME with disk-KEY.qcow2 (on backing_rel, or a root image) */
static void template(const char *name, const char *backing_rel, const char *json)
{
    g_autofree char *dir = g_strdup_printf("templates/%s", name);
    g_autofree char *disk = g_strdup_printf("%s/disk-0123.qcow2", dir);
    g_autofree char *json_rel = g_strdup_printf("%s/template.json", dir);
    g_autofree char *link = g_strdup_printf("%s/%s/disk.qcow2", state, dir);
    mkdirs(dir);
    if (backing_rel) {
        overlay(disk, backing_rel);
    } else {
        g_autofree char *p = path(disk);
        g_autofree char *cmd = g_strdup_printf("qemu-img create -q -f qcow2 '%s' 64M", p);
        ck_assert_int_eq(system(cmd), 0);
    }
    ck_assert_int_eq(symlink("disk-0123.qcow2", link), 0);
    put(json_rel, json);
}

static void setup(void)
{
    state = g_dir_make_tmp("oc-tstore-XXXXXX", NULL);
    template("base", NULL, "{\"name\":\"base\",\"key\":\"k0\",\"created\":\"2026-11-26T16:59:06Z\","
                           "\"size_bytes\":67108864}");
}

static void teardown(void)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", state);
    ck_assert_int_eq(system(cmd), 0);
    g_clear_pointer(&state, g_free);
}

static char *users_of(const char *name)
{
    g_autoptr(GPtrArray) u = image_template_users(state, name);
    g_ptr_array_add(u, NULL);
    return g_strjoinv(",", (char **)u->pdata);
}

START_TEST(test_load)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(ImageTemplate) t = image_template_load(state, "base", &err);
    ck_assert_msg(t, "%s", err ? err->message : "");
    ck_assert_str_eq(t->name, "base");
    ck_assert_str_eq(t->key, "k0");
    ck_assert_ptr_null(t->parent);
    ck_assert_int_eq(t->created_at, 1795712346);
    ck_assert_uint_eq(t->size_bytes, 64u << 20);
    ck_assert_uint_gt(t->disk_bytes, 0);
    ck_assert_ptr_null(t->steps[0]);

    template("app", "templates/base/disk-0123.qcow2",
             "{\"name\":\"app\",\"key\":\"k1\",\"parent\":\"base\",\"created\":\"2026-11-27T00:00:00Z\","
             "\"size_bytes\":67108864,\"steps\":[\"RUN make\",\"ENV X=1\"]}");
    g_autoptr(ImageTemplate) app = image_template_load(state, "app", &err);
    ck_assert_str_eq(app->parent, "base");
    ck_assert_str_eq(app->steps[1], "ENV X=1");
    ck_assert_ptr_null(app->steps[2]);

    ck_assert_ptr_null(image_template_load(state, "../etc", &err));
    ck_assert_int_eq(err->code, OC_EINVAL);
    g_clear_error(&err);
    ck_assert_ptr_null(image_template_load(state, "nope", &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    ck_assert_msg(strstr(err->message, "available templates: app, base"), "%s", err->message);
    g_clear_error(&err);
    put("templates/app/template.json", "{not json");
    ck_assert_ptr_null(image_template_load(state, "app", &err));
    ck_assert_ptr_nonnull(strstr(err->message, "missing or damaged"));
}
END_TEST

START_TEST(test_users)
{
    g_autofree char *none = users_of("base");
    ck_assert_str_eq(none, "");

    /* a sandbox on the template's ready snapshot, which is on the template */
    overlay("templates/base/snapshot-aa/disk.qcow2", "templates/base/disk-0123.qcow2");
    g_autofree char *own = users_of("base");
    ck_assert_str_eq(own, ""); /* its own snapshot is no user */
    overlay("sandboxes/sb-000000000001/disk.qcow2", "templates/base/snapshot-aa/disk.qcow2");
    /* a checkpoint two layers up: cp-2 on cp-1 on the template */
    overlay("checkpoints/cp-000000000001/disk.qcow2", "templates/base/disk-0123.qcow2");
    overlay("checkpoints/cp-000000000002/disk.qcow2", "checkpoints/cp-000000000001/disk.qcow2");
    /* a template built on it, and a sandbox of another root template */
    template("app", "templates/base/disk-0123.qcow2", "{\"name\":\"app\"}");
    template("other", NULL, "{\"name\":\"other\"}");
    overlay("sandboxes/sb-000000000002/disk.qcow2", "templates/other/disk-0123.qcow2");

    g_autofree char *users = users_of("base");
    ck_assert_str_eq(users, "checkpoint cp-000000000001,checkpoint cp-000000000002,"
                            "sandbox sb-000000000001,template app");
    g_autofree char *other = users_of("other");
    ck_assert_str_eq(other, "sandbox sb-000000000002");
    g_autofree char *app = users_of("app");
    ck_assert_str_eq(app, "");
}
END_TEST

START_TEST(test_lock_and_remove)
{
    g_autoptr(GError) err = NULL;
    int shared1 = image_template_use_lock(state, "base", FALSE, &err);
    int shared2 = image_template_use_lock(state, "base", FALSE, &err);
    ck_assert_int_ge(shared1, 0);
    ck_assert_int_ge(shared2, 0); /* creates do not wait for each other */
    ck_assert_int_lt(image_template_use_lock(state, "base", TRUE, &err), 0);
    ck_assert_int_eq(err->code, OC_ESTATE);
    ck_assert_ptr_nonnull(strstr(err->message, "being created from it"));
    g_clear_error(&err);
    close(shared1);
    close(shared2);
    int excl = image_template_use_lock(state, "base", TRUE, &err);
    ck_assert_int_ge(excl, 0);

    overlay("templates/base/snapshot-aa/disk.qcow2", "templates/base/disk-0123.qcow2");
    ck_assert_msg(image_template_remove(state, "base", &err), "%s", err ? err->message : "");
    close(excl);
    g_autofree char *dir = path("templates/base");
    ck_assert(!g_file_test(dir, G_FILE_TEST_EXISTS));
    g_autofree char *templates = path("templates");
    g_autoptr(GDir) d = g_dir_open(templates, 0, NULL);
    ck_assert_ptr_null(g_dir_read_name(d)); /* nothing left aside either */
    ck_assert(!image_template_remove(state, "base", &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("template-store");
    TCase *tc = tcase_create("store");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_load);
    tcase_add_test(tc, test_users);
    tcase_add_test(tc, test_lock_and_remove);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
