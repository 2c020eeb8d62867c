/* forward.c: PORT_CONNECT (docs/protocol.md): a TCP connection to a port on
 * the guest's own loopback, for the host's port forwarding (docs/network.md).
 *
 * The connect is to loopback only, where it completes or is refused at
 * once, so it may block the loop: no half-open state to track.  From then
 * on the socket is pumped by the exec code, as a process's pipes are: host
 * DATA on chan 0 is written to it, what it reads is DATA on chan 1, host EOF
 * shuts down its sending side, its EOF ends chan 1 and the stream. */
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

static int connect_to(int family, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;

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
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    /* small writes (a WebSocket's frames, an HTTP request) go at once */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void forward_open(agent_stream *s, const uint8_t *p, size_t len)
{
    agent_fail f;
    uint32_t port;
    int fd, out;

    if (forward_req_parse(p, len, &port, &f) < 0) {
        stream_fail(s, &f);
        stream_free(s, 0);
        return;
    }
    /* A server may listen on 127.0.0.1, on ::1, or on both (a wildcard). */
    fd = connect_to(AF_INET, (uint16_t)port);
    if (fd < 0)
        fd = connect_to(AF_INET6, (uint16_t)port);
    if (fd < 0) {
        stream_error(s, OC_PERR_NOENT, "nothing accepts connections on port %u in the sandbox "
                     "(%s); start the server there first, listening on 0.0.0.0 or 127.0.0.1",
                     port, strerror(errno));
        stream_free(s, 0);
        return;
    }
    out = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (out < 0) {
        stream_error(s, OC_PERR_LIMIT, "PORT_CONNECT: %s", strerror(errno));
        close(fd);
        stream_free(s, 0);
        return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->in_fd = fd;
    s->out_fd[OC_CHAN_OUT] = out;
    s->has_stdin = 1;
    s->exited = 1; /* no process to wait for: the stream ends with chan 1 */
    s->t_start_us = agent_now_us();

    uint8_t buf[16];
    oc_proto_writer w;
    oc_proto_writer_init(&w, buf, sizeof buf);
    oc_proto_put_u32(&w, OC_F_PORT, port);
    stream_send(s, OC_T_INFO, 0, w.buf, (uint32_t)w.len);
}
