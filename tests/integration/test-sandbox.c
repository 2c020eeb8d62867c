/* test-sandbox.c: the library end to end, against real QEMU guests.
 *
 * Boots are slow under TCG, so one sandbox serves most tests, and a second
 * one is created to be killed.  Tests run in one process (CK_FORK=no) in
 * order; the suite kills what it created. */
#include <check.h>
#include <glib.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>
#include <sys/wait.h>
#include <libvirt/libvirt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "opencomputer.h"

static oc_context *ctx;
static oc_sandbox *sb;

static oc_exec_result *run(const char *cmd, const oc_exec_options *opts)
{
    oc_exec_result *r = NULL;
    oc_error *err = NULL;
    int rc = oc_exec_run(&r, sb, cmd, opts, &err);
    ck_assert_msg(rc == OC_OK, "exec '%s': %s", cmd, oc_error_message(err));
    return r;
}

static int count_domains(void)
{
    virConnectPtr c = virConnectOpen("qemu:///system");
    int n;
    ck_assert_ptr_nonnull(c);
    n = virConnectNumOfDefinedDomains(c) + virConnectNumOfDomains(c);
    virConnectClose(c);
    return n;
}

static void setup_all(void)
{
    static const char *const envs[] = { "SB_VAR=from-sandbox", "SHARED=sandbox", NULL };

    itest_sandbox_open(&ctx, &sb, "test-sandbox", envs, -1);
}

static void teardown_all(void)
{
    itest_sandbox_close(ctx, sb);
}

START_TEST(test_hello)
{
    oc_exec_result *r = run("echo Hello from $(uname -a)", NULL);
    const char *out = oc_exec_result_stdout(r, NULL);
    ck_assert_int_eq(oc_exec_result_exit_code(r), 0);
    ck_assert_msg(g_str_has_prefix(out, "Hello from Linux "), "stdout: %s", out);
    ck_assert_msg(strstr(out, "x86_64 GNU/Linux\n") != NULL, "stdout: %s", out);
    oc_exec_result_free(r);

    /* the agent, as PID 1, mounted what programs expect */
    r = run("cut -d ' ' -f 2,3 /proc/mounts", NULL);
    out = oc_exec_result_stdout(r, NULL);
    const char *mounts[] = { "/ ext4", "/proc proc", "/sys sysfs", "/dev devtmpfs",
                             "/dev/pts devpts", "/tmp tmpfs", "/run tmpfs", NULL };
    for (int i = 0; mounts[i]; i++)
        ck_assert_msg(strstr(out, mounts[i]) != NULL, "'%s' missing from:\n%s", mounts[i], out);
    oc_exec_result_free(r);

    /* under TCG, guest ASLR is off: it made every exec re-translate glibc */
    r = run("cat /proc/cmdline", NULL);
    ck_assert_int_eq(strstr(oc_exec_result_stdout(r, NULL), " norandmaps") != NULL,
                     strcmp(oc_context_accelerator(ctx), "tcg") == 0);
    oc_exec_result_free(r);

    /* the guest's hostname is the sandbox id, as set by the agent */
    r = run("hostname", NULL);
    ck_assert_str_eq(g_strstrip((char *)oc_exec_result_stdout(r, NULL)), oc_sandbox_id(sb));
    oc_exec_result_free(r);
}
END_TEST

START_TEST(test_exec_argv_env_cwd)
{
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    const char *args[] = { "-c", "printf '%s|%s|%s|%s' \"$SB_VAR\" \"$SHARED\" \"$EXEC_VAR\" \"$PWD\"; echo err >&2; exit 3", NULL };
    const char *envs[] = { "SHARED=exec", "EXEC_VAR=x y", NULL };
    oc_exec_result *r;
    size_t len;

    o.args = args;
    o.envs = envs;
    o.cwd = "/tmp";
    r = run("/bin/sh", &o);
    ck_assert_int_eq(oc_exec_result_exit_code(r), 3);
    /* sandbox envs apply to every exec; the exec's own win */
    ck_assert_str_eq(oc_exec_result_stdout(r, &len), "from-sandbox|exec|x y|/tmp");
    ck_assert_str_eq(oc_exec_result_stderr(r, NULL), "err\n");
    oc_exec_result_free(r);

    o = (oc_exec_options)OC_EXEC_OPTIONS_INIT;
    o.stdin_data = "line one\nline two\n";
    o.stdin_len = strlen(o.stdin_data);
    r = run("wc -l", &o);
    ck_assert_str_eq(g_strstrip((char *)oc_exec_result_stdout(r, NULL)), "2");
    oc_exec_result_free(r);
}
END_TEST

START_TEST(test_exec_not_found)
{
    oc_exec_result *r = run("definitely-not-a-command --flag", NULL);
    ck_assert_int_eq(oc_exec_result_exit_code(r), 127);
    ck_assert_ptr_nonnull(strstr(oc_exec_result_stderr(r, NULL), "not found"));
    oc_exec_result_free(r);

    /* argv form: no shell, the agent reports it the same way */
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    const char *args[] = { "x", NULL };
    o.args = args;
    r = run("/no/such/program", &o);
    ck_assert_int_eq(oc_exec_result_exit_code(r), 127);
    oc_exec_result_free(r);
}
END_TEST

START_TEST(test_exec_timeout)
{
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    oc_exec_result *r;
    gint64 t0 = g_get_monotonic_time();

    o.timeout_ms = 1000;
    r = run("echo started; sleep 60; echo never", &o);
    ck_assert(oc_exec_result_timed_out(r));
    ck_assert_int_eq(oc_exec_result_signal(r), 9);
    ck_assert_str_eq(oc_exec_result_stdout(r, NULL), "started\n");
    /* killed, not waited for: far less than the 60 s sleep */
    ck_assert_int_lt(g_get_monotonic_time() - t0, 30 * G_USEC_PER_SEC);
    oc_exec_result_free(r);
}
END_TEST

START_TEST(test_exec_big_output)
{
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    oc_exec_result *r;
    size_t len;
    const char *out;

    /* 100 MB with the default cap: cut at the documented cap, exit 0 */
    r = run("head -c 100000000 /dev/zero | tr '\\0' x", NULL);
    out = oc_exec_result_stdout(r, &len);
    ck_assert_int_eq(oc_exec_result_exit_code(r), 0);
    ck_assert(oc_exec_result_stdout_truncated(r));
    ck_assert_uint_eq(len, OC_EXEC_DEFAULT_MAX_OUTPUT);
    ck_assert(out[0] == 'x' && out[len - 1] == 'x');
    oc_exec_result_free(r);

    /* with a larger cap it arrives whole */
    o.max_output = 128u * 1024 * 1024;
    r = run("head -c 100000000 /dev/zero | tr '\\0' y", &o);
    out = oc_exec_result_stdout(r, &len);
    ck_assert(!oc_exec_result_stdout_truncated(r));
    ck_assert_uint_eq(len, 100000000);
    ck_assert(memchr(out, 0, len) == NULL && out[len - 1] == 'y');
    oc_exec_result_free(r);
}
END_TEST

START_TEST(test_files_roundtrip)
{
    size_t n = 8u * 1024 * 1024 + 123, len = 0;
    guint8 *data = g_malloc(n);
    void *back = NULL;
    oc_file_info *fi = NULL;
    int exists = -1;

    for (size_t i = 0; i < n; i++)
        data[i] = (guint8)(i * 7 + (i >> 13));
    OK(oc_files_mkdir(sb, "/tmp/t/a/b", 0, &e_));
    OK(oc_files_write(sb, "/tmp/t/a/b/blob", data, n, 0, &e_));
    OK(oc_files_read(sb, "/tmp/t/a/b/blob", &back, &len, 0, &e_));
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(back, data, n) == 0);
    oc_free(back);

    OK(oc_files_stat(&fi, sb, "/tmp/t/a/b/blob", 0, &e_));
    ck_assert_str_eq(oc_file_info_name(fi), "blob");
    ck_assert_int_eq(oc_file_info_type(fi), OC_FILE_TYPE_FILE);
    ck_assert_uint_eq(oc_file_info_size(fi), n);
    oc_file_info_free(fi);

    OK(oc_files_rename(sb, "/tmp/t/a/b/blob", "/tmp/t/a/moved", 0, &e_));
    OK(oc_files_exists(sb, "/tmp/t/a/b/blob", &exists, 0, &e_));
    ck_assert_int_eq(exists, 0);
    OK(oc_files_exists(sb, "/tmp/t/a/moved", &exists, 0, &e_));
    ck_assert_int_eq(exists, 1);

    oc_file_list *l = NULL;
    OK(oc_files_list(&l, sb, "/tmp/t/a", 0, &e_));
    ck_assert_uint_eq(oc_file_list_count(l), 2);
    int saw_dir = 0, saw_file = 0;
    for (size_t i = 0; i < oc_file_list_count(l); i++) {
        const oc_file_info *e = oc_file_list_at(l, i);
        saw_dir |= strcmp(oc_file_info_name(e), "b") == 0 && oc_file_info_type(e) == OC_FILE_TYPE_DIR;
        saw_file |= strcmp(oc_file_info_name(e), "moved") == 0 && oc_file_info_size(e) == n;
    }
    ck_assert(saw_dir && saw_file);
    oc_file_list_free(l);

    /* a non-empty directory needs OC_FILES_RECURSIVE */
    FAILS(OC_EINVAL, oc_files_remove(sb, "/tmp/t", 0, &err), "/tmp/t");
    OK(oc_files_remove(sb, "/tmp/t", OC_FILES_RECURSIVE, &e_));
    OK(oc_files_exists(sb, "/tmp/t", &exists, 0, &e_));
    ck_assert_int_eq(exists, 0);
    g_free(data);
}
END_TEST

START_TEST(test_files_errors)
{
    void *data = NULL;
    size_t len;

    FAILS(OC_ENOTFOUND, oc_files_read(sb, "/no/such/file", &data, &len, 0, &err), "/no/such/file");
    FAILS(OC_ENOTFOUND, oc_files_write(sb, "/no/such/dir/f", "x", 1, 0, &err), "/no/such/dir");
    FAILS(OC_EINVAL, oc_files_read(sb, "relative/path", &data, &len, 0, &err), "relative/path");
    FAILS(OC_EINVAL, oc_files_write(sb, "/tmp/x", "x", 1, 0x80, &err), "flags");
    /* nothing was created by the failed write */
    int exists = -1;
    OK(oc_files_exists(sb, "/no/such/dir", &exists, 0, &e_));
    ck_assert_int_eq(exists, 0);
}
END_TEST

START_TEST(test_info_list_timeout)
{
    oc_sandbox_info *info = NULL;
    oc_sandbox_list *l = NULL;
    const char *filter[] = { "oc-test=integration", NULL };
    const char *nomatch[] = { "oc-test=other", NULL };
    int running = 0, found = 0;

    OK(oc_sandbox_info_get(&info, sb, &e_));
    ck_assert_str_eq(oc_sandbox_info_id(info), oc_sandbox_id(sb));
    ck_assert_str_eq(oc_sandbox_info_template(info), "base");
    ck_assert_str_eq(oc_sandbox_info_accelerator(info), oc_context_accelerator(ctx));
    ck_assert_int_eq(oc_sandbox_info_state(info), OC_STATE_RUNNING);
    ck_assert_uint_eq(oc_sandbox_info_timeout(info), 300);
    ck_assert_uint_eq(oc_sandbox_info_memory_mb(info), 256);
    ck_assert_str_eq(oc_sandbox_info_metadata_get(info, "owner"), "test-sandbox");
    ck_assert_int_le(llabs(oc_sandbox_info_created(info) - g_get_real_time() / G_USEC_PER_SEC), 3600);
    oc_sandbox_info_free(info);

    OK(oc_sandbox_is_running(sb, &running, &e_));
    ck_assert(running);

    OK(oc_sandbox_set_timeout(sb, 42, 0, &e_));
    OK(oc_sandbox_info_get(&info, sb, &e_));
    ck_assert_uint_eq(oc_sandbox_info_timeout(info), 42);
    oc_sandbox_info_free(info);

    OK(oc_sandbox_list_get(&l, ctx, filter, 0, &e_));
    for (size_t i = 0; i < oc_sandbox_list_count(l); i++)
        found |= strcmp(oc_sandbox_info_id(oc_sandbox_list_at(l, i)), oc_sandbox_id(sb)) == 0;
    ck_assert(found);
    oc_sandbox_list_free(l);
    OK(oc_sandbox_list_get(&l, ctx, nomatch, 0, &e_));
    for (size_t i = 0; i < oc_sandbox_list_count(l); i++)
        ck_assert_str_ne(oc_sandbox_info_id(oc_sandbox_list_at(l, i)), oc_sandbox_id(sb));
    oc_sandbox_list_free(l);
}
END_TEST

START_TEST(test_create_bad_input)
{
    oc_sandbox *x = NULL;
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;
    int before = count_domains();

    o.template_name = "no-such-template";
    FAILS(OC_ENOTFOUND, oc_sandbox_create(&x, ctx, &o, &err), "no-such-template");
    o = (oc_sandbox_options)OC_SANDBOX_OPTIONS_INIT;
    o.cpu_count = 0;
    FAILS(OC_EINVAL, oc_sandbox_create(&x, ctx, &o, &err), "cpuCount 0");
    o.cpu_count = 5;
    FAILS(OC_EINVAL, oc_sandbox_create(&x, ctx, &o, &err), "cpuCount 5");
    o = (oc_sandbox_options)OC_SANDBOX_OPTIONS_INIT;
    o.memory_mb = 64;
    FAILS(OC_EINVAL, oc_sandbox_create(&x, ctx, &o, &err), "memoryMB 64");
    o.memory_mb = 4096;
    FAILS(OC_EINVAL, oc_sandbox_create(&x, ctx, &o, &err), "memoryMB 4096");
    ck_assert_ptr_null(x);
    /* nothing half-made was left behind */
    ck_assert_int_eq(count_domains(), before);

    FAILS(OC_ENOTFOUND, oc_sandbox_connect(&x, ctx, "sb-doesnotexist", &err), "sb-doesnotexist");
}
END_TEST

/* The session with this id in a fresh listing (NULL if none); *list is
 * replaced and must be freed by the caller. */
static const oc_exec_session_info *find_session(oc_exec_session_list **list, uint32_t id)
{
    oc_exec_session_list_free(*list);
    *list = NULL;
    OK(oc_exec_list(list, sb, 0, &e_));
    for (size_t i = 0; i < oc_exec_session_list_count(*list); i++)
        if (oc_exec_session_info_id(oc_exec_session_list_at(*list, i)) == id)
            return oc_exec_session_list_at(*list, i);
    return NULL;
}

/* Background sessions: start returns at once, list tells state and exit,
 * kill signals; bad input is refused clearly. */
START_TEST(test_sessions)
{
    const char *args[] = { "1000", NULL };
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    oc_exec_session_list *list = NULL;
    const oc_exec_session_info *si;
    uint32_t quick = 0, sleeper = 0;

    OK(oc_exec_start(&quick, sb, "sleep 0.5; exit 3", NULL, &e_));
    o.args = args;
    OK(oc_exec_start(&sleeper, sb, "sleep", &o, &e_));
    ck_assert_uint_gt(quick, 0);
    ck_assert_uint_gt(sleeper, quick);

    si = find_session(&list, sleeper);
    ck_assert_ptr_nonnull(si);
    ck_assert_str_eq(oc_exec_session_info_command(si), "sleep 1000");
    ck_assert_int_eq(oc_exec_session_info_running(si), 1);
    ck_assert_uint_gt(oc_exec_session_info_pid(si), 1);
    gint64 now_ms = g_get_real_time() / 1000;
    ck_assert_msg(llabs(oc_exec_session_info_started_at_ms(si) - now_ms) < 60000,
                  "started_at %" G_GINT64_FORMAT " vs now %" G_GINT64_FORMAT,
                  (gint64)oc_exec_session_info_started_at_ms(si), now_ms);

    /* the quick one ends on its own, with its exit code */
    for (int i = 0; i < 100; i++) {
        si = find_session(&list, quick);
        ck_assert_ptr_nonnull(si);
        if (!oc_exec_session_info_running(si))
            break;
        g_usleep(100 * 1000);
    }
    ck_assert_int_eq(oc_exec_session_info_running(si), 0);
    ck_assert_int_eq(oc_exec_session_info_exit_code(si), 3);
    ck_assert_str_eq(oc_exec_session_info_command(si), "sleep 0.5; exit 3");

    /* kill: SIGKILL by default */
    OK(oc_exec_kill(sb, sleeper, 0, &e_));
    for (int i = 0; i < 50; i++) {
        si = find_session(&list, sleeper);
        if (!oc_exec_session_info_running(si))
            break;
        g_usleep(100 * 1000);
    }
    ck_assert_int_eq(oc_exec_session_info_running(si), 0);
    ck_assert_int_eq(oc_exec_session_info_signal(si), 9);
    ck_assert_int_eq(oc_exec_session_info_exit_code(si), 137);
    oc_exec_session_list_free(list);

    FAILS(OC_ENOTFOUND, oc_exec_kill(sb, 999999, 0, &err), "no such session");
    FAILS(OC_EINVAL, oc_exec_kill(sb, sleeper, 99, &err), "99 is not a signal");
    o = (oc_exec_options)OC_EXEC_OPTIONS_INIT;
    o.stdin_data = "x";
    o.stdin_len = 1;
    FAILS(OC_EINVAL, oc_exec_start(&quick, sb, "cat", &o, &err), "stdin_data");
    FAILS(OC_EINVAL, oc_exec_start(&quick, sb, "", NULL, &err), "command is empty");
}
END_TEST

/* Makes state_dir/sandboxes/ID with a create.lock age_s old; returns the
 * directory. */
static char *fake_half_made(const char *id, int age_s)
{
    const char *state = g_getenv("OC_STATE_DIR") ? g_getenv("OC_STATE_DIR") : "/var/lib/opencomputer";
    char *dir = g_build_filename(state, "sandboxes", id, NULL);
    g_autofree char *lock = g_build_filename(dir, "create.lock", NULL);
    g_autofree char *disk = g_build_filename(dir, "disk.qcow2", NULL);
    struct utimbuf t = { time(NULL) - age_s, time(NULL) - age_s };

    ck_assert_int_eq(g_mkdir_with_parents(dir, 0711), 0);
    ck_assert(g_file_set_contents(lock, "", 0, NULL));
    ck_assert(g_file_set_contents(disk, "not a disk", -1, NULL));
    ck_assert_int_eq(utime(lock, &t), 0);
    return dir;
}

static void list_all(void)
{
    oc_sandbox_list *l = NULL;
    OK(oc_sandbox_list_get(&l, ctx, NULL, 0, &e_));
    oc_sandbox_list_free(l);
}

/* A creator that died before defining its domain left only a directory:
 * listing removes it, unless its creator still holds the lock or has only
 * just made it. */
START_TEST(test_orphan_dirs)
{
    g_autofree char *dead = fake_half_made("sb-0000000dead1", 60);
    g_autofree char *held = fake_half_made("sb-0000000held1", 60);
    g_autofree char *young = fake_half_made("sb-0000000young", 0);
    g_autofree char *held_lock = g_build_filename(held, "create.lock", NULL);
    int fd = open(held_lock, O_RDWR);
    /* and one whose domain went without it (no lock file at all) */
    g_autofree char *lost = fake_half_made("sb-0000000lost1", 60);
    g_autofree char *lost_lock = g_build_filename(lost, "create.lock", NULL);
    struct utimbuf old = { time(NULL) - 60, time(NULL) - 60 };

    ck_assert_int_eq(g_unlink(lost_lock), 0);
    ck_assert_int_eq(utime(lost, &old), 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX), 0);
    list_all();
    ck_assert_msg(!g_file_test(dead, G_FILE_TEST_EXISTS), "%s is still there", dead);
    ck_assert_msg(!g_file_test(lost, G_FILE_TEST_EXISTS), "%s is still there", lost);
    ck_assert_msg(g_file_test(held, G_FILE_TEST_IS_DIR), "a creator's directory was removed");
    ck_assert_msg(g_file_test(young, G_FILE_TEST_IS_DIR), "a brand new directory was removed");
    close(fd); /* the creator dies */
    list_all();
    ck_assert_msg(!g_file_test(held, G_FILE_TEST_EXISTS), "%s is still there", held);
    /* tidy up the young one by hand */
    g_autofree char *ylock = g_build_filename(young, "create.lock", NULL);
    g_autofree char *ydisk = g_build_filename(young, "disk.qcow2", NULL);
    g_unlink(ylock);
    g_unlink(ydisk);
    g_rmdir(young);
}
END_TEST

/* Warnings the library logged, one per line. */
static GString *warnings;
static GMutex warnings_lock;

static void keep_warnings(int level, const char *message, void *user_data)
{
    (void)user_data;
    if (level > OC_LOG_WARNING)
        return;
    g_mutex_lock(&warnings_lock);
    g_string_append_printf(warnings, "%s\n", message);
    g_mutex_unlock(&warnings_lock);
}

START_TEST(test_kill)
{
    oc_sandbox *victim = NULL, *other = NULL;
    oc_exec_result *r = NULL;
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;
    char id[64];

    const char *meta[] = { "oc-test=integration", NULL };
    o.memory_mb = 128;
    o.metadata = meta;
    warnings = g_string_new(NULL);
    oc_set_log_handler(keep_warnings, NULL, NULL);
    OK(oc_sandbox_create(&victim, ctx, &o, &e_));
    oc_set_log_handler(NULL, NULL, NULL);
    g_strlcpy(id, oc_sandbox_id(victim), sizeof id);
    /* under TCG, every create says, through the log handler, that this is no
     * security boundary; under KVM it says nothing of the kind */
    g_autofree char *tcg_line = g_strdup_printf("%s: runs under TCG", id);
    ck_assert_msg((strstr(warnings->str, tcg_line) != NULL) ==
                  (strcmp(oc_context_accelerator(ctx), "tcg") == 0), "warnings: %s", warnings->str);
    if (strcmp(oc_context_accelerator(ctx), "tcg") == 0)
        ck_assert_ptr_nonnull(strstr(warnings->str, "not a security boundary"));
    g_string_free(warnings, TRUE);
    OK(oc_sandbox_connect(&other, ctx, id, &e_));
    OK(oc_sandbox_kill(victim, 0, &e_));

    FAILS(OC_ENOTFOUND, oc_exec_run(&r, victim, "true", NULL, &err), id);
    FAILS(OC_ENOTFOUND, oc_exec_run(&r, other, "true", NULL, &err), id);
    FAILS(OC_ENOTFOUND, oc_sandbox_kill(other, 0, &err), id);
    oc_sandbox *again = NULL;
    FAILS(OC_ENOTFOUND, oc_sandbox_connect(&again, ctx, id, &err), id);
    ck_assert_ptr_null(again);
    oc_sandbox_unref(victim);
    oc_sandbox_unref(other);
}
END_TEST

/* Templates are listed with their details; one that a sandbox (this
 * suite's) builds on cannot be deleted, and the refusal says why. */
START_TEST(test_templates)
{
    oc_template_list *list = NULL;
    oc_template_info *t = NULL;
    gboolean found = FALSE;

    OK(oc_template_list_get(&list, ctx, 0, &e_));
    for (size_t i = 0; i < oc_template_list_count(list); i++)
        found |= strcmp(oc_template_info_name(oc_template_list_at(list, i)), "base") == 0;
    ck_assert(found);
    oc_template_list_free(list);
    OK(oc_template_get(&t, ctx, "base", &e_));
    ck_assert_ptr_null(oc_template_info_parent(t)); /* built from a root filesystem */
    ck_assert_uint_gt(oc_template_info_size_bytes(t), 0);
    ck_assert_uint_gt(oc_template_info_disk_bytes(t), 0);
    ck_assert_int_gt(oc_template_info_created_at(t), 1700000000);
    ck_assert_ptr_null(oc_template_info_steps(t)[0]);
    oc_template_info_free(t);

    FAILS(OC_ESTATE, oc_template_delete(ctx, "base", 0, &err), "template base is in use by ");
    OK(oc_template_get(&t, ctx, "base", &e_)); /* still there */
    oc_template_info_free(t);
    FAILS(OC_EINVAL, oc_template_delete(ctx, "../base", 0, &err), "invalid template name");
    FAILS(OC_ENOTFOUND, oc_template_delete(ctx, "no-such-template", 0, &err),
          "available templates: ");
    FAILS(OC_EINVAL, oc_template_delete(ctx, "base", 1, &err), "flags");
}
END_TEST

/* OC_CONTEXT_REQUIRE_KVM: refused, with the reason, where there is no KVM;
 * unknown flags are refused everywhere. */
START_TEST(test_require_kvm)
{
    oc_context_options co = OC_CONTEXT_OPTIONS_INIT;
    oc_context *c = NULL;
    gboolean kvm = access("/dev/kvm", R_OK | W_OK) == 0;

    co.flags = OC_CONTEXT_REQUIRE_KVM;
    if (kvm) {
        OK(oc_context_new(&c, &co, &e_));
        ck_assert_str_eq(oc_context_accelerator(c), "kvm");
        oc_context_unref(c);
    } else {
        FAILS(OC_EUNSUPPORTED, oc_context_new(&c, &co, &err), "/dev/kvm");
        ck_assert_ptr_null(c);
        ck_assert_str_eq(oc_context_accelerator(ctx), "tcg");
    }
    co.flags = 1u << 7;
    FAILS(OC_EINVAL, oc_context_new(&c, &co, &err), "unknown flags 0x80");
    ck_assert_ptr_null(c);

    /* a program built against version 2 passes a struct without flags:
     * init writes only what that version has */
    union {
        oc_context_options o;
        unsigned char bytes[sizeof(oc_context_options)];
    } u;
    memset(&u, 0xaa, sizeof u);
    ck_assert_int_eq(oc_context_options_init(&u.o, 2), OC_OK);
    ck_assert_uint_eq(u.o.version, 2);
    ck_assert_uint_eq(u.o.pool_size, 0);
    ck_assert_ptr_null(u.o.pool_templates);
    for (size_t i = offsetof(oc_context_options, flags); i < sizeof u; i++)
        ck_assert_uint_eq(u.bytes[i], 0xaa);
    ck_assert_int_eq(oc_context_options_init(&u.o, 3), OC_OK);
    ck_assert_uint_eq(u.o.flags, 0);
    ck_assert_int_eq(oc_context_options_init(&u.o, 4), OC_EINVAL);
    ck_assert_int_eq(oc_context_options_init(&u.o, 0), OC_EINVAL);
}
END_TEST

/* The name of the sb- domain whose definition holds marker, or NULL.  Other
 * tests create sandboxes at the same time (meson runs tests in parallel), so
 * only a marker tells ours apart. */
static char *domain_with_marker(virConnectPtr c, const char *marker)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(c, &doms, 0);
    char *found = NULL;

    for (int i = 0; i < n; i++) {
        const char *name = virDomainGetName(doms[i]);
        char *xml = found || !g_str_has_prefix(name, "sb-") ? NULL
                                                            : virDomainGetXMLDesc(doms[i], 0);
        if (xml && strstr(xml, marker))
            found = g_strdup(name);
        free(xml);
        virDomainFree(doms[i]);
    }
    free(doms);
    return found;
}

/* Killing the creating process midway leaves no half-made domain that `oc
 * ls` hides: the sandbox is either listed and usable, or gone. */
START_TEST(test_create_interrupted)
{
    const char *oc = g_getenv("OC");
    g_autofree char *marker = g_strdup_printf("interrupted-%d-%" G_GINT64_FORMAT, (int)getpid(),
                                              g_get_real_time());
    g_autofree char *meta = g_strdup_printf("oc-test=%s", marker);
    char *argv[] = { (char *)oc, "create", "--memory", "128", "--meta", meta, NULL };
    virConnectPtr c = virConnectOpen("qemu:///system");
    GPid pid;
    GError *gerr = NULL;
    char *id = NULL;

    ck_assert_msg(oc != NULL, "OC (path of the oc CLI) is not set");
    ck_assert_msg(c != NULL, "cannot connect to libvirt");
    ck_assert_msg(g_spawn_async(NULL, argv, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                                    G_SPAWN_STDERR_TO_DEV_NULL,
                                NULL, NULL, &pid, &gerr), "spawn oc: %s", gerr ? gerr->message : "");
    /* wait for its domain to appear, then kill the creator mid-boot */
    for (int i = 0; i < 600 && !id; i++) {
        id = domain_with_marker(c, marker);
        if (!id)
            g_usleep(20 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    g_spawn_close_pid(pid);
    ck_assert_msg(id != NULL, "oc create never defined a domain");

    oc_sandbox_list *l = NULL;
    int listed = 0;
    OK(oc_sandbox_list_get(&l, ctx, NULL, 0, &e_));
    for (size_t i = 0; i < oc_sandbox_list_count(l); i++)
        listed |= strcmp(oc_sandbox_info_id(oc_sandbox_list_at(l, i)), id) == 0;
    oc_sandbox_list_free(l);

    if (listed) {
        oc_sandbox *x = NULL;
        oc_exec_result *r = NULL;
        OK(oc_sandbox_connect(&x, ctx, id, &e_));
        OK(oc_exec_run(&r, x, "true", NULL, &e_));
        oc_exec_result_free(r);
        OK(oc_sandbox_kill(x, 0, &e_));
        oc_sandbox_unref(x);
    } else {
        g_autofree char *still = domain_with_marker(c, marker);
        ck_assert_msg(still == NULL, "%s is not listed but libvirt still has it", id);
    }
    virConnectClose(c);
    g_free(id);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_hello,
        test_exec_argv_env_cwd,
        test_exec_not_found,
        test_exec_timeout,
        test_exec_big_output,
        test_files_roundtrip,
        test_files_errors,
        test_info_list_timeout,
        test_create_bad_input,
        test_sessions,
        test_orphan_dirs,
        test_kill,
        test_require_kvm,
        test_templates,
        test_create_interrupted,
    };

    return itest_main("sandbox", 600, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
