/* server.h: oc-server's shared state and the request object that route
 * handlers fill in.  Handlers run on worker threads (the library's calls
 * block); the reply goes back to the HTTP thread when they return. */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <opencomputer.h>

#include "config.h"
#include "route.h"

typedef struct HttpSandboxes HttpSandboxes;
typedef struct HttpExecTable HttpExecTable;
typedef struct HttpPreviews HttpPreviews;
typedef struct HttpSigner HttpSigner;

typedef struct {
    HttpConfig *cfg;
    oc_context *ctx;
    SoupServer *soup;
    GMainContext *main_ctx;      /* where soup runs; replies are made there */
    GThreadPool *workers;
    HttpSandboxes *sandboxes;
    HttpExecTable *execs;
    HttpPreviews *previews;
    HttpSigner *signer;          /* signed file URLs (routes-signed.c) */
} HttpServer;

typedef struct {
    HttpServer *srv;
    SoupServerMessage *msg;
    HttpRoute route;
    GHashTable *query;       /* decoded ?a=b pairs; never NULL */
    GBytes *body;            /* the raw request body (empty for uploads) */
    int upload_fd;           /* PUT .../files: the body, spooled to a file; else -1 */
    JsonObject *json;        /* the body parsed, for routes that take JSON */
    gboolean async_wake;     /* X-OSB-Async-Wake: answer 503 {waking} instead of waiting */
    /* the reply */
    guint status;
    char *content_type;
    GBytes *reply;
    gboolean streamed;       /* the handler replied as an event stream (sse.h) */
} HttpRequest;

typedef void (*HttpHandler)(HttpRequest *r);

HttpServer *http_server_new(HttpConfig *cfg, oc_context *ctx, GError **error);
gboolean http_server_listen(HttpServer *srv, GSocketAddress *addr, GError **error);
void http_server_free(HttpServer *srv);

/* The log line: method, route, status, time since the request started. */
void http_log_request(SoupServerMessage *msg, guint status);

/* Replies; the last one made wins. */
void http_reply_json(HttpRequest *r, guint status, JsonNode *node); /* takes node */
void http_reply_error(HttpRequest *r, guint status, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* Maps the library's code to a status and frees err. */
void http_reply_oc_error(HttpRequest *r, oc_error *err);
void http_reply_bytes(HttpRequest *r, guint status, const char *content_type, GBytes *bytes);
void http_reply_empty(HttpRequest *r, guint status);
/* {} when rc is 0, else the error (freed): the end of most handlers. */
void http_reply_done(HttpRequest *r, int rc, oc_error *err);
void http_reply_array(HttpRequest *r, JsonArray *array); /* takes array */
void http_reply_string_member(HttpRequest *r, guint status, const char *name, const char *value);
guint http_status_of(int oc_code);

/* A query parameter, or NULL. */
const char *http_query(HttpRequest *r, const char *name);
/* JSON text for a builder's root: helpers for handlers. */
JsonNode *http_json_ok(void);
/* A string valid as JSON text (invalid UTF-8 replaced). */
char *http_utf8(const char *data, gsize len);
/* Unix seconds as RFC 3339 UTC. */
char *http_iso_time(gint64 unix_s);
/* Destroys and unrefs source; NULL is fine. */
void http_source_drop(GSource *source);
