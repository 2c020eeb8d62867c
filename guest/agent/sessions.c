/* sessions.c: background exec sessions (docs/protocol.md, "Sessions").
 *
 * A session's process belongs to the agent, not to a stream: its pipes are
 * polled whether or not anyone is attached, and always drained into one
 * ring per output channel, so the process never blocks on output and the
 * agent never holds more than the rings.  Attach streams read the rings
 * through their own cursors, within their own credit; the connection going
 * away ends them and nothing else.
 *
 * A PTY session has a terminal instead of pipes: out_fd[1] is its master,
 * in_fd a second descriptor of it, and chan 2 is never written.
 */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Bytes read from a pipe per poll round, and reads per round: enough for a
 * flood to go on at pipe speed, few enough that the loop stays responsive. */
#define DRAIN_CHUNK (64u * 1024u)
#define DRAIN_READS 4
/* An attacher whose host has granted no credit for this long is taken to
 * have stopped reading: output no longer waits for it. */
#define HOLD_MS 1000
/* After the exit, how often a pipe held for an attacher is looked at again. */
#define DRAIN_RETRY_MS 200

typedef struct {
    uint32_t id;
    pid_t pid;              /* 0: the program could not be run */
    int out_fd[3];          /* [1] stdout, [2] stderr; -1 at EOF */
    int in_fd;              /* stdin write end, -1 once closed */
    uint32_t cols, rows;    /* a PTY session's terminal size; 0: pipes */
    int pidx[3];
    agent_ring ring[3];
    int exited, status, timed_out;
    uint64_t after_exit[3];  /* bytes read from each pipe since the exit */
    int64_t t_start_us, t_exit_us;
    uint64_t started_ms;    /* unix time, for SESSION_LIST */
    int64_t kill_at_ms, drain_at_ms;
    uint8_t *cmd;           /* the ARG / COMMAND fields as given */
    size_t cmd_len;
    agent_stream *attached; /* attach streams, through next_attach; a session
                             * that has any is never evicted */
} session;

static session *sessions[OC_PROTO_MAX_SESSIONS];
static uint32_t next_id = 1;

static session *session_find(uint32_t id)
{
    for (unsigned i = 0; i < OC_PROTO_MAX_SESSIONS; i++)
        if (sessions[i] && sessions[i]->id == id)
            return sessions[i];
    return NULL;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void session_destroy(session *x)
{
    for (int c = 1; c <= 2; c++) {
        close_fd(&x->out_fd[c]);
        ring_free(&x->ring[c]);
    }
    close_fd(&x->in_fd);
    free(x->cmd);
    free(x);
}

/* A free slot, or else that of the exited session that exited first (the
 * caller evicts it once the new session exists, so that a request that
 * fails loses nothing); -1 if every session is running or attached. */
static int pick_slot(void)
{
    int victim = -1;
    for (unsigned i = 0; i < OC_PROTO_MAX_SESSIONS; i++) {
        session *x = sessions[i];
        if (!x)
            return (int)i;
        if (x->exited && !x->attached &&
            (victim < 0 || x->t_exit_us < sessions[victim]->t_exit_us))
            victim = (int)i;
    }
    return victim;
}

/* Parses SESSION (required) and, where allowed, SIGNAL.  Sends ERROR and
 * frees the stream on a bad request. */
static int parse_id(agent_stream *s, const uint8_t *p, size_t len, const char *what,
                    uint32_t *id, uint32_t *sig)
{
    agent_fail f;
    if (session_ref_parse(p, len, what, id, sig, &f) == 0)
        return 0;
    stream_fail(s, &f);
    stream_free(s, 0);
    return -1;
}

static session *find_or_fail(agent_stream *s, uint32_t id, const char *what)
{
    session *x = session_find(id);
    if (!x) {
        stream_error(s, OC_PERR_NOENT, "%s: no session %u (never started, or evicted)", what,
                     id);
        stream_free(s, 0);
    }
    return x;
}

/* ---- SESSION_START ---- */

/* Keeps the ARG / COMMAND fields as they came, to list them later. */
static int keep_command(session *x, const uint8_t *p, size_t len)
{
    oc_proto_reader r;
    oc_proto_field f;
    x->cmd = malloc(len ? len : 1);
    if (!x->cmd)
        return -1;
    oc_proto_reader_init(&r, p, len);
    while (oc_proto_next(&r, &f) == 1) {
        if (f.tag != OC_F_ARG && f.tag != OC_F_COMMAND)
            continue;
        memcpy(x->cmd + x->cmd_len, f.data - 6, 6 + (size_t)f.len);
        x->cmd_len += 6 + (size_t)f.len;
    }
    return 0;
}

void session_start(agent_stream *s, const uint8_t *p, size_t len)
{
    int slot = pick_slot();
    if (slot < 0) {
        stream_error(s, OC_PERR_LIMIT, "SESSION_START: %u sessions are running or attached; "
                     "kill one first", OC_PROTO_MAX_SESSIONS);
        stream_free(s, 0);
        return;
    }
    session *x = calloc(1, sizeof *x);
    if (!x || keep_command(x, p, len) < 0) {
        free(x);
        stream_error(s, OC_PERR_LIMIT, "SESSION_START: out of memory");
        stream_free(s, 0);
        return;
    }
    exec_child c;
    char msg[512];
    int rc = exec_spawn(s, p, len, 1, &c, msg, sizeof msg);
    if (rc < 0) {
        free(x->cmd);
        free(x);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    x->id = next_id++;
    x->started_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    x->t_start_us = c.t_start_us;
    x->pid = c.pid;
    x->out_fd[0] = -1;
    x->out_fd[1] = c.out_fd[1];
    x->out_fd[2] = c.out_fd[2];
    x->in_fd = c.in_fd;
    x->cols = c.cols;
    x->rows = c.rows;
    x->pidx[0] = x->pidx[1] = x->pidx[2] = -1;
    for (int k = 1; k <= 2; k++)
        ring_init(&x->ring[k], OC_PROTO_SESSION_RING);
    if (rc > 0) {
        /* Not runnable: an exited session whose output says why, as EXEC:
         * on stderr, or a terminal's only channel with a terminal's line
         * end. */
        int chan = x->cols ? 1 : 2;
        const char *eol = x->cols ? "\r\n" : "\n";
        x->exited = 1;
        x->status = rc << 8;
        x->t_exit_us = x->t_start_us;
        ring_write(&x->ring[chan], (const uint8_t *)msg, strlen(msg) - 1); /* but its "\n" */
        ring_write(&x->ring[chan], (const uint8_t *)eol, strlen(eol));
    } else if (c.timeout_ms) {
        x->kill_at_ms = agent_now_ms() + c.timeout_ms;
    }
    if (sessions[slot])
        session_destroy(sessions[slot]);
    sessions[slot] = x;

    uint8_t buf[64];
    oc_proto_writer w;
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_SESSION, x->id);
    oc_proto_put_u32(&w, OC_F_PID, (uint32_t)x->pid);
    stream_send(s, OC_T_RESULT, 0, buf, (uint32_t)w.len);
    stream_free(s, 0);
}

/* ---- SESSION_LIST, SESSION_KILL ---- */

void session_list(agent_stream *s, const uint8_t *p, size_t len)
{
    oc_proto_reader r;
    oc_proto_field f;
    int rc;
    oc_proto_reader_init(&r, p, len);
    while ((rc = oc_proto_next(&r, &f)) == 1) {
        if (f.tag != OC_F_OP) {
            stream_error(s, OC_PERR_UNSUPPORTED, "SESSION_LIST: unknown field 0x%04x", f.tag);
            stream_free(s, 0);
            return;
        }
    }
    /* The fixed fields of a record take under 100 bytes. */
    size_t total = 1;
    for (unsigned i = 0; i < OC_PROTO_MAX_SESSIONS; i++)
        if (sessions[i])
            total += 128 + sessions[i]->cmd_len;
    s->rec = malloc(total);
    if (rc < 0 || !s->rec) {
        stream_error(s, rc < 0 ? OC_PERR_PROTOCOL : OC_PERR_LIMIT, "SESSION_LIST: %s",
                     rc < 0 ? "malformed field list" : "out of memory");
        stream_free(s, 0);
        return;
    }
    for (unsigned i = 0; i < OC_PROTO_MAX_SESSIONS; i++) {
        session *x = sessions[i];
        if (!x)
            continue;
        oc_proto_writer w;
        oc_proto_writer_init(&w, s->rec + s->rec_len + 4, total - s->rec_len - 4);
        oc_proto_put_u32(&w, OC_F_SESSION, x->id);
        oc_proto_put_u32(&w, OC_F_PID, (uint32_t)x->pid);
        memcpy(w.buf + w.len, x->cmd, x->cmd_len);
        w.len += x->cmd_len;
        oc_proto_put_u8(&w, OC_F_RUNNING, (uint8_t)!x->exited);
        if (x->exited)
            exec_put_exit(&w, x->status);
        oc_proto_put_u64(&w, OC_F_STARTED_MS, x->started_ms);
        if (x->cols) {
            oc_proto_put_u32(&w, OC_F_COLS, x->cols);
            oc_proto_put_u32(&w, OC_F_ROWS, x->rows);
        }
        uint8_t *lp = s->rec + s->rec_len;
        for (int k = 0; k < 4; k++)
            lp[k] = (uint8_t)(w.len >> (8 * k));
        s->rec_len += 4 + w.len;
    }
    /* file_pump sends the records, then EOF and RESULT. */
}

void session_kill(agent_stream *s, const uint8_t *p, size_t len)
{
    uint32_t id, sig = SIGKILL;
    if (parse_id(s, p, len, "SESSION_KILL", &id, &sig) < 0)
        return;
    session *x = find_or_fail(s, id, "SESSION_KILL");
    if (!x)
        return;
    /* After the exit only while a background child holds the pipes: the
     * group id might otherwise be someone else's by now. */
    if (x->pid > 0 && (!x->exited || x->out_fd[1] >= 0 || x->out_fd[2] >= 0))
        kill(-x->pid, (int)sig);
    stream_send(s, OC_T_RESULT, 0, NULL, 0);
    stream_free(s, 0);
}

/* ---- SESSION_ATTACH ---- */

void session_attach(agent_stream *s, const uint8_t *p, size_t len)
{
    uint32_t id;
    if (parse_id(s, p, len, "SESSION_ATTACH", &id, NULL) < 0)
        return;
    session *x = find_or_fail(s, id, "SESSION_ATTACH");
    if (!x)
        return;
    s->session = id;
    s->next_attach = x->attached;
    x->attached = s;
    s->credit_ms[1] = s->credit_ms[2] = agent_now_ms();
    /* From the first byte: if the ring no longer holds it, the attacher is
     * told (SKIPPED) how much came before its scrollback. */
    for (int c = 1; c <= 2; c++) {
        s->cursor[c] = 0;
        s->replay_end[c] = x->ring[c].total;
    }
    if (x->cols) {
        /* First, so that the host knows it has a terminal before any
         * output: it can then refuse a resize of a session without one. */
        uint8_t buf[32];
        oc_proto_writer w;
        oc_proto_writer_init(&w, buf, sizeof buf);
        oc_proto_put_u32(&w, OC_F_COLS, x->cols);
        oc_proto_put_u32(&w, OC_F_ROWS, x->rows);
        stream_send(s, OC_T_INFO, 0, buf, (uint32_t)w.len);
    }
}

static void close_session_stdin(session *x)
{
    close_fd(&x->in_fd);
}

/* Writes the stream's held input to the session's stdin; closes that at the
 * host's EOF, except a terminal's (session_input_eof).  Input for a closed
 * stdin is dropped, as EXEC does. */
static void attach_flush(agent_stream *s, session *x)
{
    if (x->in_fd < 0) {
        input_drop(s);
        return;
    }
    if (input_flush(s, x->in_fd) < 0) {
        close_session_stdin(x);
        input_drop(s);
        return;
    }
    if (s->in_eof && s->in_len == 0 && !x->cols)
        close_session_stdin(x);
}

void session_input(agent_stream *s, const uint8_t *p, size_t len)
{
    session *x = session_find(s->session);
    if (input_append(s, x ? x->in_fd : -1, p, len) > 0)
        attach_flush(s, x);
}

void session_input_eof(agent_stream *s)
{
    session *x = session_find(s->session);
    s->in_eof = 1;
    if (x && x->cols && x->in_fd >= 0) {
        /* Closing a terminal's master would hang it up, and other
         * attachers may still type: EOF is the terminal's EOF character
         * after this stream's input, as if typed.  Its byte came with no
         * credit, but none is returned after EOF anyway. */
        uint8_t eof = pty_eof_char(x->in_fd);
        if (eof && input_append(s, x->in_fd, &eof, 1) < 0)
            return; /* the stream is gone */
    }
    if (x)
        attach_flush(s, x);
}

void session_signal(agent_stream *s, int sig)
{
    session *x = session_find(s->session);
    if (x && x->pid > 0 && !x->exited)
        kill(-x->pid, sig);
}

int session_resize(agent_stream *s, uint32_t cols, uint32_t rows)
{
    session *x = session_find(s->session);
    if (!x || !x->cols)
        return -1;
    /* After the exit the terminal may be gone already, and a resize that
     * crossed the exit on the wire is no mistake of the host's. */
    int fd = x->in_fd >= 0 ? x->in_fd : x->out_fd[1];
    if (x->exited || fd < 0 || pty_resize(fd, cols, rows) < 0)
        return 0;
    x->cols = cols;
    x->rows = rows;
    return 0;
}

void session_detach(agent_stream *s)
{
    /* Detaching is what CANCEL means here: the process is not touched. */
    stream_send(s, OC_T_RESULT, 0, NULL, 0);
    stream_free(s, 0);
}

void session_release(agent_stream *s)
{
    session *x = session_find(s->session);
    if (x) {
        for (agent_stream **p = &x->attached; *p; p = &(*p)->next_attach)
            if (*p == s) {
                *p = s->next_attach;
                break;
            }
    }
    free(s->in_buf);
}

void session_pump(agent_stream *s)
{
    session *x = session_find(s->session);
    if (!x)
        return; /* attached sessions are never evicted */
    for (;;) {
        for (int c = 1; c <= 2; c++) {
            agent_ring *r = &x->ring[c];
            uint64_t limit = s->replayed ? r->total : s->replay_end[c];
            /* An attacher that fell behind past the ring skips what it
             * dropped: a gap for it alone, never for the process.  It is
             * told how much, where (INFO on the channel), once it can take
             * data again. */
            if (s->cursor[c] < ring_start(r) && stream_sendable(s, c) > 0) {
                uint8_t buf[16];
                oc_proto_writer w;
                oc_proto_writer_init(&w, buf, sizeof buf);
                oc_proto_put_u64(&w, OC_F_SKIPPED, ring_start(r) - s->cursor[c]);
                stream_send(s, OC_T_INFO, (uint8_t)c, buf, (uint32_t)w.len);
                s->cursor[c] = ring_start(r);
            }
            while (s->cursor[c] < limit) {
                const uint8_t *p;
                size_t max = stream_sendable(s, c);
                if (max > limit - s->cursor[c])
                    max = (size_t)(limit - s->cursor[c]);
                size_t n = ring_peek(r, s->cursor[c], max, &p);
                if (!n)
                    break;
                send_data(s, c, p, n);
                s->cursor[c] += n;
            }
        }
        if (s->replayed || s->cursor[1] < s->replay_end[1] || s->cursor[2] < s->replay_end[2])
            break;
        uint8_t buf[16];
        oc_proto_writer w;
        oc_proto_writer_init(&w, buf, sizeof buf);
        oc_proto_put_u8(&w, OC_F_REPLAY_END, 1);
        stream_send(s, OC_T_INFO, 0, buf, (uint32_t)w.len);
        s->replayed = 1;
    }
    if (x->exited && x->out_fd[1] < 0 && x->out_fd[2] < 0 &&
        s->cursor[1] == x->ring[1].total && s->cursor[2] == x->ring[2].total &&
        conn_up(s->conn)) {
        stream_send(s, OC_T_EOF, OC_CHAN_OUT, NULL, 0);
        stream_send(s, OC_T_EOF, OC_CHAN_ERR, NULL, 0);
        exec_send_result(s, x->status, x->timed_out, x->t_exit_us - x->t_start_us);
        stream_free(s, 0);
    }
}

void attach_poll_setup(agent_stream *s, struct pollfd *pfd, int *n)
{
    session *x = session_find(s->session);
    s->pidx[0] = -1;
    if (!x || s->in_len == s->in_off)
        return;
    if (x->in_fd < 0) {
        input_drop(s);
        return;
    }
    pfd[*n] = (struct pollfd){ .fd = x->in_fd, .events = POLLOUT };
    s->pidx[0] = (*n)++;
}

void attach_poll_events(agent_stream *s, const struct pollfd *pfd)
{
    session *x = session_find(s->session);
    int i = s->pidx[0];
    s->pidx[0] = -1;
    if (x && i >= 0 && pfd[i].revents && pfd[i].fd == x->in_fd)
        attach_flush(s, x);
}

/* ---- the processes ---- */

int session_exited(pid_t pid, int status)
{
    for (unsigned i = 0; i < OC_PROTO_MAX_SESSIONS; i++) {
        session *x = sessions[i];
        if (!x || x->exited || x->pid != pid)
            continue;
        x->exited = 1;
        x->status = status;
        x->t_exit_us = agent_now_us();
        x->kill_at_ms = 0;
        x->drain_at_ms = agent_now_ms() + AGENT_DRAIN_MS;
        close_session_stdin(x);
        return 1;
    }
    return 0;
}

/* Until when channel c's pipe is left unread; 0: it may be read now.
 * Output waits for attached hosts that read, never for one that stopped:
 * while an attacher that takes data (it has credit, or was granted some in
 * the last HOLD_MS) is within one drain of losing bytes it has not been
 * sent, the pipe is not read and the process blocks on it as on any pipe.
 * An attacher whose host has granted nothing for HOLD_MS holds nothing back
 * (it skips, and is told), and with nobody attached the ring drops its
 * oldest bytes.  INT64_MAX: until the channel takes the data. */
static int64_t held_until(const session *x, int c, int64_t now)
{
    uint64_t room = x->ring[c].max - (uint64_t)DRAIN_CHUNK * DRAIN_READS;
    int64_t until = 0;
    for (const agent_stream *s = x->attached; s; s = s->next_attach) {
        if (x->ring[c].total - s->cursor[c] <= room)
            continue;
        if (s->credit[c] > 0)
            return INT64_MAX;
        if (s->credit_ms[c] + HOLD_MS > now && s->credit_ms[c] + HOLD_MS > until)
            until = s->credit_ms[c] + HOLD_MS;
    }
    return until;
}

void sessions_poll_setup(struct pollfd *pfd, int *n)
{
    for (unsigned i = 0; i < OC_PROTO_MAX_SESSIONS; i++) {
        session *x = sessions[i];
        if (!x)
            continue;
        for (int c = 1; c <= 2; c++) {
            x->pidx[c] = -1;
            if (x->out_fd[c] >= 0 && !held_until(x, c, agent_now_ms())) {
                pfd[*n] = (struct pollfd){ .fd = x->out_fd[c], .events = POLLIN };
                x->pidx[c] = (*n)++;
            }
        }
    }
}

/* Reads what the pipe has into the ring; closes it at EOF. */
static void drain(session *x, int c)
{
    static uint8_t chunk[DRAIN_CHUNK];
    for (int k = 0; k < DRAIN_READS; k++) {
        ssize_t n = read(x->out_fd[c], chunk, sizeof chunk);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            close_fd(&x->out_fd[c]);
            return;
        }
        ring_write(&x->ring[c], chunk, (size_t)n);
        if (x->exited)
            x->after_exit[c] += (uint64_t)n;
        if ((size_t)n < sizeof chunk)
            return;
    }
}

void sessions_poll_events(const struct pollfd *pfd)
{
    for (unsigned i = 0; i < OC_PROTO_MAX_SESSIONS; i++) {
        session *x = sessions[i];
        if (!x)
            continue;
        for (int c = 1; c <= 2; c++) {
            int k = x->pidx[c];
            x->pidx[c] = -1;
            if (k >= 0 && pfd[k].revents && pfd[k].fd == x->out_fd[c])
                drain(x, c);
        }
    }
}

int64_t sessions_timers(int64_t now)
{
    int64_t next = 0;
    for (unsigned i = 0; i < OC_PROTO_MAX_SESSIONS; i++) {
        session *x = sessions[i];
        if (!x)
            continue;
        if (x->kill_at_ms && now >= x->kill_at_ms && !x->exited) {
            kill(-x->pid, SIGKILL);
            x->timed_out = 1;
            x->kill_at_ms = 0;
        }
        if (x->drain_at_ms && now >= x->drain_at_ms) {
            /* What a pipe holds after the exit may be the process's own
             * output (up to PIPE_SIZE), left unread while an attacher was
             * behind: closing it would cut the end off without a word.
             * It is read as ever (never while held, a round at a time, so
             * the ring keeps what attachers still need) until it is empty
             * or PIPE_SIZE has come since the exit; beyond that, anything
             * still coming is a background child's, and the session's
             * output ends. */
            int waiting = 0;
            for (int c = 1; c <= 2; c++) {
                int avail = 0;
                if (x->out_fd[c] < 0)
                    continue;
                if (held_until(x, c, now)) {
                    waiting = 1;
                    continue;
                }
                drain(x, c);
                if (x->out_fd[c] >= 0 && x->after_exit[c] < PIPE_SIZE &&
                    ioctl(x->out_fd[c], FIONREAD, &avail) == 0 && avail > 0) {
                    waiting = 1;
                    continue;
                }
                close_fd(&x->out_fd[c]);
            }
            x->drain_at_ms = waiting ? now + DRAIN_RETRY_MS : 0;
        }
        if (x->exited && x->out_fd[1] < 0 && x->out_fd[2] < 0)
            x->drain_at_ms = 0;
        int64_t d = x->kill_at_ms ? x->kill_at_ms : 0;
        if (x->drain_at_ms && (!d || x->drain_at_ms < d))
            d = x->drain_at_ms;
        for (int c = 1; c <= 2; c++) {
            int64_t h = x->out_fd[c] >= 0 ? held_until(x, c, now) : 0;
            if (h && h != INT64_MAX && (!d || h < d))
                d = h; /* a hold that runs out must wake the loop */
        }
        if (d && (!next || d < next))
            next = d;
    }
    return next;
}

void sessions_kill_all(void)
{
    for (unsigned i = 0; i < OC_PROTO_MAX_SESSIONS; i++) {
        session *x = sessions[i];
        if (x && x->pid > 0 && (!x->exited || x->out_fd[1] >= 0 || x->out_fd[2] >= 0))
            kill(-x->pid, SIGKILL);
    }
}
