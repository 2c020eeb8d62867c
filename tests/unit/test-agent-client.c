/* test-agent-client.c: the host side of the agent protocol (lib/agent/).
 *
 * Two groups:
 * - against the real guest agent in test mode (`$OC_AGENT_BIN --listen SOCK`),
 *   skipped when OC_AGENT_BIN is not set;
 * - against a scripted fake agent in a thread of this process, for what the
 *   real one never does: stale bytes before the handshake, malformed frames,
 *   credit overruns, a guest that never answers.
 */
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

#define MIB (1024u * 1024u)

/* ---- fixture: event thread, agent process, connection ---- */

static GMainContext *ctx;
static GMainLoop *loop;
static GThread *loop_thread;
static char *tmpdir;
static char *sock_path;
static GPid agent_pid;
static AgentConn *conn;

static gpointer loop_main(gpointer data)
{
    g_main_context_push_thread_default(ctx);
    g_main_loop_run(loop);
    g_main_context_pop_thread_default(ctx);
    return NULL;
}

static void start_event_thread(void)
{
    ctx = g_main_context_new();
    loop = g_main_loop_new(ctx, FALSE);
    loop_thread = g_thread_new("event", loop_main, NULL);
    tmpdir = g_dir_make_tmp("oc-agent-test-XXXXXX", NULL);
    ck_assert_ptr_nonnull(tmpdir);
    sock_path = g_build_filename(tmpdir, "agent.sock", NULL);
}

static gboolean quit_cb(gpointer data)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static void stop_event_thread(void)
{
    g_main_context_invoke(ctx, quit_cb, NULL);
    g_thread_join(loop_thread);
    g_main_loop_unref(loop);
    g_main_context_unref(ctx);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", tmpdir);
    g_free(tmpdir);
    g_free(sock_path);
}

static void child_setup(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void start_agent(void)
{
    const char *bin = g_getenv("OC_AGENT_BIN");
    char *argv[] = { (char *)bin, "--listen", sock_path, NULL };
    GError *err = NULL;

    ck_assert_msg(g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL,
                                &agent_pid, &err),
                  "cannot start %s: %s", bin, err ? err->message : "?");
}

static void kill_agent(void)
{
    if (agent_pid > 0) {
        kill(agent_pid, SIGKILL);
        waitpid(agent_pid, NULL, 0);
        agent_pid = 0;
    }
}

static void agent_setup(void)
{
    GError *err = NULL;

    start_event_thread();
    start_agent();
    /* connect() retries until the agent has created its socket. */
    conn = agent_conn_open(sock_path, ctx, 10000, &err);
    ck_assert_msg(conn != NULL, "connect: %s", err ? err->message : "?");
}

static void agent_teardown(void)
{
    agent_conn_close(conn);
    conn = NULL;
    kill_agent();
    stop_event_thread();
}

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

static gboolean append_sink(const void *data, gsize len, gpointer user_data, GError **error)
{
    g_byte_array_append(user_data, data, (guint)len);
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

/* ---- attaching to sessions ---- */

static guint32 start_session(const char *command, const char *const *argv)
{
    AgentExecRequest req = { .argv = argv, .command = command };
    GError *err = NULL;
    guint32 id = 0, pid = 0;

    ck_assert_msg(agent_session_start(conn, &req, &id, &pid, &err), "start: %s",
                  err ? err->message : "?");
    ck_assert_uint_gt(id, 0);
    return id;
}

static AgentAttach *attach(guint32 id)
{
    GError *err = NULL;
    AgentAttach *a = agent_attach_open(conn, id, 10000, &err);
    ck_assert_msg(a != NULL, "attach %u: %s", id, err ? err->message : "?");
    return a;
}

/* What an attach delivered, pulled until END, or until an event leaves
 * stdout ending with until (NULL: END only). */
typedef struct {
    GString *out, *err;
    int replay_ends;
    gsize out_at_replay_end;
    guint64 skipped; /* stdout bytes skipped, as announced */
    gboolean ended;
} Collected;

static void collect(AgentAttach *a, Collected *c, const char *until, int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;

    if (!c->out) {
        c->out = g_string_new(NULL);
        c->err = g_string_new(NULL);
    }
    /* At least one event, unless ended. */
    while (!c->ended) {
        AgentEvent *ev = agent_attach_next(a, deadline);
        ck_assert_msg(ev != NULL, "no event in %d s (%zu bytes of stdout so far)", timeout_s,
                      c->out->len);
        if (ev->kind == AGENT_EVENT_OUTPUT) {
            if (ev->chan == OC_CHAN_OUT)
                c->skipped += ev->skipped;
            g_string_append_len(ev->chan == OC_CHAN_OUT ? c->out : c->err,
                                (const char *)ev->data, (gssize)ev->len);
        } else if (ev->kind == AGENT_EVENT_REPLAY_END) {
            c->out_at_replay_end = c->out->len;
            c->replay_ends++;
        } else {
            c->ended = TRUE;
        }
        agent_attach_event_free(a, ev);
        if (until && g_str_has_suffix(c->out->str, until))
            break;
    }
}

static void collected_clear(Collected *c)
{
    g_string_free(c->out, TRUE);
    g_string_free(c->err, TRUE);
}

static AgentAttachOutcome outcome(AgentAttach *a, int *code)
{
    AgentExecResult res;
    GError *err = NULL;
    AgentAttachOutcome o = agent_attach_outcome(a, &res, &err);
    ck_assert_msg(o != AGENT_ATTACH_FAILED, "attach failed: %s", err ? err->message : "?");
    *code = res.exit_code;
    return o;
}

/* Checks that text is the lines first..last, each once, in order. */
static void check_lines(const char *text, int first, int last)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    int n = 0;
    for (; lines[n] && *lines[n]; n++)
        ck_assert_msg(atoi(lines[n]) == first + n, "line %d is '%s', expected %d", n, lines[n],
                      first + n);
    ck_assert_int_eq(first + n - 1, last);
}

START_TEST(test_attach_streamed_order)
{
    guint32 id = start_session("i=1; while [ $i -le 1000 ]; do echo $i; i=$((i+1)); "
                               "sleep 0.001; done; echo bye >&2; exit 7", NULL);
    AgentAttach *a = attach(id);
    Collected c = { 0 };
    int code = -1;

    collect(a, &c, NULL, 60);
    check_lines(c.out->str, 1, 1000);
    ck_assert_str_eq(c.err->str, "bye\n");
    ck_assert_int_eq(c.replay_ends, 1);
    ck_assert_int_eq(outcome(a, &code), AGENT_ATTACH_EXITED);
    ck_assert_int_eq(code, 7);
    collected_clear(&c);
    agent_attach_free(a);
}
END_TEST

START_TEST(test_attach_stdin_roundtrip)
{
    static const char *const cat[] = { "cat", NULL };
    AgentAttach *a = attach(start_session(NULL, cat));
    g_autoptr(GByteArray) in = g_byte_array_sized_new(MIB);
    GRand *rand = g_rand_new_with_seed(42);
    GError *err = NULL;
    Collected c = { 0 };
    int code = -1;

    for (gsize i = 0; i < MIB; i++) {
        guint8 b = (guint8)g_rand_int(rand);
        g_byte_array_append(in, &b, 1);
    }
    g_rand_free(rand);
    /* In uneven pieces, within the guest's credit, so one thread can write
     * everything before it reads. */
    for (gsize off = 0, n; off < in->len; off += n) {
        n = MIN(in->len - off, 1 + off % 70001);
        ck_assert_msg(agent_attach_write(a, in->data + off, n, 0, &err), "write: %s",
                      err ? err->message : "?");
    }
    ck_assert(agent_attach_close_stdin(a, &err));
    collect(a, &c, NULL, 60);
    ck_assert_uint_eq(c.out->len, in->len);
    ck_assert(memcmp(c.out->str, in->data, in->len) == 0);
    ck_assert_int_eq(outcome(a, &code), AGENT_ATTACH_EXITED);
    ck_assert_int_eq(code, 0);
    /* The attach is over: a write now is a clear error, not a hang. */
    ck_assert(!agent_attach_write(a, "x", 1, 0, &err));
    ck_assert_int_eq(err->code, OC_ESTATE);
    g_clear_error(&err);
    collected_clear(&c);
    agent_attach_free(a);
}
END_TEST

START_TEST(test_attach_reattach_seam)
{
    guint32 id = start_session("i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done", NULL);
    AgentAttach *a = attach(id);
    Collected c = { 0 }, d = { 0 };
    GError *err = NULL;
    int code = -1;

    collect(a, &c, "\n5\n", 30);
    agent_attach_detach(a);
    collect(a, &c, NULL, 30);
    ck_assert_int_eq(outcome(a, &code), AGENT_ATTACH_DETACHED);
    agent_attach_free(a);
    g_usleep(300 * 1000); /* lines go on meanwhile */

    a = attach(id);
    collect(a, &d, "\n", 30); /* at least one whole line */
    while (d.replay_ends == 0 || d.out->len < d.out_at_replay_end + 12)
        collect(a, &d, "\n", 30); /* and a few live ones after the seam */
    ck_assert_int_eq(d.replay_ends, 1);
    /* The scrollback holds everything from line 1 (the ring is far from
     * full), and live lines follow without a gap or a repeat. */
    g_auto(GStrv) lines = g_strsplit(d.out->str, "\n", -1);
    int last = atoi(lines[g_strv_length(lines) - 2]);
    ck_assert_int_gt(last, 10);
    check_lines(d.out->str, 1, last);
    ck_assert(agent_attach_signal(a, SIGTERM, &err));
    collect(a, &d, NULL, 30);
    ck_assert_int_eq(outcome(a, &code), AGENT_ATTACH_EXITED);
    ck_assert_int_eq(code, 128 + SIGTERM);
    collected_clear(&c);
    collected_clear(&d);
    agent_attach_free(a);
}
END_TEST

START_TEST(test_attach_errors)
{
    GError *err = NULL;
    static const char *const sleep_argv[] = { "sleep", "30", NULL };

    ck_assert(agent_attach_open(conn, 999999, 10000, &err) == NULL);
    ck_assert_int_eq(err->code, OC_ENOTFOUND);
    ck_assert_msg(strstr(err->message, "no such session"), "%s", err->message);
    g_clear_error(&err);

    AgentAttach *a = attach(start_session(NULL, sleep_argv));
    ck_assert(!agent_attach_is_pty(a));
    ck_assert(!agent_attach_signal(a, 0, &err));
    ck_assert_int_eq(err->code, OC_EINVAL);
    g_clear_error(&err);
    /* Freed while attached: detaches, and the process goes on. */
    agent_attach_free(a);
    g_autoptr(GPtrArray) list = NULL;
    ck_assert(agent_session_list(conn, &list, &err));
    AgentSessionInfo *si = list->pdata[list->len - 1];
    ck_assert(si->running);
    ck_assert(agent_session_kill(conn, si->id, 0, &err));
}
END_TEST

START_TEST(test_attach_slow_consumer)
{
    /* A consumer that does not pull holds at most the credit: the event
     * thread stops taking output for it, and the guest's ring drops. */
    AgentAttach *a = attach(start_session("exec head -c 64M /dev/zero", NULL));
    Collected c = { 0 };
    int code = -1;

    g_usleep(1500 * 1000);
    g_mutex_lock(&conn->lock);
    gsize held = 0;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, conn->streams);
    while (g_hash_table_iter_next(&it, NULL, &v))
        for (GList *l = ((AgentStream *)v)->events.head; l; l = l->next)
            held += ((AgentEvent *)l->data)->len;
    g_mutex_unlock(&conn->lock);
    ck_assert_uint_gt(held, 0);
    ck_assert_uint_le(held, 2 * OC_PROTO_INITIAL_WINDOW);
    collect(a, &c, NULL, 60);
    /* What came is what the credit let through and then the ring; the rest
     * was skipped, and said so. */
    ck_assert_uint_lt(c.out->len, 64 * MIB);
    ck_assert_uint_eq(c.out->len + c.skipped, 64 * MIB);
    ck_assert_int_eq(outcome(a, &code), AGENT_ATTACH_EXITED);
    ck_assert_int_eq(code, 0);
    collected_clear(&c);
    agent_attach_free(a);
}
END_TEST

static gssize endless_source(void *buf, gsize cap, gpointer user_data, GError **error)
{
    memset(buf, 'e', cap);
    return (gssize)cap;
}

static gpointer endless_writer(gpointer data)
{
    GError *err = NULL;
    g_autofree char *path = g_build_filename(tmpdir, "endless", NULL);
    if (agent_file_write(conn, path, 0644, endless_source, NULL, NULL, &err))
        return GINT_TO_POINTER(1);
    int code = err->code;
    g_error_free(err);
    return GINT_TO_POINTER(code);
}

static gpointer sleeper(gpointer data)
{
    GError *err = NULL;
    AgentExecResult res;
    AgentExecRequest req = { .command = "sleep 30", .max_output = MIB };
    if (agent_exec_run(conn, &req, &res, &err)) {
        agent_exec_result_clear(&res);
        return GINT_TO_POINTER(1);
    }
    int code = err->code;
    ck_assert_msg(strstr(err->message, "lost the connection to the sandbox agent"), "%s",
                  err->message);
    g_error_free(err);
    return GINT_TO_POINTER(code);
}

START_TEST(test_agent_killed)
{
    GThread *a = g_thread_new("sleeper", sleeper, NULL);
    GThread *b = g_thread_new("writer", endless_writer, NULL);
    gint64 t0 = g_get_monotonic_time();
    GError *err = NULL;

    g_usleep(500 * 1000);
    ck_assert_uint_eq(agent_conn_busy(conn), 2);
    kill_agent();
    ck_assert_int_eq(GPOINTER_TO_INT(g_thread_join(a)), OC_EAGENT);
    ck_assert_int_eq(GPOINTER_TO_INT(g_thread_join(b)), OC_EAGENT);
    ck_assert_uint_lt(g_get_monotonic_time() - t0, 5 * G_TIME_SPAN_SECOND);
    ck_assert(!agent_conn_is_alive(conn));
    /* Later calls fail at once. */
    ck_assert(!agent_file_stat(conn, "/", &(AgentFileInfo *){ NULL }, &err));
    ck_assert_int_eq(err->code, OC_EAGENT);
    g_clear_error(&err);
}
END_TEST

/* ---- connecting to nothing ---- */

START_TEST(test_connect_nobody)
{
    GError *err = NULL;
    gint64 t0;

    start_event_thread();
    /* No socket at all. */
    t0 = g_get_monotonic_time();
    ck_assert_ptr_null(agent_conn_open(sock_path, ctx, 700, &err));
    ck_assert_int_eq(err->code, OC_ETIMEOUT);
    gint64 dt = g_get_monotonic_time() - t0;
    ck_assert_int_ge(dt, 650 * 1000);
    ck_assert_int_lt(dt, 1500 * 1000);
    g_clear_error(&err);

    /* A socket that accepts (in the backlog) but never answers, like QEMU
     * while the guest boots. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    g_strlcpy(addr.sun_path, sock_path, sizeof addr.sun_path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    t0 = g_get_monotonic_time();
    ck_assert_ptr_null(agent_conn_open(sock_path, ctx, 1200, &err));
    ck_assert_int_eq(err->code, OC_ETIMEOUT);
    dt = g_get_monotonic_time() - t0;
    ck_assert_int_ge(dt, 1150 * 1000);
    ck_assert_int_lt(dt, 2000 * 1000);
    g_clear_error(&err);
    close(fd);
    stop_event_thread();
}
END_TEST

/* ---- a scripted fake agent ---- */

typedef enum {
    FAKE_STALE_THEN_OK,  /* junk and a foreign HELLO_ACK first, then a good stat */
    FAKE_BAD_MAGIC,
    FAKE_OVERSIZE,
    FAKE_UNKNOWN_TYPE,
    FAKE_OVER_CREDIT,
    FAKE_HANGUP,
    FAKE_SILENT,         /* never answers OPEN; expects CANCEL */
    FAKE_HALF,           /* half a RESULT, then nothing; expects CANCEL */
    FAKE_STRAY,          /* frames for a stream it was not asked for; expects CANCEL */
    FAKE_DEAF,           /* reads nothing after the first OPEN for 3 s */
    FAKE_UNSUPPORTED,    /* answers HELLO with ERROR UNSUPPORTED */
    FAKE_BAD_VERSION,
} FakeScript;

typedef struct {
    FakeScript script;
    int listen_fd;
    gboolean got_cancel;
    GThread *thread;
} Fake;

static gboolean read_full(int fd, void *buf, gsize len)
{
    gsize got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return FALSE;
        got += (gsize)n;
    }
    return TRUE;
}

static void write_full(int fd, const void *buf, gsize len)
{
    gsize done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n <= 0)
            return;
        done += (gsize)n;
    }
}

static gboolean fake_read(int fd, oc_proto_header *h, guint8 *payload)
{
    guint8 hdr[OC_PROTO_HEADER_SIZE];
    return read_full(fd, hdr, sizeof hdr) && oc_proto_header_decode(h, hdr) == 0 &&
           read_full(fd, payload, h->length);
}

static void fake_send(int fd, guint8 type, guint8 chan, guint32 stream, const void *p, guint32 len)
{
    guint8 *buf = g_malloc(OC_PROTO_HEADER_SIZE + len);
    oc_proto_frame(buf, type, chan, stream, p, len);
    write_full(fd, buf, OC_PROTO_HEADER_SIZE + len);
    g_free(buf);
}

static void fake_ack(int fd, guint64 nonce, guint32 version)
{
    guint8 p[128];
    oc_proto_writer w;
    oc_proto_writer_init(&w, p, sizeof p);
    oc_proto_put_u32(&w, OC_F_VERSION, version);
    oc_proto_put_u64(&w, OC_F_NONCE, nonce);
    oc_proto_put_str(&w, OC_F_AGENT, "fake 1");
    fake_send(fd, OC_T_HELLO_ACK, 0, 0, p, (guint32)w.len);
}

static gpointer fake_main(gpointer data)
{
    Fake *fk = data;
    guint8 *payload = g_malloc(OC_PROTO_MAX_PAYLOAD);
    oc_proto_header h;
    oc_proto_reader r;
    oc_proto_field f;
    guint64 nonce = 0;
    guint8 p[256];
    oc_proto_writer w;

    int fd = accept(fk->listen_fd, NULL, NULL);
    if (fd < 0 || !fake_read(fd, &h, payload) || h.type != OC_T_HELLO)
        goto out;
    oc_proto_reader_init(&r, payload, h.length);
    while (oc_proto_next(&r, &f) == 1)
        if (f.tag == OC_F_NONCE)
            oc_proto_field_u64(&f, &nonce);

    if (fk->script == FAKE_UNSUPPORTED) {
        oc_proto_writer_init(&w, p, sizeof p);
        oc_proto_put_u32(&w, OC_F_ERRCODE, OC_PERR_UNSUPPORTED);
        oc_proto_put_str(&w, OC_F_MESSAGE, "no shared version");
        fake_send(fd, OC_T_ERROR, 0, 0, p, (guint32)w.len);
        goto drain;
    }
    if (fk->script == FAKE_BAD_VERSION) {
        fake_ack(fd, nonce, 7);
        goto drain;
    }
    if (fk->script == FAKE_STALE_THEN_OK) {
        /* The tail of an old frame, a header-like prefix, an ack for another host. */
        static const guint8 junk[] = { 0x00, 0x4f, 0x43, 0x4f, 0x43, OC_T_HELLO_ACK, 0, 0, 0 };
        write_full(fd, junk, sizeof junk);
        fake_ack(fd, nonce ^ 1, 1);
    }
    fake_ack(fd, nonce, 1);
    fake_ack(fd, nonce, 1); /* as if answering a resent HELLO */

    do {
        if (!fake_read(fd, &h, payload))
            goto out;
    } while (h.type != OC_T_OPEN);
    guint32 id = h.stream;

    switch (fk->script) {
    case FAKE_STALE_THEN_OK:
        oc_proto_writer_init(&w, p, sizeof p);
        oc_proto_put_str(&w, OC_F_NAME, "x");
        oc_proto_put_u8(&w, OC_F_FTYPE, OC_FTYPE_FILE);
        oc_proto_put_u64(&w, OC_F_SIZE, 77);
        fake_send(fd, OC_T_RESULT, 0, id, p, (guint32)w.len);
        break;
    case FAKE_BAD_MAGIC: {
        guint8 bad[OC_PROTO_HEADER_SIZE] = { 0x12, 0x34, OC_T_DATA, 1 };
        write_full(fd, bad, sizeof bad);
        break;
    }
    case FAKE_OVERSIZE: {
        guint8 hdr[OC_PROTO_HEADER_SIZE];
        oc_proto_header big = { .type = OC_T_DATA, .chan = 1, .stream = id,
                                .length = OC_PROTO_MAX_PAYLOAD + 1 };
        oc_proto_header_encode(hdr, &big);
        write_full(fd, hdr, sizeof hdr);
        break;
    }
    case FAKE_UNKNOWN_TYPE:
        fake_send(fd, 0x3e, 0, id, "??", 2);
        break;
    case FAKE_OVER_CREDIT:
        memset(payload, 'c', OC_PROTO_MAX_PAYLOAD);
        for (guint i = 0; i < OC_PROTO_INITIAL_WINDOW / OC_PROTO_MAX_PAYLOAD; i++)
            fake_send(fd, OC_T_DATA, OC_CHAN_OUT, id, payload, OC_PROTO_MAX_PAYLOAD);
        fake_send(fd, OC_T_DATA, OC_CHAN_OUT, id, payload, 1);
        break;
    case FAKE_HANGUP:
        fake_send(fd, OC_T_DATA, OC_CHAN_OUT, id, "par", 3);
        close(fd);
        fd = -1;
        goto out;
    case FAKE_HALF: {
        guint8 frame[OC_PROTO_HEADER_SIZE + 28];
        oc_proto_frame(frame, OC_T_RESULT, 0, id, payload, 28);
        write_full(fd, frame, OC_PROTO_HEADER_SIZE + 14);
        goto silent;
    }
    case FAKE_STRAY:
        for (int i = 0; i < 3; i++)
            fake_send(fd, OC_T_DATA, OC_CHAN_OUT, id + 100, "stray", 5);
        goto silent;
    case FAKE_DEAF:
        g_usleep(3 * G_USEC_PER_SEC);
        break;
    case FAKE_SILENT:
    silent:
        while (fake_read(fd, &h, payload))
            if (h.type == OC_T_CANCEL && h.stream == id)
                fk->got_cancel = TRUE;
        goto out;
    default:
        break;
    }
drain:
    while (fake_read(fd, &h, payload))
        ;
out:
    if (fd >= 0)
        close(fd);
    g_free(payload);
    return NULL;
}

static Fake *fake_start(FakeScript script)
{
    Fake *fk = g_new0(Fake, 1);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    start_event_thread();
    fk->script = script;
    fk->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_strlcpy(addr.sun_path, sock_path, sizeof addr.sun_path);
    ck_assert_int_eq(bind(fk->listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(fk->listen_fd, 4), 0);
    fk->thread = g_thread_new("fake", fake_main, fk);
    return fk;
}

/* Returns whether the fake saw a CANCEL for the stream it served. */
static gboolean fake_stop(Fake *fk)
{
    g_thread_join(fk->thread);
    gboolean got_cancel = fk->got_cancel;
    close(fk->listen_fd);
    g_free(fk);
    stop_event_thread();
    return got_cancel;
}

static AgentConn *fake_connect(void)
{
    GError *err = NULL;
    AgentConn *c = agent_conn_open(sock_path, ctx, 3000, &err);
    ck_assert_msg(c != NULL, "%s", err ? err->message : "");
    return c;
}

START_TEST(test_fake_resync)
{
    Fake *fk = fake_start(FAKE_STALE_THEN_OK);
    AgentConn *c = fake_connect();
    AgentFileInfo *fi = NULL;
    GError *err = NULL;

    ck_assert_str_eq(agent_conn_agent_version(c), "fake 1");
    ck_assert_msg(agent_file_stat(c, "/x", &fi, &err), "%s", err ? err->message : "");
    ck_assert_str_eq(fi->name, "x");
    ck_assert_uint_eq(fi->size, 77);
    agent_file_info_free(fi);
    ck_assert(agent_conn_is_alive(c));
    agent_conn_close(c);
    fake_stop(fk);
}
END_TEST

static void expect_violation(FakeScript script, const char *needle)
{
    Fake *fk = fake_start(script);
    AgentConn *c = fake_connect();
    GByteArray *b = g_byte_array_new();
    GError *err = NULL;

    ck_assert(!agent_file_read(c, "/f", append_sink, b, NULL, &err));
    ck_assert_int_eq(err->code, OC_EAGENT);
    ck_assert_msg(strstr(err->message, needle) != NULL, "%s", err->message);
    ck_assert(!agent_conn_is_alive(c));
    g_clear_error(&err);
    g_byte_array_unref(b);
    agent_conn_close(c);
    fake_stop(fk);
}

START_TEST(test_fake_bad_magic)
{
    expect_violation(FAKE_BAD_MAGIC, "bad magic");
}
END_TEST

START_TEST(test_fake_oversize)
{
    expect_violation(FAKE_OVERSIZE, "over the 262144-byte bound");
}
END_TEST

START_TEST(test_fake_unknown_type)
{
    expect_violation(FAKE_UNKNOWN_TYPE, "unexpected frame type 0x3e");
}
END_TEST

START_TEST(test_fake_hangup)
{
    expect_violation(FAKE_HANGUP, "lost the connection to the sandbox agent");
}
END_TEST

static gboolean stuck_sink(const void *data, gsize len, gpointer user_data, GError **error)
{
    AgentConn *c = user_data;
    /* Hold the first chunk until the connection dies, so no credit returns. */
    for (int i = 0; i < 500 && agent_conn_is_alive(c); i++)
        g_usleep(10 * 1000);
    return TRUE;
}

START_TEST(test_fake_over_credit)
{
    Fake *fk = fake_start(FAKE_OVER_CREDIT);
    AgentConn *c = fake_connect();
    GError *err = NULL;

    ck_assert(!agent_file_read(c, "/f", stuck_sink, c, NULL, &err));
    ck_assert_int_eq(err->code, OC_EAGENT);
    ck_assert_msg(strstr(err->message, "beyond the 0 bytes of credit"), "%s", err->message);
    g_clear_error(&err);
    agent_conn_close(c);
    fake_stop(fk);
}
END_TEST

/* Closes c once a CANCEL sent just before had time to get through, and
 * asserts that the fake saw it. */
static void close_after_cancel(Fake *fk, AgentConn *c)
{
    g_usleep(200 * 1000);
    agent_conn_close(c);
    ck_assert(fake_stop(fk));
}

START_TEST(test_fake_backstop)
{
    Fake *fk = fake_start(FAKE_SILENT);
    AgentConn *c = fake_connect();
    GError *err = NULL;
    AgentExecResult res;
    AgentExecRequest req = { .command = "true", .timeout_ms = 100 };
    gint64 t0 = g_get_monotonic_time();

    ck_assert(!agent_exec_run(c, &req, &res, &err));
    ck_assert_int_eq(err->code, OC_ETIMEOUT);
    gint64 dt = g_get_monotonic_time() - t0;
    ck_assert_int_ge(dt, 10100 * 1000);
    ck_assert_int_lt(dt, 12000 * 1000);
    g_clear_error(&err);
    close_after_cancel(fk, c);
}
END_TEST

/* A request the agent answers by itself gives up when nothing comes on it
 * for the stall bound, and cancels it: through agent_stream_wait (stat) and
 * agent_stream_peek (a streamed read).  The message says what the guest
 * sent instead, if anything. */
START_TEST(test_fake_stall)
{
    static const struct {
        FakeScript script;
        guint stall_ms;
        const char *said;
    } cases[] = {
        { FAKE_SILENT, 300, "sent nothing on this request for 300 ms (it is stuck or hostile); "
                            "the request was cancelled" },
        { FAKE_SILENT, 300, "sent nothing on this request for 300 ms" },
        { FAKE_HALF, 1500, "s ago (26 of 40 bytes came)" },
        { FAKE_STRAY, 300, "sent 3 frames for requests that are not open" },
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        Fake *fk = fake_start(cases[i].script);
        AgentConn *c = fake_connect();
        AgentFileInfo *fi = NULL;
        GError *err = NULL;
        gint64 t0 = g_get_monotonic_time();

        agent_conn_set_stall_timeout(c, cases[i].stall_ms);
        if (i == 1)
            ck_assert(!agent_file_read(c, "/x", stuck_sink, c, NULL, &err));
        else
            ck_assert(!agent_file_stat(c, "/x", &fi, &err));
        gint64 dt = g_get_monotonic_time() - t0;
        ck_assert_int_eq(err->code, OC_ETIMEOUT);
        ck_assert_msg(strstr(err->message, cases[i].said), "%s", err->message);
        ck_assert_int_ge(dt, cases[i].stall_ms * 1000);
        ck_assert_int_lt(dt, (cases[i].stall_ms + 1700) * 1000);
        g_clear_error(&err);
        close_after_cancel(fk, c);
    }
}
END_TEST

static gpointer deaf_writer(gpointer data)
{
    GError *err = NULL;
    if (agent_file_write(data, "/f", 0644, endless_source, NULL, NULL, &err))
        return g_strdup("written");
    char *msg = g_strdup_printf("%d %s", err->code, err->message);
    g_error_free(err);
    return msg;
}

/* An agent that stops reading its port: writers that find the socket full
 * give up after the stall bound too (one cut short mid-frame closes the
 * connection). */
START_TEST(test_fake_deaf)
{
    Fake *fk = fake_start(FAKE_DEAF);
    AgentConn *c = fake_connect();
    GThread *t[3];
    gboolean stopped_reading = FALSE;
    gint64 t0 = g_get_monotonic_time();

    agent_conn_set_stall_timeout(c, 300);
    for (int i = 0; i < 3; i++)
        t[i] = g_thread_new("writer", deaf_writer, c);
    for (int i = 0; i < 3; i++) {
        g_autofree char *msg = g_thread_join(t[i]);
        printf("# writer %d: %s\n", i, msg);
        ck_assert_msg(g_str_has_prefix(msg, "-"), "%s", msg); /* an OC_E* code */
        stopped_reading = stopped_reading || strstr(msg, "stopped reading its input");
    }
    ck_assert(stopped_reading);
    ck_assert_int_lt(g_get_monotonic_time() - t0, 2500 * 1000);
    agent_conn_close(c);
    fake_stop(fk);
}
END_TEST

START_TEST(test_fake_handshake_refused)
{
    GError *err = NULL;
    Fake *fk = fake_start(FAKE_UNSUPPORTED);

    ck_assert_ptr_null(agent_conn_open(sock_path, ctx, 3000, &err));
    ck_assert_int_eq(err->code, OC_EAGENT);
    ck_assert_msg(strstr(err->message, "not compatible"), "%s", err->message);
    g_clear_error(&err);
    fake_stop(fk);

    fk = fake_start(FAKE_BAD_VERSION);
    ck_assert_ptr_null(agent_conn_open(sock_path, ctx, 3000, &err));
    ck_assert_int_eq(err->code, OC_EAGENT);
    ck_assert_msg(strstr(err->message, "version 7"), "%s", err->message);
    g_clear_error(&err);
    fake_stop(fk);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agent-client");
    TCase *fake = tcase_create("fake");

    tcase_set_timeout(fake, 60);
    tcase_add_test(fake, test_connect_nobody);
    tcase_add_test(fake, test_fake_resync);
    tcase_add_test(fake, test_fake_bad_magic);
    tcase_add_test(fake, test_fake_oversize);
    tcase_add_test(fake, test_fake_unknown_type);
    tcase_add_test(fake, test_fake_hangup);
    tcase_add_test(fake, test_fake_over_credit);
    tcase_add_test(fake, test_fake_backstop);
    tcase_add_test(fake, test_fake_stall);
    tcase_add_test(fake, test_fake_deaf);
    tcase_add_test(fake, test_fake_handshake_refused);
    suite_add_tcase(s, fake);

    if (g_getenv("OC_AGENT_BIN") && *g_getenv("OC_AGENT_BIN")) {
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
        tcase_add_test(real, test_agent_killed);
        tcase_add_test(real, test_attach_streamed_order);
        tcase_add_test(real, test_attach_stdin_roundtrip);
        tcase_add_test(real, test_attach_reattach_seam);
        tcase_add_test(real, test_attach_errors);
        tcase_add_test(real, test_attach_slow_consumer);
        suite_add_tcase(s, real);
    } else {
        printf("# OC_AGENT_BIN is not set: skipping the tests against the real oc-agent\n");
    }

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
