/* itest.h: what the integration tests share: assertions on library calls
 * and small helpers around real sandboxes. */
#ifndef OC_ITEST_H
#define OC_ITEST_H

#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencomputer.h"

/* Asserts that expr (which may use `e_`, an oc_error *) returns OC_OK. */
#define OK(expr)                                                                   \
    do {                                                                           \
        oc_error *e_ = NULL;                                                       \
        int rc_ = (expr);                                                          \
        ck_assert_msg(rc_ == OC_OK, "%s failed: %d %s", #expr, rc_, oc_error_message(e_)); \
    } while (0)

/* Runs expr (which must use `err`) and checks it fails with code and a
 * message that contains needle. */
#define FAILS(code, expr, needle)                                                  \
    do {                                                                           \
        oc_error *err = NULL;                                                      \
        int rc_ = (expr);                                                          \
        ck_assert_msg(rc_ == (code), "%s: expected %d, got %d (%s)", #expr, (code), \
                      rc_, err ? oc_error_message(err) : "no error");              \
        ck_assert_ptr_nonnull(err);                                                \
        ck_assert_int_eq(oc_error_code_of(err), (code));                           \
        ck_assert_msg(strstr(oc_error_message(err), (needle)) != NULL,             \
                      "message '%s' does not name '%s'", oc_error_message(err), (needle)); \
        oc_error_free(err);                                                        \
    } while (0)

/* Runs cmd through the shell in sb, asserts exit 0, returns its stdout. */
static inline char *itest_sh(oc_sandbox *sb, const char *cmd)
{
    oc_exec_result *r = NULL;
    oc_error *err = NULL;
    size_t len;
    char *out;

    ck_assert_msg(oc_exec_run(&r, sb, cmd, NULL, &err) == OC_OK, "exec '%s': %s", cmd,
                  oc_error_message(err));
    ck_assert_msg(oc_exec_result_exit_code(r) == 0, "'%s' exited %d: %s", cmd,
                  oc_exec_result_exit_code(r), oc_exec_result_stderr(r, NULL));
    out = g_strdup(oc_exec_result_stdout(r, &len));
    oc_exec_result_free(r);
    return out;
}

/* The sandbox a suite shares, in a new context: 256 MiB, the metadata that
 * lets scripts/check sweep it (owner=OWNER), envs (nullable), and an idle
 * timeout of timeout_s (< 0: the default).  Exits if it cannot be made:
 * nothing can be tested then. */
static inline void itest_sandbox_open(oc_context **ctx, oc_sandbox **sb, const char *owner,
                                      const char *const *envs, int64_t timeout_s)
{
    oc_error *err = NULL;
    oc_sandbox_options o = OC_SANDBOX_OPTIONS_INIT;
    char *owner_kv = g_strdup_printf("owner=%s", owner);
    const char *meta[] = { "oc-test=integration", owner_kv, NULL };

    if (oc_context_new(ctx, NULL, &err) < 0) {
        fprintf(stderr, "cannot open a context: %s\n", oc_error_message(err));
        exit(1);
    }
    o.envs = envs;
    o.metadata = meta;
    o.memory_mb = 256;
    if (timeout_s >= 0)
        o.timeout_s = timeout_s;
    if (oc_sandbox_create(sb, *ctx, &o, &err) < 0) {
        fprintf(stderr, "cannot create the test sandbox: %s\n", oc_error_message(err));
        exit(1);
    }
    g_free(owner_kv);
}

/* Kills and releases what itest_sandbox_open() made. */
static inline void itest_sandbox_close(oc_context *ctx, oc_sandbox *sb)
{
    if (sb)
        oc_sandbox_kill(sb, 0, NULL);
    oc_sandbox_unref(sb);
    oc_context_unref(ctx);
}

static inline int itest_state(oc_sandbox *sb)
{
    int state = 0;
    OK(oc_sandbox_status(sb, &state, &e_));
    return state;
}

/* Runs tests in order, in this process (a failed test's sandbox state is
 * what the next one sees: keep them independent of each other's failure),
 * around one setup and teardown; TAP goes to stdout when
 * CK_TAP_LOG_FILE_NAME=- (meson sets it).  Returns main()'s exit code. */
static inline int itest_main(const char *name, int timeout_s, SFun setup, SFun teardown,
                             const TTest *const *tests, size_t n_tests)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("vm");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, timeout_s);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    for (size_t i = 0; i < n_tests; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_SILENT);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif
