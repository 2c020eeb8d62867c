/* idle.c: kept-alive connections between requests (see idle.h). */
#include "idle.h"
#include "deadline.h"
#include "server.h"

#include <errno.h>
#include <sys/socket.h>

#define IDLE_KEY "oc-idle" /* on the GSocket while it waits */

typedef struct {
    GSource *watch; /* holds a reference on the socket: dropped by idle_end() */
    GSource *timer;
    guint io_timeout_s, request_timeout_s;
} Idle;

static void idle_free(gpointer data)
{
    Idle *idle = data;

    http_source_drop(idle->watch);
    http_source_drop(idle->timer);
    g_free(idle);
}

/* Stops watching; closing frees the descriptor (soup's own objects for the
 * connection stay behind: libsoup 3.2 never frees them). */
static void idle_end(GSocket *sock, gboolean close)
{
    g_object_ref(sock);
    if (close)
        g_socket_close(sock, NULL);
    g_object_set_data(G_OBJECT(sock), IDLE_KEY, NULL);
    g_object_unref(sock);
}

static gboolean readable(GSocket *sock, GIOCondition cond, gpointer data)
{
    char c;
    ssize_t n;

    /* soup closed it (Connection: close), or an idle_end() did */
    if (g_socket_is_closed(sock)) {
        idle_end(sock, FALSE);
        return G_SOURCE_REMOVE;
    }
    n = recv(g_socket_get_fd(sock), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n > 0) {
        Idle *idle = g_object_get_data(G_OBJECT(sock), IDLE_KEY);

        /* the next request: soup reads it, under the same limits as the
         * first (its handler lifted the socket's timeout) */
        g_socket_set_timeout(sock, idle->io_timeout_s);
        http_deadline_start_next(sock, idle->request_timeout_s);
    }
    /* else the client closed the connection (0) or it failed */
    idle_end(sock, n <= 0);
    return G_SOURCE_REMOVE;
}

static gboolean idle_expired(gpointer data)
{
    idle_end(data, TRUE);
    return G_SOURCE_REMOVE;
}

void http_idle_watch(SoupServerMessage *msg, guint io_timeout_s, guint request_timeout_s)
{
    GSocket *sock = soup_server_message_get_socket(msg);
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
    Idle *idle;

    /* 101: the connection is a WebSocket's now; close: soup ends it */
    if (!sock || g_socket_is_closed(sock) || soup_server_message_get_status(msg) == 101 ||
        soup_message_headers_header_contains(h, "Connection", "close") ||
        soup_server_message_get_http_version(msg) == SOUP_HTTP_1_0)
        return;
    idle = g_new0(Idle, 1);
    idle->io_timeout_s = io_timeout_s;
    idle->request_timeout_s = request_timeout_s;
    /* before soup's own watch (if it has one), so that the first byte of
     * the next request is seen here */
    idle->watch = g_socket_create_source(sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_priority(idle->watch, G_PRIORITY_HIGH);
    g_source_set_callback(idle->watch, G_SOURCE_FUNC(readable), NULL, NULL);
    g_source_attach(idle->watch, g_main_context_get_thread_default());
    /* the socket outlives the timer: the timer is dropped with this data */
    idle->timer = g_timeout_source_new_seconds(io_timeout_s);
    g_source_set_callback(idle->timer, idle_expired, sock, NULL);
    g_source_attach(idle->timer, g_main_context_get_thread_default());
    g_object_set_data_full(G_OBJECT(sock), IDLE_KEY, idle, idle_free);
}
