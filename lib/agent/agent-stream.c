/* agent-stream.c: the streams multiplexed on an AgentConn: the stream table,
 * credit in both directions, and the frames the guest sends on a stream.
 * The connection (agent-conn.c) hands those frames over under conn->lock, on
 * the event thread.
 */
#include "agent-private.h"

#include <string.h>

#include "util/bigbuf.h"
#include "util/log.h"

static void put_u32_le(guint8 out[4], guint32 v)
{
    guint32 le = GUINT32_TO_LE(v);
    memcpy(out, &le, 4);
}

/* ---- the stream table ---- */

AgentStream *agent_stream_new(AgentConn *conn, AgentStreamKind kind, GError **error)
{
    g_mutex_lock(&conn->lock);
    if (!conn->alive) {
        g_set_error_literal(error, OC_ERROR, conn->dead_code, conn->dead_msg);
        g_mutex_unlock(&conn->lock);
        return NULL;
    }
    AgentStream *s = g_new0(AgentStream, 1);
    s->kind = kind;
    s->last_rx = g_get_monotonic_time();
    g_cond_init(&s->cond);
    if (kind == AGENT_STREAM_INBOX)
        s->ring = g_malloc(OC_PROTO_INITIAL_WINDOW);
    s->send_credit = OC_PROTO_INITIAL_WINDOW;
    for (int c = 0; c < 3; c++)
        s->recv_credit[c] = OC_PROTO_INITIAL_WINDOW;
    if (kind == AGENT_STREAM_EXEC) {
        s->buf[OC_CHAN_OUT] = g_byte_array_new();
        s->buf[OC_CHAN_ERR] = g_byte_array_new();
    }
    s->stray_at_open = conn->stray;
    do {
        s->id = conn->next_id;
        conn->next_id += 2; /* odd ids only; wraps from 0xffffffff to 1 */
    } while (g_hash_table_contains(conn->streams, GUINT_TO_POINTER(s->id)));
    g_hash_table_insert(conn->streams, GUINT_TO_POINTER(s->id), s);
    g_mutex_unlock(&conn->lock);
    conn_ref(conn);
    return s;
}

void agent_stream_free(AgentConn *conn, AgentStream *s, gboolean cancel)
{
    if (s == NULL)
        return;
    g_mutex_lock(&conn->lock);
    g_hash_table_remove(conn->streams, GUINT_TO_POINTER(s->id));
    cancel = cancel && !s->done && conn->alive;
    g_mutex_unlock(&conn->lock);
    if (cancel && conn_ctrl_queue(conn, OC_T_CANCEL, 0, s->id, NULL, 0, FALSE))
        conn_ctrl_kick(conn);
    g_free(s->ring);
    g_queue_clear_full(&s->events, g_free);
    for (int c = 0; c < 3; c++)
        if (s->buf[c])
            g_byte_array_unref(s->buf[c]);
    g_clear_error(&s->conn_error);
    g_free(s->pmsg);
    g_free(s->result);
    g_cond_clear(&s->cond);
    g_free(s);
    conn_unref(conn);
}

void agent_conn_set_stall_timeout(AgentConn *conn, guint ms)
{
    g_mutex_lock(&conn->lock);
    conn->stall_us = (gint64)ms * G_TIME_SPAN_MILLISECOND;
    g_mutex_unlock(&conn->lock);
}

void conn_note_partial_locked(AgentConn *conn, const guint8 *p, gsize len)
{
    oc_proto_header h;

    if (len != conn->partial)
        conn->partial_since = g_get_monotonic_time();
    conn->partial = len;
    conn->partial_of = 0;
    if (len >= OC_PROTO_HEADER_SIZE && oc_proto_header_decode(&h, p) == 0)
        conn->partial_of = OC_PROTO_HEADER_SIZE + h.length;
}

char *agent_stream_silence_locked(AgentConn *conn, AgentStream *s)
{
    gint64 ago = (g_get_monotonic_time() - conn->partial_since) / G_USEC_PER_SEC;

    if (conn->partial && ago >= 1) {
        g_autofree char *of = conn->partial_of ? g_strdup_printf("%" G_GSIZE_FORMAT,
                                                                 conn->partial_of)
                                               : g_strdup("a header's 12");
        return g_strdup_printf("; the sandbox agent stopped in the middle of a frame %"
                               G_GINT64_FORMAT " s ago (%" G_GSIZE_FORMAT " of %s bytes came)",
                               ago, conn->partial, of);
    }
    if (conn->stray > s->stray_at_open)
        return g_strdup_printf("; meanwhile the sandbox agent sent %" G_GUINT64_FORMAT
                               " frames for requests that are not open",
                               conn->stray - s->stray_at_open);
    return g_strdup("");
}

/* Under conn->lock: a stall_guard stream that got nothing for too long. */
static void stream_stalled_locked(AgentConn *conn, AgentStream *s)
{
    gint64 ms = conn->stall_us / G_TIME_SPAN_MILLISECOND;
    g_autofree char *why = agent_stream_silence_locked(conn, s);
    g_autofree char *span = ms % 1000 == 0 ? g_strdup_printf("%" G_GINT64_FORMAT " s", ms / 1000)
                                           : g_strdup_printf("%" G_GINT64_FORMAT " ms", ms);

    s->conn_error = g_error_new(OC_ERROR, OC_ETIMEOUT, "the sandbox agent sent nothing on this "
                                "request for %s (it is stuck or hostile); the request was "
                                "cancelled%s", span, why);
    s->done = TRUE;
    g_cond_broadcast(&s->cond);
    /* It may only be slow: it should stop.  Through the control queue, as
     * nothing here may block on a guest. */
    if (conn->alive && conn_ctrl_queue(conn, OC_T_CANCEL, 0, s->id, NULL, 0, FALSE))
        conn_ctrl_kick(conn);
}

/* One wait on s->cond under conn->lock; callers loop on their condition.
 * FALSE once deadline has passed (0: none) or, for a stall_guard stream
 * without a deadline, once nothing has come on it for conn->stall_us since
 * `since` (the wait's start) or its last frame, whichever is later: that
 * fails the stream. */
static gboolean wait_step(AgentConn *conn, AgentStream *s, gint64 deadline, gint64 since)
{
    gint64 until = deadline;

    if (until == 0 && s->stall_guard)
        until = MAX(since, s->last_rx) + conn->stall_us;
    if (until == 0) {
        g_cond_wait(&s->cond, &conn->lock);
        return TRUE;
    }
    if (g_get_monotonic_time() < until) {
        g_cond_wait_until(&s->cond, &conn->lock, until);
        return TRUE;
    }
    if (deadline == 0)
        stream_stalled_locked(conn, s);
    return FALSE;
}

gboolean agent_stream_send(AgentConn *conn, AgentStream *s, guint8 type, guint8 chan,
                           const void *payload, gsize len, gint64 deadline, GError **error)
{
    return conn_write_frame(conn, type, chan, s->id, payload, len, deadline, error);
}

gboolean agent_stream_send_data(AgentConn *conn, AgentStream *s, const void *data, gsize len,
                                gint64 deadline, gboolean *stopped, GError **error)
{
    gsize off = 0;

    *stopped = FALSE;
    while (off < len) {
        gint64 since = g_get_monotonic_time();
        g_mutex_lock(&conn->lock);
        while (!s->done && s->send_credit == 0) {
            if (!wait_step(conn, s, deadline, since) && !s->done && s->send_credit == 0) {
                g_mutex_unlock(&conn->lock);
                g_set_error_literal(error, OC_ERROR, OC_ETIMEOUT,
                                    "timed out waiting for the sandbox agent to take input");
                return FALSE;
            }
        }
        if (s->done) {
            g_mutex_unlock(&conn->lock);
            *stopped = TRUE;
            return TRUE;
        }
        gsize n = MIN(len - off, MIN(s->send_credit, OC_PROTO_MAX_PAYLOAD));
        s->send_credit -= n;
        g_mutex_unlock(&conn->lock);
        if (!conn_write_frame(conn, OC_T_DATA, OC_CHAN_IN, s->id, (const guint8 *)data + off, n,
                              deadline, error))
            return FALSE;
        off += n;
    }
    return TRUE;
}

gboolean agent_stream_wait(AgentConn *conn, AgentStream *s, gint64 deadline)
{
    gint64 since = g_get_monotonic_time();

    g_mutex_lock(&conn->lock);
    while (!s->done && wait_step(conn, s, deadline, since))
        ;
    gboolean done = s->done;
    g_mutex_unlock(&conn->lock);
    return done;
}

gboolean agent_stream_peek(AgentConn *conn, AgentStream *s, const guint8 **data, gsize *len)
{
    gint64 since = g_get_monotonic_time();

    g_mutex_lock(&conn->lock);
    while (s->ring_len == 0 && !s->done && wait_step(conn, s, 0, since))
        ;
    gboolean ok = s->ring_len > 0 && s->conn_error == NULL && s->perr == 0;
    if (ok) {
        *data = s->ring + s->ring_head;
        *len = MIN(s->ring_len, OC_PROTO_INITIAL_WINDOW - s->ring_head);
    }
    g_mutex_unlock(&conn->lock);
    return ok;
}

/* Credit goes back in steps of this much.  The agent takes an attacher that
 * has granted nothing for a second as stalled and skips its output, so a
 * reader that is slow but steady must grant often: with half the window
 * (2 MiB) per step, one taking 5 ms per callback looked stalled on a busy
 * host and lost output. */
#define CREDIT_RETURN_STEP (OC_PROTO_INITIAL_WINDOW / 16)

/* Counts consumed bytes and returns credit in CREDIT_RETURN_STEP steps.  The
 * WINDOW goes through the control queue: neither the event thread nor a
 * caller may block on a guest that is not reading. */
static void return_credit_locked(AgentConn *conn, AgentStream *s, guint8 chan, gsize len)
{
    s->unreturned[chan] += len;
    if (s->unreturned[chan] >= CREDIT_RETURN_STEP && !s->done) {
        guint8 p[4];
        put_u32_le(p, (guint32)s->unreturned[chan]);
        s->recv_credit[chan] += s->unreturned[chan];
        s->unreturned[chan] = 0;
        conn_ctrl_queue(conn, OC_T_WINDOW, chan, s->id, p, 4, FALSE);
        conn->ctrl_dirty = TRUE;
    }
}

void agent_stream_consumed(AgentConn *conn, AgentStream *s, gsize len)
{
    g_mutex_lock(&conn->lock);
    s->ring_head = (s->ring_head + len) % OC_PROTO_INITIAL_WINDOW;
    s->ring_len -= len;
    return_credit_locked(conn, s, OC_CHAN_OUT, len);
    g_mutex_unlock(&conn->lock);
    conn_ctrl_kick(conn);
}

/* ---- EVENTS streams ---- */

gboolean agent_stream_wait_event(AgentConn *conn, AgentStream *s, gint64 deadline)
{
    gboolean ready;

    g_mutex_lock(&conn->lock);
    while (g_queue_is_empty(&s->events) && !s->done) {
        if (deadline == 0)
            g_cond_wait(&s->cond, &conn->lock);
        else if (!g_cond_wait_until(&s->cond, &conn->lock, deadline))
            break;
    }
    ready = !g_queue_is_empty(&s->events) || s->done;
    g_mutex_unlock(&conn->lock);
    return ready;
}

AgentEvent *agent_stream_next_event(AgentConn *conn, AgentStream *s, gint64 deadline)
{
    AgentEvent *ev = NULL;

    if (!agent_stream_wait_event(conn, s, deadline))
        return NULL;
    g_mutex_lock(&conn->lock);
    ev = g_queue_pop_head(&s->events);
    g_mutex_unlock(&conn->lock);
    if (ev == NULL) {
        ev = g_new0(AgentEvent, 1);
        ev->kind = AGENT_EVENT_END;
    }
    return ev;
}

void agent_stream_event_free(AgentConn *conn, AgentStream *s, AgentEvent *ev)
{
    if (ev == NULL)
        return;
    if (ev->kind == AGENT_EVENT_OUTPUT) {
        g_mutex_lock(&conn->lock);
        return_credit_locked(conn, s, ev->chan, ev->len);
        g_mutex_unlock(&conn->lock);
        conn_ctrl_kick(conn);
    }
    g_free(ev);
}

static void queue_event(AgentStream *s, AgentEventKind kind, guint8 chan, const guint8 *data,
                        gsize len)
{
    AgentEvent *ev = g_malloc(sizeof *ev + len);
    ev->kind = kind;
    ev->chan = chan;
    ev->skipped = 0;
    if (kind == AGENT_EVENT_OUTPUT) {
        ev->skipped = s->skipped[chan];
        s->skipped[chan] = 0;
    }
    ev->len = len;
    if (len)
        memcpy(ev->data, data, len);
    g_queue_push_tail(&s->events, ev);
    g_cond_broadcast(&s->cond);
}

/* ---- frames from the guest ---- */

static void stream_take_error(AgentStream *s, const guint8 *payload, guint32 len)
{
    oc_proto_reader r;
    oc_proto_field f;
    char text[1024] = "";

    s->perr = OC_PERR_PROTOCOL;
    oc_proto_reader_init(&r, payload, len);
    while (oc_proto_next(&r, &f) == 1) {
        if (f.tag == OC_F_ERRCODE)
            oc_proto_field_u32(&f, &s->perr);
        else if (f.tag == OC_F_MESSAGE) {
            /* Long messages are cut, not refused. */
            oc_proto_field tmp = f;
            tmp.len = MIN(f.len, sizeof text - 1);
            if (oc_proto_field_str(&tmp, text, sizeof text) < 0)
                text[0] = '\0';
        }
    }
    if (s->perr == 0)
        s->perr = OC_PERR_PROTOCOL;
    s->pmsg = g_utf8_make_valid(text, -1);
}

/* INFO.  A whole-file read announces the file's size: size the buffer for
 * it once (only a hint: the data may still end up shorter or longer, as the
 * file changed, and the cap holds either way).  An attach announces a
 * terminal, the end of the replay, and skips. */
static void take_info(AgentStream *s, guint8 chan, const guint8 *payload, guint32 len)
{
    oc_proto_reader r;
    oc_proto_field f;
    guint64 size;
    guint32 v;

    oc_proto_reader_init(&r, payload, len);
    while (oc_proto_next(&r, &f) == 1) {
        if (f.tag == OC_F_SIZE && s->kind == AGENT_STREAM_EXEC &&
            s->buf[OC_CHAN_OUT]->len == 0 && oc_proto_field_u64(&f, &size) == 0 &&
            size <= s->max_output)
            /* + 1: the NUL oc_files_read() adds must not reallocate it */
            bigbuf_reserve(s->buf[OC_CHAN_OUT], (gsize)size + 1);
        if (f.tag == OC_F_COLS && s->kind == AGENT_STREAM_EVENTS)
            s->pty = TRUE;
        /* Folded into the next output: INFO is not under credit, so it
         * must not queue events of its own. */
        if (f.tag == OC_F_SKIPPED && s->kind == AGENT_STREAM_EVENTS &&
            (chan == OC_CHAN_OUT || chan == OC_CHAN_ERR) && oc_proto_field_u64(&f, &size) == 0)
            s->skipped[chan] += size;
        /* Once only: INFO is not under credit, so repeats must not queue.
         * A port connection's INFO (its PORT) says the same: nothing came
         * before it. */
        if ((f.tag == OC_F_REPLAY_END || f.tag == OC_F_PORT) &&
            s->kind == AGENT_STREAM_EVENTS && !s->replay_seen &&
            oc_proto_field_u32(&f, &v) == 0 && v) {
            s->replay_seen = TRUE;
            queue_event(s, AGENT_EVENT_REPLAY_END, 0, NULL, 0);
        }
    }
}

gboolean agent_stream_handle_frame(AgentConn *conn, const oc_proto_header *h,
                                   const guint8 *payload)
{
    AgentStream *s = NULL;

    if (h->stream == 0) {
        if (h->type == OC_T_ERROR) {
            /* Connection-level complaint; the agent keeps the connection. */
            AgentStream tmp = { 0 };
            stream_take_error(&tmp, payload, h->length);
            log_warning("the sandbox agent reported: %s: %s", oc_proto_err_name(tmp.perr),
                        tmp.pmsg);
            g_free(tmp.pmsg);
            return TRUE;
        }
        return conn_proto_violation(conn, "%s on stream 0", oc_proto_type_name(h->type));
    }
    if ((h->type == OC_T_DATA || h->type == OC_T_EOF) &&
        h->chan != OC_CHAN_OUT && h->chan != OC_CHAN_ERR)
        return conn_proto_violation(conn, "%s on channel %u of stream %u",
                                    oc_proto_type_name(h->type), h->chan, h->stream);
    if (h->type == OC_T_WINDOW && (h->chan != OC_CHAN_IN || h->length != 4))
        return conn_proto_violation(conn, "malformed WINDOW on stream %u", h->stream);

    s = g_hash_table_lookup(conn->streams, GUINT_TO_POINTER(h->stream));
    if (s == NULL || s->done) {
        conn->stray++;
        return TRUE; /* in flight after a cancel or an error */
    }
    s->last_rx = g_get_monotonic_time();
    s->heard = TRUE;

    switch (h->type) {
    case OC_T_DATA:
        if (h->length > s->recv_credit[h->chan])
            return conn_proto_violation(conn,
                                        "%u bytes of DATA on stream %u beyond the "
                                        "%" G_GUINT64_FORMAT " bytes of credit granted",
                                        h->length, h->stream, s->recv_credit[h->chan]);
        if (s->eof[h->chan])
            return conn_proto_violation(conn, "DATA after EOF on stream %u", h->stream);
        s->recv_credit[h->chan] -= h->length;
        if (s->kind == AGENT_STREAM_EXEC) {
            GByteArray *b = s->buf[h->chan];
            gsize keep = b->len < s->max_output ? MIN(h->length, s->max_output - b->len) : 0;
            if (keep)
                g_byte_array_append(b, payload, (guint)keep);
            if (keep < h->length)
                s->truncated[h->chan] = TRUE;
            return_credit_locked(conn, s, h->chan, h->length);
        } else if (s->kind == AGENT_STREAM_INBOX && h->chan == OC_CHAN_OUT) {
            if (s->ring_len + h->length > OC_PROTO_INITIAL_WINDOW)
                return conn_proto_violation(conn, "more DATA on stream %u than the window",
                                            h->stream);
            gsize tail = (s->ring_head + s->ring_len) % OC_PROTO_INITIAL_WINDOW;
            gsize first = MIN((gsize)h->length, OC_PROTO_INITIAL_WINDOW - tail);
            memcpy(s->ring + tail, payload, first);
            memcpy(s->ring, payload + first, h->length - first);
            s->ring_len += h->length;
            g_cond_broadcast(&s->cond);
        } else if (s->kind == AGENT_STREAM_EVENTS) {
            if (h->length) /* credit comes back when the consumer frees it */
                queue_event(s, AGENT_EVENT_OUTPUT, h->chan, payload, h->length);
        } else {
            return_credit_locked(conn, s, h->chan, h->length); /* nobody wants it */
        }
        return TRUE;
    case OC_T_EOF:
        s->eof[h->chan] = TRUE;
        g_cond_broadcast(&s->cond);
        return TRUE;
    case OC_T_WINDOW: {
        guint32 v;
        memcpy(&v, payload, 4);
        s->send_credit += GUINT32_FROM_LE(v);
        g_cond_broadcast(&s->cond);
        return TRUE;
    }
    case OC_T_RESULT:
        s->result = g_memdup2(payload, h->length);
        s->result_len = h->length;
        s->done = TRUE;
        g_cond_broadcast(&s->cond);
        return TRUE;
    case OC_T_ERROR:
        stream_take_error(s, payload, h->length);
        s->done = TRUE;
        g_cond_broadcast(&s->cond);
        return TRUE;
    case OC_T_INFO:
        take_info(s, h->chan, payload, h->length);
        return TRUE;
    default:
        g_assert_not_reached();
    }
}
