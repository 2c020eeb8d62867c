/* route.c: the route table and the path matcher. */
#include "route.h"

#include <string.h>

typedef struct {
    HttpRouteId id;
    const char *method;
    const char *pattern; /* segments; ":x" captures: the first the sandbox id, the next the sub id */
    gboolean websocket;
} RouteSpec;

/* The routes the public @opencomputer/sdk client calls.  Order matters only
 * where a literal segment and a capture could both match (run-async before
 * :execId), so literals come first. */
static const RouteSpec routes[] = {
    { HTTP_ROUTE_SANDBOX_CREATE, "POST", "/api/sandboxes", FALSE },
    { HTTP_ROUTE_SANDBOX_LIST, "GET", "/api/sandboxes", FALSE },
    { HTTP_ROUTE_FROM_CHECKPOINT, "POST", "/api/sandboxes/from-checkpoint/:cp", FALSE },
    { HTTP_ROUTE_SANDBOX_GET, "GET", "/api/sandboxes/:id", FALSE },
    { HTTP_ROUTE_SANDBOX_KILL, "DELETE", "/api/sandboxes/:id", FALSE },
    { HTTP_ROUTE_SANDBOX_TIMEOUT, "POST", "/api/sandboxes/:id/timeout", FALSE },
    { HTTP_ROUTE_SANDBOX_HIBERNATE, "POST", "/api/sandboxes/:id/hibernate", FALSE },
    { HTTP_ROUTE_SANDBOX_WAKE, "POST", "/api/sandboxes/:id/wake", FALSE },
    { HTTP_ROUTE_SANDBOX_REBOOT, "POST", "/api/sandboxes/:id/reboot", FALSE },
    { HTTP_ROUTE_SANDBOX_POWER_CYCLE, "POST", "/api/sandboxes/:id/power-cycle", FALSE },
    /* network is this server's own (docs/server.md) */
    { HTTP_ROUTE_NETWORK_GET, "GET", "/api/sandboxes/:id/network", FALSE },
    { HTTP_ROUTE_NETWORK_PUT, "PUT", "/api/sandboxes/:id/network", FALSE },
    { HTTP_ROUTE_ALLOWED_HOSTS, "GET", "/api/sandboxes/:id/allowed-hosts", FALSE },
    { HTTP_ROUTE_EXEC_RUN_ASYNC, "POST", "/api/sandboxes/:id/exec/run-async", FALSE },
    { HTTP_ROUTE_EXEC_RUN, "POST", "/api/sandboxes/:id/exec/run", FALSE },
    { HTTP_ROUTE_EXEC_START, "POST", "/api/sandboxes/:id/exec", FALSE },
    { HTTP_ROUTE_EXEC_LIST, "GET", "/api/sandboxes/:id/exec", FALSE },
    { HTTP_ROUTE_EXEC_RESULT, "GET", "/api/sandboxes/:id/exec/:exec/result", FALSE },
    { HTTP_ROUTE_EXEC_KILL, "POST", "/api/sandboxes/:id/exec/:exec/kill", FALSE },
    { HTTP_ROUTE_EXEC_WS, "GET", "/api/sandboxes/:id/exec/:exec", TRUE },
    { HTTP_ROUTE_AGENT_START, "POST", "/api/sandboxes/:id/agent", FALSE },
    { HTTP_ROUTE_AGENT_LIST, "GET", "/api/sandboxes/:id/agent", FALSE },
    { HTTP_ROUTE_AGENT_PROMPT, "POST", "/api/sandboxes/:id/agent/:session/prompt", FALSE },
    { HTTP_ROUTE_AGENT_INTERRUPT, "POST", "/api/sandboxes/:id/agent/:session/interrupt", FALSE },
    { HTTP_ROUTE_AGENT_KILL, "POST", "/api/sandboxes/:id/agent/:session/kill", FALSE },
    { HTTP_ROUTE_FILES_READ, "GET", "/api/sandboxes/:id/files", FALSE },
    { HTTP_ROUTE_FILES_WRITE, "PUT", "/api/sandboxes/:id/files", FALSE },
    { HTTP_ROUTE_FILES_DELETE, "DELETE", "/api/sandboxes/:id/files", FALSE },
    { HTTP_ROUTE_FILES_LIST, "GET", "/api/sandboxes/:id/files/list", FALSE },
    { HTTP_ROUTE_FILES_MKDIR, "POST", "/api/sandboxes/:id/files/mkdir", FALSE },
    { HTTP_ROUTE_FILES_DOWNLOAD_URL, "POST", "/api/sandboxes/:id/files/download-url", FALSE },
    { HTTP_ROUTE_FILES_UPLOAD_URL, "POST", "/api/sandboxes/:id/files/upload-url", FALSE },
    /* the URLs those make: no API key, a signature (routes-signed.c) */
    { HTTP_ROUTE_FILES_SIGNED_GET, "GET", "/api/sandboxes/:id/files/signed", FALSE },
    { HTTP_ROUTE_FILES_SIGNED_PUT, "PUT", "/api/sandboxes/:id/files/signed", FALSE },
    { HTTP_ROUTE_FILES_SIGNED_PREFLIGHT, "OPTIONS", "/api/sandboxes/:id/files/signed", FALSE },
    { HTTP_ROUTE_PTY_CREATE, "POST", "/api/sandboxes/:id/pty", FALSE },
    { HTTP_ROUTE_PTY_WS, "GET", "/api/sandboxes/:id/pty/:session", TRUE },
    { HTTP_ROUTE_PTY_RESIZE, "POST", "/api/sandboxes/:id/pty/:session/resize", FALSE },
    { HTTP_ROUTE_PTY_DELETE, "DELETE", "/api/sandboxes/:id/pty/:session", FALSE },
    { HTTP_ROUTE_PREVIEW_CREATE, "POST", "/api/sandboxes/:id/preview", FALSE },
    { HTTP_ROUTE_PREVIEW_LIST, "GET", "/api/sandboxes/:id/preview", FALSE },
    { HTTP_ROUTE_PREVIEW_ROTATE, "POST", "/api/sandboxes/:id/preview/rotate", FALSE },
    { HTTP_ROUTE_PREVIEW_DELETE, "DELETE", "/api/sandboxes/:id/preview/:port", FALSE },
    { HTTP_ROUTE_CHECKPOINT_CREATE, "POST", "/api/sandboxes/:id/checkpoints", FALSE },
    { HTTP_ROUTE_CHECKPOINT_LIST, "GET", "/api/sandboxes/:id/checkpoints", FALSE },
    { HTTP_ROUTE_CHECKPOINT_RESTORE, "POST", "/api/sandboxes/:id/checkpoints/:cp/restore", FALSE },
    { HTTP_ROUTE_CHECKPOINT_DELETE, "DELETE", "/api/sandboxes/:id/checkpoints/:cp", FALSE },
    { HTTP_ROUTE_TEMPLATE_GET, "GET", "/api/templates/:name", FALSE },
    { HTTP_ROUTE_TEMPLATE_LIST, "GET", "/api/templates", FALSE },
    { HTTP_ROUTE_TEMPLATE_DELETE, "DELETE", "/api/templates/:name", FALSE },
    { HTTP_ROUTE_TEMPLATE_BUILD, "POST", "/api/templates", FALSE },
    { HTTP_ROUTE_SNAPSHOT_CREATE, "POST", "/api/snapshots", FALSE },
    { HTTP_ROUTE_SNAPSHOT_LIST, "GET", "/api/snapshots", FALSE },
    { HTTP_ROUTE_SNAPSHOT_GET, "GET", "/api/snapshots/:name", FALSE },
    { HTTP_ROUTE_SNAPSHOT_DELETE, "DELETE", "/api/snapshots/:name", FALSE },
};

gboolean http_valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 64 || s[0] == '.')
        return FALSE;
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return FALSE;
    return TRUE;
}

/* 1 if the path matches the pattern (captures go to caps[0..1]), 0 if not,
 * -1 if it matches but a capture is not a valid name. */
static int match_pattern(const char *pattern, char **segs, guint nsegs, const char *caps[2])
{
    g_auto(GStrv) pat = g_strsplit(pattern + 1, "/", -1);
    guint ncap = 0;
    gboolean bad = FALSE;

    if (g_strv_length(pat) != nsegs)
        return 0;
    for (guint i = 0; i < nsegs; i++) {
        if (pat[i][0] == ':') {
            if (ncap < 2)
                caps[ncap++] = segs[i];
            bad = bad || !http_valid_name(segs[i]);
        } else if (strcmp(pat[i], segs[i]) != 0) {
            return 0;
        }
    }
    return bad ? -1 : 1;
}

int http_route_match(HttpRoute *out, const char *method, const char *path)
{
    g_autofree char *trimmed = NULL;
    g_auto(GStrv) segs = NULL;
    gboolean path_known = FALSE;
    size_t len;
    guint nsegs;

    memset(out, 0, sizeof *out);
    if (!path || path[0] != '/')
        return 404;
    /* one trailing slash is the same route; empty segments elsewhere are not */
    trimmed = g_strdup(path + 1);
    len = strlen(trimmed);
    if (len > 0 && trimmed[len - 1] == '/')
        trimmed[len - 1] = '\0';
    segs = g_strsplit(trimmed, "/", -1);
    nsegs = g_strv_length(segs);
    for (size_t i = 0; i < G_N_ELEMENTS(routes); i++) {
        const char *caps[2] = { NULL, NULL };
        int m = match_pattern(routes[i].pattern, segs, nsegs, caps);

        if (m == 0)
            continue;
        if (m < 0)
            return 404;
        path_known = TRUE;
        if (strcmp(routes[i].method, method) != 0)
            continue;
        out->id = routes[i].id;
        out->pattern = routes[i].pattern;
        out->websocket = routes[i].websocket;
        /* these capture no sandbox */
        if (routes[i].id == HTTP_ROUTE_FROM_CHECKPOINT || routes[i].id == HTTP_ROUTE_TEMPLATE_GET ||
            routes[i].id == HTTP_ROUTE_TEMPLATE_DELETE || routes[i].id == HTTP_ROUTE_SNAPSHOT_GET ||
            routes[i].id == HTTP_ROUTE_SNAPSHOT_DELETE) {
            out->sub_id = g_strdup(caps[0]);
        } else {
            out->sandbox_id = g_strdup(caps[0]);
            out->sub_id = g_strdup(caps[1]);
        }
        return 0;
    }
    return path_known ? 405 : 404;
}

void http_route_clear(HttpRoute *r)
{
    g_clear_pointer(&r->sandbox_id, g_free);
    g_clear_pointer(&r->sub_id, g_free);
    r->id = HTTP_ROUTE_NONE;
}

/* A port as the guest sees it: 1 to 65535, digits only. */
static gboolean parse_port(const char *s, size_t len, guint *out)
{
    guint64 v = 0;

    if (len == 0 || len > 5)
        return FALSE;
    for (size_t i = 0; i < len; i++) {
        if (!g_ascii_isdigit(s[i]))
            return FALSE;
        v = v * 10 + (guint64)(s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return FALSE;
    *out = (guint)v;
    return TRUE;
}

/* "sb-{id}-p{port}.<domain>[:N]" */
static gboolean match_host(HttpPreviewTarget *out, const char *host, const char *domain)
{
    g_autofree char *name = NULL;
    const char *colon, *dash;
    size_t len, dlen = strlen(domain);

    if (!host || !*host || host[0] == '[')
        return FALSE;
    colon = strchr(host, ':');
    name = colon ? g_strndup(host, (gsize)(colon - host)) : g_strdup(host);
    len = strlen(name);
    if (len > 0 && name[len - 1] == '.') /* the absolute form, "example.com." */
        name[--len] = '\0';
    if (len < dlen + 2 || name[len - dlen - 1] != '.' ||
        g_ascii_strcasecmp(name + len - dlen, domain) != 0)
        return FALSE;
    name[len - dlen - 1] = '\0';
    dash = strrchr(name, '-');
    if (!dash || dash[1] != 'p' || !parse_port(dash + 2, strlen(dash + 2), &out->port))
        return FALSE;
    out->sandbox_id = g_strndup(name, (gsize)(dash - name));
    if (!http_valid_name(out->sandbox_id)) {
        g_clear_pointer(&out->sandbox_id, g_free);
        return FALSE;
    }
    return TRUE;
}

gboolean http_preview_match(HttpPreviewTarget *out, const char *method, const char *raw_path,
                            const char *host, const char *domain)
{
    static const char prefix[] = "/api/sandboxes/";
    const char *id, *p, *port;
    size_t idlen;

    memset(out, 0, sizeof *out);
    if (!raw_path || raw_path[0] != '/')
        return FALSE;
    if (domain && match_host(out, host, domain)) {
        out->rest = raw_path;
        return TRUE;
    }
    if (strncmp(raw_path, prefix, sizeof prefix - 1) != 0)
        return FALSE;
    id = raw_path + sizeof prefix - 1;
    p = strchr(id, '/');
    if (!p || strncmp(p, "/preview/", 9) != 0)
        return FALSE;
    idlen = (size_t)(p - id);
    port = p + 9;
    p = strchr(port, '/');
    if (!parse_port(port, p ? (size_t)(p - port) : strlen(port), &out->port))
        return FALSE;
    if (!p && g_strcmp0(method, "DELETE") == 0)
        return FALSE;
    out->sandbox_id = g_strndup(id, idlen);
    if (!http_valid_name(out->sandbox_id)) {
        g_clear_pointer(&out->sandbox_id, g_free);
        return FALSE;
    }
    out->rest = p ? p : "/";
    return TRUE;
}

void http_preview_target_clear(HttpPreviewTarget *t)
{
    g_clear_pointer(&t->sandbox_id, g_free);
}
