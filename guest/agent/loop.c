/* loop.c: the agent's single poll loop: the connection, children's pipes,
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

static struct pollfd pfd[4 + AGENT_MAX_STREAMS * 3 + OC_PROTO_MAX_SESSIONS * 2];

static agent_stream *exec_by_pid(pid_t pid)
{
    for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
        agent_stream *s = agent.streams[i];
        if (s && s->op == OC_OP_EXEC && s->pid == pid && !s->exited)
            return s;
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
        agent_stream *s = exec_by_pid(pid);
        if (s)
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

static void hang_up(void)
{
    conn_reset();
    if (agent.mode == MODE_LISTEN) {
        close(agent.fd);
        agent.fd = -1;
        return;
    }
    /* What the old host sent and we have not read stays in the port until
     * read; it must not be taken for the next host's requests. */
    uint8_t *scratch = agent.in;
    while (read(agent.fd, scratch, AGENT_READ_SIZE) > 0)
        ;
    agent.hup = 1;
    agent.hup_until_ms = agent_now_ms() + HUP_RECHECK_MS;
}

/* The port: has a host connected since the last check? */
static void port_recheck(int64_t now)
{
    struct pollfd q = { .fd = agent.fd, .events = POLLIN };
    if (poll(&q, 1, 0) < 0 || (q.revents & POLLHUP)) {
        agent.hup_until_ms = now + HUP_RECHECK_MS;
        return;
    }
    agent.hup = 0;
    conn_reset();
}

static void on_accept(void)
{
    int fd = accept4(agent.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    agent.fd = fd;
    conn_reset();
}

static int64_t min_deadline(int64_t a, int64_t b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return a < b ? a : b;
}

void loop_run(void)
{
    for (;;) {
        int64_t now = agent_now_ms();
        int64_t deadline = 0;
        int busy = 0;

        if (agent.mode == MODE_PORT && agent.hup && now >= agent.hup_until_ms)
            port_recheck(now);

        /* Timers and file pumps may end streams, so each slot is re-read. */
        for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
            agent_stream *s = agent.streams[i];
            if (s && s->op == OC_OP_EXEC)
                deadline = min_deadline(deadline, exec_timers(s, now));
        }
        deadline = min_deadline(deadline, sessions_timers(now));
        /* Twice: input held back and pumps stopped for want of output room
         * can go on once the flush has made room, and nothing else would
         * wake the poll below for them. */
        for (int round = 0; round < 2; round++) {
            if (agent.fd >= 0 && !agent.hup)
                conn_process_held_input();
            for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
                agent_stream *s = agent.streams[i];
                if (s && s->op == OC_OP_SESSION_ATTACH)
                    session_pump(s);
                else if (s && s->op != OC_OP_EXEC && file_pump(s))
                    busy = 1;
            }
            if (agent.fd >= 0 && !agent.hup && conn_wants_write() && conn_flush() < 0)
                hang_up();
        }

        int n = 0, conn_i = -1, listen_i = -1;
        pfd[n++] = (struct pollfd){ .fd = agent.sig_fd, .events = POLLIN };
        if (agent.fd >= 0 && !agent.hup) {
            short ev = (short)((conn_wants_read() ? POLLIN : 0) | (conn_wants_write() ? POLLOUT : 0));
            pfd[n] = (struct pollfd){ .fd = agent.fd, .events = ev };
            conn_i = n++;
        }
        if (agent.mode == MODE_LISTEN && agent.fd < 0) {
            pfd[n] = (struct pollfd){ .fd = agent.listen_fd, .events = POLLIN };
            listen_i = n++;
        }
        for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
            agent_stream *s = agent.streams[i];
            if (s && s->op == OC_OP_EXEC)
                exec_poll_setup(s, pfd, &n);
            else if (s && s->op == OC_OP_SESSION_ATTACH)
                attach_poll_setup(s, pfd, &n);
        }
        /* Always, attached or not: session output never waits for a host. */
        sessions_poll_setup(pfd, &n);
        if (agent.mode == MODE_PORT && agent.hup)
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

        for (int i = 0; i < AGENT_MAX_STREAMS; i++) {
            agent_stream *s = agent.streams[i];
            if (s && s->op == OC_OP_EXEC)
                exec_poll_events(s, pfd);
            else if (s && s->op == OC_OP_SESSION_ATTACH)
                attach_poll_events(s, pfd);
        }
        sessions_poll_events(pfd);
        if (pfd[0].revents)
            on_signals();
        if (listen_i >= 0 && pfd[listen_i].revents)
            on_accept();
        if (conn_i >= 0 && agent.fd == pfd[conn_i].fd) {
            short re = pfd[conn_i].revents;
            /* On the port POLLHUP means "no host", data or not; on a socket
             * the peer's last bytes are still read before its EOF. */
            if (agent.mode == MODE_PORT && (re & POLLHUP))
                hang_up();
            else if ((re & POLLIN) && conn_read() < 0)
                hang_up();
            else if ((re & (POLLHUP | POLLERR)) && !(re & POLLIN))
                hang_up();
            else if ((re & POLLOUT) && conn_flush() < 0)
                hang_up();
        }
    }
}
