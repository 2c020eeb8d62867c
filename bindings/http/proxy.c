/* proxy.c: preview requests, proxied to a guest port.
 *
 * Once soup has read a preview request's headers, the connection is taken
 * from soup (stolen) and spliced to the guest port, exposed on the server's
 * handle of the sandbox (docs/network.md): the request head, rewritten,
 * then raw bytes both ways.  So bodies stream in either direction in their
 * own framing (chunked or not), and after a 101 the upgraded protocol (a
 * WebSocket) flows on.  One request per connection: the guest is asked to
 * close after its reply, and the client's connection closes with it.
 *
 * Exposing the port and connecting to it are library calls that may wait
 * for a wake (a connection to a hibernated sandbox wakes it), so they run
 * on the connection's own thread; a second thread carries the client's
 * bytes to the guest. */
#include "proxy.h"
#include "deadline.h"
#include "json-out.h"
#include "preview.h"
#include "sandboxes.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROXY_BUF (64 * 1024)
/* Each preview holds two threads while it lasts (a WebSocket: hours), and
 * the library serves at most 128 connections per port: past this many at
 * once, the server answers 503 rather than grow without bound. */
#define PROXY_MAX_OPEN 256

/* Process-wide, not the server's: a preview may end after the server is
 * freed, at exit. */
static gint previews_open;

typedef struct {
    HttpServer *srv;
    char *sandbox_id;
    guint port;
    char *method;          /* the log line's (like every line, it names no id or path) */
    GString *head;         /* the request head for the guest */
    SoupServerMessage *msg; /* until stolen */
    GIOStream *client;
    GSocket *sock;         /* the client's */
    int up;                /* the connection to the exposed port */
    gboolean answered;     /* the client got a byte of a reply (the guest's or ours) */
    gboolean proxied;      /* ... of the guest's */
    guint64 bytes_in, bytes_out;
    gint64 t0;
} Proxy;

/* Headers that belong to one hop, or carry the server's credentials or the
 * preview token, which the guest must not see. */
static gboolean hop_header(const char *name, gboolean strip_authorization)
{
    static const char *const drop[] = { "Connection", "Keep-Alive", "Proxy-Connection",
                                        "Proxy-Authorization", "X-API-Key",
                                        "X-OC-Preview-Token" };

    for (size_t i = 0; i < G_N_ELEMENTS(drop); i++)
        if (g_ascii_strcasecmp(name, drop[i]) == 0)
            return TRUE;
    return strip_authorization && g_ascii_strcasecmp(name, "Authorization") == 0;
}

/* The query without api_key, where a WebSocket client puts the server's
 * key (server.c): the guest must not see it. */
static void append_query(GString *s, const char *query)
{
    g_auto(GStrv) params = query ? g_strsplit(query, "&", -1) : NULL;
    char sep = '?';

    for (char **q = params; q && *q; q++) {
        if (g_str_has_prefix(*q, "api_key=") || strcmp(*q, "api_key") == 0)
            continue;
        g_string_append_c(s, sep);
        g_string_append(s, *q);
        sep = '&';
    }
}

static GString *request_head(SoupServerMessage *msg, const HttpPreviewTarget *t,
                             gboolean strip_authorization, gboolean *upgrade)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    GUri *uri = soup_server_message_get_uri(msg);
    GString *s = g_string_new(NULL);
    SoupMessageHeadersIter it;
    const char *name, *value;

    *upgrade = soup_message_headers_get_one(h, "Upgrade") &&
               soup_message_headers_header_contains(h, "Connection", "Upgrade");
    g_string_append_printf(s, "%s %s", soup_server_message_get_method(msg), t->rest);
    append_query(s, uri ? g_uri_get_query(uri) : NULL);
    g_string_append_printf(s, " HTTP/1.%d\r\n",
                           soup_server_message_get_http_version(msg) == SOUP_HTTP_1_0 ? 0 : 1);
    soup_message_headers_iter_init(&it, h);
    while (soup_message_headers_iter_next(&it, &name, &value))
        if (!hop_header(name, strip_authorization))
            g_string_append_printf(s, "%s: %s\r\n", name, value);
    g_string_append(s, *upgrade ? "Connection: Upgrade\r\n\r\n" : "Connection: close\r\n\r\n");
    return s;
}

static void proxy_free(Proxy *p)
{
    g_atomic_int_dec_and_test(&previews_open);
    if (p->up >= 0)
        close(p->up);
    if (p->client)
        g_io_stream_close(p->client, NULL, NULL);
    g_clear_object(&p->client);
    g_clear_object(&p->sock);
    g_clear_object(&p->msg);
    if (p->head)
        g_string_free(p->head, TRUE);
    g_free(p->sandbox_id);
    g_free(p->method);
    g_free(p);
}

static gboolean client_write(Proxy *p, const void *data, gsize len)
{
    return g_output_stream_write_all(g_io_stream_get_output_stream(p->client), data, len, NULL,
                                     NULL, NULL);
}

/* Before any of the guest's reply: the client gets ours. */
static void reply_error(Proxy *p, guint status, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void reply_error(Proxy *p, guint status, const char *fmt, ...)
{
    g_autofree char *msg = NULL, *body = NULL, *head = NULL;
    va_list ap;

    if (p->answered)
        return;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    body = http_json_error_text(msg);
    head = g_strdup_printf("HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\nConnection: close\r\n\r\n", status,
                           soup_status_get_phrase(status), strlen(body));
    if (client_write(p, head, strlen(head)))
        client_write(p, body, strlen(body));
    p->answered = TRUE;
}

static gboolean send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        data += n;
        len -= (size_t)n;
    }
    return TRUE;
}

/* The client's bytes to the guest, until the client stops sending. */
static gpointer client_to_guest(gpointer data)
{
    Proxy *p = data;
    GInputStream *in = g_io_stream_get_input_stream(p->client);
    g_autofree char *buf = g_malloc(PROXY_BUF);
    gssize n;

    while ((n = g_input_stream_read(in, buf, PROXY_BUF, NULL, NULL)) > 0) {
        if (!send_all(p->up, buf, (size_t)n)) {
            /* the guest's side is gone: so is the reply */
            shutdown(p->up, SHUT_RDWR);
            return NULL;
        }
        p->bytes_in += (guint64)n;
    }
    shutdown(p->up, SHUT_WR); /* a half-close passes on */
    return NULL;
}

/* The guest's reply to the client, until the guest closes. */
static void guest_to_client(Proxy *p)
{
    g_autofree char *buf = g_malloc(PROXY_BUF);
    ssize_t n;

    for (;;) {
        n = recv(p->up, buf, PROXY_BUF, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p->answered = p->proxied = TRUE;
        if (!client_write(p, buf, (size_t)n))
            break;
        p->bytes_out += (guint64)n;
    }
    if (!p->answered)
        reply_error(p, 502, "port %u of sandbox %s closed without answering: is a server "
                    "listening on it in the guest (on 127.0.0.1 or 0.0.0.0)?", p->port,
                    p->sandbox_id);
    shutdown(p->up, SHUT_RDWR);
}

static int connect_exposed(Proxy *p)
{
    oc_error *err = NULL;
    oc_sandbox *sb = http_sandbox_lookup(p->srv, p->sandbox_id, &err);
    char *addr = NULL;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    const char *colon;
    int fd, rc;

    if (!sb) {
        int code = oc_error_code_of(err);
        reply_error(p, http_status_of(code), "%s", oc_error_message(err));
        oc_error_free(err);
        return -1;
    }
    /* a hibernated sandbox is fine: the connection wakes it */
    rc = oc_sandbox_expose_port(sb, (uint16_t)p->port, 0, 0, &addr, &err);
    oc_sandbox_unref(sb);
    if (rc < 0) {
        reply_error(p, http_status_of(oc_error_code_of(err)), "%s", oc_error_message(err));
        oc_error_free(err);
        return -1;
    }
    colon = strrchr(addr, ':');
    sa.sin_port = htons((uint16_t)g_ascii_strtoull(colon ? colon + 1 : "0", NULL, 10));
    oc_free(addr);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        reply_error(p, 502, "cannot reach port %u of sandbox %s: %s", p->port, p->sandbox_id,
                    g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static gpointer proxy_run(gpointer data)
{
    Proxy *p = data;
    GThread *upload = NULL;

    p->up = connect_exposed(p);
    if (p->up >= 0 && send_all(p->up, p->head->str, p->head->len)) {
        upload = g_thread_new("oc-preview-in", client_to_guest, p);
        guest_to_client(p);
    } else if (p->up >= 0) {
        reply_error(p, 502, "port %u of sandbox %s closed the connection", p->port,
                    p->sandbox_id);
    }
    /* wakes the upload thread's read, and ends the client's connection */
    g_socket_shutdown(p->sock, TRUE, TRUE, NULL);
    if (upload)
        g_thread_join(upload);
    fprintf(stderr, "%s (preview of port %u) %s %.1fms, %" G_GUINT64_FORMAT " bytes in, %"
            G_GUINT64_FORMAT " out\n", p->method, p->port, p->proxied ? "proxied" : "failed",
            (double)(g_get_monotonic_time() - p->t0) / 1000.0, p->bytes_in, p->bytes_out);
    proxy_free(p);
    return NULL;
}

/* Soup's thread, with soup's IO on msg paused: out of soup's hands now. */
static gboolean take_over(gpointer data)
{
    Proxy *p = data;
    GSocket *sock = soup_server_message_get_socket(p->msg);

    if (!sock) { /* the client went away meanwhile */
        proxy_free(p);
        return G_SOURCE_REMOVE;
    }
    p->sock = g_object_ref(sock);
    /* soup's limits are for requests it reads; a preview may last hours */
    http_deadline_clear(p->msg);
    g_socket_set_timeout(p->sock, 0);
    g_object_set_data(G_OBJECT(p->msg), "oc-logged", GINT_TO_POINTER(1));
    p->client = soup_server_message_steal_connection(p->msg);
    g_clear_object(&p->msg);
    if (!p->client) {
        proxy_free(p);
        return G_SOURCE_REMOVE;
    }
    g_thread_unref(g_thread_new("oc-preview", proxy_run, p));
    return G_SOURCE_REMOVE;
}

/* The token given: X-OC-Preview-Token, or Authorization: Bearer. */
static const char *given_token(SoupMessageHeaders *h, gboolean *from_authorization)
{
    const char *t = soup_message_headers_get_one(h, "X-OC-Preview-Token");
    const char *a = soup_message_headers_get_one(h, "Authorization");

    *from_authorization = FALSE;
    if (t)
        return t;
    if (a && g_ascii_strncasecmp(a, "Bearer ", 7) == 0) {
        *from_authorization = TRUE;
        for (a += 7; *a == ' '; a++)
            ;
        return a;
    }
    return NULL;
}

guint http_proxy_start(HttpServer *srv, SoupServerMessage *msg, HttpPreviewTarget *target,
                       gboolean api_key_ok, const char **why)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    gboolean bearer = FALSE, upgrade = FALSE;
    const char *token = given_token(h, &bearer);
    GSource *idle;
    Proxy *p;

    switch (http_previews_check(srv->previews, target->sandbox_id, token)) {
    case HTTP_PREVIEW_DENIED:
        *why = token ? "wrong preview token" : "this sandbox's previews need its preview token: "
                                               "send Authorization: Bearer <token> or "
                                               "X-OC-Preview-Token";
        return 401;
    case HTTP_PREVIEW_OPEN:
        /* a server that needs a key keeps unguarded ports behind it */
        if (!api_key_ok) {
            *why = "missing or wrong API key (or create the sandbox with previewAuth to use a "
                   "preview token)";
            return 401;
        }
        bearer = FALSE; /* not ours: the guest's application may want it */
        break;
    case HTTP_PREVIEW_GRANTED:
        break;
    }
    if (g_atomic_int_add(&previews_open, 1) >= PROXY_MAX_OPEN) {
        g_atomic_int_dec_and_test(&previews_open);
        *why = "too many previews are open on this server; retry later";
        return 503;
    }
    p = g_new0(Proxy, 1);
    p->srv = srv;
    p->up = -1;
    p->t0 = g_get_monotonic_time();
    p->sandbox_id = g_steal_pointer(&target->sandbox_id);
    p->port = target->port;
    p->method = g_strdup(soup_server_message_get_method(msg));
    p->head = request_head(msg, target, bearer, &upgrade);
    p->msg = g_object_ref(msg);
    /* soup is inside its read of msg: take the connection once it is out */
    soup_server_message_pause(msg);
    idle = g_idle_source_new();
    g_source_set_callback(idle, take_over, p, NULL);
    g_source_attach(idle, srv->main_ctx);
    g_source_unref(idle);
    return 0;
}
