/* forward.c: PORT_CONNECT (docs/protocol.md): a TCP connection to a port on
 * the guest's own loopback, for the host's port forwarding (docs/network.md).
 *
 * The connect does not block the loop: on loopback it usually completes or
 * is refused at once, but a server whose listen queue is full drops the
 * SYN, and a blocking connect would then hold every other stream for the
 * kernel's SYN retries (minutes).  So the socket is non-blocking and, while
 * the connect is in progress, polled for writability, with a deadline.
 * 127.0.0.1 is tried first, then ::1.  From then on the socket is pumped by
 * the exec code, as a process's pipes are: host DATA on chan 0 is written
 * to it, what it reads is DATA on chan 1, host EOF shuts down its sending
 * side, its EOF ends chan 1 and the stream. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Less than the host's wait for the stream's first frame (30 s), so the
 * host gets this reason rather than a timeout of its own. */
#define CONNECT_TIMEOUT_MS 10000

/* A non-blocking socket connecting to the port on family's loopback:
 * connected, or in progress (*pending); -1 with errno if refused. */
static int connect_start(int family, uint16_t port, int *pending)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd;

    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        in6->sin6_addr = in6addr_loopback;
        len = sizeof *in6;
    }
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    *pending = 0;
    if (connect(fd, (struct sockaddr *)&ss, len) == 0)
        return fd;
    if (errno == EINPROGRESS) {
        *pending = 1;
        return fd;
    }
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* Ends the stream: nothing listens on the port (err), on either address. */
static void refuse(agent_stream *s, int err)
{
    stream_error(s, OC_PERR_NOENT, "nothing accepts connections on port %u in the sandbox "
                 "(%s); start the server there first, listening on 0.0.0.0 or 127.0.0.1",
                 s->port, strerror(err));
    stream_free(s, 0);
}

/* The connection is up: the exec code pumps it from now on. */
static void established(agent_stream *s, int fd)
{
    int one = 1;
    /* small writes (a WebSocket's frames, an HTTP request) go at once */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int out = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (out < 0) {
        stream_error(s, OC_PERR_LIMIT, "PORT_CONNECT: %s", strerror(errno));
        close(fd);
        stream_free(s, 0);
        return;
    }
    if (s->in_eof) /* the host ended its side while we connected */
        shutdown(fd, SHUT_WR);
    s->in_fd = fd;
    s->out_fd[OC_CHAN_OUT] = out;
    s->has_stdin = 1;
    s->exited = 1; /* no process to wait for: the stream ends with chan 1 */
    s->t_start_us = agent_now_us();

    uint8_t buf[16];
    oc_proto_writer w;
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_PORT, s->port);
    stream_send(s, OC_T_INFO, 0, w.buf, (uint32_t)w.len);
}

/* Connects on family, then on ::1 if 127.0.0.1 refuses: a server may
 * listen on either, or on both (a wildcard). */
static void try_connect(agent_stream *s, int family)
{
    for (;;) {
        int pending, fd = connect_start(family, s->port, &pending);
        if (fd >= 0 && !pending) {
            established(s, fd);
            return;
        }
        if (fd >= 0) {
            s->connecting = family;
            s->in_fd = fd;
            if (!s->connect_until_ms)
                s->connect_until_ms = agent_now_ms() + CONNECT_TIMEOUT_MS;
            return;
        }
        if (family == AF_INET6) {
            refuse(s, errno);
            return;
        }
        family = AF_INET6;
    }
}

void forward_open(agent_stream *s, const uint8_t *p, size_t len)
{
    agent_fail f;
    uint32_t port;

    if (forward_req_parse(p, len, &port, &f) < 0) {
        stream_fail(s, &f);
        stream_free(s, 0);
        return;
    }
    s->port = (uint16_t)port;
    try_connect(s, AF_INET);
}

int forward_poll_setup(agent_stream *s, struct pollfd *pfd, int *n)
{
    if (!s->connecting)
        return 0;
    pfd[*n] = (struct pollfd){ .fd = s->in_fd, .events = POLLOUT };
    s->pidx[0] = (*n)++;
    return 1;
}

int forward_poll_events(agent_stream *s, const struct pollfd *pfd)
{
    int i = s->pidx[0], err = 0;
    socklen_t len = sizeof err;

    if (!s->connecting)
        return 0;
    s->pidx[0] = -1;
    if (i < 0 || !pfd[i].revents || pfd[i].fd != s->in_fd)
        return 1;
    int fd = s->in_fd, family = s->connecting;
    s->in_fd = -1;
    s->connecting = 0;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (!err) {
        established(s, fd);
        return 1;
    }
    close(fd);
    if (family == AF_INET)
        try_connect(s, AF_INET6);
    else
        refuse(s, err);
    return 1;
}

int forward_timers(agent_stream *s, int64_t now, int64_t *next)
{
    if (!s->connecting)
        return 0;
    if (now < s->connect_until_ms) {
        *next = s->connect_until_ms;
        return 1;
    }
    *next = 0;
    stream_error(s, OC_PERR_BUSY, "port %u in the sandbox did not accept the connection in %d "
                 "s: its server is not accepting (its listen queue is full?)", s->port,
                 CONNECT_TIMEOUT_MS / 1000);
    stream_free(s, 0); /* closes the socket */
    return 1;
}

int forward_cancel(agent_stream *s)
{
    if (!s->connecting)
        return 0;
    stream_error(s, OC_PERR_BUSY, "PORT_CONNECT to port %u cancelled before it connected",
                 s->port);
    stream_free(s, 0);
    return 1;
}
