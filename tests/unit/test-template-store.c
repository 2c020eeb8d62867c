/* test-template-store.c: template records, the users found from disk
 * chains (sandboxes, checkpoints, templates built on it, through any
 * number of layers), the use lock, and removal; the build layer cache and
 * installing a built template.  No VM: the disks are qcow2 headers written
 * in-process. */
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "image/buildlayers.h"
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

static gboolean exists(const char *rel)
{
    g_autofree char *p = path(rel);
    return g_file_test(p, G_FILE_TEST_EXISTS);
}

START_TEST(test_layer_cache)
{
    g_autoptr(GError) err = NULL;
    int lock;

    /* a committed layer on the template, one on it, and what dead builds
     * left: a layer without its json, a disk and a directory mid-install */
    overlay("cache/layers/k1.qcow2", "templates/base/disk-0123.qcow2");
    ck_assert(image_layer_commit(state, "k1", "RUN a", &err));
    overlay("cache/layers/k2.qcow2", "cache/layers/k1.qcow2");
    ck_assert(image_layer_commit(state, "k2", "RUN b", &err));
    overlay("cache/layers/k3.qcow2", "cache/layers/k2.qcow2");
    overlay("templates/.build-app-1234.qcow2", "cache/layers/k2.qcow2");
    mkdirs("templates/.new-app-5678");
    put("templates/.new-app-5678/template.json", "{}");
    ck_assert(image_layer_usable(state, "k2"));
    lock = image_layers_lock(state, &err);
    ck_assert_msg(lock >= 0, "%s", err ? err->message : "");
    ck_assert(!exists("cache/layers/k3.qcow2"));
    ck_assert(!exists("templates/.build-app-1234.qcow2"));
    ck_assert(!exists("templates/.new-app-5678"));
    ck_assert(image_layer_usable(state, "k1") && image_layer_usable(state, "k2"));
    ck_assert(!image_layer_usable(state, "k3"));
    /* a layer whose chain lost a disk below it is of no use */
    g_autofree char *k1 = path("cache/layers/k1.qcow2");
    g_unlink(k1);
    ck_assert(!image_layer_usable(state, "k2"));
    ck_assert(!exists("cache/layers/k2.qcow2") && !exists("cache/layers/k2.json"));
    close(lock);
}
END_TEST

START_TEST(test_install)
{
    g_autoptr(GError) err = NULL;
    const char *steps[] = { "ENV X=1", "WORKDIR /app", NULL };
    const char *env[] = { "X=1", NULL };
    ImageTemplateRecipe r = { .name = "app", .key = "aaaaaaaaaaaaaaaa11", .parent = "base",
                              .steps = steps, .env = env, .workdir = "/app", .user = "me",
                              .size_bytes = 64u << 20 };
    g_autofree char *disk = path("templates/.build-app-1.qcow2");

    overlay("templates/.build-app-1.qcow2", "templates/base/disk-0123.qcow2");
    ck_assert_msg(image_template_install(state, &r, disk, &err), "%s", err->message);
    g_autoptr(ImageTemplate) t = image_template_load(state, "app", &err);
    ck_assert_msg(t, "%s", err ? err->message : "");
    ck_assert_str_eq(t->key, "aaaaaaaaaaaaaaaa11");
    ck_assert_str_eq(t->parent, "base");
    ck_assert_str_eq(t->steps[1], "WORKDIR /app");
    ck_assert_str_eq(t->env[0], "X=1");
    ck_assert_str_eq(t->workdir, "/app");
    ck_assert_str_eq(t->user, "me");
    ck_assert(exists("templates/app/disk-aaaaaaaaaaaaaaaa.qcow2"));
    g_autofree char *users = users_of("base");
    ck_assert_str_eq(users, "template app");

    /* a new version: the old disk stays for the sandboxes on it */
    r.key = "bbbbbbbbbbbbbbbb22";
    r.user = NULL;
    overlay("templates/.build-app-2.qcow2", "templates/base/disk-0123.qcow2");
    g_autofree char *disk2 = path("templates/.build-app-2.qcow2");
    ck_assert_msg(image_template_install(state, &r, disk2, &err), "%s", err->message);
    g_autoptr(ImageTemplate) t2 = image_template_load(state, "app", &err);
    ck_assert_str_eq(t2->key, "bbbbbbbbbbbbbbbb22");
    ck_assert_ptr_null(t2->user);
    ck_assert(exists("templates/app/disk-aaaaaaaaaaaaaaaa.qcow2"));
    g_autofree char *link = path("templates/app/disk.qcow2");
    g_autofree char *target = g_file_read_link(link, NULL);
    ck_assert_str_eq(target, "disk-bbbbbbbbbbbbbbbb.qcow2");
    /* the same version again is refused, and the disk offered stays */
    overlay("templates/.build-app-3.qcow2", "templates/base/disk-0123.qcow2");
    g_autofree char *disk3 = path("templates/.build-app-3.qcow2");
    ck_assert(!image_template_install(state, &r, disk3, &err));
    ck_assert_int_eq(err->code, OC_EEXISTS);
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
    tcase_add_test(tc, test_layer_cache);
    tcase_add_test(tc, test_install);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
