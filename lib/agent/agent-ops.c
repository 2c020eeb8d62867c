/* agent-ops.c: the operations (exec, file transfer and file management) on
 * top of the streams of agent-conn.c. */
#include "agent-private.h"

#include <string.h>

/* How long the host waits beyond an exec's own timeout before giving up. */
#define EXEC_BACKSTOP_MS 10000
/* A FILE_LIST record larger than this is a protocol violation. */
#define MAX_RECORD (64u * 1024u)
/* A listing (files, sessions) larger than this in all is refused: records
 * are small, but a guest could send them without end. */
#define MAX_LISTING_BYTES (64u * 1024u * 1024u)

static int map_perr(guint32 perr)
{
    switch (perr) {
    case OC_PERR_NOENT: return OC_ENOTFOUND;
    case OC_PERR_EXIST: return OC_EEXISTS;
    case OC_PERR_ACCES: return OC_EPERM;
    case OC_PERR_LIMIT:
    case OC_PERR_NOSPC: return OC_ELIMIT;
    case OC_PERR_INVAL:
    case OC_PERR_NOTDIR:
    case OC_PERR_ISDIR:
    case OC_PERR_NOTEMPTY: return OC_EINVAL;
    case OC_PERR_IO: return OC_EIO;
    case OC_PERR_UNSUPPORTED: return OC_EUNSUPPORTED;
    default: return OC_EAGENT;
    }
}

static char *parent_dir(const char *path)
{
    return g_path_get_dirname(path);
}

/* Sets *error from a stream that ended badly.  what: "cannot read /x".
 * noent_dir: for NOENT, the directory that must be missing (or NULL). */
void ops_stream_error(AgentStream *s, GError **error, const char *what, const char *noent_dir)
{
    if (s->conn_error) {
        g_set_error(error, OC_ERROR, s->conn_error->code, "%s: %s", what, s->conn_error->message);
        return;
    }
    int code = map_perr(s->perr);
    const char *msg = s->pmsg && *s->pmsg ? s->pmsg : oc_proto_err_name(s->perr);
    switch (s->perr) {
    case OC_PERR_NOENT:
        if (noent_dir) {
            g_set_error(error, OC_ERROR, code, "%s: directory %s does not exist", what, noent_dir);
            return;
        }
        /* fall through */
    case OC_PERR_EXIST:
    case OC_PERR_NOTDIR:
    case OC_PERR_ISDIR:
    case OC_PERR_ACCES:
    case OC_PERR_NOSPC:
    case OC_PERR_NOTEMPTY:
        /* Our own words: the agent's message would repeat the path. */
        msg = oc_proto_err_name(s->perr);
        break;
    default:
        break;
    }
    g_set_error(error, OC_ERROR, code, "%s: %s", what, msg);
}

static gboolean check_path(const char *path, const char *verb, GError **error)
{
    if (path == NULL || *path == '\0') {
        g_set_error(error, OC_ERROR, OC_EINVAL, "cannot %s: the path is empty", verb);
        return FALSE;
    }
    if (strlen(path) >= OC_PROTO_MAX_PATH) {
        g_set_error(error, OC_ERROR, OC_ELIMIT, "cannot %s %.64s...: the path is longer than %u bytes",
                    verb, path, OC_PROTO_MAX_PATH - 1);
        return FALSE;
    }
    return TRUE;
}

/* Opens a stream and sends OPEN with payload; with wait, also waits for the
 * end.  max_output caps what an EXEC-kind stream keeps (set before OPEN, so
 * before any DATA).  Returns the stream, or NULL with error set. */
AgentStream *ops_open_stream(AgentConn *conn, AgentStreamKind kind, const oc_proto_writer *w,
                                gsize max_output, gboolean wait, const char *what, GError **error)
{
    GError *local = NULL;

    AgentStream *s = agent_stream_new(conn, kind, &local);
    if (s != NULL) {
        s->max_output = max_output;
        /* An attach is quiet while its process is; every other request
         * here is the agent's own work, which a stall must not hang. */
        s->stall_guard = kind != AGENT_STREAM_EVENTS;
    }
    if (s == NULL || !agent_stream_send(conn, s, OC_T_OPEN, 0, w->buf, w->len, 0, &local)) {
        agent_stream_free(conn, s, FALSE);
        g_set_error(error, OC_ERROR, local->code, "%s: %s", what, local->message);
        g_error_free(local);
        return NULL;
    }
    if (wait)
        agent_stream_wait(conn, s, 0);
    return s;
}

/* ---- exec ---- */

gboolean ops_put_exec_request(oc_proto_writer *w, guint8 *buf, guint32 op,
                              const AgentExecRequest *req, const char *what, GError **error)
{
    oc_proto_writer_init(w, buf, OC_PROTO_MAX_PAYLOAD);
    oc_proto_put_u32(w, OC_F_OP, op);
    if (req->argv) {
        for (gsize i = 0; req->argv[i]; i++)
            oc_proto_put_str(w, OC_F_ARG, req->argv[i]);
    } else {
        oc_proto_put_str(w, OC_F_COMMAND, req->command);
    }
    if (req->env)
        for (gsize i = 0; req->env[i]; i++)
            oc_proto_put_str(w, OC_F_ENV, req->env[i]);
    if (req->cwd)
        oc_proto_put_str(w, OC_F_CWD, req->cwd);
    if (req->user)
        oc_proto_put_str(w, OC_F_USER, req->user);
    if (req->timeout_ms)
        oc_proto_put_u32(w, OC_F_TIMEOUT_MS, req->timeout_ms);
    if (req->stdin_data)
        oc_proto_put_u8(w, OC_F_STDIN, 1);
    if (req->pty_cols && req->pty_rows) {
        oc_proto_put_u32(w, OC_F_COLS, req->pty_cols);
        oc_proto_put_u32(w, OC_F_ROWS, req->pty_rows);
    }
    if (w->overflow) {
        g_set_error(error, OC_ERROR, OC_ELIMIT,
                    "%s: the arguments and environment take more than %u KiB", what,
                    OC_PROTO_MAX_PAYLOAD / 1024);
        return FALSE;
    }
    return TRUE;
}

void ops_exec_error(AgentStream *s, const AgentExecRequest *req, GError **error,
                    const char *what)
{
    if (s->perr == OC_PERR_NOENT && req->cwd)
        /* The one NOENT an exec has: a missing program is exit code 127. */
        g_set_error(error, OC_ERROR, OC_ENOTFOUND,
                    "%s: the working directory %s does not exist", what, req->cwd);
    else
        ops_stream_error(s, error, what, NULL);
}

gboolean ops_parse_exit(AgentStream *s, AgentExecResult *out)
{
    oc_proto_reader r;
    oc_proto_field f;
    guint32 v;
    guint64 v64;
    gboolean exited = FALSE;

    oc_proto_reader_init(&r, s->result, s->result_len);
    while (oc_proto_next(&r, &f) == 1) {
        switch (f.tag) {
        case OC_F_EXIT_CODE:
            if (oc_proto_field_u32(&f, &v) == 0) {
                out->exit_code = (int)(gint32)v;
                exited = TRUE;
            }
            break;
        case OC_F_EXIT_SIGNAL:
            if (oc_proto_field_u32(&f, &v) == 0)
                out->signal = (int)v;
            break;
        case OC_F_TIMED_OUT:
            if (oc_proto_field_u32(&f, &v) == 0)
                out->timed_out = v != 0;
            break;
        case OC_F_DURATION_US:
            if (oc_proto_field_u64(&f, &v64) == 0)
                out->duration_us = v64;
            break;
        default:
            break; /* newer agents may say more */
        }
    }
    return exited;
}

gboolean agent_exec_run(AgentConn *conn, const AgentExecRequest *req, AgentExecResult *out,
                        GError **error)
{
    g_autofree guint8 *buf = NULL;
    g_autofree char *what = NULL;
    oc_proto_writer w;
    GError *local = NULL;
    gboolean stopped = FALSE;

    g_return_val_if_fail(conn != NULL && req != NULL && out != NULL, FALSE);
    memset(out, 0, sizeof *out);
    if (req->argv ? req->argv[0] == NULL : req->command == NULL) {
        g_set_error_literal(error, OC_ERROR, OC_EINVAL,
                            "cannot run a command: neither argv nor a command line was given");
        return FALSE;
    }
    if (req->argv)
        what = g_strdup_printf("cannot run %s", req->argv[0]);
    else
        what = g_strdup("cannot run the command");

    buf = g_malloc(OC_PROTO_MAX_PAYLOAD);
    if (!ops_put_exec_request(&w, buf, OC_OP_EXEC, req, what, error))
        return FALSE;

    gint64 deadline = 0;
    if (req->timeout_ms)
        deadline = g_get_monotonic_time() +
                   ((gint64)req->timeout_ms + EXEC_BACKSTOP_MS) * G_TIME_SPAN_MILLISECOND;

    AgentStream *s = agent_stream_new(conn, AGENT_STREAM_EXEC, &local);
    if (s == NULL)
        goto fail;
    s->max_output = req->max_output ? req->max_output : OC_EXEC_DEFAULT_MAX_OUTPUT;
    if (!agent_stream_send(conn, s, OC_T_OPEN, 0, w.buf, w.len, deadline, &local))
        goto fail;
    if (req->stdin_data) {
        if (!agent_stream_send_data(conn, s, req->stdin_data, req->stdin_len, deadline, &stopped,
                                    &local))
            goto fail;
        if (!stopped &&
            !agent_stream_send(conn, s, OC_T_EOF, OC_CHAN_IN, NULL, 0, deadline, &local))
            goto fail;
    }
    if (!agent_stream_wait(conn, s, deadline)) {
        g_mutex_lock(&conn->lock);
        g_autofree char *why = agent_stream_silence_locked(conn, s);
        if (!*why && !s->heard) {
            g_free(why);
            why = g_strdup("; the sandbox agent sent nothing on it");
        }
        g_mutex_unlock(&conn->lock);
        g_set_error(error, OC_ERROR, OC_ETIMEOUT,
                    "%s: it did not finish within its timeout of %u ms and the sandbox agent did "
                    "not stop it in %d s more; it was cancelled%s", what, req->timeout_ms,
                    EXEC_BACKSTOP_MS / 1000, why);
        agent_stream_free(conn, s, TRUE);
        return FALSE;
    }
    if (s->conn_error || s->perr) {
        ops_exec_error(s, req, error, what);
        agent_stream_free(conn, s, FALSE);
        return FALSE;
    }
    ops_parse_exit(s, out);
    out->out = g_steal_pointer(&s->buf[OC_CHAN_OUT]);
    out->err = g_steal_pointer(&s->buf[OC_CHAN_ERR]);
    out->out_truncated = s->truncated[OC_CHAN_OUT];
    out->err_truncated = s->truncated[OC_CHAN_ERR];
    agent_stream_free(conn, s, FALSE);
    return TRUE;

fail:
    g_set_error(error, OC_ERROR, local->code, "%s: %s", what, local->message);
    g_error_free(local);
    agent_stream_free(conn, s, TRUE);
    return FALSE;
}

void agent_exec_result_clear(AgentExecResult *res)
{
    if (res == NULL)
        return;
    if (res->out)
        g_byte_array_unref(res->out);
    if (res->err)
        g_byte_array_unref(res->err);
    memset(res, 0, sizeof *res);
}

/* ---- bulk transfers ---- */

static gboolean result_size(AgentStream *s, guint64 *size)
{
    oc_proto_reader r;
    oc_proto_field f;

    oc_proto_reader_init(&r, s->result, s->result_len);
    while (oc_proto_next(&r, &f) == 1)
        if (f.tag == OC_F_SIZE && oc_proto_field_u64(&f, size) == 0)
            return TRUE;
    return FALSE;
}

/* Both read forms: OPEN a FILE_READ stream of the given kind. */
static AgentStream *open_read(AgentConn *conn, const char *path, AgentStreamKind kind,
                              gsize max_output, const char *what, GError **error)
{
    guint8 buf[OC_PROTO_MAX_PATH + 32];
    oc_proto_writer w;

    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_OP, OC_OP_FILE_READ);
    oc_proto_put_str(&w, OC_F_PATH, path);
    return ops_open_stream(conn, kind, &w, max_output, FALSE, what, error);
}

/* The end of a read: the agent's error, or a size that does not match what
 * it sent.  FALSE with error set. */
static gboolean read_ended_well(AgentStream *s, guint64 received, const char *what,
                                GError **error)
{
    guint64 size = 0;

    if (s->conn_error || s->perr) {
        ops_stream_error(s, error, what, NULL);
        return FALSE;
    }
    if (result_size(s, &size) && size != received) {
        g_set_error(error, OC_ERROR, OC_EAGENT,
                    "%s: the sandbox agent reported %" G_GUINT64_FORMAT " bytes but sent %"
                    G_GUINT64_FORMAT, what, size, received);
        return FALSE;
    }
    return TRUE;
}

gboolean agent_file_read(AgentConn *conn, const char *path, AgentSink sink, gpointer user_data,
                         guint64 *size_out, GError **error)
{
    guint64 received = 0;

    g_return_val_if_fail(conn != NULL && sink != NULL, FALSE);
    if (!check_path(path, "read", error))
        return FALSE;
    g_autofree char *what = g_strdup_printf("cannot read %s", path);
    AgentStream *s = open_read(conn, path, AGENT_STREAM_INBOX, 0, what, error);
    if (s == NULL)
        return FALSE;
    const guint8 *data;
    gsize len;
    while (agent_stream_peek(conn, s, &data, &len)) {
        GError *local = NULL;
        if (!sink(data, len, user_data, &local)) {
            agent_stream_free(conn, s, TRUE);
            if (local)
                g_propagate_error(error, local);
            else
                g_set_error(error, OC_ERROR, OC_ECANCELLED, "%s: cancelled by the caller", what);
            return FALSE;
        }
        received += len;
        agent_stream_consumed(conn, s, len);
    }
    gboolean ok = read_ended_well(s, received, what, error);
    agent_stream_free(conn, s, FALSE);
    if (ok && size_out)
        *size_out = received;
    return ok;
}

gboolean agent_file_read_all(AgentConn *conn, const char *path, gsize max, GByteArray **out,
                             GError **error)
{
    gboolean ok = FALSE;

    g_return_val_if_fail(conn != NULL && out != NULL && max > 0, FALSE);
    if (!check_path(path, "read", error))
        return FALSE;
    g_autofree char *what = g_strdup_printf("cannot read %s", path);
    /* An EXEC-kind stream: the event thread appends the bytes to the result
     * as they arrive, up to the cap, and returns credit at once.  That is
     * one copy and no hand-off per chunk, against two and one for the
     * sink form; the cap bounds what a guest can make us hold. */
    AgentStream *s = open_read(conn, path, AGENT_STREAM_EXEC, max, what, error);
    if (s == NULL)
        return FALSE;
    agent_stream_wait(conn, s, 0);
    if (s->truncated[OC_CHAN_OUT] && !s->conn_error && !s->perr) {
        g_set_error(error, OC_ERROR, OC_ELIMIT,
                    "%s: the file is larger than %" G_GSIZE_FORMAT " bytes, the limit for "
                    "reading into memory; read it to a file descriptor instead", what, max);
    } else if (read_ended_well(s, s->buf[OC_CHAN_OUT]->len, what, error)) {
        *out = g_steal_pointer(&s->buf[OC_CHAN_OUT]);
        ok = TRUE;
    }
    agent_stream_free(conn, s, FALSE);
    return ok;
}

gboolean agent_file_write(AgentConn *conn, const char *path, guint32 mode, AgentSource source,
                          gpointer user_data, guint64 *size_out, GError **error)
{
    guint8 obuf[OC_PROTO_MAX_PATH + 32];
    oc_proto_writer w;
    GError *local = NULL;
    gboolean stopped = FALSE;
    guint64 sent = 0, size = 0;

    g_return_val_if_fail(conn != NULL && source != NULL, FALSE);
    if (!check_path(path, "write", error))
        return FALSE;
    g_autofree char *what = g_strdup_printf("cannot write %s", path);
    g_autofree char *dir = parent_dir(path);
    oc_proto_writer_init(&w, obuf, sizeof obuf);
    oc_proto_put_u32(&w, OC_F_OP, OC_OP_FILE_WRITE);
    oc_proto_put_str(&w, OC_F_PATH, path);
    oc_proto_put_u32(&w, OC_F_MODE, mode ? mode : 0644);

    AgentStream *s = ops_open_stream(conn, AGENT_STREAM_SIMPLE, &w, 0, FALSE, what, error);
    if (s == NULL)
        return FALSE;
    g_autofree guint8 *buf = g_malloc(OC_PROTO_MAX_PAYLOAD);
    for (;;) {
        gssize n = source(buf, OC_PROTO_MAX_PAYLOAD, user_data, &local);
        if (n < 0 || (gsize)n > OC_PROTO_MAX_PAYLOAD) {
            agent_stream_free(conn, s, TRUE);
            if (n >= 0)
                g_set_error(error, OC_ERROR, OC_EINVAL, "%s: the data source overran its buffer",
                            what);
            else if (local)
                g_propagate_error(error, local);
            else
                g_set_error(error, OC_ERROR, OC_ECANCELLED, "%s: cancelled by the caller", what);
            return FALSE;
        }
        if (n == 0)
            break;
        if (!agent_stream_send_data(conn, s, buf, (gsize)n, 0, &stopped, &local))
            goto fail;
        if (stopped)
            break;
        sent += (guint64)n;
    }
    if (!stopped && !agent_stream_send(conn, s, OC_T_EOF, OC_CHAN_IN, NULL, 0, 0, &local))
        goto fail;
    agent_stream_wait(conn, s, 0);
    if (s->conn_error || s->perr) {
        ops_stream_error(s, error, what, dir);
        agent_stream_free(conn, s, FALSE);
        return FALSE;
    }
    if (stopped || (result_size(s, &size) && size != sent)) {
        g_set_error(error, OC_ERROR, OC_EAGENT,
                    "%s: the sandbox agent stored %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                    " bytes", what, size, sent);
        agent_stream_free(conn, s, FALSE);
        return FALSE;
    }
    agent_stream_free(conn, s, FALSE);
    if (size_out)
        *size_out = sent;
    return TRUE;

fail:
    g_set_error(error, OC_ERROR, local->code, "%s: %s", what, local->message);
    g_error_free(local);
    agent_stream_free(conn, s, TRUE);
    return FALSE;
}

/* ---- file management ---- */

void agent_file_info_free(AgentFileInfo *fi)
{
    if (fi == NULL)
        return;
    g_free(fi->name);
    g_free(fi->link_target);
    g_free(fi);
}

/* Parses entry fields (a STAT result or a LIST record). */
static AgentFileInfo *parse_entry(const guint8 *data, gsize len)
{
    oc_proto_reader r;
    oc_proto_field f;
    char text[OC_PROTO_MAX_PATH + 1];
    guint64 v;
    int rc;

    AgentFileInfo *fi = g_new0(AgentFileInfo, 1);
    oc_proto_reader_init(&r, data, len);
    while ((rc = oc_proto_next(&r, &f)) == 1) {
        switch (f.tag) {
        case OC_F_NAME:
        case OC_F_LINK_TARGET:
            if (oc_proto_field_str(&f, text, sizeof text) < 0)
                goto bad;
            char **slot = f.tag == OC_F_NAME ? &fi->name : &fi->link_target;
            g_free(*slot);
            *slot = g_utf8_make_valid(text, -1);
            break;
        case OC_F_FTYPE:
        case OC_F_SIZE:
        case OC_F_MODE:
        case OC_F_MTIME_NS:
            if (oc_proto_field_u64(&f, &v) < 0)
                goto bad;
            if (f.tag == OC_F_FTYPE)
                fi->type = v >= OC_FTYPE_FILE && v <= OC_FTYPE_OTHER ? (guint8)v : OC_FTYPE_OTHER;
            else if (f.tag == OC_F_SIZE)
                fi->size = v;
            else if (f.tag == OC_F_MODE)
                fi->mode = (guint32)v;
            else
                fi->mtime_ns = (gint64)v;
            break;
        default:
            break;
        }
    }
    if (rc < 0 || fi->name == NULL)
        goto bad;
    return fi;
bad:
    agent_file_info_free(fi);
    return NULL;
}

gboolean agent_file_stat(AgentConn *conn, const char *path, AgentFileInfo **out, GError **error)
{
    guint8 buf[OC_PROTO_MAX_PATH + 32];
    oc_proto_writer w;

    g_return_val_if_fail(conn != NULL && out != NULL, FALSE);
    if (!check_path(path, "stat", error))
        return FALSE;
    g_autofree char *what = g_strdup_printf("cannot stat %s", path);
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_OP, OC_OP_FILE_STAT);
    oc_proto_put_str(&w, OC_F_PATH, path);
    AgentStream *s = ops_open_stream(conn, AGENT_STREAM_SIMPLE, &w, 0, TRUE, what, error);
    if (s == NULL)
        return FALSE;
    gboolean ok = FALSE;
    if (s->conn_error || s->perr) {
        ops_stream_error(s, error, what, NULL);
    } else {
        AgentFileInfo *fi = parse_entry(s->result, s->result_len);
        if (fi == NULL)
            g_set_error(error, OC_ERROR, OC_EAGENT, "%s: the sandbox agent sent a malformed entry",
                        what);
        else
            *out = fi;
        ok = fi != NULL;
    }
    agent_stream_free(conn, s, FALSE);
    return ok;
}

gboolean agent_file_list(AgentConn *conn, const char *path, GPtrArray **out, GError **error)
{
    guint8 buf[OC_PROTO_MAX_PATH + 32];
    oc_proto_writer w;

    g_return_val_if_fail(conn != NULL && out != NULL, FALSE);
    if (!check_path(path, "list", error))
        return FALSE;
    g_autofree char *what = g_strdup_printf("cannot list %s", path);
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_OP, OC_OP_FILE_LIST);
    oc_proto_put_str(&w, OC_F_PATH, path);
    AgentStream *s = ops_open_stream(conn, AGENT_STREAM_INBOX, &w, 0, FALSE, what, error);
    if (s == NULL)
        return FALSE;
    return ops_read_records(conn, s, (OpsRecordParse)parse_entry,
                            (GDestroyNotify)agent_file_info_free, "entry", what, out, error);
}

gboolean ops_read_records(AgentConn *conn, AgentStream *s, OpsRecordParse parse,
                          GDestroyNotify free_item, const char *kind, const char *what,
                          GPtrArray **out, GError **error)
{
    const char *bad = NULL;
    guint64 total = 0;
    g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(free_item);
    g_autoptr(GByteArray) pending = g_byte_array_new();
    const guint8 *data;
    gsize len;
    while (bad == NULL && agent_stream_peek(conn, s, &data, &len)) {
        g_byte_array_append(pending, data, (guint)len);
        gsize pos = 0;
        while (pending->len - pos >= 4) {
            guint32 rec;
            memcpy(&rec, pending->data + pos, 4);
            rec = GUINT32_FROM_LE(rec);
            if (rec > MAX_RECORD) {
                bad = "an oversized record";
                break;
            }
            if (pending->len - pos - 4 < rec)
                break;
            if ((total += 4 + rec) > MAX_LISTING_BYTES) {
                bad = "a listing of over 64 MiB";
                break;
            }
            gpointer item = parse(pending->data + pos + 4, rec);
            if (item == NULL) {
                bad = "a malformed record";
                break;
            }
            g_ptr_array_add(items, item);
            pos += 4 + rec;
        }
        g_byte_array_remove_range(pending, 0, (guint)pos);
        agent_stream_consumed(conn, s, len);
    }
    gboolean ok = FALSE;
    if (bad)
        g_set_error(error, OC_ERROR, OC_EAGENT, "%s: the sandbox agent sent %s (%s)", what, bad,
                    kind);
    else if (s->conn_error || s->perr)
        ops_stream_error(s, error, what, NULL);
    else if (pending->len)
        g_set_error(error, OC_ERROR, OC_EAGENT, "%s: the sandbox agent sent a truncated listing",
                    what);
    else
        ok = TRUE;
    agent_stream_free(conn, s, bad != NULL);
    if (ok)
        *out = g_steal_pointer(&items);
    return ok;
}

gboolean ops_simple_op(AgentConn *conn, const oc_proto_writer *w, const char *what,
                          const char *noent_dir, GError **error)
{
    if (w->overflow) {
        g_set_error(error, OC_ERROR, OC_ELIMIT, "%s: the paths are too long", what);
        return FALSE;
    }
    AgentStream *s = ops_open_stream(conn, AGENT_STREAM_SIMPLE, w, 0, TRUE, what, error);
    if (s == NULL)
        return FALSE;
    gboolean ok = !(s->conn_error || s->perr);
    if (!ok)
        ops_stream_error(s, error, what, noent_dir);
    agent_stream_free(conn, s, FALSE);
    return ok;
}

gboolean agent_file_mkdir(AgentConn *conn, const char *path, guint32 mode, gboolean parents,
                          GError **error)
{
    guint8 buf[OC_PROTO_MAX_PATH + 48];
    oc_proto_writer w;

    g_return_val_if_fail(conn != NULL, FALSE);
    if (!check_path(path, "create a directory", error))
        return FALSE;
    g_autofree char *what = g_strdup_printf("cannot create directory %s", path);
    g_autofree char *dir = parents ? NULL : parent_dir(path);
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_OP, OC_OP_FILE_MKDIR);
    oc_proto_put_str(&w, OC_F_PATH, path);
    oc_proto_put_u32(&w, OC_F_MODE, mode ? mode : 0755);
    oc_proto_put_u8(&w, OC_F_PARENTS, parents ? 1 : 0);
    return ops_simple_op(conn, &w, what, dir, error);
}

gboolean agent_file_remove(AgentConn *conn, const char *path, gboolean recursive, GError **error)
{
    guint8 buf[OC_PROTO_MAX_PATH + 48];
    oc_proto_writer w;

    g_return_val_if_fail(conn != NULL, FALSE);
    if (!check_path(path, "remove", error))
        return FALSE;
    g_autofree char *what = g_strdup_printf("cannot remove %s", path);
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_OP, OC_OP_FILE_REMOVE);
    oc_proto_put_str(&w, OC_F_PATH, path);
    oc_proto_put_u8(&w, OC_F_RECURSIVE, recursive ? 1 : 0);
    return ops_simple_op(conn, &w, what, NULL, error);
}

gboolean agent_file_rename(AgentConn *conn, const char *from, const char *to, GError **error)
{
    guint8 buf[2 * OC_PROTO_MAX_PATH + 48];
    oc_proto_writer w;

    g_return_val_if_fail(conn != NULL, FALSE);
    if (!check_path(from, "rename", error) || !check_path(to, "rename", error))
        return FALSE;
    g_autofree char *what = g_strdup_printf("cannot rename %s to %s", from, to);
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_OP, OC_OP_FILE_RENAME);
    oc_proto_put_str(&w, OC_F_PATH, from);
    oc_proto_put_str(&w, OC_F_NEW_PATH, to);
    return ops_simple_op(conn, &w, what, NULL, error);
}
