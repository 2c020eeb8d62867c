/* test-hibernate.c: hibernate, wake, auto-wake, the idle reaper, crash
 * safety and reboot, against a real guest.
 *
 * One sandbox serves every test (boots are slow under TCG); tests run in
 * order in one process (CK_FORK=no), and the suite kills the sandbox. */
#include <check.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "opencomputer.h"

/* How long past its deadline a sandbox may take to hibernate: the reaper
 * looks once a second, and a save of a 256 MiB guest takes seconds under
 * TCG on a loaded host. */
#define REAPER_SLACK_S 30

static oc_context *ctx;
static oc_sandbox *sb;
static const char *sb_id;
/* an `oc daemon` a failed test left running; teardown stops it */
static GPid daemon_pid;

static void setup_all(void)
{
    /* no idle timeout: only the idle-timeout test sets one */
    itest_sandbox_open(&ctx, &sb, "test-hibernate", NULL, 0);
    sb_id = oc_sandbox_id(sb);
}

static void teardown_all(void)
{
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGTERM);
        waitpid(daemon_pid, NULL, 0);
    }
    itest_sandbox_close(ctx, sb);
}

/* The QEMU process that runs this sandbox (QEMU's -name guest=ID), or 0. */
static long qemu_pid(const char *id)
{
    g_autofree char *needle = g_strdup_printf("guest=%s", id);
    GDir *d = g_dir_open("/proc", 0, NULL);
    const char *n;
    long found = 0;

    while (!found && (n = g_dir_read_name(d))) {
        g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", n);
        g_autofree char *cmd = NULL;
        gsize len = 0;
        if (!g_ascii_isdigit(n[0]) || !g_file_get_contents(path, &cmd, &len, NULL))
            continue;
        for (gsize i = 0; i + 1 < len; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        if (strstr(cmd, needle))
            found = strtol(n, NULL, 10);
    }
    g_dir_close(d);
    return found;
}

static gboolean qemu_runs(const char *id)
{
    return qemu_pid(id) != 0;
}

static int info_last_wake(void)
{
    oc_sandbox_info *info = NULL;
    int kind;

    OK(oc_sandbox_info_get(&info, sb, &e_));
    kind = oc_sandbox_info_last_wake(info);
    oc_sandbox_info_free(info);
    return kind;
}

static void hibernate_and_check(void)
{
    OK(oc_sandbox_hibernate(sb, 0, &e_));
    ck_assert_int_eq(itest_state(sb), OC_STATE_HIBERNATED);
    ck_assert_msg(!qemu_runs(sb_id), "a QEMU process still runs hibernated %s", sb_id);
}

static long sh_long(const char *cmd)
{
    g_autofree char *out = itest_sh(sb, cmd);
    return strtol(out, NULL, 10);
}

/* The counter file holds 1, 2, 3, ... one per line: TRUE if it has no gap
 * and no restart.  *last receives the last value. */
static gboolean counter_is_contiguous(long *last)
{
    g_autofree char *out = itest_sh(sb, "cat /root/counter");
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    long want = 1;

    for (int i = 0; lines[i] && lines[i][0]; i++, want++)
        if (strtol(lines[i], NULL, 10) != want)
            return FALSE;
    *last = want - 1;
    return TRUE;
}

/* Memory, processes, files and the clock survive a hibernate and wake. */
START_TEST(test_round_trip)
{
    gsize len = 10 * 1024 * 1024;
    g_autofree guint8 *data = g_malloc(len);
    GRand *rand = g_rand_new_with_seed(42);
    long sleeper, count_before, count_after, count_later;
    int kind = -1;

    for (gsize i = 0; i < len; i++)
        data[i] = (guint8)g_rand_int(rand);
    g_rand_free(rand);
    g_autofree char *hash = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
    OK(oc_files_write(sb, "/root/ten-mb.bin", data, len, 0, &e_));

    sleeper = sh_long("setsid sleep 100000 >/dev/null 2>&1 </dev/null & echo $!");
    uint32_t session = 0;
    OK(oc_exec_start(&session, sb, "sleep 100000", NULL, &e_));
    itest_sh(sb, "setsid sh -c 'i=0; while :; do i=$((i+1)); echo $i >> /root/counter; "
                 "sleep 0.1; done' >/dev/null 2>&1 </dev/null &");
    g_usleep(1500 * 1000);
    count_before = sh_long("tail -n 1 /root/counter");
    ck_assert_msg(count_before >= 2, "the counter is not counting (%ld)", count_before);

    hibernate_and_check();
    /* hibernating twice is not an error */
    OK(oc_sandbox_hibernate(sb, 0, &e_));

    oc_wake_options wo = OC_WAKE_OPTIONS_INIT;
    OK(oc_sandbox_wake(sb, &wo, &kind, &e_));
    ck_assert_str_eq(oc_wake_kind_name(kind), "restored");
    ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);
    ck_assert_int_eq(info_last_wake(), OC_WAKE_RESTORED);

    /* the clock was set from the host on wake */
    long guest_now = sh_long("date +%s");
    long host_now = (long)(g_get_real_time() / G_USEC_PER_SEC);
    ck_assert_msg(labs(guest_now - host_now) <= 2, "guest clock %ld, host clock %ld", guest_now,
                  host_now);

    g_autofree char *sum = itest_sh(sb, "sha256sum /root/ten-mb.bin | cut -d ' ' -f 1");
    g_strstrip(sum);
    ck_assert_str_eq(sum, hash);
    g_autofree char *check = g_strdup_printf("cat /proc/%ld/cmdline | tr '\\0' ' '", sleeper);
    g_autofree char *cmdline = itest_sh(sb, check);
    ck_assert_msg(strstr(cmdline, "sleep 100000") != NULL, "pid %ld is now '%s'", sleeper, cmdline);

    /* a background session too */
    oc_exec_session_list *sessions = NULL;
    gboolean session_runs = FALSE;
    OK(oc_exec_list(&sessions, sb, 0, &e_));
    for (size_t i = 0; i < oc_exec_session_list_count(sessions); i++) {
        const oc_exec_session_info *si = oc_exec_session_list_at(sessions, i);
        session_runs |= oc_exec_session_info_id(si) == session && oc_exec_session_info_running(si);
    }
    oc_exec_session_list_free(sessions);
    ck_assert_msg(session_runs, "session %u did not survive hibernate and wake", session);
    OK(oc_exec_kill(sb, session, 0, &e_));

    ck_assert_msg(counter_is_contiguous(&count_after), "the counter restarted or skipped");
    ck_assert_int_ge(count_after, count_before);
    g_usleep(1000 * 1000);
    ck_assert_msg(counter_is_contiguous(&count_later), "the counter restarted or skipped");
    ck_assert_msg(count_later > count_after, "the counter stopped at %ld after wake", count_later);

    /* waking a running sandbox changes nothing */
    OK(oc_sandbox_wake(sb, NULL, &kind, &e_));
    ck_assert_int_eq(kind, OC_WAKE_NONE);
    itest_sh(sb, "pkill -f 'echo \\$i' || true");
}
END_TEST

/* exec on a hibernated sandbox wakes it; status and connect do not. */
START_TEST(test_auto_wake)
{
    oc_sandbox *other = NULL;

    hibernate_and_check();
    OK(oc_sandbox_connect(&other, ctx, sb_id, &e_));
    ck_assert_int_eq(itest_state(other), OC_STATE_HIBERNATED);
    ck_assert(!qemu_runs(sb_id));

    g_autofree char *out = itest_sh(other, "echo woken by exec");
    ck_assert_str_eq(out, "woken by exec\n");
    ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);

    /* files calls wake it too */
    hibernate_and_check();
    int exists = 0;
    OK(oc_files_exists(other, "/root/ten-mb.bin", &exists, 0, &e_));
    ck_assert_int_eq(exists, 1);
    ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);
    oc_sandbox_unref(other);
}
END_TEST

static void corrupt_save_image(gboolean truncate_it)
{
    g_autofree char *path = g_strdup_printf("/var/lib/libvirt/qemu/save/%s.save", sb_id);
    int fd = open(path, O_RDWR);
    struct stat st;

    ck_assert_msg(fd >= 0, "cannot open %s: %s", path, g_strerror(errno));
    ck_assert_int_eq(fstat(fd, &st), 0);
    if (truncate_it) {
        /* header and XML intact, QEMU's stream cut short */
        ck_assert_int_eq(ftruncate(fd, st.st_size / 2), 0);
    } else {
        /* libvirt's header, magic included */
        guint8 junk[256];
        memset(junk, 0x5a, sizeof junk);
        ck_assert_int_eq(pwrite(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    }
    close(fd);
}

/* A damaged save image makes wake cold-boot from the same disk; files that
 * were synced before hibernating are there. */
START_TEST(test_damaged_image)
{
    for (int variant = 0; variant < 2; variant++) {
        int kind = -1;
        g_autofree char *write = g_strdup_printf("echo synced-%d > /root/synced && sync", variant);

        itest_sh(sb, write);
        hibernate_and_check();
        corrupt_save_image(variant == 1);
        OK(oc_sandbox_wake(sb, NULL, &kind, &e_));
        ck_assert_msg(kind == OC_WAKE_COLD_BOOT, "variant %d: wake was %s", variant,
                      oc_wake_kind_name(kind));
        ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);
        ck_assert_int_eq(info_last_wake(), OC_WAKE_COLD_BOOT);
        g_autofree char *out = itest_sh(sb, "cat /root/synced; cat /proc/uptime");
        g_autofree char *want = g_strdup_printf("synced-%d\n", variant);
        ck_assert_msg(g_str_has_prefix(out, want), "after a cold boot: %s", out);
        /* a cold boot: the guest has only just started */
        ck_assert_msg(strtod(strchr(out, '\n') + 1, NULL) < 120.0, "uptime: %s", out);
    }
}
END_TEST

static GPid spawn_oc(const char *const *args)
{
    const char *oc = g_getenv("OC");
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    GError *gerr = NULL;
    GPid pid;

    ck_assert_msg(oc != NULL, "OC (path of the oc CLI) is not set");
    g_ptr_array_add(argv, (gpointer)oc);
    for (int i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    /* DO_NOT_REAP: otherwise GLib double-forks and pid is not our child */
    ck_assert_msg(g_spawn_async(NULL, (char **)argv->pdata, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                                NULL, NULL, &pid, &gerr),
                  "spawn oc: %s", gerr ? gerr->message : "");
    return pid;
}

static void end_process(GPid pid, int sig)
{
    kill(pid, sig);
    waitpid(pid, NULL, 0);
    g_spawn_close_pid(pid);
}

/* Waits up to max_s for the sandbox to reach state; returns seconds taken,
 * or -1. */
static double wait_state(int state, double max_s)
{
    gint64 t0 = g_get_monotonic_time();

    while ((g_get_monotonic_time() - t0) / 1e6 < max_s) {
        if (itest_state(sb) == state)
            return (g_get_monotonic_time() - t0) / 1e6;
        g_usleep(250 * 1000);
    }
    return -1;
}

/* `oc daemon` hibernates a sandbox idle past its timeout, calls keep it
 * awake, and a reaper that starts late handles overdue sandboxes. */
START_TEST(test_idle_timeout)
{
    const char *daemon_args[] = { "daemon", NULL };
    double took;

    OK(oc_sandbox_set_timeout(sb, 5, 0, &e_));
    daemon_pid = spawn_oc(daemon_args);
    /* an exec every 2 s keeps it running */
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(itest_state(sb) == OC_STATE_RUNNING, "hibernated while in use (round %d)", i);
        g_free(itest_sh(sb, "true"));
        g_usleep(2 * G_USEC_PER_SEC);
    }
    ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);
    /* then idle: hibernated within timeout + slack */
    took = wait_state(OC_STATE_HIBERNATED, 5 + REAPER_SLACK_S);
    ck_assert_msg(took >= 0, "not hibernated %d s after the idle timeout", REAPER_SLACK_S);
    ck_assert_msg(took >= 2.5, "hibernated after only %.1f s idle (timeout 5 s)", took);
    end_process(daemon_pid, SIGTERM);
    daemon_pid = 0;

    /* wake sets a new timeout; with no reaper running the deadline passes */
    oc_wake_options wo = OC_WAKE_OPTIONS_INIT;
    oc_sandbox_info *info = NULL;
    wo.timeout_s = 3;
    OK(oc_sandbox_wake(sb, &wo, NULL, &e_));
    OK(oc_sandbox_info_get(&info, sb, &e_));
    ck_assert_uint_eq(oc_sandbox_info_timeout(info), 3);
    ck_assert_int_gt(oc_sandbox_info_idle_deadline(info), 0);
    oc_sandbox_info_free(info);
    g_usleep(5 * G_USEC_PER_SEC);
    ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);
    daemon_pid = spawn_oc(daemon_args);
    took = wait_state(OC_STATE_HIBERNATED, REAPER_SLACK_S);
    end_process(daemon_pid, SIGTERM);
    daemon_pid = 0;
    ck_assert_msg(took >= 0, "a late reaper left an overdue sandbox running");

    OK(oc_sandbox_set_timeout(sb, 0, 0, &e_));
    OK(oc_sandbox_wake(sb, NULL, NULL, &e_));
}
END_TEST

/* SIGKILL of the process that called hibernate, at several points: the
 * sandbox always ends up running or hibernated, and then works. */
START_TEST(test_crash_mid_hibernate)
{
    const int delays_ms[] = { 30, 250, 600, 1000, 1600 };
    const char *args[] = { "hibernate", sb_id, NULL };

    for (size_t i = 0; i < G_N_ELEMENTS(delays_ms); i++) {
        GPid pid = spawn_oc(args);
        int state;

        g_usleep(delays_ms[i] * 1000);
        end_process(pid, SIGKILL);
        state = itest_state(sb);
        ck_assert_msg(state == OC_STATE_RUNNING || state == OC_STATE_HIBERNATED,
                      "killed after %d ms: state %s", delays_ms[i], oc_sandbox_state_name(state));
        g_autofree char *out = itest_sh(sb, "echo alive");
        ck_assert_msg(strcmp(out, "alive\n") == 0, "killed after %d ms: exec said %s",
                      delays_ms[i], out);
        ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);
    }
}
END_TEST

/* Bad input gets a clear error. */
START_TEST(test_bad_input)
{
    oc_wake_options wo = OC_WAKE_OPTIONS_INIT;

    FAILS(OC_EINVAL, oc_sandbox_hibernate(NULL, 0, &err), "sb must not be NULL");
    FAILS(OC_EINVAL, oc_sandbox_hibernate(sb, 0x80, &err), "flag");
    wo.timeout_s = -5;
    FAILS(OC_EINVAL, oc_sandbox_wake(sb, &wo, NULL, &err), "timeout -5");
    wo = (oc_wake_options)OC_WAKE_OPTIONS_INIT;
    wo.version = 99;
    FAILS(OC_EINVAL, oc_sandbox_wake(sb, &wo, NULL, &err), "version 99");
    FAILS(OC_EINVAL, oc_reaper_start(NULL, ctx, 0, &err), "must not be NULL");
}
END_TEST

/* Two reapers on one state directory: one works, the other waits and takes
 * over when the first stops.  (A scratch directory: no sandboxes there.) */
START_TEST(test_reaper_lock)
{
    g_autofree char *dir = g_dir_make_tmp("oc-reaper-XXXXXX", NULL);
    oc_context_options co = OC_CONTEXT_OPTIONS_INIT;
    oc_context *c1 = NULL, *c2 = NULL;
    oc_reaper *r1 = NULL, *r2 = NULL;

    co.state_dir = dir;
    OK(oc_context_new(&c1, &co, &e_));
    OK(oc_context_new(&c2, &co, &e_));
    OK(oc_reaper_start(&r1, c1, 0, &e_));
    OK(oc_reaper_start(&r2, c2, 0, &e_));
    ck_assert_int_eq(oc_reaper_is_active(r1), 1);
    ck_assert_int_eq(oc_reaper_is_active(r2), 0);
    g_usleep(1500 * 1000);
    ck_assert_int_eq(oc_reaper_is_active(r2), 0);
    oc_reaper_stop(r1);
    for (int i = 0; i < 40 && !oc_reaper_is_active(r2); i++)
        g_usleep(100 * 1000);
    ck_assert_int_eq(oc_reaper_is_active(r2), 1);
    oc_reaper_stop(r2);
    oc_context_unref(c1);
    oc_context_unref(c2);
    g_autofree char *lock = g_build_filename(dir, "reaper.lock", NULL);
    g_unlink(lock);
    g_rmdir(dir);
}
END_TEST

/* The guest's boot id: new at every boot of its kernel. */
static char *boot_id(void)
{
    return itest_sh(sb, "cat /proc/sys/kernel/random/boot_id");
}

static guint running_sessions(void)
{
    oc_exec_session_list *list = NULL;
    guint n = 0;

    OK(oc_exec_list(&list, sb, 0, &e_));
    for (size_t i = 0; i < oc_exec_session_list_count(list); i++)
        n += oc_exec_session_info_running(oc_exec_session_list_at(list, i)) ? 1 : 0;
    oc_exec_session_list_free(list);
    return n;
}

/* A reboot restarts the guest from its disk in a new QEMU process: files
 * stay (a soft one syncs first), processes and the boot id go; a hard one
 * (a power cycle) also boots a hibernated sandbox. */
START_TEST(test_reboot)
{
    static const char mark[] = "written just before the reboot\n";
    uint32_t sid = 0;

    OK(oc_files_write(sb, "/root/reboot-mark", mark, sizeof mark - 1, 0, &e_));
    OK(oc_exec_start(&sid, sb, "sleep 1000", NULL, &e_));
    ck_assert_uint_ge(running_sessions(), 1);
    g_autofree char *boot0 = boot_id();
    long pid0 = qemu_pid(sb_id);
    ck_assert_int_ne(pid0, 0);

    OK(oc_sandbox_reboot(sb, 0, &e_));
    g_autofree char *boot1 = boot_id();
    ck_assert_str_ne(boot1, boot0);
    long pid1 = qemu_pid(sb_id);
    ck_assert_int_ne(pid1, 0);
    ck_assert_int_ne(pid1, pid0);
    ck_assert_uint_eq(running_sessions(), 0);
    g_autofree char *got = itest_sh(sb, "cat /root/reboot-mark");
    ck_assert_str_eq(got, mark);

    OK(oc_sandbox_reboot(sb, OC_REBOOT_HARD, &e_));
    g_autofree char *boot2 = boot_id();
    ck_assert_str_ne(boot2, boot1);
    long pid2 = qemu_pid(sb_id);
    ck_assert_int_ne(pid2, 0);
    ck_assert_int_ne(pid2, pid1);
    ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);

    /* hibernated: soft is refused, hard boots it from its disk */
    hibernate_and_check();
    FAILS(OC_ESTATE, oc_sandbox_reboot(sb, 0, &err), "wake it first");
    ck_assert_int_eq(itest_state(sb), OC_STATE_HIBERNATED);
    OK(oc_sandbox_reboot(sb, OC_REBOOT_HARD, &e_));
    ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);
    ck_assert_int_eq(info_last_wake(), OC_WAKE_COLD_BOOT);
    g_autofree char *boot3 = boot_id();
    ck_assert_str_ne(boot3, boot2);
    g_autofree char *again = itest_sh(sb, "cat /root/reboot-mark");
    ck_assert_str_eq(again, mark);

    FAILS(OC_EINVAL, oc_sandbox_reboot(sb, 0x80, &err), "flag");
    FAILS(OC_EINVAL, oc_sandbox_reboot(NULL, 0, &err), "sb must not be NULL");
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_bad_input,
        test_reaper_lock,
        test_round_trip,
        test_auto_wake,
        test_damaged_image,
        test_idle_timeout,
        test_crash_mid_hibernate,
        test_reboot,
    };

    return itest_main("hibernate", 900, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
