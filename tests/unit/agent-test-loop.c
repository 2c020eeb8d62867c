/* agent-test-loop.c: see agent-test-loop.h. */
#include "agent-test-loop.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

GMainContext *ctx;
char *sock_path;
static GMainLoop *loop;
static GThread *loop_thread;
char *tmpdir;

static gpointer loop_main(gpointer data)
{
    g_main_context_push_thread_default(ctx);
    g_main_loop_run(loop);
    g_main_context_pop_thread_default(ctx);
    return NULL;
}

void start_event_thread(void)
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

void stop_event_thread(void)
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


/* ---- the real agent, in test mode ---- */

static GPid agent_pid;
AgentConn *conn;


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

void kill_agent(void)
{
    if (agent_pid > 0) {
        kill(agent_pid, SIGKILL);
        waitpid(agent_pid, NULL, 0);
        agent_pid = 0;
    }
}

void agent_setup(void)
{
    GError *err = NULL;

    start_event_thread();
    start_agent();
    /* connect() retries until the agent has created its socket. */
    conn = agent_conn_open(sock_path, ctx, 10000, &err);
    ck_assert_msg(conn != NULL, "connect: %s", err ? err->message : "?");
}

void agent_teardown(void)
{
    agent_conn_close(conn);
    conn = NULL;
    kill_agent();
    stop_event_thread();
}

gboolean append_sink(const void *data, gsize len, gpointer user_data, GError **error)
{
    g_byte_array_append(user_data, data, (guint)len);
    return TRUE;
}

gssize endless_source(void *buf, gsize cap, gpointer user_data, GError **error)
{
    memset(buf, 'e', cap);
    return (gssize)cap;
}
