/* agent-private.h: what the parts of the agent client share: agent-conn.c
 * (the connection: socket, writes, control queue, reading and the
 * handshake), agent-ping.c (its round trip), agent-stream.c (the streams
 * multiplexed on it and their flow control), and the operations built on
 * streams: agent-ops.c (exec, files), agent-sessions.c and agent-attach.c.
 *
 * Locking.  conn->lock guards the stream table, the handshake, the pings and
 * dead_* fields and every AgentStream's state; a stream's cond is waited on with
 * conn->lock.  Writes to the socket are serialized by the write lock (wbusy)
 * and never happen under conn->lock, since a write may block on the guest.
 * ctrl_lock guards the control queue and conn->source.  conn->lock may be
 * held while taking wmutex or ctrl_lock, never the other way round.
 */
#ifndef OC_AGENT_PRIVATE_H
#define OC_AGENT_PRIVATE_H

#include "agent.h"
#include "oc-proto.h"
#include "util/error.h"

struct _AgentConn {
    gint refcount;
    GMainContext *ctx;
    int fd;
    gint alive; /* atomic; written under lock */

    GMutex lock;
    GCond hs_cond;  /* the handshake ended, a PONG came, or the connection died */
    int hs_state; /* 0 waiting for HELLO_ACK, 1 done, -1 failed */
    GSList *pings;  /* AgentPing* waiting for their PONG (agent-ping.c) */
    guint64 nonce;
    char *agent_version;
    guint32 version;        /* the protocol version agreed in the handshake */
    int dead_code;
    char *dead_msg;
    GHashTable *streams; /* id -> AgentStream* */
    guint32 next_id;
    gint64 stall_us;     /* agent_conn_set_stall_timeout() */
    /* What the guest sent instead of answers, for the messages of calls it
     * left unanswered (agent_stream_silence_locked). */
    guint64 stray;        /* frames for streams that are not open */
    gsize partial;        /* bytes of an incomplete frame held (0: none) */
    gsize partial_of;     /* that frame's size (0: its header is incomplete) */
    gint64 partial_since; /* monotonic: when it stopped growing */

    /* The write lock: a flag rather than a mutex so that waiting for it
     * can time out and the event thread can try it without blocking. */
    GMutex wmutex;
    GCond wcond;
    gboolean wbusy;

    GMutex ctrl_lock;
    GByteArray *ctrl_out;   /* whole frames; a partial one only at the front */
    gboolean kick_pending;  /* an idle flush is scheduled on ctx */
    GSource *source;        /* under ctrl_lock; NULL once closed */

    /* event thread only */
    guint8 *rbuf;
    gsize rstart; /* unhandled bytes are rbuf[rstart, rlen) */
    gsize rlen;
    gboolean ctrl_dirty;
};

typedef enum {
    AGENT_STREAM_SIMPLE, /* only a RESULT/ERROR is expected */
    AGENT_STREAM_EXEC,   /* the event thread keeps stdout/stderr up to a cap */
    AGENT_STREAM_INBOX,  /* the event thread queues chan OUT data for the caller */
    AGENT_STREAM_EVENTS, /* the event thread queues AgentEvents for the caller */
} AgentStreamKind;

typedef struct {
    guint32 id;
    AgentStreamKind kind;
    GCond cond;
    /* A request the agent answers by itself (files, session control), not
     * a process's output: waits without a deadline give up when nothing has
     * come on it for conn->stall_us. */
    gboolean stall_guard;
    gint64 last_rx;         /* monotonic: the stream's last frame (or its OPEN) */
    gboolean heard;         /* a frame came on it */
    guint64 stray_at_open;  /* conn->stray when it opened */
    gboolean done;          /* RESULT, ERROR or connection loss */
    GError *conn_error;     /* set if the connection failed */
    guint32 perr;           /* ERROR frame: OC_PERR_*, 0 if none */
    char *pmsg;             /* ERROR frame: the agent's message (valid UTF-8) */
    guint8 *result;         /* RESULT payload */
    gsize result_len;
    guint64 send_credit;    /* what we may still send on OC_CHAN_IN */
    guint64 recv_credit[3]; /* what the guest may still send on OUT/ERR */
    guint64 unreturned[3];  /* consumed (INBOX: by the caller), not yet returned */
    gboolean eof[3];
    /* AGENT_STREAM_EXEC */
    GByteArray *buf[3];
    gsize max_output;
    gboolean truncated[3];
    /* AGENT_STREAM_INBOX: OC_CHAN_OUT data not yet consumed, in a ring of
     * OC_PROTO_INITIAL_WINDOW bytes: credit is only returned for consumed
     * bytes, so a guest that keeps to its credit cannot overfill it. */
    guint8 *ring;
    gsize ring_head;
    gsize ring_len;
    /* AGENT_STREAM_EVENTS: AgentEvent*, oldest first.  Output is bounded by
     * the credit, and a REPLAY_END is queued once. */
    GQueue events;
    gboolean replay_seen;
    gboolean pty;           /* the attach's INFO gave the terminal size */
    guint64 skipped[3];     /* announced by INFO, for the next output event */
} AgentStream;

/* Registers a new stream on a fresh odd id; holds a connection reference. */
AgentStream *agent_stream_new(AgentConn *conn, AgentStreamKind kind, GError **error);
/* Unregisters and frees the stream; with cancel (and the stream not done),
 * sends CANCEL first, best effort. */
void agent_stream_free(AgentConn *conn, AgentStream *s, gboolean cancel);
/* Sends one frame on the stream.  deadline: g_get_monotonic_time() bound, 0 =
 * none. */
gboolean agent_stream_send(AgentConn *conn, AgentStream *s, guint8 type, guint8 chan,
                           const void *payload, gsize len, gint64 deadline, GError **error);
/* Sends bytes as DATA on OC_CHAN_IN within the guest's credit.  Returns TRUE
 * early (with *stopped set) if the stream ended meanwhile, e.g. the agent
 * answered ERROR. */
gboolean agent_stream_send_data(AgentConn *conn, AgentStream *s, const void *data, gsize len,
                                gint64 deadline, gboolean *stopped, GError **error);
/* Waits until the stream is done.  FALSE if the deadline passed first.
 * Deadline 0 is none; for a stall_guard stream, a stall then ends it (with
 * conn_error OC_ETIMEOUT and a CANCEL to the agent), as it does the waits
 * of agent_stream_peek() and agent_stream_send_data(). */
gboolean agent_stream_wait(AgentConn *conn, AgentStream *s, gint64 deadline);
/* INBOX streams: waits for data and points *data at the next contiguous
 * piece of it, which stays valid until agent_stream_consumed().  FALSE once
 * the stream is done and drained (or failed). */
gboolean agent_stream_peek(AgentConn *conn, AgentStream *s, const guint8 **data, gsize *len);
/* Releases the piece from agent_stream_peek() and returns credit for it
 * (sends WINDOW as needed). */
void agent_stream_consumed(AgentConn *conn, AgentStream *s, gsize len);

/* EVENTS streams: waits until an event is queued or the stream is done
 * (TRUE), or the deadline passes (FALSE). */
gboolean agent_stream_wait_event(AgentConn *conn, AgentStream *s, gint64 deadline);
/* EVENTS streams: the next event, AGENT_EVENT_END once done and drained,
 * NULL at the deadline. */
AgentEvent *agent_stream_next_event(AgentConn *conn, AgentStream *s, gint64 deadline);
/* Frees an event of s, returning its credit. */
void agent_stream_event_free(AgentConn *conn, AgentStream *s, AgentEvent *ev);

/* Under conn->lock: what the guest did instead of answering s, as a clause
 * to append to an error message ("; ..."), or "". */
char *agent_stream_silence_locked(AgentConn *conn, AgentStream *s);
/* Event thread, under conn->lock: the incomplete frame (len bytes at p)
 * that ends what has been read, for agent_stream_silence_locked(). */
void conn_note_partial_locked(AgentConn *conn, const guint8 *p, gsize len);

/* Shared by the operations (agent-ops.c, agent-sessions.c). */

/* Sets *error from a stream that ended badly.  what: "cannot read /x".
 * noent_dir: for NOENT, the directory that must be missing (or NULL). */
void ops_stream_error(AgentStream *s, GError **error, const char *what, const char *noent_dir);
/* Opens a stream and sends OPEN with w's payload; with wait, also waits for
 * the end.  max_output caps what an EXEC-kind stream keeps. */
AgentStream *ops_open_stream(AgentConn *conn, AgentStreamKind kind, const oc_proto_writer *w,
                             gsize max_output, gboolean wait, const char *what, GError **error);
/* Runs a request that answers a bare RESULT. */
gboolean ops_simple_op(AgentConn *conn, const oc_proto_writer *w, const char *what,
                       const char *noent_dir, GError **error);
/* Sets *error from an EXEC or SESSION_START stream that ended badly. */
void ops_exec_error(AgentStream *s, const AgentExecRequest *req, GError **error,
                    const char *what);
/* Fills the exit fields of out (exit code, signal, timed out, duration)
 * from s's RESULT; FALSE if it has no EXIT_CODE. */
gboolean ops_parse_exit(AgentStream *s, AgentExecResult *out);
/* Sets *error from a session operation's stream that ended badly: NOENT
 * is an unknown session. */
void ops_session_error(AgentStream *s, GError **error, const char *what);
/* Writes an EXEC-shaped OPEN payload (op: EXEC or SESSION_START) into buf
 * (OC_PROTO_MAX_PAYLOAD bytes). */
gboolean ops_put_exec_request(oc_proto_writer *w, guint8 *buf, guint32 op,
                              const AgentExecRequest *req, const char *what, GError **error);
/* Reads the length-prefixed records of a listing (INBOX stream) into *out,
 * parsing each with parse (NULL: malformed), and frees the stream. */
typedef gpointer (*OpsRecordParse)(const guint8 *data, gsize len);
gboolean ops_read_records(AgentConn *conn, AgentStream *s, OpsRecordParse parse,
                          GDestroyNotify free_item, const char *kind, const char *what,
                          GPtrArray **out, GError **error);

/* Between agent-conn.c and agent-stream.c. */

AgentConn *conn_ref(AgentConn *conn);
void conn_unref(AgentConn *conn);
/* Writes one frame, blocking, after the queued control frames.  deadline:
 * g_get_monotonic_time() bound, 0 = none. */
gboolean conn_write_frame(AgentConn *conn, guint8 type, guint8 chan, guint32 stream,
                          const void *payload, gsize len, gint64 deadline, GError **error);
/* Queues a small frame for whoever next holds the write lock, so that the
 * event thread never blocks on the socket; FALSE if dropped (droppable and
 * over the cap).  The event thread then sets conn->ctrl_dirty, any other
 * thread calls conn_ctrl_kick(). */
gboolean conn_ctrl_queue(AgentConn *conn, guint8 type, guint8 chan, guint32 stream,
                         const void *payload, guint32 len, gboolean droppable);
void conn_ctrl_kick(AgentConn *conn);
gboolean conn_alive(AgentConn *conn);
/* Sets *error to why the (dead) connection died. */
void conn_set_dead_error(AgentConn *conn, GError **error);
/* Event thread, under conn->lock: a PONG came (agent-ping.c). */
void conn_ping_answered_locked(AgentConn *conn, const guint8 *payload, guint32 len);
/* Under conn->lock: kills the connection; always returns FALSE. */
gboolean conn_proto_violation(AgentConn *conn, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Event thread, under conn->lock: a DATA, EOF, WINDOW, RESULT or ERROR frame.
 * FALSE if it killed the connection. */
gboolean agent_stream_handle_frame(AgentConn *conn, const oc_proto_header *h,
                                   const guint8 *payload);

#endif
