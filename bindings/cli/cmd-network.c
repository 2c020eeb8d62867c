/* cmd-network.c: oc network set|clear|get, and the egress options of
 * oc create. */
#include <stdio.h>

#include "cli.h"

const oc_network_policy *cli_network_policy(CliNetwork *n)
{
    if (!n->block_all && !n->allow_out && !n->deny_out)
        return NULL;
    n->policy = (oc_network_policy)OC_NETWORK_POLICY_INIT;
    n->policy.allow_out = (const char *const *)n->allow_out;
    n->policy.deny_out = (const char *const *)n->deny_out;
    n->policy.block_all = n->block_all;
    return &n->policy;
}

void cli_network_clear(CliNetwork *n)
{
    g_clear_pointer(&n->allow_out, g_strfreev);
    g_clear_pointer(&n->deny_out, g_strfreev);
}

static JsonNode *entries_json(const oc_sandbox_info *info, size_t n,
                              const char *(*at)(const oc_sandbox_info *, size_t))
{
    JsonArray *a = json_array_new();
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    for (size_t i = 0; i < n; i++)
        json_array_add_string_element(a, at(info, i));
    json_node_take_array(node, a);
    return node;
}

JsonNode *cli_network_json(const oc_sandbox_info *info)
{
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    /* the shape of the sandbox's `network` option */
    json_object_set_member(o, "allowOut", entries_json(info, oc_sandbox_info_allow_out_count(info),
                                                       oc_sandbox_info_allow_out_at));
    json_object_set_member(o, "denyOut", entries_json(info, oc_sandbox_info_deny_out_count(info),
                                                      oc_sandbox_info_deny_out_at));
    json_object_set_boolean_member(o, "blockAll", oc_sandbox_info_block_all(info) != 0);
    json_node_take_object(node, o);
    return node;
}

static void print_entries(const char *name, const oc_sandbox_info *info, size_t n,
                          const char *(*at)(const oc_sandbox_info *, size_t))
{
    printf("%s:", name);
    for (size_t i = 0; i < n; i++)
        printf(" %s", at(info, i));
    printf("%s\n", n ? "" : " -");
}

/* Prints the sandbox's policy as stored. */
static int print_policy(Cli *cli, oc_sandbox *sb)
{
    oc_sandbox_info *info = NULL;
    oc_error *err = NULL;

    if (oc_sandbox_info_get(&info, sb, &err) < 0)
        return cli_fail(err);
    if (cli->json) {
        JsonObject *o = json_object_new();
        JsonNode *node = json_node_new(JSON_NODE_OBJECT);
        json_object_set_string_member(o, "sandboxId", oc_sandbox_info_id(info));
        json_object_set_member(o, "network", cli_network_json(info));
        json_node_take_object(node, o);
        cli_print_json(node);
    } else {
        printf("blockAll: %s\n", oc_sandbox_info_block_all(info) ? "yes" : "no");
        print_entries("allowOut", info, oc_sandbox_info_allow_out_count(info),
                      oc_sandbox_info_allow_out_at);
        print_entries("denyOut", info, oc_sandbox_info_deny_out_count(info),
                      oc_sandbox_info_deny_out_at);
    }
    oc_sandbox_info_free(info);
    return 0;
}

static int network_set(Cli *cli, int argc, char **argv)
{
    CliNetwork n = { 0 };
    GOptionEntry entries[] = { CLI_NETWORK_ENTRIES(n), CLI_JSON_ENTRY(cli), { NULL } };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "ID - replace a sandbox's egress policy (new connections follow it at once)");
    oc_sandbox *sb;
    oc_error *err = NULL;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_one_id(cli, oc, argc, argv, &rc);
    if (!sb) {
        cli_network_clear(&n);
        return rc;
    }
    if (!cli_network_policy(&n)) {
        rc = cli_usage(oc, "give --block-all, --allow-out or --deny-out; `oc network clear ID` "
                           "removes the policy");
    } else if (oc_sandbox_set_network(sb, cli_network_policy(&n), 0, &err) < 0) {
        rc = cli_fail(err);
    } else {
        rc = print_policy(cli, sb);
    }
    cli_network_clear(&n);
    oc_sandbox_unref(sb);
    return rc;
}

/* oc network clear|get ID: with clear, the policy goes first. */
static int clear_or_get(Cli *cli, int argc, char **argv, gboolean clear)
{
    GOptionEntry entries[] = { CLI_JSON_ENTRY(cli), { NULL } };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        clear ? "ID - remove a sandbox's egress policy" : "ID - show a sandbox's egress policy");
    oc_sandbox *sb;
    oc_error *err = NULL;
    int rc;

    g_option_context_add_main_entries(oc, entries, NULL);
    sb = cli_parse_one_id(cli, oc, argc, argv, &rc);
    if (!sb)
        return rc;
    if (clear && oc_sandbox_set_network(sb, NULL, 0, &err) < 0)
        rc = cli_fail(err);
    else
        rc = print_policy(cli, sb);
    oc_sandbox_unref(sb);
    return rc;
}

static int network_clear(Cli *cli, int argc, char **argv)
{
    return clear_or_get(cli, argc, argv, TRUE);
}

static int network_get(Cli *cli, int argc, char **argv)
{
    return clear_or_get(cli, argc, argv, FALSE);
}

int cmd_network(Cli *cli, int argc, char **argv)
{
    static const CliVerb verbs[] = {
        { "set", network_set, "replace the egress policy: oc network set ID [--block-all] "
                              "[--allow-out DEST]... [--deny-out DEST]..." },
        { "clear", network_clear, "remove the egress policy: oc network clear ID" },
        { "get", network_get, "show the egress policy: oc network get ID" },
    };

    return cli_dispatch(cli, "network", verbs, G_N_ELEMENTS(verbs), argc, argv);
}
