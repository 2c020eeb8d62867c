/* test-shell.c: stateful shells (oc_shell_*) against a real guest.
 *
 * One sandbox serves every test (boots are slow under TCG); tests run in
 * order in one process (CK_FORK=no), and the suite kills the sandbox.  Most
 * tests share one shell; those that end a shell open their own. */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "opencomputer.h"

static oc_context *ctx;
static oc_sandbox *sb;
static oc_shell *shared;

static void setup_all(void)
{
    oc_error *err = NULL;

    itest_sandbox_open(&ctx, &sb, "test-shell", NULL, 0);
    if (oc_shell_open(&shared, sb, NULL, &err) < 0) {
        fprintf(stderr, "cannot open the test shell: %s\n", oc_error_message(err));
        exit(1);
    }
}

static void teardown_all(void)
{
    oc_shell_close(shared);
    itest_sandbox_close(ctx, sb);
}

static oc_shell *open_shell(const oc_shell_options *opts)
{
    oc_shell *sh = NULL;
    OK(oc_shell_open(&sh, sb, opts, &e_));
    ck_assert_uint_gt(oc_shell_session_id(sh), 0);
    return sh;
}

static void check_bytes(const char *what, const char *cmd, const char *got, size_t got_len,
                        const char *want, size_t want_len)
{
    ck_assert_msg(got_len == want_len && memcmp(got, want, want_len) == 0,
                  "'%s': %s is '%s' (%zu bytes), expected '%s' (%zu bytes)", cmd, what, got,
                  got_len, want, want_len);
}

/* Runs cmd in sh and checks its stdout, stderr (byte for byte) and exit
 * code. */
static void expect_bytes(oc_shell *sh, const char *cmd, const char *out, size_t out_len,
                         const char *err, size_t err_len, int code)
{
    oc_exec_result *r = NULL;
    size_t len;
    const char *data;

    OK(oc_shell_run(&r, sh, cmd, OC_TIMEOUT_DEFAULT, &e_));
    data = oc_exec_result_stdout(r, &len);
    check_bytes("stdout", cmd, data, len, out, out_len);
    data = oc_exec_result_stderr(r, &len);
    check_bytes("stderr", cmd, data, len, err, err_len);
    ck_assert_msg(oc_exec_result_exit_code(r) == code, "'%s' exited %d, expected %d", cmd,
                  oc_exec_result_exit_code(r), code);
    ck_assert(!oc_exec_result_stdout_truncated(r) && !oc_exec_result_stderr_truncated(r));
    oc_exec_result_free(r);
}

/* For string literals, which may hold NUL bytes. */
#define EXPECT(sh, cmd, out, err, code) \
    expect_bytes((sh), (cmd), (out), sizeof(out) - 1, (err), sizeof(err) - 1, (code))

/* A command for the shared shell and what it must give. */
typedef struct {
    const char *cmd, *out;
    size_t out_len;
    const char *err;
    size_t err_len;
    int code;
} Step;

#define STEP(cmd, out, err, code) { (cmd), (out), sizeof(out) - 1, (err), sizeof(err) - 1, (code) }

static void run_steps(const Step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect_bytes(shared, steps[i].cmd, steps[i].out, steps[i].out_len, steps[i].err,
                     steps[i].err_len, steps[i].code);
}

START_TEST(test_cwd_and_exports_persist)
{
    EXPECT(shared, "cd /tmp; export A=1", "", "", 0);
    EXPECT(shared, "pwd; echo $A", "/tmp\n1\n", "", 0);
    EXPECT(shared, "cd /; unset A; echo \"$PWD [$A]\"", "/ []\n", "", 0);
}
END_TEST

START_TEST(test_functions_and_aliases_persist)
{
    EXPECT(shared, "greet() { echo \"hello $1\"; }; alias say='echo said'", "", "", 0);
    EXPECT(shared, "greet world; say it; unset -f greet; unalias say",
           "hello world\nsaid it\n", "", 0);
}
END_TEST

START_TEST(test_streams_are_exact)
{
    static const Step steps[] = {
        /* No trailing newline, NUL and high bytes, both streams. */
        STEP("printf 'out\\nno newline'; printf 'err\\001\\377' >&2", "out\nno newline",
             "err\001\377", 0),
        STEP("printf 'a\\000b'", "a\000b", "", 0),
        STEP("echo to-err >&2", "", "to-err\n", 0),
        STEP("true", "", "", 0),
        STEP("false", "", "", 1),
        STEP("(exit 42)", "", "", 42),
        STEP("echo before; (exit 255)", "before\n", "", 255),
        /* Single quotes, double quotes, backslashes, $ and a multi-line
         * command. */
        STEP("echo 'it'\\''s' \"a\\\\b\" '$HOME'", "it's a\\b $HOME\n", "", 0),
        STEP("echo one\necho two\nfor i in 1 2; do\n  echo $i\ndone", "one\ntwo\n1\n2\n", "",
             0),
    };
    run_steps(steps, G_N_ELEMENTS(steps));
}
END_TEST

START_TEST(test_xtrace_does_not_break_runs)
{
    oc_exec_result *r = NULL;
    size_t len;

    EXPECT(shared, "set -x", "", "", 0);
    OK(oc_shell_run(&r, shared, "echo traced", OC_TIMEOUT_DEFAULT, &e_));
    ck_assert_str_eq(oc_exec_result_stdout(r, &len), "traced\n");
    ck_assert_msg(strstr(oc_exec_result_stderr(r, NULL), "echo traced") != NULL,
                  "stderr '%s' has no trace", oc_exec_result_stderr(r, NULL));
    ck_assert_int_eq(oc_exec_result_exit_code(r), 0);
    oc_exec_result_free(r);
    r = NULL;
    OK(oc_shell_run(&r, shared, "set +x", OC_TIMEOUT_DEFAULT, &e_));
    oc_exec_result_free(r);
    EXPECT(shared, "echo quiet", "quiet\n", "", 0);
}
END_TEST

/* Waits, through plain exec, until path exists in the guest: a command in
 * a shell has got that far. */
static void wait_for_file(const char *path)
{
    g_autofree char *cmd = g_strdup_printf("test -e %s", path);
    oc_exec_result *r = NULL;

    for (;;) {
        OK(oc_exec_run(&r, sb, cmd, NULL, &e_));
        int found = oc_exec_result_exit_code(r) == 0;
        oc_exec_result_free(r);
        if (found)
            return;
        g_usleep(100 * 1000);
    }
}

/* A run on another thread; err gets the error message if it failed. */
typedef struct {
    oc_shell *sh;
    const char *cmd;
    int64_t timeout_ms;
    int rc;
    char *out;
    char *err;
} BgRun;

static gpointer bg_run(gpointer data)
{
    BgRun *t = data;
    oc_exec_result *r = NULL;
    oc_error *e = NULL;

    t->rc = oc_shell_run(&r, t->sh, t->cmd, t->timeout_ms, &e);
    t->out = g_strdup(r ? oc_exec_result_stdout(r, NULL) : "");
    t->err = g_strdup(r ? oc_exec_result_stderr(r, NULL) : oc_error_message(e));
    oc_exec_result_free(r);
    oc_error_free(e);
    return NULL;
}

static void bg_run_clear(BgRun *t)
{
    g_free(t->out);
    g_free(t->err);
}

START_TEST(test_concurrent_run_is_busy)
{
    /* The first run holds the shell until the test creates /tmp/shell-go. */
    BgRun t = { shared,
                "touch /tmp/shell-started; "
                "while [ ! -e /tmp/shell-go ]; do sleep 0.1; done; echo first",
                600000 };
    oc_exec_result *r = NULL;
    g_free(itest_sh(sb, "rm -f /tmp/shell-started /tmp/shell-go"));
    GThread *th = g_thread_new("first", bg_run, &t);

    wait_for_file("/tmp/shell-started");
    FAILS(OC_ESTATE, oc_shell_run(&r, shared, "echo second", OC_TIMEOUT_DEFAULT, &err),
          "shell busy");
    ck_assert_ptr_null(r);
    g_free(itest_sh(sb, "touch /tmp/shell-go"));
    g_thread_join(th);
    ck_assert_msg(t.rc == OC_OK, "the first run failed: %d %s", t.rc, t.err);
    ck_assert_str_eq(t.out, "first\n");
    ck_assert_str_eq(t.err, "");
    bg_run_clear(&t);
    EXPECT(shared, "echo after", "after\n", "", 0);
}
END_TEST

START_TEST(test_stdin_is_dev_null)
{
    EXPECT(shared, "cat; echo after-cat", "after-cat\n", "", 0);
    EXPECT(shared, "read line; echo \"read=$?\"", "read=1\n", "", 0);
}
END_TEST

START_TEST(test_syntax_error_keeps_the_shell)
{
    oc_exec_result *r = NULL;

    OK(oc_shell_run(&r, shared, "echo 'unterminated", OC_TIMEOUT_DEFAULT, &e_));
    ck_assert_int_ne(oc_exec_result_exit_code(r), 0);
    ck_assert_str_eq(oc_exec_result_stdout(r, NULL), "");
    ck_assert_msg(strstr(oc_exec_result_stderr(r, NULL), "unexpected EOF") != NULL,
                  "stderr: '%s'", oc_exec_result_stderr(r, NULL));
    oc_exec_result_free(r);
    r = NULL;
    OK(oc_shell_run(&r, shared, "if then fi", OC_TIMEOUT_DEFAULT, &e_));
    ck_assert_int_ne(oc_exec_result_exit_code(r), 0);
    oc_exec_result_free(r);
    EXPECT(shared, "echo still here", "still here\n", "", 0);
}
END_TEST

START_TEST(test_large_output_is_capped)
{
    oc_exec_result *r = NULL;
    size_t len, want = OC_EXEC_DEFAULT_MAX_OUTPUT;
    const char *out;

    /* 1 MiB more than the cap on stdout, then a line that must not show. */
    OK(oc_shell_run(&r, shared,
                    "head -c 34603008 /dev/zero | tr '\\0' x; echo END; echo small >&2", 0,
                    &e_));
    out = oc_exec_result_stdout(r, &len);
    ck_assert_uint_eq(len, want);
    ck_assert(oc_exec_result_stdout_truncated(r));
    ck_assert(!oc_exec_result_stderr_truncated(r));
    ck_assert_msg(strspn(out, "x") == want, "stdout is not all x: %zu", strspn(out, "x"));
    ck_assert_str_eq(oc_exec_result_stderr(r, NULL), "small\n");
    ck_assert_int_eq(oc_exec_result_exit_code(r), 0);
    oc_exec_result_free(r);
    EXPECT(shared, "echo next", "next\n", "", 0);
}
END_TEST

START_TEST(test_exit_ends_the_shell)
{
    oc_shell *sh = open_shell(NULL);
    oc_exec_result *r = NULL;

    EXPECT(sh, "echo alive", "alive\n", "", 0);
    FAILS(OC_ESTATE, oc_shell_run(&r, sh, "exit 3", OC_TIMEOUT_DEFAULT, &err), "code 3");
    FAILS(OC_ESTATE, oc_shell_run(&r, sh, "echo again", OC_TIMEOUT_DEFAULT, &err), "code 3");
    ck_assert_ptr_null(r);
    oc_shell_close(sh);
    /* The shared shell is another session: untouched. */
    EXPECT(shared, "echo shared", "shared\n", "", 0);
}
END_TEST

/* TRUE once the sandbox lists session id as no longer running. */
static gboolean session_ended(uint32_t id)
{
    oc_exec_session_list *l = NULL;
    gboolean ended = FALSE;

    OK(oc_exec_list(&l, sb, 0, &e_));
    for (size_t i = 0; i < oc_exec_session_list_count(l); i++) {
        const oc_exec_session_info *si = oc_exec_session_list_at(l, i);
        if (oc_exec_session_info_id(si) == id)
            ended = !oc_exec_session_info_running(si);
    }
    oc_exec_session_list_free(l);
    return ended;
}

/* The kill reaches the guest without anyone waiting for it; the bound only
 * stops a broken kill from hanging the suite. */
static void wait_session_ended(uint32_t id)
{
    for (int i = 0; i < 600 && !session_ended(id); i++)
        g_usleep(100 * 1000);
    ck_assert_msg(session_ended(id), "session %u still runs", id);
}

START_TEST(test_timeout_kills_the_shell)
{
    oc_shell *sh = open_shell(NULL);
    uint32_t id = oc_shell_session_id(sh);
    oc_exec_result *r = NULL;

    FAILS(OC_ETIMEOUT, oc_shell_run(&r, sh, "sleep 30", 1000, &err), "1000 ms");
    ck_assert_ptr_null(r);
    FAILS(OC_ESTATE, oc_shell_run(&r, sh, "echo again", OC_TIMEOUT_DEFAULT, &err), "timed out");
    wait_session_ended(id);
    oc_shell_close(sh);
}
END_TEST

START_TEST(test_close_kills_the_session)
{
    oc_shell *sh = open_shell(NULL);
    uint32_t id = oc_shell_session_id(sh);

    EXPECT(sh, "echo hi", "hi\n", "", 0);
    oc_shell_close(sh);
    wait_session_ended(id);
}
END_TEST

/* A hibernate between commands is invisible to the shell (the next run
 * wakes the sandbox and finds its state); one in the middle of a command
 * ends that shell. */
START_TEST(test_hibernate)
{
    BgRun t = { open_shell(NULL), "touch /tmp/held-started; sleep 600", 0 };
    oc_exec_result *r = NULL;
    g_free(itest_sh(sb, "rm -f /tmp/held-started"));
    GThread *th = g_thread_new("held", bg_run, &t);

    EXPECT(shared, "cd /var; export KEPT=yes; kept() { echo \"kept $KEPT\"; }", "", "", 0);
    wait_for_file("/tmp/held-started");
    OK(oc_sandbox_hibernate(sb, 0, &e_));
    g_thread_join(th);
    ck_assert_msg(t.rc == OC_ESTATE && strstr(t.err, "lost"), "the held run: %d %s", t.rc,
                  t.err);
    FAILS(OC_ESTATE, oc_shell_run(&r, t.sh, "echo again", OC_TIMEOUT_DEFAULT, &err), "lost");
    bg_run_clear(&t);
    /* Closing it does not wake the sandbox. */
    oc_shell_close(t.sh);
    ck_assert_int_eq(itest_state(sb), OC_STATE_HIBERNATED);
    EXPECT(shared, "pwd; kept", "/var\nkept yes\n", "", 0);
    ck_assert_int_eq(itest_state(sb), OC_STATE_RUNNING);
    EXPECT(shared, "cd /; unset KEPT; unset -f kept", "", "", 0);
}
END_TEST

START_TEST(test_options_envs_and_cwd)
{
    const char *envs[] = { "SHELL_TEST=hello world", "OTHER=x=y", NULL };
    oc_shell_options o;
    oc_shell *sh;

    ck_assert_int_eq(oc_shell_options_init(&o, OC_SHELL_OPTIONS_VERSION), OC_OK);
    o.envs = envs;
    o.cwd = "/tmp";
    sh = open_shell(&o);
    EXPECT(sh, "echo \"$SHELL_TEST|$OTHER\"; pwd", "hello world|x=y\n/tmp\n", "", 0);
    oc_shell_close(sh);
    /* The defaults: /root, and no such variable. */
    sh = open_shell(NULL);
    EXPECT(sh, "pwd; echo \"[$SHELL_TEST]\"", "/root\n[]\n", "", 0);
    oc_shell_close(sh);
}
END_TEST

START_TEST(test_invalid_arguments)
{
    oc_exec_result *r = NULL;
    oc_shell *sh = NULL;
    oc_shell_options o = OC_SHELL_OPTIONS_INIT;
    const char *bad_env[] = { "NOEQUALS", NULL };

    FAILS(OC_EINVAL, oc_shell_run(&r, shared, NULL, OC_TIMEOUT_DEFAULT, &err), "command");
    FAILS(OC_EINVAL, oc_shell_run(&r, shared, "", OC_TIMEOUT_DEFAULT, &err), "command");
    FAILS(OC_EINVAL, oc_shell_run(&r, shared, "true", -2, &err), "timeout");
    FAILS(OC_EINVAL, oc_shell_run(NULL, shared, "true", OC_TIMEOUT_DEFAULT, &err), "out");
    FAILS(OC_EINVAL, oc_shell_run(&r, NULL, "true", OC_TIMEOUT_DEFAULT, &err), "sh");
    ck_assert_ptr_null(r);
    FAILS(OC_EINVAL, oc_shell_open(&sh, NULL, NULL, &err), "sb");
    FAILS(OC_EINVAL, oc_shell_open(NULL, sb, NULL, &err), "out");
    o.version = 99;
    FAILS(OC_EINVAL, oc_shell_open(&sh, sb, &o, &err), "version");
    o.version = OC_SHELL_OPTIONS_VERSION;
    o.cwd = "";
    FAILS(OC_EINVAL, oc_shell_open(&sh, sb, &o, &err), "cwd");
    o.cwd = NULL;
    o.envs = bad_env;
    FAILS(OC_EINVAL, oc_shell_open(&sh, sb, &o, &err), "NOEQUALS");
    o.envs = NULL;
    o.cwd = "/no/such/dir";
    oc_error *e = NULL;
    ck_assert_int_eq(oc_shell_open(&sh, sb, &o, &e), OC_ENOTFOUND);
    oc_error_free(e);
    ck_assert_ptr_null(sh);
    ck_assert_int_eq(oc_shell_options_init(&o, 99), OC_EINVAL);
    ck_assert_int_eq(oc_shell_options_init(NULL, OC_SHELL_OPTIONS_VERSION), OC_EINVAL);
    ck_assert_uint_eq(oc_shell_session_id(NULL), 0);
    oc_shell_close(NULL);
    /* None of that disturbed the shell. */
    EXPECT(shared, "echo fine", "fine\n", "", 0);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_cwd_and_exports_persist,
        test_functions_and_aliases_persist,
        test_streams_are_exact,
        test_xtrace_does_not_break_runs,
        test_concurrent_run_is_busy,
        test_stdin_is_dev_null,
        test_syntax_error_keeps_the_shell,
        test_large_output_is_capped,
        test_exit_ends_the_shell,
        test_timeout_kills_the_shell,
        test_close_kills_the_session,
        test_hibernate,
        test_options_envs_and_cwd,
        test_invalid_arguments,
    };
    return itest_main("shell", 900, setup_all, teardown_all, tests, G_N_ELEMENTS(tests));
}
