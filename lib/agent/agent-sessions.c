/* agent-sessions.c: background sessions (docs/protocol.md, "Sessions"):
 * start, list and kill.  Attaching to one is agent-attach.c. */
#include "agent-private.h"

#include <signal.h>
#include <string.h>

void agent_session_info_free(AgentSessionInfo *si)
{
    if (!si)
        return;
    g_strfreev(si->argv);
    g_free(si->command);
    g_free(si);
}

gboolean agent_session_start(AgentConn *conn, const AgentExecRequest *req, guint32 *id,
                             guint32 *pid, GError **error)
{
    g_autofree guint8 *buf = g_malloc(OC_PROTO_MAX_PAYLOAD);
    g_autofree char *what = NULL;
    oc_proto_writer w;
    oc_proto_reader r;
    oc_proto_field f;

    g_return_val_if_fail(conn != NULL && req != NULL && req->stdin_data == NULL, FALSE);
    what = req->argv ? g_strdup_printf("cannot start %s", req->argv[0])
                     : g_strdup("cannot start the command");
    if (req->argv ? req->argv[0] == NULL : req->command == NULL) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s: neither argv nor a command line was given",
                    what);
        return FALSE;
    }
    if (!ops_put_exec_request(&w, buf, OC_OP_SESSION_START, req, what, error))
        return FALSE;
    AgentStream *s = ops_open_stream(conn, AGENT_STREAM_SIMPLE, &w, 0, TRUE, what, error);
    if (s == NULL)
        return FALSE;
    gboolean ok = !(s->conn_error || s->perr);
    if (!ok) {
        ops_exec_error(s, req, error, what);
    } else {
        *id = *pid = 0;
        oc_proto_reader_init(&r, s->result, s->result_len);
        while (oc_proto_next(&r, &f) == 1) {
            if (f.tag == OC_F_SESSION)
                oc_proto_field_u32(&f, id);
            else if (f.tag == OC_F_PID)
                oc_proto_field_u32(&f, pid);
        }
        if (*id == 0) {
            g_set_error(error, OC_ERROR, OC_EAGENT, "%s: the sandbox agent named no session",
                        what);
            ok = FALSE;
        }
    }
    agent_stream_free(conn, s, FALSE);
    return ok;
}

/* One SESSION_LIST record, or NULL if malformed. */
static gpointer parse_session(const guint8 *data, gsize len)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    AgentSessionInfo *si = g_new0(AgentSessionInfo, 1);
    oc_proto_reader r;
    oc_proto_field f;
    guint32 v;
    guint64 v64;
    guint32 running = 0;
    int rc;

    oc_proto_reader_init(&r, data, len);
    while ((rc = oc_proto_next(&r, &f)) == 1) {
        switch (f.tag) {
        case OC_F_SESSION: oc_proto_field_u32(&f, &si->id); break;
        case OC_F_PID: oc_proto_field_u32(&f, &si->pid); break;
        case OC_F_RUNNING: oc_proto_field_u32(&f, &running); break;
        case OC_F_EXIT_CODE:
            if (oc_proto_field_u32(&f, &v) == 0)
                si->exit_code = (int)(gint32)v;
            break;
        case OC_F_EXIT_SIGNAL:
            if (oc_proto_field_u32(&f, &v) == 0)
                si->signal = (int)v;
            break;
        case OC_F_STARTED_MS:
            if (oc_proto_field_u64(&f, &v64) == 0)
                si->started_ms = (gint64)v64;
            break;
        case OC_F_ARG:
        case OC_F_COMMAND: {
            /* Untrusted bytes: shown to users, so made valid UTF-8. */
            char *s = g_utf8_make_valid((const char *)f.data, f.len);
            if (f.tag == OC_F_ARG)
                g_ptr_array_add(argv, s);
            else {
                g_free(si->command);
                si->command = s;
            }
            break;
        }
        default:
            break; /* newer agents may say more */
        }
    }
    si->running = running != 0;
    if (argv->len) {
        g_ptr_array_add(argv, NULL);
        si->argv = (char **)g_ptr_array_free(g_steal_pointer(&argv), FALSE);
    }
    if (rc < 0 || si->id == 0) {
        agent_session_info_free(si);
        return NULL;
    }
    return si;
}

gboolean agent_session_list(AgentConn *conn, GPtrArray **out, GError **error)
{
    guint8 buf[32];
    oc_proto_writer w;
    const char *what = "cannot list the sessions";

    g_return_val_if_fail(conn != NULL && out != NULL, FALSE);
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_OP, OC_OP_SESSION_LIST);
    AgentStream *s = ops_open_stream(conn, AGENT_STREAM_INBOX, &w, 0, FALSE, what, error);
    if (s == NULL)
        return FALSE;
    return ops_read_records(conn, s, parse_session, (GDestroyNotify)agent_session_info_free,
                            "session", what, out, error);
}

void ops_session_error(AgentStream *s, GError **error, const char *what)
{
    if (s->perr == OC_PERR_NOENT)
        g_set_error(error, OC_ERROR, OC_ENOTFOUND,
                    "%s: there is no such session (it never existed, or it ended long ago and "
                    "was forgotten); `oc exec list` shows them", what);
    else
        ops_stream_error(s, error, what, NULL);
}

gboolean agent_session_kill(AgentConn *conn, guint32 id, int sig, GError **error)
{
    guint8 buf[64];
    oc_proto_writer w;
    g_autofree char *what = g_strdup_printf("cannot signal session %u", id);

    g_return_val_if_fail(conn != NULL, FALSE);
    if (sig < 0 || sig > 64) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s: %d is not a signal number", what, sig);
        return FALSE;
    }
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_OP, OC_OP_SESSION_KILL);
    oc_proto_put_u32(&w, OC_F_SESSION, id);
    oc_proto_put_u32(&w, OC_F_SIGNAL, sig ? (guint32)sig : SIGKILL);
    AgentStream *s = ops_open_stream(conn, AGENT_STREAM_SIMPLE, &w, 0, TRUE, what, error);
    if (s == NULL)
        return FALSE;
    gboolean ok = !(s->conn_error || s->perr);
    if (!ok)
        ops_session_error(s, error, what);
    agent_stream_free(conn, s, FALSE);
    return ok;
}
