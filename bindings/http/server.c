/* server.c: the HTTP side of oc-server: authentication, limits, the log
 * line, and handing each request to a worker thread and its reply back. */
#include "server.h"
#include "body.h"
#include "deadline.h"
#include "handlers.h"
#include "idle.h"
#include "json-out.h"
#include "preview.h"
#include "proxy.h"
#include "sandboxes.h"
#include "signed-url.h"
#include "upload.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const HttpHandler handlers[HTTP_ROUTE_COUNT] = {
    [HTTP_ROUTE_SANDBOX_CREATE] = http_sandbox_create,
    [HTTP_ROUTE_SANDBOX_LIST] = http_sandbox_list,
    [HTTP_ROUTE_SANDBOX_GET] = http_sandbox_get,
    [HTTP_ROUTE_SANDBOX_KILL] = http_sandbox_kill,
    [HTTP_ROUTE_SANDBOX_TIMEOUT] = http_sandbox_timeout,
    [HTTP_ROUTE_SANDBOX_HIBERNATE] = http_sandbox_hibernate,
    [HTTP_ROUTE_SANDBOX_REBOOT] = http_sandbox_reboot,
    [HTTP_ROUTE_SANDBOX_POWER_CYCLE] = http_sandbox_power_cycle,
    [HTTP_ROUTE_SANDBOX_WAKE] = http_sandbox_wake,
    [HTTP_ROUTE_NETWORK_GET] = http_network_get,
    [HTTP_ROUTE_NETWORK_PUT] = http_network_put,
    [HTTP_ROUTE_ALLOWED_HOSTS] = http_allowed_hosts,
    [HTTP_ROUTE_EXEC_RUN_ASYNC] = http_exec_run_async,
    [HTTP_ROUTE_EXEC_RUN] = http_exec_run,
    [HTTP_ROUTE_EXEC_RESULT] = http_exec_result,
    [HTTP_ROUTE_EXEC_START] = http_exec_start,
    [HTTP_ROUTE_EXEC_LIST] = http_exec_list,
    [HTTP_ROUTE_EXEC_KILL] = http_exec_kill,
    [HTTP_ROUTE_AGENT_START] = http_agent_start,
    [HTTP_ROUTE_AGENT_LIST] = http_agent_list,
    [HTTP_ROUTE_AGENT_PROMPT] = http_agent_prompt,
    [HTTP_ROUTE_AGENT_INTERRUPT] = http_agent_interrupt,
    [HTTP_ROUTE_AGENT_KILL] = http_exec_kill,
    [HTTP_ROUTE_FILES_READ] = http_files_read,
    [HTTP_ROUTE_FILES_WRITE] = http_files_write,
    [HTTP_ROUTE_FILES_DELETE] = http_files_delete,
    [HTTP_ROUTE_FILES_LIST] = http_files_list,
    [HTTP_ROUTE_FILES_MKDIR] = http_files_mkdir,
    [HTTP_ROUTE_FILES_DOWNLOAD_URL] = http_files_download_url,
    [HTTP_ROUTE_FILES_UPLOAD_URL] = http_files_upload_url,
    [HTTP_ROUTE_FILES_SIGNED_GET] = http_files_read,
    [HTTP_ROUTE_FILES_SIGNED_PUT] = http_files_write,
    [HTTP_ROUTE_FILES_SIGNED_PREFLIGHT] = http_signed_preflight,
    [HTTP_ROUTE_PTY_CREATE] = http_pty_create,
    [HTTP_ROUTE_PTY_RESIZE] = http_pty_resize,
    [HTTP_ROUTE_PTY_DELETE] = http_pty_delete,
    [HTTP_ROUTE_CHECKPOINT_CREATE] = http_checkpoint_create,
    [HTTP_ROUTE_CHECKPOINT_LIST] = http_checkpoint_list,
    [HTTP_ROUTE_CHECKPOINT_RESTORE] = http_checkpoint_restore,
    [HTTP_ROUTE_CHECKPOINT_DELETE] = http_checkpoint_delete,
    [HTTP_ROUTE_FROM_CHECKPOINT] = http_from_checkpoint,
    [HTTP_ROUTE_TEMPLATE_GET] = http_template_get,
    [HTTP_ROUTE_TEMPLATE_LIST] = http_template_list,
    [HTTP_ROUTE_TEMPLATE_DELETE] = http_template_delete,
    [HTTP_ROUTE_TEMPLATE_BUILD] = http_template_build,
    [HTTP_ROUTE_SNAPSHOT_CREATE] = http_snapshot_create,
    [HTTP_ROUTE_SNAPSHOT_LIST] = http_snapshot_list,
    [HTTP_ROUTE_SNAPSHOT_GET] = http_snapshot_get,
    [HTTP_ROUTE_SNAPSHOT_DELETE] = http_snapshot_delete,
    [HTTP_ROUTE_PREVIEW_CREATE] = http_preview_create,
    [HTTP_ROUTE_PREVIEW_LIST] = http_preview_list,
    [HTTP_ROUTE_PREVIEW_ROTATE] = http_preview_rotate,
    [HTTP_ROUTE_PREVIEW_DELETE] = http_preview_delete,
};

/* Worker threads: every library call blocks, and run-async holds one for up
 * to exec-wait-ms. */
#define HTTP_WORKERS 64

/* ---- replies ---- */

guint http_status_of(int code)
{
    switch (code) {
    case OC_EINVAL:
    case OC_EUNSUPPORTED:
        return 400;
    case OC_EPERM:
        return 403;
    case OC_ENOTFOUND:
        return 404;
    case OC_ESTATE:
    case OC_EEXISTS:
        return 409;
    case OC_ELIMIT:
        return 429;
    case OC_ECOMMAND: /* a build step failed: the request was sound, its steps were not */
        return 422;
    default:
        return 500;
    }
}

void http_reply_bytes(HttpRequest *r, guint status, const char *content_type, GBytes *bytes)
{
    r->status = status;
    g_free(r->content_type);
    r->content_type = g_strdup(content_type);
    g_clear_pointer(&r->reply, g_bytes_unref);
    r->reply = bytes;
}

void http_reply_json(HttpRequest *r, guint status, JsonNode *node)
{
    gsize len = 0;
    char *text = json_to_string(node, FALSE);

    len = strlen(text);
    json_node_unref(node);
    http_reply_bytes(r, status, "application/json", g_bytes_new_take(text, len));
}

void http_reply_error(HttpRequest *r, guint status, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    char *text;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    text = http_json_error_text(msg);
    http_reply_bytes(r, status, "application/json", g_bytes_new_take(text, strlen(text)));
}

void http_reply_oc_error(HttpRequest *r, oc_error *err)
{
    int code = oc_error_code_of(err);

    http_sandbox_check_gone(r->srv, r->route.sandbox_id, code);
    http_reply_error(r, http_status_of(code), "%s", oc_error_message(err) ? oc_error_message(err)
                                                                           : oc_strerror(code));
    oc_error_free(err);
}

void http_reply_empty(HttpRequest *r, guint status)
{
    http_reply_json(r, status, http_json_ok());
}

void http_reply_done(HttpRequest *r, int rc, oc_error *err)
{
    if (rc < 0)
        http_reply_oc_error(r, err);
    else
        http_reply_empty(r, 200);
}

void http_reply_array(HttpRequest *r, JsonArray *array)
{
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);

    json_node_take_array(n, array);
    http_reply_json(r, 200, n);
}

void http_reply_string_member(HttpRequest *r, guint status, const char *name, const char *value)
{
    JsonNode *n = http_json_ok();

    json_object_set_string_member(json_node_get_object(n), name, value);
    http_reply_json(r, status, n);
}

JsonNode *http_json_ok(void)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(n, json_object_new());
    return n;
}

char *http_utf8(const char *data, gsize len)
{
    return g_utf8_make_valid(data ? data : "", data ? (gssize)len : 0);
}

char *http_iso_time(gint64 unix_s)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(unix_s);

    return dt ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("");
}

void http_source_drop(GSource *source)
{
    if (source) {
        g_source_destroy(source);
        g_source_unref(source);
    }
}

const char *http_query(HttpRequest *r, const char *name)
{
    return g_hash_table_lookup(r->query, name);
}

/* ---- the log line ---- */

void http_log_request(SoupServerMessage *msg, guint status)
{
    gint64 *t0 = g_object_get_data(G_OBJECT(msg), "oc-start");
    const char *pattern = g_object_get_data(G_OBJECT(msg), "oc-route");
    const char *method = soup_server_message_get_method(msg);
    GUri *uri = soup_server_message_get_uri(msg);
    double ms = t0 ? (double)(g_get_monotonic_time() - *t0) / 1000.0 : 0.0;

    if (g_object_get_data(G_OBJECT(msg), "oc-logged"))
        return; /* once per request, whichever path ends it */
    g_object_set_data(G_OBJECT(msg), "oc-logged", GINT_TO_POINTER(1));
    if (!pattern) /* no request line yet: a client cut off before it sent one */
        pattern = uri ? g_uri_get_path(uri) : "(no request line)";
    if (!method)
        method = "-";
    if (status == 0) /* the client went away, or was dropped, mid-request */
        fprintf(stderr, "%s %s aborted %.1fms\n", method, pattern, ms);
    else
        fprintf(stderr, "%s %s %u %.1fms\n", method, pattern, status, ms);
}

static void set_error(SoupServerMessage *msg, guint status, const char *text);

/* Runs after soup's own header checks, which reject a path that climbs with
 * ".." (encoded) with an empty 400: give it a JSON error like ours. */
static void check_rejected(SoupServerMessage *msg, gpointer data)
{
    if (soup_server_message_get_status(msg) == 400 &&
        soup_server_message_get_response_body(msg)->length == 0)
        set_error(msg, 400, "the request path is not valid (it may not climb with '..')");
}

static void request_started(SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
    HttpServer *srv = data;
    gint64 *t0 = g_new(gint64, 1);
    GSocket *sock = soup_server_message_get_socket(msg);

    *t0 = g_get_monotonic_time();
    g_object_set_data_full(G_OBJECT(msg), "oc-start", t0, g_free);
    g_signal_connect(msg, "got-headers", G_CALLBACK(check_rejected), NULL);
    /* the whole request must come within request-timeout-s (lifted once it
     * is in) */
    http_deadline_start(msg, srv->cfg->request_timeout_s);
    /* a deadline for each read and write of the headers and body: a client
     * that stalls mid-request is dropped (lifted while the handler works) */
    if (sock) {
        g_socket_set_timeout(sock, srv->cfg->io_timeout_s);
        /* soup writes a reply's headers and body apart: without this the
         * body waits for the client's delayed ACK (40 ms per call) */
        g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
    }
}

static void request_read(SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
    http_deadline_clear(msg);
}

static void request_done(SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
    HttpServer *srv = data;

    http_deadline_clear(msg);
    http_idle_watch(msg, srv->cfg->io_timeout_s, srv->cfg->request_timeout_s);
    http_log_request(msg, soup_server_message_get_status(msg));
}

/* soup reports a reply of 500 and a connection that failed alike: a reply
 * we made is marked, anything else was cut off. */
static void request_aborted(SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
    http_deadline_clear(msg);
    http_log_request(msg, g_object_get_data(G_OBJECT(msg), "oc-replied")
                              ? soup_server_message_get_status(msg) : 0);
}

/* ---- authentication and limits, before the body is read ---- */

/* Compares in time that depends only on the key's length, never on where
 * the given value first differs. */
static gboolean key_equal(const char *key, const char *given)
{
    size_t klen = strlen(key), glen = strlen(given);
    unsigned char diff = klen != glen;

    for (size_t i = 0; i < klen; i++)
        diff |= (unsigned char)key[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

static gboolean authorized(HttpServer *srv, SoupServerMessage *msg, GHashTable *query)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    const char *given = soup_message_headers_get_one(h, "X-API-Key");
    gboolean ok = FALSE;

    if (!srv->cfg->api_keys || !srv->cfg->api_keys[0])
        return TRUE;
    /* browsers' WebSocket cannot set headers: the SDK puts the key in the query */
    if (!given && query && soup_message_headers_header_contains(h, "Upgrade", "websocket"))
        given = g_hash_table_lookup(query, "api_key");
    if (!given)
        return FALSE;
    for (char **k = srv->cfg->api_keys; *k; k++)
        ok |= key_equal(*k, given);
    return ok;
}

static void set_error(SoupServerMessage *msg, guint status, const char *text)
{
    char *json = http_json_error_text(text);

    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, json, strlen(json));
    g_object_set_data(G_OBJECT(msg), "oc-replied", GINT_TO_POINTER(1));
}

/* A chunked body has no length up front: count it as it comes and drop the
 * connection past the limit. */
static void got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
    gint64 limit = GPOINTER_TO_SIZE(data);
    gint64 *seen = g_object_get_data(G_OBJECT(msg), "oc-seen");

    if (!seen) {
        seen = g_new0(gint64, 1);
        g_object_set_data_full(G_OBJECT(msg), "oc-seen", seen, g_free);
    }
    *seen += (gint64)g_bytes_get_size(chunk);
    if (*seen > limit) {
        GSocket *sock = soup_server_message_get_socket(msg);

        http_log_request(msg, 413);
        if (sock)
            g_socket_shutdown(sock, TRUE, TRUE, NULL);
    }
}

static void early_handler(SoupServer *soup, SoupServerMessage *msg, const char *path,
                          GHashTable *query, gpointer data)
{
    HttpServer *srv = data;
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    gint64 limit = srv->cfg->max_body;
    gboolean upload = FALSE, signed_ok = FALSE;
    HttpRoute route;
    HttpPreviewTarget preview;
    GUri *uri = soup_server_message_get_uri(msg);

    /* before the API routes: a preview's Host may come with any path */
    if (http_preview_match(&preview, soup_server_message_get_method(msg),
                           uri ? g_uri_get_path(uri) : path,
                           soup_message_headers_get_one(h, "Host"), srv->cfg->preview_domain)) {
        const char *why = NULL;
        guint status;

        g_object_set_data(G_OBJECT(msg), "oc-route", (gpointer)"(preview)");
        status = http_proxy_start(srv, msg, &preview, authorized(srv, msg, query), &why);
        http_preview_target_clear(&preview);
        if (status)
            set_error(msg, status, why);
        return;
    }
    if (http_route_match(&route, soup_server_message_get_method(msg), path) == 0) {
        g_object_set_data(G_OBJECT(msg), "oc-route", (gpointer)route.pattern);
        upload = route.id == HTTP_ROUTE_FILES_WRITE || route.id == HTTP_ROUTE_FILES_SIGNED_PUT;
        if (upload)
            limit = srv->cfg->max_upload;
        if (route.id == HTTP_ROUTE_FILES_SIGNED_GET || route.id == HTTP_ROUTE_FILES_SIGNED_PUT ||
            route.id == HTTP_ROUTE_FILES_SIGNED_PREFLIGHT) {
            const char *why = NULL;
            guint status = http_signed_verify(srv, msg, &route, query, &why);

            if (status) {
                set_error(msg, status, why);
                http_route_clear(&route);
                return;
            }
            signed_ok = TRUE; /* the signature stands in for the key */
        }
        http_route_clear(&route);
    }
    if (!signed_ok && !authorized(srv, msg, query)) {
        set_error(msg, 401, "missing or wrong API key");
        return;
    }
    if (soup_message_headers_get_encoding(h) == SOUP_ENCODING_CONTENT_LENGTH &&
        soup_message_headers_get_content_length(h) > limit) {
        g_autofree char *text = g_strdup_printf("the request body is over the limit of %"
                                                G_GINT64_FORMAT " bytes", limit);
        set_error(msg, 413, text);
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
                                     "close");
        return;
    }
    if (upload) {
        g_autoptr(GError) error = NULL;

        if (!http_upload_begin(msg, limit, &error)) {
            g_autofree char *text = g_strdup_printf("cannot spool the upload: %s", error->message);
            set_error(msg, 500, text);
        }
    } else if (soup_message_headers_get_encoding(h) == SOUP_ENCODING_CHUNKED) {
        g_signal_connect(msg, "got-chunk", G_CALLBACK(got_chunk), GSIZE_TO_POINTER(limit));
    }
}

/* ---- handing requests to workers ---- */

static void request_free(HttpRequest *r)
{
    http_route_clear(&r->route);
    g_clear_pointer(&r->query, g_hash_table_unref);
    g_clear_pointer(&r->body, g_bytes_unref);
    g_clear_pointer(&r->json, json_object_unref);
    g_clear_pointer(&r->reply, g_bytes_unref);
    if (r->upload_fd >= 0)
        close(r->upload_fd);
    g_free(r->content_type);
    g_clear_object(&r->msg);
    g_free(r);
}

/* On the HTTP thread: send what the handler made. */
static gboolean finish(gpointer data)
{
    HttpRequest *r = data;

    if (r->streamed) { /* sse.c sent the reply */
        request_free(r);
        return G_SOURCE_REMOVE;
    }
    if (r->status == 0)
        http_reply_error(r, 500, "the handler made no reply (a bug: please report it)");
    soup_server_message_set_status(r->msg, r->status, NULL);
    g_object_set_data(G_OBJECT(r->msg), "oc-replied", GINT_TO_POINTER(1));
    if (r->reply) {
        /* by reference: a file read is a mapped file, not a heap copy */
        soup_message_headers_set_content_type(soup_server_message_get_response_headers(r->msg),
                                              r->content_type, NULL);
        soup_message_body_append_bytes(soup_server_message_get_response_body(r->msg), r->reply);
    }
    soup_server_message_unpause(r->msg);
    request_free(r);
    return G_SOURCE_REMOVE;
}

static void work(gpointer data, gpointer pool_data)
{
    HttpRequest *r = data;

    handlers[r->route.id](r);
    g_main_context_invoke(r->srv->main_ctx, finish, r);
}

/* Routes whose body is data, not JSON. */
static gboolean takes_raw_body(HttpRouteId id)
{
    return id == HTTP_ROUTE_FILES_WRITE || id == HTTP_ROUTE_FILES_SIGNED_PUT;
}

static void handler(SoupServer *soup, SoupServerMessage *msg, const char *path,
                    GHashTable *query, gpointer data)
{
    HttpServer *srv = data;
    g_autoptr(GError) error = NULL;
    GSocket *sock = soup_server_message_get_socket(msg);
    HttpRequest *r;
    int rc;

    if (sock)
        g_socket_set_timeout(sock, 0);
    r = g_new0(HttpRequest, 1);
    r->srv = srv;
    r->upload_fd = -1;
    rc = http_route_match(&r->route, soup_server_message_get_method(msg), path);
    if (rc != 0) {
        g_free(r);
        set_error(msg, rc, rc == 405 ? "method not allowed on this route" : "no such route");
        return;
    }
    if (r->route.websocket) {
        http_ws_upgrade(srv, msg, &r->route);
        request_free(r);
        return;
    }
    r->msg = g_object_ref(msg);
    r->query = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (query) {
        GHashTableIter it;
        gpointer k, v;

        g_hash_table_iter_init(&it, query);
        while (g_hash_table_iter_next(&it, &k, &v))
            g_hash_table_insert(r->query, g_strdup(k), g_strdup(v));
    }
    r->upload_fd = http_upload_take_fd(msg);
    /* an upload's body went to its file as it came: soup kept none of it */
    r->body = r->upload_fd >= 0 ? g_bytes_new(NULL, 0)
                                : soup_message_body_flatten(soup_server_message_get_request_body(msg));
    r->async_wake = soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
                                                 "X-OSB-Async-Wake") != NULL;
    if (!takes_raw_body(r->route.id)) {
        gsize len;
        const char *p = g_bytes_get_data(r->body, &len);

        r->json = http_body_parse(p, len, &error);
        if (!r->json) {
            set_error(msg, 400, error->message);
            request_free(r);
            return;
        }
    }
    soup_server_message_pause(msg);
    g_thread_pool_push(srv->workers, r, NULL);
}

HttpServer *http_server_new(HttpConfig *cfg, oc_context *ctx, GError **error)
{
    HttpServer *srv = g_new0(HttpServer, 1);
    g_autofree char *dir = NULL;

    srv->cfg = cfg;
    srv->ctx = oc_context_ref(ctx);
    srv->main_ctx = g_main_context_ref_thread_default();
    srv->workers = g_thread_pool_new(work, srv, HTTP_WORKERS, FALSE, error);
    if (!srv->workers) {
        http_server_free(srv);
        return NULL;
    }
    dir = http_previews_dir(cfg->state_dir);
    srv->previews = http_previews_new(dir, error);
    if (!srv->previews) {
        http_server_free(srv);
        return NULL;
    }
    guint swept = http_previews_sweep(srv->previews, ctx);
    if (swept)
        fprintf(stderr, "oc-server: forgot the preview records of %u sandbox(es) that no "
                "longer exist\n", swept);
    srv->signer = http_signer_load(cfg->state_dir, error);
    if (!srv->signer) {
        http_server_free(srv);
        return NULL;
    }
    srv->sandboxes = http_sandboxes_new();
    srv->execs = http_exec_table_new();
    srv->soup = soup_server_new("server-header", "oc-server ", NULL);
    soup_server_add_early_handler(srv->soup, NULL, early_handler, srv, NULL);
    soup_server_add_handler(srv->soup, NULL, handler, srv, NULL);
    g_signal_connect(srv->soup, "request-started", G_CALLBACK(request_started), srv);
    g_signal_connect(srv->soup, "request-read", G_CALLBACK(request_read), srv);
    g_signal_connect(srv->soup, "request-finished", G_CALLBACK(request_done), srv);
    g_signal_connect(srv->soup, "request-aborted", G_CALLBACK(request_aborted), srv);
    return srv;
}

gboolean http_server_listen(HttpServer *srv, GSocketAddress *addr, GError **error)
{
    return soup_server_listen(srv->soup, addr, 0, error);
}

void http_server_free(HttpServer *srv)
{
    if (!srv)
        return;
    if (srv->soup)
        soup_server_disconnect(srv->soup);
    if (srv->workers)
        g_thread_pool_free(srv->workers, FALSE, TRUE);
    g_clear_object(&srv->soup);
    g_clear_pointer(&srv->execs, http_exec_table_free);
    g_clear_pointer(&srv->sandboxes, http_sandboxes_free);
    g_clear_pointer(&srv->previews, http_previews_free);
    g_clear_pointer(&srv->signer, http_signer_free);
    g_main_context_unref(srv->main_ctx);
    oc_context_unref(srv->ctx);
    g_free(srv);
}
