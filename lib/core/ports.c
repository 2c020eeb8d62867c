/* ports.c: a guest's TCP port reached from the host (docs/network.md).
 *
 * An exposed port is a listening socket on the host's loopback, served by
 * this process: each connection it accepts becomes one PORT_CONNECT stream
 * to the guest's agent, which connects to the port on the guest's own
 * loopback.  So nothing depends on the guest's network configuration, the
 * host port stays the same across hibernate and wake, and a connection to a
 * hibernated sandbox wakes it (the call that opens the stream does).
 *
 * Threads: one accepting per exposed port, and two per connection (host to
 * guest, guest to host), since both ends are blocking APIs.  A port is
 * closed by shutting its sockets down and cancelling its streams, which
 * wakes every thread blocked on either, and joining them all. */
#include "core/ports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "core/context.h"
#include "core/sandbox.h"
#include "util/error.h"
#include "util/log.h"

/* Connections served at once per port; beyond, new ones are closed at once
 * (a client flood must not become a thread flood). */
#define PORT_MAX_CONNS 128
#define PORT_CONNECT_TIMEOUT_MS 30000
#define PORT_IO_CHUNK (64 * 1024)

typedef struct _PortConn PortConn;

struct _CorePort {
    oc_sandbox *sb;          /* the handle it belongs to (not a reference: the
                              * handle's end closes its ports first) */
    guint16 guest_port;
    guint16 host_port;
    int listen_fd;
    GThread *acceptor;
    GMutex lock;             /* guards conns and closing */
    GPtrArray *conns;        /* PortConn, the live ones */
    GCond drained;           /* signalled as conns empties */
    gboolean closing;
};

struct _PortConn {
    CorePort *port;
    int fd;                  /* the host client's socket */
    gint cut;                /* atomic: both directions are to end now */
    CoreCall call;
    AgentAttach *stream;     /* set and cleared under the port's lock */
};

/* Ends the client's socket both ways, which wakes the pump reading it; the
 * other sees `cut` within its poll interval. */
static void conn_cut(PortConn *c)
{
    g_atomic_int_set(&c->cut, 1);
    shutdown(c->fd, SHUT_RDWR);
}

/* Cuts the connection and cancels its stream, which also wakes a pump
 * waiting for the guest's credit (a guest that stops reading).  Called with
 * the port's lock held, or by a pump (while the stream lives). */
static void conn_stop(PortConn *c)
{
    conn_cut(c);
    if (c->stream)
        agent_attach_detach(c->stream);
}

/* Host client to guest: its bytes, then its end as a half-close (the
 * guest's server may still answer). */
static void pump_up(PortConn *c)
{
    g_autofree char *buf = g_malloc(PORT_IO_CHUNK);
    GError *err = NULL;

    for (;;) {
        ssize_t n = read(c->fd, buf, PORT_IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (!agent_attach_close_stdin(c->stream, &err))
                g_clear_error(&err); /* the guest side has ended already */
            return;
        }
        if (!agent_attach_write(c->stream, buf, (gsize)n, 0, &err)) {
            log_debug("%s: guest port %u: %s", c->port->sb->id, c->port->guest_port,
                      err->message);
            g_clear_error(&err);
            conn_cut(c);
            return;
        }
    }
}

static gboolean write_all(int fd, const guint8 *p, gsize len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        p += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/* Guest to host client.  An event is freed only once written, so a client
 * that stops reading holds the guest's server back by the stream's credit. */
static gpointer pump_down(gpointer data)
{
    PortConn *c = data;

    while (!g_atomic_int_get(&c->cut)) {
        AgentEvent *ev = agent_attach_next(c->stream, g_get_monotonic_time() + G_USEC_PER_SEC / 2);
        if (!ev)
            continue;
        gboolean end = ev->kind == AGENT_EVENT_END;
        gboolean ok = ev->kind != AGENT_EVENT_OUTPUT || write_all(c->fd, ev->data, ev->len);
        agent_attach_event_free(c->stream, ev);
        if (end || !ok)
            break;
    }
    /* The guest's server has closed, or the client went: nothing more can
     * pass, so both directions end. */
    conn_stop(c);
    return NULL;
}

/* One accepted connection, on its own thread: open the stream (waking the
 * sandbox), pump both ways, then leave the port's list. */
static gpointer serve(gpointer data)
{
    PortConn *c = data;
    CorePort *p = c->port;
    GError *err = NULL;
    AgentAttach *stream = NULL;

    if (!core_call_begin(p->sb, &c->call, &err) ||
        !(stream = agent_forward_open(c->call.conn, p->guest_port, PORT_CONNECT_TIMEOUT_MS,
                                      &err))) {
        /* The client sees the connection close; the reason goes to the log. */
        log_info("%s: a connection to 127.0.0.1:%u was closed: %s", p->sb->id, p->host_port,
                 err->message);
        g_error_free(err);
    } else {
        g_mutex_lock(&p->lock);
        c->stream = stream;
        if (p->closing)
            conn_stop(c); /* port_close() cut the others before this one had a stream */
        g_mutex_unlock(&p->lock);
        GThread *down = g_thread_new("oc-port-down", pump_down, c);
        pump_up(c);
        g_thread_join(down);
        g_mutex_lock(&p->lock);
        c->stream = NULL;
        g_mutex_unlock(&p->lock);
        agent_attach_free(stream);
    }
    core_call_end(p->sb, &c->call);
    /* The fd is closed under the lock, after leaving the list, so that
     * port_close() never shuts down a number another open took since. */
    g_mutex_lock(&p->lock);
    g_ptr_array_remove_fast(p->conns, c);
    close(c->fd);
    if (p->conns->len == 0)
        g_cond_broadcast(&p->drained);
    g_mutex_unlock(&p->lock);
    g_free(c);
    return NULL;
}

static gpointer accept_loop(gpointer data)
{
    CorePort *p = data;

    for (;;) {
        int one = 1, fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                g_usleep(100 * 1000); /* out of fds: let connections end */
                continue;
            }
            return NULL; /* shut down: the port is closing */
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        g_mutex_lock(&p->lock);
        if (p->closing || p->conns->len >= PORT_MAX_CONNS) {
            g_mutex_unlock(&p->lock);
            close(fd);
            continue;
        }
        PortConn *c = g_new0(PortConn, 1);
        c->port = p;
        c->fd = fd;
        g_ptr_array_add(p->conns, c);
        g_mutex_unlock(&p->lock);
        /* Detached: serve() removes and frees its connection itself. */
        g_thread_unref(g_thread_new("oc-port-conn", serve, c));
    }
}

static int listen_loopback(guint16 want, guint16 *got, GError **error)
{
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(want),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof in;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        g_set_error(error, OC_ERROR, OC_ELIMIT, "cannot make a socket: %s", g_strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&in, sizeof in) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&in, &len) < 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            g_set_error(error, OC_ERROR, OC_EEXISTS, "host port %u is in use on 127.0.0.1; "
                        "choose another, or 0 for any free port", want);
        else
            g_set_error(error, OC_ERROR, OC_EIO, "cannot listen on 127.0.0.1:%u: %s", want,
                        g_strerror(e));
        return -1;
    }
    *got = ntohs(in.sin_port);
    return fd;
}

static void port_close(CorePort *p)
{
    g_mutex_lock(&p->lock);
    p->closing = TRUE;
    g_mutex_unlock(&p->lock);
    shutdown(p->listen_fd, SHUT_RDWR); /* wakes accept() */
    g_thread_join(p->acceptor);
    close(p->listen_fd);
    g_mutex_lock(&p->lock);
    /* A connection still waking the sandbox or opening its stream is cut
     * once it has them: keep cutting until all are gone. */
    while (p->conns->len > 0) {
        for (guint i = 0; i < p->conns->len; i++)
            conn_stop(g_ptr_array_index(p->conns, i));
        g_cond_wait_until(&p->drained, &p->lock, g_get_monotonic_time() + G_USEC_PER_SEC / 5);
    }
    g_mutex_unlock(&p->lock);
    g_ptr_array_unref(p->conns);
    g_mutex_clear(&p->lock);
    g_cond_clear(&p->drained);
    g_free(p);
}

gboolean core_port_expose(oc_sandbox *sb, guint16 guest_port, guint16 host_port,
                          guint16 *bound, GError **error)
{
    CorePort *p;

    if (guest_port == 0) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "guest port 0: a port is 1 to 65535");
        return FALSE;
    }
    if (!core_sandbox_check_alive(sb, error))
        return FALSE;
    g_mutex_lock(&sb->lock);
    if (!sb->ports)
        sb->ports = g_hash_table_new(g_direct_hash, g_direct_equal);
    p = g_hash_table_lookup(sb->ports, GUINT_TO_POINTER(guest_port));
    if (p && host_port && p->host_port != host_port) {
        g_mutex_unlock(&sb->lock);
        g_set_error(error, OC_ERROR, OC_EEXISTS, "guest port %u of sandbox %s is already "
                    "exposed at 127.0.0.1:%u; unexpose it first to move it", guest_port,
                    sb->id, p->host_port);
        return FALSE;
    }
    if (p) {
        *bound = p->host_port;
        g_mutex_unlock(&sb->lock);
        return TRUE;
    }
    p = g_new0(CorePort, 1);
    p->listen_fd = listen_loopback(host_port, &p->host_port, error);
    if (p->listen_fd < 0) {
        g_mutex_unlock(&sb->lock);
        g_free(p);
        return FALSE;
    }
    p->sb = sb;
    p->guest_port = guest_port;
    g_mutex_init(&p->lock);
    g_cond_init(&p->drained);
    p->conns = g_ptr_array_new();
    p->acceptor = g_thread_new("oc-port-accept", accept_loop, p);
    g_hash_table_insert(sb->ports, GUINT_TO_POINTER(guest_port), p);
    *bound = p->host_port;
    g_mutex_unlock(&sb->lock);
    log_debug("%s: guest port %u exposed at 127.0.0.1:%u", sb->id, guest_port, *bound);
    return TRUE;
}

gboolean core_port_unexpose(oc_sandbox *sb, guint16 guest_port, GError **error)
{
    gpointer p = NULL;

    g_mutex_lock(&sb->lock);
    if (sb->ports)
        g_hash_table_steal_extended(sb->ports, GUINT_TO_POINTER(guest_port), NULL, &p);
    g_mutex_unlock(&sb->lock);
    if (!p) {
        g_set_error(error, OC_ERROR, OC_ENOTFOUND, "guest port %u of sandbox %s is not exposed "
                    "through this handle", guest_port, sb->id);
        return FALSE;
    }
    port_close(p);
    return TRUE;
}

void core_ports_close(oc_sandbox *sb)
{
    GHashTable *ports;
    GHashTableIter it;
    gpointer p;

    g_mutex_lock(&sb->lock);
    ports = g_steal_pointer(&sb->ports);
    g_mutex_unlock(&sb->lock);
    if (!ports)
        return;
    g_hash_table_iter_init(&it, ports);
    while (g_hash_table_iter_next(&it, NULL, &p))
        port_close(p);
    g_hash_table_unref(ports);
}
