/* test-rootfs.c: root filesystem tarballs unpacked and checked for import
 * (image/rootfs.h), without a VM: symlinks resolve inside the tree, never
 * to the host's files; a shell only at /usr/bin/sh gets /bin/sh; members
 * that climb out are refused and written nowhere; owners stay numeric. */
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/rootfs.h"
#include "util/error.h"
#include "util/tree.h"

static char *tmp;

static void setup(void)
{
    tmp = g_dir_make_tmp("oc-test-rootfs-XXXXXX", NULL);
    ck_assert_ptr_nonnull(tmp);
}

static void teardown(void)
{
    tree_remove(tmp, NULL);
    g_free(tmp);
}

static void sh(const char *script)
{
    const char *argv[] = { "/bin/sh", "-ec", script, NULL };
    g_autofree char *err_text = NULL;
    int status = 0;

    ck_assert(g_spawn_sync(tmp, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                           NULL, &err_text, &status, NULL));
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "'%s': %s", script, err_text);
}

/* Unpacks tmp/NAME.tar into tmp/out (made here). */
static gboolean unpack(const char *name, GError **error)
{
    g_autofree char *tar = g_strdup_printf("%s/%s.tar", tmp, name);
    g_autofree char *out = g_build_filename(tmp, "out", NULL);

    ck_assert_int_eq(g_mkdir(out, 0755), 0);
    return image_rootfs_extract(tar, out, error);
}

static gboolean check_out(GError **error)
{
    g_autofree char *out = g_build_filename(tmp, "out", NULL);
    return image_rootfs_check(out, error);
}

START_TEST(test_busybox_shape)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *link = NULL, *home = g_build_filename(tmp, "out/home/alice", NULL);
    g_autofree char *tmpdir = g_build_filename(tmp, "out/tmp", NULL);
    GStatBuf st;

    /* Alpine's shape: /bin/sh an absolute link to /bin/busybox */
    sh("mkdir -p t/bin t/home/alice && cp /bin/busybox t/bin/busybox && "
       "ln -s /bin/busybox t/bin/sh && chown 1000:1234 t/home/alice && "
       "tar -C t --numeric-owner -cf bb.tar .");
    ck_assert_msg(unpack("bb", &err), "%s", err ? err->message : "");
    ck_assert_msg(check_out(&err), "%s", err ? err->message : "");
    ck_assert_int_eq(g_stat(home, &st), 0);
    ck_assert_int_eq(st.st_uid, 1000);
    ck_assert_int_eq(st.st_gid, 1234);
    /* the mount points the guest's init needs were added */
    ck_assert_int_eq(g_stat(tmpdir, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 01777);
}
END_TEST

START_TEST(test_links_resolve_inside)
{
    g_autoptr(GError) err = NULL;

    /* /bin/sh -> /bin/busybox, which the host has and the tree has not:
     * no shell in the tree */
    sh("mkdir -p t/bin && ln -s /bin/busybox t/bin/sh && tar -C t -cf dangling.tar .");
    ck_assert(unpack("dangling", &err));
    ck_assert(!check_out(&err));
    ck_assert_int_eq(err->code, OC_EINVAL);
    ck_assert_msg(strstr(err->message, "no /bin/sh or /usr/bin/sh"), "%s", err->message);
}
END_TEST

START_TEST(test_usr_bin_sh_only)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *bin_sh = g_build_filename(tmp, "out/bin/sh", NULL);
    g_autofree char *target = NULL;

    sh("mkdir -p t/usr/bin && cp /bin/busybox t/usr/bin/sh && tar -C t -cf usr.tar .");
    ck_assert(unpack("usr", &err));
    ck_assert_msg(check_out(&err), "%s", err ? err->message : "");
    target = g_file_read_link(bin_sh, NULL);
    ck_assert_str_eq(target, "/usr/bin/sh");
}
END_TEST

START_TEST(test_not_a_program)
{
    g_autoptr(GError) err = NULL;

    sh("mkdir -p t/bin && printf '#!/x\\n' > t/bin/sh && chmod 755 t/bin/sh && "
       "tar -C t -cf script.tar .");
    ck_assert(unpack("script", &err));
    ck_assert(!check_out(&err));
    ck_assert_msg(strstr(err->message, "/bin/sh is not a Linux program"), "%s", err->message);
}
END_TEST

START_TEST(test_escapes_refused)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *outside = g_build_filename(tmp, "victim", "pwned", NULL);
    g_autofree char *out = g_build_filename(tmp, "out", NULL);

    /* a link out of the tree, then a member written through it */
    sh("mkdir -p t && ln -s '../victim' t/lnk && mkdir victim && "
       "tar -C t -cf esc.tar lnk && mkdir -p u/lnk && echo x > u/lnk/pwned && "
       "tar -C u -rf esc.tar lnk/pwned");
    ck_assert(!unpack("esc", &err));
    ck_assert_int_eq(err->code, OC_EINVAL);
    ck_assert(!g_file_test(outside, G_FILE_TEST_EXISTS));
    g_clear_error(&err);
    tree_remove(out, NULL);
    /* a member named with '..' */
    sh("mkdir -p d/in && echo x > d/evil && cd d/in && tar -P -cf ../../dots.tar ../evil");
    ck_assert(!unpack("dots", &err));
    ck_assert_msg(strstr(err->message, "outside the root filesystem"), "%s", err->message);
}
END_TEST

START_TEST(test_not_a_tar)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = g_build_filename(tmp, "text.tar", NULL);
    g_autofree char *missing = g_build_filename(tmp, "missing.tar", NULL);
    g_autofree char *out = g_build_filename(tmp, "out", NULL);

    ck_assert(g_file_set_contents(text, "no tar at all\n", -1, NULL));
    ck_assert(!unpack("text", &err));
    ck_assert_int_eq(err->code, OC_EINVAL);
    ck_assert_msg(strstr(err->message, "is not a tar archive"), "%s", err->message);
    g_clear_error(&err);
    ck_assert(!image_rootfs_extract(missing, out, &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rootfs");
    TCase *tc = tcase_create("rootfs");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_busybox_shape);
    tcase_add_test(tc, test_links_resolve_inside);
    tcase_add_test(tc, test_usr_bin_sh_only);
    tcase_add_test(tc, test_not_a_program);
    tcase_add_test(tc, test_escapes_refused);
    tcase_add_test(tc, test_not_a_tar);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
