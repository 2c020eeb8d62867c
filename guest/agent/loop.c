/* loop.c: the agent's single poll loop: the connections, children's pipes,
 * signals (SIGCHLD and shutdown) and timers. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* While no host is connected the port reports POLLHUP continuously, so it
 * is rechecked at this interval instead of polled. */
#define HUP_RECHECK_MS 50

/* signals, listening socket, each connection, its streams' fds, sessions */
static struct pollfd pfd[2 + AGENT_MAX_CONNS * (1 + AGENT_MAX_STREAMS * 3) +
                         OC_PROTO_MAX_SESSIONS * 2];

/* The stream whose child pid is: an EXEC's process, or a FILE_REMOVE's
 * worker. */
static agent_stream *stream_by_pid(pid_t pid)
{
    for (int k = 0; k < AGENT_MAX_CONNS; k++) {
        for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
            agent_stream *s = agent.conns[k].streams[i];
            if (s && s->pid == pid && ((s->op == OC_OP_EXEC && !s->exited) ||
                                       s->op == OC_OP_FILE_REMOVE))
                return s;
        }
    }
    return NULL;
}

/* Reaps every child that has exited.  As PID 1 that includes orphans
 * reparented to us; those match no stream and are simply collected. */
static void reap(void)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        agent_stream *s = stream_by_pid(pid);
        if (s && s->op == OC_OP_FILE_REMOVE)
            fileop_remove_exited(s, st);
        else if (s)
            exec_exited(s, st);
        else
            session_exited(pid, st);
    }
}

static void on_signals(void)
{
    struct signalfd_siginfo si;
    while (read(agent.sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            continue;
        if (si.ssi_signo == SIGUSR1) {
            misbehave_signal((pid_t)si.ssi_pid, si.ssi_code == SI_QUEUE ? si.ssi_int : 0);
            continue;
        }
        if (agent.pid1)
            pid1_shutdown();
        /* Test mode: leave no process groups behind. */
        streams_cancel_all();
        sessions_kill_all();
        if (agent.listen_fd >= 0)
            close(agent.listen_fd);
        exit(0);
    }
    reap();
}

static void hang_up(agent_conn *c)
{
    conn_reset(c);
    if (agent.mode == MODE_LISTEN) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    /* What the old host sent and we have not read stays in the port until
     * read; it must not be taken for the next host's requests. */
    uint8_t *scratch = c->in;
    while (read(c->fd, scratch, AGENT_READ_SIZE) > 0)
        ;
    c->hup = 1;
    agent.hup_until_ms = agent_now_ms() + HUP_RECHECK_MS;
}

/* The ports without a host: has one connected since the last check?  All
 * are checked in one wake-up, so idle ports cost no more than one. */
static void ports_recheck(int64_t now)
{
    for (int i = 0; i < AGENT_MAX_CONNS; i++) {
        agent_conn *c = &agent.conns[i];
        if (c->fd < 0 || !c->hup)
            continue;
        struct pollfd q = { .fd = c->fd, .events = POLLIN };
        if (poll(&q, 1, 0) < 0 || (q.revents & POLLHUP))
            continue;
        c->hup = 0;
        conn_reset(c);
    }
    if (agent.port_scan_until_ms && (now >= agent.port_scan_until_ms || !port_scan()))
        agent.port_scan_until_ms = 0;
    agent.hup_until_ms = now + HUP_RECHECK_MS;
}

static int ports_need_recheck(void)
{
    if (agent.mode != MODE_PORT)
        return 0;
    for (int i = 0; i < AGENT_MAX_CONNS; i++)
        if (agent.conns[i].fd >= 0 && agent.conns[i].hup)
            return 1;
    return agent.port_scan_until_ms != 0;
}

/* Test mode: a free slot, or NULL while every one is taken (further clients
 * wait in the backlog, as they would for a port). */
static agent_conn *free_slot(void)
{
    for (int i = 0; i < AGENT_MAX_CONNS; i++)
        if (agent.conns[i].fd < 0)
            return &agent.conns[i];
    return NULL;
}

static void on_accept(void)
{
    agent_conn *c = free_slot();
    if (!c)
        return;
    int fd = accept4(agent.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    conn_open(c, fd);
}

static int64_t min_deadline(int64_t a, int64_t b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return a < b ? a : b;
}

static void conn_events(agent_conn *c, short re)
{
    /* On the port POLLHUP means "no host", data or not; on a socket the
     * peer's last bytes are still read before its EOF. */
    if (agent.mode == MODE_PORT && (re & POLLHUP))
        hang_up(c);
    else if ((re & POLLIN) && conn_read(c) < 0)
        hang_up(c);
    else if ((re & (POLLHUP | POLLERR)) && !(re & POLLIN))
        hang_up(c);
    else if ((re & POLLOUT) && conn_flush(c) < 0)
        hang_up(c);
}

void loop_run(void)
{
    int conn_i[AGENT_MAX_CONNS];

    for (;;) {
        int64_t now = agent_now_ms();
        int64_t deadline = 0;
        int busy = 0;

        if (ports_need_recheck() && now >= agent.hup_until_ms)
            ports_recheck(now);

        /* Timers and file pumps may end streams, so each slot is re-read. */
        for (int k = 0; k < AGENT_MAX_CONNS; k++) {
            for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
                agent_stream *s = agent.conns[k].streams[i];
                if (s && stream_pumps_fds(s))
                    deadline = min_deadline(deadline, exec_timers(s, now));
            }
        }
        deadline = min_deadline(deadline, sessions_timers(now));
        /* Twice: input held back and pumps stopped for want of output room
         * can go on once the flush has made room, and nothing else would
         * wake the poll below for them. */
        for (int round = 0; round < 2; round++) {
            for (int k = 0; k < AGENT_MAX_CONNS; k++) {
                agent_conn *c = &agent.conns[k];
                if (conn_up(c))
                    conn_process_held_input(c);
                if (c->mb_mode)
                    misbehave_pump(c);
                for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
                    agent_stream *s = c->streams[i];
                    if (s && s->op == OC_OP_SESSION_ATTACH)
                        session_pump(s);
                    else if (s && !stream_pumps_fds(s) && file_pump(s))
                        busy = 1;
                }
                if (conn_up(c) && conn_wants_write(c) && conn_flush(c) < 0)
                    hang_up(c);
            }
        }

        int n = 0, listen_i = -1;
        pfd[n++] = (struct pollfd){ .fd = agent.sig_fd, .events = POLLIN };
        for (int k = 0; k < AGENT_MAX_CONNS; k++) {
            agent_conn *c = &agent.conns[k];
            conn_i[k] = -1;
            if (conn_up(c)) {
                short ev = (short)((conn_wants_read(c) ? POLLIN : 0) |
                                   (conn_wants_write(c) ? POLLOUT : 0));
                pfd[n] = (struct pollfd){ .fd = c->fd, .events = ev };
                conn_i[k] = n++;
            }
        }
        if (agent.mode == MODE_LISTEN && free_slot()) {
            pfd[n] = (struct pollfd){ .fd = agent.listen_fd, .events = POLLIN };
            listen_i = n++;
        }
        for (int k = 0; k < AGENT_MAX_CONNS; k++) {
            for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
                agent_stream *s = agent.conns[k].streams[i];
                if (s && stream_pumps_fds(s))
                    exec_poll_setup(s, pfd, &n);
                else if (s && s->op == OC_OP_SESSION_ATTACH)
                    attach_poll_setup(s, pfd, &n);
            }
        }
        /* Always, attached or not: session output never waits for a host. */
        sessions_poll_setup(pfd, &n);
        if (ports_need_recheck())
            deadline = min_deadline(deadline, agent.hup_until_ms);

        int timeout = -1;
        if (busy)
            timeout = 0;
        else if (deadline)
            timeout = deadline <= now ? 0 : (int)(deadline - now);
        if (poll(pfd, (nfds_t)n, timeout) < 0) {
            if (errno != EINTR)
                agent_log("poll: %s", strerror(errno));
            continue;
        }

        for (int k = 0; k < AGENT_MAX_CONNS; k++) {
            for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
                agent_stream *s = agent.conns[k].streams[i];
                if (s && stream_pumps_fds(s))
                    exec_poll_events(s, pfd);
                else if (s && s->op == OC_OP_SESSION_ATTACH)
                    attach_poll_events(s, pfd);
            }
        }
        sessions_poll_events(pfd);
        if (pfd[0].revents)
            on_signals();
        for (int k = 0; k < AGENT_MAX_CONNS; k++) {
            agent_conn *c = &agent.conns[k];
            if (conn_i[k] >= 0 && c->fd == pfd[conn_i[k]].fd)
                conn_events(c, pfd[conn_i[k]].revents);
        }
        /* After the connections: a slot freed by a hang-up above is
         * taken by the next client on the next round. */
        if (listen_i >= 0 && pfd[listen_i].revents)
            on_accept();
    }
}
