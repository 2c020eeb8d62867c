/* sse.c: event-stream replies.  Handlers run on worker threads but soup is
 * not thread-safe, so events queue here and the HTTP thread appends them to
 * the body in order. */
#include "sse.h"

#include <string.h>

struct HttpSse {
    gint refs;
    SoupServerMessage *msg;   /* a reference; touched on the HTTP thread only */
    GMainContext *main_ctx;
    GMutex lock;              /* guards what follows */
    GString *pending;         /* events not yet handed to soup */
    gboolean scheduled;       /* a flush is on its way to the HTTP thread */
    gboolean ended;           /* http_sse_end() was called */
    gboolean gone;            /* the message finished: the client went away or got all */
};

gboolean http_sse_wanted(HttpRequest *r)
{
    /* read on a worker thread: the request's headers no longer change */
    const char *accept = soup_message_headers_get_one(
        soup_server_message_get_request_headers(r->msg), "Accept");

    return accept && strstr(accept, "text/event-stream") != NULL;
}

static HttpSse *sse_ref(HttpSse *s)
{
    g_atomic_int_inc(&s->refs);
    return s;
}

static void sse_unref(gpointer data)
{
    HttpSse *s = data;

    if (!g_atomic_int_dec_and_test(&s->refs))
        return;
    g_object_unref(s->msg);
    g_main_context_unref(s->main_ctx);
    g_string_free(s->pending, TRUE);
    g_mutex_clear(&s->lock);
    g_free(s);
}

static void unref_closure(gpointer data, GClosure *closure)
{
    sse_unref(data);
}

/* The handler holds a reference of s, and s one of msg: disconnecting
 * breaks the cycle. */
static void finished(SoupServerMessage *msg, gpointer data)
{
    HttpSse *s = data;

    g_mutex_lock(&s->lock);
    s->gone = TRUE;
    g_mutex_unlock(&s->lock);
    g_signal_handlers_disconnect_by_func(msg, finished, s);
}

typedef struct {
    HttpSse *s;
    guint status;
} Start;

/* On the HTTP thread. */
static gboolean start(gpointer data)
{
    Start *st = data;
    SoupMessageHeaders *h = soup_server_message_get_response_headers(st->s->msg);

    soup_server_message_set_status(st->s->msg, st->status, NULL);
    g_object_set_data(G_OBJECT(st->s->msg), "oc-replied", GINT_TO_POINTER(1));
    soup_message_headers_set_content_type(h, "text/event-stream", NULL);
    soup_message_headers_replace(h, "Cache-Control", "no-cache");
    soup_message_headers_set_encoding(h, SOUP_ENCODING_CHUNKED);
    g_signal_connect_data(st->s->msg, "finished", G_CALLBACK(finished), sse_ref(st->s),
                          unref_closure, 0);
    /* what is written is dropped: a long build's log is not kept */
    soup_message_body_set_accumulate(soup_server_message_get_response_body(st->s->msg), FALSE);
    soup_server_message_unpause(st->s->msg);
    sse_unref(st->s);
    g_free(st);
    return G_SOURCE_REMOVE;
}

/* On the HTTP thread: hands soup what queued, and the end once asked. */
static gboolean flush(gpointer data)
{
    HttpSse *s = data;
    GString *out;
    gboolean end, gone;

    g_mutex_lock(&s->lock);
    out = s->pending;
    s->pending = g_string_new(NULL);
    s->scheduled = FALSE;
    end = s->ended;
    gone = s->gone;
    g_mutex_unlock(&s->lock);
    if (!gone) {
        SoupMessageBody *body = soup_server_message_get_response_body(s->msg);

        if (out->len > 0)
            soup_message_body_append_bytes(body, g_bytes_new(out->str, out->len));
        if (end)
            soup_message_body_complete(body);
        if (out->len > 0 || end)
            soup_server_message_unpause(s->msg);
    }
    g_string_free(out, TRUE);
    return G_SOURCE_REMOVE;
}

static void schedule_locked(HttpSse *s)
{
    if (s->scheduled || s->gone)
        return;
    s->scheduled = TRUE;
    g_main_context_invoke_full(s->main_ctx, G_PRIORITY_DEFAULT, flush, sse_ref(s), sse_unref);
}

HttpSse *http_sse_begin(HttpRequest *r, guint status)
{
    HttpSse *s = g_new0(HttpSse, 1);
    Start *st = g_new0(Start, 1);

    s->refs = 1;
    s->msg = g_object_ref(r->msg);
    s->main_ctx = g_main_context_ref(r->srv->main_ctx);
    s->pending = g_string_new(NULL);
    g_mutex_init(&s->lock);
    st->s = sse_ref(s);
    st->status = status;
    r->streamed = TRUE;
    /* start runs before any flush: sources of one priority run in the order
     * they were added */
    g_main_context_invoke_full(s->main_ctx, G_PRIORITY_DEFAULT, start, st, NULL);
    return s;
}

void http_sse_send(HttpSse *s, const char *event, JsonNode *data)
{
    g_autofree char *text = json_to_string(data, FALSE);

    json_node_unref(data);
    g_mutex_lock(&s->lock);
    if (!s->gone) {
        g_string_append_printf(s->pending, "event: %s\ndata: %s\n\n", event, text);
        schedule_locked(s);
    }
    g_mutex_unlock(&s->lock);
}

static gboolean drop(gpointer data)
{
    sse_unref(data);
    return G_SOURCE_REMOVE;
}

void http_sse_end(HttpSse *s)
{
    g_mutex_lock(&s->lock);
    s->ended = TRUE;
    schedule_locked(s);
    g_mutex_unlock(&s->lock);
    /* the last reference may hold the last of msg: let it go where soup runs */
    g_main_context_invoke_full(s->main_ctx, G_PRIORITY_DEFAULT, drop, s, NULL);
}
