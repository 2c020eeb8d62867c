/* test-crash.c: the library's process killed (SIGKILL) at each labelled
 * crash point of create, hibernate, wake, checkpoint, fork, kill and
 * restore, many times over (docs/security.md, "Crash safety").
 *
 * Each time, `oc` runs the operation with OC_CRASH_POINT naming one point
 * and must die of SIGKILL there (a point never reached fails).  Then this
 * process, through a fresh context, must find every sandbox listed in the
 * state libvirt has it in, working or killable, and nothing left over: no
 * unlisted domain, no stray disk, save image or unfinished checkpoint
 * (crash-audit.h).  One sandbox serves every round that allows it. */
#include <signal.h>
#include <sys/wait.h>

#include "crash-audit.h"
#include "itest.h"

#define OWNER "owner=test-crash"
/* Rounds per operation (restore: half), cycling over its points;
 * OC_CRASH_ROUNDS sets fewer for a quick look. */
static guint rounds = 20;
/* How long recovery may take: a directory without a domain is swept only
 * once it is 10 s old (a creator may be about to define it). */
#define RECOVERY_TIMEOUT_S 90

static oc_context *ctx;
static oc_sandbox *main_sb;
static virConnectPtr conn;
static CrashAudit audit;
static char *checkpoint_id; /* of main_sb, for forks and restores */
static guint crashes, killed_after;
/* Seconds each test took, for the closing lines. */
static double seconds[8];
static const char *names[8];
static guint n_timed;

static const char *state_dir(void)
{
    const char *d = g_getenv("OC_STATE_DIR");
    return d && *d ? d : "/var/lib/opencomputer";
}

/* Runs `oc ARGS...` with OC_CRASH_POINT=label and asserts it died of
 * SIGKILL. */
static void run_crashing(const char *label, const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "OC_CRASH_POINT", label, TRUE);
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) gerr = NULL;
    int status = 0;

    g_ptr_array_add(argv, (gpointer)g_getenv("OC"));
    for (size_t i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &out,
                               &err, &status, &gerr), "cannot run oc: %s", gerr->message);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "oc %s with OC_CRASH_POINT=%s did not die there (status %d); stdout: %s "
                  "stderr: %s", args[0], label, status, out, err);
    crashes++;
}

/* Asserts that recovery leaves nothing wrong, then that every sandbox of
 * this test works: main_sb runs commands, the others (made by crashed
 * creates and forks) are killed. */
static void check_recovered(const char *label)
{
    g_autofree char *problems = NULL;
    const char *filter[] = { OWNER, NULL };
    oc_sandbox_list *list = NULL;

    ck_assert_msg(crash_audit_wait(&audit, RECOVERY_TIMEOUT_S, &problems),
                  "after a crash at %s:\n%s", label, problems);
    OK(oc_sandbox_list_get(&list, ctx, filter, 0, &e_));
    for (size_t i = 0; i < oc_sandbox_list_count(list); i++) {
        const oc_sandbox_info *info = oc_sandbox_list_at(list, i);
        const char *id = oc_sandbox_info_id(info);
        oc_sandbox *sb = NULL;

        if (g_str_equal(id, oc_sandbox_id(main_sb)))
            continue;
        OK(oc_sandbox_connect(&sb, ctx, id, &e_));
        if (oc_sandbox_info_state(info) == OC_STATE_RUNNING)
            g_free(itest_sh(sb, "echo works"));
        OK(oc_sandbox_kill(sb, 0, &e_));
        oc_sandbox_unref(sb);
        killed_after++;
    }
    oc_sandbox_list_free(list);
    if (itest_state(main_sb) == OC_STATE_STOPPED)
        OK(oc_sandbox_wake(main_sb, NULL, NULL, &e_)); /* a restore that died midway */
    g_autofree char *out = itest_sh(main_sb, "echo works");
    ck_assert_str_eq(out, "works\n");
}

static void setup_all(void)
{
    oc_error *err = NULL;
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;
    const char *meta[] = { "oc-test=integration", OWNER, "role=main", NULL };

    conn = virConnectOpen("qemu:///system");
    if (!conn || oc_context_new(&ctx, NULL, &err) < 0) {
        fprintf(stderr, "cannot connect: %s\n", oc_error_message(err));
        exit(1);
    }
    crash_audit_init(&audit, conn, state_dir());
    /* Default sizes, so that creates and this one start from the template's
     * ready snapshot; no idle timeout. */
    o.metadata = meta;
    o.timeout_s = 0;
    if (oc_sandbox_create(&main_sb, ctx, &o, &err) < 0) {
        fprintf(stderr, "cannot create the test sandbox: %s\n", oc_error_message(err));
        exit(1);
    }
}

static void teardown_all(void)
{
    oc_checkpoint_list *list = NULL;

    if (oc_checkpoint_list_get(&list, ctx, oc_sandbox_id(main_sb), 0, NULL) == OC_OK) {
        for (size_t i = 0; i < oc_checkpoint_list_count(list); i++)
            oc_checkpoint_delete(ctx, oc_checkpoint_id(oc_checkpoint_list_at(list, i)), 0, NULL);
        oc_checkpoint_list_free(list);
    }
    printf("# %u crashes, %u sandboxes they left were killed\n", crashes, killed_after);
    for (guint i = 0; i < n_timed; i++)
        printf("# %s: %.0f s\n", names[i], seconds[i]);
    itest_sandbox_close(ctx, main_sb);
    crash_audit_clear(&audit);
    virConnectClose(conn);
    g_free(checkpoint_id);
}

/* Before each round (NULL: nothing): brings about what the operation
 * starts from. */
typedef void (*RoundSetup)(void);

/* Runs `oc ARGS` n times, crashing it at OP.STEP for each step in turn, and
 * checks what each crash leaves; records the time taken as op's. */
static void crash_rounds(const char *op, const char *const *steps, const char *const *args,
                         guint n, RoundSetup before)
{
    gint64 t0 = g_get_monotonic_time();
    guint n_steps = g_strv_length((char **)steps);

    for (guint i = 0; i < n; i++) {
        g_autofree char *label = g_strdup_printf("%s.%s", op, steps[i % n_steps]);
        if (before)
            before();
        run_crashing(label, args);
        check_recovered(label);
    }
    names[n_timed] = op;
    seconds[n_timed++] = (g_get_monotonic_time() - t0) / 1e6;
}

/* The points of making a sandbox, shared by create and fork. */
static const char *const make_steps[] = { "dir", "locked", "overlay", "defined", "starting",
                                          "started", "agent", "ready", NULL };

START_TEST(test_create)
{
    const char *args[] = { "create", "-m", "oc-test=integration", "-m", OWNER, NULL };
    crash_rounds("create", make_steps, args, rounds, NULL);
}
END_TEST

static void expect_running(void)
{
    ck_assert_int_eq(itest_state(main_sb), OC_STATE_RUNNING);
}

/* After each, check_recovered()'s command wakes it if the save went through. */
START_TEST(test_hibernate)
{
    static const char *const steps[] = { "locked", "marked", "saving", "saved", "synced", NULL };
    const char *args[] = { "hibernate", oc_sandbox_id(main_sb), NULL };
    crash_rounds("hibernate", steps, args, rounds, expect_running);
}
END_TEST

static void hibernate_main(void)
{
    OK(oc_sandbox_hibernate(main_sb, 0, &e_));
}

START_TEST(test_wake)
{
    static const char *const steps[] = { "locked", "restoring", "started", "agent", "recorded",
                                         NULL };
    const char *args[] = { "wake", oc_sandbox_id(main_sb), NULL };
    crash_rounds("wake", steps, args, rounds, hibernate_main);
}
END_TEST

/* Killed between stopping the VM and starting the new one: the sandbox is
 * listed stopped, and check_recovered() wakes it from its disk. */
START_TEST(test_reboot)
{
    static const char *const steps[] = { "stopped", NULL };
    const char *args[] = { "reboot", "--hard", oc_sandbox_id(main_sb), NULL };
    crash_rounds("reboot", steps, args, MIN(rounds, 3), NULL); /* one point: a few do */
}
END_TEST

START_TEST(test_checkpoint)
{
    static const char *const steps[] = { "locked", "linked", "overlay", "snapshotting",
                                         "snapshot", "synced", "committed", NULL };
    const char *args[] = { "checkpoint", "create", oc_sandbox_id(main_sb), "crash", NULL };
    crash_rounds("checkpoint", steps, args, rounds, NULL);
}
END_TEST

START_TEST(test_fork)
{
    oc_checkpoint *cp = NULL;

    OK(oc_checkpoint_create(&cp, main_sb, "for forks", 0, &e_));
    checkpoint_id = g_strdup(oc_checkpoint_id(cp));
    oc_checkpoint_free(cp);
    const char *args[] = { "checkpoint", "spawn", checkpoint_id, "-m", "oc-test=integration",
                           "-m", OWNER, NULL };
    crash_rounds("fork", make_steps, args, rounds, NULL);
}
END_TEST

static char victim_id[64];

static void make_victim(void)
{
    const char *meta[] = { "oc-test=integration", OWNER, NULL };
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;
    oc_sandbox *victim = NULL;

    o.metadata = meta;
    OK(oc_sandbox_create(&victim, ctx, &o, &e_));
    g_strlcpy(victim_id, oc_sandbox_id(victim), sizeof victim_id);
    oc_sandbox_unref(victim);
}

/* check_recovered() kills the victim if it is still listed. */
START_TEST(test_kill)
{
    static const char *const steps[] = { "stopped", "undefined", "removed", NULL };
    const char *args[] = { "kill", victim_id, NULL };
    crash_rounds("kill", steps, args, rounds, make_victim);
}
END_TEST

START_TEST(test_restore)
{
    static const char *const steps[] = { "stopped", "overlay", "defined", "pruned", "started",
                                         NULL };

    ck_assert_ptr_nonnull(checkpoint_id); /* test_fork made it */
    const char *args[] = { "checkpoint", "restore", oc_sandbox_id(main_sb), checkpoint_id, NULL };
    crash_rounds("restore", steps, args, MAX(rounds / 2, 1), NULL);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = { test_create, test_hibernate, test_wake, test_reboot,
                                   test_checkpoint, test_fork, test_kill, test_restore };
    const char *r = g_getenv("OC_CRASH_ROUNDS");
    gint64 t0 = g_get_monotonic_time();
    int rc;

    if (r && *r)
        rounds = (guint)MAX(atoi(r), 1);
    rc = itest_main("crash", 3600, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));

    printf("# ran in %.0f s\n", (g_get_monotonic_time() - t0) / 1e6);
    return rc;
}
