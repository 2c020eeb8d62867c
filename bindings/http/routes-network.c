/* routes-network.c: a sandbox's egress policy (docs/network.md).  GET and
 * PUT /api/sandboxes/:id/network are this server's own; allowed-hosts
 * answers the SDK's getAllowedHosts() from the same policy. */
#include "body.h"
#include "handlers.h"
#include "json-out.h"
#include "sandboxes.h"

const oc_network_policy *http_network_policy(const HttpNetworkBody *b, oc_network_policy *policy)
{
    if (!b->given)
        return NULL;
    *policy = (oc_network_policy)OC_NETWORK_POLICY_INIT;
    policy->allow_out = (const char *const *)b->allow_out;
    policy->deny_out = (const char *const *)b->deny_out;
    policy->block_all = b->block_all;
    return policy;
}

typedef size_t (*count_fn)(const oc_sandbox_info *info);
typedef const char *(*at_fn)(const oc_sandbox_info *info, size_t i);

static JsonArray *entries(const oc_sandbox_info *info, count_fn count, at_fn at)
{
    JsonArray *a = json_array_new();

    for (size_t i = 0; i < count(info); i++)
        json_array_add_string_element(a, at(info, i));
    return a;
}

JsonObject *http_json_network(const oc_sandbox_info *info)
{
    JsonObject *o = json_object_new();

    json_object_set_array_member(o, "allowOut", entries(info, oc_sandbox_info_allow_out_count,
                                                        oc_sandbox_info_allow_out_at));
    json_object_set_array_member(o, "denyOut", entries(info, oc_sandbox_info_deny_out_count,
                                                       oc_sandbox_info_deny_out_at));
    json_object_set_boolean_member(o, "blockAll", oc_sandbox_info_block_all(info) != 0);
    return o;
}

/* The sandbox's info, or NULL with the reply sent. */
static oc_sandbox_info *open_info(HttpRequest *r)
{
    oc_sandbox *sb = http_sandbox_open(r);
    oc_sandbox_info *info = NULL;
    oc_error *err = NULL;

    if (!sb)
        return NULL;
    if (oc_sandbox_info_get(&info, sb, &err) < 0)
        http_reply_oc_error(r, err);
    oc_sandbox_unref(sb);
    return info;
}

static void reply_network(HttpRequest *r, const oc_sandbox_info *info)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(n, http_json_network(info));
    http_reply_json(r, 200, n);
}

/* GET /api/sandboxes/:id/network: {allowOut, denyOut, blockAll} */
void http_network_get(HttpRequest *r)
{
    oc_sandbox_info *info = open_info(r);

    if (!info)
        return;
    reply_network(r, info);
    oc_sandbox_info_free(info);
}

/* PUT /api/sandboxes/:id/network with {allowOut, denyOut, blockAll}: the
 * whole policy is replaced ({} clears it); answers the policy as set. */
void http_network_put(HttpRequest *r)
{
    g_autoptr(GError) error = NULL;
    HttpNetworkBody body;
    oc_network_policy policy;
    oc_sandbox *sb;
    oc_error *err = NULL;

    if (!http_body_network(r->json, &body, &error)) {
        http_reply_error(r, 400, "%s", error->message);
        http_network_body_clear(&body);
        return;
    }
    sb = http_sandbox_open(r);
    if (sb && oc_sandbox_set_network(sb, http_network_policy(&body, &policy), 0, &err) < 0) {
        http_reply_oc_error(r, err);
    } else if (sb) {
        oc_sandbox_info *info = NULL;

        if (oc_sandbox_info_get(&info, sb, &err) < 0)
            http_reply_oc_error(r, err);
        else
            reply_network(r, info);
        oc_sandbox_info_free(info);
    }
    oc_sandbox_unref(sb);
    http_network_body_clear(&body);
}

/* GET /api/sandboxes/:id/allowed-hosts, the SDK's AllowedHostsInfo: the
 * allowOut entries as its egressAllowlist.  This server has no secret
 * stores, so no secretStore and no per-secret hosts. */
void http_allowed_hosts(HttpRequest *r)
{
    oc_sandbox_info *info = open_info(r);
    JsonObject *o;
    JsonNode *n;

    if (!info)
        return;
    o = json_object_new();
    json_object_set_string_member(o, "sandboxID", oc_sandbox_info_id(info));
    json_object_set_array_member(o, "egressAllowlist",
                                 entries(info, oc_sandbox_info_allow_out_count,
                                         oc_sandbox_info_allow_out_at));
    json_object_set_object_member(o, "perSecretAllowedHosts", json_object_new());
    n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    http_reply_json(r, 200, n);
    oc_sandbox_info_free(info);
}
