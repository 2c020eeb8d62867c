/* conn.c: host connections: framing, resync, the output queue, the stream
 * table, and dispatch of frames to the operations.  Connections share
 * nothing but the sessions and the process-wide effects of HELLO (clock,
 * entropy). */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

agent_state agent;

/* The first 8 bytes of a HELLO header: magic, type, chan 0, stream 0.  After
 * a malformed header the agent discards input until it sees these. */
static const uint8_t hello_prefix[8] = { 0x4f, 0x43, OC_T_HELLO, 0, 0, 0, 0, 0 };

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        /* A PID 1 that exits panics the kernel; the buffers allocated here
         * are few and fixed-size, so failing them at start-up is fatal
         * anyway.  Wait and retry rather than die. */
        for (;;) {
            agent_log("out of memory allocating %zu bytes; retrying", n);
            sleep(1);
            if ((p = malloc(n)))
                break;
        }
    }
    return p;
}

void conn_init(void)
{
    for (int i = 0; i < AGENT_MAX_CONNS; i++) {
        agent.conns[i].index = i;
        agent.conns[i].fd = -1;
    }
    agent.listen_fd = -1;
}

void conn_open(agent_conn *c, int fd)
{
    if (!c->in) {
        /* Untouched pages cost nothing, so idle connections stay cheap. */
        c->in = xmalloc(AGENT_IN_CAP);
        c->out_cap = AGENT_OUT_CAP;
        c->out = xmalloc(c->out_cap);
    }
    c->fd = fd;
    c->hup = 0;
    conn_reset(c);
}

int conn_up(const agent_conn *c)
{
    return c->fd >= 0 && !c->hup;
}

/* ---- output queue ---- */

static size_t out_room(const agent_conn *c)
{
    size_t used = c->out_len - c->out_off;
    return used >= c->out_cap ? 0 : c->out_cap - used;
}

/* Returns space for n more bytes at the tail, compacting or (only if a
 * caller overran the slack, which the checks before reading sources should
 * prevent) growing the queue. */
static uint8_t *out_tail(agent_conn *c, size_t n)
{
    if (c->out_cap - c->out_len < n && c->out_off) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_cap - c->out_len < n) {
        size_t cap = c->out_len + n + AGENT_OUT_SLACK;
        uint8_t *p = realloc(c->out, cap);
        if (!p)
            return NULL;
        c->out = p;
        c->out_cap = cap;
    }
    return c->out + c->out_len;
}

void conn_send_frame_raw(agent_conn *c, uint8_t type, uint8_t chan, uint32_t stream,
                         const void *p, uint32_t len)
{
    if (!conn_up(c))
        return;
    uint8_t *t = out_tail(c, OC_PROTO_HEADER_SIZE + len);
    if (!t) {
        agent_log("output queue full; dropped a %s frame", oc_proto_type_name(type));
        return;
    }
    c->out_len += oc_proto_frame(t, type, chan, stream, p, len);
}

void conn_send_raw(agent_conn *c, const void *p, size_t len)
{
    uint8_t *t = conn_up(c) ? out_tail(c, len) : NULL;
    if (t) {
        memcpy(t, p, len);
        c->out_len += len;
    }
}

size_t conn_out_room(const agent_conn *c)
{
    return out_room(c);
}

void send_frame(agent_conn *c, uint8_t type, uint8_t chan, uint32_t stream, const void *p,
                uint32_t len)
{
    /* A misbehaving connection says only what misbehave.c makes it say. */
    if (!c->mb_attacking)
        conn_send_frame_raw(c, type, chan, stream, p, len);
}

static void send_error_v(agent_conn *c, uint32_t stream, uint32_t code, const char *fmt,
                         va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    uint8_t buf[1100];
    oc_proto_writer w;
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_ERRCODE, code);
    oc_proto_put_str(&w, OC_F_MESSAGE, msg);
    send_frame(c, OC_T_ERROR, 0, stream, buf, (uint32_t)w.len);
}

void send_error(agent_conn *c, uint32_t stream, uint32_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_error_v(c, stream, code, fmt, ap);
    va_end(ap);
}

void stream_error(agent_stream *s, uint32_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_error_v(s->conn, s->id, code, fmt, ap);
    va_end(ap);
}

void stream_send(agent_stream *s, uint8_t type, uint8_t chan, const void *p, uint32_t len)
{
    send_frame(s->conn, type, chan, s->id, p, len);
}

size_t stream_sendable(const agent_stream *s, int chan)
{
    const agent_conn *c = s->conn;
    if (!conn_up(c))
        return 0;
    size_t room = out_room(c);
    if (room < AGENT_FRAME_MAX + AGENT_OUT_SLACK)
        return 0;
    uint64_t n = s->credit[chan];
    return n > OC_PROTO_MAX_PAYLOAD ? OC_PROTO_MAX_PAYLOAD : (size_t)n;
}

ssize_t send_data_from_fd(agent_stream *s, int chan, int fd, size_t max)
{
    agent_conn *c = s->conn;
    uint8_t *t = out_tail(c, OC_PROTO_HEADER_SIZE + max);
    if (!t) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t n = read(fd, t + OC_PROTO_HEADER_SIZE, max);
    if (n > 0) {
        c->out_len += oc_proto_frame(t, OC_T_DATA, (uint8_t)chan, s->id,
                                        t + OC_PROTO_HEADER_SIZE, (uint32_t)n);
        s->credit[chan] -= (uint64_t)n;
    }
    return n;
}

void send_data(agent_stream *s, int chan, const void *p, size_t len)
{
    stream_send(s, OC_T_DATA, (uint8_t)chan, p, (uint32_t)len);
    s->credit[chan] -= len < s->credit[chan] ? len : s->credit[chan];
}

/* The host's DATA on chan 0 has been consumed: return the credit in steps,
 * so the host never waits for it and we never hold more than the window. */
void stream_consumed(agent_stream *s, size_t n)
{
    s->in_done += n;
    if (s->in_done >= AGENT_CREDIT_STEP && !s->in_eof) {
        uint8_t b[4];
        uint32_t v = (uint32_t)s->in_done;
        for (int i = 0; i < 4; i++)
            b[i] = (uint8_t)(v >> (8 * i));
        stream_send(s, OC_T_WINDOW, OC_CHAN_IN, b, 4);
        s->in_held -= s->in_done;
        s->in_done = 0;
    }
}

int conn_wants_write(const agent_conn *c)
{
    return c->out_len > c->out_off;
}

int conn_flush(agent_conn *c)
{
    while (c->out_len > c->out_off) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* ---- stream table ---- */

static agent_stream *stream_find(agent_conn *c, uint32_t id)
{
    for (int i = 0; i < AGENT_MAX_STREAMS; i++)
        if (c->streams[i] && c->streams[i]->id == id)
            return c->streams[i];
    return NULL;
}

static agent_stream *stream_new(agent_conn *c, uint32_t id, uint32_t op)
{
    for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
        if (c->streams[i])
            continue;
        agent_stream *s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
        s->conn = c;
        s->id = id;
        s->op = op;
        s->credit[1] = s->credit[2] = OC_PROTO_INITIAL_WINDOW;
        s->pidx[0] = s->pidx[1] = s->pidx[2] = -1;
        s->out_fd[0] = s->out_fd[1] = s->out_fd[2] = -1;
        s->in_fd = -1;
        s->fd = -1;
        c->streams[i] = s;
        return s;
    }
    return NULL;
}

void stream_free(agent_stream *s, int kill_group)
{
    misbehave_stream_freed(s);
    if (stream_pumps_fds(s))
        exec_release(s, kill_group);
    else if (s->op == OC_OP_SESSION_ATTACH)
        session_release(s); /* sessions outlive their streams */
    else
        file_release(s);
    agent_conn *c = s->conn;
    for (int i = 0; i < AGENT_MAX_STREAMS; i++)
        if (c->streams[i] == s)
            c->streams[i] = NULL;
    free(s);
}

void conn_cancel_streams(agent_conn *c)
{
    for (int i = 0; i < AGENT_MAX_STREAMS; i++)
        if (c->streams[i])
            stream_free(c->streams[i], 1);
}

void streams_cancel_all(void)
{
    for (int i = 0; i < AGENT_MAX_CONNS; i++)
        conn_cancel_streams(&agent.conns[i]);
}

/* A new connection (hang-up, HELLO): nothing of the old one survives.
 * Sessions are not the connection's: only their attach streams end, and the
 * other connections are not touched at all. */
void conn_reset(agent_conn *c)
{
    conn_cancel_streams(c);
    c->in_len = 0;
    c->resync = 0;
    c->out_off = c->out_len = 0;
    /* a misbehaviour ends with the host that saw it */
    c->mb_mode = c->mb_attacking = 0;
    c->mb_stream = c->mb_old_stream = 0;
    c->mb_sent = 0;
}

/* ---- HELLO ---- */

/* From <linux/random.h>, which musl-gcc does not see (no kernel headers). */
struct agent_rand_pool_info {
    int entropy_count;
    int buf_size;
    uint8_t buf[512];
};
#define AGENT_RNDADDENTROPY _IOW('R', 0x03, int[2])
#define AGENT_RNDRESEEDCRNG _IO('R', 0x07)

static void mix_entropy(const uint8_t *p, size_t len)
{
    if (len > 512)
        len = 512;
    int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    /* As PID 1 the host's bytes are trusted to be random and credited, so a
     * freshly restored or forked guest does not block on getrandom(). */
    struct agent_rand_pool_info rp;
    rp.entropy_count = (int)len * 8;
    rp.buf_size = (int)len;
    memcpy(rp.buf, p, len);
    if (!agent.pid1 || ioctl(fd, AGENT_RNDADDENTROPY, &rp) < 0) {
        if (write(fd, p, len) < 0) {
            /* mixing is best effort */
        }
    }
    /* Mixed-in bytes reach the output only at the next reseed, which the
     * kernel does by the minute: a fork would meanwhile produce the same
     * bytes as its siblings.  Reseed now. */
    if (agent.pid1 && ioctl(fd, AGENT_RNDRESEEDCRNG) < 0)
        agent_log("cannot reseed the RNG: %s", strerror(errno));
    close(fd);
}

static void set_clock(uint64_t host_ns)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t guest_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    int64_t diff = (int64_t)host_ns - guest_ns;
    if (diff > -1000000000 && diff < 1000000000)
        return;
    struct timespec ts = { .tv_sec = (time_t)(host_ns / 1000000000u),
                           .tv_nsec = (long)(host_ns % 1000000000u) };
    if (clock_settime(CLOCK_REALTIME, &ts) < 0)
        agent_log("cannot set the clock: %s", strerror(errno));
}

/* A fork or a restore brings another sandbox's hostname along; a hostname
 * the guest set itself is kept across reconnections of the same sandbox. */
static void set_host_name(const char *name, size_t len)
{
    if (!agent.pid1 || len >= sizeof agent.host_name ||
        (strlen(agent.host_name) == len && memcmp(agent.host_name, name, len) == 0))
        return;
    memcpy(agent.host_name, name, len);
    agent.host_name[len] = 0;
    if (sethostname(name, len) < 0)
        agent_log("cannot set hostname: %s", strerror(errno));
}

static void on_hello(agent_conn *c, const uint8_t *p, size_t len)
{
    /* Only the streams go: the input after this HELLO belongs to the new
     * connection, and queued output is discarded by the host until it sees
     * our HELLO_ACK. */
    conn_cancel_streams(c);
    uint64_t vmin = 1, vmax = 1, nonce = 0, time_ns = 0;
    const uint8_t *entropy = NULL, *host_name = NULL;
    size_t entropy_len = 0, host_name_len = 0;
    oc_proto_reader r;
    oc_proto_field f;
    int rc;
    oc_proto_reader_init(&r, p, len);
    while ((rc = oc_proto_next(&r, &f)) == 1) {
        int bad = 0;
        switch (f.tag) {
        case OC_F_VERSION_MIN: bad = oc_proto_field_u64(&f, &vmin); break;
        case OC_F_VERSION_MAX: bad = oc_proto_field_u64(&f, &vmax); break;
        case OC_F_NONCE: bad = oc_proto_field_u64(&f, &nonce); break;
        case OC_F_TIME_NS: bad = oc_proto_field_u64(&f, &time_ns); break;
        case OC_F_ENTROPY: entropy = f.data; entropy_len = f.len; break;
        case OC_F_HOSTNAME: host_name = f.data; host_name_len = f.len; break;
        default:
            /* Unknown HELLO fields are skipped, not rejected: a newer host
             * may add some, and the version fields are what tell it whether
             * we understood. */
            break;
        }
        if (bad) {
            send_error(c, 0, OC_PERR_INVAL, "HELLO: field 0x%04x has a bad size %u", f.tag, f.len);
            return;
        }
    }
    if (rc < 0) {
        send_error(c, 0, OC_PERR_PROTOCOL, "HELLO: malformed field list");
        return;
    }
    /* The newest version both ends know. */
    uint64_t version = vmax < OC_PROTO_VERSION ? vmax : OC_PROTO_VERSION;
    if (version < vmin || version < OC_PROTO_VERSION_MIN) {
        send_error(c, 0, OC_PERR_UNSUPPORTED,
                   "no shared protocol version: host %llu..%llu, agent %u..%u",
                   (unsigned long long)vmin, (unsigned long long)vmax, OC_PROTO_VERSION_MIN,
                   OC_PROTO_VERSION);
        return;
    }
    c->version = (uint32_t)version;
    if (time_ns && agent.pid1)
        set_clock(time_ns);
    if (entropy_len)
        mix_entropy(entropy, entropy_len);
    if (host_name_len)
        set_host_name((const char *)host_name, host_name_len);

    uint8_t buf[256];
    oc_proto_writer w;
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_VERSION, c->version);
    oc_proto_put_u64(&w, OC_F_NONCE, nonce);
    oc_proto_put_str(&w, OC_F_AGENT, AGENT_NAME);
    oc_proto_put_str(&w, OC_F_BOOT_ID, agent.boot_id);
    send_frame(c, OC_T_HELLO_ACK, 0, 0, buf, (uint32_t)w.len);
}

/* ---- stream frames ---- */

static void on_open(agent_conn *c, uint32_t id, const uint8_t *p, size_t len)
{
    if (id == 0 || id % 2 == 0) {
        send_error(c, id, OC_PERR_PROTOCOL, "OPEN on stream %u: host streams have odd ids", id);
        return;
    }
    if (stream_find(c, id)) {
        send_error(c, id, OC_PERR_PROTOCOL, "OPEN on stream %u, which is already open", id);
        return;
    }
    /* OP is looked up first; each operation then parses all the fields. */
    uint32_t op = 0;
    oc_proto_reader r;
    oc_proto_field f;
    int rc;
    oc_proto_reader_init(&r, p, len);
    while ((rc = oc_proto_next(&r, &f)) == 1)
        if (f.tag == OC_F_OP && oc_proto_field_u32(&f, &op) < 0)
            rc = -2;
    if (rc == -1) {
        send_error(c, id, OC_PERR_PROTOCOL, "OPEN: malformed field list");
        return;
    }
    if (rc == -2 || op == 0) {
        send_error(c, id, OC_PERR_INVAL, "OPEN: missing or bad OP field");
        return;
    }
    if (op < OC_OP_EXEC || op > OC_OP_PORT_CONNECT) {
        send_error(c, id, OC_PERR_UNSUPPORTED, "OPEN: unknown operation %u", op);
        return;
    }
    agent_stream *s = stream_new(c, id, op);
    if (!s) {
        send_error(c, id, OC_PERR_LIMIT, "too many open streams (at most %d)", AGENT_MAX_STREAMS);
        return;
    }
    switch (op) {
    case OC_OP_EXEC: exec_open(s, p, len); break;
    case OC_OP_FILE_READ: file_read_open(s, p, len); break;
    case OC_OP_FILE_WRITE: file_write_open(s, p, len); break;
    case OC_OP_FILE_LIST: file_list_open(s, p, len); break;
    case OC_OP_FILE_STAT: fileop_stat(s, p, len); break;
    case OC_OP_FILE_MKDIR: fileop_mkdir(s, p, len); break;
    case OC_OP_FILE_REMOVE: fileop_remove(s, p, len); break;
    case OC_OP_FILE_RENAME: fileop_rename(s, p, len); break;
    case OC_OP_SESSION_START: session_start(s, p, len); break;
    case OC_OP_SESSION_ATTACH: session_attach(s, p, len); break;
    case OC_OP_SESSION_LIST: session_list(s, p, len); break;
    case OC_OP_SESSION_KILL: session_kill(s, p, len); break;
    case OC_OP_PORT_CONNECT: forward_open(s, p, len); break;
    }
}

static void on_data(agent_stream *s, uint8_t chan, const uint8_t *p, size_t len)
{
    agent_conn *c = s->conn;
    int takes_input = (stream_pumps_fds(s) && s->has_stdin) || s->op == OC_OP_FILE_WRITE ||
                      s->op == OC_OP_SESSION_ATTACH;
    if (chan != OC_CHAN_IN || !takes_input || s->in_eof) {
        send_error(c, 0, OC_PERR_PROTOCOL, "DATA on stream %u chan %u, which takes no input",
                   s->id, chan);
        return;
    }
    s->in_held += len;
    if (s->in_held > OC_PROTO_INITIAL_WINDOW) {
        /* The host ignored flow control; buffering more would break our
         * memory bound, and dropping bytes would corrupt the input. */
        stream_error(s, OC_PERR_PROTOCOL, "stream %u: host sent more DATA than its credit",
                     s->id);
        stream_free(s, 1);
        return;
    }
    if (stream_pumps_fds(s))
        exec_input(s, p, len);
    else if (s->op == OC_OP_SESSION_ATTACH)
        session_input(s, p, len);
    else
        file_write_data(s, p, len);
}

/* RESIZE: a new size for the terminal of the PTY session that s is attached
 * to.  Complaints go on stream 0, so that a bad RESIZE never ends the attach
 * stream. */
static void on_resize(agent_stream *s, const uint8_t *p, size_t len)
{
    agent_conn *c = s->conn;
    oc_proto_reader r;
    oc_proto_field f;
    uint32_t cols = 0, rows = 0;
    int rc;
    if (s->op != OC_OP_SESSION_ATTACH) {
        send_error(c, 0, OC_PERR_INVAL, "RESIZE on stream %u, which is not a session attach",
                   s->id);
        return;
    }
    oc_proto_reader_init(&r, p, len);
    while ((rc = oc_proto_next(&r, &f)) == 1) {
        if (f.tag != OC_F_COLS && f.tag != OC_F_ROWS) {
            send_error(c, 0, OC_PERR_UNSUPPORTED, "RESIZE on stream %u: unknown field 0x%04x",
                       s->id, f.tag);
            return;
        }
        if (pty_size_field(&f, &cols, &rows) < 0) {
            send_error(c, 0, OC_PERR_INVAL, "RESIZE on stream %u: %s must be a u32 from 1 to %u",
                       s->id, pty_field_name(f.tag), PTY_SIZE_MAX);
            return;
        }
    }
    if (rc < 0 || !cols || !rows)
        send_error(c, 0, rc < 0 ? OC_PERR_PROTOCOL : OC_PERR_INVAL, "RESIZE on stream %u: %s",
                   s->id, rc < 0 ? "malformed field list" : "COLS and ROWS are required");
    else if (session_resize(s, cols, rows) < 0)
        send_error(c, 0, OC_PERR_INVAL, "RESIZE on stream %u: its session has no terminal (start "
                   "it with COLS and ROWS)", s->id);
}

static void on_stream_frame(agent_conn *c, const oc_proto_header *h, const uint8_t *p)
{
    agent_stream *s = stream_find(c, h->stream);
    if (!s)
        return; /* in flight after the stream ended */
    switch (h->type) {
    case OC_T_DATA:
        on_data(s, h->chan, p, h->length);
        break;
    case OC_T_EOF:
        if (h->chan != OC_CHAN_IN || s->in_eof)
            break;
        if (stream_pumps_fds(s))
            exec_input_eof(s);
        else if (s->op == OC_OP_SESSION_ATTACH)
            session_input_eof(s);
        else if (s->op == OC_OP_FILE_WRITE)
            file_write_eof(s);
        break;
    case OC_T_WINDOW: {
        if (h->length != 4 || (h->chan != OC_CHAN_OUT && h->chan != OC_CHAN_ERR)) {
            send_error(c, 0, OC_PERR_PROTOCOL, "bad WINDOW frame on stream %u", h->stream);
            break;
        }
        uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                     ((uint32_t)p[3] << 24);
        s->credit[h->chan] += v;
        s->credit_ms[h->chan] = agent_now_ms();
        break;
    }
    case OC_T_CANCEL:
        if (stream_pumps_fds(s))
            exec_cancel(s);
        else if (s->op == OC_OP_SESSION_ATTACH)
            session_detach(s);
        else
            file_cancel(s);
        break;
    case OC_T_SIGNAL: {
        oc_proto_reader r;
        oc_proto_field f;
        uint32_t sig = 0;
        int rc;
        oc_proto_reader_init(&r, p, h->length);
        while ((rc = oc_proto_next(&r, &f)) == 1) {
            if (f.tag != OC_F_SIGNAL || oc_proto_field_u32(&f, &sig) < 0) {
                rc = -1;
                break;
            }
        }
        if (rc < 0 || sig == 0 || sig >= 65) {
            send_error(c, 0, OC_PERR_INVAL, "bad SIGNAL frame on stream %u", h->stream);
            break;
        }
        if (s->op == OC_OP_EXEC)
            exec_signal(s, (int)sig);
        else if (s->op == OC_OP_SESSION_ATTACH)
            session_signal(s, (int)sig);
        break;
    }
    case OC_T_RESIZE:
        on_resize(s, p, h->length);
        break;
    }
}

static void dispatch(agent_conn *c, const oc_proto_header *h, const uint8_t *p)
{
    switch (h->type) {
    case OC_T_HELLO:
        if (h->stream != 0)
            send_error(c, 0, OC_PERR_PROTOCOL, "HELLO on stream %u", h->stream);
        else
            on_hello(c, p, h->length);
        break;
    case OC_T_PING:
        send_frame(c, OC_T_PONG, h->chan, h->stream, p, h->length);
        break;
    case OC_T_PONG:
    case OC_T_ERROR:
        break; /* answers to nothing we asked; harmless */
    case OC_T_OPEN:
        on_open(c, h->stream, p, h->length);
        break;
    case OC_T_DATA:
    case OC_T_EOF:
    case OC_T_WINDOW:
    case OC_T_CANCEL:
    case OC_T_SIGNAL:
    case OC_T_RESIZE:
        if (h->stream == 0)
            send_error(c, 0, OC_PERR_PROTOCOL, "%s on stream 0", oc_proto_type_name(h->type));
        else
            on_stream_frame(c, h, p);
        break;
    case OC_T_HELLO_ACK:
    case OC_T_RESULT:
        send_error(c, 0, OC_PERR_PROTOCOL, "%s is sent by the agent, not to it",
                   oc_proto_type_name(h->type));
        break;
    default:
        send_error(c, 0, OC_PERR_UNSUPPORTED, "unknown frame type 0x%02x", h->type);
        break;
    }
}

/* Finds a HELLO header prefix in the buffer; keeps it and what follows, or
 * the last 7 bytes that might be the start of one. */
static void resync_scan(agent_conn *c)
{
    size_t n = c->in_len;
    for (size_t i = 0; i + sizeof hello_prefix <= n; i++) {
        if (c->in[i] == hello_prefix[0] && !memcmp(c->in + i, hello_prefix, sizeof hello_prefix)) {
            memmove(c->in, c->in + i, n - i);
            c->in_len = n - i;
            c->resync = 0;
            return;
        }
    }
    size_t keep = n < sizeof hello_prefix - 1 ? n : sizeof hello_prefix - 1;
    memmove(c->in, c->in + n - keep, keep);
    c->in_len = keep;
}

/* Handles complete frames in the input buffer while the output queue has
 * room for their answers; the rest waits for the next round. */
static void process_input(agent_conn *c)
{
    size_t off = 0;
    for (;;) {
        if (c->resync) {
            memmove(c->in, c->in + off, c->in_len - off);
            c->in_len -= off;
            off = 0;
            resync_scan(c);
            if (c->resync)
                return;
        }
        if (c->in_len - off < OC_PROTO_HEADER_SIZE)
            break;
        if (out_room(c) < AGENT_FRAME_MAX + AGENT_OUT_SLACK)
            break;
        oc_proto_header h;
        if (oc_proto_header_decode(&h, c->in + off) < 0) {
            send_error(c, 0, OC_PERR_PROTOCOL, "malformed frame header; resynchronising on HELLO");
            off++;
            c->resync = 1;
            continue;
        }
        if (c->in_len - off < OC_PROTO_HEADER_SIZE + h.length)
            break;
        const uint8_t *payload = c->in + off + OC_PROTO_HEADER_SIZE;
        off += OC_PROTO_HEADER_SIZE + h.length;
        if (!c->mb_mode || !misbehave_frame(c, &h, payload))
            dispatch(c, &h, payload);
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

int conn_wants_read(const agent_conn *c)
{
    return c->in_len < AGENT_IN_CAP && out_room(c) >= AGENT_FRAME_MAX + AGENT_OUT_SLACK;
}

int conn_read(agent_conn *c)
{
    /* virtio-serial hands out one small buffer (a page) per read(), so keep
     * reading until it runs dry or a read's worth is in: one poll round per
     * 4 KiB would cap throughput far below the channel's. */
    size_t got = 0;
    while (got < AGENT_READ_SIZE && c->in_len < AGENT_IN_CAP) {
        size_t space = AGENT_IN_CAP - c->in_len;
        if (space > AGENT_READ_SIZE - got)
            space = AGENT_READ_SIZE - got;
        ssize_t n = read(c->fd, c->in + c->in_len, space);
        if (n == 0) {
            if (got)
                break; /* process what came before the hang-up first */
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || got)
                break;
            return -1;
        }
        c->in_len += (size_t)n;
        got += (size_t)n;
    }
    process_input(c);
    return 0;
}

/* Frames already read but held back while the output buffer was full. */
void conn_process_held_input(agent_conn *c)
{
    process_input(c);
}
