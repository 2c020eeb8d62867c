/* deadline.c: the total time a client has to send a request (see
 * deadline.h). */
#include "deadline.h"
#include "server.h"

#include <string.h>

#define DEADLINE_KEY "oc-deadline"

typedef struct {
    SoupServerMessage *msg; /* not a reference: msg owns this (object data) */
    guint seconds;
    GSource *watch;         /* until the first byte */
    GSource *timer;         /* from then */
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

static gboolean expired(gpointer data)
{
    Deadline *d = data;
    GSocket *sock = soup_server_message_get_socket(d->msg);

    http_log_request(d->msg, 408);
    if (sock) {
        /* a status set already (by the early handler: 401, 413) is a reply
         * soup may be writing: never write into the middle of it */
        if (soup_server_message_get_status(d->msg) == 0)
            send_408(sock, d->seconds);
        /* soup's pending read fails, and it drops the connection */
        g_socket_shutdown(sock, TRUE, TRUE, NULL);
    }
    return G_SOURCE_REMOVE;
}

static void start_timer(Deadline *d, GMainContext *ctx)
{
    d->timer = g_timeout_source_new(d->seconds * 1000u);
    g_source_set_callback(d->timer, expired, d, NULL);
    g_source_attach(d->timer, ctx);
}

/* soup starts a message as soon as the connection can carry one (accepted,
 * or the previous reply sent), so an idle kept-alive connection would count
 * too: the clock starts at the first byte instead.  This watch is polled
 * with soup's own, so it sees the byte even when soup reads it first. */
static gboolean first_byte(GSocket *sock, GIOCondition cond, gpointer data)
{
    Deadline *d = data;

    start_timer(d, g_source_get_context(d->watch));
    return G_SOURCE_REMOVE;
}

static void source_drop(GSource *source)
{
    if (source) {
        g_source_destroy(source);
        g_source_unref(source);
    }
}

static void deadline_free(gpointer data)
{
    Deadline *d = data;

    source_drop(d->watch);
    source_drop(d->timer);
    g_free(d);
}

void http_deadline_start(SoupServerMessage *msg, guint seconds)
{
    GSocket *sock = soup_server_message_get_socket(msg);
    Deadline *d;

    if (!sock)
        return;
    d = g_new0(Deadline, 1);
    d->msg = msg;
    d->seconds = seconds;
    /* bytes there already: soup reads them once this returns, unseen by a
     * watch */
    if (g_socket_get_available_bytes(sock) > 0) {
        start_timer(d, g_main_context_get_thread_default());
    } else {
        d->watch = g_socket_create_source(sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
        g_source_set_callback(d->watch, G_SOURCE_FUNC(first_byte), d, NULL);
        g_source_attach(d->watch, g_main_context_get_thread_default());
    }
    /* dropped with msg at the latest, so no source outlives it */
    g_object_set_data_full(G_OBJECT(msg), DEADLINE_KEY, d, deadline_free);
}

void http_deadline_clear(SoupServerMessage *msg)
{
    g_object_set_data(G_OBJECT(msg), DEADLINE_KEY, NULL);
}
