/* test-import.c: templates imported from root filesystem tarballs, against
 * a real guest: a busybox userland (not Debian: a static busybox with
 * applet links, as Alpine's minirootfs is made) imported, booted for its
 * ready snapshot, and one sandbox of it; bad input, each refused with a
 * message and nothing left behind; and pruning the layer cache (which
 * empties the state directory's cache of layers no template was made
 * from, as `oc template prune --keep-days 0` would). */
#include <errno.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <utime.h>

#include "itest.h"

#define T_BB "itest-import-bb"
#define T_BARE "itest-import-bare"

static oc_context *ctx;
static char *tmp;      /* a private temporary directory */
static char *bb_tar;   /* the busybox root filesystem */

static const char *state_dir(void)
{
    const char *d = g_getenv("OC_STATE_DIR");
    return d && *d ? d : "/var/lib/opencomputer";
}

static void sh(const char *script)
{
    const char *argv[] = { "/bin/sh", "-ec", script, NULL };
    g_autofree char *err_text = NULL;
    GError *gerr = NULL;
    int status = 0;

    ck_assert_msg(g_spawn_sync(tmp, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                               NULL, &err_text, &status, &gerr),
                  "cannot run sh: %s", gerr ? gerr->message : "");
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "'%s' failed: %s", script, err_text);
}

static int cmp_names(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* Every name in templates/ (the hidden work directories included). */
static char *templates_dir_listing(void)
{
    g_autofree char *dir = g_build_filename(state_dir(), "templates", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *n;

    while (d && (n = g_dir_read_name(d)))
        g_ptr_array_add(names, g_strdup(n));
    g_ptr_array_sort(names, cmp_names);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (char **)names->pdata);
}

static void setup(void)
{
    oc_error *err = NULL;
    g_autofree char *script = NULL;

    if (oc_context_new(&ctx, NULL, &err) < 0) {
        fprintf(stderr, "cannot open a context: %s\n", oc_error_message(err));
        exit(1);
    }
    tmp = g_dir_make_tmp("oc-itest-import-XXXXXX", NULL);
    bb_tar = g_build_filename(tmp, "busybox-rootfs.tar.gz", NULL);
    script = g_strdup_printf("'%s' '%s'", MAKE_ROOTFS, bb_tar);
    sh(script);
    /* left by an earlier run that died */
    oc_template_delete(ctx, T_BB, 0, NULL);
    oc_template_delete(ctx, T_BARE, 0, NULL);
}

static void teardown(void)
{
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", tmp);
    oc_template_delete(ctx, T_BB, 0, NULL);
    oc_template_delete(ctx, T_BARE, 0, NULL);
    g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL);
    oc_context_unref(ctx);
}

static void collect(const char *line, void *user_data)
{
    g_ptr_array_add(user_data, g_strdup(line));
}

static char *run(oc_sandbox *sb, const char *cmd, const char *user)
{
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    oc_exec_result *r = NULL;
    oc_error *err = NULL;
    char *out;

    o.user = user;
    ck_assert_msg(oc_exec_run(&r, sb, cmd, &o, &err) == OC_OK, "exec '%s': %s", cmd,
                  oc_error_message(err));
    ck_assert_msg(oc_exec_result_exit_code(r) == 0, "'%s' exited %d: %s", cmd,
                  oc_exec_result_exit_code(r), oc_exec_result_stderr(r, NULL));
    out = g_strstrip(g_strdup(oc_exec_result_stdout(r, NULL)));
    oc_exec_result_free(r);
    return out;
}

/* Import, a sandbox of it, commands, files and a user, then delete. */
START_TEST(test_busybox_userland)
{
    g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);
    oc_template_import_options io = OC_TEMPLATE_IMPORT_OPTIONS_INIT;
    oc_sandbox_options so = OC_SANDBOX_OPTIONS_INIT;
    const char *meta[] = { "oc-test=integration", "owner=itest-import", NULL };
    g_autofree char *before = templates_dir_listing();
    g_autofree char *uname = NULL, *zero = NULL, *shell = NULL, *who = NULL, *home = NULL;
    g_autofree char *after = NULL;
    oc_template_info *t = NULL;
    oc_sandbox *sb = NULL;
    void *data = NULL;
    size_t len = 0;
    int ready = 0;

    /* what an import that died left: the next import removes it */
    g_autofree char *dead = g_build_filename(state_dir(), "templates",
                                             ".import-itest-dead-00000000", NULL);
    g_autofree char *dead_file = g_build_filename(dead, "root", "bin", "sh", NULL);
    g_autofree char *mk = g_strdup_printf("mkdir -p '%s/root/bin' && touch '%s' && "
                                          "chmod 0555 '%s/root/bin'", dead, dead_file, dead);
    sh(mk);
    io.log = collect;
    io.log_user_data = log;
    OK(oc_template_import(ctx, T_BB, bb_tar, &io, &e_));
    ck_assert_msg(!g_file_test(dead, G_FILE_TEST_EXISTS), "%s was left", dead);
    ck_assert_msg(log->len >= 3 && strstr(log->pdata[0], "unpacking"), "log: %s",
                  log->len ? (char *)log->pdata[0] : "(empty)");
    OK(oc_template_get(&t, ctx, T_BB, &e_));
    ck_assert_ptr_null(oc_template_info_parent(t));
    ck_assert_str_eq(oc_template_info_imported_from(t), bb_tar);
    ck_assert_ptr_null(oc_template_info_steps(t)[0]);
    ck_assert_uint_ge(oc_template_info_size_bytes(t), 4ull << 30);
    oc_template_info_free(t);
    OK(oc_template_snapshot_ready(ctx, T_BB, &ready, &e_));
    ck_assert_int_eq(ready, 1);

    so.template_name = T_BB;
    so.metadata = meta;
    OK(oc_sandbox_create(&sb, ctx, &so, &e_));
    uname = run(sb, "uname -a", NULL);
    ck_assert_msg(g_str_has_prefix(uname, "Linux "), "uname -a: %s", uname);
    /* The shell is the image's busybox, not anything of the host's. */
    zero = run(sb, "sh -c 'echo $0'", NULL);
    ck_assert_str_eq(zero, "sh");
    shell = run(sb, "readlink /bin/sh; cat /etc/issue", NULL);
    ck_assert_str_eq(shell, "/bin/busybox\nbusybox rootfs");

    OK(oc_files_write(sb, "/tmp/round-trip", "imported\n", 9, 0, &e_));
    OK(oc_files_read(sb, "/tmp/round-trip", &data, &len, 0, &e_));
    ck_assert_uint_eq(len, 9);
    ck_assert_int_eq(memcmp(data, "imported\n", 9), 0);
    oc_free(data);

    /* alice of the image's /etc/passwd, in her home (owned by her: the
     * tarball's numeric owners were kept) */
    who = run(sb, "id -u; id -g; pwd", "alice");
    ck_assert_str_eq(who, "1000\n1000\n/home/alice");
    home = run(sb, "stat -c %u:%g /home/alice; touch /home/alice/mine", "alice");
    ck_assert_str_eq(home, "1000:1000");

    OK(oc_sandbox_kill(sb, 0, &e_));
    oc_sandbox_unref(sb);
    OK(oc_template_delete(ctx, T_BB, 0, &e_));
    after = templates_dir_listing();
    ck_assert_str_eq(after, before);
}
END_TEST

/* The least a userland can be: a shell at /usr/bin/sh and nothing else (no
 * /bin, /etc, /root or /tmp), xz-compressed, not prepared at import (the
 * create boots it).  The guest's agent copes: /bin/sh is made a link, the
 * working directory is /, and what needs /etc fails with a message. */
START_TEST(test_bare_userland)
{
    g_autofree char *tar = g_build_filename(tmp, "bare.tar.xz", NULL);
    oc_template_import_options io = OC_TEMPLATE_IMPORT_OPTIONS_INIT;
    oc_sandbox_options so = OC_SANDBOX_OPTIONS_INIT;
    const char *meta[] = { "oc-test=integration", "owner=itest-import", NULL };
    g_autofree char *zero = NULL, *where = NULL;
    oc_exec_options eo = OC_EXEC_OPTIONS_INIT;
    oc_exec_result *r = NULL;
    oc_file_info *fi = NULL;
    oc_sandbox *sb = NULL;
    int ready = 1;

    sh("mkdir -p bare/usr/bin && cp /bin/busybox bare/usr/bin/sh && "
       "tar -C bare -cJf bare.tar.xz .");
    io.prepare = 0;
    OK(oc_template_import(ctx, T_BARE, tar, &io, &e_));
    OK(oc_template_snapshot_ready(ctx, T_BARE, &ready, &e_));
    ck_assert_int_eq(ready, 0);
    so.template_name = T_BARE;
    so.metadata = meta;
    so.memory_mb = 256;
    OK(oc_sandbox_create(&sb, ctx, &so, &e_));
    zero = run(sb, "echo $0", NULL);
    ck_assert_str_eq(zero, "/bin/sh");
    OK(oc_files_stat(&fi, sb, "/bin/sh", 0, &e_));
    ck_assert_str_eq(oc_file_info_link_target(fi), "/usr/bin/sh");
    oc_file_info_free(fi);
    where = run(sb, "echo $PWD", NULL);
    ck_assert_str_eq(where, "/");
    eo.user = "bob";
    FAILS(OC_EINVAL, oc_exec_run(&r, sb, "true", &eo, &err), "/etc/passwd");
    OK(oc_sandbox_kill(sb, 0, &e_));
    oc_sandbox_unref(sb);
    OK(oc_template_delete(ctx, T_BARE, 0, &e_));
}
END_TEST

/* Refused, with nothing left in templates/ (no half template, no work
 * directory). */
static void refused(const char *name, const char *tar, int code, const char *needle)
{
    g_autofree char *before = templates_dir_listing();
    g_autofree char *after = NULL;

    FAILS(code, oc_template_import(ctx, name, tar, NULL, &err), needle);
    after = templates_dir_listing();
    ck_assert_str_eq(after, before);
}

START_TEST(test_bad_input)
{
    g_autofree char *missing = g_build_filename(tmp, "missing.tar", NULL);
    g_autofree char *text = g_build_filename(tmp, "not-a.tar", NULL);
    g_autofree char *no_shell = g_build_filename(tmp, "no-shell.tar", NULL);
    g_autofree char *escape = g_build_filename(tmp, "escape.tar", NULL);
    g_autofree char *foreign = g_build_filename(tmp, "foreign.tar", NULL);

    refused("itest-import-bad", missing, OC_ENOTFOUND, "no such file");
    g_file_set_contents(text, "just text, no tar\n", -1, NULL);
    refused("itest-import-bad", text, OC_EINVAL, "is not a tar archive");
    sh("mkdir -p ns/etc && echo 'root:x:0:0::/:/bin/false' > ns/etc/passwd && "
       "tar -C ns -cf no-shell.tar .");
    refused("itest-import-bad", no_shell, OC_EINVAL, "no /bin/sh or /usr/bin/sh");
    /* a member climbing out of the root: tar refuses it */
    sh("mkdir -p esc/root/bin esc/payload && cp /bin/busybox esc/root/bin/sh && "
       "echo x > esc/payload/evil && cd esc/root && "
       "tar -P -cf ../../escape.tar ./bin ../payload/evil");
    refused("itest-import-bad", escape, OC_EINVAL, "outside the root filesystem");
    ck_assert(!g_file_test("/payload/evil", G_FILE_TEST_EXISTS));
    /* a shell that is no Linux program */
    sh("mkdir -p fo/bin && printf '#!/bin/false\\n' > fo/bin/sh && chmod 755 fo/bin/sh && "
       "tar -C fo -cf foreign.tar .");
    refused("itest-import-bad", foreign, OC_EINVAL, "not a Linux program");
    refused("base", bb_tar, OC_EEXISTS, "already exists");
    refused("../x", bb_tar, OC_EINVAL, "is not valid");
    refused("Upper", bb_tar, OC_EINVAL, "is not valid");
}
END_TEST

/* ---- the layer cache ---- */

static char *layer_file(const char *key, const char *ext)
{
    g_autofree char *leaf = g_strdup_printf("%s.%s", key, ext);
    return g_build_filename(state_dir(), "cache", "layers", leaf, NULL);
}

/* A committed layer KEY (on backing_key's, if any) made days_ago. */
static void fake_layer(const char *key, const char *backing_key, int days_ago)
{
    g_autofree char *disk = layer_file(key, "qcow2");
    g_autofree char *meta = layer_file(key, "json");
    g_autofree char *backing = backing_key ? layer_file(backing_key, "qcow2") : NULL;
    g_autofree char *script = backing
        ? g_strdup_printf("qemu-img create -q -f qcow2 -F qcow2 -b '%s' '%s'", backing, disk)
        : g_strdup_printf("qemu-img create -q -f qcow2 '%s' 64M", disk);
    struct utimbuf when;

    sh(script);
    ck_assert(g_file_set_contents(meta, "{\"key\": \"test\"}\n", -1, NULL));
    when.actime = when.modtime = time(NULL) - (time_t)days_ago * 86400;
    ck_assert_int_eq(utime(meta, &when), 0);
}

static gboolean layer_exists(const char *key)
{
    g_autofree char *disk = layer_file(key, "qcow2");
    g_autofree char *meta = layer_file(key, "json");
    return g_file_test(disk, G_FILE_TEST_EXISTS) && g_file_test(meta, G_FILE_TEST_EXISTS);
}

/* A template collapsed from layer: its record names it. */
static void fake_template(const char *name, const char *layer)
{
    g_autofree char *dir = g_build_filename(state_dir(), "templates", name, NULL);
    g_autofree char *script = g_strdup_printf(
        "mkdir -p '%s' && cd '%s' && qemu-img create -q -f qcow2 disk-0000.qcow2 64M && "
        "ln -sf disk-0000.qcow2 disk.qcow2 && printf '{\"name\": \"%s\", \"key\": \"k\", "
        "\"parent\": \"base\", \"layer\": \"%s\"}\\n' > template.json",
        dir, dir, name, layer);
    sh(script);
}

START_TEST(test_prune)
{
    g_autofree char *id = g_strdup_printf("itestprune%08x", g_random_int());
    g_autofree char *old = g_strconcat(id, "-old", NULL);
    g_autofree char *old_top = g_strconcat(id, "-old-top", NULL);
    g_autofree char *recent_base = g_strconcat(id, "-recent-base", NULL);
    g_autofree char *recent = g_strconcat(id, "-recent", NULL);
    g_autofree char *ref_base = g_strconcat(id, "-ref-base", NULL);
    g_autofree char *ref = g_strconcat(id, "-ref", NULL);
    g_autofree char *tname = g_strdup_printf("itest-prune-%s", id + strlen("itestprune"));
    oc_template_prune_options po = OC_TEMPLATE_PRUNE_OPTIONS_INIT;
    uint32_t removed = 0, kept = 0;
    uint64_t bytes = 0;

    /* nothing builds on these and they are old: removed */
    fake_layer(old, NULL, 30);
    fake_layer(old_top, old, 30);
    /* recent, on an old one: both kept while keep_days covers the top */
    fake_layer(recent_base, NULL, 30);
    fake_layer(recent, recent_base, 1);
    /* old, but a template was made from the top: both kept */
    fake_layer(ref_base, NULL, 30);
    fake_layer(ref, ref_base, 30);
    fake_template(tname, ref);

    OK(oc_template_prune(ctx, &po, &removed, &bytes, &kept, &e_));
    ck_assert_msg(!layer_exists(old) && !layer_exists(old_top), "old layers were kept");
    ck_assert_msg(layer_exists(recent) && layer_exists(recent_base), "a recent layer went");
    ck_assert_msg(layer_exists(ref) && layer_exists(ref_base), "a template's layer went");
    ck_assert_uint_ge(removed, 2);
    ck_assert_uint_ge(kept, 4);
    ck_assert_uint_gt(bytes, 0);

    /* keep_days 0: age keeps nothing; the template's layers stay */
    po.keep_days = 0;
    OK(oc_template_prune(ctx, &po, &removed, NULL, NULL, &e_));
    ck_assert_msg(!layer_exists(recent) && !layer_exists(recent_base), "recent layers kept");
    ck_assert_msg(layer_exists(ref) && layer_exists(ref_base), "a template's layer went");
    ck_assert_uint_ge(removed, 2);

    OK(oc_template_delete(ctx, tname, 0, &e_));
    OK(oc_template_prune(ctx, &po, NULL, NULL, NULL, &e_));
    ck_assert_msg(!layer_exists(ref) && !layer_exists(ref_base), "a deleted template's layer "
                  "was kept");

    po.version = 99;
    FAILS(OC_EINVAL, oc_template_prune(ctx, &po, NULL, NULL, NULL, &err), "version 99");
}
END_TEST

int main(void)
{
    const TTest *const tests[] = { test_bad_input, test_prune, test_busybox_userland,
                                   test_bare_userland };
    return itest_main("import", 900, setup, teardown, tests, G_N_ELEMENTS(tests));
}
