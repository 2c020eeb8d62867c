/* routes-checkpoint.c: checkpoints of a sandbox, and sandboxes made from
 * them. */
#include "body.h"
#include "handlers.h"
#include "json-out.h"
#include "sandboxes.h"

void http_checkpoint_create(HttpRequest *r)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *name = NULL;
    oc_checkpoint *cp = NULL;
    oc_sandbox *sb;
    oc_error *err = NULL;

    if (!http_body_string(r->json, "name", &name, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        return;
    }
    if (!name || !*name) {
        http_reply_error(r, 400, "'name' is required: a label for the checkpoint");
        return;
    }
    sb = http_sandbox_open(r);
    if (!sb)
        return;
    if (oc_checkpoint_create(&cp, sb, name, 0, &err) < 0) {
        http_reply_oc_error(r, err);
    } else {
        http_reply_json(r, 201, http_json_checkpoint(cp));
        oc_checkpoint_free(cp);
    }
    oc_sandbox_unref(sb);
}

void http_checkpoint_list(HttpRequest *r)
{
    oc_checkpoint_list *list = NULL;
    oc_error *err = NULL;
    JsonArray *a;

    if (oc_checkpoint_list_get(&list, r->srv->ctx, r->route.sandbox_id, 0, &err) < 0) {
        http_reply_oc_error(r, err);
        return;
    }
    a = json_array_new();
    for (size_t i = 0; i < oc_checkpoint_list_count(list); i++)
        json_array_add_element(a, http_json_checkpoint(oc_checkpoint_list_at(list, i)));
    oc_checkpoint_list_free(list);
    http_reply_array(r, a);
}

void http_checkpoint_restore(HttpRequest *r)
{
    oc_sandbox *sb = http_sandbox_open(r);
    oc_error *err = NULL;

    if (!sb)
        return;
    http_reply_done(r, oc_sandbox_restore_checkpoint(sb, r->route.sub_id, 0, &err), err);
    oc_sandbox_unref(sb);
}

void http_checkpoint_delete(HttpRequest *r)
{
    oc_checkpoint *cp = NULL;
    oc_error *err = NULL;

    /* only a checkpoint of this sandbox may be deleted through its URL */
    if (oc_checkpoint_get(&cp, r->srv->ctx, r->route.sub_id, &err) < 0) {
        http_reply_oc_error(r, err);
        return;
    }
    if (g_strcmp0(oc_checkpoint_sandbox_id(cp), r->route.sandbox_id) != 0)
        http_reply_error(r, 404, "sandbox %s has no checkpoint %s", r->route.sandbox_id,
                         r->route.sub_id);
    else if (oc_checkpoint_delete(r->srv->ctx, r->route.sub_id, 0, &err) < 0)
        http_reply_oc_error(r, err);
    else
        http_reply_empty(r, 200);
    oc_checkpoint_free(cp);
}

void http_from_checkpoint(HttpRequest *r)
{
    oc_fork_options opts = OC_FORK_OPTIONS_INIT;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) envs = NULL;
    HttpNetworkBody network = { 0 };
    oc_network_policy policy;
    oc_sandbox_info *info = NULL;
    oc_sandbox *sb = NULL;
    oc_error *err = NULL;

    if (!http_body_int(r->json, "timeout", 0, G_MAXUINT32, &opts.timeout_s, &error) ||
        !http_body_string_map(r->json, "envs", &envs, &error) ||
        !http_body_network_member(r->json, "network", &network, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        http_network_body_clear(&network);
        return;
    }
    opts.envs = (const char *const *)envs;
    /* without "network" the forks keep the checkpointed sandbox's policy */
    opts.network = http_network_policy(&network, &policy);
    if (oc_sandbox_create_from_checkpoint(&sb, r->srv->ctx, r->route.sub_id, &opts, &err) < 0 ||
        oc_sandbox_info_get(&info, sb, &err) < 0) {
        http_reply_oc_error(r, err);
    } else {
        http_sandbox_remember(r->srv, sb);
        http_reply_json(r, 201, http_json_sandbox(info));
    }
    oc_sandbox_info_free(info);
    oc_sandbox_unref(sb);
    http_network_body_clear(&network);
}
