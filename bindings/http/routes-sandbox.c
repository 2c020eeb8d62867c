/* routes-sandbox.c: create, get, list, kill, timeout, hibernate, wake. */
#include "body.h"
#include "handlers.h"
#include "sandboxes.h"
#include "json-out.h"
#include "preview.h"

/* The sandbox, with the domain of its preview hosts (the SDK's
 * getPreviewDomain) and, once, its new preview token. */
static void reply_sandbox(HttpRequest *r, guint status, oc_sandbox *sb, const char *token)
{
    oc_sandbox_info *info = NULL;
    oc_error *err = NULL;
    JsonNode *node;

    if (oc_sandbox_info_get(&info, sb, &err) < 0) {
        http_reply_oc_error(r, err);
        return;
    }
    node = http_json_sandbox(info);
    json_object_set_string_member(json_node_get_object(node), "sandboxDomain",
                                  r->srv->cfg->preview_domain);
    if (token)
        json_object_set_string_member(json_node_get_object(node), "previewAuthToken", token);
    http_reply_json(r, status, node);
    oc_sandbox_info_free(info);
}

static guint count_sandboxes(HttpServer *srv)
{
    oc_sandbox_list *list = NULL;
    guint n;

    if (oc_sandbox_list_get(&list, srv->ctx, NULL, 0, NULL) < 0)
        return 0;
    n = (guint)oc_sandbox_list_count(list);
    oc_sandbox_list_free(list);
    return n;
}

void http_sandbox_create(HttpRequest *r)
{
    oc_sandbox_options opts = OC_SANDBOX_OPTIONS_INIT;
    HttpCreateBody body;
    g_autoptr(GError) error = NULL;
    oc_sandbox *sb = NULL;
    oc_error *err = NULL;
    guint quota = r->srv->cfg->max_sandboxes;
    oc_network_policy policy;
    gboolean preview_auth = FALSE;
    g_autofree char *preview_token = NULL, *token = NULL;

    if (!http_body_create(r->json, &body, &error) ||
        !http_preview_auth_requested(r->json, &preview_auth, &preview_token, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        http_create_body_clear(&body);
        return;
    }
    if (quota && count_sandboxes(r->srv) >= quota) {
        http_reply_error(r, 429, "this server holds at most %u sandboxes; kill one first", quota);
        http_create_body_clear(&body);
        return;
    }
    opts.template_name = body.template_name;
    if (body.timeout_s >= 0)
        opts.timeout_s = body.timeout_s;
    if (body.cpu_count)
        opts.cpu_count = body.cpu_count;
    if (body.memory_mb)
        opts.memory_mb = body.memory_mb;
    opts.envs = (const char *const *)body.envs;
    opts.metadata = (const char *const *)body.metadata;
    opts.network = http_network_policy(&body.network, &policy);
    if (oc_sandbox_create(&sb, r->srv->ctx, &opts, &err) < 0) {
        http_reply_oc_error(r, err);
    } else {
        http_sandbox_remember(r->srv, sb);
        if (preview_auth)
            token = http_previews_set_token(r->srv->previews, oc_sandbox_id(sb), preview_token,
                                            &error);
        if (preview_auth && !token) {
            /* a sandbox whose ports are open when its creator asked for them closed is
             * worse than none */
            oc_sandbox_kill(sb, 0, NULL);
            http_sandbox_forget(r->srv, oc_sandbox_id(sb));
            http_reply_error(r, 500, "%s", error->message);
        } else {
            reply_sandbox(r, 201, sb, token);
        }
        oc_sandbox_unref(sb);
    }
    http_create_body_clear(&body);
}

void http_sandbox_list(HttpRequest *r)
{
    oc_sandbox_list *list = NULL;
    oc_error *err = NULL;
    JsonArray *a;

    if (oc_sandbox_list_get(&list, r->srv->ctx, NULL, 0, &err) < 0) {
        http_reply_oc_error(r, err);
        return;
    }
    a = json_array_new();
    for (size_t i = 0; i < oc_sandbox_list_count(list); i++)
        json_array_add_element(a, http_json_sandbox(oc_sandbox_list_at(list, i)));
    oc_sandbox_list_free(list);
    http_reply_array(r, a);
}

void http_sandbox_get(HttpRequest *r)
{
    oc_sandbox *sb = http_sandbox_open(r);

    if (!sb)
        return;
    reply_sandbox(r, 200, sb, NULL);
    oc_sandbox_unref(sb);
}

void http_sandbox_kill(HttpRequest *r)
{
    oc_sandbox *sb = http_sandbox_open(r);
    oc_error *err = NULL;
    int rc;

    if (!sb)
        return;
    rc = oc_sandbox_kill(sb, 0, &err);
    http_reply_done(r, rc, err);
    http_sandbox_forget(r->srv, r->route.sandbox_id);
    if (rc == 0)
        http_previews_forget(r->srv->previews, r->route.sandbox_id);
    oc_sandbox_unref(sb);
}

void http_sandbox_timeout(HttpRequest *r)
{
    g_autoptr(GError) error = NULL;
    gint64 timeout = -1;
    oc_sandbox *sb;
    oc_error *err = NULL;

    if (!http_body_int(r->json, "timeout", 0, G_MAXUINT32, &timeout, &error) || timeout < 0) {
        http_reply_error(r, 400, "%s", error ? error->message
                                             : "'timeout' (seconds, 0: never) is required");
        return;
    }
    sb = http_sandbox_open(r);
    if (!sb)
        return;
    http_reply_done(r, oc_sandbox_set_timeout(sb, (uint32_t)timeout, 0, &err), err);
    oc_sandbox_unref(sb);
}

void http_sandbox_hibernate(HttpRequest *r)
{
    oc_sandbox *sb = http_sandbox_open(r);
    oc_error *err = NULL;

    if (!sb)
        return;
    if (oc_sandbox_hibernate(sb, 0, &err) < 0)
        http_reply_oc_error(r, err);
    else
        reply_sandbox(r, 200, sb, NULL);
    oc_sandbox_unref(sb);
}

void http_sandbox_wake(HttpRequest *r)
{
    oc_wake_options opts = OC_WAKE_OPTIONS_INIT;
    g_autoptr(GError) error = NULL;
    oc_sandbox *sb;
    oc_error *err = NULL;

    if (!http_body_int(r->json, "timeout", 0, G_MAXUINT32, &opts.timeout_s, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        return;
    }
    sb = http_sandbox_open(r);
    if (!sb)
        return;
    if (oc_sandbox_wake(sb, &opts, NULL, &err) < 0)
        http_reply_oc_error(r, err);
    else
        reply_sandbox(r, 200, sb, NULL);
    oc_sandbox_unref(sb);
}
