/* route.h: request routing for oc-server, kept apart from acting so that it
 * can be tested without a socket or a sandbox. */
#pragma once

#include <glib.h>

typedef enum {
    HTTP_ROUTE_NONE = 0,
    HTTP_ROUTE_SANDBOX_CREATE,
    HTTP_ROUTE_SANDBOX_LIST,
    HTTP_ROUTE_SANDBOX_GET,
    HTTP_ROUTE_SANDBOX_KILL,
    HTTP_ROUTE_SANDBOX_TIMEOUT,
    HTTP_ROUTE_SANDBOX_HIBERNATE,
    HTTP_ROUTE_SANDBOX_REBOOT,
    HTTP_ROUTE_SANDBOX_POWER_CYCLE,
    HTTP_ROUTE_SANDBOX_WAKE,
    HTTP_ROUTE_NETWORK_GET,
    HTTP_ROUTE_NETWORK_PUT,
    HTTP_ROUTE_ALLOWED_HOSTS,
    HTTP_ROUTE_EXEC_RUN_ASYNC,
    HTTP_ROUTE_EXEC_RUN,
    HTTP_ROUTE_EXEC_RESULT,
    HTTP_ROUTE_EXEC_START,
    HTTP_ROUTE_EXEC_LIST,
    HTTP_ROUTE_EXEC_KILL,
    HTTP_ROUTE_EXEC_WS,
    HTTP_ROUTE_FILES_READ,
    HTTP_ROUTE_FILES_WRITE,
    HTTP_ROUTE_FILES_DELETE,
    HTTP_ROUTE_FILES_LIST,
    HTTP_ROUTE_FILES_MKDIR,
    HTTP_ROUTE_FILES_DOWNLOAD_URL,
    HTTP_ROUTE_FILES_UPLOAD_URL,
    HTTP_ROUTE_FILES_SIGNED_GET,
    HTTP_ROUTE_FILES_SIGNED_PUT,
    HTTP_ROUTE_FILES_SIGNED_PREFLIGHT,
    HTTP_ROUTE_PTY_CREATE,
    HTTP_ROUTE_PTY_WS,
    HTTP_ROUTE_PTY_RESIZE,
    HTTP_ROUTE_PTY_DELETE,
    HTTP_ROUTE_CHECKPOINT_CREATE,
    HTTP_ROUTE_CHECKPOINT_LIST,
    HTTP_ROUTE_CHECKPOINT_RESTORE,
    HTTP_ROUTE_CHECKPOINT_DELETE,
    HTTP_ROUTE_FROM_CHECKPOINT,
    HTTP_ROUTE_TEMPLATE_GET,
    HTTP_ROUTE_TEMPLATE_LIST,
    HTTP_ROUTE_TEMPLATE_DELETE,
    HTTP_ROUTE_TEMPLATE_BUILD,
    HTTP_ROUTE_SNAPSHOT_CREATE,
    HTTP_ROUTE_SNAPSHOT_LIST,
    HTTP_ROUTE_SNAPSHOT_GET,
    HTTP_ROUTE_SNAPSHOT_DELETE,
    HTTP_ROUTE_PREVIEW_CREATE,
    HTTP_ROUTE_PREVIEW_LIST,
    HTTP_ROUTE_PREVIEW_ROTATE,
    HTTP_ROUTE_PREVIEW_DELETE,
    HTTP_ROUTE_AGENT_START,
    HTTP_ROUTE_AGENT_LIST,
    HTTP_ROUTE_AGENT_PROMPT,
    HTTP_ROUTE_AGENT_INTERRUPT,
    HTTP_ROUTE_AGENT_KILL,
    HTTP_ROUTE_COUNT
} HttpRouteId;

typedef struct {
    HttpRouteId id;
    const char *pattern;  /* e.g. "/api/sandboxes/:id/files" (static): what logs show */
    gboolean websocket;   /* the route is a WebSocket upgrade */
    char *sandbox_id;     /* :id, validated */
    char *sub_id;         /* :execId, :sessionId, :checkpointId or :name, validated */
} HttpRoute;

/* Matches method and (decoded) path.  Returns 0 with *out filled, 404 when
 * no route has that path, 405 when one has it under another method.  Ids
 * in the path that are not well-formed make it 404: no sandbox can have
 * them, and they never reach the filesystem or libvirt. */
int http_route_match(HttpRoute *out, const char *method, const char *path);
void http_route_clear(HttpRoute *r);

/* A preview request: one to a sandbox's guest port, proxied (proxy.c). */
typedef struct {
    char *sandbox_id; /* validated */
    guint port;       /* 1 to 65535 */
    const char *rest; /* the path (still encoded) to ask the guest for: inside the matched
                       * path, or a static "/" */
} HttpPreviewTarget;

/* Whether a request is a preview request, by its Host header (host may be
 * NULL; "sb-{id}-p{port}.<domain>", any port after ':', any path) or by its
 * raw path ("/api/sandboxes/:id/preview/:port" then "/..." or nothing; a
 * DELETE of exactly that path is the SDK's deletePreviewURL, not a
 * preview).  Fills *out (clear it with http_preview_target_clear()) when it
 * is. */
gboolean http_preview_match(HttpPreviewTarget *out, const char *method, const char *raw_path,
                            const char *host, const char *domain);
void http_preview_target_clear(HttpPreviewTarget *t);

/* A sandbox, session or checkpoint id, or a template name: 1 to 64 of
 * [A-Za-z0-9_.-], not starting with '.' (so never "." or ".."). */
gboolean http_valid_name(const char *s);
