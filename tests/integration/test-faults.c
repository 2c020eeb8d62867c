/* test-faults.c: faults the sandbox does not cause, on one real VM: the
 * guest's disk full, the host's state directory full, and QEMU killed in
 * the middle of calls.
 *
 * The sandbox lives in a state directory of its own, a small tmpfs, so
 * that the test can fill it without touching anyone else's files: the
 * checkpoint's memory image and frozen disk are written there (a
 * checkpoint links the sandbox's disk into its own directory, so both must
 * be on one filesystem).  "Full" means the tmpfs is shrunk to what it holds
 * plus FREE_MARGIN: nothing is written to fill it, and growing it again
 * frees the space.
 *
 * A hibernate writes its image where libvirt keeps managed saves, a
 * directory shared with every other sandbox on the host, which the test
 * must not fill.  So it bind-mounts a file of the full tmpfs over this one
 * sandbox's image path alone: libvirt then writes the image into the full
 * state directory.
 *
 * Tests run in order in one process (CK_FORK=no); QEMU is killed last. */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "itest.h"

/* Room left in a "full" state directory: well under a memory image of a
 * 256 MiB guest, and enough for what an idle guest writes meanwhile (QEMU
 * pauses a guest whose disk write finds no space). */
#define FREE_MARGIN (16u << 20)
/* The tmpfs' size when not full: the sandbox's disk and one checkpoint of
 * it.  Only what is stored costs memory. */
#define ROOMY "size=768m"
/* Where libvirt's QEMU driver keeps managed save images (not configurable). */
#define LIBVIRT_SAVE_DIR "/var/lib/libvirt/qemu/save"
/* What a call cut short by a killed QEMU may take: it should fail at once. */
#define LOST_CALL_MAX_S 20

static char *dir;          /* the test's state directory, a tmpfs */
static gboolean mounted;
static char *save_path;    /* the sandbox's managed save path while bind-mounted */
static oc_context *ctx;
static oc_sandbox *sb;
static char *sb_id;
static virConnectPtr conn;

static const char *main_state_dir(void)
{
    const char *d = g_getenv("OC_STATE_DIR");
    return d && *d ? d : "/var/lib/opencomputer";
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "test-faults: %s: %s\n", what, why);
    exit(1);
}

static void copy_file(const char *from, const char *to)
{
    g_autofree char *data = NULL;
    gsize len;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(from, &data, &len, &err) ||
        !g_file_set_contents(to, data, (gssize)len, &err))
        die("cannot copy the boot files", err->message);
}

/* The test's state directory: the main one's boot files, and its base
 * template (the disk by its own path: sandboxes build on it read-only). */
static void make_state_dir(void)
{
    const char *main_dir = main_state_dir();
    g_autofree char *tdir = NULL, *disk = NULL, *tjson = NULL, *link = NULL, *real = NULL;
    g_autofree char *main_disk = g_build_filename(main_dir, "templates", "base", "disk.qcow2",
                                                  NULL);

    dir = g_strdup_printf("%s/oc-faults-%d", g_get_tmp_dir(), (int)getpid());
    if (g_mkdir(dir, 0711) < 0)
        die(dir, g_strerror(errno));
    if (mount("tmpfs", dir, "tmpfs", 0, ROOMY ",mode=0711") < 0)
        die("cannot mount a tmpfs", g_strerror(errno));
    mounted = TRUE;
    for (int i = 0; i < 2; i++) {
        const char *name = i == 0 ? "vmlinuz" : "initrd.img";
        g_autofree char *from = g_build_filename(main_dir, "boot", name, NULL);
        g_autofree char *bdir = g_build_filename(dir, "boot", NULL);
        g_autofree char *to = g_build_filename(bdir, name, NULL);
        g_mkdir_with_parents(bdir, 0755);
        copy_file(from, to);
    }
    tdir = g_build_filename(dir, "templates", "base", NULL);
    g_mkdir_with_parents(tdir, 0755);
    tjson = g_build_filename(main_dir, "templates", "base", "template.json", NULL);
    disk = g_build_filename(tdir, "template.json", NULL);
    copy_file(tjson, disk);
    real = realpath(main_disk, NULL);
    if (!real)
        die(main_disk, g_strerror(errno));
    link = g_build_filename(tdir, "disk.qcow2", NULL);
    if (symlink(real, link) < 0)
        die(link, g_strerror(errno));
}

static void setup_all(void)
{
    oc_error *err = NULL;
    oc_context_options co = OC_CONTEXT_OPTIONS_INIT;
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;
    const char *meta[] = { "oc-test=integration", "owner=test-faults", NULL };

    make_state_dir();
    conn = virConnectOpen("qemu:///system");
    if (!conn)
        die("cannot connect to libvirt", "qemu:///system");
    co.state_dir = dir;
    if (oc_context_new(&ctx, &co, &err) < 0)
        die("cannot open a context", oc_error_message(err));
    o.metadata = meta;
    o.memory_mb = 256;
    o.timeout_s = 0;
    if (oc_sandbox_create(&sb, ctx, &o, &err) < 0)
        die("cannot create the test sandbox", oc_error_message(err));
    sb_id = g_strdup(oc_sandbox_id(sb));
}

static void unmount_save_path(void)
{
    if (!save_path)
        return;
    if (umount2(save_path, MNT_DETACH) < 0)
        fprintf(stderr, "test-faults: cannot unmount %s: %s\n", save_path, g_strerror(errno));
    g_unlink(save_path); /* our empty mount point */
    g_clear_pointer(&save_path, g_free);
}

static void teardown_all(void)
{
    unmount_save_path();
    if (sb)
        oc_sandbox_kill(sb, 0, NULL);
    oc_sandbox_unref(sb);
    oc_context_unref(ctx);
    if (conn)
        virConnectClose(conn);
    if (mounted && umount2(dir, MNT_DETACH) < 0)
        fprintf(stderr, "test-faults: cannot unmount %s: %s\n", dir, g_strerror(errno));
    g_rmdir(dir);
}

/* ---- helpers ---- */

/* Fails unless msg names the lack of space, as the kernel words it. */
static void assert_names_enospc(const char *msg)
{
    g_autofree char *lower = g_ascii_strdown(msg, -1);
    ck_assert_msg(strstr(lower, "no space left on device") != NULL,
                  "the error does not say the disk is full: %s", msg);
}

/* The state directory holds only what it has room for now, plus margin. */
static void fill_state_dir(gboolean full)
{
    struct statvfs st;
    g_autofree char *opts = NULL;

    ck_assert_int_eq(statvfs(dir, &st), 0);
    if (full)
        opts = g_strdup_printf("size=%" G_GUINT64_FORMAT "k",
                               ((guint64)(st.f_blocks - st.f_bfree) * st.f_frsize + FREE_MARGIN) /
                                   1024);
    else
        opts = g_strdup(ROOMY);
    ck_assert_msg(mount("tmpfs", dir, NULL, MS_REMOUNT, opts) == 0, "remount %s %s: %s", dir,
                  opts, g_strerror(errno));
}

static gint cmp_names(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* The names in path but lock files (made once, then kept), sorted and
 * joined by spaces ("" if it does not exist). */
static char *dir_names(const char *path)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    GDir *d = g_dir_open(path, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d)))
        if (!g_str_has_suffix(n, ".lock"))
            g_ptr_array_add(names, g_strdup(n));
    if (d)
        g_dir_close(d);
    g_ptr_array_sort(names, cmp_names);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (char **)names->pdata);
}

static char *sandbox_files(void)
{
    g_autofree char *p = g_build_filename(dir, "sandboxes", sb_id, NULL);
    return dir_names(p);
}

static char *checkpoint_dirs(void)
{
    g_autofree char *p = g_build_filename(dir, "checkpoints", NULL);
    return dir_names(p);
}

/* libvirt's view: the guest runs, not paused (by a failed save or
 * snapshot, or on a disk error). */
static void assert_guest_runs(void)
{
    virDomainPtr dom = virDomainLookupByName(conn, sb_id);
    int state = -1, reason = -1;

    ck_assert_ptr_nonnull(dom);
    ck_assert_int_eq(virDomainGetState(dom, &state, &reason, 0), 0);
    virDomainFree(dom);
    ck_assert_msg(state == VIR_DOMAIN_RUNNING, "the domain is in libvirt state %d (reason %d), "
                  "not running", state, reason);
    ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);
    g_autofree char *out = itest_sh(sb, "echo alive");
    ck_assert_str_eq(out, "alive\n");
}

static oc_exec_result *run(const char *cmd)
{
    oc_exec_result *r = NULL;
    OK(oc_exec_run(&r, sb, cmd, NULL, &e_));
    return r;
}

/* ---- the guest's disk ---- */

/* A full guest disk makes writes fail with ENOSPC, named with the path,
 * through files and exec alike; freeing space makes them work again. */
START_TEST(test_guest_disk_full)
{
    static const char data[65536];
    g_autofree char *free_after = NULL, *left = NULL, *back = NULL;
    oc_exec_result *r;
    size_t len = 0;

    /* fallocate takes the free blocks without writing them (the overlay
     * grows by metadata only), in ever smaller pieces: how much of what
     * statfs counts free a file may have depends on ext4's reserves. */
    free_after = itest_sh(sb, "off=0; for s in 1073741824 268435456 67108864 16777216 4194304 "
                              "1048576 262144 65536 4096; do while fallocate -o $off -l $s "
                              "/root/filler 2>/dev/null; do off=$((off + s)); done; done; "
                              "sync; stat -f -c %a /");
    ck_assert_msg(strtol(free_after, NULL, 10) == 0, "the guest disk still has %s blocks free",
                  free_after);

    oc_error *err = NULL;
    int rc = oc_files_write(sb, "/root/more.bin", data, sizeof data, 0, &err);
    ck_assert_msg(rc == OC_ELIMIT, "files write to a full disk: %d (%s)", rc,
                  err ? oc_error_message(err) : "no error");
    assert_names_enospc(oc_error_message(err));
    ck_assert_msg(strstr(oc_error_message(err), "/root/more.bin") != NULL,
                  "the error does not name the path: %s", oc_error_message(err));
    oc_error_free(err);
    /* the temporary file of the failed write is gone too */
    left = itest_sh(sb, "ls -a /root | grep -c oc-tmp || true");
    ck_assert_str_eq(left, "0\n");

    r = run("head -c 65536 /dev/zero > /root/more.bin");
    ck_assert_int_ne(oc_exec_result_exit_code(r), 0);
    assert_names_enospc(oc_exec_result_stderr(r, NULL));
    oc_exec_result_free(r);

    g_free(itest_sh(sb, "rm -f /root/filler /root/more.bin"));
    OK(oc_files_write(sb, "/root/more.bin", data, sizeof data, 0, &e_));
    back = itest_sh(sb, "wc -c < /root/more.bin");
    ck_assert_str_eq(back, "65536\n");
    r = run("head -c 65536 /dev/zero > /root/more2.bin && rm /root/more.bin /root/more2.bin");
    ck_assert_int_eq(oc_exec_result_exit_code(r), 0);
    ck_assert_str_eq(oc_exec_result_stderr(r, &len), "");
    oc_exec_result_free(r);
}
END_TEST

/* ---- the host's state directory ---- */

/* A checkpoint into a full state directory fails with ENOSPC, leaves no
 * checkpoint and no file behind, and the sandbox runs on; with space again
 * it succeeds. */
START_TEST(test_checkpoint_state_dir_full)
{
    g_autofree char *files_before = sandbox_files(), *cps_before = checkpoint_dirs();
    g_autofree char *files_after = NULL, *cps_after = NULL;
    oc_checkpoint *cp = NULL;
    oc_checkpoint_list *list = NULL;
    oc_error *err = NULL;
    int rc;

    fill_state_dir(TRUE);
    rc = oc_checkpoint_create(&cp, sb, "into a full disk", 0, &err);
    ck_assert_msg(rc == OC_ELIMIT, "a checkpoint into a full state directory: %d (%s)", rc,
                  err ? oc_error_message(err) : "no error");
    ck_assert_ptr_null(cp);
    fprintf(stderr, "# checkpoint into a full state directory: %s\n", oc_error_message(err));
    assert_names_enospc(oc_error_message(err));
    oc_error_free(err);

    files_after = sandbox_files();
    cps_after = checkpoint_dirs();
    ck_assert_str_eq(files_after, files_before);
    ck_assert_str_eq(cps_after, cps_before);
    OK(oc_checkpoint_list_get(&list, ctx, NULL, 0, &e_));
    ck_assert_uint_eq(oc_checkpoint_list_count(list), 0);
    oc_checkpoint_list_free(list);
    assert_guest_runs();

    fill_state_dir(FALSE);
    OK(oc_checkpoint_create(&cp, sb, "with room", 0, &e_));
    OK(oc_checkpoint_delete(ctx, oc_checkpoint_id(cp), 0, &e_));
    oc_checkpoint_free(cp);
    assert_guest_runs();
}
END_TEST

/* A hibernate whose image cannot be written fails with ENOSPC, leaves no
 * image (libvirt has none, and what it wrote is gone), and the sandbox
 * runs on; with space again it hibernates and wakes. */
START_TEST(test_hibernate_state_dir_full)
{
    g_autofree char *target = g_build_filename(dir, "hibernate-target", NULL);
    struct stat st;
    oc_error *err = NULL;
    int rc, fd;

    save_path = g_strdup_printf(LIBVIRT_SAVE_DIR "/%s.save", sb_id);
    ck_assert_msg(access(save_path, F_OK) < 0, "%s exists before the test", save_path);
    fd = open(save_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ck_assert_msg(fd >= 0, "%s: %s", save_path, g_strerror(errno));
    close(fd);
    ck_assert(g_file_set_contents(target, "", 0, NULL));
    ck_assert_msg(mount(target, save_path, NULL, MS_BIND, NULL) == 0, "bind %s: %s", save_path,
                  g_strerror(errno));

    fill_state_dir(TRUE);
    rc = oc_sandbox_hibernate(sb, 0, &err);
    ck_assert_msg(rc == OC_ELIMIT, "a hibernate into a full state directory: %d (%s)", rc,
                  err ? oc_error_message(err) : "no error");
    fprintf(stderr, "# hibernate into a full state directory: %s\n", oc_error_message(err));
    assert_names_enospc(oc_error_message(err));
    oc_error_free(err);
    fill_state_dir(FALSE);

    /* what libvirt wrote of the image is gone (the mount point itself
     * cannot be unlinked: the library empties it first) */
    ck_assert_int_eq(stat(target, &st), 0);
    ck_assert_msg(st.st_size == 0, "a partial save image of %lld bytes was left",
                  (long long)st.st_size);
    virDomainPtr dom = virDomainLookupByName(conn, sb_id);
    ck_assert_ptr_nonnull(dom);
    ck_assert_int_eq(virDomainHasManagedSaveImage(dom, 0), 0);
    virDomainFree(dom);
    assert_guest_runs();

    unmount_save_path();
    g_unlink(target);
    OK(oc_sandbox_hibernate(sb, 0, &e_));
    ck_assert_int_eq(itest_state(sb), OC_STATE_HIBERNATED);
    g_autofree char *woken = itest_sh(sb, "echo woken"); /* exec wakes it */
    ck_assert_str_eq(woken, "woken\n");
    assert_guest_runs();
}
END_TEST

/* A guest whose disk writes find the state directory full is paused by
 * QEMU: status says error and why; with space again, wake resumes it and
 * the write completes. */
START_TEST(test_guest_write_state_dir_full)
{
    oc_sandbox_info *info = NULL;
    uint32_t session = 0;
    int kind = -1, state = 0;
    gint64 end;

    fill_state_dir(TRUE);
    /* 64 MiB reach the overlay at the fsync: more than the room left */
    OK(oc_exec_start(&session, sb, "dd if=/dev/zero of=/root/big bs=1M count=64 conv=fsync "
                     "2>/dev/null; echo done > /root/big.done", NULL, &e_));
    end = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    while ((state = itest_state(sb)) != OC_STATE_ERROR && g_get_monotonic_time() < end)
        g_usleep(200 * 1000);
    ck_assert_msg(state == OC_STATE_ERROR, "the sandbox is %s, not error, with its disk full",
                  oc_sandbox_state_name(state));
    OK(oc_sandbox_info_get(&info, sb, &e_));
    ck_assert_msg(oc_sandbox_info_reason(info) &&
                  strstr(oc_sandbox_info_reason(info), "disk I/O error") != NULL,
                  "reason: %s", oc_sandbox_info_reason(info));
    oc_sandbox_info_free(info);

    fill_state_dir(FALSE);
    OK(oc_sandbox_wake(sb, NULL, &kind, &e_));
    ck_assert_int_eq(kind, OC_WAKE_NONE);
    assert_guest_runs();
    end = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *done = itest_sh(sb, "cat /root/big.done 2>/dev/null || true");
        if (g_str_equal(done, "done\n"))
            break;
        ck_assert_msg(g_get_monotonic_time() < end, "the write did not finish after the resume");
        g_usleep(500 * 1000);
    }
    g_autofree char *size = itest_sh(sb, "wc -c < /root/big; rm /root/big /root/big.done");
    ck_assert_str_eq(size, "67108864\n");
}
END_TEST

/* ---- QEMU killed ---- */

typedef struct {
    int rc;
    char *message;
    gint64 ended_us;
} RunResult;

static gpointer run_sleep(gpointer data)
{
    RunResult *res = data;
    oc_exec_result *r = NULL;
    oc_error *err = NULL;

    res->rc = oc_exec_run(&r, sb, "sleep 30", NULL, &err);
    res->ended_us = g_get_monotonic_time();
    res->message = g_strdup(err ? oc_error_message(err) : "");
    oc_error_free(err);
    oc_exec_result_free(r);
    return NULL;
}

static void count_output(const char *data, size_t len, void *user_data)
{
    (void)data;
    g_atomic_int_add((gint *)user_data, (gint)len);
}

/* The pid of this sandbox's QEMU, checked against its command line. */
static pid_t qemu_pid(void)
{
    g_autofree char *pidfile = g_strdup_printf("/run/libvirt/qemu/%s.pid", sb_id);
    g_autofree char *text = NULL, *cmdfile = NULL, *cmd = NULL;
    g_autofree char *needle = g_strdup_printf("guest=%s", sb_id);
    gsize len = 0;
    pid_t pid;

    ck_assert_msg(g_file_get_contents(pidfile, &text, NULL, NULL), "no %s", pidfile);
    pid = (pid_t)strtol(text, NULL, 10);
    ck_assert_int_gt(pid, 1);
    cmdfile = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    ck_assert(g_file_get_contents(cmdfile, &cmd, &len, NULL));
    for (gsize i = 0; i + 1 < len; i++)
        if (cmd[i] == '\0')
            cmd[i] = ' ';
    ck_assert_msg(strstr(cmd, needle) != NULL, "pid %d is not this sandbox's QEMU", (int)pid);
    return pid;
}

/* QEMU killed under a blocking exec and a streaming one: both fail at once
 * with a message that says what happened, status says stopped and why,
 * and kill removes the sandbox and its files. */
START_TEST(test_qemu_killed)
{
    RunResult res = { 0 };
    gint streamed = 0;
    oc_exec_callbacks cb = { OC_EXEC_CALLBACKS_VERSION };
    oc_exec_handle *h = NULL;
    oc_sandbox_info *info = NULL;
    oc_error *werr = NULL;
    GThread *t;
    pid_t pid;
    gint64 killed_us, end;
    int state = 0, rc;

    unmount_save_path(); /* if the test before failed with it mounted */
    cb.on_stdout = count_output;
    cb.user_data = &streamed;
    OK(oc_exec_spawn(&h, sb, "while :; do echo tick; sleep 0.2; done", NULL, &cb, &e_));
    t = g_thread_new("sleep-30", run_sleep, &res);
    end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (g_atomic_int_get(&streamed) == 0 && g_get_monotonic_time() < end)
        g_usleep(50 * 1000);
    ck_assert_msg(g_atomic_int_get(&streamed) > 0, "the streaming exec printed nothing");
    g_usleep(1000 * 1000); /* sleep 30 has started by now */

    pid = qemu_pid();
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    killed_us = g_get_monotonic_time();
    g_thread_join(t);

    ck_assert_int_lt(res.rc, 0);
    ck_assert_msg(res.ended_us - killed_us < LOST_CALL_MAX_S * G_USEC_PER_SEC,
                  "exec took %.1f s to fail", (res.ended_us - killed_us) / 1e6);
    fprintf(stderr, "# exec when QEMU was killed (failed %.2f s after the kill): %s\n",
            (res.ended_us - killed_us) / 1e6, res.message);
    ck_assert_msg(strstr(res.message, "QEMU process exited unexpectedly") != NULL,
                  "the exec error does not say what happened: %s", res.message);
    ck_assert_msg(strstr(res.message, "stopped") != NULL, "the exec error does not give the "
                  "state: %s", res.message);

    rc = oc_exec_wait(h, LOST_CALL_MAX_S * 1000, NULL, &werr);
    ck_assert_msg(rc != OC_OK && rc != OC_ETIMEOUT, "the streaming exec did not fail: %d (%s)",
                  rc, werr ? oc_error_message(werr) : "");
    ck_assert_ptr_nonnull(werr);
    ck_assert(*oc_error_message(werr));
    oc_error_free(werr);
    oc_exec_handle_free(h);

    OK(oc_sandbox_status(sb, &state, &e_));
    ck_assert_msg(state == OC_STATE_STOPPED || state == OC_STATE_ERROR, "state %s",
                  oc_sandbox_state_name(state));
    OK(oc_sandbox_info_get(&info, sb, &e_));
    ck_assert_ptr_nonnull(oc_sandbox_info_reason(info));
    ck_assert_msg(strstr(oc_sandbox_info_reason(info), "killed or crashed") != NULL,
                  "reason: %s", oc_sandbox_info_reason(info));
    oc_sandbox_info_free(info);
    /* a call now says so too, without trying to reach the agent */
    FAILS(OC_ESTATE, oc_files_write(sb, "/root/x", "x", 1, 0, &err), "exited unexpectedly");

    OK(oc_sandbox_kill(sb, 0, &e_));
    g_autofree char *sdir = g_build_filename(dir, "sandboxes", sb_id, NULL);
    ck_assert_msg(access(sdir, F_OK) < 0, "%s is left after kill", sdir);
    virDomainPtr dom = virDomainLookupByName(conn, sb_id);
    ck_assert_msg(dom == NULL, "the domain is left after kill");
    oc_sandbox_unref(sb);
    sb = NULL;
    g_free(res.message);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        test_guest_disk_full,
        test_checkpoint_state_dir_full,
        test_hibernate_state_dir_full,
        test_guest_write_state_dir_full,
        test_qemu_killed,
    };

    return itest_main("faults", 1200, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
