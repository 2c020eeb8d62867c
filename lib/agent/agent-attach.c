/* agent-attach.c: following a session (docs/protocol.md, SESSION_ATTACH):
 * its output as events, its stdin, signals and terminal size.  A connection
 * to a guest port (PORT_CONNECT) is the same duplex stream without the
 * process: what the guest's server sends as output events, writes to it,
 * and a half-close for the end of stdin. */
#include "agent-private.h"

#include <string.h>

struct _AgentAttach {
    AgentConn *conn;
    AgentStream *s;
    guint32 session;   /* 0 for a port connection */
    char *name;        /* "session 3", "guest port 8080": for messages */
    gboolean detached; /* agent_attach_detach() was called */
};

/* The error of a stream that failed: a session's, or the agent's own. */
static void open_error(AgentStream *s, guint32 session, GError **error, const char *what)
{
    if (session)
        ops_session_error(s, error, what);
    else
        ops_stream_error(s, error, what, NULL);
}

/* Opens the stream w describes and waits until the agent has accepted it:
 * an attach begins with output or the replay-end INFO, a port connection
 * with its INFO, so the first event tells an accepted stream from an
 * ERROR. */
static AgentAttach *duplex_open(AgentConn *conn, const oc_proto_writer *w, guint32 session,
                                char *name, guint timeout_ms, GError **error)
{
    g_autofree char *what = g_strdup_printf("cannot %s %s", session ? "attach to" : "connect to",
                                            name);
    AgentStream *s = ops_open_stream(conn, AGENT_STREAM_EVENTS, w, 0, FALSE, what, error);

    if (s == NULL) {
        g_free(name);
        return NULL;
    }
    if (!agent_stream_wait_event(conn, s,
                                 g_get_monotonic_time() + timeout_ms * G_TIME_SPAN_MILLISECOND)) {
        g_set_error(error, OC_ERROR, OC_ETIMEOUT,
                    "%s: the sandbox agent did not answer in %u ms", what, timeout_ms);
        agent_stream_free(conn, s, TRUE);
        g_free(name);
        return NULL;
    }
    g_mutex_lock(&conn->lock);
    gboolean failed = s->done && (s->conn_error || s->perr);
    g_mutex_unlock(&conn->lock);
    if (failed) {
        open_error(s, session, error, what);
        agent_stream_free(conn, s, FALSE);
        g_free(name);
        return NULL;
    }
    AgentAttach *a = g_new0(AgentAttach, 1);
    a->conn = conn;
    a->s = s;
    a->session = session;
    a->name = name;
    return a;
}

/* OPEN op with one u32 field, tag = value. */
static AgentAttach *open_with(AgentConn *conn, guint32 op, guint16 tag, guint32 value,
                              guint32 session, char *name, guint timeout_ms, GError **error)
{
    guint8 buf[32];
    oc_proto_writer w;

    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_OP, op);
    oc_proto_put_u32(&w, tag, value);
    return duplex_open(conn, &w, session, name, timeout_ms, error);
}

AgentAttach *agent_attach_open(AgentConn *conn, guint32 id, guint timeout_ms, GError **error)
{
    g_return_val_if_fail(conn != NULL, NULL);
    return open_with(conn, OC_OP_SESSION_ATTACH, OC_F_SESSION, id, id,
                     g_strdup_printf("session %u", id), timeout_ms, error);
}

AgentAttach *agent_forward_open(AgentConn *conn, guint16 port, guint timeout_ms, GError **error)
{
    g_return_val_if_fail(conn != NULL, NULL);
    return open_with(conn, OC_OP_PORT_CONNECT, OC_F_PORT, port, 0,
                     g_strdup_printf("guest port %u", port), timeout_ms, error);
}

AgentEvent *agent_attach_next(AgentAttach *a, gint64 deadline)
{
    return agent_stream_next_event(a->conn, a->s, deadline);
}

void agent_attach_event_free(AgentAttach *a, AgentEvent *ev)
{
    agent_stream_event_free(a->conn, a->s, ev);
}

/* Fails with OC_ESTATE once the attach has ended: a write then would go to
 * a stream the agent has forgotten. */
static gboolean check_open(AgentAttach *a, const char *what, GError **error)
{
    g_mutex_lock(&a->conn->lock);
    gboolean done = a->s->done;
    g_mutex_unlock(&a->conn->lock);
    if (done)
        g_set_error(error, OC_ERROR, OC_ESTATE,
                    "cannot %s %s: this %s has ended (%s, or the connection to the sandbox "
                    "was lost)", what, a->name, a->session ? "attach" : "connection",
                    a->session ? "the process exited, the attach was detached"
                               : "the guest's server closed it");
    return !done;
}

/* Sends one small frame on the attach stream. */
static gboolean send_frame(AgentAttach *a, guint8 type, guint8 chan, const oc_proto_writer *w,
                           const char *what, GError **error)
{
    GError *local = NULL;

    if (!check_open(a, what, error))
        return FALSE;
    if (!agent_stream_send(a->conn, a->s, type, chan, w ? w->buf : NULL, w ? w->len : 0, 0,
                           &local)) {
        g_set_error(error, OC_ERROR, local->code, "cannot %s %s: %s", what, a->name,
                    local->message);
        g_error_free(local);
        return FALSE;
    }
    return TRUE;
}

gboolean agent_attach_write(AgentAttach *a, const void *data, gsize len, gint64 deadline,
                            GError **error)
{
    gboolean stopped = FALSE;
    GError *local = NULL;

    if (!check_open(a, "write to", error))
        return FALSE;
    if (!agent_stream_send_data(a->conn, a->s, data, len, deadline, &stopped, &local)) {
        g_set_error(error, OC_ERROR, local->code, "cannot write to %s: %s", a->name,
                    local->message);
        g_error_free(local);
        return FALSE;
    }
    return !stopped || check_open(a, "write to", error);
}

gboolean agent_attach_close_stdin(AgentAttach *a, GError **error)
{
    return send_frame(a, OC_T_EOF, OC_CHAN_IN, NULL, "close the stdin of", error);
}

gboolean agent_attach_signal(AgentAttach *a, int sig, GError **error)
{
    guint8 buf[16];
    oc_proto_writer w;

    if (sig <= 0 || sig > 64) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "cannot signal %s: %d is not a signal "
                    "number", a->name, sig);
        return FALSE;
    }
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_SIGNAL, (guint32)sig);
    return send_frame(a, OC_T_SIGNAL, 0, &w, "signal", error);
}

gboolean agent_attach_is_pty(AgentAttach *a)
{
    g_mutex_lock(&a->conn->lock);
    gboolean pty = a->s->pty;
    g_mutex_unlock(&a->conn->lock);
    return pty;
}

gboolean agent_attach_resize(AgentAttach *a, guint32 cols, guint32 rows, GError **error)
{
    guint8 buf[32];
    oc_proto_writer w;

    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_COLS, cols);
    oc_proto_put_u32(&w, OC_F_ROWS, rows);
    return send_frame(a, OC_T_RESIZE, 0, &w, "resize the terminal of", error);
}

void agent_attach_detach(AgentAttach *a)
{
    gboolean send;

    g_mutex_lock(&a->conn->lock);
    send = !a->s->done && !a->detached && a->conn->alive;
    a->detached = TRUE;
    g_mutex_unlock(&a->conn->lock);
    /* Through the control queue: detaching must not block on a guest that
     * is not reading. */
    if (send && conn_ctrl_queue(a->conn, OC_T_CANCEL, 0, a->s->id, NULL, 0, FALSE))
        conn_ctrl_kick(a->conn);
}

AgentAttachOutcome agent_attach_outcome(AgentAttach *a, AgentExecResult *res, GError **error)
{
    const char *what = a->name;
    AgentAttachOutcome outcome;

    memset(res, 0, sizeof *res);
    g_mutex_lock(&a->conn->lock);
    g_assert(a->s->done);
    g_mutex_unlock(&a->conn->lock);
    if (a->s->conn_error || a->s->perr) {
        open_error(a->s, a->session, error, what);
        return AGENT_ATTACH_FAILED;
    }
    /* A detach ends with an empty RESULT, an exit with EXIT_CODE: if both
     * crossed, the exit wins. */
    if (ops_parse_exit(a->s, res))
        return AGENT_ATTACH_EXITED;
    outcome = AGENT_ATTACH_DETACHED;
    if (!a->detached) {
        g_set_error(error, OC_ERROR, OC_EAGENT,
                    "%s: the sandbox agent ended the attach without an exit status", what);
        outcome = AGENT_ATTACH_FAILED;
    }
    return outcome;
}

void agent_attach_free(AgentAttach *a)
{
    if (a == NULL)
        return;
    agent_stream_free(a->conn, a->s, TRUE);
    g_free(a->name);
    g_free(a);
}
