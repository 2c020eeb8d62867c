/* test-checkpoint-store.c: save image heads (parse and rewrite, including
 * damaged ones), checkpoint records, and the collection of frozen disks:
 * a deleted checkpoint's disk must stay exactly while something builds on
 * it.  No VM. */
#include <check.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "image/checkpoints.h"
#include "util/error.h"
#include "virt/overlay.h"
#include "virt/saveimage.h"

/* ---- save image heads ---- */

static void put32(guint8 *p, guint32 v)
{
    memcpy(p, &v, 4); /* the tests run on x86-64, as the images do */
}

/* A head as libvirt writes it: xml, cookie, zero padding, then the
 * stream's magic and a little of the stream. */
static GByteArray *image(const char *magic, guint32 version, guint32 format, const char *xml,
                         const char *cookie, guint32 pad)
{
    GByteArray *b = g_byte_array_new();
    guint8 h[VIRT_SAVE_HEADER_SIZE] = { 0 };
    guint32 xl = strlen(xml) + 1, cl = cookie ? strlen(cookie) + 1 : 0;
    guint8 zeros[256] = { 0 };

    memcpy(h, magic, 16);
    put32(h + 16, version);
    put32(h + 20, xl + cl + pad);
    put32(h + 24, 1);
    put32(h + 28, format);
    put32(h + 32, cookie ? xl : 0);
    g_byte_array_append(b, h, sizeof h);
    g_byte_array_append(b, (const guint8 *)xml, xl);
    if (cookie)
        g_byte_array_append(b, (const guint8 *)cookie, cl);
    g_byte_array_append(b, zeros, MIN(pad, sizeof zeros));
    g_byte_array_append(b, (const guint8 *)"QEVM\0\0\0\3stream", 14);
    return b;
}

START_TEST(test_parse_and_rewrite)
{
    g_autoptr(GByteArray) b = image("LibvirtQemudSave", 2, 0, "<domain>a</domain>",
                                    "<cookie/>", 100);
    g_autoptr(GError) err = NULL;
    gsize need = 0;
    g_autoptr(VirtSaveImage) img = virt_save_image_parse(b->data, b->len, &need, &err);

    ck_assert_msg(img, "%s", err ? err->message : "");
    ck_assert_str_eq(img->xml, "<domain>a</domain>");
    ck_assert_str_eq(img->cookie, "<cookie/>");
    ck_assert_uint_eq(img->stream_offset, b->len - 14);
    /* A short buffer asks for more, without an error. */
    ck_assert_ptr_null(virt_save_image_parse(b->data, 40, &need, &err));
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(need, VIRT_SAVE_HEADER_SIZE);
    ck_assert_ptr_null(virt_save_image_parse(b->data, 120, &need, &err));
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(need, img->stream_offset);

    /* The new head carries the new XML, the same cookie, and no padding. */
    g_autoptr(GBytes) head = virt_save_image_head(img, "<domain>fork</domain>");
    gsize hl;
    const guint8 *hp = g_bytes_get_data(head, &hl);
    g_autoptr(GByteArray) joined = g_byte_array_new();
    g_byte_array_append(joined, hp, hl);
    g_byte_array_append(joined, b->data + img->stream_offset, 14);
    g_autoptr(VirtSaveImage) back = virt_save_image_parse(joined->data, joined->len, &need, &err);
    ck_assert_msg(back, "%s", err ? err->message : "");
    ck_assert_str_eq(back->xml, "<domain>fork</domain>");
    ck_assert_str_eq(back->cookie, "<cookie/>");
    ck_assert_uint_eq(back->stream_offset, hl);
}
END_TEST

/* A resumed domain gets the devices its image was saved with. */
START_TEST(test_image_nic)
{
    g_autofree char *dir = g_dir_make_tmp("oc-nic-XXXXXX", NULL);
    g_autofree char *with = g_build_filename(dir, "with.save", NULL);
    g_autofree char *without = g_build_filename(dir, "without.save", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing.save", NULL);
    g_autoptr(GByteArray) a = image("LibvirtQemudSave", 2, 0,
        "<domain><devices><interface type='user'><model type='virtio'/></interface>"
        "</devices></domain>", NULL, 0);
    g_autoptr(GByteArray) b = image("LibvirtQemudSave", 2, 0,
        "<domain><metadata><sandbox>&lt;interface x&gt;</sandbox></metadata>"
        "<devices><disk/></devices></domain>", NULL, 0);

    ck_assert(g_file_set_contents(with, (const char *)a->data, a->len, NULL));
    ck_assert(g_file_set_contents(without, (const char *)b->data, b->len, NULL));
    ck_assert(virt_save_image_has_nic(with));
    ck_assert(!virt_save_image_has_nic(without));
    /* unreadable: the restore reports the problem, not this */
    ck_assert(virt_save_image_has_nic(missing));
    g_unlink(with);
    g_unlink(without);
    g_rmdir(dir);
}
END_TEST

static void assert_rejected(GByteArray *b, int code, const char *needle)
{
    g_autoptr(GError) err = NULL;
    gsize need = 0;
    VirtSaveImage *img = virt_save_image_parse(b->data, b->len, &need, &err);

    ck_assert_ptr_null(img);
    ck_assert_msg(err, "accepted a bad image (%s)", needle);
    ck_assert_int_eq(err->code, code);
    ck_assert_msg(strstr(err->message, needle), "'%s' lacks '%s'", err->message, needle);
    g_byte_array_unref(b);
}

START_TEST(test_damaged_heads)
{
    GByteArray *b;

    assert_rejected(image("LibvirtQemudPart", 2, 0, "<d/>", NULL, 0), OC_EINVAL, "incomplete");
    assert_rejected(image("NotAnImage......", 2, 0, "<d/>", NULL, 0), OC_EINVAL, "magic");
    assert_rejected(image("LibvirtQemudSave", 9, 0, "<d/>", NULL, 0), OC_EUNSUPPORTED, "version");
    assert_rejected(image("LibvirtQemudSave", 2, 5, "<d/>", NULL, 0), OC_EUNSUPPORTED,
                    "compressed");
    /* a data length far beyond any real XML */
    b = image("LibvirtQemudSave", 2, 0, "<d/>", NULL, 0);
    put32(b->data + 20, 0xfffffff0u);
    assert_rejected(b, OC_EINVAL, "damaged");
    /* a cookie offset past the data */
    b = image("LibvirtQemudSave", 2, 0, "<d/>", "<c/>", 0);
    put32(b->data + 32, 500);
    assert_rejected(b, OC_EINVAL, "damaged");
    /* an XML without its terminating NUL */
    b = image("LibvirtQemudSave", 2, 0, "<d/>", NULL, 0);
    b->data[VIRT_SAVE_HEADER_SIZE + 4] = 'x';
    assert_rejected(b, OC_EINVAL, "terminated");
    /* no QEMU stream after the head */
    b = image("LibvirtQemudSave", 2, 0, "<d/>", NULL, 0);
    memcpy(b->data + b->len - 14, "XXXX", 4);
    assert_rejected(b, OC_EINVAL, "QEMU stream");
}
END_TEST

/* ---- records and the collection of frozen disks ---- */

static char *state;

static void state_setup(void)
{
    state = g_dir_make_tmp("oc-cpstore-XXXXXX", NULL);
    ck_assert_ptr_nonnull(state);
}

static void state_teardown(void)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", state);
    ck_assert_int_eq(system(cmd), 0);
    g_clear_pointer(&state, g_free);
}

static char *path(const char *rel)
{
    return g_build_filename(state, rel, NULL);
}

static void mkdirs(const char *rel)
{
    g_autofree char *p = path(rel);
    ck_assert_int_eq(g_mkdir_with_parents(p, 0755), 0);
}

static void overlay(const char *rel, const char *backing_rel)
{
    g_autofree char *p = path(rel), *b = path(backing_rel);
    g_autoptr(GError) err = NULL;
    ck_assert_msg(virt_overlay_create(p, b, &err), "%s", err ? err->message : "");
}

/* A checkpoint directory with a disk on backing_rel; committed = live. */
static void checkpoint(const char *id, const char *backing_rel, gboolean committed)
{
    g_autofree char *rel = g_strdup_printf("checkpoints/%s", id);
    g_autofree char *disk = g_strdup_printf("%s/disk.qcow2", rel);
    ImageCheckpoint cp = { .id = (char *)id, .name = "n", .sandbox_id = "sb-000000000001",
                           .template_name = "base", .created = 1, .cpu_count = 1,
                           .memory_mb = 256, .dir = path(rel) };
    g_autoptr(GError) err = NULL;

    mkdirs(rel);
    overlay(disk, backing_rel);
    if (committed)
        ck_assert_msg(image_checkpoint_commit(&cp, &err), "%s", err ? err->message : "");
    g_free(cp.dir);
}

static gboolean exists(const char *rel)
{
    g_autofree char *p = path(rel);
    return g_file_test(p, G_FILE_TEST_EXISTS);
}

START_TEST(test_records)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(ImageCheckpoint) cp = NULL;
    g_autoptr(GPtrArray) list = NULL;
    g_autofree char *base = path("templates/base/disk.qcow2");
    g_autofree char *cmd = g_strdup_printf("qemu-img create -q -f qcow2 '%s' 64M", base);

    mkdirs("templates/base");
    ck_assert_int_eq(system(cmd), 0);
    checkpoint("cp-00000000000a", "templates/base/disk.qcow2", TRUE);
    cp = image_checkpoint_load(state, "cp-00000000000a", &err);
    ck_assert_msg(cp, "%s", err ? err->message : "");
    ck_assert_str_eq(cp->sandbox_id, "sb-000000000001");
    ck_assert_uint_eq(cp->memory_mb, 256);
    list = image_checkpoint_list(state, "sb-000000000001");
    ck_assert_uint_eq(list->len, 1);
    g_ptr_array_unref(g_steal_pointer(&list));
    list = image_checkpoint_list(state, "sb-other");
    ck_assert_uint_eq(list->len, 0);

    g_clear_error(&err);
    ck_assert_ptr_null(image_checkpoint_load(state, "../../etc/passwd", &err));
    ck_assert_int_eq(err->code, OC_EINVAL);
    g_clear_error(&err);
    ck_assert_ptr_null(image_checkpoint_load(state, "cp-0000000000ff", &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err->message, "no checkpoint with id 'cp-0000000000ff'"));
    g_clear_error(&err);
    ck_assert(image_checkpoint_delete(state, "cp-00000000000a", &err));
    ck_assert_ptr_null(image_checkpoint_load(state, "cp-00000000000a", NULL));
    /* nothing builds on its disk: its directory is gone */
    ck_assert(!exists("checkpoints/cp-00000000000a"));
}
END_TEST

START_TEST(test_collection)
{
    g_autofree char *base = path("templates/base/disk.qcow2");
    g_autofree char *cmd = g_strdup_printf("qemu-img create -q -f qcow2 '%s' 64M", base);
    g_autofree char *lock = NULL;
    g_autofree char *backing = NULL;
    int fd;

    mkdirs("templates/base");
    ck_assert_int_eq(system(cmd), 0);
    /* a chain: base <- cp1 (deleted) <- cp2 (deleted) <- a sandbox's overlay */
    checkpoint("cp-000000000001", "templates/base/disk.qcow2", FALSE);
    checkpoint("cp-000000000002", "checkpoints/cp-000000000001/disk.qcow2", FALSE);
    mkdirs("sandboxes/sb-000000000001");
    overlay("sandboxes/sb-000000000001/disk.qcow2", "checkpoints/cp-000000000002/disk.qcow2");
    /* deleted and unused; and one being made (its lock held) */
    checkpoint("cp-000000000003", "templates/base/disk.qcow2", FALSE);
    checkpoint("cp-000000000004", "templates/base/disk.qcow2", FALSE);
    lock = path("checkpoints/cp-000000000004/create.lock");
    fd = open(lock, O_RDWR | O_CREAT, 0600);
    ck_assert_int_eq(flock(fd, LOCK_EX), 0);
    /* a live checkpoint on a deleted one */
    checkpoint("cp-000000000005", "templates/base/disk.qcow2", FALSE);
    checkpoint("cp-000000000006", "checkpoints/cp-000000000005/disk.qcow2", TRUE);

    image_layers_gc(state);
    ck_assert(exists("checkpoints/cp-000000000001/disk.qcow2")); /* reached through cp2 */
    ck_assert(exists("checkpoints/cp-000000000002/disk.qcow2"));
    ck_assert(!exists("checkpoints/cp-000000000003"));
    ck_assert(exists("checkpoints/cp-000000000004/disk.qcow2"));
    ck_assert(exists("checkpoints/cp-000000000005/disk.qcow2"));
    g_autofree char *cp6 = path("checkpoints/cp-000000000006/disk.qcow2");
    backing = image_qcow2_backing(cp6, NULL);
    ck_assert_ptr_nonnull(strstr(backing, "cp-000000000005"));

    /* the sandbox goes: its chain goes with it, the lock goes, cp6 goes */
    g_autofree char *rm = g_strdup_printf("rm -rf '%s/sandboxes/sb-000000000001' "
                                          "'%s/checkpoints/cp-000000000006/checkpoint.json'",
                                          state, state);
    ck_assert_int_eq(system(rm), 0);
    close(fd);
    image_layers_gc(state);
    ck_assert(!exists("checkpoints/cp-000000000001"));
    ck_assert(!exists("checkpoints/cp-000000000002"));
    ck_assert(!exists("checkpoints/cp-000000000004"));
    ck_assert(!exists("checkpoints/cp-000000000005"));
    ck_assert(!exists("checkpoints/cp-000000000006"));
    ck_assert(exists("templates/base/disk.qcow2"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint-store");
    TCase *heads = tcase_create("heads"), *store = tcase_create("store");
    SRunner *sr;
    int failed;

    tcase_add_test(heads, test_parse_and_rewrite);
    tcase_add_test(heads, test_damaged_heads);
    tcase_add_test(heads, test_image_nic);
    tcase_add_checked_fixture(store, state_setup, state_teardown);
    tcase_add_test(store, test_records);
    tcase_add_test(store, test_collection);
    suite_add_tcase(s, heads);
    suite_add_tcase(s, store);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
