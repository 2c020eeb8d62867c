/* test-agent-attach.c: the host side of the agent protocol (lib/agent/)
 * against the real guest agent in test mode: attaching to sessions (order,
 * stdin, the seam of a reattach, errors, a slow consumer) and an agent
 * killed under a busy connection.  Skipped when OC_AGENT_BIN is not set. */
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

int main(void)
{
    Suite *s = suite_create("agent-attach");

    if (!g_getenv("OC_AGENT_BIN") || !*g_getenv("OC_AGENT_BIN")) {
        printf("1..0 # SKIP OC_AGENT_BIN is not set: no oc-agent to test against\n");
        return EXIT_SUCCESS;
    }
    TCase *real = tcase_create("agent");
    tcase_set_timeout(real, 60);
    tcase_add_checked_fixture(real, agent_setup, agent_teardown);
    tcase_add_test(real, test_attach_streamed_order);
    tcase_add_test(real, test_attach_stdin_roundtrip);
    tcase_add_test(real, test_attach_reattach_seam);
    tcase_add_test(real, test_attach_errors);
    tcase_add_test(real, test_attach_slow_consumer);
    tcase_add_test(real, test_agent_killed);
    suite_add_tcase(s, real);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
