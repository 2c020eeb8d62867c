/* test-agent-client.c: the host side of the agent protocol (lib/agent/)
 * against the real guest agent in test mode (`$OC_AGENT_BIN --listen SOCK`),
 * skipped when OC_AGENT_BIN is not set.  What the real agent never does is
 * test-agent-fake.c's. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "agent/agent-private.h"
#include "oc-proto.h"
#include "util/error.h"
#include "agent-test-loop.h"

/* ---- helpers ---- */

static gboolean run(const char *const *argv, const char *command, AgentExecResult *res,
                    GError **err)
{
    AgentExecRequest req = { .argv = argv, .command = command, .max_output = 4 * MIB };
    return agent_exec_run(conn, &req, res, err);
}

static char *out_str(const AgentExecResult *res)
{
    return g_strndup((const char *)res->out->data, res->out->len);
}

static char *err_str(const AgentExecResult *res)
{
    return g_strndup((const char *)res->err->data, res->err->len);
}

typedef struct {
    GRand *rand;
    guint32 seed;
    gsize left;
    gsize total;
} GenSource;

/* Deterministic bytes, in chunks of varying size. */
static gssize gen_source(void *buf, gsize cap, gpointer data, GError **error)
{
    GenSource *g = data;
    gsize want = (gsize)g_rand_int_range(g->rand, 1, (gint32)cap + 1);
    gsize n = MIN(g->left, want);
    for (gsize i = 0; i < n; i++)
        ((guint8 *)buf)[i] = (guint8)((g->total + i) * 2654435761u >> 13 ^ g->seed);
    g->left -= n;
    g->total += n;
    return (gssize)n;
}

static gboolean check_gen(const guint8 *data, gsize len, guint32 seed)
{
    for (gsize i = 0; i < len; i++)
        if (data[i] != (guint8)(i * 2654435761u >> 13 ^ seed))
            return FALSE;
    return TRUE;
}

static gboolean write_bytes(const char *path, gsize len, guint32 seed, GError **err)
{
    GenSource g = { g_rand_new_with_seed(seed), seed, len, 0 };
    guint64 size = 0;
    gboolean ok = agent_file_write(conn, path, 0644, gen_source, &g, &size, err);
    g_rand_free(g.rand);
    if (ok)
        ck_assert_uint_eq(size, len);
    return ok;
}

static GByteArray *read_bytes(const char *path, GError **err)
{
    GByteArray *b = g_byte_array_new();
    guint64 size = 0;
    if (!agent_file_read(conn, path, append_sink, b, &size, err)) {
        g_byte_array_unref(b);
        return NULL;
    }
    ck_assert_uint_eq(size, b->len);
    return b;
}

/* ---- tests against the real agent ---- */

START_TEST(test_handshake)
{
    ck_assert(agent_conn_is_alive(conn));
    ck_assert_ptr_nonnull(agent_conn_agent_version(conn));
    ck_assert(g_str_has_prefix(agent_conn_agent_version(conn), "oc-agent"));
    ck_assert_uint_eq(agent_conn_busy(conn), 0);
}
END_TEST

START_TEST(test_exec_argv_and_shell)
{
    AgentExecResult res;
    GError *err = NULL;
    const char *argv[] = { "/bin/echo", "hello", "world", NULL };

    ck_assert_msg(run(argv, NULL, &res, &err), "%s", err ? err->message : "");
    g_autofree char *o = out_str(&res);
    ck_assert_str_eq(o, "hello world\n");
    ck_assert_uint_eq(res.err->len, 0);
    ck_assert_int_eq(res.exit_code, 0);
    ck_assert_int_eq(res.signal, 0);
    ck_assert(!res.timed_out && !res.out_truncated && !res.err_truncated);
    agent_exec_result_clear(&res);

    ck_assert_msg(run(NULL, "echo out; echo err >&2; exit 3", &res, &err), "%s",
                  err ? err->message : "");
    g_autofree char *o2 = out_str(&res);
    g_autofree char *e2 = err_str(&res);
    ck_assert_str_eq(o2, "out\n");
    ck_assert_str_eq(e2, "err\n");
    ck_assert_int_eq(res.exit_code, 3);
    agent_exec_result_clear(&res);

    ck_assert(run(NULL, "kill -9 $$", &res, &err));
    ck_assert_int_eq(res.signal, 9);
    ck_assert_int_eq(res.exit_code, 128 + 9);
    agent_exec_result_clear(&res);
}
END_TEST

START_TEST(test_exec_env_cwd)
{
    AgentExecResult res;
    GError *err = NULL;
    const char *env[] = { "FOO=bar baz", "PATH=/usr/bin:/bin", NULL };
    AgentExecRequest req = { .command = "echo \"$FOO\"; pwd; env | wc -l", .env = env,
                             .cwd = tmpdir, .max_output = MIB };

    ck_assert_msg(agent_exec_run(conn, &req, &res, &err), "%s", err ? err->message : "");
    g_autofree char *o = out_str(&res);
    g_autofree char *want = g_strdup_printf("bar baz\n%s\n", tmpdir);
    ck_assert_msg(g_str_has_prefix(o, want), "got %s", o);
    agent_exec_result_clear(&res);

    g_autofree char *missing = g_build_filename(tmpdir, "nope", NULL);
    req.cwd = missing;
    ck_assert(!agent_exec_run(conn, &req, &res, &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    ck_assert_msg(strstr(err->message, missing) != NULL, "%s", err->message);
    g_clear_error(&err);
}
END_TEST

START_TEST(test_exec_not_found)
{
    AgentExecResult res;
    GError *err = NULL;
    const char *argv[] = { "/no/such/program", NULL };

    ck_assert_msg(run(argv, NULL, &res, &err), "%s", err ? err->message : "");
    ck_assert_int_eq(res.exit_code, 127);
    ck_assert_uint_gt(res.err->len, 0);
    agent_exec_result_clear(&res);
}
END_TEST

START_TEST(test_exec_timeout)
{
    AgentExecResult res;
    GError *err = NULL;
    AgentExecRequest req = { .command = "echo started; sleep 20", .timeout_ms = 300,
                             .max_output = MIB };
    gint64 t0 = g_get_monotonic_time();

    ck_assert_msg(agent_exec_run(conn, &req, &res, &err), "%s", err ? err->message : "");
    ck_assert(res.timed_out);
    ck_assert_int_eq(res.signal, 9);
    ck_assert_uint_lt(g_get_monotonic_time() - t0, 5 * G_TIME_SPAN_SECOND);
    g_autofree char *o = out_str(&res);
    ck_assert_str_eq(o, "started\n");
    agent_exec_result_clear(&res);
}
END_TEST

START_TEST(test_exec_stdin)
{
    AgentExecResult res;
    GError *err = NULL;
    const char *argv[] = { "/bin/cat", NULL };
    AgentExecRequest req = { .argv = argv, .stdin_data = "to cat\n", .stdin_len = 7,
                             .max_output = MIB };

    ck_assert_msg(agent_exec_run(conn, &req, &res, &err), "%s", err ? err->message : "");
    g_autofree char *o = out_str(&res);
    ck_assert_str_eq(o, "to cat\n");
    agent_exec_result_clear(&res);

    /* More stdin than the initial window: flow control both ways. */
    gsize n = 10 * MIB + 123;
    guint8 *in = g_malloc(n);
    for (gsize i = 0; i < n; i++)
        in[i] = (guint8)(i * 7 + (i >> 12));
    req.stdin_data = in;
    req.stdin_len = n;
    req.max_output = 16 * MIB;
    ck_assert_msg(agent_exec_run(conn, &req, &res, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(res.out->len, n);
    ck_assert(memcmp(res.out->data, in, n) == 0);
    agent_exec_result_clear(&res);

    /* A process that never reads its stdin. */
    req.argv = NULL;
    req.command = "exit 4";
    ck_assert_msg(agent_exec_run(conn, &req, &res, &err), "%s", err ? err->message : "");
    ck_assert_int_eq(res.exit_code, 4);
    agent_exec_result_clear(&res);
    g_free(in);
}
END_TEST

START_TEST(test_exec_output_cap)
{
    AgentExecResult res;
    GError *err = NULL;
    AgentExecRequest req = { .command = "head -c 20971520 /dev/zero; echo done >&2",
                             .max_output = MIB };

    ck_assert_msg(agent_exec_run(conn, &req, &res, &err), "%s", err ? err->message : "");
    ck_assert_int_eq(res.exit_code, 0);
    ck_assert_uint_eq(res.out->len, MIB);
    ck_assert(res.out_truncated);
    ck_assert(!res.err_truncated);
    g_autofree char *e = err_str(&res);
    ck_assert_str_eq(e, "done\n");
    agent_exec_result_clear(&res);
}
END_TEST

START_TEST(test_exec_big_output)
{
    AgentExecResult res;
    GError *err = NULL;
    const gsize n = 40 * MIB;
    AgentExecRequest req = { .command = "yes abcdefghijklmno | head -c 41943040",
                             .max_output = 64 * MIB };

    ck_assert_msg(agent_exec_run(conn, &req, &res, &err), "%s", err ? err->message : "");
    ck_assert_int_eq(res.exit_code, 0);
    ck_assert(!res.out_truncated);
    ck_assert_uint_eq(res.out->len, n);
    gsize bad = n;
    for (gsize i = 0; i < n && bad == n; i += 16)
        if (memcmp(res.out->data + i, "abcdefghijklmno\n", 16) != 0)
            bad = i;
    ck_assert_msg(bad == n, "stdout differs at byte %zu", bad);
    agent_exec_result_clear(&res);
}
END_TEST

START_TEST(test_file_roundtrip)
{
    GError *err = NULL;
    g_autofree char *path = g_build_filename(tmpdir, "big.bin", NULL);
    const gsize n = 16 * MIB + 5;

    ck_assert_msg(write_bytes(path, n, 42, &err), "%s", err ? err->message : "");
    GByteArray *b = read_bytes(path, &err);
    ck_assert_msg(b != NULL, "%s", err ? err->message : "");
    ck_assert_uint_eq(b->len, n);
    ck_assert(check_gen(b->data, b->len, 42));
    g_byte_array_unref(b);

    /* Overwrite with less: replaced, not patched. */
    ck_assert(write_bytes(path, 10, 7, &err));
    b = read_bytes(path, &err);
    ck_assert_uint_eq(b->len, 10);
    ck_assert(check_gen(b->data, b->len, 7));
    g_byte_array_unref(b);

    /* An empty file. */
    ck_assert(write_bytes(path, 0, 7, &err));
    b = read_bytes(path, &err);
    ck_assert_uint_eq(b->len, 0);
    g_byte_array_unref(b);

    /* The whole-file form: same bytes, and a cap that refuses larger files. */
    ck_assert(write_bytes(path, 6 * MIB + 3, 9, &err));
    b = NULL;
    ck_assert_msg(agent_file_read_all(conn, path, 8 * MIB, &b, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(b->len, 6 * MIB + 3);
    ck_assert(check_gen(b->data, b->len, 9));
    g_byte_array_unref(b);
    b = NULL;
    ck_assert(!agent_file_read_all(conn, path, MIB, &b, &err));
    ck_assert_ptr_null(b);
    ck_assert_int_eq(err->code, OC_ELIMIT);
    ck_assert_ptr_nonnull(strstr(err->message, "read it to a file descriptor"));
    g_clear_error(&err);
    g_autofree char *missing = g_build_filename(tmpdir, "nope", NULL);
    ck_assert(!agent_file_read_all(conn, missing, MIB, &b, &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    g_clear_error(&err);
}
END_TEST

START_TEST(test_file_errors)
{
    GError *err = NULL;
    g_autofree char *missing = g_build_filename(tmpdir, "nope", NULL);
    g_autofree char *deep = g_build_filename(tmpdir, "a", "b", "c", NULL);
    g_autofree char *deep_dir = g_build_filename(tmpdir, "a", "b", NULL);

    ck_assert_ptr_null(read_bytes(missing, &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    g_autofree char *want = g_strdup_printf("cannot read %s: no such file or directory", missing);
    ck_assert_str_eq(err->message, want);
    g_clear_error(&err);

    ck_assert(!write_bytes(deep, 6 * MIB, 1, &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    g_autofree char *want2 = g_strdup_printf("cannot write %s: directory %s does not exist", deep,
                                             deep_dir);
    ck_assert_str_eq(err->message, want2);
    g_clear_error(&err);

    /* Reading a directory. */
    ck_assert_ptr_null(read_bytes(tmpdir, &err));
    ck_assert_int_eq(err->code, OC_EINVAL);
    g_clear_error(&err);

    /* The connection is still fine. */
    ck_assert(agent_conn_is_alive(conn));
    ck_assert_uint_eq(agent_conn_busy(conn), 0);
}
END_TEST

static gboolean failing_sink(const void *data, gsize len, gpointer user_data, GError **error)
{
    g_set_error_literal(error, OC_ERROR, OC_EIO, "disk full");
    return FALSE;
}

static gssize failing_source(void *buf, gsize cap, gpointer user_data, GError **error)
{
    int *calls = user_data;
    if ((*calls)++ < 3) {
        memset(buf, 'x', cap);
        return (gssize)cap;
    }
    g_set_error_literal(error, OC_ERROR, OC_EIO, "source broke");
    return -1;
}

START_TEST(test_file_cancel)
{
    GError *err = NULL;
    g_autofree char *path = g_build_filename(tmpdir, "f", NULL);
    int calls = 0;

    ck_assert(write_bytes(path, 8 * MIB, 3, &err));
    ck_assert(!agent_file_read(conn, path, failing_sink, NULL, NULL, &err));
    ck_assert_str_eq(err->message, "disk full");
    g_clear_error(&err);

    ck_assert(!agent_file_write(conn, path, 0644, failing_source, &calls, NULL, &err));
    ck_assert_str_eq(err->message, "source broke");
    g_clear_error(&err);

    /* The cancelled write left the old contents alone. */
    GByteArray *b = read_bytes(path, &err);
    ck_assert_msg(b != NULL, "%s", err ? err->message : "");
    ck_assert_uint_eq(b->len, 8 * MIB);
    ck_assert(check_gen(b->data, b->len, 3));
    g_byte_array_unref(b);
}
END_TEST

static AgentFileInfo *find_entry(GPtrArray *list, const char *name)
{
    for (guint i = 0; i < list->len; i++) {
        AgentFileInfo *fi = list->pdata[i];
        if (strcmp(fi->name, name) == 0)
            return fi;
    }
    return NULL;
}

START_TEST(test_file_management)
{
    GError *err = NULL;
    AgentFileInfo *fi = NULL;
    GPtrArray *list = NULL;
    g_autofree char *d = g_build_filename(tmpdir, "x", "y", "z", NULL);
    g_autofree char *x = g_build_filename(tmpdir, "x", NULL);
    g_autofree char *f = g_build_filename(d, "file", NULL);
    g_autofree char *f2 = g_build_filename(d, "renamed", NULL);
    g_autofree char *link = g_build_filename(d, "link", NULL);

    ck_assert(!agent_file_mkdir(conn, d, 0755, FALSE, &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    g_clear_error(&err);
    ck_assert_msg(agent_file_mkdir(conn, d, 0700, TRUE, &err), "%s", err ? err->message : "");
    ck_assert(agent_file_mkdir(conn, d, 0700, TRUE, &err));
    ck_assert(!agent_file_mkdir(conn, d, 0700, FALSE, &err));
    ck_assert_int_eq(err->code, OC_EEXISTS);
    g_clear_error(&err);

    ck_assert(write_bytes(f, 1234, 9, &err));
    ck_assert_int_eq(symlink("file", link), 0);

    ck_assert_msg(agent_file_stat(conn, f, &fi, &err), "%s", err ? err->message : "");
    ck_assert_str_eq(fi->name, "file");
    ck_assert_uint_eq(fi->type, OC_FTYPE_FILE);
    ck_assert_uint_eq(fi->size, 1234);
    ck_assert_uint_eq(fi->mode & 0777, 0644);
    ck_assert_int_gt(fi->mtime_ns, 0);
    agent_file_info_free(fi);
    ck_assert(agent_file_stat(conn, d, &fi, &err));
    ck_assert_uint_eq(fi->type, OC_FTYPE_DIR);
    ck_assert_uint_eq(fi->mode & 0777, 0700);
    agent_file_info_free(fi);
    ck_assert(agent_file_stat(conn, link, &fi, &err));
    ck_assert_uint_eq(fi->type, OC_FTYPE_SYMLINK);
    ck_assert_str_eq(fi->link_target, "file");
    agent_file_info_free(fi);

    ck_assert_msg(agent_file_list(conn, d, &list, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(list->len, 2);
    ck_assert_ptr_nonnull(find_entry(list, "file"));
    ck_assert_uint_eq(find_entry(list, "file")->size, 1234);
    ck_assert_uint_eq(find_entry(list, "link")->type, OC_FTYPE_SYMLINK);
    g_ptr_array_unref(list);

    /* A listing larger than one frame and than the window. */
    for (int i = 0; i < 3000; i++) {
        g_autofree char *name = g_strdup_printf("%s/%0200d", x, i);
        g_file_set_contents(name, "", 0, NULL);
    }
    ck_assert(agent_file_list(conn, x, &list, &err));
    ck_assert_uint_eq(list->len, 3001);
    g_ptr_array_unref(list);

    ck_assert(agent_file_rename(conn, f, f2, &err));
    ck_assert(!agent_file_stat(conn, f, &fi, &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    g_clear_error(&err);
    ck_assert(agent_file_stat(conn, f2, &fi, &err));
    agent_file_info_free(fi);
    ck_assert(!agent_file_rename(conn, f, f2, &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    g_clear_error(&err);

    ck_assert(!agent_file_remove(conn, x, FALSE, &err));
    ck_assert_int_eq(err->code, OC_EINVAL);
    g_clear_error(&err);
    ck_assert_msg(agent_file_remove(conn, x, TRUE, &err), "%s", err ? err->message : "");
    ck_assert(!g_file_test(x, G_FILE_TEST_EXISTS));
    ck_assert(!agent_file_remove(conn, x, TRUE, &err));
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    g_clear_error(&err);
}
END_TEST

static gpointer worker(gpointer data)
{
    int n = GPOINTER_TO_INT(data);
    GError *err = NULL;
    g_autofree char *path = g_strdup_printf("%s/w%d", tmpdir, n);
    g_autofree char *cmd = g_strdup_printf("echo worker %d; head -c 3000000 /dev/zero", n);
    g_autofree char *want = g_strdup_printf("worker %d\n", n);

    for (int round = 0; round < 5; round++) {
        AgentExecResult res;
        AgentExecRequest req = { .command = cmd, .max_output = 8 * MIB };
        if (!agent_exec_run(conn, &req, &res, &err))
            return g_strdup(err->message);
        gboolean good = res.out->len == strlen(want) + 3000000 &&
                        memcmp(res.out->data, want, strlen(want)) == 0;
        agent_exec_result_clear(&res);
        if (!good)
            return g_strdup("bad exec output");
        if (!write_bytes(path, 5 * MIB + n, n + round, &err))
            return g_strdup(err->message);
        GByteArray *b = read_bytes(path, &err);
        if (b == NULL)
            return g_strdup(err->message);
        good = b->len == 5 * MIB + n && check_gen(b->data, b->len, n + round);
        g_byte_array_unref(b);
        if (!good)
            return g_strdup("bad file contents");
        AgentFileInfo *fi;
        if (!agent_file_stat(conn, path, &fi, &err))
            return g_strdup(err->message);
        agent_file_info_free(fi);
    }
    return NULL;
}

START_TEST(test_concurrency)
{
    GThread *t[4];

    for (int i = 0; i < 4; i++)
        t[i] = g_thread_new("worker", worker, GINT_TO_POINTER(i));
    for (int i = 0; i < 4; i++) {
        char *fail = g_thread_join(t[i]);
        ck_assert_msg(fail == NULL, "worker %d: %s", i, fail);
    }
    ck_assert_uint_eq(agent_conn_busy(conn), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agent-client");

    if (!g_getenv("OC_AGENT_BIN") || !*g_getenv("OC_AGENT_BIN")) {
        printf("1..0 # SKIP OC_AGENT_BIN is not set: no oc-agent to test against\n");
        return EXIT_SUCCESS;
    }
    TCase *real = tcase_create("agent");
    tcase_set_timeout(real, 60);
    tcase_add_checked_fixture(real, agent_setup, agent_teardown);
    tcase_add_test(real, test_handshake);
    tcase_add_test(real, test_exec_argv_and_shell);
    tcase_add_test(real, test_exec_env_cwd);
    tcase_add_test(real, test_exec_not_found);
    tcase_add_test(real, test_exec_timeout);
    tcase_add_test(real, test_exec_stdin);
    tcase_add_test(real, test_exec_output_cap);
    tcase_add_test(real, test_exec_big_output);
    tcase_add_test(real, test_file_roundtrip);
    tcase_add_test(real, test_file_errors);
    tcase_add_test(real, test_file_cancel);
    tcase_add_test(real, test_file_management);
    tcase_add_test(real, test_concurrency);
    suite_add_tcase(s, real);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
