/* routes-preview.c: the SDK's preview-URL calls (createPreviewURL,
 * listPreviewURLs, deletePreviewURL, rotatePreviewAuthToken) and the
 * previewAuth option of create.  The previews themselves are served by
 * proxy.c; any port of a sandbox can be previewed, a preview URL only
 * names one (as the SDK's getPreviewDomain does for any port). */
#include "body.h"
#include "handlers.h"
#include "preview.h"
#include "sandboxes.h"

gboolean http_preview_auth_requested(JsonObject *json, gboolean *want, char **token,
                                     GError **error)
{
    JsonNode *n = json ? json_object_get_member(json, "previewAuth") : NULL;
    JsonObject *o;
    g_autofree char *scheme = NULL;

    *want = FALSE;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TRUE;
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        g_set_error_literal(error, HTTP_BODY_ERROR, 0,
                            "previewAuth must be an object: {scheme: \"bearer\", token: "
                            "\"auto\" or your own}");
        return FALSE;
    }
    o = json_node_get_object(n);
    if (!http_body_string(o, "scheme", &scheme, error) || !http_body_string(o, "token", token, error))
        return FALSE;
    if (scheme && g_strcmp0(scheme, "bearer") != 0) {
        g_set_error(error, HTTP_BODY_ERROR, 0, "previewAuth.scheme \"%s\": only \"bearer\" is "
                    "supported", scheme);
        return FALSE;
    }
    if (!http_previews_token_valid(*token, error))
        return FALSE;
    *want = TRUE;
    return TRUE;
}

/* The sandbox of the request must exist; NULL with the reply made if not. */
static gboolean sandbox_exists(HttpRequest *r)
{
    oc_sandbox *sb = http_sandbox_open(r);

    oc_sandbox_unref(sb);
    return sb != NULL;
}

void http_preview_create(HttpRequest *r)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *domain = NULL, *hostname = NULL;
    JsonNode *auth = json_object_get_member(r->json, "authConfig");
    JsonNode *made;
    gint64 port = 0;

    if (!http_body_int(r->json, "port", 1, 65535, &port, &error) ||
        !http_body_string(r->json, "domain", &domain, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        return;
    }
    if (port == 0) {
        http_reply_error(r, 400, "port is required: the guest's TCP port, 1 to 65535");
        return;
    }
    if (auth && !JSON_NODE_HOLDS_OBJECT(auth) && !JSON_NODE_HOLDS_NULL(auth)) {
        http_reply_error(r, 400, "authConfig must be an object");
        return;
    }
    if (!sandbox_exists(r))
        return;
    hostname = g_strdup_printf("%s-p%u.%s", r->route.sandbox_id, (guint)port,
                               r->srv->cfg->preview_domain);
    made = http_previews_add(r->srv->previews, r->route.sandbox_id, (guint)port, hostname,
                             domain, auth && JSON_NODE_HOLDS_OBJECT(auth) ? auth : NULL, &error);
    if (!made)
        http_reply_error(r, 500, "%s", error->message);
    else
        http_reply_json(r, 201, made);
}

void http_preview_list(HttpRequest *r)
{
    if (sandbox_exists(r))
        http_reply_array(r, http_previews_list(r->srv->previews, r->route.sandbox_id));
}

void http_preview_delete(HttpRequest *r)
{
    g_autoptr(GError) error = NULL;
    guint64 port = 0;
    oc_sandbox *sb;

    if (!g_ascii_string_to_unsigned(r->route.sub_id, 10, 1, 65535, &port, NULL)) {
        http_reply_error(r, 400, "port '%s': a port is 1 to 65535", r->route.sub_id);
        return;
    }
    sb = http_sandbox_open(r);
    if (!sb)
        return;
    /* the listener the previews used goes with the URL; a preview request
     * opens it again */
    oc_sandbox_unexpose_port(sb, (uint16_t)port, 0, NULL);
    oc_sandbox_unref(sb);
    if (!http_previews_remove(r->srv->previews, r->route.sandbox_id, (guint)port, &error))
        http_reply_error(r, g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ? 404 : 500,
                         "%s", error->message);
    else
        http_reply_empty(r, 200);
}

void http_preview_rotate(HttpRequest *r)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *token = NULL;

    if (!sandbox_exists(r))
        return;
    token = http_previews_set_token(r->srv->previews, r->route.sandbox_id, NULL, &error);
    if (!token) {
        http_reply_error(r, 500, "%s", error->message);
        return;
    }
    http_reply_string_member(r, 200, "previewAuthToken", token);
}
