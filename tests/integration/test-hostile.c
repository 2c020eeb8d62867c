/* test-hostile.c: sandboxes whose guest turns hostile, through the public
 * API.  Guest root owns the agent, so each test runs the agent's hostile
 * test mode in a fresh sandbox (a victim) as guest root would:
 * `/run/oc-agent --misbehave MODE` (guest/agent/misbehave.c), after which
 * the agent attacks the host's next request.  Each test asserts that:
 * - the host call fails with a clear error (code and message) within its
 *   timeout (wall time below the call's timeout plus a margin: a bound, not
 *   a speed);
 * - the test process's peak RSS during the attack stays under RSS_CAP_KIB
 *   above its level before it (docs/security.md documents the cap);
 * - the neighbour, a sandbox on the same context, runs a command while the
 *   attack goes on and after it;
 * - the victim can be killed.
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "opencomputer.h"

/* What an attack may make the host hold: its read buffer (2.3 MiB), and a
 * stream's credit (4 MiB a channel), with room to spare for the threads. */
#define RSS_CAP_KIB (32 * 1024)
/* Above a call's own timeout: a busy host's scheduling, not the library. */
#define MARGIN_MS 15000
/* The host's bound on a file or session request the agent leaves
 * unanswered (AGENT_STALL_MS in lib/agent/agent.h), and on an exec: its
 * timeout plus 10 s. */
#define STALL_MS 60000
#define EXEC_TIMEOUT_MS 2000
#define EXEC_BOUND_MS (EXEC_TIMEOUT_MS + 10000)

static oc_context *ctx;
static oc_sandbox *neighbour;
/* The current test's victim until it is killed: a failed assertion leaves
 * it to the next test or the teardown. */
static oc_sandbox *victim;

static void victim_drop(void)
{
    if (victim)
        oc_sandbox_kill(victim, 0, NULL);
    victim = oc_sandbox_unref(victim);
}

static void setup_all(void)
{
    itest_sandbox_open(&ctx, &neighbour, "test-hostile", NULL, -1);
}

static void teardown_all(void)
{
    victim_drop();
    itest_sandbox_close(ctx, neighbour);
}

/* A new sandbox on the shared context. */
static oc_sandbox *victim_open(void)
{
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;
    const char *meta[] = { "oc-test=integration", "owner=test-hostile", NULL };

    victim_drop();
    o.metadata = meta;
    o.memory_mb = 256;
    OK(oc_sandbox_create(&victim, ctx, &o, &e_));
    return victim;
}

/* Tells sb's agent to misbehave from the host's next request on. */
static void misbehave(oc_sandbox *sb, const char *mode)
{
    const char *args[] = { "--misbehave", mode, NULL };
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    oc_exec_result *r = NULL;

    o.args = args;
    OK(oc_exec_run(&r, sb, "/run/oc-agent", &o, &e_));
    ck_assert_msg(oc_exec_result_exit_code(r) == 0, "the trigger exited %d: %s",
                  oc_exec_result_exit_code(r), oc_exec_result_stderr(r, NULL));
    ck_assert_ptr_nonnull(strstr(oc_exec_result_stdout(r, NULL), "misbehaves"));
    oc_exec_result_free(r);
}

static void victim_kill(void)
{
    int state = 0;

    OK(oc_sandbox_kill(victim, 0, &e_));
    FAILS(OC_ENOTFOUND, oc_sandbox_status(victim, &state, &err), "killed");
    victim = oc_sandbox_unref(victim);
}

/* ---- memory ---- */

static long status_kib(const char *field)
{
    g_autofree char *text = NULL;
    long v = -1;

    ck_assert(g_file_get_contents("/proc/self/status", &text, NULL, NULL));
    const char *p = strstr(text, field);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p + strlen(field), ":%ld", &v), 1);
    return v;
}

/* Resets VmHWM to the current RSS (Linux 4.0+), so that it reads the peak
 * of what follows. */
static void peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs("5", f), 1);
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- attacks: host calls in threads, the neighbour checked meanwhile ---- */

typedef struct Attack Attack;
struct Attack {
    const char *name;
    int (*call)(Attack *a, oc_error **error);
    oc_sandbox *sb;
    int want_code;
    const char *want;   /* in the message */
    gint64 bound_ms;    /* the call's timeout */
    /* results */
    int rc;
    char *message;
    gint64 ms;
};

static gpointer attack_thread(gpointer data)
{
    Attack *a = data;
    oc_error *err = NULL;
    gint64 t0 = g_get_monotonic_time();

    a->rc = a->call(a, &err);
    a->ms = (g_get_monotonic_time() - t0) / 1000;
    a->message = g_strdup(err ? oc_error_message(err) : "(no error)");
    oc_error_free(err);
    return NULL;
}

static void neighbour_works(void)
{
    g_autofree char *out = itest_sh(neighbour, "echo neighbour");
    ck_assert_str_eq(out, "neighbour\n");
}

static void attacks_run(Attack *attacks, size_t n)
{
    GThread *threads[8];

    ck_assert_uint_le(n, G_N_ELEMENTS(threads));
    peak_reset();
    long base = status_kib("VmRSS");
    for (size_t i = 0; i < n; i++)
        threads[i] = g_thread_new(attacks[i].name, attack_thread, &attacks[i]);
    neighbour_works(); /* while the attacks go on (the slow ones, at least) */
    for (size_t i = 0; i < n; i++)
        g_thread_join(threads[i]);
    long peak = status_kib("VmHWM");
    printf("# RSS %ld KiB before, peak %ld KiB (+%ld)\n", base, peak, peak - base);
    ck_assert_msg(peak - base < RSS_CAP_KIB, "RSS grew by %ld KiB, over the cap of %d KiB",
                  peak - base, RSS_CAP_KIB);
    neighbour_works();
    for (size_t i = 0; i < n; i++) {
        Attack *a = &attacks[i];
        printf("# %s: %s after %" G_GINT64_FORMAT " ms: %s\n", a->name, oc_strerror(a->rc),
               a->ms, a->message);
        ck_assert_msg(a->rc == a->want_code, "%s: expected %s, got %s: %s", a->name,
                      oc_strerror(a->want_code), oc_strerror(a->rc), a->message);
        ck_assert_msg(strstr(a->message, a->want), "%s: message '%s' does not say '%s'", a->name,
                      a->message, a->want);
        ck_assert_msg(strstr(a->message, oc_sandbox_id(a->sb)), "%s: '%s' names no sandbox",
                      a->name, a->message);
        ck_assert_msg(a->ms < a->bound_ms + MARGIN_MS, "%s took %" G_GINT64_FORMAT " ms, over "
                      "its timeout of %" G_GINT64_FORMAT " ms", a->name, a->ms, a->bound_ms);
        g_free(a->message);
    }
}

/* One victim, one mode, the attacks on it, the kill. */
static void hostile(const char *mode, Attack *attacks, size_t n)
{
    oc_sandbox *sb = victim_open();

    misbehave(sb, mode);
    for (size_t i = 0; i < n; i++)
        attacks[i].sb = sb;
    attacks_run(attacks, n);
    victim_kill();
}

static void hostile_one(const char *mode, Attack a)
{
    hostile(mode, &a, 1);
}

/* ---- the calls ---- */

static int call_exec(Attack *a, oc_error **error)
{
    oc_exec_options o = OC_EXEC_OPTIONS_INIT;
    oc_exec_result *r = NULL;

    o.timeout_ms = EXEC_TIMEOUT_MS;
    int rc = oc_exec_run(&r, a->sb, "echo hello", &o, error);
    oc_exec_result_free(r);
    return rc;
}

static int call_read(Attack *a, oc_error **error)
{
    void *data = NULL;
    int rc = oc_files_read(a->sb, "/etc/hostname", &data, NULL, 0, error);
    oc_free(data);
    return rc;
}

static int call_write(Attack *a, oc_error **error)
{
    return oc_files_write(a->sb, "/tmp/hostile", "x", 1, 0, error);
}

static int call_stat(Attack *a, oc_error **error)
{
    oc_file_info *fi = NULL;
    int rc = oc_files_stat(&fi, a->sb, "/etc", 0, error);
    oc_file_info_free(fi);
    return rc;
}

static int call_list(Attack *a, oc_error **error)
{
    oc_file_list *l = NULL;
    int rc = oc_files_list(&l, a->sb, "/", 0, error);
    oc_file_list_free(l);
    return rc;
}

static int call_start(Attack *a, oc_error **error)
{
    uint32_t id = 0;
    return oc_exec_start(&id, a->sb, "sleep 1", NULL, error);
}

static int call_sessions(Attack *a, oc_error **error)
{
    oc_exec_session_list *l = NULL;
    int rc = oc_exec_list(&l, a->sb, 0, error);
    oc_exec_session_list_free(l);
    return rc;
}

/* An attach whose callback takes its first output slowly, as a consumer
 * that is busy: the host's credit runs out, and a guest that ignores it is
 * caught.  The handle's end is the call's result. */
static void slow_stdout(const char *data, size_t len, void *user_data)
{
    gboolean *first = user_data;
    if (*first) {
        *first = FALSE;
        g_usleep(3 * G_USEC_PER_SEC);
    }
}

static int call_attach(Attack *a, oc_error **error)
{
    gboolean first = TRUE;
    oc_exec_callbacks cb = { .version = OC_EXEC_CALLBACKS_VERSION, .on_stdout = slow_stdout,
                             .user_data = &first };
    oc_exec_handle *h = NULL;
    int rc = oc_exec_spawn(&h, a->sb, "sleep 600", NULL, &cb, error);
    if (rc == OC_OK)
        rc = oc_exec_wait(h, 30000, NULL, error);
    oc_exec_handle_free(h);
    return rc;
}

#define ATTACK(fn, code, needle, bound) \
    { .name = #fn, .call = fn, .want_code = (code), .want = (needle), .bound_ms = (bound) }

/* ---- the modes ---- */

START_TEST(test_garbage)
{
    hostile_one("garbage", (Attack)ATTACK(call_exec, OC_EAGENT, "a frame with a bad magic number",
                                          EXEC_BOUND_MS));
}
END_TEST

START_TEST(test_huge_frame)
{
    hostile_one("huge", (Attack)ATTACK(call_read, OC_EAGENT,
                                       "a frame of 4294967295 bytes, over the 262144-byte bound",
                                       STALL_MS));
}
END_TEST

/* Frames for streams the host has closed must be ignored (they may be in
 * flight after a cancel): a guest that sends nothing else meets the call's
 * timeout, while the host's memory stays flat. */
START_TEST(test_unknown_streams)
{
    hostile_one("unknown", (Attack)ATTACK(call_exec, OC_ETIMEOUT,
                                          "frames for requests that are not open",
                                          EXEC_BOUND_MS));
}
END_TEST

START_TEST(test_flood)
{
    hostile_one("flood", (Attack)ATTACK(call_attach, OC_EAGENT, "bytes of credit granted", 30000));
}
END_TEST

/* Every kind of request at once, each bounded by its own timeout. */
START_TEST(test_silent)
{
    const char *stalled = "sent nothing on this request for 60 s";
    Attack a[] = {
        ATTACK(call_exec, OC_ETIMEOUT, "; the sandbox agent sent nothing on it", EXEC_BOUND_MS),
        ATTACK(call_read, OC_ETIMEOUT, stalled, STALL_MS),
        ATTACK(call_write, OC_ETIMEOUT, stalled, STALL_MS),
        ATTACK(call_stat, OC_ETIMEOUT, stalled, STALL_MS),
        ATTACK(call_list, OC_ETIMEOUT, stalled, STALL_MS),
        ATTACK(call_start, OC_ETIMEOUT, stalled, STALL_MS),
        ATTACK(call_sessions, OC_ETIMEOUT, stalled, STALL_MS),
    };
    hostile("silent", a, G_N_ELEMENTS(a));
}
END_TEST

START_TEST(test_half_frame)
{
    hostile_one("half", (Attack)ATTACK(call_exec, OC_ETIMEOUT,
                                       "stopped in the middle of a frame", EXEC_BOUND_MS));
}
END_TEST

/* oc_exec_handle_free() on a guest that never confirms the detach gives up
 * after 5 s (DETACH_WAIT_US in lib/oc-exec-stream.c). */
START_TEST(test_detach_unanswered)
{
    oc_sandbox *sb = victim_open();
    oc_exec_handle *h = NULL;

    OK(oc_exec_spawn(&h, sb, "sleep 600", NULL, NULL, &e_));
    misbehave(sb, "silent");
    gint64 t0 = g_get_monotonic_time();
    oc_exec_handle_free(h);
    gint64 ms = (g_get_monotonic_time() - t0) / 1000;
    printf("# oc_exec_handle_free returned after %" G_GINT64_FORMAT " ms\n", ms);
    ck_assert_int_ge(ms, 5000);
    ck_assert_int_lt(ms, 5000 + MARGIN_MS);
    neighbour_works();
    victim_kill();
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_garbage, test_huge_frame, test_unknown_streams, test_flood,
        test_silent, test_half_frame, test_detach_unanswered,
    };
    return itest_main("hostile", 900, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
