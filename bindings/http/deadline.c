/* deadline.c: the total time a client has to send a request (see
 * deadline.h). */
#include "deadline.h"
#include "server.h"

#include <stdio.h>
#include <string.h>

#define DEADLINE_KEY "oc-deadline" /* on the GSocket */

typedef struct {
    GSocket *sock;          /* not a reference: sock owns this (object data) */
    SoupServerMessage *msg; /* the request's, once soup has made it (a weak pointer) */
    guint seconds;
    gint64 started;         /* monotonic */
    gboolean seen;          /* a byte of the request came */
    GSource *watch;         /* until one does; it holds a reference on sock */
    GSource *timer;
} Deadline;

/* soup is reading the request, and writes nothing until it has all of it:
 * the socket is ours to answer on.  The reply is small enough for an empty
 * socket buffer, so it is sent without blocking or not at all. */
static void send_408(GSocket *sock, guint seconds)
{
    g_autofree char *body = g_strdup_printf(
        "{\"error\":\"the request did not arrive in %u s (the server's request-timeout-s); "
        "send it whole, faster\"}", seconds);
    g_autofree char *reply = g_strdup_printf(
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
        "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);

    (void)g_socket_send_with_blocking(sock, reply, strlen(reply), FALSE, NULL, NULL);
}

static void deadline_drop(GSocket *sock)
{
    g_object_set_data(G_OBJECT(sock), DEADLINE_KEY, NULL);
}

static gboolean expired(gpointer data)
{
    Deadline *d = data;
    GSocket *sock = g_object_ref(d->sock);
    SoupServerMessage *msg = d->msg;

    /* nothing to say when soup closed it already, nor to a connection that
     * never sent a byte (it is closed silently, as io-timeout-s closes it) */
    if (!g_socket_is_closed(sock) && (d->seen || (msg && soup_server_message_get_method(msg)))) {
        if (msg)
            http_log_request(msg, 408);
        else /* http_log_request()'s line, for a request soup has not seen */
            fprintf(stderr, "- (no request line) 408 %.1fms\n",
                    (double)(g_get_monotonic_time() - d->started) / 1000.0);
        /* a status set already (by the early handler: 401, 413) is a reply
         * soup may be writing: never write into the middle of it */
        if (!msg || soup_server_message_get_status(msg) == 0)
            send_408(sock, d->seconds);
    }
    deadline_drop(sock);
    /* with a message, soup's pending read fails and soup drops the
     * connection; without one, soup would keep the descriptor (idle.h) */
    if (msg)
        g_socket_shutdown(sock, TRUE, TRUE, NULL);
    else
        g_socket_close(sock, NULL);
    g_object_unref(sock);
    return G_SOURCE_REMOVE;
}

static gboolean first_byte(GSocket *sock, GIOCondition cond, gpointer data)
{
    Deadline *d = data;

    /* not when soup closed it (a silent connection past io-timeout-s) */
    d->seen = (cond & G_IO_IN) && !g_socket_is_closed(sock);
    return G_SOURCE_REMOVE;
}

static void deadline_free(gpointer data)
{
    Deadline *d = data;

    if (d->msg)
        g_object_remove_weak_pointer(G_OBJECT(d->msg), (gpointer *)&d->msg);
    http_source_drop(d->watch);
    http_source_drop(d->timer);
    g_free(d);
}

static Deadline *deadline_new(GSocket *sock, guint seconds, gboolean seen)
{
    GMainContext *ctx = g_main_context_get_thread_default();
    Deadline *d = g_new0(Deadline, 1);

    d->sock = sock;
    d->seconds = seconds;
    d->started = g_get_monotonic_time();
    d->seen = seen;
    if (!seen) {
        /* polled with soup's own watch, so it sees a byte soup reads */
        d->watch = g_socket_create_source(sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
        g_source_set_callback(d->watch, G_SOURCE_FUNC(first_byte), d, NULL);
        g_source_attach(d->watch, ctx);
    }
    d->timer = g_timeout_source_new(seconds * 1000u);
    g_source_set_callback(d->timer, expired, d, NULL);
    g_source_attach(d->timer, ctx);
    /* dropped with sock at the latest, so no source outlives it */
    g_object_set_data_full(G_OBJECT(sock), DEADLINE_KEY, d, deadline_free);
    return d;
}

void http_deadline_start(SoupServerMessage *msg, guint seconds)
{
    GSocket *sock = soup_server_message_get_socket(msg);
    Deadline *d;

    if (!sock)
        return;
    d = g_object_get_data(G_OBJECT(sock), DEADLINE_KEY);
    /* libsoup 3.2 starts a connection's first message when it accepts it,
     * before any byte: "seen" tells a slow request from a silent one */
    if (!d)
        d = deadline_new(sock, seconds, g_socket_get_available_bytes(sock) > 0);
    if (d->msg)
        g_object_remove_weak_pointer(G_OBJECT(d->msg), (gpointer *)&d->msg);
    d->msg = msg;
    g_object_add_weak_pointer(G_OBJECT(msg), (gpointer *)&d->msg);
}

void http_deadline_start_next(GSocket *sock, guint seconds)
{
    deadline_new(sock, seconds, TRUE);
}

void http_deadline_clear(SoupServerMessage *msg)
{
    GSocket *sock = soup_server_message_get_socket(msg);
    Deadline *d = sock ? g_object_get_data(G_OBJECT(sock), DEADLINE_KEY) : NULL;

    if (d && d->msg == msg)
        deadline_drop(sock);
}
