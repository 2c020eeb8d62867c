/* agent-conn.c: one connection to a guest's oc-agent: the socket, framing
 * and handshake.  The streams multiplexed on it are in agent-stream.c.
 *
 * Threads.  The event thread (the one running conn->ctx) reads the socket
 * into one large buffer and handles frames in place.  Calling threads write
 * their own frames, blocking, one frame at a time under the write lock.  The
 * event thread must never block, or a guest that blocks writing to us while
 * we block writing to it would deadlock both: its small frames (WINDOW, PONG)
 * and the calling threads' CANCELs go through the ctrl queue instead, which
 * whoever holds the write lock flushes before its own frame, and the event
 * thread flushes without blocking (waiting for POLLOUT when the socket is
 * full).
 */
#include "agent-private.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"

/* Reads take at least RBUF_MIN_READ; a partial frame left at the end is
 * moved to the front only when the space after it drops below that. */
#define RBUF_MIN_READ (1024u * 1024u)
#define RBUF_CAP (2u * 1024u * 1024u + OC_PROTO_HEADER_SIZE + OC_PROTO_MAX_PAYLOAD)
#define HELLO_RESEND_US (500 * G_TIME_SPAN_MILLISECOND)
/* PONGs are dropped beyond this much queued control data. */
#define CTRL_SOFT_CAP (1024u * 1024u)
#define LOST_MSG "lost the connection to the sandbox agent"
typedef struct {
    GSource base;
    AgentConn *conn;
    gpointer tag;
} ConnSource;

AgentConn *conn_ref(AgentConn *conn)
{
    g_atomic_int_inc(&conn->refcount);
    return conn;
}

void conn_unref(AgentConn *conn)
{
    if (!g_atomic_int_dec_and_test(&conn->refcount))
        return;
    g_assert(conn->source == NULL);
    if (conn->fd >= 0)
        close(conn->fd);
    g_hash_table_unref(conn->streams);
    g_byte_array_unref(conn->ctrl_out);
    g_free(conn->rbuf);
    g_free(conn->agent_version);
    g_free(conn->dead_msg);
    g_mutex_clear(&conn->lock);
    g_cond_clear(&conn->hs_cond);
    g_mutex_clear(&conn->wmutex);
    g_cond_clear(&conn->wcond);
    g_mutex_clear(&conn->ctrl_lock);
    g_main_context_unref(conn->ctx);
    g_free(conn);
}

gboolean conn_alive(AgentConn *conn)
{
    return g_atomic_int_get(&conn->alive);
}

/* Kills the connection: every call in flight fails with code/msg. */
static void conn_fail_locked(AgentConn *conn, int code, const char *msg)
{
    GHashTableIter it;
    gpointer value;

    if (!conn->alive)
        return;
    log_debug("agent connection failed: %s", msg);
    g_atomic_int_set(&conn->alive, 0);
    conn->dead_code = code;
    conn->dead_msg = g_strdup(msg);
    g_hash_table_iter_init(&it, conn->streams);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        AgentStream *s = value;
        if (!s->done) {
            s->conn_error = g_error_new_literal(OC_ERROR, code, msg);
            s->done = TRUE;
        }
        g_cond_broadcast(&s->cond);
    }
    if (conn->hs_state == 0)
        conn->hs_state = -1;
    g_cond_broadcast(&conn->hs_cond);
    g_mutex_lock(&conn->wmutex);
    g_cond_broadcast(&conn->wcond);
    g_mutex_unlock(&conn->wmutex);
    /* Not close(): other threads may still be in poll() or send() on it. */
    shutdown(conn->fd, SHUT_RDWR);
}

static void conn_fail(AgentConn *conn, int code, const char *msg)
{
    g_mutex_lock(&conn->lock);
    conn_fail_locked(conn, code, msg);
    g_mutex_unlock(&conn->lock);
}

void conn_set_dead_error(AgentConn *conn, GError **error)
{
    g_mutex_lock(&conn->lock);
    g_set_error_literal(error, OC_ERROR, conn->dead_msg ? conn->dead_code : OC_EAGENT,
                        conn->dead_msg ? conn->dead_msg : LOST_MSG);
    g_mutex_unlock(&conn->lock);
}

/* ---- writing ---- */

static gboolean wl_acquire(AgentConn *conn, gint64 deadline)
{
    g_mutex_lock(&conn->wmutex);
    while (conn->wbusy && conn_alive(conn)) {
        if (deadline == 0)
            g_cond_wait(&conn->wcond, &conn->wmutex);
        else if (!g_cond_wait_until(&conn->wcond, &conn->wmutex, deadline) && conn->wbusy)
            break;
    }
    gboolean got = !conn->wbusy && conn_alive(conn);
    if (got)
        conn->wbusy = TRUE;
    g_mutex_unlock(&conn->wmutex);
    return got;
}

static gboolean wl_try(AgentConn *conn)
{
    g_mutex_lock(&conn->wmutex);
    gboolean got = !conn->wbusy;
    if (got)
        conn->wbusy = TRUE;
    g_mutex_unlock(&conn->wmutex);
    return got;
}

static void wl_release(AgentConn *conn)
{
    g_mutex_lock(&conn->wmutex);
    conn->wbusy = FALSE;
    g_cond_signal(&conn->wcond);
    g_mutex_unlock(&conn->wmutex);
}

/* Without a deadline, how long writes may make no progress: an agent that
 * stops reading its port must not hang the caller either. */
static gint64 stall_deadline(AgentConn *conn)
{
    g_mutex_lock(&conn->lock);
    gint64 at = g_get_monotonic_time() + conn->stall_us;
    g_mutex_unlock(&conn->lock);
    return at;
}

/* Writes the iovecs completely, waiting for the socket as needed.  Called
 * with the write lock held.  A frame cut short by the deadline (or, without
 * one, by a stall) leaves the byte stream unusable, so that kills the
 * connection. */
static gboolean write_all(AgentConn *conn, struct iovec *iov, int iovcnt, gint64 deadline,
                          GError **error)
{
    gboolean started = FALSE;
    gint64 stall_at = 0; /* set while writes make no progress */

    while (iovcnt > 0) {
        if (iov->iov_len == 0) {
            iov++;
            iovcnt--;
            continue;
        }
        if (!conn_alive(conn)) {
            conn_set_dead_error(conn, error);
            return FALSE;
        }
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
        ssize_t n = sendmsg(conn->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            started = TRUE;
            stall_at = 0;
            while (n > 0) {
                size_t step = MIN((size_t)n, iov->iov_len);
                iov->iov_base = (guint8 *)iov->iov_base + step;
                iov->iov_len -= step;
                n -= (ssize_t)step;
                if (iov->iov_len == 0 && iovcnt > 0) {
                    iov++;
                    iovcnt--;
                }
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_fail(conn, OC_EAGENT, LOST_MSG);
            conn_set_dead_error(conn, error);
            return FALSE;
        }
        if (!deadline && !stall_at)
            stall_at = stall_deadline(conn);
        gint64 left = (deadline ? deadline : stall_at) - g_get_monotonic_time();
        if (left <= 0) {
            const char *why = deadline ? "timed out waiting for the sandbox agent to read its input"
                                   : "the sandbox agent stopped reading its input (it is "
                                     "stuck or hostile)";
            if (started)
                conn_fail(conn, OC_EAGENT, "the sandbox agent stopped reading its input; the "
                          "connection to it was closed");
            g_set_error_literal(error, OC_ERROR, OC_ETIMEOUT, why);
            return FALSE;
        }
        int timeout = (int)MIN(left / 1000 + 1, 500);
        struct pollfd pfd = { .fd = conn->fd, .events = POLLOUT };
        poll(&pfd, 1, timeout);
    }
    return TRUE;
}

/* Writes the queued control frames.  Called with the write lock held. */
static gboolean ctrl_flush_blocking(AgentConn *conn, gint64 deadline, GError **error)
{
    g_mutex_lock(&conn->ctrl_lock);
    if (conn->ctrl_out->len == 0) {
        g_mutex_unlock(&conn->ctrl_lock);
        return TRUE;
    }
    GByteArray *pending = conn->ctrl_out;
    conn->ctrl_out = g_byte_array_new();
    g_mutex_unlock(&conn->ctrl_lock);
    struct iovec iov = { pending->data, pending->len };
    gboolean ok = write_all(conn, &iov, 1, deadline, error);
    if (!ok && conn_alive(conn)) {
        /* Nothing went out (a partial write kills the connection): keep
         * the frames, or a lost WINDOW would stall its stream for good. */
        g_mutex_lock(&conn->ctrl_lock);
        g_byte_array_prepend(conn->ctrl_out, pending->data, pending->len);
        g_mutex_unlock(&conn->ctrl_lock);
    }
    g_byte_array_unref(pending);
    return ok;
}

/* Sends what fits without blocking; returns TRUE if some is left.  Called
 * with the write lock held. */
static gboolean ctrl_flush_nonblocking(AgentConn *conn)
{
    g_mutex_lock(&conn->ctrl_lock);
    while (conn->ctrl_out->len > 0) {
        ssize_t n = send(conn->fd, conn->ctrl_out->data, conn->ctrl_out->len,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            g_byte_array_remove_range(conn->ctrl_out, 0, (guint)n);
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break; /* full, or broken: the read side will notice */
    }
    gboolean left = conn->ctrl_out->len > 0 && conn_alive(conn);
    g_mutex_unlock(&conn->ctrl_lock);
    return left;
}

static void ctrl_set_pollout(AgentConn *conn, gboolean on)
{
    g_mutex_lock(&conn->ctrl_lock);
    if (conn->source && !g_source_is_destroyed(conn->source)) {
        ConnSource *cs = (ConnSource *)conn->source;
        g_source_modify_unix_fd(conn->source, cs->tag,
                                G_IO_IN | G_IO_HUP | G_IO_ERR | (on ? G_IO_OUT : 0));
    }
    g_mutex_unlock(&conn->ctrl_lock);
}

/* Event thread: flush the ctrl queue without blocking. */
static void ctrl_flush_event(AgentConn *conn)
{
    gboolean want_out = FALSE;

    conn->ctrl_dirty = FALSE;
    /* If a calling thread holds the lock, it flushes after its frame. */
    if (wl_try(conn)) {
        want_out = ctrl_flush_nonblocking(conn);
        wl_release(conn);
    }
    ctrl_set_pollout(conn, want_out);
}

static gboolean ctrl_kick_cb(gpointer data)
{
    AgentConn *conn = data;

    g_mutex_lock(&conn->ctrl_lock);
    conn->kick_pending = FALSE;
    g_mutex_unlock(&conn->ctrl_lock);
    ctrl_flush_event(conn);
    return G_SOURCE_REMOVE;
}

/* Any thread but the event thread: have the event thread flush the queue. */
void conn_ctrl_kick(AgentConn *conn)
{
    g_mutex_lock(&conn->ctrl_lock);
    gboolean schedule = conn->ctrl_out->len > 0 && !conn->kick_pending && conn->source != NULL;
    if (schedule)
        conn->kick_pending = TRUE;
    g_mutex_unlock(&conn->ctrl_lock);
    if (schedule) {
        GSource *idle = g_idle_source_new();
        g_source_set_priority(idle, G_PRIORITY_DEFAULT);
        g_source_set_callback(idle, ctrl_kick_cb, conn_ref(conn), (GDestroyNotify)conn_unref);
        g_source_attach(idle, conn->ctx);
        g_source_unref(idle);
    }
}

/* Queues a small frame; returns FALSE if dropped (droppable and over cap). */
gboolean conn_ctrl_queue(AgentConn *conn, guint8 type, guint8 chan, guint32 stream,
                         const void *payload, guint32 len, gboolean droppable)
{
    guint8 hdr[OC_PROTO_HEADER_SIZE];
    oc_proto_header h = { .type = type, .chan = chan, .stream = stream, .length = len };

    oc_proto_header_encode(hdr, &h);
    g_mutex_lock(&conn->ctrl_lock);
    gboolean ok = !droppable || conn->ctrl_out->len < CTRL_SOFT_CAP;
    if (ok) {
        g_byte_array_append(conn->ctrl_out, hdr, sizeof hdr);
        if (len)
            g_byte_array_append(conn->ctrl_out, payload, len);
    }
    g_mutex_unlock(&conn->ctrl_lock);
    return ok;
}

gboolean conn_write_frame(AgentConn *conn, guint8 type, guint8 chan, guint32 stream,
                          const void *payload, gsize len, gint64 deadline, GError **error)
{
    guint8 hdr[OC_PROTO_HEADER_SIZE];
    oc_proto_header h = { .type = type, .chan = chan, .stream = stream, .length = (guint32)len };

    if (len > OC_PROTO_MAX_PAYLOAD) {
        g_set_error(error, OC_ERROR, OC_EINTERNAL, "a %s frame of %" G_GSIZE_FORMAT
                    " bytes is over the protocol's bound", oc_proto_type_name(type), len);
        return FALSE;
    }
    if (!wl_acquire(conn, deadline)) {
        if (!conn_alive(conn))
            conn_set_dead_error(conn, error);
        else
            g_set_error_literal(error, OC_ERROR, OC_ETIMEOUT,
                                "timed out waiting to write to the sandbox agent");
        return FALSE;
    }
    oc_proto_header_encode(hdr, &h);
    struct iovec iov[2] = { { hdr, sizeof hdr }, { (void *)payload, len } };
    gboolean ok = ctrl_flush_blocking(conn, deadline, error) &&
                  write_all(conn, iov, len ? 2 : 1, deadline, error);
    wl_release(conn);
    /* The event thread may have queued frames while we held the lock. */
    conn_ctrl_kick(conn);
    return ok;
}

/* ---- reading ---- */

static void hs_accept_ack(AgentConn *conn, const guint8 *payload, guint32 len, gboolean *matched)
{
    oc_proto_reader r;
    oc_proto_field f;
    guint64 nonce = 0;
    guint32 version = 0;
    gboolean have_nonce = FALSE;
    char agent[256] = "";
    int rc;

    *matched = FALSE;
    oc_proto_reader_init(&r, payload, len);
    while ((rc = oc_proto_next(&r, &f)) == 1) {
        if (f.tag == OC_F_NONCE && oc_proto_field_u64(&f, &nonce) == 0)
            have_nonce = TRUE;
        else if (f.tag == OC_F_VERSION)
            oc_proto_field_u32(&f, &version);
        else if (f.tag == OC_F_AGENT && oc_proto_field_str(&f, agent, sizeof agent) < 0)
            g_strlcpy(agent, "(unreadable)", sizeof agent);
    }
    if (rc < 0 || !have_nonce || nonce != conn->nonce)
        return;
    *matched = TRUE;
    if (version < OC_PROTO_VERSION_MIN || version > OC_PROTO_VERSION) {
        char *msg = g_strdup_printf("the sandbox agent speaks protocol version %u; this library "
                                    "speaks versions %u to %u (update the sandbox image)",
                                    version, OC_PROTO_VERSION_MIN, OC_PROTO_VERSION);
        conn_fail_locked(conn, OC_EAGENT, msg);
        g_free(msg);
        return;
    }
    conn->agent_version = g_utf8_make_valid(agent, -1);
    conn->version = version;
    conn->hs_state = 1;
    g_cond_broadcast(&conn->hs_cond);
}

/* An ERROR UNSUPPORTED on stream 0 before the handshake: an agent that
 * shares no protocol version with us. */
static void hs_check_error(AgentConn *conn, const guint8 *payload, guint32 len)
{
    oc_proto_reader r;
    oc_proto_field f;
    guint32 code = 0;
    char text[256] = "";
    int rc;

    oc_proto_reader_init(&r, payload, len);
    while ((rc = oc_proto_next(&r, &f)) == 1) {
        if (f.tag == OC_F_ERRCODE)
            oc_proto_field_u32(&f, &code);
        else if (f.tag == OC_F_MESSAGE)
            oc_proto_field_str(&f, text, sizeof text);
    }
    if (rc < 0 || code != OC_PERR_UNSUPPORTED)
        return;
    char *valid = g_utf8_make_valid(text, -1);
    char *msg = g_strdup_printf("the sandbox agent is not compatible with this library: %s",
                                *valid ? valid : "no shared protocol version");
    conn_fail_locked(conn, OC_EAGENT, msg);
    g_free(msg);
    g_free(valid);
}

/* Before the handshake completes: skip anything (the tail of an older
 * connection's frame) up to a HELLO_ACK carrying our nonce.  Returns how many
 * bytes of rbuf are consumed. */
static gsize hs_resync(AgentConn *conn)
{
    static const guint8 ack[8] = { 0x4f, 0x43, OC_T_HELLO_ACK, 0, 0, 0, 0, 0 };
    static const guint8 err[8] = { 0x4f, 0x43, OC_T_ERROR, 0, 0, 0, 0, 0 };
    gsize pos = 0;

    while (conn->hs_state == 0) {
        const guint8 *a = memmem(conn->rbuf + pos, conn->rlen - pos, ack, sizeof ack);
        const guint8 *e = memmem(conn->rbuf + pos, conn->rlen - pos, err, sizeof err);
        const guint8 *p = (a && e) ? MIN(a, e) : (a ? a : e);
        if (p == NULL)
            return MAX(pos, conn->rlen > 7 ? conn->rlen - 7 : 0);
        gsize i = (gsize)(p - conn->rbuf);
        oc_proto_header h;
        if (conn->rlen - i < OC_PROTO_HEADER_SIZE)
            return i;
        if (oc_proto_header_decode(&h, p) < 0) {
            pos = i + 1;
            continue;
        }
        if (conn->rlen - i - OC_PROTO_HEADER_SIZE < h.length)
            return i; /* wait for the payload */
        const guint8 *payload = p + OC_PROTO_HEADER_SIZE;
        if (h.type == OC_T_HELLO_ACK) {
            gboolean matched;
            hs_accept_ack(conn, payload, h.length, &matched);
            if (matched)
                return i + OC_PROTO_HEADER_SIZE + h.length;
        } else {
            hs_check_error(conn, payload, h.length);
        }
        /* Not ours: it may itself be stale bytes, so resume right after. */
        pos = i + 1;
    }
    return pos;
}

gboolean conn_proto_violation(AgentConn *conn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *msg = g_strdup_printf("the sandbox agent broke the protocol (%s); "
                                "the connection to it was closed", what);
    conn_fail_locked(conn, OC_EAGENT, msg);
    g_free(msg);
    g_free(what);
    return FALSE;
}

/* Handles one complete frame; FALSE if it killed the connection. */
static gboolean handle_frame(AgentConn *conn, const oc_proto_header *h, const guint8 *payload)
{
    switch (h->type) {
    case OC_T_HELLO_ACK:
    case OC_T_PONG:
        if (h->stream != 0)
            return conn_proto_violation(conn, "%s on stream %u", oc_proto_type_name(h->type),
                                        h->stream);
        if (h->type == OC_T_PONG)
            conn_ping_answered_locked(conn, payload, h->length);
        return TRUE; /* late answers to a resent HELLO, or to our PING */
    case OC_T_PING:
        if (h->stream != 0)
            return conn_proto_violation(conn, "PING on stream %u", h->stream);
        if (conn_ctrl_queue(conn, OC_T_PONG, 0, 0, payload, h->length, TRUE))
            conn->ctrl_dirty = TRUE;
        return TRUE;
    case OC_T_DATA:
    case OC_T_EOF:
    case OC_T_WINDOW:
    case OC_T_RESULT:
    case OC_T_ERROR:
    case OC_T_INFO:
        return agent_stream_handle_frame(conn, h, payload);
    default:
        return conn_proto_violation(conn, "unexpected frame type 0x%02x (%s)", h->type,
                                    oc_proto_type_name(h->type));
    }
}

/* Handles the complete frames in rbuf; FALSE if the connection died. */
static gboolean conn_parse(AgentConn *conn)
{
    gsize pos = conn->rstart;
    gboolean ok = TRUE;

    g_mutex_lock(&conn->lock);
    if (conn->hs_state == 0)
        pos = hs_resync(conn); /* rstart is 0 until the handshake is done */
    if (conn->hs_state < 0 || !conn->alive)
        ok = FALSE;
    while (ok && conn->hs_state == 1 && conn->rlen - pos >= OC_PROTO_HEADER_SIZE) {
        const guint8 *p = conn->rbuf + pos;
        oc_proto_header h;
        if (oc_proto_header_decode(&h, p) < 0) {
            if (p[0] != (OC_PROTO_MAGIC & 0xff) || p[1] != (OC_PROTO_MAGIC >> 8))
                ok = conn_proto_violation(conn, "a frame with a bad magic number");
            else
                ok = conn_proto_violation(conn, "a frame of %u bytes, over the %u-byte bound",
                                          h.length, OC_PROTO_MAX_PAYLOAD);
            break;
        }
        if (conn->rlen - pos - OC_PROTO_HEADER_SIZE < h.length)
            break;
        ok = handle_frame(conn, &h, p + OC_PROTO_HEADER_SIZE);
        pos += OC_PROTO_HEADER_SIZE + h.length;
    }
    if (ok && conn->hs_state == 1)
        conn_note_partial_locked(conn, conn->rbuf + pos, conn->rlen - pos);
    g_mutex_unlock(&conn->lock);
    if (!ok)
        return FALSE;
    if (pos == conn->rlen) {
        conn->rstart = conn->rlen = 0;
    } else if (conn->hs_state != 1 || RBUF_CAP - conn->rlen < RBUF_MIN_READ) {
        memmove(conn->rbuf, conn->rbuf + pos, conn->rlen - pos);
        conn->rlen -= pos;
        conn->rstart = 0;
    } else {
        conn->rstart = pos;
    }
    return TRUE;
}

static gboolean conn_read(AgentConn *conn)
{
    for (int i = 0; i < 8; i++) {
        gsize space = RBUF_CAP - conn->rlen;
        ssize_t n = read(conn->fd, conn->rbuf + conn->rlen, space);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_fail(conn, OC_EAGENT, LOST_MSG);
            return FALSE;
        }
        conn->rlen += (gsize)n;
        if (!conn_parse(conn))
            return FALSE;
        if ((gsize)n < space)
            break;
    }
    return TRUE;
}

static gboolean conn_source_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    ConnSource *cs = (ConnSource *)source;
    AgentConn *conn = cs->conn;
    GIOCondition cond = g_source_query_unix_fd(source, cs->tag);

    if (!conn_alive(conn))
        return G_SOURCE_REMOVE;
    if (cond & G_IO_OUT)
        conn->ctrl_dirty = TRUE;
    if ((cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) && !conn_read(conn))
        return G_SOURCE_REMOVE;
    if (conn->ctrl_dirty)
        ctrl_flush_event(conn);
    return G_SOURCE_CONTINUE;
}

static void conn_source_finalize(GSource *source)
{
    conn_unref(((ConnSource *)source)->conn);
}

static GSourceFuncs conn_source_funcs = {
    .dispatch = conn_source_dispatch,
    .finalize = conn_source_finalize,
};

/* ---- connecting ---- */

static int connect_until(const char *path, gint64 deadline, GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int last = 0;

    if (strlen(path) >= sizeof addr.sun_path) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "the agent socket path %s is too long", path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            g_set_error(error, OC_ERROR, OC_EIO, "cannot create a socket: %s", g_strerror(errno));
            return -1;
        }
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0)
            return fd;
        last = errno;
        close(fd);
        if (last != ENOENT && last != ECONNREFUSED && last != EAGAIN && last != EINTR) {
            g_set_error(error, OC_ERROR, OC_EIO, "cannot connect to the sandbox agent at %s: %s",
                        path, g_strerror(last));
            return -1;
        }
        if (g_get_monotonic_time() >= deadline)
            break;
        g_usleep(20 * G_TIME_SPAN_MILLISECOND);
    }
    g_set_error(error, OC_ERROR, OC_ETIMEOUT,
                "cannot connect to the sandbox agent at %s in time: %s", path, g_strerror(last));
    return -1;
}

static void conn_detach(AgentConn *conn)
{
    g_mutex_lock(&conn->ctrl_lock);
    GSource *source = conn->source;
    conn->source = NULL;
    g_mutex_unlock(&conn->ctrl_lock);
    if (source) {
        g_source_destroy(source);
        g_source_unref(source);
    }
}

AgentConn *agent_conn_open(const char *socket_path, GMainContext *ctx, guint timeout_ms,
                           GError **error)
{
    return agent_conn_open_as(socket_path, NULL, ctx, timeout_ms, error);
}

AgentConn *agent_conn_open_as(const char *socket_path, const char *sandbox_id, GMainContext *ctx,
                              guint timeout_ms, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;
    guint8 hello[256];
    guint8 entropy[32];
    oc_proto_writer w;

    g_return_val_if_fail(socket_path != NULL && ctx != NULL, NULL);

    int fd = connect_until(socket_path, deadline, error);
    if (fd < 0)
        return NULL;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int bufsize = 4 * 1024 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);

    AgentConn *conn = g_new0(AgentConn, 1);
    conn->refcount = 1;
    conn->ctx = g_main_context_ref(ctx);
    conn->fd = fd;
    conn->alive = 1;
    g_mutex_init(&conn->lock);
    g_cond_init(&conn->hs_cond);
    g_mutex_init(&conn->wmutex);
    g_cond_init(&conn->wcond);
    g_mutex_init(&conn->ctrl_lock);
    conn->streams = g_hash_table_new(NULL, NULL);
    conn->next_id = 1;
    conn->stall_us = (gint64)AGENT_STALL_MS * G_TIME_SPAN_MILLISECOND;
    conn->ctrl_out = g_byte_array_new();
    conn->rbuf = g_malloc(RBUF_CAP);
    conn->nonce = ((guint64)g_random_int() << 32) | g_random_int();

    ConnSource *cs = (ConnSource *)g_source_new(&conn_source_funcs, sizeof(ConnSource));
    cs->conn = conn_ref(conn);
    cs->tag = g_source_add_unix_fd(&cs->base, fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
    g_source_set_priority(&cs->base, G_PRIORITY_DEFAULT);
    conn->source = &cs->base;
    g_source_attach(conn->source, ctx);

    for (gsize i = 0; i < sizeof entropy; i += 4) {
        guint32 v = g_random_int();
        memcpy(entropy + i, &v, 4);
    }
    oc_proto_writer_init(&w, hello, sizeof hello);
    oc_proto_put_u32(&w, OC_F_VERSION_MIN, OC_PROTO_VERSION_MIN);
    oc_proto_put_u32(&w, OC_F_VERSION_MAX, OC_PROTO_VERSION);
    oc_proto_put_u64(&w, OC_F_NONCE, conn->nonce);
    oc_proto_put_u64(&w, OC_F_TIME_NS, (guint64)g_get_real_time() * 1000);
    oc_proto_put_bytes(&w, OC_F_ENTROPY, entropy, sizeof entropy);
    if (sandbox_id && strlen(sandbox_id) <= 64)
        oc_proto_put_str(&w, OC_F_HOSTNAME, sandbox_id);
    g_assert(!w.overflow);

    GError *local = NULL;
    g_mutex_lock(&conn->lock);
    while (conn->hs_state == 0) {
        g_mutex_unlock(&conn->lock);
        /* Refreshing TIME_NS would be nicer but the payload is tiny either way. */
        gboolean sent = conn_write_frame(conn, OC_T_HELLO, 0, 0, hello, w.len, deadline, &local);
        g_mutex_lock(&conn->lock);
        if (!sent)
            break;
        gint64 next = MIN(g_get_monotonic_time() + HELLO_RESEND_US, deadline);
        while (conn->hs_state == 0 && g_cond_wait_until(&conn->hs_cond, &conn->lock, next))
            ;
        if (conn->hs_state == 0 && g_get_monotonic_time() >= deadline)
            break;
    }
    int state = conn->hs_state;
    if (state <= 0 && conn->dead_msg) {
        g_clear_error(&local);
        local = g_error_new_literal(OC_ERROR, conn->dead_code, conn->dead_msg);
    }
    g_mutex_unlock(&conn->lock);
    if (state == 1) {
        g_clear_error(&local);
        return conn;
    }
    if (local == NULL || local->code == OC_ETIMEOUT) {
        g_clear_error(&local);
        local = g_error_new(OC_ERROR, OC_ETIMEOUT,
                            "the sandbox agent did not answer within %u ms", timeout_ms);
    }
    g_propagate_error(error, local);
    agent_conn_close(conn);
    return NULL;
}

void agent_conn_close(AgentConn *conn)
{
    if (conn == NULL)
        return;
    conn_fail(conn, OC_ECANCELLED, "the connection to the sandbox agent was closed");
    conn_detach(conn);
    conn_unref(conn);
}

gboolean agent_conn_is_alive(AgentConn *conn)
{
    return conn_alive(conn);
}

const char *agent_conn_agent_version(AgentConn *conn)
{
    return conn->agent_version;
}

guint agent_conn_busy(AgentConn *conn)
{
    g_mutex_lock(&conn->lock);
    guint n = g_hash_table_size(conn->streams);
    g_mutex_unlock(&conn->lock);
    return n;
}
