/* fuzz-host-conn.c: the host's side of the agent protocol against a guest
 * that says anything.  A fake agent answers HELLO properly, then sends the
 * input's bytes (after the first) as if they were frames, and hangs up; the
 * host meanwhile runs the operation the first byte picks.  Whatever comes,
 * the host must fail or succeed cleanly: no crash, no hang (the hang-up
 * ends every wait), and no memory beyond its caps (ASan and libFuzzer's
 * -rss_limit_mb watch that). */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "fuzz.h"
#include "oc-proto.h"

static GMainContext *ctx;
static char *sock_path;
static int listen_fd = -1;

static gpointer loop_thread(gpointer data)
{
    GMainLoop *loop = g_main_loop_new(ctx, FALSE);
    g_main_context_push_thread_default(ctx);
    g_main_loop_run(loop);
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    g_autofree char *dir = g_dir_make_tmp("oc-fuzz-XXXXXX", NULL);

    g_assert(dir);
    sock_path = g_build_filename(dir, "agent.sock", NULL);
    g_strlcpy(addr.sun_path, sock_path, sizeof addr.sun_path);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert(listen_fd >= 0 && bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
             listen(listen_fd, 4) == 0);
    ctx = g_main_context_new();
    g_thread_new("fuzz-loop", loop_thread, NULL);
    return 0;
}

static gboolean read_full(int fd, guint8 *p, gsize len)
{
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        p += n;
        len -= n;
    }
    return TRUE;
}

static void write_all(int fd, const guint8 *p, gsize len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= n;
    }
}

typedef struct {
    const guint8 *data;
    gsize len;
} Script;

/* The fake agent: one connection, HELLO answered, then the script. */
static gpointer agent_thread(gpointer data)
{
    Script *s = data;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    guint8 hdr[OC_PROTO_HEADER_SIZE], payload[512], ack[128], frame[OC_PROTO_HEADER_SIZE + 128];
    oc_proto_header h;
    guint64 nonce = 0;

    if (fd < 0)
        return NULL;
    if (read_full(fd, hdr, sizeof hdr) && oc_proto_header_decode(&h, hdr) == 0 &&
        h.type == OC_T_HELLO && h.length <= sizeof payload && read_full(fd, payload, h.length)) {
        oc_proto_reader r;
        oc_proto_field f;
        oc_proto_writer w;
        oc_proto_reader_init(&r, payload, h.length);
        while (oc_proto_next(&r, &f) == 1)
            if (f.tag == OC_F_NONCE)
                oc_proto_field_u64(&f, &nonce);
        oc_proto_writer_init(&w, ack, sizeof ack);
        oc_proto_put_u32(&w, OC_F_VERSION, OC_PROTO_VERSION);
        oc_proto_put_u64(&w, OC_F_NONCE, nonce);
        oc_proto_put_str(&w, OC_F_AGENT, "fuzz-agent");
        oc_proto_put_str(&w, OC_F_BOOT_ID, "fuzz");
        write_all(fd, frame, oc_proto_frame(frame, OC_T_HELLO_ACK, 0, 0, ack, w.len));
        write_all(fd, s->data, s->len);
    }
    close(fd);
    return NULL;
}

/* Runs the operation op picks against the connection; its result does not
 * matter, only that it returns. */
static void run_op(AgentConn *conn, guint8 op)
{
    static const char *const argv[] = { "/bin/true", NULL };
    GError *err = NULL;

    switch (op % 6) {
    case 0: {
        AgentExecRequest req = { .argv = argv, .timeout_ms = 1000 };
        AgentExecResult res = { 0 };
        agent_exec_run(conn, &req, &res, &err);
        agent_exec_result_clear(&res);
        break;
    }
    case 1: {
        GByteArray *out = NULL;
        if (agent_file_read_all(conn, "/f", 1u << 20, &out, &err))
            g_byte_array_unref(out);
        break;
    }
    case 2: {
        GPtrArray *list = NULL;
        if (agent_file_list(conn, "/", &list, &err))
            g_ptr_array_unref(list);
        break;
    }
    case 3: {
        AgentFileInfo *fi = NULL;
        if (agent_file_stat(conn, "/f", &fi, &err))
            agent_file_info_free(fi);
        break;
    }
    case 4: {
        GPtrArray *list = NULL;
        if (agent_session_list(conn, &list, &err))
            g_ptr_array_unref(list);
        break;
    }
    default: {
        AgentAttach *a = agent_attach_open(conn, 1, 1000, &err);
        AgentEvent *ev;
        gint64 end = g_get_monotonic_time() + G_TIME_SPAN_SECOND;
        while (a && (ev = agent_attach_next(a, end))) {
            gboolean last = ev->kind == AGENT_EVENT_END;
            agent_attach_event_free(a, ev);
            if (last)
                break;
        }
        if (a)
            agent_attach_free(a);
        break;
    }
    }
    g_clear_error(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Script s = { .data = data + (size > 0), .len = size > 0 ? size - 1 : 0 };
    GThread *agent;
    AgentConn *conn;
    GError *err = NULL;

    if (size > (1u << 20))
        return 0;
    agent = g_thread_new("fuzz-agent", agent_thread, &s);
    conn = agent_conn_open(sock_path, ctx, 2000, &err);
    if (conn) {
        run_op(conn, size > 0 ? data[0] : 0);
        agent_conn_close(conn);
    }
    g_clear_error(&err);
    g_thread_join(agent);
    return 0;
}
