/* ws-exec.c: following an exec session or a terminal over a WebSocket.
 *
 * Exec sessions speak the SDK's binary frames: the first byte is the stream
 * (0x00 stdin from the client; 0x01 stdout, 0x02 stderr, 0x03 exit with an
 * int32 big-endian code, 0x04 end of scrollback to it).  Terminals carry
 * raw bytes both ways.
 *
 * Three threads meet here: soup's (the WebSocket, which is not thread-safe),
 * the handle's callback thread (output), and one task thread per session
 * that makes the blocking calls (attach, stdin, detach) in order. */
#include "handlers.h"
#include "sandboxes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FRAME_STDIN = 0, FRAME_STDOUT = 1, FRAME_STDERR = 2, FRAME_EXIT = 3, FRAME_REPLAY_END = 4 };

typedef struct {
    gint refs;
    HttpServer *srv;             /* for the attach only */
    GMainContext *main_ctx;      /* soup's; a reference, as output may outlive srv at exit */
    char *sandbox_id;
    uint32_t session;
    gboolean pty;
    SoupWebsocketConnection *ws; /* soup's thread only */
    GThreadPool *tasks;          /* one thread: calls in order */
    oc_exec_handle *h;           /* task thread only */
    GSocket *sock;               /* the WebSocket's, to see whether the client keeps up */
    GMutex lock;                 /* guards what follows */
    GCond room;                  /* signalled when queued drops or the socket closes */
    GQueue out;                  /* GBytes to send; NULL: close after what came before */
    gsize queued;                /* bytes in out */
    gboolean drain_queued;
    gboolean ws_closed;
} WsSession;

/* Output waits for a client that reads slowly: past this much queued, the
 * handle's callback blocks, and the library treats a callback blocked for
 * a second as a reader that stopped (the session goes on; this follower
 * skips, and is told how much). */
#define WS_QUEUE_MAX (4u * 1024u * 1024u)
#define WS_RETRY_MS 20

typedef enum { TASK_ATTACH = 1, TASK_STDIN, TASK_DETACH } TaskKind;

typedef struct {
    TaskKind kind;
    GBytes *data;
} Task;

static WsSession *session_ref(WsSession *s)
{
    g_atomic_int_inc(&s->refs);
    return s;
}

static gboolean destroy_on_main(gpointer data);

static void session_unref(WsSession *s)
{
    if (!g_atomic_int_dec_and_test(&s->refs))
        return;
    g_queue_clear_full(&s->out, (GDestroyNotify)g_bytes_unref);
    g_clear_object(&s->ws);
    g_clear_object(&s->sock);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->room);
    g_main_context_unref(s->main_ctx);
    g_free(s->sandbox_id);
    g_free(s);
}

/* ---- output: handle thread -> soup's thread ---- */

static gboolean drain(gpointer data);

/* soup queues whatever it is handed, without a bound, and writes as the
 * socket takes it: so hand it more only when the socket has room (its own
 * queue is then empty). */
static gboolean client_keeps_up(WsSession *s)
{
    return !s->sock || (g_socket_condition_check(s->sock, G_IO_OUT) & G_IO_OUT);
}

static gboolean drain(gpointer data)
{
    WsSession *s = data;
    GQueue q = G_QUEUE_INIT;
    gboolean close_after = FALSE;
    GBytes *b;

    if (s->ws && soup_websocket_connection_get_state(s->ws) == SOUP_WEBSOCKET_STATE_OPEN &&
        !client_keeps_up(s)) {
        GSource *later = g_timeout_source_new(WS_RETRY_MS);

        g_source_set_callback(later, drain, session_ref(s), (GDestroyNotify)session_unref);
        g_source_attach(later, s->main_ctx);
        g_source_unref(later);
        return G_SOURCE_REMOVE;
    }
    g_mutex_lock(&s->lock);
    s->drain_queued = FALSE;
    s->queued = 0;
    g_cond_broadcast(&s->room);
    while (!g_queue_is_empty(&s->out)) {
        b = g_queue_pop_head(&s->out);
        if (!b) {
            close_after = TRUE;
            break;
        }
        g_queue_push_tail(&q, b);
    }
    g_mutex_unlock(&s->lock);
    while ((b = g_queue_pop_head(&q))) {
        if (s->ws && soup_websocket_connection_get_state(s->ws) == SOUP_WEBSOCKET_STATE_OPEN)
            soup_websocket_connection_send_message(s->ws, SOUP_WEBSOCKET_DATA_BINARY, b);
        g_bytes_unref(b);
    }
    if (close_after && s->ws && soup_websocket_connection_get_state(s->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(s->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    return G_SOURCE_REMOVE;
}

/* Queues a frame (NULL: close the socket after the frames before it). */
static void push_out(WsSession *s, GBytes *frame)
{
    gboolean schedule;

    g_mutex_lock(&s->lock);
    while (frame && s->queued > WS_QUEUE_MAX && !s->ws_closed)
        g_cond_wait(&s->room, &s->lock);
    if (s->ws_closed) {
        g_mutex_unlock(&s->lock);
        if (frame)
            g_bytes_unref(frame);
        return;
    }
    s->queued += frame ? g_bytes_get_size(frame) : 0;
    g_queue_push_tail(&s->out, frame);
    schedule = !s->drain_queued;
    s->drain_queued = TRUE;
    g_mutex_unlock(&s->lock);
    if (schedule)
        g_main_context_invoke_full(s->main_ctx, G_PRIORITY_DEFAULT, drain, session_ref(s),
                                   (GDestroyNotify)session_unref);
}

static void push_frame(WsSession *s, int stream, const void *data, size_t len)
{
    guint8 *buf;

    if (s->pty) {
        if (stream == FRAME_STDOUT || stream == FRAME_STDERR)
            push_out(s, g_bytes_new(data, len));
        return;
    }
    buf = g_malloc(len + 1);
    buf[0] = (guint8)stream;
    memcpy(buf + 1, data, len);
    push_out(s, g_bytes_new_take(buf, len + 1));
}

static void on_stdout(const char *data, size_t len, void *user_data)
{
    push_frame(user_data, FRAME_STDOUT, data, len);
}

static void on_stderr(const char *data, size_t len, void *user_data)
{
    push_frame(user_data, FRAME_STDERR, data, len);
}

static void on_replay_end(void *user_data)
{
    push_frame(user_data, FRAME_REPLAY_END, NULL, 0);
}

static void on_end(int status, int exit_code, void *user_data)
{
    WsSession *s = user_data;
    guint8 code[4];

    /* a detach is ours (the client went): nothing to tell it */
    if (status == OC_ECANCELLED)
        return;
    if (status == OC_OK) {
        guint32 be = GUINT32_TO_BE((guint32)exit_code);

        memcpy(code, &be, 4);
        push_frame(s, FRAME_EXIT, code, 4);
    }
    /* the connection to the sandbox was lost: closing without an exit
     * frame tells the SDK the exit is unknown (-1) */
    push_out(s, NULL);
}

/* ---- blocking calls, in order, on the session's task thread ---- */

static void task_attach(WsSession *s)
{
    oc_exec_callbacks cb = { .version = OC_EXEC_CALLBACKS_VERSION, .on_stdout = on_stdout,
                             .on_stderr = on_stderr, .on_replay_end = on_replay_end,
                             .on_end = on_end, .user_data = s };
    oc_sandbox *sb;
    oc_error *err = NULL;

    sb = http_sandbox_lookup(s->srv, s->sandbox_id, &err);
    if (sb && oc_exec_attach(&s->h, sb, s->session, &cb, &err) == 0) {
        oc_sandbox_unref(sb);
        return;
    }
    fprintf(stderr, "ws %s session %u: %s\n", s->sandbox_id, s->session, oc_error_message(err));
    http_sandbox_check_gone(s->srv, s->sandbox_id, oc_error_code_of(err));
    oc_error_free(err);
    oc_sandbox_unref(sb);
    push_out(s, NULL);
}

static void run_task(gpointer data, gpointer pool_data)
{
    WsSession *s = pool_data;
    Task *t = data;
    oc_error *err = NULL;

    switch (t->kind) {
    case TASK_ATTACH:
        task_attach(s);
        break;
    case TASK_STDIN:
        if (s->h && oc_exec_send_stdin(s->h, g_bytes_get_data(t->data, NULL),
                                       g_bytes_get_size(t->data), &err) < 0)
            oc_error_free(err);
        break;
    case TASK_DETACH:
        /* the session goes on; only our following of it ends */
        if (s->h)
            oc_exec_handle_free(s->h);
        s->h = NULL;
        g_main_context_invoke(s->main_ctx, destroy_on_main, s);
        break;
    }
    g_clear_pointer(&t->data, g_bytes_unref);
    g_free(t);
}

static void push_task(WsSession *s, TaskKind kind, GBytes *data)
{
    Task *t = g_new0(Task, 1);

    t->kind = kind;
    t->data = data;
    g_thread_pool_push(s->tasks, t, NULL);
}

/* After the detach: the task thread is done with the session. */
static gboolean destroy_on_main(gpointer data)
{
    WsSession *s = data;

    g_thread_pool_free(s->tasks, FALSE, TRUE);
    session_unref(s);
    return G_SOURCE_REMOVE;
}

/* ---- the WebSocket, on soup's thread ---- */

static void on_message(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
    WsSession *s = data;
    gsize len;
    const guint8 *p = g_bytes_get_data(message, &len);

    if (s->pty) {
        if (len > 0)
            push_task(s, TASK_STDIN, g_bytes_ref(message));
        return;
    }
    /* exec: only stdin frames come from the client */
    if (len > 1 && p[0] == FRAME_STDIN)
        push_task(s, TASK_STDIN, g_bytes_new_from_bytes(message, 1, len - 1));
}

static void on_closed(SoupWebsocketConnection *ws, gpointer data)
{
    WsSession *s = data;

    g_mutex_lock(&s->lock);
    s->ws_closed = TRUE;
    g_cond_broadcast(&s->room);
    g_mutex_unlock(&s->lock);
    push_task(s, TASK_DETACH, NULL);
}

static void upgraded(SoupServerMessage *msg, gpointer data);
static void not_upgraded(SoupServerMessage *msg, gpointer data);

/* The upgrade went one way or the other: msg has no more to say. */
static void upgrade_settled(SoupServerMessage *msg, WsSession *s)
{
    g_signal_handlers_disconnect_by_func(msg, upgraded, s);
    g_signal_handlers_disconnect_by_func(msg, not_upgraded, s);
}

static void upgraded(SoupServerMessage *msg, gpointer data)
{
    WsSession *s = data;
    GUri *uri = soup_server_message_get_uri(msg);
    const char *origin = soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
                                                      "Origin");
    GIOStream *stream;

    upgrade_settled(msg, s);
    http_log_request(msg, 101);
    /* the socket under soup's stream wrapper: a followed session may be
     * quiet for hours (no read deadline), and its room tells whether the
     * client keeps up */
    s->sock = soup_server_message_get_socket(msg);
    if (s->sock) {
        g_object_ref(s->sock);
        g_socket_set_timeout(s->sock, 0);
    }
    stream = soup_server_message_steal_connection(msg);
    s->ws = soup_websocket_connection_new(stream, uri, SOUP_WEBSOCKET_CONNECTION_SERVER, origin,
                                          NULL, NULL);
    g_object_unref(stream);
    g_signal_connect(s->ws, "message", G_CALLBACK(on_message), s);
    g_signal_connect(s->ws, "closed", G_CALLBACK(on_closed), s);
    push_task(s, TASK_ATTACH, NULL);
}

/* The client went before the 101 was written: nothing else will free the
 * session (no task ever ran on its thread). */
static void not_upgraded(SoupServerMessage *msg, gpointer data)
{
    WsSession *s = data;

    upgrade_settled(msg, s);
    g_thread_pool_free(s->tasks, FALSE, TRUE);
    session_unref(s);
}

static void reject(SoupServerMessage *msg, guint status, const char *text)
{
    g_autofree char *json = g_strdup_printf("{\"error\":\"%s\"}", text);

    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, json,
                                     strlen(json));
}

void http_ws_upgrade(HttpServer *srv, SoupServerMessage *msg, const HttpRoute *route)
{
    WsSession *s;
    char *end = NULL;
    guint64 id = g_ascii_strtoull(route->sub_id, &end, 10);

    if (!end || *end || id == 0 || id > G_MAXUINT32) {
        reject(msg, 404, "no such session");
        return;
    }
    if (!soup_websocket_server_process_handshake(msg, NULL, NULL, NULL, NULL)) {
        reject(msg, 400, "this route takes a WebSocket upgrade");
        return;
    }
    s = g_new0(WsSession, 1);
    s->refs = 1;
    s->srv = srv;
    s->main_ctx = g_main_context_ref(srv->main_ctx);
    s->sandbox_id = g_strdup(route->sandbox_id);
    s->session = (uint32_t)id;
    s->pty = route->id == HTTP_ROUTE_PTY_WS;
    g_mutex_init(&s->lock);
    g_cond_init(&s->room);
    g_queue_init(&s->out);
    s->tasks = g_thread_pool_new(run_task, s, 1, FALSE, NULL);
    g_signal_connect(msg, "wrote-informational", G_CALLBACK(upgraded), s);
    g_signal_connect(msg, "finished", G_CALLBACK(not_upgraded), s);
}
