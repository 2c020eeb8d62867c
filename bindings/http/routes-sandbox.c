/* routes-sandbox.c: create, get, list, kill, timeout, hibernate, wake, reboot. */
#include "body.h"
#include "build.h"
#include "handlers.h"
#include "sandboxes.h"
#include "json-out.h"
#include "preview.h"

/* The sandbox, with the domain of its preview hosts (the SDK's
 * getPreviewDomain) and, once, its new preview token. */
static JsonNode *sandbox_node(HttpRequest *r, oc_sandbox *sb, const char *token, oc_error **err)
{
    oc_sandbox_info *info = NULL;
    JsonNode *node;

    if (oc_sandbox_info_get(&info, sb, err) < 0)
        return NULL;
    node = http_json_sandbox(info);
    json_object_set_string_member(json_node_get_object(node), "sandboxDomain",
                                  r->srv->cfg->preview_domain);
    if (token)
        json_object_set_string_member(json_node_get_object(node), "previewAuthToken", token);
    oc_sandbox_info_free(info);
    return node;
}

static void reply_sandbox(HttpRequest *r, guint status, oc_sandbox *sb)
{
    oc_error *err = NULL;
    JsonNode *node = sandbox_node(r, sb, NULL, &err);

    if (node)
        http_reply_json(r, status, node);
    else
        http_reply_oc_error(r, err);
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

/* With an image, the build's log streams to a client that accepts events
 * (the SDK's onBuildLog), and the sandbox comes as the stream's result. */
void http_sandbox_create(HttpRequest *r)
{
    oc_sandbox_options opts = OC_SANDBOX_OPTIONS_INIT;
    HttpCreateBody body;
    HttpImage img = { 0 };
    HttpBuildJob job;
    g_autoptr(GError) error = NULL;
    oc_sandbox *sb = NULL;
    oc_error *err = NULL;
    guint quota = r->srv->cfg->max_sandboxes;
    oc_network_policy policy;
    gboolean preview_auth = FALSE;
    g_autofree char *preview_token = NULL, *token = NULL;
    JsonNode *node;

    if (!http_body_create(r->json, &body, &error) ||
        !http_preview_auth_requested(r->json, &preview_auth, &preview_token, &error) ||
        (body.image && !http_image_parse(body.image, &img, &error))) {
        http_reply_error(r, 400, "%s", error->message);
        goto out;
    }
    if (quota && count_sandboxes(r->srv) >= quota) {
        http_reply_error(r, 429, "this server holds at most %u sandboxes; kill one first", quota);
        goto out;
    }
    /* the SDK sends templateID "base" along with an image or a snapshot */
    opts.template_name = body.snapshot ? body.snapshot : body.template_name;
    http_build_job_init(&job, r, 201);
    if (body.image) {
        /* built once: the template is named for the image's content */
        if (!http_build_image(&job, &img, img.name, HTTP_BUILD_REUSE_EXISTING))
            goto out;
        opts.template_name = img.name;
    }
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
        http_build_job_fail(&job, err);
        goto out;
    }
    http_sandbox_remember(r->srv, sb);
    if (preview_auth)
        token = http_previews_set_token(r->srv->previews, oc_sandbox_id(sb), preview_token,
                                        &error);
    if (preview_auth && !token) {
        /* a sandbox whose ports are open when its creator asked for them closed is
         * worse than none */
        oc_sandbox_kill(sb, 0, NULL);
        http_sandbox_forget(r->srv, oc_sandbox_id(sb));
        http_build_job_fail_msg(&job, 500, error->message);
    } else if ((node = sandbox_node(r, sb, token, &err))) {
        http_build_job_done(&job, 201, node);
    } else {
        http_build_job_fail(&job, err);
    }
    oc_sandbox_unref(sb);
out:
    http_image_clear(&img);
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
    reply_sandbox(r, 200, sb);
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

/* A power operation that answers with the sandbox as it is after it. */
static void power_op(HttpRequest *r, int (*op)(oc_sandbox *, uint32_t, oc_error **),
                     uint32_t flags)
{
    oc_sandbox *sb = http_sandbox_open(r);
    oc_error *err = NULL;

    if (!sb)
        return;
    if (op(sb, flags, &err) < 0)
        http_reply_oc_error(r, err);
    else
        reply_sandbox(r, 200, sb);
    oc_sandbox_unref(sb);
}

void http_sandbox_hibernate(HttpRequest *r)
{
    power_op(r, oc_sandbox_hibernate, 0);
}

/* The SDK's reboot() and powerCycle(): a hibernated sandbox is not woken
 * first (reboot is 409, a power cycle boots it from its disk). */
void http_sandbox_reboot(HttpRequest *r)
{
    power_op(r, oc_sandbox_reboot, 0);
}

void http_sandbox_power_cycle(HttpRequest *r)
{
    power_op(r, oc_sandbox_reboot, OC_REBOOT_HARD);
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
        reply_sandbox(r, 200, sb);
    oc_sandbox_unref(sb);
}
